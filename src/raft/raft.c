/* raft.c — one Raft peer: construction, role transitions, ticks and message dispatch. */
#include <stdlib.h>
#include <string.h>

#include "raft/raft_int.h"
#include "util/err.h"

void raft_options_default(struct raft_options *o)
{
    memset(o, 0, sizeof(*o));
    o->election_tick = 10;
    o->heartbeat_tick = 1;
    o->pre_vote = true;
    o->check_quorum = true;
    o->lease_read = false;
    o->max_msg_bytes = 1u << 20;
    o->max_inflight = 256;
    o->max_entry_bytes = 8u << 20;
    o->max_uncommitted_bytes = 256ull << 20;
    o->snap_chunk_bytes = 1u << 20;
    o->max_apply_bytes = 64ull << 20;
    o->max_pending_reads = 65536;
}

static int options_check(const struct raft_options *o)
{
    if (o->id == RAFT_NONE) return CC_EINVAL;
    if (o->election_tick < 2 || o->election_tick > (1u << 24)) return CC_EINVAL;
    if (o->heartbeat_tick == 0 || o->heartbeat_tick >= o->election_tick) return CC_EINVAL;
    if (o->max_msg_bytes == 0) return CC_EINVAL;
    if (o->max_inflight == 0 || o->max_inflight > 65536) return CC_EINVAL;
    if (o->max_entry_bytes == 0 || o->max_entry_bytes > RAFT_MAX_ENTRY_BYTES_LIMIT)
        return CC_EINVAL;
    if (o->max_uncommitted_bytes == 0) return CC_EINVAL;
    if (o->snap_chunk_bytes == 0 || o->snap_chunk_bytes > RAFT_MAX_SNAP_CHUNK_LIMIT)
        return CC_EINVAL;
    if (o->max_apply_bytes == 0) return CC_EINVAL;
    if (o->max_pending_reads == 0 || o->max_pending_reads > (1u << 24)) return CC_EINVAL;
    if (o->lease_read && !o->check_quorum) return CC_EINVAL; /* the lease rests on §6.2 */
    return 0;
}

static int boot_check(const struct raft_boot *b)
{
    const struct raft_snapshot_meta *s = &b->snap;
    if ((s->index == 0) != (s->term == 0)) return CC_ECORRUPT;
    if (raft__config_check(&s->config, s->index == 0)) return CC_ECORRUPT;
    if (b->n_entries && !b->entries) return CC_ECORRUPT;
    if (s->index > UINT64_MAX / 2) return CC_ECORRUPT;
    if (raft__entries_validate(b->entries, b->n_entries, true)) return CC_ECORRUPT;
    uint64_t prev = s->term;
    for (uint32_t i = 0; i < b->n_entries; i++) {
        const struct raft_entry *e = &b->entries[i];
        if (e->index != s->index + 1 + i || e->term < prev || e->term == 0) return CC_ECORRUPT;
        prev = e->term;
    }
    uint64_t last = s->index + b->n_entries;
    if (b->hs.term < prev) return CC_ECORRUPT;
    if (b->hs.commit > last) return CC_ECORRUPT;
    if (b->applied < s->index || b->applied > last) return CC_ECORRUPT;
    return 0;
}

/* Copies the boot entries into the log; configuration entries take effect as they come. */
static int boot_load(struct raft *r, const struct raft_boot *b)
{
    int rc = raft_log__reserve(&r->log, b->n_entries);
    if (rc) return rc;
    uint32_t n_conf = 0;
    for (uint32_t i = 0; i < b->n_entries; i++) n_conf += b->entries[i].type == RAFT_ENTRY_CONF;
    if ((rc = raft__conf_reserve(r, n_conf))) return rc;
    for (uint32_t i = 0; i < b->n_entries; i++) {
        struct raft_entry e = b->entries[i];
        if (e.len) {
            e.data = raft_log__alloc(&r->log, e.len);
            if (!e.data) return CC_ENOMEM;
            memcpy(e.data, b->entries[i].data, e.len);
        }
        raft_log__push(&r->log, &e);
        if (e.type == RAFT_ENTRY_CONF) {
            struct raft_config c;
            rc = raft_conf_entry_decode(e.data, e.len, &c, NULL, NULL);
            assert(rc == 0); /* validated by boot_check */
            raft__conf_appended(r, e.index, &c);
        }
    }
    return 0;
}

int raft_new(const struct raft_options *opts, const struct raft_boot *boot, struct raft **out)
{
    assert(opts && boot && out);
    *out = NULL;
    if (options_check(opts)) return CC_EINVAL;
    int rc = boot_check(boot);
    if (rc) return rc;
    struct raft *r = calloc(1, sizeof(*r));
    if (!r) return CC_ENOMEM;
    r->o = *opts;
    r->id = opts->id;
    rng_seed(&r->rng, opts->seed);
    raft_log__init(&r->log, boot->snap.index, boot->snap.term);
    raft_out__init(&r->out);
    r->snap = boot->snap;
    r->snap_size = boot->snap_size;
    r->snap_durable = true;
    /* Persistence batches always have a few slots, so recording one never fails. */
    r->pb_cap = 16;
    if (!(r->pb = malloc(r->pb_cap * sizeof(*r->pb)))) {
        raft_free(r);
        return CC_ENOMEM;
    }
    raft__conf_reset(r, boot->snap.index, &boot->snap.config);
    if ((rc = boot_load(r, boot))) {
        raft_free(r);
        return rc;
    }
    r->term = boot->hs.term;
    r->vote = boot->hs.vote;
    uint64_t commit = boot->hs.commit > boot->snap.index ? boot->hs.commit : boot->snap.index;
    r->commit = commit > boot->applied ? commit : boot->applied;
    r->applied = boot->applied;
    r->persisted = raft_log__last(&r->log);
    r->unstable = r->persisted + 1;
    r->role = RAFT_FOLLOWER;
    raft__reset_election_timer(r);
    r->prev_hs = boot->hs;
    r->prev_role = RAFT_FOLLOWER;
    r->prev_term = r->term;
    *out = r;
    return 0;
}

void raft_free(struct raft *r)
{
    if (!r) return;
    raft_log__free(&r->log);
    raft_out__free(&r->out);
    for (uint32_t i = 0; i < r->n_prs; i++) progress__free(&r->prs[i]);
    raft__conf_free(r);
    raft__reads_free(r);
    free(r->pb);
    free(r);
}

/* --- shared helpers ------------------------------------------------------------------------- */

struct raft_msg *raft__send(struct raft *r, uint8_t type, raft_id to, bool after_persist)
{
    struct raft_msg *m = raft_out__msg(&r->out, after_persist);
    if (!m) return NULL; /* out of memory: the message is lost, which Raft tolerates */
    m->type = type;
    m->from = r->id;
    m->to = to;
    m->term = r->term;
    return m;
}

struct progress *raft__progress(struct raft *r, raft_id id)
{
    for (uint32_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id) return &r->prs[i];
    return NULL;
}

uint64_t raft__last_index(const struct raft *r)
{
    return raft_log__last(&r->log);
}

uint64_t raft__last_term(const struct raft *r)
{
    return raft_log__last_term(&r->log);
}

bool raft__term_committed(const struct raft *r)
{
    return raft_log__term_or0(&r->log, r->commit) == r->term;
}

static uint64_t qvalue(const struct raft *r, const struct progress *p, enum raft_qval which)
{
    bool self = p->id == r->id;
    switch (which) {
    case RAFT_Q_MATCH:
        return self ? r->persisted : p->match;
    case RAFT_Q_READ:
        return self ? r->round : p->read_ack;
    case RAFT_Q_LEASE:
        return self ? r->ticks + 1 : p->lease_tick;
    case RAFT_Q_ACTIVE:
        return self || p->recent_active;
    }
    return 0;
}

uint64_t raft__quorum(const struct raft *r, enum raft_qval which)
{
    uint64_t in[RAFT_MAX_NODES], out[RAFT_MAX_NODES];
    uint32_t ni = 0, no = 0;
    for (uint32_t i = 0; i < r->n_prs; i++) {
        const struct progress *p = &r->prs[i];
        if (p->voter) in[ni++] = qvalue(r, p, which);
        if (p->voter_out) out[no++] = qvalue(r, p, which);
    }
    uint64_t a = progress__quorum_value(in, ni), b = progress__quorum_value(out, no);
    return a < b ? a : b;
}

/* --- role transitions (§3.3, §3.4) ----------------------------------------------------------- */

void raft__reset_election_timer(struct raft *r)
{
    r->election_elapsed = 0;
    /* §3.4: randomized in [election_tick, 2 * election_tick) so split votes resolve. */
    r->randomized_timeout = r->o.election_tick + (uint32_t)rng_below(&r->rng, r->o.election_tick);
}

static void reset(struct raft *r, uint64_t term)
{
    if (r->term != term) {
        assert(term > r->term);
        r->term = term;
        r->vote = RAFT_NONE;
    }
    r->heartbeat_elapsed = 0;
    raft__reset_election_timer(r);
    r->transferee = RAFT_NONE;
    r->await_vote = r->await_pushed = false;
    for (uint32_t i = 0; i < r->n_prs; i++) r->prs[i].vote = 0;
}

static void set_lead(struct raft *r, raft_id lead)
{
    if (r->lead == lead) return;
    /* Reads forwarded to the old leader will not be answered by it any more. */
    raft__reads_fail_forwarded(r, CC_ENOLEADER);
    r->lead = lead;
}

static void leave_leader(struct raft *r)
{
    if (r->role != RAFT_LEADER) return;
    raft__reads_fail_leader(r, r->transferee ? CC_ETRANSFER : CC_ECANCELED);
    r->uncommitted_bytes = 0;
}

void raft__become_follower(struct raft *r, uint64_t term, raft_id lead)
{
    leave_leader(r);
    reset(r, term);
    r->role = RAFT_FOLLOWER;
    set_lead(r, lead);
}

void raft__become_pre_candidate(struct raft *r)
{
    assert(r->role != RAFT_LEADER);
    /* §9.6: a pre-candidate changes neither its term nor its vote. */
    reset(r, r->term);
    r->role = RAFT_PRE_CANDIDATE;
    set_lead(r, RAFT_NONE);
}

void raft__become_candidate(struct raft *r)
{
    assert(r->role != RAFT_LEADER);
    reset(r, r->term + 1);
    r->vote = r->id;
    r->role = RAFT_CANDIDATE;
    set_lead(r, RAFT_NONE);
}

void raft__become_leader(struct raft *r)
{
    assert(r->role == RAFT_CANDIDATE);
    reset(r, r->term);
    r->role = RAFT_LEADER;
    set_lead(r, r->id);
    uint64_t last = raft__last_index(r);
    for (uint32_t i = 0; i < r->n_prs; i++) progress__reset(&r->prs[i], last + 1);
    r->uncommitted_bytes = 0;
    r->lease_void = false;
    /* §5.4.2 / §6.4: a NOOP of the new term lets the leader commit (and learn the commit
     * index) without waiting for a client. */
    if (raft__append_local(r, RAFT_ENTRY_NOOP, NULL, 0, NULL)) {
        raft__become_follower(r, r->term, RAFT_NONE); /* out of memory: give leadership up */
        return;
    }
    r->term_start = raft__last_index(r);
}

/* --- events ----------------------------------------------------------------------------------- */

static void tick_leader(struct raft *r)
{
    if (r->heartbeat_elapsed < UINT32_MAX) r->heartbeat_elapsed++;
    if (r->election_elapsed < UINT32_MAX) r->election_elapsed++;
    raft__tick_snapshots(r);
    raft__conf_committed(r); /* retries an automatic C_new append that ran out of memory */
    if (r->role != RAFT_LEADER) return;
    if (r->election_elapsed >= r->o.election_tick) {
        r->election_elapsed = 0;
        if (r->o.check_quorum) {
            /* §6.2: without replies from a quorum for an election timeout, step down so
             * clients can find a leader that can make progress. */
            if (raft__quorum(r, RAFT_Q_ACTIVE) == 0) {
                raft__become_follower(r, r->term, RAFT_NONE);
                return;
            }
            for (uint32_t i = 0; i < r->n_prs; i++)
                if (r->prs[i].id != r->id) r->prs[i].recent_active = false;
        }
        if (r->transferee) raft__transfer_abort(r);
        raft__drop_departing(r, false); /* unreachable ones get one election timeout */
    }
    if (r->heartbeat_elapsed >= r->o.heartbeat_tick) {
        r->heartbeat_elapsed = 0;
        raft__bcast_heartbeat(r);
    }
}

void raft_tick(struct raft *r)
{
    raft_out__prepare(&r->out);
    r->ticks++;
    if (r->role == RAFT_LEADER)
        tick_leader(r);
    else
        raft__tick_election(r);
}

static bool from_leader(uint8_t type)
{
    return type == RAFT_MSG_APPEND || type == RAFT_MSG_HEARTBEAT || type == RAFT_MSG_SNAPSHOT;
}

/* Term rules shared by every message that carries a term (Figure 2 "all servers", §9.6, §6.2).
 * Returns false when the message must not be processed further. */
static bool step_term(struct raft *r, const struct raft_msg *m)
{
    if (m->term > r->term) {
        if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE) {
            /* §4.2.3 / §9.6: inside the leader lease (re)votes are ignored, unless the leader
             * itself asked for this election (a transfer). */
            if (m->ctx != 1 && raft__in_lease(r)) return false;
        }
        if (m->type == RAFT_MSG_PREVOTE) return true; /* a pre-vote never changes our term */
        if (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject) return true; /* our future term */
        raft__become_follower(r, m->term, from_leader(m->type) ? m->from : RAFT_NONE);
        return true;
    }
    if (m->term < r->term) {
        if ((r->o.check_quorum || r->o.pre_vote) &&
            (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT)) {
            /* A stale leader cut off by pre-vote / check-quorum would otherwise never learn
             * the new term; tell it. */
            raft__send(r, RAFT_MSG_APPEND_RESP, m->from, true);
        } else if (m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE) {
            /* Figure 2: the reply carries our term, so a candidate stuck in an old term (whose
             * only peers may never contact it) catches up. */
            struct raft_msg *resp =
                raft__send(r, m->type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PREVOTE_RESP,
                           m->from, true);
            if (resp) resp->reject = true;
        }
        return false;
    }
    return true;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    assert(r && m);
    raft_out__prepare(&r->out);
    int rc = raft__msg_validate(r, m);
    if (rc) return rc;
    switch (m->type) { /* messages without a term */
    case RAFT_MSG_PROPOSE:
        raft__step_propose(r, m);
        return 0;
    case RAFT_MSG_READ_INDEX:
        raft__step_read_index(r, m);
        return 0;
    case RAFT_MSG_READ_INDEX_RESP:
        raft__step_read_index_resp(r, m);
        return 0;
    case RAFT_MSG_TRANSFER_LEADER:
        raft__step_transfer_leader(r, m);
        return 0;
    default:
        break;
    }
    if (!step_term(r, m)) return 0;
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        if (r->role == RAFT_LEADER) return 0; /* same term, two leaders: impossible (§3.6.3) */
        if (r->role != RAFT_FOLLOWER)
            raft__become_follower(r, r->term, m->from);
        else
            set_lead(r, m->from);
        r->election_elapsed = 0;
        if (m->type == RAFT_MSG_APPEND)
            raft__step_append(r, m);
        else if (m->type == RAFT_MSG_HEARTBEAT)
            raft__step_heartbeat(r, m);
        else
            raft__step_snapshot(r, m);
        return 0;
    case RAFT_MSG_APPEND_RESP:
        if (r->role == RAFT_LEADER) raft__step_append_resp(r, m);
        return 0;
    case RAFT_MSG_HEARTBEAT_RESP:
        if (r->role == RAFT_LEADER) raft__step_heartbeat_resp(r, m);
        return 0;
    case RAFT_MSG_SNAPSHOT_RESP:
        if (r->role == RAFT_LEADER) raft__step_snapshot_resp(r, m);
        return 0;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        raft__step_vote(r, m);
        return 0;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        raft__step_vote_resp(r, m);
        return 0;
    case RAFT_MSG_TIMEOUT_NOW:
        raft__step_timeout_now(r, m);
        return 0;
    default:
        return 0;
    }
}

int raft_propose(struct raft *r, const void *data, uint32_t len, uint64_t *index_out)
{
    assert(r && (data || len == 0));
    raft_out__prepare(&r->out);
    if (index_out) *index_out = 0;
    if (len > r->o.max_entry_bytes) return CC_ETOOBIG;
    if (r->cfg.n_voters && !raft_config_contains(&r->cfg, r->id)) return CC_EREMOVED;
    if (r->role == RAFT_LEADER) {
        if (r->transferee) return CC_ETRANSFER;
        if (r->uncommitted_bytes && r->uncommitted_bytes + len > r->o.max_uncommitted_bytes)
            return CC_EBUSY;
        return raft__append_local(r, RAFT_ENTRY_NORMAL, data, len, index_out);
    }
    if (r->lead == RAFT_NONE) return CC_ENOLEADER;
    struct raft_msg *m = raft__send(r, RAFT_MSG_PROPOSE, r->lead, false);
    if (!m) return CC_ENOMEM;
    m->term = 0;
    struct raft_entry *e = raft_out__alloc(&r->out, sizeof(*e));
    uint8_t *d = raft_out__alloc(&r->out, len);
    if (!e || (len && !d)) {
        r->out.n_msgs--; /* drop the slot we just took */
        return CC_ENOMEM;
    }
    memset(e, 0, sizeof(*e));
    e->type = RAFT_ENTRY_NORMAL;
    e->len = len;
    e->data = len ? d : NULL;
    if (len) memcpy(d, data, len);
    m->entries = e;
    m->n_entries = 1;
    return 0;
}

/* --- queries ---------------------------------------------------------------------------------- */

int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term_out)
{
    assert(r && term_out);
    return raft_log__term(&r->log, index, term_out);
}

void raft_status(const struct raft *r, struct raft_status *st)
{
    assert(r && st);
    memset(st, 0, sizeof(*st));
    st->id = r->id;
    st->leader = r->lead;
    st->role = r->role;
    st->term = r->term;
    st->vote = r->vote;
    st->commit = r->commit;
    st->applied = r->applied;
    st->persisted = r->persisted;
    st->first_index = r->log.offset + 1;
    st->last_index = raft__last_index(r);
    st->snap_index = r->snap.index;
    st->snap_term = r->snap.term;
    st->log_bytes = r->log.bytes;
    st->transferring = r->transferee != RAFT_NONE;
    st->transferee = r->transferee;
    st->conf_pending = r->conf_index > r->commit;
    st->config = r->cfg;
    if (r->role != RAFT_LEADER) return;
    for (uint32_t i = 0; i < r->n_prs; i++) {
        const struct progress *p = &r->prs[i];
        if (p->id == r->id) continue;
        if (st->n_peers == sizeof(st->peers) / sizeof(st->peers[0])) break;
        struct raft_peer_status *ps = &st->peers[st->n_peers++];
        ps->id = p->id;
        ps->voter = p->voter || p->voter_out;
        ps->recent_active = p->recent_active;
        ps->state = p->state;
        ps->match = p->match;
        ps->next = p->next;
    }
}
