/* hist.c — log-linear histogram. */
#include "util/hist.h"

#include <string.h>

static int bucket_of(uint64_t v)
{
    if (v < HIST_SUB) return (int)v;
    int msb = 63 - __builtin_clzll(v); /* >= 4 */
    int shift = msb - 4;
    int sub = (int)((v >> shift) & (HIST_SUB - 1));
    int idx = (msb - 3) * HIST_SUB + sub;
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Largest value that falls in bucket idx. */
static uint64_t bucket_upper(int idx)
{
    if (idx < HIST_SUB) return (uint64_t)idx;
    int msb = idx / HIST_SUB + 3;
    int sub = idx % HIST_SUB;
    int shift = msb - 4;
    uint64_t base = ((uint64_t)(HIST_SUB + sub)) << shift;
    return base + ((1ull << shift) - 1);
}

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
}

void hist_add(struct hist *h, uint64_t v)
{
    if (h->count == 0 || v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->count++;
    h->sum += v;
    h->buckets[bucket_of(v)]++;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (!src->count) return;
    if (dst->count == 0 || src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
    for (int i = 0; i < HIST_BUCKETS; i++) dst->buckets[i] += src->buckets[i];
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (!h->count) return 0;
    if (q <= 0) return h->min;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1) rank = 1;
    if (rank > h->count) rank = h->count;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t u = bucket_upper(i);
            return u > h->max ? h->max : u;
        }
    }
    return h->max;
}

uint64_t hist_count_le(const struct hist *h, uint64_t v)
{
    uint64_t n = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        if (bucket_upper(i) > v) break;
        n += h->buckets[i];
    }
    return n;
}
