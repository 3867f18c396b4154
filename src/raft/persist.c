/* persist.c — tracking which part of the log the caller has made durable (§10.2.1). */
#include <stdlib.h>
#include <string.h>

#include "raft/raft_int.h"
#include "util/err.h"

/*
 * Every update that hands out entries (or a snapshot) is one batch the caller makes durable,
 * in order, and reports with raft_persisted(index, term) of its last entry. A batch's
 * durability proves the log durable up to its last entry only if nothing below that entry was
 * replaced after the batch was handed out: when a truncation (or snapshot install) replaces
 * entries from index i on, every batch still outstanding gets cap = i - 1, and a report for
 * such a batch raises `persisted` at most to its cap. Without the cap a late report could name
 * an (index, term) that exists again in the log after being truncated and re-appended, while
 * the disk holds something else at that point.
 */

void raft__pbatch_push(struct raft *r, uint64_t index, uint64_t term, bool snap, uint64_t vote_term)
{
    struct raft_pbatch b = {
        .index = index, .term = term, .cap = UINT64_MAX, .snap = snap, .vote_term = vote_term};
    if (r->pb_n == r->pb_cap) {
        uint32_t cap = r->pb_cap ? r->pb_cap * 2 : 16;
        struct raft_pbatch *v = NULL;
        if (cap <= RAFT_MAX_PBATCHES) v = realloc(r->pb, cap * sizeof(*v));
        if (!v) {
            /* Full (the caller persists slowly) or out of memory: merge into the newest batch.
             * Reports of the merged-away batch will not match and are ignored; the merged
             * batch's report covers both. Safe, merely later. */
            assert(r->pb_n > 0);
            struct raft_pbatch *last = &r->pb[r->pb_n - 1];
            uint64_t cap_min = last->cap;
            bool had_snap = last->snap;
            uint64_t had_vote = last->vote_term;
            *last = b;
            last->cap = cap_min;
            last->snap |= had_snap;
            if (had_vote > last->vote_term) last->vote_term = had_vote;
            return;
        }
        r->pb = v;
        r->pb_cap = cap;
    }
    r->pb[r->pb_n++] = b;
}

void raft__pbatch_cap(struct raft *r, uint64_t cap)
{
    for (uint32_t i = 0; i < r->pb_n; i++)
        if (r->pb[i].cap > cap) r->pb[i].cap = cap;
}

void raft_persisted(struct raft *r, uint64_t index, uint64_t term)
{
    assert(r);
    raft_out__prepare(&r->out);
    uint32_t i = 0;
    while (i < r->pb_n && !(r->pb[i].index == index && r->pb[i].term == term)) i++;
    if (i == r->pb_n) return; /* unknown or already reported */
    uint64_t durable = index < r->pb[i].cap ? index : r->pb[i].cap;
    bool vote_durable = false;
    for (uint32_t k = 0; k <= i; k++) {
        r->snap_durable |= r->pb[k].snap;
        vote_durable |= r->pb[k].vote_term == r->term;
    }
    /* Batches become durable in order: this report covers every earlier one too. */
    memmove(r->pb, r->pb + i + 1, (r->pb_n - i - 1) * sizeof(*r->pb));
    r->pb_n -= i + 1;
    uint64_t last = raft__last_index(r);
    if (durable > last) durable = last;
    bool advanced = durable > r->persisted;
    if (advanced) r->persisted = durable;
    if (vote_durable && r->await_vote && r->role == RAFT_CANDIDATE) raft__become_leader(r);
    /* §10.2.1: the leader counts itself toward a quorum only once its own write is durable. */
    if (advanced) raft__maybe_commit(r);
}
