/* cmd_watch.c — watch: one bidirectional Watch stream carrying one or (with -i) many watchers,
 * resumed on another endpoint when the connection breaks (etcdctl's watch_command.go on top of
 * clientv3's watcher). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/print.h"
#include "ctl/txn_parse.h"
#include "util/err.h"

#define WATCH_MAX_WATCHERS         64
#define WATCH_MAX_LINE             (64 * 1024)
#define WATCH_RECONNECT_BACKOFF_MS 500

struct watcher {
    uint8_t *key, *end; /* heap copies */
    size_t klen, elen;
    int64_t rev; /* revision to (re)start from; 0: from now */
    bool prev_kv, progress_notify;
    int64_t id;   /* server watch ID, -1 until created */
    bool pending; /* its create request is in flight */
    bool done;
    char *line;  /* interactive: the line copy exec points into */
    char **exec; /* command to run per event, NULL-terminated; NULL for none */
};

struct wsess {
    struct ctl *ctl;
    struct gc_stream *s;
    struct watcher w[WATCH_MAX_WATCHERS];
    size_t n;
    bool interactive;
    const char *env_key, *env_end;
    char in[WATCH_MAX_LINE];
    size_t in_len;
};

struct watch_flags {
    bool interactive, prefix, prev_kv, progress_notify;
    int64_t rev;
};

static size_t watch_defs(struct watch_flags *f, struct flag_def *d)
{
    memset(f, 0, sizeof *f);
    d[0] = (struct flag_def)FLAG_DEF_BOOL("interactive", 'i', &f->interactive);
    d[1] = (struct flag_def)FLAG_DEF_BOOL("prefix", 0, &f->prefix);
    d[2] = (struct flag_def)FLAG_DEF_INT64("rev", 0, &f->rev);
    d[3] = (struct flag_def)FLAG_DEF_BOOL("prev-kv", 0, &f->prev_kv);
    d[4] = (struct flag_def)FLAG_DEF_BOOL("progress-notify", 0, &f->progress_notify);
    return 5;
}

static void watcher_free(struct watcher *w)
{
    free(w->key);
    free(w->end);
    free(w->line);
    free(w->exec);
    memset(w, 0, sizeof *w);
}

/* getWatchChan: validates and registers a watcher. Returns 0 or -1 with err set. */
static int add_watcher(struct wsess *ss, const struct watch_flags *f, int n, char **args,
                       char **exec, char *line, char *err, size_t errlen)
{
    if (n < 1) {
        snprintf(err, errlen, "bad number of arguments");
        return -1;
    }
    if (n == 2 && f->prefix) {
        snprintf(err, errlen, "`range_end` and `--prefix` are mutually exclusive");
        return -1;
    }
    if (ss->n == WATCH_MAX_WATCHERS) {
        snprintf(err, errlen, "too many watchers (limit %d)", WATCH_MAX_WATCHERS);
        return -1;
    }
    struct watcher *w = &ss->w[ss->n];
    memset(w, 0, sizeof *w);
    size_t kl = strlen(args[0]);
    w->key = malloc(kl + 1);
    w->end = malloc((n == 2 ? strlen(args[1]) : kl) + 2);
    if (!w->key || !w->end) {
        watcher_free(w);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(w->key, args[0], kl);
    w->klen = kl;
    if (n == 2) {
        w->elen = strlen(args[1]);
        memcpy(w->end, args[1], w->elen);
    }
    if (f->prefix) {
        if (kl == 0) {
            w->key[0] = 0, w->klen = 1;
            w->end[0] = 0, w->elen = 1;
        } else {
            w->elen = kv_prefix_end(w->key, kl, w->end);
        }
    }
    w->rev = f->rev;
    w->prev_kv = f->prev_kv;
    w->progress_notify = f->progress_notify;
    w->id = -1;
    w->line = line;
    w->exec = exec;
    ss->n++;
    return 0;
}

/* Sends the next create request; the server assigns IDs in order, so one is in flight at a
 * time (as clientv3 does). */
static void send_next_create(struct wsess *ss)
{
    if (!ss->s || gc_stream_done(ss->s)) return;
    for (size_t i = 0; i < ss->n; i++)
        if (ss->w[i].pending) return;
    for (size_t i = 0; i < ss->n; i++) {
        struct watcher *w = &ss->w[i];
        if (w->done || w->id >= 0) continue;
        Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
        cr.key = (ProtobufCBinaryData){w->klen, w->key};
        cr.range_end = (ProtobufCBinaryData){w->elen, w->end};
        cr.start_revision = w->rev;
        cr.prev_kv = w->prev_kv;
        cr.progress_notify = w->progress_notify;
        Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
        req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
        req.create_request = &cr;
        if (gc_stream_send(ss->s, &req.base) == 0) w->pending = true;
        return;
    }
}

static void send_cancel(struct wsess *ss, int64_t id)
{
    Etcdserverpb__WatchCancelRequest c = ETCDSERVERPB__WATCH_CANCEL_REQUEST__INIT;
    c.watch_id = id;
    Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
    req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST;
    req.cancel_request = &c;
    if (ss->s) gc_stream_send(ss->s, &req.base);
}

/* Opens the Watch stream (with "hasleader" like clientv3.WithRequireLeader) and re-creates
 * every live watcher from its resume revision. Retries until it succeeds or, when deadline_ms
 * is non-zero, until then. Returns 0 or -1 (cl->last_err says why). */
static int open_stream(struct wsess *ss, int64_t deadline_ms)
{
    static const struct gc_md md[] = {{"hasleader", "true"}};
    for (;;) {
        gc_stream_free(ss->s);
        ss->s = NULL;
        int64_t d = deadline_ms ? deadline_ms : gc_now_ms() + ss->ctl->dial_timeout_ns / 1000000;
        struct gc_conn *c = client_conn(&ss->ctl->cli, d);
        if (c && gc_stream_start(c, "/etcdserverpb.Watch/Watch", 0, md, 1, &ss->s) == 0) break;
        if (c) client_fail_over(&ss->ctl->cli);
        if (deadline_ms && gc_now_ms() >= deadline_ms) return -1;
        poll(NULL, 0, WATCH_RECONNECT_BACKOFF_MS);
    }
    for (size_t i = 0; i < ss->n; i++) {
        ss->w[i].id = -1;
        ss->w[i].pending = false;
    }
    send_next_create(ss);
    return 0;
}

static struct watcher *find(struct wsess *ss, int64_t id)
{
    for (size_t i = 0; i < ss->n; i++)
        if (!ss->w[i].done && ss->w[i].id == id) return &ss->w[i];
    return NULL;
}

static bool is_progress(const Etcdserverpb__WatchResponse *r)
{
    return r->n_events == 0 && !r->canceled && !r->created && r->compact_revision == 0 &&
           r->header && r->header->revision != 0;
}

/* Runs the "-- command" of a watcher once per event, with etcdctl's environment. */
static int run_exec(struct ctl *ctl, char **argv, const Etcdserverpb__WatchResponse *r,
                    const Mvccpb__Event *e)
{
    static const Mvccpb__KeyValue empty = MVCCPB__KEY_VALUE__INIT;
    const Mvccpb__KeyValue *kv = e->kv ? e->kv : &empty;
    char rev[64], type[64], *key = NULL, *val = NULL;
    size_t kl, vl;
    snprintf(rev, sizeof rev, "ETCD_WATCH_REVISION=%lld",
             (long long)print_header_or_zero(r->header)->revision);
    char tb[16];
    snprintf(type, sizeof type, "ETCD_WATCH_EVENT_TYPE=\"%s\"",
             print_event_type(e->type, tb, sizeof tb));
    FILE *kf = open_memstream(&key, &kl), *vf = open_memstream(&val, &vl);
    if (kf) fputs("ETCD_WATCH_KEY=", kf), print_go_quote(kf, kv->key.data, kv->key.len), fclose(kf);
    if (vf) fputs("ETCD_WATCH_VALUE=", vf), print_go_quote(vf, kv->value.data, kv->value.len);
    if (vf) fclose(vf);
    fflush(ctl->out);
    fflush(ctl->err);
    pid_t pid = (key && val) ? fork() : -1;
    if (pid == 0) {
        putenv(rev), putenv(type), putenv(key), putenv(val);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    bool ok =
        pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    free(key);
    free(val);
    if (ok) return 0;
    fputs("command [", ctl->err);
    for (char **a = argv; *a; a++) {
        if (a != argv) fputc(' ', ctl->err);
        print_go_quote(ctl->err, (const uint8_t *)*a, strlen(*a));
    }
    if (pid < 0)
        fprintf(ctl->err, "] error (%s)\n", strerror(errno));
    else if (WIFEXITED(status))
        fprintf(ctl->err, "] error (exit status %d)\n", WEXITSTATUS(status));
    else
        fprintf(ctl->err, "] error (signal: %d)\n", WTERMSIG(status));
    return CTL_EXIT_ERROR;
}

/* printWatchCh for one response of one watcher. Returns 0 or an exit code. */
static int deliver(struct wsess *ss, struct watcher *w, const Etcdserverpb__WatchResponse *r)
{
    struct ctl *ctl = ss->ctl;
    if (r->n_events) {
        const Mvccpb__Event *last = r->events[r->n_events - 1];
        if (last->kv) w->rev = last->kv->mod_revision + 1;
    } else if (is_progress(r)) {
        w->rev = r->header->revision + 1;
    }
    if (r->canceled) {
        /* Only compaction cancels reach here (dispatch closes the others silently, as
         * clientv3 does); WatchResponse.Err() is then ErrCompacted. */
        fprintf(ctl->err, "watch was canceled (%s)\n",
                "etcdserver: mvcc: required revision has been compacted");
        w->done = true;
    }
    if (is_progress(r))
        fprintf(ctl->out, "progress notify: %lld\n", (long long)r->header->revision);
    int rc = ctl_print(ctl, watch, r);
    fflush(ctl->out);
    fflush(ctl->err);
    if (rc != 0) return rc;
    for (size_t i = 0; w->exec && i < r->n_events; i++)
        if ((rc = run_exec(ctl, w->exec, r, r->events[i])) != 0) return rc;
    return 0;
}

/* Routes one response to its watcher(s) (clientv3 watchGrpcStream.run). */
static int dispatch(struct wsess *ss, const Etcdserverpb__WatchResponse *r)
{
    if (r->created) {
        struct watcher *w = NULL;
        for (size_t i = 0; i < ss->n && !w; i++)
            if (ss->w[i].pending) w = &ss->w[i];
        if (w) {
            w->pending = false;
            if (r->canceled) {
                w->done = true; /* creation refused: the channel just closes */
            } else {
                w->id = r->watch_id;
                if (w->rev == 0 && r->header) w->rev = r->header->revision + 1;
            }
        }
        send_next_create(ss);
        return 0;
    }
    if (r->canceled && r->compact_revision == 0) {
        struct watcher *w = find(ss, r->watch_id);
        if (w) w->done = true;
        return 0;
    }
    if (r->watch_id == -1 && is_progress(r)) {
        for (size_t i = 0; i < ss->n; i++) {
            if (ss->w[i].done || ss->w[i].id < 0) continue;
            int rc = deliver(ss, &ss->w[i], r);
            if (rc) return rc;
        }
        return 0;
    }
    struct watcher *w = find(ss, r->watch_id);
    if (!w) {
        send_cancel(ss, r->watch_id); /* events for a watcher we do not know */
        return 0;
    }
    return deliver(ss, w, r);
}

static size_t live_watchers(const struct wsess *ss)
{
    size_t n = 0;
    for (size_t i = 0; i < ss->n; i++) n += !ss->w[i].done;
    return n;
}

/* The stream ended: resume elsewhere on transport trouble, or close every watcher with the
 * error when it is final (clientv3's isHaltErr / ErrNoLeader). Returns 0 or an exit code. */
static int stream_ended(struct wsess *ss)
{
    struct ctl *ctl = ss->ctl;
    const struct gc_status *st = gc_stream_status(ss->s);
    bool halt = (st->code != GC_UNAVAILABLE && st->code != GC_INTERNAL) ||
                strcmp(st->message, "etcdserver: no leader") == 0;
    if (!halt) {
        client_fail_over(&ctl->cli);
        ss->s = NULL; /* freed with its connection */
        open_stream(ss, 0);
        return 0;
    }
    char msg[600];
    ctl_status_str(st, msg, sizeof msg);
    for (size_t i = 0; i < ss->n; i++) {
        if (ss->w[i].done) continue;
        Etcdserverpb__WatchResponse r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
        r.canceled = true;
        fprintf(ctl->err, "watch was canceled (%s)\n", msg);
        ctl_print(ctl, watch, &r);
        ss->w[i].done = true;
    }
    fflush(ctl->out);
    gc_stream_free(ss->s);
    ss->s = NULL;
    return 0;
}

/* One "watch ..." or "progress" line of interactive mode. Returns 0 or an exit code. */
static int interactive_line(struct wsess *ss, char *l)
{
    struct ctl *ctl = ss->ctl;
    char *copy = strdup(l);
    if (!copy) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    char *argv[128];
    int argc = txn_argify(copy, argv, 128);
    if (argc < 1) {
        free(copy);
        fprintf(ctl->err, "Invalid command: %s (watch and progress supported)\n", l);
        return 0;
    }
    if (strcmp(argv[0], "progress") == 0) {
        free(copy);
        if (!ss->s) return 0; /* no watcher: nobody would print the answer */
        Etcdserverpb__WatchProgressRequest pr = ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;
        Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
        req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
        req.progress_request = &pr;
        gc_stream_send(ss->s, &req.base);
        return 0;
    }
    if (strcmp(argv[0], "watch") != 0) {
        free(copy);
        fprintf(ctl->err, "Invalid command %s (only support watch)\n", l);
        return 0;
    }
    if (argc < 2 && !ss->env_key) {
        free(copy);
        fprintf(ctl->err, "Invalid command %s (command type or key is not provided)\n", l);
        return 0;
    }
    struct watch_flags f;
    struct flag_def d[5];
    size_t nd = watch_defs(&f, d);
    char *pos[128], err[600];
    int npos, dash;
    if (flags_parse(d, nd, argc - 1, argv + 1, pos, 128, &npos, &dash, NULL, err, sizeof err)) {
        free(copy);
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "%s", err);
    }
    char **exec = NULL;
    int nkey = dash >= 0 ? dash : npos;
    if (dash >= 0) {
        if (dash == npos) {
            free(copy);
            return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                             "bad number of arguments (found separator --, but no commands)");
        }
        exec = calloc((size_t)(npos - dash) + 1, sizeof *exec);
        if (!exec) {
            free(copy);
            return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
        }
        memcpy(exec, pos + dash, (size_t)(npos - dash) * sizeof *exec);
    }
    if (nkey > 0 && ss->env_key) {
        free(exec);
        free(copy);
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "bad number of arguments (found conflicting environment key)");
    }
    char *keys[2] = {(char *)ss->env_key, (char *)ss->env_end};
    char **ka = ss->env_key ? keys : pos;
    int kn = ss->env_key ? (ss->env_end ? 2 : 1) : nkey;
    if (add_watcher(ss, &f, kn, ka, exec, copy, err, sizeof err) != 0) {
        free(exec);
        free(copy);
        fprintf(ctl->err, "Invalid command %s (%s)\n", l, err);
        return 0;
    }
    if (!ss->s) {
        if (open_stream(ss, ctl_deadline(ctl)) != 0)
            return ctl_error(ctl, CTL_EXIT_ERROR, "context deadline exceeded");
    } else {
        send_next_create(ss);
    }
    return 0;
}

/* Reads what stdin has; runs complete lines. Returns 0 or an exit code (EOF ends the
 * command with etcdctl's "Error reading watch request line: EOF", status 3). */
static int read_stdin(struct wsess *ss)
{
    ssize_t n = read(0, ss->in + ss->in_len, sizeof ss->in - ss->in_len - 1);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    if (n <= 0)
        return ctl_error(ss->ctl, CTL_EXIT_INVALID_INPUT, "Error reading watch request line: %s",
                         n == 0 ? "EOF" : strerror(errno));
    ss->in_len += (size_t)n;
    for (;;) {
        char *nl = memchr(ss->in, '\n', ss->in_len);
        if (!nl) break;
        *nl = 0;
        int rc = interactive_line(ss, ss->in);
        size_t used = (size_t)(nl - ss->in) + 1;
        memmove(ss->in, nl + 1, ss->in_len - used);
        ss->in_len -= used;
        if (rc) return rc;
    }
    if (ss->in_len == sizeof ss->in - 1)
        return ctl_error(ss->ctl, CTL_EXIT_INVALID_INPUT, "watch request line too long");
    return 0;
}

static int run(struct wsess *ss)
{
    for (;;) {
        if (ss->s) {
            ProtobufCMessage *m;
            int rv;
            while ((rv = gc_stream_try_recv(ss->s, &etcdserverpb__watch_response__descriptor,
                                            &m)) == 1) {
                int rc = dispatch(ss, (Etcdserverpb__WatchResponse *)m);
                protobuf_c_message_free_unpacked(m, NULL);
                if (rc) return rc;
            }
            if (rv != 0) {
                int rc = stream_ended(ss);
                if (rc) return rc;
            }
        }
        if (!ss->interactive && live_watchers(ss) == 0)
            return ctl_error(ss->ctl, CTL_EXIT_INTERRUPTED, "watch is canceled by the server");
        bool in_ready = false;
        if (ss->s) {
            gc_conn_poll(ss->ctl->cli.conn, ss->interactive ? 0 : -1, 0, &in_ready);
        } else if (ss->interactive) {
            struct pollfd p = {.fd = 0, .events = POLLIN};
            in_ready = poll(&p, 1, -1) > 0;
        }
        if (in_ready) {
            int rc = read_stdin(ss);
            if (rc) return rc;
        }
    }
}

int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
    struct watch_flags f;
    struct flag_def d[5];
    size_t nd = watch_defs(&f, d);
    int rc = ctl_parse(ctl, d, nd, argc, argv);
    if (rc != 0) return rc;
    struct wsess *ss = calloc(1, sizeof *ss);
    if (!ss) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    ss->ctl = ctl;
    ss->interactive = f.interactive;
    const char *ek = getenv("ETCDCTL_WATCH_KEY"), *er = getenv("ETCDCTL_WATCH_RANGE_END");
    ss->env_key = ek && *ek ? ek : NULL;
    ss->env_end = er && *er ? er : NULL;
    if (!ss->env_key && ss->env_end) {
        rc = ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                       "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=\"%s\"", er);
        goto out;
    }
    if (!ss->interactive) {
        int dash = ctl->args_at_dash, nkey = dash >= 0 ? dash : ctl->n_args;
        char **exec = NULL;
        char err[300];
        if (dash >= 0 && dash == ctl->n_args) {
            rc = ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                           "bad number of arguments (found separator --, but no commands)");
            goto out;
        }
        if (nkey > 0 && ss->env_key) {
            rc = ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                           "bad number of arguments (found conflicting environment key)");
            goto out;
        }
        if (dash >= 0) {
            exec = calloc((size_t)(ctl->n_args - dash) + 1, sizeof *exec);
            if (!exec) {
                rc = ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
                goto out;
            }
            memcpy(exec, ctl->args + dash, (size_t)(ctl->n_args - dash) * sizeof *exec);
        }
        char *keys[2] = {(char *)ss->env_key, (char *)ss->env_end};
        char **ka = ss->env_key ? keys : ctl->args;
        int kn = ss->env_key ? (ss->env_end ? 2 : 1) : nkey;
        if (add_watcher(ss, &f, kn, ka, exec, NULL, err, sizeof err) != 0) {
            free(exec);
            rc = ctl_error(ctl, CTL_EXIT_BAD_ARGS, "%s", err);
            goto out;
        }
        if (open_stream(ss, ctl_deadline(ctl)) != 0) {
            rc = ctl_error(ctl, CTL_EXIT_ERROR, "context deadline exceeded");
            goto out;
        }
    }
    rc = run(ss);
out:
    gc_stream_free(ss->s);
    for (size_t i = 0; i < ss->n; i++) watcher_free(&ss->w[i]);
    free(ss);
    return rc;
}
