/* SPDX-License-Identifier: MIT */
/*
 * Persistent definitions of mstored (see defs.h).  File format, version 1:
 *
 *   {"version":1,
 *    "storage_groups":[{"name","base","path","log_path","circular_logging",
 *                       "databases":[{"name","public","mounted","allow_restore_overwrite",
 *                                     "renew_uid_validity" (only when true)}]}],
 *    "mailboxes":[{"address","sg","db"}]}
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/core/macro.h"
#include "lib/core/array.h"
#include "defs.h"

bool defs_name_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > DEFS_MAX_NAME || name[0] == '.' || name[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '.' || c == '-'))
                        return false;
        }
        return true;
}

bool defs_address_valid(const char *addr) {
        size_t n = addr ? strlen(addr) : 0;
        if (n == 0 || n > 320)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) addr[i];
                if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '/' || c == '"' || c == '\\')
                        return false;
        }
        return true;
}

struct defs_sg *defs_find_sg(struct defs *d, const char *name) {
        for (size_t i = 0; i < d->n_sgs; i++)
                if (strcmp(d->sgs[i].name, name) == 0)
                        return &d->sgs[i];
        return NULL;
}

struct defs_db *defs_find_db(struct defs_sg *sg, const char *name) {
        for (size_t i = 0; i < sg->n_dbs; i++)
                if (strcmp(sg->dbs[i].name, name) == 0)
                        return &sg->dbs[i];
        return NULL;
}

struct defs_mailbox *defs_find_mailbox(struct defs *d, const char *address) {
        for (size_t i = 0; i < d->n_mailboxes; i++)
                if (strcmp(d->mailboxes[i].address, address) == 0)
                        return &d->mailboxes[i];
        return NULL;
}

int defs_add_mailbox(struct defs *d, const char *address, const char *sg, const char *db) {
        if (!defs_address_valid(address) || !defs_name_valid(sg) || !defs_name_valid(db))
                return -EINVAL;
        if (defs_find_mailbox(d, address))
                return -EEXIST;
        if (d->n_mailboxes >= DEFS_MAX_MAILBOXES)
                return -ENOSPC;
        if (ARRAY_RESERVE_ONE(d->mailboxes, d->alloc_mailboxes, d->n_mailboxes, 16) < 0)
                return -ENOMEM;
        struct defs_mailbox *m = &d->mailboxes[d->n_mailboxes];
        memset(m, 0, sizeof(*m));
        m->address = strdup(address);
        if (!m->address)
                return -ENOMEM;
        strcpy(m->sg, sg);
        strcpy(m->db, db);
        d->n_mailboxes++;
        return 0;
}

int defs_next_base(const struct defs *d, char ret_base[4]) {
        for (int n = 0; n < DEFS_MAX_SG_HARD; n++) {
                char b[4];
                snprintf(b, sizeof(b), "E0%X", n);
                bool used = false;
                for (size_t i = 0; i < d->n_sgs; i++)
                        if (strcmp(d->sgs[i].base, b) == 0)
                                used = true;
                if (!used) {
                        memcpy(ret_base, b, 4);
                        return 0;
                }
        }
        return -ENOSPC;
}

struct defs *defs_free(struct defs *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_sgs; i++) {
                free(d->sgs[i].path);
                free(d->sgs[i].log_path);
        }
        for (size_t i = 0; i < d->n_mailboxes; i++)
                free(d->mailboxes[i].address);
        free(d->mailboxes);
        free(d);
        return NULL;
}

static int fail(ErrorSlot *err, const char *fmt, ...) _printf_(2, 3);
static int fail(ErrorSlot *err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = error_slot_setv(err, -EBADMSG, fmt, ap);
        va_end(ap);
        return r;
}

static const char *jstr(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(json_t *o, const char *k) {
        return json_is_true(json_object_get(o, k));
}

static int parse_sg(struct defs *d, json_t *o, ErrorSlot *err) {
        if (!json_is_object(o))
                return fail(err, "%s: storage group entry is not an object", DEFS_FILE);
        if (d->n_sgs >= DEFS_MAX_SG_HARD)
                return fail(err, "%s: too many storage groups", DEFS_FILE);
        const char *name = jstr(o, "name"), *base = jstr(o, "base"), *path = jstr(o, "path"),
                   *log_path = jstr(o, "log_path");
        if (!defs_name_valid(name))
                return fail(err, "%s: invalid storage group name", DEFS_FILE);
        if (defs_find_sg(d, name))
                return fail(err, "storage group '%s' defined twice", name);
        if (!base || strlen(base) != 3 || base[0] != 'E' || base[1] != '0' ||
            !strchr("0123456789ABCDEF", base[2]) || base[2] == 0)
                return fail(err, "storage group '%s': invalid base", name);
        if (!path || path[0] != '/' || strlen(path) > DEFS_MAX_PATH || !log_path || log_path[0] != '/' ||
            strlen(log_path) > DEFS_MAX_PATH)
                return fail(err, "storage group '%s': invalid path", name);
        struct defs_sg *sg = &d->sgs[d->n_sgs];
        memset(sg, 0, sizeof(*sg));
        strcpy(sg->name, name);
        memcpy(sg->base, base, 4);
        sg->path = strdup(path);
        sg->log_path = strdup(log_path);
        d->n_sgs++; /* counted now so defs_free() releases the paths */
        if (!sg->path || !sg->log_path)
                return -ENOMEM;
        sg->circular_logging = jbool(o, "circular_logging");
        json_t *dbs = json_object_get(o, "databases");
        if (dbs && !json_is_array(dbs))
                return fail(err, "storage group '%s': databases is not an array", name);
        size_t i;
        json_t *e;
        json_array_foreach(dbs, i, e) {
                if (!json_is_object(e) || sg->n_dbs >= DEFS_MAX_DB_HARD)
                        return fail(err, "storage group '%s': bad or too many databases", name);
                const char *dn = jstr(e, "name");
                if (!defs_name_valid(dn) || defs_find_db(sg, dn))
                        return fail(err, "storage group '%s': invalid or duplicate database name", name);
                struct defs_db *db = &sg->dbs[sg->n_dbs++];
                memset(db, 0, sizeof(*db));
                strcpy(db->name, dn);
                db->is_public = jbool(e, "public");
                db->mounted = jbool(e, "mounted");
                db->allow_restore_overwrite = jbool(e, "allow_restore_overwrite");
                db->renew_uid_validity = jbool(e, "renew_uid_validity");
        }
        return 0;
}

int defs_load(const char *dir, struct defs **ret, ErrorSlot *err) {
        error_slot_clear(err);
        _cleanup_free_ char *fn = NULL;
        if (asprintf(&fn, "%s/%s", dir, DEFS_FILE) < 0)
                return -ENOMEM;
        struct defs *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        struct stat st;
        if (stat(fn, &st) < 0) {
                if (errno == ENOENT) {
                        *ret = d;
                        return 0;
                }
                int r = -errno;
                defs_free(d);
                return r;
        }
        if (st.st_size > (off_t) DEFS_MAX_FILE_SIZE) {
                defs_free(d);
                return fail(err, "%s: file too large", fn);
        }
        json_error_t jerr;
        json_t *root = json_load_file(fn, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                defs_free(d);
                return fail(err, "%s: line %d: %s", fn, jerr.line, jerr.text);
        }
        int r = 0;
        json_t *v = json_object_get(root, "version");
        if (!json_is_integer(v) || json_integer_value(v) != 1) {
                r = fail(err, "%s: unknown format version", fn);
                goto out;
        }
        json_t *sgs = json_object_get(root, "storage_groups"), *e;
        size_t i;
        if (sgs && !json_is_array(sgs)) {
                r = fail(err, "%s: storage_groups is not an array", fn);
                goto out;
        }
        json_array_foreach(sgs, i, e) {
                r = parse_sg(d, e, err);
                if (r < 0)
                        goto out;
        }
        json_t *mbs = json_object_get(root, "mailboxes");
        if (mbs && !json_is_array(mbs)) {
                r = fail(err, "%s: mailboxes is not an array", fn);
                goto out;
        }
        json_array_foreach(mbs, i, e) {
                const char *a = jstr(e, "address"), *sg = jstr(e, "sg"), *db = jstr(e, "db");
                if (!a || !sg || !db) {
                        r = fail(err, "%s: malformed mailbox entry", fn);
                        goto out;
                }
                r = defs_add_mailbox(d, a, sg, db);
                if (r < 0) {
                        r = fail(err, "mailbox '%s': invalid or duplicate entry", a);
                        goto out;
                }
        }
out:
        json_decref(root);
        if (r < 0) {
                defs_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

static json_t *to_json(const struct defs *d) {
        json_t *root = json_object(), *sgs = json_array(), *mbs = json_array();
        json_object_set_new(root, "version", json_integer(1));
        for (size_t i = 0; i < d->n_sgs; i++) {
                const struct defs_sg *sg = &d->sgs[i];
                json_t *dbs = json_array();
                for (size_t j = 0; j < sg->n_dbs; j++) {
                        json_t *o = json_pack("{s:s,s:b,s:b,s:b}", "name", sg->dbs[j].name, "public",
                                              sg->dbs[j].is_public, "mounted", sg->dbs[j].mounted,
                                              "allow_restore_overwrite", sg->dbs[j].allow_restore_overwrite);
                        if (o && sg->dbs[j].renew_uid_validity)
                                json_object_set_new(o, "renew_uid_validity", json_true());
                        json_array_append_new(dbs, o);
                }
                json_array_append_new(sgs, json_pack("{s:s,s:s,s:s,s:s,s:b,s:o}", "name", sg->name, "base",
                                                     sg->base, "path", sg->path, "log_path", sg->log_path,
                                                     "circular_logging", sg->circular_logging, "databases",
                                                     dbs));
        }
        for (size_t i = 0; i < d->n_mailboxes; i++)
                json_array_append_new(mbs, json_pack("{s:s,s:s,s:s}", "address", d->mailboxes[i].address, "sg",
                                                     d->mailboxes[i].sg, "db", d->mailboxes[i].db));
        json_object_set_new(root, "storage_groups", sgs);
        json_object_set_new(root, "mailboxes", mbs);
        return root;
}

int defs_save(const struct defs *d, const char *dir) {
        _cleanup_free_ char *fn = NULL, *tmp = NULL, *text = NULL;
        if (asprintf(&fn, "%s/%s", dir, DEFS_FILE) < 0 || asprintf(&tmp, "%s/.%s.tmp", dir, DEFS_FILE) < 0)
                return -ENOMEM;
        json_t *root = to_json(d);
        if (!root)
                return -ENOMEM;
        text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
        json_decref(root);
        if (!text)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text), off = 0;
        while (off < len) {
                ssize_t n = write(fd, text + off, len - off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        unlink(tmp);
                        return r;
                }
                off += (size_t) n;
        }
        if (fsync(fd) < 0 || rename(tmp, fn) < 0) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return -errno;
        return 0;
}
