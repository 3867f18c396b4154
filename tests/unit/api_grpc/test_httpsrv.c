/* test_httpsrv.c — the client-port server on a real libuv loop (in a thread) driven by real
 * clients: python3-grpcio, python http.client, curl, and raw sockets for garbage, limits,
 * back-pressure and shutdown. Ports come from binding port 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "api/grpc/grpc.h"
#include "api/http/http.h"
#include "api/http/httpsrv.h"
#include "handlers.h"
#include "util/clock.h"

extern char **environ;

#define DEADLINE_MS 90000

/* ---- a server on its own loop thread ---- */

struct server {
    uv_loop_t loop;
    uv_async_t stop, snap;
    uv_timer_t deferred;
    struct grpc_server *grpc;
    struct http_router *router;
    struct httpsrv *hs;
    struct th_state st;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int port;
    int stop_sent; /* test thread only */
    int closed;    /* the done callback ran */
    int snap_seq;  /* bumped by the loop thread per snapshot */
    struct httpsrv_stats stats;
    struct grpc_server_stats gstats;
};

static void on_deferred(uv_timer_t *t)
{
    struct server *s = t->data;
    th_run_deferred(&s->st);
}

static void schedule_deferred(struct th_state *st)
{
    struct server *s = st->sched_arg;
    uv_timer_start(&s->deferred, on_deferred, 1, 0);
}

static void on_snap(uv_async_t *a)
{
    struct server *s = a->data;
    pthread_mutex_lock(&s->mu);
    s->stats = *httpsrv_stats(s->hs);
    s->gstats = *grpc_server_stats(s->grpc);
    s->snap_seq++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_closed(void *arg)
{
    struct server *s = arg;
    s->hs = NULL;
    uv_close((uv_handle_t *)&s->stop, NULL);
    uv_close((uv_handle_t *)&s->snap, NULL);
    uv_close((uv_handle_t *)&s->deferred, NULL);
    pthread_mutex_lock(&s->mu);
    s->closed = 1;
    pthread_mutex_unlock(&s->mu);
}

static void on_stop(uv_async_t *a)
{
    struct server *s = a->data;
    if (s->hs) httpsrv_close(s->hs, on_closed, s);
}

static void *loop_main(void *arg)
{
    struct server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* A stand-in for etcd's KV.Range, so grpc-go (etcdctl) can be driven: a RangeResponse with
 * only its header {cluster_id 1, member_id 2, revision 3, raft_term 4}, protobuf-encoded. */
static void fake_range(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    static const uint8_t resp[] = {0x0a, 0x08, 0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x04};
    grpc_call_reply(call, resp, sizeof(resp));
}

#define NO_GRPC   1
#define NO_ROUTER 2

static struct server *server_start_with(const struct httpsrv_config *override, int flags)
{
    struct server *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    assert_int_equal(grpc_server_new(NULL, NULL, &s->grpc), 0);
    assert_int_equal(http_router_new(&s->router), 0);
    s->st.schedule = schedule_deferred;
    s->st.sched_arg = s;
    th_register(&s->st, s->grpc, s->router);
    static const struct grpc_method_ops range_ops = {.kind = GRPC_METHOD_UNARY,
                                                     .on_request = fake_range};
    assert_int_equal(grpc_server_add_method(s->grpc, "/etcdserverpb.KV/Range", &range_ops, NULL),
                     0);
    struct httpsrv_config cfg;
    if (override)
        cfg = *override;
    else
        httpsrv_config_default(&cfg);
    cfg.grpc = (flags & NO_GRPC) ? NULL : s->grpc;
    cfg.router = (flags & NO_ROUTER) ? NULL : s->router;
    assert_int_equal(httpsrv_new(&s->loop, &cfg, &s->hs), 0);
    assert_int_equal(httpsrv_listen(s->hs, "http://127.0.0.1:0"), 0);
    s->port = httpsrv_port(s->hs);
    assert_true(s->port > 0);
    uv_async_init(&s->loop, &s->stop, on_stop);
    uv_async_init(&s->loop, &s->snap, on_snap);
    uv_timer_init(&s->loop, &s->deferred);
    s->stop.data = s->snap.data = s->deferred.data = s;
    assert_int_equal(pthread_create(&s->thread, NULL, loop_main, s), 0);
    return s;
}

static void server_request_stop(struct server *s)
{
    if (s->stop_sent) return;
    s->stop_sent = 1;
    uv_async_send(&s->stop);
}

static struct server *server_start(const struct httpsrv_config *override)
{
    return server_start_with(override, 0);
}

/* Stops the server (if not yet asked to) and checks that shutdown closed every handle. */
static void server_join(struct server *s)
{
    server_request_stop(s);
    pthread_join(s->thread, NULL);
    assert_true(s->closed);
    assert_int_equal(uv_loop_close(&s->loop), 0); /* nothing left open */
    assert_int_equal(grpc_server_stats(s->grpc)->calls_active, 0);
    assert_int_equal(grpc_server_stats(s->grpc)->conns_live, 0);
}

static void server_free(struct server *s)
{
    grpc_server_free(s->grpc);
    http_router_free(s->router);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* Copies the server's counters from the loop thread. */
static void snapshot(struct server *s, struct httpsrv_stats *hs, struct grpc_server_stats *gs)
{
    pthread_mutex_lock(&s->mu);
    int seq = s->snap_seq;
    uv_async_send(&s->snap);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    while (s->snap_seq == seq) assert_int_equal(pthread_cond_timedwait(&s->cv, &s->mu, &until), 0);
    if (hs) *hs = s->stats;
    if (gs) *gs = s->gstats;
    pthread_mutex_unlock(&s->mu);
}

/* Waits until *counter >= want (the loop thread bumps it), up to the deadline. */
static void wait_counter(atomic_int *counter, int want)
{
    uint64_t until = clock_mono_ms() + DEADLINE_MS;
    while (atomic_load(counter) < want) {
        if (clock_mono_ms() > until) fail_msg("counter stuck at %d < %d", *counter, want);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL); /* polling a condition, bounded by the deadline */
    }
}

/* ---- subprocesses ---- */

/* Runs argv with stdout (and stderr when both is set) captured into out (NUL-terminated).
 * Returns the exit status; kills the child and fails the test at the deadline. */
static int run_capture(char *const argv[], char *out, size_t outsz, int both)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    if (both) posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    assert_int_equal(rc, 0);
    size_t used = 0;
    uint64_t until = clock_mono_ms() + DEADLINE_MS;
    for (;;) {
        uint64_t now = clock_mono_ms();
        if (now >= until) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            close(fds[0]);
            fail_msg("%s timed out", argv[0]);
        }
        struct pollfd p = {fds[0], POLLIN, 0};
        if (poll(&p, 1, (int)(until - now)) <= 0) continue;
        char tmp[4096];
        ssize_t n = read(fds[0], tmp, sizeof(tmp));
        if (n <= 0) break;
        size_t take = (size_t)n < outsz - 1 - used ? (size_t)n : outsz - 1 - used;
        memcpy(out + used, tmp, take);
        used += take;
    }
    out[used] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run(char *const argv[], char *out, size_t outsz)
{
    return run_capture(argv, out, outsz, 0);
}

/* ---- raw sockets ---- */

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {DEADLINE_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        assert_true(k > 0);
        b += k;
        n -= (size_t)k;
    }
}

/* Reads until EOF (or the receive timeout, which fails). Returns bytes read into out. */
static size_t read_to_eof(int fd, uint8_t *out, size_t cap)
{
    size_t used = 0;
    for (;;) {
        uint8_t tmp[65536];
        ssize_t k = recv(fd, tmp, sizeof(tmp), 0);
        if (k == 0) return used;
        if (k < 0 && errno == ECONNRESET) return used;
        assert_true(k > 0);
        size_t take = (size_t)k < cap - used ? (size_t)k : cap - used;
        memcpy(out + used, tmp, take);
        used += take;
    }
}

/* Reads until buf holds needle (NUL-terminated text protocol). */
static size_t read_until(int fd, char *buf, size_t cap, const char *needle)
{
    size_t used = 0;
    buf[0] = 0;
    while (!strstr(buf, needle)) {
        assert_true(used + 1 < cap);
        ssize_t k = recv(fd, buf + used, cap - 1 - used, 0);
        assert_true(k > 0);
        used += (size_t)k;
        buf[used] = 0;
    }
    return used;
}

/* Minimal HTTP/2 framing for hand-made clients. */
static void h2_frame(int fd, uint8_t type, uint8_t flags, uint32_t stream, const void *p, size_t n)
{
    uint8_t hd[9] = {(uint8_t)(n >> 16),
                     (uint8_t)(n >> 8),
                     (uint8_t)n,
                     type,
                     flags,
                     (uint8_t)(stream >> 24),
                     (uint8_t)(stream >> 16),
                     (uint8_t)(stream >> 8),
                     (uint8_t)stream};
    send_all(fd, hd, 9);
    if (n) send_all(fd, p, n);
}

/* A HEADERS frame (END_HEADERS plus flags) for a POST of content_type to path, HPACK "literal
 * without indexing, new name" fields. */
static void h2_headers(int fd, uint32_t stream, const char *path, const char *content_type,
                       uint8_t flags)
{
    const char *nv[] = {":method", "POST", ":scheme",      "http",       ":authority", "t",
                        ":path",   path,   "content-type", content_type, "te",         "trailers"};
    uint8_t block[512];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(nv) / sizeof(nv[0]); i += 2) {
        size_t nl = strlen(nv[i]), vl = strlen(nv[i + 1]);
        assert_true(nl < 127 && vl < 127 && n + 3 + nl + vl < sizeof(block));
        block[n++] = 0;
        block[n++] = (uint8_t)nl;
        memcpy(block + n, nv[i], nl);
        n += nl;
        block[n++] = (uint8_t)vl;
        memcpy(block + n, nv[i + 1], vl);
        n += vl;
    }
    h2_frame(fd, 1 /* HEADERS */, 4 /* END_HEADERS */ | flags, stream, block, n);
}

/* A gRPC request: headers, then one 1-byte message with END_STREAM. */
static void h2_request(int fd, uint32_t stream, const char *path)
{
    h2_headers(fd, stream, path, "application/grpc", 0);
    uint8_t msg[6] = {0, 0, 0, 0, 1, 'x'};
    h2_frame(fd, 0 /* DATA */, 1 /* END_STREAM */, stream, msg, sizeof(msg));
}

static void h2_open(int fd)
{
    send_all(fd, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    h2_frame(fd, 4 /* SETTINGS */, 0, 0, NULL, 0);
}

/* Reads one frame (the receive timeout fails the test): its header, and its payload into p
 * (payloads larger than cap are a test failure). Returns the payload length. */
static size_t h2_read_frame(int fd, uint8_t hd[9], uint8_t *p, size_t cap)
{
    for (size_t got = 0; got < 9;) {
        ssize_t k = recv(fd, hd + got, 9 - got, 0);
        assert_true(k > 0);
        got += (size_t)k;
    }
    size_t len = (size_t)hd[0] << 16 | (size_t)hd[1] << 8 | hd[2];
    assert_true(len <= cap);
    for (size_t got = 0; got < len;) {
        ssize_t k = recv(fd, p + got, len - got, 0);
        assert_true(k > 0);
        got += (size_t)k;
    }
    return len;
}

static uint32_t frame_stream(const uint8_t hd[9])
{
    return (uint32_t)(hd[5] & 0x7f) << 24 | (uint32_t)hd[6] << 16 | (uint32_t)hd[7] << 8 | hd[8];
}

/* Scans frames in buf for one of type; returns its offset or -1. */
static long find_frame(const uint8_t *buf, size_t n, uint8_t type)
{
    size_t off = 0;
    while (off + 9 <= n) {
        size_t len = (size_t)buf[off] << 16 | (size_t)buf[off + 1] << 8 | buf[off + 2];
        if (buf[off + 3] == type) return (long)off;
        off += 9 + len;
    }
    return -1;
}

/* ---- tests ---- */

static int group_setup(void **state)
{
    *state = server_start(NULL);
    return 0;
}

static int group_teardown(void **state)
{
    server_join(*state);
    server_free(*state);
    return 0;
}

static void test_python_grpc(void **state)
{
    struct server *s = *state;
    char out[8192], port[16];
    int ok = run((char *[]){"/usr/bin/python3", "-c", "import grpc", NULL}, out, sizeof(out));
    if (ok != 0) fail_msg("python3-grpcio is missing: /usr/bin/python3 cannot import grpc");
    struct httpsrv_stats before, after;
    snapshot(s, &before, NULL);
    snprintf(port, sizeof(port), "%d", s->port);
    int rc = run((char *[]){"/usr/bin/python3", CLIENTS_PY, "grpc", port, NULL}, out, sizeof(out));
    if (rc != 0 || strcmp(out, "OK\n") != 0) fail_msg("clients.py grpc: rc %d, out %s", rc, out);
    snapshot(s, &after, NULL);
    /* Everything, 200 concurrent streams and the 3 MiB refusal included, used one connection. */
    assert_int_equal(after.conns_accepted - before.conns_accepted, 1);
    /* The server saw every cancellation the client made. */
    assert_true(atomic_load(&s->st.bidi_cancel) >= 1);
    assert_true(atomic_load(&s->st.stream_cancel) >= 1);
    assert_true(atomic_load(&s->st.slow_cancel) >= 1);
    assert_true(atomic_load(&s->st.stream_done) >= 1);
    /* Every CC_EBUSY was followed by on_writable, unless the stream was cancelled meanwhile. */
    assert_true(atomic_load(&s->st.stream_writable) >=
                atomic_load(&s->st.stream_ebusy) - atomic_load(&s->st.stream_cancel));
}

static void test_python_http(void **state)
{
    struct server *s = *state;
    char out[8192], port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    int rc = run((char *[]){"/usr/bin/python3", CLIENTS_PY, "http", port, NULL}, out, sizeof(out));
    if (rc != 0 || strcmp(out, "OK\n") != 0) fail_msg("clients.py http: rc %d, out %s", rc, out);
}

static void test_curl(void **state)
{
    struct server *s = *state;
    char out[1 << 20], url[128], url2[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", s->port);
    /* Two requests, one connection (keep-alive): curl reports 1 then 0 new connects. */
    int rc = run((char *[]){"/usr/bin/curl", "-sS", "--max-time", "60", "-w", "%{num_connects}\n",
                            url, url, NULL},
                 out, sizeof(out));
    assert_int_equal(rc, 0);
    assert_string_equal(out, "hello world\n1\nhello world\n0\n");
    /* A chunked streaming response. */
    snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/stream?n=200&size=1000", s->port);
    rc = run((char *[]){"/usr/bin/curl", "-sS", "-N", "--max-time", "60", url2, NULL}, out,
             sizeof(out));
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(out), 200000);
    assert_true(out[0] == 'a' && out[199999] == 'a' + 199 % 26);
    snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/echo", s->port);
    rc = run((char *[]){"/usr/bin/curl", "-sS", "--max-time", "60", "--data-binary", "payload",
                        url2, NULL},
             out, sizeof(out));
    assert_int_equal(rc, 0);
    assert_string_equal(out, "payload");
    /* curl's own nghttp2 client speaking prior-knowledge h2c: not gRPC, so 405 for a GET and
     * 415 for a POST of something else (gRPC over HTTP/2 spec). */
    rc = run((char *[]){"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "--max-time", "60", "--http2-prior-knowledge", url, NULL},
             out, sizeof(out));
    assert_int_equal(rc, 0);
    assert_string_equal(out, "405");
    rc = run((char *[]){"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "--max-time", "60", "--http2-prior-knowledge", "-H",
                        "Content-Type: application/json", "--data-binary", "{}", url, NULL},
             out, sizeof(out));
    assert_int_equal(rc, 0);
    assert_string_equal(out, "415");
}

/* A client that is not speaking gRPC gets its HTTP refusal (415) only once its request is
 * complete, and no RST_STREAM: curl 7.88 stops uploading when an early error arrives and then
 * hung waiting for the stream to end (test_curl failed about half the time). */
static void test_http_refusal_waits_for_request_end(void **state)
{
    struct server *s = *state;
    int fd = connect_to(s->port);
    h2_open(fd);
    h2_headers(fd, 1, "/hello", "application/json", 0);
    /* Stream 3, an unknown gRPC method, is answered at once (UNIMPLEMENTED), through the same
     * FIFO of response HEADERS a refusal of stream 1 would have taken: nothing for stream 1
     * may come before it. (A PING is no barrier: nghttp2 sends its ACK ahead of HEADERS.) */
    h2_headers(fd, 3, "/no.Such/Method", "application/grpc", 1 /* END_STREAM */);
    uint8_t hd[9], p[16384];
    for (;;) {
        h2_read_frame(fd, hd, p, sizeof(p));
        assert_int_not_equal(frame_stream(hd), 1);
        if (frame_stream(hd) == 3 && hd[3] == 1) break;
    }
    /* The body ends the request: now the refusal, complete, and nothing else for stream 1. */
    h2_frame(fd, 0 /* DATA */, 1 /* END_STREAM */, 1, "{}", 2);
    for (;;) {
        size_t n = h2_read_frame(fd, hd, p, sizeof(p));
        if (frame_stream(hd) != 1) continue;
        assert_int_equal(hd[3], 1 /* HEADERS */);
        assert_true(hd[4] & 1 /* END_STREAM */);
        /* ":status 415" is not in HPACK's static table: the literal digits are in the block. */
        assert_non_null(memmem(p, n, "415", 3));
        break;
    }
    const uint8_t opaque[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    h2_frame(fd, 6 /* PING */, 0, 0, opaque, sizeof(opaque));
    for (;;) {
        size_t n = h2_read_frame(fd, hd, p, sizeof(p));
        assert_int_not_equal(hd[3], 3 /* RST_STREAM */);
        if (hd[3] == 6 && (hd[4] & 1) && n == 8) break;
    }
    close(fd);
}

static void test_etcdctl(void **state)
{
    struct server *s = *state;
    char out[8192], ep[64];
    if (access("/usr/bin/etcdctl", X_OK) != 0) fail_msg("etcdctl (etcd-client) is missing");
    snprintf(ep, sizeof(ep), "--endpoints=127.0.0.1:%d", s->port);
    /* grpc-go (etcdctl 3.4) through prior-knowledge h2c: a unary call and its reply... */
    int rc = run((char *[]){"/usr/bin/etcdctl", ep, "--dial-timeout=30s", "--command-timeout=30s",
                            "get", "foo", "-w", "json", NULL},
                 out, sizeof(out));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(
        out, "\"header\":{\"cluster_id\":1,\"member_id\":2,\"revision\":3,\"raft_term\":4}"));
    /* ...and a status error as grpc-go reports it. */
    rc = run_capture((char *[]){"/usr/bin/etcdctl", ep, "--dial-timeout=30s",
                                "--command-timeout=30s", "put", "foo", "bar", NULL},
                     out, sizeof(out), 1);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "code = Unimplemented desc = unknown method Put for service "
                                "etcdserverpb.KV"));
}

static void test_garbage_closes_only_that_connection(void **state)
{
    struct server *s = *state;
    char buf[65536];
    uint8_t raw[65536];
    int keep = connect_to(s->port);
    const char *get = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(keep, get, strlen(get));
    read_until(keep, buf, sizeof(buf), "hello world\n");

    int bad = connect_to(s->port);
    send_all(bad, "\x16\x03\x01\x02\x00garbage-garbage\r\n\r\n", 24);
    size_t n = read_to_eof(bad, raw, sizeof(raw) - 1);
    raw[n] = 0;
    assert_true(strncmp((char *)raw, "HTTP/1.1 400 ", 13) == 0);
    close(bad);

    /* HTTP/2 preface, then nonsense: GOAWAY, then the server closes. */
    int h2 = connect_to(s->port);
    h2_open(h2);
    send_all(h2, "\x00\xff\xff\x01\x00\x00\x00\x00\x03nonsense-nonsense", 26);
    n = read_to_eof(h2, raw, sizeof(raw));
    assert_true(find_frame(raw, n, 7 /* GOAWAY */) >= 0);
    close(h2);

    send_all(keep, get, strlen(get));
    read_until(keep, buf, sizeof(buf), "hello world\n");
    close(keep);
}

static void test_http_backpressure(void **state)
{
    struct server *s = *state;
    int before_busy = atomic_load(&s->st.http_stream_ebusy);
    int before_done = atomic_load(&s->st.http_stream_done);
    int fd = connect_to(s->port);
    int rcvbuf = 65536;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    const char *req =
        "GET /stream?n=400&size=65536 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, req, strlen(req));
    /* Not reading: the server must stop at its bound and say CC_EBUSY to the handler. */
    wait_counter(&s->st.http_stream_ebusy, before_busy + 1);
    struct httpsrv_stats st;
    snapshot(s, &st, NULL);
    assert_true(st.out_high_water <= (1u << 20) + 65536 + 64);
    assert_true(st.read_pauses >= 1);
    /* Reading it all: 400 chunks arrive, then the terminating chunk and EOF. */
    size_t cap = 400u * 65536 + 65536;
    uint8_t *all = malloc(cap);
    size_t n = read_to_eof(fd, all, cap);
    close(fd);
    assert_true(n > 400u * 65536);
    assert_true(memcmp(all + n - 5, "0\r\n\r\n", 5) == 0);
    free(all);
    assert_int_equal(atomic_load(&s->st.http_stream_done), before_done + 1);
    assert_true(atomic_load(&s->st.http_stream_writable) >= 1);
}

static void test_limits_and_shutdown(void **state)
{
    (void)state;
    struct httpsrv_config cfg;
    httpsrv_config_default(&cfg);
    cfg.max_conns = 3;
    struct server *s = server_start(&cfg);
    uint8_t raw[65536];
    /* Three connections are served; the fourth is closed at once. */
    int h1 = connect_to(s->port);
    int h2 = connect_to(s->port);
    int spare = connect_to(s->port);
    int over = connect_to(s->port);
    assert_int_equal(read_to_eof(over, raw, sizeof(raw)), 0);
    close(over);
    struct httpsrv_stats st;
    snapshot(s, &st, NULL);
    assert_int_equal(st.conns_refused, 1);

    /* An HTTP/2 call in flight and an idle HTTP/1.1 connection when the server stops. */
    h2_open(h2);
    h2_request(h2, 1, "/test.Svc/Slow");
    char buf[4096];
    const char *get = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(h1, get, strlen(get));
    read_until(h1, buf, sizeof(buf), "hello world\n");
    /* The handler holds the call (calls_active alone counts it from its HEADERS, before the
     * DATA that dispatches it: stopping in between cancelled nothing, a flaky failure). */
    wait_counter(&s->st.slow_started, 1);

    server_request_stop(s);
    /* GOAWAY (NO_ERROR) reaches the HTTP/2 client, then both connections end. */
    size_t n = read_to_eof(h2, raw, sizeof(raw));
    long at = find_frame(raw, n, 7);
    assert_true(at >= 0);
    assert_int_equal(raw[at + 9 + 4] | raw[at + 9 + 5] | raw[at + 9 + 6] | raw[at + 9 + 7], 0);
    assert_int_equal(read_to_eof(h1, raw, sizeof(raw)), 0);
    close(h1);
    close(h2);
    close(spare);
    server_join(s);                                       /* every handle closed */
    assert_int_equal(atomic_load(&s->st.slow_cancel), 1); /* the held call was cancelled */
    server_free(s);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    struct httpsrv_config cfg;
    httpsrv_config_default(&cfg);
    cfg.http1_idle_ms = 100;
    struct server *s = server_start(&cfg);
    uint8_t raw[4096];
    char buf[4096];
    /* Silent from the start, idle after a request, and stuck half-way through a head: all
     * three are closed by the server (read_to_eof fails at the deadline otherwise). */
    int silent = connect_to(s->port);
    int after = connect_to(s->port);
    int partial = connect_to(s->port);
    const char *get = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(after, get, strlen(get));
    read_until(after, buf, sizeof(buf), "hello world\n");
    send_all(partial, "GET /hel", 8);
    assert_int_equal(read_to_eof(silent, raw, sizeof(raw)), 0);
    assert_int_equal(read_to_eof(after, raw, sizeof(raw)), 0);
    assert_int_equal(read_to_eof(partial, raw, sizeof(raw)), 0);
    close(silent);
    close(after);
    close(partial);
    struct httpsrv_stats st;
    uint64_t until = clock_mono_ms() + DEADLINE_MS;
    do {
        snapshot(s, &st, NULL);
        assert_true(clock_mono_ms() < until);
    } while (st.conns_open > 0);
    server_join(s);
    server_free(s);
}

static void test_without_handlers(void **state)
{
    (void)state;
    struct server *s = server_start_with(NULL, NO_GRPC | NO_ROUTER);
    char buf[4096];
    uint8_t raw[4096];
    /* No router: HTTP/1.1 requests get 404 and the connection stays usable. */
    int fd = connect_to(s->port);
    const char *get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, get, strlen(get));
    read_until(fd, buf, sizeof(buf), "404 page not found\n");
    assert_true(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
    send_all(fd, get, strlen(get));
    read_until(fd, buf, sizeof(buf), "404 page not found\n");
    close(fd);
    /* No gRPC server: an HTTP/2 connection is closed. */
    fd = connect_to(s->port);
    h2_open(fd);
    read_to_eof(fd, raw, sizeof(raw));
    close(fd);
    server_join(s);
    server_free(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_grpc),
        cmocka_unit_test(test_python_http),
        cmocka_unit_test(test_curl),
        cmocka_unit_test(test_http_refusal_waits_for_request_end),
        cmocka_unit_test(test_etcdctl),
        cmocka_unit_test(test_garbage_closes_only_that_connection),
        cmocka_unit_test(test_http_backpressure),
    };
    const struct CMUnitTest alone[] = {cmocka_unit_test(test_limits_and_shutdown),
                                       cmocka_unit_test(test_idle_timeout),
                                       cmocka_unit_test(test_without_handlers)};
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    return failed + cmocka_run_group_tests(alone, NULL, NULL);
}
