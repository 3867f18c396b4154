/* election.c — leader election (§3.4), the election restriction (§3.6.1) and pre-vote (§9.6). */
#include "raft/raft_int.h"
#include "util/err.h"

enum vote_result { VOTE_PENDING, VOTE_WON, VOTE_LOST };

bool raft__promotable(const struct raft *r)
{
    /* Learners and peers outside the configuration never campaign (a removed server must not
     * disrupt the cluster, §4.2.3). Outgoing voters of a joint configuration still do. */
    if (raft_config_is_voter(&r->cfg, r->id)) return true;
    /* §4.2.2: a voter whose removal is in its log but not known committed may still be needed
     * to commit it (it may hold the only up-to-date log of the old majority): it campaigns,
     * without counting its own vote, until it learns the removal committed. */
    return r->conf_index > r->commit && r->conf_index > r->log.offset &&
           raft_config_is_voter(raft__config_at(r, r->conf_index - 1), r->id);
}

bool raft__in_lease(const struct raft *r)
{
    if (!r->o.check_quorum && !r->o.pre_vote) return false;
    if (r->role == RAFT_LEADER) return true;
    /* A peer that restarted cannot know whether it promised a lease (lease_read): it keeps
     * one election timeout of silence before helping anyone win. */
    if (r->o.lease_read && r->ticks < r->o.election_tick) return true;
    return r->lead != RAFT_NONE && r->election_elapsed < r->o.election_tick;
}

void raft__tick_election(struct raft *r)
{
    if (r->election_elapsed < UINT32_MAX) r->election_elapsed++;
    /* A single voter that won waits for its disk; a new election would not be faster. */
    if (r->await_vote) return;
    if (r->election_elapsed >= r->randomized_timeout && raft__promotable(r)) {
        r->election_elapsed = 0;
        raft__campaign(r, false);
    }
}

static enum vote_result tally_set(const struct raft *r, bool out)
{
    uint32_t n = 0, yes = 0, no = 0;
    for (uint32_t i = 0; i < r->n_prs; i++) {
        const struct progress *p = &r->prs[i];
        if (!(out ? p->voter_out : p->voter)) continue;
        n++;
        yes += p->vote > 0;
        no += p->vote < 0;
    }
    if (n == 0) return VOTE_WON;
    uint32_t majority = n / 2 + 1;
    if (yes >= majority) return VOTE_WON;
    if (n - no < majority) return VOTE_LOST;
    return VOTE_PENDING;
}

/* Joint consensus (§4.3): an election needs a majority of C_old and of C_new. */
static enum vote_result tally(const struct raft *r)
{
    enum vote_result a = tally_set(r, false), b = tally_set(r, true);
    if (a == VOTE_LOST || b == VOTE_LOST) return VOTE_LOST;
    if (a == VOTE_WON && b == VOTE_WON) return VOTE_WON;
    return VOTE_PENDING;
}

static void record(struct raft *r, raft_id id, bool granted)
{
    struct progress *p = raft__progress(r, id);
    if (p && p->vote == 0) p->vote = granted ? 1 : -1;
}

/* Asks every voter for its (pre-)vote. Real vote requests wait for our own vote to be durable
 * (msgs_after_persist): a candidate must not win — and act as leader — on a self-vote a crash
 * could erase, or it could vote again in the same term after restarting. */
static void request_votes(struct raft *r, bool pre, bool transfer)
{
    uint8_t type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE;
    uint64_t last = raft__last_index(r), last_term = raft__last_term(r);
    for (uint32_t i = 0; i < r->n_prs; i++) {
        const struct progress *p = &r->prs[i];
        if (p->id == r->id || !(p->voter || p->voter_out)) continue;
        struct raft_msg *m = raft__send(r, type, p->id, !pre);
        if (!m) continue;
        m->term = pre ? r->term + 1 : r->term;
        m->index = last;
        m->log_term = last_term;
        m->ctx = transfer ? 1 : 0;
    }
}

static void campaign_real(struct raft *r, bool transfer)
{
    raft__become_candidate(r);
    record(r, r->id, true);
    if (tally(r) == VOTE_WON) {
        /* Other voters answer only after our request — sent once our own vote is durable —
         * reached them. A single voter wins on its own vote: it must still wait until that
         * vote is durable, or after a crash it could win this term again with another log. */
        r->await_vote = true;
        return;
    }
    request_votes(r, false, transfer);
}

void raft__campaign(struct raft *r, bool transfer)
{
    if (!raft__promotable(r) || r->role == RAFT_LEADER) return;
    if (!r->o.pre_vote || transfer) {
        campaign_real(r, transfer);
        return;
    }
    raft__become_pre_candidate(r);
    record(r, r->id, true);
    if (tally(r) == VOTE_WON) {
        campaign_real(r, false);
        return;
    }
    request_votes(r, true, false);
}

void raft__step_vote(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    /* Figure 2 RequestVote: one vote per term; a known leader of this term means we already
     * backed someone. A pre-vote for a later term promises nothing, so it may be granted
     * again. */
    bool can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->lead == RAFT_NONE) ||
                    (pre && m->term > r->term);
    /* §3.6.1 election restriction: the candidate's log must be at least as up to date. */
    uint64_t last_term = raft__last_term(r);
    bool up_to_date =
        m->log_term > last_term || (m->log_term == last_term && m->index >= raft__last_index(r));
#if RAFT_FAULT == 2
    up_to_date = true; /* planted bug: no election restriction */
#endif
    struct raft_msg *resp =
        raft__send(r, pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP, m->from, true);
    if (can_vote && up_to_date) {
        if (resp) resp->term = m->term;
        if (!pre) {
            r->vote = m->from;
            r->election_elapsed = 0;
        }
    } else if (resp) {
        resp->reject = true;
    }
}

void raft__step_vote_resp(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE_RESP;
    if (pre) {
        if (r->role != RAFT_PRE_CANDIDATE) return;
        /* A grant is for the term we asked about; anything else is from an older round. */
        if (!m->reject && m->term != r->term + 1) return;
    } else if (r->role != RAFT_CANDIDATE) {
        return;
    }
    record(r, m->from, !m->reject);
    switch (tally(r)) {
    case VOTE_WON:
        if (pre)
            campaign_real(r, false);
        else
            raft__become_leader(r);
        break;
    case VOTE_LOST:
        raft__become_follower(r, r->term, RAFT_NONE);
        break;
    case VOTE_PENDING:
        break;
    }
}
