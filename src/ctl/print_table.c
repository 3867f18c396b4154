/* print_table.c — the "table" output format: olekukonko/tablewriter (a0225b3, 2017) layout. */
#include "ctl/print.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MAX_COL_WIDTH  30 /* tablewriter's MAX_ROW_WIDTH: cells wrap beyond it */
#define TABLE_MAX_COLS       16
#define TABLE_MAX_WRAP_WORDS 512 /* longer cells are left unwrapped (the DP is quadratic) */

/* Display width: runes, as runewidth counts them for the ASCII and Latin text etcd prints. */
static size_t width_of(const char *s, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) w++;
    return w;
}

/* One wrapped cell: lines point into a private copy of the text. */
struct cell_lines {
    char *text;
    const char *line[TABLE_MAX_WRAP_WORDS];
    size_t n;
};

/* tablewriter's WrapString/WrapWords: minimum-raggedness wrapping of space-separated words to
 * lim columns (raised to the longest word). */
static void wrap(const char *s, size_t lim, struct cell_lines *out)
{
    size_t len = strlen(s);
    out->text = malloc(len + 1);
    if (!out->text) abort();
    memcpy(out->text, s, len + 1);
    for (size_t i = 0; i < len; i++)
        if (out->text[i] == '\n') out->text[i] = ' ';
    const char *words[TABLE_MAX_WRAP_WORDS];
    size_t wl[TABLE_MAX_WRAP_WORDS];
    size_t n = 0;
    char *p = out->text;
    for (;;) {
        char *sp = strchr(p, ' ');
        if (n == TABLE_MAX_WRAP_WORDS) {
            memcpy(out->text, s, len + 1); /* too many words: keep the cell on one line */
            out->line[0] = out->text;
            out->n = 1;
            return;
        }
        words[n] = p;
        wl[n] = sp ? (size_t)(sp - p) : strlen(p);
        if (wl[n] > lim) lim = wl[n]; /* Go compares byte lengths here */
        n++;
        if (!sp) break;
        p = sp + 1;
    }
    /* cost/nbrk over word counts (rune lengths), as WrapWords computes them. */
    static const long pen = 100000;
    long cost[TABLE_MAX_WRAP_WORDS];
    size_t nbrk[TABLE_MAX_WRAP_WORDS];
    size_t rl[TABLE_MAX_WRAP_WORDS];
    for (size_t i = 0; i < n; i++) rl[i] = width_of(words[i], wl[i]);
    for (size_t ii = n; ii-- > 0;) {
        size_t total = rl[ii];
        for (size_t j = ii + 1; j < n; j++) total += 1 + rl[j];
        cost[ii] = INT_MAX;
        if (total <= lim) {
            cost[ii] = 0;
            nbrk[ii] = n;
            continue;
        }
        size_t l = rl[ii]; /* length of words[ii..j-1] */
        for (size_t j = ii + 1; j < n; j++) {
            if (j > ii + 1) l += 1 + rl[j - 1];
            long d = (long)lim - (long)l;
            long c = d * d + cost[j];
            if (l > lim) c += pen;
            if (c < cost[ii]) {
                cost[ii] = c;
                nbrk[ii] = j;
            }
        }
    }
    /* Terminate words in place and emit the lines (words of a line stay space-joined). */
    out->n = 0;
    for (size_t i = 0; i < n;) {
        size_t e = nbrk[i];
        out->line[out->n++] = words[i];
        char *end = (char *)words[e - 1] + wl[e - 1];
        *end = 0;
        i = e;
    }
}

static void put_repeat(FILE *f, char c, size_t n)
{
    for (size_t i = 0; i < n; i++) fputc(c, f);
}

static void print_rule(FILE *f, const size_t *cs, size_t ncol)
{
    fputc('+', f);
    for (size_t i = 0; i < ncol; i++) {
        put_repeat(f, '-', cs[i] + 2);
        fputc('+', f);
    }
    fputc('\n', f);
}

void print_table(FILE *f, const char *const *hdr, size_t ncol, char *const *cells, size_t nrow)
{
    size_t cs[TABLE_MAX_COLS] = {0};
    if (ncol > TABLE_MAX_COLS) ncol = TABLE_MAX_COLS;
    for (size_t i = 0; i < ncol; i++) {
        size_t w = width_of(hdr[i], strlen(hdr[i]));
        if (w > TABLE_MAX_COL_WIDTH) w = TABLE_MAX_COL_WIDTH;
        if (cs[i] < w) cs[i] = w;
    }
    struct cell_lines *cl = calloc(nrow * ncol + 1, sizeof *cl);
    size_t *rs = calloc(nrow + 1, sizeof *rs);
    if (!cl || !rs) abort();
    /* Column widths grow row by row; each cell wraps at the width known when it is added. */
    for (size_t r = 0; r < nrow; r++) {
        for (size_t c = 0; c < ncol; c++) {
            const char *s = cells[r * ncol + c];
            size_t w = width_of(s, strlen(s));
            if (w > TABLE_MAX_COL_WIDTH) w = TABLE_MAX_COL_WIDTH;
            if (cs[c] < w || cs[c] == 0) cs[c] = w;
            struct cell_lines *L = &cl[r * ncol + c];
            wrap(s, cs[c], L);
            for (size_t k = 0; k < L->n; k++) {
                size_t lw = width_of(L->line[k], strlen(L->line[k]));
                if (lw > cs[c]) cs[c] = lw;
            }
            if (L->n > rs[r]) rs[r] = L->n;
        }
    }
    print_rule(f, cs, ncol);
    fputc('|', f);
    for (size_t c = 0; c < ncol; c++) {
        /* Title(): '_' and '.' become spaces, trimmed, upper-cased; centered. */
        char t[128];
        snprintf(t, sizeof t, "%s", hdr[c]);
        for (char *p = t; *p; p++) *p = (*p == '_' || *p == '.') ? ' ' : (char)toupper(*p);
        size_t tw = width_of(t, strlen(t));
        size_t gap = cs[c] > tw ? cs[c] - tw : 0;
        fputc(' ', f);
        put_repeat(f, ' ', gap / 2);
        fputs(t, f);
        put_repeat(f, ' ', gap - gap / 2);
        fputs(" |", f);
    }
    fputc('\n', f);
    print_rule(f, cs, ncol);
    for (size_t r = 0; r < nrow; r++) {
        for (size_t x = 0; x < rs[r]; x++) {
            for (size_t c = 0; c < ncol; c++) {
                const struct cell_lines *L = &cl[r * ncol + c];
                const char *s = x < L->n ? L->line[x] : "  ";
                size_t w = width_of(s, strlen(s));
                fputs("| ", f);
                put_repeat(f, ' ', cs[c] > w ? cs[c] - w : 0);
                fputs(s, f);
                fputc(' ', f);
            }
            fputs("|\n", f);
        }
    }
    print_rule(f, cs, ncol);
    for (size_t i = 0; i < nrow * ncol; i++) free(cl[i].text);
    free(cl);
    free(rs);
}

static int table_member_list(struct ctl *ctl, const Etcdserverpb__MemberListResponse *r)
{
    static const char *const hdr[] = {"ID",         "Status",       "Name",
                                      "Peer Addrs", "Client Addrs", "Is Learner"};
    char **cells;
    size_t n = print_member_rows(r, &cells);
    print_table(ctl->out, hdr, PRINT_MEMBER_COLS, cells, n);
    print_cells_free(cells, n * PRINT_MEMBER_COLS);
    return 0;
}

static int table_ep_health(struct ctl *ctl, const struct ep_health *h, size_t n)
{
    static const char *const hdr[] = {"endpoint", "health", "took", "error"};
    char **cells;
    print_health_rows(h, n, &cells);
    print_table(ctl->out, hdr, PRINT_HEALTH_COLS, cells, n);
    print_cells_free(cells, n * PRINT_HEALTH_COLS);
    return 0;
}

static int table_ep_status(struct ctl *ctl, const struct ep_status *s, size_t n)
{
    static const char *const hdr[] = {"endpoint",           "ID",         "version",   "db size",
                                      "is leader",          "is learner", "raft term", "raft index",
                                      "raft applied index", "errors"};
    char **cells;
    print_status_rows(s, n, &cells);
    print_table(ctl->out, hdr, PRINT_STATUS_COLS, cells, n);
    print_cells_free(cells, n * PRINT_STATUS_COLS);
    return 0;
}

static int table_ep_hashkv(struct ctl *ctl, const struct ep_hashkv *h, size_t n)
{
    static const char *const hdr[] = {"endpoint", "hash"};
    char **cells;
    print_hashkv_rows(h, n, &cells);
    print_table(ctl->out, hdr, PRINT_HASHKV_COLS, cells, n);
    print_cells_free(cells, n * PRINT_HASHKV_COLS);
    return 0;
}

const struct printer printer_table = {
    .name = "table",
    .member_list = table_member_list,
    .ep_health = table_ep_health,
    .ep_status = table_ep_status,
    .ep_hashkv = table_ep_hashkv,
};
