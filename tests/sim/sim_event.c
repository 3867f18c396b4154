/* sim_event.c — concur-sim's event queue: a binary heap ordered by (virtual time, sequence). */
#include <stdlib.h>

#include "sim.h"
#include "util/err.h"

#define SIM_MAX_EVENTS (4u * SIM_MAX_INFLIGHT)

static bool before(const struct event *a, const struct event *b)
{
    return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

/* Queues an event at time `at` (>= now). The sequence number makes ties deterministic (first
 * scheduled, first run). Takes ownership of msg. Events carry the incarnation of their node so
 * that a crash implicitly cancels them. Returns 0 or CC_EBUSY/CC_ENOMEM (msg is then freed). */
int sim__schedule(struct sim *s, uint64_t at, uint8_t type, uint32_t slot, uint64_t arg,
                  struct raft_msg *msg)
{
    if (s->heap_n == s->heap_cap) {
        uint32_t cap = s->heap_cap ? s->heap_cap * 2 : 256;
        struct event *h = cap <= SIM_MAX_EVENTS ? realloc(s->heap, cap * sizeof *h) : NULL;
        if (!h) {
            if (msg) {
                raft_msg_release(msg);
                free(msg);
            }
            sim__fail(s, "simulator limit: event queue full (%u events)", s->heap_n);
            return cap <= SIM_MAX_EVENTS ? CC_ENOMEM : CC_EBUSY;
        }
        s->heap = h;
        s->heap_cap = cap;
    }
    struct event ev = {.time = at < s->now ? s->now : at,
                       .seq = s->seq++,
                       .type = type,
                       .slot = (uint8_t)slot,
                       .inc = slot <= SIM_MAX_SLOTS ? s->nodes[slot].inc : 0,
                       .arg = arg,
                       .msg = msg};
    uint32_t i = s->heap_n++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!before(&ev, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = ev;
    return 0;
}

bool sim__pop(struct sim *s, struct event *ev)
{
    if (s->heap_n == 0) return false;
    *ev = s->heap[0];
    struct event last = s->heap[--s->heap_n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= s->heap_n) break;
        if (c + 1 < s->heap_n && before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_n > 0) s->heap[i] = last;
    return true;
}

void sim__events_free(struct sim *s)
{
    for (uint32_t i = 0; i < s->heap_n; i++) {
        if (s->heap[i].msg) {
            raft_msg_release(s->heap[i].msg);
            free(s->heap[i].msg);
        }
    }
    free(s->heap);
    s->heap = NULL;
    s->heap_n = s->heap_cap = 0;
}
