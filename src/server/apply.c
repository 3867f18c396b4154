/* apply.c — committed entries into the store, then the local requests they complete. */
#include <stdlib.h>
#include <string.h>

#include "server/member.h"
#include "server/members.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"

/* What post-processing needs from an entry, copied out before any callback runs (callbacks
 * may call back into Raft, which invalidates the entries). */
struct applied_info {
    bool has_session;
    uint64_t client_id, seq;
    bool is_conf;
    struct raft_config conf;
    uint8_t *ctx; /* malloc'd copy of the CONF entry's context, or NULL */
    uint32_t ctx_len;
};

int member__apply(struct member *m, const struct raft_entry *ents, uint32_t n)
{
    struct kv_entry *ke = calloc(n, sizeof(*ke));
    struct kv_result *res = calloc(n, sizeof(*res));
    struct applied_info *info = calloc(n, sizeof(*info));
    struct buf *conf_cmds = calloc(n, sizeof(*conf_cmds));
    int rc = CC_ENOMEM;
    if (!ke || !res || !info || !conf_cmds) goto out;

    for (uint32_t i = 0; i < n; i++) {
        const struct raft_entry *e = &ents[i];
        ke[i].index = e->index;
        buf_init(&conf_cmds[i], KV_CMD_MAX);
        if (e->type == RAFT_ENTRY_NORMAL) {
            ke[i].data = e->data;
            ke[i].len = e->len;
            info[i].has_session = kv_cmd_session(e->data, e->len, &info[i].client_id, &info[i].seq);
        } else if (e->type == RAFT_ENTRY_CONF) {
            const uint8_t *ctx = NULL;
            uint32_t ctx_len = 0;
            if (raft_conf_entry_decode(e->data, e->len, &info[i].conf, &ctx, &ctx_len) == 0) {
                info[i].is_conf = true;
                if (ctx_len) {
                    info[i].ctx = malloc(ctx_len);
                    if (!info[i].ctx) goto out;
                    memcpy(info[i].ctx, ctx, ctx_len);
                    info[i].ctx_len = ctx_len;
                }
                /* The member record travels in the entry; the store keeps it atomically with
                 * the applied index, so membership survives restarts and snapshots. */
                rc = members__conf_cmd(m, info[i].ctx, info[i].ctx_len, &conf_cmds[i]);
                if (rc) goto out;
                ke[i].data = conf_cmds[i].data;
                ke[i].len = conf_cmds[i].len;
            }
        }
    }
    uint64_t t0 = clock_mono_us();
    rc = kv_apply(m->kv, ke, n, res);
    hist_add(&m->apply_us, clock_mono_us() - t0);
    if (rc) {
        memset(res, 0, n * sizeof(*res)); /* kv_apply freed them */
        goto out;
    }
    m->applied = ents[n - 1].index;

    /* From here on the entries are not touched: callbacks may re-enter Raft. */
    for (uint32_t i = 0; i < n; i++) {
        if (info[i].is_conf)
            members__conf_applied(m, &info[i].conf, info[i].ctx, info[i].ctx_len);
        else {
            members__result_applied(m, &res[i]);
            if (res[i].type == KV_CMD_LEASE_RENEW) member__lease_renewed(m, &res[i]);
            if (res[i].type == KV_CMD_COMPACT) member__compaction_kick(m);
        }
        if (info[i].has_session) member__write_applied(m, info[i].client_id, info[i].seq, &res[i]);
    }
    member__reads_on_applied(m);
    rc = 0;
out:
    for (uint32_t i = 0; res && i < n; i++) kv_result_free(&res[i]);
    for (uint32_t i = 0; info && i < n; i++) free(info[i].ctx);
    for (uint32_t i = 0; conf_cmds && i < n; i++) buf_free(&conf_cmds[i]);
    free(ke);
    free(res);
    free(info);
    free(conf_cmds);
    return rc;
}
