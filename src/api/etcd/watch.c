/* watch.c — the Watch service: one bidirectional stream carrying many watchers (etcd
 * v3rpc/watch.go). Events are pulled from kv's watchers only when the stream can send
 * (kv_watch.h), so a slow client costs one held message, never an unbounded queue. */
#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "util/err.h"

#define POLL_BYTES    (1u << 20)   /* events per poll (soft: whole revisions) */
#define CTRL_MAX      4096         /* control responses waiting to be sent */
#define GRPC_OVERHEAD (512u << 10) /* etcd's grpcOverheadBytes: fragment threshold slack */

/* etcd's mvcc errors, sent as cancel_reason with watch_id -1. */
#define ERR_EMPTY_RANGE "mvcc: watcher range is empty"
#define ERR_DUP_ID      "mvcc: duplicate watch ID provided on the WatchStream"
#define ERR_TOO_MANY    "etcdserver: too many requests"

struct wstream;

struct wwatcher {
    int64_t id;
    struct kv_watcher *kw;
    struct wstream *s;
    bool prev_kv, progress_notify, fragment;
    bool announced;    /* its "created" response went out: events may follow */
    bool in_ready;     /* queued in the stream's ready list */
    bool progress_due; /* etcd's progress[id]: nothing sent since the last progress tick */
    struct wwatcher *ready_next;
};

/* A control response waiting its turn (created, canceled, progress). */
struct wctrl {
    struct wctrl *next;
    int64_t watch_id;
    int64_t rev;
    bool created, canceled, announce;
    const char *reason; /* static text or NULL */
};

struct wstream {
    struct etcd_stream es; /* first: the API's stream registry entry */
    struct ecall *c;
    struct etcd_api *api;
    struct kv *kv;
    struct wwatcher **w; /* sorted by id */
    size_t n, cap;
    int64_t next_id;
    struct wctrl *ctrl_head, *ctrl_tail;
    size_t n_ctrl;
    struct wwatcher *ready_head, *ready_tail;
    /* A batch being sent in fragments (watchers that asked for fragment). */
    bool has_frag;
    struct kv_watch_batch frag;
    size_t frag_next;
    int64_t frag_id;
    bool frag_more;
    bool progress_req; /* the client asked for progress (answered with watch_id -1) */
    uint64_t next_progress_ms;
    bool ended;
    struct kv_arena scratch; /* one response at a time */
};

static struct wstream *of_call(struct ecall *c)
{
    return c->data;
}

/* ---- watcher set ---- */

static size_t find_pos(const struct wstream *s, int64_t id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->w[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct wwatcher *find(const struct wstream *s, int64_t id)
{
    size_t i = find_pos(s, id);
    return i < s->n && s->w[i]->id == id ? s->w[i] : NULL;
}

static int insert(struct wstream *s, struct wwatcher *w)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        struct wwatcher **v = realloc(s->w, cap * sizeof(*v));
        if (!v) return CC_ENOMEM;
        s->w = v;
        s->cap = cap;
    }
    size_t i = find_pos(s, w->id);
    memmove(&s->w[i + 1], &s->w[i], (s->n - i) * sizeof(*s->w));
    s->w[i] = w;
    s->n++;
    s->api->stats.watchers++;
    return 0;
}

static void unready(struct wstream *s, struct wwatcher *w)
{
    if (!w->in_ready) return;
    struct wwatcher **p = &s->ready_head;
    struct wwatcher *prev = NULL;
    while (*p != w) {
        prev = *p;
        p = &(*p)->ready_next;
    }
    *p = w->ready_next;
    if (s->ready_tail == w) s->ready_tail = prev;
    w->in_ready = false;
}

static void push_ready(struct wstream *s, struct wwatcher *w)
{
    if (w->in_ready) return;
    w->in_ready = true;
    w->ready_next = NULL;
    if (s->ready_tail)
        s->ready_tail->ready_next = w;
    else
        s->ready_head = w;
    s->ready_tail = w;
}

static void remove_watcher(struct wstream *s, struct wwatcher *w)
{
    unready(s, w);
    size_t i = find_pos(s, w->id);
    memmove(&s->w[i], &s->w[i + 1], (s->n - i - 1) * sizeof(*s->w));
    s->n--;
    s->api->stats.watchers--;
    kv_watch_cancel(s->kv, w->kw);
    free(w);
}

/* From inside kv_apply: note it and let the idle phase poll. */
static void on_ready(void *ud, struct kv_watcher *kw)
{
    struct wwatcher *w = ud;
    if (!w->announced) return; /* polled once its "created" is out */
    push_ready(w->s, w);
    etcd__stream_schedule(w->s->api, &w->s->es);
}

/* ---- control responses ---- */

static int queue_ctrl(struct wstream *s, int64_t id, int64_t rev, bool created, bool canceled,
                      bool announce, const char *reason)
{
    if (s->n_ctrl >= CTRL_MAX) return CC_EBUSY;
    struct wctrl *q = calloc(1, sizeof(*q));
    if (!q) return CC_ENOMEM;
    q->watch_id = id;
    q->rev = rev;
    q->created = created;
    q->canceled = canceled;
    q->announce = announce;
    q->reason = reason;
    if (s->ctrl_tail)
        s->ctrl_tail->next = q;
    else
        s->ctrl_head = q;
    s->ctrl_tail = q;
    s->n_ctrl++;
    return 0;
}

/* ---- sending ---- */

/* Builds and sends one WatchResponse. rev 0 means the current revision. */
static int send_resp(struct wstream *s, int64_t id, int64_t rev, bool created, bool canceled,
                     int64_t compact_rev, const char *reason, const struct kv_event *const *evs,
                     size_t n, bool fragment)
{
    struct kv_arena *a = &s->scratch;
    Etcdserverpb__WatchResponse *r = codec_new(a, &etcdserverpb__watch_response__descriptor);
    struct codec_hdr h;
    etcd__hdr(s->api, &h);
    int rc = CC_ENOMEM;
    if (!r || !(r->header = codec_header(a, &h, rev ? rev : kv_rev(s->kv)))) goto out;
    r->watch_id = id;
    r->created = created;
    r->canceled = canceled;
    r->compact_revision = compact_rev;
    r->fragment = fragment;
    if (reason) r->cancel_reason = (char *)reason;
    if (n) {
        r->events = kv_arena_calloc(a, n, sizeof(*r->events));
        if (!r->events) goto out;
        for (size_t i = 0; i < n; i++)
            if (!(r->events[i] = codec_event_out(a, evs[i]))) goto out;
        r->n_events = n;
    }
    rc = ecall_send(s->c, &r->base);
    if (!rc) s->api->stats.events_sent += n;
out:
    kv_arena_free(a);
    return rc;
}

static void end_stream(struct wstream *s, int code, const char *msg);

/* An event's share of a response (its protobuf encoding, roughly). */
static size_t event_size(const struct kv_event *e)
{
    size_t sz = e->kv.key.len + e->kv.value.len + 64;
    if (e->has_prev) sz += e->prev.key.len + e->prev.value.len + 64;
    return sz;
}

/* Sends the next fragment of s->frag: as many events as fit under etcd's limit (at least one);
 * fragment=true on all but the last piece. */
static int send_fragment(struct wstream *s)
{
    size_t limit = (size_t)s->api->o.max_request_bytes + GRPC_OVERHEAD;
    size_t first = s->frag_next, end = first, size = 64;
    while (end < s->frag.n) {
        size_t sz = event_size(s->frag.events[end]);
        if (end > first && size + sz >= limit) break;
        size += sz;
        end++;
    }
    bool last = end == s->frag.n;
    int rc = send_resp(s, s->frag_id, s->frag.rev, false, false, 0, NULL, s->frag.events + first,
                       end - first, !last);
    if (rc) return rc;
    s->frag_next = end;
    if (last) {
        kv_watch_batch_free(&s->frag);
        s->has_frag = false;
        struct wwatcher *w = find(s, s->frag_id);
        if (w && s->frag_more) push_ready(s, w);
    }
    return 0;
}

static int send_ctrl(struct wstream *s)
{
    struct wctrl *q = s->ctrl_head;
    int rc =
        send_resp(s, q->watch_id, q->rev, q->created, q->canceled, 0, q->reason, NULL, 0, false);
    if (rc) return rc;
    s->ctrl_head = q->next;
    if (!s->ctrl_head) s->ctrl_tail = NULL;
    s->n_ctrl--;
    struct wwatcher *w = q->announce ? find(s, q->watch_id) : NULL;
    if (w) {
        /* Announced: its history (start revision in the past) or new events may go now. */
        w->announced = true;
        push_ready(s, w);
    }
    free(q);
    return 0;
}

static int send_events(struct wstream *s)
{
    struct wwatcher *w = s->ready_head;
    unready(s, w);
    struct kv_watch_batch b;
    memset(&b, 0, sizeof(b));
    int rc = kv_watch_poll(s->kv, w->kw, POLL_BYTES, &b);
    if (rc) return rc;
    if (b.canceled) {
        /* Compacted: etcd sends canceled with the compact revision and the watcher is gone. */
        rc = send_resp(s, w->id, b.rev, false, true, b.compact_rev, NULL, NULL, 0, false);
        kv_watch_batch_free(&b);
        if (!rc)
            remove_watcher(s, w);
        else
            push_ready(s, w); /* not sent: poll again when writable (it stays canceled) */
        return rc == CC_EBUSY ? 0 : rc;
    }
    if (b.n) w->progress_due = false;
    size_t limit = (size_t)s->api->o.max_request_bytes + GRPC_OVERHEAD;
    if (b.n > 1 && w->fragment) {
        size_t total = 0;
        for (size_t i = 0; i < b.n; i++) total += event_size(b.events[i]);
        if (total >= limit) {
            s->frag = b;
            s->has_frag = true;
            s->frag_next = 0;
            s->frag_id = w->id;
            s->frag_more = b.more;
            return send_fragment(s);
        }
    }
    if (b.n) rc = send_resp(s, w->id, b.rev, false, false, 0, NULL, b.events, b.n, false);
    if (b.more) push_ready(s, w);
    kv_watch_batch_free(&b);
    return rc;
}

/* etcd 3.5's RequestProgress: answered (watch_id -1, header = current revision) once every
 * watcher of the stream is synced, so the revision never runs ahead of events not yet sent. */
static bool progress_ready(struct wstream *s, int64_t *rev)
{
    *rev = kv_rev(s->kv);
    for (size_t i = 0; i < s->n; i++) {
        int64_t r;
        if (!s->w[i]->announced || kv_watch_progress(s->kv, s->w[i]->kw, &r)) return false;
        if (r < *rev) *rev = r;
    }
    return true;
}

static void flush(struct wstream *s)
{
    while (!s->ended && ecall_can_send(s->c)) {
        int rc;
        int64_t rev;
        if (s->has_frag)
            rc = send_fragment(s);
        else if (s->ctrl_head)
            rc = send_ctrl(s);
        else if (s->ready_head)
            rc = send_events(s);
        else if (s->progress_req && progress_ready(s, &rev)) {
            rc = send_resp(s, -1, rev, false, false, 0, NULL, NULL, 0, false);
            if (!rc) s->progress_req = false;
        } else
            return;
        if (rc == CC_ECANCELED || rc == CC_ESTOPPED) return; /* on_cancel follows */
        if (rc && rc != CC_EBUSY) {
            struct etcd_status st = etcd_status_of(rc, 0, ECTX_DEFAULT);
            end_stream(s, st.code, st.msg);
            return;
        }
    }
}

static void es_flush(struct etcd_stream *es)
{
    flush((struct wstream *)es);
}

/* ---- progress notifications and leader loss (the API's tick) ---- */

static uint64_t progress_interval(struct wstream *s)
{
    /* etcd adds up to 10% jitter so watchers created together do not notify together. */
    uint64_t iv = s->api->o.progress_notify_ms;
    return iv + rng_next(&s->api->rng) % (iv / 10 + 1);
}

static void es_tick(struct etcd_stream *es, uint64_t now_ms, bool leader_lost)
{
    struct wstream *s = (struct wstream *)es;
    if (leader_lost) {
        end_stream(s, GRPC_UNAVAILABLE, "etcdserver: no leader");
        return;
    }
    if (now_ms < s->next_progress_ms) return;
    s->next_progress_ms = now_ms + progress_interval(s);
    bool queued = false;
    for (size_t i = 0; i < s->n; i++) {
        struct wwatcher *w = s->w[i];
        if (!w->progress_notify) continue;
        int64_t rev;
        if (w->progress_due && w->announced && kv_watch_progress(s->kv, w->kw, &rev) == 0)
            queued |= queue_ctrl(s, w->id, rev, false, false, false, NULL) == 0;
        w->progress_due = true;
    }
    if (queued) etcd__stream_schedule(s->api, &s->es);
}

/* ---- requests ---- */

static void create_watcher(struct wstream *s, const Etcdserverpb__WatchCreateRequest *r)
{
    static const uint8_t zero = 0;
    struct kv_watch_req q;
    memset(&q, 0, sizeof(q));
    /* etcd: an empty key means "\0", the smallest key; range_end "\0" means every key >= key. */
    q.key.p = r->key.len ? r->key.data : &zero;
    q.key.len = r->key.len ? r->key.len : 1;
    q.range_end.p = r->range_end.data;
    q.range_end.len = r->range_end.len;
    bool from_key = r->range_end.len == 1 && r->range_end.data[0] == 0;
    int64_t cur = kv_rev(s->kv);
    const char *reason = NULL;
    if (r->range_end.len && !from_key) {
        size_t n = q.key.len < q.range_end.len ? q.key.len : q.range_end.len;
        int c = memcmp(q.key.p, q.range_end.p, n);
        if (c > 0 || (c == 0 && q.key.len >= q.range_end.len)) reason = ERR_EMPTY_RANGE;
    }
    int64_t id = r->watch_id;
    if (!reason && id != 0 && find(s, id)) reason = ERR_DUP_ID;
    if (!reason && s->n >= s->api->o.watchers_per_stream) reason = ERR_TOO_MANY;
    struct wwatcher *w = reason ? NULL : calloc(1, sizeof(*w));
    if (!reason && !w) reason = ERR_TOO_MANY;
    if (!reason) {
        if (id == 0) { /* etcd's AutoWatchID: the next unused id from 0 */
            while (find(s, s->next_id)) s->next_id++;
            id = s->next_id++;
        }
        w->id = id;
        w->s = s;
        w->prev_kv = r->prev_kv;
        w->progress_notify = r->progress_notify;
        w->fragment = r->fragment;
        w->progress_due = true;
        q.start_rev = r->start_revision > 0 ? r->start_revision : 0;
        q.prev_kv = r->prev_kv;
        for (size_t i = 0; i < r->n_filters; i++) {
            if (r->filters[i] == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT)
                q.no_put = true;
            if (r->filters[i] == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE)
                q.no_delete = true;
        }
        q.ready = on_ready;
        q.ud = w;
        int rc = kv_watch_create(s->kv, &q, &w->kw);
        if (!rc && (rc = insert(s, w)) != 0) kv_watch_cancel(s->kv, w->kw);
        if (rc) {
            free(w);
            reason = rc == CC_EBUSY ? ERR_TOO_MANY : etcd_status_of(rc, 0, ECTX_DEFAULT).msg;
        }
    }
    int rc = reason ? queue_ctrl(s, -1, cur, true, true, false, reason)
                    : queue_ctrl(s, id, cur, true, false, true, NULL);
    if (rc) end_stream(s, GRPC_RESOURCE_EXHAUSTED, "etcdserver: too many requests");
}

static void cancel_watcher(struct wstream *s, int64_t id)
{
    struct wwatcher *w = find(s, id);
    if (!w) return; /* etcd answers nothing for an unknown id */
    remove_watcher(s, w);
    if (queue_ctrl(s, id, 0, false, true, false, NULL))
        end_stream(s, GRPC_RESOURCE_EXHAUSTED, "etcdserver: too many requests");
}

void etcd__watch_message(struct ecall *c, const ProtobufCMessage *req)
{
    struct wstream *s = of_call(c);
    const Etcdserverpb__WatchRequest *r = (const void *)req;
    switch (r->request_union_case) {
    case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST:
        create_watcher(s, r->create_request);
        break;
    case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST:
        cancel_watcher(s, r->cancel_request->watch_id);
        break;
    case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST:
        s->progress_req = true;
        break;
    default:
        break; /* etcd ignores empty requests */
    }
    if (!s->ended) flush(s);
}

/* ---- stream lifetime ---- */

void etcd__watch_start(struct ecall *c)
{
    struct wstream *s = calloc(1, sizeof(*s));
    if (!s) {
        ecall_finish(c, GRPC_RESOURCE_EXHAUSTED, "concur: out of memory");
        return;
    }
    s->c = c;
    s->api = c->api;
    s->kv = srv_kv(c->api->m);
    s->es.tick = es_tick;
    s->es.flush = es_flush;
    const char *hl = ecall_metadata(c, "hasleader");
    s->es.require_leader = hl && !strcmp(hl, "true");
    s->next_progress_ms = etcd__now_ms() + progress_interval(s);
    c->data = s;
    etcd__stream_add(c->api, &s->es);
    c->api->stats.watch_streams++;
}

/* Releases everything and ends the call (a no-op on the wire after a cancellation). */
static void end_stream(struct wstream *s, int code, const char *msg)
{
    if (s->ended) return;
    s->ended = true;
    etcd__stream_remove(s->api, &s->es);
    s->api->stats.watch_streams--;
    while (s->n) remove_watcher(s, s->w[s->n - 1]);
    free(s->w);
    while (s->ctrl_head) {
        struct wctrl *q = s->ctrl_head;
        s->ctrl_head = q->next;
        free(q);
    }
    if (s->has_frag) kv_watch_batch_free(&s->frag);
    kv_arena_free(&s->scratch);
    struct ecall *c = s->c;
    c->data = NULL;
    free(s);
    ecall_finish(c, code, msg);
}

void etcd__watch_half_close(struct ecall *c)
{
    /* etcd keeps the stream (and its watchers) until the client cancels it. */
}

void etcd__watch_cancel(struct ecall *c)
{
    struct wstream *s = of_call(c);
    if (s)
        end_stream(s, GRPC_CANCELLED, "etcdserver: watch canceled");
    else
        ecall_finish(c, GRPC_CANCELLED, "etcdserver: watch canceled");
}

void etcd__watch_writable(struct ecall *c)
{
    struct wstream *s = of_call(c);
    if (s) flush(s);
}
