/* transfer.c — leadership transfer (§3.10): catch the target up, then TIMEOUT_NOW. */
#include "raft/raft_int.h"
#include "util/err.h"

/* Only a voter of the incoming configuration may be handed leadership. */
static bool incoming_voter(const struct raft *r, raft_id id)
{
    for (uint32_t i = 0; i < r->cfg.n_voters; i++)
        if (r->cfg.voters[i] == id) return true;
    return false;
}

static void send_timeout_now(struct raft *r, raft_id to)
{
    raft__send(r, RAFT_MSG_TIMEOUT_NOW, to, false);
    /* The target may now win an election that bypasses every lease (VOTE.ctx = 1), possibly
     * after we gave up waiting: no lease reads for the rest of this term. */
    r->lease_void = true;
}

void raft__transfer_start(struct raft *r, raft_id to)
{
    struct progress *p = raft__progress(r, to);
    assert(r->role == RAFT_LEADER && p);
    r->transferee = to;
    /* The attempt is abandoned after one election timeout (checked in the leader's tick). */
    r->election_elapsed = 0;
    if (p->match == raft__last_index(r)) {
        send_timeout_now(r, to);
    } else {
        p->force_send = true;
        p->probe_sent = false;
    }
}

void raft__transfer_abort(struct raft *r)
{
    r->transferee = RAFT_NONE;
}

void raft__transfer_check(struct raft *r, const struct progress *p)
{
    if (r->transferee == p->id && p->match == raft__last_index(r)) send_timeout_now(r, p->id);
}

int raft_transfer_leadership(struct raft *r, raft_id to)
{
    assert(r);
    raft_out__prepare(&r->out);
    if (to == RAFT_NONE || to == r->id) return CC_EINVAL;
    if (r->role == RAFT_LEADER) {
        if (r->transferee) return CC_ETRANSFER;
        if (!incoming_voter(r, to)) return CC_EINVAL;
        raft__transfer_start(r, to);
        return 0;
    }
    if (r->lead == RAFT_NONE) return CC_ENOLEADER;
    if (!incoming_voter(r, to)) return CC_EINVAL;
    struct raft_msg *m = raft__send(r, RAFT_MSG_TRANSFER_LEADER, r->lead, false);
    if (!m) return CC_ENOMEM;
    m->term = 0;
    m->index = to;
    return 0;
}

void raft__step_transfer_leader(struct raft *r, const struct raft_msg *m)
{
    raft_id to = m->index;
    if (r->role != RAFT_LEADER || r->transferee || to == r->id || !incoming_voter(r, to)) return;
    raft__transfer_start(r, to);
}

void raft__step_timeout_now(struct raft *r, const struct raft_msg *m)
{
    /* The leader asked us to take over: campaign at once, skipping pre-vote, and mark the
     * votes as a transfer so followers inside the leader's lease still answer. */
    if (r->role == RAFT_LEADER || !raft__promotable(r)) return;
    raft__campaign(r, true);
}
