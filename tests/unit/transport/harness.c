/* harness.c — test harness: transports on one loop, deliveries checked, deadline waits. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "msggen.h"
#include "util/err.h"

static void on_deliver(void *ud, const struct raft_msg *m)
{
    struct h_node *nd = ud;
    if (m->to != nd->id || m->from >= H_SENDERS) {
        nd->bad++;
        return;
    }
    /* Intact: rebuild what the sender generated for this ctx and compare every byte. */
    struct raft_msg want;
    gen_msg(&want, m->ctx, m->from, m->to);
    if (!msg_same(&want, m)) nd->bad++;
    gen_free(&want);
    /* In order: ctx only grows per sender; skipped values are drops. */
    if (m->ctx < nd->next_ctx[m->from])
        nd->bad++;
    else
        nd->gaps[m->from] += m->ctx - nd->next_ctx[m->from];
    nd->next_ctx[m->from] = m->ctx + 1;
    nd->received[m->from]++;
}

static void on_report(void *ud, raft_id peer, bool snapshot_failed)
{
    struct h_node *nd = ud;
    nd->reports++;
    if (snapshot_failed) nd->snap_reports++;
    nd->last_report = peer;
}

static void on_done(void *ud)
{
    struct h_node *nd = ud;
    nd->done = true;
    nd->done_calls++;
}

static void on_expire(uv_timer_t *h)
{
    struct h_fixture *fx = h->data;
    fx->expired = true;
}

struct h_fixture *h_setup(void)
{
    struct h_fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    uv_timer_init(&fx->loop, &fx->deadline);
    uv_timer_init(&fx->loop, &fx->pump);
    fx->deadline.data = fx->pump.data = fx;
    /* CONCUR_TEST_LOG=debug shows the transports' log lines. */
    enum log_level lvl = LOG_ERROR;
    const char *env = getenv("CONCUR_TEST_LOG");
    if (env) log_level_parse(env, &lvl);
    for (int i = 0; i < H_NODES; i++) {
        struct h_node *nd = &fx->n[i];
        nd->fx = fx;
        nd->id = (raft_id)i;
        char name[16];
        snprintf(name, sizeof(name), "n%d", i);
        log_init(&nd->lg, name, 2, lvl);
    }
    return fx;
}

void h_options(struct h_fixture *fx, int i, uint64_t cluster_id, uint16_t port,
               struct transport_options *o)
{
    transport_options_default(o);
    o->id = (raft_id)i;
    o->cluster_id = cluster_id;
    snprintf(fx->listen_url[i], sizeof(fx->listen_url[i]), "127.0.0.1:%u", (unsigned)port);
    o->listen_url = fx->listen_url[i];
    o->seed = (uint64_t)i * 1000003u;
    o->backoff_min_ms = 10;
    o->backoff_max_ms = 200;
    o->deliver_cb = on_deliver;
    o->report_cb = on_report;
    o->ud = &fx->n[i];
}

void h_start(struct h_fixture *fx, int i, const struct transport_options *o)
{
    struct h_node *nd = &fx->n[i];
    assert_null(nd->t);
    /* A restarted node keeps nothing of its previous life but its port. */
    struct logger lg = nd->lg;
    memset(nd, 0, sizeof(*nd));
    nd->fx = fx;
    nd->id = (raft_id)i;
    nd->lg = lg;
    assert_int_equal(transport_new(&fx->loop, &nd->lg, o, &nd->t), 0);
    nd->port = transport_port(nd->t);
    assert_int_not_equal(nd->port, 0);
}

void h_start_default(struct h_fixture *fx, int i, uint64_t cluster_id)
{
    struct transport_options o;
    h_options(fx, i, cluster_id, 0, &o);
    h_start(fx, i, &o);
}

static bool cond_done(struct h_fixture *fx, const void *arg)
{
    return fx->n[*(const int *)arg].done;
}

void h_stop(struct h_fixture *fx, int i)
{
    struct h_node *nd = &fx->n[i];
    assert_non_null(nd->t);
    transport_close(nd->t, on_done, nd);
    nd->t = NULL;
    assert_true(h_wait(fx, cond_done, &i));
    assert_int_equal(nd->done_calls, 1);
}

const char *h_url(struct h_fixture *fx, int i, char *buf, size_t len)
{
    snprintf(buf, len, "http://127.0.0.1:%u", (unsigned)fx->n[i].port);
    return buf;
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

void h_teardown(struct h_fixture *fx)
{
    for (int i = 0; i < H_NODES; i++)
        if (fx->n[i].t) h_stop(fx, i);
    uv_close((uv_handle_t *)&fx->deadline, close_cb);
    uv_close((uv_handle_t *)&fx->pump, close_cb);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    /* UV_EBUSY here means a transport left a handle open after its done callback. */
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    free(fx);
}

bool h_wait(struct h_fixture *fx, bool (*cond)(struct h_fixture *, const void *), const void *arg)
{
    fx->expired = false;
    uv_timer_start(&fx->deadline, on_expire, H_WAIT_MS, 0);
    while (!cond(fx, arg) && !fx->expired) uv_run(&fx->loop, UV_RUN_ONCE);
    uv_timer_stop(&fx->deadline);
    return cond(fx, arg);
}

static bool cond_expired(struct h_fixture *fx, const void *arg)
{
    (void)arg;
    return fx->expired;
}

void h_run_for(struct h_fixture *fx, uint64_t ms)
{
    fx->expired = false;
    uv_timer_start(&fx->deadline, on_expire, ms, 0);
    while (!cond_expired(fx, NULL)) uv_run(&fx->loop, UV_RUN_ONCE);
}

int h_send(struct h_fixture *fx, int from, int to, uint64_t seq)
{
    struct raft_msg m;
    gen_msg(&m, seq, (raft_id)from, (raft_id)to);
    int rc = transport_send(fx->n[from].t, &m);
    gen_free(&m); /* the transport serialized it: ours to release at once */
    return rc;
}

bool h_cond_connected(struct h_fixture *fx, const void *arg)
{
    const struct h_pair *p = arg;
    struct transport_peer_stats st;
    return transport_peer_stats(fx->n[p->from].t, (raft_id)p->to, &st) == 0 && st.connected;
}

bool h_cond_received(struct h_fixture *fx, const void *arg)
{
    const struct h_count *c = arg;
    return fx->n[c->node].received[c->from] >= c->n;
}

static void on_pump(uv_timer_t *h)
{
    struct h_fixture *fx = h->data;
    if (!fx->n[fx->pump_from].t) return;
    int rc = h_send(fx, fx->pump_from, fx->pump_to, fx->pump_seq++);
    if (rc == CC_EUNAVAIL) fx->pump_unavail++;
}

void h_pump_start(struct h_fixture *fx, int from, int to, uint64_t first_seq)
{
    fx->pump_from = from;
    fx->pump_to = to;
    fx->pump_seq = first_seq;
    fx->pump_unavail = 0;
    uv_timer_start(&fx->pump, on_pump, 2, 2);
}

void h_pump_stop(struct h_fixture *fx)
{
    uv_timer_stop(&fx->pump);
}
