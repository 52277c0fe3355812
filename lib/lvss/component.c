/* SPDX-License-Identifier: MIT */
/*
 * Public accessors of the backup components document (component.h).  Each
 * setter checks who may edit the field right now (bcd->edit, set by the
 * requestor code or by the writer's event dispatch) so that a writer cannot
 * set requestor fields, nor anyone edit outside the VSS edit windows.
 */
#include <errno.h>
#include <string.h>

#include <lvss/component.h>

#include "lib/core/macro.h"
#include "lib/lvss/doc.h"

static int check(const struct lvss_component *c) {
        if (!c)
                return -EINVAL;
        return lvss_doc_thread_check(c->wc->bcd->check_owner, c->wc->bcd->owner);
}

static int check_edit(const struct lvss_component *c, unsigned who) {
        int r = check(c);
        if (r < 0)
                return r;
        if (!(c->wc->bcd->edit & who))
                return LVSS_E_BAD_STATE;
        return 0;
}

static int set_str(struct lvss_component *c, unsigned who, char **field, const char *v) {
        char *n = NULL;
        int r = check_edit(c, who);

        if (r < 0)
                return r;
        if (v && strlen(v) > LVSS_DOC_MAX_STRING)
                return -E2BIG;
        if (v && !(n = strdup(v)))
                return -ENOMEM;
        free(*field);
        *field = n;
        return 0;
}

int lvss_writer_components_get_count(const lvss_writer_components *wc) {
        int r;

        if (!wc)
                return -EINVAL;
        r = lvss_doc_thread_check(wc->bcd->check_owner, wc->bcd->owner);
        return r < 0 ? r : (int) wc->n;
}

int lvss_writer_components_get_writer_info(const lvss_writer_components *wc,
                                           const char **ret_instance_id, const char **ret_writer_id) {
        int r;

        if (!wc)
                return -EINVAL;
        r = lvss_doc_thread_check(wc->bcd->check_owner, wc->bcd->owner);
        if (r < 0)
                return r;
        if (ret_instance_id)
                *ret_instance_id = wc->instance_id;
        if (ret_writer_id)
                *ret_writer_id = wc->writer_id;
        return 0;
}

int lvss_writer_components_get_component(lvss_writer_components *wc, size_t i, lvss_component **ret) {
        int r;

        if (!wc || !ret)
                return -EINVAL;
        r = lvss_doc_thread_check(wc->bcd->check_owner, wc->bcd->owner);
        if (r < 0)
                return r;
        if (i >= wc->n)
                return LVSS_E_OBJECT_NOT_FOUND;
        *ret = wc->comps[i];
        return 0;
}

const char *lvss_component_get_logical_path(const lvss_component *c) {
        return check(c) < 0 ? NULL : c->logical_path;
}

const char *lvss_component_get_name(const lvss_component *c) {
        return check(c) < 0 ? NULL : c->name;
}

lvss_component_type lvss_component_get_type(const lvss_component *c) {
        return check(c) < 0 ? LVSS_CT_UNDEFINED : c->type;
}

#define BOOL_FIELD(getter, setter, field, who)                         \
        int getter(const lvss_component *c) {                         \
                int r = check(c);                                     \
                return r < 0 ? r : c->field;                          \
        }                                                             \
        int setter(lvss_component *c, int v) {                        \
                int r = check_edit(c, who);                           \
                if (r < 0)                                            \
                        return r;                                     \
                c->field = !!v;                                       \
                return 0;                                             \
        }

BOOL_FIELD(lvss_component_get_backup_succeeded, lvss_component_set_backup_succeeded, backup_succeeded,
           LVSS_EDIT_REQUESTOR)
BOOL_FIELD(lvss_component_is_selected_for_restore, lvss_component_set_selected_for_restore,
           selected_for_restore, LVSS_EDIT_REQUESTOR)
BOOL_FIELD(lvss_component_get_additional_restores, lvss_component_set_additional_restores,
           additional_restores, LVSS_EDIT_REQUESTOR)

#define STR_FIELD(getter, setter, field, who)                          \
        const char *getter(const lvss_component *c) {                 \
                return check(c) < 0 ? NULL : c->field;                \
        }                                                             \
        int setter(lvss_component *c, const char *v) {                \
                return set_str(c, who, &c->field, v);                 \
        }

STR_FIELD(lvss_component_get_backup_options, lvss_component_set_backup_options, backup_options,
          LVSS_EDIT_REQUESTOR)
STR_FIELD(lvss_component_get_restore_options, lvss_component_set_restore_options, restore_options,
          LVSS_EDIT_REQUESTOR)
STR_FIELD(lvss_component_get_backup_stamp, lvss_component_set_backup_stamp, backup_stamp,
          LVSS_EDIT_WRITER_BACKUP)
STR_FIELD(lvss_component_get_previous_backup_stamp, lvss_component_set_previous_backup_stamp,
          previous_backup_stamp, LVSS_EDIT_REQUESTOR)
STR_FIELD(lvss_component_get_backup_metadata, lvss_component_set_backup_metadata, backup_metadata,
          LVSS_EDIT_WRITER_BACKUP)
STR_FIELD(lvss_component_get_restore_metadata, lvss_component_set_restore_metadata, restore_metadata,
          LVSS_EDIT_WRITER_RESTORE)
STR_FIELD(lvss_component_get_prepare_for_backup_failure_msg, lvss_component_set_prepare_for_backup_failure_msg,
          pfb_msg, LVSS_EDIT_WRITER_BACKUP)
STR_FIELD(lvss_component_get_post_snapshot_failure_msg, lvss_component_set_post_snapshot_failure_msg, ps_msg,
          LVSS_EDIT_WRITER_BACKUP)
STR_FIELD(lvss_component_get_pre_restore_failure_msg, lvss_component_set_pre_restore_failure_msg, pre_msg,
          LVSS_EDIT_WRITER_RESTORE)
STR_FIELD(lvss_component_get_post_restore_failure_msg, lvss_component_set_post_restore_failure_msg, post_msg,
          LVSS_EDIT_WRITER_RESTORE)

lvss_restore_target lvss_component_get_restore_target(const lvss_component *c) {
        return check(c) < 0 ? LVSS_RT_UNDEFINED : c->restore_target;
}

int lvss_component_set_restore_target(lvss_component *c, lvss_restore_target target) {
        int r = check_edit(c, LVSS_EDIT_WRITER_RESTORE);

        if (r < 0)
                return r;
        if (!lvss_restore_target_to_string(target) || target == LVSS_RT_UNDEFINED)
                return -EINVAL;
        c->restore_target = target;
        return 0;
}

lvss_file_restore_status lvss_component_get_file_restore_status(const lvss_component *c) {
        return check(c) < 0 ? LVSS_RS_UNDEFINED : c->file_restore_status;
}

int lvss_component_set_file_restore_status(lvss_component *c, lvss_file_restore_status status) {
        int r = check_edit(c, LVSS_EDIT_REQUESTOR);

        if (r < 0)
                return r;
        if (!lvss_file_restore_status_to_string(status))
                return -EINVAL;
        c->file_restore_status = status;
        return 0;
}

int lvss_component_add_partial_file(lvss_component *c, const char *path, const char *filename,
                                    const char *ranges, const char *metadata) {
        int r = check_edit(c, LVSS_EDIT_WRITER_BACKUP);
        return r < 0 ? r : lvss_doc_component_add_partial(c, path, filename, ranges, metadata);
}

int lvss_component_get_partial_file_count(const lvss_component *c) {
        int r = check(c);
        return r < 0 ? r : (int) c->n_partials;
}

int lvss_component_get_partial_file(const lvss_component *c, size_t i, lvss_partial_file *ret) {
        int r = check(c);

        if (r < 0)
                return r;
        if (!ret)
                return -EINVAL;
        if (i >= c->n_partials)
                return LVSS_E_OBJECT_NOT_FOUND;
        *ret = (lvss_partial_file) { c->partials[i].path, c->partials[i].filename, c->partials[i].ranges,
                                     c->partials[i].metadata };
        return 0;
}

int lvss_component_add_differenced_files_by_last_modify_time(lvss_component *c, const char *path,
                                                            const char *filespec, int recursive,
                                                            uint64_t last_modify_usec) {
        int r = check_edit(c, LVSS_EDIT_WRITER_BACKUP);
        return r < 0 ? r : lvss_doc_component_add_diffed(c, path, filespec, !!recursive, last_modify_usec);
}

int lvss_component_get_differenced_files_count(const lvss_component *c) {
        int r = check(c);
        return r < 0 ? r : (int) c->n_diffs;
}

int lvss_component_get_differenced_file(const lvss_component *c, size_t i, lvss_differenced_file *ret) {
        int r = check(c);

        if (r < 0)
                return r;
        if (!ret)
                return -EINVAL;
        if (i >= c->n_diffs)
                return LVSS_E_OBJECT_NOT_FOUND;
        *ret = (lvss_differenced_file) { c->diffs[i].path, c->diffs[i].filespec, c->diffs[i].recursive,
                                         c->diffs[i].last_modify_usec };
        return 0;
}
