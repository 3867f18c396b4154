/* sim_disk.c — concur-sim's virtual disks: ordered write batches that become durable later. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "util/err.h"

static bool batch_empty(const struct batch *b)
{
    return !b->has_hs && b->n_chunks == 0 && !b->snap_ready && b->n_entries == 0 && !b->report;
}

void sim__batch_free(struct batch *b)
{
    if (!b) return;
    for (uint32_t i = 0; i < b->n_chunks; i++) free(b->chunks[i].data);
    free(b->chunks);
    for (uint32_t i = 0; i < b->n_entries; i++) free(b->entries[i].data);
    free(b->entries);
    for (uint32_t i = 0; i < b->n_after; i++) raft_msg_release(&b->after[i]);
    free(b->after);
    free(b);
}

static int copy_entries(struct batch *b, const struct raft_update *u)
{
    if (u->n_entries == 0) return 0;
    b->entries = calloc(u->n_entries, sizeof *b->entries);
    if (!b->entries) return CC_ENOMEM;
    for (uint32_t i = 0; i < u->n_entries; i++) {
        struct raft_entry e = u->entries[i];
        e.data = NULL;
        if (e.len) {
            e.data = malloc(e.len);
            if (!e.data) return CC_ENOMEM;
            memcpy(e.data, u->entries[i].data, e.len);
        }
        b->entries[b->n_entries++] = e;
    }
    return 0;
}

/* Chunks were bounds-checked by the caller (sim_node.c) against the snapshot size limit. */
static int copy_chunks(struct batch *b, const struct raft_update *u)
{
    if (u->n_snap_chunks == 0) return 0;
    b->chunks = calloc(u->n_snap_chunks, sizeof *b->chunks);
    if (!b->chunks) return CC_ENOMEM;
    for (uint32_t i = 0; i < u->n_snap_chunks; i++) {
        const struct raft_snap_chunk *c = &u->snap_chunks[i];
        struct batch_chunk *d = &b->chunks[b->n_chunks];
        d->index = c->meta.index;
        d->size = c->snap_size;
        d->offset = c->offset;
        d->len = c->len;
        if (c->len) {
            d->data = malloc(c->len);
            if (!d->data) return CC_ENOMEM;
            memcpy(d->data, c->data, c->len);
        }
        b->n_chunks++;
    }
    return 0;
}

static int copy_after(struct batch *b, const struct raft_update *u)
{
    if (u->n_msgs_after_persist == 0) return 0;
    b->after = calloc(u->n_msgs_after_persist, sizeof *b->after);
    if (!b->after) return CC_ENOMEM;
    for (uint32_t i = 0; i < u->n_msgs_after_persist; i++) {
        int rc = raft_msg_copy(&b->after[b->n_after], &u->msgs_after_persist[i]);
        if (rc) return rc;
        b->n_after++;
    }
    return 0;
}

/* Copies the durable work of update u (step 1 of the contract) and its msgs_after_persist into a
 * new batch (*out, owned by the caller). Returns 0 or CC_ENOMEM. */
int sim__batch_new(struct sim *s, const struct raft_update *u, struct batch **out)
{
    struct batch *b = calloc(1, sizeof *b);
    if (!b) return CC_ENOMEM;
    b->has_hs = u->hs_changed;
    b->hs = u->hs;
    b->snap_ready = u->snapshot_ready;
    b->snap = u->snapshot;
    b->snap_size = u->snapshot_size;
    int rc = copy_chunks(b, u);
    if (!rc) rc = copy_entries(b, u);
    if (!rc) rc = copy_after(b, u);
    if (rc) {
        sim__batch_free(b);
        return rc;
    }
    b->report = u->persist_report;
    b->p_index = u->persist_index;
    b->p_term = u->persist_term;
    *out = b;
    return 0;
}

static void release_after(struct sim *s, struct node *n, struct batch *b)
{
    for (uint32_t i = 0; i < b->n_after; i++) sim__node_send(s, n, &b->after[i], true);
}

/* Queues b behind the node's earlier batches; it becomes durable after a random delay, never
 * before them (the contract's "durable in the order raft_get_update returned them"). A batch with
 * nothing to write only orders its messages behind the earlier batches. Takes ownership of b. */
void sim__disk_enqueue(struct sim *s, struct node *n, struct batch *b)
{
    if (batch_empty(b) && n->q_len == 0) {
        release_after(s, n, b);
        sim__batch_free(b);
        return;
    }
    if (n->q_len >= SIM_MAX_DISK_QUEUE) {
        sim__fail(s,
                  "Bounded resources: n%" PRIu64 " has %u write batches pending (its core produces "
                  "updates far faster than a disk completes them: a message storm?)",
                  n->id, n->q_len);
        sim__batch_free(b);
        return;
    }
    uint64_t delay = 0;
    if (!batch_empty(b)) {
        delay = rng_range(&s->rng, 1, s->prof.disk_max);
        if (rng_chance(&s->rng, s->prof.disk_slow_ppm, 1000000))
            delay = rng_range(&s->rng, s->prof.disk_max, 20 * SIM_TICK);
    }
    b->durable_at = s->now + delay;
    if (b->durable_at < n->q_last) b->durable_at = n->q_last;
    n->q_last = b->durable_at;
    b->next = NULL;
    if (n->q_tail)
        n->q_tail->next = b;
    else
        n->q_head = b;
    n->q_tail = b;
    n->q_len++;
    sim__schedule(s, b->durable_at, EV_DISK, (uint32_t)n->id, 0, NULL);
}

static void in_snap_free(struct in_snap *in)
{
    free(in->data);
    free(in->have);
    memset(in, 0, sizeof *in);
}

static void write_chunk(struct sim *s, struct node *n, const struct batch_chunk *c)
{
    struct in_snap *in = &n->d_in;
    if (in->index != c->index || in->size != c->size || c->offset == 0) { /* a new file */
        in_snap_free(in);
        in->data = malloc(c->size ? c->size : 1);
        in->have = calloc(c->size ? c->size : 1, 1);
        if (!in->data || !in->have) {
            in_snap_free(in);
            sim__fail(s, "simulator: out of memory");
            return;
        }
        in->index = c->index;
        in->size = c->size;
    }
    memcpy(in->data + c->offset, c->data, c->len);
    for (uint32_t i = 0; i < c->len; i++) {
        if (!in->have[c->offset + i]) in->filled++;
        in->have[c->offset + i] = 1;
    }
}

/* Installs the received snapshot: it must be complete and intact, must not move the state
 * machine backwards, and must equal the state every other member had at that index. The log
 * follows the paper's InstallSnapshot rule: entries after the snapshot survive only when the log
 * held the snapshot's last entry. */
static void install(struct sim *s, struct node *n, const struct batch *b)
{
    struct in_snap *in = &n->d_in;
    if (in->index != b->snap.index || in->size != b->snap_size || in->filled != in->size) {
        sim__fail(s,
                  "contract: n%" PRIu64 " snapshot_ready for %" PRIu64 " (%" PRIu64
                  " bytes) but only %" PRIu64 " bytes of snapshot %" PRIu64 " were written",
                  n->id, b->snap.index, b->snap_size, in->filled, in->index);
        return;
    }
    struct fsm f;
    if (sim__fsm_parse(in->data, in->size, &f) || f.applied != b->snap.index) {
        sim__fail(s, "snapshot %" PRIu64 " installed on n%" PRIu64 " is corrupt (chunks misplaced)",
                  b->snap.index, n->id);
        return;
    }
    sim__check_install(s, n, &f);
    free(n->d_snap.data);
    n->d_snap.meta = b->snap;
    n->d_snap.size = in->size;
    n->d_snap.data = in->data;
    in->data = NULL;
    in_snap_free(in);
    const struct raft_entry *e = sim__dlog_get(&n->d_log, b->snap.index);
    if (e && e->term == b->snap.term)
        sim__dlog_compact(&n->d_log, b->snap.index);
    else
        sim__dlog_reset(&n->d_log, b->snap.index);
    n->fsm = f;
    n->d_fsm = f;
    s->st.snapshots_installed++;
    sim__trace(s, "n%" PRIu64 " installed snapshot %" PRIu64 "/%" PRIu64 " (%" PRIu64 " bytes)",
               n->id, b->snap.index, b->snap.term, n->d_snap.size);
}

static void make_durable(struct sim *s, struct node *n, const struct batch *b)
{
    for (uint32_t i = 0; i < b->n_chunks; i++) write_chunk(s, n, &b->chunks[i]);
    if (b->snap_ready) install(s, n, b);
    if (b->n_entries) {
        sim__dlog_truncate(&n->d_log, b->entries[0].index);
        for (uint32_t i = 0; i < b->n_entries; i++) {
            if (b->entries[i].index <= n->d_log.base) continue; /* already in the snapshot */
            if (b->entries[i].index != sim__dlog_last(&n->d_log) + 1) {
                sim__fail(s, "contract: n%" PRIu64 " entry %" PRIu64 " leaves a gap after %" PRIu64,
                          n->id, b->entries[i].index, sim__dlog_last(&n->d_log));
                return;
            }
            if (sim__dlog_append(&n->d_log, &b->entries[i])) {
                sim__fail(s, "simulator: out of memory");
                return;
            }
        }
    }
    if (b->has_hs) n->d_hs = b->hs;
}

/* EV_DISK: every batch whose time has come becomes durable, in order. For each: write it, let
 * its messages go, tell the core (raft_persisted) and collect what the core does next. */
void sim__disk_complete(struct sim *s, struct node *n)
{
    while (n->state == NODE_UP && n->q_head && n->q_head->durable_at <= s->now && !s->failed) {
        struct batch *b = n->q_head;
        n->q_head = b->next;
        if (!n->q_head) n->q_tail = NULL;
        n->q_len--;
        make_durable(s, n, b);
        release_after(s, n, b);
        if (b->report) raft_persisted(n->r, b->p_index, b->p_term);
        sim__batch_free(b);
        sim__node_drain(s, n);
    }
}

void sim__disk_drop_pending(struct node *n)
{
    while (n->q_head) {
        struct batch *b = n->q_head;
        n->q_head = b->next;
        sim__batch_free(b);
    }
    n->q_tail = NULL;
    n->q_len = 0;
    n->q_last = 0;
}

/* Whether the durable state holds index (with this term, unless term is 0). */
bool sim__disk_covers(const struct node *n, uint64_t index, uint64_t term)
{
    if (index == 0) return true;
    if (index < n->d_snap.meta.index) return true;
    if (index == n->d_snap.meta.index) return term == 0 || term == n->d_snap.meta.term;
    const struct raft_entry *e = sim__dlog_get(&n->d_log, index);
    return e && (term == 0 || e->term == term);
}

void sim__disk_free(struct node *n)
{
    sim__disk_drop_pending(n);
    sim__dlog_free(&n->d_log);
    free(n->d_snap.data);
    n->d_snap.data = NULL;
    in_snap_free(&n->d_in);
}
