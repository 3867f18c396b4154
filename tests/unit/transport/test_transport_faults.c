/* test_transport_faults.c — hostile and broken peers: garbage, partial frames, timeouts, limits,
 * and shutdown at awkward moments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "msggen.h"
#include "transport/codec.h"
#include "util/buf.h"
#include "util/err.h"

#define CLUSTER 0xc1c1c1c1c1c1c1c1ull

static int setup(void **state)
{
    *state = h_setup();
    return 0;
}

static int teardown(void **state)
{
    h_teardown(*state);
    return 0;
}

/* --- a raw TCP client that speaks (or mangles) the wire format by hand ------------------- */

struct raw {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uint8_t in[8192];
    size_t in_len;
    bool connected;
    bool eof; /* EOF or a read error: the transport closed us */
    bool closed;
};

struct raw_write {
    uv_write_t req;
    uint8_t bytes[];
};

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct raw *r = h->data;
    *b = uv_buf_init((char *)r->in + r->in_len, (unsigned)(sizeof(r->in) - r->in_len));
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct raw *r = s->data;
    if (n < 0) {
        r->eof = true;
        uv_read_stop(s);
        return;
    }
    r->in_len += (size_t)n;
}

static void raw_connected(uv_connect_t *c, int status)
{
    struct raw *r = c->data;
    assert_int_equal(status, 0);
    r->connected = true;
    uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

static void raw_written(uv_write_t *w, int status)
{
    free(w); /* status may be an error: the transport may have closed us already */
}

static bool cond_raw_connected(struct h_fixture *fx, const void *arg)
{
    return ((const struct raw *)arg)->connected;
}

static bool cond_raw_eof(struct h_fixture *fx, const void *arg)
{
    return ((const struct raw *)arg)->eof;
}

static bool cond_raw_closed(struct h_fixture *fx, const void *arg)
{
    return ((const struct raw *)arg)->closed;
}

static void raw_open(struct h_fixture *fx, struct raw *r, uint16_t port)
{
    memset(r, 0, sizeof(*r));
    uv_tcp_init(&fx->loop, &r->tcp);
    r->tcp.data = r->creq.data = r;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa);
    assert_int_equal(uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)&sa, raw_connected), 0);
    assert_true(h_wait(fx, cond_raw_connected, r));
}

static void raw_send(struct raw *r, const void *bytes, size_t len)
{
    struct raw_write *w = malloc(sizeof(*w) + len);
    memcpy(w->bytes, bytes, len);
    uv_buf_t b = uv_buf_init((char *)w->bytes, (unsigned)len);
    assert_int_equal(uv_write(&w->req, (uv_stream_t *)&r->tcp, &b, 1, raw_written), 0);
}

static void raw_closed(uv_handle_t *h)
{
    ((struct raw *)h->data)->closed = true;
}

static void raw_close(struct h_fixture *fx, struct raw *r)
{
    uv_close((uv_handle_t *)&r->tcp, raw_closed);
    assert_true(h_wait(fx, cond_raw_closed, r));
}

static size_t hello(uint8_t *out, uint64_t cluster, raft_id from, raft_id to)
{
    struct transport_hello h = {.cluster_id = cluster, .from = from, .to = to};
    transport_frame_encode_hello(TRANSPORT_FRAME_HELLO, &h, out);
    return TRANSPORT_FRAME_HEADER_BYTES + TRANSPORT_HELLO_BODY_BYTES;
}

/* Appends the frame for gen_msg(seq, from, to) at out; returns its size. */
static size_t msg_frame(uint8_t *out, uint64_t seq, raft_id from, raft_id to)
{
    struct raft_msg m;
    gen_msg(&m, seq, from, to);
    size_t n;
    assert_int_equal(transport_frame_msg_size(&m, &n), 0);
    assert_true(n < 64 * 1024);
    transport_frame_encode_msg(&m, out);
    gen_free(&m);
    return n;
}

static struct transport_stats stats(struct h_fixture *fx, int i)
{
    struct transport_stats st;
    transport_stats(fx->n[i].t, &st);
    return st;
}

/* Sends bytes from a fresh connection and waits until the transport hangs up. */
static void expect_hangup(struct h_fixture *fx, struct raw *r, const void *bytes, size_t len)
{
    raw_open(fx, r, fx->n[1].port);
    raw_send(r, bytes, len);
    assert_true(h_wait(fx, cond_raw_eof, r));
    raw_close(fx, r);
}

static void test_garbage_gets_disconnected(void **state)
{
    struct h_fixture *fx = *state;
    h_start_default(fx, 1, CLUSTER);
    struct h_node *n1 = &fx->n[1];
    struct raw r;
    uint8_t *buf = malloc(256 * 1024);
    size_t n;

    /* Not a peer at all. */
    const char http[] = "GET /members HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_hangup(fx, &r, http, sizeof(http) - 1);
    assert_int_equal(r.in_len, 0);
    assert_int_equal(stats(fx, 1).protocol_errors, 1);

    /* A real handshake and message, then a frame with a bad CRC. Member 7 is not one of our
     * peers: unknown senders are accepted (they may know of us before we know of them). */
    n = hello(buf, CLUSTER, 7, 1);
    n += msg_frame(buf + n, 0, 7, 1);
    size_t bad = n;
    n += msg_frame(buf + n, 1, 7, 1);
    buf[bad + TRANSPORT_FRAME_HEADER_BYTES + 3] ^= 0x40;
    expect_hangup(fx, &r, buf, n);
    assert_int_equal(n1->received[7], 1);
    assert_int_equal(n1->bad, 0);
    assert_int_equal(stats(fx, 1).protocol_errors, 2);
    struct transport_frame f;
    size_t okn = TRANSPORT_FRAME_HEADER_BYTES + TRANSPORT_HELLO_BODY_BYTES;
    assert_true(r.in_len >= okn);
    assert_int_equal(transport_frame_decode(r.in, okn, 64, &f), 0);
    assert_int_equal(f.kind, TRANSPORT_FRAME_HELLO_OK);
    assert_true(f.hello.from == 1 && f.hello.to == 7 && f.hello.cluster_id == CLUSTER);

    /* A message claiming another sender than the handshake did. */
    n = hello(buf, CLUSTER, 7, 1);
    n += msg_frame(buf + n, 5, 8, 1);
    expect_hangup(fx, &r, buf, n);
    assert_int_equal(n1->received[8], 0);
    assert_int_equal(stats(fx, 1).protocol_errors, 3);

    /* A huge frame announced before any handshake: refused from its header alone. */
    memset(buf, 0, TRANSPORT_FRAME_HEADER_BYTES);
    transport_frame_seal(buf, TRANSPORT_FRAME_MSG, 0);
    put_u32le(buf + 4, 16u << 20);
    expect_hangup(fx, &r, buf, TRANSPORT_FRAME_HEADER_BYTES);
    assert_int_equal(stats(fx, 1).protocol_errors, 4);

    /* A message before the handshake. */
    n = msg_frame(buf, 0, 7, 1);
    expect_hangup(fx, &r, buf, n);
    assert_int_equal(stats(fx, 1).protocol_errors, 5);

    /* A newer protocol version is told why, in an ERROR frame, before the close. */
    n = hello(buf, CLUSTER, 7, 1);
    buf[2] = TRANSPORT_PROTO_VERSION + 1;
    expect_hangup(fx, &r, buf, n);
    struct transport_frame_hdr h;
    assert_true(r.in_len >= TRANSPORT_FRAME_HEADER_BYTES);
    assert_int_equal(transport_frame_parse_header(r.in, 1024, &h), 0);
    assert_int_equal(
        transport_frame_decode(r.in, TRANSPORT_FRAME_HEADER_BYTES + h.body_len, 1024, &f), 0);
    assert_int_equal(f.kind, TRANSPORT_FRAME_ERROR);
    assert_int_equal(f.error.code, CC_EPROTO);
    assert_non_null(strstr(f.error.reason, "unsupported protocol version"));
    struct transport_stats st = stats(fx, 1);
    assert_int_equal(st.last_refusal, CC_EPROTO);
    assert_int_equal(st.inbound_refused, 1);
    assert_int_equal(st.protocol_errors, 5);

    H_WAIT_UNTIL(fx, stats(fx, 1).inbound_open == 0);
    assert_int_equal(stats(fx, 1).msgs_received, 1);
    free(buf);
}

/* Frames cut into small pieces, each written on its own loop turn, still arrive whole. */
static void test_partial_reads(void **state)
{
    struct h_fixture *fx = *state;
    h_start_default(fx, 1, CLUSTER);
    uint8_t *buf = malloc(512 * 1024);
    size_t n = hello(buf, CLUSTER, 7, 1);
    /* Messages 9..40: every type, no 1 MiB chunk (those are covered by the flow test). */
    for (uint64_t seq = 9; seq < 41; seq++) n += msg_frame(buf + n, seq, 7, 1);
    struct raw r;
    raw_open(fx, &r, fx->n[1].port);
    for (size_t off = 0; off < n;) {
        /* 1..13 bytes at first, so headers and varints split everywhere, then up to 1 KB. */
        size_t piece = off < 4096 ? (off / 7) % 13 + 1 : off % 997 + 1;
        if (piece > n - off) piece = n - off;
        raw_send(&r, buf + off, piece);
        off += piece;
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    }
    struct h_count c = {1, 7, 32};
    assert_true(h_wait(fx, h_cond_received, &c));
    assert_int_equal(fx->n[1].bad, 0);
    assert_int_equal(fx->n[1].next_ctx[7], 41);
    assert_int_equal(fx->n[1].gaps[7], 9); /* 0..8 were never sent */
    assert_false(r.eof);
    raw_close(fx, &r);
    free(buf);
}

/* A member created with cluster ID 0 adopts the first accepted peer's cluster and then holds
 * every other peer to it. */
static void test_cluster_id_learned_once(void **state)
{
    struct h_fixture *fx = *state;
    h_start_default(fx, 1, 0);
    assert_true(transport_cluster_id(fx->n[1].t) == 0);
    uint8_t buf[64];
    struct raw a, b;
    raw_open(fx, &a, fx->n[1].port);
    raw_send(&a, buf, hello(buf, CLUSTER, 7, 1));
    H_WAIT_UNTIL(fx, stats(fx, 1).inbound_accepted == 1);
    assert_true(transport_cluster_id(fx->n[1].t) == CLUSTER);
    expect_hangup(fx, &b, buf, hello(buf, CLUSTER + 5, 8, 1));
    assert_int_equal(stats(fx, 1).last_refusal, CC_ECLUSTER);
    expect_hangup(fx, &b, buf, hello(buf, 0, 8, 1)); /* an unknown cluster is never accepted */
    assert_int_equal(stats(fx, 1).inbound_refused, 2);
    raw_close(fx, &a);
}

/* --- deadlines and limits ------------------------------------------------------------------ */

struct silent_server {
    uv_tcp_t listener;
    uv_tcp_t conn;
    bool accepted;
    int closed;
    char sink[4096]; /* what the transport sends is read and ignored */
};

static void silent_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    struct silent_server *ss = h->data;
    *b = uv_buf_init(ss->sink, sizeof(ss->sink));
}

static void silent_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n < 0) uv_read_stop(s);
}

static void silent_accept(uv_stream_t *server, int status)
{
    struct silent_server *ss = server->data;
    assert_int_equal(status, 0);
    assert_false(ss->accepted);
    uv_tcp_init(server->loop, &ss->conn);
    ss->conn.data = ss;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&ss->conn), 0);
    uv_read_start((uv_stream_t *)&ss->conn, silent_alloc, silent_read);
    ss->accepted = true;
}

static void silent_closed(uv_handle_t *h)
{
    ((struct silent_server *)h->data)->closed++;
}

static bool cond_silent_closed(struct h_fixture *fx, const void *arg)
{
    return ((const struct silent_server *)arg)->closed == 2;
}

static void test_handshake_deadlines(void **state)
{
    struct h_fixture *fx = *state;
    struct transport_options o;
    h_options(fx, 1, CLUSTER, 0, &o);
    o.handshake_timeout_ms = 100;
    h_start(fx, 1, &o);

    /* Inbound: a connection that never says HELLO is closed. */
    struct raw r;
    raw_open(fx, &r, fx->n[1].port);
    assert_true(h_wait(fx, cond_raw_eof, &r));
    raw_close(fx, &r);
    H_WAIT_UNTIL(fx, stats(fx, 1).inbound_open == 0);

    /* Outbound: a listener that accepts and never answers the HELLO. */
    struct silent_server ss = {0};
    uv_tcp_init(&fx->loop, &ss.listener);
    ss.listener.data = &ss;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&ss.listener, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&ss.listener, 8, silent_accept), 0);
    int len = sizeof(sa);
    uv_tcp_getsockname(&ss.listener, (struct sockaddr *)&sa, &len);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    assert_int_equal(transport_add_peer(fx->n[1].t, 5, url), 0);
    struct transport_peer_stats ps;
    H_WAIT_UNTIL(fx,
                 transport_peer_stats(fx->n[1].t, 5, &ps) == 0 && ps.last_error == CC_ETIMEDOUT);
    assert_true(ss.accepted);
    assert_false(ps.connected);
    assert_int_equal(transport_remove_peer(fx->n[1].t, 5), 0);
    uv_close((uv_handle_t *)&ss.listener, silent_closed);
    uv_close((uv_handle_t *)&ss.conn, silent_closed);
    assert_true(h_wait(fx, cond_silent_closed, &ss));
}

static void test_inbound_connection_limit(void **state)
{
    struct h_fixture *fx = *state;
    struct transport_options o;
    h_options(fx, 1, CLUSTER, 0, &o);
    o.max_inbound = 2;
    o.handshake_timeout_ms = 600000; /* the silent connections must outlive the test */
    h_start(fx, 1, &o);
    struct raw r[3];
    for (int i = 0; i < 2; i++) raw_open(fx, &r[i], fx->n[1].port);
    H_WAIT_UNTIL(fx, stats(fx, 1).inbound_open == 2);
    raw_open(fx, &r[2], fx->n[1].port);
    assert_true(h_wait(fx, cond_raw_eof, &r[2]));
    assert_int_equal(stats(fx, 1).inbound_rejected, 1);
    assert_false(r[0].eof || r[1].eof);
    for (int i = 0; i < 3; i++) raw_close(fx, &r[i]);
    H_WAIT_UNTIL(fx, stats(fx, 1).inbound_open == 0);
}

/* --- shutdown at awkward moments ----------------------------------------------------------- */

static void test_close_while_resolving_and_queued(void **state)
{
    struct h_fixture *fx = *state;
    h_start_default(fx, 1, CLUSTER);
    h_start_default(fx, 2, CLUSTER);
    char url[64];
    /* A DNS name goes through getaddrinfo on the loop's thread pool. */
    snprintf(url, sizeof(url), "http://localhost:%u", (unsigned)fx->n[2].port);
    assert_int_equal(transport_add_peer(fx->n[1].t, 2, url), 0);
    struct h_pair p = {1, 2};
    assert_true(h_wait(fx, h_cond_connected, &p));
    /* Now a resolution in flight, queued messages, and the close in the same turn. */
    snprintf(url, sizeof(url), "http://localhost:%u", (unsigned)fx->n[2].port);
    assert_int_equal(transport_add_peer(fx->n[1].t, 3, url), 0);
    for (uint64_t seq = 0; seq < 20; seq++) {
        assert_int_equal(h_send(fx, 1, 2, seq), 0);
        assert_int_equal(h_send(fx, 1, 3, seq), 0);
    }
    h_stop(fx, 1); /* done fires exactly once; teardown checks no handle is left */
    assert_int_equal(fx->n[1].reports, 0); /* nothing reported after close */
}

static void close_from_deliver(void *ud, const struct raft_msg *m)
{
    struct h_node *nd = ud;
    nd->received[m->from]++;
    transport_close(nd->t, NULL, NULL);
    nd->t = NULL;
}

static bool cond_n2_closed(struct h_fixture *fx, const void *arg)
{
    return fx->n[2].received[1] > 0 && fx->n[2].t == NULL;
}

static void test_close_from_inside_deliver(void **state)
{
    struct h_fixture *fx = *state;
    struct transport_options o;
    h_options(fx, 2, CLUSTER, 0, &o);
    o.deliver_cb = close_from_deliver;
    h_start(fx, 2, &o);
    h_start_default(fx, 1, CLUSTER);
    char url[64];
    assert_int_equal(transport_add_peer(fx->n[1].t, 2, h_url(fx, 2, url, sizeof(url))), 0);
    /* Several frames arrive in one read: none is delivered after the close. */
    for (uint64_t seq = 0; seq < 10; seq++) assert_int_equal(h_send(fx, 1, 2, seq), 0);
    assert_true(h_wait(fx, cond_n2_closed, NULL));
    h_run_for(fx, 50);
    assert_int_equal(fx->n[2].received[1], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_garbage_gets_disconnected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_id_learned_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_deadlines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbound_connection_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_while_resolving_and_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_inside_deliver, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
