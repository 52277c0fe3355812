/* SPDX-License-Identifier: MIT */
/* lvss_admin: lvssd's list/status/delete queries for tools (admin.h). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lvss/admin.h>

#include "lib/core/error-slot.h"
#include "lib/core/macro.h"
#include "lib/lvss/doc.h"
#include "lib/lvss/libbus.h"

struct lvss_admin {
        pthread_t owner;
        sd_bus *bus;
        ErrorSlot error;             /* lib/core/error-slot.h: the handle's last message */
};

#define CHECK(a)                                                                     \
        do {                                                                         \
                if (!(a))                                                            \
                        return -EINVAL;                                              \
                if (!pthread_equal((a)->owner, pthread_self()))                      \
                        return LVSS_E_WRONG_THREAD;                                  \
                error_slot_clear(&(a)->error);                                       \
        } while (0)

int lvss_admin_new(lvss_admin **ret) {
        lvss_admin *a;
        int r;

        if (!ret)
                return -EINVAL;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->owner = pthread_self();
        r = lvss_bus_open(&a->bus, &a->error);
        if (r < 0) {
                free(a);
                return r;
        }
        *ret = a;
        return 0;
}

lvss_admin *lvss_admin_free(lvss_admin *a) {
        if (!a || !pthread_equal(a->owner, pthread_self()))
                return NULL;
        sd_bus_flush_close_unref(a->bus);
        free(a);
        return NULL;
}

const char *lvss_admin_last_error(const lvss_admin *a) {
        return a ? error_slot_get(&a->error) : "";
}

static int json_call(lvss_admin *a, const char *method, char **ret_json) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        const char *text;
        int r;

        CHECK(a);
        if (!ret_json)
                return -EINVAL;
        r = sd_bus_call_method(a->bus, LVSSD_BUS_NAME, LVSSD_PATH, LVSSD_IFACE, method, &e, &reply, "");
        if (r < 0) {
                r = lvss_bus_error_code(&e, r, &a->error);
                sd_bus_error_free(&e);
                return r;
        }
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0) {
                error_slot_set(&a->error, 0, "%s: malformed reply from lvssd", method);
                return LVSS_E_WRITER_INFRASTRUCTURE;
        }
        *ret_json = strdup(text);
        return *ret_json ? 0 : -ENOMEM;
}

int lvss_admin_list_writers(lvss_admin *a, char **ret_json) {
        return json_call(a, "ListWriters", ret_json);
}

int lvss_admin_list_providers(lvss_admin *a, char **ret_json) {
        return json_call(a, "ListProviders", ret_json);
}

int lvss_admin_list_shadows(lvss_admin *a, char **ret_json) {
        return json_call(a, "ListShadows", ret_json);
}

int lvss_admin_status(lvss_admin *a, char **ret_json) {
        return json_call(a, "Status", ret_json);
}

int lvss_admin_writer_metadata(lvss_admin *a, char **ret_json) {
        return json_call(a, "WriterMetadata", ret_json);
}

int lvss_admin_delete_shadows(lvss_admin *a, const char *set_id, const char *shadow_id, int all,
                              size_t *ret_deleted) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        const char *failed, *why;
        uint32_t deleted;
        int r;

        CHECK(a);
        if (!!set_id + !!shadow_id + !!all != 1) {
                error_slot_set(&a->error, 0, "delete shadows: give exactly one of a set id, a shadow id or all");
                return -EINVAL;
        }
        r = sd_bus_call_method(a->bus, LVSSD_BUS_NAME, LVSSD_PATH, LVSSD_IFACE, "DeleteShadows", &e, &reply, "ssb",
                               set_id ? set_id : "", shadow_id ? shadow_id : "", !!all);
        if (r < 0) {
                r = lvss_bus_error_code(&e, r, &a->error);
                sd_bus_error_free(&e);
                return r;
        }
        r = sd_bus_message_read(reply, "uss", &deleted, &failed, &why);
        if (r < 0) {
                error_slot_set(&a->error, 0, "delete shadows: malformed reply from lvssd");
                return LVSS_E_WRITER_INFRASTRUCTURE;
        }
        if (ret_deleted)
                *ret_deleted = deleted;
        if (failed[0]) {
                error_slot_set(&a->error, 0, "snapshot %s: %s", failed, why);
                return LVSS_E_UNEXPECTED_PROVIDER_ERROR;
        }
        return 0;
}
