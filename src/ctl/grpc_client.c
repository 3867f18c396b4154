/* grpc_client.c — gRPC over cleartext HTTP/2 on nghttp2's client session, driven by poll(2). */
#include "ctl/grpc_client.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"

/* Receive windows: large enough that a snapshot or a big range streams without stalls. */
#define GC_STREAM_WINDOW (1 << 20)
#define GC_CONN_WINDOW   (16 << 20)
#define GC_OUT_CHUNK     (64 * 1024)
#define GC_READ_CHUNK    (16 * 1024)

struct gc_msg {
    struct gc_msg *next;
    size_t len;
    uint8_t data[];
};

struct gc_stream {
    struct gc_conn *conn;
    struct gc_stream *next; /* in conn->streams */
    int32_t id;             /* HTTP/2 stream ID once submitted */
    int64_t deadline_ms;    /* 0: none */
    struct buf tx;          /* framed messages not yet handed to nghttp2 */
    size_t tx_off;
    bool tx_closed;
    bool tx_deferred;
    struct buf rx; /* the message being assembled, prefix included */
    struct gc_msg *q_head, *q_tail;
    size_t q_bytes;
    int http_status;
    bool got_grpc_status;
    bool done;
    bool abandoned; /* freed by the caller; released when nghttp2 closes it */
    bool h2_closed; /* nghttp2 reported the stream closed: nothing refers to it any more */
    struct gc_status status;
};

struct gc_conn {
    int fd;
    nghttp2_session *h2;
    char authority[256];
    struct buf out; /* serialized frames not yet written */
    bool failed;
    bool goaway;
    char err[256];
    struct gc_stream *streams;
    size_t n_streams;
    struct gc_conn_opts opts;
    int64_t last_read_ms;
    int64_t ping_sent_ms; /* 0: no PING outstanding */
};

int64_t gc_now_ms(void)
{
    return (int64_t)clock_mono_ms();
}

const char *gc_code_name(int code)
{
    static const char *const names[] = {
        "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
        "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
        "DataLoss", "Unauthenticated"};
    if (code >= 0 && code < (int)(sizeof names / sizeof names[0])) return names[code];
    return "Unknown";
}

static void set_status(struct gc_status *st, int code, bool transport, bool local, const char *msg)
{
    st->code = code;
    st->transport = transport;
    st->local = local;
    st->detail[0] = 0;
    snprintf(st->message, sizeof st->message, "%s", msg);
}

static void stream_finish(struct gc_stream *s, int code, bool transport, bool local,
                          const char *msg)
{
    if (s->done) return;
    s->done = true;
    set_status(&s->status, code, transport, local, msg);
}

static void stream_release(struct gc_stream *s)
{
    struct gc_conn *c = s->conn;
    for (struct gc_stream **p = &c->streams; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            c->n_streams--;
            break;
        }
    }
    while (s->q_head) {
        struct gc_msg *m = s->q_head;
        s->q_head = m->next;
        free(m);
    }
    buf_free(&s->tx);
    buf_free(&s->rx);
    free(s);
}

/* Marks the connection dead and ends every running call with a transport status. */
static void conn_fail(struct gc_conn *c, const char *why)
{
    if (!c->failed) {
        c->failed = true;
        snprintf(c->err, sizeof c->err, "%s", why);
    }
    for (struct gc_stream *s = c->streams; s; s = s->next)
        stream_finish(s, GC_UNAVAILABLE, true, false, c->err);
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------- */

static struct gc_stream *lookup(nghttp2_session *h2, int32_t id)
{
    struct gc_stream *s = nghttp2_session_get_stream_user_data(h2, id);
    return (s && !s->abandoned) ? s : NULL;
}

static ssize_t on_read_data(nghttp2_session *h2, int32_t id, uint8_t *dst, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct gc_stream *s = src->ptr;
    size_t avail = s->tx.len - s->tx_off;
    if (avail == 0) {
        if (s->tx_closed || s->abandoned) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        s->tx_deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = avail < len ? avail : len;
    memcpy(dst, s->tx.data + s->tx_off, n);
    s->tx_off += n;
    if (s->tx_off == s->tx.len) {
        buf_reset(&s->tx);
        s->tx_off = 0;
        if (s->tx_closed) *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    struct gc_stream *s = lookup(h2, frame->hd.stream_id);
    if (!s || s->done) return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        s->http_status = 0;
        for (size_t i = 0; i < valuelen && i < 4; i++)
            s->http_status = s->http_status * 10 + (value[i] - '0');
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        int code = 0;
        for (size_t i = 0; i < valuelen && i < 4; i++) {
            if (value[i] < '0' || value[i] > '9') {
                code = GC_UNKNOWN;
                break;
            }
            code = code * 10 + (value[i] - '0');
        }
        s->got_grpc_status = true;
        s->status.code = code;
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        gc_percent_decode((const char *)value, valuelen, s->status.message,
                          sizeof s->status.message);
    }
    return 0;
}

/* Moves complete length-prefixed messages from s->rx to the queue. */
static void stream_take_messages(struct gc_stream *s)
{
    while (!s->done && s->rx.len >= 5) {
        uint8_t compressed = s->rx.data[0];
        uint32_t len = ((uint32_t)s->rx.data[1] << 24) | ((uint32_t)s->rx.data[2] << 16) |
                       ((uint32_t)s->rx.data[3] << 8) | s->rx.data[4];
        char msg[160];
        if (compressed) {
            stream_finish(s, GC_INTERNAL, false, true,
                          "grpc: compressed messages are not supported by this client");
            return;
        }
        if (len > GC_MAX_MSG_BYTES) {
            snprintf(msg, sizeof msg, "grpc: received message larger than max (%u vs. %u)", len,
                     GC_MAX_MSG_BYTES);
            stream_finish(s, GC_RESOURCE_EXHAUSTED, false, true, msg);
            return;
        }
        if (s->rx.len < 5 + (size_t)len) return;
        if (s->q_bytes + len > GC_MAX_QUEUED_BYTES) {
            stream_finish(s, GC_RESOURCE_EXHAUSTED, false, true,
                          "grpc: too many unread messages queued");
            return;
        }
        struct gc_msg *m = malloc(sizeof *m + len);
        if (!m) {
            stream_finish(s, GC_RESOURCE_EXHAUSTED, false, true, "out of memory");
            return;
        }
        m->next = NULL;
        m->len = len;
        memcpy(m->data, s->rx.data + 5, len);
        if (s->q_tail)
            s->q_tail->next = m;
        else
            s->q_head = m;
        s->q_tail = m;
        s->q_bytes += len;
        buf_consume(&s->rx, 5 + (size_t)len);
    }
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct gc_stream *s = lookup(h2, id);
    if (!s || s->done) return 0;
    if (buf_append(&s->rx, data, len) != 0) {
        stream_finish(s, GC_RESOURCE_EXHAUSTED, false, true,
                      "grpc: received message larger than max");
    } else {
        stream_take_messages(s);
    }
    if (s->done) nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
    struct gc_conn *c = ud;
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) c->ping_sent_ms = 0;
    if (frame->hd.type == NGHTTP2_GOAWAY) c->goaway = true;
    return 0;
}

/* grpc-go's mapping of HTTP status codes for responses without grpc-status. */
static int code_from_http(int http)
{
    switch (http) {
    case 400:
        return GC_INTERNAL;
    case 401:
        return GC_UNAUTHENTICATED;
    case 403:
        return GC_PERMISSION_DENIED;
    case 404:
        return GC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return GC_UNAVAILABLE;
    default:
        return GC_UNKNOWN;
    }
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *ud)
{
    struct gc_stream *s = nghttp2_session_get_stream_user_data(h2, id);
    if (!s) return 0;
    s->h2_closed = true;
    if (s->abandoned) {
        stream_release(s);
        return 0;
    }
    if (s->done) return 0;
    char msg[200];
    if (s->got_grpc_status) {
        s->done = true; /* code and message came from the server */
    } else if (error_code != NGHTTP2_NO_ERROR) {
        snprintf(msg, sizeof msg, "stream terminated by RST_STREAM with error code: %s",
                 nghttp2_http2_strerror(error_code));
        stream_finish(s,
                      error_code == NGHTTP2_REFUSED_STREAM ? GC_UNAVAILABLE
                      : error_code == NGHTTP2_CANCEL       ? GC_CANCELLED
                                                           : GC_INTERNAL,
                      error_code == NGHTTP2_REFUSED_STREAM, false, msg);
    } else if (s->http_status != 200) {
        snprintf(msg, sizeof msg, "unexpected HTTP status code received from server: %d",
                 s->http_status);
        stream_finish(s, code_from_http(s->http_status), false, false, msg);
    } else {
        stream_finish(s, GC_INTERNAL, false, false,
                      "server closed the stream without sending trailers");
    }
    return 0;
}

/* ---- I/O --------------------------------------------------------------------------------- */

/* Writes what nghttp2 has to send, without blocking. Returns 0 or CC_ECLOSED. */
static int conn_flush(struct gc_conn *c)
{
    if (c->failed) return CC_ECLOSED;
    for (;;) {
        while (c->out.len < GC_OUT_CHUNK && nghttp2_session_want_write(c->h2)) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->h2, &data);
            if (n < 0) {
                conn_fail(c, nghttp2_strerror((int)n));
                return CC_ECLOSED;
            }
            if (n == 0) break;
            if (buf_append(&c->out, data, (size_t)n) != 0) {
                conn_fail(c, "out of memory");
                return CC_ECLOSED;
            }
        }
        if (c->out.len == 0) return 0;
        ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            char why[200];
            snprintf(why, sizeof why, "error writing to server: %s", strerror(errno));
            conn_fail(c, why);
            return CC_ECLOSED;
        }
        buf_consume(&c->out, (size_t)w);
    }
}

static int conn_read(struct gc_conn *c)
{
    uint8_t b[GC_READ_CHUNK];
    for (int rounds = 0; rounds < 64; rounds++) {
        ssize_t n = recv(c->fd, b, sizeof b, 0);
        if (n > 0) {
            c->last_read_ms = gc_now_ms();
            ssize_t rv = nghttp2_session_mem_recv(c->h2, b, (size_t)n);
            if (rv < 0) {
                conn_fail(c, nghttp2_strerror((int)rv));
                return CC_ECLOSED;
            }
            continue;
        }
        if (n == 0) {
            conn_fail(c, "error reading from server: EOF");
            return CC_ECLOSED;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        char why[200];
        snprintf(why, sizeof why, "error reading from server: %s", strerror(errno));
        conn_fail(c, why);
        return CC_ECLOSED;
    }
    return 0;
}

static bool has_live_streams(const struct gc_conn *c)
{
    for (const struct gc_stream *s = c->streams; s; s = s->next)
        if (!s->done && !s->abandoned) return true;
    return false;
}

/* Sends a keepalive PING when the connection has been quiet, fails it when the PING is not
 * answered in time. Returns the next moment a keepalive timer fires (0: none). */
static int64_t conn_keepalive(struct gc_conn *c, int64_t now)
{
    if (c->opts.keepalive_time_ms <= 0 || c->failed) return 0;
    if (c->ping_sent_ms) {
        int64_t due = c->ping_sent_ms + c->opts.keepalive_timeout_ms;
        if (now >= due) {
            conn_fail(c, "keepalive ping not acknowledged in time");
            return 0;
        }
        return due;
    }
    if (!has_live_streams(c)) return 0;
    int64_t due = c->last_read_ms + c->opts.keepalive_time_ms;
    if (now >= due) {
        if (nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL) == 0) c->ping_sent_ms = now;
        return now + c->opts.keepalive_timeout_ms;
    }
    return due;
}

int gc_conn_poll(struct gc_conn *c, int extra_fd, int64_t deadline_ms, bool *extra_ready)
{
    if (extra_ready) *extra_ready = false;
    if (c->failed) return CC_ECLOSED;
    int64_t now = gc_now_ms();
    int64_t ka = conn_keepalive(c, now);
    if (conn_flush(c) != 0) return CC_ECLOSED;
    if (deadline_ms > 0 && now >= deadline_ms) return CC_ETIMEDOUT;

    int64_t wake = deadline_ms;
    if (ka && (wake == 0 || ka < wake)) wake = ka;
    int timeout = -1;
    if (wake > 0) timeout = wake > now ? (int)(wake - now) : 0;

    struct pollfd p[2];
    p[0].fd = c->fd;
    p[0].events = POLLIN | (c->out.len ? POLLOUT : 0);
    p[0].revents = 0;
    nfds_t n = 1;
    if (extra_fd >= 0) {
        p[1].fd = extra_fd;
        p[1].events = POLLIN;
        p[1].revents = 0;
        n = 2;
    }
    int rv = poll(p, n, timeout);
    if (rv < 0 && errno != EINTR) {
        conn_fail(c, strerror(errno));
        return CC_ECLOSED;
    }
    if (rv > 0) {
        if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) {
            if (conn_read(c) != 0) return CC_ECLOSED;
        }
        if (n == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && extra_ready)
            *extra_ready = true;
    }
    conn_keepalive(c, gc_now_ms());
    if (conn_flush(c) != 0) return CC_ECLOSED;
    if (deadline_ms > 0 && gc_now_ms() >= deadline_ms) return CC_ETIMEDOUT;
    return 0;
}

/* ---- connection -------------------------------------------------------------------------- */

/* Splits "host:port" / "[v6]:port" into host and port. */
static int split_endpoint(const char *ep, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    if (ep[0] == '[') {
        const char *close = strchr(ep, ']');
        if (!close || close[1] != ':') return CC_EINVAL;
        size_t hl = (size_t)(close - ep - 1);
        if (hl == 0 || hl >= hostlen) return CC_EINVAL;
        memcpy(host, ep + 1, hl);
        host[hl] = 0;
        colon = close + 1;
    } else {
        colon = strrchr(ep, ':');
        if (!colon) return CC_EINVAL;
        size_t hl = (size_t)(colon - ep);
        if (hl == 0 || hl >= hostlen) return CC_EINVAL;
        memcpy(host, ep, hl);
        host[hl] = 0;
    }
    size_t pl = strlen(colon + 1);
    if (pl == 0 || pl >= portlen) return CC_EINVAL;
    for (size_t i = 0; i < pl; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9') return CC_EINVAL;
    memcpy(port, colon + 1, pl + 1);
    return 0;
}

/* Non-blocking connect to one address, bounded by deadline_ms. Returns the fd or a cc_err. */
static int connect_addr(const struct addrinfo *ai, int64_t deadline_ms, char *err, size_t errlen)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return CC_EIO;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        close(fd);
        return CC_EIO;
    }
    for (;;) {
        int64_t left = deadline_ms - gc_now_ms();
        if (left <= 0) {
            snprintf(err, errlen, "dial timed out");
            close(fd);
            return CC_ETIMEDOUT;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int rv = poll(&p, 1, (int)left);
        if (rv < 0 && errno == EINTR) continue;
        if (rv > 0) break;
        if (rv < 0) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            close(fd);
            return CC_EIO;
        }
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
    if (soerr != 0) {
        snprintf(err, errlen, "connect: %s", strerror(soerr));
        close(fd);
        return CC_EIO;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int session_init(struct gc_conn *c)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0) return CC_ENOMEM;
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rv = nghttp2_session_client_new(&c->h2, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) return CC_ENOMEM;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, GC_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 1 << 14},
    };
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0)
        return CC_ENOMEM;
    if (nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, GC_CONN_WINDOW) != 0)
        return CC_ENOMEM;
    return 0;
}

int gc_conn_dial(const char *endpoint, int64_t deadline_ms, const struct gc_conn_opts *opts,
                 struct gc_conn **out, char *err, size_t errlen)
{
    char host[256], port[16];
    *out = NULL;
    if (split_endpoint(endpoint, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "invalid endpoint %s (expected host:port)", endpoint);
        return CC_EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "dial tcp %s: lookup %s: %s", endpoint, host, gai_strerror(gai));
        return CC_EIO;
    }
    int fd = CC_EIO;
    char why[200] = "no address";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = connect_addr(ai, deadline_ms, why, sizeof why);
        if (fd >= 0 || fd == CC_ETIMEDOUT) break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "dial tcp %s: %s", endpoint, why);
        return fd;
    }
    struct gc_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return CC_ENOMEM;
    }
    c->fd = fd;
    snprintf(c->authority, sizeof c->authority, "%s", endpoint);
    buf_init(&c->out, 64u << 20);
    if (opts) c->opts = *opts;
    c->last_read_ms = gc_now_ms();
    if (session_init(c) != 0 || conn_flush(c) != 0) {
        snprintf(err, errlen, "HTTP/2 setup failed: %s", c->err[0] ? c->err : "out of memory");
        gc_conn_free(c);
        return CC_EIO;
    }
    *out = c;
    return 0;
}

void gc_conn_free(struct gc_conn *c)
{
    if (!c) return;
    while (c->streams) stream_release(c->streams);
    if (c->h2) nghttp2_session_del(c->h2);
    if (c->fd >= 0) close(c->fd);
    buf_free(&c->out);
    free(c);
}

bool gc_conn_usable(const struct gc_conn *c)
{
    return c && !c->failed && !c->goaway;
}

const char *gc_conn_error(const struct gc_conn *c)
{
    if (c->failed) return c->err;
    if (c->goaway) return "server sent GOAWAY";
    return "";
}

/* ---- streams ----------------------------------------------------------------------------- */

int gc_stream_start(struct gc_conn *c, const char *path, int64_t deadline_ms,
                    const struct gc_md *md, size_t n_md, struct gc_stream **out)
{
    assert(n_md <= GC_MAX_METADATA);
    *out = NULL;
    if (!gc_conn_usable(c)) return CC_ECLOSED;
    if (c->n_streams >= GC_MAX_STREAMS) return CC_EBUSY;
    struct gc_stream *s = calloc(1, sizeof *s);
    if (!s) return CC_ENOMEM;
    s->conn = c;
    s->deadline_ms = deadline_ms;
    buf_init(&s->tx, GC_MAX_MSG_BYTES + 5);
    buf_init(&s->rx, GC_MAX_MSG_BYTES + 5 + GC_READ_CHUNK);

    char timeout[24] = "";
    nghttp2_nv nv[8 + GC_MAX_METADATA];
    size_t n = 0;
#define NV(k, v)                                                                                   \
    nv[n++] =                                                                                      \
        (nghttp2_nv){(uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP2_NV_FLAG_NONE}
    NV(":method", "POST");
    NV(":scheme", "http");
    NV(":path", path);
    NV(":authority", c->authority);
    NV("content-type", "application/grpc");
    NV("user-agent", "grpc-c-concurctl/0.1");
    NV("te", "trailers");
    if (deadline_ms > 0) {
        int64_t left = deadline_ms - gc_now_ms();
        if (left < 1) left = 1;
        if (left > 99999999) left = 99999999; /* grpc-timeout allows 8 digits */
        snprintf(timeout, sizeof timeout, "%lldm", (long long)left);
        NV("grpc-timeout", timeout);
    }
    for (size_t i = 0; i < n_md; i++) NV(md[i].name, md[i].value);
#undef NV
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = on_read_data};
    int32_t id = nghttp2_submit_request(c->h2, NULL, nv, n, &prd, s);
    if (id < 0) {
        buf_free(&s->tx);
        buf_free(&s->rx);
        free(s);
        return id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? CC_ECLOSED : CC_ENOMEM;
    }
    s->id = id;
    s->next = c->streams;
    c->streams = s;
    c->n_streams++;
    *out = s;
    return 0;
}

static void stream_kick(struct gc_stream *s)
{
    if (s->tx_deferred) {
        s->tx_deferred = false;
        nghttp2_session_resume_data(s->conn->h2, s->id);
    }
    conn_flush(s->conn);
}

int gc_stream_send(struct gc_stream *s, const ProtobufCMessage *msg)
{
    if (s->done || s->tx_closed) return CC_ECLOSED;
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len > GC_MAX_MSG_BYTES) return CC_ETOOBIG;
    int rv = buf_reserve(&s->tx, 5 + len);
    if (rv != 0) return rv;
    uint8_t *p = s->tx.data + s->tx.len;
    p[0] = 0;
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
    size_t packed = protobuf_c_message_pack(msg, p + 5);
    assert(packed == len);
    s->tx.len += 5 + len;
    stream_kick(s);
    return 0;
}

int gc_stream_close_send(struct gc_stream *s)
{
    if (s->tx_closed) return 0;
    s->tx_closed = true;
    if (!s->done) stream_kick(s);
    return 0;
}

bool gc_stream_done(const struct gc_stream *s)
{
    return s->done;
}

const struct gc_status *gc_stream_status(const struct gc_stream *s)
{
    return &s->status;
}

int gc_stream_try_recv(struct gc_stream *s, const ProtobufCMessageDescriptor *desc,
                       ProtobufCMessage **out)
{
    *out = NULL;
    struct gc_msg *m = s->q_head;
    if (!m) return s->done ? -1 : 0;
    s->q_head = m->next;
    if (!s->q_head) s->q_tail = NULL;
    s->q_bytes -= m->len;
    ProtobufCMessage *pm = protobuf_c_message_unpack(desc, NULL, m->len, m->data);
    free(m);
    if (!pm) {
        char msg[200];
        snprintf(msg, sizeof msg, "grpc: failed to unmarshal the received message as %s",
                 desc->name);
        bool was_done = s->done;
        s->done = true; /* a decode failure overrides whatever status the server sent */
        set_status(&s->status, GC_INTERNAL, false, true, msg);
        if (!was_done) {
            nghttp2_submit_rst_stream(s->conn->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
            conn_flush(s->conn);
        }
        return CC_EPROTO;
    }
    *out = pm;
    return 1;
}

/* Ends a call locally because its deadline passed, as grpc-go does (RST_STREAM CANCEL). */
static void stream_expire(struct gc_stream *s)
{
    if (s->done) return;
    /* Finish first: sending the RST_STREAM closes the stream and would report CANCELLED. */
    stream_finish(s, GC_DEADLINE_EXCEEDED, false, true, "context deadline exceeded");
    nghttp2_submit_rst_stream(s->conn->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    conn_flush(s->conn);
}

int gc_stream_recv(struct gc_stream *s, const ProtobufCMessageDescriptor *desc,
                   ProtobufCMessage **out, int64_t deadline_ms)
{
    for (;;) {
        int rv = gc_stream_try_recv(s, desc, out);
        if (rv != 0) return rv;
        int64_t d = deadline_ms;
        if (s->deadline_ms > 0 && (d == 0 || s->deadline_ms < d)) d = s->deadline_ms;
        int prv = gc_conn_poll(s->conn, -1, d, NULL);
        if (prv == CC_ETIMEDOUT) {
            if (s->deadline_ms > 0 && gc_now_ms() >= s->deadline_ms) {
                stream_expire(s);
                continue;
            }
            return CC_ETIMEDOUT;
        }
    }
}

void gc_stream_free(struct gc_stream *s)
{
    if (!s) return;
    struct gc_conn *c = s->conn;
    if (s->h2_closed || c->failed) {
        stream_release(s);
        return;
    }
    /* nghttp2 still refers to the stream (its HEADERS may even be unsent): keep the memory
     * until on_stream_close; the data provider ends the request body meanwhile. */
    s->abandoned = true;
    if (nghttp2_session_find_stream(c->h2, s->id))
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    conn_flush(c);
}

int gc_unary(struct gc_conn *c, const char *path, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *desc, int64_t deadline_ms, ProtobufCMessage **resp,
             struct gc_status *st)
{
    struct gc_stream *s;
    *resp = NULL;
    int rv = gc_stream_start(c, path, deadline_ms, NULL, 0, &s);
    if (rv != 0) {
        set_status(st, GC_UNAVAILABLE, true, false,
                   c->failed ? c->err : "connection cannot take new calls");
        return -1;
    }
    rv = gc_stream_send(s, req);
    if (rv == 0) rv = gc_stream_close_send(s);
    if (rv != 0) {
        set_status(st, GC_RESOURCE_EXHAUSTED, false, true,
                   rv == CC_ETOOBIG ? "grpc: request message larger than max" : "send failed");
        gc_stream_free(s);
        return -1;
    }
    ProtobufCMessage *m = NULL;
    rv = gc_stream_recv(s, desc, &m, 0);
    if (rv == 1) {
        /* Wait for the trailers: the status decides whether the message counts. */
        ProtobufCMessage *extra = NULL;
        int rv2 = gc_stream_recv(s, desc, &extra, 0);
        if (rv2 == 1) {
            protobuf_c_message_free_unpacked(extra, NULL);
            protobuf_c_message_free_unpacked(m, NULL);
            set_status(st, GC_INTERNAL, false, false,
                       "grpc: server sent more than one message in a unary response");
            gc_stream_free(s);
            return -1;
        }
    }
    *st = s->status;
    if (s->done && s->status.code == GC_OK && !m) {
        set_status(st, GC_INTERNAL, false, false, "grpc: server sent no response message");
    }
    gc_stream_free(s);
    if (st->code != GC_OK || !m) {
        if (m) protobuf_c_message_free_unpacked(m, NULL);
        if (st->code == GC_OK) st->code = GC_INTERNAL;
        return -1;
    }
    *resp = m;
    return 0;
}

void gc_percent_decode(const char *in, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0) return;
    for (size_t i = 0; i < len && o + 1 < outlen; i++) {
        char ch = in[i];
        if (ch == '%' && i + 2 < len) {
            int v = 0;
            bool ok = true;
            for (int k = 1; k <= 2; k++) {
                char h = in[i + (size_t)k];
                v <<= 4;
                if (h >= '0' && h <= '9')
                    v |= h - '0';
                else if (h >= 'a' && h <= 'f')
                    v |= h - 'a' + 10;
                else if (h >= 'A' && h <= 'F')
                    v |= h - 'A' + 10;
                else
                    ok = false;
            }
            if (ok) {
                out[o++] = (char)v;
                i += 2;
                continue;
            }
        }
        out[o++] = ch;
    }
    out[o] = 0;
}
