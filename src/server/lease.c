/* lease.c — the leader's side of leases: expiry as replicated revokes, checkpoints of the
 * remaining TTLs, keep-alives. */
#include <stdlib.h>
#include <string.h>

#include "server/member.h"
#include "util/err.h"

#define EXPIRE_BATCH        64
#define CHECKPOINT_EVERY_MS (5 * 60 * 1000) /* etcd's lease checkpoint interval */
#define CHECKPOINT_BATCH    1000

static void ignore_result(void *arg, int err, const struct kv_result *res)
{
    (void)arg;
    (void)err;
    (void)res;
}

static void propose_revokes(struct member *m, uint64_t now_ms)
{
    int64_t ids[EXPIRE_BATCH];
    size_t n = kv_lease_expired(m->kv, now_ms, ids, EXPIRE_BATCH);
    for (size_t i = 0; i < n; i++) {
        struct kv_cmd c;
        memset(&c, 0, sizeof(c));
        c.type = KV_CMD_LEASE_REVOKE;
        c.u.revoke_id = ids[i];
        /* A revoke that fails (lost leadership) is proposed again by the next leader, which
         * sees the same lease expired. */
        member__write(m, &c, ignore_result, NULL, NULL, true);
    }
}

static void propose_checkpoints(struct member *m, uint64_t now_ms)
{
    struct kv_lease_cp *cps = malloc(CHECKPOINT_BATCH * sizeof(*cps));
    if (!cps) return;
    int64_t after = 0;
    for (;;) {
        size_t n = kv_lease_checkpoints(m->kv, now_ms, after, cps, CHECKPOINT_BATCH);
        if (n == 0) break;
        struct kv_cmd c;
        memset(&c, 0, sizeof(c));
        c.type = KV_CMD_LEASE_CHECKPOINT;
        c.u.checkpoint.cps = cps;
        c.u.checkpoint.n = n;
        member__write(m, &c, ignore_result, NULL, NULL, true);
        after = cps[n - 1].id;
        if (n < CHECKPOINT_BATCH) break;
    }
    free(cps);
}

void member__leases_tick(struct member *m, uint64_t now_ms)
{
    if (m->role != RAFT_LEADER) {
        m->lease_cp_ms = 0;
        return;
    }
    propose_revokes(m, now_ms);
    if (m->lease_cp_ms == 0) m->lease_cp_ms = now_ms + CHECKPOINT_EVERY_MS;
    if (now_ms >= m->lease_cp_ms) {
        m->lease_cp_ms = now_ms + CHECKPOINT_EVERY_MS;
        propose_checkpoints(m, now_ms);
    }
}

void member__lease_renewed(struct member *m, const struct kv_result *res)
{
    if (m->role != RAFT_LEADER || res->err) return;
    int64_t ttl = 0;
    kv_lease_renew(m->kv, res->u.grant.id, member__now_ms(), &ttl, NULL);
}

/* ---- keep-alive ---- */

struct keepalive {
    srv_lease_fn cb;
    void *arg;
    int err;
    int64_t ttl_ms;
};

static void keepalive_deliver(struct member *m, void *arg)
{
    (void)m;
    struct keepalive *k = arg;
    k->cb(k->arg, k->err, k->ttl_ms);
    free(k);
}

static void keepalive_applied(void *arg, int err, const struct kv_result *res)
{
    struct keepalive *k = arg;
    int e = err ? err : res->err;
    k->cb(k->arg, e, e ? 0 : res->u.grant.ttl_ms);
    free(k);
}

int srv_lease_keepalive(struct member *m, int64_t id, srv_lease_fn cb, void *arg)
{
    if (m->stopped) return CC_ESTOPPED;
    struct keepalive *k = calloc(1, sizeof(*k));
    if (!k) return CC_ENOMEM;
    k->cb = cb;
    k->arg = arg;
    if (m->role == RAFT_LEADER) {
        /* The leader owns the deadlines: renew here. A deposed leader renewing is harmless:
         * the next leader restarts every lease from its (checkpointed) remaining TTL. */
        bool needs_cp = false;
        k->err = kv_lease_renew(m->kv, id, member__now_ms(), &k->ttl_ms, &needs_cp);
        if (k->err == 0 && needs_cp) {
            struct kv_cmd c;
            memset(&c, 0, sizeof(c));
            struct kv_lease_cp cp = {id, 0};
            c.type = KV_CMD_LEASE_CHECKPOINT;
            c.u.checkpoint.cps = &cp;
            c.u.checkpoint.n = 1;
            member__write(m, &c, ignore_result, NULL, NULL, true);
        }
        int rc = member__defer(m, keepalive_deliver, k);
        if (rc) free(k);
        return rc;
    }
    /* A follower sends the keep-alive to the leader through the log: when the leader applies
     * it, it renews the deadline (member__lease_renewed). */
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_LEASE_RENEW;
    c.u.renew_id = id;
    int rc = member__write(m, &c, keepalive_applied, k, NULL, true);
    if (rc) free(k);
    return rc;
}

int srv_lease_ttl(struct member *m, int64_t id, struct kv_arena *keys_arena,
                  struct kv_lease_info *info)
{
    return kv_lease_ttl(m->kv, id, member__now_ms(), keys_arena, info);
}
