/* SPDX-License-Identifier: MIT */
/*
 * Authorization [VssAccessControl].  Only what the bus vouches for decides
 * (lib/core/bus-creds.h): the uid the bus daemon recorded for the caller's
 * connection, and that uid's groups in the user database (getgrouplist).
 * The caller's process credentials in /proc (EGID, supplementary groups)
 * are never read: they change across exec of a setgid program.
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
 *   [recovery]
 *   scan = /srv                # roots searched for .lvss-snapshots when the
 *                              # snapshot registry is lost (repeatable; none:
 *                              # every XFS and btrfs mount point)
 *
 * A user rule decides alone.  Otherwise group rules are combined: any "deny"
 * denies, else the union of the roles they grant; a group rule for "backup"
 * replaces its default.  Lines are at most 1024 bytes, at most 1024 rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <syslog.h>

#include "daemon/lvssd/lvssd.h"
#include "lib/core/bus-creds.h"
#include "lib/core/error-slot.h"
#include "lib/core/macro.h"

void auth_free(Manager *m) {
        for (size_t i = 0; i < m->n_rules; i++)
                free(m->rules[i].name);
        free(m->rules);
        m->rules = NULL;
        m->n_rules = 0;
        for (size_t i = 0; i < m->n_scan_roots; i++)
                free(m->scan_roots[i]);
        free(m->scan_roots);
        m->scan_roots = NULL;
        m->n_scan_roots = 0;
}

int auth_load_config(Manager *m, const char *path) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *text = NULL;
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
        r = config_parse(text, len, &c);
        if (r < 0) {
                fprintf(stderr, "lvssd: config '%s': %s\n", path, error_slot_get(NULL));
                return r;
        }
        auth_free(m);
        m->roles_cache.until = 0;   /* new rules: look again */
        m->rules = c.rules;
        m->n_rules = c.n_rules;
        m->scan_roots = c.scan_roots;
        m->n_scan_roots = c.n_scan_roots;
        if (c.have_set_timeout)
                m->set_timeout_usec = c.set_timeout_usec;
        return 0;
}

/* Roles of the caller (uid and user-database groups, lib/core/bus-creds.h). */
static int roles_of(Manager *m, const BusCaller *c) {
        int roles = 0;
        bool backup_rule = false, deny = false;

        if (c->name)
                for (size_t i = 0; i < m->n_rules; i++)
                        if (!m->rules[i].is_group && strcmp(m->rules[i].name, c->name) == 0)
                                return m->rules[i].roles < 0 ? 0 : m->rules[i].roles;
        if (c->uid == 0)
                roles = ROLE_WRITER | ROLE_REQUESTOR;
        for (size_t i = 0; i < m->n_rules; i++) {
                if (!m->rules[i].is_group)
                        continue;
                if (strcmp(m->rules[i].name, "backup") == 0)
                        backup_rule = true;
                if (!bus_caller_in_group(c, m->rules[i].name))
                        continue;
                if (m->rules[i].roles < 0)
                        deny = true;
                else
                        roles |= m->rules[i].roles;
        }
        if (!backup_rule && bus_caller_in_group(c, "backup"))
                roles |= ROLE_REQUESTOR;
        return deny ? 0 : roles;
}

/* How long a uid's roles, looked up in the user database, are reused: the
 * OpenSession and the DeleteShadows of one `lvssadm create --exec` cycle
 * look them up once (issue 14; with nss_systemd each lookup may be a
 * varlink round trip).  A group change takes effect within this time. */
#define ROLES_CACHE_USEC (1000ULL * 1000ULL)

static int roles_of_uid(Manager *m, uid_t uid) {
        _cleanup_(bus_caller_done) BusCaller c = {};
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        if (m->roles_cache.until > now && m->roles_cache.uid == uid)
                return m->roles_cache.roles;
        r = bus_caller_from_uid(uid, &c);
        if (r < 0)
                return r;
        r = roles_of(m, &c);
        m->roles_cache.uid = uid;
        m->roles_cache.roles = r;
        m->roles_cache.until = now + ROLES_CACHE_USEC;
        return r;
}

int auth_check(Manager *m, sd_bus_message *msg, int role, const char *what, uid_t *ret_uid,
               sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(msg);
        const Session *owned = NULL;
        uid_t uid;
        int r, roles;

        /* A caller that owns a live session: its uid is the one the bus
         * vouched for when it opened the session (a unique name is never
         * reused and its connection's uid never changes), so no second
         * query to the bus (issue 14: DeleteShadows of an --exec cycle).
         * Groups and rules: roles_of_uid(), at most ROLES_CACHE_USEC old. */
        for (const Session *s = m->sessions; sender && s && !owned; s = s->next)
                if (s->owner && strcmp(s->owner, sender) == 0)
                        owned = s;
        if (owned) {
                uid = owned->uid;
                r = 0;
        } else
                r = bus_sender_uid(msg, &uid);
        if (r < 0) {
                ev_log(EV_ACCESS_DENIED, LOG_WARNING, NULL, "%s refused: the bus did not vouch for the caller's uid (%s)",
                       what, strerror(-r));
                return bus_error_set(error, LVSS_E_ACCESS_DENIED,
                                     "%s: cannot determine the caller's uid from the bus: %s", what, strerror(-r));
        }
        if (ret_uid)
                *ret_uid = uid;
        if (role == 0)
                return 0;
        roles = roles_of_uid(m, uid);
        if (roles < 0)
                return bus_error_set(error, LVSS_E_ACCESS_DENIED, "%s: cannot look uid %u up in the user database: %s",
                                     what, (unsigned) uid, strerror(-roles));
        if (roles & role)
                return 0;
        ev_log(EV_ACCESS_DENIED, LOG_WARNING, NULL, "uid %u refused for %s", (unsigned) uid, what);
        return bus_error_set(error, LVSS_E_ACCESS_DENIED,
                             "%s: uid %u is not allowed to act as %s (needs root, group 'backup' or a rule in lvssd's configuration)",
                             what, (unsigned) uid, role == ROLE_WRITER ? "a writer" : "a requestor");
}
