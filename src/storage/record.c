/* record.c — encoding and decoding WAL records (see record.h for the layout). */
#include "storage/record.h"

#include <assert.h>
#include <string.h>

#include "storage/fs_util.h"
#include "util/crc32c.h"
#include "util/err.h"

#define SEGMENT_PAYLOAD 80u
#define HS_PAYLOAD      24u
#define SNAP_PAYLOAD    16u
#define SEAL_PAYLOAD    8u

/* Whether a payload of len bytes is possible for type: fixed-size types must match exactly,
 * so a header whose len_inv happens to match but whose type/len pair is nonsense is rejected
 * before any CRC work (this keeps resynchronising scans cheap and precise). */
static int len_fits_type(uint8_t type, uint32_t len)
{
    switch (type) {
    case WAL_REC_SEGMENT:
        return len == SEGMENT_PAYLOAD;
    case WAL_REC_ENTRY:
        return len >= WAL_ENTRY_HDR_BYTES && len <= WAL_REC_MAX_PAYLOAD;
    case WAL_REC_HARDSTATE:
        return len == HS_PAYLOAD;
    case WAL_REC_SNAPSHOT:
        return len == SNAP_PAYLOAD;
    case WAL_REC_SEAL:
        return len == SEAL_PAYLOAD;
    default:
        return 0;
    }
}

int wal_record_decode(const uint8_t *p, size_t avail, struct wal_rec *out)
{
    size_t hdr_avail = avail < WAL_REC_HDR_BYTES ? avail : WAL_REC_HDR_BYTES;
    if (storage__all_zero(p, hdr_avail)) return WAL_DEC_ZERO;
    if (avail < WAL_REC_HDR_BYTES) return WAL_DEC_SHORT;
    uint32_t crc = get_u32le(p);
    uint32_t len = get_u32le(p + 4);
    uint8_t type = p[8];
    uint8_t flags = p[9];
    if (p[10] || p[11] || (flags & ~WAL_REC_LAST) || get_u32le(p + 12) != ~len ||
        !len_fits_type(type, len))
        return WAL_DEC_BAD_HEADER;
    size_t total = wal_record_size(len);
    if (total > avail) return WAL_DEC_SHORT;
    uint32_t c = crc32c_extend(0, p + 4, WAL_REC_HDR_BYTES - 4);
    c = crc32c_extend(c, p + WAL_REC_HDR_BYTES, len);
    if (c != crc) return WAL_DEC_BAD_CRC;
    if (!storage__all_zero(p + WAL_REC_HDR_BYTES + len, total - WAL_REC_HDR_BYTES - len))
        return WAL_DEC_BAD_PAD;
    out->type = type;
    out->flags = flags;
    out->len = len;
    out->bseq = get_u64le(p + 16);
    out->payload = p + WAL_REC_HDR_BYTES;
    out->total = total;
    return WAL_DEC_OK;
}

const char *wal_record_dec_name(int dec)
{
    switch (dec) {
    case WAL_DEC_OK:
        return "ok";
    case WAL_DEC_ZERO:
        return "zeroed space";
    case WAL_DEC_SHORT:
        return "record cut short";
    case WAL_DEC_BAD_HEADER:
        return "invalid record header";
    case WAL_DEC_BAD_CRC:
        return "CRC mismatch";
    case WAL_DEC_BAD_PAD:
        return "non-zero padding";
    default:
        return "unknown";
    }
}

int wal_record_put(struct buf *b, uint8_t type, uint8_t flags, uint64_t bseq, const void *part1,
                   size_t n1, const void *part2, size_t n2)
{
    if (n1 > WAL_REC_MAX_PAYLOAD || n2 > WAL_REC_MAX_PAYLOAD - n1) return CC_ETOOBIG;
    uint32_t len = (uint32_t)(n1 + n2);
    assert(len_fits_type(type, len));
    size_t total = wal_record_size(len);
    int rc = buf_reserve(b, total);
    if (rc) return rc;
    uint8_t *h = b->data + b->len;
    put_u32le(h + 4, len);
    h[8] = type;
    h[9] = flags;
    h[10] = h[11] = 0;
    put_u32le(h + 12, ~len);
    put_u64le(h + 16, bseq);
    if (n1) memcpy(h + WAL_REC_HDR_BYTES, part1, n1);
    if (n2) memcpy(h + WAL_REC_HDR_BYTES + n1, part2, n2);
    memset(h + WAL_REC_HDR_BYTES + len, 0, total - WAL_REC_HDR_BYTES - len);
    uint32_t c = crc32c_extend(0, h + 4, WAL_REC_HDR_BYTES - 4);
    put_u32le(h, crc32c_extend(c, h + WAL_REC_HDR_BYTES, len));
    b->len += total;
    return 0;
}

int wal_record_put_entry(struct buf *b, uint8_t flags, uint64_t bseq, const struct raft_entry *e)
{
    uint8_t fixed[WAL_ENTRY_HDR_BYTES];
    put_u64le(fixed, e->index);
    put_u64le(fixed + 8, e->term);
    fixed[16] = e->type;
    return wal_record_put(b, WAL_REC_ENTRY, flags, bseq, fixed, sizeof(fixed), e->data, e->len);
}

int wal_record_put_hs(struct buf *b, uint8_t flags, uint64_t bseq, const struct raft_hard_state *hs)
{
    uint8_t p[HS_PAYLOAD];
    put_u64le(p, hs->term);
    put_u64le(p + 8, hs->vote);
    put_u64le(p + 16, hs->commit);
    return wal_record_put(b, WAL_REC_HARDSTATE, flags, bseq, p, sizeof(p), NULL, 0);
}

int wal_record_put_snapshot(struct buf *b, uint8_t flags, uint64_t bseq, uint64_t index,
                            uint64_t term)
{
    uint8_t p[SNAP_PAYLOAD];
    put_u64le(p, index);
    put_u64le(p + 8, term);
    return wal_record_put(b, WAL_REC_SNAPSHOT, flags, bseq, p, sizeof(p), NULL, 0);
}

int wal_record_put_segment(struct buf *b, uint64_t bseq, const struct wal_seg_hdr *h)
{
    uint8_t p[SEGMENT_PAYLOAD];
    put_u64le(p, WAL_SEGMENT_MAGIC);
    put_u32le(p + 8, WAL_FORMAT_VERSION);
    put_u32le(p + 12, 0);
    put_u64le(p + 16, h->seq);
    put_u64le(p + 24, h->snap_index);
    put_u64le(p + 32, h->snap_term);
    put_u64le(p + 40, h->hs.term);
    put_u64le(p + 48, h->hs.vote);
    put_u64le(p + 56, h->hs.commit);
    put_u64le(p + 64, h->last_index);
    put_u64le(p + 72, h->last_term);
    return wal_record_put(b, WAL_REC_SEGMENT, WAL_REC_LAST, bseq, p, sizeof(p), NULL, 0);
}

int wal_record_put_seal(struct buf *b, uint64_t bseq, uint64_t next_seq)
{
    uint8_t p[SEAL_PAYLOAD];
    put_u64le(p, next_seq);
    return wal_record_put(b, WAL_REC_SEAL, WAL_REC_LAST, bseq, p, sizeof(p), NULL, 0);
}

int wal_record_entry(const struct wal_rec *r, struct raft_entry *e)
{
    if (r->type != WAL_REC_ENTRY || r->len < WAL_ENTRY_HDR_BYTES) return CC_ECORRUPT;
    const uint8_t *p = r->payload;
    e->index = get_u64le(p);
    e->term = get_u64le(p + 8);
    e->type = p[16];
    e->len = r->len - WAL_ENTRY_HDR_BYTES;
    e->data = e->len ? (uint8_t *)(uintptr_t)(p + WAL_ENTRY_HDR_BYTES) : NULL;
    if (e->index == 0 || e->term == 0) return CC_ECORRUPT;
    if (e->type != RAFT_ENTRY_NORMAL && e->type != RAFT_ENTRY_NOOP && e->type != RAFT_ENTRY_CONF)
        return CC_ECORRUPT;
    return 0;
}

int wal_record_hs(const struct wal_rec *r, struct raft_hard_state *hs)
{
    if (r->type != WAL_REC_HARDSTATE || r->len != HS_PAYLOAD) return CC_ECORRUPT;
    hs->term = get_u64le(r->payload);
    hs->vote = get_u64le(r->payload + 8);
    hs->commit = get_u64le(r->payload + 16);
    return 0;
}

int wal_record_snapshot(const struct wal_rec *r, uint64_t *index, uint64_t *term)
{
    if (r->type != WAL_REC_SNAPSHOT || r->len != SNAP_PAYLOAD) return CC_ECORRUPT;
    *index = get_u64le(r->payload);
    *term = get_u64le(r->payload + 8);
    return *index == 0 || *term == 0 ? CC_ECORRUPT : 0;
}

int wal_record_segment(const struct wal_rec *r, struct wal_seg_hdr *h)
{
    if (r->type != WAL_REC_SEGMENT || r->len != SEGMENT_PAYLOAD) return CC_ECORRUPT;
    const uint8_t *p = r->payload;
    if (get_u64le(p) != WAL_SEGMENT_MAGIC || get_u32le(p + 8) != WAL_FORMAT_VERSION ||
        get_u32le(p + 12) != 0)
        return CC_ECORRUPT;
    h->seq = get_u64le(p + 16);
    h->snap_index = get_u64le(p + 24);
    h->snap_term = get_u64le(p + 32);
    h->hs.term = get_u64le(p + 40);
    h->hs.vote = get_u64le(p + 48);
    h->hs.commit = get_u64le(p + 56);
    h->last_index = get_u64le(p + 64);
    h->last_term = get_u64le(p + 72);
    if (h->last_index < h->snap_index) return CC_ECORRUPT;
    return 0;
}

int wal_record_seal(const struct wal_rec *r, uint64_t *next_seq)
{
    if (r->type != WAL_REC_SEAL || r->len != SEAL_PAYLOAD) return CC_ECORRUPT;
    *next_seq = get_u64le(r->payload);
    return 0;
}
