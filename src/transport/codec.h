/* codec.h — the peer wire format: versioned, CRC-checked frames carrying handshakes and raft_msg.
 */
#ifndef CONCUR_TRANSPORT_CODEC_H
#define CONCUR_TRANSPORT_CODEC_H

/*
 * Wire format, protocol version 1
 * -------------------------------
 * A peer connection is a byte stream of frames. Every frame is a 12-byte header and a body:
 *
 *   offset size  field
 *   0      2     magic, the bytes 0x63 0x63 ("cc"): tells a stray client (curl, redis-cli)
 *                from a peer at the first read
 *   2      1     version, TRANSPORT_PROTO_VERSION
 *   3      1     kind (enum transport_frame_kind)
 *   4      4     body length, u32 little-endian, <= the receiver's frame cap
 *   8      4     CRC-32C (Castagnoli) of header bytes 0..7 followed by the body, u32 LE
 *
 * Integers in bodies are little-endian; "uv" is an unsigned LEB128 varint (at most 10 bytes).
 *
 *   HELLO, HELLO_OK (24 bytes): u64 cluster ID, u64 sender member ID, u64 receiver member ID.
 *     The connecting member sends HELLO first; the accepting member answers HELLO_OK (its own
 *     ID as sender) or ERROR, then closes.
 *   ERROR: u32 error code (the negated enum cc_err, > 0), u8 reason length (<=
 *     TRANSPORT_ERROR_REASON_MAX), the reason (ASCII). The sender closes after it.
 *   MSG: one struct raft_msg (raft/raft.h), every field:
 *     u8 type (1..RAFT_MSG_TYPE_MAX_), u8 flags (bit 0 reject, bit 1 done; others 0),
 *     uv from, to, term, log_term, index, commit, ctx, hint_index, hint_term,
 *     uv snap.index, snap.term, u8 n_voters, u8 n_voters_out, u8 n_learners (each <=
 *     RAFT_MAX_NODES), then uv IDs of voters, voters_out, learners in that order,
 *     uv snap_size, offset,
 *     uv n_entries (<= RAFT_MAX_MSG_ENTRIES_LIMIT), then per entry:
 *       uv term, uv index, u8 type (1..3), uv len (<= RAFT_MAX_ENTRY_BYTES_LIMIT), len bytes,
 *     uv len (<= RAFT_MAX_SNAP_CHUNK_LIMIT), len bytes of snapshot chunk data.
 *     The body must end exactly there.
 *
 * A receiver checks magic, version, kind and body length before buffering a body, the CRC
 * before looking inside, and every count and length against its limit (and against the bytes
 * actually present) before allocating anything.
 */

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define TRANSPORT_PROTO_VERSION      1
#define TRANSPORT_FRAME_HEADER_BYTES 12
#define TRANSPORT_HELLO_BODY_BYTES   24
#define TRANSPORT_ERROR_REASON_MAX   200
/* Largest ERROR frame. */
#define TRANSPORT_ERROR_FRAME_MAX (TRANSPORT_FRAME_HEADER_BYTES + 5 + TRANSPORT_ERROR_REASON_MAX)

/* The codec's own cap on a frame body, whatever a transport is configured with: room for an
 * APPEND carrying one maximal entry (RAFT_MAX_ENTRY_BYTES_LIMIT) and a full message's worth of
 * others, or the largest snapshot chunk. */
#define TRANSPORT_MAX_FRAME_LIMIT (128u << 20)

enum transport_frame_kind {
    TRANSPORT_FRAME_HELLO = 1,
    TRANSPORT_FRAME_HELLO_OK = 2,
    TRANSPORT_FRAME_ERROR = 3,
    TRANSPORT_FRAME_MSG = 4,
    TRANSPORT_FRAME_KIND_MAX_ = 4
};

struct transport_hello {
    uint64_t cluster_id;
    raft_id from; /* the member sending this frame */
    raft_id to;   /* the member it expects at the other end */
};

struct transport_error {
    int code; /* a negative cc_err (or an unknown negative value from a newer peer) */
    char reason[TRANSPORT_ERROR_REASON_MAX + 1]; /* terminated; non-printable bytes are '?' */
};

struct transport_frame_hdr {
    uint8_t version;
    uint8_t kind;
    uint32_t body_len;
    uint32_t crc;
};

/* A decoded frame: kind says which member of the union is valid. */
struct transport_frame {
    uint8_t kind;
    union {
        struct transport_hello hello; /* HELLO, HELLO_OK */
        struct transport_error error; /* ERROR */
        struct raft_msg msg;          /* MSG: owns memory, see transport_msg_free */
    };
};

/* Parses the fixed header at p (TRANSPORT_FRAME_HEADER_BYTES readable bytes) into *h.
 * Returns 0, CC_EPROTO (bad magic, unknown version or kind; h->version is filled whenever the
 * magic matched, so the caller can name an unsupported version) or CC_ETOOBIG (body longer
 * than max_body). Pure. */
int transport_frame_parse_header(const uint8_t *p, uint32_t max_body,
                                 struct transport_frame_hdr *h);

/* Decodes one whole frame: p holds exactly len = header + body bytes. Validates the header
 * (as above, with max_body), then the CRC, then the body against every limit of the wire
 * format, all before allocating. On success *out is filled; for a MSG frame out->msg owns one
 * allocation (when it has entries or data) that the caller releases with transport_msg_free
 * (never raft_msg_release). Returns 0, CC_EPROTO, CC_ETOOBIG (a size over its limit),
 * CC_ECORRUPT (length mismatch, CRC mismatch or a malformed body) or CC_ENOMEM; on failure
 * *out holds nothing to free. */
int transport_frame_decode(const uint8_t *p, size_t len, uint32_t max_body,
                           struct transport_frame *out);

/* Releases what transport_frame_decode allocated for m (entries, their data and the snapshot
 * chunk share one block) and zeroes *m. Safe on a zeroed message. */
void transport_msg_free(struct raft_msg *m);

/* Computes the size of the MSG frame for m into *size. Returns 0, CC_EINVAL (type out of
 * range, an entry type out of range) or CC_ETOOBIG (more entries, a longer entry or snapshot
 * chunk than the wire format admits, or a body over TRANSPORT_MAX_FRAME_LIMIT).
 * Preconditions: entries != NULL when n_entries > 0; data != NULL when len > 0 (an outgoing
 * SNAPSHOT needs its bytes attached); every entry's data != NULL when its len > 0. */
int transport_frame_msg_size(const struct raft_msg *m, size_t *size);

/* Writes the MSG frame for m to out, which has room for the size transport_frame_msg_size
 * reported (it must have returned 0), and returns the bytes written (that same size). Pure. */
size_t transport_frame_encode_msg(const struct raft_msg *m, uint8_t *out);

/* Writes a HELLO or HELLO_OK frame (kind) to out, TRANSPORT_FRAME_HEADER_BYTES +
 * TRANSPORT_HELLO_BODY_BYTES bytes. */
void transport_frame_encode_hello(uint8_t kind, const struct transport_hello *h, uint8_t *out);

/* Writes an ERROR frame to out (room for TRANSPORT_ERROR_FRAME_MAX bytes) with code (< 0) and
 * reason (NULL or a string, cut to TRANSPORT_ERROR_REASON_MAX bytes); returns its size. */
size_t transport_frame_encode_error(int code, const char *reason, uint8_t *out);

/* Fills in the header of a frame whose body_len-byte body is already at
 * frame + TRANSPORT_FRAME_HEADER_BYTES: magic, version, kind, length and the CRC. Every encoder
 * above ends with it; tests and the fuzz target use it to build frames by hand. */
void transport_frame_seal(uint8_t *frame, uint8_t kind, uint32_t body_len);

#endif
