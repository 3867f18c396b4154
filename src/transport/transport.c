/* transport.c — the transport object: listening, peers, sending, backoff, reports, shutdown. */
#include "transport/transport_int.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/err.h"
#include "util/log.h"

#define LISTEN_BACKLOG 128

void transport_options_default(struct transport_options *o)
{
    memset(o, 0, sizeof(*o));
    o->max_frame_bytes = 16u << 20;
    o->max_queue_bytes = 32u << 20;
    o->max_queue_msgs = 4096;
    o->max_inbound = 64;
    o->backoff_min_ms = 100;
    o->backoff_max_ms = 5000;
    o->handshake_timeout_ms = 5000;
    o->keepalive_s = 10;
}

int transport__from_uv(int uverr)
{
    if (uverr == UV_EADDRINUSE) return CC_EEXIST;
    if (uverr == UV_ECONNREFUSED || uverr == UV_EOF) return CC_ECLOSED;
    if (uverr < 0 && uverr > -4096) return cc_from_errno(-uverr); /* libuv: -errno on Unix */
    return CC_EIO;
}

static int options_check(const struct transport_options *o)
{
    if (o->id == RAFT_NONE || !o->deliver_cb || !o->listen_url) return CC_EINVAL;
    if (o->max_frame_bytes < 1024 || o->max_frame_bytes > TRANSPORT_MAX_FRAME_LIMIT)
        return CC_EINVAL;
    if (o->max_queue_bytes < (uint64_t)o->max_frame_bytes + TRANSPORT_FRAME_HEADER_BYTES)
        return CC_EINVAL;
    if (o->max_queue_msgs < 1 || o->max_inbound < 1) return CC_EINVAL;
    if (o->backoff_min_ms < 1 || o->backoff_max_ms < o->backoff_min_ms) return CC_EINVAL;
    if (o->handshake_timeout_ms < 1 || o->keepalive_s < 1) return CC_EINVAL;
    return 0;
}

/* Binds and listens with plain socket calls, so that a busy port fails here, synchronously,
 * before any libuv handle exists that would need an asynchronous close. */
static int listen_socket(const struct transport_url *u, int *fd_out, uint16_t *port_out)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(u->host, u->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(u->host, u->port, (struct sockaddr_in6 *)&ss) != 0)
        return CC_EINVAL; /* listen addresses are IPs, as etcd requires */
    socklen_t sl =
        ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return cc_from_errno(errno);
    int on = 1;
    /* A restarted member must rebind while its old connections sit in TIME_WAIT. */
    int rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (rc == 0) rc = bind(fd, (struct sockaddr *)&ss, sl);
    if (rc == 0) rc = listen(fd, LISTEN_BACKLOG);
    if (rc == 0) rc = getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (rc != 0) {
        int e = errno;
        close(fd);
        return e == EADDRINUSE ? CC_EEXIST : cc_from_errno(e);
    }
    *port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    *fd_out = fd;
    return 0;
}

static void on_accept(uv_stream_t *server, int status)
{
    struct transport *t = server->data;
    if (t->closing) return;
    if (status < 0) {
        log_warn(t->lg, "peer listener on %s: accept failed: %s", t->listen_url,
                 uv_strerror(status));
        return;
    }
    transport__conn_accept(t);
}

static void maybe_done(struct transport *t)
{
    if (!t->closing || t->handles_open > 0 || t->n_conns > 0) return;
    transport_done_fn done = t->done_cb;
    void *ud = t->done_ud;
    free(t);
    if (done) done(ud);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct transport *t = h->data;
    t->handles_open--;
    maybe_done(t);
}

void transport__conn_freed(struct transport *t)
{
    maybe_done(t);
}

static void on_timer(uv_timer_t *h);
static void on_kick(uv_idle_t *h);

int transport_new(uv_loop_t *loop, const struct logger *lg, const struct transport_options *o,
                  struct transport **out)
{
    int rc = options_check(o);
    if (rc) return rc;
    struct transport_url lu;
    if (strlen(o->listen_url) >= TRANSPORT_URL_MAX) return CC_EINVAL;
    rc = transport_url_parse(o->listen_url, &lu);
    if (rc) return rc;
    struct transport *t = calloc(1, sizeof(*t));
    if (!t) return CC_ENOMEM;
    int fd = -1;
    rc = listen_socket(&lu, &fd, &t->port);
    if (rc) {
        free(t);
        return rc;
    }
    t->loop = loop;
    t->lg = lg;
    t->o = *o;
    snprintf(t->listen_url, sizeof(t->listen_url), "%s", o->listen_url);
    t->o.listen_url = t->listen_url;
    t->cluster_id = o->cluster_id;
    rng_seed(&t->rng, o->seed);

    uv_tcp_init(loop, &t->listener);
    uv_timer_init(loop, &t->timer);
    uv_idle_init(loop, &t->kick);
    t->listener.data = t->timer.data = t->kick.data = t;
    t->handles_open = 3;
    int uvrc = uv_tcp_open(&t->listener, fd);
    if (uvrc == 0) uvrc = uv_listen((uv_stream_t *)&t->listener, LISTEN_BACKLOG, on_accept);
    if (uvrc != 0) {
        /* Not expected for a socket that is already bound and listening. The handles exist
         * now, so they close (and free t) on the loop; no callback of the caller runs. */
        if (uv_fileno((uv_handle_t *)&t->listener, &(uv_os_fd_t){0}) != 0) close(fd);
        transport_close(t, NULL, NULL);
        return transport__from_uv(uvrc);
    }
    log_info(lg, "peer transport listening on %s (port %u), member %016llx, cluster %016llx",
             t->listen_url, (unsigned)t->port, (unsigned long long)o->id,
             (unsigned long long)o->cluster_id);
    *out = t;
    return 0;
}

uint16_t transport_port(const struct transport *t)
{
    return t->port;
}

uint64_t transport_cluster_id(const struct transport *t)
{
    return t->cluster_id;
}

/* --- peers --------------------------------------------------------------------------------- */

struct peer *transport__peer_find(const struct transport *t, raft_id id)
{
    for (uint32_t i = 0; i < t->n_peers; i++)
        if (t->peers[i]->id == id) return t->peers[i];
    return NULL;
}

bool transport__is_removed(const struct transport *t, raft_id id)
{
    for (uint32_t i = 0; i < t->n_removed; i++)
        if (t->removed[i] == id) return true;
    return false;
}

static void forget_removed(struct transport *t, raft_id id)
{
    for (uint32_t i = 0; i < t->n_removed; i++)
        if (t->removed[i] == id) t->removed[i] = RAFT_NONE;
}

static void remember_removed(struct transport *t, raft_id id)
{
    if (transport__is_removed(t, id)) return;
    t->removed[t->removed_next] = id;
    t->removed_next = (t->removed_next + 1) % TRANSPORT_MAX_PEERS;
    if (t->n_removed < TRANSPORT_MAX_PEERS) t->n_removed++;
}

/* Opens a new outbound connection for p (which has none). */
static void peer_connect(struct transport *t, struct peer *p)
{
    assert(!p->out && !t->closing);
    struct conn *c = transport__conn_new(t, true);
    if (!c) {
        transport__peer_down(t, p, CC_ENOMEM, "out of memory");
        return;
    }
    c->peer = p;
    p->out = c;
    snprintf(c->addr, sizeof(c->addr), strchr(p->addr.host, ':') ? "[%.64s]:%u" : "%.64s:%u",
             p->addr.host, (unsigned)p->addr.port);
    transport__conn_connect(c);
}

/* Jittered exponential backoff, "equal jitter": a delay in [d/2, d] where d doubles with each
 * consecutive failure up to backoff_max_ms. The jitter keeps members that lost each other at
 * the same moment from reconnecting in lockstep. */
static uint64_t backoff_ms(struct transport *t, uint32_t failures)
{
    uint64_t d = t->o.backoff_min_ms;
    for (uint32_t i = 1; i < failures && d < t->o.backoff_max_ms; i++) d *= 2;
    if (d > t->o.backoff_max_ms) d = t->o.backoff_max_ms;
    return d / 2 + rng_below(&t->rng, d - d / 2 + 1);
}

void transport__peer_up(struct peer *p)
{
    p->failures = 0;
    p->st.connects++;
    p->st.last_error = 0;
    p->st.last_error_msg[0] = '\0';
}

void transport__peer_down(struct transport *t, struct peer *p, int rc, const char *why)
{
    bool was_ready = p->out && p->out->state == CONN_READY;
    if (was_ready && !t->closing) {
        /* Frames the kernel took may be lost with the connection: tell Raft, so a leader
         * probes again instead of waiting (and restarts a snapshot that was streaming). */
        p->report_pending = true;
        if (p->out->sent_snapshot) p->snap_failed_pending = true;
        transport__kick(t);
    }
    p->out = NULL;
    p->failures++;
    p->st.connect_failures++;
    p->st.last_error = rc;
    snprintf(p->st.last_error_msg, sizeof(p->st.last_error_msg), "%s", why);
    uint64_t delay = backoff_ms(t, p->failures);
    p->next_attempt_ms = uv_now(t->loop) + delay;
    /* A peer that stays down would log every attempt: warn on the first failure only. */
    enum log_level lvl = (was_ready || p->failures == 1) ? LOG_WARN : LOG_DEBUG;
    log_write(t->lg, lvl, "peer %016llx (%s): %s; reconnecting in %llu ms",
              (unsigned long long)p->id, p->url, why, (unsigned long long)delay);
    transport__rearm(t);
}

void transport__drop(struct transport *t, struct peer *p, uint8_t msg_type, uint64_t bytes)
{
    p->st.msgs_dropped++;
    p->st.bytes_dropped += bytes;
    if (t->closing) return;
    p->report_pending = true;
    if (msg_type == RAFT_MSG_SNAPSHOT) p->snap_failed_pending = true;
    transport__kick(t);
}

int transport_add_peer(struct transport *t, raft_id id, const char *url)
{
    if (t->closing) return CC_ESTOPPED;
    if (id == RAFT_NONE || id == t->o.id || !url || strlen(url) >= TRANSPORT_URL_MAX)
        return CC_EINVAL;
    struct transport_url u;
    if (transport_url_parse(url, &u) != 0 || u.port == 0) return CC_EINVAL;
    forget_removed(t, id);
    struct peer *p = transport__peer_find(t, id);
    if (p) {
        if (strcmp(p->url, url) == 0) return 0;
        log_info(t->lg, "peer %016llx moves from %s to %s", (unsigned long long)id, p->url, url);
        if (p->out) {
            struct conn *c = p->out;
            p->out = NULL;
            transport__conn_close(c); /* its queue is dropped and reported */
        }
    } else {
        if (t->n_peers == TRANSPORT_MAX_PEERS) return CC_ETOOBIG;
        p = calloc(1, sizeof(*p));
        if (!p) return CC_ENOMEM;
        p->id = id;
        t->peers[t->n_peers++] = p;
        log_info(t->lg, "added peer %016llx at %s", (unsigned long long)id, url);
    }
    snprintf(p->url, sizeof(p->url), "%s", url);
    p->addr = u;
    p->failures = 0;
    peer_connect(t, p);
    return 0;
}

int transport_remove_peer(struct transport *t, raft_id id)
{
    if (id == RAFT_NONE) return CC_ENOTFOUND;
    remember_removed(t, id);
    for (struct conn *c = t->conns; c; c = c->next) {
        if (c->closing) continue;
        if (!c->outbound && c->remote_id == id) transport__conn_close(c);
    }
    uint32_t i = 0;
    while (i < t->n_peers && t->peers[i]->id != id) i++;
    if (i == t->n_peers) return CC_ENOTFOUND;
    struct peer *p = t->peers[i];
    /* Detach every connection (closing ones too) so late callbacks never touch p. */
    for (struct conn *c = t->conns; c; c = c->next)
        if (c->peer == p) c->peer = NULL;
    if (p->out) transport__conn_close(p->out);
    t->peers[i] = t->peers[--t->n_peers];
    log_info(t->lg, "removed peer %016llx (%s)", (unsigned long long)id, p->url);
    free(p);
    return 0;
}

uint32_t transport_peer_ids(const struct transport *t, raft_id *ids, uint32_t max)
{
    for (uint32_t i = 0; i < t->n_peers && i < max; i++) ids[i] = t->peers[i]->id;
    return t->n_peers;
}

/* --- sending ------------------------------------------------------------------------------- */

static int drop_unsent(struct transport *t, struct peer *p, uint8_t type, uint64_t size, int rc)
{
    transport__drop(t, p, type, size);
    log_debug(t->lg, "dropped a message of type %u to peer %016llx: %s", (unsigned)type,
              (unsigned long long)p->id, cc_strerror(rc));
    return rc;
}

int transport_send(struct transport *t, const struct raft_msg *m)
{
    assert(m->from == t->o.id);
    if (t->closing) return CC_ESTOPPED;
    struct peer *p = transport__peer_find(t, m->to);
    if (!p) return CC_ENOTFOUND;
    size_t size = 0;
    int rc = transport_frame_msg_size(m, &size);
    if (rc == CC_EINVAL) return rc;
    if (rc == CC_ETOOBIG || size - TRANSPORT_FRAME_HEADER_BYTES > t->o.max_frame_bytes)
        return drop_unsent(t, p, m->type, size, CC_ETOOBIG);
    struct conn *c = p->out;
    if (!c) return drop_unsent(t, p, m->type, size, CC_EUNAVAIL);
    if (c->q_msgs >= t->o.max_queue_msgs || c->q_bytes + size > t->o.max_queue_bytes)
        return drop_unsent(t, p, m->type, size, CC_EBUSY);
    struct qframe *f = malloc(sizeof(*f) + size);
    if (!f) return drop_unsent(t, p, m->type, size, CC_ENOMEM);
    f->next = NULL;
    f->len = (uint32_t)size;
    f->msg_type = m->type;
    size_t written = transport_frame_encode_msg(m, f->bytes);
    assert(written == size);
    (void)written;
    if (c->msgs.tail)
        c->msgs.tail->next = f;
    else
        c->msgs.head = f;
    c->msgs.tail = f;
    c->q_msgs++;
    c->q_bytes += size;
    if (transport__conn_ready(c)) transport__kick(t);
    return 0;
}

/* --- the loop hooks: one timer for deadlines, one idle handle for batched work ------------- */

void transport__kick(struct transport *t)
{
    /* An active idle handle also keeps the loop from blocking in poll, so frames queued from
     * any phase of this iteration are written at the start of the next one. */
    if (!t->closing) uv_idle_start(&t->kick, on_kick);
}

static void on_kick(uv_idle_t *h)
{
    struct transport *t = h->data;
    uv_idle_stop(h);
    for (struct conn *c = t->conns; c; c = c->next) transport__conn_flush(c);

    /* Collect first: report_cb may add or remove peers while we call it. */
    raft_id ids[TRANSPORT_MAX_PEERS];
    bool snap[TRANSPORT_MAX_PEERS];
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n_peers; i++) {
        struct peer *p = t->peers[i];
        if (!p->report_pending) continue;
        ids[n] = p->id;
        snap[n++] = p->snap_failed_pending;
        p->report_pending = p->snap_failed_pending = false;
    }
    for (uint32_t i = 0; i < n && !t->closing; i++)
        if (t->o.report_cb) t->o.report_cb(t->o.ud, ids[i], snap[i]);
}

void transport__rearm(struct transport *t)
{
    if (t->closing) return;
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < t->n_peers; i++)
        if (!t->peers[i]->out && t->peers[i]->next_attempt_ms < next)
            next = t->peers[i]->next_attempt_ms;
    for (struct conn *c = t->conns; c; c = c->next)
        if (!c->closing && c->deadline_ms && c->deadline_ms < next) next = c->deadline_ms;
    if (next == UINT64_MAX) {
        uv_timer_stop(&t->timer);
        return;
    }
    uint64_t now = uv_now(t->loop);
    uv_timer_start(&t->timer, on_timer, next > now ? next - now : 0, 0);
}

static void on_timer(uv_timer_t *h)
{
    struct transport *t = h->data;
    uint64_t now = uv_now(t->loop);
    for (struct conn *c = t->conns; c; c = c->next)
        if (!c->closing && c->deadline_ms && c->deadline_ms <= now) transport__conn_timeout(c);
    for (uint32_t i = 0; i < t->n_peers && !t->closing; i++) {
        struct peer *p = t->peers[i];
        if (!p->out && p->next_attempt_ms <= now) peer_connect(t, p);
    }
    transport__rearm(t);
}

/* --- stats and shutdown -------------------------------------------------------------------- */

int transport_peer_stats(const struct transport *t, raft_id id, struct transport_peer_stats *out)
{
    const struct peer *p = transport__peer_find(t, id);
    if (!p) return CC_ENOTFOUND;
    *out = p->st;
    out->id = p->id;
    snprintf(out->url, sizeof(out->url), "%s", p->url);
    out->connected = p->out && p->out->state == CONN_READY;
    out->msgs_queued = p->out ? p->out->q_msgs : 0;
    out->bytes_queued = p->out ? p->out->q_bytes : 0;
    return 0;
}

void transport_stats(const struct transport *t, struct transport_stats *out)
{
    *out = t->st;
    out->n_peers = t->n_peers;
    out->inbound_open = t->n_inbound;
}

void transport_close(struct transport *t, transport_done_fn done_cb, void *ud)
{
    assert(!t->closing);
    t->closing = true;
    t->done_cb = done_cb;
    t->done_ud = ud;
    for (uint32_t i = 0; i < t->n_peers; i++) free(t->peers[i]);
    t->n_peers = 0;
    for (struct conn *c = t->conns; c; c = c->next) {
        c->peer = NULL;
        if (!c->closing) transport__conn_close(c);
    }
    uv_close((uv_handle_t *)&t->listener, on_handle_closed);
    uv_close((uv_handle_t *)&t->timer, on_handle_closed);
    uv_close((uv_handle_t *)&t->kick, on_handle_closed);
    log_info(t->lg, "peer transport on %s closing", t->listen_url);
}
