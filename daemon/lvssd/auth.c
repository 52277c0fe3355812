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
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <syslog.h>

#include "daemon/lvssd/lvssd.h"
#include "lib/core/macro.h"

void auth_free(Manager *m) {
        for (size_t i = 0; i < m->n_rules; i++)
                free(m->rules[i].name);
        free(m->rules);
        m->rules = NULL;
        m->n_rules = 0;
}

int auth_load_config(Manager *m, const char *path) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *text = NULL;
        char why[256];
        Config c;
        size_t len = 0;
        ssize_t n;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                fprintf(stderr, "lvssd: config '%s': %m\n", path);
                return -errno;
        }
        text = malloc(CONFIG_MAX_BYTES + 1);
        if (!text)
                return -ENOMEM;
        while ((n = read(fd, text + len, CONFIG_MAX_BYTES + 1 - len)) > 0)
                len += (size_t) n;
        if (n < 0) {
                fprintf(stderr, "lvssd: config '%s': %m\n", path);
                return -errno;
        }
        r = config_parse(text, len, &c, why, sizeof(why));
        if (r < 0) {
                fprintf(stderr, "lvssd: config '%s': %s\n", path, why);
                return r;
        }
        auth_free(m);
        m->rules = c.rules;
        m->n_rules = c.n_rules;
        if (c.have_set_timeout)
                m->set_timeout_usec = c.set_timeout_usec;
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
