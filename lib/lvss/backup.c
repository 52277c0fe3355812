/* SPDX-License-Identifier: MIT */
/*
 * The requestor API (requestor.h) and IVssAsync (async.h) over D-Bus: the
 * handle (backup-int.h says which file holds which phase).
 *
 * An lvss_backup owns one private bus connection; its session object in
 * lvssd is bound to that connection, so closing it (or the process dying)
 * ends the session there.  The backup components document lives here (the
 * requestor owns it) and travels to lvssd with every step that involves
 * writers; lvssd validates it, shows each writer its own part and returns it
 * with the writers' edits merged.  Calls are checked locally against the
 * sequence of vss-model §2/§7 (LVSS_E_BAD_STATE) before anything is sent,
 * with lvssd's state table (lib/lvss/state.c); lvssd checks again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <lvss/requestor.h>

#include "lib/core/array.h"
#include "lib/lvss/backup-int.h"
#include "lib/lvss/libbus.h"

int backup_fail(lvss_backup *b, int code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) error_slot_setv(&b->error, code, fmt, ap);
        va_end(ap);
        return code;
}

/* Is the session where `when` says (backup_call_checked)? */
static bool in_call_state(const lvss_backup *b, call_when when) {
        if (when == WHEN_BACKUP_EDITING || when == WHEN_SNAPSHOT_DONE)
                return b->mode == M_BACKUP &&
                       (when == WHEN_BACKUP_EDITING ? !prepared(b) : b->state == S_SNAPSHOT_DONE);
        return b->mode == M_RESTORE && (when == WHEN_RESTORE_EDITING ? !pre_restored(b) : b->state == S_PRE_RESTORED);
}

int backup_call_checked(lvss_backup *b, call_when when, const char *instance_id, const char *writer_id,
                        lvss_component_type type, const char *logical_path, const char *name, const char *what,
                        struct lvss_component **ret) {
        CHECK(b);
        if (!in_call_state(b, when))
                return BAD_STATE(b, what);
        if (when == WHEN_RESTORE_EDITING)
                return backup_restore_component(b, writer_id, type, logical_path, name, what, ret);
        *ret = backup_find_component(b, instance_id, writer_id, type, logical_path, name, what);
        return *ret ? 0 : LVSS_E_OBJECT_NOT_FOUND;
}

void backup_metadata_clear(lvss_backup *b) {
        for (size_t i = 0; i < b->n_md; i++) {
                free(b->md[i].instance_id);
                lvss_doc_wm_free(b->md[i].wm);
        }
        free(b->md);
        b->md = NULL;
        b->n_md = b->cap_md = 0;
}

void backup_status_clear(lvss_backup *b) {
        for (size_t i = 0; i < b->n_st; i++) {
                free(b->st[i].instance_id);
                free(b->st[i].writer_id);
                free(b->st[i].name);
                free(b->st[i].instance_name);
                free(b->st[i].message);
        }
        free(b->st);
        b->st = NULL;
        b->n_st = b->cap_st = 0;
}

int lvss_backup_new(lvss_backup **ret) {
        lvss_backup *b;
        int r;

        if (!ret)
                return -EINVAL;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->owner = pthread_self();
        b->context = LVSS_CTX_BACKUP;
        r = lvss_bus_open(&b->bus, &b->error);
        if (r < 0) {
                free(b);
                return r;
        }
        *ret = b;
        return 0;
}

lvss_backup *lvss_backup_free(lvss_backup *b) {
        if (!b || !pthread_equal(b->owner, pthread_self()))
                return NULL;
        if (b->session && b->bus)
                /* Closing the connection alone would do; Close makes it immediate. */
                (void) sd_bus_call_method(b->bus, LVSSD_BUS_NAME, b->session, LVSSD_SESSION_IFACE, "Close", NULL,
                                          NULL, "");
        sd_bus_flush_close_unref(b->bus);
        backup_metadata_clear(b);
        backup_status_clear(b);
        lvss_doc_bcd_free(b->bcd);
        for (int i = 0; i < 3; i++)
                free(b->filter[i]);
        free(b->session);
        free(b);
        return NULL;
}

int lvss_backup_close(lvss_backup *b) {
        int r;

        CHECK(b);
        if (!b->session)
                return 0;
        r = backup_call(b, "close", b->session, "Close", NULL, NULL);
        /* The session is gone whatever the answer: free must not Close again. */
        free(b->session);
        b->session = NULL;
        return r;
}

const char *lvss_backup_last_error(const lvss_backup *b) {
        return b ? error_slot_get(&b->error) : "";
}

int lvss_backup_get_fd(lvss_backup *b) {
        CHECK(b);
        return sd_bus_get_fd(b->bus);
}

int lvss_backup_get_events(lvss_backup *b) {
        CHECK(b);
        return sd_bus_get_events(b->bus);
}

int lvss_backup_process(lvss_backup *b) {
        int r;

        CHECK(b);
        r = sd_bus_process(b->bus, NULL);
        if (r < 0)
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "connection to lvssd lost: %s", strerror(-r));
        return r;
}

/* A synchronous call to the session (or the coordinator when path NULL). */
int backup_call(lvss_backup *b, const char *what, const char *path, const char *method, sd_bus_message **reply,
                const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(b->bus, &m, LVSSD_BUS_NAME, path ? path : LVSSD_PATH,
                                           path ? LVSSD_SESSION_IFACE : LVSSD_IFACE, method);
        if (r >= 0 && types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r < 0)
                return backup_fail(b, r, "%s: cannot build the call: %s", what, strerror(-r));
        r = sd_bus_call(b->bus, m, 0, &e, reply);
        if (r < 0) {
                r = lvss_bus_error_code(&e, r, &b->error);
                sd_bus_error_free(&e);
                return r;
        }
        return 0;
}

static int open_session(lvss_backup *b, const char *mode) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        r = backup_call(b, "open session", NULL, "OpenSession", &reply, "s", mode);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return backup_fail(b, r, "open session: malformed reply");
        b->session = strdup(path);
        return b->session ? 0 : -ENOMEM;
}

int lvss_backup_initialize_for_backup(lvss_backup *b, const char *bcd_json) {
        lvss_bcd *bcd = NULL;
        int r;

        CHECK(b);
        if (b->mode != M_NEW)
                return BAD_STATE(b, "initialize for backup");
        if (bcd_json) {
                r = lvss_doc_bcd_parse(bcd_json, &bcd, &b->error);
                if (r < 0)
                        return backup_fail(b, r, "backup components document: %s", error_slot_get(&b->error));
        } else if (!(bcd = lvss_doc_bcd_new()))
                return -ENOMEM;
        r = open_session(b, "backup");
        if (r < 0) {
                lvss_doc_bcd_free(bcd);
                return r;
        }
        bcd->restore = false;
        bcd->check_owner = true;
        bcd->owner = b->owner;
        bcd->edit = LVSS_EDIT_REQUESTOR;
        b->context = bcd->context;
        b->bcd = bcd;
        b->mode = M_BACKUP;
        return 0;
}

int lvss_backup_initialize_for_restore(lvss_backup *b, const char *bcd_json) {
        lvss_bcd *bcd = NULL;
        int r;

        CHECK(b);
        if (b->mode != M_NEW)
                return BAD_STATE(b, "initialize for restore");
        if (!bcd_json)
                return backup_fail(b, -EINVAL, "initialize for restore: the saved backup components document is required");
        r = lvss_doc_bcd_parse(bcd_json, &bcd, &b->error);
        if (r < 0)
                return backup_fail(b, r, "backup components document: %s", error_slot_get(&b->error));
        r = open_session(b, "restore");
        if (r < 0) {
                lvss_doc_bcd_free(bcd);
                return r;
        }
        bcd->restore = true;
        bcd->check_owner = true;
        bcd->owner = b->owner;
        bcd->edit = LVSS_EDIT_REQUESTOR;
        b->bcd = bcd;
        b->mode = M_RESTORE;
        b->state = S_RESTORE_OPEN;
        return 0;
}

int lvss_backup_set_context(lvss_backup *b, uint32_t context) {
        CHECK(b);
        if (b->mode != M_BACKUP || set_started(b))
                return BAD_STATE(b, "set context");
        if (!lvss_context_to_string(context))
                return backup_fail(b, LVSS_E_UNSUPPORTED_CONTEXT, "set context: 0x%x is not a snapshot-creating context", context);
        b->context = context;
        b->bcd->context = context;
        return 0;
}

int lvss_backup_set_backup_state(lvss_backup *b, int select_components, int bootable_system_state,
                                 lvss_backup_type type, int partial_file_support) {
        CHECK(b);
        if (b->mode != M_BACKUP || prepared(b))
                return BAD_STATE(b, "set backup state");
        if (type == LVSS_BT_UNDEFINED || !lvss_backup_type_to_string(type))
                return backup_fail(b, -EINVAL, "set backup state: invalid backup type %d", (int) type);
        b->bcd->select_components = !!select_components;
        b->bcd->bootable = !!bootable_system_state;
        b->bcd->backup_type = type;
        b->bcd->partial_file_support = !!partial_file_support;
        b->state_set = true;
        return 0;
}

int lvss_backup_set_restore_state(lvss_backup *b, lvss_restore_type type) {
        CHECK(b);
        if (b->mode != M_RESTORE || pre_restored(b))
                return BAD_STATE(b, "set restore state");
        if (!lvss_restore_type_to_string(type))
                return backup_fail(b, -EINVAL, "set restore state: invalid restore type %d", (int) type);
        b->bcd->restore_type = type;
        return 0;
}

/* --------------------------------------------------------------- discovery */

static int add_filter(lvss_backup *b, int which, const char *const *ids, size_t n, const char *what) {
        lvss_id *v;

        CHECK(b);
        if (b->mode == M_NEW || b->gathered || b->pending)
                return BAD_STATE(b, what);
        if (n && !ids)
                return backup_fail(b, -EINVAL, "%s: no ids", what);
        if (b->n_filter[which] + n > LVSS_DOC_MAX_WRITERS)
                return backup_fail(b, -E2BIG, "%s: more than %u ids", what, LVSS_DOC_MAX_WRITERS);
        for (size_t i = 0; i < n; i++)
                if (!lvss_doc_is_uuid(ids[i]))
                        return backup_fail(b, -EINVAL, "%s: '%s' is not an id", what, ids[i] ? ids[i] : "(null)");
        v = reallocarray(b->filter[which], b->n_filter[which] + n + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        b->filter[which] = v;
        for (size_t i = 0; i < n; i++)
                memcpy(v[b->n_filter[which]++].str, ids[i], LVSS_ID_MAX);
        return 0;
}

int lvss_backup_enable_writer_classes(lvss_backup *b, const char *const *class_ids, size_t n) {
        return add_filter(b, 0, class_ids, n, "enable writer classes");
}

int lvss_backup_disable_writer_classes(lvss_backup *b, const char *const *class_ids, size_t n) {
        return add_filter(b, 1, class_ids, n, "disable writer classes");
}

int lvss_backup_disable_writer_instances(lvss_backup *b, const char *const *instance_ids, size_t n) {
        return add_filter(b, 2, instance_ids, n, "disable writer instances");
}

static int send_filter(lvss_backup *b) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_message_new_method_call(b->bus, &m, LVSSD_BUS_NAME, b->session, LVSSD_SESSION_IFACE,
                                           "SetWriterFilter");
        for (int i = 0; r >= 0 && i < 3; i++) {
                r = sd_bus_message_open_container(m, 'a', "s");
                for (size_t j = 0; r >= 0 && j < b->n_filter[i]; j++)
                        r = sd_bus_message_append(m, "s", b->filter[i][j].str);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r < 0)
                return backup_fail(b, r, "writer filter: cannot build the call");
        r = sd_bus_call(b->bus, m, 0, &e, NULL);
        if (r < 0) {
                r = lvss_bus_error_code(&e, r, &b->error);
                sd_bus_error_free(&e);
                return backup_fail(b, r, "writer filter: %s", error_slot_get(&b->error));
        }
        return 0;
}

int lvss_backup_gather_writer_metadata(lvss_backup *b, lvss_async **ret_async) {
        int r;

        CHECK(b);
        if (b->mode == M_NEW || !in_order(b, M_GATHER_WRITER_METADATA))
                return BAD_STATE(b, "gather writer metadata");
        if (b->n_filter[0] + b->n_filter[1] + b->n_filter[2] > 0) {
                r = send_filter(b);
                if (r < 0)
                        return r;
        }
        return backup_start_async(b, OP_GATHER_METADATA, "GatherWriterMetadata", false, ret_async);
}

int lvss_backup_get_writer_metadata_count(lvss_backup *b) {
        CHECK(b);
        if (!b->gathered)
                return BAD_STATE(b, "get writer metadata count");
        return (int) b->n_md;
}

int lvss_backup_get_writer_metadata(lvss_backup *b, size_t i, const char **ret_instance_id,
                                    const lvss_writer_metadata **ret_wm) {
        CHECK(b);
        if (!b->gathered)
                return BAD_STATE(b, "get writer metadata");
        if (i >= b->n_md)
                return backup_fail(b, LVSS_E_OBJECT_NOT_FOUND, "get writer metadata: no writer %zu", i);
        if (ret_instance_id)
                *ret_instance_id = b->md[i].instance_id;
        if (ret_wm)
                *ret_wm = b->md[i].wm;
        return 0;
}

int lvss_backup_free_writer_metadata(lvss_backup *b) {
        CHECK(b);
        backup_metadata_clear(b);
        return 0;
}
