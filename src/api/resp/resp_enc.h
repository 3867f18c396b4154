/* resp_enc.h — RESP2 reply encoder appending to a bounded buffer; pure, no I/O. */
#ifndef CONCUR_API_RESP_ENC_H
#define CONCUR_API_RESP_ENC_H

#include <stdarg.h>
#include <stddef.h>

#include "util/buf.h"

/* Every function appends one RESP2 value (or the header of an aggregate) to b and returns 0,
 * CC_ETOOBIG (b's limit would be passed; b is left unchanged) or CC_ENOMEM. b stays owned by
 * the caller. The spec is redis.io/docs/reference/protocol-spec (RESP2). */

/* "+s\r\n". CR and LF in s become spaces, as Redis does, so the reply stays one line. */
int resp_enc_simple(struct buf *b, const char *s);

/* "-msg\r\n". If msg does not start with '-' the prefix "ERR " is added (Redis's
 * addReplyError convention), so resp_enc_error(b, "-NOPROTO x") sends "-NOPROTO x" and
 * resp_enc_error(b, "unknown command") sends "-ERR unknown command". CR/LF become spaces. */
int resp_enc_error(struct buf *b, const char *msg);
int resp_enc_error_len(struct buf *b, const char *msg, size_t len);

/* resp_enc_error with a printf format; the message is cut at 4 KiB. */
int resp_enc_errorf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int resp_enc_verrorf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* ":v\r\n". */
int resp_enc_int(struct buf *b, long long v);

/* "$len\r\n<bytes>\r\n" (binary safe; p may be NULL iff len == 0). */
int resp_enc_bulk(struct buf *b, const void *p, size_t len);
int resp_enc_bulk_cstr(struct buf *b, const char *s);

/* "$-1\r\n": the RESP2 null (a missing key). */
int resp_enc_null(struct buf *b);

/* "*n\r\n": the header of an array of n elements that the caller appends next (arrays nest by
 * appending another header as an element). */
int resp_enc_array(struct buf *b, size_t n);

/* "*-1\r\n": the RESP2 null array. */
int resp_enc_null_array(struct buf *b);

/* RESP2 has no map type: a map of n pairs is an array of 2n elements, key then value, which is
 * how redis-server answers RESP2 clients (HELLO, COMMAND DOCS). */
int resp_enc_map(struct buf *b, size_t pairs);

/* Appends bytes that are already RESP (a reply built elsewhere). */
int resp_enc_raw(struct buf *b, const void *p, size_t len);

#endif
