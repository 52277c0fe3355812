/* SPDX-License-Identifier: MIT */
/*
 * lvss/sys/provider.h: the snapshot provider ABI (sys tier: stable within a
 * minor version).
 *
 * A provider turns "this path" into a point-in-time, read-only copy that can
 * be read at another path.  Providers are built into lvssd and called only
 * from lvssd's single thread, in the VSS order:
 *
 *   is_supported -> prepare (per snapshot) -> pre_commit -> commit -> post_commit
 *                                  \______________ abort (any time before the
 *                                                   set is complete) ______/
 *   later: delete (per snapshot)
 *   recovery: scan (per root), when lvssd lost its registry
 *
 * commit runs while writers are frozen: it must be quick and must not wait on
 * anything a frozen writer holds.  pre_commit is where slow work goes (syncfs).
 * Providers keep no state of their own between calls: everything they need
 * later is in struct lvss_provider_snapshot, which lvssd persists in its
 * snapshot registry (so delete works after an lvssd restart).
 *
 * Every method returns 0 or a negative errno / LVSS_E_* code; on failure it
 * leaves a one-line reason in the calling thread's error slot (lvss's one
 * error convention, lib/core/error-slot.h: error_slot_set(NULL, code, ...)),
 * which lvssd reads right after the call.  Version 2: version 1 passed a
 * why[256] buffer to every method.
 */
#ifndef LVSS_SYS_PROVIDER_H
#define LVSS_SYS_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include <lvss/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LVSS_PROVIDER_VERSION 2
#define LVSS_PROVIDER_ID_MAX 40     /* a UUID string plus NUL */
#define LVSS_PROVIDER_PATH_MAX 4096

/* One snapshot of one volume (provider unit) inside a snapshot set. */
typedef struct lvss_provider_snapshot {
        uint32_t version;                           /* LVSS_PROVIDER_VERSION */
        char snapshot_id[LVSS_PROVIDER_ID_MAX];     /* set by lvssd */
        char set_id[LVSS_PROVIDER_ID_MAX];          /* set by lvssd */
        char original[LVSS_PROVIDER_PATH_MAX];      /* path added to the set (absolute, canonical) */
        char volume[LVSS_PROVIDER_PATH_MAX];        /* provider unit holding it (from is_supported) */
        char path[LVSS_PROVIDER_PATH_MAX];          /* where the content is readable; set by prepare */
        char priv[LVSS_PROVIDER_PATH_MAX];          /* provider-private, persisted verbatim */
} lvss_provider_snapshot;

typedef struct lvss_provider {
        uint32_t version;        /* LVSS_PROVIDER_VERSION */
        const char *id;          /* fixed UUID string */
        const char *name;        /* "btrfs", "reflink" */
        const char *type;        /* "filesystem" (VSS: software) */

        /* Can this provider snapshot 'path'?  On yes, return 0 and fill
         * volume[LVSS_PROVIDER_PATH_MAX] with the unit that will be snapshotted
         * (two paths with the same volume share one snapshot).  On no, return
         * LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER with a reason in the
         * thread's error slot. */
        int (*is_supported)(const char *path, char *volume);

        /* Reserve what the snapshot needs (hidden area, names) and fill
         * snap->path and snap->priv.  Nothing visible to users yet. */
        int (*prepare)(lvss_provider_snapshot *snap);

        /* Slow work before writers freeze is over: flush (syncfs). */
        int (*pre_commit)(lvss_provider_snapshot *const *snaps, size_t n);

        /* Cut the snapshots.  Writers are frozen now: be quick. */
        int (*commit)(lvss_provider_snapshot *const *snaps, size_t n);

        /* After thaw: make the snapshots final (e.g. read-only). May be NULL. */
        int (*post_commit)(lvss_provider_snapshot *const *snaps, size_t n);

        /* Undo prepare/commit of one snapshot; must tolerate any earlier stage. */
        int (*abort)(lvss_provider_snapshot *snap);

        /* Delete a completed snapshot (also one made by an earlier lvssd). */
        int (*delete_snapshot)(const lvss_provider_snapshot *snap);

        /* Recovery when lvssd's registry is lost: enumerate what this
         * provider left in <root>/.lvss-snapshots (root: a mount root or a
         * btrfs subvolume root; no area = nothing found).  Calls found() for
         * each entry it made: complete = 1 for a finished snapshot "<id>"
         * (snapshot_id, volume = root, priv = path = the snapshot directory),
         * complete = 0 for leftovers of an unfinished one (".<id>.pre",
         * ".<id>.partial", ...; snapshot_id, volume and priv filled: pass it
         * to abort).  The original path is not known from disk.  A non-zero
         * return of found() stops the scan and is returned.  Only reads.
         * May be NULL (the provider cannot scan). */
        int (*scan)(const char *root,
                    int (*found)(const lvss_provider_snapshot *snap, int complete, void *userdata),
                    void *userdata);
} lvss_provider;

/* The built-in providers (lvssd). */
extern const lvss_provider lvss_provider_btrfs;
extern const lvss_provider lvss_provider_reflink;

#ifdef __cplusplus
}
#endif
#endif
