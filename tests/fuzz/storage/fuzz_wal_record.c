/* fuzz_wal_record.c — libFuzzer target for the WAL record decoder and segment scanner. */
/* The decoder on arbitrary bytes; the scanner with recovery's replay rules on raw and on
 * structurally valid segments. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/record.h"
#include "storage/wal_internal.h"
#include "util/err.h"

/* Replays complete batches the way recovery does: build the batch, check, reserve, apply. The
 * asserts inside wal__log_apply catch any disagreement between check and apply. */
static int replay(void *arg, const struct wal_rec *recs, const uint64_t *offs, size_t n, char *why,
                  size_t whylen)
{
    struct wal_log *lg = arg;
    struct raft_entry *ents = calloc(n, sizeof(*ents));
    uint32_t *eo = calloc(n, sizeof(*eo));
    struct wal_batch b = {.entries = ents};
    struct raft_hard_state hs;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        switch (recs[i].type) {
        case WAL_REC_SNAPSHOT:
            rc = i ? -1 : wal_record_snapshot(&recs[i], &b.snap_index, &b.snap_term);
            b.has_snap = true;
            break;
        case WAL_REC_ENTRY:
            rc = b.hs ? -1 : wal_record_entry(&recs[i], &ents[b.n_entries]);
            eo[b.n_entries++] = (uint32_t)offs[i];
            break;
        case WAL_REC_HARDSTATE:
            rc = b.hs ? -1 : wal_record_hs(&recs[i], &hs);
            b.hs = &hs;
            break;
        default:
            rc = -1;
        }
    }
    if (rc == 0) rc = wal__log_check(lg, &b, RAFT_MAX_ENTRY_BYTES_LIMIT, why, whylen);
    if (rc == 0) rc = wal__log_reserve(lg, &b);
    if (rc == 0) wal__log_apply(lg, &b, 0, eo);
    free(ents);
    free(eo);
    return rc;
}

static int header(void *arg, const struct wal_seg_hdr *h, char *why, size_t whylen)
{
    struct wal_log *lg = arg;
    lg->snap_index = h->snap_index;
    lg->snap_term = h->snap_term;
    lg->hole_end = h->last_index;
    lg->hole_term = h->last_index == h->snap_index ? h->snap_term : h->last_term;
    lg->hs = h->hs;
    return 0;
}

static void scan(const uint8_t *d, size_t len, bool last)
{
    struct wal_log lg;
    wal__log_init(&lg, 1u << 16);
    struct wal_scan s = {.is_last = last,
                         .allow_unsealed = !last,
                         .bseq = WAL_BSEQ_UNKNOWN,
                         .max_batch_records = 4096};
    struct wal_scan_hooks hooks = {.arg = &lg, .header = header, .batch = replay};
    int st = wal__scan_segment(d, len, &s, &hooks);
    if (st == WAL_SCAN_TORN && (s.cut_end > len || s.end > s.cut_end)) abort();
    if (st >= 0 && s.end > len) abort();
    uint64_t t;
    wal__log_term(&lg, wal__log_last(&lg), &t);
    wal__log_free(&lg);
}

/* Builds a segment of well-formed records from the input's bytes (so the fuzzer reaches the
 * replay rules without having to find CRCs), then damages it as the last bytes say. */
static void structured(const uint8_t *d, size_t len)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    struct wal_seg_hdr h = {
        .snap_index = d[0] & 3, .snap_term = d[0] & 3 ? 1 : 0, .last_index = (d[0] >> 2) & 7};
    if (h.last_index < h.snap_index) h.last_index = h.snap_index;
    h.last_term = h.last_index ? 1 : 0;
    wal_record_put_segment(&b, 0, &h);
    uint64_t bseq = 1;
    size_t p = 1;
    while (p + 4 <= len && b.len < (1 << 19)) {
        uint8_t type = (uint8_t)(d[p] % 5 + 1), flags = d[p + 1] & 1, step = d[p + 2] & 1;
        uint8_t plen = d[p + 3];
        p += 4;
        if (plen > len - p) plen = (uint8_t)(len - p);
        uint8_t payload[WAL_ENTRY_HDR_BYTES + 256] = {0};
        /* Small numbers make index/term rules interesting. */
        for (int k = 0; k < 3 && p + k < len; k++) payload[8 * k] = d[p + k] & 15;
        memcpy(payload + WAL_ENTRY_HDR_BYTES, d + p, plen);
        p += plen;
        size_t n = type == WAL_REC_ENTRY       ? WAL_ENTRY_HDR_BYTES + plen
                   : type == WAL_REC_SEGMENT   ? 80
                   : type == WAL_REC_HARDSTATE ? 24
                   : type == WAL_REC_SNAPSHOT  ? 16
                                               : 8;
        if (type == WAL_REC_ENTRY) payload[16] = (uint8_t)(plen % 4);
        wal_record_put(&b, type, flags, bseq, payload, n, NULL, 0);
        if (flags || step) bseq++;
    }
    size_t total = b.len + 1024;
    uint8_t *seg = calloc(1, total);
    memcpy(seg, b.data, b.len);
    if (len >= 3) {
        size_t at = ((size_t)d[len - 1] << 8 | d[len - 2]) % total;
        if (d[len - 3] & 1)
            memset(seg + at, 0, (total - at) > 512 ? 512 : total - at);
        else
            seg[at] ^= (uint8_t)(1u << (d[len - 3] >> 5));
    }
    scan(seg, total, true);
    scan(seg, total, false);
    free(seg);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t off = 0; off < size; off += WAL_REC_ALIGN) {
        struct wal_rec r;
        if (wal_record_decode(data + off, size - off, &r) != WAL_DEC_OK) continue;
        if (r.total > size - off) abort();
        struct raft_entry e;
        struct raft_hard_state hs;
        struct wal_seg_hdr h;
        uint64_t a, c;
        wal_record_entry(&r, &e);
        wal_record_hs(&r, &hs);
        wal_record_segment(&r, &h);
        wal_record_snapshot(&r, &a, &c);
        wal_record_seal(&r, &a);
    }
    scan(data, size, true);
    if (size > 0) structured(data, size);
    return 0;
}
