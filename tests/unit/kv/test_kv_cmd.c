/* test_kv_cmd.c — the replicated command format: round trips, strict decoding (every truncation
 * and trailing byte rejected), etcd's validation rules, and the stored result format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kv/internal.h"
#include "kvtest.h"
#include "util/err.h"
#include "util/rng.h"

static struct kv_op put_op(const char *k, const char *v)
{
    struct kv_op o = {.type = KV_OP_PUT};
    o.u.put.key = kt_b(k);
    o.u.put.value = kt_b(v);
    return o;
}

static struct kv_op del_op(const char *k, const char *end)
{
    struct kv_op o = {.type = KV_OP_DELETE};
    o.u.del.key = kt_b(k);
    o.u.del.range_end = kt_b(end);
    return o;
}

/* Encodes c, checks that decode(encode(c)) re-encodes to the same bytes, that every strict
 * prefix fails and that a trailing byte fails. */
static void roundtrip(const struct kv_cmd *c)
{
    struct buf a, b;
    buf_init(&a, KV_CMD_MAX);
    buf_init(&b, KV_CMD_MAX);
    assert_int_equal(kv_cmd_encode(c, &a), 0);
    struct kv_arena ar = {0};
    struct kv_cmd d;
    int msg;
    assert_int_equal(kv_cmd_decode(a.data, a.len, &ar, &d, &msg), 0);
    assert_int_equal(kv_cmd_encode(&d, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    for (size_t n = 0; n < a.len; n++) {
        struct kv_arena pa = {0};
        assert_int_not_equal(kv_cmd_decode(a.data, n, &pa, &d, &msg), 0);
        kv_arena_free(&pa);
    }
    assert_int_equal(buf_put_u8(&a, 0), 0);
    assert_int_equal(kv_cmd_decode(a.data, a.len, &ar, &d, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_MALFORMED);
    kv_arena_free(&ar);
    buf_free(&a);
    buf_free(&b);
}

static void test_roundtrips(void **state)
{
    struct kv_cmd c = {.type = KV_CMD_PUT, .has_session = true, .client_id = 1ull << 60, .seq = 7};
    c.u.put.key = kt_b("key");
    c.u.put.value = kt_b("value");
    c.u.put.lease = -5;
    c.u.put.prev_kv = c.u.put.ignore_lease = true;
    roundtrip(&c);

    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_DELETE;
    c.u.del = (struct kv_delete){kt_b("a"), kt_b("z"), true};
    roundtrip(&c);

    struct kv_compare cmp[2] = {{.target = KV_CMP_VALUE, .result = KV_CMP_LESS}, {0}};
    cmp[0].key = kt_b("k");
    cmp[0].value = kt_b("v");
    cmp[1].target = KV_CMP_MOD;
    cmp[1].result = KV_CMP_GREATER;
    cmp[1].key = kt_b("m");
    cmp[1].range_end = kt_b("n");
    cmp[1].number = -3;
    struct kv_op inner_ops[1] = {put_op("x", "y")};
    struct kv_txn inner = {NULL, 0, inner_ops, 1, NULL, 0};
    struct kv_op ops[4] = {
        put_op("a", "1"), del_op("b", "c"), {.type = KV_OP_RANGE}, {.type = KV_OP_TXN}};
    ops[2].u.range = (struct kv_range){
        kt_b("r"), kt_b("s"), 10, 4, KV_SORT_DESCEND, KV_SORT_VALUE, true, false, 1, 2, 3, 4};
    ops[3].u.txn = &inner;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_TXN;
    c.u.txn = (struct kv_txn){cmp, 2, ops, 4, ops, 2};
    roundtrip(&c);

    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_COMPACT;
    c.u.compact = (struct kv_compact){123456789, true};
    roundtrip(&c);
    c.type = KV_CMD_LEASE_GRANT;
    c.u.grant = (struct kv_lease_grant){0, 5000, 3000};
    roundtrip(&c);
    c.type = KV_CMD_LEASE_REVOKE;
    c.u.revoke_id = INT64_MAX;
    roundtrip(&c);
    c.type = KV_CMD_LEASE_RENEW;
    c.u.renew_id = 42;
    roundtrip(&c);
    struct kv_lease_cp cps[2] = {{1, 2}, {INT64_MIN, 0}};
    c.type = KV_CMD_LEASE_CHECKPOINT;
    c.u.checkpoint.cps = cps;
    c.u.checkpoint.n = 2;
    roundtrip(&c);
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_COUNTER;
    c.u.counter.key = kt_b("ctr");
    c.u.counter.delta = INT64_MIN;
    roundtrip(&c);
    c.type = KV_CMD_META_PUT;
    c.u.meta.key = kt_b("m");
    c.u.meta.value = kt_b("v");
    roundtrip(&c);
}

static void test_auth_codec(void **state)
{
    (void)state;
    for (uint8_t op = 1; op < KV_AUTH_OP_COUNT_; op++) {
        struct kv_cmd c = {.type = KV_CMD_AUTH, .has_session = op & 1, .client_id = 7, .seq = 9};
        c.u.auth = (struct kv_auth){op,      kt_b("user"), kt_b("role"), kt_b("$2b$10$h"),
                                    op == 1, kt_b("/k"),   kt_b("/l"),   KV_PERM_READWRITE};
        roundtrip(&c);
        struct kv_cmd empty = {.type = KV_CMD_AUTH};
        empty.u.auth.op = op;
        roundtrip(&empty);
    }
    struct kv_arena a = {0};
    struct kv_cmd d;
    int msg;
    /* op, names, hash, bits, key, range_end, perm */
    uint8_t ok[] = {1, KV_CMD_AUTH, 0, KV_AUTH_ROLE_GRANT, 0, 1, 'r', 0, 0, 1, 'k', 0, 2};
    assert_int_equal(kv_cmd_decode(ok, sizeof(ok), &a, &d, &msg), 0);
    assert_int_equal(d.u.auth.op, KV_AUTH_ROLE_GRANT);
    assert_int_equal(d.u.auth.perm, KV_PERM_READWRITE);
    assert_int_equal(kv_cmd_check(&d, &msg), 0);
    uint8_t bad[sizeof(ok)];
    /* unknown operations, an unknown permission type, an unknown option bit */
    uint8_t ops[] = {0, KV_AUTH_OP_COUNT_, 0xff};
    for (size_t i = 0; i < sizeof(ops); i++) {
        memcpy(bad, ok, sizeof(ok));
        bad[3] = ops[i];
        assert_int_equal(kv_cmd_decode(bad, sizeof(bad), &a, &d, &msg), CC_EINVAL);
        assert_int_equal(msg, KV_MSG_MALFORMED);
    }
    memcpy(bad, ok, sizeof(ok));
    bad[12] = 3;
    assert_int_equal(kv_cmd_decode(bad, sizeof(bad), &a, &d, &msg), CC_EINVAL);
    memcpy(bad, ok, sizeof(ok));
    bad[8] = 2;
    assert_int_equal(kv_cmd_decode(bad, sizeof(bad), &a, &d, &msg), CC_EINVAL);
    /* a name or hash over its limit is TOO_LARGE before anything is read or allocated */
    uint8_t big_name[] = {1, KV_CMD_AUTH, 0, KV_AUTH_USER_ADD, 0x81, 0x08};
    assert_int_equal(kv_cmd_decode(big_name, sizeof(big_name), &a, &d, &msg), CC_ETOOBIG);
    assert_int_equal(msg, KV_MSG_TOO_LARGE);
    uint8_t big_hash[] = {1, KV_CMD_AUTH, 0, KV_AUTH_USER_ADD, 1, 'u', 0, 0x81, 0x01};
    assert_int_equal(kv_cmd_decode(big_hash, sizeof(big_hash), &a, &d, &msg), CC_ETOOBIG);
    /* a name longer than the bytes left */
    uint8_t short_name[] = {1, KV_CMD_AUTH, 0, KV_AUTH_USER_ADD, 5, 'u'};
    assert_int_equal(kv_cmd_decode(short_name, sizeof(short_name), &a, &d, &msg), CC_EINVAL);
    /* the encoder refuses what the decoder would */
    struct kv_cmd c = {.type = KV_CMD_AUTH};
    struct buf b;
    buf_init(&b, KV_CMD_MAX);
    assert_int_equal(kv_cmd_encode(&c, &b), CC_EINVAL); /* op 0 */
    c.u.auth.op = KV_AUTH_ROLE_GRANT;
    c.u.auth.perm = 3;
    assert_int_equal(kv_cmd_encode(&c, &b), CC_EINVAL);
    assert_int_equal(b.len, 0);
    buf_free(&b);
    kv_arena_free(&a);
}

static int auth_check(uint8_t op, const char *user, const char *role, struct kv_bytes key,
                      struct kv_bytes end, int *msg)
{
    struct kv_cmd c = {.type = KV_CMD_AUTH};
    c.u.auth = (struct kv_auth){.op = op, .user = kt_b(user), .role = kt_b(role)};
    c.u.auth.key = key;
    c.u.auth.range_end = end;
    return kv_cmd_check(&c, msg);
}

static void test_auth_checks(void **state)
{
    (void)state;
    int msg;
    struct kv_bytes none = kt_b(""), from_key = {(const uint8_t *)"", 1};
    assert_int_equal(auth_check(KV_AUTH_USER_ADD, "", "", none, none, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_USER_EMPTY);
    assert_int_equal(auth_check(KV_AUTH_ROLE_ADD, "", "", none, none, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_ROLE_EMPTY);
    /* etcd checks empty names only when adding; elsewhere they are simply not found */
    assert_int_equal(auth_check(KV_AUTH_USER_DELETE, "", "", none, none, &msg), 0);
    assert_int_equal(auth_check(KV_AUTH_ROLE_DELETE, "", "", none, none, &msg), 0);
    /* isValidPermissionRange */
    assert_int_equal(auth_check(KV_AUTH_ROLE_GRANT, "", "r", kt_b("a"), none, &msg), 0);
    assert_int_equal(auth_check(KV_AUTH_ROLE_GRANT, "", "r", kt_b("a"), kt_b("b"), &msg), 0);
    assert_int_equal(auth_check(KV_AUTH_ROLE_GRANT, "", "r", kt_b("a"), from_key, &msg), 0);
    assert_int_equal(auth_check(KV_AUTH_ROLE_GRANT, "", "r", kt_b("b"), kt_b("a"), &msg),
                     CC_EINVAL);
    assert_int_equal(msg, KV_MSG_INVALID_AUTH_MGMT);
    assert_int_equal(auth_check(KV_AUTH_ROLE_GRANT, "", "r", kt_b("a"), kt_b("a"), &msg),
                     CC_EINVAL);
    assert_int_equal(auth_check(KV_AUTH_ROLE_GRANT, "", "r", none, kt_b("a"), &msg), CC_EINVAL);
    /* revoking is a lookup: any key and end may be named */
    assert_int_equal(auth_check(KV_AUTH_ROLE_REVOKE, "", "r", kt_b("b"), kt_b("a"), &msg), 0);
    assert_string_equal(kv_msg_str(KV_MSG_USER_EXISTS), "etcdserver: user name already exists");
    assert_string_equal(kv_msg_str(KV_MSG_PERM_NOT_GRANTED),
                        "etcdserver: permission is not granted to the role");
}

static void test_session_peek(void **state)
{
    struct kv_cmd c = {.type = KV_CMD_COUNTER, .has_session = true, .client_id = 99, .seq = 1000};
    c.u.counter.key = kt_b("n");
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(kv_cmd_encode(&c, &b), 0);
    uint64_t id = 0, seq = 0;
    assert_true(kv_cmd_session(b.data, b.len, &id, &seq));
    assert_int_equal(id, 99);
    assert_int_equal(seq, 1000);
    assert_false(kv_cmd_session(b.data, 4, &id, &seq)); /* truncated inside the varints */
    buf_reset(&b);
    c.has_session = false;
    assert_int_equal(kv_cmd_encode(&c, &b), 0);
    assert_false(kv_cmd_session(b.data, b.len, &id, &seq));
    assert_false(kv_cmd_session(NULL, 0, &id, &seq));
    buf_free(&b);
}

static void test_strict(void **state)
{
    struct kv_arena a = {0};
    struct kv_cmd d;
    int msg;
    uint8_t bad_version[] = {2, KV_CMD_PUT, 0};
    assert_int_equal(kv_cmd_decode(bad_version, sizeof(bad_version), &a, &d, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_BAD_VERSION);
    uint8_t bad_type[] = {1, 99, 0};
    assert_int_equal(kv_cmd_decode(bad_type, sizeof(bad_type), &a, &d, &msg), CC_EINVAL);
    uint8_t bad_flags[] = {1, KV_CMD_LEASE_REVOKE, 2, 0};
    assert_int_equal(kv_cmd_decode(bad_flags, sizeof(bad_flags), &a, &d, &msg), CC_EINVAL);
    /* put with an unknown bit in its flags byte */
    uint8_t bad_bits[] = {1, KV_CMD_PUT, 0, 1, 'k', 0, 0, 8};
    assert_int_equal(kv_cmd_decode(bad_bits, sizeof(bad_bits), &a, &d, &msg), CC_EINVAL);
    /* an over-long varint */
    uint8_t long_varint[] = {
        1, KV_CMD_LEASE_REVOKE, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(kv_cmd_decode(long_varint, sizeof(long_varint), &a, &d, &msg), CC_EINVAL);
    /* a key longer than the limit is TOO_LARGE, before any allocation */
    uint8_t big_key[] = {1, KV_CMD_PUT, 0, 0x81, 0x80, 0x04};
    assert_int_equal(kv_cmd_decode(big_key, sizeof(big_key), &a, &d, &msg), CC_ETOOBIG);
    assert_int_equal(msg, KV_MSG_TOO_LARGE);
    /* an element count that the remaining bytes cannot hold */
    uint8_t big_count[] = {1, KV_CMD_TXN, 0, 0x7f};
    assert_int_equal(kv_cmd_decode(big_count, sizeof(big_count), &a, &d, &msg), CC_EINVAL);
    /* a compare with an unknown target */
    uint8_t bad_cmp[] = {1, KV_CMD_TXN, 0, 1, 9, 0, 1, 'k', 0, 0, 0, 0};
    assert_int_equal(kv_cmd_decode(bad_cmp, sizeof(bad_cmp), &a, &d, &msg), CC_EINVAL);
    /* nesting deeper than the limit */
    struct buf b;
    buf_init(&b, 1 << 16);
    buf_put_u8(&b, 1);
    buf_put_u8(&b, KV_CMD_TXN);
    buf_put_u8(&b, 0);
    for (int i = 0; i < 20; i++) {
        buf_put_u8(&b, 0); /* no compares */
        buf_put_u8(&b, 1); /* one success op */
        buf_put_u8(&b, KV_OP_TXN);
    }
    for (int i = 0; i < 3; i++) buf_put_u8(&b, 0);
    for (int i = 0; i < 20; i++) buf_put_u8(&b, 0); /* failure lists */
    assert_int_equal(kv_cmd_decode(b.data, b.len, &a, &d, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_TOO_DEEP);
    buf_free(&b);
    /* the encoder refuses oversized keys */
    static uint8_t huge[KV_KEY_MAX + 1];
    struct kv_cmd c = {.type = KV_CMD_PUT};
    c.u.put.key = (struct kv_bytes){huge, sizeof(huge)};
    buf_init(&b, KV_CMD_MAX);
    assert_int_equal(kv_cmd_encode(&c, &b), CC_ETOOBIG);
    assert_int_equal(b.len, 0);
    buf_free(&b);
    kv_arena_free(&a);
}

static int check_txn(struct kv_op *succ, size_t ns, struct kv_op *fail, size_t nf)
{
    struct kv_cmd c = {.type = KV_CMD_TXN};
    c.u.txn = (struct kv_txn){NULL, 0, succ, ns, fail, nf};
    int msg;
    return kv_cmd_check(&c, &msg);
}

/* The cases of etcd's TestCheckIntervals / checkTxnRequest. */
static void test_checks(void **state)
{
    struct kv_op two_puts[2] = {put_op("a", "1"), put_op("a", "2")};
    assert_int_equal(check_txn(two_puts, 2, NULL, 0), CC_EDUPKEY);
    assert_int_equal(check_txn(two_puts, 1, two_puts + 1, 1), 0); /* then/else lists apart */
    struct kv_op put_del[2] = {put_op("b", "1"), del_op("a", "c")};
    assert_int_equal(check_txn(put_del, 2, NULL, 0), CC_EDUPKEY);
    struct kv_op del_del[2] = {del_op("a", "c"), del_op("b", "d")};
    assert_int_equal(check_txn(del_del, 2, NULL, 0), 0); /* overlapping deletes are fine */
    struct kv_op outside[2] = {put_op("c", "1"), del_op("a", "c")};
    assert_int_equal(check_txn(outside, 2, NULL, 0), 0); /* range end is exclusive */
    struct kv_op from_key[2] = {del_op("a", NULL), put_op("q", "1")};
    from_key[0].u.del.range_end = (struct kv_bytes){(const uint8_t *)"", 1};
    assert_int_equal(check_txn(from_key, 2, NULL, 0), CC_EDUPKEY); /* "\0": every key >= a */

    /* nested: the same key in both branches of a nested txn is fine, next to an outer put not */
    struct kv_op ts[1] = {put_op("n", "1")}, tf[1] = {put_op("n", "2")};
    struct kv_txn nested = {NULL, 0, ts, 1, tf, 1};
    struct kv_op outer[2] = {{.type = KV_OP_TXN}, put_op("o", "1")};
    outer[0].u.txn = &nested;
    assert_int_equal(check_txn(outer, 2, NULL, 0), 0);
    outer[1] = put_op("n", "3");
    assert_int_equal(check_txn(outer, 2, NULL, 0), CC_EDUPKEY);
    outer[1] = del_op("m", "o");
    assert_int_equal(check_txn(outer, 2, NULL, 0), CC_EDUPKEY);
    /* two nested txns putting the same key */
    struct kv_txn nested2 = {NULL, 0, tf, 1, NULL, 0};
    struct kv_op twice[2] = {{.type = KV_OP_TXN}, {.type = KV_OP_TXN}};
    twice[0].u.txn = &nested;
    twice[1].u.txn = &nested2;
    assert_int_equal(check_txn(twice, 2, NULL, 0), CC_EDUPKEY);

    /* operation counts: per list, and nested lists get what the parent leaves */
    static struct kv_op many[129];
    for (int i = 0; i < 129; i++) {
        many[i].type = KV_OP_RANGE;
        many[i].u.range.key = kt_b("k");
    }
    assert_int_equal(check_txn(many, 128, NULL, 0), 0);
    assert_int_equal(check_txn(many, 129, NULL, 0), CC_ETOOMANYOPS);
    struct kv_txn inner = {NULL, 0, many, 100, NULL, 0};
    struct kv_op wrap[30];
    for (int i = 0; i < 30; i++) {
        wrap[i].type = KV_OP_TXN;
        wrap[i].u.txn = &inner;
    }
    assert_int_equal(check_txn(wrap, 28, NULL, 0), 0);              /* 100 <= 128 - 28 */
    assert_int_equal(check_txn(wrap, 29, NULL, 0), CC_ETOOMANYOPS); /* 100 > 128 - 29 */

    int msg;
    struct kv_cmd c = {.type = KV_CMD_TXN};
    struct kv_compare empty_cmp = {.key = {NULL, 0}};
    c.u.txn = (struct kv_txn){&empty_cmp, 1, NULL, 0, NULL, 0};
    assert_int_equal(kv_cmd_check(&c, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_EMPTY_KEY);
    struct kv_op bad_sort[1] = {{.type = KV_OP_RANGE}};
    bad_sort[0].u.range.key = kt_b("k");
    bad_sort[0].u.range.sort_target = 5;
    c.u.txn = (struct kv_txn){NULL, 0, bad_sort, 1, NULL, 0};
    assert_int_equal(kv_cmd_check(&c, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_INVALID_SORT);
    assert_true(kv_txn_is_readonly(&c.u.txn));
    c.u.txn = (struct kv_txn){NULL, 0, NULL, 0, outer, 1};
    assert_false(kv_txn_is_readonly(&c.u.txn));
}

static void test_result_codec(void **state)
{
    struct kv_result r = {.type = KV_CMD_TXN, .rev = 9};
    struct kv_kv kvs[2] = {{kt_b("a"), kt_b("1"), 2, 3, 1, 0}, {kt_b("b"), kt_b(""), 4, 5, 2, 7}};
    struct kv_txn_res nested = {0, false, NULL, 0};
    struct kv_op_res ops[4] = {
        {.type = KV_OP_RANGE}, {.type = KV_OP_PUT}, {.type = KV_OP_DELETE}, {.type = KV_OP_TXN}};
    ops[0].u.range = (struct kv_range_res){9, kvs, 2, 5, true};
    ops[1].u.put = (struct kv_put_res){9, true, kvs[1]};
    ops[2].u.del = (struct kv_delete_res){9, 2, kvs, 2};
    ops[3].u.txn = &nested;
    r.u.txn = (struct kv_txn_res){9, true, ops, 4};
    struct buf b, b2;
    buf_init(&b, 1 << 16);
    buf_init(&b2, 1 << 16);
    assert_int_equal(kv__result_encode(&r, &b), 0);
    struct kv_result d;
    assert_int_equal(kv__result_decode(b.data, b.len, &d), 0);
    assert_int_equal(kv__result_encode(&d, &b2), 0);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    assert_int_equal(d.u.txn.resps[0].u.range.count, 5);
    assert_memory_equal(d.u.txn.resps[2].u.del.prev_kvs[1].key.p, "b", 1);
    kv_result_free(&d);
    for (size_t n = 0; n < b.len; n++) assert_int_not_equal(kv__result_decode(b.data, n, &d), 0);
    buf_free(&b);
    buf_free(&b2);
}

/* Random bytes never crash the decoder (the fuzz target does this at scale). */
static void test_random_bytes(void **state)
{
    struct rng r;
    rng_seed(&r, 42);
    uint8_t buf[64];
    for (int i = 0; i < 200000; i++) {
        size_t n = rng_below(&r, sizeof(buf));
        for (size_t j = 0; j < n; j++) buf[j] = (uint8_t)rng_next(&r);
        if (n > 0) buf[0] = 1;
        if (n > 1) buf[1] = (uint8_t)rng_below(&r, 12);
        struct kv_arena a = {0};
        struct kv_cmd d;
        int msg;
        if (!kv_cmd_decode(buf, n, &a, &d, &msg)) kv_cmd_check(&d, &msg);
        kv_arena_free(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrips),   cmocka_unit_test(test_session_peek),
        cmocka_unit_test(test_strict),       cmocka_unit_test(test_checks),
        cmocka_unit_test(test_result_codec), cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_auth_codec),   cmocka_unit_test(test_auth_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
