/* internal.h — the kv store's internal structures shared by its source files (not public). */
#ifndef CONCUR_KV_INTERNAL_H
#define CONCUR_KV_INTERNAL_H

#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kv/kv.h"
#include "kv/kv_watch.h"
#include "util/buf.h"
#include "util/log.h"

/* Column families: "default" holds the store state, client sessions and member metadata;
 * "kv" maps revision -> record (etcd's key bucket); "lease" maps lease id -> lease. */
enum { CF_META = 0, CF_REV = 1, CF_LEASE = 2, CF_COUNT = 3 };

/* Meta CF key prefixes. */
#define META_STATE_KEY "S"
#define META_SESSION   's' /* 's' + client id (u64 big-endian) */
#define META_MEMBER    'm' /* 'm' + member-metadata key */
#define META_AUTH      'a' /* 'a' + 'u' user / 'r' role + name, "av" the auth revision */

/* A revision as stored: main revision (etcd's revision) and sub (position in its txn). Subs
 * are below 2^31; bit 31 marks a tombstone in the in-memory index. */
#define REVKEY_LEN 12
#define SUB_MAX    0x7fffffffu

static inline void kv__revkey(uint8_t out[REVKEY_LEN], int64_t main, uint32_t sub)
{
    put_u64be(out, (uint64_t)main);
    for (int i = 0; i < 4; i++) out[8 + i] = (uint8_t)(sub >> (24 - 8 * i));
}

static inline void kv__revkey_parse(const uint8_t *k, int64_t *main, uint32_t *sub)
{
    *main = (int64_t)get_u64be(k);
    *sub = (uint32_t)k[8] << 24 | (uint32_t)k[9] << 16 | (uint32_t)k[10] << 8 | k[11];
}

static inline int kv__bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

/* ---- in-memory key index (index.c) ----
 * One record per key: its retained revisions (ascending) and, for its live generation, the
 * create revision, version and lease, so puts and latest reads need no RocksDB read.
 * Packed to keep a 16-byte key with one revision in a 64-byte malloc chunk. */
struct krec {
    int64_t create_rev;  /* live generation; 0 when the latest revision is a tombstone */
    int64_t version;     /* live generation; 0 when deleted */
    uint32_t lease_slot; /* 0 = none, else the lease table slot (lease.c) */
    uint32_t nrev;
    uint16_t klen;
    uint8_t data[]; /* key bytes, then nrev revisions of 12 bytes: u64le main, u32le sub|tomb */
} __attribute__((packed));

#define KREC_REV_SIZE 12
#define KREC_TOMB     0x80000000u

static inline const uint8_t *krec_key(const struct krec *r)
{
    return r->data;
}
static inline int64_t krec_main(const struct krec *r, uint32_t i)
{
    return (int64_t)get_u64le(r->data + r->klen + (size_t)i * KREC_REV_SIZE);
}
static inline uint32_t krec_subw(const struct krec *r, uint32_t i)
{
    return get_u32le(r->data + r->klen + (size_t)i * KREC_REV_SIZE + 8);
}
static inline uint32_t krec_sub(const struct krec *r, uint32_t i)
{
    return krec_subw(r, i) & ~KREC_TOMB;
}
static inline bool krec_tomb(const struct krec *r, uint32_t i)
{
    return krec_subw(r, i) & KREC_TOMB;
}
/* True when the key exists now (its latest revision is not a tombstone). */
static inline bool krec_live(const struct krec *r)
{
    return r->nrev && !krec_tomb(r, r->nrev - 1);
}

struct krec *kv__krec_new(const uint8_t *key, size_t klen);
/* Appends a revision (must be greater than the last); returns the moved record or NULL (the
 * old one intact) when out of memory. */
struct krec *kv__krec_push(struct krec *r, int64_t main, uint32_t sub, bool tomb);
/* Drops the first n revisions; returns the (possibly moved) record. */
struct krec *kv__krec_drop(struct krec *r, uint32_t n);
/* Index of the latest revision with main <= rev, or -1. */
int kv__krec_at(const struct krec *r, int64_t rev);
/* Index of the latest revision before (main, sub), or -1. */
int kv__krec_before(const struct krec *r, int64_t main, uint32_t sub);

struct kv__idx {
    void *root; /* a leaf when height == 1 */
    int height; /* 0 when empty */
    uint64_t nkeys;
    uint64_t nrevs; /* maintained by the callers that push/drop revisions */
};

struct kv__leaf;
struct kv__cur {
    struct kv__leaf *leaf;
    unsigned pos;
};

void kv__idx_init(struct kv__idx *x);
/* Frees the tree and every record in it. */
void kv__idx_free(struct kv__idx *x);
/* Positions c at the first record with key >= key; returns true when it is equal. */
bool kv__idx_seek(const struct kv__idx *x, const uint8_t *key, size_t klen, struct kv__cur *c);
struct krec *kv__idx_get(const struct kv__idx *x, const uint8_t *key, size_t klen);
/* The record at c, or NULL past the end. */
struct krec *kv__cur_rec(const struct kv__cur *c);
void kv__cur_next(struct kv__cur *c);
/* Replaces the record at c (after kv__krec_push/drop moved it). */
void kv__cur_set(struct kv__cur *c, struct krec *r);
/* Inserts r, whose key must be absent; *at (may be NULL) gets its position. 0 or CC_ENOMEM
 * (tree unchanged). */
int kv__idx_insert(struct kv__idx *x, struct krec *r, struct kv__cur *at);
/* Removes the record with this key (must be present) and returns it (not freed). */
struct krec *kv__idx_remove(struct kv__idx *x, const uint8_t *key, size_t klen);
/* Checks the tree's invariants (tests): 0 or CC_ECORRUPT. */
int kv__idx_verify(const struct kv__idx *x);

/* ---- stored records (record.c): the value of a revision in the "kv" CF ----
 *   u8 flags (bit0 tombstone) | uv key_len | key | [sv create | sv version | sv lease | value] */
struct rec_view {
    bool tomb;
    struct kv_bytes key, value;
    int64_t create_rev, version, lease;
};
int kv__rec_encode(struct buf *b, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                   int64_t create_rev, int64_t version, int64_t lease, bool tomb);
int kv__rec_decode(const uint8_t *p, size_t len, struct rec_view *v);

/* ---- leases (lease.c) ---- */
struct lease_keys { /* open-addressing set of owned key copies */
    uint8_t **slot; /* each: u16 length + bytes, or NULL, or the tombstone marker */
    uint32_t cap, n, used;
};
struct lease {
    int64_t id, ttl_ms, remaining_ms;
    uint64_t deadline_ms; /* leader only; 0 = clock not started */
    uint64_t hold_ms;     /* kv_lease_expired will not report it again before this */
    uint32_t slot;
    struct lease_keys keys;
};
struct lease_due {
    uint64_t deadline; /* 0: a lease granted while leader whose clock has not started */
    int64_t id;
};
struct kv__leases {
    struct lease **slots; /* slot s at slots[s-1] */
    uint32_t nslots, cap;
    uint32_t *freelist;
    uint32_t nfree;
    uint32_t *map; /* open addressing id -> slot (0 empty, UINT32_MAX deleted) */
    uint32_t map_cap, map_used;
    uint64_t count;
    bool primary;
    struct lease_due *heap; /* lazily invalidated min-heap of deadlines */
    size_t heap_n, heap_cap;
};

/* ---- client sessions (session.c) ---- */
struct session {
    uint64_t client_id, seq, index;
    uint8_t *res; /* encoded result (result.c); NULL when too large to keep */
    uint32_t res_len;
    struct session *prev, *next; /* LRU by last index: head oldest */
    struct session *hnext;       /* hash chain */
};
#define KV_SESSIONS_MAX       8192u       /* replicated bound: same on every member */
#define KV_SESSION_RESULT_MAX (16u << 10) /* results larger are not remembered */
struct kv__sessions {
    struct session **buckets;
    uint32_t nbuckets;
    struct session *head, *tail;
    uint32_t count;
};

/* ---- the auth store (auth.c) ---- */
struct kv__auth_ent;
struct kv__auth {
    struct kv__auth_ent **users, **roles; /* sorted by name (bytewise) */
    uint32_t n_users, cap_users, n_roles, cap_roles;
    uint64_t rev; /* etcd's auth revision: 1 for a new store, +1 per change */
};
/* Applies an AUTH command (already checked) inside the open batch. Failures of the command go
 * into res; returns 0 or a fatal error (CC_ENOMEM). */
int kv__auth_cmd(struct kv *kv, const struct kv_auth *c, struct kv_result *res);
/* Reads the auth store from CF_META (replacing what is in memory). 0, CC_ECORRUPT, CC_EIO,
 * CC_ENOMEM with a message in err. */
int kv__auth_load(struct kv *kv, char *err, size_t errlen);
void kv__auth_free(struct kv__auth *A);

/* ---- the current apply batch (apply.c) ----
 * Every revision written in the batch, in order, with its encoded record: reads during the
 * batch look here first (RocksDB has not seen the batch yet), and watchers are fed from it. */
struct pend {
    int64_t main;
    uint32_t sub;
    uint32_t len;
    uint64_t off;      /* in batch.recs */
    int64_t prev_main; /* the key's previous revision (for prev_kv), 0 when none */
    uint32_t prev_sub;
};
struct kv__batch {
    bool active;
    rocksdb_writebatch_t *wb;
    struct pend *pend;
    size_t npend, cap;
    struct buf recs;
    int64_t first_rev; /* revisions >= this may be pending */
};

/* ---- watchers (watch.c) ---- */
struct kv__watch;

/* ---- the store ---- */
struct kv {
    struct kv_opts opts;
    char dir[4096];
    char err[512];
    struct logger *log;
    bool stopped;

    /* RocksDB */
    uint32_t db_gen; /* the live database directory is dir/db-<gen> */
    rocksdb_t *db;
    rocksdb_options_t *dbopts;
    rocksdb_options_t *cfopts[CF_COUNT];
    rocksdb_column_family_handle_t *cf[CF_COUNT];
    rocksdb_block_based_table_options_t *bbto;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;

    /* replicated state */
    uint64_t applied, durable;
    int64_t rev, compact_rev;
    int64_t compact_target;    /* physical compaction in progress up to this revision, 0 idle */
    struct buf compact_cursor; /* next key to visit */
    struct kv__idx idx;
    struct kv__leases leases;
    struct kv__sessions sessions;
    struct kv__auth auth;

    struct kv__batch batch;
    struct kv__watch *watch;
    uint32_t snap_seq;
};

/* store.c */
int kv__fail(struct kv *kv, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records a fatal error (what: context; rocks_err: RocksDB's message, freed here, may be NULL),
 * stops the store and returns rc. */
int kv__stop(struct kv *kv, int rc, const char *what, char *rocks_err);
int kv__put_state(struct kv *kv, rocksdb_writebatch_t *wb);
int kv__db_open(struct kv *kv, uint32_t gen, char *err, size_t errlen);
/* A store object without a database: options, buffers and empty tables (restore opens a second
 * one beside the live store). kv__shell_free frees it and whatever it holds. */
int kv__shell_init(struct kv *kv, const struct kv_opts *opts);
void kv__shell_free(struct kv *kv);
/* Atomically points dir/CURRENT_DB at db-<gen>: the switch of kv_restore. */
int kv__write_pointer(struct kv *kv, uint32_t gen);
void kv__db_close(struct kv *kv);
int kv__load(struct kv *kv, char *err, size_t errlen);
void kv__state_free(struct kv *kv);
int kv__write(struct kv *kv, rocksdb_writebatch_t *wb);
/* Creates a RocksDB checkpoint at path (flushing every column family atomically). */
int kv__checkpoint(struct kv *kv, const char *path);

/* read.c: a revision's record, from the pending batch or RocksDB. */
struct kv__got {
    rocksdb_pinnableslice_t *ps;
    struct rec_view v;
};
int kv__get_rev(struct kv *kv, int64_t main, uint32_t sub, struct kv__got *g);
void kv__got_release(struct kv__got *g);
/* The range engine shared by kv_range, txn ranges and compares. cur_rev is the revision the
 * caller's view is at (etcd's curRev). max_bytes: 0 = unlimited; over it: CC_ETOOBIG, or when
 * truncate is set, the result is cut there with more = true. */
int kv__range(struct kv *kv, const struct kv_range *r, int64_t cur_rev, struct kv_arena *a,
              struct kv_range_res *out, size_t max_bytes, bool truncate, int *msg);
/* Fills out (bytes copied into a) with the key's visible version from its index record. */
int kv__kv_at(struct kv *kv, const struct krec *r, int ri, struct kv_arena *a, bool with_value,
              struct kv_kv *out);
/* True when key is inside the etcd range (key, end) (end empty = single key, "\0" = from). */
bool kv__in_range(const uint8_t *k, size_t kl, struct kv_bytes key, struct kv_bytes end);

/* apply.c: writes inside one revision (etcd storeTxnWrite). */
struct wtx {
    int64_t begin_rev;
    uint32_t changes;
};
static inline int64_t wtx_rev(const struct wtx *t)
{
    return t->begin_rev + (t->changes ? 1 : 0);
}
/* A put inside a revision. cur: the key's position from kv__idx_seek just before (with found
 * saying whether it exists), or NULL to look it up here. */
int kv__wtx_put(struct kv *kv, struct wtx *t, struct kv_bytes key, struct kv_bytes value,
                int64_t lease, struct kv__cur *cur, bool found);
int kv__wtx_delete(struct kv *kv, struct wtx *t, struct kv_bytes key, struct kv_bytes end,
                   struct kv_arena *a, struct kv_delete_res *res, bool prev_kv);
void kv__wtx_end(struct kv *kv, struct wtx *t);
/* etcd's Put in an open revision: 0, or a cc_err with *msg set (command failed, nothing
 * written) or with *msg == KV_MSG_NONE (fatal). */
int kv__apply_put(struct kv *kv, struct wtx *t, const struct kv_put *p, struct kv_arena *a,
                  struct kv_put_res *res, int *msg);

/* txn.c */
int kv__txn_apply(struct kv *kv, const struct kv_txn *t, struct kv_result *res);

/* lease.c */
int kv__leases_init(struct kv__leases *L);
void kv__leases_free(struct kv__leases *L);
struct lease *kv__lease_get(const struct kv *kv, int64_t id);
struct lease *kv__lease_slot(const struct kv *kv, uint32_t slot);
int kv__lease_new(struct kv *kv, int64_t id, int64_t ttl_ms, int64_t remaining_ms,
                  struct lease **out);
void kv__lease_del(struct kv *kv, struct lease *l);
int kv__lease_attach(struct lease *l, const uint8_t *key, size_t klen);
void kv__lease_detach(struct lease *l, const uint8_t *key, size_t klen);
int kv__lease_persist(struct kv *kv, rocksdb_writebatch_t *wb, const struct lease *l);
int kv__lease_cmd(struct kv *kv, uint64_t index, const struct kv_cmd *c, struct kv_result *res);
int kv__leases_load(struct kv *kv, char *err, size_t errlen);
/* After a restore on the leader: every lease's clock restarts at the next expiry check. */
void kv__leases_restart(struct kv *kv);
/* The length of a key-set entry (u16 length + bytes). */
size_t kv__lease_key_len(const uint8_t *e);
/* The lease's keys sorted (etcd revokes them in sorted order): a malloc'd array the caller
 * frees, whose entries point into the set; NULL without memory. */
uint8_t **kv__lease_keys_sorted(const struct lease_keys *s);
/* Lease CF key: the id as big-endian with the sign bit flipped, so keys sort like ids. */
void kv__lease_key(uint8_t out[8], int64_t id);
/* lease_clock.c: queues a deadline (0 = a clock to start at the next check). */
int kv__lease_heap_push(struct kv__leases *L, uint64_t when, int64_t id);

/* session.c */
int kv__sessions_init(struct kv__sessions *S);
void kv__sessions_free(struct kv__sessions *S);
/* When (client_id, seq) was seen: fills res (remembered result or a stale error) and returns
 * 1; 0 when the command must be applied; <0 on error. */
int kv__session_check(struct kv *kv, uint64_t client_id, uint64_t seq, struct kv_result *res);
int kv__session_record(struct kv *kv, uint64_t client_id, uint64_t seq, uint64_t index,
                       const struct kv_result *res);
int kv__sessions_load(struct kv *kv, char *err, size_t errlen);

/* result.c */
int kv__result_encode(const struct kv_result *r, struct buf *b);
int kv__result_decode(const uint8_t *p, size_t len, struct kv_result *r);

/* compact.c */
int kv__compact_cmd(struct kv *kv, const struct kv_compact *c, struct kv_result *res);
/* How many leading revisions of r a compaction at revision c removes. */
int kv__compact_drop_count(const struct krec *r, int64_t c);

/* watch.c */
int kv__watch_init(struct kv *kv);
void kv__watch_free(struct kv *kv);
bool kv__watch_active(const struct kv *kv);
int kv__watch_dispatch(struct kv *kv);
/* After kv_restore: every watcher catches up from the new store (old_rev: the revision before). */
void kv__watch_restored(struct kv *kv, int64_t old_rev);
uint64_t kv__watch_count(const struct kv *kv);

/* fsutil.c */
int kv__fsync_dir(const char *path);
int kv__rmtree(const char *path);
int kv__mkdir(const char *path);
int kv__write_file_atomic(const char *dir, const char *name, const void *data, size_t len);
int kv__read_small_file(const char *path, char *out, size_t cap, size_t *len);
int kv__path(char *out, size_t cap, const char *a, const char *b);

#endif
