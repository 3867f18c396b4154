/* model.c — the reference model of etcd's MVCC semantics used by the kv tests. */
#include "model.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/internal.h"
#include "util/crc32c.h"
#include "util/err.h"

const char *const m_universe[M_KEYS] = {"a", "ab", "abc", "b", "ba", "c", "d", "e", "f", "g"};

void m_init(struct model *m)
{
    memset(m, 0, sizeof(*m));
    for (int i = 0; i < M_KEYS; i++) m->keys[i].key = m_universe[i];
    m->rev = 1;
    m->compact_rev = -1;
}

void m_free(struct model *m)
{
    for (int i = 0; i < M_KEYS; i++) free(m->keys[i].revs);
    memset(m, 0, sizeof(*m));
}

void m_copy(struct model *dst, const struct model *src)
{
    *dst = *src;
    for (int i = 0; i < M_KEYS; i++) {
        struct mkey *k = &dst->keys[i];
        k->revs = malloc((k->cap ? k->cap : 1) * sizeof(*k->revs));
        assert(k->revs);
        if (k->n) memcpy(k->revs, src->keys[i].revs, k->n * sizeof(*k->revs));
    }
}

static int bcmp2(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (al < bl ? -1 : al > bl);
}

static bool in_range(const char *k, struct kv_bytes key, struct kv_bytes end)
{
    size_t kl = strlen(k);
    int c = bcmp2((const uint8_t *)k, kl, key.p, key.len);
    if (!end.len) return c == 0;
    if (c < 0) return false;
    if (end.len == 1 && end.p[0] == 0) return true;
    return bcmp2((const uint8_t *)k, kl, end.p, end.len) < 0;
}

/* The revision of key k visible at rev (latest main <= rev), or NULL when absent/deleted. */
static const struct mrev *visible(const struct mkey *k, int64_t rev)
{
    const struct mrev *found = NULL;
    for (size_t i = 0; i < k->n && k->revs[i].main <= rev; i++) found = &k->revs[i];
    return found && !found->tomb ? found : NULL;
}

static const struct mrev *latest(const struct mkey *k)
{
    return k->n && !k->revs[k->n - 1].tomb ? &k->revs[k->n - 1] : NULL;
}

static struct mlease *lease_find(struct model *m, int64_t id)
{
    for (int i = 0; i < m->nleases; i++)
        if (m->leases[i].alive && m->leases[i].id == id) return &m->leases[i];
    return NULL;
}

static struct mkey *key_find(struct model *m, struct kv_bytes key)
{
    for (int i = 0; i < M_KEYS; i++)
        if (strlen(m->keys[i].key) == key.len && !memcmp(m->keys[i].key, key.p, key.len))
            return &m->keys[i];
    return NULL;
}

static void push(struct mkey *k, struct mrev r)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 8;
        k->revs = realloc(k->revs, k->cap * sizeof(*k->revs));
        assert(k->revs);
    }
    k->revs[k->n++] = r;
}

static void fill_kv(struct kv_arena *a, const char *key, const struct mrev *r, struct kv_kv *out)
{
    out->key.len = strlen(key);
    out->key.p = kv_arena_dup(a, key, out->key.len);
    out->value.len = r->vlen;
    out->value.p = kv_arena_dup(a, r->val, r->vlen);
    out->create_rev = r->create;
    out->mod_rev = r->main;
    out->version = r->version;
    out->lease = r->lease;
}

/* ---- range ---- */

struct sortctx {
    uint8_t target;
    bool desc;
};

static int kv_cmp(const struct kv_kv *a, const struct kv_kv *b, struct sortctx s)
{
    int c = 0;
#define I64(x, y) ((x) < (y) ? -1 : (x) > (y))
    switch (s.target) {
    case KV_SORT_KEY:
        c = bcmp2(a->key.p, a->key.len, b->key.p, b->key.len);
        break;
    case KV_SORT_VERSION:
        c = I64(a->version, b->version);
        break;
    case KV_SORT_CREATE:
        c = I64(a->create_rev, b->create_rev);
        break;
    case KV_SORT_MOD:
        c = I64(a->mod_rev, b->mod_rev);
        break;
    case KV_SORT_VALUE:
        c = bcmp2(a->value.p, a->value.len, b->value.p, b->value.len);
        break;
    }
#undef I64
    return s.desc ? -c : c;
}

int m_range(struct model *m, const struct kv_range *r, int64_t cur_rev, struct kv_arena *a,
            struct kv_range_res *out, int *msg)
{
    memset(out, 0, sizeof(*out));
    *msg = KV_MSG_NONE;
    if (!r->key.len) {
        *msg = KV_MSG_EMPTY_KEY;
        return CC_EINVAL;
    }
    if (r->sort_order > 2 || r->sort_target > 4) {
        *msg = KV_MSG_INVALID_SORT;
        return CC_EINVAL;
    }
    int64_t rev = r->revision;
    if (rev > cur_rev) {
        *msg = KV_MSG_FUTURE_REV;
        return CC_EFUTUREREV;
    }
    if (rev <= 0) rev = cur_rev;
    if (rev < m->compact_rev) {
        *msg = KV_MSG_COMPACTED;
        return CC_ECOMPACTED;
    }
    out->rev = cur_rev;
    out->kvs = kv_arena_alloc(a, M_KEYS * sizeof(*out->kvs));
    size_t n = 0;
    /* etcd pushes limit+1 down to the index when it neither sorts nor filters, and then still
     * sorts by a non-key target: only the first limit+1 keys are candidates then. */
    bool filters = r->min_mod_rev || r->max_mod_rev || r->min_create_rev || r->max_create_rev;
    int64_t fetch = (r->limit > 0 && r->sort_order == KV_SORT_NONE && !filters) ? r->limit + 1 : 0;
    int64_t seen = 0;
    for (int i = 0; i < M_KEYS; i++) {
        if (!in_range(m->keys[i].key, r->key, r->range_end)) continue;
        const struct mrev *v = visible(&m->keys[i], rev);
        if (!v) continue;
        out->count++;
        if (fetch && seen++ >= fetch) continue;
        struct kv_kv kv;
        fill_kv(a, m->keys[i].key, v, &kv);
        if (r->max_mod_rev && kv.mod_rev > r->max_mod_rev) continue;
        if (r->min_mod_rev && kv.mod_rev < r->min_mod_rev) continue;
        if (r->max_create_rev && kv.create_rev > r->max_create_rev) continue;
        if (r->min_create_rev && kv.create_rev < r->min_create_rev) continue;
        out->kvs[n++] = kv;
    }
    if (r->count_only) {
        out->n = 0;
        return 0;
    }
    uint8_t order = r->sort_order;
    if (r->sort_target != KV_SORT_KEY && order == KV_SORT_NONE) order = KV_SORT_ASCEND;
    if (order != KV_SORT_NONE) { /* stable insertion sort: ties stay in key order */
        struct sortctx s = {r->sort_target, order == KV_SORT_DESCEND};
        for (size_t i = 1; i < n; i++) {
            struct kv_kv x = out->kvs[i];
            size_t j = i;
            while (j > 0 && kv_cmp(&out->kvs[j - 1], &x, s) > 0) {
                out->kvs[j] = out->kvs[j - 1];
                j--;
            }
            out->kvs[j] = x;
        }
    }
    out->n = n;
    if (r->limit > 0 && (int64_t)n > r->limit) {
        out->n = (size_t)r->limit;
        out->more = true;
    }
    if (r->keys_only)
        for (size_t i = 0; i < out->n; i++) out->kvs[i].value = (struct kv_bytes){NULL, 0};
    return 0;
}

/* ---- writes ---- */

static void attach(struct model *m, int64_t lease)
{
    (void)m;
    (void)lease; /* attachment is derived from the keys' latest revisions */
}

static void m_put(struct model *m, struct mkey *k, const uint8_t *v, size_t vlen, int64_t lease,
                  int64_t main, uint32_t sub)
{
    const struct mrev *p = latest(k);
    struct mrev r = {.main = main, .sub = sub, .lease = lease};
    r.create = p ? p->create : main;
    r.version = p ? p->version + 1 : 1;
    assert(vlen <= M_VMAX);
    if (vlen) memcpy(r.val, v, vlen);
    r.vlen = vlen;
    push(k, r);
    attach(m, lease);
}

static int64_t m_delete(struct model *m, struct kv_bytes key, struct kv_bytes end, int64_t main,
                        uint32_t *sub, struct kv_arena *a, struct kv_delete_res *res, bool prev)
{
    int64_t n = 0;
    struct kv_kv tmp[M_KEYS];
    size_t np = 0;
    for (int i = 0; i < M_KEYS; i++) {
        struct mkey *k = &m->keys[i];
        if (!in_range(k->key, key, end) || !latest(k)) continue;
        if (prev) fill_kv(a, k->key, latest(k), &tmp[np++]);
        struct mrev r = {.main = main, .sub = (*sub)++, .tomb = true};
        push(k, r);
        n++;
    }
    if (res) {
        res->deleted = n;
        if (prev && np) {
            res->prev_kvs = kv_arena_dup(a, tmp, np * sizeof(*tmp));
            res->n_prev = np;
        }
    }
    return n;
}

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static bool cmp_ok(uint8_t result, int c)
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

static bool m_compare(struct model *m, const struct kv_compare *c)
{
    bool any = false;
    for (int i = 0; i < M_KEYS; i++) {
        const struct mkey *k = &m->keys[i];
        if (!in_range(k->key, c->key, c->range_end)) continue;
        const struct mrev *v = latest(k);
        if (!v) continue;
        any = true;
        int r = 0;
        switch (c->target) {
        case KV_CMP_VERSION:
            r = cmp_i64(v->version, c->number);
            break;
        case KV_CMP_CREATE:
            r = cmp_i64(v->create, c->number);
            break;
        case KV_CMP_MOD:
            r = cmp_i64(v->main, c->number);
            break;
        case KV_CMP_LEASE:
            r = cmp_i64(v->lease, c->number);
            break;
        case KV_CMP_VALUE:
            r = bcmp2(v->val, v->vlen, c->value.p, c->value.len);
            break;
        }
        if (!cmp_ok(c->result, r)) return false;
    }
    if (!any) return c->target == KV_CMP_VALUE ? false : cmp_ok(c->result, cmp_i64(0, c->number));
    return true;
}

/* txn: path first (all compares on the pre-txn state), then checks, then execution. */
struct mpath {
    bool v[256];
    int n, pos;
};

static void m_path(struct model *m, const struct kv_txn *t, struct mpath *p)
{
    bool ok = true;
    for (size_t i = 0; i < t->n_cmp && ok; i++) ok = m_compare(m, &t->cmp[i]);
    assert(p->n < 256);
    p->v[p->n++] = ok;
    const struct kv_op *ops = ok ? t->success : t->failure;
    size_t n = ok ? t->n_success : t->n_failure;
    for (size_t i = 0; i < n; i++)
        if (ops[i].type == KV_OP_TXN) m_path(m, ops[i].u.txn, p);
}

static int m_check(struct model *m, const struct kv_txn *t, struct mpath *p, bool puts, int *msg)
{
    bool ok = p->v[p->pos++];
    const struct kv_op *ops = ok ? t->success : t->failure;
    size_t n = ok ? t->n_success : t->n_failure;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].type == KV_OP_TXN) {
            int rc = m_check(m, ops[i].u.txn, p, puts, msg);
            if (rc) return rc;
        } else if (puts && ops[i].type == KV_OP_PUT) {
            const struct kv_put *q = &ops[i].u.put;
            if ((q->ignore_value || q->ignore_lease) && !latest(key_find(m, q->key))) {
                *msg = KV_MSG_KEY_NOT_FOUND;
                return CC_ENOTFOUND;
            }
            if (q->lease && !lease_find(m, q->lease)) {
                *msg = KV_MSG_LEASE_NOT_FOUND;
                return CC_ELEASE;
            }
        } else if (!puts && ops[i].type == KV_OP_RANGE) {
            int64_t rev = ops[i].u.range.revision;
            if (rev > m->rev) {
                *msg = KV_MSG_FUTURE_REV;
                return CC_EFUTUREREV;
            }
            if (rev && rev < m->compact_rev) {
                *msg = KV_MSG_COMPACTED;
                return CC_ECOMPACTED;
            }
        }
    }
    return 0;
}

struct mtx {
    int64_t begin;
    uint32_t changes;
};

static void m_exec_put(struct model *m, struct mtx *x, const struct kv_put *q, struct kv_arena *a,
                       struct kv_put_res *res)
{
    struct mkey *k = key_find(m, q->key);
    assert(k);
    const struct mrev *cur = latest(k);
    memset(res, 0, sizeof(*res));
    if (q->prev_kv && cur) {
        res->has_prev = true;
        fill_kv(a, k->key, cur, &res->prev);
    }
    const uint8_t *v = q->ignore_value ? cur->val : q->value.p;
    size_t vlen = q->ignore_value ? cur->vlen : q->value.len;
    uint8_t vcopy[M_VMAX];
    if (vlen) memcpy(vcopy, v, vlen);
    int64_t lease = q->ignore_lease ? cur->lease : q->lease;
    m_put(m, k, vcopy, vlen, lease, x->begin + 1, x->changes++);
    res->rev = x->begin + 1;
}

static void m_exec(struct model *m, struct mtx *x, const struct kv_txn *t, struct mpath *p,
                   struct kv_arena *a, struct kv_txn_res *res)
{
    bool ok = p->v[p->pos++];
    const struct kv_op *ops = ok ? t->success : t->failure;
    size_t n = ok ? t->n_success : t->n_failure;
    res->succeeded = ok;
    res->rev = 0;
    res->n = n;
    res->resps = n ? kv_arena_calloc(a, n, sizeof(*res->resps)) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct kv_op_res *o = &res->resps[i];
        o->type = ops[i].type;
        int msg;
        switch (ops[i].type) {
        case KV_OP_RANGE: {
            int rc =
                m_range(m, &ops[i].u.range, x->begin + (x->changes ? 1 : 0), a, &o->u.range, &msg);
            assert(rc == 0);
            break;
        }
        case KV_OP_PUT:
            m_exec_put(m, x, &ops[i].u.put, a, &o->u.put);
            break;
        case KV_OP_DELETE:
            m_delete(m, ops[i].u.del.key, ops[i].u.del.range_end, x->begin + 1, &x->changes, a,
                     &o->u.del, ops[i].u.del.prev_kv);
            o->u.del.rev = x->begin + (x->changes ? 1 : 0);
            break;
        case KV_OP_TXN:
            o->u.txn = kv_arena_calloc(a, 1, sizeof(*o->u.txn));
            m_exec(m, x, ops[i].u.txn, p, a, o->u.txn);
            break;
        }
    }
}

static bool parse_i64(const uint8_t *s, size_t n, int64_t *out)
{
    char buf[32];
    if (n == 0 || n > 20) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (!strcmp(buf, "0")) {
        *out = 0;
        return true;
    }
    const char *p = buf[0] == '-' ? buf + 1 : buf;
    if (*p < '1' || *p > '9') return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return false;
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno) return false;
    *out = v;
    return true;
}

void m_apply(struct model *m, const struct kv_cmd *c, int64_t granted_id, struct kv_result *exp)
{
    memset(exp, 0, sizeof(*exp));
    exp->type = c->type;
    int msg = KV_MSG_NONE;
    int rc = kv_cmd_check(c, &msg); /* validation rules are tested on their own */
    if (rc) {
        exp->err = rc;
        exp->msg = msg;
        exp->rev = m->rev;
        return;
    }
    struct kv_arena *a = &exp->mem;
    switch (c->type) {
    case KV_CMD_PUT: {
        const struct kv_put *q = &c->u.put;
        struct mkey *k = key_find(m, q->key);
        assert(k);
        if (q->lease && !q->ignore_lease && !lease_find(m, q->lease)) {
            exp->err = CC_ELEASE;
            exp->msg = KV_MSG_LEASE_NOT_FOUND;
        } else if ((q->ignore_value || q->ignore_lease) && !latest(k)) {
            exp->err = CC_ENOTFOUND;
            exp->msg = KV_MSG_KEY_NOT_FOUND;
        } else {
            struct mtx x = {m->rev, 0};
            m_exec_put(m, &x, q, a, &exp->u.put);
            m->rev++;
            exp->u.put.rev = m->rev;
        }
        break;
    }
    case KV_CMD_DELETE: {
        uint32_t sub = 0;
        m_delete(m, c->u.del.key, c->u.del.range_end, m->rev + 1, &sub, a, &exp->u.del,
                 c->u.del.prev_kv);
        if (sub) m->rev++;
        exp->u.del.rev = m->rev;
        break;
    }
    case KV_CMD_TXN: {
        struct mpath p = {0};
        m_path(m, &c->u.txn, &p);
        p.pos = 0;
        rc = m_check(m, &c->u.txn, &p, true, &msg);
        if (!rc) {
            p.pos = 0;
            rc = m_check(m, &c->u.txn, &p, false, &msg);
        }
        if (rc) {
            exp->err = rc;
            exp->msg = msg;
            break;
        }
        struct mtx x = {m->rev, 0};
        p.pos = 0;
        m_exec(m, &x, &c->u.txn, &p, a, &exp->u.txn);
        if (x.changes) m->rev++;
        exp->u.txn.rev = m->rev;
        break;
    }
    case KV_CMD_COMPACT:
        if (c->u.compact.revision <= m->compact_rev) {
            exp->err = CC_ECOMPACTED;
            exp->msg = KV_MSG_COMPACTED;
        } else if (c->u.compact.revision > m->rev) {
            exp->err = CC_EFUTUREREV;
            exp->msg = KV_MSG_FUTURE_REV;
        } else {
            m->compact_rev = c->u.compact.revision;
            exp->u.compact.revision = m->compact_rev;
        }
        break;
    case KV_CMD_LEASE_GRANT: {
        int64_t id = c->u.grant.id ? c->u.grant.id : granted_id;
        int64_t ttl = c->u.grant.ttl_ms;
        if (ttl > KV_LEASE_TTL_MAX_MS) {
            exp->err = CC_EINVAL;
            exp->msg = KV_MSG_LEASE_TTL_TOO_LARGE;
            break;
        }
        if (lease_find(m, id)) {
            exp->err = CC_EEXIST;
            exp->msg = KV_MSG_LEASE_EXISTS;
            break;
        }
        if (ttl < c->u.grant.min_ttl_ms) ttl = c->u.grant.min_ttl_ms;
        if (ttl < 1) ttl = 1;
        int slot = 0;
        while (slot < m->nleases && m->leases[slot].alive) slot++;
        assert(slot < M_LEASES);
        if (slot == m->nleases) m->nleases++;
        m->leases[slot] = (struct mlease){id, ttl, 0, true};
        exp->u.grant.id = id;
        exp->u.grant.ttl_ms = ttl;
        break;
    }
    case KV_CMD_LEASE_REVOKE: {
        struct mlease *l = lease_find(m, c->u.revoke_id);
        if (!l) {
            exp->err = CC_ELEASE;
            exp->msg = KV_MSG_LEASE_NOT_FOUND;
            break;
        }
        uint32_t sub = 0;
        for (int i = 0; i < M_KEYS; i++) { /* sorted keys, one revision */
            const struct mrev *v = latest(&m->keys[i]);
            if (!v || v->lease != l->id) continue;
            struct mrev r = {.main = m->rev + 1, .sub = sub++, .tomb = true};
            push(&m->keys[i], r);
        }
        if (sub) m->rev++;
        l->alive = false;
        break;
    }
    case KV_CMD_LEASE_RENEW: {
        struct mlease *l = lease_find(m, c->u.renew_id);
        if (!l) {
            exp->err = CC_ELEASE;
            exp->msg = KV_MSG_LEASE_NOT_FOUND;
            break;
        }
        l->remaining_ms = 0;
        exp->u.grant.id = l->id;
        exp->u.grant.ttl_ms = l->ttl_ms;
        break;
    }
    case KV_CMD_LEASE_CHECKPOINT:
        for (size_t i = 0; i < c->u.checkpoint.n; i++) {
            struct mlease *l = lease_find(m, c->u.checkpoint.cps[i].id);
            if (l) l->remaining_ms = c->u.checkpoint.cps[i].remaining_ms;
        }
        break;
    case KV_CMD_COUNTER: {
        struct mkey *k = key_find(m, c->u.counter.key);
        const struct mrev *cur = latest(k);
        int64_t old = 0;
        if (cur && !parse_i64(cur->val, cur->vlen, &old)) {
            exp->err = CC_ENOTNUM;
            exp->msg = KV_MSG_NOT_INTEGER;
            break;
        }
        int64_t d = c->u.counter.delta;
        if ((d < 0 && old < INT64_MIN - d) || (d > 0 && old > INT64_MAX - d)) {
            exp->err = CC_ENOTNUM;
            exp->msg = KV_MSG_OVERFLOW;
            break;
        }
        char num[24];
        int len = snprintf(num, sizeof(num), "%lld", (long long)(old + d));
        m_put(m, k, (const uint8_t *)num, (size_t)len, cur ? cur->lease : 0, m->rev + 1, 0);
        m->rev++;
        exp->u.counter.value = old + d;
        break;
    }
    default:
        break;
    }
    exp->rev = m->rev;
}

/* ---- hash ---- */

static bool m_kept(const struct mkey *k, size_t i, int64_t c)
{
    const struct mrev *r = &k->revs[i];
    if (r->main > c) return true;
    bool last_le = i + 1 == k->n || k->revs[i + 1].main > c;
    return last_le && (!r->tomb || r->main == c);
}

uint32_t m_hash(const struct model *m, int64_t rev)
{
    /* All revisions in (main, sub) order: merge the per-key histories. */
    size_t pos[M_KEYS] = {0};
    uint32_t crc = crc32c_extend(0, "kv", 2);
    struct buf b;
    buf_init(&b, 1 << 20);
    for (;;) {
        int best = -1;
        for (int i = 0; i < M_KEYS; i++) {
            const struct mkey *k = &m->keys[i];
            if (pos[i] >= k->n || k->revs[pos[i]].main > rev) continue;
            if (best < 0) {
                best = i;
                continue;
            }
            const struct mrev *x = &k->revs[pos[i]], *y = &m->keys[best].revs[pos[best]];
            if (x->main < y->main || (x->main == y->main && x->sub < y->sub)) best = i;
        }
        if (best < 0) break;
        const struct mkey *k = &m->keys[best];
        const struct mrev *r = &k->revs[pos[best]];
        if (r->main > m->compact_rev || m_kept(k, pos[best], m->compact_rev)) {
            uint8_t key[REVKEY_LEN];
            kv__revkey(key, r->main, r->sub);
            buf_reset(&b);
            int rc = kv__rec_encode(&b, (const uint8_t *)k->key, strlen(k->key), r->val, r->vlen,
                                    r->create, r->version, r->lease, r->tomb);
            assert(rc == 0);
            crc = crc32c_extend(crc, key, sizeof(key));
            crc = crc32c_extend(crc, b.data, b.len);
        }
        pos[best]++;
    }
    buf_free(&b);
    return crc;
}

/* ---- comparisons ---- */

static char diffbuf[512];

static const char *kv_diff(const char *what, const struct kv_kv *g, const struct kv_kv *e)
{
    if (bcmp2(g->key.p, g->key.len, e->key.p, e->key.len))
        snprintf(diffbuf, sizeof(diffbuf), "%s: key %.*s != %.*s", what, (int)g->key.len,
                 (const char *)g->key.p, (int)e->key.len, (const char *)e->key.p);
    else if (bcmp2(g->value.p, g->value.len, e->value.p, e->value.len))
        snprintf(diffbuf, sizeof(diffbuf), "%s: value of %.*s: '%.*s' != '%.*s'", what,
                 (int)g->key.len, (const char *)g->key.p, (int)g->value.len,
                 (const char *)g->value.p, (int)e->value.len, (const char *)e->value.p);
    else if (g->create_rev != e->create_rev || g->mod_rev != e->mod_rev ||
             g->version != e->version || g->lease != e->lease)
        snprintf(diffbuf, sizeof(diffbuf),
                 "%s: %.*s create/mod/ver/lease %lld/%lld/%lld/%lld != %lld/%lld/%lld/%lld", what,
                 (int)g->key.len, (const char *)g->key.p, (long long)g->create_rev,
                 (long long)g->mod_rev, (long long)g->version, (long long)g->lease,
                 (long long)e->create_rev, (long long)e->mod_rev, (long long)e->version,
                 (long long)e->lease);
    else
        return NULL;
    return diffbuf;
}

const char *m_range_diff(const struct kv_range_res *g, const struct kv_range_res *e)
{
    if (g->rev != e->rev || g->n != e->n || g->count != e->count || g->more != e->more) {
        snprintf(diffbuf, sizeof(diffbuf),
                 "range rev/n/count/more %lld/%zu/%lld/%d != %lld/%zu/%lld/%d", (long long)g->rev,
                 g->n, (long long)g->count, g->more, (long long)e->rev, e->n, (long long)e->count,
                 e->more);
        return diffbuf;
    }
    for (size_t i = 0; i < g->n; i++) {
        const char *d = kv_diff("range kv", &g->kvs[i], &e->kvs[i]);
        if (d) return d;
    }
    return NULL;
}

static const char *del_diff(const struct kv_delete_res *g, const struct kv_delete_res *e)
{
    if (g->rev != e->rev || g->deleted != e->deleted || g->n_prev != e->n_prev) {
        snprintf(diffbuf, sizeof(diffbuf),
                 "delete rev/deleted/nprev %lld/%lld/%zu != %lld/%lld/%zu", (long long)g->rev,
                 (long long)g->deleted, g->n_prev, (long long)e->rev, (long long)e->deleted,
                 e->n_prev);
        return diffbuf;
    }
    for (size_t i = 0; i < g->n_prev; i++) {
        const char *d = kv_diff("delete prev", &g->prev_kvs[i], &e->prev_kvs[i]);
        if (d) return d;
    }
    return NULL;
}

static const char *put_diff(const struct kv_put_res *g, const struct kv_put_res *e)
{
    if (g->rev != e->rev || g->has_prev != e->has_prev) {
        snprintf(diffbuf, sizeof(diffbuf), "put rev/has_prev %lld/%d != %lld/%d", (long long)g->rev,
                 g->has_prev, (long long)e->rev, e->has_prev);
        return diffbuf;
    }
    return g->has_prev ? kv_diff("put prev", &g->prev, &e->prev) : NULL;
}

static const char *txn_diff(const struct kv_txn_res *g, const struct kv_txn_res *e)
{
    if (g->rev != e->rev || g->succeeded != e->succeeded || g->n != e->n) {
        snprintf(diffbuf, sizeof(diffbuf), "txn rev/succeeded/n %lld/%d/%zu != %lld/%d/%zu",
                 (long long)g->rev, g->succeeded, g->n, (long long)e->rev, e->succeeded, e->n);
        return diffbuf;
    }
    for (size_t i = 0; i < g->n; i++) {
        const struct kv_op_res *x = &g->resps[i], *y = &e->resps[i];
        if (x->type != y->type) return "txn response type";
        const char *d = NULL;
        switch (x->type) {
        case KV_OP_RANGE:
            d = m_range_diff(&x->u.range, &y->u.range);
            break;
        case KV_OP_PUT:
            d = put_diff(&x->u.put, &y->u.put);
            break;
        case KV_OP_DELETE:
            d = del_diff(&x->u.del, &y->u.del);
            break;
        case KV_OP_TXN:
            d = txn_diff(x->u.txn, y->u.txn);
            break;
        }
        if (d) return d;
    }
    return NULL;
}

const char *m_result_diff(const struct kv_result *g, const struct kv_result *e)
{
    if (g->err != e->err || g->msg != e->msg || g->rev != e->rev || g->type != e->type) {
        snprintf(diffbuf, sizeof(diffbuf), "err/msg/rev/type %s/%d/%lld/%d != %s/%d/%lld/%d",
                 cc_errname(g->err), g->msg, (long long)g->rev, g->type, cc_errname(e->err), e->msg,
                 (long long)e->rev, e->type);
        return diffbuf;
    }
    if (g->err) return NULL;
    switch (g->type) {
    case KV_CMD_PUT:
        return put_diff(&g->u.put, &e->u.put);
    case KV_CMD_DELETE:
        return del_diff(&g->u.del, &e->u.del);
    case KV_CMD_TXN:
        return txn_diff(&g->u.txn, &e->u.txn);
    case KV_CMD_LEASE_GRANT:
    case KV_CMD_LEASE_RENEW:
        if (g->u.grant.id != e->u.grant.id || g->u.grant.ttl_ms != e->u.grant.ttl_ms)
            return "lease grant id/ttl";
        return NULL;
    case KV_CMD_COUNTER:
        return g->u.counter.value != e->u.counter.value ? "counter value" : NULL;
    case KV_CMD_COMPACT:
        return g->u.compact.revision != e->u.compact.revision ? "compact revision" : NULL;
    }
    return NULL;
}

/* ---- events ---- */

size_t m_events(const struct model *m, struct kv_bytes key, struct kv_bytes end, int64_t start,
                bool prev_kv, bool no_put, bool no_delete, struct mevent **out)
{
    size_t pos[M_KEYS] = {0}, n = 0, cap = 0;
    struct mevent *v = NULL;
    for (;;) {
        int best = -1;
        for (int i = 0; i < M_KEYS; i++) {
            const struct mkey *k = &m->keys[i];
            if (pos[i] >= k->n) continue;
            const struct mrev *x = &k->revs[pos[i]];
            if (best < 0) {
                best = i;
                continue;
            }
            const struct mrev *y = &m->keys[best].revs[pos[best]];
            if (x->main < y->main || (x->main == y->main && x->sub < y->sub)) best = i;
        }
        if (best < 0) break;
        const struct mkey *k = &m->keys[best];
        size_t idx = pos[best]++;
        const struct mrev *r = &k->revs[idx];
        if (r->main < start || !in_range(k->key, key, end)) continue;
        if (r->tomb ? no_delete : no_put) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = realloc(v, cap * sizeof(*v));
            assert(v);
        }
        struct mevent *e = &v[n++];
        memset(e, 0, sizeof(*e));
        size_t kl = strlen(k->key);
        memcpy(e->kbuf, k->key, kl);
        e->ev.type = r->tomb ? KV_EVENT_DELETE : KV_EVENT_PUT;
        e->ev.kv.key = (struct kv_bytes){e->kbuf, kl};
        e->ev.kv.mod_rev = r->main;
        if (!r->tomb) {
            memcpy(e->vbuf, r->val, r->vlen);
            e->ev.kv.value = (struct kv_bytes){e->vbuf, r->vlen};
            e->ev.kv.create_rev = r->create;
            e->ev.kv.version = r->version;
            e->ev.kv.lease = r->lease;
        }
        if (prev_kv && idx > 0 && !k->revs[idx - 1].tomb) {
            const struct mrev *p = &k->revs[idx - 1];
            e->ev.has_prev = true;
            memcpy(e->pkbuf, k->key, kl);
            memcpy(e->pvbuf, p->val, p->vlen);
            e->ev.prev.key = (struct kv_bytes){e->pkbuf, kl};
            e->ev.prev.value = (struct kv_bytes){e->pvbuf, p->vlen};
            e->ev.prev.create_rev = p->create;
            e->ev.prev.mod_rev = p->main;
            e->ev.prev.version = p->version;
            e->ev.prev.lease = p->lease;
        }
    }
    /* pointers into v moved with realloc: fix them up */
    for (size_t i = 0; i < n; i++) {
        struct mevent *e = &v[i];
        e->ev.kv.key.p = e->kbuf;
        if (e->ev.type == KV_EVENT_PUT) e->ev.kv.value.p = e->vbuf;
        if (e->ev.has_prev) {
            e->ev.prev.key.p = e->pkbuf;
            e->ev.prev.value.p = e->pvbuf;
        }
    }
    *out = v;
    return n;
}
