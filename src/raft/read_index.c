/* read_index.c — linearizable reads without log writes: ReadIndex and the lease (§6.4). */
#include <stdlib.h>
#include <string.h>

#include "raft/raft_int.h"
#include "util/err.h"

/*
 * A leader answers a read with its commit index once (1) it has committed an entry of its own
 * term — before that its commit index may lag the cluster's — and (2) a quorum acknowledged a
 * heartbeat round that started after the read arrived, proving nobody else led meanwhile.
 * Every heartbeat broadcast is a round (HEARTBEAT.ctx); all reads waiting when it starts share
 * it, and an acknowledgement of round k confirms every round <= k. Rounds are assigned in
 * arrival order, so reads are released from the head of a FIFO.
 */

static int grow(void **v, uint32_t *cap, size_t elem, uint32_t need)
{
    if (need <= *cap) return 0;
    uint64_t c = *cap ? *cap * 2ull : 64;
    while (c < need) c *= 2;
    void *p = realloc(*v, (size_t)c * elem);
    if (!p) return CC_ENOMEM;
    *v = p;
    *cap = (uint32_t)c;
    return 0;
}

void raft__reads_free(struct raft *r)
{
    free(r->rq);
    free(r->fwd);
    r->rq = NULL;
    r->fwd = NULL;
    r->rq_cap = r->rq_head = r->rq_n = 0;
    r->fwd_cap = r->fwd_head = r->fwd_n = 0;
}

void raft__round_record(struct raft *r, uint64_t round)
{
    r->rounds[round % RAFT_ROUND_RING].round = round;
    r->rounds[round % RAFT_ROUND_RING].tick = r->ticks;
}

uint64_t raft__round_tick(const struct raft *r, uint64_t round)
{
    const struct raft_round *e = &r->rounds[round % RAFT_ROUND_RING];
    return e->round == round ? e->tick + 1 : 0;
}

/* §6.4.1: with check-quorum, a follower that heard from us ignores votes for election_tick of
 * its ticks, so a quorum of acknowledgements of a heartbeat sent at tick s keeps anyone else
 * from winning until about s + election_tick. Two ticks of margin cover tick phase; clock
 * rates are assumed to differ by less than that (bounded drift). */
static bool lease_valid(const struct raft *r)
{
    if (!r->o.lease_read || r->transferee || r->lease_void || !raft__term_committed(r))
        return false;
    uint64_t lt = raft__quorum(r, RAFT_Q_LEASE); /* send tick + 1, 0 = none */
    return lt > 0 && r->ticks + 2 < lt + r->o.election_tick;
}

static int rq_push(struct raft *r, uint64_t ctx, raft_id from)
{
    if (r->rq_n == r->rq_cap && r->rq_head > 0) {
        memmove(r->rq, r->rq + r->rq_head, (r->rq_n - r->rq_head) * sizeof(*r->rq));
        r->rq_n -= r->rq_head;
        r->rq_head = 0;
    }
    if (grow((void **)&r->rq, &r->rq_cap, sizeof(*r->rq), r->rq_n + 1)) return CC_ENOMEM;
    r->rq[r->rq_n++] = (struct raft_read_req){.ctx = ctx, .from = from};
    return 0;
}

static void answer_remote(struct raft *r, raft_id to, uint64_t ctx, uint64_t index, bool rej)
{
    struct raft_msg *m = raft__send(r, RAFT_MSG_READ_INDEX_RESP, to, false);
    if (!m) return;
    m->term = 0;
    m->ctx = ctx;
    m->index = index;
    m->reject = rej;
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
    assert(r);
    raft_out__prepare(&r->out);
    if (r->role == RAFT_LEADER) {
        uint32_t pending = r->rq_n - r->rq_head;
        if (pending >= r->o.max_pending_reads) return CC_EBUSY;
        /* Room for every local answer up front, so failing them later cannot fail. */
        if (raft_out__reserve_reads(&r->out, pending + 1)) return CC_ENOMEM;
        if (lease_valid(r)) {
            raft_out__read(&r->out, ctx, r->commit, 0);
            return 0;
        }
        return rq_push(r, ctx, RAFT_NONE); /* the next flush starts a round */
    }
    if (r->lead == RAFT_NONE) return CC_ENOLEADER;
    uint32_t pending = r->fwd_n - r->fwd_head;
    if (pending >= r->o.max_pending_reads) return CC_EBUSY;
    if (raft_out__reserve_reads(&r->out, pending + 1)) return CC_ENOMEM;
    if (r->fwd_n == r->fwd_cap && r->fwd_head > 0) {
        memmove(r->fwd, r->fwd + r->fwd_head, pending * sizeof(*r->fwd));
        r->fwd_n = pending;
        r->fwd_head = 0;
    }
    if (grow((void **)&r->fwd, &r->fwd_cap, sizeof(*r->fwd), r->fwd_n + 1)) return CC_ENOMEM;
    struct raft_msg *m = raft__send(r, RAFT_MSG_READ_INDEX, r->lead, false);
    if (!m) return CC_ENOMEM;
    m->term = 0;
    m->ctx = ctx;
    r->fwd[r->fwd_n++] = (struct raft_fwd_read){.ctx = ctx, .to = r->lead};
    return 0;
}

void raft__step_read_index(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_LEADER || r->rq_n - r->rq_head >= r->o.max_pending_reads) {
        answer_remote(r, m->from, m->ctx, 0, true);
        return;
    }
    if (lease_valid(r)) {
        answer_remote(r, m->from, m->ctx, r->commit, false);
        return;
    }
    if (rq_push(r, m->ctx, m->from)) answer_remote(r, m->from, m->ctx, 0, true);
}

void raft__step_read_index_resp(struct raft *r, const struct raft_msg *m)
{
    /* Answers come back in the order we asked; search from the oldest. */
    for (uint32_t i = r->fwd_head; i < r->fwd_n; i++) {
        if (r->fwd[i].ctx != m->ctx || r->fwd[i].to != m->from) continue;
        raft_out__read(&r->out, m->ctx, m->reject ? 0 : m->index, m->reject ? CC_ECANCELED : 0);
        if (i == r->fwd_head) {
            r->fwd_head++;
        } else {
            memmove(r->fwd + i, r->fwd + i + 1, (r->fwd_n - i - 1) * sizeof(*r->fwd));
            r->fwd_n--;
        }
        if (r->fwd_head == r->fwd_n) r->fwd_head = r->fwd_n = 0;
        return;
    }
}

bool raft__reads_unassigned(const struct raft *r)
{
    return r->rq_n > r->rq_head && r->rq[r->rq_n - 1].round == 0;
}

void raft__reads_assign(struct raft *r, uint64_t round)
{
    for (uint32_t i = r->rq_n; i > r->rq_head && r->rq[i - 1].round == 0; i--) {
        r->rq[i - 1].round = round;
        r->rq[i - 1].index = r->commit;
    }
}

void raft__reads_advance(struct raft *r)
{
    if (r->rq_head == r->rq_n) return;
    uint64_t confirmed = raft__quorum(r, RAFT_Q_READ);
    while (r->rq_head < r->rq_n) {
        const struct raft_read_req *q = &r->rq[r->rq_head];
        if (q->round == 0 || q->round > confirmed) break;
        if (q->from == RAFT_NONE)
            raft_out__read(&r->out, q->ctx, q->index, 0);
        else
            answer_remote(r, q->from, q->ctx, q->index, false);
        r->rq_head++;
    }
    if (r->rq_head == r->rq_n) r->rq_head = r->rq_n = 0;
}

void raft__reads_fail_leader(struct raft *r, int status)
{
    for (uint32_t i = r->rq_head; i < r->rq_n; i++) {
        const struct raft_read_req *q = &r->rq[i];
        if (q->from == RAFT_NONE)
            raft_out__read(&r->out, q->ctx, 0, status);
        else
            answer_remote(r, q->from, q->ctx, 0, true);
    }
    r->rq_head = r->rq_n = 0;
}

void raft__reads_fail_forwarded(struct raft *r, int status)
{
    for (uint32_t i = r->fwd_head; i < r->fwd_n; i++)
        raft_out__read(&r->out, r->fwd[i].ctx, 0, status);
    r->fwd_head = r->fwd_n = 0;
}
