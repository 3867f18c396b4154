/* cmd_counter.c — concur's counter commands: an integer in a key (decimal text, the same form
 * Redis INCR keeps), changed atomically with compare-and-swap transactions so that it works
 * against any etcd v3 endpoint. */
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

#define COUNTER_MAX_ATTEMPTS 100

/* Reads key NAME: *kv is NULL when absent. Returns 0 or an exit code. */
static int counter_read(struct ctl *ctl, const char *name, Etcdserverpb__RangeResponse **resp)
{
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = (ProtobufCBinaryData){strlen(name), (uint8_t *)name};
    struct gc_status st;
    if (ctl_unary(ctl, "/etcdserverpb.KV/Range", &req, &etcdserverpb__range_response__descriptor,
                  true, resp, &st) != 0)
        return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
    return 0;
}

/* Parses a counter's value (decimal int64, as Redis accepts). Returns 0 or an exit code. */
static int counter_value(struct ctl *ctl, const char *name, const Mvccpb__KeyValue *kv, int64_t *v)
{
    char buf[32];
    if (!kv) {
        *v = 0;
        return 0;
    }
    if (kv->value.len == 0 || kv->value.len >= sizeof buf)
        return ctl_error(ctl, CTL_EXIT_ERROR, "value of counter %s is not an integer", name);
    memcpy(buf, kv->value.data, kv->value.len);
    buf[kv->value.len] = 0;
    if (flags_parse_dec_int64(buf, v) != 0 || buf[0] == '+')
        return ctl_error(ctl, CTL_EXIT_ERROR, "value of counter %s is not an integer", name);
    return 0;
}

/* Writes cur + delta if the key is still as observed in kv (absent when kv is NULL); when the
 * key changed meanwhile, re-reads it from the transaction's failure branch and retries.
 * create_only leaves an existing key untouched. Prints the resulting value. */
static int counter_update(struct ctl *ctl, const char *name, int64_t delta, bool create_only)
{
    Etcdserverpb__RangeResponse *rr = NULL;
    int rc = counter_read(ctl, name, &rr);
    if (rc != 0) return rc;
    const Mvccpb__KeyValue *kv = rr->n_kvs ? rr->kvs[0] : NULL;
    Etcdserverpb__TxnResponse *tr = NULL;
    for (int attempt = 0; attempt < COUNTER_MAX_ATTEMPTS; attempt++) {
        int64_t cur, next;
        if ((rc = counter_value(ctl, name, kv, &cur)) != 0) break;
        if (create_only && kv) {
            fprintf(ctl->out, "%lld\n", (long long)cur);
            break;
        }
        if (create_only)
            next = delta;
        else if (__builtin_add_overflow(cur, delta, &next)) {
            rc = ctl_error(ctl, CTL_EXIT_ERROR, "increment or decrement would overflow");
            break;
        }
        char val[32];
        snprintf(val, sizeof val, "%lld", (long long)next);
        ProtobufCBinaryData key = {strlen(name), (uint8_t *)name};
        Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
        cmp.key = key;
        if (kv) {
            cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
            cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
            cmp.mod_revision = kv->mod_revision;
        } else {
            cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
            cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
            cmp.create_revision = 0;
        }
        Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
        put.key = key;
        put.value = (ProtobufCBinaryData){strlen(val), (uint8_t *)val};
        put.lease = kv ? kv->lease : 0; /* keep an expiry set through Redis EXPIRE */
        Etcdserverpb__RangeRequest get = ETCDSERVERPB__RANGE_REQUEST__INIT;
        get.key = key;
        Etcdserverpb__RequestOp ok = ETCDSERVERPB__REQUEST_OP__INIT, ko = ok;
        ok.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
        ok.request_put = &put;
        ko.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
        ko.request_range = &get;
        Etcdserverpb__Compare *cmps[1] = {&cmp};
        Etcdserverpb__RequestOp *oks[1] = {&ok}, *kos[1] = {&ko};
        Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
        txn.n_compare = 1, txn.compare = cmps;
        txn.n_success = 1, txn.success = oks;
        txn.n_failure = 1, txn.failure = kos;
        struct gc_status st;
        if (tr) protobuf_c_message_free_unpacked(&tr->base, NULL);
        tr = NULL;
        if (ctl_unary(ctl, "/etcdserverpb.KV/Txn", &txn, &etcdserverpb__txn_response__descriptor,
                      false, &tr, &st) != 0) {
            rc = ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
            break;
        }
        if (tr->succeeded) {
            fprintf(ctl->out, "%lld\n", (long long)next);
            break;
        }
        /* Lost a race: the failure branch returned the key as it is now. */
        kv = NULL;
        if (tr->n_responses == 1 &&
            tr->responses[0]->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE &&
            tr->responses[0]->response_range->n_kvs)
            kv = tr->responses[0]->response_range->kvs[0];
        if (attempt + 1 == COUNTER_MAX_ATTEMPTS)
            rc = ctl_error(ctl, CTL_EXIT_ERROR,
                           "counter %s: too much contention, gave up after %d "
                           "attempts",
                           name, COUNTER_MAX_ATTEMPTS);
    }
    if (tr) protobuf_c_message_free_unpacked(&tr->base, NULL);
    protobuf_c_message_free_unpacked(&rr->base, NULL);
    return rc;
}

/* Parses "NAME [--by N]". Returns 0 or an exit code. */
static int counter_args(struct ctl *ctl, int argc, char **argv, int64_t *by, const char *verb)
{
    struct flag_def d[] = {FLAG_DEF_INT64("by", 0, by)};
    int rc = ctl_parse(ctl, d, 1, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 1)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "counter %s needs the counter name as argument",
                         verb);
    if (ctl->args[0][0] == 0) return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "empty counter name");
    return 0;
}

int cmd_counter_create(struct ctl *ctl, int argc, char **argv)
{
    int64_t init = 0;
    int rc = counter_args(ctl, argc, argv, &init, "create");
    return rc ? rc : counter_update(ctl, ctl->args[0], init, true);
}

int cmd_counter_incr(struct ctl *ctl, int argc, char **argv)
{
    int64_t by = 1;
    int rc = counter_args(ctl, argc, argv, &by, "incr");
    return rc ? rc : counter_update(ctl, ctl->args[0], by, false);
}

int cmd_counter_decr(struct ctl *ctl, int argc, char **argv)
{
    int64_t by = 1;
    int rc = counter_args(ctl, argc, argv, &by, "decr");
    if (rc) return rc;
    if (by == INT64_MIN) return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "--by out of range");
    return counter_update(ctl, ctl->args[0], -by, false);
}

int cmd_counter_get(struct ctl *ctl, int argc, char **argv)
{
    int64_t unused = 0;
    int rc = counter_args(ctl, argc, argv, &unused, "get");
    if (rc) return rc;
    Etcdserverpb__RangeResponse *rr;
    if ((rc = counter_read(ctl, ctl->args[0], &rr)) != 0) return rc;
    int64_t v;
    if (rr->n_kvs == 0)
        rc = ctl_error(ctl, CTL_EXIT_ERROR, "counter %s does not exist", ctl->args[0]);
    else if ((rc = counter_value(ctl, ctl->args[0], rr->kvs[0], &v)) == 0)
        fprintf(ctl->out, "%lld\n", (long long)v);
    protobuf_c_message_free_unpacked(&rr->base, NULL);
    return rc;
}
