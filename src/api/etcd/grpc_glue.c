/* grpc_glue.c — the gRPC transport of the etcd API: registers the method table on a
 * grpc_server and adapts grpc_call to struct ecall (protobuf in, protobuf out). */
#include <stdio.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "api/grpc/grpc.h"
#include "util/err.h"

/* One registered method: what the library hands back as the callbacks' arg. */
struct glue_method {
    struct etcd_api *api;
    const struct etcd_method *m;
};

static struct grpc_call *gc(const struct ecall *c)
{
    return c->tx;
}

static void pack(const void *ctx, uint8_t *out)
{
    protobuf_c_message_pack(ctx, out);
}

static int t_send(struct ecall *c, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    return grpc_call_send_packed(gc(c), len, pack, msg);
}

static int t_encode(struct ecall *c, const ProtobufCMessage *msg, struct buf *out)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    int rc = buf_reserve(out, len);
    if (rc) return rc;
    protobuf_c_message_pack(msg, out->data + out->len);
    out->len += len;
    return 0;
}

static int t_send_bytes(struct ecall *c, const uint8_t *p, size_t n)
{
    return grpc_call_send(gc(c), p, n);
}

/* After completion the library may free the call: forget it first. */
static void detach(struct ecall *c)
{
    grpc_call_set_data(gc(c), NULL);
}

static void t_reply(struct ecall *c, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    detach(c);
    grpc_call_reply_packed(gc(c), len, pack, msg);
}

static void t_finish(struct ecall *c, int code, const char *msg)
{
    detach(c);
    grpc_call_finish(gc(c), code, msg);
}

static const char *t_metadata(const struct ecall *c, const char *name)
{
    return grpc_call_metadata(gc(c), name);
}

static const struct ecall_transport grpc_transport = {
    t_send, t_encode, t_send_bytes, t_reply, t_finish, t_metadata,
};

/* Why a request did not decode: grpc-go answers INTERNAL for what does not unmarshal; a
 * request over the memory budget is refused as an overload. */
static void decode_status(const struct ecall *c, int *code, const char **msg)
{
    if (c->pm.refused) {
        *code = GRPC_RESOURCE_EXHAUSTED;
        *msg = "etcdserver: too many requests";
    } else {
        *code = GRPC_INTERNAL;
        *msg = "grpc: error unmarshalling request: malformed or too deeply nested message";
    }
}

static void g_on_request(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    struct glue_method *g = arg;
    struct ecall *c = ecall_new(g->api, g->m, &grpc_transport, call);
    if (!c) {
        grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, "concur: out of memory");
        return;
    }
    ProtobufCMessage *req = ecall_decode(c, msg, len);
    if (!req) {
        int code;
        const char *why;
        decode_status(c, &code, &why);
        grpc_call_fail(call, code, why);
        ecall_unref(c);
        return;
    }
    grpc_call_set_data(call, c);
    /* The handler may forward the request as received (forward.c): its bytes are valid during
     * this callback only. The extra reference keeps c while they are forgotten. */
    c->raw_req = msg;
    c->deadline_ms = grpc_call_deadline_ms(call);
    ecall_ref(c);
    ecall_dispatch(c, req, len);
    c->raw_req = NULL;
    ecall_unref(c);
}

static void g_on_start(struct grpc_call *call, void *arg)
{
    struct glue_method *g = arg;
    struct ecall *c = ecall_new(g->api, g->m, &grpc_transport, call);
    if (!c) {
        grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, "concur: out of memory");
        return;
    }
    grpc_call_set_data(call, c);
    ecall_dispatch_start(c);
}

static void g_on_message(struct grpc_call *call, const uint8_t *msg, size_t len, void *arg)
{
    struct ecall *c = grpc_call_data(call);
    if (!c) return;
    ProtobufCMessage *req = ecall_decode(c, msg, len);
    if (!req) {
        /* grpc-go ends the stream when a message does not decode. */
        int code;
        const char *why;
        decode_status(c, &code, &why);
        ecall_abort(c, code, why);
        return;
    }
    ecall_ref(c);
    ecall_dispatch_message(c, req);
    ecall_free_msg(c, req);
    ecall_unref(c);
}

static void g_on_half_close(struct grpc_call *call, void *arg)
{
    struct ecall *c = grpc_call_data(call);
    if (c) ecall_dispatch_half_close(c);
}

static void g_on_cancel(struct grpc_call *call, void *arg)
{
    struct ecall *c = grpc_call_data(call);
    if (c) ecall_on_cancel(c);
}

static void g_on_writable(struct grpc_call *call, void *arg)
{
    struct ecall *c = grpc_call_data(call);
    if (c) ecall_on_writable(c);
}

static const struct grpc_method_ops ops_unary = {
    .kind = GRPC_METHOD_UNARY,
    .on_request = g_on_request,
    .on_cancel = g_on_cancel,
};

static const struct grpc_method_ops ops_server_stream = {
    .kind = GRPC_METHOD_SERVER_STREAM,
    .on_request = g_on_request,
    .on_cancel = g_on_cancel,
    .on_writable = g_on_writable,
};

static const struct grpc_method_ops ops_streaming = {
    .kind = GRPC_METHOD_STREAMING,
    .on_start = g_on_start,
    .on_message = g_on_message,
    .on_half_close = g_on_half_close,
    .on_cancel = g_on_cancel,
    .on_writable = g_on_writable,
};

/* The per-method args live as long as the API (allocated with it, one per table entry). */
struct glue_table {
    size_t n;
    struct glue_method v[];
};

int etcd_api_register_grpc(struct etcd_api *a, struct grpc_server *srv)
{
    size_t n = 0;
    while (etcd__methods[n].path) n++;
    struct glue_table *t = kv_arena_alloc(&a->mem, sizeof(*t) + n * sizeof(t->v[0]));
    if (!t) return CC_ENOMEM;
    t->n = n;
    for (size_t i = 0; i < n; i++) {
        const struct etcd_method *m = &etcd__methods[i];
        t->v[i].api = a;
        t->v[i].m = m;
        const struct grpc_method_ops *ops = m->kind == EM_UNARY           ? &ops_unary
                                            : m->kind == EM_SERVER_STREAM ? &ops_server_stream
                                                                          : &ops_streaming;
        int rc = grpc_server_add_method(srv, m->path, ops, &t->v[i]);
        if (rc) {
            log_error(a->log, "cannot register %s: %s", m->path, cc_strerror(rc));
            return rc;
        }
    }
    return 0;
}
