/* transport.h — TCP connections between members carrying Raft messages, on one libuv loop. */
#ifndef CONCUR_TRANSPORT_TRANSPORT_H
#define CONCUR_TRANSPORT_TRANSPORT_H

/*
 * What this is
 * ------------
 * One member's peer transport. It listens on one address and keeps one outbound TCP connection
 * per peer; the member sends only on its outbound connections and receives only on the
 * connections its peers opened to it. Frames, the handshake and the limits are described in
 * transport/codec.h (protocol version 1).
 *
 * Handshake: the connecting side sends HELLO (cluster ID, its ID, the ID it expects to reach);
 * the listening side checks all three and answers HELLO_OK, or an ERROR frame and a close:
 * CC_ECLUSTER for another cluster, CC_ENOTFOUND when the receiver ID is not ours, CC_EREMOVED
 * for a removed member, CC_EINVAL for a sender ID of 0 or our own, CC_EPROTO for an unknown
 * protocol version. The connecting side checks the HELLO_OK the same way and only then sends
 * messages. A member created with cluster ID 0 (joining, not yet told its cluster) adopts the
 * cluster ID of the first peer whose HELLO it accepts.
 *
 * Threads: none. Every function must be called on the loop's thread, and every callback runs
 * on it. The transport never blocks.
 *
 * Delivery: deliver_cb gets each decoded message whose sender passed the handshake, in the
 * order the sender sent them; messages are never duplicated, but any may be lost (a full queue,
 * a broken connection). Raft tolerates loss and retries.
 *
 * Sending: transport_send serializes the message at once (so the core's update may be released
 * right after) into the peer's bounded queue; queued frames are written in batches (one
 * uv_write with many buffers) once per loop iteration. A message that cannot be queued is
 * dropped and counted, and the drop is reported later through report_cb (never from inside
 * transport_send, so the caller may be walking a raft_update when it sends): the member then
 * calls raft_report_unreachable, and raft_report_snapshot_failed when a snapshot chunk was
 * among the dropped messages. Messages queued on a connection that breaks are dropped and
 * reported the same way, and so is the loss of an established connection itself (what the
 * kernel had taken may be lost with it; snapshot_failed when a chunk was sent on it).
 *
 * Reconnects: a failed or broken outbound connection is retried after an exponential backoff
 * (backoff_min_ms doubling to backoff_max_ms) with jitter drawn from a generator seeded by
 * options.seed; while waiting, sends to that peer are dropped (the peer is down). Dead idle
 * connections are found by TCP keepalive, stuck writes by TCP_USER_TIMEOUT, and a connection
 * that does not finish its handshake within handshake_timeout_ms is closed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "raft/raft.h"
#include "util/log.h"

#define TRANSPORT_MAX_PEERS  64  /* outbound peers of one member */
#define TRANSPORT_HOST_MAX   256 /* bytes of a host name, with the terminator */
#define TRANSPORT_URL_MAX    300 /* bytes of a peer URL as given, with the terminator */
#define TRANSPORT_ERRMSG_MAX 256 /* bytes of a last-error text, with the terminator */

/* A peer or listen URL, split. */
struct transport_url {
    char host[TRANSPORT_HOST_MAX]; /* IPv4, IPv6 (without brackets) or a DNS name */
    uint16_t port;
};

/* Parses an etcd-style peer URL: "http://host:port" with an optional trailing "/", or a bare
 * "host:port"; IPv6 hosts are bracketed ("http://[::1]:2380"). The port is required
 * (0..65535). Returns 0 or CC_EINVAL (https and other schemes are refused: no TLS yet; paths,
 * user info and queries are refused). Pure. */
int transport_url_parse(const char *url, struct transport_url *out);

/* Called with each message a peer sent us. m and everything it points to are valid only during
 * the call (raft_step copies what it keeps). The callback may call any transport function,
 * including transport_close. */
typedef void (*transport_deliver_fn)(void *ud, const struct raft_msg *m);

/* Called (from the loop, after the fact) when messages to peer were dropped: the member calls
 * raft_report_unreachable(peer), and raft_report_snapshot_failed(peer) too when
 * snapshot_failed. Several drops to one peer between two loop iterations yield one call. */
typedef void (*transport_report_fn)(void *ud, raft_id peer, bool snapshot_failed);

/* Called once, after transport_close, when every handle is closed and the transport's memory
 * has been released. */
typedef void (*transport_done_fn)(void *ud);

struct transport_options {
    raft_id id;                    /* this member, != 0 */
    uint64_t cluster_id;           /* 0: learn it from the first accepted peer (see above) */
    const char *listen_url;        /* numeric IP and port ("http://127.0.0.1:12380"); port 0
                                    * picks a free one (see transport_port); copied */
    uint64_t seed;                 /* seeds the reconnect jitter */
    uint32_t max_frame_bytes;      /* largest frame body sent or accepted, <=
                                    * TRANSPORT_MAX_FRAME_LIMIT; must exceed the core's
                                    * max_msg_bytes + max_entry_bytes (an APPEND always carries at
                                    * least one entry) and its snapshot chunk size */
    uint64_t max_queue_bytes;      /* per-peer send queue bound in bytes, >= max_frame_bytes */
    uint32_t max_queue_msgs;       /* per-peer send queue bound in messages, >= 1 */
    uint32_t max_inbound;          /* connections accepted at once; more are closed at accept */
    uint32_t backoff_min_ms;       /* first reconnect delay, >= 1 */
    uint32_t backoff_max_ms;       /* reconnect delay cap, >= backoff_min_ms */
    uint32_t handshake_timeout_ms; /* connect + handshake deadline, >= 1 */
    uint32_t keepalive_s;          /* TCP keepalive idle time; probes every keepalive_s/2 (>= 1 s),
                                    * 3 probes; unacknowledged writes time out after the same total */
    transport_deliver_fn deliver_cb; /* required */
    transport_report_fn report_cb;   /* may be NULL */
    void *ud;                        /* passed to both callbacks */
};

/* Defaults: 16 MiB frames (the core's defaults need 1 MiB messages + 8 MiB entries), 32 MiB and
 * 4096 messages per peer queue (admits many 1 MiB snapshot chunks), 64 inbound connections,
 * backoff 100 ms .. 5 s, 5 s handshake timeout, 10 s keepalive. id, cluster_id, listen_url,
 * seed and the callbacks are left 0/NULL. */
void transport_options_default(struct transport_options *o);

struct transport;

/* Creates a transport on loop, listening on o->listen_url. lg (may be NULL) must outlive the
 * transport; o is copied. Binding happens synchronously, so a busy port is reported here.
 * Returns 0 with *out owned by the caller until transport_close, or CC_EINVAL (bad options or
 * URL), CC_EEXIST (address in use), CC_ENOMEM, or another code mapped from errno. On failure
 * nothing is left on the loop, except if libuv refuses the already listening socket (not
 * expected): its handles then close by themselves on the loop, and no callback runs. */
int transport_new(uv_loop_t *loop, const struct logger *lg, const struct transport_options *o,
                  struct transport **out);

/* Starts shutdown: stops listening, closes every connection, drops every queued message
 * without reporting it; no deliver_cb or report_cb fires from now on. done_cb (may be NULL)
 * runs from the loop once all handles are closed; the transport is freed before it runs, so t
 * must not be used after this call. Call at most once. */
void transport_close(struct transport *t, transport_done_fn done_cb, void *ud);

/* The TCP port the transport listens on (useful after asking for port 0). */
uint16_t transport_port(const struct transport *t);

/* The cluster ID in use (0 while not yet learned). */
uint64_t transport_cluster_id(const struct transport *t);

/* Adds peer id reachable at url (etcd-style, see transport_url_parse; a DNS name is resolved on
 * every connection attempt, and its first IPv4 address, else its first address, is used) and
 * starts connecting: messages sent from now on are queued while the connection is made. Adding an
 * existing peer with the same URL does nothing; with another URL the peer's connection is replaced.
 * A previously removed id is accepted again. Returns 0, CC_EINVAL (id 0, our own id, bad URL, port
 * 0), CC_ETOOBIG (more than TRANSPORT_MAX_PEERS), CC_ENOMEM, CC_ESTOPPED (closing). */
int transport_add_peer(struct transport *t, raft_id id, const char *url);

/* Removes peer id: closes its connections both ways and drops its queue without reporting.
 * id is remembered as removed (the last TRANSPORT_MAX_PEERS removals) and its handshakes are
 * refused with CC_EREMOVED until it is added again. Returns 0, or CC_ENOTFOUND when id was not
 * a peer (it is still remembered as removed). */
int transport_remove_peer(struct transport *t, raft_id id);

/* Serializes m (m->from must be our id; m->to a peer) into that peer's send queue; m stays the
 * caller's and may be released as soon as this returns. Returns 0 when queued, or, when the
 * message was dropped (counted, and reported later through report_cb): CC_EUNAVAIL (the peer is
 * down: waiting to reconnect), CC_EBUSY (its queue is full), CC_ETOOBIG (frame over
 * max_frame_bytes), CC_ENOMEM. CC_ENOTFOUND (no such peer; NOT reported through report_cb: the
 * caller reports it), CC_EINVAL (a type the codec refuses), CC_ESTOPPED (closing). */
int transport_send(struct transport *t, const struct raft_msg *m);

/* Per-peer figures for metrics. */
struct transport_peer_stats {
    raft_id id;
    char url[TRANSPORT_URL_MAX];
    bool connected;     /* handshake done on the outbound connection */
    uint64_t msgs_sent; /* written to the socket */
    uint64_t bytes_sent;
    uint64_t msgs_dropped; /* not queued, or queued and lost with a connection */
    uint64_t bytes_dropped;
    uint32_t msgs_queued; /* waiting or being written now */
    uint64_t bytes_queued;
    uint64_t connects;         /* successful handshakes */
    uint64_t connect_failures; /* attempts or connections that failed */
    int last_error;            /* 0 or a cc_err: why the last attempt or connection failed */
    char last_error_msg[TRANSPORT_ERRMSG_MAX]; /* with context: address, peer's reason */
};

/* Fills *out for peer id. Returns 0 or CC_ENOTFOUND. */
int transport_peer_stats(const struct transport *t, raft_id id, struct transport_peer_stats *out);

/* Whole-transport figures. */
struct transport_stats {
    uint32_t n_peers;
    uint32_t inbound_open;     /* accepted connections open now */
    uint64_t msgs_received;    /* delivered to deliver_cb */
    uint64_t bytes_received;   /* frame bytes of those */
    uint64_t inbound_accepted; /* handshakes accepted */
    uint64_t inbound_refused;  /* handshakes refused (other cluster, removed, ...) */
    uint64_t inbound_rejected; /* connections over max_inbound, closed at accept */
    uint64_t protocol_errors;  /* connections closed for malformed or unexpected frames */
    int last_refusal;          /* cc_err of the last refused handshake, 0 if none */
    char last_refusal_msg[TRANSPORT_ERRMSG_MAX];
};

void transport_stats(const struct transport *t, struct transport_stats *out);

/* Writes the IDs of the current peers (at most max) to ids and returns how many there are. */
uint32_t transport_peer_ids(const struct transport *t, raft_id *ids, uint32_t max);

#endif
