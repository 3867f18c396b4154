/* h2c.c — gRPC unary calls over one HTTP/2 connection with nghttp2's client session on libuv. */
#include "h2c.h"

#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <nghttp2/nghttp2.h>

#include "util/buf.h"
#include "util/err.h"

/* Receive windows large enough that responses never wait for WINDOW_UPDATE in a benchmark. */
#define H2C_STREAM_WINDOW (1 << 20)
#define H2C_CONN_WINDOW   (32 << 20)
/* Serialized frames gathered into one write. */
#define H2C_WRITE_CHUNK (256 * 1024)
#define H2C_READ_CHUNK  (64 * 1024)

struct h2c_call {
    struct h2c_call *prev, *next; /* in the connection's live or done list */
    struct h2c *conn;
    int32_t id;
    h2c_reply_fn fn;
    void *ud;
    uint8_t *tx; /* 5-byte gRPC prefix + body */
    size_t tx_len, tx_off;
    struct buf rx; /* the response's DATA bytes (prefix included) */
    int http_status;
    bool got_status;
    bool local; /* the outcome was decided here (response too large) */
    int code;
    char message[256];
};

/* A doubly linked list with a sentinel. */
struct call_list {
    struct h2c_call head;
};

struct h2c {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_prepare_t flusher; /* writes once per loop iteration, after all of its callbacks */
    uv_connect_t connect_req;
    uv_write_t write_req;
    nghttp2_session *h2;
    struct sockaddr_storage addr;
    char authority[128];
    h2c_event_fn on_event;
    void *ud;
    struct buf wbuf; /* bytes handed to uv_write; stable while writing */
    struct call_list live, done;
    int open_handles;
    bool connected, writing, flush_scheduled, goaway;
    bool ready, ready_reported, failed, fail_reported, closing;
    char why[256];
    uint8_t rbuf[H2C_READ_CHUNK];
};

static void list_init(struct call_list *l)
{
    l->head.prev = l->head.next = &l->head;
}

static bool list_empty(const struct call_list *l)
{
    return l->head.next == &l->head;
}

static void list_unlink(struct h2c_call *k)
{
    k->prev->next = k->next;
    k->next->prev = k->prev;
    k->prev = k->next = NULL;
}

static void list_push(struct call_list *l, struct h2c_call *k)
{
    k->prev = l->head.prev;
    k->next = &l->head;
    l->head.prev->next = k;
    l->head.prev = k;
}

static void call_free(struct h2c_call *k)
{
    buf_free(&k->rx);
    free(k->tx);
    free(k);
}

/* Moves a live call to the done list with its final code; the reply goes out in settle(). */
static void call_finish(struct h2c_call *k, int code, const char *message)
{
    struct h2c *c = k->conn;
    k->code = code;
    if (message) snprintf(k->message, sizeof k->message, "%s", message);
    list_unlink(k);
    list_push(&c->done, k);
}

/* Marks the connection dead and answers every running call. The session is never fed again, so
 * the stream user-data pointers it still holds are never followed. */
static void conn_fail(struct h2c *c, const char *why)
{
    if (c->failed) return;
    c->failed = true;
    snprintf(c->why, sizeof c->why, "%s", why);
    if (c->connected && !c->closing) uv_read_stop((uv_stream_t *)&c->tcp);
    while (!list_empty(&c->live)) call_finish(c->live.head.next, H2C_CODE_UNAVAILABLE, c->why);
}

/* Runs at the end of every libuv callback: delivers finished calls, then events. Replies may
 * start calls (queued, no re-entry) or close the connection (memory stays until the close
 * phase of the loop iteration). */
static void settle(struct h2c *c)
{
    while (!list_empty(&c->done)) {
        struct h2c_call *k = c->done.head.next;
        list_unlink(k);
        if (!c->closing) {
            struct h2c_reply r = {.code = k->code, .message = k->message, .stream_id = k->id};
            if (k->code == 0) {
                r.msg = k->rx.data + 5;
                r.msg_len = k->rx.len - 5;
            }
            k->fn(k->ud, &r);
        }
        call_free(k);
    }
    if (c->closing) return;
    if (c->ready && !c->ready_reported && !c->failed) {
        c->ready_reported = true;
        c->on_event(c->ud, c, H2C_READY, "");
    }
    if (c->failed && !c->fail_reported && !c->closing) {
        c->fail_reported = true;
        c->on_event(c->ud, c, H2C_FAILED, c->why);
    }
}

/* ---- writing ----------------------------------------------------------------------------- */

static void flush(struct h2c *c);

static void on_written(uv_write_t *req, int status)
{
    struct h2c *c = req->data;
    c->writing = false;
    if (c->closing) return;
    if (status < 0) {
        char why[128];
        snprintf(why, sizeof why, "write: %s", uv_strerror(status));
        conn_fail(c, why);
    } else {
        buf_reset(&c->wbuf);
        flush(c);
    }
    settle(c);
}

/* Serializes what nghttp2 wants to send and starts one write. One write at a time keeps wbuf's
 * bytes stable for libuv; the completion continues the flush. */
static void flush(struct h2c *c)
{
    if (c->failed || c->closing || c->writing || !c->connected) return;
    while (c->wbuf.len < H2C_WRITE_CHUNK && nghttp2_session_want_write(c->h2)) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0) {
            conn_fail(c, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0) break;
        if (buf_append(&c->wbuf, data, (size_t)n) != 0) {
            conn_fail(c, "out of memory");
            return;
        }
    }
    if (c->wbuf.len == 0) {
        if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
            conn_fail(c, "HTTP/2 session ended (GOAWAY)");
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
    int rv = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rv < 0) {
        char why[128];
        snprintf(why, sizeof why, "write: %s", uv_strerror(rv));
        conn_fail(c, why);
        return;
    }
    c->writing = true;
}

static void on_prepare(uv_prepare_t *p)
{
    struct h2c *c = p->data;
    uv_prepare_stop(p);
    c->flush_scheduled = false;
    flush(c);
    settle(c);
}

static void schedule_flush(struct h2c *c)
{
    if (c->flush_scheduled || c->closing) return;
    c->flush_scheduled = true;
    uv_prepare_start(&c->flusher, on_prepare);
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------- */

static ssize_t on_read_body(nghttp2_session *h2, int32_t id, uint8_t *dst, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2c_call *k = src->ptr;
    size_t n = k->tx_len - k->tx_off;
    if (n > len) n = len;
    memcpy(dst, k->tx + k->tx_off, n);
    k->tx_off += n;
    if (k->tx_off == k->tx_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int parse_small_int(const uint8_t *v, size_t len, int bad)
{
    int x = 0;
    if (len == 0 || len > 4) return bad;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return bad;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    struct h2c_call *k = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (!k || k->local) return 0;
    if (namelen == 7 && !memcmp(name, ":status", 7)) {
        k->http_status = parse_small_int(value, valuelen, 0);
    } else if (namelen == 11 && !memcmp(name, "grpc-status", 11)) {
        k->got_status = true;
        k->code = parse_small_int(value, valuelen, H2C_CODE_UNKNOWN);
    } else if (namelen == 12 && !memcmp(name, "grpc-message", 12)) {
        /* Kept percent-encoded: it is only shown to people. */
        size_t n = valuelen < sizeof k->message - 1 ? valuelen : sizeof k->message - 1;
        memcpy(k->message, value, n);
        k->message[n] = 0;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct h2c_call *k = nghttp2_session_get_stream_user_data(h2, id);
    if (!k || k->got_status) return 0;
    if (buf_append(&k->rx, data, len) != 0) {
        /* Too large: answer locally; the reset makes nghttp2 close the stream. */
        k->got_status = k->local = true;
        k->code = H2C_CODE_RESOURCE;
        snprintf(k->message, sizeof k->message, "response larger than %u bytes", H2C_MAX_MSG_BYTES);
        nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
    struct h2c *c = ud;
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
        c->ready = true;
    if (frame->hd.type == NGHTTP2_GOAWAY) c->goaway = true;
    return 0;
}

/* grpc-go's mapping of HTTP statuses for responses without grpc-status. */
static int code_from_http(int http)
{
    switch (http) {
    case 400:
        return H2C_CODE_INTERNAL;
    case 401:
        return 16;
    case 403:
        return 7;
    case 404:
        return 12;
    case 429:
    case 502:
    case 503:
    case 504:
        return H2C_CODE_UNAVAILABLE;
    default:
        return H2C_CODE_UNKNOWN;
    }
}

/* Decides the call's outcome from what arrived (gRPC PROTOCOL-HTTP2.md, "Responses"). */
static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *ud)
{
    struct h2c_call *k = nghttp2_session_get_stream_user_data(h2, id);
    if (!k) return 0;
    char msg[160] = "";
    int code;
    if (k->got_status) {
        code = k->code;
    } else if (error_code != NGHTTP2_NO_ERROR) {
        code = error_code == NGHTTP2_REFUSED_STREAM ? H2C_CODE_UNAVAILABLE
               : error_code == NGHTTP2_CANCEL       ? H2C_CODE_CANCELLED
                                                    : H2C_CODE_INTERNAL;
        snprintf(msg, sizeof msg, "stream reset: %s", nghttp2_http2_strerror(error_code));
    } else if (k->http_status != 200) {
        code = code_from_http(k->http_status);
        snprintf(msg, sizeof msg, "HTTP status %d", k->http_status);
    } else {
        code = H2C_CODE_INTERNAL;
        snprintf(msg, sizeof msg, "stream closed without grpc-status");
    }
    if (code == 0) {
        /* A unary response is exactly one uncompressed length-prefixed message. */
        const uint8_t *p = k->rx.data;
        size_t want =
            k->rx.len >= 5
                ? 5 + (((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4])
                : 0;
        if (k->rx.len < 5 || p[0] != 0 || want != k->rx.len) {
            code = H2C_CODE_INTERNAL;
            snprintf(msg, sizeof msg, "response is not exactly one message (%zu bytes)", k->rx.len);
        }
    }
    call_finish(k, code, msg[0] ? msg : NULL);
    return 0;
}

/* ---- reading and connecting -------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct h2c *c = h->data;
    *b = uv_buf_init((char *)c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct h2c *c = s->data;
    if (c->closing || c->failed) return;
    if (nread > 0) {
        ssize_t rv = nghttp2_session_mem_recv(c->h2, (const uint8_t *)b->base, (size_t)nread);
        if (rv < 0) conn_fail(c, nghttp2_strerror((int)rv));
    } else if (nread < 0) {
        char why[128];
        snprintf(why, sizeof why, "read: %s",
                 nread == UV_EOF ? "connection closed by server" : uv_strerror((int)nread));
        conn_fail(c, why);
    }
    if (!c->failed) schedule_flush(c);
    settle(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct h2c *c = req->data;
    if (c->closing) return;
    if (status < 0) {
        char why[160];
        snprintf(why, sizeof why, "connect to %s: %s", c->authority, uv_strerror(status));
        conn_fail(c, why);
    } else {
        c->connected = true;
        uv_tcp_nodelay(&c->tcp, 1);
        int rv = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (rv < 0) {
            conn_fail(c, uv_strerror(rv));
        } else {
            flush(c);
        }
    }
    settle(c);
}

static int session_init(struct h2c *c)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0) return CC_ENOMEM;
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rv = nghttp2_session_client_new(&c->h2, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) return CC_ENOMEM;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2C_STREAM_WINDOW},
    };
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
        nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, H2C_CONN_WINDOW) != 0)
        return CC_ENOMEM;
    return 0;
}

/* Splits "[http://]host:port" into host and port; https is refused (no TLS here). */
static int parse_endpoint(const char *ep, char *host, size_t hostlen, char *port, size_t portlen)
{
    if (!strncmp(ep, "https://", 8)) return CC_EINVAL;
    if (!strncmp(ep, "http://", 7)) ep += 7;
    const char *colon, *h = ep;
    size_t hl;
    if (ep[0] == '[') {
        const char *close = strchr(ep, ']');
        if (!close || close[1] != ':') return CC_EINVAL;
        h = ep + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(ep, ':');
        if (!colon) return CC_EINVAL;
        hl = (size_t)(colon - ep);
    }
    size_t pl = strcspn(colon + 1, "/");
    if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen) return CC_EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, pl);
    port[pl] = 0;
    return 0;
}

int h2c_open(uv_loop_t *loop, const char *endpoint, h2c_event_fn on_event, void *ud,
             struct h2c **out, char *err, size_t errlen)
{
    char host[100], port[16];
    *out = NULL;
    if (parse_endpoint(endpoint, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "invalid endpoint %s (want [http://]host:port)", endpoint);
        return CC_EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0 || !res) {
        snprintf(err, errlen, "lookup %s: %s", host, gai ? gai_strerror(gai) : "no address");
        return CC_EIO;
    }
    struct h2c *c = calloc(1, sizeof *c);
    if (!c) {
        freeaddrinfo(res);
        snprintf(err, errlen, "out of memory");
        return CC_ENOMEM;
    }
    memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    c->loop = loop;
    c->on_event = on_event;
    c->ud = ud;
    snprintf(c->authority, sizeof c->authority, "%s:%s", host, port);
    buf_init(&c->wbuf, 2 * H2C_WRITE_CHUNK + H2C_MAX_MSG_BYTES);
    list_init(&c->live);
    list_init(&c->done);
    if (session_init(c) != 0) {
        if (c->h2) nghttp2_session_del(c->h2);
        free(c);
        snprintf(err, errlen, "out of memory");
        return CC_ENOMEM;
    }
    int rv = uv_tcp_init(loop, &c->tcp);
    if (rv == 0) {
        uv_prepare_init(loop, &c->flusher);
        c->tcp.data = c->flusher.data = c->connect_req.data = c->write_req.data = c;
        c->open_handles = 2;
        rv =
            uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&c->addr, on_connect);
        if (rv < 0) {
            snprintf(err, errlen, "connect to %s: %s", c->authority, uv_strerror(rv));
            h2c_close(c);
            return CC_EIO;
        }
    } else {
        snprintf(err, errlen, "socket: %s", uv_strerror(rv));
        nghttp2_session_del(c->h2);
        free(c);
        return CC_EIO;
    }
    *out = c;
    return 0;
}

int h2c_call(struct h2c *c, const char *path, const uint8_t *body, size_t len, h2c_reply_fn fn,
             void *call_ud, int32_t *stream_id)
{
    if (c->failed || c->closing || c->goaway) return CC_ECLOSED;
    if (len > H2C_MAX_MSG_BYTES) return CC_ETOOBIG;
    struct h2c_call *k = calloc(1, sizeof *k);
    if (!k) return CC_ENOMEM;
    k->tx = malloc(5 + len);
    if (!k->tx) {
        free(k);
        return CC_ENOMEM;
    }
    k->conn = c;
    k->fn = fn;
    k->ud = call_ud;
    k->tx[0] = 0;
    k->tx[1] = (uint8_t)(len >> 24);
    k->tx[2] = (uint8_t)(len >> 16);
    k->tx[3] = (uint8_t)(len >> 8);
    k->tx[4] = (uint8_t)len;
    if (len) memcpy(k->tx + 5, body, len);
    k->tx_len = 5 + len;
    buf_init(&k->rx, 5 + H2C_MAX_MSG_BYTES);

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nv[] = {NV(":method", "POST"),
                       NV(":scheme", "http"),
                       NV(":path", path),
                       NV(":authority", c->authority),
                       NV("content-type", "application/grpc"),
                       NV("user-agent", "concur-bench/0.1"),
                       NV("te", "trailers")};
#undef NV
    nghttp2_data_provider prd = {.source.ptr = k, .read_callback = on_read_body};
    int32_t id = nghttp2_submit_request(c->h2, NULL, nv, sizeof nv / sizeof nv[0], &prd, k);
    if (id < 0) {
        call_free(k);
        return id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? CC_ECLOSED : CC_ENOMEM;
    }
    k->id = id;
    list_push(&c->live, k);
    if (stream_id) *stream_id = id;
    schedule_flush(c);
    return 0;
}

void h2c_cancel(struct h2c *c, int32_t stream_id)
{
    if (c->failed || c->closing) return;
    if (!nghttp2_session_get_stream_user_data(c->h2, stream_id)) return;
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    schedule_flush(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct h2c *c = h->data;
    if (--c->open_handles > 0) return;
    nghttp2_session_del(c->h2);
    while (!list_empty(&c->live)) {
        struct h2c_call *k = c->live.head.next;
        list_unlink(k);
        call_free(k);
    }
    while (!list_empty(&c->done)) {
        struct h2c_call *k = c->done.head.next;
        list_unlink(k);
        call_free(k);
    }
    buf_free(&c->wbuf);
    free(c);
}

void h2c_close(struct h2c *c)
{
    if (!c || c->closing) return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->flusher, on_handle_closed);
}
