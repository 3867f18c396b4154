/* h2_conn.c — an HTTP/2 server session (nghttp2) that turns request streams into gRPC calls:
 * header validation, method lookup, message de-framing, dispatch and back-pressure. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "api/grpc/grpc_internal.h"
#include "util/clock.h"
#include "util/err.h"

void h2__want_write(struct h2_conn *h)
{
    if (h->depth > 0)
        h->dirty = 1;
    else
        h->io.want_write(h->io.ctx);
}

static struct grpc_call *stream_call(nghttp2_session *ng, int32_t id)
{
    return nghttp2_session_get_stream_user_data(ng, id);
}

/* Marks a call for refusal once its headers are complete. The first reason wins. */
static void reject(struct grpc_call *c, int http, int code, const char *msg)
{
    if (c->reject_code) return;
    c->reject_http = http;
    c->reject_code = code;
    c->reject_msg = msg;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct h2_conn *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    struct grpc_call *c = grpc__call_new(h, f->hd.stream_id);
    if (!c) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM, the rest goes on */
    nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, c);
    return 0;
}

static int is_grpc_content_type(const uint8_t *v, size_t n)
{
    static const char ct[] = "application/grpc";
    size_t k = sizeof(ct) - 1;
    if (n < k || strncasecmp((const char *)v, ct, k) != 0) return 0;
    return n == k || v[k] == '+' || v[k] == ';';
}

static void store_metadata(struct grpc_call *c, const uint8_t *name, size_t nl,
                           const uint8_t *value, size_t vl)
{
    const struct grpc_limits *lim = &c->conn->srv->lim;
    if (c->nmeta == lim->max_metadata_count) {
        reject(c, 200, GRPC_RESOURCE_EXHAUSTED, "grpc: too many request metadata fields");
        return;
    }
    /* on_header has checked that names and values hold no NUL (RFC 9113 §8.2.1). */
    if (buf_reserve(&c->meta, nl + vl + 2) != 0) {
        reject(c, 200, GRPC_RESOURCE_EXHAUSTED, "grpc: request header list too large");
        return;
    }
    buf_append(&c->meta, name, nl);
    buf_put_u8(&c->meta, 0);
    buf_append(&c->meta, value, vl);
    buf_put_u8(&c->meta, 0);
    c->nmeta++;
}

/* RFC 9113 §8.2.1 field validity, checked here because nghttp2's HTTP messaging checks are
 * off (see make_session): names are lowercase tokens (pseudo-headers ':' + lowercase letters),
 * values hold no NUL, CR or LF. */
static bool field_ok(const uint8_t *name, size_t nl, const uint8_t *value, size_t vl)
{
    if (nl == 0) return false;
    size_t i = 0;
    if (name[0] == ':') {
        if (nl == 1) return false;
        for (i = 1; i < nl; i++)
            if (name[i] < 'a' || name[i] > 'z') return false;
    } else {
        for (; i < nl; i++) {
            uint8_t ch = name[i];
            bool tok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                       (ch && strchr("!#$%&'*+-.^_`|~", ch));
            if (!tok) return false;
        }
    }
    for (i = 0; i < vl; i++)
        if (value[i] == 0 || value[i] == '\r' || value[i] == '\n') return false;
    return true;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    /* A malformed field resets the stream (RST_STREAM), as a strict HTTP/2 server does. */
    if (!field_ok(name, nl, value, vl)) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    struct grpc_call *c = stream_call(ng, f->hd.stream_id);
    /* Request trailers carry nothing gRPC needs: only their END_STREAM matters. */
    if (!c || c->headers_done || c->reject_code) return 0;
    /* RFC 7541 §4.1 entry size, so the bound matches SETTINGS_MAX_HEADER_LIST_SIZE. */
    c->header_bytes += nl + vl + 32;
    if (c->header_bytes > c->conn->srv->lim.max_header_list_bytes) {
        reject(c, 200, GRPC_RESOURCE_EXHAUSTED, "grpc: request header list too large");
        return 0;
    }
    if (nl > 0 && name[0] == ':') {
        if (nl == 5 && memcmp(name, ":path", 5) == 0 && !c->path) {
            c->path = strndup((const char *)value, vl);
            if (!c->path) reject(c, 200, GRPC_RESOURCE_EXHAUSTED, "grpc: out of memory");
        } else if (nl == 7 && memcmp(name, ":method", 7) == 0) {
            c->is_post = vl == 4 && memcmp(value, "POST", 4) == 0;
        }
        return 0;
    }
    if (nl == 12 && memcmp(name, "content-type", 12) == 0) {
        c->grpc_ct = is_grpc_content_type(value, vl);
    } else if (nl == 12 && memcmp(name, "grpc-timeout", 12) == 0) {
        uint64_t ms;
        if (grpc_timeout_parse((const char *)value, vl, &ms) != 0) {
            reject(c, 200, GRPC_INTERNAL, "transport: malformed grpc-timeout");
            return 0;
        }
        c->timeout_ms = ms > INT64_MAX ? INT64_MAX : (int64_t)ms;
    }
    store_metadata(c, name, nl, value, vl);
    return 0;
}

/* Hands the call to its handler, with the completion reference. */
static void dispatch(struct grpc_call *c)
{
    grpc_call_ref(c);
    c->dispatched = 1;
    c->start_us = clock_mono_us();
    c->method->stats.started++;
}

/* The request headers are complete: refuse, or find the method (and start a stream). */
static void request_ready(struct h2_conn *h, struct grpc_call *c)
{
    c->headers_done = 1;
    if (c->timeout_ms >= 0) c->deadline_ms = clock_mono_ms() + (uint64_t)c->timeout_ms;
    if (!c->reject_code && !c->is_post)
        reject(c, 405, GRPC_INTERNAL, "grpc: the request method must be POST");
    if (!c->reject_code && !c->grpc_ct)
        reject(c, 415, GRPC_INTERNAL, "grpc: invalid gRPC request content-type");
    if (!c->reject_code && !c->path) reject(c, 400, GRPC_INTERNAL, "grpc: no :path");
    if (c->reject_code) {
        h->srv->stats.rejected++;
        /* An HTTP-level refusal (a client that is not speaking gRPC) waits for the end of the
         * request, its body dropped meanwhile (c->method stays NULL): curl 7.88 stops uploading
         * when an early error arrives and then waits forever for the stream to close, and takes
         * the RST_STREAM(NO_ERROR) that would close it (RFC 9113 §8.1) as a failure. */
        if (c->reject_http != 200 && !c->remote_closed) {
            c->refuse_at_end = 1;
            return;
        }
        grpc__call_end(c, c->reject_code, c->reject_msg);
        return;
    }
    c->method = grpc__server_find(h->srv, c->path);
    if (!c->method) {
        char msg[600];
        const char *p = c->path;
        const char *slash = p[0] == '/' ? strchr(p + 1, '/') : NULL;
        int svc_len = slash ? (int)(slash - p - 1) : (int)strlen(p);
        if (svc_len > 200) svc_len = 200;
        if (slash && grpc__server_has_service(h->srv, p))
            snprintf(msg, sizeof(msg), "unknown method %.200s for service %.*s", slash + 1, svc_len,
                     p + 1);
        else
            snprintf(msg, sizeof(msg), "unknown service %.*s", svc_len, p[0] == '/' ? p + 1 : p);
        h->srv->stats.unknown_method++;
        grpc__call_end(c, GRPC_UNIMPLEMENTED, msg);
        return;
    }
    if (c->method->ops->kind == GRPC_METHOD_STREAMING) {
        dispatch(c);
        c->method->ops->on_start(c, c->method->arg);
    }
}

/* The client will send no more (END_STREAM on HEADERS, DATA or trailers). */
static void half_closed(struct grpc_call *c)
{
    if (c->remote_closed) return;
    c->remote_closed = 1;
    if (c->refuse_at_end && !c->ended && !c->cancelled) {
        grpc__call_end(c, c->reject_code, c->reject_msg);
        return;
    }
    if (c->ended || c->cancelled || !c->method) return;
    if (!grpc_deframer_idle(&c->df)) {
        c->conn->srv->stats.rejected++;
        grpc__call_end(c, GRPC_INTERNAL, "grpc: request ended in the middle of a message");
        return;
    }
    const struct grpc_method_ops *ops = c->method->ops;
    if (ops->kind == GRPC_METHOD_STREAMING) {
        if (!c->completed && ops->on_half_close) ops->on_half_close(c, c->method->arg);
        return;
    }
    if (c->req_count != 1) {
        c->conn->srv->stats.rejected++;
        grpc__call_end(c, GRPC_INTERNAL, "grpc: no request message for a unary call");
        return;
    }
    uint8_t *msg = c->req_msg;
    size_t len = c->req_len;
    c->req_msg = NULL;
    c->conn->recv_buffered -= len;
    dispatch(c);
    ops->on_request(c, msg, len, c->method->arg);
    free(msg);
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    if (f->hd.type != NGHTTP2_HEADERS || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    struct grpc_call *c = stream_call(ng, f->hd.stream_id);
    if (c) c->end_sent = 1;
    return 0;
}

/* The client keeps uploading after our complete response (e.g. the rest of an oversized
 * message): ask it to stop without error (RFC 9113 §8.1). Only then, because some clients
 * (curl 7.88) report such a reset as a failure even when the response was complete. */
static void stop_upload(nghttp2_session *ng, const nghttp2_frame *f, struct grpc_call *c)
{
    if (!c->end_sent || c->rst_sent || (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) return;
    c->rst_sent = 1;
    nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct h2_conn *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    struct grpc_call *c = stream_call(ng, f->hd.stream_id);
    if (!c) return 0;
    grpc_call_ref(c); /* handlers may complete it while we look at it */
    if (f->hd.type == NGHTTP2_DATA) stop_upload(ng, f, c);
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        request_ready(h, c);
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && c->conn) half_closed(c);
    grpc_call_unref(c);
    return 0;
}

static int on_request_msg(void *arg, const uint8_t *msg, size_t len)
{
    struct grpc_call *c = arg;
    struct h2_conn *h = c->conn;
    c->method->stats.msgs_received++;
    const struct grpc_method_ops *ops = c->method->ops;
    if (ops->kind == GRPC_METHOD_STREAMING) {
        if (c->completed || c->cancelled) return 1; /* the handler is done: drop the rest */
        ops->on_message(c, msg, len, c->method->arg);
        return c->completed || c->cancelled || c->ended;
    }
    if (c->req_count++ > 0) {
        h->srv->stats.rejected++;
        grpc__call_end(c, GRPC_INTERNAL, "grpc: too many request messages for a unary call");
        return 1;
    }
    /* Held until END_STREAM, charged to the connection's receive budget meanwhile. */
    const struct grpc_limits *lim = &h->srv->lim;
    if (h->recv_buffered + len > lim->conn_recv_buffer_bytes ||
        !(c->req_msg = malloc(len ? len : 1))) {
        h->srv->stats.rejected++;
        grpc__call_end(c, GRPC_RESOURCE_EXHAUSTED,
                       "grpc: too many request bytes buffered on this connection");
        return 1;
    }
    memcpy(c->req_msg, msg, len);
    c->req_len = len;
    h->recv_buffered += len;
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                              size_t len, void *ud)
{
    struct grpc_call *c = stream_call(ng, id);
    /* Data after the call ended is dropped; nghttp2 still returns the flow-control credit. */
    if (!c || !c->method || c->ended || c->cancelled || c->remote_closed) return 0;
    grpc_call_ref(c);
    grpc_deframer_feed(&c->df, data, len, on_request_msg, c);
    int code = grpc_deframer_code(&c->df);
    if (code && c->conn) {
        char msg[160];
        c->conn->srv->stats.rejected++;
        grpc__call_end(c, code, grpc_deframer_errmsg(&c->df, msg, sizeof(msg)));
    }
    grpc_call_unref(c);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *ud)
{
    struct grpc_call *c = stream_call(ng, id);
    if (!c) return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    /* A reset before the handler completed is a cancellation (RFC 9113 §8.1, gRPC spec). */
    grpc__call_detach(c, 1);
    return 0;
}

static ssize_t send_cb(nghttp2_session *ng, const uint8_t *data, size_t n, int flags, void *ud)
{
    struct h2_conn *h = ud;
    if (h->io.room(h->io.ctx) == 0) return NGHTTP2_ERR_WOULDBLOCK;
    if (h->io.write(h->io.ctx, data, n)) return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)n;
}

static int send_data_cb(nghttp2_session *ng, nghttp2_frame *f, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *ud)
{
    struct h2_conn *h = ud;
    assert(f->data.padlen == 0); /* we never pad */
    if (h->io.room(h->io.ctx) == 0) return NGHTTP2_ERR_WOULDBLOCK;
    if (grpc__call_send_data(src->ptr, framehd, length)) return NGHTTP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int make_session(struct h2_conn *h)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cbs)) return CC_ENOMEM;
    if (nghttp2_option_new(&opt)) {
        nghttp2_session_callbacks_del(cbs);
        return CC_ENOMEM;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
    nghttp2_session_callbacks_set_send_data_callback(cbs, send_data_cb);
    /* Closed streams need not be remembered for the priority tree. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    /* nghttp2's HTTP messaging rules reject an :authority that is not a bare host:port, but
     * grpc-go sends the whole endpoint there when dialled with "http://host:port" (etcdctl does
     * for `defrag --cluster`), and Go's server accepts it. gRPC needs none of those rules: the
     * fields are validated in on_header, and method, path and content-type in request_ready. */
    nghttp2_option_set_no_http_messaging(opt, 1);
    int rv = nghttp2_session_server_new2(&h->ng, cbs, h, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    return rv ? CC_ENOMEM : 0;
}

int h2_conn_new(struct grpc_server *srv, const struct h2_io *io, struct h2_conn **out)
{
    struct h2_conn *h = calloc(1, sizeof(*h));
    if (!h) return CC_ENOMEM;
    h->srv = srv;
    h->io = *io;
    if (make_session(h)) {
        free(h);
        return CC_ENOMEM;
    }
    const struct grpc_limits *lim = &srv->lim;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, lim->stream_window_bytes},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, lim->max_header_list_bytes},
    };
    /* Automatic WINDOW_UPDATE (nghttp2's default) keeps replenishing as data arrives; request
     * buffering is bounded by the message and connection limits instead. */
    if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) ||
        nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0,
                                              (int32_t)lim->conn_window_bytes)) {
        nghttp2_session_del(h->ng);
        free(h);
        return CC_ENOMEM;
    }
    srv->stats.conns_live++;
    *out = h;
    return 0;
}

int h2_conn_recv(struct h2_conn *h, const uint8_t *p, size_t n)
{
    if (h->fatal) return CC_EPROTO;
    h->depth++;
    ssize_t rv = nghttp2_session_mem_recv(h->ng, p, n);
    h->depth--;
    if (rv < 0) {
        h->fatal = 1;
        return rv == NGHTTP2_ERR_NOMEM ? CC_ENOMEM : CC_EPROTO;
    }
    return 0;
}

/* Runs on_writable for blocked calls that have room again. */
static void fire_writable(struct h2_conn *h)
{
    struct grpc_call *list = h->blocked;
    h->blocked = NULL;
    while (list) {
        struct grpc_call *c = list;
        list = c->blocked_next;
        c->blocked_next = NULL;
        c->blocked = 0;
        if (c->completed || c->cancelled || c->ended) continue;
        if (!grpc__call_writable(c)) {
            c->blocked = 1;
            c->blocked_next = h->blocked;
            h->blocked = c;
            continue;
        }
        if (c->method->ops->on_writable) {
            grpc_call_ref(c);
            c->method->ops->on_writable(c, c->method->arg);
            grpc_call_unref(c);
        }
    }
}

int h2_conn_send(struct h2_conn *h)
{
    for (;;) {
        h->dirty = 0;
        h->depth++;
        int rv = nghttp2_session_send(h->ng);
        if (rv == 0 && h->blocked) fire_writable(h);
        h->depth--;
        if (rv) {
            h->fatal = 1;
            return rv == NGHTTP2_ERR_NOMEM ? CC_ENOMEM : CC_EPROTO;
        }
        if (!h->dirty || h->io.room(h->io.ctx) == 0) return 0;
    }
}

int h2_conn_done(struct h2_conn *h)
{
    return h->fatal || (!nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng));
}

void h2_conn_goaway(struct h2_conn *h)
{
    nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
    h2__want_write(h);
}

void h2_conn_free(struct h2_conn *h)
{
    if (!h) return;
    h->depth++; /* handlers' output during on_cancel goes nowhere */
    while (h->calls) {
        struct grpc_call *c = h->calls;
        nghttp2_session_set_stream_user_data(h->ng, c->stream_id, NULL);
        grpc__call_detach(c, 1);
    }
    nghttp2_session_del(h->ng);
    h->srv->stats.conns_live--;
    free(h);
}

size_t h2_conn_call_count(const struct h2_conn *h)
{
    return h->ncalls;
}
