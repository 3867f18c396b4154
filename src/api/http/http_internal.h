/* http_internal.h — structures shared by http_router.c, http1_conn.c and http_exchange.c. */
#ifndef CONCUR_API_HTTP_INTERNAL_H
#define CONCUR_API_HTTP_INTERNAL_H

#include "api/http/http.h"
#include "api/http/http1_conn.h"
#include "api/http/http1_parse.h"
#include "util/buf.h"

struct http_route {
    char *method;
    char *path;
    size_t path_len;
    int prefix;
    const struct http_route_ops *ops;
    void *arg;
    struct http_route_stats stats;
};

struct http_router {
    struct http_route **routes; /* registration order */
    size_t nroutes;
    size_t cap;
    struct http_router_stats stats;
};

struct http_exchange {
    int refs;
    struct http1_conn *conn;  /* NULL once completed or cancelled */
    struct http_route *route; /* valid while attached */
    struct http_request req;
    struct http_field *fields;
    char *raw;        /* the request's strings and body */
    struct buf extra; /* extra response header lines */
    int minor;
    int keep_alive;
    int status;
    unsigned completed : 1; /* the handler released the completion reference */
    unsigned cancelled : 1;
    unsigned begun : 1; /* the response head is written */
    unsigned streaming : 1;
    unsigned blocked : 1; /* a stream send got CC_EBUSY; on_writable owed */
    uint64_t start_us;
    void *user;
};

struct http1_conn {
    struct http_router *router;
    struct http1_limits lim;
    struct http1_io io;
    struct buf in;
    size_t scanned;
    struct http1_request req; /* scratch for the head being parsed */
    struct http_exchange *active;
    int depth;            /* >0 while running handlers: completions defer processing */
    unsigned eof : 1;     /* the peer will send nothing more */
    unsigned closing : 1; /* no further requests: close after the active one */
    unsigned continue_sent : 1;
};

/* http_router.c: the route for method + path, or NULL with *status 404 or 405 (and allow
 * filled with the methods the path accepts). r may be NULL (no routes: 404). */
struct http_route *http__router_match(struct http_router *r, const char *method, const char *path,
                                      int *status, char *allow, size_t allowsz);

/* http_exchange.c */
/* Builds an exchange for a parsed request (copies head fields and body). NULL: no memory. */
struct http_exchange *http__exchange_new(struct http1_conn *c, struct http_route *rt,
                                         const struct http1_request *req, const uint8_t *body);
/* Cancels an uncompleted exchange: detaches it, runs on_cancel, drops the library reference. */
void http__exchange_cancel(struct http_exchange *ex);
/* Writes a complete library-generated response (status page) on c. */
int http__write_simple(struct http1_conn *c, int status, int minor, int keep_alive,
                       const char *extra_headers, const char *body);

/* http1_conn.c: the active exchange completed (response fully queued). */
void http1__exchange_done(struct http1_conn *c, struct http_exchange *ex);

#endif
