/* http1_parse.h — a strict, bounded HTTP/1.1 request-head parser (RFC 9112 §2-§7), no I/O. */
#ifndef CONCUR_API_HTTP1_PARSE_H
#define CONCUR_API_HTTP1_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Hard upper bound on header fields per request (the configurable limit may be lower). */
#define HTTP1_MAX_HEADERS 100

struct http1_limits {
    size_t max_head_bytes;   /* request line + header fields + blank line: 16 KiB */
    size_t max_headers;      /* header fields, <= HTTP1_MAX_HEADERS: 64 */
    uint64_t max_body_bytes; /* Content-Length limit: 4 MiB */
};

void http1_limits_default(struct http1_limits *lim);

/* A slice of the parsed bytes (not NUL-terminated). */
struct http1_slice {
    const char *p;
    size_t n;
};

struct http1_field {
    struct http1_slice name;
    struct http1_slice value; /* without surrounding whitespace */
};

struct http1_request {
    size_t skipped;  /* empty lines before the request line (RFC 9112 §2.2) */
    size_t head_len; /* bytes from the start of data through the blank line */
    struct http1_slice method;
    struct http1_slice target;    /* origin-form path[?query] ("*" for OPTIONS) */
    int minor;                    /* HTTP/1.<minor>: 0 or 1 */
    uint64_t content_length;      /* 0 when absent */
    unsigned keep_alive : 1;      /* the connection may carry another request after this one */
    unsigned expect_continue : 1; /* "Expect: 100-continue" */
    size_t nfields;
    struct http1_field fields[HTTP1_MAX_HEADERS]; /* last: parsing clears everything before */
};

/* Finds the end of a request head in data[0..len): returns the head length (through the
 * blank line) or 0 when it is not there yet. *scanned carries progress between calls on the
 * same growing buffer (start at 0), so a head trickling in byte by byte is scanned once. */
size_t http1_find_head_end(const uint8_t *data, size_t len, size_t *scanned);

/* Parses the complete head data[0..head_len) (as found by http1_find_head_end) into req,
 * whose slices point into data. Returns 0, or CC_EPROTO with *status set to the response the
 * request deserves: 400 (malformed, or Transfer-Encoding and Content-Length together), 411
 * (chunked request body: not supported), 413 (Content-Length above the limit), 417 (unknown
 * expectation), 431 (too many header fields), 501 (other transfer coding), 505 (HTTP version
 * other than 1.0/1.1). */
int http1_parse_head(const uint8_t *data, size_t head_len, const struct http1_limits *lim,
                     struct http1_request *req, int *status);

/* Case-insensitive comparison of a slice with a NUL-terminated lower-case string. */
int http1_slice_eq(struct http1_slice s, const char *lower);

#endif
