/* buf.c — growable bounded byte buffer and read cursor. */
#include "util/buf.h"

#include <assert.h>
#include <stdlib.h>

#include "util/err.h"

void buf_init(struct buf *b, size_t limit)
{
    assert(limit > 0);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int buf_reserve(struct buf *b, size_t n)
{
    if (n > b->limit || b->len > b->limit - n) return CC_ETOOBIG;
    size_t need = b->len + n;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->limit) cap = b->limit;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return CC_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
    if (n == 0) return 0;
    int rc = buf_reserve(b, n);
    if (rc) return rc;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

int buf_put_u8(struct buf *b, uint8_t v)
{
    return buf_append(b, &v, 1);
}

int buf_put_u32le(struct buf *b, uint32_t v)
{
    uint8_t t[4];
    put_u32le(t, v);
    return buf_append(b, t, 4);
}

int buf_put_u64le(struct buf *b, uint64_t v)
{
    uint8_t t[8];
    put_u64le(t, v);
    return buf_append(b, t, 8);
}

int buf_put_uvarint(struct buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    return buf_append(b, t, n);
}

void buf_consume(struct buf *b, size_t n)
{
    assert(n <= b->len);
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

const uint8_t *cursor_bytes(struct cursor *c, size_t n)
{
    if (c->err || n > c->left) {
        c->err = CC_ECORRUPT;
        c->left = 0;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

uint8_t cursor_u8(struct cursor *c)
{
    const uint8_t *p = cursor_bytes(c, 1);
    return p ? p[0] : 0;
}

uint32_t cursor_u32le(struct cursor *c)
{
    const uint8_t *p = cursor_bytes(c, 4);
    return p ? get_u32le(p) : 0;
}

uint64_t cursor_u64le(struct cursor *c)
{
    const uint8_t *p = cursor_bytes(c, 8);
    return p ? get_u64le(p) : 0;
}

uint64_t cursor_uvarint(struct cursor *c)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const uint8_t *p = cursor_bytes(c, 1);
        if (!p) return 0;
        if (shift == 63 && *p > 1) break;
        v |= (uint64_t)(*p & 0x7f) << shift;
        if (!(*p & 0x80)) return v;
    }
    c->err = CC_ECORRUPT;
    c->left = 0;
    return 0;
}
