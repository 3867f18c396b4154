/* main.c — concur-bench: dispatches to one benchmark per subcommand (bench_<name>.c). */
#include <stdio.h>
#include <string.h>

#include "bench_table.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: concur-bench <benchmark> [options]\nbenchmarks:");
    for (const struct bench_cmd *c = bench_cmds; c->name; c++) fprintf(f, " %s", c->name);
    fprintf(f, "\nOutput is one `name: value` per line.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const struct bench_cmd *c = bench_cmds; c->name; c++)
        if (!strcmp(c->name, argv[1])) return c->main(argc - 1, argv + 1);
    fprintf(stderr, "concur-bench: unknown benchmark '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
