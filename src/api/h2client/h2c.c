/* h2c.c — the connection of the gRPC client: name lookup, connect, reads fed to nghttp2,
 * batched writes, call deadlines, delivery of replies and events, and closing. The calls and
 * nghttp2's callbacks are in h2c_call.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api/grpc/grpc_frame.h"
#include "api/h2client/h2c_int.h"
#include "util/clock.h"
#include "util/err.h"

void h2c_limits_default(struct h2c_limits *lim)
{
    lim->max_calls = 1000;
    lim->max_request_bytes = 16u << 20;
    lim->max_response_bytes = 16u << 20;
    lim->max_header_bytes = 64u << 10;
    lim->stream_window_bytes = 1u << 20;
    lim->conn_window_bytes = 32u << 20;
    lim->connect_timeout_ms = 10000;
}

/* Marks the connection dead and answers every running call. The session is never fed again,
 * so no stream is ever mentioned again: zombies can go. */
static void conn_fail(struct h2c *c, const char *why)
{
    if (c->failed) return;
    c->failed = true;
    c->session_dead = true;
    snprintf(c->why, sizeof c->why, "%s", why);
    if (c->connected && !c->closing) uv_read_stop((uv_stream_t *)&c->tcp);
    while (!list_empty(&c->live))
        h2c__call_decide(c->live.head.next, GRPC_UNAVAILABLE, CC_ECLOSED, c->why);
    h2c__free_list(&c->zombie);
}

/* Runs at the end of every libuv callback: delivers decided calls, then events. Replies may
 * start calls (queued, no re-entry) or close the connection (the memory stays until the close
 * callbacks). */
static void settle(struct h2c *c)
{
    while (!list_empty(&c->done)) {
        struct h2c_call *k = c->done.head.next;
        list_unlink(k);
        k->replied = true;
        if (k->stream_closed || c->session_dead)
            k->stream_closed = true;
        else
            list_push(&c->zombie, k); /* before the callback, which may close c */
        struct h2c_reply r = {.stream_id = k->id,
                              .code = k->code,
                              .err = k->err,
                              .sent = k->sent,
                              .message = k->message};
        if (k->code == 0 && k->err == 0) {
            r.msg = k->rx.data + GRPC_FRAME_HDR;
            r.msg_len = k->rx.len - GRPC_FRAME_HDR;
        }
        k->fn(k->ud, &r);
        if (k->stream_closed) h2c__call_free(k);
    }
    if (c->closing) return;
    if (c->ready && !c->ready_reported && !c->failed) {
        c->ready_reported = true;
        if (c->on_event) c->on_event(c->ud, c, H2C_READY, "");
    }
    if (c->failed && !c->fail_reported && !c->closing) {
        c->fail_reported = true;
        if (c->on_event) c->on_event(c->ud, c, H2C_FAILED, c->why);
    }
}

/* ---- deadlines ---------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

/* Makes the timer fire no later than due_ms (a clock_mono_ms instant). */
void h2c__arm_timer(struct h2c *c, uint64_t due_ms)
{
    if (c->closing || (c->timer_due_ms && c->timer_due_ms <= due_ms)) return;
    uint64_t now = clock_mono_ms();
    c->timer_due_ms = due_ms;
    uv_timer_start(&c->timer, on_timer, due_ms > now ? due_ms - now : 0, 0);
}

/* Fails what is past its deadline and re-arms for the next one: O(calls) per expiry, nothing
 * per call started. */
static void on_timer(uv_timer_t *t)
{
    struct h2c *c = t->data;
    c->timer_due_ms = 0;
    if (c->closing) return;
    uint64_t now = clock_mono_ms();
    uint64_t next = 0;
    if (!c->ready && !c->failed) {
        if (now >= c->connect_deadline_ms) {
            char why[300];
            snprintf(why, sizeof why, "connect to %s: timed out", c->authority);
            conn_fail(c, why);
        } else {
            next = c->connect_deadline_ms;
        }
    }
    struct h2c_call *k = c->live.head.next;
    while (k != &c->live.head) {
        struct h2c_call *after = k->next;
        if (k->deadline_ms && now >= k->deadline_ms)
            h2c__call_fail_local(k, GRPC_DEADLINE_EXCEEDED, CC_ETIMEDOUT, "deadline exceeded");
        else if (k->deadline_ms && (!next || k->deadline_ms < next))
            next = k->deadline_ms;
        k = after;
    }
    if (next) h2c__arm_timer(c, next);
    settle(c);
}

/* ---- writing ------------------------------------------------------------------------------ */

static void flush(struct h2c *c);

static void on_written(uv_write_t *req, int status)
{
    struct h2c *c = req->data;
    c->writing = false;
    if (c->closing) return;
    if (status < 0) {
        char why[128];
        snprintf(why, sizeof why, "write: %s", uv_strerror(status));
        conn_fail(c, why);
    } else {
        buf_reset(&c->wbuf);
        flush(c);
    }
    settle(c);
}

/* Serializes what nghttp2 wants to send and starts one write. One write at a time keeps wbuf's
 * bytes stable for libuv; the completion continues the flush. */
static void flush(struct h2c *c)
{
    if (c->failed || c->closing || c->writing || !c->connected) return;
    while (c->wbuf.len < WRITE_CHUNK && nghttp2_session_want_write(c->h2)) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0) {
            conn_fail(c, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0) break;
        if (buf_append(&c->wbuf, data, (size_t)n) != 0) {
            conn_fail(c, "cannot buffer output");
            return;
        }
    }
    if (c->wbuf.len == 0) {
        if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
            conn_fail(c, "HTTP/2 session ended (GOAWAY)");
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
    int rv = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rv < 0) {
        char why[128];
        snprintf(why, sizeof why, "write: %s", uv_strerror(rv));
        conn_fail(c, why);
        return;
    }
    c->writing = true;
}

static void on_prepare(uv_prepare_t *p)
{
    struct h2c *c = p->data;
    uv_prepare_stop(p);
    c->flush_scheduled = false;
    flush(c);
    settle(c);
}

void h2c__schedule_flush(struct h2c *c)
{
    if (c->flush_scheduled || c->closing) return;
    c->flush_scheduled = true;
    uv_prepare_start(&c->flusher, on_prepare);
}

/* ---- reading and connecting --------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct h2c *c = h->data;
    *b = uv_buf_init((char *)c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct h2c *c = s->data;
    if (c->closing || c->failed) return;
    if (nread > 0) {
        ssize_t rv = nghttp2_session_mem_recv(c->h2, (const uint8_t *)b->base, (size_t)nread);
        if (rv < 0) conn_fail(c, nghttp2_strerror((int)rv));
    } else if (nread < 0) {
        char why[128];
        snprintf(why, sizeof why, "read: %s",
                 nread == UV_EOF ? "connection closed by server" : uv_strerror((int)nread));
        conn_fail(c, why);
    }
    if (!c->failed) h2c__schedule_flush(c);
    settle(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct h2c *c = req->data;
    if (c->closing) return;
    if (status < 0) {
        char why[300];
        snprintf(why, sizeof why, "connect to %s: %s", c->authority, uv_strerror(status));
        conn_fail(c, why);
    } else {
        c->connected = true;
        uv_tcp_nodelay(&c->tcp, 1);
        uv_tcp_keepalive(&c->tcp, 1, 60);
        int rv = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (rv < 0)
            conn_fail(c, uv_strerror(rv));
        else
            flush(c);
    }
    settle(c);
}

static void maybe_free(struct h2c *c);

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct h2c *c = req->data;
    c->resolving = false;
    if (c->closing) {
        uv_freeaddrinfo(res);
        maybe_free(c);
        return;
    }
    char why[300];
    int rv = status;
    if (rv == 0 && !res) rv = UV_EAI_NONAME;
    if (rv == 0) rv = uv_tcp_connect(&c->connect_req, &c->tcp, res->ai_addr, on_connect);
    uv_freeaddrinfo(res);
    if (rv < 0) {
        snprintf(why, sizeof why, "%s %s: %s", status < 0 ? "lookup" : "connect to", c->authority,
                 uv_strerror(rv));
        conn_fail(c, why);
    }
    settle(c);
}

/* Splits "[http://]host:port[/...]" into host and port; https is refused (no TLS here). */
static int parse_endpoint(const char *ep, char *host, size_t hostlen, char *port, size_t portlen)
{
    if (!strncmp(ep, "https://", 8)) return CC_EINVAL;
    if (!strncmp(ep, "http://", 7)) ep += 7;
    const char *colon, *h = ep;
    size_t hl;
    if (ep[0] == '[') {
        const char *close = strchr(ep, ']');
        if (!close || close[1] != ':') return CC_EINVAL;
        h = ep + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        size_t end = strcspn(ep, "/");
        colon = NULL;
        for (size_t i = 0; i < end; i++)
            if (ep[i] == ':') colon = ep + i;
        if (!colon) return CC_EINVAL;
        hl = (size_t)(colon - ep);
    }
    size_t pl = strcspn(colon + 1, "/");
    if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen) return CC_EINVAL;
    for (size_t i = 0; i < pl; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9') return CC_EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, pl);
    port[pl] = 0;
    return 0;
}

static bool limits_ok(const struct h2c_limits *l)
{
    return l->max_calls && l->max_request_bytes && l->max_response_bytes && l->max_header_bytes &&
           l->stream_window_bytes && l->connect_timeout_ms &&
           l->stream_window_bytes <= NGHTTP2_MAX_WINDOW_SIZE && l->conn_window_bytes >= 65535 &&
           l->conn_window_bytes <= NGHTTP2_MAX_WINDOW_SIZE &&
           l->max_request_bytes <= UINT32_MAX - GRPC_FRAME_HDR &&
           l->max_response_bytes <= UINT32_MAX - GRPC_FRAME_HDR;
}

int h2c_open(uv_loop_t *loop, const char *endpoint, const struct h2c_limits *lim,
             h2c_event_fn on_event, void *ud, struct h2c **out, char *err, size_t errlen)
{
    *out = NULL;
    struct h2c_limits l;
    if (lim)
        l = *lim;
    else
        h2c_limits_default(&l);
    if (!limits_ok(&l)) {
        snprintf(err, errlen, "invalid limits");
        return CC_EINVAL;
    }
    struct h2c *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return CC_ENOMEM;
    }
    if (parse_endpoint(endpoint, c->host, sizeof c->host, c->port, sizeof c->port) != 0) {
        snprintf(err, errlen, "invalid endpoint %s (want [http://]host:port)", endpoint);
        free(c);
        return CC_EINVAL;
    }
    c->loop = loop;
    c->lim = l;
    c->on_event = on_event;
    c->ud = ud;
    bool v6 = strchr(c->host, ':') != NULL;
    snprintf(c->authority, sizeof c->authority, v6 ? "[%s]:%s" : "%s:%s", c->host, c->port);
    buf_init(&c->wbuf, WRITE_MAX);
    list_init(&c->live);
    list_init(&c->done);
    list_init(&c->zombie);
    if (h2c__session_init(c) != 0) {
        if (c->h2) nghttp2_session_del(c->h2);
        free(c);
        snprintf(err, errlen, "out of memory");
        return CC_ENOMEM;
    }
    int rv = uv_tcp_init(loop, &c->tcp);
    if (rv < 0) {
        snprintf(err, errlen, "socket: %s", uv_strerror(rv));
        nghttp2_session_del(c->h2);
        free(c);
        return CC_EIO;
    }
    uv_prepare_init(loop, &c->flusher);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c->flusher.data = c->timer.data = c;
    c->gai.data = c->connect_req.data = c->write_req.data = c;
    c->open_handles = 3;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    rv = uv_getaddrinfo(loop, &c->gai, on_resolved, c->host, c->port, &hints);
    if (rv < 0) {
        snprintf(err, errlen, "lookup %s: %s", c->host, uv_strerror(rv));
        h2c_close(c, NULL, NULL);
        return CC_EIO;
    }
    c->resolving = true;
    c->connect_deadline_ms = clock_mono_ms() + l.connect_timeout_ms;
    h2c__arm_timer(c, c->connect_deadline_ms);
    *out = c;
    return 0;
}

bool h2c_usable(const struct h2c *c)
{
    return !c->failed && !c->closing && !c->goaway && !c->ids_exhausted;
}

uint32_t h2c_calls(const struct h2c *c)
{
    return c->n_calls;
}

/* ---- closing ------------------------------------------------------------------------------ */

/* The last close callback (or the lookup's completion) releases everything: calls still running
 * are answered first. */
static void maybe_free(struct h2c *c)
{
    if (c->open_handles > 0 || c->resolving) return;
    c->session_dead = true;
    h2c__free_list(&c->zombie);
    while (!list_empty(&c->live))
        h2c__call_decide(c->live.head.next, GRPC_CANCELLED, CC_ECANCELED, "connection closed");
    settle(c);
    nghttp2_session_del(c->h2);
    buf_free(&c->wbuf);
    h2c_closed_fn done = c->closed_cb;
    void *arg = c->closed_arg;
    free(c);
    if (done) done(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct h2c *c = h->data;
    c->open_handles--;
    maybe_free(c);
}

void h2c_close(struct h2c *c, h2c_closed_fn done, void *arg)
{
    if (!c) return;
    if (c->closing) return;
    c->closing = true;
    c->closed_cb = done;
    c->closed_arg = arg;
    if (c->resolving) uv_cancel((uv_req_t *)&c->gai); /* its callback still runs */
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->flusher, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}
