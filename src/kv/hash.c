/* hash.c — HashKV: a CRC-32C over the keyspace's revisions up to a revision, independent of how
 * far physical compaction has run (etcd's hashKV with its "keep" set). */
#include "kv/internal.h"
#include "util/crc32c.h"
#include "util/err.h"

/* True when compaction at compact_rev keeps revision (main, sub) of the key in record v. */
static bool kept(struct kv *kv, const struct rec_view *v, int64_t main, uint32_t sub,
                 int64_t compact_rev)
{
    const struct krec *r = kv__idx_get(&kv->idx, v->key.p, v->key.len);
    if (!r) return false;
    int i = kv__krec_before(r, main, sub) + 1;
    if (i >= (int)r->nrev || krec_main(r, (uint32_t)i) != main || krec_sub(r, (uint32_t)i) != sub)
        return false;
    return i >= kv__compact_drop_count(r, compact_rev);
}

int kv_hash(struct kv *kv, int64_t rev, uint32_t *hash, int64_t *hash_rev, int64_t *compact_rev)
{
    if (kv->stopped) return CC_ESTOPPED;
    if (rev <= 0) rev = kv->rev;
    if (rev > kv->rev) return CC_EFUTUREREV;
    if (rev < kv->compact_rev) return CC_ECOMPACTED;
    uint8_t upper[REVKEY_LEN];
    kv__revkey(upper, rev + 1, 0);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(ro, 0);
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)upper, sizeof(upper));
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, ro, kv->cf[CF_REV]);
    uint32_t crc = crc32c_extend(0, "kv", 2);
    int rc = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        int64_t main;
        uint32_t sub;
        struct rec_view rv;
        if (kl != REVKEY_LEN || kv__rec_decode(v, vl, &rv)) {
            rc = kv__fail(kv, CC_ECORRUPT, "hash: corrupt revision record");
            break;
        }
        kv__revkey_parse(k, &main, &sub);
        if (main <= kv->compact_rev && !kept(kv, &rv, main, sub, kv->compact_rev)) continue;
        crc = crc32c_extend(crc, k, kl);
        crc = crc32c_extend(crc, v, vl);
    }
    if (!rc) {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        if (err) {
            rc = kv__fail(kv, CC_EIO, "hash: %s", err);
            rocksdb_free(err);
        }
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (rc) return rc;
    *hash = crc;
    *hash_rev = rev;
    *compact_rev = kv->compact_rev;
    return 0;
}
