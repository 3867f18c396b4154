/* snapshot.c — taking, sending and installing snapshots of the member's state machine. */
#include "server/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "server/members.h"
#include "util/err.h"

int member__snapshot_use(struct member *m, const struct snap_file *f)
{
    struct snap_reader *r = NULL;
    int rc = snap_reader_open(storage_snaps(m->st), f, &r);
    if (rc) return rc;
    snap_reader_close(m->snap_reader);
    m->snap_reader = r;
    m->snap = *f;
    return 0;
}

void member__snapshot_maybe(struct member *m)
{
    if (m->snapshot_in_progress || m->stopped) return;
    if (m->applied < m->snap_applied_at + m->cfg.snapshot_count) return;
    struct raft_snapshot_meta meta;
    int rc = raft_snapshot_meta_at(m->raft, m->applied, &meta);
    if (rc) {
        log_warn(&m->log, "cannot describe a snapshot at %llu: %s", (unsigned long long)m->applied,
                 cc_strerror(rc));
        m->snap_applied_at = m->applied;
        return;
    }
    struct kv_snapshot *ks = NULL;
    rc = kv_snapshot_open(m->kv, &ks);
    if (rc) {
        member__fail(m, "checkpointing the store for a snapshot: %s (%s)", cc_strerror(rc),
                     kv_errmsg(m->kv));
        return;
    }
    if (kv_snapshot_index(ks) != meta.index) {
        /* The store must hold exactly what Raft applied; anything else is a bug. */
        log_error(&m->log, "snapshot index mismatch: store %llu, raft %llu",
                  (unsigned long long)kv_snapshot_index(ks), (unsigned long long)meta.index);
        kv_snapshot_close(ks);
        m->snap_applied_at = m->applied;
        return;
    }
    struct persist_job *j = calloc(1, sizeof(*j));
    if (!j) {
        kv_snapshot_close(ks);
        return;
    }
    j->kind = PERSIST_SNAPSHOT;
    j->snap_meta = meta;
    j->kv_snap = ks;
    m->snapshot_in_progress = true;
    m->snap_applied_at = m->applied;
    log_info(&m->log, "taking snapshot at index %llu (term %llu, %llu bytes)",
             (unsigned long long)meta.index, (unsigned long long)meta.term,
             (unsigned long long)kv_snapshot_size(ks));
    persist_submit(m->persist, j);
}

void member__snapshot_taken(struct member *m, const struct persist_job *j)
{
    const struct snap_file *f = &j->snap_out;
    int rc = member__snapshot_use(m, f);
    if (rc) {
        log_warn(&m->log, "cannot open snapshot %s for sending: %s", f->path, cc_strerror(rc));
        return;
    }
    rc = raft_snapshot_taken(m->raft, &f->meta, f->size);
    if (rc) {
        log_warn(&m->log, "raft refused snapshot %llu: %s", (unsigned long long)f->meta.index,
                 cc_strerror(rc));
        return;
    }
    /* Keep some entries in memory so a follower slightly behind gets entries, not a snapshot
     * (--experimental-snapshot-catchup-entries, etcd's 5000 by default). */
    uint64_t keep = m->cfg.snapshot_catchup_entries;
    if (f->meta.index > keep) {
        rc = raft_compact(m->raft, f->meta.index - keep);
        if (rc) log_warn(&m->log, "compacting the raft log: %s", cc_strerror(rc));
    }
    /* The WAL keeps nothing the snapshot covers: at restart Raft starts from the snapshot. */
    struct persist_job *rel = calloc(1, sizeof(*rel));
    if (rel) {
        rel->kind = PERSIST_RELEASE;
        rel->release_index = f->meta.index + 1;
        persist_submit(m->persist, rel);
    }
    log_info(&m->log, "saved snapshot at index %llu (%llu bytes)",
             (unsigned long long)f->meta.index, (unsigned long long)f->size);
}

int member__snapshot_installed(struct member *m, const struct snap_file *f)
{
    log_info(&m->log, "installing snapshot at index %llu (term %llu, %llu bytes) from the leader",
             (unsigned long long)f->meta.index, (unsigned long long)f->meta.term,
             (unsigned long long)f->size);
    int rc = kv_restore_file(m->kv, f->path, SNAP_HEADER_BYTES, f->size);
    if (rc) {
        member__fail(m, "installing snapshot %s: %s (%s)", f->path, cc_strerror(rc),
                     kv_errmsg(m->kv));
        return rc;
    }
    m->applied = kv_applied_index(m->kv);
    m->snap_applied_at = m->applied;
    rc = member__snapshot_use(m, f);
    if (rc) log_warn(&m->log, "cannot open snapshot %s for sending: %s", f->path, cc_strerror(rc));
    members__reload(m);
    member__reads_on_applied(m);
    return 0;
}

int member__snapshot_chunk(struct member *m, uint64_t index, uint64_t offset, uint32_t len,
                           uint8_t **out)
{
    if (!m->snap_reader || m->snap.meta.index != index) return CC_ENOTFOUND;
    if (offset > m->snap.size || len > m->snap.size - offset) return CC_EINVAL;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) return CC_ENOMEM;
    size_t got = 0;
    int rc = snap_reader_read(m->snap_reader, offset, buf, len, &got);
    if (rc == 0 && got != len) rc = CC_EIO;
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}
