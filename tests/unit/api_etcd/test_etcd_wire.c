/* test_etcd_wire.c — safe protobuf decoding of client requests (nesting bound, memory budget)
 * and the SHA-256 behind Maintenance.Snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/etcd/pbmem.h"
#include "api/etcd/sha256.h"
#include "etcdserverpb/rpc.pb-c.h"
#include "util/err.h"

/* Wire bytes of a TxnRequest nested `levels` deep through success[0].request_txn. Built from
 * the inside out: each level wraps the previous bytes as TxnRequest{success: RequestOp{txn}}. */
static uint8_t *nested_txn(int levels, size_t *len)
{
    size_t cap = 16 * (size_t)levels + 16, n = 0;
    uint8_t *p = malloc(cap), *q = malloc(cap);
    for (int i = 0; i < levels; i++) {
        /* RequestOp field 4 (request_txn): tag 0x22, length, bytes. */
        size_t m = 0;
        q[m++] = 0x22;
        size_t l = n;
        do {
            q[m++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
            l >>= 7;
        } while (l);
        memcpy(q + m, p, n);
        m += n;
        /* TxnRequest field 2 (success): tag 0x12, length, the RequestOp. */
        size_t k = 0;
        p[k++] = 0x12;
        l = m;
        do {
            p[k++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
            l >>= 7;
        } while (l);
        memcpy(p + k, q, m);
        n = k + m;
    }
    free(q);
    *len = n;
    return p;
}

static void test_depth_bound(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &etcdserverpb__txn_request__descriptor;
    size_t len;
    /* Two message levels per txn level: 31 levels fit in PBMEM_MAX_DEPTH, 40 do not. */
    uint8_t *ok = nested_txn(31, &len);
    assert_int_equal(pbmem_check_depth(d, ok, len), 0);
    struct pbmem pm;
    pbmem_init(&pm, pbmem_budget(len));
    ProtobufCMessage *m = pbmem_unpack(&pm, d, ok, len);
    assert_non_null(m);
    protobuf_c_message_free_unpacked(m, &pm.pa);
    assert_int_equal(pm.used, 0);
    free(ok);
    uint8_t *deep = nested_txn(40, &len);
    assert_int_equal(pbmem_check_depth(d, deep, len), CC_EINVAL);
    assert_null(pbmem_unpack(&pm, d, deep, len));
    free(deep);
    /* Far deeper: refused without recursing past the bound. */
    uint8_t *huge = nested_txn(5000, &len);
    assert_int_equal(pbmem_check_depth(d, huge, len), CC_EINVAL);
    free(huge);
    /* Malformed framing is left to protobuf-c, which refuses it. */
    const uint8_t bad[] = {0x12, 0x05, 0x22};
    assert_int_equal(pbmem_check_depth(d, bad, sizeof(bad)), 0);
    assert_null(pbmem_unpack(&pm, d, bad, sizeof(bad)));
    assert_int_equal(pm.used, 0);
}

static void test_budget(void **state)
{
    (void)state;
    /* 100000 empty RequestOps: 200 KB on the wire, several MB decoded. */
    size_t n = 100000, len = 2 * n;
    uint8_t *p = malloc(len);
    for (size_t i = 0; i < n; i++) {
        p[2 * i] = 0x12;
        p[2 * i + 1] = 0;
    }
    struct pbmem pm;
    pbmem_init(&pm, 1u << 20);
    assert_null(pbmem_unpack(&pm, &etcdserverpb__txn_request__descriptor, p, len));
    assert_true(pm.refused);
    assert_int_equal(pm.used, 0);
    /* A shared budget (all requests of a member) refuses too, and is paid back. */
    size_t shared = 0;
    pbmem_init(&pm, pbmem_budget(len));
    pm.shared = &shared;
    pm.shared_limit = 1u << 20;
    assert_null(pbmem_unpack(&pm, &etcdserverpb__txn_request__descriptor, p, len));
    assert_true(pm.refused);
    assert_int_equal(shared, 0);
    /* The default budget is enough for it: legitimate ratios pass. */
    pbmem_init(&pm, pbmem_budget(len));
    ProtobufCMessage *m = pbmem_unpack(&pm, &etcdserverpb__txn_request__descriptor, p, len);
    assert_non_null(m);
    assert_int_equal(((Etcdserverpb__TxnRequest *)m)->n_success, n);
    assert_false(pm.refused);
    assert_true(pm.peak <= pm.limit);
    protobuf_c_message_free_unpacked(m, &pm.pa);
    assert_int_equal(pm.used, 0);
    free(p);
    assert_null(pbmem_alloc(&pm, (size_t)-1)); /* no overflow in the accounting */
}

static void hex(const uint8_t *d, char *out)
{
    for (int i = 0; i < SHA256_LEN; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    /* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA256LongMessage"). */
    struct {
        const char *msg;
        const char *digest;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    char h[2 * SHA256_LEN + 1];
    uint8_t d[SHA256_LEN];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct sha256 s;
        sha256_init(&s);
        /* Fed byte by byte and all at once: same digest. */
        for (const char *c = v[i].msg; *c; c++) sha256_update(&s, c, 1);
        sha256_final(&s, d);
        hex(d, h);
        assert_string_equal(h, v[i].digest);
        sha256_init(&s);
        sha256_update(&s, v[i].msg, strlen(v[i].msg));
        sha256_final(&s, d);
        hex(d, h);
        assert_string_equal(h, v[i].digest);
    }
    /* One million 'a' (FIPS 180-2 appendix B.3), in uneven pieces. */
    struct sha256 s;
    sha256_init(&s);
    char a[997];
    memset(a, 'a', sizeof(a));
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof(a) ? left : sizeof(a);
        sha256_update(&s, a, n);
        left -= n;
    }
    sha256_final(&s, d);
    hex(d, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_sha256_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
