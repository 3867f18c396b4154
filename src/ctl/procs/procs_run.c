/* procs_run.c — the `concurctl cluster run` supervisor: spawn, prefix output, serve control. */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "ctl/procs/procs.h"
#include "ctl/procs/procs_internal.h"
#include "util/dirs.h"
#include "util/err.h"

#define STOP_GRACE_MS 10000
#define CTL_LINE_MAX  (PROCS_CMD_MAX + 2 * PROCS_NAME_MAX)
#define MAX_CTL_CONNS 16

struct sup;
struct proc;

/* One life of a process: the process handle and its two output pipes. Freed when all three
 * handles have closed. */
struct run {
    struct proc *p;
    uv_process_t h;
    uv_pipe_t out[2];
    char line[2][PROCS_LINE_MAX];
    size_t line_len[2];
    int open_handles;
    bool exited;
};

struct ctl_conn {
    struct sup *s;
    uv_pipe_t h;
    char buf[CTL_LINE_MAX];
    size_t len;
    bool done; /* a reply has been sent or is pending on a proc */
};

enum after_exit { AFTER_NOTHING = 0, AFTER_START = 1 };

struct proc {
    struct sup *s;
    struct procs_entry e;
    int color;
    struct run *cur;
    uv_timer_t kill_timer;
    enum after_exit after;
    struct ctl_conn *waiter; /* replied to when the pending action completes */
    const char *waiter_verb;
};

struct sup {
    uv_loop_t *loop;
    struct proc procs[PROCS_MAX];
    int n;
    int name_width;
    bool tty;
    bool shutting_down;
    uv_pipe_t server;
    uv_signal_t sig[2];
    char sock_path[512];
    int ctl_conns;
    char scratch[65536];
};

static const int colors[] = {36, 33, 32, 35, 31, 34, 96, 93, 92, 95, 91, 94};

static void emit(struct sup *s, const struct proc *p, const char *text, size_t len)
{
    char ts[16];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    char head[160];
    int hn;
    if (s->tty)
        hn = snprintf(head, sizeof(head), "\033[%dm%s %-*s |\033[0m ", p ? p->color : 37, ts,
                      s->name_width, p ? p->e.name : "system");
    else
        hn =
            snprintf(head, sizeof(head), "%s %-*s | ", ts, s->name_width, p ? p->e.name : "system");
    struct iovec iov[3] = {{head, (size_t)hn}, {(void *)text, len}, {"\n", 1}};
    ssize_t w = writev(1, iov, 3);
    (void)w;
}

static void say(struct sup *s, const struct proc *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct sup *s, const struct proc *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    emit(s, p, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

static struct proc *find(struct sup *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->procs[i].e.name, name)) return &s->procs[i];
    return NULL;
}

/* --- control replies ------------------------------------------------------------------------ */

static void ctl_closed(uv_handle_t *h)
{
    struct ctl_conn *c = h->data;
    c->s->ctl_conns--;
    free(c);
}

struct ctl_write {
    uv_write_t req;
    struct ctl_conn *c;
    char text[512];
};

static void ctl_written(uv_write_t *req, int status)
{
    struct ctl_write *w = (struct ctl_write *)req;
    (void)status;
    if (!uv_is_closing((uv_handle_t *)&w->c->h)) uv_close((uv_handle_t *)&w->c->h, ctl_closed);
    free(w);
}

/* Sends one reply line ("ok ..." or "error ...") and closes the connection. */
static void ctl_reply(struct ctl_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ctl_reply(struct ctl_conn *c, const char *fmt, ...)
{
    struct ctl_write *w = malloc(sizeof(*w));
    if (!w) {
        uv_close((uv_handle_t *)&c->h, ctl_closed);
        return;
    }
    w->c = c;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->text, sizeof(w->text) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n > sizeof(w->text) - 2) n = (int)sizeof(w->text) - 2;
    w->text[n++] = '\n';
    uv_buf_t b = uv_buf_init(w->text, (unsigned)n);
    c->done = true;
    if (uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, ctl_written)) {
        free(w);
        uv_close((uv_handle_t *)&c->h, ctl_closed);
    }
}

static void finish_waiter(struct proc *p, bool ok, const char *what)
{
    if (!p->waiter) return;
    struct ctl_conn *c = p->waiter;
    p->waiter = NULL;
    if (ok)
        ctl_reply(c, "ok %s %s", p->waiter_verb, what);
    else
        ctl_reply(c, "error %s %s", p->waiter_verb, what);
}

/* --- process lifecycle ---------------------------------------------------------------------- */

static void maybe_finish_shutdown(struct sup *s);
static int proc_start(struct proc *p);

static void run_handle_closed(uv_handle_t *h)
{
    struct run *r = h->data;
    if (--r->open_handles > 0) return;
    struct proc *p = r->p;
    if (p->cur == r) p->cur = NULL;
    free(r);
    struct sup *s = p->s;
    if (s->shutting_down) {
        maybe_finish_shutdown(s);
        return;
    }
    if (p->after == AFTER_START) {
        p->after = AFTER_NOTHING;
        int rc = proc_start(p);
        char what[96];
        snprintf(what, sizeof(what), "%s%s", p->e.name, rc ? " (spawn failed)" : "");
        finish_waiter(p, rc == 0, what);
    } else {
        finish_waiter(p, true, p->e.name);
    }
}

static void flush_line(struct run *r, int i)
{
    if (r->line_len[i]) emit(r->p->s, r->p, r->line[i], r->line_len[i]);
    r->line_len[i] = 0;
}

static void out_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct run *r = h->data;
    (void)suggested;
    /* One scratch buffer per supervisor: out_read consumes it before the loop reads again. */
    *buf = uv_buf_init(r->p->s->scratch, sizeof(r->p->s->scratch));
}

static void out_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct run *r = st->data;
    int i = (uv_pipe_t *)st == &r->out[0] ? 0 : 1;
    if (nread < 0) {
        flush_line(r, i);
        uv_close((uv_handle_t *)st, run_handle_closed);
        return;
    }
    for (ssize_t k = 0; k < nread; k++) {
        char ch = buf->base[k];
        if (ch == '\n') {
            flush_line(r, i);
            continue;
        }
        if (r->line_len[i] == sizeof(r->line[i])) flush_line(r, i);
        r->line[i][r->line_len[i]++] = ch;
    }
}

static void proc_exited(uv_process_t *h, int64_t status, int term_signal)
{
    struct run *r = h->data;
    struct proc *p = r->p;
    r->exited = true;
    uv_timer_stop(&p->kill_timer);
    if (term_signal)
        say(p->s, p, "exited (signal %d)", term_signal);
    else
        say(p->s, p, "exited with code %lld", (long long)status);
    uv_close((uv_handle_t *)h, run_handle_closed);
}

static int proc_start(struct proc *p)
{
    struct sup *s = p->s;
    assert(!p->cur);
    struct run *r = calloc(1, sizeof(*r));
    if (!r) return CC_ENOMEM;
    r->p = p;
    /* A simple command is exec'd by the shell so the process we watch is the member itself:
     * its exit (not the shell's) is what "exited" and a finished `stop` report. Commands with
     * shell control operators keep their shell. */
    char cmd[PROCS_CMD_MAX + 8];
    bool simple = strpbrk(p->e.cmd, ";&|()\n") == NULL;
    snprintf(cmd, sizeof(cmd), "%s%s", simple ? "exec " : "", p->e.cmd);
    char *args[] = {"/bin/sh", "-c", cmd, NULL};
    uv_stdio_container_t stdio[3];
    for (int i = 0; i < 2; i++) {
        uv_pipe_init(s->loop, &r->out[i], 0);
        r->out[i].data = r;
    }
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&r->out[0];
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&r->out[1];
    uv_process_options_t o;
    memset(&o, 0, sizeof(o));
    o.file = "/bin/sh";
    o.args = args;
    o.exit_cb = proc_exited;
    o.stdio_count = 3;
    o.stdio = stdio;
    /* Own session and process group: Ctrl-C reaches only the supervisor, which then signals the
     * whole group (the shell and whatever it started). */
    o.flags = UV_PROCESS_DETACHED;
    r->h.data = r;
    int rc = uv_spawn(s->loop, &r->h, &o);
    if (rc) {
        say(s, p, "failed to start: %s", uv_strerror(rc));
        /* The pipes were initialised; close them and free the run when both are closed. */
        r->open_handles = 2;
        p->cur = r;
        r->exited = true;
        uv_close((uv_handle_t *)&r->out[0], run_handle_closed);
        uv_close((uv_handle_t *)&r->out[1], run_handle_closed);
        return CC_EIO;
    }
    r->open_handles = 3;
    p->cur = r;
    for (int i = 0; i < 2; i++) uv_read_start((uv_stream_t *)&r->out[i], out_alloc, out_read);
    say(s, p, "started with pid %d", r->h.pid);
    return 0;
}

static void kill_timeout(uv_timer_t *t)
{
    struct proc *p = t->data;
    if (p->cur && !p->cur->exited) {
        say(p->s, p, "did not stop within %d ms; sending SIGKILL", STOP_GRACE_MS);
        uv_kill(-p->cur->h.pid, SIGKILL);
    }
}

/* Sends sig to a running process; SIGTERM arms the SIGKILL fallback. */
static void proc_signal(struct proc *p, int sig)
{
    if (!p->cur || p->cur->exited) return;
    uv_kill(-p->cur->h.pid, sig);
    if (sig == SIGTERM) uv_timer_start(&p->kill_timer, kill_timeout, STOP_GRACE_MS, 0);
}

static bool proc_alive(const struct proc *p)
{
    return p->cur != NULL;
}

/* --- shutdown ------------------------------------------------------------------------------- */

static void maybe_finish_shutdown(struct sup *s)
{
    for (int i = 0; i < s->n; i++)
        if (proc_alive(&s->procs[i])) return;
    for (int i = 0; i < s->n; i++) {
        finish_waiter(&s->procs[i], false, "(supervisor stopping)");
        if (!uv_is_closing((uv_handle_t *)&s->procs[i].kill_timer))
            uv_close((uv_handle_t *)&s->procs[i].kill_timer, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (!uv_is_closing((uv_handle_t *)&s->sig[i])) uv_close((uv_handle_t *)&s->sig[i], NULL);
    if (!uv_is_closing((uv_handle_t *)&s->server)) uv_close((uv_handle_t *)&s->server, NULL);
    unlink(s->sock_path);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct sup *s = h->data;
    if (s->shutting_down) {
        say(s, NULL, "second signal: killing every process");
        for (int i = 0; i < s->n; i++) proc_signal(&s->procs[i], SIGKILL);
        return;
    }
    s->shutting_down = true;
    say(s, NULL, "%s received: stopping every process", signum == SIGINT ? "SIGINT" : "SIGTERM");
    for (int i = 0; i < s->n; i++) proc_signal(&s->procs[i], SIGTERM);
    maybe_finish_shutdown(s);
}

/* --- control commands ----------------------------------------------------------------------- */

static int add_proc(struct sup *s, const char *name, const char *cmd)
{
    if (s->n == PROCS_MAX) return CC_ETOOBIG;
    if (strlen(name) >= PROCS_NAME_MAX || strlen(cmd) >= PROCS_CMD_MAX) return CC_ETOOBIG;
    struct proc *p = &s->procs[s->n];
    memset(p, 0, sizeof(*p));
    p->s = s;
    snprintf(p->e.name, sizeof(p->e.name), "%s", name);
    snprintf(p->e.cmd, sizeof(p->e.cmd), "%s", cmd);
    p->color = colors[s->n % (int)(sizeof(colors) / sizeof(colors[0]))];
    uv_timer_init(s->loop, &p->kill_timer);
    p->kill_timer.data = p;
    s->n++;
    int w = (int)strlen(name);
    if (w > s->name_width) s->name_width = w;
    return 0;
}

static void ctl_execute(struct ctl_conn *c, char *line)
{
    struct sup *s = c->s;
    char *save = NULL;
    char *verb = strtok_r(line, " ", &save);
    char *name = verb ? strtok_r(NULL, " ", &save) : NULL;
    char *rest = save && *save ? save : NULL;
    if (!verb) {
        ctl_reply(c, "error empty command");
        return;
    }
    if (!strcmp(verb, "list")) {
        char out[480];
        size_t n = 0;
        for (int i = 0; i < s->n && n < sizeof(out) - 80; i++)
            n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s=%s", i ? "," : "",
                                  s->procs[i].e.name,
                                  proc_alive(&s->procs[i]) ? "running" : "stopped");
        out[n] = 0;
        ctl_reply(c, "ok list %s", out);
        return;
    }
    if (s->shutting_down) {
        ctl_reply(c, "error supervisor is stopping");
        return;
    }
    if (!name) {
        ctl_reply(c, "error %s needs a process name", verb);
        return;
    }
    struct proc *p = find(s, name);
    if (!strcmp(verb, "add")) {
        if (!rest) {
            ctl_reply(c, "error add needs a command");
            return;
        }
        if (!p) {
            if (add_proc(s, name, rest)) {
                ctl_reply(c, "error cannot add %s: too many processes or too long", name);
                return;
            }
            p = &s->procs[s->n - 1];
        }
        verb = "start";
    }
    if (!p) {
        ctl_reply(c, "error unknown process %s", name);
        return;
    }
    if (p->waiter) {
        ctl_reply(c, "error %s has an action in progress", name);
        return;
    }
    if (!strcmp(verb, "start")) {
        if (proc_alive(p)) {
            ctl_reply(c, "error %s is already running", name);
            return;
        }
        int rc = proc_start(p);
        if (rc)
            ctl_reply(c, "error start %s failed", name);
        else
            ctl_reply(c, "ok start %s", name);
        return;
    }
    bool is_stop = !strcmp(verb, "stop"), is_kill = !strcmp(verb, "kill");
    bool is_restart = !strcmp(verb, "restart");
    if (!is_stop && !is_kill && !is_restart) {
        ctl_reply(c, "error unknown command %s (list, start, stop, restart, kill, add)", verb);
        return;
    }
    if (!proc_alive(p)) {
        if (is_restart) {
            int rc = proc_start(p);
            if (rc)
                ctl_reply(c, "error start %s failed", name);
            else
                ctl_reply(c, "ok restart %s", name);
        } else {
            ctl_reply(c, "error %s is not running", name);
        }
        return;
    }
    p->waiter = c;
    p->waiter_verb = is_restart ? "restart" : is_kill ? "kill" : "stop";
    p->after = is_restart ? AFTER_START : AFTER_NOTHING;
    proc_signal(p, is_kill ? SIGKILL : SIGTERM);
}

static void ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct ctl_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void ctl_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct ctl_conn *c = st->data;
    (void)buf;
    if (c->done) return;
    if (nread < 0) {
        uv_close((uv_handle_t *)st, ctl_closed);
        return;
    }
    c->len += (size_t)nread;
    c->buf[c->len] = 0;
    char *nl = strchr(c->buf, '\n');
    if (!nl) {
        if (c->len == sizeof(c->buf) - 1) ctl_reply(c, "error command too long");
        return;
    }
    *nl = 0;
    uv_read_stop(st);
    ctl_execute(c, c->buf);
}

static void ctl_accept(uv_stream_t *server, int status)
{
    struct sup *s = server->data;
    if (status < 0) return;
    struct ctl_conn *c = calloc(1, sizeof(*c));
    if (!c) return;
    c->s = s;
    uv_pipe_init(s->loop, &c->h, 0);
    c->h.data = c;
    s->ctl_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->h) || s->ctl_conns > MAX_CTL_CONNS) {
        uv_close((uv_handle_t *)&c->h, ctl_closed);
        return;
    }
    uv_read_start((uv_stream_t *)&c->h, ctl_alloc, ctl_read);
}

int procs__run(const struct procs_entry *entries, int n, const char *sock_path)
{
    struct sup *s = calloc(1, sizeof(*s));
    if (!s) return 1;
    uv_loop_t loop;
    uv_loop_init(&loop);
    s->loop = &loop;
    s->tty = isatty(1);
    s->name_width = 6;
    snprintf(s->sock_path, sizeof(s->sock_path), "%s", sock_path);
    for (int i = 0; i < n; i++) add_proc(s, entries[i].name, entries[i].cmd);

    uv_pipe_init(&loop, &s->server, 0);
    s->server.data = s;
    /* The socket lives in the data directory, which a fresh checkout does not have yet (libuv
     * reports the missing directory as EACCES, a misleading "permission denied"). */
    int dir_rc = dirs_make_parent(sock_path); /* a cc_err */
    int rc = dir_rc ? 0 : uv_pipe_bind(&s->server, sock_path);
    if (rc == UV_EADDRINUSE) {
        /* A stale socket from a supervisor that died: refuse if one still answers. */
        if (procs__ping(sock_path) == 0) {
            fprintf(stderr, "concurctl cluster: a supervisor already runs on %s\n", sock_path);
            uv_close((uv_handle_t *)&s->server, NULL);
            uv_run(&loop, UV_RUN_DEFAULT);
            uv_loop_close(&loop);
            free(s);
            return 2;
        }
        unlink(sock_path);
        rc = uv_pipe_bind(&s->server, sock_path);
    }
    if (!dir_rc && rc == 0) rc = uv_listen((uv_stream_t *)&s->server, 16, ctl_accept);
    if (dir_rc || rc) {
        if (dir_rc)
            fprintf(stderr, "concurctl cluster: cannot create the directory of %s: %s\n", sock_path,
                    cc_strerror(dir_rc));
        else
            fprintf(stderr, "concurctl cluster: cannot listen on %s: %s\n", sock_path,
                    uv_strerror(rc));
        uv_close((uv_handle_t *)&s->server, NULL);
        for (int i = 0; i < s->n; i++) uv_close((uv_handle_t *)&s->procs[i].kill_timer, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        free(s);
        return 2;
    }
    int sigs[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        uv_signal_init(&loop, &s->sig[i]);
        s->sig[i].data = s;
        uv_signal_start(&s->sig[i], on_signal, sigs[i]);
    }
    say(s, NULL, "control socket %s (concurctl cluster stop|start|restart|kill|list NAME)",
        sock_path);
    for (int i = 0; i < s->n; i++) proc_start(&s->procs[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(s);
    return 0;
}
