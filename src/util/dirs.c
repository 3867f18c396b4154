/* dirs.c — creating directory paths (mkdir -p). */
#include "util/dirs.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "util/err.h"

static int make(char *p)
{
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != 0) continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST) return cc_from_errno(errno);
        *s = c;
        if (c == 0) return 0;
    }
}

static int copy(char *dst, const char *path)
{
    size_t n = strlen(path);
    if (n > DIRS_PATH_MAX) return CC_ETOOBIG;
    memcpy(dst, path, n + 1);
    return 0;
}

int dirs_make(const char *path)
{
    char p[DIRS_PATH_MAX + 1];
    int rc = copy(p, path);
    if (rc || !p[0]) return rc;
    return make(p);
}

int dirs_make_parent(const char *path)
{
    char p[DIRS_PATH_MAX + 1];
    int rc = copy(p, path);
    if (rc) return rc;
    char *slash = strrchr(p, '/');
    if (!slash || slash == p) return 0;
    *slash = 0;
    return make(p);
}
