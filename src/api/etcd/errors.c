/* errors.c — the cc_err/kv_msg -> etcd gRPC status table. */
#include "api/etcd/errors.h"

#include <stdbool.h>

#include "api/grpc/grpc_frame.h"
#include "kv/kv_cmd.h"
#include "util/err.h"

static struct etcd_status st(int code, const char *msg)
{
    struct etcd_status s = {code, msg};
    return s;
}

static struct etcd_status from_msg(int m, int err, enum etcd_ctx ctx)
{
    const char *text = kv_msg_str(m);
    switch (m) {
    case KV_MSG_EMPTY_KEY:
    case KV_MSG_VALUE_PROVIDED:
    case KV_MSG_LEASE_PROVIDED:
    case KV_MSG_TOO_MANY_OPS:
    case KV_MSG_DUPLICATE_KEY:
    case KV_MSG_INVALID_SORT:
    case KV_MSG_KEY_NOT_FOUND:
    case KV_MSG_NOT_INTEGER:
    case KV_MSG_OVERFLOW:
    case KV_MSG_TOO_DEEP:
        return st(GRPC_INVALID_ARGUMENT, text);
    case KV_MSG_LEASE_NOT_FOUND:
        return st(GRPC_NOT_FOUND, text);
    case KV_MSG_LEASE_EXISTS:
    case KV_MSG_USER_EXISTS:
    case KV_MSG_USER_NOT_FOUND:
    case KV_MSG_ROLE_EXISTS:
    case KV_MSG_ROLE_NOT_FOUND:
    case KV_MSG_ROLE_NOT_GRANTED:
    case KV_MSG_PERM_NOT_GRANTED:
        return st(GRPC_FAILED_PRECONDITION, text);
    case KV_MSG_USER_EMPTY:
    case KV_MSG_ROLE_EMPTY:
    case KV_MSG_INVALID_AUTH_MGMT:
        return st(GRPC_INVALID_ARGUMENT, text);
    case KV_MSG_AUTH_LIMIT:
        return st(GRPC_RESOURCE_EXHAUSTED, text);
    case KV_MSG_LEASE_TTL_TOO_LARGE:
    case KV_MSG_COMPACTED:
    case KV_MSG_FUTURE_REV:
        return st(GRPC_OUT_OF_RANGE, text);
    case KV_MSG_TOO_LARGE:
        /* A request over a limit is etcd's ErrRequestTooLarge; a read whose result is over
         * kv's range limit has no etcd equivalent (etcd would try to send it). */
        if (ctx == ECTX_READ && err == CC_ETOOBIG) return st(GRPC_RESOURCE_EXHAUSTED, text);
        return st(GRPC_INVALID_ARGUMENT, "etcdserver: request is too large");
    case KV_MSG_MALFORMED:
    case KV_MSG_BAD_VERSION:
        return st(GRPC_INTERNAL, text);
    default:
        return st(GRPC_UNKNOWN, text); /* session bookkeeping: STALE_SEQ, FORGOTTEN */
    }
}

struct etcd_status etcd_status_of(int err, int kv_msg, enum etcd_ctx ctx)
{
    if (kv_msg) return from_msg(kv_msg, err, ctx);
    bool member = ctx == ECTX_MEMBER || ctx == ECTX_PROMOTE;
    switch (err) {
    case 0:
        return st(GRPC_OK, NULL);
    case CC_ENOLEADER:
        return st(GRPC_UNAVAILABLE, "etcdserver: no leader");
    case CC_ENOTLEADER:
        return st(GRPC_FAILED_PRECONDITION, "etcdserver: not leader");
    case CC_ETIMEDOUT:
        return st(GRPC_UNAVAILABLE, "etcdserver: request timed out");
    case CC_ECANCELED:
    case CC_ETRANSFER:
        return st(GRPC_UNAVAILABLE, "etcdserver: leader changed");
    case CC_ECOMPACTED:
        return from_msg(KV_MSG_COMPACTED, err, ctx);
    case CC_EFUTUREREV:
        return from_msg(KV_MSG_FUTURE_REV, err, ctx);
    case CC_ELEASE:
        return from_msg(KV_MSG_LEASE_NOT_FOUND, err, ctx);
    case CC_EDUPKEY:
        return from_msg(KV_MSG_DUPLICATE_KEY, err, ctx);
    case CC_ETOOMANYOPS:
        return from_msg(KV_MSG_TOO_MANY_OPS, err, ctx);
    case CC_ETOOBIG:
        if (member) return st(GRPC_FAILED_PRECONDITION, "concur: too many members in cluster");
        return from_msg(KV_MSG_TOO_LARGE, err, ctx);
    case CC_ESTOPPED:
        return st(GRPC_UNAVAILABLE, "etcdserver: server stopped");
    case CC_EREMOVED:
        if (member) return st(GRPC_NOT_FOUND, "etcdserver: member not found");
        return st(GRPC_UNAVAILABLE, "etcdserver: server stopped");
    case CC_EBUSY:
        return st(GRPC_RESOURCE_EXHAUSTED, "etcdserver: too many requests");
    case CC_ENOSPC:
        return st(GRPC_RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded");
    case CC_EUNAVAIL:
        return st(GRPC_UNAVAILABLE, "etcdserver: unhealthy cluster");
    case CC_ECONFCHANGE:
        if (ctx == ECTX_PROMOTE)
            return st(GRPC_FAILED_PRECONDITION,
                      "etcdserver: can only promote a learner member which is in sync with leader");
        return st(GRPC_UNAVAILABLE, "etcdserver: unhealthy cluster");
    case CC_EEXIST:
        if (member) return st(GRPC_FAILED_PRECONDITION, "etcdserver: Peer URLs already exists");
        if (ctx == ECTX_LEASE) return from_msg(KV_MSG_LEASE_EXISTS, err, ctx);
        break;
    case CC_ENOTFOUND:
        if (member) return st(GRPC_NOT_FOUND, "etcdserver: member not found");
        if (ctx == ECTX_LEASE) return from_msg(KV_MSG_LEASE_NOT_FOUND, err, ctx);
        break;
    case CC_EINVAL:
        if (ctx == ECTX_MEMBER)
            return st(GRPC_INVALID_ARGUMENT, "etcdserver: given member URLs are invalid");
        if (ctx == ECTX_PROMOTE)
            return st(GRPC_FAILED_PRECONDITION, "etcdserver: can only promote a learner member");
        if (ctx == ECTX_MOVE_LEADER)
            return st(GRPC_FAILED_PRECONDITION, "etcdserver: bad leader transferee");
        return st(GRPC_INVALID_ARGUMENT, cc_strerror(err));
    case CC_ENOMEM:
        return st(GRPC_RESOURCE_EXHAUSTED, "concur: out of memory");
    case CC_EPROTO:
        return st(GRPC_INVALID_ARGUMENT, "concur: unknown enum value in request");
    case CC_EIO:
    case CC_ECORRUPT:
        return st(GRPC_INTERNAL, cc_strerror(err));
    default:
        break;
    }
    return st(GRPC_UNKNOWN, cc_strerror(err));
}

int etcd_http_status(int code)
{
    switch (code) {
    case GRPC_OK:
        return 200;
    case GRPC_CANCELLED:
        return 408;
    case GRPC_INVALID_ARGUMENT:
        return 400;
    case GRPC_DEADLINE_EXCEEDED:
        return 504;
    case GRPC_NOT_FOUND:
        return 404;
    case GRPC_ALREADY_EXISTS:
        return 409;
    case GRPC_PERMISSION_DENIED:
        return 403;
    case GRPC_UNAUTHENTICATED:
        return 401;
    case GRPC_RESOURCE_EXHAUSTED:
        return 429;
    case GRPC_FAILED_PRECONDITION:
        return 412;
    case GRPC_ABORTED:
        return 409;
    case GRPC_OUT_OF_RANGE:
        return 400;
    case GRPC_UNIMPLEMENTED:
        return 501;
    case GRPC_UNAVAILABLE:
        return 503;
    default:
        return 500; /* UNKNOWN, INTERNAL, DATA_LOSS */
    }
}

const char *etcd_code_name(int code)
{
    static const char *const names[GRPC_CODE_COUNT_] = {
        "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
        "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
        "DataLoss", "Unauthenticated"};
    if (code < 0 || code >= GRPC_CODE_COUNT_) return "Unknown";
    return names[code];
}
