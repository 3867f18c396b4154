/* record.h — WAL record framing: a 24-byte header with length, type and CRC32C, then payload. */
#ifndef CONCUR_STORAGE_RECORD_H
#define CONCUR_STORAGE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "util/buf.h"

/*
 * On-disk layout of one record (little-endian), padded with zeroes to a multiple of 8 bytes:
 *
 *   0  u32 crc      CRC-32C over bytes [4, 24) and the payload (not the padding)
 *   4  u32 len      payload bytes
 *   8  u8  type     enum wal_rec_type (0 is never valid: zeroed space is not a record)
 *   9  u8  flags    WAL_REC_LAST marks the record that closes a batch
 *  10  u16 zero     must be 0
 *  12  u32 len_inv  ~len: lets a scan reject garbage headers before it trusts len
 *  16  u64 bseq     batch sequence number: every record of one append carries the same bseq,
 *                   and each append uses the previous bseq + 1 (segment and seal records carry
 *                   the last bseq written, as they belong to no batch)
 *  24  payload, then zero padding
 *
 * Payloads by type:
 *   SEGMENT   (first record of every segment, 80 bytes) u64 magic, u32 version, u32 zero,
 *             u64 seq, u64 snap_index, u64 snap_term, u64 hs.term, u64 hs.vote, u64 hs.commit,
 *             u64 last_index, u64 last_term — the log's state when the segment was created, so
 *             a segment stays self-describing after earlier ones are released.
 *   ENTRY     u64 index, u64 term, u8 type, data (len - 17 bytes)
 *   HARDSTATE u64 term, u64 vote, u64 commit
 *   SNAPSHOT  u64 index, u64 term: a snapshot was installed; the log up to index is discarded
 *   SEAL      u64 next_seq: written when a segment is closed; the next segment must exist
 */

#define WAL_REC_HDR_BYTES 24u
#define WAL_REC_ALIGN     8u
#define WAL_REC_LAST      0x01u
/* Largest payload any record type may have: an entry of the largest size Raft accepts. */
#define WAL_REC_MAX_PAYLOAD (RAFT_MAX_ENTRY_BYTES_LIMIT + 32u)

#define WAL_SEGMENT_MAGIC   0x4745534c41574343ull /* "CCWALSEG" */
#define WAL_FORMAT_VERSION  1u
#define WAL_ENTRY_HDR_BYTES 17u

enum wal_rec_type {
    WAL_REC_SEGMENT = 1,
    WAL_REC_ENTRY = 2,
    WAL_REC_HARDSTATE = 3,
    WAL_REC_SNAPSHOT = 4,
    WAL_REC_SEAL = 5,
};

/* Outcome of decoding the bytes at one record boundary. */
enum wal_dec {
    WAL_DEC_OK = 0,
    WAL_DEC_ZERO = 1,       /* the header is all zeroes (or the zero bytes reach the end) */
    WAL_DEC_SHORT = 2,      /* the data ends inside the header or the payload */
    WAL_DEC_BAD_HEADER = 3, /* impossible type, flags, length, or len_inv mismatch */
    WAL_DEC_BAD_CRC = 4,    /* checksum mismatch */
    WAL_DEC_BAD_PAD = 5,    /* non-zero padding */
};

/* A decoded record; payload points into the decoded buffer (not copied). */
struct wal_rec {
    uint8_t type;
    uint8_t flags;
    uint32_t len;
    uint64_t bseq;
    const uint8_t *payload;
    size_t total; /* bytes the record occupies, padding included */
};

struct wal_seg_hdr {
    uint64_t seq;
    uint64_t snap_index;
    uint64_t snap_term;
    struct raft_hard_state hs;
    uint64_t last_index;
    uint64_t last_term;
};

/* Bytes a record with a payload of len bytes occupies on disk. */
static inline size_t wal_record_size(size_t len)
{
    return WAL_REC_HDR_BYTES + ((len + WAL_REC_ALIGN - 1) & ~(size_t)(WAL_REC_ALIGN - 1));
}

/* Decodes the record starting at p, with avail bytes readable. Never reads past p+avail and
 * never allocates; any byte sequence is safe input (fuzzed). Fills *out only on WAL_DEC_OK.
 * Returns an enum wal_dec. Also checks that the payload length fits the type. */
int wal_record_decode(const uint8_t *p, size_t avail, struct wal_rec *out);

/* Short name of an enum wal_dec value ("crc mismatch"); never NULL. */
const char *wal_record_dec_name(int dec);

/* Appends one record to b: header, payload made of part1 (n1 bytes) then part2 (n2 bytes,
 * may be NULL iff 0), zero padding. Returns 0, CC_ETOOBIG (payload over WAL_REC_MAX_PAYLOAD
 * or b's limit) or CC_ENOMEM; b is unchanged on error. */
int wal_record_put(struct buf *b, uint8_t type, uint8_t flags, uint64_t bseq, const void *part1,
                   size_t n1, const void *part2, size_t n2);

/* Typed record appenders (same returns as wal_record_put). */
int wal_record_put_entry(struct buf *b, uint8_t flags, uint64_t bseq, const struct raft_entry *e);
int wal_record_put_hs(struct buf *b, uint8_t flags, uint64_t bseq,
                      const struct raft_hard_state *hs);
int wal_record_put_snapshot(struct buf *b, uint8_t flags, uint64_t bseq, uint64_t index,
                            uint64_t term);
int wal_record_put_segment(struct buf *b, uint64_t bseq, const struct wal_seg_hdr *h);
int wal_record_put_seal(struct buf *b, uint64_t bseq, uint64_t next_seq);

/* Payload decoders for a record wal_record_decode accepted. e->data points into the record
 * (NULL when the entry is empty). They return 0, or CC_ECORRUPT when the record has another
 * type or an impossible content (bad magic/version, entry type 0, ...). */
int wal_record_entry(const struct wal_rec *r, struct raft_entry *e);
int wal_record_hs(const struct wal_rec *r, struct raft_hard_state *hs);
int wal_record_snapshot(const struct wal_rec *r, uint64_t *index, uint64_t *term);
int wal_record_segment(const struct wal_rec *r, struct wal_seg_hdr *h);
int wal_record_seal(const struct wal_rec *r, uint64_t *next_seq);

#endif
