/* compact.c — compaction: the COMPACT command records the compact revision at once (reads
 * below it fail from then on); kv_compact_step removes superseded revisions in bounded,
 * resumable batches so apply never stalls behind a large compaction. */
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"

int kv__compact_cmd(struct kv *kv, const struct kv_compact *c, struct kv_result *res)
{
    if (c->revision <= kv->compact_rev) {
        res->err = CC_ECOMPACTED;
        res->msg = KV_MSG_COMPACTED;
        return 0;
    }
    if (c->revision > kv->rev) {
        res->err = CC_EFUTUREREV;
        res->msg = KV_MSG_FUTURE_REV;
        return 0;
    }
    kv->compact_rev = c->revision;
    /* A newer compaction restarts the walk: it covers whatever the older one had left. */
    kv->compact_target = c->revision;
    buf_reset(&kv->compact_cursor);
    res->u.compact.revision = c->revision;
    return 0;
}

/* How many leading revisions of r compaction at c removes: everything before the latest
 * revision <= c, and that one too when it is a tombstone below c. Revisions at exactly c are
 * all kept, so a watcher may start at the compact revision and miss nothing. */
int kv__compact_drop_count(const struct krec *r, int64_t c)
{
    int ri = kv__krec_at(r, c);
    if (ri < 0) return 0;
    if (krec_tomb(r, (uint32_t)ri) && krec_main(r, (uint32_t)ri) < c) return ri + 1;
    return ri;
}

int kv_compact_step(struct kv *kv, size_t budget, bool *done)
{
    if (done) *done = false;
    if (kv->stopped) return CC_ESTOPPED;
    if (!kv->compact_target) {
        if (done) *done = true;
        return 0;
    }
    if (!budget) budget = 1;
    int64_t c = kv->compact_target;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    struct kv__cur cur;
    kv__idx_seek(&kv->idx, kv->compact_cursor.data ? kv->compact_cursor.data : (const uint8_t *)"",
                 kv->compact_cursor.len, &cur);
    size_t removed = 0, visited = 0;
    uint8_t *gone = NULL; /* key of a record removed from the index, to re-seek after it */
    int rc = 0;
    struct krec *r;
    while ((r = kv__cur_rec(&cur)) && removed < budget && visited < 8 * budget) {
        visited++;
        int drop = kv__compact_drop_count(r, c);
        for (int j = 0; j < drop; j++) {
            uint8_t k[REVKEY_LEN];
            kv__revkey(k, krec_main(r, (uint32_t)j), krec_sub(r, (uint32_t)j));
            rocksdb_writebatch_delete_cf(wb, kv->cf[CF_REV], (const char *)k, sizeof(k));
        }
        removed += (size_t)drop;
        kv->idx.nrevs -= (uint64_t)drop;
        if (drop && (uint32_t)drop == r->nrev) {
            size_t kl = r->klen;
            free(gone);
            gone = malloc(kl ? kl : 1);
            if (!gone) {
                rc = CC_ENOMEM;
                break;
            }
            memcpy(gone, krec_key(r), kl);
            free(kv__idx_remove(&kv->idx, gone, kl));
            kv__idx_seek(&kv->idx, gone, kl, &cur); /* now at the next key */
            continue;
        }
        if (drop) kv__cur_set(&cur, kv__krec_drop(r, (uint32_t)drop));
        kv__cur_next(&cur);
    }
    free(gone);
    if (!rc) {
        r = kv__cur_rec(&cur);
        buf_reset(&kv->compact_cursor);
        if (r)
            rc = buf_append(&kv->compact_cursor, krec_key(r), r->klen);
        else
            kv->compact_target = 0; /* walked every key: finished */
    }
    if (!rc) rc = kv__put_state(kv, wb);
    if (!rc)
        rc = kv__write(kv, wb);
    else
        kv__stop(kv, rc, "compaction step", NULL);
    rocksdb_writebatch_destroy(wb);
    if (!rc && done) *done = kv->compact_target == 0;
    return rc;
}
