/* SPDX-License-Identifier: MIT */
/* Internal: connecting liblvss to lvssd and mapping bus errors to codes. */
#pragma once

#include <systemd/sd-bus.h>

#define LVSSD_BUS_NAME "org.lvss.Coordinator1"
#define LVSSD_PATH "/org/lvss/Coordinator1"
#define LVSSD_IFACE "org.lvss.Coordinator1"
#define LVSSD_SESSION_IFACE "org.lvss.Session1"
#define LVSS_WRITER_PATH "/org/lvss/Writer1"
#define LVSS_WRITER_IFACE "org.lvss.Writer1"
#define LVSS_ERROR_PREFIX "org.lvss.Error."

/* Connect to $LVSS_BUS or the system bus.  LVSS_E_WRITER_INFRASTRUCTURE on failure. */
int lvss_bus_open(sd_bus **ret, char *why, size_t why_size);
/* The LVSS_E_* / -errno code a failed call means; copies the message to why.
 * A missing lvssd is LVSS_E_WRITER_INFRASTRUCTURE. */
int lvss_bus_error_code(const sd_bus_error *e, int r, char *why, size_t why_size);
