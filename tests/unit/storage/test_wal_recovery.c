/* test_wal_recovery.c — the recovery policy of wal.h on real files. */
/* Torn tails cut at every cut point and kept aside, damage before the tail and missing segments
 * refused (naming file and offset), an interrupted roll finished, read-only opens that change
 * nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "storage/fs_util.h"
#include "storage/record.h"
#include "storage/wal.h"
#include "testutil.h"
#include "util/err.h"

struct fx {
    char *dir;
    struct wal_options o;
    struct wal *w;
    struct tu_model m;
    struct rng r;
    uint64_t next;
    char err[1024];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("wal-recovery");
    wal_options_default(&f->o);
    f->o.segment_bytes = 64 << 10;
    f->o.log = tu_logger();
    tu_model_init(&f->m);
    rng_seed(&f->r, 7);
    f->next = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    wal_close(f->w);
    tu_model_free(&f->m);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int try_open(struct fx *f)
{
    wal_close(f->w);
    f->w = NULL;
    return wal_open(f->dir, &f->o, &f->w, f->err, sizeof(f->err));
}

static void must_open(struct fx *f)
{
    int rc = try_open(f);
    if (rc) fail_msg("wal_open: %s: %s", cc_errname(rc), f->err);
}

static void close_wal(struct fx *f)
{
    wal_close(f->w);
    f->w = NULL;
}

/* Appends one batch of n entries (lengths lmin..lmax) plus a hard state; returns nothing. */
static void batch(struct fx *f, uint32_t n, uint32_t lmin, uint32_t lmax, struct tu_model *m)
{
    struct tu_batch b;
    tu_batch_make(&b, &f->r, f->next, n, 1, lmin, lmax);
    struct raft_hard_state hs = {.term = 1, .vote = 1, .commit = f->next - 1};
    struct wal_batch wb = {.entries = b.v, .n_entries = n, .hs = &hs};
    int rc = wal_append(f->w, &wb);
    if (rc) fail_msg("append: %s", wal_errmsg(f->w));
    if (m) tu_model_apply(m, &wb);
    f->next += n;
    tu_batch_free(&b);
}

/* Record boundaries of a segment file: offsets of records, and which close a batch. */
struct layout {
    size_t n;
    size_t off[4096];
    bool last[4096];
    size_t end;
};

static void parse(const uint8_t *d, size_t len, struct layout *l)
{
    l->n = 0;
    size_t p = 0;
    struct wal_rec r;
    while (p < len && wal_record_decode(d + p, len - p, &r) == WAL_DEC_OK) {
        l->off[l->n] = p;
        l->last[l->n++] = (r.flags & WAL_REC_LAST) != 0;
        p += r.total;
    }
    l->end = p;
}

/* Start of the last batch (the offset after the previous LAST record). */
static size_t last_batch_start(const struct layout *l)
{
    for (size_t i = l->n - 1; i-- > 0;)
        if (l->last[i]) return l->off[i + 1];
    return 0;
}

static void newest_segment(struct fx *f, char *path)
{
    size_t n = tu_count_files(f->dir, ".wal");
    assert_true(n > 0);
    assert_true(tu_nth_file(f->dir, ".wal", n - 1, path, STORAGE_PATH_MAX));
}

static void remove_cut_files(struct fx *f)
{
    char p[STORAGE_PATH_MAX];
    while (tu_nth_file(f->dir, ".cut", 0, p, sizeof(p))) unlink(p);
}

static void test_torn_tail_every_cut_point(void **state)
{
    struct fx *f = *state;
    must_open(f);
    struct tu_model before;
    for (int k = 0; k < 4; k++) batch(f, 3, 5, 40, &f->m);
    tu_model_copy(&before, &f->m);
    batch(f, 2, 10, 30, &f->m); /* the batch that will be torn */
    close_wal(f);
    char seg[STORAGE_PATH_MAX];
    newest_segment(f, seg);
    size_t len;
    uint8_t *pristine = tu_read_file(seg, &len);
    struct layout l;
    parse(pristine, len, &l);
    size_t start = last_batch_start(&l);
    assert_true(start > 0 && start < l.end);

    for (int variant = 0; variant < 2; variant++) {
        for (size_t cut = start + 1; cut < l.end; cut++) {
            uint8_t *d = malloc(len);
            memcpy(d, pristine, len);
            memset(d + cut, 0, len - cut);
            bool unchanged = storage__all_zero(pristine + cut, l.end - cut);
            /* variant 0: the unwritten rest reads as zeroes; 1: the file ends at the cut. */
            tu_write_file(seg, d, variant == 0 ? len : cut);
            must_open(f);
            struct wal_state st;
            wal_get_state(f->w, &st);
            bool torn = variant == 1 || !unchanged;
            const struct tu_model *want = torn ? &before : &f->m;
            tu_model_check(want, f->w);
            if (torn) {
                assert_true(st.cut_bytes > 0);
                /* The cut bytes were kept aside, exactly. */
                size_t clen;
                uint8_t *cutd = tu_read_file(st.cut_path, &clen);
                assert_non_null(cutd);
                assert_int_equal(clen, st.cut_bytes);
                assert_memory_equal(cutd, d + start, clen);
                free(cutd);
                /* ... and zeroed in the segment. */
                size_t nlen;
                uint8_t *now = tu_read_file(seg, &nlen);
                assert_true(storage__all_zero(now + start, nlen - start));
                free(now);
            } else {
                assert_int_equal(st.cut_bytes, 0);
            }
            /* A second open finds a clean log; appending continues from the right place. */
            must_open(f);
            wal_get_state(f->w, &st);
            assert_int_equal(st.cut_bytes, 0);
            if (torn && cut % 17 == 0) {
                struct tu_model after;
                tu_model_copy(&after, &before);
                uint64_t save = f->next;
                f->next = before.last + 1;
                batch(f, 2, 1, 50, &after);
                must_open(f);
                tu_model_check(&after, f->w);
                f->next = save;
                tu_model_free(&after);
            }
            close_wal(f);
            remove_cut_files(f);
            for (size_t k = 1; k < tu_count_files(f->dir, ".wal"); k++) {
                char extra[STORAGE_PATH_MAX];
                tu_nth_file(f->dir, ".wal", 1, extra, sizeof(extra));
                unlink(extra); /* a roll made by the append above */
            }
            tu_write_file(seg, pristine, len);
            free(d);
        }
    }
    free(pristine);
    tu_model_free(&before);
}

static void test_torn_sector_inside_last_batch(void **state)
{
    struct fx *f = *state;
    must_open(f);
    struct tu_model before;
    batch(f, 3, 5, 40, &f->m);
    tu_model_copy(&before, &f->m);
    batch(f, 40, 100, 100, &f->m);
    close_wal(f);
    char seg[STORAGE_PATH_MAX];
    newest_segment(f, seg);
    size_t len;
    uint8_t *d = tu_read_file(seg, &len);
    struct layout l;
    parse(d, len, &l);
    size_t start = last_batch_start(&l);
    size_t sector = (start + 2048) & ~(size_t)511;
    assert_true(sector + 512 < l.end);
    memset(d + sector, 0, 512);
    tu_write_file(seg, d, len);
    must_open(f);
    tu_model_check(&before, f->w);
    free(d);
    tu_model_free(&before);
}

static void expect_corrupt(struct fx *f, const char *needle)
{
    int rc = try_open(f);
    assert_int_equal(rc, CC_ECORRUPT);
    assert_null(f->w);
    if (!strstr(f->err, needle)) fail_msg("message \"%s\" lacks \"%s\"", f->err, needle);
}

static void test_damage_before_tail_refused(void **state)
{
    struct fx *f = *state;
    must_open(f);
    for (int k = 0; k < 5; k++) batch(f, 3, 20, 60, &f->m);
    close_wal(f);
    char seg[STORAGE_PATH_MAX];
    newest_segment(f, seg);
    size_t len;
    uint8_t *pristine = tu_read_file(seg, &len);
    struct layout l;
    parse(pristine, len, &l);
    /* Record 0 is the segment header; each batch is 3 entries and a hard state: batch 2 is
     * records 5..8. */
    size_t from = l.off[5], to = l.off[9];
    for (size_t p = from; p < to; p += 5) {
        uint8_t *d = malloc(len);
        memcpy(d, pristine, len);
        d[p] ^= 0x04;
        tu_write_file(seg, d, len);
        const char *base = strrchr(seg, '/') + 1;
        expect_corrupt(f, base);
        assert_non_null(strstr(f->err, "offset"));
        /* A refusal changes nothing on disk. */
        size_t nlen;
        uint8_t *now = tu_read_file(seg, &nlen);
        assert_int_equal(nlen, len);
        assert_memory_equal(now, d, len);
        free(now);
        free(d);
        assert_int_equal(tu_count_files(f->dir, ".cut"), 0);
    }
    /* Damage inside the last batch, with its later records intact: refused too. */
    uint8_t *d = malloc(len);
    memcpy(d, pristine, len);
    d[l.off[l.n - 3] + 30] ^= 0x01;
    tu_write_file(seg, d, len);
    expect_corrupt(f, "not a torn write");
    /* A zeroed batch followed by later batches: refused. */
    memcpy(d, pristine, len);
    memset(d + l.off[9], 0, l.off[13] - l.off[9]);
    tu_write_file(seg, d, len);
    expect_corrupt(f, "offset");
    /* Known limit: a flip in the very last record looks like a torn write and is cut. */
    memcpy(d, pristine, len);
    d[l.off[l.n - 1] + 26] ^= 0x01;
    tu_write_file(seg, d, len);
    must_open(f);
    struct wal_state st;
    wal_get_state(f->w, &st);
    assert_true(st.cut_bytes > 0);
    assert_int_equal(st.last_index, 12);
    tu_write_file(seg, pristine, len);
    free(d);
    free(pristine);
}

static void roll_many(struct fx *f)
{
    f->o.segment_bytes = 4096;
    must_open(f);
    for (int k = 0; k < 40; k++) batch(f, 4, 50, 100, &f->m);
    struct wal_state st;
    wal_get_state(f->w, &st);
    assert_true(st.n_segments >= 5);
    close_wal(f);
}

static void test_missing_segments_refused(void **state)
{
    struct fx *f = *state;
    roll_many(f);
    size_t n = tu_count_files(f->dir, ".wal");
    char path[STORAGE_PATH_MAX], hidden[STORAGE_PATH_MAX + 8];
    const size_t victims[3] = {2, n - 1, 0};
    const char *needles[3] = {"missing", "is sealed", "are missing"};
    for (int v = 0; v < 3; v++) {
        assert_true(tu_nth_file(f->dir, ".wal", victims[v], path, sizeof(path)));
        snprintf(hidden, sizeof(hidden), "%s.away", path);
        assert_int_equal(rename(path, hidden), 0);
        expect_corrupt(f, needles[v]);
        assert_int_equal(rename(hidden, path), 0);
    }
    must_open(f);
    tu_model_check(&f->m, f->w);
    /* A segment under a name that disagrees with its header. */
    close_wal(f);
    assert_true(tu_nth_file(f->dir, ".wal", 1, path, sizeof(path)));
    char renamed[STORAGE_PATH_MAX];
    snprintf(renamed, sizeof(renamed), "%s", path);
    memcpy(strrchr(renamed, '/') + 18, "00000000000000ff", 16);
    assert_int_equal(rename(path, renamed), 0);
    expect_corrupt(f, "header names");
    assert_int_equal(rename(renamed, path), 0);
}

static void test_interrupted_roll_is_finished(void **state)
{
    struct fx *f = *state;
    roll_many(f);
    size_t n = tu_count_files(f->dir, ".wal");
    char path[STORAGE_PATH_MAX];
    assert_true(tu_nth_file(f->dir, ".wal", n - 2, path, sizeof(path)));
    size_t len;
    uint8_t *pristine = tu_read_file(path, &len);
    size_t seal = wal_record_size(8);
    for (int variant = 0; variant < 3; variant++) {
        /* 0: seal never written, file untrimmed; 1: seal torn (garbage); 2: trimmed but
         * the seal's bytes read as zeroes. */
        size_t nlen = variant == 2 ? len : len - seal + 4096;
        uint8_t *d = calloc(1, nlen);
        memcpy(d, pristine, len - seal);
        if (variant == 1)
            for (size_t i = 0; i < seal; i += 3) d[len - seal + i] = (uint8_t)(0x5a + i);
        tu_write_file(path, d, nlen);
        must_open(f);
        tu_model_check(&f->m, f->w);
        close_wal(f);
        /* Finished: the segment is sealed again, exactly as a normal roll leaves it. */
        size_t glen;
        uint8_t *got = tu_read_file(path, &glen);
        assert_int_equal(glen, len);
        assert_memory_equal(got, pristine, len);
        free(got);
        free(d);
    }
    /* An unsealed segment that is not the one before the newest is damage. */
    assert_true(tu_nth_file(f->dir, ".wal", n - 3, path, sizeof(path)));
    uint8_t *d = tu_read_file(path, &len);
    memset(d + len - seal, 0, seal);
    tu_write_file(path, d, len);
    expect_corrupt(f, "not sealed");
    free(d);
    free(pristine);
}

static void test_leftovers_and_read_only(void **state)
{
    struct fx *f = *state;
    must_open(f);
    struct tu_model before;
    batch(f, 3, 5, 40, &f->m);
    tu_model_copy(&before, &f->m);
    batch(f, 3, 5, 40, &f->m);
    close_wal(f);
    char tmp[STORAGE_PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/0000000000000001-0000000000000007.wal.tmp", f->dir);
    tu_write_file(tmp, (const uint8_t *)"x", 1);
    char seg[STORAGE_PATH_MAX];
    newest_segment(f, seg);
    size_t len;
    uint8_t *d = tu_read_file(seg, &len);
    struct layout l;
    parse(d, len, &l);
    d[l.end - 20] ^= 0xff; /* damage the last record of the last batch: a torn tail */
    tu_write_file(seg, d, len);

    /* Read-only: the tail is hidden, nothing changes on disk, the tmp file stays. */
    struct wal_options ro = f->o;
    ro.read_only = true;
    struct wal *w2;
    assert_int_equal(wal_open(f->dir, &ro, &w2, f->err, sizeof(f->err)), 0);
    struct wal_state st;
    wal_get_state(w2, &st);
    assert_true(st.cut_bytes > 0);
    assert_string_equal(st.cut_path, "");
    tu_model_check(&before, w2);
    wal_close(w2);
    size_t nlen;
    uint8_t *now = tu_read_file(seg, &nlen);
    assert_memory_equal(now, d, len);
    free(now);
    assert_int_equal(access(tmp, F_OK), 0);
    assert_int_equal(tu_count_files(f->dir, ".cut"), 0);

    /* Read-write: the tail is cut and the leftover removed. */
    must_open(f);
    tu_model_check(&before, f->w);
    assert_int_equal(tu_count_files(f->dir, ".cut"), 1);
    assert_int_equal(access(tmp, F_OK), -1);
    free(d);
    tu_model_free(&before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_torn_tail_every_cut_point, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_sector_inside_last_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_before_tail_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_segments_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_roll_is_finished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftovers_and_read_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
