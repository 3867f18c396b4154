/* test_raft_snapshot.c — log compaction and InstallSnapshot in bounded chunks (§5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "util/err.h"

struct snap_watch {
    int chunks;          /* SNAPSHOT messages delivered */
    int max_offset_seen; /* highest offset in a chunk */
    int rejects;         /* SNAPSHOT_RESP with reject */
    int drop_offset;     /* drop the first chunk at this offset (-1: none) */
    bool drop_all;       /* drop every chunk */
};

static bool watch_snap(struct raft_msg *m, void *arg)
{
    struct snap_watch *w = arg;
    if (m->type == RAFT_MSG_SNAPSHOT_RESP && m->reject) w->rejects++;
    if (m->type != RAFT_MSG_SNAPSHOT) return false;
    if (w->drop_all) return true;
    if (w->drop_offset >= 0 && m->offset == (uint64_t)w->drop_offset) {
        w->drop_offset = -1;
        return true;
    }
    w->chunks++;
    if ((int)m->offset > w->max_offset_seen) w->max_offset_seen = (int)m->offset;
    return false;
}

static void opts_small_chunks(struct raft_options *o)
{
    raft_options_default(o);
    o->snap_chunk_bytes = 16;
}

/* Builds: 3 members, 1 leads; 3 misses 20 entries; 1 snapshots and compacts them away. */
static void setup_lagging(struct h_cluster *c, struct snap_watch *w)
{
    struct raft_options o;
    opts_small_chunks(&o);
    h_init(c, 3, 3, &o);
    c->snap_bytes = 100; /* 7 chunks of 16 bytes */
    h_elect(c, 1);
    h_ticks(c, 1);
    h_isolate(c, 3, true);
    for (int i = 0; i < 20; i++) h_propose(c, 1, "entry-while-3-is-away");
    h_ticks(c, 1);
    struct raft_status *st = h_status(c, 1);
    assert_int_equal(st->commit, 21);
    assert_true(h_snapshot(c, 1, 21));
    st = h_status(c, 1);
    assert_int_equal(st->first_index, 22);
    assert_int_equal(st->snap_index, 21);
    c->filter = watch_snap;
    c->filter_arg = w;
}

static void assert_caught_up(struct h_cluster *c, raft_id id)
{
    struct raft_status *st = h_status(c, id);
    assert_int_equal(st->snap_index, 21);
    assert_int_equal(st->last_index, h_status(c, 1)->last_index);
    assert_int_equal(c->nodes[id].sm.applied, c->nodes[1].sm.applied);
    assert_true(c->nodes[id].sm.hash == c->nodes[1].sm.hash);
    h_check_safety(c);
}

/* A follower whose next entry was compacted away gets the snapshot, streamed in chunks of
 * snap_chunk_bytes with a bounded window, then the entries after it. */
static void test_snapshot_catch_up_in_chunks(void **state)
{
    (void)state;
    struct h_cluster c;
    struct snap_watch w = {.drop_offset = -1};
    setup_lagging(&c, &w);
    h_isolate(&c, 3, false);
    uint64_t after = h_propose(&c, 1, "after-snapshot");
    h_ticks(&c, 3);
    assert_int_equal(w.chunks, 7);
    assert_int_equal(w.max_offset_seen, 96);
    assert_int_equal(w.rejects, 0);
    assert_caught_up(&c, 3);
    assert_true(h_status(&c, 3)->commit >= after);
    assert_int_equal(h_status(&c, 3)->first_index, 22);
    /* The follower can restart from what it installed. */
    h_crash(&c, 3);
    h_restart(&c, 3);
    h_ticks(&c, 2);
    assert_caught_up(&c, 3);
    h_free(&c);
}

/* A chunk lost in transit: the next one arrives out of order and is rejected with the offset
 * the follower has; the leader resends from there. */
static void test_snapshot_rejected_chunk_is_resent(void **state)
{
    (void)state;
    struct h_cluster c;
    struct snap_watch w = {.drop_offset = 32};
    setup_lagging(&c, &w);
    h_isolate(&c, 3, false);
    h_ticks(&c, 4);
    assert_true(w.rejects >= 1);
    assert_caught_up(&c, 3);
    h_free(&c);
}

/* The transport reports a failed snapshot send: the leader waits for the follower to answer
 * a heartbeat, then resumes from the acknowledged offset. */
static void test_snapshot_failure_report_resumes(void **state)
{
    (void)state;
    struct h_cluster c;
    struct snap_watch w = {.drop_offset = -1, .drop_all = true};
    setup_lagging(&c, &w);
    h_isolate(&c, 3, false);
    h_settle(&c); /* the heartbeat reply of 3 puts it into SNAPSHOT state */
    h_ticks(&c, 1);
    assert_int_equal(h_status(&c, 1)->peers[1].state, RAFT_PROGRESS_SNAPSHOT);
    raft_report_snapshot_failed(h_raft(&c, 1), 3);
    h_settle(&c);
    w.drop_all = false;
    h_ticks(&c, 3);
    assert_caught_up(&c, 3);
    h_free(&c);
}

/* Chunks that vanish without any report are resent after an election timeout of silence. */
static void test_snapshot_silently_lost_chunks_are_resent(void **state)
{
    (void)state;
    struct h_cluster c;
    struct snap_watch w = {.drop_offset = -1, .drop_all = true};
    setup_lagging(&c, &w);
    h_isolate(&c, 3, false);
    h_ticks(&c, 3);
    assert_int_equal(w.chunks, 0);
    w.drop_all = false;
    h_ticks(&c, 12);
    assert_caught_up(&c, 3);
    h_free(&c);
}

/* Holds back one acknowledgement of a transfer (to deliver it late) and drops every chunk
 * whose offset is in [block_lo, block_hi). */
struct snap_delay {
    uint64_t hold_offset; /* the acknowledgement to hold back */
    bool held;
    struct raft_msg stale;
    uint64_t block_lo, block_hi;
};

static bool delay_snap(struct raft_msg *m, void *arg)
{
    struct snap_delay *d = arg;
    if (m->type == RAFT_MSG_SNAPSHOT_RESP && !m->reject && !d->held &&
        m->offset == d->hold_offset) {
        d->stale = *m; /* a reply carries no entries or data: a plain copy is whole */
        d->held = true;
        return true;
    }
    return m->type == RAFT_MSG_SNAPSHOT && m->offset >= d->block_lo && m->offset < d->block_hi;
}

/* An acknowledgement sent before the follower restarted arrives after it started over and holds
 * less: the leader must not believe it. Regression for concur-sim --seed 400762 --nodes 7: the
 * leader took the stale offset, then ignored every truthful (lower) rejection as stale and the
 * transfer never finished. */
static void test_snapshot_stale_ack_after_restart(void **state)
{
    (void)state;
    struct h_cluster c;
    struct snap_watch w = {.drop_offset = -1};
    setup_lagging(&c, &w);
    /* 3 receives bytes 0..80 (its acknowledgement of 64 is held back) and nothing after. */
    struct snap_delay d = {.hold_offset = 64, .block_lo = 80, .block_hi = UINT64_MAX};
    c.filter = delay_snap;
    c.filter_arg = &d;
    h_isolate(&c, 3, false);
    h_ticks(&c, 1);
    assert_true(d.held);
    /* 3 loses its partial file and, starting over, gets only the first 32 bytes. */
    h_crash(&c, 3);
    h_restart(&c, 3);
    d.block_lo = 32;
    d.block_hi = 80;
    h_ticks(&c, 30);
    assert_int_equal(h_status(&c, 1)->peers[1].state, RAFT_PROGRESS_SNAPSHOT);
    assert_int_equal(h_status(&c, 3)->snap_index, 0);
    /* The held acknowledgement (64 bytes, from before the restart) arrives now; then the
     * network heals. */
    assert_int_equal(raft_step(h_raft(&c, 1), &d.stale), 0);
    h_update(&c, 1);
    d.block_lo = d.block_hi = 0;
    h_ticks(&c, 40);
    assert_caught_up(&c, 3);
    h_free(&c);
}

/* The follower validates chunk order: a chunk from the middle of an unknown transfer is
 * refused (offset 0 expected) and nothing is handed to the caller. */
static void test_snapshot_chunk_order_validated(void **state)
{
    (void)state;
    struct h_cluster c;
    struct raft_options o;
    opts_small_chunks(&o);
    h_init(&c, 3, 3, &o);
    h_elect(&c, 1);
    h_ticks(&c, 1);
    struct raft *r2 = h_raft(&c, 2);
    uint8_t bytes[16] = {0};
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_SNAPSHOT;
    m.from = 1;
    m.to = 2;
    m.term = h_status(&c, 1)->term;
    m.snap.index = 50;
    m.snap.term = m.term;
    m.snap.config = h_status(&c, 1)->config;
    m.snap_size = 48;
    m.offset = 16;
    m.len = 16;
    m.data = bytes;
    assert_int_equal(raft_step(r2, &m), 0);
    struct raft_update u;
    assert_true(raft_get_update(r2, &u));
    assert_int_equal(u.n_snap_chunks, 0);
    assert_int_equal(u.n_msgs_after_persist, 1);
    assert_true(u.msgs_after_persist[0].reject);
    assert_int_equal(u.msgs_after_persist[0].offset, 0);
    /* Offset 0 starts it; the chunk is handed to the caller; the reply waits for the disk. */
    m.offset = 0;
    assert_int_equal(raft_step(r2, &m), 0);
    assert_true(raft_get_update(r2, &u));
    assert_int_equal(u.n_snap_chunks, 1);
    assert_memory_equal(u.snap_chunks[0].data, bytes, 16);
    assert_false(u.snapshot_ready);
    assert_int_equal(u.n_msgs, 0);
    assert_int_equal(u.msgs_after_persist[0].offset, 16);
    /* Bad chunk geometry is a protocol error. */
    m.offset = 40; /* 40 + 16 > 48 */
    assert_int_equal(raft_step(r2, &m), CC_EPROTO);
    m.offset = 32;
    m.done = false; /* the last chunk must say so */
    assert_int_equal(raft_step(r2, &m), CC_EPROTO);
    m.len = RAFT_MAX_SNAP_CHUNK_LIMIT + 1;
    assert_int_equal(raft_step(r2, &m), CC_ETOOBIG);
    assert_false(raft_has_update(r2));
    h_drop_all(&c);
    h_free(&c);
}

static struct raft_msg chunk(raft_id from, uint64_t term, uint64_t offset, uint8_t *bytes)
{
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_SNAPSHOT;
    m.from = from;
    m.to = 3;
    m.term = term;
    m.snap.index = 50;
    m.snap.term = 1;
    m.snap.config.n_voters = 3;
    for (int i = 0; i < 3; i++) m.snap.config.voters[i] = (raft_id)i + 1;
    m.snap_size = 48;
    m.offset = offset;
    m.len = 16;
    m.data = bytes;
    m.done = offset == 32;
    return m;
}

static const struct raft_msg *snap_reply(struct raft *r, struct raft_update *u)
{
    assert_true(raft_get_update(r, u));
    assert_int_equal(u->n_msgs_after_persist, 1);
    assert_int_equal(u->msgs_after_persist[0].type, RAFT_MSG_SNAPSHOT_RESP);
    return &u->msgs_after_persist[0];
}

/* A duplicated first chunk does not restart a transfer under way; chunks of two leaders'
 * files — which may differ byte for byte even at the same index — are never mixed. */
static void test_snapshot_duplicates_and_senders(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    struct raft *r3 = h_raft(&c, 3);
    uint8_t bytes[16] = {1};
    struct raft_update u;
    struct raft_msg m = chunk(1, 2, 0, bytes);
    assert_int_equal(raft_step(r3, &m), 0);
    assert_int_equal(snap_reply(r3, &u)->offset, 16);
    m = chunk(1, 2, 16, bytes);
    assert_int_equal(raft_step(r3, &m), 0);
    assert_int_equal(snap_reply(r3, &u)->offset, 32);
    m = chunk(1, 2, 0, bytes); /* late duplicate of the first chunk */
    assert_int_equal(raft_step(r3, &m), 0);
    const struct raft_msg *rep = snap_reply(r3, &u);
    assert_true(rep->reject);
    assert_int_equal(rep->offset, 32);
    assert_int_equal(u.n_snap_chunks, 0);
    /* Leader 2 of a later term continues at offset 32: refused, it must start at 0. */
    m = chunk(2, 3, 32, bytes);
    assert_int_equal(raft_step(r3, &m), 0);
    rep = snap_reply(r3, &u);
    assert_true(rep->reject);
    assert_int_equal(rep->offset, 0);
    for (uint64_t off = 0; off <= 32; off += 16) {
        m = chunk(2, 3, off, bytes);
        assert_int_equal(raft_step(r3, &m), 0);
        assert_true(raft_get_update(r3, &u));
        assert_int_equal(u.n_snap_chunks, 1);
        assert_int_equal(u.snap_chunks[0].offset, off);
    }
    assert_true(u.snapshot_ready);
    assert_int_equal(u.snapshot.index, 50);
    assert_true(u.msgs_after_persist[0].done);
    h_drop_all(&c);
    h_free(&c);
}

/* raft_snapshot_meta_at / raft_snapshot_taken / raft_compact refuse what they cannot honour. */
static void test_compaction_bounds(void **state)
{
    (void)state;
    struct h_cluster c;
    h_init(&c, 3, 3, NULL);
    h_elect(&c, 1);
    for (int i = 0; i < 5; i++) h_propose(&c, 1, "e");
    h_ticks(&c, 1);
    struct raft *r = h_raft(&c, 1);
    struct raft_snapshot_meta meta;
    uint64_t applied = c.nodes[1].sm.applied;
    assert_int_equal(raft_snapshot_meta_at(r, applied + 1, &meta), CC_EINVAL);
    assert_int_equal(raft_snapshot_meta_at(r, 0, &meta), CC_EINVAL);
    assert_int_equal(raft_compact(r, 3), CC_EINVAL); /* no snapshot covers it yet */
    assert_int_equal(raft_snapshot_meta_at(r, 4, &meta), 0);
    assert_int_equal(meta.term, h_term_at(&c, 1, 4));
    assert_int_equal(meta.config.n_voters, 3);
    meta.term++;
    assert_int_equal(raft_snapshot_taken(r, &meta, 10), CC_EINVAL); /* wrong term */
    meta.term--;
    assert_int_equal(raft_snapshot_taken(r, &meta, 10), 0);
    assert_int_equal(raft_compact(r, 5), CC_EINVAL); /* beyond the snapshot */
    assert_int_equal(raft_compact(r, 3), 0);
    uint64_t t;
    assert_int_equal(raft_term_at(r, 2, &t), CC_ECOMPACTED);
    assert_int_equal(raft_term_at(r, 3, &t), 0);
    assert_int_equal(raft_snapshot_meta_at(r, 2, &meta), CC_EINVAL);
    assert_int_equal(raft_compact(r, 2), CC_EINVAL);
    h_free(&c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_catch_up_in_chunks),
        cmocka_unit_test(test_snapshot_rejected_chunk_is_resent),
        cmocka_unit_test(test_snapshot_failure_report_resumes),
        cmocka_unit_test(test_snapshot_silently_lost_chunks_are_resent),
        cmocka_unit_test(test_snapshot_stale_ack_after_restart),
        cmocka_unit_test(test_snapshot_chunk_order_validated),
        cmocka_unit_test(test_snapshot_duplicates_and_senders),
        cmocka_unit_test(test_compaction_bounds),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
