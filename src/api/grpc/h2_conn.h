/* h2_conn.h — one HTTP/2 server connection carrying gRPC calls, over nghttp2, with no I/O of
 * its own: the transport feeds it received bytes and gives it a bounded output sink. */
#ifndef CONCUR_API_GRPC_H2_CONN_H
#define CONCUR_API_GRPC_H2_CONN_H

#include <stddef.h>
#include <stdint.h>

struct grpc_server;
struct h2_conn;

/* The transport's side (e.g. a libuv TCP connection). All three run on the loop thread. */
struct h2_io {
    void *ctx;
    /* Bytes the transport still accepts before its outbound bound; 0 makes the connection stop
     * producing frames (back-pressure) until the transport calls h2_conn_send again. */
    size_t (*room)(void *ctx);
    /* Appends n bytes to the outbound queue (copied). Returns 0 or CC_ENOMEM. May exceed the
     * bound by up to one frame: room() is checked before each frame, not each byte. */
    int (*write)(void *ctx, const void *p, size_t n);
    /* The connection has new output (a handler replied from outside the connection's own
     * processing). The transport must call h2_conn_send soon — but not from inside this
     * callback, which may run inside a handler's grpc_call_* call. */
    void (*want_write)(void *ctx);
};

/* Creates a server-side session for srv (which must outlive it) and queues our SETTINGS.
 * io is copied. Returns 0 and *out, or CC_ENOMEM. */
int h2_conn_new(struct grpc_server *srv, const struct h2_io *io, struct h2_conn **out);

/* Feeds n received bytes, starting with the client preface. Handlers run from here. Returns 0,
 * or CC_EPROTO when the peer broke HTTP/2 beyond repair (flush with h2_conn_send, then close),
 * or CC_ENOMEM. */
int h2_conn_recv(struct h2_conn *h, const uint8_t *p, size_t n);

/* Writes pending frames to io while io->room() > 0, then runs on_writable for calls whose send
 * queues drained. Returns 0, or CC_EPROTO / CC_ENOMEM when the session failed (close it). */
int h2_conn_send(struct h2_conn *h);

/* True when the session has finished (GOAWAY exchanged, or after a fatal error) and has nothing
 * left to write: the transport should close once its own queue is flushed. */
int h2_conn_done(struct h2_conn *h);

/* Starts shutting down: queues GOAWAY (NO_ERROR, last stream processed); the session is done
 * once it is written. Calls in flight are cancelled by h2_conn_free. */
void h2_conn_goaway(struct h2_conn *h);

/* Detaches every call (handlers that had not completed get on_cancel), then frees the session.
 * Must not run from inside a handler callback or an h2_io callback. */
void h2_conn_free(struct h2_conn *h);

/* Calls attached to this connection (for tests and metrics). */
size_t h2_conn_call_count(const struct h2_conn *h);

#endif
