/* test_etcd_json.c — the JSON gateway's codecs: the JSON reader and writer, base64, and
 * protobuf <-> JSON with etcd 3.4's grpc-gateway conventions (expected texts were captured
 * from a real etcd 3.4.23 with curl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/etcd/codec.h"
#include "api/etcd/pbmem.h"
#include "api/gateway/json.h"
#include "api/gateway/pbjson.h"
#include "util/err.h"

static int parse(const char *s, struct kv_arena *a, struct json_val **v, size_t *used, char *err)
{
    return json_parse(s, strlen(s), a, v, used, err, 256);
}

static void test_json_values(void **state)
{
    (void)state;
    struct kv_arena a = {0};
    struct json_val *v;
    size_t used;
    char err[256];
    assert_int_equal(
        parse(" {\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\n\"], \"b\": {}} ", &a, &v, &used, err),
        0);
    assert_int_equal(v->type, JSON_OBJECT);
    assert_int_equal(v->n, 2);
    const struct json_val *arr = json_get(v, "a");
    assert_non_null(arr);
    assert_int_equal(arr->n, 5);
    const struct json_val *e = arr->first;
    assert_int_equal(e->type, JSON_NUMBER);
    assert_memory_equal(e->s, "1", 1);
    e = e->next;
    assert_int_equal(e->slen, 6);
    assert_memory_equal(e->s, "-2.5e3", 6);
    e = e->next;
    assert_true(e->type == JSON_BOOL && e->b);
    e = e->next;
    assert_int_equal(e->type, JSON_NULL);
    e = e->next;
    assert_int_equal(e->type, JSON_STRING);
    assert_int_equal(e->slen, 4);
    assert_memory_equal(e->s, "x\xc3\xa9\n", 4);
    assert_non_null(json_get(v, "b"));
    assert_null(json_get(v, "c"));
    /* Surrogate pairs become one code point. */
    assert_int_equal(parse("\"\\ud83d\\ude00\"", &a, &v, &used, err), 0);
    assert_int_equal(v->slen, 4);
    assert_memory_equal(v->s, "\xf0\x9f\x98\x80", 4);
    kv_arena_free(&a);
}

static void test_json_stream_and_errors(void **state)
{
    (void)state;
    struct kv_arena a = {0};
    struct json_val *v;
    size_t used;
    char err[256];
    /* A body of concatenated values is read one at a time, as grpc-gateway's decoder does. */
    const char *body = "{\"x\":1}{\"x\":2}\n {\"x\":3} ";
    size_t off = 0, n = 0;
    for (;;) {
        int rc = json_parse(body + off, strlen(body) - off, &a, &v, &used, err, sizeof(err));
        if (rc == CC_ENOTFOUND) break;
        assert_int_equal(rc, 0);
        off += used;
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(parse("garbage", &a, &v, &used, err), CC_EINVAL);
    assert_string_equal(err, "invalid character 'g' looking for beginning of value");
    assert_int_equal(parse("{\"a\" 1}", &a, &v, &used, err), CC_EINVAL);
    assert_string_equal(err, "invalid character '1' after object key");
    assert_int_equal(parse("{\"a\":1 \"b\"}", &a, &v, &used, err), CC_EINVAL);
    assert_string_equal(err, "invalid character '\"' after object key:value pair");
    assert_int_equal(parse("{\"a\":", &a, &v, &used, err), CC_EINVAL);
    assert_string_equal(err, "unexpected EOF");
    assert_int_equal(parse("[tru]", &a, &v, &used, err), CC_EINVAL);
    assert_int_equal(parse("\"a\x01\"", &a, &v, &used, err), CC_EINVAL);
    assert_int_equal(parse("\"\\q\"", &a, &v, &used, err), CC_EINVAL);
    assert_int_equal(parse("01", &a, &v, &used, err), 0); /* "0", then "1" is the next value */
    assert_int_equal(used, 1);
    assert_int_equal(parse("   ", &a, &v, &used, err), CC_ENOTFOUND);
    /* Nesting is bounded. */
    char deep[2 * JSON_MAX_DEPTH + 8];
    memset(deep, '[', JSON_MAX_DEPTH + 1);
    deep[JSON_MAX_DEPTH + 1] = 0;
    assert_int_equal(parse(deep, &a, &v, &used, err), CC_ETOOBIG);
    kv_arena_free(&a);
    /* So is memory. */
    struct kv_arena small = {.limit = 256};
    assert_int_equal(
        parse("[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]", &small, &v, &used, err),
        CC_ENOMEM);
    kv_arena_free(&small);
}

static void test_json_writer(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(json_put_str(&b, "a\"\\<>&\n\x01\xff\xe2\x80\xa8z", 13), 0);
    assert_int_equal(b.len, strlen("\"a\\\"\\\\\\u003c\\u003e\\u0026\\n\\u0001\\ufffd\\u2028z\""));
    assert_memory_equal(b.data, "\"a\\\"\\\\\\u003c\\u003e\\u0026\\n\\u0001\\ufffd\\u2028z\"",
                        b.len);
    buf_reset(&b);
    assert_int_equal(json_put_base64(&b, (const uint8_t *)"foo", 3), 0);
    assert_int_equal(json_put_base64(&b, (const uint8_t *)"ba", 2), 0);
    assert_int_equal(json_put_base64(&b, (const uint8_t *)"b", 1), 0);
    assert_int_equal(json_put_base64(&b, NULL, 0), 0);
    assert_memory_equal(b.data, "\"Zm9v\"\"YmE=\"\"Yg==\"\"\"", b.len);
    buf_free(&b);

    uint8_t out[16];
    size_t bad;
    assert_int_equal(json_base64_decode("Zm9v", 4, out, &bad), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(json_base64_decode("YmE", 3, out, &bad), 2);  /* padding optional */
    assert_int_equal(json_base64_decode("_-8=", 4, out, &bad), 2); /* URL-safe alphabet */
    assert_int_equal(out[0], 0xff);
    assert_int_equal(json_base64_decode("Zm9", 3, out, &bad), 2);
    assert_int_equal(json_base64_decode("Zm9v!", 5, out, &bad), -1);
    assert_int_equal(bad, 4);
    assert_int_equal(json_base64_decode("Z", 1, out, &bad), -1);
    assert_int_equal(json_base64_decode("Zm9v=", 5, out, &bad), -1);
}

/* ---- protobuf <-> JSON ---- */

static char *encode(const ProtobufCMessage *m)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(pbjson_encode(m, &b), 0);
    assert_int_equal(buf_put_u8(&b, 0), 0);
    return (char *)b.data;
}

static void test_pbjson_encode_like_etcd(void **state)
{
    (void)state;
    struct kv_arena a = {0};
    struct codec_hdr h = {786160365469245460ull, 7631944754407313523ull, 2};
    struct kv_kv kv = {{(const uint8_t *)"foo", 3}, {(const uint8_t *)"bar", 3}, 2, 2, 1, 0};
    struct kv_range_res rr = {2, &kv, 1, 1, false};
    Etcdserverpb__RangeResponse *r = codec_range_out(&a, &h, &rr);
    char *s = encode(&r->base);
    assert_string_equal(s, "{\"header\":{\"cluster_id\":\"786160365469245460\",\"member_id\":"
                           "\"7631944754407313523\",\"revision\":\"2\",\"raft_term\":\"2\"},"
                           "\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":"
                           "\"2\",\"version\":\"1\",\"value\":\"YmFy\"}],\"count\":\"1\"}");
    free(s);

    /* Nested txn responses carry a header with the revision only; a set oneof member shows
     * even when its message is empty. */
    struct kv_op_res op = {.type = KV_OP_PUT};
    op.u.put.rev = 36;
    struct kv_txn_res tr = {36, true, &op, 1};
    Etcdserverpb__TxnResponse *t = codec_txn_out(&a, &h, &tr, 36);
    s = encode(&t->base);
    assert_non_null(strstr(s, "\"succeeded\":true,\"responses\":[{\"response_put\":{\"header\":"
                              "{\"revision\":\"36\"}}}]}"));
    free(s);

    /* Enums by name; the default (PUT) is left out. */
    struct kv_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = KV_EVENT_DELETE;
    ev.kv.key.p = (const uint8_t *)"foo";
    ev.kv.key.len = 3;
    ev.kv.mod_rev = 6;
    Mvccpb__Event *e = codec_event_out(&a, &ev);
    s = encode(&e->base);
    assert_string_equal(s,
                        "{\"type\":\"DELETE\",\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":\"6\"}}");
    free(s);

    /* uint32 stays a number; int64 -1 a string; proto names kept ("ID", "TTL"). */
    Etcdserverpb__HashKVResponse hk = ETCDSERVERPB__HASH_KVRESPONSE__INIT;
    hk.hash = 4294967295u;
    hk.compact_revision = -1;
    s = encode(&hk.base);
    assert_string_equal(s, "{\"hash\":4294967295,\"compact_revision\":\"-1\"}");
    free(s);
    Etcdserverpb__LeaseGrantResponse lg = ETCDSERVERPB__LEASE_GRANT_RESPONSE__INIT;
    lg.id = 77;
    lg.ttl = 2;
    s = encode(&lg.base);
    assert_string_equal(s, "{\"ID\":\"77\",\"TTL\":\"2\"}");
    free(s);
    kv_arena_free(&a);
}

static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *d, const char *json,
                                struct pbmem *pm, char *err)
{
    struct kv_arena a = {0};
    struct json_val *v;
    size_t used;
    assert_int_equal(json_parse(json, strlen(json), &a, &v, &used, err, 256), 0);
    ProtobufCMessage *m = NULL;
    int rc = pbjson_decode(d, v, &pm->pa, &m, err, 256);
    kv_arena_free(&a);
    if (rc) {
        assert_null(m);
        assert_int_equal(pm->used, 0); /* a failure frees what it built */
    }
    return m;
}

static void test_pbjson_decode(void **state)
{
    (void)state;
    struct pbmem pm;
    pbmem_init(&pm, 1 << 20);
    char err[256];
    /* Proto names and lowerCamelCase names, integers as strings or numbers, enums by name or
     * number, unknown members ignored. */
    Etcdserverpb__RangeRequest *r = (void *)decode(
        &etcdserverpb__range_request__descriptor,
        "{\"key\":\"Zm9v\",\"rangeEnd\":\"Zm9w\",\"limit\":\"10\",\"revision\":3,"
        "\"sort_order\":\"DESCEND\",\"sortTarget\":4,\"keys_only\":true,\"bogus\":[1,{}],"
        "\"count_only\":null}",
        &pm, err);
    assert_non_null(r);
    assert_int_equal(r->key.len, 3);
    assert_memory_equal(r->key.data, "foo", 3);
    assert_memory_equal(r->range_end.data, "fop", 3);
    assert_int_equal(r->limit, 10);
    assert_int_equal(r->revision, 3);
    assert_int_equal(r->sort_order, ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND);
    assert_int_equal(r->sort_target, ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE);
    assert_true(r->keys_only);
    assert_false(r->count_only);
    protobuf_c_message_free_unpacked(&r->base, &pm.pa);
    assert_int_equal(pm.used, 0);

    /* A txn with oneofs (a member given twice replaces the first), nested messages, repeated
     * fields, and a round trip through the wire format. */
    Etcdserverpb__TxnRequest *t =
        (void *)decode(&etcdserverpb__txn_request__descriptor,
                       "{\"compare\":[{\"target\":\"CREATE\",\"key\":\"Zm9v\",\"version\":\"5\","
                       "\"create_revision\":\"2\"}],\"success\":[{\"requestPut\":{\"key\":\"Zm9v\","
                       "\"value\":\"YmFy\"}},{\"request_range\":{\"key\":\"Zm9v\"}}],\"failure\":"
                       "[{\"request_delete_range\":{\"key\":\"Zm9v\",\"prev_kv\":true}},null]}",
                       &pm, err);
    assert_non_null(t);
    assert_int_equal(t->n_compare, 1);
    assert_int_equal(t->compare[0]->target_union_case,
                     ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION);
    assert_int_equal(t->compare[0]->create_revision, 2);
    assert_int_equal(t->n_success, 2);
    assert_int_equal(t->success[0]->request_case, ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT);
    assert_memory_equal(t->success[0]->request_put->value.data, "bar", 3);
    assert_int_equal(t->n_failure, 2);
    assert_true(t->failure[0]->request_delete_range->prev_kv);
    assert_int_equal(t->failure[1]->request_case, ETCDSERVERPB__REQUEST_OP__REQUEST__NOT_SET);
    size_t len = protobuf_c_message_get_packed_size(&t->base);
    uint8_t *wire = malloc(len);
    protobuf_c_message_pack(&t->base, wire);
    ProtobufCMessage *back = pbmem_unpack(&pm, &etcdserverpb__txn_request__descriptor, wire, len);
    assert_non_null(back);
    assert_int_equal(((Etcdserverpb__TxnRequest *)back)->n_success, 2);
    protobuf_c_message_free_unpacked(back, &pm.pa);
    free(wire);
    protobuf_c_message_free_unpacked(&t->base, &pm.pa);
    assert_int_equal(pm.used, 0);

    /* Repeated strings and enums. */
    Etcdserverpb__WatchRequest *w = (void *)decode(
        &etcdserverpb__watch_request__descriptor,
        "{\"create_request\":{\"key\":\"YQ==\",\"filters\":[\"NODELETE\",0],\"watch_id\":\"-7\"}}",
        &pm, err);
    assert_non_null(w);
    assert_int_equal(w->create_request->n_filters, 2);
    assert_int_equal(w->create_request->filters[0], 1);
    assert_int_equal(w->create_request->watch_id, -7);
    protobuf_c_message_free_unpacked(&w->base, &pm.pa);
    Etcdserverpb__MemberAddRequest *ma = (void *)decode(
        &etcdserverpb__member_add_request__descriptor,
        "{\"peerURLs\":[\"http://a:1\",null,\"http://b:2\"],\"isLearner\":true}", &pm, err);
    assert_non_null(ma);
    assert_int_equal(ma->n_peerurls, 3);
    assert_string_equal(ma->peerurls[1], "");
    assert_string_equal(ma->peerurls[2], "http://b:2");
    assert_true(ma->islearner);
    protobuf_c_message_free_unpacked(&ma->base, &pm.pa);
    assert_int_equal(pm.used, 0);
    pbmem_free(&pm, NULL);

    /* Errors, with no leak. */
    assert_null(decode(&etcdserverpb__range_request__descriptor, "{\"key\":\"Zm9vY\"}", &pm, err));
    assert_null(decode(&etcdserverpb__range_request__descriptor, "{\"key\":\"!!!!\"}", &pm, err));
    assert_string_equal(err, "illegal base64 data at input byte 0");
    assert_null(decode(&etcdserverpb__range_request__descriptor, "{\"limit\":\"x\"}", &pm, err));
    assert_null(decode(&etcdserverpb__range_request__descriptor, "{\"limit\":1.5}", &pm, err));
    assert_string_equal(err, "json: cannot unmarshal number 1.5 into Go value of type int64");
    assert_null(
        decode(&etcdserverpb__range_request__descriptor, "{\"keys_only\":\"true\"}", &pm, err));
    assert_string_equal(err, "json: cannot unmarshal string into Go value of type bool");
    assert_null(
        decode(&etcdserverpb__range_request__descriptor, "{\"sort_order\":\"UP\"}", &pm, err));
    assert_null(decode(&etcdserverpb__range_request__descriptor, "[1]", &pm, err));
    assert_null(decode(&etcdserverpb__txn_request__descriptor,
                       "{\"success\":[{\"request_put\":{\"key\":\"Zm9v\"}},{\"request_put\":"
                       "{\"lease\":\"abc\"}}]}",
                       &pm, err));
    assert_null(decode(&etcdserverpb__lease_grant_request__descriptor,
                       "{\"TTL\":\"9223372036854775808\"}", &pm, err));
    assert_null(
        decode(&etcdserverpb__member_remove_request__descriptor, "{\"ID\":\"-1\"}", &pm, err));
    Etcdserverpb__MemberRemoveRequest *mr =
        (void *)decode(&etcdserverpb__member_remove_request__descriptor,
                       "{\"ID\":\"18446744073709551615\"}", &pm, err);
    assert_non_null(mr);
    assert_true(mr->id == UINT64_MAX);
    protobuf_c_message_free_unpacked(&mr->base, &pm.pa);

    /* The allocator's budget stops amplification. */
    struct pbmem tiny;
    pbmem_init(&tiny, 200);
    assert_null(decode(&etcdserverpb__txn_request__descriptor,
                       "{\"success\":[{},{},{},{},{},{},{},{},{},{},{},{}]}", &tiny, err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_values),   cmocka_unit_test(test_json_stream_and_errors),
        cmocka_unit_test(test_json_writer),   cmocka_unit_test(test_pbjson_encode_like_etcd),
        cmocka_unit_test(test_pbjson_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
