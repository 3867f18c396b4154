/* test_resp_compat.c — byte-for-byte comparison with a real redis-server 7.0 on the same
 * requests: replies, error texts, protocol errors and when the connection is closed. */
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
#include "util/clock.h"

#define T_MS 15000

static struct harness h;
static pid_t redis_pid;
static int redis_port;

/* Starts redis-server on a probed free port; retries with another port if it does not come
 * up (someone may have taken the port in between). */
static int setup(void **state)
{
    (void)state;
    harness_start(&h, NULL);
    for (int attempt = 0; attempt < 3 && !redis_pid; attempt++) {
        redis_port = probe_free_port();
        char port[16];
        snprintf(port, sizeof(port), "%d", redis_port);
        char *argv[] = {"redis-server", "--port",      port, "--bind",
                        "127.0.0.1",    "--save",      "",   "--appendonly",
                        "no",           "--daemonize", "no", NULL};
        pid_t pid = spawn_bg(argv);
        uint64_t deadline = clock_mono_ms() + 10000;
        while (clock_mono_ms() < deadline) {
            int fd = tcp_connect_try(redis_port);
            if (fd >= 0) {
                close(fd);
                redis_pid = pid;
                break;
            }
            struct timespec ts = {0, 20 * 1000 * 1000}; /* polling a deadline */
            nanosleep(&ts, NULL);
        }
        if (!redis_pid) kill_bg(pid);
    }
    return redis_pid ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kill_bg(redis_pid);
    harness_stop(&h, 0);
    return 0;
}

/* What a server answers to req when the client then half-closes: all bytes until it closes. */
static char *answer(int port, const char *req, size_t len, size_t *n)
{
    int fd = tcp_connect(port);
    send_all(fd, req, len);
    shutdown(fd, SHUT_WR);
    int timed_out;
    char *got = recv_to_eof(fd, n, T_MS, &timed_out);
    close(fd);
    if (timed_out) fail_msg("port %d did not close", port);
    return got;
}

static void print_escaped(const char *tag, const char *p, size_t n)
{
    fprintf(stderr, "%s (%zu bytes): ", tag, n);
    for (size_t i = 0; i < n && i < 400; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f)
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fputc('\n', stderr);
}

static void compare(const char *req, size_t len)
{
    size_t na, nb;
    char *a = answer(redis_port, req, len, &na);
    char *b = answer(h.port, req, len, &nb);
    if (na != nb || memcmp(a, b, na) != 0) {
        print_escaped("request", req, len);
        print_escaped("redis-server", a, na);
        print_escaped("concur", b, nb);
        fail_msg("replies differ");
    }
    free(a);
    free(b);
}

#define CMP(lit) compare((lit), sizeof(lit) - 1)

static void test_commands_and_errors(void **state)
{
    (void)state;
    CMP("PING\r\n");
    CMP("PING hello\r\n");
    CMP("*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n");
    CMP("*2\r\n$4\r\nECHO\r\n$3\r\na\0b\r\n");
    CMP("ECHO\r\nECHO a b\r\nPING a b\r\n");
    CMP("FOO a b\r\n");
    CMP("foo\r\n");
    CMP("*2\r\n$5\r\nA\r\nB\n\r\n$3\r\nx\ny\r\n");
    CMP("*1\r\n$1\r\n\0\r\n");
    CMP("*3\r\n$3\r\nFOO\r\n$3\r\na\0b\r\n$1\r\nc\r\n");
    CMP("CLIENT\r\nCLIENT FOO\r\nCOMMAND FOO\r\n");
    CMP("CLIENT SETNAME\r\nCLIENT SETNAME a b\r\nCLIENT SETNAME \"a b\"\r\nCLIENT ID x\r\n");
    CMP("CLIENT GETNAME\r\nCLIENT SETNAME n1\r\nCLIENT GETNAME\r\nCLIENT SETNAME \"\"\r\n"
        "CLIENT GETNAME\r\n");
    CMP("SELECT 0\r\nSELECT x\r\nSELECT 99999999999\r\nSELECT\r\nSELECT -1\r\n");
    CMP("HELLO 4\r\nHELLO x\r\nHELLO 2 FOO\r\nHELLO 1\r\n");
    CMP("AUTH x\r\nAUTH a b\r\nAUTH default x\r\nAUTH a b c d\r\n");
    CMP("COMMAND GETKEYS ECHO x\r\nCOMMAND GETKEYS FOO x\r\nCOMMAND GETKEYS PING\r\n");
    CMP("COMMAND COUNT x\r\nCOMMAND LIST FILTERBY x y\r\nCOMMAND LIST FILTERBY MODULE m\r\n");
    CMP("COMMAND LIST extra\r\nCOMMAND DOCS nosuch\r\nCOMMAND INFO nosuch\r\n");
    CMP("QUIT\r\n");
    CMP("PING\r\nQUIT\r\nPING\r\n");
    CMP("QUIT extra\r\n");
}

static void test_unknown_command_truncation(void **state)
{
    (void)state;
    char req[1024];
    char a[101], b[101], name[201];
    memset(a, 'a', 100), a[100] = 0;
    memset(b, 'b', 100), b[100] = 0;
    memset(name, 'n', 200), name[200] = 0;
    int n = snprintf(req, sizeof(req), "FOO %s %s c\r\n", a, b);
    compare(req, (size_t)n);
    n = snprintf(req, sizeof(req), "%s x\r\n", name);
    compare(req, (size_t)n);
    n = snprintf(req, sizeof(req), "CLIENT %s\r\n", name);
    compare(req, (size_t)n);
    n = snprintf(req, sizeof(req), "FOO %.120s xy z\r\n", name);
    compare(req, (size_t)n);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    CMP("*x\r\n");
    CMP("*1\r\nx\r\n");
    CMP("*1\r\n\r\n");
    CMP("*1\r\n$-1\r\n");
    CMP("*1\r\n$x\r\n");
    CMP("*3000000000\r\n");
    CMP("*1\r\n*1\r\n");
    CMP("*1\r\n$1234567890123456789012\r\n");
    CMP("SET \"a\"b\r\n");
    CMP("\"x\r\n");
    CMP("'x\r\n");
    CMP("PING\r\n*1\r\n$-2\r\n");
    CMP("host: x\r\n");
    CMP("POST / HTTP/1.1\r\n");
    size_t big = 70000;
    char *s = malloc(big + 8);
    memset(s, 'x', big);
    compare(s, big);
    s[0] = '*';
    memset(s + 1, '1', big - 1);
    compare(s, big);
    memcpy(s, "*1\r\n$", 5);
    compare(s, big);
    free(s);
}

static void test_inline_forms(void **state)
{
    (void)state;
    CMP("ECHO \"\\x41\\n\"\r\n");
    CMP("ECHO 'a\\'b'\r\n");
    CMP("\r\n  \r\nPING\r\n");
    CMP("PING\n");
    CMP("*0\r\nPING\r\n");
    CMP("*-5\r\nPING\r\n");
    CMP("ECHO ab\"c d\"\r\n");
    CMP("\t ECHO\t x \r\n");
}

/* redis-cli prints the same thing for both servers. */
static void test_redis_cli_same_output(void **state)
{
    (void)state;
    static const char input[] = "PING\nECHO x\nFOO bar\nCLIENT GETNAME\nCLIENT SETNAME a\n"
                                "CLIENT GETNAME\nCLIENT NOPE\nECHO\nSELECT 0\n";
    char *out[2];
    int ports[2] = {redis_port, h.port};
    for (int i = 0; i < 2; i++) {
        char port[16];
        snprintf(port, sizeof(port), "%d", ports[i]);
        char *argv[] = {"redis-cli", "-h", "127.0.0.1", "-p", port, NULL};
        int st = run_proc(argv, input, sizeof(input) - 1, 60000, &out[i], NULL);
        assert_int_equal(st, 0);
    }
    assert_string_equal(out[1], out[0]);
    free(out[0]);
    free(out[1]);
}

int main(void)
{
    if (access("/usr/bin/redis-server", X_OK) != 0) {
        fprintf(stderr, "redis-server missing: install redis-server\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_and_errors),
        cmocka_unit_test(test_unknown_command_truncation),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_inline_forms),
        cmocka_unit_test(test_redis_cli_same_output),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
