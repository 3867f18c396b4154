/* print_protobuf.c — the "protobuf" output format: the raw marshaled response message. */
#include "ctl/print.h"

#include <stdlib.h>

static int emit(struct ctl *ctl, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(len ? len : 1);
    if (!b) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    protobuf_c_message_pack(m, b);
    fwrite(b, 1, len, ctl->out);
    free(b);
    return 0;
}

#define PB_METHOD(fn, type)                                                                        \
    static int fn(struct ctl *ctl, const type *r)                                                  \
    {                                                                                              \
        return emit(ctl, &r->base);                                                                \
    }
#define PB_METHOD_ID(fn, type)                                                                     \
    static int fn(struct ctl *ctl, uint64_t id, const type *r)                                     \
    {                                                                                              \
        return emit(ctl, &r->base);                                                                \
    }

PB_METHOD(pb_put, Etcdserverpb__PutResponse)
PB_METHOD(pb_get, Etcdserverpb__RangeResponse)
PB_METHOD(pb_del, Etcdserverpb__DeleteRangeResponse)
PB_METHOD(pb_txn, Etcdserverpb__TxnResponse)
PB_METHOD(pb_member_add, Etcdserverpb__MemberAddResponse)
PB_METHOD(pb_member_list, Etcdserverpb__MemberListResponse)
PB_METHOD(pb_alarm, Etcdserverpb__AlarmResponse)
PB_METHOD_ID(pb_member_remove, Etcdserverpb__MemberRemoveResponse)
PB_METHOD_ID(pb_member_update, Etcdserverpb__MemberUpdateResponse)
PB_METHOD_ID(pb_member_promote, Etcdserverpb__MemberPromoteResponse)

/* etcdctl re-marshals clientv3's WatchResponse, which has no watch ID, reason or fragment. */
static int pb_watch(struct ctl *ctl, const Etcdserverpb__WatchResponse *r)
{
    Etcdserverpb__WatchResponse w = *r;
    Etcdserverpb__ResponseHeader h = *print_header_or_zero(r->header);
    w.header = &h;
    w.watch_id = 0;
    w.cancel_reason = (char *)"";
    w.fragment = 0;
    return emit(ctl, &w.base);
}

static int pb_move_leader(struct ctl *ctl, uint64_t leader, uint64_t target,
                          const Etcdserverpb__MoveLeaderResponse *r)
{
    return emit(ctl, &r->base);
}

/* clientv3's lease responses embed *pb.ResponseHeader, whose Marshal method Go promotes: for
 * those etcdctl writes the header alone. */
static int header_only(struct ctl *ctl, const Etcdserverpb__ResponseHeader *h)
{
    return h ? emit(ctl, &h->base) : 0;
}

static int pb_grant(struct ctl *ctl, const Etcdserverpb__LeaseGrantResponse *r)
{
    return header_only(ctl, r->header);
}

static int pb_keep_alive(struct ctl *ctl, const Etcdserverpb__LeaseKeepAliveResponse *r)
{
    return header_only(ctl, r->header);
}

static int pb_time_to_live(struct ctl *ctl, const Etcdserverpb__LeaseTimeToLiveResponse *r,
                           bool keys)
{
    return header_only(ctl, r->header);
}

static int pb_leases(struct ctl *ctl, const Etcdserverpb__LeaseLeasesResponse *r)
{
    return header_only(ctl, r->header);
}

/* clientv3.LeaseRevokeResponse has no Marshal method: etcdctl reports the value. */
static int pb_revoke(struct ctl *ctl, int64_t id, const Etcdserverpb__LeaseRevokeResponse *r)
{
    const Etcdserverpb__ResponseHeader *h = print_header_or_zero(r->header);
    char text[200] = "";
    size_t n = 0;
    if (h->cluster_id)
        n += (size_t)snprintf(text + n, sizeof text - n, "cluster_id:%llu ",
                              (unsigned long long)h->cluster_id);
    if (h->member_id)
        n += (size_t)snprintf(text + n, sizeof text - n, "member_id:%llu ",
                              (unsigned long long)h->member_id);
    if (h->revision)
        n += (size_t)snprintf(text + n, sizeof text - n, "revision:%lld ", (long long)h->revision);
    if (h->raft_term)
        snprintf(text + n, sizeof text - n, "raft_term:%llu ", (unsigned long long)h->raft_term);
    return ctl_error(ctl, CTL_EXIT_BAD_FEATURE,
                     "marshal unsupported for type clientv3.LeaseRevokeResponse ({%s})", text);
}

/* Endpoint results are plain structs etcdctl cannot marshal: those stay NULL and are reported
 * as unsupported. */
const struct printer printer_protobuf = {
    .name = "protobuf",
    .put = pb_put,
    .get = pb_get,
    .del = pb_del,
    .txn = pb_txn,
    .watch = pb_watch,
    .grant = pb_grant,
    .revoke = pb_revoke,
    .keep_alive = pb_keep_alive,
    .time_to_live = pb_time_to_live,
    .leases = pb_leases,
    .member_add = pb_member_add,
    .member_remove = pb_member_remove,
    .member_update = pb_member_update,
    .member_promote = pb_member_promote,
    .member_list = pb_member_list,
    .move_leader = pb_move_leader,
    .alarm = pb_alarm,
};
