/* wal_log.c — the in-memory log index and the batch rules shared by appends and replay. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/wal_internal.h"
#include "util/err.h"

void wal__log_init(struct wal_log *l, uint64_t max_entries)
{
    memset(l, 0, sizeof(*l));
    l->max_entries = max_entries;
}

void wal__log_free(struct wal_log *l)
{
    free(l->v);
    l->v = NULL;
    l->cap = l->n = l->head = 0;
}

static struct wal_pos *pos_at(const struct wal_log *l, uint64_t index)
{
    assert(index > l->hole_end && index <= wal__log_last(l));
    return &l->v[l->head + (size_t)(index - l->hole_end - 1)];
}

int wal__log_term(const struct wal_log *l, uint64_t index, uint64_t *term)
{
    if (index < l->snap_index) return CC_ECOMPACTED;
    if (index > wal__log_last(l)) return CC_ENOTFOUND;
    if (index == l->snap_index) {
        *term = l->snap_term;
        return 0;
    }
    if (index < l->hole_end || (index == l->hole_end && l->hole_term == 0)) return CC_EBUSY;
    *term = index == l->hole_end ? l->hole_term : pos_at(l, index)->term;
    return 0;
}

/* Whether a snapshot marker at (index, term) keeps the entries after it: the log holds that
 * entry (etcd-raft's compaction), as opposed to a snapshot that replaces the log. Inside the
 * hole the term is unknown; only compaction markers can land there (installs always move past
 * the last index or hit a known entry), so keeping is right. */
static int marker_keeps(const struct wal_log *l, uint64_t index, uint64_t term)
{
    uint64_t t;
    int rc = wal__log_term(l, index, &t);
    return (rc == 0 && t == term) || rc == CC_EBUSY;
}

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), CC_EINVAL)

int wal__log_check(const struct wal_log *l, const struct wal_batch *b, uint32_t max_entry_bytes,
                   char *why, size_t whylen)
{
    uint64_t snap_i = l->snap_index, snap_t = l->snap_term, last = wal__log_last(l);
    bool dropped_all = false;
    if (b->has_snap) {
        if (b->snap_index == 0 || b->snap_term == 0)
            return WHY("snapshot marker with index %llu term %llu",
                       (unsigned long long)b->snap_index, (unsigned long long)b->snap_term);
        if (b->snap_index < snap_i || b->snap_term < snap_t ||
            (b->snap_index == snap_i && b->snap_term != snap_t))
            return WHY("snapshot marker (%llu, %llu) is older than (%llu, %llu)",
                       (unsigned long long)b->snap_index, (unsigned long long)b->snap_term,
                       (unsigned long long)snap_i, (unsigned long long)snap_t);
        if (!marker_keeps(l, b->snap_index, b->snap_term)) {
            dropped_all = true;
            last = b->snap_index;
        }
        snap_i = b->snap_index;
        snap_t = b->snap_term;
    }
    if (b->n_entries > 0) {
        if (!b->entries) return WHY("n_entries %u with no entries", b->n_entries);
        uint64_t e0 = b->entries[0].index;
        if (e0 <= snap_i)
            return WHY("entry %llu is at or below the snapshot index %llu", (unsigned long long)e0,
                       (unsigned long long)snap_i);
        if (e0 > last + 1)
            return WHY("entry %llu leaves a gap after the last index %llu", (unsigned long long)e0,
                       (unsigned long long)last);
        if (e0 <= last && e0 <= l->hs.commit)
            return WHY("entry %llu would truncate committed entries (durable commit %llu)",
                       (unsigned long long)e0, (unsigned long long)l->hs.commit);
        uint64_t prev = 0;
        if (e0 - 1 == snap_i) {
            prev = snap_t;
        } else if (!dropped_all) {
            uint64_t t;
            if (wal__log_term(l, e0 - 1, &t) == 0) prev = t;
        }
        for (uint32_t i = 0; i < b->n_entries; i++) {
            const struct raft_entry *e = &b->entries[i];
            if (e->index != e0 + i)
                return WHY("entry %llu follows entry %llu", (unsigned long long)e->index,
                           (unsigned long long)(e0 + i - 1));
            if (e->term == 0 || e->term < prev)
                return WHY("entry %llu has term %llu after term %llu", (unsigned long long)e->index,
                           (unsigned long long)e->term, (unsigned long long)prev);
            if (e->type != RAFT_ENTRY_NORMAL && e->type != RAFT_ENTRY_NOOP &&
                e->type != RAFT_ENTRY_CONF)
                return WHY("entry %llu has type %u", (unsigned long long)e->index, e->type);
            if (e->len > max_entry_bytes) {
                snprintf(why, whylen, "entry %llu has %u bytes (limit %u)",
                         (unsigned long long)e->index, e->len, max_entry_bytes);
                return CC_ETOOBIG;
            }
            if ((e->len == 0) != (e->data == NULL))
                return WHY("entry %llu: len %u with data %s", (unsigned long long)e->index, e->len,
                           e->data ? "set" : "NULL");
            prev = e->term;
        }
    }
    if (b->hs) {
        if (b->hs->term < l->hs.term || b->hs->commit < l->hs.commit)
            return WHY("hard state (term %llu, commit %llu) goes back from (%llu, %llu)",
                       (unsigned long long)b->hs->term, (unsigned long long)b->hs->commit,
                       (unsigned long long)l->hs.term, (unsigned long long)l->hs.commit);
        /* One vote per term (Figure 2): a changed vote within a term would be a double vote. */
        if (b->hs->term == l->hs.term && l->hs.vote != RAFT_NONE && b->hs->vote != l->hs.vote)
            return WHY("vote changes from %llx to %llx within term %llu",
                       (unsigned long long)l->hs.vote, (unsigned long long)b->hs->vote,
                       (unsigned long long)l->hs.term);
    }
    return 0;
}

int wal__log_reserve(struct wal_log *l, const struct wal_batch *b)
{
    size_t add = b->n_entries;
    if ((uint64_t)l->n + add > l->max_entries) return CC_ETOOBIG;
    if (l->head + l->n + add <= l->cap) return 0;
    if (l->head > 0) {
        memmove(l->v, l->v + l->head, l->n * sizeof(*l->v));
        l->head = 0;
        if (l->n + add <= l->cap) return 0;
    }
    size_t cap = l->cap ? l->cap : 1024;
    while (cap < l->n + add) cap *= 2;
    if (cap > l->max_entries) cap = (size_t)l->max_entries;
    struct wal_pos *v = realloc(l->v, cap * sizeof(*v));
    if (!v) return CC_ENOMEM;
    l->v = v;
    l->cap = cap;
    return 0;
}

void wal__log_apply(struct wal_log *l, const struct wal_batch *b, uint32_t seq,
                    const uint32_t *offs)
{
    if (b->has_snap) {
        uint64_t idx = b->snap_index;
        if (marker_keeps(l, idx, b->snap_term)) {
            if (idx > l->hole_end) {
                size_t k = (size_t)(idx - l->hole_end);
                l->head += k;
                l->n -= k;
                l->hole_end = idx;
                l->hole_term = b->snap_term;
            }
        } else {
            l->n = 0;
            l->hole_end = idx;
            l->hole_term = b->snap_term;
        }
        l->snap_index = idx;
        l->snap_term = b->snap_term;
        if (l->n == 0) l->head = 0;
    }
    if (b->n_entries > 0) {
        uint64_t e0 = b->entries[0].index;
        if (e0 <= l->hole_end) {
            /* Truncation reaching into the unindexed stretch (replay only). */
            l->n = 0;
            l->head = 0;
            l->hole_end = e0 - 1;
            l->hole_term = l->hole_end == l->snap_index ? l->snap_term : 0;
        } else {
            l->n = (size_t)(e0 - l->hole_end - 1);
        }
        assert(l->head + l->n + b->n_entries <= l->cap);
        for (uint32_t i = 0; i < b->n_entries; i++) {
            struct wal_pos *p = &l->v[l->head + l->n++];
            p->term = b->entries[i].term;
            p->seq = seq;
            p->off = offs[i];
            p->len = b->entries[i].len;
        }
    }
    if (b->hs) l->hs = *b->hs;
}
