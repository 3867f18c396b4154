/* redis_util.c — plumbing shared by the Redis commands: ops, writes, reads, errors, globs. */
#include <stdlib.h>
#include <string.h>

#include "api/redis/redis_int.h"
#include "util/err.h"

const uint8_t redis_zero_byte[1] = {0};

struct redis_op *redis_op_new(struct resp_ctx *ctx, struct member *m, size_t argc,
                              const struct resp_str *argv)
{
    struct redis_op *op = calloc(1, sizeof(*op));
    if (op) {
        op->ctx = ctx;
        op->m = m;
        op->argc = argc;
        op->argv = kv_arena_calloc(&op->a, argc, sizeof(*op->argv));
        if (!op->argv) goto fail;
        for (size_t i = 0; i < argc; i++) {
            op->argv[i].len = argv[i].len;
            op->argv[i].p = kv_arena_dup(&op->a, argv[i].p, argv[i].len);
            if (!op->argv[i].p && argv[i].len) goto fail;
        }
        return op;
    }
fail:
    if (op) kv_arena_free(&op->a);
    free(op);
    resp_reply_error(ctx, "-ERR out of memory");
    resp_done(ctx);
    return NULL;
}

void redis_op_finish(struct redis_op *op)
{
    resp_done(op->ctx);
    kv_arena_free(&op->a);
    free(op);
}

void redis_fail(struct redis_op *op, int err, int kv_msg)
{
    /* Every text starts with '-' and its error code (resp_reply_error adds "ERR " to anything
     * else, which would make "ERR ERR ..."), so clients see -CLUSTERDOWN / -TIMEOUT /
     * -TRYAGAIN as Redis Cluster sends them. */
    const char *text = kv_msg ? kv_msg_str(kv_msg) : "";
    if (text[0] && !strncmp(text, "ERR ", 4)) {
        resp_reply_errorf(op->ctx, "-%s", text);
    } else {
        switch (err) {
        case CC_ENOLEADER:
            resp_reply_error(op->ctx, "-CLUSTERDOWN no leader");
            break;
        case CC_ETIMEDOUT:
            resp_reply_error(op->ctx, "-TIMEOUT request timed out; it may or may not have been "
                                      "applied");
            break;
        case CC_ECANCELED:
        case CC_ETRANSFER:
            resp_reply_error(op->ctx, "-TRYAGAIN leader changed, retry the request");
            break;
        case CC_EBUSY:
            resp_reply_error(op->ctx, "-TRYAGAIN too many requests, retry later");
            break;
        case CC_ESTOPPED:
            resp_reply_error(op->ctx, "-ERR server stopped accepting writes");
            break;
        case CC_ENOTNUM:
            resp_reply_error(op->ctx, "-ERR value is not an integer or out of range");
            break;
        case CC_ETOOBIG:
            resp_reply_error(op->ctx, "-ERR string exceeds maximum allowed size");
            break;
        default:
            resp_reply_errorf(op->ctx, "-ERR %s", srv_errmsg(err, kv_msg));
            break;
        }
    }
    redis_op_finish(op);
}

static void write_done(void *arg, int err, const struct kv_result *res)
{
    struct redis_op *op = arg;
    if (err) {
        redis_fail(op, err, 0);
        return;
    }
    op->write_cb(op, res);
}

void redis_write(struct redis_op *op, const struct kv_cmd *cmd,
                 void (*cb)(struct redis_op *op, const struct kv_result *res))
{
    int msg = 0;
    op->write_cb = cb;
    int rc = srv_write(op->m, cmd, write_done, op, &msg);
    if (rc) redis_fail(op, rc, msg);
}

void redis_write_if(struct redis_op *op, const struct kv_compare *cmp, const struct kv_op *then_op,
                    const struct kv_op *else_op,
                    void (*cb)(struct redis_op *op, const struct kv_result *res))
{
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_TXN;
    c.u.txn.cmp = (struct kv_compare *)cmp;
    c.u.txn.n_cmp = 1;
    c.u.txn.success = (struct kv_op *)then_op;
    c.u.txn.n_success = 1;
    c.u.txn.failure = (struct kv_op *)else_op;
    c.u.txn.n_failure = else_op ? 1 : 0;
    redis_write(op, &c, cb);
}

struct kv_op redis_put_keep_value(struct kv_bytes key, int64_t lease)
{
    struct kv_op put;
    memset(&put, 0, sizeof(put));
    put.type = KV_OP_PUT;
    put.u.put.key = key;
    put.u.put.ignore_value = true;
    put.u.put.lease = lease;
    return put;
}

static void granted(struct redis_op *op, const struct kv_result *res)
{
    if (res->err) {
        redis_fail(op, res->err, res->msg);
        return;
    }
    op->lease = res->u.grant.id;
    op->next(op);
}

void redis_grant(struct redis_op *op, int64_t ttl_ms, void (*next)(struct redis_op *op))
{
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_LEASE_GRANT;
    c.u.grant.ttl_ms = ttl_ms;
    op->next = next;
    redis_write(op, &c, granted);
}

static void read_done(void *arg, int err)
{
    struct redis_op *op = arg;
    if (err) {
        redis_fail(op, err, 0);
        return;
    }
    op->next(op);
}

void redis_read(struct redis_op *op, void (*next)(struct redis_op *op))
{
    struct resp_conn *c = resp_ctx_conn(op->ctx);
    bool serializable = c && resp_conn_readonly(c);
    op->next = next;
    int rc = srv_read_barrier(op->m, serializable, read_done, op);
    if (rc) redis_fail(op, rc, 0);
}

void redis_read_cmd(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv,
                    struct member *m, void (*next)(struct redis_op *op))
{
    struct redis_op *op = redis_op_new(ctx, m, argc, argv);
    if (op) redis_read(op, next);
}

int redis_range_all(struct redis_op *op, bool count_only, struct kv_range_res *res)
{
    struct kv_range r;
    memset(&r, 0, sizeof(r));
    r.key.p = redis_zero_byte;
    r.key.len = 1;
    r.range_end = r.key;
    r.keys_only = !count_only;
    r.count_only = count_only;
    int msg = 0;
    int rc = kv_range(srv_kv(op->m), &r, &op->a, res, &msg);
    if (rc) redis_fail(op, rc, msg);
    return rc;
}

int redis_get_key(struct redis_op *op, struct kv_bytes key, struct kv_kv *kv)
{
    struct kv_range r;
    memset(&r, 0, sizeof(r));
    r.key = key;
    struct kv_range_res res;
    int msg = 0;
    int rc = kv_range(srv_kv(op->m), &r, &op->a, &res, &msg);
    if (rc) {
        redis_fail(op, rc, msg);
        return rc;
    }
    if (res.n == 0) return 0;
    *kv = res.kvs[0];
    return 1;
}

/* Redis's stringmatchlen, iteratively for '*' (no recursion depth to exhaust). */
bool redis_glob(const uint8_t *p, size_t plen, const uint8_t *s, size_t slen)
{
    size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;
    while (si < slen) {
        if (pi < plen && p[pi] == '*') {
            while (pi < plen && p[pi] == '*') pi++;
            if (pi == plen) return true;
            star_p = pi;
            star_s = si;
            continue;
        }
        bool ok = false;
        size_t next = pi + 1;
        if (pi < plen) {
            if (p[pi] == '?') {
                ok = true;
            } else if (p[pi] == '[') {
                size_t k = pi + 1;
                bool neg = k < plen && p[k] == '^';
                if (neg) k++;
                bool match = false;
                while (k < plen && p[k] != ']') {
                    if (p[k] == '\\' && k + 1 < plen) {
                        k++;
                        if (p[k] == s[si]) match = true;
                    } else if (k + 2 < plen && p[k + 1] == '-') {
                        /* As Redis: "[a-]" is the range ']'..'a', and the class then runs on
                         * to the next ']' (or the end of the pattern). */
                        uint8_t lo = p[k], hi = p[k + 2];
                        if (lo > hi) {
                            uint8_t t = lo;
                            lo = hi;
                            hi = t;
                        }
                        if (s[si] >= lo && s[si] <= hi) match = true;
                        k += 2;
                    } else if (p[k] == s[si]) {
                        match = true;
                    }
                    k++;
                }
                ok = neg ? !match : match;
                next = k < plen ? k + 1 : k;
            } else if (p[pi] == '\\' && pi + 1 < plen) {
                ok = p[pi + 1] == s[si];
                next = pi + 2;
            } else {
                ok = p[pi] == s[si];
            }
        }
        if (ok) {
            pi = next;
            si++;
        } else if (star_p != (size_t)-1) {
            pi = star_p;
            si = ++star_s;
        } else {
            return false;
        }
    }
    while (pi < plen && p[pi] == '*') pi++;
    return pi == plen;
}
