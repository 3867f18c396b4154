/* forward.c — a follower relays the requests only the leader serves (Cluster changes,
 * MoveLeader) to the leader's client URL over gRPC, as etcd's followers do, and relays the
 * answer back: one reused HTTP/2 connection per leader URL, bounded calls, deadlines and sizes.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "api/h2client/h2c.h"
#include "util/err.h"

#define FWD_MAX_CONNS      4          /* leader URLs kept connected (the leader changes rarely) */
#define FWD_MAX_CALLS      64         /* forwarded calls in flight per member */
#define FWD_MAX_RESPONSE   (1u << 20) /* membership answers are a few KiB (<= 32 members) */
#define FWD_MAX_ATTEMPTS   3          /* sends of one call (resent only if not acted on) */
#define FWD_REQ_TIMEOUT_MS 5000       /* etcd's ReqTimeout: 5 s + 2 x election timeout */
#define FWD_MAX_MEMBERS    (2 * RAFT_MAX_NODES)

struct fwd_conn {
    struct etcd_fwd *f;
    struct h2c *h; /* NULL: a free slot */
    char url[SRV_URL_MAX];
    uint64_t used_ms;
};

struct etcd_fwd {
    struct etcd_api *a;
    struct fwd_conn conns[FWD_MAX_CONNS];
    uint32_t calls; /* forwarded calls not yet completed */
    bool closing;
};

/* One forwarded call: c's completion belongs to it until it ends. */
struct fwd_call {
    struct etcd_fwd *f;
    struct ecall *c;
    const ProtobufCMessageDescriptor *resp;
    enum etcd_ctx ctx;
    bool wait_applied;
    int attempts;
    uint64_t deadline_ms;
    uint64_t leader_id; /* the leader of the last attempt */
    char url[SRV_URL_MAX];
    uint8_t *body; /* the request bytes (kept for a resend) */
    size_t len;
    ProtobufCMessage *answer; /* decoded, while waiting for the local apply */
};

int etcd__fwd_new(struct etcd_api *a)
{
    struct etcd_fwd *f = calloc(1, sizeof(*f));
    if (!f) return CC_ENOMEM;
    f->a = a;
    for (int i = 0; i < FWD_MAX_CONNS; i++) f->conns[i].f = f;
    a->fwd = f;
    return 0;
}

/* ---- connections ---- */

static void conn_closed(void *arg)
{
    etcd__handle_closed(arg);
}

/* Forgets the slot's connection; it closes on its own (its calls are answered, cancelled). */
static void conn_drop(struct fwd_conn *k)
{
    if (!k->h) return;
    struct h2c *h = k->h;
    k->h = NULL;
    h2c_close(h, conn_closed, k->f->a);
}

static void on_conn_event(void *ud, struct h2c *h, enum h2c_event ev, const char *why)
{
    struct fwd_conn *k = ud;
    if (ev != H2C_FAILED || k->h != h) return;
    log_info(k->f->a->log, "connection to the leader at %s lost: %s", k->url, why);
    conn_drop(k);
}

/* The usable connection to url: kept, or opened in a free slot or in place of the least
 * recently used idle one. Returns 0 and *out, CC_EBUSY (every slot busy with calls to other
 * URLs) or h2c_open's error. */
static int conn_get(struct etcd_fwd *f, const char *url, struct h2c **out)
{
    struct fwd_conn *slot = NULL;
    for (int i = 0; i < FWD_MAX_CONNS; i++) {
        struct fwd_conn *k = &f->conns[i];
        if (k->h && !strcmp(k->url, url)) {
            if (h2c_usable(k->h)) {
                k->used_ms = etcd__now_ms();
                *out = k->h;
                return 0;
            }
            conn_drop(k); /* failed or got GOAWAY: replace it */
        }
        if (!k->h) {
            if (!slot || slot->h) slot = k;
        } else if (h2c_calls(k->h) == 0 && (!slot || (slot->h && k->used_ms < slot->used_ms))) {
            slot = k;
        }
    }
    if (!slot) return CC_EBUSY;
    conn_drop(slot);
    struct h2c_limits lim;
    h2c_limits_default(&lim);
    lim.max_calls = 2 * FWD_MAX_CALLS; /* cancelled streams still closing count too */
    lim.max_request_bytes = f->a->o.max_request_bytes + (1u << 20); /* over what arrives */
    lim.max_response_bytes = FWD_MAX_RESPONSE;
    lim.conn_window_bytes = 4u << 20;
    lim.connect_timeout_ms = FWD_REQ_TIMEOUT_MS;
    char err[256];
    int rc = h2c_open(f->a->loop, url, &lim, on_conn_event, slot, &slot->h, err, sizeof(err));
    if (rc) {
        log_warn(f->a->log, "cannot connect to the leader at %s: %s", url, err);
        return rc;
    }
    f->a->open_handles++; /* until conn_closed */
    snprintf(slot->url, sizeof(slot->url), "%s", url);
    slot->used_ms = etcd__now_ms();
    *out = slot->h;
    return 0;
}

void etcd__fwd_close(struct etcd_api *a)
{
    struct etcd_fwd *f = a->fwd;
    if (!f) return;
    f->closing = true;
    for (int i = 0; i < FWD_MAX_CONNS; i++) conn_drop(&f->conns[i]);
}

void etcd__fwd_free(struct etcd_api *a)
{
    if (!a->fwd) return;
    for (int i = 0; i < FWD_MAX_CONNS; i++) assert(!a->fwd->conns[i].h);
    assert(a->fwd->calls == 0);
    free(a->fwd);
    a->fwd = NULL;
}

/* ---- calls ---- */

static void call_end(struct fwd_call *fc)
{
    fc->f->calls--;
    fc->c->data = NULL;
    free(fc->body);
    free(fc);
}

static void call_fail(struct fwd_call *fc, int err)
{
    struct ecall *c = fc->c;
    enum etcd_ctx ctx = fc->ctx;
    fc->f->a->stats.forward_failed++;
    call_end(fc);
    ecall_fail_err(c, err, 0, ctx);
}

static void call_fail_status(struct fwd_call *fc, int code, const char *msg)
{
    struct ecall *c = fc->c;
    call_end(fc);
    ecall_fail(c, code, msg);
}

/* Replies with the leader's decoded answer (freed here, after the transport encoded it). */
static void call_reply(struct fwd_call *fc)
{
    struct ecall *c = fc->c;
    ProtobufCMessage *msg = fc->answer;
    call_end(fc);
    ecall_ref(c); /* the answer's memory is charged to c until freed below */
    ecall_reply(c, msg);
    ecall_free_msg(c, msg);
    ecall_unref(c);
}

static void on_applied(void *arg, int err)
{
    /* The change is made either way: a failed wait (leader lost, shutdown) only means this
     * member's own view may lag. */
    call_reply(arg);
}

/* The client URL of the current leader this member can dial (http only). Returns 0, or
 * CC_ENOLEADER (none known, or it publishes no http URL yet), CC_ECANCELED (this member leads
 * now: the client should retry here) or CC_ENOMEM. */
static int leader_url(struct fwd_call *fc)
{
    struct etcd_api *a = fc->f->a;
    const struct srv_status *st = etcd__status(a);
    if (!st->leader_id) return CC_ENOLEADER;
    if (st->leader_id == st->member_id) return CC_ECANCELED;
    struct srv_member *v = malloc(FWD_MAX_MEMBERS * sizeof(*v));
    if (!v) return CC_ENOMEM;
    uint32_t n = srv_members(a->m, v, FWD_MAX_MEMBERS);
    int rc = CC_ENOLEADER;
    for (uint32_t i = 0; i < n && rc; i++) {
        if (v[i].id != st->leader_id) continue;
        for (uint32_t u = 0; u < v[i].n_client_urls && rc; u++) {
            if (strncmp(v[i].client_urls[u], "http://", 7)) continue;
            snprintf(fc->url, sizeof(fc->url), "%s", v[i].client_urls[u]);
            rc = 0;
        }
    }
    free(v);
    fc->leader_id = st->leader_id;
    return rc;
}

static void on_reply(void *ud, const struct h2c_reply *r);

/* Sends (or resends) fc to the leader; on failure completes the call. */
static void attempt(struct fwd_call *fc)
{
    struct etcd_fwd *f = fc->f;
    if (f->closing) {
        call_fail(fc, CC_ESTOPPED);
        return;
    }
    uint64_t now = etcd__now_ms();
    if (now >= fc->deadline_ms) {
        call_fail(fc, CC_ETIMEDOUT);
        return;
    }
    int rc = leader_url(fc);
    struct h2c *h = NULL;
    if (!rc) rc = conn_get(f, fc->url, &h);
    if (!rc) {
        fc->attempts++;
        struct h2c_call_opts o = {.timeout_ms = fc->deadline_ms - now};
        rc = h2c_call(h, fc->c->m->path, fc->body, fc->len, &o, on_reply, fc, NULL);
    }
    if (!rc) return;
    if (rc == CC_ETOOBIG) {
        call_fail_status(fc, GRPC_INVALID_ARGUMENT, "etcdserver: request is too large");
        return;
    }
    /* A leader URL that does not parse or cannot be dialled is as good as no leader. */
    if (rc == CC_ECLOSED || rc == CC_EINVAL || rc == CC_EIO) rc = CC_ENOLEADER;
    call_fail(fc, rc); /* CC_ENOLEADER, CC_ECANCELED, CC_EBUSY, CC_ENOMEM */
}

/* The leader's answer, or why there is none. */
static void on_reply(void *ud, const struct h2c_reply *r)
{
    struct fwd_call *fc = ud;
    struct etcd_api *a = fc->f->a;
    struct ecall *c = fc->c;
    bool again = fc->attempts < FWD_MAX_ATTEMPTS && !fc->f->closing;
    if (r->err == 0 && r->code == GRPC_OK) {
        c->pm.limit = c->pm.used + pbmem_budget(r->msg_len);
        fc->answer = pbmem_unpack(&c->pm, fc->resp, r->msg, r->msg_len);
        if (!fc->answer) {
            log_warn(a->log, "forwarding %s: undecodable answer from the leader at %s", c->m->path,
                     fc->url);
            call_fail_status(fc, GRPC_INTERNAL, "concur: malformed answer from the leader");
            return;
        }
        if (!fc->wait_applied || srv_read_barrier(a->m, false, on_applied, fc)) call_reply(fc);
        return;
    }
    if (r->err == 0) {
        /* A member that lost leadership refused it without acting: ask the new leader, if this
         * member already knows another one. */
        if (again && r->code == GRPC_FAILED_PRECONDITION &&
            !strcmp(r->message, "etcdserver: not leader")) {
            const struct srv_status *st = etcd__status(a);
            if (st->leader_id && st->leader_id != fc->leader_id) {
                attempt(fc);
                return;
            }
            call_fail(fc, CC_ECANCELED); /* "leader changed": the client may retry */
            return;
        }
        call_fail_status(fc, r->code, r->message);
        return;
    }
    log_warn(a->log, "forwarding %s to the leader at %s: %s (%s)", c->m->path, fc->url, r->message,
             cc_strerror(r->err));
    switch (r->err) {
    case CC_ECLOSED:
        /* Never seen by the leader (e.g. a kept connection that had died): safe to resend. */
        if (!r->sent && again) {
            attempt(fc);
            return;
        }
        call_fail(fc, r->sent ? CC_ETIMEDOUT : CC_ENOLEADER); /* sent: outcome unknown */
        return;
    case CC_ETIMEDOUT:
        call_fail(fc, CC_ETIMEDOUT);
        return;
    case CC_ECANCELED:
        call_fail(fc, CC_ESTOPPED); /* the API is closing */
        return;
    default: /* CC_ETOOBIG, CC_EPROTO: not an etcd answer */
        fc->f->a->stats.forward_failed++;
        call_fail_status(fc, r->code, "concur: invalid answer from the leader");
        return;
    }
}

void etcd__forward(struct ecall *c, const ProtobufCMessageDescriptor *resp, enum etcd_ctx ctx,
                   bool wait_applied)
{
    struct etcd_api *a = c->api;
    struct etcd_fwd *f = a->fwd;
    if (f->closing) {
        ecall_fail_err(c, CC_ESTOPPED, 0, ctx);
        return;
    }
    if (f->calls >= FWD_MAX_CALLS) {
        a->stats.forward_failed++;
        ecall_fail_err(c, CC_EBUSY, 0, ctx);
        return;
    }
    struct fwd_call *fc = calloc(1, sizeof(*fc));
    size_t len = c->raw_req ? c->req_len : protobuf_c_message_get_packed_size(c->req);
    uint8_t *body = malloc(len ? len : 1);
    if (!fc || !body) {
        free(fc);
        free(body);
        ecall_fail_err(c, CC_ENOMEM, 0, ctx);
        return;
    }
    if (c->raw_req)
        memcpy(body, c->raw_req, len);
    else
        protobuf_c_message_pack(c->req, body);
    uint64_t deadline = etcd__now_ms() + FWD_REQ_TIMEOUT_MS + 2ull * a->o.election_ms;
    if (c->deadline_ms && c->deadline_ms < deadline) deadline = c->deadline_ms;
    fc->f = f;
    fc->c = c;
    fc->resp = resp;
    fc->ctx = ctx;
    fc->wait_applied = wait_applied;
    fc->deadline_ms = deadline;
    fc->body = body;
    fc->len = len;
    c->data = fc;
    f->calls++;
    a->stats.forwarded++;
    attempt(fc);
}
