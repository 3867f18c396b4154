/* test_raft_election.c — leader election (§3.4), split votes, the election restriction
 * (§3.6.1), pre-vote (§9.6) and check-quorum (§6.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "util/err.h"

static void test_first_election_commits_noop(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 2);
    assert_int_equal(h_leader(&c), 1);
    uint64_t term = h_status(&c, 1)->term;
    assert_true(term >= 1);
    for (raft_id id = 1; id <= 3; id++) {
        struct raft_status *st = h_status(&c, id);
        assert_int_equal(st->leader, 1);
        assert_int_equal(st->term, term);
        /* §5.4.2: every term starts with a NOOP of that term, committed everywhere. */
        assert_int_equal(st->commit, 1);
        assert_int_equal(h_term_at(&c, id, 1), term);
        assert_int_equal(c.nodes[id].sm.applied, 1);
    }
    h_check_safety(&c);
    h_free(&c);
}

/* §3.4: two candidates of the same term each get half the votes; randomized timeouts make the
 * next round produce one leader. */
static void test_split_vote_resolves(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.pre_vote = false;
    o.check_quorum = false;
    struct h_cluster c;
    h_init(&c, 4, 4, &o);
    for (raft_id a = 1; a <= 4; a++) h_isolate(&c, a, true);
    for (raft_id id = 1; id <= 2; id++)
        for (int i = 0; i < 100 && h_status(&c, id)->role != RAFT_CANDIDATE; i++) h_tick(&c, id);
    h_cut(&c, 1, 3, false);
    h_cut(&c, 2, 4, false);
    h_settle(&c);
    for (raft_id id = 1; id <= 2; id++) {
        assert_int_equal(h_status(&c, id)->role, RAFT_CANDIDATE);
        assert_int_equal(h_status(&c, id)->term, 1);
    }
    assert_int_equal(h_status(&c, 3)->vote, 1);
    assert_int_equal(h_status(&c, 4)->vote, 2);
    assert_int_equal(h_leader(&c), 0); /* 2 of 4 is no majority */
    for (raft_id a = 1; a <= 4; a++) h_isolate(&c, a, false);
    int ticks = 0;
    while (!h_leader(&c) && ticks < 100) {
        h_ticks(&c, 1);
        ticks++;
    }
    raft_id l = h_leader(&c);
    assert_true(l != 0);
    assert_true(h_status(&c, l)->term >= 2);
    h_ticks(&c, 3);
    for (raft_id id = 1; id <= 4; id++) assert_int_equal(h_status(&c, id)->leader, l);
    h_check_safety(&c);
    h_free(&c);
}

static int propose_learner(struct h_cluster *c)
{
    struct raft_conf_change ch = {.op = RAFT_CONF_ADD_LEARNER, .id = 2};
    int rc = raft_propose_conf(h_raft(c, 1), &ch, 1, NULL, 0, NULL);
    h_settle(c);
    h_ticks(c, 2);
    return rc;
}

static struct raft_msg vote_msg(raft_id from, raft_id to, uint64_t term, uint64_t last,
                                uint64_t last_term)
{
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_VOTE;
    m.from = from;
    m.to = to;
    m.term = term;
    m.index = last;
    m.log_term = last_term;
    return m;
}

/* Finds the last vote reply r sent (it sits in msgs_after_persist). */
static const struct raft_msg *vote_reply(struct raft_update *u)
{
    for (uint32_t i = 0; i < u->n_msgs_after_persist; i++)
        if (u->msgs_after_persist[i].type == RAFT_MSG_VOTE_RESP) return &u->msgs_after_persist[i];
    return NULL;
}

/* §3.6.1: a voter denies its vote to a candidate whose log is less up to date than its own;
 * otherwise a committed entry could be lost. */
static void test_election_restriction(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.pre_vote = false;
    o.check_quorum = false;
    struct h_cluster c;
    h_init(&c, 3, 3, &o);
    h_elect(&c, 1);
    h_isolate(&c, 3, true);
    uint64_t idx = h_propose(&c, 1, "committed-by-1-and-2");
    h_ticks(&c, 1);
    assert_true(h_status(&c, 1)->commit >= idx);
    assert_true(h_status(&c, 3)->last_index < idx);
    uint64_t term = h_status(&c, 2)->term;

    /* Node 3 (stale log) asks node 2 for its vote in a later term. */
    struct raft *r2 = h_raft(&c, 2);
    struct raft_status *s3 = h_status(&c, 3);
    struct raft_msg m = vote_msg(3, 2, term + 1, s3->last_index, h_term_at(&c, 3, s3->last_index));
    assert_int_equal(raft_step(r2, &m), 0);
    struct raft_update u;
    assert_true(raft_get_update(r2, &u));
    const struct raft_msg *rep = vote_reply(&u);
    assert_non_null(rep);
    assert_true(rep->reject);
    assert_int_equal(u.hs.term, term + 1);  /* the term is adopted ... */
    assert_int_equal(u.hs.vote, RAFT_NONE); /* ... the vote is not given */

    /* A candidate with a log as up to date as 2's gets it. */
    uint64_t last = h_status(&c, 2)->last_index;
    m = vote_msg(1, 2, term + 1, last, h_term_at(&c, 2, last));
    assert_int_equal(raft_step(r2, &m), 0);
    assert_true(raft_get_update(r2, &u));
    rep = vote_reply(&u);
    assert_non_null(rep);
    assert_false(rep->reject);
    assert_int_equal(u.hs.vote, 1);
    h_drop_all(&c);
    h_free(&c);
}

/* §9.6: a member cut off from the cluster keeps timing out, but pre-vote keeps its term from
 * growing, so when it comes back it does not depose the healthy leader. */
static void test_prevote_partitioned_member_rejoins_without_disruption(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    uint64_t term = h_status(&c, 1)->term;
    h_isolate(&c, 3, true);
    h_ticks(&c, 100); /* ten election timeouts */
    assert_int_equal(h_status(&c, 3)->term, term);
    assert_true(h_status(&c, 3)->role != RAFT_LEADER);
    uint64_t idx = h_propose(&c, 1, "while-3-is-away");
    h_ticks(&c, 1);
    assert_true(h_status(&c, 1)->commit >= idx);
    h_isolate(&c, 3, false);
    h_ticks(&c, 30);
    assert_int_equal(h_leader(&c), 1);
    assert_int_equal(h_status(&c, 1)->term, term);
    assert_int_equal(h_status(&c, 3)->leader, 1);
    assert_true(h_status(&c, 3)->commit >= idx);
    h_check_safety(&c);
    h_free(&c);
}

/* The counterpart: without pre-vote (and without the lease) the same member comes back with a
 * higher term and forces an election — what pre-vote exists to prevent. */
static void test_without_prevote_rejoining_member_disrupts(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.pre_vote = false;
    o.check_quorum = false;
    struct h_cluster c;
    h_init(&c, 3, 3, &o);
    h_elect(&c, 1);
    uint64_t term = h_status(&c, 1)->term;
    h_isolate(&c, 3, true);
    h_ticks(&c, 100);
    assert_true(h_status(&c, 3)->term > term + 1);
    h_isolate(&c, 3, false);
    h_ticks(&c, 30);
    assert_true(h_status(&c, 1)->term > term); /* the old leader was deposed */
    h_free(&c);
}

/* A member that keeps dropping off and coming back never unseats the leader. */
static void test_flapping_member_cannot_depose_leader(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 5, 5, NULL);
    h_elect(&c, 1);
    uint64_t term = h_status(&c, 1)->term;
    for (int round = 0; round < 6; round++) {
        h_isolate(&c, 4, true);
        h_ticks(&c, 15 + 7 * round);
        h_isolate(&c, 4, false);
        h_ticks(&c, 3 + round);
        assert_int_equal(h_leader(&c), 1);
        assert_int_equal(h_status(&c, 1)->term, term);
    }
    h_propose(&c, 1, "still-leading");
    h_ticks(&c, 2);
    assert_int_equal(h_status(&c, 4)->leader, 1);
    h_check_safety(&c);
    h_free(&c);
}

/* §6.2: a leader that hears from no quorum for an election timeout steps down; while the
 * quorum answers it stays. */
static void test_check_quorum_leader_steps_down(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    uint64_t term = h_status(&c, 1)->term;
    h_ticks(&c, 50);
    assert_int_equal(h_leader(&c), 1);
    /* Cut the leader off; tick only it so the others do not elect anyone yet. */
    h_isolate(&c, 1, true);
    int ticks = 0;
    while (h_status(&c, 1)->role == RAFT_LEADER && ticks < 100) {
        h_tick(&c, 1);
        h_settle(&c);
        ticks++;
    }
    assert_int_equal(h_status(&c, 1)->role, RAFT_FOLLOWER);
    assert_int_equal(h_status(&c, 1)->leader, RAFT_NONE);
    assert_int_equal(h_status(&c, 1)->term, term);
    assert_true(ticks <= 2 * 10 + 1);
    assert_true(ticks >= 10);
    h_free(&c);
}

/* Without check-quorum the same leader never notices. */
static void test_no_check_quorum_leader_stays(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.check_quorum = false;
    struct h_cluster c;
    h_init(&c, 3, 3, &o);
    h_elect(&c, 1);
    h_isolate(&c, 1, true);
    for (int i = 0; i < 100; i++) h_tick(&c, 1);
    assert_int_equal(h_status(&c, 1)->role, RAFT_LEADER);
    h_free(&c);
}

/* A learner or a member outside the configuration never campaigns. */
static void test_non_voters_never_campaign(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 4, 3, NULL); /* node 4 starts with an empty configuration */
    for (int i = 0; i < 200; i++) h_tick(&c, 4);
    h_settle(&c);
    assert_int_equal(h_status(&c, 4)->term, 0);
    assert_int_equal(h_status(&c, 4)->role, RAFT_FOLLOWER);
    assert_int_equal(c.sent_by_type[RAFT_MSG_PREVOTE] + c.sent_by_type[RAFT_MSG_VOTE], 0);
    h_free(&c);
}

/* A single-voter cluster elects itself, and commits once its own write is durable. */
static void test_single_voter(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 1, 1, NULL);
    h_elect(&c, 1);
    uint64_t idx = h_propose(&c, 1, "solo");
    assert_int_equal(h_status(&c, 1)->commit, idx);
    assert_int_equal(c.nodes[1].sm.applied, idx);
    h_free(&c);
}

/* A single voter wins on its own vote, but must not lead before that vote is durable:
 * otherwise a crash could let it win the same term again with a different log. */
static void test_single_voter_leads_only_after_its_vote_is_durable(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 2, 1, NULL); /* node 2 joins empty; it becomes a learner */
    h_elect(&c, 1);
    assert_int_equal(propose_learner(&c), 0);
    uint64_t term = h_status(&c, 1)->term;
    /* Crash and restart: a new election, whose vote we hold back from the disk. */
    h_crash(&c, 1);
    h_restart(&c, 1);
    c.nodes[1].hold = true;
    for (int i = 0; i < 100 && h_status(&c, 1)->role != RAFT_CANDIDATE; i++) h_tick(&c, 1);
    h_settle(&c);
    struct raft_status *st = h_status(&c, 1);
    assert_int_equal(st->role, RAFT_CANDIDATE); /* won the tally, waits for the disk */
    assert_int_equal(st->term, term + 1);
    for (int i = 0; i < 50; i++) h_tick(&c, 1); /* a slow disk: no new elections meanwhile */
    assert_int_equal(h_status(&c, 1)->term, term + 1);
    assert_int_equal(c.nodes[1].n_pending, 1);
    assert_true(c.nodes[1].pending[0].report);
    assert_int_equal(c.nodes[1].pending[0].rep_term, term + 1);
    /* Crash before the vote is durable: the term is not known any more after restart ... */
    h_crash(&c, 1);
    h_restart(&c, 1);
    assert_int_equal(h_status(&c, 1)->term, term);
    /* ... and nothing of that term reached the learner. */
    assert_int_equal(h_status(&c, 2)->term, term);
    c.nodes[1].hold = false;
    h_elect(&c, 1); /* the harness checks no term has two leaders */
    assert_int_equal(h_status(&c, 1)->term, term + 1);
    uint64_t idx = h_propose(&c, 1, "solo-again");
    h_ticks(&c, 1);
    assert_int_equal(h_status(&c, 2)->commit, idx);
    h_check_safety(&c);
    h_free(&c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_election_commits_noop),
        cmocka_unit_test(test_split_vote_resolves),
        cmocka_unit_test(test_election_restriction),
        cmocka_unit_test(test_prevote_partitioned_member_rejoins_without_disruption),
        cmocka_unit_test(test_without_prevote_rejoining_member_disrupts),
        cmocka_unit_test(test_flapping_member_cannot_depose_leader),
        cmocka_unit_test(test_check_quorum_leader_steps_down),
        cmocka_unit_test(test_no_check_quorum_leader_stays),
        cmocka_unit_test(test_non_voters_never_campaign),
        cmocka_unit_test(test_single_voter),
        cmocka_unit_test(test_single_voter_leads_only_after_its_vote_is_durable),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
