/* resp_internal.h — structures shared by the RESP server's files; not for other modules. */
#ifndef CONCUR_API_RESP_INTERNAL_H
#define CONCUR_API_RESP_INTERNAL_H

#include <stdint.h>

#include "api/resp/resp_server.h"

/* Table slots for the name index: a power of two at least twice RESP_MAX_COMMANDS. */
#define RESP__INDEX_SLOTS 1024

/* One registered command. Subcommands point to their container by index. */
struct resp__cmd {
    char name[RESP_CMD_NAME_MAX]; /* full lowercase name, "client|setname" */
    struct resp_command spec;     /* spec.name points at name */
    int parent;                   /* index of the container, -1 for a top-level command */
    int nsubs;                    /* registered subcommands (a container when > 0) */
    int explicit_;                /* registered by the caller, not created for a subcommand */
};

/* The command table: entries in registration order plus an open-addressing name index. */
struct resp__cmdtab {
    struct resp__cmd cmds[RESP_MAX_COMMANDS];
    int ncmds;
    uint16_t index[RESP__INDEX_SLOTS]; /* entry index + 1; 0 = empty */
};

struct resp_ctx {
    struct resp_conn *conn; /* NULL once detached */
    const struct resp__cmd *cmd;
    struct buf own;  /* the reply while earlier commands are still in flight */
    struct buf *out; /* &conn->out while at the head of the queue, else &own */
    int err;         /* first reply failure (sticky) */
    unsigned done : 1;
    unsigned close_after : 1;
};

struct resp_conn {
    uv_tcp_t tcp; /* tcp.data == this */
    struct resp_server *srv;
    struct resp_conn *prev, *next;             /* the server's list of live connections */
    struct resp_conn *ready_prev, *ready_next; /* the server's list of conns to process */
    uint64_t id;
    struct resp_parser parser;
    struct buf in; /* received bytes; in_pos of them are consumed */
    size_t in_pos;
    struct buf out;  /* replies ready to send */
    struct buf wbuf; /* bytes handed to the running uv_write */
    uv_write_t wreq;
    struct resp_ctx **queue; /* in-flight ring, srv->cfg.max_inflight slots */
    size_t qhead, qlen;
    size_t held_bytes; /* bytes in the own buffers of queued ctxs */
    /* no_more_input: QUIT, a protocol error or shutdown; close once idle. */
    unsigned reading : 1, writing : 1, closing : 1, no_more_input : 1, in_process : 1,
        opened : 1, /* on_open ran, so on_close must */
        ready : 1;  /* in the server's ready list */
    int readonly;
    void *data;
    char name[RESP_CLIENT_NAME_MAX + 1];
    char addr[64], laddr[64];
    uint64_t created_ms, last_ms;
    char last_cmd[RESP_CMD_NAME_MAX];
};

struct resp_server {
    uv_loop_t *loop;
    struct resp_config cfg;
    const struct logger *log;
    struct resp__cmdtab tab;
    uv_tcp_t *listener;     /* NULL when not listening */
    uv_timer_t drain_timer; /* initialized by resp_server_close */
    uv_idle_t idle;         /* runs the ready list; initialized by a successful listen */
    int idle_init;
    struct resp_conn *ready; /* connections whose commands completed since they last ran */
    int port;
    int closing;
    int open_handles; /* listener + connections + refused connections not yet closed */
    struct resp_conn *conns;
    uint64_t next_id;
    struct resp_stats stats;
    void (*done)(struct resp_server *srv, void *arg);
    void *done_arg;
    char errmsg[256];
};

/* resp_cmdtab.c */
void resp__cmdtab_init(struct resp__cmdtab *t);
int resp__cmdtab_add(struct resp__cmdtab *t, const struct resp_command *cmd);
/* Finds the entry for a command line the way Redis's lookupCommand does (a subcommand when
 * argv[0] is a container and argc > 1). NULL when unknown. */
const struct resp__cmd *resp__cmdtab_lookup(const struct resp__cmdtab *t, size_t argc,
                                            const struct resp_str *argv);
/* Finds an entry by its full name ("client|list"), case-insensitive. */
const struct resp__cmd *resp__cmdtab_find(const struct resp__cmdtab *t, struct resp_str name);
/* Checks argc against e's arity; 1 if valid. */
int resp__arity_ok(const struct resp__cmd *e, size_t argc);
/* Replies with Redis's unknown-command or unknown-subcommand error for argv. */
void resp__reply_unknown(struct resp_ctx *ctx, const struct resp__cmdtab *t, size_t argc,
                         const struct resp_str *argv);

/* resp_builtin.c, resp_command.c */
int resp__register_builtins(struct resp_server *srv);
int resp__register_command_cmd(struct resp_server *srv);
/* Replies Redis's help array: a header naming the container, lines, then HELP. */
void resp__reply_help(struct resp_ctx *ctx, const char *container, const char *const *lines);
/* Appends one CLIENT LIST line (with its '\n') describing c. */
int resp__client_line(const struct resp_conn *c, struct buf *b);

/* resp_conn.c */
void resp__conn_accepted(struct resp_server *srv, struct resp_conn *c);
void resp__conn_close(struct resp_conn *c);
/* Server shutdown: stop reading c, close it once idle. */
void resp__conn_drain(struct resp_conn *c);
/* The idle callback: processes every ready connection. */
void resp__run_ready(uv_idle_t *idle);

/* resp_server.c */
void resp__handle_closed(struct resp_server *srv);

#endif
