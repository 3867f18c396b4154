/* config.h — concurd's settings: etcd's flags with etcd's names and defaults, CONCUR_* env vars. */
#ifndef CONCUR_SERVER_CONFIG_H
#define CONCUR_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define CFG_MAX_URLS    4   /* URLs per flag (peer or client) */
#define CFG_URL_MAX     256 /* bytes of one URL, including the terminator */
#define CFG_MAX_MEMBERS RAFT_MAX_NODES
#define CFG_NAME_MAX    64

/* An http://host:port URL, split. Only the http scheme is supported (no TLS yet). */
struct cfg_url {
    char text[CFG_URL_MAX]; /* as given, normalised without a trailing '/' */
    char host[CFG_URL_MAX];
    uint16_t port;
};

struct cfg_urls {
    uint32_t n;
    struct cfg_url v[CFG_MAX_URLS];
};

struct cfg_member {
    char name[CFG_NAME_MAX];
    struct cfg_urls peer_urls;
    uint64_t id; /* derived: config_member_id(name, peer_urls, token) */
};

enum cfg_cluster_state { CFG_CLUSTER_NEW = 0, CFG_CLUSTER_EXISTING = 1 };

struct member_config {
    char name[CFG_NAME_MAX];               /* --name, default "default" */
    char data_dir[1024];                   /* --data-dir, default "<name>.etcd" */
    struct cfg_urls listen_peer_urls;      /* default http://localhost:2380 */
    struct cfg_urls advertise_peer_urls;   /* --initial-advertise-peer-urls, same default */
    struct cfg_urls listen_client_urls;    /* default http://localhost:2379 */
    struct cfg_urls advertise_client_urls; /* same default */
    uint32_t n_initial;                    /* --initial-cluster, default "<name>=<adv peer urls>" */
    struct cfg_member initial[CFG_MAX_MEMBERS];
    enum cfg_cluster_state cluster_state; /* --initial-cluster-state new|existing */
    char token[256];                      /* --initial-cluster-token, default "etcd-cluster" */
    uint32_t heartbeat_ms;                /* --heartbeat-interval, default 100 */
    uint32_t election_ms;                 /* --election-timeout, default 1000 */
    uint64_t snapshot_count;              /* --snapshot-count, default 100000 */
    uint64_t snapshot_catchup_entries;    /* --experimental-snapshot-catchup-entries (etcd 3.5):
                                           * entries kept behind a snapshot so that a follower a
                                           * little behind gets entries, not it; default 5000 */
    bool redis_enabled;                   /* --redis-addr given */
    char redis_host[CFG_URL_MAX];
    uint16_t redis_port;
    uint32_t max_request_bytes;        /* --max-request-bytes, default 1.5 MiB as etcd */
    uint32_t max_txn_ops;              /* --max-txn-ops, default 128 as etcd */
    uint64_t quota_backend_bytes;      /* --quota-backend-bytes, 0 = 2 GiB as etcd */
    char log_level[16];                /* --log-level debug|info|warn|error, default info */
    bool lease_read;                   /* --experimental-lease-read (concur), default off */
    uint64_t watch_progress_notify_ms; /* --experimental-watch-progress-notify-interval (etcd),
                                        * default 10m */

    /* Derived by config_parse. */
    uint64_t member_id;  /* this member's ID (see config_member_id) */
    uint64_t cluster_id; /* for a new cluster: config_cluster_id(initial members); 0 when
                          * joining an existing one (learned from its peers) */
};

/* Outcome of parsing. */
enum { CONFIG_OK = 0, CONFIG_HELP = 1, CONFIG_VERSION = 2 };

/* Fills c from defaults, then CONCUR_* environment variables (envp, NULL-terminated
 * "KEY=VALUE" strings; may be NULL), then argv (flags override the environment; etcd's forms
 * --flag=value, --flag value, -flag=value and -flag value are accepted). Validates everything
 * and derives IDs. Returns CONFIG_OK, CONFIG_HELP (--help/-h), CONFIG_VERSION (--version), or
 * CC_EINVAL with a one-line reason in err (errlen bytes, always terminated). Pure: reads no
 * files. */
int config_parse(struct member_config *c, int argc, char **argv, char **envp, char *err,
                 size_t errlen);

/* Writes the usage text (every flag, its env var and default) to f (a FILE *). */
void config_usage(void *f);

/* Parses one "http://host:port" URL. Returns 0 or CC_EINVAL with a reason in err. */
int config_parse_url(const char *s, struct cfg_url *out, char *err, size_t errlen);

/* Parses a Go duration ("10m", "1s", "500ms", "1m30s", "0") into milliseconds. Returns 0 or
 * CC_EINVAL (malformed, negative, absurdly large). */
int config_parse_duration_ms(const char *s, uint64_t *out);

/* Parses "host:port" (the --redis-addr form). Returns 0 or CC_EINVAL. */
int config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

/* Parses a comma-separated URL list. Returns 0 or CC_EINVAL with a reason in err. */
int config_parse_urls(const char *s, struct cfg_urls *out, char *err, size_t errlen);

/* Parses --initial-cluster ("n1=http://a:1,n1=http://a2:1,n2=http://b:2"; a name may repeat
 * to give several URLs, as in etcd). Refuses duplicate peer URLs across members and more than
 * CFG_MAX_MEMBERS members. Member IDs are derived with token. Returns 0 or CC_EINVAL. */
int config_parse_initial_cluster(const char *s, const char *token, struct cfg_member *out,
                                 uint32_t *n_out, char *err, size_t errlen);

/* A member's ID: a 64-bit hash of name, its peer URLs (sorted) and the cluster token; never
 * 0. Members added at run time (etcd's MemberAdd carries no name) use name "". Stable across
 * restarts and releases. */
uint64_t config_member_id(const char *name, const struct cfg_urls *peer_urls, const char *token);

/* The ID of a cluster bootstrapped from these member IDs and token; never 0. */
uint64_t config_cluster_id(const uint64_t *ids, uint32_t n, const char *token);

#endif
