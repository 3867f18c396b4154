/* h2c_int.h — what the two halves of the gRPC client share: the connection (h2c.c: socket,
 * name lookup, writes, deadlines, delivery of replies, closing) and its calls (h2c_call.c:
 * starting them, nghttp2's callbacks deciding their outcome). */
#ifndef CONCUR_API_H2CLIENT_H2C_INT_H
#define CONCUR_API_H2CLIENT_H2C_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "api/h2client/h2c.h"
#include "util/buf.h"

/* Serialized frames gathered into one write; the write buffer's bound adds room for one more
 * frame, the largest being a HEADERS block (bounded by REQ_HEADER_MAX) or a 16 KiB DATA frame. */
#define WRITE_CHUNK    (256 * 1024)
#define WRITE_MAX      (WRITE_CHUNK + (1u << 20))
#define READ_CHUNK     (64 * 1024)
#define REQ_HEADER_MAX (16 * 1024) /* path + metadata of one request */
#define MESSAGE_MAX    1024        /* grpc-message kept (decoded), longer is cut */
#define HPACK_ENTRY    32          /* RFC 7541 §4.1: per-field overhead, counted in limits */
#define TIMEOUT_MAX    99999999ull /* grpc-timeout's 8 digits */

/*
 * A call lives in exactly one of the connection's lists:
 *   live   its outcome is open;
 *   done   its outcome is decided, the reply not yet delivered (settle() delivers it);
 *   zombie replied, but nghttp2 still holds its stream (and may read its request body), so
 *          the memory stays until the stream closes or the session is gone.
 * Replies are delivered only from settle(), which runs at the end of every loop callback, so
 * no reply ever runs inside an h2c_* function.
 */
struct h2c_call {
    struct h2c_call *prev, *next;
    struct h2c *conn;
    int32_t id;
    h2c_reply_fn fn;
    void *ud;
    uint8_t *tx; /* 5-byte gRPC prefix + body */
    size_t tx_len, tx_off;
    struct buf rx; /* the response's DATA bytes (prefix included) */
    uint64_t deadline_ms;
    uint32_t header_bytes;
    int http_status;
    bool got_status;    /* grpc-status arrived */
    bool decided;       /* in done or zombie */
    bool replied;       /* in zombie */
    bool stream_closed; /* nghttp2 will never mention this stream again */
    bool sent;
    int code, err;
    char message[MESSAGE_MAX + 1];
};

struct call_list {
    struct h2c_call head; /* sentinel */
};

struct h2c {
    uv_loop_t *loop;
    struct h2c_limits lim;
    uv_tcp_t tcp;
    uv_prepare_t flusher; /* writes once per loop iteration, after all of its callbacks */
    uv_timer_t timer;     /* call deadlines and the connect deadline */
    uv_getaddrinfo_t gai;
    uv_connect_t connect_req;
    uv_write_t write_req;
    nghttp2_session *h2;
    char host[200], port[16];
    char authority[220];
    h2c_event_fn on_event;
    void *ud;
    h2c_closed_fn closed_cb;
    void *closed_arg;
    struct buf wbuf; /* bytes handed to uv_write; stable while writing */
    struct call_list live, done, zombie;
    uint32_t n_calls;
    uint64_t connect_deadline_ms;
    uint64_t timer_due_ms; /* 0: not armed */
    int open_handles;
    bool resolving, connected, writing, flush_scheduled, goaway, ids_exhausted;
    bool ready, ready_reported, failed, fail_reported, closing, session_dead;
    char why[256];
    uint8_t rbuf[READ_CHUNK];
};

/* ---- call lists ---- */

static inline void list_init(struct call_list *l)
{
    l->head.prev = l->head.next = &l->head;
}

static inline bool list_empty(const struct call_list *l)
{
    return l->head.next == &l->head;
}

static inline void list_unlink(struct h2c_call *k)
{
    k->prev->next = k->next;
    k->next->prev = k->prev;
    k->prev = k->next = NULL;
}

static inline void list_push(struct call_list *l, struct h2c_call *k)
{
    k->prev = l->head.prev;
    k->next = &l->head;
    l->head.prev->next = k;
    l->head.prev = k;
}

/* ---- h2c_call.c ---- */

/* Creates c->h2 with the callbacks that decide calls, and queues our SETTINGS. Returns 0 or
 * CC_ENOMEM. */
int h2c__session_init(struct h2c *c);
/* Releases a call (its slot in n_calls too); it must be in no list. */
void h2c__call_free(struct h2c_call *k);
void h2c__free_list(struct call_list *l);
/* Moves a live call to the done list with its outcome; settle() delivers it. No-op when the
 * call is already decided. */
void h2c__call_decide(struct h2c_call *k, int code, int err, const char *message);
/* Decides a running call here and resets its stream (the server stops working on it). */
void h2c__call_fail_local(struct h2c_call *k, int code, int err, const char *message);

/* ---- h2c.c ---- */

/* Writes what nghttp2 has to send at the end of this loop iteration. */
void h2c__schedule_flush(struct h2c *c);
/* Makes the deadline timer fire no later than due_ms (a clock_mono_ms instant). */
void h2c__arm_timer(struct h2c *c, uint64_t due_ms);

#endif
