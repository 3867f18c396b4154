/* bench_resp.c — `concur-bench resp`: runs scripts/bench-resp-compare.sh (redis-benchmark against
 * a 3-member concur cluster and an fsync-always redis-server) with this build's binaries. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CONCUR_BENCH_SCRIPTS_DIR
#error "bench/libs/resp.cmake defines CONCUR_BENCH_SCRIPTS_DIR"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: concur-bench resp [NAME=VALUE ...]\n"
            "Runs %s/bench-resp-compare.sh; NAME=VALUE pairs become its environment\n"
            "(ROUNDS, N_P1, N_P16, TARGET, SYSTEM_A, ...: see the script's header).\n"
            "CONCURD and BENCH default to the binaries next to this concur-bench.\n",
            CONCUR_BENCH_SCRIPTS_DIR);
}

/* Sets NAME to dir/file unless NAME is already set. */
static void default_path(const char *name, const char *dir, const char *file)
{
    char path[PATH_MAX];
    if (getenv(name)) return;
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) return;
    setenv(name, path, 0);
}

int bench_resp_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!eq || eq == argv[i]) {
            usage(stderr);
            return 2;
        }
        *eq = 0;
        setenv(argv[i], eq + 1, 1);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *dir = dirname(exe);
        default_path("CONCURD", dir, "concurd");
        default_path("BENCH", dir, "concur-bench");
    }
    const char *script = CONCUR_BENCH_SCRIPTS_DIR "/bench-resp-compare.sh";
    execl("/bin/bash", "bash", script, (char *)NULL);
    fprintf(stderr, "concur-bench resp: exec %s: %s\n", script, strerror(errno));
    return 1;
}
