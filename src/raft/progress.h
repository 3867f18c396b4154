/* progress.h — what a leader knows about each member: match/next, flow-control state, votes. */
#ifndef CONCUR_RAFT_PROGRESS_H
#define CONCUR_RAFT_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "raft/raft.h"

/* Chunks of one snapshot a leader keeps in flight to one follower. */
#define RAFT_SNAP_WINDOW 4

/* One member of the configuration (this peer included, when it is a member). The flow-control
 * states follow etcd's: PROBE sends one APPEND per round trip until the follower's position is
 * known; REPLICATE pipelines up to max_inflight APPENDs optimistically; SNAPSHOT streams the
 * snapshot in chunks. */
struct progress {
    raft_id id;
    bool voter;     /* in cfg.voters (C_new while joint) */
    bool voter_out; /* in cfg.voters_out (C_old while joint) */
    bool learner;

    uint8_t state;      /* enum raft_progress_state */
    bool probe_sent;    /* PROBE: an APPEND is out; wait for a reply or a heartbeat reply */
    bool force_send;    /* send an APPEND (possibly empty) at the next flush */
    bool recent_active; /* replied since the last check-quorum round (§6.2) */
    int8_t vote;        /* this election: 0 unknown, 1 granted, -1 rejected */
    uint64_t match;
    uint64_t next;
    uint64_t sent_commit; /* highest commit index this member may have learned from us */

    /* REPLICATE: last index of each APPEND in flight, oldest first (a ring). */
    uint64_t *infl;
    uint32_t infl_cap;
    uint32_t infl_start;
    uint32_t infl_n;

    /* SNAPSHOT: the snapshot being streamed and how far it got. */
    uint64_t snap_index;
    uint64_t snap_acked; /* bytes the follower holds, by its latest reply of this round */
    uint64_t snap_sent;  /* bytes handed to the transport */
    uint32_t snap_out;   /* chunks in flight */
    uint32_t snap_idle;  /* ticks without a snapshot reply while chunks are out */
    bool snap_all_sent;
    bool snap_paused; /* a send failed: wait for a heartbeat reply before resending */
    bool snap_rewind; /* resend from snap_acked at the next chance (at most once per tick) */
    uint64_t snap_rewound_tick;
    /* The current send round (a rewind starts a new one): chunks carry it as ctx and replies
     * echo it, so replies to earlier rounds — which may speak of a follower that restarted
     * since — are told apart from current ones. 0: no chunk sent yet in this transfer. */
    uint64_t snap_round;

    /* ReadIndex / lease (§6.4): highest heartbeat round acknowledged, and when (tick + 1) the
     * leader sent that round (0: unknown). */
    uint64_t read_ack;
    uint64_t lease_tick;
};

void progress__init(struct progress *p, raft_id id, uint64_t next);
void progress__free(struct progress *p);

/* Resets leader-side state for a new term: next = next_index, nothing matched or in flight. */
void progress__reset(struct progress *p, uint64_t next_index);

bool progress__infl_full(const struct progress *p);
void progress__infl_add(struct progress *p, uint64_t last_index);
/* Frees every in-flight APPEND whose last index is <= index. */
void progress__infl_free_to(struct progress *p, uint64_t index);
void progress__infl_free_first(struct progress *p);

/* State changes. become_probe keeps p->next (the caller has just chosen it, e.g. from a
 * rejection hint); become_replicate restarts from match + 1. become_replicate needs an in-flight
 * buffer of max_inflight slots: when it cannot be allocated the member stays in PROBE (slower,
 * still correct) and false is returned. */
void progress__become_probe(struct progress *p);
bool progress__become_replicate(struct progress *p, uint32_t max_inflight);
void progress__become_snapshot(struct progress *p, uint64_t snap_index);

/* Value-of-a-quorum helper: the largest v such that a majority of the n values are >= v.
 * vals is sorted in place. n == 0 yields UINT64_MAX (an empty set constrains nothing). */
uint64_t progress__quorum_value(uint64_t *vals, uint32_t n);

#endif
