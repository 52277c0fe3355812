/* SPDX-License-Identifier: MIT */
/*
 * The D-Bus face of lvssd (docs/design/dbus-protocol.md): the
 * org.lvss.Coordinator1 object and one org.lvss.Session1 object per
 * requestor session.  Every method checks the caller's role first
 * (auth.c); argument parsing is strict; JSON replies are built with jansson.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "daemon/lvssd/lvssd.h"
#include "lib/core/macro.h"

static int reply_json(sd_bus_message *msg, json_t *j) {
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        int r;

        json_decref(j);
        if (!text)
                return -ENOMEM;
        r = sd_bus_reply_method_return(msg, "s", text);
        free(text);
        return r;
}

static int session_add_object(Session *s);

static int method_open_session(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *mode;
        Session *s;
        uid_t uid;
        int r;

        r = sd_bus_message_read(msg, "s", &mode);
        if (r < 0)
                return bus_error_set(error, -EINVAL, "OpenSession: expected a mode string");
        if (strcmp(mode, "backup") != 0 && strcmp(mode, "restore") != 0)
                return bus_error_set(error, -EINVAL, "OpenSession: mode '%.32s' is not \"backup\" or \"restore\"", mode);
        r = auth_check(m, msg, ROLE_REQUESTOR, "OpenSession", &uid, error);
        if (r < 0)
                return r;
        r = session_new(m, msg, strcmp(mode, "restore") == 0, uid, &s);
        if (r >= 0) {
                r = session_add_object(s);
                if (r < 0)
                        session_free(s, false);
        }
        if (r == -EMFILE)
                return bus_error_set(error, r, "OpenSession: too many sessions (at most %d)", MAX_SESSIONS);
        if (r == -EUSERS)
                return bus_error_set(error, r,
                                     "OpenSession: too many sessions for this connection or uid (at most %d and %d)",
                                     MAX_SESSIONS_PER_CONNECTION, MAX_SESSIONS_PER_UID);
        if (r < 0)
                return bus_error_set(error, r, "OpenSession: %s", strerror(-r));
        return sd_bus_reply_method_return(msg, "o", s->path);
}

static int method_register_writer(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *identity;
        uint32_t flags;
        Writer *w;
        uid_t uid;
        int r;

        r = sd_bus_message_read(msg, "su", &identity, &flags);
        if (r < 0)
                return bus_error_set(error, -EINVAL, "RegisterWriter: expected (su)");
        r = auth_check(m, msg, ROLE_WRITER, "RegisterWriter", &uid, error);
        if (r < 0)
                return r;
        r = writer_register(m, msg, identity, flags, uid, &w, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "s", w->instance_id);
}

static int method_unregister_writer(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        Writer *w = writer_by_name(m, sd_bus_message_get_sender(msg) ?: "");

        if (!w)
                return bus_error_set(error, LVSS_E_OBJECT_NOT_FOUND, "UnregisterWriter: this connection has no writer");
        ev_log(EV_WRITER_GONE, LOG_INFO, NULL, "writer '%s' (instance %s) unsubscribed", w->name, w->instance_id);
        writer_free(w);
        return sd_bus_reply_method_return(msg, "");
}

static int method_list_writers(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return reply_json(msg, writers_to_json(userdata));
}

static int method_list_providers(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return reply_json(msg, providers_to_json());
}

static int method_list_shadows(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return reply_json(msg, snaps_to_json(userdata));
}

static int method_status(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        json_t *o = json_object();

        json_object_set_new(o, "set_in_progress", m->set_owner ? json_string(m->set_owner->set_id) : json_null());
        /* lvssd never FIFREEZEs with the built-in (reflink, btrfs) providers. */
        json_object_set_new(o, "frozen_filesystems", json_array());
        json_object_set_new(o, "counters", counters_to_json(m));
        json_object_set_new(o, "writers", json_integer((json_int_t) m->n_writers));
        json_object_set_new(o, "sessions", json_integer((json_int_t) m->n_sessions));
        return reply_json(msg, o);
}

static int method_metrics(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        char *text = counters_to_prometheus(userdata);
        int r;

        if (!text)
                return bus_error_set(error, -ENOMEM, "out of memory");
        r = sd_bus_reply_method_return(msg, "s", text);
        free(text);
        return r;
}

static int method_writer_metadata(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        unsigned n = 0;
        uid_t uid;
        int r;

        r = auth_check(m, msg, ROLE_REQUESTOR, "WriterMetadata", &uid, error);
        if (r < 0)
                return r;
        for (Session *s = m->sessions; s; s = s->next)
                if (s->admin && s->uid == uid)
                        n++;
        if (n >= MAX_WRITER_METADATA_PER_UID)
                return bus_error_set(error, -EBUSY,
                                     "WriterMetadata: uid %u already has %u queries in progress (at most %d); try again when they end",
                                     (unsigned) uid, n, MAX_WRITER_METADATA_PER_UID);
        return admin_writer_metadata(m, msg, uid, error);
}

/* May uid (calling from bus name sender) delete x?  0, or sets error:
 * busy when a live session other than the caller's own holds it (an
 * auto-release snapshot of a running backup), access denied when it is
 * another user's and the caller is not root. */
static int may_delete(const Snap *x, uid_t uid, const char *sender, sd_bus_error *error) {
        if (x->session && strcmp(x->session->owner, sender) != 0)
                return bus_error_set(error, -EBUSY,
                                     "DeleteShadows: snapshot %s is in use by a live snapshot set (session %u); it goes when that session ends",
                                     x->ps.snapshot_id, x->session->id);
        if (uid != 0 && x->owner_uid != uid)
                return bus_error_set(error, LVSS_E_ACCESS_DENIED,
                                     "DeleteShadows: snapshot %s belongs to uid %u; only root may delete another user's snapshot",
                                     x->ps.snapshot_id, (unsigned) x->owner_uid);
        return 0;
}

static bool delete_matches(const Snap *x, const char *set_id, const char *shadow_id, bool all, uid_t uid) {
        if (all)
                return uid == 0 || x->owner_uid == uid;  /* --all: every snapshot the caller may delete */
        return strcmp(set_id[0] ? x->ps.set_id : x->ps.snapshot_id, set_id[0] ? set_id : shadow_id) == 0;
}

static int method_delete_shadows(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *set_id, *shadow_id, *sender = sd_bus_message_get_sender(msg) ?: "";
        char failed[LVSS_ID_MAX] = "";
        ErrorSlot why = { "" };   /* a copy: registry_save below may use the thread's slot */
        uint32_t deleted = 0;
        bool durable = false;
        bool found = false;
        uid_t uid;
        int all, r;

        r = sd_bus_message_read(msg, "ssb", &set_id, &shadow_id, &all);
        if (r < 0)
                return bus_error_set(error, -EINVAL, "DeleteShadows: expected (ssb)");
        if (!!set_id[0] + !!shadow_id[0] + !!all != 1)
                return bus_error_set(error, -EINVAL, "DeleteShadows: give exactly one of a set id, a shadow id or all");
        r = auth_check(m, msg, ROLE_REQUESTOR, "DeleteShadows", &uid, error);
        if (r < 0)
                return r;
        /* Refuse before deleting anything: in creation, busy, someone else's. */
        for (Snap *x = m->snaps; x; x = x->next) {
                if (!delete_matches(x, set_id, shadow_id, all, uid))
                        continue;
                if (x->state != SNAP_CREATED) {
                        if (!all)
                                return bus_error_set(error, LVSS_E_BAD_STATE,
                                                     "DeleteShadows: snapshot %s is still being created", x->ps.snapshot_id);
                        continue;
                }
                found = true;
                r = may_delete(x, uid, sender, error);
                if (r < 0)
                        return r;
        }
        if (!found && !all)
                return bus_error_set(error, LVSS_E_OBJECT_NOT_FOUND, "DeleteShadows: no %s %s", set_id[0] ? "snapshot set" : "snapshot",
                                     set_id[0] ? set_id : shadow_id);
        for (Snap *x = m->snaps, *next; x; x = next) {
                next = x->next;
                if (!delete_matches(x, set_id, shadow_id, all, uid) || x->state != SNAP_CREATED)
                        continue;
                char id[LVSS_ID_MAX];
                bool persistent = x->context & LVSS_VOLSNAP_ATTR_NO_AUTO_RELEASE;
                memcpy(id, x->ps.snapshot_id, LVSS_ID_MAX);
                r = snap_delete(m, x);
                if (r < 0) {
                        /* Deletion is sequential and stops at the first failure (as in VSS). */
                        memcpy(failed, id, LVSS_ID_MAX);
                        (void) error_slot_set(&why, r, "%s", provider_reason(r));
                        break;
                }
                deleted++;
                durable = durable || persistent;
        }
        /* A deleted persistent snapshot must not come back; an auto-release
         * one still listed is deleted by the next start anyway. */
        if (deleted)
                (void) registry_save(m, durable);
        return sd_bus_reply_method_return(msg, "uss", deleted, failed, error_slot_get(&why));
}

static const sd_bus_vtable coordinator_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("OpenSession", "s", "o", method_open_session, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("RegisterWriter", "su", "s", method_register_writer, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("UnregisterWriter", "", "", method_unregister_writer, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ListWriters", "", "s", method_list_writers, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ListProviders", "", "s", method_list_providers, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ListShadows", "", "s", method_list_shadows, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Status", "", "s", method_status, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("WriterMetadata", "", "s", method_writer_metadata, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Metrics", "", "s", method_metrics, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("DeleteShadows", "ssb", "uss", method_delete_shadows, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

static int session_dispatch(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return session_method(userdata, sd_bus_message_get_member(msg), msg, error);
}

static const sd_bus_vtable session_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("GatherWriterMetadata", "", "a(ss)", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("StartSnapshotSet", "u", "s", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("IsVolumeSupported", "ss", "bs", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("AddToSnapshotSet", "ss", "s", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("PrepareForBackup", "s", "s", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("DoSnapshotSet", "s", "s", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GatherWriterStatus", "", "a(ssssuiist)", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("BackupComplete", "s", "s", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("AbortBackup", "", "", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("PreRestore", "s", "s", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("PostRestore", "s", "s", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetFreezeWindow", "", "t", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Close", "", "", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("SetWriterFilter", "asasas", "", session_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

static int session_add_object(Session *s) {
        return sd_bus_add_object_vtable(s->m->bus, &s->object_slot, s->path, LVSSD_SESSION_IFACE, session_vtable, s);
}

int bus_setup(Manager *m) {
        int r;

        r = proto_bus_connect(&m->bus, 0, NULL);
        if (r < 0) {
                fprintf(stderr, "lvssd: %s\n", error_slot_get(NULL));
                return r;
        }
        r = sd_bus_add_object_vtable(m->bus, NULL, LVSSD_PATH, LVSSD_IFACE, coordinator_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(m->bus, m->event, 0);
        if (r < 0)
                return r;
        r = sd_bus_request_name(m->bus, LVSSD_BUS_NAME, 0);
        if (r < 0) {
                fprintf(stderr, "lvssd: cannot own %s: %s (is another lvssd running?)\n", LVSSD_BUS_NAME, strerror(-r));
                return r;
        }
        return 0;
}
