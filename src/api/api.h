/* api.h — every client listener of one member (the Redis protocol on --redis-addr; etcd's v3
 * API, gRPC and HTTP/1.1, on each --listen-client-urls URL), started and stopped together by
 * concurd's main. */
#ifndef CONCUR_API_API_H
#define CONCUR_API_API_H

struct member;
struct api;

/* Starts the listeners the member's configuration asks for (--redis-addr,
 * --listen-client-urls). Returns 0 and *out, or a cc_err after logging why (nothing is left
 * listening then; handles still closing are closed and freed by the member's loop). */
int api_start(struct member *m, struct api **out);

/* Stops accepting clients, closes every connection (Redis requests in flight get a few
 * seconds to finish; etcd calls in flight are cancelled, streams end), waits until every call
 * the etcd API still tracks has been answered by the member, then calls done(arg). Call once. */
void api_stop(struct api *a, void (*done)(void *arg), void *arg);

/* Frees after api_stop's done ran (NULL is fine). */
void api_free(struct api *a);

#endif
