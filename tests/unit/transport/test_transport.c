/* test_transport.c — live transports on one loop over loopback: flow, refusals, reconnects,
 * bounded queues. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "msggen.h"
#include "util/err.h"

#define CLUSTER 0xc1c1c1c1c1c1c1c1ull

static int setup(void **state)
{
    *state = h_setup();
    return 0;
}

static int teardown(void **state)
{
    h_teardown(*state);
    return 0;
}

static void add_peer(struct h_fixture *fx, int i, int j)
{
    char url[64];
    assert_int_equal(transport_add_peer(fx->n[i].t, (raft_id)j, h_url(fx, j, url, sizeof(url))), 0);
}

static void wait_connected(struct h_fixture *fx, int from, int to)
{
    struct h_pair p = {from, to};
    assert_true(h_wait(fx, h_cond_connected, &p));
}

static void wait_received(struct h_fixture *fx, int node, int from, uint64_t n)
{
    struct h_count c = {node, from, n};
    assert_true(h_wait(fx, h_cond_received, &c));
}

static struct transport_peer_stats peer_stats(struct h_fixture *fx, int i, int j)
{
    struct transport_peer_stats st;
    assert_int_equal(transport_peer_stats(fx->n[i].t, (raft_id)j, &st), 0);
    return st;
}

static struct transport_stats stats(struct h_fixture *fx, int i)
{
    struct transport_stats st;
    transport_stats(fx->n[i].t, &st);
    return st;
}

/* Three members exchange every message type both ways, including 1 MiB snapshot chunks that
 * span many reads: all arrive intact, in order, exactly once. */
static void test_messages_flow_between_three_members(void **state)
{
    struct h_fixture *fx = *state;
    for (int i = 1; i <= 3; i++) h_start_default(fx, i, CLUSTER);
    for (int i = 1; i <= 3; i++)
        for (int j = 1; j <= 3; j++)
            if (i != j) add_peer(fx, i, j);

    /* Sent at once, before any connection is up: queued while connecting. */
    for (uint64_t seq = 0; seq < 100; seq++)
        for (int i = 1; i <= 3; i++)
            for (int j = 1; j <= 3; j++)
                if (i != j) assert_int_equal(h_send(fx, i, j, seq), 0);
    for (int i = 1; i <= 3; i++)
        for (int j = 1; j <= 3; j++)
            if (i != j) wait_received(fx, j, i, 100);

    /* Then in bursts between loop iterations, while connections are up. */
    for (uint64_t seq = 100; seq < 300; seq++) {
        for (int i = 1; i <= 3; i++)
            for (int j = 1; j <= 3; j++)
                if (i != j) assert_int_equal(h_send(fx, i, j, seq), 0);
        if (seq % 20 == 0) uv_run(&fx->loop, UV_RUN_NOWAIT);
    }
    for (int i = 1; i <= 3; i++)
        for (int j = 1; j <= 3; j++)
            if (i != j) wait_received(fx, j, i, 300);

    for (int i = 1; i <= 3; i++) {
        struct h_node *nd = &fx->n[i];
        assert_int_equal(nd->bad, 0);
        assert_int_equal(nd->reports, 0);
        struct transport_stats ts = stats(fx, i);
        assert_int_equal(ts.msgs_received, 600);
        assert_int_equal(ts.inbound_accepted, 2);
        assert_int_equal(ts.inbound_open, 2);
        assert_int_equal(ts.protocol_errors, 0);
        for (int j = 1; j <= 3; j++) {
            if (i == j) continue;
            assert_int_equal(nd->received[j], 300);
            assert_int_equal(nd->gaps[j], 0);
            struct transport_peer_stats ps = peer_stats(fx, i, j);
            assert_true(ps.connected);
            assert_int_equal(ps.msgs_sent, 300);
            assert_true(ps.bytes_sent > 6u * (1u << 20)); /* the 1 MiB chunks went through */
            assert_int_equal(ps.msgs_dropped, 0);
            assert_int_equal(ps.connects, 1);
            assert_int_equal(ps.last_error, 0);
        }
    }
    raft_id ids[4];
    assert_int_equal(transport_peer_ids(fx->n[1].t, ids, 4), 2);
}

/* A member of another cluster is refused on both sides, nothing it sent is delivered, and
 * the refusal is visible in the stats and reported as unreachable. */
static void test_other_cluster_refused(void **state)
{
    struct h_fixture *fx = *state;
    h_start_default(fx, 1, CLUSTER);
    h_start_default(fx, 2, CLUSTER + 1);
    add_peer(fx, 2, 1);
    add_peer(fx, 1, 2);
    for (uint64_t seq = 0; seq < 5; seq++) {
        assert_int_equal(h_send(fx, 2, 1, seq), 0); /* queued while the handshake runs */
        assert_int_equal(h_send(fx, 1, 2, seq), 0);
    }
    struct h_node *n1 = &fx->n[1], *n2 = &fx->n[2];
    H_WAIT_UNTIL(fx, stats(fx, 1).inbound_refused >= 1 && stats(fx, 2).inbound_refused >= 1 &&
                         n1->reports >= 1 && n2->reports >= 1);
    struct transport_stats s1 = stats(fx, 1);
    assert_int_equal(s1.last_refusal, CC_ECLUSTER);
    assert_non_null(strstr(s1.last_refusal_msg, "cluster ID mismatch"));
    assert_int_equal(s1.msgs_received, 0);
    assert_int_equal(s1.inbound_accepted, 0);
    struct transport_peer_stats p21 = peer_stats(fx, 2, 1);
    assert_false(p21.connected);
    assert_int_equal(p21.last_error, CC_ECLUSTER);
    assert_int_equal(p21.msgs_sent, 0);
    assert_int_equal(p21.msgs_dropped, 5);
    assert_int_equal(n2->last_report, 1);
    assert_int_equal(n1->received[2] + n2->received[1], 0);
}

/* A HELLO for another member ID is refused; a removed member is refused until re-added. */
static void test_wrong_member_and_removed_member_refused(void **state)
{
    struct h_fixture *fx = *state;
    h_start_default(fx, 1, CLUSTER);
    h_start_default(fx, 2, CLUSTER);
    char url[64];
    /* Node 2 believes member 9 lives at node 1's address. */
    assert_int_equal(transport_add_peer(fx->n[2].t, 9, h_url(fx, 1, url, sizeof(url))), 0);
    H_WAIT_UNTIL(fx, stats(fx, 1).last_refusal == CC_ENOTFOUND &&
                         peer_stats(fx, 2, 9).last_error == CC_ENOTFOUND);
    assert_int_equal(transport_remove_peer(fx->n[2].t, 9), 0);
    assert_int_equal(transport_remove_peer(fx->n[2].t, 9), CC_ENOTFOUND);

    add_peer(fx, 1, 2);
    add_peer(fx, 2, 1);
    wait_connected(fx, 2, 1);
    assert_int_equal(h_send(fx, 2, 1, 0), 0);
    wait_received(fx, 1, 2, 1);

    /* Node 1 removes member 2: both connections close, and 2's reconnects are refused. */
    assert_int_equal(transport_remove_peer(fx->n[1].t, 2), 0);
    assert_int_equal(transport_peer_stats(fx->n[1].t, 2, &(struct transport_peer_stats){0}),
                     CC_ENOTFOUND);
    H_WAIT_UNTIL(fx, stats(fx, 1).last_refusal == CC_EREMOVED &&
                         peer_stats(fx, 2, 1).last_error == CC_EREMOVED);
    assert_int_equal(stats(fx, 1).inbound_open, 0);
    assert_int_equal(
        transport_send(fx->n[1].t,
                       &(struct raft_msg){.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2}),
        CC_ENOTFOUND);

    /* Re-added: accepted again at node 2's next attempt. */
    add_peer(fx, 1, 2);
    wait_connected(fx, 2, 1);
    assert_int_equal(h_send(fx, 2, 1, 1), 0);
    wait_received(fx, 1, 2, 2);
    assert_int_equal(fx->n[1].bad, 0);
}

static bool cond_reported(struct h_fixture *fx, const void *arg)
{
    return fx->n[*(const int *)arg].reports > 0;
}

/* The peer's transport is closed and re-created on the same port: sends in between are
 * dropped and reported, and the connection comes back by itself. */
static void test_reconnect_after_peer_restart(void **state)
{
    struct h_fixture *fx = *state;
    h_start_default(fx, 1, CLUSTER);
    h_start_default(fx, 2, CLUSTER);
    add_peer(fx, 1, 2);
    wait_connected(fx, 1, 2);
    for (uint64_t seq = 0; seq < 10; seq++) assert_int_equal(h_send(fx, 1, 2, seq), 0);
    wait_received(fx, 2, 1, 10);

    uint16_t port = fx->n[2].port;
    h_stop(fx, 2);
    /* The lost connection is reported by itself, as a failed snapshot too: seq 8 was a chunk. */
    int one = 1;
    assert_true(h_wait(fx, cond_reported, &one));
    assert_int_equal(fx->n[1].last_report, 2);
    assert_int_equal(fx->n[1].snap_reports, 1);
    uint32_t reports = fx->n[1].reports;
    h_pump_start(fx, 1, 2, 10);
    H_WAIT_UNTIL(fx, fx->n[1].reports > reports); /* drops while 2 is away */
    H_WAIT_UNTIL(fx, fx->pump_unavail > 0); /* and the peer is seen as down between attempts */

    struct transport_options o;
    h_options(fx, 2, CLUSTER, port, &o);
    h_start(fx, 2, &o);
    assert_int_equal(fx->n[2].port, port);
    wait_received(fx, 2, 1, 5);
    h_pump_stop(fx);

    struct transport_peer_stats ps = peer_stats(fx, 1, 2);
    assert_true(ps.connected);
    assert_true(ps.connects >= 2);
    assert_true(ps.connect_failures >= 1);
    assert_true(ps.msgs_dropped >= 1);
    assert_int_equal(fx->n[2].bad, 0); /* ctx still only grows: old messages never replay */
}

/* A full queue drops (by count and by bytes) and reports once, never grows. */
static void test_queue_overflow_drops_and_reports(void **state)
{
    struct h_fixture *fx = *state;
    struct transport_options o;
    h_options(fx, 1, CLUSTER, 0, &o);
    o.max_queue_msgs = 8;
    h_start(fx, 1, &o);
    h_start_default(fx, 2, CLUSTER);
    add_peer(fx, 1, 2);
    wait_connected(fx, 1, 2);

    /* 50 sends in one go: nothing drains in between. seq 8 is a 1 MiB SNAPSHOT. */
    int ok = 0, busy = 0;
    for (uint64_t seq = 0; seq < 50; seq++) {
        int rc = h_send(fx, 1, 2, seq);
        if (rc == 0) ok++;
        if (rc == CC_EBUSY) busy++;
    }
    assert_int_equal(ok, 8);
    assert_int_equal(busy, 42);
    struct transport_peer_stats ps = peer_stats(fx, 1, 2);
    assert_int_equal(ps.msgs_queued, 8);
    assert_int_equal(ps.msgs_dropped, 42);
    assert_int_equal(fx->n[1].reports, 0); /* never from inside transport_send */
    wait_received(fx, 2, 1, 8);
    int one = 1;
    assert_true(h_wait(fx, cond_reported, &one));
    h_run_for(fx, 20);
    assert_int_equal(fx->n[1].reports, 1); /* coalesced */
    assert_int_equal(fx->n[1].snap_reports, 1);
    assert_int_equal(fx->n[2].received[1], 8);
    assert_int_equal(fx->n[2].gaps[1], 0);

    /* By bytes: room for one 1 MiB chunk and some small messages, not two chunks. */
    h_options(fx, 3, CLUSTER, 0, &o);
    o.max_frame_bytes = (1u << 20) + 4096;
    o.max_queue_bytes = o.max_frame_bytes + 100000;
    h_start(fx, 3, &o);
    add_peer(fx, 3, 2);
    wait_connected(fx, 3, 2);
    assert_int_equal(h_send(fx, 3, 2, 8), 0); /* 1 MiB */
    for (uint64_t seq = 9; seq < 53; seq++) assert_int_equal(h_send(fx, 3, 2, seq), 0);
    assert_int_equal(h_send(fx, 3, 2, 53), CC_EBUSY); /* the next 1 MiB chunk */
    /* A frame over max_frame_bytes is refused whatever the queue holds. */
    struct raft_msg big = {.type = RAFT_MSG_APPEND, .from = 3, .to = 2, .n_entries = 1};
    struct raft_entry e = {.type = RAFT_ENTRY_NORMAL, .len = 2u << 20};
    e.data = calloc(1, e.len);
    big.entries = &e;
    assert_int_equal(transport_send(fx->n[3].t, &big), CC_ETOOBIG);
    free(e.data);
    wait_received(fx, 2, 3, 45);
    int three = 3;
    assert_true(h_wait(fx, cond_reported, &three));
    assert_int_equal(fx->n[3].snap_reports, 1);
    assert_int_equal(peer_stats(fx, 3, 2).msgs_dropped, 2);
    assert_int_equal(fx->n[2].bad, 0);
}

static void test_api_misuse_is_refused(void **state)
{
    struct h_fixture *fx = *state;
    h_start_default(fx, 1, CLUSTER);
    struct transport *t = fx->n[1].t;
    assert_int_equal(transport_add_peer(t, 0, "http://127.0.0.1:1"), CC_EINVAL);
    assert_int_equal(transport_add_peer(t, 1, "http://127.0.0.1:1"), CC_EINVAL); /* ourselves */
    assert_int_equal(transport_add_peer(t, 2, "https://127.0.0.1:1"), CC_EINVAL);
    assert_int_equal(transport_add_peer(t, 2, "http://127.0.0.1:0"), CC_EINVAL);
    assert_int_equal(transport_add_peer(t, 2, "http://127.0.0.1:1"), 0);
    assert_int_equal(transport_add_peer(t, 2, "http://127.0.0.1:1"), 0); /* idempotent */
    for (raft_id id = 100; id < 100 + TRANSPORT_MAX_PEERS - 1; id++)
        assert_int_equal(transport_add_peer(t, id, "http://127.0.0.1:1"), 0);
    assert_int_equal(transport_add_peer(t, 999, "http://127.0.0.1:1"), CC_ETOOBIG);
    struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 77};
    assert_int_equal(transport_send(t, &m), CC_ENOTFOUND);
    m.to = 2;
    m.type = 99;
    assert_int_equal(transport_send(t, &m), CC_EINVAL);

    /* Creation errors leave nothing on the loop (teardown checks uv_loop_close). */
    struct transport_options o;
    struct transport *t2 = NULL;
    h_options(fx, 2, CLUSTER, fx->n[1].port, &o);
    assert_int_equal(transport_new(&fx->loop, NULL, &o, &t2), CC_EEXIST);
    h_options(fx, 2, CLUSTER, 0, &o);
    o.listen_url = "localhost:0"; /* listen addresses are IPs */
    assert_int_equal(transport_new(&fx->loop, NULL, &o, &t2), CC_EINVAL);
    h_options(fx, 2, CLUSTER, 0, &o);
    o.max_queue_bytes = o.max_frame_bytes - 1;
    assert_int_equal(transport_new(&fx->loop, NULL, &o, &t2), CC_EINVAL);
    h_options(fx, 2, CLUSTER, 0, &o);
    o.id = 0;
    assert_int_equal(transport_new(&fx->loop, NULL, &o, &t2), CC_EINVAL);
    assert_null(t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_messages_flow_between_three_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_cluster_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_member_and_removed_member_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_peer_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_overflow_drops_and_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_misuse_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
