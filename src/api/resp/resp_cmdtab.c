/* resp_cmdtab.c — the RESP command table: registration, case-insensitive lookup, arity and
 * unknown-command errors with Redis 7.0's exact texts. */
#include <string.h>

#include "api/resp/resp_internal.h"
#include "util/err.h"

_Static_assert(RESP__INDEX_SLOTS >= 2 * RESP_MAX_COMMANDS, "index must stay sparse");
_Static_assert((RESP__INDEX_SLOTS & (RESP__INDEX_SLOTS - 1)) == 0, "index size: power of two");

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* FNV-1a over the lowercased bytes of a and, if b_len > 0, '|' and b. */
static uint32_t hash_name(const char *a, size_t a_len, const char *b, size_t b_len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < a_len; i++) h = (h ^ lower((unsigned char)a[i])) * 16777619u;
    if (b_len) {
        h = (h ^ '|') * 16777619u;
        for (size_t i = 0; i < b_len; i++) h = (h ^ lower((unsigned char)b[i])) * 16777619u;
    }
    return h;
}

/* Does the stored lowercase full name equal a (+ '|' + b)? */
static int name_eq(const char *name, const char *a, size_t a_len, const char *b, size_t b_len)
{
    size_t n = strlen(name);
    if (n != a_len + (b_len ? 1 + b_len : 0)) return 0;
    for (size_t i = 0; i < a_len; i++)
        if (name[i] != (char)lower((unsigned char)a[i])) return 0;
    if (!b_len) return 1;
    if (name[a_len] != '|') return 0;
    for (size_t i = 0; i < b_len; i++)
        if (name[a_len + 1 + i] != (char)lower((unsigned char)b[i])) return 0;
    return 1;
}

static int find_index(const struct resp__cmdtab *t, const char *a, size_t a_len, const char *b,
                      size_t b_len)
{
    if (a_len + b_len + 1 >= RESP_CMD_NAME_MAX) return -1;
    uint32_t mask = RESP__INDEX_SLOTS - 1;
    for (uint32_t i = hash_name(a, a_len, b, b_len) & mask;; i = (i + 1) & mask) {
        int slot = t->index[i];
        if (!slot) return -1;
        if (name_eq(t->cmds[slot - 1].name, a, a_len, b, b_len)) return slot - 1;
    }
}

void resp__cmdtab_init(struct resp__cmdtab *t)
{
    memset(t, 0, sizeof(*t));
}

/* Appends an entry for the lowercase full name; the caller fills spec. */
static struct resp__cmd *add_entry(struct resp__cmdtab *t, const char *name, size_t len)
{
    if (t->ncmds >= RESP_MAX_COMMANDS) return NULL;
    struct resp__cmd *e = &t->cmds[t->ncmds];
    memset(e, 0, sizeof(*e));
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    e->spec.name = e->name;
    e->parent = -1;
    uint32_t mask = RESP__INDEX_SLOTS - 1;
    uint32_t i = hash_name(name, len, NULL, 0) & mask;
    while (t->index[i]) i = (i + 1) & mask;
    t->index[i] = (uint16_t)(t->ncmds + 1);
    t->ncmds++;
    return e;
}

static int valid_name(const char *name, size_t len, size_t *bar)
{
    if (len == 0 || len >= RESP_CMD_NAME_MAX) return 0;
    *bar = len;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '|') {
            if (*bar != len || i == 0 || i + 1 == len) return 0; /* one level, both parts */
            *bar = i;
        } else if (c <= ' ' || c > '~' || (c >= 'A' && c <= 'Z')) {
            return 0;
        }
    }
    return 1;
}

int resp__cmdtab_add(struct resp__cmdtab *t, const struct resp_command *cmd)
{
    size_t len = cmd->name ? strlen(cmd->name) : 0, bar = 0;
    if (!valid_name(cmd->name, len, &bar) || cmd->arity == 0) return CC_EINVAL;
    if (!cmd->handler && bar < len) return CC_EINVAL; /* only a container may lack one */
    int parent = -1;
    if (bar < len) {
        parent = find_index(t, cmd->name, bar, NULL, 0);
        if (parent >= 0 && t->cmds[parent].parent >= 0) return CC_EINVAL;
        if (parent < 0) {
            if (t->ncmds + 2 > RESP_MAX_COMMANDS) return CC_ETOOBIG;
            struct resp__cmd *c = add_entry(t, cmd->name, bar);
            c->spec.arity = -2; /* Redis's container arity: a subcommand is required */
            parent = (int)(c - t->cmds);
        }
    }
    int idx = find_index(t, cmd->name, len, NULL, 0);
    struct resp__cmd *e;
    if (idx >= 0) {
        e = &t->cmds[idx];
        if (e->explicit_) return CC_EEXIST;
    } else {
        e = add_entry(t, cmd->name, len);
        if (!e) return CC_ETOOBIG;
        e->parent = parent;
        if (parent >= 0) t->cmds[parent].nsubs++;
    }
    e->spec = *cmd;
    e->spec.name = e->name;
    e->explicit_ = 1;
    return 0;
}

const struct resp__cmd *resp__cmdtab_find(const struct resp__cmdtab *t, struct resp_str name)
{
    const char *bar = memchr(name.p, '|', name.len);
    int i = bar ? find_index(t, name.p, (size_t)(bar - name.p), bar + 1,
                             name.len - (size_t)(bar - name.p) - 1)
                : find_index(t, name.p, name.len, NULL, 0);
    if (bar && (size_t)(bar - name.p) + 1 == name.len) i = -1; /* "client|" */
    return i < 0 ? NULL : &t->cmds[i];
}

const struct resp__cmd *resp__cmdtab_lookup(const struct resp__cmdtab *t, size_t argc,
                                            const struct resp_str *argv)
{
    /* A '|' inside a client's word must not reach a subcommand by another route. */
    if (memchr(argv[0].p, '|', argv[0].len)) return NULL;
    int i = find_index(t, argv[0].p, argv[0].len, NULL, 0);
    if (i < 0) return NULL;
    const struct resp__cmd *base = &t->cmds[i];
    if (argc == 1 || base->nsubs == 0) return base;
    if (argv[1].len == 0 || memchr(argv[1].p, '|', argv[1].len)) return NULL;
    i = find_index(t, argv[0].p, argv[0].len, argv[1].p, argv[1].len);
    return i < 0 ? NULL : &t->cmds[i];
}

int resp__arity_ok(const struct resp__cmd *e, size_t argc)
{
    int a = e->spec.arity;
    if (a > 0) return argc == (size_t)a;
    return argc >= (size_t)-a;
}

/* Length of s as Redis's "%.*s" would print it: up to the first NUL, at most max bytes. */
static int c_len(struct resp_str s, size_t max)
{
    const char *z = memchr(s.p, '\0', s.len);
    size_t n = z ? (size_t)(z - s.p) : s.len;
    return (int)(n < max ? n : max);
}

void resp__reply_unknown(struct resp_ctx *ctx, const struct resp__cmdtab *t, size_t argc,
                         const struct resp_str *argv)
{
    int base =
        memchr(argv[0].p, '|', argv[0].len) ? -1 : find_index(t, argv[0].p, argv[0].len, NULL, 0);
    if (base >= 0 && t->cmds[base].nsubs > 0) {
        /* Redis: "unknown subcommand '%.128s'. Try %s HELP." with the container in capitals. */
        char upper[RESP_CMD_NAME_MAX];
        size_t n = strlen(t->cmds[base].name);
        for (size_t i = 0; i <= n; i++) {
            char c = t->cmds[base].name[i];
            upper[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        }
        resp_reply_errorf(ctx, "unknown subcommand '%.*s'. Try %s HELP.", c_len(argv[1], 128),
                          argv[1].p, upper);
        return;
    }
    /* Redis quotes arguments while fewer than 128 bytes of them have been written, each cut
     * to what is left of those 128. */
    char args[128 + 3]; /* the loop stops once 128 are used; the last adds 3 */
    size_t used = 0;
    for (size_t i = 1; i < argc && used < 128; i++) {
        int n = c_len(argv[i], 128 - used);
        memcpy(args + used, "'", 1);
        memcpy(args + used + 1, argv[i].p, (size_t)n);
        memcpy(args + used + 1 + (size_t)n, "' ", 2);
        used += (size_t)n + 3;
    }
    resp_reply_errorf(ctx, "unknown command '%.*s', with args beginning with: %.*s",
                      c_len(argv[0], 128), argv[0].p, (int)used, args);
}
