/* test_resp_clients.c — the RESP server driven by real clients: Debian's redis-cli
 * (redis-tools 7.0) and /usr/bin/python3 with python3-redis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "resp_harness.h"

#define PROC_MS 60000 /* deadline for one client process on a loaded machine */

static struct harness h;
static char port_str[16];

static int setup(void **state)
{
    (void)state;
    harness_start(&h, NULL);
    snprintf(port_str, sizeof(port_str), "%d", h.port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    harness_stop(&h, 0);
    return 0;
}

/* Runs redis-cli against the test server with the NULL-terminated extra arguments and
 * stdin; returns its output. */
static char *cli(const char *input, int *status, ...)
{
    char *argv[16] = {"redis-cli", "-h", "127.0.0.1", "-p", port_str};
    int n = 5;
    va_list ap;
    va_start(ap, status);
    for (char *a; n < 15 && (a = va_arg(ap, char *)) != NULL;) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char *out;
    *status = run_proc(argv, input, input ? strlen(input) : 0, PROC_MS, &out, NULL);
    return out;
}

#define EXPECT_CLI(want, ...)                                                                      \
    do {                                                                                           \
        int st_;                                                                                   \
        char *o_ = cli(NULL, &st_, __VA_ARGS__, (char *)NULL);                                     \
        assert_int_equal(st_, 0);                                                                  \
        assert_string_equal(o_, (want));                                                           \
        free(o_);                                                                                  \
    } while (0)

static void test_redis_cli_commands(void **state)
{
    (void)state;
    EXPECT_CLI("PONG\n", "PING");
    EXPECT_CLI("hello world\n", "ECHO", "hello world");
    EXPECT_CLI("ERR unknown command 'FOO', with args beginning with: 'a' 'b' \n\n", "FOO", "a",
               "b");
    EXPECT_CLI("ERR wrong number of arguments for 'echo' command\n\n", "ECHO");
    EXPECT_CLI("ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\n\n", "CLIENT", "NOPE");
    EXPECT_CLI("late\n", "TEST.DELAY", "50", "late");
    EXPECT_CLI("OK\n", "QUIT");
    int st;
    char *o = cli(NULL, &st, "CLIENT", "LIST", (char *)NULL);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "cmd=client|list"));
    free(o);
    o = cli(NULL, &st, "COMMAND", "COUNT", (char *)NULL);
    assert_int_equal(st, 0);
    assert_true(atoi(o) >= 10);
    free(o);
    /* -n 1 makes redis-cli send SELECT 1 first: refused with Redis's text. */
    o = cli(NULL, &st, "-n", "1", "PING", (char *)NULL);
    assert_non_null(strstr(o, "SELECT 1 failed: ERR DB index is out of range"));
    free(o);
}

/* With commands on stdin redis-cli starts its REPL: it first fetches COMMAND DOCS to build its
 * help (and asserts on its shape), then runs each line. */
static void test_redis_cli_repl_and_help(void **state)
{
    (void)state;
    int st;
    char *o = cli("PING\nECHO x\nTEST.DELAY 20 a\nCLIENT SETNAME cli\nCLIENT GETNAME\nFOO bar\n"
                  "SELECT 0\n",
                  &st, (char *)NULL);
    assert_int_equal(st, 0);
    assert_string_equal(o, "PONG\nx\na\nOK\ncli\nERR unknown command 'FOO', with args "
                           "beginning with: 'bar' \n\nOK\n");
    free(o);
    o = cli(NULL, &st, "help", "ping", (char *)NULL);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "Ping the server"));
    assert_non_null(strstr(o, "connection"));
    free(o);
    o = cli(NULL, &st, "help", "client", "setname", (char *)NULL);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "Set the current connection name"));
    free(o);
}

/* redis-cli --pipe: a stream of raw RESP, 1000 commands plus asynchronous ones, counted back. */
static void test_redis_cli_pipe(void **state)
{
    (void)state;
    size_t cap = 64 * 1024, n = 0;
    char *in = malloc(cap);
    for (int i = 0; i < 1000; i++) {
        if (i % 100 == 0)
            n += (size_t)snprintf(in + n, cap - n,
                                  "*3\r\n$10\r\nTEST.DELAY\r\n$1\r\n%d\r\n$1\r\nx\r\n", i % 7);
        else
            n += (size_t)snprintf(in + n, cap - n, "*1\r\n$4\r\nPING\r\n");
    }
    char *argv[] = {"redis-cli", "-h", "127.0.0.1", "-p", port_str, "--pipe", NULL};
    char *out;
    int st = run_proc(argv, in, n, PROC_MS, &out, NULL);
    assert_int_equal(st, 0);
    if (!strstr(out, "errors: 0, replies: 1000")) fail_msg("redis-cli --pipe said: %s", out);
    free(out);
    free(in);
}

static const char py_script[] =
    "import sys, redis\n"
    "r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]), socket_timeout=30)\n"
    "def err(f):\n"
    "    try:\n"
    "        f()\n"
    "    except redis.ResponseError as e:\n"
    "        return str(e)\n"
    "    raise AssertionError('no error')\n"
    "assert r.ping() is True\n"
    "assert r.echo('hello') == b'hello'\n"
    "assert r.echo(b'\\x00\\r\\nbin') == b'\\x00\\r\\nbin'\n"
    "e = err(lambda: r.execute_command('FOO', 'a', 'b'))\n"
    "assert e == \"unknown command 'FOO', with args beginning with: 'a' 'b' \", e\n"
    "e = err(lambda: r.execute_command('ECHO'))\n"
    "assert e == \"wrong number of arguments for 'echo' command\", e\n"
    "assert err(lambda: r.execute_command('SELECT', 1)) == 'DB index is out of range'\n"
    "assert err(lambda: r.execute_command('HELLO', 3)) == 'NOPROTO unsupported protocol version'\n"
    "assert r.client_setname('py-client') is True\n"
    "assert r.client_getname() == 'py-client'\n"
    "cid = r.client_id()\n"
    "assert isinstance(cid, int) and cid > 0\n"
    "me = [c for c in r.client_list() if c['name'] == 'py-client']\n"
    "assert len(me) == 1 and int(me[0]['id']) == cid and me[0]['db'] == '0', me\n"
    "cmds = r.command()\n"
    "assert cmds['ping']['arity'] == -1 and 'fast' in cmds['ping']['flags'], cmds['ping']\n"
    "assert r.command_count() == len(cmds)\n"
    "p = r.pipeline(transaction=False)\n"
    "for i in range(1000):\n"
    "    p.echo('v%d' % i)\n"
    "assert p.execute() == [('v%d' % i).encode() for i in range(1000)]\n"
    "p = r.pipeline(transaction=False)\n"
    "p.execute_command('TEST.DELAY', 300, 'a')\n"
    "p.execute_command('TEST.DELAY', 0, 'b')\n"
    "p.execute_command('TEST.DELAY', 100, 'c')\n"
    "p.ping()\n"
    "p.echo('d')\n"
    "p.execute_command('TEST.PARTIAL', 50)\n"
    "res = p.execute()\n"
    "assert res == [b'a', b'b', b'c', True, b'd', [b'a', b'b']], res\n"
    "assert r.execute_command('QUIT') in (True, b'OK', 'OK')\n"
    "print('OK')\n";

static void test_python_redis(void **state)
{
    (void)state;
    char *argv[] = {"/usr/bin/python3", "-c", (char *)py_script, port_str, NULL};
    char *out;
    int st = run_proc(argv, NULL, 0, PROC_MS, &out, NULL);
    if (st != 0 || strcmp(out, "OK\n") != 0) fail_msg("python3 (status %d):\n%s", st, out);
    free(out);
}

int main(void)
{
    if (access("/usr/bin/redis-cli", X_OK) != 0 || access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr,
                "redis-cli or /usr/bin/python3 missing: install redis-tools, python3-redis\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_cli_commands),
        cmocka_unit_test(test_redis_cli_repl_and_help),
        cmocka_unit_test(test_redis_cli_pipe),
        cmocka_unit_test(test_python_redis),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
