/* resp_command.c — COMMAND and its subcommands (COUNT, DOCS, INFO, LIST, GETKEYS, HELP) built
 * from the command table, in redis-server 7.0's RESP2 shapes (what redis-cli 7 reads). */
#include <string.h>

#include "api/resp/resp_internal.h"

static const struct resp__cmdtab *table(struct resp_ctx *ctx)
{
    return &resp_ctx_conn(ctx)->srv->tab;
}

static size_t count_top(const struct resp__cmdtab *t)
{
    size_t n = 0;
    for (int i = 0; i < t->ncmds; i++) n += t->cmds[i].parent < 0;
    return n;
}

static void reply_flags(struct resp_ctx *ctx, unsigned flags)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {RESP_CMD_WRITE, "write"}, {RESP_CMD_READONLY, "readonly"}, {RESP_CMD_DENYOOM, "denyoom"},
        {RESP_CMD_ADMIN, "admin"}, {RESP_CMD_NOSCRIPT, "noscript"}, {RESP_CMD_LOADING, "loading"},
        {RESP_CMD_STALE, "stale"}, {RESP_CMD_FAST, "fast"},         {RESP_CMD_NO_AUTH, "no_auth"},
    };
    size_t n = 0, count = sizeof(names) / sizeof(names[0]);
    for (size_t i = 0; i < count; i++) n += (flags & names[i].bit) != 0;
    resp_reply_array(ctx, n);
    for (size_t i = 0; i < count; i++)
        if (flags & names[i].bit) resp_reply_simple(ctx, names[i].name);
}

/* One COMMAND INFO entry: name, arity, flags, first key, last key, step, ACL categories,
 * tips, key specs, subcommands (Redis 7's ten fields; the last four may be empty). */
static void reply_info(struct resp_ctx *ctx, const struct resp__cmdtab *t,
                       const struct resp__cmd *e)
{
    if (!e) {
        resp_reply_null(ctx);
        return;
    }
    const struct resp_command *s = &e->spec;
    resp_reply_array(ctx, 10);
    resp_reply_bulk_cstr(ctx, e->name);
    resp_reply_int(ctx, s->arity);
    reply_flags(ctx, s->flags);
    resp_reply_int(ctx, s->first_key);
    resp_reply_int(ctx, s->last_key);
    resp_reply_int(ctx, s->key_step);
    resp_reply_array(ctx, 0);
    resp_reply_array(ctx, 0);
    resp_reply_array(ctx, 0);
    resp_reply_array(ctx, (size_t)e->nsubs);
    int self = (int)(e - t->cmds);
    for (int i = 0; i < t->ncmds; i++)
        if (t->cmds[i].parent == self) reply_info(ctx, t, &t->cmds[i]);
}

/* One COMMAND DOCS value: a map with summary (always: redis-cli reads it unchecked), since,
 * group and, for a container, subcommands. */
static void reply_docs(struct resp_ctx *ctx, const struct resp__cmdtab *t,
                       const struct resp__cmd *e)
{
    const struct resp_command *s = &e->spec;
    resp_reply_map(ctx, 2 + (s->since != NULL) + (e->nsubs > 0));
    resp_reply_bulk_cstr(ctx, "summary");
    resp_reply_bulk_cstr(ctx, s->summary ? s->summary : "");
    if (s->since) {
        resp_reply_bulk_cstr(ctx, "since");
        resp_reply_bulk_cstr(ctx, s->since);
    }
    resp_reply_bulk_cstr(ctx, "group");
    resp_reply_bulk_cstr(ctx, s->group ? s->group : "generic");
    if (e->nsubs > 0) {
        resp_reply_bulk_cstr(ctx, "subcommands");
        resp_reply_map(ctx, (size_t)e->nsubs);
        int self = (int)(e - t->cmds);
        for (int i = 0; i < t->ncmds; i++) {
            if (t->cmds[i].parent != self) continue;
            resp_reply_bulk_cstr(ctx, t->cmds[i].name);
            reply_docs(ctx, t, &t->cmds[i]);
        }
    }
}

static void cmd_command(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    const struct resp__cmdtab *t = table(ctx);
    resp_reply_array(ctx, count_top(t));
    for (int i = 0; i < t->ncmds; i++)
        if (t->cmds[i].parent < 0) reply_info(ctx, t, &t->cmds[i]);
    resp_done(ctx);
}

static void cmd_count(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    resp_reply_int(ctx, (long long)count_top(table(ctx)));
    resp_done(ctx);
}

static void cmd_info(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    if (argc == 2) {
        cmd_command(ctx, argc, argv, u);
        return;
    }
    const struct resp__cmdtab *t = table(ctx);
    resp_reply_array(ctx, argc - 2);
    for (size_t i = 2; i < argc; i++) reply_info(ctx, t, resp__cmdtab_find(t, argv[i]));
    resp_done(ctx);
}

static void cmd_docs(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    const struct resp__cmdtab *t = table(ctx);
    if (argc == 2) {
        resp_reply_map(ctx, count_top(t));
        for (int i = 0; i < t->ncmds; i++) {
            if (t->cmds[i].parent >= 0) continue;
            resp_reply_bulk_cstr(ctx, t->cmds[i].name);
            reply_docs(ctx, t, &t->cmds[i]);
        }
    } else {
        size_t found = 0;
        for (size_t i = 2; i < argc; i++) found += resp__cmdtab_find(t, argv[i]) != NULL;
        resp_reply_map(ctx, found);
        for (size_t i = 2; i < argc; i++) {
            const struct resp__cmd *e = resp__cmdtab_find(t, argv[i]);
            if (!e) continue;
            resp_reply_bulk_cstr(ctx, e->name);
            reply_docs(ctx, t, e);
        }
    }
    resp_done(ctx);
}

/* Redis's glob (stringmatchlen, case-insensitive): * ? [set] [^set] [a-z] and \ escapes. */
static int glob_match(const char *p, size_t pn, const char *s, size_t sn)
{
#define LOW(c) ((c) >= 'A' && (c) <= 'Z' ? (c) - 'A' + 'a' : (c))
    while (pn) {
        if (*p == '*') {
            while (pn > 1 && p[1] == '*') p++, pn--;
            if (pn == 1) return 1;
            for (size_t k = 0; k <= sn; k++)
                if (glob_match(p + 1, pn - 1, s + k, sn - k)) return 1;
            return 0;
        }
        if (!sn) return 0;
        if (*p == '?') {
            /* any one byte */
        } else if (*p == '[') {
            p++, pn--;
            int neg = pn && *p == '^', hit = 0;
            if (neg) p++, pn--;
            while (pn && *p != ']') {
                if (*p == '\\' && pn >= 2) {
                    p++, pn--;
                    hit |= LOW(*p) == LOW(*s);
                } else if (pn >= 3 && p[1] == '-') {
                    char lo = LOW(p[0]), hi = LOW(p[2]), c = LOW(*s);
                    if (lo > hi) {
                        char x = lo;
                        lo = hi;
                        hi = x;
                    }
                    hit |= c >= lo && c <= hi;
                    p += 2, pn -= 2;
                } else {
                    hit |= LOW(*p) == LOW(*s);
                }
                p++, pn--;
            }
            if (!pn) return 0; /* unterminated set */
            if (hit == neg) return 0;
        } else {
            if (*p == '\\' && pn >= 2) p++, pn--;
            if (LOW(*p) != LOW(*s)) return 0;
        }
        p++, pn--, s++, sn--;
    }
    return sn == 0;
#undef LOW
}

/* COMMAND LIST [FILTERBY MODULE name | ACLCAT cat | PATTERN glob]: every name, subcommands
 * included. There are no modules and no ACL categories, so those filters match nothing. */
static void cmd_list(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    const struct resp__cmdtab *t = table(ctx);
    const struct resp_str *pattern = NULL;
    int none = 0;
    if (argc == 5 && resp_str_eq(argv[2], "FILTERBY")) {
        if (resp_str_eq(argv[3], "PATTERN"))
            pattern = &argv[4];
        else if (resp_str_eq(argv[3], "MODULE") || resp_str_eq(argv[3], "ACLCAT"))
            none = 1;
        else
            argc = 0; /* syntax error below */
    }
    if (argc != 2 && argc != 5) {
        resp_reply_error(ctx, "syntax error");
        resp_done(ctx);
        return;
    }
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) resp_reply_array(ctx, n);
        for (int i = 0; i < t->ncmds && !none; i++) {
            const char *name = t->cmds[i].name;
            if (pattern && !glob_match(pattern->p, pattern->len, name, strlen(name))) continue;
            if (pass)
                resp_reply_bulk_cstr(ctx, name);
            else
                n++;
        }
    }
    resp_done(ctx);
}

/* COMMAND GETKEYS <command line>: the keys by the command's first/last/step positions. */
static void cmd_getkeys(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    const struct resp__cmdtab *t = table(ctx);
    size_t n = argc - 2;
    const struct resp__cmd *e = resp__cmdtab_lookup(t, n, argv + 2);
    if (!e) {
        resp_reply_error(ctx, "Invalid command specified");
    } else if (e->spec.first_key <= 0) {
        resp_reply_error(ctx, "The command has no key arguments");
    } else if (!resp__arity_ok(e, n)) {
        resp_reply_error(ctx, "Invalid number of arguments specified for command");
    } else {
        long first = e->spec.first_key, last = e->spec.last_key;
        long step = e->spec.key_step > 0 ? e->spec.key_step : 1;
        if (last < 0) last += (long)n;
        if (last >= (long)n || first > last) {
            resp_reply_error(ctx, "Invalid arguments specified for command");
        } else {
            resp_reply_array(ctx, (size_t)((last - first) / step + 1));
            for (long i = first; i <= last; i += step)
                resp_reply_bulk(ctx, argv[2 + i].p, argv[2 + i].len);
        }
    }
    resp_done(ctx);
}

static void cmd_help(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *u)
{
    static const char *const lines[] = {
        "(no subcommand)",
        "    Return details about all commands.",
        "COUNT",
        "    Return the total number of commands in this server.",
        "LIST",
        "    Return a list of all commands in this server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full command.",
        NULL,
    };
    resp__reply_help(ctx, "COMMAND", lines);
    resp_done(ctx);
}

#define FLAGS (RESP_CMD_LOADING | RESP_CMD_STALE)

static const struct resp_command commands[] = {
    {"command", -1, FLAGS, 0, 0, 0, "Get array of command details", "2.8.13", "server", cmd_command,
     NULL},
    {"command|count", 2, FLAGS, 0, 0, 0, "Get total number of commands", "2.8.13", "server",
     cmd_count, NULL},
    {"command|docs", -2, FLAGS, 0, 0, 0, "Get array of specific command documentation", "7.0.0",
     "server", cmd_docs, NULL},
    {"command|info", -2, FLAGS, 0, 0, 0,
     "Get array of specific command details, or all when no argument is given.", "2.8.13", "server",
     cmd_info, NULL},
    {"command|list", -2, FLAGS, 0, 0, 0, "Get an array of command names", "7.0.0", "server",
     cmd_list, NULL},
    {"command|getkeys", -4, FLAGS, 0, 0, 0, "Extract keys given a full command", "2.8.13", "server",
     cmd_getkeys, NULL},
    {"command|help", 2, FLAGS, 0, 0, 0, "Show helpful text about the different subcommands",
     "5.0.0", "server", cmd_help, NULL},
};

int resp__register_command_cmd(struct resp_server *srv)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        int rc = resp_server_register(srv, &commands[i]);
        if (rc) return rc;
    }
    return 0;
}
