/* raft_log.h — the in-memory Raft log: entries after the compaction point, in one array. */
#ifndef CONCUR_RAFT_RAFT_LOG_H
#define CONCUR_RAFT_RAFT_LOG_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct raft_slab;

/* Entries offset+1 .. offset+n live in ents[head .. head+n). Keeping them contiguous (a deque
 * that slides forward on compaction, not a ring) lets updates and APPEND messages point straight
 * into the array: no copies on the hot path. Entry payloads are carved from reference-counted
 * slabs (raft_log__alloc), one allocation per many entries; a slab is freed with its last
 * entry. */
struct raft_log {
    struct raft_entry *ents;
    size_t head;
    size_t n;
    size_t cap;
    uint64_t offset;        /* index of the entry before the first one held (compaction point) */
    uint64_t offset_term;   /* its term (0 when offset is 0) */
    uint64_t bytes;         /* payload bytes held */
    struct raft_slab *slab; /* the slab new payloads are carved from */
    struct raft_slab *spare[8]; /* emptied standard slabs kept for reuse (no malloc churn) */
    uint32_t n_spare;
};

void raft_log__init(struct raft_log *l, uint64_t offset, uint64_t offset_term);
void raft_log__free(struct raft_log *l);

static inline uint64_t raft_log__last(const struct raft_log *l)
{
    return l->offset + l->n;
}

/* The entry at index; offset < index <= last. */
static inline struct raft_entry *raft_log__at(const struct raft_log *l, uint64_t index)
{
    assert(index > l->offset && index <= l->offset + l->n);
    return &l->ents[l->head + (size_t)(index - l->offset - 1)];
}

/* Term at index: 0 and *term set, CC_ECOMPACTED (index < offset) or CC_ENOTFOUND (> last). */
int raft_log__term(const struct raft_log *l, uint64_t index, uint64_t *term);

/* Term at index, or 0 when it is not known (compacted or beyond the end). */
uint64_t raft_log__term_or0(const struct raft_log *l, uint64_t index);

static inline uint64_t raft_log__last_term(const struct raft_log *l)
{
    return l->n ? raft_log__at(l, raft_log__last(l))->term : l->offset_term;
}

/* Makes room for k more entries so that k raft_log__push calls cannot fail.
 * Returns 0 or CC_ENOMEM (nothing changed). */
int raft_log__reserve(struct raft_log *l, size_t k);

/* Payload space for one entry (len > 0), or NULL on CC_ENOMEM. It belongs to the log: pass it
 * to raft_log__push, or give it back with raft_log__free_data. */
uint8_t *raft_log__alloc(struct raft_log *l, uint32_t len);
void raft_log__free_data(struct raft_log *l, uint8_t *data);

/* Appends e (index must be last+1) after raft_log__reserve; takes ownership of e->data, which
 * must come from raft_log__alloc. */
void raft_log__push(struct raft_log *l, const struct raft_entry *e);

/* Drops every entry with index >= from (offset < from). */
void raft_log__truncate(struct raft_log *l, uint64_t from);

/* Drops every entry with index <= upto (offset <= upto <= last); upto becomes the offset. */
void raft_log__compact(struct raft_log *l, uint64_t upto);

/* Drops everything; the log restarts after (offset, term) — a snapshot was installed. */
void raft_log__reset(struct raft_log *l, uint64_t offset, uint64_t term);

/* Smallest index in [lo, hi] whose term equals the term at hi (terms never decrease along a
 * log, so this is a binary search). offset < lo <= hi <= last. */
uint64_t raft_log__first_of_term(const struct raft_log *l, uint64_t lo, uint64_t hi);

/* Largest index held (or the offset) whose term is t; 0 when the log holds no entry of term t.
 * Binary search. */
uint64_t raft_log__last_of_term(const struct raft_log *l, uint64_t t);

#endif
