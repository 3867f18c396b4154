/* test_etcd_codec.c — etcd requests to kv commands (validation in etcd's order included),
 * kv results to etcd responses, and the error table (codes and exact texts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/etcd/codec.h"
#include "api/etcd/errors.h"
#include "api/grpc/grpc_frame.h"
#include "util/err.h"

#define BYTES(s) ((ProtobufCBinaryData){sizeof(s) - 1, (uint8_t *)(s)})

/* Test txns are built in an arena. */
static Etcdserverpb__RequestOp *op_put(struct kv_arena *a, const char *key)
{
    Etcdserverpb__RequestOp *op = codec_new(a, &etcdserverpb__request_op__descriptor);
    Etcdserverpb__PutRequest *p = codec_new(a, &etcdserverpb__put_request__descriptor);
    p->key.data = (uint8_t *)key;
    p->key.len = strlen(key);
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    op->request_put = p;
    return op;
}

static Etcdserverpb__RequestOp *op_range(struct kv_arena *a, const char *key, bool serializable)
{
    Etcdserverpb__RequestOp *op = codec_new(a, &etcdserverpb__request_op__descriptor);
    Etcdserverpb__RangeRequest *r = codec_new(a, &etcdserverpb__range_request__descriptor);
    r->key.data = (uint8_t *)key;
    r->key.len = strlen(key);
    r->serializable = serializable;
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    op->request_range = r;
    return op;
}

static Etcdserverpb__RequestOp *op_txn(struct kv_arena *a, Etcdserverpb__TxnRequest *t)
{
    Etcdserverpb__RequestOp *op = codec_new(a, &etcdserverpb__request_op__descriptor);
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
    op->request_txn = t;
    return op;
}

static Etcdserverpb__TxnRequest *txn(struct kv_arena *a, size_t n_success)
{
    Etcdserverpb__TxnRequest *t = codec_new(a, &etcdserverpb__txn_request__descriptor);
    t->success = kv_arena_calloc(a, n_success + 1, sizeof(*t->success));
    t->n_success = n_success;
    return t;
}

static void test_checks_in_etcd_order(void **state)
{
    (void)state;
    struct kv_arena a = {0};
    int msg;
    Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
    assert_int_equal(codec_check_range(&rr, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_EMPTY_KEY);
    rr.key = BYTES("a");
    assert_int_equal(codec_check_range(&rr, &msg), 0);
    rr.sort_order = 7;
    assert_int_equal(codec_check_range(&rr, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_INVALID_SORT);

    Etcdserverpb__PutRequest pr = ETCDSERVERPB__PUT_REQUEST__INIT;
    pr.key = BYTES("k");
    pr.ignore_value = 1;
    pr.value = BYTES("v");
    assert_int_equal(codec_check_put(&pr, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_VALUE_PROVIDED);
    pr.value.len = 0;
    pr.ignore_lease = 1;
    pr.lease = 5;
    assert_int_equal(codec_check_put(&pr, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_LEASE_PROVIDED);

    /* An empty RequestOp is "key not found" (etcd's checkRequestOp default). */
    Etcdserverpb__TxnRequest *t = txn(&a, 2);
    t->success[0] = op_put(&a, "k");
    t->success[1] = codec_new(&a, &etcdserverpb__request_op__descriptor);
    assert_int_equal(codec_check_txn(t, 128, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_KEY_NOT_FOUND);
    /* ...but too many ops is checked first. */
    assert_int_equal(codec_check_txn(t, 1, &msg), CC_ETOOMANYOPS);
    assert_int_equal(msg, KV_MSG_TOO_MANY_OPS);
    /* Nested txns get the budget minus the parent's op count. */
    Etcdserverpb__TxnRequest *inner = txn(&a, 3);
    for (int i = 0; i < 3; i++) inner->success[i] = op_put(&a, i == 0 ? "a" : i == 1 ? "b" : "c");
    Etcdserverpb__TxnRequest *outer = txn(&a, 2);
    outer->success[0] = op_put(&a, "x");
    outer->success[1] = op_txn(&a, inner);
    assert_int_equal(codec_check_txn(outer, 5, &msg), 0);
    assert_int_equal(codec_check_txn(outer, 4, &msg), CC_ETOOMANYOPS);
    /* Compare enums beyond etcd's values cannot be stored by kv. */
    outer->compare = kv_arena_calloc(&a, 1, sizeof(*outer->compare));
    outer->compare[0] = codec_new(&a, &etcdserverpb__compare__descriptor);
    outer->compare[0]->key = BYTES("k");
    outer->compare[0]->result = 93;
    outer->n_compare = 1;
    assert_int_equal(codec_check_txn(outer, 5, &msg), CC_EPROTO);
    assert_int_equal(etcd_status_of(CC_EPROTO, msg, ECTX_DEFAULT).code, GRPC_INVALID_ARGUMENT);
    kv_arena_free(&a);
}

static void test_txn_conversion(void **state)
{
    (void)state;
    struct kv_arena a = {0};
    int msg;
    Etcdserverpb__TxnRequest *t = txn(&a, 2);
    t->success[0] = op_range(&a, "r", true);
    t->success[1] = op_put(&a, "p");
    t->compare = kv_arena_calloc(&a, 2, sizeof(*t->compare));
    t->n_compare = 2;
    for (int i = 0; i < 2; i++) {
        t->compare[i] = codec_new(&a, &etcdserverpb__compare__descriptor);
        t->compare[i]->key = BYTES("c");
    }
    /* A matching oneof member gives the operand... */
    t->compare[0]->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
    t->compare[0]->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS;
    t->compare[0]->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
    t->compare[0]->mod_revision = 42;
    /* ...another member compares against zero, as etcd's type switch does. */
    t->compare[1]->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
    t->compare[1]->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
    t->compare[1]->create_revision = 9;
    struct kv_txn kt;
    assert_int_equal(codec_txn_in(t, &a, &kt, &msg), 0);
    assert_int_equal(kt.n_cmp, 2);
    assert_int_equal(kt.cmp[0].target, KV_CMP_MOD);
    assert_int_equal(kt.cmp[0].result, KV_CMP_LESS);
    assert_int_equal(kt.cmp[0].number, 42);
    assert_int_equal(kt.cmp[1].number, 0);
    assert_int_equal(kt.n_success, 2);
    assert_int_equal(kt.success[0].type, KV_OP_RANGE);
    assert_int_equal(kt.success[1].type, KV_OP_PUT);
    assert_memory_equal(kt.success[1].u.put.key.p, "p", 1);
    assert_false(kv_txn_is_readonly(&kt));
    assert_int_equal(kv_txn_check(&kt, &msg), 0);

    /* Serializable only when every range of the tree is. */
    Etcdserverpb__TxnRequest *ro = txn(&a, 2);
    ro->success[0] = op_range(&a, "a", true);
    Etcdserverpb__TxnRequest *nested = txn(&a, 1);
    nested->success[0] = op_range(&a, "b", true);
    ro->success[1] = op_txn(&a, nested);
    assert_true(codec_txn_serializable(ro));
    nested->success[0]->request_range->serializable = 0;
    assert_false(codec_txn_serializable(ro));
    assert_int_equal(codec_txn_in(ro, &a, &kt, &msg), 0);
    assert_true(kv_txn_is_readonly(&kt));

    /* Deeper than kv allows. */
    Etcdserverpb__TxnRequest *deep = txn(&a, 1);
    deep->success[0] = op_put(&a, "z");
    for (unsigned i = 0; i < KV_TXN_DEPTH_MAX; i++) {
        Etcdserverpb__TxnRequest *up = txn(&a, 1);
        up->success[0] = op_txn(&a, deep);
        deep = up;
    }
    assert_int_equal(codec_txn_in(deep, &a, &kt, &msg), CC_EINVAL);
    assert_int_equal(msg, KV_MSG_TOO_DEEP);
    kv_arena_free(&a);
}

static void test_results(void **state)
{
    (void)state;
    struct kv_arena a = {0};
    struct codec_hdr h = {1, 2, 3};
    struct kv_kv kvs[2] = {{{(const uint8_t *)"a", 1}, {(const uint8_t *)"1", 1}, 2, 3, 2, 7},
                           {{(const uint8_t *)"b", 1}, {NULL, 0}, 4, 4, 1, 0}};
    struct kv_delete_res dr = {9, 2, kvs, 2};
    Etcdserverpb__DeleteRangeResponse *d = codec_delete_out(&a, &h, &dr);
    assert_non_null(d);
    assert_int_equal(d->header->cluster_id, 1);
    assert_int_equal(d->header->member_id, 2);
    assert_int_equal(d->header->raft_term, 3);
    assert_int_equal(d->header->revision, 9);
    assert_int_equal(d->deleted, 2);
    assert_int_equal(d->n_prev_kvs, 2);
    assert_int_equal(d->prev_kvs[0]->lease, 7);
    assert_int_equal(d->prev_kvs[0]->mod_revision, 3);

    struct kv_put_res pr;
    memset(&pr, 0, sizeof(pr));
    pr.rev = 10;
    Etcdserverpb__PutResponse *p = codec_put_out(&a, &h, &pr);
    assert_null(p->prev_kv); /* no previous key: no prev_kv (etcd leaves it nil) */

    /* Nested txn: identity only at the top. */
    struct kv_range_res rr = {10, kvs, 1, 5, true};
    struct kv_op_res inner_ops[1] = {{.type = KV_OP_RANGE}};
    inner_ops[0].u.range = rr;
    struct kv_txn_res inner = {0, false, inner_ops, 1};
    struct kv_op_res ops[2] = {{.type = KV_OP_TXN}, {.type = KV_OP_PUT}};
    ops[0].u.txn = &inner;
    ops[1].u.put = pr;
    struct kv_txn_res tr = {11, true, ops, 2};
    Etcdserverpb__TxnResponse *t = codec_txn_out(&a, &h, &tr, 11);
    assert_non_null(t);
    assert_int_equal(t->header->revision, 11);
    assert_true(t->succeeded);
    assert_int_equal(t->n_responses, 2);
    Etcdserverpb__TxnResponse *it = t->responses[0]->response_txn;
    assert_int_equal(it->header->cluster_id, 0);
    assert_int_equal(it->header->revision, 0);
    Etcdserverpb__RangeResponse *irr = it->responses[0]->response_range;
    assert_int_equal(irr->header->revision, 10);
    assert_int_equal(irr->header->member_id, 0);
    assert_true(irr->more);
    assert_int_equal(irr->count, 5);
    assert_int_equal(t->responses[1]->response_put->header->revision, 10);

    struct kv_event ev = {KV_EVENT_PUT, true, kvs[1], kvs[0]};
    Mvccpb__Event *e = codec_event_out(&a, &ev);
    assert_int_equal(e->type, MVCCPB__EVENT__EVENT_TYPE__PUT);
    assert_non_null(e->prev_kv);
    assert_memory_equal(e->prev_kv->value.data, "1", 1);
    /* The arena's limit makes builders fail cleanly. */
    struct kv_arena small = {.limit = 64};
    assert_null(codec_txn_out(&small, &h, &tr, 11));
    kv_arena_free(&small);
    kv_arena_free(&a);
}

static void test_error_table(void **state)
{
    (void)state;
    struct etcd_status s = etcd_status_of(CC_EINVAL, KV_MSG_EMPTY_KEY, ECTX_DEFAULT);
    assert_int_equal(s.code, GRPC_INVALID_ARGUMENT);
    assert_string_equal(s.msg, "etcdserver: key is not provided");
    s = etcd_status_of(CC_ECOMPACTED, 0, ECTX_READ);
    assert_int_equal(s.code, GRPC_OUT_OF_RANGE);
    assert_string_equal(s.msg, "etcdserver: mvcc: required revision has been compacted");
    s = etcd_status_of(CC_EFUTUREREV, KV_MSG_FUTURE_REV, ECTX_READ);
    assert_int_equal(s.code, GRPC_OUT_OF_RANGE);
    s = etcd_status_of(CC_ELEASE, 0, ECTX_LEASE);
    assert_int_equal(s.code, GRPC_NOT_FOUND);
    assert_string_equal(s.msg, "etcdserver: requested lease not found");
    s = etcd_status_of(CC_EEXIST, KV_MSG_LEASE_EXISTS, ECTX_LEASE);
    assert_int_equal(s.code, GRPC_FAILED_PRECONDITION);
    assert_string_equal(s.msg, "etcdserver: lease already exists");
    s = etcd_status_of(CC_EINVAL, KV_MSG_LEASE_TTL_TOO_LARGE, ECTX_LEASE);
    assert_int_equal(s.code, GRPC_OUT_OF_RANGE);
    s = etcd_status_of(CC_ENOLEADER, 0, ECTX_DEFAULT);
    assert_int_equal(s.code, GRPC_UNAVAILABLE);
    assert_string_equal(s.msg, "etcdserver: no leader");
    s = etcd_status_of(CC_ETIMEDOUT, 0, ECTX_DEFAULT);
    assert_string_equal(s.msg, "etcdserver: request timed out");
    s = etcd_status_of(CC_ETOOBIG, KV_MSG_TOO_LARGE, ECTX_DEFAULT);
    assert_int_equal(s.code, GRPC_INVALID_ARGUMENT);
    assert_string_equal(s.msg, "etcdserver: request is too large");
    s = etcd_status_of(CC_EDUPKEY, KV_MSG_DUPLICATE_KEY, ECTX_DEFAULT);
    assert_string_equal(s.msg, "etcdserver: duplicate key given in txn request");
    /* One cc_err, different etcd errors by service. */
    s = etcd_status_of(CC_EEXIST, 0, ECTX_MEMBER);
    assert_int_equal(s.code, GRPC_FAILED_PRECONDITION);
    assert_string_equal(s.msg, "etcdserver: Peer URLs already exists");
    s = etcd_status_of(CC_ENOTFOUND, 0, ECTX_PROMOTE);
    assert_int_equal(s.code, GRPC_NOT_FOUND);
    assert_string_equal(s.msg, "etcdserver: member not found");
    s = etcd_status_of(CC_ECONFCHANGE, 0, ECTX_PROMOTE);
    assert_string_equal(
        s.msg, "etcdserver: can only promote a learner member which is in sync with leader");
    s = etcd_status_of(CC_EINVAL, 0, ECTX_PROMOTE);
    assert_string_equal(s.msg, "etcdserver: can only promote a learner member");
    s = etcd_status_of(CC_EINVAL, 0, ECTX_MEMBER);
    assert_string_equal(s.msg, "etcdserver: given member URLs are invalid");
    s = etcd_status_of(CC_EINVAL, 0, ECTX_MOVE_LEADER);
    assert_string_equal(s.msg, "etcdserver: bad leader transferee");
    s = etcd_status_of(CC_ENOTLEADER, 0, ECTX_MOVE_LEADER);
    assert_int_equal(s.code, GRPC_FAILED_PRECONDITION);
    assert_string_equal(s.msg, "etcdserver: not leader");
    s = etcd_status_of(0, 0, ECTX_DEFAULT);
    assert_int_equal(s.code, GRPC_OK);
    /* grpc-gateway v1's HTTP statuses (FailedPrecondition is 412 there). */
    assert_int_equal(etcd_http_status(GRPC_INVALID_ARGUMENT), 400);
    assert_int_equal(etcd_http_status(GRPC_OUT_OF_RANGE), 400);
    assert_int_equal(etcd_http_status(GRPC_NOT_FOUND), 404);
    assert_int_equal(etcd_http_status(GRPC_FAILED_PRECONDITION), 412);
    assert_int_equal(etcd_http_status(GRPC_UNAVAILABLE), 503);
    assert_int_equal(etcd_http_status(GRPC_UNKNOWN), 500);
    assert_string_equal(etcd_code_name(GRPC_RESOURCE_EXHAUSTED), "ResourceExhausted");
    assert_string_equal(etcd_code_name(99), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checks_in_etcd_order),
        cmocka_unit_test(test_txn_conversion),
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
