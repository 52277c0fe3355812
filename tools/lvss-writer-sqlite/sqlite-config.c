/* SPDX-License-Identifier: MIT */
/* The SQLite Writer's configuration parser: see sqlite-config.h. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/core/error-slot.h"
#include "lib/core/macro.h"
#include "sqlite-config.h"

/* Raise the reason into the thread's slot (lib/core/error-slot.h); -EINVAL. */
#define bad(...) error_slot_set(NULL, -EINVAL, __VA_ARGS__)

static bool name_ok(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > SQLW_MAX_NAME || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static bool path_ok(const char *p) {
        size_t n = strlen(p);
        if (n < 2 || n > SQLW_MAX_PATH || p[0] != '/' || p[n - 1] == '/')
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) p[i] < 0x20 || p[i] == 0x7f)
                        return false;
        /* Components: none empty, ".", or "..". */
        for (const char *s = p + 1; *s;) {
                const char *e = strchrnul(s, '/');
                size_t l = (size_t) (e - s);
                if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                s = *e ? e + 1 : e;
        }
        return true;
}

static int get_ms(json_t *root, const char *key, uint32_t def, uint32_t lo, uint32_t hi, uint32_t *ret) {
        json_t *v = json_object_get(root, key);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
                return bad("\"%s\" must be an integer from %u to %u", key, lo, hi);
        *ret = (uint32_t) json_integer_value(v);
        return 0;
}

void sqlw_config_clear(sqlw_config *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_components; i++) {
                for (size_t j = 0; j < c->components[i].n_databases; j++)
                        free(c->components[i].databases[j]);
                free(c->components[i].databases);
                free(c->components[i].name);
        }
        free(c->components);
        free(c->host);
        memset(c, 0, sizeof(*c));
}

static int parse_component(json_t *jc, size_t idx, sqlw_config *c) {
        sqlw_component *comp = &c->components[c->n_components];
        const char *key;
        json_t *v;

        if (!json_is_object(jc))
                return bad("components[%zu] must be an object", idx);
        json_object_foreach(jc, key, v)
                if (strcmp(key, "name") != 0 && strcmp(key, "databases") != 0)
                        return bad("components[%zu]: unknown key \"%.64s\"", idx, key);
        const char *name = json_string_value(json_object_get(jc, "name"));
        if (!name || strlen(name) != json_string_length(json_object_get(jc, "name")) || !name_ok(name))
                return bad("components[%zu]: \"name\" must be 1-%u characters of A-Z a-z 0-9 . _ - "
                           "(not starting with '.')", idx, SQLW_MAX_NAME);
        for (size_t i = 0; i < c->n_components; i++)
                if (strcmp(c->components[i].name, name) == 0)
                        return bad("component \"%s\" is listed twice", name);
        json_t *dbs = json_object_get(jc, "databases");
        if (!json_is_array(dbs) || json_array_size(dbs) == 0 || json_array_size(dbs) > SQLW_MAX_DATABASES)
                return bad("component \"%s\": \"databases\" must be a list of 1 to %u paths", name,
                           SQLW_MAX_DATABASES);
        comp->name = strdup(name);
        comp->databases = calloc(json_array_size(dbs), sizeof(char *));
        c->n_components++; /* owned from here on: cleared on any error */
        if (!comp->name || !comp->databases)
                return -ENOMEM;
        for (size_t j = 0; j < json_array_size(dbs); j++) {
                json_t *jp = json_array_get(dbs, j);
                const char *p = json_string_value(jp);
                if (!p || strlen(p) != json_string_length(jp) || !path_ok(p))
                        return bad("component \"%s\": databases[%zu] must be an absolute, normalised path "
                                   "of at most %u bytes", name, j, SQLW_MAX_PATH);
                for (size_t a = 0; a < c->n_components; a++)
                        for (size_t b = 0; b < c->components[a].n_databases; b++)
                                if (strcmp(c->components[a].databases[b], p) == 0)
                                        return bad("database %s is listed twice (component \"%s\")", p,
                                                   c->components[a].name);
                comp->databases[j] = strdup(p);
                if (!comp->databases[j])
                        return -ENOMEM;
                comp->n_databases++;
        }
        return 0;
}

int sqlw_config_parse(const char *text, size_t size, sqlw_config *ret) {
        json_error_t err;
        const char *key;
        json_t *v;
        int r;

        memset(ret, 0, sizeof(*ret));
        if (size > SQLW_MAX_BYTES)
                return bad("configuration larger than %u bytes", SQLW_MAX_BYTES);
        json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
        if (!root)
                return bad("not valid JSON: line %d: %s", err.line, err.text);
        if (!json_is_object(root)) {
                r = bad("the configuration must be a JSON object");
                goto out;
        }
        json_object_foreach(root, key, v)
                if (strcmp(key, "host") != 0 && strcmp(key, "busy_timeout_ms") != 0 && strcmp(key, "freeze_timeout_ms") != 0 &&
                    strcmp(key, "components") != 0) {
                        r = bad("unknown key \"%.64s\"", key);
                        goto out;
                }
        v = json_object_get(root, "host");
        if (v) {
                const char *h = json_string_value(v);
                if (!h || strlen(h) != json_string_length(v) || !name_ok(h)) {
                        r = bad("\"host\" must be 1-%u characters of A-Z a-z 0-9 . _ -", SQLW_MAX_NAME);
                        goto out;
                }
                ret->host = strdup(h);
                if (!ret->host) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        r = get_ms(root, "busy_timeout_ms", SQLW_DEFAULT_BUSY_MS, 100, 600000, &ret->busy_timeout_ms);
        if (r >= 0)
                r = get_ms(root, "freeze_timeout_ms", SQLW_DEFAULT_FREEZE_MS, 1000, 3600000, &ret->freeze_timeout_ms);
        if (r < 0)
                goto out;
        if (ret->freeze_timeout_ms <= ret->busy_timeout_ms) {
                r = bad("\"freeze_timeout_ms\" (%u) must be greater than \"busy_timeout_ms\" (%u)",
                        ret->freeze_timeout_ms, ret->busy_timeout_ms);
                goto out;
        }
        json_t *comps = json_object_get(root, "components");
        if (!json_is_array(comps) || json_array_size(comps) == 0 || json_array_size(comps) > SQLW_MAX_COMPONENTS) {
                r = bad("\"components\" must be a list of 1 to %u components", SQLW_MAX_COMPONENTS);
                goto out;
        }
        ret->components = calloc(json_array_size(comps), sizeof(sqlw_component));
        if (!ret->components) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < json_array_size(comps); i++) {
                r = parse_component(json_array_get(comps, i), i, ret);
                if (r < 0)
                        goto out;
        }
        r = 0;
out:
        json_decref(root);
        if (r < 0) {
                if (r == -ENOMEM)
                        bad("out of memory");
                sqlw_config_clear(ret);
        }
        return r;
}

int sqlw_config_load(const char *path, sqlw_config *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        char *buf;
        ssize_t n;

        memset(ret, 0, sizeof(*ret));
        if (fd < 0) {
                int e = errno;
                bad("cannot open: %s", strerror(e));
                return -e;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return bad("not a regular file");
        if ((uint64_t) st.st_size > SQLW_MAX_BYTES)
                return bad("configuration larger than %u bytes", SQLW_MAX_BYTES);
        buf = malloc(SQLW_MAX_BYTES + 1);
        if (!buf)
                return -ENOMEM;
        size_t have = 0;
        while (have <= SQLW_MAX_BYTES && (n = read(fd, buf + have, SQLW_MAX_BYTES + 1 - have)) > 0)
                have += (size_t) n;
        if (n < 0) {
                int e = errno;
                free(buf);
                return bad("read failed: %s", strerror(e));
        }
        int r = sqlw_config_parse(buf, have, ret);
        free(buf);
        return r;
}
