/* metrics.c — GET /metrics in Prometheus' text format (0.0.4): etcd's metric names where etcd
 * has one (etcd_server_*, etcd_mvcc_*, etcd_debugging_mvcc_*, grpc_server_* as
 * go-grpc-prometheus names them, process_*), concur_* for the rest. */
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/gateway/gateway_int.h"
#include "api/grpc/grpc.h"
#include "api/http/httpsrv.h"
#include "util/clock.h"
#include "util/err.h"

#define METRICS_MAX (8u << 20)

/* go-grpc-prometheus' default latency buckets, in seconds. */
static const double LAT_BUCKETS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_LAT (sizeof(LAT_BUCKETS) / sizeof(LAT_BUCKETS[0]))

struct out {
    struct buf b;
    int rc;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    if (o->rc) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof(line)) n = sizeof(line) - 1;
    o->rc = buf_append(&o->b, line, (size_t)n);
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(struct out *o, const char *name, const char *help, double v)
{
    head(o, name, "gauge", help);
    put(o, "%s %.17g\n", name, v);
}

static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
    head(o, name, "counter", help);
    put(o, "%s %" PRIu64 "\n", name, v);
}

/* etcd's disk histograms: prometheus.ExponentialBuckets(0.001, 2, 14), in seconds. */
static const double DISK_BUCKETS[] = {0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064,
                                      0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192};
#define N_DISK (sizeof(DISK_BUCKETS) / sizeof(DISK_BUCKETS[0]))

/* A histogram of microsecond samples as seconds over the given buckets, with labels ("" for
 * none). Bucket counts are cumulative at the histogram's resolution (util/hist.h). */
static void histogram_buckets(struct out *o, const char *name, const char *labels,
                              const struct hist *h, const double *buckets, size_t n)
{
    const char *sep = labels[0] ? "," : "";
    for (size_t i = 0; i < n; i++)
        put(o, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep, buckets[i],
            hist_count_le(h, (uint64_t)(buckets[i] * 1e6)));
    put(o, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, h->count);
    put(o, "%s_sum%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
        (double)h->sum / 1e6);
    put(o, "%s_count%s%s%s %" PRIu64 "\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
        h->count);
}

static void histogram_us(struct out *o, const char *name, const char *labels, const struct hist *h)
{
    histogram_buckets(o, name, labels, h, LAT_BUCKETS, N_LAT);
}

static void server_metrics(struct out *o, struct etcd_api *a)
{
    struct srv_status st;
    srv_status(a->m, &st);
    head(o, "etcd_disk_wal_fsync_duration_seconds", "histogram",
         "The latency distributions of fsync called by WAL.");
    histogram_buckets(o, "etcd_disk_wal_fsync_duration_seconds", "", st.wal_fsync_us, DISK_BUCKETS,
                      N_DISK);
    head(o, "etcd_disk_backend_commit_duration_seconds", "histogram",
         "The latency distributions of commit called by backend (apply batches).");
    histogram_buckets(o, "etcd_disk_backend_commit_duration_seconds", "", st.apply_us, DISK_BUCKETS,
                      N_DISK);
    gauge(o, "etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.",
          st.leader_id != 0);
    gauge(o, "etcd_server_is_leader",
          "Whether or not this member is a leader. 1 if is, 0 otherwise.",
          st.leader_id != 0 && st.leader_id == st.member_id);
    gauge(o, "etcd_server_is_learner",
          "Whether or not this member is a learner. 1 if is, 0 otherwise.", st.is_learner);
    counter(o, "etcd_server_leader_changes_seen_total", "The number of leader changes seen.",
            st.leader_changes);
    /* etcd sets these two gauges to the Raft commit and applied indexes. */
    gauge(o, "etcd_server_proposals_committed_total",
          "The total number of consensus proposals committed.", (double)st.commit_index);
    gauge(o, "etcd_server_proposals_applied_total",
          "The total number of consensus proposals applied.", (double)st.raft_applied_index);
    gauge(o, "etcd_server_proposals_pending", "The current number of pending proposals to commit.",
          (double)st.proposals_pending);
    counter(o, "etcd_server_proposals_failed_total", "The total number of failed proposals seen.",
            st.proposals_failed);
    head(o, "etcd_server_id", "gauge",
         "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.");
    put(o, "etcd_server_id{server_id=\"%" PRIx64 "\"} 1\n", st.member_id);
    head(o, "etcd_server_version", "gauge",
         "Which version is running. 1 for 'server_version' label with current version.");
    put(o, "etcd_server_version{server_version=\"%s\"} 1\n", st.version);
    counter(o, "etcd_server_health_success", "The total number of successful health checks",
            a->stats.health_ok);
    counter(o, "etcd_server_health_failures", "The total number of failed health checks",
            a->stats.health_failed);

    const char *db = "Total size of the underlying database physically allocated in bytes.";
    gauge(o, "etcd_mvcc_db_total_size_in_bytes", db, (double)st.db_size_bytes);
    gauge(o, "etcd_debugging_mvcc_db_total_size_in_bytes", db, (double)st.db_size_bytes);
    gauge(o, "etcd_mvcc_db_total_size_in_use_in_bytes",
          "Total size of the underlying database logically in use in bytes.",
          (double)st.db_size_in_use_bytes);
    gauge(o, "etcd_debugging_mvcc_keys_total", "Total number of keys.", (double)st.keys);
    gauge(o, "etcd_debugging_mvcc_current_revision", "The current revision of store.",
          (double)st.revision);
    gauge(o, "etcd_debugging_mvcc_compact_revision",
          "The revision of the last compaction in store.", (double)st.compact_revision);
    gauge(o, "etcd_debugging_mvcc_watcher_total", "Total number of watchers.", (double)st.watchers);
    gauge(o, "etcd_debugging_mvcc_watch_stream_total", "Total number of watch streams.",
          (double)a->stats.watch_streams);

    gauge(o, "concur_raft_term", "The current Raft term.", (double)st.raft_term);
    gauge(o, "concur_raft_commit_index", "The Raft commit index.", (double)st.commit_index);
    gauge(o, "concur_raft_applied_index", "The last Raft index applied to the store.",
          (double)st.raft_applied_index);
    gauge(o, "concur_raft_log_first_index", "The first index of the in-memory Raft log.",
          (double)st.first_index);
    gauge(o, "concur_raft_log_last_index", "The last index of the Raft log.",
          (double)st.last_index);
    gauge(o, "concur_raft_snapshot_index", "The index of the latest Raft snapshot.",
          (double)st.snap_index);
    gauge(o, "concur_raft_log_bytes", "Bytes of the in-memory Raft log.", (double)st.log_bytes);
    counter(o, "concur_server_proposals_committed_total",
            "Proposals of this member that were committed.", st.proposals_committed);
    gauge(o, "concur_server_stopped", "1 when the member stopped after a fatal storage error.",
          st.stopped);
    gauge(o, "concur_lease_keepalive_streams", "Open LeaseKeepAlive streams.",
          (double)a->stats.keepalive_streams);
    counter(o, "concur_watch_events_sent_total", "Watch events sent to clients.",
            a->stats.events_sent);
}

static const char *method_type(const char *path)
{
    for (const struct etcd_method *m = etcd__methods; m->path; m++) {
        if (strcmp(m->path, path) != 0) continue;
        return m->kind == EM_UNARY           ? "unary"
               : m->kind == EM_SERVER_STREAM ? "server_stream"
                                             : "bidi_stream";
    }
    return "unary";
}

/* Splits "/etcdserverpb.KV/Range" into service and method labels. */
static void grpc_labels(const char *path, char *out, size_t n)
{
    const char *svc = path[0] == '/' ? path + 1 : path;
    const char *slash = strchr(svc, '/');
    int svc_len = slash ? (int)(slash - svc) : (int)strlen(svc);
    snprintf(out, n, "grpc_method=\"%s\",grpc_service=\"%.*s\",grpc_type=\"%s\"",
             slash ? slash + 1 : "", svc_len, svc, method_type(path));
}

static void grpc_metrics(struct out *o, const struct grpc_server *g)
{
    size_t n = grpc_server_method_count(g);
    char labels[256];
    head(o, "grpc_server_started_total", "counter", "Total number of RPCs started on the server.");
    for (size_t i = 0; i < n; i++) {
        const struct grpc_method_stats *s;
        grpc_labels(grpc_server_method_at(g, i, &s), labels, sizeof(labels));
        put(o, "grpc_server_started_total{%s} %" PRIu64 "\n", labels, s->started);
    }
    head(o, "grpc_server_handled_total", "counter",
         "Total number of RPCs completed on the server, regardless of success or failure.");
    for (size_t i = 0; i < n; i++) {
        const struct grpc_method_stats *s;
        grpc_labels(grpc_server_method_at(g, i, &s), labels, sizeof(labels));
        for (int c = 0; c < GRPC_CODE_COUNT_; c++)
            if (c == GRPC_OK || s->completed[c])
                put(o, "grpc_server_handled_total{grpc_code=\"%s\",%s} %" PRIu64 "\n",
                    etcd_code_name(c), labels, s->completed[c]);
    }
    head(o, "grpc_server_msg_received_total", "counter",
         "Total number of RPC stream messages received on the server.");
    for (size_t i = 0; i < n; i++) {
        const struct grpc_method_stats *s;
        grpc_labels(grpc_server_method_at(g, i, &s), labels, sizeof(labels));
        put(o, "grpc_server_msg_received_total{%s} %" PRIu64 "\n", labels, s->msgs_received);
    }
    head(o, "grpc_server_msg_sent_total", "counter",
         "Total number of gRPC stream messages sent by the server.");
    for (size_t i = 0; i < n; i++) {
        const struct grpc_method_stats *s;
        grpc_labels(grpc_server_method_at(g, i, &s), labels, sizeof(labels));
        put(o, "grpc_server_msg_sent_total{%s} %" PRIu64 "\n", labels, s->msgs_sent);
    }
    head(o, "grpc_server_handling_seconds", "histogram",
         "Histogram of response latency (seconds) of gRPC that had been application-level "
         "handled by the server.");
    for (size_t i = 0; i < n; i++) {
        const struct grpc_method_stats *s;
        grpc_labels(grpc_server_method_at(g, i, &s), labels, sizeof(labels));
        if (s->started) histogram_us(o, "grpc_server_handling_seconds", labels, &s->latency_us);
    }
}

static void http_metrics(struct out *o, const struct http_router *r)
{
    static const char *const classes[6] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    size_t n = http_router_route_count(r);
    head(o, "concur_http_requests_total", "counter",
         "HTTP/1.1 requests on the client port, by route and status class.");
    for (size_t i = 0; i < n; i++) {
        const char *method, *path;
        int prefix;
        const struct http_route_stats *s;
        http_router_route_at(r, i, &method, &path, &prefix, &s);
        for (int c = 1; c < 6; c++)
            if (s->by_class[c])
                put(o, "concur_http_requests_total{code=\"%s\",path=\"%s\"} %" PRIu64 "\n",
                    classes[c], path, s->by_class[c]);
    }
    head(o, "concur_http_request_duration_seconds", "histogram",
         "Latency of HTTP/1.1 requests on the client port, by route.");
    char labels[160];
    for (size_t i = 0; i < n; i++) {
        const char *method, *path;
        int prefix;
        const struct http_route_stats *s;
        http_router_route_at(r, i, &method, &path, &prefix, &s);
        if (!s->requests) continue;
        snprintf(labels, sizeof(labels), "path=\"%s\"", path);
        histogram_us(o, "concur_http_request_duration_seconds", labels, &s->latency_us);
    }
    const struct http_router_stats *rs = http_router_stats(r);
    counter(o, "concur_http_not_found_total", "HTTP/1.1 requests for unknown paths.",
            rs->not_found);
}

/* process_* metrics as Go's client library exports them, from /proc/self. */
static void process_metrics(struct out *o)
{
    long page = sysconf(_SC_PAGESIZE), ticks = sysconf(_SC_CLK_TCK);
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        /* Fields after the command name (which may contain spaces) start past ')'. */
        char *p = strrchr(buf, ')');
        unsigned long utime = 0, stime = 0, vsize = 0;
        long rss = 0;
        unsigned long long start = 0;
        if (p && sscanf(p + 2,
                        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                        "%*d %*d %llu %lu %ld",
                        &utime, &stime, &start, &vsize, &rss) == 5) {
            head(o, "process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds.");
            put(o, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)ticks);
            gauge(o, "process_resident_memory_bytes", "Resident memory size in bytes.",
                  (double)rss * (double)page);
            gauge(o, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                  (double)vsize);
            FILE *u = fopen("/proc/uptime", "r");
            double up = 0;
            if (u) {
                if (fscanf(u, "%lf", &up) != 1) up = 0;
                fclose(u);
            }
            if (up > 0) {
                double now = (double)clock_wall_ms() / 1000.0;
                gauge(o, "process_start_time_seconds",
                      "Start time of the process since unix epoch in seconds.",
                      now - up + (double)start / (double)ticks);
            }
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        uint64_t fds = 0;
        while (readdir(d)) fds++;
        closedir(d);
        gauge(o, "process_open_fds", "Number of open file descriptors.",
              (double)(fds > 3 ? fds - 3 : 0)); /* ".", ".." and the directory's own fd */
    }
}

static void metrics_request(struct http_exchange *ex, const struct http_request *req, void *arg)
{
    struct gateway *gw = arg;
    struct out o;
    buf_init(&o.b, METRICS_MAX);
    o.rc = 0;
    server_metrics(&o, gw->api);
    if (gw->src.grpc) grpc_metrics(&o, gw->src.grpc);
    if (gw->src.router) http_metrics(&o, gw->src.router);
    if (gw->src.conn_stats) {
        struct httpsrv_stats cs;
        memset(&cs, 0, sizeof(cs));
        gw->src.conn_stats(gw->src.conn_arg, &cs);
        counter(&o, "etcd_network_client_grpc_received_bytes_total",
                "The total number of bytes received from grpc clients (HTTP/1.1 included).",
                cs.bytes_in);
        counter(&o, "etcd_network_client_grpc_sent_bytes_total",
                "The total number of bytes sent to grpc clients (HTTP/1.1 included).",
                cs.bytes_out);
        gauge(&o, "concur_client_connections", "Open client connections.", (double)cs.conns_open);
        counter(&o, "concur_client_connections_refused_total",
                "Client connections refused over the connection limit.", cs.conns_refused);
    }
    process_metrics(&o);
    if (o.rc)
        gateway__reply(ex, 500, "text/plain; charset=utf-8", "metrics too large\n", 18);
    else
        gateway__reply(ex, 200, "text/plain; version=0.0.4; charset=utf-8", o.b.data, o.b.len);
    buf_free(&o.b);
}

const struct http_route_ops gateway__metrics_ops = {metrics_request, NULL, NULL};
