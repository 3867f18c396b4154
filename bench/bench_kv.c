/* bench_kv.c — concur-bench kv: the state machine's apply throughput, range reads, memory per
 * key, watch fan-out and compaction pauses. Prints one `name: value` per line.
 *   concur-bench kv [--dir DIR] [--keys N] [--seconds S] [--only range|apply|fanout|compact]
 * DIR (default $TMPDIR or /tmp) receives a temporary store that is removed afterwards. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv/kv.h"
#include "kv/kv_watch.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/hist.h"
#include "util/rng.h"

struct bench {
    char dir[512];
    struct kv *kv;
    uint64_t index;
    struct rng r;
    uint64_t cpu_ns; /* apply thread CPU inside kv_apply */
};

static int open_store(struct bench *b, const char *base)
{
    snprintf(b->dir, sizeof(b->dir), "%s/concur-bench-kv-XXXXXX", base);
    if (!mkdtemp(b->dir)) {
        perror("mkdtemp");
        return -1;
    }
    struct kv_opts o = {0};
    o.dir = b->dir;
    char err[256];
    if (kv_open(&o, &b->kv, err, sizeof(err))) {
        fprintf(stderr, "kv_open: %s\n", err);
        return -1;
    }
    b->index = 1;
    return 0;
}

static void close_store(struct bench *b)
{
    kv_close(b->kv);
    b->kv = NULL;
    kv_remove_dir(b->dir);
}

/* CPU time of the calling thread: the machines are shared, so throughput per CPU-second of the
 * apply thread is reported next to wall-clock figures (RocksDB's own threads excluded). */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Applies `n` puts of key(i) for i in [first, first+n) in batches of `batch`; returns seconds
 * spent inside kv_apply. keyfn makes 16-byte keys. */
static void make_key(uint64_t i, char out[24])
{
    snprintf(out, 24, "key-%012" PRIu64, (uint64_t)(i % 1000000000000ull));
}

static int put_batch(struct bench *b, const uint64_t *ids, size_t n, size_t vlen, struct hist *h,
                     double *secs)
{
    static struct buf enc[256];
    struct kv_entry e[256];
    struct kv_result res[256];
    char key[24];
    static uint8_t val[4096];
    for (size_t i = 0; i < n; i++) {
        if (!enc[i].limit) buf_init(&enc[i], KV_CMD_MAX);
        buf_reset(&enc[i]);
        make_key(ids[i], key);
        for (size_t j = 0; j < vlen; j += 8) val[j] = (uint8_t)rng_next(&b->r);
        struct kv_cmd c = {.type = KV_CMD_PUT};
        c.u.put.key = (struct kv_bytes){(const uint8_t *)key, 16};
        c.u.put.value = (struct kv_bytes){val, vlen};
        if (kv_cmd_encode(&c, &enc[i])) return -1;
        e[i] = (struct kv_entry){b->index++, enc[i].data, enc[i].len};
    }
    uint64_t t0 = clock_mono_ns(), c0 = thread_cpu_ns();
    int rc = kv_apply(b->kv, e, n, res);
    uint64_t dt = clock_mono_ns() - t0;
    b->cpu_ns += thread_cpu_ns() - c0;
    if (rc) {
        fprintf(stderr, "kv_apply: %s\n", kv_errmsg(b->kv));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (res[i].err) {
            fprintf(stderr, "put failed: %d\n", res[i].err);
            return -1;
        }
        kv_result_free(&res[i]);
    }
    if (h) hist_add(h, dt / 1000);
    *secs += (double)dt / 1e9;
    return 0;
}

/* Loads keys [0, n) in order, batches of 256, 100-byte values. */
static int load(struct bench *b, uint64_t n, size_t vlen, double *secs)
{
    uint64_t ids[256];
    for (uint64_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < 256 && i < n; k++, i++) ids[k] = i;
        if (put_batch(b, ids, k, vlen, NULL, secs)) return -1;
    }
    return 0;
}

static int bench_apply(const char *base, uint64_t keys, double seconds)
{
    struct bench b = {0};
    rng_seed(&b.r, 1);
    if (open_store(&b, base)) return -1;
    struct hist h;
    hist_init(&h);
    double secs = 0;
    uint64_t puts = 0, ids[64];
    uint64_t deadline = clock_mono_ns() + (uint64_t)(seconds * 1e9);
    while (clock_mono_ns() < deadline) {
        for (int i = 0; i < 64; i++) ids[i] = rng_below(&b.r, keys);
        if (put_batch(&b, ids, 64, 256, &h, &secs)) return -1;
        puts += 64;
    }
    printf("kv_apply_puts_per_s: %.0f\n", (double)puts / secs);
    printf("kv_apply_puts_per_cpu_s: %.0f\n", (double)puts / ((double)b.cpu_ns / 1e9));
    printf("kv_apply_batch64_p50_us: %" PRIu64 "\n", hist_quantile(&h, 0.5));
    printf("kv_apply_batch64_p99_us: %" PRIu64 "\n", hist_quantile(&h, 0.99));
    printf("kv_apply_batch64_max_us: %" PRIu64 "\n", h.max);
    close_store(&b);
    return 0;
}

/* Memory per key at `keys` live keys, then range reads over them. */
static int bench_rss_range(const char *base, uint64_t keys, double seconds)
{
    struct bench b = {0};
    rng_seed(&b.r, 2);
    uint64_t before = rss_bytes();
    if (open_store(&b, base)) return -1;
    double secs = 0;
    if (load(&b, keys, 100, &secs)) return -1;
    uint64_t after = rss_bytes();
    struct kv_status st;
    kv_get_status(b.kv, &st);
    printf("kv_load_puts_per_s: %.0f\n", (double)keys / secs);
    printf("kv_rss_bytes_per_key: %.1f\n", (double)(after - before) / (double)keys);
    printf("kv_rss_mib_at_load: %.1f\n", (double)(after - before) / 1048576.0);

    struct hist h;
    hist_init(&h);
    uint64_t n = 0, t_end = clock_mono_ns() + (uint64_t)(seconds * 1e9);
    uint64_t t0 = clock_mono_ns(), c0 = thread_cpu_ns();
    char key[24], end[24];
    while (clock_mono_ns() < t_end) {
        /* [k, k+1000): 1000 keys with their values (count is exact, so a range's cost is
         * proportional to the keys it covers, as in etcd) */
        uint64_t first = rng_below(&b.r, keys > 1000 ? keys - 1000 : 1);
        make_key(first, key);
        make_key(first + 1000, end);
        struct kv_range q = {0};
        q.key = (struct kv_bytes){(const uint8_t *)key, 16};
        q.range_end = (struct kv_bytes){(const uint8_t *)end, 16};
        struct kv_arena a = {0};
        struct kv_range_res res;
        uint64_t s = clock_mono_ns();
        if (kv_range(b.kv, &q, &a, &res, NULL) || res.n != 1000) {
            fprintf(stderr, "range failed\n");
            return -1;
        }
        hist_add(&h, (clock_mono_ns() - s) / 1000);
        kv_arena_free(&a);
        n++;
    }
    double rs = (double)(clock_mono_ns() - t0) / 1e9;
    printf("kv_range_1k_per_s: %.0f\n", (double)n / rs);
    printf("kv_range_1k_per_cpu_s: %.0f\n", (double)n / ((double)(thread_cpu_ns() - c0) / 1e9));
    printf("kv_range_1k_p99_us: %" PRIu64 "\n", hist_quantile(&h, 0.99));
    printf("kv_rss_bytes_per_key_after_reads: %.1f\n",
           (double)(rss_bytes() - before) / (double)keys);
    /* what the member pays to make the state durable, and to restart */
    uint64_t f0 = clock_mono_ns();
    if (kv_flush(b.kv)) return -1;
    printf("kv_flush_ms: %.1f\n", (double)(clock_mono_ns() - f0) / 1e6);
    kv_close(b.kv);
    struct kv_opts o = {0};
    o.dir = b.dir;
    char err[256];
    uint64_t o0 = clock_mono_ns();
    if (kv_open(&o, &b.kv, err, sizeof(err))) {
        fprintf(stderr, "reopen: %s\n", err);
        return -1;
    }
    printf("kv_reopen_rebuild_ms: %.0f\n", (double)(clock_mono_ns() - o0) / 1e6);
    close_store(&b);
    return 0;
}

struct fan {
    long ready;
};

static void on_ready(void *ud, struct kv_watcher *w)
{
    ((struct fan *)ud)->ready++;
}

static int bench_fanout(const char *base, double seconds)
{
    struct bench b = {0};
    rng_seed(&b.r, 3);
    if (open_store(&b, base)) return -1;
    enum { W = 1000 };
    static struct kv_watcher *ws[W];
    struct fan f = {0};
    char key[24];
    make_key(42, key);
    for (int i = 0; i < W; i++) {
        struct kv_watch_req req = {
            {(const uint8_t *)key, 16}, {NULL, 0}, 0, false, false, false, on_ready, &f};
        if (kv_watch_create(b.kv, &req, &ws[i])) return -1;
    }
    uint64_t events = 0, ids[8];
    double secs = 0;
    uint64_t t0 = clock_mono_ns(), t_end = t0 + (uint64_t)(seconds * 1e9), c0 = thread_cpu_ns();
    while (clock_mono_ns() < t_end) {
        for (int i = 0; i < 8; i++) ids[i] = 42;
        if (put_batch(&b, ids, 8, 100, NULL, &secs)) return -1; /* 8 revisions, 8000 events */
        for (int i = 0; i < W; i++) {
            struct kv_watch_batch wb;
            bool more = true;
            while (more) {
                if (kv_watch_poll(b.kv, ws[i], 1 << 20, &wb)) return -1;
                events += wb.n;
                more = wb.more;
                kv_watch_batch_free(&wb);
            }
        }
    }
    double total = (double)(clock_mono_ns() - t0) / 1e9;
    printf("kv_watch_fanout_events_per_s: %.0f\n", (double)events / total);
    printf("kv_watch_fanout_events_per_cpu_s: %.0f\n",
           (double)events / ((double)(thread_cpu_ns() - c0) / 1e9));
    printf("kv_watch_fanout_watchers: %d\n", W);
    for (int i = 0; i < W; i++) kv_watch_cancel(b.kv, ws[i]);
    close_store(&b);
    return 0;
}

static int bench_compact(const char *base, uint64_t keys)
{
    struct bench b = {0};
    rng_seed(&b.r, 4);
    if (open_store(&b, base)) return -1;
    double secs = 0;
    if (load(&b, keys, 100, &secs) || load(&b, keys, 100, &secs)) return -1; /* 1 old rev/key */
    struct kv_cmd c = {.type = KV_CMD_COMPACT};
    c.u.compact.revision = kv_rev(b.kv);
    struct buf enc;
    buf_init(&enc, 1024);
    kv_cmd_encode(&c, &enc);
    struct kv_entry e = {b.index++, enc.data, enc.len};
    struct kv_result res;
    uint64_t t0 = clock_mono_ns();
    if (kv_apply(b.kv, &e, 1, &res) || res.err) return -1;
    double cmd_ms = (double)(clock_mono_ns() - t0) / 1e6;
    kv_result_free(&res);
    buf_free(&enc);
    /* the member's loop: a compaction step, then an apply batch, alternately */
    struct hist steps, steps_cpu, applies;
    hist_init(&steps);
    hist_init(&steps_cpu);
    hist_init(&applies);
    bool done = false;
    uint64_t ids[64], nsteps = 0, ts = clock_mono_ns();
    while (!done) {
        uint64_t s = clock_mono_ns(), sc = thread_cpu_ns();
        if (kv_compact_step(b.kv, KV_COMPACT_STEP_BUDGET, &done)) return -1;
        hist_add(&steps, (clock_mono_ns() - s) / 1000);
        hist_add(&steps_cpu, (thread_cpu_ns() - sc) / 1000);
        nsteps++;
        for (int i = 0; i < 64; i++) ids[i] = keys + rng_below(&b.r, keys); /* new keys */
        double d = 0;
        if (put_batch(&b, ids, 64, 100, &applies, &d)) return -1;
    }
    double total = (double)(clock_mono_ns() - ts) / 1e9;
    printf("kv_compact_cmd_ms: %.3f\n", cmd_ms);
    printf("kv_compact_revisions: %" PRIu64 "\n", keys);
    printf("kv_compact_steps: %" PRIu64 "\n", nsteps);
    printf("kv_compact_seconds: %.2f\n", total);
    printf("kv_compact_step_p99_ms: %.3f\n", (double)hist_quantile(&steps, 0.99) / 1000.0);
    printf("kv_compact_max_pause_ms: %.3f\n", (double)steps.max / 1000.0);
    printf("kv_compact_step_max_cpu_ms: %.3f\n", (double)steps_cpu.max / 1000.0);
    printf("kv_apply_batch64_max_ms_during_compact: %.3f\n", (double)applies.max / 1000.0);
    close_store(&b);
    return 0;
}

int bench_kv_main(int argc, char **argv)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    uint64_t keys = 1000000;
    double seconds = 5;
    const char *only = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--keys") && i + 1 < argc)
            keys = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: concur-bench kv [--dir DIR] [--keys N] [--seconds S] "
                            "[--only range|apply|fanout|compact]\n");
            return 2;
        }
    }
    if (!keys) keys = 1;
    printf("kv_keys: %" PRIu64 "\n", keys);
    bool all = !*only;
    if ((all || !strcmp(only, "range")) && bench_rss_range(base, keys, seconds)) return 1;
    if ((all || !strcmp(only, "apply")) && bench_apply(base, keys, seconds)) return 1;
    if ((all || !strcmp(only, "fanout")) && bench_fanout(base, seconds)) return 1;
    if ((all || !strcmp(only, "compact")) && bench_compact(base, keys)) return 1;
    return 0;
}
