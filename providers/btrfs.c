/* SPDX-License-Identifier: MIT */
/*
 * providers/btrfs.c: read-only snapshot of the btrfs subvolume holding a path.
 *
 * The unit ("volume") is the subvolume root.  commit makes one read-only
 * snapshot per subvolume with BTRFS_IOC_SNAP_CREATE_V2 + BTRFS_SUBVOL_RDONLY
 * into <subvolume>/.lvss-snapshots/<snapshot id>; the kernel makes it atomic
 * for the subvolume (it flushes delalloc of the source first, which is why
 * pre_commit runs syncfs).  Nested subvolumes appear as empty directories in
 * the snapshot, as with `btrfs subvolume snapshot`.
 */
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include "providers/util.h"

static int btrfs_is_supported(const char *path, char *volume) {
        char canon[LVSS_PROVIDER_PATH_MAX];
        long magic;
        const char *fsname;
        int r;

        r = pv_canonical(path, canon);
        if (r < 0)
                return r == -ENOENT ? r : LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        r = pv_fs_type(canon, &magic, &fsname);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': statfs failed: %s", path, strerror(-r));
        if (magic != (long) BTRFS_SUPER_MAGIC)
                return error_slot_set(NULL, LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                               "'%s' is on %s, not btrfs", path, fsname);
        r = pv_find_root(canon, true, volume);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': cannot find its btrfs subvolume: %s", path, strerror(-r));
        return 0;
}

static int btrfs_prepare(lvss_provider_snapshot *snap) {
        _cleanup_close_ int area = -1;
        int r;

        r = pv_fill_paths(snap, snap->volume);
        if (r < 0)
                return r;
        r = pv_area_open(snap->volume, true, &area);
        if (r < 0)
                return r;
        if (faccessat(area, snap->snapshot_id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return error_slot_set(NULL, LVSS_E_OBJECT_ALREADY_EXISTS, "snapshot '%s' already exists", snap->priv);
        return 0;
}

static int btrfs_pre_commit(lvss_provider_snapshot *const *snaps, size_t n) {
        return pv_syncfs_all(snaps, n);
}

static int destroy(int area, const char *name) {
        struct btrfs_ioctl_vol_args args = {};
        struct stat st;

        if (fstatat(area, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode) || st.st_ino != 256)
                return -ENOTDIR; /* not a subvolume: refuse to guess */
        strncpy(args.name, name, sizeof(args.name) - 1);
        if (ioctl(area, BTRFS_IOC_SNAP_DESTROY, &args) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 0;
}

static int btrfs_abort(lvss_provider_snapshot *snap);

static int btrfs_commit(lvss_provider_snapshot *const *snaps, size_t n) {
        size_t i;
        int r = 0;

        for (i = 0; i < n; i++) {
                lvss_provider_snapshot *s = snaps[i];
                struct btrfs_ioctl_vol_args_v2 args = { .flags = BTRFS_SUBVOL_RDONLY };
                _cleanup_close_ int src = open(s->volume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                _cleanup_close_ int area = -1;

                if (src < 0) {
                        r = error_slot_set(NULL, -errno, "'%s': cannot open subvolume: %m", s->volume);
                        break;
                }
                r = pv_area_open(s->volume, false, &area);
                if (r < 0) {
                        if (r == -ENOENT)
                                error_slot_set(NULL, r, "'%s': snapshot area missing: %s", s->volume, strerror(-r));
                        break;
                }
                args.fd = src;
                strncpy(args.name, s->snapshot_id, sizeof(args.name) - 1);
                if (ioctl(area, BTRFS_IOC_SNAP_CREATE_V2, &args) < 0) {
                        r = error_slot_set(NULL, -errno, "'%s': btrfs snapshot failed: %m", s->volume);
                        break;
                }
        }
        if (r < 0) {
                /* No partial commit: undo the snapshots already cut, keeping
                 * the reason of the failure (the undo must not replace it). */
                ErrorSlot reason = *error_slot_thread();
                for (size_t j = 0; j < i; j++)
                        (void) btrfs_abort(snaps[j]);
                *error_slot_thread() = reason;
        }
        return r;
}

static int btrfs_abort(lvss_provider_snapshot *snap) {
        _cleanup_close_ int area = -1;
        int r;

        if (!snap->priv[0]) {
                /* Maybe prepared by an lvssd that crashed before recording
                 * priv: derive it from the volume (the subvolume root). */
                lvss_provider_snapshot copy;
                if (!snap->volume[0] || pv_priv_derive(snap, snap->volume, &copy) < 0)
                        return 0; /* never prepared */
                return btrfs_abort(&copy);
        }
        r = pv_priv_open_area(snap, &area);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = destroy(area, snap->snapshot_id);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': cannot delete snapshot: %s", snap->priv, strerror(-r));
        return 0;
}

static int btrfs_delete(const lvss_provider_snapshot *snap) {
        _cleanup_close_ int area = -1;
        int r;

        r = pv_priv_open_area(snap, &area);
        if (r == -ENOENT)
                return 0; /* area gone: nothing left to delete */
        if (r < 0)
                return r;
        r = destroy(area, snap->snapshot_id);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': cannot delete snapshot: %s", snap->priv, strerror(-r));
        return 0;
}

static int btrfs_scan(const char *root,
                       int (*found)(const lvss_provider_snapshot *snap, int complete, void *userdata),
                       void *userdata) {
        return pv_scan_area(root, true, found, userdata);
}

const lvss_provider lvss_provider_btrfs = {
        .version = LVSS_PROVIDER_VERSION,
        .id = "6a1e3b52-4c1f-4b0e-9d3a-2f6c8e9b1a01",
        .name = "btrfs",
        .type = "filesystem",
        .is_supported = btrfs_is_supported,
        .prepare = btrfs_prepare,
        .pre_commit = btrfs_pre_commit,
        .commit = btrfs_commit,
        .post_commit = NULL,
        .abort = btrfs_abort,
        .delete_snapshot = btrfs_delete,
        .scan = btrfs_scan,
};
