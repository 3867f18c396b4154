/* test_kv_watch.c — watch guarantees (ordered, unique, reliable, resumable, atomic) under random
 * interleavings of multi-key writes, lease revokes, compactions, restores and slow readers with
 * tiny buffers, checked against the model; wakeups are never lost; fan-out to many watchers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvtest.h"
#include "model.h"
#include "util/err.h"
#include "util/rng.h"
#include "watchcheck.h"

#define NW 24

struct reader {
    struct tw tw;
    bool used;
    bool wake_driven; /* polls only after a ready callback (or while `more`) */
    bool pending;     /* the last poll said more */
    long seen_wakeups;
    int speed; /* polls per step when active */
};

struct wt {
    struct rng r;
    struct kt t;
    struct model m;
    struct reader rd[NW];
    int64_t leases[16];
    int nleases;
    uint64_t seed;
};

static void failw(struct wt *w, const char *what)
{
    fprintf(stderr, "watch test failed (seed %llu): %s\n", (unsigned long long)w->seed, what);
    fail();
}

static void apply_cmd(struct wt *w, const struct kv_cmd *c)
{
    struct kv_result got, exp;
    kt_apply(&w->t, c, &got);
    m_apply(&w->m, c, got.u.grant.id, &exp);
    const char *d = m_result_diff(&got, &exp);
    if (d) failw(w, d);
    if (c->type == KV_CMD_LEASE_GRANT && !got.err && w->nleases < 16)
        w->leases[w->nleases++] = got.u.grant.id;
    kv_result_free(&got);
    kv_result_free(&exp);
}

static const char *rkey(struct wt *w)
{
    return m_universe[rng_below(&w->r, M_KEYS)];
}

/* A write: single puts, multi-key txns (several events in one revision), range deletes,
 * lease grants and revokes (all keys of a lease in one revision), compactions. */
static void random_write(struct wt *w)
{
    struct kv_cmd c = {0};
    char val[8];
    snprintf(val, sizeof(val), "%u", (unsigned)rng_below(&w->r, 1000));
    uint64_t k = rng_below(&w->r, 100);
    if (k < 45) {
        c.type = KV_CMD_PUT;
        c.u.put.key = kt_b(rkey(w));
        c.u.put.value = kt_b(val);
        if (w->nleases && rng_chance(&w->r, 1, 3))
            c.u.put.lease = w->leases[rng_below(&w->r, w->nleases)];
        apply_cmd(w, &c);
    } else if (k < 65) {
        struct kv_op ops[M_KEYS];
        size_t n = 0;
        for (int i = 0; i < M_KEYS; i++) {
            if (!rng_chance(&w->r, 1, 3)) continue;
            ops[n].type = rng_chance(&w->r, 1, 4) ? KV_OP_DELETE : KV_OP_PUT;
            if (ops[n].type == KV_OP_PUT) {
                memset(&ops[n].u.put, 0, sizeof(ops[n].u.put));
                ops[n].u.put.key = kt_b(m_universe[i]);
                ops[n].u.put.value = kt_b(val);
            } else {
                memset(&ops[n].u.del, 0, sizeof(ops[n].u.del));
                ops[n].u.del.key = kt_b(m_universe[i]);
            }
            n++;
        }
        c.type = KV_CMD_TXN;
        c.u.txn = (struct kv_txn){NULL, 0, ops, n, NULL, 0};
        apply_cmd(w, &c);
    } else if (k < 75) {
        c.type = KV_CMD_DELETE;
        c.u.del.key = kt_b(rkey(w));
        c.u.del.range_end = kt_b(rkey(w));
        apply_cmd(w, &c);
    } else if (k < 82) {
        c.type = KV_CMD_LEASE_GRANT;
        c.u.grant.ttl_ms = 1000;
        if (w->nleases < 16) apply_cmd(w, &c);
    } else if (k < 90) {
        if (!w->nleases) return;
        c.type = KV_CMD_LEASE_REVOKE;
        int i = (int)rng_below(&w->r, w->nleases);
        c.u.revoke_id = w->leases[i];
        w->leases[i] = w->leases[--w->nleases];
        apply_cmd(w, &c);
    } else if (k < 96) {
        c.type = KV_CMD_COMPACT;
        int64_t lo = w->m.compact_rev > 1 ? w->m.compact_rev : 1;
        c.u.compact.revision = lo + (int64_t)rng_below(&w->r, (uint64_t)(w->m.rev - lo + 1));
        apply_cmd(w, &c);
    } else {
        bool done;
        assert_int_equal(kv_compact_step(w->t.kv, 1 + rng_below(&w->r, 20), &done), 0);
    }
}

static void new_reader(struct wt *w, struct reader *rd)
{
    memset(rd, 0, sizeof(*rd));
    const char *key = rkey(w);
    struct kv_bytes end = {NULL, 0};
    uint64_t shape = rng_below(&w->r, 4);
    char endbuf[8];
    if (shape == 1)
        end = (struct kv_bytes){(const uint8_t *)"", 1}; /* from key */
    else if (shape == 2) {                               /* prefix */
        snprintf(endbuf, sizeof(endbuf), "%s", key);
        endbuf[strlen(endbuf) - 1]++;
        end = kt_b(endbuf);
    } else if (shape == 3)
        end = kt_b(rkey(w));
    int64_t start = 0;
    if (rng_chance(&w->r, 3, 4)) /* often in the past, sometimes below the compact revision */
        start = 1 + (int64_t)rng_below(&w->r, (uint64_t)w->m.rev + 1);
    tw_create(&rd->tw, w->t.kv, &w->m, key, end, start, rng_chance(&w->r, 1, 2),
              rng_chance(&w->r, 1, 10), rng_chance(&w->r, 1, 10));
    rd->used = true;
    rd->wake_driven = rng_chance(&w->r, 1, 2);
    rd->pending = true; /* a new watcher may have history: poll it once */
    rd->speed = 1 + (int)rng_below(&w->r, 3);
    rd->seen_wakeups = rd->tw.wakeups;
}

/* A reader's turn: wake-driven readers act only on a wakeup or a pending `more`. */
static void read_some(struct wt *w, struct reader *rd)
{
    if (rd->wake_driven && !rd->pending && rd->tw.wakeups == rd->seen_wakeups) return;
    rd->seen_wakeups = rd->tw.wakeups;
    for (int i = 0; i < rd->speed; i++) {
        rd->pending = tw_poll(&rd->tw, w->t.kv, 1 + rng_below(&w->r, 120));
        if (!rd->pending) break;
    }
}

static void finish_reader(struct wt *w, struct reader *rd)
{
    if (rd->wake_driven && !rd->tw.canceled) {
        /* catch up on what it was told about; then nothing may be left untold */
        while (rd->pending || rd->tw.wakeups != rd->seen_wakeups) {
            rd->seen_wakeups = rd->tw.wakeups;
            rd->pending = tw_poll(&rd->tw, w->t.kv, 1000);
        }
        size_t n = rd->tw.n;
        bool more = tw_poll(&rd->tw, w->t.kv, 1000);
        if ((rd->tw.n != n || more) && !rd->tw.canceled)
            failw(w, "events pending without a wakeup");
    }
    const char *d = tw_finish(&rd->tw, w->t.kv, &w->m, &w->r);
    if (d) failw(w, d);
    rd->used = false;
}

static void restore_in_place(struct wt *w)
{
    char path[300];
    snprintf(path, sizeof(path), "%s.snap", w->t.dir);
    struct kv_snapshot *s;
    assert_int_equal(kv_snapshot_open(w->t.kv, &s), 0);
    FILE *f = fopen(path, "wb");
    uint8_t buf[8192];
    size_t n;
    do {
        assert_int_equal(kv_snapshot_read(s, buf, sizeof(buf), &n), 0);
        fwrite(buf, 1, n, f);
    } while (n);
    fclose(f);
    kv_snapshot_close(s);
    assert_int_equal(kv_restore(w->t.kv, path), 0);
    unlink(path);
}

static void run(uint64_t seed, int steps)
{
    struct wt *w = calloc(1, sizeof(*w));
    w->seed = seed;
    rng_seed(&w->r, seed);
    kt_open(&w->t);
    m_init(&w->m);
    for (int step = 0; step < steps; step++) {
        uint64_t k = rng_below(&w->r, 100);
        if (k < 50)
            random_write(w);
        else if (k < 56) {
            struct reader *rd = &w->rd[rng_below(&w->r, NW)];
            if (rd->used)
                finish_reader(w, rd);
            else
                new_reader(w, rd);
        } else if (k < 99) {
            struct reader *rd = &w->rd[rng_below(&w->r, NW)];
            if (rd->used && rng_chance(&w->r, 1, 2)) read_some(w, rd); /* slow readers */
        } else if (rng_chance(&w->r, 1, 5)) {
            restore_in_place(w);
        }
    }
    for (int i = 0; i < NW; i++)
        if (w->rd[i].used) finish_reader(w, &w->rd[i]);
    kt_destroy(&w->t);
    m_free(&w->m);
    free(w);
}

static void test_random_interleavings(void **state)
{
    const char *one = getenv("KV_WATCH_SEED");
    if (one) {
        run(strtoull(one, NULL, 10), 3000);
        return;
    }
    int n = (int)(120 * kt_scale());
    if (n < 10) n = 10;
    for (int i = 0; i < n; i++) run(0x3a7c0000ull + (uint64_t)i, 1500);
}

struct counter {
    long calls;
};

static void count_ready(void *ud, struct kv_watcher *w)
{
    ((struct counter *)ud)->calls++;
}

static void test_fanout(void **state)
{
    struct kt t;
    kt_open(&t);
    enum { N = 1000, PUTS = 20 };
    static struct kv_watcher *ws[N];
    static struct counter cs[N];
    for (int i = 0; i < N; i++) {
        struct kv_watch_req req = {kt_b("hot"), {NULL, 0}, 0,           i % 2 == 0,
                                   false,       false,     count_ready, &cs[i]};
        assert_int_equal(kv_watch_create(t.kv, &req, &ws[i]), 0);
    }
    struct kv_watcher *over;
    struct kv_watch_req other = {kt_b("cold"), {NULL, 0}, 0, false, false, false, NULL, NULL};
    assert_int_equal(kv_watch_create(t.kv, &other, &over), 0);
    char v[16];
    for (int p = 0; p < PUTS; p++) {
        snprintf(v, sizeof(v), "%d", p);
        assert_int_equal(kt_put(&t, "hot", v, 0), 0);
    }
    for (int i = 0; i < N; i++) {
        /* one wakeup: the consumer had not polled since */
        assert_int_equal(cs[i].calls, 1);
        int got = 0;
        struct kv_watch_batch b;
        do {
            assert_int_equal(kv_watch_poll(t.kv, ws[i], 1 << 20, &b), 0);
            for (size_t j = 0; j < b.n; j++, got++) {
                assert_int_equal(b.events[j]->kv.mod_rev, 2 + got);
                assert_int_equal(b.events[j]->has_prev, i % 2 == 0 && got > 0);
            }
            bool more = b.more;
            kv_watch_batch_free(&b);
            if (!more) break;
        } while (1);
        assert_int_equal(got, PUTS);
        kv_watch_cancel(t.kv, ws[i]);
    }
    struct kv_watch_batch b;
    assert_int_equal(kv_watch_poll(t.kv, over, 100, &b), 0);
    assert_int_equal(b.n, 0);
    kv_watch_batch_free(&b);
    kv_watch_cancel(t.kv, over);
    kt_destroy(&t);
}

static void test_compacted_and_limits(void **state)
{
    struct kt t;
    kt_open(&t);
    for (int i = 0; i < 10; i++) assert_int_equal(kt_put(&t, "k", "v", 0), 0);
    assert_int_equal(kt_compact(&t, 6), 0);
    struct kv_watcher *w;
    struct kv_watch_req req = {kt_b("k"), {NULL, 0}, 3, false, false, false, NULL, NULL};
    assert_int_equal(kv_watch_create(t.kv, &req, &w), 0);
    struct kv_watch_batch b;
    assert_int_equal(kv_watch_poll(t.kv, w, 100, &b), 0);
    assert_true(b.canceled);
    assert_int_equal(b.compact_rev, 6);
    assert_false(b.more);
    kv_watch_batch_free(&b);
    int64_t pr;
    assert_int_equal(kv_watch_progress(t.kv, w, &pr), CC_EBUSY);
    kv_watch_cancel(t.kv, w);
    req.start_rev = 6; /* from the compact revision itself: allowed, nothing missing */
    assert_int_equal(kv_watch_create(t.kv, &req, &w), 0);
    assert_int_equal(kv_watch_poll(t.kv, w, 1 << 20, &b), 0);
    assert_false(b.canceled);
    assert_int_equal(b.n, 6); /* revisions 6..11 */
    assert_int_equal(b.events[0]->kv.mod_rev, 6);
    kv_watch_batch_free(&b);
    assert_int_equal(kv_watch_progress(t.kv, w, &pr), 0);
    assert_int_equal(pr, 11);
    kv_watch_cancel(t.kv, w);
    kt_destroy(&t);
}

/* Regression: a watcher with a future start that a restore made catch up must still skip
 * the revisions below its start. */
static void test_future_start_across_restore(void **state)
{
    struct wt w = {0};
    kt_open(&w.t);
    for (int i = 0; i < 4; i++) assert_int_equal(kt_put(&w.t, "k", "v", 0), 0); /* rev 5 */
    struct kv_watcher *wa;
    struct kv_watch_req req = {kt_b("k"), {NULL, 0}, 10, false, false, false, NULL, NULL};
    assert_int_equal(kv_watch_create(w.t.kv, &req, &wa), 0);
    restore_in_place(&w);
    struct kv_watch_batch b;
    assert_int_equal(kv_watch_poll(w.t.kv, wa, 1 << 20, &b), 0); /* catches up to 5 */
    assert_int_equal(b.n, 0);
    kv_watch_batch_free(&b);
    for (int i = 0; i < 7; i++) assert_int_equal(kt_put(&w.t, "k", "v", 0), 0); /* revs 6..12 */
    int64_t first = 0;
    size_t n = 0;
    do {
        assert_int_equal(kv_watch_poll(w.t.kv, wa, 1 << 20, &b), 0);
        for (size_t i = 0; i < b.n; i++, n++)
            if (!first) first = b.events[i]->kv.mod_rev;
        bool more = b.more;
        kv_watch_batch_free(&b);
        if (!more) break;
    } while (1);
    assert_int_equal(first, 10);
    assert_int_equal(n, 3); /* 10, 11, 12 */
    kv_watch_cancel(w.t.kv, wa);
    kt_destroy(&w.t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_interleavings),
        cmocka_unit_test(test_fanout),
        cmocka_unit_test(test_compacted_and_limits),
        cmocka_unit_test(test_future_start_across_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
