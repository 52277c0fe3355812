/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/record.c: backup records (JSON inside a sealed object) and the
 * manifest path rule.  See docs/design/repository.md §6 for the fields.
 * The parser trusts nothing: every field is type-checked, every count and
 * string bounded, every path checked with repo_path_check().
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <time.h>

#include "repo-int.h"

static const char *const type_names[_REPO_BACKUP_TYPE_MAX] = {
        [REPO_BACKUP_FULL] = "full",
        [REPO_BACKUP_COPY] = "copy",
        [REPO_BACKUP_INCREMENTAL] = "incremental",
        [REPO_BACKUP_DIFFERENTIAL] = "differential",
};

const char *repo_backup_type_to_string(int t) {
        return t >= 0 && t < _REPO_BACKUP_TYPE_MAX ? type_names[t] : NULL;
}

int repo_backup_type_from_string(const char *s) {
        for (int i = 0; s && i < _REPO_BACKUP_TYPE_MAX; i++)
                if (strcmp(s, type_names[i]) == 0)
                        return i;
        return -EINVAL;
}

int repo_path_check(const char *path) {
        size_t len;
        const char *p, *c;

        if (!path || !*path)
                return repo_error(NULL, -EINVAL, "empty path");
        len = strlen(path);
        if (len > REPO_MAX_PATH)
                return repo_error(NULL, -EINVAL, "path too long (%zu bytes)", len);
        if (path[0] == '/')
                return repo_error(NULL, -EINVAL, "path '%s' is absolute", path);
        for (p = path;; p = c + 1) {
                c = strchr(p, '/');
                size_t n = c ? (size_t) (c - p) : strlen(p);
                if (n == 0)
                        return repo_error(NULL, -EINVAL, "path '%s' has an empty component", path);
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return repo_error(NULL, -EINVAL, "path '%s' contains '%.*s'", path, (int) n, p);
                if (!c)
                        break;
        }
        return 0;
}

repo_record *repo_record_free(repo_record *rec) {
        if (!rec)
                return NULL;
        free(rec->hostname);
        for (size_t i = 0; i < rec->n_components; i++)
                free(rec->components[i]);
        free(rec->components);
        free(rec->components_doc);
        free(rec->reuse_map);
        for (size_t i = 0; i < rec->n_writers; i++) {
                free(rec->writers[i].name);
                free(rec->writers[i].metadata);
                free(rec->writers[i].stamp);
        }
        free(rec->writers);
        for (size_t i = 0; i < rec->n_files; i++)
                repo_file_clear(&rec->files[i]);
        free(rec->files);
        for (size_t i = 0; i < rec->n_deleted; i++)
                free(rec->deleted[i]);
        free(rec->deleted);
        free(rec);
        return NULL;
}

static json_t *opt_string(const char *s) {
        return s ? json_string(s) : json_null();
}

static void format_time(int64_t ns, char *buf, size_t size) {
        time_t t = (time_t) (ns / 1000000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Entry version 2 fields (§6.2): type, owner, names, hard link, xattrs. */
static int file_meta_to_json(const repo_file *f, json_t *fo) {
        json_t *xs = json_object();
        int r = -ENOMEM;

        if (!xs)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_xattrs; i++) {
                size_t blen = sodium_base64_ENCODED_LEN(f->xattrs[i].size, sodium_base64_VARIANT_ORIGINAL);
                char *b64 = malloc(blen);
                if (!b64)
                        goto out;
                sodium_bin2base64(b64, blen, f->xattrs[i].value, f->xattrs[i].size, sodium_base64_VARIANT_ORIGINAL);
                json_t *v = json_string(b64);
                free(b64);
                if (!v || json_object_set_new(xs, f->xattrs[i].name, v) < 0) {
                        r = repo_error(NULL, -EINVAL, "%s: extended attribute name %s is not valid UTF-8", f->path,
                                       f->xattrs[i].name);
                        goto out;
                }
        }
        if (json_object_set_new(fo, "entry", json_integer(REPO_FILE_ENTRY_VERSION)) < 0 ||
            json_object_set_new(fo, "type", json_string(repo_file_type_to_string(f->type))) < 0 ||
            json_object_set_new(fo, "uid", json_integer(f->uid)) < 0 ||
            json_object_set_new(fo, "gid", json_integer(f->gid)) < 0 ||
            json_object_set_new(fo, "user", opt_string(f->user)) < 0 ||
            json_object_set_new(fo, "group", opt_string(f->group)) < 0 ||
            (f->link && json_object_set_new(fo, "link", json_string(f->link)) < 0) ||
            (f->rdev && json_object_set_new(fo, "rdev", json_integer((json_int_t) f->rdev)) < 0))
                goto out;
        if (f->n_xattrs) {
                r = json_object_set_new(fo, "xattrs", xs) < 0 ? -ENOMEM : 0;
                xs = NULL;
                return r;
        }
        r = 0;
out:
        json_decref(xs);
        return r;
}

int repo_record_to_json(const repo_record *rec, char **ret_json) {
        json_t *o = NULL, *comps = NULL, *writers = NULL, *files = NULL, *deleted = NULL;
        char hex[REPO_ID_HEX_SIZE], tbuf[64];
        int r = -ENOMEM;

        if (!(comps = json_array()) || !(writers = json_array()) || !(files = json_array()) ||
            !(deleted = json_array()))
                goto out;
        for (size_t i = 0; i < rec->n_deleted; i++)
                if (json_array_append_new(deleted, json_string(rec->deleted[i])) < 0)
                        goto out;
        for (size_t i = 0; i < rec->n_components; i++)
                if (json_array_append_new(comps, json_string(rec->components[i])) < 0)
                        goto out;
        for (size_t i = 0; i < rec->n_writers; i++)
                if (json_array_append_new(writers, json_pack("{s:s, s:o, s:o}", "name", rec->writers[i].name,
                                                             "metadata", opt_string(rec->writers[i].metadata),
                                                             "stamp", opt_string(rec->writers[i].stamp))) < 0)
                        goto out;
        for (size_t i = 0; i < rec->n_files; i++) {
                const repo_file *f = &rec->files[i];
                json_t *blobs = json_array();
                if (!blobs)
                        goto out;
                for (size_t j = 0; j < f->n_blobs; j++) {
                        repo_id_to_hex(&f->blobs[j], hex);
                        if (json_array_append_new(blobs, json_string(hex)) < 0) {
                                json_decref(blobs);
                                goto out;
                        }
                }
                repo_id_to_hex(&f->hash, hex);
                json_t *fo = json_pack("{s:s, s:I, s:i, s:I, s:I, s:I, s:s, s:o}", "path", f->path,
                                                           "size", (json_int_t) f->size, "mode", (int) f->mode,
                                                           "mtime_ns", (json_int_t) f->mtime_ns, "ctime_ns",
                                                           (json_int_t) f->ctime_ns, "ino", (json_int_t) f->ino,
                                                           "hash", hex, "blobs", blobs);
                if (fo && f->symlink && json_object_set_new(fo, "symlink", json_string(f->symlink)) < 0) {
                        json_decref(fo);
                        goto out;
                }
                if (fo && f->has_owner && file_meta_to_json(f, fo) < 0) {
                        json_decref(fo);
                        goto out;
                }
                if (json_array_append_new(files, fo) < 0)
                        goto out;
        }
        format_time(rec->time_ns, tbuf, sizeof tbuf);
        if (rec->has_based_on)
                repo_id_to_hex(&rec->based_on, hex);
        o = json_pack("{s:i, s:s, s:s, s:I, s:o, s:o, s:O, s:o, s:O, s:O, s:O, s:I, s:I, s:I}", "version",
                      REPO_FORMAT_VERSION, "type", repo_backup_type_to_string(rec->type), "time", tbuf, "time_ns",
                      (json_int_t) rec->time_ns, "hostname", opt_string(rec->hostname), "based_on",
                      rec->has_based_on ? json_string(hex) : json_null(), "components", comps,
                      "backup_components_document", opt_string(rec->components_doc), "writers", writers, "files",
                      files, "deleted", deleted, "bytes_read", (json_int_t) rec->bytes_read, "bytes_added",
                      (json_int_t) rec->bytes_added, "duration_ms", (json_int_t) rec->duration_ms);
        if (!o)
                goto out;
        if (rec->reuse_map && json_object_set_new(o, "reuse_map", json_string(rec->reuse_map)) < 0)
                goto out;
        if (rec->has_copied_from) {
                char chex[REPO_ID_HEX_SIZE];
                repo_id_to_hex(&rec->copied_from, chex);
                if (json_object_set_new(o, "copied_from", json_string(chex)) < 0)
                        goto out;
        }
        *ret_json = json_dumps(o, JSON_COMPACT);
        r = *ret_json ? 0 : -ENOMEM;
out:
        json_decref(o);
        json_decref(comps);
        json_decref(writers);
        json_decref(files);
        json_decref(deleted);
        return r;
}

/* A bounded copy of an optional string member. */
static int get_opt_string(json_t *o, const char *key, char **ret) {
        json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v) || json_string_length(v) > REPO_MAX_STRING ||
            strlen(json_string_value(v)) != json_string_length(v))
                return repo_error(NULL, REPO_E_CORRUPT, "record: field '%s' is not a valid string", key);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

/* Entry version 2 fields; version 1 entries have none (has_owner false). */
static int parse_file_meta(json_t *o, const char *path, size_t size, size_t n_blobs, repo_file *f) {
        const char *type = NULL;
        json_int_t uid, gid;
        json_t *v;
        int k;

        if (json_unpack(o, "{s:s, s:I, s:I}", "type", &type, "uid", &uid, "gid", &gid) < 0 || uid < 0 ||
            uid > UINT32_MAX - 1 || gid < 0 || gid > UINT32_MAX - 1)
                return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': type or owner malformed", path);
        f->type = repo_file_type_from_string(type);
        if (f->type < 0 || (f->type == REPO_FILE_SYMLINK) != (f->symlink != NULL))
                return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': type '%s' malformed", path, type);
        if (f->type != REPO_FILE_REGULAR && (size != 0 || n_blobs != 0))
                return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': a %s entry holds no data", path, type);
        f->has_owner = true;
        f->uid = (uint32_t) uid;
        f->gid = (uint32_t) gid;
        if ((k = get_opt_string(o, "user", &f->user)) < 0 || (k = get_opt_string(o, "group", &f->group)) < 0)
                return k;
        if ((f->user && strlen(f->user) > 255) || (f->group && strlen(f->group) > 255))
                return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': owner name too long", path);
        v = json_object_get(o, "link");
        if ((v != NULL) != (f->type == REPO_FILE_HARDLINK) ||
            (v && (!json_is_string(v) || repo_path_check(json_string_value(v)) < 0 ||
                   strcmp(json_string_value(v), path) == 0)))
                return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': hard link target malformed", path);
        if (v && !(f->link = strdup(json_string_value(v))))
                return -ENOMEM;
        v = json_object_get(o, "rdev");
        if (v) {
                if (!json_is_integer(v) || json_integer_value(v) < 0)
                        return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': rdev malformed", path);
                f->rdev = (uint64_t) json_integer_value(v);
        }
        v = json_object_get(o, "xattrs");
        if (v) {
                const char *name;
                json_t *val;
                size_t total = 0;
                if (!json_is_object(v) || json_object_size(v) > REPO_MAX_XATTRS / 2)
                        return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': xattrs malformed", path);
                f->xattrs = calloc(json_object_size(v) + 1, sizeof(repo_xattr));
                if (!f->xattrs)
                        return -ENOMEM;
                json_object_foreach(v, name, val) {
                        const char *b64 = json_string_value(val);
                        size_t nlen = strlen(name), blen = b64 ? strlen(b64) : 0, got = 0;
                        total += nlen + blen / 4 * 3;
                        if (!b64 || nlen == 0 || nlen > 255 || !strchr(name, '.') || total > REPO_MAX_XATTRS)
                                return repo_error(NULL, REPO_E_CORRUPT,
                                                  "record: file '%s': xattr '%s' malformed or over "
                                                  "the limit",
                                                  path, name);
                        repo_xattr *x = &f->xattrs[f->n_xattrs++];
                        x->name = strdup(name);
                        x->value = malloc(blen / 4 * 3 + 1);
                        if (!x->name || !x->value)
                                return -ENOMEM;
                        if (sodium_base642bin(x->value, blen / 4 * 3 + 1, b64, blen, NULL, &got, NULL,
                                              sodium_base64_VARIANT_ORIGINAL) < 0)
                                return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': xattr '%s' is not base64",
                                                  path, name);
                        x->size = got;
                }
        }
        return 0;
}

static int parse_file(json_t *o, size_t idx, repo_file *f) {
        const char *path = NULL, *hash = NULL;
        json_int_t size, mode, mtime;
        json_t *blobs, *b;
        size_t j;

        if (json_unpack(o, "{s:s, s:I, s:I, s:I, s:s, s:o}", "path", &path, "size", &size, "mode", &mode,
                        "mtime_ns", &mtime, "hash", &hash, "blobs", &blobs) < 0 ||
            !json_is_array(blobs) || size < 0 || mode < 0 || mode > 07777 || repo_id_from_hex(hash, &f->hash) < 0)
                return repo_error(NULL, REPO_E_CORRUPT, "record: file entry %zu malformed", idx);
        if (repo_path_check(path) < 0)
                return repo_error(NULL, REPO_E_CORRUPT, "record: file entry %zu: %s", idx, repo_errmsg());
        /* Every blob but the last is at least 64 bytes (chunker minimum), so
         * the count is bounded by the size. */
        if (json_array_size(blobs) > (uint64_t) size / 64 + 1 || (size > 0 && json_array_size(blobs) == 0))
                return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': blob count does not fit its size", path);
        f->path = strdup(path);
        if (!f->path)
                return -ENOMEM;
        f->size = (uint64_t) size;
        f->mode = (uint32_t) mode;
        f->mtime_ns = mtime;
        /* optional (change detection only) */
        json_t *ct = json_object_get(o, "ctime_ns"), *ino = json_object_get(o, "ino");
        if ((ct && !json_is_integer(ct)) || (ino && (!json_is_integer(ino) || json_integer_value(ino) < 0)))
                return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': ctime_ns or ino malformed", path);
        f->ctime_ns = ct ? json_integer_value(ct) : 0;
        f->ino = ino ? (uint64_t) json_integer_value(ino) : 0;
        json_t *sl = json_object_get(o, "symlink");
        if (sl) {
                if (!json_is_string(sl) || json_string_length(sl) == 0 || json_string_length(sl) > REPO_MAX_PATH ||
                    strlen(json_string_value(sl)) != json_string_length(sl) || size != 0 || json_array_size(blobs) != 0)
                        return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': symlink entry malformed", path);
                f->symlink = strdup(json_string_value(sl));
                if (!f->symlink)
                        return -ENOMEM;
        }
        f->type = f->symlink ? REPO_FILE_SYMLINK : REPO_FILE_REGULAR;
        json_t *ev = json_object_get(o, "entry");
        if (ev) {
                if (!json_is_integer(ev) || json_integer_value(ev) < 1)
                        return repo_error(NULL, REPO_E_CORRUPT, "record: file '%s': entry version malformed", path);
                if (json_integer_value(ev) > REPO_FILE_ENTRY_VERSION)
                        return repo_error(NULL, REPO_E_VERSION, "record: file '%s': entry version %lld not supported",
                                          path, (long long) json_integer_value(ev));
                if (json_integer_value(ev) >= 2) {
                        int k = parse_file_meta(o, path, (size_t) size, json_array_size(blobs), f);
                        if (k < 0)
                                return k;
                }
        }
        f->n_blobs = json_array_size(blobs);
        f->blobs = calloc(f->n_blobs ? f->n_blobs : 1, sizeof(repo_id));
        if (!f->blobs)
                return -ENOMEM;
        json_array_foreach(blobs, j, b) if (!json_is_string(b) ||
                                            repo_id_from_hex(json_string_value(b), &f->blobs[j]) <
                                                    0) return repo_error(NULL, REPO_E_CORRUPT,
                                                                         "record: file '%s': blob %zu malformed", path,
                                                                         j);
        return 0;
}

int repo_record_parse(const char *json, size_t len, repo_record **ret) {
        _cleanup_(repo_record_freep) repo_record *rec = NULL;
        json_error_t jerr;
        json_t *o, *comps, *writers, *files, *v;
        json_int_t version, tns, br, ba, dur;
        const char *type = NULL;
        size_t i;
        int r;

        if (len > REPO_MAX_RECORD)
                return repo_error(NULL, REPO_E_CORRUPT, "record too large");
        o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!o)
                return repo_error(NULL, REPO_E_CORRUPT, "record is not JSON: %s", jerr.text);
        rec = calloc(1, sizeof *rec);
        if (!rec) {
                r = -ENOMEM;
                goto out;
        }
        if (json_unpack(o, "{s:I, s:s, s:I, s:o, s:o, s:o, s:I, s:I, s:I}", "version", &version, "type", &type,
                        "time_ns", &tns, "components", &comps, "writers", &writers, "files", &files, "bytes_read",
                        &br, "bytes_added", &ba, "duration_ms", &dur) < 0 ||
            !json_is_array(comps) || !json_is_array(writers) || !json_is_array(files) || br < 0 || ba < 0 ||
            dur < 0) {
                r = repo_error(NULL, REPO_E_CORRUPT, "record: missing or mistyped fields");
                goto out;
        }
        if (version != REPO_FORMAT_VERSION) {
                r = repo_error(NULL, REPO_E_VERSION, "record format version %lld not supported", (long long) version);
                goto out;
        }
        rec->type = repo_backup_type_from_string(type);
        if (rec->type < 0) {
                r = repo_error(NULL, REPO_E_CORRUPT, "record: unknown backup type '%s'", type);
                goto out;
        }
        rec->time_ns = tns;
        rec->bytes_read = (uint64_t) br;
        rec->bytes_added = (uint64_t) ba;
        rec->duration_ms = (uint64_t) dur;
        if ((r = get_opt_string(o, "hostname", &rec->hostname)) < 0 ||
            (r = get_opt_string(o, "backup_components_document", &rec->components_doc)) < 0 ||
            (r = get_opt_string(o, "reuse_map", &rec->reuse_map)) < 0)
                goto out;
        v = json_object_get(o, "based_on");
        if (v && !json_is_null(v)) {
                if (!json_is_string(v) || repo_id_from_hex(json_string_value(v), &rec->based_on) < 0) {
                        r = repo_error(NULL, REPO_E_CORRUPT, "record: based_on malformed");
                        goto out;
                }
                rec->has_based_on = true;
        }
        v = json_object_get(o, "copied_from");
        if (v && !json_is_null(v)) {
                if (!json_is_string(v) || repo_id_from_hex(json_string_value(v), &rec->copied_from) < 0) {
                        r = repo_error(NULL, REPO_E_CORRUPT, "record: copied_from malformed");
                        goto out;
                }
                rec->has_copied_from = true;
        }
        if (json_array_size(comps) > 65536 || json_array_size(writers) > 65536 ||
            json_array_size(files) > REPO_MAX_FILES) {
                r = repo_error(NULL, REPO_E_CORRUPT, "record: too many components, writers or files");
                goto out;
        }
        rec->components = calloc(json_array_size(comps) + 1, sizeof(char *));
        rec->writers = calloc(json_array_size(writers) + 1, sizeof(repo_writer_info));
        rec->files = calloc(json_array_size(files) + 1, sizeof(repo_file));
        if (!rec->components || !rec->writers || !rec->files) {
                r = -ENOMEM;
                goto out;
        }
        json_array_foreach(comps, i, v) {
                if (!json_is_string(v) || json_string_length(v) > REPO_MAX_PATH) {
                        r = repo_error(NULL, REPO_E_CORRUPT, "record: component %zu malformed", i);
                        goto out;
                }
                if (!(rec->components[i] = strdup(json_string_value(v)))) {
                        r = -ENOMEM;
                        goto out;
                }
                rec->n_components++;
        }
        json_array_foreach(writers, i, v) {
                json_t *name = json_object_get(v, "name");
                if (!json_is_object(v) || !json_is_string(name) || json_string_length(name) > REPO_MAX_PATH) {
                        r = repo_error(NULL, REPO_E_CORRUPT, "record: writer %zu malformed", i);
                        goto out;
                }
                repo_writer_info *w = &rec->writers[rec->n_writers++];
                if (!(w->name = strdup(json_string_value(name)))) {
                        r = -ENOMEM;
                        goto out;
                }
                if ((r = get_opt_string(v, "metadata", &w->metadata)) < 0 ||
                    (r = get_opt_string(v, "stamp", &w->stamp)) < 0)
                        goto out;
        }
        v = json_object_get(o, "deleted");
        if (v && !json_is_null(v)) {
                json_t *d;
                if (!json_is_array(v) || json_array_size(v) > REPO_MAX_FILES) {
                        r = repo_error(NULL, REPO_E_CORRUPT, "record: deleted list malformed");
                        goto out;
                }
                rec->deleted = calloc(json_array_size(v) + 1, sizeof(char *));
                if (!rec->deleted) {
                        r = -ENOMEM;
                        goto out;
                }
                json_array_foreach(v, i, d) {
                        if (!json_is_string(d) || repo_path_check(json_string_value(d)) < 0) {
                                r = repo_error(NULL, REPO_E_CORRUPT, "record: deleted entry %zu malformed", i);
                                goto out;
                        }
                        if (!(rec->deleted[i] = strdup(json_string_value(d)))) {
                                r = -ENOMEM;
                                goto out;
                        }
                        rec->n_deleted++;
                }
        }
        json_array_foreach(files, i, v) {
                rec->n_files++;
                r = parse_file(v, i, &rec->files[i]);
                if (r < 0)
                        goto out;
        }
        *ret = TAKE_PTR(rec);
        r = 0;
out:
        json_decref(o);
        return r;
}

typedef struct merge_item {
        const char *path;
        const repo_file *f;   /* NULL: deleted in that record */
        size_t order;         /* position in the chain, oldest = 0 */
} merge_item;

static int merge_item_cmp(const void *a, const void *b) {
        const merge_item *x = a, *y = b;
        int c = strcmp(x->path, y->path);
        if (c)
                return c;
        return x->order > y->order ? -1 : x->order < y->order;   /* newest first */
}

int repo_chain_merge(repo_record *const *chain, size_t n, const repo_file ***ret, size_t *ret_n) {
        _cleanup_free_ merge_item *items = NULL;
        const repo_file **out;
        size_t total = 0, k = 0, m = 0;

        for (size_t i = 0; i < n; i++)
                total += chain[i]->n_files + chain[i]->n_deleted;
        items = calloc(total + 1, sizeof *items);
        out = calloc(total + 1, sizeof *out); // NOLINT(bugprone-sizeof-expression): array of pointers
        if (!items || !out) {
                free(out);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                for (size_t j = 0; j < chain[i]->n_files; j++)
                        items[k++] = (merge_item) {chain[i]->files[j].path, &chain[i]->files[j], i};
                for (size_t j = 0; j < chain[i]->n_deleted; j++)
                        items[k++] = (merge_item) {chain[i]->deleted[j], NULL, i};
        }
        qsort(items, k, sizeof *items, merge_item_cmp);
        for (size_t i = 0; i < k; i++) {
                if (i > 0 && strcmp(items[i - 1].path, items[i].path) == 0)
                        continue;   /* an older mention of the same path */
                if (items[i].f)
                        out[m++] = items[i].f;
        }
        *ret = out;
        *ret_n = m;
        return 0;
}
