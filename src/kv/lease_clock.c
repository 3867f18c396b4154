/* lease_clock.c — leases, the leader-local part: deadlines in a lazily invalidated min-heap,
 * promote/demote, keep-alive, expiry, time-to-live, listing and checkpoint collection. Never
 * part of apply: times are the member's monotonic milliseconds. */
#include <assert.h>
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"

#define EXPIRE_HOLD_MS 1000 /* an expired lease is reported again after this */

int kv__lease_heap_push(struct kv__leases *L, uint64_t when, int64_t id)
{
    if (L->heap_n == L->heap_cap) {
        size_t cap = L->heap_cap ? L->heap_cap * 2 : 64;
        void *h = realloc(L->heap, cap * sizeof(*L->heap));
        if (!h) return CC_ENOMEM;
        L->heap = h;
        L->heap_cap = cap;
    }
    size_t i = L->heap_n++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (L->heap[p].deadline <= when) break;
        L->heap[i] = L->heap[p];
        i = p;
    }
    L->heap[i].deadline = when;
    L->heap[i].id = id;
    return 0;
}

static void heap_pop(struct kv__leases *L)
{
    assert(L->heap_n);
    struct lease_due last = L->heap[--L->heap_n];
    size_t i = 0, n = L->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && L->heap[c + 1].deadline < L->heap[c].deadline) c++;
        if (last.deadline <= L->heap[c].deadline) break;
        L->heap[i] = L->heap[c];
        i = c;
    }
    if (n) L->heap[i] = last;
}

static void start_clock(struct kv__leases *L, struct lease *l, uint64_t now)
{
    int64_t left = l->remaining_ms > 0 ? l->remaining_ms : l->ttl_ms;
    l->deadline_ms = now + (uint64_t)(left > 0 ? left : 0);
    if (!l->deadline_ms) l->deadline_ms = 1; /* 0 means "not started" */
    l->hold_ms = 0;
    kv__lease_heap_push(L, l->deadline_ms, l->id);
}

static void heap_rebuild(struct kv *kv)
{
    struct kv__leases *L = &kv->leases;
    L->heap_n = 0;
    for (uint32_t i = 0; i < L->nslots; i++) {
        struct lease *l = L->slots[i];
        if (l)
            kv__lease_heap_push(L, l->deadline_ms ? (l->hold_ms ? l->hold_ms : l->deadline_ms) : 0,
                                l->id);
    }
}

void kv_lease_promote(struct kv *kv, uint64_t now_ms)
{
    struct kv__leases *L = &kv->leases;
    L->primary = true;
    L->heap_n = 0;
    for (uint32_t i = 0; i < L->nslots; i++)
        if (L->slots[i]) start_clock(L, L->slots[i], now_ms);
}

void kv__leases_restart(struct kv *kv)
{
    struct kv__leases *L = &kv->leases;
    L->primary = true;
    L->heap_n = 0;
    for (uint32_t i = 0; i < L->nslots; i++) {
        struct lease *l = L->slots[i];
        if (!l) continue;
        l->deadline_ms = l->hold_ms = 0;
        kv__lease_heap_push(L, 0, l->id);
    }
}

void kv_lease_demote(struct kv *kv)
{
    struct kv__leases *L = &kv->leases;
    L->primary = false;
    L->heap_n = 0;
    for (uint32_t i = 0; i < L->nslots; i++)
        if (L->slots[i]) L->slots[i]->deadline_ms = L->slots[i]->hold_ms = 0;
}

static void ensure_clock(struct kv *kv, struct lease *l, uint64_t now)
{
    if (kv->leases.primary && !l->deadline_ms) start_clock(&kv->leases, l, now);
}

int kv_lease_renew(struct kv *kv, int64_t id, uint64_t now_ms, int64_t *ttl_ms, bool *needs_cp)
{
    if (!kv->leases.primary) return CC_ENOTLEADER;
    struct lease *l = kv__lease_get(kv, id);
    if (!l) return CC_ELEASE;
    ensure_clock(kv, l, now_ms);
    if (l->deadline_ms <= now_ms) return CC_ELEASE; /* expired, its revoke is on the way */
    if (needs_cp) *needs_cp = l->remaining_ms > 0;
    l->deadline_ms = now_ms + (uint64_t)l->ttl_ms;
    l->hold_ms = 0;
    kv__lease_heap_push(&kv->leases, l->deadline_ms, id);
    if (ttl_ms) *ttl_ms = l->ttl_ms;
    return 0;
}

size_t kv_lease_expired(struct kv *kv, uint64_t now_ms, int64_t *ids, size_t max)
{
    struct kv__leases *L = &kv->leases;
    if (!L->primary) return 0;
    if (L->heap_n > 2 * L->count + 64) heap_rebuild(kv);
    size_t n = 0;
    while (L->heap_n && L->heap[0].deadline <= now_ms && n < max) {
        uint64_t when = L->heap[0].deadline;
        int64_t id = L->heap[0].id;
        heap_pop(L);
        struct lease *l = kv__lease_get(kv, id);
        if (!l) continue;
        if (!l->deadline_ms) { /* granted while leader: start its clock now */
            start_clock(L, l, now_ms);
            continue;
        }
        uint64_t due = l->hold_ms ? l->hold_ms : l->deadline_ms;
        if (when != due) continue; /* superseded by a renewal or a later hold */
        ids[n++] = id;
        l->hold_ms = now_ms + EXPIRE_HOLD_MS;
        kv__lease_heap_push(L, l->hold_ms, id);
    }
    return n;
}

int kv_lease_ttl(struct kv *kv, int64_t id, uint64_t now_ms, struct kv_arena *keys_arena,
                 struct kv_lease_info *info)
{
    memset(info, 0, sizeof(*info));
    struct lease *l = kv__lease_get(kv, id);
    if (!l) return CC_ELEASE;
    ensure_clock(kv, l, now_ms);
    info->id = id;
    info->ttl_ms = l->ttl_ms;
    if (kv->leases.primary)
        info->remaining_ms = l->deadline_ms > now_ms ? (int64_t)(l->deadline_ms - now_ms) : 0;
    else
        info->remaining_ms = l->remaining_ms > 0 ? l->remaining_ms : l->ttl_ms;
    info->n_keys = l->keys.n;
    if (!keys_arena || !l->keys.n) return 0;
    uint8_t **v = kv__lease_keys_sorted(&l->keys);
    info->keys = v ? kv_arena_alloc(keys_arena, l->keys.n * sizeof(*info->keys)) : NULL;
    int rc = info->keys ? 0 : CC_ENOMEM;
    for (size_t i = 0; i < l->keys.n && !rc; i++) {
        info->keys[i].len = kv__lease_key_len(v[i]);
        info->keys[i].p = kv_arena_dup(keys_arena, v[i] + 2, info->keys[i].len);
        if (!info->keys[i].p) rc = CC_ENOMEM;
    }
    free(v);
    return rc;
}

/* Visits existing lease ids > after in ascending order (the lease CF is sorted). */
static size_t ids_after(const struct kv *kv, int64_t after, int64_t *ids, size_t max)
{
    if (after == INT64_MAX || !max) return 0;
    uint8_t k[8];
    kv__lease_key(k, after + 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, kv->ropts, kv->cf[CF_LEASE]);
    size_t n = 0;
    for (rocksdb_iter_seek(it, (const char *)k, 8); rocksdb_iter_valid(it) && n < max;
         rocksdb_iter_next(it)) {
        size_t kl;
        const uint8_t *key = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl == 8) ids[n++] = (int64_t)(get_u64be(key) ^ (1ull << 63));
    }
    rocksdb_iter_destroy(it);
    return n;
}

size_t kv_lease_list(const struct kv *kv, int64_t after, int64_t *ids, size_t max)
{
    return ids_after(kv, after, ids, max);
}

size_t kv_lease_checkpoints(struct kv *kv, uint64_t now_ms, int64_t after, struct kv_lease_cp *out,
                            size_t max)
{
    if (!kv->leases.primary || !max) return 0;
    int64_t *ids = malloc(max * sizeof(*ids));
    if (!ids) return 0;
    size_t n = ids_after(kv, after, ids, max), m = 0;
    for (size_t i = 0; i < n; i++) {
        struct lease *l = kv__lease_get(kv, ids[i]);
        if (!l) continue;
        ensure_clock(kv, l, now_ms);
        out[m].id = ids[i];
        out[m].remaining_ms = l->deadline_ms > now_ms ? (int64_t)(l->deadline_ms - now_ms) : 0;
        m++;
    }
    free(ids);
    return m;
}
