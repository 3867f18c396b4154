/* test_h2_conn.c — the HTTP/2 + gRPC engine driven in memory by a real nghttp2 client session:
 * framing, trailers, errors, cancellation, concurrency, back-pressure, PING and GOAWAY. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "api/grpc/grpc.h"
#include "api/grpc/h2_conn.h"
#include "handlers.h"
#include "util/buf.h"
#include "util/err.h"

#define MAX_STREAMS 1200

struct resp {
    int http_status;
    int grpc_status; /* -1: none seen */
    char grpc_message[1024];
    int header_frames;
    struct buf data;
    int closed;
    uint32_t close_error;
};

/* A request body the client streams from; grows while the test appends messages. */
struct body {
    struct buf data;
    size_t off;
    int eof;
    int deferred;
};

struct fixture {
    struct th_state st;
    struct grpc_server *srv;
    struct h2_conn *h;
    struct buf s2c;     /* what the server wrote and the client has not read */
    size_t bound;       /* the fake transport's outbound bound */
    int client_reading; /* 0: the client does not read (back-pressure) */
    nghttp2_session *cl;
    struct buf c2s;
    struct resp resp[MAX_STREAMS];
    struct body bodies[MAX_STREAMS];
    int goaway;
    uint32_t goaway_error;
    int ping_acks;
    size_t s2c_high;
    const char *authority; /* NULL: "test" */
};

static struct resp *resp_of(struct fixture *f, int32_t id)
{
    assert_true(id > 0 && id % 2 == 1 && (id - 1) / 2 < MAX_STREAMS);
    return &f->resp[(id - 1) / 2];
}

/* ---- the server's fake transport ---- */

static size_t io_room(void *ctx)
{
    struct fixture *f = ctx;
    return f->s2c.len < f->bound ? f->bound - f->s2c.len : 0;
}

static int io_write(void *ctx, const void *p, size_t n)
{
    struct fixture *f = ctx;
    int rc = buf_append(&f->s2c, p, n) ? CC_ENOMEM : 0;
    if (f->s2c.len > f->s2c_high) f->s2c_high = f->s2c.len;
    return rc;
}

static void io_want(void *ctx)
{
    (void)ctx; /* the pump calls h2_conn_send every round anyway */
}

/* ---- the client ---- */

static ssize_t cl_send(nghttp2_session *s, const uint8_t *data, size_t n, int flags, void *ud)
{
    struct fixture *f = ud;
    assert_int_equal(buf_append(&f->c2s, data, n), 0);
    return (ssize_t)n;
}

static int cl_header(nghttp2_session *s, const nghttp2_frame *fr, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    struct resp *r = resp_of(ud, fr->hd.stream_id);
    if (nl == 7 && memcmp(name, ":status", 7) == 0) r->http_status = atoi((const char *)value);
    if (nl == 11 && memcmp(name, "grpc-status", 11) == 0)
        r->grpc_status = atoi((const char *)value);
    if (nl == 12 && memcmp(name, "grpc-message", 12) == 0)
        snprintf(r->grpc_message, sizeof(r->grpc_message), "%.*s", (int)vl, value);
    return 0;
}

static int cl_frame_recv(nghttp2_session *s, const nghttp2_frame *fr, void *ud)
{
    struct fixture *f = ud;
    if (fr->hd.type == NGHTTP2_HEADERS) resp_of(f, fr->hd.stream_id)->header_frames++;
    if (fr->hd.type == NGHTTP2_GOAWAY) {
        f->goaway = 1;
        f->goaway_error = fr->goaway.error_code;
    }
    if (fr->hd.type == NGHTTP2_PING && (fr->hd.flags & NGHTTP2_FLAG_ACK)) f->ping_acks++;
    return 0;
}

static int cl_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t n,
                   void *ud)
{
    assert_int_equal(buf_append(&resp_of(ud, id)->data, d, n), 0);
    return 0;
}

static int cl_close(nghttp2_session *s, int32_t id, uint32_t err, void *ud)
{
    struct resp *r = resp_of(ud, id);
    r->closed = 1;
    r->close_error = err;
    return 0;
}

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *out, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    struct body *b = src->ptr;
    size_t left = b->data.len - b->off;
    if (left == 0) {
        if (b->eof) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        b->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = left < len ? left : len;
    memcpy(out, b->data.data + b->off, n);
    b->off += n;
    if (b->off == b->data.len && b->eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* Moves bytes both ways until nothing moves. */
static void pump(struct fixture *f)
{
    for (int round = 0; round < 100000; round++) {
        int moved = 0;
        assert_int_equal(nghttp2_session_send(f->cl), 0);
        if (f->c2s.len) {
            int rc = h2_conn_recv(f->h, f->c2s.data, f->c2s.len);
            assert_true(rc == 0 || rc == CC_EPROTO);
            f->c2s.len = 0;
            moved = 1;
        }
        h2_conn_send(f->h);
        if (f->client_reading && f->s2c.len) {
            assert_true(nghttp2_session_mem_recv(f->cl, f->s2c.data, f->s2c.len) >= 0);
            f->s2c.len = 0;
            moved = 1;
        }
        if (!moved) return;
    }
    fail_msg("pump did not settle");
}

static void client_new(struct fixture *f, int32_t window)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, cl_send);
    nghttp2_session_callbacks_set_on_header_callback(cbs, cl_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cl_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cl_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cl_close);
    assert_int_equal(nghttp2_session_client_new(&f->cl, cbs, f), 0);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)window}};
    assert_int_equal(nghttp2_submit_settings(f->cl, NGHTTP2_FLAG_NONE, iv, 1), 0);
    assert_int_equal(nghttp2_session_set_local_window_size(f->cl, NGHTTP2_FLAG_NONE, 0, window), 0);
    /* nghttp2's client session sends the preface (prior knowledge) by itself. */
}

static int setup_with(void **state, const struct grpc_limits *lim)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    for (int i = 0; i < MAX_STREAMS; i++) {
        f->resp[i].grpc_status = -1;
        buf_init(&f->resp[i].data, 64u << 20);
        buf_init(&f->bodies[i].data, 64u << 20);
    }
    buf_init(&f->s2c, 256u << 20);
    buf_init(&f->c2s, 256u << 20);
    f->bound = 1u << 20;
    f->client_reading = 1;
    assert_int_equal(grpc_server_new(lim, NULL, &f->srv), 0);
    th_register(&f->st, f->srv, NULL);
    struct h2_io io = {f, io_room, io_write, io_want};
    assert_int_equal(h2_conn_new(f->srv, &io, &f->h), 0);
    client_new(f, 1 << 20);
    pump(f);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->h) h2_conn_free(f->h);
    th_run_deferred(&f->st); /* replies to calls the connection no longer has: no-ops */
    assert_int_equal(grpc_server_stats(f->srv)->calls_active, 0);
    grpc_server_free(f->srv);
    nghttp2_session_del(f->cl);
    for (int i = 0; i < MAX_STREAMS; i++) {
        buf_free(&f->resp[i].data);
        buf_free(&f->bodies[i].data);
    }
    buf_free(&f->s2c);
    buf_free(&f->c2s);
    free(f);
    return 0;
}

/* Starts a gRPC request on path; extra is a NULL-terminated list of name, value pairs. Returns
 * the stream id. The body stays open until end_body. */
static int32_t start_call(struct fixture *f, const char *path, const char *ctype,
                          const char *const *extra)
{
    nghttp2_nv nv[200];
    size_t n = 0;
#define ADD(nm, val)                                                                               \
    nv[n++] = (nghttp2_nv){(uint8_t *)(nm), (uint8_t *)(val), strlen(nm), strlen(val),             \
                           NGHTTP2_NV_FLAG_NONE}
    ADD(":method", "POST");
    ADD(":scheme", "http");
    ADD(":authority", f->authority ? f->authority : "test");
    ADD(":path", path);
    ADD("content-type", ctype);
    ADD("te", "trailers");
    for (; extra && extra[0]; extra += 2) ADD(extra[0], extra[1]);
#undef ADD
    /* The stream id is not known before submission: reserve the body by the next id. */
    int32_t next = nghttp2_session_get_next_stream_id(f->cl);
    struct body *b = &f->bodies[(next - 1) / 2];
    nghttp2_data_provider prd = {.source.ptr = b, .read_callback = body_read};
    int32_t id = nghttp2_submit_request(f->cl, NULL, nv, n, &prd, NULL);
    assert_int_equal(id, next);
    return id;
}

static void send_raw(struct fixture *f, int32_t id, const void *p, size_t n)
{
    struct body *b = &f->bodies[(id - 1) / 2];
    assert_int_equal(buf_append(&b->data, p, n), 0);
    if (b->deferred) {
        b->deferred = 0;
        assert_int_equal(nghttp2_session_resume_data(f->cl, id), 0);
    }
}

static void send_msg(struct fixture *f, int32_t id, const void *p, size_t n)
{
    uint8_t hdr[5];
    grpc_frame_put_header(hdr, (uint32_t)n);
    send_raw(f, id, hdr, 5);
    send_raw(f, id, p, n);
}

static void end_body(struct fixture *f, int32_t id)
{
    struct body *b = &f->bodies[(id - 1) / 2];
    b->eof = 1;
    if (b->deferred) {
        b->deferred = 0;
        assert_int_equal(nghttp2_session_resume_data(f->cl, id), 0);
    }
}

static int32_t unary(struct fixture *f, const char *path, const void *msg, size_t n)
{
    int32_t id = start_call(f, path, "application/grpc", NULL);
    send_msg(f, id, msg, n);
    end_body(f, id);
    pump(f);
    return id;
}

/* The i-th message of a response body (5-byte framed), or NULL; *len gets its length. */
static const uint8_t *resp_msg(const struct resp *r, int index, size_t *len)
{
    size_t off = 0;
    for (int i = 0; off + 5 <= r->data.len; i++) {
        const uint8_t *p = r->data.data + off;
        uint32_t n = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        assert_int_equal(p[0], 0);
        assert_true(off + 5 + n <= r->data.len);
        if (i == index) {
            *len = n;
            return p + 5;
        }
        off += 5 + n;
    }
    return NULL;
}

static int resp_count(const struct resp *r)
{
    size_t len;
    int n = 0;
    while (resp_msg(r, n, &len)) n++;
    return n;
}

/* ---- tests ---- */

static void test_unary_echo(void **state)
{
    struct fixture *f = *state;
    int32_t id = unary(f, "/test.Svc/Echo", "hello", 5);
    struct resp *r = resp_of(f, id);
    assert_true(r->closed);
    assert_int_equal(r->close_error, NGHTTP2_NO_ERROR);
    assert_int_equal(r->http_status, 200);
    assert_int_equal(r->grpc_status, 0);
    assert_int_equal(r->header_frames, 2); /* headers, then trailers */
    size_t len;
    const uint8_t *m = resp_msg(r, 0, &len);
    assert_non_null(m);
    assert_int_equal(len, 5);
    assert_memory_equal(m, "hello", 5);
    assert_int_equal(resp_count(r), 1);
    /* An empty message is a message too. */
    id = unary(f, "/test.Svc/Echo", "", 0);
    assert_int_equal(resp_of(f, id)->grpc_status, 0);
    assert_non_null(resp_msg(resp_of(f, id), 0, &len));
    assert_int_equal(len, 0);
    assert_int_equal(atomic_load(&f->st.echo_calls), 2);
}

/* grpc-go dialled with "http://host:port" (etcdctl defrag --cluster) sends that whole endpoint
 * as :authority; Go's server accepts it, so must we (nghttp2's own check refused it). */
static void test_authority_with_scheme_is_accepted(void **state)
{
    struct fixture *f = *state;
    f->authority = "http://127.0.0.1:2379";
    int32_t id = unary(f, "/test.Svc/Echo", "hi", 2);
    struct resp *r = resp_of(f, id);
    assert_true(r->closed);
    assert_int_equal(r->close_error, NGHTTP2_NO_ERROR);
    assert_int_equal(r->grpc_status, 0);
    f->authority = NULL;
}

/* Malformed fields (RFC 9113 §8.2.1) reset just that stream; the connection goes on. */
static void test_malformed_fields_reset_the_stream(void **state)
{
    struct fixture *f = *state;
    /* (nghttp2's client lowercases names itself, so a name with a space stands for them.) */
    const char *space[] = {"x bad", "1", NULL};
    const char *cr[] = {"x-cr", "a\rb", NULL};
    const char *lf[] = {"x-lf", "a\nb", NULL};
    const char *const *cases[] = {space, cr, lf};
    for (int i = 0; i < 3; i++) {
        int32_t id = start_call(f, "/test.Svc/Echo", "application/grpc", cases[i]);
        send_msg(f, id, "x", 1);
        end_body(f, id);
        pump(f);
        struct resp *r = resp_of(f, id);
        assert_true(r->closed);
        if (r->close_error == NGHTTP2_NO_ERROR || r->http_status != 0)
            fail_msg("case %d was not reset (error %u, status %d)", i, r->close_error,
                     r->http_status);
    }
    int32_t id = unary(f, "/test.Svc/Echo", "ok", 2);
    assert_int_equal(resp_of(f, id)->grpc_status, 0);
}

static void test_errors_are_trailers_only(void **state)
{
    struct fixture *f = *state;
    int32_t id = unary(f, "/nope.Svc/X", "a", 1);
    struct resp *r = resp_of(f, id);
    assert_int_equal(r->http_status, 200);
    assert_int_equal(r->grpc_status, GRPC_UNIMPLEMENTED);
    assert_string_equal(r->grpc_message, "unknown service nope.Svc");
    assert_int_equal(r->header_frames, 1); /* Trailers-Only */
    assert_int_equal(r->data.len, 0);
    id = unary(f, "/test.Svc/Nope", "a", 1);
    assert_int_equal(resp_of(f, id)->grpc_status, GRPC_UNIMPLEMENTED);
    assert_string_equal(resp_of(f, id)->grpc_message, "unknown method Nope for service test.Svc");
    assert_int_equal(grpc_server_stats(f->srv)->unknown_method, 2);

    id = unary(f, "/test.Svc/Fail", "a", 1);
    r = resp_of(f, id);
    assert_int_equal(r->grpc_status, GRPC_FAILED_PRECONDITION);
    char enc[256], dec[256];
    grpc_percent_encode(TH_FAIL_MSG, 100, enc, sizeof(enc));
    assert_string_equal(r->grpc_message, enc);
    grpc_percent_decode(r->grpc_message, strlen(r->grpc_message), dec, sizeof(dec));
    assert_string_equal(dec, TH_FAIL_MSG);

    /* Not gRPC: 415 (gRPC spec), still with a gRPC status. */
    id = start_call(f, "/test.Svc/Echo", "application/json", NULL);
    end_body(f, id);
    pump(f);
    assert_int_equal(resp_of(f, id)->http_status, 415);
    assert_int_equal(resp_of(f, id)->grpc_status, GRPC_INTERNAL);
}

static void test_message_rules(void **state)
{
    struct fixture *f = *state;
    /* Compressed flag without grpc-encoding support. */
    int32_t id = start_call(f, "/test.Svc/Echo", "application/grpc", NULL);
    uint8_t hdr[5];
    grpc_frame_put_header(hdr, 3);
    hdr[0] = 1;
    send_raw(f, id, hdr, 5);
    send_raw(f, id, "abc", 3);
    end_body(f, id);
    pump(f);
    assert_int_equal(resp_of(f, id)->grpc_status, GRPC_UNIMPLEMENTED);

    /* Unary cardinality: none, or two. */
    id = start_call(f, "/test.Svc/Echo", "application/grpc", NULL);
    end_body(f, id);
    pump(f);
    assert_int_equal(resp_of(f, id)->grpc_status, GRPC_INTERNAL);
    id = start_call(f, "/test.Svc/Echo", "application/grpc", NULL);
    send_msg(f, id, "a", 1);
    send_msg(f, id, "b", 1);
    end_body(f, id);
    pump(f);
    assert_int_equal(resp_of(f, id)->grpc_status, GRPC_INTERNAL);
    /* The request ends in the middle of a message. */
    id = start_call(f, "/test.Svc/Echo", "application/grpc", NULL);
    grpc_frame_put_header(hdr, 10);
    send_raw(f, id, hdr, 5);
    send_raw(f, id, "abc", 3);
    end_body(f, id);
    pump(f);
    assert_int_equal(resp_of(f, id)->grpc_status, GRPC_INTERNAL);
    assert_int_equal(atomic_load(&f->st.echo_calls), 0);

    /* Too many metadata fields. */
    const char *extra[2 * 150 + 1];
    char names[150][16];
    for (int i = 0; i < 150; i++) {
        snprintf(names[i], sizeof(names[i]), "x-md-%d", i);
        extra[2 * i] = names[i];
        extra[2 * i + 1] = "v";
    }
    extra[300] = NULL;
    id = start_call(f, "/test.Svc/Echo", "application/grpc", extra);
    send_msg(f, id, "a", 1);
    end_body(f, id);
    pump(f);
    assert_int_equal(resp_of(f, id)->grpc_status, GRPC_RESOURCE_EXHAUSTED);
}

static void test_oversize_then_connection_works(void **state)
{
    struct fixture *f = *state;
    size_t big = 3u << 20;
    uint8_t *payload = calloc(1, big);
    int32_t id = start_call(f, "/test.Svc/Echo", "application/grpc", NULL);
    send_msg(f, id, payload, big);
    end_body(f, id);
    pump(f);
    struct resp *r = resp_of(f, id);
    assert_int_equal(r->grpc_status, GRPC_RESOURCE_EXHAUSTED);
    assert_string_equal(r->grpc_message,
                        "grpc: received message larger than max (3145728 vs. 2097152)");
    assert_true(r->closed);
    /* RST_STREAM(NO_ERROR) stopped the upload: the client never sent the whole body. */
    assert_int_equal(r->close_error, NGHTTP2_NO_ERROR);
    assert_true(f->bodies[(id - 1) / 2].off < big);
    /* A message of exactly the limit is fine, and the connection carries on. */
    id = unary(f, "/test.Svc/Echo", payload, 2u << 20);
    assert_int_equal(resp_of(f, id)->grpc_status, 0);
    size_t len;
    assert_non_null(resp_msg(resp_of(f, id), 0, &len));
    assert_int_equal(len, 2u << 20);
    assert_false(f->goaway);
    free(payload);
}

static void test_metadata_and_timeout(void **state)
{
    struct fixture *f = *state;
    const char *extra[] = {"token", "abc", "grpc-timeout", "5S", NULL};
    int32_t id = start_call(f, "/test.Svc/Meta", "application/grpc", extra);
    send_msg(f, id, "", 0);
    end_body(f, id);
    pump(f);
    size_t len;
    const uint8_t *m = resp_msg(resp_of(f, id), 0, &len);
    assert_non_null(m);
    assert_int_equal(len, strlen("token=abc;timeout=5000;deadline=1"));
    assert_memory_equal(m, "token=abc;timeout=5000;deadline=1", len);
    id = unary(f, "/test.Svc/Meta", "", 0);
    m = resp_msg(resp_of(f, id), 0, &len);
    assert_memory_equal(m, "token=;timeout=-1;deadline=0", len);
    const char *bad[] = {"grpc-timeout", "soon", NULL};
    id = start_call(f, "/test.Svc/Meta", "application/grpc", bad);
    send_msg(f, id, "", 0);
    end_body(f, id);
    pump(f);
    assert_int_equal(resp_of(f, id)->grpc_status, GRPC_INTERNAL);
}

static void test_bidi_and_cancel(void **state)
{
    struct fixture *f = *state;
    int32_t id = start_call(f, "/test.Svc/Bidi", "application/grpc", NULL);
    send_msg(f, id, "one", 3);
    send_msg(f, id, "two", 3);
    pump(f);
    struct resp *r = resp_of(f, id);
    assert_int_equal(resp_count(r), 2);
    assert_false(r->closed);
    assert_int_equal(h2_conn_call_count(f->h), 1);
    /* The client cancels mid-stream: the handler hears it and the call is freed. */
    nghttp2_submit_rst_stream(f->cl, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    pump(f);
    assert_int_equal(atomic_load(&f->st.bidi_cancel), 1);
    assert_int_equal(h2_conn_call_count(f->h), 0);
    assert_int_equal(grpc_server_stats(f->srv)->calls_active, 0);

    /* A normal bidi: half-close ends it with OK. */
    id = start_call(f, "/test.Svc/Bidi", "application/grpc", NULL);
    for (int i = 0; i < 20; i++) send_msg(f, id, "ping", 4);
    end_body(f, id);
    pump(f);
    assert_int_equal(resp_count(resp_of(f, id)), 20);
    assert_int_equal(resp_of(f, id)->grpc_status, 0);
    assert_int_equal(atomic_load(&f->st.bidi_half_close), 1);
    assert_int_equal(atomic_load(&f->st.bidi_msgs), 22);

    /* Cancelling a unary the handler still holds, and one whose reply comes later. */
    id = unary(f, "/test.Svc/Slow", "x", 1);
    nghttp2_submit_rst_stream(f->cl, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    pump(f);
    assert_int_equal(atomic_load(&f->st.slow_cancel), 1);
    id = unary(f, "/test.Svc/EchoAsync", "x", 1);
    nghttp2_submit_rst_stream(f->cl, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    pump(f);
    assert_int_equal(atomic_load(&f->st.async_cancel), 1);
    th_run_deferred(&f->st); /* completing a cancelled call is a no-op */
    pump(f);
    assert_int_equal(resp_of(f, id)->data.len, 0);
    /* And an asynchronous reply that is not cancelled arrives. */
    id = unary(f, "/test.Svc/EchoAsync", "later", 5);
    assert_false(resp_of(f, id)->closed);
    th_run_deferred(&f->st);
    pump(f);
    assert_int_equal(resp_of(f, id)->grpc_status, 0);
    assert_int_equal(grpc_server_stats(f->srv)->calls_active, 0);
}

/* A handler that answers after the connection is gone (a member's Put applied after its client
 * disconnected): the reply is a no-op and freeing the call touches nothing of the freed
 * connection. (The de-framer kept a pointer to the connection's receive budget and was released
 * again when the call was freed: a use-after-free under ASan, seen at a member's shutdown.) */
static void test_reply_after_connection_freed(void **state)
{
    struct fixture *f = *state;
    int32_t id = unary(f, "/test.Svc/EchoAsync", "later", 5);
    assert_false(resp_of(f, id)->closed);
    h2_conn_free(f->h);
    f->h = NULL;
    th_run_deferred(&f->st); /* the reply: the call is freed here */
    assert_int_equal(grpc_server_stats(f->srv)->calls_active, 0);
}

static void test_many_concurrent_streams(void **state)
{
    struct fixture *f = *state;
    int32_t ids[200];
    char req[32];
    /* Hold answers only once all 200 are pending at once. */
    for (int i = 0; i < 199; i++) {
        snprintf(req, sizeof(req), "200:%d", i);
        ids[i] = start_call(f, "/test.Svc/Hold", "application/grpc", NULL);
        send_msg(f, ids[i], req, strlen(req));
        end_body(f, ids[i]);
    }
    pump(f);
    assert_int_equal(h2_conn_call_count(f->h), 199);
    assert_int_equal(f->st.nheld, 199);
    snprintf(req, sizeof(req), "200:%d", 199);
    ids[199] = unary(f, "/test.Svc/Hold", req, strlen(req));
    for (int i = 0; i < 200; i++) {
        struct resp *r = resp_of(f, ids[i]);
        assert_int_equal(r->grpc_status, 0);
        size_t len;
        const uint8_t *m = resp_msg(r, 0, &len);
        snprintf(req, sizeof(req), "%d", i);
        assert_int_equal(len, strlen(req));
        assert_memory_equal(m, req, len);
    }
    assert_int_equal(h2_conn_call_count(f->h), 0);
}

static void check_pattern(const struct resp *r, int n, uint32_t size)
{
    assert_int_equal(resp_count(r), n);
    for (int i = 0; i < n; i++) {
        size_t len;
        const uint8_t *m = resp_msg(r, i, &len);
        assert_int_equal(len, size);
        for (uint32_t k = 0; k < size; k += 997) assert_int_equal(m[k], (uint8_t)(i + k));
    }
}

static void test_backpressure(void **state)
{
    struct fixture *f = *state;
    /* A client with a huge window that stops reading: only our bounds hold the server back. */
    nghttp2_session_del(f->cl);
    h2_conn_free(f->h);
    struct h2_io io = {f, io_room, io_write, io_want};
    assert_int_equal(h2_conn_new(f->srv, &io, &f->h), 0);
    client_new(f, 0x7fffffff);
    f->bound = 256u << 10;
    pump(f);
    f->client_reading = 0;
    f->s2c_high = 0;
    uint8_t req[8] = {0, 0, 0, 200, 0, 1, 0, 0}; /* 200 messages of 64 KiB: 12.5 MiB */
    int32_t id = unary(f, "/test.Svc/Stream", req, 8);
    /* The transport's bound stopped the frames; the call's 4 MiB queue said EBUSY. */
    assert_true(f->s2c_high <= f->bound + 16384 + 9 + 64);
    assert_true(atomic_load(&f->st.stream_ebusy) >= 1);
    assert_int_equal(atomic_load(&f->st.stream_done), 0);
    int ebusy = atomic_load(&f->st.stream_ebusy);
    pump(f);
    assert_int_equal(atomic_load(&f->st.stream_ebusy), ebusy); /* nothing moved */
    /* Reading again lets everything through, in order. */
    f->client_reading = 1;
    pump(f);
    struct resp *r = resp_of(f, id);
    assert_int_equal(r->grpc_status, 0);
    check_pattern(r, 200, 65536);
    assert_int_equal(atomic_load(&f->st.stream_done), 1);
    assert_int_equal(atomic_load(&f->st.stream_writable), atomic_load(&f->st.stream_ebusy));
}

static void test_stream_cancel_midway(void **state)
{
    struct fixture *f = *state;
    f->bound = 64u << 10;
    f->client_reading = 0;
    uint8_t req[8] = {0, 1, 0, 0, 0, 0, 64, 0}; /* 65536 messages of 16 KiB */
    int32_t id = unary(f, "/test.Svc/Stream", req, 8);
    f->client_reading = 1;
    assert_int_equal(nghttp2_session_mem_recv(f->cl, f->s2c.data, f->s2c.len), f->s2c.len);
    f->s2c.len = 0;
    assert_true(resp_of(f, id)->data.len > 0);
    nghttp2_submit_rst_stream(f->cl, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    pump(f);
    assert_int_equal(atomic_load(&f->st.stream_cancel), 1);
    assert_int_equal(grpc_server_stats(f->srv)->calls_active, 0);
    /* The connection is fine afterwards. */
    id = unary(f, "/test.Svc/Echo", "x", 1);
    assert_int_equal(resp_of(f, id)->grpc_status, 0);
}

static void test_ping_and_goaway(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 50; i++) nghttp2_submit_ping(f->cl, NGHTTP2_FLAG_NONE, NULL);
    pump(f);
    assert_int_equal(f->ping_acks, 50);
    assert_false(f->goaway); /* never "too many pings" */
    int32_t id = unary(f, "/test.Svc/Slow", "x", 1);
    assert_false(h2_conn_done(f->h));
    h2_conn_goaway(f->h);
    pump(f);
    assert_true(f->goaway);
    assert_int_equal(f->goaway_error, NGHTTP2_NO_ERROR);
    assert_true(h2_conn_done(f->h));
    assert_false(resp_of(f, id)->closed);
    /* teardown frees the connection: the held call gets on_cancel */
}

static void test_garbage_after_preface(void **state)
{
    struct fixture *f = *state;
    static const uint8_t junk[] = "\x00\x00\x04\x99\x00\x00\x00\x00\x00garbage-garbage";
    int rc = h2_conn_recv(f->h, junk, sizeof(junk) - 1);
    h2_conn_send(f->h);
    (void)rc;
    assert_true(h2_conn_done(f->h));
    /* A fresh connection with a broken preface fails at once. */
    struct grpc_server *srv = f->srv;
    struct h2_conn *h2;
    struct h2_io io = {f, io_room, io_write, io_want};
    assert_int_equal(h2_conn_new(srv, &io, &h2), 0);
    assert_int_equal(h2_conn_recv(h2, (const uint8_t *)"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 24),
                     CC_EPROTO);
    assert_true(h2_conn_done(h2));
    h2_conn_free(h2);
}

static void noop(struct grpc_call *c, const uint8_t *m, size_t n, void *arg) {}

static void test_registry(void **state)
{
    struct fixture *f = *state;
    static const struct grpc_method_ops bad = {.kind = GRPC_METHOD_STREAMING};
    static const struct grpc_method_ops ok = {.kind = GRPC_METHOD_UNARY, .on_request = noop};
    assert_int_equal(grpc_server_add_method(f->srv, "/a.B/C", &bad, NULL), CC_EINVAL);
    assert_int_equal(grpc_server_add_method(f->srv, "a.B/C", &ok, NULL), CC_EINVAL);
    assert_int_equal(grpc_server_add_method(f->srv, "/a.B/", &ok, NULL), CC_EINVAL);
    assert_int_equal(grpc_server_add_method(f->srv, "/a.B/C/D", &ok, NULL), CC_EINVAL);
    assert_int_equal(grpc_server_add_method(f->srv, "/test.Svc/Echo", &ok, NULL), CC_EEXIST);
    assert_int_equal(grpc_server_method_count(f->srv), 8);
    const struct grpc_method_stats *st;
    int32_t id = unary(f, "/test.Svc/Echo", "x", 1);
    assert_int_equal(resp_of(f, id)->grpc_status, 0);
    for (size_t i = 0; i < grpc_server_method_count(f->srv); i++) {
        const char *p = grpc_server_method_at(f->srv, i, &st);
        if (strcmp(p, "/test.Svc/Echo") != 0) continue;
        assert_int_equal(st->started, 1);
        assert_int_equal(st->completed[GRPC_OK], 1);
        assert_int_equal(st->msgs_received, 1);
        assert_int_equal(st->msgs_sent, 1);
        assert_int_equal(st->latency_us.count, 1);
    }
    struct grpc_limits lim;
    grpc_limits_default(&lim);
    lim.conn_recv_buffer_bytes = lim.max_recv_msg_bytes - 1;
    struct grpc_server *s2;
    assert_int_equal(grpc_server_new(&lim, NULL, &s2), CC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unary_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authority_with_scheme_is_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_fields_reset_the_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_are_trailers_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_then_connection_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_and_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bidi_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_after_connection_freed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_cancel_midway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_and_goaway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_after_preface, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
