/* model.h — a small in-memory reference model of etcd's MVCC semantics for the kv tests: full
 * history per key, no physical compaction, written straight from etcd's documented behaviour. */
#ifndef CONCUR_TESTS_KV_MODEL_H
#define CONCUR_TESTS_KV_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "kv/kv.h"
#include "kv/kv_watch.h"

#define M_KEYS   10 /* the key universe */
#define M_VMAX   24 /* longest value */
#define M_LEASES 64

struct mrev {
    int64_t main;
    uint32_t sub;
    bool tomb;
    uint8_t val[M_VMAX];
    size_t vlen;
    int64_t create, version, lease;
};

struct mkey {
    const char *key;
    struct mrev *revs;
    size_t n, cap;
};

struct mlease {
    int64_t id, ttl_ms, remaining_ms;
    bool alive;
};

struct model {
    struct mkey keys[M_KEYS]; /* sorted by key */
    int64_t rev, compact_rev;
    struct mlease leases[M_LEASES];
    int nleases;
};

extern const char *const m_universe[M_KEYS];

void m_init(struct model *m);
void m_free(struct model *m);
/* Deep copy (for snapshot checks). */
void m_copy(struct model *dst, const struct model *src);

/* Applies cmd as etcd would and fills the expected result into *exp (exp->mem owns bytes).
 * lease_id: the id the store generated for a LEASE_GRANT with id 0 (the model takes it). */
void m_apply(struct model *m, const struct kv_cmd *c, int64_t granted_id, struct kv_result *exp);
/* Expected range result (err in return value, msg in *msg). */
int m_range(struct model *m, const struct kv_range *r, int64_t cur_rev, struct kv_arena *a,
            struct kv_range_res *out, int *msg);
/* HashKV of the model at rev (the store's definition, from the stored record format). */
uint32_t m_hash(const struct model *m, int64_t rev);

/* Compares two results field by field; returns NULL or a description of the first difference
 * (static buffer). */
const char *m_result_diff(const struct kv_result *got, const struct kv_result *exp);
const char *m_range_diff(const struct kv_range_res *got, const struct kv_range_res *exp);

/* Expected event stream for a watcher: every revision >= start whose key is in range and passes
 * the filters, with prev_kv when asked (as a range at main-1 would return it). */
struct mevent {
    struct kv_event ev;
    uint8_t kbuf[32], vbuf[M_VMAX], pkbuf[32], pvbuf[M_VMAX];
};
size_t m_events(const struct model *m, struct kv_bytes key, struct kv_bytes end, int64_t start,
                bool prev_kv, bool no_put, bool no_delete, struct mevent **out);

#endif
