/* bench_transport.c — loopback throughput of the peer transport: two members on one loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "transport/codec.h"
#include "transport/transport.h"
#include "util/clock.h"
#include "util/err.h"

/* Both ends run on one loop and one thread, so a figure is the cost of sending and receiving
 * together: a lower bound for two members on two cores. */

struct bench {
    uv_loop_t loop;
    uv_idle_t feeder;
    struct transport *a, *b;
    struct raft_msg proto; /* the message sent, ctx = sequence number */
    uint64_t total, sent, received, next, dropped;
    size_t frame_bytes;
    uint64_t max_queue_bytes;
    uint32_t window;
    int closed;
};

static void on_deliver(void *ud, const struct raft_msg *m)
{
    struct bench *bn = ud;
    if (m->ctx > bn->next) bn->dropped += m->ctx - bn->next;
    bn->next = m->ctx + 1;
    bn->received++;
}

static void on_report(void *ud, raft_id peer, bool snapshot_failed)
{
    (void)ud;
    (void)peer;
    (void)snapshot_failed;
}

/* Keeps up to `window` messages queued: the queue is the only backpressure a sender has. */
static void on_feed(uv_idle_t *h)
{
    struct bench *bn = h->data;
    struct transport_peer_stats ps;
    transport_peer_stats(bn->a, 2, &ps);
    if (!ps.connected) return;
    while (bn->sent < bn->total && ps.msgs_queued < bn->window &&
           ps.bytes_queued + bn->frame_bytes <= bn->max_queue_bytes) {
        bn->proto.ctx = bn->sent;
        if (transport_send(bn->a, &bn->proto) != 0) break;
        bn->sent++;
        ps.msgs_queued++;
        ps.bytes_queued += bn->frame_bytes;
    }
    if (bn->sent == bn->total) uv_idle_stop(h);
}

static void on_closed(void *ud)
{
    ((struct bench *)ud)->closed++;
}

static int run_case(const char *name, struct raft_msg *m, uint64_t total)
{
    struct bench bn;
    memset(&bn, 0, sizeof(bn));
    uv_loop_init(&bn.loop);
    bn.proto = *m;
    bn.total = total;
    bn.window = 1024;
    struct transport_options o;
    transport_options_default(&o);
    o.cluster_id = 0xbe;
    o.deliver_cb = on_deliver;
    o.report_cb = on_report;
    o.ud = &bn;
    o.listen_url = "127.0.0.1:0";
    o.id = 2;
    int rc = transport_new(&bn.loop, NULL, &o, &bn.b);
    o.id = 1;
    if (rc == 0) rc = transport_new(&bn.loop, NULL, &o, &bn.a);
    if (rc) {
        fprintf(stderr, "transport_new: %s\n", cc_strerror(rc));
        return 1;
    }
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)transport_port(bn.b));
    transport_add_peer(bn.a, 2, url);
    transport_frame_msg_size(m, &bn.frame_bytes);
    size_t fsize = bn.frame_bytes;
    bn.max_queue_bytes = o.max_queue_bytes;

    uv_idle_init(&bn.loop, &bn.feeder);
    bn.feeder.data = &bn;
    uv_idle_start(&bn.feeder, on_feed);
    /* Connection set-up is not timed: wait for the first message to arrive. */
    while (bn.received == 0) uv_run(&bn.loop, UV_RUN_ONCE);
    uint64_t t0 = clock_mono_ns();
    uint64_t r0 = bn.received;
    while (bn.received < total) uv_run(&bn.loop, UV_RUN_ONCE);
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    double msgs = (double)(bn.received - r0);

    printf("transport_%s_msgs_per_s: %.0f\n", name, msgs / secs);
    printf("transport_%s_mib_per_s: %.1f\n", name, msgs * (double)fsize / secs / (1 << 20));
    printf("transport_%s_frame_bytes: %zu\n", name, fsize);
    if (bn.dropped) printf("transport_%s_dropped: %llu\n", name, (unsigned long long)bn.dropped);

    uv_close((uv_handle_t *)&bn.feeder, NULL);
    transport_close(bn.a, on_closed, &bn);
    transport_close(bn.b, on_closed, &bn);
    uv_run(&bn.loop, UV_RUN_DEFAULT);
    return uv_loop_close(&bn.loop) == 0 && bn.closed == 2 ? 0 : 1;
}

/* bench_transport_main has the signature of a concur-bench subcommand, so this file can move
 * to bench/ as it is. */
int bench_transport_main(int argc, char **argv);

int bench_transport_main(int argc, char **argv)
{
    uint64_t scale = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    if (scale == 0) scale = 1;
    int rc = 0;
    struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 7, .commit = 1e6};
    rc |= run_case("heartbeat", &hb, 400000 * scale);

    uint8_t *payload = malloc(1u << 20);
    if (!payload) return 1;
    memset(payload, 0x5a, 1u << 20);
    struct raft_entry e1 = {.term = 7, .index = 1000, .type = RAFT_ENTRY_NORMAL, .len = 128};
    e1.data = payload;
    struct raft_msg ap = {.type = RAFT_MSG_APPEND,
                          .from = 1,
                          .to = 2,
                          .term = 7,
                          .index = 999,
                          .log_term = 7,
                          .commit = 990,
                          .n_entries = 1,
                          .entries = &e1};
    rc |= run_case("append_1x128B", &ap, 300000 * scale);

    struct raft_entry e64[64];
    for (int i = 0; i < 64; i++)
        e64[i] = (struct raft_entry){.term = 7,
                                     .index = 1000u + (uint64_t)i,
                                     .type = RAFT_ENTRY_NORMAL,
                                     .len = 256,
                                     .data = payload};
    ap.n_entries = 64;
    ap.entries = e64;
    rc |= run_case("append_64x256B", &ap, 40000 * scale);

    struct raft_msg sn = {.type = RAFT_MSG_SNAPSHOT,
                          .from = 1,
                          .to = 2,
                          .term = 7,
                          .len = 1u << 20,
                          .data = payload,
                          .snap_size = 1u << 30};
    rc |= run_case("snapshot_1MiB", &sn, 1000 * scale);
    free(payload);
    return rc;
}
