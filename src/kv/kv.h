/* kv.h — the replicated state machine: an MVCC key-value store on RocksDB with etcd v3's data
 * model (revisions, ranges, txns, leases, compaction), counters, client sessions and member
 * metadata. Knows nothing of Raft, the network or client protocols.
 *
 * Threading: a store is used from one thread (the member's loop). RocksDB runs its own
 * background threads (flush, compaction); nothing here blocks on them except kv_flush,
 * kv_snapshot_open, kv_restore and kv_defragment. Do not fork() a process that has opened a
 * store and keep using RocksDB in the child (its thread pools do not survive a fork).
 *
 * Call order for the member (see also kv_watch.h):
 *   kv_open -> kv_applied_index() tells where to resume replaying the Raft log
 *   loop: kv_apply(committed entries, in index order, each exactly once; NOOP and CONF entries
 *                  with len 0, or a META_PUT the member builds from a CONF entry)
 *         kv_range / kv_txn_read for reads (after the read index is applied)
 *         kv_compact_step(budget) while kv_compact_pending() != 0
 *         kv_flush() now and then (tens of ms); release WAL segments only up to
 *                  kv_durable_index()
 *         leader: kv_lease_promote on election, kv_lease_expired -> propose LEASE_REVOKE,
 *                 kv_lease_renew on keep-alive (or propose LEASE_RENEW and renew when it is
 *                 applied), kv_lease_checkpoints -> propose LEASE_CHECKPOINT;
 *                 kv_lease_demote on losing leadership
 *         snapshots: kv_snapshot_open/read/close to send; kv_restore / kv_restore_file to
 *                 install (then continue applying after kv_applied_index())
 *   kv_close
 *
 * Errors: functions return 0 or a negative cc_err. A RocksDB write or flush failure, or running
 * out of memory inside kv_apply, stops the store: every later call returns CC_ESTOPPED and the
 * member must restart (the Raft log replays what was lost). kv_errmsg says why. */
#ifndef CONCUR_KV_H
#define CONCUR_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv_arena.h"
#include "kv/kv_cmd.h"
#include "util/log.h"

struct kv;

struct kv_opts {
    const char *dir;          /* the store's directory; created if missing (required) */
    struct logger *log;       /* may be NULL */
    size_t block_cache_bytes; /* RocksDB block cache (index/filter blocks included); 0 = 8 MiB */
    size_t memtable_bytes;    /* all memtables together; 0 = 32 MiB */
    size_t range_max_bytes;   /* keys+values in one kv_range result; 0 = 64 MiB (CC_ETOOBIG) */
    size_t watchers_max;      /* watchers per store; 0 = 65536 */
    size_t watch_buf_events;  /* events buffered per synced watcher; 0 = 1024 */
    size_t watch_buf_bytes;   /* bytes of events buffered per synced watcher; 0 = 1 MiB */
};

/* Opens (or creates) the store in opts->dir and rebuilds the in-memory index from RocksDB.
 * On failure returns a cc_err (CC_EIO, CC_ECORRUPT, CC_ENOMEM, CC_EINVAL) with a message in
 * err (errlen bytes, may be NULL/0). opts is copied; opts->dir need not outlive the call. */
int kv_open(const struct kv_opts *opts, struct kv **out, char *err, size_t errlen);

/* Flushes (best effort) and closes. Watchers and snapshot readers must be gone. NULL is ok. */
void kv_close(struct kv *kv);

/* Removes path and everything below it (a closed store's directory; a file is unlinked). A
 * missing path is not an error. Returns 0 or a cc_err (the first failure; the rest goes on). */
int kv_remove_dir(const char *path);

/* The last error's description ("" if none). Valid until the next call. */
const char *kv_errmsg(const struct kv *kv);

/* ---- results ---- */

/* A key-value pair as etcd's mvccpb.KeyValue. Bytes are owned by the enclosing result. */
struct kv_kv {
    struct kv_bytes key, value;
    int64_t create_rev, mod_rev, version, lease;
};

struct kv_range_res {
    int64_t rev; /* header revision: the store's revision when read (etcd) */
    struct kv_kv *kvs;
    size_t n;
    int64_t count; /* keys in the range at the read revision, before limit and filters */
    bool more;     /* the result was cut by the limit */
};

struct kv_put_res {
    int64_t rev;
    bool has_prev;
    struct kv_kv prev;
};

struct kv_delete_res {
    int64_t rev;
    int64_t deleted;
    struct kv_kv *prev_kvs; /* only when prev_kv was asked */
    size_t n_prev;
};

struct kv_txn_res;

struct kv_op_res {
    uint8_t type; /* enum kv_op_type */
    union {
        struct kv_range_res range;
        struct kv_put_res put;
        struct kv_delete_res del;
        struct kv_txn_res *txn;
    } u;
};

struct kv_txn_res {
    int64_t rev; /* the top-level txn: store revision after it; nested txns: 0 (as etcd) */
    bool succeeded;
    struct kv_op_res *resps;
    size_t n;
};

/* The outcome of one applied entry. err/msg say whether the command failed (a failed command
 * changes nothing but still consumes its Raft index). rev is the header revision the reply
 * carries. Memory is owned by mem: kv_result_free releases it. */
struct kv_result {
    int err;        /* 0 or a cc_err */
    int msg;        /* enum kv_msg: the exact client-facing text (kv_msg_str) */
    uint8_t type;   /* enum kv_cmd_type; KV_CMD_NONE for no-op entries */
    bool duplicate; /* a retried (client_id, seq): this is the remembered result */
    int64_t rev;
    union {
        struct kv_put_res put;    /* PUT */
        struct kv_delete_res del; /* DELETE */
        struct kv_txn_res txn;    /* TXN */
        struct {
            int64_t id, ttl_ms; /* LEASE_GRANT: the lease and its (raised) TTL;
                                   LEASE_RENEW: the lease and its TTL */
        } grant;
        struct {
            int64_t value; /* COUNTER: the new value */
        } counter;
        struct {
            int64_t revision; /* COMPACT: the compact revision recorded */
        } compact;
    } u;
    struct kv_arena mem;
};

/* Frees what r owns; r is zeroed. NULL is ok. */
void kv_result_free(struct kv_result *r);

/* ---- apply ---- */

/* One committed Raft entry. data/len: the command bytes (kv_cmd_encode); len == 0 for entries
 * that carry no command (Raft no-op and configuration entries): they advance the applied
 * index without a new revision. data is only read during the call. */
struct kv_entry {
    uint64_t index;
    const uint8_t *data;
    size_t len;
};

/* Applies n entries, in order, in ONE RocksDB write batch that also records the last entry's
 * index as the applied index (so data and applied index can never disagree after a crash;
 * the etcd 3.5.0-3.5.2 inconsistency came from not doing this). RocksDB's WAL is off: the Raft
 * log is the WAL, and after a crash the member replays from kv_applied_index()+1.
 * Preconditions: e[0].index > kv_applied_index() and indexes strictly increase.
 * res: n results, filled on success (the caller frees each with kv_result_free). A command
 * that fails (bad bytes, a check, lease not found, ...) is a result with err set, never a
 * return code. Deterministic: the same entries on the same state give the same state and
 * results on every member.
 * Returns 0, or CC_ESTOPPED / CC_EIO / CC_ENOMEM (the store is then stopped and res freed).
 * Watchers are notified (their ready callbacks run) before it returns. */
int kv_apply(struct kv *kv, const struct kv_entry *e, size_t n, struct kv_result *res);

/* ---- state ---- */

uint64_t kv_applied_index(const struct kv *kv); /* last applied Raft index (0 when empty) */
uint64_t kv_durable_index(const struct kv *kv); /* applied index known to be on disk */
int64_t kv_rev(const struct kv *kv);            /* current revision (1 when empty) */
int64_t kv_compact_rev(const struct kv *kv);    /* compacted revision (-1 when never) */

struct kv_status {
    uint64_t applied_index, durable_index;
    int64_t rev, compact_rev;
    int64_t compact_pending; /* revision still being physically compacted, 0 when idle */
    uint64_t keys;           /* keys in the index (live and deleted-not-yet-compacted) */
    uint64_t revisions;      /* revisions held in the index */
    uint64_t leases, sessions, watchers;
    uint64_t db_size_bytes;        /* etcd dbSize: SST files plus memtables, all CFs */
    uint64_t db_size_in_use_bytes; /* etcd dbSizeInUse: RocksDB's live-data estimate */
};
void kv_get_status(const struct kv *kv, struct kv_status *st);

/* Makes everything applied so far durable (an atomic flush of all column families) and
 * advances kv_durable_index() to kv_applied_index(). Blocks for the flush (milliseconds to
 * seconds). Returns 0, CC_EIO (store stopped) or CC_ESTOPPED. */
int kv_flush(struct kv *kv);

/* ---- reads (outside apply; the member serves them after its read index is applied) ---- */

/* Range with all of etcd's options (kv_cmd.h struct kv_range). Validates like kv_range_check.
 * count is computed before limit and filters; more says the limit cut the result.
 * Returns 0, CC_EINVAL (msg), CC_EFUTUREREV, CC_ECOMPACTED, CC_ETOOBIG (result over
 * range_max_bytes), CC_ENOMEM, CC_EIO. *msg (may be NULL) gets the kv_msg. On success res owns
 * memory in *a (the caller's arena; free it when done). */
int kv_range(struct kv *kv, const struct kv_range *r, struct kv_arena *a, struct kv_range_res *res,
             int *msg);

/* Serves a read-only txn (kv_txn_is_readonly) at the current revision, as etcd does without
 * going through Raft. res->type = KV_CMD_TXN; errors as for apply (res->err/msg). Returns 0
 * or CC_EINVAL when the txn writes, CC_ESTOPPED, CC_ENOMEM, CC_EIO. */
int kv_txn_read(struct kv *kv, const struct kv_txn *t, struct kv_result *res);

/* ---- compaction ---- */

/* The budget the member passes to kv_compact_step: measured at about 2 ms of CPU per step at 1M
 * keys, so one step stays well inside the 10 ms pause target even on a busy machine. */
#define KV_COMPACT_STEP_BUDGET 500

/* The revision whose superseded versions are still being physically removed, or 0. */
int64_t kv_compact_pending(const struct kv *kv);

/* Removes up to `budget` superseded revisions (and visits at most 8*budget keys) left by
 * COMPACT commands, in one RocksDB write that also records progress (resumable after a
 * restart). The member calls it from its loop while kv_compact_pending() != 0; a budget of
 * ~1000 keeps each call around a millisecond. *done (may be NULL) is set when no work remains.
 * Returns 0, CC_EIO (stopped), CC_ENOMEM, CC_ESTOPPED. */
int kv_compact_step(struct kv *kv, size_t budget, bool *done);

/* ---- leases: leader-local bookkeeping (never part of apply; times are the member's
 * monotonic milliseconds) ---- */

/* Becoming leader: every lease's deadline = now + its remaining TTL (the checkpointed
 * remaining TTL when there is one, else its TTL). Leases granted later start their clock at
 * the first kv_lease_expired / kv_lease_ttl / kv_lease_renew call. */
void kv_lease_promote(struct kv *kv, uint64_t now_ms);

/* Losing leadership: deadlines are forgotten (followers never expire leases). */
void kv_lease_demote(struct kv *kv);

/* Keep-alive on the leader: deadline = now + TTL. *ttl_ms gets the TTL. *needs_cp (may be NULL)
 * is set when the lease carries a checkpointed remaining TTL that the member should reset by
 * proposing a LEASE_CHECKPOINT with remaining_ms = 0 (as etcd's Renew does).
 * Returns 0, CC_ELEASE (unknown lease) or CC_ENOTLEADER (not promoted). */
int kv_lease_renew(struct kv *kv, int64_t id, uint64_t now_ms, int64_t *ttl_ms, bool *needs_cp);

/* Leader: writes up to max ids of leases whose deadline <= now into ids (earliest first) and
 * returns how many. The member proposes LEASE_REVOKE for each; until the revoke is applied the
 * same lease is not reported again for 1 s (so a slow commit is not re-proposed every tick).
 * Returns 0 when not promoted. */
size_t kv_lease_expired(struct kv *kv, uint64_t now_ms, int64_t *ids, size_t max);

struct kv_lease_info {
    int64_t id;
    int64_t ttl_ms;        /* granted TTL */
    int64_t remaining_ms;  /* leader: deadline - now (>= 0); follower: checkpointed or TTL */
    size_t n_keys;         /* keys attached */
    struct kv_bytes *keys; /* when asked: the attached keys, sorted, in the caller's arena */
};

/* etcd LeaseTimeToLive. keys_arena: NULL to skip the key list. Returns 0, CC_ELEASE, CC_ENOMEM. */
int kv_lease_ttl(struct kv *kv, int64_t id, uint64_t now_ms, struct kv_arena *keys_arena,
                 struct kv_lease_info *info);

/* etcd LeaseLeases: ids of existing leases greater than `after`, ascending, up to max.
 * Returns the count written. */
size_t kv_lease_list(const struct kv *kv, int64_t after, int64_t *ids, size_t max);

/* Leader: fills up to max checkpoints (id, remaining TTL at now) for leases with id > after,
 * ascending, for a LEASE_CHECKPOINT command (etcd checkpoints every 5 minutes so remaining TTLs
 * survive a leader change). Returns the count written; 0 when not promoted. */
size_t kv_lease_checkpoints(struct kv *kv, uint64_t now_ms, int64_t after, struct kv_lease_cp *out,
                            size_t max);

/* ---- member metadata (written only through META_PUT / META_DELETE commands) ---- */

/* Reads a record into *value (appended; the caller owns the buf). 0, CC_ENOTFOUND, CC_EIO,
 * CC_ETOOBIG, CC_ENOMEM. */
int kv_meta_get(struct kv *kv, const void *key, size_t key_len, struct buf *value);

/* Calls fn for every record whose key starts with prefix (plen may be 0), in key order; stops
 * when fn returns non-zero and returns that. The pointers are valid during the call only. */
int kv_meta_list(struct kv *kv, const void *prefix, size_t plen,
                 int (*fn)(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl),
                 void *arg);

/* ---- the auth store (written only through AUTH commands; etcd auth/store.go) ---- */

struct kv_auth_perm {
    uint8_t type; /* enum kv_perm_type */
    struct kv_bytes key, range_end;
};

struct kv_auth_user {
    bool no_password;
    struct kv_bytes hash;   /* the stored password hash ("" for no_password users) */
    struct kv_bytes *roles; /* granted roles, sorted */
    size_t n_roles;
};

/* etcd's auth revision: 1 for a new store, +1 for every successful AUTH command that changed
 * something (granting a role the user already has changes nothing). */
uint64_t kv_auth_revision(const struct kv *kv);

/* A user, copied into the caller's arena. 0, CC_ENOTFOUND, CC_ENOMEM. */
int kv_auth_user_get(struct kv *kv, const void *name, size_t len, struct kv_arena *a,
                     struct kv_auth_user *out);

/* A role's permissions (sorted by key as etcd keeps them), copied into the caller's arena.
 * 0, CC_ENOTFOUND, CC_ENOMEM. */
int kv_auth_role_get(struct kv *kv, const void *name, size_t len, struct kv_arena *a,
                     struct kv_auth_perm **perms, size_t *n);

/* Every user / role name, sorted bytewise, copied into the caller's arena. 0 or CC_ENOMEM. */
int kv_auth_users(struct kv *kv, struct kv_arena *a, struct kv_bytes **names, size_t *n);
int kv_auth_roles(struct kv *kv, struct kv_arena *a, struct kv_bytes **names, size_t *n);

/* ---- HashKV ---- */

/* etcd's HashKV idea: CRC-32C over every revision record (revision bytes and stored record)
 * with compact_rev < revision <= rev, plus the revisions at or below compact_rev that
 * compaction keeps, so the hash does not depend on how far physical compaction has run.
 * rev <= 0 means the current revision. Two members that applied the same commands have equal
 * hashes. Returns 0, CC_EFUTUREREV, CC_ECOMPACTED, CC_EIO, CC_ENOMEM. */
int kv_hash(struct kv *kv, int64_t rev, uint32_t *hash, int64_t *hash_rev, int64_t *compact_rev);

/* ---- snapshots ---- */

struct kv_snapshot;

/* Takes a consistent RocksDB checkpoint (flushing all column families atomically) and prepares
 * to stream it as one archive: a header (magic, version, applied index, file count, CRC), then
 * per file its name, size and header CRC, its bytes and their CRC-32C, then a trailer.
 * The store keeps working while a snapshot is open (the checkpoint is a separate directory of
 * hard links). Returns 0, CC_EIO, CC_ENOMEM, CC_ESTOPPED. */
int kv_snapshot_open(struct kv *kv, struct kv_snapshot **out);

uint64_t kv_snapshot_index(const struct kv_snapshot *s); /* applied index inside */
uint64_t kv_snapshot_size(const struct kv_snapshot *s);  /* archive bytes in total */

/* Copies up to cap bytes of the archive into buf; *n = 0 at the end. 0 or CC_EIO. */
int kv_snapshot_read(struct kv_snapshot *s, void *buf, size_t cap, size_t *n);

/* Releases the reader and deletes its checkpoint. NULL is ok. */
void kv_snapshot_close(struct kv_snapshot *s);

/* Replaces the whole store with the archive stored in the file at path, bytes
 * [offset, offset + size) (the member keeps it behind its own snapshot header); see kv_restore. */
int kv_restore_file(struct kv *kv, const char *path, uint64_t offset, uint64_t size);

/* Replaces the whole store with the archive in the file at path (written by kv_snapshot_read
 * on some member): verifies every CRC, writes the files into a new database directory, fsyncs,
 * opens it, rebuilds the index, then switches the directory pointer with an atomic rename and
 * deletes the old database. A crash at any point leaves either the old or the new store.
 * Watchers survive: they continue from the new store (cancelled with the compact revision when
 * their next revision was compacted). On failure before the switch the old store is untouched
 * and the call returns CC_ECORRUPT / CC_EIO / CC_ENOMEM; CC_ESTOPPED if the store is stopped. */
int kv_restore(struct kv *kv, const char *path);

/* etcd Defragment: compacts RocksDB's files (all column families) so space freed by deletes
 * and compaction returns to the file system. Blocks (seconds on a large store); the member
 * calls it on an operator's request. Returns 0, CC_EIO (store stopped), CC_ESTOPPED. */
int kv_defragment(struct kv *kv);

#endif
