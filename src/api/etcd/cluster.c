/* cluster.c — the Cluster service: MemberAdd (learners too), MemberRemove, MemberUpdate,
 * MemberList, MemberPromote (etcd v3rpc/member.go) over the member's safe changes. A follower
 * forwards the changes to the leader (forward.c); MemberList is answered locally. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "util/err.h"

#define MAX_MEMBERS (2 * RAFT_MAX_NODES) /* what srv_members may list */

static Etcdserverpb__Member *member_out(struct kv_arena *a, const struct srv_member *sm,
                                        bool attributes)
{
    Etcdserverpb__Member *o = codec_new(a, &etcdserverpb__member__descriptor);
    if (!o) return NULL;
    o->id = sm->id;
    o->islearner = sm->is_learner;
    o->n_peerurls = sm->n_peer_urls;
    o->peerurls = kv_arena_calloc(a, sm->n_peer_urls + 1, sizeof(char *));
    if (!o->peerurls) return NULL;
    for (uint32_t i = 0; i < sm->n_peer_urls; i++)
        if (!(o->peerurls[i] = kv_arena_dup(a, sm->peer_urls[i], strlen(sm->peer_urls[i]) + 1)))
            return NULL;
    if (!attributes) return o; /* MemberAdd's "member" has only ID, peer URLs and isLearner */
    if (!(o->name = kv_arena_dup(a, sm->name, strlen(sm->name) + 1))) return NULL;
    o->n_clienturls = sm->n_client_urls;
    o->clienturls = kv_arena_calloc(a, sm->n_client_urls + 1, sizeof(char *));
    if (!o->clienturls) return NULL;
    for (uint32_t i = 0; i < sm->n_client_urls; i++)
        if (!(o->clienturls[i] =
                  kv_arena_dup(a, sm->client_urls[i], strlen(sm->client_urls[i]) + 1)))
            return NULL;
    return o;
}

static int by_id(const void *x, const void *y)
{
    uint64_t a = ((const struct srv_member *)x)->id, b = ((const struct srv_member *)y)->id;
    return a < b ? -1 : a > b;
}

/* The member list as etcd orders it (by ID). Returns 0 or CC_ENOMEM. */
static int members_out(struct ecall *c, Etcdserverpb__Member ***out, size_t *n)
{
    struct srv_member *v = kv_arena_alloc(&c->a, MAX_MEMBERS * sizeof(*v));
    if (!v) return CC_ENOMEM;
    uint32_t k = srv_members(c->api->m, v, MAX_MEMBERS);
    qsort(v, k, sizeof(*v), by_id);
    *out = kv_arena_calloc(&c->a, k + 1, sizeof(**out));
    if (!*out) return CC_ENOMEM;
    for (uint32_t i = 0; i < k; i++)
        if (!((*out)[i] = member_out(&c->a, &v[i], true))) return CC_ENOMEM;
    *n = k;
    return 0;
}

/* etcd's cluster header: identity and term, no revision (ClusterServer.header). */
static Etcdserverpb__ResponseHeader *cluster_header(struct ecall *c)
{
    struct codec_hdr h;
    etcd__hdr(c->api, &h);
    return codec_header(&c->a, &h, 0);
}

/* Every membership response but MemberAdd's is {header, members}: same layout. */
struct members_resp {
    ProtobufCMessage base;
    Etcdserverpb__ResponseHeader *header;
    size_t n_members;
    Etcdserverpb__Member **members;
};

#define SAME_LAYOUT(T)                                                                             \
    _Static_assert(offsetof(T, header) == offsetof(struct members_resp, header) &&                 \
                       offsetof(T, n_members) == offsetof(struct members_resp, n_members) &&       \
                       offsetof(T, members) == offsetof(struct members_resp, members),             \
                   #T " layout")
SAME_LAYOUT(Etcdserverpb__MemberRemoveResponse);
SAME_LAYOUT(Etcdserverpb__MemberUpdateResponse);
SAME_LAYOUT(Etcdserverpb__MemberPromoteResponse);
SAME_LAYOUT(Etcdserverpb__MemberListResponse);

static void reply_members(struct ecall *c, const ProtobufCMessageDescriptor *d)
{
    struct members_resp *o = codec_new(&c->a, d);
    if (!o || !(o->header = cluster_header(c)) || members_out(c, &o->members, &o->n_members)) {
        ecall_fail_err(c, CC_ENOMEM, 0, ECTX_MEMBER);
        return;
    }
    ecall_reply(c, &o->base);
}

static enum etcd_ctx ctx_of(struct ecall *c)
{
    return c->m->on_request == etcd__member_promote ? ECTX_PROMOTE : ECTX_MEMBER;
}

/* Completion of remove/update/promote. */
static void changed(void *arg, int err, const struct srv_member *m)
{
    struct ecall *c = arg;
    if (err) {
        ecall_fail_err(c, err, 0, ctx_of(c));
        return;
    }
    const ProtobufCMessageDescriptor *d = c->m->on_request == etcd__member_remove
                                              ? &etcdserverpb__member_remove_response__descriptor
                                          : c->m->on_request == etcd__member_update
                                              ? &etcdserverpb__member_update_response__descriptor
                                              : &etcdserverpb__member_promote_response__descriptor;
    reply_members(c, d);
}

static void added(void *arg, int err, const struct srv_member *m)
{
    struct ecall *c = arg;
    if (err) {
        ecall_fail_err(c, err, 0, ECTX_MEMBER);
        return;
    }
    Etcdserverpb__MemberAddResponse *o =
        codec_new(&c->a, &etcdserverpb__member_add_response__descriptor);
    if (!o || !(o->header = cluster_header(c)) || !(o->member = member_out(&c->a, m, false)) ||
        members_out(c, &o->members, &o->n_members)) {
        ecall_fail_err(c, CC_ENOMEM, 0, ECTX_MEMBER);
        return;
    }
    ecall_reply(c, &o->base);
}

/* What a change that did not start here becomes: a follower forwards it to the leader (etcd
 * proposes membership changes through any member), waiting for the change to be applied here
 * too, as etcd's follower does before it answers. A member removing itself does not wait: it
 * stops once the removal is applied. */
static void start_failed(struct ecall *c, int rc, const ProtobufCMessageDescriptor *resp,
                         enum etcd_ctx ctx, bool wait)
{
    if (rc == CC_ENOTLEADER)
        etcd__forward(c, resp, ctx, wait);
    else
        ecall_fail_err(c, rc, 0, ctx);
}

void etcd__member_add(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__MemberAddRequest *r = (const void *)req;
    int rc = srv_member_add(c->api->m, (const char *const *)r->peerurls, (uint32_t)r->n_peerurls,
                            r->islearner, added, c);
    if (rc) start_failed(c, rc, &etcdserverpb__member_add_response__descriptor, ECTX_MEMBER, true);
}

void etcd__member_remove(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__MemberRemoveRequest *r = (const void *)req;
    int rc = srv_member_remove(c->api->m, r->id, changed, c);
    if (rc)
        start_failed(c, rc, &etcdserverpb__member_remove_response__descriptor, ECTX_MEMBER,
                     r->id != etcd__status(c->api)->member_id);
}

void etcd__member_update(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__MemberUpdateRequest *r = (const void *)req;
    int rc = srv_member_update(c->api->m, r->id, (const char *const *)r->peerurls,
                               (uint32_t)r->n_peerurls, changed, c);
    if (rc)
        start_failed(c, rc, &etcdserverpb__member_update_response__descriptor, ECTX_MEMBER, true);
}

void etcd__member_promote(struct ecall *c, const ProtobufCMessage *req)
{
    const Etcdserverpb__MemberPromoteRequest *r = (const void *)req;
    int rc = srv_member_promote(c->api->m, r->id, changed, c);
    if (rc)
        start_failed(c, rc, &etcdserverpb__member_promote_response__descriptor, ECTX_PROMOTE, true);
}

void etcd__member_list(struct ecall *c, const ProtobufCMessage *req)
{
    reply_members(c, &etcdserverpb__member_list_response__descriptor);
}
