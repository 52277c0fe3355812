/* SPDX-License-Identifier: MIT */
/*
 * Authorization [VssAccessControl].  The caller's uid comes from the bus
 * (sd_bus_query_sender_creds); its groups from the user database.
 *
 * Defaults: root may be writer and requestor; members of group "backup" may
 * be requestors; everyone else nothing.  The configuration file (--config,
 * default /etc/lvss/lvssd.conf, optional) adds rules:
 *
 *   # comment
 *   [access]
 *   user:alice = writer        # deny | writer | requestor | both
 *   group:mail = writer
 *   user:root = both
 *
 *   [limits]
 *   set-timeout = 1800         # seconds a session may hold the set in
 *                              # creation before DoSnapshotSet (0 = none)
 *
 * A user rule decides alone.  Otherwise group rules are combined: any "deny"
 * denies, else the union of the roles they grant; a group rule for "backup"
 * replaces its default.  Lines are at most 1024 bytes, at most 1024 rules.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "daemon/lvssd/lvssd.h"
#include "lib/core/macro.h"

#define MAX_RULES 1024

static void fclosep_(FILE **f) {
        if (*f)
                fclose(*f);
}

static char *strip(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
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

void auth_free(Manager *m) {
        for (size_t i = 0; i < m->n_rules; i++)
                free(m->rules[i].name);
        free(m->rules);
        m->rules = NULL;
        m->n_rules = 0;
}

int auth_load_config(Manager *m, const char *path) {
        _cleanup_(fclosep_) FILE *f = NULL;
        char line[1026];
        unsigned lineno = 0;
        bool in_access = false, in_limits = false;

        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT)
                        return 0;
                fprintf(stderr, "lvssd: config '%s': %m\n", path);
                return -errno;
        }
        while (fgets(line, sizeof(line), f)) {
                char *s, *eq, *key, *val;
                int role;
                AccessRule *v;

                lineno++;
                if (!strchr(line, '\n') && !feof(f)) {
                        fprintf(stderr, "lvssd: config '%s' line %u: longer than 1024 bytes\n", path, lineno);
                        return -EINVAL;
                }
                s = strip(line);
                if (!*s || *s == '#' || *s == ';')
                        continue;
                if (*s == '[') {
                        in_access = strcmp(s, "[access]") == 0;
                        in_limits = strcmp(s, "[limits]") == 0;
                        if (!in_access && !in_limits) {
                                fprintf(stderr, "lvssd: config '%s' line %u: unknown section %s\n", path, lineno, s);
                                return -EINVAL;
                        }
                        continue;
                }
                eq = strchr(s, '=');
                if (in_limits && eq) {
                        char *end;
                        unsigned long secs;
                        *eq = 0;
                        key = strip(s);
                        val = strip(eq + 1);
                        secs = strtoul(val, &end, 10);
                        if (strcmp(key, "set-timeout") != 0 || !*val || *end || secs > 86400 * 7) {
                                fprintf(stderr, "lvssd: config '%s' line %u: expected 'set-timeout = SECONDS' in [limits]\n",
                                        path, lineno);
                                return -EINVAL;
                        }
                        m->set_timeout_usec = (uint64_t) secs * 1000000ULL;
                        continue;
                }
                if (!in_access || !eq) {
                        fprintf(stderr, "lvssd: config '%s' line %u: expected 'user:NAME = ROLE' in [access]\n",
                                path, lineno);
                        return -EINVAL;
                }
                *eq = 0;
                key = strip(s);
                val = strip(eq + 1);
                role = parse_role(val);
                if (role == 0) {
                        fprintf(stderr, "lvssd: config '%s' line %u: role '%s' is not deny, writer, requestor or both\n",
                                path, lineno, val);
                        return -EINVAL;
                }
                if (strncmp(key, "user:", 5) != 0 && strncmp(key, "group:", 6) != 0) {
                        fprintf(stderr, "lvssd: config '%s' line %u: key '%s' must start with user: or group:\n",
                                path, lineno, key);
                        return -EINVAL;
                }
                if (m->n_rules >= MAX_RULES) {
                        fprintf(stderr, "lvssd: config '%s': more than %d rules\n", path, MAX_RULES);
                        return -E2BIG;
                }
                v = reallocarray(m->rules, m->n_rules + 1, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                m->rules = v;
                v[m->n_rules].is_group = key[0] == 'g';
                v[m->n_rules].name = strdup(strchr(key, ':') + 1);
                v[m->n_rules].roles = role;
                if (!v[m->n_rules].name)
                        return -ENOMEM;
                m->n_rules++;
        }
        return 0;
}

static bool in_group(const char *group, gid_t *gids, int n) {
        struct group *gr = getgrnam(group);

        if (!gr)
                return false;
        for (int i = 0; i < n; i++)
                if (gids[i] == gr->gr_gid)
                        return true;
        return false;
}

/* Roles of uid; extra: the caller's groups as the bus saw them at connect
 * time (may be NULL), added to those of the user database. */
static int roles_of(Manager *m, uid_t uid, const gid_t *extra, int n_extra) {
        struct passwd *pw = getpwuid(uid);
        gid_t gids[512];
        int n = 256, roles = 0;
        bool backup_rule = false, deny = false;

        if (pw) {
                for (size_t i = 0; i < m->n_rules; i++)
                        if (!m->rules[i].is_group && strcmp(m->rules[i].name, pw->pw_name) == 0)
                                return m->rules[i].roles < 0 ? 0 : m->rules[i].roles;
                if (getgrouplist(pw->pw_name, pw->pw_gid, gids, &n) < 0)
                        n = 0;
        } else
                n = 0;
        for (int i = 0; i < n_extra && n < (int) ELEMENTSOF(gids); i++)
                gids[n++] = extra[i];
        if (uid == 0)
                roles = ROLE_WRITER | ROLE_REQUESTOR;
        for (size_t i = 0; i < m->n_rules; i++) {
                if (!m->rules[i].is_group)
                        continue;
                if (strcmp(m->rules[i].name, "backup") == 0)
                        backup_rule = true;
                if (!in_group(m->rules[i].name, gids, n))
                        continue;
                if (m->rules[i].roles < 0)
                        deny = true;
                else
                        roles |= m->rules[i].roles;
        }
        if (!backup_rule && in_group("backup", gids, n))
                roles |= ROLE_REQUESTOR;
        return deny ? 0 : roles;
}

int auth_check(Manager *m, sd_bus_message *msg, int role, const char *what, uid_t *ret_uid,
               sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const gid_t *gids = NULL;
        uid_t uid;
        int r, n_gids;

        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
                                      SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return bus_error_set(error, LVSS_E_ACCESS_DENIED, "%s: cannot determine the caller's credentials: %s",
                                     what, strerror(-r));
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                r = sd_bus_creds_get_uid(creds, &uid);
        if (r < 0)
                return bus_error_set(error, LVSS_E_ACCESS_DENIED, "%s: caller's uid unknown", what);
        if (ret_uid)
                *ret_uid = uid;
        n_gids = sd_bus_creds_get_supplementary_gids(creds, &gids);
        if (role == 0 || (roles_of(m, uid, n_gids > 0 ? gids : NULL, n_gids > 0 ? n_gids : 0) & role))
                return 0;
        ev_log(EV_ACCESS_DENIED, LOG_WARNING, NULL, "uid %u refused for %s", (unsigned) uid, what);
        return bus_error_set(error, LVSS_E_ACCESS_DENIED,
                             "%s: uid %u is not allowed to act as %s (needs root, group 'backup' or a rule in lvssd's configuration)",
                             what, (unsigned) uid, role == ROLE_WRITER ? "a writer" : "a requestor");
}
