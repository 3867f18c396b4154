/* node.c — the Raft driver: ticks, peer messages, and each update handled per raft.h's contract. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/member.h"
#include "server/members.h"
#include "server/persist.h"
#include "server/snapshot.h"
#include "util/clock.h"
#include "util/err.h"

uint64_t member__now_ms(void)
{
    return clock_mono_ms();
}

bool member__leaderless_too_long(const struct member *m, uint64_t start_ms, uint64_t now_ms)
{
    if (m->leader || !m->leaderless_since_ms) return false;
    uint64_t from = start_ms > m->leaderless_since_ms ? start_ms : m->leaderless_since_ms;
    return now_ms >= from + 3ull * m->cfg.election_ms;
}

void member__kick(struct member *m)
{
    /* The prepare handler runs before the loop next waits, after every callback of this
     * iteration, so work queued in Raft is always picked up; nothing to do. Kept as the one
     * place to hook if that changes. */
    (void)m;
}

void member__fail(struct member *m, const char *fmt, ...)
{
    if (m->stopped) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->fatal, sizeof(m->fatal), fmt, ap);
    va_end(ap);
    m->stopped = true;
    log_error(&m->log,
              "fatal: %s; this member stops taking part in Raft and accepts no writes "
              "(restart it once the cause is fixed: nothing acknowledged is lost)",
              m->fatal);
    uv_timer_stop(&m->tick);
    member__writes_fail_all(m, CC_ESTOPPED);
    member__reads_fail_all(m, CC_ESTOPPED);
}

/* Only exists to keep the loop from blocking while work is left; prepare does the work. */
static void on_idle_cb(uv_idle_t *h)
{
    (void)h;
}

int member__defer(struct member *m, void (*fn)(struct member *m, void *arg), void *arg)
{
    struct deferred *d = malloc(sizeof(*d));
    if (!d) return CC_ENOMEM;
    d->next = NULL;
    d->fn = fn;
    d->arg = arg;
    if (m->defer_tail)
        m->defer_tail->next = d;
    else
        m->defer_head = d;
    m->defer_tail = d;
    /* Make sure the loop comes round even if nothing else happens. */
    if (!uv_is_active((uv_handle_t *)&m->idle)) uv_idle_start(&m->idle, on_idle_cb);
    return 0;
}

void member__run_deferred(struct member *m)
{
    /* Only what was queued before this turn: callbacks may defer more for the next one. */
    struct deferred *d = m->defer_head;
    m->defer_head = m->defer_tail = NULL;
    while (d) {
        struct deferred *next = d->next;
        d->fn(m, d->arg);
        free(d);
        d = next;
    }
}

/* ---- outgoing messages ---- */

static void send_msg(struct member *m, const struct raft_msg *msg)
{
    if (msg->type == RAFT_MSG_SNAPSHOT && msg->len > 0 && !msg->data) {
        /* The core leaves snapshot bytes to us: attach [offset, offset+len) of our file. */
        struct raft_msg copy = *msg;
        uint8_t *buf = NULL;
        int rc = member__snapshot_chunk(m, msg->snap.index, msg->offset, msg->len, &buf);
        if (rc) {
            log_warn(&m->log, "cannot send snapshot %llu to %llx: %s",
                     (unsigned long long)msg->snap.index, (unsigned long long)msg->to,
                     cc_strerror(rc));
            raft_report_snapshot_failed(m->raft, msg->to);
            return;
        }
        copy.data = buf;
        rc = transport_send(m->tp, &copy);
        free(buf);
        if (rc == CC_ENOTFOUND) raft_report_snapshot_failed(m->raft, msg->to);
        return;
    }
    int rc = transport_send(m->tp, msg);
    if (rc == CC_ENOTFOUND) raft_report_unreachable(m->raft, msg->to);
}

/* ---- soft state ---- */

static void on_soft_state(struct member *m, const struct raft_update *u)
{
    enum raft_role old_role = m->role;
    uint64_t old_leader = m->leader;
    m->role = u->role;
    m->term = u->term;
    m->leader = u->leader;
    if (u->role != old_role) {
        log_info(&m->log, "became %s at term %llu", raft_role_name(u->role),
                 (unsigned long long)u->term);
        if (u->role == RAFT_LEADER)
            kv_lease_promote(m->kv, member__now_ms());
        else if (old_role == RAFT_LEADER)
            kv_lease_demote(m->kv);
    }
    if (u->leader != old_leader) {
        if (u->leader) {
            m->leaderless_since_ms = 0;
            m->leader_changes++;
            log_info(&m->log, "leader is %016llx at term %llu", (unsigned long long)u->leader,
                     (unsigned long long)u->term);
        } else {
            m->leaderless_since_ms = member__now_ms(); /* requests' no-leader limit */
            log_info(&m->log, "lost leader at term %llu", (unsigned long long)u->term);
        }
        members__on_leader(m);
    }
}

/* ---- one update ---- */

static bool needs_persist(const struct raft_update *u)
{
    return u->n_snap_chunks || u->snapshot_ready || u->n_entries || u->hs_changed ||
           u->n_msgs_after_persist || u->persist_report;
}

static void handle_update(struct member *m, struct raft_update *u)
{
    if (u->soft_changed) on_soft_state(m, u);

    /* 1. Persist (asynchronously, in order) — acknowledgements wait for it. */
    if (needs_persist(u)) {
        struct persist_job *j = persist_job_from_update(u);
        if (!j) {
            member__fail(m, "out of memory queueing a Raft update for disk");
            return;
        }
        m->persist_backlog += j->bytes;
        persist_submit(m->persist, j);
    }
    /* 2. Messages that need nothing durable go out now (§10.2.1). */
    for (uint32_t i = 0; i < u->n_msgs; i++) send_msg(m, &u->msgs[i]);

    /* Keep the read states: applying may call back into Raft and invalidate u. */
    struct raft_read_state rs_local[16];
    struct raft_read_state *rs = rs_local;
    uint32_t n_reads = u->n_reads;
    if (n_reads > 16) {
        rs = malloc(n_reads * sizeof(*rs));
        if (!rs) {
            member__fail(m, "out of memory handling read states");
            return;
        }
    }
    if (n_reads) memcpy(rs, u->reads, n_reads * sizeof(*rs));

    /* 3. Apply committed entries (the core hands out only locally durable ones). */
    if (u->n_committed) {
        int rc = member__apply(m, u->committed, u->n_committed);
        if (rc)
            member__fail(m, "applying entries to the store: %s (%s)", cc_strerror(rc),
                         kv_errmsg(m->kv));
    }
    /* 4. Read states. */
    for (uint32_t i = 0; i < n_reads && !m->stopped; i++) member__reads_on_state(m, &rs[i]);
    if (rs != rs_local) free(rs);
}

/* Runs once per loop iteration, after every callback of the iteration: so many messages and
 * proposals that arrived together become one update and one disk write. */
static void on_prepare(uv_prepare_t *h)
{
    struct member *m = h->data;
    int rounds = 0;
    while (!m->stopped && raft_has_update(m->raft) && rounds++ < 64) {
        struct raft_update u;
        if (!raft_get_update(m->raft, &u)) break;
        handle_update(m, &u);
    }
    member__run_deferred(m);
    if (!m->stopped) {
        member__reads_start_round(m);
        member__snapshot_maybe(m);
    }
    /* Work left after a bounded number of rounds: poll for I/O without blocking, then return
     * here, so a flood of updates cannot starve the sockets. */
    bool more = (!m->stopped && raft_has_update(m->raft)) || m->defer_head;
    if (more && !uv_is_active((uv_handle_t *)&m->idle))
        uv_idle_start(&m->idle, on_idle_cb);
    else if (!more && uv_is_active((uv_handle_t *)&m->idle))
        uv_idle_stop(&m->idle);
}

/* ---- persistence completions ---- */

static void on_persisted(uv_async_t *h)
{
    struct member *m = h->data;
    struct persist_job *j = persist_take_done(m->persist);
    while (j) {
        struct persist_job *next = j->next;
        m->persist_backlog -= j->bytes < m->persist_backlog ? j->bytes : m->persist_backlog;
        if (j->save_us) hist_add(&m->wal_fsync_us, j->save_us);
        if (j->rc && !m->stopped) member__fail(m, "%s", j->errmsg);
        if (!m->stopped) {
            switch (j->kind) {
            case PERSIST_UPDATE:
                if (j->snapshot_ready) {
                    int rc = member__snapshot_installed(m, &j->snap_out);
                    if (rc) break;
                }
                for (uint32_t i = 0; i < j->n_msgs_after; i++) send_msg(m, &j->msgs_after[i]);
                if (j->report) raft_persisted(m->raft, j->last_index, j->last_term);
                break;
            case PERSIST_SNAPSHOT:
                member__snapshot_taken(m, j);
                break;
            case PERSIST_RELEASE:
            case PERSIST_META:
                break;
            }
        }
        if (j->kind == PERSIST_SNAPSHOT && j->kv_snap) {
            kv_snapshot_close(j->kv_snap);
            j->kv_snap = NULL;
            m->snapshot_in_progress = false;
        }
        persist_job_free(j);
        j = next;
    }
}

/* ---- peers ---- */

static void on_deliver(void *ud, const struct raft_msg *msg)
{
    struct member *m = ud;
    if (m->stopped) return;
    members__note_sender(m, msg->from);
    int rc = raft_step(m->raft, msg);
    if (rc && rc != CC_EPROTO)
        log_debug(&m->log, "dropped %s from %016llx: %s", raft_msg_type_name(msg->type),
                  (unsigned long long)msg->from, cc_strerror(rc));
}

static void on_report(void *ud, raft_id peer, bool snapshot_failed)
{
    struct member *m = ud;
    if (m->stopped) return;
    raft_report_unreachable(m->raft, peer);
    if (snapshot_failed) raft_report_snapshot_failed(m->raft, peer);
}

static void on_tick(uv_timer_t *t)
{
    struct member *m = t->data;
    if (!m->stopped) raft_tick(m->raft);
}

int member__node_start(struct member *m)
{
    struct transport_options to;
    transport_options_default(&to);
    to.id = m->cfg.member_id;
    to.cluster_id = m->cfg.cluster_id;
    to.listen_url = m->cfg.listen_peer_urls.v[0].text;
    to.seed = rng_next(&m->rng);
    to.deliver_cb = on_deliver;
    to.report_cb = on_report;
    to.ud = m;
    int rc = transport_new(m->loop, &m->log, &to, &m->tp);
    if (rc) {
        log_error(&m->log, "cannot listen for peers on %s: %s", to.listen_url, cc_strerror(rc));
        return rc;
    }
    members__connect_peers(m);

    uv_async_init(m->loop, &m->persist_async, on_persisted);
    m->persist_async.data = m;
    rc = persist_start(&m->persist, m->st, &m->persist_async);
    if (rc) return rc;

    uv_idle_init(m->loop, &m->idle);
    uv_prepare_init(m->loop, &m->prepare);
    m->prepare.data = m;
    uv_prepare_start(&m->prepare, on_prepare);
    m->leaderless_since_ms = m->leader ? 0 : member__now_ms();
    uv_timer_init(m->loop, &m->tick);
    m->tick.data = m;
    uv_timer_start(&m->tick, on_tick, m->cfg.heartbeat_ms, m->cfg.heartbeat_ms);
    return 0;
}

static void on_tp_closed(void *ud)
{
    (void)ud;
}

void member__node_stop(struct member *m)
{
    uv_timer_stop(&m->tick);
    uv_close((uv_handle_t *)&m->tick, NULL);
    uv_prepare_stop(&m->prepare);
    uv_close((uv_handle_t *)&m->prepare, NULL);
    uv_idle_stop(&m->idle);
    uv_close((uv_handle_t *)&m->idle, NULL);
    if (m->tp) transport_close(m->tp, on_tp_closed, m);
    m->tp = NULL;
    /* Finish what is queued for disk, then take the completions (nothing more is sent). */
    persist_stop(m->persist);
    m->persist = NULL;
    uv_close((uv_handle_t *)&m->persist_async, NULL);
}
