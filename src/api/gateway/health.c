/* health.c — GET /health (etcd 3.4 etcdhttp checkHealth: a leader is known and a quorum read
 * completes within a second) and GET /version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/gateway/gateway_int.h"
#include "util/err.h"

#define HEALTH_TIMEOUT_MS 1000 /* etcd's QGET deadline */

struct health {
    struct gateway *gw;
    struct http_exchange *ex;
    uv_timer_t timer;
    bool answered;
    int pending; /* the read barrier's callback and the timer's close */
};

static void health_answer(struct gateway *gw, struct http_exchange *ex, bool ok)
{
    if (ok) {
        gw->api->stats.health_ok++;
        gateway__reply(ex, 200, "text/plain; charset=utf-8", "{\"health\":\"true\"}", 17);
    } else {
        gw->api->stats.health_failed++;
        /* Go's http.Error: the text and a newline, with status 503. */
        http_exchange_add_header(ex, "X-Content-Type-Options", "nosniff");
        gateway__reply(ex, 503, "text/plain; charset=utf-8", "{\"health\":\"false\"}\n", 19);
    }
}

static void health_release(struct health *h)
{
    if (--h->pending) return;
    struct etcd_api *a = h->gw->api;
    free(h);
    etcd__call_gone(a); /* closing the API waits for health checks too */
}

static void health_done(struct health *h, bool ok)
{
    if (h->answered) return;
    h->answered = true;
    health_answer(h->gw, h->ex, ok);
    uv_timer_stop(&h->timer);
}

static void timer_closed(uv_handle_t *t)
{
    health_release(t->data);
}

static void on_timeout(uv_timer_t *t)
{
    health_done(t->data, false);
}

static void on_read(void *arg, int err)
{
    struct health *h = arg;
    health_done(h, err == 0);
    uv_close((uv_handle_t *)&h->timer, timer_closed);
    health_release(h);
}

static void health_request(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    struct gateway *gw = arg;
    const struct srv_status *st = etcd__status(gw->api);
    if (st->leader_id == 0 || st->stopped) {
        health_answer(gw, ex, false);
        return;
    }
    struct health *h = calloc(1, sizeof(*h));
    if (!h) {
        health_answer(gw, ex, false);
        return;
    }
    h->gw = gw;
    h->ex = ex;
    if (srv_read_barrier(gw->api->m, false, on_read, h)) {
        free(h);
        health_answer(gw, ex, false);
        return;
    }
    h->pending = 2;
    gw->api->calls_live++;
    uv_timer_init(gw->api->loop, &h->timer);
    h->timer.data = h;
    uv_timer_start(&h->timer, on_timeout, HEALTH_TIMEOUT_MS, 0);
}

const struct http_route_ops gateway__health_ops = {health_request, NULL, NULL};

static void version_request(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    struct gateway *gw = arg;
    const struct srv_status *st = etcd__status(gw->api);
    char body[128];
    /* The cluster version is the server's major.minor with patch 0, as etcd reports it. */
    int maj = 0, min = 0;
    sscanf(st->version, "%d.%d", &maj, &min);
    int n = snprintf(body, sizeof(body), "{\"etcdserver\":\"%s\",\"etcdcluster\":\"%d.%d.0\"}",
                     st->version, maj, min);
    gateway__reply(ex, 200, "application/json", body, (size_t)n);
}

const struct http_route_ops gateway__version_ops = {version_request, NULL, NULL};
