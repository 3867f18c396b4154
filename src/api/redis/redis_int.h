/* redis_int.h — shared pieces of the Redis command files. */
#ifndef CONCUR_API_REDIS_INT_H
#define CONCUR_API_REDIS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/redis/redis.h"
#include "api/resp/resp_server.h"
#include "kv/kv.h"
#include "server/server.h"

/* One command in flight: owns copies of its arguments (argv is only valid during the
 * handler). Freed by redis_op_finish, which also completes the RESP ctx. */
struct redis_op {
    struct resp_ctx *ctx;
    struct member *m;
    struct kv_arena a; /* copies of arguments and scratch */
    size_t argc;
    struct kv_bytes *argv;             /* copies */
    int attempt;                       /* optimistic retries (APPEND) */
    int64_t n;                         /* command-specific number (TTL ms, increment, ...) */
    int64_t lease;                     /* a lease granted for this command */
    unsigned flags;                    /* command-specific option bits */
    void (*next)(struct redis_op *op); /* continuation after a read barrier */
    void (*write_cb)(struct redis_op *op, const struct kv_result *res); /* after a write */
};

/* A command with a TTL grants a lease and then writes the key attached to it. If the write
 * arrives after the lease already expired and was revoked (a leader change delayed it by more
 * than a short TTL), it fails with CC_ELEASE; the command then starts over with a new lease,
 * this many times in all, rather than answer a Redis client with an etcd lease error. */
#define REDIS_LEASE_ATTEMPTS 3

/* Allocates an op copying argv. NULL (and an error reply + resp_done) on failure. */
struct redis_op *redis_op_new(struct resp_ctx *ctx, struct member *m, size_t argc,
                              const struct resp_str *argv);
/* Completes the ctx and frees the op. */
void redis_op_finish(struct redis_op *op);

/* Replies with the Redis-style error for a failed request (no leader, timeout, kv messages)
 * and finishes the op. */
void redis_fail(struct redis_op *op, int err, int kv_msg);

/* Proposes cmd; cb gets the applied result (or redis_fail is called for errors). */
void redis_write(struct redis_op *op, const struct kv_cmd *cmd,
                 void (*cb)(struct redis_op *op, const struct kv_result *res));

/* Proposes "if cmp then then_op else else_op" as one txn (else_op may be NULL); cb as for
 * redis_write. */
void redis_write_if(struct redis_op *op, const struct kv_compare *cmp, const struct kv_op *then_op,
                    const struct kv_op *else_op,
                    void (*cb)(struct redis_op *op, const struct kv_result *res));

/* A put of key that keeps its value and attaches it to lease (0: detaches it). */
struct kv_op redis_put_keep_value(struct kv_bytes key, int64_t lease);

/* Grants a lease of ttl_ms (expiry is a lease the key is attached to), stores its ID in
 * op->lease and runs next; a failed grant fails the op. */
void redis_grant(struct redis_op *op, int64_t ttl_ms, void (*next)(struct redis_op *op));

/* Waits for a read barrier (serializable when the connection ran READONLY), then runs
 * op->next. */
void redis_read(struct redis_op *op, void (*next)(struct redis_op *op));

/* A read command's handler in one call: copies the arguments and runs next after the read
 * barrier (the op is failed and the ctx completed if anything goes wrong). */
void redis_read_cmd(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv,
                    struct member *m, void (*next)(struct redis_op *op));

/* Ranges over every key ("\0".."\0") of the local store into op's arena: keys only, or only
 * the count. Returns 0, or the error after which the op has been failed. */
int redis_range_all(struct redis_op *op, bool count_only, struct kv_range_res *res);

/* Reads one key's current KeyValue: returns 1 and fills *kv (bytes in op->a), 0 when absent,
 * or a negative cc_err (after which the op has been failed). */
int redis_get_key(struct redis_op *op, struct kv_bytes key, struct kv_kv *kv);

/* Redis glob matching (*, ?, [a-z], [^...], \x), case-sensitive, as stringmatchlen. */
bool redis_glob(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen);

/* The bytes "\0": etcd's "every key from key on" range end. */
extern const uint8_t redis_zero_byte[1];

/* Per-command registration tables (redis_strings.c, redis_keys.c, redis_info.c,
 * redis_debug.c). */
int redis__register_strings(struct resp_server *srv, struct member *m);
int redis__register_keys(struct resp_server *srv, struct member *m);
int redis__register_info(struct resp_server *srv, struct member *m);
int redis__register_debug(struct resp_server *srv, struct member *m);

#endif
