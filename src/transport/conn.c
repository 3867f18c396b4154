/* conn.c — one peer connection: connect or accept, handshake, framed reads, batched writes. */
#include "transport/transport_int.h"

#include <assert.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/err.h"
#include "util/log.h"

static void on_tcp_closed(uv_handle_t *h);

/* --- lifetime ------------------------------------------------------------------------------ */

struct conn *transport__conn_new(struct transport *t, bool outbound)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->t = t;
    c->outbound = outbound;
    c->state = outbound ? CONN_CONNECTING : CONN_HELLO_WAIT;
    uv_tcp_init(t->loop, &c->tcp);
    c->tcp.data = c->creq.data = c->gai.data = c->wreq.data = c;
    c->refs = 1;
    /* An outbound connection only ever receives HELLO_OK or ERROR. */
    buf_init(&c->rbuf, outbound ? TRANSPORT_OUTBOUND_RBUF
                                : (size_t)t->o.max_frame_bytes + TRANSPORT_FRAME_HEADER_BYTES);
    c->next = t->conns;
    if (t->conns) t->conns->prev = c;
    t->conns = c;
    t->n_conns++;
    return c;
}

static void fq_push(struct fqueue *q, struct qframe *f)
{
    f->next = NULL;
    if (q->tail)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
}

/* Frees every frame of q; raft messages among them count as dropped (sent == false) or sent. */
static void fq_release(struct conn *c, struct fqueue *q, bool sent)
{
    struct qframe *f = q->head;
    while (f) {
        struct qframe *next = f->next;
        if (f->msg_type) {
            c->q_msgs--;
            c->q_bytes -= f->len;
            if (sent && f->msg_type == RAFT_MSG_SNAPSHOT) c->sent_snapshot = true;
            if (c->peer && sent) {
                c->peer->st.msgs_sent++;
                c->peer->st.bytes_sent += f->len;
            } else if (c->peer) {
                transport__drop(c->t, c->peer, f->msg_type, f->len);
            }
        }
        free(f);
        f = next;
    }
    q->head = q->tail = NULL;
}

void transport__conn_unref(struct conn *c)
{
    assert(c->refs > 0);
    if (--c->refs > 0) return;
    struct transport *t = c->t;
    assert(!c->writing && !c->inflight.head);
    fq_release(c, &c->ctrl, false);
    fq_release(c, &c->msgs, false);
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    t->n_conns--;
    buf_free(&c->rbuf);
    free(c);
    transport__conn_freed(t);
}

static void on_tcp_closed(uv_handle_t *h)
{
    transport__conn_unref(h->data);
}

void transport__conn_close(struct conn *c)
{
    if (c->closing) return;
    assert(!c->peer || c->peer->out != c);
    struct transport *t = c->t;
    c->closing = true;
    c->deadline_ms = 0;
    if (c->counted) {
        t->n_inbound--;
        c->counted = false;
    }
    /* Frames handed to uv_write are released by its callback (it runs, canceled, before the
     * close callback); the rest go now. */
    fq_release(c, &c->ctrl, false);
    fq_release(c, &c->msgs, false);
    if (c->gai_active) uv_cancel((uv_req_t *)&c->gai);
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

/* Ends the connection because of rc. An outbound connection's peer goes into backoff (and
 * logs, once per outage); an inbound one logs at lvl. */
void transport__conn_fail(struct conn *c, enum log_level lvl, int rc, const char *fmt, ...)
{
    if (c->closing) return;
    char why[TRANSPORT_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    struct transport *t = c->t;
    if (c->outbound && c->peer && c->peer->out == c) {
        transport__peer_down(t, c->peer, rc, why);
    } else if (c->outbound) {
        log_debug(t->lg, "closing old connection to %s: %s", c->addr, why);
    } else {
        log_write(t->lg, lvl, "peer connection from %s (member %016llx): %s", c->addr,
                  (unsigned long long)c->remote_id, why);
    }
    transport__conn_close(c);
}

void transport__conn_protocol_error(struct conn *c, int rc, const char *fmt, ...)
{
    char why[TRANSPORT_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    c->t->st.protocol_errors++;
    transport__conn_fail(c, LOG_WARN, rc, "protocol error, closing: %s", why);
}

bool transport__conn_ready(const struct conn *c)
{
    return c->state == CONN_READY && !c->closing && !c->linger;
}

/* --- writing ------------------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = false;
    fq_release(c, &c->inflight, status == 0);
    if (c->closing) return;
    if (status < 0) {
        transport__conn_fail(c, LOG_INFO, transport__from_uv(status), "write to %s failed: %s",
                             c->addr, uv_strerror(status));
        return;
    }
    transport__conn_flush(c);
}

static uint32_t gather(struct conn *c, struct fqueue *q, uint32_t n)
{
    while (q->head && n < TRANSPORT_WRITE_BATCH) {
        struct qframe *f = q->head;
        q->head = f->next;
        if (!q->head) q->tail = NULL;
        fq_push(&c->inflight, f);
        c->wbufs[n++] = uv_buf_init((char *)f->bytes, f->len);
    }
    return n;
}

void transport__conn_flush(struct conn *c)
{
    if (c->closing || c->writing) return;
    if (c->state == CONN_RESOLVING || c->state == CONN_CONNECTING) return;
    uint32_t n = gather(c, &c->ctrl, 0);
    if (transport__conn_ready(c)) n = gather(c, &c->msgs, n);
    if (n == 0) {
        if (c->linger) transport__conn_close(c);
        return;
    }
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, c->wbufs, n, on_write);
    if (rc) {
        fq_release(c, &c->inflight, false);
        transport__conn_fail(c, LOG_INFO, transport__from_uv(rc), "write to %s failed: %s", c->addr,
                             uv_strerror(rc));
        return;
    }
    c->writing = true;
}

/* Queues a handshake or error frame (copied). Returns false (connection failed) on ENOMEM. */
bool transport__conn_push_ctrl(struct conn *c, const uint8_t *bytes, size_t len)
{
    struct qframe *f = malloc(sizeof(*f) + len);
    if (!f) {
        transport__conn_fail(c, LOG_ERROR, CC_ENOMEM, "out of memory");
        return false;
    }
    f->len = (uint32_t)len;
    f->msg_type = 0;
    memcpy(f->bytes, bytes, len);
    fq_push(&c->ctrl, f);
    return true;
}

/* Tells the other side why we close (an ERROR frame), then closes once it is written, or at a
 * deadline if the other side stops reading. Nothing more is read or delivered meanwhile. */
void transport__conn_send_error(struct conn *c, int code, const char *why)
{
    uint8_t frame[TRANSPORT_ERROR_FRAME_MAX];
    size_t n = transport_frame_encode_error(code, why, frame);
    if (!transport__conn_push_ctrl(c, frame, n)) return;
    c->linger = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->deadline_ms = uv_now(c->t->loop) + c->t->o.handshake_timeout_ms;
    transport__rearm(c->t);
    transport__conn_flush(c);
}

/* --- connecting ---------------------------------------------------------------------------- */

/* TCP_NODELAY: Raft messages are latency-bound and we batch ourselves. Keepalive finds dead
 * peers on idle connections; TCP_USER_TIMEOUT bounds how long written data may stay
 * unacknowledged before the kernel gives up on the connection. */
static void tune_socket(struct conn *c)
{
    struct transport *t = c->t;
    uint32_t idle = t->o.keepalive_s;
    int intvl = idle / 2 > 0 ? (int)(idle / 2) : 1;
    int cnt = 3;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, idle);
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) return;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
#ifdef TCP_USER_TIMEOUT
    unsigned int user_ms = (unsigned int)(idle + (uint32_t)(intvl * cnt)) * 1000u;
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof(user_ms));
#endif
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->closing) return;
    if (status < 0) {
        transport__conn_fail(c, LOG_INFO, transport__from_uv(status), "connect to %s: %s", c->addr,
                             uv_strerror(status));
        return;
    }
    tune_socket(c);
    int rc = transport__conn_start_reading(c);
    if (rc) {
        transport__conn_fail(c, LOG_INFO, transport__from_uv(rc), "read: %s", uv_strerror(rc));
        return;
    }
    struct transport *t = c->t;
    struct transport_hello h = {.cluster_id = t->cluster_id, .from = t->o.id, .to = c->peer->id};
    uint8_t frame[TRANSPORT_FRAME_HEADER_BYTES + TRANSPORT_HELLO_BODY_BYTES];
    transport_frame_encode_hello(TRANSPORT_FRAME_HELLO, &h, frame);
    c->state = CONN_HANDSHAKE;
    if (transport__conn_push_ctrl(c, frame, sizeof(frame))) transport__conn_flush(c);
}

static void start_tcp_connect(struct conn *c, const struct sockaddr *sa)
{
    c->state = CONN_CONNECTING;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, sa, on_connect);
    if (rc)
        transport__conn_fail(c, LOG_INFO, transport__from_uv(rc), "connect to %s: %s", c->addr,
                             uv_strerror(rc));
}

/* Only one address is tried per attempt: the first IPv4 one, as peers usually listen on IPv4
 * (etcd's default listen URLs are IPv4) and "localhost" may list ::1 first. */
static const struct sockaddr *pick_address(const struct addrinfo *res)
{
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) return a->ai_addr;
    return res->ai_addr;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct conn *c = req->data;
    c->gai_active = false;
    if (!c->closing) {
        if (status < 0 || !res)
            transport__conn_fail(c, LOG_INFO, CC_EIO, "cannot resolve %s: %s", c->addr,
                                 uv_strerror(status));
        else
            start_tcp_connect(c, pick_address(res));
    }
    if (res) uv_freeaddrinfo(res);
    transport__conn_unref(c);
}

void transport__conn_connect(struct conn *c)
{
    struct transport *t = c->t;
    const struct transport_url *u = &c->peer->addr;
    c->deadline_ms = uv_now(t->loop) + t->o.handshake_timeout_ms;
    transport__rearm(t);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(u->host, u->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(u->host, u->port, (struct sockaddr_in6 *)&ss) == 0) {
        start_tcp_connect(c, (struct sockaddr *)&ss);
        return;
    }
    /* A DNS name: resolved on every attempt, so a peer that moved is found again. */
    c->state = CONN_RESOLVING;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)u->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(t->loop, &c->gai, on_resolved, u->host, port, &hints);
    if (rc) {
        transport__conn_fail(c, LOG_INFO, CC_EIO, "cannot resolve %s: %s", c->addr,
                             uv_strerror(rc));
        return;
    }
    c->gai_active = true;
    c->refs++;
}

/* --- accepting ----------------------------------------------------------------------------- */

static void remote_addr_text(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[64] = "?";
    uint16_t port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    snprintf(c->addr, sizeof(c->addr), strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, (unsigned)port);
}

void transport__conn_accept(struct transport *t)
{
    struct conn *c = transport__conn_new(t, false);
    if (!c) {
        log_error(t->lg, "peer listener: out of memory accepting a connection");
        return;
    }
    int rc = uv_accept((uv_stream_t *)&t->listener, (uv_stream_t *)&c->tcp);
    if (rc) {
        log_warn(t->lg, "peer listener: accept failed: %s", uv_strerror(rc));
        transport__conn_close(c);
        return;
    }
    remote_addr_text(c);
    if (t->n_inbound >= t->o.max_inbound) {
        t->st.inbound_rejected++;
        log_warn(t->lg, "refusing peer connection from %s: %u inbound connections open (limit)",
                 c->addr, (unsigned)t->n_inbound);
        transport__conn_close(c);
        return;
    }
    c->counted = true;
    t->n_inbound++;
    tune_socket(c);
    c->deadline_ms = uv_now(t->loop) + t->o.handshake_timeout_ms;
    transport__rearm(t);
    rc = transport__conn_start_reading(c);
    if (rc) transport__conn_fail(c, LOG_WARN, transport__from_uv(rc), "read: %s", uv_strerror(rc));
}

void transport__conn_timeout(struct conn *c)
{
    if (c->linger) {
        transport__conn_close(c);
        return;
    }
    transport__conn_fail(c, LOG_WARN, CC_ETIMEDOUT, "no handshake with %s within %u ms", c->addr,
                         (unsigned)c->t->o.handshake_timeout_ms);
}
