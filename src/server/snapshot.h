/* snapshot.h — the member's snapshots: taking them every --snapshot-count entries, sending
 * them to lagging peers in chunks, installing the ones a leader sends. */
#ifndef CONCUR_SERVER_SNAPSHOT_H
#define CONCUR_SERVER_SNAPSHOT_H

#include <stdint.h>

#include "server/member.h"
#include "server/persist.h"

/* Takes a snapshot when --snapshot-count entries were applied since the last one: a kv
 * checkpoint streamed into a snapshot file by the persistence thread. */
void member__snapshot_maybe(struct member *m);

/* The persistence thread finished our snapshot: tell Raft, compact the log behind it and
 * release WAL segments. */
void member__snapshot_taken(struct member *m, const struct persist_job *j);

/* A snapshot received from the leader is durable (its WAL marker too): replace the store with
 * it. Returns 0 or the error that stopped the member. */
int member__snapshot_installed(struct member *m, const struct snap_file *f);

/* Reads bytes [offset, offset+len) of our snapshot at index into a malloc'd *out (caller
 * frees). Returns 0, CC_ENOTFOUND (no such snapshot any more), an I/O code, CC_ENOMEM. */
int member__snapshot_chunk(struct member *m, uint64_t index, uint64_t offset, uint32_t len,
                           uint8_t **out);

/* Makes f our current snapshot (opens a reader for sending it). */
int member__snapshot_use(struct member *m, const struct snap_file *f);

#endif
