/* test_util.c — unit tests for util: crc32c, buf/cursor, rng, hist, err. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/crc32c.h"
#include "util/dirs.h"
#include "util/err.h"
#include "util/hist.h"
#include "util/rng.h"

static void test_crc32c_vectors(void **state)
{
    (void)state;
    /* RFC 3720 B.4 check value. */
    assert_int_equal(crc32c_extend(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c_extend_sw(0, "123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0};
    assert_int_equal(crc32c_extend(0, zeros, 32), 0x8A9136AAu);
    /* Incremental equals one-shot, on every split and misalignment. */
    uint8_t data[257];
    for (int i = 0; i < 257; i++) data[i] = (uint8_t)(i * 7 + 3);
    uint32_t whole = crc32c_extend_sw(0, data, sizeof(data));
    for (size_t split = 0; split <= sizeof(data); split += 13) {
        uint32_t c = crc32c_extend(0, data, split);
        c = crc32c_extend(c, data + split, sizeof(data) - split);
        assert_int_equal(c, whole);
    }
}

static void test_buf_limit_and_codec(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 32);
    assert_int_equal(buf_put_u64le(&b, 0x0102030405060708ull), 0);
    assert_int_equal(buf_put_uvarint(&b, 300), 0);
    assert_int_equal(buf_put_uvarint(&b, UINT64_MAX), 0);
    assert_int_equal(buf_put_u32le(&b, 7), 0);
    size_t len = b.len;
    uint8_t big[32] = {0};
    assert_int_equal(buf_append(&b, big, 32), CC_ETOOBIG);
    assert_int_equal(b.len, len);

    struct cursor c;
    cursor_init(&c, b.data, b.len);
    assert_true(cursor_u64le(&c) == 0x0102030405060708ull);
    assert_int_equal(cursor_uvarint(&c), 300);
    assert_true(cursor_uvarint(&c) == UINT64_MAX);
    assert_int_equal(cursor_u32le(&c), 7);
    assert_int_equal(c.err, 0);
    assert_int_equal(cursor_u8(&c), 0);
    assert_int_equal(c.err, CC_ECORRUPT);

    /* An over-long varint is corrupt, not silently truncated. */
    uint8_t bad[11];
    for (int i = 0; i < 11; i++) bad[i] = 0xff;
    cursor_init(&c, bad, sizeof(bad));
    cursor_uvarint(&c);
    assert_int_equal(c.err, CC_ECORRUPT);

    buf_consume(&b, 8);
    assert_int_equal(b.len, len - 8);
    buf_free(&b);
}

static void test_rng_deterministic(void **state)
{
    (void)state;
    struct rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) assert_true(rng_next(&a) == rng_next(&b));
    rng_seed(&b, 43);
    int same = 0;
    for (int i = 0; i < 100; i++) same += rng_next(&a) == rng_next(&b);
    assert_true(same < 2);
    for (int i = 0; i < 10000; i++) {
        uint64_t v = rng_range(&a, 10, 20);
        assert_true(v >= 10 && v <= 20);
    }
}

static void test_hist_quantiles(void **state)
{
    (void)state;
    struct hist *h = malloc(sizeof(*h));
    hist_init(h);
    for (uint64_t v = 1; v <= 1000; v++) hist_add(h, v);
    uint64_t p50 = hist_quantile(h, 0.5), p99 = hist_quantile(h, 0.99);
    assert_true(p50 >= 480 && p50 <= 540);
    assert_true(p99 >= 960 && p99 <= 1000);
    assert_int_equal(hist_quantile(h, 1.0), 1000);
    assert_int_equal(h->min, 1);
    assert_int_equal(hist_count_le(h, 15), 15);
    free(h);
}

static void test_err_strings(void **state)
{
    (void)state;
    assert_string_equal(cc_strerror(0), "success");
    assert_string_equal(cc_errname(CC_ENOLEADER), "CC_ENOLEADER");
    assert_string_equal(cc_strerror(-1000), "unknown error");
    for (int e = 0; e > -CC_ERR_COUNT_; e--) assert_non_null(cc_strerror(e));
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_dirs_make(void **state)
{
    (void)state;
    char base[] = "/tmp/concur-test-dirs-XXXXXX", p[256];
    assert_non_null(mkdtemp(base));
    /* Every missing level is made; doing it again is fine. */
    snprintf(p, sizeof(p), "%s/a/b/c", base);
    assert_int_equal(dirs_make(p), 0);
    assert_true(is_dir(p));
    assert_int_equal(dirs_make(p), 0);
    /* The parent of a socket path, not the socket itself. */
    snprintf(p, sizeof(p), "%s/d/e/ctl.sock", base);
    assert_int_equal(dirs_make_parent(p), 0);
    snprintf(p, sizeof(p), "%s/d/e", base);
    assert_true(is_dir(p));
    snprintf(p, sizeof(p), "%s/d/e/ctl.sock", base);
    assert_false(is_dir(p));
    assert_int_equal(dirs_make_parent("bare-name"), 0);
    /* A file in the way fails with its errno's code; an oversized path is refused. */
    snprintf(p, sizeof(p), "%s/f", base);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/f/g", base);
    assert_int_not_equal(dirs_make(p), 0);
    char *longp = malloc(DIRS_PATH_MAX + 2);
    assert_non_null(longp);
    memset(longp, 'x', DIRS_PATH_MAX + 1);
    longp[DIRS_PATH_MAX + 1] = 0;
    assert_int_equal(dirs_make(longp), CC_ETOOBIG);
    free(longp);
    char cmd[320];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),    cmocka_unit_test(test_buf_limit_and_codec),
        cmocka_unit_test(test_rng_deterministic), cmocka_unit_test(test_hist_quantiles),
        cmocka_unit_test(test_err_strings),       cmocka_unit_test(test_dirs_make),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
