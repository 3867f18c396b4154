/* raft_log.c — the in-memory Raft log: a contiguous array indexed by (index - offset). */
#include "raft/raft_log.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define LOG_MIN_CAP    64
#define LOG_SHRINK_CAP 4096
#define SLAB_BYTES     32768u /* also the slabs' alignment */

/* A slab: payloads are carved from data[] in order. Slabs are SLAB_BYTES-aligned and every
 * payload starts within the first SLAB_BYTES of its slab, so masking a payload's address finds
 * its slab without touching the payload (compaction frees cold entries: no cache misses).
 * Payloads up to a quarter slab share standard slabs (at most a quarter is left unused at a
 * slab's end); larger ones get a block of their own, rounded up to SLAB_BYTES.
 * refs counts live payloads, plus one while it is the log's current slab. */
struct raft_slab {
    uint32_t refs;
    uint32_t cap;
    uint32_t used;
    _Alignas(16) uint8_t data[];
};

#define SLAB_STD_CAP (SLAB_BYTES - sizeof(struct raft_slab))

static void slab_unref(struct raft_log *l, struct raft_slab *s)
{
    assert(s->refs > 0);
    if (--s->refs) return;
    if (s->cap == SLAB_STD_CAP && l->n_spare < sizeof(l->spare) / sizeof(l->spare[0]))
        l->spare[l->n_spare++] = s;
    else
        free(s);
}

static struct raft_slab *slab_new(struct raft_log *l, size_t cap)
{
    struct raft_slab *s;
    if (cap == SLAB_STD_CAP && l->n_spare) {
        s = l->spare[--l->n_spare];
    } else {
        size_t total = sizeof(struct raft_slab) + cap;
        total = (total + SLAB_BYTES - 1) & ~(size_t)(SLAB_BYTES - 1);
        if (total - sizeof(*s) > UINT32_MAX) return NULL;
        if (!(s = aligned_alloc(SLAB_BYTES, total))) return NULL;
        s->cap = (uint32_t)(total - sizeof(*s));
    }
    s->refs = 0;
    s->used = 0;
    return s;
}

uint8_t *raft_log__alloc(struct raft_log *l, uint32_t len)
{
    assert(len > 0);
    size_t need = ((size_t)len + 15) & ~(size_t)15;
    struct raft_slab *s = l->slab;
    if (!s || s->cap - s->used < need) {
        bool dedicated = need > SLAB_BYTES / 4;
        struct raft_slab *n = slab_new(l, dedicated ? need : SLAB_STD_CAP);
        if (!n) return NULL;
        if (dedicated) {
            s = n;
        } else {
            if (l->slab) slab_unref(l, l->slab);
            n->refs = 1;
            s = l->slab = n;
        }
    }
    uint8_t *p = s->data + s->used;
    s->used += (uint32_t)need;
    s->refs++;
    return p;
}

void raft_log__free_data(struct raft_log *l, uint8_t *data)
{
    if (!data) return;
    slab_unref(l, (struct raft_slab *)((uintptr_t)data & ~(uintptr_t)(SLAB_BYTES - 1)));
}

void raft_log__init(struct raft_log *l, uint64_t offset, uint64_t offset_term)
{
    memset(l, 0, sizeof(*l));
    l->offset = offset;
    l->offset_term = offset_term;
}

static void free_range(struct raft_log *l, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        l->bytes -= l->ents[i].len;
        raft_log__free_data(l, l->ents[i].data);
    }
}

void raft_log__free(struct raft_log *l)
{
    free_range(l, l->head, l->head + l->n);
    free(l->ents);
    if (l->slab) slab_unref(l, l->slab);
    for (uint32_t i = 0; i < l->n_spare; i++) free(l->spare[i]);
    memset(l, 0, sizeof(*l));
}

int raft_log__term(const struct raft_log *l, uint64_t index, uint64_t *term)
{
    if (index < l->offset) {
        *term = 0;
        return CC_ECOMPACTED;
    }
    if (index > raft_log__last(l)) {
        *term = 0;
        return CC_ENOTFOUND;
    }
    *term = index == l->offset ? l->offset_term : raft_log__at(l, index)->term;
    return 0;
}

uint64_t raft_log__term_or0(const struct raft_log *l, uint64_t index)
{
    uint64_t t;
    raft_log__term(l, index, &t);
    return t;
}

/* Slides the live entries to the front of the array. */
static void slide_to_front(struct raft_log *l)
{
    if (l->head == 0) return;
    memmove(l->ents, l->ents + l->head, l->n * sizeof(*l->ents));
    l->head = 0;
}

int raft_log__reserve(struct raft_log *l, size_t k)
{
    if (l->head + l->n + k <= l->cap) return 0;
    size_t need = l->n + k;
    if (need < k) return CC_ENOMEM;
    /* Sliding is O(n); doing it only when it frees at least half the array keeps appends
     * amortized O(1). */
    if (need <= l->cap / 2) {
        slide_to_front(l);
        return 0;
    }
    size_t cap = l->cap ? l->cap : LOG_MIN_CAP;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / sizeof(*l->ents)) return CC_ENOMEM;
        cap *= 2;
    }
    slide_to_front(l);
    struct raft_entry *e = realloc(l->ents, cap * sizeof(*e));
    if (!e) return CC_ENOMEM;
    l->ents = e;
    l->cap = cap;
    return 0;
}

void raft_log__push(struct raft_log *l, const struct raft_entry *e)
{
    assert(l->head + l->n < l->cap);
    assert(e->index == raft_log__last(l) + 1);
    assert(e->term >= raft_log__last_term(l));
    assert((e->len == 0) == (e->data == NULL));
    l->ents[l->head + l->n] = *e;
    l->n++;
    l->bytes += e->len;
}

/* Gives memory back after a large log shrank (a burst was compacted away). */
static void maybe_shrink(struct raft_log *l)
{
    if (l->cap <= LOG_SHRINK_CAP || l->n * 8 >= l->cap) return;
    size_t cap = l->n * 2 > LOG_SHRINK_CAP ? l->n * 2 : LOG_SHRINK_CAP;
    slide_to_front(l);
    struct raft_entry *e = realloc(l->ents, cap * sizeof(*e));
    if (!e) return; /* keeping the larger array is fine */
    l->ents = e;
    l->cap = cap;
}

void raft_log__truncate(struct raft_log *l, uint64_t from)
{
    assert(from > l->offset);
    if (from > raft_log__last(l)) return;
    size_t keep = (size_t)(from - l->offset - 1);
    free_range(l, l->head + keep, l->head + l->n);
    l->n = keep;
    if (l->n == 0) l->head = 0;
}

void raft_log__compact(struct raft_log *l, uint64_t upto)
{
    assert(upto >= l->offset && upto <= raft_log__last(l));
    if (upto == l->offset) return;
    uint64_t t = raft_log__at(l, upto)->term;
    size_t drop = (size_t)(upto - l->offset);
    free_range(l, l->head, l->head + drop);
    l->head += drop;
    l->n -= drop;
    if (l->n == 0) l->head = 0;
    l->offset = upto;
    l->offset_term = t;
    maybe_shrink(l);
}

void raft_log__reset(struct raft_log *l, uint64_t offset, uint64_t term)
{
    free_range(l, l->head, l->head + l->n);
    l->head = 0;
    l->n = 0;
    l->offset = offset;
    l->offset_term = term;
    maybe_shrink(l);
}

uint64_t raft_log__first_of_term(const struct raft_log *l, uint64_t lo, uint64_t hi)
{
    assert(lo > l->offset && lo <= hi && hi <= raft_log__last(l));
    uint64_t t = raft_log__at(l, hi)->term;
    /* Invariant: term(hi) == t; find the smallest such index in [lo, hi]. */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (raft_log__at(l, mid)->term < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t raft_log__last_of_term(const struct raft_log *l, uint64_t t)
{
    uint64_t lo = l->offset + 1, hi = raft_log__last(l);
    /* Find the largest index with term <= t. */
    if (l->n == 0 || raft_log__at(l, lo)->term > t) return l->offset_term == t ? l->offset : 0;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (raft_log__at(l, mid)->term <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return raft_log__at(l, lo)->term == t ? lo : 0;
}
