/* test_redis_glob.c — unit tests for redis_glob, the KEYS/SCAN MATCH pattern matcher. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/redis/redis_int.h"

static bool glob(const char *pat, const char *s)
{
    return redis_glob((const uint8_t *)pat, strlen(pat), (const uint8_t *)s, strlen(s));
}

/* ---- agreement with redis-server 7.0 ----
 *
 * Each row: a pattern and every subject below that redis-server 7.0.15 (Debian) returned for
 * KEYS <pattern> with exactly these keys stored, i.e. what its stringmatchlen decides. The
 * edge cases are where matchers differ: "[a-]" (a range up to ']' in Redis), "[]" and "[^]"
 * (an empty class), unclosed classes ("[abc" matches like "[abc]", "a[" matches nothing),
 * a trailing backslash (a literal one), and '!' (not a negation in Redis). */

struct case_row {
    const char *pat;
    const char *matches[40]; /* NULL-terminated */
};

static const char *const subjects[] = {
    "a",     "b",   "ab", "abc", "abd", "aXc", "-",     "]",     "[",    "\\",       "^",
    "a-",    "a]",  "a[", "a\\", "z",   "m",   "hello", "hallo", "hllo", "heeeello", "h*llo",
    "h?llo", "x]y", "*",  "?",   "aaa", "ba",  "a^",    "c",     "A",    "b]",
};

static const struct case_row rows[] = {
    {"*", {"*",  "-",     "?",     "A",     "[",        "\\",    "]",    "^",   "a",   "a-", "aXc",
           "a[", "a\\",   "a]",    "a^",    "aaa",      "ab",    "abc",  "abd", "b",   "b]", "ba",
           "c",  "h*llo", "h?llo", "hallo", "heeeello", "hello", "hllo", "m",   "x]y", "z",  NULL}},
    {"a*", {"a", "a-", "aXc", "a[", "a\\", "a]", "a^", "aaa", "ab", "abc", "abd", NULL}},
    {"*a", {"a", "aaa", "ba", NULL}},
    {"?", {"*", "-", "?", "A", "[", "\\", "]", "^", "a", "b", "c", "m", "z", NULL}},
    {"??", {"a-", "a[", "a\\", "a]", "a^", "ab", "b]", "ba", NULL}},
    {"a?c", {"aXc", "abc", NULL}},
    {"[abc]", {"a", "b", "c", NULL}},
    {"[^abc]", {"*", "-", "?", "A", "[", "\\", "]", "^", "m", "z", NULL}},
    {"[a-c]", {"a", "b", "c", NULL}},
    {"[c-a]", {"a", "b", "c", NULL}},
    {"[a-]", {"]", "^", "a", NULL}},
    {"[-a]", {"-", "a", NULL}},
    {"[]", {NULL}},
    {"[]]", {NULL}},
    {"[^]", {"*", "-", "?", "A", "[", "\\", "]", "^", "a", "b", "c", "m", "z", NULL}},
    {"[^]]", {"a]", "b]", NULL}},
    {"[\\]]", {"]", NULL}},
    {"\\*", {"*", NULL}},
    {"\\", {"\\", NULL}},
    {"a\\", {"a\\", NULL}},
    {"a\\\\", {"a\\", NULL}},
    {"[abc", {"a", "b", "c", NULL}},
    {"a[", {NULL}},
    {"a[b", {"ab", NULL}},
    {"[", {NULL}},
    {"h[ae]llo", {"hallo", "hello", NULL}},
    {"h[^e]llo", {"h*llo", "h?llo", "hallo", NULL}},
    {"h*llo", {"h*llo", "h?llo", "hallo", "heeeello", "hello", "hllo", NULL}},
    {"h\\*llo", {"h*llo", NULL}},
    {"h?llo", {"h*llo", "h?llo", "hallo", "hello", NULL}},
    {"*[", {NULL}},
    {"**",
     {"*",  "-",     "?",     "A",     "[",        "\\",    "]",    "^",   "a",   "a-", "aXc",
      "a[", "a\\",   "a]",    "a^",    "aaa",      "ab",    "abc",  "abd", "b",   "b]", "ba",
      "c",  "h*llo", "h?llo", "hallo", "heeeello", "hello", "hllo", "m",   "x]y", "z",  NULL}},
    {"*?*",
     {"*",  "-",     "?",     "A",     "[",        "\\",    "]",    "^",   "a",   "a-", "aXc",
      "a[", "a\\",   "a]",    "a^",    "aaa",      "ab",    "abc",  "abd", "b",   "b]", "ba",
      "c",  "h*llo", "h?llo", "hallo", "heeeello", "hello", "hllo", "m",   "x]y", "z",  NULL}},
    {"a*b*c", {"abc", NULL}},
    {"*]", {"]", "a]", "b]", NULL}},
    {"[a-c-z]", {"-", "a", "b", "c", "z", NULL}},
    {"[]-a]", {NULL}},
    {"[^a-c]", {"*", "-", "?", "A", "[", "\\", "]", "^", "m", "z", NULL}},
    {"[\\a-c]", {"-", "a", "c", NULL}},
    {"[a\\-c]", {"-", "a", "c", NULL}},
    {"\\[", {"[", NULL}},
    {"[[]", {"[", NULL}},
    {"[\\]", {"]", NULL}},
    {"a[]", {NULL}},
    {"[!a]", {"a", NULL}},
    {"[a-z]*", {"a",        "a-",    "aXc",  "a[", "a\\", "a]", "a^",    "aaa",   "ab",
                "abc",      "abd",   "b",    "b]", "ba",  "c",  "h*llo", "h?llo", "hallo",
                "heeeello", "hello", "hllo", "m",  "x]y", "z",  NULL}},
};

static bool listed(const struct case_row *r, const char *s)
{
    for (size_t i = 0; r->matches[i]; i++)
        if (!strcmp(r->matches[i], s)) return true;
    return false;
}

static void test_same_as_redis(void **state)
{
    (void)state;
    size_t n_rows = sizeof(rows) / sizeof(rows[0]);
    size_t n_subjects = sizeof(subjects) / sizeof(subjects[0]);
    for (size_t i = 0; i < n_rows; i++)
        for (size_t k = 0; k < n_subjects; k++) {
            bool want = listed(&rows[i], subjects[k]);
            if (glob(rows[i].pat, subjects[k]) != want)
                fail_msg("pattern \"%s\" on \"%s\": want %s", rows[i].pat, subjects[k],
                         want ? "match" : "no match");
        }
}

/* ---- the empty string and the empty pattern ---- */

static void test_empty(void **state)
{
    (void)state;
    assert_true(glob("", ""));
    assert_true(glob("*", ""));
    assert_true(glob("***", ""));
    assert_false(glob("?", ""));
    assert_false(glob("", "a"));
    assert_false(glob("[a]", ""));
    assert_false(glob("a*", ""));
}

/* ---- binary safety: lengths, not terminators ---- */

static void test_binary(void **state)
{
    (void)state;
    const uint8_t key[] = {'k', 0, 'x', 0xff};
    const uint8_t pat_q[] = {'k', '?', 'x', '?'};
    const uint8_t pat_nul[] = {'k', 0, '*'};
    const uint8_t pat_cls[] = {'k', '[', 0, ']', '*'};
    const uint8_t pat_hi[] = {'*', '[', 0xf0, '-', 0xff, ']'};
    assert_true(redis_glob(pat_q, sizeof(pat_q), key, sizeof(key)));
    assert_true(redis_glob(pat_nul, sizeof(pat_nul), key, sizeof(key)));
    assert_true(redis_glob(pat_cls, sizeof(pat_cls), key, sizeof(key)));
    assert_true(redis_glob(pat_hi, sizeof(pat_hi), key, sizeof(key)));
    assert_false(redis_glob(pat_nul, 2, key, sizeof(key))); /* "k\0" is not all of the key */
    assert_true(redis_glob(pat_nul, 2, key, 2));
}

/* ---- backtracking: many stars stay polynomial and correct ---- */

static void test_many_stars(void **state)
{
    (void)state;
    enum { N = 20000 };
    char *s = malloc(N + 2);
    assert_non_null(s);
    memset(s, 'a', N);
    s[N] = 0;
    /* A naive recursive matcher takes exponential time here; the answer is no match. */
    assert_false(glob("*a*a*a*a*a*a*a*a*a*a*a*a*b", s));
    assert_true(glob("*a*a*a*a*a*a*a*a*a*a*a*a*", s));
    assert_true(glob("a*a", s));
    s[N] = 'b';
    s[N + 1] = 0;
    assert_true(glob("*a*a*a*a*a*a*a*a*a*a*a*a*b", s));
    assert_true(glob("*?b", s));
    assert_false(glob("*?c", s));
    free(s);
}

/* ---- the forms KEYS users write ---- */

static void test_common_patterns(void **state)
{
    (void)state;
    assert_true(glob("user:*", "user:1000"));
    assert_false(glob("user:*", "users:1000"));
    assert_true(glob("user:*:name", "user:42:name"));
    assert_true(glob("user:*:name", "user::name"));
    assert_false(glob("user:*:name", "user:42:email"));
    assert_true(glob("session:[0-9][0-9]", "session:07"));
    assert_false(glob("session:[0-9][0-9]", "session:7x"));
    assert_true(glob("*\\**", "a*b"));
    assert_false(glob("*\\**", "ab"));
    assert_true(glob("\\?", "?"));
    assert_false(glob("\\?", "x"));
    assert_true(glob("[\\-]", "-"));
    assert_true(glob("*.txt", ".txt"));
    assert_false(glob("*.txt", "a.txt.gz"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_redis),   cmocka_unit_test(test_empty),
        cmocka_unit_test(test_binary),          cmocka_unit_test(test_many_stars),
        cmocka_unit_test(test_common_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
