/* grpc_client.h — a small gRPC client over one cleartext HTTP/2 connection (nghttp2 client API).
 *
 * Single-threaded and synchronous: the caller drives all I/O through gc_conn_poll() (directly or
 * inside gc_stream_recv / gc_unary). The socket is non-blocking and waited on with poll(2), so
 * every wait has a deadline. Implements the gRPC-over-HTTP/2 protocol
 * (grpc/doc/PROTOCOL-HTTP2.md): length-prefixed messages, grpc-timeout, status in trailers or a
 * trailers-only response, percent-encoded grpc-message. No compression, no TLS. */
#ifndef CONCUR_CTL_GRPC_CLIENT_H
#define CONCUR_CTL_GRPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Largest single message accepted or sent (a range over many keys can be large; etcd itself
 * caps requests at 1.5 MiB and responses by --max-recv-bytes). */
#define GC_MAX_MSG_BYTES (64u << 20)
/* Bytes of complete, not yet consumed messages a stream may hold before it is failed. */
#define GC_MAX_QUEUED_BYTES (128u << 20)
/* Concurrent streams one connection may carry (etcdctl needs one or two). */
#define GC_MAX_STREAMS  64
#define GC_MAX_METADATA 8

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum gc_code {
    GC_OK = 0,
    GC_CANCELLED = 1,
    GC_UNKNOWN = 2,
    GC_INVALID_ARGUMENT = 3,
    GC_DEADLINE_EXCEEDED = 4,
    GC_NOT_FOUND = 5,
    GC_ALREADY_EXISTS = 6,
    GC_PERMISSION_DENIED = 7,
    GC_RESOURCE_EXHAUSTED = 8,
    GC_FAILED_PRECONDITION = 9,
    GC_ABORTED = 10,
    GC_OUT_OF_RANGE = 11,
    GC_UNIMPLEMENTED = 12,
    GC_INTERNAL = 13,
    GC_UNAVAILABLE = 14,
    GC_DATA_LOSS = 15,
    GC_UNAUTHENTICATED = 16
};

/* The outcome of a call. transport is true when the failure came from the connection (dial,
 * reset, GOAWAY, keepalive) rather than from a status the server sent; local is true for
 * deadlines and limits enforced by this client. */
struct gc_status {
    int code;
    bool transport;
    bool local;
    char message[512];
    char detail[256]; /* extra context for people (e.g. why dialling failed); not part of the
                         error text clients match on */
};

struct gc_conn;
struct gc_stream;

struct gc_md {
    const char *name; /* lower-case */
    const char *value;
};

struct gc_conn_opts {
    int64_t keepalive_time_ms;    /* send a PING after this long without reading; 0 = never */
    int64_t keepalive_timeout_ms; /* fail the connection if the PING is not acknowledged */
};

/* Returns "OK", "Canceled", ... as grpc-go spells code names (used in error texts). */
const char *gc_code_name(int code);

/* Connects to endpoint "host:port" ("[v6]:port" for IPv6) and starts HTTP/2 with prior
 * knowledge. Waits at most until deadline_ms (CLOCK_MONOTONIC milliseconds). On success
 * returns 0 and *out (free with gc_conn_free). On failure returns CC_ETIMEDOUT, CC_EINVAL (bad
 * endpoint) or CC_EIO and writes a reason into err. opts may be NULL. */
int gc_conn_dial(const char *endpoint, int64_t deadline_ms, const struct gc_conn_opts *opts,
                 struct gc_conn **out, char *err, size_t errlen);

/* Closes the socket and frees c together with every stream still attached to it. NULL ok. */
void gc_conn_free(struct gc_conn *c);

/* True while the connection can carry new calls (not failed, no GOAWAY received). */
bool gc_conn_usable(const struct gc_conn *c);

/* Why the connection failed ("" while it is healthy). Valid until gc_conn_free. */
const char *gc_conn_error(const struct gc_conn *c);

/* Starts a call on path ("/etcdserverpb.KV/Range"). deadline_ms > 0 is sent as grpc-timeout and
 * enforced by gc_stream_recv; md (n_md <= GC_MAX_METADATA) adds custom headers. Returns 0 and
 * *out (owned by the connection until gc_stream_free), CC_ECLOSED when the connection is not
 * usable, CC_EBUSY when GC_MAX_STREAMS are open, or CC_ENOMEM. */
int gc_stream_start(struct gc_conn *c, const char *path, int64_t deadline_ms,
                    const struct gc_md *md, size_t n_md, struct gc_stream **out);

/* Queues msg on s and pushes what the socket accepts without blocking. Returns 0, CC_ETOOBIG
 * (larger than GC_MAX_MSG_BYTES), CC_ECLOSED (send side closed or call finished) or
 * CC_ENOMEM. */
int gc_stream_send(struct gc_stream *s, const ProtobufCMessage *msg);

/* Half-closes the send side (END_STREAM after the queued messages). Idempotent. */
int gc_stream_close_send(struct gc_stream *s);

/* Pops one already received message without waiting. Returns 1 with *out (free with
 * protobuf_c_message_free_unpacked(*out, NULL)), 0 when nothing is queued and the call is still
 * running, -1 when the call has ended and nothing is left (see gc_stream_status), or CC_EPROTO
 * when a message failed to decode (the call is then ended with code INTERNAL). */
int gc_stream_try_recv(struct gc_stream *s, const ProtobufCMessageDescriptor *desc,
                       ProtobufCMessage **out);

/* Like gc_stream_try_recv but waits, driving I/O, until a message arrives, the call ends, or
 * deadline_ms passes (0: no deadline; the call's own deadline also applies). Returns 1, -1,
 * CC_EPROTO as above, or CC_ETIMEDOUT (the call is still running). */
int gc_stream_recv(struct gc_stream *s, const ProtobufCMessageDescriptor *desc,
                   ProtobufCMessage **out, int64_t deadline_ms);

/* True once the call has ended; gc_stream_status() is then final. */
bool gc_stream_done(const struct gc_stream *s);
const struct gc_status *gc_stream_status(const struct gc_stream *s);

/* Releases s. A call still running is cancelled with RST_STREAM(CANCEL). NULL ok. */
void gc_stream_free(struct gc_stream *s);

/* One round of I/O: flushes pending output, waits until the socket or extra_fd (-1 for none)
 * is ready or deadline_ms passes (0: wait without deadline, bounded by keepalive timers), then
 * processes what arrived. Sets *extra_ready when extra_fd became readable (or hung up).
 * Returns 0, CC_ETIMEDOUT (deadline passed) or CC_ECLOSED (the connection failed; every stream
 * on it has ended with a transport status). */
int gc_conn_poll(struct gc_conn *c, int extra_fd, int64_t deadline_ms, bool *extra_ready);

/* A complete unary call: sends req, waits for exactly one response of type desc. Returns 0
 * with *resp (free with protobuf_c_message_free_unpacked) and st->code == GC_OK, or -1 with
 * *st describing the failure (a deadline gives GC_DEADLINE_EXCEEDED with local set). */
int gc_unary(struct gc_conn *c, const char *path, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *desc, int64_t deadline_ms, ProtobufCMessage **resp,
             struct gc_status *st);

/* Milliseconds on CLOCK_MONOTONIC (the time base of every deadline here). */
int64_t gc_now_ms(void);

/* Decodes a percent-encoded grpc-message into out (always NUL-terminated). Exposed for tests. */
void gc_percent_decode(const char *in, size_t len, char *out, size_t outlen);

#endif
