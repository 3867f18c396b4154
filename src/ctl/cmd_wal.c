/* cmd_wal.c — `concurctl wal dump --data-dir DIR [-w json]`: a member's Raft log, read from its
 * data directory (no endpoint), with concur's commands decoded. */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "kv/kv_cmd.h"
#include "raft/raft.h"
#include "storage/wal_dump.h"
#include "util/buf.h"

#define SHOW_BYTES 64 /* bytes of a key or value shown; longer ones end with "..." */

static void put_bytes(struct buf *out, struct kv_bytes b)
{
    buf_put_u8(out, '"');
    size_t n = b.len < SHOW_BYTES ? b.len : SHOW_BYTES;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b.p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_append(out, esc, 2);
        } else if (c >= 0x20 && c < 0x7f) {
            buf_put_u8(out, c);
        } else {
            char hex[5];
            snprintf(hex, sizeof(hex), "\\x%02x", c);
            buf_append(out, hex, 4);
        }
    }
    buf_put_u8(out, '"');
    if (b.len > n) buf_append(out, "...", 3);
}

static void putf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *out, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0) buf_append(out, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void put_range(struct buf *out, struct kv_bytes key, struct kv_bytes end)
{
    put_bytes(out, key);
    if (end.len) {
        buf_append(out, "..", 2);
        put_bytes(out, end);
    }
}

static void fmt_txn(struct buf *out, const struct kv_txn *t, int depth);

static void fmt_ops(struct buf *out, const struct kv_op *ops, size_t n, int depth)
{
    for (size_t i = 0; i < n; i++) {
        if (i) buf_append(out, "; ", 2);
        const struct kv_op *o = &ops[i];
        switch (o->type) {
        case KV_OP_RANGE:
            buf_append(out, "get ", 4);
            put_range(out, o->u.range.key, o->u.range.range_end);
            break;
        case KV_OP_PUT:
            buf_append(out, "put ", 4);
            put_bytes(out, o->u.put.key);
            buf_put_u8(out, ' ');
            put_bytes(out, o->u.put.value);
            break;
        case KV_OP_DELETE:
            buf_append(out, "del ", 4);
            put_range(out, o->u.del.key, o->u.del.range_end);
            break;
        case KV_OP_TXN:
            fmt_txn(out, o->u.txn, depth + 1);
            break;
        }
    }
}

static void fmt_txn(struct buf *out, const struct kv_txn *t, int depth)
{
    static const char *targets[] = {"version", "create", "mod", "value", "lease"};
    static const char *results[] = {"=", ">", "<", "!="};
    buf_append(out, "txn if [", 8);
    for (size_t i = 0; i < t->n_cmp; i++) {
        const struct kv_compare *c = &t->cmp[i];
        if (i) buf_append(out, ", ", 2);
        putf(out, "%s(", c->target < 5 ? targets[c->target] : "?");
        put_range(out, c->key, c->range_end);
        putf(out, ") %s ", c->result < 4 ? results[c->result] : "?");
        if (c->target == KV_CMP_VALUE)
            put_bytes(out, c->value);
        else
            putf(out, "%lld", (long long)c->number);
    }
    buf_append(out, "] then [", 8);
    fmt_ops(out, t->success, t->n_success, depth);
    buf_append(out, "] else [", 8);
    fmt_ops(out, t->failure, t->n_failure, depth);
    buf_put_u8(out, ']');
}

/* The wal_dump command decoder: one readable line per concur command. */
static int fmt_cmd(void *arg, const uint8_t *data, uint32_t len, struct buf *out)
{
    (void)arg;
    struct kv_arena a = {0};
    struct kv_cmd c;
    if (kv_cmd_decode(data, len, &a, &c, NULL) != 0) {
        kv_arena_free(&a);
        return 1;
    }
    switch (c.type) {
    case KV_CMD_PUT:
        buf_append(out, "put ", 4);
        put_bytes(out, c.u.put.key);
        buf_put_u8(out, ' ');
        if (c.u.put.ignore_value)
            buf_append(out, "(keep value)", 12);
        else
            put_bytes(out, c.u.put.value);
        if (c.u.put.lease) putf(out, " lease=%llx", (unsigned long long)c.u.put.lease);
        break;
    case KV_CMD_DELETE:
        buf_append(out, "del ", 4);
        put_range(out, c.u.del.key, c.u.del.range_end);
        break;
    case KV_CMD_TXN:
        fmt_txn(out, &c.u.txn, 0);
        break;
    case KV_CMD_COMPACT:
        putf(out, "compact %lld", (long long)c.u.compact.revision);
        break;
    case KV_CMD_LEASE_GRANT:
        putf(out, "lease grant id=%llx ttl=%lldms", (unsigned long long)c.u.grant.id,
             (long long)c.u.grant.ttl_ms);
        break;
    case KV_CMD_LEASE_REVOKE:
        putf(out, "lease revoke %llx", (unsigned long long)c.u.revoke_id);
        break;
    case KV_CMD_LEASE_CHECKPOINT:
        putf(out, "lease checkpoint (%zu leases)", c.u.checkpoint.n);
        break;
    case KV_CMD_COUNTER:
        buf_append(out, "counter ", 8);
        put_bytes(out, c.u.counter.key);
        putf(out, " %+lld", (long long)c.u.counter.delta);
        break;
    case KV_CMD_META_PUT:
        buf_append(out, "member meta put ", 16);
        put_bytes(out, c.u.meta.key);
        break;
    case KV_CMD_META_DELETE:
        buf_append(out, "member meta delete ", 19);
        put_bytes(out, c.u.meta.key);
        break;
    default:
        putf(out, "command type %u", c.type);
        break;
    }
    kv_arena_free(&a);
    return 0;
}

int cmd_wal_dump(struct ctl *ctl, int argc, char **argv)
{
    const char *dir = NULL;
    bool json = ctl->format == CTL_FMT_JSON;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--data-dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strncmp(a, "--data-dir=", 11))
            dir = a + 11;
        else if ((!strcmp(a, "-w") || !strcmp(a, "--write-out")) && i + 1 < argc)
            json = !strcmp(argv[++i], "json");
        else if (!strncmp(a, "--write-out=", 12))
            json = !strcmp(a + 12, "json");
        else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return CTL_EXIT_HELP;
        else
            return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "wal dump: unexpected argument %s", a);
    }
    if (!dir) return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "wal dump needs --data-dir DIR");
    struct wal_dump_options o;
    memset(&o, 0, sizeof(o));
    o.format = json ? WAL_DUMP_JSON : WAL_DUMP_TEXT;
    o.cmd = fmt_cmd;
    o.conf = raft_conf_entry_decode;
    char err[512];
    int rc = wal_dump_print(ctl->out, dir, &o, err, sizeof(err));
    if (rc) return ctl_error(ctl, CTL_EXIT_ERROR, "wal dump: %s", err);
    return 0;
}
