/* ctl.c — concurctl's global flags, environment, output-format selection and error reporting. */
#include "ctl/ctl.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/print.h"
#include "util/err.h"

#define NS_PER_MS 1000000ll

void ctl_init(struct ctl *ctl, FILE *out, FILE *err)
{
    memset(ctl, 0, sizeof *ctl);
    snprintf(ctl->endpoints, sizeof ctl->endpoints, "127.0.0.1:2379");
    ctl->dial_timeout_ns = 2000 * NS_PER_MS;
    ctl->command_timeout_ns = 5000 * NS_PER_MS;
    ctl->keepalive_time_ns = 2000 * NS_PER_MS;
    ctl->keepalive_timeout_ns = 6000 * NS_PER_MS;
    snprintf(ctl->write_out, sizeof ctl->write_out, "simple");
    ctl->insecure_transport = true;
    ctl->insecure_discovery = true;
    ctl->args_at_dash = -1;
    ctl->out = out;
    ctl->err = err;
    ctl->pr = &printer_simple;
}

void ctl_free(struct ctl *ctl)
{
    client_free(&ctl->cli);
    for (size_t i = 0; i < ctl->n_ep; i++) free(ctl->ep_list[i]);
    ctl->n_ep = 0;
}

int ctl_error(struct ctl *ctl, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("Error: ", ctl->err);
    vfprintf(ctl->err, fmt, ap);
    fputc('\n', ctl->err);
    va_end(ap);
    fflush(ctl->out);
    fflush(ctl->err);
    return code;
}

/* The error strings clientv3 turns back into etcd errors (api/v3rpc/rpctypes/error.go); any
 * other status is shown as "rpc error: code = ... desc = ...". */
static const char *const etcd_errors[] = {
    "etcdserver: key is not provided",
    "etcdserver: key not found",
    "etcdserver: value is provided",
    "etcdserver: lease is provided",
    "etcdserver: too many operations in txn request",
    "etcdserver: duplicate key given in txn request",
    "etcdserver: mvcc: required revision has been compacted",
    "etcdserver: mvcc: required revision is a future revision",
    "etcdserver: mvcc: database space exceeded",
    "etcdserver: requested lease not found",
    "etcdserver: lease already exists",
    "etcdserver: too large lease TTL",
    "etcdserver: member ID already exist",
    "etcdserver: Peer URLs already exists",
    "etcdserver: re-configuration failed due to not enough started members",
    "etcdserver: given member URLs are invalid",
    "etcdserver: member not found",
    "etcdserver: can only promote a learner member",
    "etcdserver: can only promote a learner member which is in sync with leader",
    "etcdserver: too many learner members in cluster",
    "etcdserver: request is too large",
    "etcdserver: too many requests",
    "etcdserver: root user does not exist",
    "etcdserver: root user does not have root role",
    "etcdserver: user name already exists",
    "etcdserver: user name is empty",
    "etcdserver: user name not found",
    "etcdserver: role name already exists",
    "etcdserver: role name not found",
    "etcdserver: role name is empty",
    "etcdserver: authentication failed, invalid user ID or password",
    "etcdserver: permission denied",
    "etcdserver: role is not granted to the user",
    "etcdserver: permission is not granted to the role",
    "etcdserver: authentication is not enabled",
    "etcdserver: invalid auth token",
    "etcdserver: invalid auth management",
    "etcdserver: revision of auth store is old",
    "etcdserver: no leader",
    "etcdserver: not leader",
    "etcdserver: leader changed",
    "etcdserver: not capable",
    "etcdserver: server stopped",
    "etcdserver: request timed out",
    "etcdserver: request timed out, possibly due to previous leader failure",
    "etcdserver: request timed out, possibly due to connection lost",
    "etcdserver: request timed out, waiting for the applied index took too long",
    "etcdserver: unhealthy cluster",
    "etcdserver: corrupt cluster",
    "etcdserver: rpc not supported for learner",
    "etcdserver: bad leader transferee",
    "etcdserver: cluster version downgrade in progress", /* 3.5 */
};

void ctl_status_str(const struct gc_status *st, char *out, size_t outlen)
{
    if (st->code == GC_DEADLINE_EXCEEDED && st->local) {
        snprintf(out, outlen, "context deadline exceeded");
        return;
    }
    for (size_t i = 0; i < sizeof etcd_errors / sizeof etcd_errors[0]; i++) {
        if (strcmp(st->message, etcd_errors[i]) == 0) {
            snprintf(out, outlen, "%s", st->message);
            return;
        }
    }
    snprintf(out, outlen, "rpc error: code = %s desc = %s", gc_code_name(st->code), st->message);
}

int ctl_rpc_error(struct ctl *ctl, int code, const struct gc_status *st)
{
    char msg[600];
    if (st->detail[0]) fprintf(ctl->err, "concurctl: %s\n", st->detail);
    ctl_status_str(st, msg, sizeof msg);
    return ctl_error(ctl, code, "%s", msg);
}

int64_t ctl_deadline(const struct ctl *ctl)
{
    return gc_now_ms() + ctl->command_timeout_ns / NS_PER_MS;
}

int ctl_unary(struct ctl *ctl, const char *path, const void *req, const void *desc, bool repeatable,
              void *resp_out, struct gc_status *st)
{
    return client_unary(&ctl->cli, path, req, desc, repeatable, ctl_deadline(ctl),
                        (ProtobufCMessage **)resp_out, st);
}

/* Builds the global flag table over ctl's fields. Returns the count. */
static size_t global_flags(struct ctl *ctl, struct flag_def *d)
{
    size_t n = 0;
    d[n++] =
        (struct flag_def){"endpoints", 0, FLAG_SLICE, ctl->endpoints, sizeof ctl->endpoints, NULL};
    d[n++] = (struct flag_def)FLAG_DEF_BOOL("debug", 0, &ctl->debug);
    d[n++] = (struct flag_def)FLAG_DEF_STR("write-out", 'w', ctl->write_out);
    d[n++] = (struct flag_def)FLAG_DEF_BOOL("hex", 0, &ctl->hex);
    d[n++] = (struct flag_def)FLAG_DEF_DURATION("dial-timeout", 0, &ctl->dial_timeout_ns);
    d[n++] = (struct flag_def)FLAG_DEF_DURATION("command-timeout", 0, &ctl->command_timeout_ns);
    d[n++] = (struct flag_def)FLAG_DEF_DURATION("keepalive-time", 0, &ctl->keepalive_time_ns);
    d[n++] = (struct flag_def)FLAG_DEF_DURATION("keepalive-timeout", 0, &ctl->keepalive_timeout_ns);
    d[n++] = (struct flag_def)FLAG_DEF_BOOL("insecure-transport", 0, &ctl->insecure_transport);
    d[n++] = (struct flag_def)FLAG_DEF_BOOL("insecure-discovery", 0, &ctl->insecure_discovery);
    d[n++] =
        (struct flag_def)FLAG_DEF_BOOL("insecure-skip-tls-verify", 0, &ctl->insecure_skip_verify);
    d[n++] = (struct flag_def)FLAG_DEF_STR("cert", 0, ctl->cert);
    d[n++] = (struct flag_def)FLAG_DEF_STR("key", 0, ctl->key);
    d[n++] = (struct flag_def)FLAG_DEF_STR("cacert", 0, ctl->cacert);
    d[n++] = (struct flag_def)FLAG_DEF_STR("user", 0, ctl->user);
    d[n++] = (struct flag_def)FLAG_DEF_STR("password", 0, ctl->password);
    d[n++] = (struct flag_def)FLAG_DEF_STR("discovery-srv", 'd', ctl->discovery_srv);
    d[n++] = (struct flag_def)FLAG_DEF_STR("discovery-srv-name", 0, ctl->discovery_srv_name);
    return n;
}

#define N_GLOBAL_FLAGS 18

/* etcd's pkg/flags.SetPflagsFromEnv: ETCDCTL_<FLAG_NAME> for every global flag not given. */
static int apply_env(struct ctl *ctl, const struct flag_def *d, size_t n, const bool *given)
{
    for (size_t i = 0; i < n; i++) {
        if (given[i]) continue;
        char env[96] = "ETCDCTL_";
        size_t k = strlen(env);
        for (const char *p = d[i].name; *p && k + 1 < sizeof env; p++)
            env[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        env[k] = 0;
        const char *v = getenv(env);
        if (!v || !*v) continue;
        char err[512];
        struct flag_def one = d[i];
        one.changed = NULL;
        /* etcdctl ignores a bad value here (the flag keeps its default); say so at least. */
        if (flags_set(&one, v, err, sizeof err) != 0)
            fprintf(ctl->err, "concurctl: ignoring %s: %s\n", env, err);
    }
    return 0;
}

static int select_format(struct ctl *ctl)
{
    static const struct {
        const char *name;
        enum ctl_format f;
        const struct printer *p;
    } fmts[] = {{"simple", CTL_FMT_SIMPLE, &printer_simple},
                {"json", CTL_FMT_JSON, &printer_json},
                {"fields", CTL_FMT_FIELDS, &printer_fields},
                {"table", CTL_FMT_TABLE, &printer_table},
                {"protobuf", CTL_FMT_PROTOBUF, &printer_protobuf}};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        if (strcmp(ctl->write_out, fmts[i].name) == 0) {
            ctl->format = fmts[i].f;
            ctl->pr = fmts[i].p;
            return 0;
        }
    }
    return ctl_error(ctl, CTL_EXIT_BAD_FEATURE, "unsupported output format");
}

/* Splits ctl->endpoints (pflag StringSlice: comma-separated, spaces trimmed). */
static int split_endpoints(struct ctl *ctl)
{
    for (size_t i = 0; i < ctl->n_ep; i++) free(ctl->ep_list[i]);
    ctl->n_ep = 0;
    const char *p = ctl->endpoints;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) p++, len--;
        while (len && isspace((unsigned char)p[len - 1])) len--;
        if (ctl->n_ep == CTL_MAX_ENDPOINTS)
            return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "too many endpoints (limit %d)",
                             CTL_MAX_ENDPOINTS);
        char *s = strndup(p, len);
        if (!s) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
        ctl->ep_list[ctl->n_ep++] = s;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

int ctl_parse(struct ctl *ctl, const struct flag_def *defs, size_t n_defs, int argc, char **argv)
{
    struct flag_def all[N_GLOBAL_FLAGS + 32];
    bool given[N_GLOBAL_FLAGS] = {false};
    size_t ng = global_flags(ctl, all);
    assert(ng == N_GLOBAL_FLAGS && n_defs <= 32);
    for (size_t i = 0; i < ng; i++) all[i].changed = &given[i];
    if (n_defs) memcpy(all + ng, defs, n_defs * sizeof *defs);

    char err[600];
    bool help = false;
    if (flags_parse(all, ng + n_defs, argc, argv, ctl->args, CTL_MAX_ARGS, &ctl->n_args,
                    &ctl->args_at_dash, &help, err, sizeof err) != 0)
        return ctl_error(ctl, CTL_EXIT_ERROR, "%s", err);
    if (help) return CTL_EXIT_HELP;
    for (size_t i = 0; i < ng; i++)
        if (strcmp(all[i].name, "command-timeout") == 0 && given[i])
            ctl->command_timeout_set = true;
    int rc = apply_env(ctl, all, ng, given);
    if (rc != 0) return rc;
    if (!ctl->command_timeout_set && getenv("ETCDCTL_COMMAND_TIMEOUT"))
        ctl->command_timeout_set = true;
    if ((rc = select_format(ctl)) != 0) return rc;
    if (ctl->cert[0] || ctl->key[0] || ctl->cacert[0] || !ctl->insecure_transport)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "TLS is not supported by concurctl");
    if (ctl->user[0])
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "authentication (--user) is not supported by concurctl yet");
    if (ctl->discovery_srv[0])
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "DNS discovery (--discovery-srv) is not supported by concurctl");
    if ((rc = split_endpoints(ctl)) != 0) return rc;
    struct gc_conn_opts opts = {
        /* grpc-go raises keepalive times below 10 s to 10 s; so do we (etcd's default
         * enforcement policy would otherwise answer with GOAWAY "too_many_pings"). */
        .keepalive_time_ms =
            ctl->keepalive_time_ns / NS_PER_MS < 10000 ? 10000 : ctl->keepalive_time_ns / NS_PER_MS,
        .keepalive_timeout_ms = ctl->keepalive_timeout_ns / NS_PER_MS,
    };
    client_free(&ctl->cli);
    if (client_init(&ctl->cli, ctl->ep_list, ctl->n_ep, ctl->dial_timeout_ns / NS_PER_MS, &opts) !=
        0)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "%s", ctl->cli.last_err);
    return 0;
}
