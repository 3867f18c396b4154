/* txn.c — etcd transactions: compares evaluated on the pre-txn state (compareToPath), request
 * checks before any write (checkRequests), then the chosen branches executed in one revision. */
#include <assert.h>
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"

/* Range results inside one txn are cut (more = true) past this many bytes, so a txn cannot
 * make every member allocate without bound. Deterministic: part of the replicated contract. */
#define KV_TXN_RANGE_MAX_BYTES (64u << 20)

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static bool cmp_result(uint8_t result, int c)
{
    switch (result) {
    case KV_CMP_EQUAL:
        return c == 0;
    case KV_CMP_NOT_EQUAL:
        return c != 0;
    case KV_CMP_GREATER:
        return c > 0;
    case KV_CMP_LESS:
        return c < 0;
    }
    return true;
}

/* etcd applyCompare on the current state: every key in the range must satisfy it; a missing
 * key compares as a zero KeyValue, except that a value compare on no key is false. */
static int eval_compare(struct kv *kv, const struct kv_compare *c, bool *ok)
{
    struct kv__cur cur;
    bool any = false;
    *ok = true;
    kv__idx_seek(&kv->idx, c->key.p, c->key.len, &cur);
    for (const struct krec *r; (r = kv__cur_rec(&cur)); kv__cur_next(&cur)) {
        if (!kv__in_range(krec_key(r), r->klen, c->key, c->range_end)) break;
        if (!krec_live(r)) continue;
        any = true;
        int res = 0;
        const struct lease *l;
        switch (c->target) {
        case KV_CMP_VERSION:
            res = cmp_i64(r->version, c->number);
            break;
        case KV_CMP_CREATE:
            res = cmp_i64(r->create_rev, c->number);
            break;
        case KV_CMP_MOD:
            res = cmp_i64(krec_main(r, r->nrev - 1), c->number);
            break;
        case KV_CMP_LEASE:
            l = r->lease_slot ? kv__lease_slot(kv, r->lease_slot) : NULL;
            res = cmp_i64(l ? l->id : 0, c->number);
            break;
        case KV_CMP_VALUE: {
            struct kv__got g;
            int rc = kv__get_rev(kv, krec_main(r, r->nrev - 1), krec_sub(r, r->nrev - 1), &g);
            if (rc) {
                kv__got_release(&g);
                return rc == CC_ENOTFOUND ? CC_ECORRUPT : rc;
            }
            res = kv__bytes_cmp(g.v.value.p, g.v.value.len, c->value.p, c->value.len);
            kv__got_release(&g);
            break;
        }
        }
        if (!cmp_result(c->result, res)) {
            *ok = false;
            return 0;
        }
    }
    if (!any) {
        if (c->target == KV_CMP_VALUE)
            *ok = false;
        else
            *ok = cmp_result(c->result, cmp_i64(0, c->number));
    }
    return 0;
}

/* The chosen branch of every txn on the path, in pre-order (etcd txnPath). */
struct path {
    bool *v;
    size_t n, cap, pos;
};

static int path_push(struct path *p, bool b)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        bool *nv = realloc(p->v, cap);
        if (!nv) return CC_ENOMEM;
        p->v = nv;
        p->cap = cap;
    }
    p->v[p->n++] = b;
    return 0;
}

static int compute_path(struct kv *kv, const struct kv_txn *t, struct path *p)
{
    bool ok = true;
    for (size_t i = 0; i < t->n_cmp && ok; i++) {
        int rc = eval_compare(kv, &t->cmp[i], &ok);
        if (rc) return rc;
    }
    int rc = path_push(p, ok);
    const struct kv_op *ops = ok ? t->success : t->failure;
    size_t n = ok ? t->n_success : t->n_failure;
    for (size_t i = 0; i < n && !rc; i++)
        if (ops[i].type == KV_OP_TXN) rc = compute_path(kv, ops[i].u.txn, p);
    return rc;
}

/* etcd checkRequests with checkRequestPut (puts) or checkRequestRange (ranges). */
static int check_reqs(struct kv *kv, const struct kv_txn *t, struct path *p, bool puts, int *msg)
{
    bool ok = p->v[p->pos++];
    const struct kv_op *ops = ok ? t->success : t->failure;
    size_t n = ok ? t->n_success : t->n_failure;
    for (size_t i = 0; i < n; i++) {
        const struct kv_op *op = &ops[i];
        if (op->type == KV_OP_TXN) {
            int rc = check_reqs(kv, op->u.txn, p, puts, msg);
            if (rc) return rc;
        } else if (puts && op->type == KV_OP_PUT) {
            const struct kv_put *q = &op->u.put;
            if (q->ignore_value || q->ignore_lease) {
                const struct krec *r = kv__idx_get(&kv->idx, q->key.p, q->key.len);
                if (!r || !krec_live(r)) {
                    *msg = KV_MSG_KEY_NOT_FOUND;
                    return CC_ENOTFOUND;
                }
            }
            if (q->lease && !kv__lease_get(kv, q->lease)) {
                *msg = KV_MSG_LEASE_NOT_FOUND;
                return CC_ELEASE;
            }
        } else if (!puts && op->type == KV_OP_RANGE) {
            int64_t rev = op->u.range.revision;
            if (rev > kv->rev) {
                *msg = KV_MSG_FUTURE_REV;
                return CC_EFUTUREREV;
            }
            if (rev != 0 && rev < kv->compact_rev) {
                *msg = KV_MSG_COMPACTED;
                return CC_ECOMPACTED;
            }
        }
    }
    return 0;
}

struct exec {
    struct kv *kv;
    struct wtx *t;
    struct path *p;
    struct kv_arena *a;
    size_t range_budget;
};

static size_t range_bytes(const struct kv_range_res *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) n += r->kvs[i].key.len + r->kvs[i].value.len;
    return n;
}

static int exec_txn(struct exec *x, const struct kv_txn *t, struct kv_txn_res *res)
{
    bool ok = x->p->v[x->p->pos++];
    const struct kv_op *ops = ok ? t->success : t->failure;
    size_t n = ok ? t->n_success : t->n_failure;
    res->succeeded = ok;
    res->rev = 0; /* etcd leaves nested txn headers empty; the top level sets it */
    res->n = n;
    res->resps = n ? kv_arena_calloc(x->a, n, sizeof(*res->resps)) : NULL;
    if (n && !res->resps) return CC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct kv_op *op = &ops[i];
        struct kv_op_res *out = &res->resps[i];
        out->type = op->type;
        int rc = 0, msg = KV_MSG_NONE;
        switch (op->type) {
        case KV_OP_RANGE: {
            size_t max = x->range_budget ? x->range_budget : 1;
            rc =
                kv__range(x->kv, &op->u.range, wtx_rev(x->t), x->a, &out->u.range, max, true, &msg);
            if (!rc) {
                size_t used = range_bytes(&out->u.range);
                x->range_budget -= used < x->range_budget ? used : x->range_budget;
            }
            break;
        }
        case KV_OP_PUT:
            rc = kv__apply_put(x->kv, x->t, &op->u.put, x->a, &out->u.put, &msg);
            break;
        case KV_OP_DELETE:
            rc = kv__wtx_delete(x->kv, x->t, op->u.del.key, op->u.del.range_end, x->a, &out->u.del,
                                op->u.del.prev_kv);
            break;
        case KV_OP_TXN:
            out->u.txn = kv_arena_calloc(x->a, 1, sizeof(*out->u.txn));
            rc = out->u.txn ? exec_txn(x, op->u.txn, out->u.txn) : CC_ENOMEM;
            break;
        }
        /* Every command error was ruled out by check_reqs; one here is a bug (etcd panics). */
        if (rc && msg != KV_MSG_NONE) {
            assert(!"txn op failed after its checks passed");
            return CC_ECORRUPT;
        }
        if (rc) return rc;
    }
    return 0;
}

/* Shared by apply (writes allowed) and kv_txn_read. Command errors go into res. */
static int run_txn(struct kv *kv, const struct kv_txn *t, struct kv_result *res, bool write)
{
    struct path p = {0};
    int rc = compute_path(kv, t, &p);
    int msg = KV_MSG_NONE;
    if (!rc && write) {
        p.pos = 0;
        rc = check_reqs(kv, t, &p, true, &msg);
    }
    if (!rc) {
        p.pos = 0;
        rc = check_reqs(kv, t, &p, false, &msg);
    }
    if (rc && msg != KV_MSG_NONE) {
        res->err = rc;
        res->msg = msg;
        free(p.v);
        return 0;
    }
    if (!rc) {
        struct wtx w = {kv->rev, 0};
        struct exec x = {kv, &w, &p, &res->mem, KV_TXN_RANGE_MAX_BYTES};
        p.pos = 0;
        rc = exec_txn(&x, t, &res->u.txn);
        kv__wtx_end(kv, &w);
        res->u.txn.rev = kv->rev;
        res->rev = kv->rev;
    }
    free(p.v);
    return rc;
}

int kv__txn_apply(struct kv *kv, const struct kv_txn *t, struct kv_result *res)
{
    return run_txn(kv, t, res, true);
}

int kv_txn_read(struct kv *kv, const struct kv_txn *t, struct kv_result *res)
{
    memset(res, 0, sizeof(*res));
    if (kv->stopped) return CC_ESTOPPED;
    res->type = KV_CMD_TXN;
    res->rev = kv->rev;
    int msg;
    int rc = kv_txn_check(t, &msg);
    if (rc) {
        res->err = rc;
        res->msg = msg;
        return 0;
    }
    if (!kv_txn_is_readonly(t)) return CC_EINVAL;
    rc = run_txn(kv, t, res, false);
    if (rc) kv_result_free(res);
    return rc;
}
