/* print.c — formatting helpers shared by concurctl's printers (Go quoting, sizes, durations). */
#include "ctl/print.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int print_unsupported(struct ctl *ctl)
{
    return ctl_error(ctl, CTL_EXIT_BAD_FEATURE, "%s not supported as output format", ctl->pr->name);
}

/* Decodes one UTF-8 sequence; returns its length, or 0 when invalid (Go's utf8.DecodeRune
 * returns RuneError with width 1 then). */
static size_t utf8_decode(const uint8_t *s, size_t len, uint32_t *r)
{
    uint8_t c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *r = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *r = v;
    return n;
}

/* An approximation of Go's unicode.IsPrint for runes above ASCII: control, format and
 * separator characters that %q escapes. */
static bool rune_printable(uint32_t r)
{
    if (r < 0xa0) return false;
    if (r == 0xad || r == 0x2028 || r == 0x2029 || r == 0xfeff) return false;
    if (r >= 0x200b && r <= 0x200f) return false;
    if (r >= 0x202a && r <= 0x202e) return false;
    if (r >= 0x2060 && r <= 0x206f) return false;
    if (r >= 0xfff9 && r <= 0xfffb) return false;
    if (r >= 0xe000 && r <= 0xf8ff) return false; /* private use */
    if ((r & 0xfffe) == 0xfffe) return false;
    return true;
}

void print_go_quote(FILE *f, const uint8_t *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        uint8_t c = s[i];
        if (c < 0x80) {
            switch (c) {
            case '"':
                fputs("\\\"", f);
                break;
            case '\\':
                fputs("\\\\", f);
                break;
            case '\a':
                fputs("\\a", f);
                break;
            case '\b':
                fputs("\\b", f);
                break;
            case '\f':
                fputs("\\f", f);
                break;
            case '\n':
                fputs("\\n", f);
                break;
            case '\r':
                fputs("\\r", f);
                break;
            case '\t':
                fputs("\\t", f);
                break;
            case '\v':
                fputs("\\v", f);
                break;
            default:
                if (c < 0x20 || c == 0x7f)
                    fprintf(f, "\\x%02x", c);
                else
                    fputc(c, f);
            }
            i++;
            continue;
        }
        uint32_t r;
        size_t n = utf8_decode(s + i, len - i, &r);
        if (n == 0) {
            fprintf(f, "\\x%02x", c);
            i++;
        } else if (rune_printable(r)) {
            fwrite(s + i, 1, n, f);
            i += n;
        } else {
            if (r < 0x10000)
                fprintf(f, "\\u%04x", r);
            else
                fprintf(f, "\\U%08x", r);
            i += n;
        }
    }
    fputc('"', f);
}

void print_hex_escaped(FILE *f, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++) fprintf(f, "\\x%02x", s[i]);
}

void print_humanize_bytes(uint64_t n, char *out, size_t outlen)
{
    static const char *const sizes[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    if (n < 10) {
        snprintf(out, outlen, "%llu B", (unsigned long long)n);
        return;
    }
    double e = floor(log((double)n) / log(1000.0));
    if (e > 6) e = 6;
    double val = floor((double)n / pow(1000.0, e) * 10 + 0.5) / 10;
    if (val < 10)
        snprintf(out, outlen, "%.1f %s", val, sizes[(int)e]);
    else
        snprintf(out, outlen, "%.0f %s", val, sizes[(int)e]);
}

/* Appends v / 10^prec as ".ddd" without trailing zeros (Go's fmtFrac) after the integer part. */
static void dur_part(char *out, size_t outlen, uint64_t v, int prec, const char *unit)
{
    uint64_t p10 = 1;
    for (int i = 0; i < prec; i++) p10 *= 10;
    char frac[16] = "";
    uint64_t f = v % p10;
    if (f) {
        snprintf(frac, sizeof frac, ".%0*llu", prec, (unsigned long long)f);
        size_t l = strlen(frac);
        while (l > 1 && frac[l - 1] == '0') frac[--l] = 0;
    }
    snprintf(out, outlen, "%llu%s%s", (unsigned long long)(v / p10), frac, unit);
}

void print_go_duration(int64_t ns, char *out, size_t outlen)
{
    const char *sign = ns < 0 ? "-" : "";
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    char body[48];
    if (u == 0) {
        snprintf(out, outlen, "0s");
        return;
    }
    if (u < 1000ull) {
        dur_part(body, sizeof body, u, 0, "ns");
    } else if (u < 1000000ull) {
        dur_part(body, sizeof body, u, 3, "\xc2\xb5s");
    } else if (u < 1000000000ull) {
        dur_part(body, sizeof body, u, 6, "ms");
    } else {
        uint64_t secs_ns = u % 60000000000ull;
        uint64_t mins = u / 60000000000ull;
        char sec[32];
        dur_part(sec, sizeof sec, secs_ns, 9, "s");
        if (mins == 0)
            snprintf(body, sizeof body, "%s", sec);
        else if (mins < 60)
            snprintf(body, sizeof body, "%llum%s", (unsigned long long)mins, sec);
        else
            snprintf(body, sizeof body, "%lluh%llum%s", (unsigned long long)(mins / 60),
                     (unsigned long long)(mins % 60), sec);
    }
    snprintf(out, outlen, "%s%s", sign, body);
}

const char *print_event_type(int t, char *buf, size_t len)
{
    if (t == MVCCPB__EVENT__EVENT_TYPE__PUT) return "PUT";
    if (t == MVCCPB__EVENT__EVENT_TYPE__DELETE) return "DELETE";
    snprintf(buf, len, "%d", t);
    return buf;
}

const char *print_alarm_type(int t, char *buf, size_t len)
{
    switch (t) {
    case ETCDSERVERPB__ALARM_TYPE__NONE:
        return "NONE";
    case ETCDSERVERPB__ALARM_TYPE__NOSPACE:
        return "NOSPACE";
    case ETCDSERVERPB__ALARM_TYPE__CORRUPT:
        return "CORRUPT";
    default:
        snprintf(buf, len, "%d", t);
        return buf;
    }
}

const Etcdserverpb__ResponseHeader *print_header_or_zero(const Etcdserverpb__ResponseHeader *h)
{
    static const Etcdserverpb__ResponseHeader zero = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    return h ? h : &zero;
}

/* ---- rows shared by the simple and table printers ---- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) abort(); /* a CLI printing a few rows: out of memory here is not recoverable */
    return d;
}

static char *join(char *const *v, size_t n, const char *sep)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++) len += strlen(v[i]) + strlen(sep);
    char *s = malloc(len);
    if (!s) abort();
    s[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(s, sep);
        strcat(s, v[i]);
    }
    return s;
}

static char *fmt_u64(bool hex, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, hex ? "%llx" : "%llu", (unsigned long long)v);
    return xstrdup(b);
}

static char **cells_alloc(size_t n)
{
    char **c = calloc(n ? n : 1, sizeof *c);
    if (!c) abort();
    return c;
}

void print_cells_free(char **cells, size_t n)
{
    if (!cells) return;
    for (size_t i = 0; i < n; i++) free(cells[i]);
    free(cells);
}

size_t print_member_rows(const Etcdserverpb__MemberListResponse *r, char ***out)
{
    char **c = cells_alloc(r->n_members * PRINT_MEMBER_COLS);
    for (size_t i = 0; i < r->n_members; i++) {
        const Etcdserverpb__Member *m = r->members[i];
        char **row = c + i * PRINT_MEMBER_COLS;
        row[0] = fmt_u64(true, m->id);
        row[1] = xstrdup(m->name[0] ? "started" : "unstarted");
        row[2] = xstrdup(m->name);
        row[3] = join(m->peerurls, m->n_peerurls, ",");
        row[4] = join(m->clienturls, m->n_clienturls, ",");
        row[5] = xstrdup(m->islearner ? "true" : "false");
    }
    *out = c;
    return r->n_members;
}

size_t print_status_rows(const struct ep_status *s, size_t n, char ***out)
{
    char **c = cells_alloc(n * PRINT_STATUS_COLS);
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__StatusResponse *r = s[i].resp;
        const Etcdserverpb__ResponseHeader *h = print_header_or_zero(r->header);
        char **row = c + i * PRINT_STATUS_COLS;
        char size[32];
        print_humanize_bytes((uint64_t)r->dbsize, size, sizeof size);
        row[0] = xstrdup(s[i].ep);
        row[1] = fmt_u64(true, h->member_id);
        row[2] = xstrdup(r->version);
        row[3] = xstrdup(size);
        row[4] = xstrdup(r->leader == h->member_id ? "true" : "false");
        row[5] = xstrdup(r->islearner ? "true" : "false");
        row[6] = fmt_u64(false, r->raftterm);
        row[7] = fmt_u64(false, r->raftindex);
        row[8] = fmt_u64(false, r->raftappliedindex);
        row[9] = join(r->errors, r->n_errors, ", ");
    }
    *out = c;
    return n;
}

size_t print_hashkv_rows(const struct ep_hashkv *h, size_t n, char ***out)
{
    char **c = cells_alloc(n * PRINT_HASHKV_COLS);
    for (size_t i = 0; i < n; i++) {
        c[i * 2] = xstrdup(h[i].ep);
        c[i * 2 + 1] = fmt_u64(false, h[i].resp->hash);
    }
    *out = c;
    return n;
}

size_t print_health_rows(const struct ep_health *h, size_t n, char ***out)
{
    char **c = cells_alloc(n * PRINT_HEALTH_COLS);
    for (size_t i = 0; i < n; i++) {
        char **row = c + i * PRINT_HEALTH_COLS;
        row[0] = xstrdup(h[i].ep);
        row[1] = xstrdup(h[i].health ? "true" : "false");
        row[2] = xstrdup(h[i].took);
        row[3] = xstrdup(h[i].error);
    }
    *out = c;
    return n;
}
