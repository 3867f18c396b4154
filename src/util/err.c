/* err.c — strings for concur's error enum. */
#include "util/err.h"

#include <errno.h>

static const struct {
    const char *name;
    const char *msg;
} err_table[] = {
    {"CC_OK", "success"},
    {"CC_ENOMEM", "out of memory"},
    {"CC_EINVAL", "invalid argument"},
    {"CC_EIO", "input/output error"},
    {"CC_ENOSPC", "no space left on device"},
    {"CC_ECORRUPT", "data corrupted"},
    {"CC_ENOTFOUND", "not found"},
    {"CC_EEXIST", "already exists"},
    {"CC_ETOOBIG", "too large"},
    {"CC_EBUSY", "too busy, retry later"},
    {"CC_ESTOPPED", "stopped"},
    {"CC_ENOLEADER", "no leader"},
    {"CC_ENOTLEADER", "not leader"},
    {"CC_ETRANSFER", "leadership transfer in progress"},
    {"CC_ECONFCHANGE", "configuration change not allowed now"},
    {"CC_ECOMPACTED", "required revision has been compacted"},
    {"CC_EFUTUREREV", "required revision is a future revision"},
    {"CC_ETIMEDOUT", "timed out"},
    {"CC_ECANCELED", "canceled"},
    {"CC_EPROTO", "protocol error"},
    {"CC_ECLUSTER", "peer belongs to another cluster"},
    {"CC_ENOTNUM", "value is not an integer or out of range"},
    {"CC_EDUPKEY", "duplicate key given in txn request"},
    {"CC_ETOOMANYOPS", "too many operations in txn request"},
    {"CC_ELEASE", "requested lease not found"},
    {"CC_EUNAVAIL", "temporarily unavailable"},
    {"CC_EREMOVED", "member was removed from the cluster"},
    {"CC_ECLOSED", "connection closed"},
};

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) == CC_ERR_COUNT_,
               "err_table must cover every cc_err");

const char *cc_strerror(int rc)
{
    if (rc > 0 || -rc >= CC_ERR_COUNT_) return "unknown error";
    return err_table[-rc].msg;
}

const char *cc_errname(int rc)
{
    if (rc > 0 || -rc >= CC_ERR_COUNT_) return "CC_UNKNOWN";
    return err_table[-rc].name;
}

int cc_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return CC_OK;
    case ENOMEM:
        return CC_ENOMEM;
    case EINVAL:
        return CC_EINVAL;
    case ENOSPC:
    case EDQUOT:
        return CC_ENOSPC;
    case ENOENT:
        return CC_ENOTFOUND;
    case EEXIST:
        return CC_EEXIST;
    case E2BIG:
    case EFBIG:
    case EMSGSIZE:
        return CC_ETOOBIG;
    case EAGAIN:
        return CC_EBUSY;
    case ETIMEDOUT:
        return CC_ETIMEDOUT;
    case ECANCELED:
        return CC_ECANCELED;
    case EPROTO:
        return CC_EPROTO;
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
        return CC_ECLOSED;
    default:
        return CC_EIO;
    }
}
