/* SPDX-License-Identifier: MIT */
/*
 * The session state machine as a pure table: which requestor call is
 * allowed in which state (coordinator.md, "Session state machine").
 * lvssd's session.c asks before dispatching; tests/unit/lvss/test-state.c
 * checks the whole matrix.  No I/O, no bus: just the rules.  Internal
 * (static library lvss-internal): liblvss's backup.c checks with it too.
 */
#pragma once

#include <stdbool.h>

typedef enum SessionState {
        S_OPEN,                 /* backup: session open */
        S_GATHERED,             /* GatherWriterMetadata done */
        S_SET_STARTED,          /* StartSnapshotSet */
        S_PREPARED,             /* PrepareForBackup done */
        S_SNAPSHOT_DONE,        /* DoSnapshotSet done */
        S_COMPLETED,            /* BackupComplete done */
        S_ABORTED,              /* aborted or failed; only status/abort/close */
        S_RESTORE_OPEN,
        S_RESTORE_GATHERED,
        S_PRE_RESTORED,
        S_POST_RESTORED,
        _S_MAX
} SessionState;

typedef enum Method {
        M_GATHER_WRITER_METADATA,
        M_START_SNAPSHOT_SET,
        M_IS_VOLUME_SUPPORTED,
        M_ADD_TO_SNAPSHOT_SET,
        M_PREPARE_FOR_BACKUP,
        M_DO_SNAPSHOT_SET,
        M_GATHER_WRITER_STATUS,
        M_BACKUP_COMPLETE,
        M_ABORT_BACKUP,
        M_PRE_RESTORE,
        M_POST_RESTORE,
        M_GET_FREEZE_WINDOW,
        M_CLOSE,
        M_SET_WRITER_FILTER,
        _M_MAX
} Method;

/*
 * liblvss (lib/lvss/backup*.c) checks a requestor's calls with this table
 * too, before sending them, and differs from lvssd where it always did:
 *  - it has no "busy" rule here: one operation pending per handle is
 *    checked when an async starts (another call is sent, and lvssd refuses
 *    it while a step runs);
 *  - its state never becomes S_ABORTED: AbortBackup, or a PrepareForBackup
 *    or DoSnapshotSet that failed or was cancelled, set a sticky "aborted"
 *    flag instead, which refuses AddToSnapshotSet, PrepareForBackup,
 *    DoSnapshotSet and BackupComplete for the rest of the handle's life
 *    (also after an AbortBackup before any set, where lvssd stays S_OPEN),
 *    while the state keeps how far the session got (the documents' edit
 *    windows depend on it);
 *  - PrepareForBackup is checked as "set started, not prepared": the missing
 *    gather has its own message and a writerless context is left to lvssd;
 *  - BackupComplete in a writerless context has its own message.
 */
typedef struct StateView {
        SessionState state;
        bool busy;              /* a step (writer events) is running */
        bool writerless;        /* context has LVSS_VOLSNAP_ATTR_NO_WRITERS */
        bool gathered;          /* GatherWriterMetadata succeeded */
} StateView;

/* 0 if 'm' may be called now, else LVSS_E_BAD_STATE. */
int state_check(const StateView *v, Method m);
/* The state after 'm' succeeded in 'from' (DoSnapshotSet and the other
 * steps: after the step completed). */
SessionState state_after(SessionState from, Method m);
const char *state_name(SessionState s);
const char *method_name(Method m);
int method_from_name(const char *name);  /* Method or -EINVAL */
