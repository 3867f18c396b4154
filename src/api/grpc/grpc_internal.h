/* grpc_internal.h — structures shared by grpc_server.c, grpc_call.c and h2_conn.c only. */
#ifndef CONCUR_API_GRPC_INTERNAL_H
#define CONCUR_API_GRPC_INTERNAL_H

#include <nghttp2/nghttp2.h>

#include "api/grpc/grpc.h"
#include "api/grpc/h2_conn.h"
#include "util/buf.h"

/* Status messages longer than this are cut before percent-encoding. */
#define GRPC_STATUS_MSG_MAX 4096

struct grpc_method {
    char *path;
    const struct grpc_method_ops *ops;
    void *arg;
    struct grpc_method_stats stats;
};

struct grpc_server {
    struct grpc_limits lim;
    struct logger *log;
    struct grpc_method **methods; /* sorted by path; pointers keep stats addresses stable */
    size_t nmethods;
    size_t cap;
    struct grpc_server_stats stats;
};

/* One queued response message: 5-byte gRPC header + payload, sent from off onwards. */
struct grpc_msg {
    struct grpc_msg *next;
    size_t len;
    size_t off;
    uint8_t data[];
};

struct grpc_call {
    int refs;
    struct h2_conn *conn; /* NULL once detached: the stream is gone */
    int32_t stream_id;
    struct grpc_call *prev, *next;  /* the connection's attached calls */
    struct grpc_call *blocked_next; /* the connection's calls waiting for on_writable */
    struct grpc_method *method;     /* NULL for an unknown path; valid while attached */

    /* Request. */
    char *path;
    struct buf meta; /* "name\0value\0" pairs */
    uint32_t nmeta;
    size_t header_bytes;
    int64_t timeout_ms;
    uint64_t deadline_ms;
    int reject_code; /* nonzero: refuse before dispatch with this gRPC code... */
    int reject_http; /* ...and this :status (200 for gRPC errors) */
    const char *reject_msg;
    unsigned is_post : 1;
    unsigned grpc_ct : 1; /* content-type is application/grpc[+...|;...] */
    unsigned headers_done : 1;
    unsigned remote_closed : 1;
    unsigned refuse_at_end : 1; /* an HTTP-level refusal waits for the request's END_STREAM */
    struct grpc_deframer df;
    uint8_t *req_msg; /* the single request of a unary/server-stream call until dispatch */
    size_t req_len;
    uint32_t req_count;

    /* Lifecycle. */
    unsigned dispatched : 1; /* the handler owns the completion reference */
    unsigned completed : 1;  /* the handler finished (or the library did, see ended) */
    unsigned cancelled : 1;  /* on_cancel was due */
    unsigned ended : 1;      /* a final status is decided: trailers will follow the queue */
    unsigned blocked : 1;    /* a send got CC_EBUSY; on_writable owed */

    /* Response. */
    unsigned headers_submitted : 1;
    unsigned deferred : 1; /* nghttp2's data provider is waiting for resume */
    unsigned trailers_submitted : 1;
    unsigned end_sent : 1; /* our END_STREAM went out */
    unsigned rst_sent : 1; /* we asked the client to stop sending */
    struct grpc_msg *q_head, *q_tail;
    size_t q_bytes; /* unsent bytes in the queue */
    int status;
    char *status_msg; /* percent-encoded, or NULL */
    uint64_t start_us;
    void *user;
};

struct h2_conn {
    nghttp2_session *ng;
    struct grpc_server *srv;
    struct h2_io io;
    int depth;            /* >0 while inside nghttp2 or handler callbacks of this connection */
    int dirty;            /* output was submitted while depth > 0 */
    int fatal;            /* the session failed; only flushing remains */
    size_t q_bytes;       /* unsent response bytes over all calls */
    size_t recv_buffered; /* partial request messages (the de-framers' shared budget) */
    struct grpc_call *calls;
    struct grpc_call *blocked;
    size_t ncalls;
};

/* grpc_server.c */
struct grpc_method *grpc__server_find(const struct grpc_server *s, const char *path);
int grpc__server_has_service(const struct grpc_server *s, const char *path);

/* grpc_call.c */
struct grpc_call *grpc__call_new(struct h2_conn *h, int32_t stream_id);
/* Decides the final status on the library's behalf (bad input, limits): if the handler owned
 * the call it is cancelled (on_cancel runs). Queued messages still go out, then the trailers. */
void grpc__call_end(struct grpc_call *c, int code, const char *message);
/* Submits headers or resumes the data provider so nghttp2 sends what is queued. */
void grpc__call_kick(struct grpc_call *c);
/* Unlinks c from its connection: frees queued output; a dispatched, uncompleted call is
 * cancelled (on_cancel unless quiet). Drops the library's reference. */
void grpc__call_detach(struct grpc_call *c, int run_cancel);
int grpc__call_writable(const struct grpc_call *c);
void grpc__call_stats_done(struct grpc_call *c, int code);
/* nghttp2's send_data_callback for a call's queue: frame header then length queued bytes. */
int grpc__call_send_data(struct grpc_call *c, const uint8_t *framehd, size_t length);

/* h2_conn.c */
/* Asks for h2_conn_send soon (now through io.want_write, or after the current processing). */
void h2__want_write(struct h2_conn *h);

#endif
