/* wal_dump.h — reading a data directory's Raft log for `concurctl wal dump`, and printing it. */
#ifndef CONCUR_STORAGE_WAL_DUMP_H
#define CONCUR_STORAGE_WAL_DUMP_H

/*
 * Text output (`concurctl wal dump --data-dir DIR`), one line per entry, then a summary:
 *
 *   5 (2): no-op
 *   6 (2): conf voters=[000000000000000a,000000000000000b] voters_out=[] learners=[] ctx="..."
 *   7 (2): <what the command decoder printed, e.g. put foo bar>
 *   8 (2): empty
 *   first index: 5
 *   last index: 8
 *   snapshot index: 4
 *   snapshot term: 1
 *   hard state: term=2 vote=000000000000000a commit=7
 *
 * NORMAL entries go through the caller's command decoder; without one, or when it fails, the
 * bytes are printed as a quoted string when printable ASCII, else as 0x-hex (first 256 bytes).
 * CONF entries go through the caller's configuration decoder (raft_conf_entry_decode has the
 * right signature); IDs print as 16 hex digits, "none" for vote 0.
 *
 * JSON output (-w json): one object {"entries":[{"index":N,"term":N,"type":"normal"|"noop"|
 * "conf","command":"...","data":"<base64>"} or for conf {...,"voters":["hex",...],
 * "voters_out":[...],"learners":[...],"ctx":"<base64>"}],"first_index":N,"last_index":N,
 * "snapshot":{"index":N,"term":N},"hard_state":{"term":N,"vote":"hex","commit":N}}; one entry
 * per line.
 *
 * The WAL is opened read-only: nothing is changed, a torn tail is skipped (and logged), a
 * corrupt log is an error naming the file and offset. Meant for a stopped member: on a live one
 * a batch being written shows as a torn tail, and a read racing a write may fail with CC_EIO
 * ("two reads disagree"); a released segment may vanish mid-dump (CC_ENOTFOUND).
 */

#include <stdint.h>
#include <stdio.h>

#include "raft/raft.h"
#include "storage/fs.h"
#include "util/buf.h"
#include "util/log.h"

/* Appends a readable form of a NORMAL entry's command to out. Returns 0, or non-zero when the
 * bytes are not a command it knows (the printer then falls back to raw bytes). */
typedef int (*wal_dump_cmd_fn)(void *arg, const uint8_t *data, uint32_t len, struct buf *out);

/* Decodes a CONF entry's data: the signature of raft_conf_entry_decode. */
typedef int (*wal_dump_conf_fn)(const uint8_t *data, uint32_t len, struct raft_config *cfg,
                                const uint8_t **ctx, uint32_t *ctx_len);

enum wal_dump_format { WAL_DUMP_TEXT = 0, WAL_DUMP_JSON = 1 };

struct wal_dump_options {
    enum wal_dump_format format;
    wal_dump_cmd_fn cmd; /* may be NULL */
    void *cmd_arg;
    wal_dump_conf_fn conf;       /* may be NULL */
    const struct storage_fs *fs; /* NULL = POSIX */
    const struct logger *log;    /* recovery messages; may be NULL */
};

struct wal_dump_info {
    uint64_t first_index;
    uint64_t last_index;
    uint64_t snap_index;
    uint64_t snap_term;
    struct raft_hard_state hs;
    uint64_t n_segments;
    uint64_t torn_bytes; /* a torn tail that was skipped (not changed on disk) */
};

/* Called once per entry in index order; e and its data are valid only during the call. A
 * non-zero return stops the iteration and is returned by wal_dump_iterate. */
typedef int (*wal_dump_entry_fn)(void *arg, const struct raft_entry *e);

/* Opens <data_dir>/member/wal read-only, fills *info, then calls fn for every entry after the
 * snapshot. Returns 0, fn's non-zero value, or wal_open / wal_read_entries codes (CC_ENOTFOUND
 * when there is no WAL, CC_ECORRUPT, ...) with a message in err when not NULL. */
int wal_dump_iterate(const char *data_dir, const struct storage_fs *fs, const struct logger *log,
                     struct wal_dump_info *info, wal_dump_entry_fn fn, void *arg, char *err,
                     size_t errlen);

/* Prints the log of data_dir to out in o->format (above). Returns 0, CC_EIO when writing to out
 * failed, or wal_dump_iterate's codes (err says why). */
int wal_dump_print(FILE *out, const char *data_dir, const struct wal_dump_options *o, char *err,
                   size_t errlen);

#endif
