/* hist.h — a fixed-size log-linear histogram of non-negative values (latencies, sizes). */
#ifndef CONCUR_UTIL_HIST_H
#define CONCUR_UTIL_HIST_H

#include <stdint.h>

/* Buckets: values below 16 exactly, then 16 sub-buckets per power of two up to 2^63.
 * Relative error of a percentile is below 1/16. Fixed memory, no allocation. */
#define HIST_SUB     16
#define HIST_BUCKETS (HIST_SUB * 61)

struct hist {
    uint64_t count;
    uint64_t sum;
    uint64_t min;
    uint64_t max;
    uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
/* Merges src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* Value at quantile q in [0,1] (upper bound of its bucket, clamped to max); 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
/* Count of recorded values <= v (approximate at bucket granularity, never over-counting). */
uint64_t hist_count_le(const struct hist *h, uint64_t v);

#endif
