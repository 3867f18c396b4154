/* methods.c — the etcd v3 method table: gRPC path, grpc-gateway routes (etcd 3.4's
 * rpc.pb.gw.go), request type, kind and handlers. Maintenance.Downgrade (etcd 3.5) is left
 * out on purpose: etcd 3.4 answers UNIMPLEMENTED for it, and so does the gRPC library. */
#include "api/etcd/etcd_int.h"

#define PB(name) (&etcdserverpb__##name##__descriptor)

#define UNARY(svc, meth, gw, alias, req, flags, fn)                                                \
    {                                                                                              \
        "/etcdserverpb." svc "/" meth, gw, alias, PB(req), EM_UNARY, flags, fn, NULL, NULL, NULL,  \
            NULL, NULL                                                                             \
    }

#define AUTH(meth, gw, req) UNARY("Auth", meth, gw, NULL, req, 0, etcd__auth)

const struct etcd_method etcd__methods[] = {
    UNARY("KV", "Range", "/v3/kv/range", NULL, range_request, EMF_LEARNER_SERIALIZABLE,
          etcd__kv_range),
    UNARY("KV", "Put", "/v3/kv/put", NULL, put_request, EMF_WRITE, etcd__kv_put),
    UNARY("KV", "DeleteRange", "/v3/kv/deleterange", NULL, delete_range_request, EMF_WRITE,
          etcd__kv_delete),
    UNARY("KV", "Txn", "/v3/kv/txn", NULL, txn_request, EMF_WRITE, etcd__kv_txn),
    UNARY("KV", "Compact", "/v3/kv/compaction", NULL, compaction_request, 0, etcd__kv_compact),

    {"/etcdserverpb.Watch/Watch", "/v3/watch", NULL, PB(watch_request), EM_STREAMING, 0, NULL,
     etcd__watch_start, etcd__watch_message, etcd__watch_half_close, etcd__watch_cancel,
     etcd__watch_writable},

    UNARY("Lease", "LeaseGrant", "/v3/lease/grant", NULL, lease_grant_request, 0,
          etcd__lease_grant),
    UNARY("Lease", "LeaseRevoke", "/v3/lease/revoke", "/v3/kv/lease/revoke", lease_revoke_request,
          0, etcd__lease_revoke),
    {"/etcdserverpb.Lease/LeaseKeepAlive", "/v3/lease/keepalive", NULL,
     PB(lease_keep_alive_request), EM_STREAMING, 0, NULL, etcd__keepalive_start,
     etcd__keepalive_message, etcd__keepalive_half_close, etcd__keepalive_cancel,
     etcd__keepalive_writable},
    UNARY("Lease", "LeaseTimeToLive", "/v3/lease/timetolive", "/v3/kv/lease/timetolive",
          lease_time_to_live_request, 0, etcd__lease_ttl),
    UNARY("Lease", "LeaseLeases", "/v3/lease/leases", "/v3/kv/lease/leases", lease_leases_request,
          0, etcd__lease_leases),

    UNARY("Cluster", "MemberAdd", "/v3/cluster/member/add", NULL, member_add_request, 0,
          etcd__member_add),
    UNARY("Cluster", "MemberRemove", "/v3/cluster/member/remove", NULL, member_remove_request, 0,
          etcd__member_remove),
    UNARY("Cluster", "MemberUpdate", "/v3/cluster/member/update", NULL, member_update_request, 0,
          etcd__member_update),
    UNARY("Cluster", "MemberList", "/v3/cluster/member/list", NULL, member_list_request, 0,
          etcd__member_list),
    UNARY("Cluster", "MemberPromote", "/v3/cluster/member/promote", NULL, member_promote_request, 0,
          etcd__member_promote),

    UNARY("Maintenance", "Alarm", "/v3/maintenance/alarm", NULL, alarm_request, 0,
          etcd__maint_alarm),
    UNARY("Maintenance", "Status", "/v3/maintenance/status", NULL, status_request, EMF_LEARNER_OK,
          etcd__maint_status),
    UNARY("Maintenance", "Defragment", "/v3/maintenance/defragment", NULL, defragment_request, 0,
          etcd__maint_defragment),
    /* Hash and HashKV share one gateway route in etcd 3.4; the first registered (Hash) wins. */
    UNARY("Maintenance", "Hash", "/v3/maintenance/hash", NULL, hash_request, 0, etcd__maint_hash),
    UNARY("Maintenance", "HashKV", NULL, NULL, hash_kvrequest, 0, etcd__maint_hashkv),
    {"/etcdserverpb.Maintenance/Snapshot", "/v3/maintenance/snapshot", NULL, PB(snapshot_request),
     EM_SERVER_STREAM, 0, etcd__snapshot_request, NULL, NULL, NULL, etcd__snapshot_cancel,
     etcd__snapshot_writable},
    UNARY("Maintenance", "MoveLeader", "/v3/maintenance/transfer-leadership", NULL,
          move_leader_request, 0, etcd__maint_move_leader),

    AUTH("AuthEnable", "/v3/auth/enable", auth_enable_request),
    AUTH("AuthDisable", "/v3/auth/disable", auth_disable_request),
    AUTH("AuthStatus", NULL, auth_status_request),
    AUTH("Authenticate", "/v3/auth/authenticate", authenticate_request),
    AUTH("UserAdd", "/v3/auth/user/add", auth_user_add_request),
    AUTH("UserGet", "/v3/auth/user/get", auth_user_get_request),
    AUTH("UserList", "/v3/auth/user/list", auth_user_list_request),
    AUTH("UserDelete", "/v3/auth/user/delete", auth_user_delete_request),
    AUTH("UserChangePassword", "/v3/auth/user/changepw", auth_user_change_password_request),
    AUTH("UserGrantRole", "/v3/auth/user/grant", auth_user_grant_role_request),
    AUTH("UserRevokeRole", "/v3/auth/user/revoke", auth_user_revoke_role_request),
    AUTH("RoleAdd", "/v3/auth/role/add", auth_role_add_request),
    AUTH("RoleGet", "/v3/auth/role/get", auth_role_get_request),
    AUTH("RoleList", "/v3/auth/role/list", auth_role_list_request),
    AUTH("RoleDelete", "/v3/auth/role/delete", auth_role_delete_request),
    AUTH("RoleGrantPermission", "/v3/auth/role/grant", auth_role_grant_permission_request),
    AUTH("RoleRevokePermission", "/v3/auth/role/revoke", auth_role_revoke_permission_request),

    {NULL, NULL, NULL, NULL, EM_UNARY, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};
