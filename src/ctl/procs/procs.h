/* procs.h — `concurctl cluster`: run a Procfile's members and control them one by one. */
#ifndef CONCUR_CTL_PROCS_H
#define CONCUR_CTL_PROCS_H

#include <stddef.h>
#include <stdint.h>

/*
 * `concurctl cluster run [-f Procfile] [--sock PATH]`
 *     Starts every process of the Procfile in the foreground (like foreman/goreman), prints
 *     their output as "HH:MM:SS name | line" with a colour per name when stdout is a terminal,
 *     and serves control commands on a Unix socket (default data/.procs.sock). Ctrl-C (SIGINT)
 *     or SIGTERM stops every process (SIGTERM, then SIGKILL after 10 s) and exits.
 * `concurctl cluster stop|start|restart|kill NAME [--sock PATH]`
 * `concurctl cluster start -f Procfile.learner NAME`   adds and starts a process from another
 *     Procfile (the learner flow)
 * `concurctl cluster list [--sock PATH]`
 *     Talk to a running `cluster run`. Exit status 0 on success, 1 when the supervisor refused
 *     (unknown name, already running, ...), 2 on usage errors or when no supervisor runs.
 */
int procs_main(int argc, char **argv);

#define PROCS_MAX      32 /* processes one supervisor runs */
#define PROCS_NAME_MAX 64
#define PROCS_CMD_MAX  4096 /* bytes of one command line */
#define PROCS_LINE_MAX 8192 /* longest output line printed whole; longer ones are split */

struct procs_entry {
    char name[PROCS_NAME_MAX];
    char cmd[PROCS_CMD_MAX];
};

/* Parses Procfile text (len bytes, "name: command" lines, '#' comments and blank lines
 * ignored) into out (capacity max). Returns the number of entries, or CC_EINVAL with a reason
 * (line number) in err for a malformed line, a duplicate name, or too many entries; CC_ETOOBIG
 * for an over-long line. */
int procs_parse(const char *text, size_t len, struct procs_entry *out, int max, char *err,
                size_t errlen);

#endif
