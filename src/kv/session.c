/* session.c — client sessions for exactly-once commands (Raft thesis §6.3): per client the
 * last sequence number and its result, in a bounded table evicting the least recently used
 * client (by Raft index) deterministically; persisted in the meta CF and so part of snapshots. */
#include <stdio.h>
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"
#include "util/hash64.h"

int kv__sessions_init(struct kv__sessions *S)
{
    memset(S, 0, sizeof(*S));
    S->nbuckets = 1024;
    while (S->nbuckets < KV_SESSIONS_MAX) S->nbuckets *= 2;
    S->buckets = calloc(S->nbuckets, sizeof(*S->buckets));
    return S->buckets ? 0 : CC_ENOMEM;
}

void kv__sessions_free(struct kv__sessions *S)
{
    struct session *s = S->head;
    while (s) {
        struct session *n = s->next;
        free(s->res);
        free(s);
        s = n;
    }
    free(S->buckets);
    memset(S, 0, sizeof(*S));
}

static struct session **bucket(struct kv__sessions *S, uint64_t client)
{
    return &S->buckets[hash64_final(client) & (S->nbuckets - 1)];
}

static struct session *find(struct kv__sessions *S, uint64_t client)
{
    for (struct session *s = *bucket(S, client); s; s = s->hnext)
        if (s->client_id == client) return s;
    return NULL;
}

static void lru_unlink(struct kv__sessions *S, struct session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        S->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        S->tail = s->prev;
    s->prev = s->next = NULL;
}

static void lru_append(struct kv__sessions *S, struct session *s)
{
    s->prev = S->tail;
    s->next = NULL;
    if (S->tail)
        S->tail->next = s;
    else
        S->head = s;
    S->tail = s;
}

static void remove_session(struct kv__sessions *S, struct session *s)
{
    lru_unlink(S, s);
    for (struct session **p = bucket(S, s->client_id); *p; p = &(*p)->hnext)
        if (*p == s) {
            *p = s->hnext;
            break;
        }
    S->count--;
    free(s->res);
    free(s);
}

static void session_key(uint8_t k[9], uint64_t client)
{
    k[0] = META_SESSION;
    put_u64be(k + 1, client);
}

int kv__session_check(struct kv *kv, uint64_t client_id, uint64_t seq, struct kv_result *res)
{
    struct session *s = find(&kv->sessions, client_id);
    if (!s || seq > s->seq) return 0;
    uint8_t type = res->type;
    if (seq < s->seq || !s->res) {
        res->err = CC_EEXIST;
        res->msg = seq < s->seq ? KV_MSG_STALE_SEQ : KV_MSG_RESULT_FORGOTTEN;
        res->rev = kv->rev;
        return 1;
    }
    int rc = kv__result_decode(s->res, s->res_len, res);
    if (rc)
        return kv__fail(kv, rc, "session %llu: stored result is corrupt",
                        (unsigned long long)client_id);
    res->type = type;
    res->duplicate = true;
    return 1;
}

int kv__session_record(struct kv *kv, uint64_t client_id, uint64_t seq, uint64_t index,
                       const struct kv_result *res)
{
    struct kv__sessions *S = &kv->sessions;
    struct buf b;
    buf_init(&b, KV_SESSION_RESULT_MAX);
    int rc = kv__result_encode(res, &b);
    if (rc == CC_ETOOBIG) { /* remembered as "forgotten": a retry gets a clear error */
        buf_free(&b);
        rc = 0;
    }
    if (rc) {
        buf_free(&b);
        return rc;
    }
    struct session *s = find(S, client_id);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s) {
            buf_free(&b);
            return CC_ENOMEM;
        }
        if (S->count >= KV_SESSIONS_MAX) { /* evict the least recently used client */
            uint8_t k[9];
            session_key(k, S->head->client_id);
            rocksdb_writebatch_delete_cf(kv->batch.wb, kv->cf[CF_META], (const char *)k, 9);
            remove_session(S, S->head);
        }
        s->client_id = client_id;
        struct session **bk = bucket(S, client_id);
        s->hnext = *bk;
        *bk = s;
        S->count++;
    } else {
        lru_unlink(S, s);
    }
    lru_append(S, s);
    s->seq = seq;
    s->index = index;
    free(s->res);
    s->res = b.data; /* ownership moves from the buf */
    s->res_len = (uint32_t)b.len;

    struct buf v;
    buf_init(&v, KV_SESSION_RESULT_MAX + 32);
    rc = buf_put_uvarint(&v, seq);
    if (!rc) rc = buf_put_uvarint(&v, index);
    if (!rc) rc = buf_put_u8(&v, s->res ? 1 : 0);
    if (!rc) rc = buf_append(&v, s->res, s->res_len);
    if (!rc) {
        uint8_t k[9];
        session_key(k, client_id);
        rocksdb_writebatch_put_cf(kv->batch.wb, kv->cf[CF_META], (const char *)k, 9,
                                  (const char *)v.data, v.len);
    }
    buf_free(&v);
    return rc;
}

static int by_index(const void *a, const void *b)
{
    const struct session *x = *(struct session *const *)a, *y = *(struct session *const *)b;
    return x->index < y->index ? -1 : x->index > y->index;
}

int kv__sessions_load(struct kv *kv, char *err, size_t errlen)
{
    struct kv__sessions *S = &kv->sessions;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, kv->ropts, kv->cf[CF_META]);
    struct session **all = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    char prefix = META_SESSION;
    for (rocksdb_iter_seek(it, &prefix, 1); rocksdb_iter_valid(it) && !rc; rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        if (!kl || k[0] != META_SESSION) break;
        struct cursor c;
        cursor_init(&c, v, vl);
        uint64_t seq = cursor_uvarint(&c), index = cursor_uvarint(&c);
        uint8_t has = cursor_u8(&c);
        if (kl != 9 || c.err || has > 1 || (has && !c.left) || (!has && c.left) ||
            c.left > KV_SESSION_RESULT_MAX || n >= KV_SESSIONS_MAX) {
            rc = CC_ECORRUPT;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct session **na = realloc(all, cap * sizeof(*na));
            if (!na) {
                rc = CC_ENOMEM;
                break;
            }
            all = na;
        }
        struct session *s = calloc(1, sizeof(*s));
        if (!s || (has && !(s->res = malloc(c.left)))) {
            free(s);
            rc = CC_ENOMEM;
            break;
        }
        s->client_id = get_u64be(k + 1);
        s->seq = seq;
        s->index = index;
        if (has) {
            memcpy(s->res, c.p, c.left);
            s->res_len = (uint32_t)c.left;
        }
        all[n++] = s;
    }
    rocksdb_iter_destroy(it);
    if (!rc && n) qsort(all, n, sizeof(*all), by_index);
    for (size_t i = 0; i < n; i++) {
        if (rc) {
            free(all[i]->res);
            free(all[i]);
            continue;
        }
        struct session **bk = bucket(S, all[i]->client_id);
        all[i]->hnext = *bk;
        *bk = all[i];
        lru_append(S, all[i]);
        S->count++;
    }
    free(all);
    if (rc) snprintf(err, errlen, "load sessions: %s", cc_strerror(rc));
    return rc;
}
