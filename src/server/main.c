/* main.c — concurd: parse flags, open the member, run it with its client listeners. This file
 * is the composition root: the one place that sees both server/ and api/. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/api.h"
#include "server/config.h"
#include "server/lifecycle.h"
#include "util/err.h"

extern char **environ;

struct root {
    struct api *api;
};

static int start_clients(struct member *m, void *arg)
{
    struct root *r = arg;
    return api_start(m, &r->api);
}

struct stop_ctx {
    struct member *m;
    void (*done)(struct member *m);
};

static void api_stopped(void *arg)
{
    struct stop_ctx *s = arg;
    struct member *m = s->m;
    void (*done)(struct member * m) = s->done;
    free(s);
    done(m);
}

static void stop_clients(struct member *m, void *arg, void (*done)(struct member *m))
{
    struct root *r = arg;
    struct stop_ctx *s = malloc(sizeof(*s));
    if (!r->api || !s) {
        free(s);
        done(m);
        return;
    }
    s->m = m;
    s->done = done;
    api_stop(r->api, api_stopped, s);
}

int main(int argc, char **argv)
{
    struct member_config cfg;
    char err[512];
    int rc = config_parse(&cfg, argc, argv, environ, err, sizeof(err));
    if (rc == CONFIG_HELP) {
        config_usage(stdout);
        return 0;
    }
    if (rc == CONFIG_VERSION) {
        printf("concurd version %s (etcd API 3.4)\n", "0.1.0");
        return 0;
    }
    if (rc) {
        fprintf(stderr, "concurd: %s\n\n", err);
        config_usage(stderr);
        return 2;
    }
    /* A peer or client that goes away mid-write, or a log pipe whose reader exited (foreman
     * gone before its children), must be a write error (EPIPE), not a fatal signal. */
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct member *m = NULL;
    rc = member_open(&cfg, &loop, &m);
    if (rc) {
        uv_loop_close(&loop);
        return 1;
    }
    struct root root = {0};
    struct member_hooks hooks = {start_clients, stop_clients, &root};
    int code = member_run(m, &hooks);
    api_free(root.api);
    member_close(m);
    uv_loop_close(&loop);
    return code;
}
