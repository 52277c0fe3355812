/* SPDX-License-Identifier: MIT */
/*
 * The one parser of outside documents in lvss: the JSON helpers every
 * document is read with (doc-json.h), identifiers and thread checks, file
 * lists, the writer identity and the writer event arguments.  The two VSS
 * documents have their own files: doc-wm.c (writer metadata) and doc-bcd.c
 * (backup components).  Used by liblvss and lvssd alike; its fuzz target is
 * tests/fuzz/lvss/.  Every limit is checked before anything is allocated for
 * it; every value is type-checked; the first problem is raised as one line
 * into the caller's ErrorSlot (lib/core/error-slot.h; NULL: the thread's
 * slot).  Unknown keys are ignored (newer documents stay readable).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/core/array.h"
#include "lib/lvss/doc-json.h"
#include "lib/core/macro.h"

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

int doc_invalid(ErrorSlot *es, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) error_slot_setv(es, LVSS_E_INVALID_XML_DOCUMENT, fmt, ap);
        va_end(ap);
        return LVSS_E_INVALID_XML_DOCUMENT;
}

/* A string field: must be a JSON string of at most LVSS_DOC_MAX_STRING bytes
 * without NUL.  Missing or null: *ret = NULL (error if required). */
int doc_get_str(json_t *o, const char *key, bool required, char **ret, ErrorSlot *es, const char *where) {
        json_t *v = json_object_get(o, key);
        const char *s;
        size_t len;

        *ret = NULL;
        if (!v || json_is_null(v)) {
                if (required)
                        return doc_invalid(es, "%s: \"%s\" missing", where, key);
                return 0;
        }
        if (!json_is_string(v))
                return doc_invalid(es, "%s: \"%s\" is not a string", where, key);
        s = json_string_value(v);
        len = json_string_length(v);
        if (len > LVSS_DOC_MAX_STRING)
                return doc_invalid(es, "%s: \"%s\" longer than %u bytes", where, key, LVSS_DOC_MAX_STRING);
        if (strlen(s) != len)
                return doc_invalid(es, "%s: \"%s\" contains a NUL byte", where, key);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* A string that defaults to "" when missing. */
int doc_get_str0(json_t *o, const char *key, char **ret, ErrorSlot *es, const char *where) {
        int r = doc_get_str(o, key, false, ret, es, where);
        if (r < 0)
                return r;
        if (!*ret) {
                *ret = strdup("");
                if (!*ret)
                        return -ENOMEM;
        }
        return 0;
}

int doc_get_uuid(json_t *o, const char *key, bool required, char **ret, ErrorSlot *es, const char *where) {
        int r = doc_get_str(o, key, required, ret, es, where);
        if (r < 0)
                return r;
        if (*ret && !lvss_doc_is_uuid(*ret)) {
                free(*ret);
                *ret = NULL;
                return doc_invalid(es, "%s: \"%s\" is not a UUID", where, key);
        }
        return 0;
}

int doc_get_bool(json_t *o, const char *key, bool def, bool *ret, ErrorSlot *es, const char *where) {
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (!json_is_boolean(v))
                return doc_invalid(es, "%s: \"%s\" is not a boolean", where, key);
        *ret = json_is_true(v);
        return 0;
}

int doc_get_u32(json_t *o, const char *key, uint32_t def, uint32_t *ret, ErrorSlot *es, const char *where) {
        json_t *v = json_object_get(o, key);
        json_int_t i;

        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (!json_is_integer(v))
                return doc_invalid(es, "%s: \"%s\" is not an integer", where, key);
        i = json_integer_value(v);
        if (i < 0 || i > (json_int_t) UINT32_MAX)
                return doc_invalid(es, "%s: \"%s\" out of range", where, key);
        *ret = (uint32_t) i;
        return 0;
}

/* An enum spelled as a string; parse(s) returns the value or -EINVAL. */
int doc_get_enum(json_t *o, const char *key, int def, int (*parse)(const char *), int *ret,
                 ErrorSlot *es, const char *where) {
        json_t *v = json_object_get(o, key);
        int r;

        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (!json_is_string(v))
                return doc_invalid(es, "%s: \"%s\" is not a string", where, key);
        r = parse(json_string_value(v));
        if (r < 0)
                return doc_invalid(es, "%s: \"%s\" has unknown value \"%.64s\"", where, key, json_string_value(v));
        *ret = r;
        return 0;
}

/* An optional array of at most max objects. */
int doc_get_array(json_t *o, const char *key, size_t max, json_t **ret, ErrorSlot *es, const char *where) {
        json_t *v = json_object_get(o, key);
        size_t i;
        json_t *e;

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return doc_invalid(es, "%s: \"%s\" is not an array", where, key);
        if (json_array_size(v) > max)
                return doc_invalid(es, "%s: \"%s\" has more than %zu entries", where, key, max);
        json_array_foreach(v, i, e)
                if (!json_is_object(e))
                        return doc_invalid(es, "%s: \"%s\"[%zu] is not an object", where, key, i);
        *ret = v;
        return 0;
}

json_t *doc_jstr(const char *s) {
        return s ? json_string(s) : json_null();
}

/* json_object_set_new that tolerates NULL values (OOM is caught by the
 * final NULL check of the caller via json_dumps failing). */
void doc_jset(json_t *o, const char *key, json_t *v) {
        if (o && v)
                json_object_set_new(o, key, v);
        else
                json_decref(v);
}

/* ------------------------------------------------------------ file lists */

void doc_files_clear(lvss_doc_files *f) {
        for (size_t i = 0; i < f->n; i++) {
                free(f->v[i].path);
                free(f->v[i].filespec);
                free(f->v[i].alternate);
        }
        free(f->v);
        f->v = NULL;
        f->n = f->cap = 0;
}

int doc_files_parse(json_t *o, const char *key, bool allow_recursive, bool allow_alternate,
                    const char *alternate_key, lvss_doc_files *ret, ErrorSlot *es, const char *where) {
        json_t *a, *e;
        size_t i;
        int r;
        char w[128];

        r = doc_get_array(o, key, LVSS_DOC_MAX_FILES, &a, es, where);
        if (r < 0 || !a)
                return r;
        ret->v = calloc(json_array_size(a) ? json_array_size(a) : 1, sizeof(lvss_doc_file));
        if (!ret->v)
                return -ENOMEM;
        json_array_foreach(a, i, e) {
                lvss_doc_file *f = &ret->v[i];
                snprintf(w, sizeof(w), "%.64s %s[%zu]", where, key, i);
                ret->n = i + 1;
                if ((r = doc_get_str(e, "path", true, &f->path, es, w)) < 0 ||
                    (r = doc_get_str0(e, "filespec", &f->filespec, es, w)) < 0 ||
                    (r = doc_get_bool(e, "recursive", false, &f->recursive, es, w)) < 0 ||
                    (r = doc_get_str(e, alternate_key, false, &f->alternate, es, w)) < 0 ||
                    (r = doc_get_u32(e, "filespecBackupType", LVSS_FSBT_DEFAULT, &f->mask, es, w)) < 0)
                        return r;
                if (f->path[0] == 0)
                        return doc_invalid(es, "%s: empty path", w);
                if (f->recursive && !allow_recursive)
                        return doc_invalid(es, "%s: database files cannot be recursive", w);
                if (f->alternate && !allow_alternate)
                        return doc_invalid(es, "%s: database files cannot have an alternate location", w);
        }
        return 0;
}

json_t *doc_files_to_json(const lvss_doc_files *f, const char *alternate_key, bool with_mask) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < f->n; i++) {
                json_t *e = json_object();
                doc_jset(e, "path", doc_jstr(f->v[i].path));
                doc_jset(e, "filespec", doc_jstr(f->v[i].filespec));
                doc_jset(e, "recursive", json_boolean(f->v[i].recursive));
                if (f->v[i].alternate)
                        doc_jset(e, alternate_key, doc_jstr(f->v[i].alternate));
                if (with_mask)
                        doc_jset(e, "filespecBackupType", json_integer(f->v[i].mask));
                json_array_append_new(a, e);
        }
        return a;
}

int lvss_doc_files_add(lvss_doc_files *f, const char *path, const char *filespec, bool recursive,
                       const char *alternate, uint32_t mask) {
        lvss_doc_file *v;

        if (f->n >= LVSS_DOC_MAX_FILES)
                return -E2BIG;
        if (ARRAY_RESERVE_ONE(f->v, f->cap, f->n, 4) < 0)
                return -ENOMEM;
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

int lvss_doc_identity_parse(const char *json, lvss_doc_identity *ret, ErrorSlot *es) {
        lvss_doc_identity id = { .level = LVSS_APP_FRONT_END, .freeze_timeout_ms = 60000 };
        _cleanup_free_ char *class_id = NULL, *level = NULL;
        json_error_t err;
        json_t *root;
        int r, v;

        error_slot_clear(es); /* "" on -ENOMEM */
        if (!json || strnlen(json, LVSS_DOC_IDENTITY_MAX_BYTES + 1) > LVSS_DOC_IDENTITY_MAX_BYTES) {
                (void) error_slot_set(es, 0, "writer identity missing or larger than %u bytes",
                         LVSS_DOC_IDENTITY_MAX_BYTES);
                return LVSS_E_CORRUPT_XML_DOCUMENT;
        }
        root = json_loads(json, JSON_REJECT_DUPLICATES, &err);
        if (!json_is_object(root)) {
                json_decref(root);
                (void) error_slot_set(es, 0, "writer identity is not a JSON object: %s", err.text);
                return LVSS_E_CORRUPT_XML_DOCUMENT;
        }
        if ((r = doc_get_uuid(root, "writerId", true, &class_id, es, "writer identity")) < 0 ||
            (r = doc_get_str(root, "friendlyName", true, &id.name, es, "writer identity")) < 0 ||
            (r = doc_get_str0(root, "instanceName", &id.instance_name, es, "writer identity")) < 0 ||
            (r = doc_get_str(root, "level", false, &level, es, "writer identity")) < 0)
                goto out;
        if (!id.name[0] || strlen(id.name) > 1024 || strlen(id.instance_name) > 1024) {
                r = doc_invalid(es, "writer identity: \"friendlyName\" must be 1..1024 bytes, \"instanceName\" at most 1024");
                goto out;
        }
        memcpy(id.class_id, class_id, LVSS_ID_MAX);
        if ((r = doc_get_enum(root, "usage", 0, lvss_usage_type_from_string, &v, es, "writer identity")) < 0)
                goto out;
        id.usage = (lvss_usage_type) v;
        if ((r = doc_get_enum(root, "dataSource", 0, lvss_source_type_from_string, &v, es, "writer identity")) < 0)
                goto out;
        id.source = (lvss_source_type) v;
        if (level && lvss_application_level_from_string(level, &id.level) < 0) {
                r = doc_invalid(es, "writer identity: unknown level '%.64s'", level);
                goto out;
        }
        if ((r = doc_get_u32(root, "freezeTimeout", 60000, &id.freeze_timeout_ms, es, "writer identity")) < 0)
                goto out;
        if (id.freeze_timeout_ms < 1 || id.freeze_timeout_ms > 3600000) {
                r = doc_invalid(es, "writer identity: \"freezeTimeout\" must be 1..3600000 ms");
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

int doc_parse_text(const char *json, json_t **ret, ErrorSlot *es) {
        json_error_t err;
        size_t len;

        error_slot_clear(es); /* "" on -ENOMEM */
        if (!json) {
                (void) error_slot_set(es, 0, "no document");
                return LVSS_E_CORRUPT_XML_DOCUMENT;
        }
        len = strnlen(json, LVSS_DOC_MAX_BYTES + 1);
        if (len > LVSS_DOC_MAX_BYTES) {
                (void) error_slot_set(es, 0, "document larger than %u bytes", LVSS_DOC_MAX_BYTES);
                return LVSS_E_CORRUPT_XML_DOCUMENT;
        }
        *ret = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
        if (!*ret) {
                (void) error_slot_set(es, 0, "not valid JSON: %s at line %d column %d", err.text, err.line,
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

int lvss_doc_event_args_parse(const char *text, lvss_doc_event_args *ret, ErrorSlot *es) {
        lvss_doc_event_args a = {};
        json_t *root, *v;
        int r = doc_parse_text(text, &root, es);

        if (r < 0)
                return r;
        if (!json_is_object(root)) {
                json_decref(root);
                return doc_invalid(es, "event arguments are not a JSON object");
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
                r = lvss_doc_bcd_from_json(v, &a.bcd, es);
                if (r < 0) {
                        /* %.232s: the bound the message had in its former 256-byte buffer */
                        (void) error_slot_set(es, r, "components document: %.232s", error_slot_get(es));
                        lvss_doc_event_args_clear(&a);
                        json_decref(root);
                        return r;
                }
        }
        json_decref(root);
        *ret = a;
        return 0;
}

