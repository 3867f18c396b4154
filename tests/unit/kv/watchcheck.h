/* watchcheck.h — a watcher under test: polls it, keeps copies of what it delivered, and checks
 * the delivery against the model (ordered, unique, reliable, atomic; cancellation only when
 * behind the compact revision). Shared by the model and watch tests. */
#ifndef CONCUR_TESTS_KV_WATCHCHECK_H
#define CONCUR_TESTS_KV_WATCHCHECK_H

#include "model.h"
#include "util/rng.h"

struct gotev {
    struct mevent e;
    int poll;
};

struct tw {
    struct kv_watcher *w;
    char key[8], end[8];
    size_t klen, elen;
    int64_t start; /* the first revision it must deliver */
    bool prev_kv, no_put, no_delete, canceled;
    int64_t compact_rev;
    struct gotev *got;
    size_t n, cap;
    int polls;
    long wakeups; /* ready callbacks received */
};

/* Registers a watcher on key/end (copied; end "\0" is from-key) from start_rev (<= 0: next
 * revision; the model's current revision is m->rev). Asserts on failure. */
void tw_create(struct tw *w, struct kv *kv, const struct model *m, const char *key,
               struct kv_bytes end, int64_t start_rev, bool prev_kv, bool no_put, bool no_delete);

/* Polls once with max_bytes; returns the batch's `more`. */
bool tw_poll(struct tw *w, struct kv *kv, size_t max_bytes);

/* Drains the watcher (polls with budgets from r until nothing more), checks everything it
 * delivered against the model, cancels and frees it. Returns NULL or what went wrong. */
const char *tw_finish(struct tw *w, struct kv *kv, const struct model *m, struct rng *r);

#endif
