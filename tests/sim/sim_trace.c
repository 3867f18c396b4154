/* sim_trace.c — concur-sim's trace ring, violation reports and hash helpers. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

/* Every line goes into a ring (so a failure can show what led to it) and, with -v, out. Lines
 * carry the step number and virtual time only: nothing from the host, so traces compare. */
void sim__trace(struct sim *s, const char *fmt, ...)
{
    char *line = s->tr[s->tr_head];
    int n = snprintf(line, SIM_TRACE_LINE, "%8" PRIu64 " T%" PRIu64 ".%02" PRIu64 " ", s->step,
                     s->now / SIM_TICK, s->now % SIM_TICK);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, SIM_TRACE_LINE - (size_t)n, fmt, ap);
    va_end(ap);
    if (s->p->verbose) fprintf(s->p->out, "%s\n", line);
    s->tr_head = (s->tr_head + 1) % SIM_TRACE_RING;
    if (s->tr_count < SIM_TRACE_RING) s->tr_count++;
}

/* Records the first violation only: later ones are consequences. */
void sim__fail(struct sim *s, const char *fmt, ...)
{
    if (s->failed) return;
    s->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->what, sizeof s->what, fmt, ap);
    va_end(ap);
    sim__trace(s, "VIOLATION %s", s->what);
}

void sim__dump_trace(const struct sim *s)
{
    uint32_t start = (s->tr_head + SIM_TRACE_RING - s->tr_count) % SIM_TRACE_RING;
    fprintf(s->p->out, "--- last %u trace lines of seed %" PRIu64 " ---\n", s->tr_count, s->seed);
    for (uint32_t i = 0; i < s->tr_count; i++)
        fprintf(s->p->out, "%s\n", s->tr[(start + i) % SIM_TRACE_RING]);
    fprintf(s->p->out, "--- end of trace ---\n");
}

const char *sim__msg_str(const struct raft_msg *m, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s n%" PRIu64 "->n%" PRIu64 " t%" PRIu64,
                     raft_msg_type_name(m->type), m->from, m->to, m->term);
    if (n < 0 || (size_t)n >= len) return buf;
    char *p = buf + n;
    size_t left = len - (size_t)n;
    switch (m->type) {
    case RAFT_MSG_APPEND:
        snprintf(p, left, " prev=%" PRIu64 "/%" PRIu64 " n=%u commit=%" PRIu64, m->index,
                 m->log_term, m->n_entries, m->commit);
        break;
    case RAFT_MSG_APPEND_RESP:
        snprintf(p, left, " idx=%" PRIu64 "%s hint=%" PRIu64 "/%" PRIu64, m->index,
                 m->reject ? " REJECT" : "", m->hint_index, m->hint_term);
        break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        snprintf(p, left, " last=%" PRIu64 "/%" PRIu64 "%s", m->index, m->log_term,
                 m->ctx ? " transfer" : "");
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        snprintf(p, left, "%s", m->reject ? " REJECT" : " GRANT");
        break;
    case RAFT_MSG_HEARTBEAT:
        snprintf(p, left, " commit=%" PRIu64 " ctx=%" PRIu64, m->commit, m->ctx);
        break;
    case RAFT_MSG_SNAPSHOT:
        snprintf(p, left, " snap=%" PRIu64 "/%" PRIu64 " off=%" PRIu64 " len=%u size=%" PRIu64 "%s",
                 m->snap.index, m->snap.term, m->offset, m->len, m->snap_size,
                 m->done ? " done" : "");
        break;
    case RAFT_MSG_SNAPSHOT_RESP:
        snprintf(p, left, " snap=%" PRIu64 " off=%" PRIu64 "%s%s", m->snap.index, m->offset,
                 m->reject ? " REJECT" : "", m->done ? " done" : "");
        break;
    case RAFT_MSG_PROPOSE:
        snprintf(p, left, " n=%u", m->n_entries);
        break;
    case RAFT_MSG_READ_INDEX:
    case RAFT_MSG_HEARTBEAT_RESP:
        snprintf(p, left, " ctx=%" PRIu64, m->ctx);
        break;
    case RAFT_MSG_READ_INDEX_RESP:
        snprintf(p, left, " ctx=%" PRIu64 " idx=%" PRIu64 "%s", m->ctx, m->index,
                 m->reject ? " REJECT" : "");
        break;
    case RAFT_MSG_TRANSFER_LEADER:
        snprintf(p, left, " to=n%" PRIu64, m->index);
        break;
    default:
        break;
    }
    return buf;
}

/* A 64-bit mixing step (splitmix64's finalizer over an xor-folded input). */
uint64_t sim__mix(uint64_t h, uint64_t v)
{
    uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t sim__hash_bytes(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then mixed with the length */
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return sim__mix(h, len);
}

/* The chain of an entry covers its term, type and data and, through prev, every entry before it:
 * two logs with equal chains at an index hold identical prefixes up to it (Log Matching). */
uint64_t sim__chain(uint64_t prev, uint64_t term, uint8_t type, uint64_t dhash)
{
    return sim__mix(sim__mix(sim__mix(prev, term), type), dhash);
}
