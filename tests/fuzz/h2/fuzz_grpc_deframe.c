/* fuzz_grpc_deframe.c — libFuzzer target: the gRPC message de-framer under arbitrary bytes,
 * limits and chunking; checks delivered sizes and that the shared budget always balances. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/grpc/grpc_frame.h"

struct seen {
    uint32_t max;
    size_t total;
};

static int on_msg(void *arg, const uint8_t *msg, size_t len)
{
    struct seen *s = arg;
    assert(msg != NULL && len <= s->max);
    s->total += len;
    if (len) assert(msg[0] == msg[0] && msg[len - 1] == msg[len - 1]); /* readable */
    return len == 13 ? 1 : 0; /* sometimes the consumer stops */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    uint32_t max = (uint32_t)data[0] << 4;      /* 0..4080 */
    size_t budget_limit = (size_t)data[1] << 5; /* 0..8160 */
    size_t chunk = (size_t)(data[2] % 64) + 1;
    data += 3;
    size -= 3;
    size_t budget = 0;
    struct grpc_deframer d;
    grpc_deframer_init(&d, max, &budget, budget_limit);
    struct seen s = {max, 0};
    char msg[160];
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        int rc = grpc_deframer_feed(&d, data + off, n, on_msg, &s);
        assert(budget <= budget_limit);
        if (rc && grpc_deframer_code(&d)) {
            assert(rc == grpc_deframer_code(&d));
            grpc_deframer_errmsg(&d, msg, sizeof(msg));
            assert(strlen(msg) > 0);
        }
    }
    grpc_deframer_free(&d);
    assert(budget == 0);
    /* The text codecs on the same bytes. */
    char enc[3 * 64 + 1], dec[3 * 64 + 1];
    size_t m = size < 64 ? size : 64;
    char in[65];
    memcpy(in, data, m);
    in[m] = 0;
    int n = grpc_percent_encode(in, m, enc, sizeof(enc));
    assert(n >= 0);
    size_t back = grpc_percent_decode(enc, (size_t)n, dec, sizeof(dec));
    assert(back == strlen(in) && memcmp(dec, in, back) == 0);
    uint64_t ms;
    grpc_timeout_parse((const char *)data, size < 12 ? size : 12, &ms);
    return 0;
}
