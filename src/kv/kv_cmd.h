/* kv_cmd.h — the replicated command format: what the member proposes through Raft and the
 * state machine applies (etcd v3 requests plus leases, counters and member metadata). */
#ifndef CONCUR_KV_CMD_H
#define CONCUR_KV_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv_arena.h"
#include "util/buf.h"

/* Limits. They are part of the replicated contract (every member must use the same build). */
#define KV_KEY_MAX          32768u          /* bytes in a key */
#define KV_VALUE_MAX        (8u << 20)      /* bytes in a value */
#define KV_CMD_MAX          (16u << 20)     /* bytes in an encoded command */
#define KV_TXN_OPS_MAX      128u            /* per list (compares, success, failure), as etcd */
#define KV_TXN_DEPTH_MAX    16u             /* nesting of txns inside txns */
#define KV_TXN_TOTAL_MAX    4096u           /* compares + ops over a whole txn tree */
#define KV_CHECKPOINTS_MAX  10000u          /* lease checkpoints in one command */
#define KV_META_KEY_MAX     1024u           /* bytes in a member-metadata key */
#define KV_META_VALUE_MAX   (1u << 20)      /* bytes in a member-metadata value */
#define KV_LEASE_TTL_MAX_MS 9000000000000ll /* etcd's MaxLeaseTTL (9e9 s) in ms */
#define KV_CMD_VERSION      1u              /* first byte of every encoded command */
#define KV_AUTH_NAME_MAX    1024u           /* bytes in a user or role name */
#define KV_AUTH_HASH_MAX    128u            /* bytes in a stored password hash (bcrypt: 60) */
#define KV_AUTH_USERS_MAX   10000u          /* users in the auth store */
#define KV_AUTH_ROLES_MAX   10000u          /* roles in the auth store */
#define KV_AUTH_GRANTS_MAX  1000u           /* roles granted to one user */
#define KV_AUTH_PERMS_MAX   1000u           /* permissions of one role */

/* A borrowed byte string: points into the decoded input or the caller's memory. */
struct kv_bytes {
    const uint8_t *p;
    size_t len;
};

/* Command types. Values are stable (they are on disk in the Raft log). */
enum kv_cmd_type {
    KV_CMD_NONE = 0,             /* not a command: used for results of no-op entries */
    KV_CMD_PUT = 1,              /* etcd Put */
    KV_CMD_DELETE = 2,           /* etcd DeleteRange */
    KV_CMD_TXN = 3,              /* etcd Txn (writes; read-only txns are served by kv_txn_read) */
    KV_CMD_COMPACT = 4,          /* etcd Compact: records the compact revision */
    KV_CMD_LEASE_GRANT = 5,      /* etcd LeaseGrant */
    KV_CMD_LEASE_REVOKE = 6,     /* etcd LeaseRevoke (also the leader's expiry of a lease) */
    KV_CMD_LEASE_CHECKPOINT = 7, /* etcd LeaseCheckpoint: remaining TTLs survive leader change */
    KV_CMD_COUNTER = 8,          /* atomic add to a decimal integer value (Redis INCRBY) */
    KV_CMD_META_PUT = 9,         /* member metadata namespace: set a record */
    KV_CMD_META_DELETE = 10,     /* member metadata namespace: remove a record */
    KV_CMD_LEASE_RENEW = 11,     /* keep-alive through the log: checks the lease exists and
                                    clears its checkpointed remaining TTL; the leader renews
                                    its local deadline when it applies it (kv_lease_renew) */
    KV_CMD_AUTH = 12,            /* etcd Auth service changes: users, roles, permissions
                                    (struct kv_auth; sub-operation in kv_auth.op) */
    KV_CMD_TYPE_COUNT_ = 13
};

/* etcd's RangeRequest.SortOrder / SortTarget numbering. */
enum kv_sort_order { KV_SORT_NONE = 0, KV_SORT_ASCEND = 1, KV_SORT_DESCEND = 2 };
enum kv_sort_target {
    KV_SORT_KEY = 0,
    KV_SORT_VERSION = 1,
    KV_SORT_CREATE = 2,
    KV_SORT_MOD = 3,
    KV_SORT_VALUE = 4
};

/* etcd's Compare.CompareTarget / CompareResult numbering. */
enum kv_cmp_target {
    KV_CMP_VERSION = 0,
    KV_CMP_CREATE = 1,
    KV_CMP_MOD = 2,
    KV_CMP_VALUE = 3,
    KV_CMP_LEASE = 4
};
enum kv_cmp_result { KV_CMP_EQUAL = 0, KV_CMP_GREATER = 1, KV_CMP_LESS = 2, KV_CMP_NOT_EQUAL = 3 };

/* Range end conventions (etcd): empty = the single key; "\0" = every key >= key;
 * otherwise [key, range_end). A prefix is expressed by the caller as range_end = prefix+1. */
struct kv_put {
    struct kv_bytes key, value;
    int64_t lease; /* 0 = none */
    bool prev_kv, ignore_value, ignore_lease;
};

struct kv_delete {
    struct kv_bytes key, range_end;
    bool prev_kv;
};

struct kv_range {
    struct kv_bytes key, range_end;
    int64_t limit;    /* <= 0: no limit */
    int64_t revision; /* <= 0: latest */
    uint8_t sort_order, sort_target;
    bool keys_only, count_only;
    int64_t min_mod_rev, max_mod_rev, min_create_rev, max_create_rev; /* 0 = no filter */
};

struct kv_compare {
    uint8_t target; /* enum kv_cmp_target */
    uint8_t result; /* enum kv_cmp_result */
    struct kv_bytes key, range_end;
    int64_t number;        /* version / create / mod / lease operand */
    struct kv_bytes value; /* value operand (target == KV_CMP_VALUE) */
};

enum kv_op_type { KV_OP_RANGE = 1, KV_OP_PUT = 2, KV_OP_DELETE = 3, KV_OP_TXN = 4 };

struct kv_txn;

struct kv_op {
    uint8_t type; /* enum kv_op_type */
    union {
        struct kv_range range;
        struct kv_put put;
        struct kv_delete del;
        struct kv_txn *txn;
    } u;
};

struct kv_txn {
    struct kv_compare *cmp;
    size_t n_cmp;
    struct kv_op *success;
    size_t n_success;
    struct kv_op *failure;
    size_t n_failure;
};

struct kv_compact {
    int64_t revision;
    bool physical; /* the client wants the reply after physical removal (kv_compact_pending) */
};

struct kv_lease_grant {
    int64_t id;         /* 0: the store derives one from the Raft index (deterministic) */
    int64_t ttl_ms;     /* requested TTL */
    int64_t min_ttl_ms; /* the proposer's minimum; the TTL is raised to it (etcd minLeaseTTL) */
};

struct kv_lease_cp {
    int64_t id;
    int64_t remaining_ms;
};

struct kv_counter {
    struct kv_bytes key;
    int64_t delta; /* INCRBY delta; DECRBY n is delta = -n */
};

/* Auth store changes (etcd auth/store.go). Every existence check happens when applied. */
enum kv_auth_op {
    KV_AUTH_USER_ADD = 1,      /* user, hash or no_password */
    KV_AUTH_USER_DELETE = 2,   /* user */
    KV_AUTH_USER_PASSWORD = 3, /* user, hash (replaces the hash; keeps no_password as it was) */
    KV_AUTH_USER_GRANT = 4,    /* user, role */
    KV_AUTH_USER_REVOKE = 5,   /* user, role */
    KV_AUTH_ROLE_ADD = 6,      /* role */
    KV_AUTH_ROLE_DELETE = 7,   /* role (also revoked from every user) */
    KV_AUTH_ROLE_GRANT = 8,    /* role, key, range_end, perm */
    KV_AUTH_ROLE_REVOKE = 9,   /* role, key, range_end */
    KV_AUTH_OP_COUNT_ = 10
};

/* etcd's authpb.Permission.Type numbering. */
enum kv_perm_type { KV_PERM_READ = 0, KV_PERM_WRITE = 1, KV_PERM_READWRITE = 2 };

struct kv_auth {
    uint8_t op;                     /* enum kv_auth_op */
    struct kv_bytes user, role;     /* names (unused ones empty) */
    struct kv_bytes hash;           /* bcrypt hash computed by the proposing member */
    bool no_password;               /* USER_ADD: etcd's UserAddOptions.no_password */
    struct kv_bytes key, range_end; /* ROLE_GRANT / ROLE_REVOKE */
    uint8_t perm;                   /* ROLE_GRANT: enum kv_perm_type */
};

struct kv_cmd {
    uint8_t type; /* enum kv_cmd_type */
    /* Client session (Raft thesis §6.3): when has_session, a retry of (client_id, seq) returns
     * the remembered result instead of applying again. seq must grow per client. */
    bool has_session;
    uint64_t client_id, seq;
    union {
        struct kv_put put;
        struct kv_delete del;
        struct kv_txn txn;
        struct kv_compact compact;
        struct kv_lease_grant grant;
        int64_t revoke_id;
        int64_t renew_id;
        struct {
            struct kv_lease_cp *cps;
            size_t n;
        } checkpoint;
        struct kv_counter counter;
        struct {
            struct kv_bytes key, value; /* value unused for META_DELETE */
        } meta;
        struct kv_auth auth;
    } u;
};

/* Why a command or read failed, beyond its cc_err: stable ids whose strings are etcd's (or
 * Redis's) exact error texts so the API layers can reply verbatim. Stored in the session table:
 * append only. */
enum kv_msg {
    KV_MSG_NONE = 0,
    KV_MSG_EMPTY_KEY,           /* CC_EINVAL    "etcdserver: key is not provided" */
    KV_MSG_VALUE_PROVIDED,      /* CC_EINVAL    "etcdserver: value is provided" */
    KV_MSG_LEASE_PROVIDED,      /* CC_EINVAL    "etcdserver: lease is provided" */
    KV_MSG_TOO_MANY_OPS,        /* CC_ETOOMANYOPS */
    KV_MSG_DUPLICATE_KEY,       /* CC_EDUPKEY */
    KV_MSG_INVALID_SORT,        /* CC_EINVAL    "etcdserver: invalid sort option" */
    KV_MSG_KEY_NOT_FOUND,       /* CC_ENOTFOUND "etcdserver: key not found" */
    KV_MSG_LEASE_NOT_FOUND,     /* CC_ELEASE    "etcdserver: requested lease not found" */
    KV_MSG_LEASE_EXISTS,        /* CC_EEXIST    "etcdserver: lease already exists" */
    KV_MSG_LEASE_TTL_TOO_LARGE, /* CC_EINVAL    "etcdserver: too large lease TTL" */
    KV_MSG_COMPACTED,           /* CC_ECOMPACTED */
    KV_MSG_FUTURE_REV,          /* CC_EFUTUREREV */
    KV_MSG_NOT_INTEGER,         /* CC_ENOTNUM   "ERR value is not an integer or out of range" */
    KV_MSG_OVERFLOW,            /* CC_ENOTNUM   "ERR increment or decrement would overflow" */
    KV_MSG_STALE_SEQ,           /* CC_EEXIST    a retry older than the session's last request */
    KV_MSG_RESULT_FORGOTTEN,    /* CC_EEXIST    a duplicate whose result was too big to keep */
    KV_MSG_TOO_LARGE,           /* CC_ETOOBIG   a key, value, command or result over its limit */
    KV_MSG_MALFORMED,           /* CC_EINVAL    the command bytes do not decode */
    KV_MSG_BAD_VERSION,         /* CC_EINVAL    unknown command format version */
    KV_MSG_TOO_DEEP,            /* CC_EINVAL    txns nested deeper than KV_TXN_DEPTH_MAX */
    KV_MSG_USER_EXISTS,         /* CC_EEXIST    "etcdserver: user name already exists" */
    KV_MSG_USER_NOT_FOUND,      /* CC_ENOTFOUND "etcdserver: user name not found" */
    KV_MSG_USER_EMPTY,          /* CC_EINVAL    "etcdserver: user name is empty" */
    KV_MSG_ROLE_EXISTS,         /* CC_EEXIST    "etcdserver: role name already exists" */
    KV_MSG_ROLE_NOT_FOUND,      /* CC_ENOTFOUND "etcdserver: role name not found" */
    KV_MSG_ROLE_EMPTY,          /* CC_EINVAL    "etcdserver: role name is empty" */
    KV_MSG_ROLE_NOT_GRANTED,    /* CC_ENOTFOUND "etcdserver: role is not granted to the user" */
    KV_MSG_PERM_NOT_GRANTED,    /* CC_ENOTFOUND "etcdserver: permission is not granted to the
                                   role" */
    KV_MSG_INVALID_AUTH_MGMT,   /* CC_EINVAL    "etcdserver: invalid auth management" */
    KV_MSG_AUTH_LIMIT,          /* CC_ETOOBIG   too many users, roles, grants or permissions */
    KV_MSG_COUNT_
};

/* The exact client-facing text for m ("" for KV_MSG_NONE). Never NULL. */
const char *kv_msg_str(int m);

/* Encodes cmd (which the caller keeps owning) into out, appending. Does not validate
 * semantics (see kv_cmd_check); fails with CC_ETOOBIG when the encoding would exceed
 * KV_CMD_MAX or a key/value exceeds its limit, CC_EINVAL for an unknown type, CC_ENOMEM.
 * On failure out->len is restored.
 *
 * Format (version 1), little-endian; uv = unsigned LEB128 varint, sv = zigzag varint,
 * bytes = uv length + data:
 *   u8 version(=1) | u8 type | u8 flags (bit0: session) | [uv client_id | uv seq] | body
 *   PUT       bytes key | bytes value | sv lease | u8 bits (prev_kv, ignore_value, ignore_lease)
 *   DELETE    bytes key | bytes range_end | u8 bits (prev_kv)
 *   TXN       txn := uv n_cmp | cmp* | uv n_succ | op* | uv n_fail | op*
 *             cmp := u8 target | u8 result | bytes key | bytes range_end |
 *                    (target == VALUE ? bytes value : sv number)
 *             op  := u8 op_type | RANGE | PUT body | DELETE body | txn
 *             RANGE := bytes key | bytes range_end | sv limit | sv revision | u8 sort_order |
 *                      u8 sort_target | u8 bits (keys_only, count_only) |
 *                      sv min_mod | sv max_mod | sv min_create | sv max_create
 *   COMPACT   sv revision | u8 physical
 *   LEASE_GRANT sv id | sv ttl_ms | sv min_ttl_ms
 *   LEASE_REVOKE sv id;   LEASE_RENEW sv id
 *   LEASE_CHECKPOINT uv n | (sv id | sv remaining_ms)*
 *   COUNTER   bytes key | sv delta
 *   META_PUT  bytes key | bytes value;   META_DELETE bytes key
 *   AUTH      u8 op | bytes user | bytes role | bytes hash | u8 bits (no_password) |
 *             bytes key | bytes range_end | u8 perm
 * Nothing may follow the body. */
int kv_cmd_encode(const struct kv_cmd *cmd, struct buf *out);

/* Reads only the header of an encoded command: true (with *client_id, *seq) when it carries a
 * client session, false when it has none or the header is malformed. No allocation. */
bool kv_cmd_session(const uint8_t *p, size_t len, uint64_t *client_id, uint64_t *seq);

/* Decodes len bytes at p into *out. Strict: unknown versions, types, flag bits or enum values,
 * truncated or trailing bytes, over-long varints, and sizes past the limits above are errors.
 * Arrays are allocated from `a` (the caller frees it); byte strings point into p, which must
 * outlive *out. Returns 0, CC_EINVAL (malformed; *msg = KV_MSG_MALFORMED, _BAD_VERSION,
 * _TOO_DEEP), CC_ETOOBIG (*msg = KV_MSG_TOO_LARGE) or CC_ENOMEM. msg may be NULL. Does not run
 * kv_cmd_check. */
int kv_cmd_decode(const uint8_t *p, size_t len, struct kv_arena *a, struct kv_cmd *out, int *msg);

/* etcd's request validation (v3rpc checkPutRequest/checkRangeRequest/checkTxnRequest and
 * checkIntervals): empty keys, ignore_value with a value, ignore_lease with a lease, sort
 * options, more than KV_TXN_OPS_MAX per list, overlapping writes to one key in a txn
 * (CC_EDUPKEY: two puts of a key, or a put inside a deleted range, across nesting levels as
 * etcd decides; puts in the two branches of one nested txn may repeat). One deliberate
 * difference: a from-key delete (range_end "\0") covers every key >= key here, while etcd
 * compares "\0" literally, misses the overlap and can then panic applying the txn. Deterministic
 * and allocation-free except for the txn overlap check, which uses scratch memory of its own. The
 * member may call it before proposing (to fail fast); apply calls it again. Returns 0 or a cc_err
 * with *msg set (msg may be NULL). */
int kv_cmd_check(const struct kv_cmd *cmd, int *msg);

/* etcd's auth request checks that need no store: empty names for USER_ADD / ROLE_ADD
 * (KV_MSG_USER_EMPTY / _ROLE_EMPTY) and a permission range that is not a key, a key range or a
 * from-key range (KV_MSG_INVALID_AUTH_MGMT, etcd isValidPermissionRange). Part of kv_cmd_check. */
int kv_auth_check(const struct kv_auth *a, int *msg);

/* Same checks for a read-only request served outside apply. */
int kv_range_check(const struct kv_range *r, int *msg);
int kv_txn_check(const struct kv_txn *t, int *msg);

/* True when the txn (and every nested txn) contains only ranges: the member may then serve it
 * with kv_txn_read after a read index instead of proposing it. */
bool kv_txn_is_readonly(const struct kv_txn *t);

#endif
