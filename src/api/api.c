/* api.c — starts and stops the member's client listeners: the Redis protocol on --redis-addr
 * and, on every --listen-client-urls URL, etcd's v3 API (gRPC over HTTP/2 and the JSON
 * gateway, /health, /version, /metrics over HTTP/1.1 on the same port). */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd.h"
#include "api/gateway/gateway.h"
#include "api/grpc/grpc.h"
#include "api/http/http.h"
#include "api/http/httpsrv.h"
#include "api/redis/redis.h"
#include "api/resp/resp_server.h"
#include "server/lifecycle.h"
#include "util/err.h"

#define DRAIN_MS      5000
#define GRPC_OVERHEAD (512u << 10) /* etcd's grpcOverheadBytes over --max-request-bytes */

struct api {
    struct member *m;
    struct resp_server *resp;
    struct etcd_api *etcd;
    struct grpc_server *grpc;
    struct http_router *router;
    struct httpsrv *http[CFG_MAX_URLS];
    size_t n_http;
    int open; /* listeners still closing */
    void (*done)(void *arg);
    void *done_arg;
};

static void sum_conn_stats(void *arg, struct httpsrv_stats *sum)
{
    struct api *a = arg;
    for (size_t i = 0; i < a->n_http; i++) {
        const struct httpsrv_stats *s = httpsrv_stats(a->http[i]);
        sum->conns_accepted += s->conns_accepted;
        sum->conns_refused += s->conns_refused;
        sum->conns_open += s->conns_open;
        sum->bytes_in += s->bytes_in;
        sum->bytes_out += s->bytes_out;
    }
}

static int start_redis(struct api *a)
{
    const struct member_config *cfg = member_config(a->m);
    struct logger *lg = member_logger(a->m);
    struct resp_config rc;
    memset(&rc, 0, sizeof(rc));
    rc.on_open = redis_conn_open;
    rc.on_close = redis_conn_close;
    rc.hook_arg = a->m;
    rc.server_name = "concur";
    int err = resp_server_create(&a->resp, member_loop(a->m), &rc, lg);
    if (!err) err = redis_register(a->resp, a->m);
    if (!err) err = resp_server_listen(a->resp, cfg->redis_host, cfg->redis_port);
    if (err) {
        log_error(lg, "cannot serve the Redis protocol on %s:%u: %s", cfg->redis_host,
                  cfg->redis_port, a->resp ? resp_server_errmsg(a->resp) : cc_strerror(err));
        return err;
    }
    log_info(lg, "serving the Redis protocol on %s:%d", cfg->redis_host, resp_server_port(a->resp));
    return 0;
}

static int start_etcd(struct api *a)
{
    struct member *m = a->m;
    const struct member_config *cfg = member_config(m);
    struct logger *lg = member_logger(m);
    struct etcd_opts eo;
    etcd_opts_from_member(m, &eo);
    eo.progress_notify_ms = cfg->watch_progress_notify_ms;
    int err = etcd_api_new(m, member_loop(m), &eo, &a->etcd);
    struct grpc_limits lim;
    grpc_limits_default(&lim);
    lim.max_recv_msg_bytes = cfg->max_request_bytes + GRPC_OVERHEAD;
    if (!err) err = grpc_server_new(&lim, lg, &a->grpc);
    if (!err) err = etcd_api_register_grpc(a->etcd, a->grpc);
    if (!err) err = http_router_new(&a->router);
    struct gateway_src src = {a->grpc, a->router, sum_conn_stats, a};
    if (!err) err = gateway_register(a->etcd, a->router, &src);
    if (err) {
        log_error(lg, "cannot set up the etcd API: %s", cc_strerror(err));
        return err;
    }
    for (uint32_t i = 0; i < cfg->listen_client_urls.n; i++) {
        const char *url = cfg->listen_client_urls.v[i].text;
        struct httpsrv_config hc;
        httpsrv_config_default(&hc);
        hc.grpc = a->grpc;
        hc.router = a->router;
        hc.log = lg;
        struct httpsrv *s = NULL;
        err = httpsrv_new(member_loop(m), &hc, &s);
        if (err) {
            log_error(lg, "cannot serve clients on %s: %s", url, cc_strerror(err));
            return err;
        }
        a->http[a->n_http++] = s;
        err = httpsrv_listen(s, url);
        if (err) {
            log_error(lg, "cannot serve clients on %s: %s", url, httpsrv_errmsg(s));
            return err;
        }
        log_info(lg, "serving the etcd v3 API (gRPC, JSON gateway, /health, /metrics) on %s", url);
    }
    return 0;
}

static void one_closed(struct api *a)
{
    if (--a->open > 0) return;
    a->done(a->done_arg);
}

static void resp_closed(struct resp_server *srv, void *arg)
{
    (void)srv;
    one_closed(arg);
}

static void closed_cb(void *arg)
{
    one_closed(arg);
}

/* Closes everything that is open; done(arg) once all of it is closed. */
static void shutdown_all(struct api *a, void (*done)(void *arg), void *arg)
{
    a->done = done;
    a->done_arg = arg;
    a->open = 1; /* held until every close below is started */
    if (a->resp) {
        a->open++;
        resp_server_close(a->resp, DRAIN_MS, resp_closed, a);
    }
    /* The listeners first: closing them cancels their calls, which the etcd API then waits
     * for (with its handles) before it reports closed. */
    for (size_t i = 0; i < a->n_http; i++) {
        a->open++;
        httpsrv_close(a->http[i], closed_cb, a);
    }
    a->n_http = 0; /* httpsrv_close frees them */
    if (a->etcd) {
        a->open++;
        etcd_api_close(a->etcd, closed_cb, a);
    }
    one_closed(a);
}

static void failed_closed(void *arg)
{
    api_free(arg);
}

int api_start(struct member *m, struct api **out)
{
    struct api *a = calloc(1, sizeof(*a));
    if (!a) return CC_ENOMEM;
    a->m = m;
    int err = member_config(m)->redis_enabled ? start_redis(a) : 0;
    if (!err) err = start_etcd(a);
    if (err) {
        /* Nothing stays listening; the handles close on the loop, which the member runs on
         * its way out, and the state is freed then. */
        shutdown_all(a, failed_closed, a);
        return err;
    }
    *out = a;
    return 0;
}

void api_stop(struct api *a, void (*done)(void *arg), void *arg)
{
    shutdown_all(a, done, arg);
}

void api_free(struct api *a)
{
    if (!a) return;
    resp_server_destroy(a->resp);
    etcd_api_free(a->etcd);
    grpc_server_free(a->grpc);
    if (a->router) http_router_free(a->router);
    free(a);
}
