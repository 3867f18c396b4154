/* fuzz_http1.c — libFuzzer target: the HTTP/1.1 request parser and the connection engine
 * (pipelining, bodies, refusals, streamed responses under back-pressure, EOF) on arbitrary
 * bytes fed in arbitrary pieces. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/http/http.h"
#include "api/http/http1_conn.h"
#include "api/http/http1_parse.h"
#include "handlers.h"
#include "util/err.h"

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
    /* The parser alone on the whole input. */
    struct http1_limits lim;
    http1_limits_default(&lim);
    lim.max_body_bytes = 4096;
    size_t scanned = 0;
    size_t hl = http1_find_head_end(data, size, &scanned);
    static struct http1_request req;
    int status;
    if (hl && http1_parse_head(data, hl, &lim, &req, &status) != 0)
        assert(status >= 400 && status <= 505);

    /* The connection engine, in pieces, with a small output bound. */
    size_t chunk = (size_t)(data[0] % 97) + 1;
    struct sink out = {0, (size_t)data[1] * 64 + 1};
    data += 2;
    size -= 2;
    static struct th_state st;
    memset(&st, 0, sizeof(st));
    struct http_router *router;
    if (http_router_new(&router)) return 0;
    th_register(&st, NULL, router);
    struct http1_conn *c;
    struct http1_io io = {&out, room, write_out, want};
    if (http1_conn_new(router, &lim, &io, &c)) abort();
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        size_t r = http1_conn_read_room(c);
        if (r == 0) break;
        if (n > r) n = r;
        if (http1_conn_recv(c, data + off, n) != 0) abort();
        http1_conn_process(c);
        out.len = 0; /* the client read everything */
        th_run_deferred(&st);
        http1_conn_process(c);
    }
    http1_conn_eof(c);
    http1_conn_process(c);
    http1_conn_free(c);
    th_run_deferred(&st);
    http_router_free(router);
    return 0;
}
