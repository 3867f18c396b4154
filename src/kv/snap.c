/* snap.c — snapshots: a RocksDB checkpoint streamed as one archive with CRCs, and the atomic
 * restore of a store from such an archive (new directory, fsync, open, pointer rename).
 *
 * Archive (little-endian):
 *   header  "CCKVSNP1" | u32 version=1 | u32 files | u64 applied index | u64 archive size |
 *           u32 0 | u32 crc32c(previous 36 bytes)
 *   file*   u16 name_len | name | u64 size | u32 crc32c(name_len..size) | bytes |
 *           u32 crc32c(bytes)
 *   trailer "CCKVEND1" | u32 files | u32 crc32c(previous 12 bytes) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv/internal.h"
#include "util/crc32c.h"
#include "util/err.h"

#define SNAP_MAGIC     "CCKVSNP1"
#define SNAP_END       "CCKVEND1"
#define SNAP_VERSION   1
#define SNAP_HDR       40
#define SNAP_TRAILER   16
#define SNAP_FILES_MAX 1000000u
#define SNAP_NAME_MAX  255u

enum stage { ST_HEADER, ST_FHDR, ST_DATA, ST_FCRC, ST_TRAILER, ST_DONE };

struct kv_snapshot {
    char dir[4200];
    uint64_t index, size;
    char **names;
    uint64_t *sizes;
    size_t nfiles;
    enum stage st;
    size_t fi;
    uint8_t seg[SNAP_NAME_MAX + 32]; /* the in-memory segment being emitted */
    size_t seg_len, seg_pos;
    int fd;
    uint64_t left;
    uint32_t crc;
};

static bool valid_name(const char *n, size_t len)
{
    if (!len || len > SNAP_NAME_MAX || !strcmp(n, ".") || !strcmp(n, "..")) return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void snap_free(struct kv_snapshot *s)
{
    if (s->fd >= 0) close(s->fd);
    for (size_t i = 0; i < s->nfiles; i++) free(s->names[i]);
    free(s->names);
    free(s->sizes);
    if (s->dir[0]) kv__rmtree(s->dir);
    free(s);
}

/* Lists the checkpoint's regular files, sorted, with their sizes. */
static int list_files(struct kv_snapshot *s)
{
    DIR *d = opendir(s->dir);
    if (!d) return cc_from_errno(errno);
    size_t cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !rc) {
        char path[4500];
        struct stat st;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
        if (stat(path, &st)) {
            rc = cc_from_errno(errno);
            break;
        }
        if (!S_ISREG(st.st_mode)) continue;
        if (!valid_name(e->d_name, strlen(e->d_name)) || s->nfiles >= SNAP_FILES_MAX) {
            rc = CC_EINVAL;
            break;
        }
        if (s->nfiles == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(s->names, cap * sizeof(*nn));
            if (nn) s->names = nn;
            uint64_t *ns = nn ? realloc(s->sizes, cap * sizeof(*ns)) : NULL;
            if (ns) s->sizes = ns;
            if (!nn || !ns) {
                rc = CC_ENOMEM;
                break;
            }
        }
        s->names[s->nfiles] = strdup(e->d_name);
        if (!s->names[s->nfiles]) {
            rc = CC_ENOMEM;
            break;
        }
        s->nfiles++;
    }
    closedir(d);
    if (rc) return rc;
    if (s->nfiles) qsort(s->names, s->nfiles, sizeof(*s->names), cmp_names);
    s->size = SNAP_HDR + SNAP_TRAILER;
    for (size_t i = 0; i < s->nfiles; i++) {
        char path[4500];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", s->dir, s->names[i]);
        if (stat(path, &st)) return cc_from_errno(errno);
        s->sizes[i] = (uint64_t)st.st_size;
        s->size += 2 + strlen(s->names[i]) + 8 + 4 + s->sizes[i] + 4;
    }
    return 0;
}

int kv_snapshot_open(struct kv *kv, struct kv_snapshot **out)
{
    *out = NULL;
    if (kv->stopped) return CC_ESTOPPED;
    struct kv_snapshot *s = calloc(1, sizeof(*s));
    if (!s) return CC_ENOMEM;
    s->fd = -1;
    snprintf(s->dir, sizeof(s->dir), "%s/snap-%u", kv->dir, ++kv->snap_seq);
    int rc = kv__checkpoint(kv, s->dir);
    if (rc) {
        s->dir[0] = 0;
        snap_free(s);
        return rc;
    }
    s->index = kv->applied; /* single-threaded: nothing was applied during the checkpoint */
    rc = list_files(s);
    if (rc) {
        kv__fail(kv, rc, "snapshot: list %s: %s", s->dir, cc_strerror(rc));
        snap_free(s);
        return rc;
    }
    s->st = ST_HEADER;
    memcpy(s->seg, SNAP_MAGIC, 8);
    put_u32le(s->seg + 8, SNAP_VERSION);
    put_u32le(s->seg + 12, (uint32_t)s->nfiles);
    put_u64le(s->seg + 16, s->index);
    put_u64le(s->seg + 24, s->size);
    put_u32le(s->seg + 32, 0);
    put_u32le(s->seg + 36, crc32c_extend(0, s->seg, 36));
    s->seg_len = SNAP_HDR;
    *out = s;
    return 0;
}

uint64_t kv_snapshot_index(const struct kv_snapshot *s)
{
    return s->index;
}

uint64_t kv_snapshot_size(const struct kv_snapshot *s)
{
    return s->size;
}

/* Prepares the segment after the one just finished. */
static int snap_next(struct kv_snapshot *s)
{
    s->seg_len = s->seg_pos = 0;
    switch (s->st) {
    case ST_HEADER:
    case ST_FCRC:
        if (s->st == ST_FCRC) s->fi++;
        if (s->fi < s->nfiles) {
            size_t nl = strlen(s->names[s->fi]);
            s->seg[0] = (uint8_t)nl;
            s->seg[1] = (uint8_t)(nl >> 8);
            memcpy(s->seg + 2, s->names[s->fi], nl);
            put_u64le(s->seg + 2 + nl, s->sizes[s->fi]);
            put_u32le(s->seg + 10 + nl, crc32c_extend(0, s->seg, 10 + nl));
            s->seg_len = 14 + nl;
            s->st = ST_FHDR;
        } else {
            memcpy(s->seg, SNAP_END, 8);
            put_u32le(s->seg + 8, (uint32_t)s->nfiles);
            put_u32le(s->seg + 12, crc32c_extend(0, s->seg, 12));
            s->seg_len = SNAP_TRAILER;
            s->st = ST_TRAILER;
        }
        return 0;
    case ST_FHDR: {
        char path[4500];
        snprintf(path, sizeof(path), "%s/%s", s->dir, s->names[s->fi]);
        s->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) return cc_from_errno(errno);
        s->left = s->sizes[s->fi];
        s->crc = 0;
        s->st = ST_DATA;
        return 0;
    }
    case ST_DATA:
        close(s->fd);
        s->fd = -1;
        put_u32le(s->seg, s->crc);
        s->seg_len = 4;
        s->st = ST_FCRC;
        return 0;
    case ST_TRAILER:
        s->st = ST_DONE;
        return 0;
    case ST_DONE:
        return 0;
    }
    return CC_EINVAL;
}

int kv_snapshot_read(struct kv_snapshot *s, void *buf, size_t cap, size_t *n)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < cap && s->st != ST_DONE) {
        if (s->st == ST_DATA) {
            if (!s->left) {
                int rc = snap_next(s);
                if (rc) return rc;
                continue;
            }
            size_t want = cap - got < s->left ? cap - got : (size_t)s->left;
            ssize_t r = read(s->fd, p + got, want);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return r < 0 ? cc_from_errno(errno) : CC_EIO; /* the file shrank */
            s->crc = crc32c_extend(s->crc, p + got, (size_t)r);
            s->left -= (uint64_t)r;
            got += (size_t)r;
            continue;
        }
        if (s->seg_pos < s->seg_len) {
            size_t k = s->seg_len - s->seg_pos;
            if (k > cap - got) k = cap - got;
            memcpy(p + got, s->seg + s->seg_pos, k);
            s->seg_pos += k;
            got += k;
            continue;
        }
        int rc = snap_next(s);
        if (rc) return rc;
    }
    *n = got;
    return 0;
}

void kv_snapshot_close(struct kv_snapshot *s)
{
    if (s) snap_free(s);
}

/* ---- restore ---- */

struct rd {
    int fd;
    uint64_t left; /* archive bytes not yet read from the file */
    uint8_t buf[1 << 16];
    size_t pos, len;
};

static int rd_exact(struct rd *r, void *dst, size_t n)
{
    uint8_t *d = dst;
    while (n) {
        if (r->pos == r->len) {
            if (!r->left) return CC_ECORRUPT; /* truncated archive */
            size_t want = r->left < sizeof(r->buf) ? (size_t)r->left : sizeof(r->buf);
            ssize_t k = read(r->fd, r->buf, want);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) return cc_from_errno(errno);
            if (k == 0) return CC_ECORRUPT; /* the file is shorter than it should be */
            r->pos = 0;
            r->len = (size_t)k;
            r->left -= (uint64_t)k;
        }
        size_t c = r->len - r->pos < n ? r->len - r->pos : n;
        memcpy(d, r->buf + r->pos, c);
        r->pos += c;
        d += c;
        n -= c;
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return k < 0 ? cc_from_errno(errno) : CC_EIO;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Copies one file of the archive into dir, checking its CRCs, and fsyncs it. */
static int extract_file(struct rd *r, const char *dir, uint64_t *budget)
{
    uint8_t h[SNAP_NAME_MAX + 16];
    int rc = rd_exact(r, h, 2);
    size_t nl = rc ? 0 : (size_t)h[0] | (size_t)h[1] << 8;
    if (rc) return rc;
    if (!nl || nl > SNAP_NAME_MAX) return CC_ECORRUPT;
    if ((rc = rd_exact(r, h + 2, nl + 12))) return rc;
    if (crc32c_extend(0, h, 10 + nl) != get_u32le(h + 10 + nl)) return CC_ECORRUPT;
    char name[SNAP_NAME_MAX + 1];
    memcpy(name, h + 2, nl);
    name[nl] = 0;
    uint64_t size = get_u64le(h + 2 + nl);
    if (!valid_name(name, nl) || size > *budget) return CC_ECORRUPT;
    *budget -= size;
    char path[4500];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno == EEXIST ? CC_ECORRUPT : cc_from_errno(errno);
    uint32_t crc = 0;
    uint8_t chunk[1 << 16];
    while (size && !rc) {
        size_t c = size < sizeof(chunk) ? (size_t)size : sizeof(chunk);
        rc = rd_exact(r, chunk, c);
        if (!rc) rc = write_all(fd, chunk, c);
        crc = crc32c_extend(crc, chunk, c);
        size -= c;
    }
    uint8_t cb[4];
    if (!rc) rc = rd_exact(r, cb, 4);
    if (!rc && get_u32le(cb) != crc) rc = CC_ECORRUPT;
    if (!rc && fsync(fd)) rc = cc_from_errno(errno);
    if (close(fd) && !rc) rc = cc_from_errno(errno);
    return rc;
}

static int extract(const char *path, uint64_t offset, uint64_t size, const char *dir,
                   uint64_t *index)
{
    struct rd *r = malloc(sizeof(*r));
    if (!r) return CC_ENOMEM;
    r->pos = r->len = 0;
    r->left = size;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        int rc = cc_from_errno(errno);
        free(r);
        return rc;
    }
    uint8_t h[SNAP_HDR];
    int rc =
        lseek(r->fd, (off_t)offset, SEEK_SET) < 0 ? cc_from_errno(errno) : rd_exact(r, h, SNAP_HDR);
    if (!rc && (memcmp(h, SNAP_MAGIC, 8) || get_u32le(h + 8) != SNAP_VERSION ||
                crc32c_extend(0, h, 36) != get_u32le(h + 36) || get_u64le(h + 24) != size ||
                get_u32le(h + 12) > SNAP_FILES_MAX))
        rc = CC_ECORRUPT;
    uint32_t nfiles = rc ? 0 : get_u32le(h + 12);
    if (!rc) *index = get_u64le(h + 16);
    uint64_t budget = size;
    if (!rc) rc = kv__mkdir(dir);
    for (uint32_t i = 0; i < nfiles && !rc; i++) rc = extract_file(r, dir, &budget);
    uint8_t t[SNAP_TRAILER];
    if (!rc) rc = rd_exact(r, t, SNAP_TRAILER);
    if (!rc && (memcmp(t, SNAP_END, 8) || get_u32le(t + 8) != nfiles ||
                crc32c_extend(0, t, 12) != get_u32le(t + 12) || r->left || r->pos != r->len))
        rc = CC_ECORRUPT; /* the archive must end exactly at size */
    if (!rc) rc = kv__fsync_dir(dir);
    close(r->fd);
    free(r);
    return rc;
}

/* Moves the loaded state of `from` (a freshly opened store) into kv, keeping kv's identity:
 * options, watchers, error buffer, batch. Returns the old state in `from` for freeing. */
static void swap_state(struct kv *kv, struct kv *from)
{
    struct kv tmp = *kv;
#define MOVE(f)                                                                                    \
    kv->f = from->f;                                                                               \
    from->f = tmp.f;
    MOVE(db_gen);
    MOVE(db);
    MOVE(dbopts);
    MOVE(cache);
    MOVE(applied);
    MOVE(durable);
    MOVE(rev);
    MOVE(compact_rev);
    MOVE(compact_target);
    MOVE(compact_cursor);
    MOVE(idx);
    MOVE(leases);
    MOVE(sessions);
    MOVE(auth);
#undef MOVE
    for (int i = 0; i < CF_COUNT; i++) {
        kv->cf[i] = from->cf[i];
        from->cf[i] = tmp.cf[i];
        kv->cfopts[i] = from->cfopts[i];
        from->cfopts[i] = tmp.cfopts[i];
    }
}

int kv_restore(struct kv *kv, const char *path)
{
    struct stat st;
    if (stat(path, &st)) {
        int rc = cc_from_errno(errno);
        return kv__fail(kv, rc, "restore %s: %s", path, cc_strerror(rc));
    }
    return kv_restore_file(kv, path, 0, (uint64_t)st.st_size);
}

int kv_restore_file(struct kv *kv, const char *path, uint64_t offset, uint64_t size)
{
    if (kv->stopped) return CC_ESTOPPED;
    uint32_t gen = kv->db_gen + 1;
    char stage[4200], dbdir[4200];
    snprintf(stage, sizeof(stage), "%s/restore-%u", kv->dir, gen);
    snprintf(dbdir, sizeof(dbdir), "%s/db-%u", kv->dir, gen);
    kv__rmtree(stage);
    kv__rmtree(dbdir);
    uint64_t index = 0;
    int rc = extract(path, offset, size, stage, &index);
    if (rc) {
        kv__rmtree(stage);
        return kv__fail(kv, rc, "restore %s: %s", path, cc_strerror(rc));
    }
    if (rename(stage, dbdir) || kv__fsync_dir(kv->dir)) {
        rc = cc_from_errno(errno);
        kv__rmtree(stage);
        return kv__fail(kv, rc, "restore: rename %s: %s", stage, cc_strerror(rc));
    }
    struct kv *fresh = calloc(1, sizeof(*fresh));
    char err[512] = "";
    rc = fresh ? kv__shell_init(fresh, &kv->opts) : CC_ENOMEM;
    if (!rc) rc = kv__db_open(fresh, gen, err, sizeof(err));
    if (!rc) rc = kv__load(fresh, err, sizeof(err));
    if (!rc && fresh->applied != index) {
        snprintf(err, sizeof(err), "archive says index %llu, its state says %llu",
                 (unsigned long long)index, (unsigned long long)fresh->applied);
        rc = CC_ECORRUPT;
    }
    if (rc) {
        if (fresh) kv__shell_free(fresh);
        kv__rmtree(dbdir);
        return kv__fail(kv, rc, "restore %s: %s", path, err[0] ? err : cc_strerror(rc));
    }
    /* The switch: from here on a restart opens the new database. */
    rc = kv__write_pointer(kv, gen);
    if (rc) { /* the pointer may or may not have moved: only a restart can tell */
        kv__shell_free(fresh);
        return kv__stop(kv, rc, "restore: switch the database pointer", NULL);
    }
    int64_t old_rev = kv->rev;
    bool primary = kv->leases.primary;
    swap_state(kv, fresh);
    char olddir[4200];
    snprintf(olddir, sizeof(olddir), "%s/db-%u", kv->dir, fresh->db_gen);
    kv__shell_free(fresh); /* closes and frees the old database and state */
    kv__rmtree(olddir);
    kv->durable = kv->applied;
    if (primary) kv__leases_restart(kv);
    kv__watch_restored(kv, old_rev);
    log_info(kv->log, "kv: restored snapshot at index %llu (revision %lld) from %s",
             (unsigned long long)kv->applied, (long long)kv->rev, path);
    return 0;
}
