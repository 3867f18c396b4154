/* test_http1_parse.c — unit tests for the strict HTTP/1.1 request-head parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/http/http1_parse.h"
#include "api/http/httpsrv.h"
#include "util/err.h"

static struct http1_limits lim;
static struct http1_request req;

/* Parses s as one whole head; returns the status for a refusal, 0 for success, -1 when the
 * head is incomplete. */
static int parse(const char *s)
{
    size_t scanned = 0;
    size_t hl = http1_find_head_end((const uint8_t *)s, strlen(s), &scanned);
    if (!hl) return -1;
    int status = 0;
    int rc = http1_parse_head((const uint8_t *)s, hl, &lim, &req, &status);
    if (rc == 0) return 0;
    assert_int_equal(rc, CC_EPROTO);
    assert_true(status >= 400);
    return status;
}

static int setup(void **state)
{
    (void)state;
    http1_limits_default(&lim);
    return 0;
}

static void test_simple_requests(void **state)
{
    (void)state;
    assert_int_equal(parse("GET /health?x=1 HTTP/1.1\r\nHost: a\r\nX-A:  v w \r\n\r\n"), 0);
    assert_true(http1_slice_eq(req.method, "get") && req.method.n == 3);
    assert_int_equal(req.target.n, strlen("/health?x=1"));
    assert_memory_equal(req.target.p, "/health?x=1", req.target.n);
    assert_int_equal(req.minor, 1);
    assert_int_equal(req.nfields, 2);
    assert_true(http1_slice_eq(req.fields[1].name, "x-a"));
    assert_int_equal(req.fields[1].value.n, 3); /* "v w": outer whitespace trimmed */
    assert_true(req.keep_alive);
    assert_int_equal(req.content_length, 0);

    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n"), 0);
    assert_false(req.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n"), 0);
    assert_false(req.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
    assert_true(req.keep_alive);
    /* Empty lines before the request line are ignored (RFC 9112 §2.2). */
    assert_int_equal(parse("\r\n\r\nPOST /v3/kv/put HTTP/1.1\r\nHost: a\r\n"
                           "Content-Length: 12\r\nContent-Length: 12\r\n\r\n"),
                     0);
    assert_int_equal(req.skipped, 4);
    assert_int_equal(req.content_length, 12);
    /* Absolute-form is reduced to its path; "*" only for OPTIONS. */
    assert_int_equal(parse("GET http://h:1/a/b HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    assert_int_equal(req.target.n, 4);
    assert_int_equal(parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    assert_int_equal(parse("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_int_equal(parse("POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                           "Content-Length: 5\r\n\r\n"),
                     0);
    assert_true(req.expect_continue);
    /* Regression: every field is reset between requests (a stale Content-Length once leaked
     * into the next pipelined request). */
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    assert_int_equal(req.content_length, 0);
    assert_false(req.expect_continue);
    /* obs-text in values is allowed. */
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\nX: \xc3\xbc\r\n\r\n"), 0);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", 400},                       /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400}, /* two Hosts */
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400},
        {"GET / http/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400}, /* double space */
        {"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},            /* space before ':' */
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},  /* obs-fold */
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", 400}, /* control char */
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400},  /* bare LF */
        {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4194305\r\n\r\n", 413},
        {"POST / HTTP/1.1\r\nHost: a\r\nExpect: bananas\r\n\r\n", 417},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = parse(cases[i].req);
        if (got != cases[i].status) fail_msg("case %zu: got %d want %d", i, got, cases[i].status);
    }
}

static void test_limits(void **state)
{
    (void)state;
    char big[40000];
    int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 64; i++) n += snprintf(big + n, sizeof(big) - (size_t)n, "X%d: v\r\n", i);
    snprintf(big + n, sizeof(big) - (size_t)n, "\r\n");
    assert_int_equal(parse(big), 431); /* 65 fields > 64 */
    n = snprintf(big, sizeof(big), "GET /");
    memset(big + n, 'a', 17000);
    snprintf(big + n + 17000, sizeof(big) - (size_t)n - 17000, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(parse(big), 431);
    lim.max_body_bytes = 10;
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"), 413);
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"), 0);
    http1_limits_default(&lim);
}

static void test_incremental_head_end(void **state)
{
    (void)state;
    const char *s = "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
    size_t total = strlen(s), want = strlen("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    size_t scanned = 0, found = 0;
    for (size_t len = 0; len <= total && !found; len++)
        found = http1_find_head_end((const uint8_t *)s, len, &scanned);
    assert_int_equal(found, want);
    /* Only empty lines so far: not a head. */
    scanned = 0;
    assert_int_equal(http1_find_head_end((const uint8_t *)"\r\n\r\n\r\n", 6, &scanned), 0);
}

static void test_client_urls(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host;
        int port;
    } ok[] = {{"http://127.0.0.1:2379", "127.0.0.1", 2379},
              {"127.0.0.1:0", "127.0.0.1", 0},
              {"http://[::1]:2379", "::1", 2379},
              {"http://localhost:2379/", "127.0.0.1", 2379},
              {"http://0.0.0.0:65535", "0.0.0.0", 65535}};
    char host[64];
    int port;
    const char *why;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(httpsrv_parse_url(ok[i].url, host, sizeof(host), &port, &why), 0);
        assert_string_equal(host, ok[i].host);
        assert_int_equal(port, ok[i].port);
    }
    static const char *bad[] = {"https://127.0.0.1:2379", "http://127.0.0.1",   "http://:2379",
                                "http://1.2.3.4:65536",   "http://1.2.3.4:12x", "http://[::1:2379",
                                "http://1.2.3.4:2379/v3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(httpsrv_parse_url(bad[i], host, sizeof(host), &port, &why), CC_EINVAL);
    httpsrv_parse_url("https://a:1", host, sizeof(host), &port, &why);
    assert_string_equal(why, "https is not supported (no TLS)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_simple_requests, setup),
        cmocka_unit_test_setup(test_refusals, setup),
        cmocka_unit_test_setup(test_limits, setup),
        cmocka_unit_test_setup(test_incremental_head_end, setup),
        cmocka_unit_test(test_client_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
