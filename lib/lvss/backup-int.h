/* SPDX-License-Identifier: MIT */
/*
 * The requestor handle (lvss_backup) and the async operation (lvss_async)
 * as the five files of the requestor API share them, and nothing else:
 *
 *   backup.c             the handle: creation, the bus connection and its
 *                        session, one synchronous call (backup_call), the
 *                        Initialize/Set* calls, the writer filter and
 *                        GatherWriterMetadata with its results
 *   backup-async.c       IVssAsync: one pending operation per handle, its
 *                        reply (document, metadata, status) taken in
 *   backup-components.c  the backup components document: AddComponent,
 *                        per-component options, the component iterator,
 *                        SaveAsXML
 *   backup-snapshot.c    the snapshot set: Start/AddTo/DoSnapshotSet,
 *                        PrepareForBackup, writer status, snapshot
 *                        properties, BackupComplete, AbortBackup,
 *                        DeleteSnapshots
 *   backup-restore.c     PreRestore/PostRestore and what a requestor marks
 *                        in the document for a restore
 *
 * Call order: the session state table (lib/lvss/state.c), with the
 * client's two differences explained there: state only advances (never
 * S_ABORTED) and aborted is sticky.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#include <lvss/requestor.h>

#include "lib/core/error-slot.h"
#include "lib/core/macro.h"
#include "lib/lvss/doc.h"
#include "lib/lvss/state.h"

typedef struct metadata_entry {
        char *instance_id;
        struct lvss_writer_metadata *wm;
} metadata_entry;

typedef struct status_entry {
        char *instance_id, *writer_id, *name, *instance_name, *message;
        uint32_t state;
        int failure, app_error;
        uint64_t freeze_window;
} status_entry;

typedef enum op {
        OP_GATHER_METADATA, OP_PREPARE, OP_DO_SNAPSHOT, OP_GATHER_STATUS, OP_BACKUP_COMPLETE,
        OP_PRE_RESTORE, OP_POST_RESTORE,
} op;

struct lvss_async {
        lvss_backup *b;
        op kind;
        sd_bus_slot *slot;
        lvss_async_status status;
        int result;
};

struct lvss_backup {
        pthread_t owner;
        sd_bus *bus;
        char *session;
        enum { M_NEW, M_BACKUP, M_RESTORE } mode;
        /* Call order: the session state table (lib/lvss/state.c), with the
         * client's two differences explained there: state only advances
         * (never S_ABORTED) and aborted is sticky. */
        SessionState state;
        bool gathered, state_set, aborted;
        unsigned pending;
        uint32_t context;
        lvss_bcd *bcd;
        metadata_entry *md;
        size_t n_md, cap_md;
        status_entry *st;
        size_t n_st, cap_st;
        lvss_id set_id;
        lvss_id *filter[3];             /* enable classes, disable classes, disable instances */
        size_t n_filter[3];
        ErrorSlot error;             /* lib/core/error-slot.h: the handle's last message */
};

#define CHECK(b)                                                                     \
        do {                                                                         \
                if (!(b))                                                            \
                        return -EINVAL;                                              \
                if (!pthread_equal((b)->owner, pthread_self()))                      \
                        return LVSS_E_WRONG_THREAD;                                  \
                error_slot_clear(&(b)->error);                                       \
        } while (0)

#define BAD_STATE(b, what) backup_fail(b, LVSS_E_BAD_STATE, "%s: call out of order", what)

/* May method m be called now, by the state table?  The client's own busy
 * rule (one operation pending) is backup_backup_start_async()'s. */
static inline bool in_order(const lvss_backup *b, Method m) {
        StateView v = { .state = b->state, .writerless = b->context & LVSS_VOLSNAP_ATTR_NO_WRITERS,
                        .gathered = b->gathered };
        return state_check(&v, m) == 0;
}

/* How far the session got (the editing windows of the documents). */
static inline bool set_started(const lvss_backup *b) {
        return b->state == S_SET_STARTED || b->state == S_PREPARED || b->state == S_SNAPSHOT_DONE ||
               b->state == S_COMPLETED;
}

static inline bool prepared(const lvss_backup *b) {
        /* A writerless set goes from started to created without PrepareForBackup. */
        return b->state == S_PREPARED || ((b->state == S_SNAPSHOT_DONE || b->state == S_COMPLETED) &&
                                          !(b->context & LVSS_VOLSNAP_ATTR_NO_WRITERS));
}

static inline bool snapshot_done(const lvss_backup *b) {
        return b->state == S_SNAPSHOT_DONE || b->state == S_COMPLETED;
}

static inline bool pre_restored(const lvss_backup *b) {
        return b->state == S_PRE_RESTORED || b->state == S_POST_RESTORED;
}

/* backup.c */
/* Put the message in the handle's slot (lib/core/error-slot.h); returns code. */
_printf_(3, 4) int backup_fail(lvss_backup *b, int code, const char *fmt, ...);
/* Where the session must be for a per-component call (backup_call_checked). */
typedef enum {
        WHEN_BACKUP_EDITING,    /* backup session, before PrepareForBackup */
        WHEN_SNAPSHOT_DONE,     /* backup session, snapshot set created, not yet BackupComplete */
        WHEN_RESTORE_EDITING,   /* restore session, before PreRestore */
        WHEN_PRE_RESTORED,      /* restore session, between PreRestore and PostRestore */
} call_when;
/* The one shape of the calls that mark a component of the document: CHECK(b);
 * LVSS_E_BAD_STATE naming what unless the session is where `when` says; then
 * the component in *ret (a restore subcomponent too when restore editing:
 * backup_restore_component), or LVSS_E_OBJECT_NOT_FOUND with the handle's
 * message set. */
int backup_call_checked(lvss_backup *b, call_when when, const char *instance_id, const char *writer_id,
                        lvss_component_type type, const char *logical_path, const char *name, const char *what,
                        struct lvss_component **ret);
void backup_metadata_clear(lvss_backup *b);
void backup_status_clear(lvss_backup *b);
/* A synchronous call to the session (or the coordinator when path NULL);
 * types and the arguments after it as sd_bus_message_append(). */
int backup_call(lvss_backup *b, const char *what, const char *path, const char *method, sd_bus_message **reply,
                const char *types, ...);

/* backup-async.c */
/* Send method (with the document when with_bcd) as the handle's one pending operation. */
int backup_start_async(lvss_backup *b, op kind, const char *method, bool with_bcd, lvss_async **ret);

/* backup-restore.c */
/* A component to restore: of the document, or a restore subcomponent of a
 * running writer added to it; LVSS_E_OBJECT_NOT_FOUND when neither. */
int backup_restore_component(lvss_backup *b, const char *writer_id, lvss_component_type type, const char *lpath,
                             const char *name, const char *what, struct lvss_component **ret);

/* backup-components.c */
/* The gathered metadata matching instance_id and writer_id (either may be NULL), NULL if none. */
const metadata_entry *backup_find_md(lvss_backup *b, const char *instance_id, const char *writer_id);
/* A component of the document; NULL with the handle's message set when absent. */
struct lvss_component *backup_find_component(lvss_backup *b, const char *instance_id, const char *writer_id,
                                             lvss_component_type type, const char *logical_path, const char *name,
                                             const char *what);
