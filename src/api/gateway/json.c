/* json.c — JSON reading into an arena (bounded depth and memory) and writing with Go's
 * escaping rules, plus base64 (RFC 4648 §4 and §5). */
#include "api/gateway/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

struct parser {
    const char *p;
    size_t len, off;
    struct kv_arena *a;
    char *err;
    size_t errlen;
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct parser *ps)
{
    while (ps->off < ps->len && is_ws(ps->p[ps->off])) ps->off++;
}

/* Go's %q-like rendering of one byte in error messages. */
static void quote_char(char c, char *out, size_t n)
{
    unsigned char u = (unsigned char)c;
    if (c == '\'')
        snprintf(out, n, "'\\''");
    else if (c == '\n')
        snprintf(out, n, "'\\n'");
    else if (c == '\t')
        snprintf(out, n, "'\\t'");
    else if (c == '\r')
        snprintf(out, n, "'\\r'");
    else if (u >= 0x20 && u < 0x7f)
        snprintf(out, n, "'%c'", c);
    else
        snprintf(out, n, "'\\x%02x'", u);
}

static int fail_char(struct parser *ps, const char *context)
{
    if (ps->off >= ps->len) {
        snprintf(ps->err, ps->errlen, "unexpected EOF");
        return CC_EINVAL;
    }
    char q[16];
    quote_char(ps->p[ps->off], q, sizeof(q));
    snprintf(ps->err, ps->errlen, "invalid character %s %s", q, context);
    return CC_EINVAL;
}

static int nomem(struct parser *ps)
{
    snprintf(ps->err, ps->errlen, "request too large");
    return CC_ENOMEM;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(struct parser *ps, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        if (ps->off >= ps->len) return fail_char(ps, "");
        int h = hexval(ps->p[ps->off]);
        if (h < 0) return fail_char(ps, "in \\u hexadecimal character escape");
        *v = (*v << 4) | (uint32_t)h;
        ps->off++;
    }
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string literal at ps->off (the opening quote). The decoded form is never longer
 * than the literal, so the output is sized from the raw span. */
static int parse_string(struct parser *ps, const char **out, size_t *outlen)
{
    size_t start = ++ps->off;
    size_t end = start;
    while (end < ps->len && ps->p[end] != '"') end += ps->p[end] == '\\' ? 2 : 1;
    if (end >= ps->len) {
        ps->off = ps->len;
        return fail_char(ps, "");
    }
    char *o = kv_arena_alloc(ps->a, end - start + 1);
    if (!o) return nomem(ps);
    size_t n = 0;
    while (ps->off < end) {
        char c = ps->p[ps->off];
        if ((unsigned char)c < 0x20) return fail_char(ps, "in string literal");
        if (c != '\\') {
            o[n++] = c;
            ps->off++;
            continue;
        }
        ps->off++;
        char e = ps->p[ps->off++];
        switch (e) {
        case '"':
            o[n++] = '"';
            break;
        case '\\':
            o[n++] = '\\';
            break;
        case '/':
            o[n++] = '/';
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u': {
            uint32_t cp;
            int rc = read_hex4(ps, &cp);
            if (rc) return rc;
            if (cp >= 0xd800 && cp < 0xdc00 && ps->off + 6 <= end && ps->p[ps->off] == '\\' &&
                ps->p[ps->off + 1] == 'u') {
                size_t save = ps->off;
                ps->off += 2;
                uint32_t lo;
                rc = read_hex4(ps, &lo);
                if (rc) return rc;
                if (lo >= 0xdc00 && lo < 0xe000)
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else
                    ps->off = save;
            }
            if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd; /* lone surrogate, as Go */
            /* Six input bytes produce at most four output bytes (or two surrogates, twelve
             * input bytes, four output bytes): the output stays within the raw span. */
            n += put_utf8(o + n, cp);
            break;
        }
        default:
            ps->off--;
            return fail_char(ps, "in string escape code");
        }
    }
    ps->off = end + 1;
    o[n] = 0;
    *out = o;
    *outlen = n;
    return 0;
}

static int parse_number(struct parser *ps, struct json_val *v)
{
    size_t s = ps->off;
    const char *p = ps->p;
    size_t i = s;
    if (i < ps->len && p[i] == '-') i++;
    if (i >= ps->len) {
        ps->off = i;
        return fail_char(ps, "");
    }
    if (p[i] == '0')
        i++;
    else if (p[i] >= '1' && p[i] <= '9')
        while (i < ps->len && p[i] >= '0' && p[i] <= '9') i++;
    else {
        ps->off = i;
        return fail_char(ps, "in numeric literal");
    }
    if (i < ps->len && p[i] == '.') {
        i++;
        if (i >= ps->len || p[i] < '0' || p[i] > '9') {
            ps->off = i;
            return fail_char(ps, "after decimal point in numeric literal");
        }
        while (i < ps->len && p[i] >= '0' && p[i] <= '9') i++;
    }
    if (i < ps->len && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < ps->len && (p[i] == '+' || p[i] == '-')) i++;
        if (i >= ps->len || p[i] < '0' || p[i] > '9') {
            ps->off = i;
            return fail_char(ps, "in exponent of numeric literal");
        }
        while (i < ps->len && p[i] >= '0' && p[i] <= '9') i++;
    }
    v->type = JSON_NUMBER;
    v->s = p + s;
    v->slen = i - s;
    ps->off = i;
    return 0;
}

static int parse_literal(struct parser *ps, const char *word, struct json_val *v)
{
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (ps->off + i >= ps->len || ps->p[ps->off + i] != word[i]) {
            ps->off += i;
            char ctx[64];
            snprintf(ctx, sizeof(ctx), "in literal %s (expecting '%c')", word, word[i]);
            return fail_char(ps, ctx);
        }
    }
    ps->off += n;
    if (word[0] == 'n')
        v->type = JSON_NULL;
    else {
        v->type = JSON_BOOL;
        v->b = word[0] == 't';
    }
    return 0;
}

static int parse_value(struct parser *ps, struct json_val *v, int depth);

static int parse_container(struct parser *ps, struct json_val *v, int depth, bool object)
{
    if (depth >= JSON_MAX_DEPTH) {
        snprintf(ps->err, ps->errlen, "exceeded max depth");
        return CC_ETOOBIG;
    }
    v->type = object ? JSON_OBJECT : JSON_ARRAY;
    ps->off++;
    skip_ws(ps);
    char close = object ? '}' : ']';
    if (ps->off < ps->len && ps->p[ps->off] == close) {
        ps->off++;
        return 0;
    }
    struct json_val **tail = &v->first;
    for (;;) {
        struct json_val *e = kv_arena_calloc(ps->a, 1, sizeof(*e));
        if (!e) return nomem(ps);
        if (object) {
            skip_ws(ps);
            if (ps->off >= ps->len || ps->p[ps->off] != '"')
                return fail_char(ps, "looking for beginning of object key string");
            int rc = parse_string(ps, &e->key, &e->klen);
            if (rc) return rc;
            skip_ws(ps);
            if (ps->off >= ps->len || ps->p[ps->off] != ':')
                return fail_char(ps, "after object key");
            ps->off++;
        }
        int rc = parse_value(ps, e, depth + 1);
        if (rc) return rc;
        *tail = e;
        tail = &e->next;
        v->n++;
        skip_ws(ps);
        if (ps->off < ps->len && ps->p[ps->off] == ',') {
            ps->off++;
            continue;
        }
        if (ps->off < ps->len && ps->p[ps->off] == close) {
            ps->off++;
            return 0;
        }
        return fail_char(ps, object ? "after object key:value pair" : "after array element");
    }
}

static int parse_value(struct parser *ps, struct json_val *v, int depth)
{
    skip_ws(ps);
    if (ps->off >= ps->len) return fail_char(ps, "");
    char c = ps->p[ps->off];
    switch (c) {
    case '{':
        return parse_container(ps, v, depth, true);
    case '[':
        return parse_container(ps, v, depth, false);
    case '"':
        v->type = JSON_STRING;
        return parse_string(ps, &v->s, &v->slen);
    case 't':
        return parse_literal(ps, "true", v);
    case 'f':
        return parse_literal(ps, "false", v);
    case 'n':
        return parse_literal(ps, "null", v);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(ps, v);
        return fail_char(ps, "looking for beginning of value");
    }
}

int json_parse(const char *p, size_t len, struct kv_arena *a, struct json_val **out,
               size_t *consumed, char *err, size_t errlen)
{
    struct parser ps = {p, len, 0, a, err, errlen};
    if (errlen) err[0] = 0;
    skip_ws(&ps);
    if (ps.off >= len) return CC_ENOTFOUND;
    struct json_val *v = kv_arena_calloc(a, 1, sizeof(*v));
    if (!v) return nomem(&ps);
    int rc = parse_value(&ps, v, 0);
    if (rc) return rc;
    skip_ws(&ps);
    *out = v;
    *consumed = ps.off;
    return 0;
}

const struct json_val *json_get(const struct json_val *obj, const char *name)
{
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    size_t n = strlen(name);
    for (const struct json_val *e = obj->first; e; e = e->next)
        if (e->klen == n && !memcmp(e->key, name, n)) return e;
    return NULL;
}

/* ---- writing ---- */

int json_put_raw(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) return 0;
    *cp = v;
    return len;
}

int json_put_str(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = buf_put_u8(b, '"');
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (!rc && i < len) {
        uint32_t cp;
        size_t n = utf8_len(u + i, len - i, &cp);
        char esc[8];
        const char *out = NULL;
        size_t outn = 0;
        if (n == 0) {
            out = "\\ufffd", outn = 6, n = 1;
        } else if (cp == '"' || cp == '\\') {
            esc[0] = '\\', esc[1] = (char)cp, out = esc, outn = 2;
        } else if (cp == '\n') {
            out = "\\n", outn = 2;
        } else if (cp == '\r') {
            out = "\\r", outn = 2;
        } else if (cp == '\t') {
            out = "\\t", outn = 2;
        } else if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&' || cp == 0x2028 ||
                   cp == 0x2029) {
            memcpy(esc, "\\u", 2);
            esc[2] = hex[(cp >> 12) & 15], esc[3] = hex[(cp >> 8) & 15];
            esc[4] = hex[(cp >> 4) & 15], esc[5] = hex[cp & 15];
            out = esc, outn = 6;
        } else {
            out = s + i, outn = n;
        }
        rc = buf_append(b, out, outn);
        i += n;
    }
    return rc ? rc : buf_put_u8(b, '"');
}

int json_put_i64(struct buf *b, int64_t v, bool quoted)
{
    char t[32];
    int n = snprintf(t, sizeof(t), quoted ? "\"%" PRId64 "\"" : "%" PRId64, v);
    return buf_append(b, t, (size_t)n);
}

int json_put_u64(struct buf *b, uint64_t v, bool quoted)
{
    char t[32];
    int n = snprintf(t, sizeof(t), quoted ? "\"%" PRIu64 "\"" : "%" PRIu64, v);
    return buf_append(b, t, (size_t)n);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int json_put_base64(struct buf *b, const uint8_t *p, size_t len)
{
    size_t out = (len + 2) / 3 * 4;
    int rc = buf_reserve(b, out + 2);
    if (rc) return rc;
    char *o = (char *)b->data + b->len;
    size_t k = 0;
    o[k++] = '"';
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[k++] = B64[v >> 18];
        o[k++] = B64[(v >> 12) & 63];
        o[k++] = B64[(v >> 6) & 63];
        o[k++] = B64[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        o[k++] = B64[v >> 18];
        o[k++] = B64[(v >> 12) & 63];
        o[k++] = '=';
        o[k++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        o[k++] = B64[v >> 18];
        o[k++] = B64[(v >> 12) & 63];
        o[k++] = B64[(v >> 6) & 63];
        o[k++] = '=';
    }
    o[k++] = '"';
    b->len += k;
    return 0;
}

size_t json_base64_max(size_t len)
{
    return len / 4 * 3 + 3;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

long json_base64_decode(const char *s, size_t len, uint8_t *out, size_t *bad_at)
{
    size_t n = len;
    while (n > 0 && s[n - 1] == '=') n--;
    if (len - n > 2 || (len != n && len % 4 != 0)) {
        *bad_at = n;
        return -1;
    }
    uint32_t acc = 0;
    int bits = 0;
    long o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0) {
            *bad_at = i;
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* A single leftover character cannot encode a byte (leftover bits are ignored, as Go's
     * non-strict decoder does). */
    if (n % 4 == 1) {
        *bad_at = n - 1;
        return -1;
    }
    return o;
}
