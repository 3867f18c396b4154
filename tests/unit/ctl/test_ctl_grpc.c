/* test_ctl_grpc.c — concurctl's gRPC client against a small nghttp2 server in a thread: unary
 * calls, server streaming, trailers-only errors with percent-encoded messages, oversize
 * messages, deadlines, and a server that drops the connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "ctl/grpc_client.h"
#include "etcdserverpb/rpc.pb-c.h"
#include "util/err.h"

struct sstream {
    char path[64];
    uint8_t out[4096];
    size_t out_len, off;
};

struct server {
    int lfd, port;
    pthread_t th;
    bool drop_after_request;  /* close the TCP connection once a request has arrived */
    struct sstream *live[16]; /* streams nghttp2 has not closed (freed at the end) */
};

/* A length-prefixed RangeResponse{count = count}. */
static size_t frame_count(uint8_t *dst, int64_t count)
{
    Etcdserverpb__RangeResponse r = ETCDSERVERPB__RANGE_RESPONSE__INIT;
    r.count = count;
    size_t n = protobuf_c_message_pack(&r.base, dst + 5);
    dst[0] = 0;
    dst[1] = (uint8_t)(n >> 24), dst[2] = (uint8_t)(n >> 16), dst[3] = (uint8_t)(n >> 8);
    dst[4] = (uint8_t)n;
    return n + 5;
}

static ssize_t srv_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *ud)
{
    struct sstream *st = src->ptr;
    size_t n = st->out_len - st->off;
    if (n > len) n = len;
    memcpy(buf, st->out + st->off, n);
    st->off += n;
    if (st->off == st->out_len) {
        static const nghttp2_nv tr[] = {
            {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE}};
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_submit_trailer(s, id, tr, 1);
    }
    return (ssize_t)n;
}

static int srv_begin(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct server *sv = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    for (size_t i = 0; i < 16; i++) {
        if (!sv->live[i]) {
            sv->live[i] = calloc(1, sizeof(struct sstream));
            nghttp2_session_set_stream_user_data(s, f->hd.stream_id, sv->live[i]);
            break;
        }
    }
    return 0;
}

static int srv_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                      const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    struct sstream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st && nl == 5 && memcmp(name, ":path", 5) == 0 && vl < sizeof st->path)
        memcpy(st->path, value, vl);
    return 0;
}

#define NV(k, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(k), (uint8_t *)(v), sizeof(k) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE         \
    }

static void respond(nghttp2_session *s, int32_t id, struct sstream *st)
{
    static const nghttp2_nv ok[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
    static const nghttp2_nv err[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                                     NV("grpc-status", "5"),
                                     NV("grpc-message", "etcdserver%3A key not found")};
    static const nghttp2_nv notfound[] = {NV(":status", "404")};
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = srv_read};
    if (strcmp(st->path, "/t.S/Echo") == 0) {
        st->out_len = frame_count(st->out, 42);
    } else if (strcmp(st->path, "/t.S/Stream") == 0) {
        for (int i = 1; i <= 3; i++) st->out_len += frame_count(st->out + st->out_len, i);
    } else if (strcmp(st->path, "/t.S/Big") == 0) {
        uint8_t big[5] = {0, 0x7f, 0xff, 0xff, 0xff};
        memcpy(st->out, big, 5);
        st->out_len = 5;
    } else if (strcmp(st->path, "/t.S/Error") == 0) {
        nghttp2_submit_response(s, id, err, 4, NULL);
        return;
    } else if (strcmp(st->path, "/t.S/Hang") == 0) {
        return;
    } else {
        nghttp2_submit_response(s, id, notfound, 1, NULL);
        return;
    }
    nghttp2_submit_response(s, id, ok, 2, &prd);
}

static int srv_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct server *sv = ud;
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct sstream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
        if (sv->drop_after_request) return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (st) respond(s, f->hd.stream_id, st);
    }
    return 0;
}

static int srv_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct server *sv = ud;
    struct sstream *st = nghttp2_session_get_stream_user_data(s, id);
    for (size_t i = 0; st && i < 16; i++)
        if (sv->live[i] == st) sv->live[i] = NULL;
    free(st);
    return 0;
}

static void *serve(void *arg)
{
    struct server *sv = arg;
    int fd = accept(sv->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    nghttp2_session_callbacks *cb;
    nghttp2_session *s;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, srv_begin);
    nghttp2_session_callbacks_set_on_header_callback(cb, srv_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, srv_close);
    nghttp2_session_server_new(&s, cb, sv);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
    for (;;) {
        const uint8_t *data;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(s, &data)) > 0)
            if (write(fd, data, (size_t)n) != n) goto out;
        uint8_t buf[16384];
        n = read(fd, buf, sizeof buf);
        if (n <= 0 || nghttp2_session_mem_recv(s, buf, (size_t)n) < 0) break;
    }
out:
    nghttp2_session_del(s);
    for (size_t i = 0; i < 16; i++) free(sv->live[i]);
    close(fd);
    return NULL;
}

static void server_start(struct server *sv, bool drop)
{
    memset(sv, 0, sizeof *sv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    sv->drop_after_request = drop;
    sv->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sv->lfd >= 0);
    assert_int_equal(bind(sv->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(sv->lfd, 4), 0);
    assert_int_equal(getsockname(sv->lfd, (struct sockaddr *)&a, &al), 0);
    sv->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&sv->th, NULL, serve, sv), 0);
}

static void server_join(struct server *sv)
{
    pthread_join(sv->th, NULL);
    close(sv->lfd);
}

static struct gc_conn *dial(const struct server *sv)
{
    char ep[32], err[256];
    struct gc_conn *c;
    snprintf(ep, sizeof ep, "127.0.0.1:%d", sv->port);
    assert_int_equal(gc_conn_dial(ep, gc_now_ms() + 5000, NULL, &c, err, sizeof err), 0);
    return c;
}

static void test_unary_stream_and_errors(void **state)
{
    (void)state;
    struct server sv;
    server_start(&sv, false);
    struct gc_conn *c = dial(&sv);
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = (ProtobufCBinaryData){3, (uint8_t *)"foo"};
    Etcdserverpb__RangeResponse *resp;
    struct gc_status st;
    int64_t d = gc_now_ms() + 5000;

    assert_int_equal(gc_unary(c, "/t.S/Echo", &req.base, &etcdserverpb__range_response__descriptor,
                              d, (ProtobufCMessage **)&resp, &st),
                     0);
    assert_int_equal(resp->count, 42);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* A trailers-only error with a percent-encoded message. */
    assert_int_equal(gc_unary(c, "/t.S/Error", &req.base, &etcdserverpb__range_response__descriptor,
                              d, (ProtobufCMessage **)&resp, &st),
                     -1);
    assert_int_equal(st.code, GC_NOT_FOUND);
    assert_string_equal(st.message, "etcdserver: key not found");
    assert_false(st.transport);

    /* No grpc-status and HTTP 404: UNIMPLEMENTED, as grpc-go maps it. */
    assert_int_equal(gc_unary(c, "/t.S/Nope", &req.base, &etcdserverpb__range_response__descriptor,
                              d, (ProtobufCMessage **)&resp, &st),
                     -1);
    assert_int_equal(st.code, GC_UNIMPLEMENTED);

    /* Server streaming: three messages, then a clean end. */
    struct gc_stream *s;
    assert_int_equal(gc_stream_start(c, "/t.S/Stream", d, NULL, 0, &s), 0);
    assert_int_equal(gc_stream_send(s, &req.base), 0);
    assert_int_equal(gc_stream_close_send(s), 0);
    for (int i = 1; i <= 3; i++) {
        ProtobufCMessage *m;
        assert_int_equal(gc_stream_recv(s, &etcdserverpb__range_response__descriptor, &m, 0), 1);
        assert_int_equal(((Etcdserverpb__RangeResponse *)m)->count, i);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    ProtobufCMessage *m;
    assert_int_equal(gc_stream_recv(s, &etcdserverpb__range_response__descriptor, &m, 0), -1);
    assert_int_equal(gc_stream_status(s)->code, GC_OK);
    gc_stream_free(s);

    /* A message announced larger than the limit is refused before allocating it. */
    assert_int_equal(gc_unary(c, "/t.S/Big", &req.base, &etcdserverpb__range_response__descriptor,
                              d, (ProtobufCMessage **)&resp, &st),
                     -1);
    assert_int_equal(st.code, GC_RESOURCE_EXHAUSTED);
    assert_true(st.local);

    /* A server that never answers: the call ends at its deadline, the connection lives on. */
    int64_t t0 = gc_now_ms();
    assert_int_equal(gc_unary(c, "/t.S/Hang", &req.base, &etcdserverpb__range_response__descriptor,
                              t0 + 200, (ProtobufCMessage **)&resp, &st),
                     -1);
    assert_int_equal(st.code, GC_DEADLINE_EXCEEDED);
    assert_true(st.local);
    assert_true(gc_now_ms() >= t0 + 200);
    assert_true(gc_conn_usable(c));
    assert_int_equal(gc_unary(c, "/t.S/Echo", &req.base, &etcdserverpb__range_response__descriptor,
                              gc_now_ms() + 5000, (ProtobufCMessage **)&resp, &st),
                     0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    gc_conn_free(c);
    server_join(&sv);
}

static void test_connection_drop_and_refused(void **state)
{
    (void)state;
    struct server sv;
    server_start(&sv, true);
    struct gc_conn *c = dial(&sv);
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    Etcdserverpb__RangeResponse *resp;
    struct gc_status st;
    assert_int_equal(gc_unary(c, "/t.S/Echo", &req.base, &etcdserverpb__range_response__descriptor,
                              gc_now_ms() + 5000, (ProtobufCMessage **)&resp, &st),
                     -1);
    assert_int_equal(st.code, GC_UNAVAILABLE);
    assert_true(st.transport);
    assert_false(gc_conn_usable(c));
    gc_conn_free(c);
    server_join(&sv);

    /* Nothing listens on that port any more. */
    char ep[32], err[256];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", sv.port);
    assert_int_not_equal(gc_conn_dial(ep, gc_now_ms() + 2000, NULL, &c, err, sizeof err), 0);
    assert_non_null(strstr(err, "dial tcp"));
    assert_int_equal(gc_conn_dial("nonsense", gc_now_ms() + 100, NULL, &c, err, sizeof err),
                     CC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_stream_and_errors),
        cmocka_unit_test(test_connection_drop_and_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
