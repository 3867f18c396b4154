/* fsutil.c — the few file-system helpers the store needs (directory fsync, recursive removal,
 * atomic small-file replacement); kv may not use storage/, which owns the Raft files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv/internal.h"
#include "util/err.h"

int kv__path(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    return n < 0 || (size_t)n >= cap ? CC_ETOOBIG : 0;
}

int kv__fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return cc_from_errno(errno);
    int rc = fsync(fd) ? cc_from_errno(errno) : 0;
    close(fd);
    return rc;
}

int kv__mkdir(const char *path)
{
    if (mkdir(path, 0700) && errno != EEXIST) return cc_from_errno(errno);
    return 0;
}

int kv_remove_dir(const char *path)
{
    return kv__rmtree(path);
}

int kv__rmtree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT) return 0;
        if (errno == ENOTDIR) return unlink(path) ? cc_from_errno(errno) : 0;
        return cc_from_errno(errno);
    }
    int rc = 0;
    struct dirent *e;
    char sub[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (kv__path(sub, sizeof(sub), path, e->d_name)) {
            rc = CC_ETOOBIG;
            continue;
        }
        struct stat st;
        if (lstat(sub, &st)) {
            rc = cc_from_errno(errno);
            continue;
        }
        int r = S_ISDIR(st.st_mode) ? kv__rmtree(sub) : (unlink(sub) ? cc_from_errno(errno) : 0);
        if (r) rc = r;
    }
    closedir(d);
    if (rmdir(path) && errno != ENOENT && !rc) rc = cc_from_errno(errno);
    return rc;
}

int kv__write_file_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    char tmp[4096], dst[4096];
    if (snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= (int)sizeof(tmp) ||
        kv__path(dst, sizeof(dst), dir, name))
        return CC_ETOOBIG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return cc_from_errno(errno);
    const uint8_t *p = data;
    size_t left = len;
    int rc = 0;
    while (left && !rc) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            rc = n < 0 ? cc_from_errno(errno) : CC_EIO;
        else {
            p += n;
            left -= (size_t)n;
        }
    }
    if (!rc && fsync(fd)) rc = cc_from_errno(errno);
    if (close(fd) && !rc) rc = cc_from_errno(errno);
    if (!rc && rename(tmp, dst)) rc = cc_from_errno(errno);
    if (!rc) rc = kv__fsync_dir(dir);
    if (rc) unlink(tmp);
    return rc;
}

int kv__read_small_file(const char *path, char *out, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cc_from_errno(errno);
    size_t got = 0;
    int rc = 0;
    for (;;) {
        if (got == cap) {
            rc = CC_ETOOBIG;
            break;
        }
        ssize_t n = read(fd, out + got, cap - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = cc_from_errno(errno);
            break;
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return rc;
}
