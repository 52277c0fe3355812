/* SPDX-License-Identifier: MIT */
/*
 * Journal events and counters.  Each event kind has a fixed MESSAGE_ID (the
 * counterpart of a Windows event id) so that `journalctl MESSAGE_ID=...`
 * finds every occurrence; the ids below never change.  Every event is also
 * printed on stderr (one line) for foreground runs and tests.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <systemd/sd-journal.h>

#include "daemon/lvssd/lvssd.h"
#include "lib/core/macro.h"

static const char *const message_ids[_EV_MAX] = {
        [EV_STARTED]            = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a01",
        [EV_WRITER_REGISTERED]  = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a02",
        [EV_WRITER_GONE]        = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a03",
        [EV_SESSION_OPENED]     = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a04",
        [EV_SESSION_CLOSED]     = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a05",
        [EV_SET_CREATED]        = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a06",
        [EV_SET_FAILED]         = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a07",
        [EV_SET_ABORTED]        = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a08",
        [EV_WRITER_FAILED]      = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a09",
        [EV_SNAPSHOT_DELETED]   = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a0a",
        [EV_ACCESS_DENIED]      = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a0b",
        [EV_ORPHAN_REMOVED]     = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a0c",
        [EV_REQUESTOR_VANISHED] = "6c0fe8f4c9a3436f8a1e2d0b7f1c2a0d",
};

static const char *const kind_names[_EV_MAX] = {
        [EV_STARTED] = "started", [EV_WRITER_REGISTERED] = "writer-registered",
        [EV_WRITER_GONE] = "writer-gone", [EV_SESSION_OPENED] = "session-opened",
        [EV_SESSION_CLOSED] = "session-closed", [EV_SET_CREATED] = "set-created",
        [EV_SET_FAILED] = "set-failed", [EV_SET_ABORTED] = "set-aborted",
        [EV_WRITER_FAILED] = "writer-failed", [EV_SNAPSHOT_DELETED] = "snapshot-deleted",
        [EV_ACCESS_DENIED] = "access-denied", [EV_ORPHAN_REMOVED] = "orphan-removed",
        [EV_REQUESTOR_VANISHED] = "requestor-vanished",
};

void ev_log(EventKind kind, int priority, const char *set_id, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        fprintf(stderr, "lvssd: %s: %s\n", kind_names[kind], msg);
        /* lvssd never FIFREEZEs a filesystem, so journald is never asked to
         * write to a frozen one. */
        sd_journal_send("MESSAGE=%s", msg,
                        "MESSAGE_ID=%s", message_ids[kind],
                        "PRIORITY=%i", priority,
                        "SYSLOG_IDENTIFIER=lvssd",
                        "LVSS_EVENT=%s", kind_names[kind],
                        "LVSS_SET_ID=%s", set_id ? set_id : "",
                        NULL);
}

static const unsigned bucket_ms[] = { 1, 5, 10, 50, 100, 500, 1000, 5000 };

void counters_freeze_window(Manager *m, uint64_t usec) {
        size_t i;

        for (i = 0; i < ELEMENTSOF(bucket_ms); i++)
                if (usec <= (uint64_t) bucket_ms[i] * 1000)
                        break;
        m->counters.freeze_hist[i]++;
        m->counters.last_freeze_window_usec = usec;
        if (usec > m->counters.max_freeze_window_usec)
                m->counters.max_freeze_window_usec = usec;
}

json_t *counters_to_json(const Manager *m) {
        const Counters *c = &m->counters;
        json_t *o = json_object(), *h = json_object();
        char key[32];

        for (size_t i = 0; i < ELEMENTSOF(bucket_ms); i++) {
                snprintf(key, sizeof(key), "le_%ums", bucket_ms[i]);
                json_object_set_new(h, key, json_integer((json_int_t) c->freeze_hist[i]));
        }
        json_object_set_new(h, "gt_5000ms", json_integer((json_int_t) c->freeze_hist[ELEMENTSOF(bucket_ms)]));
        json_object_set_new(o, "sets_created", json_integer((json_int_t) c->sets_created));
        json_object_set_new(o, "sets_failed", json_integer((json_int_t) c->sets_failed));
        json_object_set_new(o, "sets_aborted", json_integer((json_int_t) c->sets_aborted));
        json_object_set_new(o, "snapshots_created", json_integer((json_int_t) c->snapshots_created));
        json_object_set_new(o, "snapshots_deleted", json_integer((json_int_t) c->snapshots_deleted));
        json_object_set_new(o, "writer_failures", json_integer((json_int_t) c->writer_failures));
        json_object_set_new(o, "writers_registered", json_integer((json_int_t) c->writers_registered));
        json_object_set_new(o, "requestor_disconnects", json_integer((json_int_t) c->requestor_disconnects));
        json_object_set_new(o, "last_freeze_window_ms", json_real((double) c->last_freeze_window_usec / 1000.0));
        json_object_set_new(o, "max_freeze_window_ms", json_real((double) c->max_freeze_window_usec / 1000.0));
        json_object_set_new(o, "freeze_window_histogram", h);
        return o;
}

/* LVSS_E_BAD_STATE -> org.lvss.Error.BAD_STATE; errno -> System.Error.E*. */
_printf_(3, 0) static int error_setv(sd_bus_error *error, int code, const char *fmt, va_list ap) {
        char msg[512];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        return proto_error_set(error, code, msg);
}

int bus_error_set(sd_bus_error *error, int code, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = error_setv(error, code, fmt, ap);
        va_end(ap);
        return r;
}

int bus_reply_error(sd_bus_message *call, int code, const char *fmt, ...) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        if (!call)
                return 0;
        va_start(ap, fmt);
        error_setv(&error, code, fmt, ap);
        va_end(ap);
        r = sd_bus_reply_method_error(call, &error);
        sd_bus_error_free(&error);
        return r;
}

/* The counters in Prometheus text exposition format (docs/architecture.md §7). */
char *counters_to_prometheus(const Manager *m) {
        const Counters *c = &m->counters;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        uint64_t cum = 0;

        if (!f)
                return NULL;
#define COUNTER(name, help, v) \
        fprintf(f, "# HELP lvss_" name " " help "\n# TYPE lvss_" name " counter\nlvss_" name " %llu\n", \
                (unsigned long long) (v))
        COUNTER("sets_created_total", "Snapshot sets created.", c->sets_created);
        COUNTER("sets_failed_total", "Snapshot sets that failed.", c->sets_failed);
        COUNTER("sets_aborted_total", "Snapshot sets aborted.", c->sets_aborted);
        COUNTER("snapshots_created_total", "Snapshots created.", c->snapshots_created);
        COUNTER("snapshots_deleted_total", "Snapshots deleted.", c->snapshots_deleted);
        COUNTER("writer_failures_total", "Writer events that failed, vetoed or timed out.", c->writer_failures);
        COUNTER("requestor_disconnects_total", "Requestors that left with a session open.", c->requestor_disconnects);
#undef COUNTER
        fprintf(f, "# HELP lvss_freeze_window_seconds First Freeze to last Thaw of each snapshot set.\n"
                   "# TYPE lvss_freeze_window_seconds histogram\n");
        for (size_t i = 0; i < ELEMENTSOF(bucket_ms); i++) {
                cum += c->freeze_hist[i];
                fprintf(f, "lvss_freeze_window_seconds_bucket{le=\"%g\"} %llu\n", bucket_ms[i] / 1000.0,
                        (unsigned long long) cum);
        }
        cum += c->freeze_hist[ELEMENTSOF(bucket_ms)];
        fprintf(f, "lvss_freeze_window_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long) cum);
        fprintf(f, "lvss_freeze_window_seconds_count %llu\n", (unsigned long long) cum);
        fprintf(f, "# HELP lvss_writers Registered writers.\n# TYPE lvss_writers gauge\nlvss_writers %zu\n", m->n_writers);
        fprintf(f, "# HELP lvss_set_in_progress 1 while a snapshot set is being created.\n"
                   "# TYPE lvss_set_in_progress gauge\nlvss_set_in_progress %d\n", m->set_owner ? 1 : 0);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
