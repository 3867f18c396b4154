/* hash64.h — a deterministic 64-bit hash (FNV-1a with a strong finalizer) for IDs and keys. */
#ifndef CONCUR_UTIL_HASH64_H
#define CONCUR_UTIL_HASH64_H

#include <stddef.h>
#include <stdint.h>

#define HASH64_INIT 0xcbf29ce484222325ull

/* Extends h (HASH64_INIT to start) over len bytes. Stable across platforms and releases:
 * member and cluster IDs are derived with it and must not change. */
static inline uint64_t hash64_extend(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Finalizes (splitmix64 mix) so that close inputs give unrelated outputs. */
static inline uint64_t hash64_final(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

#endif
