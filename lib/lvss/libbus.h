/* SPDX-License-Identifier: MIT */
/* Internal: connecting liblvss to lvssd and mapping bus errors to codes. */
#pragma once

#include <systemd/sd-bus.h>

#include "lib/lvss/proto.h"     /* the names */

/* proto_bus_connect() raising into SLOT (the handle's);
 * LVSS_E_WRITER_INFRASTRUCTURE on failure. */
int lvss_bus_open(sd_bus **ret, ErrorSlot *slot);
/* The LVSS_E_* / -errno code a failed call means; raises the message into
 * SLOT (the handle's; callers may wrap it in place).  A missing lvssd is
 * LVSS_E_WRITER_INFRASTRUCTURE. */
int lvss_bus_error_code(const sd_bus_error *e, int r, ErrorSlot *slot);
