/* SPDX-License-Identifier: MIT */
/*
 * lvss/requestor.h: the requestor API [IVssBackupComponents].
 *
 * An lvss_backup is one backup, restore or query session with the
 * coordinator lvssd (D-Bus service org.lvss.Coordinator1 on the system bus,
 * or on the bus whose address is in $LVSS_BUS).  It serves one sequence and
 * cannot be reused.  Freeing it (or the process dying) ends the session: the
 * coordinator aborts an unfinished snapshot set, sends BackupShutdown to the
 * writers and deletes the session's auto-release snapshots at once.
 *
 * Backup sequence (vss-model §2):
 *   lvss_backup_new -> initialize_for_backup -> [set_context] ->
 *   set_backup_state -> gather_writer_metadata (async) -> add_component... ->
 *   [set_backup_options / set_previous_backup_stamp] -> start_snapshot_set ->
 *   add_to_snapshot_set... -> prepare_for_backup (async) ->
 *   gather_writer_status (async) -> do_snapshot_set (async) ->
 *   get_snapshot_properties ... copy ... -> set_backup_succeeded... ->
 *   backup_complete (async) -> save_as_json -> lvss_backup_free
 * Restore sequence (vss-model §7):
 *   lvss_backup_new -> initialize_for_restore(saved BCD) ->
 *   gather_writer_metadata -> set_selected_for_restore... ->
 *   [set_additional_restores, set_restore_options] -> pre_restore (async) ->
 *   ... write files ... -> set_file_restore_status... -> post_restore (async)
 *
 * A call made out of order returns LVSS_E_BAD_STATE.  Only one snapshot set
 * may be in creation system-wide: start_snapshot_set returns
 * LVSS_E_SNAPSHOT_SET_IN_PROGRESS while another exists (retry later).
 *
 * Errors: every function returns 0 (or a non-negative count) on success and a
 * negative errno or LVSS_E_* code on failure; lvss_backup_last_error() then
 * holds a one-line message naming the object and the reason.  Common codes:
 * LVSS_E_ACCESS_DENIED (caller is not root, not in group "backup" and not
 * allowed by lvssd's configuration), LVSS_E_WRITER_INFRASTRUCTURE (lvssd not
 * reachable), LVSS_E_WRONG_THREAD, -EINVAL (NULL or malformed argument).
 *
 * Threads: an lvss_backup and everything borrowed from it belong to the
 * thread that created it; calls from any other thread return
 * LVSS_E_WRONG_THREAD and change nothing.
 */
#ifndef LVSS_REQUESTOR_H
#define LVSS_REQUESTOR_H

#include <stddef.h>
#include <stdint.h>

#include <lvss/async.h>
#include <lvss/component.h>
#include <lvss/metadata.h>
#include <lvss/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lvss_backup lvss_backup;

/* [VSS_SNAPSHOT_PROP] all strings owned by the struct; free the struct with
 * lvss_snapshot_prop_clear() (it does not free the struct itself). */
typedef struct lvss_snapshot_prop {
        lvss_id snapshot_id;
        lvss_id snapshot_set_id;
        int32_t snapshots_count;        /* snapshots in the set when created */
        char *original;                 /* the path added to the set */
        char *volume;                   /* provider unit that was snapshotted */
        char *path;                     /* where the snapshot content is readable
                                         * (snapshot device object) */
        lvss_id provider_id;
        char *provider_name;
        uint32_t context;               /* LVSS_CTX_* */
        uint64_t created_usec;          /* CLOCK_REALTIME, microseconds */
        lvss_snapshot_state state;
} lvss_snapshot_prop;

void lvss_snapshot_prop_clear(lvss_snapshot_prop *p);

/* [VSS_PROVIDER_PROP] */
typedef struct lvss_provider_prop {
        lvss_id provider_id;
        char name[64];
        char type[32];                  /* "filesystem" */
        uint32_t version;
} lvss_provider_prop;

/* [GetWriterStatus] strings borrowed until the next gather/free_writer_status. */
typedef struct lvss_writer_status {
        const char *instance_id;
        const char *writer_id;
        const char *writer_name;
        const char *instance_name;
        lvss_writer_state state;
        int failure;                    /* 0 or LVSS_E_WRITERERROR_* etc. */
        int application_error;          /* writer-defined, 0 if none */
        const char *message;            /* "" if none */
        uint64_t freeze_window_usec;    /* Freeze sent -> Thaw answered in this
                                         * session's DoSnapshotSet; 0 if none */
} lvss_writer_status;

/* ---------------------------------------------------------------- lifetime */

/* [CreateVssBackupComponents] connect to the bus.  The caller owns *ret.
 * lvssd itself is first contacted by initialize_for_backup/_restore (which
 * fail with LVSS_E_WRITER_INFRASTRUCTURE when it is not running, or
 * LVSS_E_ACCESS_DENIED).  Errors: LVSS_E_WRITER_INFRASTRUCTURE (no bus),
 * -ENOMEM. */
int lvss_backup_new(lvss_backup **ret);

/* [Release] end the session (see top of file).  NULL-safe; returns NULL.
 * Any lvss_async of this session must be freed first. */
lvss_backup *lvss_backup_free(lvss_backup *b);

/* End the session and wait for lvssd's answer, which comes once the session
 * and its auto-release snapshots are gone.  0 when none is open.  When lvssd
 * could not delete an auto-release snapshot it stays listed (deleted at the
 * next lvssd start) and this returns LVSS_E_UNEXPECTED_PROVIDER_ERROR, with
 * lvss_backup_last_error() naming the first snapshot left and why.  The
 * session is closed whatever the result; call lvss_backup_free afterwards
 * (which then sends no Close).  A caller that does not care about leftovers
 * may call lvss_backup_free alone. */
int lvss_backup_close(lvss_backup *b);

/* One line describing the last failure on this handle ("" if none). Borrowed
 * until the next call on the handle. */
const char *lvss_backup_last_error(const lvss_backup *b);

/* Event-loop integration: the fd to poll (for POLLIN, plus POLLOUT when
 * lvss_backup_get_events says so) and a process call that makes pending
 * operations progress without blocking.  process returns >0 if it did work. */
int lvss_backup_get_fd(lvss_backup *b);
int lvss_backup_get_events(lvss_backup *b);
int lvss_backup_process(lvss_backup *b);

/* ---------------------------------------------------------- initialization */

/* [InitializeForBackup] bcd_json: NULL for a new document. */
int lvss_backup_initialize_for_backup(lvss_backup *b, const char *bcd_json);
/* [InitializeForRestore] bcd_json: the document saved by the backup.
 * Errors: LVSS_E_CORRUPT_XML_DOCUMENT, LVSS_E_INVALID_XML_DOCUMENT. */
int lvss_backup_initialize_for_restore(lvss_backup *b, const char *bcd_json);
/* [SetContext] LVSS_CTX_*; default LVSS_CTX_BACKUP.  Before start_snapshot_set.
 * Errors: LVSS_E_UNSUPPORTED_CONTEXT. */
int lvss_backup_set_context(lvss_backup *b, uint32_t context);
/* [SetBackupState] before prepare_for_backup. */
int lvss_backup_set_backup_state(lvss_backup *b, int select_components,
                                 int bootable_system_state, lvss_backup_type type,
                                 int partial_file_support);
/* [SetRestoreState] */
int lvss_backup_set_restore_state(lvss_backup *b, lvss_restore_type type);

/* ------------------------------------------------------------- discovery */

/* [EnableWriterClasses] [DisableWriterClasses] [DisableWriterInstances]
 * Before gather_writer_metadata: only writers of the enabled classes (all,
 * if none was enabled), minus disabled classes and instances, take part in
 * the session; the others get no event at all.  ids: n UUID strings (at most
 * 256 per list, copied; calls add to the list). */
int lvss_backup_enable_writer_classes(lvss_backup *b, const char *const *class_ids, size_t n);
int lvss_backup_disable_writer_classes(lvss_backup *b, const char *const *class_ids, size_t n);
int lvss_backup_disable_writer_instances(lvss_backup *b, const char *const *instance_ids, size_t n);

/* [GatherWriterMetadata] Identify to every registered writer; writers that
 * fail Identify are simply absent.  Once per session. */
int lvss_backup_gather_writer_metadata(lvss_backup *b, lvss_async **ret_async);
/* [GetWriterMetadataCount] after the gather finished. */
int lvss_backup_get_writer_metadata_count(lvss_backup *b);
/* [GetWriterMetadata] borrowed until lvss_backup_free_writer_metadata or
 * lvss_backup_free; *ret_instance_id may be NULL-ed by passing NULL. */
int lvss_backup_get_writer_metadata(lvss_backup *b, size_t i, const char **ret_instance_id,
                                    const lvss_writer_metadata **ret_wm);
/* [FreeWriterMetadata] */
int lvss_backup_free_writer_metadata(lvss_backup *b);

/* ------------------------------------------------------------ components */

/* [AddComponent] the writer instance must have been found by the gather and
 * declare the component.  Errors: LVSS_E_OBJECT_NOT_FOUND,
 * LVSS_E_OBJECT_ALREADY_EXISTS, LVSS_E_BAD_STATE. */
int lvss_backup_add_component(lvss_backup *b, const char *instance_id, const char *writer_id,
                              lvss_component_type type, const char *logical_path, const char *name);
/* [SetBackupOptions] [SetPreviousBackupStamp] before prepare_for_backup. */
int lvss_backup_set_backup_options(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                   const char *logical_path, const char *name, const char *options);
int lvss_backup_set_previous_backup_stamp(lvss_backup *b, const char *writer_id,
                                          lvss_component_type type, const char *logical_path,
                                          const char *name, const char *stamp);
/* [SetBackupSucceeded] after do_snapshot_set, before backup_complete. */
int lvss_backup_set_backup_succeeded(lvss_backup *b, const char *instance_id, const char *writer_id,
                                     lvss_component_type type, const char *logical_path,
                                     const char *name, int succeeded);
/* [GetWriterComponentsCount] [GetWriterComponents] the BCD's writers
 * (borrowed, see component.h).  Components are read-only to the requestor
 * except through its own setters. */
int lvss_backup_get_writer_components_count(lvss_backup *b);
int lvss_backup_get_writer_components(lvss_backup *b, size_t i, lvss_writer_components **ret);

/* Every component of every writer in the BCD, in document order, without
 * the two nested count/get loops:
 *
 *     lvss_component_iter it = LVSS_COMPONENT_ITER_INIT;
 *     lvss_writer_components *wc;
 *     lvss_component *c;
 *     while ((r = lvss_backup_next_component(b, &it, &wc, &c)) > 0)
 *             ...;
 *
 * Returns 1 with the next component and its writer's part (both borrowed, as
 * from lvss_backup_get_writer_components; ret_wc may be NULL), 0 after the
 * last one, or a negative error (LVSS_E_BAD_STATE before a BCD exists).
 * The iterator is two counters the caller owns; the BCD must not be
 * re-initialised while iterating. */
typedef struct lvss_component_iter {
        size_t writer;
        size_t component;
} lvss_component_iter;
#define LVSS_COMPONENT_ITER_INIT { 0, 0 }
int lvss_backup_next_component(lvss_backup *b, lvss_component_iter *it, lvss_writer_components **ret_wc,
                               lvss_component **ret);

/* -------------------------------------------------------------- snapshots */

/* [StartSnapshotSet] Errors: LVSS_E_SNAPSHOT_SET_IN_PROGRESS, LVSS_E_BAD_STATE. */
int lvss_backup_start_snapshot_set(lvss_backup *b, lvss_id *ret_set_id);
/* [IsVolumeSupported] 1 yes, 0 no (reason in last_error), or an error.
 * provider: NULL = any, else a provider id or name ("btrfs", "reflink"). */
int lvss_backup_is_volume_supported(lvss_backup *b, const char *provider, const char *path);
/* [AddToSnapshotSet] path: an existing absolute path; the snapshot covers the
 * provider unit (volume) holding it.  Errors: LVSS_E_VOLUME_NOT_SUPPORTED
 * (with the reason), LVSS_E_PROVIDER_NOT_REGISTERED,
 * LVSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED (64 per set), LVSS_E_BAD_STATE. */
int lvss_backup_add_to_snapshot_set(lvss_backup *b, const char *path, const char *provider,
                                    lvss_id *ret_snapshot_id);
/* [PrepareForBackup] writers may veto: the async then completes with
 * LVSS_E_BACKUP_REFUSED and gather_writer_status tells who and why. */
int lvss_backup_prepare_for_backup(lvss_backup *b, lvss_async **ret_async);
/* [DoSnapshotSet] PrepareForSnapshot, Freeze by level, provider commit, Thaw
 * in reverse, PostSnapshot.  Any failure fails the whole set (no partial
 * commit).  Errors: LVSS_E_BACKUP_REFUSED (writer veto at PrepareForSnapshot
 * or Freeze), LVSS_E_WRITERERROR_TIMEOUT (Freeze->Thaw window exceeded),
 * LVSS_E_WRITER_NOT_RESPONDING, LVSS_E_PROVIDER_VETO,
 * LVSS_E_UNEXPECTED_PROVIDER_ERROR, LVSS_E_BAD_STATE. */
int lvss_backup_do_snapshot_set(lvss_backup *b, lvss_async **ret_async);
/* [GatherWriterStatus] then read with get_writer_status. */
int lvss_backup_gather_writer_status(lvss_backup *b, lvss_async **ret_async);
int lvss_backup_get_writer_status_count(lvss_backup *b);
int lvss_backup_get_writer_status(lvss_backup *b, size_t i, lvss_writer_status *ret);
int lvss_backup_free_writer_status(lvss_backup *b);
/* The whole set's freeze window of this session's DoSnapshotSet (first
 * Freeze sent -> last Thaw answered), in usec.  LVSS_E_BAD_STATE before
 * do_snapshot_set finished. */
int lvss_backup_get_freeze_window(lvss_backup *b, uint64_t *ret_usec);
/* [GetSnapshotProperties] *ret filled (caller clears with
 * lvss_snapshot_prop_clear).  Errors: LVSS_E_OBJECT_NOT_FOUND. */
int lvss_backup_get_snapshot_properties(lvss_backup *b, const char *snapshot_id,
                                        lvss_snapshot_prop *ret);
/* Convenience: the path inside the session's snapshot that corresponds to
 * original path 'path' (caller frees *ret_path with lvss_free).
 * Errors: LVSS_E_OBJECT_NOT_FOUND if no snapshot of the set covers it. */
int lvss_backup_get_snapshot_path(lvss_backup *b, const char *path, char **ret_path);
/* [BackupComplete] writers may truncate logs (full/incremental/log only). */
int lvss_backup_backup_complete(lvss_backup *b, lvss_async **ret_async);
/* [AbortBackup] ignored (returns 0) when nothing is in progress. */
int lvss_backup_abort_backup(lvss_backup *b);
/* [SaveAsXML] the BCD as JSON; the caller frees *ret_json with lvss_free(). */
int lvss_backup_save_as_json(lvss_backup *b, char **ret_json);

/* ------------------------------------------------------- query and delete */

/* [DeleteSnapshots] type LVSS_OBJECT_SNAPSHOT or LVSS_OBJECT_SNAPSHOT_SET;
 * id "" with LVSS_OBJECT_NONE deletes every snapshot (admin).  Stops at the
 * first failure: *ret_deleted counts deleted ones and *ret_non_deleted (may be
 * NULL) names the one that failed. */
int lvss_backup_delete_snapshots(lvss_backup *b, const char *id, lvss_object_type type, int force,
                                 size_t *ret_deleted, lvss_id *ret_non_deleted);
/* [Query] every finished snapshot (all contexts).  *ret_props is an array of
 * *ret_n entries; free with lvss_snapshot_props_free(). */
int lvss_backup_query_snapshots(lvss_backup *b, lvss_snapshot_prop **ret_props, size_t *ret_n);
void lvss_snapshot_props_free(lvss_snapshot_prop *props, size_t n);
/* [Query providers] *ret_props freed with lvss_free(). */
int lvss_backup_query_providers(lvss_backup *b, lvss_provider_prop **ret_props, size_t *ret_n);

/* --------------------------------------------------------------- restore */

/* [SetSelectedForRestore] the writer must be running (else
 * LVSS_E_OBJECT_NOT_FOUND).  A component the document does not hold but that
 * the running writer declares selectable for restore inside the component
 * set of one it holds (e.g. one database of a backed-up storage group) is
 * added as a restore subcomponent [AddRestoreSubcomponent]; this needs
 * gather_writer_metadata first. */
int lvss_backup_set_selected_for_restore(lvss_backup *b, const char *writer_id,
                                         lvss_component_type type, const char *logical_path,
                                         const char *name, int selected);
/* [SetAdditionalRestores] true: more restores follow; writer waits with recovery. */
int lvss_backup_set_additional_restores(lvss_backup *b, const char *writer_id,
                                        lvss_component_type type, const char *logical_path,
                                        const char *name, int additional);
/* [SetRestoreOptions] */
int lvss_backup_set_restore_options(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                    const char *logical_path, const char *name, const char *options);
/* [PreRestore] writers check targets and may refuse (LVSS_E_BACKUP_REFUSED). */
int lvss_backup_pre_restore(lvss_backup *b, lvss_async **ret_async);
/* [SetFileRestoreStatus] for every selected component, before post_restore. */
int lvss_backup_set_file_restore_status(lvss_backup *b, const char *writer_id,
                                        lvss_component_type type, const char *logical_path,
                                        const char *name, lvss_file_restore_status status);
/* [PostRestore] */
int lvss_backup_post_restore(lvss_backup *b, lvss_async **ret_async);

#ifdef __cplusplus
}
#endif
#endif
