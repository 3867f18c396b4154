/* rng.h — a small seeded pseudo-random generator (xoshiro256**), pure and deterministic. */
#ifndef CONCUR_UTIL_RNG_H
#define CONCUR_UTIL_RNG_H

#include <assert.h>
#include <stdint.h>

/* Plain value type; copy it to fork a stream. No hidden state: the same seed gives the same
 * sequence on every platform. */
struct rng {
    uint64_t s[4];
};

static inline uint64_t rng__splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Seeds r from seed (any value, including 0). */
static inline void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = rng__splitmix(&seed);
}

static inline uint64_t rng__rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* Next 64 uniformly distributed bits. */
static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rng__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng__rotl(s[3], 45);
    return result;
}

/* Uniform integer in [0, n); n must be > 0. Uses rejection so there is no modulo bias. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    assert(n > 0);
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_next(r);
    while (x >= limit);
    return x % n;
}

/* Uniform integer in [lo, hi] inclusive; lo <= hi. */
static inline uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
    assert(lo <= hi);
    if (hi - lo == UINT64_MAX) return rng_next(r);
    return lo + rng_below(r, hi - lo + 1);
}

/* True with probability num/den (den > 0). */
static inline int rng_chance(struct rng *r, uint64_t num, uint64_t den)
{
    return rng_below(r, den) < num;
}

#endif
