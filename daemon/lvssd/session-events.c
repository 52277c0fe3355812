/* SPDX-License-Identifier: MIT */
/*
 * A session's steps: the event of the running step fanned out to the
 * session's writers (each with its timeout, writers.c delivers), the
 * writer states each step leaves, and step_done(), which decides what
 * follows when the last writer answered: the reply to the requestor, the
 * next link of the DoSnapshotSet chain (session-set.c), or the abort of the
 * set when a participant failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon/lvssd/lvssd.h"
#include "daemon/lvssd/session-int.h"
#include "lib/core/error-slot.h"
#include "lib/core/macro.h"

const char *const step_event[] = {
        [STEP_IDENTIFY] = "Identify",
        [STEP_ADMIN_IDENTIFY] = "Identify",
        [STEP_PREPARE_BACKUP] = "PrepareForBackup",
        [STEP_PREPARE_SNAPSHOT] = "PrepareForSnapshot",
        [STEP_FREEZE] = "Freeze",
        [STEP_THAW] = "Thaw",
        [STEP_POST_SNAPSHOT] = "PostSnapshot",
        [STEP_BACKUP_COMPLETE] = "BackupComplete",
        [STEP_PRE_RESTORE] = "PreRestore",
        [STEP_POST_RESTORE] = "PostRestore",
};

/* Writer state after a step: [step] = { ok, failed } */
static const lvss_writer_state step_states[][2] = {
        [STEP_IDENTIFY] = { LVSS_WRITER_STATE_STABLE, LVSS_WRITER_STATE_FAILED_AT_IDENTIFY },
        [STEP_ADMIN_IDENTIFY] = { LVSS_WRITER_STATE_STABLE, LVSS_WRITER_STATE_FAILED_AT_IDENTIFY },
        [STEP_PREPARE_BACKUP] = { LVSS_WRITER_STATE_STABLE, LVSS_WRITER_STATE_FAILED_AT_PREPARE_BACKUP },
        [STEP_PREPARE_SNAPSHOT] = { LVSS_WRITER_STATE_WAITING_FOR_FREEZE, LVSS_WRITER_STATE_FAILED_AT_PREPARE_SNAPSHOT },
        [STEP_FREEZE] = { LVSS_WRITER_STATE_WAITING_FOR_THAW, LVSS_WRITER_STATE_FAILED_AT_FREEZE },
        [STEP_THAW] = { LVSS_WRITER_STATE_WAITING_FOR_POST_SNAPSHOT, LVSS_WRITER_STATE_FAILED_AT_THAW },
        [STEP_POST_SNAPSHOT] = { LVSS_WRITER_STATE_WAITING_FOR_BACKUP_COMPLETE, LVSS_WRITER_STATE_FAILED_AT_POST_SNAPSHOT },
        [STEP_BACKUP_COMPLETE] = { LVSS_WRITER_STATE_STABLE, LVSS_WRITER_STATE_FAILED_AT_BACKUP_COMPLETE },
        [STEP_PRE_RESTORE] = { LVSS_WRITER_STATE_STABLE, LVSS_WRITER_STATE_FAILED_AT_PRE_RESTORE },
        [STEP_POST_RESTORE] = { LVSS_WRITER_STATE_STABLE, LVSS_WRITER_STATE_FAILED_AT_POST_RESTORE },
};

void sw_set_state(SessionWriter *sw, lvss_writer_state st, int failure) {
        sw->state = st;
        if (failure)
                sw->failure = failure;
        if (sw->w) {
                sw->w->state = st;
                if (failure)
                        sw->w->last_error = failure;
        }
}

static void session_event_done(SessionWriter *sw);

static json_t *event_args(Session *s, SessionWriter *sw) {
        char *vols[LVSS_DOC_MAX_SNAPSHOTS + 1];
        lvss_doc_event_args a = {
                .context = s->context, .has_level = true, .level = sw->level, .bcd = s->bcd,
        };

        memcpy(a.session_id, s->uuid, sizeof(s->uuid));
        memcpy(a.set_id, s->set_id, sizeof(a.set_id));
        /* The paths of the set [GetCurrentVolumeArray], known from AddToSnapshotSet on. */
        if (s->set_id[0]) {
                a.volumes = vols;
                for (Snap *x = s->m->snaps; x && a.n_volumes < LVSS_DOC_MAX_SNAPSHOTS; x = x->next)
                        if (strcmp(x->ps.set_id, s->set_id) == 0)
                                vols[a.n_volumes++] = x->ps.original;
                vols[a.n_volumes] = NULL;
        }
        /* The writer sees the components document restricted to itself. */
        return lvss_doc_event_args_to_json(&a, sw->instance_id);
}

/* Send the current step's event to one writer; counts it as pending. */
void send_step_event(Session *s, SessionWriter *sw, uint64_t timeout_usec) {
        json_t *args = event_args(s, sw);
        int r;

        sw->result = 0;
        r = writer_send_event(sw, step_event[s->step], args, timeout_usec, session_event_done);
        json_decref(args);
        if (r < 0) {
                sw->result = LVSS_E_WRITER_NOT_RESPONDING;
                free(sw->message);
                sw->message = strdup(sw->w ? "cannot send event to writer" : "writer has left the bus");
                sw_set_state(sw, step_states[s->step][1], sw->result);
                s->m->counters.writer_failures++;
                return;
        }
        s->pending++;
}

void oneway_to_prepared(Session *s, const char *event) {
        for (size_t i = 0; i < s->n_writers; i++) {
                SessionWriter *sw = s->writers[i];
                json_t *args;
                if (!sw->got_prepare || !sw->w)
                        continue;
                args = event_args(s, sw);
                writer_send_oneway(s->m, sw->w->unique_name, event, args);
                json_decref(args);
        }
}

void reply_bcd(Session *s) {
        json_t *j = lvss_doc_bcd_to_json(s->bcd);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

        json_decref(j);
        if (!text)
                (void) bus_reply_error(s->call, -ENOMEM, "out of memory");
        else
                (void) sd_bus_reply_method_return(s->call, "s", text);
        free(text);
        s->call = sd_bus_message_unref(s->call);
}

/* The first failure among participants of the step just finished. */
static SessionWriter *first_failure(Session *s, bool participants_only) {
        for (size_t i = 0; i < s->n_writers; i++) {
                SessionWriter *sw = s->writers[i];
                if (participants_only && !sw->participant)
                        continue;
                if (sw->result < 0)
                        return sw;
        }
        return NULL;
}

static int fail_with_writer(Session *s, SessionWriter *sw) {
        int code = sw->result;

        /* A veto (writer returned failure) is reported as "backup refused",
         * with the writer's own code in the message and in writer status;
         * a busy writer's veto keeps its code, so requestors can tell
         * "retry later" (exit 4) from a refusal. */
        if (code != LVSS_E_WRITER_NOT_RESPONDING && code != LVSS_E_WRITERERROR_TIMEOUT &&
            code != LVSS_E_WRITERERROR_BUSY)
                code = LVSS_E_BACKUP_REFUSED;
        fail_set(s, code, "writer '%s' failed %s: %s%s%s", sw->name, step_event[s->step],
                 lvss_error_name(sw->result), sw->message && sw->message[0] ? ": " : "",
                 sw->message ? sw->message : "");
        return code;
}

static void merge_edits(Session *s, unsigned window) {
        for (size_t i = 0; i < s->n_writers; i++) {
                SessionWriter *sw = s->writers[i];
                lvss_bcd *edited = NULL;
                if (!sw->participant || sw->result < 0 || !sw->out_json || !sw->out_json[0])
                        continue;
                if (lvss_doc_bcd_parse(sw->out_json, &edited, NULL) < 0) {
                        fprintf(stderr, "lvssd: writer '%s': edited components document refused: %s\n", sw->name,
                                error_slot_get(NULL));
                        continue;
                }
                (void) lvss_doc_bcd_merge_writer(s->bcd, edited, sw->instance_id, window);
                lvss_doc_bcd_free(edited);
        }
}

static void session_event_done(SessionWriter *sw) {
        Session *s = sw->s;

        if (s->pending > 0)
                s->pending--;
        if (sw->result < 0) {
                sw_set_state(sw, step_states[s->step][1], sw->result);
                s->m->counters.writer_failures++;
                ev_log(EV_WRITER_FAILED, LOG_WARNING, s->set_id, "writer '%s' failed %s: %s%s%s", sw->name,
                       step_event[s->step], lvss_error_name(sw->result), sw->message && sw->message[0] ? ": " : "",
                       sw->message ? sw->message : "");
        } else if (sw->nonfatal < 0) {
                sw_set_state(sw, step_states[s->step][1], sw->nonfatal);
                s->m->counters.writer_failures++;
                ev_log(EV_WRITER_FAILED, LOG_NOTICE, s->set_id, "writer '%s' reported %s at %s (non-fatal)%s%s", sw->name,
                       lvss_error_name(sw->nonfatal), step_event[s->step], sw->message && sw->message[0] ? ": " : "",
                       sw->message ? sw->message : "");
        } else
                sw_set_state(sw, step_states[s->step][0], 0);
        if (s->step == STEP_THAW && sw->frozen) {
                sw->freeze_window = now_usec(CLOCK_MONOTONIC) - sw->freeze_start;
                sw->frozen = false;
                sw->freeze_timer = sd_event_source_disable_unref(sw->freeze_timer);
        }
        if (s->pending == 0)
                step_done(s);
}

int start_step(Session *s, Step step, sd_bus_message *msg, bool only_participants, bool set_prepare,
                      uint64_t timeout) {
        s->step = step;
        s->call = sd_bus_message_ref(msg);
        s->pending = 0;
        for (size_t i = 0; i < s->n_writers; i++) {
                SessionWriter *sw = s->writers[i];
                if (!sw->wm && step != STEP_IDENTIFY && step != STEP_ADMIN_IDENTIFY)
                        continue;
                if (only_participants && !sw->participant)
                        continue;
                if (set_prepare)
                        sw->got_prepare = true;
                send_step_event(s, sw, timeout);
        }
        if (s->pending == 0)
                step_done(s);
        return 1;
}

/* ------------------------------------------------------------- step ends */

static void reply_identify(Session *s) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        json_t *admin = s->admin ? json_array() : NULL;
        int r;

        if (!s->admin) {
                r = sd_bus_message_new_method_return(s->call, &reply);
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "(ss)");
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < s->n_writers; i++) {
                SessionWriter *sw = s->writers[i];
                struct lvss_writer_metadata *wm = NULL;
                json_t *j;
                char *text;

                if (sw->result < 0 || !sw->out_json)
                        continue;
                r = lvss_doc_wm_parse(sw->out_json, &wm, NULL);
                if (r >= 0 && (strcmp(wm->instance_id, sw->instance_id) != 0 || strcmp(wm->writer_id, sw->class_id) != 0)) {
                        r = error_slot_set(NULL, LVSS_E_INVALID_XML_DOCUMENT, "identity does not match the registration");
                        lvss_doc_wm_free(wm);
                        wm = NULL;
                }
                if (r < 0) {
                        sw->result = r;
                        free(sw->message);
                        sw->message = strdup(error_slot_get(NULL));
                        sw_set_state(sw, LVSS_WRITER_STATE_FAILED_AT_IDENTIFY, r);
                        ev_log(EV_WRITER_FAILED, LOG_WARNING, NULL, "writer '%s': metadata document refused: %s",
                               sw->name, error_slot_get(NULL));
                        continue;
                }
                lvss_doc_wm_free(sw->wm);
                sw->wm = wm;
                sw->level = wm->level;
                j = lvss_doc_wm_to_json(wm);
                if (s->admin) {
                        json_array_append_new(admin, j);
                        continue;
                }
                text = j ? json_dumps(j, JSON_COMPACT) : NULL;
                json_decref(j);
                r = text ? sd_bus_message_append(reply, "(ss)", sw->instance_id, text) : -ENOMEM;
                free(text);
                if (r < 0)
                        goto fail;
        }
        if (s->admin) {
                json_t *o = json_pack("{s:o}", "writers", admin);
                char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
                json_decref(o);
                if (text)
                        (void) sd_bus_reply_method_return(s->call, "s", text);
                else
                        (void) bus_reply_error(s->call, -ENOMEM, "out of memory");
                free(text);
                s->call = sd_bus_message_unref(s->call);
                return;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                goto fail;
        (void) sd_bus_send(NULL, reply, NULL);
        s->call = sd_bus_message_unref(s->call);
        s->gathered = true;
        s->state = s->restore ? S_RESTORE_GATHERED : S_GATHERED;
        return;
fail:
        (void) bus_reply_error(s->call, r, "cannot build the reply: %s", strerror(-r));
        s->call = sd_bus_message_unref(s->call);
}

void step_done(Session *s) {
        SessionWriter *bad;
        Step step = s->step;

        switch (step) {
        case STEP_IDENTIFY:
        case STEP_ADMIN_IDENTIFY:
                s->step = STEP_NONE;
                reply_identify(s);
                if (step == STEP_ADMIN_IDENTIFY)
                        session_free(s, false);
                return;
        case STEP_PREPARE_BACKUP:
                bad = first_failure(s, true);
                if (bad) {
                        fail_with_writer(s, bad);
                        return;
                }
                merge_edits(s, LVSS_EDIT_WRITER_BACKUP);
                s->step = STEP_NONE;
                s->state = S_PREPARED;
                reply_bcd(s);
                return;
        case STEP_PREPARE_SNAPSHOT:
                bad = first_failure(s, true);
                if (bad) {
                        fail_with_writer(s, bad);
                        return;
                }
                prepare_snapshots(s);
                return;
        case STEP_FREEZE:
                bad = first_failure(s, true);
                if (bad) {
                        fail_with_writer(s, bad);
                        return;
                }
                s->level_idx++;
                freeze_next(s);
                return;
        case STEP_THAW:
                bad = first_failure(s, true);
                if (bad) {
                        fail_with_writer(s, bad);
                        return;
                }
                s->level_idx--;
                thaw_next(s);
                return;
        case STEP_POST_SNAPSHOT:
                /* PostSnapshot failures do not undo the set (vss-model §4.4);
                 * they show in writer status. */
                merge_edits(s, LVSS_EDIT_WRITER_BACKUP);
                s->step = STEP_NONE;
                s->state = S_SNAPSHOT_DONE;
                reply_bcd(s);
                return;
        case STEP_BACKUP_COMPLETE:
                s->step = STEP_NONE;
                s->state = S_COMPLETED;
                reply_bcd(s);
                return;
        case STEP_PRE_RESTORE:
        case STEP_POST_RESTORE:
                merge_edits(s, LVSS_EDIT_WRITER_RESTORE);
                s->step = STEP_NONE;
                bad = first_failure(s, true);
                if (bad) {
                        (void) bus_reply_error(s->call, LVSS_E_BACKUP_REFUSED, "writer '%s' failed %s: %s%s%s", bad->name,
                                               step_event[step], lvss_error_name(bad->result),
                                               bad->message && bad->message[0] ? ": " : "", bad->message ? bad->message : "");
                        s->call = sd_bus_message_unref(s->call);
                        return;
                }
                s->state = step == STEP_PRE_RESTORE ? S_PRE_RESTORED : S_POST_RESTORED;
                reply_bcd(s);
                return;
        default:
                return;
        }
}
