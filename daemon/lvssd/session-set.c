/* SPDX-License-Identifier: MIT */
/*
 * The snapshot set of a session: StartSnapshotSet (the one set-in-creation
 * slot and its sequence timer), IsVolumeSupported, AddToSnapshotSet, and
 * DoSnapshotSet, a chain of steps:
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
 * error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon/lvssd/lvssd.h"
#include "daemon/lvssd/session-int.h"
#include "lib/core/macro.h"
#include "providers/providers.h"

#define N_LEVELS 4

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

void release_set(Session *s) {
        if (s->owns_set && s->m->set_owner == s)
                s->m->set_owner = NULL;
        s->owns_set = false;
        s->set_timer = sd_event_source_disable_unref(s->set_timer);
}

/* Abort the set in creation (any stage) and answer the pending call with
 * code.  Safe to call when nothing is in creation. */
void fail_set(Session *s, int code, const char *fmt, ...) {
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
                int r;
                next = x->next;
                if (x->session != s || x->state == SNAP_CREATED)
                        continue;
                r = snap_delete(m, x);
                if (r < 0)
                        fprintf(stderr, "lvssd: set %s: provider abort of a snapshot failed: %s\n", s->set_id,
                                provider_reason(r));
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
 * its snapshots of the set; on failure see provider_reason(). */
static int provider_stage(Session *s, int stage) {
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
                error_slot_clear(NULL);
                if (stage == 0 && p->pre_commit)
                        r = p->pre_commit(ps, k);
                else if (stage == 1 && p->commit)
                        r = p->commit(ps, k);
                else if (stage == 2 && p->post_commit)
                        r = p->post_commit(ps, k);
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
        int r;

        r = provider_stage(s, 0);
        if (r >= 0)
                r = provider_stage(s, 1);
        if (r < 0) {
                fail_set(s, provider_code(r), "snapshot set %s: provider commit failed: %s", s->set_id,
                         provider_reason(r));
                return;
        }
        s->level_idx = N_LEVELS - 1;
        thaw_next(s);
}

void freeze_next(Session *s) {
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
        uint64_t now = now_usec(CLOCK_REALTIME);
        size_t n = 0;
        int r;

        s->freeze_window = s->freeze_begin ? now_usec(CLOCK_MONOTONIC) - s->freeze_begin : 0;
        counters_freeze_window(m, s->freeze_window);
        r = provider_stage(s, 2);
        if (r < 0) {
                fail_set(s, provider_code(r), "snapshot set %s: provider post-commit failed: %s", s->set_id,
                         provider_reason(r));
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

void thaw_next(Session *s) {
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

/* Record the set's snapshots "prepared", durably, *before* any provider
 * prepares: a provider may leave files behind from prepare on (the reflink
 * pre-clone), and a crash from then on must leave an entry that the next
 * start aborts.  The entries have no priv yet; both providers derive it
 * from the volume when aborting such an entry.  DoSnapshotSet calls this
 * right after sending PrepareForSnapshot, so the registry's fsyncs overlap
 * the writers' work instead of following it (issue 14). */
static int record_prepared(Session *s) {
        bool any = false;

        for (Snap *x = s->m->snaps; x; x = x->next)
                if (x->session == s && x->state == SNAP_ADDED) {
                        x->state = SNAP_PREPARED;
                        any = true;
                }
        if (any && registry_save(s->m, true) < 0)
                return -EIO;
        return 0;
}

void prepare_snapshots(Session *s) {
        bool any = false;

        /* Recorded by record_prepared() at DoSnapshotSet. */
        for (Snap *x = s->m->snaps; x; x = x->next)
                if (x->session == s && x->state == SNAP_PREPARED && !x->ps.priv[0])
                        any = true;
        for (Snap *x = s->m->snaps; x; x = x->next) {
                int r;
                /* Marked above and not yet prepared (a provider's prepare
                 * always fills priv). */
                if (x->session != s || x->state != SNAP_PREPARED || x->ps.priv[0])
                        continue;
                error_slot_clear(NULL);
                r = x->prov->prepare(&x->ps);
                if (s->m->test_kill_in_prepare)
                        (void) raise(SIGKILL);
                if (r < 0) {
                        fail_set(s, provider_code(r), "snapshot of '%s' (%s): prepare failed: %s", x->ps.original,
                                 x->prov->name, provider_reason(r));
                        return;
                }
        }
        /* Now with each provider's priv; need not be durable: the older file
         * (no priv) makes the next start abort the same snapshots. */
        if (any)
                (void) registry_save(s->m, false);
        /* Run the pre-commit once before the writers freeze too: for a
         * provider whose pre-commit flushes (btrfs: syncfs), the one inside
         * the window (VSS order: after Freeze) then finds little dirty data
         * and the window stays short.  reflink's pre-commit does nothing
         * (its clones write back what they share), so for it this costs
         * nothing and saves nothing. */
        if (any) {
                int r = provider_stage(s, 0);
                if (r < 0) {
                        fail_set(s, provider_code(r), "snapshot set %s: provider pre-commit failed: %s", s->set_id,
                                 provider_reason(r));
                        return;
                }
        }
        s->freeze_begin = now_usec(CLOCK_MONOTONIC);
        s->level_idx = 0;
        freeze_next(s);
}

/* ----------------------------------------------------------------- methods */

int m_start_set(Session *s, sd_bus_message *msg, sd_bus_error *error) {
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

int m_is_volume_supported(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        const char *prov, *path;
        const lvss_provider *p;
        char volume[LVSS_PROVIDER_PATH_MAX];
        int r;

        r = sd_bus_message_read(msg, "ss", &prov, &path);
        if (r < 0)
                return bus_error_set(error, -EINVAL, "IsVolumeSupported: expected (ss)");
        error_slot_clear(NULL);
        r = lvss_provider_choose(path, prov[0] ? prov : NULL, &p, volume);
        if (r == LVSS_E_VOLUME_NOT_SUPPORTED || r == LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER)
                return sd_bus_reply_method_return(msg, "bs", 0, error_slot_get(NULL));
        if (r < 0)
                return bus_error_set(error, r, "%s", error_slot_get(NULL)[0] ? error_slot_get(NULL) : "cannot check the path");
        return sd_bus_reply_method_return(msg, "bs", 1, p->name);
}

int m_add_to_set(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        const char *path, *prov;
        _cleanup_free_ char *canon = NULL;
        const lvss_provider *p;
        char volume[LVSS_PROVIDER_PATH_MAX];
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
        error_slot_clear(NULL);
        r = lvss_provider_choose(canon, prov[0] ? prov : NULL, &p, volume);
        if (r < 0)
                return bus_error_set(error, r, "AddToSnapshotSet: %s", provider_reason(r));
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

int m_do_snapshot_set(Session *s, sd_bus_message *msg, sd_bus_error *error) {
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
        if (record_prepared(s) < 0) {
                fail_set(s, -EIO, "cannot write the snapshot registry in '%s'", s->m->state_dir);
                return 1;
        }
        if (s->pending == 0)
                step_done(s);
        return 1;
}
