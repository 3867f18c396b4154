/* sim_node.c — concur-sim's nodes: boot from durable state, crash, and the update contract. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "util/err.h"

/* --- Lifecycle ------------------------------------------------------------------------------- */

/* Creates node `id` with brand-new durable state: an initial member knows the initial voters, a
 * joining member knows nothing and waits to be contacted (raft.h, struct raft_boot). */
int sim__node_create(struct sim *s, raft_id id, uint64_t added_at, bool initial)
{
    struct node *n = &s->nodes[id];
    if (n->state != NODE_ABSENT || id > SIM_MAX_SLOTS) return CC_EINVAL;
    n->id = id;
    n->added_at = added_at;
    if (initial) {
        struct raft_config *c = &n->d_snap.meta.config;
        for (uint32_t i = 1; i <= s->p->nodes; i++) c->voters[c->n_voters++] = i;
    }
    if (id > s->n_slots) s->n_slots = (uint32_t)id;
    return sim__node_boot(s, n);
}

/* The mirror log of a booting core: the durable snapshot point and the durable entries after it,
 * each checked against the chain it had when it was first appended anywhere. */
static int mirror_from_disk(struct sim *s, struct node *n)
{
    const struct raft_snapshot_meta *m = &n->d_snap.meta;
    uint64_t chain = 0;
    if (m->index && !sim__check_lookup(s, m->index, m->term, &chain)) {
        sim__fail(s, "n%" PRIu64 " holds snapshot %" PRIu64 "/%" PRIu64 " of an entry no log held",
                  n->id, m->index, m->term);
        return CC_ECORRUPT;
    }
    sim__slog_reset(&n->log, m->index, m->term, chain);
    for (uint64_t i = m->index + 1; i <= sim__dlog_last(&n->d_log); i++) {
        const struct raft_entry *e = sim__dlog_get(&n->d_log, i);
        chain = sim__chain(chain, e->term, e->type, sim__hash_bytes(e->data, e->len));
        if (sim__slog_push(&n->log, e->term, chain)) return CC_ENOMEM;
        sim__check_entry(s, n, i, e->term, chain);
    }
    return 0;
}

/* Starts a core from exactly what is durable: hard state, snapshot, the log after it, and the
 * state machine's flushed applied index. */
int sim__node_boot(struct sim *s, struct node *n)
{
    uint64_t si = n->d_snap.meta.index;
    if (n->d_log.base > si) {
        sim__fail(s, "simulator: n%" PRIu64 " durable log starts after its snapshot", n->id);
        return CC_ECORRUPT;
    }
    struct raft_boot boot = {.hs = n->d_hs,
                             .snap = n->d_snap.meta,
                             .snap_size = n->d_snap.size,
                             .applied = n->d_fsm.applied};
    if (sim__dlog_last(&n->d_log) > si) {
        boot.entries = &n->d_log.e[si - n->d_log.base];
        boot.n_entries = (uint32_t)(sim__dlog_last(&n->d_log) - si);
    }
    struct raft_options o = s->opt;
    o.id = n->id;
    o.seed = rng_next(&s->rng);
    int rc = raft_new(&o, &boot, &n->r);
    if (rc) {
        sim__fail(s, "n%" PRIu64 " cannot boot from its durable state: raft_new: %s", n->id,
                  cc_errname(rc));
        return rc;
    }
    n->state = NODE_UP;
    n->inc++;
    n->fsm = n->d_fsm;
    n->v_hs = n->d_hs;
    n->role = RAFT_FOLLOWER;
    n->term = n->d_hs.term;
    n->leader = RAFT_NONE;
    n->commit_seen = 0;
    n->n_reads = 0;
    memset(n->snap_fail, 0, sizeof n->snap_fail);
    rc = mirror_from_disk(s, n);
    if (rc) return rc;
    sim__trace(s,
               "n%" PRIu64 " boot term=%" PRIu64 " vote=n%" PRIu64 " commit=%" PRIu64
               " snap=%" PRIu64 " last=%" PRIu64 " applied=%" PRIu64,
               n->id, n->d_hs.term, n->d_hs.vote, n->d_hs.commit, si, sim__slog_last(&n->log),
               n->fsm.applied);
    sim__schedule(s, s->now + rng_range(&s->rng, 1, SIM_TICK), EV_TICK, (uint32_t)n->id, 0, NULL);
    sim__node_drain(s, n);
    return 0;
}

/* Kills the node: pending writes, messages waiting for them and all volatile state are lost.
 * A retired node (removed from the cluster and shut down by its operator) never comes back. */
void sim__node_crash(struct sim *s, struct node *n, bool retire)
{
    if (n->state == NODE_UP) {
        raft_free(n->r);
        n->r = NULL;
    }
    sim__disk_drop_pending(n);
    n->inc++;
    n->n_reads = 0;
    n->role = RAFT_FOLLOWER;
    n->state = retire ? NODE_RETIRED : NODE_DOWN;
    sim__slog_reset(&n->log, 0, 0, 0);
    if (retire) {
        sim__disk_free(n);
        sim__slog_free(&n->log);
    }
    sim__trace(s, "n%" PRIu64 " %s", n->id, retire ? "retired" : "CRASH");
}

/* --- The update contract --------------------------------------------------------------------- */

static void on_soft(struct sim *s, struct node *n, const struct raft_update *u)
{
    if (!u->soft_changed) return;
    if (u->term < n->term)
        sim__fail(s, "n%" PRIu64 " term went back from %" PRIu64 " to %" PRIu64, n->id, n->term,
                  u->term);
    if (u->role == RAFT_LEADER && u->leader != n->id)
        sim__fail(s, "contract: n%" PRIu64 " is leader but names n%" PRIu64, n->id, u->leader);
    if (u->role != n->role || u->term != n->term || u->leader != n->leader)
        sim__trace(s, "n%" PRIu64 " %s term=%" PRIu64 " leader=n%" PRIu64, n->id,
                   raft_role_name(u->role), u->term, u->leader);
    bool elected = u->role == RAFT_LEADER && (n->role != RAFT_LEADER || n->term != u->term);
    n->role = u->role;
    n->term = u->term;
    n->leader = u->leader;
    if (u->term > s->st.max_term) s->st.max_term = u->term;
    if (u->role == RAFT_LEADER) sim__check_leader(s, n, u->term);
    if (elected && s->phase == 1 && rng_chance(&s->rng, s->prof.isolate_leader_ppm, 1000000))
        sim__schedule(s, s->now + rng_range(&s->rng, 1, 2 * SIM_TICK), EV_ISOLATE, (uint32_t)n->id,
                      0, NULL);
}

static void on_hs(struct sim *s, struct node *n, const struct raft_hard_state *h)
{
    const struct raft_hard_state *o = &n->v_hs;
    if (h->term < o->term)
        sim__fail(s, "n%" PRIu64 " hard state term went back from %" PRIu64 " to %" PRIu64, n->id,
                  o->term, h->term);
    else if (h->term == o->term && o->vote && h->vote != o->vote)
        sim__fail(
            s, "n%" PRIu64 " changed its vote in term %" PRIu64 " from n%" PRIu64 " to n%" PRIu64,
            n->id, h->term, o->vote, h->vote);
    else if (h->commit < o->commit)
        sim__fail(s, "n%" PRIu64 " hard state commit went back from %" PRIu64 " to %" PRIu64, n->id,
                  o->commit, h->commit);
    n->v_hs = *h;
}

/* Commitment rule (§3.6.2, Figure 8): a leader advances its commit index only to an entry of its
 * own term (earlier entries become committed with it, never by counting their replicas). Checked
 * after the update's entries are in the mirror. */
static void check_commit_rule(struct sim *s, struct node *n, uint64_t old_commit)
{
    uint64_t term, chain;
    if (n->role != RAFT_LEADER || n->v_hs.commit <= old_commit) return;
    if (sim__slog_get(&n->log, n->v_hs.commit, &term, &chain) && term != n->term)
        sim__fail(s,
                  "Commitment rule (Figure 8): leader n%" PRIu64 " of term %" PRIu64
                  " commits %" PRIu64 " whose entry is of term %" PRIu64,
                  n->id, n->term, n->v_hs.commit, term);
}

/* The mirror follows the InstallSnapshot rule of the paper (§7): entries after the snapshot are
 * kept only when the log held the snapshot's last entry. */
static void on_snapshot(struct sim *s, struct node *n, const struct raft_update *u, uint64_t commit)
{
    const struct raft_snapshot_meta *m = &u->snapshot;
    uint64_t chain, term, c2;
    if (m->index < n->log.base) {
        sim__fail(
            s, "contract: n%" PRIu64 " installs snapshot %" PRIu64 " behind its log base %" PRIu64,
            n->id, m->index, n->log.base);
        return;
    }
    if (!sim__check_lookup(s, m->index, m->term, &chain)) {
        sim__fail(s,
                  "n%" PRIu64 " installs snapshot %" PRIu64 "/%" PRIu64 " of an entry no log held",
                  n->id, m->index, m->term);
        return;
    }
    if (sim__slog_get(&n->log, m->index, &term, &c2) && term == m->term) {
        sim__slog_compact(&n->log, m->index);
    } else {
        if (m->index < sim__slog_last(&n->log)) sim__check_truncate(s, n, m->index + 1, commit);
        sim__slog_reset(&n->log, m->index, m->term, chain);
    }
    sim__trace(s, "n%" PRIu64 " snapshot_ready %" PRIu64 "/%" PRIu64 " size=%" PRIu64, n->id,
               m->index, m->term, u->snapshot_size);
}

/* Appends (with the contract's truncation rule) to the mirror. Entries identical to the log are
 * rewrites, not removals; the first index whose content changes, or the end of the new entries
 * when the log was longer, is where entries are really removed. */
static void on_entries(struct sim *s, struct node *n, const struct raft_entry *e, uint32_t count,
                       uint64_t commit)
{
    uint64_t first = e[0].index, last = sim__slog_last(&n->log);
    uint64_t term, prev;
    if (first <= n->log.base || first > last + 1) {
        sim__fail(s,
                  "contract: n%" PRIu64 " appends at %" PRIu64 " but its log holds %" PRIu64
                  "..%" PRIu64,
                  n->id, first, n->log.base + 1, last);
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (e[i].index != first + i || (i && e[i].term < e[i - 1].term) ||
            e[i].term > n->v_hs.term || (e[i].len && !e[i].data)) {
            sim__fail(
                s, "contract: n%" PRIu64 " update entry %u (%" PRIu64 "/%" PRIu64 ") is malformed",
                n->id, i, e[i].index, e[i].term);
            return;
        }
    }
    uint64_t pterm; /* term of the entry before e[i] */
    sim__slog_get(&n->log, first - 1, &pterm, &prev);
    uint32_t i = 0;
    for (; i < count && first + i <= last; i++) {
        uint64_t c = sim__chain(prev, e[i].term, e[i].type, sim__hash_bytes(e[i].data, e[i].len));
        uint64_t oc;
        sim__slog_get(&n->log, first + i, &term, &oc);
        if (oc != c) break;
        prev = c;
        pterm = e[i].term;
    }
    uint64_t cut = first + i;
    if (cut <= last) {
        if (n->role == RAFT_LEADER)
            sim__fail(s,
                      "Leader Append-Only: leader n%" PRIu64 " (term %" PRIu64
                      ") removes entries %" PRIu64 "..%" PRIu64,
                      n->id, n->term, cut, last);
        sim__check_truncate(s, n, cut, commit);
        sim__trace(s, "n%" PRIu64 " truncates its log from %" PRIu64 " (last was %" PRIu64 ")",
                   n->id, cut, last);
        sim__slog_truncate(&n->log, cut);
    }
    for (; i < count; i++) {
        uint64_t c = sim__chain(prev, e[i].term, e[i].type, sim__hash_bytes(e[i].data, e[i].len));
        /* §5.4.2: every leader starts its term with a no-op, so in any log the first entry of
         * a term is that no-op. */
        if (s->p->contract_checks && e[i].term > pterm && e[i].type != RAFT_ENTRY_NOOP)
            sim__fail(s,
                      "contract: n%" PRIu64 " holds %" PRIu64 "/%" PRIu64
                      ", the first entry of its term, and it is not the leader's no-op",
                      n->id, first + i, e[i].term);
        pterm = e[i].term;
        if (sim__slog_push(&n->log, e[i].term, c)) {
            sim__fail(s, "simulator: log too long");
            return;
        }
        sim__check_entry(s, n, first + i, e[i].term, c);
        prev = c;
    }
}

static void apply_entry(struct sim *s, struct node *n, const struct raft_entry *e)
{
    uint64_t term, prev, at;
    if (e->index != n->fsm.applied + 1) {
        sim__fail(s,
                  "contract: n%" PRIu64 " hands out committed %" PRIu64 " after applying %" PRIu64,
                  n->id, e->index, n->fsm.applied);
        return;
    }
    if (!sim__disk_covers(n, e->index, e->term)) {
        sim__fail(s,
                  "contract: n%" PRIu64 " hands out committed %" PRIu64 "/%" PRIu64
                  " before it is durable (durable log ends at %" PRIu64 ")",
                  n->id, e->index, e->term, sim__dlog_last(&n->d_log));
        return;
    }
    if (e->index > n->v_hs.commit) {
        sim__fail(s, "contract: n%" PRIu64 " hands out %" PRIu64 " beyond its commit %" PRIu64,
                  n->id, e->index, n->v_hs.commit);
        return;
    }
    uint64_t dh = sim__hash_bytes(e->data, e->len);
    if (!sim__slog_get(&n->log, e->index - 1, &term, &prev) ||
        !sim__slog_get(&n->log, e->index, &term, &at) ||
        sim__chain(prev, e->term, e->type, dh) != at) {
        sim__fail(s, "contract: n%" PRIu64 " hands out committed %" PRIu64 " not matching its log",
                  n->id, e->index);
        return;
    }
    sim__check_commit(s, n, e->index);
    sim__fsm_apply(&n->fsm, e->index, e->type, dh);
    if (rng_chance(&s->rng, s->prof.flush_ppm, 1000000)) n->d_fsm = n->fsm;
    if (sim__check_apply(s, n, e, dh)) sim__on_first_apply(s, e);
}

static void on_read(struct sim *s, struct node *n, const struct raft_read_state *rs)
{
    uint32_t j = 0;
    while (j < n->n_reads && (n->reads[j].ctx != rs->ctx || n->reads[j].granted)) j++;
    if (j == n->n_reads) return; /* a read of an earlier life, or answered twice */
    struct sim_read *r = &n->reads[j];
    if (rs->status) {
        sim__trace(s, "n%" PRIu64 " read %" PRIu64 " failed: %s", n->id, rs->ctx,
                   cc_errname(rs->status));
        *r = n->reads[--n->n_reads];
        return;
    }
    if (rs->index < r->min_index) {
        sim__fail(s,
                  "Linearizable read: n%" PRIu64 " read %" PRIu64 " got read index %" PRIu64
                  " but %" PRIu64 " was committed before it was requested",
                  n->id, rs->ctx, rs->index, r->min_index);
        return;
    }
    r->granted = true;
    r->index = rs->index;
}

void sim__node_serve_reads(struct sim *s, struct node *n)
{
    for (uint32_t j = 0; j < n->n_reads;) {
        struct sim_read *r = &n->reads[j];
        if (r->granted && r->index <= n->fsm.applied) {
            sim__trace(s, "n%" PRIu64 " read %" PRIu64 " served at index %" PRIu64, n->id, r->ctx,
                       r->index);
            s->st.reads_ok++;
            *r = n->reads[--n->n_reads];
        } else {
            j++;
        }
    }
}

static bool chunks_valid(struct sim *s, struct node *n, const struct raft_update *u)
{
    for (uint32_t i = 0; i < u->n_snap_chunks; i++) {
        const struct raft_snap_chunk *c = &u->snap_chunks[i];
        if (c->snap_size > SIM_MAX_SNAP_BYTES || c->offset > c->snap_size ||
            c->len > c->snap_size - c->offset || (c->len && !c->data) || c->meta.index == 0) {
            sim__fail(s,
                      "contract: n%" PRIu64 " snapshot chunk %" PRIu64 "+%u of %" PRIu64
                      " (snapshot %" PRIu64 ") is out of bounds",
                      n->id, c->offset, c->len, c->snap_size, c->meta.index);
            return false;
        }
    }
    return true;
}

/* Step 4's report names the update's last entry, or its snapshot when it only installed one. */
static void check_report(struct sim *s, struct node *n, const struct raft_update *u)
{
    uint64_t idx = 0, term = 0;
    if (u->n_entries) {
        idx = u->entries[u->n_entries - 1].index;
        term = u->entries[u->n_entries - 1].term;
    } else if (u->snapshot_ready) {
        idx = u->snapshot.index;
        term = u->snapshot.term;
    } else {
        return; /* a lone candidate's vote: nothing to compare with */
    }
    if (!u->persist_report || u->persist_index != idx || u->persist_term != term)
        sim__fail(s,
                  "contract: n%" PRIu64 " update persists up to %" PRIu64 "/%" PRIu64
                  " but reports %s%" PRIu64 "/%" PRIu64,
                  n->id, idx, term, u->persist_report ? "" : "nothing, not even ", u->persist_index,
                  u->persist_term);
}

/* Does what raft.h's update contract says, in its order, checking the core as it goes. */
static void handle_update(struct sim *s, struct node *n, const struct raft_update *u)
{
    uint64_t commit = n->v_hs.commit; /* the update's truncations happen before its commit */
    on_soft(s, n, u);
    if (u->hs_changed) on_hs(s, n, &u->hs);
    if (!chunks_valid(s, n, u)) return;
    check_report(s, n, u);
    struct batch *b;
    if (sim__batch_new(s, u, &b)) {
        sim__fail(s, "simulator: out of memory");
        return;
    }
    if (u->snapshot_ready) on_snapshot(s, n, u, commit);
    if (u->n_entries) on_entries(s, n, u->entries, u->n_entries, commit);
    if (u->hs_changed) {
        if (s->p->contract_checks) check_commit_rule(s, n, commit);
        sim__check_commit(s, n, u->hs.commit);
    }
    sim__disk_enqueue(s, n, b);
    for (uint32_t i = 0; i < u->n_msgs; i++) sim__node_send(s, n, &u->msgs[i], false);
    for (uint32_t i = 0; i < u->n_committed && !s->failed; i++) apply_entry(s, n, &u->committed[i]);
    for (uint32_t i = 0; i < u->n_reads; i++) on_read(s, n, &u->reads[i]);
}

/* --- Sending --------------------------------------------------------------------------------- */

static bool snapshot_bytes_written(const struct in_snap *in, uint64_t index, uint64_t upto)
{
    if (in->index != index || upto > in->size) return false;
    for (uint64_t i = 0; i < upto; i++)
        if (!in->have[i]) return false;
    return true;
}

/* What a message promises must already be durable: a vote (§3.4: persist before responding), an
 * append acknowledgement (the leader counts it toward commitment), a snapshot acknowledgement. */
static void check_promise(struct sim *s, struct node *n, const struct raft_msg *m, bool after)
{
    const char *when = after ? "after its batch" : "immediately";
    uint64_t term, chain;
    if (m->type == RAFT_MSG_VOTE_RESP && !m->reject &&
        (n->d_hs.term != m->term || n->d_hs.vote != m->to)) {
        sim__fail(s,
                  "contract: n%" PRIu64 " grants its vote to n%" PRIu64 " in term %" PRIu64
                  " (sent %s) but durably holds term %" PRIu64 " vote n%" PRIu64,
                  n->id, m->to, m->term, when, n->d_hs.term, n->d_hs.vote);
    } else if (m->type == RAFT_MSG_APPEND_RESP && !m->reject) {
        /* Sent now, it speaks of the current log; released after its batch, of the log as that
         * batch left it, which later (not yet durable) updates may have changed since. */
        term = 0;
        if (!after && m->index > n->log.base && !sim__slog_get(&n->log, m->index, &term, &chain))
            term = 0;
        if (n->d_hs.term < m->term || !sim__disk_covers(n, m->index, term))
            sim__fail(s,
                      "contract: n%" PRIu64 " acknowledges %" PRIu64 " in term %" PRIu64
                      " (sent %s) but durably holds term %" PRIu64 " and log up to %" PRIu64,
                      n->id, m->index, m->term, when, n->d_hs.term, sim__dlog_last(&n->d_log));
    } else if (m->type == RAFT_MSG_SNAPSHOT_RESP && !m->reject) {
        bool ok = m->done ? sim__disk_covers(n, m->snap.index, 0)
                          : snapshot_bytes_written(&n->d_in, m->snap.index, m->offset) ||
                                sim__disk_covers(n, m->snap.index, 0);
        if (!ok)
            sim__fail(s,
                      "contract: n%" PRIu64 " acknowledges snapshot %" PRIu64 " offset %" PRIu64
                      "%s (sent %s) before it is durable",
                      n->id, m->snap.index, m->offset, m->done ? " done" : "", when);
    }
}

/* A vote granted is a promise for the whole term, whatever happens to the voter's disk. */
static void check_vote_ghost(struct sim *s, struct node *n, const struct raft_msg *m)
{
    if (m->type != RAFT_MSG_VOTE_RESP || m->reject) return;
    if (m->term < n->grant_term)
        sim__fail(s,
                  "Election Safety: n%" PRIu64 " grants a vote in term %" PRIu64
                  " after voting in term %" PRIu64,
                  n->id, m->term, n->grant_term);
    else if (m->term == n->grant_term && m->to != n->grant_to)
        sim__fail(s,
                  "Election Safety: n%" PRIu64 " votes for n%" PRIu64 " and n%" PRIu64
                  " in term %" PRIu64,
                  n->id, n->grant_to, m->to, m->term);
    n->grant_term = m->term;
    n->grant_to = m->to;
}

/* Sends one message the core emitted (after = it was a msgs_after_persist released now). */
void sim__node_send(struct sim *s, struct node *n, const struct raft_msg *m, bool after)
{
    char buf[200];
    if (m->from != n->id || m->to == RAFT_NONE || m->to == n->id || m->type == 0 ||
        m->type > RAFT_MSG_TYPE_MAX_) {
        sim__fail(s, "contract: n%" PRIu64 " emits a malformed message %s", n->id,
                  sim__msg_str(m, buf, sizeof buf));
        return;
    }
    check_vote_ghost(s, n, m);
    if (s->p->contract_checks) check_promise(s, n, m, after);
    if (m->type != RAFT_MSG_SNAPSHOT) {
        sim__net_send(s, m);
        return;
    }
    /* The core names the snapshot and the byte range; the bytes come from our snapshot file. */
    const struct snap_file *f = &n->d_snap;
    if (m->len > RAFT_MAX_SNAP_CHUNK_LIMIT || m->offset > m->snap_size ||
        m->len > m->snap_size - m->offset) {
        sim__fail(s, "contract: n%" PRIu64 " sends an out-of-bounds chunk %s", n->id,
                  sim__msg_str(m, buf, sizeof buf));
        return;
    }
    if (!f->data || f->meta.index != m->snap.index || f->size != m->snap_size) {
        sim__trace(s,
                   "n%" PRIu64 " has no snapshot %" PRIu64 " to send (holds %" PRIu64 "): failed",
                   n->id, m->snap.index, f->meta.index);
        if (m->to <= SIM_MAX_SLOTS) n->snap_fail[m->to] = true;
        return;
    }
    struct raft_msg c = *m;
    c.data = f->data + m->offset;
    sim__net_send(s, &c);
}

/* --- Draining -------------------------------------------------------------------------------- */

/* The core's own account must agree with the log its updates described. */
static void cross_check(struct sim *s, struct node *n)
{
    struct raft_status st;
    raft_status(n->r, &st);
    uint64_t last = sim__slog_last(&n->log), t, chain, ct;
    if (st.term != n->term || st.role != n->role) {
        sim__fail(s,
                  "contract: n%" PRIu64 " is %s in term %" PRIu64
                  " but its updates said %s in %" PRIu64,
                  n->id, raft_role_name(st.role), st.term, raft_role_name(n->role), n->term);
    } else if (st.last_index != last) {
        sim__fail(s,
                  "contract: n%" PRIu64 " log ends at %" PRIu64
                  " but its updates built a log ending at %" PRIu64,
                  n->id, st.last_index, last);
    } else if (st.commit > st.last_index) {
        sim__fail(s, "n%" PRIu64 " commit %" PRIu64 " beyond its last index %" PRIu64, n->id,
                  st.commit, st.last_index);
    } else if (last > n->log.base && raft_term_at(n->r, last, &ct) == 0 &&
               sim__slog_get(&n->log, last, &t, &chain) && ct != t) {
        sim__fail(s,
                  "contract: n%" PRIu64 " has term %" PRIu64 " at %" PRIu64
                  ", its updates said %" PRIu64,
                  n->id, ct, last, t);
    }
}

/* Collects and carries out every update the core has, then reports snapshot sends that could
 * not be made (after the update, whose memory a core call would invalidate). */
void sim__node_drain(struct sim *s, struct node *n)
{
    uint32_t guard = 0;
    while (n->state == NODE_UP && !s->failed && raft_has_update(n->r)) {
        struct raft_update u;
        if (!raft_get_update(n->r, &u)) break;
        if (++guard > SIM_MAX_UPDATES) {
            sim__fail(s, "n%" PRIu64 " keeps producing updates", n->id);
            break;
        }
        handle_update(s, n, &u);
        for (uint32_t id = 1; id <= SIM_MAX_SLOTS; id++) {
            if (!n->snap_fail[id]) continue;
            n->snap_fail[id] = false;
            raft_report_snapshot_failed(n->r, id);
        }
    }
    if (n->state == NODE_UP && !s->failed) {
        if (s->p->contract_checks) cross_check(s, n);
        sim__node_serve_reads(s, n);
    }
}
