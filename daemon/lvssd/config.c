/* SPDX-License-Identifier: MIT */
/* Parser of lvssd's configuration file (config.h).  Bounded: 1 MiB, lines
 * of 1024 bytes, 1024 rules; names without spaces or control characters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/array.h"
#include "lib/core/error-slot.h"
#include "daemon/lvssd/config.h"
#include "lib/core/macro.h"

/* Raise the reason into the thread's slot (lib/core/error-slot.h); -EINVAL. */
#define bad(...) error_slot_set(NULL, -EINVAL, __VA_ARGS__)

static char *strip(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                *--e = 0;
        return s;
}

static int parse_role(const char *v) {
        if (strcmp(v, "deny") == 0)
                return -1;
        if (strcmp(v, "writer") == 0)
                return ROLE_WRITER;
        if (strcmp(v, "requestor") == 0 || strcmp(v, "requester") == 0)
                return ROLE_REQUESTOR;
        if (strcmp(v, "both") == 0)
                return ROLE_WRITER | ROLE_REQUESTOR;
        return 0;
}

static bool valid_name(const char *s) {
        if (!*s || strlen(s) > 256)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

void config_clear(Config *c) {
        for (size_t i = 0; i < c->n_rules; i++)
                free(c->rules[i].name);
        free(c->rules);
        for (size_t i = 0; i < c->n_scan_roots; i++)
                free(c->scan_roots[i]);
        free(c->scan_roots);
        *c = (Config) {};
}

static int parse_line(Config *c, char *s, unsigned lineno, int *section) {
        char *eq, *key, *val;
        AccessRule *v;
        int role;

        s = strip(s);
        if (!*s || *s == '#' || *s == ';')
                return 0;
        if (*s == '[') {
                if (strcmp(s, "[access]") == 0)
                        *section = 1;
                else if (strcmp(s, "[limits]") == 0)
                        *section = 2;
                else if (strcmp(s, "[recovery]") == 0)
                        *section = 3;
                else
                        return bad("line %u: unknown section %.64s", lineno, s);
                return 0;
        }
        eq = strchr(s, '=');
        if (!eq || *section == 0)
                return bad("line %u: expected 'KEY = VALUE' inside [access], [limits] or [recovery]", lineno);
        *eq = 0;
        key = strip(s);
        val = strip(eq + 1);
        if (*section == 3) {
                char **roots;
                if (strcmp(key, "scan") != 0)
                        return bad("line %u: unknown recovery key '%.64s' (known: scan)", lineno, key);
                if (val[0] != '/' || !valid_name(val))
                        return bad("line %u: scan needs an absolute path without spaces", lineno);
                if (c->n_scan_roots >= CONFIG_MAX_SCAN_ROOTS)
                        return error_slot_set(NULL, -E2BIG, "line %u: more than %d scan paths", lineno,
                                              CONFIG_MAX_SCAN_ROOTS);
                if (ARRAY_RESERVE_ONE(c->scan_roots, c->cap_scan_roots, c->n_scan_roots, 4) < 0)
                        return -ENOMEM;
                roots = c->scan_roots;
                roots[c->n_scan_roots] = strdup(val);
                if (!roots[c->n_scan_roots])
                        return -ENOMEM;
                c->n_scan_roots++;
                return 0;
        }
        if (*section == 2) {
                char *end;
                unsigned long secs;
                if (strcmp(key, "set-timeout") != 0)
                        return bad("line %u: unknown limit '%.64s' (known: set-timeout)", lineno, key);
                errno = 0;
                secs = strtoul(val, &end, 10);
                if (!*val || *end || errno || val[0] == '-' || secs > 7 * 86400)
                        return bad("line %u: set-timeout must be 0..604800 seconds", lineno);
                c->have_set_timeout = true;
                c->set_timeout_usec = (uint64_t) secs * 1000000ULL;
                return 0;
        }
        role = parse_role(val);
        if (role == 0)
                return bad("line %u: role '%.64s' is not deny, writer, requestor or both", lineno, val);
        if (strncmp(key, "user:", 5) != 0 && strncmp(key, "group:", 6) != 0)
                return bad("line %u: key '%.64s' must be user:NAME or group:NAME", lineno, key);
        if (!valid_name(strchr(key, ':') + 1))
                return bad("line %u: '%.64s' is not a valid user or group name", lineno, key);
        if (c->n_rules >= CONFIG_MAX_RULES)
                return error_slot_set(NULL, -E2BIG, "more than %d rules", CONFIG_MAX_RULES);
        if (ARRAY_RESERVE_ONE(c->rules, c->cap_rules, c->n_rules, 8) < 0)
                return -ENOMEM;
        v = c->rules;
        v[c->n_rules].is_group = key[0] == 'g';
        v[c->n_rules].roles = role;
        v[c->n_rules].name = strdup(strchr(key, ':') + 1);
        if (!v[c->n_rules].name)
                return -ENOMEM;
        c->n_rules++;
        return 0;
}

int config_parse(const char *text, size_t len, Config *ret) {
        Config c = {};
        char line[CONFIG_MAX_LINE + 1];
        unsigned lineno = 0;
        int section = 0, r;
        size_t pos = 0;

        if (len > CONFIG_MAX_BYTES)
                return error_slot_set(NULL, -E2BIG, "larger than %d bytes", CONFIG_MAX_BYTES);
        while (pos < len) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - (text + pos)) : len - pos;

                lineno++;
                if (n > CONFIG_MAX_LINE) {
                        config_clear(&c);
                        return bad("line %u: longer than %d bytes", lineno, CONFIG_MAX_LINE);
                }
                memcpy(line, text + pos, n);
                line[n] = 0;
                if (strlen(line) != n) {
                        config_clear(&c);
                        return bad("line %u: contains a NUL byte", lineno);
                }
                r = parse_line(&c, line, lineno, &section);
                if (r < 0) {
                        config_clear(&c);
                        return r == -ENOMEM ? error_slot_set(NULL, r, "out of memory") : r;
                }
                pos += n + (nl ? 1 : 0);
        }
        *ret = c;
        return 0;
}
