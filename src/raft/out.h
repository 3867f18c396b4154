/* out.h — what the core accumulates for the next update: messages, reads, snapshot chunks. */
#ifndef CONCUR_RAFT_OUT_H
#define CONCUR_RAFT_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct raft_arena_block;

/* Buffers are reused from update to update (no per-message malloc in steady state). Once an
 * update has been handed out (handed = true) the next mutating call clears them first: that is
 * the lifetime rule of raft.h. */
struct raft_out {
    bool handed;
    struct raft_msg *msgs;
    uint32_t n_msgs, cap_msgs;
    struct raft_msg *after; /* msgs_after_persist */
    uint32_t n_after, cap_after;
    struct raft_read_state *reads;
    uint32_t n_reads, cap_reads;
    struct raft_snap_chunk *chunks;
    uint32_t n_chunks, cap_chunks;
    bool snap_ready;
    struct raft_snapshot_meta snap;
    uint64_t snap_size;
    struct raft_arena_block *arena; /* copies owned by the update (forwarded entries, chunks) */
};

void raft_out__init(struct raft_out *o);
void raft_out__free(struct raft_out *o);

/* Clears everything if the previous contents were handed out. */
void raft_out__prepare(struct raft_out *o);

/* A zeroed message slot in msgs (or msgs_after_persist), or NULL when memory ran out: the caller
 * then drops the message, which Raft tolerates like any lost message. */
struct raft_msg *raft_out__msg(struct raft_out *o, bool after_persist);

/* n bytes (16-byte aligned) owned by the update, or NULL on CC_ENOMEM. n may be 0. */
void *raft_out__alloc(struct raft_out *o, size_t n);

/* Ensures k more read states can be pushed without allocating. 0 or CC_ENOMEM. */
int raft_out__reserve_reads(struct raft_out *o, uint32_t k);
/* Pushes a read state; space was reserved. */
void raft_out__read(struct raft_out *o, uint64_t ctx, uint64_t index, int status);

/* A snapshot chunk slot, or NULL on CC_ENOMEM. */
struct raft_snap_chunk *raft_out__chunk(struct raft_out *o);

bool raft_out__empty(const struct raft_out *o);

#endif
