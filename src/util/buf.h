/* buf.h — a growable byte buffer with a hard size limit, plus little-endian/varint codecs. */
#ifndef CONCUR_UTIL_BUF_H
#define CONCUR_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A buffer owns data (malloc'd). len <= cap <= limit. A zeroed struct is not usable: call
 * buf_init. limit bounds every growth: appends past it fail with CC_ETOOBIG and leave the
 * buffer unchanged. */
struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit;
};

/* Initializes an empty buffer that may grow to limit bytes (limit > 0). Allocates nothing. */
void buf_init(struct buf *b, size_t limit);

/* Frees the data; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);

/* Ensures room for n more bytes. Returns 0, CC_ETOOBIG (len+n > limit) or CC_ENOMEM. */
int buf_reserve(struct buf *b, size_t n);

/* Appends n bytes (data may be NULL iff n == 0). Returns 0, CC_ETOOBIG or CC_ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t n);

/* Appends fixed-width little-endian integers / an unsigned LEB128 varint. Same returns. */
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u32le(struct buf *b, uint32_t v);
int buf_put_u64le(struct buf *b, uint64_t v);
int buf_put_uvarint(struct buf *b, uint64_t v);

/* Drops the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);

static inline void buf_reset(struct buf *b)
{
    b->len = 0;
}

/* A read cursor over bytes it does not own. Reads past the end set err and return 0;
 * check cur.err once after a sequence of reads. */
struct cursor {
    const uint8_t *p;
    size_t left;
    int err;
};

static inline void cursor_init(struct cursor *c, const void *data, size_t len)
{
    c->p = data;
    c->left = len;
    c->err = 0;
}

uint8_t cursor_u8(struct cursor *c);
uint32_t cursor_u32le(struct cursor *c);
uint64_t cursor_u64le(struct cursor *c);
uint64_t cursor_uvarint(struct cursor *c);
/* Returns a pointer to the next n bytes inside the cursor's data (not copied), or NULL with
 * err set when fewer than n remain. */
const uint8_t *cursor_bytes(struct cursor *c, size_t n);

static inline void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t get_u32le(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static inline uint64_t get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static inline void put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint64_t get_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

#endif
