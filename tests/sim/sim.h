/* sim.h — concur-sim internals: a deterministic cluster of real Raft cores in one process. */
#ifndef CONCUR_TESTS_SIM_SIM_H
#define CONCUR_TESTS_SIM_SIM_H

/*
 * The model (read this before the code)
 * -------------------------------------
 * One run = one seed. Everything random (fault choices, delays, the cores' own election seeds)
 * is drawn from one util/rng stream in a fixed order, and nothing reads a clock, so a seed replays
 * byte for byte.
 *
 * Time is virtual: SIM_TICK units make one Raft tick. Events (a node's tick, a message delivery,
 * a disk write becoming durable, a client or fault action) sit in one priority queue ordered by
 * (time, sequence number). Processing one event is one "step"; the checker runs inside every step
 * and sees every state change the step caused.
 *
 * Each node has a virtual disk: a durable part (hard state, snapshot file + meta, log, the state
 * machine as last flushed, a partially received snapshot) and a queue of pending write batches,
 * one per raft_update, that become durable in order after a random delay. msgs_after_persist wait
 * in their batch; raft_persisted is called when the batch is durable. A crash throws away the
 * queue and every volatile thing; a restart boots a fresh core from exactly the durable part.
 *
 * State machine durability: the state machine (applied index, count, running hash) lives in
 * memory and is flushed to disk atomically with its applied index at random points after an
 * apply, whenever a snapshot is taken (the snapshot is a durable copy of it) and when a received
 * snapshot is installed (part of that durable batch). A restart resumes from the flushed copy
 * (raft_boot.applied), so the core re-delivers the committed entries after it. The flushed index
 * never exceeds the durable log because the core only hands out entries that are durable.
 *
 * The checker keeps ghost state that no node can lose: the leader of every term, every log entry
 * ever appended keyed by (index, term) with a hash chain over its whole prefix (Log Matching in
 * O(1)), the committed log, the state machine hash after every applied index, the last vote each
 * node granted, and every client value acknowledged.
 *
 * What is checked, on every state change (so after every step):
 *   Raft's properties (thesis Figure 3.2): Election Safety (one leader per term over the whole
 *   run; one vote per node per term, across crashes), Leader Append-Only, Log Matching, Leader
 *   Completeness (a new leader holds every committed entry; while the configuration is the
 *   initial one, also that no node lacking a committed entry could still win a majority from
 *   the durable logs), State Machine Safety (same entry and same state at every index, snapshots
 *   included), committed entries are never removed or changed, every acknowledged client value
 *   survives, and linearizable reads get a read index covering everything committed before.
 *   raft.h's contract (turned off by --no-contract-checks): votes, acknowledgements and snapshot
 *   acknowledgements are durable when sent, committed entries are durable, contiguous and match
 *   the log when handed out, the core's log is the one its updates described, persist reports
 *   name the right entry, every term starts with a no-op, a leader commits only entries of its
 *   term by counting (Figure 8), snapshot chunks are in bounds and assemble into the image.
 * Then the faults stop and liveness is checked: within SIM_LIVENESS_TICKS one leader, no
 * configuration change in flight, every client value committed, every member converged.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "raft/raft.h"
#include "util/rng.h"

#define SIM_TICK           100            /* virtual time units per Raft tick */
#define SIM_MAX_SLOTS      RAFT_MAX_NODES /* node IDs 1..16 per run; IDs are never reused */
#define SIM_MAX_INITIAL    9              /* --nodes upper bound */
#define SIM_MAX_CLIENTS    6
#define SIM_MAX_INFLIGHT   20000       /* messages in the network at once; more are dropped */
#define SIM_MAX_DISK_QUEUE 4096        /* pending write batches per node */
#define SIM_MAX_SNAP_BYTES (64u << 10) /* largest snapshot image accepted from a core */
#define SIM_MAX_READS      32          /* pending linearizable reads per node */
#define SIM_MAX_INDEX      (1u << 24)  /* log indexes / terms the checker tracks */
#define SIM_MAX_UPDATES    4096        /* updates per drain before the core is called looping */
#define SIM_TRACE_RING     256         /* trace lines kept for a failure report */
#define SIM_TRACE_LINE     256
#define SIM_LIVENESS_TICKS 3000   /* healed phase bound, in ticks */
#define SIM_LIVENESS_STEPS 400000 /* and in steps (a message storm also fails it) */

/* --- Public harness API ---------------------------------------------------------------------- */

struct sim_params {
    uint32_t nodes;       /* initial voters, 1..SIM_MAX_INITIAL */
    uint64_t steps;       /* events in the fault phase */
    bool verbose;         /* every trace line goes to out as it happens */
    bool contract_checks; /* check persist-before-send promises directly at send time */
    FILE *out;            /* trace and failure report */
};

struct sim_stats {
    uint64_t steps; /* events processed, both phases */
    uint64_t fault_steps;
    uint64_t ticks;      /* virtual time at the end, in ticks */
    uint64_t heal_ticks; /* ticks from heal to convergence */
    uint64_t max_term;
    uint64_t leaders; /* terms that had a leader */
    uint64_t committed;
    uint64_t crashes;
    uint64_t partitions;
    uint64_t conf_changes; /* accepted by a leader */
    uint64_t transfers;    /* accepted */
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
    uint64_t msgs_sent;
    uint64_t msgs_dropped;
    uint64_t msgs_duplicated;
    uint64_t values;   /* client values created */
    uint64_t reads_ok; /* linearizable reads served */
};

struct sim_result {
    bool ok;
    char what[512]; /* the first violated property, when !ok */
    struct sim_stats st;
};

/* Runs one simulation of p->nodes members for seed. Fills *res (res->ok false and res->what set
 * when a property was violated; the trace leading to it has then been written to p->out).
 * Returns 0, CC_EINVAL (bad params) or CC_ENOMEM. p and p->out stay the caller's. */
int sim_run(const struct sim_params *p, uint64_t seed, struct sim_result *res);

/* --- Internals ------------------------------------------------------------------------------- */

/* The replicated state machine: a running hash and counter over applied entries. */
struct fsm {
    uint64_t applied;
    uint64_t count; /* NORMAL entries applied */
    uint64_t hash;
};

/* The simulator's mirror of a core's log, built from the updates the core handed out: per
 * index the term and a hash chain over (term, type, data) of the whole prefix. */
struct slog_ent {
    uint64_t term;
    uint64_t chain;
};
struct slog {
    uint64_t base; /* snapshot index: entries start at base + 1 */
    uint64_t base_term;
    uint64_t base_chain;
    uint64_t n, cap;
    struct slog_ent *e;
};

/* A durable log: entries base+1..base+n with owned data. */
struct dlog {
    uint64_t base;
    uint64_t n, cap;
    struct raft_entry *e;
};

struct snap_file {
    struct raft_snapshot_meta meta; /* index 0: none (meta.config is then the boot config) */
    uint64_t size;
    uint8_t *data;
};

/* An incoming snapshot being written chunk by chunk. */
struct in_snap {
    uint64_t index; /* 0: none */
    uint64_t size;
    uint64_t filled; /* bytes written at least once */
    uint8_t *data;
    uint8_t *have; /* one flag per byte */
};

struct batch_chunk {
    uint64_t index, size, offset;
    uint32_t len;
    uint8_t *data;
};

/* One raft_update's durable work plus the messages that wait for it. */
struct batch {
    struct batch *next;
    uint64_t durable_at;
    bool has_hs;
    struct raft_hard_state hs;
    uint32_t n_chunks;
    struct batch_chunk *chunks;
    bool snap_ready;
    struct raft_snapshot_meta snap;
    uint64_t snap_size;
    uint32_t n_entries;
    struct raft_entry *entries;
    uint32_t n_after;
    struct raft_msg *after;
    bool report; /* call raft_persisted(p_index, p_term) when durable */
    uint64_t p_index, p_term;
};

enum node_state { NODE_ABSENT = 0, NODE_UP, NODE_DOWN, NODE_RETIRED };

struct sim_read {
    uint64_t ctx;
    uint64_t min_index; /* highest committed index anywhere when the read was requested */
    uint64_t index;     /* read index granted, once known */
    bool granted;
};

struct node {
    raft_id id;
    enum node_state state;
    uint32_t inc;      /* incarnation: events of an earlier life are ignored */
    uint64_t added_at; /* index of the CONF entry that added it; 0 for initial members */
    struct raft *r;

    /* Durable (survives crashes). */
    struct raft_hard_state d_hs;
    struct snap_file d_snap;
    struct dlog d_log;
    struct fsm d_fsm;
    struct in_snap d_in;

    /* Pending write batches, oldest first. */
    struct batch *q_head, *q_tail;
    uint32_t q_len;
    uint64_t q_last; /* durable_at of the newest queued batch */

    /* Volatile mirror of the running core. */
    struct fsm fsm;
    struct slog log;
    struct raft_hard_state v_hs;
    enum raft_role role;
    uint64_t term;
    raft_id leader;
    uint64_t commit_seen;
    bool snap_fail[SIM_MAX_SLOTS + 1]; /* snapshot sends to report failed after the update */
    uint32_t n_reads;
    struct sim_read reads[SIM_MAX_READS];

    /* Ghost state for checks; survives crashes. */
    uint64_t grant_term;
    raft_id grant_to;
};

enum ev_type {
    EV_TICK = 1,
    EV_DELIVER,
    EV_DISK,
    EV_CHAOS,
    EV_CLIENT,
    EV_RESTART,
    EV_RETIRE,
    EV_HEAL_NET,
    EV_ISOLATE,
};

struct event {
    uint64_t time;
    uint64_t seq;
    uint8_t type;
    uint8_t slot;
    uint32_t inc;
    uint64_t arg;
    struct raft_msg *msg; /* EV_DELIVER: owned (raft_msg_copy) */
};

struct net {
    bool cut[SIM_MAX_SLOTS + 1][SIM_MAX_SLOTS + 1]; /* cut[a][b]: a -> b is lost */
    uint64_t part_gen;                              /* partition generation (auto-heal) */
    uint32_t inflight;
    uint32_t drop_ppm, dup_ppm, slow_ppm;
    uint32_t delay_max; /* ordinary delay in [1, delay_max] units */
};

/* Per-seed knobs, drawn at the start of a run so the seed set covers many regimes. */
struct profile {
    uint32_t election_tick, heartbeat_tick;
    bool pre_vote, check_quorum, lease_read;
    uint32_t max_msg_bytes, max_inflight, snap_chunk_bytes;
    uint64_t max_apply_bytes, max_uncommitted;
    uint32_t delay_max, drop_ppm, dup_ppm, slow_ppm;
    uint32_t disk_max, disk_slow_ppm, flush_ppm;
    uint32_t chaos_gap;  /* ticks between fault actions, at most */
    uint32_t client_gap; /* ticks between one client's actions, at most */
    uint32_t n_clients;
    uint32_t max_slots;          /* node IDs this run may create */
    uint32_t isolate_leader_ppm; /* chance a new leader is cut off right after its election */
    uint32_t w_crash, w_part, w_heal, w_net, w_conf, w_xfer, w_snap, w_read;
};

struct value {
    uint64_t acked_index; /* 0 until some member applied it */
    uint32_t client;
};

struct client {
    uint64_t value; /* outstanding value, 0 when idle */
    uint64_t last_try;
    uint32_t tries;
};

/* Ghost tables of the checker. */
struct ck_key {
    uint64_t index; /* 0: empty slot */
    uint64_t term;
    uint64_t chain;
};
struct ck_commit {
    uint64_t term;
    uint64_t chain;
    uint64_t cterm; /* term of the node that first reported it committed (>= the term in which
                     * it was committed: only leaders of later terms must hold it) */
};
struct ck_applied {
    uint64_t dhash;
    uint64_t sm; /* state machine hash after applying this index */
    uint64_t term;
    raft_id by;
    uint8_t type;
};
struct check {
    raft_id *leader_of; /* term -> leader */
    uint64_t n_terms;
    struct ck_key *tab; /* (index, term) -> chain, open addressing */
    uint64_t tab_cap, tab_n;
    struct ck_commit *c; /* committed log, 1..cmax */
    uint64_t cmax, c_cap;
    struct ck_applied *a; /* 1..amax */
    uint64_t amax, a_cap;
};

struct sim {
    const struct sim_params *p;
    uint64_t seed;
    struct rng rng;
    uint64_t now;
    uint64_t step;
    uint64_t seq;
    int phase; /* 1: faults, 2: healed */
    uint64_t heal_time;
    bool failed;
    char what[512];

    struct event *heap;
    uint32_t heap_n, heap_cap;

    uint32_t n_slots; /* IDs 1..n_slots were created */
    struct node nodes[SIM_MAX_SLOTS + 1];
    struct net net;
    struct profile prof;
    struct raft_options opt;

    struct client clients[SIM_MAX_CLIENTS];
    struct value *values; /* 1..n_values */
    uint64_t n_values, cap_values, n_acked;
    uint64_t read_seq;

    struct check ck;
    struct sim_stats st;

    uint32_t tr_head, tr_count;
    char tr[SIM_TRACE_RING][SIM_TRACE_LINE];
};

/* sim_trace.c: trace ring, violations, hashing. */
void sim__trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim__fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim__dump_trace(const struct sim *s);
const char *sim__msg_str(const struct raft_msg *m, char *buf, size_t len);
uint64_t sim__mix(uint64_t h, uint64_t v);
uint64_t sim__hash_bytes(const void *data, size_t len);
uint64_t sim__chain(uint64_t prev, uint64_t term, uint8_t type, uint64_t dhash);

/* sim_event.c: the priority queue of events. */
int sim__schedule(struct sim *s, uint64_t at, uint8_t type, uint32_t slot, uint64_t arg,
                  struct raft_msg *msg);
bool sim__pop(struct sim *s, struct event *ev);
void sim__events_free(struct sim *s);

/* sim_fsm.c: the state machine and its snapshot image. */
void sim__fsm_apply(struct fsm *f, uint64_t index, uint8_t type, uint64_t dhash);
int sim__fsm_image(const struct fsm *f, uint8_t **out, uint64_t *size);
int sim__fsm_parse(const uint8_t *data, uint64_t size, struct fsm *out);

/* sim_log.c: mirror logs and durable logs. */
void sim__slog_reset(struct slog *l, uint64_t base, uint64_t base_term, uint64_t base_chain);
void sim__slog_free(struct slog *l);
static inline uint64_t sim__slog_last(const struct slog *l)
{
    return l->base + l->n;
}
bool sim__slog_get(const struct slog *l, uint64_t index, uint64_t *term, uint64_t *chain);
int sim__slog_push(struct slog *l, uint64_t term, uint64_t chain);
void sim__slog_truncate(struct slog *l, uint64_t from);
void sim__slog_compact(struct slog *l, uint64_t upto);
void sim__dlog_reset(struct dlog *l, uint64_t base);
void sim__dlog_free(struct dlog *l);
static inline uint64_t sim__dlog_last(const struct dlog *l)
{
    return l->base + l->n;
}
const struct raft_entry *sim__dlog_get(const struct dlog *l, uint64_t index);
int sim__dlog_append(struct dlog *l, const struct raft_entry *e);
void sim__dlog_truncate(struct dlog *l, uint64_t from);
void sim__dlog_compact(struct dlog *l, uint64_t upto);

/* sim_disk.c: write batches and the durable state. */
int sim__batch_new(struct sim *s, const struct raft_update *u, struct batch **out);
void sim__batch_free(struct batch *b);
void sim__disk_enqueue(struct sim *s, struct node *n, struct batch *b);
void sim__disk_complete(struct sim *s, struct node *n);
void sim__disk_drop_pending(struct node *n);
bool sim__disk_covers(const struct node *n, uint64_t index, uint64_t term);
void sim__disk_free(struct node *n);

/* sim_node.c: node lifecycle and the update contract. */
int sim__node_create(struct sim *s, raft_id id, uint64_t added_at, bool initial);
int sim__node_boot(struct sim *s, struct node *n);
void sim__node_crash(struct sim *s, struct node *n, bool retire);
void sim__node_drain(struct sim *s, struct node *n);
void sim__node_send(struct sim *s, struct node *n, const struct raft_msg *m, bool after);
void sim__node_serve_reads(struct sim *s, struct node *n);

/* sim_net.c: the virtual network. */
void sim__net_send(struct sim *s, const struct raft_msg *m);
void sim__net_deliver(struct sim *s, struct event *ev);
void sim__net_partition(struct sim *s);
void sim__net_isolate(struct sim *s, raft_id id);
void sim__net_heal(struct sim *s);

/* sim_check.c: safety properties. */
int sim__check_init(struct check *c);
void sim__check_free(struct check *c);
void sim__check_leader(struct sim *s, struct node *n, uint64_t term);
void sim__check_entry(struct sim *s, struct node *n, uint64_t index, uint64_t term, uint64_t chain);
void sim__check_truncate(struct sim *s, struct node *n, uint64_t from, uint64_t commit);
void sim__check_commit(struct sim *s, struct node *n, uint64_t commit);
bool sim__check_apply(struct sim *s, struct node *n, const struct raft_entry *e, uint64_t dhash);
void sim__check_install(struct sim *s, struct node *n, const struct fsm *f);
bool sim__check_lookup(const struct sim *s, uint64_t index, uint64_t term, uint64_t *chain);

/* sim_chaos.c: faults, clients, operator actions. */
void sim__chaos_event(struct sim *s);
void sim__client_event(struct sim *s, uint32_t client);
void sim__on_first_apply(struct sim *s, const struct raft_entry *e);

/* sim_run.c */
struct node *sim__leader(struct sim *s);

#endif
