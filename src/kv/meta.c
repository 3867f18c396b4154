/* meta.c — reading the member-metadata namespace (written only by META commands in apply). */
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"

int kv_meta_get(struct kv *kv, const void *key, size_t key_len, struct buf *value)
{
    if (kv->stopped) return CC_ESTOPPED;
    if (!key_len || key_len > KV_META_KEY_MAX) return CC_EINVAL;
    uint8_t k[KV_META_KEY_MAX + 1];
    k[0] = META_MEMBER;
    memcpy(k + 1, key, key_len);
    char *err = NULL;
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned_cf(kv->db, kv->ropts, kv->cf[CF_META],
                                                        (const char *)k, key_len + 1, &err);
    if (err) {
        kv__fail(kv, CC_EIO, "meta get: %s", err);
        rocksdb_free(err);
        return CC_EIO;
    }
    if (!ps) return CC_ENOTFOUND;
    size_t len;
    const char *v = rocksdb_pinnableslice_value(ps, &len);
    int rc = buf_append(value, v, len);
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

int kv_meta_list(struct kv *kv, const void *prefix, size_t plen,
                 int (*fn)(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl),
                 void *arg)
{
    if (kv->stopped) return CC_ESTOPPED;
    if (plen > KV_META_KEY_MAX) return CC_EINVAL;
    uint8_t p[KV_META_KEY_MAX + 1];
    p[0] = META_MEMBER;
    if (plen) memcpy(p + 1, prefix, plen);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, kv->ropts, kv->cf[CF_META]);
    int rc = 0;
    for (rocksdb_iter_seek(it, (const char *)p, plen + 1); rocksdb_iter_valid(it) && !rc;
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        if (kl < plen + 1 || memcmp(k, p, plen + 1)) break;
        rc = fn(arg, k + 1, kl - 1, v, vl);
    }
    if (!rc) {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        if (err) {
            rc = kv__fail(kv, CC_EIO, "meta list: %s", err);
            rocksdb_free(err);
        }
    }
    rocksdb_iter_destroy(it);
    return rc;
}
