/* persist.h — the member's persistence thread: Raft updates made durable in order, off the loop
 * (thesis §10.2.1: the leader writes its log while its appends are already on the wire). */
#ifndef CONCUR_SERVER_PERSIST_H
#define CONCUR_SERVER_PERSIST_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "kv/kv.h"
#include "raft/raft.h"
#include "storage/storage.h"

/* What one job asks for. Jobs run strictly in submission order on one thread, which is the only
 * user of the struct storage while it runs. */
enum persist_kind {
    PERSIST_UPDATE = 1,   /* a Raft update's step 1 (raft.h) */
    PERSIST_SNAPSHOT = 2, /* write our own snapshot: stream a kv snapshot into a snapshot file,
                           * then save the WAL marker naming it */
    PERSIST_RELEASE = 3,  /* release WAL segments before release_index */
    PERSIST_META = 4,     /* rewrite the member metadata file (meta) */
};

struct persist_job {
    struct persist_job *next;
    enum persist_kind kind;

    /* PERSIST_UPDATE — all memory owned by the job (one arena). */
    uint32_t n_chunks;
    struct raft_snap_chunk *chunks; /* data copied */
    bool snapshot_ready;
    struct raft_snapshot_meta snap_meta;
    uint64_t snap_size;
    uint32_t n_entries;
    struct raft_entry *entries; /* data copied */
    bool has_hs;
    struct raft_hard_state hs;
    uint32_t n_msgs_after;
    struct raft_msg *msgs_after;    /* deep copies (raft_msg_copy); released with the job */
    bool report;                    /* u.persist_report: call raft_persisted once durable */
    uint64_t last_index, last_term; /* u.persist_index/term */

    /* PERSIST_SNAPSHOT: the kv stream (owned; closed by the loop after completion). */
    struct kv_snapshot *kv_snap;
    /* PERSIST_RELEASE */
    uint64_t release_index;
    /* PERSIST_META */
    struct storage_meta meta;

    /* Filled by the thread. */
    int rc;
    char errmsg[256];
    uint64_t save_us; /* duration of the WAL write + fdatasync this job paid for (0: it shared
                       * one that another job of its run reports, or wrote nothing) */
    struct snap_file snap_out; /* the snapshot file written or installed */
    uint64_t bytes;            /* accounting: payload bytes this job carries */

    /* Arena behind chunks/entries. */
    uint8_t *mem;
};

struct persist;

/* Starts the thread. done_async is signalled whenever jobs complete; the loop then calls
 * persist_take_done. st must not be used by anyone else until persist_stop returns. */
int persist_start(struct persist **out, struct storage *st, uv_async_t *done_async);

/* Queues a job (ownership moves to the persistence layer until it comes back from
 * persist_take_done). Never blocks. */
void persist_submit(struct persist *p, struct persist_job *job);

/* Removes and returns the list of completed jobs in completion (= submission) order; the
 * caller owns them and frees each with persist_job_free. */
struct persist_job *persist_take_done(struct persist *p);

/* Stops after finishing every queued job; joins the thread. Completed jobs not yet taken are
 * freed. */
void persist_stop(struct persist *p);

/* Builds an UPDATE job from u (copies everything it needs). NULL on allocation failure. */
struct persist_job *persist_job_from_update(const struct raft_update *u);

void persist_job_free(struct persist_job *job);

#endif
