/* wal_internal.h — what the WAL's files share (not public API). */
/* The in-memory log index, the segment scanner and struct wal itself. Tests and the fuzz target
 * may include it. */
#ifndef CONCUR_STORAGE_WAL_INTERNAL_H
#define CONCUR_STORAGE_WAL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/record.h"
#include "storage/wal.h"
#include "util/buf.h"

/* ---- The log as replayed: snapshot base, an optional unknown stretch, then indexed entries. */

/* Where one entry lives: segment seq, record offset, data length. */
struct wal_pos {
    uint64_t term;
    uint32_t seq;
    uint32_t off;
    uint32_t len;
};

/*
 * Entries (snap_index, hole_end] are known to exist but are not indexed: they were in segments
 * already released. hole_end == snap_index when there is no such stretch. Replay starts from the
 * first segment's header with a hole; a later snapshot marker must cover it (else segments are
 * missing). After a successful open the hole is always empty. Entries (hole_end, last] are in
 * v[head .. head+n).
 */
struct wal_log {
    uint64_t snap_index;
    uint64_t snap_term;
    uint64_t hole_end;
    uint64_t hole_term; /* term at hole_end (the header's last_term) */
    struct raft_hard_state hs;
    struct wal_pos *v;
    size_t head, n, cap;
    uint64_t max_entries;
};

static inline uint64_t wal__log_last(const struct wal_log *l)
{
    return l->hole_end + l->n;
}

void wal__log_init(struct wal_log *l, uint64_t max_entries);
void wal__log_free(struct wal_log *l);

/* Term at index: 0 and *term, CC_ECOMPACTED (below the snapshot), CC_ENOTFOUND (above the last
 * index), or CC_EBUSY when the entry is inside the hole (exists, term unknown here). */
int wal__log_term(const struct wal_log *l, uint64_t index, uint64_t *term);

/* Checks batch b against the log (the rules listed at wal_append). Returns 0, or CC_EINVAL /
 * CC_ETOOBIG with a reason in why. */
int wal__log_check(const struct wal_log *l, const struct wal_batch *b, uint32_t max_entry_bytes,
                   char *why, size_t whylen);

/* Ensures the index can take b's entries without allocating later. 0, CC_ENOMEM, CC_ETOOBIG. */
int wal__log_reserve(struct wal_log *l, const struct wal_batch *b);

/* Applies a checked, reserved batch whose entries were written in segment seq at offs[i]. */
void wal__log_apply(struct wal_log *l, const struct wal_batch *b, uint32_t seq,
                    const uint32_t *offs);

/* ---- Scanning one segment's bytes (pure: no I/O; fuzzed) ---------------------------------- */

enum wal_scan_status {
    WAL_SCAN_CLEAN = 0,   /* ends after a complete batch, then zeroes or end of file */
    WAL_SCAN_SEALED = 1,  /* clean, and closed by a SEAL record */
    WAL_SCAN_TORN = 2,    /* newest segment: an unacknowledged batch to cut at end..cut_end */
    WAL_SCAN_CORRUPT = 3, /* refuse: why and bad_off say what and where */
};

#define WAL_BSEQ_UNKNOWN UINT64_MAX

/* Replay hooks: header is called once for the segment header record, batch once per complete
 * batch with its records in order (recs[i] at byte offset offs[i]). A non-zero return stops the
 * scan with WAL_SCAN_CORRUPT (the hook writes its reason into why). */
struct wal_scan_hooks {
    void *arg;
    int (*header)(void *arg, const struct wal_seg_hdr *h, char *why, size_t whylen);
    int (*batch)(void *arg, const struct wal_rec *recs, const uint64_t *offs, size_t n, char *why,
                 size_t whylen);
};

struct wal_scan {
    /* in */
    bool is_last;        /* the newest segment: a torn tail is possible */
    bool allow_unsealed; /* the one before the newest: may lack its seal (crash while rolling) */
    uint64_t bseq;       /* in: bseq the previous segment ended with (WAL_BSEQ_UNKNOWN for the
                          * first); out: bseq of the last complete batch */
    size_t max_batch_records;
    /* out */
    int status;
    struct wal_seg_hdr hdr;
    uint64_t seal_next;
    uint64_t end;          /* after the last complete batch, header or seal: appends go here */
    uint64_t bad_off;      /* CORRUPT, TORN: first byte that failed */
    uint64_t cut_end;      /* TORN (and an unsealed torn seal): bytes [end, cut_end) to discard */
    uint64_t torn_records; /* TORN: intact records of the incomplete batch */
    uint64_t n_batches;
    char why[256];
};

/* Scans len bytes of one segment (starting at its header). Fills the out fields; returns the
 * status, or CC_ENOMEM. */
int wal__scan_segment(const uint8_t *data, size_t len, struct wal_scan *s,
                      const struct wal_scan_hooks *hooks);

/* ---- The WAL object ------------------------------------------------------------------------ */

struct wal_seg {
    uint64_t seq;
    uint64_t first_index; /* from the name: the log's last index at creation + 1 */
};

struct wal {
    char dir[STORAGE_PATH_MAX];
    struct wal_options o;
    const struct storage_fs *fs;
    const struct logger *log;
    struct wal_log lg;

    struct wal_seg *segs; /* oldest first */
    size_t n_segs, cap_segs;

    int fd;            /* newest segment (read-write; -1 when read-only) */
    uint64_t seg_off;  /* where the next batch goes */
    uint64_t seg_cap;  /* bytes allocated to the newest segment */
    uint64_t seg_body; /* offset right after its header: a segment holding no batch yet */
    uint64_t bseq;

    struct buf batch; /* encoding buffer, limit max_batch_bytes */
    uint32_t *offs;   /* record offset (in the batch) of each entry being appended */
    size_t offs_cap;

    int failed;
    char errmsg[512];
    struct wal_state rec; /* recovery facts */
};

/* Segment file name of (seq, first_index) into out (at least 48 bytes). */
void wal__seg_name(char *out, size_t len, uint64_t seq, uint64_t first_index);

/* Marks w failed with rc (first failure wins), logs and records the message. Returns rc. */
int wal__fail(struct wal *w, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records a message for a refused call (w stays usable). Returns rc. */
int wal__refuse(struct wal *w, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Creates segment seq (first index hdr->last_index + 1) preallocated to cap bytes with its
 * header; makes it durable and returns its fd and the offset after the header. Negative errno. */
int wal__create_segment(struct wal *w, const struct wal_seg_hdr *hdr, uint64_t cap, int *fd_out,
                        uint64_t *body_out);

/* Writes a SEAL record at off of the segment open at fd, trims the file there and fsyncs.
 * Negative errno. */
int wal__seal_segment(struct wal *w, int fd, uint64_t off, uint64_t next_seq);

/* Adds a segment to w->segs. 0 or CC_ENOMEM / CC_ETOOBIG. */
int wal__push_seg(struct wal *w, uint64_t seq, uint64_t first_index);

/* Recovery (wal_recover.c): fills w from the files in w->dir. 0 or a cc_err, message in err. */
int wal__recover(struct wal *w, char *err, size_t errlen);

#endif
