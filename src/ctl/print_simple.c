/* print_simple.c — the default "simple" output format (etcdctl's printer_simple.go). */
#include "ctl/print.h"

#include <inttypes.h>
#include <string.h>

/* Go's fmt "%016x" of an int64: the sign counts towards the width. */
static void lease_hex(int64_t id, char *out, size_t len)
{
    if (id >= 0)
        snprintf(out, len, "%016" PRIx64, (uint64_t)id);
    else
        snprintf(out, len, "-%015" PRIx64, (uint64_t)0 - (uint64_t)id);
}

static void print_kv(struct ctl *ctl, const Mvccpb__KeyValue *kv)
{
    FILE *f = ctl->out;
    if (!ctl->value_only) {
        if (ctl->hex)
            print_hex_escaped(f, kv->key.data, kv->key.len);
        else
            fwrite(kv->key.data, 1, kv->key.len, f);
        fputc('\n', f);
    }
    if (ctl->hex)
        print_hex_escaped(f, kv->value.data, kv->value.len);
    else
        fwrite(kv->value.data, 1, kv->value.len, f);
    fputc('\n', f);
}

static int simple_get(struct ctl *ctl, const Etcdserverpb__RangeResponse *r)
{
    for (size_t i = 0; i < r->n_kvs; i++) print_kv(ctl, r->kvs[i]);
    return 0;
}

static int simple_put(struct ctl *ctl, const Etcdserverpb__PutResponse *r)
{
    fputs("OK\n", ctl->out);
    if (r->prev_kv) print_kv(ctl, r->prev_kv);
    return 0;
}

static int simple_del(struct ctl *ctl, const Etcdserverpb__DeleteRangeResponse *r)
{
    fprintf(ctl->out, "%" PRId64 "\n", r->deleted);
    for (size_t i = 0; i < r->n_prev_kvs; i++) print_kv(ctl, r->prev_kvs[i]);
    return 0;
}

static int simple_txn(struct ctl *ctl, const Etcdserverpb__TxnResponse *r)
{
    fputs(r->succeeded ? "SUCCESS\n" : "FAILURE\n", ctl->out);
    for (size_t i = 0; i < r->n_responses; i++) {
        const Etcdserverpb__ResponseOp *op = r->responses[i];
        fputc('\n', ctl->out);
        switch (op->response_case) {
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE:
            simple_del(ctl, op->response_delete_range);
            break;
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT:
            simple_put(ctl, op->response_put);
            break;
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE:
            simple_get(ctl, op->response_range);
            break;
        default:
            fprintf(ctl->out, "unexpected response (case %d)\n", (int)op->response_case);
        }
    }
    return 0;
}

static int simple_watch(struct ctl *ctl, const Etcdserverpb__WatchResponse *r)
{
    static const Mvccpb__KeyValue empty = MVCCPB__KEY_VALUE__INIT;
    for (size_t i = 0; i < r->n_events; i++) {
        const Mvccpb__Event *e = r->events[i];
        char b[16];
        fprintf(ctl->out, "%s\n", print_event_type(e->type, b, sizeof b));
        if (e->prev_kv) print_kv(ctl, e->prev_kv);
        print_kv(ctl, e->kv ? e->kv : &empty);
    }
    return 0;
}

static int simple_grant(struct ctl *ctl, const Etcdserverpb__LeaseGrantResponse *r)
{
    char id[24];
    lease_hex(r->id, id, sizeof id);
    fprintf(ctl->out, "lease %s granted with TTL(%" PRId64 "s)\n", id, r->ttl);
    return 0;
}

static int simple_revoke(struct ctl *ctl, int64_t lease, const Etcdserverpb__LeaseRevokeResponse *r)
{
    char id[24];
    lease_hex(lease, id, sizeof id);
    fprintf(ctl->out, "lease %s revoked\n", id);
    return 0;
}

static int simple_keep_alive(struct ctl *ctl, const Etcdserverpb__LeaseKeepAliveResponse *r)
{
    char id[24];
    lease_hex(r->id, id, sizeof id);
    fprintf(ctl->out, "lease %s keepalived with TTL(%" PRId64 ")\n", id, r->ttl);
    return 0;
}

static int simple_time_to_live(struct ctl *ctl, const Etcdserverpb__LeaseTimeToLiveResponse *r,
                               bool keys)
{
    char id[24];
    lease_hex(r->id, id, sizeof id);
    if (r->grantedttl == 0 && r->ttl == -1) {
        fprintf(ctl->out, "lease %s already expired\n", id);
        return 0;
    }
    fprintf(ctl->out, "lease %s granted with TTL(%" PRId64 "s), remaining(%" PRId64 "s)", id,
            r->grantedttl, r->ttl);
    if (keys) {
        fputs(", attached keys([", ctl->out);
        for (size_t i = 0; i < r->n_keys; i++) {
            if (i) fputc(' ', ctl->out);
            fwrite(r->keys[i].data, 1, r->keys[i].len, ctl->out);
        }
        fputs("])", ctl->out);
    }
    fputc('\n', ctl->out);
    return 0;
}

static int simple_leases(struct ctl *ctl, const Etcdserverpb__LeaseLeasesResponse *r)
{
    fprintf(ctl->out, "found %zu leases\n", r->n_leases);
    for (size_t i = 0; i < r->n_leases; i++) {
        char id[24];
        lease_hex(r->leases[i]->id, id, sizeof id);
        fprintf(ctl->out, "%s\n", id);
    }
    return 0;
}

static int simple_alarm(struct ctl *ctl, const Etcdserverpb__AlarmResponse *r)
{
    /* gogoproto's String() of an AlarmMember (proto compact text), as "%+v" prints it. */
    for (size_t i = 0; i < r->n_alarms; i++) {
        const Etcdserverpb__AlarmMember *a = r->alarms[i];
        char b[16];
        if (a->memberid) fprintf(ctl->out, "memberID:%" PRIu64 " ", a->memberid);
        if (a->alarm) fprintf(ctl->out, "alarm:%s ", print_alarm_type(a->alarm, b, sizeof b));
        fputc('\n', ctl->out);
    }
    return 0;
}

static uint64_t cluster_id(const Etcdserverpb__ResponseHeader *h)
{
    return print_header_or_zero(h)->cluster_id;
}

static int simple_member_add(struct ctl *ctl, const Etcdserverpb__MemberAddResponse *r)
{
    fprintf(ctl->out, "Member %16" PRIx64 " added to cluster %16" PRIx64 "\n",
            r->member ? r->member->id : 0, cluster_id(r->header));
    return 0;
}

static int simple_member_remove(struct ctl *ctl, uint64_t id,
                                const Etcdserverpb__MemberRemoveResponse *r)
{
    fprintf(ctl->out, "Member %16" PRIx64 " removed from cluster %16" PRIx64 "\n", id,
            cluster_id(r->header));
    return 0;
}

static int simple_member_update(struct ctl *ctl, uint64_t id,
                                const Etcdserverpb__MemberUpdateResponse *r)
{
    fprintf(ctl->out, "Member %16" PRIx64 " updated in cluster %16" PRIx64 "\n", id,
            cluster_id(r->header));
    return 0;
}

static int simple_member_promote(struct ctl *ctl, uint64_t id,
                                 const Etcdserverpb__MemberPromoteResponse *r)
{
    fprintf(ctl->out, "Member %16" PRIx64 " promoted in cluster %16" PRIx64 "\n", id,
            cluster_id(r->header));
    return 0;
}

static void print_rows(FILE *f, char **cells, size_t nrow, size_t ncol)
{
    for (size_t r = 0; r < nrow; r++) {
        for (size_t c = 0; c < ncol; c++) {
            if (c) fputs(", ", f);
            fputs(cells[r * ncol + c], f);
        }
        fputc('\n', f);
    }
}

static int simple_member_list(struct ctl *ctl, const Etcdserverpb__MemberListResponse *r)
{
    char **cells;
    size_t n = print_member_rows(r, &cells);
    print_rows(ctl->out, cells, n, PRINT_MEMBER_COLS);
    print_cells_free(cells, n * PRINT_MEMBER_COLS);
    return 0;
}

static int simple_ep_health(struct ctl *ctl, const struct ep_health *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!h[i].error[0])
            fprintf(ctl->err, "%s is healthy: successfully committed proposal: took = %s\n",
                    h[i].ep, h[i].took);
        else
            fprintf(ctl->err, "%s is unhealthy: failed to commit proposal: %s\n", h[i].ep,
                    h[i].error);
    }
    return 0;
}

static int simple_ep_status(struct ctl *ctl, const struct ep_status *s, size_t n)
{
    char **cells;
    print_status_rows(s, n, &cells);
    print_rows(ctl->out, cells, n, PRINT_STATUS_COLS);
    print_cells_free(cells, n * PRINT_STATUS_COLS);
    return 0;
}

static int simple_ep_hashkv(struct ctl *ctl, const struct ep_hashkv *h, size_t n)
{
    char **cells;
    print_hashkv_rows(h, n, &cells);
    print_rows(ctl->out, cells, n, PRINT_HASHKV_COLS);
    print_cells_free(cells, n * PRINT_HASHKV_COLS);
    return 0;
}

static int simple_move_leader(struct ctl *ctl, uint64_t leader, uint64_t target,
                              const Etcdserverpb__MoveLeaderResponse *r)
{
    fprintf(ctl->out, "Leadership transferred from %" PRIx64 " to %" PRIx64 "\n", leader, target);
    return 0;
}

const struct printer printer_simple = {
    .name = "simple",
    .put = simple_put,
    .get = simple_get,
    .del = simple_del,
    .txn = simple_txn,
    .watch = simple_watch,
    .grant = simple_grant,
    .revoke = simple_revoke,
    .keep_alive = simple_keep_alive,
    .time_to_live = simple_time_to_live,
    .leases = simple_leases,
    .member_add = simple_member_add,
    .member_remove = simple_member_remove,
    .member_update = simple_member_update,
    .member_promote = simple_member_promote,
    .member_list = simple_member_list,
    .ep_health = simple_ep_health,
    .ep_status = simple_ep_status,
    .ep_hashkv = simple_ep_hashkv,
    .move_leader = simple_move_leader,
    .alarm = simple_alarm,
};
