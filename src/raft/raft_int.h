/* raft_int.h — the state of one Raft peer and the core's internal functions (not public). */
#ifndef CONCUR_RAFT_RAFT_INT_H
#define CONCUR_RAFT_RAFT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "raft/out.h"
#include "raft/progress.h"
#include "raft/raft.h"
#include "raft/raft_log.h"
#include "util/rng.h"

/* Members one configuration can name across voters, outgoing voters and learners. */
#define RAFT_MAX_MEMBERS (3 * RAFT_MAX_NODES)

/* Heartbeat rounds remembered for the lease (round -> tick it was sent). */
#define RAFT_ROUND_RING 256

/* Persistence batches remembered before the oldest are merged (see persist.c). */
#define RAFT_MAX_PBATCHES 4096

/* Entries handed out for persistence in one update at most (the rest go in the next). */
#define RAFT_MAX_UPDATE_ENTRIES (1u << 20)

/* A CONF entry held in the in-memory log, decoded. */
struct raft_conf_rec {
    uint64_t index;
    struct raft_config cfg;
};

/* A read waiting at the leader for its heartbeat round (§6.4). */
struct raft_read_req {
    uint64_t ctx;
    raft_id from;   /* RAFT_NONE: requested locally; else the follower that forwarded it */
    uint64_t index; /* the read index, fixed when the round is assigned */
    uint64_t round; /* 0 until assigned to a heartbeat round */
};

/* A local read a follower forwarded to its leader and still waits for. */
struct raft_fwd_read {
    uint64_t ctx;
    raft_id to;
};

/* A heartbeat round and the tick it was broadcast at (for the lease). */
struct raft_round {
    uint64_t round;
    uint64_t tick;
};

/* An update whose entries (or snapshot) the caller is making durable; see persist.c. */
struct raft_pbatch {
    uint64_t index; /* last entry (or snapshot) index of the batch */
    uint64_t term;
    uint64_t cap;       /* durability of this batch proves the log only up to here */
    bool snap;          /* the batch installs a snapshot */
    uint64_t vote_term; /* != 0: the batch holds our own vote for this term */
};

struct raft {
    struct raft_options o;
    raft_id id;
    struct rng rng;

    /* Persistent state (Figure 2), as the core sees it; the caller persists it via updates. */
    uint64_t term;
    raft_id vote;

    enum raft_role role;
    raft_id lead;

    struct raft_log log;
    uint64_t commit;
    uint64_t applied;   /* last index handed out in an update's committed */
    uint64_t persisted; /* prefix of the log known durable and equal to the in-memory log */
    uint64_t unstable;  /* first index not yet handed out for persistence */
    struct raft_pbatch *pb;
    uint32_t pb_n, pb_cap;

    /* Configuration: cfg is the latest appended (thesis §4.1), from the entry at conf_index
     * (or from the snapshot / boot when conf_index <= log.offset). base_cfg is the
     * configuration as of log.offset; confs the CONF entries held in memory, in log order. */
    struct raft_config cfg;
    uint64_t conf_index;
    struct raft_config base_cfg;
    struct raft_conf_rec *confs;
    uint32_t n_confs, cap_confs;

    struct progress prs[RAFT_MAX_MEMBERS + RAFT_MAX_MEMBERS];
    uint32_t n_prs;
    bool departing; /* prs holds members an uncommitted change removed (membership.c) */

    /* Time (§3.4): ticks counts every tick since raft_new. */
    uint64_t ticks;
    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint32_t randomized_timeout;

    /* Leader state. */
    raft_id transferee;  /* leadership transfer under way (§3.10) */
    uint64_t term_start; /* index of this leader's NOOP */
    bool lease_void;     /* sent TIMEOUT_NOW this term: no lease reads any more */
    /* Candidate that won on its own vote alone (a single voter): it becomes leader only once
     * the update holding that vote is reported durable (persist.c). */
    bool await_vote;
    bool await_pushed;
    uint64_t uncommitted_bytes; /* bytes proposed in this term and not yet committed */

    /* ReadIndex (§6.4). rq holds the leader's waiting reads (rq[rq_head .. rq_n)); fwd the
     * follower's forwarded reads. round is the last heartbeat round broadcast. */
    struct raft_read_req *rq;
    uint32_t rq_head, rq_n, rq_cap;
    struct raft_fwd_read *fwd;
    uint32_t fwd_head, fwd_n, fwd_cap;
    uint64_t round;
    struct raft_round rounds[RAFT_ROUND_RING];

    /* Latest snapshot taken or installed (what a leader streams to lagging followers). */
    struct raft_snapshot_meta snap;
    uint64_t snap_size;
    uint64_t snap_rounds; /* leader: snapshot send rounds started (unique progress.snap_round) */
    bool snap_durable;    /* false from an install until its batch is reported durable: only a
                           * durable snapshot is streamed to followers */
    /* Snapshot being received, and from which leader (term): chunks of two senders' files are
     * never mixed — their bytes may differ even for the same index. */
    bool in_active;
    raft_id in_from;
    uint64_t in_term;
    struct raft_snapshot_meta in_meta;
    uint64_t in_size;
    uint64_t in_received;

    struct raft_out out;

    /* What the previous update reported, to tell what changed. */
    struct raft_hard_state prev_hs;
    enum raft_role prev_role;
    raft_id prev_lead;
    uint64_t prev_term;
};

/* --- raft.c: roles, dispatch, shared helpers ------------------------------------------------ */
struct raft_msg *raft__send(struct raft *r, uint8_t type, raft_id to, bool after_persist);
void raft__become_follower(struct raft *r, uint64_t term, raft_id lead);
void raft__become_pre_candidate(struct raft *r);
void raft__become_candidate(struct raft *r);
void raft__become_leader(struct raft *r);
void raft__reset_election_timer(struct raft *r);
struct progress *raft__progress(struct raft *r, raft_id id);
bool raft__term_committed(const struct raft *r);
uint64_t raft__last_index(const struct raft *r);
uint64_t raft__last_term(const struct raft *r);

/* Quorum over the current configuration (joint: both halves). which selects the value. */
enum raft_qval { RAFT_Q_MATCH, RAFT_Q_READ, RAFT_Q_LEASE, RAFT_Q_ACTIVE };
uint64_t raft__quorum(const struct raft *r, enum raft_qval which);

/* --- election.c ------------------------------------------------------------------------------ */
bool raft__promotable(const struct raft *r);
void raft__tick_election(struct raft *r);
void raft__campaign(struct raft *r, bool transfer);
bool raft__in_lease(const struct raft *r);
void raft__step_vote(struct raft *r, const struct raft_msg *m);
void raft__step_vote_resp(struct raft *r, const struct raft_msg *m);

/* --- replication.c --------------------------------------------------------------------------- */
/* Leader: appends one entry of this term (data copied). 0 or CC_ENOMEM. */
int raft__append_local(struct raft *r, uint8_t type, const void *data, uint32_t len,
                       uint64_t *index_out);
void raft__step_append(struct raft *r, const struct raft_msg *m);
void raft__step_append_resp(struct raft *r, const struct raft_msg *m);
void raft__step_heartbeat(struct raft *r, const struct raft_msg *m);
void raft__step_heartbeat_resp(struct raft *r, const struct raft_msg *m);
void raft__step_propose(struct raft *r, const struct raft_msg *m);
void raft__bcast_heartbeat(struct raft *r);
void raft__maybe_commit(struct raft *r);
void raft__truncate(struct raft *r, uint64_t from);
void raft__flush(struct raft *r);
bool raft__flush_pending(const struct raft *r);

/* --- persist.c ------------------------------------------------------------------------------- */
void raft__pbatch_push(struct raft *r, uint64_t index, uint64_t term, bool snap,
                       uint64_t vote_term);
void raft__pbatch_cap(struct raft *r, uint64_t cap);

/* --- read_index.c ---------------------------------------------------------------------------- */
void raft__step_read_index(struct raft *r, const struct raft_msg *m);
void raft__step_read_index_resp(struct raft *r, const struct raft_msg *m);
void raft__reads_assign(struct raft *r, uint64_t round);
void raft__reads_advance(struct raft *r);
bool raft__reads_unassigned(const struct raft *r);
void raft__reads_fail_leader(struct raft *r, int status);
void raft__reads_fail_forwarded(struct raft *r, int status);
void raft__round_record(struct raft *r, uint64_t round);
uint64_t raft__round_tick(const struct raft *r, uint64_t round);
void raft__reads_free(struct raft *r);

/* --- transfer.c ------------------------------------------------------------------------------ */
void raft__transfer_start(struct raft *r, raft_id to);
void raft__transfer_abort(struct raft *r);
void raft__transfer_check(struct raft *r, const struct progress *p);
void raft__step_transfer_leader(struct raft *r, const struct raft_msg *m);
void raft__step_timeout_now(struct raft *r, const struct raft_msg *m);

/* --- membership.c ---------------------------------------------------------------------------- */
int raft__conf_reserve(struct raft *r, uint32_t k);
void raft__conf_appended(struct raft *r, uint64_t index, const struct raft_config *cfg);
void raft__conf_truncated(struct raft *r, uint64_t from);
void raft__conf_compacted(struct raft *r, uint64_t upto);
void raft__conf_reset(struct raft *r, uint64_t index, const struct raft_config *cfg);
void raft__conf_committed(struct raft *r);
const struct raft_config *raft__config_at(const struct raft *r, uint64_t index);
void raft__progress_sync(struct raft *r);
/* Leader: forgets members removed by a committed change — those already sent a commit index
 * covering it (only_told), or all of them. */
void raft__drop_departing(struct raft *r, bool only_told);
void raft__conf_free(struct raft *r);

/* --- config.c -------------------------------------------------------------------------------- */
/* Structural check of a configuration: bounds, sorted unique non-zero IDs, voters and learners
 * disjoint, a joint configuration has new voters. allow_empty admits a configuration with no
 * voters at all (a member waiting to join). 0 or CC_EINVAL. */
int raft__config_check(const struct raft_config *c, bool allow_empty);
/* Applies changes to cur (which must not be joint) into out: a single-voter change yields a
 * simple configuration, more than one voter change a joint one (§4.3). */
int raft__config_change(const struct raft_config *cur, const struct raft_conf_change *changes,
                        uint32_t n, struct raft_config *out);

/* --- snapshot.c ------------------------------------------------------------------------------ */
void raft__step_snapshot(struct raft *r, const struct raft_msg *m);
void raft__step_snapshot_resp(struct raft *r, const struct raft_msg *m);
void raft__send_snapshot(struct raft *r, struct progress *p);
/* Whether raft__send_snapshot would send anything to p now. */
bool raft__snapshot_pending(const struct raft *r, const struct progress *p);
void raft__tick_snapshots(struct raft *r);

/* --- msg.c ----------------------------------------------------------------------------------- */
int raft__msg_validate(const struct raft *r, const struct raft_msg *m);
int raft__entries_validate(const struct raft_entry *e, uint32_t n, bool check_conf);

#endif
