/* harness.h — a hand-wired cluster of Raft cores for scenario tests: explicit delivery and
 * explicit persistence, with safety checks. */
#ifndef CONCUR_TESTS_RAFT_HARNESS_H
#define CONCUR_TESTS_RAFT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define H_MAX 9 /* node IDs are 1 .. H_MAX-1 */

/* What a member has on disk: hard state, snapshot, log after the snapshot, and the snapshot
 * file being received. */
struct h_disk {
    struct raft_hard_state hs;
    struct raft_snapshot_meta snap;
    uint8_t *snap_data;
    uint64_t snap_size;
    struct raft_entry *ents;
    uint32_t n, cap;
    uint8_t *in_data;
    uint64_t in_size;
    uint64_t in_index;
};

/* The state machine: a hash chain over applied entries. It is durable (as the real store is),
 * so it survives crashes. hash_at[i] records the chain after applying index i. */
struct h_sm {
    uint64_t applied;
    uint64_t hash;
    uint64_t *hash_at;
    uint64_t cap;
    uint64_t n_normal;
};

/* An update whose durable part waits for h_flush (hold mode). */
struct h_batch {
    bool hs_changed;
    struct raft_hard_state hs;
    bool snapshot_ready;
    struct raft_snapshot_meta snapshot;
    uint64_t snapshot_size;
    struct raft_snap_chunk *chunks; /* data copied */
    uint32_t n_chunks;
    struct raft_entry *ents; /* data copied */
    uint32_t n_ents;
    struct raft_msg *after; /* deep copies */
    uint32_t n_after;
    bool report;
    uint64_t rep_index, rep_term;
};

struct h_node {
    raft_id id;
    bool exists;
    struct raft *r; /* NULL while crashed */
    struct raft_options opts;
    struct h_disk disk;
    struct h_sm sm;
    bool hold; /* keep updates in `pending` until h_flush */
    struct h_batch *pending;
    uint32_t n_pending, cap_pending;
    struct raft_read_state reads[256];
    uint32_t n_reads;
    struct raft_update last; /* the last update's scalars (pointers cleared) */
    uint32_t append_rejects_sent;
};

/* Returns true to drop the message. The message is the harness's own deep copy: a filter may
 * also rewrite it (e.g. trim entries with h_trim_entries) before delivery. */
typedef bool (*h_filter)(struct raft_msg *m, void *arg);

/* Keeps only the first n entries of m (frees the rest). */
void h_trim_entries(struct raft_msg *m, uint32_t n);

struct h_cluster {
    struct h_node nodes[H_MAX];
    struct raft_msg *q; /* in flight, FIFO; deep copies */
    size_t q_head, q_n, q_cap;
    bool cut[H_MAX][H_MAX]; /* cut[a][b]: messages from a to b are dropped */
    h_filter filter;
    void *filter_arg;
    raft_id electing;    /* h_elect: only this node's (pre)votes are delivered */
    uint64_t snap_bytes; /* size of snapshots h_snapshot takes */
    uint64_t leader_of_term[256];
    uint64_t delivered, dropped;
    uint64_t sent_by_type[RAFT_MSG_TYPE_MAX_ + 1];
    struct raft_status st_ring[8]; /* h_status results */
    unsigned st_next;
};

/* Options every harness member starts from: the defaults, seed = id. */
void h_default_opts(struct raft_options *o, raft_id id);

/* n members with IDs 1..n; 1..voters form the initial configuration, the rest start empty
 * (joining members). opts (may be NULL) is applied to every member (id and seed are set). */
void h_init(struct h_cluster *c, int n, int voters, const struct raft_options *opts);
void h_free(struct h_cluster *c);

/* Replaces member id's disk with b's contents and (re)starts it. */
void h_boot(struct h_cluster *c, raft_id id, const struct raft_boot *b);
void h_crash(struct h_cluster *c, raft_id id);
void h_restart(struct h_cluster *c, raft_id id);

struct raft *h_raft(struct h_cluster *c, raft_id id);

/* Drains id's updates (persisting at once unless hold is set). */
void h_update(struct h_cluster *c, raft_id id);
void h_update_all(struct h_cluster *c);
/* Makes id's held updates durable, in order, and releases their messages. */
void h_flush(struct h_cluster *c, raft_id id);

/* Delivers one message; false when none is queued. */
bool h_deliver_one(struct h_cluster *c);
/* Delivers a message picked with pick (an index below n), dropping it with probability
 * drop_pct% or delivering it and keeping a copy in flight with probability dup_pct%. */
bool h_deliver_random(struct h_cluster *c, uint64_t (*pick)(void *g, uint64_t n), void *g,
                      unsigned drop_pct, unsigned dup_pct);
/* Delivers until nothing is in flight; returns how many were delivered. */
size_t h_settle(struct h_cluster *c);
/* Drops everything in flight. */
void h_drop_all(struct h_cluster *c);

void h_tick(struct h_cluster *c, raft_id id);
/* Ticks every live member n times, settling after each tick. */
void h_ticks(struct h_cluster *c, int n);

/* Runs time forward until id is leader (only id's votes get through). Fails the test if it
 * does not happen within a bound. */
void h_elect(struct h_cluster *c, raft_id id);
/* The live leader with the highest term, or 0. */
raft_id h_leader(struct h_cluster *c);

void h_cut(struct h_cluster *c, raft_id a, raft_id b, bool cut); /* both directions */
void h_isolate(struct h_cluster *c, raft_id id, bool cut);

/* Proposes s through id and settles; returns the index (0 if forwarded). */
uint64_t h_propose(struct h_cluster *c, raft_id id, const char *s);

/* Takes a snapshot at id's applied index and compacts its log up to compact_to (0: none).
 * Returns false (doing nothing) when the core cannot describe a snapshot there. */
bool h_snapshot(struct h_cluster *c, raft_id id, uint64_t compact_to);

uint64_t h_term_at(struct h_cluster *c, raft_id id, uint64_t index);

/* Election Safety, Log Matching for committed prefixes, State Machine Safety. */
void h_check_safety(struct h_cluster *c);

/* Status shortcut: a snapshot valid for the next 7 calls (a ring of buffers). */
struct raft_status *h_status(struct h_cluster *c, raft_id id);

#endif
