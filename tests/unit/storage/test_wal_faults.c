/* test_wal_faults.c — the WAL under injected faults (faultfs). */
/* A crash or error at every kind of file operation,
 * torn writes, ENOSPC, EIO on fdatasync, short writes, bit flips on write and read. Each must
 * end in the policy of wal.h: the failing call reports it, nothing more is accepted, and a
 * reopen recovers exactly the acknowledged batches (plus, at most, the whole batch that was in
 * flight), never anything corrupt. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "faultfs.h"
#include "storage/wal.h"
#include "testutil.h"
#include "util/err.h"

struct run {
    struct faultfs *ff;
    char *dir;
    struct wal_options o;
    struct wal *w;
    struct tu_model acked;
    struct rng r;
    uint64_t term;
    bool no_release;
    /* the batch in flight when the WAL failed */
    bool has_failed;
    struct tu_batch fb;
    struct wal_batch fwb;
    struct raft_hard_state fhs;
};

static void run_init(struct run *x, uint64_t seed)
{
    memset(x, 0, sizeof(*x));
    x->ff = ff_new(seed);
    x->dir = tu_mkdtemp("wal-faults");
    wal_options_default(&x->o);
    x->o.segment_bytes = 4096;
    x->o.fs = ff_ops(x->ff);
    x->o.log = tu_logger();
    tu_model_init(&x->acked);
    rng_seed(&x->r, seed);
    x->term = 1;
    char err[512];
    int rc = wal_open(x->dir, &x->o, &x->w, err, sizeof(err));
    if (rc) fail_msg("open: %s", err);
}

static void run_free(struct run *x)
{
    wal_close(x->w);
    tu_batch_free(&x->fb);
    tu_model_free(&x->acked);
    ff_free(x->ff);
    tu_rmrf(x->dir);
    free(x->dir);
}

static raft_id vote_of(uint64_t term)
{
    return term % 3 + 1; /* one vote per term, always the same one */
}

/* A random batch that is valid against the acknowledged log: appends, suffix truncations,
 * hard-state updates, compaction markers and snapshot installs. */
static void make_batch(struct run *x, struct tu_batch *tb, struct wal_batch *wb,
                       struct raft_hard_state *hs)
{
    const struct tu_model *m = &x->acked;
    memset(wb, 0, sizeof(*wb));
    uint64_t last = m->last, commit = m->hs.commit;
    uint64_t choice = rng_below(&x->r, 100);
    uint64_t new_commit = commit;
    if (choice < 8 && commit > m->snap_index) {
        wb->has_snap = true;
        wb->snap_index = rng_range(&x->r, m->snap_index + 1, commit);
        wb->snap_term = tu_model_term(m, wb->snap_index);
    } else if (choice < 11) {
        x->term++;
        wb->has_snap = true;
        wb->snap_index = last + rng_range(&x->r, 1, 5);
        wb->snap_term = x->term;
        last = wb->snap_index;
        new_commit = wb->snap_index;
    }
    uint64_t e0 = last + 1;
    if (choice >= 11 && choice < 25 && last > commit + 1 && !wb->has_snap) {
        x->term++;
        e0 = rng_range(&x->r, commit + 1, last);
    }
    uint32_t n = (uint32_t)rng_below(&x->r, 13);
    tu_batch_make(tb, &x->r, e0, n, x->term, 0, 300);
    wb->entries = tb->v;
    wb->n_entries = n;
    uint64_t end = n ? e0 + n - 1 : last;
    if (new_commit > commit || rng_chance(&x->r, 1, 2) || (!wb->has_snap && n == 0)) {
        if (end > new_commit && rng_chance(&x->r, 2, 3))
            new_commit = rng_range(&x->r, new_commit, end);
        hs->term = x->term;
        hs->vote = vote_of(x->term);
        hs->commit = new_commit;
        wb->hs = hs;
    }
}

/* Drives random batches (and releases) until the WAL fails or `batches` succeed. Returns the
 * failing code or 0. */
static int drive(struct run *x, int batches)
{
    for (int i = 0; i < batches; i++) {
        struct tu_batch tb;
        struct wal_batch wb;
        struct raft_hard_state hs;
        make_batch(x, &tb, &wb, &hs);
        int rc = wal_append(x->w, &wb);
        if (rc == 0) {
            tu_model_apply(&x->acked, &wb);
            tu_batch_free(&tb);
            if (wb.has_snap && !x->no_release && rng_chance(&x->r, 1, 2)) {
                rc = wal_release(x->w, x->acked.snap_index + 1, NULL);
                if (rc) return rc;
            }
            continue;
        }
        assert_true(rc != CC_EINVAL); /* the generator only makes valid batches */
        x->has_failed = true;
        x->fb = tb;
        x->fhs = hs;
        x->fwb = wb;
        if (wb.hs) x->fwb.hs = &x->fhs;
        return rc;
    }
    return 0;
}

/* After a failure: the WAL refuses everything and never calls fdatasync again. */
static void assert_stopped(struct run *x, int rc)
{
    assert_true(rc != 0);
    assert_int_equal(wal_error(x->w), rc);
    uint64_t syncs = ff_count(x->ff, FF_FDATASYNC);
    struct raft_hard_state hs = x->acked.hs;
    struct wal_batch wb = {.hs = &hs};
    assert_int_equal(wal_append(x->w, &wb), CC_ESTOPPED);
    assert_int_equal(wal_release(x->w, 1, NULL), CC_ESTOPPED);
    assert_int_equal(ff_count(x->ff, FF_FDATASYNC), syncs);
}

/* Reopens and checks: exactly the acknowledged log, or that plus the whole failed batch. */
static void assert_recovers(struct run *x)
{
    wal_close(x->w);
    x->w = NULL;
    char err[1024];
    int rc = wal_open(x->dir, &x->o, &x->w, err, sizeof(err));
    if (rc) fail_msg("reopen: %s: %s", cc_errname(rc), err);
    if (tu_model_equal(&x->acked, x->w)) return;
    assert_true(x->has_failed);
    struct tu_model plus;
    tu_model_copy(&plus, &x->acked);
    tu_model_apply(&plus, &x->fwb);
    bool ok = tu_model_equal(&plus, x->w);
    tu_model_free(&plus);
    assert_true(ok);
}

static const enum ff_op mutating_ops[] = {FF_PWRITE,    FF_FDATASYNC, FF_FSYNC,  FF_FALLOCATE,
                                          FF_FTRUNCATE, FF_RENAME,    FF_UNLINK, FF_CREATE};

/* Power cut at every kind of operation, at several positions, with and without torn sectors. */
static void test_crash_at_every_operation(void **state)
{
    (void)state;
    int fired = 0, total = 0;
    for (int rep = 0; rep < tu_soak(); rep++)
        for (size_t o = 0; o < sizeof(mutating_ops) / sizeof(mutating_ops[0]); o++) {
            for (uint64_t nth = 1; nth <= 8; nth++) {
                for (int tear = 0; tear < 2; tear++) {
                    struct run x;
                    uint64_t seed = (uint64_t)rep * 100000 + o * 1000 + nth * 10 + (uint64_t)tear;
                    run_init(&x, seed);
                    assert_int_equal(drive(&x, (int)rng_below(&x.r, 15)), 0);
                    ff_arm(x.ff, mutating_ops[o], nth, FF_CRASH, 0);
                    int rc = drive(&x, 80);
                    total++;
                    if (ff_fired(x.ff)) {
                        fired++;
                        assert_int_equal(rc, CC_EIO);
                        assert_stopped(&x, rc);
                    } else {
                        assert_int_equal(rc, 0);
                    }
                    wal_close(x.w);
                    x.w = NULL;
                    ff_power_loss(x.ff, tear);
                    assert_recovers(&x);
                    run_free(&x);
                }
            }
        }
    /* Most placements must actually hit something, or the test proves little. */
    print_message("power cuts: %d of %d placements hit an operation\n", fired, total);
    assert_true(fired * 2 > total);
}

static void test_torn_writes(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 40 * (uint64_t)tu_soak(); seed++) {
        struct run x;
        run_init(&x, seed);
        assert_int_equal(drive(&x, (int)rng_below(&x.r, 20)), 0);
        ff_arm(x.ff, FF_PWRITE, rng_range(&x.r, 1, 6), FF_TORN, 0);
        int rc = drive(&x, 80);
        assert_true(ff_fired(x.ff));
        assert_int_equal(rc, CC_EIO);
        assert_stopped(&x, rc);
        wal_close(x.w);
        x.w = NULL;
        ff_power_loss(x.ff, seed % 2 == 0);
        assert_recovers(&x);
        run_free(&x);
    }
}

static void test_enospc_and_eio(void **state)
{
    (void)state;
    const struct {
        enum ff_op op;
        int err;
        int want;
    } cases[] = {
        {FF_PWRITE, ENOSPC, CC_ENOSPC}, {FF_FALLOCATE, ENOSPC, CC_ENOSPC},
        {FF_FDATASYNC, EIO, CC_EIO},    {FF_FDATASYNC, ENOSPC, CC_ENOSPC},
        {FF_PWRITE, EIO, CC_EIO},       {FF_FSYNC, EIO, CC_EIO},
        {FF_RENAME, ENOSPC, CC_ENOSPC}, {FF_CREATE, ENOSPC, CC_ENOSPC},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (int power_loss = 0; power_loss < 2; power_loss++) {
            struct run x;
            run_init(&x, 100 + c * 2 + (uint64_t)power_loss);
            assert_int_equal(drive(&x, 5), 0);
            ff_arm(x.ff, cases[c].op, 1 + c % 3, FF_ERR, cases[c].err);
            int rc = drive(&x, 200);
            assert_true(ff_fired(x.ff));
            assert_int_equal(rc, cases[c].want);
            assert_stopped(&x, rc);
            assert_non_null(strstr(wal_errmsg(x.w), x.dir));
            wal_close(x.w);
            x.w = NULL;
            /* Without a power cut the page cache may still hold the failed batch: either
             * outcome is allowed, a partial one is not. */
            if (power_loss) ff_power_loss(x.ff, false);
            assert_recovers(&x);
            run_free(&x);
        }
    }
}

static void test_short_writes(void **state)
{
    (void)state;
    struct run x;
    run_init(&x, 77);
    ff_set_short_writes(x.ff, true);
    assert_int_equal(drive(&x, 300), 0);
    struct wal_state st;
    wal_get_state(x.w, &st);
    assert_true(st.last_seq > 3);                 /* rolled through several segments */
    assert_true(ff_count(x.ff, FF_PWRITE) > 400); /* writes really were split */
    ff_set_short_writes(x.ff, false);
    wal_close(x.w);
    x.w = NULL;
    ff_power_loss(x.ff, true); /* everything acknowledged is synced: nothing to lose */
    assert_recovers(&x);
    run_free(&x);
}

static void test_bit_flip_on_write(void **state)
{
    (void)state;
    int refused = 0;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        struct run x;
        run_init(&x, 500 + seed);
        x.no_release = true; /* a released segment would take the damage with it */
        assert_int_equal(drive(&x, (int)rng_below(&x.r, 10)), 0);
        ff_arm(x.ff, FF_PWRITE, rng_range(&x.r, 1, 5), FF_FLIP, 0);
        /* Silent corruption: every call succeeds. More batches follow the damaged one. */
        assert_int_equal(drive(&x, 30), 0);
        assert_true(ff_fired(x.ff));
        wal_close(x.w);
        x.w = NULL;
        char err[1024];
        int rc = wal_open(x.dir, &x.o, &x.w, err, sizeof(err));
        if (rc) {
            /* Refused, naming the file: never served. */
            assert_int_equal(rc, CC_ECORRUPT);
            assert_non_null(strstr(err, ".wal"));
            refused++;
        } else {
            /* Only a flip in a seal record (no log data) may be repaired silently. */
            assert_true(tu_model_equal(&x.acked, x.w));
        }
        run_free(&x);
    }
    print_message("bit flips on write: %d of 30 refused at reopen\n", refused);
    assert_true(refused > 20);
}

static void test_bit_flip_on_read(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 30 * (uint64_t)tu_soak(); seed++) {
        struct run x;
        run_init(&x, 900 + seed);
        assert_int_equal(drive(&x, 40), 0);
        /* While reading entries back. */
        struct wal_state st;
        wal_get_state(x.w, &st);
        if (st.last_index >= st.first_index) {
            struct wal_entries es;
            ff_arm(x.ff, FF_PREAD, 1, FF_FLIP, 0);
            int rc = wal_read_entries(x.w, st.first_index, st.last_index, UINT64_MAX, &es);
            assert_true(ff_fired(x.ff));
            if (rc == 0) {
                /* The flip hit bytes between the records read (span padding): the
                 * entries themselves must still be right. */
                for (uint32_t i = 0; i < es.n; i++) assert_true(tu_entry_ok(&es.v[i]));
                wal_entries_free(&es);
            } else {
                assert_int_equal(rc, CC_ECORRUPT);
            }
        }
        /* While recovering: refuse, report unstable reads, or recover exactly — never cut
         * acknowledged data because of one bad read. */
        wal_close(x.w);
        x.w = NULL;
        ff_arm(x.ff, FF_PREAD, rng_range(&x.r, 1, 3), FF_FLIP, 0);
        char err[1024];
        int rc = wal_open(x.dir, &x.o, &x.w, err, sizeof(err));
        ff_disarm(x.ff); /* a flip not yet fired must not hit the check's own reads */
        if (rc == 0) {
            assert_true(tu_model_equal(&x.acked, x.w));
        } else {
            assert_true(rc == CC_EIO || rc == CC_ECORRUPT);
        }
        ff_disarm(x.ff);
        assert_recovers(&x);
        run_free(&x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_at_every_operation), cmocka_unit_test(test_torn_writes),
        cmocka_unit_test(test_enospc_and_eio),           cmocka_unit_test(test_short_writes),
        cmocka_unit_test(test_bit_flip_on_write),        cmocka_unit_test(test_bit_flip_on_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
