/* cmd_check.c — etcd's request validation for kv commands, including the txn overlap rule
 * (v3rpc/key.go checkTxnRequest and checkIntervals, reproduced rule for rule). */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_cmd.h"
#include "util/err.h"

static int fail(int *msg, int rc, int m)
{
    if (msg) *msg = m;
    return rc;
}

int kv_range_check(const struct kv_range *r, int *msg)
{
    if (!r->key.len) return fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
    if (r->sort_order > KV_SORT_DESCEND || r->sort_target > KV_SORT_VALUE)
        return fail(msg, CC_EINVAL, KV_MSG_INVALID_SORT);
    return fail(msg, 0, KV_MSG_NONE);
}

static int put_check(const struct kv_put *p, int *msg)
{
    if (!p->key.len) return fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
    if (p->ignore_value && p->value.len) return fail(msg, CC_EINVAL, KV_MSG_VALUE_PROVIDED);
    if (p->ignore_lease && p->lease) return fail(msg, CC_EINVAL, KV_MSG_LEASE_PROVIDED);
    return fail(msg, 0, KV_MSG_NONE);
}

/* etcd checkTxnRequest: the per-list bound shrinks for nested txns (maxTxnOps - opc). */
static int txn_ops_check(const struct kv_txn *t, long max_ops, int *msg)
{
    size_t opc = t->n_cmp;
    if (opc < t->n_success) opc = t->n_success;
    if (opc < t->n_failure) opc = t->n_failure;
    if ((long)opc > max_ops) return fail(msg, CC_ETOOMANYOPS, KV_MSG_TOO_MANY_OPS);
    for (size_t i = 0; i < t->n_cmp; i++)
        if (!t->cmp[i].key.len) return fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
    for (int branch = 0; branch < 2; branch++) {
        const struct kv_op *ops = branch ? t->failure : t->success;
        size_t n = branch ? t->n_failure : t->n_success;
        for (size_t i = 0; i < n; i++) {
            int rc = 0;
            switch (ops[i].type) {
            case KV_OP_RANGE:
                rc = kv_range_check(&ops[i].u.range, msg);
                break;
            case KV_OP_PUT:
                rc = put_check(&ops[i].u.put, msg);
                break;
            case KV_OP_DELETE:
                if (!ops[i].u.del.key.len) rc = fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
                break;
            case KV_OP_TXN:
                rc = txn_ops_check(ops[i].u.txn, max_ops - (long)opc, msg);
                break;
            default:
                rc = fail(msg, CC_EINVAL, KV_MSG_MALFORMED);
            }
            if (rc) return rc;
        }
    }
    return fail(msg, 0, KV_MSG_NONE);
}

/* ---- checkIntervals ---- */

/* Growable arrays from malloc; bounded by KV_TXN_TOTAL_MAX elements of the decoded tree. */
struct keyset {
    struct kv_bytes *k;
    size_t n, cap;
};
/* A delete interval: a point when end.len == 0, [key, +inf) for a from-key delete (end "\0"),
 * else [key, end). etcd compares "\0" literally here (so a from-key delete overlaps nothing and
 * a later put with ignore_value on a key it deleted makes etcd panic in apply); we treat it as
 * the range it deletes, which refuses such txns with the duplicate-key error instead. */
struct ivlset {
    struct kv_bytes *key, *end;
    size_t n, cap;
};

static int bcmp_bytes(struct kv_bytes a, struct kv_bytes b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static bool set_has(const struct keyset *s, struct kv_bytes k)
{
    for (size_t i = 0; i < s->n; i++)
        if (!bcmp_bytes(s->k[i], k)) return true;
    return false;
}

static int set_add(struct keyset *s, struct kv_bytes k)
{
    if (set_has(s, k)) return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct kv_bytes *nk = realloc(s->k, cap * sizeof(*nk));
        if (!nk) return CC_ENOMEM;
        s->k = nk;
        s->cap = cap;
    }
    s->k[s->n++] = k;
    return 0;
}

static int ivl_add(struct ivlset *s, struct kv_bytes key, struct kv_bytes end)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct kv_bytes *nk = realloc(s->key, cap * sizeof(*nk));
        if (!nk) return CC_ENOMEM;
        s->key = nk;
        struct kv_bytes *ne = realloc(s->end, cap * sizeof(*ne));
        if (!ne) return CC_ENOMEM;
        s->end = ne;
        s->cap = cap;
    }
    s->key[s->n] = key;
    s->end[s->n] = end;
    s->n++;
    return 0;
}

static bool ivl_hits(const struct ivlset *s, struct kv_bytes k)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!s->end[i].len) {
            if (!bcmp_bytes(s->key[i], k)) return true;
        } else if (s->end[i].len == 1 && s->end[i].p[0] == 0) {
            if (bcmp_bytes(s->key[i], k) <= 0) return true;
        } else if (bcmp_bytes(s->key[i], k) <= 0 && bcmp_bytes(k, s->end[i]) < 0) {
            return true;
        }
    }
    return false;
}

static void set_free(struct keyset *s)
{
    free(s->k);
    memset(s, 0, sizeof(*s));
}

static void ivl_free(struct ivlset *s)
{
    free(s->key);
    free(s->end);
    memset(s, 0, sizeof(*s));
}

/* Returns 0, CC_EDUPKEY or CC_ENOMEM; on success puts and dels hold this level's sets. */
static int check_intervals(const struct kv_op *ops, size_t n, struct keyset *puts,
                           struct ivlset *dels)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (ops[i].type == KV_OP_DELETE)
            rc = ivl_add(dels, ops[i].u.del.key, ops[i].u.del.range_end);
    for (size_t i = 0; i < n && !rc; i++) {
        if (ops[i].type != KV_OP_TXN) continue;
        const struct kv_txn *t = ops[i].u.txn;
        struct keyset pthen = {0}, pelse = {0};
        struct ivlset dthen = {0}, delse = {0};
        rc = check_intervals(t->success, t->n_success, &pthen, &dthen);
        if (!rc) rc = check_intervals(t->failure, t->n_failure, &pelse, &delse);
        for (size_t j = 0; j < pthen.n && !rc; j++) {
            if (set_has(puts, pthen.k[j]) || ivl_hits(dels, pthen.k[j]))
                rc = CC_EDUPKEY;
            else
                rc = set_add(puts, pthen.k[j]);
        }
        for (size_t j = 0; j < pelse.n && !rc; j++) {
            /* then/else are mutually exclusive: a key put in both branches is fine */
            if (set_has(puts, pelse.k[j]) && !set_has(&pthen, pelse.k[j]))
                rc = CC_EDUPKEY;
            else if (ivl_hits(dels, pelse.k[j]))
                rc = CC_EDUPKEY;
            else
                rc = set_add(puts, pelse.k[j]);
        }
        for (size_t j = 0; j < dthen.n && !rc; j++) rc = ivl_add(dels, dthen.key[j], dthen.end[j]);
        for (size_t j = 0; j < delse.n && !rc; j++) rc = ivl_add(dels, delse.key[j], delse.end[j]);
        set_free(&pthen);
        set_free(&pelse);
        ivl_free(&dthen);
        ivl_free(&delse);
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if (ops[i].type != KV_OP_PUT) continue;
        struct kv_bytes k = ops[i].u.put.key;
        if (set_has(puts, k) || ivl_hits(dels, k))
            rc = CC_EDUPKEY;
        else
            rc = set_add(puts, k);
    }
    return rc;
}

static int list_intervals(const struct kv_op *ops, size_t n)
{
    struct keyset puts = {0};
    struct ivlset dels = {0};
    int rc = check_intervals(ops, n, &puts, &dels);
    set_free(&puts);
    ivl_free(&dels);
    return rc;
}

int kv_txn_check(const struct kv_txn *t, int *msg)
{
    int rc = txn_ops_check(t, KV_TXN_OPS_MAX, msg);
    if (rc) return rc;
    rc = list_intervals(t->success, t->n_success);
    if (!rc) rc = list_intervals(t->failure, t->n_failure);
    if (rc == CC_EDUPKEY) return fail(msg, rc, KV_MSG_DUPLICATE_KEY);
    return fail(msg, rc, KV_MSG_NONE);
}

int kv_auth_check(const struct kv_auth *a, int *msg)
{
    if (a->op == KV_AUTH_USER_ADD && !a->user.len) return fail(msg, CC_EINVAL, KV_MSG_USER_EMPTY);
    if (a->op == KV_AUTH_ROLE_ADD && !a->role.len) return fail(msg, CC_EINVAL, KV_MSG_ROLE_EMPTY);
    if (a->op == KV_AUTH_ROLE_GRANT) {
        /* etcd isValidPermissionRange: a key; key < range_end; or the from-key end "\0" */
        bool from_key = a->range_end.len == 1 && a->range_end.p[0] == 0;
        if (!a->key.len || (a->range_end.len && !from_key && bcmp_bytes(a->key, a->range_end) >= 0))
            return fail(msg, CC_EINVAL, KV_MSG_INVALID_AUTH_MGMT);
    }
    return fail(msg, 0, KV_MSG_NONE);
}

int kv_cmd_check(const struct kv_cmd *cmd, int *msg)
{
    switch (cmd->type) {
    case KV_CMD_PUT:
        return put_check(&cmd->u.put, msg);
    case KV_CMD_DELETE:
        if (!cmd->u.del.key.len) return fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
        break;
    case KV_CMD_TXN:
        return kv_txn_check(&cmd->u.txn, msg);
    case KV_CMD_COUNTER:
        if (!cmd->u.counter.key.len) return fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
        break;
    case KV_CMD_META_PUT:
    case KV_CMD_META_DELETE:
        if (!cmd->u.meta.key.len) return fail(msg, CC_EINVAL, KV_MSG_EMPTY_KEY);
        break;
    case KV_CMD_AUTH:
        return kv_auth_check(&cmd->u.auth, msg);
    case KV_CMD_COMPACT:
    case KV_CMD_LEASE_GRANT:
    case KV_CMD_LEASE_REVOKE:
    case KV_CMD_LEASE_CHECKPOINT:
    case KV_CMD_LEASE_RENEW:
        break;
    default:
        return fail(msg, CC_EINVAL, KV_MSG_MALFORMED);
    }
    return fail(msg, 0, KV_MSG_NONE);
}

bool kv_txn_is_readonly(const struct kv_txn *t)
{
    for (int branch = 0; branch < 2; branch++) {
        const struct kv_op *ops = branch ? t->failure : t->success;
        size_t n = branch ? t->n_failure : t->n_success;
        for (size_t i = 0; i < n; i++) {
            if (ops[i].type == KV_OP_PUT || ops[i].type == KV_OP_DELETE) return false;
            if (ops[i].type == KV_OP_TXN && !kv_txn_is_readonly(ops[i].u.txn)) return false;
        }
    }
    return true;
}
