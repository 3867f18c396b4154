/* cmd.c — binary encoding and strict decoding of replicated kv commands (format in kv_cmd.h). */
#include "kv/kv_cmd.h"

#include <string.h>

#include "util/err.h"

static const char *const msg_table[KV_MSG_COUNT_] = {
    [KV_MSG_NONE] = "",
    [KV_MSG_EMPTY_KEY] = "etcdserver: key is not provided",
    [KV_MSG_VALUE_PROVIDED] = "etcdserver: value is provided",
    [KV_MSG_LEASE_PROVIDED] = "etcdserver: lease is provided",
    [KV_MSG_TOO_MANY_OPS] = "etcdserver: too many operations in txn request",
    [KV_MSG_DUPLICATE_KEY] = "etcdserver: duplicate key given in txn request",
    [KV_MSG_INVALID_SORT] = "etcdserver: invalid sort option",
    [KV_MSG_KEY_NOT_FOUND] = "etcdserver: key not found",
    [KV_MSG_LEASE_NOT_FOUND] = "etcdserver: requested lease not found",
    [KV_MSG_LEASE_EXISTS] = "etcdserver: lease already exists",
    [KV_MSG_LEASE_TTL_TOO_LARGE] = "etcdserver: too large lease TTL",
    [KV_MSG_COMPACTED] = "etcdserver: mvcc: required revision has been compacted",
    [KV_MSG_FUTURE_REV] = "etcdserver: mvcc: required revision is a future revision",
    [KV_MSG_NOT_INTEGER] = "ERR value is not an integer or out of range",
    [KV_MSG_OVERFLOW] = "ERR increment or decrement would overflow",
    [KV_MSG_STALE_SEQ] = "concur: request sequence number is older than the session's last",
    [KV_MSG_RESULT_FORGOTTEN] = "concur: duplicate request whose result was too large to keep",
    [KV_MSG_TOO_LARGE] = "concur: request or result too large",
    [KV_MSG_MALFORMED] = "concur: malformed command",
    [KV_MSG_BAD_VERSION] = "concur: unsupported command format version",
    [KV_MSG_TOO_DEEP] = "concur: transactions nested too deeply",
    [KV_MSG_USER_EXISTS] = "etcdserver: user name already exists",
    [KV_MSG_USER_NOT_FOUND] = "etcdserver: user name not found",
    [KV_MSG_USER_EMPTY] = "etcdserver: user name is empty",
    [KV_MSG_ROLE_EXISTS] = "etcdserver: role name already exists",
    [KV_MSG_ROLE_NOT_FOUND] = "etcdserver: role name not found",
    [KV_MSG_ROLE_EMPTY] = "etcdserver: role name is empty",
    [KV_MSG_ROLE_NOT_GRANTED] = "etcdserver: role is not granted to the user",
    [KV_MSG_PERM_NOT_GRANTED] = "etcdserver: permission is not granted to the role",
    [KV_MSG_INVALID_AUTH_MGMT] = "etcdserver: invalid auth management",
    [KV_MSG_AUTH_LIMIT] = "concur: too many users, roles, role grants or permissions",
};

const char *kv_msg_str(int m)
{
    if (m < 0 || m >= KV_MSG_COUNT_ || !msg_table[m]) return "unknown error";
    return msg_table[m];
}

/* ---- encoding ---- */

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* Encoder state: the first failure sticks, so callers check once. */
struct enc {
    struct buf *b;
    int rc;
};

static void e_u8(struct enc *e, uint8_t v)
{
    if (!e->rc) e->rc = buf_put_u8(e->b, v);
}

static void e_uv(struct enc *e, uint64_t v)
{
    if (!e->rc) e->rc = buf_put_uvarint(e->b, v);
}

static void e_sv(struct enc *e, int64_t v)
{
    e_uv(e, zigzag(v));
}

static void e_bytes(struct enc *e, struct kv_bytes s, size_t max)
{
    if (!e->rc && s.len > max) e->rc = CC_ETOOBIG;
    e_uv(e, s.len);
    if (!e->rc) e->rc = buf_append(e->b, s.p, s.len);
}

static void e_put(struct enc *e, const struct kv_put *p)
{
    e_bytes(e, p->key, KV_KEY_MAX);
    e_bytes(e, p->value, KV_VALUE_MAX);
    e_sv(e, p->lease);
    e_u8(e, (uint8_t)(p->prev_kv | p->ignore_value << 1 | p->ignore_lease << 2));
}

static void e_delete(struct enc *e, const struct kv_delete *d)
{
    e_bytes(e, d->key, KV_KEY_MAX);
    e_bytes(e, d->range_end, KV_KEY_MAX);
    e_u8(e, (uint8_t)d->prev_kv);
}

static void e_range(struct enc *e, const struct kv_range *r)
{
    e_bytes(e, r->key, KV_KEY_MAX);
    e_bytes(e, r->range_end, KV_KEY_MAX);
    e_sv(e, r->limit);
    e_sv(e, r->revision);
    e_u8(e, r->sort_order);
    e_u8(e, r->sort_target);
    e_u8(e, (uint8_t)(r->keys_only | r->count_only << 1));
    e_sv(e, r->min_mod_rev);
    e_sv(e, r->max_mod_rev);
    e_sv(e, r->min_create_rev);
    e_sv(e, r->max_create_rev);
}

static void e_txn(struct enc *e, const struct kv_txn *t, unsigned depth);

static void e_ops(struct enc *e, const struct kv_op *ops, size_t n, unsigned depth)
{
    e_uv(e, n);
    for (size_t i = 0; i < n && !e->rc; i++) {
        e_u8(e, ops[i].type);
        switch (ops[i].type) {
        case KV_OP_RANGE:
            e_range(e, &ops[i].u.range);
            break;
        case KV_OP_PUT:
            e_put(e, &ops[i].u.put);
            break;
        case KV_OP_DELETE:
            e_delete(e, &ops[i].u.del);
            break;
        case KV_OP_TXN:
            if (!ops[i].u.txn)
                e->rc = CC_EINVAL;
            else
                e_txn(e, ops[i].u.txn, depth + 1);
            break;
        default:
            e->rc = CC_EINVAL;
        }
    }
}

static void e_txn(struct enc *e, const struct kv_txn *t, unsigned depth)
{
    if (depth > KV_TXN_DEPTH_MAX) {
        e->rc = CC_EINVAL;
        return;
    }
    e_uv(e, t->n_cmp);
    for (size_t i = 0; i < t->n_cmp && !e->rc; i++) {
        const struct kv_compare *c = &t->cmp[i];
        e_u8(e, c->target);
        e_u8(e, c->result);
        e_bytes(e, c->key, KV_KEY_MAX);
        e_bytes(e, c->range_end, KV_KEY_MAX);
        if (c->target == KV_CMP_VALUE)
            e_bytes(e, c->value, KV_VALUE_MAX);
        else
            e_sv(e, c->number);
    }
    e_ops(e, t->success, t->n_success, depth);
    e_ops(e, t->failure, t->n_failure, depth);
}

int kv_cmd_encode(const struct kv_cmd *cmd, struct buf *out)
{
    size_t start = out->len;
    struct enc e = {out, 0};
    e_u8(&e, KV_CMD_VERSION);
    e_u8(&e, cmd->type);
    e_u8(&e, cmd->has_session ? 1 : 0);
    if (cmd->has_session) {
        e_uv(&e, cmd->client_id);
        e_uv(&e, cmd->seq);
    }
    switch (cmd->type) {
    case KV_CMD_PUT:
        e_put(&e, &cmd->u.put);
        break;
    case KV_CMD_DELETE:
        e_delete(&e, &cmd->u.del);
        break;
    case KV_CMD_TXN:
        e_txn(&e, &cmd->u.txn, 1);
        break;
    case KV_CMD_COMPACT:
        e_sv(&e, cmd->u.compact.revision);
        e_u8(&e, cmd->u.compact.physical ? 1 : 0);
        break;
    case KV_CMD_LEASE_GRANT:
        e_sv(&e, cmd->u.grant.id);
        e_sv(&e, cmd->u.grant.ttl_ms);
        e_sv(&e, cmd->u.grant.min_ttl_ms);
        break;
    case KV_CMD_LEASE_REVOKE:
        e_sv(&e, cmd->u.revoke_id);
        break;
    case KV_CMD_LEASE_RENEW:
        e_sv(&e, cmd->u.renew_id);
        break;
    case KV_CMD_LEASE_CHECKPOINT:
        if (cmd->u.checkpoint.n > KV_CHECKPOINTS_MAX) e.rc = CC_ETOOBIG;
        e_uv(&e, cmd->u.checkpoint.n);
        for (size_t i = 0; i < cmd->u.checkpoint.n && !e.rc; i++) {
            e_sv(&e, cmd->u.checkpoint.cps[i].id);
            e_sv(&e, cmd->u.checkpoint.cps[i].remaining_ms);
        }
        break;
    case KV_CMD_COUNTER:
        e_bytes(&e, cmd->u.counter.key, KV_KEY_MAX);
        e_sv(&e, cmd->u.counter.delta);
        break;
    case KV_CMD_META_PUT:
        e_bytes(&e, cmd->u.meta.key, KV_META_KEY_MAX);
        e_bytes(&e, cmd->u.meta.value, KV_META_VALUE_MAX);
        break;
    case KV_CMD_META_DELETE:
        e_bytes(&e, cmd->u.meta.key, KV_META_KEY_MAX);
        break;
    case KV_CMD_AUTH: {
        const struct kv_auth *au = &cmd->u.auth;
        if (au->op == 0 || au->op >= KV_AUTH_OP_COUNT_ || au->perm > KV_PERM_READWRITE)
            e.rc = CC_EINVAL;
        e_u8(&e, au->op);
        e_bytes(&e, au->user, KV_AUTH_NAME_MAX);
        e_bytes(&e, au->role, KV_AUTH_NAME_MAX);
        e_bytes(&e, au->hash, KV_AUTH_HASH_MAX);
        e_u8(&e, au->no_password ? 1 : 0);
        e_bytes(&e, au->key, KV_KEY_MAX);
        e_bytes(&e, au->range_end, KV_KEY_MAX);
        e_u8(&e, au->perm);
        break;
    }
    default:
        e.rc = CC_EINVAL;
    }
    if (!e.rc && out->len - start > KV_CMD_MAX) e.rc = CC_ETOOBIG;
    if (e.rc) out->len = start;
    return e.rc;
}

/* ---- decoding ---- */

struct dec {
    struct cursor c;
    struct kv_arena *a;
    int rc;       /* first error */
    int msg;      /* its kv_msg */
    size_t elems; /* compares + ops decoded so far (bounded by KV_TXN_TOTAL_MAX) */
};

static void d_fail(struct dec *d, int rc, int msg)
{
    if (!d->rc) {
        d->rc = rc;
        d->msg = msg;
    }
    d->c.left = 0;
}

static uint8_t d_u8(struct dec *d)
{
    uint8_t v = cursor_u8(&d->c);
    if (d->c.err) d_fail(d, CC_EINVAL, KV_MSG_MALFORMED);
    return v;
}

static uint64_t d_uv(struct dec *d)
{
    uint64_t v = cursor_uvarint(&d->c);
    if (d->c.err) d_fail(d, CC_EINVAL, KV_MSG_MALFORMED);
    return v;
}

static int64_t d_sv(struct dec *d)
{
    return unzigzag(d_uv(d));
}

static bool d_bool_bits(struct dec *d, unsigned nbits, uint8_t *bits)
{
    *bits = d_u8(d);
    if (*bits >> nbits) d_fail(d, CC_EINVAL, KV_MSG_MALFORMED);
    return !d->rc;
}

static struct kv_bytes d_bytes(struct dec *d, size_t max)
{
    struct kv_bytes s = {NULL, 0};
    uint64_t n = d_uv(d);
    if (d->rc) return s;
    if (n > max) {
        d_fail(d, CC_ETOOBIG, KV_MSG_TOO_LARGE);
        return s;
    }
    if (n > d->c.left) {
        d_fail(d, CC_EINVAL, KV_MSG_MALFORMED);
        return s;
    }
    s.p = cursor_bytes(&d->c, (size_t)n);
    s.len = (size_t)n;
    if (!s.p) s.p = (const uint8_t *)"";
    return s;
}

/* Reads an element count and allocates n elements of size sz, after checking that n is
 * plausible: every element takes at least min_bytes of the remaining input. */
static void *d_array(struct dec *d, size_t sz, size_t min_bytes, size_t max, size_t *n_out)
{
    uint64_t n = d_uv(d);
    *n_out = 0;
    if (d->rc) return NULL;
    if (n > max || n > d->c.left / min_bytes) {
        d_fail(d, n > max ? CC_ETOOBIG : CC_EINVAL, n > max ? KV_MSG_TOO_LARGE : KV_MSG_MALFORMED);
        return NULL;
    }
    if (n == 0) return NULL;
    void *arr = kv_arena_calloc(d->a, (size_t)n, sz);
    if (!arr) {
        d_fail(d, CC_ENOMEM, KV_MSG_NONE);
        return NULL;
    }
    *n_out = (size_t)n;
    return arr;
}

static void d_put(struct dec *d, struct kv_put *p)
{
    p->key = d_bytes(d, KV_KEY_MAX);
    p->value = d_bytes(d, KV_VALUE_MAX);
    p->lease = d_sv(d);
    uint8_t bits;
    if (!d_bool_bits(d, 3, &bits)) return;
    p->prev_kv = bits & 1;
    p->ignore_value = bits >> 1 & 1;
    p->ignore_lease = bits >> 2 & 1;
}

static void d_delete(struct dec *d, struct kv_delete *x)
{
    x->key = d_bytes(d, KV_KEY_MAX);
    x->range_end = d_bytes(d, KV_KEY_MAX);
    uint8_t bits;
    if (d_bool_bits(d, 1, &bits)) x->prev_kv = bits & 1;
}

static void d_range(struct dec *d, struct kv_range *r)
{
    r->key = d_bytes(d, KV_KEY_MAX);
    r->range_end = d_bytes(d, KV_KEY_MAX);
    r->limit = d_sv(d);
    r->revision = d_sv(d);
    /* Sort enums are checked by kv_range_check (etcd's "invalid sort option"), not here. */
    r->sort_order = d_u8(d);
    r->sort_target = d_u8(d);
    uint8_t bits;
    if (!d_bool_bits(d, 2, &bits)) return;
    r->keys_only = bits & 1;
    r->count_only = bits >> 1 & 1;
    r->min_mod_rev = d_sv(d);
    r->max_mod_rev = d_sv(d);
    r->min_create_rev = d_sv(d);
    r->max_create_rev = d_sv(d);
}

static void d_txn(struct dec *d, struct kv_txn *t, unsigned depth);

static bool d_count_elems(struct dec *d, size_t n)
{
    d->elems += n;
    if (d->elems > KV_TXN_TOTAL_MAX) d_fail(d, CC_ETOOBIG, KV_MSG_TOO_LARGE);
    return !d->rc;
}

static struct kv_op *d_ops(struct dec *d, size_t *n_out, unsigned depth)
{
    size_t n;
    struct kv_op *ops = d_array(d, sizeof(*ops), 2, KV_TXN_TOTAL_MAX, &n);
    *n_out = 0;
    if (d->rc || !d_count_elems(d, n)) return NULL;
    for (size_t i = 0; i < n && !d->rc; i++) {
        ops[i].type = d_u8(d);
        switch (ops[i].type) {
        case KV_OP_RANGE:
            d_range(d, &ops[i].u.range);
            break;
        case KV_OP_PUT:
            d_put(d, &ops[i].u.put);
            break;
        case KV_OP_DELETE:
            d_delete(d, &ops[i].u.del);
            break;
        case KV_OP_TXN:
            if (depth + 1 > KV_TXN_DEPTH_MAX) {
                d_fail(d, CC_EINVAL, KV_MSG_TOO_DEEP);
                break;
            }
            ops[i].u.txn = kv_arena_calloc(d->a, 1, sizeof(struct kv_txn));
            if (!ops[i].u.txn)
                d_fail(d, CC_ENOMEM, KV_MSG_NONE);
            else
                d_txn(d, ops[i].u.txn, depth + 1);
            break;
        default:
            d_fail(d, CC_EINVAL, KV_MSG_MALFORMED);
        }
    }
    if (!d->rc) *n_out = n;
    return ops;
}

static void d_txn(struct dec *d, struct kv_txn *t, unsigned depth)
{
    size_t n;
    t->cmp = d_array(d, sizeof(*t->cmp), 5, KV_TXN_TOTAL_MAX, &n);
    if (d->rc || !d_count_elems(d, n)) return;
    for (size_t i = 0; i < n && !d->rc; i++) {
        struct kv_compare *c = &t->cmp[i];
        c->target = d_u8(d);
        c->result = d_u8(d);
        if (c->target > KV_CMP_LEASE || c->result > KV_CMP_NOT_EQUAL) {
            d_fail(d, CC_EINVAL, KV_MSG_MALFORMED);
            break;
        }
        c->key = d_bytes(d, KV_KEY_MAX);
        c->range_end = d_bytes(d, KV_KEY_MAX);
        if (c->target == KV_CMP_VALUE)
            c->value = d_bytes(d, KV_VALUE_MAX);
        else
            c->number = d_sv(d);
    }
    if (d->rc) return;
    t->n_cmp = n;
    t->success = d_ops(d, &t->n_success, depth);
    if (d->rc) return;
    t->failure = d_ops(d, &t->n_failure, depth);
}

static void d_auth(struct dec *d, struct kv_auth *au)
{
    au->op = d_u8(d);
    if (!d->rc && (au->op == 0 || au->op >= KV_AUTH_OP_COUNT_)) {
        d_fail(d, CC_EINVAL, KV_MSG_MALFORMED);
        return;
    }
    au->user = d_bytes(d, KV_AUTH_NAME_MAX);
    au->role = d_bytes(d, KV_AUTH_NAME_MAX);
    au->hash = d_bytes(d, KV_AUTH_HASH_MAX);
    uint8_t bits;
    if (d_bool_bits(d, 1, &bits)) au->no_password = bits & 1;
    au->key = d_bytes(d, KV_KEY_MAX);
    au->range_end = d_bytes(d, KV_KEY_MAX);
    au->perm = d_u8(d);
    if (!d->rc && au->perm > KV_PERM_READWRITE) d_fail(d, CC_EINVAL, KV_MSG_MALFORMED);
}

int kv_cmd_decode(const uint8_t *p, size_t len, struct kv_arena *a, struct kv_cmd *out, int *msg)
{
    struct dec d = {.a = a};
    memset(out, 0, sizeof(*out));
    if (len > KV_CMD_MAX) {
        if (msg) *msg = KV_MSG_TOO_LARGE;
        return CC_ETOOBIG;
    }
    cursor_init(&d.c, p, len);
    uint8_t version = d_u8(&d);
    if (!d.rc && version != KV_CMD_VERSION) d_fail(&d, CC_EINVAL, KV_MSG_BAD_VERSION);
    out->type = d_u8(&d);
    uint8_t flags;
    if (d_bool_bits(&d, 1, &flags) && (flags & 1)) {
        out->has_session = true;
        out->client_id = d_uv(&d);
        out->seq = d_uv(&d);
    }
    if (!d.rc) {
        switch (out->type) {
        case KV_CMD_PUT:
            d_put(&d, &out->u.put);
            break;
        case KV_CMD_DELETE:
            d_delete(&d, &out->u.del);
            break;
        case KV_CMD_TXN:
            d_txn(&d, &out->u.txn, 1);
            break;
        case KV_CMD_COMPACT: {
            out->u.compact.revision = d_sv(&d);
            uint8_t bits;
            if (d_bool_bits(&d, 1, &bits)) out->u.compact.physical = bits & 1;
            break;
        }
        case KV_CMD_LEASE_GRANT:
            out->u.grant.id = d_sv(&d);
            out->u.grant.ttl_ms = d_sv(&d);
            out->u.grant.min_ttl_ms = d_sv(&d);
            break;
        case KV_CMD_LEASE_REVOKE:
            out->u.revoke_id = d_sv(&d);
            break;
        case KV_CMD_LEASE_RENEW:
            out->u.renew_id = d_sv(&d);
            break;
        case KV_CMD_LEASE_CHECKPOINT: {
            size_t n;
            struct kv_lease_cp *cps = d_array(&d, sizeof(*cps), 2, KV_CHECKPOINTS_MAX, &n);
            for (size_t i = 0; i < n && !d.rc; i++) {
                cps[i].id = d_sv(&d);
                cps[i].remaining_ms = d_sv(&d);
            }
            out->u.checkpoint.cps = cps;
            out->u.checkpoint.n = d.rc ? 0 : n;
            break;
        }
        case KV_CMD_COUNTER:
            out->u.counter.key = d_bytes(&d, KV_KEY_MAX);
            out->u.counter.delta = d_sv(&d);
            break;
        case KV_CMD_META_PUT:
            out->u.meta.key = d_bytes(&d, KV_META_KEY_MAX);
            out->u.meta.value = d_bytes(&d, KV_META_VALUE_MAX);
            break;
        case KV_CMD_META_DELETE:
            out->u.meta.key = d_bytes(&d, KV_META_KEY_MAX);
            break;
        case KV_CMD_AUTH:
            d_auth(&d, &out->u.auth);
            break;
        default:
            d_fail(&d, CC_EINVAL, KV_MSG_MALFORMED);
        }
    }
    if (!d.rc && d.c.left) d_fail(&d, CC_EINVAL, KV_MSG_MALFORMED);
    if (msg) *msg = d.rc ? d.msg : KV_MSG_NONE;
    return d.rc;
}

bool kv_cmd_session(const uint8_t *p, size_t len, uint64_t *client_id, uint64_t *seq)
{
    struct cursor c;
    cursor_init(&c, p, len);
    uint8_t version = cursor_u8(&c);
    uint8_t type = cursor_u8(&c);
    uint8_t flags = cursor_u8(&c);
    if (c.err || version != KV_CMD_VERSION || type == KV_CMD_NONE || type >= KV_CMD_TYPE_COUNT_ ||
        flags != 1)
        return false;
    uint64_t id = cursor_uvarint(&c), sq = cursor_uvarint(&c);
    if (c.err) return false;
    *client_id = id;
    *seq = sq;
    return true;
}
