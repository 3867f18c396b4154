/* test_codec.c — unit tests for the peer wire format: round trips, rejections, URL parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "msggen.h"
#include "transport/codec.h"
#include "transport/transport.h"
#include "util/buf.h"
#include "util/err.h"

static uint8_t *encode(const struct raft_msg *m, size_t *len)
{
    size_t n = 0;
    assert_int_equal(transport_frame_msg_size(m, &n), 0);
    uint8_t *f = malloc(n);
    assert_non_null(f);
    assert_int_equal(transport_frame_encode_msg(m, f), n);
    *len = n;
    return f;
}

/* Decodes p[0..len) and releases what it got; returns the decoder's code. */
static int decode_rc(const uint8_t *p, size_t len, uint32_t max_body)
{
    struct transport_frame f;
    int rc = transport_frame_decode(p, len, max_body, &f);
    if (rc == 0 && f.kind == TRANSPORT_FRAME_MSG) transport_msg_free(&f.msg);
    return rc;
}

static void roundtrip(const struct raft_msg *m)
{
    size_t len;
    uint8_t *frame = encode(m, &len);
    struct transport_frame f;
    assert_int_equal(transport_frame_decode(frame, len, TRANSPORT_MAX_FRAME_LIMIT, &f), 0);
    assert_int_equal(f.kind, TRANSPORT_FRAME_MSG);
    assert_true(msg_same(m, &f.msg));
    transport_msg_free(&f.msg);
    assert_int_equal(f.msg.n_entries, 0);
    free(frame);
}

static void test_roundtrip_every_type(void **state)
{
    (void)state;
    bool seen[RAFT_MSG_TYPE_MAX_ + 1] = {false};
    /* Six rounds over the fifteen types: entry counts 0..5, every entry type, empty entries,
     * 1 MiB and small snapshot chunks, configurations of every size. */
    for (uint64_t seq = 0; seq < 6 * RAFT_MSG_TYPE_MAX_; seq++) {
        struct raft_msg m;
        gen_msg(&m, seq, 0x1111222233334444ull, 0xfedcba9876543210ull);
        seen[m.type] = true;
        roundtrip(&m);
        gen_free(&m);
    }
    for (int t = 1; t <= RAFT_MSG_TYPE_MAX_; t++) assert_true(seen[t]);
}

static void test_roundtrip_extremes(void **state)
{
    (void)state;
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_SNAPSHOT;
    m.from = m.to = m.term = m.log_term = m.index = m.commit = m.ctx = UINT64_MAX;
    m.hint_index = m.hint_term = m.snap.index = m.snap.term = m.snap_size = UINT64_MAX;
    m.offset = UINT64_MAX;
    m.reject = m.done = true;
    struct raft_config *c = &m.snap.config;
    c->n_voters = c->n_voters_out = c->n_learners = RAFT_MAX_NODES;
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        c->voters[i] = c->voters_out[i] = c->learners[i] = UINT64_MAX - (uint64_t)i;
    /* The most entries a message may carry, all empty, plus a chunk. */
    m.n_entries = RAFT_MAX_MSG_ENTRIES_LIMIT;
    m.entries = calloc(m.n_entries, sizeof(*m.entries));
    for (uint32_t i = 0; i < m.n_entries; i++) {
        m.entries[i].type = RAFT_ENTRY_NOOP;
        m.entries[i].index = i;
        m.entries[i].term = UINT64_MAX;
    }
    m.len = 4096;
    m.data = malloc(m.len);
    memset(m.data, 0xab, m.len);
    roundtrip(&m);

    /* And the smallest: every field zero. */
    struct raft_msg z;
    memset(&z, 0, sizeof(z));
    z.type = RAFT_MSG_HEARTBEAT;
    roundtrip(&z);
    gen_free(&m);
}

static void test_encoder_refuses_what_decoders_would(void **state)
{
    (void)state;
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    size_t n;
    m.type = 0;
    assert_int_equal(transport_frame_msg_size(&m, &n), CC_EINVAL);
    m.type = RAFT_MSG_TYPE_MAX_ + 1;
    assert_int_equal(transport_frame_msg_size(&m, &n), CC_EINVAL);
    m.type = RAFT_MSG_APPEND;
    struct raft_entry e = {.type = 9};
    m.n_entries = 1;
    m.entries = &e;
    assert_int_equal(transport_frame_msg_size(&m, &n), CC_EINVAL);
    e.type = RAFT_ENTRY_NORMAL;
    e.len = RAFT_MAX_ENTRY_BYTES_LIMIT + 1;
    e.data = (uint8_t *)"x"; /* never read: the size check comes first */
    assert_int_equal(transport_frame_msg_size(&m, &n), CC_ETOOBIG);
    e.len = 0;
    e.data = NULL;
    m.n_entries = RAFT_MAX_MSG_ENTRIES_LIMIT + 1;
    assert_int_equal(transport_frame_msg_size(&m, &n), CC_ETOOBIG);
    m.n_entries = 0;
    m.entries = NULL;
    m.len = RAFT_MAX_SNAP_CHUNK_LIMIT + 1;
    m.data = (uint8_t *)"x";
    assert_int_equal(transport_frame_msg_size(&m, &n), CC_ETOOBIG);
}

/* A small frame with entries and data, for the damage tests. */
static uint8_t *sample_frame(size_t *len)
{
    struct raft_msg m;
    gen_msg(&m, 4 * RAFT_MSG_TYPE_MAX_, 5, 6); /* an APPEND with four entries */
    assert_int_equal(m.type, RAFT_MSG_APPEND);
    uint8_t *f = encode(&m, len);
    gen_free(&m);
    return f;
}

static void test_truncated_frames_rejected(void **state)
{
    (void)state;
    size_t len;
    uint8_t *f = sample_frame(&len);
    for (size_t k = 0; k < len; k++) assert_int_not_equal(decode_rc(f, k, UINT32_MAX), 0);
    /* Truncated bodies under a valid header and CRC: only the body's structure can tell. */
    size_t body = len - TRANSPORT_FRAME_HEADER_BYTES;
    uint8_t *g = malloc(len);
    for (size_t k = 0; k < body; k++) {
        memcpy(g, f, TRANSPORT_FRAME_HEADER_BYTES + k);
        transport_frame_seal(g, TRANSPORT_FRAME_MSG, (uint32_t)k);
        assert_int_equal(decode_rc(g, TRANSPORT_FRAME_HEADER_BYTES + k, UINT32_MAX), CC_ECORRUPT);
    }
    free(g);
    free(f);
}

static void test_corrupt_frames_rejected(void **state)
{
    (void)state;
    size_t len;
    uint8_t *f = sample_frame(&len);
    assert_int_equal(decode_rc(f, len, UINT32_MAX), 0);
    /* Every single-bit flip anywhere is caught (CRC-32C detects all of them). */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            f[i] ^= (uint8_t)(1u << bit);
            assert_int_not_equal(decode_rc(f, len, UINT32_MAX), 0);
            f[i] ^= (uint8_t)(1u << bit);
        }
    }
    free(f);
}

static void test_header_checks(void **state)
{
    (void)state;
    size_t len;
    uint8_t *f = sample_frame(&len);
    struct transport_frame_hdr h;
    uint32_t body = (uint32_t)(len - TRANSPORT_FRAME_HEADER_BYTES);
    assert_int_equal(transport_frame_parse_header(f, body, &h), 0);
    assert_int_equal(h.body_len, body);
    assert_int_equal(h.kind, TRANSPORT_FRAME_MSG);
    /* Over the receiver's cap: refused from the header alone, before any body is buffered. */
    assert_int_equal(transport_frame_parse_header(f, body - 1, &h), CC_ETOOBIG);
    assert_int_equal(decode_rc(f, len, body - 1), CC_ETOOBIG);
    put_u32le(f + 4, TRANSPORT_MAX_FRAME_LIMIT + 1);
    assert_int_equal(transport_frame_parse_header(f, UINT32_MAX, &h), CC_ETOOBIG);
    put_u32le(f + 4, body);
    f[2] = 2; /* a future version: refused, but named */
    assert_int_equal(transport_frame_parse_header(f, UINT32_MAX, &h), CC_EPROTO);
    assert_int_equal(h.version, 2);
    f[2] = TRANSPORT_PROTO_VERSION;
    f[3] = TRANSPORT_FRAME_KIND_MAX_ + 1;
    assert_int_equal(transport_frame_parse_header(f, UINT32_MAX, &h), CC_EPROTO);
    f[3] = TRANSPORT_FRAME_MSG;
    memcpy(f, "GET / HTTP/1.1", 12); /* not a peer at all */
    assert_int_equal(transport_frame_parse_header(f, UINT32_MAX, &h), CC_EPROTO);
    assert_int_equal(h.version, 0);
    free(f);
}

/* --- hand-built bodies: each limit and structural rule on its own ------------------------- */

static void body_head(struct buf *b, uint8_t type, uint8_t flags, uint8_t n_voters)
{
    buf_init(b, 1u << 20);
    buf_put_u8(b, type);
    buf_put_u8(b, flags);
    for (int i = 0; i < 9; i++) buf_put_uvarint(b, 1); /* from .. hint_term */
    buf_put_uvarint(b, 0);                             /* snap.index */
    buf_put_uvarint(b, 0);                             /* snap.term */
    buf_put_u8(b, n_voters);
    buf_put_u8(b, 0);
    buf_put_u8(b, 0);
    for (int i = 0; i < n_voters; i++) buf_put_uvarint(b, 7);
    buf_put_uvarint(b, 0); /* snap_size */
    buf_put_uvarint(b, 0); /* offset */
}

static int decode_body(struct buf *b)
{
    uint8_t *f = malloc(TRANSPORT_FRAME_HEADER_BYTES + b->len);
    memcpy(f + TRANSPORT_FRAME_HEADER_BYTES, b->data, b->len);
    transport_frame_seal(f, TRANSPORT_FRAME_MSG, (uint32_t)b->len);
    int rc = decode_rc(f, TRANSPORT_FRAME_HEADER_BYTES + b->len, TRANSPORT_MAX_FRAME_LIMIT);
    free(f);
    buf_free(b);
    return rc;
}

static void test_body_limits(void **state)
{
    (void)state;
    struct buf b;
    /* The minimal valid body. */
    body_head(&b, RAFT_MSG_HEARTBEAT, 0, 0);
    buf_put_uvarint(&b, 0);
    buf_put_uvarint(&b, 0);
    assert_int_equal(decode_body(&b), 0);

    body_head(&b, 0, 0, 0); /* type 0 */
    buf_put_uvarint(&b, 0);
    buf_put_uvarint(&b, 0);
    assert_int_equal(decode_body(&b), CC_ECORRUPT);
    body_head(&b, RAFT_MSG_TYPE_MAX_ + 1, 0, 0);
    buf_put_uvarint(&b, 0);
    buf_put_uvarint(&b, 0);
    assert_int_equal(decode_body(&b), CC_ECORRUPT);
    body_head(&b, RAFT_MSG_APPEND, 0x04, 0); /* unknown flag */
    buf_put_uvarint(&b, 0);
    buf_put_uvarint(&b, 0);
    assert_int_equal(decode_body(&b), CC_ECORRUPT);
    body_head(&b, RAFT_MSG_SNAPSHOT, 0, RAFT_MAX_NODES + 1); /* too many voters */
    buf_put_uvarint(&b, 0);
    buf_put_uvarint(&b, 0);
    assert_int_equal(decode_body(&b), CC_ETOOBIG);

    body_head(&b, RAFT_MSG_APPEND, 0, 0); /* more entries than any message may carry */
    buf_put_uvarint(&b, RAFT_MAX_MSG_ENTRIES_LIMIT + 1);
    assert_int_equal(decode_body(&b), CC_ETOOBIG);
    /* A count the body cannot hold: refused before an array is sized from it. */
    body_head(&b, RAFT_MSG_APPEND, 0, 0);
    buf_put_uvarint(&b, 60000);
    for (int i = 0; i < 8; i++) buf_put_u8(&b, 0);
    assert_int_equal(decode_body(&b), CC_ECORRUPT);

    body_head(&b, RAFT_MSG_APPEND, 0, 0); /* an entry over the entry limit */
    buf_put_uvarint(&b, 1);
    buf_put_uvarint(&b, 1);
    buf_put_uvarint(&b, 1);
    buf_put_u8(&b, RAFT_ENTRY_NORMAL);
    buf_put_uvarint(&b, RAFT_MAX_ENTRY_BYTES_LIMIT + 1);
    assert_int_equal(decode_body(&b), CC_ETOOBIG);
    body_head(&b, RAFT_MSG_APPEND, 0, 0); /* an entry longer than the body */
    buf_put_uvarint(&b, 1);
    buf_put_uvarint(&b, 1);
    buf_put_uvarint(&b, 1);
    buf_put_u8(&b, RAFT_ENTRY_NORMAL);
    buf_put_uvarint(&b, 100);
    buf_append(&b, "abc", 3);
    assert_int_equal(decode_body(&b), CC_ECORRUPT);
    body_head(&b, RAFT_MSG_APPEND, 0, 0); /* an unknown entry type */
    buf_put_uvarint(&b, 1);
    buf_put_uvarint(&b, 1);
    buf_put_uvarint(&b, 1);
    buf_put_u8(&b, 4);
    buf_put_uvarint(&b, 0);
    buf_put_uvarint(&b, 0);
    assert_int_equal(decode_body(&b), CC_ECORRUPT);

    body_head(&b, RAFT_MSG_SNAPSHOT, 0, 0); /* a chunk over the chunk limit */
    buf_put_uvarint(&b, 0);
    buf_put_uvarint(&b, RAFT_MAX_SNAP_CHUNK_LIMIT + 1);
    assert_int_equal(decode_body(&b), CC_ETOOBIG);
    body_head(&b, RAFT_MSG_SNAPSHOT, 0, 0); /* a length that does not fit 32 bits */
    buf_put_uvarint(&b, 0);
    buf_put_uvarint(&b, 1ull << 33);
    assert_int_equal(decode_body(&b), CC_ECORRUPT);
    body_head(&b, RAFT_MSG_HEARTBEAT, 0, 0); /* trailing bytes */
    buf_put_uvarint(&b, 0);
    buf_put_uvarint(&b, 0);
    buf_put_u8(&b, 0);
    assert_int_equal(decode_body(&b), CC_ECORRUPT);
}

static void test_hello_and_error_frames(void **state)
{
    (void)state;
    uint8_t f[TRANSPORT_ERROR_FRAME_MAX];
    struct transport_hello h = {.cluster_id = 0xc1, .from = 2, .to = UINT64_MAX};
    transport_frame_encode_hello(TRANSPORT_FRAME_HELLO_OK, &h, f);
    struct transport_frame d;
    size_t hl = TRANSPORT_FRAME_HEADER_BYTES + TRANSPORT_HELLO_BODY_BYTES;
    assert_int_equal(transport_frame_decode(f, hl, 64, &d), 0);
    assert_int_equal(d.kind, TRANSPORT_FRAME_HELLO_OK);
    assert_true(d.hello.cluster_id == 0xc1 && d.hello.from == 2 && d.hello.to == UINT64_MAX);
    transport_frame_seal(f, TRANSPORT_FRAME_HELLO, TRANSPORT_HELLO_BODY_BYTES - 1);
    assert_int_equal(transport_frame_decode(f, hl - 1, 64, &d), CC_ECORRUPT);

    size_t n = transport_frame_encode_error(CC_ECLUSTER, "bad\ncluster\x01", f);
    assert_int_equal(transport_frame_decode(f, n, 1024, &d), 0);
    assert_int_equal(d.kind, TRANSPORT_FRAME_ERROR);
    assert_int_equal(d.error.code, CC_ECLUSTER);
    assert_string_equal(d.error.reason, "bad?cluster?"); /* no forged log lines */
    char longr[400];
    memset(longr, 'r', sizeof(longr) - 1);
    longr[sizeof(longr) - 1] = '\0';
    n = transport_frame_encode_error(CC_EPROTO, longr, f);
    assert_int_equal(n, TRANSPORT_ERROR_FRAME_MAX);
    assert_int_equal(transport_frame_decode(f, n, 1024, &d), 0);
    assert_int_equal(strlen(d.error.reason), TRANSPORT_ERROR_REASON_MAX);
    put_u32le(f + TRANSPORT_FRAME_HEADER_BYTES, 0); /* code 0 is not an error */
    transport_frame_seal(f, TRANSPORT_FRAME_ERROR, (uint32_t)(n - TRANSPORT_FRAME_HEADER_BYTES));
    assert_int_equal(transport_frame_decode(f, n, 1024, &d), CC_ECORRUPT);
}

static void test_url_parse(void **state)
{
    (void)state;
    struct transport_url u;
    assert_int_equal(transport_url_parse("http://127.0.0.1:12380", &u), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 12380);
    assert_int_equal(transport_url_parse("HTTP://infra1.example:2380/", &u), 0);
    assert_string_equal(u.host, "infra1.example");
    assert_int_equal(u.port, 2380);
    assert_int_equal(transport_url_parse("http://[::1]:22380", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 22380);
    assert_int_equal(transport_url_parse("localhost:0", &u), 0);
    assert_int_equal(u.port, 0);
    assert_int_equal(transport_url_parse("tcp://10.0.0.1:65535", &u), 0);

    const char *bad[] = {"https://127.0.0.1:2380",
                         "unix://sock:1",
                         "http://127.0.0.1",
                         "http://127.0.0.1:",
                         "http://127.0.0.1:65536",
                         "http://:2380",
                         "http://127.0.0.1:23a0",
                         "http://a b:1",
                         "http://u@h:1",
                         "http://h:1/path",
                         "http://[::1:1",
                         "http://[::1]",
                         "::1:2380",
                         "http://h:123456",
                         "",
                         "http://"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(transport_url_parse(bad[i], &u), CC_EINVAL);
    assert_int_equal(transport_url_parse(NULL, &u), CC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_roundtrip_extremes),
        cmocka_unit_test(test_encoder_refuses_what_decoders_would),
        cmocka_unit_test(test_truncated_frames_rejected),
        cmocka_unit_test(test_corrupt_frames_rejected),
        cmocka_unit_test(test_header_checks),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_hello_and_error_frames),
        cmocka_unit_test(test_url_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
