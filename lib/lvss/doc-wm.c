/* SPDX-License-Identifier: MIT */
/*
 * The writer metadata document (WMD): model, JSON parser/validator and
 * serializer, on the helpers of doc-json.h (rules in doc.c's header).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/lvss/doc-json.h"
#include "lib/core/macro.h"

/* ------------------------------------------------------------------ WMD */

struct lvss_writer_metadata *lvss_doc_wm_new(void) {
        struct lvss_writer_metadata *wm = calloc(1, sizeof(*wm));

        if (!wm)
                return NULL;
        wm->owner = pthread_self();
        wm->usage = LVSS_UT_UNDEFINED;
        wm->source = LVSS_ST_UNDEFINED;
        wm->level = LVSS_APP_FRONT_END;
        wm->freeze_timeout_ms = 60000;
        wm->writer_restore = LVSS_WRE_NEVER;
        return wm;
}

static void wm_component_clear(lvss_doc_wm_component *c) {
        free(c->logical_path);
        free(c->name);
        free(c->caption);
        doc_files_clear(&c->files);
        doc_files_clear(&c->databases);
        doc_files_clear(&c->logs);
        for (size_t i = 0; i < c->n_deps; i++) {
                free(c->deps[i].writer_id);
                free(c->deps[i].logical_path);
                free(c->deps[i].name);
        }
        free(c->deps);
}

void lvss_doc_wm_free(struct lvss_writer_metadata *wm) {
        if (!wm)
                return;
        free(wm->instance_id);
        free(wm->writer_id);
        free(wm->writer_name);
        free(wm->instance_name);
        free(wm->service);
        free(wm->user_procedure);
        doc_files_clear(&wm->mappings);
        doc_files_clear(&wm->excludes);
        for (size_t i = 0; i < wm->n_comps; i++)
                wm_component_clear(&wm->comps[i]);
        free(wm->comps);
        free(wm);
}

const lvss_doc_wm_component *lvss_doc_wm_find(const struct lvss_writer_metadata *wm,
                                              const char *logical_path, const char *name) {
        if (!logical_path)
                logical_path = "";
        for (size_t i = 0; i < wm->n_comps; i++)
                if (strcmp(wm->comps[i].logical_path, logical_path) == 0 &&
                    strcmp(wm->comps[i].name, name) == 0)
                        return &wm->comps[i];
        return NULL;
}

static int parse_level(const char *s) {
        lvss_application_level l;
        /* Levels are stored +1 so AUTO (-1) stays non-negative here. */
        if (lvss_application_level_from_string(s, &l) < 0)
                return -EINVAL;
        return (int) l + 1;
}

static int wm_component_parse(json_t *e, lvss_doc_wm_component *c, ErrorSlot *es, const char *where) {
        json_t *a, *d;
        size_t i;
        int r, t;

        if ((r = doc_get_enum(e, "componentType", -1, lvss_component_type_from_string, &t, es, where)) < 0)
                return r;
        if (t != LVSS_CT_DATABASE && t != LVSS_CT_FILEGROUP)
                return doc_invalid(es, "%s: \"componentType\" must be \"database\" or \"filegroup\"", where);
        c->type = (lvss_component_type) t;
        if ((r = doc_get_str0(e, "logicalPath", &c->logical_path, es, where)) < 0 ||
            (r = doc_get_str(e, "componentName", true, &c->name, es, where)) < 0 ||
            (r = doc_get_str0(e, "caption", &c->caption, es, where)) < 0 ||
            (r = doc_get_bool(e, "restoreMetadata", false, &c->restore_metadata, es, where)) < 0 ||
            (r = doc_get_bool(e, "notifyOnBackupComplete", false, &c->notify_on_backup_complete, es, where)) < 0 ||
            (r = doc_get_bool(e, "selectable", true, &c->selectable, es, where)) < 0 ||
            (r = doc_get_bool(e, "selectableForRestore", false, &c->selectable_for_restore, es, where)) < 0 ||
            (r = doc_get_u32(e, "componentFlags", 0, &c->flags, es, where)) < 0)
                return r;
        if (c->name[0] == 0)
                return doc_invalid(es, "%s: empty \"componentName\"", where);
        if (c->type == LVSS_CT_FILEGROUP) {
                if ((r = doc_files_parse(e, "FILE_LIST", true, true, "alternatePath", &c->files, es, where)) < 0)
                        return r;
                if (json_object_get(e, "DATABASE_FILES") || json_object_get(e, "DATABASE_LOGFILES"))
                        return doc_invalid(es, "%s: a file group cannot have database files", where);
        } else {
                if ((r = doc_files_parse(e, "DATABASE_FILES", false, false, "alternatePath", &c->databases, es, where)) < 0 ||
                    (r = doc_files_parse(e, "DATABASE_LOGFILES", false, false, "alternatePath", &c->logs, es, where)) < 0)
                        return r;
                if (json_object_get(e, "FILE_LIST"))
                        return doc_invalid(es, "%s: a database cannot have a FILE_LIST", where);
        }
        if ((r = doc_get_array(e, "DEPENDENCY", LVSS_DOC_MAX_FILES, &a, es, where)) < 0)
                return r;
        if (a) {
                c->deps = calloc(json_array_size(a) ? json_array_size(a) : 1, sizeof(lvss_doc_dep));
                if (!c->deps)
                        return -ENOMEM;
                json_array_foreach(a, i, d) {
                        c->n_deps = i + 1;
                        if ((r = doc_get_uuid(d, "writerId", true, &c->deps[i].writer_id, es, where)) < 0 ||
                            (r = doc_get_str0(d, "logicalPath", &c->deps[i].logical_path, es, where)) < 0 ||
                            (r = doc_get_str(d, "componentName", true, &c->deps[i].name, es, where)) < 0)
                                return r;
                }
        }
        return 0;
}

int lvss_doc_wm_from_json(json_t *root, struct lvss_writer_metadata **ret, ErrorSlot *es) {
        struct lvss_writer_metadata *wm;
        json_t *doc, *id, *rm, *a, *e;
        uint32_t version;
        size_t i;
        int r, v;
        char where[96];

        error_slot_clear(es); /* "" on -ENOMEM */
        if (!json_is_object(root) || !(doc = json_object_get(root, "WRITER_METADATA")) || !json_is_object(doc))
                return doc_invalid(es, "not a writer metadata document (no WRITER_METADATA object)");
        wm = lvss_doc_wm_new();
        if (!wm)
                return -ENOMEM;
        r = doc_get_u32(doc, "version", DOC_VERSION, &version, es, "WRITER_METADATA");
        if (r < 0)
                goto fail;
        if (version != DOC_VERSION) {
                r = doc_invalid(es, "WRITER_METADATA: unsupported version %u", version);
                goto fail;
        }
        id = json_object_get(doc, "IDENTIFICATION");
        if (!json_is_object(id)) {
                r = doc_invalid(es, "WRITER_METADATA: IDENTIFICATION missing");
                goto fail;
        }
        if ((r = doc_get_uuid(id, "writerId", true, &wm->writer_id, es, "IDENTIFICATION")) < 0 ||
            (r = doc_get_uuid(id, "instanceId", true, &wm->instance_id, es, "IDENTIFICATION")) < 0 ||
            (r = doc_get_str(id, "friendlyName", true, &wm->writer_name, es, "IDENTIFICATION")) < 0 ||
            (r = doc_get_str0(id, "instanceName", &wm->instance_name, es, "IDENTIFICATION")) < 0)
                goto fail;
        if (wm->writer_name[0] == 0) {
                r = doc_invalid(es, "IDENTIFICATION: empty \"friendlyName\"");
                goto fail;
        }
        if ((r = doc_get_enum(id, "usage", 0, lvss_usage_type_from_string, &v, es, "IDENTIFICATION")) < 0)
                goto fail;
        wm->usage = (lvss_usage_type) v;
        if ((r = doc_get_enum(id, "dataSource", 0, lvss_source_type_from_string, &v, es, "IDENTIFICATION")) < 0)
                goto fail;
        wm->source = (lvss_source_type) v;
        if ((r = doc_get_enum(id, "level", LVSS_APP_FRONT_END + 1, parse_level, &v, es, "IDENTIFICATION")) < 0)
                goto fail;
        wm->level = (lvss_application_level) (v - 1);
        if ((r = doc_get_u32(id, "freezeTimeout", 60000, &wm->freeze_timeout_ms, es, "IDENTIFICATION")) < 0)
                goto fail;
        if (wm->freeze_timeout_ms == 0 || wm->freeze_timeout_ms > 3600000) {
                r = doc_invalid(es, "IDENTIFICATION: \"freezeTimeout\" must be 1..3600000 ms");
                goto fail;
        }

        rm = json_object_get(doc, "RESTORE_METHOD");
        if (rm && !json_is_null(rm)) {
                if (!json_is_object(rm)) {
                        r = doc_invalid(es, "WRITER_METADATA: RESTORE_METHOD is not an object");
                        goto fail;
                }
                wm->have_restore_method = true;
                if ((r = doc_get_enum(rm, "method", 0, lvss_restore_method_from_string, &v, es, "RESTORE_METHOD")) < 0)
                        goto fail;
                wm->method = (lvss_restore_method) v;
                if ((r = doc_get_enum(rm, "writerRestore", LVSS_WRE_NEVER, lvss_writer_restore_from_string, &v, es,
                                  "RESTORE_METHOD")) < 0)
                        goto fail;
                wm->writer_restore = (lvss_writer_restore) v;
                if ((r = doc_get_str(rm, "service", false, &wm->service, es, "RESTORE_METHOD")) < 0 ||
                    (r = doc_get_str(rm, "userProcedure", false, &wm->user_procedure, es, "RESTORE_METHOD")) < 0 ||
                    (r = doc_get_bool(rm, "rebootRequired", false, &wm->reboot_required, es, "RESTORE_METHOD")) < 0)
                        goto fail;
        }
        if ((r = doc_get_u32(doc, "backupSchema", 0, &wm->schema, es, "WRITER_METADATA")) < 0 ||
            (r = doc_files_parse(doc, "EXCLUDE_FILES", true, false, "alternatePath", &wm->excludes, es, "WRITER_METADATA")) < 0 ||
            (r = doc_files_parse(doc, "ALTERNATE_LOCATION_MAPPING", true, true, "alternatePath", &wm->mappings, es,
                             "WRITER_METADATA")) < 0)
                goto fail;

        r = doc_get_array(doc, "BACKUP_LOCATIONS", LVSS_DOC_MAX_COMPONENTS, &a, es, "WRITER_METADATA");
        if (r < 0)
                goto fail;
        if (a) {
                wm->comps = calloc(json_array_size(a) ? json_array_size(a) : 1, sizeof(lvss_doc_wm_component));
                if (!wm->comps) {
                        r = -ENOMEM;
                        goto fail;
                }
                json_array_foreach(a, i, e) {
                        snprintf(where, sizeof(where), "BACKUP_LOCATIONS[%zu]", i);
                        wm->n_comps = i + 1;
                        r = wm_component_parse(e, &wm->comps[i], es, where);
                        if (r < 0)
                                goto fail;
                        for (size_t j = 0; j < i; j++)
                                if (strcmp(wm->comps[j].logical_path, wm->comps[i].logical_path) == 0 &&
                                    strcmp(wm->comps[j].name, wm->comps[i].name) == 0) {
                                        r = doc_invalid(es, "%s: component \"%.200s\" declared twice", where,
                                                    wm->comps[i].name);
                                        goto fail;
                                }
                }
        }
        *ret = wm;
        return 0;
fail:
        lvss_doc_wm_free(wm);
        return r;
}

int lvss_doc_wm_parse(const char *json, struct lvss_writer_metadata **ret, ErrorSlot *es) {
        json_t *root;
        int r = doc_parse_text(json, &root, es);

        if (r < 0)
                return r;
        r = lvss_doc_wm_from_json(root, ret, es);
        json_decref(root);
        return r;
}

json_t *lvss_doc_wm_to_json(const struct lvss_writer_metadata *wm) {
        json_t *doc = json_object(), *id = json_object(), *comps = json_array(), *root;

        doc_jset(id, "writerId", doc_jstr(wm->writer_id));
        doc_jset(id, "instanceId", doc_jstr(wm->instance_id));
        doc_jset(id, "friendlyName", doc_jstr(wm->writer_name));
        doc_jset(id, "instanceName", doc_jstr(wm->instance_name ? wm->instance_name : ""));
        doc_jset(id, "usage", doc_jstr(lvss_usage_type_to_string(wm->usage)));
        doc_jset(id, "dataSource", doc_jstr(lvss_source_type_to_string(wm->source)));
        doc_jset(id, "level", doc_jstr(lvss_application_level_to_string(wm->level)));
        doc_jset(id, "freezeTimeout", json_integer(wm->freeze_timeout_ms));
        doc_jset(doc, "version", json_integer(DOC_VERSION));
        doc_jset(doc, "IDENTIFICATION", id);
        if (wm->have_restore_method) {
                json_t *rm = json_object();
                doc_jset(rm, "method", doc_jstr(lvss_restore_method_to_string(wm->method)));
                if (wm->service)
                        doc_jset(rm, "service", doc_jstr(wm->service));
                if (wm->user_procedure)
                        doc_jset(rm, "userProcedure", doc_jstr(wm->user_procedure));
                doc_jset(rm, "writerRestore", doc_jstr(lvss_writer_restore_to_string(wm->writer_restore)));
                doc_jset(rm, "rebootRequired", json_boolean(wm->reboot_required));
                doc_jset(doc, "RESTORE_METHOD", rm);
        }
        doc_jset(doc, "backupSchema", json_integer(wm->schema));
        doc_jset(doc, "EXCLUDE_FILES", doc_files_to_json(&wm->excludes, "alternatePath", false));
        doc_jset(doc, "ALTERNATE_LOCATION_MAPPING", doc_files_to_json(&wm->mappings, "alternatePath", false));
        for (size_t i = 0; comps && i < wm->n_comps; i++) {
                const lvss_doc_wm_component *c = &wm->comps[i];
                json_t *e = json_object(), *deps = json_array();
                doc_jset(e, "componentType", doc_jstr(lvss_component_type_to_string(c->type)));
                doc_jset(e, "logicalPath", doc_jstr(c->logical_path));
                doc_jset(e, "componentName", doc_jstr(c->name));
                doc_jset(e, "caption", doc_jstr(c->caption));
                doc_jset(e, "restoreMetadata", json_boolean(c->restore_metadata));
                doc_jset(e, "notifyOnBackupComplete", json_boolean(c->notify_on_backup_complete));
                doc_jset(e, "selectable", json_boolean(c->selectable));
                doc_jset(e, "selectableForRestore", json_boolean(c->selectable_for_restore));
                doc_jset(e, "componentFlags", json_integer(c->flags));
                if (c->type == LVSS_CT_FILEGROUP)
                        doc_jset(e, "FILE_LIST", doc_files_to_json(&c->files, "alternatePath", true));
                else {
                        doc_jset(e, "DATABASE_FILES", doc_files_to_json(&c->databases, "alternatePath", true));
                        doc_jset(e, "DATABASE_LOGFILES", doc_files_to_json(&c->logs, "alternatePath", true));
                }
                for (size_t j = 0; deps && j < c->n_deps; j++) {
                        json_t *d = json_object();
                        doc_jset(d, "writerId", doc_jstr(c->deps[j].writer_id));
                        doc_jset(d, "logicalPath", doc_jstr(c->deps[j].logical_path));
                        doc_jset(d, "componentName", doc_jstr(c->deps[j].name));
                        json_array_append_new(deps, d);
                }
                doc_jset(e, "DEPENDENCY", deps);
                json_array_append_new(comps, e);
        }
        doc_jset(doc, "BACKUP_LOCATIONS", comps);
        root = json_object();
        doc_jset(root, "WRITER_METADATA", doc);
        return root;
}

