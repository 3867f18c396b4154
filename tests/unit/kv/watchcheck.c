/* watchcheck.c — drives and checks watchers for the kv tests. */
#include "watchcheck.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_watch.h"

static void on_ready(void *ud, struct kv_watcher *w)
{
    ((struct tw *)ud)->wakeups++;
}

void tw_create(struct tw *w, struct kv *kv, const struct model *m, const char *key,
               struct kv_bytes end, int64_t start_rev, bool prev_kv, bool no_put, bool no_delete)
{
    memset(w, 0, sizeof(*w));
    w->klen = strlen(key);
    assert(w->klen < sizeof(w->key) && end.len < sizeof(w->end));
    memcpy(w->key, key, w->klen);
    if (end.len) memcpy(w->end, end.p, end.len);
    w->elen = end.len;
    w->start = start_rev > 0 ? start_rev : m->rev + 1;
    w->prev_kv = prev_kv;
    w->no_put = no_put;
    w->no_delete = no_delete;
    struct kv_watch_req req = {{(const uint8_t *)w->key, w->klen},
                               {(const uint8_t *)w->end, w->elen},
                               start_rev,
                               prev_kv,
                               no_put,
                               no_delete,
                               on_ready,
                               w};
    int rc = kv_watch_create(kv, &req, &w->w);
    assert(rc == 0);
}

static void copy_event(struct mevent *d, const struct kv_event *e)
{
    memset(d, 0, sizeof(*d));
    d->ev = *e;
    assert(e->kv.key.len <= sizeof(d->kbuf) && e->kv.value.len <= sizeof(d->vbuf));
    if (e->kv.key.len) memcpy(d->kbuf, e->kv.key.p, e->kv.key.len);
    if (e->kv.value.len) memcpy(d->vbuf, e->kv.value.p, e->kv.value.len);
    if (e->has_prev) {
        if (e->prev.key.len) memcpy(d->pkbuf, e->prev.key.p, e->prev.key.len);
        if (e->prev.value.len) memcpy(d->pvbuf, e->prev.value.p, e->prev.value.len);
    }
}

bool tw_poll(struct tw *w, struct kv *kv, size_t max_bytes)
{
    if (w->canceled) return false;
    struct kv_watch_batch b;
    int rc = kv_watch_poll(kv, w->w, max_bytes, &b);
    assert(rc == 0);
    w->polls++;
    if (b.canceled) {
        w->canceled = true;
        w->compact_rev = b.compact_rev;
    }
    for (size_t i = 0; i < b.n; i++) {
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 64;
            w->got = realloc(w->got, w->cap * sizeof(*w->got));
            assert(w->got);
        }
        copy_event(&w->got[w->n].e, b.events[i]);
        w->got[w->n].poll = w->polls;
        w->n++;
    }
    assert(!b.n || b.rev >= b.events[b.n - 1]->kv.mod_rev);
    bool more = b.more;
    kv_watch_batch_free(&b);
    return more;
}

static bool bytes_eq(struct kv_bytes a, struct kv_bytes b)
{
    return a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len));
}

static bool ev_equal(const struct kv_event *g, const struct kv_event *e, int64_t compact_rev)
{
    if (g->type != e->type || g->kv.mod_rev != e->kv.mod_rev || !bytes_eq(g->kv.key, e->kv.key))
        return false;
    if (g->type == KV_EVENT_PUT &&
        (!bytes_eq(g->kv.value, e->kv.value) || g->kv.create_rev != e->kv.create_rev ||
         g->kv.version != e->kv.version || g->kv.lease != e->kv.lease))
        return false;
    if (g->type == KV_EVENT_DELETE && (g->kv.value.len || g->kv.version || g->kv.create_rev))
        return false;
    if (g->has_prev)
        return e->has_prev && g->prev.mod_rev == e->prev.mod_rev &&
               bytes_eq(g->prev.value, e->prev.value) && g->prev.version == e->prev.version &&
               g->prev.create_rev == e->prev.create_rev && g->prev.lease == e->prev.lease;
    /* prev_kv may be missing only when revision main-1 was compacted when it was read */
    return !e->has_prev || e->kv.mod_rev - 1 < compact_rev;
}

static char err[256];

const char *tw_finish(struct tw *w, struct kv *kv, const struct model *m, struct rng *r)
{
    const char *fail = NULL;
    for (long guard = 0; tw_poll(w, kv, 1 + rng_below(r, 300)); guard++)
        if (guard > 1000000) {
            fail = "watcher never drains";
            break;
        }
    int64_t pr;
    if (!fail && !w->canceled && (kv_watch_progress(kv, w->w, &pr) || pr != m->rev))
        fail = "no progress notification after draining";
    for (size_t i = 0; i < w->n; i++) { /* realloc moved the copies: re-point them */
        struct mevent *d = &w->got[i].e;
        d->ev.kv.key.p = d->kbuf;
        d->ev.kv.value.p = d->vbuf;
        d->ev.prev.key.p = d->pkbuf;
        d->ev.prev.value.p = d->pvbuf;
    }
    struct mevent *exp;
    struct kv_bytes k = {(const uint8_t *)w->key, w->klen}, e = {(const uint8_t *)w->end, w->elen};
    size_t ne = m_events(m, k, e, w->start, w->prev_kv, w->no_put, w->no_delete, &exp);
    if (!fail && w->canceled) {
        int64_t base = w->n ? w->got[w->n - 1].e.ev.kv.mod_rev : w->start - 1;
        if (w->n > ne)
            fail = "a cancelled watcher delivered too much";
        else if (w->compact_rev <= base + 1)
            fail = "cancelled without being behind";
        else if (w->n < ne && w->n && exp[w->n].ev.kv.mod_rev == w->got[w->n - 1].e.ev.kv.mod_rev)
            fail = "cancelled in the middle of a revision";
    } else if (!fail && w->n != ne) {
        snprintf(err, sizeof(err), "delivered %zu events, expected %zu (start %lld, rev %lld)",
                 w->n, ne, (long long)w->start, (long long)m->rev);
        fail = err;
    }
    for (size_t i = 0; i < w->n && !fail; i++) {
        if (!ev_equal(&w->got[i].e.ev, &exp[i].ev, m->compact_rev)) {
            snprintf(err, sizeof(err), "event %zu (revision %lld) differs", i,
                     (long long)exp[i].ev.kv.mod_rev);
            fail = err;
        } else if (i && w->got[i].e.ev.kv.mod_rev == w->got[i - 1].e.ev.kv.mod_rev &&
                   w->got[i].poll != w->got[i - 1].poll) {
            fail = "a revision was split across polls";
        }
    }
    free(exp);
    kv_watch_cancel(kv, w->w);
    free(w->got);
    memset(w, 0, sizeof(*w));
    return fail;
}
