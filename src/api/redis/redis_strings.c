/* redis_strings.c — Redis string commands: GET, SET, SETNX, GETSET, MGET, MSET, INCR, DECR,
 * INCRBY, DECRBY, APPEND, STRLEN. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/redis/redis_int.h"
#include "util/clock.h"
#include "util/err.h"

#define APPEND_MAX_ATTEMPTS 16

enum set_flags {
    SET_NX = 1u << 0,
    SET_XX = 1u << 1,
    SET_GET = 1u << 2,
    SET_KEEPTTL = 1u << 3,
    SET_TTL = 1u << 4,       /* op->n holds the TTL in ms */
    SET_REPLY_INT = 1u << 5, /* SETNX: reply 1/0 instead of OK/nil */
};

static bool word(struct kv_bytes b, const char *w)
{
    return b.len == strlen(w) && !strncasecmp((const char *)b.p, w, b.len);
}

static int to_ll(struct kv_bytes b, long long *out)
{
    struct resp_str s = {(const char *)b.p, b.len};
    return resp_str_to_ll(s, out);
}

static void reply_kv_value(struct redis_op *op, bool has, const struct kv_kv *kv)
{
    if (has)
        resp_reply_bulk(op->ctx, kv->value.p, kv->value.len);
    else
        resp_reply_null(op->ctx);
}

/* ---- GET / STRLEN / MGET ---- */

static void get_next(struct redis_op *op)
{
    struct kv_kv kv;
    int rc = redis_get_key(op, op->argv[1], &kv);
    if (rc < 0) return;
    if (op->flags)
        resp_reply_int(op->ctx, rc ? (long long)kv.value.len : 0); /* STRLEN */
    else
        reply_kv_value(op, rc == 1, &kv);
    redis_op_finish(op);
}

static void cmd_get(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    redis_read_cmd(ctx, argc, argv, ud, get_next);
}

static void cmd_strlen(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    op->flags = 1;
    redis_read(op, get_next);
}

static void mget_next(struct redis_op *op)
{
    /* Read every key before replying: an error must not arrive inside the array. */
    size_t n = op->argc - 1;
    struct kv_kv *kvs = kv_arena_calloc(&op->a, n, sizeof(*kvs));
    bool *has = kv_arena_calloc(&op->a, n, sizeof(*has));
    if (!kvs || !has) {
        redis_fail(op, CC_ENOMEM, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = redis_get_key(op, op->argv[i + 1], &kvs[i]);
        if (rc < 0) return;
        has[i] = rc == 1;
    }
    resp_reply_array(op->ctx, n);
    for (size_t i = 0; i < n; i++) reply_kv_value(op, has[i], &kvs[i]);
    redis_op_finish(op);
}

static void cmd_mget(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    redis_read_cmd(ctx, argc, argv, ud, mget_next);
}

/* ---- SET family ---- */

static void set_start(struct redis_op *op);

static void set_applied(struct redis_op *op, const struct kv_result *res)
{
    if (res->err == CC_ELEASE && (op->flags & SET_TTL) && ++op->attempt < REDIS_LEASE_ATTEMPTS) {
        op->lease = 0; /* expired before the write arrived: start over with a new lease */
        set_start(op);
        return;
    }
    if (res->err) {
        redis_fail(op, res->err, res->msg);
        return;
    }
    bool done = true;
    bool has_prev = false;
    const struct kv_kv *prev = NULL;
    if (res->type == KV_CMD_TXN) {
        done = res->u.txn.succeeded;
        const struct kv_op_res *r0 = res->u.txn.n ? &res->u.txn.resps[0] : NULL;
        if (r0 && r0->type == KV_OP_PUT && r0->u.put.has_prev) {
            has_prev = true;
            prev = &r0->u.put.prev;
        } else if (r0 && r0->type == KV_OP_RANGE && r0->u.range.n) {
            has_prev = true;
            prev = &r0->u.range.kvs[0];
        }
    } else if (res->u.put.has_prev) {
        has_prev = true;
        prev = &res->u.put.prev;
    }
    if (op->flags & SET_REPLY_INT)
        resp_reply_int(op->ctx, done ? 1 : 0);
    else if (op->flags & SET_GET)
        reply_kv_value(op, has_prev, prev);
    else if (done)
        resp_reply_ok(op->ctx);
    else
        resp_reply_null(op->ctx);
    redis_op_finish(op);
}

static void set_propose(struct redis_op *op)
{
    struct kv_put put;
    memset(&put, 0, sizeof(put));
    put.key = op->argv[1];
    put.value = op->argv[2];
    put.lease = op->lease;
    put.prev_kv = (op->flags & SET_GET) != 0;
    put.ignore_lease = (op->flags & SET_KEEPTTL) != 0;
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    if (!(op->flags & (SET_NX | SET_XX))) {
        c.type = KV_CMD_PUT;
        c.u.put = put;
        redis_write(op, &c, set_applied);
        return;
    }
    struct kv_compare cmp;
    memset(&cmp, 0, sizeof(cmp));
    cmp.key = op->argv[1];
    if (op->flags & SET_NX) {
        cmp.target = KV_CMP_CREATE; /* a missing key compares as 0 */
        cmp.result = KV_CMP_EQUAL;
    } else {
        cmp.target = KV_CMP_VERSION;
        cmp.result = KV_CMP_GREATER;
    }
    struct kv_op ok = {.type = KV_OP_PUT};
    ok.u.put = put;
    struct kv_op get = {.type = KV_OP_RANGE};
    memset(&get.u.range, 0, sizeof(get.u.range));
    get.u.range.key = op->argv[1];
    redis_write_if(op, &cmp, &ok, (op->flags & SET_GET) ? &get : NULL, set_applied);
}

/* Grants the command's lease when it has a TTL, then proposes the write. */
static void set_start(struct redis_op *op)
{
    if (!(op->flags & SET_TTL)) {
        set_propose(op);
        return;
    }
    redis_grant(op, op->n, set_propose);
}

static void cmd_set(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    for (size_t i = 3; i < op->argc; i++) {
        struct kv_bytes a = op->argv[i];
        bool has_next = i + 1 < op->argc;
        if (word(a, "NX") && !(op->flags & SET_XX))
            op->flags |= SET_NX;
        else if (word(a, "XX") && !(op->flags & SET_NX))
            op->flags |= SET_XX;
        else if (word(a, "GET"))
            op->flags |= SET_GET;
        else if (word(a, "KEEPTTL") && !(op->flags & SET_TTL))
            op->flags |= SET_KEEPTTL;
        else if ((word(a, "EX") || word(a, "PX") || word(a, "EXAT") || word(a, "PXAT")) &&
                 has_next && !(op->flags & (SET_TTL | SET_KEEPTTL))) {
            long long v;
            if (to_ll(op->argv[i + 1], &v)) {
                resp_reply_error(ctx, "-ERR value is not an integer or out of range");
                redis_op_finish(op);
                return;
            }
            bool secs = word(a, "EX") || word(a, "EXAT");
            bool abs = word(a, "EXAT") || word(a, "PXAT");
            if (v <= 0 || (secs && v > LLONG_MAX / 1000)) {
                resp_reply_error(ctx, "-ERR invalid expire time in 'set' command");
                redis_op_finish(op);
                return;
            }
            long long ms = secs ? v * 1000 : v;
            if (abs) ms -= (long long)clock_wall_ms();
            if (ms <= 0) ms = 1; /* already past: expires at once */
            op->n = ms;
            op->flags |= SET_TTL;
            i++;
        } else {
            resp_reply_error(ctx, "-ERR syntax error");
            redis_op_finish(op);
            return;
        }
    }
    set_start(op);
}

static void cmd_setnx(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    op->flags = SET_NX | SET_REPLY_INT;
    set_start(op);
}

static void cmd_getset(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    op->flags = SET_GET;
    set_start(op);
}

/* ---- MSET ---- */

static void mset_applied(struct redis_op *op, const struct kv_result *res)
{
    if (res->err) {
        redis_fail(op, res->err, res->msg);
        return;
    }
    resp_reply_ok(op->ctx);
    redis_op_finish(op);
}

static void cmd_mset(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    if (argc % 2 != 1) {
        resp_reply_arity_error(ctx);
        resp_done(ctx);
        return;
    }
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    size_t pairs = (argc - 1) / 2;
    struct kv_op *ops = kv_arena_calloc(&op->a, pairs, sizeof(*ops));
    if (!ops) {
        redis_fail(op, CC_ENOMEM, 0);
        return;
    }
    /* A key given twice: the last value wins (Redis), and a txn may not put one key twice. */
    size_t n = 0;
    for (size_t i = 0; i < pairs; i++) {
        struct kv_bytes k = op->argv[1 + 2 * i];
        bool later = false;
        for (size_t j = i + 1; j < pairs && !later; j++) {
            struct kv_bytes k2 = op->argv[1 + 2 * j];
            later = k2.len == k.len && !memcmp(k2.p, k.p, k.len);
        }
        if (later) continue;
        ops[n].type = KV_OP_PUT;
        ops[n].u.put.key = k;
        ops[n].u.put.value = op->argv[2 + 2 * i];
        n++;
    }
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_TXN;
    c.u.txn.success = ops;
    c.u.txn.n_success = n;
    redis_write(op, &c, mset_applied);
}

/* ---- counters ---- */

static void counter_applied(struct redis_op *op, const struct kv_result *res)
{
    if (res->err) {
        redis_fail(op, res->err, res->msg);
        return;
    }
    resp_reply_int(op->ctx, res->u.counter.value);
    redis_op_finish(op);
}

static void counter(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud,
                    long long sign, bool has_arg)
{
    long long delta = 1;
    if (has_arg && resp_str_to_ll(argv[2], &delta)) {
        resp_reply_error(ctx, "-ERR value is not an integer or out of range");
        resp_done(ctx);
        return;
    }
    if (sign < 0) {
        if (delta == LLONG_MIN) {
            resp_reply_error(ctx, "-ERR decrement would overflow");
            resp_done(ctx);
            return;
        }
        delta = -delta;
    }
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_COUNTER;
    c.u.counter.key = op->argv[1];
    c.u.counter.delta = delta;
    redis_write(op, &c, counter_applied);
}

static void cmd_incr(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    counter(ctx, argc, argv, ud, 1, false);
}

static void cmd_decr(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    counter(ctx, argc, argv, ud, -1, false);
}

static void cmd_incrby(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    counter(ctx, argc, argv, ud, 1, true);
}

static void cmd_decrby(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    counter(ctx, argc, argv, ud, -1, true);
}

/* ---- APPEND: optimistic read-modify-write on the key's mod revision ---- */

static void append_read(struct redis_op *op);

static void append_applied(struct redis_op *op, const struct kv_result *res)
{
    if (res->err) {
        redis_fail(op, res->err, res->msg);
        return;
    }
    if (!res->u.txn.succeeded) {
        if (++op->attempt >= APPEND_MAX_ATTEMPTS) {
            resp_reply_error(op->ctx, "-TRYAGAIN the key changed too often, retry APPEND");
            redis_op_finish(op);
            return;
        }
        redis_read(op, append_read); /* someone wrote in between: read again */
        return;
    }
    resp_reply_int(op->ctx, op->n);
    redis_op_finish(op);
}

static void append_read(struct redis_op *op)
{
    struct kv_kv kv;
    int rc = redis_get_key(op, op->argv[1], &kv);
    if (rc < 0) return;
    size_t old = rc ? kv.value.len : 0;
    size_t add = op->argv[2].len;
    if (old + add > KV_VALUE_MAX) {
        resp_reply_error(op->ctx, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        redis_op_finish(op);
        return;
    }
    uint8_t *v = kv_arena_alloc(&op->a, old + add);
    if (!v && old + add) {
        redis_fail(op, CC_ENOMEM, 0);
        return;
    }
    if (old) memcpy(v, kv.value.p, old);
    memcpy(v + old, op->argv[2].p, add);
    op->n = (int64_t)(old + add);
    struct kv_compare cmp;
    memset(&cmp, 0, sizeof(cmp));
    cmp.key = op->argv[1];
    cmp.target = rc ? KV_CMP_MOD : KV_CMP_CREATE;
    cmp.result = KV_CMP_EQUAL;
    cmp.number = rc ? kv.mod_rev : 0;
    struct kv_op put = {.type = KV_OP_PUT};
    memset(&put.u.put, 0, sizeof(put.u.put));
    put.u.put.key = op->argv[1];
    put.u.put.value.p = v;
    put.u.put.value.len = old + add;
    put.u.put.ignore_lease = rc == 1; /* APPEND keeps the key's TTL */
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_TXN;
    c.u.txn.cmp = &cmp;
    c.u.txn.n_cmp = 1;
    c.u.txn.success = &put;
    c.u.txn.n_success = 1;
    redis_write(op, &c, append_applied);
}

static void cmd_append(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    redis_read_cmd(ctx, argc, argv, ud, append_read);
}

int redis__register_strings(struct resp_server *srv, struct member *m)
{
    const struct resp_command cmds[] = {
        {"get", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1, "Returns the string value of a key.",
         "1.0.0", "string", cmd_get, m},
        {"strlen", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1,
         "Returns the length of a string value.", "2.2.0", "string", cmd_strlen, m},
        {"mget", -2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, -1, 1,
         "Atomically returns the string values of one or more keys.", "1.0.0", "string", cmd_mget,
         m},
        {"set", -3, RESP_CMD_WRITE | RESP_CMD_DENYOOM, 1, 1, 1,
         "Sets the string value of a key, ignoring its type. The key is created if it doesn't "
         "exist.",
         "1.0.0", "string", cmd_set, m},
        {"setnx", 3, RESP_CMD_WRITE | RESP_CMD_DENYOOM | RESP_CMD_FAST, 1, 1, 1,
         "Set the string value of a key only when the key doesn't exist.", "1.0.0", "string",
         cmd_setnx, m},
        {"getset", 3, RESP_CMD_WRITE | RESP_CMD_DENYOOM | RESP_CMD_FAST, 1, 1, 1,
         "Returns the previous string value of a key after setting it to a new value.", "1.0.0",
         "string", cmd_getset, m},
        {"mset", -3, RESP_CMD_WRITE | RESP_CMD_DENYOOM, 1, -1, 2,
         "Atomically creates or modifies the string values of one or more keys.", "1.0.1", "string",
         cmd_mset, m},
        {"incr", 2, RESP_CMD_WRITE | RESP_CMD_DENYOOM | RESP_CMD_FAST, 1, 1, 1,
         "Increments the integer value of a key by one.", "1.0.0", "string", cmd_incr, m},
        {"decr", 2, RESP_CMD_WRITE | RESP_CMD_DENYOOM | RESP_CMD_FAST, 1, 1, 1,
         "Decrements the integer value of a key by one.", "1.0.0", "string", cmd_decr, m},
        {"incrby", 3, RESP_CMD_WRITE | RESP_CMD_DENYOOM | RESP_CMD_FAST, 1, 1, 1,
         "Increments the integer value of a key by a number.", "1.0.0", "string", cmd_incrby, m},
        {"decrby", 3, RESP_CMD_WRITE | RESP_CMD_DENYOOM | RESP_CMD_FAST, 1, 1, 1,
         "Decrements a number from the integer value of a key.", "1.0.0", "string", cmd_decrby, m},
        {"append", 3, RESP_CMD_WRITE | RESP_CMD_DENYOOM, 1, 1, 1,
         "Appends a string to the value of a key. Creates the key if it doesn't exist.", "2.0.0",
         "string", cmd_append, m},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int rc = resp_server_register(srv, &cmds[i]);
        if (rc) return rc;
    }
    return 0;
}
