/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/backend-local.c: a repository in a local directory
 * (docs/design/repository.md §2, §8, §9 W1).  put = temp file in tmp/,
 * fsync, rename, fsync of the directory; lock = flock(2) on DIR/lock.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "backend.h"
#include "lib/core/array.h"
#include "repo-int.h"
#include "test-hook.h"

typedef struct local_backend {
        repo_backend base;
        int dir_fd;
        int lock_fd;
        pthread_mutex_t range_lock;   /* the last pack opened by get_range */
        int range_fd;
        char range_name[160];
} local_backend;

static local_backend *L(repo_backend *b) {
        return (local_backend *) b;
}

/* An object of at least DIRECT_MIN bytes in a DIRECT_ALIGN-aligned buffer (a
 * pack, packer.c) is written with O_DIRECT up to its last whole block and
 * the tail through the page cache.  Measured (docs/design/backup.md §7.7):
 * on the test VMs the kernel's copy into fresh page-cache pages cost more
 * CPU than zstd's share of the text, and a pack is fsynced right away, so
 * caching it buys nothing.  Where O_DIRECT is refused (tmpfs, an unaligned
 * device), the rest goes through the page cache as before. */
#define DIRECT_ALIGN 4096
#define DIRECT_MIN (1u << 20)

static int pwrite_all(int fd, const uint8_t *p, size_t n, off_t off) {
        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
                off += k;
        }
        return 0;
}

static int write_object(int fd, const void *data, size_t n) {
        const uint8_t *p = data;
        size_t off = 0, whole = n & ~(size_t) (DIRECT_ALIGN - 1);
        int fl;

        if (n >= DIRECT_MIN && (uintptr_t) p % DIRECT_ALIGN == 0 && !TEST_HOOK_IS("LVSS_REPO_NO_DIRECT", "1") &&
            (fl = fcntl(fd, F_GETFL)) >= 0 && fcntl(fd, F_SETFL, fl | O_DIRECT) == 0) {
                while (off < whole) {
                        ssize_t k = pwrite(fd, p + off, whole - off, (off_t) off);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0 && errno != EINVAL)
                                return -errno;
                        if (k <= 0 || (size_t) k % DIRECT_ALIGN != 0) {
                                off += k > 0 ? (size_t) k : 0;
                                break;   /* refused or short: the rest buffered */
                        }
                        off += (size_t) k;
                }
                if (fcntl(fd, F_SETFL, fl) < 0)
                        return -errno;
        }
        return pwrite_all(fd, p + off, n - off, (off_t) off);
}

static int local_sync(repo_backend *b, const char *dir) {
        return repo_fsync_dir(L(b)->dir_fd, dir);
}

static int local_put(repo_backend *b, const char *name, const void *data, size_t n) {
        local_backend *l = L(b);
        char tmp[64], parent[200], rhex[17];
        uint8_t rnd[8];
        const char *slash;
        int ret;

        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(rhex, sizeof rhex, rnd, sizeof rnd);
        snprintf(tmp, sizeof tmp, "tmp/new-%s", rhex);
        _cleanup_close_ int fd = openat(l->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return repo_error(NULL, -errno, "%s/%s: %m", b->location, tmp);
        ret = write_object(fd, data, n);
        if (ret == 0 && fsync(fd) < 0)
                ret = -errno;
        if (ret < 0) {
                (void) unlinkat(l->dir_fd, tmp, 0);
                return repo_error(NULL, ret, "%s/%s: write: %s", b->location, tmp, strerror(-ret));
        }
        slash = strrchr(name, '/');
        if (slash) {
                snprintf(parent, sizeof parent, "%.*s", (int) (slash - name), name);
                if (mkdirat(l->dir_fd, parent, 0700) == 0) {
                        /* The new directory's name must be durable before an object
                         * under it is: a failed fsync fails the write. */
                        const char *pp = strrchr(parent, '/');
                        char grand[200];
                        snprintf(grand, sizeof grand, "%.*s", pp ? (int) (pp - parent) : 1, pp ? parent : ".");
                        ret = repo_fsync_dir(l->dir_fd, grand);
                        if (ret < 0) {
                                (void) unlinkat(l->dir_fd, tmp, 0);
                                return ret;
                        }
                } else if (errno != EEXIST) {
                        ret = repo_error(NULL, -errno, "%s/%s: %m", b->location, parent);
                        (void) unlinkat(l->dir_fd, tmp, 0);
                        return ret;
                }
        } else
                snprintf(parent, sizeof parent, ".");
        if (renameat(l->dir_fd, tmp, l->dir_fd, name) < 0) {
                ret = repo_error(NULL, -errno, "%s/%s: rename: %m", b->location, name);
                (void) unlinkat(l->dir_fd, tmp, 0);
                return ret;
        }
        return repo_fsync_dir(l->dir_fd, parent);
}

static int local_get(repo_backend *b, const char *name, size_t max, uint8_t **ret, size_t *ret_n) {
        return repo_read_file_at(L(b)->dir_fd, name, max, ret, ret_n);
}

static int local_get_range(repo_backend *b, const char *name, uint64_t off, size_t n, uint8_t *buf) {
        local_backend *l = L(b);
        int ret = 0;

        pthread_mutex_lock(&l->range_lock);
        if (l->range_fd < 0 || strcmp(l->range_name, name) != 0) {
                if (l->range_fd >= 0)
                        close(l->range_fd);
                l->range_fd = openat(l->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (l->range_fd < 0) {
                        ret = -errno;
                        goto out;
                }
                snprintf(l->range_name, sizeof l->range_name, "%s", name);
        }
        size_t done = 0;
        while (done < n) {
                ssize_t got = pread(l->range_fd, buf + done, n - done, (off_t) (off + done));
                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0) {
                        ret = -errno;
                        goto out;
                }
                if (got == 0) {
                        ret = REPO_E_CORRUPT;
                        goto out;
                }
                done += (size_t) got;
        }
out:
        pthread_mutex_unlock(&l->range_lock);
        if (ret == REPO_E_CORRUPT)
                return repo_error(NULL, ret, "%s: short read (truncated)", name);
        if (ret < 0)
                return repo_error(NULL, ret, "%s: %s", name, strerror(-ret));
        return 0;
}

static int local_size(repo_backend *b, const char *name, uint64_t *ret) {
        struct stat st;
        if (fstatat(L(b)->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        *ret = (uint64_t) st.st_size;
        return 0;
}

static int add_name(char ***names, size_t *n, size_t *cap, const char *s) {
        char *d = strdup(s);
        if (!d || ARRAY_RESERVE_ONE(*names, *cap, *n, 64) < 0) {
                free(d);
                return -ENOMEM;
        }
        (*names)[(*n)++] = d;
        return 0;
}

static int scan_dir(int dir_fd, const char *sub, char ***names, size_t *n, size_t *cap, bool recurse) {
        int fd = openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        int ret = 0;
        DIR *d;

        if (fd < 0)
                return errno == ENOENT ? 0 : repo_error(NULL, -errno, "%s: %m", sub);
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (recurse && strlen(de->d_name) == 2) {
                        char child[64];
                        snprintf(child, sizeof child, "%s/%s", sub, de->d_name);
                        ret = scan_dir(dir_fd, child, names, n, cap, false);
                } else if (!recurse || strlen(de->d_name) != 2)
                        ret = add_name(names, n, cap, de->d_name);
                if (ret < 0)
                        break;
        }
        closedir(d);
        return ret;
}

static int local_list(repo_backend *b, const char *dir, char ***ret, size_t *ret_n) {
        char **names = NULL;
        size_t n = 0, cap = 0;
        int k = scan_dir(L(b)->dir_fd, dir, &names, &n, &cap, strcmp(dir, "data") == 0);
        if (k < 0) {
                repo_be_names_free(names, n);
                return k;
        }
        *ret = names;
        *ret_n = n;
        return 0;
}

static int local_delete(repo_backend *b, const char *name) {
        if (unlinkat(L(b)->dir_fd, name, 0) < 0 && errno != ENOENT)
                return repo_error(NULL, -errno, "%s/%s: %m", b->location, name);
        return 0;
}

static int local_lock(repo_backend *b, bool exclusive, unsigned wait_s, void (*waiting)(const char *, void *),
                      void *ud) {
        local_backend *l = L(b);
        unsigned waited_ms = 0;

        l->lock_fd = openat(l->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (l->lock_fd < 0 && errno == EROFS) {
                b->read_only = true;
                return 0;   /* read-only media: nobody can write, no lock needed */
        }
        if (l->lock_fd < 0)
                return repo_error(NULL, -errno, "repository %s: lock: %m", b->location);
        while (flock(l->lock_fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK)
                        return repo_error(NULL, -errno, "repository %s: lock: %m", b->location);
                if (waited_ms >= wait_s * 1000u)
                        return repo_error(NULL, -EBUSY, "repository %s: locked by another lvss-backup process%s",
                                          b->location, wait_s ? " (gave up waiting)" : "");
                if (waited_ms == 0 && waiting)
                        waiting(b->location, ud);
                (void) usleep(100 * 1000);
                waited_ms += 100;
        }
        if (exclusive) {
                /* a copy made by a tool that drops empty directories (git) lacks tmp/ */
                if (mkdirat(l->dir_fd, "tmp", 0700) < 0 && errno != EEXIST)
                        return repo_error(NULL, -errno, "repository %s/tmp: %m", b->location);
                /* tmp/ holds only what an interrupted writer left (W5) */
                int fd = openat(l->dir_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                DIR *d;
                if (fd >= 0 && (d = fdopendir(fd))) {
                        struct dirent *de;
                        while ((de = readdir(d)))
                                if (de->d_name[0] != '.')
                                        (void) unlinkat(dirfd(d), de->d_name, 0);
                        closedir(d);
                } else if (fd >= 0)
                        close(fd);
        }
        return 0;
}

static void local_unlock(repo_backend *b) {
        local_backend *l = L(b);
        if (l->lock_fd >= 0)
                close(l->lock_fd);   /* releases the flock */
        l->lock_fd = -1;
}

static const char *const subdirs[] = {"keys", "data", "index", "backups", "tmp"};

static int local_init(repo_backend *b) {
        local_backend *l = L(b);
        DIR *d = opendir(b->location);
        if (d) {
                struct dirent *de;
                bool empty = true;
                while ((de = readdir(d)))
                        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                                empty = false;
                closedir(d);
                if (!empty)
                        return repo_error(NULL, -EEXIST, "repository %s: directory is not empty", b->location);
        }
        for (size_t i = 0; i < ELEMENTSOF(subdirs); i++)
                if (mkdirat(l->dir_fd, subdirs[i], 0700) < 0)
                        return repo_error(NULL, -errno, "repository %s/%s: %m", b->location, subdirs[i]);
        return 0;
}

static void local_free(repo_backend *b) {
        local_backend *l = L(b);
        local_unlock(b);
        if (l->range_fd >= 0)
                close(l->range_fd);
        if (l->dir_fd >= 0)
                close(l->dir_fd);
        pthread_mutex_destroy(&l->range_lock);
        free(b->location);
        free(l);
}

static const repo_backend_ops local_ops = {
        .put = local_put,
        .get = local_get,
        .get_range = local_get_range,
        .size = local_size,
        .list = local_list,
        .delete = local_delete,
        .sync = local_sync,
        .lock = local_lock,
        .unlock = local_unlock,
        .init = local_init,
        .free = local_free,
};

int repo_backend_local_open(const char *dir, repo_backend **ret) {
        local_backend *l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->base.ops = &local_ops;
        l->dir_fd = l->lock_fd = l->range_fd = -1;
        pthread_mutex_init(&l->range_lock, NULL);
        l->base.location = strdup(dir);
        if (!l->base.location) {
                local_free(&l->base);
                return -ENOMEM;
        }
        l->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (l->dir_fd < 0) {
                int k = repo_error(NULL, -errno, "repository %s: %m", dir);
                local_free(&l->base);
                return k;
        }
        *ret = &l->base;
        return 0;
}

bool repo_location_is_s3(const char *location) {
        return location && strncmp(location, "s3:", 3) == 0;
}

int repo_backend_open(const char *location, repo_backend **ret) {
        if (repo_location_is_s3(location))
                return repo_backend_s3_open(location, ret);
        return repo_backend_local_open(location, ret);
}

repo_backend *repo_backend_free(repo_backend *b) {
        if (b)
                b->ops->free(b);
        return NULL;
}

void repo_be_names_free(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}
