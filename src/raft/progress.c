/* progress.c — per-member replication progress and its bounded in-flight window. */
#include "raft/progress.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void progress__init(struct progress *p, raft_id id, uint64_t next)
{
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->next = next ? next : 1;
    p->state = RAFT_PROGRESS_PROBE;
    /* A member that was just added gets a full check-quorum round before it counts as silent. */
    p->recent_active = true;
}

void progress__free(struct progress *p)
{
    free(p->infl);
    p->infl = NULL;
    p->infl_cap = p->infl_n = p->infl_start = 0;
}

static void infl_reset(struct progress *p)
{
    p->infl_n = 0;
    p->infl_start = 0;
}

static void snap_clear(struct progress *p)
{
    p->snap_index = p->snap_acked = p->snap_sent = 0;
    p->snap_out = p->snap_idle = 0;
    p->snap_all_sent = p->snap_paused = p->snap_rewind = false;
    p->snap_rewound_tick = 0;
    p->snap_round = 0;
}

void progress__reset(struct progress *p, uint64_t next_index)
{
    p->state = RAFT_PROGRESS_PROBE;
    p->probe_sent = false;
    p->force_send = false;
    p->recent_active = true;
    p->match = 0;
    p->next = next_index;
    p->sent_commit = 0;
    p->read_ack = 0;
    p->lease_tick = 0;
    infl_reset(p);
    snap_clear(p);
}

bool progress__infl_full(const struct progress *p)
{
    return p->infl_n >= p->infl_cap;
}

void progress__infl_add(struct progress *p, uint64_t last_index)
{
    assert(p->infl_n < p->infl_cap);
    p->infl[(p->infl_start + p->infl_n) % p->infl_cap] = last_index;
    p->infl_n++;
}

void progress__infl_free_to(struct progress *p, uint64_t index)
{
    while (p->infl_n > 0 && p->infl[p->infl_start] <= index) {
        p->infl_start = (p->infl_start + 1) % p->infl_cap;
        p->infl_n--;
    }
    if (p->infl_n == 0) p->infl_start = 0;
}

void progress__infl_free_first(struct progress *p)
{
    if (p->infl_n == 0) return;
    p->infl_start = (p->infl_start + 1) % p->infl_cap;
    p->infl_n--;
}

void progress__become_probe(struct progress *p)
{
    if (p->state == RAFT_PROGRESS_SNAPSHOT) {
        uint64_t after = p->snap_index + 1;
        if (p->next < after) p->next = after;
    }
    if (p->next <= p->match) p->next = p->match + 1;
    p->state = RAFT_PROGRESS_PROBE;
    p->probe_sent = false;
    infl_reset(p);
    snap_clear(p);
}

bool progress__become_replicate(struct progress *p, uint32_t max_inflight)
{
    if (p->infl_cap != max_inflight) {
        uint64_t *v = realloc(p->infl, (size_t)max_inflight * sizeof(*v));
        if (!v) {
            progress__become_probe(p);
            return false;
        }
        p->infl = v;
        p->infl_cap = max_inflight;
    }
    p->state = RAFT_PROGRESS_REPLICATE;
    p->next = p->match + 1;
    p->probe_sent = false;
    infl_reset(p);
    snap_clear(p);
    return true;
}

void progress__become_snapshot(struct progress *p, uint64_t snap_index)
{
    p->state = RAFT_PROGRESS_SNAPSHOT;
    p->probe_sent = false;
    infl_reset(p);
    snap_clear(p);
    p->snap_index = snap_index;
}

uint64_t progress__quorum_value(uint64_t *vals, uint32_t n)
{
    if (n == 0) return UINT64_MAX;
    /* n <= RAFT_MAX_NODES: insertion sort, descending. */
    for (uint32_t i = 1; i < n; i++) {
        uint64_t v = vals[i];
        uint32_t j = i;
        while (j > 0 && vals[j - 1] < v) {
            vals[j] = vals[j - 1];
            j--;
        }
        vals[j] = v;
    }
    /* With n voters a majority is n/2 + 1: the (n/2 + 1)-th largest value. */
    return vals[n / 2];
}
