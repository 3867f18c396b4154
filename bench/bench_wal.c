/* bench_wal.c — `concur-bench wal`: WAL appends against raw write+fdatasync, and recovery time. */
/* Append throughput and latency against a raw write+fdatasync loop on the same disk, and the
 * time to recover a million entries. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/wal.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/hist.h"

struct cfg {
    const char *parent;
    int pairs;          /* alternating raw / WAL appends for the batch-1 comparison */
    double seconds;     /* time budget per throughput configuration */
    uint64_t recover_n; /* entries for the recovery measurement (0 = skip) */
};

static void usage(void)
{
    fprintf(stderr, "usage: concur-bench wal [--dir DIR] [--pairs N] [--seconds S] "
                    "[--recover-entries N]\n"
                    "  --dir DIR               where to create the temporary directory "
                    "(default: .)\n"
                    "  --pairs N               raw/WAL append pairs, alternating, for the latency "
                    "ratio (default 3000)\n"
                    "  --seconds S             time per throughput configuration (default 2)\n"
                    "  --recover-entries N     entries written then recovered (default 1000000, 0 "
                    "skips)\n");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed * 31 + i * 7);
}

/* One raw write + fdatasync of len bytes at off into a preallocated file: the bound. */
static uint64_t raw_once(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
    uint64_t t0 = clock_mono_ns();
    if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len || fdatasync(fd) != 0) {
        perror("raw write");
        exit(1);
    }
    return (clock_mono_ns() - t0) / 1000;
}

struct appender {
    struct wal *w;
    uint64_t next;
    struct raft_entry *ents;
    uint8_t *data;
    uint32_t cap;
};

/* Appends one batch of n entries of len bytes; returns its latency in microseconds. */
static uint64_t wal_once(struct appender *a, uint32_t n, uint32_t len)
{
    for (uint32_t i = 0; i < n; i++) {
        a->ents[i] = (struct raft_entry){.index = a->next + i,
                                         .term = 1,
                                         .type = RAFT_ENTRY_NORMAL,
                                         .len = len,
                                         .data = a->data + (size_t)i * len};
    }
    struct wal_batch b = {.entries = a->ents, .n_entries = n};
    uint64_t t0 = clock_mono_ns();
    int rc = wal_append(a->w, &b);
    uint64_t us = (clock_mono_ns() - t0) / 1000;
    if (rc) {
        fprintf(stderr, "wal_append: %s: %s\n", cc_errname(rc), wal_errmsg(a->w));
        exit(1);
    }
    a->next += n;
    return us;
}

static struct wal *open_wal(const char *dir)
{
    struct wal_options o;
    wal_options_default(&o);
    struct wal *w;
    char err[512];
    int rc = wal_open(dir, &o, &w, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "wal_open: %s\n", err);
        exit(1);
    }
    return w;
}

static void print_hist(const char *name, const struct hist *h)
{
    printf("%s_us_p50: %" PRIu64 "\n", name, hist_quantile(h, 0.5));
    printf("%s_us_p99: %" PRIu64 "\n", name, hist_quantile(h, 0.99));
}

/* Batch-1 latency against the raw loop, one of each in turn so drift on a shared machine hits
 * both alike. Entry of 128 bytes: the raw write has the size of the WAL's record. */
static void latency_ratio(const char *root, const struct cfg *c, struct appender *a)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/raw", root);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd < 0 || fallocate(fd, 0, 0, 64 << 20) != 0 || fsync(fd) != 0) {
        perror("raw file");
        exit(1);
    }
    size_t rec = 24 + 17 + 128 + 7; /* one entry record of 128 bytes, padded */
    uint8_t buf[256];
    fill(buf, sizeof(buf), 1);
    /* Exact quantiles here (the histogram's 1/16 buckets would blur a ratio near 1). */
    uint64_t *raw = calloc((size_t)c->pairs, sizeof(*raw)), *wal = calloc((size_t)c->pairs, 8);
    uint64_t off = 0;
    for (int i = 0; i < c->pairs; i++, off += rec) {
        raw[i] = raw_once(fd, buf, rec, off);
        wal[i] = wal_once(a, 1, 128);
    }
    close(fd);
    unlink(path);
    qsort(raw, (size_t)c->pairs, sizeof(*raw), cmp_u64);
    qsort(wal, (size_t)c->pairs, sizeof(*wal), cmp_u64);
    size_t p50 = (size_t)c->pairs / 2, p99 = (size_t)c->pairs * 99 / 100;
    printf("raw_fdatasync_us_p50: %" PRIu64 "\nraw_fdatasync_us_p99: %" PRIu64 "\n", raw[p50],
           raw[p99]);
    printf("wal_batch1_128B_paired_us_p50: %" PRIu64 "\nwal_batch1_128B_paired_us_p99: %" PRIu64
           "\n",
           wal[p50], wal[p99]);
    printf("wal_batch1_latency_vs_fdatasync: %.3f\n", (double)wal[p50] / (double)raw[p50]);
    printf("wal_batch1_latency_vs_fdatasync_p99: %.3f\n", (double)wal[p99] / (double)raw[p99]);
    free(raw);
    free(wal);
}

static void throughput(const struct cfg *c, struct appender *a, uint32_t batch, uint32_t len)
{
    struct hist h;
    hist_init(&h);
    uint64_t entries = 0, t0 = clock_mono_ns();
    uint64_t budget = (uint64_t)(c->seconds * 1e9);
    while (clock_mono_ns() - t0 < budget) {
        hist_add(&h, wal_once(a, batch, len));
        entries += batch;
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    char name[64];
    snprintf(name, sizeof(name), "wal_batch%u_%s", batch, len == 128 ? "128B" : "1KiB");
    printf("%s_entries_per_s: %.0f\n", name, (double)entries / secs);
    printf("%s_MB_per_s: %.2f\n", name, (double)entries * len / secs / 1e6);
    print_hist(name, &h);
}

/* Writes n entries of 128 bytes in batches of 1000, then times a full open (scan, verify,
 * index) and reading every entry back. */
static void recovery(const char *root, uint64_t n)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/recover", root);
    struct appender a = {.w = open_wal(dir), .next = 1, .cap = 1000};
    a.ents = calloc(a.cap, sizeof(*a.ents));
    a.data = malloc((size_t)a.cap * 128);
    fill(a.data, (size_t)a.cap * 128, 2);
    for (uint64_t done = 0; done < n;) {
        uint32_t k = n - done > a.cap ? a.cap : (uint32_t)(n - done);
        wal_once(&a, k, 128);
        done += k;
    }
    wal_close(a.w);
    uint64_t t0 = clock_mono_ns();
    struct wal *w = open_wal(dir);
    uint64_t open_ms = (clock_mono_ns() - t0) / 1000000;
    struct wal_state st;
    wal_get_state(w, &st);
    struct wal_entries es;
    int rc = wal_read_entries(w, st.first_index, st.last_index, UINT64_MAX, &es);
    uint64_t all_ms = (clock_mono_ns() - t0) / 1000000;
    if (rc || es.n != n) {
        fprintf(stderr, "recovery read: %s\n", cc_errname(rc));
        exit(1);
    }
    wal_entries_free(&es);
    wal_close(w);
    printf("wal_recover_entries: %" PRIu64 "\n", n);
    printf("wal_recover_segments: %" PRIu64 "\n", st.n_segments);
    printf("wal_recover_open_ms: %" PRIu64 "\n", open_ms);
    printf("wal_recover_open_and_read_ms: %" PRIu64 "\n", all_ms);
    free(a.ents);
    free(a.data);
}

int bench_wal_main(int argc, char **argv)
{
    struct cfg c = {.parent = ".", .pairs = 3000, .seconds = 2.0, .recover_n = 1000000};
    /* Every option takes a value. */
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--dir") && v)
            c.parent = v;
        else if (!strcmp(argv[i], "--pairs") && v)
            c.pairs = atoi(v);
        else if (!strcmp(argv[i], "--seconds") && v)
            c.seconds = atof(v);
        else if (!strcmp(argv[i], "--recover-entries") && v)
            c.recover_n = strtoull(v, NULL, 10);
        else {
            usage();
            return 2;
        }
    }
    if (c.pairs < 1 || c.seconds <= 0) {
        usage();
        return 2;
    }
    char root[4096];
    snprintf(root, sizeof(root), "%s/bench-wal-tmp-XXXXXX", c.parent);
    if (!mkdtemp(root)) {
        fprintf(stderr, "concur-bench wal: cannot create a directory under %s: %s\n", c.parent,
                strerror(errno));
        return 1;
    }
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/wal", root);
    struct appender a = {.w = open_wal(dir), .next = 1, .cap = 256};
    a.ents = calloc(a.cap, sizeof(*a.ents));
    a.data = malloc((size_t)a.cap * 1024);
    fill(a.data, (size_t)a.cap * 1024, 3);
    printf("dir: %s\n", root);
    latency_ratio(root, &c, &a);
    const uint32_t batches[] = {1, 16, 256}, lens[] = {128, 1024};
    for (int l = 0; l < 2; l++)
        for (int b = 0; b < 3; b++) throughput(&c, &a, batches[b], lens[l]);
    wal_close(a.w);
    free(a.ents);
    free(a.data);
    if (c.recover_n) recovery(root, c.recover_n);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
