/* http_exchange.c — HTTP/1.1 exchanges: the request copy handlers read, the response writer
 * (Content-Length and chunked), references and cancellation. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/http/http_internal.h"
#include "util/err.h"

#define EXTRA_HEADERS_MAX (8u << 10)

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Unknown";
}

/* ---- requests ---- */

/* Copies "s\0" into *w and returns where it landed. */
static char *put_str(char **w, const char *s, size_t n)
{
    char *at = *w;
    memcpy(at, s, n);
    at[n] = 0;
    *w += n + 1;
    return at;
}

struct http_exchange *http__exchange_new(struct http1_conn *c, struct http_route *rt,
                                         const struct http1_request *req, const uint8_t *body)
{
    size_t need = req->method.n + req->target.n + 3 + (size_t)req->content_length + 1;
    for (size_t i = 0; i < req->nfields; i++)
        need += req->fields[i].name.n + req->fields[i].value.n + 2;
    struct http_exchange *ex = calloc(1, sizeof(*ex));
    char *raw = malloc(need);
    struct http_field *f = req->nfields ? calloc(req->nfields, sizeof(*f)) : NULL;
    if (!ex || !raw || (req->nfields && !f)) {
        free(ex);
        free(raw);
        free(f);
        return NULL;
    }
    char *w = raw;
    ex->req.method = put_str(&w, req->method.p, req->method.n);
    const char *q = memchr(req->target.p, '?', req->target.n);
    size_t pathn = q ? (size_t)(q - req->target.p) : req->target.n;
    ex->req.path = put_str(&w, req->target.p, pathn);
    ex->req.query = q ? put_str(&w, q + 1, req->target.n - pathn - 1) : put_str(&w, "", 0);
    for (size_t i = 0; i < req->nfields; i++) {
        f[i].name = put_str(&w, req->fields[i].name.p, req->fields[i].name.n);
        f[i].value = put_str(&w, req->fields[i].value.p, req->fields[i].value.n);
    }
    ex->req.body = (const uint8_t *)put_str(&w, (const char *)body, (size_t)req->content_length);
    ex->req.body_len = (size_t)req->content_length;
    ex->req.minor = req->minor;
    ex->req.nfields = req->nfields;
    ex->req.fields = f;
    ex->fields = f;
    ex->raw = raw;
    ex->refs = 1;
    ex->route = rt;
    ex->minor = req->minor;
    ex->keep_alive = req->keep_alive;
    ex->status = 0;
    buf_init(&ex->extra, EXTRA_HEADERS_MAX);
    (void)c;
    return ex;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nfields; i++)
        if (strcasecmp(req->fields[i].name, name) == 0) return req->fields[i].value;
    return NULL;
}

void http_exchange_ref(struct http_exchange *ex)
{
    assert(ex->refs > 0);
    ex->refs++;
}

void http_exchange_unref(struct http_exchange *ex)
{
    assert(ex->refs > 0);
    if (--ex->refs > 0) return;
    assert(!ex->conn);
    buf_free(&ex->extra);
    free(ex->fields);
    free(ex->raw);
    free(ex);
}

int http_exchange_cancelled(const struct http_exchange *ex)
{
    return ex->cancelled;
}

void http_exchange_set_data(struct http_exchange *ex, void *data)
{
    ex->user = data;
}

void *http_exchange_data(const struct http_exchange *ex)
{
    return ex->user;
}

void http__exchange_cancel(struct http_exchange *ex)
{
    struct http1_conn *c = ex->conn;
    assert(c && c->active == ex && !ex->completed);
    c->active = NULL;
    ex->conn = NULL;
    ex->cancelled = 1;
    ex->route->stats.cancelled++;
    if (ex->route->ops->on_cancel) ex->route->ops->on_cancel(ex, ex->route->arg);
    http_exchange_unref(ex); /* the library's */
}

/* ---- responses ---- */

static int is_token(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              strchr("!#$%&'*+-.^_`|~", *s)))
            return 0;
    return 1;
}

int http_exchange_add_header(struct http_exchange *ex, const char *name, const char *value)
{
    if (ex->begun || ex->completed) return CC_ESTOPPED;
    if (!is_token(name) || strpbrk(value, "\r\n")) return CC_EINVAL;
    size_t nl = strlen(name), vl = strlen(value);
    if (buf_reserve(&ex->extra, nl + vl + 4)) return CC_ETOOBIG;
    buf_append(&ex->extra, name, nl);
    buf_append(&ex->extra, ": ", 2);
    buf_append(&ex->extra, value, vl);
    buf_append(&ex->extra, "\r\n", 2);
    return 0;
}

/* IMF-fixdate (RFC 9110 §5.6.7), independent of the locale. */
static void http_date(char out[40])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Writes a status line and headers. framing: >= 0 a Content-Length, -1 chunked, -2 neither
 * (close-delimited, or a status that has no body). */
static int write_head(struct http1_conn *c, int status, int minor, int keep_alive,
                      const char *ctype, long long framing, const struct buf *extra,
                      const char *extra_str)
{
    char date[40], head[1024];
    http_date(date);
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
                     http_status_text(status), date);
    if (ctype && strlen(ctype) < 200 && !strpbrk(ctype, "\r\n"))
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: %s\r\n", ctype);
    if (framing >= 0)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %lld\r\n", framing);
    else if (framing == -1)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Transfer-Encoding: chunked\r\n");
    if (!keep_alive)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Connection: close\r\n");
    else if (minor == 0)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Connection: keep-alive\r\n");
    int rc = c->io.write(c->io.ctx, head, (size_t)n);
    if (!rc && extra && extra->len) rc = c->io.write(c->io.ctx, extra->data, extra->len);
    if (!rc && extra_str) rc = c->io.write(c->io.ctx, extra_str, strlen(extra_str));
    if (!rc) rc = c->io.write(c->io.ctx, "\r\n", 2);
    return rc;
}

int http__write_simple(struct http1_conn *c, int status, int minor, int keep_alive,
                       const char *extra_headers, const char *body)
{
    size_t len = strlen(body);
    int rc = write_head(c, status, minor, keep_alive, "text/plain; charset=utf-8", (long long)len,
                        NULL, extra_headers);
    if (!rc) rc = c->io.write(c->io.ctx, body, len);
    if (rc || !keep_alive) c->closing = 1;
    return rc;
}

/* Output written from outside the connection's own processing (a timer, another
 * connection's callback) needs the transport to come and flush it. */
static void wrote(struct http1_conn *c)
{
    if (c->depth == 0) c->io.want_process(c->io.ctx);
}

/* Completion on the handler's side; the connection part is http1__exchange_done. */
static void complete(struct http_exchange *ex, int rc)
{
    ex->completed = 1;
    if (ex->conn) {
        if (rc) ex->conn->closing = 1; /* output is incomplete: the connection cannot go on */
        http1__exchange_done(ex->conn, ex);
    }
    http_exchange_unref(ex); /* the completion reference */
}

static int no_body(int status)
{
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

int http_reply(struct http_exchange *ex, int status, const char *content_type, const void *body,
               size_t len)
{
    assert(!ex->completed && !ex->begun);
    assert(status >= 200 && status <= 999);
    if (!ex->conn) {
        complete(ex, 0);
        return CC_ECANCELED;
    }
    struct http1_conn *c = ex->conn;
    ex->status = status;
    ex->begun = 1;
    if (no_body(status)) len = 0;
    int rc = write_head(c, status, ex->minor, ex->keep_alive, content_type,
                        no_body(status) ? -2 : (long long)len, &ex->extra, NULL);
    if (!rc && len) rc = c->io.write(c->io.ctx, body, len);
    complete(ex, rc);
    return rc ? CC_ENOMEM : 0;
}

int http_stream_begin(struct http_exchange *ex, int status, const char *content_type)
{
    assert(!ex->completed);
    assert(status >= 200 && status <= 999 && !no_body(status));
    if (!ex->conn) return CC_ECANCELED;
    if (ex->begun) return CC_ESTOPPED;
    ex->status = status;
    ex->begun = 1;
    ex->streaming = 1;
    /* HTTP/1.0 has no chunked coding: the end of the body is the end of the connection. */
    if (ex->minor == 0) ex->keep_alive = 0;
    int rc = write_head(ex->conn, status, ex->minor, ex->keep_alive, content_type,
                        ex->minor == 0 ? -2 : -1, &ex->extra, NULL);
    if (rc) ex->conn->closing = 1;
    wrote(ex->conn);
    return rc ? CC_ENOMEM : 0;
}

int http_stream_send(struct http_exchange *ex, const void *data, size_t len)
{
    assert(!ex->completed);
    struct http1_conn *c = ex->conn;
    if (!c) return CC_ECANCELED;
    assert(ex->streaming);
    if (len == 0) return 0; /* an empty chunk would end the body */
    if (c->io.room(c->io.ctx) == 0) {
        ex->blocked = 1;
        return CC_EBUSY;
    }
    int rc = 0;
    if (ex->minor == 1) {
        char size[24];
        int n = snprintf(size, sizeof(size), "%zx\r\n", len);
        rc = c->io.write(c->io.ctx, size, (size_t)n);
    }
    if (!rc) rc = c->io.write(c->io.ctx, data, len);
    if (!rc && ex->minor == 1) rc = c->io.write(c->io.ctx, "\r\n", 2);
    if (rc) c->closing = 1;
    wrote(c);
    return rc ? CC_ENOMEM : 0;
}

void http_stream_end(struct http_exchange *ex)
{
    assert(!ex->completed && (ex->streaming || !ex->conn));
    int rc = 0;
    if (ex->conn && ex->minor == 1) rc = ex->conn->io.write(ex->conn->io.ctx, "0\r\n\r\n", 5);
    complete(ex, rc);
}
