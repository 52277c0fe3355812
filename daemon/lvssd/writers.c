/* SPDX-License-Identifier: MIT */
/*
 * The writer registry and event delivery.
 *
 * A writer registers over its own bus connection (RegisterWriter with its
 * IDENTIFICATION as JSON); lvssd tracks the connection with sd_bus_track and
 * forgets the writer the moment it disconnects (exit, crash, kill -9).
 * Events are method calls to the writer's connection
 * (org.lvss.Writer1.Event) with a bounded wait; the reply, an error or the
 * timeout comes back through the caller's completion callback.  The
 * sessions hear of a writer that left through Manager.writer_gone.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "daemon/lvssd/lvssd.h"
#include "lib/core/error-slot.h"
#include "lib/core/macro.h"

Writer *writer_by_name(Manager *m, const char *unique_name) {
        for (Writer *w = m->writers; w; w = w->next)
                if (strcmp(w->unique_name, unique_name) == 0)
                        return w;
        return NULL;
}

void writer_free(Writer *w) {
        Manager *m;

        if (!w)
                return;
        m = w->m;
        for (Writer **p = &m->writers; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        m->n_writers--;
                        break;
                }
        if (m->writer_gone)
                m->writer_gone(m, w);
        sd_bus_track_unref(w->track);
        free(w->unique_name);
        free(w->name);
        free(w->instance_name);
        free(w);
}

static int on_writer_gone(sd_bus_track *t, void *userdata) {
        Writer *w = userdata;

        ev_log(EV_WRITER_GONE, LOG_NOTICE, NULL, "writer '%s' (instance %s) left the bus", w->name, w->instance_id);
        writer_free(w);
        return 0;
}

int writer_register(Manager *m, sd_bus_message *msg, const char *identity_json, uint32_t flags,
                    uid_t uid, Writer **ret, sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(msg);
        _cleanup_(lvss_doc_identity_clear) lvss_doc_identity id = {};
        _cleanup_free_ Writer *w = NULL;
        int r;

        if (!sender)
                return bus_error_set(error, -EINVAL, "writer registration without a sender");
        if (writer_by_name(m, sender))
                return bus_error_set(error, LVSS_E_WRITER_ALREADY_SUBSCRIBED,
                                     "writer on connection %s is already subscribed", sender);
        if (m->n_writers >= MAX_WRITERS)
                return bus_error_set(error, -E2BIG, "too many writers (at most %d)", MAX_WRITERS);
        r = lvss_doc_identity_parse(identity_json, &id, NULL);
        if (r < 0)
                return bus_error_set(error, r, "RegisterWriter: %s", error_slot_get(NULL));
        w = calloc(1, sizeof(*w));
        if (!w)
                return bus_error_set(error, -ENOMEM, "out of memory");
        w->m = m;
        w->uid = uid;
        w->subscribe_flags = flags;
        w->state = LVSS_WRITER_STATE_STABLE;
        memcpy(w->class_id, id.class_id, LVSS_ID_MAX);
        w->usage = id.usage;
        w->source = id.source;
        w->level = id.level;
        w->freeze_timeout_ms = id.freeze_timeout_ms;
        w->name = TAKE_PTR(id.name);
        w->instance_name = TAKE_PTR(id.instance_name);
        w->unique_name = strdup(sender);
        if (!w->unique_name || lvss_doc_new_uuid(w->instance_id) < 0) {
                r = bus_error_set(error, -ENOMEM, "out of memory");
                goto out;
        }
        r = sd_bus_track_new(m->bus, &w->track, on_writer_gone, w);
        if (r >= 0)
                r = sd_bus_track_add_name(w->track, sender);
        if (r < 0) {
                r = bus_error_set(error, r, "cannot watch writer connection %s", sender);
                goto out;
        }
        w->next = m->writers;
        m->writers = w;
        m->n_writers++;
        m->counters.writers_registered++;
        ev_log(EV_WRITER_REGISTERED, LOG_INFO, NULL, "writer '%s' (class %s, instance %s, uid %u) registered on %s",
               w->name, w->class_id, w->instance_id, (unsigned) uid, sender);
        *ret = TAKE_PTR(w);
        r = 0;
out:
        if (w && r < 0) {
                sd_bus_track_unref(w->track);
                free(w->name);
                free(w->instance_name);
                free(w->unique_name);
        }
        return r;
}

json_t *writers_to_json(Manager *m) {
        json_t *a = json_array(), *o = json_object();

        for (Writer *w = m->writers; w; w = w->next) {
                json_t *e = json_object();
                json_object_set_new(e, "name", json_string(w->name));
                json_object_set_new(e, "class_id", json_string(w->class_id));
                json_object_set_new(e, "instance_id", json_string(w->instance_id));
                json_object_set_new(e, "instance_name", json_string(w->instance_name));
                json_object_set_new(e, "state", json_string(lvss_writer_state_to_string(w->state)));
                json_object_set_new(e, "last_error", w->last_error ? json_string(lvss_error_name(w->last_error))
                                                                   : json_null());
                json_object_set_new(e, "level", json_string(lvss_application_level_to_string(w->level)));
                json_object_set_new(e, "freeze_timeout_ms", json_integer(w->freeze_timeout_ms));
                json_array_append_new(a, e);
        }
        json_object_set_new(o, "writers", a);
        return o;
}

/* Map a failed call to an LVSS code. */
static int call_error(const sd_bus_error *e) {
        int r = proto_error_code(e);

        if (r < 0)
                return r;
        /* Timeouts, a vanished writer, or anything else: it did not answer. */
        return LVSS_E_WRITER_NOT_RESPONDING;
}

static int on_event_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        SessionWriter *sw = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int32_t result = 0, failure = 0, app = 0;
        const char *msg = "", *out = "";
        int r;

        sw->slot = sd_bus_slot_unref(sw->slot);
        if (sw->w && sw->w->busy > 0)
                sw->w->busy--;
        sw->nonfatal = 0;
        free(sw->message);
        free(sw->out_json);
        sw->message = sw->out_json = NULL;
        if (e) {
                sw->result = call_error(e);
                sw->app_error = 0;
                sw->message = strdup(e->message ? e->message : e->name);
        } else {
                r = sd_bus_message_read(reply, "iiiss", &result, &failure, &app, &msg, &out);
                if (r < 0) {
                        sw->result = LVSS_E_UNEXPECTED_WRITER_ERROR;
                        sw->message = strdup("malformed reply from writer");
                } else {
                        /* A writer may only report failure codes, not invent success codes. */
                        sw->result = result > 0 ? 0 : result;
                        /* SetWriterFailure with a successful return: a
                         * non-fatal failure, shown in status, no veto. */
                        sw->nonfatal = sw->result == 0 && failure < 0 ? failure : 0;
                        sw->app_error = app;
                        if (strlen(msg) > 1024)
                                sw->result = sw->result ? sw->result : LVSS_E_UNEXPECTED_WRITER_ERROR;
                        sw->message = strndup(msg, 1024);
                        if (strlen(out) <= LVSS_DOC_MAX_BYTES)
                                sw->out_json = strdup(out);
                }
        }
        if (sw->done)
                sw->done(sw);
        return 0;
}

int writer_send_event(SessionWriter *sw, const char *event, json_t *args, uint64_t timeout_usec,
                      void (*done)(SessionWriter *sw)) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_free_ char *text = NULL;
        Manager *m = sw->s->m;
        int r;

        if (!sw->w)
                return -ENOTCONN;
        text = args ? json_dumps(args, JSON_COMPACT) : strdup("{}");
        if (!text)
                return -ENOMEM;
        r = sd_bus_message_new_method_call(m->bus, &call, sw->w->unique_name, LVSS_WRITER_PATH, LVSS_WRITER_IFACE,
                                           "Event");
        if (r < 0)
                return r;
        r = sd_bus_message_append(call, "ss", event, text);
        if (r < 0)
                return r;
        sw->done = done;
        r = sd_bus_call_async(m->bus, &sw->slot, call, on_event_reply, sw, timeout_usec);
        if (r < 0)
                return r;
        sw->w->busy++;
        return 0;
}

void writer_send_oneway(Manager *m, const char *unique_name, const char *event, json_t *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_free_ char *text = args ? json_dumps(args, JSON_COMPACT) : strdup("{}");

        if (!text)
                return;
        if (sd_bus_message_new_method_call(m->bus, &call, unique_name, LVSS_WRITER_PATH, LVSS_WRITER_IFACE,
                                           "Event") < 0 ||
            sd_bus_message_append(call, "ss", event, text) < 0 ||
            sd_bus_message_set_expect_reply(call, false) < 0)
                return;
        (void) sd_bus_send(m->bus, call, NULL);
}
