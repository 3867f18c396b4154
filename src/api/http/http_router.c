/* http_router.c — HTTP route registry: method + exact path or longest prefix, 404/405. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api/http/http_internal.h"
#include "util/err.h"

#define MAX_ROUTES 256

int http_router_new(struct http_router **out)
{
    struct http_router *r = calloc(1, sizeof(*r));
    if (!r) return CC_ENOMEM;
    *out = r;
    return 0;
}

void http_router_free(struct http_router *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nroutes; i++) {
        free(r->routes[i]->method);
        free(r->routes[i]->path);
        free(r->routes[i]);
    }
    free(r->routes);
    free(r);
}

static int valid_method(const char *m)
{
    if (strcmp(m, "*") == 0) return 1;
    if (!*m || strlen(m) > 32) return 0;
    for (; *m; m++)
        if (!(*m >= 'A' && *m <= 'Z') && *m != '-' && *m != '_') return 0;
    return 1;
}

int http_router_add(struct http_router *r, const char *method, const char *path, int flags,
                    const struct http_route_ops *ops, void *arg)
{
    if (!method || !path || path[0] != '/' || !ops || !ops->on_request || !valid_method(method) ||
        (flags & ~HTTP_ROUTE_PREFIX))
        return CC_EINVAL;
    int prefix = (flags & HTTP_ROUTE_PREFIX) != 0;
    for (size_t i = 0; i < r->nroutes; i++) {
        const struct http_route *o = r->routes[i];
        if (o->prefix == prefix && strcmp(o->path, path) == 0 && strcmp(o->method, method) == 0)
            return CC_EEXIST;
    }
    if (r->nroutes == MAX_ROUTES) return CC_ETOOBIG;
    if (r->nroutes == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct http_route **a = realloc(r->routes, cap * sizeof(*a));
        if (!a) return CC_ENOMEM;
        r->routes = a;
        r->cap = cap;
    }
    struct http_route *rt = calloc(1, sizeof(*rt));
    char *m = strdup(method), *p = strdup(path);
    if (!rt || !m || !p) {
        free(rt);
        free(m);
        free(p);
        return CC_ENOMEM;
    }
    rt->method = m;
    rt->path = p;
    rt->path_len = strlen(p);
    rt->prefix = prefix;
    rt->ops = ops;
    rt->arg = arg;
    hist_init(&rt->stats.latency_us);
    r->routes[r->nroutes++] = rt;
    return 0;
}

static int path_matches(const struct http_route *rt, const char *path)
{
    if (rt->prefix) return strncmp(path, rt->path, rt->path_len) == 0;
    return strcmp(path, rt->path) == 0;
}

static int method_matches(const struct http_route *rt, const char *method)
{
    return strcmp(rt->method, "*") == 0 || strcmp(rt->method, method) == 0;
}

struct http_route *http__router_match(struct http_router *r, const char *method, const char *path,
                                      int *status, char *allow, size_t allowsz)
{
    struct http_route *best = NULL;
    int path_known = 0;
    allow[0] = 0;
    if (!r) { /* a server without HTTP/1.1 handlers */
        *status = 404;
        return NULL;
    }
    for (size_t i = 0; i < r->nroutes; i++) {
        struct http_route *rt = r->routes[i];
        if (!path_matches(rt, path)) continue;
        path_known = 1;
        if (!method_matches(rt, method)) continue;
        /* Exact beats prefix; a longer prefix beats a shorter one. */
        if (!best || (best->prefix && !rt->prefix) ||
            (best->prefix && rt->prefix && rt->path_len > best->path_len))
            best = rt;
    }
    if (best) return best;
    *status = path_known ? 405 : 404;
    if (!path_known) return NULL;
    size_t used = 0;
    for (size_t i = 0; i < r->nroutes; i++) {
        const struct http_route *rt = r->routes[i];
        if (!path_matches(rt, path)) continue;
        size_t n = strlen(rt->method);
        if (used + n + 3 > allowsz) break;
        if (used) {
            memcpy(allow + used, ", ", 2);
            used += 2;
        }
        memcpy(allow + used, rt->method, n);
        used += n;
        allow[used] = 0;
    }
    return NULL;
}

const struct http_router_stats *http_router_stats(const struct http_router *r)
{
    return &r->stats;
}

size_t http_router_route_count(const struct http_router *r)
{
    return r->nroutes;
}

void http_router_route_at(const struct http_router *r, size_t i, const char **method,
                          const char **path, int *prefix, const struct http_route_stats **stats)
{
    assert(i < r->nroutes);
    const struct http_route *rt = r->routes[i];
    if (method) *method = rt->method;
    if (path) *path = rt->path;
    if (prefix) *prefix = rt->prefix;
    if (stats) *stats = &rt->stats;
}
