/* resp_reply.c — reply builders for a command in flight: encode into the ctx's current target
 * buffer and enforce the client's output limit. */
#include "api/resp/resp_internal.h"
#include "util/err.h"

/* Records what an encoder call appended to b and applies the per-client limit. */
static int account(struct resp_ctx *ctx, const struct buf *b, size_t before, int rc)
{
    struct resp_conn *c = ctx->conn;
    if (c) {
        if (b == &ctx->own) c->held_bytes += b->len - before;
        size_t held = c->out.len + c->wbuf.len + c->held_bytes;
        if (!rc && held > c->srv->cfg.max_output_bytes) rc = CC_ETOOBIG;
    }
    if (rc) ctx->err = rc;
    return rc;
}

/* Runs one encoder call against the ctx's target unless an earlier failure is sticky. */
#define REPLY(ctx, call)                                                                           \
    do {                                                                                           \
        if ((ctx)->err) return (ctx)->err;                                                         \
        struct buf *b = (ctx)->out;                                                                \
        size_t before = b->len;                                                                    \
        int rc_ = (call);                                                                          \
        return account((ctx), b, before, rc_);                                                     \
    } while (0)

int resp_reply_ok(struct resp_ctx *ctx)
{
    REPLY(ctx, resp_enc_raw(b, "+OK\r\n", 5));
}

int resp_reply_simple(struct resp_ctx *ctx, const char *s)
{
    REPLY(ctx, resp_enc_simple(b, s));
}

int resp_reply_error(struct resp_ctx *ctx, const char *msg)
{
    REPLY(ctx, resp_enc_error(b, msg));
}

int resp_reply_errorf(struct resp_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc;
    if (ctx->err) {
        rc = ctx->err;
    } else {
        struct buf *b = ctx->out;
        size_t before = b->len;
        rc = account(ctx, b, before, resp_enc_verrorf(b, fmt, ap));
    }
    va_end(ap);
    return rc;
}

int resp_reply_int(struct resp_ctx *ctx, long long v)
{
    REPLY(ctx, resp_enc_int(b, v));
}

int resp_reply_bulk(struct resp_ctx *ctx, const void *p, size_t len)
{
    REPLY(ctx, resp_enc_bulk(b, p, len));
}

int resp_reply_bulk_cstr(struct resp_ctx *ctx, const char *s)
{
    REPLY(ctx, resp_enc_bulk_cstr(b, s));
}

int resp_reply_null(struct resp_ctx *ctx)
{
    REPLY(ctx, resp_enc_null(b));
}

int resp_reply_array(struct resp_ctx *ctx, size_t n)
{
    REPLY(ctx, resp_enc_array(b, n));
}

int resp_reply_null_array(struct resp_ctx *ctx)
{
    REPLY(ctx, resp_enc_null_array(b));
}

int resp_reply_map(struct resp_ctx *ctx, size_t pairs)
{
    REPLY(ctx, resp_enc_map(b, pairs));
}

int resp_reply_raw(struct resp_ctx *ctx, const void *p, size_t len)
{
    REPLY(ctx, resp_enc_raw(b, p, len));
}

int resp_reply_arity_error(struct resp_ctx *ctx)
{
    const char *name = ctx->cmd ? ctx->cmd->name : "";
    return resp_reply_errorf(ctx, "wrong number of arguments for '%s' command", name);
}
