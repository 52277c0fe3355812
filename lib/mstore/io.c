/* SPDX-License-Identifier: MIT */
/* io.c: the POSIX implementation of the I/O layer and the wrappers. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "lib/core/array.h"
#include "lib/core/fs-util.h"

typedef struct posix_file {
        mstore_file base;
        int fd;
} posix_file;

static int p_open(const struct mstore_io *io, const char *path, int flags, mstore_file **ret) {
        int of = O_CLOEXEC;
        of |= (flags & MSTORE_IO_RDONLY) ? O_RDONLY : O_RDWR;
        if (flags & MSTORE_IO_CREATE)
                of |= O_CREAT;
        if (flags & MSTORE_IO_EXCL)
                of |= O_EXCL;
        int fd = open(path, of | ((flags & MSTORE_IO_DIRECT) ? O_DIRECT : 0), 0600);
        if (fd < 0 && errno == EINVAL && (flags & MSTORE_IO_DIRECT))
                fd = open(path, of, 0600);   /* no O_DIRECT on this file system */
        if (fd < 0)
                return -errno;
        posix_file *f = calloc(1, sizeof *f);
        if (!f) {
                close(fd);
                return -ENOMEM;
        }
        f->base.io = io;
        f->fd = fd;
        *ret = &f->base;
        return 0;
}

static void p_close(mstore_file *f) {
        posix_file *p = (posix_file *) f;
        close(p->fd);
        free(p);
}

static int64_t p_pread(mstore_file *f, void *buf, size_t len, uint64_t off) {
        posix_file *p = (posix_file *) f;
        return read_full_at(p->fd, buf, len, (off_t) off);
}

static int p_pwrite(mstore_file *f, const void *buf, size_t len, uint64_t off) {
        posix_file *p = (posix_file *) f;
        size_t done = 0;
        while (done < len) {
                ssize_t n = pwrite(p->fd, (const char *) buf + done, len - done, (off_t) (off + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) n;
        }
        return 0;
}

static int p_sync(mstore_file *f) {
        posix_file *p = (posix_file *) f;
        return fdatasync(p->fd) < 0 ? -errno : 0;
}

static int p_size(mstore_file *f, uint64_t *ret) {
        posix_file *p = (posix_file *) f;
        struct stat st;
        if (fstat(p->fd, &st) < 0)
                return -errno;
        *ret = (uint64_t) st.st_size;
        return 0;
}

static int p_allocate(mstore_file *f, uint64_t size) {
        posix_file *p = (posix_file *) f;
        int r = posix_fallocate(p->fd, 0, (off_t) size);
        if (r == EOPNOTSUPP || r == EINVAL)
                r = ftruncate(p->fd, (off_t) size) < 0 ? errno : 0;
        return -r;
}

static int p_rename(const struct mstore_io *io, const char *from, const char *to) {
        return rename(from, to) < 0 ? -errno : 0;
}

static int p_unlink(const struct mstore_io *io, const char *path) {
        return unlink(path) < 0 ? -errno : 0;
}

static int p_exists(const struct mstore_io *io, const char *path) {
        if (access(path, F_OK) == 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

static int p_mkdir(const struct mstore_io *io, const char *path) {
        return mkdir(path, 0755) < 0 ? -errno : 0;
}

static int p_list(const struct mstore_io *io, const char *dir, char ***ret) {
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        size_t n = 0, cap = 16;
        char **v = calloc(cap, sizeof *v);
        if (!v) {
                closedir(d);
                return -ENOMEM;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (ARRAY_RESERVE_ONE(v, cap, n + 1, 16) < 0) /* room for v[n] and the NULL after it */
                        goto oom;
                v[n] = strdup(de->d_name);
                if (!v[n])
                        goto oom;
                v[++n] = NULL;
        }
        closedir(d);
        v[n] = NULL;
        *ret = v;
        return 0;
oom:
        closedir(d);
        io_strv_free(v);
        return -ENOMEM;
}

static int p_sync_dir(const struct mstore_io *io, const char *dir) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = fsync(fd) < 0 ? -errno : 0;
        close(fd);
        return r;
}

static int p_lock(const struct mstore_io *io, const char *path, mstore_file **ret, pid_t *ret_holder) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int e = errno;
                char buf[32] = { 0 };
                long pid = 0;
                if (pread(fd, buf, sizeof buf - 1, 0) > 0)
                        pid = strtol(buf, NULL, 10);
                close(fd);
                *ret_holder = pid > 0 ? (pid_t) pid : 0;
                return e == EWOULDBLOCK ? -EWOULDBLOCK : -e;
        }
        /* the holder's pid, for the second opener's message */
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%ld\n", (long) getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t) n, 0) != n) {
                int e = errno ? errno : EIO;
                close(fd);
                return -e;
        }
        posix_file *f = calloc(1, sizeof *f);
        if (!f) {
                close(fd);
                return -ENOMEM;
        }
        f->base.io = io;
        f->fd = fd;
        *ret = &f->base;
        return 0;
}

static const struct mstore_io posix_io = {
        .open = p_open, .close = p_close, .pread = p_pread, .pwrite = p_pwrite,
        .sync = p_sync, .size = p_size, .allocate = p_allocate, .rename = p_rename,
        .unlink = p_unlink, .exists = p_exists, .mkdir = p_mkdir, .list = p_list,
        .sync_dir = p_sync_dir, .lock = p_lock,
};

const struct mstore_io *io_posix(void) {
        return &posix_io;
}

#define IO(io) ((io) ? (io) : &posix_io)

int io_open(const struct mstore_io *io, const char *path, int flags, mstore_file **ret) {
        return IO(io)->open(IO(io), path, flags, ret);
}
void io_close(mstore_file *f) {
        if (f)
                f->io->close(f);
}
int64_t io_pread(mstore_file *f, void *buf, size_t len, uint64_t off) {
        return f->io->pread(f, buf, len, off);
}
int io_pread_full(mstore_file *f, void *buf, size_t len, uint64_t off) {
        int64_t n = f->io->pread(f, buf, len, off);
        if (n < 0)
                return (int) n;
        return (size_t) n == len ? 0 : -ENODATA;
}
int io_pwrite(mstore_file *f, const void *buf, size_t len, uint64_t off) {
        return f->io->pwrite(f, buf, len, off);
}
int io_sync(mstore_file *f) {
        return f->io->sync(f);
}
int io_size(mstore_file *f, uint64_t *ret) {
        return f->io->size(f, ret);
}
int io_allocate(mstore_file *f, uint64_t size) {
        return f->io->allocate(f, size);
}
int io_rename(const struct mstore_io *io, const char *from, const char *to) {
        return IO(io)->rename(IO(io), from, to);
}
int io_unlink(const struct mstore_io *io, const char *path) {
        return IO(io)->unlink(IO(io), path);
}
int io_exists(const struct mstore_io *io, const char *path) {
        return IO(io)->exists(IO(io), path);
}
int io_mkdir(const struct mstore_io *io, const char *path) {
        return IO(io)->mkdir(IO(io), path);
}
int io_list(const struct mstore_io *io, const char *dir, char ***ret) {
        return IO(io)->list(IO(io), dir, ret);
}
int io_sync_dir(const struct mstore_io *io, const char *dir) {
        return IO(io)->sync_dir(IO(io), dir);
}
int io_lock(const struct mstore_io *io, const char *path, mstore_file **ret, pid_t *ret_holder) {
        pid_t holder = 0;
        int r = IO(io)->lock(IO(io), path, ret, &holder);
        if (r < 0 && ret_holder)
                *ret_holder = holder;
        return r;
}
void io_strv_free(char **v) {
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}
