/* resp_builtin.c — connection commands that need no store: PING, ECHO, QUIT, SELECT, AUTH,
 * HELLO, READONLY, READWRITE and CLIENT, with redis-server 7.0's replies and error texts. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/resp/resp_internal.h"
#include "util/err.h"

static const char not_integer[] = "value is not an integer or out of range";

void resp__reply_help(struct resp_ctx *ctx, const char *container, const char *const *lines)
{
    size_t n = 0;
    while (lines[n]) n++;
    char head[96];
    snprintf(head, sizeof(head),
             "%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", container);
    resp_reply_array(ctx, n + 3);
    resp_reply_simple(ctx, head);
    for (size_t i = 0; i < n; i++) resp_reply_simple(ctx, lines[i]);
    resp_reply_simple(ctx, "HELP");
    resp_reply_simple(ctx, "    Prints this help.");
}

static void cmd_ping(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    if (argc > 2)
        resp_reply_arity_error(ctx); /* arity -1 but at most one message */
    else if (argc == 2)
        resp_reply_bulk(ctx, argv[1].p, argv[1].len);
    else
        resp_reply_simple(ctx, "PONG");
    resp_done(ctx);
}

static void cmd_echo(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    resp_reply_bulk(ctx, argv[1].p, argv[1].len);
    resp_done(ctx);
}

static void cmd_quit(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    resp_reply_ok(ctx);
    resp_ctx_close_after(ctx);
    resp_done(ctx);
}

/* One keyspace: database 0 is the only one, as in Redis cluster mode. */
static void cmd_select(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    long long db;
    if (resp_str_to_ll(argv[1], &db) != 0)
        resp_reply_error(ctx, not_integer);
    else if (db < INT32_MIN || db > INT32_MAX) /* Redis's getIntFromObjectOrReply */
        resp_reply_error(ctx, "value is out of range, value must between -2147483648 and "
                              "2147483647");
    else if (db != 0)
        resp_reply_error(ctx, "DB index is out of range");
    else
        resp_reply_ok(ctx);
    resp_done(ctx);
}

/* There are no passwords: the replies are Redis's for a default user with "nopass". */
static void cmd_auth(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    if (argc > 3)
        resp_reply_error(ctx, "syntax error");
    else if (argc == 2)
        resp_reply_error(ctx, "AUTH <password> called without any password configured for the "
                              "default user. Are you sure your configuration is correct?");
    else if (resp_str_eq(argv[1], "default"))
        resp_reply_ok(ctx);
    else
        resp_reply_error(ctx, "-WRONGPASS invalid username-password pair or user is disabled.");
    resp_done(ctx);
}

/* Sets or clears (empty) the name; on a bad name replies the error and returns nonzero. */
static int set_name(struct resp_ctx *ctx, struct resp_conn *c, struct resp_str name)
{
    if (name.len > RESP_CLIENT_NAME_MAX) {
        resp_reply_errorf(ctx, "Client names are limited to %d bytes", RESP_CLIENT_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < name.len; i++) {
        if (name.p[i] < '!' || name.p[i] > '~') { /* CLIENT LIST must stay splittable */
            resp_reply_error(ctx,
                             "Client names cannot contain spaces, newlines or special characters.");
            return -1;
        }
    }
    memcpy(c->name, name.p, name.len);
    c->name[name.len] = '\0';
    return 0;
}

/* HELLO [protover [AUTH user pass] [SETNAME name]]: RESP3 is not spoken, so 3 gets -NOPROTO
 * and the client stays on RESP2, as with servers that lack RESP3. */
static void cmd_hello(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    struct resp_conn *c = resp_ctx_conn(ctx);
    size_t j = 1;
    if (argc >= 2) {
        long long ver;
        j = 2;
        if (resp_str_to_ll(argv[1], &ver) != 0) {
            resp_reply_error(ctx, "Protocol version is not an integer or out of range");
            goto out;
        }
        if (ver != 2) {
            resp_reply_error(ctx, "-NOPROTO unsupported protocol version");
            goto out;
        }
    }
    for (; j < argc; j++) {
        size_t more = argc - 1 - j;
        if (resp_str_eq(argv[j], "AUTH") && more >= 2) {
            if (!resp_str_eq(argv[j + 1], "default")) {
                resp_reply_error(ctx,
                                 "-WRONGPASS invalid username-password pair or user is disabled.");
                goto out;
            }
            j += 2;
        } else if (resp_str_eq(argv[j], "SETNAME") && more >= 1) {
            if (set_name(ctx, c, argv[j + 1])) goto out;
            j++;
        } else {
            resp_reply_errorf(ctx, "Syntax error in HELLO option '%.*s'", (int)argv[j].len,
                              argv[j].p);
            goto out;
        }
    }
    const struct resp_config *cfg = &c->srv->cfg;
    resp_reply_map(ctx, 7);
    resp_reply_bulk_cstr(ctx, "server");
    resp_reply_bulk_cstr(ctx, cfg->server_name);
    resp_reply_bulk_cstr(ctx, "version");
    resp_reply_bulk_cstr(ctx, cfg->version);
    resp_reply_bulk_cstr(ctx, "proto");
    resp_reply_int(ctx, 2);
    resp_reply_bulk_cstr(ctx, "id");
    resp_reply_int(ctx, (long long)c->id);
    resp_reply_bulk_cstr(ctx, "mode");
    resp_reply_bulk_cstr(ctx, "standalone");
    resp_reply_bulk_cstr(ctx, "role");
    resp_reply_bulk_cstr(ctx, "master");
    resp_reply_bulk_cstr(ctx, "modules");
    resp_reply_array(ctx, 0);
out:
    resp_done(ctx);
}

/* READONLY lets this connection's reads be served from the local store (serializable);
 * READWRITE restores linearizable reads. */
static void cmd_readonly(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    resp_ctx_conn(ctx)->readonly = u != NULL;
    resp_reply_ok(ctx);
    resp_done(ctx);
}

static void cmd_client_id(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    resp_reply_int(ctx, (long long)resp_ctx_conn(ctx)->id);
    resp_done(ctx);
}

static void cmd_client_getname(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv,
                               void *u)
{
    const char *name = resp_ctx_conn(ctx)->name;
    if (name[0])
        resp_reply_bulk_cstr(ctx, name);
    else
        resp_reply_null(ctx);
    resp_done(ctx);
}

static void cmd_client_setname(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv,
                               void *u)
{
    if (set_name(ctx, resp_ctx_conn(ctx), argv[2]) == 0) resp_reply_ok(ctx);
    resp_done(ctx);
}

int resp__client_line(const struct resp_conn *c, struct buf *b)
{
    uint64_t now = uv_now(c->srv->loop);
    uv_os_fd_t fd = -1;
    uv_fileno((const uv_handle_t *)&c->tcp, &fd);
    char line[512 + RESP_CLIENT_NAME_MAX];
    int n = snprintf(line, sizeof(line),
                     "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%s age=%" PRIu64 " idle=%" PRIu64
                     " flags=%s db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu"
                     " qbuf-free=%zu argv-mem=0 multi-mem=0 rbs=%zu rbp=0 obl=0 oll=%zu"
                     " omem=%zu tot-mem=%zu events=%s%s cmd=%s user=default redir=-1 resp=2\n",
                     c->id, c->addr, c->laddr, (int)fd, c->name, (now - c->created_ms) / 1000,
                     (now - c->last_ms) / 1000, c->readonly ? "r" : "N", c->in.len,
                     c->in.cap - c->in.len, c->in.cap, c->qlen, c->out.len + c->wbuf.len,
                     c->in.cap + c->out.cap + c->wbuf.cap, c->reading ? "r" : "",
                     c->writing ? "w" : "", c->last_cmd[0] ? c->last_cmd : "NULL");
    return buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]] */
static void cmd_client_list(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    struct resp_conn *self = resp_ctx_conn(ctx);
    int all = 1, none = 0;
    size_t ids_from = argc;
    if (argc == 4 && resp_str_eq(argv[2], "TYPE")) {
        if (resp_str_eq(argv[3], "master") || resp_str_eq(argv[3], "replica") ||
            resp_str_eq(argv[3], "slave") || resp_str_eq(argv[3], "pubsub")) {
            none = 1;
        } else if (!resp_str_eq(argv[3], "normal")) {
            resp_reply_errorf(ctx, "Unknown client type '%.*s'", (int)argv[3].len, argv[3].p);
            goto out;
        }
    } else if (argc > 3 && resp_str_eq(argv[2], "ID")) {
        for (size_t i = 3; i < argc; i++) {
            long long id;
            if (resp_str_to_ll(argv[i], &id) != 0 || id < 1) {
                resp_reply_error(ctx, "Invalid client ID");
                goto out;
            }
        }
        all = 0;
        ids_from = 3;
    } else if (argc != 2) {
        resp_reply_error(ctx, "syntax error");
        goto out;
    }
    struct buf b;
    buf_init(&b, self->srv->cfg.max_output_bytes);
    int rc = 0;
    for (const struct resp_conn *c = self->srv->conns; c && !rc && !none; c = c->next) {
        int want = all;
        for (size_t i = ids_from; i < argc && !want; i++) {
            long long id = 0;
            resp_str_to_ll(argv[i], &id);
            want = (uint64_t)id == c->id;
        }
        if (want) rc = resp__client_line(c, &b);
    }
    if (rc)
        resp_reply_error(ctx, "-OOM client list too long");
    else
        resp_reply_bulk(ctx, b.data, b.len);
    buf_free(&b);
out:
    resp_done(ctx);
}

static void cmd_client_info(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    struct buf b;
    buf_init(&b, 4096);
    if (resp__client_line(resp_ctx_conn(ctx), &b) == 0)
        resp_reply_bulk(ctx, b.data, b.len);
    else
        resp_reply_error(ctx, "-OOM out of memory");
    buf_free(&b);
    resp_done(ctx);
}

static void cmd_client_help(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    static const char *const lines[] = {
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "    * ID <id> [<id> ...]",
        "      Return clients with the given IDs.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        NULL,
    };
    resp__reply_help(ctx, "CLIENT", lines);
    resp_done(ctx);
}

#define CONN_FLAGS (RESP_CMD_LOADING | RESP_CMD_STALE)

static const struct resp_command builtins[] = {
    {"ping", -1, RESP_CMD_FAST | CONN_FLAGS, 0, 0, 0, "Ping the server", "1.0.0", "connection",
     cmd_ping, NULL},
    {"echo", 2, RESP_CMD_FAST | CONN_FLAGS, 0, 0, 0, "Echo the given string", "1.0.0", "connection",
     cmd_echo, NULL},
    {"quit", -1, RESP_CMD_FAST | RESP_CMD_NO_AUTH | RESP_CMD_NOSCRIPT | CONN_FLAGS, 0, 0, 0,
     "Close the connection", "1.0.0", "connection", cmd_quit, NULL},
    {"select", 2, RESP_CMD_FAST | CONN_FLAGS, 0, 0, 0,
     "Change the selected database for the current connection", "1.0.0", "connection", cmd_select,
     NULL},
    {"auth", -2, RESP_CMD_FAST | RESP_CMD_NO_AUTH | RESP_CMD_NOSCRIPT | CONN_FLAGS, 0, 0, 0,
     "Authenticate to the server", "1.0.0", "connection", cmd_auth, NULL},
    {"hello", -1, RESP_CMD_FAST | RESP_CMD_NO_AUTH | RESP_CMD_NOSCRIPT | CONN_FLAGS, 0, 0, 0,
     "Handshake with Redis", "6.0.0", "connection", cmd_hello, NULL},
    {"readonly", 1, RESP_CMD_FAST | CONN_FLAGS, 0, 0, 0,
     "Allow serializable reads from the local store on this connection", "3.0.0", "cluster",
     cmd_readonly, (void *)1},
    {"readwrite", 1, RESP_CMD_FAST | CONN_FLAGS, 0, 0, 0,
     "Make this connection's reads linearizable again (the default)", "3.0.0", "cluster",
     cmd_readonly, NULL},
    {"client", -2, CONN_FLAGS, 0, 0, 0, "A container for client connection commands", "2.4.0",
     "connection", NULL, NULL},
    {"client|id", 2, RESP_CMD_NOSCRIPT | CONN_FLAGS, 0, 0, 0,
     "Returns the client ID for the current connection", "5.0.0", "connection", cmd_client_id,
     NULL},
    {"client|getname", 2, RESP_CMD_NOSCRIPT | CONN_FLAGS, 0, 0, 0,
     "Get the current connection name", "2.6.9", "connection", cmd_client_getname, NULL},
    {"client|setname", 3, RESP_CMD_NOSCRIPT | CONN_FLAGS, 0, 0, 0,
     "Set the current connection name", "2.6.9", "connection", cmd_client_setname, NULL},
    {"client|list", -2, RESP_CMD_ADMIN | RESP_CMD_NOSCRIPT | CONN_FLAGS, 0, 0, 0,
     "Get the list of client connections", "2.4.0", "connection", cmd_client_list, NULL},
    {"client|info", 2, RESP_CMD_NOSCRIPT | CONN_FLAGS, 0, 0, 0,
     "Returns information about the current client connection.", "6.2.0", "connection",
     cmd_client_info, NULL},
    {"client|help", 2, CONN_FLAGS, 0, 0, 0, "Show helpful text about the different subcommands",
     "5.0.0", "connection", cmd_client_help, NULL},
};

int resp__register_builtins(struct resp_server *srv)
{
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        int rc = resp_server_register(srv, &builtins[i]);
        if (rc) return rc;
    }
    return 0;
}
