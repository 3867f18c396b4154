/* maintenance.c — the Maintenance service but Snapshot (snapshot.c): Status, Hash, HashKV,
 * Alarm, Defragment, MoveLeader (etcd v3rpc/maintenance.go). */
#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "util/err.h"

static void fail_nomem(struct ecall *c)
{
    ecall_fail_err(c, CC_ENOMEM, 0, ECTX_DEFAULT);
}

void etcd__maint_status(struct ecall *c, const ProtobufCMessage *req)
{
    struct srv_status st;
    srv_status(c->api->m, &st);
    Etcdserverpb__StatusResponse *o = codec_new(&c->a, &etcdserverpb__status_response__descriptor);
    if (!o || !(o->header = etcd__header_now(c->api, &c->a))) {
        fail_nomem(c);
        return;
    }
    o->version = (char *)st.version;
    o->dbsize = (int64_t)st.db_size_bytes;
    o->dbsizeinuse = (int64_t)st.db_size_in_use_bytes;
    o->leader = st.leader_id;
    o->raftindex = st.commit_index; /* etcd 3.4 reports the committed index here */
    o->raftterm = st.raft_term;
    o->raftappliedindex = st.raft_applied_index;
    o->islearner = st.is_learner;
    /* etcd lists "no leader" and each alarm; concur adds a fatal storage error. */
    char *errs[2];
    size_t n = 0;
    if (st.leader_id == 0) errs[n++] = "etcdserver: no leader";
    if (st.errors[0]) errs[n++] = kv_arena_dup(&c->a, st.errors, strlen(st.errors) + 1);
    if (n) {
        o->errors = kv_arena_calloc(&c->a, n, sizeof(char *));
        if (!o->errors || !errs[n - 1]) {
            fail_nomem(c);
            return;
        }
        memcpy(o->errors, errs, n * sizeof(char *));
        o->n_errors = n;
    }
    ecall_reply(c, &o->base);
}

/* Hash: etcd hashes its whole backend file; concur hashes the keyspace at the current revision
 * (kv_hash), which is what the comparison between members needs. */
void etcd__maint_hash(struct ecall *c, const ProtobufCMessage *req)
{
    uint32_t hash;
    int64_t hrev, crev;
    int rc = kv_hash(srv_kv(c->api->m), 0, &hash, &hrev, &crev);
    if (rc) {
        ecall_fail_err(c, rc, 0, ECTX_READ);
        return;
    }
    Etcdserverpb__HashResponse *o = codec_new(&c->a, &etcdserverpb__hash_response__descriptor);
    struct codec_hdr h;
    etcd__hdr(c->api, &h);
    if (!o || !(o->header = codec_header(&c->a, &h, hrev))) {
        fail_nomem(c);
        return;
    }
    o->hash = hash;
    ecall_reply(c, &o->base);
}

void etcd__maint_hashkv(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__HashKVRequest *r = (const void *)req;
    uint32_t hash;
    int64_t hrev, crev;
    int rc = kv_hash(srv_kv(c->api->m), r->revision, &hash, &hrev, &crev);
    if (rc) {
        ecall_fail_err(c, rc, 0, ECTX_READ);
        return;
    }
    Etcdserverpb__HashKVResponse *o = codec_new(&c->a, &etcdserverpb__hash_kvresponse__descriptor);
    /* etcd's header revision is the store's current revision, not the hashed one. */
    if (!o || !(o->header = etcd__header_now(c->api, &c->a))) {
        fail_nomem(c);
        return;
    }
    o->hash = hash;
    o->compact_revision = crev;
    ecall_reply(c, &o->base);
}

/* Alarms live in the replicated metadata (srv_alarms / srv_alarm_set). The reply lists, as
 * etcd's alarm store does: every alarm (GET), the alarm newly raised (ACTIVATE; nothing when it
 * was already active), the alarm removed (DEACTIVATE; nothing when it was not active). etcd's
 * applier answers alarms without a header. */
struct alarm_call {
    struct ecall *c;
    bool changed;
    struct srv_alarm a;
};

static void alarm_reply(struct ecall *c, const struct srv_alarm *list, uint32_t n)
{
    Etcdserverpb__AlarmResponse *o = codec_new(&c->a, &etcdserverpb__alarm_response__descriptor);
    if (!o) {
        fail_nomem(c);
        return;
    }
    if (n) {
        o->alarms = kv_arena_calloc(&c->a, n, sizeof(*o->alarms));
        if (!o->alarms) {
            fail_nomem(c);
            return;
        }
        for (uint32_t i = 0; i < n; i++) {
            Etcdserverpb__AlarmMember *am =
                codec_new(&c->a, &etcdserverpb__alarm_member__descriptor);
            if (!am) {
                fail_nomem(c);
                return;
            }
            am->memberid = list[i].member_id;
            am->alarm = (Etcdserverpb__AlarmType)list[i].type;
            o->alarms[i] = am;
        }
        o->n_alarms = n;
    }
    ecall_reply(c, &o->base);
}

static void alarm_done(void *arg, int err)
{
    struct alarm_call *ac = arg;
    struct ecall *c = ac->c;
    if (err)
        ecall_fail_err(c, err, 0, ECTX_DEFAULT);
    else
        alarm_reply(c, &ac->a, ac->changed ? 1 : 0);
    free(ac);
}

void etcd__maint_alarm(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__AlarmRequest *r = (const void *)req;
    struct member *m = c->api->m;
    struct srv_alarm list[64];
    uint32_t n = srv_alarms(m, list, 64);
    if (r->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET) {
        alarm_reply(c, list, n);
        return;
    }
    bool activate = r->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
    if (r->action != ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE && !activate) {
        ecall_fail(c, GRPC_INVALID_ARGUMENT, "etcdserver: unknown alarm action");
        return;
    }
    bool active = false;
    for (uint32_t i = 0; i < n; i++)
        active |= list[i].member_id == r->memberid && list[i].type == (int)r->alarm;
    if (r->alarm == ETCDSERVERPB__ALARM_TYPE__NONE || active == activate) {
        alarm_reply(c, NULL, 0); /* nothing to change: etcd's store returns nothing */
        return;
    }
    struct alarm_call *ac = calloc(1, sizeof(*ac));
    if (!ac) {
        fail_nomem(c);
        return;
    }
    ac->c = c;
    ac->changed = true;
    ac->a.member_id = r->memberid;
    ac->a.type = (int)r->alarm;
    int rc = srv_alarm_set(m, activate, r->memberid, (int)r->alarm, alarm_done, ac);
    if (rc) {
        free(ac);
        ecall_fail_err(c, rc, 0, ECTX_DEFAULT);
    }
}

void etcd__maint_defragment(struct ecall *c, const ProtobufCMessage *req)
{
    log_info(c->api->log, "starting defragment");
    int rc = srv_defragment(c->api->m);
    if (rc) {
        log_warn(c->api->log, "failed to defragment: %s", cc_strerror(rc));
        ecall_fail_err(c, rc, 0, ECTX_DEFAULT);
        return;
    }
    log_info(c->api->log, "finished defragment");
    /* etcd answers without a header. */
    Etcdserverpb__DefragmentResponse *o =
        codec_new(&c->a, &etcdserverpb__defragment_response__descriptor);
    if (o)
        ecall_reply(c, &o->base);
    else
        fail_nomem(c);
}

static void moved(void *arg, int err)
{
    struct ecall *c = arg;
    if (err) {
        ecall_fail_err(c, err, 0, ECTX_MOVE_LEADER);
        return;
    }
    /* etcd answers without a header. */
    Etcdserverpb__MoveLeaderResponse *o =
        codec_new(&c->a, &etcdserverpb__move_leader_response__descriptor);
    if (o)
        ecall_reply(c, &o->base);
    else
        fail_nomem(c);
}

void etcd__maint_move_leader(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__MoveLeaderRequest *r = (const void *)req;
    struct srv_status st;
    srv_status(c->api->m, &st);
    if (!st.leader_id) {
        ecall_fail_err(c, CC_ENOLEADER, 0, ECTX_MOVE_LEADER);
        return;
    }
    if (st.leader_id != st.member_id) {
        /* etcd answers "not leader" here; etcdctl dials the leader itself, but a client that
         * sends it to whichever member it is connected to gets it relayed instead. */
        etcd__forward(c, &etcdserverpb__move_leader_response__descriptor, ECTX_MOVE_LEADER, false);
        return;
    }
    if (r->targetid == st.member_id) { /* raft ignores it and etcd's wait is already over */
        moved(c, 0);
        return;
    }
    /* etcd: the transferee must be a voting member (ErrBadLeaderTransferee). */
    struct srv_member *v = kv_arena_alloc(&c->a, 2 * RAFT_MAX_NODES * sizeof(*v));
    if (!v) {
        fail_nomem(c);
        return;
    }
    uint32_t n = srv_members(c->api->m, v, 2 * RAFT_MAX_NODES);
    bool ok = false;
    for (uint32_t i = 0; i < n; i++)
        if (v[i].id == r->targetid) ok = !v[i].is_learner;
    int rc = ok ? srv_move_leader(c->api->m, r->targetid, moved, c) : CC_EINVAL;
    if (rc) ecall_fail_err(c, rc, 0, ECTX_MOVE_LEADER);
}
