/* http1_parse.c — strict HTTP/1.1 request-head parsing: request line, fields, framing. */
#include "api/http/http1_parse.h"

#include <stddef.h>
#include <string.h>

#include "util/err.h"

void http1_limits_default(struct http1_limits *lim)
{
    lim->max_head_bytes = 16u << 10;
    lim->max_headers = 64;
    lim->max_body_bytes = 4u << 20;
}

static size_t leading_empty_lines(const uint8_t *d, size_t len)
{
    size_t i = 0;
    while (i + 1 < len && d[i] == '\r' && d[i + 1] == '\n') i += 2;
    return i;
}

size_t http1_find_head_end(const uint8_t *data, size_t len, size_t *scanned)
{
    size_t start = leading_empty_lines(data, len);
    size_t from = *scanned > start + 3 ? *scanned - 3 : start;
    for (size_t i = from; i + 3 < len; i++) {
        if (data[i] == '\r' && data[i + 1] == '\n' && data[i + 2] == '\r' && data[i + 3] == '\n')
            return i + 4;
    }
    *scanned = len;
    return 0;
}

/* RFC 9110 §5.6.2 token characters. */
static int is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 §5.5 field-value characters: VCHAR, obs-text, SP, HTAB. */
static int is_vchar_or_ws(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int http1_slice_eq(struct http1_slice s, const char *lc)
{
    size_t n = strlen(lc);
    if (s.n != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((uint8_t)s.p[i]) != lc[i]) return 0;
    return 1;
}

/* Next element of a comma-separated list in *s (OWS trimmed); 0 when the list is exhausted. */
static int next_list_item(struct http1_slice *s, struct http1_slice *item)
{
    while (s->n && (*s->p == ',' || *s->p == ' ' || *s->p == '\t')) s->p++, s->n--;
    if (!s->n) return 0;
    const char *b = s->p;
    while (s->n && *s->p != ',') s->p++, s->n--;
    size_t n = (size_t)(s->p - b);
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\t')) n--;
    item->p = b;
    item->n = n;
    return 1;
}

struct parse_state {
    int has_cl, has_te, te_chunked, conn_close, conn_keep_alive, hosts;
};

static int fail(int *status, int code)
{
    *status = code;
    return CC_EPROTO;
}

/* Parses a decimal Content-Length; duplicates must agree (RFC 9112 §6.3 item 5). */
static int content_length(struct http1_request *r, struct parse_state *st, struct http1_slice v)
{
    if (v.n == 0 || v.n > 18) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return -1;
        x = x * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (st->has_cl && x != r->content_length) return -1;
    st->has_cl = 1;
    r->content_length = x;
    return 0;
}

static int field(struct http1_request *r, struct parse_state *st, const struct http1_field *f,
                 int *status)
{
    struct http1_slice v = f->value, item;
    if (http1_slice_eq(f->name, "content-length")) {
        if (content_length(r, st, v)) return fail(status, 400);
    } else if (http1_slice_eq(f->name, "transfer-encoding")) {
        st->has_te = 1;
        while (next_list_item(&v, &item)) st->te_chunked = http1_slice_eq(item, "chunked");
    } else if (http1_slice_eq(f->name, "connection")) {
        while (next_list_item(&v, &item)) {
            if (http1_slice_eq(item, "close"))
                st->conn_close = 1;
            else if (http1_slice_eq(item, "keep-alive"))
                st->conn_keep_alive = 1;
        }
    } else if (http1_slice_eq(f->name, "expect")) {
        if (!http1_slice_eq(v, "100-continue")) return fail(status, 417);
        r->expect_continue = 1;
    } else if (http1_slice_eq(f->name, "host")) {
        st->hosts++;
    }
    return 0;
}

/* request-target: origin-form, "*" or absolute-form (reduced to its path). */
static int target(struct http1_request *r, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)p[i] <= 0x20 || (uint8_t)p[i] >= 0x7f) return -1;
    if (n == 1 && p[0] == '*') {
        if (!http1_slice_eq(r->method, "options")) return -1;
    } else if ((n >= 7 && strncmp(p, "http://", 7) == 0) ||
               (n >= 8 && strncmp(p, "https://", 8) == 0)) {
        size_t skip = p[4] == ':' ? 7 : 8;
        const char *path = memchr(p + skip, '/', n - skip);
        if (!path) return -1;
        n -= (size_t)(path - p);
        p = path;
    } else if (n == 0 || p[0] != '/') {
        return -1;
    }
    r->target.p = p;
    r->target.n = n;
    return 0;
}

static int request_line(struct http1_request *r, const char *p, size_t n, int *status)
{
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1 || sp1 == p) return fail(status, 400);
    r->method.p = p;
    r->method.n = (size_t)(sp1 - p);
    for (size_t i = 0; i < r->method.n; i++)
        if (!is_tchar((uint8_t)p[i])) return fail(status, 400);
    const char *t = sp1 + 1;
    const char *sp2 = memchr(t, ' ', n - (size_t)(t - p));
    if (!sp2) return fail(status, 400);
    const char *v = sp2 + 1;
    size_t vn = n - (size_t)(v - p);
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return fail(status, 400);
    if (v[5] != '1') return fail(status, 505);
    /* A later 1.x minor is understood as 1.1 (RFC 9110 §2.5). */
    r->minor = v[7] == '0' ? 0 : 1;
    if (target(r, t, (size_t)(sp2 - t))) return fail(status, 400);
    return 0;
}

int http1_parse_head(const uint8_t *data, size_t head_len, const struct http1_limits *lim,
                     struct http1_request *r, int *status)
{
    memset(r, 0, offsetof(struct http1_request, fields));
    r->skipped = leading_empty_lines(data, head_len);
    r->head_len = head_len;
    if (head_len < r->skipped + 4) return fail(status, 400);
    if (head_len - r->skipped > lim->max_head_bytes) return fail(status, 431);
    const char *p = (const char *)data + r->skipped;
    const char *end = (const char *)data + head_len - 2; /* the blank line's CRLF */
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (!eol || eol[1] != '\n') return fail(status, 400);
    if (request_line(r, p, (size_t)(eol - p), status)) return CC_EPROTO;
    struct parse_state st = {0};
    size_t maxf = lim->max_headers < HTTP1_MAX_HEADERS ? lim->max_headers : HTTP1_MAX_HEADERS;
    for (p = eol + 2; p < end; p = eol + 2) {
        eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol[1] != '\n') return fail(status, 400);
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        /* No whitespace before the colon, no obs-fold (RFC 9112 §5.1, §5.2). */
        if (!colon || colon == p) return fail(status, 400);
        for (const char *q = p; q < colon; q++)
            if (!is_tchar((uint8_t)*q)) return fail(status, 400);
        const char *v = colon + 1, *ve = eol;
        for (const char *q = v; q < ve; q++)
            if (!is_vchar_or_ws((uint8_t)*q)) return fail(status, 400);
        while (v < ve && (*v == ' ' || *v == '\t')) v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        if (r->nfields == maxf) return fail(status, 431);
        struct http1_field *f = &r->fields[r->nfields++];
        f->name = (struct http1_slice){p, (size_t)(colon - p)};
        f->value = (struct http1_slice){v, (size_t)(ve - v)};
        if (field(r, &st, f, status)) return CC_EPROTO;
    }
    /* Framing (RFC 9112 §6.1, §6.3): a chunked body is not accepted, other codings not known,
     * both headers together are a smuggling attempt. */
    if (st.has_te)
        return fail(status, st.has_cl || r->minor == 0 ? 400 : st.te_chunked ? 411 : 501);
    if (r->minor == 1 ? st.hosts != 1 : st.hosts > 1) return fail(status, 400);
    if (r->content_length > lim->max_body_bytes) return fail(status, 413);
    r->keep_alive = r->minor == 1 ? !st.conn_close : st.conn_keep_alive && !st.conn_close;
    return 0;
}
