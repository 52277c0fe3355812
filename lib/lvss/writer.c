/* SPDX-License-Identifier: MIT */
/*
 * The writer API (writer.h) over D-Bus.
 *
 * A subscribed writer has its own bus connection exporting
 * /org/lvss/Writer1 (org.lvss.Writer1.Event); lvssd calls Event(name, args)
 * and the reply carries the callback's verdict and, for component events,
 * the writer's edited part of the backup components document.  Only the
 * connection that owns org.lvss.Coordinator1 may send events (others get
 * AccessDenied).  When lvssd restarts, the writer registers again by itself
 * (NameOwnerChanged), with a new instance id.
 *
 * Invariants (docs/design/coordinator.md, "coordinator loss"):
 *  1. Losing the coordinator is an Abort.  When the name org.lvss.Coordinator1
 *     loses its owner (lvssd exited or was killed), passes to a new owner, or
 *     the bus connection itself is lost, a writer with a sequence in flight
 *     (any event but Identify since the last BackupShutdown) gets on_abort
 *     and then on_backup_shutdown, delivered by the library, before anything
 *     else; its state is reset.  These events carry no session id: they end
 *     everything in flight, whichever session started it.  No event of the dead lvssd can follow.
 *  2. A writer is never frozen without a deadline.  From a successful
 *     on_freeze the library arms its own deadline (the declared
 *     freeze_timeout_ms plus FREEZE_GRACE_MS, so lvssd's timer normally fires
 *     first); if neither Thaw nor Abort has come by then (lvssd hung or
 *     stopped), the library delivers on_abort.  lvss_writer_get_timeout
 *     includes that deadline, so a poll() loop wakes up for it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lvss/writer.h>

#include "lib/core/error-slot.h"
#include "lib/core/macro.h"
#include "lib/lvss/doc.h"
#include "lib/lvss/libbus.h"

/* How long past its declared freeze timeout a frozen writer waits for lvssd's
 * Thaw or Abort before the library aborts on its own (invariant 2). */
#define FREEZE_GRACE_MS 2000u
/* Sessions tracked at once; past that, "something is in flight" until the
 * coordinator goes. */
#define MAX_FLIGHTS 16

struct lvss_writer {
        pthread_t owner;
        char *class_id, *name, *instance_name;
        lvss_usage_type usage;
        lvss_source_type source;
        lvss_application_level level;
        uint32_t freeze_timeout_ms;
        lvss_writer_events ev;
        void *userdata;
        uint32_t flags;

        sd_bus *bus;
        sd_bus_slot *object_slot, *match_slot, *register_slot;
        bool subscribed;
        char instance_id[LVSS_ID_MAX];
        char *coordinator;              /* unique name of lvssd */
        volatile sig_atomic_t stop;

        /* the event being delivered */
        bool in_event;
        const char *event;
        lvss_bcd *bcd;
        uint32_t context;
        char set_id[LVSS_ID_MAX];
        char session_id[LVSS_DOC_SESSION_ID_MAX];
        lvss_application_level current_level;
        int failure, app_error;
        char failure_msg[1024];
        char *device_name;
        char **volumes;                 /* the set's original paths */
        size_t n_volumes;

        /* the sequences in flight, one per session (invariants 1 and 2):
         * sessions overlap (a second backup is vetoed while one runs) */
        char flights[MAX_FLIGHTS][128];
        size_t n_flights;
        bool flights_overflow;
        char flight_set_id[LVSS_ID_MAX];
        uint64_t freeze_deadline;       /* CLOCK_MONOTONIC usec; 0 = not frozen */

        ErrorSlot error;             /* lib/core/error-slot.h: the handle's last message */
};

_printf_(3, 4)
static int fail(lvss_writer *w, int code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) error_slot_setv(&w->error, code, fmt, ap);
        va_end(ap);
        return code;
}

#define CHECK(w)                                                                     \
        do {                                                                         \
                if (!(w))                                                            \
                        return -EINVAL;                                              \
                if (!pthread_equal((w)->owner, pthread_self()))                      \
                        return LVSS_E_WRONG_THREAD;                                  \
        } while (0)

static bool in_event(const lvss_writer *w) {
        return w && pthread_equal(w->owner, pthread_self()) && w->in_event;
}

int lvss_writer_new(const lvss_writer_identity *identity, const lvss_writer_events *events,
                    void *userdata, lvss_writer **ret) {
        lvss_writer *w;

        if (!identity || !events || !ret || identity->version < 1 || events->version < 1)
                return -EINVAL;
        if (!lvss_doc_is_uuid(identity->class_id) || !identity->name || !identity->name[0] ||
            strlen(identity->name) > 1024 || (identity->instance_name && strlen(identity->instance_name) > 1024) ||
            !lvss_usage_type_to_string(identity->usage) || !lvss_source_type_to_string(identity->source) ||
            !lvss_application_level_to_string(identity->level) || identity->freeze_timeout_ms > 3600000)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->owner = pthread_self();
        w->class_id = strdup(identity->class_id);
        w->name = strdup(identity->name);
        w->instance_name = strdup(identity->instance_name ? identity->instance_name : "");
        if (!w->class_id || !w->name || !w->instance_name) {
                free(w->class_id);
                free(w->name);
                free(w->instance_name);
                free(w);
                return -ENOMEM;
        }
        w->usage = identity->usage;
        w->source = identity->source;
        w->level = identity->level;
        w->freeze_timeout_ms = identity->freeze_timeout_ms ? identity->freeze_timeout_ms : LVSS_DEFAULT_FREEZE_TIMEOUT_MS;
        /* Copy only what the caller's version of the table has. */
        w->ev = *events;
        if (events->version > LVSS_WRITER_EVENTS_VERSION)
                w->ev.version = LVSS_WRITER_EVENTS_VERSION;
        w->userdata = userdata;
        *ret = w;
        return 0;
}

const char *lvss_writer_last_error(const lvss_writer *w) {
        return w ? error_slot_get(&w->error) : "";
}

const char *lvss_writer_get_instance_id(const lvss_writer *w) {
        return w ? w->instance_id : "";
}

/* ------------------------------------------------------------------ events */

static int dispatch(lvss_writer *w, const char *event, lvss_writer_components *wc, char **ret_out) {
        const lvss_writer_events *e = &w->ev;
        void *ud = w->userdata;

        if (strcmp(event, "Identify") == 0) {
                struct lvss_writer_metadata *wm = lvss_doc_wm_new();
                struct lvss_metadata_builder md = { .wm = wm };
                json_t *j;
                int r = 0;

                if (!wm)
                        return -ENOMEM;
                wm->instance_id = strdup(w->instance_id);
                wm->writer_id = strdup(w->class_id);
                wm->writer_name = strdup(w->name);
                wm->instance_name = strdup(w->instance_name);
                wm->usage = w->usage;
                wm->source = w->source;
                wm->level = w->level;
                wm->freeze_timeout_ms = w->freeze_timeout_ms;
                if (!wm->instance_id || !wm->writer_id || !wm->writer_name || !wm->instance_name)
                        r = -ENOMEM;
                if (r >= 0 && e->on_identify)
                        r = e->on_identify(w, &md, ud);
                if (r >= 0) {
                        j = lvss_doc_wm_to_json(wm);
                        *ret_out = j ? json_dumps(j, JSON_COMPACT) : NULL;
                        json_decref(j);
                        if (!*ret_out)
                                r = -ENOMEM;
                }
                lvss_doc_wm_free(wm);
                return r;
        }
#define CALL(field, ...) (e->field ? e->field(__VA_ARGS__) : 0)
        if (strcmp(event, "PrepareForBackup") == 0)
                return CALL(on_prepare_backup, w, wc, ud);
        if (strcmp(event, "PrepareForSnapshot") == 0)
                return CALL(on_prepare_snapshot, w, ud);
        if (strcmp(event, "Freeze") == 0)
                return CALL(on_freeze, w, ud);
        if (strcmp(event, "Thaw") == 0)
                return CALL(on_thaw, w, ud);
        if (strcmp(event, "PostSnapshot") == 0)
                return CALL(on_post_snapshot, w, wc, ud);
        if (strcmp(event, "Abort") == 0)
                return CALL(on_abort, w, ud);
        if (strcmp(event, "BackupComplete") == 0)
                return CALL(on_backup_complete, w, wc, ud);
        if (strcmp(event, "BackupShutdown") == 0)
                return CALL(on_backup_shutdown, w, w->set_id, ud);
        if (strcmp(event, "PreRestore") == 0)
                return CALL(on_pre_restore, w, wc, ud);
        if (strcmp(event, "PostRestore") == 0)
                return CALL(on_post_restore, w, wc, ud);
#undef CALL
        return -EOPNOTSUPP;
}

static unsigned edit_window(const char *event) {
        if (strcmp(event, "PrepareForBackup") == 0 || strcmp(event, "PostSnapshot") == 0)
                return LVSS_EDIT_WRITER_BACKUP;
        if (strcmp(event, "PreRestore") == 0 || strcmp(event, "PostRestore") == 0)
                return LVSS_EDIT_WRITER_RESTORE;
        return LVSS_EDIT_NONE;
}

static void volumes_clear(lvss_writer *w) {
        for (size_t i = 0; i < w->n_volumes; i++)
                free(w->volumes[i]);
        free(w->volumes);
        w->volumes = NULL;
        w->n_volumes = 0;
}

static void event_end(lvss_writer *w) {
        volumes_clear(w);
        lvss_doc_bcd_free(w->bcd);
        w->bcd = NULL;
        free(w->device_name);
        w->device_name = NULL;
        w->in_event = false;
        w->event = NULL;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static bool in_flight(const lvss_writer *w) {
        return w->n_flights > 0 || w->flights_overflow;
}

/* Remember what is in flight after event (its callback returned r): each
 * session from its first event but Identify until its BackupShutdown. */
static void track_sequence(lvss_writer *w, const char *event, int r) {
        size_t k;

        if (strcmp(event, "Identify") == 0)
                return;
        for (k = 0; k < w->n_flights; k++)
                if (strcmp(w->flights[k], w->session_id) == 0)
                        break;
        if (strcmp(event, "BackupShutdown") == 0) {
                if (k < w->n_flights)
                        memmove(w->flights[k], w->flights[k + 1], (w->n_flights - k - 1) * sizeof(w->flights[0]));
                w->n_flights -= k < w->n_flights;
                if (!in_flight(w))
                        w->freeze_deadline = 0;
                return;
        }
        if (k == w->n_flights) {
                if (w->n_flights < MAX_FLIGHTS)
                        snprintf(w->flights[w->n_flights++], sizeof(w->flights[0]), "%s", w->session_id);
                else
                        w->flights_overflow = true;
        }
        if (strcmp(event, "PrepareForBackup") == 0 || strcmp(event, "PreRestore") == 0 || !w->flight_set_id[0])
                snprintf(w->flight_set_id, sizeof(w->flight_set_id), "%s", w->set_id);
        if (strcmp(event, "Freeze") == 0 && r >= 0)
                w->freeze_deadline = now_usec() + ((uint64_t) w->freeze_timeout_ms + FREEZE_GRACE_MS) * 1000ULL;
        else if (strcmp(event, "Thaw") == 0 || strcmp(event, "Abort") == 0 || strcmp(event, "PostSnapshot") == 0)
                w->freeze_deadline = 0;
}

/* Deliver an event that lvssd can no longer send (invariants 1 and 2).  It
 * carries no session id (lvss_writer_get_session_id: not found): it ends
 * whatever the writer has in flight, whichever session started it. */
static void deliver_local(lvss_writer *w, const char *event) {
        _cleanup_free_ char *out = NULL;

        w->in_event = true;
        w->event = event;
        w->failure = w->app_error = 0;
        w->failure_msg[0] = 0;
        snprintf(w->set_id, sizeof(w->set_id), "%s", w->flight_set_id);
        w->session_id[0] = 0;
        w->context = 0;
        w->current_level = w->level;
        (void) dispatch(w, event, NULL, &out);
        event_end(w);
}

/* The coordinator is gone (or replaced): everything in flight is aborted and
 * its session shut down, as lvssd would have done. */
static void coordinator_lost(lvss_writer *w) {
        if (in_flight(w) || w->freeze_deadline) {
                deliver_local(w, "Abort");
                deliver_local(w, "BackupShutdown");
        }
        w->n_flights = 0;
        w->flights_overflow = false;
        w->freeze_deadline = 0;
        w->flight_set_id[0] = 0;
}

/* Past the freeze deadline without Thaw or Abort: thaw through on_abort. */
static void check_freeze_deadline(lvss_writer *w) {
        if (w->freeze_deadline && now_usec() >= w->freeze_deadline) {
                w->freeze_deadline = 0;
                deliver_local(w, "Abort");
        }
}

static int method_event(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        lvss_writer *w = userdata;
        const char *event, *args_text, *sender = sd_bus_message_get_sender(m);
        _cleanup_free_ char *out = NULL;
        lvss_writer_components *wc = NULL;
        lvss_doc_event_args args = {};
        ErrorSlot why; /* a refused document */
        int r, result;

        if (!sender || !w->coordinator || strcmp(sender, w->coordinator) != 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "events are accepted from lvssd only");
        if (w->in_event)
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "an event is already being delivered");
        r = sd_bus_message_read(m, "ss", &event, &args_text);
        if (r < 0)
                return r;
        r = lvss_doc_event_args_parse(args_text, &args, &why);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "event arguments: %s", error_slot_get(&why));
        w->in_event = true;
        w->event = event;
        w->failure = w->app_error = 0;
        w->failure_msg[0] = 0;
        memcpy(w->set_id, args.set_id, sizeof(w->set_id));
        memcpy(w->session_id, args.session_id, sizeof(w->session_id));
        w->context = args.context;
        w->current_level = args.has_level ? args.level : w->level;
        w->volumes = TAKE_PTR(args.volumes);
        w->n_volumes = args.n_volumes;
        args.n_volumes = 0;
        if (args.bcd) {
                w->bcd = TAKE_PTR(args.bcd);
                w->bcd->check_owner = true;
                w->bcd->owner = w->owner;
                w->bcd->edit = edit_window(event);
                wc = lvss_doc_bcd_find_writer(w->bcd, w->instance_id, NULL);
                if (!wc)
                        wc = lvss_doc_bcd_add_writer(w->bcd, w->instance_id, w->class_id, w->instance_name);
        }

        r = dispatch(w, event, wc, &out);
        track_sequence(w, event, r);
        if (r < 0) {
                if (!w->failure)
                        w->failure = LVSS_E_WRITERERROR_NONRETRYABLE;
                result = w->failure;
        } else
                result = 0;  /* a failure set anyway is reported as non-fatal */
        if (!out && w->bcd && edit_window(event) != LVSS_EDIT_NONE) {
                json_t *j = lvss_doc_bcd_to_json_for_writer(w->bcd, w->instance_id);
                out = j ? json_dumps(j, JSON_COMPACT) : NULL;
                json_decref(j);
        }
        r = sd_bus_reply_method_return(m, "iiiss", (int32_t) result, (int32_t) w->failure, (int32_t) w->app_error,
                                       w->failure_msg,
                                       out ? out : "");
        event_end(w);
        return r;
}

static const sd_bus_vtable writer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Event", "ss", "iiiss", method_event, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* --------------------------------------------------------------- subscribe */

static char *identity_json(lvss_writer *w) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "writerId", w->class_id, "friendlyName", w->name,
                              "instanceName", w->instance_name, "usage", lvss_usage_type_to_string(w->usage),
                              "dataSource", lvss_source_type_to_string(w->source), "level",
                              lvss_application_level_to_string(w->level), "freezeTimeout", (int) w->freeze_timeout_ms);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        return s;
}

static int take_registration(lvss_writer *w, sd_bus_message *reply) {
        const char *inst, *sender = sd_bus_message_get_sender(reply);
        int r;

        r = sd_bus_message_read(reply, "s", &inst);
        if (r < 0 || !lvss_doc_is_uuid(inst) || !sender)
                return fail(w, LVSS_E_WRITER_INFRASTRUCTURE, "subscribe: malformed reply from lvssd");
        snprintf(w->instance_id, sizeof(w->instance_id), "%s", inst);
        free(w->coordinator);
        w->coordinator = strdup(sender);
        return w->coordinator ? 0 : -ENOMEM;
}

static int on_reregistered(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        lvss_writer *w = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        w->register_slot = sd_bus_slot_unref(w->register_slot);
        if (e)
                fail(w, LVSS_E_WRITER_INFRASTRUCTURE, "re-registering with the restarted lvssd failed: %s",
                     e->message ? e->message : e->name);
        else
                (void) take_registration(w, reply);
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        lvss_writer *w = userdata;
        const char *name, *old_owner, *new_owner;
        _cleanup_free_ char *id = NULL;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || strcmp(name, LVSSD_BUS_NAME) != 0)
                return 0;
        if (!*new_owner) {
                /* lvssd went away: its events can no longer come, and
                 * whatever it was driving is aborted (invariant 1). */
                free(w->coordinator);
                w->coordinator = NULL;
                coordinator_lost(w);
                return 0;
        }
        if (w->coordinator && strcmp(w->coordinator, new_owner) == 0)
                return 0;
        /* A new coordinator, without seeing the old one go first. */
        coordinator_lost(w);
        id = identity_json(w);
        if (!id)
                return 0;
        w->register_slot = sd_bus_slot_unref(w->register_slot);
        (void) sd_bus_call_method_async(w->bus, &w->register_slot, LVSSD_BUS_NAME, LVSSD_PATH, LVSSD_IFACE,
                                        "RegisterWriter", on_reregistered, w, "su", id, w->flags);
        return 0;
}

int lvss_writer_subscribe(lvss_writer *w, uint32_t flags) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *id = NULL;
        int r;

        CHECK(w);
        error_slot_clear(&w->error);
        if (w->subscribed)
                return fail(w, LVSS_E_WRITER_ALREADY_SUBSCRIBED, "writer '%s' is already subscribed", w->name);
        w->flags = flags ? flags : (LVSS_SM_BACKUP_EVENTS_FLAG | LVSS_SM_RESTORE_EVENTS_FLAG);
        r = lvss_bus_open(&w->bus, &w->error);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(w->bus, &w->object_slot, LVSS_WRITER_PATH, LVSS_WRITER_IFACE, writer_vtable, w);
        if (r >= 0)
                r = sd_bus_match_signal(w->bus, &w->match_slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed, w);
        if (r < 0) {
                r = fail(w, LVSS_E_WRITER_INFRASTRUCTURE, "subscribe: cannot set up the bus connection: %s", strerror(-r));
                goto fail;
        }
        id = identity_json(w);
        if (!id) {
                r = -ENOMEM;
                goto fail;
        }
        r = sd_bus_call_method(w->bus, LVSSD_BUS_NAME, LVSSD_PATH, LVSSD_IFACE, "RegisterWriter", &e, &reply, "su", id,
                               w->flags);
        if (r < 0) {
                r = lvss_bus_error_code(&e, r, &w->error);
                sd_bus_error_free(&e);
                r = fail(w, r, "subscribe writer '%s': %s", w->name, error_slot_get(&w->error));
                goto fail;
        }
        r = take_registration(w, reply);
        if (r < 0)
                goto fail;
        w->subscribed = true;
        return 0;
fail:
        w->match_slot = sd_bus_slot_unref(w->match_slot);
        w->object_slot = sd_bus_slot_unref(w->object_slot);
        w->bus = sd_bus_flush_close_unref(w->bus);
        return r;
}

int lvss_writer_unsubscribe(lvss_writer *w) {
        CHECK(w);
        if (!w->subscribed)
                return 0;
        if (w->in_event)
                return fail(w, LVSS_E_BAD_STATE, "unsubscribe: not from inside an event callback");
        (void) sd_bus_call_method(w->bus, LVSSD_BUS_NAME, LVSSD_PATH, LVSSD_IFACE, "UnregisterWriter", NULL, NULL, "");
        w->register_slot = sd_bus_slot_unref(w->register_slot);
        w->match_slot = sd_bus_slot_unref(w->match_slot);
        w->object_slot = sd_bus_slot_unref(w->object_slot);
        w->bus = sd_bus_flush_close_unref(w->bus);
        free(w->coordinator);
        w->coordinator = NULL;
        w->instance_id[0] = 0;
        w->subscribed = false;
        w->n_flights = 0;
        w->flights_overflow = false;
        w->freeze_deadline = 0;
        return 0;
}

lvss_writer *lvss_writer_free(lvss_writer *w) {
        if (!w || !pthread_equal(w->owner, pthread_self()) || w->in_event)
                return NULL;
        (void) lvss_writer_unsubscribe(w);
        free(w->class_id);
        free(w->name);
        free(w->instance_name);
        free(w);
        return NULL;
}

/* -------------------------------------------------------------- event loop */

int lvss_writer_get_fd(lvss_writer *w) {
        CHECK(w);
        if (!w->bus)
                return fail(w, LVSS_E_BAD_STATE, "writer is not subscribed");
        return sd_bus_get_fd(w->bus);
}

int lvss_writer_get_events(lvss_writer *w) {
        CHECK(w);
        if (!w->bus)
                return fail(w, LVSS_E_BAD_STATE, "writer is not subscribed");
        return sd_bus_get_events(w->bus);
}

int lvss_writer_get_timeout(lvss_writer *w, uint64_t *ret_usec) {
        int r;

        CHECK(w);
        if (!ret_usec)
                return -EINVAL;
        if (!w->bus)
                return fail(w, LVSS_E_BAD_STATE, "writer is not subscribed");
        r = sd_bus_get_timeout(w->bus, ret_usec);
        if (r < 0)
                return r;
        if (w->freeze_deadline && w->freeze_deadline < *ret_usec)
                *ret_usec = w->freeze_deadline;
        return r;
}

int lvss_writer_process(lvss_writer *w) {
        int r;

        CHECK(w);
        if (!w->bus)
                return fail(w, LVSS_E_BAD_STATE, "writer is not subscribed");
        if (w->in_event)
                return fail(w, LVSS_E_BAD_STATE, "process: not from inside an event callback");
        r = sd_bus_process(w->bus, NULL);
        if (r < 0) {
                coordinator_lost(w);
                return fail(w, -ECONNRESET, "connection to the bus lost: %s", strerror(-r));
        }
        check_freeze_deadline(w);
        return r > 0 ? 1 : 0;
}

void lvss_writer_stop(lvss_writer *w) {
        if (w)
                w->stop = 1;
}

int lvss_writer_run(lvss_writer *w, int64_t timeout_ms) {
        struct timespec ts;
        uint64_t deadline = UINT64_MAX, now;
        int r;

        CHECK(w);
        if (!w->bus)
                return fail(w, LVSS_E_BAD_STATE, "writer is not subscribed");
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
        if (timeout_ms >= 0)
                deadline = now + (uint64_t) timeout_ms * 1000ULL;
        w->stop = 0;
        while (!w->stop) {
                r = lvss_writer_process(w);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
                if (now >= deadline)
                        return 0;
                /* Wake up at least every 200 ms to notice lvss_writer_stop()
                 * and the freeze deadline. */
                r = sd_bus_wait(w->bus, MIN(deadline - now, 200000ULL));
                if (r < 0 && r != -EINTR)
                        return fail(w, -ECONNRESET, "connection to the bus lost: %s", strerror(-r));
        }
        return 0;
}

/* ------------------------------------------------ inside a callback only */

int lvss_writer_set_failure(lvss_writer *w, int code) {
        return lvss_writer_set_failure_ex(w, code, 0, NULL);
}

int lvss_writer_set_failure_ex(lvss_writer *w, int code, int application_error, const char *message) {
        CHECK(w);
        if (!w->in_event)
                return fail(w, LVSS_E_BAD_STATE, "set failure: only inside an event callback");
        if (w->event && strcmp(w->event, "Identify") == 0)
                return fail(w, LVSS_E_BAD_STATE, "set failure: not allowed in Identify");
        if (code >= 0)
                return -EINVAL;
        w->failure = code;
        w->app_error = application_error;
        snprintf(w->failure_msg, sizeof(w->failure_msg), "%s", message ? message : "");
        return 0;
}

lvss_backup_type lvss_writer_get_backup_type(const lvss_writer *w) {
        return in_event(w) && w->bcd ? w->bcd->backup_type : LVSS_BT_UNDEFINED;
}

lvss_restore_type lvss_writer_get_restore_type(const lvss_writer *w) {
        return in_event(w) && w->bcd ? w->bcd->restore_type : LVSS_RTYPE_UNDEFINED;
}

uint32_t lvss_writer_get_context(const lvss_writer *w) {
        return in_event(w) ? w->context : 0;
}

lvss_application_level lvss_writer_get_current_level(const lvss_writer *w) {
        return in_event(w) ? w->current_level : LVSS_APP_UNKNOWN;
}

int lvss_writer_are_components_selected(const lvss_writer *w) {
        if (!in_event(w))
                return LVSS_E_BAD_STATE;
        return w->bcd ? w->bcd->select_components : 0;
}

int lvss_writer_is_bootable_system_state_backed_up(const lvss_writer *w) {
        if (!in_event(w))
                return LVSS_E_BAD_STATE;
        return w->bcd ? w->bcd->bootable : 0;
}

int lvss_writer_is_partial_file_support_enabled(const lvss_writer *w) {
        if (!in_event(w))
                return LVSS_E_BAD_STATE;
        return w->bcd ? w->bcd->partial_file_support : 0;
}

int lvss_writer_get_current_snapshot_set_id(const lvss_writer *w, lvss_id *ret) {
        if (!in_event(w) || !ret)
                return LVSS_E_BAD_STATE;
        if (!w->set_id[0] || strcmp(w->event, "BackupShutdown") == 0)
                return LVSS_E_OBJECT_NOT_FOUND;
        memcpy(ret->str, w->set_id, LVSS_ID_MAX);
        return 0;
}

int lvss_writer_get_current_volume_count(const lvss_writer *w) {
        if (!in_event(w))
                return LVSS_E_BAD_STATE;
        return (int) w->n_volumes;
}

const char *lvss_writer_get_current_volume(const lvss_writer *w, size_t i) {
        if (!in_event(w) || i >= w->n_volumes)
                return NULL;
        return w->volumes[i];
}

int lvss_writer_is_path_affected(const lvss_writer *w, const char *path) {
        if (!in_event(w))
                return LVSS_E_BAD_STATE;
        if (!path)
                return -EINVAL;
        for (size_t i = 0; i < w->n_volumes; i++) {
                const char *o = w->volumes[i];
                size_t n = strlen(o);
                if (strncmp(path, o, n) == 0 && (path[n] == 0 || path[n] == '/' || (n == 1 && o[0] == '/')))
                        return 1;
        }
        return 0;
}

int lvss_writer_get_snapshot_device_name(const lvss_writer *w, const char *original, const char **ret_path) {
        lvss_writer *mw = (lvss_writer *) w;
        const lvss_doc_snapshot *s;
        char *p;

        if (!in_event(w))
                return LVSS_E_BAD_STATE;
        if (!original || !ret_path)
                return -EINVAL;
        s = w->bcd ? lvss_doc_bcd_find_snapshot_for(w->bcd, original) : NULL;
        if (!s || lvss_doc_snapshot_path(s, original, &p) < 0)
                return LVSS_E_OBJECT_NOT_FOUND;
        free(mw->device_name);
        mw->device_name = p;
        *ret_path = p;
        return 0;
}

int lvss_writer_get_session_id(const lvss_writer *w, lvss_id *ret) {
        if (!in_event(w) || !ret)
                return LVSS_E_BAD_STATE;
        if (!lvss_doc_is_uuid(w->session_id))
                return LVSS_E_OBJECT_NOT_FOUND;
        memcpy(ret->str, w->session_id, LVSS_ID_MAX);
        return 0;
}
