/* etcd_int.h — what the etcd service files and the two transports (gRPC, JSON gateway) share:
 * the method table, the transport-neutral call object, and the member-wide API state. */
#ifndef CONCUR_API_ETCD_ETCD_INT_H
#define CONCUR_API_ETCD_ETCD_INT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/etcd/codec.h"
#include "api/etcd/errors.h"
#include "api/etcd/etcd.h"
#include "api/etcd/pbmem.h"
#include "api/grpc/grpc_frame.h"
#include "server/server.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/rng.h"

/*
 * Calls. A transport (grpc_glue.c for gRPC, gateway.c for HTTP/JSON) decodes a request into a
 * protobuf-c message and drives a handler of the method table through a struct ecall. The
 * handler owns the call's completion: it ends it exactly once with ecall_reply / ecall_fail
 * (unary) or ecall_finish (streams) — also after a cancellation, as the server's callbacks
 * always fire. Handlers never see the wire format; the transport encodes their messages.
 *
 * Streams send with ecall_send. A transport that cannot take a message now makes the call
 * hold it (one message, encoded) and refuse further sends until it has been written; the
 * handler's on_writable then runs. So a handler that checks ecall_can_send before producing
 * (e.g. before polling watch events) never buffers more than one message per stream.
 */

enum emethod_kind { EM_UNARY, EM_SERVER_STREAM, EM_STREAMING };

enum emethod_flags {
    EMF_WRITE = 1u << 0,      /* refuse requests over --max-request-bytes (etcd's raft limit) */
    EMF_LEARNER_OK = 1u << 1, /* served by a learner (etcd 3.4: Status) */
    EMF_LEARNER_SERIALIZABLE = 1u << 2, /* served by a learner when serializable (Range) */
};

struct ecall;

struct etcd_method {
    const char *path;     /* "/etcdserverpb.KV/Range" */
    const char *gw_path;  /* grpc-gateway route ("/v3/kv/range") or NULL */
    const char *gw_alias; /* etcd 3.4's second route ("/v3/kv/lease/revoke") or NULL */
    const ProtobufCMessageDescriptor *req;
    enum emethod_kind kind;
    unsigned flags;
    /* UNARY and SERVER_STREAM: the request (valid until the call completes). */
    void (*on_request)(struct ecall *c, const ProtobufCMessage *req);
    /* STREAMING: the stream opened / one request (valid during the call) / the client is done
     * sending / the stream was cancelled (the handler must ecall_finish, a no-op on the wire) /
     * a held message was written. */
    void (*on_start)(struct ecall *c);
    void (*on_message)(struct ecall *c, const ProtobufCMessage *req);
    void (*on_half_close)(struct ecall *c);
    void (*on_cancel)(struct ecall *c);
    void (*on_writable)(struct ecall *c);
};

/* The method table (methods.c), terminated by a NULL path. */
extern const struct etcd_method etcd__methods[];

/* A transport's side of a call. */
struct ecall_transport {
    /* Sends one stream message now: 0, CC_EBUSY (nothing sent; the transport will call
     * ecall_on_writable), CC_ECANCELED, or another error. */
    int (*send)(struct ecall *c, const ProtobufCMessage *msg);
    /* Encodes msg as send would write it, appending to out; then writes such bytes. */
    int (*encode)(struct ecall *c, const ProtobufCMessage *msg, struct buf *out);
    int (*send_bytes)(struct ecall *c, const uint8_t *p, size_t n);
    /* Unary success; completes the transport's call. */
    void (*reply)(struct ecall *c, const ProtobufCMessage *msg);
    /* Ends the call with a status (GRPC_OK ends a stream normally); completes it. */
    void (*finish)(struct ecall *c, int code, const char *msg);
    /* Request metadata (lower-case gRPC name, e.g. "hasleader"), or NULL. */
    const char *(*metadata)(const struct ecall *c, const char *name);
};

struct ecall {
    struct etcd_api *api;
    const struct etcd_method *m;
    const struct ecall_transport *t;
    void *tx;              /* the transport's call (grpc_call, gateway exchange) */
    ProtobufCMessage *req; /* UNARY/SERVER_STREAM: the request, freed at the end */
    size_t req_len;        /* its wire size (protobuf bytes) */
    /* The request's wire bytes as the client sent them, when the transport has them (gRPC):
     * valid only while the handler's on_request runs (copy to keep); NULL otherwise. */
    const uint8_t *raw_req;
    /* The client's deadline (a clock_mono_ms instant, from grpc-timeout), 0 when none. */
    uint64_t deadline_ms;
    struct pbmem pm;   /* the allocator of req and of stream messages */
    struct kv_arena a; /* scratch of the handler, freed at the end */
    void *data;        /* the handler's state */
    int refs;          /* completion + transport dispatch in progress */
    bool done;         /* completed (reply, fail or finish delivered) */
    bool finishing;    /* finish waits for the held message */
    bool aborting;     /* ecall_abort: finish with its status whatever the handler says */
    int fin_code;
    char *fin_msg;
    bool has_held;
    struct buf held;
};

/* ---- transport side (grpc_glue.c, gateway.c) ---- */

/* A call for method m over transport t. NULL on allocation failure. refs = 1. */
struct ecall *ecall_new(struct etcd_api *a, const struct etcd_method *m,
                        const struct ecall_transport *t, void *tx);
void ecall_ref(struct ecall *c);
void ecall_unref(struct ecall *c); /* frees at 0 */

/* Decodes len protobuf bytes into a request of m->req with c's budget. NULL when malformed,
 * too deep or over budget. Free with ecall_free_msg. */
ProtobufCMessage *ecall_decode(struct ecall *c, const uint8_t *p, size_t len);
void ecall_free_msg(struct ecall *c, ProtobufCMessage *msg);

/* Unary/server-stream dispatch: takes ownership of req (len: wire size), runs the
 * interceptor checks (learner, leader requirement, request size) and then the handler. */
void ecall_dispatch(struct ecall *c, ProtobufCMessage *req, size_t len);
/* Streaming dispatch: interceptor checks, then on_start. */
void ecall_dispatch_start(struct ecall *c);
/* One stream message (owned by the caller); ignored once the call is done. */
void ecall_dispatch_message(struct ecall *c, const ProtobufCMessage *req);
void ecall_dispatch_half_close(struct ecall *c);
/* The transport's call was cancelled (client reset, connection lost, shutdown). */
void ecall_on_cancel(struct ecall *c);
/* A CC_EBUSY send may be retried. */
void ecall_on_writable(struct ecall *c);
/* Ends a stream with code/msg from the transport's side (e.g. a request that does not decode):
 * the handler releases its state through on_cancel, and the status sent is this one. */
void ecall_abort(struct ecall *c, int code, const char *msg);

/* ---- handler side ---- */

/* Unary success: the transport encodes msg now (it may point into c->a or into results the
 * caller still holds). Completes the call. */
void ecall_reply(struct ecall *c, const ProtobufCMessage *msg);
/* Ends the call with an error status (msg is copied). */
void ecall_fail(struct ecall *c, int code, const char *msg);
/* Ends the call with etcd's status for (err, kv_msg) in ctx. */
void ecall_fail_err(struct ecall *c, int err, int kv_msg, enum etcd_ctx ctx);
/* Streams: ends the call; a held message is written first. */
void ecall_finish(struct ecall *c, int code, const char *msg);
/* Streams: sends msg (encoded now). 0 (sent or held), CC_EBUSY (a message is already held:
 * wait for on_writable), CC_ECANCELED / CC_ESTOPPED (the call is over), CC_ENOMEM. */
int ecall_send(struct ecall *c, const ProtobufCMessage *msg);
/* True when the next ecall_send will be accepted. */
bool ecall_can_send(const struct ecall *c);
/* Request metadata, or NULL. */
const char *ecall_metadata(const struct ecall *c, const char *name);

/* ---- the member-wide API state ---- */

/* A long-lived stream (Watch, LeaseKeepAlive) known to the API: ticked (leader loss, progress
 * notifications) and flushed from the loop's idle phase when scheduled. */
struct etcd_stream {
    struct etcd_stream *prev, *next;
    struct etcd_stream *flush_next;
    bool flush_scheduled;
    bool require_leader; /* the client sent "hasleader: true" */
    /* now_ms; leader_lost: no leader for 3 election timeouts (etcd's monitorLeader). */
    void (*tick)(struct etcd_stream *s, uint64_t now_ms, bool leader_lost);
    void (*flush)(struct etcd_stream *s);
};

struct etcd_api {
    struct member *m;
    uv_loop_t *loop;
    struct logger *log;
    struct etcd_opts o;
    struct etcd_api_stats stats;
    struct kv_arena mem; /* allocations that live as long as the API (method registrations) */
    struct rng rng;
    uv_timer_t tick;
    uv_idle_t idle;
    struct etcd_stream streams; /* list head (sentinel) */
    struct etcd_stream *flush_head;
    uint64_t noleader_since_ms; /* 0 while a leader is known */
    bool closing;
    int open_handles;
    uint64_t calls_live;  /* ecalls not yet freed: closing waits for them */
    size_t decoded_bytes; /* memory of every decoded request alive (shared pbmem budget) */
    void (*closed_cb)(void *arg);
    void *closed_arg;
    /* Status cached for the per-call interceptor checks (refreshed every few ms). */
    struct srv_status st;
    uint64_t st_ms;
    struct etcd_fwd *fwd; /* forwarding to the leader (forward.c) */
};

/* The member's status, at most a few milliseconds old. */
const struct srv_status *etcd__status(struct etcd_api *a);
/* The identity part of response headers (cluster, member, term). */
void etcd__hdr(struct etcd_api *a, struct codec_hdr *h);
/* A full header: identity and the current store revision (etcd's header.fill). */
Etcdserverpb__ResponseHeader *etcd__header_now(struct etcd_api *a, struct kv_arena *ar);

void etcd__stream_add(struct etcd_api *a, struct etcd_stream *s);
void etcd__stream_remove(struct etcd_api *a, struct etcd_stream *s);
/* Runs s->flush from the loop's next idle phase (once, however often it is asked). */
void etcd__stream_schedule(struct etcd_api *a, struct etcd_stream *s);

/* A call was freed: while closing, the API may now be done. */
void etcd__call_gone(struct etcd_api *a);

/* Monotonic milliseconds (the loop's cached time is not fine enough for deadlines here). */
uint64_t etcd__now_ms(void);

/* A handle of the API (e.g. a forwarding connection) finished closing: while closing, the API
 * may now be done. Each one counted in open_handles while it was open. */
void etcd__handle_closed(struct etcd_api *a);

/* ---- forwarding to the leader (forward.c) ---- */

/* Creates a->fwd. Returns 0 or CC_ENOMEM. */
int etcd__fwd_new(struct etcd_api *a);
/* Closes the leader connections (forwarded calls still running fail with "server stopped");
 * later forwards are refused the same way. Each connection counts in a->open_handles until it
 * is closed. */
void etcd__fwd_close(struct etcd_api *a);
void etcd__fwd_free(struct etcd_api *a);

/* Relays the unary call c to the leader, for a request this member cannot serve as a follower
 * (etcd forwards it; e.g. srv_member_add said CC_ENOTLEADER): the request's gRPC bytes
 * (re-encoded when the transport has none) go to the leader's client URL on c's method path,
 * with a deadline (the client's, at most etcd's request timeout: 5 s + 2 x election timeout).
 * Completes c with the leader's response decoded as a resp message, or with the leader's
 * status; with etcd's errors in ctx when the leader is unknown ("no leader"), unreachable or
 * too slow ("request timed out"), or too many calls are forwarded already ("too many
 * requests"). With wait_applied, a successful answer waits until this member has applied up
 * to a read index taken after it (so a follower's own MemberList shows the change, as in
 * etcd, where the follower applies the change before answering). */
void etcd__forward(struct ecall *c, const ProtobufCMessageDescriptor *resp, enum etcd_ctx ctx,
                   bool wait_applied);

/* ---- service handlers (one file each) ---- */

/* kv.c */
void etcd__kv_range(struct ecall *c, const ProtobufCMessage *req);
void etcd__kv_put(struct ecall *c, const ProtobufCMessage *req);
void etcd__kv_delete(struct ecall *c, const ProtobufCMessage *req);
void etcd__kv_txn(struct ecall *c, const ProtobufCMessage *req);
void etcd__kv_compact(struct ecall *c, const ProtobufCMessage *req);
/* watch.c */
void etcd__watch_start(struct ecall *c);
void etcd__watch_message(struct ecall *c, const ProtobufCMessage *req);
void etcd__watch_half_close(struct ecall *c);
void etcd__watch_cancel(struct ecall *c);
void etcd__watch_writable(struct ecall *c);
/* lease.c */
void etcd__lease_grant(struct ecall *c, const ProtobufCMessage *req);
void etcd__lease_revoke(struct ecall *c, const ProtobufCMessage *req);
void etcd__lease_ttl(struct ecall *c, const ProtobufCMessage *req);
void etcd__lease_leases(struct ecall *c, const ProtobufCMessage *req);
void etcd__keepalive_start(struct ecall *c);
void etcd__keepalive_message(struct ecall *c, const ProtobufCMessage *req);
void etcd__keepalive_half_close(struct ecall *c);
void etcd__keepalive_cancel(struct ecall *c);
void etcd__keepalive_writable(struct ecall *c);
/* cluster.c */
void etcd__member_add(struct ecall *c, const ProtobufCMessage *req);
void etcd__member_remove(struct ecall *c, const ProtobufCMessage *req);
void etcd__member_update(struct ecall *c, const ProtobufCMessage *req);
void etcd__member_list(struct ecall *c, const ProtobufCMessage *req);
void etcd__member_promote(struct ecall *c, const ProtobufCMessage *req);
/* maintenance.c */
void etcd__maint_status(struct ecall *c, const ProtobufCMessage *req);
void etcd__maint_hash(struct ecall *c, const ProtobufCMessage *req);
void etcd__maint_hashkv(struct ecall *c, const ProtobufCMessage *req);
void etcd__maint_alarm(struct ecall *c, const ProtobufCMessage *req);
void etcd__maint_defragment(struct ecall *c, const ProtobufCMessage *req);
void etcd__maint_move_leader(struct ecall *c, const ProtobufCMessage *req);
/* snapshot.c */
void etcd__snapshot_request(struct ecall *c, const ProtobufCMessage *req);
void etcd__snapshot_cancel(struct ecall *c);
void etcd__snapshot_writable(struct ecall *c);
/* auth.c: one handler for every Auth method (they differ only in their answer). */
void etcd__auth(struct ecall *c, const ProtobufCMessage *req);

#endif
