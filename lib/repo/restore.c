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
 * The target filesystem is synced once at the end.
 *
 * Metadata (entry version 2, meta.c): each file gets its owner, extended
 * attributes (ACLs included), mode and mtime on its temporary name before the
 * rename.  Directories recorded in the backup are created 0700 first and get
 * their own metadata last, deepest first, after everything inside them (R3).
 * Hard links are made after all files, as links to their restored first
 * name.  Special files (FIFOs, sockets, devices) are named in one warning
 * each and not created.  Set-id bits come back only with the owner (R4).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/core/fs-util.h"
#include "repo-int.h"

/* Reading and decoding blobs runs on decoder threads (one per CPU, at most
 * DECODERS_MAX), up to WINDOW blobs ahead of the writing thread.  Blob
 * number `seq` (in restore order) goes to slot seq % WINDOW.  A decoder
 * claims the next number and fetches its bytes under fetch_lock, so the
 * backend is read in blob order (a remote read plan stays sequential), then
 * decodes (MAC, zstd, hash) with the lock released, in parallel with the
 * other decoders.  The writer takes slots in order.  A slot belongs to the
 * decoder that claimed it until `ready`, then to the writer until it is
 * released (consumed advances); only then can seq + WINDOW claim it, and its
 * buffer is reused.  Decoders touch only what is read-only during a restore
 * (index, keys, directory fd) and their own repo_blob_reader; the sink is
 * called from the caller's thread only. */
#define DECODERS_MAX 4
#define WINDOW 8

typedef struct rslot {
        uint8_t *buf;
        size_t cap, n;
        int err;
        bool ready;
        ErrorSlot msg;   /* a decoder's failure, raised into r by restore_files */
} rslot;

typedef struct reader {
        repo *r;
        const repo_record *rec;
        const size_t *sel;      /* indices of the files to restore, in order */
        size_t n_sel;
        pthread_t threads[DECODERS_MAX];
        size_t n_threads;
        pthread_mutex_t fetch_lock; /* claim + fetch, in blob order */
        size_t fetch_file, fetch_blob; /* the next blob to claim: sel index, blob index */
        pthread_mutex_t lock;
        pthread_cond_t cond;    /* signalled on every slot or window change */
        rslot q[WINDOW];
        uint64_t next_seq;      /* the next blob number to claim */
        uint64_t consumed;      /* blobs the writer released */
        bool stop, failed;
} reader;

/* Under fetch_lock: the id of the next blob in restore order, NULL at the end. */
static const repo_id *reader_claim_next(reader *rd) {
        while (rd->fetch_file < rd->n_sel) {
                const repo_file *f = &rd->rec->files[rd->sel[rd->fetch_file]];
                if (rd->fetch_blob < f->n_blobs)
                        return &f->blobs[rd->fetch_blob++];
                rd->fetch_file++;
                rd->fetch_blob = 0;
        }
        return NULL;
}

static void *decoder_main(void *arg) {
        reader *rd = arg;
        repo_blob_reader br = {};

        repo_error_worker_thread();   /* its failures on rd->r: to this thread's slot, copied to sl->msg */
        for (;;) {
                pthread_mutex_lock(&rd->fetch_lock);
                pthread_mutex_lock(&rd->lock);
                while (!rd->stop && !rd->failed && rd->next_seq >= rd->consumed + WINDOW)
                        pthread_cond_wait(&rd->cond, &rd->lock);
                const repo_id *id = rd->stop || rd->failed ? NULL : reader_claim_next(rd);
                uint64_t seq = rd->next_seq;
                if (id)
                        rd->next_seq++;
                pthread_mutex_unlock(&rd->lock);
                if (!id) {
                        pthread_mutex_unlock(&rd->fetch_lock);
                        break;
                }
                int err = repo_blob_fetch(rd->r, &br, id);
                pthread_mutex_unlock(&rd->fetch_lock);
                rslot *sl = &rd->q[seq % WINDOW];
                if (err >= 0)
                        err = repo_blob_decode_fetched(rd->r, &br, &sl->buf, &sl->cap, &sl->n);
                if (err < 0)
                        (void) error_slot_set(&sl->msg, err, "%s", err == -ENOMEM ? "out of memory" : repo_errmsg());
                pthread_mutex_lock(&rd->lock);
                sl->err = err;
                sl->ready = true;
                if (err < 0)
                        rd->failed = true; /* claim no more; the writer stops at this blob */
                pthread_cond_broadcast(&rd->cond);
                pthread_mutex_unlock(&rd->lock);
        }
        repo_blob_reader_done(&br);
        return NULL;
}

/* The writer's next blob, in order; the slot is the writer's until reader_release. */
static rslot *reader_next(reader *rd) {
        rslot *sl = &rd->q[rd->consumed % WINDOW];
        pthread_mutex_lock(&rd->lock);
        while (!sl->ready)
                pthread_cond_wait(&rd->cond, &rd->lock);
        pthread_mutex_unlock(&rd->lock);
        return sl;
}

static void reader_release(reader *rd, rslot *sl) {
        pthread_mutex_lock(&rd->lock);
        sl->ready = false;
        rd->consumed++;
        pthread_cond_broadcast(&rd->cond);
        pthread_mutex_unlock(&rd->lock);
}

static void reader_stop(reader *rd) {
        pthread_mutex_lock(&rd->lock);
        rd->stop = true;
        pthread_cond_broadcast(&rd->cond);
        pthread_mutex_unlock(&rd->lock);
        for (size_t i = 0; i < rd->n_threads; i++)
                pthread_join(rd->threads[i], NULL);
        for (size_t i = 0; i < WINDOW; i++)
                free(rd->q[i].buf);
        pthread_mutex_destroy(&rd->fetch_lock);
        pthread_mutex_destroy(&rd->lock);
        pthread_cond_destroy(&rd->cond);
}

/* Start the decoders: one per online CPU, 1..DECODERS_MAX.  On failure
 * none runs and the reader is destroyed. */
static int reader_start(reader *rd) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        size_t want = cpus < 1 ? 1 : cpus > DECODERS_MAX ? DECODERS_MAX : (size_t) cpus;

        pthread_mutex_init(&rd->fetch_lock, NULL);
        pthread_mutex_init(&rd->lock, NULL);
        pthread_cond_init(&rd->cond, NULL);
        for (size_t i = 0; i < want; i++) {
                int k = pthread_create(&rd->threads[i], NULL, decoder_main, rd);
                if (k != 0) {
                        reader_stop(rd);
                        return repo_error(rd->r, -k, "cannot start the restore decoder threads: %s", strerror(k));
                }
                rd->n_threads++;
        }
        return 0;
}

static int restore_files(reader *rd, const repo_restore_sink *sink, repo_progress_fn progress,
                         void *progress_userdata) {
        repo_stats st = {};
        int k;

        for (size_t s = 0; s < rd->n_sel; s++) {
                const repo_file *f = &rd->rec->files[rd->sel[s]];
                uint64_t total = 0;
                void *h = NULL;

                if (f->symlink) {
                        k = sink->symlink(sink->userdata, f);
                        if (k < 0)
                                return repo_error_from_thread(rd->r, k);
                        st.files++;
                        continue;
                }
                k = sink->open(sink->userdata, f, &h);
                if (k < 0)
                        return repo_error_from_thread(rd->r, k);
                for (size_t j = 0; j < f->n_blobs; j++) {
                        rslot *b = reader_next(rd);
                        size_t got = b->n;
                        k = b->err;
                        if (k < 0)   /* a decoder's failure */
                                (void) repo_error(rd->r, k, "%s", error_slot_get(&b->msg));
                        else if ((k = sink->write(sink->userdata, h, b->buf, got)) < 0)
                                k = repo_error_from_thread(rd->r, k);
                        reader_release(rd, b);
                        if (k < 0) {
                                char msg[512];
                                snprintf(msg, sizeof msg, "%s", repo_error_msg(rd->r));
                                (void) sink->close(sink->userdata, h, f, false);
                                return repo_error(rd->r, k, "file '%s': %s", f->path, msg);
                        }
                        total += got;
                        st.bytes_read += got;
                        if (progress)
                                progress(&st, f->path, progress_userdata);
                }
                if (total != f->size) {
                        (void) sink->close(sink->userdata, h, f, false);
                        return repo_error(rd->r, REPO_E_CORRUPT, "file '%s': restored %llu bytes, the record says %llu",
                                          f->path, (unsigned long long) total, (unsigned long long) f->size);
                }
                k = sink->close(sink->userdata, h, f, true);
                if (k < 0)
                        return repo_error_from_thread(rd->r, k);
                st.files++;
        }
        return 0;
}

/* The extents of packs the reader will go through, in order (one per run of
 * consecutive blobs in the same pack), so that a remote backend fetches
 * them ahead (backend.h read_plan).  Best effort: a restore without a plan
 * reads the same bytes. */
#define RESTORE_PLAN_MAX 262144

static void restore_plan(repo *r, const repo_record *rec, const size_t *sel, size_t n_sel) {
        _cleanup_free_ repo_be_extent *ext = NULL;
        size_t n = 0, cap = 0;
        uint32_t last_pack = UINT32_MAX;

        if (!r->be->ops->read_plan)
                return;
        for (size_t s = 0; s < n_sel; s++) {
                const repo_file *f = &rec->files[sel[s]];
                for (size_t j = 0; j < f->n_blobs; j++) {
                        const index_entry *e = repo_index_find(&r->index, &f->blobs[j]);
                        if (!e)
                                continue;   /* reported missing when read */
                        uint64_t off = index_entry_offset(e), end = off + e->length;
                        if (n > 0 && e->pack == last_pack) {
                                ext[n - 1].len = MAX(end, ext[n - 1].off + ext[n - 1].len) - MIN(off, ext[n - 1].off);
                                ext[n - 1].off = MIN(off, ext[n - 1].off);
                                continue;
                        }
                        if (n == RESTORE_PLAN_MAX)
                                goto done;
                        if (n == cap) {
                                size_t nc = cap ? cap * 2 : 64;
                                repo_be_extent *p = realloc(ext, nc * sizeof *ext);
                                if (!p)
                                        return;
                                ext = p;
                                cap = nc;
                        }
                        if (repo_object_path("data", &r->index.packs[e->pack], ext[n].name, sizeof ext[n].name) < 0)
                                return;
                        ext[n].off = off;
                        ext[n].len = e->length;
                        last_pack = e->pack;
                        n++;
                }
        }
done:
        (void) repo_be_read_plan(r->be, ext, n);
}

int repo_restore(repo *r, const repo_record *rec, repo_file_filter_fn filter, void *filter_userdata,
                 const repo_restore_sink *sink, repo_progress_fn progress, void *progress_userdata) {
        _cleanup_free_ size_t *sel = calloc(rec->n_files + 1, sizeof(size_t));
        reader rd = {.r = r, .rec = rec};
        size_t n = 0;
        int k;

        if (!sel)
                return -ENOMEM;
        for (size_t i = 0; i < rec->n_files; i++) {
                const repo_file *f = &rec->files[i];
                repo_id got;

                if (filter && !filter(f, filter_userdata))
                        continue;
                if (f->symlink && !sink->symlink)
                        continue;
                if (f->type != REPO_FILE_REGULAR && f->type != REPO_FILE_SYMLINK)
                        continue;   /* no data: directories, hard links, specials (repo_restore_to_dir) */
                /* The file hash covers the blob list; each blob is checked against its id as it is read. */
                repo_hash_file(r, f->blobs, f->n_blobs, &got);
                if (memcmp(got.b, f->hash.b, REPO_ID_SIZE) != 0)
                        return repo_error(r, REPO_E_CORRUPT, "file '%s': blob list does not match the file hash",
                                          f->path);
                sel[n++] = i;
        }
        rd.sel = sel;
        rd.n_sel = n;
        restore_plan(r, rec, sel, n);
        k = reader_start(&rd);
        if (k < 0) {
                (void) repo_be_read_plan(r->be, NULL, 0);
                return k;
        }
        k = restore_files(&rd, sink, progress, progress_userdata);
        reader_stop(&rd);
        (void) repo_be_read_plan(r->be, NULL, 0);
        return k;
}

typedef struct dir_sink {
        int root_fd;
        const char *root;
        /* The last parent opened (manifests are sorted, so siblings come
         * together): reused instead of walking the path again. */
        char *cached_parent;
        int cached_fd;
        repo_meta_ctx meta;
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
                        return repo_error(NULL, -ENAMETOOLONG, "restore '%s': path component too long", path);
                }
                memcpy(comp, p, n);
                comp[n] = 0;
                if (create && mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
                        int e = -errno;
                        close(fd);
                        return repo_error(NULL, e, "restore '%s': %s/%.*s: %s", path, root, (int) (slash - path), path,
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
                                return repo_error(NULL, -EINVAL,
                                                  "restore '%s': refusing to write through '%.*s': it is a symlink "
                                                  "or not a directory (would escape %s)",
                                                  path, (int) (slash - path), path, root);
                        return repo_error(NULL, -e, "restore '%s': %.*s: %s", path, (int) (slash - path), path,
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

/* The parent directory of f below the root (cached for siblings), as a new fd. */
static int sink_parent(dir_sink *s, const repo_file *f, int *ret_fd, const char **ret_name) {
        const char *slash = strrchr(f->path, '/');
        size_t plen = slash ? (size_t) (slash - f->path) : 0;
        int k;

        if (s->cached_fd >= 0 && strlen(s->cached_parent) == plen && strncmp(s->cached_parent, f->path, plen) == 0) {
                *ret_fd = fcntl(s->cached_fd, F_DUPFD_CLOEXEC, 3);
                *ret_name = slash ? slash + 1 : f->path;
                return *ret_fd < 0 ? repo_error(NULL, -errno, "restore '%s': %m", f->path) : 0;
        }
        k = open_parent(s->root_fd, s->root, f->path, true, ret_fd, ret_name);
        if (k < 0)
                return k;
        char *c = strndup(f->path, plen);
        int cfd = c ? fcntl(*ret_fd, F_DUPFD_CLOEXEC, 3) : -1;
        if (cfd >= 0) {
                if (s->cached_fd >= 0)
                        close(s->cached_fd);
                free(s->cached_parent);
                s->cached_parent = c;
                s->cached_fd = cfd;
        } else
                free(c);   /* no cache this time; not an error */
        return 0;
}

static int dir_symlink(void *userdata, const repo_file *f) {
        dir_sink *s = userdata;
        const char *name = NULL;
        char tmp[64];
        int dfd = -1, k;

        k = repo_path_check(f->path);
        if (k < 0)
                return repo_error(NULL, -EINVAL, "restore: refusing manifest path: %s", repo_errmsg());
        k = sink_parent(s, f, &dfd, &name);
        if (k < 0)
                return k;
        /* A random name (as repo_tmpfile_open's) that symlinkat creates exclusively. */
        int fd = repo_tmpfile_open(dfd, tmp);
        if (fd >= 0) {
                close(fd);
                (void) unlinkat(dfd, tmp, 0);
        }
        /* The link is created as it was stored and never followed here; an
         * entry below it is refused by open_parent (R1). */
        if (fd < 0)
                k = repo_error(NULL, fd, "restore '%s': %s", f->path, strerror(-fd));
        else if (symlinkat(f->symlink, dfd, tmp) < 0)
                k = repo_error(NULL, -errno, "restore '%s': symlink: %m", f->path);
        else if ((k = repo_meta_apply_symlink(&s->meta, dfd, tmp, f)) < 0 || renameat(dfd, tmp, dfd, name) < 0) {
                if (k >= 0)
                        k = repo_error(NULL, -errno, "restore '%s': %m", f->path);
                (void) unlinkat(dfd, tmp, 0);
        }
        close(dfd);
        return k;
}

static int dir_open(void *userdata, const repo_file *f, void **ret_handle) {
        dir_sink *s = userdata;
        dir_handle *h;
        int k;

        k = repo_path_check(f->path);
        if (k < 0)
                return repo_error(NULL, -EINVAL, "restore: refusing manifest path: %s", repo_errmsg());
        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        k = sink_parent(s, f, &h->dir_fd, &h->name);
        if (k < 0) {
                free(h);
                return k;
        }
        h->fd = repo_tmpfile_open(h->dir_fd, h->tmp);
        if (h->fd < 0) {
                k = repo_error(NULL, h->fd, "restore '%s': %s", f->path, strerror(-h->fd));
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
                        return repo_error(NULL, -errno, "write: %m");
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int dir_close(void *userdata, void *handle, const repo_file *f, bool ok) {
        dir_sink *s = userdata;
        dir_handle *h = handle;
        int k = 0;

        if (ok) {
                k = repo_meta_apply_fd(&s->meta, h->fd, f);
                /* renameat replaces a symlink named like the target, it never follows it */
                if (k >= 0 && renameat(h->dir_fd, h->tmp, h->dir_fd, h->name) < 0)
                        k = repo_error(NULL, -errno, "restore '%s': %m", f->path);
        }
        if (!ok || k < 0)
                (void) unlinkat(h->dir_fd, h->tmp, 0);
        close(h->fd);
        close(h->dir_fd);
        free(h);
        return k;
}

/* Directories recorded in the backup, parents first (the manifest is
 * sorted): created 0700 so nobody enters them while their contents are
 * written; an existing one is kept (its metadata is set by finish_dirs). */
static int make_dirs(dir_sink *s, const repo_record *rec) {
        for (size_t i = 0; i < rec->n_files; i++) {
                const repo_file *f = &rec->files[i];
                const char *name = NULL;
                int pfd = -1, k;

                if (f->type != REPO_FILE_DIR)
                        continue;
                k = sink_parent(s, f, &pfd, &name);
                if (k < 0)
                        return k;
                if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
                        k = repo_error(NULL, -errno, "restore '%s': mkdir: %m", f->path);
                close(pfd);
                if (k < 0)
                        return k;
        }
        return 0;
}

static const repo_file *find_entry(const repo_record *rec, const char *path) {
        size_t lo = 0, hi = rec->n_files;
        /* sorted manifest (repo_backup_commit, repo_chain_merge) */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(rec->files[mid].path, path);
                if (c == 0)
                        return &rec->files[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* Hard links, once every regular file is in place; special files are named
 * (one warning each) and skipped: they are never created. */
static int make_hardlinks(dir_sink *s, const repo_record *rec) {
        for (size_t i = 0; i < rec->n_files; i++) {
                const repo_file *f = &rec->files[i], *t;
                const char *name = NULL, *tname = NULL;
                int pfd = -1, tfd = -1, k;
                char tmp[64];

                if (f->type >= REPO_FILE_FIFO) {
                        repo_warn("'%s': %s not restored (special files are recorded only)", f->path,
                                  repo_file_type_to_string(f->type));
                        continue;
                }
                if (f->type != REPO_FILE_HARDLINK)
                        continue;
                t = find_entry(rec, f->link);
                if (!t || t->type != REPO_FILE_REGULAR)
                        return repo_error(NULL, REPO_E_CORRUPT,
                                          "restore '%s': hard link to '%s', which is not a file of "
                                          "this backup",
                                          f->path, f->link);
                k = open_parent(s->root_fd, s->root, t->path, false, &tfd, &tname);
                if (k < 0)
                        return k;
                if (tfd < 0)
                        return repo_error(NULL, -ENOENT, "restore '%s': link target '%s' missing", f->path, f->link);
                k = sink_parent(s, f, &pfd, &name);
                if (k < 0) {
                        close(tfd);
                        return k;
                }
                int fd = repo_tmpfile_open(pfd, tmp);   /* reserve a random name, then link over it */
                if (fd >= 0) {
                        close(fd);
                        (void) unlinkat(pfd, tmp, 0);
                }
                /* linkat without AT_SYMLINK_FOLLOW never follows a symlink at the target */
                if (fd < 0)
                        k = repo_error(NULL, fd, "restore '%s': %s", f->path, strerror(-fd));
                else if (linkat(tfd, tname, pfd, tmp, 0) < 0)
                        k = repo_error(NULL, -errno, "restore '%s': link to '%s': %m", f->path, f->link);
                else if (renameat(pfd, tmp, pfd, name) < 0) {
                        k = repo_error(NULL, -errno, "restore '%s': %m", f->path);
                        (void) unlinkat(pfd, tmp, 0);
                }
                close(pfd);
                close(tfd);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* Directory metadata after their contents, deepest first (R3): a 0500
 * directory is still filled, a directory's mtime is the recorded one. */
static int finish_dirs(dir_sink *s, const repo_record *rec) {
        for (size_t i = rec->n_files; i-- > 0;) {
                const repo_file *f = &rec->files[i];
                const char *name = NULL;
                int pfd = -1, k;

                if (f->type != REPO_FILE_DIR)
                        continue;
                k = open_parent(s->root_fd, s->root, f->path, false, &pfd, &name);
                if (k < 0)
                        return k;
                if (pfd < 0)
                        return repo_error(NULL, -ENOENT, "restore '%s': directory vanished", f->path);
                int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                close(pfd);
                if (dfd < 0)
                        return repo_error(NULL, errno == ELOOP || errno == ENOTDIR ? -EINVAL : -errno,
                                          "restore '%s': not a directory: %m", f->path);
                k = repo_meta_apply_fd(&s->meta, dfd, f);
                close(dfd);
                if (k < 0)
                        return k;
        }
        return 0;
}

int repo_restore_to_dir(repo *r, const repo_record *rec, const char *dir, repo_progress_fn progress,
                        void *userdata) {
        _cleanup_close_ int root_fd = -1;
        dir_sink s = {.root = dir, .cached_fd = -1};
        repo_restore_sink sink = {.open = dir_open, .write = dir_write, .close = dir_close, .userdata = &s,
                                  .symlink = dir_symlink};
        int k;

        /* Refuse every bad path before writing anything. */
        for (size_t i = 0; i < rec->n_files; i++)
                if (repo_path_check(rec->files[i].path) < 0)
                        return repo_error(r, -EINVAL, "restore: refusing manifest path: %s", repo_errmsg());
        k = mkdir_p(dir, 0755, 0755);
        if (k < 0)
                return repo_error(r, k, "%s: %s", dir, strerror(-k));
        root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return repo_error(r, -errno, "%s: %m", dir);
        s.root_fd = root_fd;
        for (size_t i = 0; i < rec->n_files; i++) {
                int pfd = -1;
                const char *name = NULL;
                k = open_parent(root_fd, dir, rec->files[i].path, false, &pfd, &name);
                if (k < 0)
                        return repo_error_from_thread(r, k);
                if (pfd >= 0)
                        close(pfd);
        }
        repo_meta_ctx_init(&s.meta);
        /* the directory sink has no handle (as any sink): its failures are raised into r here */
        k = make_dirs(&s, rec);
        if (k < 0)
                k = repo_error_from_thread(r, k);
        if (k >= 0)
                k = repo_restore(r, rec, NULL, NULL, &sink, progress, userdata);
        if (k >= 0 && (k = make_hardlinks(&s, rec)) < 0)
                k = repo_error_from_thread(r, k);
        if (k >= 0 && (k = finish_dirs(&s, rec)) < 0)
                k = repo_error_from_thread(r, k);
        if (s.cached_fd >= 0)
                close(s.cached_fd);
        free(s.cached_parent);
        if (k < 0)
                return k;
        /* One syncfs at the end instead of an fsync per file: a restore that
         * reports success is durable; one interrupted by a crash is simply
         * run again (R2 is about verification, not durability). */
        if (syncfs(root_fd) < 0)
                return repo_error(r, -errno, "%s: syncfs: %m", dir);
        return 0;
}

int repo_restore_chain_to_dir(repo *r, const repo_id *id, const char *dir, repo_progress_fn progress,
                              void *userdata, uint64_t *ret_files, uint64_t *ret_bytes) {
        repo_record **chain = NULL;
        const repo_file **view = NULL;
        size_t n = 0, nv = 0, n_data = 0;
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
                n_data += view[i]->type == REPO_FILE_REGULAR || view[i]->type == REPO_FILE_SYMLINK ||
                          view[i]->type == REPO_FILE_HARDLINK;
        }
        merged.n_files = nv;
        k = repo_restore_to_dir(r, &merged, dir, progress, userdata);
        if (k >= 0) {
                if (ret_files)
                        *ret_files = n_data;   /* files, links and symlinks; not directories */
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
