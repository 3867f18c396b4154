/* procs_internal.h — pieces of `concurctl cluster` shared between its files. */
#ifndef CONCUR_CTL_PROCS_INTERNAL_H
#define CONCUR_CTL_PROCS_INTERNAL_H

#include "ctl/procs/procs.h"

/* Runs the supervisor for entries in the foreground until SIGINT/SIGTERM stopped every
 * process. Returns the process exit status (0, or 2 when the socket cannot be served). */
int procs__run(const struct procs_entry *entries, int n, const char *sock_path);

/* Sends one command line to the supervisor at sock_path and copies its one-line reply (without
 * the newline) into reply. Returns 0 when a reply starting with "ok" came back, 1 for an
 * "error" reply, CC_ENOTFOUND when no supervisor answers. */
int procs__request(const char *sock_path, const char *line, char *reply, size_t replylen);

/* Returns 0 when a supervisor answers on sock_path. */
int procs__ping(const char *sock_path);

#endif
