/* test_kv_model.c — model-based test: random sequences of puts, deletes, txns (nested), ranges
 * with every option, compactions and compaction steps, leases, counters and watchers, with
 * batched apply, close/reopen and snapshot/restore in between, applied both to the store and to
 * the reference model (model.c); every result, range, event stream and HashKV is compared.
 * KV_MODEL_SEQS / KV_MODEL_SEED select how many sequences and which seed. */
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
#include "watchcheck.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/rng.h"

#define MAX_WATCH 4

struct seq {
    struct rng r;
    struct kt t;
    struct model m;
    struct tw w[MAX_WATCH];
    int nw;
    int64_t lease_ids[64];
    int nlease;
    uint64_t seed;
    char archive[300];
    long ops, checks;
};

static void fail_seq(struct seq *s, const char *what, const char *detail)
{
    fprintf(stderr, "model mismatch (seed %llu, op %ld): %s: %s\n", (unsigned long long)s->seed,
            s->ops, what, detail ? detail : "");
    fail();
}

static const char *rkey(struct seq *s)
{
    return m_universe[rng_below(&s->r, M_KEYS)];
}

static struct kv_bytes rval(struct seq *s, struct kv_arena *a)
{
    static const char alpha[] = "01ab9-";
    size_t n = rng_below(&s->r, 5);
    char *v = kv_arena_alloc(a, n + 1);
    for (size_t i = 0; i < n; i++) v[i] = alpha[rng_below(&s->r, sizeof(alpha) - 1)];
    if (n && rng_chance(&s->r, 1, 3)) v[0] = (char)('1' + rng_below(&s->r, 9)); /* numbers */
    return (struct kv_bytes){(const uint8_t *)v, n};
}

/* A range end: single key, [k, other), prefix, or from-key. */
static struct kv_bytes rend(struct seq *s, struct kv_bytes key, struct kv_arena *a)
{
    switch (rng_below(&s->r, 4)) {
    case 0:
        return (struct kv_bytes){NULL, 0};
    case 1:
        return (struct kv_bytes){(const uint8_t *)rkey(s), 0};
    case 2: {
        uint8_t *e = kv_arena_dup(a, key.p, key.len);
        e[key.len - 1]++;
        return (struct kv_bytes){e, key.len};
    }
    default:
        return (struct kv_bytes){(const uint8_t *)"", 1}; /* "\0" */
    }
}

static struct kv_bytes kb(const char *k)
{
    return (struct kv_bytes){(const uint8_t *)k, strlen(k)};
}

static int64_t rlease(struct seq *s)
{
    if (!rng_chance(&s->r, 1, 4)) return 0;
    if (s->nlease && rng_chance(&s->r, 4, 5)) return s->lease_ids[rng_below(&s->r, s->nlease)];
    return (int64_t)rng_range(&s->r, 1, 30);
}

static void gen_put(struct seq *s, struct kv_put *p, struct kv_arena *a)
{
    memset(p, 0, sizeof(*p));
    p->key = kb(rkey(s));
    p->value = rval(s, a);
    p->lease = rlease(s);
    p->prev_kv = rng_chance(&s->r, 1, 3);
    if (rng_chance(&s->r, 1, 10)) {
        p->ignore_value = true;
        if (!rng_chance(&s->r, 1, 5)) p->value.len = 0;
    }
    if (rng_chance(&s->r, 1, 10)) {
        p->ignore_lease = true;
        if (!rng_chance(&s->r, 1, 5)) p->lease = 0;
    }
}

static void gen_range(struct seq *s, struct kv_range *q, struct kv_arena *a, bool in_txn)
{
    memset(q, 0, sizeof(*q));
    q->key = kb(rkey(s));
    q->range_end = rend(s, q->key, a);
    if (rng_chance(&s->r, 1, 3)) q->limit = (int64_t)rng_range(&s->r, 0, 4) - 1;
    if (rng_chance(&s->r, 1, 3) || (in_txn && rng_chance(&s->r, 1, 2))) {
        int64_t lo = s->m.compact_rev - 1, hi = s->m.rev + 1;
        q->revision =
            rng_chance(&s->r, 1, 4) ? 0 : lo + (int64_t)rng_below(&s->r, (uint64_t)(hi - lo + 1));
        if (in_txn && q->revision > s->m.rev) q->revision = 0; /* keep most txns valid */
    }
    if (rng_chance(&s->r, 1, 3)) {
        q->sort_order = (uint8_t)rng_below(&s->r, 3);
        q->sort_target = (uint8_t)rng_below(&s->r, 5);
    }
    q->keys_only = rng_chance(&s->r, 1, 5);
    q->count_only = rng_chance(&s->r, 1, 8);
    if (rng_chance(&s->r, 1, 5)) q->min_mod_rev = (int64_t)rng_below(&s->r, (uint64_t)s->m.rev + 1);
    if (rng_chance(&s->r, 1, 5)) q->max_mod_rev = (int64_t)rng_below(&s->r, (uint64_t)s->m.rev + 1);
    if (rng_chance(&s->r, 1, 6))
        q->min_create_rev = (int64_t)rng_below(&s->r, (uint64_t)s->m.rev + 1);
    if (rng_chance(&s->r, 1, 6))
        q->max_create_rev = (int64_t)rng_below(&s->r, (uint64_t)s->m.rev + 1);
}

static void gen_txn(struct seq *s, struct kv_txn *t, struct kv_arena *a, int depth)
{
    memset(t, 0, sizeof(*t));
    t->n_cmp = rng_below(&s->r, 4);
    t->cmp = kv_arena_calloc(a, t->n_cmp + 1, sizeof(*t->cmp));
    for (size_t i = 0; i < t->n_cmp; i++) {
        struct kv_compare *c = &t->cmp[i];
        c->target = (uint8_t)rng_below(&s->r, 5);
        c->result = (uint8_t)rng_below(&s->r, 4);
        c->key = kb(rkey(s));
        if (rng_chance(&s->r, 1, 5)) c->range_end = rend(s, c->key, a);
        c->number =
            (int64_t)rng_below(&s->r, (uint64_t)s->m.rev + 2) - (rng_chance(&s->r, 1, 10) ? 1 : 0);
        if (c->target == KV_CMP_LEASE && s->nlease && rng_chance(&s->r, 1, 2))
            c->number = s->lease_ids[rng_below(&s->r, s->nlease)];
        c->value = rval(s, a);
    }
    for (int b = 0; b < 2; b++) {
        size_t n = rng_below(&s->r, 4);
        struct kv_op *ops = kv_arena_calloc(a, n + 1, sizeof(*ops));
        for (size_t i = 0; i < n; i++) {
            uint64_t k = rng_below(&s->r, 10);
            if (k < 4) {
                ops[i].type = KV_OP_PUT;
                gen_put(s, &ops[i].u.put, a);
            } else if (k < 6) {
                ops[i].type = KV_OP_DELETE;
                ops[i].u.del.key = kb(rkey(s));
                ops[i].u.del.range_end = rng_chance(&s->r, 1, 2) ? (struct kv_bytes){NULL, 0}
                                                                 : rend(s, ops[i].u.del.key, a);
                ops[i].u.del.prev_kv = rng_chance(&s->r, 1, 2);
            } else if (k < 9 || depth >= 3) {
                ops[i].type = KV_OP_RANGE;
                gen_range(s, &ops[i].u.range, a, true);
            } else {
                ops[i].type = KV_OP_TXN;
                ops[i].u.txn = kv_arena_calloc(a, 1, sizeof(struct kv_txn));
                gen_txn(s, ops[i].u.txn, a, depth + 1);
            }
        }
        if (b == 0) {
            t->success = ops;
            t->n_success = n;
        } else {
            t->failure = ops;
            t->n_failure = n;
        }
    }
}

static void gen_cmd(struct seq *s, struct kv_cmd *c, struct kv_arena *a)
{
    memset(c, 0, sizeof(*c));
    uint64_t k = rng_below(&s->r, 100);
    if (k < 40) {
        c->type = KV_CMD_PUT;
        gen_put(s, &c->u.put, a);
    } else if (k < 52) {
        c->type = KV_CMD_DELETE;
        c->u.del.key = kb(rkey(s));
        c->u.del.range_end = rend(s, c->u.del.key, a);
        c->u.del.prev_kv = rng_chance(&s->r, 1, 2);
    } else if (k < 75) {
        c->type = KV_CMD_TXN;
        gen_txn(s, &c->u.txn, a, 1);
    } else if (k < 80) {
        c->type = KV_CMD_COMPACT;
        int64_t lo = s->m.compact_rev, hi = s->m.rev + 1;
        c->u.compact.revision = lo + (int64_t)rng_below(&s->r, (uint64_t)(hi - lo + 1));
        if (rng_chance(&s->r, 1, 2) && s->m.rev > 1) /* usually a recent one */
            c->u.compact.revision = s->m.rev - (int64_t)rng_below(&s->r, 3);
    } else if (k < 85 && s->nlease < 60) {
        c->type = KV_CMD_LEASE_GRANT;
        c->u.grant.id = rng_chance(&s->r, 1, 2) ? 0 : (int64_t)rng_range(&s->r, 1, 30);
        c->u.grant.ttl_ms = (int64_t)rng_range(&s->r, 0, 20000);
        c->u.grant.min_ttl_ms = (int64_t)rng_range(&s->r, 0, 3000);
        if (rng_chance(&s->r, 1, 50)) c->u.grant.ttl_ms = KV_LEASE_TTL_MAX_MS + 1;
    } else if (k < 89) {
        c->type = KV_CMD_LEASE_REVOKE;
        c->u.revoke_id = s->nlease ? s->lease_ids[rng_below(&s->r, s->nlease)] : 5;
    } else if (k < 90) {
        c->type = KV_CMD_LEASE_RENEW;
        c->u.renew_id = rlease(s);
    } else if (k < 91) {
        c->type = KV_CMD_LEASE_CHECKPOINT;
        c->u.checkpoint.n = rng_below(&s->r, 3);
        c->u.checkpoint.cps = kv_arena_calloc(a, 3, sizeof(struct kv_lease_cp));
        for (size_t i = 0; i < c->u.checkpoint.n; i++) {
            c->u.checkpoint.cps[i].id = rlease(s);
            c->u.checkpoint.cps[i].remaining_ms = (int64_t)rng_below(&s->r, 5000);
        }
    } else {
        c->type = KV_CMD_COUNTER;
        c->u.counter.key = kb(rkey(s));
        c->u.counter.delta = (int64_t)rng_below(&s->r, 21) - 10;
        if (rng_chance(&s->r, 1, 30)) c->u.counter.delta = INT64_MAX;
    }
}

/* ---- watchers ---- */

static void add_watch(struct seq *s)
{
    if (s->nw >= MAX_WATCH) return;
    const char *key = rkey(s);
    struct kv_arena a = {0};
    struct kv_bytes end = rend(s, kb(key), &a);
    int64_t start = 0;
    if (rng_chance(&s->r, 2, 3)) {
        int64_t lo = s->m.compact_rev - 1 > 1 ? s->m.compact_rev - 1 : 1;
        start = lo + (int64_t)rng_below(&s->r, (uint64_t)(s->m.rev + 2 - lo + 1));
    }
    bool prev = rng_chance(&s->r, 1, 2), np = rng_chance(&s->r, 1, 8), nd = rng_chance(&s->r, 1, 8);
    tw_create(&s->w[s->nw++], s->t.kv, &s->m, key, end, start, prev, np, nd);
    kv_arena_free(&a);
}

static void finish_watch(struct seq *s, struct tw *w)
{
    const char *d = tw_finish(w, s->t.kv, &s->m, &s->r);
    if (d) fail_seq(s, "watch", d);
}

static void finish_watches(struct seq *s)
{
    for (int i = 0; i < s->nw; i++) finish_watch(s, &s->w[i]);
    s->nw = 0;
}

/* ---- checks ---- */

static void check_range(struct seq *s)
{
    struct kv_arena a = {0}, ea = {0};
    struct kv_range q;
    gen_range(s, &q, &a, false);
    struct kv_range_res got, exp;
    int gmsg, emsg;
    int grc = kv_range(s->t.kv, &q, &a, &got, &gmsg);
    int erc = m_range(&s->m, &q, s->m.rev, &ea, &exp, &emsg);
    if (grc != erc || (grc && gmsg != emsg)) fail_seq(s, "range error", cc_errname(grc));
    const char *d = grc ? NULL : m_range_diff(&got, &exp);
    if (d) fail_seq(s, "range", d);
    kv_arena_free(&a);
    kv_arena_free(&ea);
    s->checks++;
}

static void check_hash(struct seq *s)
{
    int64_t rev = s->m.compact_rev > 1 ? s->m.compact_rev : 1;
    rev += (int64_t)rng_below(&s->r, (uint64_t)(s->m.rev - rev + 1));
    uint32_t h;
    int64_t hr, cr;
    assert_int_equal(kv_hash(s->t.kv, rev, &h, &hr, &cr), 0);
    if (h != m_hash(&s->m, rev) || hr != rev || cr != s->m.compact_rev) {
        char d[96];
        snprintf(d, sizeof(d), "at rev %lld (compact %lld)", (long long)rev,
                 (long long)s->m.compact_rev);
        fail_seq(s, "hash", d);
    }
    s->checks++;
}

static void check_state(struct seq *s)
{
    if (kv_rev(s->t.kv) != s->m.rev || kv_compact_rev(s->t.kv) != s->m.compact_rev)
        fail_seq(s, "state", "revision or compact revision");
    check_hash(s);
}

static void dump_txn(const struct kv_txn *t, int depth);

static void dump_range(const struct kv_range *q, int depth)
{
    fprintf(stderr,
            "%*srange [%.*s,%.*s%s) lim %lld rev %lld sort %d/%d ko %d co %d mod %lld-%lld "
            "cr %lld-%lld\n",
            depth * 2, "", (int)q->key.len, q->key.p, (int)q->range_end.len,
            q->range_end.p ? (const char *)q->range_end.p : "",
            q->range_end.len == 1 && !q->range_end.p[0] ? "\\0" : "", (long long)q->limit,
            (long long)q->revision, q->sort_order, q->sort_target, q->keys_only, q->count_only,
            (long long)q->min_mod_rev, (long long)q->max_mod_rev, (long long)q->min_create_rev,
            (long long)q->max_create_rev);
}

static void dump_ops(const struct kv_op *ops, size_t n, int depth)
{
    for (size_t i = 0; i < n; i++) {
        const struct kv_op *o = &ops[i];
        if (o->type == KV_OP_RANGE)
            dump_range(&o->u.range, depth);
        else if (o->type == KV_OP_PUT)
            fprintf(stderr, "%*sput %.*s='%.*s' lease %lld pk %d iv %d il %d\n", depth * 2, "",
                    (int)o->u.put.key.len, o->u.put.key.p, (int)o->u.put.value.len,
                    o->u.put.value.p, (long long)o->u.put.lease, o->u.put.prev_kv,
                    o->u.put.ignore_value, o->u.put.ignore_lease);
        else if (o->type == KV_OP_DELETE)
            fprintf(stderr, "%*sdelete [%.*s,%.*s) pk %d\n", depth * 2, "", (int)o->u.del.key.len,
                    o->u.del.key.p, (int)o->u.del.range_end.len,
                    o->u.del.range_end.p ? (const char *)o->u.del.range_end.p : "",
                    o->u.del.prev_kv);
        else
            dump_txn(o->u.txn, depth);
    }
}

static void dump_txn(const struct kv_txn *t, int depth)
{
    fprintf(stderr, "%*stxn %zu cmps\n", depth * 2, "", t->n_cmp);
    fprintf(stderr, "%*ssuccess:\n", depth * 2, "");
    dump_ops(t->success, t->n_success, depth + 1);
    fprintf(stderr, "%*sfailure:\n", depth * 2, "");
    dump_ops(t->failure, t->n_failure, depth + 1);
}

static void dump_cmd(const struct kv_cmd *c, int depth)
{
    fprintf(stderr, "cmd type %d\n", c->type);
    if (c->type == KV_CMD_TXN) dump_txn(&c->u.txn, 1);
}

/* Applies 1..5 generated commands in one batch and compares each result. */
static void step_apply(struct seq *s)
{
    size_t n = rng_chance(&s->r, 1, 3) ? 1 + rng_below(&s->r, 5) : 1;
    struct kv_arena a = {0};
    struct kv_cmd c[5];
    struct buf b[5];
    struct kv_entry e[5];
    struct kv_result got[5];
    for (size_t i = 0; i < n; i++) {
        gen_cmd(s, &c[i], &a);
        buf_init(&b[i], KV_CMD_MAX);
        assert_int_equal(kv_cmd_encode(&c[i], &b[i]), 0);
        e[i] = (struct kv_entry){s->t.index++, b[i].data, b[i].len};
    }
    assert_int_equal(kv_apply(s->t.kv, e, n, got), 0);
    for (size_t i = 0; i < n; i++) {
        struct kv_result exp;
        m_apply(&s->m, &c[i], got[i].type == KV_CMD_LEASE_GRANT ? got[i].u.grant.id : 0, &exp);
        const char *d = m_result_diff(&got[i], &exp);
        if (d && getenv("KV_MODEL_DEBUG")) dump_cmd(&c[i], 0);
        if (d) fail_seq(s, "apply result", d);
        if (c[i].type == KV_CMD_LEASE_GRANT && !got[i].err && s->nlease < 64) {
            if (got[i].u.grant.id <= 0) fail_seq(s, "lease", "generated id not positive");
            s->lease_ids[s->nlease++] = got[i].u.grant.id;
        }
        kv_result_free(&got[i]);
        kv_result_free(&exp);
        buf_free(&b[i]);
    }
    kv_arena_free(&a);
    s->ops += (long)n;
}

static void step_reopen(struct seq *s)
{
    finish_watches(s);
    kt_close_store(&s->t);
    kt_reopen(&s->t);
    check_state(s);
}

static void step_snapshot(struct seq *s)
{
    struct kv_snapshot *snap;
    assert_int_equal(kv_snapshot_open(s->t.kv, &snap), 0);
    assert_int_equal(kv_snapshot_index(snap), s->t.index - 1);
    FILE *f = fopen(s->archive, "wb");
    assert_non_null(f);
    uint8_t buf[777]; /* an odd size to cross every boundary */
    size_t n, total = 0;
    /* The archive's size depends on RocksDB's file layout: draw the chunk sizes from a separate
     * stream so the rest of the sequence stays reproducible from its seed. */
    struct rng chunks;
    rng_seed(&chunks, rng_next(&s->r));
    do {
        assert_int_equal(kv_snapshot_read(snap, buf, 1 + rng_below(&chunks, sizeof(buf)), &n), 0);
        fwrite(buf, 1, n, f);
        total += n;
    } while (n);
    fclose(f);
    assert_int_equal(total, kv_snapshot_size(snap));
    kv_snapshot_close(snap);
    /* some more writes after the snapshot, which the restore must undo */
    struct model before;
    m_copy(&before, &s->m);
    uint64_t index = s->t.index;
    bool extra = rng_chance(&s->r, 1, 2);
    if (extra) {
        finish_watches(s);
        for (int i = 0; i < 3; i++) step_apply(s);
    }
    if (rng_chance(&s->r, 1, 2)) { /* restore in place; watchers carry on */
        assert_int_equal(kv_restore(s->t.kv, s->archive), 0);
    } else { /* restore into a fresh store and continue with it */
        finish_watches(s);
        struct kt fresh;
        kt_open(&fresh);
        assert_int_equal(kv_restore(fresh.kv, s->archive), 0);
        kt_destroy(&s->t);
        s->t = fresh;
    }
    if (extra) {
        m_free(&s->m);
        s->m = before;
    } else {
        m_free(&before);
    }
    s->t.index = index;
    assert_int_equal(kv_applied_index(s->t.kv), index - 1);
    check_state(s);
}

static void run_seq(uint64_t seed, int nops)
{
    struct seq *s = calloc(1, sizeof(*s));
    s->seed = seed;
    rng_seed(&s->r, seed);
    kt_open(&s->t);
    m_init(&s->m);
    snprintf(s->archive, sizeof(s->archive), "%s.snap", s->t.dir);
    for (int i = 0; i < nops; i++) {
        uint64_t k = rng_below(&s->r, 1000);
        if (k < 700)
            step_apply(s);
        else if (k < 820)
            check_range(s);
        else if (k < 860) {
            bool done;
            assert_int_equal(kv_compact_step(s->t.kv, 1 + rng_below(&s->r, 6), &done), 0);
        } else if (k < 880)
            check_hash(s);
        else if (k < 905)
            add_watch(s);
        else if (k < 960) {
            if (s->nw) tw_poll(&s->w[rng_below(&s->r, s->nw)], s->t.kv, 1 + rng_below(&s->r, 200));
        } else if (k < 970 && s->nw) {
            int wi = (int)rng_below(&s->r, s->nw);
            finish_watch(s, &s->w[wi]);
            s->w[wi] = s->w[--s->nw];
        } else if (k < 974)
            step_reopen(s);
        else if (k < 977)
            step_snapshot(s);
        else
            kt_noop(&s->t);
        if (getenv("KV_MODEL_PARANOID")) { /* uses no randomness: same sequence */
            uint32_t h;
            int64_t hr, cr;
            assert_int_equal(kv_hash(s->t.kv, 0, &h, &hr, &cr), 0);
            if (h != m_hash(&s->m, s->m.rev) || hr != s->m.rev) fail_seq(s, "paranoid hash", "");
        }
    }
    finish_watches(s);
    bool done = false;
    for (int i = 0; i < 10000 && !done; i++)
        assert_int_equal(kv_compact_step(s->t.kv, 7, &done), 0);
    assert_true(done);
    check_state(s);
    struct kv_status st;
    kv_get_status(s->t.kv, &st);
    assert_int_equal(st.compact_pending, 0);
    unlink(s->archive);
    kt_destroy(&s->t);
    m_free(&s->m);
    free(s);
}

static void test_model(void **state)
{
    const char *one = getenv("KV_MODEL_SEED");
    if (one) {
        const char *ops = getenv("KV_MODEL_OPS");
        run_seq(strtoull(one, NULL, 10), ops ? atoi(ops) : 400);
        return;
    }
    const char *ns = getenv("KV_MODEL_SEQS");
    int nseq = ns ? atoi(ns) : (int)(2000 * kt_scale());
    if (nseq < 20) nseq = 20;
    for (int i = 0; i < nseq; i++) run_seq(0x5eed0000ull + (uint64_t)i, 40 + (i % 5) * 30);
    printf("model: %d sequences passed\n", nseq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_model)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
