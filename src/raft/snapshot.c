/* snapshot.c — log compaction and InstallSnapshot in bounded chunks (§5). */
#include <string.h>

#include "raft/raft_int.h"
#include "util/err.h"

int raft_snapshot_meta_at(const struct raft *r, uint64_t index, struct raft_snapshot_meta *out)
{
    assert(r && out);
    if (index == 0 || index > r->applied || index < r->log.offset) return CC_EINVAL;
    const struct raft_config *cfg = raft__config_at(r, index);
    /* A member that joined empty learns configurations from CONF entries only: before its
     * first one it cannot describe a snapshot (it will be able to further on). */
    if (cfg->n_voters == 0) return CC_EINVAL;
    memset(out, 0, sizeof(*out));
    out->index = index;
    out->term = raft_log__term_or0(&r->log, index);
    out->config = *cfg;
    return 0;
}

static void restart_transfers(struct raft *r)
{
    if (r->role != RAFT_LEADER) return;
    for (uint32_t i = 0; i < r->n_prs; i++) {
        struct progress *p = &r->prs[i];
        if (p->state == RAFT_PROGRESS_SNAPSHOT && p->snap_index != r->snap.index)
            progress__become_snapshot(p, r->snap.index);
    }
}

int raft_snapshot_taken(struct raft *r, const struct raft_snapshot_meta *meta, uint64_t size)
{
    assert(r && meta);
    raft_out__prepare(&r->out);
    uint64_t t;
    if (meta->index == 0 || meta->index > r->applied || meta->index < r->snap.index)
        return CC_EINVAL;
    if (raft_log__term(&r->log, meta->index, &t) || t != meta->term) return CC_EINVAL;
    if (raft__config_check(&meta->config, false) ||
        !raft_config_equal(&meta->config, raft__config_at(r, meta->index)))
        return CC_EINVAL;
    r->snap = *meta;
    r->snap_size = size;
    r->snap_durable = true;
    /* Outgoing chunks always name the latest snapshot, so the caller need keep only that one:
     * transfers of an older snapshot start over with this one. */
    restart_transfers(r);
    return 0;
}

int raft_compact(struct raft *r, uint64_t index)
{
    assert(r);
    raft_out__prepare(&r->out);
    if (index > r->snap.index || index > r->applied || index < r->log.offset) return CC_EINVAL;
    if (index == r->log.offset) return 0;
    raft__conf_compacted(r, index);
    raft_log__compact(&r->log, index);
    return 0;
}

void raft_report_unreachable(struct raft *r, raft_id id)
{
    assert(r);
    raft_out__prepare(&r->out);
    struct progress *p = r->role == RAFT_LEADER ? raft__progress(r, id) : NULL;
    if (!p || p->state != RAFT_PROGRESS_REPLICATE) return;
    /* Whatever was in flight is likely lost: probe from the last known match, and wait for a
     * heartbeat reply before probing so an unreachable peer costs one message per round. */
    p->next = p->match + 1;
    progress__become_probe(p);
    p->probe_sent = true;
}

/* Resends from the last acknowledged offset, in a new round: replies to the chunks sent so far
 * no longer count (step_snapshot_resp). */
static void rewind(struct raft *r, struct progress *p)
{
    p->snap_round = ++r->snap_rounds;
    p->snap_sent = p->snap_acked;
    p->snap_out = 0;
    p->snap_idle = 0;
    p->snap_all_sent = false;
    p->snap_rewind = false;
    p->snap_rewound_tick = r->ticks;
}

/* Rewinds asked for by replies happen at most once per tick: under reordering and duplication
 * each resent window draws more out-of-order rejections, and rewinding on every one of them
 * would multiply the traffic without bound. */
static bool rewind_due(const struct raft *r, const struct progress *p)
{
    return p->snap_rewind && p->snap_rewound_tick != r->ticks;
}

void raft_report_snapshot_failed(struct raft *r, raft_id id)
{
    assert(r);
    raft_out__prepare(&r->out);
    struct progress *p = r->role == RAFT_LEADER ? raft__progress(r, id) : NULL;
    if (!p || p->state != RAFT_PROGRESS_SNAPSHOT) return;
    /* Resume from what the follower acknowledged as written (it corrects us if it lost that),
     * after the next heartbeat reply shows it is reachable again. */
    rewind(r, p);
    p->snap_paused = true;
}

/* --- leader: streaming ---------------------------------------------------------------------- */

void raft__send_snapshot(struct raft *r, struct progress *p)
{
    assert(p->snap_index == r->snap.index);
    if (rewind_due(r, p)) rewind(r, p);
    if (p->snap_round == 0) p->snap_round = ++r->snap_rounds; /* a new transfer */
    while (r->snap_durable && !p->snap_paused && !p->snap_all_sent &&
           p->snap_out < RAFT_SNAP_WINDOW) {
        uint64_t off = p->snap_sent, left = r->snap_size - off;
        uint32_t len = left < r->o.snap_chunk_bytes ? (uint32_t)left : r->o.snap_chunk_bytes;
        struct raft_msg *m = raft__send(r, RAFT_MSG_SNAPSHOT, p->id, false);
        if (m) {
            m->snap = r->snap;
            m->snap_size = r->snap_size;
            m->offset = off;
            m->len = len; /* data attached by the caller */
            m->done = off + len == r->snap_size;
            m->ctx = p->snap_round;
        }
        p->snap_sent = off + len;
        p->snap_out++;
        p->snap_all_sent = p->snap_sent == r->snap_size;
    }
}

bool raft__snapshot_pending(const struct raft *r, const struct progress *p)
{
    if (!r->snap_durable || p->snap_paused) return false;
    return rewind_due(r, p) || (!p->snap_all_sent && p->snap_out < RAFT_SNAP_WINDOW);
}

void raft__tick_snapshots(struct raft *r)
{
    for (uint32_t i = 0; i < r->n_prs; i++) {
        struct progress *p = &r->prs[i];
        if (p->state != RAFT_PROGRESS_SNAPSHOT || p->snap_paused) continue;
        /* Chunks or replies can vanish without a transport report, and the follower may have
         * restarted its file: after an election timeout without a reply, resend from the last
         * acknowledged offset (the follower corrects it if needed). */
        if (++p->snap_idle >= r->o.election_tick) rewind(r, p);
    }
}

void raft__step_snapshot_resp(struct raft *r, const struct raft_msg *m)
{
    struct progress *p = raft__progress(r, m->from);
    if (!p) return;
    p->recent_active = true;
    if (p->state != RAFT_PROGRESS_SNAPSHOT || m->snap.index != p->snap_index) return;
    if (m->done && !m->reject) {
        /* The follower holds everything up to the snapshot (durably, whenever it said so):
         * replicate from there. */
        if (p->snap_index > p->match) p->match = p->snap_index;
        progress__become_probe(p);
        raft__maybe_commit(r);
        return;
    }
    /* A reply to an earlier round is stale: under delay and duplication it may arrive after the
     * follower restarted and lost its partial file, and believing its offset would resend from
     * bytes the follower does not have — while its truthful rejections looked older still. */
    if (p->snap_round == 0 || m->ctx != p->snap_round) return;
    p->snap_idle = 0;
    if (m->reject) {
        /* The follower holds m->offset bytes (possibly fewer than it acknowledged earlier in
         * this round, if it restarted meanwhile): resume from there. */
        p->snap_acked = m->offset <= r->snap_size ? m->offset : 0;
        p->snap_rewind = true;
        if (p->snap_out) p->snap_out--;
        return;
    }
    if (m->offset > p->snap_acked && m->offset <= r->snap_size) p->snap_acked = m->offset;
    if (p->snap_out) p->snap_out--;
}

/* --- follower: receiving ---------------------------------------------------------------------- */

static void snap_resp(struct raft *r, const struct raft_msg *m, uint64_t offset, bool rej,
                      bool done)
{
    /* After persist: the offset promises bytes on disk. */
    struct raft_msg *resp = raft__send(r, RAFT_MSG_SNAPSHOT_RESP, m->from, true);
    if (!resp) return;
    resp->snap.index = m->snap.index;
    resp->snap.term = m->snap.term;
    resp->ctx = m->ctx; /* the leader's send round, echoed */
    resp->offset = offset;
    resp->reject = rej;
    resp->done = done;
}

/* The last chunk arrived: the snapshot replaces the log and the state machine. */
static void install(struct raft *r, const struct raft_snapshot_meta *s, uint64_t size)
{
    assert(s->index > r->commit);
    raft_log__reset(&r->log, s->index, s->term);
    r->unstable = s->index + 1;
    if (r->persisted > s->index) r->persisted = s->index;
    raft__pbatch_cap(r, s->index);
    r->commit = s->index;
    r->applied = s->index;
    raft__conf_reset(r, s->index, &s->config);
    r->snap = *s;
    r->snap_size = size;
    r->snap_durable = false; /* the caller is still writing it */
    r->in_active = false;
    r->out.snap_ready = true;
    r->out.snap = *s;
    r->out.snap_size = size;
}

void raft__step_snapshot(struct raft *r, const struct raft_msg *m)
{
    const struct raft_snapshot_meta *s = &m->snap;
    uint64_t t;
    if (s->index <= r->commit || (!raft_log__term(&r->log, s->index, &t) && t == s->term)) {
        /* Nothing to install: we already hold everything it covers, and those entries are
         * the leader's (they match its committed prefix). */
        if (s->index > r->commit) r->commit = s->index;
        if (r->in_active && r->in_meta.index <= r->commit) r->in_active = false;
        snap_resp(r, m, m->snap_size, false, true);
        return;
    }
    bool same = r->in_active && r->in_from == m->from && r->in_term == m->term &&
                r->in_meta.index == s->index && r->in_meta.term == s->term &&
                r->in_size == m->snap_size;
    if (same ? m->offset != r->in_received : m->offset != 0) {
        /* Chunks must arrive in order (a duplicate of an earlier one included): tell the leader
         * where to resume. */
        snap_resp(r, m, same ? r->in_received : 0, true, false);
        return;
    }
    if (!same) {
        /* Offset 0 of another transfer: the caller writes the file afresh. */
        r->in_active = true;
        r->in_from = m->from;
        r->in_term = m->term;
        r->in_meta = *s;
        r->in_size = m->snap_size;
        r->in_received = 0;
    }
    struct raft_snap_chunk *c = raft_out__chunk(&r->out);
    uint8_t *d = m->len ? raft_out__alloc(&r->out, m->len) : NULL;
    if (!c || (m->len && !d)) {
        if (c) r->out.n_chunks--; /* out of memory: as if the chunk was lost */
        return;
    }
    if (m->len) memcpy(d, m->data, m->len);
    c->meta = *s;
    c->snap_size = m->snap_size;
    c->offset = m->offset;
    c->len = m->len;
    c->data = d;
    r->in_received += m->len;
    if (!m->done) {
        snap_resp(r, m, r->in_received, false, false);
        return;
    }
    install(r, s, m->snap_size);
    snap_resp(r, m, m->snap_size, false, true);
}
