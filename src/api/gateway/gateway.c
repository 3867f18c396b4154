/* gateway.c — the JSON gateway as etcd 3.4's grpc-gateway serves it: POST a JSON request to
 * /v3/<service>/<method>, get the JSON response; streaming methods take a body of
 * concatenated JSON requests and answer a chunked stream of {"result": ...} lines. It drives
 * the same handlers as gRPC through its own ecall transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/gateway/gateway_int.h"
#include "api/gateway/pbjson.h"
#include "util/err.h"

#define JSON_ARENA(len) (16 * (len) + (64u << 10)) /* parse tree of a body of len bytes */

/* One registered route: the method it serves. */
struct gw_route {
    struct gateway *gw;
    const struct etcd_method *m;
};

/* The transport state of one call over HTTP. */
struct gw_call {
    struct http_exchange *ex;
    const struct http_request *req;
    bool begun; /* the chunked response has started */
};

static struct gw_call *gwc(const struct ecall *c)
{
    return c->tx;
}

void gateway__cors(struct http_exchange *ex)
{
    http_exchange_add_header(ex, "Access-Control-Allow-Headers",
                             "accept, content-type, authorization");
    http_exchange_add_header(ex, "Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE");
    http_exchange_add_header(ex, "Access-Control-Allow-Origin", "*");
}

void gateway__reply(struct http_exchange *ex, int status, const char *ctype, const void *body,
                    size_t len)
{
    gateway__cors(ex);
    http_reply(ex, status, ctype, body, len);
}

/* grpc-gateway's error body: {"error": msg, "message": msg, "code": n}. */
static void reply_error(struct http_exchange *ex, int http_status, int code, const char *msg)
{
    struct buf b;
    buf_init(&b, 64u << 10);
    int rc = json_put_raw(&b, "{\"error\":");
    if (!rc) rc = json_put_str(&b, msg, strlen(msg));
    if (!rc) rc = json_put_raw(&b, ",\"message\":");
    if (!rc) rc = json_put_str(&b, msg, strlen(msg));
    if (!rc) rc = json_put_raw(&b, ",\"code\":");
    if (!rc) rc = json_put_i64(&b, code, false);
    if (!rc) rc = json_put_raw(&b, "}");
    if (rc)
        gateway__reply(ex, 500, "text/plain; charset=utf-8", "internal error\n", 15);
    else
        gateway__reply(ex, http_status, "application/json", b.data, b.len);
    buf_free(&b);
}

/* A stream's error line: {"error":{"grpc_code":n,"http_code":h,"message":m,"http_status":t}}. */
static int stream_error(struct buf *b, int code, const char *msg)
{
    int http = etcd_http_status(code);
    int rc = json_put_raw(b, "{\"error\":{\"grpc_code\":");
    if (!rc) rc = json_put_i64(b, code, false);
    if (!rc) rc = json_put_raw(b, ",\"http_code\":");
    if (!rc) rc = json_put_i64(b, http, false);
    if (!rc && msg && msg[0]) {
        rc = json_put_raw(b, ",\"message\":");
        if (!rc) rc = json_put_str(b, msg, strlen(msg));
    }
    if (!rc) rc = json_put_raw(b, ",\"http_status\":");
    const char *st = http_status_text(http);
    if (!rc) rc = json_put_str(b, st, strlen(st));
    return rc ? rc : json_put_raw(b, "}}");
}

/* ---- the ecall transport ---- */

static int begin(struct gw_call *g)
{
    if (g->begun) return 0;
    gateway__cors(g->ex);
    http_exchange_add_header(g->ex, "Grpc-Metadata-Content-Type", "application/grpc");
    int rc = http_stream_begin(g->ex, 200, "application/json");
    if (!rc) g->begun = true;
    return rc;
}

static int t_encode(struct ecall *c, const ProtobufCMessage *msg, struct buf *out)
{
    int rc = json_put_raw(out, "{\"result\":");
    if (!rc) rc = pbjson_encode(msg, out);
    return rc ? rc : json_put_raw(out, "}\n");
}

static int t_send_bytes(struct ecall *c, const uint8_t *p, size_t n)
{
    int rc = begin(gwc(c));
    return rc ? rc : http_stream_send(gwc(c)->ex, p, n);
}

static int t_send(struct ecall *c, const ProtobufCMessage *msg)
{
    struct buf b;
    buf_init(&b, GW_BODY_MAX);
    int rc = t_encode(c, msg, &b);
    if (!rc) rc = t_send_bytes(c, b.data, b.len);
    buf_free(&b);
    return rc;
}

static void t_reply(struct ecall *c, const ProtobufCMessage *msg)
{
    struct gw_call *g = gwc(c);
    http_exchange_set_data(g->ex, NULL); /* completed: later callbacks find nothing */
    struct buf b;
    buf_init(&b, GW_BODY_MAX);
    if (pbjson_encode(msg, &b))
        reply_error(g->ex, 500, GRPC_RESOURCE_EXHAUSTED, "response too large");
    else
        gateway__reply(g->ex, 200, "application/json", b.data, b.len);
    buf_free(&b);
    free(g);
}

static void t_finish(struct ecall *c, int code, const char *msg)
{
    struct gw_call *g = gwc(c);
    http_exchange_set_data(g->ex, NULL); /* completed: later callbacks find nothing */
    if (!msg) msg = "";
    if (c->m->kind == EM_UNARY) {
        reply_error(g->ex, etcd_http_status(code), code, msg);
    } else if (code == GRPC_OK) {
        if (begin(g) == 0)
            http_stream_end(g->ex);
        else
            http_reply(g->ex, 200, "application/json", NULL, 0);
    } else {
        struct buf b;
        buf_init(&b, 64u << 10);
        if (stream_error(&b, code, msg) == 0) {
            if (g->begun) {
                http_stream_send(g->ex, b.data, b.len); /* best effort: the stream ends anyway */
                http_stream_end(g->ex);
            } else {
                gateway__reply(g->ex, etcd_http_status(code), "application/json", b.data, b.len);
            }
        } else if (g->begun) {
            http_stream_end(g->ex);
        } else {
            gateway__reply(g->ex, 500, "text/plain; charset=utf-8", NULL, 0);
        }
        buf_free(&b);
    }
    free(g);
}

/* grpc-gateway forwards "Grpc-Metadata-<name>" headers as gRPC metadata. */
static const char *t_metadata(const struct ecall *c, const char *name)
{
    char h[128];
    snprintf(h, sizeof(h), "Grpc-Metadata-%s", name);
    return http_request_header(gwc(c)->req, h);
}

static const struct ecall_transport http_transport = {
    t_send, t_encode, t_send_bytes, t_reply, t_finish, t_metadata,
};

/* ---- requests ---- */

/* Reads the next JSON value of the body at *off into a request message. Returns 0 and *msg,
 * CC_ENOTFOUND at the end of the body, or an error with a reason in err. */
static int next_message(struct ecall *c, const struct http_request *req, size_t *off,
                        ProtobufCMessage **msg, char *err, size_t errlen)
{
    size_t left = req->body_len - *off;
    struct kv_arena a = {.limit = JSON_ARENA(left)};
    struct json_val *v = NULL;
    size_t used = 0;
    int rc = json_parse((const char *)req->body + *off, left, &a, &v, &used, err, errlen);
    if (!rc) {
        c->pm.limit = c->pm.used + pbmem_budget(used);
        rc = pbjson_decode(c->m->req, v, &c->pm.pa, msg, err, errlen);
        *off += used;
    }
    kv_arena_free(&a);
    return rc;
}

/* The rest of a streaming body, then the half-close. The caller holds a reference. */
static void dispatch_rest(struct ecall *c, const struct http_request *req, size_t off)
{
    char err[256];
    for (;;) {
        ProtobufCMessage *msg = NULL;
        /* grpc-gateway stops forwarding at the first request that does not decode. */
        if (c->done || next_message(c, req, &off, &msg, err, sizeof(err))) break;
        ecall_dispatch_message(c, msg);
        ecall_free_msg(c, msg);
    }
    if (!c->done) ecall_dispatch_half_close(c);
}

static void on_request(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    struct gw_route *rt = arg;
    if (!strcmp(req->method, "OPTIONS")) { /* CORS preflight: etcd answers it empty */
        gateway__reply(ex, 200, NULL, NULL, 0);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        http_exchange_add_header(ex, "Allow", "POST");
        gateway__reply(ex, 405, "text/plain; charset=utf-8", "Method Not Allowed\n", 19);
        return;
    }
    struct gw_call *g = calloc(1, sizeof(*g));
    struct ecall *c = g ? ecall_new(rt->gw->api, rt->m, &http_transport, g) : NULL;
    if (!c) {
        free(g);
        reply_error(ex, 500, GRPC_RESOURCE_EXHAUSTED, "concur: out of memory");
        return;
    }
    g->ex = ex;
    g->req = req;
    http_exchange_set_data(ex, c);
    size_t off = 0;
    ProtobufCMessage *msg = NULL;
    char err[256];
    int rc = next_message(c, req, &off, &msg, err, sizeof(err));
    if (rc == CC_ENOTFOUND) { /* an empty body is an empty request */
        rc = CC_ENOMEM;
        msg = protobuf_c_message_unpack(rt->m->req, &c->pm.pa, 0, (const uint8_t *)"");
        if (msg)
            rc = 0;
        else
            snprintf(err, sizeof(err), "out of memory");
    }
    if (rc) {
        /* grpc-gateway: InvalidArgument for unary requests; streams fail before starting
         * with the decoder's plain error (Unknown, HTTP 500). */
        bool unary = rt->m->kind != EM_STREAMING;
        http_exchange_set_data(ex, NULL);
        reply_error(ex, unary ? 400 : 500, unary ? GRPC_INVALID_ARGUMENT : GRPC_UNKNOWN, err);
        free(g);
        c->done = true;
        ecall_unref(c);
        return;
    }
    if (rt->m->kind != EM_STREAMING) {
        ecall_dispatch(c, msg, protobuf_c_message_get_packed_size(msg));
        return;
    }
    ecall_ref(c);
    ecall_dispatch_start(c);
    if (!c->done) ecall_dispatch_message(c, msg);
    ecall_free_msg(c, msg);
    if (!c->done) dispatch_rest(c, req, off);
    ecall_unref(c);
}

static void on_writable(struct http_exchange *ex, void *arg)
{
    struct ecall *c = http_exchange_data(ex);
    if (c && !c->done) ecall_on_writable(c);
}

static void on_cancel(struct http_exchange *ex, void *arg)
{
    struct ecall *c = http_exchange_data(ex);
    if (c && !c->done) ecall_on_cancel(c);
}

static const struct http_route_ops route_ops = {on_request, on_writable, on_cancel};

int gateway_register(struct etcd_api *a, struct http_router *r, const struct gateway_src *src)
{
    struct gateway *gw = kv_arena_calloc(&a->mem, 1, sizeof(*gw));
    if (!gw) return CC_ENOMEM;
    gw->api = a;
    if (src) gw->src = *src;
    int rc = http_router_add(r, "GET", "/health", 0, &gateway__health_ops, gw);
    if (!rc) rc = http_router_add(r, "GET", "/version", 0, &gateway__version_ops, gw);
    if (!rc) rc = http_router_add(r, "GET", "/metrics", 0, &gateway__metrics_ops, gw);
    for (const struct etcd_method *m = etcd__methods; !rc && m->path; m++) {
        const char *paths[2] = {m->gw_path, m->gw_alias};
        for (int i = 0; i < 2 && !rc; i++) {
            if (!paths[i]) continue;
            struct gw_route *rt = kv_arena_calloc(&a->mem, 1, sizeof(*rt));
            if (!rt) return CC_ENOMEM;
            rt->gw = gw;
            rt->m = m;
            rc = http_router_add(r, "*", paths[i], 0, &route_ops, rt);
        }
    }
    return rc;
}
