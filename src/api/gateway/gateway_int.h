/* gateway_int.h — what the gateway's files share. */
#ifndef CONCUR_API_GATEWAY_GATEWAY_INT_H
#define CONCUR_API_GATEWAY_GATEWAY_INT_H

#include "api/etcd/etcd_int.h"
#include "api/gateway/gateway.h"
#include "api/http/http.h"

#define GW_BODY_MAX (64u << 20) /* bytes of one JSON response */

struct gateway {
    struct etcd_api *api;
    struct gateway_src src;
};

/* Adds etcd's CORS headers (every gateway response has them). */
void gateway__cors(struct http_exchange *ex);

/* Answers text with status and content type, with the CORS headers. */
void gateway__reply(struct http_exchange *ex, int status, const char *ctype, const void *body,
                    size_t len);

/* health.c: GET /health and GET /version. arg: the struct gateway. */
extern const struct http_route_ops gateway__health_ops;
extern const struct http_route_ops gateway__version_ops;
/* metrics.c: GET /metrics. */
extern const struct http_route_ops gateway__metrics_ops;

#endif
