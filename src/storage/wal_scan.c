/* wal_scan.c — scans one segment's bytes and classifies what follows the last batch. */
/* Complete batches are replayed through hooks; what follows the last one is a clean end, a torn
 * tail or corruption (the recovery policy in wal.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/fs_util.h"
#include "storage/wal_internal.h"
#include "util/err.h"

/* A torn write leaves whole sectors unwritten; on preallocated space they read as zeroes. */
#define SECTOR 512u

struct pending {
    struct wal_rec *recs;
    uint64_t *offs;
    size_t n, cap, max;
};

static int pending_push(struct pending *p, const struct wal_rec *r, uint64_t off)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        if (cap > p->max) cap = p->max;
        if (cap <= p->n) return CC_ETOOBIG;
        struct wal_rec *recs = realloc(p->recs, cap * sizeof(*recs));
        if (!recs) return CC_ENOMEM;
        p->recs = recs;
        uint64_t *offs = realloc(p->offs, cap * sizeof(*offs));
        if (!offs) return CC_ENOMEM;
        p->offs = offs;
        p->cap = cap;
    }
    p->recs[p->n] = *r;
    p->offs[p->n++] = off;
    return 0;
}

static int set_status(struct wal_scan *s, int status, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_status(struct wal_scan *s, int status, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
    s->status = status;
    s->bad_off = off;
    return status;
}

/* A replay hook refused what it was given; it wrote its reason into s->why already. */
static int hook_failed(struct wal_scan *s, uint64_t off)
{
    s->status = WAL_SCAN_CORRUPT;
    s->bad_off = off;
    return WAL_SCAN_CORRUPT;
}

/* Offset just past the last non-zero byte in [from, len), rounded up to the record alignment
 * (never past len); from when everything there is zero. */
static size_t nonzero_end(const uint8_t *data, size_t from, size_t len)
{
    size_t e = len;
    while (e > from) {
        size_t chunk = e - from > 4096 ? 4096 : e - from;
        if (!storage__all_zero(data + e - chunk, chunk)) {
            while (data[e - 1] == 0) e--;
            size_t a = (e + WAL_REC_ALIGN - 1) & ~(size_t)(WAL_REC_ALIGN - 1);
            return a < len ? a : len;
        }
        e -= chunk;
    }
    return from;
}

/* Whether some aligned sector overlapping [from, to) reads as zero everywhere at or after base
 * (where the in-flight batch began): the trace a sector the torn write never reached leaves on
 * preallocated space (its part before base holds older data). A flipped bit leaves none. */
static bool unwritten_sector_in(const uint8_t *data, size_t len, size_t base, size_t from,
                                size_t to)
{
    for (size_t b = from & ~(size_t)(SECTOR - 1); b < to && b < len; b += SECTOR) {
        size_t lo = b < base ? base : b;
        size_t hi = b + SECTOR < len ? b + SECTOR : len;
        if (lo < hi && storage__all_zero(data + lo, hi - lo)) return true;
    }
    return false;
}

/* The newest segment stopped being a sequence of complete batches at q. Decide whether what
 * lies after the last complete batch (s->end) is the torn write of batch want, or damage. */
static int classify_tail(const uint8_t *data, size_t len, struct wal_scan *s, size_t q,
                         const char *what, uint64_t want, size_t n_pending)
{
    size_t nz = nonzero_end(data, s->end, len);
    size_t last_valid = 0;
    bool found = false;
    for (size_t p = q; p + WAL_REC_HDR_BYTES <= nz;) {
        struct wal_rec r;
        if (wal_record_decode(data + p, len - p, &r) != WAL_DEC_OK) {
            p += WAL_REC_ALIGN;
            continue;
        }
        if (r.bseq != want || r.type == WAL_REC_SEGMENT || r.type == WAL_REC_SEAL)
            return set_status(s, WAL_SCAN_CORRUPT, q,
                              "%s at offset %zu, yet an intact record of batch %llu follows at "
                              "offset %zu: damage before the tail",
                              what, q, (unsigned long long)r.bseq, p);
        found = true;
        last_valid = p;
        p += r.total;
    }
    if (found && !unwritten_sector_in(data, len, s->end, q, last_valid))
        return set_status(s, WAL_SCAN_CORRUPT, q,
                          "%s at offset %zu inside batch %llu, whose later records at offset %zu "
                          "are intact with no unwritten sector between: not a torn write",
                          what, q, (unsigned long long)want, last_valid);
    s->cut_end = nz > s->end ? nz : s->end;
    s->torn_records = n_pending;
    return set_status(s, WAL_SCAN_TORN, q, "%s at offset %zu: batch %llu is incomplete", what, q,
                      (unsigned long long)want);
}

int wal__scan_segment(const uint8_t *data, size_t len, struct wal_scan *s,
                      const struct wal_scan_hooks *hooks)
{
    s->status = WAL_SCAN_CLEAN;
    s->end = s->bad_off = s->cut_end = s->torn_records = s->n_batches = s->seal_next = 0;
    s->why[0] = '\0';
    memset(&s->hdr, 0, sizeof(s->hdr));

    struct wal_rec r;
    int dec = wal_record_decode(data, len, &r);
    if (dec != WAL_DEC_OK)
        return set_status(s, WAL_SCAN_CORRUPT, 0, "segment header: %s", wal_record_dec_name(dec));
    if (r.type != WAL_REC_SEGMENT || wal_record_segment(&r, &s->hdr) != 0)
        return set_status(s, WAL_SCAN_CORRUPT, 0, "no valid segment header");
    if (s->bseq != WAL_BSEQ_UNKNOWN && r.bseq != s->bseq)
        return set_status(s, WAL_SCAN_CORRUPT, 0,
                          "segment header follows batch %llu, the previous segment ends at %llu",
                          (unsigned long long)r.bseq, (unsigned long long)s->bseq);
    if (hooks->header && hooks->header(hooks->arg, &s->hdr, s->why, sizeof(s->why)) != 0)
        return hook_failed(s, 0);

    uint64_t cur = r.bseq;
    size_t pos = r.total;
    s->end = pos;
    struct pending pd = {.max = s->max_batch_records ? s->max_batch_records : 1};
    bool sealed = false;
    const char *what = NULL;
    int ret = 0;
    while (pos < len) {
        dec = wal_record_decode(data + pos, len - pos, &r);
        if (dec == WAL_DEC_ZERO) {
            if (storage__all_zero(data + pos, len - pos)) break;
            what = "zeroed record header followed by data";
            break;
        }
        if (dec != WAL_DEC_OK) {
            what = wal_record_dec_name(dec);
            break;
        }
        if (sealed || r.type == WAL_REC_SEGMENT) {
            what = sealed ? "record after the seal" : "segment header inside the segment";
            break;
        }
        if (r.type == WAL_REC_SEAL) {
            if (pd.n > 0 || r.bseq != cur || wal_record_seal(&r, &s->seal_next) != 0) {
                what = "misplaced seal record";
                break;
            }
            sealed = true;
            pos += r.total;
            s->end = pos;
            continue;
        }
        if (r.bseq != cur + 1) {
            what = "record out of batch sequence";
            break;
        }
        int rc = pending_push(&pd, &r, pos);
        if (rc == CC_ENOMEM) {
            ret = CC_ENOMEM;
            goto out;
        }
        if (rc) {
            what = "batch with too many records";
            break;
        }
        pos += r.total;
        if (r.flags & WAL_REC_LAST) {
            if (hooks->batch(hooks->arg, pd.recs, pd.offs, pd.n, s->why, sizeof(s->why)) != 0) {
                ret = hook_failed(s, pd.offs[0]);
                goto out;
            }
            cur++;
            pd.n = 0;
            s->end = pos;
            s->n_batches++;
        }
    }
    s->bseq = cur;
    if (!what && pd.n == 0) {
        ret = s->status = sealed ? WAL_SCAN_SEALED : WAL_SCAN_CLEAN;
        goto out;
    }
    if (!what) what = "incomplete batch";
    if (!s->is_last) {
        /* Rolling writes the successor first, then the seal: a crash can tear the 32-byte seal
         * of the segment just before the newest one. Junk confined there is not data. */
        size_t seal_end = s->end + wal_record_size(8);
        if (seal_end > len) seal_end = len;
        if (s->allow_unsealed && !sealed && pd.n == 0 && pos == s->end &&
            storage__all_zero(data + seal_end, len - seal_end)) {
            s->cut_end = seal_end;
            ret = s->status = WAL_SCAN_CLEAN;
            goto out;
        }
        ret = set_status(s, WAL_SCAN_CORRUPT, pos,
                         "%s at offset %zu in a segment that is not the "
                         "newest",
                         what, pos);
        goto out;
    }
    ret = classify_tail(data, len, s, pos, what, cur + 1, pd.n);
out:
    free(pd.recs);
    free(pd.offs);
    return ret;
}
