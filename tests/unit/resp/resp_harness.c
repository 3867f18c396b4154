/* resp_harness.c — test support for the RESP server: loop thread, test commands, processes
 * and sockets with deadlines. */
#include "resp_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/clock.h"

/* ---- test commands (loop thread) ---- */

struct delay {
    uv_timer_t timer;
    struct harness *h;
    struct resp_ctx *ctx;
    int partial;
    size_t len;
    char value[];
};

static void delay_closed(uv_handle_t *t)
{
    free(t->data);
}

static void delay_fire(uv_timer_t *t)
{
    struct delay *d = t->data;
    d->h->pending--;
    d->h->delays_done++;
    if (!resp_ctx_conn(d->ctx)) d->h->detached++;
    if (d->partial) {
        resp_reply_bulk_cstr(d->ctx, "a");
        resp_reply_bulk_cstr(d->ctx, "b");
    } else {
        resp_reply_bulk(d->ctx, d->value, d->len);
    }
    resp_done(d->ctx);
    uv_close((uv_handle_t *)t, delay_closed);
}

static void start_delay(struct resp_ctx *ctx, struct harness *h, struct resp_str ms,
                        const struct resp_str *value)
{
    long long n;
    if (resp_str_to_ll(ms, &n) != 0 || n < 0) {
        resp_reply_error(ctx, "bad delay");
        resp_done(ctx);
        return;
    }
    size_t len = value ? value->len : 0;
    struct delay *d = calloc(1, sizeof(*d) + len);
    assert_non_null(d);
    d->h = h;
    d->ctx = ctx;
    d->len = len;
    d->partial = value == NULL;
    if (len) memcpy(d->value, value->p, len); /* argv dies with the handler call */
    uv_timer_init(&h->loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, delay_fire, (uint64_t)n, 0);
    if (++h->pending > h->peak_pending) h->peak_pending = h->pending;
}

static void cmd_delay(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    start_delay(ctx, u, argv[1], &argv[2]);
}

static void cmd_partial(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    resp_reply_array(ctx, 2); /* the header goes out now, the elements later */
    start_delay(ctx, u, argv[1], NULL);
}

static void cmd_big(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    long long n;
    char *p = NULL;
    if (resp_str_to_ll(argv[1], &n) != 0 || n < 0 || n > (1 << 26) ||
        !(p = malloc((size_t)n + 1))) {
        resp_reply_error(ctx, "bad size");
    } else {
        memset(p, 'x', (size_t)n);
        resp_reply_bulk(ctx, p, (size_t)n);
    }
    free(p);
    resp_done(ctx);
}

static void finish_held(struct harness *h, int i)
{
    struct resp_ctx *ctx = h->held[i];
    if (!resp_ctx_conn(ctx)) h->detached++;
    resp_reply_bulk_cstr(ctx, h->held_key[i]);
    resp_done(ctx);
    h->pending--;
    h->held[i] = h->held[h->nheld - 1];
    memcpy(h->held_key[i], h->held_key[h->nheld - 1], sizeof(h->held_key[i]));
    h->nheld--;
}

static void cmd_hold(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    struct harness *h = u;
    if (h->nheld == 64 || argv[1].len >= sizeof(h->held_key[0])) {
        resp_reply_error(ctx, "hold: full or key too long");
        resp_done(ctx);
        return;
    }
    memcpy(h->held_key[h->nheld], argv[1].p, argv[1].len);
    h->held_key[h->nheld][argv[1].len] = '\0';
    h->held[h->nheld++] = ctx;
    if (++h->pending > h->peak_pending) h->peak_pending = h->pending;
}

static void cmd_release(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    struct harness *h = u;
    long long n = 0;
    for (int i = h->nheld - 1; i >= 0; i--) {
        if (strlen(h->held_key[i]) == argv[1].len &&
            memcmp(h->held_key[i], argv[1].p, argv[1].len) == 0) {
            finish_held(h, i);
            n++;
        }
    }
    resp_reply_int(ctx, n);
    resp_done(ctx);
}

static void cmd_stats(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    struct harness *h = u;
    struct resp_stats s;
    resp_server_stats(h->srv, &s);
    long long v[ST_COUNT] = {
        [ST_CONNECTED] = (long long)s.connected_clients,
        [ST_INFLIGHT] = (long long)s.inflight_commands,
        [ST_PEAK_PENDING] = h->peak_pending,
        [ST_PROTOCOL_ERRORS] = (long long)s.protocol_errors,
        [ST_OUTPUT_LIMIT] = (long long)s.output_limit_disconnections,
        [ST_REJECTED] = (long long)s.rejected_connections,
        [ST_COMMANDS] = (long long)s.total_commands_processed,
        [ST_DELAYS_DONE] = h->delays_done,
        [ST_DETACHED] = h->detached,
        [ST_PAUSES] = (long long)s.backpressure_pauses,
    };
    resp_reply_array(ctx, ST_COUNT);
    for (int i = 0; i < ST_COUNT; i++) resp_reply_int(ctx, v[i]);
    resp_done(ctx);
}

/* ---- server thread ---- */

static void *loop_main(void *arg)
{
    struct harness *h = arg;
    uv_run(&h->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void on_closed(struct resp_server *srv, void *arg)
{
    struct harness *h = arg;
    h->done_called = 1;
    uv_close((uv_handle_t *)&h->wake, NULL);
}

static void on_wake(uv_async_t *a)
{
    struct harness *h = a->data;
    resp_server_close(h->srv, h->drain_ms, on_closed, h);
}

void harness_start(struct harness *h, const struct resp_config *cfg)
{
    memset(h, 0, sizeof(*h));
    log_init(&h->log, "resp-test", 2, LOG_WARN);
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(resp_server_create(&h->srv, &h->loop, cfg, &h->log), 0);
    const struct resp_command cmds[] = {
        {.name = "test.delay", .arity = 3, .handler = cmd_delay, .udata = h},
        {.name = "test.partial", .arity = 2, .handler = cmd_partial, .udata = h},
        {.name = "test.big", .arity = 2, .handler = cmd_big, .udata = h},
        {.name = "test.stats", .arity = 1, .handler = cmd_stats, .udata = h},
        {.name = "test.hold", .arity = 2, .handler = cmd_hold, .udata = h},
        {.name = "test.release", .arity = 2, .handler = cmd_release, .udata = h},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        assert_int_equal(resp_server_register(h->srv, &cmds[i]), 0);
    int rc = resp_server_listen(h->srv, "127.0.0.1", 0);
    if (rc) fail_msg("listen: %s", resp_server_errmsg(h->srv));
    h->port = resp_server_port(h->srv);
    assert_true(h->port > 0);
    uv_async_init(&h->loop, &h->wake, on_wake);
    h->wake.data = h;
    assert_int_equal(pthread_create(&h->thread, NULL, loop_main, h), 0);
}

void harness_stop(struct harness *h, uint64_t drain_ms)
{
    h->drain_ms = drain_ms;
    uv_async_send(&h->wake);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    if (pthread_timedjoin_np(h->thread, NULL, &ts) != 0) fail_msg("server loop did not stop");
    assert_true(h->done_called);
    resp_server_destroy(h->srv);
    while (h->nheld) finish_held(h, h->nheld - 1); /* the loop has stopped: no race */
    assert_int_equal(uv_loop_close(&h->loop), 0);  /* every handle was closed */
}

/* ---- sockets ---- */

static int remaining_ms(uint64_t deadline_ms)
{
    uint64_t now = clock_mono_ms();
    return now >= deadline_ms ? 0 : (int)(deadline_ms - now);
}

int tcp_connect_try(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int tcp_connect(int port)
{
    int fd = tcp_connect_try(port);
    if (fd < 0) fail_msg("connect to port %d: %s", port, strerror(errno));
    return fd;
}

void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) fail_msg("send: %s", strerror(errno));
        c += w;
        n -= (size_t)w;
    }
}

size_t recv_n(int fd, char *buf, size_t want, int timeout_ms, int *eof)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    size_t got = 0;
    *eof = 0;
    while (got < want) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* timeout */
        ssize_t n = recv(fd, buf + got, want - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            *eof = 1;
            break;
        }
        got += (size_t)n;
    }
    return got;
}

char *recv_to_eof(int fd, size_t *len, int timeout_ms, int *timed_out)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    *timed_out = 0;
    for (;;) {
        if (cap - n < 2048) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) {
            *timed_out = 1;
            break;
        }
        ssize_t k = recv(fd, b + n, cap - n - 1, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        n += (size_t)k;
    }
    b[n] = '\0';
    *len = n;
    return b;
}

void stats_over(int fd, long long out[ST_COUNT])
{
    SEND_LIT(fd, "TEST.STATS\r\n");
    /* Read "*9\r\n" then nine ":<n>\r\n" lines, one byte at a time (small and exact). */
    int lines = 0, eof = 0;
    char line[64];
    size_t ln = 0;
    while (lines < 1 + ST_COUNT) {
        char c;
        if (recv_n(fd, &c, 1, 10000, &eof) != 1) fail_msg("TEST.STATS: no reply");
        if (ln < sizeof(line) - 1) line[ln++] = c;
        if (c != '\n') continue;
        line[ln] = '\0';
        if (lines == 0)
            assert_int_equal(line[0], '*');
        else
            out[lines - 1] = strtoll(line + 1, NULL, 10);
        lines++;
        ln = 0;
    }
}

void wait_stat(int port, int which, long long want)
{
    int fd = tcp_connect(port);
    uint64_t deadline = clock_mono_ms() + 10000;
    long long s[ST_COUNT];
    for (;;) {
        stats_over(fd, s);
        if (s[which] == want) break;
        if (clock_mono_ms() > deadline)
            fail_msg("stat %d is %lld, want %lld", which, s[which], want);
        struct timespec ts = {0, 5 * 1000 * 1000}; /* poll interval, not synchronisation */
        nanosleep(&ts, NULL);
    }
    close(fd);
}

/* ---- processes ---- */

static pid_t fork_exec(char *const argv[], int in_fd, int out_fd)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Only async-signal-safe calls here: the parent has threads. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (in_fd >= 0) dup2(in_fd, 0);
        if (out_fd >= 0) {
            dup2(out_fd, 1);
            dup2(out_fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int run_proc(char *const argv[], const char *input, size_t input_len, int timeout_ms, char **out,
             size_t *out_len)
{
    int pin[2], pout[2];
    assert_int_equal(pipe2(pin, O_CLOEXEC), 0);
    assert_int_equal(pipe2(pout, O_CLOEXEC), 0);
    pid_t pid = fork_exec(argv, pin[0], pout[1]);
    close(pin[0]);
    close(pout[1]);
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    size_t cap = 4096, n = 0, sent = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    int in_open = 1, killed = 0;
    if (input_len == 0) {
        close(pin[1]);
        in_open = 0;
    }
    for (;;) {
        struct pollfd p[2] = {{.fd = pout[0], .events = POLLIN},
                              {.fd = in_open ? pin[1] : -1, .events = POLLOUT}};
        int r = poll(p, 2, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        if (in_open && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(pin[1], input + sent, input_len - sent);
            if (w > 0) sent += (size_t)w;
            if (w < 0 && errno != EAGAIN) sent = input_len;
            if (sent == input_len) {
                close(pin[1]);
                in_open = 0;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (cap - n < 2048) {
                cap *= 2;
                b = realloc(b, cap);
                assert_non_null(b);
            }
            ssize_t k = read(pout[0], b + n, cap - n - 1);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            n += (size_t)k;
        }
    }
    if (in_open) close(pin[1]);
    close(pout[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    b[n] = '\0';
    *out = b;
    if (out_len) *out_len = n;
    if (killed || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

pid_t spawn_bg(char *const argv[])
{
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = fork_exec(argv, devnull, devnull);
    close(devnull);
    return pid;
}

void kill_bg(pid_t pid)
{
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int probe_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}
