/* lease.c — leases, the replicated part: the table, attached keys, persistence, and the
 * GRANT / REVOKE (its keys deleted in one revision) / CHECKPOINT / RENEW commands. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"
#include "util/hash64.h"

#define MAP_DELETED UINT32_MAX

/* ---- key sets ---- */

static uint8_t set_tomb;
#define TOMB (&set_tomb)

static uint64_t key_hash(const uint8_t *k, size_t n)
{
    return hash64_final(hash64_extend(HASH64_INIT, k, n));
}

size_t kv__lease_key_len(const uint8_t *e)
{
    return (size_t)e[0] | (size_t)e[1] << 8;
}

static int keys_grow(struct lease_keys *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 8;
    while (s->n * 2 >= cap) cap *= 2;
    uint8_t **slot = calloc(cap, sizeof(*slot));
    if (!slot) return CC_ENOMEM;
    for (uint32_t i = 0; i < s->cap; i++) {
        uint8_t *e = s->slot[i];
        if (!e || e == TOMB) continue;
        uint32_t j = (uint32_t)key_hash(e + 2, kv__lease_key_len(e)) & (cap - 1);
        while (slot[j]) j = (j + 1) & (cap - 1);
        slot[j] = e;
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    s->used = s->n;
    return 0;
}

/* Finds the slot holding key, or -1. */
static long keys_find(const struct lease_keys *s, const uint8_t *k, size_t n)
{
    if (!s->cap) return -1;
    uint32_t j = (uint32_t)key_hash(k, n) & (s->cap - 1);
    for (uint32_t probes = 0; probes < s->cap; probes++, j = (j + 1) & (s->cap - 1)) {
        uint8_t *e = s->slot[j];
        if (!e) return -1;
        if (e != TOMB && kv__lease_key_len(e) == n && !memcmp(e + 2, k, n)) return j;
    }
    return -1;
}

int kv__lease_attach(struct lease *l, const uint8_t *key, size_t klen)
{
    struct lease_keys *s = &l->keys;
    if (keys_find(s, key, klen) >= 0) return 0;
    if ((s->used + 1) * 2 > s->cap) {
        int rc = keys_grow(s);
        if (rc) return rc;
    }
    uint8_t *e = malloc(2 + (klen ? klen : 1));
    if (!e) return CC_ENOMEM;
    e[0] = (uint8_t)klen;
    e[1] = (uint8_t)(klen >> 8);
    memcpy(e + 2, key, klen);
    uint32_t j = (uint32_t)key_hash(key, klen) & (s->cap - 1);
    while (s->slot[j] && s->slot[j] != TOMB) j = (j + 1) & (s->cap - 1);
    if (!s->slot[j]) s->used++;
    s->slot[j] = e;
    s->n++;
    return 0;
}

void kv__lease_detach(struct lease *l, const uint8_t *key, size_t klen)
{
    long j = keys_find(&l->keys, key, klen);
    if (j < 0) return;
    free(l->keys.slot[j]);
    l->keys.slot[j] = TOMB;
    l->keys.n--;
}

static void keys_free(struct lease_keys *s)
{
    for (uint32_t i = 0; i < s->cap; i++)
        if (s->slot[i] && s->slot[i] != TOMB) free(s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof(*s));
}

static int cmp_entries(const void *a, const void *b)
{
    const uint8_t *x = *(uint8_t *const *)a, *y = *(uint8_t *const *)b;
    return kv__bytes_cmp(x + 2, kv__lease_key_len(x), y + 2, kv__lease_key_len(y));
}

uint8_t **kv__lease_keys_sorted(const struct lease_keys *s)
{
    uint8_t **v = malloc((s->n ? s->n : 1) * sizeof(*v));
    if (!v) return NULL;
    size_t n = 0;
    for (uint32_t i = 0; i < s->cap; i++)
        if (s->slot[i] && s->slot[i] != TOMB) v[n++] = s->slot[i];
    qsort(v, n, sizeof(*v), cmp_entries);
    return v;
}

/* ---- the lease table ---- */

int kv__leases_init(struct kv__leases *L)
{
    memset(L, 0, sizeof(*L));
    L->map_cap = 64;
    L->map = calloc(L->map_cap, sizeof(*L->map));
    return L->map ? 0 : CC_ENOMEM;
}

void kv__leases_free(struct kv__leases *L)
{
    for (uint32_t i = 0; i < L->nslots; i++) {
        if (!L->slots[i]) continue;
        keys_free(&L->slots[i]->keys);
        free(L->slots[i]);
    }
    free(L->slots);
    free(L->freelist);
    free(L->map);
    free(L->heap);
    memset(L, 0, sizeof(*L));
}

static uint32_t id_hash(int64_t id)
{
    return (uint32_t)hash64_final((uint64_t)id);
}

static long map_find(const struct kv__leases *L, int64_t id)
{
    uint32_t j = id_hash(id) & (L->map_cap - 1);
    for (uint32_t probes = 0; probes < L->map_cap; probes++, j = (j + 1) & (L->map_cap - 1)) {
        uint32_t s = L->map[j];
        if (!s) return -1;
        if (s != MAP_DELETED && L->slots[s - 1]->id == id) return j;
    }
    return -1;
}

static int map_grow(struct kv__leases *L)
{
    uint32_t cap = L->map_cap;
    while ((L->count + 1) * 2 > cap) cap *= 2;
    uint32_t *m = calloc(cap, sizeof(*m));
    if (!m) return CC_ENOMEM;
    for (uint32_t i = 0; i < L->map_cap; i++) {
        uint32_t s = L->map[i];
        if (!s || s == MAP_DELETED) continue;
        uint32_t j = id_hash(L->slots[s - 1]->id) & (cap - 1);
        while (m[j]) j = (j + 1) & (cap - 1);
        m[j] = s;
    }
    free(L->map);
    L->map = m;
    L->map_cap = cap;
    L->map_used = (uint32_t)L->count;
    return 0;
}

struct lease *kv__lease_get(const struct kv *kv, int64_t id)
{
    long j = map_find(&kv->leases, id);
    return j < 0 ? NULL : kv->leases.slots[kv->leases.map[j] - 1];
}

struct lease *kv__lease_slot(const struct kv *kv, uint32_t slot)
{
    assert(slot && slot <= kv->leases.nslots && kv->leases.slots[slot - 1]);
    return kv->leases.slots[slot - 1];
}

int kv__lease_new(struct kv *kv, int64_t id, int64_t ttl_ms, int64_t remaining_ms,
                  struct lease **out)
{
    struct kv__leases *L = &kv->leases;
    if ((L->map_used + 1) * 2 > L->map_cap && map_grow(L)) return CC_ENOMEM;
    struct lease *l = calloc(1, sizeof(*l));
    if (!l) return CC_ENOMEM;
    uint32_t slot;
    if (L->nfree) {
        slot = L->freelist[--L->nfree];
    } else {
        if (L->nslots == L->cap) {
            uint32_t cap = L->cap ? L->cap * 2 : 64;
            struct lease **s = realloc(L->slots, cap * sizeof(*s));
            uint32_t *f = s ? realloc(L->freelist, cap * sizeof(*f)) : NULL;
            if (s) L->slots = s;
            if (!s || !f) {
                free(l);
                return CC_ENOMEM;
            }
            L->freelist = f;
            L->cap = cap;
        }
        slot = ++L->nslots;
    }
    l->id = id;
    l->ttl_ms = ttl_ms;
    l->remaining_ms = remaining_ms;
    l->slot = slot;
    L->slots[slot - 1] = l;
    uint32_t j = id_hash(id) & (L->map_cap - 1);
    while (L->map[j] && L->map[j] != MAP_DELETED) j = (j + 1) & (L->map_cap - 1);
    if (!L->map[j]) L->map_used++;
    L->map[j] = slot;
    L->count++;
    /* A leader starts the clock of a new lease at its next expiry check (apply has no time). */
    if (L->primary) kv__lease_heap_push(L, 0, id);
    *out = l;
    return 0;
}

void kv__lease_del(struct kv *kv, struct lease *l)
{
    struct kv__leases *L = &kv->leases;
    long j = map_find(L, l->id);
    assert(j >= 0);
    L->map[j] = MAP_DELETED;
    L->slots[l->slot - 1] = NULL;
    L->freelist[L->nfree++] = l->slot;
    L->count--;
    keys_free(&l->keys);
    free(l);
}

void kv__lease_key(uint8_t out[8], int64_t id)
{
    put_u64be(out, (uint64_t)id ^ (1ull << 63));
}

static uint64_t zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzz(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

int kv__lease_persist(struct kv *kv, rocksdb_writebatch_t *wb, const struct lease *l)
{
    uint8_t k[8], v[20];
    struct buf b = {v, 0, sizeof(v), sizeof(v)};
    kv__lease_key(k, l->id);
    int rc = buf_put_uvarint(&b, zz(l->ttl_ms));
    if (!rc) rc = buf_put_uvarint(&b, zz(l->remaining_ms));
    if (!rc) rocksdb_writebatch_put_cf(wb, kv->cf[CF_LEASE], (const char *)k, 8, (char *)v, b.len);
    return rc;
}

int kv__leases_load(struct kv *kv, char *err, size_t errlen)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, kv->ropts, kv->cf[CF_LEASE]);
    int rc = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it) && !rc; rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        struct cursor c;
        cursor_init(&c, v, vl);
        int64_t ttl = unzz(cursor_uvarint(&c));
        int64_t rem = unzz(cursor_uvarint(&c));
        if (kl != 8 || c.err || c.left) {
            snprintf(err, errlen, "a lease record is corrupt");
            rc = CC_ECORRUPT;
            break;
        }
        struct lease *l;
        rc = kv__lease_new(kv, (int64_t)(get_u64be(k) ^ (1ull << 63)), ttl, rem, &l);
        if (rc) snprintf(err, errlen, "load leases: %s", cc_strerror(rc));
    }
    if (!rc) {
        char *rerr = NULL;
        rocksdb_iter_get_error(it, &rerr);
        if (rerr) {
            snprintf(err, errlen, "scan leases: %s", rerr);
            rocksdb_free(rerr);
            rc = CC_EIO;
        }
    }
    rocksdb_iter_destroy(it);
    return rc;
}

/* ---- replicated commands ---- */

static int grant(struct kv *kv, uint64_t index, const struct kv_lease_grant *g,
                 struct kv_result *res)
{
    int64_t id = g->id;
    if (id == 0) {
        /* Derived from the Raft index: the same on every member, positive, unused. */
        id = (int64_t)(hash64_final(index ^ 0x6c65617365ull) & INT64_MAX);
        if (!id) id = 1;
        while (kv__lease_get(kv, id)) id = id == INT64_MAX ? 1 : id + 1;
    }
    if (g->ttl_ms > KV_LEASE_TTL_MAX_MS) {
        res->err = CC_EINVAL;
        res->msg = KV_MSG_LEASE_TTL_TOO_LARGE;
        return 0;
    }
    if (kv__lease_get(kv, id)) {
        res->err = CC_EEXIST;
        res->msg = KV_MSG_LEASE_EXISTS;
        return 0;
    }
    int64_t ttl = g->ttl_ms;
    if (ttl < g->min_ttl_ms) ttl = g->min_ttl_ms;
    if (ttl < 1) ttl = 1;
    struct lease *l;
    int rc = kv__lease_new(kv, id, ttl, 0, &l);
    if (!rc) rc = kv__lease_persist(kv, kv->batch.wb, l);
    res->u.grant.id = id;
    res->u.grant.ttl_ms = ttl;
    return rc;
}

static int revoke(struct kv *kv, int64_t id, struct kv_result *res)
{
    struct lease *l = kv__lease_get(kv, id);
    if (!l) {
        res->err = CC_ELEASE;
        res->msg = KV_MSG_LEASE_NOT_FOUND;
        return 0;
    }
    size_t n = l->keys.n;
    uint8_t **keys = kv__lease_keys_sorted(&l->keys);
    uint8_t **copies = keys ? calloc(n ? n : 1, sizeof(*copies)) : NULL;
    int rc = copies ? 0 : CC_ENOMEM;
    /* Copy first: deleting a key detaches it, freeing the set's entry. */
    for (size_t i = 0; i < n && !rc; i++) {
        size_t len = 2 + kv__lease_key_len(keys[i]);
        copies[i] = malloc(len);
        if (!copies[i])
            rc = CC_ENOMEM;
        else
            memcpy(copies[i], keys[i], len);
    }
    struct wtx t = {kv->rev, 0};
    for (size_t i = 0; i < n && !rc; i++) {
        struct kv_bytes k = {copies[i] + 2, kv__lease_key_len(copies[i])};
        struct kv_bytes none = {NULL, 0};
        struct kv_delete_res dr = {0};
        rc = kv__wtx_delete(kv, &t, k, none, NULL, &dr, false);
    }
    kv__wtx_end(kv, &t);
    for (size_t i = 0; copies && i < n; i++) free(copies[i]);
    free(copies);
    free(keys);
    if (rc) return rc;
    uint8_t k[8];
    kv__lease_key(k, id);
    rocksdb_writebatch_delete_cf(kv->batch.wb, kv->cf[CF_LEASE], (const char *)k, 8);
    kv__lease_del(kv, l);
    return 0;
}

int kv__lease_cmd(struct kv *kv, uint64_t index, const struct kv_cmd *c, struct kv_result *res)
{
    switch (c->type) {
    case KV_CMD_LEASE_GRANT:
        return grant(kv, index, &c->u.grant, res);
    case KV_CMD_LEASE_REVOKE:
        return revoke(kv, c->u.revoke_id, res);
    case KV_CMD_LEASE_RENEW: {
        struct lease *l = kv__lease_get(kv, c->u.renew_id);
        if (!l) {
            res->err = CC_ELEASE;
            res->msg = KV_MSG_LEASE_NOT_FOUND;
            return 0;
        }
        res->u.grant.id = l->id;
        res->u.grant.ttl_ms = l->ttl_ms;
        if (!l->remaining_ms) return 0;
        l->remaining_ms = 0; /* renewed: a checkpointed remaining TTL no longer applies */
        return kv__lease_persist(kv, kv->batch.wb, l);
    }
    case KV_CMD_LEASE_CHECKPOINT:
        for (size_t i = 0; i < c->u.checkpoint.n; i++) {
            struct lease *l = kv__lease_get(kv, c->u.checkpoint.cps[i].id);
            if (!l) continue; /* etcd ignores checkpoints of leases that are gone */
            l->remaining_ms = c->u.checkpoint.cps[i].remaining_ms;
            int rc = kv__lease_persist(kv, kv->batch.wb, l);
            if (rc) return rc;
        }
        return 0;
    }
    return CC_EINVAL;
}
