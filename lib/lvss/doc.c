/* SPDX-License-Identifier: MIT */
/*
 * The WMD and BCD: in-memory model, JSON parser/validator and serializer.
 *
 * This is the one parser of outside documents in lvss (writers' metadata,
 * requestors' saved components documents, writers' edited components), used
 * by liblvss and lvssd alike; its fuzz target is tests/fuzz/lvss/.  Every
 * limit is checked before anything is allocated for it; every value is
 * type-checked; the first problem is reported as one line in 'why'.
 * Unknown keys are ignored (newer documents stay readable).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/lvss/doc.h"
#include "lib/core/macro.h"

#define DOC_VERSION 1

/* ------------------------------------------------------------------ util */

bool lvss_doc_is_uuid(const char *s) {
        if (!s || strlen(s) != 36)
                return false;
        for (int i = 0; i < 36; i++) {
                char c = s[i];
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (c != '-')
                                return false;
                } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                        return false;
        }
        return true;
}

int lvss_doc_new_uuid(char ret[LVSS_ID_MAX]) {
        uint8_t b[16];
        size_t got = 0;

        while (got < sizeof(b)) {
                ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t) n;
        }
        b[6] = (b[6] & 0x0f) | 0x40;    /* version 4 */
        b[8] = (b[8] & 0x3f) | 0x80;    /* RFC 4122 variant */
        snprintf(ret, LVSS_ID_MAX,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                 b[12], b[13], b[14], b[15]);
        return 0;
}

int lvss_doc_thread_check(bool check, pthread_t owner) {
        if (check && !pthread_equal(owner, pthread_self()))
                return LVSS_E_WRONG_THREAD;
        return 0;
}

_printf_(2, 3)
static int invalid(char *why, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, LVSS_DOC_WHY_MAX, fmt, ap);
        va_end(ap);
        return LVSS_E_INVALID_XML_DOCUMENT;
}

/* A string field: must be a JSON string of at most LVSS_DOC_MAX_STRING bytes
 * without NUL.  Missing or null: *ret = NULL (error if required). */
static int get_str(json_t *o, const char *key, bool required, char **ret, char *why, const char *where) {
        json_t *v = json_object_get(o, key);
        const char *s;
        size_t len;

        *ret = NULL;
        if (!v || json_is_null(v)) {
                if (required)
                        return invalid(why, "%s: \"%s\" missing", where, key);
                return 0;
        }
        if (!json_is_string(v))
                return invalid(why, "%s: \"%s\" is not a string", where, key);
        s = json_string_value(v);
        len = json_string_length(v);
        if (len > LVSS_DOC_MAX_STRING)
                return invalid(why, "%s: \"%s\" longer than %u bytes", where, key, LVSS_DOC_MAX_STRING);
        if (strlen(s) != len)
                return invalid(why, "%s: \"%s\" contains a NUL byte", where, key);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* A string that defaults to "" when missing. */
static int get_str0(json_t *o, const char *key, char **ret, char *why, const char *where) {
        int r = get_str(o, key, false, ret, why, where);
        if (r < 0)
                return r;
        if (!*ret) {
                *ret = strdup("");
                if (!*ret)
                        return -ENOMEM;
        }
        return 0;
}

static int get_uuid(json_t *o, const char *key, bool required, char **ret, char *why, const char *where) {
        int r = get_str(o, key, required, ret, why, where);
        if (r < 0)
                return r;
        if (*ret && !lvss_doc_is_uuid(*ret)) {
                free(*ret);
                *ret = NULL;
                return invalid(why, "%s: \"%s\" is not a UUID", where, key);
        }
        return 0;
}

static int get_bool(json_t *o, const char *key, bool def, bool *ret, char *why, const char *where) {
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (!json_is_boolean(v))
                return invalid(why, "%s: \"%s\" is not a boolean", where, key);
        *ret = json_is_true(v);
        return 0;
}

static int get_u32(json_t *o, const char *key, uint32_t def, uint32_t *ret, char *why, const char *where) {
        json_t *v = json_object_get(o, key);
        json_int_t i;

        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (!json_is_integer(v))
                return invalid(why, "%s: \"%s\" is not an integer", where, key);
        i = json_integer_value(v);
        if (i < 0 || i > (json_int_t) UINT32_MAX)
                return invalid(why, "%s: \"%s\" out of range", where, key);
        *ret = (uint32_t) i;
        return 0;
}

/* An enum spelled as a string; parse(s) returns the value or -EINVAL. */
static int get_enum(json_t *o, const char *key, int def, int (*parse)(const char *), int *ret,
                    char *why, const char *where) {
        json_t *v = json_object_get(o, key);
        int r;

        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (!json_is_string(v))
                return invalid(why, "%s: \"%s\" is not a string", where, key);
        r = parse(json_string_value(v));
        if (r < 0)
                return invalid(why, "%s: \"%s\" has unknown value \"%.64s\"", where, key, json_string_value(v));
        *ret = r;
        return 0;
}

/* An optional array of at most max objects. */
static int get_array(json_t *o, const char *key, size_t max, json_t **ret, char *why, const char *where) {
        json_t *v = json_object_get(o, key);
        size_t i;
        json_t *e;

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return invalid(why, "%s: \"%s\" is not an array", where, key);
        if (json_array_size(v) > max)
                return invalid(why, "%s: \"%s\" has more than %zu entries", where, key, max);
        json_array_foreach(v, i, e)
                if (!json_is_object(e))
                        return invalid(why, "%s: \"%s\"[%zu] is not an object", where, key, i);
        *ret = v;
        return 0;
}

static json_t *jstr(const char *s) {
        return s ? json_string(s) : json_null();
}

/* json_object_set_new that tolerates NULL values (OOM is caught by the
 * final NULL check of the caller via json_dumps failing). */
static void jset(json_t *o, const char *key, json_t *v) {
        if (o && v)
                json_object_set_new(o, key, v);
        else
                json_decref(v);
}

/* ------------------------------------------------------------ file lists */

static void files_clear(lvss_doc_files *f) {
        for (size_t i = 0; i < f->n; i++) {
                free(f->v[i].path);
                free(f->v[i].filespec);
                free(f->v[i].alternate);
        }
        free(f->v);
        f->v = NULL;
        f->n = 0;
}

static int files_parse(json_t *o, const char *key, bool allow_recursive, bool allow_alternate,
                       const char *alternate_key, lvss_doc_files *ret, char *why, const char *where) {
        json_t *a, *e;
        size_t i;
        int r;
        char w[128];

        r = get_array(o, key, LVSS_DOC_MAX_FILES, &a, why, where);
        if (r < 0 || !a)
                return r;
        ret->v = calloc(json_array_size(a) ? json_array_size(a) : 1, sizeof(lvss_doc_file));
        if (!ret->v)
                return -ENOMEM;
        json_array_foreach(a, i, e) {
                lvss_doc_file *f = &ret->v[i];
                snprintf(w, sizeof(w), "%.64s %s[%zu]", where, key, i);
                ret->n = i + 1;
                if ((r = get_str(e, "path", true, &f->path, why, w)) < 0 ||
                    (r = get_str0(e, "filespec", &f->filespec, why, w)) < 0 ||
                    (r = get_bool(e, "recursive", false, &f->recursive, why, w)) < 0 ||
                    (r = get_str(e, alternate_key, false, &f->alternate, why, w)) < 0 ||
                    (r = get_u32(e, "filespecBackupType", LVSS_FSBT_DEFAULT, &f->mask, why, w)) < 0)
                        return r;
                if (f->path[0] == 0)
                        return invalid(why, "%s: empty path", w);
                if (f->recursive && !allow_recursive)
                        return invalid(why, "%s: database files cannot be recursive", w);
                if (f->alternate && !allow_alternate)
                        return invalid(why, "%s: database files cannot have an alternate location", w);
        }
        return 0;
}

static json_t *files_to_json(const lvss_doc_files *f, const char *alternate_key, bool with_mask) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < f->n; i++) {
                json_t *e = json_object();
                jset(e, "path", jstr(f->v[i].path));
                jset(e, "filespec", jstr(f->v[i].filespec));
                jset(e, "recursive", json_boolean(f->v[i].recursive));
                if (f->v[i].alternate)
                        jset(e, alternate_key, jstr(f->v[i].alternate));
                if (with_mask)
                        jset(e, "filespecBackupType", json_integer(f->v[i].mask));
                json_array_append_new(a, e);
        }
        return a;
}

int lvss_doc_files_add(lvss_doc_files *f, const char *path, const char *filespec, bool recursive,
                       const char *alternate, uint32_t mask) {
        lvss_doc_file *v;

        if (f->n >= LVSS_DOC_MAX_FILES)
                return -E2BIG;
        v = reallocarray(f->v, f->n + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        f->v = v;
        v = &f->v[f->n];
        *v = (lvss_doc_file) { .recursive = recursive, .mask = mask ? mask : LVSS_FSBT_DEFAULT };
        v->path = strdup(path);
        v->filespec = strdup(filespec ? filespec : "");
        v->alternate = alternate ? strdup(alternate) : NULL;
        if (!v->path || !v->filespec || (alternate && !v->alternate)) {
                free(v->path);
                free(v->filespec);
                free(v->alternate);
                return -ENOMEM;
        }
        f->n++;
        return 0;
}

/* --------------------------------------------------------------- identity */

void lvss_doc_identity_clear(lvss_doc_identity *id) {
        free(id->name);
        free(id->instance_name);
        *id = (lvss_doc_identity) {};
}

int lvss_doc_identity_parse(const char *json, lvss_doc_identity *ret, char why[LVSS_DOC_WHY_MAX]) {
        lvss_doc_identity id = { .level = LVSS_APP_FRONT_END, .freeze_timeout_ms = 60000 };
        _cleanup_free_ char *class_id = NULL, *level = NULL;
        json_error_t err;
        json_t *root;
        int r, v;

        why[0] = 0;
        if (!json || strnlen(json, LVSS_DOC_IDENTITY_MAX_BYTES + 1) > LVSS_DOC_IDENTITY_MAX_BYTES) {
                snprintf(why, LVSS_DOC_WHY_MAX, "writer identity missing or larger than %u bytes",
                         LVSS_DOC_IDENTITY_MAX_BYTES);
                return LVSS_E_CORRUPT_XML_DOCUMENT;
        }
        root = json_loads(json, JSON_REJECT_DUPLICATES, &err);
        if (!json_is_object(root)) {
                json_decref(root);
                snprintf(why, LVSS_DOC_WHY_MAX, "writer identity is not a JSON object: %s", err.text);
                return LVSS_E_CORRUPT_XML_DOCUMENT;
        }
        if ((r = get_uuid(root, "writerId", true, &class_id, why, "writer identity")) < 0 ||
            (r = get_str(root, "friendlyName", true, &id.name, why, "writer identity")) < 0 ||
            (r = get_str0(root, "instanceName", &id.instance_name, why, "writer identity")) < 0 ||
            (r = get_str(root, "level", false, &level, why, "writer identity")) < 0)
                goto out;
        if (!id.name[0] || strlen(id.name) > 1024 || strlen(id.instance_name) > 1024) {
                r = invalid(why, "writer identity: \"friendlyName\" must be 1..1024 bytes, \"instanceName\" at most 1024");
                goto out;
        }
        memcpy(id.class_id, class_id, LVSS_ID_MAX);
        if ((r = get_enum(root, "usage", 0, lvss_usage_type_from_string, &v, why, "writer identity")) < 0)
                goto out;
        id.usage = (lvss_usage_type) v;
        if ((r = get_enum(root, "dataSource", 0, lvss_source_type_from_string, &v, why, "writer identity")) < 0)
                goto out;
        id.source = (lvss_source_type) v;
        if (level && lvss_application_level_from_string(level, &id.level) < 0) {
                r = invalid(why, "writer identity: unknown level '%.64s'", level);
                goto out;
        }
        if ((r = get_u32(root, "freezeTimeout", 60000, &id.freeze_timeout_ms, why, "writer identity")) < 0)
                goto out;
        if (id.freeze_timeout_ms < 1 || id.freeze_timeout_ms > 3600000) {
                r = invalid(why, "writer identity: \"freezeTimeout\" must be 1..3600000 ms");
                goto out;
        }
        *ret = id;
        id = (lvss_doc_identity) {};
        r = 0;
out:
        lvss_doc_identity_clear(&id);
        json_decref(root);
        return r;
}

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
        files_clear(&c->files);
        files_clear(&c->databases);
        files_clear(&c->logs);
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
        files_clear(&wm->mappings);
        files_clear(&wm->excludes);
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

static int wm_component_parse(json_t *e, lvss_doc_wm_component *c, char *why, const char *where) {
        json_t *a, *d;
        size_t i;
        int r, t;

        if ((r = get_enum(e, "componentType", -1, lvss_component_type_from_string, &t, why, where)) < 0)
                return r;
        if (t != LVSS_CT_DATABASE && t != LVSS_CT_FILEGROUP)
                return invalid(why, "%s: \"componentType\" must be \"database\" or \"filegroup\"", where);
        c->type = (lvss_component_type) t;
        if ((r = get_str0(e, "logicalPath", &c->logical_path, why, where)) < 0 ||
            (r = get_str(e, "componentName", true, &c->name, why, where)) < 0 ||
            (r = get_str0(e, "caption", &c->caption, why, where)) < 0 ||
            (r = get_bool(e, "restoreMetadata", false, &c->restore_metadata, why, where)) < 0 ||
            (r = get_bool(e, "notifyOnBackupComplete", false, &c->notify_on_backup_complete, why, where)) < 0 ||
            (r = get_bool(e, "selectable", true, &c->selectable, why, where)) < 0 ||
            (r = get_bool(e, "selectableForRestore", false, &c->selectable_for_restore, why, where)) < 0 ||
            (r = get_u32(e, "componentFlags", 0, &c->flags, why, where)) < 0)
                return r;
        if (c->name[0] == 0)
                return invalid(why, "%s: empty \"componentName\"", where);
        if (c->type == LVSS_CT_FILEGROUP) {
                if ((r = files_parse(e, "FILE_LIST", true, true, "alternatePath", &c->files, why, where)) < 0)
                        return r;
                if (json_object_get(e, "DATABASE_FILES") || json_object_get(e, "DATABASE_LOGFILES"))
                        return invalid(why, "%s: a file group cannot have database files", where);
        } else {
                if ((r = files_parse(e, "DATABASE_FILES", false, false, "alternatePath", &c->databases, why, where)) < 0 ||
                    (r = files_parse(e, "DATABASE_LOGFILES", false, false, "alternatePath", &c->logs, why, where)) < 0)
                        return r;
                if (json_object_get(e, "FILE_LIST"))
                        return invalid(why, "%s: a database cannot have a FILE_LIST", where);
        }
        if ((r = get_array(e, "DEPENDENCY", LVSS_DOC_MAX_FILES, &a, why, where)) < 0)
                return r;
        if (a) {
                c->deps = calloc(json_array_size(a) ? json_array_size(a) : 1, sizeof(lvss_doc_dep));
                if (!c->deps)
                        return -ENOMEM;
                json_array_foreach(a, i, d) {
                        c->n_deps = i + 1;
                        if ((r = get_uuid(d, "writerId", true, &c->deps[i].writer_id, why, where)) < 0 ||
                            (r = get_str0(d, "logicalPath", &c->deps[i].logical_path, why, where)) < 0 ||
                            (r = get_str(d, "componentName", true, &c->deps[i].name, why, where)) < 0)
                                return r;
                }
        }
        return 0;
}

int lvss_doc_wm_from_json(json_t *root, struct lvss_writer_metadata **ret, char why[LVSS_DOC_WHY_MAX]) {
        struct lvss_writer_metadata *wm;
        json_t *doc, *id, *rm, *a, *e;
        uint32_t version;
        size_t i;
        int r, v;
        char where[96];

        why[0] = 0;
        if (!json_is_object(root) || !(doc = json_object_get(root, "WRITER_METADATA")) || !json_is_object(doc))
                return invalid(why, "not a writer metadata document (no WRITER_METADATA object)");
        wm = lvss_doc_wm_new();
        if (!wm)
                return -ENOMEM;
        r = get_u32(doc, "version", DOC_VERSION, &version, why, "WRITER_METADATA");
        if (r < 0)
                goto fail;
        if (version != DOC_VERSION) {
                r = invalid(why, "WRITER_METADATA: unsupported version %u", version);
                goto fail;
        }
        id = json_object_get(doc, "IDENTIFICATION");
        if (!json_is_object(id)) {
                r = invalid(why, "WRITER_METADATA: IDENTIFICATION missing");
                goto fail;
        }
        if ((r = get_uuid(id, "writerId", true, &wm->writer_id, why, "IDENTIFICATION")) < 0 ||
            (r = get_uuid(id, "instanceId", true, &wm->instance_id, why, "IDENTIFICATION")) < 0 ||
            (r = get_str(id, "friendlyName", true, &wm->writer_name, why, "IDENTIFICATION")) < 0 ||
            (r = get_str0(id, "instanceName", &wm->instance_name, why, "IDENTIFICATION")) < 0)
                goto fail;
        if (wm->writer_name[0] == 0) {
                r = invalid(why, "IDENTIFICATION: empty \"friendlyName\"");
                goto fail;
        }
        if ((r = get_enum(id, "usage", 0, lvss_usage_type_from_string, &v, why, "IDENTIFICATION")) < 0)
                goto fail;
        wm->usage = (lvss_usage_type) v;
        if ((r = get_enum(id, "dataSource", 0, lvss_source_type_from_string, &v, why, "IDENTIFICATION")) < 0)
                goto fail;
        wm->source = (lvss_source_type) v;
        if ((r = get_enum(id, "level", LVSS_APP_FRONT_END + 1, parse_level, &v, why, "IDENTIFICATION")) < 0)
                goto fail;
        wm->level = (lvss_application_level) (v - 1);
        if ((r = get_u32(id, "freezeTimeout", 60000, &wm->freeze_timeout_ms, why, "IDENTIFICATION")) < 0)
                goto fail;
        if (wm->freeze_timeout_ms == 0 || wm->freeze_timeout_ms > 3600000) {
                r = invalid(why, "IDENTIFICATION: \"freezeTimeout\" must be 1..3600000 ms");
                goto fail;
        }

        rm = json_object_get(doc, "RESTORE_METHOD");
        if (rm && !json_is_null(rm)) {
                if (!json_is_object(rm)) {
                        r = invalid(why, "WRITER_METADATA: RESTORE_METHOD is not an object");
                        goto fail;
                }
                wm->have_restore_method = true;
                if ((r = get_enum(rm, "method", 0, lvss_restore_method_from_string, &v, why, "RESTORE_METHOD")) < 0)
                        goto fail;
                wm->method = (lvss_restore_method) v;
                if ((r = get_enum(rm, "writerRestore", LVSS_WRE_NEVER, lvss_writer_restore_from_string, &v, why,
                                  "RESTORE_METHOD")) < 0)
                        goto fail;
                wm->writer_restore = (lvss_writer_restore) v;
                if ((r = get_str(rm, "service", false, &wm->service, why, "RESTORE_METHOD")) < 0 ||
                    (r = get_str(rm, "userProcedure", false, &wm->user_procedure, why, "RESTORE_METHOD")) < 0 ||
                    (r = get_bool(rm, "rebootRequired", false, &wm->reboot_required, why, "RESTORE_METHOD")) < 0)
                        goto fail;
        }
        if ((r = get_u32(doc, "backupSchema", 0, &wm->schema, why, "WRITER_METADATA")) < 0 ||
            (r = files_parse(doc, "EXCLUDE_FILES", true, false, "alternatePath", &wm->excludes, why, "WRITER_METADATA")) < 0 ||
            (r = files_parse(doc, "ALTERNATE_LOCATION_MAPPING", true, true, "alternatePath", &wm->mappings, why,
                             "WRITER_METADATA")) < 0)
                goto fail;

        r = get_array(doc, "BACKUP_LOCATIONS", LVSS_DOC_MAX_COMPONENTS, &a, why, "WRITER_METADATA");
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
                        r = wm_component_parse(e, &wm->comps[i], why, where);
                        if (r < 0)
                                goto fail;
                        for (size_t j = 0; j < i; j++)
                                if (strcmp(wm->comps[j].logical_path, wm->comps[i].logical_path) == 0 &&
                                    strcmp(wm->comps[j].name, wm->comps[i].name) == 0) {
                                        r = invalid(why, "%s: component \"%.200s\" declared twice", where,
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

static int parse_text(const char *json, json_t **ret, char *why) {
        json_error_t err;
        size_t len;

        why[0] = 0;
        if (!json) {
                snprintf(why, LVSS_DOC_WHY_MAX, "no document");
                return LVSS_E_CORRUPT_XML_DOCUMENT;
        }
        len = strnlen(json, LVSS_DOC_MAX_BYTES + 1);
        if (len > LVSS_DOC_MAX_BYTES) {
                snprintf(why, LVSS_DOC_WHY_MAX, "document larger than %u bytes", LVSS_DOC_MAX_BYTES);
                return LVSS_E_CORRUPT_XML_DOCUMENT;
        }
        *ret = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
        if (!*ret) {
                snprintf(why, LVSS_DOC_WHY_MAX, "not valid JSON: %s at line %d column %d", err.text, err.line,
                         err.column);
                return LVSS_E_CORRUPT_XML_DOCUMENT;
        }
        return 0;
}

/* ------------------------------------------------- writer event arguments */

json_t *lvss_doc_event_args_to_json(const lvss_doc_event_args *a, const char *writer_instance_id) {
        json_t *o = json_object();

        if (!o)
                return NULL;
        json_object_set_new(o, "sessionId", json_string(a->session_id));
        json_object_set_new(o, "snapshotSetId", a->set_id[0] ? json_string(a->set_id) : json_null());
        json_object_set_new(o, "context", json_integer(a->context));
        if (a->has_level)
                json_object_set_new(o, "level", json_string(lvss_application_level_to_string(a->level)));
        if (a->volumes) {
                json_t *vols = json_array();
                for (size_t i = 0; i < a->n_volumes; i++)
                        json_array_append_new(vols, json_string(a->volumes[i]));
                json_object_set_new(o, "volumes", vols);
        }
        if (a->bcd)
                json_object_set_new(o, "document", lvss_doc_bcd_to_json_for_writer(a->bcd, writer_instance_id));
        return o;
}

void lvss_doc_event_args_clear(lvss_doc_event_args *a) {
        for (size_t i = 0; i < a->n_volumes; i++)
                free(a->volumes[i]);
        free(a->volumes);
        lvss_doc_bcd_free(a->bcd);
        *a = (lvss_doc_event_args) {};
}

/* The volumes: a list too long, or no memory, leaves none (not an error). */
static void event_args_volumes(json_t *v, lvss_doc_event_args *a) {
        size_t i;
        json_t *e;

        if (!json_is_array(v) || json_array_size(v) > LVSS_DOC_MAX_SNAPSHOTS)
                return;
        a->volumes = calloc(json_array_size(v) + 1, sizeof(char *));
        if (!a->volumes)
                return;
        json_array_foreach(v, i, e)
                if (json_is_string(e) && json_string_length(e) < LVSS_DOC_MAX_STRING) {
                        a->volumes[a->n_volumes] = strdup(json_string_value(e));
                        if (!a->volumes[a->n_volumes]) {
                                for (size_t k = 0; k < a->n_volumes; k++)
                                        free(a->volumes[k]);
                                free(a->volumes);
                                a->volumes = NULL;
                                a->n_volumes = 0;
                                return;
                        }
                        a->n_volumes++;
                }
}

int lvss_doc_event_args_parse(const char *text, lvss_doc_event_args *ret, char why[LVSS_DOC_WHY_MAX]) {
        lvss_doc_event_args a = {};
        json_t *root, *v;
        int r = parse_text(text, &root, why);

        if (r < 0)
                return r;
        if (!json_is_object(root)) {
                json_decref(root);
                return invalid(why, "event arguments are not a JSON object");
        }
        if ((v = json_object_get(root, "snapshotSetId")) && json_is_string(v) && lvss_doc_is_uuid(json_string_value(v)))
                snprintf(a.set_id, sizeof(a.set_id), "%s", json_string_value(v));
        if ((v = json_object_get(root, "sessionId")) && json_is_string(v))
                snprintf(a.session_id, sizeof(a.session_id), "%s", json_string_value(v));
        if ((v = json_object_get(root, "context")) && json_is_integer(v))
                a.context = (uint32_t) json_integer_value(v);
        if ((v = json_object_get(root, "level")) && json_is_string(v))
                a.has_level = lvss_application_level_from_string(json_string_value(v), &a.level) >= 0;
        event_args_volumes(json_object_get(root, "volumes"), &a);
        v = json_object_get(root, "document");
        if (v && !json_is_null(v)) {
                char inner[LVSS_DOC_WHY_MAX];
                r = lvss_doc_bcd_from_json(v, &a.bcd, inner);
                if (r < 0) {
                        snprintf(why, LVSS_DOC_WHY_MAX, "components document: %.*s", LVSS_DOC_WHY_MAX - 24, inner);
                        lvss_doc_event_args_clear(&a);
                        json_decref(root);
                        return r;
                }
        }
        json_decref(root);
        *ret = a;
        return 0;
}

int lvss_doc_wm_parse(const char *json, struct lvss_writer_metadata **ret, char why[LVSS_DOC_WHY_MAX]) {
        json_t *root;
        int r = parse_text(json, &root, why);

        if (r < 0)
                return r;
        r = lvss_doc_wm_from_json(root, ret, why);
        json_decref(root);
        return r;
}

json_t *lvss_doc_wm_to_json(const struct lvss_writer_metadata *wm) {
        json_t *doc = json_object(), *id = json_object(), *comps = json_array(), *root;

        jset(id, "writerId", jstr(wm->writer_id));
        jset(id, "instanceId", jstr(wm->instance_id));
        jset(id, "friendlyName", jstr(wm->writer_name));
        jset(id, "instanceName", jstr(wm->instance_name ? wm->instance_name : ""));
        jset(id, "usage", jstr(lvss_usage_type_to_string(wm->usage)));
        jset(id, "dataSource", jstr(lvss_source_type_to_string(wm->source)));
        jset(id, "level", jstr(lvss_application_level_to_string(wm->level)));
        jset(id, "freezeTimeout", json_integer(wm->freeze_timeout_ms));
        jset(doc, "version", json_integer(DOC_VERSION));
        jset(doc, "IDENTIFICATION", id);
        if (wm->have_restore_method) {
                json_t *rm = json_object();
                jset(rm, "method", jstr(lvss_restore_method_to_string(wm->method)));
                if (wm->service)
                        jset(rm, "service", jstr(wm->service));
                if (wm->user_procedure)
                        jset(rm, "userProcedure", jstr(wm->user_procedure));
                jset(rm, "writerRestore", jstr(lvss_writer_restore_to_string(wm->writer_restore)));
                jset(rm, "rebootRequired", json_boolean(wm->reboot_required));
                jset(doc, "RESTORE_METHOD", rm);
        }
        jset(doc, "backupSchema", json_integer(wm->schema));
        jset(doc, "EXCLUDE_FILES", files_to_json(&wm->excludes, "alternatePath", false));
        jset(doc, "ALTERNATE_LOCATION_MAPPING", files_to_json(&wm->mappings, "alternatePath", false));
        for (size_t i = 0; comps && i < wm->n_comps; i++) {
                const lvss_doc_wm_component *c = &wm->comps[i];
                json_t *e = json_object(), *deps = json_array();
                jset(e, "componentType", jstr(lvss_component_type_to_string(c->type)));
                jset(e, "logicalPath", jstr(c->logical_path));
                jset(e, "componentName", jstr(c->name));
                jset(e, "caption", jstr(c->caption));
                jset(e, "restoreMetadata", json_boolean(c->restore_metadata));
                jset(e, "notifyOnBackupComplete", json_boolean(c->notify_on_backup_complete));
                jset(e, "selectable", json_boolean(c->selectable));
                jset(e, "selectableForRestore", json_boolean(c->selectable_for_restore));
                jset(e, "componentFlags", json_integer(c->flags));
                if (c->type == LVSS_CT_FILEGROUP)
                        jset(e, "FILE_LIST", files_to_json(&c->files, "alternatePath", true));
                else {
                        jset(e, "DATABASE_FILES", files_to_json(&c->databases, "alternatePath", true));
                        jset(e, "DATABASE_LOGFILES", files_to_json(&c->logs, "alternatePath", true));
                }
                for (size_t j = 0; deps && j < c->n_deps; j++) {
                        json_t *d = json_object();
                        jset(d, "writerId", jstr(c->deps[j].writer_id));
                        jset(d, "logicalPath", jstr(c->deps[j].logical_path));
                        jset(d, "componentName", jstr(c->deps[j].name));
                        json_array_append_new(deps, d);
                }
                jset(e, "DEPENDENCY", deps);
                json_array_append_new(comps, e);
        }
        jset(doc, "BACKUP_LOCATIONS", comps);
        root = json_object();
        jset(root, "WRITER_METADATA", doc);
        return root;
}

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
        c->n_partials = 0;
}

static void diffs_clear(struct lvss_component *c) {
        for (size_t i = 0; i < c->n_diffs; i++) {
                free(c->diffs[i].path);
                free(c->diffs[i].filespec);
        }
        free(c->diffs);
        c->diffs = NULL;
        c->n_diffs = 0;
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
        lvss_doc_partial *v, *p;

        if (!path || !*path || !filename || !*filename || !lvss_doc_ranges_valid(ranges) ||
            strlen(path) > LVSS_DOC_MAX_STRING || strlen(filename) > LVSS_DOC_MAX_STRING ||
            (metadata && strlen(metadata) > LVSS_DOC_MAX_STRING))
                return -EINVAL;
        if (c->n_partials >= LVSS_DOC_MAX_FILES)
                return -E2BIG;
        v = reallocarray(c->partials, c->n_partials + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        c->partials = v;
        p = &v[c->n_partials];
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
        lvss_doc_diffed *v, *d;

        if (!path || !*path || strlen(path) > LVSS_DOC_MAX_STRING || (filespec && strlen(filespec) > LVSS_DOC_MAX_STRING))
                return -EINVAL;
        if (c->n_diffs >= LVSS_DOC_MAX_FILES)
                return -E2BIG;
        v = reallocarray(c->diffs, c->n_diffs + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        c->diffs = v;
        d = &v[c->n_diffs];
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
        struct lvss_writer_components *wc, **v;

        if (bcd->n_writers >= LVSS_DOC_MAX_WRITERS)
                return NULL;
        wc = calloc(1, sizeof(*wc));
        if (!wc)
                return NULL;
        wc->bcd = bcd;
        wc->instance_id = strdup(instance_id);
        wc->writer_id = strdup(writer_id);
        wc->instance_name = strdup(instance_name ? instance_name : "");
        v = reallocarray(bcd->writers, bcd->n_writers + 1, sizeof(*v)); // NOLINT(bugprone-sizeof-expression): array of pointers
        if (!wc->instance_id || !wc->writer_id || !wc->instance_name || !v) {
                if (v)
                        bcd->writers = v;
                wc_free(wc);
                return NULL;
        }
        bcd->writers = v;
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
        struct lvss_component *c, **v;

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
        v = reallocarray(wc->comps, wc->n + 1, sizeof(*v)); // NOLINT(bugprone-sizeof-expression): array of pointers
        if (!c->logical_path || !c->name || !v) {
                if (v)
                        wc->comps = v;
                component_free(c);
                return NULL;
        }
        wc->comps = v;
        wc->comps[wc->n++] = c;
        return c;
}

int lvss_doc_bcd_add_snapshot(lvss_bcd *bcd, const lvss_doc_snapshot *s) {
        lvss_doc_snapshot *v, *n;

        if (bcd->n_snaps >= LVSS_DOC_MAX_SNAPSHOTS)
                return -E2BIG;
        v = reallocarray(bcd->snaps, bcd->n_snaps + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        bcd->snaps = v;
        n = &v[bcd->n_snaps];
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

static int component_parse(json_t *e, struct lvss_writer_components *wc, char *why, const char *where) {
        _cleanup_free_ char *lpath = NULL, *name = NULL;
        struct lvss_component *c;
        int r, t;

        if ((r = get_enum(e, "componentType", -1, lvss_component_type_from_string, &t, why, where)) < 0)
                return r;
        if (t != LVSS_CT_DATABASE && t != LVSS_CT_FILEGROUP)
                return invalid(why, "%s: \"componentType\" must be \"database\" or \"filegroup\"", where);
        if ((r = get_str0(e, "logicalPath", &lpath, why, where)) < 0 ||
            (r = get_str(e, "componentName", true, &name, why, where)) < 0)
                return r;
        if (name[0] == 0)
                return invalid(why, "%s: empty \"componentName\"", where);
        if (lvss_doc_wc_find(wc, LVSS_CT_UNDEFINED, lpath, name))
                return invalid(why, "%s: component \"%.200s\" listed twice", where, name);
        c = lvss_doc_wc_add(wc, (lvss_component_type) t, lpath, name);
        if (!c)
                return -ENOMEM;
        if ((r = get_bool(e, "backupSucceeded", false, &c->backup_succeeded, why, where)) < 0 ||
            (r = get_bool(e, "selectedForRestore", false, &c->selected_for_restore, why, where)) < 0 ||
            (r = get_bool(e, "additionalRestores", false, &c->additional_restores, why, where)) < 0 ||
            (r = get_str(e, "backupOptions", false, &c->backup_options, why, where)) < 0 ||
            (r = get_str(e, "restoreOptions", false, &c->restore_options, why, where)) < 0 ||
            (r = get_str(e, "backupStamp", false, &c->backup_stamp, why, where)) < 0 ||
            (r = get_str(e, "previousBackupStamp", false, &c->previous_backup_stamp, why, where)) < 0 ||
            (r = get_str(e, "backupMetadata", false, &c->backup_metadata, why, where)) < 0 ||
            (r = get_str(e, "restoreMetadata", false, &c->restore_metadata, why, where)) < 0 ||
            (r = get_str(e, "prepareForBackupFailureMsg", false, &c->pfb_msg, why, where)) < 0 ||
            (r = get_str(e, "postSnapshotFailureMsg", false, &c->ps_msg, why, where)) < 0 ||
            (r = get_str(e, "preRestoreFailureMsg", false, &c->pre_msg, why, where)) < 0 ||
            (r = get_str(e, "postRestoreFailureMsg", false, &c->post_msg, why, where)) < 0)
                return r;
        if ((r = get_enum(e, "restoreTarget", LVSS_RT_ORIGINAL, lvss_restore_target_from_string, &t, why, where)) < 0)
                return r;
        c->restore_target = (lvss_restore_target) t;
        if ((r = get_enum(e, "fileRestoreStatus", 0, lvss_file_restore_status_from_string, &t, why, where)) < 0)
                return r;
        c->file_restore_status = (lvss_file_restore_status) t;
        {
                json_t *a, *pe;
                size_t i;
                if ((r = get_array(e, "PARTIAL_FILE", LVSS_DOC_MAX_FILES, &a, why, where)) < 0)
                        return r;
                json_array_foreach(a, i, pe) {
                        _cleanup_free_ char *path = NULL, *file = NULL, *ranges = NULL, *md = NULL;
                        if ((r = get_str(pe, "path", true, &path, why, where)) < 0 ||
                            (r = get_str(pe, "filename", true, &file, why, where)) < 0 ||
                            (r = get_str(pe, "ranges", true, &ranges, why, where)) < 0 ||
                            (r = get_str(pe, "metadata", false, &md, why, where)) < 0)
                                return r;
                        if (!*path || !*file || !lvss_doc_ranges_valid(ranges))
                                return invalid(why, "%s: PARTIAL_FILE[%zu]: empty name or malformed ranges", where, i);
                        if ((r = lvss_doc_component_add_partial(c, path, file, ranges, md)) < 0)
                                return r;
                }
                if ((r = get_array(e, "DIFFERENCED_FILE", LVSS_DOC_MAX_FILES, &a, why, where)) < 0)
                        return r;
                json_array_foreach(a, i, pe) {
                        _cleanup_free_ char *path = NULL, *spec = NULL;
                        bool rec;
                        json_t *lm;
                        uint64_t usec = 0;
                        if ((r = get_str(pe, "path", true, &path, why, where)) < 0 ||
                            (r = get_str0(pe, "filespec", &spec, why, where)) < 0 ||
                            (r = get_bool(pe, "recursive", false, &rec, why, where)) < 0)
                                return r;
                        lm = json_object_get(pe, "lastModifyTime");
                        if (lm && !json_is_null(lm)) {
                                if (!json_is_integer(lm) || json_integer_value(lm) < 0)
                                        return invalid(why, "%s: DIFFERENCED_FILE[%zu]: bad lastModifyTime", where, i);
                                usec = (uint64_t) json_integer_value(lm);
                        }
                        if (!*path)
                                return invalid(why, "%s: DIFFERENCED_FILE[%zu]: empty path", where, i);
                        if ((r = lvss_doc_component_add_diffed(c, path, spec, rec, usec)) < 0)
                                return r;
                }
        }
        return 0;
}

int lvss_doc_bcd_from_json(json_t *root, lvss_bcd **ret, char why[LVSS_DOC_WHY_MAX]) {
        lvss_bcd *bcd;
        json_t *doc, *a, *e, *ss;
        uint32_t version;
        size_t i, j;
        int r, v;
        char where[96];

        why[0] = 0;
        if (!json_is_object(root) || !(doc = json_object_get(root, "BACKUP_COMPONENTS")) || !json_is_object(doc))
                return invalid(why, "not a backup components document (no BACKUP_COMPONENTS object)");
        bcd = lvss_doc_bcd_new();
        if (!bcd)
                return -ENOMEM;
        if ((r = get_u32(doc, "version", DOC_VERSION, &version, why, "BACKUP_COMPONENTS")) < 0)
                goto fail;
        if (version != DOC_VERSION) {
                r = invalid(why, "BACKUP_COMPONENTS: unsupported version %u", version);
                goto fail;
        }
        if ((r = get_bool(doc, "selectComponents", true, &bcd->select_components, why, "BACKUP_COMPONENTS")) < 0 ||
            (r = get_bool(doc, "bootableSystemStateBackup", false, &bcd->bootable, why, "BACKUP_COMPONENTS")) < 0 ||
            (r = get_bool(doc, "partialFileSupport", false, &bcd->partial_file_support, why, "BACKUP_COMPONENTS")) < 0 ||
            (r = get_bool(doc, "restore", false, &bcd->restore, why, "BACKUP_COMPONENTS")) < 0 ||
            (r = get_u32(doc, "context", LVSS_CTX_BACKUP, &bcd->context, why, "BACKUP_COMPONENTS")) < 0 ||
            (r = get_uuid(doc, "snapshotSetId", false, &bcd->set_id, why, "BACKUP_COMPONENTS")) < 0)
                goto fail;
        if (!lvss_context_to_string(bcd->context)) {
                r = invalid(why, "BACKUP_COMPONENTS: unknown context 0x%x", bcd->context);
                goto fail;
        }
        if ((r = get_enum(doc, "backupType", LVSS_BT_FULL, lvss_backup_type_from_string, &v, why, "BACKUP_COMPONENTS")) < 0)
                goto fail;
        bcd->backup_type = (lvss_backup_type) v;
        if ((r = get_enum(doc, "restoreType", 0, lvss_restore_type_from_string, &v, why, "BACKUP_COMPONENTS")) < 0)
                goto fail;
        bcd->restore_type = (lvss_restore_type) v;

        if ((r = get_array(doc, "WRITER_COMPONENTS", LVSS_DOC_MAX_WRITERS, &a, why, "BACKUP_COMPONENTS")) < 0)
                goto fail;
        json_array_foreach(a, i, e) {
                _cleanup_free_ char *inst = NULL, *wid = NULL, *iname = NULL;
                struct lvss_writer_components *wc;
                json_t *ca, *ce;

                snprintf(where, sizeof(where), "WRITER_COMPONENTS[%zu]", i);
                if ((r = get_uuid(e, "instanceId", true, &inst, why, where)) < 0 ||
                    (r = get_uuid(e, "writerId", true, &wid, why, where)) < 0 ||
                    (r = get_str0(e, "instanceName", &iname, why, where)) < 0)
                        goto fail;
                if (lvss_doc_bcd_find_writer(bcd, inst, NULL)) {
                        r = invalid(why, "%s: writer instance %s listed twice", where, inst);
                        goto fail;
                }
                wc = lvss_doc_bcd_add_writer(bcd, inst, wid, iname);
                if (!wc) {
                        r = -ENOMEM;
                        goto fail;
                }
                if ((r = get_u32(e, "backupSchema", 0, &wc->backup_schema, why, where)) < 0 ||
                    (r = get_array(e, "COMPONENT", LVSS_DOC_MAX_COMPONENTS, &ca, why, where)) < 0)
                        goto fail;
                json_array_foreach(ca, j, ce) {
                        char w2[128];
                        snprintf(w2, sizeof(w2), "%s COMPONENT[%zu]", where, j);
                        if ((r = component_parse(ce, wc, why, w2)) < 0)
                                goto fail;
                }
        }

        ss = json_object_get(doc, "SNAPSHOT_SET_DESCRIPTION");
        if (ss && !json_is_null(ss)) {
                if (!json_is_object(ss)) {
                        r = invalid(why, "SNAPSHOT_SET_DESCRIPTION is not an object");
                        goto fail;
                }
                if ((r = get_array(ss, "SNAPSHOT_DESCRIPTION", LVSS_DOC_MAX_SNAPSHOTS, &a, why,
                                   "SNAPSHOT_SET_DESCRIPTION")) < 0)
                        goto fail;
                json_array_foreach(a, i, e) {
                        _cleanup_(snapshot_clear) lvss_doc_snapshot s = {};
                        json_t *ts;
                        snprintf(where, sizeof(where), "SNAPSHOT_DESCRIPTION[%zu]", i);
                        if ((r = get_uuid(e, "snapshotId", true, &s.snapshot_id, why, where)) < 0 ||
                            (r = get_str(e, "originalVolumeName", true, &s.original, why, where)) < 0 ||
                            (r = get_str0(e, "volume", &s.volume, why, where)) < 0 ||
                            (r = get_str(e, "snapshotDeviceObject", true, &s.path, why, where)) < 0 ||
                            (r = get_str0(e, "providerId", &s.provider_id, why, where)) < 0 ||
                            (r = get_str0(e, "providerName", &s.provider_name, why, where)) < 0)
                                goto fail;
                        ts = json_object_get(e, "creationTimestamp");
                        if (ts && !json_is_null(ts)) {
                                if (!json_is_integer(ts) || json_integer_value(ts) < 0) {
                                        r = invalid(why, "%s: \"creationTimestamp\" is not a positive integer", where);
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

int lvss_doc_bcd_parse(const char *json, lvss_bcd **ret, char why[LVSS_DOC_WHY_MAX]) {
        json_t *root;
        int r = parse_text(json, &root, why);

        if (r < 0)
                return r;
        r = lvss_doc_bcd_from_json(root, ret, why);
        json_decref(root);
        return r;
}

static void jset_opt(json_t *o, const char *key, const char *s) {
        if (s)
                jset(o, key, json_string(s));
}

static json_t *wc_to_json(const struct lvss_writer_components *wc) {
        json_t *e = json_object(), *ca = json_array();

        jset(e, "instanceId", jstr(wc->instance_id));
        jset(e, "writerId", jstr(wc->writer_id));
        jset(e, "instanceName", jstr(wc->instance_name));
        jset(e, "backupSchema", json_integer(wc->backup_schema));
        for (size_t j = 0; ca && j < wc->n; j++) {
                const struct lvss_component *c = wc->comps[j];
                json_t *ce = json_object();
                jset(ce, "componentType", jstr(lvss_component_type_to_string(c->type)));
                jset(ce, "logicalPath", jstr(c->logical_path));
                jset(ce, "componentName", jstr(c->name));
                jset(ce, "backupSucceeded", json_boolean(c->backup_succeeded));
                jset(ce, "selectedForRestore", json_boolean(c->selected_for_restore));
                jset(ce, "additionalRestores", json_boolean(c->additional_restores));
                jset_opt(ce, "backupOptions", c->backup_options);
                jset_opt(ce, "restoreOptions", c->restore_options);
                jset_opt(ce, "backupStamp", c->backup_stamp);
                jset_opt(ce, "previousBackupStamp", c->previous_backup_stamp);
                jset_opt(ce, "backupMetadata", c->backup_metadata);
                jset_opt(ce, "restoreMetadata", c->restore_metadata);
                jset(ce, "restoreTarget", jstr(lvss_restore_target_to_string(c->restore_target)));
                jset(ce, "fileRestoreStatus", jstr(lvss_file_restore_status_to_string(c->file_restore_status)));
                jset_opt(ce, "prepareForBackupFailureMsg", c->pfb_msg);
                jset_opt(ce, "postSnapshotFailureMsg", c->ps_msg);
                jset_opt(ce, "preRestoreFailureMsg", c->pre_msg);
                jset_opt(ce, "postRestoreFailureMsg", c->post_msg);
                if (c->n_partials) {
                        json_t *pa = json_array();
                        for (size_t k = 0; pa && k < c->n_partials; k++) {
                                json_t *pe = json_object();
                                jset(pe, "path", jstr(c->partials[k].path));
                                jset(pe, "filename", jstr(c->partials[k].filename));
                                jset(pe, "ranges", jstr(c->partials[k].ranges));
                                jset_opt(pe, "metadata", c->partials[k].metadata);
                                json_array_append_new(pa, pe);
                        }
                        jset(ce, "PARTIAL_FILE", pa);
                }
                if (c->n_diffs) {
                        json_t *da = json_array();
                        for (size_t k = 0; da && k < c->n_diffs; k++) {
                                json_t *de = json_object();
                                jset(de, "path", jstr(c->diffs[k].path));
                                jset(de, "filespec", jstr(c->diffs[k].filespec));
                                jset(de, "recursive", json_boolean(c->diffs[k].recursive));
                                jset(de, "lastModifyTime", json_integer((json_int_t) c->diffs[k].last_modify_usec));
                                json_array_append_new(da, de);
                        }
                        jset(ce, "DIFFERENCED_FILE", da);
                }
                json_array_append_new(ca, ce);
        }
        jset(e, "COMPONENT", ca);
        return e;
}

static json_t *bcd_to_json(const lvss_bcd *bcd, const char *only_instance) {
        json_t *doc = json_object(), *wa = json_array(), *ss, *sa, *root;

        jset(doc, "version", json_integer(DOC_VERSION));
        jset(doc, "selectComponents", json_boolean(bcd->select_components));
        jset(doc, "bootableSystemStateBackup", json_boolean(bcd->bootable));
        jset(doc, "backupType", jstr(lvss_backup_type_to_string(bcd->backup_type)));
        jset(doc, "partialFileSupport", json_boolean(bcd->partial_file_support));
        jset(doc, "restore", json_boolean(bcd->restore));
        jset(doc, "restoreType", jstr(lvss_restore_type_to_string(bcd->restore_type)));
        jset(doc, "context", json_integer(bcd->context));
        jset(doc, "snapshotSetId", jstr(bcd->set_id));
        for (size_t i = 0; wa && i < bcd->n_writers; i++)
                if (!only_instance || strcmp(bcd->writers[i]->instance_id, only_instance) == 0)
                        json_array_append_new(wa, wc_to_json(bcd->writers[i]));
        jset(doc, "WRITER_COMPONENTS", wa);
        ss = json_object();
        sa = json_array();
        jset(ss, "snapshotSetId", jstr(bcd->set_id));
        for (size_t i = 0; sa && i < bcd->n_snaps; i++) {
                const lvss_doc_snapshot *s = &bcd->snaps[i];
                json_t *se = json_object();
                jset(se, "snapshotId", jstr(s->snapshot_id));
                jset(se, "originalVolumeName", jstr(s->original));
                jset(se, "volume", jstr(s->volume));
                jset(se, "snapshotDeviceObject", jstr(s->path));
                jset(se, "providerId", jstr(s->provider_id));
                jset(se, "providerName", jstr(s->provider_name));
                jset(se, "creationTimestamp", json_integer((json_int_t) s->created_usec));
                json_array_append_new(sa, se);
        }
        jset(ss, "SNAPSHOT_DESCRIPTION", sa);
        jset(doc, "SNAPSHOT_SET_DESCRIPTION", ss);
        root = json_object();
        jset(root, "BACKUP_COMPONENTS", doc);
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
