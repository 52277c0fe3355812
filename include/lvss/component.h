/* SPDX-License-Identifier: MIT */
/*
 * lvss/component.h: components of the Backup Components Document (BCD)
 * [IVssWriterComponents, IVssComponent].
 *
 * The BCD lists, per writer, the components the requestor added explicitly,
 * with per-component state.  Requestors reach it through
 * lvss_backup_get_writer_components(); writers get their own part passed to
 * on_prepare_backup, on_post_snapshot, on_backup_complete, on_pre_restore and
 * on_post_restore.
 *
 * Who may set what (vss-model §5.3), enforced: a setter called by the wrong
 * side or outside its edit window returns LVSS_E_BAD_STATE.
 *   requestor: backup_succeeded, backup_options, restore_options,
 *              previous_backup_stamp, selected_for_restore,
 *              additional_restores, file_restore_status
 *   writer (PrepareForBackup, PostSnapshot): backup_stamp, backup_metadata,
 *              prepare_for_backup_failure_msg, post_snapshot_failure_msg,
 *              partial files, differenced files
 *   writer (PreRestore, PostRestore): restore_target, restore_metadata,
 *              pre_restore_failure_msg, post_restore_failure_msg
 * The BCD is read-only for writers from BackupComplete on.
 *
 * Objects here are borrowed from their lvss_backup or from the event being
 * delivered: a writer's lvss_writer_components is valid only inside the
 * callback; a requestor's until the lvss_backup is freed or re-initialised.
 * Strings returned are borrowed likewise and change when the value is set.
 * Setters copy their argument.  Thread: the owner's thread only.
 */
#ifndef LVSS_COMPONENT_H
#define LVSS_COMPONENT_H

#include <stddef.h>
#include <stdint.h>

#include <lvss/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lvss_writer_components lvss_writer_components;
typedef struct lvss_component lvss_component;

/* [IVssWriterComponents] */
int lvss_writer_components_get_count(const lvss_writer_components *wc);
/* Writer instance and class id of this part of the BCD (borrowed). */
int lvss_writer_components_get_writer_info(const lvss_writer_components *wc,
                                           const char **ret_instance_id, const char **ret_writer_id);
int lvss_writer_components_get_component(lvss_writer_components *wc, size_t i, lvss_component **ret);

/* [IVssComponent] identity */
const char *lvss_component_get_logical_path(const lvss_component *c);  /* "" for top level */
const char *lvss_component_get_name(const lvss_component *c);
lvss_component_type lvss_component_get_type(const lvss_component *c);

/* Booleans: getters return 0/1 or a negative code. */
int lvss_component_get_backup_succeeded(const lvss_component *c);
int lvss_component_set_backup_succeeded(lvss_component *c, int succeeded);
int lvss_component_is_selected_for_restore(const lvss_component *c);
int lvss_component_set_selected_for_restore(lvss_component *c, int selected);
int lvss_component_get_additional_restores(const lvss_component *c);
int lvss_component_set_additional_restores(lvss_component *c, int additional);

/* Strings: getters return a borrowed string or NULL when unset. */
const char *lvss_component_get_backup_options(const lvss_component *c);
int lvss_component_set_backup_options(lvss_component *c, const char *options);
const char *lvss_component_get_restore_options(const lvss_component *c);
int lvss_component_set_restore_options(lvss_component *c, const char *options);
const char *lvss_component_get_backup_stamp(const lvss_component *c);
int lvss_component_set_backup_stamp(lvss_component *c, const char *stamp);
const char *lvss_component_get_previous_backup_stamp(const lvss_component *c);
int lvss_component_set_previous_backup_stamp(lvss_component *c, const char *stamp);
const char *lvss_component_get_backup_metadata(const lvss_component *c);
int lvss_component_set_backup_metadata(lvss_component *c, const char *metadata);
const char *lvss_component_get_restore_metadata(const lvss_component *c);
int lvss_component_set_restore_metadata(lvss_component *c, const char *metadata);

/* Restore target (writer, PreRestore) and file restore status (requestor). */
lvss_restore_target lvss_component_get_restore_target(const lvss_component *c);
int lvss_component_set_restore_target(lvss_component *c, lvss_restore_target target);
lvss_file_restore_status lvss_component_get_file_restore_status(const lvss_component *c);
int lvss_component_set_file_restore_status(lvss_component *c, lvss_file_restore_status status);

/* Failure messages set by the writer for the requestor to show. */
const char *lvss_component_get_prepare_for_backup_failure_msg(const lvss_component *c);
int lvss_component_set_prepare_for_backup_failure_msg(lvss_component *c, const char *msg);
const char *lvss_component_get_post_snapshot_failure_msg(const lvss_component *c);
int lvss_component_set_post_snapshot_failure_msg(lvss_component *c, const char *msg);
const char *lvss_component_get_pre_restore_failure_msg(const lvss_component *c);
int lvss_component_set_pre_restore_failure_msg(lvss_component *c, const char *msg);
const char *lvss_component_get_post_restore_failure_msg(const lvss_component *c);
int lvss_component_set_post_restore_failure_msg(lvss_component *c, const char *msg);

/* Partial files [AddPartialFile]: copy only the listed byte ranges of a
 * file.  ranges: "offset:length" pairs separated by commas (decimal or 0x
 * hex), or the absolute path of a ranges file (which must be backed up too).
 * Differenced files [AddDifferencedFilesByLastModifyTime]: for incremental
 * and differential backups, only files of the set changed after
 * last_modify_usec (CLOCK_REALTIME µs; 0 = the requestor decides).
 * Writer side, PrepareForBackup or PostSnapshot; at most 1024 of each.
 * Strings in the returned structs are borrowed like every other getter's. */
typedef struct lvss_partial_file {
        const char *path;
        const char *filename;
        const char *ranges;
        const char *metadata;           /* NULL if none */
} lvss_partial_file;

typedef struct lvss_differenced_file {
        const char *path;
        const char *filespec;
        int recursive;
        uint64_t last_modify_usec;
} lvss_differenced_file;

int lvss_component_add_partial_file(lvss_component *c, const char *path, const char *filename,
                                    const char *ranges, const char *metadata);
int lvss_component_get_partial_file_count(const lvss_component *c);
int lvss_component_get_partial_file(const lvss_component *c, size_t i, lvss_partial_file *ret);
int lvss_component_add_differenced_files_by_last_modify_time(lvss_component *c, const char *path,
                                                            const char *filespec, int recursive,
                                                            uint64_t last_modify_usec);
int lvss_component_get_differenced_files_count(const lvss_component *c);
int lvss_component_get_differenced_file(const lvss_component *c, size_t i, lvss_differenced_file *ret);

#ifdef __cplusplus
}
#endif
#endif
