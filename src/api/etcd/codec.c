/* codec.c — etcd v3 protobuf messages <-> kv commands and results. */
#include "api/etcd/codec.h"

#include <string.h>

#include "util/err.h"

static int fail(int *msg, int err, int m)
{
    if (msg) *msg = m;
    return err;
}

static struct kv_bytes bytes_in(ProtobufCBinaryData b)
{
    struct kv_bytes r = {b.data, b.len};
    return r;
}

static ProtobufCBinaryData bytes_out(struct kv_bytes b)
{
    ProtobufCBinaryData r = {b.len, (uint8_t *)b.p};
    return r;
}

/* ---- checks (etcd v3rpc/key.go, in its order) ---- */

int codec_check_range(const Etcdserverpb__RangeRequest *r, int *msg)
{
    if (!r->key.len) return fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
    if ((unsigned)r->sort_order > KV_SORT_DESCEND || (unsigned)r->sort_target > KV_SORT_VALUE)
        return fail(msg, CC_EINVAL, KV_MSG_INVALID_SORT);
    return fail(msg, 0, KV_MSG_NONE);
}

int codec_check_put(const Etcdserverpb__PutRequest *r, int *msg)
{
    if (!r->key.len) return fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
    if (r->ignore_value && r->value.len) return fail(msg, CC_EINVAL, KV_MSG_VALUE_PROVIDED);
    if (r->ignore_lease && r->lease) return fail(msg, CC_EINVAL, KV_MSG_LEASE_PROVIDED);
    return fail(msg, 0, KV_MSG_NONE);
}

int codec_check_delete(const Etcdserverpb__DeleteRangeRequest *r, int *msg)
{
    if (!r->key.len) return fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
    return fail(msg, 0, KV_MSG_NONE);
}

static int check_op(const Etcdserverpb__RequestOp *op, long max_ops, int *msg);

static int check_txn(const Etcdserverpb__TxnRequest *t, long max_ops, int *msg)
{
    size_t opc = t->n_compare;
    if (opc < t->n_success) opc = t->n_success;
    if (opc < t->n_failure) opc = t->n_failure;
    if ((long)opc > max_ops) return fail(msg, CC_ETOOMANYOPS, KV_MSG_TOO_MANY_OPS);
    for (size_t i = 0; i < t->n_compare; i++) {
        const Etcdserverpb__Compare *c = t->compare[i];
        if (!c->key.len) return fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
        /* etcd's Go enums are open (an unknown result even compares true there); kv stores
         * only the known ones, so they are refused here. */
        if ((unsigned)c->target > KV_CMP_LEASE || (unsigned)c->result > KV_CMP_NOT_EQUAL)
            return fail(msg, CC_EPROTO, KV_MSG_NONE);
    }
    /* etcd passes the shrunken budget maxTxnOps-opc to nested txns. */
    for (size_t i = 0; i < t->n_success; i++) {
        int rc = check_op(t->success[i], max_ops - (long)opc, msg);
        if (rc) return rc;
    }
    for (size_t i = 0; i < t->n_failure; i++) {
        int rc = check_op(t->failure[i], max_ops - (long)opc, msg);
        if (rc) return rc;
    }
    return fail(msg, 0, KV_MSG_NONE);
}

static int check_op(const Etcdserverpb__RequestOp *op, long max_ops, int *msg)
{
    switch (op->request_case) {
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
        return codec_check_range(op->request_range, msg);
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
        return codec_check_put(op->request_put, msg);
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
        return codec_check_delete(op->request_delete_range, msg);
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
        return check_txn(op->request_txn, max_ops, msg);
    default:
        return fail(msg, CC_EINVAL, KV_MSG_KEY_NOT_FOUND); /* empty op */
    }
}

int codec_check_txn(const Etcdserverpb__TxnRequest *t, uint32_t max_ops, int *msg)
{
    return check_txn(t, (long)max_ops, msg);
}

/* ---- requests ---- */

void codec_range_in(const Etcdserverpb__RangeRequest *r, struct kv_range *out)
{
    memset(out, 0, sizeof(*out));
    out->key = bytes_in(r->key);
    out->range_end = bytes_in(r->range_end);
    out->limit = r->limit;
    out->revision = r->revision;
    out->sort_order = (uint8_t)r->sort_order;
    out->sort_target = (uint8_t)r->sort_target;
    out->keys_only = r->keys_only;
    out->count_only = r->count_only;
    out->min_mod_rev = r->min_mod_revision;
    out->max_mod_rev = r->max_mod_revision;
    out->min_create_rev = r->min_create_revision;
    out->max_create_rev = r->max_create_revision;
}

void codec_put_in(const Etcdserverpb__PutRequest *r, struct kv_put *out)
{
    memset(out, 0, sizeof(*out));
    out->key = bytes_in(r->key);
    out->value = bytes_in(r->value);
    out->lease = r->lease;
    out->prev_kv = r->prev_kv;
    out->ignore_value = r->ignore_value;
    out->ignore_lease = r->ignore_lease;
}

void codec_delete_in(const Etcdserverpb__DeleteRangeRequest *r, struct kv_delete *out)
{
    memset(out, 0, sizeof(*out));
    out->key = bytes_in(r->key);
    out->range_end = bytes_in(r->range_end);
    out->prev_kv = r->prev_kv;
}

/* etcd reads the operand from the oneof member matching the target; any other member (or
 * none) compares against zero / the empty value. */
static void compare_in(const Etcdserverpb__Compare *c, struct kv_compare *out)
{
    memset(out, 0, sizeof(*out));
    out->target = (uint8_t)c->target;
    out->result = (uint8_t)c->result;
    out->key = bytes_in(c->key);
    out->range_end = bytes_in(c->range_end);
    switch (c->target) {
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION:
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION)
            out->number = c->version;
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE:
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION)
            out->number = c->create_revision;
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD:
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION)
            out->number = c->mod_revision;
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE:
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE)
            out->value = bytes_in(c->value);
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE:
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE)
            out->number = c->lease;
        break;
    default:
        break;
    }
}

static int txn_in(const Etcdserverpb__TxnRequest *t, struct kv_arena *a, struct kv_txn *out,
                  unsigned depth, int *msg);

static int ops_in(Etcdserverpb__RequestOp *const *ops, size_t n, struct kv_arena *a,
                  struct kv_op **out, unsigned depth, int *msg)
{
    *out = NULL;
    if (!n) return 0;
    struct kv_op *v = kv_arena_calloc(a, n, sizeof(*v));
    if (!v) return CC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__RequestOp *op = ops[i];
        switch (op->request_case) {
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
            v[i].type = KV_OP_RANGE;
            codec_range_in(op->request_range, &v[i].u.range);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
            v[i].type = KV_OP_PUT;
            codec_put_in(op->request_put, &v[i].u.put);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
            v[i].type = KV_OP_DELETE;
            codec_delete_in(op->request_delete_range, &v[i].u.del);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN: {
            v[i].type = KV_OP_TXN;
            v[i].u.txn = kv_arena_calloc(a, 1, sizeof(struct kv_txn));
            if (!v[i].u.txn) return CC_ENOMEM;
            int rc = txn_in(op->request_txn, a, v[i].u.txn, depth + 1, msg);
            if (rc) return rc;
            break;
        }
        default:
            return fail(msg, CC_EINVAL, KV_MSG_KEY_NOT_FOUND);
        }
    }
    *out = v;
    return 0;
}

static int txn_in(const Etcdserverpb__TxnRequest *t, struct kv_arena *a, struct kv_txn *out,
                  unsigned depth, int *msg)
{
    memset(out, 0, sizeof(*out));
    if (depth > KV_TXN_DEPTH_MAX) return fail(msg, CC_EINVAL, KV_MSG_TOO_DEEP);
    if (t->n_compare) {
        out->cmp = kv_arena_calloc(a, t->n_compare, sizeof(*out->cmp));
        if (!out->cmp) return CC_ENOMEM;
        for (size_t i = 0; i < t->n_compare; i++) compare_in(t->compare[i], &out->cmp[i]);
        out->n_cmp = t->n_compare;
    }
    int rc = ops_in(t->success, t->n_success, a, &out->success, depth, msg);
    if (rc) return rc;
    out->n_success = t->n_success;
    rc = ops_in(t->failure, t->n_failure, a, &out->failure, depth, msg);
    if (rc) return rc;
    out->n_failure = t->n_failure;
    return 0;
}

int codec_txn_in(const Etcdserverpb__TxnRequest *t, struct kv_arena *a, struct kv_txn *out,
                 int *msg)
{
    if (msg) *msg = KV_MSG_NONE;
    return txn_in(t, a, out, 1, msg);
}

static bool ops_serializable(Etcdserverpb__RequestOp *const *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__RequestOp *op = ops[i];
        if (op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE &&
            !op->request_range->serializable)
            return false;
        if (op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN &&
            !codec_txn_serializable(op->request_txn))
            return false;
    }
    return true;
}

bool codec_txn_serializable(const Etcdserverpb__TxnRequest *t)
{
    return ops_serializable(t->success, t->n_success) && ops_serializable(t->failure, t->n_failure);
}

/* ---- responses ---- */

void *codec_new(struct kv_arena *a, const ProtobufCMessageDescriptor *d)
{
    void *p = kv_arena_alloc(a, d->sizeof_message);
    if (p) protobuf_c_message_init(d, p);
    return p;
}

Etcdserverpb__ResponseHeader *codec_header(struct kv_arena *a, const struct codec_hdr *h,
                                           int64_t revision)
{
    Etcdserverpb__ResponseHeader *r = codec_new(a, &etcdserverpb__response_header__descriptor);
    if (!r) return NULL;
    if (h) {
        r->cluster_id = h->cluster_id;
        r->member_id = h->member_id;
        r->raft_term = h->raft_term;
    }
    r->revision = revision;
    return r;
}

Mvccpb__KeyValue *codec_kv_out(struct kv_arena *a, const struct kv_kv *kv)
{
    Mvccpb__KeyValue *r = codec_new(a, &mvccpb__key_value__descriptor);
    if (!r) return NULL;
    r->key = bytes_out(kv->key);
    r->value = bytes_out(kv->value);
    r->create_revision = kv->create_rev;
    r->mod_revision = kv->mod_rev;
    r->version = kv->version;
    r->lease = kv->lease;
    return r;
}

static Mvccpb__KeyValue **kvs_out(struct kv_arena *a, const struct kv_kv *kvs, size_t n)
{
    if (!n) return NULL;
    Mvccpb__KeyValue **v = kv_arena_calloc(a, n, sizeof(*v));
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = codec_kv_out(a, &kvs[i]))) return NULL;
    return v;
}

Etcdserverpb__RangeResponse *codec_range_out(struct kv_arena *a, const struct codec_hdr *h,
                                             const struct kv_range_res *r)
{
    Etcdserverpb__RangeResponse *o = codec_new(a, &etcdserverpb__range_response__descriptor);
    if (!o || !(o->header = codec_header(a, h, r->rev))) return NULL;
    if (r->n && !(o->kvs = kvs_out(a, r->kvs, r->n))) return NULL;
    o->n_kvs = r->n;
    o->more = r->more;
    o->count = r->count;
    return o;
}

Etcdserverpb__PutResponse *codec_put_out(struct kv_arena *a, const struct codec_hdr *h,
                                         const struct kv_put_res *r)
{
    Etcdserverpb__PutResponse *o = codec_new(a, &etcdserverpb__put_response__descriptor);
    if (!o || !(o->header = codec_header(a, h, r->rev))) return NULL;
    if (r->has_prev && !(o->prev_kv = codec_kv_out(a, &r->prev))) return NULL;
    return o;
}

Etcdserverpb__DeleteRangeResponse *codec_delete_out(struct kv_arena *a, const struct codec_hdr *h,
                                                    const struct kv_delete_res *r)
{
    Etcdserverpb__DeleteRangeResponse *o =
        codec_new(a, &etcdserverpb__delete_range_response__descriptor);
    if (!o || !(o->header = codec_header(a, h, r->rev))) return NULL;
    o->deleted = r->deleted;
    if (r->n_prev && !(o->prev_kvs = kvs_out(a, r->prev_kvs, r->n_prev))) return NULL;
    o->n_prev_kvs = r->n_prev;
    return o;
}

Etcdserverpb__TxnResponse *codec_txn_out(struct kv_arena *a, const struct codec_hdr *h,
                                         const struct kv_txn_res *r, int64_t rev)
{
    Etcdserverpb__TxnResponse *o = codec_new(a, &etcdserverpb__txn_response__descriptor);
    if (!o || !(o->header = codec_header(a, h, rev))) return NULL;
    o->succeeded = r->succeeded;
    if (!r->n) return o;
    o->responses = kv_arena_calloc(a, r->n, sizeof(*o->responses));
    if (!o->responses) return NULL;
    for (size_t i = 0; i < r->n; i++) {
        const struct kv_op_res *op = &r->resps[i];
        Etcdserverpb__ResponseOp *ro = codec_new(a, &etcdserverpb__response_op__descriptor);
        if (!ro) return NULL;
        /* Nested responses: header with the revision only (etcd's applier). */
        switch (op->type) {
        case KV_OP_RANGE:
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
            ro->response_range = codec_range_out(a, NULL, &op->u.range);
            if (!ro->response_range) return NULL;
            break;
        case KV_OP_PUT:
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
            ro->response_put = codec_put_out(a, NULL, &op->u.put);
            if (!ro->response_put) return NULL;
            break;
        case KV_OP_DELETE:
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
            ro->response_delete_range = codec_delete_out(a, NULL, &op->u.del);
            if (!ro->response_delete_range) return NULL;
            break;
        case KV_OP_TXN:
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
            ro->response_txn = codec_txn_out(a, NULL, op->u.txn, op->u.txn->rev);
            if (!ro->response_txn) return NULL;
            break;
        default:
            return NULL;
        }
        o->responses[i] = ro;
    }
    o->n_responses = r->n;
    return o;
}

Mvccpb__Event *codec_event_out(struct kv_arena *a, const struct kv_event *e)
{
    Mvccpb__Event *o = codec_new(a, &mvccpb__event__descriptor);
    if (!o) return NULL;
    o->type = e->type == KV_EVENT_DELETE ? MVCCPB__EVENT__EVENT_TYPE__DELETE
                                         : MVCCPB__EVENT__EVENT_TYPE__PUT;
    if (!(o->kv = codec_kv_out(a, &e->kv))) return NULL;
    if (e->has_prev && !(o->prev_kv = codec_kv_out(a, &e->prev))) return NULL;
    return o;
}
