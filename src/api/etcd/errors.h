/* errors.h — concur's errors (cc_err + kv_msg) as etcd's gRPC statuses: the code and the exact
 * text clients match on (etcd api/v3rpc/rpctypes/error.go, v3rpc/util.go togRPCError). */
#ifndef CONCUR_API_ETCD_ERRORS_H
#define CONCUR_API_ETCD_ERRORS_H

/* What the failed request was about: a few cc_err codes mean different etcd errors per
 * service (CC_EEXIST is a taken peer URL in MemberAdd, an existing lease in LeaseGrant). */
enum etcd_ctx {
    ECTX_DEFAULT = 0, /* KV writes, maintenance */
    ECTX_READ,        /* Range, read-only Txn, HashKV */
    ECTX_LEASE,       /* Lease service */
    ECTX_MEMBER,      /* MemberAdd/Remove/Update */
    ECTX_PROMOTE,     /* MemberPromote */
    ECTX_MOVE_LEADER, /* Maintenance.MoveLeader */
};

struct etcd_status {
    int code;        /* enum grpc_code */
    const char *msg; /* static text */
};

/* Maps (err, kv_msg) in ctx to etcd's status. kv_msg (enum kv_msg, 0 for none) wins when set.
 * err 0 with no kv_msg gives OK. Never fails; unknown errors become UNKNOWN with
 * cc_strerror's text. */
struct etcd_status etcd_status_of(int err, int kv_msg, enum etcd_ctx ctx);

/* The HTTP status grpc-gateway v1 (etcd 3.4's) answers for a gRPC code. */
int etcd_http_status(int grpc_code);

/* The code's name as Go's codes.Code.String() spells it ("InvalidArgument"), for metrics. */
const char *etcd_code_name(int grpc_code);

#endif
