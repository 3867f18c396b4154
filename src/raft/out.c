/* out.c — reusable output buffers of the core: message vectors and a block arena. */
#include "raft/out.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define ARENA_BLOCK 65536

struct raft_arena_block {
    struct raft_arena_block *next;
    size_t cap;
    size_t used;
    _Alignas(16) uint8_t data[];
};

void raft_out__init(struct raft_out *o)
{
    memset(o, 0, sizeof(*o));
}

static void arena_free_all(struct raft_arena_block *b)
{
    while (b) {
        struct raft_arena_block *next = b->next;
        free(b);
        b = next;
    }
}

void raft_out__free(struct raft_out *o)
{
    free(o->msgs);
    free(o->after);
    free(o->reads);
    free(o->chunks);
    arena_free_all(o->arena);
    memset(o, 0, sizeof(*o));
}

/* Keeps one standard block for reuse; larger or extra blocks (big snapshot chunks, bursts of
 * forwarded proposals) are given back so memory stays bounded between updates. */
static void arena_reset(struct raft_out *o)
{
    struct raft_arena_block *keep = NULL, *b = o->arena;
    while (b) {
        struct raft_arena_block *next = b->next;
        if (!keep && b->cap == ARENA_BLOCK) {
            keep = b;
            keep->next = NULL;
            keep->used = 0;
        } else {
            free(b);
        }
        b = next;
    }
    o->arena = keep;
}

void raft_out__prepare(struct raft_out *o)
{
    if (!o->handed) return;
    o->handed = false;
    o->n_msgs = o->n_after = o->n_reads = o->n_chunks = 0;
    o->snap_ready = false;
    if (o->arena && (o->arena->used || o->arena->next)) arena_reset(o);
}

static int grow(void **v, uint32_t *cap, size_t elem, uint32_t need)
{
    if (need <= *cap) return 0;
    uint64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    if (c > UINT32_MAX || c > SIZE_MAX / elem) return CC_ENOMEM;
    void *p = realloc(*v, (size_t)c * elem);
    if (!p) return CC_ENOMEM;
    *v = p;
    *cap = (uint32_t)c;
    return 0;
}

struct raft_msg *raft_out__msg(struct raft_out *o, bool after_persist)
{
    struct raft_msg **v = after_persist ? &o->after : &o->msgs;
    uint32_t *n = after_persist ? &o->n_after : &o->n_msgs;
    uint32_t *cap = after_persist ? &o->cap_after : &o->cap_msgs;
    if (*n == UINT32_MAX || grow((void **)v, cap, sizeof(**v), *n + 1)) return NULL;
    struct raft_msg *m = &(*v)[(*n)++];
    memset(m, 0, sizeof(*m));
    return m;
}

void *raft_out__alloc(struct raft_out *o, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct raft_arena_block *b = o->arena;
    if (b && b->cap - b->used >= n) {
        void *p = b->data + b->used;
        b->used += n;
        return p;
    }
    size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
    if (cap > SIZE_MAX - sizeof(*b)) return NULL;
    b = malloc(sizeof(*b) + cap);
    if (!b) return NULL;
    b->cap = cap;
    b->used = n;
    b->next = o->arena;
    o->arena = b;
    return b->data;
}

int raft_out__reserve_reads(struct raft_out *o, uint32_t k)
{
    if (k > UINT32_MAX - o->n_reads) return CC_ENOMEM;
    return grow((void **)&o->reads, &o->cap_reads, sizeof(*o->reads), o->n_reads + k);
}

void raft_out__read(struct raft_out *o, uint64_t ctx, uint64_t index, int status)
{
    if (o->n_reads == o->cap_reads && raft_out__reserve_reads(o, 1)) return;
    o->reads[o->n_reads++] = (struct raft_read_state){.ctx = ctx, .index = index, .status = status};
}

struct raft_snap_chunk *raft_out__chunk(struct raft_out *o)
{
    if (grow((void **)&o->chunks, &o->cap_chunks, sizeof(*o->chunks), o->n_chunks + 1)) return NULL;
    struct raft_snap_chunk *c = &o->chunks[o->n_chunks++];
    memset(c, 0, sizeof(*c));
    return c;
}

bool raft_out__empty(const struct raft_out *o)
{
    if (o->handed) return true;
    return !o->n_msgs && !o->n_after && !o->n_reads && !o->n_chunks && !o->snap_ready;
}
