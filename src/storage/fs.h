/* fs.h — the file operations storage performs, as a swappable table (tests inject faults). */
#ifndef CONCUR_STORAGE_FS_H
#define CONCUR_STORAGE_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Every system call the WAL, the snapshot store and the metadata file make on file contents
 * or directory entries goes through one of these, so a test can swap in a layer that tears
 * writes, flips bits, returns ENOSPC/EIO, or simulates a power cut (dropping what was not
 * synced). Each function returns 0 (or a byte count / fd) on success and a negative errno on
 * failure — never -1 with errno, so an injected error cannot be confused with a stale errno.
 * Directory listings use opendir/readdir directly (they only read names).
 *
 * ctx is passed back to every call. A table must stay valid while any object using it lives.
 */
struct storage_fs {
    void *ctx;
    /* open(2): returns an fd or -errno. */
    int (*open)(void *ctx, const char *path, int flags, mode_t mode);
    int (*close)(void *ctx, int fd);
    /* pread/pwrite(2): bytes transferred (possibly short) or -errno. */
    ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t off);
    ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
    int (*fdatasync)(void *ctx, int fd);
    int (*fsync)(void *ctx, int fd);
    /* Reserves [off, off+len) (mode 0: the file grows, reads return zeroes). Implementations
     * fall back to extending with ftruncate when the file system cannot preallocate. */
    int (*fallocate)(void *ctx, int fd, uint64_t off, uint64_t len);
    int (*ftruncate)(void *ctx, int fd, uint64_t len);
    int (*fsize)(void *ctx, int fd, uint64_t *size);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*mkdir)(void *ctx, const char *path, mode_t mode);
};

/* The real thing: plain POSIX calls, retried on EINTR. Never NULL; static and immutable. */
const struct storage_fs *storage_fs_posix(void);

/* Longest path storage builds (directory + file name). */
#define STORAGE_PATH_MAX 1024

#endif
