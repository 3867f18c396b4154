/* sim_run.c — one concur-sim run: profile, fault phase, heal, liveness phase, final checks. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "util/err.h"

static uint32_t one_of(struct sim *s, const uint32_t *v, size_t n)
{
    return v[rng_below(&s->rng, n)];
}

/* Every run draws its own regime (timeouts, flow-control limits, fault rates and the mix of fault
 * actions) from the seed, so a seed set covers calm and stormy clusters alike. */
static void pick_profile(struct sim *s)
{
    static const uint32_t drop[] = {0, 10000, 50000, 150000};
    static const uint32_t dup[] = {0, 10000, 50000};
    static const uint32_t slow[] = {0, 5000, 30000};
    struct profile *p = &s->prof;
    struct rng *r = &s->rng;
    p->election_tick = (uint32_t)rng_range(r, 6, 14);
    p->heartbeat_tick = (uint32_t)rng_range(r, 1, 3);
    p->pre_vote = rng_chance(r, 4, 5);
    p->check_quorum = rng_chance(r, 4, 5);
    /* Lease reads rely on bounded clock drift; the simulator's clocks do not drift (nodes tick
     * at one rate, phases up to a tick apart), so the read check applies to them unchanged. */
    p->lease_read = p->check_quorum && rng_chance(r, 1, 4);
    /* A third of the runs send one entry per APPEND: acknowledgements then cover a leader's
     * log piecewise, which is what lets a Figure 8 commitment bug show. */
    p->max_msg_bytes = rng_chance(r, 1, 3)   ? 1
                       : rng_chance(r, 1, 2) ? (uint32_t)rng_range(r, 200, 2000)
                                             : 64u << 10;
    p->max_inflight = (uint32_t)rng_range(r, 1, 16);
    p->snap_chunk_bytes = (uint32_t)rng_range(r, 64, 1024);
    p->max_apply_bytes = rng_chance(r, 1, 2) ? rng_range(r, 100, 4000) : 1u << 20;
    p->max_uncommitted = rng_chance(r, 1, 4) ? rng_range(r, 2000, 20000) : 1u << 26;
    p->delay_max = (uint32_t)rng_range(r, 5, SIM_TICK);
    p->drop_ppm = one_of(s, drop, 4);
    p->dup_ppm = one_of(s, dup, 3);
    p->slow_ppm = one_of(s, slow, 3);
    p->disk_max = (uint32_t)rng_range(r, 1, 2 * SIM_TICK);
    p->disk_slow_ppm = rng_chance(r, 1, 2) ? 0 : 10000;
    p->flush_ppm = (uint32_t)rng_range(r, 50000, 500000);
    p->chaos_gap = (uint32_t)rng_range(r, 3, 30);
    p->client_gap = (uint32_t)rng_range(r, 1, 10);
    p->n_clients = (uint32_t)rng_range(r, 1, SIM_MAX_CLIENTS);
    p->max_slots = s->p->nodes + 6 < SIM_MAX_SLOTS ? s->p->nodes + 6 : SIM_MAX_SLOTS;
    p->isolate_leader_ppm = rng_chance(r, 1, 2) ? 0 : (uint32_t)rng_range(r, 200000, 700000);
    p->w_crash = (uint32_t)rng_range(r, 0, 4);
    p->w_part = (uint32_t)rng_range(r, 0, 4);
    p->w_heal = 2;
    p->w_net = 1;
    p->w_conf = (uint32_t)rng_range(r, 0, 4);
    p->w_xfer = (uint32_t)rng_range(r, 0, 3);
    p->w_snap = (uint32_t)rng_range(r, 1, 4);
    p->w_read = (uint32_t)rng_range(r, 1, 3);

    raft_options_default(&s->opt);
    s->opt.election_tick = p->election_tick;
    s->opt.heartbeat_tick = p->heartbeat_tick;
    s->opt.pre_vote = p->pre_vote;
    s->opt.check_quorum = p->check_quorum;
    s->opt.lease_read = p->lease_read;
    s->opt.max_msg_bytes = p->max_msg_bytes;
    s->opt.max_inflight = p->max_inflight;
    s->opt.snap_chunk_bytes = p->snap_chunk_bytes;
    s->opt.max_apply_bytes = p->max_apply_bytes;
    s->opt.max_uncommitted_bytes = p->max_uncommitted;

    s->net.drop_ppm = p->drop_ppm;
    s->net.dup_ppm = p->dup_ppm;
    s->net.slow_ppm = p->slow_ppm;
    s->net.delay_max = p->delay_max;

    sim__trace(
        s,
        "seed %" PRIu64 ": %u nodes, election=%u heartbeat=%u prevote=%d checkquorum=%d "
        "lease=%d msgbytes=%u inflight=%u chunk=%u delay<=%u loss=%u dup=%u slow=%u disk<=%u "
        "weights crash=%u part=%u conf=%u xfer=%u snap=%u",
        s->seed, s->p->nodes, p->election_tick, p->heartbeat_tick, p->pre_vote, p->check_quorum,
        p->lease_read, p->max_msg_bytes, p->max_inflight, p->snap_chunk_bytes, p->delay_max,
        p->drop_ppm, p->dup_ppm, p->slow_ppm, p->disk_max, p->w_crash, p->w_part, p->w_conf,
        p->w_xfer, p->w_snap);
}

/* The leader with the highest term among running nodes, or NULL. */
struct node *sim__leader(struct sim *s)
{
    struct node *best = NULL;
    for (uint32_t id = 1; id <= s->n_slots; id++) {
        struct node *n = &s->nodes[id];
        if (n->state == NODE_UP && n->role == RAFT_LEADER && (!best || n->term > best->term))
            best = n;
    }
    return best;
}

static bool current(const struct node *n, const struct event *ev)
{
    return n->state == NODE_UP && ev->inc == n->inc;
}

/* Runs one event. Returns false for events of a node's earlier life (not a step). */
static bool dispatch(struct sim *s, struct event *ev)
{
    struct node *n = ev->slot <= SIM_MAX_SLOTS ? &s->nodes[ev->slot] : &s->nodes[0];
    switch (ev->type) {
    case EV_TICK:
    case EV_DISK:
        if (!current(n, ev)) return false;
        break;
    case EV_RESTART:
        if (n->state != NODE_DOWN || ev->inc != n->inc) return false;
        break;
    case EV_RETIRE:
        if (n->state != NODE_UP && n->state != NODE_DOWN) return false;
        break;
    case EV_HEAL_NET:
        if (ev->arg != s->net.part_gen) return false;
        break;
    case EV_ISOLATE:
        if (n->state != NODE_UP || s->phase != 1) return false;
        break;
    default:
        break;
    }
    s->now = ev->time;
    s->step++;
    switch (ev->type) {
    case EV_TICK:
        raft_tick(n->r);
        sim__node_drain(s, n);
        if (n->state == NODE_UP)
            sim__schedule(s, s->now + SIM_TICK, EV_TICK, (uint32_t)n->id, 0, NULL);
        break;
    case EV_DELIVER:
        sim__net_deliver(s, ev);
        break;
    case EV_DISK:
        sim__disk_complete(s, n);
        break;
    case EV_CHAOS:
        sim__chaos_event(s);
        break;
    case EV_CLIENT:
        sim__client_event(s, (uint32_t)ev->arg);
        break;
    case EV_RESTART:
        sim__node_boot(s, n);
        break;
    case EV_RETIRE:
        sim__node_crash(s, n, true);
        break;
    case EV_HEAL_NET:
        sim__net_heal(s);
        break;
    case EV_ISOLATE:
        sim__net_isolate(s, n->id);
        break;
    default:
        break;
    }
    return true;
}

/* Faults stop: the network becomes reliable, crashed members restart, disks stop stalling. */
static void heal(struct sim *s)
{
    s->phase = 2;
    s->heal_time = s->now;
    memset(s->net.cut, 0, sizeof s->net.cut);
    s->net.part_gen++;
    s->net.drop_ppm = s->net.dup_ppm = s->net.slow_ppm = 0;
    s->prof.disk_slow_ppm = 0;
    sim__trace(s, "HEAL: faults stop; %" PRIu64 " of %" PRIu64 " values committed", s->n_acked,
               s->n_values);
    for (uint32_t id = 1; id <= s->n_slots && !s->failed; id++)
        if (s->nodes[id].state == NODE_DOWN) sim__node_boot(s, &s->nodes[id]);
}

/* Liveness: one leader that committed an entry of its term, no configuration change in flight,
 * every client value committed, every member running, applied up to the leader's commit with
 * the leader's state and following it. Writes the first unmet condition to why. */
static bool converged(struct sim *s, char *why, size_t len)
{
    struct node *l = sim__leader(s);
    if (!l) {
        snprintf(why, len, "no leader");
        return false;
    }
    struct raft_status st;
    raft_status(l->r, &st);
    uint64_t t = 0;
    if (raft_term_at(l->r, st.commit, &t) || t != l->term) {
        snprintf(why, len, "leader n%" PRIu64 " has not committed an entry of term %" PRIu64, l->id,
                 l->term);
        return false;
    }
    if (st.conf_pending || st.config.n_voters_out || !raft_config_contains(&st.config, l->id)) {
        snprintf(why, len, "configuration change of leader n%" PRIu64 " unfinished", l->id);
        return false;
    }
    if (s->n_acked < s->n_values) {
        snprintf(why, len, "%" PRIu64 " of %" PRIu64 " client values not committed",
                 s->n_values - s->n_acked, s->n_values);
        return false;
    }
    raft_id members[2 * RAFT_MAX_NODES];
    uint32_t nm = 0;
    for (uint32_t i = 0; i < st.config.n_voters; i++) members[nm++] = st.config.voters[i];
    for (uint32_t i = 0; i < st.config.n_learners; i++) members[nm++] = st.config.learners[i];
    for (uint32_t i = 0; i < nm; i++) {
        const struct node *m = members[i] <= SIM_MAX_SLOTS ? &s->nodes[members[i]] : NULL;
        if (!m || m->state != NODE_UP) {
            snprintf(why, len, "member n%" PRIu64 " is not running", members[i]);
            return false;
        }
        if (m->fsm.applied != st.commit || m->fsm.hash != l->fsm.hash || m->leader != l->id) {
            snprintf(why, len,
                     "member n%" PRIu64 " applied %" PRIu64 " (leader n%" PRIu64
                     " committed %" PRIu64 ") following n%" PRIu64,
                     m->id, m->fsm.applied, l->id, st.commit, m->leader);
            return false;
        }
    }
    return true;
}

/* No acknowledged value is lost: each is in the converged state at the index it committed at. */
static void check_values(struct sim *s)
{
    const struct check *c = &s->ck;
    for (uint64_t v = 1; v <= s->n_values && !s->failed; v++) {
        uint64_t idx = s->values[v].acked_index;
        if (idx == 0 || idx > c->amax || idx > c->cmax || c->a[idx].type != RAFT_ENTRY_NORMAL)
            sim__fail(s, "acknowledged value %" PRIu64 " (index %" PRIu64 ") is lost", v, idx);
    }
}

static void run_phases(struct sim *s)
{
    struct event ev;
    for (uint32_t id = 1; id <= s->p->nodes && !s->failed; id++) sim__node_create(s, id, 0, true);
    sim__schedule(s, rng_range(&s->rng, 1, SIM_TICK * s->prof.chaos_gap), EV_CHAOS, 0, 0, NULL);
    for (uint32_t i = 0; i < s->prof.n_clients; i++)
        sim__schedule(s, rng_range(&s->rng, 1, SIM_TICK * s->prof.client_gap), EV_CLIENT, 0, i,
                      NULL);
    while (!s->failed && s->step < s->p->steps && sim__pop(s, &ev)) dispatch(s, &ev);
    s->st.fault_steps = s->step;
    if (s->failed) return;
    heal(s);
    uint64_t deadline = s->now + (uint64_t)SIM_LIVENESS_TICKS * SIM_TICK;
    uint64_t max_steps = s->step + SIM_LIVENESS_STEPS;
    char why[200] = "no events left";
    bool done = false;
    while (!s->failed && sim__pop(s, &ev)) {
        if (ev.time > deadline || s->step >= max_steps) {
            if (ev.msg) {
                raft_msg_release(ev.msg);
                free(ev.msg);
            }
            break;
        }
        if (dispatch(s, &ev) && ev.type == EV_TICK && converged(s, why, sizeof why)) {
            done = true;
            break;
        }
    }
    if (s->failed) return;
    if (!done) {
        sim__fail(s, "Liveness: %" PRIu64 " ticks (%" PRIu64 " steps) after the faults healed: %s",
                  (s->now - s->heal_time) / SIM_TICK, s->step - s->st.fault_steps, why);
        return;
    }
    s->st.heal_ticks = (s->now - s->heal_time) / SIM_TICK;
    check_values(s);
}

static void sim_free(struct sim *s)
{
    sim__events_free(s);
    for (uint32_t id = 1; id <= SIM_MAX_SLOTS; id++) {
        struct node *n = &s->nodes[id];
        if (n->state == NODE_UP) raft_free(n->r);
        sim__disk_free(n);
        sim__slog_free(&n->log);
    }
    sim__check_free(&s->ck);
    free(s->values);
    free(s);
}

int sim_run(const struct sim_params *p, uint64_t seed, struct sim_result *res)
{
    if (!p || !res || !p->out || p->nodes < 1 || p->nodes > SIM_MAX_INITIAL) return CC_EINVAL;
    struct sim *s = calloc(1, sizeof *s);
    if (!s) return CC_ENOMEM;
    s->p = p;
    s->seed = seed;
    rng_seed(&s->rng, seed);
    s->phase = 1;
    sim__check_init(&s->ck);
    pick_profile(s);
    run_phases(s);
    s->st.steps = s->step;
    s->st.ticks = s->now / SIM_TICK;
    memset(res, 0, sizeof *res);
    res->ok = !s->failed;
    res->st = s->st;
    if (s->failed) {
        snprintf(res->what, sizeof res->what, "%s", s->what);
        if (!p->verbose) sim__dump_trace(s);
    } else {
        sim__trace(s,
                   "seed %" PRIu64 " holds: %" PRIu64 " steps, term %" PRIu64 ", %" PRIu64
                   " committed, converged %" PRIu64 " ticks after heal",
                   seed, s->step, s->st.max_term, s->st.committed, s->st.heal_ticks);
    }
    sim_free(s);
    return 0;
}
