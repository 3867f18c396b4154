/* call.c — the transport-neutral call: completion, held stream messages, and etcd's gRPC
 * interceptor checks (learners, "hasleader" metadata, request size). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "util/err.h"

#define HELD_LIMIT (2048u << 20) /* one encoded message; gRPC's own bound is lower */

struct ecall *ecall_new(struct etcd_api *a, const struct etcd_method *m,
                        const struct ecall_transport *t, void *tx)
{
    struct ecall *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->api = a;
    c->m = m;
    c->t = t;
    c->tx = tx;
    c->refs = 1;
    a->calls_live++;
    pbmem_init(&c->pm, 0);
    c->pm.shared = &a->decoded_bytes;
    c->pm.shared_limit = a->o.decoded_max_bytes;
    buf_init(&c->held, HELD_LIMIT);
    return c;
}

void ecall_ref(struct ecall *c)
{
    c->refs++;
}

void ecall_unref(struct ecall *c)
{
    assert(c->refs > 0);
    if (--c->refs > 0) return;
    if (c->req) protobuf_c_message_free_unpacked(c->req, &c->pm.pa);
    assert(c->pm.used == 0);
    kv_arena_free(&c->a);
    buf_free(&c->held);
    free(c->fin_msg);
    struct etcd_api *a = c->api;
    free(c);
    etcd__call_gone(a);
}

ProtobufCMessage *ecall_decode(struct ecall *c, const uint8_t *p, size_t len)
{
    /* Each message gets its own budget on top of what the call already holds. */
    c->pm.limit = c->pm.used + pbmem_budget(len);
    return pbmem_unpack(&c->pm, c->m->req, p, len);
}

void ecall_free_msg(struct ecall *c, ProtobufCMessage *msg)
{
    if (msg) protobuf_c_message_free_unpacked(msg, &c->pm.pa);
}

/* Marks the call done and drops the completion reference. */
static void complete(struct ecall *c)
{
    assert(!c->done);
    c->done = true;
    ecall_unref(c);
}

void ecall_reply(struct ecall *c, const ProtobufCMessage *msg)
{
    c->t->reply(c, msg);
    complete(c);
}

void ecall_fail(struct ecall *c, int code, const char *msg)
{
    assert(code != GRPC_OK);
    c->t->finish(c, code, msg);
    complete(c);
}

void ecall_fail_err(struct ecall *c, int err, int kv_msg, enum etcd_ctx ctx)
{
    struct etcd_status s = etcd_status_of(err, kv_msg, ctx);
    if (s.code == GRPC_OK) s.code = GRPC_UNKNOWN; /* a failure path without an error */
    ecall_fail(c, s.code, s.msg);
}

void ecall_finish(struct ecall *c, int code, const char *msg)
{
    if (c->finishing) return; /* already ending once the held message is out */
    if (c->aborting) {
        code = c->fin_code;
        msg = c->fin_msg;
        c->t->finish(c, code, msg);
        complete(c);
        return;
    }
    if (c->has_held && code == GRPC_OK) {
        c->finishing = true;
        c->fin_code = code;
        c->fin_msg = msg ? strdup(msg) : NULL;
        return;
    }
    c->t->finish(c, code, msg);
    complete(c);
}

bool ecall_can_send(const struct ecall *c)
{
    return !c->done && !c->finishing && !c->has_held;
}

int ecall_send(struct ecall *c, const ProtobufCMessage *msg)
{
    if (c->done || c->finishing) return CC_ESTOPPED;
    if (c->has_held) return CC_EBUSY;
    int rc = c->t->send(c, msg);
    if (rc != CC_EBUSY) return rc;
    buf_reset(&c->held);
    rc = c->t->encode(c, msg, &c->held);
    if (rc) return rc;
    c->has_held = true;
    return 0;
}

const char *ecall_metadata(const struct ecall *c, const char *name)
{
    return c->t->metadata(c, name);
}

void ecall_on_writable(struct ecall *c)
{
    if (c->done) return;
    if (c->has_held) {
        int rc = c->t->send_bytes(c, c->held.data, c->held.len);
        if (rc == CC_EBUSY) return; /* another on_writable follows */
        c->has_held = false;
        buf_free(&c->held);
        if (rc && !c->finishing) {
            /* The call is cancelled: its handler hears it through on_cancel. */
            return;
        }
    }
    if (c->finishing) {
        c->t->finish(c, c->fin_code, c->fin_msg);
        complete(c);
        return;
    }
    if (c->m->on_writable) c->m->on_writable(c);
}

void ecall_abort(struct ecall *c, int code, const char *msg)
{
    if (c->done || c->finishing) return;
    c->aborting = true;
    c->fin_code = code;
    free(c->fin_msg);
    c->fin_msg = msg ? strdup(msg) : NULL;
    ecall_ref(c);
    if (c->m->on_cancel) c->m->on_cancel(c);
    if (!c->done) ecall_finish(c, code, msg);
    ecall_unref(c);
}

void ecall_on_cancel(struct ecall *c)
{
    if (c->done) return;
    if (c->finishing) {
        c->t->finish(c, c->fin_code, c->fin_msg);
        complete(c);
        return;
    }
    /* Unary handlers finish when the server answers (it always does); streams stop now. */
    if (c->m->on_cancel) c->m->on_cancel(c);
}

/* etcd's interceptors (v3rpc/interceptor.go): a learner serves only Status and serializable
 * Range; a client asking for a leader ("hasleader: true") is refused while there is none. */
static bool check_interceptors(struct ecall *c, const ProtobufCMessage *req)
{
    const struct etcd_method *m = c->m;
    const char *hl = ecall_metadata(c, "hasleader");
    bool want_leader = hl && !strcmp(hl, "true");
    bool learner_ok = (m->flags & EMF_LEARNER_OK) != 0;
    if (!learner_ok && (m->flags & EMF_LEARNER_SERIALIZABLE) && req)
        learner_ok = ((const Etcdserverpb__RangeRequest *)req)->serializable;
    if (!want_leader && learner_ok) return true;
    const struct srv_status *st = etcd__status(c->api);
    if (!learner_ok && st->is_learner) {
        ecall_fail(c, GRPC_UNAVAILABLE, "etcdserver: rpc not supported for learner");
        return false;
    }
    if (want_leader && st->leader_id == 0) {
        ecall_fail(c, GRPC_UNAVAILABLE, "etcdserver: no leader");
        return false;
    }
    return true;
}

void ecall_dispatch(struct ecall *c, ProtobufCMessage *req, size_t len)
{
    c->req = req;
    c->req_len = len;
    if (!check_interceptors(c, req)) return;
    if ((c->m->flags & EMF_WRITE) && len > c->api->o.max_request_bytes) {
        ecall_fail(c, GRPC_INVALID_ARGUMENT, "etcdserver: request is too large");
        return;
    }
    c->m->on_request(c, req);
}

void ecall_dispatch_start(struct ecall *c)
{
    if (!check_interceptors(c, NULL)) return;
    c->m->on_start(c);
}

void ecall_dispatch_message(struct ecall *c, const ProtobufCMessage *req)
{
    if (c->done || c->finishing) return;
    c->m->on_message(c, req);
}

void ecall_dispatch_half_close(struct ecall *c)
{
    if (c->done || c->finishing) return;
    if (c->m->on_half_close) c->m->on_half_close(c);
}
