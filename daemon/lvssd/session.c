/* SPDX-License-Identifier: MIT */
/*
 * Requestor sessions and the backup/restore state machine
 * (docs/design/coordinator.md has the diagram and the invariants).
 *
 * A session is a D-Bus object owned by one connection (the requestor's).
 * Long steps (Identify, PrepareForBackup, DoSnapshotSet, BackupComplete,
 * PreRestore, PostRestore) fan an event out to writers and answer the
 * requestor's call when the last writer replied, failed or timed out.
 * DoSnapshotSet is a chain of such steps:
 *
 *   PrepareForSnapshot -> provider prepare (registry written) ->
 *   Freeze per level (front-end, back-end, system; Freeze->Thaw timer per
 *   writer) -> provider pre-commit + commit -> Thaw per level in reverse ->
 *   provider post-commit (registry written) -> PostSnapshot -> reply
 *
 * Any failure before the snapshots are final aborts the whole set
 * (fail_set): pending events cancelled, every snapshot of the set aborted
 * at its provider, Abort sent to every writer that got PrepareForBackup, the
 * set-in-creation slot released, the requestor's call answered with the
 * error.  The session end (Close, disconnect, crash) additionally sends
 * BackupShutdown (backup and restore sessions alike) to every writer that
 * took part, returns their waiting states to stable, and deletes the
 * session's auto-release snapshots.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "lib/core/array.h"
#include "daemon/lvssd/lvssd.h"
#include "lib/core/macro.h"
#include "providers/providers.h"

#define N_LEVELS 4

static void step_done(Session *s);
static void freeze_next(Session *s);
static void thaw_next(Session *s);

static const char *const step_event[] = {
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

/* Freeze order: front-end (and unknown/auto), back-end, system, system RM. */
static int level_rank(lvss_application_level l) {
        switch (l) {
        case LVSS_APP_BACK_END:
                return 1;
        case LVSS_APP_SYSTEM:
                return 2;
        case LVSS_APP_SYSTEM_RM:
                return 3;
        default:
                return 0;
        }
}

static bool writerless(const Session *s) {
        return s->context & LVSS_VOLSNAP_ATTR_NO_WRITERS;
}

static void sw_set_state(SessionWriter *sw, lvss_writer_state st, int failure) {
        sw->state = st;
        if (failure)
                sw->failure = failure;
        if (sw->w) {
                sw->w->state = st;
                if (failure)
                        sw->w->last_error = failure;
        }
}

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

/* ------------------------------------------------------------------ events */

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
static void send_step_event(Session *s, SessionWriter *sw, uint64_t timeout_usec) {
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

static void oneway_to_prepared(Session *s, const char *event) {
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

static void reply_bcd(Session *s) {
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

static void release_set(Session *s) {
        if (s->owns_set && s->m->set_owner == s)
                s->m->set_owner = NULL;
        s->owns_set = false;
        s->set_timer = sd_event_source_disable_unref(s->set_timer);
}

/* Abort the set in creation (any stage) and answer the pending call with
 * code.  Safe to call when nothing is in creation. */
static void fail_set(Session *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_set(Session *s, int code, const char *fmt, ...) {
        Manager *m = s->m;
        char msg[512];
        bool changed = false;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        for (size_t i = 0; i < s->n_writers; i++) {
                SessionWriter *sw = s->writers[i];
                if (sw->slot) {
                        if (sw->w && sw->w->busy > 0)
                                sw->w->busy--;
                        sw->slot = sd_bus_slot_unref(sw->slot);
                }
                sw->freeze_timer = sd_event_source_disable_unref(sw->freeze_timer);
                sw->frozen = false;
                if (sw->got_prepare && sw->state < LVSS_WRITER_STATE_FAILED_AT_IDENTIFY)
                        sw_set_state(sw, LVSS_WRITER_STATE_STABLE, 0);
        }
        s->pending = 0;
        /* No partial commit: every snapshot of this set that is not final goes. */
        for (Snap *x = m->snaps, *next; x; x = next) {
                char why[LVSS_PROVIDER_WHY_MAX];
                next = x->next;
                if (x->session != s || x->state == SNAP_CREATED)
                        continue;
                if (snap_delete(m, x, why) < 0)
                        fprintf(stderr, "lvssd: set %s: provider abort of a snapshot failed: %s\n", s->set_id, why);
                changed = true;
        }
        if (changed)
                (void) registry_save(m, false);
        if (s->step != STEP_NONE || s->owns_set)
                oneway_to_prepared(s, "Abort");
        if (code == LVSS_E_ASYNC_CANCELLED)
                m->counters.sets_aborted++;
        else
                m->counters.sets_failed++;
        ev_log(code == LVSS_E_ASYNC_CANCELLED ? EV_SET_ABORTED : EV_SET_FAILED, LOG_WARNING, s->set_id,
               "snapshot set %s %s: %s", s->set_id[0] ? s->set_id : "(none)",
               code == LVSS_E_ASYNC_CANCELLED ? "aborted" : "failed", msg);
        release_set(s);
        s->state = S_ABORTED;
        s->step = STEP_NONE;
        if (s->call) {
                (void) bus_reply_error(s->call, code, "%s", msg);
                s->call = sd_bus_message_unref(s->call);
        }
}

/* A requestor that starts a set and then neither snapshots nor ends its
 * session would block every other backup (vss-model §12.1): the sequence
 * timer takes the set back. */
static int on_set_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        Session *s = userdata;

        if (s->step != STEP_NONE)
                return 0;  /* DoSnapshotSet is running: its own timers apply */
        fail_set(s, LVSS_E_TIMEOUT, "snapshot set %s held for %llu s without DoSnapshotSet; aborted", s->set_id,
                 (unsigned long long) (s->m->set_timeout_usec / 1000000ULL));
        return 0;
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
                char why[LVSS_DOC_WHY_MAX];
                if (!sw->participant || sw->result < 0 || !sw->out_json || !sw->out_json[0])
                        continue;
                if (lvss_doc_bcd_parse(sw->out_json, &edited, why) < 0) {
                        fprintf(stderr, "lvssd: writer '%s': edited components document refused: %s\n", sw->name, why);
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

static int on_freeze_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        SessionWriter *sw = userdata;
        Session *s = sw->s;

        sw->result = LVSS_E_WRITERERROR_TIMEOUT;
        sw_set_state(sw, s->step == STEP_FREEZE ? LVSS_WRITER_STATE_FAILED_AT_FREEZE : LVSS_WRITER_STATE_FAILED_AT_THAW,
                     LVSS_E_WRITERERROR_TIMEOUT);
        s->m->counters.writer_failures++;
        ev_log(EV_WRITER_FAILED, LOG_WARNING, s->set_id, "writer '%s': Freeze->Thaw window exceeded its %u ms timeout",
               sw->name, sw->freeze_timeout_ms);
        fail_set(s, LVSS_E_WRITERERROR_TIMEOUT, "writer '%s': Freeze->Thaw window exceeded its %u ms timeout",
                 sw->name, sw->freeze_timeout_ms);
        return 0;
}

/* ------------------------------------------------------------ DoSnapshotSet */

static size_t set_snaps(Session *s, Snap **v, size_t max) {
        size_t n = 0;
        for (Snap *x = s->m->snaps; x && n < max; x = x->next)
                if (x->session == s && x->state != SNAP_CREATED)
                        v[n++] = x;
        return n;
}

/* Call one provider stage (pre_commit/commit/post_commit) per provider over
 * its snapshots of the set. */
static int provider_stage(Session *s, int stage, char *why) {
        Snap *all[MAX_SET_VOLUMES];
        size_t n = set_snaps(s, all, MAX_SET_VOLUMES);

        for (size_t i = 0; i < lvss_builtin_providers_count; i++) {
                const lvss_provider *p = lvss_builtin_providers[i];
                lvss_provider_snapshot *ps[MAX_SET_VOLUMES];
                size_t k = 0;
                int r = 0;
                for (size_t j = 0; j < n; j++)
                        if (all[j]->prov == p)
                                ps[k++] = &all[j]->ps;
                if (k == 0)
                        continue;
                why[0] = 0;
                if (stage == 0 && p->pre_commit)
                        r = p->pre_commit(ps, k, why);
                else if (stage == 1 && p->commit)
                        r = p->commit(ps, k, why);
                else if (stage == 2 && p->post_commit)
                        r = p->post_commit(ps, k, why);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int provider_code(int r) {
        /* Only the codes the provider ABI allows pass through. */
        switch (r) {
        case -ENOMEM: case -EINVAL: case -EACCES: case LVSS_E_BAD_STATE: case LVSS_E_OBJECT_NOT_FOUND:
        case LVSS_E_INSUFFICIENT_STORAGE: case LVSS_E_VOLUME_NOT_SUPPORTED:
        case LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER: case LVSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED:
        case LVSS_E_PROVIDER_VETO:
                return r;
        case -ENOSPC:
                return LVSS_E_INSUFFICIENT_STORAGE;
        default:
                return LVSS_E_UNEXPECTED_PROVIDER_ERROR;
        }
}

static void commit(Session *s) {
        char why[LVSS_PROVIDER_WHY_MAX];
        int r;

        r = provider_stage(s, 0, why);
        if (r >= 0)
                r = provider_stage(s, 1, why);
        if (r < 0) {
                fail_set(s, provider_code(r), "snapshot set %s: provider commit failed: %s", s->set_id,
                         why[0] ? why : strerror(r > -4096 ? -r : EIO));
                return;
        }
        s->level_idx = N_LEVELS - 1;
        thaw_next(s);
}

static void freeze_next(Session *s) {
        for (; s->level_idx < N_LEVELS; s->level_idx++) {
                bool any = false;
                s->step = STEP_FREEZE;
                for (size_t i = 0; i < s->n_writers; i++) {
                        SessionWriter *sw = s->writers[i];
                        if (!sw->participant || level_rank(sw->level) != s->level_idx)
                                continue;
                        any = true;
                        sw->frozen = true;
                        sw->freeze_start = now_usec(CLOCK_MONOTONIC);
                        /* The timer, not the call timeout, decides (it fires first). */
                        if (sd_event_add_time_relative(s->m->event, &sw->freeze_timer, CLOCK_MONOTONIC,
                                                       (uint64_t) sw->freeze_timeout_ms * 1000ULL, 0,
                                                       on_freeze_timeout, sw) < 0) {
                                fail_set(s, -ENOMEM, "cannot arm the freeze timer");
                                return;
                        }
                        send_step_event(s, sw, (uint64_t) sw->freeze_timeout_ms * 1000ULL + 5000000ULL);
                }
                if (any) {
                        if (s->pending == 0)
                                step_done(s);
                        return;
                }
        }
        commit(s);
}

static void after_thaw(Session *s) {
        Manager *m = s->m;
        char why[LVSS_PROVIDER_WHY_MAX];
        uint64_t now = now_usec(CLOCK_REALTIME);
        size_t n = 0;
        int r;

        s->freeze_window = s->freeze_begin ? now_usec(CLOCK_MONOTONIC) - s->freeze_begin : 0;
        counters_freeze_window(m, s->freeze_window);
        r = provider_stage(s, 2, why);
        if (r < 0) {
                fail_set(s, provider_code(r), "snapshot set %s: provider post-commit failed: %s", s->set_id, why);
                return;
        }
        for (Snap *x = m->snaps; x; x = x->next) {
                lvss_doc_snapshot d;
                if (x->session != s || x->state == SNAP_CREATED)
                        continue;
                x->state = SNAP_CREATED;
                x->created_usec = now;
                n++;
                d = (lvss_doc_snapshot) {
                        .snapshot_id = x->ps.snapshot_id, .original = x->ps.original, .volume = x->ps.volume,
                        .path = x->ps.path, .provider_id = (char *) x->prov->id,
                        .provider_name = (char *) x->prov->name, .created_usec = now,
                };
                if (s->bcd)
                        (void) lvss_doc_bcd_add_snapshot(s->bcd, &d);
        }
        /* Persistent snapshots belong to nobody from now on. */
        bool persistent = false;
        for (Snap *x = m->snaps; x; x = x->next)
                if (x->session == s && (x->context & LVSS_VOLSNAP_ATTR_NO_AUTO_RELEASE)) {
                        x->session = NULL;
                        persistent = true;
                }
        (void) registry_save(m, persistent);
        m->counters.sets_created++;
        m->counters.snapshots_created += n;
        ev_log(EV_SET_CREATED, LOG_INFO, s->set_id, "snapshot set %s created: %zu snapshot(s), context %s, freeze window %.3f ms",
               s->set_id, n, context_name(s->context), (double) s->freeze_window / 1000.0);
        release_set(s);
        s->step = STEP_POST_SNAPSHOT;
        for (size_t i = 0; i < s->n_writers; i++)
                if (s->writers[i]->participant)
                        send_step_event(s, s->writers[i], EVENT_TIMEOUT_USEC);
        if (s->pending == 0)
                step_done(s);
}

static void thaw_next(Session *s) {
        for (; s->level_idx >= 0; s->level_idx--) {
                bool any = false;
                s->step = STEP_THAW;
                for (size_t i = 0; i < s->n_writers; i++) {
                        SessionWriter *sw = s->writers[i];
                        uint64_t left, used;
                        if (!sw->participant || !sw->frozen || level_rank(sw->level) != s->level_idx)
                                continue;
                        any = true;
                        used = now_usec(CLOCK_MONOTONIC) - sw->freeze_start;
                        left = (uint64_t) sw->freeze_timeout_ms * 1000ULL;
                        left = left > used ? left - used : 1000;
                        send_step_event(s, sw, left + 5000000ULL);
                }
                if (any) {
                        if (s->pending == 0)
                                step_done(s);
                        return;
                }
        }
        after_thaw(s);
}

static void prepare_snapshots(Session *s) {
        char why[LVSS_PROVIDER_WHY_MAX];
        bool any = false;

        /* Recorded durably *before* any provider prepares: a provider may
         * leave files behind from prepare on (the reflink pre-clone), and a
         * crash from here on must leave an entry that the next start aborts.
         * The entries have no priv yet; both providers derive it from the
         * volume when aborting such an entry. */
        for (Snap *x = s->m->snaps; x; x = x->next)
                if (x->session == s && x->state == SNAP_ADDED) {
                        x->state = SNAP_PREPARED;
                        any = true;
                }
        if (any && registry_save(s->m, true) < 0) {
                fail_set(s, -EIO, "cannot write the snapshot registry in '%s'", s->m->state_dir);
                return;
        }
        for (Snap *x = s->m->snaps; x; x = x->next) {
                int r;
                /* Marked above and not yet prepared (a provider's prepare
                 * always fills priv). */
                if (x->session != s || x->state != SNAP_PREPARED || x->ps.priv[0])
                        continue;
                why[0] = 0;
                r = x->prov->prepare(&x->ps, why);
                if (s->m->test_kill_in_prepare)
                        (void) raise(SIGKILL);
                if (r < 0) {
                        fail_set(s, provider_code(r), "snapshot of '%s' (%s): prepare failed: %s", x->ps.original,
                                 x->prov->name, why[0] ? why : strerror(r > -4096 ? -r : EIO));
                        return;
                }
        }
        /* Now with each provider's priv; need not be durable: the older file
         * (no priv) makes the next start abort the same snapshots. */
        if (any)
                (void) registry_save(s->m, false);
        /* Flush once before the writers freeze, so that the pre-commit
         * inside the window (VSS order: after Freeze) finds little dirty
         * data and the window stays short. */
        if (any) {
                int r = provider_stage(s, 0, why);
                if (r < 0) {
                        fail_set(s, provider_code(r), "snapshot set %s: provider pre-commit failed: %s", s->set_id,
                                 why[0] ? why : strerror(r > -4096 ? -r : EIO));
                        return;
                }
        }
        s->freeze_begin = now_usec(CLOCK_MONOTONIC);
        s->level_idx = 0;
        freeze_next(s);
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
                char why[LVSS_DOC_WHY_MAX];
                json_t *j;
                char *text;

                if (sw->result < 0 || !sw->out_json)
                        continue;
                r = lvss_doc_wm_parse(sw->out_json, &wm, why);
                if (r >= 0 && (strcmp(wm->instance_id, sw->instance_id) != 0 || strcmp(wm->writer_id, sw->class_id) != 0)) {
                        snprintf(why, sizeof(why), "identity does not match the registration");
                        r = LVSS_E_INVALID_XML_DOCUMENT;
                        lvss_doc_wm_free(wm);
                        wm = NULL;
                }
                if (r < 0) {
                        sw->result = r;
                        free(sw->message);
                        sw->message = strdup(why);
                        sw_set_state(sw, LVSS_WRITER_STATE_FAILED_AT_IDENTIFY, r);
                        ev_log(EV_WRITER_FAILED, LOG_WARNING, NULL, "writer '%s': metadata document refused: %s",
                               sw->name, why);
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

static void step_done(Session *s) {
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

static int load_bcd(Session *s, sd_bus_message *msg, const char *method, sd_bus_error *error) {
        const char *text;
        lvss_bcd *bcd;
        char why[LVSS_DOC_WHY_MAX];
        int r;

        r = sd_bus_message_read(msg, "s", &text);
        if (r < 0)
                return bus_error_set(error, -EINVAL, "%s: expected one string argument", method);
        r = lvss_doc_bcd_parse(text, &bcd, why);
        if (r < 0)
                return bus_error_set(error, r, "%s: backup components document refused: %s", method, why);
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

static void mark_participants(Session *s) {
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

static int start_step(Session *s, Step step, sd_bus_message *msg, bool only_participants, bool set_prepare,
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

static int m_start_set(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        uint32_t ctx;
        int r;

        r = sd_bus_message_read(msg, "u", &ctx);
        if (r < 0)
                return bus_error_set(error, -EINVAL, "StartSnapshotSet: expected a context (u)");
        if (!lvss_context_to_string(ctx))
                return bus_error_set(error, LVSS_E_UNSUPPORTED_CONTEXT, "StartSnapshotSet: context 0x%x is not supported", ctx);
        if (s->m->set_owner)
                return bus_error_set(error, LVSS_E_SNAPSHOT_SET_IN_PROGRESS,
                                     "StartSnapshotSet: snapshot set %s is being created by another session; retry later",
                                     s->m->set_owner->set_id);
        r = lvss_doc_new_uuid(s->set_id);
        if (r < 0)
                return bus_error_set(error, r, "cannot make a set id");
        s->context = ctx;
        s->m->set_owner = s;
        s->owns_set = true;
        if (s->m->set_timeout_usec > 0)
                (void) sd_event_add_time_relative(s->m->event, &s->set_timer, CLOCK_MONOTONIC, s->m->set_timeout_usec,
                                                  0, on_set_timeout, s);
        s->state = S_SET_STARTED;
        return sd_bus_reply_method_return(msg, "s", s->set_id);
}

static int m_is_volume_supported(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        const char *prov, *path;
        const lvss_provider *p;
        char volume[LVSS_PROVIDER_PATH_MAX], why[LVSS_PROVIDER_WHY_MAX] = "";
        int r;

        r = sd_bus_message_read(msg, "ss", &prov, &path);
        if (r < 0)
                return bus_error_set(error, -EINVAL, "IsVolumeSupported: expected (ss)");
        r = lvss_provider_choose(path, prov[0] ? prov : NULL, &p, volume, why);
        if (r == LVSS_E_VOLUME_NOT_SUPPORTED || r == LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER)
                return sd_bus_reply_method_return(msg, "bs", 0, why);
        if (r < 0)
                return bus_error_set(error, r, "%s", why[0] ? why : "cannot check the path");
        return sd_bus_reply_method_return(msg, "bs", 1, p->name);
}

static int m_add_to_set(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        const char *path, *prov;
        _cleanup_free_ char *canon = NULL;
        const lvss_provider *p;
        char volume[LVSS_PROVIDER_PATH_MAX], why[LVSS_PROVIDER_WHY_MAX] = "";
        size_t n = 0;
        Snap *x;
        int r;

        r = sd_bus_message_read(msg, "ss", &path, &prov);
        if (r < 0)
                return bus_error_set(error, -EINVAL, "AddToSnapshotSet: expected (ss)");
        if (path[0] != '/' || strlen(path) >= LVSS_PROVIDER_PATH_MAX)
                return bus_error_set(error, -EINVAL, "AddToSnapshotSet: '%.200s' is not an absolute path", path);
        canon = realpath(path, NULL);
        if (!canon)
                return bus_error_set(error, -errno, "AddToSnapshotSet: '%.200s': %s", path, strerror(errno));
        r = lvss_provider_choose(canon, prov[0] ? prov : NULL, &p, volume, why);
        if (r < 0)
                return bus_error_set(error, r, "AddToSnapshotSet: %s", why[0] ? why : strerror(r > -4096 ? -r : EIO));
        for (x = s->m->snaps; x; x = x->next) {
                if (x->session != s || x->state == SNAP_CREATED)
                        continue;
                if (x->prov == p && strcmp(x->ps.volume, volume) == 0)
                        return sd_bus_reply_method_return(msg, "s", x->ps.snapshot_id);
                n++;
        }
        if (n >= MAX_SET_VOLUMES)
                return bus_error_set(error, LVSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED,
                                     "AddToSnapshotSet: a set holds at most %d volumes", MAX_SET_VOLUMES);
        x = snap_new(s->m, s, p, canon, volume);
        if (!x)
                return bus_error_set(error, -ENOMEM, "out of memory");
        return sd_bus_reply_method_return(msg, "s", x->ps.snapshot_id);
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

static int m_do_snapshot_set(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        int r;

        r = load_bcd(s, msg, "DoSnapshotSet", error);
        if (r < 0)
                return r;
        if (writerless(s))
                for (size_t i = 0; i < s->n_writers; i++)
                        s->writers[i]->participant = false;
        s->step = STEP_PREPARE_SNAPSHOT;
        s->call = sd_bus_message_ref(msg);
        s->pending = 0;
        for (size_t i = 0; i < s->n_writers; i++)
                if (s->writers[i]->participant)
                        send_step_event(s, s->writers[i], EVENT_TIMEOUT_USEC);
        if (s->pending == 0)
                step_done(s);
        return 1;
}

static int m_backup_complete(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        int r;

        r = load_bcd(s, msg, "BackupComplete", error);
        if (r < 0)
                return r;
        return start_step(s, STEP_BACKUP_COMPLETE, msg, true, false, EVENT_TIMEOUT_USEC);
}

/* The saved document names the writer instances of the backup; the running
 * instances take their place: same class and same instance name, or the
 * only running instance of the class.  Returns how many selected
 * components have no running writer in *ret_missing (first class id). */
static int remap_instances(Session *s, const char **ret_missing) {
        *ret_missing = NULL;
        for (size_t i = 0; i < s->bcd->n_writers; i++) {
                struct lvss_writer_components *wc = s->bcd->writers[i];
                SessionWriter *match = NULL;
                size_t same_class = 0;
                bool any = false;

                for (size_t j = 0; j < wc->n; j++)
                        any |= wc->comps[j]->selected_for_restore;
                for (size_t j = 0; j < s->n_writers; j++) {
                        SessionWriter *sw = s->writers[j];
                        if (!sw->wm || strcmp(sw->class_id, wc->writer_id) != 0)
                                continue;
                        same_class++;
                        if (strcmp(sw->instance_name, wc->instance_name) == 0)
                                match = sw;
                }
                if (!match && same_class == 1)
                        for (size_t j = 0; j < s->n_writers; j++)
                                if (s->writers[j]->wm && strcmp(s->writers[j]->class_id, wc->writer_id) == 0)
                                        match = s->writers[j];
                if (!match) {
                        if (any && !*ret_missing)
                                *ret_missing = wc->writer_id;
                        continue;
                }
                free(wc->instance_id);
                wc->instance_id = strdup(match->instance_id);
                if (!wc->instance_id)
                        return -ENOMEM;
        }
        return 0;
}

static int m_pre_restore(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        const char *missing;
        int r;

        r = load_bcd(s, msg, "PreRestore", error);
        if (r < 0)
                return r;
        if (remap_instances(s, &missing) < 0)
                return bus_error_set(error, -ENOMEM, "out of memory");
        /* Selected components of writers that are not running cannot be restored through them. */
        if (missing)
                return bus_error_set(error, LVSS_E_OBJECT_NOT_FOUND,
                                     "PreRestore: writer %s has components selected for restore but is not running",
                                     missing);
        mark_participants(s);
        return start_step(s, STEP_PRE_RESTORE, msg, true, true, EVENT_TIMEOUT_USEC);
}

static int m_post_restore(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        const char *missing;
        int r;

        r = load_bcd(s, msg, "PostRestore", error);
        if (r < 0)
                return r;
        if (remap_instances(s, &missing) < 0)
                return bus_error_set(error, -ENOMEM, "out of memory");
        return start_step(s, STEP_POST_RESTORE, msg, true, false, EVENT_TIMEOUT_USEC);
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

static int m_close(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        int r = sd_bus_reply_method_return(msg, "");
        session_free(s, false);
        return r;
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
        Manager *m;
        bool changed = false;

        if (!s)
                return;
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
                char why[LVSS_PROVIDER_WHY_MAX];
                next = x->next;
                if (x->session != s)
                        continue;
                if (snap_delete(m, x, why) < 0) {
                        fprintf(stderr, "lvssd: session %u: cannot delete auto-release snapshot %s: %s\n", s->id,
                                x->ps.snapshot_id, why);
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
