/* test_h2c_peer.c — the gRPC client against peers that misbehave: a scripted HTTP/2 server
 * (nghttp2) answering each path with a broken or unusual response, raw TCP peers that send
 * garbage or nothing, and a closed port. Every case must end in a failed call or connection,
 * never in a crash, a hang or a reply given twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/grpc/grpc_frame.h"
#include "h2c_util.h"
#include "util/err.h"

/* ---- a TCP listener on 127.0.0.1:0 with one kind of connection behaviour ---- */

enum peer_kind {
    PEER_H2,      /* scripted HTTP/2 server */
    PEER_GARBAGE, /* writes bytes that are not HTTP/2, keeps the connection */
    PEER_SILENT,  /* accepts and never writes */
};

struct peer;

struct pconn {
    uv_tcp_t tcp;
    struct peer *p;
    nghttp2_session *h2;
    char path[128][64];      /* :path per stream id (odd ids < 256) */
    struct body *bodies[32]; /* response bodies, freed with the connection */
    int nbodies;
};

struct peer {
    uv_loop_t *loop;
    uv_tcp_t listener;
    enum peer_kind kind;
    int port;
    struct pconn *conns[16];
    int nconns;
};

struct body {
    uint8_t data[256];
    size_t len, off;
    int trailers; /* 0: none (the DATA ends the stream), 1: grpc-status 0, 2: oversized */
};

static void on_pwritten(uv_write_t *w, int status)
{
    free(w->data);
    free(w);
}

static void peer_write(struct pconn *pc, const uint8_t *p, size_t n)
{
    uv_write_t *w = malloc(sizeof *w);
    uint8_t *copy = malloc(n);
    assert_true(w && copy);
    memcpy(copy, p, n);
    w->data = copy;
    uv_buf_t b = uv_buf_init((char *)copy, (unsigned)n);
    if (uv_write(w, (uv_stream_t *)&pc->tcp, &b, 1, on_pwritten) != 0) {
        free(copy);
        free(w);
    }
}

static void pflush(struct pconn *pc)
{
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(pc->h2, &data);
        if (n <= 0) break;
        peer_write(pc, data, (size_t)n);
    }
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                 \
    }

static ssize_t read_body(nghttp2_session *h2, int32_t id, uint8_t *dst, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    struct body *b = src->ptr;
    size_t n = b->len - b->off < len ? b->len - b->off : len;
    memcpy(dst, b->data + b->off, n);
    b->off += n;
    if (b->off < b->len) return (ssize_t)n;
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!b->trailers) return (ssize_t)n;
    /* Trailers are submitted once the body is out, or they could overtake it. */
    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    static char big[8192];
    memset(big, 'v', sizeof big - 1);
    nghttp2_nv t[] = {NV("grpc-status", "0"), NV("x-big", big)};
    nghttp2_submit_trailer(h2, id, t, b->trailers == 2 ? 2 : 1);
    return (ssize_t)n;
}

static int s_on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name,
                       size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                       void *ud)
{
    struct pconn *pc = ud;
    int32_t id = f->hd.stream_id;
    if (namelen == 5 && !memcmp(name, ":path", 5) && id < 256 && valuelen < 64) {
        memcpy(pc->path[id / 2], value, valuelen);
        pc->path[id / 2][valuelen] = 0;
    }
    return 0;
}

static struct body *message(int n_msgs, uint8_t flag)
{
    struct body *b = calloc(1, sizeof *b);
    assert_non_null(b);
    for (int i = 0; i < n_msgs; i++) {
        grpc_frame_put_header(b->data + b->len, 3);
        b->data[b->len] = flag;
        memcpy(b->data + b->len + 5, "abc", 3);
        b->len += 8;
    }
    return b;
}

/* The scripted answers, by path. */
static void respond(struct pconn *pc, int32_t id)
{
    const char *path = id < 256 ? pc->path[id / 2] : "";
    nghttp2_session *h2 = pc->h2;
    nghttp2_nv ok_hdr[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
    struct body *b = NULL;
    if (!strcmp(path, "/s/ok") || !strcmp(path, "/s/two") || !strcmp(path, "/s/compressed") ||
        !strcmp(path, "/s/bigtrailer") || !strcmp(path, "/s/nostatus")) {
        b = !strcmp(path, "/s/two") ? message(2, 0) : message(1, !strcmp(path, "/s/compressed"));
        b->trailers = !strcmp(path, "/s/nostatus") ? 0 : !strcmp(path, "/s/bigtrailer") ? 2 : 1;
        nghttp2_data_provider prd = {.source.ptr = b, .read_callback = read_body};
        nghttp2_submit_response(h2, id, ok_hdr, 2, &prd);
    } else if (!strcmp(path, "/s/http503")) {
        nghttp2_nv h[] = {NV(":status", "503")};
        nghttp2_submit_response(h2, id, h, 1, NULL);
    } else if (!strcmp(path, "/s/badcode") || !strcmp(path, "/s/bigcode")) {
        nghttp2_nv h[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                          NV("grpc-status", !strcmp(path, "/s/badcode") ? "x1" : "99"),
                          NV("grpc-message", "caf%C3%A9 %zz")};
        nghttp2_submit_response(h2, id, h, 4, NULL);
    } else if (!strcmp(path, "/s/refuse")) {
        nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    } else if (!strcmp(path, "/s/goaway")) {
        nghttp2_submit_goaway(h2, NGHTTP2_FLAG_NONE, id - 2, NGHTTP2_NO_ERROR, NULL, 0);
    } else if (!strcmp(path, "/s/reset")) {
        nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
    } /* anything else: never answered */
    if (b) {
        assert_true(pc->nbodies < 32);
        pc->bodies[pc->nbodies++] = b;
    }
}

static int s_on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        respond(ud, f->hd.stream_id);
    return 0;
}

static void p_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char buf[65536];
    *b = uv_buf_init(buf, sizeof buf);
}

static void p_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct pconn *pc = s->data;
    if (n <= 0) {
        uv_read_stop(s);
        return;
    }
    if (pc->p->kind != PEER_H2) return;
    if (nghttp2_session_mem_recv(pc->h2, (const uint8_t *)b->base, (size_t)n) < 0) return;
    pflush(pc);
}

static void on_accept(uv_stream_t *l, int status)
{
    struct peer *p = l->data;
    assert_int_equal(status, 0);
    assert_true(p->nconns < 15);
    struct pconn *pc = calloc(1, sizeof *pc);
    assert_non_null(pc);
    pc->p = p;
    uv_tcp_init(p->loop, &pc->tcp);
    pc->tcp.data = pc;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&pc->tcp), 0);
    p->conns[p->nconns++] = pc;
    if (p->kind == PEER_SILENT) return;
    uv_read_start((uv_stream_t *)&pc->tcp, p_alloc, p_read);
    if (p->kind == PEER_GARBAGE) {
        static const char junk[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        peer_write(pc, (const uint8_t *)junk, sizeof junk - 1);
        return;
    }
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, s_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, s_on_frame_recv);
    assert_int_equal(nghttp2_session_server_new(&pc->h2, cb, pc), 0);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(pc->h2, NGHTTP2_FLAG_NONE, NULL, 0);
    pflush(pc);
}

static void peer_start(struct peer *p, uv_loop_t *loop, enum peer_kind kind)
{
    memset(p, 0, sizeof *p);
    p->loop = loop;
    p->kind = kind;
    uv_tcp_init(loop, &p->listener);
    p->listener.data = p;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&p->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&p->listener, 16, on_accept), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&p->listener, (struct sockaddr *)&ss, &len);
    p->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void free_pconn(uv_handle_t *h)
{
    struct pconn *pc = h->data;
    if (pc->h2) nghttp2_session_del(pc->h2);
    for (int i = 0; i < pc->nbodies; i++) free(pc->bodies[i]);
    free(pc);
}

static void peer_stop(struct peer *p)
{
    for (int i = 0; i < p->nconns; i++) uv_close((uv_handle_t *)&p->conns[i]->tcp, free_pconn);
    uv_close((uv_handle_t *)&p->listener, NULL);
}

/* ---- the client side ---- */

struct fixture {
    uv_loop_t loop;
    struct peer peer;
    struct h2c *c;
    struct tu_events ev;
};

static void fx_open(struct fixture *fx, enum peer_kind kind, const struct h2c_limits *lim)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    peer_start(&fx->peer, &fx->loop, kind);
    char ep[64], err[256];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", fx->peer.port);
    assert_int_equal(h2c_open(&fx->loop, ep, lim, tu_on_event, &fx->ev, &fx->c, err, sizeof err),
                     0);
}

static void fx_close(struct fixture *fx)
{
    int closed = 0;
    h2c_close(fx->c, tu_on_closed, &closed);
    tu_run_until(&fx->loop, tu_int_set, &closed);
    peer_stop(&fx->peer);
    tu_drain(&fx->loop);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

/* One call on path; returns its reply (message freed). */
static struct tu_reply call_one(struct fixture *fx, const char *path)
{
    struct tu_reply r = {0};
    assert_int_equal(tu_call(fx->c, path, "q", 1, NULL, &r), 0);
    tu_run_until(&fx->loop, tu_replied, &r);
    assert_int_equal(r.n, 1);
    return r;
}

/* Responses that break gRPC's rules fail their call and leave the connection usable. */
static void test_malformed_responses(void **state)
{
    struct fixture fx;
    struct h2c_limits lim;
    h2c_limits_default(&lim);
    lim.max_header_bytes = 4096;
    fx_open(&fx, PEER_H2, &lim);
    struct tu_reply r = call_one(&fx, "/s/ok");
    assert_int_equal(r.err, 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.msg_len, 3);
    assert_memory_equal(r.msg, "abc", 3);
    tu_reply_free(&r);

    static const struct {
        const char *path;
        int code, err;
    } cases[] = {
        {"/s/two", GRPC_INTERNAL, CC_EPROTO},
        {"/s/compressed", GRPC_INTERNAL, CC_EPROTO},
        {"/s/nostatus", GRPC_INTERNAL, CC_EPROTO},
        {"/s/http503", GRPC_UNAVAILABLE, CC_EPROTO},
        {"/s/bigtrailer", GRPC_RESOURCE_EXHAUSTED, CC_ETOOBIG},
        {"/s/reset", GRPC_INTERNAL, CC_ECLOSED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = call_one(&fx, cases[i].path);
        if (r.code != cases[i].code || r.err != cases[i].err)
            fail_msg("%s: code %d err %d (%s)", cases[i].path, r.code, r.err, r.message);
        assert_null(r.msg);
    }
    /* A status that is not a number, or out of range, is UNKNOWN; grpc-message is decoded,
     * malformed escapes kept. */
    r = call_one(&fx, "/s/badcode");
    assert_int_equal(r.err, 0);
    assert_int_equal(r.code, GRPC_UNKNOWN);
    assert_string_equal(r.message, "caf\xc3\xa9 %zz");
    r = call_one(&fx, "/s/bigcode");
    assert_int_equal(r.code, GRPC_UNKNOWN);
    /* A refused stream was never processed. */
    r = call_one(&fx, "/s/refuse");
    assert_int_equal(r.code, GRPC_UNAVAILABLE);
    assert_int_equal(r.err, CC_ECLOSED);
    assert_false(r.sent);
    assert_true(h2c_usable(fx.c));
    assert_int_equal(fx.ev.ready, 1);
    assert_int_equal(fx.ev.failed, 0);
    fx_close(&fx);
}

/* GOAWAY below a call's stream: the call was not processed, the connection takes no more. */
static void test_goaway(void **state)
{
    struct fixture fx;
    fx_open(&fx, PEER_H2, NULL);
    struct tu_reply ok = call_one(&fx, "/s/ok");
    tu_reply_free(&ok);
    struct tu_reply r = call_one(&fx, "/s/goaway");
    assert_int_equal(r.err, CC_ECLOSED);
    assert_false(r.sent);
    assert_false(h2c_usable(fx.c));
    struct tu_reply never = {0};
    assert_int_equal(tu_call(fx.c, "/s/ok", "", 0, NULL, &never), CC_ECLOSED);
    fx_close(&fx);
    assert_int_equal(never.n, 0);
}

/* A peer that answers with something that is not HTTP/2: the connection fails, its calls
 * are answered once, FAILED is reported once. */
static void test_garbage_peer(void **state)
{
    struct fixture fx;
    fx_open(&fx, PEER_GARBAGE, NULL);
    struct tu_reply r = call_one(&fx, "/s/ok");
    assert_int_equal(r.err, CC_ECLOSED);
    assert_int_equal(r.code, GRPC_UNAVAILABLE);
    tu_run_until(&fx.loop, tu_int_set, &fx.ev.failed);
    assert_int_equal(fx.ev.failed, 1);
    assert_int_equal(fx.ev.ready, 0);
    fx_close(&fx);
}

/* A peer that accepts and says nothing: the connect deadline fails the connection. */
static void test_silent_peer(void **state)
{
    struct fixture fx;
    struct h2c_limits lim;
    h2c_limits_default(&lim);
    lim.connect_timeout_ms = 200;
    fx_open(&fx, PEER_SILENT, &lim);
    struct tu_reply r = call_one(&fx, "/s/ok");
    assert_int_equal(r.err, CC_ECLOSED);
    assert_non_null(strstr(r.message, "timed out"));
    assert_int_equal(fx.ev.failed, 1);
    assert_non_null(strstr(fx.ev.why, "timed out"));
    fx_close(&fx);
}

static bool both_closed(void *arg)
{
    return *(int *)arg >= 2;
}

/* Nothing listens: the call fails, and was certainly not sent. */
static void test_refused_port(void **state)
{
    struct fixture fx;
    fx_open(&fx, PEER_SILENT, NULL);
    struct h2c_limits lim;
    h2c_limits_default(&lim);
    /* A second client to the listener's port once the listener is gone. */
    int port = fx.peer.port;
    uv_close((uv_handle_t *)&fx.peer.listener, NULL);
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    char ep[64], err[256];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    struct tu_events ev = {0};
    struct h2c *c;
    assert_int_equal(h2c_open(&fx.loop, ep, &lim, tu_on_event, &ev, &c, err, sizeof err), 0);
    struct tu_reply r = {0};
    assert_int_equal(tu_call(c, "/s/ok", "", 0, NULL, &r), 0);
    tu_run_until(&fx.loop, tu_replied, &r);
    assert_int_equal(r.err, CC_ECLOSED);
    assert_false(r.sent);
    assert_int_equal(ev.failed, 1);
    int closed = 0;
    h2c_close(c, tu_on_closed, &closed);
    h2c_close(fx.c, tu_on_closed, &closed);
    tu_run_until(&fx.loop, both_closed, &closed);
    for (int i = 0; i < fx.peer.nconns; i++)
        uv_close((uv_handle_t *)&fx.peer.conns[i]->tcp, free_pconn);
    tu_drain(&fx.loop);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_responses), cmocka_unit_test(test_goaway),
        cmocka_unit_test(test_garbage_peer),        cmocka_unit_test(test_silent_peer),
        cmocka_unit_test(test_refused_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
