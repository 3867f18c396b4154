/* persist.c — the persistence thread: runs jobs in order against the member's storage. */
#include "server/persist.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/err.h"

#define SNAP_COPY_BYTES (1u << 20)

struct persist {
    struct storage *st;
    uv_async_t *done_async;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct persist_job *q_head, *q_tail; /* waiting */
    struct persist_job *d_head, *d_tail; /* done, not yet taken */
    bool stopping;
    /* Thread-only: the hard state last written, and a newer one whose only change is the
     * commit index, held back until the next write (see run_merged). */
    struct raft_hard_state written_hs;
    bool held_hs;
    struct raft_hard_state held;
    /* Thread-only: the incoming snapshot being received in chunks. */
    struct snap_writer *incoming;
    uint64_t incoming_index, incoming_term;
    uint8_t *copybuf;
};

static void set_err(struct persist_job *j, int rc, const char *what)
{
    j->rc = rc;
    snprintf(j->errmsg, sizeof(j->errmsg), "%s: %s", what, cc_strerror(rc));
}

static void drop_incoming(struct persist *p)
{
    snap_writer_abort(p->incoming);
    p->incoming = NULL;
    p->incoming_index = p->incoming_term = 0;
}

static void run_update(struct persist *p, struct persist_job *j)
{
    for (uint32_t i = 0; i < j->n_chunks; i++) {
        const struct raft_snap_chunk *c = &j->chunks[i];
        bool same =
            p->incoming && p->incoming_index == c->meta.index && p->incoming_term == c->meta.term;
        if (!same || c->offset == 0) {
            drop_incoming(p);
            int rc = storage_snap_begin(p->st, &c->meta, &p->incoming);
            if (rc) {
                set_err(j, rc, "starting incoming snapshot file");
                return;
            }
            p->incoming_index = c->meta.index;
            p->incoming_term = c->meta.term;
        }
        int rc = snap_writer_write(p->incoming, c->offset, c->data, c->len);
        if (rc) {
            drop_incoming(p);
            set_err(j, rc, "writing incoming snapshot chunk");
            return;
        }
    }
    if (j->snapshot_ready) {
        if (!p->incoming || p->incoming_index != j->snap_meta.index) {
            set_err(j, CC_EINVAL, "snapshot ready without its chunks");
            return;
        }
        struct snap_writer *w = p->incoming;
        p->incoming = NULL;
        p->incoming_index = p->incoming_term = 0;
        int rc = snap_writer_finish(w, j->snap_size, &j->snap_out);
        if (rc) {
            set_err(j, rc, "finishing incoming snapshot");
            return;
        }
    }
    const struct raft_hard_state *hs = j->has_hs ? &j->hs : p->held_hs ? &p->held : NULL;
    struct wal_batch b = {
        .has_snap = j->snapshot_ready,
        .snap_index = j->snap_meta.index,
        .snap_term = j->snap_meta.term,
        .entries = j->entries,
        .n_entries = j->n_entries,
        .hs = hs,
    };
    uint64_t t0 = clock_mono_us();
    int rc = storage_save(p->st, &b);
    j->save_us = clock_mono_us() - t0;
    if (rc) {
        set_err(j, rc, "saving to the WAL");
        return;
    }
    if (hs) p->written_hs = *hs;
    p->held_hs = false;
}

static void run_snapshot(struct persist *p, struct persist_job *j)
{
    struct snap_writer *w;
    int rc = storage_snap_begin(p->st, &j->snap_meta, &w);
    if (rc) {
        set_err(j, rc, "starting snapshot file");
        return;
    }
    uint64_t off = 0;
    for (;;) {
        size_t n = 0;
        rc = kv_snapshot_read(j->kv_snap, p->copybuf, SNAP_COPY_BYTES, &n);
        if (rc) {
            snap_writer_abort(w);
            set_err(j, rc, "reading the store's snapshot stream");
            return;
        }
        if (n == 0) break;
        rc = snap_writer_write(w, off, p->copybuf, n);
        if (rc) {
            snap_writer_abort(w);
            set_err(j, rc, "writing snapshot file");
            return;
        }
        off += n;
    }
    rc = snap_writer_finish(w, off, &j->snap_out);
    if (rc) {
        set_err(j, rc, "finishing snapshot file");
        return;
    }
    struct wal_batch b = {
        .has_snap = true, .snap_index = j->snap_meta.index, .snap_term = j->snap_meta.term};
    rc = storage_save(p->st, &b);
    if (rc) set_err(j, rc, "saving the snapshot marker");
}

static bool mergeable(const struct persist_job *j)
{
    return j->kind == PERSIST_UPDATE && j->n_chunks == 0 && !j->snapshot_ready;
}

/* Group commit across updates: consecutive plain updates (entries and hard state only) that
 * queued up while the previous fsync ran are saved as ONE batch with one fdatasync. A run is
 * cut where the next update's entries do not directly follow (a truncation), because a batch's
 * entries must be contiguous. Every job in the run gets the run's result. */
static void run_merged(struct persist *p, struct persist_job *first, struct persist_job *stop,
                       struct raft_entry **scratch, size_t *scratch_cap)
{
    size_t n = 0;
    for (struct persist_job *j = first; j != stop; j = j->next) n += j->n_entries;
    if (n > *scratch_cap) {
        struct raft_entry *bigger = realloc(*scratch, n * sizeof(**scratch));
        if (!bigger) {
            for (struct persist_job *j = first; j != stop; j = j->next)
                set_err(j, CC_ENOMEM, "merging updates for disk");
            return;
        }
        *scratch = bigger;
        *scratch_cap = n;
    }
    size_t k = 0;
    const struct raft_hard_state *hs = p->held_hs ? &p->held : NULL;
    for (struct persist_job *j = first; j != stop; j = j->next) {
        if (j->n_entries) memcpy(*scratch + k, j->entries, j->n_entries * sizeof(**scratch));
        k += j->n_entries;
        if (j->has_hs) hs = &j->hs;
    }
    /* A hard state that only advanced the commit index promises nothing to anyone (the commit
     * index is re-learned from the leader after a restart), so it does not earn an fdatasync
     * of its own: it is held and written with the next batch that has to be durable. This
     * halves the leader's fsyncs per write (one for the entry, none for its commit). */
    if (k == 0 && hs && hs->term == p->written_hs.term && hs->vote == p->written_hs.vote) {
        p->held = *hs;
        p->held_hs = true;
        return;
    }
    struct wal_batch b = {.entries = k ? *scratch : NULL, .n_entries = (uint32_t)k, .hs = hs};
    uint64_t t0 = clock_mono_us();
    int rc = storage_save(p->st, &b);
    first->save_us = clock_mono_us() - t0;
    if (rc) {
        for (struct persist_job *j = first; j != stop; j = j->next)
            set_err(j, rc, "saving to the WAL");
        return;
    }
    if (hs) p->written_hs = *hs;
    p->held_hs = false;
}

static void run_job(struct persist *p, struct persist_job *j)
{
    switch (j->kind) {
    case PERSIST_UPDATE:
        run_update(p, j);
        break;
    case PERSIST_SNAPSHOT:
        run_snapshot(p, j);
        break;
    case PERSIST_META: {
        int rc = storage_meta_save(p->st, &j->meta);
        if (rc) set_err(j, rc, "saving member metadata");
        break;
    }
    case PERSIST_RELEASE: {
        int rc = storage_release(p->st, j->release_index);
        if (rc) set_err(j, rc, "releasing WAL segments");
        break;
    }
    }
}

static void *thread_main(void *arg)
{
    struct persist *p = arg;
    struct raft_entry *scratch = NULL;
    size_t scratch_cap = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->q_head && !p->stopping) pthread_cond_wait(&p->cond, &p->mu);
        if (!p->q_head) break;
        /* Take everything queued: it is written with as few fdatasyncs as possible. */
        struct persist_job *head = p->q_head, *tail = p->q_tail;
        p->q_head = p->q_tail = NULL;
        pthread_mutex_unlock(&p->mu);

        struct persist_job *j = head;
        while (j) {
            j->rc = 0;
            if (!mergeable(j)) {
                run_job(p, j);
                j = j->next;
                continue;
            }
            struct persist_job *run_end = j->next;
            uint64_t last = j->n_entries ? j->entries[j->n_entries - 1].index : 0;
            while (run_end && mergeable(run_end)) {
                if (run_end->n_entries) {
                    if (last && run_end->entries[0].index != last + 1) break;
                    last = run_end->entries[run_end->n_entries - 1].index;
                }
                run_end->rc = 0;
                run_end = run_end->next;
            }
            run_merged(p, j, run_end, &scratch, &scratch_cap);
            j = run_end;
        }

        pthread_mutex_lock(&p->mu);
        if (p->d_tail)
            p->d_tail->next = head;
        else
            p->d_head = head;
        p->d_tail = tail;
        uv_async_send(p->done_async);
    }
    pthread_mutex_unlock(&p->mu);
    free(scratch);
    drop_incoming(p);
    return NULL;
}

int persist_start(struct persist **out, struct storage *st, uv_async_t *done_async)
{
    struct persist *p = calloc(1, sizeof(*p));
    if (!p) return CC_ENOMEM;
    p->copybuf = malloc(SNAP_COPY_BYTES);
    if (!p->copybuf) {
        free(p);
        return CC_ENOMEM;
    }
    p->st = st;
    p->done_async = done_async;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pthread_create(&p->thread, NULL, thread_main, p) != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cond);
        free(p->copybuf);
        free(p);
        return CC_EIO;
    }
    *out = p;
    return 0;
}

void persist_submit(struct persist *p, struct persist_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->mu);
    assert(!p->stopping);
    if (p->q_tail)
        p->q_tail->next = job;
    else
        p->q_head = job;
    p->q_tail = job;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
}

struct persist_job *persist_take_done(struct persist *p)
{
    pthread_mutex_lock(&p->mu);
    struct persist_job *j = p->d_head;
    p->d_head = p->d_tail = NULL;
    pthread_mutex_unlock(&p->mu);
    return j;
}

void persist_stop(struct persist *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    struct persist_job *j = p->d_head;
    while (j) {
        struct persist_job *next = j->next;
        persist_job_free(j);
        j = next;
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cond);
    free(p->copybuf);
    free(p);
}

struct persist_job *persist_job_from_update(const struct raft_update *u)
{
    size_t bytes = 0;
    for (uint32_t i = 0; i < u->n_snap_chunks; i++) bytes += u->snap_chunks[i].len;
    for (uint32_t i = 0; i < u->n_entries; i++) bytes += u->entries[i].len;
    size_t arena = bytes + u->n_snap_chunks * sizeof(struct raft_snap_chunk) +
                   u->n_entries * sizeof(struct raft_entry) + 64;
    struct persist_job *j = calloc(1, sizeof(*j));
    if (!j) return NULL;
    j->kind = PERSIST_UPDATE;
    j->mem = malloc(arena);
    if (!j->mem) {
        free(j);
        return NULL;
    }
    uint8_t *p = j->mem;
    j->chunks = (struct raft_snap_chunk *)p;
    p += u->n_snap_chunks * sizeof(struct raft_snap_chunk);
    j->entries = (struct raft_entry *)p;
    p += u->n_entries * sizeof(struct raft_entry);
    j->n_chunks = u->n_snap_chunks;
    for (uint32_t i = 0; i < u->n_snap_chunks; i++) {
        j->chunks[i] = u->snap_chunks[i];
        if (u->snap_chunks[i].len) memcpy(p, u->snap_chunks[i].data, u->snap_chunks[i].len);
        j->chunks[i].data = p;
        p += u->snap_chunks[i].len;
    }
    j->n_entries = u->n_entries;
    for (uint32_t i = 0; i < u->n_entries; i++) {
        j->entries[i] = u->entries[i];
        if (u->entries[i].len) {
            memcpy(p, u->entries[i].data, u->entries[i].len);
            j->entries[i].data = p;
        } else {
            j->entries[i].data = NULL;
        }
        p += u->entries[i].len;
    }
    j->snapshot_ready = u->snapshot_ready;
    j->snap_meta = u->snapshot;
    j->snap_size = u->snapshot_size;
    j->has_hs = u->hs_changed;
    j->hs = u->hs;
    j->bytes = bytes;
    j->report = u->persist_report;
    if (u->persist_report) {
        j->last_index = u->persist_index;
        j->last_term = u->persist_term;
    }
    if (u->n_msgs_after_persist) {
        j->msgs_after = calloc(u->n_msgs_after_persist, sizeof(struct raft_msg));
        if (!j->msgs_after) {
            persist_job_free(j);
            return NULL;
        }
        for (uint32_t i = 0; i < u->n_msgs_after_persist; i++) {
            if (raft_msg_copy(&j->msgs_after[i], &u->msgs_after_persist[i]) != 0) {
                j->n_msgs_after = i;
                persist_job_free(j);
                return NULL;
            }
            j->n_msgs_after = i + 1;
        }
    }
    return j;
}

void persist_job_free(struct persist_job *job)
{
    if (!job) return;
    for (uint32_t i = 0; i < job->n_msgs_after; i++) raft_msg_release(&job->msgs_after[i]);
    free(job->msgs_after);
    free(job->mem);
    free(job);
}
