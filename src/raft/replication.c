/* replication.c — log replication (§3.5): appends, the consistency check, commitment, flow. */
#include <stdlib.h>
#include <string.h>

#include "raft/raft_int.h"
#include "util/err.h"

/* --- the leader's own log ----------------------------------------------------------------------
 */

int raft__append_local(struct raft *r, uint8_t type, const void *data, uint32_t len,
                       uint64_t *index_out)
{
    assert(r->role == RAFT_LEADER);
    if (raft_log__reserve(&r->log, 1)) return CC_ENOMEM;
    if (type == RAFT_ENTRY_CONF && raft__conf_reserve(r, 1)) return CC_ENOMEM;
    uint8_t *d = NULL;
    if (len) {
        if (!(d = raft_log__alloc(&r->log, len))) return CC_ENOMEM;
        memcpy(d, data, len);
    }
    struct raft_entry e = {.term = r->term,
                           .index = raft__last_index(r) + 1,
                           .type = type,
                           .len = len,
                           .data = len ? d : NULL};
    raft_log__push(&r->log, &e);
    r->uncommitted_bytes += len;
    if (type == RAFT_ENTRY_CONF) {
        struct raft_config c;
        int rc = raft_conf_entry_decode(e.data, e.len, &c, NULL, NULL);
        assert(rc == 0);
        (void)rc;
        raft__conf_appended(r, e.index, &c);
    }
    if (index_out) *index_out = e.index;
    /* A single-voter leader commits once its own write is durable (raft_persisted). */
    return 0;
}

void raft__step_propose(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_LEADER || r->transferee) return; /* forwarded proposals may be lost */
    if (r->cfg.n_voters && !raft_config_contains(&r->cfg, r->id)) return;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->type != RAFT_ENTRY_NORMAL || e->len > r->o.max_entry_bytes) continue;
        if (r->uncommitted_bytes && r->uncommitted_bytes + e->len > r->o.max_uncommitted_bytes)
            return;
        if (raft__append_local(r, RAFT_ENTRY_NORMAL, e->data, e->len, NULL)) return;
    }
}

/* --- follower side: AppendEntries (Figure 2, §3.5) ---------------------------------------------
 */

void raft__truncate(struct raft *r, uint64_t from)
{
#if RAFT_FAULT != 3
    /* Log Matching + commitment: a committed entry is in every future leader's log, so no
     * leader can ever ask us to replace it. */
    assert(from > r->commit);
#endif
    raft_log__truncate(&r->log, from);
    if (r->unstable > from) r->unstable = from;
    if (r->persisted >= from) r->persisted = from - 1;
    raft__pbatch_cap(r, from - 1);
    raft__conf_truncated(r, from);
}

static void ack(struct raft *r, raft_id to, uint64_t index)
{
    struct raft_msg *resp = raft__send(r, RAFT_MSG_APPEND_RESP, to, true);
    if (resp) resp->index = index;
}

/* §5.3 optimization: tell the leader where our log diverges so it skips a whole term per
 * round trip instead of one entry. */
static void reject(struct raft *r, const struct raft_msg *m, uint64_t prev)
{
    struct raft_msg *resp = raft__send(r, RAFT_MSG_APPEND_RESP, m->from, true);
    if (!resp) return;
    resp->reject = true;
    resp->index = m->index;
    uint64_t last = raft__last_index(r);
    if (prev > last) {
        resp->hint_index = last;
        resp->hint_term = 0;
        return;
    }
    resp->hint_term = raft_log__term_or0(&r->log, prev);
    /* Entries up to commit match the leader's, so the conflicting term starts above it. */
    uint64_t lo = (r->commit > r->log.offset ? r->commit : r->log.offset) + 1;
    resp->hint_index = lo <= prev ? raft_log__first_of_term(&r->log, lo, prev) : prev;
}

/* Appends src (whose first index is last+1 after any truncation). On out-of-memory it stops
 * early: a prefix of the leader's entries is a valid log. Returns the last index appended. */
static uint64_t append_entries(struct raft *r, const struct raft_entry *src, uint32_t n)
{
    uint32_t n_conf = 0;
    for (uint32_t i = 0; i < n; i++) n_conf += src[i].type == RAFT_ENTRY_CONF;
    if (raft_log__reserve(&r->log, n) || raft__conf_reserve(r, n_conf)) return raft__last_index(r);
    for (uint32_t i = 0; i < n; i++) {
        struct raft_entry e = src[i];
        if (e.len) {
            if (!(e.data = raft_log__alloc(&r->log, e.len))) break;
            memcpy(e.data, src[i].data, e.len);
        }
        raft_log__push(&r->log, &e);
        if (e.type == RAFT_ENTRY_CONF) {
            struct raft_config c;
            int rc = raft_conf_entry_decode(e.data, e.len, &c, NULL, NULL);
            assert(rc == 0); /* validated with the message */
            (void)rc;
            raft__conf_appended(r, e.index, &c);
        }
    }
    return raft__last_index(r);
}

void raft__step_append(struct raft *r, const struct raft_msg *m)
{
    uint64_t prev = m->index, prev_term = m->log_term;
    const struct raft_entry *ents = m->entries;
    uint32_t n = m->n_entries;
    if (prev < r->commit) {
        /* Entries up to our commit index are known to match (Leader Completeness); a late or
         * duplicated APPEND must not touch them. Keep only what lies above. */
        uint64_t skip = r->commit - prev;
        if (skip >= n) {
            ack(r, m->from, r->commit);
            return;
        }
        ents += skip;
        n -= (uint32_t)skip;
        prev = r->commit;
        prev_term = ents[-1].term;
    }
    uint64_t t;
    if (raft_log__term(&r->log, prev, &t) || t != prev_term) {
        reject(r, m, prev);
        return;
    }
    uint64_t last = raft__last_index(r);
    uint32_t i = 0;
#if RAFT_FAULT == 3
    /* Planted bug: drop everything after prev, even entries that match. */
    if (prev < last) raft__truncate(r, prev + 1);
#else
    /* Skip entries we already hold; truncate only at the first real conflict, so duplicated
     * or reordered APPENDs are harmless. */
    for (; i < n; i++) {
        uint64_t idx = prev + 1 + i;
        if (idx > last) break;
        if (raft_log__at(&r->log, idx)->term != ents[i].term) {
            raft__truncate(r, idx);
            break;
        }
    }
#endif
    uint64_t last_new = prev + n;
    if (i < n && append_entries(r, ents + i, n - i) < last_new) last_new = raft__last_index(r);
    uint64_t c = m->commit < last_new ? m->commit : last_new;
    if (c > r->commit) r->commit = c;
    ack(r, m->from, last_new);
}

void raft__step_heartbeat(struct raft *r, const struct raft_msg *m)
{
    /* The leader bounds the commit index by our match, so these entries are the leader's. */
    uint64_t c = m->commit, last = raft__last_index(r);
    if (c > last) c = last;
    if (c > r->commit) r->commit = c;
    struct raft_msg *resp = raft__send(r, RAFT_MSG_HEARTBEAT_RESP, m->from, false);
    if (resp) resp->ctx = m->ctx;
}

/* --- leader side ------------------------------------------------------------------------------ */

static void commit_to(struct raft *r, uint64_t c)
{
    uint64_t from = r->commit + 1 > r->term_start ? r->commit + 1 : r->term_start;
    for (uint64_t i = from; i <= c; i++) {
        uint32_t len = raft_log__at(&r->log, i)->len;
        r->uncommitted_bytes = r->uncommitted_bytes > len ? r->uncommitted_bytes - len : 0;
    }
    r->commit = c;
    raft__conf_committed(r); /* may append C_new or step down */
}

void raft__maybe_commit(struct raft *r)
{
    if (r->role != RAFT_LEADER) return;
    uint64_t q = raft__quorum(r, RAFT_Q_MATCH), last = raft__last_index(r);
    if (q > last) q = last;
    if (q <= r->commit) return;
#if RAFT_FAULT != 1
    /* Figure 8 / §3.6.2: only an entry of the current term is committed by counting
     * replicas; earlier entries are committed indirectly with it. */
    if (raft_log__term_or0(&r->log, q) != r->term) return;
#endif
    commit_to(r, q);
}

static void handle_reject(struct raft *r, struct progress *p, const struct raft_msg *m)
{
    /* Ignore rejections of APPENDs that are no longer the latest word. */
    if (p->state == RAFT_PROGRESS_REPLICATE) {
        if (m->index <= p->match) return;
    } else if (p->state != RAFT_PROGRESS_PROBE || m->index != p->next - 1) {
        return;
    }
    uint64_t next;
    if (m->hint_term == 0) {
        next = m->hint_index + 1;
    } else {
        uint64_t li = raft_log__last_of_term(&r->log, m->hint_term);
        next = li ? li + 1 : m->hint_index;
    }
    if (next > m->index) next = m->index;
    if (next <= p->match) next = p->match + 1;
    p->next = next;
    progress__become_probe(p);
}

void raft__step_append_resp(struct raft *r, const struct raft_msg *m)
{
    struct progress *p = raft__progress(r, m->from);
    if (!p) return;
    p->recent_active = true;
    if (m->reject) {
        handle_reject(r, p, m);
        return;
    }
    if (m->index > raft__last_index(r)) return; /* acknowledges what we never sent */
    bool updated = m->index > p->match;
    if (updated) p->match = m->index;
    if (p->next <= m->index) p->next = m->index + 1;
    switch (p->state) {
    case RAFT_PROGRESS_PROBE:
        if (m->index >= p->match) progress__become_replicate(p, r->o.max_inflight);
        break;
    case RAFT_PROGRESS_REPLICATE:
        progress__infl_free_to(p, m->index);
        break;
    case RAFT_PROGRESS_SNAPSHOT:
        if (p->match >= p->snap_index) progress__become_replicate(p, r->o.max_inflight);
        break;
    }
    if (!updated) return;
    raft__maybe_commit(r);
    if (r->role == RAFT_LEADER) raft__transfer_check(r, p);
}

void raft__bcast_heartbeat(struct raft *r)
{
    uint64_t round = ++r->round;
    raft__round_record(r, round);
    for (uint32_t i = 0; i < r->n_prs; i++) {
        struct progress *p = &r->prs[i];
        if (p->id == r->id) continue;
        struct raft_msg *m = raft__send(r, RAFT_MSG_HEARTBEAT, p->id, false);
        if (!m) continue;
        m->commit = p->match < r->commit ? p->match : r->commit;
        m->ctx = round;
        if (m->commit > p->sent_commit) p->sent_commit = m->commit;
    }
    /* §6.4: reads wait until this leader committed an entry of its term (then its commit
     * index is at least that of any earlier leader). */
    if (raft__term_committed(r)) raft__reads_assign(r, round);
    raft__reads_advance(r);
}

void raft__step_heartbeat_resp(struct raft *r, const struct raft_msg *m)
{
    struct progress *p = raft__progress(r, m->from);
    if (!p) return;
    p->recent_active = true;
    p->probe_sent = false; /* probe again: the previous probe may be lost */
    /* All in-flight APPENDs may be lost: free a slot so the next one reveals the gap. */
    if (p->state == RAFT_PROGRESS_REPLICATE && progress__infl_full(p)) progress__infl_free_first(p);
    if (p->match < raft__last_index(r) || p->state == RAFT_PROGRESS_PROBE) p->force_send = true;
    if (p->state == RAFT_PROGRESS_SNAPSHOT) p->snap_paused = false;
    if (m->ctx > p->read_ack && m->ctx <= r->round) {
        p->read_ack = m->ctx;
        uint64_t t = raft__round_tick(r, m->ctx);
        if (t > p->lease_tick) p->lease_tick = t;
        raft__reads_advance(r);
    }
}

/* --- sending (at flush time, so many proposals share one APPEND) -------------------------------
 */

static bool can_bump_commit(const struct raft *r, const struct progress *p)
{
    return r->commit > p->sent_commit && p->sent_commit < p->next - 1;
}

/* Sends one APPEND from p->next (entries batched up to max_msg_bytes, at least one). Returns
 * the last index it carries. */
static uint64_t send_append(struct raft *r, struct progress *p, bool with_entries)
{
    uint64_t prev = p->next - 1, prev_term, last = raft__last_index(r);
    if (raft_log__term(&r->log, prev, &prev_term)) return prev;
    uint32_t k = 0;
    uint64_t bytes = 0;
    while (with_entries && prev + k < last && k < RAFT_MAX_MSG_ENTRIES_LIMIT) {
        uint32_t len = raft_log__at(&r->log, prev + 1 + k)->len;
        if (k > 0 && bytes + len > r->o.max_msg_bytes) break;
        bytes += len;
        k++;
    }
    struct raft_msg *m = raft__send(r, RAFT_MSG_APPEND, p->id, false);
    if (m) {
        m->index = prev;
        m->log_term = prev_term;
        m->commit = r->commit;
        m->n_entries = k;
        m->entries = k ? raft_log__at(&r->log, prev + 1) : NULL;
        uint64_t sc = r->commit < prev + k ? r->commit : prev + k;
        if (sc > p->sent_commit) p->sent_commit = sc;
    }
    return prev + k;
}

static bool needs_snapshot(const struct raft *r, const struct progress *p)
{
    return p->state != RAFT_PROGRESS_SNAPSHOT && p->next <= r->log.offset;
}

static void send_to(struct raft *r, struct progress *p)
{
    if (needs_snapshot(r, p)) {
        /* A snapshot this peer installed as a follower may still be being written: wait. */
        if (!r->snap_durable) return;
        assert(r->snap.index >= r->log.offset);
        progress__become_snapshot(p, r->snap.index);
    }
    uint64_t last = raft__last_index(r);
    switch (p->state) {
    case RAFT_PROGRESS_PROBE:
        if (!p->probe_sent) {
            send_append(r, p, true);
            p->probe_sent = true;
        }
        break;
    case RAFT_PROGRESS_REPLICATE: {
        bool sent = false;
        while (p->next <= last && !progress__infl_full(p)) {
            uint64_t hi = send_append(r, p, true);
            if (hi < p->next) break; /* nothing could be sent (cannot happen: needs_snapshot) */
            progress__infl_add(p, hi);
            p->next = hi + 1;
            sent = true;
        }
        if (!sent && (p->force_send || can_bump_commit(r, p))) send_append(r, p, false);
        break;
    }
    case RAFT_PROGRESS_SNAPSHOT:
        raft__send_snapshot(r, p);
        break;
    }
    p->force_send = false;
}

void raft__flush(struct raft *r)
{
    if (r->role != RAFT_LEADER) return;
    for (uint32_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id != r->id) send_to(r, &r->prs[i]);
    if (raft__reads_unassigned(r) && raft__term_committed(r)) raft__bcast_heartbeat(r);
    raft__drop_departing(r, true);
}

static bool wants_send(const struct raft *r, const struct progress *p)
{
    if (needs_snapshot(r, p)) return r->snap_durable;
    switch (p->state) {
    case RAFT_PROGRESS_PROBE:
        return !p->probe_sent;
    case RAFT_PROGRESS_REPLICATE:
        return (p->next <= raft__last_index(r) && !progress__infl_full(p)) || p->force_send ||
               can_bump_commit(r, p);
    default:
        return raft__snapshot_pending(r, p);
    }
}

bool raft__flush_pending(const struct raft *r)
{
    if (r->role != RAFT_LEADER) return false;
    for (uint32_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id != r->id && wants_send(r, &r->prs[i])) return true;
    return raft__reads_unassigned(r) && raft__term_committed(r);
}
