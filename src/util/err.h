/* err.h — concur's single error enum: every function returns 0 or one of these negatives. */
#ifndef CONCUR_UTIL_ERR_H
#define CONCUR_UTIL_ERR_H

/* Keep the table in err.c in the same order. Values are stable: they may be logged. */
enum cc_err {
    CC_OK = 0,
    CC_ENOMEM = -1,       /* allocation failed */
    CC_EINVAL = -2,       /* invalid argument or malformed input */
    CC_EIO = -3,          /* I/O error (read, write, fsync) */
    CC_ENOSPC = -4,       /* no space left on device */
    CC_ECORRUPT = -5,     /* data failed a checksum or structural check */
    CC_ENOTFOUND = -6,    /* no such key, file, member, lease, ... */
    CC_EEXIST = -7,       /* already exists */
    CC_ETOOBIG = -8,      /* a size exceeded its limit */
    CC_EBUSY = -9,        /* a bounded queue or window is full; retry later */
    CC_ESTOPPED = -10,    /* the object stopped (after a fatal error or shutdown) */
    CC_ENOLEADER = -11,   /* no leader is known */
    CC_ENOTLEADER = -12,  /* this member is not the leader */
    CC_ETRANSFER = -13,   /* leadership transfer in progress */
    CC_ECONFCHANGE = -14, /* a configuration change is already in flight / not allowed now */
    CC_ECOMPACTED = -15,  /* requested revision or index has been compacted */
    CC_EFUTUREREV = -16,  /* requested revision is in the future */
    CC_ETIMEDOUT = -17,   /* a deadline passed */
    CC_ECANCELED = -18,   /* the operation was canceled (e.g. leadership lost) */
    CC_EPROTO = -19,      /* a peer or client broke the protocol */
    CC_ECLUSTER = -20,    /* a peer belongs to another cluster */
    CC_ENOTNUM = -21,     /* value is not an integer or out of range */
    CC_EDUPKEY = -22,     /* a txn writes one key twice */
    CC_ETOOMANYOPS = -23, /* a txn has too many operations */
    CC_ELEASE = -24,      /* lease not found */
    CC_EUNAVAIL = -25,    /* temporarily unavailable (starting, stopping, no quorum) */
    CC_EREMOVED = -26,    /* this member was removed from the cluster */
    CC_ECLOSED = -27,     /* connection closed */
    CC_ERR_COUNT_ = 28
};

/* Returns a static, human-readable string for rc (0 or a negative cc_err).
 * Unknown codes yield "unknown error". Never returns NULL. */
const char *cc_strerror(int rc);

/* Returns the enum's identifier ("CC_EIO") for rc, or "CC_UNKNOWN". Never NULL. */
const char *cc_errname(int rc);

/* Maps an errno value (positive) to the closest cc_err. */
int cc_from_errno(int errnum);

#endif
