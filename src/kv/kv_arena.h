/* kv_arena.h — a bump allocator owning the memory behind decoded commands and results. */
#ifndef CONCUR_KV_ARENA_H
#define CONCUR_KV_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct kv_arena_chunk;

/* A zeroed struct is an empty, usable arena. Allocations live until kv_arena_free. `limit`
 * (0 = unlimited) bounds the bytes the arena may allocate in total; past it allocations fail. */
struct kv_arena {
    struct kv_arena_chunk *head;
    size_t used;  /* bytes handed out in total */
    size_t limit; /* 0 or the total bound */
};

/* Returns n bytes aligned to 8, or NULL (out of memory, or past the limit). n may be 0. */
void *kv_arena_alloc(struct kv_arena *a, size_t n);

/* Like kv_arena_alloc, zero-filled; n = count * size, checked for overflow. */
void *kv_arena_calloc(struct kv_arena *a, size_t count, size_t size);

/* Copies n bytes into the arena; NULL on failure. src may be NULL iff n == 0. */
void *kv_arena_dup(struct kv_arena *a, const void *src, size_t n);

/* Frees every allocation; the arena is empty and reusable (limit kept). */
void kv_arena_free(struct kv_arena *a);

#endif
