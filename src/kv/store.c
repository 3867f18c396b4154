/* store.c — opening, rebuilding and closing the store: RocksDB setup (WAL off, atomic flush of
 * all column families), the persisted state record, durability (kv_flush) and status. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kv/internal.h"
#include "util/err.h"

#define POINTER_FILE  "CURRENT_DB"
#define STATE_VERSION 1

static const char *const cf_names[CF_COUNT] = {"default", "kv", "lease"};

int kv__fail(struct kv *kv, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kv->err, sizeof(kv->err), fmt, ap);
    va_end(ap);
    return rc;
}

int kv__stop(struct kv *kv, int rc, const char *what, char *rocks_err)
{
    kv__fail(kv, rc, "%s: %s (store stopped)", what, rocks_err ? rocks_err : cc_strerror(rc));
    log_error(kv->log, "kv: %s", kv->err);
    if (rocks_err) rocksdb_free(rocks_err);
    kv->stopped = true;
    return rc;
}

const char *kv_errmsg(const struct kv *kv)
{
    return kv->err;
}

int kv__write(struct kv *kv, rocksdb_writebatch_t *wb)
{
    char *err = NULL;
    rocksdb_write(kv->db, kv->wopts, wb, &err);
    if (err) return kv__stop(kv, CC_EIO, "rocksdb write", err);
    return 0;
}

/* ---- the state record ---- */

int kv__put_state(struct kv *kv, rocksdb_writebatch_t *wb)
{
    struct buf b;
    buf_init(&b, 64 + KV_KEY_MAX);
    int rc = buf_put_u8(&b, STATE_VERSION);
    if (!rc) rc = buf_put_u64le(&b, kv->applied);
    if (!rc) rc = buf_put_u64le(&b, (uint64_t)kv->rev);
    if (!rc) rc = buf_put_u64le(&b, (uint64_t)kv->compact_rev);
    if (!rc) rc = buf_put_u64le(&b, (uint64_t)kv->compact_target);
    if (!rc) rc = buf_put_uvarint(&b, kv->compact_cursor.len);
    if (!rc) rc = buf_append(&b, kv->compact_cursor.data, kv->compact_cursor.len);
    if (!rc)
        rocksdb_writebatch_put_cf(wb, kv->cf[CF_META], META_STATE_KEY, 1, (const char *)b.data,
                                  b.len);
    buf_free(&b);
    return rc;
}

static int load_state(struct kv *kv, char *err, size_t errlen)
{
    char *rerr = NULL;
    size_t len;
    char *v = rocksdb_get_cf(kv->db, kv->ropts, kv->cf[CF_META], META_STATE_KEY, 1, &len, &rerr);
    if (rerr) {
        snprintf(err, errlen, "read state: %s", rerr);
        rocksdb_free(rerr);
        return CC_EIO;
    }
    if (!v) { /* a new store: etcd's empty store is at revision 1 */
        kv->applied = 0;
        kv->rev = 1;
        kv->compact_rev = -1;
        kv->compact_target = 0;
        return 0;
    }
    struct cursor c;
    cursor_init(&c, v, len);
    uint8_t ver = cursor_u8(&c);
    kv->applied = cursor_u64le(&c);
    kv->rev = (int64_t)cursor_u64le(&c);
    kv->compact_rev = (int64_t)cursor_u64le(&c);
    kv->compact_target = (int64_t)cursor_u64le(&c);
    uint64_t cl = cursor_uvarint(&c);
    const uint8_t *cp = cl <= KV_KEY_MAX ? cursor_bytes(&c, (size_t)cl) : NULL;
    int rc = 0;
    if (c.err || ver != STATE_VERSION || c.left || cl > KV_KEY_MAX || kv->rev < 1 ||
        kv->compact_rev < -1 || kv->compact_rev > kv->rev || kv->compact_target < 0 ||
        kv->compact_target > kv->rev) {
        snprintf(err, errlen, "state record is corrupt");
        rc = CC_ECORRUPT;
    } else {
        buf_reset(&kv->compact_cursor);
        rc = buf_append(&kv->compact_cursor, cp, (size_t)cl);
    }
    rocksdb_free(v);
    return rc;
}

/* ---- rebuilding the index from the "kv" column family ---- */

#define LEASE_MISSING UINT32_MAX

static int rebuild_index(struct kv *kv, char *err, size_t errlen)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(ro, 0);
    rocksdb_readoptions_set_readahead_size(ro, 2 << 20);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, ro, kv->cf[CF_REV]);
    int rc = 0;
    struct kv__cur cur;
    struct krec *last = NULL; /* consecutive records often touch the same key */
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it) && !rc; rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        int64_t main;
        uint32_t sub;
        struct rec_view rv;
        if (kl != REVKEY_LEN) {
            rc = CC_ECORRUPT;
            break;
        }
        kv__revkey_parse((const uint8_t *)k, &main, &sub);
        if (main < 2 || main > kv->rev || sub > SUB_MAX ||
            kv__rec_decode((const uint8_t *)v, vl, &rv)) {
            rc = CC_ECORRUPT;
            break;
        }
        bool found = kv__idx_seek(&kv->idx, rv.key.p, rv.key.len, &cur);
        struct krec *r = found ? kv__cur_rec(&cur) : kv__krec_new(rv.key.p, rv.key.len);
        if (!r) {
            rc = CC_ENOMEM;
            break;
        }
        if (!found && (rc = kv__idx_insert(&kv->idx, r, &cur))) {
            free(r);
            break;
        }
        if (r->nrev && (krec_main(r, r->nrev - 1) > main ||
                        (krec_main(r, r->nrev - 1) == main && krec_sub(r, r->nrev - 1) >= sub))) {
            rc = CC_ECORRUPT;
            break;
        }
        struct krec *n = kv__krec_push(r, main, sub, rv.tomb);
        if (!n) {
            rc = CC_ENOMEM;
            break;
        }
        kv__cur_set(&cur, n);
        kv->idx.nrevs++;
        if (rv.tomb) {
            n->create_rev = n->version = 0;
            n->lease_slot = 0;
        } else {
            n->create_rev = rv.create_rev;
            n->version = rv.version;
            struct lease *l = rv.lease ? kv__lease_get(kv, rv.lease) : NULL;
            n->lease_slot = !rv.lease ? 0 : l ? l->slot : LEASE_MISSING;
        }
        last = n;
    }
    (void)last;
    if (!rc) {
        char *rerr = NULL;
        rocksdb_iter_get_error(it, &rerr);
        if (rerr) {
            snprintf(err, errlen, "scan revisions: %s", rerr);
            rocksdb_free(rerr);
            rc = CC_EIO;
        }
    } else if (rc == CC_ECORRUPT) {
        snprintf(err, errlen, "a revision record is corrupt or out of order");
    } else {
        snprintf(err, errlen, "rebuild index: %s", cc_strerror(rc));
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (rc) return rc;

    /* Attach live keys to their leases. */
    kv__idx_seek(&kv->idx, (const uint8_t *)"", 0, &cur);
    for (struct krec *r; (r = kv__cur_rec(&cur)); kv__cur_next(&cur)) {
        if (!krec_live(r) || !r->lease_slot) continue;
        if (r->lease_slot == LEASE_MISSING) {
            snprintf(err, errlen, "a key refers to a lease that does not exist");
            return CC_ECORRUPT;
        }
        rc = kv__lease_attach(kv__lease_slot(kv, r->lease_slot), krec_key(r), r->klen);
        if (rc) {
            snprintf(err, errlen, "attach lease: %s", cc_strerror(rc));
            return rc;
        }
    }
    return 0;
}

int kv__load(struct kv *kv, char *err, size_t errlen)
{
    int rc = load_state(kv, err, errlen);
    if (!rc) rc = kv__leases_load(kv, err, errlen);
    if (!rc) rc = rebuild_index(kv, err, errlen);
    if (!rc) rc = kv__sessions_load(kv, err, errlen);
    if (!rc) rc = kv__auth_load(kv, err, errlen);
    kv->durable = kv->applied;
    return rc;
}

void kv__state_free(struct kv *kv)
{
    kv__idx_free(&kv->idx);
    kv__leases_free(&kv->leases);
    kv__sessions_free(&kv->sessions);
    kv__auth_free(&kv->auth);
}

/* ---- RocksDB ---- */

static void set_table_options(struct kv *kv, rocksdb_options_t *o, bool bloom)
{
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(t, kv->cache);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(t, 1);
    if (bloom)
        rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(o, t);
    rocksdb_block_based_options_destroy(t);
}

int kv__db_open(struct kv *kv, uint32_t gen, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/db-%u", kv->dir, gen);
    if (!kv->cache) kv->cache = rocksdb_cache_create_lru(kv->opts.block_cache_bytes);
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    /* The WAL is off (the Raft log is the WAL): atomic flush is what keeps the column
     * families, and so data and applied index, consistent on disk. */
    rocksdb_options_set_atomic_flush(o, 1);
    rocksdb_options_set_db_write_buffer_size(o, kv->opts.memtable_bytes);
    rocksdb_options_set_max_background_jobs(o, 2);
    rocksdb_options_set_max_open_files(o, 1024);
    rocksdb_options_set_keep_log_file_num(o, 2);
    rocksdb_options_set_max_log_file_size(o, 1 << 20);
    rocksdb_options_set_info_log_level(o, 2 /* WARN */);
    rocksdb_options_set_max_manifest_file_size(o, 4 << 20); /* checkpoints copy it */
    rocksdb_options_set_manifest_preallocation_size(o, 64 << 10);
    rocksdb_options_set_stats_dump_period_sec(o, 0);
    rocksdb_options_set_max_file_opening_threads(o, 2);
    rocksdb_options_set_skip_stats_update_on_db_open(o, 1);
    rocksdb_options_t *cfo[CF_COUNT];
    for (int i = 0; i < CF_COUNT; i++) {
        cfo[i] = rocksdb_options_create_copy(o);
        /* Several smaller memtables: one can fill while others flush, without stalling
         * writes; db_write_buffer_size bounds their sum. */
        size_t wbs = i == CF_REV ? kv->opts.memtable_bytes / 4 : kv->opts.memtable_bytes / 8;
        rocksdb_options_set_write_buffer_size(cfo[i], wbs < (1 << 20) ? (1 << 20) : wbs);
        rocksdb_options_set_max_write_buffer_number(cfo[i], 4);
        set_table_options(kv, cfo[i], i == CF_REV);
    }
    const rocksdb_options_t *cfo_c[CF_COUNT] = {cfo[0], cfo[1], cfo[2]};
    char *rerr = NULL;
    kv->db = rocksdb_open_column_families(o, path, CF_COUNT, (const char *const *)cf_names, cfo_c,
                                          kv->cf, &rerr);
    if (rerr) {
        snprintf(err, errlen, "open %s: %s", path, rerr);
        rocksdb_free(rerr);
        kv->db = NULL;
        rocksdb_options_destroy(o);
        for (int i = 0; i < CF_COUNT; i++) rocksdb_options_destroy(cfo[i]);
        return CC_EIO;
    }
    kv->dbopts = o;
    for (int i = 0; i < CF_COUNT; i++) kv->cfopts[i] = cfo[i];
    kv->db_gen = gen;
    return 0;
}

void kv__db_close(struct kv *kv)
{
    if (!kv->db) return;
    for (int i = 0; i < CF_COUNT; i++) rocksdb_column_family_handle_destroy(kv->cf[i]);
    rocksdb_close(kv->db);
    kv->db = NULL;
    rocksdb_options_destroy(kv->dbopts);
    for (int i = 0; i < CF_COUNT; i++) rocksdb_options_destroy(kv->cfopts[i]);
}

/* Removes leftovers of interrupted snapshots, restores and flushes, and database directories
 * other than the live one. */
static void sweep_dir(struct kv *kv, uint32_t live)
{
    DIR *d = opendir(kv->dir);
    if (!d) return;
    struct dirent *e;
    char live_name[32], path[4400];
    snprintf(live_name, sizeof(live_name), "db-%u", live);
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        bool stale = (!strncmp(n, "db-", 3) && strcmp(n, live_name)) || !strncmp(n, "snap-", 5) ||
                     !strncmp(n, "flush-", 6) || !strncmp(n, "restore-", 8);
        if (!stale) continue;
        snprintf(path, sizeof(path), "%s/%s", kv->dir, n);
        kv__rmtree(path);
    }
    closedir(d);
}

static int read_pointer(struct kv *kv, uint32_t *gen)
{
    char path[4200], buf[64];
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", kv->dir, POINTER_FILE);
    int rc = kv__read_small_file(path, buf, sizeof(buf) - 1, &len);
    if (rc == CC_ENOTFOUND) {
        *gen = 1;
        return 1;
    }
    if (rc) return rc;
    buf[len] = 0;
    unsigned g;
    if (sscanf(buf, "db-%u", &g) != 1 || g == 0) return CC_ECORRUPT;
    *gen = g;
    return 0;
}

int kv__shell_init(struct kv *kv, const struct kv_opts *opts)
{
    kv->opts = *opts;
    snprintf(kv->dir, sizeof(kv->dir), "%s", opts->dir);
    kv->opts.dir = kv->dir;
    kv->log = opts->log;
    if (!kv->opts.block_cache_bytes) kv->opts.block_cache_bytes = 8u << 20;
    if (!kv->opts.memtable_bytes) kv->opts.memtable_bytes = 32u << 20;
    if (!kv->opts.range_max_bytes) kv->opts.range_max_bytes = 64u << 20;
    if (!kv->opts.watchers_max) kv->opts.watchers_max = 65536;
    if (!kv->opts.watch_buf_events) kv->opts.watch_buf_events = 1024;
    if (!kv->opts.watch_buf_bytes) kv->opts.watch_buf_bytes = 1u << 20;
    buf_init(&kv->compact_cursor, KV_KEY_MAX + 1);
    buf_init(&kv->batch.recs, (size_t)1 << 40);
    kv__idx_init(&kv->idx);
    int rc = kv__leases_init(&kv->leases);
    if (!rc) rc = kv__sessions_init(&kv->sessions);
    kv->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(kv->wopts, 1);
    kv->ropts = rocksdb_readoptions_create();
    return rc;
}

void kv__shell_free(struct kv *kv)
{
    kv__db_close(kv);
    if (kv->cache) rocksdb_cache_destroy(kv->cache);
    if (kv->wopts) rocksdb_writeoptions_destroy(kv->wopts);
    if (kv->ropts) rocksdb_readoptions_destroy(kv->ropts);
    if (kv->batch.wb) rocksdb_writebatch_destroy(kv->batch.wb);
    free(kv->batch.pend);
    buf_free(&kv->batch.recs);
    buf_free(&kv->compact_cursor);
    kv__state_free(kv);
    free(kv);
}

int kv_open(const struct kv_opts *opts, struct kv **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = 0;
    *out = NULL;
    if (!opts->dir || strlen(opts->dir) >= 3800) {
        snprintf(err, errlen, "kv_opts.dir missing or too long");
        return CC_EINVAL;
    }
    struct kv *kv = calloc(1, sizeof(*kv));
    if (!kv) return CC_ENOMEM;
    /* No per-operation counters on the store's thread (RocksDB keeps them thread-local). */
    rocksdb_set_perf_level(rocksdb_disable);
    int rc = kv__shell_init(kv, opts);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        kv__shell_free(kv);
        return rc;
    }
    uint32_t gen = 1;
    rc = kv__mkdir(kv->dir);
    int fresh = rc ? rc : read_pointer(kv, &gen);
    if (fresh < 0) {
        snprintf(err, errlen, "%s/%s: %s", kv->dir, POINTER_FILE, cc_strerror(fresh));
        kv__shell_free(kv);
        return fresh;
    }
    sweep_dir(kv, gen);
    rc = kv__db_open(kv, gen, err, errlen);
    if (!rc && fresh) rc = kv__write_pointer(kv, gen);
    if (!rc) rc = kv__load(kv, err, errlen);
    if (!rc) rc = kv__watch_init(kv);
    if (rc) {
        if (!err[0]) snprintf(err, errlen, "%s", cc_strerror(rc));
        kv__shell_free(kv);
        return rc;
    }
    log_info(kv->log, "kv: opened %s/db-%u: applied index %llu, revision %lld, %llu keys", kv->dir,
             gen, (unsigned long long)kv->applied, (long long)kv->rev,
             (unsigned long long)kv->idx.nkeys);
    *out = kv;
    return 0;
}

int kv__write_pointer(struct kv *kv, uint32_t gen)
{
    char name[32];
    int n = snprintf(name, sizeof(name), "db-%u\n", gen);
    int rc = kv__write_file_atomic(kv->dir, POINTER_FILE, name, (size_t)n);
    if (rc) kv__fail(kv, rc, "write %s/%s: %s", kv->dir, POINTER_FILE, cc_strerror(rc));
    return rc;
}

void kv_close(struct kv *kv)
{
    if (!kv) return;
    if (kv->db && !kv->stopped && kv->applied != kv->durable) kv_flush(kv);
    kv__watch_free(kv);
    kv__shell_free(kv);
}

/* ---- durability ---- */

/* RocksDB 7.8's C API flushes one column family at a time, which is not atomic across them.
 * A checkpoint flushes all column families in one atomic flush (atomic_flush is on), so a
 * throw-away checkpoint is the C API's way to reach DB::Flush(all column families). */
int kv__checkpoint(struct kv *kv, const char *path)
{
    char *rerr = NULL;
    kv__rmtree(path);
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(kv->db, &rerr);
    if (!rerr) rocksdb_checkpoint_create(cp, path, 0 /* always flush */, &rerr);
    if (cp) rocksdb_checkpoint_object_destroy(cp);
    if (rerr) return kv__stop(kv, CC_EIO, "rocksdb checkpoint", rerr);
    return 0;
}

int kv_flush(struct kv *kv)
{
    if (kv->stopped) return CC_ESTOPPED;
    char path[4200];
    snprintf(path, sizeof(path), "%s/flush-tmp", kv->dir);
    uint64_t applied = kv->applied;
    int rc = kv__checkpoint(kv, path);
    kv__rmtree(path);
    if (rc) return rc;
    kv->durable = applied;
    return 0;
}

int kv_defragment(struct kv *kv)
{
    if (kv->stopped) return CC_ESTOPPED;
    /* With atomic flush on, a manual compaction first flushes every column family together. */
    for (int i = 0; i < CF_COUNT; i++)
        rocksdb_compact_range_cf(kv->db, kv->cf[i], NULL, 0, NULL, 0);
    return 0;
}

uint64_t kv_applied_index(const struct kv *kv)
{
    return kv->applied;
}

uint64_t kv_durable_index(const struct kv *kv)
{
    return kv->durable;
}

int64_t kv_rev(const struct kv *kv)
{
    return kv->rev;
}

int64_t kv_compact_rev(const struct kv *kv)
{
    return kv->compact_rev;
}

int64_t kv_compact_pending(const struct kv *kv)
{
    return kv->compact_target;
}

void kv_get_status(const struct kv *kv, struct kv_status *st)
{
    st->applied_index = kv->applied;
    st->durable_index = kv->durable;
    st->rev = kv->rev;
    st->compact_rev = kv->compact_rev;
    st->compact_pending = kv->compact_target;
    st->keys = kv->idx.nkeys;
    st->revisions = kv->idx.nrevs;
    st->leases = kv->leases.count;
    st->sessions = kv->sessions.count;
    st->watchers = kv__watch_count(kv);
    st->db_size_bytes = st->db_size_in_use_bytes = 0;
    for (int i = 0; i < CF_COUNT && kv->db; i++) {
        uint64_t sst = 0, mem = 0, live = 0;
        rocksdb_property_int_cf(kv->db, kv->cf[i], "rocksdb.total-sst-files-size", &sst);
        rocksdb_property_int_cf(kv->db, kv->cf[i], "rocksdb.cur-size-all-mem-tables", &mem);
        rocksdb_property_int_cf(kv->db, kv->cf[i], "rocksdb.estimate-live-data-size", &live);
        st->db_size_bytes += sst + mem;
        st->db_size_in_use_bytes += live + mem;
    }
}
