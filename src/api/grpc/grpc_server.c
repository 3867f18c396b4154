/* grpc_server.c — the gRPC method registry (sorted by path), its limits and its metrics. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api/grpc/grpc_internal.h"
#include "util/err.h"

#define MAX_METHODS 512

void grpc_limits_default(struct grpc_limits *lim)
{
    lim->max_concurrent_streams = 1000;
    lim->stream_window_bytes = 1u << 20;
    lim->conn_window_bytes = 16u << 20;
    lim->max_header_list_bytes = 64u << 10;
    lim->max_metadata_count = 100;
    lim->max_recv_msg_bytes = 2u << 20;
    lim->max_send_msg_bytes = 0x7fffffffu;
    lim->stream_send_queue_bytes = 4u << 20;
    lim->conn_send_queue_bytes = 64u << 20;
    lim->conn_recv_buffer_bytes = 64u << 20;
}

int grpc_server_new(const struct grpc_limits *lim, struct logger *log, struct grpc_server **out)
{
    struct grpc_limits l;
    if (lim)
        l = *lim;
    else
        grpc_limits_default(&l);
    /* HTTP/2 caps windows at 2^31-1 (RFC 9113 §6.9.1); zero limits make no sense. */
    if (!l.max_concurrent_streams || !l.stream_window_bytes || !l.conn_window_bytes ||
        l.stream_window_bytes > 0x7fffffffu || l.conn_window_bytes > 0x7fffffffu ||
        !l.max_header_list_bytes || !l.max_metadata_count || !l.max_recv_msg_bytes ||
        !l.max_send_msg_bytes || !l.stream_send_queue_bytes || !l.conn_send_queue_bytes ||
        l.conn_recv_buffer_bytes < l.max_recv_msg_bytes)
        return CC_EINVAL;
    struct grpc_server *s = calloc(1, sizeof(*s));
    if (!s) return CC_ENOMEM;
    s->lim = l;
    s->log = log;
    *out = s;
    return 0;
}

void grpc_server_free(struct grpc_server *s)
{
    if (!s) return;
    assert(s->stats.conns_live == 0);
    for (size_t i = 0; i < s->nmethods; i++) {
        free(s->methods[i]->path);
        free(s->methods[i]);
    }
    free(s->methods);
    free(s);
}

/* "/pkg.Service/Method": a service and a method, both non-empty visible ASCII without '/'. */
static int valid_path(const char *p)
{
    if (p[0] != '/') return 0;
    const char *slash = strchr(p + 1, '/');
    if (!slash || slash == p + 1 || slash[1] == 0 || strchr(slash + 1, '/')) return 0;
    for (const char *q = p; *q; q++)
        if (*q <= 0x20 || *q >= 0x7f) return 0;
    return 1;
}

static int ops_complete(const struct grpc_method_ops *ops)
{
    switch (ops->kind) {
    case GRPC_METHOD_UNARY:
    case GRPC_METHOD_SERVER_STREAM:
        return ops->on_request != NULL;
    case GRPC_METHOD_STREAMING:
        return ops->on_start && ops->on_message;
    }
    return 0;
}

/* Index of the first method whose path is >= path. */
static size_t lower_bound(const struct grpc_server *s, const char *path)
{
    size_t lo = 0, hi = s->nmethods;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->methods[mid]->path, path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int grpc_server_add_method(struct grpc_server *s, const char *path,
                           const struct grpc_method_ops *ops, void *arg)
{
    if (!path || !ops || !valid_path(path) || !ops_complete(ops)) return CC_EINVAL;
    size_t at = lower_bound(s, path);
    if (at < s->nmethods && strcmp(s->methods[at]->path, path) == 0) return CC_EEXIST;
    if (s->nmethods == MAX_METHODS) return CC_ETOOBIG;
    if (s->nmethods == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct grpc_method **m = realloc(s->methods, cap * sizeof(*m));
        if (!m) return CC_ENOMEM;
        s->methods = m;
        s->cap = cap;
    }
    struct grpc_method *m = calloc(1, sizeof(*m));
    char *p = strdup(path);
    if (!m || !p) {
        free(m);
        free(p);
        return CC_ENOMEM;
    }
    m->path = p;
    m->ops = ops;
    m->arg = arg;
    hist_init(&m->stats.latency_us);
    memmove(s->methods + at + 1, s->methods + at, (s->nmethods - at) * sizeof(*s->methods));
    s->methods[at] = m;
    s->nmethods++;
    return 0;
}

struct grpc_method *grpc__server_find(const struct grpc_server *s, const char *path)
{
    size_t at = lower_bound(s, path);
    if (at < s->nmethods && strcmp(s->methods[at]->path, path) == 0) return s->methods[at];
    return NULL;
}

int grpc__server_has_service(const struct grpc_server *s, const char *path)
{
    /* path is "/svc/..." (validated by the caller): look for any method under "/svc/". */
    const char *slash = strchr(path + 1, '/');
    if (!slash) return 0;
    size_t n = (size_t)(slash - path) + 1;
    char prefix[512];
    if (n >= sizeof(prefix)) return 0;
    memcpy(prefix, path, n);
    prefix[n] = 0;
    size_t at = lower_bound(s, prefix);
    return at < s->nmethods && strncmp(s->methods[at]->path, prefix, n) == 0;
}

const struct grpc_limits *grpc_server_limits(const struct grpc_server *s)
{
    return &s->lim;
}

const struct grpc_server_stats *grpc_server_stats(const struct grpc_server *s)
{
    return &s->stats;
}

size_t grpc_server_method_count(const struct grpc_server *s)
{
    return s->nmethods;
}

const char *grpc_server_method_at(const struct grpc_server *s, size_t i,
                                  const struct grpc_method_stats **stats)
{
    assert(i < s->nmethods);
    if (stats) *stats = &s->methods[i]->stats;
    return s->methods[i]->path;
}
