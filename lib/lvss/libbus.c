/* SPDX-License-Identifier: MIT */
/* Connecting liblvss to lvssd; mapping D-Bus errors back to LVSS_E_* codes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <lvss/types.h>

#include "lib/lvss/libbus.h"

int lvss_bus_open(sd_bus **ret, ErrorSlot *slot) {
        return proto_bus_connect(ret, 0, slot) < 0 ? LVSS_E_WRITER_INFRASTRUCTURE : 0;
}

int lvss_bus_error_code(const sd_bus_error *e, int r, ErrorSlot *slot) {
        const char *name = e && e->name ? e->name : "";
        int code;

        if (strcmp(name, SD_BUS_ERROR_SERVICE_UNKNOWN) == 0 || strcmp(name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) == 0 ||
            strcmp(name, SD_BUS_ERROR_NO_REPLY) == 0 || strcmp(name, SD_BUS_ERROR_DISCONNECTED) == 0)
                return error_slot_set(slot, LVSS_E_WRITER_INFRASTRUCTURE, "lvssd is not running or not reachable (%s)",
                                      e && e->message ? e->message : name);
        (void) error_slot_set(slot, 0, "%s", e && e->message ? e->message : strerror(r < 0 && r > -4096 ? -r : EIO));
        code = proto_error_code(e);
        if (code < 0)
                return code;
        if (strcmp(name, SD_BUS_ERROR_ACCESS_DENIED) == 0 || strcmp(name, SD_BUS_ERROR_AUTH_FAILED) == 0)
                return LVSS_E_ACCESS_DENIED;
        if (strcmp(name, SD_BUS_ERROR_UNKNOWN_OBJECT) == 0 || strcmp(name, SD_BUS_ERROR_UNKNOWN_METHOD) == 0)
                return LVSS_E_BAD_STATE;
        if (e && e->name)
                code = sd_bus_error_get_errno(e);
        else
                code = r < 0 ? -r : EIO;
        if (code == ECONNRESET || code == ENOTCONN || code == ECONNREFUSED || code == ENOENT)
                return LVSS_E_WRITER_INFRASTRUCTURE;
        return code > 0 ? -code : -EIO;
}
