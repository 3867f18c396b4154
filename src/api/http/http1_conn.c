/* http1_conn.c — one HTTP/1.1 server connection: buffering, in-order dispatch of pipelined
 * requests, library answers for bad requests, keep-alive and close decisions. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http/http_internal.h"
#include "util/clock.h"
#include "util/err.h"

int http1_conn_new(struct http_router *router, const struct http1_limits *lim,
                   const struct http1_io *io, struct http1_conn **out)
{
    if (!lim->max_headers || lim->max_headers > HTTP1_MAX_HEADERS || lim->max_head_bytes < 64 ||
        lim->max_body_bytes > (1ull << 40))
        return CC_EINVAL;
    struct http1_conn *c = calloc(1, sizeof(*c));
    if (!c) return CC_ENOMEM;
    c->router = router;
    c->lim = *lim;
    c->io = *io;
    /* One largest request always fits, so a pipeline can always make progress. */
    buf_init(&c->in, lim->max_head_bytes + (size_t)lim->max_body_bytes + 64);
    *out = c;
    return 0;
}

void http1_conn_free(struct http1_conn *c)
{
    if (!c) return;
    c->depth++;
    if (c->active) http__exchange_cancel(c->active);
    buf_free(&c->in);
    free(c);
}

int http1_conn_recv(struct http1_conn *c, const uint8_t *p, size_t n)
{
    if (c->closing) return 0; /* nothing more will be read as a request */
    return buf_append(&c->in, p, n);
}

size_t http1_conn_read_room(const struct http1_conn *c)
{
    if (c->closing || c->eof) return 0;
    return c->in.limit - c->in.len;
}

int http1_conn_done(const struct http1_conn *c)
{
    return c->closing && !c->active;
}

int http1_conn_idle(const struct http1_conn *c)
{
    return !c->active && !c->closing;
}

void http1_conn_eof(struct http1_conn *c)
{
    c->eof = 1;
    if (c->active && c->active->streaming) {
        /* A streamed response only ends when the client leaves. */
        c->depth++;
        http__exchange_cancel(c->active);
        c->depth--;
        c->closing = 1;
    }
}

void http1__exchange_done(struct http1_conn *c, struct http_exchange *ex)
{
    assert(c->active == ex);
    struct http_route_stats *st = &ex->route->stats;
    int cls = ex->status / 100;
    if (cls >= 1 && cls <= 5) st->by_class[cls]++;
    hist_add(&st->latency_us, clock_mono_us() - ex->start_us);
    c->active = NULL;
    ex->conn = NULL;
    if (!ex->keep_alive) c->closing = 1;
    if (c->depth == 0) c->io.want_process(c->io.ctx);
    http_exchange_unref(ex); /* the library's */
}

/* Answers a request the parser refused; the connection closes after it. */
static void refuse(struct http1_conn *c, int status)
{
    char body[64];
    snprintf(body, sizeof(body), "%d %s\n", status, http_status_text(status));
    if (c->router) c->router->stats.bad_request++;
    http__write_simple(c, status, 1, 0, NULL, body);
    c->closing = 1;
}

/* Handles the request at the front of the input, if complete. Returns 1 when one was consumed
 * (dispatched or answered), 0 when more input is needed or the connection is closing. */
static int next_request(struct http1_conn *c)
{
    size_t hl = http1_find_head_end(c->in.data, c->in.len, &c->scanned);
    if (!hl) {
        if (c->in.len > c->lim.max_head_bytes)
            refuse(c, 431);
        else if (c->eof)
            c->closing = 1;
        return 0;
    }
    int status;
    struct http1_request *req = &c->req;
    if (http1_parse_head(c->in.data, hl, &c->lim, req, &status)) {
        refuse(c, status);
        return 0;
    }
    if (c->in.len - hl < req->content_length) {
        /* RFC 9110 §10.1.1: say 100 Continue once, before the client sends the body. */
        if (req->expect_continue && req->minor == 1 && !c->continue_sent) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            c->continue_sent = 1;
            if (c->io.write(c->io.ctx, cont, sizeof(cont) - 1)) c->closing = 1;
        }
        if (c->eof) c->closing = 1;
        return 0;
    }
    c->continue_sent = 0;
    struct http_exchange *ex = http__exchange_new(c, NULL, req, c->in.data + hl);
    if (!ex) {
        refuse(c, 503);
        return 0;
    }
    buf_consume(&c->in, hl + (size_t)req->content_length);
    c->scanned = 0;
    int st;
    char allow[256], hdr[300];
    struct http_route *rt =
        http__router_match(c->router, ex->req.method, ex->req.path, &st, allow, sizeof(allow));
    if (!rt) {
        if (st == 405) {
            c->router->stats.method_not_allowed++;
            snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
        } else if (c->router) {
            c->router->stats.not_found++;
        }
        http__write_simple(c, st, ex->minor, ex->keep_alive, st == 405 ? hdr : NULL,
                           st == 405 ? "405 method not allowed\n" : "404 page not found\n");
        http_exchange_unref(ex);
        return 1;
    }
    ex->route = rt;
    ex->conn = c;
    ex->refs = 2; /* the library's (while active) and the handler's completion reference */
    ex->start_us = clock_mono_us();
    c->active = ex;
    rt->stats.requests++;
    rt->ops->on_request(ex, &ex->req, rt->arg);
    return 1;
}

void http1_conn_process(struct http1_conn *c)
{
    if (c->depth) return;
    c->depth++;
    struct http_exchange *ex = c->active;
    if (ex && ex->blocked && c->io.room(c->io.ctx) > 0) {
        ex->blocked = 0;
        if (ex->route->ops->on_writable) {
            http_exchange_ref(ex);
            ex->route->ops->on_writable(ex, ex->route->arg);
            http_exchange_unref(ex);
        }
    }
    /* Answer pipelined requests in order, but not faster than the client reads. */
    while (!c->active && !c->closing && c->io.room(c->io.ctx) > 0)
        if (!next_request(c)) break;
    c->depth--;
}
