/* grpc_frame.h — gRPC wire pieces with no I/O: message de-framing, status codes, the
 * percent-encoding of grpc-message and the grpc-timeout header (gRPC "PROTOCOL-HTTP2" spec). */
#ifndef CONCUR_API_GRPC_FRAME_H
#define CONCUR_API_GRPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* gRPC status codes (grpc/doc/statuscodes.md). Values are the wire values. */
enum grpc_code {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_UNKNOWN = 2,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_ALREADY_EXISTS = 6,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_FAILED_PRECONDITION = 9,
    GRPC_ABORTED = 10,
    GRPC_OUT_OF_RANGE = 11,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_DATA_LOSS = 15,
    GRPC_UNAUTHENTICATED = 16,
    GRPC_CODE_COUNT_ = 17
};

/* Returns the canonical upper-case name ("RESOURCE_EXHAUSTED"), or "UNKNOWN" when code is out
 * of range. Never NULL. */
const char *grpc_code_name(int code);

/* Length-Prefixed-Message header: 1-byte compressed flag, 4-byte big-endian length. */
#define GRPC_FRAME_HDR 5

/* Writes the 5-byte header of an uncompressed message of len bytes into out. */
void grpc_frame_put_header(uint8_t out[GRPC_FRAME_HDR], uint32_t len);

/* Why a de-framer refused its input (the detail behind the gRPC code it returned). */
enum grpc_deframe_err {
    GRPC_DF_OK = 0,
    GRPC_DF_TOO_LARGE,  /* declared length > max_msg_bytes: RESOURCE_EXHAUSTED */
    GRPC_DF_BUDGET,     /* the shared buffering budget is spent: RESOURCE_EXHAUSTED */
    GRPC_DF_NOMEM,      /* allocation failed: RESOURCE_EXHAUSTED */
    GRPC_DF_COMPRESSED, /* compressed flag 1, no grpc-encoding supported: UNIMPLEMENTED */
    GRPC_DF_BAD_FLAG,   /* compressed flag neither 0 nor 1: INTERNAL */
};

/* Incremental de-framer for one stream's request bytes. It allocates a partial message's
 * buffer only after validating the declared length against max_msg_bytes and charging it to
 * the optional shared budget (*budget_used against budget_limit, e.g. per connection). */
struct grpc_deframer {
    uint8_t hdr[GRPC_FRAME_HDR];
    size_t hdr_len; /* header bytes collected so far */
    uint32_t need;  /* payload bytes of the current message (valid when hdr complete) */
    uint8_t *msg;   /* partial payload (malloc'd, need bytes) or NULL */
    uint32_t got;   /* payload bytes in msg */
    uint32_t max_msg_bytes;
    size_t *budget_used; /* NULL: no shared budget */
    size_t budget_limit;
    size_t charged;            /* bytes this de-framer holds against the budget */
    enum grpc_deframe_err err; /* sticky once set */
    uint32_t err_len;          /* the declared length behind GRPC_DF_TOO_LARGE */
};

/* Prepares d for messages of at most max_msg_bytes; budget_used may be NULL (no shared
 * budget), otherwise it must outlive d. Allocates nothing. */
void grpc_deframer_init(struct grpc_deframer *d, uint32_t max_msg_bytes, size_t *budget_used,
                        size_t budget_limit);

/* Frees the partial message buffer and returns its charge to the budget. d may be
 * reinitialised afterwards. */
void grpc_deframer_free(struct grpc_deframer *d);

/* Called once per complete message. msg is valid only during the call (never NULL, even when
 * len is 0). Return 0 to continue, nonzero to stop (grpc_deframer_feed returns that value). */
typedef int (*grpc_deframer_msg_fn)(void *arg, const uint8_t *msg, size_t len);

/* Consumes n bytes of a stream's DATA payload, calling on_msg for each message completed.
 * Returns 0; the positive enum grpc_code of a refusal (see enum grpc_deframe_err; sticky: every
 * later call returns it again without consuming); or the nonzero value on_msg returned (the
 * rest of data is then dropped). */
int grpc_deframer_feed(struct grpc_deframer *d, const uint8_t *data, size_t n,
                       grpc_deframer_msg_fn on_msg, void *arg);

/* The gRPC code for d's refusal (0 when healthy). */
int grpc_deframer_code(const struct grpc_deframer *d);

/* Writes a NUL-terminated human-readable status message for d's refusal into out (worded as
 * grpc-go words it where one exists) and returns out. */
const char *grpc_deframer_errmsg(const struct grpc_deframer *d, char *out, size_t outsz);

/* True when no partial message is pending (a stream may end here cleanly). */
static inline int grpc_deframer_idle(const struct grpc_deframer *d)
{
    return d->hdr_len == 0;
}

/* Percent-encodes s for the grpc-message header: bytes outside 0x20..0x7E, and '%', become
 * "%XX" (upper-case hex). At most max_in bytes of s are encoded (longer status messages are
 * cut). Writes a NUL-terminated string into out (size outsz >= 3 * max_in + 1 suffices) and
 * returns its length; returns CC_ETOOBIG if out is too small. */
int grpc_percent_encode(const char *s, size_t max_in, char *out, size_t outsz);

/* Decodes a percent-encoded grpc-message in place semantics: writes to out (outsz >= n + 1)
 * and returns the decoded length. Malformed escapes are kept verbatim, as the spec asks. */
size_t grpc_percent_decode(const char *in, size_t n, char *out, size_t outsz);

/* Parses a grpc-timeout header value ("1*8DIGIT unit", unit one of H M S m u n) into whole
 * milliseconds, rounding sub-millisecond remainders up so a positive timeout never becomes 0.
 * Returns 0 and sets *ms, or CC_EINVAL for a malformed value. */
int grpc_timeout_parse(const char *v, size_t n, uint64_t *ms);

#endif
