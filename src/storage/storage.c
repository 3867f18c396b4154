/* storage.c — the member's data directory: ties WAL, snapshot files and metadata together. */
#include "storage/storage.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/fs_util.h"
#include "util/err.h"

struct storage {
    char member_dir[STORAGE_PATH_MAX];
    char snap_dir[STORAGE_PATH_MAX];
    struct storage_options o;
    struct wal *wal;
    struct snapstore *snaps;
};

void storage_options_default(struct storage_options *o)
{
    memset(o, 0, sizeof(*o));
    wal_options_default(&o->wal);
    o->snap_keep = 5;
    o->max_snapshot_bytes = 1ull << 40;
}

void storage_boot_free(struct storage_boot *b)
{
    wal_entries_free(&b->entries);
    memset(b, 0, sizeof(*b));
}

static int count_one(void *arg, const char *name)
{
    (*(size_t *)arg)++;
    return 0;
}

static size_t count_files(const char *dir, const char *suffix)
{
    size_t n = 0;
    storage__list(dir, suffix, count_one, &n);
    return n;
}

void storage_close(struct storage *s)
{
    if (!s) return;
    wal_close(s->wal);
    snap_close(s->snaps);
    free(s);
}

static int fail(int rc, char *err, size_t errlen, const struct logger *log, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(int rc, char *err, size_t errlen, const struct logger *log, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (err) snprintf(err, errlen, "%s", msg);
    log_error(log, "%s", msg);
    return rc;
}

int storage_open(const char *data_dir, const struct storage_options *o, struct storage **out,
                 struct storage_boot *boot, char *err, size_t errlen)
{
    *out = NULL;
    memset(boot, 0, sizeof(*boot));
    if (err && errlen) err[0] = '\0';
    struct storage_options def;
    if (!o) {
        storage_options_default(&def);
        o = &def;
    }
    const struct storage_fs *fs = o->fs ? o->fs : storage_fs_posix();
    struct storage *s = calloc(1, sizeof(*s));
    if (!s) return CC_ENOMEM;
    s->o = *o;
    char wal_dir[STORAGE_PATH_MAX];
    int n1 = snprintf(s->member_dir, sizeof(s->member_dir), "%s/member", data_dir);
    int n2 = snprintf(wal_dir, sizeof(wal_dir), "%s/wal", s->member_dir);
    int n3 = snprintf(s->snap_dir, sizeof(s->snap_dir), "%s/snap", s->member_dir);
    int rc;
    if (n1 < 0 || n2 < 0 || n3 < 0 || (size_t)n2 + 64 >= sizeof(wal_dir)) {
        rc = fail(CC_EINVAL, err, errlen, o->log, "storage: data directory name too long");
        goto bad;
    }
    if (o->read_only) {
        struct stat st;
        if (stat(s->member_dir, &st) != 0) {
            rc = fail(CC_ENOTFOUND, err, errlen, o->log, "storage: %s: %s", s->member_dir,
                      strerror(errno));
            goto bad;
        }
    } else {
        int r = storage__mkdir_p(fs, s->member_dir);
        if (r < 0) {
            rc = fail(cc_from_errno(-r), err, errlen, o->log, "storage: creating %s: %s",
                      s->member_dir, strerror(-r));
            goto bad;
        }
    }
    rc = storage_meta_read(fs, s->member_dir, &boot->meta);
    if (rc != 0 && rc != CC_ENOTFOUND) {
        rc = fail(rc, err, errlen, o->log, "storage: %s/meta is unreadable (%s); refusing to start",
                  s->member_dir, cc_strerror(rc));
        goto bad;
    }
    boot->has_meta = rc == 0;
    size_t n_snaps = count_files(s->snap_dir, ".snap");
    if (count_files(wal_dir, ".wal") == 0 && (boot->has_meta || n_snaps > 0)) {
        rc = fail(CC_ECORRUPT, err, errlen, o->log,
                  "storage: %s holds no WAL segment but %s exists; the log is lost, refusing "
                  "to start",
                  wal_dir, boot->has_meta ? "member/meta" : "a snapshot");
        goto bad;
    }
    rc = snap_open(s->snap_dir, fs, o->log, o->read_only, o->max_snapshot_bytes, &s->snaps, err,
                   errlen);
    if (rc) goto bad;
    struct wal_options wo = o->wal;
    wo.fs = fs;
    wo.log = o->log;
    wo.read_only = o->read_only;
    rc = wal_open(wal_dir, &wo, &s->wal, err, errlen);
    if (rc) goto bad;
    wal_get_state(s->wal, &boot->wal);
    const struct wal_state *ws = &boot->wal;
    boot->fresh = ws->bseq == 0 && ws->snap_index == 0;
    boot->hs = ws->hs;
    if (ws->snap_index > 0) {
        struct snap_file f;
        char why[512];
        rc = snap_load(s->snaps, ws->snap_index, ws->snap_term, &f, why, sizeof(why));
        if (rc) {
            rc = fail(rc == CC_ENOTFOUND ? CC_ECORRUPT : rc, err, errlen, o->log,
                      "storage: the WAL's latest snapshot marker (index %" PRIu64 ", term %" PRIu64
                      ") needs a snapshot that cannot be used: %s; refusing to start",
                      ws->snap_index, ws->snap_term, why);
            goto bad;
        }
        boot->snap = f.meta;
        boot->snap_size = f.size;
        snprintf(boot->snap_path, sizeof(boot->snap_path), "%s", f.path);
    }
    if (ws->last_index >= ws->first_index) {
        rc = wal_read_entries(s->wal, ws->first_index, ws->last_index, UINT64_MAX, &boot->entries);
        if (rc) {
            rc = fail(rc, err, errlen, o->log, "storage: reading the log back: %s",
                      wal_errmsg(s->wal));
            goto bad;
        }
    }
    log_info(o->log,
             "storage: %s: %s, snapshot %" PRIu64 " (%" PRIu64 " bytes), %u entries after it, "
             "meta %s",
             data_dir, boot->fresh ? "fresh" : "recovered", boot->snap.index, boot->snap_size,
             boot->entries.n, boot->has_meta ? "present" : "absent");
    *out = s;
    return 0;
bad:
    storage_boot_free(boot);
    storage_close(s);
    return rc;
}

int storage_save(struct storage *s, const struct wal_batch *b)
{
    if (b->has_snap) {
        char path[STORAGE_PATH_MAX];
        struct stat st;
        int n = snprintf(path, sizeof(path), "%s/%016" PRIx64 "-%016" PRIx64 ".snap", s->snap_dir,
                         b->snap_term, b->snap_index);
        if (n < 0 || n >= (int)sizeof(path) || stat(path, &st) != 0) {
            log_error(s->o.log,
                      "storage: snapshot marker (%" PRIu64 ", %" PRIu64 ") refused: "
                      "%s does not exist",
                      b->snap_index, b->snap_term, path);
            return CC_EINVAL;
        }
    }
    int rc = wal_append(s->wal, b);
    if (rc == 0 && b->has_snap) {
        uint32_t removed;
        int r = snap_purge(s->snaps, s->o.snap_keep, b->snap_index, &removed);
        if (r) log_warn(s->o.log, "storage: removing old snapshots: %s", cc_strerror(r));
    }
    return rc;
}

int storage_release(struct storage *s, uint64_t index)
{
    return wal_release(s->wal, index, NULL);
}

int storage_snap_begin(struct storage *s, const struct raft_snapshot_meta *meta,
                       struct snap_writer **out)
{
    if (s->o.read_only) return CC_EINVAL;
    return snap_writer_open(s->snaps, meta, out);
}

int storage_meta_save(struct storage *s, const struct storage_meta *m)
{
    if (s->o.read_only) return CC_EINVAL;
    return storage_meta_write(s->o.fs, s->member_dir, m);
}

struct wal *storage_wal(struct storage *s)
{
    return s->wal;
}

struct snapstore *storage_snaps(struct storage *s)
{
    return s->snaps;
}
