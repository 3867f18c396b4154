/* api.h — every client listener of one member (Redis protocol now; etcd gRPC/HTTP next),
 * started and stopped together by concurd's main. */
#ifndef CONCUR_API_API_H
#define CONCUR_API_API_H

struct member;
struct api;

/* Starts the listeners the member's configuration asks for (--redis-addr, ...). Returns 0 and
 * *out, or a cc_err after logging why (nothing is left listening then). */
int api_start(struct member *m, struct api **out);

/* Stops accepting clients, gives requests in flight a few seconds to finish, then closes every
 * connection and calls done(arg). Call once. */
void api_stop(struct api *a, void (*done)(void *arg), void *arg);

/* Frees after api_stop's done ran (NULL is fine). */
void api_free(struct api *a);

#endif
