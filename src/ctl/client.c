/* client.c — endpoint list, dialling with fail-over and retried unary calls for concurctl. */
#include "ctl/ctl.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

/* clientv3 retries up to 100 times with 50 ms between attempts (retry_interceptor.go). */
#define RETRY_MAX             100
#define RETRY_BACKOFF_MS      50
#define DIAL_ROUND_BACKOFF_MS 200

int client_endpoint_hostport(const char *ep, char *out, size_t outlen, char *err, size_t errlen)
{
    const char *p = ep;
    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strncmp(p, "https://", 8) == 0 || strncmp(p, "unix://", 7) == 0 ||
               strncmp(p, "unixs://", 8) == 0) {
        snprintf(err, errlen, "endpoint %s: only plain http endpoints are supported", ep);
        return CC_EINVAL;
    } else if (strstr(p, "://")) {
        snprintf(err, errlen, "endpoint %s: unknown scheme", ep);
        return CC_EINVAL;
    }
    size_t len = strcspn(p, "/");
    if (len == 0 || len >= outlen) {
        snprintf(err, errlen, "invalid endpoint \"%s\"", ep);
        return CC_EINVAL;
    }
    memcpy(out, p, len);
    out[len] = 0;
    return 0;
}

int client_init(struct ctl_client *cl, char *const *eps, size_t n, int64_t dial_timeout_ms,
                const struct gc_conn_opts *opts)
{
    memset(cl, 0, sizeof *cl);
    cl->dial_timeout_ms = dial_timeout_ms > 0 ? dial_timeout_ms : 2000;
    if (opts) cl->opts = *opts;
    if (n == 0) {
        snprintf(cl->last_err, sizeof cl->last_err, "no endpoints given");
        return CC_EINVAL;
    }
    if (n > CTL_MAX_ENDPOINTS) {
        snprintf(cl->last_err, sizeof cl->last_err, "too many endpoints");
        return CC_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char hp[512];
        if (client_endpoint_hostport(eps[i], hp, sizeof hp, cl->last_err, sizeof cl->last_err) !=
            0) {
            client_free(cl);
            return CC_EINVAL;
        }
        cl->eps[cl->n_eps] = strdup(hp);
        if (!cl->eps[cl->n_eps]) {
            client_free(cl);
            return CC_ENOMEM;
        }
        cl->n_eps++;
    }
    return 0;
}

void client_free(struct ctl_client *cl)
{
    gc_conn_free(cl->conn);
    cl->conn = NULL;
    for (size_t i = 0; i < cl->n_eps; i++) free(cl->eps[i]);
    cl->n_eps = 0;
}

void client_fail_over(struct ctl_client *cl)
{
    gc_conn_free(cl->conn);
    cl->conn = NULL;
    if (cl->n_eps) cl->cur = (cl->cur + 1) % cl->n_eps;
}

static void sleep_until(int64_t t)
{
    int64_t left = t - gc_now_ms();
    if (left > 0) poll(NULL, 0, (int)left);
}

struct gc_conn *client_conn(struct ctl_client *cl, int64_t deadline_ms)
{
    if (cl->conn && gc_conn_usable(cl->conn)) return cl->conn;
    if (cl->conn) client_fail_over(cl);
    if (cl->n_eps == 0) return NULL;
    for (;;) {
        for (size_t tries = 0; tries < cl->n_eps; tries++) {
            int64_t now = gc_now_ms();
            if (now >= deadline_ms) return NULL;
            int64_t d = now + cl->dial_timeout_ms;
            if (d > deadline_ms) d = deadline_ms;
            char err[256];
            if (gc_conn_dial(cl->eps[cl->cur], d, &cl->opts, &cl->conn, err, sizeof err) == 0)
                return cl->conn;
            snprintf(cl->last_err, sizeof cl->last_err, "%s", err);
            cl->cur = (cl->cur + 1) % cl->n_eps;
        }
        int64_t next = gc_now_ms() + DIAL_ROUND_BACKOFF_MS;
        if (next >= deadline_ms) {
            sleep_until(deadline_ms);
            return NULL;
        }
        sleep_until(next);
    }
}

static void deadline_status(struct gc_status *st, const char *detail)
{
    st->code = GC_DEADLINE_EXCEEDED;
    st->local = true;
    st->transport = false;
    snprintf(st->message, sizeof st->message, "context deadline exceeded");
    snprintf(st->detail, sizeof st->detail, "%.200s", detail);
}

int client_unary(struct ctl_client *cl, const char *path, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *desc, bool repeatable, int64_t deadline_ms,
                 ProtobufCMessage **resp, struct gc_status *st)
{
    *resp = NULL;
    for (int attempt = 0;; attempt++) {
        struct gc_conn *c = client_conn(cl, deadline_ms);
        if (!c) {
            char detail[300];
            snprintf(detail, sizeof detail, "no endpoint answered: %s", cl->last_err);
            deadline_status(st, detail);
            return -1;
        }
        if (gc_unary(c, path, req, desc, deadline_ms, resp, st) == 0) return 0;
        if (st->local || attempt + 1 >= RETRY_MAX) return -1;
        if (st->transport) {
            /* The connection broke under the call: its fate is unknown, so only a
             * repeatable request may go again. */
            client_fail_over(cl);
            if (!repeatable) return -1;
        } else if (!(repeatable && st->code == GC_UNAVAILABLE)) {
            return -1;
        }
        int64_t next = gc_now_ms() + RETRY_BACKOFF_MS;
        if (next >= deadline_ms) {
            sleep_until(deadline_ms);
            char detail[700];
            ctl_status_str(st, detail, sizeof detail);
            deadline_status(st, detail);
            return -1;
        }
        sleep_until(next);
    }
}
