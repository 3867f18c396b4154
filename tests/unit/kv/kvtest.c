/* kvtest.c — helpers shared by the kv tests. */
#include "kvtest.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/err.h"

static void open_store(struct kt *t)
{
    struct kv_opts o = {0};
    o.dir = t->dir;
    o.block_cache_bytes = 1 << 20;
    o.memtable_bytes = 4 << 20;
    /* Small watch buffers: watchers fall behind and catch up from the store often. */
    o.watch_buf_events = 8;
    o.watch_buf_bytes = 512;
    char err[256];
    int rc = kv_open(&o, &t->kv, err, sizeof(err));
    if (rc) fprintf(stderr, "kv_open: %s\n", err);
    assert(rc == 0);
    t->index = kv_applied_index(t->kv) + 1;
}

/* Tests create and reopen many small stores: a tmpfs keeps fsync out of their run time
 * (KV_TEST_DIR overrides; a killed process loses nothing on tmpfs either). */
static const char *test_base(void)
{
    const char *base = getenv("KV_TEST_DIR");
    if (base) return base;
    if (!access("/dev/shm", W_OK)) return "/dev/shm";
    base = getenv("TMPDIR");
    return base ? base : "/tmp";
}

void kt_open(struct kt *t)
{
    snprintf(t->dir, sizeof(t->dir), "%s/kvtest-XXXXXX", test_base());
    char *d = mkdtemp(t->dir);
    assert(d);
    open_store(t);
}

void kt_reopen(struct kt *t)
{
    open_store(t);
}

void kt_close_store(struct kt *t)
{
    kv_close(t->kv);
    t->kv = NULL;
}

void kt_destroy(struct kt *t)
{
    if (t->kv) kt_close_store(t);
    kv_remove_dir(t->dir);
}

struct kv_bytes kt_b(const char *s)
{
    return (struct kv_bytes){(const uint8_t *)s, s ? strlen(s) : 0};
}

void kt_apply(struct kt *t, const struct kv_cmd *c, struct kv_result *res)
{
    struct buf b;
    buf_init(&b, KV_CMD_MAX);
    int rc = kv_cmd_encode(c, &b);
    assert(rc == 0);
    struct kv_entry e = {t->index++, b.data, b.len};
    rc = kv_apply(t->kv, &e, 1, res);
    assert(rc == 0);
    buf_free(&b);
}

void kt_noop(struct kt *t)
{
    struct kv_entry e = {t->index++, NULL, 0};
    struct kv_result r;
    int rc = kv_apply(t->kv, &e, 1, &r);
    assert(rc == 0);
    kv_result_free(&r);
}

int kt_put(struct kt *t, const char *k, const char *v, int64_t lease)
{
    struct kv_cmd c = {.type = KV_CMD_PUT};
    c.u.put.key = kt_b(k);
    c.u.put.value = kt_b(v);
    c.u.put.lease = lease;
    struct kv_result r;
    kt_apply(t, &c, &r);
    int err = r.err;
    kv_result_free(&r);
    return err;
}

int kt_del(struct kt *t, const char *k, const char *end, int64_t *deleted)
{
    struct kv_cmd c = {.type = KV_CMD_DELETE};
    c.u.del.key = kt_b(k);
    c.u.del.range_end = kt_b(end);
    struct kv_result r;
    kt_apply(t, &c, &r);
    int err = r.err;
    if (deleted) *deleted = r.u.del.deleted;
    kv_result_free(&r);
    return err;
}

int64_t kt_grant(struct kt *t, int64_t id, int64_t ttl_ms)
{
    struct kv_cmd c = {.type = KV_CMD_LEASE_GRANT};
    c.u.grant.id = id;
    c.u.grant.ttl_ms = ttl_ms;
    struct kv_result r;
    kt_apply(t, &c, &r);
    int64_t got = r.err ? r.err : r.u.grant.id;
    kv_result_free(&r);
    return got;
}

int kt_revoke(struct kt *t, int64_t id)
{
    struct kv_cmd c = {.type = KV_CMD_LEASE_REVOKE};
    c.u.revoke_id = id;
    struct kv_result r;
    kt_apply(t, &c, &r);
    int err = r.err;
    kv_result_free(&r);
    return err;
}

int kt_compact(struct kt *t, int64_t rev)
{
    struct kv_cmd c = {.type = KV_CMD_COMPACT};
    c.u.compact.revision = rev;
    struct kv_result r;
    kt_apply(t, &c, &r);
    int err = r.err;
    kv_result_free(&r);
    return err;
}

int kt_get(struct kt *t, const char *k, char *out, size_t cap, struct kv_kv *meta)
{
    struct kv_range q = {0};
    q.key = kt_b(k);
    struct kv_arena a = {0};
    struct kv_range_res res;
    int rc = kv_range(t->kv, &q, &a, &res, NULL);
    assert(rc == 0);
    int found = res.n == 1;
    if (found) {
        size_t n = res.kvs[0].value.len < cap - 1 ? res.kvs[0].value.len : cap - 1;
        if (out) {
            memcpy(out, res.kvs[0].value.p, n);
            out[n] = 0;
        }
        if (meta) {
            *meta = res.kvs[0];
            meta->key.p = meta->value.p = NULL;
        }
    }
    kv_arena_free(&a);
    return found;
}

double kt_scale(void)
{
    const char *s = getenv("KV_TEST_SCALE");
    if (s) return atof(s);
#ifdef CONCUR_SANITIZE
    return 0.1;
#else
    return 1.0;
#endif
}

void kt_write_archive(struct kv *kv, const char *path)
{
    struct kv_snapshot *s;
    int rc = kv_snapshot_open(kv, &s);
    assert(rc == 0);
    FILE *f = fopen(path, "wb");
    assert(f);
    uint8_t buf[4096];
    size_t n;
    do {
        rc = kv_snapshot_read(s, buf, sizeof(buf), &n);
        assert(rc == 0);
        size_t w = fwrite(buf, 1, n, f);
        assert(w == n);
        (void)w;
    } while (n);
    fclose(f);
    kv_snapshot_close(s);
    (void)rc;
}
