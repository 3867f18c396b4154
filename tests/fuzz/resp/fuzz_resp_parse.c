/* fuzz_resp_parse.c — libFuzzer target for the RESP2 request parser: no crash or overread on
 * any input, the same result however the input is split into reads, and every parsed command
 * re-encoded as multibulk parses back to the same arguments. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/resp/resp_enc.h"
#include "api/resp/resp_parse.h"
#include "util/buf.h"
#include "util/err.h"

/* Small limits so the fuzzer reaches every limit branch with short inputs. */
static const struct resp_parse_limits small = {
    .max_bulk_len = 64, .max_args = 8, .max_request_bytes = 256, .max_inline_len = 48};

/* A fingerprint of everything the parser reported: commands, arguments and the outcome. */
struct digest {
    uint64_t h;
    size_t commands;
};

static void mix(struct digest *d, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) d->h = (d->h ^ b[i]) * 1099511628211ull;
}

/* Checks one parsed command: sane sizes, arguments inside data, and the round trip. */
static void check_command(const struct resp_parser *p, const char *data, size_t used, int multibulk,
                          const struct resp_parse_limits *lim)
{
    assert(p->argc <= lim->max_args);
    assert(used <= lim->max_request_bytes || !multibulk);
    struct buf b;
    buf_init(&b, 1 << 20);
    int rc = resp_enc_array(&b, p->argc);
    for (size_t i = 0; i < p->argc; i++) {
        const struct resp_str *a = &p->argv[i];
        assert(a->p >= data && a->p + a->len <= data + used);
        assert(a->len <= lim->max_bulk_len || !multibulk);
        if (!rc) rc = resp_enc_bulk(&b, a->p, a->len);
    }
    /* Length headers have one spelling (string2ll), so a multibulk command re-encodes to
     * exactly the bytes it was parsed from. */
    if (!rc && p->argc > 0 && multibulk) assert(b.len == used && !memcmp(b.data, data, used));
    if (!rc && p->argc > 0 && b.len <= lim->max_request_bytes) {
        struct resp_parser q;
        resp_parser_init(&q, lim);
        size_t qused = 0;
        int r = resp_parse(&q, (char *)b.data, b.len, &qused);
        if (r == RESP_PARSE_DONE) {
            assert(qused == b.len && q.argc == p->argc);
            for (size_t i = 0; i < q.argc; i++) {
                assert(q.argv[i].len == p->argv[i].len);
                assert(memcmp(q.argv[i].p, p->argv[i].p, q.argv[i].len) == 0);
            }
        } else { /* only an inline argument may exceed max_bulk_len */
            assert(r == CC_EPROTO && !multibulk);
        }
        resp_parser_free(&q);
    }
    buf_free(&b);
}

/* Feeds data in chunks of `step` bytes (0 = all at once) through one parser. */
static struct digest run(const uint8_t *data, size_t size, size_t step,
                         const struct resp_parse_limits *lim)
{
    struct digest d = {1469598103934665603ull, 0};
    struct resp_parser p;
    resp_parser_init(&p, lim);
    char *pending = NULL;
    size_t plen = 0, fed = 0;
    int done = 0;
    while (!done && fed < size) {
        size_t take = step ? step : size;
        if (take > size - fed) take = size - fed;
        char *n = malloc(plen + take + 1); /* a fresh copy each time: stale pointers fault */
        assert(n);
        if (plen) memcpy(n, pending, plen);
        memcpy(n + plen, data + fed, take);
        free(pending);
        pending = n;
        plen += take;
        fed += take;
        for (;;) {
            size_t used = 0;
            int multibulk = pending[0] == '*'; /* inline parsing rewrites the bytes */
            int rc = resp_parse(&p, pending, plen, &used);
            if (rc == RESP_PARSE_MORE) break;
            if (rc < 0) {
                mix(&d, p.err, strlen(p.err));
                done = 1;
                break;
            }
            assert(rc == RESP_PARSE_DONE && used > 0 && used <= plen);
            check_command(&p, pending, used, multibulk, lim);
            d.commands++;
            mix(&d, &p.argc, sizeof(p.argc));
            for (size_t i = 0; i < p.argc; i++) {
                mix(&d, &p.argv[i].len, sizeof(p.argv[i].len));
                mix(&d, p.argv[i].p, p.argv[i].len);
            }
            memmove(pending, pending + used, plen - used);
            plen -= used;
        }
    }
    free(pending);
    resp_parser_free(&p);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = 1 + data[0] % 7;
    const struct resp_parse_limits *lim = (data[0] & 0x80) ? &small : NULL;
    struct resp_parse_limits def;
    if (!lim) {
        struct resp_parser probe;
        resp_parser_init(&probe, NULL);
        def = probe.lim;
        lim = &def;
    }
    data++;
    size--;
    struct digest whole = run(data, size, 0, lim);
    struct digest split = run(data, size, step, lim);
    assert(whole.h == split.h && whole.commands == split.commands);
    return 0;
}
