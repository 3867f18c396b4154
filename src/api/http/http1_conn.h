/* http1_conn.h — one HTTP/1.1 server connection (pipelining, keep-alive, streamed responses)
 * with no I/O of its own: the transport feeds it bytes and gives it a bounded output sink. */
#ifndef CONCUR_API_HTTP1_CONN_H
#define CONCUR_API_HTTP1_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "api/http/http1_parse.h"

struct http_router;
struct http1_conn;

/* The transport's side; all run on the loop thread. */
struct http1_io {
    void *ctx;
    /* Bytes the transport still accepts before its outbound bound (0: back off). */
    size_t (*room)(void *ctx);
    /* Appends n bytes to the outbound queue (copied). Returns 0 or CC_ENOMEM. */
    int (*write)(void *ctx, const void *p, size_t n);
    /* A handler completed or wrote from outside the connection's own processing: the transport
     * must call http1_conn_process soon, but not from inside this callback. */
    void (*want_process)(void *ctx);
};

/* Creates a connection for router (must outlive it; NULL answers every request 404); lim and
 * io are copied. Returns 0 and
 * *out, CC_EINVAL (a limit out of range) or CC_ENOMEM. */
int http1_conn_new(struct http_router *router, const struct http1_limits *lim,
                   const struct http1_io *io, struct http1_conn **out);

/* Buffers n received bytes. Returns 0, or CC_ETOOBIG when they do not fit (the transport reads
 * at most http1_conn_read_room bytes; a client that overflows anyway is closed). Bytes after
 * the connection decided to close are dropped. */
int http1_conn_recv(struct http1_conn *c, const uint8_t *p, size_t n);

/* The peer closed its sending side: buffered complete requests are still answered; a streamed
 * response in progress is cancelled (the client is gone). */
void http1_conn_eof(struct http1_conn *c);

/* Parses and dispatches buffered requests in order (handlers run here), writes library answers
 * (100, 400, 404, 405, 411, 413, ...) and runs on_writable of a blocked stream. */
void http1_conn_process(struct http1_conn *c);

/* How many more bytes the input buffer takes; 0 means stop reading (full, or closing). */
size_t http1_conn_read_room(const struct http1_conn *c);

/* True when the connection has nothing more to send: close once the output is flushed. */
int http1_conn_done(const struct http1_conn *c);

/* True while waiting for a request with no response in progress (idle-timeout applies). */
int http1_conn_idle(const struct http1_conn *c);

/* Cancels a response in progress (on_cancel) and frees the connection. Must not run from
 * inside a handler callback. */
void http1_conn_free(struct http1_conn *c);

#endif
