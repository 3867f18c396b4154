/* handlers.c — the test handlers of handlers.h. */
#include "handlers.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/grpc/grpc.h"
#include "api/http/http.h"
#include "util/err.h"

static struct th_state *state_of(void *arg)
{
    return arg;
}

/* ---- unary ---- */

static void echo(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    atomic_fetch_add(&state_of(arg)->echo_calls, 1);
    assert(grpc_call_reply(call, msg, len) == 0);
}

static void schedule(struct th_state *st)
{
    if (st->schedule) st->schedule(st);
}

static void echo_async(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    struct th_state *st = arg;
    if (st->ndeferred == TH_MAX_HELD) {
        grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, "too many deferred");
        return;
    }
    uint8_t *copy = malloc(len ? len : 1);
    assert(copy);
    memcpy(copy, msg, len);
    st->deferred[st->ndeferred] = call;
    st->deferred_msg[st->ndeferred] = copy;
    st->deferred_len[st->ndeferred] = len;
    st->ndeferred++;
    schedule(st);
}

static void async_cancel(struct grpc_call *call, void *arg)
{
    /* The deferred reply will find the call cancelled and do nothing but release it. */
    atomic_fetch_add(&state_of(arg)->async_cancel, 1);
}

static void fail(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    grpc_call_fail(call, GRPC_FAILED_PRECONDITION, TH_FAIL_MSG);
}

static void meta(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    char out[256];
    const char *tok = grpc_call_metadata(call, "token");
    snprintf(out, sizeof(out), "token=%s;timeout=%" PRId64 ";deadline=%d", tok ? tok : "",
             grpc_call_timeout_ms(call), grpc_call_deadline_ms(call) != 0);
    grpc_call_reply(call, out, strlen(out));
}

static void slow(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    /* Keeps the completion reference until on_cancel. */
    atomic_fetch_add(&state_of(arg)->slow_started, 1);
}

static void slow_cancel(struct grpc_call *call, void *arg)
{
    atomic_fetch_add(&state_of(arg)->slow_cancel, 1);
    grpc_call_finish(call, GRPC_CANCELLED, NULL); /* no-op on the wire, releases the call */
}

static void hold(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    struct th_state *st = arg;
    /* Fuzzers send anything here: refuse what is not "N:id". */
    if (len >= 64 || !memchr(msg, ':', len) || memchr(msg, 0, len) || st->nheld == TH_MAX_HELD) {
        grpc_call_fail(call, GRPC_INVALID_ARGUMENT, "want N:id");
        return;
    }
    char *id = calloc(1, len + 1);
    assert(id);
    memcpy(id, msg, len);
    int target = atoi(id); /* atoi stops at ':' */
    grpc_call_set_data(call, id);
    st->held[st->nheld++] = call;
    if (st->nheld < target) return;
    for (int i = 0; i < st->nheld; i++) {
        struct grpc_call *c = st->held[i];
        char *d = grpc_call_data(c);
        const char *colon = strchr(d, ':');
        grpc_call_reply(c, colon + 1, strlen(colon + 1));
        free(d);
    }
    st->nheld = 0;
}

static void hold_cancel(struct grpc_call *call, void *arg)
{
    struct th_state *st = arg;
    atomic_fetch_add(&st->hold_cancel, 1);
    for (int i = 0; i < st->nheld; i++) {
        if (st->held[i] != call) continue;
        st->held[i] = st->held[--st->nheld];
        free(grpc_call_data(call));
        grpc_call_finish(call, GRPC_CANCELLED, NULL);
        return;
    }
}

/* ---- server stream ---- */

struct stream_job {
    uint32_t n, size, next;
};

static void pattern(const void *ctx, uint8_t *out)
{
    const struct stream_job *j = ctx;
    for (uint32_t i = 0; i < j->size; i++) out[i] = (uint8_t)(j->next + i);
}

static void stream_pump(struct grpc_call *call, struct th_state *st)
{
    struct stream_job *j = grpc_call_data(call);
    while (j->next < j->n) {
        int rc = grpc_call_send_packed(call, j->size, pattern, j);
        if (rc == CC_EBUSY) {
            atomic_fetch_add(&st->stream_ebusy, 1);
            return;
        }
        if (rc) {
            free(j);
            grpc_call_finish(call, GRPC_INTERNAL, cc_strerror(rc));
            return;
        }
        j->next++;
    }
    free(j);
    atomic_fetch_add(&st->stream_done, 1);
    grpc_call_finish(call, GRPC_OK, NULL);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void stream_start(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    if (len != 8) {
        grpc_call_fail(call, GRPC_INVALID_ARGUMENT, "want 8 bytes");
        return;
    }
    struct stream_job *j = calloc(1, sizeof(*j));
    j->n = be32(msg);
    j->size = be32(msg + 4);
    grpc_call_set_data(call, j);
    stream_pump(call, arg);
}

static void stream_writable(struct grpc_call *call, void *arg)
{
    atomic_fetch_add(&state_of(arg)->stream_writable, 1);
    stream_pump(call, arg);
}

static void stream_cancel(struct grpc_call *call, void *arg)
{
    atomic_fetch_add(&state_of(arg)->stream_cancel, 1);
    free(grpc_call_data(call));
    grpc_call_finish(call, GRPC_CANCELLED, NULL);
}

/* ---- bidi ---- */

static void bidi_start(struct grpc_call *call, void *arg) {}

static void bidi_msg(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    atomic_fetch_add(&state_of(arg)->bidi_msgs, 1);
    int rc = grpc_call_send(call, msg, len);
    if (rc) grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, cc_strerror(rc));
}

static void bidi_half_close(struct grpc_call *call, void *arg)
{
    atomic_fetch_add(&state_of(arg)->bidi_half_close, 1);
    grpc_call_finish(call, GRPC_OK, NULL);
}

static void bidi_cancel(struct grpc_call *call, void *arg)
{
    atomic_fetch_add(&state_of(arg)->bidi_cancel, 1);
    grpc_call_finish(call, GRPC_CANCELLED, NULL);
}

/* ---- HTTP ---- */

static void h_hello(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    atomic_fetch_add(&state_of(arg)->http_requests, 1);
    http_reply(ex, 200, "text/plain", "hello world\n", 12);
}

static void h_echo(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    atomic_fetch_add(&state_of(arg)->http_requests, 1);
    http_exchange_add_header(ex, "X-Echo-Len", req->body_len ? "some" : "none");
    http_reply(ex, 200, "application/octet-stream", req->body, req->body_len);
}

static void h_async(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    struct th_state *st = arg;
    atomic_fetch_add(&st->http_requests, 1);
    assert(st->nhttp_deferred < 64);
    st->http_deferred[st->nhttp_deferred++] = ex;
    schedule(st);
}

static void h_prefix(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    char out[512];
    int n = snprintf(out, sizeof(out), "prefix:%s?%s", req->path, req->query);
    http_reply(ex, 200, "text/plain", out, (size_t)n);
}

static void h_exact(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    http_reply(ex, 200, "application/json", "{\"exact\":true}", 14);
}

struct http_job {
    long n, size, next;
    uint8_t *chunk;
};

static void http_pump(struct http_exchange *ex, struct th_state *st)
{
    struct http_job *j = http_exchange_data(ex);
    while (j->next < j->n) {
        memset(j->chunk, 'a' + (int)(j->next % 26), (size_t)j->size);
        int rc = http_stream_send(ex, j->chunk, (size_t)j->size);
        if (rc == CC_EBUSY) {
            atomic_fetch_add(&st->http_stream_ebusy, 1);
            return;
        }
        if (rc) break;
        j->next++;
    }
    free(j->chunk);
    free(j);
    atomic_fetch_add(&st->http_stream_done, 1);
    http_stream_end(ex);
}

static void h_stream(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    struct http_job *j = calloc(1, sizeof(*j));
    if (sscanf(req->query, "n=%ld&size=%ld", &j->n, &j->size) != 2 || j->size <= 0 ||
        j->size > (1 << 20)) {
        free(j);
        http_reply(ex, 400, "text/plain", "bad query\n", 10);
        return;
    }
    j->chunk = malloc((size_t)j->size);
    http_exchange_set_data(ex, j);
    http_stream_begin(ex, 200, "application/json");
    http_pump(ex, arg);
}

static void h_stream_writable(struct http_exchange *ex, void *arg)
{
    atomic_fetch_add(&state_of(arg)->http_stream_writable, 1);
    http_pump(ex, arg);
}

static void h_stream_cancel(struct http_exchange *ex, void *arg)
{
    atomic_fetch_add(&state_of(arg)->http_stream_cancel, 1);
    struct http_job *j = http_exchange_data(ex);
    free(j->chunk);
    free(j);
    http_stream_end(ex); /* no-op on the wire: releases the exchange */
}

static void h_tick(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    struct th_state *st = arg;
    if (st->tick) {
        http_reply(ex, 409, "text/plain", "busy\n", 5);
        return;
    }
    http_stream_begin(ex, 200, "text/plain");
    st->tick = ex;
    schedule(st);
}

static void h_tick_cancel(struct http_exchange *ex, void *arg)
{
    struct th_state *st = arg;
    st->tick = NULL;
    st->tick_sent = 0;
    http_stream_end(ex);
}

void th_run_deferred(struct th_state *st)
{
    if (st->tick && !st->tick_sent) {
        /* Written from outside the connection's processing: the library must flush it. */
        http_stream_send(st->tick, "tick\n", 5);
        st->tick_sent = 1;
        schedule(st); /* the end comes from yet another callback */
    } else if (st->tick) {
        http_stream_end(st->tick);
        st->tick = NULL;
        st->tick_sent = 0;
    }
    for (int i = 0; i < st->ndeferred; i++) {
        grpc_call_reply(st->deferred[i], st->deferred_msg[i], st->deferred_len[i]);
        free(st->deferred_msg[i]);
    }
    st->ndeferred = 0;
    for (int i = 0; i < st->nhttp_deferred; i++)
        http_reply(st->http_deferred[i], 200, "text/plain", "later\n", 6);
    st->nhttp_deferred = 0;
}

void th_register(struct th_state *st, struct grpc_server *srv, struct http_router *router)
{
    static const struct grpc_method_ops echo_ops = {.kind = GRPC_METHOD_UNARY, .on_request = echo};
    static const struct grpc_method_ops async_ops = {
        .kind = GRPC_METHOD_UNARY, .on_request = echo_async, .on_cancel = async_cancel};
    static const struct grpc_method_ops fail_ops = {.kind = GRPC_METHOD_UNARY, .on_request = fail};
    static const struct grpc_method_ops meta_ops = {.kind = GRPC_METHOD_UNARY, .on_request = meta};
    static const struct grpc_method_ops slow_ops = {
        .kind = GRPC_METHOD_UNARY, .on_request = slow, .on_cancel = slow_cancel};
    static const struct grpc_method_ops hold_ops = {
        .kind = GRPC_METHOD_UNARY, .on_request = hold, .on_cancel = hold_cancel};
    static const struct grpc_method_ops stream_ops = {.kind = GRPC_METHOD_SERVER_STREAM,
                                                      .on_request = stream_start,
                                                      .on_writable = stream_writable,
                                                      .on_cancel = stream_cancel};
    static const struct grpc_method_ops bidi_ops = {.kind = GRPC_METHOD_STREAMING,
                                                    .on_start = bidi_start,
                                                    .on_message = bidi_msg,
                                                    .on_half_close = bidi_half_close,
                                                    .on_cancel = bidi_cancel};
    static const struct http_route_ops hello_ops = {.on_request = h_hello};
    static const struct http_route_ops echo_h_ops = {.on_request = h_echo};
    static const struct http_route_ops async_h_ops = {.on_request = h_async};
    static const struct http_route_ops prefix_ops = {.on_request = h_prefix};
    static const struct http_route_ops exact_ops = {.on_request = h_exact};
    static const struct http_route_ops tick_ops = {.on_request = h_tick,
                                                   .on_cancel = h_tick_cancel};
    static const struct http_route_ops stream_h_ops = {
        .on_request = h_stream, .on_writable = h_stream_writable, .on_cancel = h_stream_cancel};
    if (srv) {
        assert(grpc_server_add_method(srv, "/test.Svc/Echo", &echo_ops, st) == 0);
        assert(grpc_server_add_method(srv, "/test.Svc/EchoAsync", &async_ops, st) == 0);
        assert(grpc_server_add_method(srv, "/test.Svc/Fail", &fail_ops, st) == 0);
        assert(grpc_server_add_method(srv, "/test.Svc/Meta", &meta_ops, st) == 0);
        assert(grpc_server_add_method(srv, "/test.Svc/Slow", &slow_ops, st) == 0);
        assert(grpc_server_add_method(srv, "/test.Svc/Hold", &hold_ops, st) == 0);
        assert(grpc_server_add_method(srv, "/test.Svc/Stream", &stream_ops, st) == 0);
        assert(grpc_server_add_method(srv, "/test.Svc/Bidi", &bidi_ops, st) == 0);
    }
    if (router) {
        assert(http_router_add(router, "GET", "/hello", 0, &hello_ops, st) == 0);
        assert(http_router_add(router, "POST", "/echo", 0, &echo_h_ops, st) == 0);
        assert(http_router_add(router, "GET", "/async", 0, &async_h_ops, st) == 0);
        assert(http_router_add(router, "GET", "/stream", 0, &stream_h_ops, st) == 0);
        assert(http_router_add(router, "GET", "/v3/", HTTP_ROUTE_PREFIX, &prefix_ops, st) == 0);
        assert(http_router_add(router, "POST", "/v3/kv/range", 0, &exact_ops, st) == 0);
        assert(http_router_add(router, "GET", "/tick", 0, &tick_ops, st) == 0);
    }
}
