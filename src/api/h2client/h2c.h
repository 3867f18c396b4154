/* h2c.h — a non-blocking gRPC unary-call client over one cleartext HTTP/2 connection on a libuv
 * loop: many calls in flight per connection, each completed by callback. Used by members to
 * forward requests to the leader and by concur-bench to generate load.
 *
 * Implements the parts of gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md) a unary call needs:
 * prior-knowledge h2c, length-prefixed messages, grpc-timeout, status in trailers or in a
 * Trailers-Only response, percent-decoded grpc-message. No TLS, no compression, no retries.
 *
 * Threading: everything runs on the loop thread; nothing is thread-safe.
 *
 * Bounds: every size and count the peer controls is limited (struct h2c_limits); peer input
 * that breaks a limit or the protocol fails the call or the connection, never the process. */
#ifndef CONCUR_API_H2CLIENT_H2C_H
#define CONCUR_API_H2CLIENT_H2C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct h2c;

/* Limits of one connection. h2c_limits_default fills the values in the comments. */
struct h2c_limits {
    uint32_t max_calls;           /* 1000: calls alive on the connection (answered calls whose
                                     HTTP/2 stream is still closing count too); more: CC_EBUSY */
    uint32_t max_request_bytes;   /* 16 MiB: larger request messages: CC_ETOOBIG */
    uint32_t max_response_bytes;  /* 16 MiB: a larger response message fails its call
                                     (RESOURCE_EXHAUSTED, err CC_ETOOBIG) */
    uint32_t max_header_bytes;    /* 64 KiB: response headers + trailers of one call (names and
                                     values); more fails the call like an oversized message */
    uint32_t stream_window_bytes; /* 1 MiB: HTTP/2 receive window per call */
    uint32_t conn_window_bytes;   /* 32 MiB: HTTP/2 receive window of the connection */
    uint64_t connect_timeout_ms;  /* 10000: name lookup + TCP connect + the server's SETTINGS */
};

void h2c_limits_default(struct h2c_limits *lim);

/* Largest request metadata list accepted by h2c_call (entries). */
#define H2C_MAX_METADATA 16

/* One request metadata entry: a lower-case gRPC header name and its value (both copied). */
struct h2c_md {
    const char *name;
    const char *value;
};

/* Per-call options; NULL means all zero. */
struct h2c_call_opts {
    /* > 0: the call fails with DEADLINE_EXCEEDED (err CC_ETIMEDOUT) this many ms after
     * h2c_call, and the server is told so with grpc-timeout. 0: no deadline. */
    uint64_t timeout_ms;
    const struct h2c_md *md; /* extra request metadata, n_md <= H2C_MAX_METADATA */
    size_t n_md;
};

/* The outcome of one call. Pointers are valid only during the reply callback.
 *  - err == 0: the server answered. code is its grpc-status (0 = OK) and message its
 *    grpc-message, percent-decoded ("" when none); msg/msg_len is the single response message
 *    when code == 0.
 *  - err != 0: the call failed here; code is the gRPC code a gRPC library reports for it and
 *    message says why:
 *      CC_ECLOSED   the connection failed or closed, or the stream was reset (UNAVAILABLE, or
 *                   the reset's code)
 *      CC_ETIMEDOUT the call's deadline passed (DEADLINE_EXCEEDED)
 *      CC_ECANCELED h2c_cancel or h2c_close (CANCELLED)
 *      CC_ETOOBIG   the response broke max_response_bytes or max_header_bytes
 *                   (RESOURCE_EXHAUSTED)
 *      CC_EPROTO    the response is not gRPC: no grpc-status, an HTTP error status, not exactly
 *                   one uncompressed message (INTERNAL, or as grpc-go maps the HTTP status)
 *  - sent: false guarantees the server never processed the call (nothing of it was handed to
 *    the socket, or the server refused the stream: REFUSED_STREAM, or GOAWAY below its ID), so
 *    repeating it elsewhere is safe. true means it may have been processed. */
struct h2c_reply {
    int32_t stream_id; /* as returned by h2c_call */
    int code;
    int err;
    bool sent;
    const char *message;
    const uint8_t *msg;
    size_t msg_len;
};

/* Called exactly once per call that h2c_call accepted, from a loop callback, never from inside
 * an h2c_* function. It may start new calls and may close the connection. */
typedef void (*h2c_reply_fn)(void *call_ud, const struct h2c_reply *reply);

enum h2c_event {
    H2C_READY, /* connected and the server's SETTINGS arrived */
    H2C_FAILED /* the connection is dead (h2c_call says CC_ECLOSED); its calls are answered */
};

/* why is "" for H2C_READY and a reason for H2C_FAILED; valid only during the callback. Never
 * called after h2c_close. */
typedef void (*h2c_event_fn)(void *ud, struct h2c *c, enum h2c_event ev, const char *why);

/* Once the connection's memory and handles are released after h2c_close. */
typedef void (*h2c_closed_fn)(void *arg);

/* Starts connecting to endpoint ("host:port", "[v6]:port", optionally prefixed by "http://",
 * an optional path after the port is ignored) on loop. The name is resolved with
 * uv_getaddrinfo, so nothing blocks. lim NULL means h2c_limits_default (copied). on_event (may
 * be NULL) reports readiness or failure later with ud. Calls may be started at once; they are
 * sent when the connection is up. Returns 0 and *out (release with h2c_close); CC_EINVAL (bad
 * endpoint, https, a zero limit); CC_EIO (socket or lookup could not start); CC_ENOMEM — with
 * a reason in err (errlen bytes, may be 0) and nothing to release. */
int h2c_open(uv_loop_t *loop, const char *endpoint, const struct h2c_limits *lim,
             h2c_event_fn on_event, void *ud, struct h2c **out, char *err, size_t errlen);

/* Starts a unary call on path (e.g. "/etcdserverpb.KV/Put"; copied) with the serialized
 * request body[0..len) (copied) and opts (may be NULL; copied). The reply arrives through fn
 * with call_ud. Returns 0 and, when stream_id is not NULL, the call's HTTP/2 stream ID (for
 * h2c_cancel); or, with fn never called: CC_ECLOSED (the connection failed, got GOAWAY, is
 * closing, or ran out of stream IDs), CC_EBUSY (max_calls alive), CC_ETOOBIG (len over
 * max_request_bytes), CC_EINVAL (a path not starting with '/', too much metadata, a name or
 * value with CR, LF or NUL), CC_ENOMEM. */
int h2c_call(struct h2c *c, const char *path, const uint8_t *body, size_t len,
             const struct h2c_call_opts *opts, h2c_reply_fn fn, void *call_ud, int32_t *stream_id);

/* Cancels a call still running (RST_STREAM CANCEL); its reply follows with CC_ECANCELED from
 * the loop. Unknown or already decided calls are ignored. */
void h2c_cancel(struct h2c *c, int32_t stream_id);

/* True while new calls may be started (not failed, no GOAWAY, not closing). */
bool h2c_usable(const struct h2c *c);

/* The number of calls alive on c (see max_calls). */
uint32_t h2c_calls(const struct h2c *c);

/* Closes the connection. Calls still running are answered with CC_ECANCELED from the loop
 * (never from inside h2c_close); then the memory is released and done(arg) runs (done may be
 * NULL). Safe from any callback of c, with calls in flight. c must not be used afterwards
 * (reply callbacks that still arrive must not touch it). NULL is ignored. */
void h2c_close(struct h2c *c, h2c_closed_fn done, void *arg);

#endif
