/* snap.h — snapshot files: Raft metadata plus the state machine's payload. */
/* Written atomically and verified by CRC when loaded. */
#ifndef CONCUR_STORAGE_SNAP_H
#define CONCUR_STORAGE_SNAP_H

/*
 * A snapshot lives in dir/<term:016x>-<index:016x>.snap (etcd's naming):
 *
 *   [0, 512)  header: u64 magic "CCSNAPSH", u32 version, u32 header size (512), u64 index,
 *             u64 term, u64 payload size, u32 payload CRC-32C, u32 n_voters, u32 n_voters_out,
 *             u32 n_learners, the IDs (u64 each: voters, voters_out, learners), zeroes, and at
 *             508 a u32 CRC-32C of bytes [0, 508)
 *   [512, ..) the payload, exactly `payload size` bytes (the kv layer's byte stream)
 *
 * Writing: snap_writer_open creates <name>.tmp; the payload arrives in pieces at offsets (a
 * leader's own snapshot is a stream; a follower's arrives as Raft chunks, possibly restarted
 * from offset 0); snap_writer_finish writes the header, fsyncs, renames to the final name and
 * fsyncs the directory. Only then does the file exist under its name, so a listed snapshot was
 * complete when written. Leftover .tmp files are removed at open.
 *
 * Not thread-safe: one thread uses a store and its writers at a time, except that readers
 * (snap_reader_*) are independent objects another thread may use (the transport sending chunks
 * while the persistence thread writes other files).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "storage/fs.h"
#include "util/log.h"

#define SNAP_HEADER_BYTES 512u

struct snap_file {
    struct raft_snapshot_meta meta;
    uint64_t size;               /* payload bytes */
    char path[STORAGE_PATH_MAX]; /* the payload starts at SNAP_HEADER_BYTES in this file */
};

struct snapstore;
struct snap_writer;
struct snap_reader;

/* Opens the snapshot directory (creating it unless read_only) and removes leftover temporary
 * files (unless read_only). max_bytes bounds a payload (0 = 1 TiB). fs NULL = POSIX; log may be
 * NULL. On success *out is the caller's (snap_close). Returns 0, CC_ENOTFOUND (read_only and no
 * directory), CC_EIO and other I/O codes (message in err when not NULL), CC_ENOMEM. */
int snap_open(const char *dir, const struct storage_fs *fs, const struct logger *log,
              bool read_only, uint64_t max_bytes, struct snapstore **out, char *err, size_t errlen);
void snap_close(struct snapstore *ss);

/* Lists the snapshot files by name, newest (highest index, then term) first, without reading
 * them. *out is malloc'd (the caller frees; NULL when *n is 0). meta.config is left empty and
 * size 0: use snap_load for verified contents. Returns 0, CC_ENOMEM, an I/O code. */
int snap_list(struct snapstore *ss, struct snap_file **out, size_t *n);

/* Loads and verifies the snapshot (index, term): the header's CRC, magic and version, that it
 * agrees with the name, that the file holds exactly the payload, and the payload's CRC (read in
 * full). Fills *out. Returns 0, CC_ENOTFOUND (no such file), CC_ECORRUPT (err names the file and
 * what failed), an I/O code. */
int snap_load(struct snapstore *ss, uint64_t index, uint64_t term, struct snap_file *out, char *err,
              size_t errlen);

/* Starts writing the snapshot described by meta (index and term > 0; copied). Any unfinished
 * temporary file for the same snapshot is replaced. The writer does not reference ss afterwards
 * (it may outlive it). Returns 0, CC_EINVAL, an I/O code, CC_ENOMEM. */
int snap_writer_open(struct snapstore *ss, const struct raft_snapshot_meta *meta,
                     struct snap_writer **out);

/* Writes len payload bytes at offset. offset must not pass the bytes written so far (pieces
 * arrive in order; a transfer may restart from an earlier offset). Returns 0, CC_EINVAL (a gap),
 * CC_ETOOBIG (past max_bytes), an I/O code (the writer is then failed: later calls return
 * CC_ESTOPPED; abort it). */
int snap_writer_write(struct snap_writer *sw, uint64_t offset, const void *data, size_t len);

/* Completes the snapshot with a payload of size bytes (== the bytes written): header, fsync,
 * rename, directory fsync. Always consumes sw. On success fills *out (may be NULL). Returns 0,
 * CC_EINVAL (size differs from what was written; nothing kept), an I/O code, CC_ESTOPPED. */
int snap_writer_finish(struct snap_writer *sw, uint64_t size, struct snap_file *out);

/* Drops an unfinished snapshot: closes and removes its temporary file. NULL is a no-op. */
void snap_writer_abort(struct snap_writer *sw);

/* Opens a finished snapshot file f (from snap_load or snap_writer_finish) for reading its
 * payload. The reader does not reference ss afterwards. Returns 0, an I/O code, CC_ENOMEM. */
int snap_reader_open(struct snapstore *ss, const struct snap_file *f, struct snap_reader **out);

/* Reads up to len payload bytes at offset into buf; *got is the count (0 at or past the end).
 * Returns 0 or an I/O code. */
int snap_reader_read(struct snap_reader *r, uint64_t offset, void *buf, size_t len, size_t *got);
void snap_reader_close(struct snap_reader *r);

/* Removes all but the `keep` newest snapshot files, never removing the one at protect_index
 * (the snapshot the WAL's latest marker refers to). One directory fsync when anything was
 * removed. *n_removed may be NULL. Returns 0 or an I/O code. */
int snap_purge(struct snapstore *ss, uint32_t keep, uint64_t protect_index, uint32_t *n_removed);

#endif
