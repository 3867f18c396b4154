/* sim_main.c — concur-sim's command line: run seeds, report the first violation and a summary. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "util/clock.h"

#define SOAK_FACTOR 50 /* CONCUR_SOAK=1 multiplies --seeds by this */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: concur-sim [--seed N] [--seeds K] [--nodes N] [--steps S] [-v]\n"
            "                  [--expect-violation] [--no-contract-checks] [--keep-going]\n"
            "  --seed N        first seed (default 1)\n"
            "  --seeds K       number of runs, seeds N..N+K-1 (default 1); the environment\n"
            "                  variable CONCUR_SOAK=1 multiplies K by %d (CONCUR_SOAK=F by F)\n"
            "  --nodes N       initial voters, 1..%d (default 3)\n"
            "  --steps S       events in the fault phase of each run (default 20000)\n"
            "  -v              print the whole trace (stdout) as it happens\n"
            "  --expect-violation   succeed only if some run violates a property (for builds\n"
            "                  with an injected fault); stops at the first violation\n"
            "  --keep-going    run every seed even after a violation (each one is reported)\n"
            "  --no-contract-checks  skip the checks of raft.h's contract (promises sent\n"
            "                  before they are durable, the core's log against its updates,\n"
            "                  the Figure 8 commit rule) so only Raft's properties can fail\n"
            "Exit status: 0 when every run holds (or, with --expect-violation, when one does\n"
            "not), 1 otherwise, 2 on usage errors.\n",
            SOAK_FACTOR, SIM_MAX_INITIAL);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') return -1;
    *out = v;
    return 0;
}

static uint64_t soak_factor(void)
{
    const char *e = getenv("CONCUR_SOAK");
    uint64_t f;
    if (!e || !*e || parse_u64(e, &f) || f == 0) return 1;
    return f == 1 ? SOAK_FACTOR : f;
}

int main(int argc, char **argv)
{
    uint64_t seed = 1, seeds = 1, nodes = 3, steps = 20000;
    bool expect = false, keep_going = false;
    struct sim_params p = {.contract_checks = true, .out = stdout};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t *dst = NULL;
        if (!strcmp(a, "--seed"))
            dst = &seed;
        else if (!strcmp(a, "--seeds"))
            dst = &seeds;
        else if (!strcmp(a, "--nodes"))
            dst = &nodes;
        else if (!strcmp(a, "--steps"))
            dst = &steps;
        else if (!strcmp(a, "-v"))
            p.verbose = true;
        else if (!strcmp(a, "--expect-violation"))
            expect = true;
        else if (!strcmp(a, "--keep-going"))
            keep_going = true;
        else if (!strcmp(a, "--no-contract-checks"))
            p.contract_checks = false;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "concur-sim: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (dst && (i + 1 >= argc || parse_u64(argv[++i], dst))) {
            fprintf(stderr, "concur-sim: %s needs a non-negative integer\n", a);
            return 2;
        }
    }
    if (nodes < 1 || nodes > SIM_MAX_INITIAL || seeds == 0 || steps == 0) {
        fprintf(stderr, "concur-sim: --nodes must be 1..%d, --seeds and --steps positive\n",
                SIM_MAX_INITIAL);
        return 2;
    }
    seeds *= soak_factor();
    p.nodes = (uint32_t)nodes;
    p.steps = steps;

    uint64_t t0 = clock_mono_ns(), runs = 0, total_steps = 0, max_term = 0, crashes = 0;
    uint64_t conf = 0, xfers = 0, snaps = 0, reads = 0, values = 0, heal_max = 0, parts = 0;
    uint64_t sent = 0, lost = 0, dups = 0;
    uint64_t violations = 0;
    for (uint64_t k = 0; k < seeds && (keep_going || !violations); k++) {
        struct sim_result r;
        int rc = sim_run(&p, seed + k, &r);
        if (rc) {
            fprintf(stderr, "concur-sim: seed %" PRIu64 ": cannot run (%d)\n", seed + k, rc);
            return 1;
        }
        runs++;
        total_steps += r.st.steps;
        if (r.st.max_term > max_term) max_term = r.st.max_term;
        if (r.st.heal_ticks > heal_max) heal_max = r.st.heal_ticks;
        crashes += r.st.crashes;
        conf += r.st.conf_changes;
        xfers += r.st.transfers;
        snaps += r.st.snapshots_installed;
        reads += r.st.reads_ok;
        values += r.st.values;
        parts += r.st.partitions;
        sent += r.st.msgs_sent;
        lost += r.st.msgs_dropped;
        dups += r.st.msgs_duplicated;
        if (!r.ok) {
            violations++;
            fprintf(stdout,
                    "concur-sim: VIOLATION at seed %" PRIu64 " (%" PRIu64 " nodes, step %" PRIu64
                    "): %s\nreplay: %s --seed %" PRIu64 " --nodes %" PRIu64 " --steps %" PRIu64
                    " -v\n",
                    seed + k, nodes, r.st.steps, r.what, argv[0], seed + k, nodes, steps);
            fflush(stdout);
        }
    }
    double wall = (double)(clock_mono_ns() - t0) / 1e9;
    fprintf(stderr,
            "concur-sim: %" PRIu64 " runs of %" PRIu64 " nodes (seeds %" PRIu64 "..%" PRIu64
            "), %" PRIu64 " steps, wall %.2f s; max term %" PRIu64 ", %" PRIu64 " crashes, %" PRIu64
            " partitions, %" PRIu64 " messages (%" PRIu64 " lost, %" PRIu64 " duplicated), %" PRIu64
            " conf changes, %" PRIu64 " transfers, %" PRIu64 " snapshots installed, %" PRIu64
            " values, %" PRIu64 " reads, slowest convergence %" PRIu64 " ticks: %s\n",
            runs, nodes, seed, seed + runs - 1, total_steps, wall, max_term, crashes, parts, sent,
            lost, dups, conf, xfers, snaps, values, reads, heal_max,
            violations ? "VIOLATION" : "all hold");
    bool violated = violations > 0;
    if (violations > 1) fprintf(stderr, "concur-sim: %" PRIu64 " runs failed\n", violations);
    if (expect) {
        if (!violated)
            fprintf(stderr,
                    "concur-sim: expected a violation but none of %" PRIu64 " runs failed\n", runs);
        return violated ? 0 : 1;
    }
    return violated ? 1 : 0;
}
