/* resp_parse.c — incremental RESP2 request parser: multibulk, inline, Redis's error texts. */
#include "api/resp/resp_parse.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

/* Argument arrays above this many slots are released between commands, so one huge command
 * does not pin memory for the rest of the connection's life. */
#define KEEP_ARGCAP 1024

/* resp_parse hands out the union array as an array of resp_str. */
_Static_assert(sizeof(union resp__arg) == sizeof(struct resp_str), "arg layout");

void resp_parser_init(struct resp_parser *p, const struct resp_parse_limits *lim)
{
    memset(p, 0, sizeof(*p));
    if (lim) p->lim = *lim;
    if (!p->lim.max_bulk_len) p->lim.max_bulk_len = RESP_DEFAULT_MAX_BULK_LEN;
    if (!p->lim.max_args) p->lim.max_args = RESP_DEFAULT_MAX_ARGS;
    if (!p->lim.max_request_bytes) p->lim.max_request_bytes = RESP_DEFAULT_MAX_REQUEST_BYTES;
    if (!p->lim.max_inline_len) p->lim.max_inline_len = RESP_DEFAULT_MAX_INLINE_LEN;
    p->bulk = -1;
}

void resp_parser_free(struct resp_parser *p)
{
    free(p->args);
    p->args = NULL;
    p->argcap = 0;
    p->argc = 0;
    p->argv = NULL;
}

static void reset_command(struct resp_parser *p)
{
    p->kind = 0;
    p->done = 0;
    p->pos = 0;
    p->scan = 0;
    p->left = 0;
    p->bulk = -1;
    p->argc = 0;
    p->argv = NULL;
    if (p->argcap > KEEP_ARGCAP) {
        free(p->args);
        p->args = NULL;
        p->argcap = 0;
    }
}

static int fail(struct resp_parser *p, const char *msg)
{
    snprintf(p->err, sizeof(p->err), "%s", msg);
    return CC_EPROTO;
}

/* Redis's string2ll: the only integer syntax the protocol and its commands accept. */
static int parse_ll(const char *s, size_t n, long long *out)
{
    if (n == 0 || n >= 21) return 0;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    size_t i = 0;
    int neg = 0;
    if (s[0] == '-') {
        neg = 1;
        if (++i == n) return 0;
    }
    if (s[i] < '1' || s[i] > '9') return 0;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1) return 0;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX) return 0;
        *out = (long long)v;
    }
    return 1;
}

int resp_str_to_ll(struct resp_str s, long long *out)
{
    long long v;
    if (!parse_ll(s.p, s.len, &v)) return CC_ENOTNUM;
    *out = v;
    return 0;
}

int resp_str_eq(struct resp_str s, const char *word)
{
    size_t n = strlen(word);
    if (s.len != n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)s.p[i], b = (unsigned char)word[i];
        if (a >= 'A' && a <= 'Z') a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = (unsigned char)(b - 'A' + 'a');
        if (a != b) return 0;
    }
    return 1;
}

/* Records one argument. `most` bounds the slots this command can need (the declared count, or
 * max_args for inline), so growth never allocates for arguments that have not arrived. */
static int push_arg(struct resp_parser *p, size_t off, size_t len, size_t most)
{
    if (p->argc == p->argcap) {
        size_t cap = p->argcap ? p->argcap * 2 : 16;
        if (cap > most) cap = most;
        if (cap <= p->argc) return CC_ENOMEM; /* unreachable while callers respect `most` */
        union resp__arg *a = realloc(p->args, cap * sizeof(*a));
        if (!a) return CC_ENOMEM;
        p->args = a;
        p->argcap = cap;
    }
    p->args[p->argc].at.off = off;
    p->args[p->argc].at.len = len;
    p->argc++;
    return 0;
}

/* Looks for `term` in the line starting at p->pos. Returns 1 with *at = its offset, 0 when more
 * bytes are needed, -1 when max_inline_len bytes have arrived without it. Only the first
 * max_inline_len + 1 bytes are searched, so the verdict does not depend on read sizes. */
static int find_term(struct resp_parser *p, const char *data, size_t len, char term, size_t *at)
{
    size_t start = p->pos;
    size_t limit = start + p->lim.max_inline_len + 1;
    size_t from = p->scan > start ? p->scan : start;
    size_t to = len < limit ? len : limit;
    if (from < to) {
        const char *hit = memchr(data + from, term, to - from);
        if (hit) {
            *at = (size_t)(hit - data);
            p->scan = *at;
            return 1;
        }
    }
    if (len - start > p->lim.max_inline_len) return -1;
    p->scan = len;
    return 0;
}

/* Reads a "<c><integer>\r\n" header at p->pos. Returns 1 with *n and p->pos past the CRLF, 0
 * for more bytes, or a negative error (with `toobig`/`invalid` as the message). */
static int read_header(struct resp_parser *p, const char *data, size_t len, char expect,
                       long long *n, const char *toobig, const char *invalid)
{
    size_t cr;
    int r = find_term(p, data, len, '\r', &cr);
    if (r < 0) return fail(p, toobig);
    if (r == 0 || cr + 1 >= len) return 0;
    if (data[p->pos] != expect) { /* only possible for '$': '*' chose this parser */
        char msg[48];
        snprintf(msg, sizeof(msg), "Protocol error: expected '$', got '%c'", data[p->pos]);
        return fail(p, msg);
    }
    if (!parse_ll(data + p->pos + 1, cr - p->pos - 1, n)) return fail(p, invalid);
    if (data[cr + 1] != '\n') return fail(p, "Protocol error: expected CRLF");
    p->pos = cr + 2;
    p->scan = p->pos;
    return 1;
}

static int parse_multibulk(struct resp_parser *p, const char *data, size_t len)
{
    static const char bad_count[] = "Protocol error: invalid multibulk length";
    static const char bad_bulk[] = "Protocol error: invalid bulk length";
    if (p->pos == 0) {
        long long n;
        int r = read_header(p, data, len, '*', &n, "Protocol error: too big mbulk count string",
                            bad_count);
        if (r <= 0) return r;
        if (n > INT_MAX || (n > 0 && (unsigned long long)n > p->lim.max_args))
            return fail(p, bad_count);
        if (n <= 0) return RESP_PARSE_DONE; /* Redis skips "*0" and "*-1" silently */
        p->left = (size_t)n;
    }
    while (p->left) {
        if (p->bulk < 0) {
            if (p->pos >= len) return RESP_PARSE_MORE;
            long long n;
            int r = read_header(p, data, len, '$', &n, "Protocol error: too big bulk count string",
                                bad_bulk);
            if (r <= 0) return r;
            if (n < 0 || (unsigned long long)n > p->lim.max_bulk_len) return fail(p, bad_bulk);
            /* Checked before a byte of the argument is stored. */
            if (p->pos > p->lim.max_request_bytes ||
                (size_t)n + 2 > p->lim.max_request_bytes - p->pos)
                return fail(p, "Protocol error: too big request");
            p->bulk = n;
        }
        size_t n = (size_t)p->bulk;
        if (len - p->pos < n + 2) return RESP_PARSE_MORE;
        if (data[p->pos + n] != '\r' || data[p->pos + n + 1] != '\n')
            return fail(p, "Protocol error: expected CRLF");
        int rc = push_arg(p, p->pos, n, p->argc + p->left);
        if (rc) return rc;
        p->pos += n + 2;
        p->scan = p->pos;
        p->bulk = -1;
        p->left--;
    }
    return RESP_PARSE_DONE;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Splits s[0..n) into arguments the way Redis's sdssplitargs does (double quotes with \xHH,
 * \n, \r, \t, \b, \a escapes; single quotes with \' only; a closing quote must be followed by
 * a blank or the end). Writes each unescaped argument back into s: the write position never
 * passes the read position, so this is safe in place. */
static int split_inline(struct resp_parser *p, char *s, size_t n)
{
    static const char unbalanced[] = "Protocol error: unbalanced quotes in request";
#define AT(i) ((i) < n ? s[(i)] : '\0')
    size_t r = 0, w = 0;
    for (;;) {
        while (r < n && is_space(s[r])) r++;
        if (r >= n) return 0;
        size_t start = w;
        int inq = 0, insq = 0, done = 0;
        while (!done) {
            char c = AT(r);
            if (inq) {
                if (c == '\\' && AT(r + 1) == 'x' && hex_value(AT(r + 2)) >= 0 &&
                    hex_value(AT(r + 3)) >= 0) {
                    s[w++] = (char)(hex_value(AT(r + 2)) * 16 + hex_value(AT(r + 3)));
                    r += 3;
                } else if (c == '\\' && AT(r + 1)) {
                    r++;
                    switch (s[r]) {
                    case 'n':
                        c = '\n';
                        break;
                    case 'r':
                        c = '\r';
                        break;
                    case 't':
                        c = '\t';
                        break;
                    case 'b':
                        c = '\b';
                        break;
                    case 'a':
                        c = '\a';
                        break;
                    default:
                        c = s[r];
                        break;
                    }
                    s[w++] = c;
                } else if (c == '"') {
                    if (AT(r + 1) && !is_space(AT(r + 1))) return fail(p, unbalanced);
                    done = 1;
                } else if (!c) {
                    return fail(p, unbalanced);
                } else {
                    s[w++] = c;
                }
            } else if (insq) {
                if (c == '\\' && AT(r + 1) == '\'') {
                    r++;
                    s[w++] = '\'';
                } else if (c == '\'') {
                    if (AT(r + 1) && !is_space(AT(r + 1))) return fail(p, unbalanced);
                    done = 1;
                } else if (!c) {
                    return fail(p, unbalanced);
                } else {
                    s[w++] = c;
                }
            } else {
                switch (c) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                case '\0':
                    done = 1;
                    break;
                case '"':
                    inq = 1;
                    break;
                case '\'':
                    insq = 1;
                    break;
                default:
                    s[w++] = c;
                    break;
                }
            }
            if (r < n) r++;
        }
        if (p->argc >= p->lim.max_args) return fail(p, "Protocol error: too big inline request");
        int rc = push_arg(p, start, w - start, p->lim.max_args);
        if (rc) return rc;
    }
#undef AT
}

static int parse_inline(struct resp_parser *p, char *data, size_t len)
{
    size_t nl;
    int r = find_term(p, data, len, '\n', &nl);
    if (r < 0) return fail(p, "Protocol error: too big inline request");
    if (r == 0) return RESP_PARSE_MORE;
    size_t end = nl;
    if (end > 0 && data[end - 1] == '\r') end--;
    /* Redis splits a C string: a NUL byte ends the line's content. */
    const char *z = memchr(data, '\0', end);
    if (z) end = (size_t)(z - data);
    int rc = split_inline(p, data, end);
    if (rc) return rc;
    p->pos = nl + 1;
    return RESP_PARSE_DONE;
}

int resp_parse(struct resp_parser *p, char *data, size_t len, size_t *used)
{
    if (p->done) reset_command(p);
    *used = 0;
    if (len == 0) return RESP_PARSE_MORE;
    if (!p->kind) p->kind = data[0] == '*' ? '*' : 'i';
    int rc = p->kind == '*' ? parse_multibulk(p, data, len) : parse_inline(p, data, len);
    if (rc != RESP_PARSE_DONE) return rc;
    for (size_t i = 0; i < p->argc; i++) {
        size_t off = p->args[i].at.off, n = p->args[i].at.len;
        p->args[i].s.p = data + off;
        p->args[i].s.len = n;
    }
    p->argv = p->argc ? &p->args[0].s : NULL;
    p->done = 1;
    *used = p->pos;
    return RESP_PARSE_DONE;
}
