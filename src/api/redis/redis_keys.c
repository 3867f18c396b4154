/* redis_keys.c — Redis keyspace commands: DEL, EXISTS, EXPIRE, PEXPIRE, TTL, PTTL, PERSIST,
 * KEYS, SCAN, DBSIZE, TYPE, FLUSHDB, FLUSHALL. Expiry is an etcd lease attached to the key. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/redis/redis_int.h"
#include "util/err.h"

#define SCAN_CURSORS   16 /* SCAN cursors remembered per connection */
#define SCAN_DEFAULT   10
#define SCAN_MAX_COUNT 100000

/* Per-connection state: SCAN cursors map a numeric cursor to the last key returned, so keys
 * present for the whole iteration are returned even when others come and go. */
struct redis_conn {
    uint64_t next_id;
    struct {
        uint64_t id;
        uint8_t *key;
        size_t len;
    } cur[SCAN_CURSORS];
    unsigned clock;
};

void redis_conn_open(struct resp_conn *conn, void *arg)
{
    (void)arg;
    resp_conn_set_data(conn, calloc(1, sizeof(struct redis_conn)));
}

void redis_conn_close(struct resp_conn *conn, void *arg)
{
    (void)arg;
    struct redis_conn *rc = resp_conn_data(conn);
    if (!rc) return;
    for (int i = 0; i < SCAN_CURSORS; i++) free(rc->cur[i].key);
    free(rc);
    resp_conn_set_data(conn, NULL);
}

static bool word(struct kv_bytes b, const char *w)
{
    return b.len == strlen(w) && !strncasecmp((const char *)b.p, w, b.len);
}

static const struct kv_bytes all_keys = {redis_zero_byte, 1};

static void txn_applied_count(struct redis_op *op, const struct kv_result *res)
{
    if (res->err) {
        redis_fail(op, res->err, res->msg);
        return;
    }
    /* op->flags set: 1 when the txn's compare held (EXPIRE, PERSIST); otherwise the number
     * of keys deleted (DEL, an EXPIRE in the past). */
    long long n = 0;
    if (res->type == KV_CMD_TXN && op->flags) {
        n = res->u.txn.succeeded ? 1 : 0;
    } else if (res->type == KV_CMD_TXN) {
        for (size_t i = 0; i < res->u.txn.n; i++)
            if (res->u.txn.resps[i].type == KV_OP_DELETE) n += res->u.txn.resps[i].u.del.deleted;
    } else if (res->type == KV_CMD_DELETE) {
        n = res->u.del.deleted;
    }
    resp_reply_int(op->ctx, n);
    redis_op_finish(op);
}

/* ---- DEL ---- */

static void cmd_del(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    struct kv_op *ops = kv_arena_calloc(&op->a, argc - 1, sizeof(*ops));
    if (!ops) {
        redis_fail(op, CC_ENOMEM, 0);
        return;
    }
    for (size_t i = 1; i < argc; i++) {
        ops[i - 1].type = KV_OP_DELETE;
        ops[i - 1].u.del.key = op->argv[i];
    }
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_TXN;
    c.u.txn.success = ops;
    c.u.txn.n_success = argc - 1;
    redis_write(op, &c, txn_applied_count);
}

/* ---- EXISTS / TYPE ---- */

static void exists_next(struct redis_op *op)
{
    long long n = 0;
    for (size_t i = 1; i < op->argc; i++) {
        struct kv_kv kv;
        int rc = redis_get_key(op, op->argv[i], &kv);
        if (rc < 0) return;
        n += rc;
    }
    resp_reply_int(op->ctx, n);
    redis_op_finish(op);
}

static void cmd_exists(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    redis_read_cmd(ctx, argc, argv, ud, exists_next);
}

static void type_next(struct redis_op *op)
{
    struct kv_kv kv;
    int rc = redis_get_key(op, op->argv[1], &kv);
    if (rc < 0) return;
    resp_reply_simple(op->ctx, rc ? "string" : "none");
    redis_op_finish(op);
}

static void cmd_type(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    redis_read_cmd(ctx, argc, argv, ud, type_next);
}

/* ---- EXPIRE / PEXPIRE / PERSIST ---- */

static void expire_attach(struct redis_op *op);

static void expire_attached(struct redis_op *op, const struct kv_result *res)
{
    if (res->err == CC_ELEASE && ++op->attempt < REDIS_LEASE_ATTEMPTS) {
        redis_grant(op, op->n, expire_attach); /* it expired before the write: a new one */
        return;
    }
    txn_applied_count(op, res);
}

/* Attaches op->lease to the key if it exists; replies 1 or 0. */
static void expire_attach(struct redis_op *op)
{
    struct kv_compare cmp;
    memset(&cmp, 0, sizeof(cmp));
    cmp.key = op->argv[1];
    cmp.target = KV_CMP_VERSION;
    cmp.result = KV_CMP_GREATER;
    struct kv_op put = redis_put_keep_value(op->argv[1], op->lease);
    op->flags = 1; /* count 1 only when the compare held */
    redis_write_if(op, &cmp, &put, NULL, expire_attached);
}

static void expire(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud,
                   long long unit_ms)
{
    long long v;
    if (resp_str_to_ll(argv[2], &v) ||
        (unit_ms > 1 && (v > INT64_MAX / 1000 || v < INT64_MIN / 1000))) {
        resp_reply_error(ctx, "-ERR value is not an integer or out of range");
        resp_done(ctx);
        return;
    }
    if (argc > 3) {
        resp_reply_errorf(ctx, "-ERR Unsupported option %.*s", (int)argv[3].len, argv[3].p);
        resp_done(ctx);
        return;
    }
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    long long ms = v * unit_ms;
    if (ms <= 0) {
        /* An expiry in the past deletes the key (Redis). */
        struct kv_cmd c;
        memset(&c, 0, sizeof(c));
        c.type = KV_CMD_DELETE;
        c.u.del.key = op->argv[1];
        redis_write(op, &c, txn_applied_count);
        return;
    }
    op->n = ms;
    redis_grant(op, ms, expire_attach);
}

static void cmd_expire(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    expire(ctx, argc, argv, ud, 1000);
}

static void cmd_pexpire(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    expire(ctx, argc, argv, ud, 1);
}

static void cmd_persist(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    struct kv_compare cmp;
    memset(&cmp, 0, sizeof(cmp));
    cmp.key = op->argv[1];
    cmp.target = KV_CMP_LEASE;
    cmp.result = KV_CMP_NOT_EQUAL; /* a missing key compares as 0: nothing to persist */
    struct kv_op put = redis_put_keep_value(op->argv[1], 0); /* lease 0: detach */
    op->flags = 1;
    redis_write_if(op, &cmp, &put, NULL, txn_applied_count);
}

/* ---- TTL / PTTL ---- */

static void ttl_next(struct redis_op *op)
{
    struct kv_kv kv;
    int rc = redis_get_key(op, op->argv[1], &kv);
    if (rc < 0) return;
    long long out;
    if (rc == 0) {
        out = -2;
    } else if (kv.lease == 0) {
        out = -1;
    } else {
        struct kv_lease_info info;
        if (srv_lease_ttl(op->m, kv.lease, NULL, &info) != 0)
            out = -2; /* being revoked */
        else
            out = op->n == 1 ? info.remaining_ms : (info.remaining_ms + 500) / 1000;
    }
    resp_reply_int(op->ctx, out);
    redis_op_finish(op);
}

static void cmd_ttl(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    op->n = 1000;
    redis_read(op, ttl_next);
}

static void cmd_pttl(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    op->n = 1;
    redis_read(op, ttl_next);
}

/* ---- KEYS / DBSIZE / FLUSHDB ---- */

static void keys_next(struct redis_op *op)
{
    struct kv_range_res res;
    if (redis_range_all(op, false, &res)) return;
    size_t n = 0;
    const struct kv_bytes pat = op->argv[1];
    for (size_t i = 0; i < res.n; i++)
        if (redis_glob(pat.p, pat.len, res.kvs[i].key.p, res.kvs[i].key.len)) n++;
    resp_reply_array(op->ctx, n);
    for (size_t i = 0; i < res.n; i++)
        if (redis_glob(pat.p, pat.len, res.kvs[i].key.p, res.kvs[i].key.len))
            resp_reply_bulk(op->ctx, res.kvs[i].key.p, res.kvs[i].key.len);
    redis_op_finish(op);
}

static void cmd_keys(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    redis_read_cmd(ctx, argc, argv, ud, keys_next);
}

static void dbsize_next(struct redis_op *op)
{
    struct kv_range_res res;
    if (redis_range_all(op, true, &res)) return;
    resp_reply_int(op->ctx, res.count);
    redis_op_finish(op);
}

static void cmd_dbsize(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    redis_read_cmd(ctx, argc, argv, ud, dbsize_next);
}

static void flush_applied(struct redis_op *op, const struct kv_result *res)
{
    if (res->err) {
        redis_fail(op, res->err, res->msg);
        return;
    }
    resp_reply_ok(op->ctx);
    redis_op_finish(op);
}

static void cmd_flushdb(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    if (argc > 2 ||
        (argc == 2 && !word((struct kv_bytes){(const uint8_t *)argv[1].p, argv[1].len}, "ASYNC") &&
         !word((struct kv_bytes){(const uint8_t *)argv[1].p, argv[1].len}, "SYNC"))) {
        resp_reply_error(ctx, "-ERR syntax error");
        resp_done(ctx);
        return;
    }
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_DELETE;
    c.u.del.key = all_keys;
    c.u.del.range_end = all_keys;
    redis_write(op, &c, flush_applied);
}

/* ---- SCAN ---- */

static void scan_next(struct redis_op *op)
{
    struct resp_conn *conn = resp_ctx_conn(op->ctx);
    struct redis_conn *st = conn ? resp_conn_data(conn) : NULL;
    if (!st) { /* the client is gone: the reply is discarded anyway */
        redis_op_finish(op);
        return;
    }
    uint64_t cursor = (uint64_t)op->lease;
    struct kv_bytes from = all_keys;
    if (cursor) {
        int slot = -1;
        for (int i = 0; i < SCAN_CURSORS; i++)
            if (st->cur[i].id == cursor && st->cur[i].key) slot = i;
        if (slot < 0) {
            resp_reply_error(op->ctx, "-ERR invalid cursor");
            redis_op_finish(op);
            return;
        }
        /* Continue right after the last key returned: key + "\0". */
        uint8_t *k = kv_arena_alloc(&op->a, st->cur[slot].len + 1);
        if (!k) {
            redis_fail(op, CC_ENOMEM, 0);
            return;
        }
        memcpy(k, st->cur[slot].key, st->cur[slot].len);
        k[st->cur[slot].len] = 0;
        from.p = k;
        from.len = st->cur[slot].len + 1;
    }
    struct kv_range r;
    memset(&r, 0, sizeof(r));
    r.key = from;
    r.range_end = all_keys;
    r.keys_only = true;
    r.limit = op->n;
    struct kv_range_res res;
    int msg = 0;
    int rc = kv_range(srv_kv(op->m), &r, &op->a, &res, &msg);
    if (rc) {
        redis_fail(op, rc, msg);
        return;
    }
    uint64_t next = 0;
    if (res.more && res.n) {
        /* Remember where we stopped in the least recently used slot. */
        int slot = 0;
        for (int i = 1; i < SCAN_CURSORS; i++)
            if (st->cur[i].id < st->cur[slot].id) slot = i;
        const struct kv_bytes *last = &res.kvs[res.n - 1].key;
        uint8_t *copy = malloc(last->len ? last->len : 1);
        if (!copy) {
            redis_fail(op, CC_ENOMEM, 0);
            return;
        }
        memcpy(copy, last->p, last->len);
        free(st->cur[slot].key);
        st->cur[slot].key = copy;
        st->cur[slot].len = last->len;
        st->cur[slot].id = ++st->next_id;
        next = st->cur[slot].id;
    }
    bool typed_other = op->flags == 2;
    size_t n = 0;
    for (size_t i = 0; i < res.n && !typed_other; i++)
        if (op->flags != 1 || redis_glob(op->argv[op->attempt].p, op->argv[op->attempt].len,
                                         res.kvs[i].key.p, res.kvs[i].key.len))
            n++;
    char num[24];
    int nl = snprintf(num, sizeof(num), "%llu", (unsigned long long)next);
    resp_reply_array(op->ctx, 2);
    resp_reply_bulk(op->ctx, num, (size_t)nl);
    resp_reply_array(op->ctx, n);
    for (size_t i = 0; i < res.n && !typed_other; i++)
        if (op->flags != 1 || redis_glob(op->argv[op->attempt].p, op->argv[op->attempt].len,
                                         res.kvs[i].key.p, res.kvs[i].key.len))
            resp_reply_bulk(op->ctx, res.kvs[i].key.p, res.kvs[i].key.len);
    redis_op_finish(op);
}

static void cmd_scan(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    long long cursor;
    if (resp_str_to_ll(argv[1], &cursor) || cursor < 0) {
        resp_reply_error(ctx, "-ERR invalid cursor");
        resp_done(ctx);
        return;
    }
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    op->lease = cursor;
    op->n = SCAN_DEFAULT;
    for (size_t i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) goto syntax;
        if (word(op->argv[i], "MATCH")) {
            op->flags = op->flags == 2 ? 2 : 1;
            op->attempt = (int)(i + 1); /* index of the pattern */
        } else if (word(op->argv[i], "COUNT")) {
            long long cnt;
            if (resp_str_to_ll(argv[i + 1], &cnt)) {
                resp_reply_error(ctx, "-ERR value is not an integer or out of range");
                redis_op_finish(op);
                return;
            }
            if (cnt < 1) goto syntax;
            op->n = cnt > SCAN_MAX_COUNT ? SCAN_MAX_COUNT : cnt;
        } else if (word(op->argv[i], "TYPE")) {
            if (!word(op->argv[i + 1], "string")) op->flags = 2; /* only strings exist here */
        } else {
            goto syntax;
        }
    }
    redis_read(op, scan_next);
    return;
syntax:
    resp_reply_error(ctx, "-ERR syntax error");
    redis_op_finish(op);
}

int redis__register_keys(struct resp_server *srv, struct member *m)
{
    const struct resp_command cmds[] = {
        {"del", -2, RESP_CMD_WRITE, 1, -1, 1, "Deletes one or more keys.", "1.0.0", "generic",
         cmd_del, m},
        {"exists", -2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, -1, 1,
         "Determines whether one or more keys exist.", "1.0.0", "generic", cmd_exists, m},
        {"type", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1,
         "Determines the type of value stored at a key.", "1.0.0", "generic", cmd_type, m},
        {"expire", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1,
         "Sets the expiration time of a key in seconds.", "1.0.0", "generic", cmd_expire, m},
        {"pexpire", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1,
         "Sets the expiration time of a key in milliseconds.", "2.6.0", "generic", cmd_pexpire, m},
        {"persist", 2, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1,
         "Removes the expiration time of a key.", "2.2.0", "generic", cmd_persist, m},
        {"ttl", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1,
         "Returns the expiration time in seconds of a key.", "1.0.0", "generic", cmd_ttl, m},
        {"pttl", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1,
         "Returns the expiration time in milliseconds of a key.", "2.6.0", "generic", cmd_pttl, m},
        {"keys", 2, RESP_CMD_READONLY, 0, 0, 0, "Returns all key names that match a pattern.",
         "1.0.0", "generic", cmd_keys, m},
        {"scan", -2, RESP_CMD_READONLY, 0, 0, 0, "Iterates over the key names in the database.",
         "2.8.0", "generic", cmd_scan, m},
        {"dbsize", 1, RESP_CMD_READONLY | RESP_CMD_FAST, 0, 0, 0,
         "Returns the number of keys in the database.", "1.0.0", "server", cmd_dbsize, m},
        {"flushdb", -1, RESP_CMD_WRITE, 0, 0, 0, "Removes all keys from the current database.",
         "1.0.0", "server", cmd_flushdb, m},
        {"flushall", -1, RESP_CMD_WRITE, 0, 0, 0, "Removes all keys from all databases.", "1.0.0",
         "server", cmd_flushdb, m},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int rc = resp_server_register(srv, &cmds[i]);
        if (rc) return rc;
    }
    return 0;
}
