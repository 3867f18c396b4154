/* wal_read.c — reading entries back from segments by index range, re-verifying every record. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/fs_util.h"
#include "storage/wal_internal.h"
#include "util/err.h"

void wal_entries_free(struct wal_entries *e)
{
    free(e->v);
    free(e->arena);
    memset(e, 0, sizeof(*e));
}

static const struct wal_pos *pos_of(const struct wal *w, uint64_t index)
{
    return &w->lg.v[w->lg.head + (size_t)(index - w->lg.hole_end - 1)];
}

static const struct wal_seg *seg_of(const struct wal *w, uint32_t seq)
{
    for (size_t k = w->n_segs; k-- > 0;)
        if ((uint32_t)w->segs[k].seq == seq) return &w->segs[k];
    return NULL;
}

/* Reads entries first..first+n-1, all in segment seg, into out->v[at..] and the arena. */
static int read_run(struct wal *w, const struct wal_seg *seg, uint64_t first, uint32_t n,
                    struct wal_entries *out, uint32_t at, uint64_t *arena_off)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct wal_pos *p = pos_of(w, first + i);
        uint64_t end = p->off + wal_record_size(WAL_ENTRY_HDR_BYTES + (size_t)p->len);
        if (p->off < lo) lo = p->off;
        if (end > hi) hi = end;
    }
    char name[64], path[STORAGE_PATH_MAX];
    wal__seg_name(name, sizeof(name), seg->seq, seg->first_index);
    storage__path(path, w->dir, name);
    bool own = !(w->fd >= 0 && seg == &w->segs[w->n_segs - 1]);
    int fd = own ? w->fs->open(w->fs->ctx, path, O_RDONLY, 0) : w->fd;
    if (fd < 0) return wal__refuse(w, cc_from_errno(-fd), "opening %s: %s", path, strerror(-fd));
    uint8_t *buf = malloc((size_t)(hi - lo));
    size_t got = 0;
    int rc = buf ? storage__read_all(w->fs, fd, buf, (size_t)(hi - lo), lo, &got) : -ENOMEM;
    if (own) w->fs->close(w->fs->ctx, fd);
    if (rc < 0) {
        free(buf);
        return wal__refuse(w, cc_from_errno(-rc), "reading %s at %" PRIu64 ": %s", path, lo,
                           strerror(-rc));
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t index = first + i;
        const struct wal_pos *p = pos_of(w, index);
        struct wal_rec r;
        struct raft_entry e;
        size_t rel = (size_t)(p->off - lo);
        int dec = wal_record_decode(buf + rel, got > rel ? got - rel : 0, &r);
        if (dec != WAL_DEC_OK || wal_record_entry(&r, &e) != 0 || e.index != index ||
            e.term != p->term || e.len != p->len) {
            free(buf);
            return wal__refuse(
                w, CC_ECORRUPT, "%s at offset %u: entry %" PRIu64 " no longer verifies (%s)", path,
                p->off, index, dec != WAL_DEC_OK ? wal_record_dec_name(dec) : "wrong content");
        }
        struct raft_entry *o = &out->v[at + i];
        *o = e;
        o->data = NULL;
        if (e.len) {
            o->data = out->arena + *arena_off;
            memcpy(o->data, e.data, e.len);
            *arena_off += e.len;
        }
    }
    free(buf);
    return 0;
}

int wal_read_entries(struct wal *w, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                     struct wal_entries *out)
{
    memset(out, 0, sizeof(*out));
    if (lo <= w->lg.snap_index) return CC_ECOMPACTED;
    if (lo > hi || hi > wal__log_last(&w->lg)) return CC_ENOTFOUND;
    /* The hole is always empty after a successful open. */
    uint64_t bytes = 0, n = 0;
    for (uint64_t i = lo; i <= hi && n < UINT32_MAX; i++, n++) {
        uint32_t len = pos_of(w, i)->len;
        if (n > 0 && bytes + len > max_bytes) break;
        bytes += len;
    }
    out->v = calloc((size_t)n, sizeof(*out->v));
    out->arena = malloc(bytes ? (size_t)bytes : 1);
    if (!out->v || !out->arena) {
        wal_entries_free(out);
        return CC_ENOMEM;
    }
    uint64_t arena_off = 0;
    for (uint64_t i = 0; i < n;) {
        uint32_t seq = pos_of(w, lo + i)->seq;
        uint64_t j = i + 1;
        while (j < n && pos_of(w, lo + j)->seq == seq) j++;
        const struct wal_seg *seg = seg_of(w, seq);
        int rc =
            seg ? read_run(w, seg, lo + i, (uint32_t)(j - i), out, (uint32_t)i, &arena_off)
                : wal__refuse(w, CC_ECORRUPT, "entry %" PRIu64 " is in a released segment", lo + i);
        if (rc) {
            wal_entries_free(out);
            return rc;
        }
        i = j;
    }
    out->n = (uint32_t)n;
    out->bytes = bytes;
    return 0;
}
