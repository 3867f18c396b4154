/* auth.c — the replicated auth store (etcd auth/store.go): users, roles, permissions and the
 * auth revision, kept in memory and in the "default" column family, changed by AUTH commands. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"

/* Stored records, under META_AUTH + kind + name in CF_META:
 *   user ('u'): u8 version(=1) | u8 bits (no_password) | bytes hash | uv n | bytes role*
 *   role ('r'): u8 version(=1) | uv n | (u8 type | bytes key | bytes range_end)*
 *   revision ('v', no name): u64 big-endian */
#define AUTH_REC_VERSION 1
#define KIND_USER        'u'
#define KIND_ROLE        'r'
#define KIND_REV         'v'

/* A user or a role: its name and stored record, and the record decoded (pointing into rec). */
struct kv__auth_ent {
    struct kv_bytes name;
    bool no_password;
    struct kv_bytes hash;
    struct kv_bytes *roles; /* user: granted roles, sorted, distinct */
    size_t n_roles;
    struct kv_auth_perm *perms; /* role: permissions sorted by key (stable) */
    size_t n_perms;
    uint8_t *mem; /* name bytes, then the record */
    size_t rec_len;
};

static const uint8_t *ent_rec(const struct kv__auth_ent *e)
{
    return e->mem + e->name.len;
}

static void ent_free(struct kv__auth_ent *e)
{
    if (!e) return;
    free(e->roles);
    free(e->perms);
    free(e->mem);
    free(e);
}

static struct kv_bytes c_bytes(struct cursor *c, size_t max)
{
    struct kv_bytes s = {(const uint8_t *)"", 0};
    uint64_t n = cursor_uvarint(c);
    if (c->err || n > max || n > c->left) {
        c->err = true;
        return s;
    }
    s.len = (size_t)n;
    if (n) s.p = cursor_bytes(c, s.len);
    return s;
}

/* Decodes a stored record (copied) into a new entry: 0, CC_ECORRUPT, CC_ENOMEM. */
static int ent_new(char kind, struct kv_bytes name, const uint8_t *rec, size_t len,
                   struct kv__auth_ent **out)
{
    *out = NULL;
    if (!name.len || name.len > KV_AUTH_NAME_MAX) return CC_ECORRUPT;
    struct kv__auth_ent *e = calloc(1, sizeof(*e));
    if (!e || !(e->mem = malloc(name.len + len + 1))) {
        free(e);
        return CC_ENOMEM;
    }
    memcpy(e->mem, name.p, name.len);
    if (len) memcpy(e->mem + name.len, rec, len);
    e->name.p = e->mem;
    e->name.len = name.len;
    e->rec_len = len;
    struct cursor c;
    cursor_init(&c, ent_rec(e), len);
    if (cursor_u8(&c) != AUTH_REC_VERSION) c.err = true;
    if (kind == KIND_USER) {
        uint8_t bits = cursor_u8(&c);
        if (bits > 1) c.err = true;
        e->no_password = bits & 1;
        e->hash = c_bytes(&c, KV_AUTH_HASH_MAX);
    }
    uint64_t n = cursor_uvarint(&c);
    size_t max = kind == KIND_USER ? KV_AUTH_GRANTS_MAX : KV_AUTH_PERMS_MAX;
    if (c.err || n > max || n > c.left) goto corrupt;
    if (n && kind == KIND_USER && !(e->roles = calloc((size_t)n, sizeof(*e->roles)))) goto nomem;
    if (n && kind == KIND_ROLE && !(e->perms = calloc((size_t)n, sizeof(*e->perms)))) goto nomem;
    for (size_t i = 0; i < n && !c.err; i++) {
        if (kind == KIND_USER) {
            e->roles[i] = c_bytes(&c, KV_AUTH_NAME_MAX);
            if (!c.err &&
                (!e->roles[i].len || (i && kv__bytes_cmp(e->roles[i - 1].p, e->roles[i - 1].len,
                                                         e->roles[i].p, e->roles[i].len) >= 0)))
                c.err = true;
        } else {
            struct kv_auth_perm *p = &e->perms[i];
            p->type = cursor_u8(&c);
            p->key = c_bytes(&c, KV_KEY_MAX);
            p->range_end = c_bytes(&c, KV_KEY_MAX);
            if (p->type > KV_PERM_READWRITE) c.err = true;
        }
    }
    if (c.err || c.left) goto corrupt;
    if (kind == KIND_USER)
        e->n_roles = (size_t)n;
    else
        e->n_perms = (size_t)n;
    *out = e;
    return 0;
corrupt:
    ent_free(e);
    return CC_ECORRUPT;
nomem:
    ent_free(e);
    return CC_ENOMEM;
}

/* Builds a user record and its entry. roles: n sorted distinct names. */
static int user_new(struct kv_bytes name, bool no_password, struct kv_bytes hash,
                    const struct kv_bytes *roles, size_t n, struct kv__auth_ent **out)
{
    struct buf b;
    buf_init(&b, (size_t)64 << 20);
    int rc = buf_put_u8(&b, AUTH_REC_VERSION);
    if (!rc) rc = buf_put_u8(&b, no_password ? 1 : 0);
    if (!rc) rc = buf_put_uvarint(&b, hash.len);
    if (!rc) rc = buf_append(&b, hash.p, hash.len);
    if (!rc) rc = buf_put_uvarint(&b, n);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = buf_put_uvarint(&b, roles[i].len);
        if (!rc) rc = buf_append(&b, roles[i].p, roles[i].len);
    }
    if (!rc) rc = ent_new(KIND_USER, name, b.data, b.len, out);
    buf_free(&b);
    assert(rc != CC_ECORRUPT);
    return rc;
}

static int role_new(struct kv_bytes name, const struct kv_auth_perm *perms, size_t n,
                    struct kv__auth_ent **out)
{
    struct buf b;
    buf_init(&b, (size_t)256 << 20);
    int rc = buf_put_u8(&b, AUTH_REC_VERSION);
    if (!rc) rc = buf_put_uvarint(&b, n);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = buf_put_u8(&b, perms[i].type);
        if (!rc) rc = buf_put_uvarint(&b, perms[i].key.len);
        if (!rc) rc = buf_append(&b, perms[i].key.p, perms[i].key.len);
        if (!rc) rc = buf_put_uvarint(&b, perms[i].range_end.len);
        if (!rc) rc = buf_append(&b, perms[i].range_end.p, perms[i].range_end.len);
    }
    if (!rc) rc = ent_new(KIND_ROLE, name, b.data, b.len, out);
    buf_free(&b);
    assert(rc != CC_ECORRUPT);
    return rc;
}

/* ---- the sorted tables ---- */

static int name_cmp(struct kv_bytes a, struct kv_bytes b)
{
    return kv__bytes_cmp(a.p, a.len, b.p, b.len);
}

/* Position of name in the table (found) or where it would go. */
static size_t tab_find(struct kv__auth_ent *const *t, size_t n, struct kv_bytes name, bool *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(t[mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int tab_insert(struct kv__auth_ent ***t, uint32_t *n, uint32_t *cap, size_t at,
                      struct kv__auth_ent *e)
{
    if (*n == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 16;
        struct kv__auth_ent **nt = realloc(*t, ncap * sizeof(*nt));
        if (!nt) return CC_ENOMEM;
        *t = nt;
        *cap = ncap;
    }
    memmove(*t + at + 1, *t + at, (*n - at) * sizeof(**t));
    (*t)[at] = e;
    (*n)++;
    return 0;
}

static void tab_remove(struct kv__auth_ent **t, uint32_t *n, size_t at)
{
    ent_free(t[at]);
    memmove(t + at, t + at + 1, (*n - at - 1) * sizeof(*t));
    (*n)--;
}

/* ---- writing to the batch ---- */

static int put_rec(struct kv *kv, char kind, const struct kv__auth_ent *e, bool del)
{
    uint8_t k[2 + KV_AUTH_NAME_MAX];
    assert(e->name.len <= KV_AUTH_NAME_MAX);
    k[0] = META_AUTH;
    k[1] = (uint8_t)kind;
    memcpy(k + 2, e->name.p, e->name.len);
    if (del)
        rocksdb_writebatch_delete_cf(kv->batch.wb, kv->cf[CF_META], (const char *)k,
                                     e->name.len + 2);
    else
        rocksdb_writebatch_put_cf(kv->batch.wb, kv->cf[CF_META], (const char *)k, e->name.len + 2,
                                  (const char *)ent_rec(e), e->rec_len);
    return 0;
}

/* etcd commitRevision: every successful change bumps the auth revision by one. */
static void commit_rev(struct kv *kv)
{
    uint8_t k[2] = {META_AUTH, KIND_REV}, v[8];
    kv->auth.rev++;
    put_u64be(v, kv->auth.rev);
    rocksdb_writebatch_put_cf(kv->batch.wb, kv->cf[CF_META], (const char *)k, 2, (const char *)v,
                              8);
}

/* Replaces the table slot at `at` with e (already built) and writes it. */
static void replace(struct kv *kv, struct kv__auth_ent **t, size_t at, char kind,
                    struct kv__auth_ent *e)
{
    ent_free(t[at]);
    t[at] = e;
    put_rec(kv, kind, e, false);
}

/* Inserts a new user or role (e, taken over) at `at` of its table and writes it. */
static int add(struct kv *kv, struct kv__auth_ent ***t, uint32_t *n, uint32_t *cap, size_t at,
               char kind, struct kv__auth_ent *e)
{
    int rc = tab_insert(t, n, cap, at, e);
    if (rc) {
        ent_free(e);
        return rc;
    }
    put_rec(kv, kind, e, false);
    commit_rev(kv);
    return 0;
}

/* A copy of user u's roles without `role`; *removed says whether it was there. */
static struct kv_bytes *roles_without(const struct kv__auth_ent *u, struct kv_bytes role, size_t *n,
                                      bool *removed)
{
    *n = 0;
    *removed = false;
    struct kv_bytes *r = malloc((u->n_roles + 1) * sizeof(*r));
    if (!r) return NULL;
    for (size_t i = 0; i < u->n_roles; i++) {
        if (!name_cmp(u->roles[i], role))
            *removed = true;
        else
            r[(*n)++] = u->roles[i];
    }
    return r;
}

/* ---- the commands ---- */

static const struct kv_bytes ROOT = {(const uint8_t *)"root", 4};

static int fail(struct kv_result *res, int err, int msg)
{
    res->err = err;
    res->msg = msg;
    return 0;
}

static int user_cmd(struct kv *kv, const struct kv_auth *c, struct kv_result *res)
{
    struct kv__auth *A = &kv->auth;
    bool found;
    size_t at = tab_find(A->users, A->n_users, c->user, &found);
    if (c->op == KV_AUTH_USER_ADD) {
        if (found) return fail(res, CC_EEXIST, KV_MSG_USER_EXISTS);
        if (A->n_users >= KV_AUTH_USERS_MAX) return fail(res, CC_ETOOBIG, KV_MSG_AUTH_LIMIT);
        struct kv_bytes hash = c->no_password ? (struct kv_bytes){(const uint8_t *)"", 0} : c->hash;
        struct kv__auth_ent *e;
        int rc = user_new(c->user, c->no_password, hash, NULL, 0, &e);
        return rc ? rc : add(kv, &A->users, &A->n_users, &A->cap_users, at, KIND_USER, e);
    }
    if (!found) return fail(res, CC_ENOTFOUND, KV_MSG_USER_NOT_FOUND);
    struct kv__auth_ent *u = A->users[at], *e = NULL;
    int rc = 0;
    switch (c->op) {
    case KV_AUTH_USER_DELETE:
        put_rec(kv, KIND_USER, u, true);
        tab_remove(A->users, &A->n_users, at);
        break;
    case KV_AUTH_USER_PASSWORD: /* etcd keeps the options (no_password) as they were */
        rc = user_new(u->name, u->no_password, c->hash, u->roles, u->n_roles, &e);
        break;
    case KV_AUTH_USER_GRANT: {
        bool rfound = true;
        if (name_cmp(c->role, ROOT)) tab_find(A->roles, A->n_roles, c->role, &rfound);
        if (!rfound) return fail(res, CC_ENOTFOUND, KV_MSG_ROLE_NOT_FOUND);
        size_t pos = 0;
        while (pos < u->n_roles && name_cmp(u->roles[pos], c->role) < 0) pos++;
        if (pos < u->n_roles && !name_cmp(u->roles[pos], c->role)) return 0; /* etcd: no change */
        if (u->n_roles >= KV_AUTH_GRANTS_MAX) return fail(res, CC_ETOOBIG, KV_MSG_AUTH_LIMIT);
        struct kv_bytes *r = malloc((u->n_roles + 1) * sizeof(*r));
        if (!r) return CC_ENOMEM;
        if (pos) memcpy(r, u->roles, pos * sizeof(*r));
        r[pos] = c->role;
        if (u->n_roles > pos) memcpy(r + pos + 1, u->roles + pos, (u->n_roles - pos) * sizeof(*r));
        rc = user_new(u->name, u->no_password, u->hash, r, u->n_roles + 1, &e);
        free(r);
        break;
    }
    case KV_AUTH_USER_REVOKE: {
        size_t n;
        bool removed;
        struct kv_bytes *r = roles_without(u, c->role, &n, &removed);
        if (!r) return CC_ENOMEM;
        if (removed) rc = user_new(u->name, u->no_password, u->hash, r, n, &e);
        free(r);
        if (!removed) return fail(res, CC_ENOTFOUND, KV_MSG_ROLE_NOT_GRANTED);
        break;
    }
    default:
        assert(0);
    }
    if (rc) return rc;
    if (e) replace(kv, A->users, at, KIND_USER, e);
    commit_rev(kv);
    return 0;
}

/* etcd RoleDelete: the role is also revoked from every user that has it. */
static int revoke_everywhere(struct kv *kv, struct kv_bytes role)
{
    struct kv__auth *A = &kv->auth;
    for (size_t i = 0; i < A->n_users; i++) {
        size_t n;
        bool removed;
        struct kv_bytes *r = roles_without(A->users[i], role, &n, &removed);
        if (!r) return CC_ENOMEM;
        struct kv__auth_ent *e = NULL, *u = A->users[i];
        int rc = removed ? user_new(u->name, u->no_password, u->hash, r, n, &e) : 0;
        free(r);
        if (rc) return rc;
        if (e) replace(kv, A->users, i, KIND_USER, e);
    }
    return 0;
}

static int role_cmd(struct kv *kv, const struct kv_auth *c, struct kv_result *res)
{
    struct kv__auth *A = &kv->auth;
    bool found;
    size_t at = tab_find(A->roles, A->n_roles, c->role, &found);
    if (c->op == KV_AUTH_ROLE_ADD) {
        if (found) return fail(res, CC_EEXIST, KV_MSG_ROLE_EXISTS);
        if (A->n_roles >= KV_AUTH_ROLES_MAX) return fail(res, CC_ETOOBIG, KV_MSG_AUTH_LIMIT);
        struct kv__auth_ent *e;
        int rc = role_new(c->role, NULL, 0, &e);
        return rc ? rc : add(kv, &A->roles, &A->n_roles, &A->cap_roles, at, KIND_ROLE, e);
    }
    if (!found) return fail(res, CC_ENOTFOUND, KV_MSG_ROLE_NOT_FOUND);
    struct kv__auth_ent *r = A->roles[at], *e = NULL;
    int rc = 0;
    if (c->op == KV_AUTH_ROLE_DELETE) {
        put_rec(kv, KIND_ROLE, r, true);
        tab_remove(A->roles, &A->n_roles, at);
        rc = revoke_everywhere(kv, c->role);
        if (!rc) commit_rev(kv);
        return rc;
    }
    struct kv_auth_perm *p = malloc((r->n_perms + 1) * sizeof(*p));
    if (!p) return CC_ENOMEM;
    size_t n = 0;
    if (c->op == KV_AUTH_ROLE_GRANT) {
        /* etcd: the first permission with key >= the new key is updated when key and range end
         * match; otherwise the new one goes after every permission with a key <= its own. */
        size_t first = 0;
        while (first < r->n_perms && name_cmp(r->perms[first].key, c->key) < 0) first++;
        if (r->n_perms) memcpy(p, r->perms, r->n_perms * sizeof(*p));
        n = r->n_perms;
        if (first < n && !name_cmp(p[first].key, c->key) &&
            !name_cmp(p[first].range_end, c->range_end)) {
            p[first].type = c->perm;
        } else if (n >= KV_AUTH_PERMS_MAX) {
            free(p);
            return fail(res, CC_ETOOBIG, KV_MSG_AUTH_LIMIT);
        } else {
            size_t pos = first;
            while (pos < n && name_cmp(p[pos].key, c->key) <= 0) pos++;
            memmove(p + pos + 1, p + pos, (n - pos) * sizeof(*p));
            p[pos] = (struct kv_auth_perm){c->perm, c->key, c->range_end};
            n++;
        }
    } else {
        assert(c->op == KV_AUTH_ROLE_REVOKE);
        for (size_t i = 0; i < r->n_perms; i++)
            if (name_cmp(r->perms[i].key, c->key) || name_cmp(r->perms[i].range_end, c->range_end))
                p[n++] = r->perms[i];
        if (n == r->n_perms) {
            free(p);
            return fail(res, CC_ENOTFOUND, KV_MSG_PERM_NOT_GRANTED);
        }
    }
    rc = role_new(r->name, p, n, &e);
    free(p);
    if (rc) return rc;
    replace(kv, A->roles, at, KIND_ROLE, e);
    commit_rev(kv);
    return 0;
}

int kv__auth_cmd(struct kv *kv, const struct kv_auth *c, struct kv_result *res)
{
    switch (c->op) {
    case KV_AUTH_USER_ADD:
    case KV_AUTH_USER_DELETE:
    case KV_AUTH_USER_PASSWORD:
    case KV_AUTH_USER_GRANT:
    case KV_AUTH_USER_REVOKE:
        return user_cmd(kv, c, res);
    default:
        return role_cmd(kv, c, res);
    }
}

/* ---- loading ---- */

void kv__auth_free(struct kv__auth *A)
{
    for (size_t i = 0; i < A->n_users; i++) ent_free(A->users[i]);
    for (size_t i = 0; i < A->n_roles; i++) ent_free(A->roles[i]);
    free(A->users);
    free(A->roles);
    memset(A, 0, sizeof(*A));
}

int kv__auth_load(struct kv *kv, char *err, size_t errlen)
{
    struct kv__auth *A = &kv->auth;
    kv__auth_free(A);
    A->rev = 1; /* etcd starts the auth revision at 1 */
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, kv->ropts, kv->cf[CF_META]);
    char prefix = META_AUTH;
    int rc = 0;
    for (rocksdb_iter_seek(it, &prefix, 1); rocksdb_iter_valid(it) && !rc; rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        if (!kl || k[0] != META_AUTH) break;
        if (kl == 2 && k[1] == KIND_REV) {
            if (vl != 8 || !get_u64be(v)) rc = CC_ECORRUPT;
            if (!rc) A->rev = get_u64be(v);
            continue;
        }
        if (kl < 3 || (k[1] != KIND_USER && k[1] != KIND_ROLE)) {
            rc = CC_ECORRUPT;
            break;
        }
        bool user = k[1] == KIND_USER;
        if ((user ? A->n_users : A->n_roles) >= (user ? KV_AUTH_USERS_MAX : KV_AUTH_ROLES_MAX)) {
            rc = CC_ECORRUPT;
            break;
        }
        struct kv__auth_ent *e;
        struct kv_bytes name = {k + 2, kl - 2};
        rc = ent_new((char)k[1], name, v, vl, &e);
        if (rc) break;
        /* RocksDB iterates in key order, so appending keeps the tables sorted */
        rc = user ? tab_insert(&A->users, &A->n_users, &A->cap_users, A->n_users, e)
                  : tab_insert(&A->roles, &A->n_roles, &A->cap_roles, A->n_roles, e);
        if (rc) ent_free(e);
    }
    char *rerr = NULL;
    if (!rc) rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    if (rerr) {
        snprintf(err, errlen, "auth load: %s", rerr);
        rocksdb_free(rerr);
        return CC_EIO;
    }
    if (rc) snprintf(err, errlen, "auth load: %s", cc_strerror(rc));
    return rc;
}

/* ---- reads ---- */

uint64_t kv_auth_revision(const struct kv *kv)
{
    return kv->auth.rev;
}

static int dup_bytes(struct kv_arena *a, struct kv_bytes *s)
{
    if (!s->len) {
        s->p = (const uint8_t *)"";
        return 0;
    }
    s->p = kv_arena_dup(a, s->p, s->len);
    return s->p ? 0 : CC_ENOMEM;
}

int kv_auth_user_get(struct kv *kv, const void *name, size_t len, struct kv_arena *a,
                     struct kv_auth_user *out)
{
    memset(out, 0, sizeof(*out));
    bool found;
    struct kv_bytes n = {name, len};
    size_t at = tab_find(kv->auth.users, kv->auth.n_users, n, &found);
    if (!found) return CC_ENOTFOUND;
    const struct kv__auth_ent *u = kv->auth.users[at];
    out->no_password = u->no_password;
    out->hash = u->hash;
    int rc = dup_bytes(a, &out->hash);
    if (!rc && u->n_roles && !(out->roles = kv_arena_calloc(a, u->n_roles, sizeof(*out->roles))))
        rc = CC_ENOMEM;
    for (size_t i = 0; i < u->n_roles && !rc; i++) {
        out->roles[i] = u->roles[i];
        rc = dup_bytes(a, &out->roles[i]);
    }
    if (!rc) out->n_roles = u->n_roles;
    return rc;
}

int kv_auth_role_get(struct kv *kv, const void *name, size_t len, struct kv_arena *a,
                     struct kv_auth_perm **perms, size_t *n)
{
    *perms = NULL;
    *n = 0;
    bool found;
    struct kv_bytes nm = {name, len};
    size_t at = tab_find(kv->auth.roles, kv->auth.n_roles, nm, &found);
    if (!found) return CC_ENOTFOUND;
    const struct kv__auth_ent *r = kv->auth.roles[at];
    if (!r->n_perms) return 0;
    struct kv_auth_perm *p = kv_arena_calloc(a, r->n_perms, sizeof(*p));
    if (!p) return CC_ENOMEM;
    for (size_t i = 0; i < r->n_perms; i++) {
        p[i] = r->perms[i];
        if (dup_bytes(a, &p[i].key) || dup_bytes(a, &p[i].range_end)) return CC_ENOMEM;
    }
    *perms = p;
    *n = r->n_perms;
    return 0;
}

static int list_names(struct kv__auth_ent *const *t, size_t cnt, struct kv_arena *a,
                      struct kv_bytes **names, size_t *n)
{
    *names = NULL;
    *n = 0;
    if (!cnt) return 0;
    struct kv_bytes *v = kv_arena_calloc(a, cnt, sizeof(*v));
    if (!v) return CC_ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        v[i] = t[i]->name;
        if (dup_bytes(a, &v[i])) return CC_ENOMEM;
    }
    *names = v;
    *n = cnt;
    return 0;
}

int kv_auth_users(struct kv *kv, struct kv_arena *a, struct kv_bytes **names, size_t *n)
{
    return list_names(kv->auth.users, kv->auth.n_users, a, names, n);
}

int kv_auth_roles(struct kv *kv, struct kv_arena *a, struct kv_bytes **names, size_t *n)
{
    return list_names(kv->auth.roles, kv->auth.n_roles, a, names, n);
}
