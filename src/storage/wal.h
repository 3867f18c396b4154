/* wal.h — the write-ahead log: segmented, checksummed, group-committed Raft entries and state. */
#ifndef CONCUR_STORAGE_WAL_H
#define CONCUR_STORAGE_WAL_H

/*
 * What it stores
 * --------------
 * The durable copy of a Raft peer's log (raft.h's struct raft_entry), its hard state (term,
 * vote, commit) and "snapshot installed" markers, as an append-only sequence of batches. One
 * call to wal_append is one batch: its records are written with one pwrite and made durable
 * with one fdatasync before the call returns (group commit: the caller hands over every entry
 * it has). After a crash a batch is recovered entirely or not at all.
 *
 * A batch applies, in this order (raft.h's update contract, step 1):
 *   1. a snapshot marker (index, term): the log up to index is discarded. When the log holds
 *      index with that term, later entries are kept (the leader compacting behind its own
 *      snapshot); otherwise the whole log is replaced by the snapshot (a follower installing
 *      one), so the log is then empty and ends at index.
 *   2. entries, contiguous; when entries[0].index <= the last index, the stored suffix from
 *      entries[0].index on is truncated first (§5.3). Truncating at or below the durable commit
 *      index is refused.
 *   3. the hard state.
 * Truncation costs no disk work: the log is append-only and replay applies the same rules.
 *
 * Files
 * -----
 * dir/<seq:016x>-<first index:016x>.wal segments, preallocated to segment_bytes (fallocate),
 * each starting with a header record holding the log's state at its creation. A batch never
 * spans two segments: when it does not fit, a new segment is created (temporary name,
 * preallocate, header, fsync, rename, directory fsync), then the full one is sealed (a SEAL
 * record naming its successor, trimmed to its length, fsynced). Records: see record.h.
 *
 * Recovery policy (wal_open)
 * --------------------------
 * Every record's CRC is verified and the index (log index -> segment, offset) rebuilt.
 *  - The newest segment may end with a torn batch: the write of the last batch before a crash,
 *    which was never acknowledged. It shows as an incomplete batch, a cut-short or checksum-
 *    failing record, followed only by zeroes (preallocated space) or by records of that same
 *    batch (sectors land out of order). That tail is cut: its bytes are saved to
 *    dir/<segment>.<offset:016x>.<n>.cut, then zeroed in the segment; a WARN line names the
 *    file, the offset, the byte count and the batch.
 *  - Anything else that fails a check is corruption and wal_open fails with CC_ECORRUPT and a
 *    message naming the file and offset: a bad record followed by a record of a later batch, a
 *    bad record in any segment but the newest, a gap in segment numbers, a sealed newest
 *    segment (its successor is missing), entries missing because older segments are gone, a
 *    header that disagrees with the log.
 *    Records of the same batch after the failing one count as a torn write only when a
 *    512-byte sector in between reads as zero from the batch's start on (a sector the write
 *    never reached); otherwise the damage is corruption.
 *  - Before cutting or refusing, the segment is read a second time; if the two reads differ the
 *    open fails with CC_EIO instead (a transient read error must not destroy data).
 *  - Known limit: damage confined to the very last batch that looks like a torn write (the
 *    failing record is followed only by zeroes) cannot be told from one; that batch is cut
 *    (logged, bytes kept) even if it had been acknowledged. Redundant headers would be the fix.
 *
 * Errors: after any failed write, fdatasync, preallocation, rename or removal the WAL is
 * failed: that call returns the original code (CC_EIO, CC_ENOSPC, ...), every later call that
 * would write returns CC_ESTOPPED, and wal_errmsg says what failed. A failed fdatasync is never
 * retried: the pages it covered may already have been dropped by the kernel.
 *
 * Threading: a struct wal is not thread-safe. The member owns it from its persistence thread
 * (appends, releases and reads are issued there, in order).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "storage/fs.h"
#include "util/log.h"

struct wal_options {
    uint64_t segment_bytes;      /* preallocated segment size: default 64 MiB, 4 KiB .. 1 GiB */
    uint64_t max_batch_bytes;    /* encoded bytes one append may take: default 256 MiB, <= 1 GiB */
    uint32_t max_entry_bytes;    /* largest entry: default RAFT_MAX_ENTRY_BYTES_LIMIT (the max) */
    uint64_t max_entries;        /* entries the in-memory index may hold: default 1 << 26 */
    bool read_only;              /* open without changing anything (wal dump): a torn tail is
                                  * reported and hidden, not cut; appends fail with CC_EINVAL */
    const struct storage_fs *fs; /* file operations; NULL = storage_fs_posix() */
    const struct logger *log;    /* may be NULL; must outlive the wal */
};

/* Fills o with the defaults above. */
void wal_options_default(struct wal_options *o);

/* One durable batch (see "A batch applies" above). Pointers are the caller's and are only
 * read during wal_append. */
struct wal_batch {
    bool has_snap; /* a snapshot was installed / taken at (snap_index, snap_term) */
    uint64_t snap_index;
    uint64_t snap_term;
    const struct raft_entry *entries; /* n_entries contiguous entries (NULL iff 0) */
    uint32_t n_entries;
    const struct raft_hard_state *hs; /* the new hard state, or NULL when unchanged */
};

struct wal_state {
    bool fresh; /* wal_open found no segment (and, unless read-only, created one) */
    struct raft_hard_state hs;
    uint64_t snap_index; /* latest snapshot marker, 0 = none */
    uint64_t snap_term;
    uint64_t first_index; /* snap_index + 1 */
    uint64_t last_index;  /* snap_index when the log is empty */
    uint64_t last_term;
    uint64_t bseq; /* batches written since the WAL was created */
    uint64_t n_segments;
    uint64_t first_seq, last_seq;
    /* What wal_open did. */
    uint64_t recovery_us;
    uint64_t recovered_bytes;
    uint64_t cut_bytes;              /* torn tail cut (or, read-only, hidden); 0 = none */
    char cut_path[STORAGE_PATH_MAX]; /* where the cut bytes were saved ("" if none) */
};

/* Entries read back from the WAL: v[i].data points into arena. Free with wal_entries_free. */
struct wal_entries {
    struct raft_entry *v;
    uint32_t n;
    uint8_t *arena;
    uint64_t bytes; /* data bytes in arena */
};

struct wal;

/* Opens (creating unless read-only) the WAL in dir and recovers it as described above, logging
 * what it found, what it cut and how long it took. On success *out is the caller's (release
 * with wal_close). On failure *out is NULL and, when err is not NULL, err (errlen bytes) holds
 * a message naming the file and offset; the same message is logged at ERROR.
 * Returns 0, CC_EINVAL (options out of range), CC_ECORRUPT (see the recovery policy),
 * CC_ENOTFOUND (read-only and dir does not exist), CC_EIO / CC_ENOSPC (I/O), CC_ENOMEM,
 * CC_ETOOBIG (more entries than max_entries). */
int wal_open(const char *dir, const struct wal_options *o, struct wal **out, char *err,
             size_t errlen);

/* Closes the files and frees w (NULL is a no-op). Nothing is written: every acknowledged batch
 * is already durable. */
void wal_close(struct wal *w);

/* Appends batch b and returns once it is durable (one pwrite, one fdatasync). Validates first:
 * entries contiguous with the log (first index in (snapshot, last + 1]), terms not decreasing,
 * no truncation at or below the durable commit index, a snapshot marker not older than the
 * last, hard-state term and commit not decreasing, sizes within limits. An empty batch is a
 * no-op returning 0.
 * Returns 0 (b is durable), CC_EINVAL (b breaks a rule above, or read-only; nothing written,
 * the WAL stays usable; wal_errmsg says why), CC_ETOOBIG (b over max_batch_bytes or an entry
 * over max_entry_bytes, or the index would pass max_entries; nothing written), CC_ENOMEM,
 * CC_EIO / CC_ENOSPC / other I/O codes (the WAL is now failed; b may or may not be on disk),
 * CC_ESTOPPED (failed earlier). */
int wal_append(struct wal *w, const struct wal_batch *b);

/* Removes whole segments that hold nothing at or above index: call it after a snapshot marker
 * covering index - 1 is durable (index <= snap_index + 1). The newest segment is never removed.
 * *n_removed (may be NULL) gets the count. Returns 0, CC_EINVAL (index > snap_index + 1, or
 * read-only), an I/O code (the WAL is failed), CC_ESTOPPED. */
int wal_release(struct wal *w, uint64_t index, uint32_t *n_removed);

/* Reads entries lo..hi (inclusive) back from disk, verifying each record's CRC and that it is
 * the entry the index expects. Stops early, after at least one entry, before the data would
 * pass max_bytes; out->n says how many were read. On success out holds malloc'd memory the
 * caller frees with wal_entries_free; on failure out is empty.
 * Returns 0, CC_ECOMPACTED (lo <= snapshot index), CC_ENOTFOUND (hi > last index or lo > hi),
 * CC_ECORRUPT (a record no longer verifies; wal_errmsg names file and offset), CC_EIO,
 * CC_ENOMEM. */
int wal_read_entries(struct wal *w, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                     struct wal_entries *out);

/* Frees what wal_read_entries returned; e is empty afterwards. */
void wal_entries_free(struct wal_entries *e);

/* Copies the current state (and what recovery did) into *st. */
void wal_get_state(const struct wal *w, struct wal_state *st);

/* Term of the entry at index (the snapshot term at snap_index). Returns 0, CC_ECOMPACTED
 * (index < snap_index), CC_ENOTFOUND (index > last_index). */
int wal_term(const struct wal *w, uint64_t index, uint64_t *term);

/* 0 while healthy, else the code of the failure that stopped the WAL. */
int wal_error(const struct wal *w);

/* The message of the last failure or refused call ("" when none). Never NULL; valid until the
 * next call on w. */
const char *wal_errmsg(const struct wal *w);

#endif
