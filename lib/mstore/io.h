/* SPDX-License-Identifier: MIT */
/*
 * io.h: the only door of libmstore to files.  Nothing else in the engine
 * calls open/pread/pwrite/fsync/rename/unlink.  The layer is a table of
 * operations so tests can replace it with io_sim (in-memory files with
 * fault injection and power-loss simulation).
 *
 * All calls return 0 / a non-negative count or a negative errno.
 *
 * Files the layer creates are mode 0600 (owner only): databases, streams,
 * logs, the checkpoint and the lock file hold mail and nothing else needs
 * to read them.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct mstore_file mstore_file;

enum {
        MSTORE_IO_RDONLY = 1 << 0,
        MSTORE_IO_CREATE = 1 << 1,   /* create if missing */
        MSTORE_IO_EXCL = 1 << 2,     /* with CREATE: fail if it exists */
        MSTORE_IO_DIRECT = 1 << 3,   /* read around the page cache (O_DIRECT) where the file system
                                      * allows it; buffers and offsets 4096-aligned (ignored by io-sim) */
};

struct mstore_io {
        void *ctx;
        int (*open)(const struct mstore_io *io, const char *path, int flags, mstore_file **ret);
        void (*close)(mstore_file *f);
        int64_t (*pread)(mstore_file *f, void *buf, size_t len, uint64_t off);   /* bytes read, short at EOF */
        int (*pwrite)(mstore_file *f, const void *buf, size_t len, uint64_t off); /* all or error */
        int (*sync)(mstore_file *f);                                             /* data + size durable */
        int (*size)(mstore_file *f, uint64_t *ret);
        int (*allocate)(mstore_file *f, uint64_t size);                          /* extend with zeros, durable after sync */
        int (*rename)(const struct mstore_io *io, const char *from, const char *to); /* atomic, durable at once */
        int (*unlink)(const struct mstore_io *io, const char *path);
        int (*exists)(const struct mstore_io *io, const char *path);              /* 1, 0 or -errno */
        int (*mkdir)(const struct mstore_io *io, const char *path);               /* 0 or -EEXIST ... */
        /* Names (not paths) of the entries of dir; NULL-terminated, free with io_strv_free. */
        int (*list)(const struct mstore_io *io, const char *dir, char ***ret);
        int (*sync_dir)(const struct mstore_io *io, const char *dir);
        /* Take the exclusive lock named by path (created 0600 if missing,
         * never followed through a symlink) without waiting; the lock lasts
         * until the returned handle is closed (or the process ends).
         * -EWOULDBLOCK when another opener holds it; *ret_holder is then its
         * pid as recorded in the file (0 if unknown). */
        int (*lock)(const struct mstore_io *io, const char *path, mstore_file **ret, pid_t *ret_holder);
};

/* The default: real files (POSIX). */
const struct mstore_io *io_posix(void);

/* Convenience wrappers (io may be NULL = posix). */
int io_open(const struct mstore_io *io, const char *path, int flags, mstore_file **ret);
void io_close(mstore_file *f);
int64_t io_pread(mstore_file *f, void *buf, size_t len, uint64_t off);
int io_pread_full(mstore_file *f, void *buf, size_t len, uint64_t off); /* -EIO-like -ENODATA when short */
int io_pwrite(mstore_file *f, const void *buf, size_t len, uint64_t off);
int io_sync(mstore_file *f);
int io_size(mstore_file *f, uint64_t *ret);
int io_allocate(mstore_file *f, uint64_t size);
int io_rename(const struct mstore_io *io, const char *from, const char *to);
int io_unlink(const struct mstore_io *io, const char *path);
int io_exists(const struct mstore_io *io, const char *path);
int io_mkdir(const struct mstore_io *io, const char *path);
int io_list(const struct mstore_io *io, const char *dir, char ***ret);
int io_sync_dir(const struct mstore_io *io, const char *dir);
int io_lock(const struct mstore_io *io, const char *path, mstore_file **ret, pid_t *ret_holder);
void io_strv_free(char **v);

/* Every file handle starts with this so the wrappers can find its table. */
struct mstore_file {
        const struct mstore_io *io;
};
