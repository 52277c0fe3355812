/* SPDX-License-Identifier: MIT */
/* The lvss bus protocol: connecting, and org.lvss.Error.* <-> LVSS_E_* (proto.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lvss/types.h>

#include "lib/core/error-slot.h"
#include "lib/lvss/proto.h"

int proto_bus_connect(sd_bus **ret, unsigned flags, ErrorSlot *slot) {
        const char *addr = getenv("LVSS_BUS");
        sd_bus *bus = NULL;
        int r;

        if (addr && *addr) {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, addr);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0 && (flags & PROTO_BUS_CREDS))
                        r = sd_bus_negotiate_creds(bus, 1, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID);
                if (r >= 0)
                        r = sd_bus_start(bus);
        } else
                r = sd_bus_open_system(&bus);
        if (r < 0) {
                sd_bus_unref(bus);
                if (addr && *addr)
                        return error_slot_set(slot, r, "cannot connect to the LVSS_BUS bus (%s): %s", addr,
                                              strerror(-r));
                return error_slot_set(slot, r, "cannot connect to the system bus: %s", strerror(-r));
        }
        *ret = bus;
        return 0;
}

int proto_error_code(const sd_bus_error *e) {
        const char *name = e && e->name ? e->name : "";
        char full[128];
        int code;

        if (strncmp(name, LVSS_ERROR_PREFIX, strlen(LVSS_ERROR_PREFIX)) != 0)
                return 0;
        snprintf(full, sizeof(full), "LVSS_E_%s", name + strlen(LVSS_ERROR_PREFIX));
        code = lvss_error_from_name(full);
        return code < 0 ? code : 0;
}

int proto_error_set(sd_bus_error *error, int code, const char *msg) {
        const char *n = lvss_error_name(code);
        char name[128];

        if (code <= -0x5000 && code > _LVSS_E_FIRST && strncmp(n, "LVSS_E_", 7) == 0) {
                snprintf(name, sizeof(name), LVSS_ERROR_PREFIX "%s", n + 7);
                sd_bus_error_set(error, name, msg);
        } else
                sd_bus_error_set_errnof(error, code < 0 ? -code : EIO, "%s", msg);
        return code < 0 ? code : -EIO;
}
