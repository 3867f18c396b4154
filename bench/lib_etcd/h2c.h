/* h2c.h — a non-blocking gRPC unary-call client over one cleartext HTTP/2 connection on a libuv
 * loop, for load generation: many calls in flight per connection, each completed by callback.
 *
 * Implements the parts of gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md) a unary call needs:
 * prior-knowledge h2c, length-prefixed messages, status in trailers or a trailers-only response.
 * No TLS, no compression, no retries. Everything runs on the loop thread. */
#ifndef CONCUR_BENCH_H2C_H
#define CONCUR_BENCH_H2C_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Largest request or response message accepted (etcd caps requests at 1.5 MiB by default). */
#define H2C_MAX_MSG_BYTES (16u << 20)

/* gRPC codes this client produces itself (grpc/doc/statuscodes.md). */
#define H2C_CODE_CANCELLED   1
#define H2C_CODE_UNKNOWN     2
#define H2C_CODE_RESOURCE    8
#define H2C_CODE_INTERNAL    13
#define H2C_CODE_UNAVAILABLE 14

struct h2c;

/* The outcome of one call. msg/msg_len is the single response message, present only when
 * code == 0. message is the server's grpc-message or this client's reason ("" when none).
 * Both pointers are valid only during the callback. */
struct h2c_reply {
    int32_t stream_id; /* as returned by h2c_call */
    int code;
    const char *message;
    const uint8_t *msg;
    size_t msg_len;
};

/* Called once per call, from the loop, never from inside h2c_call. It may start new calls, and
 * may call h2c_close on the connection. */
typedef void (*h2c_reply_fn)(void *call_ud, const struct h2c_reply *reply);

enum h2c_event {
    H2C_READY, /* connected and the server's SETTINGS arrived: calls go out at full speed */
    H2C_FAILED /* the connection is dead; every call on it has been answered (code 14) */
};

/* why is "" for H2C_READY and a reason for H2C_FAILED; valid only during the callback. */
typedef void (*h2c_event_fn)(void *ud, struct h2c *c, enum h2c_event ev, const char *why);

/* Resolves endpoint ("host:port", "[v6]:port", optionally prefixed by "http://"; the lookup
 * blocks, so call this during setup) and starts connecting on loop. on_event (required) reports
 * readiness or failure later with ud. Returns 0 and *out (release with h2c_close), CC_EINVAL
 * (bad endpoint or https), CC_EIO (lookup or socket failure) or CC_ENOMEM, with a reason in err.
 */
int h2c_open(uv_loop_t *loop, const char *endpoint, h2c_event_fn on_event, void *ud,
             struct h2c **out, char *err, size_t errlen);

/* Starts a unary call on path (e.g. "/etcdserverpb.KV/Put", a string that must outlive the
 * call) with the serialized request body[0..len) (copied). The reply arrives through fn with
 * call_ud. May be called before H2C_READY (the call is queued). Returns 0 and, when stream_id is
 * not NULL, the call's HTTP/2 stream ID (for h2c_cancel); CC_ECLOSED when the connection failed,
 * got GOAWAY or ran out of stream IDs; CC_ETOOBIG when len > H2C_MAX_MSG_BYTES; CC_ENOMEM. */
int h2c_call(struct h2c *c, const char *path, const uint8_t *body, size_t len, h2c_reply_fn fn,
             void *call_ud, int32_t *stream_id);

/* Cancels a call still running (RST_STREAM CANCEL); its reply follows with code 1. Calls that
 * already finished are ignored. */
void h2c_cancel(struct h2c *c, int32_t stream_id);

/* Closes the connection. Calls still running are dropped without a reply. The memory is released
 * from a later loop iteration (so calling this from a callback is safe); c must not be used
 * afterwards. NULL is ignored. */
void h2c_close(struct h2c *c);

#endif
