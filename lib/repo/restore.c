/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/restore.c: reading a backup's files back.
 *
 * repo_restore() streams every file's blobs into a sink, checking each blob
 * against its id and each file against its whole-file hash; it is the engine
 * under both restore-files (a directory sink, here) and the future
 * application-aware restore (its own sink writing through the writers'
 * targets).
 *
 * The directory sink never writes outside its root (invariant R1): manifest
 * paths are relative with no "." or ".." (repo_path_check), and every parent
 * is opened component by component with O_NOFOLLOW|O_DIRECTORY, so a symlink
 * anywhere on the way is refused instead of followed.  Data lands in a
 * temporary file beside the target and is renamed over it only once its hash
 * matched (R2), so a damaged backup never leaves a wrong file under a real name.
 */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>

#include "repo-int.h"

int repo_restore(repo *r, const repo_record *rec, repo_file_filter_fn filter, void *filter_userdata,
                 const repo_restore_sink *sink, repo_progress_fn progress, void *progress_userdata) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t cap = 0, n = 0;
        repo_stats st = {};
        int k;

        for (size_t i = 0; i < rec->n_files; i++) {
                const repo_file *f = &rec->files[i];
                uint64_t total = 0;
                void *h = NULL;
                repo_id got;

                if (filter && !filter(f, filter_userdata))
                        continue;
                /* The file hash covers the blob list; each blob is checked against its id as it is read. */
                repo_hash_file(r, f->blobs, f->n_blobs, &got);
                if (memcmp(got.b, f->hash.b, REPO_ID_SIZE) != 0)
                        return repo_error(REPO_E_CORRUPT, "file '%s': blob list does not match the file hash", f->path);
                k = sink->open(sink->userdata, f, &h);
                if (k < 0)
                        return k;
                for (size_t j = 0; j < f->n_blobs; j++) {
                        k = repo_read_blob(r, &f->blobs[j], &buf, &cap, &n);
                        if (k >= 0)
                                k = sink->write(sink->userdata, h, buf, n);
                        if (k < 0) {
                                int saved = k;
                                char msg[512];
                                snprintf(msg, sizeof msg, "%s", repo_errmsg());
                                (void) sink->close(sink->userdata, h, f, false);
                                return repo_error(saved, "file '%s': %s", f->path, msg);
                        }
                        total += n;
                        st.bytes_read += n;
                        if (progress)
                                progress(&st, f->path, progress_userdata);
                }
                if (total != f->size) {
                        (void) sink->close(sink->userdata, h, f, false);
                        return repo_error(REPO_E_CORRUPT, "file '%s': restored %llu bytes, the record says %llu",
                                          f->path, (unsigned long long) total, (unsigned long long) f->size);
                }
                k = sink->close(sink->userdata, h, f, true);
                if (k < 0)
                        return k;
                st.files++;
        }
        return 0;
}

typedef struct dir_sink {
        int root_fd;
        const char *root;
} dir_sink;

typedef struct dir_handle {
        int dir_fd, fd;
        char tmp[64];
        const char *name;
} dir_handle;

/* Open (creating when `create`) the parent directory of path below root,
 * one component at a time, never following a symlink. */
static int open_parent(int root_fd, const char *root, const char *path, bool create, int *ret_fd,
                       const char **ret_name) {
        int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        const char *p = path, *slash;

        if (fd < 0)
                return -errno;
        while ((slash = strchr(p, '/'))) {
                char comp[256];
                size_t n = (size_t) (slash - p);
                int cfd;

                if (n >= sizeof comp) {
                        close(fd);
                        return repo_error(-ENAMETOOLONG, "restore '%s': path component too long", path);
                }
                memcpy(comp, p, n);
                comp[n] = 0;
                if (create && mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
                        int e = -errno;
                        close(fd);
                        return repo_error(e, "restore '%s': %s/%.*s: %s", path, root, (int) (slash - path), path,
                                          strerror(-e));
                }
                cfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (cfd < 0) {
                        int e = errno;
                        close(fd);
                        if (e == ENOENT && !create) {
                                *ret_fd = -1;   /* does not exist yet: nothing on the way can redirect us */
                                return 0;
                        }
                        if (e == ELOOP || e == ENOTDIR)
                                return repo_error(-EINVAL,
                                                  "restore '%s': refusing to write through '%.*s': it is a symlink "
                                                  "or not a directory (would escape %s)",
                                                  path, (int) (slash - path), path, root);
                        return repo_error(-e, "restore '%s': %.*s: %s", path, (int) (slash - path), path,
                                          strerror(e));
                }
                close(fd);
                fd = cfd;
                p = slash + 1;
        }
        *ret_fd = fd;
        *ret_name = p;
        return 0;
}

static int dir_open(void *userdata, const repo_file *f, void **ret_handle) {
        dir_sink *s = userdata;
        dir_handle *h;
        uint8_t rnd[6];
        char rhex[13];
        int k;

        k = repo_path_check(f->path);
        if (k < 0)
                return repo_error(-EINVAL, "restore: refusing manifest path: %s", repo_errmsg());
        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        k = open_parent(s->root_fd, s->root, f->path, true, &h->dir_fd, &h->name);
        if (k < 0) {
                free(h);
                return k;
        }
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(rhex, sizeof rhex, rnd, sizeof rnd);
        snprintf(h->tmp, sizeof h->tmp, ".lvss-restore-%s", rhex);
        h->fd = openat(h->dir_fd, h->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (h->fd < 0) {
                k = repo_error(-errno, "restore '%s': %m", f->path);
                close(h->dir_fd);
                free(h);
                return k;
        }
        *ret_handle = h;
        return 0;
}

static int dir_write(void *userdata, void *handle, const void *buf, size_t n) {
        dir_handle *h = handle;
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = write(h->fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return repo_error(-errno, "write: %m");
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int dir_close(void *userdata, void *handle, const repo_file *f, bool ok) {
        dir_handle *h = handle;
        int k = 0;

        if (ok) {
                struct timespec ts[2] = {
                        {.tv_nsec = UTIME_OMIT},
                        {.tv_sec = f->mtime_ns / 1000000000, .tv_nsec = f->mtime_ns % 1000000000},
                };
                if (fchmod(h->fd, f->mode & 07777) < 0 || futimens(h->fd, ts) < 0 || fsync(h->fd) < 0)
                        k = repo_error(-errno, "restore '%s': %m", f->path);
                /* renameat replaces a symlink named like the target, it never follows it */
                else if (renameat(h->dir_fd, h->tmp, h->dir_fd, h->name) < 0)
                        k = repo_error(-errno, "restore '%s': %m", f->path);
        }
        if (!ok || k < 0)
                (void) unlinkat(h->dir_fd, h->tmp, 0);
        close(h->fd);
        close(h->dir_fd);
        free(h);
        return k;
}

static int mkdir_p(const char *dir) {
        _cleanup_free_ char *p = strdup(dir);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int repo_restore_to_dir(repo *r, const repo_record *rec, const char *dir, repo_progress_fn progress,
                        void *userdata) {
        _cleanup_close_ int root_fd = -1;
        dir_sink s = {.root = dir};
        repo_restore_sink sink = {dir_open, dir_write, dir_close, &s};
        int k;

        /* Refuse every bad path before writing anything. */
        for (size_t i = 0; i < rec->n_files; i++)
                if (repo_path_check(rec->files[i].path) < 0)
                        return repo_error(-EINVAL, "restore: refusing manifest path: %s", repo_errmsg());
        k = mkdir_p(dir);
        if (k < 0)
                return repo_error(k, "%s: %s", dir, strerror(-k));
        root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return repo_error(-errno, "%s: %m", dir);
        s.root_fd = root_fd;
        for (size_t i = 0; i < rec->n_files; i++) {
                int pfd = -1;
                const char *name = NULL;
                k = open_parent(root_fd, dir, rec->files[i].path, false, &pfd, &name);
                if (k < 0)
                        return k;
                if (pfd >= 0)
                        close(pfd);
        }
        return repo_restore(r, rec, NULL, NULL, &sink, progress, userdata);
}

int repo_restore_chain_to_dir(repo *r, const repo_id *id, const char *dir, repo_progress_fn progress,
                              void *userdata, uint64_t *ret_files, uint64_t *ret_bytes) {
        repo_record **chain = NULL;
        const repo_file **view = NULL;
        size_t n = 0, nv = 0;
        repo_record merged = {};
        uint64_t bytes = 0;
        int k;

        k = repo_backup_chain(r, id, &chain, &n);
        if (k < 0)
                return k;
        k = repo_chain_merge(chain, n, &view, &nv);
        if (k < 0)
                goto out;
        /* A record that borrows the chain's file entries (shallow copies, not freed). */
        merged.files = calloc(nv + 1, sizeof(repo_file));
        if (!merged.files) {
                k = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < nv; i++) {
                merged.files[i] = *view[i];
                bytes += view[i]->size;
        }
        merged.n_files = nv;
        k = repo_restore_to_dir(r, &merged, dir, progress, userdata);
        if (k >= 0) {
                if (ret_files)
                        *ret_files = nv;
                if (ret_bytes)
                        *ret_bytes = bytes;
        }
out:
        free(merged.files);
        free(view);
        for (size_t i = 0; i < n; i++)
                repo_record_free(chain[i]);
        free(chain);
        return k;
}
