/* redis_debug.c — DEBUG DIGEST: a digest of the member's dataset, to compare members. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/redis/redis_int.h"
#include "util/err.h"

/*
 * Redis's DEBUG DIGEST answers 40 hex digits that are equal on two servers holding the same
 * dataset. Here the dataset is the MVCC store, so the digest is kv_hash() at the current
 * revision (etcd's HashKV: CRC-32C over every revision record the store keeps) together with
 * the revision it was taken at and the compacted revision:
 *
 *     +HHHHHHHHRRRRRRRRRRRRRRRRCCCCCCCCCCCCCCCC
 *      crc32c  revision (64-bit)  compact revision (64-bit, two's complement: -1 = never)
 *
 * Two members that applied the same log prefix answer the same digest; compare them after
 * checking (INFO raft applied_index) that they applied the same index. The digest is taken
 * from the local store without a read barrier (like Redis's, it describes this server), and
 * walks every revision, so it costs O(store) on the member's loop: a diagnostic, not a
 * per-request tool.
 */
static void cmd_debug(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    struct member *m = ud;
    const struct resp_str *sub = &argv[1];
    if (sub->len == 4 && !strncasecmp(sub->p, "help", 4)) {
        resp_reply_array(ctx, 2);
        resp_reply_simple(ctx, "DIGEST");
        resp_reply_simple(ctx, "    Output a hex signature of the dataset (kv HashKV, revision, "
                               "compact revision).");
        resp_done(ctx);
        return;
    }
    if (!(sub->len == 6 && !strncasecmp(sub->p, "digest", 6)) || argc != 2) {
        resp_reply_errorf(ctx,
                          "-ERR unknown subcommand or wrong number of arguments for '%.*s'. "
                          "Try DEBUG HELP.",
                          (int)(sub->len > 64 ? 64 : sub->len), sub->p);
        resp_done(ctx);
        return;
    }
    uint32_t hash = 0;
    int64_t rev = 0, compact_rev = 0;
    int rc = kv_hash(srv_kv(m), 0, &hash, &rev, &compact_rev);
    if (rc) {
        resp_reply_errorf(ctx, "-ERR %s", srv_errmsg(rc, 0));
        resp_done(ctx);
        return;
    }
    char hex[48];
    snprintf(hex, sizeof(hex), "%08x%016llx%016llx", (unsigned)hash, (unsigned long long)rev,
             (unsigned long long)compact_rev);
    resp_reply_simple(ctx, hex);
    resp_done(ctx);
}

int redis__register_debug(struct resp_server *srv, struct member *m)
{
    const struct resp_command debug = {"debug",
                                       -2,
                                       RESP_CMD_ADMIN | RESP_CMD_NOSCRIPT | RESP_CMD_LOADING |
                                           RESP_CMD_STALE,
                                       0,
                                       0,
                                       0,
                                       "A container for debugging commands.",
                                       "1.0.0",
                                       "server",
                                       cmd_debug,
                                       m};
    return resp_server_register(srv, &debug);
}
