/* faultfs.c — the fault-injecting file layer for storage tests (see faultfs.h for the model). */
#include "faultfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/rng.h"

#define MAX_FD  4096
#define SECTOR  512u
#define PATHLEN STORAGE_PATH_MAX

enum { DIR_CREATE, DIR_RENAME, DIR_UNLINK };

struct undo {
    uint64_t ino;
    bool is_write; /* pwrite of [off, off+len); else a size change (truncate/allocate) */
    uint64_t off, len;
    uint8_t *old; /* bytes that were at [off, off+old_len) */
    uint64_t old_len;
    uint64_t old_size; /* file size before */
};

struct dirop {
    int kind;
    char dir[PATHLEN];
    char a[PATHLEN];     /* created / renamed-from / unlinked path */
    char b[PATHLEN];     /* renamed-to / where the unlinked file is parked */
    char saved[PATHLEN]; /* a rename replaced an existing b: the old b is parked here */
};

struct fdinfo {
    bool used, is_dir;
    uint64_t ino;
    char path[PATHLEN];
};

struct inode_fd {
    uint64_t ino;
    int fd;
};

struct faultfs {
    struct storage_fs ops;
    struct rng rng;
    uint64_t counts[FF_OP_COUNT];
    bool armed, fired, crashed, short_writes;
    enum ff_op op;
    uint64_t at;
    enum ff_kind kind;
    int err;
    struct undo *undos;
    size_t n_undo, cap_undo;
    struct dirop *dirops;
    size_t n_dir, cap_dir;
    struct inode_fd *ifds;
    size_t n_ifd, cap_ifd;
    uint64_t hidden_seq;
    struct fdinfo fds[MAX_FD];
};

static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return v;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(v, c * size);
    if (!p) abort();
    *cap = c;
    return p;
}

static void dirname_of(const char *path, char *out)
{
    snprintf(out, PATHLEN, "%s", path);
    char *s = strrchr(out, '/');
    if (s == out)
        out[1] = '\0';
    else if (s)
        *s = '\0';
    else
        snprintf(out, PATHLEN, ".");
}

/* Counts the call; true when the armed fault fires on it. */
static bool trigger(struct faultfs *ff, enum ff_op op)
{
    ff->counts[op]++;
    if (!ff->armed || ff->op != op || ff->counts[op] != ff->at) return false;
    ff->armed = false;
    ff->fired = true;
    return true;
}

/* Applies a fired fault that is not specific to the operation. Returns 1 when the call must
 * fail with *rc. */
static int generic_fault(struct faultfs *ff, bool fired, int *rc)
{
    if (ff->crashed) {
        *rc = -EIO;
        return 1;
    }
    if (!fired) return 0;
    if (ff->kind == FF_ERR) {
        *rc = -ff->err;
        return 1;
    }
    if (ff->kind == FF_CRASH) {
        ff->crashed = true;
        *rc = -EIO;
        return 1;
    }
    return 0;
}

static uint64_t file_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void keep_inode_fd(struct faultfs *ff, uint64_t ino, int fd)
{
    for (size_t i = 0; i < ff->n_ifd; i++)
        if (ff->ifds[i].ino == ino) return;
    ff->ifds = grow(ff->ifds, &ff->cap_ifd, ff->n_ifd, sizeof(*ff->ifds));
    ff->ifds[ff->n_ifd].ino = ino;
    ff->ifds[ff->n_ifd++].fd = dup(fd);
}

/* Records that [off, off+len) (a write when is_write) is about to change in the file at fd. */
static void record_undo(struct faultfs *ff, int fd, bool is_write, uint64_t off, uint64_t len)
{
    uint64_t size = file_size(fd);
    ff->undos = grow(ff->undos, &ff->cap_undo, ff->n_undo, sizeof(*ff->undos));
    struct undo *u = &ff->undos[ff->n_undo++];
    memset(u, 0, sizeof(*u));
    u->ino = ff->fds[fd].ino;
    u->is_write = is_write;
    u->off = off;
    u->len = len;
    u->old_size = size;
    u->old_len = off < size ? (off + len < size ? len : size - off) : 0;
    if (u->old_len) {
        u->old = malloc(u->old_len);
        if (!u->old || pread(fd, u->old, u->old_len, (off_t)off) != (ssize_t)u->old_len) abort();
    }
    keep_inode_fd(ff, u->ino, fd);
}

static struct dirop *add_dirop(struct faultfs *ff, int kind, const char *a, const char *b)
{
    ff->dirops = grow(ff->dirops, &ff->cap_dir, ff->n_dir, sizeof(*ff->dirops));
    struct dirop *d = &ff->dirops[ff->n_dir++];
    memset(d, 0, sizeof(*d));
    d->kind = kind;
    dirname_of(b && kind == DIR_RENAME ? b : a, d->dir);
    snprintf(d->a, sizeof(d->a), "%s", a);
    if (b) snprintf(d->b, sizeof(d->b), "%s", b);
    return d;
}

static void hidden_name(struct faultfs *ff, const char *path, char *out)
{
    snprintf(out, PATHLEN, "%s.ff-parked-%llu", path, (unsigned long long)++ff->hidden_seq);
}

/* ---- Operations ----------------------------------------------------------------------------- */

static int ff_open(void *ctx, const char *path, int flags, mode_t mode)
{
    struct faultfs *ff = ctx;
    int rc;
    if (flags & O_CREAT) {
        if (generic_fault(ff, trigger(ff, FF_CREATE), &rc)) return rc;
    } else if ((flags & O_TRUNC) && ff->crashed) {
        return -EIO;
    }
    struct stat st;
    bool existed = stat(path, &st) == 0;
    int fd = open(path, (flags & ~O_TRUNC) | O_CLOEXEC, mode);
    if (fd < 0) return -errno;
    if (fd >= MAX_FD) abort();
    struct fdinfo *fi = &ff->fds[fd];
    fi->used = true;
    fi->is_dir = (flags & O_DIRECTORY) != 0;
    fi->ino = fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
    snprintf(fi->path, sizeof(fi->path), "%s", path);
    if ((flags & O_CREAT) && !existed) add_dirop(ff, DIR_CREATE, path, NULL);
    if ((flags & O_TRUNC) && file_size(fd) > 0) {
        record_undo(ff, fd, false, 0, file_size(fd));
        if (ftruncate(fd, 0) < 0) abort();
    }
    return fd;
}

static int ff_close(void *ctx, int fd)
{
    struct faultfs *ff = ctx;
    if (fd >= 0 && fd < MAX_FD) ff->fds[fd].used = false;
    return close(fd) < 0 ? -errno : 0;
}

static ssize_t ff_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    struct faultfs *ff = ctx;
    bool fired = trigger(ff, FF_PREAD);
    if (fired && ff->kind != FF_FLIP) return ff->kind == FF_ERR ? -ff->err : -EIO;
    ssize_t n = pread(fd, buf, len, (off_t)off);
    if (n < 0) return -errno;
    if (fired && n > 0)
        ((uint8_t *)buf)[rng_below(&ff->rng, (uint64_t)n)] ^=
            (uint8_t)(1u << rng_below(&ff->rng, 8));
    return n;
}

static ssize_t ff_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    struct faultfs *ff = ctx;
    bool fired = trigger(ff, FF_PWRITE);
    int rc;
    if (generic_fault(ff, fired, &rc)) return rc;
    size_t n = len;
    uint8_t *copy = NULL;
    if (fired && ff->kind == FF_FLIP && len > 0) {
        copy = malloc(len);
        if (!copy) abort();
        memcpy(copy, buf, len);
        copy[rng_below(&ff->rng, len)] ^= (uint8_t)(1u << rng_below(&ff->rng, 8));
        buf = copy;
    }
    bool torn = fired && ff->kind == FF_TORN;
    if (torn)
        n = (size_t)rng_below(&ff->rng, len + 1);
    else if (len > 1 && ((fired && ff->kind == FF_SHORT) || ff->short_writes))
        n = 1 + (size_t)rng_below(&ff->rng, len);
    ssize_t w = 0;
    if (n > 0) {
        record_undo(ff, fd, true, off, n);
        w = pwrite(fd, buf, n, (off_t)off);
    }
    free(copy);
    if (w < 0) return -errno;
    if (torn) {
        ff->crashed = true;
        return -EIO;
    }
    return w;
}

static void synced(struct faultfs *ff, int fd)
{
    struct fdinfo *fi = &ff->fds[fd];
    if (fi->is_dir) {
        size_t k = 0;
        for (size_t i = 0; i < ff->n_dir; i++) {
            struct dirop *d = &ff->dirops[i];
            if (strcmp(d->dir, fi->path) != 0) {
                ff->dirops[k++] = *d;
                continue;
            }
            if (d->kind == DIR_UNLINK) unlink(d->b);
            if (d->kind == DIR_RENAME && d->saved[0]) unlink(d->saved);
        }
        ff->n_dir = k;
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < ff->n_undo; i++) {
        if (ff->undos[i].ino == fi->ino)
            free(ff->undos[i].old);
        else
            ff->undos[k++] = ff->undos[i];
    }
    ff->n_undo = k;
}

/* No real sync: durability is what this layer models, and tests stay fast. */
static int sync_op(struct faultfs *ff, int fd, enum ff_op op)
{
    int rc;
    if (generic_fault(ff, trigger(ff, op), &rc)) return rc;
    synced(ff, fd);
    return 0;
}

static int ff_fdatasync(void *ctx, int fd)
{
    return sync_op(ctx, fd, FF_FDATASYNC);
}

static int ff_fsync(void *ctx, int fd)
{
    return sync_op(ctx, fd, FF_FSYNC);
}

static int ff_fallocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
    struct faultfs *ff = ctx;
    int rc;
    if (generic_fault(ff, trigger(ff, FF_FALLOCATE), &rc)) return rc;
    uint64_t size = file_size(fd);
    if (off + len <= size) return 0;
    record_undo(ff, fd, false, size, 0);
    if (fallocate(fd, 0, (off_t)off, (off_t)len) == 0) return 0;
    return ftruncate(fd, (off_t)(off + len)) < 0 ? -errno : 0;
}

static int ff_ftruncate(void *ctx, int fd, uint64_t len)
{
    struct faultfs *ff = ctx;
    int rc;
    if (generic_fault(ff, trigger(ff, FF_FTRUNCATE), &rc)) return rc;
    uint64_t size = file_size(fd);
    record_undo(ff, fd, false, len, size > len ? size - len : 0);
    return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

static int ff_fsize(void *ctx, int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int ff_rename(void *ctx, const char *from, const char *to)
{
    struct faultfs *ff = ctx;
    int rc;
    if (generic_fault(ff, trigger(ff, FF_RENAME), &rc)) return rc;
    char saved[PATHLEN] = "";
    struct stat st;
    if (stat(to, &st) == 0) {
        hidden_name(ff, to, saved);
        if (link(to, saved) < 0) return -errno;
    }
    if (rename(from, to) < 0) {
        rc = -errno;
        if (saved[0]) unlink(saved);
        return rc;
    }
    struct dirop *d = add_dirop(ff, DIR_RENAME, from, to);
    snprintf(d->saved, sizeof(d->saved), "%s", saved);
    return 0;
}

static int ff_unlink(void *ctx, const char *path)
{
    struct faultfs *ff = ctx;
    int rc;
    if (generic_fault(ff, trigger(ff, FF_UNLINK), &rc)) return rc;
    char parked[PATHLEN];
    hidden_name(ff, path, parked);
    if (rename(path, parked) < 0) return -errno;
    add_dirop(ff, DIR_UNLINK, path, parked);
    return 0;
}

static int ff_mkdir(void *ctx, const char *path, mode_t mode)
{
    struct faultfs *ff = ctx;
    if (ff->crashed) return -EIO;
    return mkdir(path, mode) < 0 ? -errno : 0;
}

/* ---- Control -------------------------------------------------------------------------------- */

struct faultfs *ff_new(uint64_t seed)
{
    struct faultfs *ff = calloc(1, sizeof(*ff));
    if (!ff) abort();
    rng_seed(&ff->rng, seed);
    ff->ops = (struct storage_fs){
        .ctx = ff,
        .open = ff_open,
        .close = ff_close,
        .pread = ff_pread,
        .pwrite = ff_pwrite,
        .fdatasync = ff_fdatasync,
        .fsync = ff_fsync,
        .fallocate = ff_fallocate,
        .ftruncate = ff_ftruncate,
        .fsize = ff_fsize,
        .rename = ff_rename,
        .unlink = ff_unlink,
        .mkdir = ff_mkdir,
    };
    return ff;
}

static void forget(struct faultfs *ff)
{
    for (size_t i = 0; i < ff->n_undo; i++) free(ff->undos[i].old);
    for (size_t i = 0; i < ff->n_ifd; i++) close(ff->ifds[i].fd);
    ff->n_undo = ff->n_dir = ff->n_ifd = 0;
}

void ff_free(struct faultfs *ff)
{
    if (!ff) return;
    forget(ff);
    free(ff->undos);
    free(ff->dirops);
    free(ff->ifds);
    free(ff);
}

const struct storage_fs *ff_ops(struct faultfs *ff)
{
    return &ff->ops;
}

void ff_arm(struct faultfs *ff, enum ff_op op, uint64_t nth, enum ff_kind kind, int err)
{
    ff->armed = true;
    ff->fired = false;
    ff->op = op;
    ff->at = ff->counts[op] + nth;
    ff->kind = kind;
    ff->err = err;
}

void ff_disarm(struct faultfs *ff)
{
    ff->armed = false;
}

bool ff_fired(const struct faultfs *ff)
{
    return ff->fired;
}

bool ff_crashed(const struct faultfs *ff)
{
    return ff->crashed;
}

void ff_set_short_writes(struct faultfs *ff, bool on)
{
    ff->short_writes = on;
}

uint64_t ff_count(const struct faultfs *ff, enum ff_op op)
{
    return ff->counts[op];
}

uint64_t ff_pending_writes(const struct faultfs *ff)
{
    return ff->n_undo;
}

uint64_t ff_pending_dirops(const struct faultfs *ff)
{
    return ff->n_dir;
}

static int inode_fd(const struct faultfs *ff, uint64_t ino)
{
    for (size_t i = 0; i < ff->n_ifd; i++)
        if (ff->ifds[i].ino == ino) return ff->ifds[i].fd;
    abort();
}

/* Puts back the old content of [from, to) (a part of u's write region). */
static void restore_range(int fd, const struct undo *u, uint64_t from, uint64_t to)
{
    static const uint8_t zeroes[SECTOR];
    for (uint64_t p = from; p < to;) {
        uint64_t end = to - p > SECTOR ? p + SECTOR : to;
        if (p - u->off < u->old_len) {
            uint64_t have = u->old_len - (p - u->off);
            uint64_t n = end - p < have ? end - p : have;
            if (pwrite(fd, u->old + (p - u->off), n, (off_t)p) != (ssize_t)n) abort();
            p += n;
        } else {
            if (pwrite(fd, zeroes, end - p, (off_t)p) != (ssize_t)(end - p)) abort();
            p = end;
        }
    }
}

void ff_power_loss(struct faultfs *ff, bool tear)
{
    for (size_t i = ff->n_undo; i-- > 0;) {
        const struct undo *u = &ff->undos[i];
        int fd = inode_fd(ff, u->ino);
        if (!u->is_write) {
            if (ftruncate(fd, (off_t)u->old_size) < 0) abort();
            if (u->old_len && pwrite(fd, u->old, u->old_len, (off_t)u->off) != (ssize_t)u->old_len)
                abort();
            continue;
        }
        uint64_t kept_end = 0;
        for (uint64_t s = u->off / SECTOR * SECTOR; s < u->off + u->len; s += SECTOR) {
            uint64_t from = s < u->off ? u->off : s;
            uint64_t to = s + SECTOR < u->off + u->len ? s + SECTOR : u->off + u->len;
            if (tear && rng_chance(&ff->rng, 1, 2)) {
                kept_end = to;
                continue;
            }
            restore_range(fd, u, from, to);
        }
        uint64_t size = u->old_size > kept_end ? u->old_size : kept_end;
        if (file_size(fd) > size && ftruncate(fd, (off_t)size) < 0) abort();
    }
    for (size_t i = ff->n_dir; i-- > 0;) {
        const struct dirop *d = &ff->dirops[i];
        if (d->kind == DIR_CREATE) unlink(d->a);
        if (d->kind == DIR_UNLINK && rename(d->b, d->a) < 0) abort();
        if (d->kind == DIR_RENAME) {
            if (rename(d->b, d->a) < 0) abort();
            if (d->saved[0] && rename(d->saved, d->b) < 0) abort();
        }
    }
    forget(ff);
    ff->crashed = false;
    ff->armed = false;
}
