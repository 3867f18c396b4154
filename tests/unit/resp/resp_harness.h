/* resp_harness.h — test support for the RESP server: a server on its own loop thread with
 * test commands, child processes with deadlines, and blocking sockets with deadlines. */
#ifndef CONCUR_TESTS_RESP_HARNESS_H
#define CONCUR_TESTS_RESP_HARNESS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/resp/resp_server.h"
#include "util/log.h"

/*
 * Test commands registered by harness_start (all state is touched on the loop thread only;
 * tests read it through TEST.STATS, over the protocol):
 *   TEST.DELAY ms value   replies bulk `value` after ms milliseconds (asynchronous, from a
 *                         uv timer; 0 = on the next loop iteration)
 *   TEST.PARTIAL ms       writes an array header now and its two elements ("a", "b") after ms:
 *                         a reply built across loop iterations
 *   TEST.BIG n            replies a bulk of n 'x' bytes at once
 *   TEST.HOLD key         stays in flight until TEST.RELEASE key (then replies bulk key);
 *                         deterministic completion order, independent of timing
 *   TEST.RELEASE key      completes every held command with that key; replies their count
 *   TEST.STATS            array of integers, in this order: connected_clients,
 *                         inflight_commands, peak_pending (most TEST.DELAY/PARTIAL pending at
 *                         once), protocol_errors, output_limit_disconnections,
 *                         rejected_connections, total_commands_processed, delays_completed,
 *                         detached_completions (completions whose client had gone),
 *                         backpressure_pauses
 */
enum {
    ST_CONNECTED,
    ST_INFLIGHT,
    ST_PEAK_PENDING,
    ST_PROTOCOL_ERRORS,
    ST_OUTPUT_LIMIT,
    ST_REJECTED,
    ST_COMMANDS,
    ST_DELAYS_DONE,
    ST_DETACHED,
    ST_PAUSES,
    ST_COUNT
};

struct harness {
    uv_loop_t loop;
    uv_async_t wake;
    pthread_t thread;
    struct resp_server *srv;
    struct logger log;
    int port;
    uint64_t drain_ms;
    int done_called; /* written on the loop thread, read after join */
    /* loop-thread state of the test commands */
    int pending, peak_pending;
    long long delays_done, detached;
    struct resp_ctx *held[64];
    char held_key[64][16];
    int nheld;
};

/* Starts a server on 127.0.0.1:0 with cfg (NULL = defaults) on a new loop thread. */
void harness_start(struct harness *h, const struct resp_config *cfg);

/* Closes the server with drain_ms, waits (deadline 20 s) for the loop thread to finish,
 * destroys the server and checks that the loop closes with no handle left. Commands still
 * held are then completed (detached, after the server is gone, which the API allows). */
void harness_stop(struct harness *h, uint64_t drain_ms);

/* ---- sockets (blocking, with deadlines) ---- */

int tcp_connect(int port);
/* Like tcp_connect but returns -1 when nothing listens. */
int tcp_connect_try(int port);
void send_all(int fd, const void *p, size_t n);
#define SEND_LIT(fd, lit) send_all((fd), (lit), sizeof(lit) - 1)
/* Reads until `want` bytes have arrived, EOF or timeout_ms. Returns the count; *eof = 1 on
 * EOF (or a reset). */
size_t recv_n(int fd, char *buf, size_t want, int timeout_ms, int *eof);
/* Reads until EOF or timeout_ms; returns a malloc'd NUL-terminated buffer; *timed_out set if
 * the deadline passed first. */
char *recv_to_eof(int fd, size_t *len, int timeout_ms, int *timed_out);
/* Sends one inline command and returns the TEST.STATS array. */
void stats_over(int fd, long long out[ST_COUNT]);
/* Polls TEST.STATS on a fresh connection until out[which] == want (deadline 10 s). */
void wait_stat(int port, int which, long long want);

/* ---- child processes ---- */

/* Runs argv (argv[0] looked up in PATH) with `input` on stdin, stdout and stderr captured
 * together; kills it after timeout_ms. Returns the exit status, or -1 if it was killed or
 * did not exit normally. *out is malloc'd and NUL-terminated. */
int run_proc(char *const argv[], const char *input, size_t input_len, int timeout_ms, char **out,
             size_t *out_len);

/* Starts argv in the background (dies with the test process). Returns the pid. */
pid_t spawn_bg(char *const argv[]);
/* Kills and reaps pid. */
void kill_bg(pid_t pid);
/* A TCP port that was free a moment ago (bind 0, read, close). */
int probe_free_port(void);

#endif
