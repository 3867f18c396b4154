/* msggen.h — deterministic raft_msg generator and deep comparison for the transport tests. */
#ifndef CONCUR_TESTS_TRANSPORT_MSGGEN_H
#define CONCUR_TESTS_TRANSPORT_MSGGEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "util/rng.h"

/* Bytes of the snapshot chunk gen_msg attaches to SNAPSHOT number seq: every third one is a
 * full 1 MiB chunk (the core's default chunk size), the others are small. */
static inline uint32_t gen_snap_bytes(uint64_t seq)
{
    return (seq / 15) % 3 == 0 ? (1u << 20) : (uint32_t)(100 + seq % 1000);
}

/* Fills m with message number seq from `from` to `to`: the type cycles through every message
 * type, every other field is drawn from a generator seeded by seq (so a receiver can rebuild
 * what it should have got), ctx = seq. APPEND and PROPOSE carry entries of every type and
 * size (including empty ones); SNAPSHOT carries chunk bytes and a configuration.
 * Release with gen_free. */
static inline void gen_msg(struct raft_msg *m, uint64_t seq, raft_id from, raft_id to)
{
    struct rng r;
    rng_seed(&r, seq * 7919 + 17);
    memset(m, 0, sizeof(*m));
    m->type = (uint8_t)(1 + seq % RAFT_MSG_TYPE_MAX_);
    m->from = from;
    m->to = to;
    uint64_t shift = rng_next(&r) % 64; /* terms of every magnitude, to exercise varints */
    m->term = rng_next(&r) >> shift;
    m->log_term = rng_next(&r) % 1000;
    m->index = rng_next(&r);
    m->commit = rng_next(&r) % 100000;
    m->ctx = seq;
    m->hint_index = rng_next(&r) % 3;
    m->hint_term = UINT64_MAX - seq;
    m->reject = rng_chance(&r, 1, 2);
    m->done = rng_chance(&r, 1, 2);
    if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_PROPOSE) {
        m->n_entries = (uint32_t)(seq % 6);
        m->entries = m->n_entries ? calloc(m->n_entries, sizeof(*m->entries)) : NULL;
        for (uint32_t i = 0; i < m->n_entries; i++) {
            struct raft_entry *e = &m->entries[i];
            e->term = rng_next(&r) % 50;
            e->index = m->index + i + 1;
            e->type = (uint8_t)(1 + (seq + i) % 3);
            e->len = (uint32_t)(i == 0 ? 0 : rng_below(&r, 2000));
            e->data = e->len ? malloc(e->len) : NULL;
            for (uint32_t k = 0; k < e->len; k++) e->data[k] = (uint8_t)rng_next(&r);
        }
    }
    if (m->type == RAFT_MSG_SNAPSHOT || m->type == RAFT_MSG_SNAPSHOT_RESP) {
        m->snap.index = rng_next(&r);
        m->snap.term = rng_next(&r) % 99;
        struct raft_config *c = &m->snap.config;
        c->n_voters = (uint32_t)(1 + seq % RAFT_MAX_NODES);
        c->n_voters_out = (uint32_t)(seq % 3);
        c->n_learners = (uint32_t)(seq % 2);
        for (uint32_t i = 0; i < c->n_voters; i++) c->voters[i] = rng_next(&r);
        for (uint32_t i = 0; i < c->n_voters_out; i++) c->voters_out[i] = rng_next(&r);
        for (uint32_t i = 0; i < c->n_learners; i++) c->learners[i] = rng_next(&r);
        m->snap_size = rng_next(&r) % (1ull << 40);
        m->offset = rng_next(&r) % (1ull << 30);
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        m->len = gen_snap_bytes(seq);
        m->data = malloc(m->len);
        for (uint32_t k = 0; k < m->len; k++) m->data[k] = (uint8_t)(k * 31 + seq);
    }
}

static inline void gen_free(struct raft_msg *m)
{
    for (uint32_t i = 0; i < m->n_entries; i++) free(m->entries[i].data);
    free(m->entries);
    free(m->data);
    memset(m, 0, sizeof(*m));
}

static inline bool config_same(const struct raft_config *a, const struct raft_config *b)
{
    return a->n_voters == b->n_voters && a->n_voters_out == b->n_voters_out &&
           a->n_learners == b->n_learners &&
           memcmp(a->voters, b->voters, a->n_voters * sizeof(raft_id)) == 0 &&
           memcmp(a->voters_out, b->voters_out, a->n_voters_out * sizeof(raft_id)) == 0 &&
           memcmp(a->learners, b->learners, a->n_learners * sizeof(raft_id)) == 0;
}

/* Every field, every entry and every byte equal; NULL exactly where the length is 0. */
static inline bool msg_same(const struct raft_msg *a, const struct raft_msg *b)
{
    if (a->type != b->type || a->from != b->from || a->to != b->to || a->term != b->term ||
        a->log_term != b->log_term || a->index != b->index || a->commit != b->commit ||
        a->ctx != b->ctx || a->hint_index != b->hint_index || a->hint_term != b->hint_term ||
        a->reject != b->reject || a->done != b->done || a->n_entries != b->n_entries ||
        a->snap.index != b->snap.index || a->snap.term != b->snap.term ||
        !config_same(&a->snap.config, &b->snap.config) || a->snap_size != b->snap_size ||
        a->offset != b->offset || a->len != b->len)
        return false;
    if ((a->data == NULL) != (a->len == 0) || (b->data == NULL) != (b->len == 0)) return false;
    if (a->len && memcmp(a->data, b->data, a->len) != 0) return false;
    for (uint32_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i], *y = &b->entries[i];
        if (x->term != y->term || x->index != y->index || x->type != y->type || x->len != y->len)
            return false;
        if ((x->data == NULL) != (x->len == 0) || (y->data == NULL) != (y->len == 0)) return false;
        if (x->len && memcmp(x->data, y->data, x->len) != 0) return false;
    }
    return true;
}

#endif
