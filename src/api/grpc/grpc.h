/* grpc.h — server-side gRPC: a method registry with limits and metrics, and the call objects
 * handlers complete (possibly later, from another loop callback). HTTP/2 is in h2_conn.h. */
#ifndef CONCUR_API_GRPC_GRPC_H
#define CONCUR_API_GRPC_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "api/grpc/grpc_frame.h"
#include "util/hist.h"
#include "util/log.h"

/*
 * Threading: everything here runs on the one event-loop thread that drives the connections;
 * nothing is thread-safe.
 *
 * Call ownership (the contract every handler follows):
 *  - The library dispatches a call to a handler (on_request for UNARY and SERVER_STREAM,
 *    on_start for STREAMING). From then on the handler owns one reference: the "completion
 *    reference". It must end the call exactly once with grpc_call_reply, grpc_call_finish or
 *    grpc_call_fail, which releases that reference — also after on_cancel, where completing is
 *    a harmless no-op on the wire (it may be done inside on_cancel itself).
 *  - The library holds its own reference while the HTTP/2 stream lives, so the pointer stays
 *    valid until both are gone. Keep extra pointers to a call with grpc_call_ref/unref.
 *  - on_cancel fires at most once, only for a dispatched call the handler has not completed,
 *    when the client resets the stream, the connection dies or the server shuts down. After
 *    it, grpc_call_send returns CC_ECANCELED and nothing reaches the wire.
 *  - The library never calls a handler callback from inside a grpc_call_* function: callbacks
 *    run from the connection's read, write and idle processing only.
 */

struct grpc_server;
struct grpc_call;

enum grpc_method_kind {
    /* One request message, one reply: on_request, then grpc_call_reply or grpc_call_fail. */
    GRPC_METHOD_UNARY = 0,
    /* One request message, then any number of replies (e.g. Maintenance.Snapshot):
     * on_request, then grpc_call_send... and grpc_call_finish. */
    GRPC_METHOD_SERVER_STREAM = 1,
    /* Client- or bidirectional streaming (Watch, LeaseKeepAlive): on_start, on_message per
     * request message, on_half_close when the client is done sending; grpc_call_send any time
     * after on_start, then grpc_call_finish. */
    GRPC_METHOD_STREAMING = 2,
};

/* Handler callbacks of one method; arg is the pointer given to grpc_server_add_method. Request
 * message bytes are valid only during the callback (decode or copy them there). */
struct grpc_method_ops {
    enum grpc_method_kind kind;
    /* UNARY, SERVER_STREAM (required): the single request message arrived and the client
     * half-closed. A request with zero or several messages never gets here: the library answers
     * INTERNAL itself. */
    void (*on_request)(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg);
    /* STREAMING (required): the request headers arrived; the call is now the handler's. */
    void (*on_start)(struct grpc_call *call, void *arg);
    /* STREAMING (required): one request message. */
    void (*on_message)(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg);
    /* STREAMING (optional): the client sent END_STREAM; no more on_message. */
    void (*on_half_close)(struct grpc_call *call, void *arg);
    /* Any kind (optional): see the ownership rules above. */
    void (*on_cancel)(struct grpc_call *call, void *arg);
    /* SERVER_STREAM, STREAMING (optional): a grpc_call_send that returned CC_EBUSY may now be
     * retried. Fires once per CC_EBUSY episode. */
    void (*on_writable)(struct grpc_call *call, void *arg);
};

/* Limits of one server, shared by all its connections. grpc_limits_default fills the values
 * in the comments. */
struct grpc_limits {
    uint32_t max_concurrent_streams; /* 1000: SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t stream_window_bytes;    /* 1 MiB: SETTINGS_INITIAL_WINDOW_SIZE */
    uint32_t conn_window_bytes;      /* 16 MiB: connection receive window */
    uint32_t max_header_list_bytes;  /* 64 KiB: request metadata, names + values */
    uint32_t max_metadata_count;     /* 100: request header fields */
    uint32_t max_recv_msg_bytes;     /* 2 MiB: larger -> RESOURCE_EXHAUSTED (etcd's 1.5 MiB
                                        request limit + its 512 KiB gRPC overhead) */
    uint32_t max_send_msg_bytes;     /* 2 GiB - 1: larger replies fail with RESOURCE_EXHAUSTED */
    size_t stream_send_queue_bytes;  /* 4 MiB: grpc_call_send says CC_EBUSY at or above */
    size_t conn_send_queue_bytes;    /* 64 MiB: same, summed over a connection's calls */
    size_t conn_recv_buffer_bytes;   /* 64 MiB: partial request messages per connection */
};

void grpc_limits_default(struct grpc_limits *lim);

/* Metrics of one method (for /metrics). Latency runs from dispatch to completion. */
struct grpc_method_stats {
    uint64_t started;                     /* calls dispatched to the handler */
    uint64_t completed[GRPC_CODE_COUNT_]; /* by the status code sent */
    uint64_t cancelled;                   /* ended by client/connection/shutdown first */
    uint64_t msgs_received;
    uint64_t msgs_sent;
    struct hist latency_us;
};

/* Server-wide counters. */
struct grpc_server_stats {
    uint64_t unknown_method; /* calls answered UNIMPLEMENTED: no such method */
    uint64_t rejected;       /* calls refused before dispatch (bad headers, message rules) */
    uint64_t calls_active;   /* calls attached to a live HTTP/2 stream right now */
    uint64_t conns_live;     /* HTTP/2 connections using this server right now */
};

/* Creates a server. lim NULL means grpc_limits_default; it is copied. log may be NULL; it must
 * outlive the server. Returns 0 and *out, CC_EINVAL (a zero limit) or CC_ENOMEM. */
int grpc_server_new(const struct grpc_limits *lim, struct logger *log, struct grpc_server **out);

/* Frees the server. Precondition: no connection uses it any more (calls still referenced by
 * handlers are detached and never touch it again). */
void grpc_server_free(struct grpc_server *s);

/* Registers path ("/package.Service/Method", copied) with ops (must outlive the server; a
 * static const struct is the usual choice) and arg. Returns 0, CC_EINVAL (malformed path or
 * ops missing a required callback), CC_EEXIST or CC_ETOOBIG (more than 512 methods). */
int grpc_server_add_method(struct grpc_server *s, const char *path,
                           const struct grpc_method_ops *ops, void *arg);

const struct grpc_limits *grpc_server_limits(const struct grpc_server *s);
const struct grpc_server_stats *grpc_server_stats(const struct grpc_server *s);

/* Number of registered methods and the i-th (sorted by path): its path, and *stats. */
size_t grpc_server_method_count(const struct grpc_server *s);
const char *grpc_server_method_at(const struct grpc_server *s, size_t i,
                                  const struct grpc_method_stats **stats);

/* ---- calls: request side (valid while the caller holds a reference) ---- */

/* The :path of the request, e.g. "/etcdserverpb.KV/Range". */
const char *grpc_call_path(const struct grpc_call *call);

/* The first value of request metadata name (lower case, e.g. "token"), or NULL. */
const char *grpc_call_metadata(const struct grpc_call *call, const char *name);

/* Number of request metadata fields (pseudo-headers excluded) and the i-th one. */
size_t grpc_call_metadata_count(const struct grpc_call *call);
void grpc_call_metadata_at(const struct grpc_call *call, size_t i, const char **name,
                           const char **value);

/* The grpc-timeout the client sent, in ms (rounded up), or -1 when it sent none. */
int64_t grpc_call_timeout_ms(const struct grpc_call *call);

/* The deadline as a clock_mono_ms() instant (headers arrival + timeout), or 0 when none. */
uint64_t grpc_call_deadline_ms(const struct grpc_call *call);

/* True once the call was cancelled (on_cancel fired or is about to). */
int grpc_call_cancelled(const struct grpc_call *call);

/* A pointer the handler keeps with the call (NULL initially). */
void grpc_call_set_data(struct grpc_call *call, void *data);
void *grpc_call_data(const struct grpc_call *call);

/* ---- calls: response side ---- */

/* Fills out with exactly len bytes (e.g. protobuf_c_message_pack). */
typedef void (*grpc_pack_fn)(const void *ctx, uint8_t *out);

/* SERVER_STREAM / STREAMING: queues one response message (copied). Returns 0; CC_EBUSY when
 * the call's or the connection's send queue is at its limit (nothing queued; on_writable
 * follows); CC_ECANCELED once the call is cancelled (by the client, the connection, shutdown,
 * or the library refusing the client's input); CC_ETOOBIG when len > max_send_msg_bytes;
 * CC_ENOMEM. Precondition: the handler has not completed the call. */
int grpc_call_send(struct grpc_call *call, const void *msg, size_t len);

/* As grpc_call_send, but pack writes the len message bytes straight into the queue. */
int grpc_call_send_packed(struct grpc_call *call, size_t len, grpc_pack_fn pack, const void *ctx);

/* Ends the call with status code (enum grpc_code) and message (may be NULL; percent-encoded
 * on the wire, cut at 4 KiB). Queued messages go out first, then the trailers; with nothing
 * sent yet the reply is Trailers-Only. Releases the completion reference: call must not be
 * used afterwards unless the caller holds another reference. A no-op on the wire after
 * cancellation. Precondition: called once per dispatched call. */
void grpc_call_finish(struct grpc_call *call, int code, const char *message);

/* UNARY: sends msg (copied; not subject to the queue limits, a unary call has one reply) and
 * finishes with OK. Returns 0, CC_ECANCELED (nothing sent), or CC_ETOOBIG / CC_ENOMEM, in
 * which case the call was finished with RESOURCE_EXHAUSTED / INTERNAL instead. In every case
 * the completion reference is released. */
int grpc_call_reply(struct grpc_call *call, const void *msg, size_t len);

/* As grpc_call_reply, packing len bytes with pack. */
int grpc_call_reply_packed(struct grpc_call *call, size_t len, grpc_pack_fn pack, const void *ctx);

/* Same as grpc_call_finish (reads better for errors). Precondition: code != GRPC_OK. */
void grpc_call_fail(struct grpc_call *call, int code, const char *message);

/* Extra references for handlers that keep the pointer in more than one place. */
void grpc_call_ref(struct grpc_call *call);
void grpc_call_unref(struct grpc_call *call);

#endif
