/* bench_etcd.c — `concur-bench etcd`: Put/Range load on any etcd v3 endpoint set (concur or etcd)
 * over gRPC, N clients over M HTTP/2 connections; prints throughput and latency percentiles. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib_etcd/etcd_load.h"
#include "util/err.h"
#include "util/hist.h"

#define MAX_ENDPOINTS_ARG 4096

static void usage(FILE *f)
{
    fprintf(f, "usage: concur-bench etcd --endpoints A[,B,...] [--clients N] [--conns M]\n"
               "         [--total T | --duration SECONDS] [--op put|range] [--consistency l|s]\n"
               "         [--key-size 8] [--val-size 256] [--key-space 100000] [--seq-keys]\n"
               "         [--timeout SECONDS] [--connect-timeout SECONDS] [--seed S]\n"
               "N clients (each one request at a time) share M HTTP/2 connections spread over the\n"
               "endpoints, like etcd's `benchmark --clients N --conns M`. Range reads one key,\n"
               "written once before the clock starts. Output: one `name: value` per line.\n");
}

/* Parses a whole non-negative decimal number within [lo, hi]. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || !*s || *s == '-') return CC_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return CC_EINVAL;
    *out = v;
    return 0;
}

/* Seconds, possibly fractional, to milliseconds in [1 ms, 1 day]. */
static int parse_seconds(const char *s, uint64_t *ms)
{
    if (!s || !*s) return CC_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0.001 && v <= 86400)) return CC_EINVAL;
    *ms = (uint64_t)(v * 1000 + 0.5);
    return 0;
}

/* Splits list (modified in place) at commas into eps. Returns the count, or 0 when invalid. */
static size_t split_endpoints(char *list, const char **eps, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == max) return 0;
        eps[n++] = tok;
    }
    return n;
}

static int parse_args(int argc, char **argv, struct etcd_load_opts *o, char *eplist,
                      const char **eps)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x = 0;
        int rv = 0;
        if (!strcmp(a, "--seq-keys")) {
            o->seq_keys = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "concur-bench etcd: %s needs a value\n", a);
            return CC_EINVAL;
        }
        i++;
        if (!strcmp(a, "--endpoints")) {
            if (strlen(v) >= MAX_ENDPOINTS_ARG) return CC_EINVAL;
            strcpy(eplist, v);
            o->n_endpoints = split_endpoints(eplist, eps, ETCD_LOAD_MAX_ENDPOINTS);
            o->endpoints = eps;
            if (o->n_endpoints == 0) rv = CC_EINVAL;
        } else if (!strcmp(a, "--clients")) {
            rv = parse_u64(v, 1, ETCD_LOAD_MAX_CLIENTS, &x);
            o->clients = (unsigned)x;
        } else if (!strcmp(a, "--conns")) {
            rv = parse_u64(v, 1, ETCD_LOAD_MAX_CLIENTS, &x);
            o->conns = (unsigned)x;
        } else if (!strcmp(a, "--total")) {
            rv = parse_u64(v, 1, UINT64_MAX / 2, &o->total);
        } else if (!strcmp(a, "--duration")) {
            rv = parse_seconds(v, &o->duration_ms);
        } else if (!strcmp(a, "--key-size")) {
            rv = parse_u64(v, 1, ETCD_LOAD_MAX_KEY, &x);
            o->key_size = (unsigned)x;
        } else if (!strcmp(a, "--val-size")) {
            rv = parse_u64(v, 0, ETCD_LOAD_MAX_VALUE, &x);
            o->val_size = (unsigned)x;
        } else if (!strcmp(a, "--key-space")) {
            rv = parse_u64(v, 1, UINT64_MAX / 2, &o->key_space);
        } else if (!strcmp(a, "--op")) {
            if (!strcmp(v, "put"))
                o->op = ETCD_LOAD_PUT;
            else if (!strcmp(v, "range"))
                o->op = ETCD_LOAD_RANGE;
            else
                rv = CC_EINVAL;
        } else if (!strcmp(a, "--consistency")) {
            if (!strcmp(v, "l"))
                o->serializable = false;
            else if (!strcmp(v, "s"))
                o->serializable = true;
            else
                rv = CC_EINVAL;
        } else if (!strcmp(a, "--timeout")) {
            rv = parse_seconds(v, &o->timeout_ms);
        } else if (!strcmp(a, "--connect-timeout")) {
            rv = parse_seconds(v, &o->connect_timeout_ms);
        } else if (!strcmp(a, "--seed")) {
            rv = parse_u64(v, 0, UINT64_MAX, &o->seed);
        } else {
            fprintf(stderr, "concur-bench etcd: unknown option %s\n", a);
            return CC_EINVAL;
        }
        if (rv != 0) {
            fprintf(stderr, "concur-bench etcd: bad value for %s: %s\n", a, v);
            return rv;
        }
    }
    if (o->n_endpoints == 0) {
        fprintf(stderr, "concur-bench etcd: --endpoints is required\n");
        return CC_EINVAL;
    }
    return 0;
}

static void print_ms(const char *name, uint64_t us)
{
    printf("%s: %.3f\n", name, (double)us / 1000.0);
}

static void report(const struct etcd_load_opts *o, const struct etcd_load_result *r)
{
    const struct hist *h = &r->latency_us;
    double secs = (double)r->elapsed_ns / 1e9;
    printf("op: %s\n", o->op == ETCD_LOAD_PUT ? "put" : "range");
    if (o->op == ETCD_LOAD_RANGE) printf("consistency: %s\n", o->serializable ? "s" : "l");
    printf("clients: %u\nconns: %u\nendpoints: %zu\n", o->clients, o->conns, o->n_endpoints);
    printf("key_size: %u\nval_size: %u\n", o->key_size, o->val_size);
    printf("requests_ok: %llu\nrequests_failed: %llu\nrequests_timed_out: %llu\n",
           (unsigned long long)r->ok, (unsigned long long)r->failed,
           (unsigned long long)r->timeouts);
    printf("elapsed_s: %.3f\n", secs);
    printf("requests_per_s: %.1f\n", secs > 0 ? (double)r->ok / secs : 0.0);
    print_ms("latency_mean_ms", h->count ? h->sum / h->count : 0);
    print_ms("latency_p50_ms", hist_quantile(h, 0.50));
    print_ms("latency_p90_ms", hist_quantile(h, 0.90));
    print_ms("latency_p99_ms", hist_quantile(h, 0.99));
    print_ms("latency_max_ms", h->max);
    if (r->first_error[0]) fprintf(stderr, "concur-bench etcd: first error: %s\n", r->first_error);
}

int bench_etcd_main(int argc, char **argv)
{
    static char eplist[MAX_ENDPOINTS_ARG];
    const char *eps[ETCD_LOAD_MAX_ENDPOINTS];
    struct etcd_load_opts o;
    etcd_load_defaults(&o);
    if (parse_args(argc, argv, &o, eplist, eps) != 0) {
        usage(stderr);
        return 2;
    }
    struct etcd_load_result *r = malloc(sizeof *r);
    if (!r) return 1;
    char err[256] = "";
    int rv = etcd_load_run(&o, r, err, sizeof err);
    if (rv != 0) {
        fprintf(stderr, "concur-bench etcd: %s (%s)\n", err, cc_errname(rv));
        free(r);
        return rv == CC_EINVAL ? 2 : 1;
    }
    report(&o, r);
    int status = r->ok > 0 ? 0 : 1;
    free(r);
    return status;
}
