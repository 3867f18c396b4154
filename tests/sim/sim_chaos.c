/* sim_chaos.c — concur-sim's actors: fault injection, clients, operator, snapshots, reads. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "util/buf.h"
#include "util/err.h"

#define VALUE_HEADER 16
#define VALUE_MAX    128

/* --- Helpers --------------------------------------------------------------------------------- */

/* A random node in one of the given states (bit mask of 1 << state), or NULL. */
static struct node *random_node(struct sim *s, unsigned states)
{
    uint32_t ids[SIM_MAX_SLOTS], n = 0;
    for (uint32_t id = 1; id <= s->n_slots; id++)
        if (states & (1u << s->nodes[id].state)) ids[n++] = id;
    return n ? &s->nodes[ids[rng_below(&s->rng, n)]] : NULL;
}

/* A client value's bytes are a function of its ID, so retries propose the same bytes and an
 * applied entry can be checked for corruption. */
static uint32_t value_bytes(uint64_t id, uint8_t *out)
{
    uint64_t h = sim__mix(id, 0x5157);
    uint32_t len = VALUE_HEADER + (uint32_t)(h % (VALUE_MAX - VALUE_HEADER + 1));
    put_u64le(out, id);
    put_u64le(out + 8, h);
    for (uint32_t i = VALUE_HEADER; i < len; i++)
        out[i] = (uint8_t)(h >> (8 * (i % 8))) ^ (uint8_t)i;
    return len;
}

static void config_str(const struct raft_config *c, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "voters[");
    for (uint32_t i = 0; i < c->n_voters && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%" PRIu64, i ? "," : "", c->voters[i]);
    if (c->n_voters_out && o < len) o += (size_t)snprintf(buf + o, len - o, "] out[");
    for (uint32_t i = 0; i < c->n_voters_out && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%" PRIu64, i ? "," : "", c->voters_out[i]);
    if (o < len) o += (size_t)snprintf(buf + o, len - o, "] learners[");
    for (uint32_t i = 0; i < c->n_learners && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%" PRIu64, i ? "," : "", c->learners[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* --- Committed entries seen for the first time ----------------------------------------------- */

static void on_value(struct sim *s, const struct raft_entry *e)
{
    uint8_t want[VALUE_MAX];
    if (e->len < VALUE_HEADER) {
        sim__fail(s, "entry %" PRIu64 " holds %u bytes, no client value", e->index, e->len);
        return;
    }
    uint64_t id = get_u64le(e->data);
    if (id == 0 || id > s->n_values || value_bytes(id, want) != e->len ||
        memcmp(want, e->data, e->len) != 0) {
        sim__fail(s, "entry %" PRIu64 " holds corrupted client data", e->index);
        return;
    }
    struct value *v = &s->values[id];
    if (v->acked_index) return; /* a retry committed twice: the state machine dedupes */
    v->acked_index = e->index;
    s->n_acked++;
    sim__trace(s, "value %" PRIu64 " committed at %" PRIu64, id, e->index);
}

/* The operator shuts down members that a committed configuration no longer names (and that were
 * not added by a later entry): a removed member is decommissioned, as in production. */
static void on_config(struct sim *s, const struct raft_entry *e)
{
    struct raft_config cfg;
    const uint8_t *ctx;
    uint32_t ctx_len;
    char buf[200];
    if (raft_conf_entry_decode(e->data, e->len, &cfg, &ctx, &ctx_len)) {
        sim__fail(s, "CONF entry %" PRIu64 " does not decode", e->index);
        return;
    }
    config_str(&cfg, buf, sizeof buf);
    sim__trace(s, "config %s committed at %" PRIu64, buf, e->index);
    for (uint32_t id = 1; id <= s->n_slots; id++) {
        struct node *n = &s->nodes[id];
        if ((n->state == NODE_UP || n->state == NODE_DOWN) && n->added_at < e->index &&
            !raft_config_contains(&cfg, id))
            sim__schedule(s, s->now + rng_range(&s->rng, 0, 30 * SIM_TICK), EV_RETIRE, id, 0, NULL);
    }
}

void sim__on_first_apply(struct sim *s, const struct raft_entry *e)
{
    if (e->type == RAFT_ENTRY_NORMAL)
        on_value(s, e);
    else if (e->type == RAFT_ENTRY_CONF)
        on_config(s, e);
}

/* --- Clients --------------------------------------------------------------------------------- */

static int grow_values(struct sim *s)
{
    if (s->n_values + 1 < s->cap_values) return 0;
    uint64_t cap = s->cap_values ? s->cap_values * 2 : 256;
    if (cap > SIM_MAX_INDEX) return CC_ETOOBIG;
    struct value *v = realloc(s->values, cap * sizeof *v);
    if (!v) return CC_ENOMEM;
    s->values = v;
    s->cap_values = cap;
    return 0;
}

/* Each client has at most one value outstanding. It proposes through a random member (followers
 * forward to the leader) and retries the same value until some member applies it: a forwarded
 * proposal may be lost, and retries are idempotent because values are unique. */
void sim__client_event(struct sim *s, uint32_t ci)
{
    struct client *c = &s->clients[ci];
    uint64_t retry = 3ull * s->prof.election_tick * SIM_TICK;
    if (c->value && s->values[c->value].acked_index) c->value = 0;
    if (!c->value) {
        if (s->phase != 1) return; /* the healed phase only finishes outstanding values */
        if (grow_values(s)) {
            sim__fail(s, "simulator limit: too many values");
            return;
        }
        c->value = ++s->n_values;
        s->values[c->value] = (struct value){.client = ci};
        c->last_try = 0;
        c->tries = 0;
        s->st.values++;
    }
    if (c->tries == 0 || s->now - c->last_try >= retry) {
        struct node *n = random_node(s, 1u << NODE_UP);
        if (n) {
            uint8_t data[VALUE_MAX];
            uint32_t len = value_bytes(c->value, data);
            uint64_t idx = 0;
            int rc = raft_propose(n->r, data, len, &idx);
            sim__trace(s, "client %u proposes value %" PRIu64 " via n%" PRIu64 ": %s idx=%" PRIu64,
                       ci, c->value, n->id, cc_errname(rc), idx);
            c->tries++;
            c->last_try = rc ? s->now - retry + SIM_TICK : s->now;
            sim__node_drain(s, n);
        }
    }
    sim__schedule(s, s->now + rng_range(&s->rng, 1, (uint64_t)s->prof.client_gap * SIM_TICK),
                  EV_CLIENT, 0, ci, NULL);
}

/* --- Operator: membership and leadership ----------------------------------------------------- */

struct plan {
    struct raft_conf_change ch[3];
    uint32_t n;
    uint32_t new_ids;
};

static raft_id pick(struct sim *s, const raft_id *ids, uint32_t n, raft_id except)
{
    raft_id cand[RAFT_MAX_NODES];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] != except) cand[k++] = ids[i];
    return k ? cand[rng_below(&s->rng, k)] : RAFT_NONE;
}

static void add_change(struct plan *p, uint8_t op, raft_id id)
{
    if (id == RAFT_NONE || p->n == 3) return;
    for (uint32_t i = 0; i < p->n; i++)
        if (p->ch[i].id == id) return;
    p->ch[p->n++] = (struct raft_conf_change){.op = op, .id = id};
}

/* Draws a membership change that keeps 2..nodes+2 voters: add a learner or voter, promote,
 * demote, remove, or a joint change of two (replace a voter, promote one and remove another). */
static void plan_change(struct sim *s, const struct raft_config *c, raft_id leader, struct plan *p)
{
    raft_id next = s->n_slots + 1;
    bool can_new = next <= s->prof.max_slots;
    bool can_add = c->n_voters < s->p->nodes + 2;
    bool can_del = c->n_voters > 2;
    raft_id learner = pick(s, c->learners, c->n_learners, RAFT_NONE);
    raft_id victim = pick(s, c->voters, c->n_voters, rng_chance(&s->rng, 1, 2) ? leader : 0);
    memset(p, 0, sizeof *p);
    switch (rng_below(&s->rng, 7)) {
    case 0:
        if (can_new) add_change(p, RAFT_CONF_ADD_LEARNER, next);
        break;
    case 1:
        if (can_new && can_add) add_change(p, RAFT_CONF_ADD_VOTER, next);
        break;
    case 2:
        if (can_add)
            add_change(p, rng_chance(&s->rng, 1, 2) ? RAFT_CONF_PROMOTE : RAFT_CONF_ADD_VOTER,
                       learner);
        break;
    case 3:
        if (can_del) add_change(p, RAFT_CONF_REMOVE, victim);
        break;
    case 4:
        add_change(p, RAFT_CONF_REMOVE, learner);
        break;
    case 5:
        if (can_del) add_change(p, RAFT_CONF_ADD_LEARNER, victim);
        break;
    default: /* joint consensus */
        switch (rng_below(&s->rng, 3)) {
        case 0: /* replace a voter */
            if (!can_new || victim == RAFT_NONE) break;
            add_change(p, RAFT_CONF_ADD_VOTER, next);
            add_change(p, RAFT_CONF_REMOVE, victim);
            break;
        case 1: /* promote a learner, remove a voter */
            if (learner == RAFT_NONE || victim == RAFT_NONE) break;
            add_change(p, RAFT_CONF_PROMOTE, learner);
            add_change(p, RAFT_CONF_REMOVE, victim);
            break;
        default: /* two new voters */
            if (next + 1 > s->prof.max_slots || c->n_voters + 2 > s->p->nodes + 2) break;
            add_change(p, RAFT_CONF_ADD_VOTER, next);
            add_change(p, RAFT_CONF_ADD_VOTER, next + 1);
            break;
        }
        break;
    }
    for (uint32_t i = 0; i < p->n; i++)
        if (p->ch[i].id > s->n_slots) p->new_ids++;
}

static void membership(struct sim *s)
{
    struct node *l = sim__leader(s);
    if (!l) return;
    struct raft_status st;
    raft_status(l->r, &st);
    struct plan p;
    plan_change(s, &st.config, l->id, &p);
    if (p.n == 0) return;
    static const char *const names[] = {"?", "add-voter", "add-learner", "remove", "promote"};
    char desc[120];
    size_t o = 0;
    for (uint32_t i = 0; i < p.n && o < sizeof desc; i++)
        o += (size_t)snprintf(desc + o, sizeof desc - o, " %s:n%" PRIu64, names[p.ch[i].op],
                              p.ch[i].id);
    uint8_t ctx[8];
    put_u64le(ctx, s->step);
    uint64_t idx = 0;
    int rc = raft_propose_conf(l->r, p.ch, p.n, ctx, sizeof ctx, &idx);
    sim__trace(s, "operator via n%" PRIu64 ":%s -> %s idx=%" PRIu64, l->id, desc, cc_errname(rc),
               idx);
    if (rc == 0) {
        s->st.conf_changes++;
        for (uint32_t i = 0; i < p.n; i++)
            if (p.ch[i].id > s->n_slots && sim__node_create(s, p.ch[i].id, idx, false)) return;
    }
    sim__node_drain(s, l);
}

/* Leadership transfer, asked of the leader or of a follower that forwards it (§3.10). */
static void transfer(struct sim *s)
{
    struct node *l = sim__leader(s);
    if (!l) return;
    struct raft_status st;
    raft_status(l->r, &st);
    raft_id to = pick(s, st.config.voters, st.config.n_voters, l->id);
    if (to == RAFT_NONE) return;
    struct node *via = l;
    if (rng_chance(&s->rng, 1, 3)) {
        struct node *f = random_node(s, 1u << NODE_UP);
        if (f) via = f;
    }
    int rc = raft_transfer_leadership(via->r, to);
    sim__trace(s, "transfer leadership n%" PRIu64 " -> n%" PRIu64 " via n%" PRIu64 ": %s", l->id,
               to, via->id, cc_errname(rc));
    if (rc == 0) s->st.transfers++;
    sim__node_drain(s, via);
}

/* --- Snapshots and reads --------------------------------------------------------------------- */

/* A node snapshots its state machine at its applied index (durably, together with the flushed
 * state machine) and compacts its log up to a random point at or below it. */
static void snapshot(struct sim *s)
{
    struct node *n = random_node(s, 1u << NODE_UP);
    if (!n || n->fsm.applied <= n->d_snap.meta.index) return;
    for (const struct batch *b = n->q_head; b; b = b->next)
        if (b->snap_ready) return; /* a received snapshot is being installed */
    struct raft_snapshot_meta meta;
    int rc = raft_snapshot_meta_at(n->r, n->fsm.applied, &meta);
    if (rc) {
        sim__trace(s, "n%" PRIu64 " snapshot at %" PRIu64 " refused: %s", n->id, n->fsm.applied,
                   cc_errname(rc));
        return;
    }
    if (meta.index != n->fsm.applied) {
        sim__fail(
            s, "contract: raft_snapshot_meta_at(%" PRIu64 ") on n%" PRIu64 " names index %" PRIu64,
            n->fsm.applied, n->id, meta.index);
        return;
    }
    uint8_t *data;
    uint64_t size;
    if (sim__fsm_image(&n->fsm, &data, &size)) {
        sim__fail(s, "simulator: out of memory");
        return;
    }
    free(n->d_snap.data);
    n->d_snap.meta = meta;
    n->d_snap.size = size;
    n->d_snap.data = data;
    n->d_fsm = n->fsm;
    rc = raft_snapshot_taken(n->r, &meta, size);
    if (rc) {
        struct raft_status st;
        raft_status(n->r, &st);
        sim__fail(s,
                  "contract: raft_snapshot_taken(%" PRIu64 "/%" PRIu64 ") on n%" PRIu64
                  " (applied %" PRIu64 ", snapshot %" PRIu64 ", log %" PRIu64 "..%" PRIu64
                  ") after raft_snapshot_meta_at accepted it: %s",
                  meta.index, meta.term, n->id, st.applied, st.snap_index, st.first_index,
                  st.last_index, cc_errname(rc));
        return;
    }
    uint64_t keep = rng_chance(&s->rng, 1, 3) ? 0 : rng_range(&s->rng, 0, 40);
    uint64_t upto = meta.index > keep ? meta.index - keep : 0;
    struct raft_status st;
    raft_status(n->r, &st);
    if (upto >= st.first_index) { /* below it the core holds nothing to discard */
        rc = raft_compact(n->r, upto);
        if (rc) {
            sim__fail(s, "contract: raft_compact(%" PRIu64 ") on n%" PRIu64 ": %s", upto, n->id,
                      cc_errname(rc));
            return;
        }
    }
    sim__dlog_compact(&n->d_log, upto);
    s->st.snapshots_taken++;
    sim__trace(s,
               "n%" PRIu64 " took snapshot %" PRIu64 "/%" PRIu64 " (%" PRIu64
               " bytes), compacted to %" PRIu64,
               n->id, meta.index, meta.term, size, upto);
    sim__node_drain(s, n);
}

/* A linearizable read must get an index at or above everything committed before it was asked. */
static void read_index(struct sim *s)
{
    struct node *n = random_node(s, 1u << NODE_UP);
    if (!n || n->n_reads >= SIM_MAX_READS) return;
    uint64_t ctx = ++s->read_seq;
    int rc = raft_read_index(n->r, ctx);
    sim__trace(s, "n%" PRIu64 " read %" PRIu64 " requested (committed %" PRIu64 "): %s", n->id, ctx,
               s->ck.cmax, cc_errname(rc));
    if (rc == 0) n->reads[n->n_reads++] = (struct sim_read){.ctx = ctx, .min_index = s->ck.cmax};
    sim__node_drain(s, n);
}

/* --- Fault injection ------------------------------------------------------------------------- */

static void crash(struct sim *s)
{
    struct node *n = random_node(s, 1u << NODE_UP);
    if (!n) return;
    sim__node_crash(s, n, false);
    s->st.crashes++;
    sim__schedule(s, s->now + rng_range(&s->rng, 1, 80) * SIM_TICK, EV_RESTART, (uint32_t)n->id, 0,
                  NULL);
}

/* Storms: loss, duplication and slow messages rise for a while, or calm down to the profile. */
static void weather(struct sim *s)
{
    if (rng_chance(&s->rng, 1, 2)) {
        s->net.drop_ppm = s->prof.drop_ppm;
        s->net.dup_ppm = s->prof.dup_ppm;
        s->net.slow_ppm = s->prof.slow_ppm;
    } else {
        s->net.drop_ppm = (uint32_t)rng_range(&s->rng, 0, 300000);
        s->net.dup_ppm = (uint32_t)rng_range(&s->rng, 0, 100000);
        s->net.slow_ppm = (uint32_t)rng_range(&s->rng, 0, 100000);
    }
    sim__trace(s, "network loss=%u dup=%u slow=%u ppm", s->net.drop_ppm, s->net.dup_ppm,
               s->net.slow_ppm);
}

/* EV_CHAOS: one fault or operator action, drawn with the run's weights, then the next one. */
void sim__chaos_event(struct sim *s)
{
    if (s->phase != 1) return;
    const struct profile *p = &s->prof;
    uint32_t w[] = {p->w_crash, p->w_part, p->w_heal, p->w_net,
                    p->w_conf,  p->w_xfer, p->w_snap, p->w_read};
    uint32_t total = 0;
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) total += w[i];
    uint64_t x = rng_below(&s->rng, total);
    size_t k = 0;
    while (x >= w[k]) x -= w[k++];
    switch (k) {
    case 0:
        crash(s);
        break;
    case 1:
        sim__net_partition(s);
        break;
    case 2:
        sim__net_heal(s);
        break;
    case 3:
        weather(s);
        break;
    case 4:
        membership(s);
        break;
    case 5:
        transfer(s);
        break;
    case 6:
        snapshot(s);
        break;
    default:
        read_index(s);
        break;
    }
    sim__schedule(s, s->now + rng_range(&s->rng, 1, (uint64_t)p->chaos_gap * SIM_TICK), EV_CHAOS, 0,
                  0, NULL);
}
