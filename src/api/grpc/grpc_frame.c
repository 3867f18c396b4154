/* grpc_frame.c — gRPC message de-framing, status names, grpc-message and grpc-timeout codecs. */
#include "api/grpc/grpc_frame.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static const char *const code_names[GRPC_CODE_COUNT_] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *grpc_code_name(int code)
{
    if (code < 0 || code >= GRPC_CODE_COUNT_) return "UNKNOWN";
    return code_names[code];
}

void grpc_frame_put_header(uint8_t out[GRPC_FRAME_HDR], uint32_t len)
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

void grpc_deframer_init(struct grpc_deframer *d, uint32_t max_msg_bytes, size_t *budget_used,
                        size_t budget_limit)
{
    memset(d, 0, sizeof(*d));
    d->max_msg_bytes = max_msg_bytes;
    d->budget_used = budget_used;
    d->budget_limit = budget_limit;
}

static void release_msg(struct grpc_deframer *d)
{
    free(d->msg);
    d->msg = NULL;
    d->got = 0;
    if (d->budget_used && d->charged) {
        assert(*d->budget_used >= d->charged);
        *d->budget_used -= d->charged;
    }
    d->charged = 0;
}

void grpc_deframer_free(struct grpc_deframer *d)
{
    release_msg(d);
    d->hdr_len = 0;
}

static int refuse(struct grpc_deframer *d, enum grpc_deframe_err why)
{
    d->err = why;
    return grpc_deframer_code(d);
}

int grpc_deframer_code(const struct grpc_deframer *d)
{
    switch (d->err) {
    case GRPC_DF_OK:
        return 0;
    case GRPC_DF_TOO_LARGE:
    case GRPC_DF_BUDGET:
    case GRPC_DF_NOMEM:
        return GRPC_RESOURCE_EXHAUSTED;
    case GRPC_DF_COMPRESSED:
        return GRPC_UNIMPLEMENTED;
    case GRPC_DF_BAD_FLAG:
        return GRPC_INTERNAL;
    }
    return GRPC_INTERNAL;
}

const char *grpc_deframer_errmsg(const struct grpc_deframer *d, char *out, size_t outsz)
{
    switch (d->err) {
    case GRPC_DF_OK:
        snprintf(out, outsz, "%s", "");
        break;
    case GRPC_DF_TOO_LARGE:
        snprintf(out, outsz, "grpc: received message larger than max (%u vs. %u)", d->err_len,
                 d->max_msg_bytes);
        break;
    case GRPC_DF_BUDGET:
        snprintf(out, outsz, "grpc: too many request bytes buffered on this connection");
        break;
    case GRPC_DF_NOMEM:
        snprintf(out, outsz, "grpc: out of memory receiving message");
        break;
    case GRPC_DF_COMPRESSED:
        snprintf(out, outsz, "grpc: compressed messages are not supported (no grpc-encoding)");
        break;
    case GRPC_DF_BAD_FLAG:
        snprintf(out, outsz, "grpc: received unexpected payload format %u", d->hdr[0]);
        break;
    }
    return out;
}

/* Validates a complete header and, for a message that will not arrive whole in the current
 * chunk, allocates its buffer. Returns 0 or a gRPC code. */
static int start_message(struct grpc_deframer *d, size_t avail)
{
    if (d->hdr[0] == 1) return refuse(d, GRPC_DF_COMPRESSED);
    if (d->hdr[0] != 0) return refuse(d, GRPC_DF_BAD_FLAG);
    uint32_t len = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 |
                   (uint32_t)d->hdr[3] << 8 | d->hdr[4];
    if (len > d->max_msg_bytes) {
        d->err_len = len;
        return refuse(d, GRPC_DF_TOO_LARGE);
    }
    d->need = len;
    d->got = 0;
    if (avail >= len) return 0; /* delivered straight from the input, no copy */
    if (d->budget_used && *d->budget_used + len > d->budget_limit) return refuse(d, GRPC_DF_BUDGET);
    d->msg = malloc(len);
    if (!d->msg) return refuse(d, GRPC_DF_NOMEM);
    d->charged = len;
    if (d->budget_used) *d->budget_used += len;
    return 0;
}

int grpc_deframer_feed(struct grpc_deframer *d, const uint8_t *data, size_t n,
                       grpc_deframer_msg_fn on_msg, void *arg)
{
    static const uint8_t empty[1] = {0};
    if (d->err) return grpc_deframer_code(d);
    while (n > 0) {
        if (d->hdr_len < GRPC_FRAME_HDR) {
            size_t take = GRPC_FRAME_HDR - d->hdr_len;
            if (take > n) take = n;
            memcpy(d->hdr + d->hdr_len, data, take);
            d->hdr_len += take;
            data += take;
            n -= take;
            if (d->hdr_len < GRPC_FRAME_HDR) break;
            int rc = start_message(d, n);
            if (rc) return rc;
            if (d->need > 0 && n == 0) break;
        }
        const uint8_t *msg;
        if (d->msg) {
            size_t take = d->need - d->got;
            if (take > n) take = n;
            memcpy(d->msg + d->got, data, take);
            d->got += (uint32_t)take;
            data += take;
            n -= take;
            if (d->got < d->need) break;
            msg = d->msg;
        } else {
            msg = d->need ? data : empty;
            data += d->need;
            n -= d->need;
        }
        d->hdr_len = 0;
        int rc = on_msg(arg, msg, d->need);
        release_msg(d);
        if (rc) return rc;
    }
    return 0;
}

int grpc_percent_encode(const char *s, size_t max_in, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < max_in && s[i]; i++) {
        uint8_t c = (uint8_t)s[i];
        int plain = c >= 0x20 && c <= 0x7e && c != '%';
        size_t need = plain ? 1 : 3;
        if (o + need + 1 > outsz) return CC_ETOOBIG;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o + 1 > outsz) return CC_ETOOBIG;
    out[o] = 0;
    return (int)o;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t grpc_percent_decode(const char *in, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outsz; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < n && (hi = hexval(in[i + 1])) >= 0 &&
            (lo = hexval(in[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    if (outsz) out[o] = 0;
    return o;
}

int grpc_timeout_parse(const char *v, size_t n, uint64_t *ms)
{
    /* TimeoutValue is at most 8 digits, so every product below fits in 64 bits. */
    if (n < 2 || n > 9) return CC_EINVAL;
    uint64_t x = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (v[i] < '0' || v[i] > '9') return CC_EINVAL;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    switch (v[n - 1]) {
    case 'H':
        *ms = x * 3600000u;
        break;
    case 'M':
        *ms = x * 60000u;
        break;
    case 'S':
        *ms = x * 1000u;
        break;
    case 'm':
        *ms = x;
        break;
    case 'u':
        *ms = (x + 999u) / 1000u;
        break;
    case 'n':
        *ms = (x + 999999u) / 1000000u;
        break;
    default:
        return CC_EINVAL;
    }
    return 0;
}
