/* http.h — HTTP/1.1 handlers: a route registry (method + exact path or prefix) and exchanges
 * that handlers complete with a whole response or a chunked stream, possibly later. */
#ifndef CONCUR_API_HTTP_HTTP_H
#define CONCUR_API_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/hist.h"

/*
 * Threading: one event-loop thread, nothing is thread-safe.
 *
 * Exchange ownership mirrors grpc.h: on_request hands the handler the "completion reference";
 * it must end the exchange exactly once with http_reply or http_stream_end — also after
 * on_cancel, when that is a harmless no-op. Extra pointers take http_exchange_ref/unref. The
 * request (and everything it points to) stays valid while any reference is held. The library
 * never calls a handler callback from inside an http_* function.
 *
 * Requests on one connection are answered in order: the next pipelined request is parsed
 * only once the current exchange is complete.
 */

struct http_router;
struct http_exchange;

struct http_field {
    const char *name;  /* as received (compare case-insensitively) */
    const char *value; /* surrounding whitespace removed */
};

/* A request as parsed; strings are NUL-terminated. path and query are not percent-decoded. */
struct http_request {
    const char *method;
    const char *path;  /* before '?' */
    const char *query; /* after '?', "" when none */
    int minor;         /* HTTP/1.<minor> */
    size_t nfields;
    const struct http_field *fields;
    const uint8_t *body; /* Content-Length bytes (NUL-terminated for convenience) */
    size_t body_len;
};

/* First value of header name (case-insensitive), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);

struct http_route_ops {
    /* Required: a request for this route. */
    void (*on_request)(struct http_exchange *ex, const struct http_request *req, void *arg);
    /* Optional (streams): an http_stream_send that returned CC_EBUSY may be retried. */
    void (*on_writable)(struct http_exchange *ex, void *arg);
    /* Optional: the client went away (or the server shut down) before completion. */
    void (*on_cancel)(struct http_exchange *ex, void *arg);
};

/* Route-level metrics. Latency runs from dispatch to completion. */
struct http_route_stats {
    uint64_t requests;
    uint64_t by_class[6]; /* responses by status class: [1] 1xx .. [5] 5xx */
    uint64_t cancelled;
    struct hist latency_us;
};

/* Router-wide counters for requests no handler saw. */
struct http_router_stats {
    uint64_t not_found;          /* 404 */
    uint64_t method_not_allowed; /* 405 */
    uint64_t bad_request;        /* 400, 411, 413, 417, 431, 501, 505 */
};

int http_router_new(struct http_router **out);
/* Precondition: no connection uses the router any more. */
void http_router_free(struct http_router *r);

#define HTTP_ROUTE_PREFIX 1 /* path matches every path that starts with it */

/* Registers method ("GET", "POST", ... or "*" for any) and path ("/v3/kv/range"; with
 * HTTP_ROUTE_PREFIX e.g. "/v3/lease/"). An exact route beats a prefix route, a longer prefix
 * beats a shorter one; a path matched only under other methods gets 405 with Allow. ops must
 * outlive the router. Returns 0, CC_EINVAL, CC_EEXIST or CC_ETOOBIG (more than 256 routes). */
int http_router_add(struct http_router *r, const char *method, const char *path, int flags,
                    const struct http_route_ops *ops, void *arg);

const struct http_router_stats *http_router_stats(const struct http_router *r);
size_t http_router_route_count(const struct http_router *r);
/* The i-th route in registration order: its method and path (and *prefix), and *stats. */
void http_router_route_at(const struct http_router *r, size_t i, const char **method,
                          const char **path, int *prefix, const struct http_route_stats **stats);

/* ---- exchanges ---- */

/* Adds a response header (copied) before http_reply / http_stream_begin. Returns 0, CC_EINVAL
 * (not a token name, or CR/LF in the value), CC_ETOOBIG (over 8 KiB of extra headers) or
 * CC_ESTOPPED (the response has begun). */
int http_exchange_add_header(struct http_exchange *ex, const char *name, const char *value);

/* Sends a complete response (body copied, Content-Length framing) and completes the exchange,
 * releasing the completion reference. content_type may be NULL (no Content-Type). Returns 0,
 * CC_ECANCELED (nothing sent) or CC_ENOMEM (the connection is closed instead). */
int http_reply(struct http_exchange *ex, int status, const char *content_type, const void *body,
               size_t len);

/* Starts a streamed response: chunked for HTTP/1.1 clients, delimited by closing the
 * connection for HTTP/1.0 ones. Returns 0, CC_ECANCELED or CC_ESTOPPED (already begun). */
int http_stream_begin(struct http_exchange *ex, int status, const char *content_type);

/* Sends one piece of a streamed response (copied; len 0 sends nothing). Returns 0, CC_EBUSY
 * when the connection's outbound queue is at its bound (nothing sent; on_writable follows),
 * CC_ECANCELED, or CC_ENOMEM. */
int http_stream_send(struct http_exchange *ex, const void *data, size_t len);

/* Ends a streamed response and completes the exchange (releases the completion reference). */
void http_stream_end(struct http_exchange *ex);

int http_exchange_cancelled(const struct http_exchange *ex);
void http_exchange_set_data(struct http_exchange *ex, void *data);
void *http_exchange_data(const struct http_exchange *ex);
void http_exchange_ref(struct http_exchange *ex);
void http_exchange_unref(struct http_exchange *ex);

/* Reason phrase for a status code ("Not Found"); "Unknown" for codes it does not know. */
const char *http_status_text(int status);

#endif
