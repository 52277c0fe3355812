/* SPDX-License-Identifier: MIT */
/* Connecting liblvss to lvssd; mapping D-Bus errors back to LVSS_E_* codes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lvss/types.h>

#include "lib/lvss/libbus.h"

int lvss_bus_open(sd_bus **ret, char *why, size_t why_size) {
        const char *addr = getenv("LVSS_BUS");
        sd_bus *bus = NULL;
        int r;

        if (addr && *addr) {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, addr);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0)
                        r = sd_bus_start(bus);
        } else
                r = sd_bus_open_system(&bus);
        if (r < 0) {
                snprintf(why, why_size, "cannot connect to the %s bus: %s", addr && *addr ? "LVSS_BUS" : "system",
                         strerror(-r));
                sd_bus_unref(bus);
                return LVSS_E_WRITER_INFRASTRUCTURE;
        }
        *ret = bus;
        return 0;
}

int lvss_bus_error_code(const sd_bus_error *e, int r, char *why, size_t why_size) {
        const char *name = e && e->name ? e->name : "";
        int code;

        snprintf(why, why_size, "%s", e && e->message ? e->message : strerror(r < 0 && r > -4096 ? -r : EIO));
        if (strncmp(name, LVSS_ERROR_PREFIX, strlen(LVSS_ERROR_PREFIX)) == 0) {
                char full[128];
                snprintf(full, sizeof(full), "LVSS_E_%s", name + strlen(LVSS_ERROR_PREFIX));
                code = lvss_error_from_name(full);
                if (code < 0)
                        return code;
        }
        if (strcmp(name, SD_BUS_ERROR_SERVICE_UNKNOWN) == 0 || strcmp(name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) == 0 ||
            strcmp(name, SD_BUS_ERROR_NO_REPLY) == 0 || strcmp(name, SD_BUS_ERROR_DISCONNECTED) == 0) {
                snprintf(why, why_size, "lvssd is not running or not reachable (%s)",
                         e && e->message ? e->message : name);
                return LVSS_E_WRITER_INFRASTRUCTURE;
        }
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
