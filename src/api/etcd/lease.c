/* lease.c — the Lease service: LeaseGrant, LeaseRevoke, LeaseTimeToLive, LeaseLeases and the
 * LeaseKeepAlive stream (etcd v3rpc/lease.go, etcdserver/v3_server.go). */
#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "util/err.h"

#define MAX_LEASE_TTL_S 9000000000ll /* etcd's lease.MaxLeaseTTL */
#define KA_QUEUE_MAX    1024         /* keep-alive requests waiting on one stream */
#define LIST_BATCH      1024

static void fail_nomem(struct ecall *c)
{
    ecall_fail_err(c, CC_ENOMEM, 0, ECTX_LEASE);
}

/* etcd's minimum lease TTL: ceil(1.5 election timeouts) in whole seconds
 * (etcdserver/server.go: minTTL = (3*ElectionTicks/2) * heartbeat). */
static int64_t min_ttl_ms(const struct etcd_api *a)
{
    uint64_t ticks = a->o.election_ms / a->o.heartbeat_ms;
    uint64_t ms = (3 * ticks / 2) * a->o.heartbeat_ms;
    return (int64_t)((ms + 999) / 1000 * 1000);
}

/* ---- LeaseGrant / LeaseRevoke ---- */

static void grant_done(void *arg, int err, const struct kv_result *res)
{
    struct ecall *c = arg;
    if (err || res->err) {
        ecall_fail_err(c, err ? err : res->err, err ? 0 : res->msg, ECTX_LEASE);
        return;
    }
    Etcdserverpb__LeaseGrantResponse *o =
        codec_new(&c->a, &etcdserverpb__lease_grant_response__descriptor);
    struct codec_hdr h;
    etcd__hdr(c->api, &h);
    if (!o || !(o->header = codec_header(&c->a, &h, res->rev))) {
        fail_nomem(c);
        return;
    }
    o->id = res->u.grant.id;
    o->ttl = res->u.grant.ttl_ms / 1000;
    ecall_reply(c, &o->base);
}

void etcd__lease_grant(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__LeaseGrantRequest *r = (const void *)req;
    if (r->ttl > MAX_LEASE_TTL_S) {
        ecall_fail_err(c, CC_EINVAL, KV_MSG_LEASE_TTL_TOO_LARGE, ECTX_LEASE);
        return;
    }
    struct kv_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = KV_CMD_LEASE_GRANT;
    cmd.u.grant.id = r->id;
    cmd.u.grant.ttl_ms = r->ttl > 0 ? r->ttl * 1000 : 0; /* etcd raises it to the minimum */
    cmd.u.grant.min_ttl_ms = min_ttl_ms(c->api);
    int msg = 0;
    int rc = srv_write(c->api->m, &cmd, grant_done, c, &msg);
    if (rc) ecall_fail_err(c, rc, msg, ECTX_LEASE);
}

static void revoke_done(void *arg, int err, const struct kv_result *res)
{
    struct ecall *c = arg;
    if (err || res->err) {
        ecall_fail_err(c, err ? err : res->err, err ? 0 : res->msg, ECTX_LEASE);
        return;
    }
    Etcdserverpb__LeaseRevokeResponse *o =
        codec_new(&c->a, &etcdserverpb__lease_revoke_response__descriptor);
    struct codec_hdr h;
    etcd__hdr(c->api, &h);
    if (!o || !(o->header = codec_header(&c->a, &h, res->rev))) {
        fail_nomem(c);
        return;
    }
    ecall_reply(c, &o->base);
}

void etcd__lease_revoke(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__LeaseRevokeRequest *r = (const void *)req;
    struct kv_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = KV_CMD_LEASE_REVOKE;
    cmd.u.revoke_id = r->id;
    int msg = 0;
    int rc = srv_write(c->api->m, &cmd, revoke_done, c, &msg);
    if (rc) ecall_fail_err(c, rc, msg, ECTX_LEASE);
}

/* ---- LeaseTimeToLive / LeaseLeases: served after a read barrier so a lease granted through
 * another member is visible (etcd forwards these to the leader instead). ---- */

static void ttl_ready(void *arg, int err)
{
    struct ecall *c = arg;
    if (err) {
        ecall_fail_err(c, err, 0, ECTX_LEASE);
        return;
    }
    const Etcdserverpb__LeaseTimeToLiveRequest *r = (const void *)c->req;
    Etcdserverpb__LeaseTimeToLiveResponse *o =
        codec_new(&c->a, &etcdserverpb__lease_time_to_live_response__descriptor);
    if (!o || !(o->header = etcd__header_now(c->api, &c->a))) {
        fail_nomem(c);
        return;
    }
    o->id = r->id;
    struct kv_lease_info info;
    memset(&info, 0, sizeof(info));
    int rc = srv_lease_ttl(c->api->m, r->id, r->keys ? &c->a : NULL, &info);
    if (rc == CC_ELEASE) {
        o->ttl = -1; /* etcd answers "expired or unknown" this way, not with an error */
        ecall_reply(c, &o->base);
        return;
    }
    if (rc) {
        ecall_fail_err(c, rc, 0, ECTX_LEASE);
        return;
    }
    o->ttl = info.remaining_ms / 1000;
    o->grantedttl = info.ttl_ms / 1000;
    if (r->keys && info.n_keys) {
        o->keys = kv_arena_calloc(&c->a, info.n_keys, sizeof(*o->keys));
        if (!o->keys) {
            fail_nomem(c);
            return;
        }
        for (size_t i = 0; i < info.n_keys; i++) {
            o->keys[i].data = (uint8_t *)info.keys[i].p;
            o->keys[i].len = info.keys[i].len;
        }
        o->n_keys = info.n_keys;
    }
    ecall_reply(c, &o->base);
}

void etcd__lease_ttl(struct ecall *c, const ProtobufCMessage *req)
{
    int rc = srv_read_barrier(c->api->m, false, ttl_ready, c);
    if (rc) ecall_fail_err(c, rc, 0, ECTX_LEASE);
}

static void leases_ready(void *arg, int err)
{
    struct ecall *c = arg;
    if (err) {
        ecall_fail_err(c, err, 0, ECTX_LEASE);
        return;
    }
    Etcdserverpb__LeaseLeasesResponse *o =
        codec_new(&c->a, &etcdserverpb__lease_leases_response__descriptor);
    if (!o || !(o->header = etcd__header_now(c->api, &c->a))) {
        fail_nomem(c);
        return;
    }
    struct kv *kv = srv_kv(c->api->m);
    int64_t ids[LIST_BATCH];
    int64_t after = INT64_MIN;
    size_t cap = 0;
    for (;;) {
        size_t n = kv_lease_list(kv, after, ids, LIST_BATCH);
        if (n == 0) break;
        if (o->n_leases + n > cap) {
            size_t ncap = cap ? 2 * cap : LIST_BATCH;
            while (ncap < o->n_leases + n) ncap *= 2;
            Etcdserverpb__LeaseStatus **v = kv_arena_alloc(&c->a, ncap * sizeof(*v));
            if (!v) {
                fail_nomem(c);
                return;
            }
            if (o->n_leases) memcpy(v, o->leases, o->n_leases * sizeof(*v));
            o->leases = v;
            cap = ncap;
        }
        for (size_t i = 0; i < n; i++) {
            Etcdserverpb__LeaseStatus *ls =
                codec_new(&c->a, &etcdserverpb__lease_status__descriptor);
            if (!ls) {
                fail_nomem(c);
                return;
            }
            ls->id = ids[i];
            o->leases[o->n_leases++] = ls;
        }
        after = ids[n - 1];
        if (n < LIST_BATCH) break;
    }
    ecall_reply(c, &o->base);
}

void etcd__lease_leases(struct ecall *c, const ProtobufCMessage *req)
{
    int rc = srv_read_barrier(c->api->m, false, leases_ready, c);
    if (rc) ecall_fail_err(c, rc, 0, ECTX_LEASE);
}

/* ---- LeaseKeepAlive: requests are served one at a time, in order, as etcd's loop does ---- */

struct kastream {
    struct etcd_stream es; /* first: the API's stream registry entry */
    struct ecall *c;
    struct etcd_api *api;
    int64_t q[KA_QUEUE_MAX]; /* ring of lease IDs waiting */
    size_t head, n;
    bool inflight;         /* a renewal is with the server */
    bool half_closed;      /* the client sent everything: end once the queue is served */
    bool ended;            /* the call is over; freed when the renewal in flight returns */
    struct srv_header hdr; /* taken before the renewal, as etcd does */
    int64_t id;
};

static void ka_end(struct kastream *s, int code, const char *msg);
static void ka_pump(struct kastream *s);

static void ka_answer(struct kastream *s, int err, int64_t ttl_ms)
{
    if (err && err != CC_ELEASE) {
        struct etcd_status st = etcd_status_of(err, 0, ECTX_LEASE);
        ka_end(s, st.code, st.msg);
        return;
    }
    struct kv_arena a = {0};
    Etcdserverpb__LeaseKeepAliveResponse *o =
        codec_new(&a, &etcdserverpb__lease_keep_alive_response__descriptor);
    struct codec_hdr h = {s->hdr.cluster_id, s->hdr.member_id, s->hdr.raft_term};
    int rc = CC_ENOMEM;
    if (o && (o->header = codec_header(&a, &h, s->hdr.revision))) {
        o->id = s->id;
        o->ttl = err ? 0 : ttl_ms / 1000; /* TTL 0: the lease is gone */
        rc = ecall_send(s->c, &o->base);
    }
    kv_arena_free(&a);
    if (rc == CC_ECANCELED || rc == CC_ESTOPPED) return; /* on_cancel follows */
    if (rc) {
        struct etcd_status st = etcd_status_of(rc, 0, ECTX_LEASE);
        ka_end(s, st.code, st.msg);
        return;
    }
    ka_pump(s);
}

static void ka_done(void *arg, int err, int64_t ttl_ms)
{
    struct kastream *s = arg;
    s->inflight = false;
    if (s->ended) {
        free(s);
        return;
    }
    ka_answer(s, err, ttl_ms);
}

static void ka_pump(struct kastream *s)
{
    while (!s->ended && !s->inflight && s->n && ecall_can_send(s->c)) {
        s->id = s->q[s->head];
        s->head = (s->head + 1) % KA_QUEUE_MAX;
        s->n--;
        srv_header(s->api->m, &s->hdr);
        s->inflight = true;
        int rc = srv_lease_keepalive(s->api->m, s->id, ka_done, s);
        if (rc) {
            s->inflight = false;
            ka_answer(s, rc, 0);
            return;
        }
    }
    if (!s->ended && !s->inflight && !s->n && s->half_closed) ka_end(s, GRPC_OK, NULL);
}

static void ka_end(struct kastream *s, int code, const char *msg)
{
    if (s->ended) return;
    s->ended = true;
    etcd__stream_remove(s->api, &s->es);
    s->api->stats.keepalive_streams--;
    struct ecall *c = s->c;
    c->data = NULL;
    if (!s->inflight) free(s);
    ecall_finish(c, code, msg);
}

static void ka_tick(struct etcd_stream *es, uint64_t now_ms, bool leader_lost)
{
    if (leader_lost) ka_end((struct kastream *)es, GRPC_UNAVAILABLE, "etcdserver: no leader");
}

void etcd__keepalive_start(struct ecall *c)
{
    struct kastream *s = calloc(1, sizeof(*s));
    if (!s) {
        ecall_finish(c, GRPC_RESOURCE_EXHAUSTED, "concur: out of memory");
        return;
    }
    s->c = c;
    s->api = c->api;
    s->es.tick = ka_tick;
    const char *hl = ecall_metadata(c, "hasleader");
    s->es.require_leader = hl && !strcmp(hl, "true");
    c->data = s;
    etcd__stream_add(c->api, &s->es);
    c->api->stats.keepalive_streams++;
}

void etcd__keepalive_message(struct ecall *c, const ProtobufCMessage *req)
{
    struct kastream *s = c->data;
    const Etcdserverpb__LeaseKeepAliveRequest *r = (const void *)req;
    if (s->n == KA_QUEUE_MAX) {
        ka_end(s, GRPC_RESOURCE_EXHAUSTED, "etcdserver: too many requests");
        return;
    }
    s->q[(s->head + s->n) % KA_QUEUE_MAX] = r->id;
    s->n++;
    ka_pump(s);
}

void etcd__keepalive_half_close(struct ecall *c)
{
    struct kastream *s = c->data;
    s->half_closed = true;
    ka_pump(s);
}

void etcd__keepalive_cancel(struct ecall *c)
{
    struct kastream *s = c->data;
    if (s) ka_end(s, GRPC_CANCELLED, "context canceled");
}

void etcd__keepalive_writable(struct ecall *c)
{
    struct kastream *s = c->data;
    if (s) ka_pump(s);
}
