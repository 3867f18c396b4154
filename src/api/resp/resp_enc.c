/* resp_enc.c — RESP2 reply encoder appending to a bounded buffer. */
#include "api/resp/resp_enc.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

#define ERRF_MAX 4096

/* Appends "<type><number>\r\n". */
static int put_header(struct buf *b, char type, long long v)
{
    char t[32];
    int n = snprintf(t, sizeof(t), "%c%lld\r\n", type, v);
    return buf_append(b, t, (size_t)n);
}

/* Appends "<type>" + s with CR/LF mapped to spaces + "\r\n", all or nothing. */
static int put_line(struct buf *b, char type, const char *prefix, const char *s, size_t len)
{
    size_t plen = strlen(prefix);
    if (len > SIZE_MAX - plen - 3) return CC_ETOOBIG;
    int rc = buf_reserve(b, 1 + plen + len + 2);
    if (rc) return rc;
    uint8_t *o = b->data + b->len;
    *o++ = (uint8_t)type;
    memcpy(o, prefix, plen);
    o += plen;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        *o++ = (uint8_t)(c == '\r' || c == '\n' ? ' ' : c);
    }
    *o++ = '\r';
    *o++ = '\n';
    b->len = (size_t)(o - b->data);
    return 0;
}

int resp_enc_simple(struct buf *b, const char *s)
{
    return put_line(b, '+', "", s, strlen(s));
}

int resp_enc_error_len(struct buf *b, const char *msg, size_t len)
{
    if (len > 0 && msg[0] == '-') return put_line(b, '-', "", msg + 1, len - 1);
    return put_line(b, '-', "ERR ", msg, len);
}

int resp_enc_error(struct buf *b, const char *msg)
{
    return resp_enc_error_len(b, msg, strlen(msg));
}

int resp_enc_verrorf(struct buf *b, const char *fmt, va_list ap)
{
    char t[ERRF_MAX];
    int n = vsnprintf(t, sizeof(t), fmt, ap);
    if (n < 0) return CC_EINVAL;
    return resp_enc_error_len(b, t, (size_t)n < sizeof(t) ? (size_t)n : sizeof(t) - 1);
}

int resp_enc_errorf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = resp_enc_verrorf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int resp_enc_int(struct buf *b, long long v)
{
    return put_header(b, ':', v);
}

int resp_enc_bulk(struct buf *b, const void *p, size_t len)
{
    char t[32];
    int n = snprintf(t, sizeof(t), "$%zu\r\n", len);
    if (len > SIZE_MAX - (size_t)n - 2) return CC_ETOOBIG;
    int rc = buf_reserve(b, (size_t)n + len + 2);
    if (rc) return rc;
    buf_append(b, t, (size_t)n); /* cannot fail after the reserve */
    buf_append(b, p, len);
    buf_append(b, "\r\n", 2);
    return 0;
}

int resp_enc_bulk_cstr(struct buf *b, const char *s)
{
    return resp_enc_bulk(b, s, strlen(s));
}

int resp_enc_null(struct buf *b)
{
    return buf_append(b, "$-1\r\n", 5);
}

int resp_enc_array(struct buf *b, size_t n)
{
    if (n > (size_t)LLONG_MAX) return CC_ETOOBIG;
    return put_header(b, '*', (long long)n);
}

int resp_enc_null_array(struct buf *b)
{
    return buf_append(b, "*-1\r\n", 5);
}

int resp_enc_map(struct buf *b, size_t pairs)
{
    if (pairs > SIZE_MAX / 2) return CC_ETOOBIG;
    return resp_enc_array(b, pairs * 2);
}

int resp_enc_raw(struct buf *b, const void *p, size_t len)
{
    return buf_append(b, p, len);
}
