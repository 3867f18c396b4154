/* fs.c — the POSIX file operations table and the helpers built on it. */
#include "storage/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fs_util.h"

static int px_open(void *ctx, const char *path, int flags, mode_t mode)
{
    int fd;
    do fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int px_close(void *ctx, int fd)
{
    /* Linux releases the descriptor even when close reports EINTR: never retry. */
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

static ssize_t px_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    do n = pread(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static ssize_t px_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    do n = pwrite(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

/* fsync/fdatasync are not retried on EINTR-like failures beyond EINTR itself: after an error
 * the kernel may have dropped the dirty pages, so a second call succeeding proves nothing. */
static int px_fdatasync(void *ctx, int fd)
{
    int r;
    do r = fdatasync(fd);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int px_fsync(void *ctx, int fd)
{
    int r;
    do r = fsync(fd);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int px_ftruncate(void *ctx, int fd, uint64_t len)
{
    int r;
    do r = ftruncate(fd, (off_t)len);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int px_fsize(void *ctx, int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int px_fallocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
    int r;
    do r = fallocate(fd, 0, (off_t)off, (off_t)len);
    while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS) return -errno;
    /* No preallocation here: a sparse extension still reads as zeroes, which is all the
     * WAL's end-of-log detection relies on; only the space reservation is lost. */
    uint64_t size;
    int rc = px_fsize(ctx, fd, &size);
    if (rc < 0) return rc;
    return size >= off + len ? 0 : px_ftruncate(ctx, fd, off + len);
}

static int px_rename(void *ctx, const char *from, const char *to)
{
    return rename(from, to) < 0 ? -errno : 0;
}

static int px_unlink(void *ctx, const char *path)
{
    return unlink(path) < 0 ? -errno : 0;
}

static int px_mkdir(void *ctx, const char *path, mode_t mode)
{
    return mkdir(path, mode) < 0 ? -errno : 0;
}

static const struct storage_fs posix_fs = {
    .ctx = NULL,
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .pwrite = px_pwrite,
    .fdatasync = px_fdatasync,
    .fsync = px_fsync,
    .fallocate = px_fallocate,
    .ftruncate = px_ftruncate,
    .fsize = px_fsize,
    .rename = px_rename,
    .unlink = px_unlink,
    .mkdir = px_mkdir,
};

const struct storage_fs *storage_fs_posix(void)
{
    return &posix_fs;
}

int storage__write_all(const struct storage_fs *fs, int fd, const void *buf, size_t len,
                       uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = fs->pwrite(fs->ctx, fd, p, len, off);
        if (n < 0) return (int)n;
        if (n == 0) return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int storage__read_all(const struct storage_fs *fs, int fd, void *buf, size_t len, uint64_t off,
                      size_t *got)
{
    uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = fs->pread(fs->ctx, fd, p + done, len - done, off + done);
        if (n < 0) return (int)n;
        if (n == 0) break;
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

int storage__fsync_dir(const struct storage_fs *fs, const char *path)
{
    int fd = fs->open(fs->ctx, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return fd;
    int rc = fs->fsync(fs->ctx, fd);
    int rc2 = fs->close(fs->ctx, fd);
    return rc < 0 ? rc : rc2;
}

int storage__path(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, STORAGE_PATH_MAX, "%s/%s", dir, name);
    return n < 0 || n >= STORAGE_PATH_MAX ? -ENAMETOOLONG : 0;
}

int storage__mkdir_p(const struct storage_fs *fs, const char *dir)
{
    char path[STORAGE_PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(path)) return -ENAMETOOLONG;
    memcpy(path, dir, len + 1);
    while (len > 1 && path[len - 1] == '/') path[--len] = '\0';
    struct stat st;
    if (stat(path, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    if (errno != ENOENT) return -errno;
    /* Create the parent first, then this directory, then make the new entry durable in the
     * parent: without that fsync a crash could forget the directory and everything in it. */
    char *slash = strrchr(path, '/');
    char parent[STORAGE_PATH_MAX];
    if (slash == path) {
        snprintf(parent, sizeof(parent), "/");
    } else if (slash) {
        memcpy(parent, path, (size_t)(slash - path));
        parent[slash - path] = '\0';
        int rc = storage__mkdir_p(fs, parent);
        if (rc < 0) return rc;
    } else {
        snprintf(parent, sizeof(parent), ".");
    }
    int rc = fs->mkdir(fs->ctx, path, 0700);
    if (rc < 0 && rc != -EEXIST) return rc;
    return storage__fsync_dir(fs, parent);
}

int storage__write_file_atomic(const struct storage_fs *fs, const char *dir, const char *name,
                               const void *data, size_t len)
{
    char path[STORAGE_PATH_MAX], tmp[STORAGE_PATH_MAX];
    if (storage__path(path, dir, name) < 0) return -ENAMETOOLONG;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || n >= (int)sizeof(tmp)) return -ENAMETOOLONG;
    int fd = fs->open(fs->ctx, tmp, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd < 0) return fd;
    int rc = storage__write_all(fs, fd, data, len, 0);
    if (rc == 0) rc = fs->fsync(fs->ctx, fd);
    int rc2 = fs->close(fs->ctx, fd);
    if (rc == 0) rc = rc2;
    if (rc == 0) rc = fs->rename(fs->ctx, tmp, path);
    if (rc < 0) {
        fs->unlink(fs->ctx, tmp);
        return rc;
    }
    return storage__fsync_dir(fs, dir);
}

int storage__read_file(const struct storage_fs *fs, const char *path, size_t max, uint8_t **out,
                       size_t *out_len)
{
    int fd = fs->open(fs->ctx, path, O_RDONLY, 0);
    if (fd < 0) return fd;
    uint64_t size;
    int rc = fs->fsize(fs->ctx, fd, &size);
    uint8_t *data = NULL;
    size_t got = 0;
    if (rc == 0 && size > max) rc = -EFBIG;
    if (rc == 0) {
        data = malloc(size ? (size_t)size : 1);
        if (!data) rc = -ENOMEM;
    }
    if (rc == 0) rc = storage__read_all(fs, fd, data, (size_t)size, 0, &got);
    fs->close(fs->ctx, fd);
    if (rc < 0) {
        free(data);
        return rc;
    }
    *out = data;
    *out_len = got;
    return 0;
}

int storage__list(const char *dir, const char *suffix, int (*fn)(void *arg, const char *name),
                  void *arg)
{
    DIR *d = opendir(dir);
    if (!d) return -errno;
    size_t slen = strlen(suffix);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t nlen = strlen(de->d_name);
        if (nlen < slen || strcmp(de->d_name + nlen - slen, suffix) != 0) continue;
        rc = fn(arg, de->d_name) != 0;
    }
    closedir(d);
    return rc;
}

bool storage__all_zero(const uint8_t *p, size_t len)
{
    /* Word-at-a-time: recovery checks whole preallocated segments with this. */
    size_t i = 0;
    while (i < len && ((uintptr_t)(p + i) & 7)) {
        if (p[i++]) return false;
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w) return false;
    }
    for (; i < len; i++) {
        if (p[i]) return false;
    }
    return true;
}
