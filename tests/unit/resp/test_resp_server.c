/* test_resp_server.c — the RESP server on a real loop, driven over TCP: ordering of
 * asynchronous replies, pipelining, protocol errors, QUIT, limits, back-pressure, shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "resp_harness.h"
#include "util/err.h"

#define T_MS 10000 /* generous deadline for every wait: the machine is shared */

/* Sends `req`, then reads exactly strlen(want) bytes and compares. */
static void roundtrip(int fd, const char *req, size_t req_len, const char *want, size_t want_len)
{
    send_all(fd, req, req_len);
    char *got = malloc(want_len + 1);
    assert_non_null(got);
    int eof;
    size_t n = recv_n(fd, got, want_len, T_MS, &eof);
    got[n] = '\0';
    if (n != want_len || memcmp(got, want, want_len) != 0)
        fail_msg("got %zu bytes \"%s\", want \"%s\"", n, got, want);
    free(got);
}

#define RT(fd, req, want) roundtrip((fd), (req), sizeof(req) - 1, (want), sizeof(want) - 1)

/* Sends req, half-closes, and expects exactly `want` followed by EOF. */
static void expect_closed(int port, const char *req, size_t req_len, const char *want,
                          size_t want_len)
{
    int fd = tcp_connect(port);
    send_all(fd, req, req_len);
    size_t n;
    int timed_out;
    char *got = recv_to_eof(fd, &n, T_MS, &timed_out);
    assert_false(timed_out);
    if (n != want_len || memcmp(got, want, want_len) != 0)
        fail_msg("got \"%s\", want \"%s\"", got, want);
    free(got);
    close(fd);
}

#define CLOSED(port, req, want)                                                                    \
    expect_closed((port), (req), sizeof(req) - 1, (want), sizeof(want) - 1)

static void test_basic_and_errors(void **state)
{
    (void)state;
    struct harness h;
    harness_start(&h, NULL);
    int fd = tcp_connect(h.port);
    RT(fd, "PING\r\n", "+PONG\r\n");
    RT(fd, "*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n", "$2\r\nhi\r\n");
    RT(fd, "ECHO \"a\\x00b\"\r\n", "$3\r\na\0b\r\n");
    RT(fd, "FOO a b\r\n", "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n");
    RT(fd, "ECHO\r\n", "-ERR wrong number of arguments for 'echo' command\r\n");
    RT(fd, "PING a b\r\n", "-ERR wrong number of arguments for 'ping' command\r\n");
    RT(fd, "client setname\r\n", "-ERR wrong number of arguments for 'client|setname' command\r\n");
    RT(fd, "CLIENT\r\n", "-ERR wrong number of arguments for 'client' command\r\n");
    RT(fd, "CLIENT NOPE\r\n", "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n");
    RT(fd, "SELECT 0\r\nSELECT 1\r\nSELECT x\r\n",
       "+OK\r\n-ERR DB index is out of range\r\n-ERR value is not an integer or out of range\r\n");
    RT(fd, "HELLO 3\r\n", "-NOPROTO unsupported protocol version\r\n");
    RT(fd, "CLIENT GETNAME\r\nCLIENT SETNAME conn-1\r\nCLIENT GETNAME\r\n",
       "$-1\r\n+OK\r\n$6\r\nconn-1\r\n");
    RT(fd, "CLIENT SETNAME \"a b\"\r\n",
       "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    RT(fd, "READONLY\r\nREADWRITE\r\n", "+OK\r\n+OK\r\n");
    RT(fd, "COMMAND GETKEYS ECHO x\r\n", "-ERR The command has no key arguments\r\n");
    close(fd);
    harness_stop(&h, 0);
}

static void test_pipeline_1000_and_bytewise(void **state)
{
    (void)state;
    struct harness h;
    harness_start(&h, NULL);
    int fd = tcp_connect(h.port);
    size_t cap = 1000 * 40;
    char *req = malloc(cap), *want = malloc(cap);
    size_t rn = 0, wn = 0;
    for (int i = 0; i < 1000; i++) {
        char v[16];
        int n = snprintf(v, sizeof(v), "v%d", i);
        rn += (size_t)snprintf(req + rn, cap - rn, "*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n", n, v);
        wn += (size_t)snprintf(want + wn, cap - wn, "$%d\r\n%s\r\n", n, v);
    }
    roundtrip(fd, req, rn, want, wn); /* one write, 1000 commands */
    free(req);
    free(want);
    /* A command arriving one byte per send. */
    static const char one[] = "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n";
    for (size_t i = 0; i < sizeof(one) - 1; i++) send_all(fd, one + i, 1);
    RT(fd, "", "$5\r\nhello\r\n");
    close(fd);
    harness_stop(&h, 0);
}

/* Completions arrive in the order c, b, a (timers), replies still go out a, b, c. */
static void test_async_out_of_order(void **state)
{
    (void)state;
    struct harness h;
    harness_start(&h, NULL);
    int fd = tcp_connect(h.port);
    RT(fd,
       "TEST.DELAY 300 a\r\nTEST.DELAY 150 b\r\nTEST.DELAY 0 c\r\nPING\r\nTEST.PARTIAL 100\r\n"
       "ECHO d\r\n",
       "$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n+PONG\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nd\r\n");
    long long s[ST_COUNT];
    stats_over(fd, s);
    assert_int_equal(s[ST_INFLIGHT], 1); /* TEST.STATS itself */
    assert_int_equal(s[ST_DELAYS_DONE], 4);
    assert_true(s[ST_PEAK_PENDING] >= 3);
    close(fd);
    harness_stop(&h, 0);
}

/* Replies leave in request order whatever order the commands complete in. */
static void test_hold_release_order(void **state)
{
    (void)state;
    struct harness h;
    harness_start(&h, NULL);
    int a = tcp_connect(h.port), b = tcp_connect(h.port);
    SEND_LIT(a, "TEST.HOLD x\r\nTEST.HOLD y\r\nPING\r\nTEST.HOLD z\r\n");
    wait_stat(h.port, ST_PEAK_PENDING, 3);
    RT(b, "TEST.RELEASE z\r\n", ":1\r\n");
    RT(b, "TEST.RELEASE y\r\n", ":1\r\n");
    RT(b, "TEST.RELEASE x\r\n", ":1\r\n");
    RT(a, "", "$1\r\nx\r\n$1\r\ny\r\n+PONG\r\n$1\r\nz\r\n");
    close(a);
    close(b);
    harness_stop(&h, 0);
}

/* A client that leaves with commands in flight: the later completions are no-ops. */
static void test_disconnect_before_completion(void **state)
{
    (void)state;
    struct harness h;
    harness_start(&h, NULL);
    int a = tcp_connect(h.port);
    SEND_LIT(a, "TEST.HOLD x\r\nTEST.HOLD y\r\nTEST.PARTIAL 300\r\nPING\r\n");
    wait_stat(h.port, ST_PEAK_PENDING, 3);
    close(a);
    wait_stat(h.port, ST_CONNECTED, 1); /* only the asking connection is left */
    wait_stat(h.port, ST_INFLIGHT, 1);  /* the three were detached from the server */
    int b = tcp_connect(h.port);
    RT(b, "TEST.RELEASE y\r\nTEST.RELEASE x\r\n", ":1\r\n:1\r\n");
    long long s[ST_COUNT];
    stats_over(b, s);
    assert_int_equal(s[ST_DETACHED], 2);
    close(b);
    harness_stop(&h, 0); /* ASan's leak check covers the freed contexts */
}

static void test_quit_and_protocol_errors(void **state)
{
    (void)state;
    struct harness h;
    harness_start(&h, NULL);
    CLOSED(h.port, "PING\r\nQUIT\r\nPING\r\n", "+PONG\r\n+OK\r\n");
    /* QUIT waits for earlier asynchronous replies. */
    CLOSED(h.port, "TEST.DELAY 100 a\r\nQUIT\r\nPING\r\n", "$1\r\na\r\n+OK\r\n");
    CLOSED(h.port, "PING\r\n*1\r\n$-2\r\nPING\r\n",
           "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n");
    CLOSED(h.port, "TEST.DELAY 100 a\r\n*x\r\n",
           "$1\r\na\r\n-ERR Protocol error: invalid multibulk length\r\n");
    CLOSED(h.port, "*1\r\nx\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n");
    CLOSED(h.port, "ECHO \"x\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n");
    /* Oversize length: refused at the header, before any data is sent. */
    CLOSED(h.port, "*2\r\n$4\r\nECHO\r\n$8388609\r\n",
           "-ERR Protocol error: invalid bulk length\r\n");
    /* An HTTP request to the Redis port is dropped without a reply, as Redis does. */
    CLOSED(h.port, "POST / HTTP/1.1\r\nHost: x\r\n\r\n", "");
    wait_stat(h.port, ST_PROTOCOL_ERRORS, 5);
    harness_stop(&h, 0);
}

/* EOF frees the connection at once (as redis-server does): replies of commands already run
 * are delivered, in-flight ones are detached. */
static void test_eof_detaches(void **state)
{
    (void)state;
    struct harness h;
    harness_start(&h, NULL);
    int fd = tcp_connect(h.port);
    SEND_LIT(fd, "PING\r\nTEST.HOLD k\r\n");
    wait_stat(h.port, ST_PEAK_PENDING, 1);
    shutdown(fd, SHUT_WR);
    size_t n;
    int timed_out;
    char *got = recv_to_eof(fd, &n, T_MS, &timed_out);
    assert_false(timed_out);
    assert_string_equal(got, "+PONG\r\n");
    free(got);
    close(fd);
    fd = tcp_connect(h.port);
    RT(fd, "TEST.RELEASE k\r\n", ":1\r\n");
    long long s[ST_COUNT];
    stats_over(fd, s);
    assert_int_equal(s[ST_DETACHED], 1);
    close(fd);
    harness_stop(&h, 0);
}

/* At most max_inflight commands reach handlers at once; the rest wait unread. */
static void test_inflight_limit(void **state)
{
    (void)state;
    struct resp_config cfg = {.max_inflight = 4};
    struct harness h;
    harness_start(&h, &cfg);
    int fd = tcp_connect(h.port);
    char req[50 * 32], want[50 * 16];
    size_t rn = 0, wn = 0;
    for (int i = 0; i < 50; i++) {
        rn += (size_t)snprintf(req + rn, sizeof(req) - rn, "TEST.DELAY %d %02d\r\n", i % 3, i);
        wn += (size_t)snprintf(want + wn, sizeof(want) - wn, "$2\r\n%02d\r\n", i);
    }
    roundtrip(fd, req, rn, want, wn);
    long long s[ST_COUNT];
    stats_over(fd, s);
    assert_true(s[ST_PEAK_PENDING] >= 2);
    assert_true(s[ST_PEAK_PENDING] <= 4);
    assert_int_equal(s[ST_DELAYS_DONE], 50);
    assert_true(s[ST_PAUSES] >= 1); /* reading stopped while 4 were in flight */
    close(fd);
    harness_stop(&h, 0);
}

/* Large replies beyond the pause threshold: reading pauses and resumes, nothing is lost;
 * a reply beyond the hard limit disconnects the client. */
static void test_output_backpressure_and_limit(void **state)
{
    (void)state;
    struct resp_config cfg = {.output_pause_bytes = 64 << 10, .max_output_bytes = 1 << 20};
    struct harness h;
    harness_start(&h, &cfg);
    int fd = tcp_connect(h.port);
    enum { N = 200, SIZE = 50000 };
    char req[N * 20];
    size_t rn = 0;
    for (int i = 0; i < N; i++)
        rn += (size_t)snprintf(req + rn, sizeof(req) - rn, "TEST.BIG %d\r\n", SIZE);
    send_all(fd, req, rn);
    static const char head[] = "$50000\r\n";
    size_t one = sizeof(head) - 1 + SIZE + 2;
    char *buf = malloc(one);
    for (int i = 0; i < N; i++) {
        int eof;
        size_t n = recv_n(fd, buf, one, T_MS, &eof);
        if (n != one) fail_msg("reply %d: %zu of %zu bytes", i, n, one);
        assert_memory_equal(buf, head, sizeof(head) - 1);
        for (size_t k = sizeof(head) - 1; k < one - 2; k++)
            if (buf[k] != 'x') fail_msg("reply %d byte %zu", i, k);
        assert_memory_equal(buf + one - 2, "\r\n", 2);
    }
    free(buf);
    RT(fd, "PING\r\n", "+PONG\r\n");
    long long s[ST_COUNT];
    stats_over(fd, s);
    assert_true(s[ST_PAUSES] >= 1); /* 10 MB of replies against a 64 KiB pause threshold */
    assert_int_equal(s[ST_OUTPUT_LIMIT], 0);
    close(fd);
    CLOSED(h.port, "TEST.BIG 2000000\r\n", "");
    wait_stat(h.port, ST_OUTPUT_LIMIT, 1);
    harness_stop(&h, 0);
}

static void test_max_clients(void **state)
{
    (void)state;
    struct resp_config cfg = {.max_clients = 2};
    struct harness h;
    harness_start(&h, &cfg);
    int a = tcp_connect(h.port), b = tcp_connect(h.port);
    RT(a, "PING\r\n", "+PONG\r\n");
    RT(b, "PING\r\n", "+PONG\r\n");
    CLOSED(h.port, "PING\r\n", "-ERR max number of clients reached\r\n");
    close(a);
    long long s[ST_COUNT];
    for (int tries = 0;; tries++) { /* until the server has seen a's close */
        stats_over(b, s);
        if (s[ST_CONNECTED] == 1) break;
        if (tries > 10000) fail_msg("connected_clients stays %lld", s[ST_CONNECTED]);
    }
    assert_int_equal(s[ST_REJECTED], 1);
    int c = tcp_connect(h.port);
    RT(c, "PING\r\n", "+PONG\r\n");
    close(b);
    close(c);
    harness_stop(&h, 0);
}

/* Shutdown with a drain period: the in-flight reply is still delivered, then EOF. */
static void test_drain_shutdown(void **state)
{
    (void)state;
    struct harness h;
    harness_start(&h, NULL);
    int fd = tcp_connect(h.port);
    SEND_LIT(fd, "TEST.DELAY 1000 bye\r\n");
    wait_stat(h.port, ST_PEAK_PENDING, 1);
    harness_stop(&h, 10000);
    size_t n;
    int timed_out;
    char *got = recv_to_eof(fd, &n, T_MS, &timed_out);
    assert_false(timed_out);
    assert_string_equal(got, "$3\r\nbye\r\n");
    free(got);
    close(fd);

    /* Without a drain the client is cut off; the handler completes later, detached. */
    harness_start(&h, NULL);
    fd = tcp_connect(h.port);
    SEND_LIT(fd, "TEST.HOLD bye\r\n");
    wait_stat(h.port, ST_PEAK_PENDING, 1);
    harness_stop(&h, 0);
    got = recv_to_eof(fd, &n, T_MS, &timed_out);
    assert_false(timed_out);
    assert_int_equal(n, 0);
    assert_int_equal(h.detached, 1);
    free(got);
    close(fd);
}

/* Registration rules of the public API. */
static void noop(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    resp_reply_ok(ctx);
    resp_done(ctx);
}

static void test_registration(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct resp_server *srv;
    assert_int_equal(resp_server_create(&srv, &loop, NULL, NULL), 0);
    struct resp_command c = {.name = "get", .arity = 2, .handler = noop};
    assert_int_equal(resp_server_register(srv, &c), 0);
    assert_int_equal(resp_server_register(srv, &c), CC_EEXIST);
    c.name = "ping";
    assert_int_equal(resp_server_register(srv, &c), CC_EEXIST);
    c.name = "GET2";
    assert_int_equal(resp_server_register(srv, &c), CC_EINVAL); /* lowercase only */
    c.name = "a|b|c";
    assert_int_equal(resp_server_register(srv, &c), CC_EINVAL);
    c.name = "x y";
    assert_int_equal(resp_server_register(srv, &c), CC_EINVAL);
    c.name = "zero";
    c.arity = 0;
    assert_int_equal(resp_server_register(srv, &c), CC_EINVAL);
    c.name = "config|get";
    c.arity = -3;
    assert_int_equal(resp_server_register(srv, &c), 0);
    c.name = "config";
    c.handler = NULL;
    assert_int_equal(resp_server_register(srv, &c), 0); /* fills in the implicit container */
    c.name = "nohandler|sub";
    assert_int_equal(resp_server_register(srv, &c), CC_EINVAL);
    char name[16];
    int rc = 0, added = 0;
    c.handler = noop;
    c.arity = 1;
    for (int i = 0; i < RESP_MAX_COMMANDS && rc == 0; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        c.name = name;
        rc = resp_server_register(srv, &c);
        added += rc == 0;
    }
    assert_int_equal(rc, CC_ETOOBIG);
    assert_true(added > 400);
    resp_server_destroy(srv);
    assert_int_equal(uv_loop_close(&loop), 0);
    /* Inconsistent limits are refused. */
    struct resp_config bad = {.parse = {.max_bulk_len = 2 << 20, .max_request_bytes = 1 << 20}};
    assert_int_equal(resp_server_create(&srv, &loop, &bad, NULL), CC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_and_errors),
        cmocka_unit_test(test_pipeline_1000_and_bytewise),
        cmocka_unit_test(test_async_out_of_order),
        cmocka_unit_test(test_hold_release_order),
        cmocka_unit_test(test_disconnect_before_completion),
        cmocka_unit_test(test_quit_and_protocol_errors),
        cmocka_unit_test(test_eof_detaches),
        cmocka_unit_test(test_inflight_limit),
        cmocka_unit_test(test_output_backpressure_and_limit),
        cmocka_unit_test(test_max_clients),
        cmocka_unit_test(test_drain_shutdown),
        cmocka_unit_test(test_registration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
