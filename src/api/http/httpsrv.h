/* httpsrv.h — the client-port server on a libuv loop: one listening socket (an etcd-style
 * client URL) serving gRPC over HTTP/2 (prior knowledge, h2c) and HTTP/1.1 side by side. */
#ifndef CONCUR_API_HTTP_HTTPSRV_H
#define CONCUR_API_HTTP_HTTPSRV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/http/http1_parse.h"

struct grpc_server;
struct http_router;
struct logger;
struct httpsrv;

/* Each accepted connection is sniffed: one that opens with the HTTP/2 client preface
 * ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", RFC 9113 §3.4) is served by an h2_conn over grpc,
 * anything else by an http1_conn over router. */
struct httpsrv_config {
    struct grpc_server *grpc;   /* NULL: HTTP/2 connections are closed */
    struct http_router *router; /* NULL: every HTTP/1.1 request gets 404 */
    struct logger *log;         /* may be NULL */
    struct http1_limits http1;  /* http1_limits_default */
    uint32_t max_conns;         /* 10000: more are accepted and closed at once */
    size_t conn_out_bytes;      /* 1 MiB: unsent output at which a connection stops reading
                                   and producing (back-pressure) */
    uint64_t http1_idle_ms;     /* 120000: a connection that sends no first byte, or an
                                   HTTP/1.1 one that does not complete a request (between
                                   requests or slowly sending one), for this long is closed.
                                   HTTP/2 connections have no idle limit (clients ping). */
    uint64_t linger_ms;         /* 2000: bound on each closing phase: flushing output, then
                                   waiting for the peer's FIN after ours */
};

void httpsrv_config_default(struct httpsrv_config *cfg);

struct httpsrv_stats {
    uint64_t conns_accepted;
    uint64_t conns_refused; /* over max_conns */
    uint64_t conns_open;
    uint64_t h2_conns; /* open, by protocol */
    uint64_t h1_conns;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t read_pauses;    /* times a connection stopped reading for back-pressure */
    uint64_t out_high_water; /* the largest unsent output any connection held */
};

/* Creates a server on loop (which must outlive it); cfg is copied, and the grpc server, the
 * router and the logger it names must outlive the httpsrv. Returns 0 and *out, CC_EINVAL or
 * CC_ENOMEM. */
int httpsrv_new(uv_loop_t *loop, const struct httpsrv_config *cfg, struct httpsrv **out);

/* Binds and listens on url: "http://IP:PORT", "IP:PORT", "http://[IPv6]:PORT" or "localhost"
 * for the host; port 0 picks a free one (see httpsrv_port). Once per server. Returns 0,
 * CC_EINVAL (malformed URL, https, a host name; see httpsrv_errmsg), CC_EEXIST (already
 * listening) or CC_EIO (bind/listen failed, e.g. address in use; see httpsrv_errmsg). */
int httpsrv_listen(struct httpsrv *s, const char *url);

/* The bound port, or 0 when not listening. */
int httpsrv_port(const struct httpsrv *s);

/* Why the last call failed ("" if it did not). */
const char *httpsrv_errmsg(const struct httpsrv *s);

const struct httpsrv_stats *httpsrv_stats(const struct httpsrv *s);

/* Stops listening, sends GOAWAY (NO_ERROR) on HTTP/2 connections and closes them once it is
 * written (each phase bounded by linger_ms, so a peer that reads nothing cannot hold shutdown),
 * closes HTTP/1.1 ones at once; handlers of unfinished calls and exchanges get on_cancel. When
 * every handle is closed, frees s and calls done(arg) (done may be NULL). Safe from any loop
 * callback, handlers included; s must not be used afterwards. */
void httpsrv_close(struct httpsrv *s, void (*done)(void *arg), void *arg);

/* Splits an etcd-style client URL into a numeric host (brackets removed) and port. Returns 0,
 * or CC_EINVAL with a reason in why (may be NULL). */
int httpsrv_parse_url(const char *url, char *host, size_t hostsz, int *port, const char **why);

#endif
