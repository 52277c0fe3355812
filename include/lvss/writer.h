/* SPDX-License-Identifier: MIT */
/*
 * lvss/writer.h: the writer API [CVssWriter].
 *
 * A writer is an application that quiesces itself for snapshots and takes
 * part in restores.  It creates an lvss_writer with its identity and a table
 * of event callbacks, subscribes (registers with lvssd over D-Bus) and then
 * lets the library deliver events, either inside its own event loop
 * (lvss_writer_get_fd + lvss_writer_process) or by calling lvss_writer_run.
 *
 * Events (vss-model §3.2), delivered one at a time, on the thread that
 * created the writer, from inside lvss_writer_process/lvss_writer_run:
 *   on_identify(md)            build the metadata document; no side effects,
 *                              may come at any time, even mid-backup
 *   on_prepare_backup(comps)   read backup type/options/previous stamps,
 *                              set stamps; may veto
 *   on_prepare_snapshot()      heavy quiescing; may veto
 *   on_freeze()                stop writing; last chance to veto. The time
 *                              from Freeze to Thaw is bounded by the
 *                              declared freeze_timeout_ms: past it the set is
 *                              aborted and on_abort follows
 *   on_thaw()                  resume writing
 *   on_post_snapshot(comps)    clean up; may set stamps
 *   on_abort()                 return to normal running; may come several
 *                              times and between any two events from
 *                              PrepareForBackup to PostSnapshot.  The
 *                              library delivers it itself (then
 *                              on_backup_shutdown) when the coordinator is
 *                              lost mid-sequence (lvssd exited, crashed or
 *                              was replaced, or the bus connection broke),
 *                              and when a writer stays frozen past its
 *                              freeze_timeout_ms + 2 s without Thaw
 *   on_backup_complete(comps)  check backup_succeeded, truncate logs if the
 *                              backup type allows (components read-only)
 *   on_backup_shutdown(set_id) the requestor's session ended (normally or by
 *                              crash); never truncate logs here
 *   on_pre_restore(comps)      check targets; may refuse
 *   on_post_restore(comps)     check file restore status; recover unless
 *                              additional restores are announced
 * Each callback returns 0 to succeed or a negative value to fail/veto;
 * lvss_writer_set_failure() during the callback says why (default:
 * LVSS_E_WRITERERROR_NONRETRYABLE).  A failure set by a callback that then
 * returns 0 is non-fatal: requestors see it in writer status, nothing is
 * vetoed (the VSS convention for SetWriterFailure + return true).  A NULL
 * callback succeeds.
 * A writer with no explicitly selected component gets no events after
 * PrepareForBackup/PreRestore (except Abort and BackupShutdown).
 *
 * Threads: an lvss_writer belongs to the thread that created it; every call
 * from another thread returns LVSS_E_WRONG_THREAD.  Callbacks run on that
 * thread; the event-scoped helpers below work only inside a callback
 * (elsewhere LVSS_E_BAD_STATE).
 */
#ifndef LVSS_WRITER_H
#define LVSS_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include <lvss/component.h>
#include <lvss/metadata.h>
#include <lvss/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lvss_writer lvss_writer;

#define LVSS_WRITER_IDENTITY_VERSION 1
#define LVSS_WRITER_EVENTS_VERSION 1
#define LVSS_DEFAULT_FREEZE_TIMEOUT_MS 60000u

/* [CVssWriter::Initialize] arguments.  Start from LVSS_WRITER_IDENTITY_INIT. */
typedef struct lvss_writer_identity {
        uint32_t version;               /* LVSS_WRITER_IDENTITY_VERSION */
        const char *class_id;           /* writer class UUID, fixed per writer kind */
        const char *name;               /* friendly name, e.g. "Mail Store Writer" */
        const char *instance_name;      /* NULL, or a persistent instance name */
        lvss_usage_type usage;
        lvss_source_type source;
        lvss_application_level level;   /* freeze order; default FRONT_END */
        uint32_t freeze_timeout_ms;     /* Freeze->Thaw limit; 0 = 60000 */
} lvss_writer_identity;

#define LVSS_WRITER_IDENTITY_INIT \
        { LVSS_WRITER_IDENTITY_VERSION, NULL, NULL, NULL, LVSS_UT_USERDATA, LVSS_ST_OTHER, \
          LVSS_APP_FRONT_END, LVSS_DEFAULT_FREEZE_TIMEOUT_MS }

/* The event table.  Append-only: new events go at the end and the library
 * treats fields past an older 'version' as NULL.  Start from
 * LVSS_WRITER_EVENTS_INIT and fill what you handle. */
typedef struct lvss_writer_events {
        uint32_t version;               /* LVSS_WRITER_EVENTS_VERSION */
        int (*on_identify)(lvss_writer *w, lvss_metadata_builder *md, void *userdata);
        int (*on_prepare_backup)(lvss_writer *w, lvss_writer_components *comps, void *userdata);
        int (*on_prepare_snapshot)(lvss_writer *w, void *userdata);
        int (*on_freeze)(lvss_writer *w, void *userdata);
        int (*on_thaw)(lvss_writer *w, void *userdata);
        int (*on_post_snapshot)(lvss_writer *w, lvss_writer_components *comps, void *userdata);
        int (*on_abort)(lvss_writer *w, void *userdata);
        int (*on_backup_complete)(lvss_writer *w, lvss_writer_components *comps, void *userdata);
        int (*on_backup_shutdown)(lvss_writer *w, const char *snapshot_set_id, void *userdata);
        int (*on_pre_restore)(lvss_writer *w, lvss_writer_components *comps, void *userdata);
        int (*on_post_restore)(lvss_writer *w, lvss_writer_components *comps, void *userdata);
} lvss_writer_events;

#define LVSS_WRITER_EVENTS_INIT { LVSS_WRITER_EVENTS_VERSION, NULL, NULL, NULL, NULL, NULL, \
                                  NULL, NULL, NULL, NULL, NULL, NULL }

/* ---------------------------------------------------------------- lifetime */

/* [Initialize] validate the identity (class_id must be a UUID, name
 * non-empty) and create the writer; nothing is sent yet.  Both structs are
 * copied (strings included).  The caller owns *ret.  Errors: -EINVAL,
 * -ENOMEM. */
int lvss_writer_new(const lvss_writer_identity *identity, const lvss_writer_events *events,
                    void *userdata, lvss_writer **ret);

/* [Subscribe] connect to the coordinator ($LVSS_BUS or the system bus) and
 * register (a synchronous call: lvssd must be running).  flags: LVSS_SM_* (0 = backup + restore events).  A new instance
 * id is made each time.  Errors: LVSS_E_WRITER_ALREADY_SUBSCRIBED,
 * LVSS_E_WRITER_INFRASTRUCTURE (lvssd not reachable), LVSS_E_ACCESS_DENIED
 * (caller not allowed to be a writer). */
int lvss_writer_subscribe(lvss_writer *w, uint32_t flags);

/* [Unsubscribe] leave the coordinator (it sees the writer go). */
int lvss_writer_unsubscribe(lvss_writer *w);

/* Unsubscribe if needed and free.  NULL-safe; returns NULL.  Not from inside
 * a callback. */
lvss_writer *lvss_writer_free(lvss_writer *w);

/* The one-line message of the last failure on this handle ("" if none). */
const char *lvss_writer_last_error(const lvss_writer *w);

/* Instance id given at subscribe ("" before). Borrowed. */
const char *lvss_writer_get_instance_id(const lvss_writer *w);

/* ------------------------------------------------------------- event loop */

/* The fd to poll, the poll events wanted (POLLIN, maybe POLLOUT) and the
 * absolute CLOCK_MONOTONIC deadline in usec (UINT64_MAX: none) after which
 * lvss_writer_process must be called even without activity. */
int lvss_writer_get_fd(lvss_writer *w);
int lvss_writer_get_events(lvss_writer *w);
int lvss_writer_get_timeout(lvss_writer *w, uint64_t *ret_usec);

/* Handle whatever is pending (events are delivered from here).  Never blocks
 * beyond the callbacks themselves.  Returns >0 if it did some work (call
 * again), 0 if idle, or a negative error (-ECONNRESET: the bus connection is
 * lost; create and subscribe the writer again).  When lvssd itself restarts,
 * the library notices (NameOwnerChanged) and registers again on its own,
 * with a new instance id.  Either way a sequence in flight is ended first:
 * on_abort, then on_backup_shutdown, are called from here. */
int lvss_writer_process(lvss_writer *w);

/* Run a loop of its own until lvss_writer_stop() is called (from a callback
 * or a signal handler) or an error.  timeout_ms: LVSS_WAIT_INFINITE or a
 * limit after which it returns 0. Returns 0 or a negative error. */
int lvss_writer_run(lvss_writer *w, int64_t timeout_ms);
#ifndef LVSS_WAIT_INFINITE
#define LVSS_WAIT_INFINITE (-1)
#endif
/* Async-signal-safe: make lvss_writer_run return soon. */
void lvss_writer_stop(lvss_writer *w);

/* ------------------------------------------------ inside a callback only */

/* [SetWriterFailure] code: one of LVSS_E_WRITERERROR_*.  The Ex form adds an
 * application code and a message (copied, at most 1023 bytes used). */
int lvss_writer_set_failure(lvss_writer *w, int code);
int lvss_writer_set_failure_ex(lvss_writer *w, int code, int application_error, const char *message);

lvss_backup_type lvss_writer_get_backup_type(const lvss_writer *w);
lvss_restore_type lvss_writer_get_restore_type(const lvss_writer *w);
uint32_t lvss_writer_get_context(const lvss_writer *w);
lvss_application_level lvss_writer_get_current_level(const lvss_writer *w);
int lvss_writer_are_components_selected(const lvss_writer *w);
int lvss_writer_is_bootable_system_state_backed_up(const lvss_writer *w);
int lvss_writer_is_partial_file_support_enabled(const lvss_writer *w);
/* [GetCurrentSnapshotSetId] not in BackupShutdown (use its argument). */
int lvss_writer_get_current_snapshot_set_id(const lvss_writer *w, lvss_id *ret);
/* [GetCurrentVolumeArray] the original paths added to the set. */
int lvss_writer_get_current_volume_count(const lvss_writer *w);
const char *lvss_writer_get_current_volume(const lvss_writer *w, size_t i);
/* [IsPathAffected] 1 if path lies under one of the set's paths, else 0. */
int lvss_writer_is_path_affected(const lvss_writer *w, const char *path);
/* [GetSnapshotDeviceName] from PostSnapshot on: where the snapshot of
 * 'original' is readable (borrowed).  LVSS_E_OBJECT_NOT_FOUND if none. */
int lvss_writer_get_snapshot_device_name(const lvss_writer *w, const char *original,
                                         const char **ret_path);
/* [GetSessionId] identifies the requestor session that sent the event. */
int lvss_writer_get_session_id(const lvss_writer *w, lvss_id *ret);

#ifdef __cplusplus
}
#endif
#endif
