/* test_raft_membership.c — configuration changes (§4): single-server changes, learners, joint
 * consensus, the removed leader, the term-commit rule and rollback on truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "util/err.h"

static int propose_conf(struct h_cluster *c, raft_id leader, uint8_t op, raft_id id)
{
    struct raft_conf_change ch = {.op = op, .id = id};
    int rc = raft_propose_conf(h_raft(c, leader), &ch, 1, "ctx", 3, NULL);
    h_settle(c);
    return rc;
}

static bool drop_append_resps(struct raft_msg *m, void *arg)
{
    (void)arg;
    return m->type == RAFT_MSG_APPEND_RESP;
}

/* The fix for single-server changes (raft-dev, 2015): a new leader commits an entry of its own
 * term before any change, and at most one change is uncommitted at a time. */
static void test_conf_change_waits_for_term_commit_and_one_at_a_time(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 5, 3, NULL);
    c.filter = drop_append_resps; /* the NOOP stays uncommitted */
    h_elect(&c, 1);
    assert_false(h_status(&c, 1)->commit >= h_status(&c, 1)->last_index);
    assert_int_equal(propose_conf(&c, 1, RAFT_CONF_ADD_VOTER, 4), CC_ECONFCHANGE);
    c.filter = NULL;
    h_ticks(&c, 2);
    assert_int_equal(h_status(&c, 1)->commit, h_status(&c, 1)->last_index);
    /* Now allowed; a second change while the first is uncommitted is not. */
    c.filter = drop_append_resps;
    struct raft_conf_change ch = {.op = RAFT_CONF_ADD_VOTER, .id = 4};
    assert_int_equal(raft_propose_conf(h_raft(&c, 1), &ch, 1, NULL, 0, NULL), 0);
    assert_true(h_status(&c, 1)->conf_pending);
    ch.id = 5;
    assert_int_equal(raft_propose_conf(h_raft(&c, 1), &ch, 1, NULL, 0, NULL), CC_ECONFCHANGE);
    c.filter = NULL;
    h_ticks(&c, 3);
    assert_false(h_status(&c, 1)->conf_pending);
    assert_int_equal(raft_propose_conf(h_raft(&c, 1), &ch, 1, NULL, 0, NULL), 0);
    h_ticks(&c, 5);
    struct raft_status *st = h_status(&c, 1);
    assert_int_equal(st->config.n_voters, 5);
    assert_int_equal(h_status(&c, 5)->commit, h_status(&c, 1)->commit);
    /* Invalid changes are refused. */
    assert_int_equal(propose_conf(&c, 1, RAFT_CONF_ADD_VOTER, 2), CC_ECONFCHANGE);
    assert_int_equal(propose_conf(&c, 1, RAFT_CONF_REMOVE, 8), CC_ECONFCHANGE);
    assert_int_equal(propose_conf(&c, 1, RAFT_CONF_PROMOTE, 2), CC_ECONFCHANGE);
    assert_int_equal(propose_conf(&c, 2, RAFT_CONF_REMOVE, 3), CC_ENOTLEADER);
    h_check_safety(&c);
    h_free(&c);
}

/* §4.2.2: a leader removed from the configuration keeps managing the cluster until C_new is
 * committed, then steps down; it never campaigns again. */
static void test_removed_leader_steps_down_after_cnew_commits(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    c.nodes[2].hold = c.nodes[3].hold = true; /* C_new cannot commit yet */
    struct raft_conf_change ch = {.op = RAFT_CONF_REMOVE, .id = 1};
    uint64_t idx;
    assert_int_equal(raft_propose_conf(h_raft(&c, 1), &ch, 1, NULL, 0, &idx), 0);
    h_settle(&c);
    /* In effect as soon as appended (§4.1) ... */
    assert_false(raft_config_contains(&h_status(&c, 1)->config, 1));
    /* ... but the leader stays until it commits. */
    assert_int_equal(h_status(&c, 1)->role, RAFT_LEADER);
    assert_int_equal(raft_propose(h_raft(&c, 1), "x", 1, NULL), CC_EREMOVED);
    c.nodes[2].hold = c.nodes[3].hold = false;
    h_flush(&c, 2);
    h_flush(&c, 3);
    h_settle(&c);
    assert_true(h_status(&c, 1)->commit >= idx);
    assert_true(h_status(&c, 1)->role != RAFT_LEADER);
    h_ticks(&c, 40);
    raft_id l = h_leader(&c);
    assert_true(l == 2 || l == 3);
    uint64_t t1 = h_status(&c, 1)->term;
    h_isolate(&c, 1, true);
    h_ticks(&c, 60);
    assert_int_equal(h_status(&c, 1)->term, t1); /* never campaigns */
    assert_int_equal(h_leader(&c), l);
    h_check_safety(&c);
    h_free(&c);
}

/* Learners receive the log but do not vote nor count toward a majority; promoted, they do. */
static void test_learner_catch_up_and_promotion(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 4, 3, NULL); /* node 4 joins with an empty configuration */
    h_elect(&c, 1);
    for (int i = 0; i < 10; i++) h_propose(&c, 1, "before-learner");
    assert_int_equal(propose_conf(&c, 1, RAFT_CONF_ADD_LEARNER, 4), 0);
    h_ticks(&c, 3);
    struct raft_status *st = h_status(&c, 4);
    assert_true(raft_config_is_learner(&st->config, 4));
    assert_int_equal(st->last_index, h_status(&c, 1)->last_index);
    assert_int_equal(st->commit, h_status(&c, 1)->commit);
    /* A learner's acknowledgement does not commit anything. */
    h_isolate(&c, 2, true);
    h_isolate(&c, 3, true);
    h_cut(&c, 1, 4, false);
    uint64_t commit = h_status(&c, 1)->commit;
    raft_propose(h_raft(&c, 1), "needs-a-voter", 13, NULL);
    h_settle(&c);
    assert_int_equal(h_status(&c, 4)->last_index, h_status(&c, 1)->last_index);
    assert_int_equal(h_status(&c, 1)->commit, commit);
    /* It never campaigns, however long it waits. */
    for (int i = 0; i < 100; i++) h_tick(&c, 4);
    h_settle(&c);
    assert_int_equal(h_status(&c, 4)->role, RAFT_FOLLOWER);
    h_isolate(&c, 2, false);
    h_isolate(&c, 3, false);
    h_ticks(&c, 2);
    assert_int_equal(h_leader(&c), 1);
    /* Promotion: now 4 counts, so 1 + 3 + 4 commit without 2. */
    assert_int_equal(propose_conf(&c, 1, RAFT_CONF_PROMOTE, 4), 0);
    h_ticks(&c, 2);
    assert_int_equal(h_status(&c, 1)->config.n_voters, 4);
    h_isolate(&c, 2, true);
    uint64_t idx = h_propose(&c, 1, "with-new-voter");
    h_ticks(&c, 1);
    assert_true(h_status(&c, 1)->commit >= idx);
    h_isolate(&c, 3, true); /* 1 + 4 is no majority of 4 */
    idx = h_propose(&c, 1, "no-majority");
    assert_true(h_status(&c, 1)->commit < idx);
    h_isolate(&c, 2, false);
    h_isolate(&c, 3, false);
    h_ticks(&c, 3);
    h_check_safety(&c);
    h_free(&c);
}

static bool cut_old_majority(struct raft_msg *m, void *arg)
{
    (void)arg;
    return m->to == 2 || m->to == 3 || m->from == 2 || m->from == 3;
}

/* §4.3: adding two voters at once goes through C_old,new — decisions need a majority of both —
 * and the leader moves to C_new by itself once C_old,new commits. */
static void test_joint_consensus_add_two(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 5, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    struct raft_conf_change ch[2] = {{RAFT_CONF_ADD_VOTER, 4}, {RAFT_CONF_ADD_VOTER, 5}};
    /* With 2 and 3 silent, C_new = {1..5} has a majority (1, 4, 5) but C_old does not. */
    c.filter = cut_old_majority;
    uint64_t idx;
    assert_int_equal(raft_propose_conf(h_raft(&c, 1), ch, 2, NULL, 0, &idx), 0);
    h_settle(&c);
    h_ticks(&c, 2);
    struct raft_status *st = h_status(&c, 1);
    assert_int_equal(st->config.n_voters, 5);
    assert_int_equal(st->config.n_voters_out, 3);
    assert_true(st->commit < idx);
    c.filter = NULL;
    h_ticks(&c, 3);
    st = h_status(&c, 1);
    assert_int_equal(st->config.n_voters, 5);
    assert_int_equal(st->config.n_voters_out, 0); /* left automatically */
    assert_false(st->conf_pending);
    assert_true(st->commit > idx);
    for (raft_id id = 2; id <= 5; id++)
        assert_true(raft_config_equal(&h_status(&c, id)->config, &h_status(&c, 1)->config));
    /* The new voters now count: 1, 4, 5 commit without 2 and 3. */
    c.filter = cut_old_majority;
    idx = h_propose(&c, 1, "new-majority");
    h_ticks(&c, 1);
    assert_true(h_status(&c, 1)->commit >= idx);
    c.filter = NULL;
    h_check_safety(&c);
    h_free(&c);
}

/* Removing two voters at once; the removed ones stop being members and never campaign. */
static void test_joint_consensus_remove_two(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 5, 5, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    struct raft_conf_change ch[2] = {{RAFT_CONF_REMOVE, 4}, {RAFT_CONF_REMOVE, 5}};
    uint64_t idx;
    assert_int_equal(raft_propose_conf(h_raft(&c, 1), ch, 2, NULL, 0, &idx), 0);
    assert_int_equal(h_status(&c, 1)->config.n_voters_out, 5);
    h_ticks(&c, 3);
    struct raft_status *st = h_status(&c, 1);
    assert_int_equal(st->config.n_voters, 3);
    assert_int_equal(st->config.n_voters_out, 0);
    assert_true(st->commit > idx);
    assert_false(raft_config_contains(&h_status(&c, 4)->config, 4));
    uint64_t t4 = h_status(&c, 4)->term;
    h_isolate(&c, 4, true);
    h_isolate(&c, 5, true);
    h_ticks(&c, 60);
    assert_int_equal(h_status(&c, 4)->term, t4);
    assert_int_equal(h_leader(&c), 1);
    /* 1, 2, 3 are the whole cluster now. */
    uint64_t i2 = h_propose(&c, 1, "without-4-and-5");
    h_ticks(&c, 1);
    assert_true(h_status(&c, 1)->commit >= i2);
    h_check_safety(&c);
    h_free(&c);
}

/* §4.1: a configuration takes effect when appended, so when its entry is truncated the
 * previous configuration comes back. */
static void test_uncommitted_conf_rolls_back_on_truncation(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 4, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    h_isolate(&c, 1, true);
    struct raft_conf_change ch = {.op = RAFT_CONF_ADD_LEARNER, .id = 4};
    assert_int_equal(raft_propose_conf(h_raft(&c, 1), &ch, 1, NULL, 0, NULL), 0);
    h_settle(&c);
    assert_true(raft_config_is_learner(&h_status(&c, 1)->config, 4));
    /* 2 and 3 elect 2 meanwhile and move on. */
    h_elect(&c, 2);
    h_propose(&c, 2, "term-of-2");
    h_isolate(&c, 1, false);
    h_ticks(&c, 3);
    assert_int_equal(h_status(&c, 1)->leader, 2);
    assert_false(raft_config_contains(&h_status(&c, 1)->config, 4));
    assert_int_equal(h_status(&c, 1)->config.n_voters, 3);
    h_check_safety(&c);
    h_free(&c);
}

/* Churn: many distinct members added and removed faster than departing members are let go
 * (they are unreachable, so never told) stays within the leader's bounded tables. */
static void test_membership_churn_is_bounded(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    for (raft_id id = 100; id < 200; id++) {
        assert_int_equal(propose_conf(&c, 1, RAFT_CONF_ADD_LEARNER, id), 0);
        assert_int_equal(propose_conf(&c, 1, RAFT_CONF_REMOVE, id), 0);
    }
    struct raft_status *st = h_status(&c, 1);
    assert_int_equal(st->role, RAFT_LEADER);
    assert_int_equal(st->config.n_voters, 3);
    assert_int_equal(st->config.n_learners, 0);
    h_ticks(&c, 12); /* an election timeout lets the unreachable departing members go */
    assert_int_equal(h_status(&c, 1)->n_peers, 2);
    h_check_safety(&c);
    h_free(&c);
}

/* An empty change re-appends the current configuration with a new context (the member uses it
 * to change a member's URLs through the one-change-at-a-time path); it commits like any other
 * change and leaves voters and learners as they were. */
static void test_empty_change_reappends_configuration(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 2);
    struct raft_config before = h_status(&c, 1)->config;
    uint64_t index = 0;
    assert_int_equal(raft_propose_conf(h_raft(&c, 1), NULL, 0, "urls", 4, &index), 0);
    assert_true(index > 0);
    assert_true(h_status(&c, 1)->conf_pending);
    h_ticks(&c, 3);
    assert_false(h_status(&c, 1)->conf_pending);
    assert_true(h_status(&c, 1)->commit >= index);
    for (raft_id id = 1; id <= 3; id++)
        assert_true(raft_config_equal(&h_status(&c, id)->config, &before));
    h_free(&c);
}

/* The CONF entry codec and the configuration helpers. */
static void test_conf_entry_codec(void **state)
{
    (void)state;
    struct raft_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.n_voters = 3;
    cfg.voters[0] = 1, cfg.voters[1] = 5, cfg.voters[2] = 9;
    cfg.n_voters_out = 2;
    cfg.voters_out[0] = 1, cfg.voters_out[1] = 7;
    cfg.n_learners = 1;
    cfg.learners[0] = 7;
    uint8_t *data;
    uint32_t len;
    assert_int_equal(raft_conf_entry_encode(&cfg, "hello", 5, &data, &len), 0);
    struct raft_config out;
    const uint8_t *ctx;
    uint32_t ctx_len;
    assert_int_equal(raft_conf_entry_decode(data, len, &out, &ctx, &ctx_len), 0);
    assert_true(raft_config_equal(&cfg, &out));
    assert_int_equal(ctx_len, 5);
    assert_memory_equal(ctx, "hello", 5);
    assert_true(raft_config_is_voter(&out, 7)); /* outgoing voter */
    assert_true(raft_config_is_learner(&out, 7));
    assert_true(raft_config_contains(&out, 9));
    assert_false(raft_config_contains(&out, 2));
    /* Every truncation and a few corruptions are refused. */
    for (uint32_t n = 0; n < 4 + 12 + 8 * 6; n++)
        assert_int_equal(raft_conf_entry_decode(data, n, &out, NULL, NULL), CC_ECORRUPT);
    data[4] = 200; /* n_voters beyond the limit */
    assert_int_equal(raft_conf_entry_decode(data, len, &out, NULL, NULL), CC_ECORRUPT);
    data[4] = 3;
    data[16] = 6; /* voters no longer sorted */
    assert_int_equal(raft_conf_entry_decode(data, len, &out, NULL, NULL), CC_ECORRUPT);
    free(data);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_change_waits_for_term_commit_and_one_at_a_time),
        cmocka_unit_test(test_removed_leader_steps_down_after_cnew_commits),
        cmocka_unit_test(test_learner_catch_up_and_promotion),
        cmocka_unit_test(test_joint_consensus_add_two),
        cmocka_unit_test(test_joint_consensus_remove_two),
        cmocka_unit_test(test_uncommitted_conf_rolls_back_on_truncation),
        cmocka_unit_test(test_membership_churn_is_bounded),
        cmocka_unit_test(test_empty_change_reappends_configuration),
        cmocka_unit_test(test_conf_entry_codec),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
