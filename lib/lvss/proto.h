/* SPDX-License-Identifier: MIT */
/*
 * The lvss bus protocol, internal: the one place for every D-Bus name, path
 * and interface, for connecting to the bus, and for mapping org.lvss.Error.*
 * names to LVSS_E_* codes and back.  Used by liblvss, lvssd, mstored, the
 * mstore tool and the backup service (static library `lvss-internal`; never
 * exported from liblvss.so).  Wire protocol: docs/design/dbus-protocol.md.
 */
#pragma once

#include <stddef.h>

#include <systemd/sd-bus.h>

#include "lib/core/error-slot.h"

/* lvssd, the coordinator. */
#define LVSSD_BUS_NAME "org.lvss.Coordinator1"
#define LVSSD_PATH "/org/lvss/Coordinator1"
#define LVSSD_IFACE "org.lvss.Coordinator1"
#define LVSSD_SESSION_PREFIX "/org/lvss/Coordinator1/session"
#define LVSSD_SESSION_IFACE "org.lvss.Session1"
/* The object every writer exports on its own connection (liblvss). */
#define LVSS_WRITER_PATH "/org/lvss/Writer1"
#define LVSS_WRITER_IFACE "org.lvss.Writer1"
/* org.lvss.Error.<NAME> is LVSS_E_<NAME>. */
#define LVSS_ERROR_PREFIX "org.lvss.Error."

/* mstored, the mail store. */
#define LVSS_MAILSTORE_BUS_NAME "org.lvss.MailStore1"
#define LVSS_MAILSTORE_PATH "/org/lvss/MailStore1"
#define LVSS_MAILSTORE_IFACE "org.lvss.MailStore1"
#define LVSS_MAILSTORE_ERROR_PREFIX "org.lvss.MailStore1.Error."

/* The backup service. */
#define LVSS_BACKUP_BUS_NAME "org.lvss.Backup1"
#define LVSS_BACKUP_PATH "/org/lvss/Backup1"
#define LVSS_BACKUP_IFACE "org.lvss.Backup1"

/* proto_bus_connect() flags. */
#define PROTO_BUS_CREDS 1u      /* on $LVSS_BUS, negotiate the sender's euid and pid (services) */

/* Connect to the bus whose address is in $LVSS_BUS (when set and not empty)
 * or else to the system bus; the caller owns *ret.  On failure returns
 * -errno and raises one line into SLOT (lib/core/error-slot.h; the caller's
 * handle, NULL = the thread's slot): "cannot connect to the LVSS_BUS bus
 * (ADDRESS): REASON" or "cannot connect to the system bus: REASON". */
int proto_bus_connect(sd_bus **ret, unsigned flags, ErrorSlot *slot);

/* The LVSS_E_* code an org.lvss.Error.<NAME> error names, or 0 when e is
 * not one (another name, an unknown NAME, no error). */
int proto_error_code(const sd_bus_error *e);

/* Set error for code: an LVSS_E_* code becomes org.lvss.Error.<NAME>,
 * anything else (-errno) sd-bus's System.Error.E*, with message msg.
 * Returns code when negative, else -EIO. */
int proto_error_set(sd_bus_error *error, int code, const char *msg);
