/* SPDX-License-Identifier: MIT */
/*
 * The requestor's backup components document: components added after the
 * gather, their options, the component iterator, SaveAsXML.
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

/* -------------------------------------------------------------- components */

const metadata_entry *backup_find_md(lvss_backup *b, const char *instance_id, const char *writer_id) {
        for (size_t i = 0; i < b->n_md; i++) {
                if (instance_id && strcmp(b->md[i].instance_id, instance_id) != 0)
                        continue;
                if (writer_id && strcmp(b->md[i].wm->writer_id, writer_id) != 0)
                        continue;
                return &b->md[i];
        }
        return NULL;
}

int lvss_backup_add_component(lvss_backup *b, const char *instance_id, const char *writer_id,
                              lvss_component_type type, const char *logical_path, const char *name) {
        const metadata_entry *md;
        const lvss_doc_wm_component *wc;
        struct lvss_writer_components *w;

        CHECK(b);
        if (!instance_id || !writer_id || !name)
                return backup_fail(b, -EINVAL, "add component: instance id, writer id and name are required");
        if (b->mode != M_BACKUP || !b->gathered || prepared(b))
                return BAD_STATE(b, "add component");
        if (b->context & LVSS_VOLSNAP_ATTR_NO_WRITERS)
                return backup_fail(b, LVSS_E_BAD_STATE, "add component: context %s has no writers", lvss_context_to_string(b->context));
        md = backup_find_md(b, instance_id, writer_id);
        if (!md)
                return backup_fail(b, LVSS_E_OBJECT_NOT_FOUND, "add component: writer %s (instance %s) was not found by the gather",
                            writer_id, instance_id);
        wc = lvss_doc_wm_find(md->wm, logical_path, name);
        if (!wc || wc->type != type)
                return backup_fail(b, LVSS_E_OBJECT_NOT_FOUND, "add component: writer '%s' has no %s component '%s%s%s'",
                            md->wm->writer_name, lvss_component_type_to_string(type) ?: "?",
                            logical_path && *logical_path ? logical_path : "", logical_path && *logical_path ? "/" : "", name);
        w = lvss_doc_bcd_find_writer(b->bcd, instance_id, NULL);
        if (!w) {
                w = lvss_doc_bcd_add_writer(b->bcd, instance_id, writer_id, md->wm->instance_name);
                if (!w)
                        return -ENOMEM;
                w->backup_schema = md->wm->schema;
        }
        if (lvss_doc_wc_find(w, LVSS_CT_UNDEFINED, logical_path, name))
                return backup_fail(b, LVSS_E_OBJECT_ALREADY_EXISTS, "add component: '%s' was already added", name);
        if (!lvss_doc_wc_add(w, type, logical_path, name))
                return -ENOMEM;
        return 0;
}

struct lvss_component *backup_find_component(lvss_backup *b, const char *instance_id, const char *writer_id,
                                             lvss_component_type type, const char *lpath, const char *name,
                                             const char *what) {
        if (!name) {
                backup_fail(b, -EINVAL, "%s: component name required", what);
                return NULL;
        }
        for (size_t i = 0; i < b->bcd->n_writers; i++) {
                struct lvss_writer_components *w = b->bcd->writers[i];
                struct lvss_component *c;
                if (instance_id && strcmp(w->instance_id, instance_id) != 0)
                        continue;
                if (writer_id && strcmp(w->writer_id, writer_id) != 0)
                        continue;
                c = lvss_doc_wc_find(w, type, lpath, name);
                if (c)
                        return c;
        }
        backup_fail(b, LVSS_E_OBJECT_NOT_FOUND, "%s: component '%s%s%s' is not in the components document", what,
                    lpath && *lpath ? lpath : "", lpath && *lpath ? "/" : "", name);
        return NULL;
}

int lvss_backup_set_backup_options(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                   const char *logical_path, const char *name, const char *options) {
        struct lvss_component *c = NULL;
        int r = backup_call_checked(b, WHEN_BACKUP_EDITING, NULL, writer_id, type, logical_path, name,
                                    "set backup options", &c);

        return r < 0 ? r : lvss_component_set_backup_options(c, options);
}

int lvss_backup_set_previous_backup_stamp(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                          const char *logical_path, const char *name, const char *stamp) {
        struct lvss_component *c = NULL;
        int r = backup_call_checked(b, WHEN_BACKUP_EDITING, NULL, writer_id, type, logical_path, name,
                                    "set previous backup stamp", &c);

        return r < 0 ? r : lvss_component_set_previous_backup_stamp(c, stamp);
}

int lvss_backup_set_backup_succeeded(lvss_backup *b, const char *instance_id, const char *writer_id,
                                     lvss_component_type type, const char *logical_path, const char *name,
                                     int succeeded) {
        struct lvss_component *c = NULL;
        int r = backup_call_checked(b, WHEN_SNAPSHOT_DONE, instance_id, writer_id, type, logical_path, name,
                                    "set backup succeeded", &c);

        return r < 0 ? r : lvss_component_set_backup_succeeded(c, succeeded);
}

int lvss_backup_get_writer_components_count(lvss_backup *b) {
        CHECK(b);
        if (!b->bcd)
                return BAD_STATE(b, "get writer components count");
        return (int) b->bcd->n_writers;
}

int lvss_backup_get_writer_components(lvss_backup *b, size_t i, lvss_writer_components **ret) {
        CHECK(b);
        if (!ret)
                return -EINVAL;
        if (!b->bcd)
                return BAD_STATE(b, "get writer components");
        if (i >= b->bcd->n_writers)
                return backup_fail(b, LVSS_E_OBJECT_NOT_FOUND, "get writer components: no writer %zu", i);
        *ret = b->bcd->writers[i];
        return 0;
}

int lvss_backup_next_component(lvss_backup *b, lvss_component_iter *it, lvss_writer_components **ret_wc,
                               lvss_component **ret) {
        CHECK(b);
        if (!it || !ret)
                return -EINVAL;
        if (!b->bcd)
                return BAD_STATE(b, "next component");
        while (it->writer < b->bcd->n_writers) {
                struct lvss_writer_components *wc = b->bcd->writers[it->writer];
                if (it->component < wc->n) {
                        if (ret_wc)
                                *ret_wc = wc;
                        *ret = wc->comps[it->component++];
                        return 1;
                }
                it->writer++;
                it->component = 0;
        }
        return 0;
}

int lvss_backup_save_as_json(lvss_backup *b, char **ret_json) {
        json_t *j;
        char *s;

        CHECK(b);
        if (!ret_json)
                return -EINVAL;
        if (!b->bcd)
                return BAD_STATE(b, "save as JSON");
        j = lvss_doc_bcd_to_json(b->bcd);
        s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        json_decref(j);
        if (!s)
                return -ENOMEM;
        *ret_json = s;
        return 0;
}
