/* SPDX-License-Identifier: MIT */
/*
 * providers/util.h: helpers shared by the built-in providers (internal).
 *
 * Snapshot layout used by every provider (see docs/design/providers.md):
 *
 *   <root>/.lvss-snapshots/<snapshot id>/<original relative to root>
 *
 * where <root> is the btrfs subvolume root (btrfs) or the mount root
 * (reflink).  priv holds the absolute snapshot directory
 * "<root>/.lvss-snapshots/<snapshot id>", so delete needs nothing else.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include <lvss/sys/provider.h>

#include "lib/core/error-slot.h"
#include "lib/core/macro.h"

#define PV_AREA ".lvss-snapshots"
#define PV_AREA_MODE 0700 /* snapshots are root's alone: nobody else reads or changes them */


/* A snapshot id must be a plain, safe file name: [A-Za-z0-9_-], 1..39 chars. */
bool pv_id_valid(const char *id);

/* realpath() into ret[LVSS_PROVIDER_PATH_MAX]; refuses paths inside a
 * snapshot area.  Reasons go to the thread's error slot. */
int pv_canonical(const char *path, char *ret);

/* Human name of the filesystem holding path ("ext4", "xfs", ...) from its
 * statfs magic; ret_magic gets the raw magic. */
int pv_fs_type(const char *path, long *ret_magic, const char **ret_name);

/* Walk up from the canonical path to the directory where the snapshot area
 * lives.  btrfs_subvolume: the root of the btrfs subvolume holding path
 * (inode 256); otherwise the mount root (the last ancestor on the same
 * device). */
int pv_find_root(const char *path, bool btrfs_subvolume, char *ret_root);

/* path relative to root ("" when equal); root must be a prefix of path. */
const char *pv_relative(const char *root, const char *path);

/* Open (and create when create) <root>/.lvss-snapshots: a directory owned
 * by root, mode 0700.  A symlink or non-directory under that name, or one
 * owned by another uid, is refused (reason in the thread's error slot); a root-owned one with
 * another mode (older lvss made it 0755) is changed to 0700, with a line
 * on stderr. */
int pv_area_open(const char *root, bool create, int *ret_fd);

/* Check that snap->priv is "<something>/.lvss-snapshots/<snapshot id>" and
 * open its area directory (which must be a directory owned by root).  This guard keeps a damaged registry entry from
 * making delete remove anything else. */
int pv_priv_open_area(const lvss_provider_snapshot *snap, int *ret_area_fd);

/* Fill snap->path and snap->priv from the root: priv = area/<id>,
 * path = priv/<original relative to root>. */
int pv_fill_paths(lvss_provider_snapshot *snap, const char *root);

/* For abort after a crash between the registry write and prepare: when
 * snap->priv is empty, derive it from the root of snap->volume and the id
 * (prepare would have written the same).  Returns 0 and fills
 * copy->priv, or -ENOENT when there is nothing to derive from. */
int pv_priv_derive(const lvss_provider_snapshot *snap, const char *root, lvss_provider_snapshot *copy);

/* Remove name under dirfd recursively, never following symlinks and never
 * descending into another device (mount point or btrfs subvolume). */
int pv_rm_tree(int dirfd, const char *name);

/* syncfs() the filesystem holding each distinct snap->volume. */
int pv_syncfs_all(lvss_provider_snapshot *const *snaps, size_t n);

/* The scan operation of both providers: entries of <root>/.lvss-snapshots
 * that are btrfs subvolume roots (subvolumes = true) or plain directories
 * and reflink leftovers ".<id>.pre|.partial|.premaps" (false); see
 * lvss_provider.scan. */
int pv_scan_area(const char *root, bool subvolumes,
                 int (*found)(const lvss_provider_snapshot *snap, int complete, void *userdata),
                 void *userdata);
