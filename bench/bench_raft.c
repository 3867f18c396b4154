/* bench_raft.c — concur-bench raft: commit throughput of a 3-member in-process cluster, no I/O. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft/raft.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/hist.h"

/*
 * Three real cores in one thread. Persistence is instantaneous and messages are handed straight
 * to raft_step of the receiver without copying: the pointers of a sender's update stay valid
 * because nothing calls the sender until its update is fully handled (the lifetime rule in
 * raft.h). So the figures measure the core alone: proposal, replication, acknowledgement,
 * commitment and hand-out of committed entries.
 */

#define BR_NODES       3
#define BR_ENTRY_BYTES 128
#define BR_BATCH       64
#define BR_COMPACT_GAP 8192 /* keep memory flat: snapshot + compact every this many entries */

struct bcluster {
    struct raft *r[BR_NODES + 1]; /* index = raft_id */
    uint64_t applied[BR_NODES + 1];
    uint64_t compacted[BR_NODES + 1];
};

static void cluster_free(struct bcluster *c)
{
    for (int i = 1; i <= BR_NODES; i++) raft_free(c->r[i]);
}

static int cluster_init(struct bcluster *c)
{
    memset(c, 0, sizeof *c);
    struct raft_boot boot = {0};
    for (uint32_t i = 0; i < BR_NODES; i++) boot.snap.config.voters[i] = i + 1;
    boot.snap.config.n_voters = BR_NODES;
    for (int i = 1; i <= BR_NODES; i++) {
        struct raft_options o;
        raft_options_default(&o);
        o.id = (raft_id)i;
        o.seed = (uint64_t)i;
        int rc = raft_new(&o, &boot, &c->r[i]);
        if (rc) {
            cluster_free(c);
            return rc;
        }
    }
    return 0;
}

static int deliver(struct bcluster *c, const struct raft_msg *m, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (m[i].to < 1 || m[i].to > BR_NODES || m[i].type == RAFT_MSG_SNAPSHOT)
            return CC_EPROTO; /* nothing in this setting should need a snapshot */
        raft_step(c->r[m[i].to], &m[i]);
    }
    return 0;
}

/* Keeps the in-memory log short, as a member would after taking snapshots. */
static int compact(struct bcluster *c, int i)
{
    if (c->applied[i] < c->compacted[i] + 2 * BR_COMPACT_GAP) return 0;
    uint64_t upto = c->applied[i] - BR_COMPACT_GAP;
    struct raft_snapshot_meta meta;
    int rc = raft_snapshot_meta_at(c->r[i], upto, &meta);
    if (!rc) rc = raft_snapshot_taken(c->r[i], &meta, 1);
    if (!rc) rc = raft_compact(c->r[i], upto);
    if (!rc) c->compacted[i] = upto;
    return rc;
}

/* One update of node i: persistence is immediate, so both message lists go out at once, the
 * committed entries are "applied", and raft_persisted comes last (it invalidates the update). */
static int handle(struct bcluster *c, int i)
{
    struct raft_update u;
    if (!raft_get_update(c->r[i], &u)) return 0;
    if (u.snapshot_ready || u.n_snap_chunks) return CC_EPROTO;
    int rc = deliver(c, u.msgs, u.n_msgs);
    if (!rc) rc = deliver(c, u.msgs_after_persist, u.n_msgs_after_persist);
    if (rc) return rc;
    if (u.n_committed) c->applied[i] = u.committed[u.n_committed - 1].index;
    if (u.persist_report) raft_persisted(c->r[i], u.persist_index, u.persist_term);
    return compact(c, i);
}

/* Runs the cluster until no core has anything left to do. */
static int pump(struct bcluster *c)
{
    for (bool any = true; any;) {
        any = false;
        for (int i = 1; i <= BR_NODES; i++) {
            while (raft_has_update(c->r[i])) {
                int rc = handle(c, i);
                if (rc) return rc;
                any = true;
            }
        }
    }
    return 0;
}

static int elect(struct bcluster *c)
{
    struct raft_status st;
    for (int t = 0; t < 1000; t++) {
        raft_tick(c->r[1]);
        int rc = pump(c);
        if (rc) return rc;
        raft_status(c->r[1], &st);
        if (st.role == RAFT_LEADER && st.commit == st.last_index) return 0;
    }
    return CC_ETIMEDOUT;
}

/* CPU time of this process: on a shared, loaded machine it measures the core's cost better than
 * the wall clock does. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct result {
    double entries_per_s;
    double entries_per_cpu_s;
    uint64_t entries;
    uint64_t round_us_p50, round_us_p99;
};

/* Proposes `batch` entries at a time and runs until they are committed on the leader, for at
 * least `seconds`. */
static int run(uint32_t batch, double seconds, struct result *res)
{
    struct bcluster c;
    int rc = cluster_init(&c);
    if (rc) return rc;
    rc = elect(&c);
    uint8_t entry[BR_ENTRY_BYTES];
    memset(entry, 0xab, sizeof entry);
    struct hist h;
    hist_init(&h);
    uint64_t n = 0, t0 = clock_mono_ns(), now = t0, c0 = cpu_ns();
    uint64_t budget = (uint64_t)(seconds * 1e9);
    while (!rc && now - t0 < budget) {
        for (int round = 0; round < 64 && !rc; round++) {
            uint64_t start = clock_mono_ns(), idx = 0;
            for (uint32_t k = 0; k < batch && !rc; k++) {
                memcpy(entry, &n, sizeof n);
                rc = raft_propose(c.r[1], entry, sizeof entry, &idx);
                n++;
            }
            if (!rc) rc = pump(&c);
            if (!rc && c.applied[1] < idx) rc = CC_ETIMEDOUT; /* not committed: a core bug */
            hist_add(&h, clock_mono_ns() - start);
        }
        now = clock_mono_ns();
    }
    uint64_t cpu = cpu_ns() - c0;
    cluster_free(&c);
    if (rc) return rc;
    res->entries = n;
    res->entries_per_s = (double)n / ((double)(now - t0) / 1e9);
    res->entries_per_cpu_s = (double)n / ((double)(cpu ? cpu : 1) / 1e9);
    res->round_us_p50 = hist_quantile(&h, 0.5) / 1000;
    res->round_us_p99 = hist_quantile(&h, 0.99) / 1000;
    return 0;
}

int bench_raft_main(int argc, char **argv)
{
    double seconds = 2.0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: concur-bench raft [--seconds S] [--mode single|batch64]\n"
                    "  committed entries per second of a 3-member in-process cluster (no I/O,\n"
                    "  %d-byte entries), proposing one entry at a time and %d at a time;\n"
                    "  each mode runs for S seconds (default 2)\n",
                    BR_ENTRY_BYTES, BR_BATCH);
            return 2;
        }
    }
    if (!(seconds > 0)) seconds = 2.0;
    static const struct {
        const char *name;
        uint32_t batch;
    } modes[] = {{"single", 1}, {"batch64", BR_BATCH}};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        if (only && strcmp(only, modes[m].name)) continue;
        struct result r;
        int rc = run(modes[m].batch, seconds, &r);
        if (rc) {
            fprintf(stderr, "concur-bench raft: %s: %s\n", modes[m].name, cc_strerror(rc));
            return 1;
        }
        printf("raft_commit_%s_entries_per_s: %.0f\n", modes[m].name, r.entries_per_s);
        printf("raft_commit_%s_entries_per_cpu_s: %.0f\n", modes[m].name, r.entries_per_cpu_s);
        printf("raft_commit_%s_round_us_p50: %" PRIu64 "\n", modes[m].name, r.round_us_p50);
        printf("raft_commit_%s_round_us_p99: %" PRIu64 "\n", modes[m].name, r.round_us_p99);
        printf("raft_commit_%s_entries: %" PRIu64 "\n", modes[m].name, r.entries);
    }
    printf("raft_entry_bytes: %d\nraft_members: %d\n", BR_ENTRY_BYTES, BR_NODES);
    return 0;
}
