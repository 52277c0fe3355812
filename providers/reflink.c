/* SPDX-License-Identifier: MIT */
/*
 * providers/reflink.c: FICLONE copies of the files under a directory.
 *
 * The unit ("volume") is the added directory (or file) itself.  commit walks
 * it and clones every regular file with FICLONE into
 *   <mount root>/.lvss-snapshots/.<id>.partial/<path relative to mount root>
 * recreating directories, symlinks, fifos and device nodes with their modes,
 * owners and times, then renames ".<id>.partial" to "<id>": a directory named
 * <id> is always complete (invariant 3 of docs/design/providers.md).
 *
 * Cost is O(files + extents), not bytes.  Consistency across files comes
 * from the writers' freeze; each single FICLONE is atomic for its file.
 * Not preserved: hard links (each name becomes its own clone), extended
 * attributes, sockets; other mounts below the directory are skipped (like a
 * volume snapshot, it stops at filesystem boundaries).
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "providers/util.h"

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

#define MAX_DEPTH 256

/* Does this filesystem clone?  Probe with two unnamed temporary files in dir:
 * XFS without reflink answers EOPNOTSUPP.  Nothing becomes visible. */
static int probe_reflink(const char *dir) {
        _cleanup_close_ int a = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (a < 0)
                return -errno;
        _cleanup_close_ int b = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (b < 0)
                return -errno;
        if (write(a, "lvss", 4) != 4)
                return -EIO;
        if (ioctl(b, FICLONE, a) < 0)
                return -errno;
        return 0;
}

static int reflink_is_supported(const char *path, char *volume, char *why) {
        char canon[LVSS_PROVIDER_PATH_MAX], root[LVSS_PROVIDER_PATH_MAX];
        long magic;
        const char *fsname;
        struct stat st;
        int r;

        r = pv_canonical(path, canon, why);
        if (r < 0)
                return r == -ENOENT ? r : LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        r = pv_fs_type(canon, &magic, &fsname);
        if (r < 0)
                return pv_fail(why, r, "'%s': statfs failed: %s", path, strerror(-r));
        if (magic != (long) XFS_SUPER_MAGIC && magic != (long) BTRFS_SUPER_MAGIC)
                return pv_fail(why, LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                               "'%s' is on %s, which cannot clone files (reflink needs XFS with reflink=1 or btrfs)",
                               path, fsname);
        if (stat(canon, &st) < 0)
                return pv_fail(why, -errno, "'%s': %m", path);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return pv_fail(why, LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                               "'%s' is neither a directory nor a regular file", path);
        r = pv_find_root(canon, false, root);
        if (r < 0)
                return pv_fail(why, r, "'%s': cannot find its mount root: %s", path, strerror(-r));
        r = probe_reflink(root);
        if (r == -EOPNOTSUPP || r == -EINVAL || r == -ENOTTY)
                return pv_fail(why, LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                               "'%s' is on %s without reflink (create it with mkfs.xfs -m reflink=1)",
                               path, magic == (long) XFS_SUPER_MAGIC ? "XFS" : fsname);
        if (r < 0)
                return pv_fail(why, LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                               "'%s': cannot clone files in '%s': %s", path, root, strerror(-r));
        strcpy(volume, canon);
        return 0;
}

static int reflink_prepare(lvss_provider_snapshot *snap, char *why) {
        char root[LVSS_PROVIDER_PATH_MAX];
        _cleanup_close_ int area = -1;
        int r;

        r = pv_find_root(snap->volume, false, root);
        if (r < 0)
                return pv_fail(why, r, "'%s': cannot find its mount root: %s", snap->volume, strerror(-r));
        /* The snapshot shows the added unit; content lives under priv. */
        r = pv_fill_paths(snap, root, why);
        if (r < 0)
                return r;
        r = pv_area_open(root, true, &area);
        if (r < 0)
                return pv_fail(why, r, "'%s': cannot create " PV_AREA ": %s", root, strerror(-r));
        if (faccessat(area, snap->snapshot_id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return pv_fail(why, LVSS_E_OBJECT_ALREADY_EXISTS, "snapshot '%s' already exists", snap->priv);
        return 0;
}

static int reflink_pre_commit(lvss_provider_snapshot *const *snaps, size_t n, char *why) {
        return pv_syncfs_all(snaps, n, why);
}

/* Copy context: what to skip and where errors are reported. */
struct copy {
        dev_t dev;             /* the unit's device: other mounts are skipped */
        dev_t area_dev;        /* the snapshot area: never copied into itself */
        ino_t area_ino;
        char *why;
        const char *top;       /* for messages */
};

static int set_meta(int dfd, const char *name, const struct stat *st, bool is_link) {
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        int flags = is_link ? AT_SYMLINK_NOFOLLOW : 0;

        if (fchownat(dfd, name, st->st_uid, st->st_gid, flags) < 0 && errno != EPERM)
                return -errno;
        if (!is_link && fchmodat(dfd, name, st->st_mode & 07777, 0) < 0)
                return -errno;
        if (utimensat(dfd, name, ts, flags) < 0)
                return -errno;
        return 0;
}

static int copy_entry(struct copy *c, int sfd, int dfd, const char *name, int depth);

static int copy_children(struct copy *c, int s, int d, int depth) {
        DIR *dir;
        struct dirent *de;
        int r = 0;
        int s2 = fcntl(s, F_DUPFD_CLOEXEC, 3);

        if (s2 < 0)
                return -errno;
        dir = fdopendir(s2);
        if (!dir) {
                close(s2);
                return -errno;
        }
        while ((errno = 0, de = readdir(dir))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                r = copy_entry(c, s, d, de->d_name, depth + 1);
                if (r < 0)
                        break;
        }
        if (r == 0 && errno != 0)
                r = pv_fail(c->why, -errno, "'%s': readdir: %m", c->top);
        closedir(dir);
        return r;
}

static int copy_dir(struct copy *c, int sfd, int dfd, const char *name, const struct stat *st, int depth) {
        _cleanup_close_ int s = -1, d = -1;
        int r;

        if (depth > MAX_DEPTH)
                return pv_fail(c->why, -ELOOP, "'%s': directory tree deeper than %d", c->top, MAX_DEPTH);
        if (mkdirat(dfd, name, 0700) < 0)
                return pv_fail(c->why, -errno, "'%s': mkdir '%s' in snapshot: %m", c->top, name);
        s = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0)
                return pv_fail(c->why, -errno, "'%s': open directory '%s': %m", c->top, name);
        d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d < 0)
                return pv_fail(c->why, -errno, "'%s': open snapshot directory '%s': %m", c->top, name);
        r = copy_children(c, s, d, depth);
        if (r < 0)
                return r;
        /* Times last: creating entries changed the directory's mtime. */
        r = set_meta(dfd, name, st, false);
        if (r < 0)
                return pv_fail(c->why, r, "'%s': set attributes of '%s': %s", c->top, name, strerror(-r));
        return 0;
}

static int copy_file(struct copy *c, int sfd, int dfd, const char *name, const struct stat *st) {
        _cleanup_close_ int s = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (s < 0)
                return pv_fail(c->why, -errno, "'%s': open '%s': %m", c->top, name);
        _cleanup_close_ int d = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (d < 0)
                return pv_fail(c->why, -errno, "'%s': create '%s' in snapshot: %m", c->top, name);
        if (ioctl(d, FICLONE, s) < 0)
                return pv_fail(c->why, -errno, "'%s': FICLONE of '%s' failed: %m", c->top, name);
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        if ((fchown(d, st->st_uid, st->st_gid) < 0 && errno != EPERM) ||
            fchmod(d, st->st_mode & 07777) < 0 || futimens(d, ts) < 0)
                return pv_fail(c->why, -errno, "'%s': set attributes of '%s': %m", c->top, name);
        return 0;
}

static int copy_entry(struct copy *c, int sfd, int dfd, const char *name, int depth) {
        struct stat st;
        int r;

        if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0; /* removed while we walked: not part of the snapshot */
                return pv_fail(c->why, -errno, "'%s': stat '%s': %m", c->top, name);
        }
        if (st.st_dev == c->area_dev && st.st_ino == c->area_ino)
                return 0;
        if (st.st_dev != c->dev)
                return 0; /* another mount or subvolume: not part of this unit */

        switch (st.st_mode & S_IFMT) {
        case S_IFDIR:
                return copy_dir(c, sfd, dfd, name, &st, depth);
        case S_IFREG:
                return copy_file(c, sfd, dfd, name, &st);
        case S_IFLNK: {
                char target[PATH_MAX];
                ssize_t n = readlinkat(sfd, name, target, sizeof(target) - 1);
                if (n < 0)
                        return pv_fail(c->why, -errno, "'%s': readlink '%s': %m", c->top, name);
                target[n] = 0;
                if (symlinkat(target, dfd, name) < 0)
                        return pv_fail(c->why, -errno, "'%s': symlink '%s' in snapshot: %m", c->top, name);
                r = set_meta(dfd, name, &st, true);
                break;
        }
        case S_IFIFO:
        case S_IFCHR:
        case S_IFBLK:
                if (mknodat(dfd, name, st.st_mode, st.st_rdev) < 0)
                        return pv_fail(c->why, -errno, "'%s': mknod '%s' in snapshot: %m", c->top, name);
                r = set_meta(dfd, name, &st, false);
                break;
        default:
                return 0; /* sockets have no content to keep */
        }
        if (r < 0)
                return pv_fail(c->why, r, "'%s': set attributes of '%s': %s", c->top, name, strerror(-r));
        return 0;
}

/* Create the directories between the snapshot dir and the unit's parent,
 * with the modes and owners of the originals, so permissions on the way
 * to the data stay what they were. */
static int make_parents(const char *root, const char *rel, int snapfd, int *ret_parent_fd, char *why) {
        char buf[LVSS_PROVIDER_PATH_MAX];
        _cleanup_close_ int cur = fcntl(snapfd, F_DUPFD_CLOEXEC, 3);
        _cleanup_close_ int src = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *p, *slash;

        if (cur < 0 || src < 0)
                return pv_fail(why, -errno, "'%s': open: %m", root);
        strcpy(buf, rel);
        p = buf;
        while ((slash = strchr(p, '/'))) {
                struct stat st;
                *slash = 0;
                if (fstatat(src, p, &st, 0) < 0)
                        return pv_fail(why, -errno, "'%s/%s': %m", root, buf);
                if (mkdirat(cur, p, 0700) < 0)
                        return pv_fail(why, -errno, "mkdir '%s' in snapshot: %m", buf);
                int r = set_meta(cur, p, &st, false);
                if (r < 0)
                        return pv_fail(why, r, "set attributes of '%s' in snapshot: %s", buf, strerror(-r));
                int nsrc = openat(src, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                int ncur = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (nsrc < 0 || ncur < 0) {
                        r = -errno;
                        if (nsrc >= 0)
                                close(nsrc);
                        if (ncur >= 0)
                                close(ncur);
                        return pv_fail(why, r, "open '%s': %s", buf, strerror(-r));
                }
                close(src);
                close(cur);
                src = nsrc;
                cur = ncur;
                *slash = '/';
                p = slash + 1;
        }
        *ret_parent_fd = TAKE_FD(cur);
        return 0;
}

static int partial_name(const lvss_provider_snapshot *s, char *buf, size_t n) {
        int k = snprintf(buf, n, ".%s.partial", s->snapshot_id);
        return (k < 0 || (size_t) k >= n) ? -ENAMETOOLONG : 0;
}

/* Copy a unit that is not the mount root: recreate its parents (relative
 * path rel under root) inside the snapshot directory, then copy it there. */
static int copy_below_root(struct copy *c, const char *root, const char *rel, int snapfd, char *why) {
        char up[LVSS_PROVIDER_PATH_MAX];
        _cleanup_close_ int parent = -1, srcparent = -1;
        const char *base = strrchr(c->top, '/') + 1;
        int r;

        r = make_parents(root, rel, snapfd, &parent, why);
        if (r < 0)
                return r;
        strcpy(up, c->top);
        char *sl = strrchr(up, '/');
        if (sl == up)
                sl[1] = 0;
        else
                *sl = 0;
        srcparent = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (srcparent < 0)
                return pv_fail(why, -errno, "'%s': open: %m", up);
        return copy_entry(c, srcparent, parent, base, 0);
}

/* The unit is the mount root: its children go straight into the snapshot
 * directory (the area itself is skipped), then the root's attributes. */
static int copy_root(struct copy *c, const char *root, int snapfd, char *why) {
        struct stat rst;
        _cleanup_close_ int src = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r;

        if (src < 0 || fstat(src, &rst) < 0)
                return pv_fail(why, -errno, "'%s': open: %m", root);
        r = copy_children(c, src, snapfd, 0);
        if (r < 0)
                return r;
        struct timespec ts[2] = { rst.st_atim, rst.st_mtim };
        if ((fchown(snapfd, rst.st_uid, rst.st_gid) < 0 && errno != EPERM) ||
            fchmod(snapfd, rst.st_mode & 07777) < 0 || futimens(snapfd, ts) < 0)
                return pv_fail(why, -errno, "'%s': set attributes of snapshot: %m", root);
        return 0;
}

static int clone_one(lvss_provider_snapshot *s, char *why) {
        char root[LVSS_PROVIDER_PATH_MAX], partial[LVSS_PROVIDER_ID_MAX + 16];
        _cleanup_close_ int area = -1, snapfd = -1;
        struct stat ast, vst;
        const char *rel;
        int r;

        r = pv_find_root(s->volume, false, root);
        if (r < 0)
                return pv_fail(why, r, "'%s': cannot find its mount root: %s", s->volume, strerror(-r));
        rel = pv_relative(root, s->volume);
        if (!rel)
                return pv_fail(why, -EINVAL, "'%s' is not below '%s'", s->volume, root);
        r = pv_area_open(root, false, &area);
        if (r < 0)
                return pv_fail(why, r, "'%s': snapshot area missing: %s", root, strerror(-r));
        if (fstat(area, &ast) < 0 || stat(s->volume, &vst) < 0)
                return pv_fail(why, -errno, "'%s': stat: %m", s->volume);
        r = partial_name(s, partial, sizeof(partial));
        if (r < 0)
                return pv_fail(why, r, "snapshot id too long");
        (void) pv_rm_tree(area, partial); /* leftover of a crash */
        if (mkdirat(area, partial, 0755) < 0)
                return pv_fail(why, -errno, "'%s': mkdir %s: %m", root, partial);
        snapfd = openat(area, partial, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (snapfd < 0)
                return pv_fail(why, -errno, "'%s': open %s: %m", root, partial);

        struct copy c = {
                .dev = vst.st_dev, .area_dev = ast.st_dev, .area_ino = ast.st_ino,
                .why = why, .top = s->volume,
        };
        r = rel[0] == 0 ? copy_root(&c, root, snapfd, why) : copy_below_root(&c, root, rel, snapfd, why);
        if (r < 0)
                return r;
        /* Publish atomically: a directory named <id> is always complete. */
        if (renameat(area, partial, area, s->snapshot_id) < 0)
                return pv_fail(why, -errno, "'%s': rename %s: %m", root, partial);
        return 0;
}

static int reflink_abort(lvss_provider_snapshot *snap, char *why);

static int reflink_commit(lvss_provider_snapshot *const *snaps, size_t n, char *why) {
        size_t i;
        int r = 0;

        for (i = 0; i < n; i++) {
                r = clone_one(snaps[i], why);
                if (r < 0)
                        break;
        }
        if (r < 0)
                /* No partial commit: remove this one's partial copy and the
                 * snapshots already made. */
                for (size_t j = 0; j <= i && j < n; j++)
                        (void) reflink_abort(snaps[j], NULL);
        return r;
}

static int remove_snapshot(const lvss_provider_snapshot *snap, char *why) {
        char partial[LVSS_PROVIDER_ID_MAX + 16];
        _cleanup_close_ int area = -1;
        int r;

        r = pv_priv_open_area(snap, &area, why);
        if (r == -ENOENT)
                return 0; /* area gone: nothing left to delete */
        if (r < 0)
                return r;
        r = partial_name(snap, partial, sizeof(partial));
        if (r < 0)
                return pv_fail(why, r, "snapshot id too long");
        r = pv_rm_tree(area, partial);
        if (r >= 0)
                r = pv_rm_tree(area, snap->snapshot_id);
        if (r < 0)
                return pv_fail(why, r, "'%s': cannot delete snapshot: %s", snap->priv, strerror(-r));
        return 0;
}

static int reflink_abort(lvss_provider_snapshot *snap, char *why) {
        if (!snap->priv[0])
                return 0; /* never prepared */
        return remove_snapshot(snap, why);
}

static int reflink_delete(const lvss_provider_snapshot *snap, char *why) {
        return remove_snapshot(snap, why);
}

const lvss_provider lvss_provider_reflink = {
        .version = LVSS_PROVIDER_VERSION,
        .id = "6a1e3b52-4c1f-4b0e-9d3a-2f6c8e9b1a02",
        .name = "reflink",
        .type = "filesystem",
        .is_supported = reflink_is_supported,
        .prepare = reflink_prepare,
        .pre_commit = reflink_pre_commit,
        .commit = reflink_commit,
        .post_commit = NULL,
        .abort = reflink_abort,
        .delete_snapshot = reflink_delete,
};
