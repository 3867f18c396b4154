/* read.c — reads: a revision's record (pending batch or RocksDB) and etcd's Range with every
 * option (revision, limit, count, sort, min/max filters, keys_only, count_only). */
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"

bool kv__in_range(const uint8_t *k, size_t kl, struct kv_bytes key, struct kv_bytes end)
{
    int c = kv__bytes_cmp(k, kl, key.p, key.len);
    if (!end.len) return c == 0;
    if (c < 0) return false;
    if (end.len == 1 && end.p[0] == 0) return true; /* "\0": every key >= key */
    return kv__bytes_cmp(k, kl, end.p, end.len) < 0;
}

static const struct pend *find_pending(const struct kv *kv, int64_t main, uint32_t sub)
{
    const struct kv__batch *b = &kv->batch;
    size_t lo = 0, hi = b->npend;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct pend *p = &b->pend[mid];
        if (p->main < main || (p->main == main && p->sub < sub))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < b->npend && b->pend[lo].main == main && b->pend[lo].sub == sub) return &b->pend[lo];
    return NULL;
}

int kv__get_rev(struct kv *kv, int64_t main, uint32_t sub, struct kv__got *g)
{
    g->ps = NULL;
    if (kv->batch.active && main >= kv->batch.first_rev) {
        const struct pend *p = find_pending(kv, main, sub);
        if (p) return kv__rec_decode(kv->batch.recs.data + p->off, p->len, &g->v);
    }
    uint8_t k[REVKEY_LEN];
    kv__revkey(k, main, sub);
    char *err = NULL;
    g->ps =
        rocksdb_get_pinned_cf(kv->db, kv->ropts, kv->cf[CF_REV], (const char *)k, sizeof(k), &err);
    if (err) {
        kv__fail(kv, CC_EIO, "read revision %lld.%u: %s", (long long)main, sub, err);
        rocksdb_free(err);
        g->ps = NULL;
        return CC_EIO;
    }
    if (!g->ps) return CC_ENOTFOUND;
    size_t len;
    const char *v = rocksdb_pinnableslice_value(g->ps, &len);
    int rc = kv__rec_decode((const uint8_t *)v, len, &g->v);
    if (rc) kv__fail(kv, rc, "revision %lld.%u: corrupt record", (long long)main, sub);
    return rc;
}

void kv__got_release(struct kv__got *g)
{
    if (g->ps) rocksdb_pinnableslice_destroy(g->ps);
    g->ps = NULL;
}

/* Builds out from the index record and, when given, the stored record v of that revision. */
static int fill_kv(struct kv *kv, const struct krec *r, int ri, const struct rec_view *v,
                   struct kv_arena *a, bool with_value, struct kv_kv *out)
{
    memset(out, 0, sizeof(*out));
    out->mod_rev = krec_main(r, (uint32_t)ri);
    if ((uint32_t)ri == r->nrev - 1) { /* the live version: its metadata is in memory */
        const struct lease *l = r->lease_slot ? kv__lease_slot(kv, r->lease_slot) : NULL;
        out->create_rev = r->create_rev;
        out->version = r->version;
        out->lease = l ? l->id : 0;
    } else {
        out->create_rev = v->create_rev;
        out->version = v->version;
        out->lease = v->lease;
    }
    out->key.len = r->klen;
    out->key.p = kv_arena_dup(a, krec_key(r), r->klen);
    if (!out->key.p) return CC_ENOMEM;
    if (with_value) {
        out->value.len = v->value.len;
        out->value.p = kv_arena_dup(a, v->value.p, v->value.len);
        if (!out->value.p) return CC_ENOMEM;
    }
    return 0;
}

static bool needs_read(const struct krec *r, int ri, bool with_value)
{
    return with_value || (uint32_t)ri != r->nrev - 1;
}

int kv__kv_at(struct kv *kv, const struct krec *r, int ri, struct kv_arena *a, bool with_value,
              struct kv_kv *out)
{
    struct kv__got g = {0};
    if (needs_read(r, ri, with_value)) {
        int rc = kv__get_rev(kv, krec_main(r, (uint32_t)ri), krec_sub(r, (uint32_t)ri), &g);
        if (rc) {
            kv__got_release(&g);
            return rc == CC_ENOTFOUND ? CC_ECORRUPT : rc;
        }
    }
    int rc = fill_kv(kv, r, ri, &g.v, a, with_value, out);
    kv__got_release(&g);
    return rc;
}

struct cand {
    const struct krec *r;
    int ri;
};

#define MGET_CHUNK 128

struct mget {
    uint8_t keys[MGET_CHUNK][REVKEY_LEN];
    const char *kp[MGET_CHUNK];
    size_t ks[MGET_CHUNK];
    rocksdb_pinnableslice_t *vals[MGET_CHUNK];
    char *errs[MGET_CHUNK];
    uint32_t who[MGET_CHUNK]; /* candidate index of each key */
};

static int by_rev(const void *a, const void *b, void *arg)
{
    const struct mget *m = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return memcmp(m->keys[x], m->keys[y], REVKEY_LEN);
}

/* Fills out[0..n) for candidates c[0..n) (n <= MGET_CHUNK): records come from one batched
 * MultiGet in revision order (sorted keys let RocksDB share index and block lookups), or from
 * the pending batch, or from memory when the live version's metadata suffices. */
static int fill_chunk(struct kv *kv, const struct cand *c, size_t n, struct kv_arena *a,
                      bool with_value, struct kv_kv *out, struct mget *m)
{
    size_t nk = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!needs_read(c[i].r, c[i].ri, with_value)) {
            rc = fill_kv(kv, c[i].r, c[i].ri, NULL, a, false, &out[i]);
            continue;
        }
        int64_t main = krec_main(c[i].r, (uint32_t)c[i].ri);
        if (kv->batch.active && main >= kv->batch.first_rev) { /* maybe not in RocksDB yet */
            rc = kv__kv_at(kv, c[i].r, c[i].ri, a, with_value, &out[i]);
            continue;
        }
        kv__revkey(m->keys[nk], main, krec_sub(c[i].r, (uint32_t)c[i].ri));
        m->who[nk++] = (uint32_t)i;
    }
    if (rc || !nk) return rc;
    uint32_t order[MGET_CHUNK];
    for (uint32_t j = 0; j < nk; j++) order[j] = j;
    qsort_r(order, nk, sizeof(order[0]), by_rev, m);
    for (size_t j = 0; j < nk; j++) {
        m->kp[j] = (const char *)m->keys[order[j]];
        m->ks[j] = REVKEY_LEN;
        m->vals[j] = NULL;
        m->errs[j] = NULL;
    }
    rocksdb_batched_multi_get_cf(kv->db, kv->ropts, kv->cf[CF_REV], nk, m->kp, m->ks, m->vals,
                                 m->errs, true);
    for (size_t j = 0; j < nk; j++) {
        uint32_t i = m->who[order[j]];
        if (!rc && m->errs[j]) rc = kv__fail(kv, CC_EIO, "multiget: %s", m->errs[j]);
        if (!rc && !m->vals[j])
            rc = kv__fail(kv, CC_ECORRUPT, "a revision in the index is missing");
        if (!rc) {
            size_t len;
            const char *v = rocksdb_pinnableslice_value(m->vals[j], &len);
            struct rec_view rv;
            rc = kv__rec_decode((const uint8_t *)v, len, &rv);
            if (rc)
                kv__fail(kv, rc, "corrupt revision record");
            else
                rc = fill_kv(kv, c[i].r, c[i].ri, &rv, a, with_value, &out[i]);
        }
        if (m->errs[j]) rocksdb_free(m->errs[j]);
        if (m->vals[j]) rocksdb_pinnableslice_destroy(m->vals[j]);
    }
    return rc;
}

/* ---- sorting ---- */

struct sort_ctx {
    const struct kv_kv *kvs;
    uint8_t target;
    bool desc;
};

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int sort_cmp(const void *pa, const void *pb, void *arg)
{
    const struct sort_ctx *s = arg;
    uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
    const struct kv_kv *a = &s->kvs[ia], *b = &s->kvs[ib];
    int c = 0;
    switch (s->target) {
    case KV_SORT_KEY:
        c = kv__bytes_cmp(a->key.p, a->key.len, b->key.p, b->key.len);
        break;
    case KV_SORT_VERSION:
        c = cmp_i64(a->version, b->version);
        break;
    case KV_SORT_CREATE:
        c = cmp_i64(a->create_rev, b->create_rev);
        break;
    case KV_SORT_MOD:
        c = cmp_i64(a->mod_rev, b->mod_rev);
        break;
    case KV_SORT_VALUE:
        c = kv__bytes_cmp(a->value.p, a->value.len, b->value.p, b->value.len);
        break;
    }
    if (s->desc) c = -c;
    /* Equal elements keep key order: deterministic where etcd's sort.Sort is unspecified. */
    return c ? c : cmp_i64(ia, ib);
}

static int sort_kvs(struct kv_kv *kvs, size_t n, uint8_t target, bool desc)
{
    if (n < 2) return 0;
    uint32_t *ix = malloc(n * sizeof(*ix));
    struct kv_kv *tmp = malloc(n * sizeof(*tmp));
    if (!ix || !tmp) {
        free(ix);
        free(tmp);
        return CC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) ix[i] = (uint32_t)i;
    struct sort_ctx s = {kvs, target, desc};
    qsort_r(ix, n, sizeof(*ix), sort_cmp, &s);
    for (size_t i = 0; i < n; i++) tmp[i] = kvs[ix[i]];
    memcpy(kvs, tmp, n * sizeof(*tmp));
    free(ix);
    free(tmp);
    return 0;
}

/* ---- range ---- */

static bool pruned(const struct kv_range *r, const struct kv_kv *kv)
{
    if (r->max_mod_rev && kv->mod_rev > r->max_mod_rev) return true;
    if (r->min_mod_rev && kv->mod_rev < r->min_mod_rev) return true;
    if (r->max_create_rev && kv->create_rev > r->max_create_rev) return true;
    if (r->min_create_rev && kv->create_rev < r->min_create_rev) return true;
    return false;
}

int kv__range(struct kv *kv, const struct kv_range *r, int64_t cur_rev, struct kv_arena *a,
              struct kv_range_res *out, size_t max_bytes, bool truncate, int *msg)
{
    memset(out, 0, sizeof(*out));
    int64_t rev = r->revision;
    if (rev > cur_rev) {
        if (msg) *msg = KV_MSG_FUTURE_REV;
        return CC_EFUTUREREV;
    }
    if (rev <= 0) rev = cur_rev;
    if (rev < kv->compact_rev) {
        if (msg) *msg = KV_MSG_COMPACTED;
        return CC_ECOMPACTED;
    }
    out->rev = cur_rev;
    bool filters = r->min_mod_rev || r->max_mod_rev || r->min_create_rev || r->max_create_rev;
    uint8_t order = r->sort_order;
    if (r->sort_target != KV_SORT_KEY && order == KV_SORT_NONE) order = KV_SORT_ASCEND;
    /* etcd fetches everything when it must sort or filter, else limit+1 for `more`. */
    int64_t fetch = r->limit > 0 ? r->limit : 0;
    if (r->sort_order != KV_SORT_NONE || filters) fetch = 0;
    if (fetch > 0) fetch++;

    struct cand *c = NULL;
    size_t nc = 0, cap = 0;
    int64_t count = 0;
    struct kv__cur cur;
    kv__idx_seek(&kv->idx, r->key.p, r->key.len, &cur);
    for (const struct krec *k; (k = kv__cur_rec(&cur)); kv__cur_next(&cur)) {
        if (!kv__in_range(krec_key(k), k->klen, r->key, r->range_end)) break;
        int ri = kv__krec_at(k, rev);
        if (ri < 0 || krec_tomb(k, (uint32_t)ri)) continue;
        count++;
        if (r->count_only || (fetch > 0 && (int64_t)nc >= fetch)) continue;
        if (nc == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct cand *n = realloc(c, ncap * sizeof(*n));
            if (!n) {
                free(c);
                return CC_ENOMEM;
            }
            c = n;
            cap = ncap;
        }
        c[nc++] = (struct cand){k, ri};
    }
    out->count = count;
    if (r->count_only || !nc) {
        free(c);
        if (msg) *msg = KV_MSG_NONE;
        return 0;
    }
    out->kvs = kv_arena_alloc(a, nc * sizeof(*out->kvs));
    if (!out->kvs) {
        free(c);
        return CC_ENOMEM;
    }
    bool with_value = !r->keys_only || r->sort_target == KV_SORT_VALUE;
    size_t bytes = 0, n = 0;
    int rc = 0;
    struct mget *m = malloc(sizeof(*m));
    struct kv_kv chunk[MGET_CHUNK];
    if (!m) rc = CC_ENOMEM;
    bool stop = false;
    for (size_t base = 0; base < nc && !rc && !stop; base += MGET_CHUNK) {
        size_t k = nc - base < MGET_CHUNK ? nc - base : MGET_CHUNK;
        rc = fill_chunk(kv, c + base, k, a, with_value, chunk, m);
        for (size_t i = 0; i < k && !rc; i++) {
            if (pruned(r, &chunk[i])) continue;
            bytes += chunk[i].key.len + chunk[i].value.len;
            if (max_bytes && bytes > max_bytes) { /* checked per chunk: bounded overshoot */
                if (!truncate) {
                    rc = CC_ETOOBIG;
                    if (msg) *msg = KV_MSG_TOO_LARGE;
                } else {
                    out->more = true;
                }
                stop = true;
                break;
            }
            out->kvs[n++] = chunk[i];
        }
    }
    free(m);
    free(c);
    if (rc) {
        out->kvs = NULL;
        return rc;
    }
    out->n = n;
    if (order != KV_SORT_NONE &&
        (rc = sort_kvs(out->kvs, n, r->sort_target, order == KV_SORT_DESCEND)))
        return rc;
    if (r->limit > 0 && (int64_t)out->n > r->limit) {
        out->n = (size_t)r->limit;
        out->more = true;
    }
    if (r->keys_only)
        for (size_t i = 0; i < out->n; i++) out->kvs[i].value = (struct kv_bytes){NULL, 0};
    if (msg) *msg = KV_MSG_NONE;
    return 0;
}

int kv_range(struct kv *kv, const struct kv_range *r, struct kv_arena *a, struct kv_range_res *res,
             int *msg)
{
    memset(res, 0, sizeof(*res));
    if (kv->stopped) return CC_ESTOPPED;
    int rc = kv_range_check(r, msg);
    if (rc) return rc;
    return kv__range(kv, r, kv->rev, a, res, kv->opts.range_max_bytes, false, msg);
}
