/* test_raft_random.c — randomized fault runs of a small cluster with the harness's safety
 * checks after every update, then a healed liveness phase. Deterministic per seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "util/err.h"
#include "util/rng.h"

/* Seeds per test: fewer under the (much slower) sanitizer build; H_SEEDS overrides for long
 * bug hunts outside the suite. */
#if defined(__SANITIZE_ADDRESS__)
#define SEED_DIVISOR 4
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SEED_DIVISOR 4
#endif
#endif
#ifndef SEED_DIVISOR
#define SEED_DIVISOR 1
#endif

/* First seed of a test: H_SEED_BASE shifts the ranges for fresh seeds in long hunts. */
static uint64_t base(uint64_t dflt)
{
    return dflt + (getenv("H_SEED_BASE") ? strtoull(getenv("H_SEED_BASE"), NULL, 10) : 0);
}

static uint64_t seeds(uint64_t dflt)
{
    return getenv("H_SEEDS") ? strtoull(getenv("H_SEEDS"), NULL, 10) : dflt / SEED_DIVISOR;
}

static uint64_t pick(void *g, uint64_t n)
{
    return rng_below(g, n);
}

static raft_id random_live(struct h_cluster *c, struct rng *g, int n, bool live)
{
    raft_id ids[H_MAX];
    int k = 0;
    for (raft_id id = 1; id <= (raft_id)n; id++)
        if ((c->nodes[id].r != NULL) == live) ids[k++] = id;
    return k ? ids[rng_below(g, (uint64_t)k)] : 0;
}

static void random_conf_change(struct h_cluster *c, struct rng *g, raft_id leader, int n)
{
    struct raft_status st;
    raft_status(h_raft(c, leader), &st);
    struct raft_conf_change ch[2];
    uint32_t k = 1 + (uint32_t)rng_below(g, 2);
    for (uint32_t i = 0; i < k; i++) {
        raft_id id = 1 + rng_below(g, (uint64_t)n);
        bool voter = raft_config_is_voter(&st.config, id);
        bool learner = raft_config_is_learner(&st.config, id);
        uint8_t op;
        if (voter)
            op = rng_chance(g, 1, 4) ? RAFT_CONF_ADD_LEARNER : RAFT_CONF_REMOVE;
        else if (learner)
            op = rng_chance(g, 1, 2) ? RAFT_CONF_PROMOTE : RAFT_CONF_REMOVE;
        else
            op = rng_chance(g, 1, 2) ? RAFT_CONF_ADD_LEARNER : RAFT_CONF_ADD_VOTER;
        ch[i].op = op;
        ch[i].id = id;
    }
    int rc = raft_propose_conf(h_raft(c, leader), ch, k, NULL, 0, NULL);
    assert_true(rc == 0 || rc == CC_ECONFCHANGE || rc == CC_ETRANSFER);
}

static bool converged(struct h_cluster *c, raft_id l, uint64_t idx)
{
    struct raft_status st;
    raft_status(h_raft(c, l), &st);
    for (raft_id id = 1; id < H_MAX; id++) {
        if (!c->nodes[id].exists || !raft_config_contains(&st.config, id)) continue;
        if (!c->nodes[id].r || c->nodes[id].sm.applied < idx) return false;
    }
    return true;
}

static void run_seed(uint64_t seed, int n, int voters, int steps)
{
    struct rng g;
    rng_seed(&g, seed);
    struct raft_options o;
    raft_options_default(&o);
    o.snap_chunk_bytes = 32;
    o.max_msg_bytes = 64;
    o.max_inflight = 4;
    o.pre_vote = seed % 4 != 1;
    o.check_quorum = seed % 4 != 2;
    o.lease_read = seed % 4 == 3;
    struct h_cluster c;
    h_init(&c, n, voters, &o);
    c.snap_bytes = 80;
    char val[32];
    for (int step = 0; step < steps; step++) {
        uint64_t a = rng_below(&g, 100);
        raft_id id = random_live(&c, &g, n, true);
        if (a < 38) {
            h_deliver_random(&c, pick, &g, 5, 3);
        } else if (a < 52) {
            if (id) h_tick(&c, id);
        } else if (a < 66) {
            snprintf(val, sizeof(val), "s%llu-%d", (unsigned long long)seed, step);
            if (id) {
                int rc = raft_propose(h_raft(&c, id), val, (uint32_t)strlen(val), NULL);
                assert_true(rc == 0 || rc == CC_ENOLEADER || rc == CC_ETRANSFER || rc == CC_EBUSY ||
                            rc == CC_EREMOVED);
                h_update(&c, id);
            }
        } else if (a < 68) {
            if (id && random_live(&c, &g, n, true)) h_crash(&c, id);
            if (id && getenv("H_STEPS")) fprintf(stderr, "crash %llu\n", (unsigned long long)id);
        } else if (a < 71) {
            raft_id dead = random_live(&c, &g, n, false);
            if (dead) h_restart(&c, dead);
            if (dead && getenv("H_STEPS"))
                fprintf(stderr, "restart %llu\n", (unsigned long long)dead);
        } else if (a < 74) {
            if (rng_chance(&g, 1, 2) && id)
                h_isolate(&c, id, true);
            else
                for (raft_id x = 1; x <= (raft_id)n; x++) h_isolate(&c, x, false);
        } else if (a < 76) {
            if (id && c.nodes[id].n_pending == 0 && c.nodes[id].sm.applied > 0 &&
                c.nodes[id].sm.applied > h_status(&c, id)->snap_index) {
                struct raft_status *st = h_status(&c, id);
                uint64_t lo = st->first_index - 1;
                uint64_t to = lo + rng_below(&g, c.nodes[id].sm.applied - lo + 1);
                h_snapshot(&c, id, to > lo ? to : 0);
            }
        } else if (a < 79) {
            raft_id l = h_leader(&c);
            if (l) random_conf_change(&c, &g, l, n);
            if (l) h_update(&c, l);
        } else if (a < 80) {
            raft_id l = h_leader(&c);
            if (l) {
                raft_transfer_leadership(h_raft(&c, l), 1 + rng_below(&g, (uint64_t)n));
                h_update(&c, l);
            }
        } else if (a < 82) {
            if (id) {
                raft_read_index(h_raft(&c, id), (uint64_t)step);
                h_update(&c, id);
            }
        } else if (a < 85) {
            if (id) {
                c.nodes[id].hold = !c.nodes[id].hold;
                if (getenv("H_STEPS"))
                    fprintf(stderr, "hold %llu %d\n", (unsigned long long)id, c.nodes[id].hold);
                if (!c.nodes[id].hold) h_flush(&c, id);
            }
        } else {
            h_ticks(&c, 1);
        }
        if (getenv("H_STEPS"))
            fprintf(stderr, "seed %llu step %d a=%llu id=%llu\n", (unsigned long long)seed, step,
                    (unsigned long long)a, (unsigned long long)id);
        if (step % 64 == 0 || getenv("H_STEPS")) h_check_safety(&c);
    }
    h_check_safety(&c);

    /* Liveness: heal everything, restart everyone, let the disks catch up. */
    for (raft_id x = 1; x <= (raft_id)n; x++) {
        h_isolate(&c, x, false);
        if (!c.nodes[x].r) h_restart(&c, x);
        c.nodes[x].hold = false;
        h_flush(&c, x);
    }
    raft_id l = 0;
    uint64_t idx = 0;
    for (int t = 0; t < 3000; t++) {
        h_ticks(&c, 1);
        raft_id now = h_leader(&c);
        if (now && (now != l || !idx)) {
            /* A (new) leader: propose the final entry through it. A previous attempt may have
             * been lost with the old leadership (a transfer, a removed leader stepping down). */
            l = now;
            if (raft_propose(h_raft(&c, l), "final", 5, &idx)) idx = 0;
            h_settle(&c);
        }
        if (idx && converged(&c, l, idx)) break;
    }
    if (!idx || !converged(&c, l, idx)) {
        for (raft_id x = 1; x <= (raft_id)n; x++) {
            struct raft_status *st = h_status(&c, x);
            fprintf(stderr,
                    "node %llu role %s term %llu lead %llu vote %llu commit %llu last %llu "
                    "first %llu applied %llu voters %u out %u learners %u: ",
                    (unsigned long long)x, raft_role_name(st->role), (unsigned long long)st->term,
                    (unsigned long long)st->leader, (unsigned long long)st->vote,
                    (unsigned long long)st->commit, (unsigned long long)st->last_index,
                    (unsigned long long)st->first_index, (unsigned long long)st->applied,
                    st->config.n_voters, st->config.n_voters_out, st->config.n_learners);
            for (uint32_t v = 0; v < st->config.n_voters; v++)
                fprintf(stderr, "%llu ", (unsigned long long)st->config.voters[v]);
            fprintf(stderr, "| ");
            for (uint32_t v = 0; v < st->config.n_voters_out; v++)
                fprintf(stderr, "%llu ", (unsigned long long)st->config.voters_out[v]);
            fprintf(stderr, "| ");
            for (uint32_t v = 0; v < st->config.n_learners; v++)
                fprintf(stderr, "%llu ", (unsigned long long)st->config.learners[v]);
            fprintf(stderr, "\n");
            for (uint32_t k = 0; k < st->n_peers; k++)
                fprintf(stderr, "   peer %llu voter %d state %u match %llu next %llu active %d\n",
                        (unsigned long long)st->peers[k].id, st->peers[k].voter, st->peers[k].state,
                        (unsigned long long)st->peers[k].match,
                        (unsigned long long)st->peers[k].next, st->peers[k].recent_active);
            if (st->role == RAFT_LEADER)
                fprintf(stderr, "   snap %llu/%llu\n", (unsigned long long)st->snap_index,
                        (unsigned long long)st->snap_term);
        }
    }
    if (!idx)
        fail_msg("seed %llu: no leader took a proposal after healing", (unsigned long long)seed);
    if (!converged(&c, l, idx))
        fail_msg("seed %llu: members did not converge on index %llu", (unsigned long long)seed,
                 (unsigned long long)idx);
    h_check_safety(&c);
    if (getenv("H_STATS")) {
        uint64_t terms = 0;
        for (int t = 0; t < 256; t++) terms += c.leader_of_term[t] != 0;
        fprintf(stderr, "seed %llu: commit %llu, %llu delivered, %llu dropped, %llu leader terms\n",
                (unsigned long long)seed, (unsigned long long)h_status(&c, l)->commit,
                (unsigned long long)c.delivered, (unsigned long long)c.dropped,
                (unsigned long long)terms);
    }
    h_free(&c);
}

static void test_random_faults_three_members(void **state)
{
    (void)state;
    if (getenv("H_SEED")) {
        run_seed(strtoull(getenv("H_SEED"), NULL, 10), 5, 3, 3000);
        return;
    }
    uint64_t n = seeds(100);
    for (uint64_t seed = base(1); seed < base(1) + n; seed++) run_seed(seed, 5, 3, 3000);
}

static void test_random_faults_five_members(void **state)
{
    (void)state;
    uint64_t n = seeds(50);
    for (uint64_t seed = base(1000000); seed < base(1000000) + n; seed++)
        run_seed(seed, 7, 5, 3000);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_faults_three_members),
        cmocka_unit_test(test_random_faults_five_members),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
