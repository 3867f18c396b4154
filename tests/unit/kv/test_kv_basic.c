/* test_kv_basic.c — etcd semantics of the kv store, case by case: revisions, versions, puts with
 * options, deletes, txns, compaction errors, counters, member metadata, batched apply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kvtest.h"
#include "util/buf.h"
#include "util/err.h"

static void test_revisions_and_versions(void **state)
{
    struct kt t;
    kt_open(&t);
    assert_int_equal(kv_rev(t.kv), 1); /* etcd: an empty store is at revision 1 */
    assert_int_equal(kv_compact_rev(t.kv), -1);
    assert_int_equal(kt_put(&t, "a", "1", 0), 0);
    assert_int_equal(kv_rev(t.kv), 2);
    assert_int_equal(kt_put(&t, "a", "1", 0), 0); /* a put always bumps, even same value */
    assert_int_equal(kv_rev(t.kv), 3);
    struct kv_kv m;
    char v[16];
    assert_int_equal(kt_get(&t, "a", v, sizeof(v), &m), 1);
    assert_int_equal(m.create_rev, 2);
    assert_int_equal(m.mod_rev, 3);
    assert_int_equal(m.version, 2);
    int64_t n;
    assert_int_equal(kt_del(&t, "zz", NULL, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(kv_rev(t.kv), 3); /* deleting nothing changes nothing */
    assert_int_equal(kt_del(&t, "a", NULL, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(kv_rev(t.kv), 4);
    assert_int_equal(kt_get(&t, "a", NULL, 0, NULL), 0);
    assert_int_equal(kt_put(&t, "a", "2", 0), 0); /* re-create restarts version/create */
    assert_int_equal(kt_get(&t, "a", v, sizeof(v), &m), 1);
    assert_int_equal(m.create_rev, 5);
    assert_int_equal(m.version, 1);
    assert_string_equal(v, "2");
    kt_noop(&t); /* no-op entries advance the index, not the revision */
    assert_int_equal(kv_rev(t.kv), 5);
    assert_int_equal(kv_applied_index(t.kv), t.index - 1);
    kt_destroy(&t);
}

static void test_put_options(void **state)
{
    struct kt t;
    kt_open(&t);
    struct kv_cmd c = {.type = KV_CMD_PUT};
    struct kv_result r;
    c.u.put.key = kt_b("k");
    c.u.put.ignore_value = true;
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, CC_ENOTFOUND);
    assert_string_equal(kv_msg_str(r.msg), "etcdserver: key not found");
    assert_int_equal(r.rev, 1);
    kv_result_free(&r);

    c.u.put.ignore_value = false;
    c.u.put.lease = 77;
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, CC_ELEASE);
    assert_string_equal(kv_msg_str(r.msg), "etcdserver: requested lease not found");
    kv_result_free(&r);

    int64_t lease = kt_grant(&t, 77, 5000);
    assert_int_equal(lease, 77);
    c.u.put.value = kt_b("v1");
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, 0);
    assert_false(r.u.put.has_prev);
    kv_result_free(&r);

    /* ignore_value keeps the value, prev_kv returns the old pair, lease replaced by 0 */
    memset(&c.u.put, 0, sizeof(c.u.put));
    c.u.put.key = kt_b("k");
    c.u.put.ignore_value = true;
    c.u.put.prev_kv = true;
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, 0);
    assert_true(r.u.put.has_prev);
    assert_int_equal(r.u.put.prev.lease, 77);
    assert_memory_equal(r.u.put.prev.value.p, "v1", 2);
    kv_result_free(&r);
    struct kv_kv m;
    char v[16];
    assert_int_equal(kt_get(&t, "k", v, sizeof(v), &m), 1);
    assert_string_equal(v, "v1");
    assert_int_equal(m.lease, 0);
    assert_int_equal(m.version, 2);

    /* ignore_lease keeps the lease */
    assert_int_equal(kt_put(&t, "k", "v2", 77), 0);
    memset(&c.u.put, 0, sizeof(c.u.put));
    c.u.put.key = kt_b("k");
    c.u.put.value = kt_b("v3");
    c.u.put.ignore_lease = true;
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, 0);
    kv_result_free(&r);
    assert_int_equal(kt_get(&t, "k", v, sizeof(v), &m), 1);
    assert_int_equal(m.lease, 77);
    assert_string_equal(v, "v3");

    /* validation as etcd's API does it */
    c.u.put.lease = 5;
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, CC_EINVAL);
    assert_string_equal(kv_msg_str(r.msg), "etcdserver: lease is provided");
    kv_result_free(&r);
    memset(&c.u.put, 0, sizeof(c.u.put));
    c.u.put.key = kt_b("");
    kt_apply(&t, &c, &r);
    assert_string_equal(kv_msg_str(r.msg), "etcdserver: key is not provided");
    kv_result_free(&r);
    kt_destroy(&t);
}

static void test_range_options(void **state)
{
    struct kt t;
    kt_open(&t);
    const char *keys[] = {"a", "b", "c", "d", "e"};
    const char *vals[] = {"5", "4", "3", "2", "1"};
    for (int i = 0; i < 5; i++) assert_int_equal(kt_put(&t, keys[i], vals[i], 0), 0);
    assert_int_equal(kt_put(&t, "b", "9", 0), 0); /* rev 7, b version 2 */
    struct kv_arena a = {0};
    struct kv_range_res res;
    struct kv_range q = {.key = kt_b("a"), .range_end = kt_b("e"), .limit = 2};
    assert_int_equal(kv_range(t.kv, &q, &a, &res, NULL), 0);
    assert_int_equal(res.count, 4);
    assert_int_equal(res.n, 2);
    assert_true(res.more);
    assert_int_equal(res.rev, 7);
    q.limit = 0;
    q.sort_target = KV_SORT_VALUE; /* order NONE with a non-key target sorts ascending */
    assert_int_equal(kv_range(t.kv, &q, &a, &res, NULL), 0);
    assert_int_equal(res.n, 4);
    assert_memory_equal(res.kvs[0].key.p, "d", 1);
    assert_memory_equal(res.kvs[3].key.p, "b", 1);
    q.sort_target = KV_SORT_KEY;
    q.sort_order = KV_SORT_DESCEND;
    assert_int_equal(kv_range(t.kv, &q, &a, &res, NULL), 0);
    assert_memory_equal(res.kvs[0].key.p, "d", 1);
    q.sort_order = KV_SORT_NONE;
    q.min_mod_rev = 4; /* filters do not change count */
    assert_int_equal(kv_range(t.kv, &q, &a, &res, NULL), 0);
    assert_int_equal(res.count, 4);
    assert_int_equal(res.n, 3);
    q.min_mod_rev = 0;
    q.revision = 3; /* history: only a and b existed */
    assert_int_equal(kv_range(t.kv, &q, &a, &res, NULL), 0);
    assert_int_equal(res.count, 2);
    assert_int_equal(res.kvs[1].version, 1);
    assert_int_equal(res.rev, 7); /* the header is the current revision (etcd) */
    q.revision = 8;
    int msg;
    assert_int_equal(kv_range(t.kv, &q, &a, &res, &msg), CC_EFUTUREREV);
    assert_string_equal(kv_msg_str(msg),
                        "etcdserver: mvcc: required revision is a future revision");
    q.revision = 0;
    q.count_only = true;
    assert_int_equal(kv_range(t.kv, &q, &a, &res, NULL), 0);
    assert_int_equal(res.count, 4);
    assert_int_equal(res.n, 0);
    q.count_only = false;
    q.keys_only = true;
    q.range_end = kt_b("\0");
    q.range_end.len = 1; /* from-key */
    assert_int_equal(kv_range(t.kv, &q, &a, &res, NULL), 0);
    assert_int_equal(res.n, 5);
    assert_int_equal(res.kvs[4].value.len, 0);
    q.sort_order = 7;
    assert_int_equal(kv_range(t.kv, &q, &a, &res, &msg), CC_EINVAL);
    assert_string_equal(kv_msg_str(msg), "etcdserver: invalid sort option");
    kv_arena_free(&a);

    assert_int_equal(kt_compact(&t, 5), 0);
    assert_int_equal(kt_compact(&t, 5), CC_ECOMPACTED);
    assert_int_equal(kt_compact(&t, 100), CC_EFUTUREREV);
    struct kv_range h = {.key = kt_b("a"), .revision = 4};
    assert_int_equal(kv_range(t.kv, &h, &a, &res, NULL), CC_ECOMPACTED);
    h.revision = 5; /* reading at the compact revision itself is allowed (etcd) */
    assert_int_equal(kv_range(t.kv, &h, &a, &res, NULL), 0);
    kv_arena_free(&a);
    kt_destroy(&t);
}

static struct kv_op put_op(const char *k, const char *v)
{
    struct kv_op o = {.type = KV_OP_PUT};
    o.u.put.key = kt_b(k);
    o.u.put.value = kt_b(v);
    return o;
}

static void test_txn(void **state)
{
    struct kt t;
    kt_open(&t);
    assert_int_equal(kt_put(&t, "x", "1", 0), 0); /* rev 2 */
    struct kv_compare cmp[2] = {0};
    cmp[0].target = KV_CMP_VALUE;
    cmp[0].result = KV_CMP_EQUAL;
    cmp[0].key = kt_b("x");
    cmp[0].value = kt_b("1");
    cmp[1].target = KV_CMP_VERSION; /* a missing key has version 0 */
    cmp[1].result = KV_CMP_EQUAL;
    cmp[1].key = kt_b("missing");
    struct kv_op succ[3] = {put_op("y", "2"), put_op("z", "3")};
    succ[2].type = KV_OP_RANGE;
    succ[2].u.range.key = kt_b("y");
    struct kv_op fail[1] = {put_op("f", "0")};
    struct kv_cmd c = {.type = KV_CMD_TXN};
    c.u.txn = (struct kv_txn){cmp, 2, succ, 3, fail, 1};
    struct kv_result r;
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, 0);
    assert_true(r.u.txn.succeeded);
    assert_int_equal(r.rev, 3); /* one revision for the whole txn */
    assert_int_equal(r.u.txn.resps[0].u.put.rev, 3);
    assert_int_equal(r.u.txn.resps[2].u.range.n, 1); /* the txn reads its own write */
    assert_int_equal(r.u.txn.resps[2].u.range.rev, 3);
    kv_result_free(&r);
    struct kv_kv m;
    assert_int_equal(kt_get(&t, "z", NULL, 0, &m), 1);
    assert_int_equal(m.mod_rev, 3);

    /* value compare on a missing key is false -> failure branch */
    cmp[0].key = kt_b("nokey");
    kt_apply(&t, &c, &r);
    assert_false(r.u.txn.succeeded);
    assert_int_equal(r.rev, 4);
    kv_result_free(&r);

    /* a read-only outcome does not bump the revision */
    struct kv_op rd[1] = {{.type = KV_OP_RANGE}};
    rd[0].u.range.key = kt_b("x");
    c.u.txn = (struct kv_txn){NULL, 0, rd, 1, NULL, 0};
    kt_apply(&t, &c, &r);
    assert_int_equal(r.rev, 4);
    kv_result_free(&r);

    /* duplicate key */
    struct kv_op dup[2] = {put_op("d", "1"), put_op("d", "2")};
    c.u.txn = (struct kv_txn){NULL, 0, dup, 2, NULL, 0};
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, CC_EDUPKEY);
    assert_string_equal(kv_msg_str(r.msg), "etcdserver: duplicate key given in txn request");
    kv_result_free(&r);

    /* a put inside a deleted range at the same level */
    struct kv_op pd[2] = {put_op("m", "1"), {.type = KV_OP_DELETE}};
    pd[1].u.del.key = kt_b("a");
    pd[1].u.del.range_end = kt_b("z");
    c.u.txn = (struct kv_txn){NULL, 0, pd, 2, NULL, 0};
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, CC_EDUPKEY);
    kv_result_free(&r);

    /* puts of one key in both branches of a nested txn are fine; one outside is not */
    struct kv_op in_s[1] = {put_op("n", "s")}, in_f[1] = {put_op("n", "f")};
    struct kv_txn nested = {NULL, 0, in_s, 1, in_f, 1};
    struct kv_op outer[2] = {{.type = KV_OP_TXN}, put_op("o", "1")};
    outer[0].u.txn = &nested;
    c.u.txn = (struct kv_txn){NULL, 0, outer, 2, NULL, 0};
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.u.txn.resps[0].u.txn->rev, 0); /* nested header empty, as etcd */
    kv_result_free(&r);
    outer[1] = put_op("n", "x");
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, CC_EDUPKEY);
    kv_result_free(&r);

    /* too many operations */
    static struct kv_op many[129];
    for (int i = 0; i < 129; i++) {
        many[i].type = KV_OP_RANGE;
        many[i].u.range.key = kt_b("x");
    }
    c.u.txn = (struct kv_txn){NULL, 0, many, 129, NULL, 0};
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, CC_ETOOMANYOPS);
    kv_result_free(&r);

    /* checks run before any write: a missing lease fails the whole txn */
    struct kv_op lz[2] = {put_op("l1", "1"), put_op("l2", "2")};
    lz[1].u.put.lease = 999;
    c.u.txn = (struct kv_txn){NULL, 0, lz, 2, NULL, 0};
    int64_t before = kv_rev(t.kv);
    kt_apply(&t, &c, &r);
    assert_int_equal(r.err, CC_ELEASE);
    kv_result_free(&r);
    assert_int_equal(kv_rev(t.kv), before);
    assert_int_equal(kt_get(&t, "l1", NULL, 0, NULL), 0);

    /* read-only txn served outside apply */
    c.u.txn = (struct kv_txn){NULL, 0, rd, 1, NULL, 0};
    assert_int_equal(kv_txn_read(t.kv, &c.u.txn, &r), 0);
    assert_int_equal(r.u.txn.resps[0].u.range.n, 1);
    kv_result_free(&r);
    c.u.txn = (struct kv_txn){NULL, 0, lz, 1, NULL, 0};
    assert_int_equal(kv_txn_read(t.kv, &c.u.txn, &r), CC_EINVAL);
    kt_destroy(&t);
}

static int64_t counter(struct kt *t, const char *k, int64_t delta, int *err, int *msg)
{
    struct kv_cmd c = {.type = KV_CMD_COUNTER};
    c.u.counter.key = kt_b(k);
    c.u.counter.delta = delta;
    struct kv_result r;
    kt_apply(t, &c, &r);
    *err = r.err;
    *msg = r.msg;
    int64_t v = r.u.counter.value;
    kv_result_free(&r);
    return v;
}

static void test_counters(void **state)
{
    struct kt t;
    kt_open(&t);
    int err, msg;
    assert_int_equal(counter(&t, "c", 5, &err, &msg), 5); /* missing = 0 */
    assert_int_equal(err, 0);
    assert_int_equal(counter(&t, "c", -7, &err, &msg), -2);
    char v[32];
    struct kv_kv m;
    assert_int_equal(kt_get(&t, "c", v, sizeof(v), &m), 1);
    assert_string_equal(v, "-2");
    assert_int_equal(m.version, 2); /* a normal put in MVCC terms */
    assert_int_equal(kt_put(&t, "s", "abc", 0), 0);
    counter(&t, "s", 1, &err, &msg);
    assert_int_equal(err, CC_ENOTNUM);
    assert_string_equal(kv_msg_str(msg), "ERR value is not an integer or out of range");
    const char *bad[] = {"", " 1", "+1", "01", "-0", "1 ", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(kt_put(&t, "s", bad[i], 0), 0);
        counter(&t, "s", 1, &err, &msg);
        assert_int_equal(err, CC_ENOTNUM);
    }
    assert_int_equal(kt_put(&t, "big", "9223372036854775807", 0), 0);
    counter(&t, "big", 1, &err, &msg);
    assert_int_equal(err, CC_ENOTNUM);
    assert_string_equal(kv_msg_str(msg), "ERR increment or decrement would overflow");
    assert_int_equal(kt_put(&t, "min", "-9223372036854775808", 0), 0);
    assert_int_equal(counter(&t, "min", 1, &err, &msg), INT64_MIN + 1);
    assert_int_equal(err, 0);
    /* INCR keeps the key's lease (Redis keeps the TTL) */
    assert_int_equal(kt_grant(&t, 9, 10000), 9);
    assert_int_equal(kt_put(&t, "lc", "1", 9), 0);
    counter(&t, "lc", 1, &err, &msg);
    assert_int_equal(kt_get(&t, "lc", v, sizeof(v), &m), 1);
    assert_int_equal(m.lease, 9);
    kt_destroy(&t);
}

static int meta_collect(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (*(int *)arg)++;
    return 0;
}

static void test_meta_and_batch(void **state)
{
    struct kt t;
    kt_open(&t);
    struct kv_cmd c = {.type = KV_CMD_META_PUT};
    c.u.meta.key = kt_b("member/1");
    c.u.meta.value = kt_b("http://a:2380");
    struct buf b1, b2, b3;
    buf_init(&b1, 1 << 20);
    buf_init(&b2, 1 << 20);
    buf_init(&b3, 1 << 20);
    assert_int_equal(kv_cmd_encode(&c, &b1), 0);
    c.u.meta.key = kt_b("member/2");
    assert_int_equal(kv_cmd_encode(&c, &b2), 0);
    struct kv_cmd p = {.type = KV_CMD_PUT};
    p.u.put.key = kt_b("k");
    p.u.put.value = kt_b("v");
    assert_int_equal(kv_cmd_encode(&p, &b3), 0);
    uint8_t junk[3] = {9, 9, 9};
    struct kv_entry e[5] = {{t.index, b1.data, b1.len},
                            {t.index + 1, NULL, 0},
                            {t.index + 2, b2.data, b2.len},
                            {t.index + 3, junk, 3},
                            {t.index + 4, b3.data, b3.len}};
    struct kv_result r[5];
    assert_int_equal(kv_apply(t.kv, e, 5, r), 0);
    t.index += 5;
    assert_int_equal(r[3].err, CC_EINVAL); /* bad bytes: a failed command, not a crash */
    assert_int_equal(r[3].msg, KV_MSG_BAD_VERSION);
    assert_int_equal(r[4].rev, 2);
    assert_int_equal(r[0].rev, 1); /* metadata is not revisioned */
    for (int i = 0; i < 5; i++) kv_result_free(&r[i]);
    assert_int_equal(kv_applied_index(t.kv), t.index - 1);
    struct buf v;
    buf_init(&v, 1 << 20);
    assert_int_equal(kv_meta_get(t.kv, "member/1", 8, &v), 0);
    assert_memory_equal(v.data, "http://a:2380", v.len);
    int n = 0;
    assert_int_equal(kv_meta_list(t.kv, "member/", 7, meta_collect, &n), 0);
    assert_int_equal(n, 2);
    /* metadata stays out of ranges */
    struct kv_range q = {.key = kt_b("\0"), .range_end = kt_b("\0")};
    q.key.len = q.range_end.len = 1;
    struct kv_arena a = {0};
    struct kv_range_res res;
    assert_int_equal(kv_range(t.kv, &q, &a, &res, NULL), 0);
    assert_int_equal(res.count, 1);
    kv_arena_free(&a);
    /* survives a restart, atomically with the applied index */
    uint64_t applied = kv_applied_index(t.kv);
    kt_close_store(&t);
    kt_reopen(&t);
    assert_int_equal(kv_applied_index(t.kv), applied);
    buf_reset(&v);
    assert_int_equal(kv_meta_get(t.kv, "member/2", 8, &v), 0);
    c.type = KV_CMD_META_DELETE;
    struct kv_result rr;
    kt_apply(&t, &c, &rr);
    kv_result_free(&rr);
    buf_reset(&v);
    assert_int_equal(kv_meta_get(t.kv, "member/2", 8, &v), CC_ENOTFOUND);
    buf_free(&v);
    buf_free(&b1);
    buf_free(&b2);
    buf_free(&b3);
    kt_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revisions_and_versions),
        cmocka_unit_test(test_put_options),
        cmocka_unit_test(test_range_options),
        cmocka_unit_test(test_txn),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_meta_and_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
