/* fuzz_kv_cmd.c — libFuzzer target for the replicated command decoder (and the stored result
 * decoder the session table reads back): no crash, no leak, and whatever decodes re-encodes
 * to a form that decodes to the same bytes again. The first input byte picks the decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv/internal.h"
#include "kv/kv_cmd.h"

static void check_cmd(const uint8_t *data, size_t size)
{
    struct kv_arena a = {0};
    struct kv_cmd c;
    int msg;
    if (kv_cmd_decode(data, size, &a, &c, &msg) == 0) {
        kv_cmd_check(&c, &msg);
        if (c.type == KV_CMD_TXN) (void)kv_txn_is_readonly(&c.u.txn);
        struct buf b1, b2;
        buf_init(&b1, KV_CMD_MAX);
        buf_init(&b2, KV_CMD_MAX);
        if (kv_cmd_encode(&c, &b1)) abort();
        struct kv_arena a2 = {0};
        struct kv_cmd c2;
        if (kv_cmd_decode(b1.data, b1.len, &a2, &c2, &msg)) abort();
        if (kv_cmd_encode(&c2, &b2)) abort();
        if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len)) abort();
        kv_arena_free(&a2);
        buf_free(&b1);
        buf_free(&b2);
    }
    kv_arena_free(&a);
}

static void check_result(const uint8_t *data, size_t size)
{
    struct kv_result r;
    if (kv__result_decode(data, size, &r) == 0) {
        struct buf b;
        buf_init(&b, 1u << 24);
        if (kv__result_encode(&r, &b)) abort();
        struct kv_result r2;
        if (kv__result_decode(b.data, b.len, &r2)) abort();
        kv_result_free(&r2);
        buf_free(&b);
        kv_result_free(&r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    if (data[0] & 1)
        check_result(data + 1, size - 1);
    else
        check_cmd(data + 1, size - 1);
    return 0;
}
