/* gateway.h — HTTP/1.1 on the client port: etcd 3.4's JSON gateway (/v3/...), /health,
 * /version and /metrics, served by the etcd API's own handlers. */
#ifndef CONCUR_API_GATEWAY_GATEWAY_H
#define CONCUR_API_GATEWAY_GATEWAY_H

struct etcd_api;
struct grpc_server;
struct http_router;
struct httpsrv_stats;

/* Where /metrics finds the transport counters. */
struct gateway_src {
    struct grpc_server *grpc;   /* per-method gRPC statistics (may be NULL) */
    struct http_router *router; /* per-route HTTP statistics (may be NULL) */
    /* Adds the client-port servers' connection statistics into *sum (may be NULL). */
    void (*conn_stats)(void *arg, struct httpsrv_stats *sum);
    void *conn_arg;
};

/* Registers every gateway route of etcd 3.4 (POST /v3/kv/range, ..., /v3/watch streaming,
 * /v3/lease/keepalive streaming, /v3/maintenance/snapshot), GET /health, GET /version and
 * GET /metrics on r. a and what src names must outlive r's connections; src is copied.
 * Returns 0, CC_ENOMEM or http_router_add's error. */
int gateway_register(struct etcd_api *a, struct http_router *r, const struct gateway_src *src);

#endif
