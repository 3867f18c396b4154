/* cmd_endpoint.c — endpoint health / status / hashkv and per-endpoint calls (ep_command.go). */
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/print.h"
#include "util/clock.h"

void ctl_endpoints_free(char **eps, size_t n)
{
    for (size_t i = 0; i < n; i++) free(eps[i]);
    free(eps);
}

int ctl_endpoints(struct ctl *ctl, bool cluster, char ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    size_t n = 0;
    char **eps = NULL;
    if (!cluster) {
        eps = calloc(ctl->n_ep + 1, sizeof *eps);
        if (!eps) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
        for (; n < ctl->n_ep; n++)
            if (!(eps[n] = strdup(ctl->ep_list[n]))) break;
        if (n < ctl->n_ep) {
            ctl_endpoints_free(eps, n);
            return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
        }
        *out = eps;
        *n_out = n;
        return 0;
    }
    /* --cluster: every client URL of every member (MemberList through the given endpoints). */
    Etcdserverpb__MemberListRequest req = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
    Etcdserverpb__MemberListResponse *resp;
    struct gc_status st;
    if (ctl_unary(ctl, "/etcdserverpb.Cluster/MemberList", &req,
                  &etcdserverpb__member_list_response__descriptor, true, &resp, &st) != 0) {
        char msg[600];
        ctl_status_str(&st, msg, sizeof msg);
        return ctl_error(ctl, CTL_EXIT_ERROR,
                         "failed to fetch endpoints from etcd cluster member list: %s", msg);
    }
    size_t total = 0;
    for (size_t i = 0; i < resp->n_members; i++) total += resp->members[i]->n_clienturls;
    if (total > CTL_MAX_ENDPOINTS * 4) total = CTL_MAX_ENDPOINTS * 4;
    eps = calloc(total + 1, sizeof *eps);
    for (size_t i = 0; eps && i < resp->n_members; i++) {
        const Etcdserverpb__Member *m = resp->members[i];
        for (size_t k = 0; k < m->n_clienturls && n < total; k++)
            if ((eps[n] = strdup(m->clienturls[k]))) n++;
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (!eps) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    *out = eps;
    *n_out = n;
    return 0;
}

int ctl_ep_unary(struct ctl *ctl, const char *ep, const char *path, const void *req,
                 const void *desc, bool repeatable, int64_t deadline_ms, void *resp_out,
                 struct gc_status *st)
{
    struct ctl_client one;
    char *eps[1] = {(char *)ep};
    if (client_init(&one, eps, 1, ctl->cli.dial_timeout_ms, &ctl->cli.opts) != 0) {
        st->code = GC_INVALID_ARGUMENT;
        st->transport = st->local = false;
        snprintf(st->message, sizeof st->message, "%s", one.last_err);
        return -1;
    }
    int rc = client_unary(&one, path, req, desc, repeatable, deadline_ms,
                          (ProtobufCMessage **)resp_out, st);
    client_free(&one);
    return rc;
}

int cmd_endpoint_health(struct ctl *ctl, int argc, char **argv)
{
    bool cluster = false;
    struct flag_def d[] = {FLAG_DEF_BOOL("cluster", 0, &cluster)};
    int rc = ctl_parse(ctl, d, 1, argc, argv);
    if (rc != 0) return rc;
    char **eps;
    size_t n;
    if ((rc = ctl_endpoints(ctl, cluster, &eps, &n)) != 0) return rc;
    struct ep_health *h = calloc(n + 1, sizeof *h);
    if (!h) {
        ctl_endpoints_free(eps, n);
        return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    }
    bool errs = false;
    for (size_t i = 0; i < n; i++) {
        /* A linearizable read of any key proves the member can reach consensus. */
        Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
        req.key = (ProtobufCBinaryData){6, (uint8_t *)"health"};
        Etcdserverpb__RangeResponse *resp = NULL;
        struct gc_status st;
        int64_t start = (int64_t)clock_mono_ns();
        int call = ctl_ep_unary(ctl, eps[i], "/etcdserverpb.KV/Range", &req,
                                &etcdserverpb__range_response__descriptor, true, ctl_deadline(ctl),
                                &resp, &st);
        print_go_duration((int64_t)clock_mono_ns() - start, h[i].took, sizeof h[i].took);
        h[i].ep = eps[i];
        if (call == 0 || strcmp(st.message, "etcdserver: permission denied") == 0) {
            h[i].health = true;
        } else {
            ctl_status_str(&st, h[i].error, sizeof h[i].error);
            errs = true;
        }
        if (resp) protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    rc = ctl_print(ctl, ep_health, h, n);
    free(h);
    ctl_endpoints_free(eps, n);
    if (rc == 0 && errs) rc = ctl_error(ctl, CTL_EXIT_ERROR, "unhealthy cluster");
    return rc;
}

int cmd_endpoint_status(struct ctl *ctl, int argc, char **argv)
{
    bool cluster = false;
    struct flag_def d[] = {FLAG_DEF_BOOL("cluster", 0, &cluster)};
    int rc = ctl_parse(ctl, d, 1, argc, argv);
    if (rc != 0) return rc;
    char **eps;
    size_t n, ok = 0;
    if ((rc = ctl_endpoints(ctl, cluster, &eps, &n)) != 0) return rc;
    struct ep_status *s = calloc(n + 1, sizeof *s);
    if (!s) {
        ctl_endpoints_free(eps, n);
        return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    }
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
        struct gc_status st;
        if (ctl_ep_unary(ctl, eps[i], "/etcdserverpb.Maintenance/Status", &req,
                         &etcdserverpb__status_response__descriptor, true, ctl_deadline(ctl),
                         &s[ok].resp, &st) != 0) {
            char msg[600];
            ctl_status_str(&st, msg, sizeof msg);
            fprintf(ctl->err, "Failed to get the status of endpoint %s (%s)\n", eps[i], msg);
            failed = true;
            continue;
        }
        s[ok++].ep = eps[i];
    }
    rc = ctl_print(ctl, ep_status, s, ok);
    for (size_t i = 0; i < ok; i++) protobuf_c_message_free_unpacked(&s[i].resp->base, NULL);
    free(s);
    ctl_endpoints_free(eps, n);
    if (rc == 0 && failed) rc = CTL_EXIT_ERROR; /* etcdctl exits without an "Error:" line */
    return rc;
}

int cmd_endpoint_hashkv(struct ctl *ctl, int argc, char **argv)
{
    bool cluster = false;
    int64_t rev = 0;
    struct flag_def d[] = {FLAG_DEF_BOOL("cluster", 0, &cluster), FLAG_DEF_INT64("rev", 0, &rev)};
    int rc = ctl_parse(ctl, d, 2, argc, argv);
    if (rc != 0) return rc;
    char **eps;
    size_t n, ok = 0;
    if ((rc = ctl_endpoints(ctl, cluster, &eps, &n)) != 0) return rc;
    struct ep_hashkv *h = calloc(n + 1, sizeof *h);
    if (!h) {
        ctl_endpoints_free(eps, n);
        return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    }
    char last_err[600] = "";
    for (size_t i = 0; i < n; i++) {
        Etcdserverpb__HashKVRequest req = ETCDSERVERPB__HASH_KVREQUEST__INIT;
        req.revision = rev;
        struct gc_status st;
        if (ctl_ep_unary(ctl, eps[i], "/etcdserverpb.Maintenance/HashKV", &req,
                         &etcdserverpb__hash_kvresponse__descriptor, true, ctl_deadline(ctl),
                         &h[ok].resp, &st) != 0) {
            ctl_status_str(&st, last_err, sizeof last_err);
            fprintf(ctl->err, "Failed to get the hash of endpoint %s (%s)\n", eps[i], last_err);
            continue;
        }
        h[ok++].ep = eps[i];
    }
    rc = ctl_print(ctl, ep_hashkv, h, ok);
    for (size_t i = 0; i < ok; i++) protobuf_c_message_free_unpacked(&h[i].resp->base, NULL);
    free(h);
    ctl_endpoints_free(eps, n);
    if (rc == 0 && last_err[0]) rc = ctl_error(ctl, CTL_EXIT_ERROR, "%s", last_err);
    return rc;
}
