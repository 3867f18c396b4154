/* fuzz_raft_step.c — libFuzzer target: arbitrary peer messages (and ticks, proposals, reads,
 * persistence reports) stepped into one Raft core must never crash it or break an assertion. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "util/buf.h"

/* Small numbers keep the fuzzer near interesting states (terms and indexes close to ours). */
static uint64_t small(struct cursor *c)
{
    return cursor_u8(c) % 24;
}

static void read_config(struct cursor *c, struct raft_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    uint8_t mask = cursor_u8(c);
    for (raft_id id = 1; id <= 4; id++)
        if (mask & (1u << (id - 1))) cfg->voters[cfg->n_voters++] = id;
    if (mask & 0x10) cfg->learners[cfg->n_learners++] = 5;
}

static void read_msg(struct cursor *c, struct raft_msg *m, struct raft_entry *ents,
                     uint8_t (*data)[16])
{
    memset(m, 0, sizeof(*m));
    m->type = cursor_u8(c) % (RAFT_MSG_TYPE_MAX_ + 2);
    m->from = 1 + cursor_u8(c) % 5;
    m->to = cursor_u8(c) % 16 ? 2 : 3;
    m->term = small(c);
    m->index = small(c);
    m->log_term = small(c);
    m->commit = small(c);
    m->ctx = small(c);
    m->hint_index = small(c);
    m->hint_term = small(c);
    m->reject = cursor_u8(c) & 1;
    uint32_t n = cursor_u8(c) % 5;
    for (uint32_t i = 0; i < n; i++) {
        struct raft_entry *e = &ents[i];
        memset(e, 0, sizeof(*e));
        e->term = small(c);
        e->index = cursor_u8(c) % 4 ? m->index + 1 + i : small(c);
        e->type = 1 + cursor_u8(c) % 3;
        e->len = cursor_u8(c) % 17;
        const uint8_t *p = cursor_bytes(c, e->len);
        if (!p) e->len = 0;
        if (e->type == RAFT_ENTRY_CONF && cursor_u8(c) & 1) {
            struct raft_config cfg;
            read_config(c, &cfg);
            uint8_t *enc = NULL;
            uint32_t len;
            if (cfg.n_voters && !raft_conf_entry_encode(&cfg, NULL, 0, &enc, &len)) {
                if (len <= 16) {
                    memcpy(data[i], enc, len);
                    e->len = len;
                    p = NULL;
                }
                free(enc);
            }
        }
        if (p) memcpy(data[i], p, e->len);
        e->data = e->len ? data[i] : NULL;
    }
    m->n_entries = n;
    m->entries = n ? ents : NULL;
    if (m->type == RAFT_MSG_SNAPSHOT || m->type == RAFT_MSG_SNAPSHOT_RESP) {
        m->snap.index = small(c);
        m->snap.term = small(c);
        read_config(c, &m->snap.config);
        m->snap_size = small(c);
        m->offset = small(c);
        m->len = (uint32_t)small(c);
        m->done = cursor_u8(c) & 1;
        m->data = m->len ? data[4] : NULL;
        if (m->len > 16) m->len = 16;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
    struct raft_options o;
    raft_options_default(&o);
    o.id = 2;
    o.seed = 1;
    o.election_tick = 3;
    o.snap_chunk_bytes = 8;
    o.lease_read = size & 1;
    struct raft_boot b;
    memset(&b, 0, sizeof(b));
    b.snap.config.n_voters = 3;
    for (int i = 0; i < 3; i++) b.snap.config.voters[i] = (raft_id)i + 1;
    struct raft *r;
    if (raft_new(&o, &b, &r)) abort();
    struct cursor c;
    cursor_init(&c, buf, size);
    struct raft_entry ents[4];
    uint8_t data[5][16];
    while (!c.err && c.left) {
        uint8_t op = cursor_u8(&c) % 8;
        if (op == 0) {
            raft_tick(r);
        } else if (op == 1) {
            raft_propose(r, "p", 1, NULL);
        } else if (op == 2) {
            raft_read_index(r, small(&c));
        } else if (op == 3) {
            raft_transfer_leadership(r, small(&c) % 6);
        } else {
            struct raft_msg m;
            read_msg(&c, &m, ents, data);
            if (c.err) break;
            raft_step(r, &m);
        }
        struct raft_update u;
        while (raft_get_update(r, &u)) {
            if (u.persist_report) raft_persisted(r, u.persist_index, u.persist_term);
        }
        struct raft_status st;
        raft_status(r, &st);
        if (st.applied > st.commit || st.commit > st.last_index) abort();
        if (st.applied >= 1 && st.applied > st.snap_index) {
            struct raft_snapshot_meta meta;
            if (!raft_snapshot_meta_at(r, st.applied, &meta) && !raft_snapshot_taken(r, &meta, 8) &&
                (c.left & 3) == 0)
                raft_compact(r, st.applied);
        }
    }
    raft_free(r);
    return 0;
}
