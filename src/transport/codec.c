/* codec.c — encoding and strict decoding of peer frames (wire format in codec.h). */
#include "transport/codec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"

#define MAGIC0 0x63
#define MAGIC1 0x63

#define MSG_FLAG_REJECT 0x01
#define MSG_FLAG_DONE   0x02

/* Smallest encoding of one entry (term, index, type, len of one byte each): lets the decoder
 * refuse an entry count the body cannot hold before it sizes anything from that count. */
#define MIN_ENTRY_BYTES 4

static size_t uv_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *uv_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

void transport_frame_seal(uint8_t *frame, uint8_t kind, uint32_t body_len)
{
    frame[0] = MAGIC0;
    frame[1] = MAGIC1;
    frame[2] = TRANSPORT_PROTO_VERSION;
    frame[3] = kind;
    put_u32le(frame + 4, body_len);
    uint32_t crc = crc32c_extend(0, frame, 8);
    crc = crc32c_extend(crc, frame + TRANSPORT_FRAME_HEADER_BYTES, body_len);
    put_u32le(frame + 8, crc);
}

int transport_frame_parse_header(const uint8_t *p, uint32_t max_body, struct transport_frame_hdr *h)
{
    memset(h, 0, sizeof(*h));
    if (p[0] != MAGIC0 || p[1] != MAGIC1) return CC_EPROTO;
    h->version = p[2];
    h->kind = p[3];
    h->body_len = get_u32le(p + 4);
    h->crc = get_u32le(p + 8);
    if (h->version != TRANSPORT_PROTO_VERSION) return CC_EPROTO;
    if (h->kind < 1 || h->kind > TRANSPORT_FRAME_KIND_MAX_) return CC_EPROTO;
    if (h->body_len > max_body || h->body_len > TRANSPORT_MAX_FRAME_LIMIT) return CC_ETOOBIG;
    return 0;
}

/* --- MSG ----------------------------------------------------------------------------------- */

static size_t config_size(const struct raft_config *c)
{
    size_t n = 3;
    for (uint32_t i = 0; i < c->n_voters; i++) n += uv_size(c->voters[i]);
    for (uint32_t i = 0; i < c->n_voters_out; i++) n += uv_size(c->voters_out[i]);
    for (uint32_t i = 0; i < c->n_learners; i++) n += uv_size(c->learners[i]);
    return n;
}

int transport_frame_msg_size(const struct raft_msg *m, size_t *size)
{
    if (m->type < 1 || m->type > RAFT_MSG_TYPE_MAX_) return CC_EINVAL;
    const struct raft_config *c = &m->snap.config;
    if (c->n_voters > RAFT_MAX_NODES || c->n_voters_out > RAFT_MAX_NODES ||
        c->n_learners > RAFT_MAX_NODES)
        return CC_EINVAL;
    if (m->n_entries > RAFT_MAX_MSG_ENTRIES_LIMIT || m->len > RAFT_MAX_SNAP_CHUNK_LIMIT)
        return CC_ETOOBIG;
    assert(m->n_entries == 0 || m->entries != NULL);
    assert(m->len == 0 || m->data != NULL);

    size_t n = 2 + uv_size(m->from) + uv_size(m->to) + uv_size(m->term) + uv_size(m->log_term) +
               uv_size(m->index) + uv_size(m->commit) + uv_size(m->ctx) + uv_size(m->hint_index) +
               uv_size(m->hint_term);
    n += uv_size(m->snap.index) + uv_size(m->snap.term) + config_size(c);
    n += uv_size(m->snap_size) + uv_size(m->offset);
    n += uv_size(m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF) return CC_EINVAL;
        if (e->len > RAFT_MAX_ENTRY_BYTES_LIMIT) return CC_ETOOBIG;
        assert(e->len == 0 || e->data != NULL);
        n += uv_size(e->term) + uv_size(e->index) + 1 + uv_size(e->len) + e->len;
    }
    n += uv_size(m->len) + m->len;
    if (n > TRANSPORT_MAX_FRAME_LIMIT) return CC_ETOOBIG;
    *size = TRANSPORT_FRAME_HEADER_BYTES + n;
    return 0;
}

static uint8_t *ids_put(uint8_t *p, const raft_id *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) p = uv_put(p, ids[i]);
    return p;
}

size_t transport_frame_encode_msg(const struct raft_msg *m, uint8_t *out)
{
    uint8_t *p = out + TRANSPORT_FRAME_HEADER_BYTES;
    *p++ = m->type;
    *p++ = (uint8_t)((m->reject ? MSG_FLAG_REJECT : 0) | (m->done ? MSG_FLAG_DONE : 0));
    const uint64_t head[] = {m->from,   m->to,  m->term,       m->log_term, m->index,
                             m->commit, m->ctx, m->hint_index, m->hint_term};
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++) p = uv_put(p, head[i]);

    const struct raft_config *c = &m->snap.config;
    p = uv_put(p, m->snap.index);
    p = uv_put(p, m->snap.term);
    *p++ = (uint8_t)c->n_voters;
    *p++ = (uint8_t)c->n_voters_out;
    *p++ = (uint8_t)c->n_learners;
    p = ids_put(p, c->voters, c->n_voters);
    p = ids_put(p, c->voters_out, c->n_voters_out);
    p = ids_put(p, c->learners, c->n_learners);
    p = uv_put(p, m->snap_size);
    p = uv_put(p, m->offset);

    p = uv_put(p, m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        p = uv_put(p, e->term);
        p = uv_put(p, e->index);
        *p++ = e->type;
        p = uv_put(p, e->len);
        if (e->len) memcpy(p, e->data, e->len);
        p += e->len;
    }
    p = uv_put(p, m->len);
    if (m->len) memcpy(p, m->data, m->len);
    p += m->len;

    size_t body = (size_t)(p - out) - TRANSPORT_FRAME_HEADER_BYTES;
    transport_frame_seal(out, TRANSPORT_FRAME_MSG, (uint32_t)body);
    return (size_t)(p - out);
}

static int ids_get(struct cursor *c, raft_id *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) ids[i] = cursor_uvarint(c);
    return c->err ? CC_ECORRUPT : 0;
}

/* Reads a u32-ranged varint; sets c->err when the value does not fit. */
static uint32_t uv_get_u32(struct cursor *c)
{
    uint64_t v = cursor_uvarint(c);
    if (v > UINT32_MAX) {
        c->err = CC_ECORRUPT;
        return 0;
    }
    return (uint32_t)v;
}

/* Parses a MSG body into *m. With block == NULL it only validates and sets *need to the bytes
 * the owned copy requires; with block (need bytes) it copies entries and data into it. One
 * function for both passes keeps "validated" and "copied" the same thing. */
static int msg_parse(const uint8_t *body, size_t len, struct raft_msg *m, uint8_t *block,
                     size_t *need)
{
    struct cursor c;
    cursor_init(&c, body, len);
    memset(m, 0, sizeof(*m));
    m->type = cursor_u8(&c);
    uint8_t flags = cursor_u8(&c);
    if (c.err) return CC_ECORRUPT;
    if (m->type < 1 || m->type > RAFT_MSG_TYPE_MAX_) return CC_ECORRUPT;
    if (flags & ~(MSG_FLAG_REJECT | MSG_FLAG_DONE)) return CC_ECORRUPT;
    m->reject = (flags & MSG_FLAG_REJECT) != 0;
    m->done = (flags & MSG_FLAG_DONE) != 0;
    m->from = cursor_uvarint(&c);
    m->to = cursor_uvarint(&c);
    m->term = cursor_uvarint(&c);
    m->log_term = cursor_uvarint(&c);
    m->index = cursor_uvarint(&c);
    m->commit = cursor_uvarint(&c);
    m->ctx = cursor_uvarint(&c);
    m->hint_index = cursor_uvarint(&c);
    m->hint_term = cursor_uvarint(&c);

    struct raft_config *cfg = &m->snap.config;
    m->snap.index = cursor_uvarint(&c);
    m->snap.term = cursor_uvarint(&c);
    cfg->n_voters = cursor_u8(&c);
    cfg->n_voters_out = cursor_u8(&c);
    cfg->n_learners = cursor_u8(&c);
    if (c.err) return CC_ECORRUPT;
    if (cfg->n_voters > RAFT_MAX_NODES || cfg->n_voters_out > RAFT_MAX_NODES ||
        cfg->n_learners > RAFT_MAX_NODES)
        return CC_ETOOBIG;
    if (ids_get(&c, cfg->voters, cfg->n_voters) ||
        ids_get(&c, cfg->voters_out, cfg->n_voters_out) ||
        ids_get(&c, cfg->learners, cfg->n_learners))
        return CC_ECORRUPT;
    m->snap_size = cursor_uvarint(&c);
    m->offset = cursor_uvarint(&c);

    uint64_t n = cursor_uvarint(&c);
    if (c.err) return CC_ECORRUPT;
    if (n > RAFT_MAX_MSG_ENTRIES_LIMIT) return CC_ETOOBIG;
    if (n > c.left / MIN_ENTRY_BYTES) return CC_ECORRUPT;
    m->n_entries = (uint32_t)n;
    size_t pos = (size_t)n * sizeof(struct raft_entry);
    if (block && n) m->entries = (struct raft_entry *)(void *)block;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        struct raft_entry e = {0};
        e.term = cursor_uvarint(&c);
        e.index = cursor_uvarint(&c);
        e.type = cursor_u8(&c);
        e.len = uv_get_u32(&c);
        if (c.err) return CC_ECORRUPT;
        if (e.type < RAFT_ENTRY_NORMAL || e.type > RAFT_ENTRY_CONF) return CC_ECORRUPT;
        if (e.len > RAFT_MAX_ENTRY_BYTES_LIMIT) return CC_ETOOBIG;
        const uint8_t *bytes = cursor_bytes(&c, e.len);
        if (c.err) return CC_ECORRUPT;
        if (block) {
            if (e.len) {
                memcpy(block + pos, bytes, e.len);
                e.data = block + pos;
            }
            m->entries[i] = e;
        }
        pos += e.len;
    }

    m->len = uv_get_u32(&c);
    if (c.err) return CC_ECORRUPT;
    if (m->len > RAFT_MAX_SNAP_CHUNK_LIMIT) return CC_ETOOBIG;
    const uint8_t *data = cursor_bytes(&c, m->len);
    if (c.err) return CC_ECORRUPT;
    if (block && m->len) {
        memcpy(block + pos, data, m->len);
        m->data = block + pos;
    }
    pos += m->len;
    if (c.left != 0) return CC_ECORRUPT; /* trailing bytes: not a frame we wrote */
    *need = pos;
    return 0;
}

void transport_msg_free(struct raft_msg *m)
{
    /* The block starts at the entries array when there is one, else at the chunk data. */
    free(m->n_entries ? (void *)m->entries : (void *)m->data);
    memset(m, 0, sizeof(*m));
}

/* --- HELLO / ERROR ------------------------------------------------------------------------- */

void transport_frame_encode_hello(uint8_t kind, const struct transport_hello *h, uint8_t *out)
{
    assert(kind == TRANSPORT_FRAME_HELLO || kind == TRANSPORT_FRAME_HELLO_OK);
    uint8_t *b = out + TRANSPORT_FRAME_HEADER_BYTES;
    put_u64le(b, h->cluster_id);
    put_u64le(b + 8, h->from);
    put_u64le(b + 16, h->to);
    transport_frame_seal(out, kind, TRANSPORT_HELLO_BODY_BYTES);
}

size_t transport_frame_encode_error(int code, const char *reason, uint8_t *out)
{
    assert(code < 0);
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > TRANSPORT_ERROR_REASON_MAX) rlen = TRANSPORT_ERROR_REASON_MAX;
    uint8_t *b = out + TRANSPORT_FRAME_HEADER_BYTES;
    put_u32le(b, (uint32_t)-code);
    b[4] = (uint8_t)rlen;
    if (rlen) memcpy(b + 5, reason, rlen);
    transport_frame_seal(out, TRANSPORT_FRAME_ERROR, (uint32_t)(5 + rlen));
    return TRANSPORT_FRAME_HEADER_BYTES + 5 + rlen;
}

static int error_parse(const uint8_t *b, size_t len, struct transport_error *e)
{
    if (len < 5) return CC_ECORRUPT;
    uint32_t code = get_u32le(b);
    size_t rlen = b[4];
    /* Codes are small negated enum values; anything else is not a frame we wrote. */
    if (code == 0 || code > 0xffff) return CC_ECORRUPT;
    if (rlen > TRANSPORT_ERROR_REASON_MAX || len != 5 + rlen) return CC_ECORRUPT;
    e->code = -(int)code;
    /* The reason ends up in log lines: keep a hostile peer from forging lines or controls. */
    for (size_t i = 0; i < rlen; i++) {
        uint8_t ch = b[5 + i];
        e->reason[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    e->reason[rlen] = '\0';
    return 0;
}

int transport_frame_decode(const uint8_t *p, size_t len, uint32_t max_body,
                           struct transport_frame *out)
{
    memset(out, 0, sizeof(*out));
    if (len < TRANSPORT_FRAME_HEADER_BYTES) return CC_ECORRUPT;
    struct transport_frame_hdr h;
    int rc = transport_frame_parse_header(p, max_body, &h);
    if (rc) return rc;
    if (len - TRANSPORT_FRAME_HEADER_BYTES != h.body_len) return CC_ECORRUPT;
    const uint8_t *body = p + TRANSPORT_FRAME_HEADER_BYTES;
    uint32_t crc = crc32c_extend(crc32c_extend(0, p, 8), body, h.body_len);
    if (crc != h.crc) return CC_ECORRUPT;

    switch (h.kind) {
    case TRANSPORT_FRAME_HELLO:
    case TRANSPORT_FRAME_HELLO_OK:
        if (h.body_len != TRANSPORT_HELLO_BODY_BYTES) return CC_ECORRUPT;
        out->hello.cluster_id = get_u64le(body);
        out->hello.from = get_u64le(body + 8);
        out->hello.to = get_u64le(body + 16);
        break;
    case TRANSPORT_FRAME_ERROR:
        rc = error_parse(body, h.body_len, &out->error);
        if (rc) return rc;
        break;
    case TRANSPORT_FRAME_MSG: {
        size_t need = 0;
        rc = msg_parse(body, h.body_len, &out->msg, NULL, &need);
        if (rc) return rc;
        if (need) {
            uint8_t *block = malloc(need);
            if (!block) {
                memset(&out->msg, 0, sizeof(out->msg));
                return CC_ENOMEM;
            }
            rc = msg_parse(body, h.body_len, &out->msg, block, &need);
            assert(rc == 0);
        }
        break;
    }
    default:
        assert(0 && "parse_header admits only known kinds");
        return CC_EPROTO;
    }
    out->kind = h.kind;
    return 0;
}
