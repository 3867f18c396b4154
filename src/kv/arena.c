/* arena.c — bump allocator for decoded commands and results (one free per result). */
#include "kv/kv_arena.h"

#include <stdlib.h>
#include <string.h>

struct kv_arena_chunk {
    struct kv_arena_chunk *next;
    size_t cap;
    size_t off;
    _Alignas(8) uint8_t data[];
};

/* Small first chunk: most results need a few hundred bytes; big requests get their own. */
#define ARENA_MIN_CHUNK 1024

void *kv_arena_alloc(struct kv_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2) return NULL;
    size_t need = (n + 7) & ~(size_t)7;
    if (a->limit && (need > a->limit || a->used > a->limit - need)) return NULL;
    struct kv_arena_chunk *c = a->head;
    if (!c || c->cap - c->off < need) {
        size_t cap = c ? c->cap * 2 : ARENA_MIN_CHUNK;
        if (cap > (size_t)1 << 20) cap = (size_t)1 << 20;
        if (cap < need) cap = need;
        struct kv_arena_chunk *nc = malloc(sizeof(*nc) + cap);
        if (!nc) return NULL;
        nc->cap = cap;
        nc->off = 0;
        /* A large one-off block goes behind the current chunk so its free space stays usable. */
        if (c && need > c->cap) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            a->head = nc;
        }
        c = nc;
    }
    void *p = c->data + c->off;
    c->off += need;
    a->used += need;
    return p;
}

void *kv_arena_calloc(struct kv_arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = kv_arena_alloc(a, count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *kv_arena_dup(struct kv_arena *a, const void *src, size_t n)
{
    void *p = kv_arena_alloc(a, n);
    if (p && n) memcpy(p, src, n);
    return p;
}

void kv_arena_free(struct kv_arena *a)
{
    struct kv_arena_chunk *c = a->head;
    while (c) {
        struct kv_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}
