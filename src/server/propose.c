/* propose.c — the write path: client session slots, proposals, retries and deadlines. */
#include <stdlib.h>
#include <string.h>

#include "server/member.h"
#include "util/buf.h"
#include "util/err.h"

/* etcd's request timeout: 5 s plus two election timeouts. */
static uint64_t request_timeout_ms(const struct member *m)
{
    return 5000 + 2ull * m->cfg.election_ms;
}

void member__writes_init(struct member *m)
{
    m->free_slots = NULL;
    for (uint32_t i = MEMBER_MAX_PENDING; i-- > 0;) {
        struct pending *p = &m->slots[i];
        memset(p, 0, sizeof(*p));
        p->slot = i;
        p->next_free = m->free_slots;
        m->free_slots = p;
    }
    /* Client IDs of this process's session slots: a fresh random range per start, so a
     * restarted member never collides with the sessions of its previous life. */
    m->session_base = (rng_next(&m->rng) | 1ull << 63) & ~(uint64_t)0xffff;
}

static void propose(struct member *m, struct pending *p)
{
    p->proposed_term = m->term;
    p->retry_ms = member__now_ms() + 2ull * m->cfg.election_ms;
    int rc = raft_propose(m->raft, p->entry, p->entry_len, NULL);
    if (rc == 0) return;
    /* Not proposed now (no leader, transfer, back-pressure): housekeeping retries it until its
     * deadline, or until it has been without a leader for too long. */
    p->proposed_term = 0;
    p->retry_ms = member__now_ms() + m->cfg.heartbeat_ms;
}

static void release_slot(struct member *m, struct pending *p)
{
    free(p->entry);
    p->entry = NULL;
    p->used = false;
    p->cb = NULL;
    p->next_free = m->free_slots;
    m->free_slots = p;
    m->n_pending--;
}

static int start_write(struct member *m, struct pending *p, const struct kv_cmd *cmd,
                       uint64_t start_ms, uint64_t deadline_ms, srv_write_fn cb, void *arg)
{
    struct kv_cmd c = *cmd;
    c.has_session = true;
    c.client_id = m->session_base + p->slot;
    c.seq = p->seq + 1;
    struct buf b;
    buf_init(&b, KV_CMD_MAX);
    int rc = kv_cmd_encode(&c, &b);
    if (rc) {
        buf_free(&b);
        return rc;
    }
    m->free_slots = p->next_free;
    p->next_free = NULL;
    p->used = true;
    p->seq = c.seq;
    p->entry = b.data;
    p->entry_len = (uint32_t)b.len;
    p->start_ms = start_ms;
    p->deadline_ms = deadline_ms;
    p->cb = cb;
    p->arg = arg;
    m->n_pending++;
    propose(m, p);
    return 0;
}

/* Moves queued writes into free slots. A queued write is kept encoded without a session. */
static void drain_queue(struct member *m)
{
    while (m->wq_head && m->free_slots && !m->stopped) {
        struct queued_write *q = m->wq_head;
        m->wq_head = q->next;
        if (!m->wq_head) m->wq_tail = NULL;
        m->n_queued--;
        struct kv_arena a = {0};
        struct kv_cmd c;
        int rc = kv_cmd_decode(q->cmd, q->cmd_len, &a, &c, NULL);
        if (rc == 0)
            rc = start_write(m, m->free_slots, &c, q->start_ms, q->deadline_ms, q->cb, q->arg);
        kv_arena_free(&a);
        if (rc) {
            m->proposals_failed++;
            q->cb(q->arg, rc, NULL);
        }
        free(q->cmd);
        free(q);
    }
}

int srv_write(struct member *m, const struct kv_cmd *cmd, srv_write_fn cb, void *arg, int *msg)
{
    return member__write(m, cmd, cb, arg, msg, false);
}

int member__write(struct member *m, const struct kv_cmd *cmd, srv_write_fn cb, void *arg, int *msg,
                  bool internal)
{
    int kmsg = 0;
    if (msg) *msg = 0;
    if (m->stopped) return CC_ESTOPPED;
    if (!internal && (cmd->type == KV_CMD_META_PUT || cmd->type == KV_CMD_META_DELETE))
        return CC_EINVAL;
    int rc = kv_cmd_check(cmd, &kmsg);
    if (rc) {
        if (msg) *msg = kmsg;
        return rc;
    }
    if (!internal) {
        rc = member__quota_check(m, cmd);
        if (rc) return rc;
    }
    if (m->persist_backlog > MEMBER_PERSIST_BACKLOG) return CC_EBUSY;
    uint64_t now = member__now_ms(), deadline = now + request_timeout_ms(m);
    if (m->free_slots && !m->wq_head)
        return start_write(m, m->free_slots, cmd, now, deadline, cb, arg);
    if (m->n_queued >= MEMBER_MAX_QUEUED) return CC_EBUSY;
    struct queued_write *q = calloc(1, sizeof(*q));
    if (!q) return CC_ENOMEM;
    struct buf b;
    buf_init(&b, KV_CMD_MAX);
    struct kv_cmd c = *cmd;
    c.has_session = false;
    rc = kv_cmd_encode(&c, &b);
    if (rc) {
        free(q);
        buf_free(&b);
        return rc;
    }
    q->cmd = b.data;
    q->cmd_len = (uint32_t)b.len;
    q->start_ms = now;
    q->deadline_ms = deadline;
    q->cb = cb;
    q->arg = arg;
    if (m->wq_tail)
        m->wq_tail->next = q;
    else
        m->wq_head = q;
    m->wq_tail = q;
    m->n_queued++;
    return 0;
}

void member__write_applied(struct member *m, uint64_t client_id, uint64_t seq,
                           const struct kv_result *res)
{
    if (client_id < m->session_base || client_id - m->session_base >= MEMBER_MAX_PENDING) return;
    struct pending *p = &m->slots[client_id - m->session_base];
    if (!p->used || p->seq != seq) return; /* a duplicate of something already answered */
    srv_write_fn cb = p->cb;
    void *arg = p->arg;
    release_slot(m, p);
    m->proposals_committed++;
    cb(arg, 0, res);
    drain_queue(m);
}

void member__writes_tick(struct member *m, uint64_t now_ms)
{
    /* Expire queued writes first (they never reached Raft). Unlink them all before calling
     * back: a callback may queue a new write. */
    struct queued_write *expired = NULL, **qp = &m->wq_head;
    m->wq_tail = NULL;
    while (*qp) {
        struct queued_write *q = *qp;
        if (now_ms >= q->deadline_ms || member__leaderless_too_long(m, q->start_ms, now_ms)) {
            *qp = q->next;
            m->n_queued--;
            q->next = expired;
            expired = q;
            continue;
        }
        m->wq_tail = q;
        qp = &q->next;
    }
    while (expired) {
        struct queued_write *q = expired;
        expired = q->next;
        m->proposals_failed++;
        q->cb(q->arg, m->leader ? CC_ETIMEDOUT : CC_ENOLEADER, NULL);
        free(q->cmd);
        free(q);
    }

    struct raft_status st;
    raft_status(m->raft, &st);
    for (uint32_t i = 0; i < MEMBER_MAX_PENDING; i++) {
        struct pending *p = &m->slots[i];
        if (!p->used) continue;
        /* Also a write proposed (or forwarded) while a leader was known: a client of a member
         * cut off from the majority gets CLUSTERDOWN, not the full request timeout. */
        if (now_ms >= p->deadline_ms || member__leaderless_too_long(m, p->start_ms, now_ms)) {
            srv_write_fn cb = p->cb;
            void *arg = p->arg;
            int err = m->leader ? CC_ETIMEDOUT : CC_ENOLEADER;
            if (err == CC_ETIMEDOUT)
                log_warn(&m->log,
                         "a write timed out (last proposed at term %llu, now term %llu; "
                         "applied %llu of commit %llu)",
                         (unsigned long long)p->proposed_term, (unsigned long long)m->term,
                         (unsigned long long)st.applied, (unsigned long long)st.commit);
            release_slot(m, p);
            m->proposals_failed++;
            cb(arg, err, NULL);
            continue;
        }
        /* Re-propose a write that may have been lost (a forward dropped, a leader gone). While
         * this member has not applied everything it knows to be committed, the write may
         * simply be waiting in that part of the log, so it is retried then only when it never
         * reached Raft, when the term changed since (the leader it went to may have taken it
         * down with it), or when it is overdue by two more intervals: a member that stays a
         * little behind under load (a follower whose disk lags the leader's commit) must not
         * leave a lost write to time out. The state machine's session check makes a duplicate
         * harmless (applied once, answered from memory). */
        if (now_ms >= p->retry_ms && m->leader) {
            bool overdue = now_ms >= p->retry_ms + 2ull * m->cfg.election_ms;
            if (st.applied >= st.commit || p->proposed_term != m->term || overdue) propose(m, p);
        }
    }
    drain_queue(m);
}

void member__writes_fail_all(struct member *m, int err)
{
    for (uint32_t i = 0; i < MEMBER_MAX_PENDING; i++) {
        struct pending *p = &m->slots[i];
        if (!p->used) continue;
        srv_write_fn cb = p->cb;
        void *arg = p->arg;
        release_slot(m, p);
        m->proposals_failed++;
        cb(arg, err, NULL);
    }
    struct queued_write *q = m->wq_head;
    m->wq_head = m->wq_tail = NULL;
    m->n_queued = 0;
    while (q) {
        struct queued_write *next = q->next;
        m->proposals_failed++;
        q->cb(q->arg, err, NULL);
        free(q->cmd);
        free(q);
        q = next;
    }
}
