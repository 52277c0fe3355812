/* SPDX-License-Identifier: MIT */
/*
 * lib/core/bus-creds.c: caller identity for access decisions (see
 * bus-creds.h for the rule: the uid from the bus, groups from the user
 * database, nothing from /proc).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/core/bus-creds.h"
#include "lib/core/macro.h"

#define BUS_CALLER_MAX_GROUPS 65536

void bus_caller_done(BusCaller *c) {
        if (!c)
                return;
        free(c->name);
        free(c->gids);
        *c = (BusCaller) {};
}

int bus_caller_from_uid(uid_t uid, BusCaller *ret) {
        _cleanup_free_ char *buf = NULL;
        struct passwd pw, *pwp = NULL;
        long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t bufsize = sz > 0 ? (size_t) sz : 16384;
        BusCaller c = { .uid = uid };
        int r;

        *ret = (BusCaller) {};
        for (;;) {
                free(buf);
                buf = malloc(bufsize);
                if (!buf)
                        return -ENOMEM;
                r = getpwuid_r(uid, &pw, buf, bufsize, &pwp);
                if (r != ERANGE || bufsize > (1U << 20))
                        break;
                bufsize *= 2;
        }
        if (r != 0 && r != ENOENT && r != ESRCH)
                return -r;
        if (pwp) {
                int n = 64;

                c.name = strdup(pw.pw_name);
                if (!c.name)
                        return -ENOMEM;
                for (;;) {
                        gid_t *g = realloc(c.gids, (size_t) n * sizeof(gid_t));
                        int want = n;

                        if (!g) {
                                bus_caller_done(&c);
                                return -ENOMEM;
                        }
                        c.gids = g;
                        if (getgrouplist(pw.pw_name, pw.pw_gid, c.gids, &want) >= 0) {
                                c.n_gids = (size_t) want;
                                break;
                        }
                        if (want <= n || want > BUS_CALLER_MAX_GROUPS) {
                                /* cannot size it: the primary group only */
                                c.gids[0] = pw.pw_gid;
                                c.n_gids = 1;
                                break;
                        }
                        n = want;
                }
        }
        *ret = c;
        return 0;
}

int bus_sender_uid(sd_bus_message *msg, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        int r;

        /* No SD_BUS_CREDS_AUGMENT: only what the bus itself reports. */
        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        if (sd_bus_creds_get_augmented_mask(creds) & SD_BUS_CREDS_EUID)
                return -EPERM;
        r = sd_bus_creds_get_euid(creds, ret);
        if (r < 0)
                return r == -ENODATA ? -EPERM : r;
        return 0;
}

int bus_caller_get(sd_bus_message *msg, BusCaller *ret) {
        uid_t uid;
        int r;

        *ret = (BusCaller) {};
        r = bus_sender_uid(msg, &uid);
        if (r < 0)
                return r;
        return bus_caller_from_uid(uid, ret);
}

bool bus_caller_in_gid(const BusCaller *c, gid_t gid) {
        for (size_t i = 0; i < c->n_gids; i++)
                if (c->gids[i] == gid)
                        return true;
        return false;
}

bool bus_caller_in_group(const BusCaller *c, const char *group) {
        _cleanup_free_ char *buf = NULL;
        struct group gr, *grp = NULL;
        size_t bufsize = 16384;
        int r;

        for (;;) {
                free(buf);
                buf = malloc(bufsize);
                if (!buf)
                        return false;
                r = getgrnam_r(group, &gr, buf, bufsize, &grp);
                if (r != ERANGE || bufsize > (1U << 22))
                        break;
                bufsize *= 2;
        }
        return r == 0 && grp && bus_caller_in_gid(c, grp->gr_gid);
}
