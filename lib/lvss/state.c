/* SPDX-License-Identifier: MIT */
/* The session state machine's rules (state.h). */
#include <errno.h>
#include <string.h>

#include <lvss/error.h>

#include "lib/lvss/state.h"
#include "lib/core/macro.h"

static const char *const state_names[_S_MAX] = {
        [S_OPEN] = "open", [S_GATHERED] = "metadata gathered", [S_SET_STARTED] = "snapshot set started",
        [S_PREPARED] = "prepared for backup", [S_SNAPSHOT_DONE] = "snapshot set created",
        [S_COMPLETED] = "backup complete", [S_ABORTED] = "aborted", [S_RESTORE_OPEN] = "restore open",
        [S_RESTORE_GATHERED] = "restore metadata gathered", [S_PRE_RESTORED] = "pre-restored",
        [S_POST_RESTORED] = "post-restored",
};

static const char *const method_names[_M_MAX] = {
        [M_GATHER_WRITER_METADATA] = "GatherWriterMetadata", [M_START_SNAPSHOT_SET] = "StartSnapshotSet",
        [M_IS_VOLUME_SUPPORTED] = "IsVolumeSupported", [M_ADD_TO_SNAPSHOT_SET] = "AddToSnapshotSet",
        [M_PREPARE_FOR_BACKUP] = "PrepareForBackup", [M_DO_SNAPSHOT_SET] = "DoSnapshotSet",
        [M_GATHER_WRITER_STATUS] = "GatherWriterStatus", [M_BACKUP_COMPLETE] = "BackupComplete",
        [M_ABORT_BACKUP] = "AbortBackup", [M_PRE_RESTORE] = "PreRestore", [M_POST_RESTORE] = "PostRestore",
        [M_GET_FREEZE_WINDOW] = "GetFreezeWindow", [M_CLOSE] = "Close",
        [M_SET_WRITER_FILTER] = "SetWriterFilter",
};

const char *state_name(SessionState s) {
        return (unsigned) s < _S_MAX ? state_names[s] : "?";
}

const char *method_name(Method m) {
        return (unsigned) m < _M_MAX ? method_names[m] : "?";
}

int method_from_name(const char *name) {
        for (int i = 0; i < _M_MAX; i++)
                if (name && strcmp(method_names[i], name) == 0)
                        return i;
        return -EINVAL;
}

#define IN(s, ...) in_set((s), (const SessionState[]) { __VA_ARGS__ }, \
                          sizeof((const SessionState[]) { __VA_ARGS__ }) / sizeof(SessionState))

static bool in_set(SessionState s, const SessionState *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (v[i] == s)
                        return true;
        return false;
}

int state_check(const StateView *v, Method m) {
        bool ok;

        /* Always allowed: they never change what a step is doing, except
         * AbortBackup, which is how a step is cancelled. */
        if (m == M_ABORT_BACKUP || m == M_CLOSE || m == M_IS_VOLUME_SUPPORTED)
                return 0;
        if (v->busy)
                return LVSS_E_BAD_STATE;
        switch (m) {
        case M_GATHER_WRITER_METADATA:
        case M_SET_WRITER_FILTER:
                ok = IN(v->state, S_OPEN, S_RESTORE_OPEN) && !v->gathered;
                break;
        case M_START_SNAPSHOT_SET:
                ok = IN(v->state, S_OPEN, S_GATHERED);
                break;
        case M_ADD_TO_SNAPSHOT_SET:
                ok = IN(v->state, S_SET_STARTED, S_PREPARED);
                break;
        case M_PREPARE_FOR_BACKUP:
                ok = v->state == S_SET_STARTED && !v->writerless && v->gathered;
                break;
        case M_DO_SNAPSHOT_SET:
                ok = v->writerless ? v->state == S_SET_STARTED : v->state == S_PREPARED;
                break;
        case M_GATHER_WRITER_STATUS:
                ok = v->gathered;
                break;
        case M_BACKUP_COMPLETE:
                ok = v->state == S_SNAPSHOT_DONE && !v->writerless;
                break;
        case M_PRE_RESTORE:
                ok = v->state == S_RESTORE_GATHERED;
                break;
        case M_POST_RESTORE:
                ok = v->state == S_PRE_RESTORED;
                break;
        case M_GET_FREEZE_WINDOW:
                ok = IN(v->state, S_SNAPSHOT_DONE, S_COMPLETED);
                break;
        default:
                ok = false;
        }
        return ok ? 0 : LVSS_E_BAD_STATE;
}

SessionState state_after(SessionState from, Method m) {
        switch (m) {
        case M_GATHER_WRITER_METADATA:
                return from == S_RESTORE_OPEN ? S_RESTORE_GATHERED : S_GATHERED;
        case M_START_SNAPSHOT_SET:
                return S_SET_STARTED;
        case M_PREPARE_FOR_BACKUP:
                return S_PREPARED;
        case M_DO_SNAPSHOT_SET:
                return S_SNAPSHOT_DONE;
        case M_BACKUP_COMPLETE:
                return S_COMPLETED;
        case M_PRE_RESTORE:
                return S_PRE_RESTORED;
        case M_POST_RESTORE:
                return S_POST_RESTORED;
        case M_ABORT_BACKUP:
                return IN(from, S_SET_STARTED, S_PREPARED, S_SNAPSHOT_DONE) ? S_ABORTED : from;
        default:
                return from;
        }
}
