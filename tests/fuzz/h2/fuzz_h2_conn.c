/* fuzz_h2_conn.c — libFuzzer target: arbitrary bytes after the HTTP/2 client preface into the
 * gRPC-over-HTTP/2 engine with the test handlers; output bound and reading vary. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/grpc/grpc.h"
#include "api/grpc/h2_conn.h"
#include "handlers.h"

struct sink {
    size_t len;
    size_t bound;
};

static size_t room(void *ctx)
{
    struct sink *s = ctx;
    return s->len < s->bound ? s->bound - s->len : 0;
}

static int write_out(void *ctx, const void *p, size_t n)
{
    struct sink *s = ctx;
    s->len += n;
    return 0;
}

static void want(void *ctx) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t chunk = (size_t)(data[0] % 251) + 1;
    struct sink out = {0, (size_t)data[1] * 256 + 1};
    data += 2;
    size -= 2;
    static struct th_state st;
    memset(&st, 0, sizeof(st));
    struct grpc_limits lim;
    grpc_limits_default(&lim);
    lim.max_recv_msg_bytes = 4096;
    lim.conn_recv_buffer_bytes = 16384;
    lim.stream_send_queue_bytes = 8192;
    lim.max_concurrent_streams = 16;
    lim.max_send_msg_bytes = 65536; /* the Stream handler sizes messages from the input */
    struct grpc_server *srv;
    if (grpc_server_new(&lim, NULL, &srv)) abort();
    th_register(&st, srv, NULL);
    struct h2_conn *h;
    struct h2_io io = {&out, room, write_out, want};
    if (h2_conn_new(srv, &io, &h)) abort();
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    int rc = h2_conn_recv(h, (const uint8_t *)preface, 24);
    for (size_t off = 0; off < size && rc == 0; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        rc = h2_conn_recv(h, data + off, n);
        h2_conn_send(h);
        out.len = 0;
        th_run_deferred(&st);
        h2_conn_send(h);
    }
    h2_conn_free(h);
    th_run_deferred(&st);
    assert(grpc_server_stats(srv)->calls_active == 0);
    grpc_server_free(srv);
    return 0;
}
