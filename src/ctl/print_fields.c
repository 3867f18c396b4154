/* print_fields.c — the "fields" output format ("Name" : value lines, printer_fields.go). */
#include "ctl/print.h"

#include <inttypes.h>
#include <string.h>

static void quoted(FILE *f, const char *name, const uint8_t *s, size_t len)
{
    fprintf(f, "\"%s\" : ", name);
    print_go_quote(f, s, len);
    fputc('\n', f);
}

static void quoted_str(FILE *f, const char *name, const char *s)
{
    quoted(f, name, (const uint8_t *)s, strlen(s));
}

static void hdr(struct ctl *ctl, const Etcdserverpb__ResponseHeader *h)
{
    h = print_header_or_zero(h);
    fprintf(ctl->out, "\"ClusterID\" : %" PRIu64 "\n", h->cluster_id);
    fprintf(ctl->out, "\"MemberID\" : %" PRIu64 "\n", h->member_id);
    fprintf(ctl->out, "\"Revision\" : %" PRId64 "\n", h->revision);
    fprintf(ctl->out, "\"RaftTerm\" : %" PRIu64 "\n", h->raft_term);
}

static void kv(struct ctl *ctl, const char *pfx, const Mvccpb__KeyValue *kv)
{
    static const Mvccpb__KeyValue empty = MVCCPB__KEY_VALUE__INIT;
    FILE *f = ctl->out;
    char name[32];
    if (!kv) kv = &empty;
    snprintf(name, sizeof name, "%sKey", pfx);
    quoted(f, name, kv->key.data, kv->key.len);
    fprintf(f, "\"%sCreateRevision\" : %" PRId64 "\n", pfx, kv->create_revision);
    fprintf(f, "\"%sModRevision\" : %" PRId64 "\n", pfx, kv->mod_revision);
    fprintf(f, "\"%sVersion\" : %" PRId64 "\n", pfx, kv->version);
    snprintf(name, sizeof name, "%sValue", pfx);
    quoted(f, name, kv->value.data, kv->value.len);
    fprintf(f, "\"%sLease\" : %" PRId64 "\n", pfx, kv->lease);
}

static const char *tf(bool b)
{
    return b ? "true" : "false";
}

static int fields_get(struct ctl *ctl, const Etcdserverpb__RangeResponse *r)
{
    hdr(ctl, r->header);
    for (size_t i = 0; i < r->n_kvs; i++) kv(ctl, "", r->kvs[i]);
    fprintf(ctl->out, "\"More\" : %s\n", tf(r->more));
    fprintf(ctl->out, "\"Count\" : %" PRId64 "\n", r->count);
    return 0;
}

static int fields_put(struct ctl *ctl, const Etcdserverpb__PutResponse *r)
{
    hdr(ctl, r->header);
    if (r->prev_kv) kv(ctl, "Prev", r->prev_kv);
    return 0;
}

static int fields_del(struct ctl *ctl, const Etcdserverpb__DeleteRangeResponse *r)
{
    hdr(ctl, r->header);
    fprintf(ctl->out, "\"Deleted\" : %" PRId64 "\n", r->deleted);
    for (size_t i = 0; i < r->n_prev_kvs; i++) kv(ctl, "Prev", r->prev_kvs[i]);
    return 0;
}

static int fields_txn(struct ctl *ctl, const Etcdserverpb__TxnResponse *r)
{
    hdr(ctl, r->header);
    fprintf(ctl->out, "\"Succeeded\" : %s\n", tf(r->succeeded));
    for (size_t i = 0; i < r->n_responses; i++) {
        const Etcdserverpb__ResponseOp *op = r->responses[i];
        switch (op->response_case) {
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE:
            fields_del(ctl, op->response_delete_range);
            break;
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT:
            fields_put(ctl, op->response_put);
            break;
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE:
            fields_get(ctl, op->response_range);
            break;
        default:
            fprintf(ctl->out, "\"Unknown\" : \"response case %d\"\n", (int)op->response_case);
        }
    }
    return 0;
}

static int fields_watch(struct ctl *ctl, const Etcdserverpb__WatchResponse *r)
{
    hdr(ctl, r->header);
    for (size_t i = 0; i < r->n_events; i++) {
        const Mvccpb__Event *e = r->events[i];
        char b[16];
        fprintf(ctl->out, "\"Type\" : %s\n", print_event_type(e->type, b, sizeof b));
        if (e->prev_kv) kv(ctl, "Prev", e->prev_kv);
        kv(ctl, "", e->kv);
    }
    return 0;
}

static void id_ttl(struct ctl *ctl, int64_t id, int64_t ttl)
{
    fprintf(ctl->out, "\"ID\" : %" PRId64 "\n\"TTL\" : %" PRId64 "\n", id, ttl);
}

static int fields_grant(struct ctl *ctl, const Etcdserverpb__LeaseGrantResponse *r)
{
    hdr(ctl, r->header);
    id_ttl(ctl, r->id, r->ttl);
    return 0;
}

static int fields_revoke(struct ctl *ctl, int64_t id, const Etcdserverpb__LeaseRevokeResponse *r)
{
    hdr(ctl, r->header);
    return 0;
}

static int fields_keep_alive(struct ctl *ctl, const Etcdserverpb__LeaseKeepAliveResponse *r)
{
    hdr(ctl, r->header);
    id_ttl(ctl, r->id, r->ttl);
    return 0;
}

static int fields_time_to_live(struct ctl *ctl, const Etcdserverpb__LeaseTimeToLiveResponse *r,
                               bool keys)
{
    hdr(ctl, r->header);
    id_ttl(ctl, r->id, r->ttl);
    fprintf(ctl->out, "\"GrantedTTL\" : %" PRId64 "\n", r->grantedttl);
    for (size_t i = 0; i < r->n_keys; i++) quoted(ctl->out, "Key", r->keys[i].data, r->keys[i].len);
    return 0;
}

static int fields_leases(struct ctl *ctl, const Etcdserverpb__LeaseLeasesResponse *r)
{
    hdr(ctl, r->header);
    for (size_t i = 0; i < r->n_leases; i++)
        fprintf(ctl->out, "\"ID\" : %" PRId64 "\n", r->leases[i]->id);
    return 0;
}

static int fields_member_list(struct ctl *ctl, const Etcdserverpb__MemberListResponse *r)
{
    FILE *f = ctl->out;
    hdr(ctl, r->header);
    for (size_t i = 0; i < r->n_members; i++) {
        const Etcdserverpb__Member *m = r->members[i];
        fprintf(f, "\"ID\" : %" PRIu64 "\n", m->id);
        quoted_str(f, "Name", m->name);
        for (size_t k = 0; k < m->n_peerurls; k++) quoted_str(f, "PeerURL", m->peerurls[k]);
        for (size_t k = 0; k < m->n_clienturls; k++) quoted_str(f, "ClientURL", m->clienturls[k]);
        fprintf(f, "\"IsLearner\" : %s\n\n", tf(m->islearner));
    }
    return 0;
}

static int fields_ep_health(struct ctl *ctl, const struct ep_health *h, size_t n)
{
    FILE *f = ctl->out;
    for (size_t i = 0; i < n; i++) {
        quoted_str(f, "Endpoint", h[i].ep);
        fprintf(f, "\"Health\" : %s\n\"Took\" : %s\n\"Error\" : %s\n\n", tf(h[i].health), h[i].took,
                h[i].error);
    }
    return 0;
}

static int fields_ep_status(struct ctl *ctl, const struct ep_status *s, size_t n)
{
    FILE *f = ctl->out;
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__StatusResponse *r = s[i].resp;
        hdr(ctl, r->header);
        quoted_str(f, "Version", r->version);
        fprintf(f, "\"DBSize\" : %" PRId64 "\n", r->dbsize);
        fprintf(f, "\"Leader\" : %" PRIu64 "\n", r->leader);
        fprintf(f, "\"IsLearner\" : %s\n", tf(r->islearner));
        fprintf(f, "\"RaftIndex\" : %" PRIu64 "\n", r->raftindex);
        fprintf(f, "\"RaftTerm\" : %" PRIu64 "\n", r->raftterm);
        fprintf(f, "\"RaftAppliedIndex\" : %" PRIu64 "\n", r->raftappliedindex);
        fputs("\"Errors\" : [", f);
        for (size_t k = 0; k < r->n_errors; k++) fprintf(f, "%s%s", k ? " " : "", r->errors[k]);
        fputs("]\n", f);
        quoted_str(f, "Endpoint", s[i].ep);
        fputc('\n', f);
    }
    return 0;
}

static int fields_ep_hashkv(struct ctl *ctl, const struct ep_hashkv *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hdr(ctl, h[i].resp->header);
        quoted_str(ctl->out, "Endpoint", h[i].ep);
        fprintf(ctl->out, "\"Hash\" : %" PRIu32 "\n\n", h[i].resp->hash);
    }
    return 0;
}

static int fields_alarm(struct ctl *ctl, const Etcdserverpb__AlarmResponse *r)
{
    hdr(ctl, r->header);
    for (size_t i = 0; i < r->n_alarms; i++) {
        char b[16];
        fprintf(ctl->out, "\"MemberID\" : %" PRIu64 "\n\"AlarmType\" : %s\n\n",
                r->alarms[i]->memberid, print_alarm_type(r->alarms[i]->alarm, b, sizeof b));
    }
    return 0;
}

const struct printer printer_fields = {
    .name = "fields",
    .put = fields_put,
    .get = fields_get,
    .del = fields_del,
    .txn = fields_txn,
    .watch = fields_watch,
    .grant = fields_grant,
    .revoke = fields_revoke,
    .keep_alive = fields_keep_alive,
    .time_to_live = fields_time_to_live,
    .leases = fields_leases,
    .member_list = fields_member_list,
    .ep_health = fields_ep_health,
    .ep_status = fields_ep_status,
    .ep_hashkv = fields_ep_hashkv,
    .alarm = fields_alarm,
};
