/* wal.c — the WAL object: options, appending batches, rolling and releasing segments. */
#include "storage/wal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/fs_util.h"
#include "storage/wal_internal.h"
#include "util/clock.h"
#include "util/err.h"

#define MIN_SEGMENT_BYTES (4u << 10)
#define MAX_SEGMENT_BYTES (1ull << 30)
#define MAX_BATCH_BYTES   (1ull << 30)
#define MAX_SEGMENTS      (1u << 20)
#define KEEP_BATCH_BYTES  (8u << 20)

void wal_options_default(struct wal_options *o)
{
    memset(o, 0, sizeof(*o));
    o->segment_bytes = 64ull << 20;
    o->max_batch_bytes = 256ull << 20;
    o->max_entry_bytes = RAFT_MAX_ENTRY_BYTES_LIMIT;
    o->max_entries = 1ull << 26;
}

void wal__seg_name(char *out, size_t len, uint64_t seq, uint64_t first_index)
{
    snprintf(out, len, "%016" PRIx64 "-%016" PRIx64 ".wal", seq, first_index);
}

static void vset_msg(struct wal *w, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vset_msg(struct wal *w, const char *fmt, va_list ap)
{
    vsnprintf(w->errmsg, sizeof(w->errmsg), fmt, ap);
}

int wal__fail(struct wal *w, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset_msg(w, fmt, ap);
    va_end(ap);
    if (!w->failed) w->failed = rc;
    log_error(w->log, "wal: %s; the log accepts no more writes (%s)", w->errmsg, cc_errname(rc));
    return rc;
}

int wal__refuse(struct wal *w, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset_msg(w, fmt, ap);
    va_end(ap);
    return rc;
}

int wal__push_seg(struct wal *w, uint64_t seq, uint64_t first_index)
{
    if (w->n_segs == w->cap_segs) {
        if (w->cap_segs >= MAX_SEGMENTS) return CC_ETOOBIG;
        size_t cap = w->cap_segs ? w->cap_segs * 2 : 16;
        struct wal_seg *v = realloc(w->segs, cap * sizeof(*v));
        if (!v) return CC_ENOMEM;
        w->segs = v;
        w->cap_segs = cap;
    }
    w->segs[w->n_segs].seq = seq;
    w->segs[w->n_segs].first_index = first_index;
    w->n_segs++;
    return 0;
}

int wal__create_segment(struct wal *w, const struct wal_seg_hdr *hdr, uint64_t cap, int *fd_out,
                        uint64_t *body_out)
{
    char name[64], path[STORAGE_PATH_MAX], tmp[STORAGE_PATH_MAX + 8];
    wal__seg_name(name, sizeof(name), hdr->seq, hdr->last_index + 1);
    if (storage__path(path, w->dir, name) < 0) return -ENAMETOOLONG;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    uint8_t hbuf[128];
    struct buf b = {.data = hbuf, .len = 0, .cap = sizeof(hbuf), .limit = sizeof(hbuf)};
    int rc = wal_record_put_segment(&b, w->bseq, hdr);
    assert(rc == 0);

    /* Prepared under a temporary name so the final name only ever denotes a segment whose
     * header and allocation are durable. */
    int fd = w->fs->open(w->fs->ctx, tmp, O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (fd < 0) return fd;
    rc = w->fs->fallocate(w->fs->ctx, fd, 0, cap);
    if (rc == 0) rc = storage__write_all(w->fs, fd, b.data, b.len, 0);
    if (rc == 0) rc = w->fs->fsync(w->fs->ctx, fd);
    if (rc == 0) rc = w->fs->rename(w->fs->ctx, tmp, path);
    if (rc < 0) {
        w->fs->close(w->fs->ctx, fd);
        w->fs->unlink(w->fs->ctx, tmp);
        return rc;
    }
    rc = storage__fsync_dir(w->fs, w->dir);
    if (rc < 0) {
        w->fs->close(w->fs->ctx, fd);
        return rc;
    }
    *fd_out = fd;
    *body_out = b.len;
    return 0;
}

int wal__seal_segment(struct wal *w, int fd, uint64_t off, uint64_t next_seq)
{
    uint8_t sbuf[64];
    struct buf b = {.data = sbuf, .len = 0, .cap = sizeof(sbuf), .limit = sizeof(sbuf)};
    int rc = wal_record_put_seal(&b, w->bseq, next_seq);
    assert(rc == 0);
    rc = storage__write_all(w->fs, fd, b.data, b.len, off);
    if (rc == 0) rc = w->fs->ftruncate(w->fs->ctx, fd, off + b.len);
    if (rc == 0) rc = w->fs->fsync(w->fs->ctx, fd);
    return rc;
}

static uint64_t last_term(const struct wal *w)
{
    uint64_t t = 0;
    wal__log_term(&w->lg, wal__log_last(&w->lg), &t);
    return t;
}

static const char *cur_name(const struct wal *w, char *out, size_t len)
{
    const struct wal_seg *s = &w->segs[w->n_segs - 1];
    wal__seg_name(out, len, s->seq, s->first_index);
    return out;
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

/* Moves appends to a new segment big enough for len more bytes: create the successor first,
 * then seal the full one (recovery tolerates a crash between the two). */
static int roll(struct wal *w, size_t len)
{
    char name[64];
    if (w->n_segs == w->cap_segs) {
        int rc = wal__push_seg(w, 0, 0); /* grow now so the push below cannot fail */
        if (rc) return wal__fail(w, rc, "cannot track another segment");
        w->n_segs--;
    }
    struct wal_seg_hdr h = {
        .seq = w->segs[w->n_segs - 1].seq + 1,
        .snap_index = w->lg.snap_index,
        .snap_term = w->lg.snap_term,
        .hs = w->lg.hs,
        .last_index = wal__log_last(&w->lg),
        .last_term = last_term(w),
    };
    uint64_t cap = w->o.segment_bytes;
    if (cap < w->seg_body + len) cap = round_up(w->seg_body + len, 4096);
    int fd;
    uint64_t body;
    int rc = wal__create_segment(w, &h, cap, &fd, &body);
    if (rc < 0)
        return wal__fail(w, cc_from_errno(-rc), "creating segment %016" PRIx64 " in %s: %s", h.seq,
                         w->dir, strerror(-rc));
    rc = wal__seal_segment(w, w->fd, w->seg_off, h.seq);
    if (rc < 0) {
        w->fs->close(w->fs->ctx, fd);
        return wal__fail(w, cc_from_errno(-rc), "sealing %s/%s at offset %" PRIu64 ": %s", w->dir,
                         cur_name(w, name, sizeof(name)), w->seg_off, strerror(-rc));
    }
    w->fs->close(w->fs->ctx, w->fd);
    rc = wal__push_seg(w, h.seq, h.last_index + 1);
    assert(rc == 0);
    w->fd = fd;
    w->seg_off = w->seg_body = body;
    w->seg_cap = cap;
    log_info(w->log, "wal: rolled to segment %s (%" PRIu64 " bytes preallocated)",
             cur_name(w, name, sizeof(name)), cap);
    return 0;
}

/* Encodes b into w->batch with bseq w->bseq + 1; offs[i] gets entry i's offset in the batch. */
static int encode(struct wal *w, const struct wal_batch *b)
{
    buf_reset(&w->batch);
    /* Every record takes at least 40 bytes: bound the offsets array by the batch limit before
     * allocating it. */
    if ((uint64_t)b->n_entries * 40 > w->o.max_batch_bytes) return CC_ETOOBIG;
    if (b->n_entries > w->offs_cap) {
        uint32_t *offs = realloc(w->offs, b->n_entries * sizeof(*offs));
        if (!offs) return CC_ENOMEM;
        w->offs = offs;
        w->offs_cap = b->n_entries;
    }
    uint64_t bseq = w->bseq + 1;
    int rc = 0;
    if (b->has_snap) {
        uint8_t f = b->n_entries == 0 && !b->hs ? WAL_REC_LAST : 0;
        rc = wal_record_put_snapshot(&w->batch, f, bseq, b->snap_index, b->snap_term);
    }
    for (uint32_t i = 0; rc == 0 && i < b->n_entries; i++) {
        uint8_t f = i + 1 == b->n_entries && !b->hs ? WAL_REC_LAST : 0;
        w->offs[i] = (uint32_t)w->batch.len;
        rc = wal_record_put_entry(&w->batch, f, bseq, &b->entries[i]);
    }
    if (rc == 0 && b->hs) rc = wal_record_put_hs(&w->batch, WAL_REC_LAST, bseq, b->hs);
    return rc;
}

int wal_append(struct wal *w, const struct wal_batch *b)
{
    char name[64], why[256];
    if (w->o.read_only) return wal__refuse(w, CC_EINVAL, "the WAL was opened read-only");
    if (w->failed) return CC_ESTOPPED;
    if (!b->has_snap && b->n_entries == 0 && !b->hs) return 0;
    int rc = wal__log_check(&w->lg, b, w->o.max_entry_bytes, why, sizeof(why));
    if (rc) return wal__refuse(w, rc, "append refused: %s", why);
    rc = wal__log_reserve(&w->lg, b);
    if (rc)
        return wal__refuse(w, rc, "append refused: index of %" PRIu64 " entries cannot grow (%s)",
                           (uint64_t)w->lg.n, cc_errname(rc));
    rc = encode(w, b);
    if (rc)
        return wal__refuse(w, rc, "append refused: batch of %u entries over %" PRIu64 " bytes (%s)",
                           b->n_entries, w->o.max_batch_bytes, cc_errname(rc));
    size_t len = w->batch.len;
    if (w->seg_off + len > w->seg_cap) {
        if (w->seg_off > w->seg_body) {
            rc = roll(w, len);
            if (rc) return rc;
        } else {
            /* A batch larger than an empty segment: grow this one. The size change becomes
             * durable with the batch's fdatasync. */
            uint64_t cap = round_up(w->seg_off + len, 4096);
            rc = w->fs->fallocate(w->fs->ctx, w->fd, w->seg_cap, cap - w->seg_cap);
            if (rc < 0)
                return wal__fail(w, cc_from_errno(-rc), "preallocating %s/%s to %" PRIu64 ": %s",
                                 w->dir, cur_name(w, name, sizeof(name)), cap, strerror(-rc));
            w->seg_cap = cap;
        }
    }
    rc = storage__write_all(w->fs, w->fd, w->batch.data, len, w->seg_off);
    if (rc < 0)
        return wal__fail(w, cc_from_errno(-rc),
                         "writing %zu bytes to %s/%s at offset %" PRIu64 ": %s", len, w->dir,
                         cur_name(w, name, sizeof(name)), w->seg_off, strerror(-rc));
    rc = w->fs->fdatasync(w->fs->ctx, w->fd);
    if (rc < 0)
        return wal__fail(w, cc_from_errno(-rc),
                         "fdatasync of %s/%s after writing offset %" PRIu64 ": %s", w->dir,
                         cur_name(w, name, sizeof(name)), w->seg_off, strerror(-rc));
    for (uint32_t i = 0; i < b->n_entries; i++) w->offs[i] += (uint32_t)w->seg_off;
    wal__log_apply(&w->lg, b, (uint32_t)w->segs[w->n_segs - 1].seq, w->offs);
    w->seg_off += len;
    w->bseq++;
    /* One huge batch must not pin its buffer for the life of the WAL. */
    if (w->batch.cap > KEEP_BATCH_BYTES) buf_free(&w->batch);
    if (w->offs_cap > KEEP_BATCH_BYTES / 64) {
        free(w->offs);
        w->offs = NULL;
        w->offs_cap = 0;
    }
    return 0;
}

int wal_release(struct wal *w, uint64_t index, uint32_t *n_removed)
{
    char name[64], path[STORAGE_PATH_MAX];
    if (n_removed) *n_removed = 0;
    if (w->o.read_only) return wal__refuse(w, CC_EINVAL, "the WAL was opened read-only");
    if (w->failed) return CC_ESTOPPED;
    if (index > w->lg.snap_index + 1)
        return wal__refuse(w, CC_EINVAL,
                           "release before %" PRIu64 " refused: the snapshot marker is at %" PRIu64,
                           index, w->lg.snap_index);
    /* Oldest first, so the files left are always a contiguous run a replay can start from. */
    size_t n = 0;
    while (w->n_segs - n >= 2 && w->segs[n + 1].first_index <= index) {
        wal__seg_name(name, sizeof(name), w->segs[n].seq, w->segs[n].first_index);
        int rc = storage__path(path, w->dir, name);
        if (rc == 0) rc = w->fs->unlink(w->fs->ctx, path);
        if (rc < 0) return wal__fail(w, cc_from_errno(-rc), "removing %s: %s", path, strerror(-rc));
        n++;
    }
    if (n == 0) return 0;
    memmove(w->segs, w->segs + n, (w->n_segs - n) * sizeof(*w->segs));
    w->n_segs -= n;
    int rc = storage__fsync_dir(w->fs, w->dir);
    if (rc < 0)
        return wal__fail(w, cc_from_errno(-rc), "fsync of directory %s: %s", w->dir, strerror(-rc));
    log_info(w->log, "wal: released %zu segment(s) before index %" PRIu64, n, index);
    if (n_removed) *n_removed = (uint32_t)n;
    return 0;
}

void wal_get_state(const struct wal *w, struct wal_state *st)
{
    *st = w->rec;
    st->hs = w->lg.hs;
    st->snap_index = w->lg.snap_index;
    st->snap_term = w->lg.snap_term;
    st->first_index = w->lg.snap_index + 1;
    st->last_index = wal__log_last(&w->lg);
    st->last_term = last_term(w);
    st->bseq = w->bseq;
    st->n_segments = w->n_segs;
    st->first_seq = w->n_segs ? w->segs[0].seq : 0;
    st->last_seq = w->n_segs ? w->segs[w->n_segs - 1].seq : 0;
}

int wal_term(const struct wal *w, uint64_t index, uint64_t *term)
{
    int rc = wal__log_term(&w->lg, index, term);
    return rc == CC_EBUSY ? CC_ENOTFOUND : rc;
}

int wal_error(const struct wal *w)
{
    return w->failed;
}

const char *wal_errmsg(const struct wal *w)
{
    return w->errmsg;
}

static int check_options(const struct wal_options *o)
{
    if (o->segment_bytes < MIN_SEGMENT_BYTES || o->segment_bytes > MAX_SEGMENT_BYTES)
        return CC_EINVAL;
    if (o->max_batch_bytes < 4096 || o->max_batch_bytes > MAX_BATCH_BYTES) return CC_EINVAL;
    if (o->max_entry_bytes == 0 || o->max_entry_bytes > RAFT_MAX_ENTRY_BYTES_LIMIT)
        return CC_EINVAL;
    if (o->max_entries == 0 || o->max_entries > (1ull << 40)) return CC_EINVAL;
    return 0;
}

int wal_open(const char *dir, const struct wal_options *o, struct wal **out, char *err,
             size_t errlen)
{
    *out = NULL;
    if (err && errlen) err[0] = '\0';
    struct wal_options def;
    if (!o) {
        wal_options_default(&def);
        o = &def;
    }
    if (check_options(o) != 0 || strlen(dir) + 64 >= STORAGE_PATH_MAX) {
        if (err) snprintf(err, errlen, "wal: invalid options or directory name too long");
        return CC_EINVAL;
    }
    struct wal *w = calloc(1, sizeof(*w));
    if (!w) return CC_ENOMEM;
    snprintf(w->dir, sizeof(w->dir), "%s", dir);
    w->o = *o;
    w->fs = o->fs ? o->fs : storage_fs_posix();
    w->log = o->log;
    w->fd = -1;
    buf_init(&w->batch, (size_t)o->max_batch_bytes);
    wal__log_init(&w->lg, o->max_entries);
    uint64_t t0 = clock_mono_us();
    int rc = wal__recover(w, err, errlen);
    if (rc) {
        wal_close(w);
        return rc;
    }
    w->rec.recovery_us = clock_mono_us() - t0;
    struct wal_state st;
    wal_get_state(w, &st);
    log_info(w->log,
             "wal: opened %s%s in %" PRIu64 " ms: %" PRIu64 " segment(s), %" PRIu64
             " bytes scanned, %" PRIu64 " batches, entries %" PRIu64 "..%" PRIu64
             ", snapshot (%" PRIu64 ", %" PRIu64 "), hard state (term %" PRIu64 ", vote %" PRIx64
             ", commit %" PRIu64 ")%s",
             dir, o->read_only ? " read-only" : "", st.recovery_us / 1000, st.n_segments,
             st.recovered_bytes, st.bseq, st.first_index, st.last_index, st.snap_index,
             st.snap_term, st.hs.term, st.hs.vote, st.hs.commit, st.fresh ? " (new)" : "");
    *out = w;
    return 0;
}

void wal_close(struct wal *w)
{
    if (!w) return;
    if (w->fd >= 0) w->fs->close(w->fs->ctx, w->fd);
    wal__log_free(&w->lg);
    buf_free(&w->batch);
    free(w->offs);
    free(w->segs);
    free(w);
}
