/* h2c_util.c — loop driving and reply recording for the h2client tests. */
#include "h2c_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

bool tu_in_api;

void tu_on_reply(void *call_ud, const struct h2c_reply *r)
{
    struct tu_reply *t = call_ud;
    assert_false(tu_in_api); /* never from inside an h2c_* call */
    t->n++;
    t->code = r->code;
    t->err = r->err;
    t->sent = r->sent;
    t->stream_id = r->stream_id;
    assert_non_null(r->message);
    snprintf(t->message, sizeof t->message, "%s", r->message);
    free(t->msg);
    t->msg = NULL;
    t->msg_len = 0;
    if (r->code == 0 && r->err == 0) {
        assert_true(r->msg_len <= TU_MSG_MAX);
        t->msg = malloc(r->msg_len ? r->msg_len : 1);
        assert_non_null(t->msg);
        if (r->msg_len) memcpy(t->msg, r->msg, r->msg_len);
        t->msg_len = r->msg_len;
    }
}

void tu_on_event(void *ud, struct h2c *c, enum h2c_event ev, const char *why)
{
    struct tu_events *e = ud;
    assert_false(tu_in_api);
    if (ev == H2C_READY) e->ready++;
    if (ev == H2C_FAILED) {
        e->failed++;
        snprintf(e->why, sizeof e->why, "%s", why);
    }
}

void tu_on_closed(void *arg)
{
    (*(int *)arg)++;
}

static void on_wake(uv_timer_t *t)
{
    (void)t; /* only makes UV_RUN_ONCE return so the condition is checked again */
}

void tu_run_until(uv_loop_t *loop, bool (*cond)(void *arg), void *arg)
{
    uv_timer_t wake;
    uv_timer_init(loop, &wake);
    uv_timer_start(&wake, on_wake, 20, 20);
    uint64_t until = clock_mono_ms() + TU_DEADLINE_MS;
    while (!cond(arg)) {
        if (clock_mono_ms() > until) fail_msg("condition not reached in %d ms", TU_DEADLINE_MS);
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&wake, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

bool tu_replied(void *reply)
{
    return ((struct tu_reply *)reply)->n >= 1;
}

bool tu_int_set(void *counter)
{
    return *(int *)counter != 0;
}

void tu_drain(uv_loop_t *loop)
{
    uint64_t until = clock_mono_ms() + TU_DEADLINE_MS;
    while (uv_run(loop, UV_RUN_NOWAIT) != 0) {
        if (clock_mono_ms() > until) fail_msg("loop did not drain");
        uv_run(loop, UV_RUN_ONCE);
    }
}

void tu_reply_free(struct tu_reply *r)
{
    free(r->msg);
    r->msg = NULL;
}

int tu_call(struct h2c *c, const char *path, const void *body, size_t len,
            const struct h2c_call_opts *o, struct tu_reply *r)
{
    tu_in_api = true;
    int rc = h2c_call(c, path, body, len, o, tu_on_reply, r, NULL);
    tu_in_api = false;
    return rc;
}
