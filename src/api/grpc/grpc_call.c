/* grpc_call.c — gRPC call objects: references, request accessors, the bounded response queue,
 * completion (reply / finish / fail) and the nghttp2 data provider that drains the queue. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/grpc/grpc_internal.h"
#include "util/clock.h"
#include "util/err.h"

struct grpc_call *grpc__call_new(struct h2_conn *h, int32_t stream_id)
{
    struct grpc_call *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    const struct grpc_limits *lim = &h->srv->lim;
    c->refs = 1; /* the library's, dropped at detach */
    c->conn = h;
    c->stream_id = stream_id;
    c->timeout_ms = -1;
    c->status = GRPC_OK;
    buf_init(&c->meta, lim->max_header_list_bytes);
    grpc_deframer_init(&c->df, lim->max_recv_msg_bytes, &h->recv_buffered,
                       lim->conn_recv_buffer_bytes);
    c->next = h->calls;
    if (h->calls) h->calls->prev = c;
    h->calls = c;
    h->ncalls++;
    h->srv->stats.calls_active++;
    return c;
}

static void free_queue(struct grpc_call *c)
{
    while (c->q_head) {
        struct grpc_msg *m = c->q_head;
        c->q_head = m->next;
        free(m);
    }
    c->q_tail = NULL;
    c->q_bytes = 0;
}

static void call_free(struct grpc_call *c)
{
    assert(!c->conn);
    free_queue(c);
    grpc_deframer_free(&c->df);
    buf_free(&c->meta);
    free(c->path);
    free(c->req_msg);
    free(c->status_msg);
    free(c);
}

void grpc_call_ref(struct grpc_call *c)
{
    assert(c->refs > 0);
    c->refs++;
}

void grpc_call_unref(struct grpc_call *c)
{
    assert(c->refs > 0);
    if (--c->refs == 0) call_free(c);
}

/* ---- request side ---- */

const char *grpc_call_path(const struct grpc_call *c)
{
    return c->path ? c->path : "";
}

size_t grpc_call_metadata_count(const struct grpc_call *c)
{
    return c->nmeta;
}

void grpc_call_metadata_at(const struct grpc_call *c, size_t i, const char **name,
                           const char **value)
{
    assert(i < c->nmeta);
    const char *p = (const char *)c->meta.data;
    for (;; i--) {
        const char *v = p + strlen(p) + 1;
        if (i == 0) {
            *name = p;
            *value = v;
            return;
        }
        p = v + strlen(v) + 1;
    }
}

const char *grpc_call_metadata(const struct grpc_call *c, const char *name)
{
    const char *p = (const char *)c->meta.data;
    for (uint32_t i = 0; i < c->nmeta; i++) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, name) == 0) return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

int64_t grpc_call_timeout_ms(const struct grpc_call *c)
{
    return c->timeout_ms;
}

uint64_t grpc_call_deadline_ms(const struct grpc_call *c)
{
    return c->deadline_ms;
}

int grpc_call_cancelled(const struct grpc_call *c)
{
    return c->cancelled;
}

void grpc_call_set_data(struct grpc_call *c, void *data)
{
    c->user = data;
}

void *grpc_call_data(const struct grpc_call *c)
{
    return c->user;
}

/* ---- response side ---- */

int grpc__call_writable(const struct grpc_call *c)
{
    const struct grpc_limits *lim = &c->conn->srv->lim;
    return c->q_bytes < lim->stream_send_queue_bytes &&
           c->conn->q_bytes < lim->conn_send_queue_bytes;
}

static void submit_or_reset(struct grpc_call *c, int rv)
{
    /* A submission fails only when nghttp2 is out of memory or the stream is closing; either
     * way the stream cannot carry this response any more. */
    if (rv != 0)
        nghttp2_submit_rst_stream(c->conn->ng, NGHTTP2_FLAG_NONE, c->stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
}

#define NV(n, v, vl)                                                                               \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NO_COPY_NAME          \
    }

/* Fills the status fields of trailers into nv; returns how many were written. */
static size_t status_nv(struct grpc_call *c, char code[12], nghttp2_nv *nv)
{
    snprintf(code, 12, "%d", c->status);
    size_t n = 0;
    nv[n++] = (nghttp2_nv)NV("grpc-status", code, strlen(code));
    if (c->status_msg && c->status_msg[0])
        nv[n++] = (nghttp2_nv)NV("grpc-message", c->status_msg, strlen(c->status_msg));
    return n;
}

static void submit_trailers(struct grpc_call *c)
{
    char code[12];
    nghttp2_nv nv[2];
    size_t n = status_nv(c, code, nv);
    c->trailers_submitted = 1;
    submit_or_reset(c, nghttp2_submit_trailer(c->conn->ng, c->stream_id, nv, n));
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct grpc_call *c = src->ptr;
    if (c->q_bytes == 0 && !c->ended) {
        c->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = c->q_bytes < length ? c->q_bytes : length;
    if (n > 0) *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == c->q_bytes && c->ended) {
        /* The status goes in trailers, so the last DATA frame must not end the stream. */
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        submit_trailers(c);
    }
    return (ssize_t)n;
}

int grpc__call_send_data(struct grpc_call *c, const uint8_t *framehd, size_t length)
{
    struct h2_conn *h = c->conn;
    assert(h && length <= c->q_bytes);
    if (h->io.write(h->io.ctx, framehd, 9)) return CC_ENOMEM;
    size_t left = length;
    while (left > 0) {
        struct grpc_msg *m = c->q_head;
        size_t take = m->len - m->off;
        if (take > left) take = left;
        if (h->io.write(h->io.ctx, m->data + m->off, take)) return CC_ENOMEM;
        m->off += take;
        left -= take;
        if (m->off == m->len) {
            c->q_head = m->next;
            if (!c->q_head) c->q_tail = NULL;
            free(m);
        }
    }
    c->q_bytes -= length;
    h->q_bytes -= length;
    return 0;
}

void grpc__call_kick(struct grpc_call *c)
{
    struct h2_conn *h = c->conn;
    if (!h) return;
    if (!c->headers_submitted) {
        c->headers_submitted = 1;
        char http[12];
        snprintf(http, sizeof(http), "%d", c->reject_http ? c->reject_http : 200);
        nghttp2_nv nv[4] = {NV(":status", http, strlen(http)),
                            NV("content-type", "application/grpc", 16)};
        if (c->ended && c->q_bytes == 0) {
            /* Trailers-Only: status, content-type and the gRPC status in one HEADERS frame
             * carrying END_STREAM. */
            char code[12];
            size_t n = 2 + status_nv(c, code, nv + 2);
            c->trailers_submitted = 1;
            submit_or_reset(c, nghttp2_submit_response(h->ng, c->stream_id, nv, n, NULL));
        } else {
            nghttp2_data_provider prd = {.source.ptr = c, .read_callback = data_read};
            submit_or_reset(c, nghttp2_submit_response(h->ng, c->stream_id, nv, 2, &prd));
        }
    } else if (c->deferred && !c->trailers_submitted) {
        c->deferred = 0;
        submit_or_reset(c, nghttp2_session_resume_data(h->ng, c->stream_id));
    }
    h2__want_write(h);
}

static void set_status(struct grpc_call *c, int code, const char *message)
{
    c->ended = 1;
    c->status = code;
    if (message && message[0] && !c->status_msg) {
        size_t in = strnlen(message, GRPC_STATUS_MSG_MAX);
        char *enc = malloc(3 * in + 1);
        if (enc && grpc_percent_encode(message, in, enc, 3 * in + 1) >= 0)
            c->status_msg = enc;
        else
            free(enc);
    }
}

void grpc__call_stats_done(struct grpc_call *c, int code)
{
    struct grpc_method_stats *st = &c->method->stats;
    if (code >= 0 && code < GRPC_CODE_COUNT_) st->completed[code]++;
    hist_add(&st->latency_us, clock_mono_us() - c->start_us);
}

static void run_cancel(struct grpc_call *c)
{
    if (!c->dispatched || c->completed || c->cancelled) return;
    c->cancelled = 1;
    struct grpc_method_stats *st = &c->method->stats;
    st->cancelled++;
    if (c->method->ops->on_cancel) {
        grpc_call_ref(c);
        c->method->ops->on_cancel(c, c->method->arg);
        grpc_call_unref(c);
    }
}

void grpc__call_end(struct grpc_call *c, int code, const char *message)
{
    if (c->ended || !c->conn) return;
    set_status(c, code, message);
    grpc_call_ref(c);
    run_cancel(c);
    grpc__call_kick(c);
    grpc_call_unref(c);
}

void grpc__call_detach(struct grpc_call *c, int cancel)
{
    struct h2_conn *h = c->conn;
    assert(h);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->blocked) {
        struct grpc_call **pp = &h->blocked;
        while (*pp != c) pp = &(*pp)->blocked_next;
        *pp = c->blocked_next;
        c->blocked_next = NULL;
        c->blocked = 0;
    }
    h->q_bytes -= c->q_bytes;
    free_queue(c);
    grpc_deframer_free(&c->df);
    c->df.budget_used = NULL; /* the connection's budget may be freed before the call is */
    if (c->req_msg) {
        h->recv_buffered -= c->req_len;
        free(c->req_msg);
        c->req_msg = NULL;
    }
    h->ncalls--;
    h->srv->stats.calls_active--;
    if (cancel) run_cancel(c);
    c->conn = NULL;
    grpc_call_unref(c);
}

/* Queues one message of len bytes, filled by pack or copied from msg. */
static int enqueue(struct grpc_call *c, size_t len, grpc_pack_fn pack, const void *ctx,
                   const void *msg)
{
    struct grpc_msg *m = malloc(sizeof(*m) + GRPC_FRAME_HDR + len);
    if (!m) return CC_ENOMEM;
    m->next = NULL;
    m->len = GRPC_FRAME_HDR + len;
    m->off = 0;
    grpc_frame_put_header(m->data, (uint32_t)len);
    if (pack)
        pack(ctx, m->data + GRPC_FRAME_HDR);
    else if (len)
        memcpy(m->data + GRPC_FRAME_HDR, msg, len);
    if (c->q_tail)
        c->q_tail->next = m;
    else
        c->q_head = m;
    c->q_tail = m;
    c->q_bytes += m->len;
    c->conn->q_bytes += m->len;
    c->method->stats.msgs_sent++;
    return 0;
}

static int send_msg(struct grpc_call *c, size_t len, grpc_pack_fn pack, const void *ctx,
                    const void *msg)
{
    assert(c->dispatched && !c->completed);
    assert(c->method->ops->kind != GRPC_METHOD_UNARY);
    if (c->cancelled || !c->conn) return CC_ECANCELED;
    if (c->ended) return CC_ESTOPPED;
    if (len > c->conn->srv->lim.max_send_msg_bytes) return CC_ETOOBIG;
    if (!grpc__call_writable(c)) {
        if (!c->blocked) {
            c->blocked = 1;
            c->blocked_next = c->conn->blocked;
            c->conn->blocked = c;
        }
        return CC_EBUSY;
    }
    int rc = enqueue(c, len, pack, ctx, msg);
    if (rc) return rc;
    grpc__call_kick(c);
    return 0;
}

int grpc_call_send(struct grpc_call *c, const void *msg, size_t len)
{
    return send_msg(c, len, NULL, NULL, msg);
}

int grpc_call_send_packed(struct grpc_call *c, size_t len, grpc_pack_fn pack, const void *ctx)
{
    return send_msg(c, len, pack, ctx, NULL);
}

void grpc_call_finish(struct grpc_call *c, int code, const char *message)
{
    assert(c->dispatched && !c->completed);
    c->completed = 1;
    if (c->conn && !c->cancelled && !c->ended) {
        grpc__call_stats_done(c, code);
        set_status(c, code, message);
        grpc__call_kick(c);
    }
    grpc_call_unref(c);
}

void grpc_call_fail(struct grpc_call *c, int code, const char *message)
{
    assert(code != GRPC_OK);
    grpc_call_finish(c, code, message);
}

static int reply(struct grpc_call *c, size_t len, grpc_pack_fn pack, const void *ctx,
                 const void *msg)
{
    assert(c->dispatched && !c->completed);
    if (c->cancelled || !c->conn || c->ended) {
        grpc_call_finish(c, GRPC_OK, NULL);
        return CC_ECANCELED;
    }
    if (len > c->conn->srv->lim.max_send_msg_bytes) {
        char why[96];
        snprintf(why, sizeof(why), "grpc: trying to send message larger than max (%zu vs. %u)", len,
                 c->conn->srv->lim.max_send_msg_bytes);
        grpc_call_finish(c, GRPC_RESOURCE_EXHAUSTED, why);
        return CC_ETOOBIG;
    }
    if (enqueue(c, len, pack, ctx, msg)) {
        grpc_call_finish(c, GRPC_INTERNAL, "grpc: out of memory sending reply");
        return CC_ENOMEM;
    }
    grpc_call_finish(c, GRPC_OK, NULL);
    return 0;
}

int grpc_call_reply(struct grpc_call *c, const void *msg, size_t len)
{
    return reply(c, len, NULL, NULL, msg);
}

int grpc_call_reply_packed(struct grpc_call *c, size_t len, grpc_pack_fn pack, const void *ctx)
{
    return reply(c, len, pack, ctx, NULL);
}
