/* resp_server.c — the RESP listener: configuration, accepting and refusing clients, shutdown,
 * statistics. Connections themselves live in resp_conn.c. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/resp/resp_internal.h"
#include "util/err.h"

/* Redis's tcp-backlog default. */
#define LISTEN_BACKLOG 511
/* uv_buf_t lengths are unsigned int: keep every buffer well inside that. */
#define MAX_BUFFER_BYTES ((size_t)1 << 30)

static void apply_defaults(struct resp_config *cfg)
{
    struct resp_parser probe; /* borrows the parser's own defaults for zero fields */
    resp_parser_init(&probe, &cfg->parse);
    cfg->parse = probe.lim;
    if (!cfg->max_clients) cfg->max_clients = RESP_DEFAULT_MAX_CLIENTS;
    if (!cfg->max_inflight) cfg->max_inflight = RESP_DEFAULT_MAX_INFLIGHT;
    if (!cfg->max_output_bytes) cfg->max_output_bytes = RESP_DEFAULT_MAX_OUTPUT_BYTES;
    if (!cfg->output_pause_bytes) cfg->output_pause_bytes = RESP_DEFAULT_OUTPUT_PAUSE_BYTES;
    if (!cfg->server_name) cfg->server_name = "concur";
    if (!cfg->version) cfg->version = "7.0.0";
}

int resp_server_create(struct resp_server **out, uv_loop_t *loop, const struct resp_config *cfg,
                       const struct logger *log)
{
    struct resp_config c;
    if (cfg)
        c = *cfg;
    else
        memset(&c, 0, sizeof(c));
    apply_defaults(&c);
    const struct resp_parse_limits *l = &c.parse;
    if (l->max_bulk_len > l->max_request_bytes || l->max_inline_len > l->max_request_bytes ||
        l->max_request_bytes > MAX_BUFFER_BYTES || c.max_output_bytes > MAX_BUFFER_BYTES ||
        c.output_pause_bytes > c.max_output_bytes)
        return CC_EINVAL;
    struct resp_server *srv = calloc(1, sizeof(*srv));
    if (!srv) return CC_ENOMEM;
    srv->loop = loop;
    srv->cfg = c;
    srv->log = log;
    resp__cmdtab_init(&srv->tab);
    int rc = resp__register_builtins(srv);
    if (!rc) rc = resp__register_command_cmd(srv);
    if (rc) {
        free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int resp_server_register(struct resp_server *srv, const struct resp_command *cmd)
{
    return resp__cmdtab_add(&srv->tab, cmd);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct resp_server *srv = h->data;
    /* The callback may destroy srv: touch nothing afterwards. */
    srv->done(srv, srv->done_arg);
}

/* The timer closes last and its callback reports the end. Chained, not closed together:
 * libuv runs close callbacks in no promised order, and done may free srv (and the idle). */
static void on_idle_closed(uv_handle_t *h)
{
    struct resp_server *srv = h->data;
    uv_close((uv_handle_t *)&srv->drain_timer, on_timer_closed);
}

void resp__handle_closed(struct resp_server *srv)
{
    assert(srv->open_handles > 0);
    srv->open_handles--;
    if (!srv->closing || srv->open_handles > 0) return;
    uv_timer_stop(&srv->drain_timer);
    if (srv->idle_init)
        uv_close((uv_handle_t *)&srv->idle, on_idle_closed);
    else
        uv_close((uv_handle_t *)&srv->drain_timer, on_timer_closed);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct resp_server *srv = h->data;
    free(h);
    resp__handle_closed(srv);
}

static void on_refused_closed(uv_handle_t *h)
{
    struct resp_server *srv = h->data;
    free(h);
    resp__handle_closed(srv);
}

static void on_unaccepted_closed(uv_handle_t *h)
{
    struct resp_conn *c = h->data;
    struct resp_server *srv = c->srv;
    free(c);
    resp__handle_closed(srv);
}

/* Redis accepts a client over maxclients, tells it why and closes. */
static void refuse(struct resp_server *srv, uv_stream_t *listener)
{
    uv_tcp_t *t = malloc(sizeof(*t));
    if (!t) return; /* libuv keeps the pending socket; the next accept retries it */
    uv_tcp_init(srv->loop, t);
    t->data = srv;
    srv->open_handles++;
    if (uv_accept(listener, (uv_stream_t *)t) == 0) {
        static const char msg[] = "-ERR max number of clients reached\r\n";
        uv_buf_t b = uv_buf_init((char *)msg, sizeof(msg) - 1);
        uv_try_write((uv_stream_t *)t, &b, 1);
        srv->stats.rejected_connections++;
    }
    uv_close((uv_handle_t *)t, on_refused_closed);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct resp_server *srv = listener->data;
    if (status < 0) {
        log_warn(srv->log, "resp: accept: %s", uv_strerror(status));
        return;
    }
    if (srv->closing) return;
    if (srv->stats.connected_clients >= srv->cfg.max_clients) {
        refuse(srv, listener);
        return;
    }
    struct resp_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        log_error(srv->log, "resp: accept: out of memory");
        return;
    }
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    c->srv = srv;
    srv->open_handles++;
    int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc) {
        log_warn(srv->log, "resp: accept: %s", uv_strerror(rc));
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_unaccepted_closed);
        return;
    }
    resp__conn_accepted(srv, c);
}

int resp_server_listen(struct resp_server *srv, const char *host, int port)
{
    if (srv->listener || srv->closing) {
        snprintf(srv->errmsg, sizeof(srv->errmsg), "already listening or closing");
        return CC_EINVAL;
    }
    if (port < 0 || port > 65535) {
        snprintf(srv->errmsg, sizeof(srv->errmsg), "bad port %d", port);
        return CC_EINVAL;
    }
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(srv->errmsg, sizeof(srv->errmsg), "%s: not an IP address", host);
        return CC_EINVAL;
    }
    uv_tcp_t *t = malloc(sizeof(*t));
    if (!t) return CC_ENOMEM;
    uv_tcp_init(srv->loop, t);
    t->data = srv;
    srv->open_handles++;
    int rc = uv_tcp_bind(t, (const struct sockaddr *)&ss, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)t, LISTEN_BACKLOG, on_connection);
    if (rc) {
        snprintf(srv->errmsg, sizeof(srv->errmsg), "listen on %s:%d: %s", host, port,
                 uv_strerror(rc));
        uv_close((uv_handle_t *)t, on_listener_closed);
        return cc_from_errno(-rc);
    }
    int len = sizeof(ss);
    if (uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len) == 0)
        srv->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    srv->listener = t;
    uv_idle_init(srv->loop, &srv->idle);
    srv->idle.data = srv;
    srv->idle_init = 1;
    log_info(srv->log, "resp: listening on %s:%d", host, srv->port);
    return 0;
}

int resp_server_port(const struct resp_server *srv)
{
    return srv->listener ? srv->port : 0;
}

const char *resp_server_errmsg(const struct resp_server *srv)
{
    return srv->errmsg;
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct resp_server *srv = t->data;
    while (srv->conns) resp__conn_close(srv->conns); /* close unlinks it */
}

void resp_server_close(struct resp_server *srv, uint64_t drain_ms,
                       void (*done)(struct resp_server *srv, void *arg), void *arg)
{
    assert(!srv->closing && done);
    srv->closing = 1;
    srv->done = done;
    srv->done_arg = arg;
    uv_timer_init(srv->loop, &srv->drain_timer);
    srv->drain_timer.data = srv;
    /* Counts as a handle until the end, so an idle server still reports done from the loop. */
    srv->open_handles++;
    if (srv->listener) {
        uv_close((uv_handle_t *)srv->listener, on_listener_closed);
        srv->listener = NULL;
    }
    if (drain_ms == 0) {
        on_drain_timeout(&srv->drain_timer);
    } else {
        for (struct resp_conn *c = srv->conns, *next; c; c = next) {
            next = c->next; /* draining may close c, which unlinks it */
            resp__conn_drain(c);
        }
        if (srv->conns) uv_timer_start(&srv->drain_timer, on_drain_timeout, drain_ms, 0);
    }
    resp__handle_closed(srv); /* the timer's own count */
}

void resp_server_destroy(struct resp_server *srv)
{
    if (!srv) return;
    assert(srv->conns == NULL && srv->listener == NULL);
    free(srv);
}

void resp_server_stats(const struct resp_server *srv, struct resp_stats *out)
{
    *out = srv->stats;
}

int resp_server_info_clients(const struct resp_server *srv, struct buf *b)
{
    char t[256];
    int n = snprintf(t, sizeof(t), "connected_clients:%" PRIu64 "\r\nmaxclients:%zu\r\n",
                     srv->stats.connected_clients, srv->cfg.max_clients);
    return buf_append(b, t, (size_t)n);
}

int resp_server_info_stats(const struct resp_server *srv, struct buf *b)
{
    const struct resp_stats *s = &srv->stats;
    char t[512];
    int n = snprintf(t, sizeof(t),
                     "total_connections_received:%" PRIu64 "\r\n"
                     "total_commands_processed:%" PRIu64 "\r\n"
                     "total_net_input_bytes:%" PRIu64 "\r\n"
                     "total_net_output_bytes:%" PRIu64 "\r\n"
                     "rejected_connections:%" PRIu64 "\r\n"
                     "protocol_errors:%" PRIu64 "\r\n"
                     "client_output_limit_disconnections:%" PRIu64 "\r\n"
                     "inflight_commands:%" PRIu64 "\r\n"
                     "client_backpressure_pauses:%" PRIu64 "\r\n",
                     s->total_connections_received, s->total_commands_processed,
                     s->total_net_input_bytes, s->total_net_output_bytes, s->rejected_connections,
                     s->protocol_errors, s->output_limit_disconnections, s->inflight_commands,
                     s->backpressure_pauses);
    return buf_append(b, t, (size_t)n);
}
