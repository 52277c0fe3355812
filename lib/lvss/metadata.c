/* SPDX-License-Identifier: MIT */
/*
 * The public face of the writer metadata document: the builder writers use
 * in on_identify and the examine API requestors use (metadata.h).
 */
#include <errno.h>
#include <string.h>

#include <lvss/metadata.h>

#include "lib/core/array.h"
#include "lib/core/error-slot.h"
#include "lib/core/macro.h"
#include "lib/lvss/doc.h"


static bool str_ok(const char *s, bool allow_empty) {
        return s && (allow_empty || s[0]) && strlen(s) <= LVSS_DOC_MAX_STRING;
}

static bool opt_str_ok(const char *s) {
        return !s || strlen(s) <= LVSS_DOC_MAX_STRING;
}

static int dupopt(const char *s, char **ret) {
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

/* ----------------------------------------------------------------- builder */

int lvss_metadata_builder_add_component(lvss_metadata_builder *md, lvss_component_type type,
                           const char *logical_path, const char *name, const char *caption,
                           int restore_metadata, int notify_on_backup_complete,
                           int selectable, int selectable_for_restore, uint32_t component_flags) {
        struct lvss_writer_metadata *wm;
        lvss_doc_wm_component *v, *c;

        if (!md || !md->wm || !str_ok(name, false) || !opt_str_ok(logical_path) || !opt_str_ok(caption) ||
            (type != LVSS_CT_DATABASE && type != LVSS_CT_FILEGROUP))
                return -EINVAL;
        wm = md->wm;
        if (lvss_doc_wm_find(wm, logical_path, name))
                return LVSS_E_OBJECT_ALREADY_EXISTS;
        if (wm->n_comps >= LVSS_DOC_MAX_COMPONENTS)
                return -E2BIG;
        if (ARRAY_RESERVE_ONE(wm->comps, wm->cap_comps, wm->n_comps, 4) < 0)
                return -ENOMEM;
        v = wm->comps;
        c = &v[wm->n_comps];
        *c = (lvss_doc_wm_component) {
                .type = type,
                .restore_metadata = !!restore_metadata,
                .notify_on_backup_complete = !!notify_on_backup_complete,
                .selectable = !!selectable,
                .selectable_for_restore = !!selectable_for_restore,
                .flags = component_flags,
        };
        c->logical_path = strdup(logical_path ? logical_path : "");
        c->name = strdup(name);
        c->caption = strdup(caption ? caption : "");
        if (!c->logical_path || !c->name || !c->caption) {
                free(c->logical_path);
                free(c->name);
                free(c->caption);
                return -ENOMEM;
        }
        wm->n_comps++;
        return 0;
}

static lvss_doc_wm_component *find_mut(lvss_metadata_builder *md, const char *lpath, const char *name) {
        return (lvss_doc_wm_component *) lvss_doc_wm_find(md->wm, lpath, name);
}

int lvss_metadata_builder_add_files_to_file_group(lvss_metadata_builder *md, const char *logical_path,
                                     const char *group_name, const char *path, const char *filespec,
                                     int recursive, const char *alternate_location,
                                     uint32_t backup_type_mask) {
        lvss_doc_wm_component *c;

        if (!md || !md->wm || !str_ok(group_name, false) || !str_ok(path, false) || !opt_str_ok(filespec) ||
            !opt_str_ok(alternate_location) || !opt_str_ok(logical_path))
                return -EINVAL;
        c = find_mut(md, logical_path, group_name);
        if (!c)
                return LVSS_E_OBJECT_NOT_FOUND;
        if (c->type != LVSS_CT_FILEGROUP)
                return -EINVAL;
        return lvss_doc_files_add(&c->files, path, filespec, recursive, alternate_location, backup_type_mask);
}

static int add_db(lvss_metadata_builder *md, const char *logical_path, const char *db, const char *path,
                  const char *filespec, uint32_t mask, bool log) {
        lvss_doc_wm_component *c;

        if (!md || !md->wm || !str_ok(db, false) || !str_ok(path, false) || !opt_str_ok(filespec) ||
            !opt_str_ok(logical_path))
                return -EINVAL;
        c = find_mut(md, logical_path, db);
        if (!c)
                return LVSS_E_OBJECT_NOT_FOUND;
        if (c->type != LVSS_CT_DATABASE)
                return -EINVAL;
        return lvss_doc_files_add(log ? &c->logs : &c->databases, path, filespec, false, NULL, mask);
}

int lvss_metadata_builder_add_database_files(lvss_metadata_builder *md, const char *logical_path,
                                const char *database_name, const char *path, const char *filespec,
                                uint32_t backup_type_mask) {
        return add_db(md, logical_path, database_name, path, filespec, backup_type_mask, false);
}

int lvss_metadata_builder_add_database_log_files(lvss_metadata_builder *md, const char *logical_path,
                                    const char *database_name, const char *path, const char *filespec,
                                    uint32_t backup_type_mask) {
        return add_db(md, logical_path, database_name, path, filespec, backup_type_mask, true);
}

int lvss_metadata_builder_add_exclude_files(lvss_metadata_builder *md, const char *path, const char *filespec,
                               int recursive) {
        if (!md || !md->wm || !str_ok(path, false) || !opt_str_ok(filespec))
                return -EINVAL;
        return lvss_doc_files_add(&md->wm->excludes, path, filespec, recursive, NULL, 0);
}

int lvss_metadata_builder_add_component_dependency(lvss_metadata_builder *md, const char *for_logical_path,
                                      const char *for_name, const char *on_writer_class_id,
                                      const char *on_logical_path, const char *on_name) {
        lvss_doc_wm_component *c;
        lvss_doc_dep *d;

        if (!md || !md->wm || !str_ok(for_name, false) || !lvss_doc_is_uuid(on_writer_class_id) ||
            !str_ok(on_name, false) || !opt_str_ok(for_logical_path) || !opt_str_ok(on_logical_path))
                return -EINVAL;
        c = find_mut(md, for_logical_path, for_name);
        if (!c)
                return LVSS_E_OBJECT_NOT_FOUND;
        if (c->n_deps >= LVSS_DOC_MAX_FILES)
                return -E2BIG;
        if (ARRAY_RESERVE_ONE(c->deps, c->cap_deps, c->n_deps, 4) < 0)
                return -ENOMEM;
        d = &c->deps[c->n_deps];
        d->writer_id = strdup(on_writer_class_id);
        d->logical_path = strdup(on_logical_path ? on_logical_path : "");
        d->name = strdup(on_name);
        if (!d->writer_id || !d->logical_path || !d->name) {
                free(d->writer_id);
                free(d->logical_path);
                free(d->name);
                return -ENOMEM;
        }
        c->n_deps++;
        return 0;
}

int lvss_metadata_builder_set_restore_method(lvss_metadata_builder *md, lvss_restore_method method,
                                const char *service, const char *user_procedure,
                                lvss_writer_restore writer_restore, int reboot_required) {
        struct lvss_writer_metadata *wm;
        char *s, *u;

        if (!md || !md->wm || !lvss_restore_method_to_string(method) ||
            !lvss_writer_restore_to_string(writer_restore) || !opt_str_ok(service) || !opt_str_ok(user_procedure))
                return -EINVAL;
        wm = md->wm;
        if (dupopt(service, &s) < 0)
                return -ENOMEM;
        if (dupopt(user_procedure, &u) < 0) {
                free(s);
                return -ENOMEM;
        }
        free(wm->service);
        free(wm->user_procedure);
        wm->service = s;
        wm->user_procedure = u;
        wm->method = method;
        wm->writer_restore = writer_restore;
        wm->reboot_required = !!reboot_required;
        wm->have_restore_method = true;
        return 0;
}

int lvss_metadata_builder_add_alternate_location_mapping(lvss_metadata_builder *md, const char *source_path,
                                            const char *source_filespec, int recursive,
                                            const char *destination) {
        if (!md || !md->wm || !str_ok(source_path, false) || !opt_str_ok(source_filespec) ||
            !str_ok(destination, false))
                return -EINVAL;
        return lvss_doc_files_add(&md->wm->mappings, source_path, source_filespec, recursive, destination, 0);
}

int lvss_metadata_builder_set_backup_schema(lvss_metadata_builder *md, uint32_t schema) {
        if (!md || !md->wm)
                return -EINVAL;
        md->wm->schema = schema;
        return 0;
}

/* ----------------------------------------------------------------- examine */

#define CHECK(wm)                                                             \
        do {                                                                  \
                if (!(wm))                                                    \
                        return -EINVAL;                                       \
                int _r = lvss_doc_thread_check((wm)->check_owner, (wm)->owner); \
                if (_r < 0)                                                   \
                        return _r;                                            \
        } while (0)

int lvss_writer_metadata_load(const char *json, lvss_writer_metadata **ret) {
        struct lvss_writer_metadata *wm;
        int r;

        /* No handle exists yet: the message goes to the thread's slot. */
        if (!ret)
                return error_slot_set(NULL, -EINVAL, "no return pointer");
        r = lvss_doc_wm_parse(json, &wm, NULL);
        if (r < 0)
                return r;
        wm->check_owner = true;
        wm->owner = pthread_self();
        *ret = wm;
        return 0;
}

const char *lvss_writer_metadata_load_error(void) {
        return error_slot_get(NULL);
}

int lvss_writer_metadata_save(const lvss_writer_metadata *wm, char **ret_json) {
        json_t *j;
        char *s;

        CHECK(wm);
        if (!ret_json)
                return -EINVAL;
        j = lvss_doc_wm_to_json(wm);
        if (!j)
                return -ENOMEM;
        s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!s)
                return -ENOMEM;
        *ret_json = s;
        return 0;
}

lvss_writer_metadata *lvss_writer_metadata_free(lvss_writer_metadata *wm) {
        if (wm && lvss_doc_thread_check(wm->check_owner, wm->owner) == 0)
                lvss_doc_wm_free(wm);
        return NULL;
}

int lvss_writer_metadata_get_identity(const lvss_writer_metadata *wm, lvss_writer_metadata_identity *ret) {
        CHECK(wm);
        if (!ret)
                return -EINVAL;
        *ret = (lvss_writer_metadata_identity) {
                .instance_id = wm->instance_id,
                .writer_id = wm->writer_id,
                .writer_name = wm->writer_name,
                .instance_name = wm->instance_name ? wm->instance_name : "",
                .usage = wm->usage,
                .source = wm->source,
                .level = wm->level,
                .freeze_timeout_ms = wm->freeze_timeout_ms,
        };
        return 0;
}

int lvss_writer_metadata_get_component_count(const lvss_writer_metadata *wm) {
        CHECK(wm);
        return (int) wm->n_comps;
}

static void filedesc(const lvss_doc_file *f, lvss_writer_metadata_filedesc *ret) {
        *ret = (lvss_writer_metadata_filedesc) {
                .path = f->path,
                .filespec = f->filespec,
                .recursive = f->recursive,
                .alternate_location = f->alternate,
                .backup_type_mask = f->mask,
        };
}

static int get_file(const lvss_doc_files *f, size_t i, lvss_writer_metadata_filedesc *ret) {
        if (!ret)
                return -EINVAL;
        if (i >= f->n)
                return LVSS_E_OBJECT_NOT_FOUND;
        filedesc(&f->v[i], ret);
        return 0;
}

int lvss_writer_metadata_get_exclude_file_count(const lvss_writer_metadata *wm) {
        CHECK(wm);
        return (int) wm->excludes.n;
}

int lvss_writer_metadata_get_exclude_file(const lvss_writer_metadata *wm, size_t i, lvss_writer_metadata_filedesc *ret) {
        CHECK(wm);
        return get_file(&wm->excludes, i, ret);
}

int lvss_writer_metadata_get_restore_method(const lvss_writer_metadata *wm, lvss_writer_metadata_restore_method *ret) {
        CHECK(wm);
        if (!ret)
                return -EINVAL;
        *ret = (lvss_writer_metadata_restore_method) {
                .method = wm->method,
                .service = wm->service,
                .user_procedure = wm->user_procedure,
                .writer_restore = wm->writer_restore,
                .reboot_required = wm->reboot_required,
                .mapping_count = wm->mappings.n,
        };
        return 0;
}

int lvss_writer_metadata_get_alternate_location_mapping(const lvss_writer_metadata *wm, size_t i,
                                           lvss_writer_metadata_filedesc *ret) {
        CHECK(wm);
        return get_file(&wm->mappings, i, ret);
}

int lvss_writer_metadata_get_backup_schema(const lvss_writer_metadata *wm, uint32_t *ret_schema) {
        CHECK(wm);
        if (!ret_schema)
                return -EINVAL;
        *ret_schema = wm->schema;
        return 0;
}

int lvss_writer_metadata_get_component_info(const lvss_writer_metadata *wm, size_t i, lvss_writer_metadata_component_info *ret) {
        const lvss_doc_wm_component *c;

        CHECK(wm);
        if (!ret)
                return -EINVAL;
        if (i >= wm->n_comps)
                return LVSS_E_OBJECT_NOT_FOUND;
        c = &wm->comps[i];
        *ret = (lvss_writer_metadata_component_info) {
                .type = c->type,
                .logical_path = c->logical_path,
                .component_name = c->name,
                .caption = c->caption,
                .restore_metadata = c->restore_metadata,
                .notify_on_backup_complete = c->notify_on_backup_complete,
                .selectable = c->selectable,
                .selectable_for_restore = c->selectable_for_restore,
                .component_flags = c->flags,
                .file_count = c->files.n,
                .database_count = c->databases.n,
                .log_file_count = c->logs.n,
                .dependency_count = c->n_deps,
        };
        return 0;
}

int lvss_writer_metadata_get_component_file(const lvss_writer_metadata *wm, size_t i, size_t j, lvss_writer_metadata_filedesc *ret) {
        CHECK(wm);
        if (i >= wm->n_comps)
                return LVSS_E_OBJECT_NOT_FOUND;
        return get_file(&wm->comps[i].files, j, ret);
}

int lvss_writer_metadata_get_component_database_file(const lvss_writer_metadata *wm, size_t i, size_t j,
                                        lvss_writer_metadata_filedesc *ret) {
        CHECK(wm);
        if (i >= wm->n_comps)
                return LVSS_E_OBJECT_NOT_FOUND;
        return get_file(&wm->comps[i].databases, j, ret);
}

int lvss_writer_metadata_get_component_log_file(const lvss_writer_metadata *wm, size_t i, size_t j,
                                   lvss_writer_metadata_filedesc *ret) {
        CHECK(wm);
        if (i >= wm->n_comps)
                return LVSS_E_OBJECT_NOT_FOUND;
        return get_file(&wm->comps[i].logs, j, ret);
}

int lvss_writer_metadata_get_component_dependency(const lvss_writer_metadata *wm, size_t i, size_t j,
                                     lvss_writer_metadata_dependency *ret) {
        const lvss_doc_wm_component *c;

        CHECK(wm);
        if (!ret)
                return -EINVAL;
        if (i >= wm->n_comps || j >= wm->comps[i].n_deps)
                return LVSS_E_OBJECT_NOT_FOUND;
        c = &wm->comps[i];
        *ret = (lvss_writer_metadata_dependency) {
                .writer_id = c->deps[j].writer_id,
                .logical_path = c->deps[j].logical_path,
                .component_name = c->deps[j].name,
        };
        return 0;
}
