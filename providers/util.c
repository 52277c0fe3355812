/* SPDX-License-Identifier: MIT */
/* providers/util.c: path, snapshot-area and tree helpers for the providers. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/statfs.h>

#include "providers/util.h"

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

bool pv_id_valid(const char *id) {
        size_t n = 0;
        if (!id)
                return false;
        for (; id[n]; n++) {
                char c = id[n];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_';
                if (!ok || n + 1 >= LVSS_PROVIDER_ID_MAX)
                        return false;
        }
        return n > 0;
}

int pv_canonical(const char *path, char *ret) {
        _cleanup_free_ char *p = NULL;

        if (!path || path[0] != '/')
                return error_slot_set(NULL, -EINVAL, "'%s': path must be absolute", path ? path : "(null)");
        p = realpath(path, NULL);
        if (!p)
                return error_slot_set(NULL, -errno, "'%s': %m", path);
        if (strlen(p) >= LVSS_PROVIDER_PATH_MAX)
                return error_slot_set(NULL, -ENAMETOOLONG, "'%s': path too long", path);
        /* Snapshotting a snapshot would nest areas without end. */
        if (strstr(p, "/" PV_AREA "/") || (strlen(p) >= strlen("/" PV_AREA) &&
            strcmp(p + strlen(p) - strlen("/" PV_AREA), "/" PV_AREA) == 0))
                return error_slot_set(NULL, LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                               "'%s' is inside a snapshot area (" PV_AREA ")", path);
        strcpy(ret, p);
        return 0;
}

int pv_fs_type(const char *path, long *ret_magic, const char **ret_name) {
        struct statfs sfs;
        const char *name;

        if (statfs(path, &sfs) < 0)
                return -errno;
        switch ((unsigned long) sfs.f_type) {
        case BTRFS_SUPER_MAGIC: name = "btrfs"; break;
        case XFS_SUPER_MAGIC: name = "xfs"; break;
        case EXT4_SUPER_MAGIC: name = "ext4"; break;
        case TMPFS_MAGIC: name = "tmpfs"; break;
        case OVERLAYFS_SUPER_MAGIC: name = "overlayfs"; break;
        case NFS_SUPER_MAGIC: name = "nfs"; break;
        case SQUASHFS_MAGIC: name = "squashfs"; break;
        case PROC_SUPER_MAGIC: name = "proc"; break;
        case SYSFS_MAGIC: name = "sysfs"; break;
        default: name = "an unsupported filesystem"; break;
        }
        if (ret_magic)
                *ret_magic = (long) sfs.f_type;
        if (ret_name)
                *ret_name = name;
        return 0;
}

int pv_find_root(const char *path, bool btrfs_subvolume, char *ret_root) {
        char cur[LVSS_PROVIDER_PATH_MAX];
        struct stat st, parent;

        if (strlen(path) >= sizeof(cur))
                return -ENAMETOOLONG;
        strcpy(cur, path);
        if (stat(cur, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode)) {
                /* Start from the directory holding a file. */
                char *slash = strrchr(cur, '/');
                if (slash == cur)
                        slash[1] = 0;
                else
                        *slash = 0;
                if (stat(cur, &st) < 0)
                        return -errno;
        }
        for (;;) {
                /* btrfs: every subvolume root is inode 256
                 * (BTRFS_FIRST_FREE_OBJECTID), including the top level. */
                if (btrfs_subvolume && st.st_ino == 256)
                        break;
                if (strcmp(cur, "/") == 0)
                        break;
                char up[LVSS_PROVIDER_PATH_MAX];
                strcpy(up, cur);
                char *slash = strrchr(up, '/');
                if (slash == up)
                        slash[1] = 0;
                else
                        *slash = 0;
                if (stat(up, &parent) < 0)
                        return -errno;
                if (!btrfs_subvolume && parent.st_dev != st.st_dev)
                        break;
                strcpy(cur, up);
                st = parent;
        }
        strcpy(ret_root, cur);
        return 0;
}

const char *pv_relative(const char *root, const char *path) {
        size_t n = strlen(root);
        if (strcmp(root, "/") == 0)
                return path + 1;
        if (strncmp(root, path, n) != 0)
                return NULL;
        if (path[n] == 0)
                return "";
        if (path[n] != '/')
                return NULL;
        return path + n + 1;
}

/* The area must be a real directory owned by root: anything else (a
 * symlink, a file, a directory someone else made) could hand snapshots to,
 * or let them be changed by, whoever controls it. */
static int area_check(int fd, const char *root) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return error_slot_set(NULL, -errno, "'%s/" PV_AREA "': stat: %m", root);
        if (!S_ISDIR(st.st_mode))
                return error_slot_set(NULL, -ENOTDIR, "'%s/" PV_AREA "' is not a directory: refusing to use it", root);
        if (st.st_uid != 0)
                return error_slot_set(NULL, -EPERM,
                               "'%s/" PV_AREA "' is owned by uid %u, not root: refusing to keep snapshots there "
                               "(remove it)", root, (unsigned) st.st_uid);
        return 0;
}

int pv_area_open(const char *root, bool create, int *ret_fd) {
        _cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        if (rfd < 0)
                return error_slot_set(NULL, -errno, "'%s': open: %m", root);
        if (create && mkdirat(rfd, PV_AREA, PV_AREA_MODE) < 0 && errno != EEXIST)
                return error_slot_set(NULL, -errno, "'%s': cannot create " PV_AREA ": %m", root);
        /* O_NOFOLLOW + O_DIRECTORY: a symlink or a file planted under the
         * name is refused, never followed. */
        fd = openat(rfd, PV_AREA, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ELOOP || errno == ENOTDIR)
                        return error_slot_set(NULL, -errno, "'%s/" PV_AREA "' is not a directory (a symlink?): "
                                       "refusing to use it", root);
                return error_slot_set(NULL, -errno, "'%s/" PV_AREA "': %m", root);
        }
        r = area_check(fd, root);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return error_slot_set(NULL, -errno, "'%s/" PV_AREA "': stat: %m", root);
        if ((st.st_mode & 07777) != PV_AREA_MODE) {
                /* Made by an older lvss (0755) or changed by hand: the
                 * snapshots below are only root's to read and change. */
                if (fchmod(fd, PV_AREA_MODE) < 0)
                        return error_slot_set(NULL, -errno, "'%s/" PV_AREA "': mode %04o, cannot make it 0700: %m",
                                       root, (unsigned) (st.st_mode & 07777));
                fprintf(stderr, "lvss providers: '%s/" PV_AREA "' had mode %04o; changed to 0700 (root only)\n",
                        root, (unsigned) (st.st_mode & 07777));
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int pv_priv_open_area(const lvss_provider_snapshot *snap, int *ret_area_fd) {
        char area[LVSS_PROVIDER_PATH_MAX];
        const char *base;
        size_t n = strnlen(snap->priv, sizeof(snap->priv));

        if (!pv_id_valid(snap->snapshot_id))
                return error_slot_set(NULL, -EINVAL, "snapshot id '%.40s' is not a valid name", snap->snapshot_id);
        if (n == 0 || n >= sizeof(snap->priv) || snap->priv[0] != '/')
                return error_slot_set(NULL, -EINVAL, "snapshot %s: provider data is not an absolute path",
                               snap->snapshot_id);
        strcpy(area, snap->priv);
        char *slash = strrchr(area, '/');
        base = slash + 1;
        if (strcmp(base, snap->snapshot_id) != 0)
                return error_slot_set(NULL, -EINVAL, "snapshot %s: provider data '%s' does not name this snapshot",
                               snap->snapshot_id, snap->priv);
        *slash = 0;
        slash = strrchr(area, '/');
        if (!slash || strcmp(slash + 1, PV_AREA) != 0)
                return error_slot_set(NULL, -EINVAL, "snapshot %s: '%s' is not inside a " PV_AREA " area",
                               snap->snapshot_id, snap->priv);
        _cleanup_close_ int fd = open(area, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return error_slot_set(NULL, -errno, "snapshot %s: cannot open '%s': %m", snap->snapshot_id, area);
        *slash = 0;
        int r = area_check(fd, area);
        if (r < 0)
                return r;
        *ret_area_fd = TAKE_FD(fd);
        return 0;
}

int pv_fill_paths(lvss_provider_snapshot *snap, const char *root) {
        const char *rel = pv_relative(root, snap->original);
        int n;

        if (!pv_id_valid(snap->snapshot_id))
                return error_slot_set(NULL, -EINVAL, "snapshot id '%.40s' is not a valid name", snap->snapshot_id);
        if (!rel)
                return error_slot_set(NULL, -EINVAL, "'%s' is not below '%s'", snap->original, root);
        n = snprintf(snap->priv, sizeof(snap->priv), "%s/" PV_AREA "/%s",
                     strcmp(root, "/") == 0 ? "" : root, snap->snapshot_id);
        if (n < 0 || (size_t) n >= sizeof(snap->priv))
                return error_slot_set(NULL, -ENAMETOOLONG, "'%s': snapshot path too long", snap->original);
        n = snprintf(snap->path, sizeof(snap->path), "%s%s%s", snap->priv, rel[0] ? "/" : "", rel);
        if (n < 0 || (size_t) n >= sizeof(snap->path))
                return error_slot_set(NULL, -ENAMETOOLONG, "'%s': snapshot path too long", snap->original);
        return 0;
}

int pv_priv_derive(const lvss_provider_snapshot *snap, const char *root, lvss_provider_snapshot *copy) {
        int n;

        if (!root || !root[0] || !pv_id_valid(snap->snapshot_id))
                return -ENOENT;
        *copy = *snap;
        n = snprintf(copy->priv, sizeof(copy->priv), "%s/" PV_AREA "/%s", strcmp(root, "/") == 0 ? "" : root,
                     snap->snapshot_id);
        return n < 0 || (size_t) n >= sizeof(copy->priv) ? -ENAMETOOLONG : 0;
}

static int rm_children(int fd, dev_t dev) {
        DIR *d;
        struct dirent *de;
        int r = 0;
        int dfd = dup(fd);

        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return -errno;
        }
        while ((errno = 0, de = readdir(d))) {
                struct stat st;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (st.st_dev != dev) {
                                r = -EXDEV; /* never remove through a mount or subvolume */
                                break;
                        }
                        _cleanup_close_ int cfd = openat(fd, de->d_name,
                                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0) {
                                r = -errno;
                                break;
                        }
                        r = rm_children(cfd, dev);
                        if (r < 0)
                                break;
                        if (unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0) {
                                r = -errno;
                                break;
                        }
                } else if (unlinkat(fd, de->d_name, 0) < 0) {
                        r = -errno;
                        break;
                }
        }
        if (r == 0 && errno != 0)
                r = -errno;
        closedir(d);
        return r;
}

int pv_rm_tree(int dirfd, const char *name) {
        struct stat st, top;
        int r;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
        if (fstat(dirfd, &top) < 0)
                return -errno;
        if (st.st_dev != top.st_dev)
                return -EXDEV;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = rm_children(fd, st.st_dev);
        if (r < 0)
                return r;
        return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

int pv_syncfs_all(lvss_provider_snapshot *const *snaps, size_t n) {
        for (size_t i = 0; i < n; i++) {
                bool seen = false;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(snaps[j]->volume, snaps[i]->volume) == 0)
                                seen = true;
                if (seen)
                        continue;
                _cleanup_close_ int fd = open(snaps[i]->volume, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return error_slot_set(NULL, -errno, "'%s': cannot open for syncfs: %m", snaps[i]->volume);
                if (syncfs(fd) < 0)
                        return error_slot_set(NULL, -errno, "'%s': syncfs failed: %m", snaps[i]->volume);
        }
        return 0;
}

static int scan_report(const char *root, const char *id, int complete,
                       int (*found)(const lvss_provider_snapshot *snap, int complete, void *userdata),
                       void *userdata) {
        lvss_provider_snapshot snap = { .version = LVSS_PROVIDER_VERSION };

        if (strlen(root) >= sizeof(snap.volume) ||
            snprintf(snap.priv, sizeof(snap.priv), "%s/" PV_AREA "/%s", strcmp(root, "/") == 0 ? "" : root, id) >=
                    (int) sizeof(snap.priv))
                return 0; /* cannot name it: not ours to report */
        strcpy(snap.snapshot_id, id);
        strcpy(snap.volume, root);
        if (complete)
                strcpy(snap.path, snap.priv);
        return found(&snap, complete, userdata);
}

int pv_scan_area(const char *root, bool subvolumes,
                 int (*found)(const lvss_provider_snapshot *snap, int complete, void *userdata),
                 void *userdata) {
        static const char *const leftovers[] = { ".pre", ".partial", ".premaps" };
        _cleanup_close_ int area = -1;
        struct statfs sfs;
        struct dirent *de;
        DIR *d;
        bool on_btrfs;
        int r;

        r = pv_area_open(root, false, &area);
        if (r == -ENOENT) {
                error_slot_clear(NULL);   /* no area: nothing to report */
                return 0;
        }
        if (r < 0)
                return r;   /* the thread's error slot says which rule refused it */
        if (fstatfs(area, &sfs) < 0)
                return error_slot_set(NULL, -errno, "'%s': statfs: %m", root);
        on_btrfs = sfs.f_type == (typeof(sfs.f_type)) BTRFS_SUPER_MAGIC;
        if (subvolumes && !on_btrfs)
                return 0;
        d = fdopendir(area);
        if (!d)
                return error_slot_set(NULL, -errno, "'%s': cannot list " PV_AREA ": %m", root);
        area = -1; /* owned by d */
        r = 0;
        while (r == 0 && (de = readdir(d))) {
                char id[LVSS_PROVIDER_ID_MAX];
                struct stat st;

                if (de->d_name[0] == '.') {
                        /* .<id>.pre / .<id>.partial / .<id>.premaps (reflink) */
                        const char *dot = strrchr(de->d_name, '.');
                        size_t n = dot ? (size_t) (dot - de->d_name) - 1 : 0;
                        bool known = false;

                        if (subvolumes || !dot || dot == de->d_name || n == 0 || n >= sizeof(id))
                                continue;
                        for (size_t i = 0; i < ELEMENTSOF(leftovers); i++)
                                known = known || strcmp(dot, leftovers[i]) == 0;
                        memcpy(id, de->d_name + 1, n);
                        id[n] = 0;
                        if (known && pv_id_valid(id))
                                r = scan_report(root, id, 0, found, userdata);
                        continue;
                }
                if (!pv_id_valid(de->d_name) ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                if ((on_btrfs && st.st_ino == 256) != subvolumes)
                        continue;
                r = scan_report(root, de->d_name, 1, found, userdata);
        }
        closedir(d);
        return r;
}
