/* apply.c — applying committed entries: one RocksDB write batch per call carrying the data,
 * the applied index and the state; puts and deletes inside a revision (etcd storeTxnWrite);
 * PUT, DELETE, COUNTER and META commands (AUTH commands: auth.c). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"

/* ---- the batch ---- */

static void batch_begin(struct kv *kv)
{
    struct kv__batch *b = &kv->batch;
    if (!b->wb)
        b->wb = rocksdb_writebatch_create();
    else
        rocksdb_writebatch_clear(b->wb);
    b->npend = 0;
    buf_reset(&b->recs);
    b->first_rev = kv->rev + 1;
    b->active = true;
}

static void batch_end(struct kv *kv)
{
    struct kv__batch *b = &kv->batch;
    b->active = false;
    b->npend = 0;
    /* Do not keep a huge record buffer alive after a big batch. */
    if (b->recs.cap > (8u << 20))
        buf_free(&b->recs);
    else
        buf_reset(&b->recs);
    if (b->cap > 65536) {
        free(b->pend);
        b->pend = NULL;
        b->cap = 0;
    }
}

/* Writes a revision: encodes its record into the batch (pending reads and watchers use it)
 * and into the RocksDB write batch. */
static int write_rev(struct kv *kv, int64_t main, uint32_t sub, const struct krec *prev_r,
                     struct kv_bytes key, struct kv_bytes val, int64_t create, int64_t version,
                     int64_t lease, bool tomb)
{
    struct kv__batch *b = &kv->batch;
    if (b->npend == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        struct pend *p = realloc(b->pend, cap * sizeof(*p));
        if (!p) return CC_ENOMEM;
        b->pend = p;
        b->cap = cap;
    }
    size_t off = b->recs.len;
    int rc = kv__rec_encode(&b->recs, key.p, key.len, val.p, val.len, create, version, lease, tomb);
    if (rc) return rc;
    struct pend *p = &b->pend[b->npend++];
    p->main = main;
    p->sub = sub;
    p->off = off;
    p->len = (uint32_t)(b->recs.len - off);
    p->prev_main = 0;
    p->prev_sub = 0;
    if (prev_r && krec_live(prev_r)) {
        p->prev_main = krec_main(prev_r, prev_r->nrev - 1);
        p->prev_sub = krec_sub(prev_r, prev_r->nrev - 1);
    }
    uint8_t k[REVKEY_LEN];
    kv__revkey(k, main, sub);
    rocksdb_writebatch_put_cf(b->wb, kv->cf[CF_REV], (const char *)k, sizeof(k),
                              (const char *)b->recs.data + off, p->len);
    return 0;
}

/* ---- writes inside one revision ---- */

int kv__wtx_put(struct kv *kv, struct wtx *t, struct kv_bytes key, struct kv_bytes value,
                int64_t lease, struct kv__cur *at, bool found)
{
    int64_t main = t->begin_rev + 1;
    uint32_t sub = t->changes;
    if (sub > SUB_MAX) return CC_ETOOBIG;
    struct kv__cur cur;
    if (at)
        cur = *at;
    else
        found = kv__idx_seek(&kv->idx, key.p, key.len, &cur);
    struct krec *r = found ? kv__cur_rec(&cur) : NULL;
    bool live = r && krec_live(r);
    int64_t create = live ? r->create_rev : main;
    int64_t version = live ? r->version + 1 : 1;
    uint32_t old_slot = live ? r->lease_slot : 0;
    struct lease *nl = lease ? kv__lease_get(kv, lease) : NULL;
    assert(!lease || nl); /* checked by the caller */
    int rc = write_rev(kv, main, sub, r, key, value, create, version, lease, false);
    if (rc) return rc;
    if (!r) {
        r = kv__krec_new(key.p, key.len);
        if (!r) return CC_ENOMEM;
        if ((rc = kv__idx_insert(&kv->idx, r, &cur))) {
            free(r);
            return rc;
        }
    }
    struct krec *n = kv__krec_push(r, main, sub, false);
    if (!n) return CC_ENOMEM;
    kv__cur_set(&cur, n);
    kv->idx.nrevs++;
    n->create_rev = create;
    n->version = version;
    n->lease_slot = nl ? nl->slot : 0;
    if (old_slot != n->lease_slot) {
        if (old_slot) kv__lease_detach(kv__lease_slot(kv, old_slot), key.p, key.len);
        if (nl && (rc = kv__lease_attach(nl, key.p, key.len))) return rc;
    }
    t->changes++;
    return 0;
}

int kv__wtx_delete(struct kv *kv, struct wtx *t, struct kv_bytes key, struct kv_bytes end,
                   struct kv_arena *a, struct kv_delete_res *res, bool prev_kv)
{
    struct kv__cur cur;
    struct kv_kv *prev = NULL;
    size_t nprev = 0, cap = 0;
    int rc = 0;
    res->deleted = 0;
    kv__idx_seek(&kv->idx, key.p, key.len, &cur);
    for (struct krec *r; (r = kv__cur_rec(&cur)); kv__cur_next(&cur)) {
        if (!kv__in_range(krec_key(r), r->klen, key, end)) break;
        if (!krec_live(r)) continue;
        if (prev_kv) {
            if (nprev == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct kv_kv *np = realloc(prev, ncap * sizeof(*np));
                if (!np) {
                    rc = CC_ENOMEM;
                    break;
                }
                prev = np;
                cap = ncap;
            }
            if ((rc = kv__kv_at(kv, r, (int)r->nrev - 1, a, true, &prev[nprev]))) break;
            nprev++;
        }
        int64_t main = t->begin_rev + 1;
        uint32_t sub = t->changes;
        if (sub > SUB_MAX) {
            rc = CC_ETOOBIG;
            break;
        }
        struct kv_bytes k = {krec_key(r), r->klen};
        struct kv_bytes none = {NULL, 0};
        if ((rc = write_rev(kv, main, sub, r, k, none, 0, 0, 0, true))) break;
        if (r->lease_slot) kv__lease_detach(kv__lease_slot(kv, r->lease_slot), k.p, k.len);
        struct krec *n = kv__krec_push(r, main, sub, true);
        if (!n) {
            rc = CC_ENOMEM;
            break;
        }
        kv__cur_set(&cur, n);
        kv->idx.nrevs++;
        n->create_rev = n->version = 0;
        n->lease_slot = 0;
        t->changes++;
        res->deleted++;
    }
    if (!rc && prev_kv && nprev) {
        res->prev_kvs = kv_arena_dup(a, prev, nprev * sizeof(*prev));
        if (!res->prev_kvs) rc = CC_ENOMEM;
        res->n_prev = nprev;
    }
    free(prev);
    res->rev = wtx_rev(t);
    return rc;
}

void kv__wtx_end(struct kv *kv, struct wtx *t)
{
    if (t->changes) kv->rev = t->begin_rev + 1;
}

/* etcd applierV3backend.Put inside an open revision. Returns 0, or a cc_err: with *msg set
 * when the command itself fails (lease or key not found; nothing was written), with *msg ==
 * KV_MSG_NONE when the failure is fatal (out of memory, I/O). */
int kv__apply_put(struct kv *kv, struct wtx *t, const struct kv_put *p, struct kv_arena *a,
                  struct kv_put_res *res, int *msg)
{
    *msg = KV_MSG_NONE;
    memset(res, 0, sizeof(*res));
    struct kv__cur cur;
    bool found = kv__idx_seek(&kv->idx, p->key.p, p->key.len, &cur);
    struct krec *r = found ? kv__cur_rec(&cur) : NULL;
    bool live = r && krec_live(r);
    int64_t lease = p->lease;
    /* etcd's standalone Put looks the lease up first, then the previous pair */
    if (!p->ignore_lease && lease && !kv__lease_get(kv, lease)) {
        *msg = KV_MSG_LEASE_NOT_FOUND;
        return CC_ELEASE;
    }
    if ((p->ignore_value || p->ignore_lease) && !live) {
        *msg = KV_MSG_KEY_NOT_FOUND;
        return CC_ENOTFOUND;
    }
    if (p->ignore_lease) {
        const struct lease *l = r->lease_slot ? kv__lease_slot(kv, r->lease_slot) : NULL;
        lease = l ? l->id : 0;
    }
    int rc = 0;
    struct kv_kv cur_kv = {0};
    bool need_cur = live && (p->prev_kv || p->ignore_value);
    if (need_cur && (rc = kv__kv_at(kv, r, (int)r->nrev - 1, a, true, &cur_kv))) return rc;
    if (p->prev_kv && live) {
        res->has_prev = true;
        res->prev = cur_kv;
    }
    struct kv_bytes value = p->ignore_value ? cur_kv.value : p->value;
    rc = kv__wtx_put(kv, t, p->key, value, lease, &cur, found);
    res->rev = t->begin_rev + 1;
    return rc;
}

/* ---- commands ---- */

/* Redis string2ll: optional '-', no '+', no spaces, no leading zeros, fits in int64. */
static bool parse_i64(const uint8_t *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 20) return false;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    size_t i = 0;
    bool neg = s[0] == '-';
    if (neg) i++;
    if (i >= n || s[i] < '1' || s[i] > '9') return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
    }
    return true;
}

static int apply_counter(struct kv *kv, const struct kv_counter *c, struct kv_result *res)
{
    struct krec *r = kv__idx_get(&kv->idx, c->key.p, c->key.len);
    int64_t old = 0, lease = 0;
    if (r && krec_live(r)) {
        struct kv__got g;
        int rc = kv__get_rev(kv, krec_main(r, r->nrev - 1), krec_sub(r, r->nrev - 1), &g);
        if (rc) {
            kv__got_release(&g);
            return rc == CC_ENOTFOUND ? CC_ECORRUPT : rc;
        }
        bool ok = parse_i64(g.v.value.p, g.v.value.len, &old);
        kv__got_release(&g);
        if (!ok) {
            res->err = CC_ENOTNUM;
            res->msg = KV_MSG_NOT_INTEGER;
            return 0;
        }
        const struct lease *l = r->lease_slot ? kv__lease_slot(kv, r->lease_slot) : NULL;
        lease = l ? l->id : 0; /* INCR keeps the key's TTL, as Redis does */
    }
    if ((c->delta < 0 && old < INT64_MIN - c->delta) ||
        (c->delta > 0 && old > INT64_MAX - c->delta)) {
        res->err = CC_ENOTNUM;
        res->msg = KV_MSG_OVERFLOW;
        return 0;
    }
    int64_t nv = old + c->delta;
    char num[24];
    int len = snprintf(num, sizeof(num), "%" PRId64, nv);
    struct wtx t = {kv->rev, 0};
    struct kv_bytes val = {(const uint8_t *)num, (size_t)len};
    int rc = kv__wtx_put(kv, &t, c->key, val, lease, NULL, false);
    kv__wtx_end(kv, &t);
    res->u.counter.value = nv;
    return rc;
}

static int apply_meta(struct kv *kv, const struct kv_cmd *c)
{
    size_t kl = c->u.meta.key.len;
    uint8_t *k = malloc(kl + 1);
    if (!k) return CC_ENOMEM;
    k[0] = META_MEMBER;
    memcpy(k + 1, c->u.meta.key.p, kl);
    if (c->type == KV_CMD_META_PUT)
        rocksdb_writebatch_put_cf(kv->batch.wb, kv->cf[CF_META], (const char *)k, kl + 1,
                                  (const char *)c->u.meta.value.p, c->u.meta.value.len);
    else
        rocksdb_writebatch_delete_cf(kv->batch.wb, kv->cf[CF_META], (const char *)k, kl + 1);
    free(k);
    return 0;
}

/* Runs one decoded, checked command. Command failures go into res; the return value is 0 or
 * a fatal error. */
static int run_cmd(struct kv *kv, uint64_t index, const struct kv_cmd *c, struct kv_result *res)
{
    int rc = 0, msg = KV_MSG_NONE;
    switch (c->type) {
    case KV_CMD_PUT: {
        struct wtx t = {kv->rev, 0};
        rc = kv__apply_put(kv, &t, &c->u.put, &res->mem, &res->u.put, &msg);
        kv__wtx_end(kv, &t);
        if (msg != KV_MSG_NONE) {
            res->err = rc;
            res->msg = msg;
            rc = 0;
        }
        break;
    }
    case KV_CMD_DELETE: {
        struct wtx t = {kv->rev, 0};
        rc = kv__wtx_delete(kv, &t, c->u.del.key, c->u.del.range_end, &res->mem, &res->u.del,
                            c->u.del.prev_kv);
        kv__wtx_end(kv, &t);
        break;
    }
    case KV_CMD_TXN:
        rc = kv__txn_apply(kv, &c->u.txn, res);
        break;
    case KV_CMD_COMPACT:
        rc = kv__compact_cmd(kv, &c->u.compact, res);
        break;
    case KV_CMD_LEASE_GRANT:
    case KV_CMD_LEASE_REVOKE:
    case KV_CMD_LEASE_CHECKPOINT:
    case KV_CMD_LEASE_RENEW:
        rc = kv__lease_cmd(kv, index, c, res);
        break;
    case KV_CMD_COUNTER:
        rc = apply_counter(kv, &c->u.counter, res);
        break;
    case KV_CMD_META_PUT:
    case KV_CMD_META_DELETE:
        rc = apply_meta(kv, c);
        break;
    case KV_CMD_AUTH:
        rc = kv__auth_cmd(kv, &c->u.auth, res);
        break;
    default:
        assert(0);
    }
    res->rev = kv->rev;
    if (c->type == KV_CMD_PUT) res->u.put.rev = res->rev;
    if (c->type == KV_CMD_DELETE) res->u.del.rev = res->rev;
    return rc;
}

static int apply_one(struct kv *kv, const struct kv_entry *e, struct kv_result *res)
{
    res->rev = kv->rev;
    if (!e->len) return 0;
    struct kv_arena scratch = {0};
    struct kv_cmd c;
    int msg;
    int rc = kv_cmd_decode(e->data, e->len, &scratch, &c, &msg);
    if (rc == CC_ENOMEM) {
        kv_arena_free(&scratch);
        return rc;
    }
    if (rc) { /* bad bytes: a failed command, the same on every member */
        res->err = rc;
        res->msg = msg;
        kv_arena_free(&scratch);
        return 0;
    }
    res->type = c.type;
    if (c.has_session) {
        rc = kv__session_check(kv, c.client_id, c.seq, res);
        if (rc) {
            kv_arena_free(&scratch);
            return rc < 0 ? rc : 0;
        }
    }
    rc = kv_cmd_check(&c, &msg);
    if (rc == CC_ENOMEM) { /* not the command's fault: it must not become its result */
        kv_arena_free(&scratch);
        return rc;
    }
    if (rc) {
        res->err = rc;
        res->msg = msg;
        rc = 0;
    } else {
        rc = run_cmd(kv, e->index, &c, res);
    }
    if (!rc && c.has_session) rc = kv__session_record(kv, c.client_id, c.seq, e->index, res);
    kv_arena_free(&scratch);
    return rc;
}

int kv_apply(struct kv *kv, const struct kv_entry *e, size_t n, struct kv_result *res)
{
    memset(res, 0, n * sizeof(*res));
    if (kv->stopped) return CC_ESTOPPED;
    batch_begin(kv);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        assert(e[i].index > kv->applied);
        rc = apply_one(kv, &e[i], &res[i]);
        if (!rc) kv->applied = e[i].index;
    }
    if (!rc) rc = kv__put_state(kv, kv->batch.wb);
    if (!rc) rc = kv__write(kv, kv->batch.wb);
    if (!rc) rc = kv__watch_dispatch(kv);
    batch_end(kv);
    if (rc) {
        if (!kv->stopped) kv__stop(kv, rc, "apply", NULL);
        for (size_t i = 0; i < n; i++) kv_result_free(&res[i]);
        return rc;
    }
    return 0;
}
