/* test_ctl_parse.c — unit tests for concurctl's flag parsing, Go number/duration syntax, txn
 * line parsing and small codecs (percent-decoding, endpoints, prefix ends, error texts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctl/ctl.h"
#include "ctl/flags.h"
#include "ctl/txn_parse.h"

static void test_flags_interleaved_and_dash(void **state)
{
    (void)state;
    bool prefix = false, hex = false;
    int64_t limit = 0;
    char out[16] = "simple";
    struct flag_def d[] = {FLAG_DEF_BOOL("prefix", 0, &prefix), FLAG_DEF_BOOL("hex", 0, &hex),
                           FLAG_DEF_INT64("limit", 0, &limit), FLAG_DEF_STR("write-out", 'w', out)};
    char *argv[] = {"k1", "--prefix", "-wjson", "--limit=0x10", "k2", "--", "--hex", "-w"};
    char *pos[8], err[256];
    int n, dash;
    bool help;
    assert_int_equal(flags_parse(d, 4, 8, argv, pos, 8, &n, &dash, &help, err, sizeof err), 0);
    assert_true(prefix);
    assert_false(hex);
    assert_int_equal(limit, 16);
    assert_string_equal(out, "json");
    assert_int_equal(n, 4);
    assert_int_equal(dash, 2);
    assert_string_equal(pos[0], "k1");
    assert_string_equal(pos[1], "k2");
    assert_string_equal(pos[2], "--hex");
    assert_string_equal(pos[3], "-w");
    assert_false(help);
}

static void test_flags_errors_like_pflag(void **state)
{
    (void)state;
    int64_t limit = 0;
    bool b = false;
    struct flag_def d[] = {FLAG_DEF_INT64("limit", 0, &limit), FLAG_DEF_BOOL("once", 0, &b)};
    char *pos[4], err[256];
    int n, dash;
    char *a1[] = {"--bogus"};
    assert_int_equal(flags_parse(d, 2, 1, a1, pos, 4, &n, &dash, NULL, err, sizeof err), -1);
    assert_string_equal(err, "unknown flag: --bogus");
    char *a2[] = {"--limit", "abc"};
    assert_int_equal(flags_parse(d, 2, 2, a2, pos, 4, &n, &dash, NULL, err, sizeof err), -1);
    assert_string_equal(err, "invalid argument \"abc\" for \"--limit\" flag: strconv.ParseInt: "
                             "parsing \"abc\": invalid syntax");
    char *a3[] = {"--limit"};
    assert_int_equal(flags_parse(d, 2, 1, a3, pos, 4, &n, &dash, NULL, err, sizeof err), -1);
    char *a4[] = {"--once=maybe"};
    assert_int_equal(flags_parse(d, 2, 1, a4, pos, 4, &n, &dash, NULL, err, sizeof err), -1);
    char *a5[] = {"--once=false", "--limit=-9223372036854775808"};
    b = true;
    assert_int_equal(flags_parse(d, 2, 2, a5, pos, 4, &n, &dash, NULL, err, sizeof err), 0);
    assert_false(b);
    assert_true(limit == INT64_MIN);
    char *a6[] = {"--limit=9223372036854775808"};
    assert_int_equal(flags_parse(d, 2, 1, a6, pos, 4, &n, &dash, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "value out of range"));
    /* More positionals than room is an error, not an overflow. */
    char *a7[] = {"1", "2", "3", "4", "5"};
    assert_int_equal(flags_parse(d, 2, 5, a7, pos, 4, &n, &dash, NULL, err, sizeof err), -1);
}

static void test_flags_slice_appends(void **state)
{
    (void)state;
    char eps[64] = "127.0.0.1:2379";
    bool changed = false;
    struct flag_def d[] = {{"endpoints", 0, FLAG_SLICE, eps, sizeof eps, &changed}};
    char *argv[] = {"--endpoints", "a:1", "--endpoints=b:2,c:3"};
    char *pos[2], err[128];
    int n, dash;
    assert_int_equal(flags_parse(d, 1, 3, argv, pos, 2, &n, &dash, NULL, err, sizeof err), 0);
    assert_string_equal(eps, "a:1,b:2,c:3");
    assert_true(changed);
}

static void test_go_duration_and_ints(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(flags_parse_duration("2s", &ns), 0);
    assert_true(ns == 2000000000);
    assert_int_equal(flags_parse_duration("1m30s", &ns), 0);
    assert_true(ns == 90000000000);
    assert_int_equal(flags_parse_duration("1.5h", &ns), 0);
    assert_true(ns == 5400000000000);
    assert_int_equal(flags_parse_duration("250ms", &ns), 0);
    assert_true(ns == 250000000);
    assert_int_equal(flags_parse_duration("0", &ns), 0);
    assert_true(ns == 0);
    assert_int_equal(flags_parse_duration("1", &ns), -1);
    assert_int_equal(flags_parse_duration("abc", &ns), -1);
    assert_int_equal(flags_parse_duration("5x", &ns), -1);
    int64_t v;
    uint64_t u;
    assert_int_equal(flags_parse_dec_int64("0010", &v), 0);
    assert_true(v == 10);
    assert_int_equal(flags_parse_dec_int64("0x10", &v), -1);
    assert_int_equal(flags_parse_int64("0o17", &v), 0);
    assert_true(v == 15);
    assert_int_equal(flags_parse_int64("017", &v), 0);
    assert_true(v == 15);
    assert_int_equal(flags_parse_hex_int64("390da2058d798019", &v), 0);
    assert_true(v == 0x390da2058d798019);
    assert_int_equal(flags_parse_hex_int64("ffffffffffffffff", &v), -2);
    assert_int_equal(flags_parse_hex_uint64("ffffffffffffffff", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(flags_parse_hex_uint64("zz", &u), -1);
    char msg[128];
    flags_strconv_error("ParseUint", "zz", -1, msg, sizeof msg);
    assert_string_equal(msg, "strconv.ParseUint: parsing \"zz\": invalid syntax");
}

static void test_argify(void **state)
{
    (void)state;
    char line[] = "put \"a \\\"b\\\"\" 'x y' plain\t\"\\u00e9\\x41\"";
    char *argv[8];
    int n = txn_argify(line, argv, 8);
    assert_int_equal(n, 5);
    assert_string_equal(argv[0], "put");
    assert_string_equal(argv[1], "a \"b\"");
    assert_string_equal(argv[2], "x y");
    assert_string_equal(argv[3], "plain");
    assert_string_equal(argv[4], "\xc3\xa9"
                                 "A");
    char unterminated[] = "get \"abc";
    n = txn_argify(unterminated, argv, 8);
    assert_int_equal(n, 2); /* the lone quote is skipped, as etcdctl's regexp does */
    assert_string_equal(argv[1], "abc");
    char bad[] = "get \"\\q\"";
    assert_int_equal(txn_argify(bad, argv, 8), -1);
    char ws[] = "  \t ";
    assert_int_equal(txn_argify(ws, argv, 8), 0);
}

static void test_txn_compare(void **state)
{
    (void)state;
    struct txn_cmp c;
    char err[512];
    assert_int_equal(txn_parse_compare("mod(\"k\") > \"5\"", &c, err, sizeof err), 0);
    assert_int_equal(c.target, ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD);
    assert_int_equal(c.result, ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER);
    assert_true(c.num == 5);
    Etcdserverpb__Compare pb;
    txn_cmp_to_pb(&c, &pb);
    assert_int_equal(pb.target_union_case, ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION);
    assert_int_equal(pb.key.len, 1);
    txn_cmp_free(&c);

    assert_int_equal(txn_parse_compare("value(\"k 1\") != `raw\\n`", &c, err, sizeof err), 0);
    assert_int_equal(c.target, ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE);
    assert_int_equal(c.result, ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL);
    assert_string_equal(c.key, "k 1");
    assert_string_equal(c.value, "raw\\n");
    txn_cmp_free(&c);

    assert_int_equal(txn_parse_compare("lease(\"k\") = \"1f\"", &c, err, sizeof err), 0);
    assert_true(c.num == 0x1f);
    txn_cmp_free(&c);

    assert_int_equal(txn_parse_compare("bad", &c, err, sizeof err), -1);
    assert_string_equal(err, "malformed comparison: bad");
    assert_int_equal(txn_parse_compare("mod(\"k\")>\"0\"", &c, err, sizeof err), -1);
    assert_string_equal(err, "malformed comparison: mod(\"k\")>\"0\"; got mod(\"k\")  \"\"");
    assert_int_equal(txn_parse_compare("mod(\"k\") > 0", &c, err, sizeof err), -1);
    assert_string_equal(err, "malformed comparison: mod(\"k\") > 0; got mod(\"k\") > \"\"");
    assert_int_equal(txn_parse_compare("ver(\"k\") < \"x\"", &c, err, sizeof err), -1);
    assert_string_equal(err, "invalid txn compare request: ver(\"k\") < \"x\"");
    assert_int_equal(txn_parse_compare("ver(\"k\") < \"0x1\"", &c, err, sizeof err), -1);
    assert_int_equal(txn_parse_compare("foo(\"k\") = \"1\"", &c, err, sizeof err), -1);
    assert_string_equal(err, "malformed comparison: foo(\"k\") = \"1\" (unknown target foo)");
    assert_int_equal(txn_parse_compare("mod(\"k\") ~ \"1\"", &c, err, sizeof err), -1);
}

static void test_codecs(void **state)
{
    (void)state;
    char out[64];
    gc_percent_decode("a%20b%zz%4", 10, out, sizeof out);
    assert_string_equal(out, "a b%zz%4");
    gc_percent_decode("%E2%82%AC", 9, out, 3);
    assert_int_equal(strlen(out), 2); /* bounded by the output size */

    uint8_t b[8];
    assert_int_equal(kv_prefix_end((const uint8_t *)"abc", 3, b), 3);
    assert_memory_equal(b, "abd", 3);
    assert_int_equal(kv_prefix_end((const uint8_t *)"a\xff", 2, b), 1);
    assert_int_equal(b[0], 'b');
    assert_int_equal(kv_prefix_end((const uint8_t *)"\xff\xff", 2, b), 1);
    assert_int_equal(b[0], 0);

    char hp[64], err[128];
    assert_int_equal(
        client_endpoint_hostport("http://10.0.0.1:2379/x", hp, sizeof hp, err, sizeof err), 0);
    assert_string_equal(hp, "10.0.0.1:2379");
    assert_int_equal(client_endpoint_hostport("[::1]:2379", hp, sizeof hp, err, sizeof err), 0);
    assert_string_equal(hp, "[::1]:2379");
    assert_int_not_equal(client_endpoint_hostport("https://a:1", hp, sizeof hp, err, sizeof err),
                         0);

    struct gc_status st = {.code = GC_OUT_OF_RANGE};
    snprintf(st.message, sizeof st.message,
             "etcdserver: mvcc: required revision has been compacted");
    ctl_status_str(&st, out, sizeof out);
    assert_string_equal(out, "etcdserver: mvcc: required revision has been compacted");
    st.code = GC_UNAVAILABLE;
    snprintf(st.message, sizeof st.message, "x");
    ctl_status_str(&st, out, sizeof out);
    assert_string_equal(out, "rpc error: code = Unavailable desc = x");
    st.code = GC_DEADLINE_EXCEEDED;
    st.local = true;
    ctl_status_str(&st, out, sizeof out);
    assert_string_equal(out, "context deadline exceeded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_interleaved_and_dash),
        cmocka_unit_test(test_flags_errors_like_pflag),
        cmocka_unit_test(test_flags_slice_appends),
        cmocka_unit_test(test_go_duration_and_ints),
        cmocka_unit_test(test_argify),
        cmocka_unit_test(test_txn_compare),
        cmocka_unit_test(test_codecs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
