/* etcd_load.h — closed-loop client load on etcd v3 endpoints (Put or Range over gRPC): N clients
 * multiplexed over M HTTP/2 connections, each client with one request in flight at a time, as
 * etcd's own `benchmark` tool (tools/benchmark) drives a cluster. */
#ifndef CONCUR_BENCH_ETCD_LOAD_H
#define CONCUR_BENCH_ETCD_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hist.h"

/* Limits on the options (everything is bounded). */
#define ETCD_LOAD_MAX_ENDPOINTS 64
#define ETCD_LOAD_MAX_CLIENTS   100000
#define ETCD_LOAD_MAX_KEY       1024
#define ETCD_LOAD_MAX_VALUE     (1u << 20)

enum etcd_load_op {
    ETCD_LOAD_PUT,  /* KV.Put of key-size/val-size bytes */
    ETCD_LOAD_RANGE /* KV.Range of one key (written once before the clock starts) */
};

struct etcd_load_opts {
    const char *const *endpoints; /* "[http://]host:port"; connection i uses endpoint i mod n */
    size_t n_endpoints;           /* 1..ETCD_LOAD_MAX_ENDPOINTS */
    unsigned clients;             /* 1..ETCD_LOAD_MAX_CLIENTS; client j uses connection j mod M */
    unsigned conns;               /* 1..clients */
    uint64_t total;               /* requests to start; used when duration_ms == 0 */
    uint64_t duration_ms;         /* > 0: start requests for this long instead of `total` */
    unsigned key_size;            /* 1..ETCD_LOAD_MAX_KEY bytes, enough digits for key_space */
    unsigned val_size;            /* 0..ETCD_LOAD_MAX_VALUE bytes */
    uint64_t key_space;           /* distinct keys written (>= 1) */
    bool seq_keys;                /* keys in order 0,1,2.. mod key_space rather than random */
    enum etcd_load_op op;
    bool serializable;           /* Range without the linearizable read round */
    uint64_t timeout_ms;         /* per request; a request past it is cancelled and failed */
    uint64_t connect_timeout_ms; /* for dialling every connection (and the range key's put) */
    uint64_t seed;               /* keys and values */
};

struct etcd_load_result {
    uint64_t ok;            /* successful replies */
    uint64_t failed;        /* error replies, invalid replies, timeouts, broken connections */
    uint64_t timeouts;      /* of which past timeout_ms */
    uint64_t elapsed_ns;    /* from the first request to the last reply */
    struct hist latency_us; /* of successful requests, microseconds */
    char first_error[256];  /* "" when failed == 0 */
};

/* Fills o with etcd benchmark-like defaults (1 client, 1 connection, 10000 requests, 8-byte
 * keys, 256-byte values, 100000 keys, put, linearizable, 10 s timeouts). Endpoints are unset. */
void etcd_load_defaults(struct etcd_load_opts *o);

/* Runs the load on its own libuv loop in the calling thread until every started request has
 * been answered (or timed out). Returns 0 when the load ran (per-request failures are counted in
 * *res, which is then complete); CC_EINVAL with a reason in err when o is out of bounds;
 * CC_EIO when a connection could not be set up or the range key could not be written;
 * CC_ETIMEDOUT when that took longer than connect_timeout_ms; CC_ENOMEM. o and its strings
 * are only read during the call. */
int etcd_load_run(const struct etcd_load_opts *o, struct etcd_load_result *res, char *err,
                  size_t errlen);

#endif
