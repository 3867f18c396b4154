/* httpsrv.c — listening socket, per-connection sniffing (HTTP/2 preface or HTTP/1.1), socket
 * reads and batched writes with back-pressure, deferred processing, graceful and abortive
 * closes, and shutdown with a done callback. */
#include "api/http/httpsrv.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/grpc/h2_conn.h"
#include "api/http/http1_conn.h"
#include "api/http/outq.h"
#include "util/err.h"
#include "util/log.h"

#define READ_BUF_BYTES (64u << 10)
#define WRITE_BATCH    16

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(preface) - 1)

enum proto { P_SNIFF, P_H1, P_H2 };

/* Lifecycle: OPEN -> (DRAINING: flush, then FIN, then LINGER until EOF or timer) -> CLOSED
 * (uv_close issued; protocol objects freed once both handles are closed). */
enum cstate { C_OPEN, C_DRAINING, C_LINGER, C_CLOSED };

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    struct httpsrv *srv;
    struct conn *prev, *next;   /* all connections */
    struct conn *dprev, *dnext; /* connections awaiting processing */
    int dirty;
    int goaway; /* shutdown GOAWAY queued */
    int fin;    /* uv_shutdown issued */
    enum proto proto;
    enum cstate state;
    int reading;
    int idle_armed;
    int handles; /* open uv handles: tcp, timer */
    uint8_t sniff[PREFACE_LEN];
    size_t sniff_len;
    struct h2_conn *h2;
    struct http1_conn *h1;
    struct outq out;
    size_t wbytes; /* bytes in the write in flight */
};

struct httpsrv {
    uv_loop_t *loop;
    struct httpsrv_config cfg;
    uv_tcp_t listener;
    uv_idle_t idle;
    int listening;
    int port;
    int closing;
    int idle_closed;
    int handles; /* listener (when listening), idle */
    struct conn *conns;
    struct conn *dirty;
    struct httpsrv_stats stats;
    void (*done)(void *);
    void *done_arg;
    char err[256];
    uint8_t rbuf[READ_BUF_BYTES]; /* shared: every read is consumed before the next */
};

static void conn_process(struct conn *c);
static void conn_abort(struct conn *c);
static void start_drain(struct conn *c);
static void update_reading(struct conn *c);
static void update_idle_timer(struct conn *c);
static void on_idle(uv_idle_t *h);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

void httpsrv_config_default(struct httpsrv_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    http1_limits_default(&cfg->http1);
    cfg->max_conns = 10000;
    cfg->conn_out_bytes = 1u << 20;
    cfg->http1_idle_ms = 120000;
    cfg->linger_ms = 2000;
}

const char *httpsrv_errmsg(const struct httpsrv *s)
{
    return s->err;
}

const struct httpsrv_stats *httpsrv_stats(const struct httpsrv *s)
{
    return &s->stats;
}

int httpsrv_port(const struct httpsrv *s)
{
    return s->listening ? s->port : 0;
}

/* ---- deferred processing ---- */

static void dirty_remove(struct conn *c)
{
    if (!c->dirty) return;
    if (c->dprev)
        c->dprev->dnext = c->dnext;
    else
        c->srv->dirty = c->dnext;
    if (c->dnext) c->dnext->dprev = c->dprev;
    c->dprev = c->dnext = NULL;
    c->dirty = 0;
}

/* Schedules conn_process from the idle phase: never re-entrant into a caller's stack. */
static void mark_dirty(struct conn *c)
{
    struct httpsrv *s = c->srv;
    if (c->dirty || c->state == C_CLOSED) return;
    c->dirty = 1;
    c->dprev = NULL;
    c->dnext = s->dirty;
    if (s->dirty) s->dirty->dprev = c;
    s->dirty = c;
    uv_idle_start(&s->idle, on_idle); /* re-arming an active idle handle is a no-op */
}

static void on_idle(uv_idle_t *h)
{
    struct httpsrv *s = h->data;
    /* Process what is dirty now; connections dirtied meanwhile wait for the next turn. */
    struct conn *list = s->dirty;
    s->dirty = NULL;
    for (struct conn *c = list; c; c = c->dnext) c->dirty = 0;
    while (list) {
        struct conn *c = list;
        list = c->dnext;
        if (list) list->dprev = NULL;
        c->dprev = c->dnext = NULL;
        conn_process(c);
    }
    if (!s->dirty) uv_idle_stop(&s->idle);
}

/* ---- output ---- */

static size_t io_room(void *ctx)
{
    struct conn *c = ctx;
    size_t bound = c->srv->cfg.conn_out_bytes;
    return c->out.bytes < bound ? bound - c->out.bytes : 0;
}

static int io_write(void *ctx, const void *p, size_t n)
{
    struct conn *c = ctx;
    if (c->state != C_OPEN) return 0; /* closing: nobody will read it */
    int rc = outq_append(&c->out, p, n);
    if (c->out.bytes > c->srv->stats.out_high_water) c->srv->stats.out_high_water = c->out.bytes;
    return rc;
}

static void io_want(void *ctx)
{
    mark_dirty(ctx);
}

static void on_write(uv_write_t *req, int status);

static void kick_write(struct conn *c)
{
    if (c->state == C_CLOSED || c->out.inflight) return;
    struct outq_iov iov[WRITE_BATCH];
    size_t n = outq_take(&c->out, iov, WRITE_BATCH);
    if (n == 0) return;
    uv_buf_t bufs[WRITE_BATCH];
    c->wbytes = 0;
    for (size_t i = 0; i < n; i++) {
        bufs[i] = uv_buf_init((char *)iov[i].base, (unsigned)iov[i].len);
        c->wbytes += iov[i].len;
    }
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, (unsigned)n, on_write) != 0) {
        c->out.inflight = 0;
        conn_abort(c);
    }
}

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h);
static void on_server_handle_closed(uv_handle_t *h);

static void maybe_finish_server(struct httpsrv *s)
{
    if (!s->closing || s->conns) return;
    if (!s->idle_closed) {
        /* The idle handle processes connections, so it goes last. */
        s->idle_closed = 1;
        uv_close((uv_handle_t *)&s->idle, on_server_handle_closed);
        return;
    }
    if (s->handles > 0) return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s);
    if (done) done(arg);
}

static void conn_free(struct conn *c)
{
    struct httpsrv *s = c->srv;
    if (c->proto == P_H2) s->stats.h2_conns--;
    if (c->proto == P_H1) s->stats.h1_conns--;
    /* Handlers see on_cancel from here: a close callback, never inside their own calls. */
    h2_conn_free(c->h2);
    http1_conn_free(c->h1);
    outq_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->stats.conns_open--;
    free(c);
    maybe_finish_server(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles == 0) conn_free(c);
}

/* Closes now; queued output is dropped (uv_close cancels pending writes). */
static void conn_abort(struct conn *c)
{
    if (c->state == C_CLOSED) return;
    c->state = C_CLOSED;
    dirty_remove(c);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->state == C_OPEN && !c->srv->closing) { /* idle timeout */
        start_drain(c);
        conn_process(c);
    } else {
        conn_abort(c); /* the drain or the linger took too long */
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (c->state == C_CLOSED) return;
    if (status < 0) {
        conn_abort(c);
        return;
    }
    /* Closing with unread input would make the kernel send RST, which can destroy the response
     * we just sent before the client reads it: read until the client's FIN (bounded). */
    c->state = C_LINGER;
    uv_timer_start(&c->timer, on_timer, c->srv->cfg.linger_ms, 0);
    update_reading(c);
}

/* DRAINING: once everything queued is written, send FIN. */
static void drain_step(struct conn *c)
{
    if (c->out.bytes > 0) {
        kick_write(c);
        return;
    }
    if (c->fin) return;
    c->fin = 1;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0) conn_abort(c);
}

static void start_drain(struct conn *c)
{
    if (c->state != C_OPEN) return;
    c->state = C_DRAINING;
    c->idle_armed = 0;
    uv_timer_start(&c->timer, on_timer, c->srv->cfg.linger_ms, 0);
}

/* ---- input ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    size_t n = READ_BUF_BYTES;
    if (c->proto == P_H1 && c->state == C_OPEN) {
        size_t room = http1_conn_read_room(c->h1);
        if (room && room < n) n = room;
    }
    *buf = uv_buf_init((char *)c->srv->rbuf, (unsigned)n);
}

static void update_reading(struct conn *c)
{
    int want = c->state == C_LINGER;
    if (c->state == C_OPEN) {
        want = c->out.bytes < c->srv->cfg.conn_out_bytes;
        if (c->proto == P_H1) want = want && http1_conn_read_room(c->h1) > 0;
    }
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
        if (c->state == C_OPEN) c->srv->stats.read_pauses++;
    }
}

static int start_proto(struct conn *c, enum proto p)
{
    struct httpsrv *s = c->srv;
    int rc;
    if (p == P_H2) {
        if (!s->cfg.grpc) return CC_EPROTO;
        struct h2_io io = {c, io_room, io_write, io_want};
        rc = h2_conn_new(s->cfg.grpc, &io, &c->h2);
        if (!rc) s->stats.h2_conns++;
    } else {
        struct http1_io io = {c, io_room, io_write, io_want};
        rc = http1_conn_new(s->cfg.router, &s->cfg.http1, &io, &c->h1);
        if (!rc) s->stats.h1_conns++;
    }
    if (!rc) c->proto = p;
    return rc;
}

static int feed(struct conn *c, const uint8_t *p, size_t n)
{
    if (n == 0) return 0;
    if (c->proto == P_H2) return h2_conn_recv(c->h2, p, n);
    return http1_conn_recv(c->h1, p, n);
}

/* Collects the first bytes until they match the HTTP/2 preface or cannot. */
static int sniff(struct conn *c, const uint8_t *p, size_t n)
{
    size_t take = PREFACE_LEN - c->sniff_len;
    if (take > n) take = n;
    memcpy(c->sniff + c->sniff_len, p, take);
    c->sniff_len += take;
    int h2 = memcmp(c->sniff, preface, c->sniff_len) == 0;
    if (h2 && c->sniff_len < PREFACE_LEN) return 0;
    int rc = start_proto(c, h2 ? P_H2 : P_H1);
    if (!rc) rc = feed(c, c->sniff, c->sniff_len);
    if (!rc) rc = feed(c, p + take, n - take);
    return rc;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    if (nread == 0 || c->state == C_CLOSED) return;
    if (nread < 0) {
        /* EOF: an HTTP/1.1 client may have half-closed after its last request; everything
         * else (resets, EOF on HTTP/2, EOF while lingering) ends the connection now. */
        if (nread == UV_EOF && c->proto == P_H1 && c->state == C_OPEN) {
            uv_read_stop(st);
            c->reading = 0;
            http1_conn_eof(c->h1);
            conn_process(c);
        } else {
            conn_abort(c);
        }
        return;
    }
    c->srv->stats.bytes_in += (uint64_t)nread;
    if (c->state != C_OPEN) return; /* draining or lingering: input is discarded */
    const uint8_t *p = (const uint8_t *)buf->base;
    int rc = c->proto == P_SNIFF ? sniff(c, p, (size_t)nread) : feed(c, p, (size_t)nread);
    /* A broken HTTP/2 session may have a GOAWAY queued saying why: conn_process flushes it
     * and drains. Anything else that failed (no memory, HTTP/1.1 overflow) closes now. */
    if (rc && !(rc == CC_EPROTO && c->proto == P_H2)) {
        conn_abort(c);
        return;
    }
    conn_process(c);
}

/* ---- processing ---- */

static void update_idle_timer(struct conn *c)
{
    /* Waiting for a complete HTTP/1.1 request, or for any first byte at all. */
    int idle = c->state == C_OPEN && !c->srv->closing &&
               (c->proto == P_SNIFF || (c->proto == P_H1 && http1_conn_idle(c->h1)));
    if (idle && !c->idle_armed) {
        uv_timer_start(&c->timer, on_timer, c->srv->cfg.http1_idle_ms, 0);
        c->idle_armed = 1;
    } else if (!idle && c->idle_armed) {
        uv_timer_stop(&c->timer);
        c->idle_armed = 0;
    }
}

/* Runs the protocol (dispatch, frames, on_writable), writes, and decides reading and closing.
 * Called from transport callbacks only, never from inside a protocol call. */
static void conn_process(struct conn *c)
{
    if (c->state == C_CLOSED) return;
    if (c->state == C_OPEN && c->srv->closing) {
        if (c->proto != P_H2) {
            conn_abort(c);
            return;
        }
        if (!c->goaway) {
            /* Bounded even when the peer reads nothing: the timer aborts. */
            c->goaway = 1;
            h2_conn_goaway(c->h2);
            uv_timer_start(&c->timer, on_timer, c->srv->cfg.linger_ms, 0);
        }
    }
    if (c->state == C_OPEN) {
        if (c->proto == P_H1) {
            http1_conn_process(c->h1);
            if (http1_conn_done(c->h1)) start_drain(c);
        } else if (c->proto == P_H2) {
            if (h2_conn_send(c->h2) != 0 || h2_conn_done(c->h2)) start_drain(c);
        }
    }
    kick_write(c);
    if (c->state == C_DRAINING && !c->out.inflight) drain_step(c);
    if (c->state != C_CLOSED) {
        update_reading(c);
        update_idle_timer(c);
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->handle->data;
    c->srv->stats.bytes_out += c->wbytes;
    c->wbytes = 0;
    outq_done(&c->out);
    if (c->state == C_CLOSED) return;
    if (status < 0) {
        conn_abort(c);
        return;
    }
    conn_process(c);
}

/* ---- accepting ---- */

static void on_connection(uv_stream_t *l, int status)
{
    struct httpsrv *s = l->data;
    if (status < 0 || s->closing) return;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) return; /* the connection waits in the backlog; retried on the next event */
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    outq_init(&c->out);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->stats.conns_open++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_abort(c);
        return;
    }
    s->stats.conns_accepted++;
    if (s->stats.conns_open > s->cfg.max_conns) {
        s->stats.conns_refused++;
        conn_abort(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    update_reading(c);
    update_idle_timer(c);
}

/* ---- lifecycle ---- */

int httpsrv_new(uv_loop_t *loop, const struct httpsrv_config *cfg, struct httpsrv **out)
{
    if (!cfg->max_conns || !cfg->conn_out_bytes || !cfg->http1_idle_ms || !cfg->linger_ms ||
        !cfg->http1.max_headers || cfg->http1.max_headers > HTTP1_MAX_HEADERS)
        return CC_EINVAL;
    struct httpsrv *s = calloc(1, sizeof(*s));
    if (!s) return CC_ENOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    s->handles = 1;
    *out = s;
    return 0;
}

int httpsrv_parse_url(const char *url, char *host, size_t hostsz, int *port, const char **why)
{
    const char *dummy;
    if (!why) why = &dummy;
    *why = "";
    const char *p = url;
    if (strncmp(p, "https://", 8) == 0) {
        *why = "https is not supported (no TLS)";
        return CC_EINVAL;
    }
    if (strncmp(p, "http://", 7) == 0) p += 7;
    const char *hb = p, *he;
    if (*p == '[') {
        hb = p + 1;
        he = strchr(hb, ']');
        if (!he || he[1] != ':') {
            *why = "malformed IPv6 host";
            return CC_EINVAL;
        }
        p = he + 1;
    } else {
        he = strrchr(p, ':');
        if (!he) {
            *why = "missing port";
            return CC_EINVAL;
        }
        p = he;
    }
    size_t hl = (size_t)(he - hb);
    if (hl == 0 || hl >= hostsz) {
        *why = "bad host";
        return CC_EINVAL;
    }
    memcpy(host, hb, hl);
    host[hl] = 0;
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || (*end && strcmp(end, "/") != 0) || v < 0 || v > 65535) {
        *why = "bad port";
        return CC_EINVAL;
    }
    if (strcmp(host, "localhost") == 0) snprintf(host, hostsz, "127.0.0.1");
    *port = (int)v;
    return 0;
}

int httpsrv_listen(struct httpsrv *s, const char *url)
{
    s->err[0] = 0;
    if (s->listening || s->closing) return CC_EEXIST;
    char host[64];
    int port;
    const char *why;
    if (httpsrv_parse_url(url, host, sizeof(host), &port, &why)) {
        snprintf(s->err, sizeof(s->err), "%s: %s", url, why);
        return CC_EINVAL;
    }
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(s->err, sizeof(s->err), "%s: host must be an IP address or localhost", url);
        return CC_EINVAL;
    }
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    s->handles++;
    s->listening = 1;
    int rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (rc) {
        snprintf(s->err, sizeof(s->err), "listen %s: %s", url, uv_strerror(rc));
        return CC_EIO;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    log_info(s->cfg.log, "serving gRPC (HTTP/2) and HTTP/1.1 on %s (port %d)", url, s->port);
    return 0;
}

static void on_server_handle_closed(uv_handle_t *h)
{
    struct httpsrv *s = h->data;
    s->handles--;
    maybe_finish_server(s);
}

void httpsrv_close(struct httpsrv *s, void (*done)(void *arg), void *arg)
{
    assert(!s->closing);
    s->closing = 1;
    s->done = done;
    s->done_arg = arg;
    if (s->listening) uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    /* Connections wind down from the idle phase, as we may be inside one of their handlers:
     * HTTP/2 ones send GOAWAY and drain, the others close. */
    for (struct conn *c = s->conns; c; c = c->next) mark_dirty(c);
    maybe_finish_server(s);
}
