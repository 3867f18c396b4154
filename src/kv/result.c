/* result.c — results: freeing, and the stored form used by the client-session table (so a
 * retried command gets the original reply, even after a restart or a snapshot). */
#include "kv/internal.h"
#include "util/err.h"

#define RESULT_VERSION 1

void kv_result_free(struct kv_result *r)
{
    if (!r) return;
    kv_arena_free(&r->mem);
    memset(r, 0, sizeof(*r));
}

/* ---- encoding ---- */

struct enc {
    struct buf *b;
    int rc;
};

static void e_uv(struct enc *e, uint64_t v)
{
    if (!e->rc) e->rc = buf_put_uvarint(e->b, v);
}

static void e_sv(struct enc *e, int64_t v)
{
    e_uv(e, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void e_bytes(struct enc *e, struct kv_bytes s)
{
    e_uv(e, s.len);
    if (!e->rc) e->rc = buf_append(e->b, s.p, s.len);
}

static void e_kv(struct enc *e, const struct kv_kv *kv)
{
    e_bytes(e, kv->key);
    e_bytes(e, kv->value);
    e_sv(e, kv->create_rev);
    e_sv(e, kv->mod_rev);
    e_sv(e, kv->version);
    e_sv(e, kv->lease);
}

static void e_kvs(struct enc *e, const struct kv_kv *kvs, size_t n)
{
    e_uv(e, n);
    for (size_t i = 0; i < n; i++) e_kv(e, &kvs[i]);
}

static void e_put(struct enc *e, const struct kv_put_res *p)
{
    e_sv(e, p->rev);
    e_uv(e, p->has_prev);
    if (p->has_prev) e_kv(e, &p->prev);
}

static void e_del(struct enc *e, const struct kv_delete_res *d)
{
    e_sv(e, d->rev);
    e_sv(e, d->deleted);
    e_kvs(e, d->prev_kvs, d->n_prev);
}

static void e_txn(struct enc *e, const struct kv_txn_res *t)
{
    e_sv(e, t->rev);
    e_uv(e, t->succeeded);
    e_uv(e, t->n);
    for (size_t i = 0; i < t->n && !e->rc; i++) {
        const struct kv_op_res *o = &t->resps[i];
        e_uv(e, o->type);
        switch (o->type) {
        case KV_OP_RANGE:
            e_sv(e, o->u.range.rev);
            e_kvs(e, o->u.range.kvs, o->u.range.n);
            e_sv(e, o->u.range.count);
            e_uv(e, o->u.range.more);
            break;
        case KV_OP_PUT:
            e_put(e, &o->u.put);
            break;
        case KV_OP_DELETE:
            e_del(e, &o->u.del);
            break;
        case KV_OP_TXN:
            e_txn(e, o->u.txn);
            break;
        default:
            e->rc = CC_EINVAL;
        }
    }
}

int kv__result_encode(const struct kv_result *r, struct buf *b)
{
    size_t start = b->len;
    struct enc e = {b, 0};
    e_uv(&e, RESULT_VERSION);
    e_sv(&e, r->err);
    e_uv(&e, (uint64_t)r->msg);
    e_uv(&e, r->type);
    e_sv(&e, r->rev);
    if (!r->err) {
        switch (r->type) {
        case KV_CMD_PUT:
            e_put(&e, &r->u.put);
            break;
        case KV_CMD_DELETE:
            e_del(&e, &r->u.del);
            break;
        case KV_CMD_TXN:
            e_txn(&e, &r->u.txn);
            break;
        case KV_CMD_LEASE_GRANT:
        case KV_CMD_LEASE_RENEW:
            e_sv(&e, r->u.grant.id);
            e_sv(&e, r->u.grant.ttl_ms);
            break;
        case KV_CMD_COUNTER:
            e_sv(&e, r->u.counter.value);
            break;
        case KV_CMD_COMPACT:
            e_sv(&e, r->u.compact.revision);
            break;
        default:
            break;
        }
    }
    if (e.rc) b->len = start;
    return e.rc;
}

/* ---- decoding ---- */

struct dec {
    struct cursor c;
    struct kv_arena *a;
    int rc;
    unsigned depth;
};

static void d_fail(struct dec *d, int rc)
{
    if (!d->rc) d->rc = rc;
    d->c.left = 0;
}

static uint64_t d_uv(struct dec *d)
{
    uint64_t v = cursor_uvarint(&d->c);
    if (d->c.err) d_fail(d, CC_ECORRUPT);
    return v;
}

static int64_t d_sv(struct dec *d)
{
    uint64_t u = d_uv(d);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static bool d_bool(struct dec *d)
{
    uint64_t v = d_uv(d);
    if (v > 1) d_fail(d, CC_ECORRUPT);
    return v == 1;
}

static struct kv_bytes d_bytes(struct dec *d)
{
    struct kv_bytes s = {(const uint8_t *)"", 0};
    uint64_t n = d_uv(d);
    if (d->rc || n > d->c.left) {
        d_fail(d, CC_ECORRUPT);
        return s;
    }
    const uint8_t *p = cursor_bytes(&d->c, (size_t)n);
    s.p = kv_arena_dup(d->a, p, (size_t)n);
    if (!s.p) d_fail(d, CC_ENOMEM);
    s.len = (size_t)n;
    return s;
}

static void *d_array(struct dec *d, size_t sz, size_t *n_out)
{
    uint64_t n = d_uv(d);
    *n_out = 0;
    if (d->rc || n > d->c.left) { /* each element takes at least a byte */
        d_fail(d, CC_ECORRUPT);
        return NULL;
    }
    if (!n) return NULL;
    void *p = kv_arena_calloc(d->a, (size_t)n, sz);
    if (!p)
        d_fail(d, CC_ENOMEM);
    else
        *n_out = (size_t)n;
    return p;
}

static void d_kv(struct dec *d, struct kv_kv *kv)
{
    kv->key = d_bytes(d);
    kv->value = d_bytes(d);
    kv->create_rev = d_sv(d);
    kv->mod_rev = d_sv(d);
    kv->version = d_sv(d);
    kv->lease = d_sv(d);
}

static struct kv_kv *d_kvs(struct dec *d, size_t *n)
{
    struct kv_kv *kvs = d_array(d, sizeof(*kvs), n);
    for (size_t i = 0; i < *n && !d->rc; i++) d_kv(d, &kvs[i]);
    return kvs;
}

static void d_put(struct dec *d, struct kv_put_res *p)
{
    p->rev = d_sv(d);
    p->has_prev = d_bool(d);
    if (p->has_prev) d_kv(d, &p->prev);
}

static void d_del(struct dec *d, struct kv_delete_res *x)
{
    x->rev = d_sv(d);
    x->deleted = d_sv(d);
    x->prev_kvs = d_kvs(d, &x->n_prev);
}

static void d_txn(struct dec *d, struct kv_txn_res *t)
{
    if (++d->depth > KV_TXN_DEPTH_MAX) {
        d_fail(d, CC_ECORRUPT);
        return;
    }
    t->rev = d_sv(d);
    t->succeeded = d_bool(d);
    t->resps = d_array(d, sizeof(*t->resps), &t->n);
    for (size_t i = 0; i < t->n && !d->rc; i++) {
        struct kv_op_res *o = &t->resps[i];
        o->type = (uint8_t)d_uv(d);
        switch (o->type) {
        case KV_OP_RANGE:
            o->u.range.rev = d_sv(d);
            o->u.range.kvs = d_kvs(d, &o->u.range.n);
            o->u.range.count = d_sv(d);
            o->u.range.more = d_bool(d);
            break;
        case KV_OP_PUT:
            d_put(d, &o->u.put);
            break;
        case KV_OP_DELETE:
            d_del(d, &o->u.del);
            break;
        case KV_OP_TXN:
            o->u.txn = kv_arena_calloc(d->a, 1, sizeof(*o->u.txn));
            if (!o->u.txn)
                d_fail(d, CC_ENOMEM);
            else
                d_txn(d, o->u.txn);
            break;
        default:
            d_fail(d, CC_ECORRUPT);
        }
    }
    d->depth--;
}

int kv__result_decode(const uint8_t *p, size_t len, struct kv_result *r)
{
    memset(r, 0, sizeof(*r));
    struct dec d = {.a = &r->mem};
    cursor_init(&d.c, p, len);
    if (d_uv(&d) != RESULT_VERSION) d_fail(&d, CC_ECORRUPT);
    r->err = (int)d_sv(&d);
    uint64_t msg = d_uv(&d);
    uint64_t type = d_uv(&d);
    r->rev = d_sv(&d);
    if (msg >= KV_MSG_COUNT_ || type >= KV_CMD_TYPE_COUNT_ || r->err > 0 || r->err <= -1000)
        d_fail(&d, CC_ECORRUPT);
    r->msg = (int)msg;
    r->type = (uint8_t)type;
    if (!d.rc && !r->err) {
        switch (r->type) {
        case KV_CMD_PUT:
            d_put(&d, &r->u.put);
            break;
        case KV_CMD_DELETE:
            d_del(&d, &r->u.del);
            break;
        case KV_CMD_TXN:
            d_txn(&d, &r->u.txn);
            break;
        case KV_CMD_LEASE_GRANT:
        case KV_CMD_LEASE_RENEW:
            r->u.grant.id = d_sv(&d);
            r->u.grant.ttl_ms = d_sv(&d);
            break;
        case KV_CMD_COUNTER:
            r->u.counter.value = d_sv(&d);
            break;
        case KV_CMD_COMPACT:
            r->u.compact.revision = d_sv(&d);
            break;
        default:
            break;
        }
    }
    if (!d.rc && d.c.left) d_fail(&d, CC_ECORRUPT);
    if (d.rc) kv_result_free(r);
    return d.rc;
}
