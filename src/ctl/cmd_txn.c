/* cmd_txn.c — txn: compares and request lines from stdin (etcdctl's txn_command.go). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/print.h"
#include "ctl/txn_parse.h"

#define TXN_MAX_LINE (1u << 20)
#define TXN_MAX_OPS  4096

struct txn_state {
    Etcdserverpb__Compare *cmps;
    Etcdserverpb__Compare **cmp_ptrs;
    struct txn_cmp *cmp_src;
    size_t n_cmps;
    struct ctl_kv_op *ops[2];
    Etcdserverpb__RequestOp *reqs[2];
    Etcdserverpb__RequestOp **req_ptrs[2];
    size_t n_ops[2];
    char **lines; /* every line read: compares and ops point into them */
    size_t n_lines;
};

static void txn_state_free(struct txn_state *t)
{
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < t->n_ops[s]; i++) ctl_kv_op_free(&t->ops[s][i]);
        free(t->ops[s]);
        free(t->reqs[s]);
        free(t->req_ptrs[s]);
    }
    for (size_t i = 0; i < t->n_cmps; i++) txn_cmp_free(&t->cmp_src[i]);
    free(t->cmp_src);
    free(t->cmps);
    free(t->cmp_ptrs);
    for (size_t i = 0; i < t->n_lines; i++) free(t->lines[i]);
    free(t->lines);
}

/* Reads one line like bufio.Reader.ReadString('\n'): a line without its newline at EOF is an
 * error ("EOF"), as in etcdctl. Returns the trimmed line (kept in t->lines) or NULL. */
static char *read_line(struct ctl *ctl, FILE *in, struct txn_state *t, int *rc)
{
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, in);
    if (n < 0 || line[n - 1] != '\n') {
        free(line);
        *rc =
            ctl_error(ctl, CTL_EXIT_INVALID_INPUT, "%s", n < 0 && errno ? strerror(errno) : "EOF");
        return NULL;
    }
    if ((size_t)n > TXN_MAX_LINE) {
        free(line);
        *rc =
            ctl_error(ctl, CTL_EXIT_INVALID_INPUT, "line too long (limit %u bytes)", TXN_MAX_LINE);
        return NULL;
    }
    char **nl = realloc(t->lines, (t->n_lines + 1) * sizeof *nl);
    if (!nl) {
        free(line);
        *rc = ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
        return NULL;
    }
    t->lines = nl;
    t->lines[t->n_lines++] = line;
    return txn_trim_space(line);
}

static int read_compares(struct ctl *ctl, FILE *in, struct txn_state *t)
{
    for (;;) {
        int rc = 0;
        char *line = read_line(ctl, in, t, &rc);
        if (!line) return rc;
        if (!*line) return 0;
        if (t->n_cmps == TXN_MAX_OPS)
            return ctl_error(ctl, CTL_EXIT_INVALID_INPUT, "too many compares (limit %d)",
                             TXN_MAX_OPS);
        struct txn_cmp *nc = realloc(t->cmp_src, (t->n_cmps + 1) * sizeof *nc);
        if (!nc) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
        t->cmp_src = nc;
        char err[1024];
        if (txn_parse_compare(line, &t->cmp_src[t->n_cmps], err, sizeof err) != 0)
            return ctl_error(ctl, CTL_EXIT_INVALID_INPUT, "%s", err);
        t->n_cmps++;
    }
}

static int read_ops(struct ctl *ctl, FILE *in, struct txn_state *t, int side)
{
    for (;;) {
        int rc = 0;
        char *line = read_line(ctl, in, t, &rc);
        if (!line) return rc;
        if (!*line) return 0;
        size_t n = t->n_ops[side];
        if (n == TXN_MAX_OPS)
            return ctl_error(ctl, CTL_EXIT_INVALID_INPUT, "too many requests (limit %d)",
                             TXN_MAX_OPS);
        struct ctl_kv_op *no = realloc(t->ops[side], (n + 1) * sizeof *no);
        if (!no) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
        t->ops[side] = no;
        /* argify rewrites its input: work on a copy, the line is needed for messages. */
        char *copy = strdup(line);
        char **nl = copy ? realloc(t->lines, (t->n_lines + 1) * sizeof *nl) : NULL;
        if (!nl) {
            free(copy);
            return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
        }
        t->lines = nl;
        t->lines[t->n_lines++] = copy;
        char *argv[64];
        int argc = txn_argify(copy, argv, 64);
        if (argc < 0) return ctl_error(ctl, CTL_EXIT_INVALID_INPUT, "invalid syntax");
        if (argc < 2)
            return ctl_error(ctl, CTL_EXIT_INVALID_INPUT, "invalid txn compare request: %s", line);
        rc = ctl_kv_op_parse(ctl, argc, argv, &no[n]);
        if (rc < 0) {
            ctl_kv_op_free(&no[n]);
            return ctl_error(ctl, CTL_EXIT_INVALID_INPUT, "invalid txn request: %s", line);
        }
        t->n_ops[side]++;
        if (rc > 0) return rc;
    }
}

/* Links the parsed pieces into one TxnRequest (pointers into t). */
static int assemble(struct ctl *ctl, struct txn_state *t, Etcdserverpb__TxnRequest *req)
{
    t->cmps = calloc(t->n_cmps + 1, sizeof *t->cmps);
    t->cmp_ptrs = calloc(t->n_cmps + 1, sizeof *t->cmp_ptrs);
    if (!t->cmps || !t->cmp_ptrs) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    for (size_t i = 0; i < t->n_cmps; i++) {
        txn_cmp_to_pb(&t->cmp_src[i], &t->cmps[i]);
        t->cmp_ptrs[i] = &t->cmps[i];
    }
    req->n_compare = t->n_cmps;
    req->compare = t->cmp_ptrs;
    for (int s = 0; s < 2; s++) {
        size_t n = t->n_ops[s];
        t->reqs[s] = calloc(n + 1, sizeof *t->reqs[s]);
        t->req_ptrs[s] = calloc(n + 1, sizeof *t->req_ptrs[s]);
        if (!t->reqs[s] || !t->req_ptrs[s]) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
        for (size_t i = 0; i < n; i++) {
            struct ctl_kv_op *op = &t->ops[s][i];
            Etcdserverpb__RequestOp *r = &t->reqs[s][i];
            *r = (Etcdserverpb__RequestOp)ETCDSERVERPB__REQUEST_OP__INIT;
            r->request_case = op->kind;
            if (op->kind == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
                r->request_put = &op->put;
            else if (op->kind == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE)
                r->request_range = &op->range;
            else
                r->request_delete_range = &op->del;
            t->req_ptrs[s][i] = r;
        }
    }
    req->n_success = t->n_ops[0];
    req->success = t->req_ptrs[0];
    req->n_failure = t->n_ops[1];
    req->failure = t->req_ptrs[1];
    return 0;
}

int cmd_txn(struct ctl *ctl, int argc, char **argv)
{
    bool interactive = false;
    struct flag_def d[] = {FLAG_DEF_BOOL("interactive", 'i', &interactive)};
    int rc = ctl_parse(ctl, d, 1, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args != 0)
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "txn command does not accept argument");

    struct txn_state t;
    memset(&t, 0, sizeof t);
    static const char *const prompts[] = {
        "compares:", "success requests (get, put, del):", "failure requests (get, put, del):"};
    for (int section = 0; section < 3 && rc == 0; section++) {
        if (interactive) {
            fprintf(ctl->out, "%s\n", prompts[section]);
            fflush(ctl->out);
        }
        rc = section == 0 ? read_compares(ctl, stdin, &t) : read_ops(ctl, stdin, &t, section - 1);
    }
    Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
    if (rc == 0) rc = assemble(ctl, &t, &req);
    if (rc == 0) {
        Etcdserverpb__TxnResponse *resp;
        struct gc_status st;
        if (ctl_unary(ctl, "/etcdserverpb.KV/Txn", &req, &etcdserverpb__txn_response__descriptor,
                      false, &resp, &st) != 0) {
            rc = ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
        } else {
            rc = ctl_print(ctl, txn, resp);
            protobuf_c_message_free_unpacked(&resp->base, NULL);
        }
    }
    txn_state_free(&t);
    return rc;
}
