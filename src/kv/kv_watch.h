/* kv_watch.h — watches on the kv store: the API layers register watchers and PULL events when
 * they can send, so a slow client never slows apply (etcd's watchable store, pull-based).
 *
 * Model. A watcher covers a key, a range [key, range_end) or everything from key (range_end
 * "\0"), from a start revision. It is either synced (kv_apply appends matching events to its
 * bounded buffer) or unsynced (it has fallen behind: kv_watch_poll reads its history from the
 * store, then it rejoins the synced set). After each kv_apply, every watcher that gained
 * something to deliver gets one ready callback; the consumer then calls kv_watch_poll whenever
 * it can send, until `more` is false.
 *
 * Guarantees (etcd's): ordered (by revision, then by position in the revision); unique (an
 * event is delivered once); reliable (no event in the watched range is skipped between the
 * start revision and the revision delivered last); resumable (a new watcher from last+1 picks
 * up exactly where another left off); atomic (all events of one revision come in one poll).
 * A watcher whose next revision has been compacted is cancelled with the compact revision:
 * its poll returns canceled = true and compact_rev; it delivers nothing more.
 *
 * Bounds: kv_opts.watchers_max watchers per store; watch_buf_events / watch_buf_bytes per
 * synced watcher (beyond them it goes unsynced; nothing is dropped); max_bytes per poll (soft:
 * a poll returns at least one whole revision even if that revision alone is larger). */
#ifndef CONCUR_KV_WATCH_H
#define CONCUR_KV_WATCH_H

#include "kv/kv.h"

struct kv_watcher;

enum kv_event_type { KV_EVENT_PUT = 0, KV_EVENT_DELETE = 1 }; /* etcd mvccpb.Event numbering */

/* One event. For DELETE, kv has only key and mod_rev (the deleting revision), as etcd. */
struct kv_event {
    uint8_t type;
    bool has_prev; /* prev_kv was asked and the previous version still exists */
    struct kv_kv kv;
    struct kv_kv prev;
};

struct kv_watch_req {
    struct kv_bytes key, range_end; /* copied */
    int64_t start_rev;              /* <= 0: from the next revision */
    bool prev_kv, no_put, no_delete;
    /* Called (from inside kv_apply, kv_restore or kv_watch_poll of ANOTHER watcher: never
     * from this watcher's own calls) when the watcher has something new to deliver. It must not
     * call any kv function; it should schedule a poll. May be NULL (then poll on your own). */
    void (*ready)(void *ud, struct kv_watcher *w);
    void *ud;
};

/* Registers a watcher. A watcher starting at or below the current revision is unsynced and has
 * history to deliver: poll it (create never runs the ready callback). One starting below the
 * compact revision is created already cancelled (its first poll says so). Returns 0, CC_EBUSY
 * (watchers_max reached), CC_ETOOBIG (key over KV_KEY_MAX), CC_ENOMEM, CC_ESTOPPED. */
int kv_watch_create(struct kv *kv, const struct kv_watch_req *req, struct kv_watcher **out);

/* Removes and frees the watcher. Batches already returned stay valid until freed. */
void kv_watch_cancel(struct kv *kv, struct kv_watcher *w);

/* What one poll returns. events point into shared, reference-counted event memory owned by the
 * batch until kv_watch_batch_free. */
struct kv_watch_batch {
    const struct kv_event **events;
    size_t n;
    int64_t rev;         /* all events with revision <= rev have been delivered (header rev) */
    bool more;           /* more is ready: poll again when you can send */
    bool canceled;       /* compacted: nothing more will come */
    int64_t compact_rev; /* when canceled */
};

/* Returns the next events, whole revisions, in order, up to about max_bytes (keys and values;
 * at least one revision). Synced watchers return their buffer; unsynced ones read history
 * from the store (bounded work per call; `more` then says to call again). An empty batch with
 * more = false means nothing is pending. Returns 0, CC_ENOMEM, CC_EIO, CC_ESTOPPED. */
int kv_watch_poll(struct kv *kv, struct kv_watcher *w, size_t max_bytes, struct kv_watch_batch *b);

/* Releases a batch (NULL-safe, idempotent). */
void kv_watch_batch_free(struct kv_watch_batch *b);

/* Progress notification (etcd progress_notify / RequestProgress): when the watcher is synced
 * and has nothing buffered, *rev = the current revision (every event up to it was delivered)
 * and returns 0; otherwise CC_EBUSY (the next poll will advance it). */
int kv_watch_progress(struct kv *kv, struct kv_watcher *w, int64_t *rev);

#endif
