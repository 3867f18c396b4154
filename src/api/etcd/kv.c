/* kv.c — the KV service: Range, Put, DeleteRange, Txn, Compact (etcd v3rpc/key.go and
 * etcdserver/v3_server.go semantics). */
#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "util/err.h"

#define PHYSICAL_POLL_MS     10                  /* Compact(physical): check interval */
#define PHYSICAL_MAX_WAIT_MS (10ull * 60 * 1000) /* ... and give up after this */

static void fail_nomem(struct ecall *c)
{
    ecall_fail_err(c, CC_ENOMEM, 0, ECTX_DEFAULT);
}

/* Replies with a built response (NULL: the arena refused). */
static void reply_or_nomem(struct ecall *c, ProtobufCMessage *o)
{
    if (o)
        ecall_reply(c, o);
    else
        fail_nomem(c);
}

/* ---- Range ---- */

static void range_ready(void *arg, int err)
{
    struct ecall *c = arg;
    if (err) {
        ecall_fail_err(c, err, 0, ECTX_READ);
        return;
    }
    struct kv_range kr;
    codec_range_in((const Etcdserverpb__RangeRequest *)c->req, &kr);
    struct kv_range_res res;
    int msg = 0;
    int rc = kv_range(srv_kv(c->api->m), &kr, &c->a, &res, &msg);
    if (rc) {
        ecall_fail_err(c, rc, msg, ECTX_READ);
        return;
    }
    struct codec_hdr h;
    etcd__hdr(c->api, &h);
    Etcdserverpb__RangeResponse *o = codec_range_out(&c->a, &h, &res);
    reply_or_nomem(c, o ? &o->base : NULL);
}

void etcd__kv_range(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__RangeRequest *r = (const void *)req;
    int msg = 0;
    int rc = codec_check_range(r, &msg);
    if (!rc) rc = srv_read_barrier(c->api->m, r->serializable, range_ready, c);
    if (rc) ecall_fail_err(c, rc, msg, ECTX_READ);
}

/* ---- writes ---- */

/* Common start of a write: proposes cmd, failing the call when the member refuses it. */
static void propose(struct ecall *c, const struct kv_cmd *cmd, srv_write_fn cb)
{
    int msg = 0;
    int rc = srv_write(c->api->m, cmd, cb, c, &msg);
    if (rc) ecall_fail_err(c, rc, msg, ECTX_DEFAULT);
}

/* Common start of a write's answer: true when the write succeeded (else the call is failed). */
static bool write_ok(struct ecall *c, int err, const struct kv_result *res, struct codec_hdr *h)
{
    if (err || res->err) {
        ecall_fail_err(c, err ? err : res->err, err ? 0 : res->msg, ECTX_DEFAULT);
        return false;
    }
    etcd__hdr(c->api, h);
    return true;
}

static void put_done(void *arg, int err, const struct kv_result *res)
{
    struct ecall *c = arg;
    struct codec_hdr h;
    if (!write_ok(c, err, res, &h)) return;
    Etcdserverpb__PutResponse *o = codec_put_out(&c->a, &h, &res->u.put);
    if (o) o->header->revision = res->rev;
    reply_or_nomem(c, o ? &o->base : NULL);
}

void etcd__kv_put(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__PutRequest *r = (const void *)req;
    int msg = 0;
    int rc = codec_check_put(r, &msg);
    if (rc) {
        ecall_fail_err(c, rc, msg, ECTX_DEFAULT);
        return;
    }
    struct kv_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = KV_CMD_PUT;
    codec_put_in(r, &cmd.u.put);
    propose(c, &cmd, put_done);
}

static void delete_done(void *arg, int err, const struct kv_result *res)
{
    struct ecall *c = arg;
    struct codec_hdr h;
    if (!write_ok(c, err, res, &h)) return;
    Etcdserverpb__DeleteRangeResponse *o = codec_delete_out(&c->a, &h, &res->u.del);
    if (o) o->header->revision = res->rev;
    reply_or_nomem(c, o ? &o->base : NULL);
}

void etcd__kv_delete(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__DeleteRangeRequest *r = (const void *)req;
    int msg = 0;
    int rc = codec_check_delete(r, &msg);
    if (rc) {
        ecall_fail_err(c, rc, msg, ECTX_DEFAULT);
        return;
    }
    struct kv_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = KV_CMD_DELETE;
    codec_delete_in(r, &cmd.u.del);
    propose(c, &cmd, delete_done);
}

/* ---- Txn ---- */

static void txn_reply(struct ecall *c, const struct kv_result *res, enum etcd_ctx ctx)
{
    if (res->err) {
        ecall_fail_err(c, res->err, res->msg, ctx);
        return;
    }
    struct codec_hdr h;
    etcd__hdr(c->api, &h);
    Etcdserverpb__TxnResponse *o = codec_txn_out(&c->a, &h, &res->u.txn, res->rev);
    reply_or_nomem(c, o ? &o->base : NULL);
}

static void txn_done(void *arg, int err, const struct kv_result *res)
{
    struct ecall *c = arg;
    if (err)
        ecall_fail_err(c, err, 0, ECTX_DEFAULT);
    else
        txn_reply(c, res, ECTX_DEFAULT);
}

/* A read-only txn is served locally after the read barrier, as etcd does. */
static void txn_read_ready(void *arg, int err)
{
    struct ecall *c = arg;
    if (err) {
        ecall_fail_err(c, err, 0, ECTX_READ);
        return;
    }
    struct kv_result res;
    memset(&res, 0, sizeof(res));
    int rc = kv_txn_read(srv_kv(c->api->m), c->data, &res);
    if (rc)
        ecall_fail_err(c, rc, 0, ECTX_READ);
    else
        txn_reply(c, &res, ECTX_READ);
    kv_result_free(&res);
}

void etcd__kv_txn(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__TxnRequest *t = (const void *)req;
    int msg = 0;
    struct kv_txn *kt = kv_arena_calloc(&c->a, 1, sizeof(*kt));
    if (!kt) {
        fail_nomem(c);
        return;
    }
    int rc = codec_check_txn(t, c->api->o.max_txn_ops, &msg);
    if (!rc) rc = codec_txn_in(t, &c->a, kt, &msg);
    if (rc) {
        ecall_fail_err(c, rc, msg, ECTX_DEFAULT);
        return;
    }
    if (kv_txn_is_readonly(kt)) {
        rc = kv_txn_check(kt, &msg);
        if (!rc) {
            c->data = kt;
            rc = srv_read_barrier(c->api->m, codec_txn_serializable(t), txn_read_ready, c);
        }
        if (rc) ecall_fail_err(c, rc, msg, ECTX_READ);
        return;
    }
    struct kv_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = KV_CMD_TXN;
    cmd.u.txn = *kt;
    propose(c, &cmd, txn_done);
}

/* ---- Compact ---- */

/* Compact(physical) answers once kv has physically removed the compacted revisions (etcd
 * waits for its compaction's done channel). The member runs the removal in steps; we poll. */
struct physical_wait {
    uv_timer_t timer;
    struct ecall *c;
    int64_t rev;
    uint64_t deadline_ms;
};

static void physical_closed(uv_handle_t *h)
{
    free(h->data);
}

static void compact_reply(struct ecall *c, int64_t rev)
{
    Etcdserverpb__CompactionResponse *o =
        codec_new(&c->a, &etcdserverpb__compaction_response__descriptor);
    struct codec_hdr h;
    etcd__hdr(c->api, &h);
    if (o) o->header = codec_header(&c->a, &h, rev);
    reply_or_nomem(c, o && o->header ? &o->base : NULL);
}

static void physical_poll(uv_timer_t *t)
{
    struct physical_wait *w = t->data;
    const struct srv_status *st = etcd__status(w->c->api);
    bool done = kv_compact_pending(srv_kv(w->c->api->m)) == 0;
    if (done)
        compact_reply(w->c, w->rev);
    else if (st->stopped || w->c->api->closing)
        ecall_fail_err(w->c, CC_ESTOPPED, 0, ECTX_DEFAULT);
    else if (etcd__now_ms() >= w->deadline_ms)
        ecall_fail_err(w->c, CC_ETIMEDOUT, 0, ECTX_DEFAULT);
    else
        return;
    uv_close((uv_handle_t *)t, physical_closed);
}

static void compact_done(void *arg, int err, const struct kv_result *res)
{
    struct ecall *c = arg;
    struct codec_hdr h;
    if (!write_ok(c, err, res, &h)) return;
    const Etcdserverpb__CompactionRequest *r = (const void *)c->req;
    if (!r->physical || kv_compact_pending(srv_kv(c->api->m)) == 0) {
        compact_reply(c, res->rev);
        return;
    }
    struct physical_wait *w = calloc(1, sizeof(*w));
    if (!w) {
        fail_nomem(c);
        return;
    }
    w->c = c;
    w->rev = res->rev;
    w->deadline_ms = etcd__now_ms() + PHYSICAL_MAX_WAIT_MS;
    uv_timer_init(c->api->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, physical_poll, PHYSICAL_POLL_MS, PHYSICAL_POLL_MS);
}

void etcd__kv_compact(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__CompactionRequest *r = (const void *)req;
    struct kv_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = KV_CMD_COMPACT;
    cmd.u.compact.revision = r->revision;
    cmd.u.compact.physical = r->physical;
    propose(c, &cmd, compact_done);
}
