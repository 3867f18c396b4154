/* test_grpc_frame.c — unit tests for gRPC de-framing, grpc-message encoding, grpc-timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/grpc/grpc_frame.h"
#include "util/err.h"

struct got {
    int n;
    size_t lens[8];
    uint8_t data[8][64];
    int stop_after;
};

static int collect(void *arg, const uint8_t *msg, size_t len)
{
    struct got *g = arg;
    assert_non_null(msg);
    assert_true(g->n < 8 && len <= 64);
    g->lens[g->n] = len;
    memcpy(g->data[g->n], msg, len);
    g->n++;
    return g->stop_after && g->n == g->stop_after ? 7 : 0;
}

static size_t frame(uint8_t *out, uint8_t flag, const char *payload, size_t n)
{
    grpc_frame_put_header(out, (uint32_t)n);
    out[0] = flag;
    memcpy(out + 5, payload, n);
    return 5 + n;
}

static void test_deframe_every_split(void **state)
{
    (void)state;
    uint8_t wire[128];
    size_t n = frame(wire, 0, "hello", 5);
    n += frame(wire + n, 0, "", 0);
    n += frame(wire + n, 0, "0123456789abcdefghij", 20);
    size_t budget = 0;
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            struct grpc_deframer d;
            grpc_deframer_init(&d, 64, &budget, 1 << 20);
            struct got g = {0};
            assert_int_equal(grpc_deframer_feed(&d, wire, a, collect, &g), 0);
            assert_int_equal(grpc_deframer_feed(&d, wire + a, b - a, collect, &g), 0);
            assert_int_equal(grpc_deframer_feed(&d, wire + b, n - b, collect, &g), 0);
            assert_int_equal(g.n, 3);
            assert_int_equal(g.lens[0], 5);
            assert_memory_equal(g.data[0], "hello", 5);
            assert_int_equal(g.lens[1], 0);
            assert_int_equal(g.lens[2], 20);
            assert_memory_equal(g.data[2], "0123456789abcdefghij", 20);
            assert_true(grpc_deframer_idle(&d));
            grpc_deframer_free(&d);
            assert_int_equal(budget, 0); /* every partial buffer was returned */
        }
    }
}

static void test_deframe_refusals(void **state)
{
    (void)state;
    char msg[160];
    uint8_t hdr[5];
    struct grpc_deframer d;
    struct got g = {0};

    grpc_deframer_init(&d, 100, NULL, 0);
    grpc_frame_put_header(hdr, 101);
    assert_int_equal(grpc_deframer_feed(&d, hdr, 5, collect, &g), GRPC_RESOURCE_EXHAUSTED);
    assert_string_equal(grpc_deframer_errmsg(&d, msg, sizeof(msg)),
                        "grpc: received message larger than max (101 vs. 100)");
    /* Sticky, and nothing was buffered for the refused message. */
    assert_int_equal(grpc_deframer_feed(&d, (const uint8_t *)"x", 1, collect, &g),
                     GRPC_RESOURCE_EXHAUSTED);
    assert_null(d.msg);
    grpc_deframer_free(&d);

    uint8_t wire[16];
    size_t n = frame(wire, 1, "abc", 3);
    grpc_deframer_init(&d, 100, NULL, 0);
    assert_int_equal(grpc_deframer_feed(&d, wire, n, collect, &g), GRPC_UNIMPLEMENTED);
    grpc_deframer_free(&d);

    n = frame(wire, 2, "abc", 3);
    grpc_deframer_init(&d, 100, NULL, 0);
    assert_int_equal(grpc_deframer_feed(&d, wire, n, collect, &g), GRPC_INTERNAL);
    assert_int_equal(grpc_deframer_code(&d), GRPC_INTERNAL);
    grpc_deframer_free(&d);
    assert_int_equal(g.n, 0);
}

static void test_deframe_budget_and_stop(void **state)
{
    (void)state;
    size_t budget = 0;
    struct grpc_deframer a, b;
    grpc_deframer_init(&a, 1000, &budget, 150);
    grpc_deframer_init(&b, 1000, &budget, 150);
    uint8_t hdr[5];
    struct got g = {0};
    grpc_frame_put_header(hdr, 100);
    /* A partial 100-byte message is charged in full when its buffer is allocated. */
    assert_int_equal(grpc_deframer_feed(&a, hdr, 5, collect, &g), 0);
    assert_int_equal(grpc_deframer_feed(&a, (const uint8_t *)"x", 1, collect, &g), 0);
    assert_int_equal(budget, 100);
    /* The second would exceed the shared budget: refused before anything is allocated. */
    assert_int_equal(grpc_deframer_feed(&b, hdr, 5, collect, &g), GRPC_RESOURCE_EXHAUSTED);
    assert_int_equal(budget, 100);
    char msg[160];
    assert_non_null(strstr(grpc_deframer_errmsg(&b, msg, sizeof(msg)), "too many request bytes"));
    grpc_deframer_free(&a);
    grpc_deframer_free(&b);
    assert_int_equal(budget, 0);

    /* A nonzero return from the callback stops delivery and is passed back. */
    uint8_t wire[64];
    size_t n = frame(wire, 0, "one", 3);
    n += frame(wire + n, 0, "two", 3);
    grpc_deframer_init(&a, 100, NULL, 0);
    struct got s = {.stop_after = 1};
    assert_int_equal(grpc_deframer_feed(&a, wire, n, collect, &s), 7);
    assert_int_equal(s.n, 1);
    assert_int_equal(grpc_deframer_code(&a), 0);
    grpc_deframer_free(&a);
}

static void test_percent_encoding(void **state)
{
    (void)state;
    char out[128], back[128];
    const char *in = "bad: 100% \"\xc3\xbc\"\n";
    int n = grpc_percent_encode(in, 100, out, sizeof(out));
    assert_string_equal(out, "bad: 100%25 \"%C3%BC\"%0A");
    assert_int_equal(n, (int)strlen(out));
    size_t m = grpc_percent_decode(out, strlen(out), back, sizeof(back));
    assert_int_equal(m, strlen(in));
    assert_string_equal(back, in);
    /* Malformed escapes survive decoding verbatim; output that does not fit is refused. */
    m = grpc_percent_decode("a%zz%4", 6, back, sizeof(back));
    assert_string_equal(back, "a%zz%4");
    assert_int_equal(grpc_percent_encode("\n\n\n", 3, out, 9), CC_ETOOBIG);
    assert_int_equal(grpc_percent_encode("abcdef", 3, out, sizeof(out)), 3);
    assert_string_equal(out, "abc");
}

static void test_timeout_parse(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        uint64_t ms;
    } ok[] = {{"1S", 1000},    {"100m", 100},  {"1u", 1},
              {"1500u", 2},    {"1n", 1},      {"0m", 0},
              {"2H", 7200000}, {"3M", 180000}, {"99999999H", 99999999ull * 3600000},
              {"1000000n", 1}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms = 12345;
        assert_int_equal(grpc_timeout_parse(ok[i].v, strlen(ok[i].v), &ms), 0);
        assert_true(ms == ok[i].ms);
    }
    static const char *bad[] = {"", "S", "10", "10x", "-1S", "123456789S", "1 S", "1s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms;
        assert_int_equal(grpc_timeout_parse(bad[i], strlen(bad[i]), &ms), CC_EINVAL);
    }
}

static void test_code_names(void **state)
{
    (void)state;
    assert_string_equal(grpc_code_name(GRPC_RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
    assert_string_equal(grpc_code_name(GRPC_UNAUTHENTICATED), "UNAUTHENTICATED");
    assert_string_equal(grpc_code_name(99), "UNKNOWN");
    assert_string_equal(grpc_code_name(-1), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deframe_every_split),     cmocka_unit_test(test_deframe_refusals),
        cmocka_unit_test(test_deframe_budget_and_stop), cmocka_unit_test(test_percent_encoding),
        cmocka_unit_test(test_timeout_parse),           cmocka_unit_test(test_code_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
