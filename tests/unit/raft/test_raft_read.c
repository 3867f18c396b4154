/* test_raft_read.c — linearizable reads: ReadIndex (§6.4) and the lease (§6.4.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "util/err.h"

static int count_type(const struct raft_update *u, uint8_t type)
{
    int n = 0;
    for (uint32_t i = 0; i < u->n_msgs; i++) n += u->msgs[i].type == type;
    return n;
}

/* §6.4: many reads share one heartbeat round; each is answered with the commit index. */
static void test_read_index_batches_reads_into_one_round(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    struct raft *r = h_raft(&c, 1);
    for (uint64_t ctx = 100; ctx < 110; ctx++) assert_int_equal(raft_read_index(r, ctx), 0);
    struct raft_update u;
    assert_true(raft_get_update(r, &u));
    assert_int_equal(count_type(&u, RAFT_MSG_HEARTBEAT), 2); /* one round, two followers */
    assert_int_equal(u.n_reads, 0);                          /* not confirmed yet */
    uint64_t round = 0;
    for (uint32_t i = 0; i < u.n_msgs; i++)
        if (u.msgs[i].type == RAFT_MSG_HEARTBEAT) round = u.msgs[i].ctx;
    assert_true(round > 0);
    /* One follower's reply makes a quorum with the leader. */
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.type = RAFT_MSG_HEARTBEAT_RESP;
    resp.from = 2;
    resp.to = 1;
    resp.term = h_status(&c, 1)->term;
    resp.ctx = round;
    assert_int_equal(raft_step(r, &resp), 0);
    assert_true(raft_get_update(r, &u));
    assert_int_equal(u.n_reads, 10);
    for (uint32_t i = 0; i < u.n_reads; i++) {
        assert_int_equal(u.reads[i].ctx, 100 + i);
        assert_int_equal(u.reads[i].status, 0);
        assert_int_equal(u.reads[i].index, h_status(&c, 1)->commit);
    }
    h_drop_all(&c);
    h_free(&c);
}

static bool drop_append_resps(struct raft_msg *m, void *arg)
{
    (void)arg;
    return m->type == RAFT_MSG_APPEND_RESP;
}

/* §6.4: a new leader's commit index may lag; it serves no read before it committed an entry
 * of its own term, even when heartbeats confirm its leadership. */
static void test_read_index_waits_for_first_commit_of_term(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    c.filter = drop_append_resps;
    h_elect(&c, 1);
    h_ticks(&c, 3); /* heartbeats flow, the NOOP cannot commit */
    struct raft *r = h_raft(&c, 1);
    assert_true(h_status(&c, 1)->commit < h_status(&c, 1)->last_index);
    assert_int_equal(raft_read_index(r, 7), 0);
    h_ticks(&c, 3);
    assert_int_equal(c.nodes[1].n_reads, 0);
    c.filter = NULL;
    h_ticks(&c, 2);
    assert_int_equal(c.nodes[1].n_reads, 1);
    assert_int_equal(c.nodes[1].reads[0].ctx, 7);
    assert_int_equal(c.nodes[1].reads[0].status, 0);
    assert_int_equal(c.nodes[1].reads[0].index, h_status(&c, 1)->commit);
    assert_int_equal(h_status(&c, 1)->commit, h_status(&c, 1)->last_index);
    h_free(&c);
}

/* A follower forwards its read to the leader and gets the leader's read index back. */
static void test_follower_read_is_forwarded(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    uint64_t idx = h_propose(&c, 1, "v");
    assert_int_equal(raft_read_index(h_raft(&c, 2), 42), 0);
    h_settle(&c);
    h_ticks(&c, 1);
    assert_int_equal(c.nodes[2].n_reads, 1);
    assert_int_equal(c.nodes[2].reads[0].ctx, 42);
    assert_int_equal(c.nodes[2].reads[0].status, 0);
    assert_true(c.nodes[2].reads[0].index >= idx);
    /* Without a known leader the read fails at once. */
    struct h_cluster d;
    h_init(&d, 3, 3, NULL);
    assert_int_equal(raft_read_index(h_raft(&d, 2), 1), CC_ENOLEADER);
    h_free(&d);
    h_free(&c);
}

/* Reads pending when leadership is lost fail with a status instead of hanging. */
static void test_pending_reads_fail_when_leadership_is_lost(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    h_isolate(&c, 1, true);
    assert_int_equal(raft_read_index(h_raft(&c, 1), 5), 0);
    assert_int_equal(raft_read_index(h_raft(&c, 2), 6), 0); /* forwarded, lost */
    for (int i = 0; i < 30 && h_status(&c, 1)->role == RAFT_LEADER; i++) h_ticks(&c, 1);
    assert_int_equal(h_status(&c, 1)->role, RAFT_FOLLOWER);
    assert_int_equal(c.nodes[1].n_reads, 1);
    assert_int_equal(c.nodes[1].reads[0].ctx, 5);
    assert_int_equal(c.nodes[1].reads[0].status, CC_ECANCELED);
    /* Node 2 saw a new leader: its forwarded read failed too. */
    for (int i = 0; i < 30 && h_status(&c, 2)->leader == 1; i++) h_ticks(&c, 1);
    assert_int_equal(c.nodes[2].n_reads, 1);
    assert_int_equal(c.nodes[2].reads[0].ctx, 6);
    assert_true(c.nodes[2].reads[0].status == CC_ENOLEADER);
    h_free(&c);
}

/* Bounded: beyond max_pending_reads a read is refused with CC_EBUSY. */
static void test_pending_reads_are_bounded(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.max_pending_reads = 4;
    struct h_cluster c;
    h_init(&c, 3, 3, &o);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    h_isolate(&c, 1, true);
    for (uint64_t i = 0; i < 4; i++) assert_int_equal(raft_read_index(h_raft(&c, 1), i), 0);
    assert_int_equal(raft_read_index(h_raft(&c, 1), 9), CC_EBUSY);
    h_free(&c);
}

/* §6.4.1 lease: inside the lease a read needs no round; once the quorum falls silent for
 * about an election timeout the lease is gone and reads need a round again. */
static void test_lease_read(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.lease_read = true;
    struct h_cluster c;
    h_init(&c, 3, 3, &o);
    h_elect(&c, 1);
    h_ticks(&c, 2);
    struct raft *r = h_raft(&c, 1);
    assert_int_equal(raft_read_index(r, 1), 0);
    struct raft_update u;
    assert_true(raft_get_update(r, &u));
    assert_int_equal(u.n_reads, 1); /* answered at once */
    assert_int_equal(u.reads[0].status, 0);
    assert_int_equal(u.reads[0].index, h_status(&c, 1)->commit);
    assert_int_equal(count_type(&u, RAFT_MSG_HEARTBEAT), 0);
    h_isolate(&c, 1, true);
    for (int i = 0; i < 9; i++) h_tick(&c, 1);
    h_settle(&c);
    uint32_t before = c.nodes[1].n_reads;
    assert_int_equal(raft_read_index(r, 2), 0);
    h_update(&c, 1);
    assert_int_equal(c.nodes[1].n_reads, before); /* lease expired: waits for a round */
    /* lease_read needs check_quorum. */
    o.check_quorum = false;
    o.id = 9;
    struct raft_boot b;
    memset(&b, 0, sizeof(b));
    struct raft *x;
    assert_int_equal(raft_new(&o, &b, &x), CC_EINVAL);
    h_free(&c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_index_batches_reads_into_one_round),
        cmocka_unit_test(test_read_index_waits_for_first_commit_of_term),
        cmocka_unit_test(test_follower_read_is_forwarded),
        cmocka_unit_test(test_pending_reads_fail_when_leadership_is_lost),
        cmocka_unit_test(test_pending_reads_are_bounded),
        cmocka_unit_test(test_lease_read),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
