/* sim_log.c — concur-sim's logs: the mirror of each core's log and each node's durable log. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "util/err.h"

void sim__slog_reset(struct slog *l, uint64_t base, uint64_t base_term, uint64_t base_chain)
{
    l->base = base;
    l->base_term = base_term;
    l->base_chain = base_chain;
    l->n = 0;
}

void sim__slog_free(struct slog *l)
{
    free(l->e);
    memset(l, 0, sizeof *l);
}

/* Term and chain at index (base included). Returns false when the index is not held. */
bool sim__slog_get(const struct slog *l, uint64_t index, uint64_t *term, uint64_t *chain)
{
    if (index == l->base) {
        *term = l->base_term;
        *chain = l->base_chain;
        return true;
    }
    if (index < l->base || index > l->base + l->n) return false;
    *term = l->e[index - l->base - 1].term;
    *chain = l->e[index - l->base - 1].chain;
    return true;
}

int sim__slog_push(struct slog *l, uint64_t term, uint64_t chain)
{
    if (l->n == l->cap) {
        uint64_t cap = l->cap ? l->cap * 2 : 64;
        if (cap > SIM_MAX_INDEX) return CC_ETOOBIG;
        struct slog_ent *e = realloc(l->e, cap * sizeof *e);
        if (!e) return CC_ENOMEM;
        l->e = e;
        l->cap = cap;
    }
    l->e[l->n++] = (struct slog_ent){.term = term, .chain = chain};
    return 0;
}

/* Drops entries from index `from` on (from > base). */
void sim__slog_truncate(struct slog *l, uint64_t from)
{
    if (from <= l->base) from = l->base + 1;
    if (from <= l->base + l->n) l->n = from - l->base - 1;
}

/* Makes `upto` (held, > base) the new base, keeping the entries after it. */
void sim__slog_compact(struct slog *l, uint64_t upto)
{
    uint64_t term, chain;
    if (upto <= l->base || !sim__slog_get(l, upto, &term, &chain)) return;
    uint64_t k = upto - l->base;
    memmove(l->e, l->e + k, (l->n - k) * sizeof *l->e);
    l->n -= k;
    l->base = upto;
    l->base_term = term;
    l->base_chain = chain;
}

static void entry_release(struct raft_entry *e)
{
    free(e->data);
    e->data = NULL;
}

void sim__dlog_reset(struct dlog *l, uint64_t base)
{
    for (uint64_t i = 0; i < l->n; i++) entry_release(&l->e[i]);
    l->n = 0;
    l->base = base;
}

void sim__dlog_free(struct dlog *l)
{
    sim__dlog_reset(l, 0);
    free(l->e);
    memset(l, 0, sizeof *l);
}

const struct raft_entry *sim__dlog_get(const struct dlog *l, uint64_t index)
{
    if (index <= l->base || index > l->base + l->n) return NULL;
    return &l->e[index - l->base - 1];
}

/* Appends a copy of e at the end (the caller truncated first). Returns 0, CC_ENOMEM, CC_ETOOBIG. */
int sim__dlog_append(struct dlog *l, const struct raft_entry *e)
{
    if (l->n == l->cap) {
        uint64_t cap = l->cap ? l->cap * 2 : 64;
        if (cap > SIM_MAX_INDEX) return CC_ETOOBIG;
        struct raft_entry *ne = realloc(l->e, cap * sizeof *ne);
        if (!ne) return CC_ENOMEM;
        l->e = ne;
        l->cap = cap;
    }
    struct raft_entry c = *e;
    c.data = NULL;
    if (e->len) {
        c.data = malloc(e->len);
        if (!c.data) return CC_ENOMEM;
        memcpy(c.data, e->data, e->len);
    }
    l->e[l->n++] = c;
    return 0;
}

void sim__dlog_truncate(struct dlog *l, uint64_t from)
{
    if (from <= l->base) from = l->base + 1;
    while (l->base + l->n >= from && l->n > 0) entry_release(&l->e[--l->n]);
}

/* Drops entries up to and including `upto`; entries after it stay. */
void sim__dlog_compact(struct dlog *l, uint64_t upto)
{
    if (upto <= l->base) return;
    if (upto >= l->base + l->n) {
        sim__dlog_reset(l, upto);
        return;
    }
    uint64_t k = upto - l->base;
    for (uint64_t i = 0; i < k; i++) entry_release(&l->e[i]);
    memmove(l->e, l->e + k, (l->n - k) * sizeof *l->e);
    l->n -= k;
    l->base = upto;
}
