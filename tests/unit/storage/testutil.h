/* testutil.h — helpers shared by the storage tests. */
/* Temporary directories, deterministic entries, a reference model of the log, file surgery. */
#ifndef CONCUR_TESTS_STORAGE_TESTUTIL_H
#define CONCUR_TESTS_STORAGE_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "storage/wal.h"
#include "util/log.h"
#include "util/rng.h"

/* Creates a fresh directory under the current directory (the build tree, on the same disk the
 * product uses) and returns its malloc'd path. Aborts on failure. */
char *tu_mkdtemp(const char *prefix);
/* rm -rf path. */
void tu_rmrf(const char *path);

/* Fills out with the bytes entry (index, term) of len bytes always has in these tests. */
void tu_fill(uint64_t index, uint64_t term, uint32_t len, uint8_t *out);
/* Whether e holds exactly what tu_fill would produce for its index/term/len. */
bool tu_entry_ok(const struct raft_entry *e);

/* A batch of generated NORMAL entries first..first+n-1 of term, lengths in [lmin, lmax]. */
struct tu_batch {
    struct raft_entry *v;
    uint32_t n;
};
void tu_batch_make(struct tu_batch *b, struct rng *r, uint64_t first, uint32_t n, uint64_t term,
                   uint32_t lmin, uint32_t lmax);
void tu_batch_free(struct tu_batch *b);

/* A reference model of what the WAL must hold: term and length per index, snapshot, state. */
struct tu_model {
    uint64_t snap_index, snap_term;
    struct raft_hard_state hs;
    uint64_t last;
    uint64_t *term; /* term[i - snap_index - 1] */
    uint32_t *len;
    size_t cap;
};
void tu_model_init(struct tu_model *m);
void tu_model_free(struct tu_model *m);
void tu_model_copy(struct tu_model *dst, const struct tu_model *src);
/* Term of index in the model (snap_term at snap_index, 0 when unknown). */
uint64_t tu_model_term(const struct tu_model *m, uint64_t index);
/* Applies an acknowledged batch with the WAL's semantics. */
void tu_model_apply(struct tu_model *m, const struct wal_batch *b);
/* Asserts (cmocka) that w holds exactly the model: state and every entry read back intact. */
void tu_model_check(const struct tu_model *m, struct wal *w);
/* Same check; returns false instead of failing (for "either state" comparisons). */
bool tu_model_equal(const struct tu_model *m, struct wal *w);

/* A logger for the code under test: /dev/null, or stderr when STORAGE_TEST_LOG is set. Lives
 * for the whole test process. */
const struct logger *tu_logger(void);

/* 1, or a larger repeat factor when CONCUR_SOAK is set (make soak). */
int tu_soak(void);

/* Whole-file helpers. */
uint8_t *tu_read_file(const char *path, size_t *len);
void tu_write_file(const char *path, const uint8_t *data, size_t len);
size_t tu_count_files(const char *dir, const char *suffix);
/* The path of the n-th (0-based, by name) file in dir ending with suffix, into out. */
bool tu_nth_file(const char *dir, const char *suffix, size_t n, char *out, size_t outlen);

#endif
