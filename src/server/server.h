/* server.h — what one member offers the client protocols (api/): writes through Raft,
 * linearizable or serializable reads, watches, leases, membership and maintenance. */
#ifndef CONCUR_SERVER_SERVER_H
#define CONCUR_SERVER_SERVER_H

/*
 * Threading: every function runs on the member's loop thread; every callback fires on it.
 *
 * Completion: a function taking a callback either returns 0 and then calls the callback exactly
 * once, later (never from inside the call), or returns an error and never calls it. Results
 * passed to a callback (and everything they point to) are valid only during the callback.
 * A client that goes away does not cancel its request: the callback still fires and the API
 * layer discards the answer.
 *
 * Errors are cc_err codes; srv_errmsg() turns a (code, kv_msg) pair into etcd's exact text.
 */

#include <stdbool.h>
#include <stdint.h>

#include "kv/kv.h"
#include "kv/kv_watch.h"
#include "raft/raft.h"
#include "util/hist.h"

struct member;

/* ---- identity and status ---- */

struct srv_header {
    uint64_t cluster_id;
    uint64_t member_id;
    int64_t revision; /* the store revision the answer reflects */
    uint64_t raft_term;
};

/* Header for an answer that reflects the current local state. */
void srv_header(struct member *m, struct srv_header *h);

struct srv_status {
    uint64_t cluster_id, member_id, leader_id;
    uint64_t raft_term, raft_index, raft_applied_index, commit_index;
    uint64_t first_index, last_index, snap_index, log_bytes;
    enum raft_role role;
    bool is_learner;
    bool stopped; /* the member hit a fatal storage error and accepts no writes */
    int64_t revision, compact_revision;
    uint64_t db_size_bytes, db_size_in_use_bytes;
    uint64_t keys;
    uint64_t leader_changes, proposals_committed, proposals_failed, proposals_pending;
    uint64_t watchers;
    const char *version;
    char errors[256]; /* a fatal error, "" when healthy */
    /* Latency histograms (microseconds), owned by the member, valid while it lives. */
    const struct hist *wal_fsync_us; /* each WAL write + fdatasync (one per batch) */
    const struct hist *apply_us;     /* each batch applied to the store */
};
void srv_status(struct member *m, struct srv_status *st);

/* Text for a failed request: etcd's wording for (err, kv_msg) when it has one. Never NULL. */
const char *srv_errmsg(int err, int kv_msg);

/* ---- writes ---- */

/* The outcome of a write. res is the applied command's result (kv.h); its memory is only
 * valid during the callback. On failure before apply (no leader, timeout, stopped) err is set
 * and res is NULL. */
typedef void (*srv_write_fn)(void *arg, int err, const struct kv_result *res);

/* Proposes cmd (any kv_cmd except META_*; the member fills in the session) through Raft and
 * calls cb once it has been applied locally, or failed. Validates first with kv_cmd_check
 * (a rejected command returns CC_EINVAL & co. with *msg set and never calls cb).
 * Returns 0, or an error without calling cb: CC_EINVAL/CC_ETOOBIG/... (bad command; *msg is
 * the kv_msg, may be NULL), CC_ESTOPPED (fatal storage error), CC_EBUSY (too many pending). */
int srv_write(struct member *m, const struct kv_cmd *cmd, srv_write_fn cb, void *arg, int *msg);

/* ---- reads ---- */

/* The read is safe to perform: run it now (kv_range / kv_txn_read on srv_kv(m)) — or fail. */
typedef void (*srv_read_fn)(void *arg, int err);

/* Waits until a read may be served: serializable reads right away (still asynchronously);
 * linearizable ones after a read index (Raft §6.4) has been applied locally. Many reads share
 * one read-index round. Errors in cb: CC_ENOLEADER, CC_ETIMEDOUT, CC_ECANCELED (leadership
 * changed), CC_ESTOPPED. Returns 0 or CC_EBUSY (too many waiting reads). */
int srv_read_barrier(struct member *m, bool serializable, srv_read_fn cb, void *arg);

/* The local store, for reads after srv_read_barrier and for watches. */
struct kv *srv_kv(struct member *m);

/* ---- leases ---- */

/* Keep-alive: renews the lease on the leader (directly when this member leads, through Raft
 * otherwise). cb gets the TTL in ms, or CC_ELEASE / CC_ENOLEADER / CC_ETIMEDOUT. */
typedef void (*srv_lease_fn)(void *arg, int err, int64_t ttl_ms);
int srv_lease_keepalive(struct member *m, int64_t id, srv_lease_fn cb, void *arg);

/* LeaseTimeToLive with the leader's view of the remaining TTL when this member leads, else
 * the local one (etcd forwards to the leader; followers here answer from replicated state).
 * Returns 0 or CC_ELEASE. */
int srv_lease_ttl(struct member *m, int64_t id, struct kv_arena *keys_arena,
                  struct kv_lease_info *info);

/* ---- membership ---- */

#define SRV_MAX_URLS 4
#define SRV_URL_MAX  256
#define SRV_NAME_MAX 64

struct srv_member {
    uint64_t id;
    char name[SRV_NAME_MAX]; /* "" until the member has started and published it */
    uint32_t n_peer_urls, n_client_urls;
    char peer_urls[SRV_MAX_URLS][SRV_URL_MAX];
    char client_urls[SRV_MAX_URLS][SRV_URL_MAX];
    bool is_learner;
};

/* Lists the members known from the applied configuration. Returns the count (<= max). */
uint32_t srv_members(struct member *m, struct srv_member *out, uint32_t max);

typedef void (*srv_member_fn)(void *arg, int err, const struct srv_member *changed);

/* etcd MemberAdd / MemberRemove / MemberUpdate / MemberPromote. The change is proposed by the
 * leader (forwarded there when this member is a follower) with Raft's safe membership changes;
 * cb fires once the change has been applied here. Errors: CC_EEXIST ("etcdserver: peerURL
 * exists"), CC_ENOTFOUND ("etcdserver: member not found"), CC_ECONFCHANGE (another change in
 * flight, or a learner not yet in sync for promote), CC_EINVAL, CC_ENOLEADER, CC_ETIMEDOUT. */
int srv_member_add(struct member *m, const char *const *peer_urls, uint32_t n, bool learner,
                   srv_member_fn cb, void *arg);
int srv_member_remove(struct member *m, uint64_t id, srv_member_fn cb, void *arg);
int srv_member_update(struct member *m, uint64_t id, const char *const *peer_urls, uint32_t n,
                      srv_member_fn cb, void *arg);
int srv_member_promote(struct member *m, uint64_t id, srv_member_fn cb, void *arg);

/* MoveLeader: this member must lead; transfers leadership to target and calls cb when the
 * target leads (or with CC_ETIMEDOUT / CC_ENOTLEADER / CC_EINVAL). */
typedef void (*srv_done_fn)(void *arg, int err);
int srv_move_leader(struct member *m, uint64_t target, srv_done_fn cb, void *arg);

/* ---- alarms (etcd's Maintenance.Alarm; replicated) ---- */

enum srv_alarm_type { SRV_ALARM_NONE = 0, SRV_ALARM_NOSPACE = 1, SRV_ALARM_CORRUPT = 2 };

struct srv_alarm {
    uint64_t member_id;
    int type; /* enum srv_alarm_type */
};

/* The active alarms (from the applied state), at most max. Returns the count written. */
uint32_t srv_alarms(struct member *m, struct srv_alarm *out, uint32_t max);

/* Raises (activate) or clears an alarm through Raft; cb (may be NULL) fires once applied. While
 * a NOSPACE alarm is active, writes that add data (put, txn with a put, lease grant, counter)
 * fail with CC_ENOSPC; deletes and compaction still work. The member raises NOSPACE itself
 * when its backend grows past --quota-backend-bytes. Returns 0, CC_EINVAL, CC_ESTOPPED,
 * CC_EBUSY. */
int srv_alarm_set(struct member *m, bool activate, uint64_t member_id, int type, srv_done_fn cb,
                  void *arg);

/* ---- maintenance ---- */

/* A consistent snapshot of the store as a byte stream (etcd's Maintenance.Snapshot). The
 * reader is the caller's: release with kv_snapshot_close. */
int srv_snapshot_open(struct member *m, struct kv_snapshot **out);

/* Compacts RocksDB's files (etcd's Defragment). Blocks the loop while it runs. */
int srv_defragment(struct member *m);

#endif
