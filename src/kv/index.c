/* index.c — the in-memory key index: a B+tree of packed key records (key -> revisions), etcd's
 * treeIndex made compact (no per-revision allocations, keys inline in their record). */
#include <assert.h>
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"

/* ---- key records ---- */

static size_t krec_size(uint16_t klen, uint32_t nrev)
{
    return sizeof(struct krec) + klen + (size_t)nrev * KREC_REV_SIZE;
}

struct krec *kv__krec_new(const uint8_t *key, size_t klen)
{
    assert(klen <= UINT16_MAX);
    struct krec *r = malloc(krec_size((uint16_t)klen, 0));
    if (!r) return NULL;
    r->create_rev = 0;
    r->version = 0;
    r->lease_slot = 0;
    r->nrev = 0;
    r->klen = (uint16_t)klen;
    if (klen) memcpy(r->data, key, klen);
    return r;
}

struct krec *kv__krec_push(struct krec *r, int64_t main, uint32_t sub, bool tomb)
{
    assert(sub <= SUB_MAX);
    assert(!r->nrev || krec_main(r, r->nrev - 1) < main ||
           (krec_main(r, r->nrev - 1) == main && krec_sub(r, r->nrev - 1) < sub));
    struct krec *n = realloc(r, krec_size(r->klen, r->nrev + 1));
    if (!n) return NULL;
    uint8_t *p = n->data + n->klen + (size_t)n->nrev * KREC_REV_SIZE;
    put_u64le(p, (uint64_t)main);
    put_u32le(p + 8, sub | (tomb ? KREC_TOMB : 0));
    n->nrev++;
    return n;
}

struct krec *kv__krec_drop(struct krec *r, uint32_t n)
{
    assert(n <= r->nrev);
    if (!n) return r;
    uint8_t *revs = r->data + r->klen;
    memmove(revs, revs + (size_t)n * KREC_REV_SIZE, (size_t)(r->nrev - n) * KREC_REV_SIZE);
    r->nrev -= n;
    struct krec *s = realloc(r, krec_size(r->klen, r->nrev));
    return s ? s : r; /* a failed shrink keeps the larger block: still valid */
}

int kv__krec_at(const struct krec *r, int64_t rev)
{
    int lo = 0, hi = (int)r->nrev; /* first index with main > rev */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (krec_main(r, (uint32_t)mid) <= rev)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

int kv__krec_before(const struct krec *r, int64_t main, uint32_t sub)
{
    int lo = 0, hi = (int)r->nrev; /* first index with (main, sub) >= the given one */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int64_t m = krec_main(r, (uint32_t)mid);
        if (m < main || (m == main && krec_sub(r, (uint32_t)mid) < sub))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

/* ---- B+tree ---- */

#define FAN      64
#define LEAF_MIN (FAN / 4)
#define NODE_MIN (FAN / 4)
#define MAXDEPTH 32

/* Nodes keep, per entry, an inline 8-byte fragment of its key taken after the prefix that all
 * keys of the node share (pfx), so a search compares integers and dereferences a record (a
 * cache miss) only when fragments tie. etcd keys share long prefixes ("/registry/pods/..."),
 * which is why the fragment starts after the node's common prefix, not at byte 0. */
struct kv__leaf {
    uint16_t n, pfx;
    struct kv__leaf *prev, *next;
    uint64_t frag[FAN];
    struct krec *r[FAN];
};

struct sep {
    uint8_t *p; /* owned copy */
    uint32_t len;
};

struct inner {
    uint16_t n, pfx; /* n: children */
    uint64_t frag[FAN - 1];
    struct sep s[FAN - 1];
    void *k[FAN];
};

struct step {
    struct inner *node;
    int i;
};

static int rec_cmp(const struct krec *r, const uint8_t *key, size_t klen)
{
    return kv__bytes_cmp(krec_key(r), r->klen, key, klen);
}

static uint16_t common_prefix(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl, i = 0;
    if (n > UINT16_MAX) n = UINT16_MAX;
    while (i < n && a[i] == b[i]) i++;
    return (uint16_t)i;
}

/* Bytes [pfx, pfx+8) of the key, big-endian, zero-padded: if two keys sharing the prefix have
 * different fragments, the fragments order them as the keys; equal fragments decide nothing. */
static uint64_t frag_of(const uint8_t *k, size_t len, size_t pfx)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++) v = v << 8 | (pfx + i < len ? k[pfx + i] : 0);
    return v;
}

/* <0: key sorts before every key with prefix p; >0: after them all; 0: key has the prefix. */
static int vs_prefix(const uint8_t *key, size_t klen, const uint8_t *p, size_t pfx)
{
    size_t n = klen < pfx ? klen : pfx;
    int c = n ? memcmp(key, p, n) : 0;
    if (c) return c;
    return klen < pfx ? -1 : 0;
}

static void leaf_refrag(struct kv__leaf *l)
{
    if (!l->n) {
        l->pfx = 0;
        return;
    }
    const struct krec *a = l->r[0], *b = l->r[l->n - 1];
    l->pfx = common_prefix(krec_key(a), a->klen, krec_key(b), b->klen);
    for (unsigned i = 0; i < l->n; i++)
        l->frag[i] = frag_of(krec_key(l->r[i]), l->r[i]->klen, l->pfx);
}

static void inner_refrag(struct inner *n)
{
    int ns = n->n - 1;
    n->pfx = ns > 0 ? common_prefix(n->s[0].p, n->s[0].len, n->s[ns - 1].p, n->s[ns - 1].len) : 0;
    for (int i = 0; i < ns; i++) n->frag[i] = frag_of(n->s[i].p, n->s[i].len, n->pfx);
}

/* First position whose key is >= key. */
static unsigned leaf_lower(const struct kv__leaf *l, const uint8_t *key, size_t klen)
{
    if (!l->n) return 0;
    int c = vs_prefix(key, klen, krec_key(l->r[0]), l->pfx);
    if (c) return c < 0 ? 0 : l->n;
    uint64_t f = frag_of(key, klen, l->pfx);
    unsigned lo = 0, hi = l->n;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        int d = l->frag[mid] < f ? -1 : l->frag[mid] > f ? 1 : rec_cmp(l->r[mid], key, klen);
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The child holding key: the number of separators <= key. */
static int child_of(const struct inner *n, const uint8_t *key, size_t klen)
{
    int ns = n->n - 1;
    int c = vs_prefix(key, klen, n->s[0].p, n->pfx);
    if (c) return c < 0 ? 0 : ns;
    uint64_t f = frag_of(key, klen, n->pfx);
    int lo = 0, hi = ns;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int d = n->frag[mid] < f   ? -1
                : n->frag[mid] > f ? 1
                                   : kv__bytes_cmp(n->s[mid].p, n->s[mid].len, key, klen);
        if (d <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Puts r at pos of a leaf with room, keeping the fragments right. */
static void leaf_put(struct kv__leaf *l, unsigned pos, struct krec *r)
{
    memmove(&l->r[pos + 1], &l->r[pos], (l->n - pos) * sizeof(l->r[0]));
    memmove(&l->frag[pos + 1], &l->frag[pos], (l->n - pos) * sizeof(l->frag[0]));
    l->r[pos] = r;
    l->n++;
    /* a key inside the leaf's range shares its prefix; a new first or last one may not */
    unsigned last = l->n - 1u;
    const struct krec *other = l->r[pos ? 0 : last];
    if (l->n == 1 ||
        ((pos == 0 || pos == last) && vs_prefix(krec_key(r), r->klen, krec_key(other), l->pfx)))
        leaf_refrag(l);
    else
        l->frag[pos] = frag_of(krec_key(r), r->klen, l->pfx);
}

void kv__idx_init(struct kv__idx *x)
{
    memset(x, 0, sizeof(*x));
}

static void free_node(void *node, int height)
{
    if (height == 1) {
        struct kv__leaf *l = node;
        for (unsigned i = 0; i < l->n; i++) free(l->r[i]);
        free(l);
        return;
    }
    struct inner *n = node;
    for (int i = 0; i < n->n; i++) free_node(n->k[i], height - 1);
    for (int i = 0; i + 1 < n->n; i++) free(n->s[i].p);
    free(n);
}

void kv__idx_free(struct kv__idx *x)
{
    if (x->root) free_node(x->root, x->height);
    kv__idx_init(x);
}

/* Descends to the leaf for key, recording the path; returns the leaf. */
static struct kv__leaf *descend(const struct kv__idx *x, const uint8_t *key, size_t klen,
                                struct step *path, int *depth)
{
    void *node = x->root;
    int d = 0;
    for (int h = x->height; h > 1; h--) {
        struct inner *n = node;
        int i = child_of(n, key, klen);
        if (path) path[d] = (struct step){n, i};
        d++;
        node = n->k[i];
    }
    if (depth) *depth = d;
    return node;
}

bool kv__idx_seek(const struct kv__idx *x, const uint8_t *key, size_t klen, struct kv__cur *c)
{
    c->leaf = NULL;
    c->pos = 0;
    if (!x->root) return false;
    struct kv__leaf *l = descend(x, key, klen, NULL, NULL);
    unsigned pos = leaf_lower(l, key, klen);
    if (pos == l->n) {
        if (!l->next) {
            c->leaf = NULL;
            return false;
        }
        l = l->next;
        pos = 0;
    }
    c->leaf = l;
    c->pos = pos;
    return rec_cmp(l->r[pos], key, klen) == 0;
}

struct krec *kv__idx_get(const struct kv__idx *x, const uint8_t *key, size_t klen)
{
    struct kv__cur c;
    return kv__idx_seek(x, key, klen, &c) ? kv__cur_rec(&c) : NULL;
}

struct krec *kv__cur_rec(const struct kv__cur *c)
{
    return c->leaf ? c->leaf->r[c->pos] : NULL;
}

void kv__cur_next(struct kv__cur *c)
{
    if (!c->leaf) return;
    if (++c->pos >= c->leaf->n) {
        c->leaf = c->leaf->next;
        c->pos = 0;
    }
}

void kv__cur_set(struct kv__cur *c, struct krec *r)
{
    assert(c->leaf);
    c->leaf->r[c->pos] = r;
}

/* Inserts (sep, right) after child i of n, which has room. */
static void inner_insert(struct inner *n, int i, struct sep sep, void *right)
{
    assert(n->n < FAN);
    memmove(&n->s[i + 1], &n->s[i], (size_t)(n->n - 1 - i) * sizeof(n->s[0]));
    memmove(&n->k[i + 2], &n->k[i + 1], (size_t)(n->n - 1 - i) * sizeof(n->k[0]));
    n->s[i] = sep;
    n->k[i + 1] = right;
    n->n++;
}

int kv__idx_insert(struct kv__idx *x, struct krec *r, struct kv__cur *at)
{
    const uint8_t *key = krec_key(r);
    size_t klen = r->klen;
    if (!x->root) {
        struct kv__leaf *l = calloc(1, sizeof(*l));
        if (!l) return CC_ENOMEM;
        l->r[0] = r;
        l->n = 1;
        leaf_refrag(l);
        x->root = l;
        x->height = 1;
        x->nkeys++;
        if (at) *at = (struct kv__cur){l, 0};
        return 0;
    }
    struct step path[MAXDEPTH];
    int depth;
    struct kv__leaf *l = descend(x, key, klen, path, &depth);
    unsigned pos = leaf_lower(l, key, klen);
    assert(pos == l->n || rec_cmp(l->r[pos], key, klen) != 0);
    if (l->n < FAN) {
        leaf_put(l, pos, r);
        x->nkeys++;
        if (at) *at = (struct kv__cur){l, pos};
        return 0;
    }

    /* Split. Allocate everything first so a failure leaves the tree as it was: the new leaf,
     * one separator copy, and one node per full ancestor (plus a new root if all are full). */
    int splits = 0;
    while (splits < depth && path[depth - 1 - splits].node->n == FAN) splits++;
    int nnodes = splits + (splits == depth ? 1 : 0);
    void *nodes[MAXDEPTH + 1];
    struct kv__leaf *nl = calloc(1, sizeof(*nl));
    int got = 0;
    bool ok = nl != NULL;
    for (; ok && got < nnodes; got++) {
        nodes[got] = calloc(1, sizeof(struct inner));
        if (!nodes[got]) ok = false;
    }
    /* Appending at the far right (sequential keys) leaves the old leaf full. */
    unsigned sp = (pos == FAN && !l->next) ? FAN : FAN / 2;
    const struct krec *first = pos < sp ? l->r[sp] : (pos == sp ? r : l->r[sp]);
    if (sp == FAN) first = r;
    uint8_t *sepkey = ok ? malloc(first->klen ? first->klen : 1) : NULL;
    if (!ok || !sepkey) {
        free(nl);
        for (int i = 0; i < got; i++) free(nodes[i]);
        free(sepkey);
        return CC_ENOMEM;
    }
    memcpy(sepkey, krec_key(first), first->klen);

    memcpy(nl->r, &l->r[sp], (FAN - sp) * sizeof(l->r[0]));
    nl->n = (uint16_t)(FAN - sp);
    l->n = (uint16_t)sp;
    struct kv__leaf *dst = pos < sp ? l : nl;
    unsigned dpos = pos < sp ? pos : pos - sp;
    memmove(&dst->r[dpos + 1], &dst->r[dpos], (dst->n - dpos) * sizeof(dst->r[0]));
    dst->r[dpos] = r;
    dst->n++;
    leaf_refrag(l);
    leaf_refrag(nl);
    if (at) *at = (struct kv__cur){dst, dpos};
    nl->next = l->next;
    nl->prev = l;
    if (l->next) l->next->prev = nl;
    l->next = nl;
    x->nkeys++;

    struct sep sep = {sepkey, first->klen};
    void *left = l, *right = nl;
    int used = 0;
    for (int d = depth - 1;; d--) {
        if (d < 0) {
            struct inner *root = nodes[used++];
            root->n = 2;
            root->k[0] = left;
            root->k[1] = right;
            root->s[0] = sep;
            inner_refrag(root);
            x->root = root;
            x->height++;
            break;
        }
        struct inner *p = path[d].node;
        int i = path[d].i;
        if (p->n < FAN) {
            inner_insert(p, i, sep, right);
            inner_refrag(p);
            break;
        }
        /* Split p (FAN kids + 1) into 33 | 32 kids, pushing the middle separator up. */
        struct sep ts[FAN];
        void *tk[FAN + 1];
        memcpy(ts, p->s, (size_t)i * sizeof(ts[0]));
        ts[i] = sep;
        memcpy(&ts[i + 1], &p->s[i], (size_t)(FAN - 1 - i) * sizeof(ts[0]));
        memcpy(tk, p->k, (size_t)(i + 1) * sizeof(tk[0]));
        tk[i + 1] = right;
        memcpy(&tk[i + 2], &p->k[i + 1], (size_t)(FAN - 1 - i) * sizeof(tk[0]));
        struct inner *q = nodes[used++];
        int lk = (FAN + 1 + 1) / 2; /* kids kept left */
        p->n = (uint16_t)lk;
        memcpy(p->k, tk, (size_t)lk * sizeof(tk[0]));
        memcpy(p->s, ts, (size_t)(lk - 1) * sizeof(ts[0]));
        q->n = (uint16_t)(FAN + 1 - lk);
        memcpy(q->k, &tk[lk], (size_t)q->n * sizeof(tk[0]));
        memcpy(q->s, &ts[lk], (size_t)(q->n - 1) * sizeof(ts[0]));
        sep = ts[lk - 1];
        inner_refrag(p);
        inner_refrag(q);
        left = p;
        right = q;
    }
    assert(used == nnodes);
    return 0;
}

/* Removes separator si and child si+1 from n. */
static void inner_remove(struct inner *n, int si)
{
    memmove(&n->s[si], &n->s[si + 1], (size_t)(n->n - 2 - si) * sizeof(n->s[0]));
    memmove(&n->k[si + 1], &n->k[si + 2], (size_t)(n->n - 2 - si) * sizeof(n->k[0]));
    n->n--;
}

/* Restores the minimum fill of inner node path[d].node's child... of the inner node at depth
 * d (whose parent is path[d-1]) after it lost a child. */
static void fix_inner(struct kv__idx *x, struct step *path, int d)
{
    for (; d >= 0; d--) {
        struct inner *n = path[d].node;
        if (d == 0) {
            if (n->n == 1) { /* the root lost its last separator: shrink the tree */
                x->root = n->k[0];
                x->height--;
                free(n);
            }
            return;
        }
        if (n->n >= NODE_MIN) return;
        struct inner *p = path[d - 1].node;
        int i = path[d - 1].i;
        int si = i > 0 ? i - 1 : 0;
        struct inner *L = p->k[si], *R = p->k[si + 1];
        if (L->n + R->n <= FAN) {
            L->s[L->n - 1] = p->s[si];
            memcpy(&L->s[L->n], R->s, (size_t)(R->n - 1) * sizeof(R->s[0]));
            memcpy(&L->k[L->n], R->k, (size_t)R->n * sizeof(R->k[0]));
            L->n = (uint16_t)(L->n + R->n);
            free(R);
            inner_remove(p, si);
            inner_refrag(L);
            inner_refrag(p);
            continue; /* p lost a child */
        }
        if (n == R) { /* borrow L's last child */
            memmove(&R->s[1], &R->s[0], (size_t)(R->n - 1) * sizeof(R->s[0]));
            memmove(&R->k[1], &R->k[0], (size_t)R->n * sizeof(R->k[0]));
            R->k[0] = L->k[L->n - 1];
            R->s[0] = p->s[si];
            p->s[si] = L->s[L->n - 2];
            R->n++;
            L->n--;
        } else { /* borrow R's first child */
            L->s[L->n - 1] = p->s[si];
            L->k[L->n] = R->k[0];
            L->n++;
            p->s[si] = R->s[0];
            memmove(&R->s[0], &R->s[1], (size_t)(R->n - 2) * sizeof(R->s[0]));
            memmove(&R->k[0], &R->k[1], (size_t)(R->n - 1) * sizeof(R->k[0]));
            R->n--;
        }
        inner_refrag(L);
        inner_refrag(R);
        inner_refrag(p);
        return;
    }
}

struct krec *kv__idx_remove(struct kv__idx *x, const uint8_t *key, size_t klen)
{
    struct step path[MAXDEPTH];
    int depth;
    assert(x->root);
    struct kv__leaf *l = descend(x, key, klen, path, &depth);
    unsigned pos = leaf_lower(l, key, klen);
    assert(pos < l->n && rec_cmp(l->r[pos], key, klen) == 0);
    struct krec *r = l->r[pos];
    memmove(&l->r[pos], &l->r[pos + 1], (l->n - pos - 1) * sizeof(l->r[0]));
    memmove(&l->frag[pos], &l->frag[pos + 1], (l->n - pos - 1) * sizeof(l->frag[0]));
    l->n--; /* the remaining keys still share the prefix: fragments stay valid */
    x->nkeys--;
    if (depth == 0) {
        if (!l->n) {
            free(l);
            x->root = NULL;
            x->height = 0;
        }
        return r;
    }
    if (l->n >= LEAF_MIN) return r;
    struct inner *p = path[depth - 1].node;
    int i = path[depth - 1].i;
    int si = i > 0 ? i - 1 : 0;
    struct kv__leaf *L = p->k[si], *R = p->k[si + 1];
    if (L->n + R->n <= FAN) {
        memcpy(&L->r[L->n], R->r, R->n * sizeof(R->r[0]));
        L->n = (uint16_t)(L->n + R->n);
        L->next = R->next;
        if (R->next) R->next->prev = L;
        free(R);
        free(p->s[si].p);
        inner_remove(p, si);
        leaf_refrag(L);
        inner_refrag(p);
        fix_inner(x, path, depth - 1);
        return r;
    }
    /* Borrow one record; the new separator needs a copy. Without memory the leaf simply stays
     * underfull, which searches tolerate. */
    struct krec *moved = l == R ? L->r[L->n - 1] : R->r[1];
    uint8_t *sk = malloc(moved->klen ? moved->klen : 1);
    if (!sk) return r;
    if (l == R) {
        memmove(&R->r[1], &R->r[0], R->n * sizeof(R->r[0]));
        R->r[0] = L->r[--L->n];
        R->n++;
    } else {
        L->r[L->n++] = R->r[0];
        memmove(&R->r[0], &R->r[1], (R->n - 1) * sizeof(R->r[0]));
        R->n--;
    }
    memcpy(sk, krec_key(moved), moved->klen);
    free(p->s[si].p);
    p->s[si] = (struct sep){sk, moved->klen};
    leaf_refrag(L);
    leaf_refrag(R);
    inner_refrag(p);
    return r;
}

/* ---- verification (tests) ---- */

struct vstate {
    const struct kv__leaf *prev_leaf;
    const struct krec *prev_rec;
    uint64_t keys;
    int leaf_depth;
};

static int verify_node(const void *node, int height, int depth, const struct sep *lo,
                       const struct sep *hi, struct vstate *vs)
{
    if (height == 1) {
        const struct kv__leaf *l = node;
        if (!l->n || l->prev != vs->prev_leaf) return CC_ECORRUPT;
        if (vs->prev_leaf && vs->prev_leaf->next != l) return CC_ECORRUPT;
        if (vs->leaf_depth >= 0 && vs->leaf_depth != depth) return CC_ECORRUPT;
        vs->leaf_depth = depth;
        for (unsigned i = 0; i < l->n; i++) {
            const struct krec *r = l->r[i];
            if (vs_prefix(krec_key(r), r->klen, krec_key(l->r[0]), l->pfx) ||
                l->frag[i] != frag_of(krec_key(r), r->klen, l->pfx))
                return CC_ECORRUPT;
            if (vs->prev_rec && kv__bytes_cmp(krec_key(vs->prev_rec), vs->prev_rec->klen,
                                              krec_key(r), r->klen) >= 0)
                return CC_ECORRUPT;
            if (lo && rec_cmp(r, lo->p, lo->len) < 0) return CC_ECORRUPT;
            if (hi && rec_cmp(r, hi->p, hi->len) >= 0) return CC_ECORRUPT;
            vs->prev_rec = r;
            vs->keys++;
        }
        vs->prev_leaf = l;
        return 0;
    }
    const struct inner *n = node;
    if (n->n < 2) return CC_ECORRUPT;
    for (int i = 0; i + 1 < n->n; i++)
        if (vs_prefix(n->s[i].p, n->s[i].len, n->s[0].p, n->pfx) ||
            n->frag[i] != frag_of(n->s[i].p, n->s[i].len, n->pfx))
            return CC_ECORRUPT;
    for (int i = 0; i < n->n; i++) {
        const struct sep *a = i ? &n->s[i - 1] : lo;
        const struct sep *b = i + 1 < n->n ? &n->s[i] : hi;
        int rc = verify_node(n->k[i], height - 1, depth + 1, a, b, vs);
        if (rc) return rc;
    }
    return 0;
}

int kv__idx_verify(const struct kv__idx *x)
{
    if (!x->root) return x->height == 0 && x->nkeys == 0 ? 0 : CC_ECORRUPT;
    struct vstate vs = {NULL, NULL, 0, -1};
    int rc = verify_node(x->root, x->height, 0, NULL, NULL, &vs);
    if (rc) return rc;
    if (vs.prev_leaf->next) return CC_ECORRUPT;
    return vs.keys == x->nkeys ? 0 : CC_ECORRUPT;
}
