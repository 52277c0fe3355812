/* SPDX-License-Identifier: MIT */
/* Internal: connecting liblvss to lvssd and mapping bus errors to codes. */
#pragma once

#include <systemd/sd-bus.h>

#include "lib/lvss/proto.h"     /* the names */

/* proto_bus_open(); LVSS_E_WRITER_INFRASTRUCTURE on failure. */
int lvss_bus_open(sd_bus **ret, char *why, size_t why_size);
/* The LVSS_E_* / -errno code a failed call means; copies the message to why.
 * A missing lvssd is LVSS_E_WRITER_INFRASTRUCTURE. */
int lvss_bus_error_code(const sd_bus_error *e, int r, char *why, size_t why_size);
