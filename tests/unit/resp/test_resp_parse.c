/* test_resp_parse.c — unit tests for the RESP2 request parser and the reply encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/resp/resp_enc.h"
#include "api/resp/resp_parse.h"
#include "util/err.h"

/* ---- a driver that feeds input the way a connection does ---- */

struct text {
    char *p;
    size_t len, cap;
};

static void text_add(struct text *t, const void *p, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memcpy(t->p + t->len, p, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

/* Appends an argument with non-printable bytes as \xHH, so transcripts compare as strings. */
static void text_arg(struct text *t, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char e[8];
        if (c < 0x20 || c >= 0x7f || c == '\\' || c == ',' || c == ';') {
            snprintf(e, sizeof(e), "\\x%02x", c);
            text_str(t, e);
        } else {
            text_add(t, &p[i], 1);
        }
    }
}

/* Feeds in[0..len) in chunks ending at cuts[0] < cuts[1] < ... (the last cut is len). Each
 * call gets a freshly allocated copy of the pending bytes, so a parser that kept a pointer
 * into an old buffer would fail under ASan. Returns a transcript: "argc:arg,arg;" per
 * command, "E:<message>" on error, "M" if input ended inside a command. Caller frees. */
static char *run_cuts(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                      const struct resp_parse_limits *lim)
{
    struct resp_parser p;
    resp_parser_init(&p, lim);
    struct text out = {0};
    text_str(&out, "");
    char *pending = NULL;
    size_t plen = 0, fed = 0;
    int failed = 0;
    for (size_t k = 0; k < ncuts && !failed; k++) {
        size_t upto = cuts[k];
        char *n = malloc(plen + (upto - fed) + 1);
        assert_non_null(n);
        if (plen) memcpy(n, pending, plen);
        memcpy(n + plen, in + fed, upto - fed);
        free(pending);
        pending = n;
        plen += upto - fed;
        fed = upto;
        for (;;) {
            size_t used = 0;
            int rc = resp_parse(&p, pending, plen, &used);
            if (rc == RESP_PARSE_MORE) break;
            if (rc < 0) {
                assert_int_equal(rc, CC_EPROTO);
                text_str(&out, "E:");
                text_str(&out, p.err);
                failed = 1;
                break;
            }
            char num[32];
            snprintf(num, sizeof(num), "%zu:", p.argc);
            text_str(&out, num);
            for (size_t i = 0; i < p.argc; i++) {
                if (i) text_str(&out, ",");
                text_arg(&out, p.argv[i].p, p.argv[i].len);
            }
            text_str(&out, ";");
            assert_true(used > 0 && used <= plen);
            memmove(pending, pending + used, plen - used);
            plen -= used;
        }
    }
    if (!failed && plen) text_str(&out, "M");
    free(pending);
    resp_parser_free(&p);
    return out.p;
}

static char *run_whole(const char *in, size_t len, const struct resp_parse_limits *lim)
{
    return run_cuts(in, len, &len, 1, lim);
}

/* Checks that every two-way split and the byte-at-a-time feed give the whole-buffer result. */
static void check_all_splits(const char *in, size_t len, const struct resp_parse_limits *lim)
{
    char *whole = run_whole(in, len, lim);
    for (size_t k = 1; k < len; k++) {
        size_t cuts[2] = {k, len};
        char *t = run_cuts(in, len, cuts, 2, lim);
        if (strcmp(t, whole) != 0) fail_msg("split at %zu: %s\nwhole: %s", k, t, whole);
        free(t);
    }
    size_t *cuts = malloc(len * sizeof(*cuts));
    assert_non_null(cuts);
    for (size_t k = 0; k < len; k++) cuts[k] = k + 1;
    char *t = run_cuts(in, len, cuts, len, lim);
    assert_string_equal(t, whole);
    free(t);
    free(cuts);
    free(whole);
}

static void expect(const char *in, size_t len, const char *transcript)
{
    char *t = run_whole(in, len, NULL);
    assert_string_equal(t, transcript);
    free(t);
    check_all_splits(in, len, NULL);
}

#define EXPECT(lit, transcript) expect((lit), sizeof(lit) - 1, (transcript))

/* ---- valid forms ---- */

static void test_multibulk_forms(void **state)
{
    (void)state;
    EXPECT("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", "3:SET,k,hello;");
    /* Binary safe: CR, LF and NUL inside a bulk. */
    EXPECT("*2\r\n$4\r\nECHO\r\n$5\r\na\r\n\0b\r\n", "2:ECHO,a\\x0d\\x0a\\x00b;");
    EXPECT("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", "2:ECHO,;");
    /* Redis skips empty and negative counts without a reply. */
    EXPECT("*0\r\n", "0:;");
    EXPECT("*-1\r\n", "0:;");
    EXPECT("*-5\r\n*1\r\n$4\r\nPING\r\n", "0:;1:PING;");
    /* Incomplete input is not an error. */
    EXPECT("*2\r\n$4\r\nECHO\r\n$5\r\nab", "M");
}

static void test_inline_forms(void **state)
{
    (void)state;
    EXPECT("PING\r\n", "1:PING;");
    EXPECT("PING\n", "1:PING;");
    EXPECT("SET k   v\r\n", "3:SET,k,v;");
    EXPECT("\t ECHO\t x \r\n", "2:ECHO,x;");
    EXPECT("\r\n   \r\n\n", "0:;0:;0:;");
    EXPECT("ECHO \"a b\" 'c d'\r\n", "3:ECHO,a b,c d;");
    EXPECT("ECHO \"\\x41\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n",
           "2:ECHO,A\\x0a\\x0d\\x09\\x08\\x07\\x5c\"q;");
    EXPECT("ECHO 'it\\'s' \"\"\r\n", "3:ECHO,it's,;");
    /* A quote inside an unquoted word opens a quoted part (sdssplitargs). */
    EXPECT("ECHO ab\"c d\"\r\n", "2:ECHO,abc d;");
    /* \x needs two hex digits; otherwise the backslash escapes the 'x'. */
    EXPECT("ECHO \"\\xZ1\"\r\n", "2:ECHO,xZ1;");
    /* A NUL ends the line's content, as in Redis's C-string split. */
    EXPECT("ECHO a\0b c\r\n", "2:ECHO,a;");
    EXPECT("PING", "M");
}

static void test_mixed_all_splits(void **state)
{
    (void)state;
    static const char in[] = "*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n"
                             "PING\r\n"
                             "*0\r\n"
                             "ECHO \"q\\x41\" 'x'\n"
                             "*1\r\n$4\r\nPING\r\n"
                             "\r\n"
                             "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$2\r\n\r\n\r\n";
    expect(in, sizeof(in) - 1, "2:ECHO,abc;1:PING;0:;3:ECHO,qA,x;1:PING;0:;3:SET,,\\x0d\\x0a;");
}

static void test_pipeline_1000(void **state)
{
    (void)state;
    struct text in = {0}, want = {0};
    text_str(&want, "");
    for (int i = 0; i < 1000; i++) {
        char v[32], cmd[96];
        int n = snprintf(v, sizeof(v), "value-%d", i);
        if (i % 2)
            snprintf(cmd, sizeof(cmd), "*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n", n, v);
        else
            snprintf(cmd, sizeof(cmd), "ECHO %s\r\n", v);
        text_str(&in, cmd);
        text_str(&want, "2:ECHO,");
        text_str(&want, v);
        text_str(&want, ";");
    }
    char *t = run_whole(in.p, in.len, NULL);
    assert_string_equal(t, want.p);
    free(t);
    /* The same stream in uneven chunks. */
    size_t cuts[64], n = 0;
    for (size_t at = 7; at < in.len && n < 63; at += 997) cuts[n++] = at;
    cuts[n++] = in.len;
    t = run_cuts(in.p, in.len, cuts, n, NULL);
    assert_string_equal(t, want.p);
    free(t);
    free(in.p);
    free(want.p);
}

/* ---- errors ---- */

static void test_error_messages(void **state)
{
    (void)state;
    EXPECT("*x\r\n", "E:Protocol error: invalid multibulk length");
    EXPECT("*+1\r\n", "E:Protocol error: invalid multibulk length");
    EXPECT("*01\r\n", "E:Protocol error: invalid multibulk length");
    EXPECT("*3000000000\r\n", "E:Protocol error: invalid multibulk length");
    EXPECT("*1\r\nx\r\n", "E:Protocol error: expected '$', got 'x'");
    EXPECT("*1\r\n*1\r\n", "E:Protocol error: expected '$', got '*'");
    EXPECT("*1\r\n\r\n", "E:Protocol error: expected '$', got '\r'"); /* the encoder maps CR */
    EXPECT("*1\r\n$-1\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$x\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$1234567890123456789012\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("SET \"a\"b\r\n", "E:Protocol error: unbalanced quotes in request");
    EXPECT("\"unterminated\r\n", "E:Protocol error: unbalanced quotes in request");
    EXPECT("'x\r\n", "E:Protocol error: unbalanced quotes in request");
    EXPECT("ECHO \"a\\\"\r\n", "E:Protocol error: unbalanced quotes in request");
    /* Deliberately stricter than Redis, which skips two bytes unseen. */
    EXPECT("*1\r\n$4\r\nPINGxx", "E:Protocol error: expected CRLF");
    EXPECT("*1\rx", "E:Protocol error: expected CRLF");
    EXPECT("*1\r\n$4\rxPING\r\n", "E:Protocol error: expected CRLF");
    /* Commands before the bad one are still delivered. */
    EXPECT("PING\r\n*1\r\n$-2\r\n", "1:PING;E:Protocol error: invalid bulk length");
}

/* Builds c followed by n copies of fill. */
static char *filled(char c, char fill, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    s[0] = c;
    memset(s + 1, fill, n - 1);
    s[n] = '\0';
    return s;
}

static void test_too_big_lines(void **state)
{
    (void)state;
    size_t big = RESP_DEFAULT_MAX_INLINE_LEN + 1;
    char *s = filled('x', 'x', big);
    char *t = run_whole(s, big, NULL);
    assert_string_equal(t, "E:Protocol error: too big inline request");
    free(t);
    /* Exactly the limit without a newline is still waiting. */
    t = run_whole(s, big - 1, NULL);
    assert_string_equal(t, "M");
    free(t);
    free(s);

    s = filled('*', '1', big);
    t = run_whole(s, big, NULL);
    assert_string_equal(t, "E:Protocol error: too big mbulk count string");
    free(t);
    free(s);

    char *b = filled('$', '1', big);
    size_t n = 4 + big;
    s = malloc(n);
    memcpy(s, "*1\r\n", 4);
    memcpy(s + 4, b, big);
    t = run_whole(s, n, NULL);
    assert_string_equal(t, "E:Protocol error: too big bulk count string");
    free(t);
    free(s);
    free(b);

    /* The verdict does not depend on reads: a newline after the window is too late. */
    struct resp_parse_limits lim = {.max_inline_len = 16};
    static const char longline[] = "ECHO 0123456789abcdef\r\n";
    t = run_whole(longline, sizeof(longline) - 1, &lim);
    assert_string_equal(t, "E:Protocol error: too big inline request");
    free(t);
    check_all_splits(longline, sizeof(longline) - 1, &lim);
}

static void test_limits_before_allocation(void **state)
{
    (void)state;
    struct resp_parse_limits lim = {.max_bulk_len = 10, .max_args = 3, .max_request_bytes = 40};
    /* The length alone is refused: no data follows and none is waited for. */
    static const char bulk[] = "*2\r\n$4\r\nECHO\r\n$11\r\n";
    char *t = run_whole(bulk, sizeof(bulk) - 1, &lim);
    assert_string_equal(t, "E:Protocol error: invalid bulk length");
    free(t);
    static const char args[] = "*4\r\n";
    t = run_whole(args, sizeof(args) - 1, &lim);
    assert_string_equal(t, "E:Protocol error: invalid multibulk length");
    free(t);
    /* Each bulk fits but the command would pass 40 bytes. */
    static const char req[] = "*3\r\n$3\r\nSET\r\n$10\r\n0123456789\r\n$10\r\n";
    t = run_whole(req, sizeof(req) - 1, &lim);
    assert_string_equal(t, "E:Protocol error: too big request");
    free(t);
    check_all_splits(req, sizeof(req) - 1, &lim);
    static const char inl[] = "A B C D\r\n";
    t = run_whole(inl, sizeof(inl) - 1, &lim);
    assert_string_equal(t, "E:Protocol error: too big inline request");
    free(t);

    /* Redis's own 512 MiB ceiling is far above ours: 8 MiB + 1 is refused by default. */
    char hdr[64];
    int n = snprintf(hdr, sizeof(hdr), "*1\r\n$%zu\r\n", RESP_DEFAULT_MAX_BULK_LEN + 1);
    t = run_whole(hdr, (size_t)n, NULL);
    assert_string_equal(t, "E:Protocol error: invalid bulk length");
    free(t);
    n = snprintf(hdr, sizeof(hdr), "*1\r\n$%zu\r\n", RESP_DEFAULT_MAX_BULK_LEN);
    t = run_whole(hdr, (size_t)n, NULL);
    assert_string_equal(t, "M");
    free(t);

    /* A large declared count allocates argument slots only as arguments arrive. */
    struct resp_parser p;
    resp_parser_init(&p, NULL);
    static char two[] = "*200000\r\n$1\r\na\r\n$1\r\nb\r\n";
    size_t used;
    assert_int_equal(resp_parse(&p, two, sizeof(two) - 1, &used), RESP_PARSE_MORE);
    assert_true(p.argcap <= 16);
    resp_parser_free(&p);
}

static void test_str_to_ll(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
        long long v;
    } cases[] = {
        {"0", 1, 0},
        {"-1", 1, -1},
        {"9223372036854775807", 1, INT64_MAX},
        {"-9223372036854775808", 1, INT64_MIN},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"", 0, 0},
        {"-", 0, 0},
        {"+1", 0, 0},
        {" 1", 0, 0},
        {"1 ", 0, 0},
        {"01", 0, 0},
        {"-0", 0, 0},
        {"1a", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long v = 42;
        struct resp_str s = {cases[i].s, strlen(cases[i].s)};
        int rc = resp_str_to_ll(s, &v);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_true(v == cases[i].v);
        } else {
            assert_int_equal(rc, CC_ENOTNUM);
        }
    }
    struct resp_str w = {"PiNg", 4};
    assert_true(resp_str_eq(w, "ping"));
    assert_false(resp_str_eq(w, "pin"));
}

/* ---- encoder ---- */

static void expect_buf(struct buf *b, const char *want, size_t n)
{
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, want, n);
    buf_reset(b);
}

#define EXPECT_BUF(b, lit) expect_buf((b), (lit), sizeof(lit) - 1)

static void test_encoder(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(resp_enc_simple(&b, "OK"), 0);
    EXPECT_BUF(&b, "+OK\r\n");
    assert_int_equal(resp_enc_simple(&b, "a\r\nb"), 0);
    EXPECT_BUF(&b, "+a  b\r\n");
    assert_int_equal(resp_enc_error(&b, "unknown command"), 0);
    EXPECT_BUF(&b, "-ERR unknown command\r\n");
    assert_int_equal(resp_enc_error(&b, "-NOPROTO unsupported protocol version"), 0);
    EXPECT_BUF(&b, "-NOPROTO unsupported protocol version\r\n");
    assert_int_equal(resp_enc_errorf(&b, "bad '%s'\n%d", "x", 7), 0);
    EXPECT_BUF(&b, "-ERR bad 'x' 7\r\n");
    assert_int_equal(resp_enc_int(&b, -9223372036854775807LL - 1), 0);
    EXPECT_BUF(&b, ":-9223372036854775808\r\n");
    assert_int_equal(resp_enc_bulk(&b, "a\r\n\0", 4), 0);
    EXPECT_BUF(&b, "$4\r\na\r\n\0\r\n");
    assert_int_equal(resp_enc_bulk(&b, NULL, 0), 0);
    EXPECT_BUF(&b, "$0\r\n\r\n");
    assert_int_equal(resp_enc_null(&b), 0);
    EXPECT_BUF(&b, "$-1\r\n");
    assert_int_equal(resp_enc_null_array(&b), 0);
    EXPECT_BUF(&b, "*-1\r\n");
    /* Nested: [1, [bulk, null], []] and a map of one pair. */
    assert_int_equal(resp_enc_array(&b, 3), 0);
    assert_int_equal(resp_enc_int(&b, 1), 0);
    assert_int_equal(resp_enc_array(&b, 2), 0);
    assert_int_equal(resp_enc_bulk_cstr(&b, "x"), 0);
    assert_int_equal(resp_enc_null(&b), 0);
    assert_int_equal(resp_enc_array(&b, 0), 0);
    assert_int_equal(resp_enc_map(&b, 1), 0);
    assert_int_equal(resp_enc_bulk_cstr(&b, "k"), 0);
    assert_int_equal(resp_enc_int(&b, 2), 0);
    EXPECT_BUF(&b, "*3\r\n:1\r\n*2\r\n$1\r\nx\r\n$-1\r\n*0\r\n*2\r\n$1\r\nk\r\n:2\r\n");
    buf_free(&b);

    /* A value that does not fit fails whole and leaves the buffer as it was. */
    buf_init(&b, 16);
    assert_int_equal(resp_enc_simple(&b, "PONG"), 0);
    assert_int_equal(resp_enc_bulk(&b, "0123456789", 10), CC_ETOOBIG);
    assert_int_equal(resp_enc_error(&b, "0123456789"), CC_ETOOBIG);
    EXPECT_BUF(&b, "+PONG\r\n");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multibulk_forms),
        cmocka_unit_test(test_inline_forms),
        cmocka_unit_test(test_mixed_all_splits),
        cmocka_unit_test(test_pipeline_1000),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_too_big_lines),
        cmocka_unit_test(test_limits_before_allocation),
        cmocka_unit_test(test_str_to_ll),
        cmocka_unit_test(test_encoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
