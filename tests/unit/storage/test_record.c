/* test_record.c — WAL record framing and the segment scanner's classification. */
/* Round trips, zero/short detection, every bit flip caught; clean ends, torn tails and damage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "storage/fs_util.h"
#include "storage/record.h"
#include "storage/wal_internal.h"
#include "util/err.h"

static void test_roundtrip_every_type(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    uint8_t data[13] = "hello, world";
    struct raft_entry e = {.index = 7, .term = 3, .type = RAFT_ENTRY_CONF, .len = 13, .data = data};
    struct raft_hard_state hs = {.term = 5, .vote = 0xabcdef0123456789ull, .commit = 6};
    struct wal_seg_hdr h = {
        .seq = 9, .snap_index = 4, .snap_term = 2, .hs = hs, .last_index = 10, .last_term = 3};
    assert_int_equal(wal_record_put_segment(&b, 41, &h), 0);
    assert_int_equal(wal_record_put_entry(&b, 0, 42, &e), 0);
    assert_int_equal(wal_record_put_hs(&b, 0, 42, &hs), 0);
    assert_int_equal(wal_record_put_snapshot(&b, WAL_REC_LAST, 42, 100, 4), 0);
    assert_int_equal(wal_record_put_seal(&b, 42, 10), 0);
    assert_int_equal(b.len % WAL_REC_ALIGN, 0);

    struct wal_rec r;
    size_t off = 0;
    struct wal_seg_hdr h2;
    assert_int_equal(wal_record_decode(b.data, b.len, &r), WAL_DEC_OK);
    assert_int_equal(r.bseq, 41);
    assert_int_equal(wal_record_segment(&r, &h2), 0);
    assert_memory_equal(&h, &h2, sizeof(h));
    off += r.total;

    struct raft_entry e2;
    assert_int_equal(wal_record_decode(b.data + off, b.len - off, &r), WAL_DEC_OK);
    assert_int_equal(wal_record_entry(&r, &e2), 0);
    assert_int_equal(e2.index, 7);
    assert_int_equal(e2.term, 3);
    assert_int_equal(e2.type, RAFT_ENTRY_CONF);
    assert_int_equal(e2.len, 13);
    assert_memory_equal(e2.data, data, 13);
    assert_int_equal(r.flags, 0);
    assert_int_equal(wal_record_hs(&r, &hs), CC_ECORRUPT); /* wrong type */
    off += r.total;

    struct raft_hard_state hs2;
    assert_int_equal(wal_record_decode(b.data + off, b.len - off, &r), WAL_DEC_OK);
    assert_int_equal(wal_record_hs(&r, &hs2), 0);
    assert_memory_equal(&hs, &hs2, sizeof(hs));
    off += r.total;

    uint64_t i, t;
    assert_int_equal(wal_record_decode(b.data + off, b.len - off, &r), WAL_DEC_OK);
    assert_int_equal(wal_record_snapshot(&r, &i, &t), 0);
    assert_int_equal(i, 100);
    assert_int_equal(t, 4);
    assert_int_equal(r.flags, WAL_REC_LAST);
    off += r.total;

    uint64_t next;
    assert_int_equal(wal_record_decode(b.data + off, b.len - off, &r), WAL_DEC_OK);
    assert_int_equal(wal_record_seal(&r, &next), 0);
    assert_int_equal(next, 10);
    off += r.total;
    assert_int_equal(off, b.len);

    /* An empty entry round-trips with data NULL. */
    buf_reset(&b);
    struct raft_entry empty = {.index = 1, .term = 1, .type = RAFT_ENTRY_NOOP};
    assert_int_equal(wal_record_put_entry(&b, WAL_REC_LAST, 1, &empty), 0);
    assert_int_equal(wal_record_decode(b.data, b.len, &r), WAL_DEC_OK);
    assert_int_equal(wal_record_entry(&r, &e2), 0);
    assert_null(e2.data);
    assert_int_equal(e2.len, 0);
    buf_free(&b);
}

static void test_zero_and_short(void **state)
{
    (void)state;
    uint8_t z[64] = {0};
    struct wal_rec r;
    assert_int_equal(wal_record_decode(z, sizeof(z), &r), WAL_DEC_ZERO);
    assert_int_equal(wal_record_decode(z, 5, &r), WAL_DEC_ZERO);
    struct buf b;
    buf_init(&b, 4096);
    uint8_t data[100];
    memset(data, 0x5a, sizeof(data));
    struct raft_entry e = {.index = 1, .term = 1, .type = 1, .len = 100, .data = data};
    assert_int_equal(wal_record_put_entry(&b, WAL_REC_LAST, 1, &e), 0);
    /* Every prefix is "short" (or zero for an empty prefix), never OK. */
    for (size_t n = 1; n < b.len; n++) {
        int dec = wal_record_decode(b.data, n, &r);
        assert_true(dec == WAL_DEC_SHORT);
    }
    assert_int_equal(wal_record_decode(b.data, b.len, &r), WAL_DEC_OK);
    buf_free(&b);
}

static void test_every_bit_flip_detected(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    uint8_t data[37];
    for (int i = 0; i < 37; i++) data[i] = (uint8_t)(i * 11);
    struct raft_entry e = {.index = 99, .term = 7, .type = 1, .len = 37, .data = data};
    assert_int_equal(wal_record_put_entry(&b, WAL_REC_LAST, 5, &e), 0);
    struct wal_rec r;
    for (size_t byte = 0; byte < b.len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            b.data[byte] ^= (uint8_t)(1u << bit);
            int dec = wal_record_decode(b.data, b.len, &r);
            /* A flip in the length field may make the record look longer than the buffer. */
            assert_true(dec == WAL_DEC_BAD_HEADER || dec == WAL_DEC_BAD_CRC ||
                        dec == WAL_DEC_BAD_PAD || dec == WAL_DEC_SHORT);
            b.data[byte] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(wal_record_decode(b.data, b.len, &r), WAL_DEC_OK);
    buf_free(&b);
}

/* ---- The scanner, on hand-built segments ---------------------------------------------------- */

struct counter {
    int batches;
    int records;
};

static int count_batch(void *arg, const struct wal_rec *recs, const uint64_t *offs, size_t n,
                       char *why, size_t whylen)
{
    struct counter *c = arg;
    c->batches++;
    c->records += (int)n;
    return 0;
}

/* A segment: header, then `batches` batches of 3 entries each, then zero padding to cap. */
static size_t build_segment(uint8_t *out, size_t cap, int batches, size_t *batch_start)
{
    struct buf b;
    buf_init(&b, cap);
    struct wal_seg_hdr h = {0};
    assert_int_equal(wal_record_put_segment(&b, 0, &h), 0);
    uint8_t data[40];
    memset(data, 0x77, sizeof(data));
    uint64_t index = 1;
    for (int k = 0; k < batches; k++) {
        if (batch_start) batch_start[k] = b.len;
        for (int j = 0; j < 3; j++, index++) {
            struct raft_entry e = {.index = index, .term = 1, .type = 1, .len = 40, .data = data};
            assert_int_equal(
                wal_record_put_entry(&b, j == 2 ? WAL_REC_LAST : 0, (uint64_t)k + 1, &e), 0);
        }
    }
    size_t used = b.len;
    memset(out, 0, cap);
    memcpy(out, b.data, used);
    buf_free(&b);
    return used;
}

static int scan(const uint8_t *d, size_t len, bool last, struct wal_scan *s, struct counter *c)
{
    memset(s, 0, sizeof(*s));
    memset(c, 0, sizeof(*c));
    s->is_last = last;
    s->bseq = WAL_BSEQ_UNKNOWN;
    s->max_batch_records = 1000;
    struct wal_scan_hooks hooks = {.arg = c, .batch = count_batch};
    return wal__scan_segment(d, len, s, &hooks);
}

static void test_scan_clean_torn_corrupt(void **state)
{
    (void)state;
    enum { CAP = 8192 };
    uint8_t *seg = malloc(CAP), *copy = malloc(CAP);
    size_t starts[4];
    size_t used = build_segment(seg, CAP, 4, starts);
    struct wal_scan s;
    struct counter c;

    assert_int_equal(scan(seg, CAP, true, &s, &c), WAL_SCAN_CLEAN);
    assert_int_equal(c.batches, 4);
    assert_int_equal(s.end, used);
    assert_int_equal(s.bseq, 4);

    /* Every cut point inside the last batch (the rest zeroed) is a torn tail ending at the
     * third batch; as a shorter file too. */
    for (size_t cut = starts[3]; cut < used; cut++) {
        memcpy(copy, seg, CAP);
        memset(copy + cut, 0, CAP - cut);
        /* Cutting inside the last record's zero padding changes nothing. */
        bool unchanged = storage__all_zero(seg + cut, used - cut);
        int want = cut == starts[3] ? WAL_SCAN_CLEAN : unchanged ? WAL_SCAN_CLEAN : WAL_SCAN_TORN;
        assert_int_equal(scan(copy, CAP, true, &s, &c), want);
        assert_int_equal(c.batches, unchanged && cut > starts[3] ? 4 : 3);
        assert_int_equal(s.end, unchanged && cut > starts[3] ? used : starts[3]);
        if (want == WAL_SCAN_TORN) assert_true(s.cut_end >= cut - (cut % 8) && s.cut_end <= used);
        /* As a file that simply ends at the cut, the last record is always incomplete. */
        assert_int_equal(scan(copy, cut, true, &s, &c),
                         cut == starts[3] ? WAL_SCAN_CLEAN : WAL_SCAN_TORN);
        assert_int_equal(c.batches, 3);
        /* In a segment that is not the newest, the same bytes are damage. */
        assert_int_equal(scan(copy, CAP, false, &s, &c),
                         want == WAL_SCAN_CLEAN ? WAL_SCAN_CLEAN : WAL_SCAN_CORRUPT);
    }

    /* A flipped bit in batch 2 while batch 3 and 4 are intact: corruption, not a tail. */
    for (size_t p = starts[1]; p < starts[2]; p += 7) {
        memcpy(copy, seg, CAP);
        copy[p] ^= 0x10;
        assert_int_equal(scan(copy, CAP, true, &s, &c), WAL_SCAN_CORRUPT);
        size_t rec = wal_record_size(40 + WAL_ENTRY_HDR_BYTES);
        assert_int_equal(s.bad_off, starts[1] + (p - starts[1]) / rec * rec);
    }

    /* Damage inside the last batch with its later records intact and no unwritten sector:
     * not a torn write. */
    memcpy(copy, seg, CAP);
    copy[starts[3] + 30] ^= 1;
    assert_int_equal(scan(copy, CAP, true, &s, &c), WAL_SCAN_CORRUPT);
    /* The same batch missing a whole sector (zeroed) with later records present: torn. */
    {
        uint8_t *big = malloc(1 << 16), *bcopy = malloc(1 << 16);
        struct buf b;
        buf_init(&b, 1 << 16);
        struct wal_seg_hdr h = {0};
        assert_int_equal(wal_record_put_segment(&b, 0, &h), 0);
        uint8_t data[100];
        memset(data, 0x33, sizeof(data));
        size_t batch2 = 0;
        for (int k = 0; k < 2; k++) {
            if (k == 1) batch2 = b.len;
            for (int j = 0; j < 30; j++) {
                struct raft_entry e = {.index = (uint64_t)k * 30 + j + 1,
                                       .term = 1,
                                       .type = 1,
                                       .len = 100,
                                       .data = data};
                assert_int_equal(
                    wal_record_put_entry(&b, j == 29 ? WAL_REC_LAST : 0, (uint64_t)k + 1, &e), 0);
            }
        }
        memset(big, 0, 1 << 16);
        memcpy(big, b.data, b.len);
        memcpy(bcopy, big, 1 << 16);
        size_t sector = (batch2 + 1024) & ~(size_t)511;
        memset(bcopy + sector, 0, 512);
        assert_int_equal(scan(bcopy, 1 << 16, true, &s, &c), WAL_SCAN_TORN);
        assert_int_equal(c.batches, 1);
        assert_int_equal(s.end, batch2);
        assert_int_equal(s.cut_end, b.len);
        buf_free(&b);
        free(big);
        free(bcopy);
    }

    /* A zeroed header followed by a record of a later batch: damage. */
    memcpy(copy, seg, CAP);
    memset(copy + starts[2], 0, starts[3] - starts[2]);
    assert_int_equal(scan(copy, CAP, true, &s, &c), WAL_SCAN_CORRUPT);

    /* Garbage after the clean end. */
    memcpy(copy, seg, CAP);
    copy[CAP - 3] = 1;
    assert_int_equal(scan(copy, CAP, false, &s, &c), WAL_SCAN_CORRUPT);
    assert_int_equal(scan(copy, CAP, true, &s, &c), WAL_SCAN_TORN);
    assert_int_equal(s.end, used);
    assert_int_equal(s.cut_end, CAP);

    /* A bad segment header is always corruption. */
    memcpy(copy, seg, CAP);
    copy[40] ^= 1;
    assert_int_equal(scan(copy, CAP, true, &s, &c), WAL_SCAN_CORRUPT);
    assert_int_equal(s.bad_off, 0);
    free(seg);
    free(copy);
}

static void test_scan_batch_atomic(void **state)
{
    (void)state;
    /* A batch whose LAST record never arrived is not replayed, even though its records are
     * individually intact. */
    enum { CAP = 4096 };
    uint8_t *seg = malloc(CAP);
    size_t starts[2];
    size_t used = build_segment(seg, CAP, 2, starts);
    size_t last_rec = used - wal_record_size(40 + WAL_ENTRY_HDR_BYTES);
    memset(seg + last_rec, 0, used - last_rec);
    struct wal_scan s;
    struct counter c;
    assert_int_equal(scan(seg, CAP, true, &s, &c), WAL_SCAN_TORN);
    assert_int_equal(c.batches, 1);
    assert_int_equal(s.torn_records, 2);
    assert_int_equal(s.end, starts[1]);
    free(seg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_zero_and_short),
        cmocka_unit_test(test_every_bit_flip_detected),
        cmocka_unit_test(test_scan_clean_torn_corrupt),
        cmocka_unit_test(test_scan_batch_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
