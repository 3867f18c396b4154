/* test_h2c.c — the gRPC client against concur's own gRPC server (api/grpc over api/http's
 * httpsrv) started in-process on the same loop: echoes, relayed statuses, metadata and
 * grpc-timeout, deadlines, cancellation, limits, closing with calls in flight, and the server
 * going away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/grpc/grpc.h"
#include "api/http/httpsrv.h"
#include "h2c_util.h"
#include "util/err.h"

#define FAIL_MSG "bad: 100% \"\xc3\xbc\"\nline2"
#define MAX_HELD 64

/* ---- the server ---- */

struct srv {
    uv_loop_t loop;
    struct grpc_server *grpc;
    struct httpsrv *hs;
    char url[64];
    struct grpc_call *held[MAX_HELD]; /* /t.S/Hold calls not answered yet */
    int nheld;
    int cancels; /* held calls the client reset */
    int closed;
};

static void h_echo(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    grpc_call_reply(call, msg, len);
}

static void h_fail(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    grpc_call_fail(call, GRPC_FAILED_PRECONDITION, FAIL_MSG);
}

/* Replies with n bytes, n being the request's 4 big-endian bytes. */
static void h_big(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    assert_int_equal(len, 4);
    size_t n = ((size_t)msg[0] << 24) | ((size_t)msg[1] << 16) | ((size_t)msg[2] << 8) | msg[3];
    uint8_t *p = calloc(1, n ? n : 1);
    assert_non_null(p);
    grpc_call_reply(call, p, n);
    free(p);
}

/* "x=<x-test metadata>;t=<grpc-timeout in ms>" */
static void h_meta(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    const char *x = grpc_call_metadata(call, "x-test");
    char out[256];
    snprintf(out, sizeof out, "x=%s;t=%lld", x ? x : "", (long long)grpc_call_timeout_ms(call));
    grpc_call_reply(call, out, strlen(out));
}

static void h_hold(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    struct srv *s = arg;
    assert_true(s->nheld < MAX_HELD);
    grpc_call_set_data(call, s);
    s->held[s->nheld++] = call;
}

static void drop_held(struct srv *s, struct grpc_call *call)
{
    for (int i = 0; i < s->nheld; i++) {
        if (s->held[i] != call) continue;
        s->held[i] = s->held[--s->nheld];
        return;
    }
    fail_msg("unknown held call");
}

static void h_hold_cancel(struct grpc_call *call, void *arg)
{
    struct srv *s = arg;
    s->cancels++;
    drop_held(s, call);
    grpc_call_fail(call, GRPC_CANCELLED, NULL); /* completes; a no-op on the wire */
}

static const struct grpc_method_ops ops_echo = {.kind = GRPC_METHOD_UNARY, .on_request = h_echo};
static const struct grpc_method_ops ops_fail = {.kind = GRPC_METHOD_UNARY, .on_request = h_fail};
static const struct grpc_method_ops ops_big = {.kind = GRPC_METHOD_UNARY, .on_request = h_big};
static const struct grpc_method_ops ops_meta = {.kind = GRPC_METHOD_UNARY, .on_request = h_meta};
static const struct grpc_method_ops ops_hold = {
    .kind = GRPC_METHOD_UNARY, .on_request = h_hold, .on_cancel = h_hold_cancel};

static void srv_start(struct srv *s)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    assert_int_equal(grpc_server_new(NULL, NULL, &s->grpc), 0);
    assert_int_equal(grpc_server_add_method(s->grpc, "/t.S/Echo", &ops_echo, s), 0);
    assert_int_equal(grpc_server_add_method(s->grpc, "/t.S/Fail", &ops_fail, s), 0);
    assert_int_equal(grpc_server_add_method(s->grpc, "/t.S/Big", &ops_big, s), 0);
    assert_int_equal(grpc_server_add_method(s->grpc, "/t.S/Meta", &ops_meta, s), 0);
    assert_int_equal(grpc_server_add_method(s->grpc, "/t.S/Hold", &ops_hold, s), 0);
    struct httpsrv_config cfg;
    httpsrv_config_default(&cfg);
    cfg.grpc = s->grpc;
    assert_int_equal(httpsrv_new(&s->loop, &cfg, &s->hs), 0);
    assert_int_equal(httpsrv_listen(s->hs, "http://127.0.0.1:0"), 0);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", httpsrv_port(s->hs));
}

static void on_srv_closed(void *arg)
{
    ((struct srv *)arg)->closed = 1;
}

/* Closes the server (if still open), drains the loop and checks nothing is left. */
static void srv_stop(struct srv *s)
{
    if (s->hs) {
        httpsrv_close(s->hs, on_srv_closed, s);
        s->hs = NULL;
    }
    tu_drain(&s->loop);
    assert_int_equal(s->closed, 1);
    assert_int_equal(s->nheld, 0);
    assert_int_equal(grpc_server_stats(s->grpc)->calls_active, 0);
    grpc_server_free(s->grpc);
    assert_int_equal(uv_loop_close(&s->loop), 0);
}

static struct h2c *open_client(struct srv *s, const struct h2c_limits *lim, struct tu_events *ev)
{
    struct h2c *c = NULL;
    char err[256];
    assert_int_equal(
        h2c_open(&s->loop, s->url, lim, ev ? tu_on_event : NULL, ev, &c, err, sizeof err), 0);
    assert_non_null(c);
    return c;
}

static void close_client(struct srv *s, struct h2c *c)
{
    int closed = 0;
    tu_in_api = true;
    h2c_close(c, tu_on_closed, &closed);
    tu_in_api = false;
    assert_int_equal(closed, 0); /* released later, from the loop */
    tu_run_until(&s->loop, tu_int_set, &closed);
    assert_int_equal(closed, 1);
}

/* ---- tests ---- */

struct many {
    struct tu_reply r[200];
};

static bool all_replied(void *arg)
{
    struct many *m = arg;
    for (size_t i = 0; i < sizeof m->r / sizeof m->r[0]; i++)
        if (m->r[i].n == 0) return false;
    return true;
}

/* Many concurrent calls of varied sizes on one connection, started before it is up: every
 * reply is the exact echo, once. */
static void test_echo_many(void **state)
{
    struct srv s;
    srv_start(&s);
    struct tu_events ev = {0};
    struct h2c *c = open_client(&s, NULL, &ev);
    static struct many m;
    memset(&m, 0, sizeof m);
    size_t n = sizeof m.r / sizeof m.r[0];
    uint8_t *body = malloc(200 * 1000 + 1);
    assert_non_null(body);
    for (size_t i = 0; i < 200 * 1000 + 1; i++) body[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tu_call(c, "/t.S/Echo", body, i * 1000 + (i % 3), NULL, &m.r[i]), 0);
    assert_int_equal(h2c_calls(c), n);
    tu_run_until(&s.loop, all_replied, &m);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(m.r[i].n, 1);
        assert_int_equal(m.r[i].err, 0);
        assert_int_equal(m.r[i].code, 0);
        assert_true(m.r[i].sent);
        assert_int_equal(m.r[i].msg_len, i * 1000 + (i % 3));
        assert_memory_equal(m.r[i].msg, body, m.r[i].msg_len);
        tu_reply_free(&m.r[i]);
    }
    assert_int_equal(ev.ready, 1);
    assert_int_equal(ev.failed, 0);
    assert_true(h2c_usable(c));
    free(body);
    close_client(&s, c);
    srv_stop(&s);
}

/* A server status arrives as the server sent it (grpc-message percent-decoded). */
static void test_status_relayed(void **state)
{
    struct srv s;
    srv_start(&s);
    struct h2c *c = open_client(&s, NULL, NULL);
    struct tu_reply r = {0}, u = {0};
    assert_int_equal(tu_call(c, "/t.S/Fail", "x", 1, NULL, &r), 0);
    assert_int_equal(tu_call(c, "/t.S/NoSuchMethod", "", 0, NULL, &u), 0);
    tu_run_until(&s.loop, tu_replied, &r);
    tu_run_until(&s.loop, tu_replied, &u);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.code, GRPC_FAILED_PRECONDITION);
    assert_string_equal(r.message, FAIL_MSG);
    assert_null(r.msg);
    assert_int_equal(u.err, 0);
    assert_int_equal(u.code, GRPC_UNIMPLEMENTED);
    close_client(&s, c);
    srv_stop(&s);
}

/* Metadata and grpc-timeout reach the server; bad metadata and paths are refused up front. */
static void test_metadata_and_timeout(void **state)
{
    struct srv s;
    srv_start(&s);
    struct h2c *c = open_client(&s, NULL, NULL);
    struct h2c_md md[] = {{"x-test", "abc def"}};
    struct h2c_call_opts o = {.timeout_ms = 7000, .md = md, .n_md = 1};
    struct tu_reply r = {0}, big = {0};
    assert_int_equal(tu_call(c, "/t.S/Meta", "", 0, &o, &r), 0);
    /* Beyond grpc-timeout's 8 digits of milliseconds it is sent in seconds. */
    struct h2c_call_opts ob = {.timeout_ms = 200000000ull};
    assert_int_equal(tu_call(c, "/t.S/Meta", "", 0, &ob, &big), 0);
    tu_run_until(&s.loop, tu_replied, &r);
    tu_run_until(&s.loop, tu_replied, &big);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.msg_len, strlen("x=abc def;t=7000"));
    assert_memory_equal(r.msg, "x=abc def;t=7000", r.msg_len);
    assert_int_equal(big.code, 0);
    assert_memory_equal(big.msg, "x=;t=200000000", big.msg_len);
    tu_reply_free(&r);
    tu_reply_free(&big);

    struct tu_reply never = {0};
    struct h2c_md upper[] = {{"X-Test", "v"}}, crlf[] = {{"x-test", "a\r\nb: c"}},
                  reserved[] = {{"te", "x"}};
    struct h2c_md many[H2C_MAX_METADATA + 1];
    for (int i = 0; i <= H2C_MAX_METADATA; i++) many[i] = (struct h2c_md){"x-a", "b"};
    const struct h2c_md *bad[] = {upper, crlf, reserved};
    for (int i = 0; i < 3; i++) {
        struct h2c_call_opts ob2 = {.md = bad[i], .n_md = 1};
        assert_int_equal(tu_call(c, "/t.S/Meta", "", 0, &ob2, &never), CC_EINVAL);
    }
    struct h2c_call_opts om = {.md = many, .n_md = H2C_MAX_METADATA + 1};
    assert_int_equal(tu_call(c, "/t.S/Meta", "", 0, &om, &never), CC_EINVAL);
    assert_int_equal(tu_call(c, "t.S/Meta", "", 0, NULL, &never), CC_EINVAL);
    close_client(&s, c);
    assert_int_equal(never.n, 0); /* refused calls never reply */
    srv_stop(&s);
}

static bool server_saw_cancel(void *arg)
{
    return ((struct srv *)arg)->cancels >= 1;
}

static bool none_held(void *arg)
{
    return ((struct srv *)arg)->nheld == 0;
}

static bool three_held(void *arg)
{
    return ((struct srv *)arg)->nheld >= 3;
}

/* A call to start once the connection has room (h2c_call says CC_EBUSY until then). */
struct pending_call {
    struct h2c *c;
    const char *path;
    const void *body;
    size_t len;
    struct tu_reply *r;
};

static bool started(void *arg)
{
    struct pending_call *p = arg;
    int rc = tu_call(p->c, p->path, p->body, p->len, NULL, p->r);
    if (rc == CC_EBUSY) return false;
    assert_int_equal(rc, 0);
    return true;
}

/* A call past its deadline fails here (DEADLINE_EXCEEDED) and the server hears the reset; a
 * cancelled call fails with CANCELLED; neither reply runs inside an h2c_* function. */
static void test_deadline_and_cancel(void **state)
{
    struct srv s;
    srv_start(&s);
    struct h2c *c = open_client(&s, NULL, NULL);
    struct h2c_call_opts o = {.timeout_ms = 150};
    struct tu_reply r = {0}, k = {0}, ok = {0};
    assert_int_equal(tu_call(c, "/t.S/Hold", "", 0, &o, &r), 0);
    tu_run_until(&s.loop, tu_replied, &r);
    assert_int_equal(r.code, GRPC_DEADLINE_EXCEEDED);
    assert_int_equal(r.err, CC_ETIMEDOUT);
    assert_true(r.sent);
    tu_run_until(&s.loop, server_saw_cancel, &s);

    int32_t id = 0;
    tu_in_api = true;
    assert_int_equal(h2c_call(c, "/t.S/Hold", NULL, 0, NULL, tu_on_reply, &k, &id), 0);
    assert_true(id > 0);
    h2c_cancel(c, id);
    h2c_cancel(c, id);     /* twice: ignored */
    h2c_cancel(c, 999999); /* unknown: ignored */
    tu_in_api = false;
    tu_run_until(&s.loop, tu_replied, &k);
    assert_int_equal(k.code, GRPC_CANCELLED);
    assert_int_equal(k.err, CC_ECANCELED);
    assert_int_equal(k.stream_id, id);
    /* The connection is still good. */
    assert_int_equal(tu_call(c, "/t.S/Echo", "hi", 2, NULL, &ok), 0);
    tu_run_until(&s.loop, tu_replied, &ok);
    assert_int_equal(ok.code, 0);
    assert_memory_equal(ok.msg, "hi", 2);
    tu_reply_free(&ok);
    assert_int_equal(r.n + k.n + ok.n, 3);
    close_client(&s, c);
    srv_stop(&s);
}

/* Limits: calls alive, request size, response size, and the connection survives them. */
static void test_limits(void **state)
{
    struct srv s;
    srv_start(&s);
    struct h2c_limits lim;
    h2c_limits_default(&lim);
    lim.max_calls = 3;
    lim.max_request_bytes = 100;
    lim.max_response_bytes = 1000;
    struct h2c *c = open_client(&s, &lim, NULL);
    uint8_t body[101] = {0};
    struct tu_reply h[3] = {{0}}, big = {0}, ok = {0}, never = {0};
    assert_int_equal(tu_call(c, "/t.S/Echo", body, 101, NULL, &never), CC_ETOOBIG);
    int32_t first = 0;
    assert_int_equal(h2c_call(c, "/t.S/Hold", NULL, 0, NULL, tu_on_reply, &h[0], &first), 0);
    for (int i = 1; i < 3; i++) assert_int_equal(tu_call(c, "/t.S/Hold", "", 0, NULL, &h[i]), 0);
    assert_int_equal(tu_call(c, "/t.S/Echo", "", 0, NULL, &never), CC_EBUSY);
    h2c_cancel(c, first);
    tu_run_until(&s.loop, tu_replied, &h[0]);
    assert_int_equal(h[0].err, CC_ECANCELED);
    /* The cancelled call leaves once its stream has closed; then a slot is free. */
    struct pending_call p1 = {c, "/t.S/Big", "\0\0\x07\xd0", 4, &big};
    tu_run_until(&s.loop, started, &p1);
    tu_run_until(&s.loop, tu_replied, &big);
    assert_int_equal(big.code, GRPC_RESOURCE_EXHAUSTED);
    assert_int_equal(big.err, CC_ETOOBIG);
    struct pending_call p2 = {c, "/t.S/Big", "\0\0\x03\xe8", 4, &ok};
    tu_run_until(&s.loop, started, &p2);
    tu_run_until(&s.loop, tu_replied, &ok);
    assert_int_equal(ok.code, 0);
    assert_int_equal(ok.msg_len, 1000);
    tu_reply_free(&ok);
    assert_true(h2c_usable(c));
    close_client(&s, c); /* the two held calls are answered by the close */
    for (int i = 1; i < 3; i++) {
        assert_int_equal(h[i].n, 1);
        assert_int_equal(h[i].err, CC_ECANCELED);
    }
    assert_int_equal(never.n, 0);
    srv_stop(&s);
}

struct close_in_reply {
    struct h2c *c;
    struct tu_reply first;
    struct tu_reply held[5];
    int closed;
};

static void close_from_reply(void *ud, const struct h2c_reply *r)
{
    struct close_in_reply *x = ud;
    tu_on_reply(&x->first, r);
    h2c_close(x->c, tu_on_closed, &x->closed); /* from inside a reply, calls still running */
    assert_int_equal(x->closed, 0);
}

/* Closing with calls in flight (from a reply callback): every running call is answered
 * CANCELLED once, then the memory goes and the close callback runs. */
static void test_close_in_flight(void **state)
{
    struct srv s;
    srv_start(&s);
    struct close_in_reply x;
    memset(&x, 0, sizeof x);
    x.c = open_client(&s, NULL, NULL);
    for (int i = 0; i < 5; i++)
        assert_int_equal(tu_call(x.c, "/t.S/Hold", "", 0, NULL, &x.held[i]), 0);
    assert_int_equal(
        h2c_call(x.c, "/t.S/Echo", (const uint8_t *)"z", 1, NULL, close_from_reply, &x, NULL), 0);
    tu_run_until(&s.loop, tu_int_set, &x.closed);
    assert_int_equal(x.first.n, 1);
    assert_int_equal(x.first.code, 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(x.held[i].n, 1);
        assert_int_equal(x.held[i].code, GRPC_CANCELLED);
        assert_int_equal(x.held[i].err, CC_ECANCELED);
    }
    tu_reply_free(&x.first);
    /* The server hears the connection go and cancels the held calls. */
    tu_run_until(&s.loop, none_held, &s);
    srv_stop(&s);

    /* Closing right after opening (the name lookup still running) and closing NULL. */
    srv_start(&s);
    struct h2c *c = open_client(&s, NULL, NULL);
    struct tu_reply r = {0};
    assert_int_equal(tu_call(c, "/t.S/Echo", "", 0, NULL, &r), 0);
    close_client(&s, c);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.err, CC_ECANCELED);
    assert_false(r.sent);
    h2c_close(NULL, NULL, NULL);
    srv_stop(&s);
}

/* The server shuts down under running calls: they fail (the connection is gone), the client
 * reports FAILED once and refuses new calls. */
static void test_server_goes_away(void **state)
{
    struct srv s;
    srv_start(&s);
    struct tu_events ev = {0};
    struct h2c *c = open_client(&s, NULL, &ev);
    struct tu_reply warm = {0}, r[3] = {{0}}, never = {0};
    assert_int_equal(tu_call(c, "/t.S/Echo", "", 0, NULL, &warm), 0);
    tu_run_until(&s.loop, tu_replied, &warm);
    tu_reply_free(&warm);
    for (int i = 0; i < 3; i++) assert_int_equal(tu_call(c, "/t.S/Hold", "", 0, NULL, &r[i]), 0);
    tu_run_until(&s.loop, three_held, &s);
    httpsrv_close(s.hs, on_srv_closed, &s);
    s.hs = NULL;
    for (int i = 0; i < 3; i++) {
        tu_run_until(&s.loop, tu_replied, &r[i]);
        assert_int_not_equal(r[i].code, 0);
        assert_int_equal(r[i].err, CC_ECLOSED);
        assert_true(r[i].sent);
    }
    tu_run_until(&s.loop, tu_int_set, &ev.failed);
    assert_int_equal(ev.failed, 1);
    assert_false(h2c_usable(c));
    assert_int_equal(tu_call(c, "/t.S/Echo", "", 0, NULL, &never), CC_ECLOSED);
    close_client(&s, c);
    assert_int_equal(never.n, 0);
    srv_stop(&s);
}

/* Endpoints and limits h2c_open refuses; a name that needs resolving works. */
static void test_open_args(void **state)
{
    struct srv s;
    srv_start(&s);
    struct h2c *c = (struct h2c *)1;
    char err[256];
    const char *bad[] = {
        "https://127.0.0.1:1", "127.0.0.1", "127.0.0.1:", ":80", "[::1]80", "[::1", "host:8o"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(h2c_open(&s.loop, bad[i], NULL, NULL, NULL, &c, err, sizeof err),
                         CC_EINVAL);
        assert_null(c);
        assert_true(strlen(err) > 0);
    }
    struct h2c_limits lim;
    h2c_limits_default(&lim);
    lim.max_calls = 0;
    assert_int_equal(h2c_open(&s.loop, s.url, &lim, NULL, NULL, &c, err, sizeof err), CC_EINVAL);

    char ep[64];
    snprintf(ep, sizeof ep, "localhost:%s/ignored", strrchr(s.url, ':') + 1);
    assert_int_equal(h2c_open(&s.loop, ep, NULL, NULL, NULL, &c, err, sizeof err), 0);
    struct tu_reply r = {0};
    assert_int_equal(tu_call(c, "/t.S/Echo", "ok", 2, NULL, &r), 0);
    tu_run_until(&s.loop, tu_replied, &r);
    /* localhost may resolve to ::1 first, where nothing listens: then the call fails cleanly. */
    if (r.code == 0)
        assert_memory_equal(r.msg, "ok", 2);
    else
        assert_int_equal(r.err, CC_ECLOSED);
    tu_reply_free(&r);
    close_client(&s, c);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_many),
        cmocka_unit_test(test_status_relayed),
        cmocka_unit_test(test_metadata_and_timeout),
        cmocka_unit_test(test_deadline_and_cancel),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_close_in_flight),
        cmocka_unit_test(test_server_goes_away),
        cmocka_unit_test(test_open_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
