/* record.c — the stored form of one revision (the "kv" column family's values). */
#include "kv/internal.h"
#include "util/err.h"

static uint64_t zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzz(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

int kv__rec_encode(struct buf *b, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                   int64_t create_rev, int64_t version, int64_t lease, bool tomb)
{
    size_t start = b->len;
    int rc = buf_reserve(b, 1 + 10 + klen + (tomb ? 0 : 30 + vlen));
    if (!rc) rc = buf_put_u8(b, tomb ? 1 : 0);
    if (!rc) rc = buf_put_uvarint(b, klen);
    if (!rc) rc = buf_append(b, key, klen);
    if (!rc && !tomb) {
        rc = buf_put_uvarint(b, zz(create_rev));
        if (!rc) rc = buf_put_uvarint(b, zz(version));
        if (!rc) rc = buf_put_uvarint(b, zz(lease));
        if (!rc) rc = buf_append(b, val, vlen);
    }
    if (rc) b->len = start;
    return rc;
}

int kv__rec_decode(const uint8_t *p, size_t len, struct rec_view *v)
{
    struct cursor c;
    cursor_init(&c, p, len);
    memset(v, 0, sizeof(*v));
    uint8_t flags = cursor_u8(&c);
    uint64_t klen = cursor_uvarint(&c);
    if (c.err || flags > 1 || klen > KV_KEY_MAX || klen > c.left) return CC_ECORRUPT;
    v->tomb = flags & 1;
    v->key.len = (size_t)klen;
    v->key.p = cursor_bytes(&c, (size_t)klen);
    if (!v->key.p) v->key.p = (const uint8_t *)"";
    if (v->tomb) return c.left ? CC_ECORRUPT : 0;
    v->create_rev = unzz(cursor_uvarint(&c));
    v->version = unzz(cursor_uvarint(&c));
    v->lease = unzz(cursor_uvarint(&c));
    if (c.err || v->create_rev <= 0 || v->version <= 0) return CC_ECORRUPT;
    v->value.len = c.left;
    v->value.p = c.left ? c.p : (const uint8_t *)"";
    return 0;
}
