/* status.c — identity, status and maintenance answers, and etcd's error texts. */
#include <stdio.h>
#include <string.h>

#include "server/member.h"
#include "util/err.h"

#define CONCUR_VERSION "3.4.23"

void srv_header(struct member *m, struct srv_header *h)
{
    h->cluster_id = m->cfg.cluster_id;
    h->member_id = m->cfg.member_id;
    h->revision = kv_rev(m->kv);
    h->raft_term = m->term;
}

void srv_status(struct member *m, struct srv_status *st)
{
    memset(st, 0, sizeof(*st));
    struct raft_status rs;
    raft_status(m->raft, &rs);
    struct kv_status ks;
    kv_get_status(m->kv, &ks);
    st->cluster_id = m->cfg.cluster_id;
    st->member_id = m->cfg.member_id;
    st->leader_id = rs.leader;
    st->raft_term = rs.term;
    st->raft_index = rs.last_index;
    st->commit_index = rs.commit;
    st->raft_applied_index = m->applied;
    st->first_index = rs.first_index;
    st->last_index = rs.last_index;
    st->snap_index = rs.snap_index;
    st->log_bytes = rs.log_bytes;
    st->role = rs.role;
    st->is_learner = raft_config_is_learner(&rs.config, m->cfg.member_id);
    st->stopped = m->stopped;
    st->revision = ks.rev;
    st->compact_revision = ks.compact_rev;
    st->db_size_bytes = ks.db_size_bytes;
    st->db_size_in_use_bytes = ks.db_size_in_use_bytes;
    st->keys = ks.keys;
    st->watchers = ks.watchers;
    st->leader_changes = m->leader_changes;
    st->proposals_committed = m->proposals_committed;
    st->proposals_failed = m->proposals_failed;
    st->proposals_pending = m->n_pending + m->n_queued;
    st->version = CONCUR_VERSION;
    snprintf(st->errors, sizeof(st->errors), "%s", m->fatal);
    st->wal_fsync_us = &m->wal_fsync_us;
    st->apply_us = &m->apply_us;
}

const char *srv_errmsg(int err, int kv_msg)
{
    if (kv_msg) {
        const char *s = kv_msg_str(kv_msg);
        if (s[0]) return s;
    }
    switch (err) {
    case CC_ENOLEADER:
        return "etcdserver: no leader";
    case CC_ENOTLEADER:
        return "etcdserver: not leader";
    case CC_ETIMEDOUT:
        return "etcdserver: request timed out";
    case CC_ECANCELED:
    case CC_ETRANSFER:
        return "etcdserver: leader changed";
    case CC_ECOMPACTED:
        return "etcdserver: mvcc: required revision has been compacted";
    case CC_EFUTUREREV:
        return "etcdserver: mvcc: required revision is a future revision";
    case CC_ELEASE:
        return "etcdserver: requested lease not found";
    case CC_EDUPKEY:
        return "etcdserver: duplicate key given in txn request";
    case CC_ETOOMANYOPS:
        return "etcdserver: too many operations in txn request";
    case CC_ETOOBIG:
        return "etcdserver: request is too large";
    case CC_ESTOPPED:
        return "etcdserver: server stopped";
    case CC_EBUSY:
        return "etcdserver: too many requests";
    case CC_ECONFCHANGE:
        return "etcdserver: unhealthy cluster";
    case CC_EEXIST:
        return "etcdserver: peerURL exists";
    case CC_ENOTFOUND:
        return "etcdserver: member not found";
    case CC_EREMOVED:
        return "etcdserver: the member has been permanently removed from the cluster";
    case CC_ENOSPC:
        return "etcdserver: mvcc: database space exceeded";
    default:
        return cc_strerror(err);
    }
}

int srv_snapshot_open(struct member *m, struct kv_snapshot **out)
{
    if (m->stopped) return CC_ESTOPPED;
    return kv_snapshot_open(m->kv, out);
}

int srv_defragment(struct member *m)
{
    if (m->stopped) return CC_ESTOPPED;
    return kv_defragment(m->kv);
}
