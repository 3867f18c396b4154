/* txn_parse.c — etcdctl's argify(), Go string unquoting and txn compare parsing. */
#include "ctl/txn_parse.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/flags.h"
#include "ctl/print.h"

char *txn_trim_space(char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Writes rune r as UTF-8; returns the byte count (r already validated). */
static size_t put_utf8(char *o, uint32_t r)
{
    if (r < 0x80) {
        o[0] = (char)r;
        return 1;
    }
    if (r < 0x800) {
        o[0] = (char)(0xc0 | (r >> 6));
        o[1] = (char)(0x80 | (r & 0x3f));
        return 2;
    }
    if (r < 0x10000) {
        o[0] = (char)(0xe0 | (r >> 12));
        o[1] = (char)(0x80 | ((r >> 6) & 0x3f));
        o[2] = (char)(0x80 | (r & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (r >> 18));
    o[1] = (char)(0x80 | ((r >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((r >> 6) & 0x3f));
    o[3] = (char)(0x80 | (r & 0x3f));
    return 4;
}

long txn_go_unquote(const char *s, size_t len, char *out)
{
    if (len < 2 || s[len - 1] != s[0]) return -1;
    if (s[0] == '`') {
        size_t n = 0;
        for (size_t i = 1; i + 1 < len; i++) {
            if (s[i] == '`') return -1;
            if (s[i] != '\r') out[n++] = s[i]; /* Go drops carriage returns in raw strings */
        }
        return (long)n;
    }
    if (s[0] != '"') return -1;
    size_t n = 0;
    for (size_t i = 1; i + 1 < len;) {
        char c = s[i];
        if (c == '"' || c == '\n') return -1;
        if (c != '\\') {
            out[n++] = c;
            i++;
            continue;
        }
        if (i + 2 >= len) return -1;
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case 'a':
            out[n++] = '\a';
            break;
        case 'b':
            out[n++] = '\b';
            break;
        case 'f':
            out[n++] = '\f';
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'v':
            out[n++] = '\v';
            break;
        case '\\':
            out[n++] = '\\';
            break;
        case '"':
            out[n++] = '"';
            break;
        case 'x': {
            if (i + 2 > len - 1) return -1;
            int h = hexval(s[i]), l = hexval(s[i + 1]);
            if (h < 0 || l < 0) return -1;
            out[n++] = (char)(h * 16 + l);
            i += 2;
            break;
        }
        case 'u':
        case 'U': {
            size_t digits = e == 'u' ? 4 : 8;
            if (i + digits > len - 1) return -1;
            uint32_t r = 0;
            for (size_t k = 0; k < digits; k++) {
                int v = hexval(s[i + k]);
                if (v < 0) return -1;
                r = r * 16 + (uint32_t)v;
            }
            if (r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return -1;
            n += put_utf8(out + n, r); /* at most 4 bytes for 6 or 10 consumed */
            i += digits;
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                if (i + 2 > len - 1) return -1;
                int v = e - '0';
                for (int k = 0; k < 2; k++) {
                    if (s[i + (size_t)k] < '0' || s[i + (size_t)k] > '7') return -1;
                    v = v * 8 + (s[i + (size_t)k] - '0');
                }
                if (v > 255) return -1;
                out[n++] = (char)v;
                i += 2;
                break;
            }
            return -1;
        }
    }
    return (long)n;
}

/* Length of a "..." literal starting at p (with backslash escapes), or 0 if unterminated. */
static size_t dquoted_len(const char *p)
{
    for (size_t i = 1; p[i]; i++) {
        if (p[i] == '\\') {
            if (!p[i + 1]) return 0;
            i++;
        } else if (p[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

int txn_argify(char *line, char **argv, int max)
{
    int n = 0;
    char *p = line;
    while (*p && n < max) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (*p == '"') {
            size_t len = dquoted_len(p);
            if (!len) {
                p++; /* no match at this position: the regexp moves on */
                continue;
            }
            char *end = p + len;
            long dl = txn_go_unquote(p, len, p); /* decodes in place: never longer */
            if (dl < 0) return -1;
            p[dl] = 0; /* inside the literal: the closing quote at least is spare */
            argv[n++] = p;
            p = end;
            continue;
        }
        if (*p == '\'') {
            char *close = strchr(p + 1, '\'');
            if (!close) {
                p++;
                continue;
            }
            *close = 0;
            argv[n++] = p + 1;
            p = close + 1;
            continue;
        }
        char *start = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        if (*p) *p++ = 0;
        argv[n++] = start;
    }
    return n;
}

/* fmt.Sscanf's %q: skips spaces, reads a Go string literal. Returns bytes consumed (0 on
 * failure); the value is a heap copy in *out. */
static size_t scan_quoted(const char *s, char **out, size_t *out_len)
{
    const char *p = s;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    size_t len = 0;
    if (*p == '"') {
        len = dquoted_len(p);
    } else if (*p == '`') {
        const char *c = strchr(p + 1, '`');
        len = c ? (size_t)(c - p) + 1 : 0;
    }
    if (!len) return 0;
    char *v = malloc(len + 1);
    if (!v) return 0;
    long dl = txn_go_unquote(p, len, v);
    if (dl < 0) {
        free(v);
        return 0;
    }
    v[dl] = 0;
    *out = v;
    *out_len = (size_t)dl;
    return (size_t)(p - s) + len;
}

void txn_cmp_free(struct txn_cmp *c)
{
    free(c->key);
    free(c->value);
    c->key = c->value = NULL;
}

static void malformed(char *err, size_t errlen, const char *line, const char *target,
                      const struct txn_cmp *c, const char *op)
{
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f) {
        snprintf(err, errlen, "malformed comparison: %s", line);
        return;
    }
    fprintf(f, "malformed comparison: %s; got %s(", line, target);
    print_go_quote(f, (const uint8_t *)(c->key ? c->key : ""), c->key ? c->key_len : 0);
    fprintf(f, ") %s ", op);
    print_go_quote(f, (const uint8_t *)(c->value ? c->value : ""), c->value ? c->value_len : 0);
    fclose(f);
    snprintf(err, errlen, "%s", buf);
    free(buf);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int txn_parse_compare(const char *line, struct txn_cmp *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    const char *lp = strchr(line, '(');
    if (!lp) {
        snprintf(err, errlen, "malformed comparison: %s", line);
        return -1;
    }
    char target[64];
    snprintf(target, sizeof target, "%.*s", (int)(lp - line), line);

    /* Sscanf(rest, "%q) %s %q", &key, &op, &val) */
    char op[64] = "";
    const char *p = lp + 1;
    size_t used = scan_quoted(p, &c->key, &c->key_len);
    int n = 0;
    if (used) {
        n = 1;
        p += used;
        /* A space in a Go scan format needs one or more spaces in the input. */
        if (*p == ')' && is_blank(p[1])) {
            p++;
            while (is_blank(*p)) p++;
            size_t ol = 0;
            while (p[ol] && !isspace((unsigned char)p[ol])) ol++;
            if (ol && ol < sizeof op) {
                memcpy(op, p, ol);
                op[ol] = 0;
                n = 2;
                p += ol;
                if (is_blank(*p)) {
                    while (is_blank(*p)) p++;
                    if (scan_quoted(p, &c->value, &c->value_len)) n = 3;
                }
            }
        }
    }
    if (n != 3) {
        malformed(err, errlen, line, target, c, op);
        txn_cmp_free(c);
        return -1;
    }
    if (!strcmp(op, "="))
        c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
    else if (!strcmp(op, "!="))
        c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL;
    else if (!strcmp(op, "<"))
        c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS;
    else if (!strcmp(op, ">"))
        c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER;
    else {
        /* etcdctl panics here ("Unknown result op"); report it instead. */
        snprintf(err, errlen, "malformed comparison: %s (unknown result op %s)", line, op);
        txn_cmp_free(c);
        return -1;
    }
    int rc = 0;
    if (!strcmp(target, "ver") || !strcmp(target, "version")) {
        c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
        rc = flags_parse_dec_int64(c->value, &c->num);
    } else if (!strcmp(target, "c") || !strcmp(target, "create")) {
        c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
        rc = flags_parse_dec_int64(c->value, &c->num);
    } else if (!strcmp(target, "m") || !strcmp(target, "mod")) {
        c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
        rc = flags_parse_dec_int64(c->value, &c->num);
    } else if (!strcmp(target, "val") || !strcmp(target, "value")) {
        c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
    } else if (!strcmp(target, "lease")) {
        c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE;
        rc = flags_parse_hex_int64(c->value, &c->num);
    } else {
        snprintf(err, errlen, "malformed comparison: %s (unknown target %s)", line, target);
        txn_cmp_free(c);
        return -1;
    }
    if (rc != 0) {
        snprintf(err, errlen, "invalid txn compare request: %s", line);
        txn_cmp_free(c);
        return -1;
    }
    return 0;
}

void txn_cmp_to_pb(const struct txn_cmp *c, Etcdserverpb__Compare *pb)
{
    *pb = (Etcdserverpb__Compare)ETCDSERVERPB__COMPARE__INIT;
    pb->result = c->result;
    pb->target = c->target;
    pb->key = (ProtobufCBinaryData){c->key_len, (uint8_t *)c->key};
    switch (c->target) {
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION:
        pb->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
        pb->version = c->num;
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE:
        pb->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
        pb->create_revision = c->num;
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD:
        pb->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
        pb->mod_revision = c->num;
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE:
        pb->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
        pb->value = (ProtobufCBinaryData){c->value_len, (uint8_t *)c->value};
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE:
        pb->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
        pb->lease = c->num;
        break;
    default:
        break;
    }
}
