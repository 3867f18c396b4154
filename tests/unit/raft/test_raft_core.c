/* test_raft_core.c — proposals and forwarding, persistence ordering (§3.8, §10.2.1), message
 * validation, crash-restart from raft_boot, and option/boot validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "util/err.h"

/* Followers forward proposals to the leader; with no leader known a proposal fails at once. */
static void test_proposal_forwarding_and_no_leader(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    uint64_t idx = 99;
    assert_int_equal(raft_propose(h_raft(&c, 2), "x", 1, &idx), CC_ENOLEADER);
    assert_int_equal(idx, 0);
    assert_false(raft_has_update(h_raft(&c, 2)));
    h_elect(&c, 1);
    h_ticks(&c, 1);
    assert_int_equal(raft_propose(h_raft(&c, 2), "forwarded", 9, &idx), 0);
    assert_int_equal(idx, 0); /* the follower does not know where it lands */
    struct raft_update u;
    assert_true(raft_get_update(h_raft(&c, 2), &u));
    assert_int_equal(u.n_msgs, 1);
    assert_int_equal(u.msgs[0].type, RAFT_MSG_PROPOSE);
    assert_int_equal(u.msgs[0].to, 1);
    assert_int_equal(u.msgs[0].n_entries, 1);
    assert_memory_equal(u.msgs[0].entries[0].data, "forwarded", 9);
    /* Deliver it by hand (the harness did not see this update). */
    struct raft_msg copy;
    assert_int_equal(raft_msg_copy(&copy, &u.msgs[0]), 0);
    assert_int_equal(raft_step(h_raft(&c, 1), &copy), 0);
    raft_msg_release(&copy);
    h_settle(&c);
    h_ticks(&c, 1);
    uint64_t last = h_status(&c, 1)->last_index;
    struct raft_status *st = h_status(&c, 3);
    assert_int_equal(st->commit, last);
    assert_int_equal(c.nodes[3].sm.n_normal, 1);
    /* Oversized proposals are refused everywhere. */
    static uint8_t big[(8u << 20) + 1];
    assert_int_equal(raft_propose(h_raft(&c, 1), big, sizeof(big), NULL), CC_ETOOBIG);
    assert_int_equal(raft_propose(h_raft(&c, 2), big, sizeof(big), NULL), CC_ETOOBIG);
    h_free(&c);
}

/* The leader refuses proposals once uncommitted bytes exceed the limit. */
static void test_uncommitted_bytes_bounded(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.max_uncommitted_bytes = 100;
    struct h_cluster c;
    h_init(&c, 3, 3, &o);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    h_isolate(&c, 1, true);
    char v[41];
    memset(v, 'u', 40);
    v[40] = 0;
    struct raft *r = h_raft(&c, 1);
    assert_int_equal(raft_propose(r, v, 40, NULL), 0);
    assert_int_equal(raft_propose(r, v, 40, NULL), 0);
    assert_int_equal(raft_propose(r, v, 40, NULL), CC_EBUSY);
    h_isolate(&c, 1, false);
    h_ticks(&c, 2);
    assert_int_equal(raft_propose(r, v, 40, NULL), 0);
    h_free(&c);
}

static const struct raft_msg *find(const struct raft_msg *v, uint32_t n, uint8_t type)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i].type == type) return &v[i];
    return NULL;
}

/* §3.8 / §10.2.1: a peer never promises what is not durable. Votes and acknowledgements are in
 * msgs_after_persist, the vote itself is in the same update's hard state, and committed entries
 * are never handed out beyond what the member persisted. */
static void test_persistence_ordering(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    struct raft *r1 = h_raft(&c, 1), *r2 = h_raft(&c, 2);
    /* Candidate: its vote requests wait for its own vote to be durable. */
    struct raft_update u;
    for (int i = 0; i < 100 && h_status(&c, 1)->role != RAFT_PRE_CANDIDATE; i++) raft_tick(r1);
    assert_true(raft_get_update(r1, &u));
    const struct raft_msg *pv = find(u.msgs, u.n_msgs, RAFT_MSG_PREVOTE);
    assert_non_null(pv); /* a pre-vote promises nothing: sent now */
    struct raft_msg pre;
    assert_int_equal(raft_msg_copy(&pre, pv), 0);
    assert_int_equal(raft_step(r2, &pre), 0);
    raft_msg_release(&pre);
    assert_true(raft_get_update(r2, &u));
    const struct raft_msg *pvr =
        find(u.msgs_after_persist, u.n_msgs_after_persist, RAFT_MSG_PREVOTE_RESP);
    assert_non_null(pvr);
    assert_false(pvr->reject);
    struct raft_msg grant;
    assert_int_equal(raft_msg_copy(&grant, pvr), 0);
    assert_int_equal(raft_step(r1, &grant), 0);
    raft_msg_release(&grant);
    assert_true(raft_get_update(r1, &u));
    assert_int_equal(u.role, RAFT_CANDIDATE);
    assert_true(u.hs_changed);
    assert_int_equal(u.hs.vote, 1);
    assert_null(find(u.msgs, u.n_msgs, RAFT_MSG_VOTE));
    const struct raft_msg *v = find(u.msgs_after_persist, u.n_msgs_after_persist, RAFT_MSG_VOTE);
    assert_non_null(v);
    /* Voter: the grant travels after its hard state (which holds the vote). */
    struct raft_msg vote;
    assert_int_equal(raft_msg_copy(&vote, v), 0);
    assert_int_equal(raft_step(r2, &vote), 0);
    raft_msg_release(&vote);
    assert_true(raft_get_update(r2, &u));
    assert_true(u.hs_changed);
    assert_int_equal(u.hs.vote, 1);
    assert_null(find(u.msgs, u.n_msgs, RAFT_MSG_VOTE_RESP));
    assert_non_null(find(u.msgs_after_persist, u.n_msgs_after_persist, RAFT_MSG_VOTE_RESP));
    h_drop_all(&c);
    h_free(&c);

    /* Follower holding its disk: acknowledgement held, nothing applied beyond persisted. */
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    c.nodes[2].hold = true;
    uint64_t idx = h_propose(&c, 1, "durable-first");
    h_ticks(&c, 2); /* 1 and 3 commit; 1 tells 2 the commit index */
    assert_true(h_status(&c, 1)->commit >= idx);
    assert_true(h_status(&c, 2)->commit >= idx);
    assert_true(h_status(&c, 2)->persisted < idx);
    assert_true(c.nodes[2].sm.applied < idx);
    assert_true(c.nodes[2].n_pending > 0);
    c.nodes[2].hold = false;
    h_flush(&c, 2);
    assert_int_equal(h_status(&c, 2)->persisted, idx);
    assert_int_equal(c.nodes[2].sm.applied, idx);
    /* The leader commits only when durable on a quorum including or excluding itself. */
    c.nodes[1].hold = true;
    idx = h_propose(&c, 1, "leader-disk-slow");
    h_ticks(&c, 1);
    assert_true(h_status(&c, 1)->commit >= idx); /* 2 and 3 are a quorum */
    assert_true(c.nodes[1].sm.applied < idx);    /* but the leader applies after its disk */
    h_flush(&c, 1);
    assert_int_equal(c.nodes[1].sm.applied, idx);
    h_check_safety(&c);
    h_free(&c);
}

static struct raft_msg base_msg(uint8_t type, raft_id from, raft_id to, uint64_t term)
{
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

/* Malformed or oversized messages are refused and change nothing. */
static void test_malformed_messages_are_refused(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    struct raft *r = h_raft(&c, 2);
    struct raft_status before = *h_status(&c, 2);
    uint64_t term = before.term;
    uint64_t last = before.last_index;
    struct raft_entry e[2];
    memset(e, 0, sizeof(e));
    e[0].term = term;
    e[0].index = last + 1;
    e[0].type = RAFT_ENTRY_NORMAL;
    e[0].len = 1;
    e[0].data = (uint8_t *)"a";
    e[1] = e[0];
    e[1].index = last + 2;

    struct raft_msg m = base_msg(RAFT_MSG_APPEND, 1, 3, term); /* not for us */
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    m = base_msg(RAFT_MSG_APPEND, 0, 2, term); /* no sender */
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    m = base_msg(RAFT_MSG_APPEND, 2, 2, term); /* from ourselves */
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    m = base_msg(0, 1, 2, term);
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    m = base_msg(RAFT_MSG_TYPE_MAX_ + 1, 1, 2, term);
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    m = base_msg(RAFT_MSG_APPEND, 1, 2, 0); /* no term */
    assert_int_equal(raft_step(r, &m), CC_EPROTO);

    m = base_msg(RAFT_MSG_APPEND, 1, 2, term);
    m.index = last;
    m.log_term = h_term_at(&c, 2, last);
    m.entries = e;
    m.n_entries = 2;
    e[1].index = last + 3; /* a gap */
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    e[1].index = last + 2;
    e[1].term = term + 1; /* beyond the sender's term */
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    e[1].term = term;
    e[1].data = NULL; /* len 1 without data */
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    e[1].data = (uint8_t *)"b";
    e[1].type = 9;
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    e[1].type = RAFT_ENTRY_CONF; /* a CONF entry that does not decode */
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    e[1].type = RAFT_ENTRY_NORMAL;
    e[1].len = RAFT_MAX_ENTRY_BYTES_LIMIT + 1;
    assert_int_equal(raft_step(r, &m), CC_ETOOBIG);
    e[1].len = 1;
    m.n_entries = RAFT_MAX_MSG_ENTRIES_LIMIT + 1;
    assert_int_equal(raft_step(r, &m), CC_ETOOBIG);
    m.n_entries = 2;
    m.entries = NULL;
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    m.entries = e;
    m.data = (uint8_t *)"x"; /* snapshot bytes on an APPEND */
    m.len = 1;
    assert_int_equal(raft_step(r, &m), CC_EPROTO);
    m.data = NULL;
    m.len = 0;
    struct raft_msg v = base_msg(RAFT_MSG_VOTE_RESP, 1, 2, term);
    v.n_entries = 1;
    v.entries = e;
    assert_int_equal(raft_step(r, &v), CC_EPROTO);
    struct raft_msg p = base_msg(RAFT_MSG_PROPOSE, 1, 2, 0); /* PROPOSE without entries */
    assert_int_equal(raft_step(r, &p), CC_EPROTO);
    struct raft_msg t = base_msg(RAFT_MSG_TRANSFER_LEADER, 1, 2, 0);
    assert_int_equal(raft_step(r, &t), CC_EPROTO);

    /* Nothing changed, nothing to do. */
    assert_false(raft_has_update(r));
    struct raft_status *after = h_status(&c, 2);
    assert_int_equal(after->term, before.term);
    assert_int_equal(after->last_index, before.last_index);
    assert_int_equal(after->commit, before.commit);
    /* The well-formed version is accepted. */
    assert_int_equal(raft_step(r, &m), 0);
    assert_int_equal(h_status(&c, 2)->last_index, last + 2);
    h_drop_all(&c);
    h_free(&c);
}

/* Crash and restart from what was durable: committed entries survive, the vote survives, and
 * the member rejoins. */
static void test_crash_restart_from_boot(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    for (int i = 0; i < 10; i++) h_propose(&c, 1, "survives");
    h_ticks(&c, 1);
    uint64_t commit = h_status(&c, 1)->commit;
    h_crash(&c, 2);
    h_propose(&c, 1, "while-2-is-down");
    h_restart(&c, 2);
    struct raft_status *st = h_status(&c, 2);
    assert_true(st->last_index >= commit);
    assert_int_equal(st->applied, c.nodes[2].sm.applied);
    h_ticks(&c, 2);
    assert_int_equal(h_status(&c, 2)->last_index, h_status(&c, 1)->last_index);
    /* Everyone down at once, then back: same log, a leader again, nothing lost. */
    for (raft_id id = 1; id <= 3; id++) h_crash(&c, id);
    h_drop_all(&c);
    for (raft_id id = 1; id <= 3; id++) h_restart(&c, id);
    int ticks = 0;
    while (!h_leader(&c) && ticks++ < 100) h_ticks(&c, 1);
    raft_id l = h_leader(&c);
    assert_true(l != 0);
    uint64_t idx = h_propose(&c, l, "after-restart");
    h_ticks(&c, 2);
    for (raft_id id = 1; id <= 3; id++) {
        assert_true(h_status(&c, id)->commit >= idx);
        assert_int_equal(c.nodes[id].sm.n_normal, 12);
    }
    h_check_safety(&c);
    h_free(&c);
}

/* §3.8: the vote is part of the durable hard state; after a restart a member that voted in a
 * term refuses a second candidate of the same term. */
static void test_vote_survives_restart(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.pre_vote = false;
    struct h_cluster c;
    h_init(&c, 3, 3, &o);
    struct raft *r2 = h_raft(&c, 2);
    struct raft_msg m = base_msg(RAFT_MSG_VOTE, 1, 2, 5);
    assert_int_equal(raft_step(r2, &m), 0);
    h_update(&c, 2);
    h_drop_all(&c);
    assert_int_equal(c.nodes[2].disk.hs.term, 5);
    assert_int_equal(c.nodes[2].disk.hs.vote, 1);
    h_crash(&c, 2);
    h_restart(&c, 2);
    r2 = h_raft(&c, 2);
    m = base_msg(RAFT_MSG_VOTE, 3, 2, 5);
    assert_int_equal(raft_step(r2, &m), 0);
    struct raft_update u;
    assert_true(raft_get_update(r2, &u));
    assert_int_equal(u.n_msgs_after_persist, 1);
    assert_int_equal(u.msgs_after_persist[0].type, RAFT_MSG_VOTE_RESP);
    assert_true(u.msgs_after_persist[0].reject);
    h_free(&c);
}

/* raft_new refuses bad options (EINVAL) and inconsistent boot states (ECORRUPT). */
static void test_options_and_boot_validation(void **state)
{
    (void)state;
    struct raft_options o;
    struct raft_boot b;
    struct raft *r = NULL;
    memset(&b, 0, sizeof(b));
    b.snap.config.n_voters = 1;
    b.snap.config.voters[0] = 1;
    h_default_opts(&o, 1);
    assert_int_equal(raft_new(&o, &b, &r), 0);
    raft_free(r);
    h_default_opts(&o, 0);
    assert_int_equal(raft_new(&o, &b, &r), CC_EINVAL);
    h_default_opts(&o, 1);
    o.heartbeat_tick = o.election_tick;
    assert_int_equal(raft_new(&o, &b, &r), CC_EINVAL);
    h_default_opts(&o, 1);
    o.max_inflight = 0;
    assert_int_equal(raft_new(&o, &b, &r), CC_EINVAL);
    h_default_opts(&o, 1);
    o.snap_chunk_bytes = RAFT_MAX_SNAP_CHUNK_LIMIT + 1;
    assert_int_equal(raft_new(&o, &b, &r), CC_EINVAL);
    assert_null(r);

    h_default_opts(&o, 1);
    struct raft_entry e[3];
    memset(e, 0, sizeof(e));
    for (int i = 0; i < 3; i++) {
        e[i].index = (uint64_t)i + 1;
        e[i].term = 1;
        e[i].type = RAFT_ENTRY_NOOP;
    }
    b.entries = e;
    b.n_entries = 3;
    b.hs.term = 1;
    b.hs.commit = 3;
    b.applied = 2;
    assert_int_equal(raft_new(&o, &b, &r), 0);
    struct raft_status st;
    raft_status(r, &st);
    assert_int_equal(st.commit, 3);
    assert_int_equal(st.applied, 2);
    assert_int_equal(st.persisted, 3);
    raft_free(r);
    e[2].index = 4; /* not contiguous */
    assert_int_equal(raft_new(&o, &b, &r), CC_ECORRUPT);
    e[2].index = 3;
    e[2].term = 0;
    assert_int_equal(raft_new(&o, &b, &r), CC_ECORRUPT);
    e[2].term = 2; /* above hs.term */
    assert_int_equal(raft_new(&o, &b, &r), CC_ECORRUPT);
    e[2].term = 1;
    b.hs.commit = 4; /* beyond the log */
    assert_int_equal(raft_new(&o, &b, &r), CC_ECORRUPT);
    b.hs.commit = 3;
    b.applied = 4;
    assert_int_equal(raft_new(&o, &b, &r), CC_ECORRUPT);
    b.applied = 0;
    b.snap.config.voters[0] = 0; /* bad configuration */
    assert_int_equal(raft_new(&o, &b, &r), CC_ECORRUPT);
    assert_null(r);
}

/* raft_has_update agrees with raft_get_update, and an update's pointers stay valid until the
 * next call (checked by the harness on every update; here on a busy leader). */
static void test_update_contract_on_busy_leader(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 5, 5, NULL);
    h_elect(&c, 1);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 16; i++)
            assert_int_equal(raft_propose(h_raft(&c, 1), "batch-entry", 11, NULL), 0);
        h_settle(&c);
        if (round % 5 == 0) h_ticks(&c, 1);
    }
    h_ticks(&c, 2);
    for (raft_id id = 1; id <= 5; id++) assert_int_equal(c.nodes[id].sm.n_normal, 320);
    h_check_safety(&c);
    h_free(&c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proposal_forwarding_and_no_leader),
        cmocka_unit_test(test_uncommitted_bytes_bounded),
        cmocka_unit_test(test_persistence_ordering),
        cmocka_unit_test(test_malformed_messages_are_refused),
        cmocka_unit_test(test_crash_restart_from_boot),
        cmocka_unit_test(test_vote_survives_restart),
        cmocka_unit_test(test_options_and_boot_validation),
        cmocka_unit_test(test_update_contract_on_busy_leader),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
