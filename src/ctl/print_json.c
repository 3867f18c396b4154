/* print_json.c — the "json" output format: Go's encoding/json of etcdctl's response values.
 *
 * etcdctl marshals gogoproto structs whose tags are `json:"name,omitempty"`, so zero fields are
 * left out, 64-bit integers are plain numbers, bytes are standard base64, and strings are
 * escaped the way encoding/json does (HTML-safe). clientv3's own wrapper types (lease responses,
 * WatchResponse) use different field names; each writer below mirrors the Go type it stands
 * for. */
#include "ctl/print.h"

#include <inttypes.h>
#include <string.h>

/* An object being written: remembers whether a comma is needed before the next member. */
struct jobj {
    FILE *f;
    bool first;
};

static void jopen(struct jobj *o, FILE *f)
{
    o->f = f;
    o->first = true;
    fputc('{', f);
}

static void jclose(struct jobj *o)
{
    fputc('}', o->f);
}

static void jkey(struct jobj *o, const char *k)
{
    if (!o->first) fputc(',', o->f);
    o->first = false;
    fprintf(o->f, "\"%s\":", k);
}

static void json_string(FILE *f, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                fputc('\\', f), fputc(c, f);
            } else if (c == '\n') {
                fputs("\\n", f);
            } else if (c == '\r') {
                fputs("\\r", f);
            } else if (c == '\t') {
                fputs("\\t", f);
            } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                fprintf(f, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
            } else {
                fputc(c, f);
            }
            i++;
            continue;
        }
        /* Multi-byte: validate; invalid bytes become U+FFFD, U+2028/2029 are escaped. */
        size_t n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        uint32_t r = n == 2 ? (c & 0x1fu) : n == 3 ? (c & 0x0fu) : (c & 0x07u);
        bool ok = n != 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++) {
            if (((unsigned char)s[i + k] & 0xc0) != 0x80)
                ok = false;
            else
                r = (r << 6) | ((unsigned char)s[i + k] & 0x3fu);
        }
        if (ok) {
            uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
            if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) ok = false;
        }
        if (!ok) {
            fputs("\\ufffd", f);
            i++;
        } else if (r == 0x2028 || r == 0x2029) {
            fprintf(f, "\\u%04x", r);
            i += n;
        } else {
            fwrite(s + i, 1, n, f);
            i += n;
        }
    }
    fputc('"', f);
}

static void json_cstr(FILE *f, const char *s)
{
    json_string(f, s, strlen(s));
}

static void json_base64(FILE *f, const uint8_t *d, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputc('"', f);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < len) v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < len) v |= d[i + 2];
        fputc(tbl[(v >> 18) & 63], f);
        fputc(tbl[(v >> 12) & 63], f);
        fputc(i + 1 < len ? tbl[(v >> 6) & 63] : '=', f);
        fputc(i + 2 < len ? tbl[v & 63] : '=', f);
    }
    fputc('"', f);
}

static void opt_i64(struct jobj *o, const char *k, int64_t v)
{
    if (v) jkey(o, k), fprintf(o->f, "%" PRId64, v);
}

static void opt_u64(struct jobj *o, const char *k, uint64_t v)
{
    if (v) jkey(o, k), fprintf(o->f, "%" PRIu64, v);
}

static void opt_bool(struct jobj *o, const char *k, bool v)
{
    if (v) jkey(o, k), fputs("true", o->f);
}

static void opt_bytes(struct jobj *o, const char *k, ProtobufCBinaryData b)
{
    if (b.len) jkey(o, k), json_base64(o->f, b.data, b.len);
}

static void opt_str(struct jobj *o, const char *k, const char *s)
{
    if (s && s[0]) jkey(o, k), json_cstr(o->f, s);
}

/* The members of a ResponseHeader (all omitempty), into an open object. */
static void header_fields(struct jobj *o, const Etcdserverpb__ResponseHeader *h)
{
    opt_u64(o, "cluster_id", h->cluster_id);
    opt_u64(o, "member_id", h->member_id);
    opt_i64(o, "revision", h->revision);
    opt_u64(o, "raft_term", h->raft_term);
}

static void header_obj(FILE *f, const Etcdserverpb__ResponseHeader *h)
{
    struct jobj o;
    jopen(&o, f);
    header_fields(&o, h);
    jclose(&o);
}

static void opt_header(struct jobj *o, const Etcdserverpb__ResponseHeader *h)
{
    if (h) jkey(o, "header"), header_obj(o->f, h);
}

static void kv_obj(FILE *f, const Mvccpb__KeyValue *kv)
{
    struct jobj o;
    jopen(&o, f);
    opt_bytes(&o, "key", kv->key);
    opt_i64(&o, "create_revision", kv->create_revision);
    opt_i64(&o, "mod_revision", kv->mod_revision);
    opt_i64(&o, "version", kv->version);
    opt_bytes(&o, "value", kv->value);
    opt_i64(&o, "lease", kv->lease);
    jclose(&o);
}

static void opt_kvs(struct jobj *o, const char *k, Mvccpb__KeyValue *const *kvs, size_t n)
{
    if (!n) return;
    jkey(o, k);
    fputc('[', o->f);
    for (size_t i = 0; i < n; i++) {
        if (i) fputc(',', o->f);
        kv_obj(o->f, kvs[i]);
    }
    fputc(']', o->f);
}

static void range_obj(FILE *f, const Etcdserverpb__RangeResponse *r)
{
    struct jobj o;
    jopen(&o, f);
    opt_header(&o, r->header);
    opt_kvs(&o, "kvs", r->kvs, r->n_kvs);
    opt_bool(&o, "more", r->more);
    opt_i64(&o, "count", r->count);
    jclose(&o);
}

static void put_obj(FILE *f, const Etcdserverpb__PutResponse *r)
{
    struct jobj o;
    jopen(&o, f);
    opt_header(&o, r->header);
    if (r->prev_kv) jkey(&o, "prev_kv"), kv_obj(f, r->prev_kv);
    jclose(&o);
}

static void del_obj(FILE *f, const Etcdserverpb__DeleteRangeResponse *r)
{
    struct jobj o;
    jopen(&o, f);
    opt_header(&o, r->header);
    opt_i64(&o, "deleted", r->deleted);
    opt_kvs(&o, "prev_kvs", r->prev_kvs, r->n_prev_kvs);
    jclose(&o);
}

static void txn_obj(FILE *f, const Etcdserverpb__TxnResponse *r)
{
    struct jobj o;
    jopen(&o, f);
    opt_header(&o, r->header);
    opt_bool(&o, "succeeded", r->succeeded);
    if (r->n_responses) {
        jkey(&o, "responses");
        fputc('[', f);
        for (size_t i = 0; i < r->n_responses; i++) {
            const Etcdserverpb__ResponseOp *op = r->responses[i];
            if (i) fputc(',', f);
            /* Go: ResponseOp{Response: &ResponseOp_ResponsePut{ResponsePut: ...}}. */
            fputs("{\"Response\":", f);
            switch (op->response_case) {
            case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE:
                fputs("{\"ResponseRange\":", f), range_obj(f, op->response_range), fputc('}', f);
                break;
            case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT:
                fputs("{\"ResponsePut\":", f), put_obj(f, op->response_put), fputc('}', f);
                break;
            case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE:
                fputs("{\"ResponseDeleteRange\":", f), del_obj(f, op->response_delete_range);
                fputc('}', f);
                break;
            case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN:
                fputs("{\"ResponseTxn\":", f), txn_obj(f, op->response_txn), fputc('}', f);
                break;
            default:
                fputs("null", f);
            }
            fputc('}', f);
        }
        fputc(']', f);
    }
    jclose(&o);
}

static int json_get(struct ctl *ctl, const Etcdserverpb__RangeResponse *r)
{
    range_obj(ctl->out, r);
    fputc('\n', ctl->out);
    return 0;
}

static int json_put(struct ctl *ctl, const Etcdserverpb__PutResponse *r)
{
    put_obj(ctl->out, r);
    fputc('\n', ctl->out);
    return 0;
}

static int json_del(struct ctl *ctl, const Etcdserverpb__DeleteRangeResponse *r)
{
    del_obj(ctl->out, r);
    fputc('\n', ctl->out);
    return 0;
}

static int json_txn(struct ctl *ctl, const Etcdserverpb__TxnResponse *r)
{
    txn_obj(ctl->out, r);
    fputc('\n', ctl->out);
    return 0;
}

/* clientv3.WatchResponse: Header by value, Events always a (possibly empty) array. */
static int json_watch(struct ctl *ctl, const Etcdserverpb__WatchResponse *r)
{
    FILE *f = ctl->out;
    fputs("{\"Header\":", f);
    header_obj(f, print_header_or_zero(r->header));
    fputs(",\"Events\":[", f);
    for (size_t i = 0; i < r->n_events; i++) {
        const Mvccpb__Event *e = r->events[i];
        struct jobj o;
        if (i) fputc(',', f);
        jopen(&o, f);
        opt_i64(&o, "type", e->type);
        if (e->kv) jkey(&o, "kv"), kv_obj(f, e->kv);
        if (e->prev_kv) jkey(&o, "prev_kv"), kv_obj(f, e->prev_kv);
        jclose(&o);
    }
    fprintf(f, "],\"CompactRevision\":%" PRId64 ",\"Canceled\":%s,\"Created\":%s}\n",
            r->compact_revision, r->canceled ? "true" : "false", r->created ? "true" : "false");
    return 0;
}

/* clientv3 lease responses embed *pb.ResponseHeader: its members are promoted to the top. */
static void promoted_header(struct jobj *o, const Etcdserverpb__ResponseHeader *h)
{
    if (h) header_fields(o, h);
}

static int json_grant(struct ctl *ctl, const Etcdserverpb__LeaseGrantResponse *r)
{
    struct jobj o;
    jopen(&o, ctl->out);
    promoted_header(&o, r->header);
    jkey(&o, "ID"), fprintf(ctl->out, "%" PRId64, r->id);
    jkey(&o, "TTL"), fprintf(ctl->out, "%" PRId64, r->ttl);
    jkey(&o, "Error"), json_cstr(ctl->out, r->error);
    jclose(&o);
    fputc('\n', ctl->out);
    return 0;
}

static int json_revoke(struct ctl *ctl, int64_t id, const Etcdserverpb__LeaseRevokeResponse *r)
{
    struct jobj o;
    jopen(&o, ctl->out);
    opt_header(&o, r->header);
    jclose(&o);
    fputc('\n', ctl->out);
    return 0;
}

static int json_keep_alive(struct ctl *ctl, const Etcdserverpb__LeaseKeepAliveResponse *r)
{
    struct jobj o;
    jopen(&o, ctl->out);
    promoted_header(&o, r->header);
    jkey(&o, "ID"), fprintf(ctl->out, "%" PRId64, r->id);
    jkey(&o, "TTL"), fprintf(ctl->out, "%" PRId64, r->ttl);
    jclose(&o);
    fputc('\n', ctl->out);
    return 0;
}

static int json_time_to_live(struct ctl *ctl, const Etcdserverpb__LeaseTimeToLiveResponse *r,
                             bool keys)
{
    FILE *f = ctl->out;
    struct jobj o;
    jopen(&o, f);
    promoted_header(&o, r->header);
    jkey(&o, "id"), fprintf(f, "%" PRId64, r->id);
    jkey(&o, "ttl"), fprintf(f, "%" PRId64, r->ttl);
    jkey(&o, "granted-ttl"), fprintf(f, "%" PRId64, r->grantedttl);
    jkey(&o, "keys");
    if (r->n_keys == 0) {
        fputs("null", f);
    } else {
        fputc('[', f);
        for (size_t i = 0; i < r->n_keys; i++) {
            if (i) fputc(',', f);
            json_base64(f, r->keys[i].data, r->keys[i].len);
        }
        fputc(']', f);
    }
    jclose(&o);
    fputc('\n', f);
    return 0;
}

static int json_leases(struct ctl *ctl, const Etcdserverpb__LeaseLeasesResponse *r)
{
    FILE *f = ctl->out;
    struct jobj o;
    jopen(&o, f);
    promoted_header(&o, r->header);
    jkey(&o, "leases");
    fputc('[', f);
    for (size_t i = 0; i < r->n_leases; i++)
        fprintf(f, "%s{\"id\":%" PRId64 "}", i ? "," : "", r->leases[i]->id);
    fputc(']', f);
    jclose(&o);
    fputc('\n', f);
    return 0;
}

static void string_list(FILE *f, char *const *v, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (i) fputc(',', f);
        json_cstr(f, v[i]);
    }
    fputc(']', f);
}

static void member_obj(FILE *f, const Etcdserverpb__Member *m)
{
    struct jobj o;
    jopen(&o, f);
    opt_u64(&o, "ID", m->id);
    opt_str(&o, "name", m->name);
    if (m->n_peerurls) jkey(&o, "peerURLs"), string_list(f, m->peerurls, m->n_peerurls);
    if (m->n_clienturls) jkey(&o, "clientURLs"), string_list(f, m->clienturls, m->n_clienturls);
    opt_bool(&o, "isLearner", m->islearner);
    jclose(&o);
}

static void opt_members(struct jobj *o, Etcdserverpb__Member *const *m, size_t n)
{
    if (!n) return;
    jkey(o, "members");
    fputc('[', o->f);
    for (size_t i = 0; i < n; i++) {
        if (i) fputc(',', o->f);
        member_obj(o->f, m[i]);
    }
    fputc(']', o->f);
}

static int members_line(struct ctl *ctl, const Etcdserverpb__ResponseHeader *h,
                        const Etcdserverpb__Member *one, Etcdserverpb__Member *const *m, size_t n)
{
    struct jobj o;
    jopen(&o, ctl->out);
    opt_header(&o, h);
    if (one) jkey(&o, "member"), member_obj(ctl->out, one);
    opt_members(&o, m, n);
    jclose(&o);
    fputc('\n', ctl->out);
    return 0;
}

static int json_member_add(struct ctl *ctl, const Etcdserverpb__MemberAddResponse *r)
{
    return members_line(ctl, r->header, r->member, r->members, r->n_members);
}

static int json_member_remove(struct ctl *ctl, uint64_t id,
                              const Etcdserverpb__MemberRemoveResponse *r)
{
    return members_line(ctl, r->header, NULL, r->members, r->n_members);
}

static int json_member_update(struct ctl *ctl, uint64_t id,
                              const Etcdserverpb__MemberUpdateResponse *r)
{
    return members_line(ctl, r->header, NULL, r->members, r->n_members);
}

static int json_member_promote(struct ctl *ctl, uint64_t id,
                               const Etcdserverpb__MemberPromoteResponse *r)
{
    return members_line(ctl, r->header, NULL, r->members, r->n_members);
}

static int json_member_list(struct ctl *ctl, const Etcdserverpb__MemberListResponse *r)
{
    return members_line(ctl, r->header, NULL, r->members, r->n_members);
}

static int json_ep_health(struct ctl *ctl, const struct ep_health *h, size_t n)
{
    FILE *f = ctl->out;
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        struct jobj o;
        if (i) fputc(',', f);
        jopen(&o, f);
        jkey(&o, "endpoint"), json_cstr(f, h[i].ep);
        jkey(&o, "health"), fputs(h[i].health ? "true" : "false", f);
        jkey(&o, "took"), json_cstr(f, h[i].took);
        opt_str(&o, "error", h[i].error);
        jclose(&o);
    }
    fputs("]\n", f);
    return 0;
}

static int json_ep_status(struct ctl *ctl, const struct ep_status *s, size_t n)
{
    FILE *f = ctl->out;
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__StatusResponse *r = s[i].resp;
        struct jobj o, st;
        if (i) fputc(',', f);
        jopen(&o, f);
        jkey(&o, "Endpoint"), json_cstr(f, s[i].ep);
        jkey(&o, "Status");
        jopen(&st, f);
        opt_header(&st, r->header);
        opt_str(&st, "version", r->version);
        opt_i64(&st, "dbSize", r->dbsize);
        opt_u64(&st, "leader", r->leader);
        opt_u64(&st, "raftIndex", r->raftindex);
        opt_u64(&st, "raftTerm", r->raftterm);
        opt_u64(&st, "raftAppliedIndex", r->raftappliedindex);
        if (r->n_errors) jkey(&st, "errors"), string_list(f, r->errors, r->n_errors);
        opt_i64(&st, "dbSizeInUse", r->dbsizeinuse);
        opt_bool(&st, "isLearner", r->islearner);
        jclose(&st);
        jclose(&o);
    }
    fputs("]\n", f);
    return 0;
}

static int json_ep_hashkv(struct ctl *ctl, const struct ep_hashkv *h, size_t n)
{
    FILE *f = ctl->out;
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__HashKVResponse *r = h[i].resp;
        struct jobj o, hk;
        if (i) fputc(',', f);
        jopen(&o, f);
        jkey(&o, "Endpoint"), json_cstr(f, h[i].ep);
        jkey(&o, "HashKV");
        jopen(&hk, f);
        opt_header(&hk, r->header);
        opt_u64(&hk, "hash", r->hash);
        opt_i64(&hk, "compact_revision", r->compact_revision);
        jclose(&hk);
        jclose(&o);
    }
    fputs("]\n", f);
    return 0;
}

static int json_move_leader(struct ctl *ctl, uint64_t leader, uint64_t target,
                            const Etcdserverpb__MoveLeaderResponse *r)
{
    struct jobj o;
    jopen(&o, ctl->out);
    opt_header(&o, r->header);
    jclose(&o);
    fputc('\n', ctl->out);
    return 0;
}

static int json_alarm(struct ctl *ctl, const Etcdserverpb__AlarmResponse *r)
{
    FILE *f = ctl->out;
    struct jobj o;
    jopen(&o, f);
    opt_header(&o, r->header);
    if (r->n_alarms) {
        jkey(&o, "alarms");
        fputc('[', f);
        for (size_t i = 0; i < r->n_alarms; i++) {
            struct jobj a;
            if (i) fputc(',', f);
            jopen(&a, f);
            opt_u64(&a, "memberID", r->alarms[i]->memberid);
            opt_i64(&a, "alarm", r->alarms[i]->alarm);
            jclose(&a);
        }
        fputc(']', f);
    }
    jclose(&o);
    fputc('\n', f);
    return 0;
}

const struct printer printer_json = {
    .name = "json",
    .put = json_put,
    .get = json_get,
    .del = json_del,
    .txn = json_txn,
    .watch = json_watch,
    .grant = json_grant,
    .revoke = json_revoke,
    .keep_alive = json_keep_alive,
    .time_to_live = json_time_to_live,
    .leases = json_leases,
    .member_add = json_member_add,
    .member_remove = json_member_remove,
    .member_update = json_member_update,
    .member_promote = json_member_promote,
    .member_list = json_member_list,
    .ep_health = json_ep_health,
    .ep_status = json_ep_status,
    .ep_hashkv = json_ep_hashkv,
    .move_leader = json_move_leader,
    .alarm = json_alarm,
};
