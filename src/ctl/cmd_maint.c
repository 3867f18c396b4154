/* cmd_maint.c — compaction, defrag, alarm, snapshot save, move-leader and version. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/print.h"
#include "util/err.h"

#define CONCURCTL_VERSION "0.1.0"
#define API_VERSION       "3.4"
/* etcd's snapshot stream is bolt pages (multiples of 512 bytes) plus a SHA-256 trailer. */
#define SNAPSHOT_SHA_LEN  32
#define SNAPSHOT_MAX_PATH 1024

/* Go's %v of the endpoint slice: "[a b c]" without the brackets. */
static void endpoint_list(const struct ctl *ctl, char *out, size_t len)
{
    out[0] = 0;
    for (size_t i = 0; i < ctl->n_ep; i++) {
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s%s", i ? " " : "", ctl->ep_list[i]);
    }
}

int cmd_compaction(struct ctl *ctl, int argc, char **argv)
{
    bool physical = false;
    struct flag_def d[] = {FLAG_DEF_BOOL("physical", 0, &physical)};
    int rc = ctl_parse(ctl, d, 1, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 1)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "compaction command needs 1 argument");
    int64_t rev;
    if ((rc = flags_parse_dec_int64(ctl->args[0], &rev)) != 0) {
        char why[200];
        flags_strconv_error("ParseInt", ctl->args[0], rc, why, sizeof why);
        return ctl_error(ctl, CTL_EXIT_ERROR, "%s", why);
    }
    Etcdserverpb__CompactionRequest req = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    req.revision = rev;
    req.physical = physical;
    Etcdserverpb__CompactionResponse *resp;
    struct gc_status st;
    if (ctl_unary(ctl, "/etcdserverpb.KV/Compact", &req,
                  &etcdserverpb__compaction_response__descriptor, false, &resp, &st) != 0)
        return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    fprintf(ctl->out, "compacted revision %lld\n", (long long)rev);
    return 0;
}

int cmd_defrag(struct ctl *ctl, int argc, char **argv)
{
    bool cluster = false;
    char data_dir[1024] = "";
    struct flag_def d[] = {FLAG_DEF_BOOL("cluster", 0, &cluster),
                           FLAG_DEF_STR("data-dir", 0, data_dir)};
    int rc = ctl_parse(ctl, d, 2, argc, argv);
    if (rc != 0) return rc;
    if (data_dir[0]) {
        /* etcdctl opens etcd's bbolt file directly; concur's store is not a bbolt file. */
        fprintf(ctl->err,
                "Failed to defragment etcd data[%s] (offline defragmentation is not supported "
                "by concurctl)\n",
                data_dir);
        return CTL_EXIT_ERROR;
    }
    char **eps;
    size_t n;
    if ((rc = ctl_endpoints(ctl, cluster, &eps, &n)) != 0) return rc;
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        Etcdserverpb__DefragmentRequest req = ETCDSERVERPB__DEFRAGMENT_REQUEST__INIT;
        Etcdserverpb__DefragmentResponse *resp;
        struct gc_status st;
        if (ctl_ep_unary(ctl, eps[i], "/etcdserverpb.Maintenance/Defragment", &req,
                         &etcdserverpb__defragment_response__descriptor, false, ctl_deadline(ctl),
                         &resp, &st) != 0) {
            char msg[600];
            ctl_status_str(&st, msg, sizeof msg);
            fprintf(ctl->err, "Failed to defragment etcd member[%s] (%s)\n", eps[i], msg);
            failures++;
            continue;
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        fprintf(ctl->out, "Finished defragmenting etcd member[%s]\n", eps[i]);
    }
    ctl_endpoints_free(eps, n);
    return failures ? CTL_EXIT_ERROR : 0;
}

static int alarm_call(struct ctl *ctl, Etcdserverpb__AlarmRequest *req,
                      Etcdserverpb__AlarmResponse **resp, struct gc_status *st)
{
    return ctl_unary(ctl, "/etcdserverpb.Maintenance/Alarm", req,
                     &etcdserverpb__alarm_response__descriptor,
                     req->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET, resp, st);
}

int cmd_alarm_list(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 0)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "alarm list command accepts no arguments");
    Etcdserverpb__AlarmRequest req = ETCDSERVERPB__ALARM_REQUEST__INIT;
    Etcdserverpb__AlarmResponse *resp;
    struct gc_status st;
    if (alarm_call(ctl, &req, &resp, &st) != 0) return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
    rc = ctl_print(ctl, alarm, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

/* clientv3 AlarmDisarm with no member/alarm: list, then deactivate each alarm found. */
int cmd_alarm_disarm(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 0)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "alarm disarm command accepts no arguments");
    Etcdserverpb__AlarmRequest req = ETCDSERVERPB__ALARM_REQUEST__INIT;
    Etcdserverpb__AlarmResponse *list, *one;
    struct gc_status st;
    if (alarm_call(ctl, &req, &list, &st) != 0) return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
    Etcdserverpb__AlarmMember **got = calloc(list->n_alarms + 1, sizeof *got);
    Etcdserverpb__AlarmResponse ret = ETCDSERVERPB__ALARM_RESPONSE__INIT;
    Etcdserverpb__AlarmResponse *parts[64];
    size_t n_parts = 0;
    for (size_t i = 0; got && i < list->n_alarms && i < 64; i++) {
        Etcdserverpb__AlarmRequest d = ETCDSERVERPB__ALARM_REQUEST__INIT;
        d.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE;
        d.memberid = list->alarms[i]->memberid;
        d.alarm = list->alarms[i]->alarm;
        if (alarm_call(ctl, &d, &one, &st) != 0) {
            rc = ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
            break;
        }
        parts[n_parts++] = one;
        for (size_t k = 0; k < one->n_alarms && ret.n_alarms < list->n_alarms; k++)
            got[ret.n_alarms++] = one->alarms[k];
    }
    ret.alarms = got;
    if (!got) rc = ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    if (rc == 0) rc = ctl_print(ctl, alarm, &ret);
    for (size_t i = 0; i < n_parts; i++) protobuf_c_message_free_unpacked(&parts[i]->base, NULL);
    free(got);
    protobuf_c_message_free_unpacked(&list->base, NULL);
    return rc;
}

/* Streams the snapshot into path.part, checks the trailer size, fsyncs and renames (clientv3
 * snapshot.Save). Returns 0 or -1 with err set. */
static int snapshot_fetch(struct ctl *ctl, const char *path, char *err, size_t errlen)
{
    char part[SNAPSHOT_MAX_PATH + 8];
    snprintf(part, sizeof part, "%s.part", path);
    int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "could not open %s (%s)", part, strerror(errno));
        return -1;
    }
    /* No deadline unless --command-timeout was given, as etcdctl. */
    int64_t deadline = ctl->command_timeout_set ? ctl_deadline(ctl) : 0;
    struct gc_conn *c = client_conn(&ctl->cli, deadline ? deadline : ctl_deadline(ctl));
    struct gc_stream *s = NULL;
    Etcdserverpb__SnapshotRequest req = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
    if (!c || gc_stream_start(c, "/etcdserverpb.Maintenance/Snapshot", deadline, NULL, 0, &s) ||
        gc_stream_send(s, &req.base) || gc_stream_close_send(s)) {
        snprintf(err, errlen, "context deadline exceeded");
        goto fail;
    }
    uint64_t size = 0;
    for (;;) {
        Etcdserverpb__SnapshotResponse *r;
        int rv = gc_stream_recv(s, &etcdserverpb__snapshot_response__descriptor,
                                (ProtobufCMessage **)&r, 0);
        if (rv != 1) break;
        size_t off = 0;
        while (off < r->blob.len) {
            ssize_t w = write(fd, r->blob.data + off, r->blob.len - off);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                snprintf(err, errlen, "write %s: %s", part, strerror(errno));
                protobuf_c_message_free_unpacked(&r->base, NULL);
                goto fail;
            }
            off += (size_t)w;
        }
        size += r->blob.len;
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    if (gc_stream_status(s)->code != GC_OK) {
        ctl_status_str(gc_stream_status(s), err, errlen);
        goto fail;
    }
    if (size % 512 != SNAPSHOT_SHA_LEN) {
        snprintf(err, errlen, "sha256 checksum not found [bytes: %llu]", (unsigned long long)size);
        goto fail;
    }
    gc_stream_free(s);
    s = NULL;
    if (fsync(fd) != 0 || close(fd) != 0) {
        snprintf(err, errlen, "fsync %s: %s", part, strerror(errno));
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(part, path) != 0) {
        snprintf(err, errlen, "could not rename %s to %s (%s)", part, path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    gc_stream_free(s);
    if (fd >= 0) close(fd);
    unlink(part);
    return -1;
}

int cmd_snapshot_save(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 1)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "snapshot save expects one argument");
    if (ctl->n_ep != 1) {
        char list[2048];
        endpoint_list(ctl, list, sizeof list);
        return ctl_error(ctl, CTL_EXIT_INTERRUPTED,
                         "snapshot must be requested to one selected node, not multiple [%s]",
                         list);
    }
    if (strlen(ctl->args[0]) > SNAPSHOT_MAX_PATH)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "snapshot path too long (limit %d bytes)",
                         SNAPSHOT_MAX_PATH);
    char err[3 * SNAPSHOT_MAX_PATH + 600];
    if (snapshot_fetch(ctl, ctl->args[0], err, sizeof err) != 0)
        return ctl_error(ctl, CTL_EXIT_INTERRUPTED, "%s", err);
    fprintf(ctl->out, "Snapshot saved at %s\n", ctl->args[0]);
    return 0;
}

int cmd_move_leader(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 1)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "move-leader command needs 1 argument");
    uint64_t target;
    if ((rc = flags_parse_hex_uint64(ctl->args[0], &target)) != 0) {
        char why[200];
        flags_strconv_error("ParseUint", ctl->args[0], rc, why, sizeof why);
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "%s", why);
    }
    int64_t deadline = ctl_deadline(ctl);
    const char *leader_ep = NULL;
    uint64_t leader = 0;
    for (size_t i = 0; i < ctl->n_ep && !leader_ep; i++) {
        Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
        Etcdserverpb__StatusResponse *resp;
        struct gc_status st;
        if (ctl_ep_unary(ctl, ctl->ep_list[i], "/etcdserverpb.Maintenance/Status", &req,
                         &etcdserverpb__status_response__descriptor, true, deadline, &resp,
                         &st) != 0)
            return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
        if (resp->header && resp->header->member_id == resp->leader) {
            leader_ep = ctl->ep_list[i];
            leader = resp->leader;
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    if (!leader_ep) {
        char list[2048];
        endpoint_list(ctl, list, sizeof list);
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "no leader endpoint given at [%s]", list);
    }
    Etcdserverpb__MoveLeaderRequest req = ETCDSERVERPB__MOVE_LEADER_REQUEST__INIT;
    req.targetid = target;
    Etcdserverpb__MoveLeaderResponse *resp;
    struct gc_status st;
    if (ctl_ep_unary(ctl, leader_ep, "/etcdserverpb.Maintenance/MoveLeader", &req,
                     &etcdserverpb__move_leader_response__descriptor, false, deadline, &resp,
                     &st) != 0)
        return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
    rc = ctl_print(ctl, move_leader, leader, target, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cmd_version(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    if (rc != 0) return rc;
    fprintf(ctl->out, "concurctl version: %s\nAPI version: %s\n", CONCURCTL_VERSION, API_VERSION);
    return 0;
}
