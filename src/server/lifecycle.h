/* lifecycle.h — opening, running and closing a member (used by concurd's main). */
#ifndef CONCUR_SERVER_LIFECYCLE_H
#define CONCUR_SERVER_LIFECYCLE_H

#include <uv.h>

#include "server/config.h"

struct member;

/* Client listeners are started and stopped by the composition root (main.c), which knows the
 * api/ layers; the member calls these hooks. */
struct member_hooks {
    /* Start listening for clients; return 0 or a cc_err (the member then exits). */
    int (*start_clients)(struct member *m, void *arg);
    /* Stop accepting clients and finish in-flight requests; call done(m) once all are closed. */
    void (*stop_clients)(struct member *m, void *arg, void (*done)(struct member *m));
    void *arg;
};

/* Opens the member described by cfg on loop: recovers storage and the store, creates or
 * restores the Raft peer. Logs and returns a cc_err on failure (nothing left running).
 * cfg is copied. */
int member_open(const struct member_config *cfg, uv_loop_t *loop, struct member **out);

/* Starts peers, the persistence thread, timers and (through hooks) the client listeners, and
 * handles SIGTERM/SIGINT: stop accepting clients, finish in flight, hand leadership over,
 * close. Returns after the loop has nothing left; the process exit code is returned. */
int member_run(struct member *m, const struct member_hooks *hooks);

/* Frees a member after member_run returned (or instead of it, after member_open). */
void member_close(struct member *m);

/* The member's logger (for api layers created by main). */
struct logger *member_logger(struct member *m);
const struct member_config *member_config(const struct member *m);
uv_loop_t *member_loop(struct member *m);

#endif
