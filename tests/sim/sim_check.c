/* sim_check.c — concur-sim's safety checker: Raft's properties (Figure 3.2) over ghost state. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "util/err.h"

int sim__check_init(struct check *c)
{
    memset(c, 0, sizeof *c);
    return 0;
}

void sim__check_free(struct check *c)
{
    free(c->leader_of);
    free(c->tab);
    free(c->c);
    free(c->a);
    memset(c, 0, sizeof *c);
}

/* Grows a zero-filled array so that index `need` is valid. */
static int grow(void **arr, uint64_t *cap, uint64_t need, size_t elem)
{
    if (need < *cap) return 0;
    if (need >= SIM_MAX_INDEX) return CC_ETOOBIG;
    uint64_t n = *cap ? *cap : 64;
    while (n <= need) n *= 2;
    uint8_t *p = realloc(*arr, n * elem);
    if (!p) return CC_ENOMEM;
    memset(p + *cap * elem, 0, (n - *cap) * elem);
    *arr = p;
    *cap = n;
    return 0;
}

/* --- (index, term) -> chain: every entry any log ever held ----------------------------------- */

static uint64_t key_slot(uint64_t index, uint64_t term, uint64_t cap)
{
    return sim__mix(index, term) & (cap - 1);
}

static struct ck_key *tab_find(const struct check *c, uint64_t index, uint64_t term)
{
    if (!c->tab_cap) return NULL;
    uint64_t i = key_slot(index, term, c->tab_cap);
    while (c->tab[i].index && (c->tab[i].index != index || c->tab[i].term != term))
        i = (i + 1) & (c->tab_cap - 1);
    return &c->tab[i];
}

static int tab_grow(struct check *c)
{
    uint64_t cap = c->tab_cap ? c->tab_cap * 2 : 1024;
    if (cap > 4ull * SIM_MAX_INDEX) return CC_ETOOBIG;
    struct ck_key *old = c->tab;
    uint64_t old_cap = c->tab_cap;
    c->tab = calloc(cap, sizeof *c->tab);
    if (!c->tab) {
        c->tab = old;
        return CC_ENOMEM;
    }
    c->tab_cap = cap;
    for (uint64_t i = 0; i < old_cap; i++)
        if (old[i].index) *tab_find(c, old[i].index, old[i].term) = old[i];
    free(old);
    return 0;
}

bool sim__check_lookup(const struct sim *s, uint64_t index, uint64_t term, uint64_t *chain)
{
    const struct ck_key *k = tab_find(&s->ck, index, term);
    if (!k || !k->index) return false;
    *chain = k->chain;
    return true;
}

/* Log Matching (§3.5): an entry is identified by (index, term); the chain of every log that ever
 * held it must be the same, i.e. the logs are identical up to it. */
void sim__check_entry(struct sim *s, struct node *n, uint64_t index, uint64_t term, uint64_t chain)
{
    struct check *c = &s->ck;
    if (2 * (c->tab_n + 1) > c->tab_cap && tab_grow(c)) {
        sim__fail(s, "simulator limit: entry table full");
        return;
    }
    struct ck_key *k = tab_find(c, index, term);
    if (!k->index) {
        *k = (struct ck_key){.index = index, .term = term, .chain = chain};
        c->tab_n++;
    } else if (k->chain != chain) {
        sim__fail(s,
                  "Log Matching: n%" PRIu64 " holds entry %" PRIu64 "/%" PRIu64
                  " whose log prefix (or content) differs from another log's entry %" PRIu64
                  "/%" PRIu64,
                  n->id, index, term, index, term);
    }
}

/* --- Leaders --------------------------------------------------------------------------------- */

/* Leader Completeness (§3.6): a leader holds every entry committed in an earlier term (those
 * inside its snapshot were checked when the snapshot was installed or taken). A leader of an
 * older term may still win late — with votes granted before the voters moved on — after a
 * newer leader committed more: it need not hold that (seed 507757, 7 nodes). */
static void leader_has_committed(struct sim *s, struct node *n, const char *when)
{
    const struct check *c = &s->ck;
    uint64_t idx = c->cmax, term, chain;
    while (idx > 0 && c->c[idx].cterm >= n->term) idx--;
    if (idx == 0 || idx < n->log.base || !c->c[idx].chain) return;
    if (!sim__slog_get(&n->log, idx, &term, &chain)) {
        sim__fail(s,
                  "Leader Completeness: %s n%" PRIu64 " (term %" PRIu64
                  ") lacks committed entry %" PRIu64 "/%" PRIu64 " (its log ends at %" PRIu64 ")",
                  when, n->id, n->term, idx, c->c[idx].term, sim__slog_last(&n->log));
    } else if (chain != c->c[idx].chain) {
        sim__fail(s,
                  "Leader Completeness: %s n%" PRIu64 " (term %" PRIu64 ") holds %" PRIu64
                  "/%" PRIu64 " where %" PRIu64 "/%" PRIu64
                  " was committed (or a different prefix)",
                  when, n->id, n->term, idx, term, idx, c->c[idx].term);
    }
}

/* Election Safety (§3.6): at most one leader per term, over the whole run. */
void sim__check_leader(struct sim *s, struct node *n, uint64_t term)
{
    struct check *c = &s->ck;
    if (grow((void **)&c->leader_of, &c->n_terms, term, sizeof *c->leader_of)) {
        sim__fail(s, "simulator limit: term %" PRIu64 " too high", term);
        return;
    }
    if (c->leader_of[term] == RAFT_NONE) {
        c->leader_of[term] = n->id;
        s->st.leaders++;
    } else if (c->leader_of[term] != n->id) {
        sim__fail(
            s, "Election Safety: n%" PRIu64 " and n%" PRIu64 " are both leaders of term %" PRIu64,
            c->leader_of[term], n->id, term);
        return;
    }
    leader_has_committed(s, n, "new leader");
}

/* --- Commitment ------------------------------------------------------------------------------ */

/* A node removes log entries from `from` on: never one it knew committed (`commit`, its commit
 * index before the update doing it), never one anyone committed (committed entries are never
 * lost, §3.6). */
void sim__check_truncate(struct sim *s, struct node *n, uint64_t from, uint64_t commit)
{
    const struct check *c = &s->ck;
    uint64_t term, chain;
    if (from <= commit) {
        sim__fail(s, "n%" PRIu64 " removes entries from %" PRIu64 " below its own commit %" PRIu64,
                  n->id, from, commit);
    } else if (from <= c->cmax && c->c[from].chain && sim__slog_get(&n->log, from, &term, &chain) &&
               chain == c->c[from].chain) {
        sim__fail(s, "committed entry %" PRIu64 "/%" PRIu64 " removed from n%" PRIu64 "'s log",
                  from, term, n->id);
    }
}

/* The durable (index, term) of a node's last entry: what it campaigns and votes with after a
 * restart, and never more than what it holds in memory. */
static void durable_last(const struct node *n, uint64_t *index, uint64_t *term)
{
    *index = sim__dlog_last(&n->d_log);
    const struct raft_entry *e = sim__dlog_get(&n->d_log, *index);
    if (e && *index > n->d_snap.meta.index) {
        *term = e->term;
    } else {
        *index = n->d_snap.meta.index;
        *term = n->d_snap.meta.term;
    }
}

/* Leader Completeness, as a reachable state: once an entry is committed, no voter lacking it can
 * collect a majority of votes on log grounds (§3.6.1), even after everyone restarts from disk.
 * In Raft this holds from the moment of commitment: the majority that made it committed durably
 * holds an entry of the committing term at or after it, so each of them is more up to date than
 * any log lacking it. It is checked only while the configuration is the initial one, where the
 * majority is unambiguous. Catching the bad state when it is created does not need the unlucky
 * schedule that would actually elect such a leader. */
static void committed_is_safe(struct sim *s)
{
    const struct check *c = &s->ck;
    uint32_t nv = s->p->nodes;
    uint64_t li[SIM_MAX_SLOTS + 1], lt[SIM_MAX_SLOTS + 1];
    bool has[SIM_MAX_SLOTS + 1];
    if (s->st.conf_changes || !c->c[c->cmax].chain) return;
    for (uint32_t id = 1; id <= nv; id++) {
        const struct node *n = &s->nodes[id];
        const struct raft_entry *e = sim__dlog_get(&n->d_log, c->cmax);
        durable_last(n, &li[id], &lt[id]);
        has[id] = c->cmax <= n->d_snap.meta.index || (e && e->term == c->c[c->cmax].term);
    }
    for (uint32_t v = 1; v <= nv; v++) {
        if (has[v]) continue;
        uint32_t votes = 0;
        char who[80] = "";
        size_t o = 0;
        for (uint32_t w = 1; w <= nv; w++) {
            if (lt[w] > lt[v] || (lt[w] == lt[v] && li[w] > li[v])) continue;
            votes++;
            if (o < sizeof who) o += (size_t)snprintf(who + o, sizeof who - o, " n%u", w);
        }
        if (votes > nv / 2) {
            sim__fail(s,
                      "Leader Completeness: committed entry %" PRIu64 "/%" PRIu64
                      " is missing on n%u, which can still be elected (last entry %" PRIu64
                      "/%" PRIu64 ") with the votes of%s",
                      c->cmax, c->c[c->cmax].term, v, li[v], lt[v], who);
            return;
        }
    }
}

/* Node n says entries up to `commit` are committed. Its log must agree with the committed log
 * (State Machine Safety at the log level); a longer commit extends the committed log, and every
 * leader of a later term must then hold it (Leader Completeness). */
void sim__check_commit(struct sim *s, struct node *n, uint64_t commit)
{
    struct check *c = &s->ck;
    uint64_t term, chain;
    if (commit <= n->commit_seen) return;
    n->commit_seen = commit;
    if (commit < n->log.base) return; /* inside its snapshot */
    if (!sim__slog_get(&n->log, commit, &term, &chain)) {
        sim__fail(s, "n%" PRIu64 " commits %" PRIu64 " beyond its log (last %" PRIu64 ")", n->id,
                  commit, sim__slog_last(&n->log));
        return;
    }
    if (commit <= c->cmax) {
        if (c->c[commit].chain && c->c[commit].chain != chain)
            sim__fail(s,
                      "State Machine Safety: n%" PRIu64 " commits %" PRIu64 "/%" PRIu64
                      " but %" PRIu64 "/%" PRIu64 " was committed at that index",
                      n->id, commit, term, commit, c->c[commit].term);
        return;
    }
    uint64_t t2, c2;
    if (c->cmax >= n->log.base && c->cmax && c->c[c->cmax].chain &&
        sim__slog_get(&n->log, c->cmax, &t2, &c2) && c2 != c->c[c->cmax].chain) {
        sim__fail(s,
                  "State Machine Safety: n%" PRIu64 " commits up to %" PRIu64
                  " over a log that differs at committed index %" PRIu64,
                  n->id, commit, c->cmax);
        return;
    }
    if (grow((void **)&c->c, &c->c_cap, commit, sizeof *c->c)) {
        sim__fail(s, "simulator limit: committed log too long");
        return;
    }
    for (uint64_t i = c->cmax + 1; i <= commit; i++) {
        if (sim__slog_get(&n->log, i, &t2, &c2))
            c->c[i] = (struct ck_commit){.term = t2, .chain = c2, .cterm = n->term};
    }
    c->cmax = commit;
    s->st.committed = commit;
    committed_is_safe(s);
    for (uint32_t id = 1; id <= s->n_slots; id++) {
        struct node *l = &s->nodes[id];
        if (l->state == NODE_UP && l->role == RAFT_LEADER && l->term > n->term)
            leader_has_committed(s, l, "leader");
    }
}

/* --- Applying -------------------------------------------------------------------------------- */

/* State Machine Safety (§3.6): no two nodes apply different entries at one index, and their state
 * after each index is the same. Returns true when this is the first application of the index. */
bool sim__check_apply(struct sim *s, struct node *n, const struct raft_entry *e, uint64_t dhash)
{
    struct check *c = &s->ck;
    if (grow((void **)&c->a, &c->a_cap, e->index, sizeof *c->a)) {
        sim__fail(s, "simulator limit: applied log too long");
        return false;
    }
    struct ck_applied *a = &c->a[e->index];
    if (a->by == RAFT_NONE) {
        *a = (struct ck_applied){
            .dhash = dhash, .sm = n->fsm.hash, .term = e->term, .by = n->id, .type = e->type};
        if (e->index > c->amax) c->amax = e->index;
        return true;
    }
    if (a->dhash != dhash || a->type != e->type || a->term != e->term)
        sim__fail(s,
                  "State Machine Safety: n%" PRIu64 " applies %" PRIu64 "/%" PRIu64 " but n%" PRIu64
                  " applied %" PRIu64 "/%" PRIu64 " (a different entry)",
                  n->id, e->index, e->term, a->by, e->index, a->term);
    else if (a->sm != n->fsm.hash)
        sim__fail(s,
                  "State Machine Safety: n%" PRIu64 " state after %" PRIu64
                  " differs from n%" PRIu64 "'s",
                  n->id, e->index, a->by);
    return false;
}

/* A snapshot being installed replaces n's state machine with f: it must not go back in time and
 * must be the state every node had after that index. */
void sim__check_install(struct sim *s, struct node *n, const struct fsm *f)
{
    const struct check *c = &s->ck;
    if (f->applied < n->fsm.applied) {
        sim__fail(s,
                  "snapshot install moves n%" PRIu64 "'s state machine back from %" PRIu64
                  " to %" PRIu64,
                  n->id, n->fsm.applied, f->applied);
    } else if (f->applied <= c->amax && c->a[f->applied].by && c->a[f->applied].sm != f->hash) {
        sim__fail(s,
                  "State Machine Safety: snapshot %" PRIu64 " installed on n%" PRIu64
                  " differs from n%" PRIu64 "'s state at that index",
                  f->applied, n->id, c->a[f->applied].by);
    }
}
