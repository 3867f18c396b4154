/* fs_util.h — internal helpers over struct storage_fs (full I/O, directory fsync, listing). */
/* Errors are negative errno values: callers format a message with strerror(-rc), then return
 * cc_from_errno(-rc). */
#ifndef CONCUR_STORAGE_FS_UTIL_H
#define CONCUR_STORAGE_FS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/fs.h"

/* Writes all len bytes at off, continuing after short writes. 0 or -errno (-EIO when the
 * layer makes no progress). */
int storage__write_all(const struct storage_fs *fs, int fd, const void *buf, size_t len,
                       uint64_t off);

/* Reads up to len bytes at off, continuing after short reads until len or end of file.
 * *got receives the count. 0 or -errno. */
int storage__read_all(const struct storage_fs *fs, int fd, void *buf, size_t len, uint64_t off,
                      size_t *got);

/* fsyncs the directory at path so entries created, renamed or removed in it are durable. */
int storage__fsync_dir(const struct storage_fs *fs, const char *path);

/* Creates dir and any missing parents (mode 0700), fsyncing each parent that gained an entry.
 * 0 when it exists already. */
int storage__mkdir_p(const struct storage_fs *fs, const char *dir);

/* Writes data to dir/name atomically: dir/name.tmp, fsync, rename, fsync dir. */
int storage__write_file_atomic(const struct storage_fs *fs, const char *dir, const char *name,
                               const void *data, size_t len);

/* Reads a whole file of at most max bytes into a malloc'd buffer (*out, *out_len; the caller
 * frees). -ENOENT when absent, -EFBIG when larger than max. */
int storage__read_file(const struct storage_fs *fs, const char *path, size_t max, uint8_t **out,
                       size_t *out_len);

/* Calls fn for every directory entry of dir whose name ends with suffix (in readdir order).
 * Returns 0, 1 when fn returned non-zero (which stops the listing; fn keeps its reason in arg),
 * or -errno when dir cannot be read. */
int storage__list(const char *dir, const char *suffix, int (*fn)(void *arg, const char *name),
                  void *arg);

/* snprintf into out (STORAGE_PATH_MAX); -ENAMETOOLONG when it does not fit. */
int storage__path(char *out, const char *dir, const char *name);

/* True when the len bytes at p are all zero. */
bool storage__all_zero(const uint8_t *p, size_t len);

#endif
