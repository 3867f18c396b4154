/* harness.h — several transports on one uv_loop in one test process, with deadline waits. */
#ifndef CONCUR_TESTS_TRANSPORT_HARNESS_H
#define CONCUR_TESTS_TRANSPORT_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "transport/transport.h"
#include "util/log.h"

#define H_NODES   4     /* node slots; node i has member ID i (1..3) */
#define H_SENDERS 16    /* member IDs a node tracks deliveries from */
#define H_WAIT_MS 20000 /* generous: the machine is shared and slow; never a timing claim */

struct h_fixture;

struct h_node {
    struct h_fixture *fx;
    struct transport *t; /* NULL when not running */
    raft_id id;
    uint16_t port;
    struct logger lg;
    bool done; /* transport_close's callback ran */
    uint32_t done_calls;
    /* Deliveries, per sender ID: each is checked against gen_msg(ctx, from, to). */
    uint64_t received[H_SENDERS];
    uint64_t next_ctx[H_SENDERS]; /* ctx values must increase: in order per sender */
    uint64_t gaps[H_SENDERS];     /* ctx values skipped (dropped messages) */
    uint32_t bad;                 /* deliveries that were corrupt or out of order */
    /* report_cb calls. */
    uint32_t reports;
    uint32_t snap_reports;
    raft_id last_report;
};

struct h_fixture {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
    struct h_node n[H_NODES];
    char listen_url[H_NODES][64];
    /* A pump sends one generated message every few ms from pump_from to pump_to. */
    uv_timer_t pump;
    int pump_from, pump_to;
    uint64_t pump_seq;
    uint32_t pump_unavail; /* sends that returned CC_EUNAVAIL */
};

/* Allocates a fixture with its loop. */
struct h_fixture *h_setup(void);
/* Closes every running transport, waits for the done callbacks, and checks the loop closes
 * with no handle left (a leaked handle fails the test). */
void h_teardown(struct h_fixture *fx);

/* Fills o with the harness's defaults for node i: cluster, listen port, short backoff,
 * callbacks. */
void h_options(struct h_fixture *fx, int i, uint64_t cluster_id, uint16_t port,
               struct transport_options *o);
/* Starts node i with o (from h_options, possibly adjusted); fails the test on error. */
void h_start(struct h_fixture *fx, int i, const struct transport_options *o);
/* Starts node i with default options. */
void h_start_default(struct h_fixture *fx, int i, uint64_t cluster_id);
/* Closes node i and waits for its done callback. */
void h_stop(struct h_fixture *fx, int i);
/* Writes "http://127.0.0.1:<port of node i>" to buf and returns buf. */
const char *h_url(struct h_fixture *fx, int i, char *buf, size_t len);

/* Runs the loop until cond(fx, arg) holds or H_WAIT_MS pass; returns cond's final value. */
bool h_wait(struct h_fixture *fx, bool (*cond)(struct h_fixture *, const void *), const void *arg);
/* Runs the loop until expr holds, checking every few ms; fails the test after H_WAIT_MS. For
 * conditions on stats that have no callback to wake on. Needs cmocka in the includer. */
#define H_WAIT_UNTIL(fx, expr)                                                                     \
    do {                                                                                           \
        uint64_t h_deadline_ = uv_now(&(fx)->loop) + H_WAIT_MS;                                    \
        while (!(expr)) {                                                                          \
            assert_true(uv_now(&(fx)->loop) < h_deadline_);                                        \
            h_run_for((fx), 5);                                                                    \
        }                                                                                          \
    } while (0)

/* Runs the loop for about ms (to show that nothing more happens). */
void h_run_for(struct h_fixture *fx, uint64_t ms);

/* Sends gen_msg(seq, from, to) from node `from`; returns transport_send's code. */
int h_send(struct h_fixture *fx, int from, int to, uint64_t seq);

/* Common conditions. arg points at the node pair or count named. */
struct h_pair {
    int from, to;
};
bool h_cond_connected(struct h_fixture *fx, const void *pair);
struct h_count {
    int node, from;
    uint64_t n;
};
bool h_cond_received(struct h_fixture *fx, const void *count);

void h_pump_start(struct h_fixture *fx, int from, int to, uint64_t first_seq);
void h_pump_stop(struct h_fixture *fx);

#endif
