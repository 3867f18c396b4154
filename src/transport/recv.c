/* recv.c — the receiving half of a peer connection: buffering, frames, handshake, delivery. */
#include <stdio.h>
#include <string.h>

#include "transport/transport_int.h"
#include "util/err.h"
#include "util/log.h"

static const char *kind_name(uint8_t kind)
{
    switch (kind) {
    case TRANSPORT_FRAME_HELLO:
        return "HELLO";
    case TRANSPORT_FRAME_HELLO_OK:
        return "HELLO_OK";
    case TRANSPORT_FRAME_ERROR:
        return "ERROR";
    case TRANSPORT_FRAME_MSG:
        return "MSG";
    default:
        return "unknown";
    }
}

/* The largest body this connection accepts in its current state. Before a HELLO was accepted
 * only a HELLO fits, so a stranger cannot make us buffer a large frame. */
static uint32_t max_body(const struct conn *c)
{
    if (c->outbound) return TRANSPORT_ERROR_FRAME_MAX - TRANSPORT_FRAME_HEADER_BYTES;
    if (c->state == CONN_HELLO_WAIT) return TRANSPORT_HELLO_BODY_BYTES;
    return c->t->o.max_frame_bytes;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = h->data;
    struct buf *rb = &c->rbuf;
    size_t want = TRANSPORT_READ_CHUNK;
    /* A large frame announced by its header is read straight into room for all of it. */
    if (c->frame_need > rb->len && c->frame_need - rb->len > want) want = c->frame_need - rb->len;
    if (want > rb->limit - rb->len) want = rb->limit - rb->len;
    if (rb->cap - rb->len < want && buf_reserve(rb, want) != 0) want = rb->cap - rb->len;
    /* want == 0 makes libuv report UV_ENOBUFS, which closes the connection. */
    *b = uv_buf_init(want ? (char *)rb->data + rb->len : NULL, (unsigned)want);
}

/* --- the handshake ------------------------------------------------------------------------- */

static void refuse(struct conn *c, raft_id from, int code, const char *why)
{
    struct transport *t = c->t;
    t->st.inbound_refused++;
    t->st.last_refusal = code;
    snprintf(t->st.last_refusal_msg, sizeof(t->st.last_refusal_msg), "%s", why);
    log_warn(t->lg, "refused peer connection from %s (member %016llx): %s", c->addr,
             (unsigned long long)from, why);
    transport__conn_send_error(c, code, why);
}

/* Checks a HELLO against our cluster, our ID and the removed members; accepts or refuses. */
static void inbound_hello(struct conn *c, const struct transport_hello *h)
{
    struct transport *t = c->t;
    char why[TRANSPORT_ERRMSG_MAX];
    int code = 0;
    if (h->to != t->o.id) {
        code = CC_ENOTFOUND;
        snprintf(why, sizeof(why), "addressed to member %016llx but this is member %016llx",
                 (unsigned long long)h->to, (unsigned long long)t->o.id);
    } else if (h->from == RAFT_NONE || h->from == t->o.id) {
        code = CC_EINVAL;
        snprintf(why, sizeof(why), "invalid sender ID %016llx", (unsigned long long)h->from);
    } else if (h->cluster_id == 0 || (t->cluster_id != 0 && h->cluster_id != t->cluster_id)) {
        code = CC_ECLUSTER;
        snprintf(why, sizeof(why),
                 "cluster ID mismatch: member %016llx is in cluster %016llx, member %016llx "
                 "in cluster %016llx",
                 (unsigned long long)t->o.id, (unsigned long long)t->cluster_id,
                 (unsigned long long)h->from, (unsigned long long)h->cluster_id);
    } else if (transport__is_removed(t, h->from)) {
        code = CC_EREMOVED;
        snprintf(why, sizeof(why), "member %016llx was removed from the cluster",
                 (unsigned long long)h->from);
    }
    if (code) {
        refuse(c, h->from, code, why);
        return;
    }
    if (t->cluster_id == 0) {
        t->cluster_id = h->cluster_id;
        log_info(t->lg, "learned cluster ID %016llx from member %016llx",
                 (unsigned long long)t->cluster_id, (unsigned long long)h->from);
    }
    /* A member that reconnects leaves its old connection behind (it may not know yet that it
     * broke): the newest one wins, so messages never arrive on two connections at once. */
    for (struct conn *o = t->conns; o; o = o->next) {
        if (o == c || o->closing || o->outbound || o->remote_id != h->from) continue;
        log_info(t->lg, "member %016llx reconnected from %s; closing its connection from %s",
                 (unsigned long long)h->from, c->addr, o->addr);
        transport__conn_close(o);
    }
    c->remote_id = h->from;
    c->state = CONN_OPEN;
    c->deadline_ms = 0;
    t->st.inbound_accepted++;
    log_info(t->lg, "accepted peer connection from member %016llx at %s",
             (unsigned long long)h->from, c->addr);
    struct transport_hello ok = {.cluster_id = t->cluster_id, .from = t->o.id, .to = h->from};
    uint8_t frame[TRANSPORT_FRAME_HEADER_BYTES + TRANSPORT_HELLO_BODY_BYTES];
    transport_frame_encode_hello(TRANSPORT_FRAME_HELLO_OK, &ok, frame);
    if (transport__conn_push_ctrl(c, frame, sizeof(frame))) transport__conn_flush(c);
}

/* The answer to our HELLO: the same three checks from the other side. */
static void outbound_hello_ok(struct conn *c, const struct transport_hello *h)
{
    struct transport *t = c->t;
    struct peer *p = c->peer;
    if (h->cluster_id != t->cluster_id || h->from != p->id || h->to != t->o.id) {
        char why[TRANSPORT_ERRMSG_MAX];
        int code = h->cluster_id != t->cluster_id ? CC_ECLUSTER : CC_ENOTFOUND;
        snprintf(why, sizeof(why),
                 "%s answered as member %016llx of cluster %016llx (expected %016llx of %016llx)",
                 c->addr, (unsigned long long)h->from, (unsigned long long)h->cluster_id,
                 (unsigned long long)p->id, (unsigned long long)t->cluster_id);
        transport__peer_down(t, p, code, why);
        transport__conn_send_error(c, code, why);
        return;
    }
    c->state = CONN_READY;
    c->deadline_ms = 0;
    transport__peer_up(p);
    log_info(t->lg, "connected to peer %016llx at %s", (unsigned long long)p->id, c->addr);
    transport__conn_flush(c);
}

/* The other side tells us why it is closing. */
static void peer_error(struct conn *c, const struct transport_error *e)
{
    if (c->outbound) {
        transport__conn_fail(c, LOG_WARN, e->code, "refused by %s: %s: %s", c->addr,
                             cc_errname(e->code), e->reason);
    } else {
        transport__conn_fail(c, LOG_WARN, e->code, "closed by the peer: %s: %s",
                             cc_errname(e->code), e->reason);
    }
}

/* --- frames -------------------------------------------------------------------------------- */

static void inbound_msg(struct conn *c, struct raft_msg *m, size_t frame_bytes)
{
    struct transport *t = c->t;
    if (m->from != c->remote_id || m->to != t->o.id) {
        raft_id from = m->from, to = m->to;
        transport_msg_free(m);
        transport__conn_protocol_error(c, CC_EPROTO,
                                       "message from %016llx to %016llx on this connection",
                                       (unsigned long long)from, (unsigned long long)to);
        return;
    }
    t->st.msgs_received++;
    t->st.bytes_received += frame_bytes;
    t->o.deliver_cb(t->o.ud, m);
    transport_msg_free(m);
}

static void on_frame(struct conn *c, struct transport_frame *f, size_t frame_bytes)
{
    if (f->kind == TRANSPORT_FRAME_HELLO && c->state == CONN_HELLO_WAIT) {
        inbound_hello(c, &f->hello);
        return;
    }
    if (f->kind == TRANSPORT_FRAME_HELLO_OK && c->state == CONN_HANDSHAKE) {
        outbound_hello_ok(c, &f->hello);
        return;
    }
    if (f->kind == TRANSPORT_FRAME_ERROR && c->state != CONN_HELLO_WAIT) {
        peer_error(c, &f->error);
        return;
    }
    if (f->kind == TRANSPORT_FRAME_MSG) {
        if (c->state == CONN_OPEN) {
            inbound_msg(c, &f->msg, frame_bytes);
            return;
        }
        transport_msg_free(&f->msg);
    }
    transport__conn_protocol_error(c, CC_EPROTO, "unexpected frame kind %u", (unsigned)f->kind);
}

/* A header we cannot accept. A newer peer's HELLO gets a clear answer before we close. */
static void bad_header(struct conn *c, int rc, const struct transport_frame_hdr *h)
{
    if (!c->outbound && c->state == CONN_HELLO_WAIT && h->version != 0 &&
        h->version != TRANSPORT_PROTO_VERSION) {
        char why[TRANSPORT_ERRMSG_MAX];
        snprintf(why, sizeof(why), "unsupported protocol version %u (this member speaks %u)",
                 (unsigned)h->version, (unsigned)TRANSPORT_PROTO_VERSION);
        refuse(c, RAFT_NONE, CC_EPROTO, why);
        return;
    }
    if (rc == CC_ETOOBIG) {
        transport__conn_protocol_error(c, rc, "%s frame of %u bytes over the limit of %u",
                                       kind_name(h->kind), (unsigned)h->body_len,
                                       (unsigned)max_body(c));
        return;
    }
    transport__conn_protocol_error(c, rc, "not a concur peer frame (magic, version or kind)");
}

/* Parses every whole frame in the read buffer and keeps the partial one. Any callback may
 * close the connection (or the transport), which ends the loop; memory stays valid until the
 * close callback. */
static void parse_frames(struct conn *c)
{
    size_t off = 0;
    while (!c->closing && !c->linger) {
        size_t avail = c->rbuf.len - off;
        if (avail < TRANSPORT_FRAME_HEADER_BYTES) break;
        const uint8_t *p = c->rbuf.data + off;
        struct transport_frame_hdr h;
        int rc = transport_frame_parse_header(p, max_body(c), &h);
        if (rc) {
            bad_header(c, rc, &h);
            return;
        }
        size_t total = TRANSPORT_FRAME_HEADER_BYTES + (size_t)h.body_len;
        if (avail < total) {
            c->frame_need = total;
            break;
        }
        struct transport_frame f;
        rc = transport_frame_decode(p, total, max_body(c), &f);
        if (rc) {
            transport__conn_protocol_error(c, rc, "bad %s frame of %zu bytes: %s",
                                           kind_name(h.kind), total, cc_strerror(rc));
            return;
        }
        off += total;
        c->frame_need = 0;
        on_frame(c, &f, total);
    }
    if (c->closing) return;
    buf_consume(&c->rbuf, off);
    /* Give back the room a large frame needed once nothing is pending. */
    if (c->rbuf.len == 0 && c->rbuf.cap > TRANSPORT_READ_KEEP) buf_free(&c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = s->data;
    if (c->closing || nread == 0) return;
    if (nread < 0) {
        int rc = transport__from_uv((int)nread);
        if (nread == UV_ENOBUFS)
            transport__conn_fail(c, LOG_ERROR, CC_ENOMEM, "out of memory for the read buffer");
        else if (c->state == CONN_OPEN)
            transport__conn_fail(c, LOG_INFO, rc, "connection closed: %s", uv_strerror((int)nread));
        else
            transport__conn_fail(c, LOG_DEBUG, rc, "connection lost: %s", uv_strerror((int)nread));
        return;
    }
    c->rbuf.len += (size_t)nread;
    parse_frames(c);
}

int transport__conn_start_reading(struct conn *c)
{
    return uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}
