/* harness.c — a hand-wired cluster of Raft cores for the scenario tests (see harness.h). */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/err.h"

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    assert_non_null(q);
    return q;
}

static uint8_t *dup_data(const void *p, size_t n)
{
    if (!n) return NULL;
    uint8_t *d = xrealloc(NULL, n);
    memcpy(d, p, n);
    return d;
}

static bool trace_on(void)
{
    const char *t = getenv("H_TRACE");
    return t && *t == '1';
}

void h_default_opts(struct raft_options *o, raft_id id)
{
    raft_options_default(o);
    o->id = id;
    o->seed = id * 7919;
}

static struct h_node *node(struct h_cluster *c, raft_id id)
{
    assert_true(id > 0 && id < H_MAX && c->nodes[id].exists);
    return &c->nodes[id];
}

struct raft *h_raft(struct h_cluster *c, raft_id id)
{
    struct h_node *n = node(c, id);
    assert_non_null(n->r);
    return n->r;
}

/* --- disk ------------------------------------------------------------------------------------ */

static void disk_free_ents(struct h_disk *d, uint32_t from)
{
    for (uint32_t i = from; i < d->n; i++) free(d->ents[i].data);
    d->n = from;
}

static uint64_t disk_last(const struct h_disk *d)
{
    return d->snap.index + d->n;
}

static void disk_append(struct h_disk *d, const struct raft_entry *e, uint32_t n)
{
    if (!n) return;
    assert_true(e[0].index > d->snap.index && e[0].index <= disk_last(d) + 1);
    disk_free_ents(d, (uint32_t)(e[0].index - d->snap.index - 1)); /* truncate first */
    if (d->n + n > d->cap) {
        d->cap = (d->n + n) * 2;
        d->ents = xrealloc(d->ents, d->cap * sizeof(*d->ents));
    }
    for (uint32_t i = 0; i < n; i++) {
        d->ents[d->n] = e[i];
        d->ents[d->n].data = dup_data(e[i].data, e[i].len);
        d->n++;
    }
}

/* Drops disk entries up to snap.index (they live in the snapshot now). */
static void disk_trim(struct h_disk *d, uint64_t upto, uint64_t old_snap_index)
{
    uint64_t drop = upto > old_snap_index ? upto - old_snap_index : 0;
    if (drop > d->n) drop = d->n;
    for (uint64_t i = 0; i < drop; i++) free(d->ents[i].data);
    memmove(d->ents, d->ents + drop, (d->n - drop) * sizeof(*d->ents));
    d->n -= (uint32_t)drop;
}

static void disk_free(struct h_disk *d)
{
    disk_free_ents(d, 0);
    free(d->ents);
    free(d->snap_data);
    free(d->in_data);
    memset(d, 0, sizeof(*d));
}

/* --- state machine ---------------------------------------------------------------------------- */

static void sm_record(struct h_sm *s)
{
    if (s->applied >= s->cap) {
        uint64_t cap = (s->applied + 1) * 2;
        s->hash_at = xrealloc(s->hash_at, cap * sizeof(uint64_t));
        memset(s->hash_at + s->cap, 0, (cap - s->cap) * sizeof(uint64_t));
        s->cap = cap;
    }
    s->hash_at[s->applied] = s->hash;
}

static void sm_apply(struct h_sm *s, const struct raft_entry *e)
{
    assert_int_equal(e->index, s->applied + 1);
    uint64_t h = s->hash ^ 0x9e3779b97f4a7c15ull;
    h = (h ^ e->term) * 1099511628211ull;
    h = (h ^ e->type) * 1099511628211ull;
    for (uint32_t i = 0; i < e->len; i++) h = (h ^ e->data[i]) * 1099511628211ull;
    s->hash = h | 1; /* never 0: 0 means "unknown" in hash_at */
    s->applied = e->index;
    s->n_normal += e->type == RAFT_ENTRY_NORMAL;
    sm_record(s);
}

static uint8_t fill_byte(uint64_t k, uint64_t applied)
{
    return (uint8_t)(k * 131 + applied);
}

static uint8_t *sm_serialize(const struct h_sm *s, uint64_t size)
{
    assert_true(size >= 24);
    uint8_t *b = xrealloc(NULL, size);
    memcpy(b, &s->applied, 8);
    memcpy(b + 8, &s->hash, 8);
    memcpy(b + 16, &s->n_normal, 8);
    for (uint64_t k = 24; k < size; k++) b[k] = fill_byte(k, s->applied);
    return b;
}

static void sm_restore(struct h_sm *s, const uint8_t *b, uint64_t size, uint64_t index)
{
    assert_true(size >= 24);
    memcpy(&s->applied, b, 8);
    memcpy(&s->hash, b + 8, 8);
    memcpy(&s->n_normal, b + 16, 8);
    assert_int_equal(s->applied, index);
    /* Every chunk landed at its offset: the filler is intact. */
    for (uint64_t k = 24; k < size; k++) assert_int_equal(b[k], fill_byte(k, s->applied));
    sm_record(s);
}

/* --- updates ---------------------------------------------------------------------------------- */

static void enqueue(struct h_cluster *c, const struct raft_msg *m, const struct h_node *from)
{
    if (c->q_n == c->q_cap) {
        if (c->q_head > 0) {
            memmove(c->q, c->q + c->q_head, (c->q_n - c->q_head) * sizeof(*c->q));
            c->q_n -= c->q_head;
            c->q_head = 0;
        }
        if (c->q_n == c->q_cap) {
            c->q_cap = c->q_cap ? c->q_cap * 2 : 256;
            c->q = xrealloc(c->q, c->q_cap * sizeof(*c->q));
        }
    }
    struct raft_msg *d = &c->q[c->q_n++];
    assert_int_equal(raft_msg_copy(d, m), 0);
    if (m->type <= RAFT_MSG_TYPE_MAX_) c->sent_by_type[m->type]++;
    if (m->type == RAFT_MSG_SNAPSHOT && !m->data && m->len) {
        /* Attach the bytes of the snapshot the core names, as the transport would. */
        assert_int_equal(from->disk.snap.index, m->snap.index);
        assert_true(m->offset + m->len <= from->disk.snap_size);
        d->data = dup_data(from->disk.snap_data + m->offset, m->len);
    }
}

static void disk_write_batch(struct h_node *n, const struct h_batch *b)
{
    struct h_disk *d = &n->disk;
    for (uint32_t i = 0; i < b->n_chunks; i++) {
        const struct raft_snap_chunk *ch = &b->chunks[i];
        if (ch->offset == 0 || d->in_index != ch->meta.index) {
            free(d->in_data);
            d->in_data = xrealloc(NULL, ch->snap_size ? ch->snap_size : 1);
            d->in_size = ch->snap_size;
            d->in_index = ch->meta.index;
        }
        assert_true(ch->offset + ch->len <= d->in_size);
        if (ch->len) memcpy(d->in_data + ch->offset, ch->data, ch->len);
    }
    if (b->snapshot_ready) {
        assert_int_equal(d->in_index, b->snapshot.index);
        assert_int_equal(d->in_size, b->snapshot_size);
        disk_free_ents(d, 0);
        free(d->snap_data);
        d->snap = b->snapshot;
        d->snap_data = d->in_data;
        d->snap_size = d->in_size;
        d->in_data = NULL;
        d->in_index = 0;
        sm_restore(&n->sm, d->snap_data, d->snap_size, d->snap.index);
    }
    disk_append(d, b->ents, b->n_ents);
    if (b->hs_changed) d->hs = b->hs;
}

static void batch_free(struct h_batch *b)
{
    for (uint32_t i = 0; i < b->n_chunks; i++) free((void *)b->chunks[i].data);
    free(b->chunks);
    for (uint32_t i = 0; i < b->n_ents; i++) free(b->ents[i].data);
    free(b->ents);
    for (uint32_t i = 0; i < b->n_after; i++) raft_msg_release(&b->after[i]);
    free(b->after);
    memset(b, 0, sizeof(*b));
}

static void batch_from_update(struct h_batch *b, const struct raft_update *u)
{
    memset(b, 0, sizeof(*b));
    b->hs_changed = u->hs_changed;
    b->hs = u->hs;
    b->snapshot_ready = u->snapshot_ready;
    b->snapshot = u->snapshot;
    b->snapshot_size = u->snapshot_size;
    if (u->n_snap_chunks) {
        b->chunks = xrealloc(NULL, u->n_snap_chunks * sizeof(*b->chunks));
        for (uint32_t i = 0; i < u->n_snap_chunks; i++) {
            b->chunks[i] = u->snap_chunks[i];
            b->chunks[i].data = dup_data(u->snap_chunks[i].data, u->snap_chunks[i].len);
        }
        b->n_chunks = u->n_snap_chunks;
    }
    if (u->n_entries) {
        b->ents = xrealloc(NULL, u->n_entries * sizeof(*b->ents));
        for (uint32_t i = 0; i < u->n_entries; i++) {
            b->ents[i] = u->entries[i];
            b->ents[i].data = dup_data(u->entries[i].data, u->entries[i].len);
        }
        b->n_ents = u->n_entries;
    }
    if (u->n_msgs_after_persist) {
        b->after = xrealloc(NULL, u->n_msgs_after_persist * sizeof(*b->after));
        for (uint32_t i = 0; i < u->n_msgs_after_persist; i++)
            assert_int_equal(raft_msg_copy(&b->after[i], &u->msgs_after_persist[i]), 0);
        b->n_after = u->n_msgs_after_persist;
    }
    /* The report the contract asks for; it names the last entry or the snapshot when there
     * is one. */
    b->report = u->persist_report;
    b->rep_index = u->persist_index;
    b->rep_term = u->persist_term;
    if (u->n_entries) {
        assert_true(u->persist_report);
        assert_int_equal(b->rep_index, u->entries[u->n_entries - 1].index);
        assert_int_equal(b->rep_term, u->entries[u->n_entries - 1].term);
    } else if (u->snapshot_ready) {
        assert_true(u->persist_report);
        assert_int_equal(b->rep_index, u->snapshot.index);
    }
}

/* Makes one batch durable, releases its messages and reports it. */
static void batch_commit(struct h_cluster *c, struct h_node *n, struct h_batch *b)
{
    disk_write_batch(n, b);
    for (uint32_t i = 0; i < b->n_after; i++) enqueue(c, &b->after[i], n);
    if (b->report && n->r) raft_persisted(n->r, b->rep_index, b->rep_term);
    batch_free(b);
}

static void record_leader(struct h_cluster *c, const struct raft_update *u, raft_id id)
{
    if (u->role != RAFT_LEADER || u->term >= 256) return;
    /* Election Safety (§3.6.3): at most one leader per term. */
    if (c->leader_of_term[u->term]) assert_int_equal(c->leader_of_term[u->term], id);
    c->leader_of_term[u->term] = id;
}

static void handle_update(struct h_cluster *c, struct h_node *n, const struct raft_update *u)
{
    record_leader(c, u, n->id);
    /* Contract checks that hold for every update. */
    if (u->n_committed) {
        /* Committed entries handed out are committed and durable locally (raft.h step 5). */
        const struct raft_entry *last = &u->committed[u->n_committed - 1];
        assert_true(last->index <= u->hs.commit);
        struct raft_status st;
        raft_status(n->r, &st);
        assert_true(last->index <= st.persisted);
    }
    for (uint32_t i = 0; i < u->n_msgs; i++) {
        uint8_t t = u->msgs[i].type;
        /* Promises wait for the disk. */
        assert_true(t != RAFT_MSG_VOTE_RESP && t != RAFT_MSG_PREVOTE_RESP &&
                    t != RAFT_MSG_APPEND_RESP && t != RAFT_MSG_SNAPSHOT_RESP && t != RAFT_MSG_VOTE);
    }
    for (uint32_t i = 0; i < u->n_msgs_after_persist; i++)
        if (u->msgs_after_persist[i].type == RAFT_MSG_APPEND_RESP &&
            u->msgs_after_persist[i].reject)
            n->append_rejects_sent++;
    n->last = *u;
    struct h_batch b;
    batch_from_update(&b, u);
    for (uint32_t i = 0; i < u->n_msgs; i++) enqueue(c, &u->msgs[i], n);
    for (uint32_t i = 0; i < u->n_committed; i++) {
        if (trace_on())
            fprintf(stderr, "  [%llu] apply %llu term %llu type %u\n", (unsigned long long)n->id,
                    (unsigned long long)u->committed[i].index,
                    (unsigned long long)u->committed[i].term, u->committed[i].type);
        sm_apply(&n->sm, &u->committed[i]);
    }
    if (trace_on() && (u->soft_changed || u->n_entries || u->snapshot_ready))
        fprintf(stderr,
                "  [%llu] role %s term %llu lead %llu entries %u..+%u snap %d commit %llu\n",
                (unsigned long long)n->id, raft_role_name(u->role), (unsigned long long)u->term,
                (unsigned long long)u->leader, u->n_entries ? (unsigned)u->entries[0].index : 0,
                u->n_entries, u->snapshot_ready, (unsigned long long)u->hs.commit);
    for (uint32_t i = 0; i < u->n_reads && n->n_reads < 256; i++)
        n->reads[n->n_reads++] = u->reads[i];
    if (n->hold) {
        if (n->n_pending == n->cap_pending) {
            n->cap_pending = n->cap_pending ? n->cap_pending * 2 : 8;
            n->pending = xrealloc(n->pending, n->cap_pending * sizeof(*n->pending));
        }
        n->pending[n->n_pending++] = b;
    } else {
        batch_commit(c, n, &b);
    }
}

void h_update(struct h_cluster *c, raft_id id)
{
    struct h_node *n = node(c, id);
    for (int guard = 0; n->r && raft_has_update(n->r); guard++) {
        assert_true(guard < 10000);
        struct raft_update u;
        bool any = raft_get_update(n->r, &u);
        assert_true(any);
        handle_update(c, n, &u);
    }
    /* has_update false <=> get_update returns nothing. */
    if (n->r) {
        struct raft_update u;
        assert_false(raft_get_update(n->r, &u));
    }
}

void h_update_all(struct h_cluster *c)
{
    for (raft_id id = 1; id < H_MAX; id++)
        if (c->nodes[id].exists && c->nodes[id].r) h_update(c, id);
}

void h_flush(struct h_cluster *c, raft_id id)
{
    struct h_node *n = node(c, id);
    for (uint32_t i = 0; i < n->n_pending; i++) batch_commit(c, n, &n->pending[i]);
    n->n_pending = 0;
    h_update(c, id);
}

/* --- lifecycle ---------------------------------------------------------------------------------
 */

static void start(struct h_cluster *c, struct h_node *n)
{
    struct raft_boot b;
    memset(&b, 0, sizeof(b));
    b.hs = n->disk.hs;
    b.snap = n->disk.snap;
    b.snap_size = n->disk.snap_size;
    b.entries = n->disk.ents;
    b.n_entries = n->disk.n;
    b.applied = n->sm.applied;
    if (b.applied < b.snap.index) b.applied = b.snap.index;
    assert_int_equal(raft_new(&n->opts, &b, &n->r), 0);
    (void)c;
}

void h_init(struct h_cluster *c, int count, int voters, const struct raft_options *opts)
{
    memset(c, 0, sizeof(*c));
    assert_true(count < H_MAX && voters <= count);
    c->snap_bytes = 100;
    for (raft_id id = 1; id <= (raft_id)count; id++) {
        struct h_node *n = &c->nodes[id];
        n->id = id;
        n->exists = true;
        if (opts)
            n->opts = *opts;
        else
            raft_options_default(&n->opts);
        n->opts.id = id;
        n->opts.seed = id * 7919;
        if ((int)id <= voters) {
            n->disk.snap.config.n_voters = (uint32_t)voters;
            for (int v = 0; v < voters; v++) n->disk.snap.config.voters[v] = (raft_id)v + 1;
        }
        start(c, n);
    }
}

void h_free(struct h_cluster *c)
{
    for (raft_id id = 1; id < H_MAX; id++) {
        struct h_node *n = &c->nodes[id];
        if (!n->exists) continue;
        raft_free(n->r);
        for (uint32_t i = 0; i < n->n_pending; i++) batch_free(&n->pending[i]);
        free(n->pending);
        disk_free(&n->disk);
        free(n->sm.hash_at);
    }
    h_drop_all(c);
    free(c->q);
    memset(c, 0, sizeof(*c));
}

void h_boot(struct h_cluster *c, raft_id id, const struct raft_boot *b)
{
    struct h_node *n = node(c, id);
    raft_free(n->r);
    n->r = NULL;
    disk_free(&n->disk);
    n->disk.hs = b->hs;
    n->disk.snap = b->snap;
    n->disk.snap_size = b->snap_size;
    disk_append(&n->disk, b->entries, b->n_entries);
    free(n->sm.hash_at);
    memset(&n->sm, 0, sizeof(n->sm));
    n->sm.applied = b->applied;
    start(c, n);
}

void h_crash(struct h_cluster *c, raft_id id)
{
    struct h_node *n = node(c, id);
    raft_free(n->r);
    n->r = NULL;
    /* Whatever was not durable is lost. */
    for (uint32_t i = 0; i < n->n_pending; i++) batch_free(&n->pending[i]);
    n->n_pending = 0;
}

void h_restart(struct h_cluster *c, raft_id id)
{
    struct h_node *n = node(c, id);
    assert_null(n->r);
    start(c, n);
}

/* --- network -----------------------------------------------------------------------------------
 */

static bool should_drop(struct h_cluster *c, struct raft_msg *m)
{
    if (m->to >= H_MAX || !c->nodes[m->to].exists || !c->nodes[m->to].r) return true;
    if (c->cut[m->from][m->to]) return true;
    if (c->electing && m->from != c->electing &&
        (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE))
        return true;
    return c->filter && c->filter(m, c->filter_arg);
}

void h_trim_entries(struct raft_msg *m, uint32_t n)
{
    if (n >= m->n_entries) return;
    for (uint32_t i = n; i < m->n_entries; i++) free(m->entries[i].data);
    m->n_entries = n;
}

bool h_deliver_one(struct h_cluster *c)
{
    if (c->q_head == c->q_n) return false;
    struct raft_msg m = c->q[c->q_head++];
    if (c->q_head == c->q_n) c->q_head = c->q_n = 0;
    if (should_drop(c, &m)) {
        c->dropped++;
    } else {
        if (trace_on())
            fprintf(stderr,
                    "  %llu -> %llu %s term=%llu idx=%llu lt=%llu n=%u commit=%llu rej=%d\n",
                    (unsigned long long)m.from, (unsigned long long)m.to,
                    raft_msg_type_name(m.type), (unsigned long long)m.term,
                    (unsigned long long)m.index, (unsigned long long)m.log_term, m.n_entries,
                    (unsigned long long)m.commit, m.reject);
        if (trace_on() && (m.type == RAFT_MSG_SNAPSHOT || m.type == RAFT_MSG_SNAPSHOT_RESP))
            fprintf(stderr, "     snap %llu/%llu size %llu offset %llu len %u done %d\n",
                    (unsigned long long)m.snap.index, (unsigned long long)m.snap.term,
                    (unsigned long long)m.snap_size, (unsigned long long)m.offset, m.len, m.done);
        c->delivered++;
        assert_int_equal(raft_step(c->nodes[m.to].r, &m), 0);
        h_update(c, m.to);
    }
    raft_msg_release(&m);
    return true;
}

bool h_deliver_random(struct h_cluster *c, uint64_t (*pick)(void *g, uint64_t n), void *g,
                      unsigned drop_pct, unsigned dup_pct)
{
    size_t n = c->q_n - c->q_head;
    if (!n) return false;
    size_t i = c->q_head + (size_t)pick(g, n);
    struct raft_msg tmp = c->q[c->q_head];
    c->q[c->q_head] = c->q[i];
    c->q[i] = tmp;
    if (pick(g, 100) < drop_pct) {
        raft_msg_release(&c->q[c->q_head]);
        if (++c->q_head == c->q_n) c->q_head = c->q_n = 0;
        c->dropped++;
        return true;
    }
    if (pick(g, 100) < dup_pct) {
        struct raft_msg copy;
        assert_int_equal(raft_msg_copy(&copy, &c->q[c->q_head]), 0);
        struct h_node *from = &c->nodes[copy.from];
        enqueue(c, &copy, from);
        raft_msg_release(&copy);
    }
    return h_deliver_one(c);
}

size_t h_settle(struct h_cluster *c)
{
    size_t n = 0;
    h_update_all(c);
    while (h_deliver_one(c)) {
        n++;
        assert_true(n < 1000000);
    }
    return n;
}

void h_drop_all(struct h_cluster *c)
{
    for (size_t i = c->q_head; i < c->q_n; i++) raft_msg_release(&c->q[i]);
    c->q_head = c->q_n = 0;
}

void h_tick(struct h_cluster *c, raft_id id)
{
    raft_tick(h_raft(c, id));
    h_update(c, id);
}

void h_ticks(struct h_cluster *c, int n)
{
    for (int i = 0; i < n; i++) {
        for (raft_id id = 1; id < H_MAX; id++)
            if (c->nodes[id].exists && c->nodes[id].r) h_tick(c, id);
        h_settle(c);
    }
}

void h_elect(struct h_cluster *c, raft_id id)
{
    c->electing = id;
    for (int i = 0; i < 1000; i++) {
        h_ticks(c, 1);
        struct raft_status st;
        raft_status(h_raft(c, id), &st);
        if (st.role == RAFT_LEADER) {
            c->electing = RAFT_NONE;
            h_settle(c);
            return;
        }
    }
    fail_msg("node %llu did not become leader", (unsigned long long)id);
}

raft_id h_leader(struct h_cluster *c)
{
    raft_id best = 0;
    uint64_t term = 0;
    for (raft_id id = 1; id < H_MAX; id++) {
        if (!c->nodes[id].exists || !c->nodes[id].r) continue;
        struct raft_status st;
        raft_status(c->nodes[id].r, &st);
        if (st.role == RAFT_LEADER && st.term >= term) {
            best = id;
            term = st.term;
        }
    }
    return best;
}

void h_cut(struct h_cluster *c, raft_id a, raft_id b, bool cut)
{
    c->cut[a][b] = c->cut[b][a] = cut;
}

void h_isolate(struct h_cluster *c, raft_id id, bool cut)
{
    for (raft_id o = 1; o < H_MAX; o++)
        if (o != id) h_cut(c, id, o, cut);
}

uint64_t h_propose(struct h_cluster *c, raft_id id, const char *s)
{
    uint64_t idx = 0;
    assert_int_equal(raft_propose(h_raft(c, id), s, (uint32_t)strlen(s), &idx), 0);
    h_settle(c);
    return idx;
}

bool h_snapshot(struct h_cluster *c, raft_id id, uint64_t compact_to)
{
    struct h_node *n = node(c, id);
    struct raft_snapshot_meta meta;
    if (raft_snapshot_meta_at(n->r, n->sm.applied, &meta)) return false;
    uint64_t old = n->disk.snap.index;
    free(n->disk.snap_data);
    n->disk.snap_data = sm_serialize(&n->sm, c->snap_bytes);
    n->disk.snap_size = c->snap_bytes;
    n->disk.snap = meta;
    disk_trim(&n->disk, meta.index, old);
    assert_int_equal(raft_snapshot_taken(n->r, &meta, c->snap_bytes), 0);
    if (compact_to) assert_int_equal(raft_compact(n->r, compact_to), 0);
    h_update(c, id);
    return true;
}

uint64_t h_term_at(struct h_cluster *c, raft_id id, uint64_t index)
{
    uint64_t t = 0;
    raft_term_at(h_raft(c, id), index, &t);
    return t;
}

struct raft_status *h_status(struct h_cluster *c, raft_id id)
{
    /* A ring, so several calls in one expression (comparing two members) each get their own
     * snapshot of the status. */
    struct raft_status *st = &c->st_ring[c->st_next++ % 8];
    raft_status(h_raft(c, id), st);
    return st;
}

void h_check_safety(struct h_cluster *c)
{
    for (raft_id a = 1; a < H_MAX; a++) {
        if (!c->nodes[a].exists) continue;
        const struct h_sm *sa = &c->nodes[a].sm;
        for (raft_id b = a + 1; b < H_MAX; b++) {
            if (!c->nodes[b].exists) continue;
            const struct h_sm *sb = &c->nodes[b].sm;
            /* State Machine Safety: the same index applied gives the same state. */
            uint64_t hi = sa->applied < sb->applied ? sa->applied : sb->applied;
            for (uint64_t i = 1; i <= hi && i < sa->cap && i < sb->cap; i++)
                if (sa->hash_at[i] && sb->hash_at[i] && sa->hash_at[i] != sb->hash_at[i])
                    fail_msg("state machines of %llu and %llu differ at index %llu",
                             (unsigned long long)a, (unsigned long long)b, (unsigned long long)i);
            /* Committed prefixes agree (Log Matching / Leader Completeness). */
            if (!c->nodes[a].r || !c->nodes[b].r) continue;
            struct raft_status x, y;
            raft_status(c->nodes[a].r, &x);
            raft_status(c->nodes[b].r, &y);
            uint64_t lo = x.first_index > y.first_index ? x.first_index : y.first_index;
            uint64_t top = x.commit < y.commit ? x.commit : y.commit;
            for (uint64_t i = lo; i <= top; i++)
                assert_int_equal(h_term_at(c, a, i), h_term_at(c, b, i));
        }
    }
}
