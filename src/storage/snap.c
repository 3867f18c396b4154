/* snap.c — writing, listing, verifying, reading and purging snapshot files (see snap.h). */
#include "storage/snap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/fs_util.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"

#define SNAP_MAGIC   0x48534e4150534343ull /* "CCSNAPSH" */
#define SNAP_VERSION 1u
#define HDR_CRC_AT   508u
#define IO_CHUNK     (1u << 20)

struct snapstore {
    char dir[STORAGE_PATH_MAX];
    const struct storage_fs *fs;
    const struct logger *log;
    uint64_t max_bytes;
};

struct snap_writer {
    struct snapstore ss; /* a copy: the writer may outlive the store it was opened from */
    struct raft_snapshot_meta meta;
    char tmp[STORAGE_PATH_MAX];
    int fd;
    uint64_t written; /* contiguous payload bytes from 0 */
    uint32_t crc;     /* CRC of payload [0, written) while crc_ok */
    bool crc_ok;      /* every piece so far arrived in order */
    int failed;
};

struct snap_reader {
    const struct storage_fs *fs;
    int fd;
    uint64_t size;
};

static void snap_name(char *out, size_t len, uint64_t term, uint64_t index)
{
    snprintf(out, len, "%016" PRIx64 "-%016" PRIx64 ".snap", term, index);
}

static int parse_name(const char *name, uint64_t *term, uint64_t *index)
{
    if (strlen(name) != 38 || name[16] != '-' || strcmp(name + 33, ".snap") != 0) return -1;
    char *end;
    char t[17], i[17];
    memcpy(t, name, 16);
    t[16] = '\0';
    memcpy(i, name + 17, 16);
    i[16] = '\0';
    for (int k = 0; k < 16; k++)
        if (!((t[k] >= '0' && t[k] <= '9') || (t[k] >= 'a' && t[k] <= 'f')) ||
            !((i[k] >= '0' && i[k] <= '9') || (i[k] >= 'a' && i[k] <= 'f')))
            return -1;
    *term = strtoull(t, &end, 16);
    *index = strtoull(i, &end, 16);
    return 0;
}

/* ---- Header codec -------------------------------------------------------------------------- */

static void encode_header(uint8_t h[SNAP_HEADER_BYTES], const struct raft_snapshot_meta *m,
                          uint64_t size, uint32_t payload_crc)
{
    memset(h, 0, SNAP_HEADER_BYTES);
    put_u64le(h, SNAP_MAGIC);
    put_u32le(h + 8, SNAP_VERSION);
    put_u32le(h + 12, SNAP_HEADER_BYTES);
    put_u64le(h + 16, m->index);
    put_u64le(h + 24, m->term);
    put_u64le(h + 32, size);
    put_u32le(h + 40, payload_crc);
    const struct raft_config *c = &m->config;
    put_u32le(h + 44, c->n_voters);
    put_u32le(h + 48, c->n_voters_out);
    put_u32le(h + 52, c->n_learners);
    uint8_t *p = h + 56;
    for (uint32_t i = 0; i < c->n_voters; i++, p += 8) put_u64le(p, c->voters[i]);
    for (uint32_t i = 0; i < c->n_voters_out; i++, p += 8) put_u64le(p, c->voters_out[i]);
    for (uint32_t i = 0; i < c->n_learners; i++, p += 8) put_u64le(p, c->learners[i]);
    put_u32le(h + HDR_CRC_AT, crc32c_extend(0, h, HDR_CRC_AT));
}

static const char *decode_header(const uint8_t h[SNAP_HEADER_BYTES], struct raft_snapshot_meta *m,
                                 uint64_t *size, uint32_t *payload_crc)
{
    if (get_u64le(h) != SNAP_MAGIC) return "not a snapshot file (bad magic)";
    if (get_u32le(h + HDR_CRC_AT) != crc32c_extend(0, h, HDR_CRC_AT)) return "header CRC mismatch";
    if (get_u32le(h + 8) != SNAP_VERSION || get_u32le(h + 12) != SNAP_HEADER_BYTES)
        return "unknown version";
    memset(m, 0, sizeof(*m));
    m->index = get_u64le(h + 16);
    m->term = get_u64le(h + 24);
    *size = get_u64le(h + 32);
    *payload_crc = get_u32le(h + 40);
    struct raft_config *c = &m->config;
    c->n_voters = get_u32le(h + 44);
    c->n_voters_out = get_u32le(h + 48);
    c->n_learners = get_u32le(h + 52);
    if (c->n_voters > RAFT_MAX_NODES || c->n_voters_out > RAFT_MAX_NODES ||
        c->n_learners > RAFT_MAX_NODES)
        return "impossible configuration size";
    const uint8_t *p = h + 56;
    for (uint32_t i = 0; i < c->n_voters; i++, p += 8) c->voters[i] = get_u64le(p);
    for (uint32_t i = 0; i < c->n_voters_out; i++, p += 8) c->voters_out[i] = get_u64le(p);
    for (uint32_t i = 0; i < c->n_learners; i++, p += 8) c->learners[i] = get_u64le(p);
    return NULL;
}

/* ---- Store ------------------------------------------------------------------------------- */

static int remove_tmp(void *arg, const char *name)
{
    struct snapstore *ss = arg;
    char path[STORAGE_PATH_MAX];
    if (storage__path(path, ss->dir, name) < 0) return 0;
    int rc = ss->fs->unlink(ss->fs->ctx, path);
    log_warn(ss->log, "snap: removed %s, an unfinished snapshot (%s)", path,
             rc < 0 ? strerror(-rc) : "ok");
    return 0;
}

int snap_open(const char *dir, const struct storage_fs *fs, const struct logger *log,
              bool read_only, uint64_t max_bytes, struct snapstore **out, char *err, size_t errlen)
{
    *out = NULL;
    if (strlen(dir) + 64 >= STORAGE_PATH_MAX) return CC_EINVAL;
    struct snapstore *ss = calloc(1, sizeof(*ss));
    if (!ss) return CC_ENOMEM;
    snprintf(ss->dir, sizeof(ss->dir), "%s", dir);
    ss->fs = fs ? fs : storage_fs_posix();
    ss->log = log;
    ss->max_bytes = max_bytes ? max_bytes : 1ull << 40;
    int rc = 0;
    if (read_only) {
        struct stat st;
        if (stat(dir, &st) != 0) rc = -errno;
    } else {
        rc = storage__mkdir_p(ss->fs, dir);
        if (rc == 0) rc = storage__list(dir, ".snap.tmp", remove_tmp, ss);
    }
    if (rc < 0) {
        if (err) snprintf(err, errlen, "snap: opening %s: %s", dir, strerror(-rc));
        free(ss);
        return cc_from_errno(-rc);
    }
    *out = ss;
    return 0;
}

void snap_close(struct snapstore *ss)
{
    free(ss);
}

struct list_ctx {
    struct snapstore *ss;
    struct snap_file *v;
    size_t n, cap;
    int rc;
};

static int collect(void *arg, const char *name)
{
    struct list_ctx *lc = arg;
    uint64_t term, index;
    if (parse_name(name, &term, &index) != 0) return 0;
    if (lc->n == lc->cap) {
        size_t cap = lc->cap ? lc->cap * 2 : 8;
        struct snap_file *v = cap > 1u << 20 ? NULL : realloc(lc->v, cap * sizeof(*v));
        if (!v) {
            lc->rc = cap > 1u << 20 ? CC_ETOOBIG : CC_ENOMEM;
            return 1;
        }
        lc->v = v;
        lc->cap = cap;
    }
    struct snap_file *f = &lc->v[lc->n++];
    memset(f, 0, sizeof(*f));
    f->meta.index = index;
    f->meta.term = term;
    storage__path(f->path, lc->ss->dir, name);
    return 0;
}

static int newest_first(const void *a, const void *b)
{
    const struct snap_file *x = a, *y = b;
    if (x->meta.index != y->meta.index) return x->meta.index > y->meta.index ? -1 : 1;
    return x->meta.term > y->meta.term ? -1 : x->meta.term < y->meta.term;
}

int snap_list(struct snapstore *ss, struct snap_file **out, size_t *n)
{
    struct list_ctx lc = {.ss = ss};
    int rc = storage__list(ss->dir, ".snap", collect, &lc);
    if (rc != 0) {
        free(lc.v);
        return rc < 0 ? cc_from_errno(-rc) : lc.rc;
    }
    if (lc.n) qsort(lc.v, lc.n, sizeof(*lc.v), newest_first);
    *out = lc.v;
    *n = lc.n;
    return 0;
}

int snap_load(struct snapstore *ss, uint64_t index, uint64_t term, struct snap_file *out, char *err,
              size_t errlen)
{
    char name[64], path[STORAGE_PATH_MAX];
    char scratch[8];
    if (!err) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    snap_name(name, sizeof(name), term, index);
    storage__path(path, ss->dir, name);
    int fd = ss->fs->open(ss->fs->ctx, path, O_RDONLY, 0);
    if (fd < 0) {
        snprintf(err, errlen, "snap: opening %s: %s", path, strerror(-fd));
        return cc_from_errno(-fd);
    }
    uint8_t h[SNAP_HEADER_BYTES];
    uint8_t *buf = NULL;
    uint64_t fsize = 0, size = 0;
    uint32_t want_crc = 0, crc = 0;
    size_t got = 0;
    const char *why = NULL;
    int rc = ss->fs->fsize(ss->fs->ctx, fd, &fsize);
    if (rc == 0) rc = storage__read_all(ss->fs, fd, h, sizeof(h), 0, &got);
    if (rc < 0) goto io;
    if (got < sizeof(h)) {
        why = "shorter than its header";
        goto corrupt;
    }
    why = decode_header(h, &out->meta, &size, &want_crc);
    if (why) goto corrupt;
    if (out->meta.index != index || out->meta.term != term) {
        why = "header names another snapshot than the file name";
        goto corrupt;
    }
    if (fsize != SNAP_HEADER_BYTES + size) {
        why = "file size differs from header size + payload size";
        goto corrupt;
    }
    if (!(buf = malloc(IO_CHUNK))) {
        rc = -ENOMEM;
        goto io;
    }
    for (uint64_t off = 0; off < size;) {
        size_t want = size - off > IO_CHUNK ? IO_CHUNK : (size_t)(size - off);
        rc = storage__read_all(ss->fs, fd, buf, want, SNAP_HEADER_BYTES + off, &got);
        if (rc < 0) goto io;
        if (got != want) {
            why = "payload shorter than its header says";
            goto corrupt;
        }
        crc = crc32c_extend(crc, buf, got);
        off += got;
    }
    if (crc != want_crc) {
        why = "payload CRC mismatch";
        goto corrupt;
    }
    free(buf);
    ss->fs->close(ss->fs->ctx, fd);
    out->size = size;
    snprintf(out->path, sizeof(out->path), "%s", path);
    return 0;
corrupt:
    snprintf(err, errlen, "snap: %s is unreadable: %s", path, why);
    free(buf);
    ss->fs->close(ss->fs->ctx, fd);
    return CC_ECORRUPT;
io:
    snprintf(err, errlen, "snap: reading %s: %s", path, strerror(-rc));
    free(buf);
    ss->fs->close(ss->fs->ctx, fd);
    return cc_from_errno(-rc);
}

/* ---- Writer ------------------------------------------------------------------------------- */

int snap_writer_open(struct snapstore *ss, const struct raft_snapshot_meta *meta,
                     struct snap_writer **out)
{
    *out = NULL;
    const struct raft_config *c = &meta->config;
    if (meta->index == 0 || meta->term == 0 || c->n_voters > RAFT_MAX_NODES ||
        c->n_voters_out > RAFT_MAX_NODES || c->n_learners > RAFT_MAX_NODES)
        return CC_EINVAL;
    struct snap_writer *sw = calloc(1, sizeof(*sw));
    if (!sw) return CC_ENOMEM;
    char name[64];
    snap_name(name, sizeof(name), meta->term, meta->index);
    int n = snprintf(sw->tmp, sizeof(sw->tmp), "%s/%s.tmp", ss->dir, name);
    if (n < 0 || n >= (int)sizeof(sw->tmp)) {
        free(sw);
        return CC_EINVAL;
    }
    sw->ss = *ss;
    sw->meta = *meta;
    sw->crc_ok = true;
    sw->fd = ss->fs->open(ss->fs->ctx, sw->tmp, O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (sw->fd < 0) {
        int rc = cc_from_errno(-sw->fd);
        log_error(ss->log, "snap: creating %s: %s", sw->tmp, strerror(-sw->fd));
        free(sw);
        return rc;
    }
    *out = sw;
    return 0;
}

static int writer_fail(struct snap_writer *sw, int err, const char *what)
{
    sw->failed = cc_from_errno(-err);
    log_error(sw->ss.log, "snap: %s %s: %s", what, sw->tmp, strerror(-err));
    return sw->failed;
}

int snap_writer_write(struct snap_writer *sw, uint64_t offset, const void *data, size_t len)
{
    if (sw->failed) return CC_ESTOPPED;
    if (offset > sw->written) return CC_EINVAL;
    if (len > sw->ss.max_bytes || offset > sw->ss.max_bytes - len) return CC_ETOOBIG;
    if (len == 0) return 0;
    int rc = storage__write_all(sw->ss.fs, sw->fd, data, len, SNAP_HEADER_BYTES + offset);
    if (rc < 0) return writer_fail(sw, rc, "writing");
    /* In-order pieces extend the CRC as they pass; anything else (a restarted transfer)
     * makes finish compute it from the file. */
    if (sw->crc_ok && offset == sw->written)
        sw->crc = crc32c_extend(sw->crc, data, len);
    else
        sw->crc_ok = false;
    if (offset + len > sw->written) sw->written = offset + len;
    return 0;
}

static int crc_from_file(struct snap_writer *sw, uint64_t size, uint32_t *crc)
{
    uint8_t *buf = malloc(IO_CHUNK);
    if (!buf) return -ENOMEM;
    uint32_t c = 0;
    int rc = 0;
    for (uint64_t off = 0; off < size && rc == 0;) {
        size_t want = size - off > IO_CHUNK ? IO_CHUNK : (size_t)(size - off), got;
        rc = storage__read_all(sw->ss.fs, sw->fd, buf, want, SNAP_HEADER_BYTES + off, &got);
        if (rc == 0 && got != want) rc = -EIO;
        c = crc32c_extend(c, buf, want);
        off += want;
    }
    free(buf);
    *crc = c;
    return rc;
}

int snap_writer_finish(struct snap_writer *sw, uint64_t size, struct snap_file *out)
{
    struct snapstore *ss = &sw->ss;
    int rc = sw->failed ? CC_ESTOPPED : 0;
    if (rc == 0 && size != sw->written) {
        log_error(ss->log, "snap: %s: finished with %" PRIu64 " bytes but %" PRIu64 " written",
                  sw->tmp, size, sw->written);
        rc = CC_EINVAL;
    }
    /* A restarted transfer may have left bytes past size from an earlier attempt. */
    int r = 0;
    if (rc == 0) r = ss->fs->ftruncate(ss->fs->ctx, sw->fd, SNAP_HEADER_BYTES + size);
    uint32_t crc = sw->crc;
    if (rc == 0 && r == 0 && !sw->crc_ok) r = crc_from_file(sw, size, &crc);
    if (rc == 0 && r == 0) {
        uint8_t h[SNAP_HEADER_BYTES];
        encode_header(h, &sw->meta, size, crc);
        r = storage__write_all(ss->fs, sw->fd, h, sizeof(h), 0);
        if (r == 0) r = ss->fs->fsync(ss->fs->ctx, sw->fd);
    }
    char path[STORAGE_PATH_MAX];
    size_t tl = strlen(sw->tmp);
    snprintf(path, sizeof(path), "%.*s", (int)(tl - 4), sw->tmp);
    if (rc == 0 && r == 0) r = ss->fs->rename(ss->fs->ctx, sw->tmp, path);
    if (rc == 0 && r == 0) r = storage__fsync_dir(ss->fs, ss->dir);
    if (rc == 0 && r < 0) rc = writer_fail(sw, r, "finishing");
    ss->fs->close(ss->fs->ctx, sw->fd);
    if (rc) {
        ss->fs->unlink(ss->fs->ctx, sw->tmp);
    } else {
        log_info(ss->log, "snap: saved %s (index %" PRIu64 ", term %" PRIu64 ", %" PRIu64 " bytes)",
                 path, sw->meta.index, sw->meta.term, size);
        if (out) {
            out->meta = sw->meta;
            out->size = size;
            snprintf(out->path, sizeof(out->path), "%s", path);
        }
    }
    free(sw);
    return rc;
}

void snap_writer_abort(struct snap_writer *sw)
{
    if (!sw) return;
    sw->ss.fs->close(sw->ss.fs->ctx, sw->fd);
    sw->ss.fs->unlink(sw->ss.fs->ctx, sw->tmp);
    free(sw);
}

/* ---- Reader ------------------------------------------------------------------------------- */

int snap_reader_open(struct snapstore *ss, const struct snap_file *f, struct snap_reader **out)
{
    *out = NULL;
    struct snap_reader *r = calloc(1, sizeof(*r));
    if (!r) return CC_ENOMEM;
    r->fs = ss->fs;
    r->size = f->size;
    r->fd = ss->fs->open(ss->fs->ctx, f->path, O_RDONLY, 0);
    if (r->fd < 0) {
        int rc = cc_from_errno(-r->fd);
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int snap_reader_read(struct snap_reader *r, uint64_t offset, void *buf, size_t len, size_t *got)
{
    *got = 0;
    if (offset >= r->size) return 0;
    if (len > r->size - offset) len = (size_t)(r->size - offset);
    int rc = storage__read_all(r->fs, r->fd, buf, len, SNAP_HEADER_BYTES + offset, got);
    return rc < 0 ? cc_from_errno(-rc) : 0;
}

void snap_reader_close(struct snap_reader *r)
{
    if (!r) return;
    r->fs->close(r->fs->ctx, r->fd);
    free(r);
}

/* ---- Retention ---------------------------------------------------------------------------- */

int snap_purge(struct snapstore *ss, uint32_t keep, uint64_t protect_index, uint32_t *n_removed)
{
    if (n_removed) *n_removed = 0;
    struct snap_file *v;
    size_t n;
    int rc = snap_list(ss, &v, &n);
    if (rc) return rc;
    uint32_t removed = 0;
    for (size_t i = keep; i < n; i++) {
        if (v[i].meta.index == protect_index) continue;
        int r = ss->fs->unlink(ss->fs->ctx, v[i].path);
        if (r < 0) {
            log_error(ss->log, "snap: removing %s: %s", v[i].path, strerror(-r));
            rc = cc_from_errno(-r);
            break;
        }
        log_info(ss->log, "snap: removed old snapshot %s", v[i].path);
        removed++;
    }
    free(v);
    if (removed) {
        int r = storage__fsync_dir(ss->fs, ss->dir);
        if (r < 0 && rc == 0) rc = cc_from_errno(-r);
    }
    if (n_removed) *n_removed = removed;
    return rc;
}
