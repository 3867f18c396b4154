/* ctl.h — concurctl's shared state: global flags, the endpoint client, exit codes, commands. */
#ifndef CONCUR_CTL_CTL_H
#define CONCUR_CTL_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl/flags.h"
#include "ctl/grpc_client.h"
#include "etcdserverpb/rpc.pb-c.h"

/* etcdctl's exit codes (etcdctl/ctlv3/command/error.go). */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_ERROR = 1,
    CTL_EXIT_BAD_CONNECTION = 2,
    CTL_EXIT_INVALID_INPUT = 3,
    CTL_EXIT_BAD_FEATURE = 4,
    CTL_EXIT_INTERRUPTED = 5,
    CTL_EXIT_IO = 6,
    CTL_EXIT_BAD_ARGS = 128,
    CTL_EXIT_HELP = 256 /* not a process exit code: ctl_parse saw -h/--help */
};

enum ctl_format { CTL_FMT_SIMPLE, CTL_FMT_JSON, CTL_FMT_FIELDS, CTL_FMT_TABLE, CTL_FMT_PROTOBUF };

#define CTL_MAX_ENDPOINTS 32
#define CTL_MAX_ARGS      4096

/* The connection to "the cluster": an ordered endpoint list, one live connection at a time,
 * fail-over to the next endpoint when a connection breaks (clientv3's behaviour). */
struct ctl_client {
    char *eps[CTL_MAX_ENDPOINTS]; /* dialable host:port, owned */
    size_t n_eps;
    size_t cur; /* endpoint of conn / next to try */
    struct gc_conn *conn;
    int64_t dial_timeout_ms;
    struct gc_conn_opts opts;
    char last_err[256]; /* last dial failure, for the error report */
};

struct printer;

struct ctl {
    /* Global flags (etcdctl's names and defaults). */
    char endpoints[4096]; /* comma-separated as given */
    int64_t dial_timeout_ns;
    int64_t command_timeout_ns;
    bool command_timeout_set;
    int64_t keepalive_time_ns;
    int64_t keepalive_timeout_ns;
    char write_out[16];
    bool hex;
    bool debug;
    bool insecure_transport;
    bool insecure_discovery;
    bool insecure_skip_verify;
    char cert[256], key[256], cacert[256], user[256], password[256], discovery_srv[256];
    char discovery_srv_name[256];

    /* Derived. */
    enum ctl_format format;
    const struct printer *pr;
    bool value_only;                  /* get --print-value-only (simple printer) */
    char *ep_list[CTL_MAX_ENDPOINTS]; /* endpoints as given (display names), owned */
    size_t n_ep;
    struct ctl_client cli;

    /* Positional arguments of the command after flag parsing (point into argv). */
    char *args[CTL_MAX_ARGS];
    int n_args;
    int args_at_dash; /* how many positionals came before "--"; -1 when no "--" */

    FILE *out;
    FILE *err;
};

/* A command: group "" for top-level ones ("get"), else "lease" with name "grant". run gets the
 * arguments after the command words (flags included) and returns an exit code. */
struct ctl_cmd {
    const char *group;
    const char *name;
    int (*run)(struct ctl *ctl, int argc, char **argv);
    const char *usage;
    const char *summary;
};

/* Initializes ctl with etcdctl's defaults writing to out/err. */
void ctl_init(struct ctl *ctl, FILE *out, FILE *err);
/* Releases what ctl owns (connections, endpoint lists). */
void ctl_free(struct ctl *ctl);

/* Parses argv (a command's arguments: global flags may appear anywhere, as with cobra's
 * persistent flags) against the global flags plus defs, applies ETCDCTL_* environment variables
 * to global flags not given, validates the output format and endpoints, and stores the
 * positionals in ctl->args. Returns 0 or the exit code after printing "Error: ...". */
int ctl_parse(struct ctl *ctl, const struct flag_def *defs, size_t n_defs, int argc, char **argv);

/* Prints "Error: <msg>" to ctl->err (etcdctl's ExitWithError) and returns code. */
int ctl_error(struct ctl *ctl, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats a failed call's status as clientv3 shows it: etcd's own error strings as is,
 * "context deadline exceeded" for deadlines, else "rpc error: code = X desc = Y". */
void ctl_status_str(const struct gc_status *st, char *out, size_t outlen);

/* Prints "Error: <status>" and returns code. */
int ctl_rpc_error(struct ctl *ctl, int code, const struct gc_status *st);

/* The deadline of a short command started now (--command-timeout). */
int64_t ctl_deadline(const struct ctl *ctl);

/* ---- client.c ---- */

/* Sets up cl for the endpoints eps (display form; "http://" prefixes are stripped). Returns 0
 * or CC_EINVAL with a message in cl->last_err (https, too many endpoints). */
int client_init(struct ctl_client *cl, char *const *eps, size_t n, int64_t dial_timeout_ms,
                const struct gc_conn_opts *opts);
void client_free(struct ctl_client *cl);

/* Returns a usable connection, dialling endpoints in order (wrapping around, with a short
 * backoff between rounds) until deadline_ms. NULL when none answered in time (cl->last_err
 * says why). */
struct gc_conn *client_conn(struct ctl_client *cl, int64_t deadline_ms);

/* Drops the current connection and moves on to the next endpoint. */
void client_fail_over(struct ctl_client *cl);

/* A unary call with fail-over: retried on another endpoint when the connection broke before a
 * reply (only if repeatable, or if the request was never sent) and, for repeatable calls, when
 * the server answered UNAVAILABLE. Returns 0 with *resp, or -1 with *st set. */
int client_unary(struct ctl_client *cl, const char *path, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *desc, bool repeatable, int64_t deadline_ms,
                 ProtobufCMessage **resp, struct gc_status *st);

/* Strips "http://" and a trailing "/..." from an endpoint; fails for other schemes. Writes
 * host:port into out. Exposed for tests. */
int client_endpoint_hostport(const char *ep, char *out, size_t outlen, char *err, size_t errlen);

/* Convenience: a unary call through ctl->cli with the command deadline. */
int ctl_unary(struct ctl *ctl, const char *path, const void *req, const void *desc, bool repeatable,
              void *resp_out, struct gc_status *st);

/* ---- cmd_endpoint.c: per-endpoint helpers shared with defrag and move-leader ---- */

/* The endpoints a multi-endpoint command visits: --endpoints as given, or with cluster every
 * client URL from MemberList. *eps is owned by the caller (ctl_endpoints_free). Returns 0 or
 * an exit code after printing the error. */
int ctl_endpoints(struct ctl *ctl, bool cluster, char ***eps, size_t *n);
void ctl_endpoints_free(char **eps, size_t n);

/* A unary call to one specific endpoint (clientv3's Status(ctx, ep) and friends). */
int ctl_ep_unary(struct ctl *ctl, const char *ep, const char *path, const void *req,
                 const void *desc, bool repeatable, int64_t deadline_ms, void *resp_out,
                 struct gc_status *st);

/* The command table (main.c) and the commands (cmd_*.c). */
extern const struct ctl_cmd ctl_commands[];
extern const size_t ctl_n_commands;

int cmd_put(struct ctl *ctl, int argc, char **argv);
int cmd_wal_dump(struct ctl *ctl, int argc, char **argv);
int cmd_get(struct ctl *ctl, int argc, char **argv);
int cmd_del(struct ctl *ctl, int argc, char **argv);
int cmd_txn(struct ctl *ctl, int argc, char **argv);
int cmd_watch(struct ctl *ctl, int argc, char **argv);
int cmd_compaction(struct ctl *ctl, int argc, char **argv);
int cmd_lease_grant(struct ctl *ctl, int argc, char **argv);
int cmd_lease_revoke(struct ctl *ctl, int argc, char **argv);
int cmd_lease_timetolive(struct ctl *ctl, int argc, char **argv);
int cmd_lease_list(struct ctl *ctl, int argc, char **argv);
int cmd_lease_keepalive(struct ctl *ctl, int argc, char **argv);
int cmd_member_add(struct ctl *ctl, int argc, char **argv);
int cmd_member_remove(struct ctl *ctl, int argc, char **argv);
int cmd_member_update(struct ctl *ctl, int argc, char **argv);
int cmd_member_list(struct ctl *ctl, int argc, char **argv);
int cmd_member_promote(struct ctl *ctl, int argc, char **argv);
int cmd_endpoint_health(struct ctl *ctl, int argc, char **argv);
int cmd_endpoint_status(struct ctl *ctl, int argc, char **argv);
int cmd_endpoint_hashkv(struct ctl *ctl, int argc, char **argv);
int cmd_snapshot_save(struct ctl *ctl, int argc, char **argv);
int cmd_move_leader(struct ctl *ctl, int argc, char **argv);
int cmd_defrag(struct ctl *ctl, int argc, char **argv);
int cmd_alarm_list(struct ctl *ctl, int argc, char **argv);
int cmd_alarm_disarm(struct ctl *ctl, int argc, char **argv);
int cmd_version(struct ctl *ctl, int argc, char **argv);
int cmd_counter_create(struct ctl *ctl, int argc, char **argv);
int cmd_counter_incr(struct ctl *ctl, int argc, char **argv);
int cmd_counter_decr(struct ctl *ctl, int argc, char **argv);
int cmd_counter_get(struct ctl *ctl, int argc, char **argv);

/* ---- cmd_kv.c: request builders shared with txn ---- */

/* The parsed form of a put/get/del command line (a command or a txn request line). Byte
 * strings point into the arguments. */
struct ctl_kv_op {
    Etcdserverpb__RequestOp__RequestCase kind;
    Etcdserverpb__RangeRequest range;
    Etcdserverpb__PutRequest put;
    Etcdserverpb__DeleteRangeRequest del;
    char range_end_buf[1024]; /* computed prefix end when it fits, else heap */
    uint8_t *range_end_heap;
};

/* Parses "put|get|del args..." (argv[0] is the verb) as a txn request line. Returns 0; -1 when
 * the verb or a flag is not understood (the caller reports "invalid txn request"); or an exit
 * code after printing the command's own argument error, as etcdctl does. */
int ctl_kv_op_parse(struct ctl *ctl, int argc, char **argv, struct ctl_kv_op *op);
void ctl_kv_op_free(struct ctl_kv_op *op);

/* Sets range_end for a prefix of key (clientv3.GetPrefixRangeEnd): "\0" when key is all 0xff.
 * buf must hold klen bytes; returns the length written. */
size_t kv_prefix_end(const uint8_t *key, size_t klen, uint8_t *buf);

#endif
