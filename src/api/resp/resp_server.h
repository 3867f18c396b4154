/* resp_server.h — the Redis-protocol (RESP2) server on a libuv loop: connections, a command
 * table, and asynchronous commands whose replies go out in request order. */
#ifndef CONCUR_API_RESP_SERVER_H
#define CONCUR_API_RESP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/resp/resp_enc.h"
#include "api/resp/resp_parse.h"
#include "util/buf.h"
#include "util/log.h"

/*
 * Threading: everything here runs on the loop thread given to resp_server_create; no function
 * may be called from another thread (including resp_done).
 *
 * Objects and who owns them
 * -------------------------
 *  resp_server  created by resp_server_create, freed by resp_server_destroy after the done
 *               callback of resp_server_close has run.
 *  resp_conn    one client connection, owned by the server. A resp_conn pointer is valid only
 *               during a handler call (through resp_ctx_conn) or an on_open/on_close hook;
 *               never keep one across loop iterations.
 *  resp_ctx     one command in flight. Created by the server and passed to the handler, which
 *               must call resp_done(ctx) exactly once, now or later. Until then the ctx stays
 *               valid even if its client disconnects: the server detaches it (resp_ctx_conn
 *               returns NULL, replies are discarded) and resp_done frees it. After resp_done
 *               the handler must not touch ctx again. The server frees a ctx either when its
 *               reply has been moved to the connection's output (completed and all earlier
 *               commands completed) or, if detached, inside resp_done.
 *
 * Ordering: replies are written in the order the commands arrived, whatever order the
 * handlers complete in. A reply written while its command is at the head of the queue goes
 * straight to the output buffer; a later command's reply waits in the ctx until the commands
 * before it are done.
 *
 * Disconnects: when a client hangs up (EOF or error) its connection is freed at once, as
 * redis-server does; its in-flight commands are detached (above). QUIT, a protocol error and
 * a draining shutdown instead stop reading and close once the owed replies are written.
 *
 * Back-pressure: the server stops reading from a client while it has max_inflight commands
 * in flight or more than output_pause_bytes of replies not yet written to the socket, and
 * resumes when that drains. A client whose pending replies pass max_output_bytes is
 * disconnected (Redis's client-output-buffer-limit).
 *
 * Example: a store-backed command that completes after Raft commit.
 *
 *   static void cmd_set(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv,
 *                       void *member) {
 *       // copy argv[1], argv[2] into the proposal (argv dies when this returns), keep ctx
 *       if (member_propose_set(member, argv[1], argv[2], ctx) != 0) {
 *           resp_reply_error(ctx, "-CLUSTERDOWN no leader");
 *           resp_done(ctx);
 *       }
 *   }
 *   // later, when the entry has applied:  resp_reply_ok(ctx); resp_done(ctx);
 *
 *   struct resp_command set = {.name = "set", .arity = -3,
 *       .flags = RESP_CMD_WRITE | RESP_CMD_DENYOOM, .first_key = 1, .last_key = 1,
 *       .key_step = 1, .summary = "Set the string value of a key", .since = "1.0.0",
 *       .group = "string", .handler = cmd_set, .udata = member};
 *   resp_server_register(srv, &set);
 */

struct resp_server;
struct resp_conn;
struct resp_ctx;

/* Command flags. COMMAND INFO shows them under Redis's names; the member reads
 * resp_ctx_command(ctx)->flags to route (e.g. WRITE through Raft, READONLY as a read). */
enum {
    RESP_CMD_WRITE = 1u << 0,    /* "write": changes the keyspace */
    RESP_CMD_READONLY = 1u << 1, /* "readonly": reads the keyspace */
    RESP_CMD_DENYOOM = 1u << 2,  /* "denyoom" */
    RESP_CMD_ADMIN = 1u << 3,    /* "admin" */
    RESP_CMD_NOSCRIPT = 1u << 4, /* "noscript" */
    RESP_CMD_LOADING = 1u << 5,  /* "loading": allowed while the member is starting */
    RESP_CMD_STALE = 1u << 6,    /* "stale": allowed without a leader */
    RESP_CMD_FAST = 1u << 7,     /* "fast" */
    RESP_CMD_NO_AUTH = 1u << 8,  /* "no_auth" */
};

/* A handler runs one command. argv[0] is the command name as the client sent it; argv and the
 * bytes it points to are valid only during this call (copy what an asynchronous completion
 * needs). argc has already passed the arity check. udata is resp_command.udata. */
typedef void (*resp_handler_fn)(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv,
                                void *udata);

/* One entry of the command table. */
struct resp_command {
    /* Lowercase ASCII, at most RESP_CMD_NAME_MAX - 1 bytes, no spaces. "container|sub" registers
     * a subcommand (as Redis 7 names them, e.g. "client|setname"): it is chosen when argv[1]
     * matches sub, and "container" then exists as a container command (arity -2, no handler)
     * unless registered with a handler of its own (as COMMAND is). Matching is
     * case-insensitive. The string is copied. */
    const char *name;
    /* Redis's convention, counting the name: N > 0 means exactly N arguments, -N at least N.
     * Otherwise the client gets "ERR wrong number of arguments for '<name>' command". */
    int arity;
    unsigned flags; /* RESP_CMD_* */
    /* Key positions as COMMAND INFO and COMMAND GETKEYS report them (Redis's legacy range):
     * first key index (0 = none), last key index (-1 = the last argument, -2 = the one
     * before...), step between keys. */
    int first_key;
    int last_key;
    int key_step;
    /* COMMAND DOCS text: static strings that outlive the server. NULL summary shows as "",
     * NULL group as "generic", NULL since is left out. */
    const char *summary;
    const char *since;
    const char *group;
    resp_handler_fn handler; /* NULL only for a container (a name without '|') whose
                                subcommands are registered separately */
    void *udata;             /* passed to handler; not owned */
};

#define RESP_CMD_NAME_MAX    48
#define RESP_MAX_COMMANDS    512
#define RESP_CLIENT_NAME_MAX 128

/* Hooks and limits. A zero field takes the default in brackets. */
struct resp_config {
    struct resp_parse_limits parse; /* request limits, see resp_parse.h [8 MiB bulk, ...] */
    size_t max_clients;             /* connections beyond get "-ERR max number of clients
                                       reached" and are closed [10000] */
    size_t max_inflight;            /* commands in flight per client [256] */
    size_t max_output_bytes;        /* replies held for one client, hard limit [64 MiB] */
    size_t output_pause_bytes;      /* stop reading a client above this much unsent [1 MiB] */
    const char *server_name;        /* HELLO's "server" field, static ["concur"] */
    const char *version;            /* HELLO's "version" field, static ["7.0.0"] */
    /* Called after a client connects (before its first command) and when it goes away (after
     * its in-flight commands were detached). Use them to attach and free the member's
     * per-connection data (resp_conn_set_data). May be NULL. */
    void (*on_open)(struct resp_conn *conn, void *arg);
    void (*on_close)(struct resp_conn *conn, void *arg);
    void *hook_arg;
};

#define RESP_DEFAULT_MAX_CLIENTS        10000
#define RESP_DEFAULT_MAX_INFLIGHT       256
#define RESP_DEFAULT_MAX_OUTPUT_BYTES   ((size_t)64 << 20)
#define RESP_DEFAULT_OUTPUT_PAUSE_BYTES ((size_t)1 << 20)

/* Counters for INFO. */
struct resp_stats {
    uint64_t connected_clients;
    uint64_t total_connections_received;
    uint64_t rejected_connections; /* refused by max_clients */
    uint64_t total_commands_processed;
    uint64_t protocol_errors;
    uint64_t output_limit_disconnections;
    uint64_t total_net_input_bytes;
    uint64_t total_net_output_bytes;
    uint64_t inflight_commands;   /* commands handed to handlers and not yet done */
    uint64_t backpressure_pauses; /* times a client's reading stopped on a limit */
};

/* ---- server lifecycle ---- */

/* Creates a server on loop with cfg (NULL = defaults; copied) and registers the built-in
 * commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, READONLY, READWRITE, CLIENT
 * (ID|GETNAME|SETNAME|LIST|INFO|HELP) and COMMAND (COUNT|DOCS|INFO|LIST|GETKEYS|HELP).
 * log may be NULL; it is borrowed and must outlive the server. Returns 0 and *out, CC_EINVAL
 * (inconsistent limits, e.g. max_bulk_len > max_request_bytes) or CC_ENOMEM. Starts nothing. */
int resp_server_create(struct resp_server **out, uv_loop_t *loop, const struct resp_config *cfg,
                       const struct logger *log);

/* Adds a command (see struct resp_command). May be called before or after listening. Returns
 * 0, CC_EEXIST (name already has a handler), CC_EINVAL (bad name, arity 0, missing handler,
 * nested subcommand) or CC_ETOOBIG (RESP_MAX_COMMANDS reached). */
int resp_server_register(struct resp_server *srv, const struct resp_command *cmd);

/* Listens on host:port (host an IPv4/IPv6 literal or "localhost"; port 0 picks a free port,
 * see resp_server_port). Returns 0, CC_EINVAL (bad host; already listening; closing) or the
 * libuv failure mapped to a cc_err (CC_EIO...); resp_server_errmsg then says why. */
int resp_server_listen(struct resp_server *srv, const char *host, int port);

/* The port actually bound, or 0 when not listening. */
int resp_server_port(const struct resp_server *srv);

/* Context for the last failure of resp_server_listen. Never NULL. */
const char *resp_server_errmsg(const struct resp_server *srv);

/* Stops the server. The listener closes at once. With drain_ms > 0 every client stops being
 * read, its in-flight commands get up to drain_ms to complete and their replies to be
 * written, then it is closed; with 0 clients close at once (in-flight commands detached).
 * done(srv, arg) runs once every handle is closed; the caller may call resp_server_destroy
 * inside it. Call once; done must not be NULL. In-flight handlers may still call resp_done on
 * their detached ctxs afterwards, even after resp_server_destroy. */
void resp_server_close(struct resp_server *srv, uint64_t drain_ms,
                       void (*done)(struct resp_server *srv, void *arg), void *arg);

/* Frees the server (NULL is a no-op). Only after close's done callback ran, or before
 * resp_server_listen was ever called. */
void resp_server_destroy(struct resp_server *srv);

void resp_server_stats(const struct resp_server *srv, struct resp_stats *out);

/* Append INFO lines (no section header) to b: for "# Clients" connected_clients and
 * maxclients; for "# Stats" total_connections_received, total_commands_processed,
 * total_net_input_bytes, total_net_output_bytes, rejected_connections (Redis's names) and
 * protocol_errors, client_output_limit_disconnections, inflight_commands,
 * client_backpressure_pauses. Each line ends in
 * "\r\n". Return 0 or the buf error. */
int resp_server_info_clients(const struct resp_server *srv, struct buf *b);
int resp_server_info_stats(const struct resp_server *srv, struct buf *b);

/* ---- running a command ---- */

/* The connection that sent ctx's command, or NULL once the client has gone away. */
struct resp_conn *resp_ctx_conn(const struct resp_ctx *ctx);

/* The table entry being run (flags, udata). Valid until resp_done. */
const struct resp_command *resp_ctx_command(const struct resp_ctx *ctx);

/* Completes ctx: its reply (whatever the reply functions appended) is final and will be sent
 * after the replies of earlier commands. Exactly once per ctx, from the handler itself or any
 * later callback on the loop thread (also for another connection's ctx); ctx is invalid
 * afterwards. resp_done never calls a handler: the client's next commands and its write run
 * from the loop's idle phase, so completing a batch of commands (e.g. after a Raft apply)
 * costs one write per client. If the reply could not be held (output limit, out of memory),
 * the client is disconnected, as Redis does when a client passes its output buffer limit. */
void resp_done(struct resp_ctx *ctx);

/* Asks for the connection to be closed once this reply has been written, and stops reading
 * further commands from it (QUIT). */
void resp_ctx_close_after(struct resp_ctx *ctx);

/* Reply builders: append one RESP2 value (see resp_enc.h for each form) to ctx's reply.
 * Return 0, or the first failure, which is sticky: CC_ETOOBIG (the client's output limit),
 * CC_ENOMEM, or CC_ECLOSED (client gone; the reply is discarded). Handlers may ignore the
 * result: resp_done acts on it. A handler writes exactly one top-level value per command
 * (an array header counts as one value together with its elements). */
int resp_reply_ok(struct resp_ctx *ctx);
int resp_reply_simple(struct resp_ctx *ctx, const char *s);
int resp_reply_error(struct resp_ctx *ctx, const char *msg);
int resp_reply_errorf(struct resp_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int resp_reply_int(struct resp_ctx *ctx, long long v);
int resp_reply_bulk(struct resp_ctx *ctx, const void *p, size_t len);
int resp_reply_bulk_cstr(struct resp_ctx *ctx, const char *s);
int resp_reply_null(struct resp_ctx *ctx);
int resp_reply_array(struct resp_ctx *ctx, size_t n);
int resp_reply_null_array(struct resp_ctx *ctx);
int resp_reply_map(struct resp_ctx *ctx, size_t pairs);
int resp_reply_raw(struct resp_ctx *ctx, const void *p, size_t len);

/* Redis's error for a wrong argument count, naming ctx's command: "ERR wrong number of
 * arguments for 'client|setname' command". For handlers with optional arguments. */
int resp_reply_arity_error(struct resp_ctx *ctx);

/* ---- connection state ---- */

/* Unique per server, from 1 in accept order (CLIENT ID). */
uint64_t resp_conn_id(const struct resp_conn *c);
/* The name set by CLIENT SETNAME / HELLO SETNAME, "" when none. */
const char *resp_conn_name(const struct resp_conn *c);
/* 1 after READONLY (serializable local reads allowed), 0 after READWRITE and by default. */
int resp_conn_readonly(const struct resp_conn *c);
/* The selected database: always 0 (SELECT accepts only 0). */
int resp_conn_db(const struct resp_conn *c);
/* "ip:port" of the client. */
const char *resp_conn_addr(const struct resp_conn *c);
/* The member's per-connection pointer (NULL until set); not owned by the server. */
void *resp_conn_data(const struct resp_conn *c);
void resp_conn_set_data(struct resp_conn *c, void *data);
/* The server the connection belongs to. */
struct resp_server *resp_conn_server(const struct resp_conn *c);

#endif
