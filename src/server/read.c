/* read.c — the read path: linearizable reads through shared read-index rounds (Raft §6.4),
 * serializable reads from the local store. */
#include <stdlib.h>

#include "server/member.h"
#include "util/err.h"

static uint64_t read_timeout_ms(const struct member *m)
{
    return 5000 + 2ull * m->cfg.election_ms;
}

/* Lists: next_* waits for a round; batches are rounds in flight; ready_* knows its index and
 * waits for apply. Serializable reads go straight to ready with index 0. */

static void push(struct read_wait **head, struct read_wait **tail, struct read_wait *r)
{
    r->next = NULL;
    if (*tail)
        (*tail)->next = r;
    else
        *head = r;
    *tail = r;
}

static void finish(struct member *m, struct read_wait *r, int err)
{
    m->n_reads--;
    srv_read_fn cb = r->cb;
    void *arg = r->arg;
    free(r);
    cb(arg, err);
}

int srv_read_barrier(struct member *m, bool serializable, srv_read_fn cb, void *arg)
{
    if (m->stopped && !serializable) return CC_ESTOPPED;
    if (m->n_reads >= MEMBER_MAX_READS) return CC_EBUSY;
    struct read_wait *r = calloc(1, sizeof(*r));
    if (!r) return CC_ENOMEM;
    r->cb = cb;
    r->arg = arg;
    r->start_ms = member__now_ms();
    r->deadline_ms = r->start_ms + read_timeout_ms(m);
    m->n_reads++;
    if (serializable)
        push(&m->ready_head, &m->ready_tail, r); /* index 0: served next turn */
    else
        push(&m->next_head, &m->next_tail, r);
    return 0;
}

struct kv *srv_kv(struct member *m)
{
    return m->kv;
}

void member__reads_on_applied(struct member *m)
{
    /* Read indexes only grow from round to round, so the queue is served in order. */
    while (m->ready_head && m->ready_head->index <= m->applied) {
        struct read_wait *r = m->ready_head;
        m->ready_head = r->next;
        if (!m->ready_head) m->ready_tail = NULL;
        finish(m, r, 0);
    }
}

void member__reads_start_round(struct member *m)
{
    member__reads_on_applied(m);
    if (!m->next_head || m->stopped) return;
    struct read_batch *b = calloc(1, sizeof(*b));
    if (!b) return; /* retried next turn; deadlines still apply */
    b->ctx = ++m->next_read_ctx;
    int rc = raft_read_index(m->raft, b->ctx);
    if (rc) {
        /* No leader or too many reads in the core: wait (the deadline fails them). */
        free(b);
        return;
    }
    b->head = m->next_head;
    b->tail = m->next_tail;
    m->next_head = m->next_tail = NULL;
    b->next = m->batches;
    m->batches = b;
}

void member__reads_on_state(struct member *m, const struct raft_read_state *rs)
{
    struct read_batch **bp = &m->batches;
    while (*bp && (*bp)->ctx != rs->ctx) bp = &(*bp)->next;
    struct read_batch *b = *bp;
    if (!b) return; /* a round we gave up on */
    *bp = b->next;
    struct read_wait *r = b->head;
    free(b);
    if (rs->status == 0) {
        while (r) {
            struct read_wait *next = r->next;
            r->index = rs->index;
            push(&m->ready_head, &m->ready_tail, r);
            r = next;
        }
        member__reads_on_applied(m);
        return;
    }
    /* The round died with a leader (lost, deposed, transferred): the reads join the next
     * round, which starts once a leader is known again. A read is idempotent and a later round
     * only gives a later read index, so this stays linearizable; the deadlines (and the
     * no-leader limit) still bound the wait. */
    bool retry =
        rs->status == CC_ENOLEADER || rs->status == CC_ECANCELED || rs->status == CC_ETRANSFER;
    while (r) {
        struct read_wait *next = r->next;
        if (retry && !m->stopped && !m->closing)
            push(&m->next_head, &m->next_tail, r);
        else
            finish(m, r, rs->status);
        r = next;
    }
}

/* Removes expired reads from a list into *out (m NULL: all of them). A read without a
 * leader for too long of its life expires too (member__leaderless_too_long). */
static void expire_list(const struct member *m, struct read_wait **head, struct read_wait **tail,
                        uint64_t now, struct read_wait **out)
{
    struct read_wait **rp = head;
    *tail = NULL;
    while (*rp) {
        struct read_wait *r = *rp;
        if (!m || now >= r->deadline_ms || member__leaderless_too_long(m, r->start_ms, now)) {
            *rp = r->next;
            r->next = *out;
            *out = r;
            continue;
        }
        *tail = r;
        rp = &r->next;
    }
}

void member__reads_tick(struct member *m, uint64_t now_ms)
{
    struct read_wait *expired = NULL;
    expire_list(m, &m->next_head, &m->next_tail, now_ms, &expired);
    expire_list(m, &m->ready_head, &m->ready_tail, now_ms, &expired);
    for (struct read_batch *b = m->batches; b; b = b->next)
        expire_list(m, &b->head, &b->tail, now_ms, &expired);
    /* Rounds whose reads all expired are forgotten; a late answer finds nothing. */
    struct read_batch **bp = &m->batches;
    while (*bp) {
        if (!(*bp)->head) {
            struct read_batch *b = *bp;
            *bp = b->next;
            free(b);
            continue;
        }
        bp = &(*bp)->next;
    }
    int err = m->leader ? CC_ETIMEDOUT : CC_ENOLEADER;
    while (expired) {
        struct read_wait *r = expired;
        expired = r->next;
        finish(m, r, err);
    }
}

void member__reads_fail_all(struct member *m, int err)
{
    struct read_wait *all = NULL;
    expire_list(NULL, &m->next_head, &m->next_tail, 0, &all);
    expire_list(NULL, &m->ready_head, &m->ready_tail, 0, &all);
    while (m->batches) {
        struct read_batch *b = m->batches;
        m->batches = b->next;
        expire_list(NULL, &b->head, &b->tail, 0, &all);
        free(b);
    }
    while (all) {
        struct read_wait *r = all;
        all = r->next;
        finish(m, r, err);
    }
}
