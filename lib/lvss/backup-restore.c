/* SPDX-License-Identifier: MIT */
/*
 * A restore session's marks in the document (selected for restore,
 * additional restores, restore options, file restore status) and its steps
 * PreRestore and PostRestore.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lvss/requestor.h>

#include "lib/core/array.h"
#include "lib/lvss/backup-int.h"
#include "lib/lvss/libbus.h"

/* ----------------------------------------------------------------- restore */

/* Is (lpath, name) inside the component set of c: c itself or below it? */
static bool in_component_set(const struct lvss_component *c, const char *lpath, const char *name) {
        size_t lp = strlen(c->logical_path), n = strlen(c->name);

        if (strcmp(c->logical_path, lpath) == 0 && strcmp(c->name, name) == 0)
                return true;
        /* below: lpath == "<c.lpath>/<c.name>" or starts with it plus "/" */
        if (lp) {
                if (strncmp(lpath, c->logical_path, lp) != 0 || lpath[lp] != '/')
                        return false;
                lpath += lp + 1;
        }
        return strncmp(lpath, c->name, n) == 0 && (lpath[n] == 0 || lpath[n] == '/');
}

/* A component to restore: one of the document, or a restore subcomponent
 * [AddRestoreSubcomponent]: a component the running writer declares
 * (selectable for restore) inside the component set of one the document
 * holds; it is added to the document so the writer sees it selected. */
int backup_restore_component(lvss_backup *b, const char *writer_id, lvss_component_type type, const char *lpath,
                             const char *name, const char *what, struct lvss_component **ret) {
        const metadata_entry *md;
        const lvss_doc_wm_component *wmc;

        if (!lpath)
                lpath = "";
        for (size_t i = 0; name && i < b->bcd->n_writers; i++) {
                struct lvss_writer_components *w = b->bcd->writers[i];
                if (writer_id && strcmp(w->writer_id, writer_id) != 0)
                        continue;
                *ret = lvss_doc_wc_find(w, type, lpath, name);
                if (*ret)
                        return 0;
        }
        md = b->gathered && writer_id ? backup_find_md(b, NULL, writer_id) : NULL;
        wmc = md && name ? lvss_doc_wm_find(md->wm, lpath, name) : NULL;
        if (wmc && wmc->type == type && (wmc->selectable_for_restore || wmc->selectable))
                for (size_t i = 0; i < b->bcd->n_writers; i++) {
                        struct lvss_writer_components *w = b->bcd->writers[i];
                        if (strcmp(w->writer_id, writer_id) != 0)
                                continue;
                        for (size_t j = 0; j < w->n; j++)
                                if (in_component_set(w->comps[j], lpath, name)) {
                                        *ret = lvss_doc_wc_add(w, type, lpath, name);
                                        return *ret ? 0 : -ENOMEM;
                                }
                }
        *ret = backup_find_component(b, NULL, writer_id, type, lpath, name, what);
        return *ret ? 0 : LVSS_E_OBJECT_NOT_FOUND;
}

int lvss_backup_set_selected_for_restore(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                         const char *logical_path, const char *name, int selected) {
        struct lvss_component *c = NULL;
        int r = backup_call_checked(b, WHEN_RESTORE_EDITING, NULL, writer_id, type, logical_path, name,
                                    "set selected for restore", &c);

        if (r < 0)
                return r;
        if (selected && b->gathered && !backup_find_md(b, NULL, writer_id))
                return backup_fail(b, LVSS_E_OBJECT_NOT_FOUND, "set selected for restore: writer %s is not running", writer_id);
        return lvss_component_set_selected_for_restore(c, selected);
}

int lvss_backup_set_additional_restores(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                        const char *logical_path, const char *name, int additional) {
        struct lvss_component *c = NULL;
        int r = backup_call_checked(b, WHEN_RESTORE_EDITING, NULL, writer_id, type, logical_path, name,
                                    "set additional restores", &c);

        return r < 0 ? r : lvss_component_set_additional_restores(c, additional);
}

int lvss_backup_set_restore_options(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                    const char *logical_path, const char *name, const char *options) {
        struct lvss_component *c = NULL;
        int r = backup_call_checked(b, WHEN_RESTORE_EDITING, NULL, writer_id, type, logical_path, name,
                                    "set restore options", &c);

        return r < 0 ? r : lvss_component_set_restore_options(c, options);
}

int lvss_backup_pre_restore(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        if (b->mode != M_RESTORE || !in_order(b, M_PRE_RESTORE))
                return BAD_STATE(b, "pre-restore");
        return backup_start_async(b, OP_PRE_RESTORE, "PreRestore", true, ret_async);
}

int lvss_backup_set_file_restore_status(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                        const char *logical_path, const char *name, lvss_file_restore_status status) {
        struct lvss_component *c = NULL;
        int r = backup_call_checked(b, WHEN_PRE_RESTORED, NULL, writer_id, type, logical_path, name,
                                    "set file restore status", &c);

        return r < 0 ? r : lvss_component_set_file_restore_status(c, status);
}

int lvss_backup_post_restore(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        if (b->mode != M_RESTORE || !in_order(b, M_POST_RESTORE))
                return BAD_STATE(b, "post-restore");
        return backup_start_async(b, OP_POST_RESTORE, "PostRestore", true, ret_async);
}
