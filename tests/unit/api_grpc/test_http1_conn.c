/* test_http1_conn.c — the HTTP/1.1 connection engine in memory: pipelining in order, library
 * answers (404/405/400/411/413/431), 100-continue, keep-alive and close, streamed responses
 * with back-pressure, and cancellation when the client leaves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/http/http.h"
#include "api/http/http1_conn.h"
#include "handlers.h"
#include "util/buf.h"
#include "util/err.h"

struct fixture {
    struct th_state st;
    struct http_router *router;
    struct http1_conn *c;
    struct buf out;
    size_t bound;
    int want;
};

static size_t io_room(void *ctx)
{
    struct fixture *f = ctx;
    return f->out.len < f->bound ? f->bound - f->out.len : 0;
}

static int io_write(void *ctx, const void *p, size_t n)
{
    struct fixture *f = ctx;
    return buf_append(&f->out, p, n) ? CC_ENOMEM : 0;
}

static void io_want(void *ctx)
{
    ((struct fixture *)ctx)->want++;
}

static void new_conn(struct fixture *f, const struct http1_limits *lim)
{
    struct http1_limits l;
    http1_limits_default(&l);
    struct http1_io io = {f, io_room, io_write, io_want};
    assert_int_equal(http1_conn_new(f->router, lim ? lim : &l, &io, &f->c), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(http_router_new(&f->router), 0);
    th_register(&f->st, NULL, f->router);
    buf_init(&f->out, 256u << 20);
    f->bound = 1u << 20;
    new_conn(f, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    http1_conn_free(f->c);
    th_run_deferred(&f->st);
    http_router_free(f->router);
    buf_free(&f->out);
    free(f);
    return 0;
}

static void feed(struct fixture *f, const char *s)
{
    assert_int_equal(http1_conn_recv(f->c, (const uint8_t *)s, strlen(s)), 0);
    http1_conn_process(f->c);
}

/* Takes the output so far as a NUL-terminated string (caller frees). */
static char *take(struct fixture *f)
{
    char *s = malloc(f->out.len + 1);
    memcpy(s, f->out.data, f->out.len);
    s[f->out.len] = 0;
    f->out.len = 0;
    return s;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_pipelining_in_order(void **state)
{
    struct fixture *f = *state;
    feed(f, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde"
            "GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n"
            "PUT /hello HTTP/1.1\r\nHost: a\r\n\r\n"
            "GET /v3/watch?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"
            "POST /v3/kv/range HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}");
    char *out = take(f);
    const char *p1 = strstr(out, "hello world\n");
    const char *p2 = strstr(out, "\r\n\r\nabcde");
    const char *p3 = strstr(out, "HTTP/1.1 404 Not Found");
    const char *p4 = strstr(out, "HTTP/1.1 405 Method Not Allowed");
    const char *p5 = strstr(out, "prefix:/v3/watch?x=1");
    const char *p6 = strstr(out, "{\"exact\":true}");
    assert_true(p1 && p2 && p3 && p4 && p5 && p6);
    assert_true(p1 < p2 && p2 < p3 && p3 < p4 && p4 < p5 && p5 < p6);
    assert_non_null(strstr(out, "Allow: GET\r\n"));
    assert_non_null(strstr(out, "X-Echo-Len: some\r\n"));
    assert_int_equal(count(out, "HTTP/1.1 200 OK"), 4);
    assert_int_equal(count(out, "Connection: close"), 0);
    assert_false(http1_conn_done(f->c));
    assert_true(http1_conn_idle(f->c));
    free(out);
    const struct http_router_stats *rs = http_router_stats(f->router);
    assert_int_equal(rs->not_found, 1);
    assert_int_equal(rs->method_not_allowed, 1);
}

static void test_async_holds_the_pipeline(void **state)
{
    struct fixture *f = *state;
    feed(f, "GET /async HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(f->out.len, 0); /* the second waits for the first */
    assert_false(http1_conn_idle(f->c));
    th_run_deferred(&f->st);
    assert_int_equal(f->want, 1); /* completion asks the transport to process again */
    http1_conn_process(f->c);
    char *out = take(f);
    const char *a = strstr(out, "later\n"), *b = strstr(out, "hello world\n");
    assert_true(a && b && a < b);
    free(out);
}

static void test_async_stream(void **state)
{
    struct fixture *f = *state;
    feed(f, "GET /tick HTTP/1.1\r\nHost: a\r\n\r\n");
    char *out = take(f);
    assert_non_null(strstr(out, "Transfer-Encoding: chunked"));
    free(out);
    int before = f->want;
    th_run_deferred(&f->st);               /* a later callback feeds the stream... */
    assert_int_equal(f->want, before + 1); /* ...and the transport is asked to flush it */
    out = take(f);
    assert_string_equal(out, "5\r\ntick\n\r\n");
    free(out);
    th_run_deferred(&f->st); /* ...and another one ends it */
    out = take(f);
    assert_string_equal(out, "0\r\n\r\n");
    free(out);
    assert_true(http1_conn_idle(f->c));
}

static void test_refusals_close(void **state)
{
    static const struct {
        const char *req;
        const char *status;
    } cases[] = {
        {"\x16\x03\x01garbage\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
         "HTTP/1.1 411 Length Required"},
        {"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n",
         "HTTP/1.1 413 Content Too Large"},
        {"GET / HTTP/3.0\r\nHost: a\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
    };
    struct fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        http1_conn_free(f->c);
        new_conn(f, NULL);
        /* The refused request is followed by one that must never be answered. */
        feed(f, cases[i].req);
        feed(f, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
        char *out = take(f);
        assert_true(strncmp(out, cases[i].status, strlen(cases[i].status)) == 0);
        assert_non_null(strstr(out, "Connection: close\r\n"));
        assert_null(strstr(out, "hello world"));
        assert_true(http1_conn_done(f->c));
        assert_int_equal(http1_conn_read_room(f->c), 0);
        free(out);
    }
    /* A head that never ends is cut at the limit. */
    http1_conn_free(f->c);
    new_conn(f, NULL);
    char big[20000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    memcpy(big, "GET /", 5);
    feed(f, big);
    char *out = take(f);
    assert_true(strncmp(out, "HTTP/1.1 431 ", 13) == 0);
    free(out);
}

static void test_keep_alive_rules(void **state)
{
    struct fixture *f = *state;
    feed(f, "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
            "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    char *out = take(f);
    assert_int_equal(count(out, "hello world"), 1);
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_true(http1_conn_done(f->c));
    free(out);

    http1_conn_free(f->c);
    new_conn(f, NULL);
    feed(f, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.0\r\n\r\n");
    out = take(f);
    assert_int_equal(count(out, "hello world"), 2);
    assert_int_equal(count(out, "Connection: keep-alive\r\n"), 1);
    assert_int_equal(count(out, "Connection: close\r\n"), 1);
    assert_true(http1_conn_done(f->c));
    free(out);

    /* EOF after complete requests: they are answered, then the connection is done. */
    http1_conn_free(f->c);
    new_conn(f, NULL);
    assert_int_equal(
        http1_conn_recv(f->c, (const uint8_t *)"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 32), 0);
    http1_conn_eof(f->c);
    http1_conn_process(f->c);
    out = take(f);
    assert_non_null(strstr(out, "hello world"));
    assert_true(http1_conn_done(f->c));
    free(out);
}

static void test_expect_continue(void **state)
{
    struct fixture *f = *state;
    feed(f, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    char *out = take(f);
    assert_string_equal(out, "HTTP/1.1 100 Continue\r\n\r\n");
    free(out);
    feed(f, "x");
    assert_int_equal(f->out.len, 0); /* said once */
    feed(f, "yz");
    out = take(f);
    assert_non_null(strstr(out, "200 OK"));
    assert_non_null(strstr(out, "\r\n\r\nxyz"));
    free(out);
}

static void test_stream_backpressure_and_cancel(void **state)
{
    struct fixture *f = *state;
    f->bound = 100000;
    feed(f, "GET /stream?n=50&size=10000 HTTP/1.1\r\nHost: a\r\n\r\n");
    /* Stopped at the bound: 10 chunks of 10000 bytes fit before room() said no. */
    assert_true(f->out.len >= f->bound && f->out.len < f->bound + 10100);
    assert_int_equal(atomic_load(&f->st.http_stream_ebusy), 1);
    size_t total = 0;
    char *first = take(f);
    assert_non_null(strstr(first, "Transfer-Encoding: chunked\r\n"));
    total += strlen(first);
    free(first);
    while (!http1_conn_idle(f->c)) {
        http1_conn_process(f->c);
        char *out = take(f);
        total += strlen(out);
        if (http1_conn_idle(f->c)) assert_non_null(strstr(out, "0\r\n\r\n"));
        free(out);
    }
    assert_true(total > 50 * 10000);
    assert_int_equal(atomic_load(&f->st.http_stream_done), 1);
    assert_true(atomic_load(&f->st.http_stream_writable) >= 4);

    /* The client leaves in the middle of a stream: on_cancel, then the connection is done. */
    feed(f, "GET /stream?n=100&size=10000 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_false(http1_conn_idle(f->c));
    http1_conn_eof(f->c);
    assert_int_equal(atomic_load(&f->st.http_stream_cancel), 1);
    assert_true(http1_conn_done(f->c));

    /* HTTP/1.0 streams are close-delimited. */
    http1_conn_free(f->c);
    new_conn(f, NULL);
    f->bound = 1u << 20;
    f->out.len = 0;
    feed(f, "GET /stream?n=3&size=10 HTTP/1.0\r\n\r\n");
    char *out = take(f);
    assert_null(strstr(out, "chunked"));
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_non_null(strstr(out, "aaaaaaaaaabbbbbbbbbbcccccccccc"));
    assert_true(http1_conn_done(f->c));
    free(out);
}

static void never(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    fail();
}

static void test_router_rules(void **state)
{
    struct fixture *f = *state;
    static const struct http_route_ops ops = {.on_request = NULL};
    assert_int_equal(http_router_add(f->router, "GET", "/x", 0, &ops, NULL), CC_EINVAL);
    static const struct http_route_ops ok = {.on_request = never};
    assert_int_equal(http_router_add(f->router, "get", "/x", 0, &ok, NULL), CC_EINVAL);
    assert_int_equal(http_router_add(f->router, "GET", "x", 0, &ok, NULL), CC_EINVAL);
    assert_int_equal(http_router_add(f->router, "GET", "/hello", 0, &ok, NULL), CC_EEXIST);
    assert_int_equal(http_router_route_count(f->router), 7);
    feed(f, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    const char *m, *p;
    int prefix;
    const struct http_route_stats *st;
    http_router_route_at(f->router, 0, &m, &p, &prefix, &st);
    assert_string_equal(p, "/hello");
    assert_int_equal(st->requests, 1);
    assert_int_equal(st->by_class[2], 1);
    assert_int_equal(st->latency_us.count, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipelining_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_holds_the_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_backpressure_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_router_rules, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
