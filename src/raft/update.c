/* update.c — collecting what the caller must do into a struct raft_update (see raft.h). */
#include <string.h>

#include "raft/raft_int.h"

static struct raft_hard_state hard_state(const struct raft *r)
{
    struct raft_hard_state hs = {.term = r->term, .vote = r->vote, .commit = r->commit};
#if RAFT_FAULT == 4
    hs.vote = RAFT_NONE; /* planted bug: the vote never reaches the disk */
#endif
    return hs;
}

static bool hs_equal(const struct raft_hard_state *a, const struct raft_hard_state *b)
{
    return a->term == b->term && a->vote == b->vote && a->commit == b->commit;
}

static bool soft_changed(const struct raft *r)
{
    return r->role != r->prev_role || r->lead != r->prev_lead || r->term != r->prev_term;
}

/* Committed entries may be handed out up to here: never beyond what is durable locally. */
static uint64_t apply_bound(const struct raft *r)
{
    uint64_t hi = r->commit < r->persisted ? r->commit : r->persisted;
    uint64_t last = raft__last_index(r);
    return hi < last ? hi : last;
}

bool raft_has_update(const struct raft *r)
{
    assert(r);
    struct raft_hard_state hs = hard_state(r);
    return soft_changed(r) || !hs_equal(&hs, &r->prev_hs) || !raft_out__empty(&r->out) ||
           r->unstable <= raft__last_index(r) || r->applied < apply_bound(r) ||
           (r->await_vote && !r->await_pushed) || raft__flush_pending(r);
}

bool raft_get_update(struct raft *r, struct raft_update *u)
{
    assert(r && u);
    raft_out__prepare(&r->out);
    raft__flush(r); /* APPENDs, snapshot chunks and read rounds for everything queued so far */
    memset(u, 0, sizeof(*u));

    u->role = r->role;
    u->leader = r->lead;
    u->term = r->term;
    if (soft_changed(r)) {
        u->soft_changed = true;
        r->prev_role = r->role;
        r->prev_lead = r->lead;
        r->prev_term = r->term;
    }
    u->hs = hard_state(r);
    if (!hs_equal(&u->hs, &r->prev_hs)) {
        u->hs_changed = true;
        r->prev_hs = u->hs;
    }

    struct raft_out *o = &r->out;
    u->n_snap_chunks = o->n_chunks;
    u->snap_chunks = o->n_chunks ? o->chunks : NULL;
    u->snapshot_ready = o->snap_ready;
    if (o->snap_ready) {
        u->snapshot = o->snap;
        u->snapshot_size = o->snap_size;
    }

    uint64_t last = raft__last_index(r);
    if (r->unstable <= last) {
        uint64_t n = last - r->unstable + 1;
        if (n > RAFT_MAX_UPDATE_ENTRIES) n = RAFT_MAX_UPDATE_ENTRIES;
        u->entries = raft_log__at(&r->log, r->unstable);
        u->n_entries = (uint32_t)n;
        r->unstable += n;
        u->persist_report = true;
        u->persist_index = u->entries[n - 1].index;
        u->persist_term = u->entries[n - 1].term;
    } else if (o->snap_ready) {
        u->persist_report = true;
        u->persist_index = o->snap.index;
        u->persist_term = o->snap.term;
    }
    uint64_t vote_term = 0;
    if (r->await_vote && !r->await_pushed) {
        /* This update carries our own vote; its report makes a single voter leader. The
         * candidate's new term is above every entry's, so the pair names this batch alone. */
        vote_term = r->term;
        r->await_pushed = true;
        if (!u->persist_report) {
            u->persist_report = true;
            u->persist_index = last;
            u->persist_term = r->term;
        }
    }
    if (u->persist_report)
        raft__pbatch_push(r, u->persist_index, u->persist_term, o->snap_ready, vote_term);

    u->n_msgs = o->n_msgs;
    u->msgs = o->n_msgs ? o->msgs : NULL;
    u->n_msgs_after_persist = o->n_after;
    u->msgs_after_persist = o->n_after ? o->after : NULL;

    uint64_t hi = apply_bound(r);
    if (r->applied < hi) {
        uint64_t lo = r->applied + 1, bytes = 0;
        uint32_t k = 0;
        while (lo + k <= hi && k < UINT32_MAX) {
            uint32_t len = raft_log__at(&r->log, lo + k)->len;
            if (k > 0 && bytes + len > r->o.max_apply_bytes) break;
            bytes += len;
            k++;
        }
        u->committed = raft_log__at(&r->log, lo);
        u->n_committed = k;
        r->applied += k;
    }

    u->n_reads = o->n_reads;
    u->reads = o->n_reads ? o->reads : NULL;

    o->handed = true;
    return u->soft_changed || u->hs_changed || u->n_snap_chunks || u->snapshot_ready ||
           u->n_entries || u->n_msgs || u->n_msgs_after_persist || u->n_committed || u->n_reads ||
           u->persist_report;
}
