/* test_raft_replication.c — log replication (§3.5): figure 7 logs converging, figure 8
 * commitment, duplicated/reordered appends, flow control and loss recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "util/err.h"

static void make_log(struct raft_entry *e, const uint64_t *terms, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        memset(&e[i], 0, sizeof(e[i]));
        e[i].index = i + 1;
        e[i].term = terms[i];
        e[i].type = RAFT_ENTRY_NORMAL;
        e[i].len = 1;
        e[i].data = (uint8_t *)"x";
    }
}

static void boot_log(struct h_cluster *c, raft_id id, const uint64_t *terms, uint32_t n,
                     uint64_t hs_term)
{
    struct raft_entry e[16];
    make_log(e, terms, n);
    struct raft_boot b;
    memset(&b, 0, sizeof(b));
    b.hs.term = hs_term;
    b.snap.config.n_voters = 7;
    for (uint32_t v = 0; v < 7; v++) b.snap.config.voters[v] = v + 1;
    b.entries = e;
    b.n_entries = n;
    h_boot(c, id, &b);
}

/* Figure 7: the leader of term 8 and followers (a)-(f) with missing, extra and conflicting
 * entries. Every follower ends with exactly the leader's log; the conflict hints (§5.3) need
 * at most two rejections per follower, not one per entry. */
static void test_figure7_follower_logs_converge(void **state)
{
    (void)state;
    static const uint64_t leader[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
    static const uint64_t a[] = {1, 1, 1, 4, 4, 5, 5, 6, 6};
    static const uint64_t b[] = {1, 1, 1, 4};
    static const uint64_t cc[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6};
    static const uint64_t d[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7};
    static const uint64_t e[] = {1, 1, 1, 4, 4, 4, 4};
    static const uint64_t f[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};
    struct h_cluster c;
    h_init(&c, 7, 7, NULL);
    boot_log(&c, 1, leader, 10, 7);
    boot_log(&c, 2, a, 9, 6);
    boot_log(&c, 3, b, 4, 4);
    boot_log(&c, 4, cc, 11, 6);
    boot_log(&c, 5, d, 12, 7);
    boot_log(&c, 6, e, 7, 4);
    boot_log(&c, 7, f, 11, 3);
    h_elect(&c, 1);
    assert_int_equal(h_status(&c, 1)->term, 8);
    h_ticks(&c, 3);
    for (raft_id id = 1; id <= 7; id++) {
        struct raft_status *st = h_status(&c, id);
        assert_int_equal(st->last_index, 11); /* 10 + the term-8 NOOP; extras truncated */
        assert_int_equal(st->commit, 11);
        for (uint64_t i = 1; i <= 10; i++) assert_int_equal(h_term_at(&c, id, i), leader[i - 1]);
        assert_int_equal(h_term_at(&c, id, 11), 8);
        assert_true(c.nodes[id].append_rejects_sent <= 2);
    }
    /* (a), (b): one rejection (short log); (c), (d): none (extras conflict with the NOOP);
     * (e), (f): two (one per conflicting term). */
    assert_int_equal(c.nodes[2].append_rejects_sent, 1);
    assert_int_equal(c.nodes[4].append_rejects_sent, 0);
    assert_int_equal(c.nodes[5].append_rejects_sent, 0);
    assert_int_equal(c.nodes[7].append_rejects_sent, 2);
    h_check_safety(&c);
    h_free(&c);
}

/* Figure 8 filter for step (c): S1 may deliver entries up to index 2 only. */
static bool only_upto_2_from_1(struct raft_msg *m, void *arg)
{
    (void)arg;
    if (m->from == 1 && m->type == RAFT_MSG_APPEND)
        h_trim_entries(m, m->index >= 2 ? 0 : (uint32_t)(2 - m->index));
    return false;
}

static bool drop_appends_from_5(struct raft_msg *m, void *arg)
{
    (void)arg;
    return m->from == 5 && m->type == RAFT_MSG_APPEND;
}

/* Figure 8 (§3.6.2): a leader must not commit an entry of an earlier term by counting
 * replicas, or a later leader may overwrite it. */
static void test_figure8_previous_term_entry_not_committed_by_counting(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 5, 5, NULL);
    /* (a) S1 leads, replicates index 2 to S2 only. */
    h_elect(&c, 1);
    h_ticks(&c, 1);
    uint64_t t_a = h_status(&c, 1)->term;
    for (raft_id id = 3; id <= 5; id++) h_cut(&c, 1, id, true);
    uint64_t idx = h_propose(&c, 1, "written-in-term-a");
    assert_int_equal(idx, 2);
    assert_int_equal(h_term_at(&c, 2, 2), t_a);
    assert_int_equal(h_status(&c, 1)->commit, 1);
    /* (b) S1 crashes; S5 wins with S3 and S4 and appends its own index 2, nobody gets it. */
    h_crash(&c, 1);
    for (raft_id id = 3; id <= 5; id++) h_cut(&c, 1, id, false);
    c.filter = drop_appends_from_5;
    h_elect(&c, 5);
    uint64_t t_b = h_status(&c, 5)->term;
    assert_true(t_b > t_a);
    assert_int_equal(h_term_at(&c, 5, 2), t_b);
    /* (c) S5 crashes, S2 too; S1 restarts and wins with S3, S4 and copies its term-a entry to
     * them: index 2 is now on a majority (S1, S3, S4) ... */
    h_crash(&c, 5);
    h_crash(&c, 2);
    h_restart(&c, 1);
    c.filter = only_upto_2_from_1;
    h_elect(&c, 1);
    h_ticks(&c, 3);
    uint64_t t_c = h_status(&c, 1)->term;
    assert_true(t_c > t_b);
    for (raft_id id = 3; id <= 4; id++) assert_int_equal(h_term_at(&c, id, 2), t_a);
    /* ... but it is of an earlier term: it must not count as committed. */
    assert_int_equal(h_status(&c, 1)->commit, 1);
    /* (d) S1 crashes; S5 comes back, wins with S2, S3, S4 and overwrites index 2 — legal
     * precisely because it was never committed. */
    h_crash(&c, 1);
    h_restart(&c, 5);
    h_restart(&c, 2);
    c.filter = NULL;
    h_elect(&c, 5);
    h_ticks(&c, 3);
    for (raft_id id = 2; id <= 5; id++) {
        assert_int_equal(h_term_at(&c, id, 2), t_b);
        assert_true(h_status(&c, id)->commit >= 3);
    }
    h_restart(&c, 1);
    h_ticks(&c, 5);
    assert_int_equal(h_term_at(&c, 1, 2), t_b);
    h_check_safety(&c);
    h_free(&c);
}

struct capture {
    struct raft_msg m[64];
    int n;
    raft_id to;
};

/* Keeps the APPENDs with entries addressed to cap->to; nothing reaches it (nor node 3)
 * meanwhile, so the leader keeps pipelining and cannot commit. */
static bool capture_appends(struct raft_msg *m, void *arg)
{
    struct capture *cap = arg;
    if (m->to == 3) return true;
    if (m->to != cap->to) return false;
    if (m->type == RAFT_MSG_APPEND && m->n_entries) {
        assert_true(cap->n < 64);
        assert_int_equal(raft_msg_copy(&cap->m[cap->n++], m), 0);
    }
    return true;
}

static void step_captured(struct h_cluster *c, struct capture *cap, int i)
{
    assert_int_equal(raft_step(h_raft(c, cap->to), &cap->m[i]), 0);
    h_update(c, cap->to);
    h_drop_all(c);
}

/* Duplicated, late and reordered APPENDs never truncate matching entries (§3.5: the follower
 * deletes only entries that conflict). */
static void test_duplicated_and_reordered_appends_are_harmless(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    struct capture cap = {.to = 2};
    c.filter = capture_appends;
    c.filter_arg = &cap;
    const char *vals[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) h_propose(&c, 1, vals[i]);
    c.filter = NULL;
    assert_int_equal(cap.n, 4);
    uint64_t last = h_status(&c, 1)->last_index;
    /* Newest first: each is rejected (gap) and changes nothing. */
    for (int i = 3; i >= 1; i--) {
        step_captured(&c, &cap, i);
        assert_int_equal(h_status(&c, 2)->last_index, 1);
    }
    for (int i = 0; i < 4; i++) step_captured(&c, &cap, i);
    assert_int_equal(h_status(&c, 2)->last_index, last);
    assert_int_equal(h_status(&c, 2)->commit, 1); /* all of it above the commit index */
    /* Late duplicates of the oldest ones: matching entries stay. */
    for (int i = 0; i < 4; i++) {
        step_captured(&c, &cap, i);
        assert_int_equal(h_status(&c, 2)->last_index, last);
    }
    step_captured(&c, &cap, 0);
    assert_int_equal(h_status(&c, 2)->last_index, last);
    for (uint64_t i = 1; i <= last; i++) assert_int_equal(h_term_at(&c, 2, i), h_term_at(&c, 1, i));
    for (int i = 0; i < cap.n; i++) raft_msg_release(&cap.m[i]);
    h_ticks(&c, 2);
    h_check_safety(&c);
    h_free(&c);
}

struct count {
    raft_id to;
    int appends;
    uint32_t max_entries;
    uint64_t max_bytes_multi; /* largest byte total of an APPEND with > 1 entry */
    bool drop;
};

static bool count_appends(struct raft_msg *m, void *arg)
{
    struct count *k = arg;
    if (m->to != k->to) return false;
    if (m->type != RAFT_MSG_APPEND || !m->n_entries) return k->drop;
    k->appends++;
    if (m->n_entries > k->max_entries) k->max_entries = m->n_entries;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < m->n_entries; i++) bytes += m->entries[i].len;
    if (m->n_entries > 1 && bytes > k->max_bytes_multi) k->max_bytes_multi = bytes;
    return k->drop;
}

/* Flow control: at most max_inflight APPENDs outstanding per follower, batched by bytes. */
static void test_flow_control_inflight_window_and_batching(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.max_inflight = 2;
    o.max_msg_bytes = 250;
    struct h_cluster c;
    h_init(&c, 3, 3, &o);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    assert_int_equal(h_status(&c, 1)->peers[0].state, RAFT_PROGRESS_REPLICATE);
    c.nodes[2].hold = true; /* node 2's acknowledgements wait for its disk */
    struct count k = {.to = 2};
    c.filter = count_appends;
    c.filter_arg = &k;
    char val[101];
    memset(val, 'v', 100);
    val[100] = 0;
    for (int i = 0; i < 10; i++) h_propose(&c, 1, val);
    assert_int_equal(k.appends, 2);             /* the window is full */
    assert_true(h_status(&c, 1)->commit >= 11); /* node 3 keeps the cluster going */
    for (int round = 0; round < 10 && h_status(&c, 2)->last_index < 11; round++) h_flush(&c, 2);
    c.nodes[2].hold = false;
    h_flush(&c, 2);
    h_ticks(&c, 2);
    assert_int_equal(h_status(&c, 2)->last_index, h_status(&c, 1)->last_index);
    assert_true(k.max_entries >= 2); /* batched once the window reopened */
    assert_true(k.max_bytes_multi <= 250);
    c.filter = NULL;
    h_check_safety(&c);
    h_free(&c);
}

/* A follower in probe state gets one APPEND per round trip; a heartbeat reply releases the
 * next probe. */
static void test_probe_resends_after_heartbeat_reply(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    raft_report_unreachable(h_raft(&c, 1), 2);
    assert_int_equal(h_status(&c, 1)->peers[0].state, RAFT_PROGRESS_PROBE);
    struct count k = {.to = 2};
    c.filter = count_appends;
    c.filter_arg = &k;
    h_propose(&c, 1, "p1");
    h_propose(&c, 1, "p2");
    assert_int_equal(k.appends, 0); /* paused until we hear from it */
    h_ticks(&c, 1);                 /* heartbeat, reply, probe, accept, replicate */
    assert_true(k.appends >= 1);
    assert_int_equal(h_status(&c, 2)->last_index, h_status(&c, 1)->last_index);
    c.filter = NULL;
    h_free(&c);
}

/* APPENDs lost in replicate state are detected through heartbeat replies and resent. */
static void test_lost_appends_are_recovered(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    struct count k = {.to = 2, .drop = true};
    c.filter = count_appends;
    c.filter_arg = &k;
    for (int i = 0; i < 5; i++) h_propose(&c, 1, "lost");
    assert_true(k.appends >= 5);
    assert_int_equal(h_status(&c, 2)->last_index, 1);
    k.drop = false;
    h_ticks(&c, 3);
    assert_int_equal(h_status(&c, 2)->last_index, h_status(&c, 1)->last_index);
    assert_int_equal(h_status(&c, 2)->commit, h_status(&c, 1)->commit);
    c.filter = NULL;
    h_check_safety(&c);
    h_free(&c);
}

/* Committed entries handed out per update are bounded by max_apply_bytes (at least one). */
static void test_apply_batches_bounded(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.max_apply_bytes = 10;
    struct h_cluster c;
    h_init(&c, 1, 1, &o);
    h_elect(&c, 1);
    struct raft *r = h_raft(&c, 1);
    for (int i = 0; i < 5; i++) assert_int_equal(raft_propose(r, "12345678", 8, NULL), 0);
    struct raft_update u;
    assert_true(raft_get_update(r, &u));
    assert_int_equal(u.n_entries, 5);
    uint64_t li = u.entries[4].index, lt = u.entries[4].term;
    raft_persisted(r, li, lt);
    uint32_t updates = 0, total = 0;
    while (raft_get_update(r, &u)) {
        if (!u.n_committed) continue;
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < u.n_committed; i++) bytes += u.committed[i].len;
        assert_true(u.n_committed == 1 || bytes <= 10);
        total += u.n_committed;
        updates++;
    }
    assert_int_equal(total, 5);
    assert_true(updates >= 3);
    h_free(&c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_figure7_follower_logs_converge),
        cmocka_unit_test(test_figure8_previous_term_entry_not_committed_by_counting),
        cmocka_unit_test(test_duplicated_and_reordered_appends_are_harmless),
        cmocka_unit_test(test_flow_control_inflight_window_and_batching),
        cmocka_unit_test(test_probe_resends_after_heartbeat_reply),
        cmocka_unit_test(test_lost_appends_are_recovered),
        cmocka_unit_test(test_apply_batches_bounded),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
