/* alarm.c — cluster alarms (etcd's NOSPACE, CORRUPT) kept in the replicated member metadata, and
 * the backend quota that raises NOSPACE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/member.h"
#include "util/err.h"

#define ALARM_PFX "alarm/" /* "alarm/<member id, 16 hex>/<type>" -> "1" */

static void alarm_key(uint64_t member_id, int type, char *out, size_t cap)
{
    snprintf(out, cap, "%s%016llx/%d", ALARM_PFX, (unsigned long long)member_id, type);
}

struct alarm_scan {
    struct srv_alarm *out;
    uint32_t max, n;
};

static int on_alarm(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)v;
    (void)vl;
    struct alarm_scan *s = arg;
    size_t pl = strlen(ALARM_PFX);
    char tmp[64];
    if (kl <= pl + 17 || kl - pl >= sizeof(tmp)) return 0; /* not ours: skip */
    memcpy(tmp, k + pl, kl - pl);
    tmp[kl - pl] = 0;
    if (tmp[16] != '/') return 0;
    tmp[16] = 0;
    if (s->n < s->max) {
        s->out[s->n].member_id = strtoull(tmp, NULL, 16);
        s->out[s->n].type = atoi(tmp + 17);
    }
    s->n++;
    return 0;
}

uint32_t srv_alarms(struct member *m, struct srv_alarm *out, uint32_t max)
{
    struct alarm_scan s = {out, max, 0};
    kv_meta_list(m->kv, ALARM_PFX, strlen(ALARM_PFX), on_alarm, &s);
    return s.n < max ? s.n : max;
}

void member__alarms_reload(struct member *m)
{
    struct srv_alarm a[64];
    uint32_t n = srv_alarms(m, a, 64);
    bool nospace = false;
    for (uint32_t i = 0; i < n; i++) nospace |= a[i].type == SRV_ALARM_NOSPACE;
    if (nospace != m->nospace)
        log_warn(&m->log, nospace ? "NOSPACE alarm raised: writes that add data are refused"
                                  : "NOSPACE alarm cleared: writes accepted again");
    /* Once cleared (an operator disarmed it), being over the quota raises it again. */
    if (m->nospace && !nospace) m->nospace_raised = false;
    m->nospace = nospace;
}

struct alarm_op {
    srv_done_fn cb;
    void *arg;
};

static void alarm_applied(void *arg, int err, const struct kv_result *res)
{
    struct alarm_op *op = arg;
    if (!err && res && res->err) err = res->err;
    if (op->cb) op->cb(op->arg, err);
    free(op);
}

int srv_alarm_set(struct member *m, bool activate, uint64_t member_id, int type, srv_done_fn cb,
                  void *arg)
{
    if (type != SRV_ALARM_NOSPACE && type != SRV_ALARM_CORRUPT) return CC_EINVAL;
    if (member_id == 0) return CC_EINVAL;
    char key[64];
    alarm_key(member_id, type, key, sizeof(key));
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = activate ? KV_CMD_META_PUT : KV_CMD_META_DELETE;
    c.u.meta.key.p = (const uint8_t *)key;
    c.u.meta.key.len = strlen(key);
    c.u.meta.value.p = (const uint8_t *)"1";
    c.u.meta.value.len = activate ? 1 : 0;
    struct alarm_op *op = calloc(1, sizeof(*op));
    if (!op) return CC_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    int rc = member__write(m, &c, alarm_applied, op, NULL, true);
    if (rc) free(op);
    return rc;
}

/* Does cmd add data to the store (what a NOSPACE alarm refuses, as etcd's capped applier)? */
static bool txn_puts(const struct kv_txn *t)
{
    const struct kv_op *lists[2] = {t->success, t->failure};
    size_t ns[2] = {t->n_success, t->n_failure};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < ns[l]; i++) {
            if (lists[l][i].type == KV_OP_PUT) return true;
            if (lists[l][i].type == KV_OP_TXN && txn_puts(lists[l][i].u.txn)) return true;
        }
    return false;
}

static bool adds_data(const struct kv_cmd *cmd)
{
    switch (cmd->type) {
    case KV_CMD_PUT:
    case KV_CMD_LEASE_GRANT:
    case KV_CMD_COUNTER:
        return true;
    case KV_CMD_TXN:
        return txn_puts(&cmd->u.txn);
    default:
        return false;
    }
}

int member__quota_check(struct member *m, const struct kv_cmd *cmd)
{
    if (!adds_data(cmd)) return 0;
    if (m->nospace) return CC_ENOSPC;
    if (m->db_size_bytes <= m->cfg.quota_backend_bytes) return 0;
    /* Over the quota: refuse, and raise the alarm once for the whole cluster (etcd does the
     * same: the alarm stays until an operator compacts, defragments and disarms it). */
    if (!m->nospace_raised) {
        m->nospace_raised = true;
        log_warn(&m->log,
                 "backend size %llu bytes is over --quota-backend-bytes %llu: raising "
                 "the NOSPACE alarm",
                 (unsigned long long)m->db_size_bytes,
                 (unsigned long long)m->cfg.quota_backend_bytes);
        srv_alarm_set(m, true, m->cfg.member_id, SRV_ALARM_NOSPACE, NULL, NULL);
    }
    return CC_ENOSPC;
}

void member__quota_tick(struct member *m)
{
    struct kv_status ks;
    kv_get_status(m->kv, &ks);
    m->db_size_bytes = ks.db_size_bytes;
    if (m->db_size_bytes <= m->cfg.quota_backend_bytes) m->nospace_raised = false;
}
