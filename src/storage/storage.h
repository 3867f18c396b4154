/* storage.h — one member's durable state in its data directory: WAL, snapshots, metadata. */
#ifndef CONCUR_STORAGE_STORAGE_H
#define CONCUR_STORAGE_STORAGE_H

/*
 * Layout (etcd's):  <data-dir>/member/wal/   segments (wal.h)
 *                   <data-dir>/member/snap/  snapshot files (snap.h)
 *                   <data-dir>/member/meta   cluster ID, member ID, name (meta.h)
 *
 * How the member uses it (raft.h's update contract, on its persistence thread):
 *   boot:    storage_open -> struct storage_boot gives raft_new's struct raft_boot (hard state,
 *            snapshot meta and size, entries after it); fresh => bootstrap, then
 *            storage_meta_save once.
 *   update:  for u.snap_chunks: storage_snap_begin (once per incoming snapshot) and
 *            snap_writer_write(chunk offset, bytes); if u.snapshot_ready: snap_writer_finish
 *            (durable), install it into the state machine; then storage_save with
 *            {has_snap = u.snapshot_ready, snap index/term, u.entries, u.hs if hs_changed} —
 *            one fdatasync; then raft_persisted.
 *   own snapshot: storage_snap_begin, write the kv stream, snap_writer_finish,
 *            raft_snapshot_taken, storage_save {has_snap} (the marker), storage_release(index)
 *            for whatever log prefix the member no longer wants to keep.
 * Chunks of an unfinished snapshot are not fsynced one by one: an unfinished snapshot never
 * survives a restart (its temporary file is removed at open), so a restarted follower has no
 * transfer in progress and the leader starts again from offset 0.
 * A snapshot file must be durable before the marker naming it is saved (storage_save checks
 * that the file exists). At start-up the snapshot used is exactly the one the WAL's latest
 * marker names; a newer file the WAL does not name (a crash between finishing it and saving
 * the marker) is ignored. If the named file is missing or fails verification, storage_open
 * refuses to start and names it.
 *
 * Not thread-safe (see wal.h): one thread drives a struct storage.
 */

#include <stdbool.h>
#include <stdint.h>

#include "storage/meta.h"
#include "storage/snap.h"
#include "storage/wal.h"

struct storage_options {
    struct wal_options wal;      /* its fs, log and read_only are replaced by those below */
    uint32_t snap_keep;          /* snapshot files kept: default 5 (etcd's --max-snapshots) */
    uint64_t max_snapshot_bytes; /* largest payload accepted: default 1 TiB */
    bool read_only;              /* inspect only (wal dump): nothing is created or repaired */
    const struct storage_fs *fs; /* NULL = POSIX */
    const struct logger *log;    /* may be NULL; must outlive the storage */
};

void storage_options_default(struct storage_options *o);

/* What start-up recovered. Free with storage_boot_free. */
struct storage_boot {
    /* No Raft state was ever made durable here (no batch, no snapshot): bootstrap. A crash in
     * the middle of an earlier bootstrap leaves the directory fresh too. */
    bool fresh;
    struct raft_hard_state hs;
    struct raft_snapshot_meta snap; /* snap.index == 0: no snapshot */
    uint64_t snap_size;
    char snap_path[STORAGE_PATH_MAX]; /* payload at SNAP_HEADER_BYTES; "" when none */
    struct wal_entries entries;       /* the log after snap.index, contiguous */
    bool has_meta;
    struct storage_meta meta;
    struct wal_state wal; /* details: segments, recovery time, bytes cut */
};

void storage_boot_free(struct storage_boot *b);

struct storage;

/* Opens (creating unless read-only) <data_dir>/member and recovers it: metadata, WAL (policy in
 * wal.h), the snapshot the WAL names (fully verified), the entries after it. Refuses with
 * CC_ECORRUPT when the WAL has no segments but metadata or snapshots exist (a lost WAL).
 * On success *out and *boot are the caller's. On failure nothing is returned and err (when not
 * NULL) holds a message naming the file and offset, also logged at ERROR.
 * Returns 0, CC_ECORRUPT, CC_ENOTFOUND (read-only and no data), CC_EINVAL (options), an I/O
 * code, CC_ENOMEM. */
int storage_open(const char *data_dir, const struct storage_options *o, struct storage **out,
                 struct storage_boot *boot, char *err, size_t errlen);

void storage_close(struct storage *s);

/* Saves one batch (wal_append; same contract and returns). When b->has_snap, the snapshot file
 * (snap_index, snap_term) must already be finished (CC_EINVAL otherwise, nothing written); once
 * the marker is durable, snapshot files beyond snap_keep are removed (never the one just
 * named; a failure to remove is logged, not returned: the batch is durable). */
int storage_save(struct storage *s, const struct wal_batch *b);

/* wal_release: drops WAL segments holding nothing at or above index. */
int storage_release(struct storage *s, uint64_t index);

/* Starts a snapshot file for meta (snap_writer_open on the member's snapshot directory). */
int storage_snap_begin(struct storage *s, const struct raft_snapshot_meta *meta,
                       struct snap_writer **out);

/* Writes the member metadata (member/meta) durably. Returns 0, CC_EINVAL (read-only or a bad
 * pair), an I/O code. */
int storage_meta_save(struct storage *s, const struct storage_meta *m);

/* The parts, for reads (wal_read_entries, snap_load, snap_reader_open). Owned by s. */
struct wal *storage_wal(struct storage *s);
struct snapstore *storage_snaps(struct storage *s);

#endif
