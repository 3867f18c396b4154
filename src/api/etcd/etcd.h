/* etcd.h — the etcd v3 API of one member: every etcdserverpb service registered on a gRPC
 * server, and the same methods for the JSON gateway (api/gateway/gateway.h). */
#ifndef CONCUR_API_ETCD_ETCD_H
#define CONCUR_API_ETCD_ETCD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct member;
struct grpc_server;
struct etcd_api;

struct etcd_opts {
    uint64_t progress_notify_ms;  /* watch progress_notify interval; 600000 (etcd's 10 min),
                                     at least 100 as etcd enforces */
    uint32_t watchers_per_stream; /* 10000: more creates are refused on that stream */
    uint32_t max_request_bytes;   /* --max-request-bytes: larger writes are refused */
    uint32_t max_txn_ops;         /* --max-txn-ops */
    uint32_t heartbeat_ms;        /* --heartbeat-interval (lease minimum TTL) */
    uint32_t election_ms;         /* --election-timeout (lease minimum TTL, leader watch) */
    size_t decoded_max_bytes;     /* 512 MiB: memory all decoded requests may hold together;
                                     past it requests fail to decode (RESOURCE_EXHAUSTED) */
};

/* Fills o from the member's configuration and etcd's defaults. */
void etcd_opts_from_member(struct member *m, struct etcd_opts *o);

/* Creates the API state for member m on loop (the member's). o is copied. Returns 0 and *out,
 * CC_EINVAL (a zero limit) or CC_ENOMEM. */
int etcd_api_new(struct member *m, uv_loop_t *loop, const struct etcd_opts *o,
                 struct etcd_api **out);

/* Registers KV, Watch, Lease, Cluster, Maintenance and Auth on srv (etcd 3.4's methods plus
 * Auth.AuthStatus). a must outlive srv's connections. Returns 0 or grpc_server_add_method's
 * error. */
int etcd_api_register_grpc(struct etcd_api *a, struct grpc_server *srv);

/* Stops the API's timers and idle handle; calls done(arg) once they are closed. Calls still
 * open are ended by their transports (which cancel them); they must be gone before
 * etcd_api_free. Call once. */
void etcd_api_close(struct etcd_api *a, void (*done)(void *arg), void *arg);

/* Frees after etcd_api_close's done ran. NULL is fine. */
void etcd_api_free(struct etcd_api *a);

/* Counters for /metrics. */
struct etcd_api_stats {
    uint64_t watch_streams;     /* open Watch streams */
    uint64_t watchers;          /* watchers on them */
    uint64_t keepalive_streams; /* open LeaseKeepAlive streams */
    uint64_t events_sent;       /* watch events sent */
    uint64_t health_ok, health_failed;
    uint64_t forwarded;      /* calls relayed to the leader (Cluster changes, MoveLeader) */
    uint64_t forward_failed; /* of which failed here: no leader, unreachable, timed out */
};
const struct etcd_api_stats *etcd_api_stats(const struct etcd_api *a);

#endif
