/* kvtest.h — helpers shared by the kv tests: temporary stores, building and applying commands. */
#ifndef CONCUR_TESTS_KVTEST_H
#define CONCUR_TESTS_KVTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"
#include "kv/kv_cmd.h"
#include "kv/kv_watch.h"

/* A store in a fresh temporary directory, with the next Raft index to apply. */
struct kt {
    char dir[256];
    struct kv *kv;
    uint64_t index;
};

/* Creates a temporary directory and opens a store in it (asserts on failure). */
void kt_open(struct kt *t);
/* Opens another store on the same directory after kt_close_store. */
void kt_reopen(struct kt *t);
void kt_close_store(struct kt *t);
/* Closes and removes the directory. */
void kt_destroy(struct kt *t);

struct kv_bytes kt_b(const char *s); /* a C string as bytes ("" -> empty) */

/* Encodes and applies one command at the next index; res must be freed by the caller. */
void kt_apply(struct kt *t, const struct kv_cmd *c, struct kv_result *res);
/* Applies a no-op entry (empty data). */
void kt_noop(struct kt *t);

/* Convenience commands; each returns the result's err and frees the result. */
int kt_put(struct kt *t, const char *k, const char *v, int64_t lease);
int kt_del(struct kt *t, const char *k, const char *end, int64_t *deleted);
int64_t kt_grant(struct kt *t, int64_t id, int64_t ttl_ms);
int kt_revoke(struct kt *t, int64_t id);
int kt_compact(struct kt *t, int64_t rev);
/* Reads one key at the latest revision: 1 found (value copied into out, at most cap), 0 not. */
int kt_get(struct kt *t, const char *k, char *out, size_t cap, struct kv_kv *meta);

/* Writes a snapshot archive of kv (kv_snapshot_open/read) to the file at path (asserts). */
void kt_write_archive(struct kv *kv, const char *path);

/* A scale factor for randomized tests: smaller under sanitizers (CONCUR_SANITIZE) or when
 * KV_TEST_SCALE is set in the environment. */
double kt_scale(void);

#endif
