/* json.h — a bounded JSON reader (one value at a time, so a body may hold a stream of
 * concatenated objects as grpc-gateway accepts) and the writing helpers of the JSON gateway,
 * including base64 as Go's encoding/json does it. */
#ifndef CONCUR_API_GATEWAY_JSON_H
#define CONCUR_API_GATEWAY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv_arena.h"
#include "util/buf.h"

#define JSON_MAX_DEPTH 64 /* nesting of arrays and objects */

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

/* A parsed value. Strings are decoded (escapes resolved, NUL-terminated, may contain NUL
 * bytes); numbers keep their literal text. Arrays and objects list their elements through
 * first/next; object elements carry their member name in key/klen. */
struct json_val {
    uint8_t type; /* enum json_type */
    bool b;
    const char *s; /* STRING: decoded bytes; NUMBER: the literal */
    size_t slen;
    const char *key; /* inside an OBJECT: the member name (decoded) */
    size_t klen;
    size_t n; /* ARRAY/OBJECT: number of elements */
    struct json_val *first, *next;
};

/* Parses one JSON value from p[0..len) after leading whitespace. Everything is allocated in a
 * (the caller frees it; its limit bounds the memory). On success returns 0, *out and
 * *consumed (bytes used, trailing whitespace included). Returns CC_ENOTFOUND when only
 * whitespace remains (end of a stream), CC_EINVAL with a Go-style reason in err (e.g.
 * "invalid character 'x' looking for beginning of value", "unexpected EOF"), CC_ETOOBIG
 * (nesting over JSON_MAX_DEPTH) or CC_ENOMEM (arena limit). err gets errlen bytes, always
 * terminated. */
int json_parse(const char *p, size_t len, struct kv_arena *a, struct json_val **out,
               size_t *consumed, char *err, size_t errlen);

/* The member of obj named name (exact, case-sensitive), or NULL. */
const struct json_val *json_get(const struct json_val *obj, const char *name);

/* ---- writing (all append to b and return 0, CC_ETOOBIG or CC_ENOMEM) ---- */

/* A JSON string literal with Go's escaping: quotes, backslash and control characters, the
 * HTML-sensitive <, > and & as \u003c-style escapes, U+2028/U+2029 escaped, invalid UTF-8 as
 * \ufffd. */
int json_put_str(struct buf *b, const char *s, size_t len);
int json_put_raw(struct buf *b, const char *s); /* appends s verbatim */
int json_put_i64(struct buf *b, int64_t v, bool quoted);
int json_put_u64(struct buf *b, uint64_t v, bool quoted);

/* Standard base64 with padding, inside quotes (Go's []byte encoding). */
int json_put_base64(struct buf *b, const uint8_t *p, size_t len);

/* Bytes needed to decode a base64 text of len characters (an upper bound). */
size_t json_base64_max(size_t len);

/* Decodes standard or URL-safe base64, padding optional, into out (json_base64_max(len)
 * bytes). Returns the decoded length, or -1 with *bad_at set to the offending input offset (the
 * position Go reports in "illegal base64 data at input byte N"). */
long json_base64_decode(const char *s, size_t len, uint8_t *out, size_t *bad_at);

#endif
