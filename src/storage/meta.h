/* meta.h — the member's durable identity record (cluster ID, member ID, name). */
/* Written once at bootstrap so a restart knows who it is. */
#ifndef CONCUR_STORAGE_META_H
#define CONCUR_STORAGE_META_H

/*
 * File format (text, so an operator can read it): the line "concur-meta 1", then one
 * "key=value" line per pair in insertion order, then "crc32c=<8 hex digits>" covering every
 * byte before that line. Replaced atomically (temporary file, fsync, rename, directory fsync).
 * Keys: 1..63 bytes of [A-Za-z0-9_.-]. Values: 0..511 bytes, no control characters.
 */

#include <stdint.h>

#include "storage/fs.h"

#define STORAGE_META_PAIRS   16
#define STORAGE_META_KEY_MAX 63
#define STORAGE_META_VAL_MAX 511

struct storage_meta {
    uint32_t n;
    struct {
        char key[STORAGE_META_KEY_MAX + 1];
        char val[STORAGE_META_VAL_MAX + 1];
    } kv[STORAGE_META_PAIRS];
};

/* Sets key to val (both copied), replacing an existing value. Returns 0, CC_EINVAL (bad key or
 * value), CC_ETOOBIG (STORAGE_META_PAIRS keys already). */
int storage_meta_set(struct storage_meta *m, const char *key, const char *val);

/* Value of key, or NULL. The pointer is into m. */
const char *storage_meta_get(const struct storage_meta *m, const char *key);

/* 64-bit IDs are stored as 16 lowercase hex digits (etcd prints member IDs in hex). */
int storage_meta_set_u64(struct storage_meta *m, const char *key, uint64_t v);
/* Returns 0, CC_ENOTFOUND (absent), CC_ECORRUPT (not 1..16 hex digits). */
int storage_meta_get_u64(const struct storage_meta *m, const char *key, uint64_t *v);

/* Writes m to dir/meta atomically and durably. fs NULL = POSIX. Returns 0 or an I/O code. */
int storage_meta_write(const struct storage_fs *fs, const char *dir, const struct storage_meta *m);

/* Reads dir/meta into *m. Returns 0, CC_ENOTFOUND (no file), CC_ECORRUPT (bad format or CRC),
 * an I/O code. */
int storage_meta_read(const struct storage_fs *fs, const char *dir, struct storage_meta *m);

#endif
