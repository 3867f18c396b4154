/* test_storage.c — the member's data directory (storage.h). */
/* Boot state, metadata, snapshots tied to WAL markers, refusals that name the file, and power
 * cuts across snapshot + marker + release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "faultfs.h"
#include "storage/storage.h"
#include "testutil.h"
#include "util/err.h"

struct fx {
    char *dir;
    struct storage_options o;
    struct storage *s;
    struct storage_boot boot;
    struct rng r;
    char err[1024];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("storage-test");
    storage_options_default(&f->o);
    f->o.wal.segment_bytes = 8192;
    f->o.snap_keep = 2;
    f->o.log = tu_logger();
    rng_seed(&f->r, 11);
    *state = f;
    return 0;
}

static void close_all(struct fx *f)
{
    storage_close(f->s);
    f->s = NULL;
    storage_boot_free(&f->boot);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    close_all(f);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int try_open(struct fx *f)
{
    close_all(f);
    return storage_open(f->dir, &f->o, &f->s, &f->boot, f->err, sizeof(f->err));
}

static void must_open(struct fx *f)
{
    int rc = try_open(f);
    if (rc) fail_msg("storage_open: %s: %s", cc_errname(rc), f->err);
}

static void save_entries(struct fx *f, uint64_t first, uint32_t n, uint64_t term, uint64_t commit)
{
    struct tu_batch b;
    tu_batch_make(&b, &f->r, first, n, term, 1, 200);
    struct raft_hard_state hs = {.term = term, .vote = 1, .commit = commit};
    struct wal_batch wb = {.entries = b.v, .n_entries = n, .hs = &hs};
    assert_int_equal(storage_save(f->s, &wb), 0);
    tu_batch_free(&b);
}

static struct snap_file make_snapshot(struct fx *f, uint64_t index, uint64_t term, uint32_t size)
{
    struct raft_snapshot_meta m = {.index = index, .term = term};
    m.config.n_voters = 1;
    m.config.voters[0] = 1;
    struct snap_writer *sw;
    assert_int_equal(storage_snap_begin(f->s, &m, &sw), 0);
    uint8_t *p = malloc(size ? size : 1);
    tu_fill(index, term, size, p);
    assert_int_equal(snap_writer_write(sw, 0, p, size), 0);
    struct snap_file sf;
    assert_int_equal(snap_writer_finish(sw, size, &sf), 0);
    free(p);
    return sf;
}

static void test_boot_fresh_and_meta(void **state)
{
    struct fx *f = *state;
    must_open(f);
    assert_true(f->boot.fresh);
    assert_false(f->boot.has_meta);
    assert_int_equal(f->boot.snap.index, 0);
    assert_int_equal(f->boot.entries.n, 0);
    struct storage_meta m = {0};
    assert_int_equal(storage_meta_set_u64(&m, "cluster_id", 0xcdef0123456789abull), 0);
    assert_int_equal(storage_meta_set_u64(&m, "member_id", 0x8e9e05c52164694dull), 0);
    assert_int_equal(storage_meta_set(&m, "name", "infra1"), 0);
    assert_int_equal(storage_meta_set(&m, "name", "infra 1"), 0); /* replaced */
    assert_int_equal(storage_meta_set(&m, "bad key", "x"), CC_EINVAL);
    assert_int_equal(storage_meta_set(&m, "k", "line\nbreak"), CC_EINVAL);
    assert_int_equal(storage_meta_save(f->s, &m), 0);
    /* Still fresh (no Raft state yet), but the identity is known. */
    must_open(f);
    assert_true(f->boot.fresh);
    assert_true(f->boot.has_meta);
    uint64_t v;
    assert_int_equal(storage_meta_get_u64(&f->boot.meta, "member_id", &v), 0);
    assert_true(v == 0x8e9e05c52164694dull);
    assert_string_equal(storage_meta_get(&f->boot.meta, "name"), "infra 1");
    assert_null(storage_meta_get(&f->boot.meta, "nothing"));
    assert_int_equal(storage_meta_get_u64(&f->boot.meta, "name", &v), CC_ECORRUPT);
    assert_int_equal(storage_meta_get_u64(&f->boot.meta, "nothing", &v), CC_ENOTFOUND);

    save_entries(f, 1, 5, 1, 2);
    must_open(f);
    assert_false(f->boot.fresh);
    assert_int_equal(f->boot.entries.n, 5);
    assert_int_equal(f->boot.hs.commit, 2);
    for (uint32_t i = 0; i < 5; i++) assert_true(tu_entry_ok(&f->boot.entries.v[i]));

    /* A damaged meta file is refused by name. */
    close_all(f);
    char path[STORAGE_PATH_MAX];
    snprintf(path, sizeof(path), "%s/member/meta", f->dir);
    size_t len;
    uint8_t *d = tu_read_file(path, &len);
    d[20] ^= 1;
    tu_write_file(path, d, len);
    assert_int_equal(try_open(f), CC_ECORRUPT);
    assert_non_null(strstr(f->err, "member/meta"));
    free(d);
    /* Lost WAL next to existing meta: refused rather than bootstrapping again. */
    char member[STORAGE_PATH_MAX], waldir[STORAGE_PATH_MAX + 8];
    snprintf(member, sizeof(member), "%s/member", f->dir);
    snprintf(waldir, sizeof(waldir), "%s/wal", member);
    assert_int_equal(storage_meta_write(NULL, member, &m), 0);
    must_open(f);
    close_all(f);
    tu_rmrf(waldir);
    assert_int_equal(try_open(f), CC_ECORRUPT);
    assert_non_null(strstr(f->err, "no WAL segment"));
}

static void test_meta_limits(void **state)
{
    (void)state;
    struct storage_meta m = {0};
    char key[8];
    for (int i = 0; i < STORAGE_META_PAIRS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(storage_meta_set(&m, key, "v"), 0);
    }
    assert_int_equal(storage_meta_set(&m, "one_more", "v"), CC_ETOOBIG);
    char big[STORAGE_META_VAL_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(storage_meta_set(&m, "k0", big), CC_EINVAL);
    assert_int_equal(storage_meta_set(&m, "", "v"), CC_EINVAL);
}

static void test_snapshot_marker_flow(void **state)
{
    struct fx *f = *state;
    must_open(f);
    save_entries(f, 1, 30, 1, 25);
    /* A marker needs its file. */
    struct wal_batch mk = {.has_snap = true, .snap_index = 20, .snap_term = 1};
    assert_int_equal(storage_save(f->s, &mk), CC_EINVAL);
    struct snap_file sf = make_snapshot(f, 20, 1, 5000);
    assert_int_equal(storage_save(f->s, &mk), 0);
    assert_int_equal(storage_release(f->s, 21), 0);
    must_open(f);
    assert_int_equal(f->boot.snap.index, 20);
    assert_int_equal(f->boot.snap.term, 1);
    assert_int_equal(f->boot.snap.config.n_voters, 1);
    assert_int_equal(f->boot.snap_size, 5000);
    assert_string_equal(f->boot.snap_path, sf.path);
    assert_int_equal(f->boot.entries.n, 10);
    assert_int_equal(f->boot.entries.v[0].index, 21);

    /* Retention keeps snap_keep files; a newer snapshot the WAL does not name is ignored. */
    for (uint64_t i = 22; i <= 25; i++) {
        make_snapshot(f, i, 1, 100);
        struct wal_batch m2 = {.has_snap = true, .snap_index = i, .snap_term = 1};
        assert_int_equal(storage_save(f->s, &m2), 0);
    }
    char snapdir[STORAGE_PATH_MAX];
    snprintf(snapdir, sizeof(snapdir), "%s/member/snap", f->dir);
    assert_int_equal(tu_count_files(snapdir, ".snap"), 2);
    save_entries(f, 31, 5, 1, 30);
    make_snapshot(f, 30, 1, 100); /* finished, but its marker never saved */
    must_open(f);
    assert_int_equal(f->boot.snap.index, 25);
    assert_int_equal(f->boot.entries.n, 10);

    /* The named snapshot damaged or missing: refused, naming it. */
    close_all(f);
    char path[STORAGE_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/0000000000000001-0000000000000019.snap", snapdir);
    size_t len;
    uint8_t *d = tu_read_file(path, &len);
    assert_non_null(d);
    d[len - 1] ^= 1;
    tu_write_file(path, d, len);
    assert_int_equal(try_open(f), CC_ECORRUPT);
    assert_non_null(strstr(f->err, "0000000000000001-0000000000000019.snap"));
    unlink(path);
    assert_int_equal(try_open(f), CC_ECORRUPT);
    assert_non_null(strstr(f->err, "0000000000000001-0000000000000019.snap"));
    free(d);
}

static void test_read_only(void **state)
{
    struct fx *f = *state;
    f->o.read_only = true;
    assert_int_equal(try_open(f), CC_ENOTFOUND);
    assert_int_equal(tu_count_files(f->dir, ""), 2);
    f->o.read_only = false;
    must_open(f);
    save_entries(f, 1, 3, 1, 1);
    close_all(f);
    f->o.read_only = true;
    must_open(f);
    assert_int_equal(f->boot.entries.n, 3);
    struct snap_writer *sw;
    struct raft_snapshot_meta m = {.index = 1, .term = 1};
    assert_int_equal(storage_snap_begin(f->s, &m, &sw), CC_EINVAL);
    struct storage_meta meta = {0};
    assert_int_equal(storage_meta_save(f->s, &meta), CC_EINVAL);
}

/* Power cuts anywhere in "write entries, take a snapshot, save its marker, release": the
 * directory always opens, and what it holds is consistent and contains everything saved. */
static void test_power_cuts_across_snapshots(void **state)
{
    struct fx *f = *state;
    int hit = 0;
    for (uint64_t at = 1; at <= 60; at++) {
        char *dir = tu_mkdtemp("storage-cut");
        struct faultfs *ff = ff_new(at);
        struct storage_options o = f->o;
        o.fs = ff_ops(ff);
        struct storage *s;
        struct storage_boot boot;
        assert_int_equal(storage_open(dir, &o, &s, &boot, f->err, sizeof(f->err)), 0);
        storage_boot_free(&boot);
        /* Count calls of all kinds together: crash on the at-th mutating call. */
        const enum ff_op order[] = {FF_PWRITE, FF_FDATASYNC, FF_FSYNC, FF_RENAME, FF_UNLINK};
        ff_arm(ff, order[at % 5], at / 5 + 1, FF_CRASH, 0);
        uint64_t acked_last = 0, acked_snap = 0, next = 1;
        int rc = 0;
        for (int round = 0; rc == 0 && round < 6; round++) {
            struct tu_batch b;
            tu_batch_make(&b, &f->r, next, 10, 1, 50, 300);
            struct raft_hard_state hs = {.term = 1, .vote = 1, .commit = next + 9};
            struct wal_batch wb = {.entries = b.v, .n_entries = 10, .hs = &hs};
            rc = storage_save(s, &wb);
            tu_batch_free(&b);
            if (rc) break;
            next += 10;
            acked_last = next - 1;
            struct raft_snapshot_meta m = {.index = next - 5, .term = 1};
            m.config.n_voters = 1;
            m.config.voters[0] = 1;
            struct snap_writer *sw;
            rc = storage_snap_begin(s, &m, &sw);
            uint8_t payload[3000];
            tu_fill(m.index, 1, sizeof(payload), payload);
            if (rc == 0) rc = snap_writer_write(sw, 0, payload, sizeof(payload));
            if (rc == 0)
                rc = snap_writer_finish(sw, sizeof(payload), NULL);
            else if (sw)
                snap_writer_abort(sw);
            if (rc) break;
            struct wal_batch mk = {.has_snap = true, .snap_index = m.index, .snap_term = 1};
            rc = storage_save(s, &mk);
            if (rc) break;
            acked_snap = m.index;
            rc = storage_release(s, m.index + 1);
        }
        if (ff_fired(ff)) hit++;
        storage_close(s);
        ff_power_loss(ff, (at & 1) != 0);
        int orc = storage_open(dir, &o, &s, &boot, f->err, sizeof(f->err));
        if (orc) fail_msg("after a cut at call %llu: %s", (unsigned long long)at, f->err);
        /* Everything acknowledged is there; the snapshot used is the one the WAL names. */
        assert_true(boot.snap.index >= acked_snap);
        assert_true(boot.snap.index + boot.entries.n >= acked_last);
        for (uint32_t i = 0; i < boot.entries.n; i++) {
            assert_int_equal(boot.entries.v[i].index, boot.snap.index + 1 + i);
            assert_true(tu_entry_ok(&boot.entries.v[i]));
        }
        storage_boot_free(&boot);
        storage_close(s);
        ff_free(ff);
        tu_rmrf(dir);
        free(dir);
    }
    assert_true(hit > 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_boot_fresh_and_meta, setup, teardown),
        cmocka_unit_test(test_meta_limits),
        cmocka_unit_test_setup_teardown(test_snapshot_marker_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cuts_across_snapshots, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
