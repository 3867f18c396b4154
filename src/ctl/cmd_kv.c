/* cmd_kv.c — put, get and del (etcdctl's put/get/del_command.go), also parsed as txn lines. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/print.h"

#define STDIN_VALUE_MAX (64u << 20)

static const uint8_t zero_byte[1] = {0};

size_t kv_prefix_end(const uint8_t *key, size_t klen, uint8_t *buf)
{
    for (size_t i = klen; i-- > 0;) {
        if (key[i] < 0xff) {
            memcpy(buf, key, i);
            buf[i] = (uint8_t)(key[i] + 1);
            return i + 1;
        }
    }
    buf[0] = 0; /* every byte is 0xff: the range runs to the end of the key space */
    return 1;
}

static ProtobufCBinaryData bytes_of(const char *s)
{
    return (ProtobufCBinaryData){strlen(s), (uint8_t *)s};
}

/* Points range_end at the prefix end of key, in op's buffer or on the heap. */
static int set_prefix_end(struct ctl_kv_op *op, ProtobufCBinaryData key, ProtobufCBinaryData *end)
{
    uint8_t *b = (uint8_t *)op->range_end_buf;
    if (key.len > sizeof op->range_end_buf) {
        op->range_end_heap = malloc(key.len);
        if (!op->range_end_heap) return -1;
        b = op->range_end_heap;
    }
    end->len = kv_prefix_end(key.data, key.len, b);
    end->data = b;
    return 0;
}

void ctl_kv_op_free(struct ctl_kv_op *op)
{
    free(op->range_end_heap);
    op->range_end_heap = NULL;
}

/* ---- put ---- */

struct put_flags {
    char lease[64];
    bool prev_kv, ignore_value, ignore_lease;
};

static size_t put_defs(struct put_flags *p, struct flag_def *d)
{
    memset(p, 0, sizeof *p);
    snprintf(p->lease, sizeof p->lease, "0");
    d[0] = (struct flag_def)FLAG_DEF_STR("lease", 0, p->lease);
    d[1] = (struct flag_def)FLAG_DEF_BOOL("prev-kv", 0, &p->prev_kv);
    d[2] = (struct flag_def)FLAG_DEF_BOOL("ignore-value", 0, &p->ignore_value);
    d[3] = (struct flag_def)FLAG_DEF_BOOL("ignore-lease", 0, &p->ignore_lease);
    return 4;
}

/* Reads all of stdin for "put <key>" without a value (etcdctl's argOrStdin). */
static char *read_stdin_all(void)
{
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    if (!b) return NULL;
    for (;;) {
        if (len + 1 == cap) {
            if (cap >= STDIN_VALUE_MAX) break;
            char *nb = realloc(b, cap * 2);
            if (!nb) break;
            b = nb, cap *= 2;
        }
        ssize_t n = read(0, b + len, cap - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    b[len] = 0;
    if (len == 0) {
        free(b);
        return NULL;
    }
    return b;
}

/* getPutOp. stdin_value receives a heap value read from stdin (caller frees) when allowed. */
static int put_build(struct ctl *ctl, const struct put_flags *p, int n, char **a,
                     Etcdserverpb__PutRequest *req, char **stdin_value)
{
    if (n == 0)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "put command needs 1 argument and input from stdin or 2 arguments");
    if (p->ignore_value && n > 1)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "put command needs only 1 argument when 'ignore-value' is set");
    req->key = bytes_of(a[0]);
    if (!p->ignore_value) {
        if (n > 1) {
            req->value = bytes_of(a[1]);
        } else {
            char *v = stdin_value ? read_stdin_all() : NULL;
            if (!v)
                return ctl_error(
                    ctl, CTL_EXIT_BAD_ARGS,
                    "put command needs 1 argument and input from stdin or 2 arguments");
            *stdin_value = v;
            req->value = bytes_of(v);
        }
    }
    int64_t lease;
    int rc = flags_parse_hex_int64(p->lease, &lease);
    if (rc != 0) {
        char why[200];
        flags_strconv_error("ParseInt", p->lease, rc, why, sizeof why);
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "bad lease ID (%s), expecting ID in Hex", why);
    }
    req->lease = lease;
    req->prev_kv = p->prev_kv;
    req->ignore_value = p->ignore_value;
    req->ignore_lease = p->ignore_lease;
    return 0;
}

int cmd_put(struct ctl *ctl, int argc, char **argv)
{
    struct put_flags p;
    struct flag_def d[4];
    size_t nd = put_defs(&p, d);
    int rc = ctl_parse(ctl, d, nd, argc, argv);
    if (rc != 0) return rc;
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    char *stdin_value = NULL;
    rc = put_build(ctl, &p, ctl->n_args, ctl->args, &req, &stdin_value);
    if (rc == 0) {
        Etcdserverpb__PutResponse *resp;
        struct gc_status st;
        if (ctl_unary(ctl, "/etcdserverpb.KV/Put", &req, &etcdserverpb__put_response__descriptor,
                      false, &resp, &st) != 0) {
            rc = ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
        } else {
            rc = ctl_print(ctl, put, resp);
            protobuf_c_message_free_unpacked(&resp->base, NULL);
        }
    }
    free(stdin_value);
    return rc;
}

/* ---- get ---- */

struct get_flags {
    char consistency[8], order[32], sort_by[32];
    int64_t limit, rev, min_mod, max_mod, min_create, max_create;
    bool prefix, from_key, keys_only, count_only, value_only;
};

static size_t get_defs(struct get_flags *g, struct flag_def *d)
{
    memset(g, 0, sizeof *g);
    snprintf(g->consistency, sizeof g->consistency, "l");
    size_t n = 0;
    d[n++] = (struct flag_def)FLAG_DEF_STR("consistency", 0, g->consistency);
    d[n++] = (struct flag_def)FLAG_DEF_STR("order", 0, g->order);
    d[n++] = (struct flag_def)FLAG_DEF_STR("sort-by", 0, g->sort_by);
    d[n++] = (struct flag_def)FLAG_DEF_INT64("limit", 0, &g->limit);
    d[n++] = (struct flag_def)FLAG_DEF_BOOL("prefix", 0, &g->prefix);
    d[n++] = (struct flag_def)FLAG_DEF_BOOL("from-key", 0, &g->from_key);
    d[n++] = (struct flag_def)FLAG_DEF_INT64("rev", 0, &g->rev);
    d[n++] = (struct flag_def)FLAG_DEF_BOOL("keys-only", 0, &g->keys_only);
    d[n++] = (struct flag_def)FLAG_DEF_BOOL("count-only", 0, &g->count_only);
    d[n++] = (struct flag_def)FLAG_DEF_BOOL("print-value-only", 0, &g->value_only);
    d[n++] = (struct flag_def)FLAG_DEF_INT64("min-mod-rev", 0, &g->min_mod);
    d[n++] = (struct flag_def)FLAG_DEF_INT64("max-mod-rev", 0, &g->max_mod);
    d[n++] = (struct flag_def)FLAG_DEF_INT64("min-create-rev", 0, &g->min_create);
    d[n++] = (struct flag_def)FLAG_DEF_INT64("max-create-rev", 0, &g->max_create);
    return n;
}

/* getGetOp, plus clientv3's translation of the options into a RangeRequest. */
static int get_build(struct ctl *ctl, const struct get_flags *g, int n, char **a,
                     struct ctl_kv_op *op)
{
    Etcdserverpb__RangeRequest *r = &op->range;
    if (n == 0)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "get command needs one argument as key and an "
                         "optional argument as range_end");
    if (g->prefix && g->from_key)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "`--prefix` and `--from-key` cannot be set at "
                         "the same time, choose one");
    if (g->keys_only && g->count_only)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "`--keys-only` and `--count-only` cannot be set "
                         "at the same time, choose one");
    if (strcmp(g->consistency, "s") == 0)
        r->serializable = true;
    else if (strcmp(g->consistency, "l") != 0)
        return ctl_error(ctl, CTL_EXIT_BAD_FEATURE, "unknown consistency flag \"%s\"",
                         g->consistency);
    r->key = bytes_of(a[0]);
    if (n > 1) {
        if (g->prefix || g->from_key)
            return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                             "too many arguments, only accept one argument when `--prefix` or "
                             "`--from-key` is set");
        r->range_end = bytes_of(a[1]);
    }
    r->limit = g->limit;
    if (g->rev > 0) r->revision = g->rev;

    int order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE;
    if (strcasecmp(g->order, "ASCEND") == 0)
        order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
    else if (strcasecmp(g->order, "DESCEND") == 0)
        order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
    else if (g->order[0])
        return ctl_error(ctl, CTL_EXIT_BAD_FEATURE, "bad sort order %s", g->order);
    int target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY;
    if (strcasecmp(g->sort_by, "CREATE") == 0)
        target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE;
    else if (strcasecmp(g->sort_by, "KEY") == 0)
        target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY;
    else if (strcasecmp(g->sort_by, "MODIFY") == 0)
        target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD;
    else if (strcasecmp(g->sort_by, "VALUE") == 0)
        target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE;
    else if (strcasecmp(g->sort_by, "VERSION") == 0)
        target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VERSION;
    else if (g->sort_by[0])
        return ctl_error(ctl, CTL_EXIT_BAD_FEATURE, "bad sort target %s", g->sort_by);
    /* clientv3.WithSort: keys already come sorted ascending, so that order is dropped. */
    if (target == ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY &&
        order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND)
        order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE;
    r->sort_order = order;
    r->sort_target = target;

    if (g->prefix) {
        if (r->key.len == 0)
            r->key = r->range_end = (ProtobufCBinaryData){1, (uint8_t *)zero_byte};
        else if (set_prefix_end(op, r->key, &r->range_end) != 0)
            return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    }
    if (g->from_key) {
        if (r->key.len == 0) r->key = (ProtobufCBinaryData){1, (uint8_t *)zero_byte};
        r->range_end = (ProtobufCBinaryData){1, (uint8_t *)zero_byte};
    }
    r->keys_only = g->keys_only;
    r->count_only = g->count_only;
    r->min_mod_revision = g->min_mod;
    r->max_mod_revision = g->max_mod;
    r->min_create_revision = g->min_create;
    r->max_create_revision = g->max_create;
    return 0;
}

int cmd_get(struct ctl *ctl, int argc, char **argv)
{
    struct get_flags g;
    struct flag_def d[16];
    size_t nd = get_defs(&g, d);
    int rc = ctl_parse(ctl, d, nd, argc, argv);
    if (rc != 0) return rc;
    struct ctl_kv_op op = {.range = ETCDSERVERPB__RANGE_REQUEST__INIT};
    rc = get_build(ctl, &g, ctl->n_args, ctl->args, &op);
    if (rc == 0) {
        Etcdserverpb__RangeResponse *resp;
        struct gc_status st;
        if (ctl_unary(ctl, "/etcdserverpb.KV/Range", &op.range,
                      &etcdserverpb__range_response__descriptor, true, &resp, &st) != 0) {
            rc = ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
        } else {
            /* Like etcdctl, the format checks come after the request was served. */
            if (g.count_only && ctl->format != CTL_FMT_FIELDS)
                rc = ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                               "--count-only is only for `--write-out=fields`");
            else if (g.value_only && ctl->format != CTL_FMT_SIMPLE)
                rc = ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                               "print-value-only is only for `--write-out=simple`");
            else {
                ctl->value_only = g.value_only;
                rc = ctl_print(ctl, get, resp);
            }
            protobuf_c_message_free_unpacked(&resp->base, NULL);
        }
    }
    ctl_kv_op_free(&op);
    return rc;
}

/* ---- del ---- */

struct del_flags {
    bool prefix, prev_kv, from_key;
};

static size_t del_defs(struct del_flags *f, struct flag_def *d)
{
    memset(f, 0, sizeof *f);
    d[0] = (struct flag_def)FLAG_DEF_BOOL("prefix", 0, &f->prefix);
    d[1] = (struct flag_def)FLAG_DEF_BOOL("prev-kv", 0, &f->prev_kv);
    d[2] = (struct flag_def)FLAG_DEF_BOOL("from-key", 0, &f->from_key);
    return 3;
}

static int del_build(struct ctl *ctl, const struct del_flags *f, int n, char **a,
                     struct ctl_kv_op *op)
{
    Etcdserverpb__DeleteRangeRequest *r = &op->del;
    if (n == 0 || n > 2)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "del command needs one argument as key and an "
                         "optional argument as range_end");
    if (f->prefix && f->from_key)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                         "`--prefix` and `--from-key` cannot be set at "
                         "the same time, choose one");
    r->key = bytes_of(a[0]);
    if (n > 1) {
        if (f->prefix || f->from_key)
            return ctl_error(ctl, CTL_EXIT_BAD_ARGS,
                             "too many arguments, only accept one argument when `--prefix` or "
                             "`--from-key` is set");
        r->range_end = bytes_of(a[1]);
    }
    if (f->prefix) {
        if (r->key.len == 0)
            r->key = r->range_end = (ProtobufCBinaryData){1, (uint8_t *)zero_byte};
        else if (set_prefix_end(op, r->key, &r->range_end) != 0)
            return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    }
    r->prev_kv = f->prev_kv;
    if (f->from_key) {
        if (r->key.len == 0) r->key = (ProtobufCBinaryData){1, (uint8_t *)zero_byte};
        r->range_end = (ProtobufCBinaryData){1, (uint8_t *)zero_byte};
    }
    return 0;
}

int cmd_del(struct ctl *ctl, int argc, char **argv)
{
    struct del_flags f;
    struct flag_def d[3];
    size_t nd = del_defs(&f, d);
    int rc = ctl_parse(ctl, d, nd, argc, argv);
    if (rc != 0) return rc;
    struct ctl_kv_op op = {.del = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT};
    rc = del_build(ctl, &f, ctl->n_args, ctl->args, &op);
    if (rc == 0) {
        Etcdserverpb__DeleteRangeResponse *resp;
        struct gc_status st;
        if (ctl_unary(ctl, "/etcdserverpb.KV/DeleteRange", &op.del,
                      &etcdserverpb__delete_range_response__descriptor, false, &resp, &st) != 0) {
            rc = ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
        } else {
            rc = ctl_print(ctl, del, resp);
            protobuf_c_message_free_unpacked(&resp->base, NULL);
        }
    }
    ctl_kv_op_free(&op);
    return rc;
}

/* ---- txn request lines ---- */

/* cobra prefix matching over put/get/del. */
static int verb_of(const char *w)
{
    static const char *const verbs[] = {"put", "get", "del"};
    int found = -1;
    size_t wl = strlen(w);
    for (int i = 0; i < 3; i++) {
        if (strcmp(w, verbs[i]) == 0) return i;
        if (wl && strncmp(verbs[i], w, wl) == 0) found = found == -1 ? i : -2;
    }
    return found;
}

int ctl_kv_op_parse(struct ctl *ctl, int argc, char **argv, struct ctl_kv_op *op)
{
    struct flag_def d[16];
    size_t nd;
    char *pos[64];
    int npos, dash;
    char err[300];
    struct put_flags pf;
    struct get_flags gf;
    struct del_flags df;
    memset(op, 0, sizeof *op);
    int verb = argc > 0 ? verb_of(argv[0]) : -1;
    switch (verb) {
    case 0:
        nd = put_defs(&pf, d);
        break;
    case 1:
        nd = get_defs(&gf, d);
        break;
    case 2:
        nd = del_defs(&df, d);
        break;
    default:
        return -1;
    }
    if (flags_parse(d, nd, argc - 1, argv + 1, pos, 64, &npos, &dash, NULL, err, sizeof err))
        return -1;
    switch (verb) {
    case 0:
        op->kind = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
        op->put = (Etcdserverpb__PutRequest)ETCDSERVERPB__PUT_REQUEST__INIT;
        return put_build(ctl, &pf, npos, pos, &op->put, NULL);
    case 1:
        op->kind = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
        op->range = (Etcdserverpb__RangeRequest)ETCDSERVERPB__RANGE_REQUEST__INIT;
        return get_build(ctl, &gf, npos, pos, op);
    default:
        op->kind = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
        op->del = (Etcdserverpb__DeleteRangeRequest)ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
        return del_build(ctl, &df, npos, pos, op);
    }
}
