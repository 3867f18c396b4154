/* testutil.c — helpers shared by the storage tests (see testutil.h). */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

const struct logger *tu_logger(void)
{
    static struct logger lg;
    static int ready;
    if (!ready) {
        int fd = getenv("STORAGE_TEST_LOG") ? 2 : open("/dev/null", O_WRONLY | O_CLOEXEC);
        log_init(&lg, "test", fd, LOG_DEBUG);
        ready = 1;
    }
    return &lg;
}

int tu_soak(void)
{
    const char *s = getenv("CONCUR_SOAK");
    return s && *s && strcmp(s, "0") != 0 ? 25 : 1;
}

char *tu_mkdtemp(const char *prefix)
{
    char tmpl[256];
    snprintf(tmpl, sizeof(tmpl), "./%s-XXXXXX", prefix);
    if (!mkdtemp(tmpl)) abort();
    char *p = realpath(tmpl, NULL);
    if (!p) abort();
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

void tu_rmrf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_fill(uint64_t index, uint64_t term, uint32_t len, uint8_t *out)
{
    struct rng r;
    rng_seed(&r, index * 0x9e3779b97f4a7c15ull ^ term * 0xc2b2ae3d27d4eb4full ^ len);
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t x = rng_next(&r);
        for (uint32_t k = 0; k < 8 && i + k < len; k++) out[i + k] = (uint8_t)(x >> (8 * k));
    }
}

bool tu_entry_ok(const struct raft_entry *e)
{
    if (e->type != RAFT_ENTRY_NORMAL || (e->len == 0) != (e->data == NULL)) return false;
    uint8_t *want = malloc(e->len ? e->len : 1);
    tu_fill(e->index, e->term, e->len, want);
    bool ok = e->len == 0 || memcmp(want, e->data, e->len) == 0;
    free(want);
    return ok;
}

void tu_batch_make(struct tu_batch *b, struct rng *r, uint64_t first, uint32_t n, uint64_t term,
                   uint32_t lmin, uint32_t lmax)
{
    b->n = n;
    b->v = calloc(n ? n : 1, sizeof(*b->v));
    for (uint32_t i = 0; i < n; i++) {
        struct raft_entry *e = &b->v[i];
        e->index = first + i;
        e->term = term;
        e->type = RAFT_ENTRY_NORMAL;
        e->len = (uint32_t)rng_range(r, lmin, lmax);
        e->data = e->len ? malloc(e->len) : NULL;
        if (e->len) tu_fill(e->index, e->term, e->len, e->data);
    }
}

void tu_batch_free(struct tu_batch *b)
{
    for (uint32_t i = 0; i < b->n; i++) free(b->v[i].data);
    free(b->v);
    memset(b, 0, sizeof(*b));
}

void tu_model_init(struct tu_model *m)
{
    memset(m, 0, sizeof(*m));
}

void tu_model_free(struct tu_model *m)
{
    free(m->term);
    free(m->len);
    memset(m, 0, sizeof(*m));
}

void tu_model_copy(struct tu_model *dst, const struct tu_model *src)
{
    *dst = *src;
    size_t n = src->cap ? src->cap : 1;
    dst->term = malloc(n * sizeof(uint64_t));
    dst->len = malloc(n * sizeof(uint32_t));
    if (src->cap) {
        memcpy(dst->term, src->term, n * sizeof(uint64_t));
        memcpy(dst->len, src->len, n * sizeof(uint32_t));
    }
}

static void reserve(struct tu_model *m, size_t n)
{
    if (n <= m->cap) return;
    size_t cap = m->cap ? m->cap : 64;
    while (cap < n) cap *= 2;
    m->term = realloc(m->term, cap * sizeof(uint64_t));
    m->len = realloc(m->len, cap * sizeof(uint32_t));
    m->cap = cap;
}

uint64_t tu_model_term(const struct tu_model *m, uint64_t i)
{
    if (i == m->snap_index) return m->snap_term;
    if (i < m->snap_index || i > m->last) return 0;
    return m->term[i - m->snap_index - 1];
}

void tu_model_apply(struct tu_model *m, const struct wal_batch *b)
{
    if (b->has_snap) {
        uint64_t i = b->snap_index;
        size_t n = (size_t)(m->last - m->snap_index);
        if (i <= m->last && tu_model_term(m, i) == b->snap_term) {
            size_t k = (size_t)(i - m->snap_index);
            memmove(m->term, m->term + k, (n - k) * sizeof(uint64_t));
            memmove(m->len, m->len + k, (n - k) * sizeof(uint32_t));
        } else {
            m->last = i;
        }
        m->snap_index = i;
        m->snap_term = b->snap_term;
    }
    if (b->n_entries) {
        uint64_t e0 = b->entries[0].index;
        m->last = e0 - 1 + b->n_entries;
        reserve(m, (size_t)(m->last - m->snap_index));
        for (uint32_t k = 0; k < b->n_entries; k++) {
            m->term[e0 + k - m->snap_index - 1] = b->entries[k].term;
            m->len[e0 + k - m->snap_index - 1] = b->entries[k].len;
        }
    }
    if (b->hs) m->hs = *b->hs;
}

bool tu_model_equal(const struct tu_model *m, struct wal *w)
{
    struct wal_state st;
    wal_get_state(w, &st);
    if (st.snap_index != m->snap_index || st.snap_term != m->snap_term ||
        st.last_index != m->last || st.hs.term != m->hs.term || st.hs.vote != m->hs.vote ||
        st.hs.commit != m->hs.commit)
        return false;
    if (m->last == m->snap_index) return true;
    struct wal_entries es;
    if (wal_read_entries(w, m->snap_index + 1, m->last, UINT64_MAX, &es) != 0) return false;
    bool ok = es.n == m->last - m->snap_index;
    for (uint32_t k = 0; ok && k < es.n; k++) {
        const struct raft_entry *e = &es.v[k];
        ok = e->index == m->snap_index + 1 + k && e->term == m->term[k] && e->len == m->len[k] &&
             tu_entry_ok(e);
    }
    wal_entries_free(&es);
    return ok;
}

void tu_model_check(const struct tu_model *m, struct wal *w)
{
    struct wal_state st;
    wal_get_state(w, &st);
    assert_int_equal(st.snap_index, m->snap_index);
    assert_int_equal(st.snap_term, m->snap_term);
    assert_int_equal(st.last_index, m->last);
    assert_int_equal(st.hs.term, m->hs.term);
    assert_int_equal(st.hs.vote, m->hs.vote);
    assert_int_equal(st.hs.commit, m->hs.commit);
    assert_true(tu_model_equal(m, w));
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(n ? (size_t)n : 1);
    if (fread(d, 1, (size_t)n, f) != (size_t)n) abort();
    fclose(f);
    *len = (size_t)n;
    return d;
}

void tu_write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) abort();
    fclose(f);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t list(const char *dir, const char *suffix, char ***out)
{
    DIR *d = opendir(dir);
    size_t n = 0, cap = 0, sl = strlen(suffix);
    char **v = NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < sl || strcmp(de->d_name + l - sl, suffix) != 0) continue;
        if (n == cap) v = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
        v[n++] = strdup(de->d_name);
    }
    if (d) closedir(d);
    if (n) qsort(v, n, sizeof(*v), by_name);
    *out = v;
    return n;
}

size_t tu_count_files(const char *dir, const char *suffix)
{
    char **v;
    size_t n = list(dir, suffix, &v);
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    return n;
}

bool tu_nth_file(const char *dir, const char *suffix, size_t k, char *out, size_t outlen)
{
    char **v;
    size_t n = list(dir, suffix, &v);
    bool ok = k < n;
    if (ok) snprintf(out, outlen, "%s/%s", dir, v[k]);
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    return ok;
}
