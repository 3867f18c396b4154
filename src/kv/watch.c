/* watch.c — watchers: bounded per-watcher buffers filled after each applied batch, pulled by
 * the API layers; watchers that fall behind catch up from the store (etcd's unsynced set) and
 * rejoin. Events are shared, reference-counted objects, so fan-out copies pointers only. */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"
#include "util/hash64.h"

/* Records examined per poll of an unsynced watcher before it stops at a revision boundary. */
#define CATCHUP_SCAN_BUDGET 4096

struct wev {
    uint32_t refs;
    size_t bytes; /* key + value + prev key + prev value: what budgets count */
    struct kv_event ev;
    uint8_t data[]; /* key, value, prev key, prev value */
};

#define WEV(e) ((struct wev *)((char *)(e)-offsetof(struct wev, ev)))

struct kv_watcher {
    struct kv *kv;
    uint8_t *key, *end;
    size_t klen, elen;
    bool prev_kv, no_put, no_delete;
    bool synced, canceled, notified, touched, overflow;
    int64_t next_rev; /* synced: skip events below it; unsynced: next revision to read */
    int64_t compact_rev;
    int64_t group_rev; /* the revision being appended during a dispatch */
    size_t group_start;
    struct wev **ring;
    size_t cap, head, count, bytes;
    void (*ready)(void *ud, struct kv_watcher *w);
    void *ud;
    struct kv_watcher *hnext;         /* single-key watchers: hash chain */
    struct kv_watcher *rprev, *rnext; /* range watchers list */
    struct kv_watcher *aprev, *anext; /* every watcher */
};

struct kv__watch {
    struct kv_watcher **buckets;
    uint32_t nbuckets;
    struct kv_watcher *ranges;
    struct kv_watcher *all;
    uint64_t count;
    struct kv_watcher **touched;
    size_t ntouched, tcap;
};

/* ---- events ---- */

static void wev_unref(struct wev *w)
{
    if (w && !--w->refs) free(w);
}

/* Builds an event from a stored record; prev (may be NULL) becomes its prev_kv. */
static struct wev *wev_make(const struct rec_view *v, int64_t main, const struct kv_kv *prev)
{
    size_t n = v->key.len + v->value.len;
    if (prev) n += prev->key.len + prev->value.len;
    struct wev *w = malloc(sizeof(*w) + n);
    if (!w) return NULL;
    memset(w, 0, sizeof(*w));
    w->refs = 1;
    w->bytes = n;
    uint8_t *p = w->data;
    struct kv_event *e = &w->ev;
    e->type = v->tomb ? KV_EVENT_DELETE : KV_EVENT_PUT;
    e->kv.key = (struct kv_bytes){p, v->key.len};
    memcpy(p, v->key.p, v->key.len);
    p += v->key.len;
    e->kv.mod_rev = main;
    if (!v->tomb) { /* a delete event carries only the key and the deleting revision (etcd) */
        e->kv.value = (struct kv_bytes){p, v->value.len};
        memcpy(p, v->value.p, v->value.len);
        p += v->value.len;
        e->kv.create_rev = v->create_rev;
        e->kv.version = v->version;
        e->kv.lease = v->lease;
    }
    if (prev) {
        e->has_prev = true;
        e->prev = *prev;
        e->prev.key = (struct kv_bytes){p, prev->key.len};
        memcpy(p, prev->key.p, prev->key.len);
        p += prev->key.len;
        e->prev.value = (struct kv_bytes){p, prev->value.len};
        memcpy(p, prev->value.p, prev->value.len);
    }
    return w;
}

/* The key's version before (main, sub), as etcd's watch prev_kv (a range at main-1): none
 * when it did not exist or that revision is compacted. 1 when found, 0 when none, <0 error. */
static int load_prev(struct kv *kv, const struct rec_view *v, int64_t main, uint32_t sub,
                     int64_t pmain, uint32_t psub, bool known, struct kv__got *g, struct kv_kv *out)
{
    if (main - 1 < kv->compact_rev) return 0;
    if (!known) {
        const struct krec *r = kv__idx_get(&kv->idx, v->key.p, v->key.len);
        int i = r ? kv__krec_before(r, main, sub) : -1;
        if (i < 0 || krec_tomb(r, (uint32_t)i)) return 0;
        pmain = krec_main(r, (uint32_t)i);
        psub = krec_sub(r, (uint32_t)i);
    }
    if (!pmain) return 0;
    int rc = kv__get_rev(kv, pmain, psub, g);
    if (rc) return rc == CC_ENOTFOUND ? 0 : rc;
    memset(out, 0, sizeof(*out));
    out->key = g->v.key;
    out->value = g->v.value;
    out->create_rev = g->v.create_rev;
    out->mod_rev = pmain;
    out->version = g->v.version;
    out->lease = g->v.lease;
    return 1;
}

/* ---- registry ---- */

int kv__watch_init(struct kv *kv)
{
    struct kv__watch *h = calloc(1, sizeof(*h));
    if (!h) return CC_ENOMEM;
    h->nbuckets = 256;
    while (h->nbuckets < kv->opts.watchers_max / 4 && h->nbuckets < (1u << 20)) h->nbuckets *= 2;
    h->buckets = calloc(h->nbuckets, sizeof(*h->buckets));
    if (!h->buckets) {
        free(h);
        return CC_ENOMEM;
    }
    kv->watch = h;
    return 0;
}

static void watcher_free(struct kv_watcher *w)
{
    for (size_t i = 0; i < w->count; i++) wev_unref(w->ring[(w->head + i) % w->cap]);
    free(w->ring);
    free(w->key);
    free(w->end);
    free(w);
}

void kv__watch_free(struct kv *kv)
{
    struct kv__watch *h = kv->watch;
    if (!h) return;
    struct kv_watcher *w = h->all;
    while (w) {
        struct kv_watcher *n = w->anext;
        watcher_free(w);
        w = n;
    }
    free(h->buckets);
    free(h->touched);
    free(h);
    kv->watch = NULL;
}

uint64_t kv__watch_count(const struct kv *kv)
{
    return kv->watch ? kv->watch->count : 0;
}

bool kv__watch_active(const struct kv *kv)
{
    return kv->watch && kv->watch->count;
}

static uint32_t key_bucket(const struct kv__watch *h, const uint8_t *k, size_t n)
{
    return (uint32_t)hash64_final(hash64_extend(HASH64_INIT, k, n)) & (h->nbuckets - 1);
}

int kv_watch_create(struct kv *kv, const struct kv_watch_req *req, struct kv_watcher **out)
{
    *out = NULL;
    if (kv->stopped) return CC_ESTOPPED;
    struct kv__watch *h = kv->watch;
    if (h->count >= kv->opts.watchers_max) return CC_EBUSY;
    if (req->key.len > KV_KEY_MAX || req->range_end.len > KV_KEY_MAX) return CC_ETOOBIG;
    struct kv_watcher *w = calloc(1, sizeof(*w));
    if (!w) return CC_ENOMEM;
    w->key = malloc(req->key.len + 1);
    w->end = malloc(req->range_end.len + 1);
    if (!w->key || !w->end) {
        watcher_free(w);
        return CC_ENOMEM;
    }
    if (req->key.len) memcpy(w->key, req->key.p, req->key.len);
    if (req->range_end.len) memcpy(w->end, req->range_end.p, req->range_end.len);
    w->klen = req->key.len;
    w->elen = req->range_end.len;
    w->kv = kv;
    w->prev_kv = req->prev_kv;
    w->no_put = req->no_put;
    w->no_delete = req->no_delete;
    w->ready = req->ready;
    w->ud = req->ud;
    int64_t start = req->start_rev;
    if (start <= 0) {
        w->synced = true;
        w->next_rev = kv->rev + 1;
    } else if (start < kv->compact_rev) {
        w->canceled = true;
        w->compact_rev = kv->compact_rev;
    } else {
        w->synced = start > kv->rev;
        w->next_rev = start;
    }
    if (!w->elen) {
        uint32_t b = key_bucket(h, w->key, w->klen);
        w->hnext = h->buckets[b];
        h->buckets[b] = w;
    } else {
        w->rnext = h->ranges;
        if (h->ranges) h->ranges->rprev = w;
        h->ranges = w;
    }
    w->anext = h->all;
    if (h->all) h->all->aprev = w;
    h->all = w;
    h->count++;
    *out = w;
    return 0;
}

void kv_watch_cancel(struct kv *kv, struct kv_watcher *w)
{
    struct kv__watch *h = kv->watch;
    if (!w) return;
    if (!w->elen) {
        struct kv_watcher **p = &h->buckets[key_bucket(h, w->key, w->klen)];
        while (*p != w) p = &(*p)->hnext;
        *p = w->hnext;
    } else {
        if (w->rprev)
            w->rprev->rnext = w->rnext;
        else
            h->ranges = w->rnext;
        if (w->rnext) w->rnext->rprev = w->rprev;
    }
    if (w->aprev)
        w->aprev->anext = w->anext;
    else
        h->all = w->anext;
    if (w->anext) w->anext->aprev = w->aprev;
    h->count--;
    if (w->touched) { /* cannot happen outside dispatch; keep the list consistent anyway */
        for (size_t i = 0; i < h->ntouched; i++)
            if (h->touched[i] == w) h->touched[i] = NULL;
    }
    watcher_free(w);
}

static bool matches(const struct kv_watcher *w, const struct kv_event *e)
{
    if (e->type == KV_EVENT_PUT ? w->no_put : w->no_delete) return false;
    struct kv_bytes k = {w->key, w->klen}, end = {w->end, w->elen};
    return kv__in_range(e->kv.key.p, e->kv.key.len, k, end);
}

/* ---- dispatch after an applied batch ---- */

static void touch(struct kv__watch *h, struct kv_watcher *w)
{
    if (w->touched) return;
    if (h->ntouched == h->tcap) {
        size_t cap = h->tcap ? h->tcap * 2 : 64;
        struct kv_watcher **t = realloc(h->touched, cap * sizeof(*t));
        if (!t) { /* cannot remember it: make it catch up, which needs no memory now */
            w->synced = false;
            return;
        }
        h->touched = t;
        h->tcap = cap;
    }
    w->touched = true;
    h->touched[h->ntouched++] = w;
}

/* Puts w behind: its events of revision `rev` are dropped from the buffer and it will read
 * them (and what follows) from the store. */
static void go_unsynced(struct kv__watch *h, struct kv_watcher *w, int64_t rev)
{
    while (w->count > w->group_start) {
        size_t i = (w->head + w->count - 1) % w->cap;
        w->bytes -= w->ring[i]->bytes;
        wev_unref(w->ring[i]);
        w->count--;
    }
    w->synced = false;
    w->overflow = true;
    w->next_rev = rev;
    touch(h, w);
}

static bool ring_push(struct kv *kv, struct kv_watcher *w, struct wev *e)
{
    if (w->count >= kv->opts.watch_buf_events || w->bytes + e->bytes > kv->opts.watch_buf_bytes)
        return false;
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4;
        if (cap > kv->opts.watch_buf_events) cap = kv->opts.watch_buf_events;
        struct wev **r = malloc(cap * sizeof(*r));
        if (!r) return false;
        for (size_t i = 0; i < w->count; i++) r[i] = w->ring[(w->head + i) % w->cap];
        free(w->ring);
        w->ring = r;
        w->cap = cap;
        w->head = 0;
    }
    e->refs++;
    w->ring[(w->head + w->count) % w->cap] = e;
    w->count++;
    w->bytes += e->bytes;
    return true;
}

/* Offers event e (with or without prev) of revision main to watcher w. */
static void offer(struct kv *kv, struct kv_watcher *w, int64_t main, struct wev *e)
{
    struct kv__watch *h = kv->watch;
    if (w->group_rev != main) {
        w->group_rev = main;
        w->group_start = w->count;
        w->overflow = false;
    }
    if (w->overflow || !w->synced) return;
    if (!e || !ring_push(kv, w, e)) {
        go_unsynced(h, w, main);
        return;
    }
    touch(h, w);
}

struct shared { /* the two shapes of one pending revision's event, built on demand */
    struct wev *plain, *prev;
    bool done_plain, done_prev;
};

static struct wev *shared_event(struct kv *kv, const struct pend *p, const struct rec_view *v,
                                struct shared *s, bool want_prev)
{
    if (!want_prev) {
        if (!s->done_plain) {
            s->plain = wev_make(v, p->main, NULL);
            s->done_plain = true;
        }
        return s->plain;
    }
    if (!s->done_prev) {
        struct kv__got g = {0};
        struct kv_kv prev;
        int f = load_prev(kv, v, p->main, p->sub, p->prev_main, p->prev_sub, true, &g, &prev);
        s->prev = f >= 0 ? wev_make(v, p->main, f > 0 ? &prev : NULL) : NULL;
        kv__got_release(&g);
        s->done_prev = true;
    }
    return s->prev;
}

int kv__watch_dispatch(struct kv *kv)
{
    struct kv__watch *h = kv->watch;
    struct kv__batch *b = &kv->batch;
    if (!h->count || !b->npend) return 0;
    for (size_t i = 0; i < b->npend; i++) {
        const struct pend *p = &b->pend[i];
        struct rec_view v;
        if (kv__rec_decode(b->recs.data + p->off, p->len, &v)) continue; /* we wrote it */
        struct shared s = {0};
        struct kv_event probe = {.type = v.tomb ? KV_EVENT_DELETE : KV_EVENT_PUT};
        probe.kv.key = v.key;
        for (struct kv_watcher *w = h->buckets[key_bucket(h, v.key.p, v.key.len)]; w;
             w = w->hnext) {
            if (!w->synced || w->canceled || p->main < w->next_rev || !matches(w, &probe)) continue;
            offer(kv, w, p->main, shared_event(kv, p, &v, &s, w->prev_kv));
        }
        for (struct kv_watcher *w = h->ranges; w; w = w->rnext) {
            if (!w->synced || w->canceled || p->main < w->next_rev || !matches(w, &probe)) continue;
            offer(kv, w, p->main, shared_event(kv, p, &v, &s, w->prev_kv));
        }
        wev_unref(s.plain);
        wev_unref(s.prev);
    }
    for (size_t i = 0; i < h->ntouched; i++) {
        struct kv_watcher *w = h->touched[i];
        if (!w) continue;
        w->touched = false;
        w->group_rev = 0;
        if (!w->notified && w->ready) {
            w->notified = true;
            w->ready(w->ud, w);
        }
    }
    h->ntouched = 0;
    return 0;
}

void kv__watch_restored(struct kv *kv, int64_t old_rev)
{
    for (struct kv_watcher *w = kv->watch->all; w; w = w->anext) {
        if (w->canceled) continue;
        if (w->synced) {
            if (w->next_rev < old_rev + 1) w->next_rev = old_rev + 1;
            w->synced = false;
        }
        if (!w->notified && w->ready) {
            w->notified = true;
            w->ready(w->ud, w);
        }
    }
}

/* ---- polling ---- */

struct out {
    const struct kv_event **ev;
    size_t n, cap, bytes;
};

static int out_push(struct out *o, struct wev *e)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        const struct kv_event **n = realloc(o->ev, cap * sizeof(*n));
        if (!n) return CC_ENOMEM;
        o->ev = n;
        o->cap = cap;
    }
    o->ev[o->n++] = &e->ev;
    o->bytes += e->bytes;
    return 0;
}

/* Moves whole revisions from the ring into o until max_bytes. */
static int drain_ring(struct kv_watcher *w, struct out *o, size_t max_bytes)
{
    while (w->count) {
        struct wev *e = w->ring[w->head];
        if (o->n && o->bytes >= max_bytes && e->ev.kv.mod_rev != o->ev[o->n - 1]->kv.mod_rev) break;
        int rc = out_push(o, e);
        if (rc) return rc;
        w->head = (w->head + 1) % w->cap;
        w->count--;
        w->bytes -= e->bytes;
    }
    return 0;
}

/* Reads the watcher's history from the store, whole revisions, within the poll's budgets. */
static int catch_up(struct kv *kv, struct kv_watcher *w, struct out *o, size_t max_bytes)
{
    uint8_t lower[REVKEY_LEN], upper[REVKEY_LEN];
    kv__revkey(lower, w->next_rev, 0);
    kv__revkey(upper, kv->rev + 1, 0);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(ro, 0);
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)upper, sizeof(upper));
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, ro, kv->cf[CF_REV]);
    int rc = 0;
    size_t scanned = 0;
    int64_t cur = 0, stop_at = 0; /* stop_at: the first revision not taken */
    struct kv_bytes wk = {w->key, w->klen}, we = {w->end, w->elen};
    for (rocksdb_iter_seek(it, (const char *)lower, sizeof(lower)); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *val = (const uint8_t *)rocksdb_iter_value(it, &vl);
        int64_t main;
        uint32_t sub;
        struct rec_view v;
        if (kl != REVKEY_LEN || kv__rec_decode(val, vl, &v)) {
            rc = kv__fail(kv, CC_ECORRUPT, "watch: corrupt revision record");
            break;
        }
        kv__revkey_parse(k, &main, &sub);
        if (main != cur) { /* a revision boundary: the only place to stop */
            if (cur && (o->bytes >= max_bytes || scanned >= CATCHUP_SCAN_BUDGET)) {
                stop_at = main;
                break;
            }
            cur = main;
        }
        scanned++;
        if (!kv__in_range(v.key.p, v.key.len, wk, we)) continue;
        if (v.tomb ? w->no_delete : w->no_put) continue;
        struct kv__got g = {0};
        struct kv_kv prev;
        int f = w->prev_kv ? load_prev(kv, &v, main, sub, 0, 0, false, &g, &prev) : 0;
        struct wev *e = f >= 0 ? wev_make(&v, main, f > 0 ? &prev : NULL) : NULL;
        kv__got_release(&g);
        if (f < 0) {
            rc = f;
            break;
        }
        if (!e || (rc = out_push(o, e))) {
            wev_unref(e);
            rc = rc ? rc : CC_ENOMEM;
            break;
        }
    }
    if (!rc) {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        if (err) {
            rc = kv__fail(kv, CC_EIO, "watch: %s", err);
            rocksdb_free(err);
        }
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (rc) return rc;
    if (stop_at) {
        w->next_rev = stop_at;
    } else { /* caught up: rejoin the synced watchers (a future start stays in force) */
        if (w->next_rev < kv->rev + 1) w->next_rev = kv->rev + 1;
        w->synced = true;
    }
    return 0;
}

int kv_watch_poll(struct kv *kv, struct kv_watcher *w, size_t max_bytes, struct kv_watch_batch *b)
{
    memset(b, 0, sizeof(*b));
    if (kv->stopped) return CC_ESTOPPED;
    w->notified = false;
    if (!w->canceled && !w->synced && !w->count && w->next_rev < kv->compact_rev) {
        w->canceled = true; /* etcd: a watcher behind the compact revision is cancelled */
        w->compact_rev = kv->compact_rev;
    }
    if (w->canceled) {
        b->canceled = true;
        b->compact_rev = w->compact_rev;
        b->rev = kv->rev;
        return 0;
    }
    if (!max_bytes) max_bytes = 1;
    struct out o = {0};
    int rc = drain_ring(w, &o, max_bytes);
    /* The ring holds revisions below next_rev; read the store only once it is empty, and
     * only if what it needs has not been compacted meanwhile. */
    if (!rc && !w->count && !w->synced && w->next_rev < kv->compact_rev) {
        w->canceled = true;
        w->compact_rev = kv->compact_rev;
    }
    if (!rc && !w->count && !w->synced && !w->canceled && (o.bytes < max_bytes || !o.n))
        rc = catch_up(kv, w, &o, max_bytes);
    if (rc) {
        for (size_t i = 0; i < o.n; i++) wev_unref(WEV(o.ev[i]));
        free(o.ev);
        return rc;
    }
    b->events = o.ev;
    b->n = o.n;
    b->canceled = w->canceled;
    b->compact_rev = w->compact_rev;
    b->more = !w->canceled && (!w->synced || w->count);
    if (w->count)
        b->rev = w->ring[w->head]->ev.kv.mod_rev - 1;
    else if (w->synced)
        b->rev = kv->rev;
    else
        b->rev = w->next_rev - 1;
    return 0;
}

void kv_watch_batch_free(struct kv_watch_batch *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) wev_unref(WEV(b->events[i]));
    free(b->events);
    memset(b, 0, sizeof(*b));
}

int kv_watch_progress(struct kv *kv, struct kv_watcher *w, int64_t *rev)
{
    if (kv->stopped) return CC_ESTOPPED;
    if (w->canceled || !w->synced || w->count) return CC_EBUSY;
    *rev = kv->rev;
    return 0;
}
