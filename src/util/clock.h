/* clock.h — monotonic and wall clocks for the I/O layers (never used by src/raft or src/kv). */
#ifndef CONCUR_UTIL_CLOCK_H
#define CONCUR_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_mono_us(void)
{
    return clock_mono_ns() / 1000;
}

static inline uint64_t clock_mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}

static inline uint64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
