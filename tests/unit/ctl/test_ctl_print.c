/* test_ctl_print.c — concurctl's output formats against golden text captured from etcdctl
 * 3.4.23 (same responses, same bytes), plus the Go formatting helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctl/ctl.h"
#include "ctl/print.h"

/* Captures what a printer writes. */
struct cap {
    struct ctl ctl;
    char *buf;
    size_t len;
    FILE *f;
};

static void cap_open(struct cap *c, const struct printer *p)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
    ctl_init(&c->ctl, c->f, c->f);
    c->ctl.pr = p;
}

static const char *cap_text(struct cap *c)
{
    fflush(c->f);
    return c->buf;
}

static void cap_close(struct cap *c)
{
    fclose(c->f);
    free(c->buf);
    ctl_free(&c->ctl);
}

static Etcdserverpb__ResponseHeader hdr(int64_t rev)
{
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    h.cluster_id = 15118495548433857066ull;
    h.member_id = 13668033151171901709ull;
    h.revision = rev;
    h.raft_term = 2;
    return h;
}

static Mvccpb__KeyValue kv(const char *k, const char *v, int64_t c, int64_t m, int64_t ver)
{
    Mvccpb__KeyValue x = MVCCPB__KEY_VALUE__INIT;
    x.key = (ProtobufCBinaryData){strlen(k), (uint8_t *)k};
    x.value = (ProtobufCBinaryData){strlen(v), (uint8_t *)v};
    x.create_revision = c;
    x.mod_revision = m;
    x.version = ver;
    return x;
}

static void test_get_json_fields_simple(void **state)
{
    (void)state;
    Etcdserverpb__ResponseHeader h = hdr(9);
    Mvccpb__KeyValue a = kv("a", "1", 8, 8, 1), b = kv("b", "<&>\"\\\xc3\xa9", 9, 9, 1);
    Mvccpb__KeyValue *kvs[] = {&a, &b};
    Etcdserverpb__RangeResponse r = ETCDSERVERPB__RANGE_RESPONSE__INIT;
    r.header = &h;
    r.n_kvs = 2;
    r.kvs = kvs;
    r.count = 2;
    struct cap c;
    cap_open(&c, &printer_json);
    assert_int_equal(ctl_print(&c.ctl, get, &r), 0);
    assert_string_equal(
        cap_text(&c),
        "{\"header\":{\"cluster_id\":15118495548433857066,\"member_id\":13668033151171901709,"
        "\"revision\":9,\"raft_term\":2},\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":8,"
        "\"mod_revision\":8,\"version\":1,\"value\":\"MQ==\"},{\"key\":\"Yg==\",\"create_revision\""
        ":9,\"mod_revision\":9,\"version\":1,\"value\":\"PCY+IlzDqQ==\"}],\"count\":2}\n");
    cap_close(&c);

    Mvccpb__KeyValue foo = kv("foo", "bar", 2, 7, 6);
    Mvccpb__KeyValue *one[] = {&foo};
    h = hdr(7);
    r.n_kvs = 1;
    r.kvs = one;
    r.count = 1;
    cap_open(&c, &printer_fields);
    assert_int_equal(ctl_print(&c.ctl, get, &r), 0);
    assert_string_equal(cap_text(&c), "\"ClusterID\" : 15118495548433857066\n"
                                      "\"MemberID\" : 13668033151171901709\n"
                                      "\"Revision\" : 7\n"
                                      "\"RaftTerm\" : 2\n"
                                      "\"Key\" : \"foo\"\n"
                                      "\"CreateRevision\" : 2\n"
                                      "\"ModRevision\" : 7\n"
                                      "\"Version\" : 6\n"
                                      "\"Value\" : \"bar\"\n"
                                      "\"Lease\" : 0\n"
                                      "\"More\" : false\n"
                                      "\"Count\" : 1\n");
    cap_close(&c);

    cap_open(&c, &printer_simple);
    c.ctl.hex = true;
    assert_int_equal(ctl_print(&c.ctl, get, &r), 0);
    assert_string_equal(cap_text(&c), "\\x66\\x6f\\x6f\n\\x62\\x61\\x72\n");
    cap_close(&c);

    cap_open(&c, &printer_table);
    assert_int_equal(ctl_print(&c.ctl, get, &r), CTL_EXIT_BAD_FEATURE);
    assert_string_equal(cap_text(&c), "Error: table not supported as output format\n");
    cap_close(&c);
}

static void test_member_table_and_json_escapes(void **state)
{
    (void)state;
    char *peer[] = {"http://127.0.0.1:23801"}, *client[] = {"http://127.0.0.1:23791"};
    Etcdserverpb__Member m = ETCDSERVERPB__MEMBER__INIT;
    m.id = 0xbdae9bbc11dd390dull;
    m.name = "n1";
    m.n_peerurls = 1, m.peerurls = peer;
    m.n_clienturls = 1, m.clienturls = client;
    Etcdserverpb__Member *ms[] = {&m};
    Etcdserverpb__ResponseHeader h = hdr(0);
    Etcdserverpb__MemberListResponse r = ETCDSERVERPB__MEMBER_LIST_RESPONSE__INIT;
    r.header = &h;
    r.n_members = 1;
    r.members = ms;
    struct cap c;
    cap_open(&c, &printer_table);
    assert_int_equal(ctl_print(&c.ctl, member_list, &r), 0);
    assert_string_equal(
        cap_text(&c),
        "+------------------+---------+------+------------------------+------------------------+"
        "------------+\n"
        "|        ID        | STATUS  | NAME |       PEER ADDRS       |      CLIENT ADDRS      |"
        " IS LEARNER |\n"
        "+------------------+---------+------+------------------------+------------------------+"
        "------------+\n"
        "| bdae9bbc11dd390d | started |   n1 | http://127.0.0.1:23801 | http://127.0.0.1:23791 |"
        "      false |\n"
        "+------------------+---------+------+------------------------+------------------------+"
        "------------+\n");
    cap_close(&c);

    cap_open(&c, &printer_simple);
    assert_int_equal(ctl_print(&c.ctl, member_list, &r), 0);
    assert_string_equal(cap_text(&c), "bdae9bbc11dd390d, started, n1, http://127.0.0.1:23801, "
                                      "http://127.0.0.1:23791, false\n");
    cap_close(&c);

    m.name = "a<b>&\"\\\n\x01\xc3\xa9\xe2\x80\xa8\xff";
    m.islearner = true;
    cap_open(&c, &printer_json);
    assert_int_equal(ctl_print(&c.ctl, member_list, &r), 0);
    assert_string_equal(cap_text(&c),
                        "{\"header\":{\"cluster_id\":15118495548433857066,\"member_id\":"
                        "13668033151171901709,\"raft_term\":2},\"members\":[{\"ID\":"
                        "13668033151171901709,\"name\":\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n"
                        "\\u0001\xc3\xa9\\u2028\\ufffd\",\"peerURLs\":[\"http://127.0.0.1:23801\"],"
                        "\"clientURLs\":[\"http://127.0.0.1:23791\"],\"isLearner\":true}]}\n");
    cap_close(&c);
}

static void test_table_wraps_long_cells(void **state)
{
    (void)state;
    /* An endpoint status row with an alarm in ERRORS, as etcdctl 3.4 printed it. */
    const char *hdr2[] = {"endpoint", "errors"};
    char *cells[] = {"127.0.0.1:23795", "memberID:9009370488483034218 alarm:NOSPACE "};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    print_table(f, hdr2, 2, cells, 1);
    fclose(f);
    assert_string_equal(buf, "+-----------------+--------------------------------+\n"
                             "|    ENDPOINT     |             ERRORS             |\n"
                             "+-----------------+--------------------------------+\n"
                             "| 127.0.0.1:23795 |   memberID:9009370488483034218 |\n"
                             "|                 |                 alarm:NOSPACE  |\n"
                             "+-----------------+--------------------------------+\n");
    free(buf);
}

static void test_txn_and_watch(void **state)
{
    (void)state;
    Etcdserverpb__ResponseHeader h = hdr(15), sub = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    sub.revision = 15;
    Etcdserverpb__PutResponse put = ETCDSERVERPB__PUT_RESPONSE__INIT;
    put.header = &sub;
    Etcdserverpb__DeleteRangeResponse del = ETCDSERVERPB__DELETE_RANGE_RESPONSE__INIT;
    del.header = &sub;
    Etcdserverpb__ResponseOp op1 = ETCDSERVERPB__RESPONSE_OP__INIT, op2 = op1;
    op1.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
    op1.response_put = &put;
    op2.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
    op2.response_delete_range = &del;
    Etcdserverpb__ResponseOp *ops[] = {&op1, &op2};
    Etcdserverpb__TxnResponse t = ETCDSERVERPB__TXN_RESPONSE__INIT;
    t.header = &h;
    t.succeeded = true;
    t.n_responses = 2;
    t.responses = ops;
    struct cap c;
    cap_open(&c, &printer_simple);
    assert_int_equal(ctl_print(&c.ctl, txn, &t), 0);
    assert_string_equal(cap_text(&c), "SUCCESS\n\nOK\n\n0\n");
    cap_close(&c);
    cap_open(&c, &printer_json);
    assert_int_equal(ctl_print(&c.ctl, txn, &t), 0);
    assert_string_equal(
        cap_text(&c), "{\"header\":{\"cluster_id\":15118495548433857066,\"member_id\":"
                      "13668033151171901709,\"revision\":15,\"raft_term\":2},\"succeeded\":true,"
                      "\"responses\":[{\"Response\":{\"ResponsePut\":{\"header\":{\"revision\":15}}"
                      "}},{\"Response\":{\"ResponseDeleteRange\":{\"header\":{\"revision\":15}}}}]"
                      "}\n");
    cap_close(&c);

    Mvccpb__KeyValue k1 = kv("foo", "baz", 2, 5, 4), k0 = MVCCPB__KEY_VALUE__INIT;
    k0.key = k1.key;
    k0.mod_revision = 6;
    Mvccpb__Event e1 = MVCCPB__EVENT__INIT, e2 = MVCCPB__EVENT__INIT;
    e1.kv = &k1;
    e2.type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
    e2.kv = &k0;
    e2.prev_kv = &k1;
    Mvccpb__Event *evs[] = {&e1, &e2};
    Etcdserverpb__WatchResponse w = ETCDSERVERPB__WATCH_RESPONSE__INIT;
    h = hdr(16);
    w.header = &h;
    w.n_events = 2;
    w.events = evs;
    cap_open(&c, &printer_json);
    assert_int_equal(ctl_print(&c.ctl, watch, &w), 0);
    assert_string_equal(
        cap_text(&c),
        "{\"Header\":{\"cluster_id\":15118495548433857066,\"member_id\":"
        "13668033151171901709,\"revision\":16,\"raft_term\":2},\"Events\":[{\"kv\":"
        "{\"key\":\"Zm9v\",\"create_revision\":2,\"mod_revision\":5,\"version\":4,"
        "\"value\":\"YmF6\"}},{\"type\":1,\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":6},"
        "\"prev_kv\":{\"key\":\"Zm9v\",\"create_revision\":2,\"mod_revision\":5,"
        "\"version\":4,\"value\":\"YmF6\"}}],\"CompactRevision\":0,\"Canceled\":false,"
        "\"Created\":false}\n");
    cap_close(&c);
    cap_open(&c, &printer_simple);
    assert_int_equal(ctl_print(&c.ctl, watch, &w), 0);
    assert_string_equal(cap_text(&c), "PUT\nfoo\nbaz\nDELETE\nfoo\nbaz\nfoo\n\n");
    cap_close(&c);
}

static void test_lease_and_member_lines(void **state)
{
    (void)state;
    Etcdserverpb__ResponseHeader h = hdr(12);
    Etcdserverpb__LeaseTimeToLiveResponse t = ETCDSERVERPB__LEASE_TIME_TO_LIVE_RESPONSE__INIT;
    ProtobufCBinaryData keys[] = {{2, (uint8_t *)"k1"}, {2, (uint8_t *)"k2"}};
    t.header = &h;
    t.id = 0x390da2058d798019;
    t.ttl = 99;
    t.grantedttl = 100;
    t.n_keys = 2;
    t.keys = keys;
    struct cap c;
    cap_open(&c, &printer_simple);
    assert_int_equal(ctl_print(&c.ctl, time_to_live, &t, true), 0);
    assert_string_equal(cap_text(&c), "lease 390da2058d798019 granted with TTL(100s), "
                                      "remaining(99s), attached keys([k1 k2])\n");
    cap_close(&c);
    cap_open(&c, &printer_json);
    t.n_keys = 0;
    assert_int_equal(ctl_print(&c.ctl, time_to_live, &t, false), 0);
    assert_string_equal(cap_text(&c), "{\"cluster_id\":15118495548433857066,\"member_id\":"
                                      "13668033151171901709,\"revision\":12,\"raft_term\":2,\"id\":"
                                      "4111120179591217177,\"ttl\":99,\"granted-ttl\":100,"
                                      "\"keys\":null}\n");
    cap_close(&c);

    Etcdserverpb__MemberRemoveResponse mr = ETCDSERVERPB__MEMBER_REMOVE_RESPONSE__INIT;
    mr.header = &h;
    cap_open(&c, &printer_simple);
    assert_int_equal(ctl_print(&c.ctl, member_remove, 0x8e9e05c52164694dull, &mr), 0);
    assert_string_equal(cap_text(&c),
                        "Member 8e9e05c52164694d removed from cluster d1cfaf999eb97a2a\n");
    cap_close(&c);
    cap_open(&c, &printer_fields);
    assert_int_equal(ctl_print(&c.ctl, member_remove, 1, &mr), CTL_EXIT_BAD_FEATURE);
    assert_string_equal(cap_text(&c), "Error: fields not supported as output format\n");
    cap_close(&c);
}

static void test_go_helpers(void **state)
{
    (void)state;
    char b[64];
    print_go_duration(0, b, sizeof b);
    assert_string_equal(b, "0s");
    print_go_duration(999, b, sizeof b);
    assert_string_equal(b, "999ns");
    print_go_duration(1500, b, sizeof b);
    assert_string_equal(b, "1.5\xc2\xb5s");
    print_go_duration(1663024, b, sizeof b);
    assert_string_equal(b, "1.663024ms");
    print_go_duration(2000000000, b, sizeof b);
    assert_string_equal(b, "2s");
    print_go_duration(61500000000, b, sizeof b);
    assert_string_equal(b, "1m1.5s");
    print_go_duration(3723000000000, b, sizeof b);
    assert_string_equal(b, "1h2m3s");
    print_humanize_bytes(0, b, sizeof b);
    assert_string_equal(b, "0 B");
    print_humanize_bytes(20480, b, sizeof b);
    assert_string_equal(b, "20 kB");
    print_humanize_bytes(323584, b, sizeof b);
    assert_string_equal(b, "324 kB");
    print_humanize_bytes(24608, b, sizeof b);
    assert_string_equal(b, "25 kB");
    print_humanize_bytes(1500000, b, sizeof b);
    assert_string_equal(b, "1.5 MB");
    char *q = NULL;
    size_t ql = 0;
    FILE *f = open_memstream(&q, &ql);
    print_go_quote(f, (const uint8_t *)"a\"b\\\n\x01\x7f\xc3\xa9\xff\xc2\x85", 12);
    fclose(f);
    assert_string_equal(q, "\"a\\\"b\\\\\\n\\x01\\x7f\xc3\xa9\\xff\\u0085\"");
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_json_fields_simple),
        cmocka_unit_test(test_member_table_and_json_escapes),
        cmocka_unit_test(test_table_wraps_long_cells),
        cmocka_unit_test(test_txn_and_watch),
        cmocka_unit_test(test_lease_and_member_lines),
        cmocka_unit_test(test_go_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
