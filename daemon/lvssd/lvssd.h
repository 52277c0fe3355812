/* SPDX-License-Identifier: MIT */
/*
 * lvssd internals: the coordinator's objects and the functions its modules
 * share.  See docs/design/coordinator.md for the state machine and
 * invariants, docs/design/dbus-protocol.md for the wire protocol.
 *
 *   main.c      arguments, bus and event loop, startup recovery
 *   bus.c       D-Bus objects: org.lvss.Coordinator1 and org.lvss.Session1
 *   session*.c  requestor sessions and the backup/restore state machine:
 *               session.c (lifetime, dispatch), session-events.c (event
 *               fan-out), session-set.c (snapshot set), session-restore.c;
 *               their shared functions are in session-int.h
 *   writers.c   writer registry and event delivery (fan-out with timeouts)
 *   registry.c  snapshot registry (state dir) and provider calls
 *   auth.c      configuration file and caller authorization
 *   events.c    journal events (MESSAGE_ID per kind) and counters
 *
 * lvssd is single-threaded: everything runs from the sd-event loop.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <lvss/sys/provider.h>
#include <lvss/types.h>

#include "daemon/lvssd/config.h"
#include "lib/lvss/state.h"
#include "lib/lvss/doc.h"
#include "lib/lvss/proto.h"     /* the bus names */

#define MAX_WRITERS 256
#define MAX_SESSIONS 64
#define MAX_SESSIONS_PER_CONNECTION 8
#define MAX_SESSIONS_PER_UID 32
#define MAX_WRITER_METADATA_PER_UID 4   /* concurrent WriterMetadata queries per uid */
#define MAX_SET_VOLUMES 64
#define EVENT_TIMEOUT_USEC (120ULL * 1000000ULL)   /* non-freeze writer events */
#define IDENTIFY_TIMEOUT_USEC (30ULL * 1000000ULL)
#define DEFAULT_SET_TIMEOUT_USEC (1800ULL * 1000000ULL)

typedef struct Manager Manager;
typedef struct Writer Writer;
typedef struct Session Session;
typedef struct SessionWriter SessionWriter;
typedef struct Snap Snap;


struct Writer {
        Manager *m;
        Writer *next;
        char *unique_name;              /* bus name of the writer's connection */
        sd_bus_track *track;
        uid_t uid;
        char instance_id[LVSS_ID_MAX];
        char class_id[LVSS_ID_MAX];
        char *name, *instance_name;
        lvss_usage_type usage;
        lvss_source_type source;
        lvss_application_level level;
        uint32_t freeze_timeout_ms;
        uint32_t subscribe_flags;
        lvss_writer_state state;
        int last_error;
        unsigned busy;                  /* events in flight */
};

/* One writer as seen by one session. */
struct SessionWriter {
        Session *s;
        Writer *w;                      /* NULL once the writer is gone */
        char instance_id[LVSS_ID_MAX];
        char class_id[LVSS_ID_MAX];
        char *name, *instance_name;
        lvss_application_level level;
        uint32_t freeze_timeout_ms;
        struct lvss_writer_metadata *wm;/* from Identify */
        bool got_prepare;               /* PrepareForBackup or PreRestore sent */
        bool participant;               /* gets events after PrepareForBackup */
        bool frozen;                    /* Freeze sent, Thaw not yet answered */
        uint64_t freeze_start, freeze_window;
        sd_event_source *freeze_timer;
        sd_bus_slot *slot;              /* event call in flight */
        void (*done)(SessionWriter *sw);        /* its completion (writer_send_event) */
        /* last event result */
        int result, app_error;
        int nonfatal;                   /* failure reported with success */
        char *message;
        char *out_json;
        lvss_writer_state state;        /* state in this session */
        int failure;
};



typedef enum Step {
        STEP_NONE,
        STEP_IDENTIFY,
        STEP_PREPARE_BACKUP,
        STEP_PREPARE_SNAPSHOT,
        STEP_FREEZE,
        STEP_THAW,
        STEP_POST_SNAPSHOT,
        STEP_BACKUP_COMPLETE,
        STEP_PRE_RESTORE,
        STEP_POST_RESTORE,
        STEP_ADMIN_IDENTIFY,
} Step;

struct Session {
        Manager *m;
        Session *next;
        unsigned id;
        char *path;
        char uuid[LVSS_ID_MAX];         /* session id shown to writers */
        char *owner;                    /* unique bus name of the requestor */
        uid_t uid;
        sd_bus_track *track;
        sd_bus_slot *object_slot;
        bool restore;
        bool admin;                     /* internal: WriterMetadata query */
        SessionState state;
        Step step;
        int level_idx;                  /* freeze/thaw level cursor */
        unsigned pending;               /* event replies outstanding */
        sd_bus_message *call;           /* requestor call to answer when the step ends */
        uint32_t context;
        bool gathered;
        char set_id[LVSS_ID_MAX];       /* "" if none */
        bool owns_set;                  /* holds the one set-in-creation slot */
        lvss_bcd *bcd;                  /* the requestor's last BCD */
        SessionWriter **writers;
        size_t n_writers, cap_writers;
        uint64_t freeze_begin, freeze_window;
        int set_error;                  /* first failure of the running step */
        sd_event_source *set_timer;     /* sequence timer while holding the set */
        /* writer filter [Enable/DisableWriterClasses, DisableWriterInstances] */
        lvss_id *enable_classes, *disable_classes, *disable_instances;
        size_t n_enable_classes, n_disable_classes, n_disable_instances;
};

typedef enum SnapState { SNAP_ADDED, SNAP_PREPARED, SNAP_CREATED } SnapState;

struct Snap {
        Snap *next;
        lvss_provider_snapshot ps;
        const lvss_provider *prov;
        uint32_t context;
        uint64_t created_usec;
        SnapState state;
        Session *session;               /* creating or auto-release owner; NULL otherwise */
        uid_t owner_uid;                /* requestor that created it (bus-vouched); 0 if recovered */
        bool recovered;                 /* found by a provider scan after the registry was lost */
};

typedef struct Counters {
        uint64_t sets_created, sets_failed, sets_aborted;
        uint64_t snapshots_created, snapshots_deleted;
        uint64_t writer_failures, requestor_disconnects, writers_registered;
        uint64_t freeze_hist[9];        /* <=1, 5, 10, 50, 100, 500, 1000, 5000 ms, more */
        uint64_t last_freeze_window_usec, max_freeze_window_usec;
} Counters;



struct Manager {
        sd_event *event;
        sd_bus *bus;
        char *state_dir;
        char *config_path;
        Writer *writers;
        size_t n_writers;
        Session *sessions;
        size_t n_sessions;
        unsigned next_session_id;
        Session *set_owner;             /* session holding the set in creation */
        Snap *snaps;
        sd_event_source *registry_timer;  /* a non-durable registry save waiting (registry.c) */
        Counters counters;
        AccessRule *rules;
        size_t n_rules;
        /* The roles last resolved from the user database for one uid,
         * reused until `until` (CLOCK_MONOTONIC, auth.c ROLES_CACHE_USEC);
         * until == 0: empty. */
        struct {
                uid_t uid;
                int roles;
                uint64_t until;
        } roles_cache;
        uint64_t set_timeout_usec;      /* StartSnapshotSet -> DoSnapshotSet limit; 0 = none */
        char **scan_roots;              /* [recovery] scan: where to look when the registry is lost */
        size_t n_scan_roots;
        bool test_kill_in_prepare;      /* LVSSD_TEST_KILL_AT=prepare: crash tests only */
        /* Called by writer_free() for a writer that leaves (main.c sets it
         * to session_writer_gone), so writers.c does not call into the session files. */
        void (*writer_gone)(Manager *m, Writer *w);
};

/* auth.c */
int auth_load_config(Manager *m, const char *path);
void auth_free(Manager *m);
/* 0 if allowed, else sets error (LVSS_E_ACCESS_DENIED) and returns negative. */
int auth_check(Manager *m, sd_bus_message *msg, int role, const char *what, uid_t *ret_uid,
               sd_bus_error *error);

/* events.c */
typedef enum EventKind {
        EV_STARTED, EV_WRITER_REGISTERED, EV_WRITER_GONE, EV_SESSION_OPENED, EV_SESSION_CLOSED,
        EV_SET_CREATED, EV_SET_FAILED, EV_SET_ABORTED, EV_WRITER_FAILED, EV_SNAPSHOT_DELETED,
        EV_ACCESS_DENIED, EV_ORPHAN_REMOVED, EV_REQUESTOR_VANISHED, _EV_MAX
} EventKind;
void ev_log(EventKind kind, int priority, const char *set_id, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void counters_freeze_window(Manager *m, uint64_t usec);
json_t *counters_to_json(const Manager *m);
char *counters_to_prometheus(const Manager *m);

/* bus-level error helper: set an org.lvss.Error.* error for an LVSS_E_* code
 * (or a System.Error for errno); returns code. */
int bus_error_set(sd_bus_error *error, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int bus_reply_error(sd_bus_message *call, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* bus.c (it also exports each new session's org.lvss.Session1 object:
 * OpenSession calls session_new(), then registers the object itself) */
int bus_setup(Manager *m);

/* writers.c */
int writer_register(Manager *m, sd_bus_message *msg, const char *identity_json, uint32_t flags,
                    uid_t uid, Writer **ret, sd_bus_error *error);
void writer_free(Writer *w);
Writer *writer_by_name(Manager *m, const char *unique_name);
json_t *writers_to_json(Manager *m);
/* Send one event to one session writer; the reply (or error, or timeout)
 * lands in sw and then done(sw) is called. args: borrowed. */
int writer_send_event(SessionWriter *sw, const char *event, json_t *args, uint64_t timeout_usec,
                      void (*done)(SessionWriter *sw));
/* Fire and forget (Abort, BackupShutdown). */
void writer_send_oneway(Manager *m, const char *unique_name, const char *event, json_t *args);

/* session.c */
int session_new(Manager *m, sd_bus_message *msg, bool restore, uid_t uid, Session **ret);
void session_free(Session *s, bool vanished);
unsigned session_free_report(Session *s, bool vanished, char *first, size_t first_size);
/* Manager.writer_gone: the sessions forget w. */
void session_writer_gone(Manager *m, Writer *w);
int session_method(Session *s, const char *method, sd_bus_message *msg, sd_bus_error *error);
/* A WriterMetadata query for uid (the caller's cap is checked in bus.c). */
int admin_writer_metadata(Manager *m, sd_bus_message *msg, uid_t uid, sd_bus_error *error);

/* registry.c */
int registry_load_and_recover(Manager *m);
int registry_save(Manager *m, bool durable);
/* Write a non-durable save still waiting (at exit). */
void registry_flush(Manager *m);
Snap *snap_find(Manager *m, const char *id);
Snap *snap_new(Manager *m, Session *s, const lvss_provider *p, const char *path, const char *volume);
void snap_unlink_free(Manager *m, Snap *x);
/* Delete or abort x through its provider and forget it; on failure the
 * provider's reason is in the thread's error slot (provider_reason()). */
int snap_delete(Manager *m, Snap *x);
/* The reason a provider call that returned r < 0 left in the thread's error
 * slot (lib/core/error-slot.h), or strerror when it left none. */
const char *provider_reason(int r);
json_t *snaps_to_json(Manager *m);
json_t *providers_to_json(void);
json_t *snap_to_json(const Snap *x);
const char *context_name(uint32_t ctx);
uint64_t now_usec(clockid_t clock);
