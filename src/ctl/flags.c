/* flags.c — pflag-compatible flag parsing and Go's number/duration syntax for concurctl. */
#include "ctl/flags.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int digit_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return 99;
}

/* Parses the magnitude of an unsigned number in base (2..36). underscores allowed only when
 * allow_us (Go permits them with base 0 and a prefix). Returns 0, -1 syntax, -2 range. */
static int parse_mag(const char *s, int base, bool allow_us, uint64_t *out)
{
    uint64_t v = 0;
    bool any = false, range = false;
    char prev = 0;
    if (!*s) return -1;
    for (const char *p = s; *p; p++) {
        if (*p == '_' && allow_us) {
            if (prev == '_') return -1;
            prev = '_';
            continue;
        }
        int d = digit_val(*p);
        if (d >= base) return -1;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) range = true;
        v = v * (uint64_t)base + (uint64_t)d;
        any = true;
        prev = *p;
    }
    if (!any || prev == '_') return -1;
    *out = v;
    return range ? -2 : 0;
}

static int parse_signed(const char *s, int base, int64_t *out)
{
    bool neg = false;
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    bool us = false;
    if (base == 0) {
        base = 10;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
            base = 16, s += 2, us = true;
        } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
            base = 2, s += 2, us = true;
        } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
            base = 8, s += 2, us = true;
        } else if (s[0] == '0' && s[1]) {
            base = 8, s += 1, us = true;
        } else {
            us = true; /* Go allows '_' in base-0 decimal too */
        }
    }
    uint64_t mag;
    int rc = parse_mag(s, base, us, &mag);
    if (rc == -1) return -1;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (rc == -2 || mag > lim) {
        *out = neg ? INT64_MIN : INT64_MAX;
        return -2;
    }
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

int flags_parse_int64(const char *s, int64_t *out)
{
    return parse_signed(s, 0, out);
}

int flags_parse_dec_int64(const char *s, int64_t *out)
{
    return parse_signed(s, 10, out);
}

int flags_parse_hex_int64(const char *s, int64_t *out)
{
    return parse_signed(s, 16, out);
}

int flags_parse_hex_uint64(const char *s, uint64_t *out)
{
    if (*s == '+') s++;
    return parse_mag(s, 16, false, out);
}

void flags_strconv_error(const char *fn, const char *s, int rc, char *out, size_t outlen)
{
    snprintf(out, outlen, "strconv.%s: parsing \"%s\": %s", fn, s,
             rc == -2 ? "value out of range" : "invalid syntax");
}

/* Go's time.ParseDuration, on int64 nanoseconds. */
int flags_parse_duration(const char *s, int64_t *ns)
{
    static const struct {
        const char *unit;
        uint64_t ns;
    } units[] = {{"ns", 1ull},           {"us", 1000ull},        {"\xc2\xb5s", 1000ull},
                 {"\xce\xbcs", 1000ull}, {"ms", 1000000ull},     {"s", 1000000000ull},
                 {"m", 60000000000ull},  {"h", 3600000000000ull}};
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (!*p) return -1;
    double total = 0;
    while (*p) {
        if (!(isdigit((unsigned char)*p) || *p == '.')) return -1;
        const char *num = p;
        bool digits = false;
        while (isdigit((unsigned char)*p)) p++, digits = true;
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) p++, digits = true;
        }
        if (!digits) return -1;
        double v = strtod(num, NULL);
        const char *u = p;
        while (*p && *p != '.' && !isdigit((unsigned char)*p)) p++;
        size_t ul = (size_t)(p - u);
        if (ul == 0) return -1; /* missing unit */
        size_t i;
        for (i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].unit) == ul && memcmp(units[i].unit, u, ul) == 0) break;
        if (i == sizeof units / sizeof units[0]) return -1;
        total += v * (double)units[i].ns;
        if (total > 9.2233720368547758e18) return -1;
    }
    *ns = (int64_t)(neg ? -total : total);
    return 0;
}

static void copy_str(const struct flag_def *d, const char *v)
{
    snprintf((char *)d->target, d->cap, "%s", v);
}

int flags_set(const struct flag_def *d, const char *value, char *err, size_t errlen)
{
    char why[256];
    char name[64];
    if (d->shorthand)
        snprintf(name, sizeof name, "-%c, --%s", d->shorthand, d->name);
    else
        snprintf(name, sizeof name, "--%s", d->name);
    switch (d->kind) {
    case FLAG_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "t") ||
            !strcmp(value, "T") || !strcmp(value, "TRUE") || !strcmp(value, "True")) {
            *(bool *)d->target = true;
        } else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "f") ||
                   !strcmp(value, "F") || !strcmp(value, "FALSE") || !strcmp(value, "False")) {
            *(bool *)d->target = false;
        } else {
            snprintf(why, sizeof why, "strconv.ParseBool: parsing \"%s\": invalid syntax", value);
            goto bad;
        }
        break;
    case FLAG_STRING:
        if (strlen(value) >= d->cap) {
            snprintf(why, sizeof why, "value too long (limit %zu bytes)", d->cap - 1);
            goto bad;
        }
        copy_str(d, value);
        break;
    case FLAG_SLICE: {
        char *t = d->target;
        bool first = !(d->changed && *d->changed);
        size_t have = first ? 0 : strlen(t);
        if (have + strlen(value) + 2 > d->cap) {
            snprintf(why, sizeof why, "value too long (limit %zu bytes)", d->cap - 1);
            goto bad;
        }
        if (first)
            copy_str(d, value);
        else
            snprintf(t + have, d->cap - have, "%s%s", have ? "," : "", value);
        break;
    }
    case FLAG_INT64: {
        int rc = flags_parse_int64(value, (int64_t *)d->target);
        if (rc != 0) {
            flags_strconv_error("ParseInt", value, rc, why, sizeof why);
            goto bad;
        }
        break;
    }
    case FLAG_DURATION:
        if (flags_parse_duration(value, (int64_t *)d->target) != 0) {
            snprintf(why, sizeof why, "time: invalid duration \"%s\"", value);
            goto bad;
        }
        break;
    }
    if (d->changed) *d->changed = true;
    return 0;
bad:
    snprintf(err, errlen, "invalid argument \"%s\" for \"%s\" flag: %s", value, name, why);
    return -1;
}

static const struct flag_def *find_long(const struct flag_def *defs, size_t n, const char *name,
                                        size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(defs[i].name) == len && memcmp(defs[i].name, name, len) == 0) return &defs[i];
    return NULL;
}

static const struct flag_def *find_short(const struct flag_def *defs, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (defs[i].shorthand == c) return &defs[i];
    return NULL;
}

/* Sets a flag that the user gave; slices remember they were given so repeats append. */
static int set_given(const struct flag_def *d, const char *v, bool *seen, char *err, size_t errlen)
{
    struct flag_def tmp = *d;
    bool changed = *seen;
    tmp.changed = &changed;
    if (flags_set(&tmp, v, err, errlen) != 0) return -1;
    *seen = true;
    if (d->changed) *d->changed = true;
    return 0;
}

int flags_parse(const struct flag_def *defs, size_t n_defs, int argc, char **argv, char **pos,
                int max_pos, int *n_pos, int *at_dash, bool *help, char *err, size_t errlen)
{
    bool seen[128] = {false};
    *n_pos = 0;
    *at_dash = -1;
    if (help) *help = false;
    if (n_defs > sizeof seen / sizeof seen[0]) {
        snprintf(err, errlen, "too many flags defined");
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (*at_dash < 0 && strcmp(a, "--") == 0) {
            *at_dash = *n_pos;
            continue;
        }
        if (*at_dash >= 0 || a[0] != '-' || a[1] == 0) {
            if (*n_pos >= max_pos) {
                snprintf(err, errlen, "too many arguments (limit %d)", max_pos);
                return -1;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t nl = eq ? (size_t)(eq - name) : strlen(name);
            const struct flag_def *d = find_long(defs, n_defs, name, nl);
            if (!d) {
                if (nl == 4 && memcmp(name, "help", 4) == 0 && help) {
                    *help = true;
                    continue;
                }
                snprintf(err, errlen, "unknown flag: --%.*s", (int)nl, name);
                return -1;
            }
            const char *v;
            if (eq) {
                v = eq + 1;
            } else if (d->kind == FLAG_BOOL) {
                v = "true";
            } else if (i + 1 < argc) {
                v = argv[++i];
            } else {
                snprintf(err, errlen, "flag needs an argument: --%s", d->name);
                return -1;
            }
            if (set_given(d, v, &seen[d - defs], err, errlen) != 0) return -1;
            continue;
        }
        /* Shorthand cluster: "-i", "-wjson", "-w json", "-w=json", "-ih". */
        for (const char *p = a + 1; *p; p++) {
            const struct flag_def *d = find_short(defs, n_defs, *p);
            if (!d) {
                if (*p == 'h' && help) {
                    *help = true;
                    continue;
                }
                snprintf(err, errlen, "unknown shorthand flag: '%c' in %s", *p, a);
                return -1;
            }
            const char *v;
            if (d->kind == FLAG_BOOL) {
                v = p[1] == '=' ? p + 2 : "true";
                if (set_given(d, v, &seen[d - defs], err, errlen) != 0) return -1;
                if (p[1] == '=') break;
                continue;
            }
            if (p[1] == '=')
                v = p + 2;
            else if (p[1])
                v = p + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else {
                snprintf(err, errlen, "flag needs an argument: '%c' in %s", *p, a);
                return -1;
            }
            if (set_given(d, v, &seen[d - defs], err, errlen) != 0) return -1;
            break;
        }
    }
    return 0;
}
