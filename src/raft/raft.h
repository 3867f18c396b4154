/* raft.h — the Raft consensus core: a pure, deterministic state machine driven by events. */
#ifndef CONCUR_RAFT_RAFT_H
#define CONCUR_RAFT_RAFT_H

/*
 * What this is
 * ------------
 * One Raft peer (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm",
 * and Ongaro's thesis, cited as §N below). It performs no I/O, reads no clock, draws no
 * randomness except from the seeded generator it is created with, starts no threads and has no
 * global state. The same sequence of calls always yields the same sequence of updates.
 *
 * The core keeps the uncompacted log (entries after the last snapshot) in memory; the caller
 * keeps the durable copy (src/storage) and the state machine (src/kv). The caller drives the
 * core with events and, after each batch of events, collects a `struct raft_update` saying
 * what to do.
 *
 * Events
 * ------
 *   raft_tick            time passed (one tick; the caller picks the tick length)
 *   raft_step            a message from a peer arrived
 *   raft_propose         a client wants an entry appended (followers forward it to the leader)
 *   raft_propose_conf    a membership change (leader only)
 *   raft_read_index      a linearizable read wants a read index (§6.4)
 *   raft_transfer_leadership  hand leadership to another voter (§3.10)
 *   raft_persisted       the caller's storage made entries durable
 *   raft_snapshot_taken  the caller wrote a snapshot of its state machine
 *   raft_compact         the caller no longer needs log entries up to an index
 *   raft_report_unreachable / raft_report_snapshot_failed   transport feedback
 *
 * The update contract (what the caller must do, in this order)
 * -------------------------------------------------------------
 * After any events, call raft_get_update(). For the update u it returns:
 *
 *  1. Persist, in order and in one durable batch: u.snap_chunks (write each chunk's bytes at its
 *     offset into the incoming snapshot file for u.snap_chunks[i].meta.index; a chunk at offset
 *     0 starts that file afresh), then, if
 *     u.snapshot_ready, make that snapshot file durable and install it into the state machine
 *     (it replaces the state machine; the log before it is discarded), then u.entries (if
 *     entries[0].index is at or below the last stored index, the stored suffix from
 *     entries[0].index on is truncated first), then u.hs if u.hs_changed. The batch may be
 *     written on another thread while the caller goes on calling the core (§10.2.1), but
 *     batches must become durable in the order raft_get_update returned them.
 *  2. Send u.msgs now, before or while persisting. (A leader's appends go out while it writes
 *     the same entries to its own disk, §10.2.1.)
 *  3. Send u.msgs_after_persist only once everything in step 1 of this update (and of every
 *     earlier update) is durable. Votes, append acknowledgements and snapshot acknowledgements
 *     live here: a peer must never promise what it has not persisted (§3.8, Figure 3.1). So do
 *     a candidate's vote requests: no candidate may win on a vote for itself a crash could
 *     erase.
 *  4. When the batch is durable and u.persist_report is set, call
 *     raft_persisted(r, u.persist_index, u.persist_term). That is the index and term of the last
 *     entry in u.entries (or of the snapshot, when the update only installed one), and in one
 *     case an update with neither: a candidate that is the only voter won on its own vote and
 *     becomes leader only once that vote is durable (else, after a crash, it could win the same
 *     term again with a different log). Reports must follow the order of the updates; a report
 *     may cover several batches (the last one's values).
 *  5. Apply u.committed, in order, to the state machine. The core only hands out committed
 *     entries that are also durable locally, so the state machine never runs ahead of the log.
 *     Entries of type RAFT_ENTRY_NOOP and RAFT_ENTRY_CONF are applied too (the state machine
 *     records the applied index; CONF entries carry the caller's context bytes).
 *  6. Serve u.reads: a read with status 0 may be answered once the state machine has applied
 *     at least read.index; a non-zero status is an error code for that read.
 *
 * Lifetime: every pointer inside an update, and inside the messages it holds, points into
 * memory the core owns and stays valid only until the next call to any function below that
 * takes a non-const `struct raft *`. Copy what you need to keep (see raft_msg_copy).
 *
 * Errors: functions return 0 or a negative cc_err (util/err.h). A message that makes no sense
 * (unknown type, not addressed to us, inconsistent entries or chunk geometry) is ignored with
 * CC_EPROTO (CC_ETOOBIG beyond the RAFT_*_LIMIT bounds) and changes nothing. CC_ENOMEM can
 * come from any call that may allocate; the core then stays consistent (an outgoing message
 * that cannot be queued is dropped, which Raft tolerates like any lost message).
 * Programmer errors (violated preconditions, broken invariants such as truncating a committed
 * entry) are assertions.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Node IDs are 64-bit (etcd member IDs); 0 means "none". */
typedef uint64_t raft_id;

#define RAFT_NONE 0

/* Most voters (or outgoing voters, or learners) one configuration may name. */
#define RAFT_MAX_NODES 16

/* Hard upper bounds on option values: a peer's message claiming more is refused. */
#define RAFT_MAX_ENTRY_BYTES_LIMIT (64u << 20)
#define RAFT_MAX_MSG_ENTRIES_LIMIT 65536u
#define RAFT_MAX_SNAP_CHUNK_LIMIT  (16u << 20)

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 1, /* a client command: opaque bytes */
    RAFT_ENTRY_NOOP = 2,   /* appended by every new leader at the start of its term (§5.4.2) */
    RAFT_ENTRY_CONF = 3,   /* a membership configuration; see raft_conf_entry_decode */
};

struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type;  /* enum raft_entry_type */
    uint32_t len;  /* bytes at data */
    uint8_t *data; /* NULL iff len == 0; ownership: see the function that hands it out */
};

/* What must be durable before a vote or acknowledgement leaves this peer (Figure 2, §3.8). */
struct raft_hard_state {
    uint64_t term;
    raft_id vote;
    uint64_t commit;
};

/* A membership configuration. When n_voters_out > 0 the cluster is in joint consensus
 * (C_old,new, §4.3): voters is C_new, voters_out is C_old, and decisions need a majority of
 * each. Learners receive the log but never vote or count toward a majority. An ID appears at
 * most once across voters and learners (it may be in both voters_out and learners while a voter
 * is being demoted). Lists are kept sorted ascending. */
struct raft_config {
    uint32_t n_voters;
    uint32_t n_voters_out;
    uint32_t n_learners;
    raft_id voters[RAFT_MAX_NODES];
    raft_id voters_out[RAFT_MAX_NODES];
    raft_id learners[RAFT_MAX_NODES];
};

struct raft_snapshot_meta {
    uint64_t index;            /* last log index the snapshot covers; 0 = no snapshot */
    uint64_t term;             /* term of that entry */
    struct raft_config config; /* configuration as of index */
};

enum raft_msg_type {
    RAFT_MSG_APPEND = 1, /* AppendEntries (also the heartbeat's catch-up path) */
    RAFT_MSG_APPEND_RESP = 2,
    RAFT_MSG_VOTE = 3, /* RequestVote */
    RAFT_MSG_VOTE_RESP = 4,
    RAFT_MSG_PREVOTE = 5, /* §9.6: same fields as VOTE, term = the term it would use */
    RAFT_MSG_PREVOTE_RESP = 6,
    RAFT_MSG_HEARTBEAT = 7, /* carries commit (bounded by the follower's match) and ctx */
    RAFT_MSG_HEARTBEAT_RESP = 8,
    RAFT_MSG_SNAPSHOT = 9, /* InstallSnapshot, one chunk (§5.1 of the paper / Figure 5.3) */
    RAFT_MSG_SNAPSHOT_RESP = 10,
    RAFT_MSG_PROPOSE = 11,    /* a follower forwarding client entries to the leader */
    RAFT_MSG_READ_INDEX = 12, /* a follower asking the leader for a read index (ctx) */
    RAFT_MSG_READ_INDEX_RESP = 13,
    RAFT_MSG_TIMEOUT_NOW = 14,     /* leadership transfer: start an election now (§3.10) */
    RAFT_MSG_TRANSFER_LEADER = 15, /* a follower forwarding a transfer request to the leader */
    RAFT_MSG_TYPE_MAX_ = 15
};

/*
 * One message. Fields not listed for a type are zero.
 *   APPEND:         term, index = prev log index, log_term = prev log term, commit, entries
 *   APPEND_RESP:    term, index = last index now matching (accept) or the rejected prev index
 *                   (reject), reject, hint_index/hint_term = conflict hint (§5.3 optimization:
 *                   hint_term is the follower's term at hint_index, the first index of that term
 *                   in its log; hint_term 0 means the follower's log ends at hint_index)
 *   VOTE, PREVOTE:  term, index = last log index, log_term = last log term,
 *                   ctx = 1 when sent for a leadership transfer (bypasses the leader lease)
 *   *_RESP (votes): term, reject
 *   HEARTBEAT:      term, commit, ctx = the broadcast's round number (every broadcast has one;
 *                   ReadIndex and the lease count acknowledged rounds)
 *   HEARTBEAT_RESP: term, ctx echoed
 *   SNAPSHOT:       term, snap, snap_size, offset, len, data, done (last chunk),
 *                   ctx = the leader's send round (a resend from an earlier offset is a new one)
 *   SNAPSHOT_RESP:  term, snap.index, offset = bytes received so far, reject, done, ctx echoed
 *   PROPOSE:        entries (index/term 0; the leader assigns them)
 *   READ_INDEX:     ctx
 *   READ_INDEX_RESP: ctx, index = read index, reject = 1 when the leader could not serve it
 *   TIMEOUT_NOW:    term
 *   TRANSFER_LEADER: index = the transferee's ID
 */
struct raft_msg {
    uint8_t type;
    raft_id from;
    raft_id to;
    uint64_t term;
    uint64_t log_term;
    uint64_t index;
    uint64_t commit;
    uint64_t ctx;
    uint64_t hint_index;
    uint64_t hint_term;
    bool reject;
    uint32_t n_entries;
    struct raft_entry *entries;
    /* SNAPSHOT / SNAPSHOT_RESP */
    struct raft_snapshot_meta snap;
    uint64_t snap_size;
    uint64_t offset;
    uint32_t len;
    uint8_t *data; /* Outgoing SNAPSHOT messages from the core have data == NULL and len set:
                    * the caller attaches bytes [offset, offset+len) of its snapshot at
                    * snap.index before sending. Incoming ones must carry the bytes. The core
                    * only ever names the latest snapshot taken (raft_snapshot_taken) or
                    * installed — the latter once it is durable — so the caller need keep only
                    * its latest snapshot; a transfer of an older one restarts from 0. */
    bool done;
};

enum raft_role { RAFT_FOLLOWER = 0, RAFT_PRE_CANDIDATE = 1, RAFT_CANDIDATE = 2, RAFT_LEADER = 3 };

/* A chunk of an incoming snapshot the caller must write (update step 1). data is owned by the
 * core (lifetime rule above). */
struct raft_snap_chunk {
    struct raft_snapshot_meta meta;
    uint64_t snap_size;
    uint64_t offset;
    uint32_t len;
    const uint8_t *data;
};

struct raft_read_state {
    uint64_t ctx;   /* the caller's ctx from raft_read_index */
    uint64_t index; /* serve once applied >= index */
    int status;     /* 0, or CC_ENOLEADER / CC_ECANCELED / CC_ETRANSFER: fail this read */
};

struct raft_update {
    /* Role, leader or term changed since the previous update (for logs and clients). */
    bool soft_changed;
    enum raft_role role;
    raft_id leader;
    uint64_t term;

    bool hs_changed;
    struct raft_hard_state hs;

    uint32_t n_snap_chunks;
    const struct raft_snap_chunk *snap_chunks;
    bool snapshot_ready; /* the last chunk arrived: make durable + install `snapshot` */
    struct raft_snapshot_meta snapshot;
    uint64_t snapshot_size;

    uint32_t n_entries;
    const struct raft_entry *entries;

    uint32_t n_msgs;
    const struct raft_msg *msgs;
    uint32_t n_msgs_after_persist;
    const struct raft_msg *msgs_after_persist;

    uint32_t n_committed;
    const struct raft_entry *committed;

    uint32_t n_reads;
    const struct raft_read_state *reads;

    /* Step 4: once this update's batch is durable, call raft_persisted(r, persist_index,
     * persist_term) if persist_report is set. (Added after the first draft of this header: it
     * is the index and term of the last entry in entries, or of the snapshot when the update
     * only installed one — plus one case without either: a single-voter candidate's own vote,
     * which must be durable before it may lead.) */
    bool persist_report;
    uint64_t persist_index;
    uint64_t persist_term;
};

/* Random source for election timeouts: the caller provides the seed; the core draws from its
 * own util/rng stream seeded with it, so runs replay exactly. */
struct raft_options {
    raft_id id;               /* this peer, != 0 */
    uint64_t seed;            /* seeds randomized election timeouts */
    uint32_t election_tick;   /* election timeout in ticks; randomized in [e, 2e) (§3.4) */
    uint32_t heartbeat_tick;  /* heartbeat interval in ticks, < election_tick */
    bool pre_vote;            /* §9.6 */
    bool check_quorum;        /* §6.2: leader steps down without a quorum for election_tick */
    bool lease_read;          /* §6.4.1: read index without a heartbeat round while the leader
                               * lease holds. Relies on bounded clock drift between peers;
                               * requires check_quorum. Off by default. */
    uint32_t max_msg_bytes;   /* entry bytes per APPEND (at least one entry is always sent) */
    uint32_t max_inflight;    /* un-acknowledged APPENDs per follower in replicate state */
    uint32_t max_entry_bytes; /* largest proposal accepted */
    uint64_t max_uncommitted_bytes; /* proposals fail with CC_EBUSY beyond this */
    uint32_t snap_chunk_bytes;      /* bytes per SNAPSHOT message */
    uint64_t max_apply_bytes;       /* committed entry bytes handed out per update (>= 1 entry) */
    uint32_t max_pending_reads;     /* raft_read_index fails with CC_EBUSY beyond this */
};

/* Fills o with defaults: election 10 ticks, heartbeat 1, pre_vote and check_quorum on,
 * lease_read off, 1 MiB messages, 256 in flight, 8 MiB entries, 256 MiB uncommitted, 1 MiB
 * snapshot chunks, 64 MiB per apply batch, 65536 pending reads. id and seed are left 0.
 * raft_new accepts: election_tick 2..2^24, 1 <= heartbeat_tick < election_tick,
 * max_inflight 1..65536, max_entry_bytes 1..RAFT_MAX_ENTRY_BYTES_LIMIT, snap_chunk_bytes
 * 1..RAFT_MAX_SNAP_CHUNK_LIMIT, max_pending_reads 1..2^24, the other sizes >= 1, and
 * lease_read only with check_quorum. */
void raft_options_default(struct raft_options *o);

/* What the caller recovered from storage at start-up. For a brand-new cluster: hs all zero,
 * snap.index = 0, snap.config = the initial voters, no entries. For a member that joins an
 * existing cluster: everything zero (empty configuration); it waits to be contacted. */
struct raft_boot {
    struct raft_hard_state hs;
    struct raft_snapshot_meta snap;
    uint64_t snap_size;
    const struct raft_entry *entries; /* the durable log after snap.index, contiguous; copied */
    uint32_t n_entries;
    uint64_t applied; /* the state machine's applied index: snap.index <= applied <= the last
                       * entry (it may exceed hs.commit when commit was not persisted that far) */
};

struct raft;

/* Creates a peer. Validates options (CC_EINVAL with nothing allocated when they are out of
 * range) and the boot state (contiguous entries, consistent terms, CC_ECORRUPT otherwise).
 * On success *out is owned by the caller; release it with raft_free. */
int raft_new(const struct raft_options *opts, const struct raft_boot *boot, struct raft **out);
void raft_free(struct raft *r);

/* One tick of logical time (§3.4 timeouts, heartbeats, check-quorum, transfer timeout). */
void raft_tick(struct raft *r);

/* Delivers a message addressed to this peer. The core copies what it keeps; m stays the
 * caller's. Returns 0, or CC_EPROTO for a malformed message (ignored), CC_ETOOBIG when it
 * exceeds the configured bounds (ignored). */
int raft_step(struct raft *r, const struct raft_msg *m);

/* Proposes one client entry of len bytes (copied). A leader appends it (and, when index_out is
 * not NULL, stores its index there); a follower that knows the leader forwards it (index_out
 * gets 0) — a forwarded proposal can be lost; the caller detects that by timeout and may retry
 * with the same request ID (the state machine must make retries idempotent).
 * Returns 0, CC_ENOLEADER (no leader known: fail the client now), CC_ETRANSFER (a leadership
 * transfer is under way), CC_EBUSY (uncommitted bytes over the limit), CC_ETOOBIG,
 * CC_EREMOVED (this peer's latest configuration exists and does not name it; a member that
 * joined empty is not "removed" before its first configuration arrives), CC_ENOMEM. */
int raft_propose(struct raft *r, const void *data, uint32_t len, uint64_t *index_out);

enum raft_conf_op {
    RAFT_CONF_ADD_VOTER = 1,   /* add a voter (or promote a learner, see PROMOTE) */
    RAFT_CONF_ADD_LEARNER = 2, /* add a learner, or demote a voter to learner */
    RAFT_CONF_REMOVE = 3,      /* remove a voter or learner */
    RAFT_CONF_PROMOTE = 4,     /* learner -> voter */
};

struct raft_conf_change {
    uint8_t op; /* enum raft_conf_op */
    raft_id id;
};

/* Proposes a membership change (leader only). ctx (ctx_len bytes, copied, may be NULL iff 0) is
 * carried in the CONF entry for the caller's own bookkeeping (e.g. a new member's URLs).
 * n == 0 appends the current configuration again with a new ctx (a member's URLs changed),
 * under the same one-change-in-flight rule. A change of at most one voter is applied directly
 * (§4.1); more than one voter uses joint consensus (§4.3): the core appends C_old,new and, once
 * that commits, appends C_new itself. A configuration takes effect on every peer as soon as it is
 * appended to its log (§4.1), and rolls back if that entry is truncated. Members a change removes
 * keep receiving the log until the change commits and they were sent that commit index, so they
 * learn they were removed. A peer outside its latest configuration never campaigns — except
 * (§4.2.2) a voter whose removal it holds but does not know to be committed: it may be needed to
 * commit it, so it campaigns without counting its own vote until it learns the commit. A leader
 * outside C_new steps down once C_new commits (sending TIMEOUT_NOW to an up-to-date voter first).
 * Returns 0 (and the entry's index in *index_out if not NULL), CC_ENOTLEADER, CC_ECONFCHANGE
 * (another change is uncommitted, or this leader has not yet committed an entry of its term —
 * the fix for single-server changes from the raft-dev post of 2015 — or the change is
 * invalid: removing the last voter, adding an existing member, ...), CC_ETRANSFER,
 * CC_ETOOBIG (more than RAFT_MAX_NODES, or the entry exceeds max_entry_bytes), CC_ENOMEM. */
int raft_propose_conf(struct raft *r, const struct raft_conf_change *changes, uint32_t n,
                      const void *ctx, uint32_t ctx_len, uint64_t *index_out);

/* Requests a linearizable read index (§6.4). The answer arrives in a later update's reads with
 * the same ctx. A leader confirms leadership with one heartbeat round shared by every read
 * requested before the round started, and only once it has committed an entry of its current
 * term; a follower forwards to the leader. With lease_read, a leader inside its lease answers
 * without a round: the lease lasts election_tick - 2 ticks from the sending of a heartbeat a
 * quorum acknowledged (followers ignore votes for election_tick after hearing from the
 * leader), and is off for the rest of a term in which the leader sent TIMEOUT_NOW.
 * A pending read fails (read state status) with CC_ECANCELED when the leader loses leadership
 * or refuses a forwarded read, CC_ETRANSFER when leadership was lost through a transfer, and
 * CC_ENOLEADER on a follower whose leader changed before answering.
 * Returns 0, CC_ENOLEADER, CC_EBUSY (too many pending reads), CC_ENOMEM. */
int raft_read_index(struct raft *r, uint64_t ctx);

/* Starts a leadership transfer to voter `to` (§3.10): the leader stops accepting proposals,
 * brings `to` up to date, sends TIMEOUT_NOW, and gives up after an election timeout. A follower
 * forwards the request to the leader. Returns 0, CC_ENOLEADER, CC_EINVAL (to is not a voter of
 * the incoming configuration as this peer knows it, or is us), CC_ETRANSFER (one already under
 * way), CC_ENOMEM. */
int raft_transfer_leadership(struct raft *r, raft_id to);

/* Storage made an update's batch durable: pass that update's persist_index and persist_term
 * (update contract, step 4). Reports come in the order of the updates; one report may cover
 * several batches (give the last one's values). A report that names no outstanding batch is
 * ignored. A batch handed out before a truncation (or snapshot install) only proves the log
 * durable below the replaced part. */
void raft_persisted(struct raft *r, uint64_t index, uint64_t term);

/* Describes the snapshot the caller may take at `index` (<= the last applied index): term and
 * configuration as of index. Returns 0 or CC_EINVAL (index not applied, or compacted, or the
 * configuration at index is unknown: a member that joined empty learns configurations only
 * from CONF entries, so it can describe snapshots only from its first one on). */
int raft_snapshot_meta_at(const struct raft *r, uint64_t index, struct raft_snapshot_meta *out);

/* The caller wrote a durable snapshot described by meta (from raft_snapshot_meta_at) of size
 * bytes. Later snapshot sends to lagging followers use it (transfers of an older snapshot
 * restart with it). Returns 0 or CC_EINVAL (not applied, older than the latest snapshot, or
 * term/configuration not those of the log at meta->index). */
int raft_snapshot_taken(struct raft *r, const struct raft_snapshot_meta *meta, uint64_t size);

/* Discards in-memory entries up to and including index (index <= the latest snapshot taken and
 * <= applied). Followers needing them will get the snapshot. Returns 0 or CC_EINVAL. */
int raft_compact(struct raft *r, uint64_t index);

/* Transport feedback: a message to `id` could not be delivered (the leader falls back to
 * probing, after the next heartbeat reply), and a snapshot send to `id` failed (once `id`
 * answers a heartbeat the leader resumes from the last offset it acknowledged; the follower
 * corrects that if it lost its partial file). Chunks lost without a report are resent after
 * an election timeout without a reply. */
void raft_report_unreachable(struct raft *r, raft_id id);
void raft_report_snapshot_failed(struct raft *r, raft_id id);

/* Returns whether raft_get_update would return anything. */
bool raft_has_update(const struct raft *r);

/* Fills *u with everything the caller must do now (see the update contract) and marks it
 * handed over. Returns true when u holds anything. */
bool raft_get_update(struct raft *r, struct raft_update *u);

enum raft_progress_state {
    RAFT_PROGRESS_PROBE = 0,
    RAFT_PROGRESS_REPLICATE = 1,
    RAFT_PROGRESS_SNAPSHOT = 2
};

struct raft_peer_status {
    raft_id id;
    bool voter; /* false: learner */
    bool recent_active;
    uint8_t state; /* enum raft_progress_state */
    uint64_t match;
    uint64_t next;
};

struct raft_status {
    raft_id id;
    raft_id leader;
    enum raft_role role;
    uint64_t term;
    raft_id vote;
    uint64_t commit;
    uint64_t applied;     /* last index handed out in committed */
    uint64_t persisted;   /* last index reported durable */
    uint64_t first_index; /* first index held in memory (snapshot index + 1) */
    uint64_t last_index;
    uint64_t snap_index; /* latest snapshot (taken or installed) */
    uint64_t snap_term;
    uint64_t log_bytes; /* payload bytes held in memory */
    bool transferring;
    raft_id transferee;
    bool conf_pending; /* an uncommitted CONF entry exists */
    struct raft_config config;
    uint32_t n_peers; /* leader only: progress of every other member (including members a
                       * change is removing, until they learned it; capped at the array) */
    struct raft_peer_status peers[3 * RAFT_MAX_NODES];
};

/* Fills *st. Pure read. */
void raft_status(const struct raft *r, struct raft_status *st);

/* The term of the entry at index, or 0 with CC_ECOMPACTED / CC_ENOTFOUND when unknown. */
int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term_out);

/* --- Configuration entries ------------------------------------------------------------------
 * A CONF entry's data is: u32le length of the encoded configuration, the configuration, then the
 * caller's ctx bytes. */

/* Encodes cfg + ctx into a malloc'd buffer (*out, *out_len; caller frees). CC_ENOMEM. */
int raft_conf_entry_encode(const struct raft_config *cfg, const void *ctx, uint32_t ctx_len,
                           uint8_t **out, uint32_t *out_len);
/* Decodes a CONF entry's data. *ctx points into data (not copied). CC_ECORRUPT on bad input. */
int raft_conf_entry_decode(const uint8_t *data, uint32_t len, struct raft_config *cfg,
                           const uint8_t **ctx, uint32_t *ctx_len);

/* Helpers on configurations (pure). */
bool raft_config_is_voter(const struct raft_config *c, raft_id id); /* in voters or voters_out */
bool raft_config_is_learner(const struct raft_config *c, raft_id id);
bool raft_config_contains(const struct raft_config *c, raft_id id);
bool raft_config_equal(const struct raft_config *a, const struct raft_config *b);

/* --- Message copies (for callers that queue messages: the simulator, the transport) ---------- */

/* Deep-copies src into dst (entries, their data, snapshot chunk bytes). dst owns the copies and
 * must be released with raft_msg_release. Returns 0 or CC_ENOMEM (dst then holds nothing). */
int raft_msg_copy(struct raft_msg *dst, const struct raft_msg *src);
void raft_msg_release(struct raft_msg *m);

/* Name of a message type / role for traces ("APPEND", "leader"); never NULL. */
const char *raft_msg_type_name(uint8_t type);
const char *raft_role_name(enum raft_role role);

/*
 * Test-only fault injection. Building the core with -DRAFT_FAULT=<n> plants one known one-line
 * safety bug so the simulator can prove it catches it. Never set in product builds.
 *   1  commit by counting replicas for an entry of a previous term (Figure 8, §3.6.2)
 *   2  grant votes without the election restriction (§3.6.1)
 *   3  a follower truncates its log after prev index on every APPEND even when the entries
 *      match (and the committed-entry assertion is disabled)
 *   4  the vote is not persisted (left out of the hard state)
 */
#ifndef RAFT_FAULT
#define RAFT_FAULT 0
#endif

#endif
