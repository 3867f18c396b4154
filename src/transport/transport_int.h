/* transport_int.h — the transport's internal structures, shared by transport.c and conn.c. */
#ifndef CONCUR_TRANSPORT_TRANSPORT_INT_H
#define CONCUR_TRANSPORT_TRANSPORT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "transport/codec.h"
#include "transport/transport.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/rng.h"

/* Buffers handed to one uv_write: enough to batch a burst of small messages, and below
 * IOV_MAX so libuv writes them with one writev. */
#define TRANSPORT_WRITE_BATCH 256
/* Bytes asked of the kernel per read when no large frame is pending. */
#define TRANSPORT_READ_CHUNK (64u << 10)
/* A read buffer grown past this for a large frame is released once it is empty again. */
#define TRANSPORT_READ_KEEP (1u << 20)
/* Room for the frames an outbound connection may receive (HELLO_OK or ERROR). */
#define TRANSPORT_OUTBOUND_RBUF (2 * TRANSPORT_ERROR_FRAME_MAX)

/* One encoded frame waiting in, or being written from, a connection's queue. */
struct qframe {
    struct qframe *next;
    uint32_t len;
    uint8_t msg_type; /* raft message type for MSG frames; 0 for handshake and error frames */
    uint8_t bytes[];
};

struct fqueue {
    struct qframe *head;
    struct qframe *tail;
};

enum conn_state {
    CONN_RESOLVING = 0, /* outbound: waiting for getaddrinfo */
    CONN_CONNECTING,    /* outbound: TCP connect in flight */
    CONN_HANDSHAKE,     /* outbound: HELLO sent, waiting for HELLO_OK */
    CONN_READY,         /* outbound: messages flow */
    CONN_HELLO_WAIT,    /* inbound: accepted, waiting for HELLO */
    CONN_OPEN,          /* inbound: handshake done, messages arrive */
};

/* One TCP connection, outbound (to a peer) or inbound (accepted). Freed when every libuv
 * callback that refers to it has run (refs). */
struct conn {
    struct transport *t;
    struct conn *prev, *next; /* t->conns */
    bool outbound;
    enum conn_state state;
    bool closing;         /* uv_close called: nothing more happens on it */
    bool linger;          /* close as soon as the queued control frame (an ERROR) is written */
    bool counted;         /* counted in t->n_inbound */
    bool sent_snapshot;   /* a SNAPSHOT frame was written on it (reported failed if it breaks) */
    struct peer *peer;    /* outbound: the peer it serves; NULL once the peer is removed */
    raft_id remote_id;    /* inbound: the sender, once its HELLO was accepted */
    char addr[80];        /* remote "host:port" for log lines (long DNS names cut to 64 bytes) */
    uint64_t deadline_ms; /* uv_now deadline for connect/handshake/linger; 0 = none */
    int refs;             /* the TCP handle (until its close callback) + getaddrinfo */
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    bool gai_active;
    uv_write_t wreq;
    bool writing;
    struct fqueue ctrl;     /* handshake/error frames: always written first */
    struct fqueue msgs;     /* outbound raft messages, written once READY */
    struct fqueue inflight; /* frames handed to the current uv_write */
    uint32_t q_msgs;        /* MSG frames in msgs + inflight */
    uint64_t q_bytes;
    uint32_t n_wbufs;
    uv_buf_t wbufs[TRANSPORT_WRITE_BATCH];
    struct buf rbuf;   /* received bytes not yet parsed: at most one frame */
    size_t frame_need; /* total size of the frame at the start of rbuf, once its header is in */
};

struct peer {
    raft_id id;
    char url[TRANSPORT_URL_MAX];
    struct transport_url addr;
    struct conn *out; /* current outbound connection; NULL while backing off */
    uint64_t next_attempt_ms;
    uint32_t failures;   /* consecutive, for the backoff */
    bool report_pending; /* drops to report through report_cb */
    bool snap_failed_pending;
    struct transport_peer_stats st; /* id, url, connected and queue figures filled on read */
};

struct transport {
    uv_loop_t *loop;
    const struct logger *lg;
    struct transport_options o;
    char listen_url[TRANSPORT_URL_MAX];
    uint16_t port;
    uint64_t cluster_id;
    struct rng rng;
    uv_tcp_t listener;
    uv_timer_t timer; /* one timer for every deadline: backoffs, handshakes, lingering closes */
    uv_idle_t kick; /* runs once per loop iteration while there is work: batched writes, reports */
    struct peer *peers[TRANSPORT_MAX_PEERS];
    uint32_t n_peers;
    raft_id removed[TRANSPORT_MAX_PEERS]; /* ring of removed member IDs */
    uint32_t n_removed;
    uint32_t removed_next;
    struct conn *conns; /* every connection not yet freed, closing ones included */
    uint32_t n_conns;
    uint32_t n_inbound;
    int handles_open; /* listener, timer, kick */
    bool closing;
    transport_done_fn done_cb;
    void *done_ud;
    struct transport_stats st; /* n_peers and inbound_open filled on read */
};

/* conn.c: connection lifetime, connecting, accepting, writing. */
struct conn *transport__conn_new(struct transport *t, bool outbound);
void transport__conn_unref(struct conn *c);
void transport__conn_connect(struct conn *c);
void transport__conn_accept(struct transport *t);
void transport__conn_close(struct conn *c);
/* Ends the connection because of rc: an outbound one's peer goes into backoff (logged once per
 * outage), an inbound one is logged at lvl. No-op when already closing. */
void transport__conn_fail(struct conn *c, enum log_level lvl, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Counts a protocol error and fails the connection (logged at WARN). */
void transport__conn_protocol_error(struct conn *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Queues a copy of a handshake or error frame; false (and the connection failed) on ENOMEM. */
bool transport__conn_push_ctrl(struct conn *c, const uint8_t *bytes, size_t len);
/* Sends an ERROR frame, stops reading, and closes once it is written (or at a deadline). */
void transport__conn_send_error(struct conn *c, int code, const char *why);
void transport__conn_flush(struct conn *c);
void transport__conn_timeout(struct conn *c);
bool transport__conn_ready(const struct conn *c);

/* recv.c: reading, frame parsing, the handshake checks, delivery. */
int transport__conn_start_reading(struct conn *c);

/* transport.c */
struct peer *transport__peer_find(const struct transport *t, raft_id id);
bool transport__is_removed(const struct transport *t, raft_id id);
void transport__peer_up(struct peer *p);
void transport__peer_down(struct transport *t, struct peer *p, int rc, const char *why);
void transport__drop(struct transport *t, struct peer *p, uint8_t msg_type, uint64_t bytes);
void transport__rearm(struct transport *t);
void transport__kick(struct transport *t);
void transport__conn_freed(struct transport *t);
int transport__from_uv(int uverr);

#endif
