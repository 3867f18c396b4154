/* cmd_lease.c — lease grant / revoke / timetolive / list / keep-alive (lease_command.go). */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/print.h"
#include "util/err.h"

#define KEEPALIVE_FIRST_DEADLINE_MS 5000
#define KEEPALIVE_RETRY_MS          500

/* leaseFromArgs: a hexadecimal lease ID. Returns 0 or an exit code. */
static int lease_arg(struct ctl *ctl, const char *s, int64_t *id)
{
    int rc = flags_parse_hex_int64(s, id);
    if (rc == 0) return 0;
    char why[200];
    flags_strconv_error("ParseInt", s, rc, why, sizeof why);
    return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "bad lease ID arg (%s), expecting ID in Hex", why);
}

int cmd_lease_grant(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 1)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "lease grant command needs TTL argument");
    int64_t ttl;
    const char *s = ctl->args[0];
    rc = flags_parse_dec_int64(s, &ttl);
    if (rc != 0) {
        char why[200];
        flags_strconv_error("ParseInt", s, rc, why, sizeof why);
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "bad TTL (%s)", why);
    }
    Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    req.ttl = ttl;
    Etcdserverpb__LeaseGrantResponse *resp;
    struct gc_status st;
    if (ctl_unary(ctl, "/etcdserverpb.Lease/LeaseGrant", &req,
                  &etcdserverpb__lease_grant_response__descriptor, true, &resp, &st) != 0) {
        char msg[600];
        ctl_status_str(&st, msg, sizeof msg);
        return ctl_error(ctl, CTL_EXIT_ERROR, "failed to grant lease (%s)", msg);
    }
    rc = ctl_print(ctl, grant, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cmd_lease_revoke(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 1)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "lease revoke command needs 1 argument");
    int64_t id;
    if ((rc = lease_arg(ctl, ctl->args[0], &id)) != 0) return rc;
    Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    req.id = id;
    Etcdserverpb__LeaseRevokeResponse *resp;
    struct gc_status st;
    if (ctl_unary(ctl, "/etcdserverpb.Lease/LeaseRevoke", &req,
                  &etcdserverpb__lease_revoke_response__descriptor, true, &resp, &st) != 0) {
        char msg[600];
        ctl_status_str(&st, msg, sizeof msg);
        return ctl_error(ctl, CTL_EXIT_ERROR, "failed to revoke lease (%s)", msg);
    }
    rc = ctl_print(ctl, revoke, id, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cmd_lease_timetolive(struct ctl *ctl, int argc, char **argv)
{
    bool keys = false;
    struct flag_def d[] = {FLAG_DEF_BOOL("keys", 0, &keys)};
    int rc = ctl_parse(ctl, d, 1, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 1)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "lease timetolive command needs lease ID as argument");
    int64_t id;
    if ((rc = lease_arg(ctl, ctl->args[0], &id)) != 0) return rc;
    Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
    req.id = id;
    req.keys = keys;
    Etcdserverpb__LeaseTimeToLiveResponse *resp;
    struct gc_status st;
    if (ctl_unary(ctl, "/etcdserverpb.Lease/LeaseTimeToLive", &req,
                  &etcdserverpb__lease_time_to_live_response__descriptor, true, &resp, &st) != 0)
        return ctl_rpc_error(ctl, CTL_EXIT_BAD_CONNECTION, &st);
    rc = ctl_print(ctl, time_to_live, resp, keys);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cmd_lease_list(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    if (rc != 0) return rc;
    Etcdserverpb__LeaseLeasesRequest req = ETCDSERVERPB__LEASE_LEASES_REQUEST__INIT;
    Etcdserverpb__LeaseLeasesResponse *resp;
    struct gc_status st;
    if (ctl_unary(ctl, "/etcdserverpb.Lease/LeaseLeases", &req,
                  &etcdserverpb__lease_leases_response__descriptor, true, &resp, &st) != 0)
        return ctl_rpc_error(ctl, CTL_EXIT_BAD_CONNECTION, &st);
    rc = ctl_print(ctl, leases, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

static const struct gc_md keepalive_md[] = {{"hasleader", "true"}};

static int send_keepalive(struct gc_stream *s, int64_t id)
{
    Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
    req.id = id;
    return gc_stream_send(s, &req.base);
}

/* keep-alive --once: one round trip on a LeaseKeepAlive stream (clientv3 KeepAliveOnce). */
static int keepalive_once(struct ctl *ctl, int64_t id)
{
    int64_t deadline = ctl_deadline(ctl);
    for (;;) {
        struct gc_conn *c = client_conn(&ctl->cli, deadline);
        struct gc_stream *s = NULL;
        if (!c || gc_stream_start(c, "/etcdserverpb.Lease/LeaseKeepAlive", deadline, keepalive_md,
                                  1, &s) != 0)
            return ctl_error(ctl, CTL_EXIT_BAD_CONNECTION, "context deadline exceeded");
        Etcdserverpb__LeaseKeepAliveResponse *resp = NULL;
        int rv = send_keepalive(s, id);
        if (rv == 0)
            rv = gc_stream_recv(s, &etcdserverpb__lease_keep_alive_response__descriptor,
                                (ProtobufCMessage **)&resp, 0);
        if (rv == 1) {
            gc_stream_free(s);
            int rc;
            if (resp->ttl <= 0)
                rc = ctl_error(ctl, CTL_EXIT_BAD_CONNECTION,
                               "etcdserver: requested lease not found");
            else
                rc = ctl_print(ctl, keep_alive, resp);
            protobuf_c_message_free_unpacked(&resp->base, NULL);
            return rc;
        }
        struct gc_status st = *gc_stream_status(s);
        gc_stream_free(s);
        if (!st.transport) return ctl_rpc_error(ctl, CTL_EXIT_BAD_CONNECTION, &st);
        client_fail_over(&ctl->cli);
    }
}

/* keep-alive: renews every TTL/3 until the lease is gone or not renewed within its TTL
 * (clientv3's sendKeepAliveLoop/recvKeepAliveLoop/deadlineLoop); survives reconnects. */
static int keepalive_loop(struct ctl *ctl, int64_t id)
{
    int64_t now = gc_now_ms();
    int64_t next_send = now, deadline = now + KEEPALIVE_FIRST_DEADLINE_MS;
    struct gc_stream *s = NULL;
    int rc = 0;
    while (gc_now_ms() < deadline) {
        if (!s) {
            struct gc_conn *c = client_conn(&ctl->cli, deadline);
            if (!c) break;
            if (gc_stream_start(c, "/etcdserverpb.Lease/LeaseKeepAlive", 0, keepalive_md, 1, &s) !=
                0) {
                client_fail_over(&ctl->cli);
                continue;
            }
            next_send = gc_now_ms();
        }
        if (gc_now_ms() >= next_send) {
            send_keepalive(s, id);
            next_send = gc_now_ms() + KEEPALIVE_RETRY_MS; /* until a reply reschedules it */
        }
        int64_t wake = next_send < deadline ? next_send : deadline;
        Etcdserverpb__LeaseKeepAliveResponse *resp = NULL;
        int rv = gc_stream_recv(s, &etcdserverpb__lease_keep_alive_response__descriptor,
                                (ProtobufCMessage **)&resp, wake);
        if (rv == 1) {
            int64_t ttl = resp->ttl;
            if (ttl > 0) {
                rc = ctl_print(ctl, keep_alive, resp);
                fflush(ctl->out);
                now = gc_now_ms();
                next_send = now + ttl * 1000 / 3;
                deadline = now + ttl * 1000;
            }
            protobuf_c_message_free_unpacked(&resp->base, NULL);
            if (ttl <= 0 || rc != 0) break;
        } else if (rv != CC_ETIMEDOUT) {
            const struct gc_status *st = gc_stream_status(s);
            bool transport = st->transport || st->code == GC_UNAVAILABLE;
            if (!transport) break;
            s = NULL;
            client_fail_over(&ctl->cli); /* frees the stream with its connection */
            poll(NULL, 0, KEEPALIVE_RETRY_MS);
        }
    }
    gc_stream_free(s);
    if (rc != 0) return rc;
    if (ctl->format == CTL_FMT_SIMPLE) {
        fprintf(ctl->out, "lease %016llx expired or revoked.\n", (unsigned long long)id);
    }
    return 0;
}

int cmd_lease_keepalive(struct ctl *ctl, int argc, char **argv)
{
    bool once = false;
    struct flag_def d[] = {FLAG_DEF_BOOL("once", 0, &once)};
    int rc = ctl_parse(ctl, d, 1, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 1)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "lease keep-alive command needs lease ID as argument");
    int64_t id;
    if ((rc = lease_arg(ctl, ctl->args[0], &id)) != 0) return rc;
    return once ? keepalive_once(ctl, id) : keepalive_loop(ctl, id);
}
