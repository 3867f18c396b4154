/* test_kv_misc.c — exactly-once client sessions, lease expiry/promote/renew/checkpoint, snapshot
 * round trips (and a damaged archive), HashKV equality between two stores fed the same
 * commands, resumable compaction, and durability bookkeeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv/internal.h"
#include "kvtest.h"
#include "util/err.h"
#include "util/rng.h"

static void session_put(struct kt *t, uint64_t client, uint64_t seq, const char *k, const char *v,
                        struct kv_result *r)
{
    struct kv_cmd c = {.type = KV_CMD_PUT, .has_session = true, .client_id = client, .seq = seq};
    c.u.put.key = kt_b(k);
    c.u.put.value = kt_b(v);
    c.u.put.prev_kv = true;
    kt_apply(t, &c, r);
}

static void test_sessions(void **state)
{
    struct kt t;
    kt_open(&t);
    struct kv_result r;
    session_put(&t, 1, 1, "k", "a", &r);
    assert_int_equal(r.err, 0);
    assert_false(r.duplicate);
    assert_int_equal(r.rev, 2);
    kv_result_free(&r);
    /* a retry returns the remembered result and applies nothing */
    session_put(&t, 1, 1, "k", "a", &r);
    assert_true(r.duplicate);
    assert_int_equal(r.rev, 2);
    assert_int_equal(kv_rev(t.kv), 2);
    kv_result_free(&r);
    session_put(&t, 1, 2, "k", "b", &r);
    assert_int_equal(r.rev, 3);
    assert_true(r.u.put.has_prev);
    assert_memory_equal(r.u.put.prev.value.p, "a", 1);
    kv_result_free(&r);
    /* an older sequence number is refused */
    session_put(&t, 1, 1, "k", "c", &r);
    assert_int_equal(r.err, CC_EEXIST);
    assert_int_equal(r.msg, KV_MSG_STALE_SEQ);
    kv_result_free(&r);
    /* remembered across a restart, with the full original result */
    kt_close_store(&t);
    kt_reopen(&t);
    session_put(&t, 1, 2, "k", "b", &r);
    assert_true(r.duplicate);
    assert_int_equal(r.rev, 3);
    assert_true(r.u.put.has_prev);
    assert_memory_equal(r.u.put.prev.value.p, "a", 1);
    kv_result_free(&r);
    assert_int_equal(kv_rev(t.kv), 3);
    /* failures are remembered too */
    struct kv_cmd c = {.type = KV_CMD_LEASE_REVOKE, .has_session = true, .client_id = 2, .seq = 1};
    c.u.revoke_id = 12345;
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, CC_ELEASE);
    kv_result_free(&r);
    kt_apply(&t, &c, &r);
    assert_true(r.duplicate);
    assert_int_equal(r.err, CC_ELEASE);
    kv_result_free(&r);
    /* the table is bounded: the least recently used client is evicted first */
    for (uint64_t cl = 100; cl < 100 + KV_SESSIONS_MAX; cl++) {
        session_put(&t, cl, 1, "x", "y", &r);
        kv_result_free(&r);
    }
    struct kv_status st;
    kv_get_status(t.kv, &st);
    assert_int_equal(st.sessions, KV_SESSIONS_MAX);
    int64_t rev = kv_rev(t.kv);
    session_put(&t, 1, 2, "k", "b", &r); /* client 1 was evicted: applied again */
    assert_false(r.duplicate);
    assert_int_equal(r.rev, rev + 1);
    kv_result_free(&r);
    session_put(&t, 100 + KV_SESSIONS_MAX - 1, 1, "x", "y", &r); /* the newest is kept */
    assert_true(r.duplicate);
    kv_result_free(&r);
    kt_destroy(&t);
}

static void test_leases(void **state)
{
    struct kt t;
    kt_open(&t);
    struct kv_cmd c = {.type = KV_CMD_LEASE_GRANT};
    c.u.grant = (struct kv_lease_grant){0, 500, 2000}; /* raised to the minimum */
    struct kv_result r;
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, 0);
    int64_t a = r.u.grant.id;
    assert_true(a > 0);
    assert_int_equal(r.u.grant.ttl_ms, 2000);
    kv_result_free(&r);
    kt_apply(&t, &c, &r); /* generated ids differ per index */
    int64_t b = r.u.grant.id;
    assert_true(b > 0 && b != a);
    kv_result_free(&r);
    c.u.grant.id = a;
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, CC_EEXIST);
    kv_result_free(&r);
    c.u.grant = (struct kv_lease_grant){0, KV_LEASE_TTL_MAX_MS + 1, 0};
    kt_apply(&t, &c, &r);
    assert_int_equal(r.msg, KV_MSG_LEASE_TTL_TOO_LARGE);
    kv_result_free(&r);

    assert_int_equal(kt_put(&t, "k1", "v", a), 0);
    assert_int_equal(kt_put(&t, "k2", "v", a), 0);
    assert_int_equal(kt_put(&t, "k3", "v", b), 0);
    assert_int_equal(kt_put(&t, "k3", "v", a), 0); /* moves k3 from b to a */
    struct kv_arena ar = {0};
    struct kv_lease_info info;
    assert_int_equal(kv_lease_ttl(t.kv, a, 0, &ar, &info), 0);
    assert_int_equal(info.n_keys, 3);
    assert_memory_equal(info.keys[2].p, "k3", 2);
    assert_int_equal(info.remaining_ms, 2000); /* a follower reports the TTL */
    assert_int_equal(kv_lease_ttl(t.kv, b, 0, NULL, &info), 0);
    assert_int_equal(info.n_keys, 0);
    int64_t ids[8];
    assert_int_equal(kv_lease_list(t.kv, 0, ids, 8), 2);
    assert_true(ids[0] < ids[1]);

    /* followers never expire; the leader does, from promote on */
    assert_int_equal(kv_lease_expired(t.kv, 1u << 30, ids, 8), 0);
    bool needs_cp;
    int64_t ttl;
    assert_int_equal(kv_lease_renew(t.kv, a, 1000, &ttl, &needs_cp), CC_ENOTLEADER);
    kv_lease_promote(t.kv, 1000);
    assert_int_equal(kv_lease_expired(t.kv, 2999, ids, 8), 0);
    assert_int_equal(kv_lease_renew(t.kv, a, 2500, &ttl, &needs_cp), 0); /* a: due at 4500 */
    assert_int_equal(ttl, 2000);
    assert_false(needs_cp);
    assert_int_equal(kv_lease_expired(t.kv, 3000, ids, 8), 1);
    assert_int_equal(ids[0], b);
    assert_int_equal(kv_lease_expired(t.kv, 3100, ids, 8), 0); /* held while its revoke runs */
    assert_int_equal(kv_lease_expired(t.kv, 4100, ids, 8), 1); /* ... for a second */
    assert_int_equal(kt_revoke(&t, b), 0);
    assert_int_equal(kv_lease_ttl(t.kv, a, 3500, NULL, &info), 0);
    assert_int_equal(info.remaining_ms, 1000);
    int64_t rev = kv_rev(t.kv);
    assert_int_equal(kv_lease_expired(t.kv, 4500, ids, 8), 1);
    assert_int_equal(kt_revoke(&t, ids[0]), 0); /* its 3 keys go in ONE revision */
    assert_int_equal(kv_rev(t.kv), rev + 1);
    assert_int_equal(kt_get(&t, "k1", NULL, 0, NULL), 0);
    assert_int_equal(kt_get(&t, "k3", NULL, 0, NULL), 0);
    assert_int_equal(kt_revoke(&t, a), CC_ELEASE);

    /* checkpoints: the remaining TTL survives a leader change */
    int64_t l = kt_grant(&t, 77, 10000);
    assert_int_equal(l, 77);
    kv_lease_promote(t.kv, 10000); /* already leader: clocks restart */
    struct kv_lease_cp cps[4];
    assert_int_equal(kv_lease_checkpoints(t.kv, 16000, 0, cps, 4), 1);
    assert_int_equal(cps[0].id, 77);
    assert_int_equal(cps[0].remaining_ms, 4000);
    struct kv_cmd cp = {.type = KV_CMD_LEASE_CHECKPOINT};
    cp.u.checkpoint.cps = cps;
    cp.u.checkpoint.n = 1;
    kt_apply(&t, &cp, &r);
    assert_int_equal(r.err, 0);
    kv_result_free(&r);
    kv_lease_demote(t.kv);
    kt_close_store(&t); /* persisted */
    kt_reopen(&t);
    assert_int_equal(kv_lease_ttl(t.kv, 77, 0, NULL, &info), 0);
    assert_int_equal(info.remaining_ms, 4000);
    kv_lease_promote(t.kv, 50000); /* new leader: deadline = now + remaining */
    assert_int_equal(kv_lease_expired(t.kv, 53999, ids, 8), 0);
    assert_int_equal(kv_lease_expired(t.kv, 54000, ids, 8), 1);
    assert_int_equal(kv_lease_renew(t.kv, 77, 54000, &ttl, &needs_cp), CC_ELEASE); /* expired */
    kv_lease_promote(t.kv, 60000);
    assert_int_equal(kv_lease_renew(t.kv, 77, 60000, &ttl, &needs_cp), 0);
    assert_true(needs_cp); /* the member proposes remaining 0 */
    /* a lease granted while leader starts its clock at the next check */
    assert_int_equal(kt_grant(&t, 88, 3000), 88);
    assert_int_equal(kv_lease_expired(t.kv, 65000, ids, 8), 0); /* 88's clock starts: 68000 */
    assert_int_equal(kv_lease_expired(t.kv, 67999, ids, 8), 0);
    assert_int_equal(kv_lease_expired(t.kv, 68000, ids, 8), 1);
    assert_int_equal(ids[0], 88);
    /* 88 again (held until 69000), then 77 (renewed at 60000 for 10000) */
    assert_int_equal(kv_lease_expired(t.kv, 70000, ids, 8), 2);
    assert_int_equal(ids[0], 88);
    assert_int_equal(ids[1], 77);
    kv_arena_free(&ar);
    kt_destroy(&t);
}

static void feed(struct kt *a, struct kt *b, uint64_t seed, int n)
{
    struct rng r;
    rng_seed(&r, seed);
    char k[16], v[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "key%03d", (int)rng_below(&r, 300));
        snprintf(v, sizeof(v), "v%llu", (unsigned long long)rng_next(&r));
        if (rng_chance(&r, 1, 5)) {
            assert_int_equal(kt_del(a, k, NULL, NULL), 0);
            if (b) assert_int_equal(kt_del(b, k, NULL, NULL), 0);
        } else {
            assert_int_equal(kt_put(a, k, v, 0), 0);
            if (b) assert_int_equal(kt_put(b, k, v, 0), 0);
        }
    }
}

static uint32_t hash_of(struct kt *t)
{
    uint32_t h;
    int64_t hr, cr;
    assert_int_equal(kv_hash(t->kv, 0, &h, &hr, &cr), 0);
    return h;
}

static void test_hash_snapshot(void **state)
{
    struct kt a, b;
    kt_open(&a);
    kt_open(&b);
    feed(&a, &b, 1, 3000);
    assert_int_equal(hash_of(&a), hash_of(&b));
    /* compaction: recorded on both, physically run on one only: hashes still agree */
    assert_int_equal(kt_compact(&a, 1500), 0);
    assert_int_equal(kt_compact(&b, 1500), 0);
    bool done = false;
    while (!done) assert_int_equal(kv_compact_step(a.kv, 50, &done), 0);
    assert_int_equal(hash_of(&a), hash_of(&b));
    uint32_t h1;
    int64_t hr, cr;
    assert_int_equal(kv_hash(a.kv, 1400, &h1, &hr, &cr), CC_ECOMPACTED);
    assert_int_equal(kv_hash(a.kv, 99999, &h1, &hr, &cr), CC_EFUTUREREV);
    assert_int_equal(kv_hash(a.kv, 2000, &h1, &hr, &cr), 0);
    assert_int_equal(cr, 1500);
    uint32_t h2;
    assert_int_equal(kv_hash(b.kv, 2000, &h2, &hr, &cr), 0);
    assert_int_equal(h1, h2);
    /* a different history gives a different hash */
    assert_int_equal(kt_put(&b, "extra", "x", 0), 0);
    assert_int_not_equal(hash_of(&a), hash_of(&b));

    /* snapshot of a, restored into a fresh store c: same state, same index */
    char path[300];
    snprintf(path, sizeof(path), "%s.archive", a.dir);
    kt_write_archive(a.kv, path);
    struct kt c;
    kt_open(&c);
    assert_int_equal(kt_put(&c, "old", "data", 0), 0);
    assert_int_equal(kv_restore(c.kv, path), 0);
    assert_int_equal(kv_applied_index(c.kv), kv_applied_index(a.kv));
    assert_int_equal(kv_rev(c.kv), kv_rev(a.kv));
    assert_int_equal(kv_compact_rev(c.kv), 1500);
    assert_int_equal(hash_of(&c), hash_of(&a));
    assert_int_equal(kt_get(&c, "old", NULL, 0, NULL), 0);
    /* and it survives a restart */
    kt_close_store(&c);
    kt_reopen(&c);
    assert_int_equal(hash_of(&c), hash_of(&a));

    /* the archive inside a bigger file (the member's snapshot file): offset and size */
    char wrapped[320];
    snprintf(wrapped, sizeof(wrapped), "%s.wrapped", a.dir);
    FILE *in = fopen(path, "rb"), *out = fopen(wrapped, "wb");
    assert_non_null(in);
    assert_non_null(out);
    fputs("HEADER--", out);
    int byte;
    uint64_t asize = 0;
    while ((byte = fgetc(in)) != EOF) {
        fputc(byte, out);
        asize++;
    }
    fputs("trailing junk", out);
    fclose(in);
    fclose(out);
    struct kt e;
    kt_open(&e);
    assert_int_equal(kv_restore_file(e.kv, wrapped, 8, asize), 0);
    assert_int_equal(hash_of(&e), hash_of(&a));
    assert_int_equal(kv_restore_file(e.kv, wrapped, 8, asize + 1), CC_ECORRUPT);
    assert_int_equal(kv_restore_file(e.kv, wrapped, 7, asize), CC_ECORRUPT);
    kt_destroy(&e);
    unlink(wrapped);
    /* renewing through the log clears a checkpointed remaining TTL */
    assert_int_equal(kt_grant(&c, 5, 9000), 5);
    struct kv_lease_cp cp = {5, 1234};
    struct kv_cmd cc = {.type = KV_CMD_LEASE_CHECKPOINT};
    cc.u.checkpoint.cps = &cp;
    cc.u.checkpoint.n = 1;
    struct kv_result rr;
    kt_apply(&c, &cc, &rr);
    kv_result_free(&rr);
    struct kv_lease_info info;
    assert_int_equal(kv_lease_ttl(c.kv, 5, 0, NULL, &info), 0);
    assert_int_equal(info.remaining_ms, 1234);
    cc.type = KV_CMD_LEASE_RENEW;
    cc.u.renew_id = 5;
    kt_apply(&c, &cc, &rr);
    assert_int_equal(rr.err, 0);
    assert_int_equal(rr.u.grant.ttl_ms, 9000);
    kv_result_free(&rr);
    assert_int_equal(kv_lease_ttl(c.kv, 5, 0, NULL, &info), 0);
    assert_int_equal(info.remaining_ms, 9000);
    cc.u.renew_id = 6;
    kt_apply(&c, &cc, &rr);
    assert_int_equal(rr.err, CC_ELEASE);
    kv_result_free(&rr);
    struct kv_status st;
    kv_get_status(c.kv, &st);
    assert_true(st.db_size_bytes > 0);
    uint32_t before_defrag = hash_of(&c);
    assert_int_equal(kv_defragment(c.kv), 0);
    assert_int_equal(hash_of(&c), before_defrag);

    /* a damaged archive is refused and leaves the store as it was */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    uint32_t before = hash_of(&c);
    for (int i = 0; i < 6; i++) {
        long off = (long)(i * 7919 % (int)size);
        fseek(f, off, SEEK_SET);
        int ch = fgetc(f);
        fseek(f, off, SEEK_SET);
        fputc(ch ^ 0x40, f);
        fflush(f);
        assert_int_not_equal(kv_restore(c.kv, path), 0);
        assert_int_equal(hash_of(&c), before);
        fseek(f, off, SEEK_SET);
        fputc(ch, f);
        fflush(f);
    }
    assert_int_equal(ftruncate(fileno(f), size - 3), 0);
    fclose(f);
    assert_int_equal(kv_restore(c.kv, path), CC_ECORRUPT);
    assert_int_equal(kt_put(&c, "still", "works", 0), 0);
    unlink(path);
    kt_destroy(&a);
    kt_destroy(&b);
    kt_destroy(&c);
}

static void test_compaction_resume(void **state)
{
    struct kt t;
    kt_open(&t);
    feed(&t, NULL, 2, 4000);
    uint32_t h0 = hash_of(&t);
    int64_t rev = kv_rev(t.kv);
    assert_int_equal(kt_compact(&t, rev - 10), 0);
    uint32_t h = hash_of(&t); /* covers what compaction keeps (as etcd's), so it changed... */
    assert_int_not_equal(h, h0);
    struct kv_status st;
    kv_get_status(t.kv, &st);
    uint64_t revs_before = st.revisions;
    bool done;
    assert_int_equal(kv_compact_step(t.kv, 100, &done), 0);
    assert_false(done);
    kt_close_store(&t); /* crash-free restart in the middle */
    kt_reopen(&t);
    assert_int_equal(kv_compact_pending(t.kv), rev - 10);
    int steps = 0;
    do {
        assert_int_equal(kv_compact_step(t.kv, 100, &done), 0);
        steps++;
    } while (!done);
    assert_true(steps > 1);
    kv_get_status(t.kv, &st);
    assert_true(st.revisions < revs_before);
    assert_true(st.revisions <= st.keys + 10); /* one per key, plus the 10 after the compact */
    assert_int_equal(hash_of(&t), h);          /* ...but not with physical progress */
    kt_close_store(&t);
    kt_reopen(&t);
    assert_int_equal(hash_of(&t), h);
    kt_destroy(&t);
}

static void test_durability_index(void **state)
{
    struct kt t;
    kt_open(&t);
    assert_int_equal(kv_durable_index(t.kv), 0);
    assert_int_equal(kt_put(&t, "a", "1", 0), 0);
    kt_noop(&t);
    assert_int_equal(kv_applied_index(t.kv), 2);
    assert_int_equal(kv_durable_index(t.kv), 0);
    assert_int_equal(kv_flush(t.kv), 0);
    assert_int_equal(kv_durable_index(t.kv), 2);
    kt_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sessions),         cmocka_unit_test(test_leases),
        cmocka_unit_test(test_hash_snapshot),    cmocka_unit_test(test_compaction_resume),
        cmocka_unit_test(test_durability_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
