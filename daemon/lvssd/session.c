/* SPDX-License-Identifier: MIT */
/*
 * Requestor sessions: the session object and its lifetime
 * (docs/design/coordinator.md has the diagram and the invariants;
 * session-int.h says which of the session's four files holds what).
 *
 * A session is a D-Bus object owned by one connection (the requestor's).
 * Every method goes through session_method(), which asks the state table
 * (lib/lvss/state.c) whether it is in order.  Long steps (Identify,
 * PrepareForBackup, DoSnapshotSet, BackupComplete, PreRestore, PostRestore)
 * fan an event out to writers and answer the requestor's call when the last
 * writer replied, failed or timed out (session-events.c); DoSnapshotSet is
 * a chain of such steps (session-set.c).
 *
 * The session end (Close, disconnect, crash) aborts a set in creation
 * (fail_set), sends BackupShutdown (backup and restore sessions alike) to
 * every writer that took part, returns their waiting states to stable, and
 * deletes the session's auto-release snapshots.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon/lvssd/lvssd.h"
#include "daemon/lvssd/session-int.h"
#include "lib/core/array.h"
#include "lib/core/error-slot.h"
#include "lib/core/macro.h"

static void sw_free(SessionWriter *sw) {
        if (!sw)
                return;
        if (sw->slot && sw->w && sw->w->busy > 0)
                sw->w->busy--;
        sd_bus_slot_unref(sw->slot);
        sd_event_source_disable_unref(sw->freeze_timer);
        lvss_doc_wm_free(sw->wm);
        free(sw->name);
        free(sw->instance_name);
        free(sw->message);
        free(sw->out_json);
        free(sw);
}

/* ----------------------------------------------------------------- methods */

static StateView view(const Session *s) {
        return (StateView) {
                .state = s->state,
                .busy = s->step != STEP_NONE,
                .writerless = s->context & LVSS_VOLSNAP_ATTR_NO_WRITERS,
                .gathered = s->gathered,
        };
}

static int bad_state(sd_bus_error *error, Session *s, const char *method) {
        if (s->step != STEP_NONE)
                return bus_error_set(error, LVSS_E_BAD_STATE, "%s: session %u is busy with %s", method, s->id,
                                     step_event[s->step]);
        if (s->state == S_SET_STARTED && !s->gathered && strcmp(method, "PrepareForBackup") == 0 &&
            !(s->context & LVSS_VOLSNAP_ATTR_NO_WRITERS))
                return bus_error_set(error, LVSS_E_BAD_STATE, "%s: call out of order: GatherWriterMetadata first", method);
        if (s->context & LVSS_VOLSNAP_ATTR_NO_WRITERS &&
            (strcmp(method, "PrepareForBackup") == 0 || strcmp(method, "BackupComplete") == 0))
                return bus_error_set(error, LVSS_E_BAD_STATE, "%s: context %s has no writers", method,
                                     lvss_context_to_string(s->context));
        return bus_error_set(error, LVSS_E_BAD_STATE, "%s: call out of order: session %u is %s", method, s->id,
                             state_name(s->state));
}

int load_bcd(Session *s, sd_bus_message *msg, const char *method, sd_bus_error *error) {
        const char *text;
        lvss_bcd *bcd;
        int r;

        r = sd_bus_message_read(msg, "s", &text);
        if (r < 0)
                return bus_error_set(error, -EINVAL, "%s: expected one string argument", method);
        r = lvss_doc_bcd_parse(text, &bcd, NULL);
        if (r < 0)
                return bus_error_set(error, r, "%s: backup components document refused: %s", method,
                                     error_slot_get(NULL));
        for (size_t i = 0; i < bcd->n_writers; i++) {
                bool known = false;
                for (size_t j = 0; j < s->n_writers; j++)
                        if (strcmp(s->writers[j]->instance_id, bcd->writers[i]->instance_id) == 0 && s->writers[j]->wm)
                                known = true;
                if (!known && !s->restore) {
                        r = bus_error_set(error, LVSS_E_OBJECT_NOT_FOUND,
                                          "%s: writer instance %s in the components document was not gathered in this session",
                                          method, bcd->writers[i]->instance_id);
                        lvss_doc_bcd_free(bcd);
                        return r;
                }
        }
        lvss_doc_bcd_free(s->bcd);
        s->bcd = bcd;
        bcd->context = s->context;
        free(bcd->set_id);
        bcd->set_id = s->set_id[0] ? strdup(s->set_id) : NULL;
        return 0;
}

void mark_participants(Session *s) {
        for (size_t i = 0; i < s->n_writers; i++) {
                SessionWriter *sw = s->writers[i];
                struct lvss_writer_components *wc;
                if (!sw->wm) {
                        sw->participant = false;
                        continue;
                }
                wc = lvss_doc_bcd_find_writer(s->bcd, sw->instance_id, NULL);
                sw->participant = s->bcd->select_components ? (wc && wc->n > 0) : true;
                if (s->restore && wc) {
                        bool any = false;
                        for (size_t j = 0; j < wc->n; j++)
                                any |= wc->comps[j]->selected_for_restore;
                        sw->participant = any;
                }
        }
}

static bool id_in(const lvss_id *v, size_t n, const char *id) {
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(v[i].str, id) == 0)
                        return true;
        return false;
}

static bool writer_filtered_out(const Session *s, const Writer *w) {
        if (s->n_enable_classes && !id_in(s->enable_classes, s->n_enable_classes, w->class_id))
                return true;
        return id_in(s->disable_classes, s->n_disable_classes, w->class_id) ||
               id_in(s->disable_instances, s->n_disable_instances, w->instance_id);
}

static int snapshot_writers(Session *s) {
        Manager *m = s->m;

        for (Writer *w = m->writers; w; w = w->next) {
                SessionWriter *sw;
                if (s->n_writers >= MAX_WRITERS)
                        break;
                if (writer_filtered_out(s, w))
                        continue;
                sw = calloc(1, sizeof(*sw));
                if (!sw)
                        return -ENOMEM;
                sw->s = s;
                sw->w = w;
                memcpy(sw->instance_id, w->instance_id, LVSS_ID_MAX);
                memcpy(sw->class_id, w->class_id, LVSS_ID_MAX);
                sw->name = strdup(w->name);
                sw->instance_name = strdup(w->instance_name);
                sw->level = w->level;
                sw->freeze_timeout_ms = w->freeze_timeout_ms;
                sw->state = LVSS_WRITER_STATE_STABLE;
                if (!sw->name || !sw->instance_name ||
                    ARRAY_RESERVE_ONE(s->writers, s->cap_writers, s->n_writers, 4) < 0) {
                        sw_free(sw);
                        return -ENOMEM;
                }
                s->writers[s->n_writers++] = sw;
        }
        return 0;
}

static int m_gather_metadata(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        int r;

        r = snapshot_writers(s);
        if (r < 0)
                return bus_error_set(error, r, "out of memory");
        return start_step(s, STEP_IDENTIFY, msg, false, false, IDENTIFY_TIMEOUT_USEC);
}

static int m_prepare_for_backup(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        int r;

        r = load_bcd(s, msg, "PrepareForBackup", error);
        if (r < 0)
                return r;
        mark_participants(s);
        for (size_t i = 0; i < s->n_writers; i++)
                if (s->writers[i]->w)
                        s->writers[i]->w->last_error = 0;
        return start_step(s, STEP_PREPARE_BACKUP, msg, false, true, EVENT_TIMEOUT_USEC);
}

static int m_backup_complete(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        int r;

        r = load_bcd(s, msg, "BackupComplete", error);
        if (r < 0)
                return r;
        return start_step(s, STEP_BACKUP_COMPLETE, msg, true, false, EVENT_TIMEOUT_USEC);
}

static int m_gather_status(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssssuiist)");
        for (size_t i = 0; r >= 0 && i < s->n_writers; i++) {
                SessionWriter *sw = s->writers[i];
                r = sd_bus_message_append(reply, "(ssssuiist)", sw->instance_id, sw->class_id, sw->name,
                                          sw->instance_name, (uint32_t) sw->state, (int32_t) sw->failure,
                                          (int32_t) sw->app_error, sw->failure && sw->message ? sw->message : "",
                                          (uint64_t) sw->freeze_window);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return bus_error_set(error, r, "cannot build the reply");
        return sd_bus_send(NULL, reply, NULL);
}

static int m_abort(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        if (s->owns_set || s->step == STEP_PREPARE_BACKUP || s->state == S_PREPARED)
                fail_set(s, LVSS_E_ASYNC_CANCELLED, "aborted by the requestor");
        else if (s->state == S_SNAPSHOT_DONE)
                s->state = S_ABORTED;
        return sd_bus_reply_method_return(msg, "");
}

static int m_get_freeze_window(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        return sd_bus_reply_method_return(msg, "t", (uint64_t) s->freeze_window);
}

static int read_ids(sd_bus_message *msg, lvss_id **ret, size_t *ret_n, sd_bus_error *error) {
        _cleanup_free_ lvss_id *v = NULL;
        const char *id;
        size_t n = 0, cap = 0;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "s");
        while (r >= 0 && (r = sd_bus_message_read(msg, "s", &id)) > 0) {
                if (!lvss_doc_is_uuid(id))
                        return bus_error_set(error, -EINVAL, "SetWriterFilter: '%.64s' is not an id", id);
                if (n >= MAX_WRITERS)
                        return bus_error_set(error, -E2BIG, "SetWriterFilter: more than %d ids", MAX_WRITERS);
                if (ARRAY_RESERVE_ONE(v, cap, n, 4) < 0)
                        return bus_error_set(error, -ENOMEM, "out of memory");
                memcpy(v[n++].str, id, LVSS_ID_MAX);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return bus_error_set(error, -EINVAL, "SetWriterFilter: expected (asasas)");
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

static int m_set_writer_filter(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        lvss_id *e = NULL, *dc = NULL, *di = NULL;
        size_t ne = 0, ndc = 0, ndi = 0;
        int r;

        if ((r = read_ids(msg, &e, &ne, error)) < 0 || (r = read_ids(msg, &dc, &ndc, error)) < 0 ||
            (r = read_ids(msg, &di, &ndi, error)) < 0) {
                free(e);
                free(dc);
                return r;
        }
        free(s->enable_classes);
        free(s->disable_classes);
        free(s->disable_instances);
        s->enable_classes = e;
        s->n_enable_classes = ne;
        s->disable_classes = dc;
        s->n_disable_classes = ndc;
        s->disable_instances = di;
        s->n_disable_instances = ndi;
        return sd_bus_reply_method_return(msg, "");
}

/* Answered after the session is gone: its auto-release snapshots are
 * deleted when the caller hears back (lvssadm create --exec relies on it
 * instead of a DeleteShadows of its own, issue 14). */
static int m_close(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        char first[512] = "";
        unsigned n_failed = session_free_report(s, false, first, sizeof(first));

        /* The session is gone either way; the reply says which auto-release
         * snapshots are left (listed, deleted at the next start). */
        if (n_failed > 0)
                return bus_error_set(error, LVSS_E_UNEXPECTED_PROVIDER_ERROR,
                                     "%u auto-release snapshot(s) left: %s", n_failed, first);
        return sd_bus_reply_method_return(msg, "");
}

int session_method(Session *s, const char *method, sd_bus_message *msg, sd_bus_error *error) {
        static const struct {
                const char *name;
                int (*fn)(Session *, sd_bus_message *, sd_bus_error *);
        } table[] = {
                { "GatherWriterMetadata", m_gather_metadata },
                { "StartSnapshotSet", m_start_set },
                { "IsVolumeSupported", m_is_volume_supported },
                { "AddToSnapshotSet", m_add_to_set },
                { "PrepareForBackup", m_prepare_for_backup },
                { "DoSnapshotSet", m_do_snapshot_set },
                { "GatherWriterStatus", m_gather_status },
                { "BackupComplete", m_backup_complete },
                { "AbortBackup", m_abort },
                { "PreRestore", m_pre_restore },
                { "PostRestore", m_post_restore },
                { "GetFreezeWindow", m_get_freeze_window },
                { "Close", m_close },
                { "SetWriterFilter", m_set_writer_filter },
        };
        const char *sender = sd_bus_message_get_sender(msg);

        if (!sender || strcmp(sender, s->owner) != 0)
                return bus_error_set(error, LVSS_E_ACCESS_DENIED, "%s: session %u belongs to another connection", method,
                                     s->id);
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcmp(table[i].name, method) == 0) {
                        StateView v = view(s);
                        int m = method_from_name(method);
                        /* One place decides what is in order (state.c). */
                        if (m < 0 || state_check(&v, (Method) m) < 0)
                                return bad_state(error, s, method);
                        return table[i].fn(s, msg, error);
                }
        return bus_error_set(error, -EOPNOTSUPP, "unknown method %s", method);
}

/* -------------------------------------------------------------- lifetime */

static int on_requestor_gone(sd_bus_track *t, void *userdata) {
        Session *s = userdata;

        s->m->counters.requestor_disconnects++;
        ev_log(EV_REQUESTOR_VANISHED, LOG_NOTICE, s->set_id, "requestor %s of session %u left the bus", s->owner, s->id);
        session_free(s, true);
        return 0;
}

int session_new(Manager *m, sd_bus_message *msg, bool restore, uid_t uid, Session **ret) {
        const char *sender = sd_bus_message_get_sender(msg);
        Session *s;
        int r;

        if (!sender)
                return -EINVAL;
        if (m->n_sessions >= MAX_SESSIONS)
                return -EMFILE;
        {
                /* One connection or one user cannot take every slot. */
                unsigned same_conn = 0, same_uid = 0;
                for (Session *o = m->sessions; o; o = o->next) {
                        if (o->admin)
                                continue;
                        same_conn += strcmp(o->owner, sender) == 0;
                        same_uid += o->uid == uid;
                }
                if (same_conn >= MAX_SESSIONS_PER_CONNECTION || same_uid >= MAX_SESSIONS_PER_UID)
                        return -EUSERS;
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->m = m;
        s->id = ++m->next_session_id;
        s->uid = uid;
        s->restore = restore;
        s->state = restore ? S_RESTORE_OPEN : S_OPEN;
        s->owner = strdup(sender);
        if (lvss_doc_new_uuid(s->uuid) < 0 || !s->owner || asprintf(&s->path, LVSSD_SESSION_PREFIX "/%u", s->id) < 0) {
                free(s->owner);
                free(s);
                return -ENOMEM;
        }
        s->next = m->sessions;
        m->sessions = s;
        m->n_sessions++;
        r = sd_bus_track_new(m->bus, &s->track, on_requestor_gone, s);
        if (r >= 0)
                r = sd_bus_track_add_name(s->track, sender);
        if (r < 0) {
                session_free(s, false);
                return r;
        }
        ev_log(EV_SESSION_OPENED, LOG_INFO, NULL, "%s session %u opened by %s (uid %u)", restore ? "restore" : "backup",
               s->id, sender, (unsigned) uid);
        *ret = s;
        return 0;
}

void session_free(Session *s, bool vanished) {
        (void) session_free_report(s, vanished, NULL, 0);
}

/* session_free, and how many auto-release snapshots could not be deleted;
 * the first one's id and reason go to first (if not NULL). */
unsigned session_free_report(Session *s, bool vanished, char *first, size_t first_size) {
        unsigned n_failed = 0;
        Manager *m;
        bool changed = false;

        if (!s)
                return 0;
        m = s->m;
        /* 1. abort whatever is in creation */
        if (s->owns_set || s->step != STEP_NONE || s->state == S_PREPARED)
                fail_set(s, LVSS_E_ASYNC_CANCELLED, vanished ? "requestor disconnected" : "session closed");
        /* 2. BackupShutdown to every writer that took part, in backup and
         *    restore sessions alike (closed, requestor gone or crashed): a
         *    writer ends whatever the session left (a backup session, a
         *    restore's hold on its groups) and is stable again. */
        if (!s->admin)
                for (size_t i = 0; i < s->n_writers; i++) {
                        SessionWriter *sw = s->writers[i];
                        json_t *args;
                        if (!sw->got_prepare || !sw->w)
                                continue;
                        args = json_pack("{s:s?, s:s}", "snapshotSetId", s->set_id[0] ? s->set_id : NULL, "sessionId",
                                         s->uuid);
                        writer_send_oneway(m, sw->w->unique_name, "BackupShutdown", args);
                        json_decref(args);
                        /* A waiting state belonged to this session; a
                         * failure stays visible until the next sequence. */
                        if (sw->w->busy == 0 && sw->w->state < LVSS_WRITER_STATE_FAILED_AT_IDENTIFY)
                                sw->w->state = LVSS_WRITER_STATE_STABLE;
                }
        /* 3. auto-release snapshots go now */
        for (Snap *x = m->snaps, *next; x; x = next) {
                int r;
                next = x->next;
                if (x->session != s)
                        continue;
                r = snap_delete(m, x);
                if (r < 0) {
                        fprintf(stderr, "lvssd: session %u: cannot delete auto-release snapshot %s: %s\n", s->id,
                                x->ps.snapshot_id, provider_reason(r));
                        if (n_failed++ == 0 && first)
                                (void) snprintf(first, first_size, "snapshot %s: %s", x->ps.snapshot_id,
                                                provider_reason(r));
                        x->session = NULL;  /* stays listed; deleted at next start */
                }
                changed = true;
        }
        if (changed)
                (void) registry_save(m, false);
        release_set(s);
        for (Session **p = &m->sessions; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        m->n_sessions--;
                        break;
                }
        if (!s->admin)
                ev_log(EV_SESSION_CLOSED, LOG_INFO, s->set_id, "session %u closed%s", s->id,
                       vanished ? " (requestor gone)" : "");
        for (size_t i = 0; i < s->n_writers; i++)
                sw_free(s->writers[i]);
        free(s->writers);
        free(s->enable_classes);
        free(s->disable_classes);
        free(s->disable_instances);
        lvss_doc_bcd_free(s->bcd);
        if (s->call) {
                (void) bus_reply_error(s->call, LVSS_E_ASYNC_CANCELLED, "session closed");
                sd_bus_message_unref(s->call);
        }
        sd_bus_track_unref(s->track);
        sd_bus_slot_unref(s->object_slot);
        free(s->owner);
        free(s->path);
        free(s);
        return n_failed;
}

void session_writer_gone(Manager *m, Writer *w) {
        for (Session *s = m->sessions; s; s = s->next)
                for (size_t i = 0; i < s->n_writers; i++)
                        if (s->writers[i]->w == w)
                                s->writers[i]->w = NULL;
}

int admin_writer_metadata(Manager *m, sd_bus_message *msg, uid_t uid, sd_bus_error *error) {
        Session *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return bus_error_set(error, -ENOMEM, "out of memory");
        s->m = m;
        s->admin = true;
        s->uid = uid;  /* counted against MAX_WRITER_METADATA_PER_UID */
        s->id = ++m->next_session_id;
        s->owner = strdup(sd_bus_message_get_sender(msg) ?: "");
        if (!s->owner) {
                free(s);
                return bus_error_set(error, -ENOMEM, "out of memory");
        }
        s->next = m->sessions;
        m->sessions = s;
        m->n_sessions++;
        r = snapshot_writers(s);
        if (r < 0) {
                session_free(s, false);
                return bus_error_set(error, r, "out of memory");
        }
        return start_step(s, STEP_ADMIN_IDENTIFY, msg, false, false, IDENTIFY_TIMEOUT_USEC);
}
