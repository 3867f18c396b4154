/* main.c — concurctl: etcdctl v3's commands, flags and output formats for any etcd v3 endpoint,
 * plus concur's own commands. Finds the command (cobra-style, unique prefixes allowed) and runs
 * it; global flags may appear before or after the command words. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/procs/procs.h"

const struct ctl_cmd ctl_commands[] = {
    {"", "get", cmd_get, "get [options] <key> [range_end]", "Gets the key or a range of keys"},
    {"", "put", cmd_put, "put [options] <key> <value> (<value> can also be given from stdin)",
     "Puts the given key into the store"},
    {"", "del", cmd_del, "del [options] <key> [range_end]",
     "Removes the specified key or range of keys [key, range_end)"},
    {"", "txn", cmd_txn, "txn [options]", "Txn processes all the requests in one transaction"},
    {"", "compaction", cmd_compaction, "compaction [options] <revision>",
     "Compacts the event history in etcd"},
    {"alarm", "disarm", cmd_alarm_disarm, "alarm disarm", "Disarms all alarms"},
    {"alarm", "list", cmd_alarm_list, "alarm list", "Lists all alarms"},
    {"", "defrag", cmd_defrag, "defrag",
     "Defragments the storage of the etcd members with given endpoints"},
    {"endpoint", "health", cmd_endpoint_health, "endpoint health",
     "Checks the healthiness of endpoints specified in `--endpoints` flag"},
    {"endpoint", "status", cmd_endpoint_status, "endpoint status",
     "Prints out the status of endpoints specified in `--endpoints` flag"},
    {"endpoint", "hashkv", cmd_endpoint_hashkv, "endpoint hashkv",
     "Prints the KV history hash for each endpoint in --endpoints"},
    {"", "move-leader", cmd_move_leader, "move-leader <transferee-member-id>",
     "Transfers leadership to another etcd cluster member."},
    {"", "watch", cmd_watch,
     "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
     "Watches events stream on keys or prefixes"},
    {"", "version", cmd_version, "version", "Prints the version of concurctl"},
    {"lease", "grant", cmd_lease_grant, "lease grant <ttl>", "Creates leases"},
    {"lease", "revoke", cmd_lease_revoke, "lease revoke <leaseID>", "Revokes leases"},
    {"lease", "timetolive", cmd_lease_timetolive, "lease timetolive <leaseID> [options]",
     "Get lease information"},
    {"lease", "list", cmd_lease_list, "lease list", "List all active leases"},
    {"lease", "keep-alive", cmd_lease_keepalive, "lease keep-alive [options] <leaseID>",
     "Keeps leases alive (renew)"},
    {"member", "add", cmd_member_add, "member add <memberName> [options]",
     "Adds a member into the cluster"},
    {"member", "remove", cmd_member_remove, "member remove <memberID>",
     "Removes a member from the cluster"},
    {"member", "update", cmd_member_update, "member update <memberID> [options]",
     "Updates a member in the cluster"},
    {"member", "list", cmd_member_list, "member list", "Lists all members in the cluster"},
    {"member", "promote", cmd_member_promote, "member promote <memberID>",
     "Promotes a non-voting member in the cluster"},
    {"snapshot", "save", cmd_snapshot_save, "snapshot save <filename>",
     "Stores an etcd node backend snapshot to a given file"},
    {"counter", "create", cmd_counter_create, "counter create <name> [--by <initial>]",
     "Creates a counter unless it exists; prints its value"},
    {"counter", "incr", cmd_counter_incr, "counter incr <name> [--by <n>]",
     "Atomically adds n (default 1) to a counter; prints the new value"},
    {"counter", "decr", cmd_counter_decr, "counter decr <name> [--by <n>]",
     "Atomically subtracts n (default 1) from a counter; prints the new value"},
    {"counter", "get", cmd_counter_get, "counter get <name>", "Prints a counter's value"},
    {"wal", "dump", cmd_wal_dump, "wal dump --data-dir <dir> [-w json]",
     "Prints a member's Raft log from its (stopped or running) data directory"},
};
const size_t ctl_n_commands = sizeof ctl_commands / sizeof ctl_commands[0];

/* Global flags that take a value: needed to skip their values while finding command words. */
static bool global_takes_value(const char *a)
{
    static const char *const with_value[] = {"--endpoints",
                                             "--write-out",
                                             "-w",
                                             "--dial-timeout",
                                             "--command-timeout",
                                             "--keepalive-time",
                                             "--keepalive-timeout",
                                             "--cert",
                                             "--key",
                                             "--cacert",
                                             "--user",
                                             "--password",
                                             "--discovery-srv",
                                             "-d",
                                             "--discovery-srv-name"};
    if (strchr(a, '=')) return false;
    for (size_t i = 0; i < sizeof with_value / sizeof with_value[0]; i++)
        if (strcmp(a, with_value[i]) == 0) return true;
    return false;
}

/* Matches word against the names of one level: exact, else a unique prefix (cobra's
 * EnablePrefixMatching). group NULL selects top-level words (commands and group names). */
static const char *match_word(const char *word, const char *group)
{
    const char *found = NULL;
    size_t wl = strlen(word);
    int hits = 0;
    for (size_t i = 0; i < ctl_n_commands; i++) {
        const struct ctl_cmd *c = &ctl_commands[i];
        const char *name;
        if (group)
            name = strcmp(c->group, group) == 0 ? c->name : NULL;
        else
            name = c->group[0] ? c->group : c->name;
        if (!name) continue;
        if (strcmp(name, word) == 0) return name;
        if (wl && strncmp(name, word, wl) == 0 && (!found || strcmp(found, name) != 0)) {
            found = name;
            hits++;
        }
    }
    return hits == 1 ? found : NULL;
}

static void usage(FILE *f)
{
    fputs("NAME:\n\tconcurctl - A command line client for etcd v3 API endpoints (concur and "
          "etcd).\n\nUSAGE:\n\tconcurctl [flags] <command> [options]\n\nCOMMANDS:\n",
          f);
    for (size_t i = 0; i < ctl_n_commands; i++)
        fprintf(f, "\t%-44s %s\n", ctl_commands[i].usage, ctl_commands[i].summary);
    fputs("\nGLOBAL FLAGS (also from ETCDCTL_<FLAG> environment variables):\n"
          "\t--endpoints=[127.0.0.1:2379]\tgRPC endpoints\n"
          "\t--dial-timeout=2s\t\tdial timeout for client connections\n"
          "\t--command-timeout=5s\t\ttimeout for short running command (excluding dial timeout)\n"
          "\t--keepalive-time=2s\t\tkeepalive time for client connections\n"
          "\t--keepalive-timeout=6s\t\tkeepalive timeout for client connections\n"
          "\t-w, --write-out=simple\t\tset the output format (fields, json, protobuf, simple, "
          "table)\n"
          "\t--hex\t\t\t\tprint byte strings as hex encoded strings\n"
          "\nLOCAL CLUSTER (no endpoints; see `concurctl cluster --help`):\n"
          "\tcluster run|list|start|stop|restart|kill\tRun a Procfile's members, control them\n",
          f);
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    /* Find the command words, skipping global flags (and their values) before them. */
    int first = -1;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) {
            if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                usage(ctl->out);
                return 0;
            }
            if (global_takes_value(argv[i])) i++;
            continue;
        }
        first = i;
        break;
    }
    if (first < 0 || !strcmp(argv[first], "help")) {
        usage(ctl->out);
        return 0;
    }
    const char *top = match_word(argv[first], NULL);
    if (!top) {
        fprintf(ctl->err,
                "Error: unknown command \"%s\" for \"concurctl\"\n"
                "Run 'concurctl --help' for usage.\n",
                argv[first]);
        return CTL_EXIT_ERROR;
    }
    const struct ctl_cmd *cmd = NULL;
    int words = 1;
    for (size_t i = 0; i < ctl_n_commands && !cmd; i++)
        if (!ctl_commands[i].group[0] && !strcmp(ctl_commands[i].name, top)) cmd = &ctl_commands[i];
    if (!cmd) {
        /* A group: the next non-flag word names the subcommand. */
        int sub = -1;
        for (int i = first + 1; i < argc; i++) {
            if (argv[i][0] == '-' && argv[i][1]) {
                if (global_takes_value(argv[i])) i++;
                continue;
            }
            sub = i;
            break;
        }
        const char *name = sub > 0 ? match_word(argv[sub], top) : NULL;
        for (size_t i = 0; name && i < ctl_n_commands && !cmd; i++)
            if (!strcmp(ctl_commands[i].group, top) && !strcmp(ctl_commands[i].name, name))
                cmd = &ctl_commands[i];
        if (!cmd) {
            fprintf(ctl->out, "%s <subcommand>:\n", top);
            for (size_t i = 0; i < ctl_n_commands; i++)
                if (!strcmp(ctl_commands[i].group, top))
                    fprintf(ctl->out, "\t%-40s %s\n", ctl_commands[i].usage,
                            ctl_commands[i].summary);
            return sub > 0 ? CTL_EXIT_ERROR : 0;
        }
        /* Remove the subcommand word, keep the flags around it. */
        for (int i = sub; i + 1 < argc; i++) argv[i] = argv[i + 1];
        argc--;
        words = 1;
    }
    /* Pass everything but argv[0] and the command word; global flags before it included. */
    char **rest = malloc(sizeof *rest * (size_t)argc);
    if (!rest) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    int n = 0;
    for (int i = 1; i < argc; i++)
        if (i < first || i >= first + words) rest[n++] = argv[i];
    int rc = cmd->run(ctl, n, rest);
    free(rest);
    if (rc == CTL_EXIT_HELP) {
        fprintf(ctl->out, "NAME:\n\t%s%s%s - %s\n\nUSAGE:\n\tconcurctl %s\n", cmd->group,
                cmd->group[0] ? " " : "", cmd->name, cmd->summary, cmd->usage);
        rc = 0;
    }
    return rc;
}

int main(int argc, char **argv)
{
    /* A closed pipe ends output quietly with EPIPE instead of killing us mid-line. */
    signal(SIGPIPE, SIG_IGN);
    /* Local cluster control has its own flags (no endpoints): dispatch before global parsing. */
    if (argc >= 2 && !strcmp(argv[1], "cluster")) return procs_main(argc - 1, argv + 1);
    struct ctl ctl;
    ctl_init(&ctl, stdout, stderr);
    int rc = run(&ctl, argc, argv);
    fflush(stdout);
    ctl_free(&ctl);
    return rc;
}
