/* dirs.h — creating directory paths (mkdir -p): data directories and the control socket's. */
#ifndef CONCUR_UTIL_DIRS_H
#define CONCUR_UTIL_DIRS_H

/* Longest path accepted (bytes, without the NUL). */
#define DIRS_PATH_MAX 4095

/* Creates path and every missing directory above it (new ones mode 0700); existing ones are
 * left as they are. Returns 0, CC_ETOOBIG for a path over DIRS_PATH_MAX, or the cc_err of the
 * first mkdir that failed. */
int dirs_make(const char *path);

/* The same for the directory that holds path (nothing to do for a bare name or "/x"). */
int dirs_make_parent(const char *path);

#endif
