/* test_wal.c — the WAL's normal life. */
/* Append and reopen, truncation rules, segment roll-over, snapshot markers and segment release,
 * reading back, limits, read-only opens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "storage/wal.h"
#include "testutil.h"
#include "util/err.h"

struct fx {
    char *dir;
    struct wal_options o;
    struct wal *w;
    struct tu_model m;
    struct rng r;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("wal-test");
    wal_options_default(&f->o);
    f->o.segment_bytes = 64 << 10;
    f->o.log = tu_logger();
    tu_model_init(&f->m);
    rng_seed(&f->r, 42);
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

static void reopen(struct fx *f)
{
    char err[512];
    wal_close(f->w);
    f->w = NULL;
    int rc = wal_open(f->dir, &f->o, &f->w, err, sizeof(err));
    if (rc) fail_msg("wal_open: %s: %s", cc_errname(rc), err);
}

/* Appends n entries of term starting at first (and hs if not NULL); updates the model. */
static void append(struct fx *f, uint64_t first, uint32_t n, uint64_t term,
                   const struct raft_hard_state *hs)
{
    struct tu_batch b;
    tu_batch_make(&b, &f->r, first, n, term, 0, 300);
    struct wal_batch wb = {.entries = b.v, .n_entries = n, .hs = hs};
    int rc = wal_append(f->w, &wb);
    if (rc) fail_msg("wal_append: %s: %s", cc_errname(rc), wal_errmsg(f->w));
    tu_model_apply(&f->m, &wb);
    tu_batch_free(&b);
}

static void test_fresh_append_reopen(void **state)
{
    struct fx *f = *state;
    reopen(f);
    struct wal_state st;
    wal_get_state(f->w, &st);
    assert_true(st.fresh);
    assert_int_equal(st.last_index, 0);
    assert_int_equal(st.first_index, 1);
    tu_model_check(&f->m, f->w);

    struct raft_hard_state hs = {.term = 1, .vote = 7, .commit = 0};
    append(f, 1, 10, 1, &hs);
    hs.commit = 8;
    append(f, 11, 5, 1, &hs);
    append(f, 16, 1, 1, NULL);
    struct wal_batch only_hs = {.hs = &hs};
    hs.commit = 12;
    assert_int_equal(wal_append(f->w, &only_hs), 0);
    tu_model_apply(&f->m, &only_hs);
    struct wal_batch empty = {0};
    assert_int_equal(wal_append(f->w, &empty), 0);
    tu_model_check(&f->m, f->w);

    reopen(f);
    wal_get_state(f->w, &st);
    assert_false(st.fresh);
    assert_int_equal(st.bseq, 4);
    assert_int_equal(st.cut_bytes, 0);
    tu_model_check(&f->m, f->w);

    /* Appends continue after a reopen. */
    append(f, 17, 3, 2, NULL);
    reopen(f);
    tu_model_check(&f->m, f->w);

    /* Ranges and limits of wal_read_entries. */
    struct wal_entries es;
    assert_int_equal(wal_read_entries(f->w, 5, 9, UINT64_MAX, &es), 0);
    assert_int_equal(es.n, 5);
    assert_int_equal(es.v[0].index, 5);
    assert_true(tu_entry_ok(&es.v[4]));
    wal_entries_free(&es);
    assert_int_equal(wal_read_entries(f->w, 3, 19, 1, &es), 0);
    assert_int_equal(es.n, 1);
    wal_entries_free(&es);
    assert_int_equal(wal_read_entries(f->w, 0, 3, UINT64_MAX, &es), CC_ECOMPACTED);
    assert_int_equal(wal_read_entries(f->w, 3, 20, UINT64_MAX, &es), CC_ENOTFOUND);
    uint64_t t;
    assert_int_equal(wal_term(f->w, 18, &t), 0);
    assert_int_equal(t, 2);
    assert_int_equal(wal_term(f->w, 0, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(wal_term(f->w, 20, &t), CC_ENOTFOUND);
}

static void test_truncation_rules(void **state)
{
    struct fx *f = *state;
    reopen(f);
    struct raft_hard_state hs = {.term = 2, .vote = 1, .commit = 4};
    append(f, 1, 10, 1, &hs);

    /* Conflicting suffix from 7 on (above commit 4): replaced. */
    append(f, 7, 2, 2, NULL);
    struct wal_state st;
    wal_get_state(f->w, &st);
    assert_int_equal(st.last_index, 8);
    assert_int_equal(st.last_term, 2);
    tu_model_check(&f->m, f->w);
    reopen(f);
    tu_model_check(&f->m, f->w);

    /* Refusals leave the WAL usable and unchanged. */
    struct tu_batch b;
    tu_batch_make(&b, &f->r, 4, 2, 3, 1, 10);
    struct wal_batch wb = {.entries = b.v, .n_entries = 2};
    assert_int_equal(wal_append(f->w, &wb), CC_EINVAL); /* truncates committed index 4 */
    assert_non_null(strstr(wal_errmsg(f->w), "commit"));
    tu_batch_free(&b);
    tu_batch_make(&b, &f->r, 10, 1, 3, 1, 10);
    wb.entries = b.v;
    wb.n_entries = 1;
    assert_int_equal(wal_append(f->w, &wb), CC_EINVAL); /* gap after 8 */
    tu_batch_free(&b);
    tu_batch_make(&b, &f->r, 9, 1, 1, 1, 10);
    wb.entries = b.v;
    assert_int_equal(wal_append(f->w, &wb), CC_EINVAL); /* term 1 after term 2 */
    tu_batch_free(&b);
    struct raft_hard_state back = {.term = 1, .vote = 1, .commit = 4};
    struct wal_batch hb = {.hs = &back};
    assert_int_equal(wal_append(f->w, &hb), CC_EINVAL); /* term goes back */
    struct raft_hard_state revote = {.term = 2, .vote = 3, .commit = 4};
    hb.hs = &revote;
    assert_int_equal(wal_append(f->w, &hb), CC_EINVAL); /* second vote in term 2 */
    struct raft_hard_state uncommit = {.term = 2, .vote = 1, .commit = 3};
    hb.hs = &uncommit;
    assert_int_equal(wal_append(f->w, &hb), CC_EINVAL); /* commit goes back */
    struct raft_entry bad = {.index = 9, .term = 2, .type = 9};
    wb.entries = &bad;
    assert_int_equal(wal_append(f->w, &wb), CC_EINVAL); /* unknown type */
    assert_int_equal(wal_error(f->w), 0);
    tu_model_check(&f->m, f->w);

    /* Truncating exactly above the commit index is fine, in the same batch as a new commit. */
    struct raft_hard_state hs2 = {.term = 3, .vote = 0, .commit = 6};
    append(f, 5, 3, 3, &hs2);
    reopen(f);
    tu_model_check(&f->m, f->w);
}

static void test_rollover_and_release(void **state)
{
    struct fx *f = *state;
    f->o.segment_bytes = 4096;
    reopen(f);
    struct raft_hard_state hs = {.term = 1, .vote = 1, .commit = 0};
    uint64_t next = 1;
    for (int k = 0; k < 60; k++) {
        hs.commit = next - 1;
        append(f, next, 3, 1, &hs);
        next += 3;
    }
    struct wal_state st;
    wal_get_state(f->w, &st);
    assert_true(st.n_segments > 5);
    assert_int_equal(tu_count_files(f->dir, ".wal"), st.n_segments);
    tu_model_check(&f->m, f->w);
    reopen(f);
    tu_model_check(&f->m, f->w);
    uint64_t nseg = st.n_segments;

    /* Release needs a durable snapshot marker first. */
    assert_int_equal(wal_release(f->w, 100, NULL), CC_EINVAL);
    struct wal_batch mk = {.has_snap = true, .snap_index = 120, .snap_term = 1};
    assert_int_equal(wal_append(f->w, &mk), 0);
    tu_model_apply(&f->m, &mk);
    tu_model_check(&f->m, f->w);
    uint32_t removed = 0;
    assert_int_equal(wal_release(f->w, 121, &removed), 0);
    assert_true(removed > 0);
    wal_get_state(f->w, &st);
    assert_int_equal(st.n_segments, nseg - removed);
    assert_int_equal(tu_count_files(f->dir, ".wal"), st.n_segments);
    struct wal_entries es;
    assert_int_equal(wal_read_entries(f->w, 120, 130, UINT64_MAX, &es), CC_ECOMPACTED);
    reopen(f);
    tu_model_check(&f->m, f->w);
    wal_get_state(f->w, &st);
    assert_int_equal(st.first_index, 121);

    /* Everything up to the newest segment can go once the snapshot covers the whole log. */
    mk.snap_index = next - 1;
    assert_int_equal(wal_append(f->w, &mk), 0);
    tu_model_apply(&f->m, &mk);
    assert_int_equal(wal_release(f->w, next, &removed), 0);
    wal_get_state(f->w, &st);
    assert_int_equal(st.n_segments, 1);
    reopen(f);
    tu_model_check(&f->m, f->w);
    append(f, next, 2, 2, NULL);
    reopen(f);
    tu_model_check(&f->m, f->w);
}

static void test_snapshot_install_replaces_log(void **state)
{
    struct fx *f = *state;
    reopen(f);
    struct raft_hard_state hs = {.term = 1, .vote = 1, .commit = 2};
    append(f, 1, 5, 1, &hs);
    /* A follower installs a snapshot beyond its log: the log is replaced. */
    struct raft_hard_state hs2 = {.term = 3, .vote = 0, .commit = 50};
    struct tu_batch b;
    tu_batch_make(&b, &f->r, 51, 4, 3, 1, 64);
    struct wal_batch wb = {.has_snap = true,
                           .snap_index = 50,
                           .snap_term = 3,
                           .entries = b.v,
                           .n_entries = 4,
                           .hs = &hs2};
    assert_int_equal(wal_append(f->w, &wb), 0);
    tu_model_apply(&f->m, &wb);
    tu_batch_free(&b);
    struct wal_state st;
    wal_get_state(f->w, &st);
    assert_int_equal(st.first_index, 51);
    assert_int_equal(st.last_index, 54);
    tu_model_check(&f->m, f->w);
    reopen(f);
    tu_model_check(&f->m, f->w);

    /* A snapshot at a known index with a different term also replaces the log. */
    struct wal_batch mk = {.has_snap = true, .snap_index = 53, .snap_term = 4};
    assert_int_equal(wal_append(f->w, &mk), 0);
    tu_model_apply(&f->m, &mk);
    wal_get_state(f->w, &st);
    assert_int_equal(st.last_index, 53);
    /* A compaction marker (matching term) keeps what follows. */
    append(f, 54, 4, 4, NULL);
    mk.snap_index = 55;
    assert_int_equal(wal_append(f->w, &mk), 0);
    tu_model_apply(&f->m, &mk);
    wal_get_state(f->w, &st);
    assert_int_equal(st.last_index, 57);
    reopen(f);
    tu_model_check(&f->m, f->w);
    /* Older markers are refused. */
    mk.snap_index = 54;
    assert_int_equal(wal_append(f->w, &mk), CC_EINVAL);
}

static void test_big_batch_and_limits(void **state)
{
    struct fx *f = *state;
    f->o.segment_bytes = 4096;
    f->o.max_entries = 100;
    reopen(f);
    /* A batch larger than a whole segment grows the segment it goes to. */
    struct tu_batch b;
    tu_batch_make(&b, &f->r, 1, 40, 1, 200, 400);
    struct wal_batch wb = {.entries = b.v, .n_entries = 40};
    assert_int_equal(wal_append(f->w, &wb), 0);
    tu_model_apply(&f->m, &wb);
    tu_batch_free(&b);
    tu_batch_make(&b, &f->r, 41, 40, 1, 200, 400);
    wb.entries = b.v;
    assert_int_equal(wal_append(f->w, &wb), 0);
    tu_model_apply(&f->m, &wb);
    tu_batch_free(&b);
    reopen(f);
    tu_model_check(&f->m, f->w);
    /* The index bound. */
    tu_batch_make(&b, &f->r, 81, 30, 1, 1, 2);
    wb.entries = b.v;
    wb.n_entries = 30;
    assert_int_equal(wal_append(f->w, &wb), CC_ETOOBIG);
    assert_int_equal(wal_error(f->w), 0);
    tu_batch_free(&b);
    /* The entry size bound. */
    f->o.max_entry_bytes = 100;
    reopen(f);
    tu_batch_make(&b, &f->r, 81, 1, 1, 101, 101);
    wb.entries = b.v;
    wb.n_entries = 1;
    assert_int_equal(wal_append(f->w, &wb), CC_ETOOBIG);
    tu_batch_free(&b);
    tu_model_check(&f->m, f->w);
    /* Options out of range. */
    struct wal_options bad = f->o;
    bad.segment_bytes = 100;
    struct wal *w2;
    assert_int_equal(wal_open(f->dir, &bad, &w2, NULL, 0), CC_EINVAL);
    assert_null(w2);
}

static void test_read_only(void **state)
{
    struct fx *f = *state;
    char missing[1100];
    snprintf(missing, sizeof(missing), "%s/nothing", f->dir);
    struct wal_options ro = f->o;
    ro.read_only = true;
    struct wal *w2;
    assert_int_equal(wal_open(missing, &ro, &w2, NULL, 0), CC_ENOTFOUND);
    assert_int_equal(tu_count_files(f->dir, ""), 2); /* "." and ".." only: nothing created */
    reopen(f);
    append(f, 1, 4, 1, NULL);
    assert_int_equal(wal_open(f->dir, &ro, &w2, NULL, 0), 0);
    tu_model_check(&f->m, w2);
    struct wal_batch wb = {.has_snap = true, .snap_index = 1, .snap_term = 1};
    assert_int_equal(wal_append(w2, &wb), CC_EINVAL);
    assert_int_equal(wal_release(w2, 1, NULL), CC_EINVAL);
    wal_close(w2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_append_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollover_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_install_replaces_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_batch_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
