/* test_wal_crash.c — the crash test: a writer process killed with SIGKILL at random moments. */
/* A writer process appends and fsyncs batches (entries, hard states, snapshots
 * with their markers, segment releases), reporting on a pipe each batch it starts and each one
 * acknowledged; the parent kills it with SIGKILL at random moments. After every kill the data
 * directory must hold every acknowledged batch, intact and in order, plus at most the whole
 * batch that was in flight — checked by a read-only open before the next writer recovers it. 200
 * rounds; CONCUR_SOAK=1 runs 2000. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "storage/storage.h"
#include "testutil.h"
#include "util/clock.h"
#include "util/err.h"

#define DEADLINE_MS 20000

enum { MSG_READY = 1, MSG_BEGIN = 2, MSG_ACK = 3 };

/* One pipe message (well under PIPE_BUF, so each write is atomic). */
struct msg {
    uint64_t type;
    uint64_t has_snap, snap_index, snap_term;
    uint64_t e0, n, term;
    uint64_t has_hs, hs_term, hs_vote, hs_commit;
};

/* Entry lengths follow from (index, term) so the parent can rebuild any batch. */
static uint32_t len_of(uint64_t index, uint64_t term)
{
    return (uint32_t)((index * 131 + term * 17) % 700);
}

static raft_id vote_of(uint64_t term)
{
    return term % 5 + 1;
}

static void options(struct storage_options *o)
{
    storage_options_default(o);
    o->wal.segment_bytes = 64 << 10;
    o->snap_keep = 2;
}

/* Rebuilds the batch a BEGIN message describes; entries' data is malloc'd into *tb. */
static void rebuild(const struct msg *m, struct tu_batch *tb, struct wal_batch *wb,
                    struct raft_hard_state *hs)
{
    memset(wb, 0, sizeof(*wb));
    tb->n = (uint32_t)m->n;
    tb->v = calloc(m->n ? m->n : 1, sizeof(*tb->v));
    for (uint32_t i = 0; i < m->n; i++) {
        struct raft_entry *e = &tb->v[i];
        e->index = m->e0 + i;
        e->term = m->term;
        e->type = RAFT_ENTRY_NORMAL;
        e->len = len_of(e->index, e->term);
        e->data = e->len ? malloc(e->len) : NULL;
        if (e->len) tu_fill(e->index, e->term, e->len, e->data);
    }
    wb->has_snap = m->has_snap != 0;
    wb->snap_index = m->snap_index;
    wb->snap_term = m->snap_term;
    wb->entries = tb->v;
    wb->n_entries = tb->n;
    if (m->has_hs) {
        hs->term = m->hs_term;
        hs->vote = m->hs_vote;
        hs->commit = m->hs_commit;
        wb->hs = hs;
    }
}

/* ---- The writer (child process) ------------------------------------------------------------ */

static void send_msg(int fd, const struct msg *m)
{
    if (write(fd, m, sizeof(*m)) != (ssize_t)sizeof(*m)) _exit(5);
}

static void writer(const char *dir, int fd, uint64_t seed)
{
    struct storage_options o;
    options(&o);
    struct storage *s;
    struct storage_boot boot;
    char err[1024];
    if (storage_open(dir, &o, &s, &boot, err, sizeof(err)) != 0) {
        fprintf(stderr, "writer: %s\n", err);
        _exit(3);
    }
    /* The writer's own view: the model of its log (terms per index). */
    struct tu_model m;
    tu_model_init(&m);
    struct wal_batch init = {.has_snap = boot.snap.index > 0,
                             .snap_index = boot.snap.index,
                             .snap_term = boot.snap.term,
                             .entries = boot.entries.v,
                             .n_entries = boot.entries.n,
                             .hs = &boot.hs};
    tu_model_apply(&m, &init);
    uint64_t term = m.hs.term ? m.hs.term : 1;
    if (m.last > m.snap_index && tu_model_term(&m, m.last) > term) term = tu_model_term(&m, m.last);
    struct msg ready = {.type = MSG_READY};
    send_msg(fd, &ready);
    struct rng r;
    rng_seed(&r, seed);
    for (;;) {
        struct msg b = {.type = MSG_BEGIN, .term = term};
        uint64_t choice = rng_below(&r, 100);
        uint64_t commit = m.hs.commit;
        if (choice < 6 && commit > m.snap_index) {
            /* Take a snapshot at the commit index: file first, then its marker. */
            uint64_t si = commit, st = tu_model_term(&m, si);
            struct raft_snapshot_meta sm = {.index = si, .term = st};
            sm.config.n_voters = 1;
            sm.config.voters[0] = 1;
            struct snap_writer *sw;
            uint8_t payload[4000];
            tu_fill(si, st, sizeof(payload), payload);
            if (storage_snap_begin(s, &sm, &sw) != 0) _exit(6);
            for (uint32_t off = 0; off < sizeof(payload); off += 1000)
                if (snap_writer_write(sw, off, payload + off, 1000) != 0) _exit(6);
            if (snap_writer_finish(sw, sizeof(payload), NULL) != 0) _exit(6);
            b.has_snap = 1;
            b.snap_index = si;
            b.snap_term = st;
            b.e0 = m.last + 1;
        } else {
            b.e0 = m.last + 1;
            if (choice < 16 && m.last > commit + 1) {
                term++; /* a new leader overwrites an uncommitted suffix */
                b.e0 = rng_range(&r, commit + 1, m.last);
                b.term = term;
            }
            b.n = rng_range(&r, choice < 20 ? 0 : 1, 40);
        }
        uint64_t end = b.n ? b.e0 + b.n - 1 : m.last;
        if (b.n == 0 || rng_chance(&r, 2, 3)) {
            b.has_hs = 1;
            b.hs_term = term;
            b.hs_vote = vote_of(term);
            b.hs_commit = end > commit ? rng_range(&r, commit, end) : commit;
        }
        if (!b.has_snap && !b.has_hs && b.n == 0) continue;
        struct tu_batch tb;
        struct wal_batch wb;
        struct raft_hard_state hs;
        rebuild(&b, &tb, &wb, &hs);
        send_msg(fd, &b);
        int rc = storage_save(s, &wb);
        if (rc != 0) {
            fprintf(stderr, "writer: save: %s\n", wal_errmsg(storage_wal(s)));
            _exit(4);
        }
        struct msg ack = {.type = MSG_ACK};
        send_msg(fd, &ack);
        tu_model_apply(&m, &wb);
        tu_batch_free(&tb);
        if (b.has_snap && storage_release(s, b.snap_index + 1) != 0) _exit(7);
    }
}

/* ---- The parent ----------------------------------------------------------------------------- */

/* Reads one message, waiting until the deadline. Returns 1, 0 at end of file, -1 on timeout. */
static int read_msg(int fd, struct msg *m, uint64_t deadline_ms)
{
    size_t got = 0;
    while (got < sizeof(*m)) {
        uint64_t now = clock_mono_ms();
        if (now >= deadline_ms) return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)(deadline_ms - now));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return -1;
        ssize_t n = read(fd, (char *)m + got, sizeof(*m) - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return got == 0 ? 0 : -1;
        got += (size_t)n;
    }
    return 1;
}

/* Compares a read-only boot of dir with a model. */
static bool boot_matches(const struct storage_boot *b, const struct tu_model *m)
{
    if (b->snap.index != m->snap_index || b->snap.term != m->snap_term ||
        b->hs.term != m->hs.term || b->hs.vote != m->hs.vote || b->hs.commit != m->hs.commit ||
        b->snap.index + b->entries.n != m->last)
        return false;
    for (uint32_t i = 0; i < b->entries.n; i++) {
        const struct raft_entry *e = &b->entries.v[i];
        uint64_t idx = m->snap_index + 1 + i;
        if (e->index != idx || e->term != tu_model_term(m, idx) || e->len != len_of(idx, e->term) ||
            !tu_entry_ok(e))
            return false;
    }
    return true;
}

static void test_crash_rounds(void **state)
{
    (void)state;
    const char *soak = getenv("CONCUR_SOAK");
    int rounds = soak && *soak && strcmp(soak, "0") != 0 ? 2000 : 200;
    char *dir = tu_mkdtemp("wal-crash");
    struct tu_model acked;
    tu_model_init(&acked);
    struct rng r;
    rng_seed(&r, (uint64_t)time(NULL));
    uint64_t seed0 = rng_next(&r);
    print_message("crash test: %d rounds, seed %llu, in %s\n", rounds, (unsigned long long)seed0,
                  dir);
    uint64_t total_acks = 0, inflight_kept = 0, t0 = clock_mono_ms();
    for (int round = 0; round < rounds; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            writer(dir, p[1], seed0 + (uint64_t)round);
            _exit(0);
        }
        close(p[1]);
        uint64_t deadline = clock_mono_ms() + DEADLINE_MS;
        struct msg m;
        int rr = read_msg(p[0], &m, deadline);
        if (rr != 1 || m.type != MSG_READY) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("round %d: the writer did not become ready (%d)", round, rr);
        }
        /* Let it acknowledge a random number of batches, then kill it at a random moment. */
        uint64_t want_acks = rng_below(&r, 25), acks = 0;
        bool have_inflight = false;
        struct msg inflight = {0};
        while (acks < want_acks) {
            rr = read_msg(p[0], &m, deadline);
            if (rr != 1) break;
            if (m.type == MSG_BEGIN) {
                inflight = m;
                have_inflight = true;
            } else if (m.type == MSG_ACK) {
                if (!have_inflight) {
                    kill(pid, SIGKILL);
                    waitpid(pid, NULL, 0);
                    fail_msg("round %d: an acknowledgement without a batch", round);
                }
                struct tu_batch tb;
                struct wal_batch wb;
                struct raft_hard_state hs;
                rebuild(&inflight, &tb, &wb, &hs);
                tu_model_apply(&acked, &wb);
                tu_batch_free(&tb);
                have_inflight = false;
                acks++;
            }
        }
        if (rr != 1) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("round %d: the writer stopped early (%d)", round, rr);
        }
        struct timespec jitter = {0, (long)rng_below(&r, 3000) * 1000};
        nanosleep(&jitter, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* What it reported before dying. */
        while ((rr = read_msg(p[0], &m, clock_mono_ms() + DEADLINE_MS)) == 1) {
            if (m.type == MSG_BEGIN) {
                inflight = m;
                have_inflight = true;
            } else if (m.type == MSG_ACK) {
                struct tu_batch tb;
                struct wal_batch wb;
                struct raft_hard_state hs;
                rebuild(&inflight, &tb, &wb, &hs);
                tu_model_apply(&acked, &wb);
                tu_batch_free(&tb);
                have_inflight = false;
                acks++;
            }
        }
        close(p[0]);
        total_acks += acks;

        struct storage_options o;
        options(&o);
        o.read_only = true;
        struct storage *s;
        struct storage_boot boot;
        char err[1024];
        int rc = storage_open(dir, &o, &s, &boot, err, sizeof(err));
        if (rc) fail_msg("round %d: read-only open: %s", round, err);
        bool ok = boot_matches(&boot, &acked);
        if (!ok && have_inflight) {
            struct tu_model plus;
            tu_model_copy(&plus, &acked);
            struct tu_batch tb;
            struct wal_batch wb;
            struct raft_hard_state hs;
            rebuild(&inflight, &tb, &wb, &hs);
            tu_model_apply(&plus, &wb);
            tu_batch_free(&tb);
            ok = boot_matches(&boot, &plus);
            if (ok) {
                /* The unacknowledged batch made it: it is now what the next writer builds
                 * on, so it joins the model. */
                tu_model_free(&acked);
                acked = plus;
                inflight_kept++;
            } else {
                tu_model_free(&plus);
            }
        }
        if (!ok)
            fail_msg("round %d (seed %llu): recovered snapshot %llu, %u entries, commit %llu; "
                     "acknowledged snapshot %llu, last %llu, commit %llu",
                     round, (unsigned long long)(seed0 + (uint64_t)round),
                     (unsigned long long)boot.snap.index, boot.entries.n,
                     (unsigned long long)boot.hs.commit, (unsigned long long)acked.snap_index,
                     (unsigned long long)acked.last, (unsigned long long)acked.hs.commit);
        storage_boot_free(&boot);
        storage_close(s);
    }
    print_message("crash test: %d kills, %llu acknowledged batches all recovered, %llu in-flight "
                  "batches found complete, %llu ms\n",
                  rounds, (unsigned long long)total_acks, (unsigned long long)inflight_kept,
                  (unsigned long long)(clock_mono_ms() - t0));
    tu_model_free(&acked);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_crash_rounds)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
