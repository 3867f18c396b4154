/* test_kv_crash.c — crash safety: a child process applies a deterministic command stream in
 * batches (with flushes, compaction steps and in-place restores) and is killed with SIGKILL at
 * a random point; on restart the applied index and the data must agree exactly (the state is
 * the model after entries 1..applied), the index is never behind the last durable index the
 * child reported, and replaying from applied+1 continues the same history. Label: crash.
 * 25 rounds (scaled by KV_TEST_SCALE); CONCUR_SOAK=1 runs 8 times as many. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvtest.h"
#include "model.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/rng.h"
#include "watchcheck.h"

/* The command of Raft index i: a pure function of i. */
static void cmd_at(uint64_t i, struct kv_cmd *c, struct kv_arena *a, struct kv_op *ops,
                   int64_t rev_hint)
{
    struct rng r;
    rng_seed(&r, i * 0x9e3779b97f4a7c15ull);
    memset(c, 0, sizeof(*c));
    char *v = kv_arena_alloc(a, M_VMAX + 1);
    size_t vl = 1 + rng_below(&r, M_VMAX);
    for (size_t j = 0; j < vl; j++) v[j] = (char)('a' + rng_below(&r, 26));
    struct kv_bytes val = {(const uint8_t *)v, vl};
    const char *k = m_universe[rng_below(&r, M_KEYS)];
    uint64_t kind = rng_below(&r, 100);
    if (kind < 60) {
        c->type = KV_CMD_PUT;
        c->u.put.key = kt_b(k);
        c->u.put.value = val;
        if (rng_chance(&r, 1, 4)) c->u.put.lease = 1 + (int64_t)(i / 500 % 4); /* may be gone */
    } else if (kind < 70) {
        c->type = KV_CMD_DELETE;
        c->u.del.key = kt_b(k);
        c->u.del.range_end = kt_b(m_universe[rng_below(&r, M_KEYS)]);
    } else if (kind < 85) {
        size_t n = 0;
        for (int j = 0; j < M_KEYS; j++) {
            if (!rng_chance(&r, 1, 3)) continue;
            memset(&ops[n], 0, sizeof(ops[n]));
            ops[n].type = KV_OP_PUT;
            ops[n].u.put.key = kt_b(m_universe[j]);
            ops[n].u.put.value = val;
            n++;
        }
        c->type = KV_CMD_TXN;
        c->u.txn = (struct kv_txn){NULL, 0, ops, n, NULL, 0};
    } else if (kind < 90) {
        c->type = KV_CMD_COMPACT; /* a revision a little behind the current one */
        c->u.compact.revision = rev_hint - (int64_t)rng_below(&r, 50);
    } else if (kind < 95) {
        c->type = KV_CMD_LEASE_GRANT;
        c->u.grant.id = 1 + (int64_t)rng_below(&r, 4);
        c->u.grant.ttl_ms = 1000;
    } else {
        c->type = KV_CMD_LEASE_REVOKE;
        c->u.revoke_id = 1 + (int64_t)rng_below(&r, 4);
    }
}

/* Compaction targets depend on the revision when the entry is applied: the model supplies it
 * in the parent, and the child tracks it from its own store (the same number). */
static void child(const char *dir, uint64_t seed, int fd)
{
    struct kt t;
    snprintf(t.dir, sizeof(t.dir), "%s", dir);
    kt_reopen(&t);
    struct rng r;
    rng_seed(&r, seed);
    for (;;) {
        size_t n = 1 + rng_below(&r, 64);
        struct kv_arena a = {0};
        struct buf b[64];
        struct kv_entry e[64];
        struct kv_result res[64];
        struct kv_op ops[M_KEYS];
        int64_t rev = kv_rev(t.kv);
        for (size_t i = 0; i < n; i++) {
            struct kv_cmd c;
            /* the revision hint must be what the parent's model has: entries in one batch see
             * the revision before the batch + the writes before them, so apply one by one when
             * a compaction is in the batch; simpler: use the revision at batch start for all */
            cmd_at(t.index + i, &c, &a, ops, rev);
            buf_init(&b[i], KV_CMD_MAX);
            if (kv_cmd_encode(&c, &b[i])) _exit(3);
            e[i] = (struct kv_entry){t.index + i, b[i].data, b[i].len};
        }
        if (kv_apply(t.kv, e, n, res)) _exit(4);
        for (size_t i = 0; i < n; i++) {
            kv_result_free(&res[i]);
            buf_free(&b[i]);
        }
        kv_arena_free(&a);
        t.index += n;
        uint64_t k = rng_below(&r, 100);
        if (k < 8) {
            if (kv_flush(t.kv)) _exit(5);
            uint64_t d = kv_durable_index(t.kv);
            if (write(fd, &d, sizeof(d)) != sizeof(d)) _exit(6);
        } else if (k < 30) {
            bool done;
            if (kv_compact_step(t.kv, 1 + rng_below(&r, 30), &done)) _exit(7);
        } else if (k < 31) {
            char path[400];
            snprintf(path, sizeof(path), "%s.snap", dir);
            struct kv_snapshot *s;
            if (kv_snapshot_open(t.kv, &s)) _exit(8);
            FILE *f = fopen(path, "wb");
            uint8_t buf[65536];
            size_t got;
            do {
                if (kv_snapshot_read(s, buf, sizeof(buf), &got)) _exit(9);
                fwrite(buf, 1, got, f);
            } while (got);
            fclose(f);
            kv_snapshot_close(s);
            if (kv_restore(t.kv, path)) _exit(10);
        }
        uint64_t progress = 0; /* 0 = "a batch was applied" */
        if (write(fd, &progress, sizeof(progress)) != sizeof(progress)) _exit(11);
    }
}

/* Replays the model up to index `applied`, batch by batch as the child would have (same seed
 * means the same batch boundaries and revision hints). */
struct replay {
    struct model m;
    struct rng r;
    uint64_t next; /* next index the model has not applied */
};

/* Returns true when upto ended exactly at the end of one of the child's batches. */
static bool model_to(struct replay *p, uint64_t upto)
{
    bool boundary = true;
    while (p->next <= upto) {
        size_t n = 1 + rng_below(&p->r, 64);
        int64_t rev = p->m.rev;
        struct kv_arena a = {0};
        struct kv_op ops[M_KEYS];
        size_t i = 0;
        for (; i < n && p->next <= upto; i++) {
            struct kv_cmd c;
            cmd_at(p->next, &c, &a, ops, rev);
            struct kv_result exp;
            m_apply(&p->m, &c, 0, &exp);
            kv_result_free(&exp);
            p->next++;
        }
        kv_arena_free(&a);
        boundary = i == n;
        /* the child's other random choices after a batch */
        uint64_t k = rng_below(&p->r, 100);
        if (k >= 8 && k < 30) rng_below(&p->r, 30);
    }
    return boundary;
}

static void test_crash(void **state)
{
    int rounds = (int)(25 * kt_scale());
    if (rounds < 5) rounds = 5;
    const char *soak = getenv("CONCUR_SOAK"); /* make soak: 8 times as many rounds */
    if (soak && *soak && strcmp(soak, "0") != 0) rounds *= 8;
    struct kt t;
    kt_open(&t);
    kt_close_store(&t);
    struct rng r;
    rng_seed(&r, (uint64_t)time(NULL));
    uint64_t base_seed = rng_next(&r);
    fprintf(stderr, "crash test seed %llu\n", (unsigned long long)base_seed);
    struct model m;
    m_init(&m);
    uint64_t applied_before = 0;
    for (int round = 0; round < rounds; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        uint64_t seed = base_seed + (uint64_t)round;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* exec a fresh process: RocksDB's background threads do not survive a fork */
            close(p[0]);
            char seed_s[32], fd_s[16];
            snprintf(seed_s, sizeof(seed_s), "%llu", (unsigned long long)seed);
            snprintf(fd_s, sizeof(fd_s), "%d", p[1]);
            execl("/proc/self/exe", "test_kv_crash", "--child", t.dir, seed_s, fd_s, (char *)NULL);
            _exit(127);
        }
        close(p[1]);
        int kill_after = 1 + (int)rng_below(&r, 300);
        uint64_t durable = applied_before, msg;
        int batches = 0;
        while (batches < kill_after) {
            ssize_t got = read(p[0], &msg, sizeof(msg));
            if (got != sizeof(msg)) break; /* the child died on its own: a failure below */
            if (msg)
                durable = msg;
            else
                batches++;
        }
        if (rng_chance(&r, 1, 2)) usleep((useconds_t)rng_below(&r, 3000)); /* mid-batch */
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        close(p[0]);

        kt_reopen(&t);
        uint64_t applied = kv_applied_index(t.kv);
        assert_true(applied >= durable); /* what was reported durable is there */
        assert_true(applied >= applied_before);
        /* the model after exactly 1..applied, with the child's batch boundaries */
        struct replay rp;
        rp.m = m;
        rng_seed(&rp.r, seed);
        rp.next = applied_before + 1;
        assert_true(model_to(&rp, applied)); /* a batch is all or nothing */
        m = rp.m;
        assert_int_equal(kv_rev(t.kv), m.rev);
        assert_int_equal(kv_compact_rev(t.kv), m.compact_rev);
        uint32_t h;
        int64_t hr, cr;
        assert_int_equal(kv_hash(t.kv, 0, &h, &hr, &cr), 0);
        assert_int_equal(h, m_hash(&m, m.rev));
        /* the whole retained history reads back as the model's */
        struct tw w;
        int64_t start = m.compact_rev > 1 ? m.compact_rev : 1;
        tw_create(&w, t.kv, &m, "a", (struct kv_bytes){(const uint8_t *)"", 1}, start, true, false,
                  false);
        const char *d = tw_finish(&w, t.kv, &m, &r);
        if (d) fprintf(stderr, "round %d: %s\n", round, d);
        assert_null(d);
        fprintf(stderr,
                "round %d: killed after %d batches, applied %llu (durable %llu), rev %lld\n", round,
                batches, (unsigned long long)applied, (unsigned long long)durable,
                (long long)m.rev);
        kt_close_store(&t);
        applied_before = applied;
    }
    m_free(&m);
    kv_remove_dir(t.dir);
    char snap[300];
    snprintf(snap, sizeof(snap), "%s.snap", t.dir);
    unlink(snap);
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "--child")) {
        child(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]));
        return 0;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_crash)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
