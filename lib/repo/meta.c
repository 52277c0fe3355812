/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/meta.c: file metadata beyond the data (manifest entry version 2,
 * docs/design/repository.md §6.2): owner and group (ids and names),
 * extended attributes of every namespace readable (POSIX ACLs are the
 * system.posix_acl_access/default attributes, stored and restored as such),
 * and the rules for restoring them.
 *
 * Capture reads through an fd the walk already opened (regular files,
 * directories) and never opens anything else: symlinks and special files get
 * their owner from lstat only.  Restore order on one fd: owner, then
 * extended attributes (a chown clears security.capability), then mode (after
 * the ACL, so the mask is the recorded group bits), then mtime.  Set-id bits
 * are restored only together with the owner (never a root-owned set-uid file
 * made from a user's).
 */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "repo-int.h"

static repo_warn_fn warn_fn;
static void *warn_userdata;

void repo_set_warn_handler(repo_warn_fn fn, void *userdata) {
        warn_fn = fn;
        warn_userdata = userdata;
}

void repo_warn(const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (warn_fn)
                warn_fn(msg, warn_userdata);
        else
                fprintf(stderr, "warning: %s\n", msg);
}

static const char *const type_names[_REPO_FILE_TYPE_MAX] = {
        [REPO_FILE_REGULAR] = "file",   [REPO_FILE_SYMLINK] = "symlink", [REPO_FILE_DIR] = "dir",
        [REPO_FILE_HARDLINK] = "hardlink", [REPO_FILE_FIFO] = "fifo",    [REPO_FILE_SOCKET] = "socket",
        [REPO_FILE_CHARDEV] = "chardev", [REPO_FILE_BLOCKDEV] = "blockdev",
};

const char *repo_file_type_to_string(int t) {
        return t >= 0 && t < _REPO_FILE_TYPE_MAX ? type_names[t] : NULL;
}

int repo_file_type_from_string(const char *s) {
        for (int i = 0; s && i < _REPO_FILE_TYPE_MAX; i++)
                if (strcmp(s, type_names[i]) == 0)
                        return i;
        return -EINVAL;
}

void repo_file_clear(repo_file *f) {
        free(f->path);
        free(f->blobs);
        free(f->symlink);
        free(f->user);
        free(f->group);
        free(f->link);
        for (size_t i = 0; i < f->n_xattrs; i++) {
                free(f->xattrs[i].name);
                free(f->xattrs[i].value);
        }
        free(f->xattrs);
        f->path = f->symlink = f->user = f->group = f->link = NULL;
        f->blobs = NULL;
        f->xattrs = NULL;
        f->n_xattrs = f->n_blobs = 0;
}

int repo_file_copy_meta(repo_file *dst, const repo_file *src) {
        dst->user = dst->group = dst->link = NULL;
        dst->xattrs = NULL;
        dst->n_xattrs = 0;
        if ((src->user && !(dst->user = strdup(src->user))) || (src->group && !(dst->group = strdup(src->group))) ||
            (src->link && !(dst->link = strdup(src->link))))
                return -ENOMEM;
        if (src->n_xattrs) {
                dst->xattrs = calloc(src->n_xattrs, sizeof(repo_xattr));
                if (!dst->xattrs)
                        return -ENOMEM;
                for (size_t i = 0; i < src->n_xattrs; i++) {
                        repo_xattr *x = &dst->xattrs[i];
                        x->name = strdup(src->xattrs[i].name);
                        x->value = malloc(src->xattrs[i].size ? src->xattrs[i].size : 1);
                        dst->n_xattrs++;
                        if (!x->name || !x->value)
                                return -ENOMEM;
                        memcpy(x->value, src->xattrs[i].value, src->xattrs[i].size);
                        x->size = src->xattrs[i].size;
                }
        }
        return 0;
}

/* ---- capture ---- */

static int id_name(bool user, uint32_t id, char **ret) {
        /* Names are looked up once per id: a tree has few owners. */
        static __thread uint32_t last_id[2] = {UINT32_MAX, UINT32_MAX};
        static __thread char last_name[2][256];
        static __thread bool last_found[2];
        int w = user ? 0 : 1;

        *ret = NULL;
        if (last_id[w] != id) {
                char buf[16384];
                const char *name = NULL;
                if (user) {
                        struct passwd pw, *pp = NULL;
                        if (getpwuid_r(id, &pw, buf, sizeof buf, &pp) == 0 && pp)
                                name = pp->pw_name;
                } else {
                        struct group gr, *gp = NULL;
                        if (getgrgid_r(id, &gr, buf, sizeof buf, &gp) == 0 && gp)
                                name = gp->gr_name;
                }
                last_found[w] = name && strlen(name) < sizeof last_name[w];
                if (last_found[w])
                        snprintf(last_name[w], sizeof last_name[w], "%s", name);
                last_id[w] = id;
        }
        if (!last_found[w])
                return 0;
        *ret = strdup(last_name[w]);
        return *ret ? 0 : -ENOMEM;
}

static int xattr_cmp(const void *a, const void *b) {
        return strcmp(((const repo_xattr *) a)->name, ((const repo_xattr *) b)->name);
}

/* Every extended attribute of fd this process may read, at most
 * REPO_MAX_XATTRS bytes of names and values in all (a hard limit: a file
 * over it fails the backup with a clear error rather than being stored
 * without some of its attributes). */
static int capture_xattrs(int fd, const char *path, repo_file *f) {
        _cleanup_free_ char *list = NULL;
        ssize_t n;
        size_t total = 0;

        for (;;) {
                n = flistxattr(fd, NULL, 0);
                if (n < 0 && (errno == ENOTSUP || errno == ENOSYS))
                        return 0;
                if (n < 0)
                        return repo_error(NULL, -errno, "%s: listing extended attributes: %m", path);
                if (n == 0)
                        return 0;
                if ((size_t) n > REPO_MAX_XATTRS)
                        return repo_error(NULL, -E2BIG, "%s: extended attribute names exceed the limit (%u bytes)",
                                          path, REPO_MAX_XATTRS);
                free(list);
                list = malloc((size_t) n);
                if (!list)
                        return -ENOMEM;
                ssize_t got = flistxattr(fd, list, (size_t) n);
                if (got < 0 && errno == ERANGE)
                        continue;   /* grew meanwhile */
                if (got < 0)
                        return repo_error(NULL, -errno, "%s: listing extended attributes: %m", path);
                n = got;
                break;
        }
        for (const char *name = list; name < list + n; name += strlen(name) + 1) {
                size_t nlen = strlen(name);
                if (nlen == 0)
                        continue;
                ssize_t vs = fgetxattr(fd, name, NULL, 0);
                if (vs < 0 && (errno == ENODATA || errno == ENOTSUP))
                        continue;   /* removed meanwhile */
                if (vs < 0)
                        return repo_error(NULL, -errno, "%s: extended attribute %s: %m", path, name);
                total += nlen + (size_t) vs;
                if (total > REPO_MAX_XATTRS)
                        return repo_error(NULL, -E2BIG, "%s: extended attributes exceed the limit (%u bytes)", path,
                                          REPO_MAX_XATTRS);
                repo_xattr *xs = reallocarray(f->xattrs, f->n_xattrs + 1, sizeof *xs);
                if (!xs)
                        return -ENOMEM;
                f->xattrs = xs;
                repo_xattr *x = &xs[f->n_xattrs];
                *x = (repo_xattr) {.name = strdup(name), .value = malloc(vs ? (size_t) vs : 1)};
                f->n_xattrs++;
                if (!x->name || !x->value)
                        return -ENOMEM;
                ssize_t got = vs ? fgetxattr(fd, name, x->value, (size_t) vs) : 0;
                if (got < 0)
                        return repo_error(NULL, errno == ERANGE ? -EAGAIN : -errno,
                                          "%s: extended attribute %s changed while read: %m", path, name);
                x->size = (size_t) got;
        }
        if (f->n_xattrs > 1)
                qsort(f->xattrs, f->n_xattrs, sizeof *f->xattrs, xattr_cmp);
        return 0;
}

int repo_meta_capture(int fd, const struct stat *st, const char *path, repo_file *f) {
        int k;

        f->has_owner = true;
        f->uid = st->st_uid;
        f->gid = st->st_gid;
        f->mode = st->st_mode & 07777;
        f->mtime_ns = (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
        f->ctime_ns = (int64_t) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
        f->ino = (uint64_t) st->st_ino;
        if ((k = id_name(true, st->st_uid, &f->user)) < 0 || (k = id_name(false, st->st_gid, &f->group)) < 0)
                return k;
        return fd >= 0 ? capture_xattrs(fd, path, f) : 0;
}

/* ---- restore ---- */

void repo_meta_ctx_init(repo_meta_ctx *m) {
        *m = (repo_meta_ctx) {.root = geteuid() == 0};
}

/* Whether f's owner is (or can be made) the owner of what `chown_fn` acts
 * on; warns once when not running as root. */
static bool restore_owner(repo_meta_ctx *m, const repo_file *f, int (*chown_fn)(const void *, uid_t, gid_t),
                          const void *target) {
        if (!f->has_owner) {
                m->owners_skipped++;
                return false;   /* version 1 entry: no owner recorded */
        }
        if (m->root) {
                if (chown_fn(target, f->uid, f->gid) == 0)
                        return true;
                repo_warn("'%s': cannot restore owner %u:%u: %m", f->path, f->uid, f->gid);
                m->owners_skipped++;
                return false;
        }
        if (f->uid == geteuid() && f->gid == getegid())
                return true;   /* already ours */
        if (!m->warned_owner) {
                repo_warn("not running as root: file owners are not restored (the files belong to uid %u); "
                          "set-user-ID and set-group-ID bits are dropped from them",
                          (unsigned) geteuid());
                m->warned_owner = true;
        }
        m->owners_skipped++;
        return false;
}

static int fd_chown(const void *p, uid_t u, gid_t g) {
        return fchown(*(const int *) p, u, g);
}

int repo_meta_apply_fd(repo_meta_ctx *m, int fd, const repo_file *f) {
        bool owner = restore_owner(m, f, fd_chown, &fd);
        uint32_t mode = f->mode & 07777;

        for (size_t i = 0; i < f->n_xattrs; i++) {
                const repo_xattr *x = &f->xattrs[i];
                if (fsetxattr(fd, x->name, x->value, x->size, 0) == 0)
                        continue;
                m->xattrs_failed++;
                if (!m->warned_xattr) {
                        repo_warn("'%s': cannot restore extended attribute %s: %m (further failures counted, "
                                  "not shown)", f->path, x->name);
                        m->warned_xattr = true;
                }
        }
        if (!owner && (mode & (S_ISUID | S_ISGID))) {
                mode &= ~(uint32_t) (S_ISUID | S_ISGID);
                m->setid_dropped++;
        }
        struct timespec ts[2] = {
                {.tv_nsec = UTIME_OMIT},
                {.tv_sec = f->mtime_ns / 1000000000, .tv_nsec = f->mtime_ns % 1000000000},
        };
        if (fchmod(fd, mode) < 0 || futimens(fd, ts) < 0)
                return repo_error(NULL, -errno, "restore '%s': %m", f->path);
        return 0;
}

typedef struct at_target {
        int dfd;
        const char *name;
} at_target;

static int at_chown(const void *p, uid_t u, gid_t g) {
        const at_target *t = p;
        return fchownat(t->dfd, t->name, u, g, AT_SYMLINK_NOFOLLOW);
}

int repo_meta_apply_symlink(repo_meta_ctx *m, int dfd, const char *name, const repo_file *f) {
        at_target t = {dfd, name};
        struct timespec ts[2] = {
                {.tv_nsec = UTIME_OMIT},
                {.tv_sec = f->mtime_ns / 1000000000, .tv_nsec = f->mtime_ns % 1000000000},
        };

        (void) restore_owner(m, f, at_chown, &t);
        if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return repo_error(NULL, -errno, "restore '%s': %m", f->path);
        return 0;
}

int repo_tmpfile_open(int dir_fd, char ret_name[64]) {
        for (int tries = 0; tries < 16; tries++) {
                uint8_t rnd[8];
                char rhex[17];
                randombytes_buf(rnd, sizeof rnd);
                sodium_bin2hex(rhex, sizeof rhex, rnd, sizeof rnd);
                snprintf(ret_name, 64, ".lvss-restore-%s", rhex);
                int fd = openat(dir_fd, ret_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0 || errno != EEXIST)
                        return fd >= 0 ? fd : -errno;
        }
        return -EEXIST;
}
