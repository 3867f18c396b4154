/* h2c_call.c — the calls of the gRPC client: starting one (request headers, body, deadline)
 * and nghttp2's callbacks that decide each call's outcome from the response (gRPC
 * PROTOCOL-HTTP2.md), within the limits of struct h2c_limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/grpc/grpc_frame.h"
#include "api/h2client/h2c_int.h"
#include "util/clock.h"
#include "util/err.h"

static struct h2c_call *list_find(struct call_list *l, int32_t id)
{
    for (struct h2c_call *k = l->head.next; k != &l->head; k = k->next)
        if (k->id == id) return k;
    return NULL;
}

void h2c__call_free(struct h2c_call *k)
{
    k->conn->n_calls--;
    buf_free(&k->rx);
    free(k->tx);
    free(k);
}

void h2c__free_list(struct call_list *l)
{
    while (!list_empty(l)) {
        struct h2c_call *k = l->head.next;
        list_unlink(k);
        h2c__call_free(k);
    }
}

/* Moves a live call to the done list with its outcome; the reply goes out in settle(). */
void h2c__call_decide(struct h2c_call *k, int code, int err, const char *message)
{
    if (k->decided) return;
    k->decided = true;
    k->code = code;
    k->err = err;
    if (message) snprintf(k->message, sizeof k->message, "%s", message);
    list_unlink(k);
    list_push(&k->conn->done, k);
}

/* nghttp2 is done with k's stream: a replied call can go now, a decided one after its reply. */
static void stream_gone(struct h2c_call *k)
{
    k->stream_closed = true;
    if (!k->replied) return;
    list_unlink(k);
    h2c__call_free(k);
}

/* Decides a running call here and resets its stream (the server stops working on it). */
void h2c__call_fail_local(struct h2c_call *k, int code, int err, const char *message)
{
    struct h2c *c = k->conn;
    h2c__call_decide(k, code, err, message);
    if (c->failed || c->closing) return;
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, k->id, NGHTTP2_CANCEL);
    h2c__schedule_flush(c);
}

/* ---- nghttp2 callbacks ---------------------------------------------------------------------- */

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

/* A decimal of at most 4 digits, or bad. */
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
    if (!k || k->decided) return 0;
    k->header_bytes += (uint32_t)(namelen + valuelen + HPACK_ENTRY);
    if (namelen + valuelen > k->conn->lim.max_header_bytes ||
        k->header_bytes > k->conn->lim.max_header_bytes) {
        h2c__call_fail_local(k, GRPC_RESOURCE_EXHAUSTED, CC_ETOOBIG, "response metadata too large");
        return 0;
    }
    if (namelen == 7 && !memcmp(name, ":status", 7)) {
        k->http_status = parse_small_int(value, valuelen, 0);
    } else if (namelen == 11 && !memcmp(name, "grpc-status", 11)) {
        k->got_status = true;
        k->code = parse_small_int(value, valuelen, GRPC_UNKNOWN);
        if (k->code >= GRPC_CODE_COUNT_) k->code = GRPC_UNKNOWN; /* as gRPC libraries do */
    } else if (namelen == 12 && !memcmp(name, "grpc-message", 12)) {
        size_t n = valuelen < MESSAGE_MAX ? valuelen : MESSAGE_MAX;
        grpc_percent_decode((const char *)value, n, k->message, sizeof k->message);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct h2c_call *k = nghttp2_session_get_stream_user_data(h2, id);
    if (!k || k->decided || k->got_status) return 0;
    int rc = buf_append(&k->rx, data, len);
    if (rc == CC_ETOOBIG) {
        char why[96];
        snprintf(why, sizeof why, "response larger than %u bytes", k->conn->lim.max_response_bytes);
        h2c__call_fail_local(k, GRPC_RESOURCE_EXHAUSTED, CC_ETOOBIG, why);
    } else if (rc) {
        h2c__call_fail_local(k, GRPC_RESOURCE_EXHAUSTED, CC_ENOMEM, "out of memory");
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

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    struct h2c_call *k = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (k) k->sent = true; /* from here on the server may see the call */
    return 0;
}

/* A request's HEADERS could not go out (cancelled before sending, GOAWAY, ...): the server
 * never saw it. nghttp2 mentions the stream again only if it was opened. */
static int on_frame_not_send(nghttp2_session *h2, const nghttp2_frame *frame, int lib_error,
                             void *ud)
{
    struct h2c *c = ud;
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    int32_t id = frame->hd.stream_id;
    struct h2c_call *k = list_find(&c->live, id);
    if (!k) k = list_find(&c->done, id);
    if (!k) k = list_find(&c->zombie, id);
    if (!k) return 0;
    if (!k->decided) {
        char why[128];
        snprintf(why, sizeof why, "request not sent: %s", nghttp2_strerror(lib_error));
        h2c__call_decide(k, GRPC_UNAVAILABLE, CC_ECLOSED, why);
    }
    if (!nghttp2_session_find_stream(h2, id)) stream_gone(k);
    return 0;
}

/* grpc-go's mapping of HTTP statuses for responses without grpc-status. */
static int code_from_http(int http)
{
    switch (http) {
    case 400:
        return GRPC_INTERNAL;
    case 401:
        return GRPC_UNAUTHENTICATED;
    case 403:
        return GRPC_PERMISSION_DENIED;
    case 404:
        return GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return GRPC_UNAVAILABLE;
    default:
        return GRPC_UNKNOWN;
    }
}

/* Decides the outcome of a call whose stream closed before it was decided, from what arrived
 * (gRPC PROTOCOL-HTTP2.md, "Responses"). */
static void decide_closed(struct h2c_call *k, uint32_t error_code)
{
    char msg[160];
    if (k->got_status) {
        if (k->code != GRPC_OK) {
            h2c__call_decide(k, k->code, 0, NULL);
            return;
        }
        /* A unary response is exactly one uncompressed length-prefixed message. */
        const uint8_t *p = k->rx.data;
        size_t want = k->rx.len >= GRPC_FRAME_HDR
                          ? GRPC_FRAME_HDR + (((size_t)p[1] << 24) | ((size_t)p[2] << 16) |
                                              ((size_t)p[3] << 8) | p[4])
                          : 0;
        if (k->rx.len >= GRPC_FRAME_HDR && p[0] == 0 && want == k->rx.len) {
            h2c__call_decide(k, GRPC_OK, 0, NULL);
            return;
        }
        snprintf(msg, sizeof msg, "response is not exactly one uncompressed message (%zu bytes)",
                 k->rx.len);
        h2c__call_decide(k, GRPC_INTERNAL, CC_EPROTO, msg);
    } else if (error_code != NGHTTP2_NO_ERROR) {
        int code = error_code == NGHTTP2_REFUSED_STREAM ? GRPC_UNAVAILABLE
                   : error_code == NGHTTP2_CANCEL       ? GRPC_CANCELLED
                                                        : GRPC_INTERNAL;
        if (error_code == NGHTTP2_REFUSED_STREAM) k->sent = false; /* RFC 9113 §8.7 */
        snprintf(msg, sizeof msg, "stream reset: %s", nghttp2_http2_strerror(error_code));
        h2c__call_decide(k, code, CC_ECLOSED, msg);
    } else if (k->http_status != 200) {
        snprintf(msg, sizeof msg, "HTTP status %d", k->http_status);
        h2c__call_decide(k, code_from_http(k->http_status), CC_EPROTO, msg);
    } else {
        h2c__call_decide(k, GRPC_INTERNAL, CC_EPROTO, "stream closed without grpc-status");
    }
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *ud)
{
    struct h2c_call *k = nghttp2_session_get_stream_user_data(h2, id);
    if (!k) return 0;
    if (!k->decided) decide_closed(k, error_code);
    stream_gone(k);
    return 0;
}

int h2c__session_init(struct h2c *c)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0) return CC_ENOMEM;
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rv = nghttp2_session_client_new(&c->h2, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) return CC_ENOMEM;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->lim.stream_window_bytes},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, c->lim.max_header_bytes},
    };
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
        nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
                                              (int32_t)c->lim.conn_window_bytes) != 0)
        return CC_ENOMEM;
    return 0;
}

/* ---- starting calls ------------------------------------------------------------------------- */

/* A header name we let callers send: a lower-case token that is not one the call sets. */
static bool md_ok(const struct h2c_md *m)
{
    static const char *const reserved[] = {"te", "content-type", "grpc-timeout", "user-agent"};
    size_t n = strlen(m->name);
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = m->name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
              ch == '.'))
            return false;
    }
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (!strcmp(m->name, reserved[i])) return false;
    for (const char *v = m->value; *v; v++)
        if ((unsigned char)*v < 0x20 && *v != '\t') return false;
    return true;
}

/* grpc-timeout in the largest precision that fits its 8 digits. */
static void format_timeout(uint64_t ms, char *out, size_t outsz)
{
    if (ms <= TIMEOUT_MAX) {
        snprintf(out, outsz, "%llum", (unsigned long long)ms);
        return;
    }
    uint64_t s = (ms + 999) / 1000;
    snprintf(out, outsz, "%lluS", (unsigned long long)(s <= TIMEOUT_MAX ? s : TIMEOUT_MAX));
}

#define NV(n, v)                                                                                   \
    (nghttp2_nv)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                 \
    }

int h2c_call(struct h2c *c, const char *path, const uint8_t *body, size_t len,
             const struct h2c_call_opts *opts, h2c_reply_fn fn, void *call_ud, int32_t *stream_id)
{
    static const struct h2c_call_opts none;
    if (!opts) opts = &none;
    if (!h2c_usable(c)) return CC_ECLOSED;
    if (c->n_calls >= c->lim.max_calls) return CC_EBUSY;
    if (len > c->lim.max_request_bytes) return CC_ETOOBIG;
    if (path[0] != '/' || opts->n_md > H2C_MAX_METADATA) return CC_EINVAL;
    size_t hdr_bytes = strlen(path) + strlen(c->authority);
    for (size_t i = 0; i < opts->n_md; i++) {
        if (!md_ok(&opts->md[i])) return CC_EINVAL;
        hdr_bytes += strlen(opts->md[i].name) + strlen(opts->md[i].value) + HPACK_ENTRY;
    }
    if (hdr_bytes > REQ_HEADER_MAX) return CC_EINVAL;

    struct h2c_call *k = calloc(1, sizeof *k);
    if (!k) return CC_ENOMEM;
    k->tx = malloc(GRPC_FRAME_HDR + len);
    if (!k->tx) {
        free(k);
        return CC_ENOMEM;
    }
    k->conn = c;
    k->fn = fn;
    k->ud = call_ud;
    grpc_frame_put_header(k->tx, (uint32_t)len);
    if (len) memcpy(k->tx + GRPC_FRAME_HDR, body, len);
    k->tx_len = GRPC_FRAME_HDR + len;
    buf_init(&k->rx, GRPC_FRAME_HDR + (size_t)c->lim.max_response_bytes);
    c->n_calls++;

    char timeout[24];
    nghttp2_nv nv[7 + 1 + H2C_MAX_METADATA];
    size_t n = 0;
    nv[n++] = NV(":method", "POST");
    nv[n++] = NV(":scheme", "http");
    nv[n++] = NV(":path", path);
    nv[n++] = NV(":authority", c->authority);
    nv[n++] = NV("content-type", "application/grpc");
    nv[n++] = NV("user-agent", "concur-h2c/0.1");
    nv[n++] = NV("te", "trailers");
    if (opts->timeout_ms) {
        format_timeout(opts->timeout_ms, timeout, sizeof timeout);
        nv[n++] = NV("grpc-timeout", timeout);
    }
    for (size_t i = 0; i < opts->n_md; i++) nv[n++] = NV(opts->md[i].name, opts->md[i].value);
    nghttp2_data_provider prd = {.source.ptr = k, .read_callback = on_read_body};
    int32_t id = nghttp2_submit_request(c->h2, NULL, nv, n, &prd, k);
    if (id < 0) {
        h2c__call_free(k);
        if (id != NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) return CC_ENOMEM;
        c->ids_exhausted = true;
        return CC_ECLOSED;
    }
    k->id = id;
    list_push(&c->live, k);
    if (opts->timeout_ms) {
        k->deadline_ms = clock_mono_ms() + opts->timeout_ms;
        h2c__arm_timer(c, k->deadline_ms);
    }
    if (stream_id) *stream_id = id;
    h2c__schedule_flush(c);
    return 0;
}

#undef NV

void h2c_cancel(struct h2c *c, int32_t stream_id)
{
    if (c->failed || c->closing) return;
    struct h2c_call *k = list_find(&c->live, stream_id);
    if (k) h2c__call_fail_local(k, GRPC_CANCELLED, CC_ECANCELED, "cancelled");
}
