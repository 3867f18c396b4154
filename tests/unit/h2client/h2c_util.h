/* h2c_util.h — what the h2client tests share: a loop driven until a condition holds (with a
 * deadline), and replies and events recorded for later checks. */
#ifndef CONCUR_TESTS_H2CLIENT_UTIL_H
#define CONCUR_TESTS_H2CLIENT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/h2client/h2c.h"

#define TU_DEADLINE_MS 30000 /* generous: the machines are shared */
#define TU_MSG_MAX     (256u << 10)

/* One call's reply as recorded by tu_on_reply. */
struct tu_reply {
    int n; /* replies received (must end at 1) */
    int code, err;
    bool sent;
    int32_t stream_id;
    char message[1100];
    uint8_t *msg; /* malloc'd copy of the response message (code 0), NULL otherwise */
    size_t msg_len;
};

/* Set while the test is inside an h2c_* call: a reply seen then is a contract violation. */
extern bool tu_in_api;

/* Records the reply into the struct tu_reply given as call_ud. */
void tu_on_reply(void *call_ud, const struct h2c_reply *r);

/* Connection events: counts of READY and FAILED, the last reason. */
struct tu_events {
    int ready, failed;
    char why[256];
};
void tu_on_event(void *ud, struct h2c *c, enum h2c_event ev, const char *why);

/* h2c_close's completion: increments the int it is given. */
void tu_on_closed(void *arg);

/* Runs loop until cond(arg) holds; fails the test after TU_DEADLINE_MS. */
void tu_run_until(uv_loop_t *loop, bool (*cond)(void *arg), void *arg);

/* Conditions for tu_run_until. */
bool tu_replied(void *reply);   /* struct tu_reply: n >= 1 */
bool tu_int_set(void *counter); /* int: != 0 */

/* Runs the loop until nothing is left (all handles closed). */
void tu_drain(uv_loop_t *loop);

void tu_reply_free(struct tu_reply *r);

/* Starts a call with the test's bookkeeping (tu_in_api set around it). */
int tu_call(struct h2c *c, const char *path, const void *body, size_t len,
            const struct h2c_call_opts *o, struct tu_reply *r);

#endif
