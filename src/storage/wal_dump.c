/* wal_dump.c — iterating a data directory's log read-only and printing it as text or JSON. */
#include "storage/wal_dump.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "storage/wal.h"
#include "util/err.h"

#define READ_CHUNK_BYTES (4u << 20)
#define RAW_PRINT_MAX    256u
#define LINE_LIMIT       (1u << 20)

int wal_dump_iterate(const char *data_dir, const struct storage_fs *fs, const struct logger *log,
                     struct wal_dump_info *info, wal_dump_entry_fn fn, void *arg, char *err,
                     size_t errlen)
{
    char dir[STORAGE_PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s/member/wal", data_dir);
    if (n < 0 || n >= (int)sizeof(dir)) return CC_EINVAL;
    struct wal_options o;
    wal_options_default(&o);
    o.read_only = true;
    o.fs = fs;
    o.log = log;
    struct wal *w;
    int rc = wal_open(dir, &o, &w, err, errlen);
    if (rc) return rc;
    struct wal_state st;
    wal_get_state(w, &st);
    memset(info, 0, sizeof(*info));
    info->first_index = st.first_index;
    info->last_index = st.last_index;
    info->snap_index = st.snap_index;
    info->snap_term = st.snap_term;
    info->hs = st.hs;
    info->n_segments = st.n_segments;
    info->torn_bytes = st.cut_bytes;
    for (uint64_t next = st.first_index; rc == 0 && next <= st.last_index;) {
        struct wal_entries es;
        rc = wal_read_entries(w, next, st.last_index, READ_CHUNK_BYTES, &es);
        if (rc) {
            if (err) snprintf(err, errlen, "wal dump: %s", wal_errmsg(w));
            break;
        }
        for (uint32_t i = 0; rc == 0 && i < es.n; i++) rc = fn(arg, &es.v[i]);
        next += es.n;
        wal_entries_free(&es);
    }
    wal_close(w);
    return rc;
}

/* ---- Printing ----------------------------------------------------------------------------- */

struct printer {
    FILE *out;
    const struct wal_dump_options *o;
    struct buf line;
    struct buf cmd;
    uint64_t n;
};

static int put(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

static int putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int putf(struct buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    return buf_append(b, tmp, n < (int)sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static int is_printable(const uint8_t *p, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] > 0x7e) return 0;
    return 1;
}

/* Raw bytes for text output: "quoted" when printable, else 0x-hex, cut at RAW_PRINT_MAX. */
static int put_raw(struct buf *b, const uint8_t *p, uint32_t len)
{
    uint32_t n = len > RAW_PRINT_MAX ? RAW_PRINT_MAX : len;
    int rc = 0;
    if (is_printable(p, n)) {
        rc = put(b, "\"");
        for (uint32_t i = 0; rc == 0 && i < n; i++) {
            if (p[i] == '"' || p[i] == '\\') rc = buf_put_u8(b, '\\');
            if (rc == 0) rc = buf_put_u8(b, p[i]);
        }
        if (rc == 0) rc = put(b, "\"");
    } else {
        rc = put(b, "0x");
        for (uint32_t i = 0; rc == 0 && i < n; i++) rc = putf(b, "%02x", p[i]);
    }
    if (rc == 0 && n < len) rc = putf(b, "...(%u bytes)", len);
    return rc;
}

static int put_json_str(struct buf *b, const uint8_t *p, size_t len)
{
    int rc = put(b, "\"");
    for (size_t i = 0; rc == 0 && i < len; i++) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            rc = buf_put_u8(b, '\\');
            if (rc == 0) rc = buf_put_u8(b, c);
        } else if (c < 0x20 || c > 0x7e) {
            rc = putf(b, "\\u%04x", c);
        } else {
            rc = buf_put_u8(b, c);
        }
    }
    return rc ? rc : put(b, "\"");
}

static int put_base64(struct buf *b, const uint8_t *p, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int rc = put(b, "\"");
    for (size_t i = 0; rc == 0 && i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len) v |= p[i + 2];
        char q[4] = {tbl[v >> 18 & 63], tbl[v >> 12 & 63], i + 1 < len ? tbl[v >> 6 & 63] : '=',
                     i + 2 < len ? tbl[v & 63] : '='};
        rc = buf_append(b, q, 4);
    }
    return rc ? rc : put(b, "\"");
}

static int put_ids(struct buf *b, bool json, const raft_id *ids, uint32_t n)
{
    int rc = put(b, "[");
    for (uint32_t i = 0; rc == 0 && i < n; i++)
        rc = putf(b, json ? "%s\"%016" PRIx64 "\"" : "%s%016" PRIx64, i ? "," : "", ids[i]);
    return rc ? rc : put(b, "]");
}

static int put_conf(struct printer *pr, const struct raft_entry *e, bool json)
{
    struct buf *b = &pr->line;
    struct raft_config cfg;
    const uint8_t *ctx = NULL;
    uint32_t ctx_len = 0;
    if (!pr->o->conf || pr->o->conf(e->data, e->len, &cfg, &ctx, &ctx_len) != 0) {
        int rc = put(b, json ? ",\"data\":" : "conf ");
        if (rc == 0) rc = json ? put_base64(b, e->data, e->len) : put_raw(b, e->data, e->len);
        return rc;
    }
    int rc = put(b, json ? ",\"voters\":" : "conf voters=");
    if (rc == 0) rc = put_ids(b, json, cfg.voters, cfg.n_voters);
    if (rc == 0) rc = put(b, json ? ",\"voters_out\":" : " voters_out=");
    if (rc == 0) rc = put_ids(b, json, cfg.voters_out, cfg.n_voters_out);
    if (rc == 0) rc = put(b, json ? ",\"learners\":" : " learners=");
    if (rc == 0) rc = put_ids(b, json, cfg.learners, cfg.n_learners);
    if (rc == 0 && (json || ctx_len)) rc = put(b, json ? ",\"ctx\":" : " ctx=");
    if (rc == 0 && json) rc = put_base64(b, ctx, ctx_len);
    if (rc == 0 && !json && ctx_len) rc = put_raw(b, ctx, ctx_len);
    return rc;
}

static int put_normal(struct printer *pr, const struct raft_entry *e, bool json)
{
    struct buf *b = &pr->line;
    buf_reset(&pr->cmd);
    bool decoded =
        pr->o->cmd && e->len && pr->o->cmd(pr->o->cmd_arg, e->data, e->len, &pr->cmd) == 0;
    if (json) {
        int rc = 0;
        if (decoded) rc = put(b, ",\"command\":");
        if (rc == 0 && decoded) rc = put_json_str(b, pr->cmd.data, pr->cmd.len);
        if (rc == 0) rc = put(b, ",\"data\":");
        return rc ? rc : put_base64(b, e->data, e->len);
    }
    if (decoded) return buf_append(b, pr->cmd.data, pr->cmd.len);
    return e->len ? put_raw(b, e->data, e->len) : put(b, "empty");
}

static int print_entry(void *arg, const struct raft_entry *e)
{
    struct printer *pr = arg;
    bool json = pr->o->format == WAL_DUMP_JSON;
    struct buf *b = &pr->line;
    buf_reset(b);
    const char *type = e->type == RAFT_ENTRY_NOOP   ? "noop"
                       : e->type == RAFT_ENTRY_CONF ? "conf"
                                                    : "normal";
    int rc = json ? putf(b, "%s    {\"index\":%" PRIu64 ",\"term\":%" PRIu64 ",\"type\":\"%s\"",
                         pr->n ? ",\n" : "", e->index, e->term, type)
                  : putf(b, "%" PRIu64 " (%" PRIu64 "): ", e->index, e->term);
    if (rc == 0) {
        if (e->type == RAFT_ENTRY_NOOP)
            rc = json ? 0 : put(b, "no-op");
        else if (e->type == RAFT_ENTRY_CONF)
            rc = put_conf(pr, e, json);
        else
            rc = put_normal(pr, e, json);
    }
    if (rc == 0) rc = put(b, json ? "}" : "\n");
    if (rc == CC_ETOOBIG) {
        /* A line past LINE_LIMIT: say so rather than stop the dump. */
        buf_reset(b);
        rc = putf(b,
                  json ? "%s    {\"index\":%" PRIu64 ",\"term\":%" PRIu64 ",\"type\":\"%s\","
                         "\"too_long\":true}"
                       : "%s%" PRIu64 " (%" PRIu64 "): %s entry too long to print\n",
                  json ? (pr->n ? ",\n" : "") : "", e->index, e->term, type);
    }
    if (rc) return rc;
    pr->n++;
    return fwrite(b->data, 1, b->len, pr->out) == b->len ? 0 : CC_EIO;
}

int wal_dump_print(FILE *out, const char *data_dir, const struct wal_dump_options *o, char *err,
                   size_t errlen)
{
    struct printer pr = {.out = out, .o = o};
    buf_init(&pr.line, LINE_LIMIT);
    buf_init(&pr.cmd, LINE_LIMIT / 2);
    bool json = o->format == WAL_DUMP_JSON;
    if (json) fputs("{\n  \"entries\": [\n", out);
    struct wal_dump_info info;
    int rc = wal_dump_iterate(data_dir, o->fs, o->log, &info, print_entry, &pr, err, errlen);
    buf_free(&pr.line);
    buf_free(&pr.cmd);
    if (rc) {
        if (rc == CC_EIO && err) snprintf(err, errlen, "wal dump: writing the output failed");
        return rc;
    }
    char vote[24];
    if (info.hs.vote)
        snprintf(vote, sizeof(vote), "%016" PRIx64, info.hs.vote);
    else
        snprintf(vote, sizeof(vote), "none");
    if (json)
        fprintf(out,
                "%s  ],\n  \"first_index\": %" PRIu64 ",\n  \"last_index\": %" PRIu64
                ",\n  \"snapshot\": {\"index\": %" PRIu64 ", \"term\": %" PRIu64
                "},\n  \"hard_state\": {\"term\": %" PRIu64
                ", \"vote\": \"%s\", \"commit\": %" PRIu64 "}\n}\n",
                pr.n ? "\n" : "", info.first_index, info.last_index, info.snap_index,
                info.snap_term, info.hs.term, vote, info.hs.commit);
    else
        fprintf(out,
                "first index: %" PRIu64 "\nlast index: %" PRIu64 "\nsnapshot index: %" PRIu64
                "\nsnapshot term: %" PRIu64 "\nhard state: term=%" PRIu64 " vote=%s commit=%" PRIu64
                "\n",
                info.first_index, info.last_index, info.snap_index, info.snap_term, info.hs.term,
                vote, info.hs.commit);
    if (fflush(out) != 0 || ferror(out)) {
        if (err) snprintf(err, errlen, "wal dump: writing the output failed");
        return CC_EIO;
    }
    return 0;
}
