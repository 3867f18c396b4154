/* member.h — one running member: its parts and the internal functions its files share. */
#ifndef CONCUR_SERVER_MEMBER_H
#define CONCUR_SERVER_MEMBER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "kv/kv.h"
#include "raft/raft.h"
#include "server/config.h"
#include "server/lifecycle.h"
#include "server/server.h"
#include "storage/storage.h"
#include "transport/transport.h"
#include "util/hist.h"
#include "util/log.h"
#include "util/rng.h"

struct persist;
struct transport;

/* Limits of one member. */
#define MEMBER_MAX_PENDING                                                                         \
    512                                     /* writes in flight (one client session slot each;     \
                                             * 16 members x 512 fit kv's 8192 sessions) */
#define MEMBER_MAX_QUEUED      65536        /* writes waiting for a free slot */
#define MEMBER_MAX_READS       65536        /* reads waiting for a read index or for apply */
#define MEMBER_PERSIST_BACKLOG (256u << 20) /* bytes queued for disk before writes get EBUSY */

/* One write in flight: it owns a client session slot of this member process, so a retried
 * proposal is recognised by the state machine and applied once (Raft thesis §6.3). */
struct pending {
    bool used;
    uint32_t slot;
    uint64_t seq;   /* this slot's current sequence number */
    uint8_t *entry; /* the encoded command proposed (owned) */
    uint32_t entry_len;
    uint64_t start_ms;      /* when the client asked */
    uint64_t deadline_ms;   /* the client gets CC_ETIMEDOUT after this */
    uint64_t retry_ms;      /* re-propose when not applied by then */
    uint64_t proposed_term; /* term when last proposed */
    srv_write_fn cb;
    void *arg;
    /* Intrusive list of pendings by deadline order of creation. */
    struct pending *next_free;
};

/* A write waiting for a free slot. */
struct queued_write {
    struct queued_write *next;
    uint8_t *cmd; /* encoded kv_cmd without a session (owned) */
    uint32_t cmd_len;
    uint64_t start_ms;
    uint64_t deadline_ms;
    srv_write_fn cb;
    void *arg;
};

/* A read waiting for its barrier. */
struct read_wait {
    struct read_wait *next;
    uint64_t index; /* serve once applied >= index (0 until the read index is known) */
    uint64_t start_ms;
    uint64_t deadline_ms;
    srv_read_fn cb;
    void *arg;
};

/* A batch of reads sharing one read-index request. */
struct read_batch {
    struct read_batch *next;
    uint64_t ctx;
    struct read_wait *head, *tail;
};

struct member {
    struct member_config cfg;
    struct logger log;
    uv_loop_t *loop;
    struct rng rng;
    uint64_t session_base; /* random per process: client ids of our session slots */

    /* Durable state. The storage object belongs to the persistence thread once it runs. */
    struct storage *st;
    struct persist *persist;
    struct kv *kv;
    struct snap_file snap; /* our latest snapshot file (snap.meta.index 0 = none) */
    struct snap_reader *snap_reader;
    bool snapshot_in_progress;
    uint64_t snap_applied_at; /* applied index of the last snapshot taken */

    /* Consensus. */
    struct raft *raft;
    uv_timer_t tick;
    uv_prepare_t prepare;
    uv_idle_t idle;
    uint64_t leader;
    uint64_t leaderless_since_ms; /* when the leader was lost (or the member started); 0 while
                                   * a leader is known */
    uint64_t term;
    enum raft_role role;
    uint64_t applied; /* last index applied to kv */
    uint64_t leader_changes;
    bool stopped; /* fatal storage error: no more Raft participation */
    char fatal[256];

    struct transport *tp;

    /* Membership (members.c). */
    struct srv_member members[2 * RAFT_MAX_NODES];
    uint32_t n_members;
    struct raft_config conf; /* the latest applied configuration */
    bool was_member;         /* an applied configuration contained us */
    bool removed;            /* ... and a later one does not */
    bool attr_published;     /* our name and client URLs are in the table */
    uint64_t attr_retry_ms;
    struct {
        bool active;
        uint64_t seq;    /* origin seq of the CONF entry we wait for */
        uint64_t target; /* member ID the change is about */
        uint64_t deadline_ms;
        srv_member_fn cb;
        void *arg;
    } mchange;
    uint64_t mchange_seq;
    struct {
        bool active;
        uint64_t target;
        uint64_t deadline_ms;
        srv_done_fn cb;
        void *arg;
    } transfer;

    /* Writes. */
    struct pending slots[MEMBER_MAX_PENDING];
    struct pending *free_slots;
    uint32_t n_pending;
    struct queued_write *wq_head, *wq_tail;
    uint32_t n_queued;
    uint64_t proposals_committed, proposals_failed;
    uint64_t persist_backlog; /* bytes handed to the persistence thread, not yet durable */
    struct hist wal_fsync_us; /* duration of each WAL write + fdatasync */
    uint64_t db_size_bytes;   /* the store's size, refreshed by housekeeping (quota) */
    bool nospace;             /* a NOSPACE alarm is active (applied state) */
    bool nospace_raised;      /* we proposed NOSPACE for being over quota */
    struct hist apply_us;     /* duration of each kv_apply batch */

    /* Reads. */
    struct read_wait *next_head, *next_tail; /* waiting for the next read-index round */
    struct read_batch *batches;              /* rounds in flight */
    struct read_wait *ready_head;            /* index known, waiting for apply (FIFO) */
    struct read_wait *ready_tail;
    uint32_t n_reads;
    uint64_t next_read_ctx;

    /* Timers and shutdown. */
    struct member_hooks hooks;
    uv_timer_t housekeeping; /* request deadlines, retries, leases, attributes */
    uv_idle_t compact_idle;  /* physical compaction in small steps while any is pending */
    uv_timer_t drain;        /* shutdown: wait for writes in flight, hand leadership over */
    uint64_t drain_deadline_ms;
    uint64_t lease_cp_ms;                     /* next lease checkpoint (leader) */
    struct deferred *defer_head, *defer_tail; /* callbacks to run on the next turn */
    uv_async_t persist_async;
    uv_signal_t sigterm, sigint;
    bool signals_open; /* sigterm/sigint initialised: member_close closes them */
    bool got_sigint;   /* a second SIGINT (Ctrl-C twice) exits at once */
    bool closing;
    int exit_code;
};

/* ---- node.c: the Raft driver ---- */
int member__node_start(struct member *m);
void member__node_stop(struct member *m);
/* Called after anything that may have given Raft work; the prepare handler drains it. */
void member__kick(struct member *m);
uint64_t member__now_ms(void);
/* A fatal storage error: stop participating, fail pending work, keep serving status. */
void member__fail(struct member *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs fn(m, arg) on the next loop turn (so API callbacks never fire inside the call that
 * asked). Returns 0 or CC_ENOMEM. */
struct deferred {
    struct deferred *next;
    void (*fn)(struct member *m, void *arg);
    void *arg;
};
int member__defer(struct member *m, void (*fn)(struct member *m, void *arg), void *arg);
void member__run_deferred(struct member *m);

/* Physical compaction runs in small steps while the store has some pending. */
void member__compaction_kick(struct member *m);
/* Begins a clean shutdown with exit_code (removed from the cluster, listener failure). */
void member__shutdown(struct member *m, const char *why, int exit_code);

/* ---- alarm.c ---- */
/* Re-reads the active alarms after metadata changed (apply, boot, snapshot install). */
void member__alarms_reload(struct member *m);
/* For a client write: 0, or CC_ENOSPC when it adds data while NOSPACE is active or the store
 * is over --quota-backend-bytes (which raises NOSPACE). */
int member__quota_check(struct member *m, const struct kv_cmd *cmd);
/* Housekeeping: refresh the store size the quota is checked against. */
void member__quota_tick(struct member *m);

/* ---- lease.c ---- */
void member__leases_tick(struct member *m, uint64_t now_ms);
/* A LEASE_RENEW applied: the leader renews the lease's deadline. */
void member__lease_renewed(struct member *m, const struct kv_result *res);

/* ---- apply.c ---- */
/* Applies committed entries to the store and completes local requests. */
int member__apply(struct member *m, const struct raft_entry *ents, uint32_t n);

/* A request without a leader for 3 election timeouts of its life fails with CC_ENOLEADER
 * (instead of waiting for the full request timeout); requests that see a leader again in time
 * go on. True when a request started at start_ms should fail so now. */
bool member__leaderless_too_long(const struct member *m, uint64_t start_ms, uint64_t now_ms);

/* ---- propose.c ---- */
void member__writes_init(struct member *m);
/* srv_write for the member's own commands (META_* allowed). */
int member__write(struct member *m, const struct kv_cmd *cmd, srv_write_fn cb, void *arg, int *msg,
                  bool internal);
/* A write's session was applied: complete it. */
void member__write_applied(struct member *m, uint64_t client_id, uint64_t seq,
                           const struct kv_result *res);
/* Deadlines and retries; called from housekeeping. */
void member__writes_tick(struct member *m, uint64_t now_ms);
/* Fail everything (stopping / fatal). */
void member__writes_fail_all(struct member *m, int err);

/* ---- read.c ---- */
void member__reads_start_round(struct member *m);
void member__reads_on_state(struct member *m, const struct raft_read_state *rs);
void member__reads_on_applied(struct member *m);
void member__reads_tick(struct member *m, uint64_t now_ms);
void member__reads_fail_all(struct member *m, int err);

#endif
