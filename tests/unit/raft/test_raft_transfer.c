/* test_raft_transfer.c — leadership transfer (§3.10): TIMEOUT_NOW, refusing proposals while
 * under way, abort on timeout, forwarding, and the lease bypass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "util/err.h"

/* §3.10: the leader brings the target up to date, sends TIMEOUT_NOW, and the target wins at
 * once — even though the others are inside the old leader's lease. */
static void test_transfer_to_lagging_voter(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    uint64_t term = h_status(&c, 1)->term;
    h_isolate(&c, 3, true);
    for (int i = 0; i < 5; i++) h_propose(&c, 1, "3-misses-this");
    h_isolate(&c, 3, false);
    c.nodes[3].hold = true; /* 3 cannot catch up yet */
    assert_int_equal(raft_transfer_leadership(h_raft(&c, 1), 3), 0);
    h_settle(&c);
    /* While the transfer is under way the leader refuses proposals and further transfers. */
    assert_true(h_status(&c, 1)->transferring);
    assert_int_equal(raft_propose(h_raft(&c, 1), "no", 2, NULL), CC_ETRANSFER);
    struct raft_conf_change ch = {.op = RAFT_CONF_REMOVE, .id = 2};
    assert_int_equal(raft_propose_conf(h_raft(&c, 1), &ch, 1, NULL, 0, NULL), CC_ETRANSFER);
    assert_int_equal(raft_transfer_leadership(h_raft(&c, 1), 2), CC_ETRANSFER);
    c.nodes[3].hold = false;
    h_flush(&c, 3);
    h_settle(&c);
    assert_int_equal(h_leader(&c), 3);
    assert_int_equal(h_status(&c, 3)->term, term + 1);
    assert_int_equal(h_status(&c, 1)->role, RAFT_FOLLOWER);
    assert_int_equal(h_status(&c, 1)->leader, 3);
    assert_false(h_status(&c, 1)->transferring);
    uint64_t idx = h_propose(&c, 3, "new-leader");
    h_ticks(&c, 1);
    assert_true(h_status(&c, 1)->commit >= idx);
    h_check_safety(&c);
    h_free(&c);
}

/* A transfer the target never completes is given up after an election timeout; proposals are
 * accepted again and the leader is unchanged. */
static void test_transfer_aborts_after_election_timeout(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    h_isolate(&c, 3, true);
    h_propose(&c, 1, "3-misses-this");
    assert_int_equal(raft_transfer_leadership(h_raft(&c, 1), 3), 0);
    assert_int_equal(raft_propose(h_raft(&c, 1), "no", 2, NULL), CC_ETRANSFER);
    int ticks = 0;
    while (h_status(&c, 1)->transferring && ticks < 50) {
        h_ticks(&c, 1);
        ticks++;
    }
    assert_false(h_status(&c, 1)->transferring);
    assert_true(ticks >= 9 && ticks <= 11);
    assert_int_equal(h_leader(&c), 1);
    uint64_t idx = 0;
    assert_int_equal(raft_propose(h_raft(&c, 1), "yes", 3, &idx), 0);
    assert_true(idx > 0);
    h_free(&c);
}

/* A follower forwards the request to the leader (TRANSFER_LEADER). */
static void test_transfer_requested_on_follower_is_forwarded(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    assert_int_equal(raft_transfer_leadership(h_raft(&c, 2), 3), 0);
    h_settle(&c);
    assert_int_equal(h_leader(&c), 3);
    /* Refusals: us, a non-voter, no leader known. */
    assert_int_equal(raft_transfer_leadership(h_raft(&c, 3), 3), CC_EINVAL);
    assert_int_equal(raft_transfer_leadership(h_raft(&c, 3), 9), CC_EINVAL);
    struct h_cluster d;
    h_init(&d, 3, 3, NULL);
    assert_int_equal(raft_transfer_leadership(h_raft(&d, 2), 3), CC_ENOLEADER);
    h_free(&d);
    h_free(&c);
}

/* The lease (§4.2.3): a follower that heard from its leader within an election timeout ignores
 * a vote request — unless it is marked as a transfer (VOTE.ctx = 1). */
static void test_vote_inside_lease_ignored_unless_transfer(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    struct raft *r2 = h_raft(&c, 2);
    struct raft_status *st = h_status(&c, 3);
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_VOTE;
    m.from = 3;
    m.to = 2;
    m.term = st->term + 1;
    m.index = st->last_index;
    m.log_term = h_term_at(&c, 3, st->last_index);
    uint64_t term = h_status(&c, 2)->term;
    assert_int_equal(raft_step(r2, &m), 0);
    assert_false(raft_has_update(r2));
    assert_int_equal(h_status(&c, 2)->term, term);
    m.ctx = 1;
    assert_int_equal(raft_step(r2, &m), 0);
    struct raft_update u;
    assert_true(raft_get_update(r2, &u));
    assert_int_equal(u.hs.term, term + 1);
    assert_int_equal(u.hs.vote, 3);
    h_drop_all(&c);
    h_free(&c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transfer_to_lagging_voter),
        cmocka_unit_test(test_transfer_aborts_after_election_timeout),
        cmocka_unit_test(test_transfer_requested_on_follower_is_forwarded),
        cmocka_unit_test(test_vote_inside_lease_ignored_unless_transfer),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
