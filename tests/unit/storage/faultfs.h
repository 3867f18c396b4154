/* faultfs.h — a fault-injecting struct storage_fs for the storage tests. */
/* Errors, torn/short writes, bit flips, and simulated power loss that drops whatever was not made
 * durable. */
#ifndef CONCUR_TESTS_STORAGE_FAULTFS_H
#define CONCUR_TESTS_STORAGE_FAULTFS_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/fs.h"

/*
 * Model: every pwrite/ftruncate/fallocate/O_TRUNC is recorded with the bytes it replaced until
 * an fsync or fdatasync of that file; every create/rename/unlink is recorded until an fsync of
 * its directory (unlinked files are parked under a hidden name meanwhile). ff_power_loss undoes
 * everything still recorded, newest first — optionally keeping a random subset of the
 * unsynced writes' 512-byte sectors, as a disk may when power fails mid-write.
 *
 * One fault can be armed at a time: the nth next call of one operation misbehaves. Once a
 * FF_CRASH or FF_TORN fault fires, the "process is dead": every later mutating call fails with
 * EIO until ff_power_loss.
 */

enum ff_op {
    FF_PWRITE,
    FF_PREAD,
    FF_FDATASYNC,
    FF_FSYNC,
    FF_FALLOCATE,
    FF_FTRUNCATE,
    FF_RENAME,
    FF_UNLINK,
    FF_CREATE, /* open with O_CREAT */
    FF_OP_COUNT
};

enum ff_kind {
    FF_ERR,   /* the call fails with errno err and does nothing */
    FF_CRASH, /* the process dies before the call: it fails with EIO, as does everything after */
    FF_TORN,  /* pwrite: a random part of the data reaches the file, then the process dies */
    FF_SHORT, /* pwrite: a random non-empty prefix is written and its length returned */
    FF_FLIP,  /* pwrite: one random bit of the data is flipped on its way to the file (silent
               * corruption); pread: one bit of what was read is flipped */
};

struct faultfs;

struct faultfs *ff_new(uint64_t seed);
void ff_free(struct faultfs *ff);

/* The operations table to give to the code under test (valid while ff lives). */
const struct storage_fs *ff_ops(struct faultfs *ff);

/* Arms one fault: the nth (1 = next) call of op from now behaves as kind (err for FF_ERR). */
void ff_arm(struct faultfs *ff, enum ff_op op, uint64_t nth, enum ff_kind kind, int err);
void ff_disarm(struct faultfs *ff);
bool ff_fired(const struct faultfs *ff);
bool ff_crashed(const struct faultfs *ff);

/* Every pwrite writes a random prefix (at least 1 byte) and reports it: callers must loop. */
void ff_set_short_writes(struct faultfs *ff, bool on);

/* Calls of op so far. */
uint64_t ff_count(const struct faultfs *ff, enum ff_op op);

/* Undoes everything not durable (see the model). tear: each unsynced write keeps a random
 * subset of its sectors instead of none. Afterwards nothing is pending and the process is
 * "alive" again. Descriptors the code under test still holds must be closed before. */
void ff_power_loss(struct faultfs *ff, bool tear);

/* Pending (unsynced) data writes and directory operations, for assertions. */
uint64_t ff_pending_writes(const struct faultfs *ff);
uint64_t ff_pending_dirops(const struct faultfs *ff);

#endif
