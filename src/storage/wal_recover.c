/* wal_recover.c — WAL start-up: order, verify and replay segments; apply the recovery policy. */
/* See wal.h: cut a torn tail, finish an interrupted seal, refuse on corruption. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/fs_util.h"
#include "storage/wal_internal.h"
#include "util/err.h"

#define MAX_SEGMENT_FILE (UINT32_MAX - 1ull)

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int parse_hex16(const char *s, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 16; i++) {
        int d = hexval(s[i]);
        if (d < 0) return -1;
        *v = *v << 4 | (uint64_t)d;
    }
    return 0;
}

/* "<seq:016x>-<first:016x>.wal", exactly. */
static int parse_seg_name(const char *name, uint64_t *seq, uint64_t *first)
{
    if (strlen(name) != 37 || name[16] != '-' || strcmp(name + 33, ".wal") != 0) return -1;
    return parse_hex16(name, seq) || parse_hex16(name + 17, first) ? -1 : 0;
}

struct lister {
    struct wal *w;
    int rc;
};

static int collect_seg(void *arg, const char *name)
{
    struct lister *ls = arg;
    uint64_t seq, first;
    if (parse_seg_name(name, &seq, &first) != 0) {
        log_warn(ls->w->log, "wal: ignoring %s/%s: not a segment name", ls->w->dir, name);
        return 0;
    }
    ls->rc = wal__push_seg(ls->w, seq, first);
    return ls->rc;
}

static int remove_tmp(void *arg, const char *name)
{
    struct lister *ls = arg;
    char path[STORAGE_PATH_MAX];
    if (storage__path(path, ls->w->dir, name) < 0) return 0;
    int rc = ls->w->fs->unlink(ls->w->fs->ctx, path);
    log_warn(ls->w->log, "wal: removed %s, a segment being created when the process stopped (%s)",
             path, rc < 0 ? strerror(-rc) : "ok");
    return 0;
}

static int cmp_seg(const void *a, const void *b)
{
    const struct wal_seg *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- Replay hooks --------------------------------------------------------------------------- */

struct replay {
    struct wal *w;
    const struct wal_seg *seg;
    bool first;
    struct raft_entry *ents;
    uint32_t *offs;
    size_t cap;
    int fatal; /* a non-corruption failure (CC_ENOMEM, CC_ETOOBIG) that stopped the scan */
};

static int on_header(void *arg, const struct wal_seg_hdr *h, char *why, size_t whylen)
{
    struct replay *rp = arg;
    struct wal_log *lg = &rp->w->lg;
    if (h->seq != rp->seg->seq || h->last_index + 1 != rp->seg->first_index) {
        snprintf(why, whylen,
                 "header names segment %016" PRIx64 " starting at %" PRIu64
                 ", the file name says otherwise",
                 h->seq, h->last_index + 1);
        return -1;
    }
    if (rp->first) {
        lg->snap_index = h->snap_index;
        lg->snap_term = h->snap_term;
        lg->hole_end = h->last_index;
        lg->hole_term = h->last_index == h->snap_index ? h->snap_term : h->last_term;
        lg->hs = h->hs;
        return 0;
    }
    uint64_t t = 0, last = wal__log_last(lg);
    int trc = wal__log_term(lg, last, &t);
    if (h->snap_index != lg->snap_index || h->snap_term != lg->snap_term || h->last_index != last ||
        (trc == 0 && h->last_term != t) || h->hs.term != lg->hs.term || h->hs.vote != lg->hs.vote ||
        h->hs.commit != lg->hs.commit) {
        snprintf(why, whylen,
                 "header (snapshot %" PRIu64 ", last %" PRIu64 ", term %" PRIu64 ", commit %" PRIu64
                 ") disagrees with the log before it (snapshot %" PRIu64 ", last %" PRIu64
                 ", term %" PRIu64 ", commit %" PRIu64 ")",
                 h->snap_index, h->last_index, h->hs.term, h->hs.commit, lg->snap_index, last,
                 lg->hs.term, lg->hs.commit);
        return -1;
    }
    return 0;
}

static int on_batch(void *arg, const struct wal_rec *recs, const uint64_t *offs, size_t n,
                    char *why, size_t whylen)
{
    struct replay *rp = arg;
    if (n > rp->cap) {
        struct raft_entry *e = realloc(rp->ents, n * sizeof(*e));
        if (e) rp->ents = e;
        uint32_t *o = realloc(rp->offs, n * sizeof(*o));
        if (o) rp->offs = o;
        if (!e || !o) {
            rp->fatal = CC_ENOMEM;
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        rp->cap = n;
    }
    struct wal_batch b = {.entries = rp->ents};
    struct raft_hard_state hs;
    for (size_t i = 0; i < n; i++) {
        int rc = 0;
        switch (recs[i].type) {
        case WAL_REC_SNAPSHOT:
            if (i != 0)
                rc = -1;
            else
                rc = wal_record_snapshot(&recs[i], &b.snap_index, &b.snap_term);
            b.has_snap = true;
            break;
        case WAL_REC_ENTRY:
            if (b.hs)
                rc = -1;
            else
                rc = wal_record_entry(&recs[i], &rp->ents[b.n_entries]);
            rp->offs[b.n_entries++] = (uint32_t)offs[i];
            break;
        case WAL_REC_HARDSTATE:
            if (b.hs)
                rc = -1;
            else
                rc = wal_record_hs(&recs[i], &hs);
            b.hs = &hs;
            break;
        default:
            rc = -1;
        }
        if (rc) {
            snprintf(why, whylen,
                     "record %zu of batch %" PRIu64 " (type %u) is misplaced or "
                     "malformed",
                     i, recs[i].bseq, recs[i].type);
            return -1;
        }
    }
    /* The limits in force when the data was written may have been larger: replay checks the
     * rules with the format's own limit, not this run's option. */
    char w2[200];
    int rc = wal__log_check(&rp->w->lg, &b, RAFT_MAX_ENTRY_BYTES_LIMIT, w2, sizeof(w2));
    if (rc) {
        snprintf(why, whylen, "batch %" PRIu64 " breaks the log's rules: %s", recs[0].bseq, w2);
        return -1;
    }
    rc = wal__log_reserve(&rp->w->lg, &b);
    if (rc) {
        rp->fatal = rc;
        snprintf(why, whylen, "cannot index more than %" PRIu64 " entries (%s)",
                 rp->w->lg.max_entries, cc_errname(rc));
        return -1;
    }
    wal__log_apply(&rp->w->lg, &b, (uint32_t)rp->seg->seq, rp->offs);
    return 0;
}

/* ---- Tail repair ---------------------------------------------------------------------------- */

static int write_zeroes(struct wal *w, int fd, uint64_t from, uint64_t to)
{
    static const uint8_t zeroes[65536];
    while (from < to) {
        size_t n = to - from > sizeof(zeroes) ? sizeof(zeroes) : (size_t)(to - from);
        int rc = storage__write_all(w->fs, fd, zeroes, n, from);
        if (rc < 0) return rc;
        from += n;
    }
    return 0;
}

/* Saves the torn bytes aside (durably), then zeroes them in the segment so the region after
 * the log's end is zero again — the invariant the next torn-write classification relies on. */
static int cut_tail(struct wal *w, const char *segname, int fd, const uint8_t *data,
                    const struct wal_scan *s, char *err, size_t errlen)
{
    char cut[STORAGE_PATH_MAX], seg[STORAGE_PATH_MAX], name[96];
    storage__path(seg, w->dir, segname);
    int cfd = -EEXIST;
    for (unsigned i = 0; i < 1000 && cfd == -EEXIST; i++) {
        snprintf(name, sizeof(name), "%.33s.%016" PRIx64 ".%u.cut", segname, s->end, i);
        if (storage__path(cut, w->dir, name) < 0) return CC_EINVAL;
        cfd = w->fs->open(w->fs->ctx, cut, O_CREAT | O_EXCL | O_WRONLY, 0600);
    }
    const char *step = "creating", *what = cut;
    int rc = cfd;
    if (cfd >= 0) {
        step = "writing";
        rc = storage__write_all(w->fs, cfd, data + s->end, s->cut_end - s->end, 0);
        if (rc == 0) rc = w->fs->fsync(w->fs->ctx, cfd);
        w->fs->close(w->fs->ctx, cfd);
        if (rc == 0) rc = storage__fsync_dir(w->fs, w->dir);
    }
    if (rc == 0) {
        step = "zeroing the torn tail in";
        what = seg;
        rc = write_zeroes(w, fd, s->end, s->cut_end);
        if (rc == 0) rc = w->fs->fdatasync(w->fs->ctx, fd);
    }
    if (rc < 0) {
        snprintf(err, errlen, "wal: %s %s: %s", step, what, strerror(-rc));
        return cc_from_errno(-rc);
    }
    log_warn(w->log,
             "wal: cut the torn tail of %s: %" PRIu64 " bytes at offset %" PRIu64 " (%s; %" PRIu64
             " intact records of that batch were never acknowledged), "
             "saved to %s",
             seg, s->cut_end - s->end, s->end, s->why, s->torn_records, cut);
    snprintf(w->rec.cut_path, sizeof(w->rec.cut_path), "%s", cut);
    return 0;
}

/* ---- One segment ---------------------------------------------------------------------------- */

#define READ_CHUNK (1u << 20)

/* Reads a segment into memory without its preallocated tail: reading stops after the first
 * all-zero chunk and the rest of the file is only checked to read as zeroes (streamed), which
 * spares a 64 MiB buffer per start-up. When the rest is not all zero, the whole file is read.
 * *have is how much of the file *out holds (malloc'd; the caller frees). Negative errno. */
static int read_segment(struct wal *w, int fd, uint64_t size, uint8_t **out, size_t *have_out)
{
    uint8_t *data = NULL, *chunk = NULL;
    size_t cap = 0, have = 0, got;
    int rc = 0;
    bool whole = false;
    for (;;) {
        while (rc == 0 && have < size) {
            size_t n = size - have > READ_CHUNK ? READ_CHUNK : (size_t)(size - have);
            if (have + n > cap) {
                size_t c = cap ? cap * 2 : READ_CHUNK;
                if (c > size) c = (size_t)size;
                if (c < have + n) c = have + n;
                uint8_t *d = realloc(data, c);
                if (!d) {
                    rc = -ENOMEM;
                    break;
                }
                data = d;
                cap = c;
            }
            rc = storage__read_all(w->fs, fd, data + have, n, have, &got);
            if (rc == 0 && got != n) rc = -EIO;
            if (rc == 0) have += n;
            if (rc == 0 && !whole && storage__all_zero(data + have - n, n)) break;
        }
        if (rc < 0 || have == size || whole) break;
        if (!chunk && !(chunk = malloc(READ_CHUNK))) rc = -ENOMEM;
        bool zero = true;
        for (uint64_t off = have; rc == 0 && zero && off < size;) {
            size_t n = size - off > READ_CHUNK ? READ_CHUNK : (size_t)(size - off);
            rc = storage__read_all(w->fs, fd, chunk, n, off, &got);
            if (rc == 0 && got != n) rc = -EIO;
            if (rc == 0) zero = storage__all_zero(chunk, n);
            off += n;
        }
        if (rc < 0 || zero) break;
        whole = true;
    }
    free(chunk);
    if (rc < 0) {
        free(data);
        return rc;
    }
    *out = data ? data : malloc(1);
    *have_out = have;
    return *out ? 0 : -ENOMEM;
}

/* Reads the file again and compares. 0 when identical, CC_EIO when not, or the read's code. */
static int reread_matches(struct wal *w, int fd, const uint8_t *data, size_t size)
{
    uint8_t *again = malloc(size ? size : 1);
    if (!again) return CC_ENOMEM;
    size_t got = 0;
    int rc = storage__read_all(w->fs, fd, again, size, 0, &got);
    if (rc < 0)
        rc = cc_from_errno(-rc);
    else
        rc = got == size && memcmp(again, data, size) == 0 ? 0 : CC_EIO;
    free(again);
    return rc;
}

static int load_segment(struct wal *w, size_t k, struct replay *rp, char *err, size_t errlen)
{
    const struct wal_seg *seg = &w->segs[k];
    bool is_last = k + 1 == w->n_segs;
    char name[64], path[STORAGE_PATH_MAX];
    wal__seg_name(name, sizeof(name), seg->seq, seg->first_index);
    storage__path(path, w->dir, name);
    bool writable = !w->o.read_only && (is_last || k + 2 == w->n_segs);
    int fd = w->fs->open(w->fs->ctx, path, writable ? O_RDWR : O_RDONLY, 0);
    if (fd < 0) {
        snprintf(err, errlen, "wal: opening %s: %s", path, strerror(-fd));
        return cc_from_errno(-fd);
    }
    uint64_t size = 0;
    uint8_t *data = NULL;
    size_t have = 0;
    int rc = w->fs->fsize(w->fs->ctx, fd, &size);
    if (rc == 0 && size > MAX_SEGMENT_FILE) rc = -EFBIG;
    if (rc == 0) rc = read_segment(w, fd, size, &data, &have);
    if (rc < 0) {
        snprintf(err, errlen, "wal: reading %s: %s", path, strerror(-rc));
        rc = cc_from_errno(-rc);
        goto out;
    }
    w->rec.recovered_bytes += size;

    struct wal_scan s = {
        .is_last = is_last,
        .allow_unsealed = k + 2 == w->n_segs,
        .bseq = k == 0 ? WAL_BSEQ_UNKNOWN : w->bseq,
        .max_batch_records = (size_t)(w->o.max_batch_bytes / 40 + 2),
    };
    struct wal_scan_hooks hooks = {.arg = rp, .header = on_header, .batch = on_batch};
    rp->seg = seg;
    rp->first = k == 0;
    rc = wal__scan_segment(data, have, &s, &hooks);
    if (rc < 0 || rp->fatal) {
        rc = rc < 0 ? rc : rp->fatal;
        snprintf(err, errlen, "wal: replaying %s: %s", path, rp->fatal ? s.why : cc_strerror(rc));
        goto out;
    }
    w->bseq = s.bseq;
    if (s.status == WAL_SCAN_TORN || s.status == WAL_SCAN_CORRUPT) {
        /* Before cutting or refusing on the strength of one read, read again: a transient
         * read error must neither destroy acknowledged data nor pass for damage. */
        rc = reread_matches(w, fd, data, have);
        if (rc) {
            snprintf(err, errlen, "wal: two reads of %s disagree (%s); not trusting this disk",
                     path, rc == CC_EIO ? "different bytes" : cc_strerror(rc));
            rc = CC_EIO;
            goto out;
        }
    }
    rc = CC_ECORRUPT;
    if (s.status == WAL_SCAN_CORRUPT) {
        snprintf(err, errlen, "wal: %s is corrupt at offset %" PRIu64 ": %s; refusing to start",
                 path, s.bad_off, s.why);
        goto out;
    }
    if (s.status == WAL_SCAN_SEALED && (is_last || s.seal_next != w->segs[k + 1].seq)) {
        snprintf(err, errlen,
                 "wal: %s is sealed and names segment %016" PRIx64 " as its "
                 "successor, which is missing; refusing to start",
                 path, s.seal_next);
        goto out;
    }
    if (s.status == WAL_SCAN_CLEAN && !is_last) {
        if (k + 2 != w->n_segs) {
            snprintf(err, errlen,
                     "wal: %s is not sealed although later segments exist; "
                     "refusing to start",
                     path);
            goto out;
        }
        /* Crash between creating the newest segment and sealing this one: finish the seal. */
        if (!w->o.read_only) {
            rc = wal__seal_segment(w, fd, s.end, w->segs[k + 1].seq);
            if (rc < 0) {
                snprintf(err, errlen, "wal: sealing %s: %s", path, strerror(-rc));
                rc = cc_from_errno(-rc);
                goto out;
            }
            log_warn(w->log, "wal: sealed %s, left open by a stop while rolling segments", path);
        }
    }
    rc = 0;
    if (!is_last) goto out;
    if (s.status == WAL_SCAN_TORN) {
        w->rec.cut_bytes = s.cut_end - s.end;
        if (w->o.read_only) {
            log_warn(w->log,
                     "wal: read-only: ignoring a torn tail of %s: %" PRIu64
                     " bytes at offset %" PRIu64 " (%s)",
                     path, w->rec.cut_bytes, s.end, s.why);
        } else if ((rc = cut_tail(w, name, fd, data, &s, err, errlen)) != 0) {
            goto out;
        }
    }
    w->seg_off = s.end;
    w->seg_body = wal_record_size(80);
    w->seg_cap = size;
    if (writable) {
        w->fd = fd;
        fd = -1;
    }
out:
    free(data);
    if (fd >= 0) w->fs->close(w->fs->ctx, fd);
    return rc;
}

static int create_first(struct wal *w, char *err, size_t errlen)
{
    struct wal_seg_hdr h = {0};
    int rc = wal__push_seg(w, 0, 1);
    if (rc) return rc;
    rc = wal__create_segment(w, &h, w->o.segment_bytes, &w->fd, &w->seg_body);
    if (rc < 0) {
        snprintf(err, errlen, "wal: creating the first segment in %s: %s", w->dir, strerror(-rc));
        return cc_from_errno(-rc);
    }
    w->seg_off = w->seg_body;
    w->seg_cap = w->o.segment_bytes;
    return 0;
}

int wal__recover(struct wal *w, char *err, size_t errlen)
{
    char scratch[512];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    int rc;
    if (!w->o.read_only) {
        rc = storage__mkdir_p(w->fs, w->dir);
        if (rc < 0) {
            snprintf(err, errlen, "wal: creating %s: %s", w->dir, strerror(-rc));
            return cc_from_errno(-rc);
        }
    }
    struct lister ls = {.w = w};
    rc = storage__list(w->dir, ".wal", collect_seg, &ls);
    if (rc == 0 && !w->o.read_only) rc = storage__list(w->dir, ".wal.tmp", remove_tmp, &ls);
    if (rc > 0) {
        snprintf(err, errlen, "wal: listing %s: %s", w->dir, cc_strerror(ls.rc));
        return ls.rc;
    }
    if (rc < 0) {
        snprintf(err, errlen, "wal: listing %s: %s", w->dir, strerror(-rc));
        return cc_from_errno(-rc);
    }
    if (w->n_segs == 0) {
        w->rec.fresh = true;
        return w->o.read_only ? 0 : create_first(w, err, errlen);
    }
    qsort(w->segs, w->n_segs, sizeof(*w->segs), cmp_seg);
    for (size_t k = 1; k < w->n_segs; k++) {
        if (w->segs[k].seq != w->segs[k - 1].seq + 1) {
            snprintf(err, errlen,
                     "wal: segment %016" PRIx64 " is missing from %s (found %016" PRIx64
                     " then %016" PRIx64 "); refusing to start",
                     w->segs[k - 1].seq + 1, w->dir, w->segs[k - 1].seq, w->segs[k].seq);
            return CC_ECORRUPT;
        }
    }
    struct replay rp = {.w = w};
    rc = 0;
    for (size_t k = 0; rc == 0 && k < w->n_segs; k++) rc = load_segment(w, k, &rp, err, errlen);
    free(rp.ents);
    free(rp.offs);
    if (rc) {
        log_error(w->log, "%s", err);
        return rc;
    }
    if (w->lg.hole_end > w->lg.snap_index) {
        char name[64];
        wal__seg_name(name, sizeof(name), w->segs[0].seq, w->segs[0].first_index);
        snprintf(err, errlen,
                 "wal: entries %" PRIu64 "..%" PRIu64 " are missing: the oldest "
                 "segment %s/%s starts after them and no snapshot marker covers them; "
                 "refusing to start",
                 w->lg.snap_index + 1, w->lg.hole_end, w->dir, name);
        log_error(w->log, "%s", err);
        return CC_ECORRUPT;
    }
    return 0;
}
