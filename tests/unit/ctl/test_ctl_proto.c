/* test_ctl_proto.c — guards the etcd v3 wire contract in proto/: the field numbers that are not
 * sequential, enum values, service paths, and byte-exact encodings of a few requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "etcdserverpb/rpc.pb-c.h"

static unsigned field_number(const ProtobufCMessageDescriptor *d, const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
    assert_non_null(f);
    return f->id;
}

static void test_field_numbers(void **state)
{
    (void)state;
    assert_int_equal(field_number(&etcdserverpb__compare__descriptor, "range_end"), 64);
    assert_int_equal(field_number(&etcdserverpb__compare__descriptor, "lease"), 8);
    assert_int_equal(field_number(&etcdserverpb__compare__descriptor, "value"), 7);
    assert_int_equal(field_number(&etcdserverpb__watch_response__descriptor, "events"), 11);
    assert_int_equal(field_number(&etcdserverpb__watch_response__descriptor, "fragment"), 7);
    assert_int_equal(field_number(&etcdserverpb__watch_create_request__descriptor, "watch_id"), 7);
    assert_int_equal(field_number(&etcdserverpb__watch_request__descriptor, "progress_request"), 3);
    assert_int_equal(field_number(&etcdserverpb__range_request__descriptor, "max_create_revision"),
                     13);
    assert_int_equal(field_number(&etcdserverpb__status_response__descriptor, "isLearner"), 10);
    assert_int_equal(field_number(&etcdserverpb__status_response__descriptor, "dbSizeInUse"), 9);
    assert_int_equal(
        field_number(&etcdserverpb__lease_time_to_live_response__descriptor, "grantedTTL"), 4);
    assert_int_equal(field_number(&etcdserverpb__lease_grant_request__descriptor, "TTL"), 1);
    assert_int_equal(field_number(&etcdserverpb__member__descriptor, "isLearner"), 5);
    assert_int_equal(field_number(&etcdserverpb__member_list_request__descriptor, "linearizable"),
                     1);
    assert_int_equal(field_number(&etcdserverpb__request_op__descriptor, "request_txn"), 4);
    assert_int_equal(field_number(&etcdserverpb__lease_checkpoint__descriptor, "remaining_TTL"), 2);
    assert_int_equal(field_number(&mvccpb__event__descriptor, "prev_kv"), 3);
    assert_int_equal(field_number(&mvccpb__key_value__descriptor, "lease"), 6);
    assert_int_equal(field_number(&authpb__permission__descriptor, "range_end"), 3);
    assert_int_equal(ETCDSERVERPB__ALARM_TYPE__CORRUPT, 2);
    assert_int_equal(ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL, 3);
    assert_int_equal(ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE, 4);
    assert_int_equal(MVCCPB__EVENT__EVENT_TYPE__DELETE, 1);
}

static void test_services(void **state)
{
    (void)state;
    const ProtobufCServiceDescriptor *kv = &etcdserverpb__kv__descriptor;
    assert_string_equal(kv->name, "etcdserverpb.KV");
    assert_int_equal(kv->n_methods, 5);
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(kv, "Txn");
    assert_non_null(m);
    assert_ptr_equal(m->input, &etcdserverpb__txn_request__descriptor);
    assert_string_equal(etcdserverpb__watch__descriptor.name, "etcdserverpb.Watch");
    assert_int_equal(etcdserverpb__lease__descriptor.n_methods, 5);
    assert_int_equal(etcdserverpb__cluster__descriptor.n_methods, 5);
    assert_int_equal(etcdserverpb__maintenance__descriptor.n_methods, 8);
    assert_int_equal(etcdserverpb__auth__descriptor.n_methods, 17);
    assert_non_null(protobuf_c_service_descriptor_get_method_by_name(
        &etcdserverpb__maintenance__descriptor, "MoveLeader"));
}

static void test_encodings(void **state)
{
    (void)state;
    /* RangeRequest{key:"foo", range_end:"fop", limit:2, serializable:true}: tags 0x0a, 0x12,
     * 0x18, 0x38 — what etcd's Go code sends for `get foo --prefix --limit 2
     * --consistency=s`. */
    Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
    r.key = (ProtobufCBinaryData){3, (uint8_t *)"foo"};
    r.range_end = (ProtobufCBinaryData){3, (uint8_t *)"fop"};
    r.limit = 2;
    r.serializable = 1;
    uint8_t buf[64];
    size_t n = protobuf_c_message_pack(&r.base, buf);
    static const uint8_t want[] = {0x0a, 3,   'f', 'o',  'o', 0x12, 3,
                                   'f',  'o', 'p', 0x18, 2,   0x38, 1};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);

    /* A oneof member is sent even when zero: `mod("k") = "0"` must carry mod_revision 0. */
    Etcdserverpb__Compare c = ETCDSERVERPB__COMPARE__INIT;
    c.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
    c.key = (ProtobufCBinaryData){1, (uint8_t *)"k"};
    c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
    c.mod_revision = 0;
    n = protobuf_c_message_pack(&c.base, buf);
    static const uint8_t want_cmp[] = {0x10, 2, 0x1a, 1, 'k', 0x30, 0};
    assert_int_equal(n, sizeof want_cmp);
    assert_memory_equal(buf, want_cmp, sizeof want_cmp);

    /* WatchResponse.events (field 11, wire type 2) decodes. */
    static const uint8_t wr[] = {0x10, 0x01, 0x5a, 0x02, 0x08, 0x01};
    Etcdserverpb__WatchResponse *w = etcdserverpb__watch_response__unpack(NULL, sizeof wr, wr);
    assert_non_null(w);
    assert_int_equal(w->watch_id, 1);
    assert_int_equal(w->n_events, 1);
    assert_int_equal(w->events[0]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
    etcdserverpb__watch_response__free_unpacked(w, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_numbers),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_encodings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
