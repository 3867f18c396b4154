/* sim_net.c — concur-sim's virtual network: loss, duplication, delay/reordering, partitions. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* Queues a copy of m (or two, or none) with random delays; independent delays reorder messages.
 * The copy owns entries and snapshot bytes, so the core's update memory may go away. */
void sim__net_send(struct sim *s, const struct raft_msg *m)
{
    char buf[200];
    s->st.msgs_sent++;
    if (s->net.inflight >= SIM_MAX_INFLIGHT || rng_chance(&s->rng, s->net.drop_ppm, 1000000)) {
        s->st.msgs_dropped++;
        sim__trace(s, "lost %s", sim__msg_str(m, buf, sizeof buf));
        return;
    }
    int copies = 1;
    if (rng_chance(&s->rng, s->net.dup_ppm, 1000000)) {
        copies = 2;
        s->st.msgs_duplicated++;
    }
    for (int i = 0; i < copies; i++) {
        struct raft_msg *c = malloc(sizeof *c);
        if (!c || raft_msg_copy(c, m)) {
            free(c);
            sim__fail(s, "simulator: out of memory copying a message");
            return;
        }
        uint64_t delay = rng_range(&s->rng, 1, s->net.delay_max);
        if (rng_chance(&s->rng, s->net.slow_ppm, 1000000))
            delay = rng_range(&s->rng, s->net.delay_max, 10 * SIM_TICK);
        if (sim__schedule(s, s->now + delay, EV_DELIVER, (uint32_t)m->to, 0, c) == 0)
            s->net.inflight++;
    }
}

/* A transport notices a broken connection: it tells the sender (raft_report_unreachable, and for
 * snapshots raft_report_snapshot_failed). Half of the unreachable reports are left out so the
 * core also has to cope without them. */
static void feedback(struct sim *s, const struct raft_msg *m)
{
    if (m->from == RAFT_NONE || m->from > SIM_MAX_SLOTS) return;
    struct node *n = &s->nodes[m->from];
    if (n->state != NODE_UP) return;
    bool snap = m->type == RAFT_MSG_SNAPSHOT;
    if (!snap && !rng_chance(&s->rng, 1, 2)) return;
    raft_report_unreachable(n->r, m->to);
    if (snap) raft_report_snapshot_failed(n->r, m->to);
    sim__node_drain(s, n);
}

/* EV_DELIVER: the partition and the receiver's state are looked at on arrival, so messages in
 * flight when a partition starts are lost too. */
void sim__net_deliver(struct sim *s, struct event *ev)
{
    char buf[200];
    struct raft_msg *m = ev->msg;
    ev->msg = NULL;
    s->net.inflight--;
    struct node *dst = m->to <= SIM_MAX_SLOTS ? &s->nodes[m->to] : NULL;
    const char *why = NULL;
    if (!dst || dst->state != NODE_UP)
        why = "receiver down";
    else if (m->from <= SIM_MAX_SLOTS && s->net.cut[m->from][m->to])
        why = "partition";
    if (why) {
        s->st.msgs_dropped++;
        sim__trace(s, "drop %s (%s)", sim__msg_str(m, buf, sizeof buf), why);
        feedback(s, m);
    } else {
        sim__trace(s, "recv %s", sim__msg_str(m, buf, sizeof buf));
        int rc = raft_step(dst->r, m);
        if (rc) sim__trace(s, "n%" PRIu64 " refused it: %d", dst->id, rc);
        sim__node_drain(s, dst);
    }
    raft_msg_release(m);
    free(m);
}

static void cut_both(struct sim *s, uint32_t a, uint32_t b)
{
    s->net.cut[a][b] = s->net.cut[b][a] = true;
}

/* Appends "{1,3}" for the nodes of group g in grp to buf. */
static void group_str(const uint32_t *ids, const uint8_t *grp, uint32_t n, uint8_t g, char *buf,
                      size_t len)
{
    size_t o = strlen(buf);
    o += (size_t)snprintf(buf + o, len > o ? len - o : 0, "{");
    bool first = true;
    for (uint32_t i = 0; i < n && o < len; i++) {
        if (grp[i] != g) continue;
        o += (size_t)snprintf(buf + o, len - o, "%s%u", first ? "" : ",", ids[i]);
        first = false;
    }
    if (o < len) snprintf(buf + o, len - o, "}");
}

static uint32_t reachable_nodes(const struct sim *s, uint32_t *ids)
{
    uint32_t n = 0;
    for (uint32_t id = 1; id <= s->n_slots; id++)
        if (s->nodes[id].state == NODE_UP || s->nodes[id].state == NODE_DOWN) ids[n++] = id;
    return n;
}

static void partition_done(struct sim *s, const char *desc, uint64_t min_ticks, uint64_t max_ticks)
{
    s->net.part_gen++;
    s->st.partitions++;
    sim__trace(s, "PARTITION %s", desc);
    sim__schedule(s, s->now + rng_range(&s->rng, min_ticks, max_ticks) * SIM_TICK, EV_HEAL_NET, 0,
                  s->net.part_gen, NULL);
}

/* Cuts node id off from everyone (replacing the partition) for a short while. Used on leaders
 * just after their election, the moment when their log's tail is least replicated: repeated,
 * it builds the divergent logs of the paper's Figure 8. */
void sim__net_isolate(struct sim *s, raft_id id)
{
    uint32_t ids[SIM_MAX_SLOTS];
    uint32_t n = reachable_nodes(s, ids);
    memset(s->net.cut, 0, sizeof s->net.cut);
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] != id) cut_both(s, ids[i], (uint32_t)id);
    char desc[64];
    snprintf(desc, sizeof desc, "isolate new leader n%" PRIu64, id);
    partition_done(s, desc, 2, 30);
}

/* Replaces the partition with a new random one and schedules its healing:
 * isolate one node; split into two sides; one-way losses on random links; or a partial
 * partition where a bridge node talks to both sides that cannot talk to each other. */
void sim__net_partition(struct sim *s)
{
    uint32_t ids[SIM_MAX_SLOTS];
    uint8_t grp[SIM_MAX_SLOTS];
    uint32_t n = reachable_nodes(s, ids);
    if (n < 2) return;
    memset(s->net.cut, 0, sizeof s->net.cut);
    char desc[160] = "";
    uint32_t kind = (uint32_t)rng_below(&s->rng, 4);
    if (kind == 0) {
        uint32_t x = (uint32_t)rng_below(&s->rng, n);
        for (uint32_t i = 0; i < n; i++) {
            grp[i] = i == x;
            if (i != x) cut_both(s, ids[i], ids[x]);
        }
        snprintf(desc, sizeof desc, "isolate n%u: ", ids[x]);
        group_str(ids, grp, n, 1, desc, sizeof desc);
        group_str(ids, grp, n, 0, desc, sizeof desc);
    } else if (kind == 1 || (kind == 3 && n < 3)) {
        grp[0] = 0;
        grp[1] = 1;
        for (uint32_t i = 2; i < n; i++) grp[i] = (uint8_t)rng_below(&s->rng, 2);
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < n; j++)
                if (grp[i] != grp[j]) s->net.cut[ids[i]][ids[j]] = true;
        snprintf(desc, sizeof desc, "split: ");
        group_str(ids, grp, n, 0, desc, sizeof desc);
        group_str(ids, grp, n, 1, desc, sizeof desc);
    } else if (kind == 2) {
        uint32_t links = (uint32_t)rng_range(&s->rng, 1, n);
        size_t o = (size_t)snprintf(desc, sizeof desc, "one-way:");
        for (uint32_t k = 0; k < links; k++) {
            uint32_t a = (uint32_t)rng_below(&s->rng, n), b = (uint32_t)rng_below(&s->rng, n);
            if (a == b) continue;
            s->net.cut[ids[a]][ids[b]] = true;
            if (o < sizeof desc)
                o += (size_t)snprintf(desc + o, sizeof desc - o, " n%u-/->n%u", ids[a], ids[b]);
        }
    } else {
        uint32_t bridge = (uint32_t)rng_below(&s->rng, n);
        uint32_t a = bridge == 0 ? 1 : 0;
        uint32_t c = (uint32_t)rng_below(&s->rng, n);
        while (c == bridge || c == a) c = (c + 1) % n;
        for (uint32_t i = 0; i < n; i++) grp[i] = (uint8_t)(1 + rng_below(&s->rng, 2));
        grp[bridge] = 0;
        grp[a] = 1;
        grp[c] = 2;
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < n; j++)
                if (grp[i] == 1 && grp[j] == 2) cut_both(s, ids[i], ids[j]);
        snprintf(desc, sizeof desc, "partial: bridge ");
        group_str(ids, grp, n, 0, desc, sizeof desc);
        group_str(ids, grp, n, 1, desc, sizeof desc);
        group_str(ids, grp, n, 2, desc, sizeof desc);
    }
    partition_done(s, desc, 5, 60);
}

void sim__net_heal(struct sim *s)
{
    memset(s->net.cut, 0, sizeof s->net.cut);
    s->net.part_gen++;
    sim__trace(s, "network healed");
}
