/* resp_conn.c — one RESP client connection: read, parse, dispatch, in-order completion of
 * asynchronous commands, writes, back-pressure and closing. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api/resp/resp_internal.h"
#include "util/err.h"

/* Bytes offered to each read; also the slack the input buffer has beyond max_request_bytes. */
#define READ_CHUNK ((size_t)64 << 10)
/* Idle buffers with more capacity than this are released, so one big request or reply does
 * not pin memory for the rest of a connection's life. */
#define SHRINK_BYTES ((size_t)256 << 10)

static void process(struct resp_conn *c);

/* Queues c to be processed from the loop's idle phase rather than inside the caller, so
 * resp_done never runs another handler from within the member's completion code, and many
 * completions for one client produce one write. */
static void schedule(struct resp_conn *c)
{
    struct resp_server *srv = c->srv;
    if (c->ready || c->closing) return;
    c->ready = 1;
    c->ready_prev = NULL;
    c->ready_next = srv->ready;
    if (srv->ready) srv->ready->ready_prev = c;
    srv->ready = c;
    if (!uv_is_active((uv_handle_t *)&srv->idle)) uv_idle_start(&srv->idle, resp__run_ready);
}

static void unschedule(struct resp_conn *c)
{
    if (!c->ready) return;
    if (c->ready_prev)
        c->ready_prev->ready_next = c->ready_next;
    else
        c->srv->ready = c->ready_next;
    if (c->ready_next) c->ready_next->ready_prev = c->ready_prev;
    c->ready_prev = c->ready_next = NULL;
    c->ready = 0;
}

void resp__run_ready(uv_idle_t *idle)
{
    struct resp_server *srv = idle->data;
    while (srv->ready) { /* processing may make more connections ready */
        struct resp_conn *c = srv->ready;
        unschedule(c);
        process(c);
    }
    uv_idle_stop(idle);
}

static size_t unsent(const struct resp_conn *c)
{
    return c->out.len + c->wbuf.len;
}

static void shrink_if_idle(struct buf *b)
{
    if (b->len == 0 && b->cap > SHRINK_BYTES) buf_free(b);
}

/* ---- the queue of commands in flight ---- */

static struct resp_ctx *q_head(const struct resp_conn *c)
{
    return c->queue[c->qhead];
}

static struct resp_ctx *q_pop(struct resp_conn *c)
{
    struct resp_ctx *x = c->queue[c->qhead];
    c->qhead = (c->qhead + 1) % c->srv->cfg.max_inflight;
    c->qlen--;
    return x;
}

static struct resp_ctx *ctx_push(struct resp_conn *c)
{
    assert(c->qlen < c->srv->cfg.max_inflight);
    struct resp_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return NULL;
    ctx->conn = c;
    buf_init(&ctx->own, c->srv->cfg.max_output_bytes);
    /* The head writes straight into the output; later commands hold their reply. */
    ctx->out = c->qlen == 0 ? &c->out : &ctx->own;
    c->queue[(c->qhead + c->qlen) % c->srv->cfg.max_inflight] = ctx;
    c->qlen++;
    c->srv->stats.inflight_commands++;
    return ctx;
}

static void ctx_free(struct resp_ctx *ctx)
{
    buf_free(&ctx->own);
    free(ctx);
}

/* ctx just became the head: what it wrote so far joins the output, the rest goes there
 * directly. When the output is empty the buffers are swapped instead of copied. */
static int promote(struct resp_conn *c, struct resp_ctx *ctx)
{
    if (ctx->out == &c->out) return 0;
    int rc = 0;
    c->held_bytes -= ctx->own.len;
    if (c->out.len == 0) {
        struct buf t = c->out;
        c->out = ctx->own;
        ctx->own = t;
    } else if (ctx->own.len) {
        rc = buf_append(&c->out, ctx->own.data, ctx->own.len);
    }
    buf_free(&ctx->own);
    ctx->out = &c->out;
    return rc;
}

/* Moves every completed command at the head of the queue out of it. Returns 0, or an error
 * when the output limit was passed (the caller closes the connection). */
static int advance(struct resp_conn *c)
{
    while (c->qlen && q_head(c)->done) {
        ctx_free(q_pop(c));
        if (c->qlen) {
            int rc = promote(c, q_head(c));
            if (rc) return rc;
        }
    }
    return 0;
}

void resp_done(struct resp_ctx *ctx)
{
    assert(!ctx->done);
    ctx->done = 1;
    struct resp_conn *c = ctx->conn;
    if (!c) { /* the client went away: nobody else holds ctx */
        ctx_free(ctx);
        return;
    }
    struct resp_server *srv = c->srv;
    srv->stats.inflight_commands--;
    int rc = ctx->err ? ctx->err : advance(c);
    if (rc) {
        srv->stats.output_limit_disconnections++;
        log_warn(srv->log, "resp: closing client id=%llu addr=%s: reply not held: %s",
                 (unsigned long long)c->id, c->addr, cc_strerror(rc));
        resp__conn_close(c);
        return;
    }
    /* A synchronous completion inside process() is picked up when the handler returns. */
    if (!c->in_process) schedule(c);
}

void resp_ctx_close_after(struct resp_ctx *ctx)
{
    ctx->close_after = 1;
    if (ctx->conn) ctx->conn->no_more_input = 1;
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    struct resp_conn *c = req->data;
    c->writing = 0;
    if (status < 0) { /* includes UV_ECANCELED when the handle is being closed */
        resp__conn_close(c);
        return;
    }
    c->srv->stats.total_net_output_bytes += c->wbuf.len;
    buf_reset(&c->wbuf);
    shrink_if_idle(&c->wbuf);
    process(c);
}

/* Hands the output to libuv (which writes at once when the socket allows) unless a write is
 * running; replies produced meanwhile collect in out and go in the next write. */
static void flush(struct resp_conn *c)
{
    if (c->writing || c->closing || c->out.len == 0) return;
    struct buf t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc) {
        log_debug(c->srv->log, "resp: write to %s: %s", c->addr, uv_strerror(rc));
        resp__conn_close(c);
        return;
    }
    c->writing = 1;
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct resp_conn *c = h->data;
    size_t room = c->in.limit - c->in.len;
    if (room > READ_CHUNK) room = READ_CHUNK;
    if (room == 0 || buf_reserve(&c->in, room) != 0) {
        *b = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS and closes */
        return;
    }
    *b = uv_buf_init((char *)c->in.data + c->in.len, (unsigned)room);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct resp_conn *c = s->data;
    if (nread > 0) {
        c->in.len += (size_t)nread;
        c->srv->stats.total_net_input_bytes += (uint64_t)nread;
        process(c);
    } else if (nread < 0) {
        /* EOF included: like redis-server, a client that hangs up is freed at once. Replies
         * already handed to uv_write have reached the kernel; in-flight commands are
         * detached. */
        if (nread != UV_EOF && nread != UV_ECONNRESET)
            log_debug(c->srv->log, "resp: read from %s: %s", c->addr, uv_strerror((int)nread));
        resp__conn_close(c);
    }
}

static void update_reading(struct resp_conn *c)
{
    const struct resp_config *cfg = &c->srv->cfg;
    int want = !c->closing && !c->no_more_input && c->qlen < cfg->max_inflight &&
               unsent(c) < cfg->output_pause_bytes;
    if (want && !c->reading) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (rc) {
            log_warn(c->srv->log, "resp: read start on %s: %s", c->addr, uv_strerror(rc));
            resp__conn_close(c);
            return;
        }
        c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
        if (!c->closing && !c->no_more_input) c->srv->stats.backpressure_pauses++;
    }
}

/* ---- running commands ---- */

static void dispatch(struct resp_conn *c, size_t argc, const struct resp_str *argv)
{
    struct resp_server *srv = c->srv;
    /* Redis drops connections that look like HTTP sent to the Redis port (cross-protocol
     * scripting); see securityWarningCommand. */
    if (resp_str_eq(argv[0], "host:") || resp_str_eq(argv[0], "post")) {
        log_warn(srv->log, "resp: possible security attack from %s (HTTP request), closing",
                 c->addr);
        resp__conn_close(c);
        return;
    }
    c->last_ms = uv_now(srv->loop);
    struct resp_ctx *ctx = ctx_push(c);
    if (!ctx) {
        resp__conn_close(c);
        return;
    }
    const struct resp__cmd *e = resp__cmdtab_lookup(&srv->tab, argc, argv);
    if (!e) {
        resp__reply_unknown(ctx, &srv->tab, argc, argv);
        resp_done(ctx);
        return;
    }
    ctx->cmd = e;
    memcpy(c->last_cmd, e->name, sizeof(c->last_cmd));
    if (!resp__arity_ok(e, argc) || !e->spec.handler) {
        resp_reply_arity_error(ctx);
        resp_done(ctx);
        return;
    }
    srv->stats.total_commands_processed++;
    e->spec.handler(ctx, argc, argv, e->spec.udata);
}

/* Queues Redis's "-ERR Protocol error: ..." after the replies already owed, then closes. */
static void protocol_error(struct resp_conn *c, int rc)
{
    c->srv->stats.protocol_errors++;
    log_debug(c->srv->log, "resp: protocol error from %s: %s", c->addr,
              rc == CC_EPROTO ? c->parser.err : cc_strerror(rc));
    struct resp_ctx *ctx = rc == CC_EPROTO ? ctx_push(c) : NULL;
    if (!ctx) {
        resp__conn_close(c);
        return;
    }
    resp_reply_error(ctx, c->parser.err);
    resp_ctx_close_after(ctx);
    resp_done(ctx);
}

static void maybe_finish(struct resp_conn *c)
{
    if (c->closing || !c->no_more_input) return;
    if (c->qlen == 0 && !c->writing && c->out.len == 0) resp__conn_close(c);
}

/* Parses and runs buffered commands while the limits allow, then writes, adjusts reading and
 * closes the connection if it is finished. Called after every event that may unblock it. */
static void process(struct resp_conn *c)
{
    if (c->in_process || c->closing) return;
    c->in_process = 1;
    const struct resp_config *cfg = &c->srv->cfg;
    while (!c->closing && !c->no_more_input && c->qlen < cfg->max_inflight &&
           unsent(c) < cfg->output_pause_bytes && c->in_pos < c->in.len) {
        size_t used;
        int rc =
            resp_parse(&c->parser, (char *)c->in.data + c->in_pos, c->in.len - c->in_pos, &used);
        if (rc == RESP_PARSE_MORE) break;
        if (rc < 0) {
            protocol_error(c, rc);
            break;
        }
        if (c->parser.argc) dispatch(c, c->parser.argc, c->parser.argv);
        c->in_pos += used;
    }
    if (!c->closing) {
        if (c->in_pos) {
            buf_consume(&c->in, c->in_pos);
            c->in_pos = 0;
        }
        shrink_if_idle(&c->in);
        shrink_if_idle(&c->out);
        flush(c);
    }
    if (!c->closing) update_reading(c);
    if (!c->closing) maybe_finish(c);
    c->in_process = 0;
}

/* ---- opening and closing ---- */

static void format_addr(const struct sockaddr_storage *ss, char *dst, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    }
    snprintf(dst, n, "%s:%d", ip, port);
}

void resp__conn_accepted(struct resp_server *srv, struct resp_conn *c)
{
    const struct resp_config *cfg = &srv->cfg;
    c->srv = srv;
    c->tcp.data = c;
    c->id = ++srv->next_id;
    resp_parser_init(&c->parser, &cfg->parse);
    buf_init(&c->in, cfg->parse.max_request_bytes + 2 * READ_CHUNK);
    buf_init(&c->out, cfg->max_output_bytes);
    buf_init(&c->wbuf, cfg->max_output_bytes);
    c->created_ms = c->last_ms = uv_now(srv->loop);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        format_addr(&ss, c->addr, sizeof(c->addr));
    len = sizeof(ss);
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        format_addr(&ss, c->laddr, sizeof(c->laddr));
    uv_tcp_nodelay(&c->tcp, 1); /* replies are whole; Nagle would only add latency */
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->stats.connected_clients++;
    srv->stats.total_connections_received++;
    c->queue = calloc(cfg->max_inflight, sizeof(*c->queue));
    if (!c->queue) {
        resp__conn_close(c);
        return;
    }
    c->opened = 1;
    if (cfg->on_open) cfg->on_open(c, cfg->hook_arg);
    if (!c->closing) update_reading(c);
}

static void on_closed(uv_handle_t *h)
{
    struct resp_conn *c = h->data;
    struct resp_server *srv = c->srv;
    resp_parser_free(&c->parser);
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->wbuf);
    free(c->queue);
    free(c);
    resp__handle_closed(srv);
}

void resp__conn_close(struct resp_conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    struct resp_server *srv = c->srv;
    while (c->qlen) {
        struct resp_ctx *x = q_pop(c);
        if (x->done) {
            ctx_free(x);
            continue;
        }
        /* Still with its handler: detach, so resp_done frees it later. */
        x->conn = NULL;
        x->err = CC_ECLOSED;
        buf_free(&x->own);
        x->out = &x->own;
        srv->stats.inflight_commands--;
    }
    c->held_bytes = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->stats.connected_clients--;
    if (c->opened && srv->cfg.on_close) srv->cfg.on_close(c, srv->cfg.hook_arg);
    if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void resp__conn_drain(struct resp_conn *c)
{
    c->no_more_input = 1;
    if (!c->in_process) schedule(c);
}

/* ---- connection state ---- */

uint64_t resp_conn_id(const struct resp_conn *c)
{
    return c->id;
}

const char *resp_conn_name(const struct resp_conn *c)
{
    return c->name;
}

int resp_conn_readonly(const struct resp_conn *c)
{
    return c->readonly;
}

int resp_conn_db(const struct resp_conn *c)
{
    return 0;
}

const char *resp_conn_addr(const struct resp_conn *c)
{
    return c->addr;
}

void *resp_conn_data(const struct resp_conn *c)
{
    return c->data;
}

void resp_conn_set_data(struct resp_conn *c, void *data)
{
    c->data = data;
}

struct resp_server *resp_conn_server(const struct resp_conn *c)
{
    return c->srv;
}

struct resp_conn *resp_ctx_conn(const struct resp_ctx *ctx)
{
    return ctx->conn;
}

const struct resp_command *resp_ctx_command(const struct resp_ctx *ctx)
{
    return ctx->cmd ? &ctx->cmd->spec : NULL;
}
