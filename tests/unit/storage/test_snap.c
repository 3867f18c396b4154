/* test_snap.c — snapshot files: writing, reading, verification, retention, power cuts. */
/* Written in pieces and read back by offset, restarted transfers, verification failures that name
 * the file, retention, leftovers, and power cuts while writing. */
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
#include "storage/snap.h"
#include "testutil.h"
#include "util/err.h"

struct fx {
    char *dir;
    struct snapstore *ss;
    struct rng r;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("snap-test");
    rng_seed(&f->r, 3);
    assert_int_equal(snap_open(f->dir, NULL, tu_logger(), false, 16 << 20, &f->ss, NULL, 0), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    snap_close(f->ss);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static struct raft_snapshot_meta meta_at(uint64_t index, uint64_t term)
{
    struct raft_snapshot_meta m = {.index = index, .term = term};
    m.config.n_voters = 3;
    m.config.voters[0] = 0x1111;
    m.config.voters[1] = 0x2222;
    m.config.voters[2] = 0xffffffffffffff01ull;
    m.config.n_learners = 1;
    m.config.learners[0] = 0x4444;
    return m;
}

/* Writes a snapshot whose payload is tu_fill(index, term, size) in random-sized pieces. */
static void write_snap(struct fx *f, uint64_t index, uint64_t term, uint32_t size,
                       struct snap_file *out)
{
    uint8_t *p = malloc(size ? size : 1);
    tu_fill(index, term, size, p);
    struct raft_snapshot_meta m = meta_at(index, term);
    struct snap_writer *sw;
    assert_int_equal(snap_writer_open(f->ss, &m, &sw), 0);
    for (uint32_t off = 0; off < size;) {
        uint32_t n = (uint32_t)rng_range(&f->r, 1, 100000);
        if (n > size - off) n = size - off;
        assert_int_equal(snap_writer_write(sw, off, p + off, n), 0);
        off += n;
    }
    assert_int_equal(snap_writer_finish(sw, size, out), 0);
    free(p);
}

static void check_payload(struct fx *f, const struct snap_file *sf, uint64_t index, uint64_t term)
{
    uint8_t *want = malloc(sf->size ? sf->size : 1);
    tu_fill(index, term, (uint32_t)sf->size, want);
    struct snap_reader *rd;
    assert_int_equal(snap_reader_open(f->ss, sf, &rd), 0);
    uint8_t buf[70000];
    for (uint64_t off = 0; off < sf->size;) {
        size_t n = (size_t)rng_range(&f->r, 1, sizeof(buf)), got;
        assert_int_equal(snap_reader_read(rd, off, buf, n, &got), 0);
        assert_true(got > 0);
        assert_memory_equal(buf, want + off, got);
        off += got;
    }
    size_t got;
    assert_int_equal(snap_reader_read(rd, sf->size, buf, 10, &got), 0);
    assert_int_equal(got, 0);
    snap_reader_close(rd);
    free(want);
}

static void test_write_load_read(void **state)
{
    struct fx *f = *state;
    struct snap_file sf, lf;
    write_snap(f, 100, 3, 3 << 20, &sf);
    assert_int_equal(sf.size, 3 << 20);
    char err[512];
    assert_int_equal(snap_load(f->ss, 100, 3, &lf, err, sizeof(err)), 0);
    struct raft_snapshot_meta want = meta_at(100, 3);
    assert_memory_equal(&lf.meta, &want, sizeof(want));
    assert_int_equal(lf.size, 3 << 20);
    assert_string_equal(lf.path, sf.path);
    check_payload(f, &lf, 100, 3);
    /* An empty payload is a valid snapshot too. */
    write_snap(f, 101, 3, 0, &sf);
    assert_int_equal(snap_load(f->ss, 101, 3, &lf, err, sizeof(err)), 0);
    assert_int_equal(lf.size, 0);
    assert_int_equal(snap_load(f->ss, 102, 3, &lf, err, sizeof(err)), CC_ENOTFOUND);
}

static void test_restarted_transfer_and_misuse(void **state)
{
    struct fx *f = *state;
    uint32_t size = 200000;
    uint8_t *p = malloc(size), *junk = malloc(size);
    tu_fill(50, 2, size, p);
    memset(junk, 0xee, size);
    struct raft_snapshot_meta m = meta_at(50, 2);
    struct snap_writer *sw;
    assert_int_equal(snap_writer_open(f->ss, &m, &sw), 0);
    /* A first attempt sends junk up to 150000, then the transfer restarts from 0. */
    assert_int_equal(snap_writer_write(sw, 0, junk, 150000), 0);
    assert_int_equal(snap_writer_write(sw, 150001, p, 10), CC_EINVAL); /* a gap */
    for (uint32_t off = 0; off < size; off += 30000) {
        uint32_t n = size - off < 30000 ? size - off : 30000;
        assert_int_equal(snap_writer_write(sw, off, p + off, n), 0);
    }
    struct snap_file sf;
    assert_int_equal(snap_writer_finish(sw, size, &sf), 0);
    char err[512];
    assert_int_equal(snap_load(f->ss, 50, 2, &sf, err, sizeof(err)), 0);
    check_payload(f, &sf, 50, 2);

    /* A shorter final size than was written (the restart's earlier bytes went further). */
    assert_int_equal(snap_writer_open(f->ss, &m, &sw), 0);
    assert_int_equal(snap_writer_write(sw, 0, junk, 5000), 0);
    assert_int_equal(snap_writer_finish(sw, 4000, NULL), CC_EINVAL);
    assert_int_equal(tu_count_files(f->dir, ".tmp"), 0);
    /* Limits and bad metadata. */
    assert_int_equal(snap_writer_open(f->ss, &m, &sw), 0);
    assert_int_equal(snap_writer_write(sw, 0, junk, 1), 0);
    assert_int_equal(snap_writer_write(sw, 1, junk, (16u << 20)), CC_ETOOBIG);
    snap_writer_abort(sw);
    assert_int_equal(tu_count_files(f->dir, ".tmp"), 0);
    struct raft_snapshot_meta bad = meta_at(0, 1);
    assert_int_equal(snap_writer_open(f->ss, &bad, &sw), CC_EINVAL);
    bad = meta_at(5, 1);
    bad.config.n_voters = RAFT_MAX_NODES + 1;
    assert_int_equal(snap_writer_open(f->ss, &bad, &sw), CC_EINVAL);
    free(p);
    free(junk);
}

static void expect_unreadable(struct fx *f, uint64_t index, uint64_t term, const char *needle)
{
    struct snap_file sf;
    char err[1024];
    assert_int_equal(snap_load(f->ss, index, term, &sf, err, sizeof(err)), CC_ECORRUPT);
    if (!strstr(err, needle) || !strstr(err, ".snap"))
        fail_msg("message \"%s\" lacks \"%s\" or the file name", err, needle);
}

static void test_corruption_named(void **state)
{
    struct fx *f = *state;
    struct snap_file sf;
    write_snap(f, 10, 1, 100000, &sf);
    size_t len;
    uint8_t *pristine = tu_read_file(sf.path, &len);
    uint8_t *d = malloc(len);
    /* A flip anywhere in the payload or header is found. */
    for (size_t pos = 0; pos < len; pos += len / 37 + 1) {
        memcpy(d, pristine, len);
        d[pos] ^= 0x20;
        tu_write_file(sf.path, d, len);
        expect_unreadable(f, 10, 1, pos < SNAP_HEADER_BYTES ? "" : "payload CRC");
    }
    tu_write_file(sf.path, pristine, len - 1);
    expect_unreadable(f, 10, 1, "size");
    tu_write_file(sf.path, pristine, 100);
    expect_unreadable(f, 10, 1, "shorter than its header");
    tu_write_file(sf.path, pristine, len);
    char other[STORAGE_PATH_MAX];
    snprintf(other, sizeof(other), "%s/0000000000000001-000000000000000b.snap", f->dir);
    assert_int_equal(rename(sf.path, other), 0);
    expect_unreadable(f, 11, 1, "another snapshot");
    free(d);
    free(pristine);
}

static void test_retention_and_leftovers(void **state)
{
    struct fx *f = *state;
    struct snap_file sf;
    for (uint64_t i = 1; i <= 7; i++) write_snap(f, i * 10, i, 1000, &sf);
    struct snap_file *v;
    size_t n;
    assert_int_equal(snap_list(f->ss, &v, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(v[0].meta.index, 70);
    assert_int_equal(v[6].meta.index, 10);
    free(v);
    uint32_t removed;
    assert_int_equal(snap_purge(f->ss, 3, 20, &removed), 0);
    assert_int_equal(removed, 3);
    assert_int_equal(snap_list(f->ss, &v, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(v[0].meta.index, 70);
    assert_int_equal(v[2].meta.index, 50);
    assert_int_equal(v[3].meta.index, 20); /* protected */
    free(v);
    /* An unfinished snapshot is removed when the store opens; a finished one stays. */
    struct raft_snapshot_meta m = meta_at(80, 8);
    struct snap_writer *sw;
    assert_int_equal(snap_writer_open(f->ss, &m, &sw), 0);
    assert_int_equal(snap_writer_write(sw, 0, "abc", 3), 0);
    assert_int_equal(tu_count_files(f->dir, ".snap.tmp"), 1);
    snap_close(f->ss);
    assert_int_equal(snap_open(f->dir, NULL, tu_logger(), false, 0, &f->ss, NULL, 0), 0);
    assert_int_equal(tu_count_files(f->dir, ".snap.tmp"), 0);
    assert_int_equal(tu_count_files(f->dir, ".snap"), 4);
    snap_writer_abort(sw); /* its file is gone already: abort still frees */
    /* Read-only opens of a missing directory. */
    char missing[STORAGE_PATH_MAX];
    snprintf(missing, sizeof(missing), "%s/none", f->dir);
    struct snapstore *ss2;
    assert_int_equal(snap_open(missing, NULL, NULL, true, 0, &ss2, NULL, 0), CC_ENOTFOUND);
}

/* A power cut at any step of writing a snapshot leaves either no snapshot under its final name
 * or a complete, verifying one. */
static void test_power_cut_while_writing(void **state)
{
    (void)state;
    const enum ff_op ops[] = {FF_PWRITE,    FF_FSYNC,  FF_FDATASYNC,
                              FF_FTRUNCATE, FF_RENAME, FF_CREATE};
    int complete = 0, absent = 0;
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
        for (uint64_t nth = 1; nth <= 6; nth++) {
            char *dir = tu_mkdtemp("snap-cut");
            struct faultfs *ff = ff_new(o * 100 + nth);
            struct snapstore *ss;
            assert_int_equal(snap_open(dir, ff_ops(ff), tu_logger(), false, 0, &ss, NULL, 0), 0);
            ff_arm(ff, ops[o], nth, FF_CRASH, 0);
            uint32_t size = 300000;
            uint8_t *p = malloc(size);
            tu_fill(9, 9, size, p);
            struct raft_snapshot_meta m = meta_at(9, 9);
            struct snap_writer *sw;
            int rc = snap_writer_open(ss, &m, &sw);
            for (uint32_t off = 0; rc == 0 && off < size; off += 65536)
                rc = snap_writer_write(sw, off, p + off, size - off < 65536 ? size - off : 65536);
            if (sw && rc == 0)
                rc = snap_writer_finish(sw, size, NULL);
            else if (sw)
                snap_writer_abort(sw);
            snap_close(ss);
            ff_power_loss(ff, (nth & 1) != 0);
            assert_int_equal(snap_open(dir, NULL, tu_logger(), false, 0, &ss, NULL, 0), 0);
            struct snap_file sf;
            char err[512];
            int lrc = snap_load(ss, 9, 9, &sf, err, sizeof(err));
            if (lrc == 0) {
                complete++;
            } else {
                assert_int_equal(lrc, CC_ENOTFOUND);
                assert_true(rc != 0);
                absent++;
            }
            assert_int_equal(tu_count_files(dir, ".tmp"), 0);
            snap_close(ss);
            ff_free(ff);
            free(p);
            tu_rmrf(dir);
            free(dir);
        }
    }
    print_message("snapshot power cuts: %d complete, %d absent\n", complete, absent);
    assert_true(absent > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_load_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restarted_transfer_and_misuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_and_leftovers, setup, teardown),
        cmocka_unit_test(test_power_cut_while_writing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
