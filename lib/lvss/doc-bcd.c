/* SPDX-License-Identifier: MIT */
/*
 * The backup components document (BCD): model, JSON parser/validator,
 * serializer, the writer's edits merged back, and snapshot path mapping, on
 * the helpers of doc-json.h (rules in doc.c's header).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/core/array.h"
#include "lib/lvss/doc-json.h"
#include "lib/core/macro.h"

/* ------------------------------------------------------------------ BCD */

lvss_bcd *lvss_doc_bcd_new(void) {
        lvss_bcd *bcd = calloc(1, sizeof(*bcd));

        if (!bcd)
                return NULL;
        bcd->owner = pthread_self();
        bcd->select_components = true;
        bcd->backup_type = LVSS_BT_FULL;
        bcd->context = LVSS_CTX_BACKUP;
        bcd->edit = LVSS_EDIT_REQUESTOR;
        return bcd;
}

static void partials_clear(struct lvss_component *c) {
        for (size_t i = 0; i < c->n_partials; i++) {
                free(c->partials[i].path);
                free(c->partials[i].filename);
                free(c->partials[i].ranges);
                free(c->partials[i].metadata);
        }
        free(c->partials);
        c->partials = NULL;
        c->n_partials = c->cap_partials = 0;
}

static void diffs_clear(struct lvss_component *c) {
        for (size_t i = 0; i < c->n_diffs; i++) {
                free(c->diffs[i].path);
                free(c->diffs[i].filespec);
        }
        free(c->diffs);
        c->diffs = NULL;
        c->n_diffs = c->cap_diffs = 0;
}

bool lvss_doc_ranges_valid(const char *r) {
        if (!r || !*r || strlen(r) > LVSS_DOC_MAX_STRING)
                return false;
        if (r[0] == '/')
                return true;
        for (;;) {
                for (int part = 0; part < 2; part++) {
                        char *end;
                        if (*r < '0' || *r > '9')
                                return false;
                        errno = 0;
                        (void) strtoull(r, &end, 0);
                        if (errno || end == r)
                                return false;
                        r = end;
                        if (part == 0 && *r++ != ':')
                                return false;
                }
                if (*r == 0)
                        return true;
                if (*r++ != ',')
                        return false;
        }
}

int lvss_doc_component_add_partial(struct lvss_component *c, const char *path, const char *filename,
                                   const char *ranges, const char *metadata) {
        lvss_doc_partial *p;

        if (!path || !*path || !filename || !*filename || !lvss_doc_ranges_valid(ranges) ||
            strlen(path) > LVSS_DOC_MAX_STRING || strlen(filename) > LVSS_DOC_MAX_STRING ||
            (metadata && strlen(metadata) > LVSS_DOC_MAX_STRING))
                return -EINVAL;
        if (c->n_partials >= LVSS_DOC_MAX_FILES)
                return -E2BIG;
        if (ARRAY_RESERVE_ONE(c->partials, c->cap_partials, c->n_partials, 4) < 0)
                return -ENOMEM;
        p = &c->partials[c->n_partials];
        *p = (lvss_doc_partial) { strdup(path), strdup(filename), strdup(ranges), metadata ? strdup(metadata) : NULL };
        if (!p->path || !p->filename || !p->ranges || (metadata && !p->metadata)) {
                free(p->path);
                free(p->filename);
                free(p->ranges);
                free(p->metadata);
                return -ENOMEM;
        }
        c->n_partials++;
        return 0;
}

int lvss_doc_component_add_diffed(struct lvss_component *c, const char *path, const char *filespec,
                                  bool recursive, uint64_t last_modify_usec) {
        lvss_doc_diffed *d;

        if (!path || !*path || strlen(path) > LVSS_DOC_MAX_STRING || (filespec && strlen(filespec) > LVSS_DOC_MAX_STRING))
                return -EINVAL;
        if (c->n_diffs >= LVSS_DOC_MAX_FILES)
                return -E2BIG;
        if (ARRAY_RESERVE_ONE(c->diffs, c->cap_diffs, c->n_diffs, 4) < 0)
                return -ENOMEM;
        d = &c->diffs[c->n_diffs];
        *d = (lvss_doc_diffed) { strdup(path), strdup(filespec ? filespec : ""), recursive, last_modify_usec };
        if (!d->path || !d->filespec) {
                free(d->path);
                free(d->filespec);
                return -ENOMEM;
        }
        c->n_diffs++;
        return 0;
}

static void component_free(struct lvss_component *c) {
        if (!c)
                return;
        partials_clear(c);
        diffs_clear(c);
        free(c->logical_path);
        free(c->name);
        free(c->backup_options);
        free(c->restore_options);
        free(c->backup_stamp);
        free(c->previous_backup_stamp);
        free(c->backup_metadata);
        free(c->restore_metadata);
        free(c->pfb_msg);
        free(c->ps_msg);
        free(c->pre_msg);
        free(c->post_msg);
        free(c);
}

static void wc_free(struct lvss_writer_components *wc) {
        if (!wc)
                return;
        for (size_t i = 0; i < wc->n; i++)
                component_free(wc->comps[i]);
        free(wc->comps);
        free(wc->instance_id);
        free(wc->writer_id);
        free(wc->instance_name);
        free(wc);
}

static void snapshot_clear(lvss_doc_snapshot *s) {
        free(s->snapshot_id);
        free(s->original);
        free(s->volume);
        free(s->path);
        free(s->provider_id);
        free(s->provider_name);
}

void lvss_doc_bcd_free(lvss_bcd *bcd) {
        if (!bcd)
                return;
        for (size_t i = 0; i < bcd->n_writers; i++)
                wc_free(bcd->writers[i]);
        free(bcd->writers);
        for (size_t i = 0; i < bcd->n_snaps; i++)
                snapshot_clear(&bcd->snaps[i]);
        free(bcd->snaps);
        free(bcd->set_id);
        free(bcd);
}

struct lvss_writer_components *lvss_doc_bcd_find_writer(const lvss_bcd *bcd, const char *instance_id,
                                                        const char *writer_id) {
        for (size_t i = 0; i < bcd->n_writers; i++) {
                struct lvss_writer_components *wc = bcd->writers[i];
                if (instance_id && strcmp(wc->instance_id, instance_id) != 0)
                        continue;
                if (writer_id && strcmp(wc->writer_id, writer_id) != 0)
                        continue;
                return wc;
        }
        return NULL;
}

struct lvss_writer_components *lvss_doc_bcd_add_writer(lvss_bcd *bcd, const char *instance_id,
                                                       const char *writer_id, const char *instance_name) {
        struct lvss_writer_components *wc;

        if (bcd->n_writers >= LVSS_DOC_MAX_WRITERS)
                return NULL;
        wc = calloc(1, sizeof(*wc));
        if (!wc)
                return NULL;
        wc->bcd = bcd;
        wc->instance_id = strdup(instance_id);
        wc->writer_id = strdup(writer_id);
        wc->instance_name = strdup(instance_name ? instance_name : "");
        if (!wc->instance_id || !wc->writer_id || !wc->instance_name ||
            ARRAY_RESERVE_ONE(bcd->writers, bcd->cap_writers, bcd->n_writers, 4) < 0) {
                wc_free(wc);
                return NULL;
        }
        bcd->writers[bcd->n_writers++] = wc;
        return wc;
}

struct lvss_component *lvss_doc_wc_find(const struct lvss_writer_components *wc, lvss_component_type type,
                                        const char *logical_path, const char *name) {
        if (!logical_path)
                logical_path = "";
        for (size_t i = 0; i < wc->n; i++) {
                struct lvss_component *c = wc->comps[i];
                if ((type == LVSS_CT_UNDEFINED || c->type == type) && strcmp(c->logical_path, logical_path) == 0 &&
                    strcmp(c->name, name) == 0)
                        return c;
        }
        return NULL;
}

struct lvss_component *lvss_doc_wc_add(struct lvss_writer_components *wc, lvss_component_type type,
                                       const char *logical_path, const char *name) {
        struct lvss_component *c;

        if (wc->n >= LVSS_DOC_MAX_COMPONENTS)
                return NULL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->wc = wc;
        c->type = type;
        c->logical_path = strdup(logical_path ? logical_path : "");
        c->name = strdup(name);
        c->restore_target = LVSS_RT_ORIGINAL;
        if (!c->logical_path || !c->name || ARRAY_RESERVE_ONE(wc->comps, wc->cap, wc->n, 4) < 0) {
                component_free(c);
                return NULL;
        }
        wc->comps[wc->n++] = c;
        return c;
}

int lvss_doc_bcd_add_snapshot(lvss_bcd *bcd, const lvss_doc_snapshot *s) {
        lvss_doc_snapshot *n;

        if (bcd->n_snaps >= LVSS_DOC_MAX_SNAPSHOTS)
                return -E2BIG;
        if (ARRAY_RESERVE_ONE(bcd->snaps, bcd->cap_snaps, bcd->n_snaps, 4) < 0)
                return -ENOMEM;
        n = &bcd->snaps[bcd->n_snaps];
        *n = (lvss_doc_snapshot) { .created_usec = s->created_usec };
        n->snapshot_id = strdup(s->snapshot_id ? s->snapshot_id : "");
        n->original = strdup(s->original ? s->original : "");
        n->volume = strdup(s->volume ? s->volume : "");
        n->path = strdup(s->path ? s->path : "");
        n->provider_id = strdup(s->provider_id ? s->provider_id : "");
        n->provider_name = strdup(s->provider_name ? s->provider_name : "");
        if (!n->snapshot_id || !n->original || !n->volume || !n->path || !n->provider_id || !n->provider_name) {
                snapshot_clear(n);
                return -ENOMEM;
        }
        bcd->n_snaps++;
        return 0;
}

static int component_parse(json_t *e, struct lvss_writer_components *wc, ErrorSlot *es, const char *where) {
        _cleanup_free_ char *lpath = NULL, *name = NULL;
        struct lvss_component *c;
        int r, t;

        if ((r = doc_get_enum(e, "componentType", -1, lvss_component_type_from_string, &t, es, where)) < 0)
                return r;
        if (t != LVSS_CT_DATABASE && t != LVSS_CT_FILEGROUP)
                return doc_invalid(es, "%s: \"componentType\" must be \"database\" or \"filegroup\"", where);
        if ((r = doc_get_str0(e, "logicalPath", &lpath, es, where)) < 0 ||
            (r = doc_get_str(e, "componentName", true, &name, es, where)) < 0)
                return r;
        if (name[0] == 0)
                return doc_invalid(es, "%s: empty \"componentName\"", where);
        if (lvss_doc_wc_find(wc, LVSS_CT_UNDEFINED, lpath, name))
                return doc_invalid(es, "%s: component \"%.200s\" listed twice", where, name);
        c = lvss_doc_wc_add(wc, (lvss_component_type) t, lpath, name);
        if (!c)
                return -ENOMEM;
        if ((r = doc_get_bool(e, "backupSucceeded", false, &c->backup_succeeded, es, where)) < 0 ||
            (r = doc_get_bool(e, "selectedForRestore", false, &c->selected_for_restore, es, where)) < 0 ||
            (r = doc_get_bool(e, "additionalRestores", false, &c->additional_restores, es, where)) < 0 ||
            (r = doc_get_str(e, "backupOptions", false, &c->backup_options, es, where)) < 0 ||
            (r = doc_get_str(e, "restoreOptions", false, &c->restore_options, es, where)) < 0 ||
            (r = doc_get_str(e, "backupStamp", false, &c->backup_stamp, es, where)) < 0 ||
            (r = doc_get_str(e, "previousBackupStamp", false, &c->previous_backup_stamp, es, where)) < 0 ||
            (r = doc_get_str(e, "backupMetadata", false, &c->backup_metadata, es, where)) < 0 ||
            (r = doc_get_str(e, "restoreMetadata", false, &c->restore_metadata, es, where)) < 0 ||
            (r = doc_get_str(e, "prepareForBackupFailureMsg", false, &c->pfb_msg, es, where)) < 0 ||
            (r = doc_get_str(e, "postSnapshotFailureMsg", false, &c->ps_msg, es, where)) < 0 ||
            (r = doc_get_str(e, "preRestoreFailureMsg", false, &c->pre_msg, es, where)) < 0 ||
            (r = doc_get_str(e, "postRestoreFailureMsg", false, &c->post_msg, es, where)) < 0)
                return r;
        if ((r = doc_get_enum(e, "restoreTarget", LVSS_RT_ORIGINAL, lvss_restore_target_from_string, &t, es, where)) < 0)
                return r;
        c->restore_target = (lvss_restore_target) t;
        if ((r = doc_get_enum(e, "fileRestoreStatus", 0, lvss_file_restore_status_from_string, &t, es, where)) < 0)
                return r;
        c->file_restore_status = (lvss_file_restore_status) t;
        {
                json_t *a, *pe;
                size_t i;
                if ((r = doc_get_array(e, "PARTIAL_FILE", LVSS_DOC_MAX_FILES, &a, es, where)) < 0)
                        return r;
                json_array_foreach(a, i, pe) {
                        _cleanup_free_ char *path = NULL, *file = NULL, *ranges = NULL, *md = NULL;
                        if ((r = doc_get_str(pe, "path", true, &path, es, where)) < 0 ||
                            (r = doc_get_str(pe, "filename", true, &file, es, where)) < 0 ||
                            (r = doc_get_str(pe, "ranges", true, &ranges, es, where)) < 0 ||
                            (r = doc_get_str(pe, "metadata", false, &md, es, where)) < 0)
                                return r;
                        if (!*path || !*file || !lvss_doc_ranges_valid(ranges))
                                return doc_invalid(es, "%s: PARTIAL_FILE[%zu]: empty name or malformed ranges", where, i);
                        if ((r = lvss_doc_component_add_partial(c, path, file, ranges, md)) < 0)
                                return r;
                }
                if ((r = doc_get_array(e, "DIFFERENCED_FILE", LVSS_DOC_MAX_FILES, &a, es, where)) < 0)
                        return r;
                json_array_foreach(a, i, pe) {
                        _cleanup_free_ char *path = NULL, *spec = NULL;
                        bool rec;
                        json_t *lm;
                        uint64_t usec = 0;
                        if ((r = doc_get_str(pe, "path", true, &path, es, where)) < 0 ||
                            (r = doc_get_str0(pe, "filespec", &spec, es, where)) < 0 ||
                            (r = doc_get_bool(pe, "recursive", false, &rec, es, where)) < 0)
                                return r;
                        lm = json_object_get(pe, "lastModifyTime");
                        if (lm && !json_is_null(lm)) {
                                if (!json_is_integer(lm) || json_integer_value(lm) < 0)
                                        return doc_invalid(es, "%s: DIFFERENCED_FILE[%zu]: bad lastModifyTime", where, i);
                                usec = (uint64_t) json_integer_value(lm);
                        }
                        if (!*path)
                                return doc_invalid(es, "%s: DIFFERENCED_FILE[%zu]: empty path", where, i);
                        if ((r = lvss_doc_component_add_diffed(c, path, spec, rec, usec)) < 0)
                                return r;
                }
        }
        return 0;
}

int lvss_doc_bcd_from_json(json_t *root, lvss_bcd **ret, ErrorSlot *es) {
        lvss_bcd *bcd;
        json_t *doc, *a, *e, *ss;
        uint32_t version;
        size_t i, j;
        int r, v;
        char where[96];

        error_slot_clear(es); /* "" on -ENOMEM */
        if (!json_is_object(root) || !(doc = json_object_get(root, "BACKUP_COMPONENTS")) || !json_is_object(doc))
                return doc_invalid(es, "not a backup components document (no BACKUP_COMPONENTS object)");
        bcd = lvss_doc_bcd_new();
        if (!bcd)
                return -ENOMEM;
        if ((r = doc_get_u32(doc, "version", DOC_VERSION, &version, es, "BACKUP_COMPONENTS")) < 0)
                goto fail;
        if (version != DOC_VERSION) {
                r = doc_invalid(es, "BACKUP_COMPONENTS: unsupported version %u", version);
                goto fail;
        }
        if ((r = doc_get_bool(doc, "selectComponents", true, &bcd->select_components, es, "BACKUP_COMPONENTS")) < 0 ||
            (r = doc_get_bool(doc, "bootableSystemStateBackup", false, &bcd->bootable, es, "BACKUP_COMPONENTS")) < 0 ||
            (r = doc_get_bool(doc, "partialFileSupport", false, &bcd->partial_file_support, es, "BACKUP_COMPONENTS")) < 0 ||
            (r = doc_get_bool(doc, "restore", false, &bcd->restore, es, "BACKUP_COMPONENTS")) < 0 ||
            (r = doc_get_u32(doc, "context", LVSS_CTX_BACKUP, &bcd->context, es, "BACKUP_COMPONENTS")) < 0 ||
            (r = doc_get_uuid(doc, "snapshotSetId", false, &bcd->set_id, es, "BACKUP_COMPONENTS")) < 0)
                goto fail;
        if (!lvss_context_to_string(bcd->context)) {
                r = doc_invalid(es, "BACKUP_COMPONENTS: unknown context 0x%x", bcd->context);
                goto fail;
        }
        if ((r = doc_get_enum(doc, "backupType", LVSS_BT_FULL, lvss_backup_type_from_string, &v, es, "BACKUP_COMPONENTS")) < 0)
                goto fail;
        bcd->backup_type = (lvss_backup_type) v;
        if ((r = doc_get_enum(doc, "restoreType", 0, lvss_restore_type_from_string, &v, es, "BACKUP_COMPONENTS")) < 0)
                goto fail;
        bcd->restore_type = (lvss_restore_type) v;

        if ((r = doc_get_array(doc, "WRITER_COMPONENTS", LVSS_DOC_MAX_WRITERS, &a, es, "BACKUP_COMPONENTS")) < 0)
                goto fail;
        json_array_foreach(a, i, e) {
                _cleanup_free_ char *inst = NULL, *wid = NULL, *iname = NULL;
                struct lvss_writer_components *wc;
                json_t *ca, *ce;

                snprintf(where, sizeof(where), "WRITER_COMPONENTS[%zu]", i);
                if ((r = doc_get_uuid(e, "instanceId", true, &inst, es, where)) < 0 ||
                    (r = doc_get_uuid(e, "writerId", true, &wid, es, where)) < 0 ||
                    (r = doc_get_str0(e, "instanceName", &iname, es, where)) < 0)
                        goto fail;
                if (lvss_doc_bcd_find_writer(bcd, inst, NULL)) {
                        r = doc_invalid(es, "%s: writer instance %s listed twice", where, inst);
                        goto fail;
                }
                wc = lvss_doc_bcd_add_writer(bcd, inst, wid, iname);
                if (!wc) {
                        r = -ENOMEM;
                        goto fail;
                }
                if ((r = doc_get_u32(e, "backupSchema", 0, &wc->backup_schema, es, where)) < 0 ||
                    (r = doc_get_array(e, "COMPONENT", LVSS_DOC_MAX_COMPONENTS, &ca, es, where)) < 0)
                        goto fail;
                json_array_foreach(ca, j, ce) {
                        char w2[128];
                        snprintf(w2, sizeof(w2), "%s COMPONENT[%zu]", where, j);
                        if ((r = component_parse(ce, wc, es, w2)) < 0)
                                goto fail;
                }
        }

        ss = json_object_get(doc, "SNAPSHOT_SET_DESCRIPTION");
        if (ss && !json_is_null(ss)) {
                if (!json_is_object(ss)) {
                        r = doc_invalid(es, "SNAPSHOT_SET_DESCRIPTION is not an object");
                        goto fail;
                }
                if ((r = doc_get_array(ss, "SNAPSHOT_DESCRIPTION", LVSS_DOC_MAX_SNAPSHOTS, &a, es,
                                   "SNAPSHOT_SET_DESCRIPTION")) < 0)
                        goto fail;
                json_array_foreach(a, i, e) {
                        _cleanup_(snapshot_clear) lvss_doc_snapshot s = {};
                        json_t *ts;
                        snprintf(where, sizeof(where), "SNAPSHOT_DESCRIPTION[%zu]", i);
                        if ((r = doc_get_uuid(e, "snapshotId", true, &s.snapshot_id, es, where)) < 0 ||
                            (r = doc_get_str(e, "originalVolumeName", true, &s.original, es, where)) < 0 ||
                            (r = doc_get_str0(e, "volume", &s.volume, es, where)) < 0 ||
                            (r = doc_get_str(e, "snapshotDeviceObject", true, &s.path, es, where)) < 0 ||
                            (r = doc_get_str0(e, "providerId", &s.provider_id, es, where)) < 0 ||
                            (r = doc_get_str0(e, "providerName", &s.provider_name, es, where)) < 0)
                                goto fail;
                        ts = json_object_get(e, "creationTimestamp");
                        if (ts && !json_is_null(ts)) {
                                if (!json_is_integer(ts) || json_integer_value(ts) < 0) {
                                        r = doc_invalid(es, "%s: \"creationTimestamp\" is not a positive integer", where);
                                        goto fail;
                                }
                                s.created_usec = (uint64_t) json_integer_value(ts);
                        }
                        if ((r = lvss_doc_bcd_add_snapshot(bcd, &s)) < 0)
                                goto fail;
                }
        }
        *ret = bcd;
        return 0;
fail:
        lvss_doc_bcd_free(bcd);
        return r;
}

int lvss_doc_bcd_parse(const char *json, lvss_bcd **ret, ErrorSlot *es) {
        json_t *root;
        int r = doc_parse_text(json, &root, es);

        if (r < 0)
                return r;
        r = lvss_doc_bcd_from_json(root, ret, es);
        json_decref(root);
        return r;
}

static void jset_opt(json_t *o, const char *key, const char *s) {
        if (s)
                doc_jset(o, key, json_string(s));
}

static json_t *wc_to_json(const struct lvss_writer_components *wc) {
        json_t *e = json_object(), *ca = json_array();

        doc_jset(e, "instanceId", doc_jstr(wc->instance_id));
        doc_jset(e, "writerId", doc_jstr(wc->writer_id));
        doc_jset(e, "instanceName", doc_jstr(wc->instance_name));
        doc_jset(e, "backupSchema", json_integer(wc->backup_schema));
        for (size_t j = 0; ca && j < wc->n; j++) {
                const struct lvss_component *c = wc->comps[j];
                json_t *ce = json_object();
                doc_jset(ce, "componentType", doc_jstr(lvss_component_type_to_string(c->type)));
                doc_jset(ce, "logicalPath", doc_jstr(c->logical_path));
                doc_jset(ce, "componentName", doc_jstr(c->name));
                doc_jset(ce, "backupSucceeded", json_boolean(c->backup_succeeded));
                doc_jset(ce, "selectedForRestore", json_boolean(c->selected_for_restore));
                doc_jset(ce, "additionalRestores", json_boolean(c->additional_restores));
                jset_opt(ce, "backupOptions", c->backup_options);
                jset_opt(ce, "restoreOptions", c->restore_options);
                jset_opt(ce, "backupStamp", c->backup_stamp);
                jset_opt(ce, "previousBackupStamp", c->previous_backup_stamp);
                jset_opt(ce, "backupMetadata", c->backup_metadata);
                jset_opt(ce, "restoreMetadata", c->restore_metadata);
                doc_jset(ce, "restoreTarget", doc_jstr(lvss_restore_target_to_string(c->restore_target)));
                doc_jset(ce, "fileRestoreStatus", doc_jstr(lvss_file_restore_status_to_string(c->file_restore_status)));
                jset_opt(ce, "prepareForBackupFailureMsg", c->pfb_msg);
                jset_opt(ce, "postSnapshotFailureMsg", c->ps_msg);
                jset_opt(ce, "preRestoreFailureMsg", c->pre_msg);
                jset_opt(ce, "postRestoreFailureMsg", c->post_msg);
                if (c->n_partials) {
                        json_t *pa = json_array();
                        for (size_t k = 0; pa && k < c->n_partials; k++) {
                                json_t *pe = json_object();
                                doc_jset(pe, "path", doc_jstr(c->partials[k].path));
                                doc_jset(pe, "filename", doc_jstr(c->partials[k].filename));
                                doc_jset(pe, "ranges", doc_jstr(c->partials[k].ranges));
                                jset_opt(pe, "metadata", c->partials[k].metadata);
                                json_array_append_new(pa, pe);
                        }
                        doc_jset(ce, "PARTIAL_FILE", pa);
                }
                if (c->n_diffs) {
                        json_t *da = json_array();
                        for (size_t k = 0; da && k < c->n_diffs; k++) {
                                json_t *de = json_object();
                                doc_jset(de, "path", doc_jstr(c->diffs[k].path));
                                doc_jset(de, "filespec", doc_jstr(c->diffs[k].filespec));
                                doc_jset(de, "recursive", json_boolean(c->diffs[k].recursive));
                                doc_jset(de, "lastModifyTime", json_integer((json_int_t) c->diffs[k].last_modify_usec));
                                json_array_append_new(da, de);
                        }
                        doc_jset(ce, "DIFFERENCED_FILE", da);
                }
                json_array_append_new(ca, ce);
        }
        doc_jset(e, "COMPONENT", ca);
        return e;
}

static json_t *bcd_to_json(const lvss_bcd *bcd, const char *only_instance) {
        json_t *doc = json_object(), *wa = json_array(), *ss, *sa, *root;

        doc_jset(doc, "version", json_integer(DOC_VERSION));
        doc_jset(doc, "selectComponents", json_boolean(bcd->select_components));
        doc_jset(doc, "bootableSystemStateBackup", json_boolean(bcd->bootable));
        doc_jset(doc, "backupType", doc_jstr(lvss_backup_type_to_string(bcd->backup_type)));
        doc_jset(doc, "partialFileSupport", json_boolean(bcd->partial_file_support));
        doc_jset(doc, "restore", json_boolean(bcd->restore));
        doc_jset(doc, "restoreType", doc_jstr(lvss_restore_type_to_string(bcd->restore_type)));
        doc_jset(doc, "context", json_integer(bcd->context));
        doc_jset(doc, "snapshotSetId", doc_jstr(bcd->set_id));
        for (size_t i = 0; wa && i < bcd->n_writers; i++)
                if (!only_instance || strcmp(bcd->writers[i]->instance_id, only_instance) == 0)
                        json_array_append_new(wa, wc_to_json(bcd->writers[i]));
        doc_jset(doc, "WRITER_COMPONENTS", wa);
        ss = json_object();
        sa = json_array();
        doc_jset(ss, "snapshotSetId", doc_jstr(bcd->set_id));
        for (size_t i = 0; sa && i < bcd->n_snaps; i++) {
                const lvss_doc_snapshot *s = &bcd->snaps[i];
                json_t *se = json_object();
                doc_jset(se, "snapshotId", doc_jstr(s->snapshot_id));
                doc_jset(se, "originalVolumeName", doc_jstr(s->original));
                doc_jset(se, "volume", doc_jstr(s->volume));
                doc_jset(se, "snapshotDeviceObject", doc_jstr(s->path));
                doc_jset(se, "providerId", doc_jstr(s->provider_id));
                doc_jset(se, "providerName", doc_jstr(s->provider_name));
                doc_jset(se, "creationTimestamp", json_integer((json_int_t) s->created_usec));
                json_array_append_new(sa, se);
        }
        doc_jset(ss, "SNAPSHOT_DESCRIPTION", sa);
        doc_jset(doc, "SNAPSHOT_SET_DESCRIPTION", ss);
        root = json_object();
        doc_jset(root, "BACKUP_COMPONENTS", doc);
        return root;
}

json_t *lvss_doc_bcd_to_json(const lvss_bcd *bcd) {
        return bcd_to_json(bcd, NULL);
}

json_t *lvss_doc_bcd_to_json_for_writer(const lvss_bcd *bcd, const char *instance_id) {
        return bcd_to_json(bcd, instance_id);
}

static int replace(char **dst, const char *src) {
        char *n = NULL;

        if (src && !(n = strdup(src)))
                return -ENOMEM;
        free(*dst);
        *dst = n;
        return 0;
}

int lvss_doc_bcd_merge_writer(lvss_bcd *bcd, const lvss_bcd *edited, const char *instance_id,
                              unsigned window) {
        struct lvss_writer_components *dst = lvss_doc_bcd_find_writer(bcd, instance_id, NULL);
        const struct lvss_writer_components *src = lvss_doc_bcd_find_writer(edited, instance_id, NULL);
        int r;

        if (!dst || !src)
                return 0;
        for (size_t i = 0; i < src->n; i++) {
                const struct lvss_component *s = src->comps[i];
                struct lvss_component *d = lvss_doc_wc_find(dst, s->type, s->logical_path, s->name);
                if (!d)
                        continue;
                if (window & LVSS_EDIT_WRITER_BACKUP) {
                        if ((r = replace(&d->backup_stamp, s->backup_stamp)) < 0 ||
                            (r = replace(&d->backup_metadata, s->backup_metadata)) < 0 ||
                            (r = replace(&d->pfb_msg, s->pfb_msg)) < 0 ||
                            (r = replace(&d->ps_msg, s->ps_msg)) < 0)
                                return r;
                        partials_clear(d);
                        diffs_clear(d);
                        for (size_t k = 0; k < s->n_partials; k++)
                                if ((r = lvss_doc_component_add_partial(d, s->partials[k].path, s->partials[k].filename,
                                                                        s->partials[k].ranges, s->partials[k].metadata)) < 0)
                                        return r;
                        for (size_t k = 0; k < s->n_diffs; k++)
                                if ((r = lvss_doc_component_add_diffed(d, s->diffs[k].path, s->diffs[k].filespec,
                                                                       s->diffs[k].recursive,
                                                                       s->diffs[k].last_modify_usec)) < 0)
                                        return r;
                }
                if (window & LVSS_EDIT_WRITER_RESTORE) {
                        d->restore_target = s->restore_target;
                        if ((r = replace(&d->restore_metadata, s->restore_metadata)) < 0 ||
                            (r = replace(&d->pre_msg, s->pre_msg)) < 0 ||
                            (r = replace(&d->post_msg, s->post_msg)) < 0)
                                return r;
                }
        }
        return 0;
}

int lvss_doc_snapshot_path(const lvss_doc_snapshot *s, const char *path, char **ret) {
        size_t vl = strlen(s->volume), ol = strlen(s->original), pl = strlen(s->path);
        const char *rel_orig, *rel_path;
        size_t base_len;

        /* s->path shows s->original; strip original's part below the volume
         * to get the volume's image, then add path's part below the volume. */
        if (vl == 0 || strncmp(s->original, s->volume, vl) != 0 || (s->original[vl] && s->original[vl] != '/' && vl > 1))
                return LVSS_E_OBJECT_NOT_FOUND;
        if (strncmp(path, s->volume, vl) != 0 || (path[vl] && path[vl] != '/' && vl > 1))
                return LVSS_E_OBJECT_NOT_FOUND;
        rel_orig = s->original + (vl > 1 ? vl : 0);
        rel_path = path + (vl > 1 ? vl : 0);
        if (strlen(rel_orig) > pl || strcmp(s->path + pl - strlen(rel_orig), rel_orig) != 0)
                return LVSS_E_OBJECT_NOT_FOUND;
        (void) ol;
        base_len = pl - strlen(rel_orig);
        if (asprintf(ret, "%.*s%s", (int) base_len, s->path, rel_path) < 0)
                return -ENOMEM;
        return 0;
}

const lvss_doc_snapshot *lvss_doc_bcd_find_snapshot_for(const lvss_bcd *bcd, const char *path) {
        const lvss_doc_snapshot *best = NULL;
        size_t best_len = 0;

        for (size_t i = 0; i < bcd->n_snaps; i++) {
                const lvss_doc_snapshot *s = &bcd->snaps[i];
                size_t vl = strlen(s->volume);
                if (strncmp(path, s->volume, vl) != 0 || (path[vl] && path[vl] != '/' && vl > 1))
                        continue;
                if (!best || vl > best_len) {
                        best = s;
                        best_len = vl;
                }
        }
        return best;
}

