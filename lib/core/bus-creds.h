/* SPDX-License-Identifier: MIT */
/*
 * lib/core/bus-creds: who is calling, from what the bus vouches for.
 *
 * The one way lvssd and mstored learn a caller's identity for an access
 * decision.  The uid is the one the bus daemon recorded for the caller's
 * connection (SO_PEERCRED at connect time, GetConnectionCredentials
 * "UnixUserID"); it is asked for WITHOUT SD_BUS_CREDS_AUGMENT and refused if
 * sd_bus_creds_get_augmented_mask() says it came from /proc.  Groups are
 * never taken from the caller's process (its /proc/<pid>/status changes with
 * every exec of a setgid program, and the pid may even have been reused):
 * they are resolved from the user database (getpwuid_r + getgrouplist) by
 * that uid.  A uid without a passwd entry has no groups.
 *
 * Thread rules: reentrant (getpwuid_r; getgrouplist is MT-safe in glibc).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

typedef struct BusCaller {
        uid_t uid;              /* the connection's (effective) uid per the bus */
        char *name;             /* user name from the user database, NULL if none */
        gid_t *gids;            /* the user's groups per the user database (primary first) */
        size_t n_gids;
} BusCaller;

/* Fill *ret for the sender of msg.  Returns 0, or a negative errno with
 * *ret zeroed: -EPERM when the bus did not vouch for the uid (only /proc
 * could tell), else the error of the credentials query or -ENOMEM.
 * Release with bus_caller_done(). */
int bus_caller_get(sd_bus_message *msg, BusCaller *ret);

/* The uid alone, as the bus vouched for it (same errors, nothing looked up
 * in the user database). */
int bus_sender_uid(sd_bus_message *msg, uid_t *ret);

/* Same for a known uid (tests, and callers that already have one). */
int bus_caller_from_uid(uid_t uid, BusCaller *ret);

void bus_caller_done(BusCaller *c);

/* Is gid among the caller's user-database groups? */
bool bus_caller_in_gid(const BusCaller *c, gid_t gid);

/* Is the group named 'group' among them? (false if no such group) */
bool bus_caller_in_group(const BusCaller *c, const char *group);
