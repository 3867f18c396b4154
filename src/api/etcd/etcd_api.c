/* etcd_api.c — the member-wide state of the etcd API: options, a cached status for the
 * per-call checks, response headers, and the registry of long-lived streams (ticked for
 * leader loss and progress notifications, flushed from the loop's idle phase). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "server/lifecycle.h"
#include "util/clock.h"
#include "util/err.h"

#define STATUS_MAX_AGE_MS   5   /* interceptor checks may use a status this old */
#define MIN_PROGRESS_MS     100 /* etcd's minWatchProgressInterval */
#define NOLEADER_TIMEOUTS   3   /* etcd's maxNoLeaderCnt */
#define DEFAULT_PROGRESS_MS (10ull * 60 * 1000)
#define DEFAULT_WATCHERS    10000
#define DEFAULT_DECODED_MAX (512ull << 20)

uint64_t etcd__now_ms(void)
{
    return clock_mono_ms();
}

void etcd_opts_from_member(struct member *m, struct etcd_opts *o)
{
    const struct member_config *cfg = member_config(m);
    memset(o, 0, sizeof(*o));
    o->progress_notify_ms = DEFAULT_PROGRESS_MS;
    o->watchers_per_stream = DEFAULT_WATCHERS;
    o->decoded_max_bytes = DEFAULT_DECODED_MAX;
    o->max_request_bytes = cfg->max_request_bytes;
    o->max_txn_ops = cfg->max_txn_ops;
    o->heartbeat_ms = cfg->heartbeat_ms;
    o->election_ms = cfg->election_ms;
}

const struct srv_status *etcd__status(struct etcd_api *a)
{
    uint64_t now = etcd__now_ms();
    if (a->st_ms == 0 || now - a->st_ms > STATUS_MAX_AGE_MS) {
        srv_status(a->m, &a->st);
        a->st_ms = now ? now : 1;
    }
    return &a->st;
}

void etcd__hdr(struct etcd_api *a, struct codec_hdr *h)
{
    struct srv_header sh;
    srv_header(a->m, &sh);
    h->cluster_id = sh.cluster_id;
    h->member_id = sh.member_id;
    h->raft_term = sh.raft_term;
}

Etcdserverpb__ResponseHeader *etcd__header_now(struct etcd_api *a, struct kv_arena *ar)
{
    struct srv_header sh;
    srv_header(a->m, &sh);
    struct codec_hdr h = {sh.cluster_id, sh.member_id, sh.raft_term};
    return codec_header(ar, &h, sh.revision);
}

/* ---- streams ---- */

static void on_idle(uv_idle_t *h)
{
    struct etcd_api *a = h->data;
    /* Streams scheduled while flushing run on the next turn, so one busy stream cannot keep
     * this callback spinning. */
    struct etcd_stream *list = a->flush_head;
    a->flush_head = NULL;
    while (list) {
        struct etcd_stream *s = list;
        list = s->flush_next;
        s->flush_next = NULL;
        s->flush_scheduled = false;
        s->flush(s);
    }
    if (!a->flush_head) uv_idle_stop(&a->idle);
}

void etcd__stream_schedule(struct etcd_api *a, struct etcd_stream *s)
{
    if (s->flush_scheduled || a->closing) return;
    s->flush_scheduled = true;
    s->flush_next = a->flush_head;
    a->flush_head = s;
    uv_idle_start(&a->idle, on_idle);
}

void etcd__stream_add(struct etcd_api *a, struct etcd_stream *s)
{
    s->next = a->streams.next;
    s->prev = &a->streams;
    a->streams.next->prev = s;
    a->streams.next = s;
    s->flush_scheduled = false;
    s->flush_next = NULL;
}

void etcd__stream_remove(struct etcd_api *a, struct etcd_stream *s)
{
    s->prev->next = s->next;
    s->next->prev = s->prev;
    s->prev = s->next = s;
    if (!s->flush_scheduled) return;
    for (struct etcd_stream **p = &a->flush_head; *p; p = &(*p)->flush_next) {
        if (*p == s) {
            *p = s->flush_next;
            break;
        }
    }
    s->flush_scheduled = false;
}

static void on_tick(uv_timer_t *t)
{
    struct etcd_api *a = t->data;
    uint64_t now = etcd__now_ms();
    a->st_ms = 0; /* fresh status for the leader check */
    const struct srv_status *st = etcd__status(a);
    if (st->leader_id)
        a->noleader_since_ms = 0;
    else if (!a->noleader_since_ms)
        a->noleader_since_ms = now;
    bool lost = a->noleader_since_ms &&
                now - a->noleader_since_ms >= (uint64_t)NOLEADER_TIMEOUTS * a->o.election_ms;
    /* A tick may end its stream (and remove it): keep the next pointer first. */
    struct etcd_stream *s = a->streams.next;
    while (s != &a->streams) {
        struct etcd_stream *next = s->next;
        if (s->tick) s->tick(s, now, lost && s->require_leader);
        s = next;
    }
}

int etcd_api_new(struct member *m, uv_loop_t *loop, const struct etcd_opts *o,
                 struct etcd_api **out)
{
    if (!o->max_request_bytes || !o->max_txn_ops || !o->election_ms || !o->heartbeat_ms ||
        !o->watchers_per_stream || !o->decoded_max_bytes)
        return CC_EINVAL;
    struct etcd_api *a = calloc(1, sizeof(*a));
    if (!a) return CC_ENOMEM;
    if (etcd__fwd_new(a)) {
        free(a);
        return CC_ENOMEM;
    }
    a->m = m;
    a->loop = loop;
    a->log = member_logger(m);
    a->o = *o;
    if (a->o.progress_notify_ms < MIN_PROGRESS_MS) a->o.progress_notify_ms = MIN_PROGRESS_MS;
    rng_seed(&a->rng, clock_mono_ns() ^ (uint64_t)(uintptr_t)a);
    a->streams.next = a->streams.prev = &a->streams;
    uv_timer_init(loop, &a->tick);
    uv_idle_init(loop, &a->idle);
    a->tick.data = a;
    a->idle.data = a;
    /* The tick drives leader-loss checks and progress notifications. */
    uint64_t period = a->o.election_ms;
    if (a->o.progress_notify_ms / 2 < period) period = a->o.progress_notify_ms / 2;
    uv_timer_start(&a->tick, on_tick, period, period);
    uv_unref((uv_handle_t *)&a->tick); /* never keeps the loop alive on its own */
    a->open_handles = 2;
    *out = a;
    return 0;
}

/* Closing is done once every handle (tick, idle, connections to the leader) is closed and
 * every call has been freed (calls end when their transports cancel them and the server
 * answers what they wait for). */
static void maybe_closed(struct etcd_api *a)
{
    if (!a->closing || a->open_handles || a->calls_live || !a->closed_cb) return;
    void (*cb)(void *) = a->closed_cb;
    a->closed_cb = NULL;
    cb(a->closed_arg);
}

void etcd__call_gone(struct etcd_api *a)
{
    assert(a->calls_live > 0);
    a->calls_live--;
    maybe_closed(a);
}

void etcd__handle_closed(struct etcd_api *a)
{
    assert(a->open_handles > 0);
    a->open_handles--;
    maybe_closed(a);
}

static void handle_closed(uv_handle_t *h)
{
    etcd__handle_closed(h->data);
}

void etcd_api_close(struct etcd_api *a, void (*done)(void *arg), void *arg)
{
    assert(!a->closing);
    a->closing = true;
    a->closed_cb = done;
    a->closed_arg = arg;
    a->flush_head = NULL;
    etcd__fwd_close(a);
    uv_close((uv_handle_t *)&a->tick, handle_closed);
    uv_close((uv_handle_t *)&a->idle, handle_closed);
}

void etcd_api_free(struct etcd_api *a)
{
    if (!a) return;
    assert(a->open_handles == 0 && a->calls_live == 0);
    assert(a->streams.next == &a->streams);
    etcd__fwd_free(a);
    kv_arena_free(&a->mem);
    free(a);
}

const struct etcd_api_stats *etcd_api_stats(const struct etcd_api *a)
{
    return &a->stats;
}
