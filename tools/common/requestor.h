/* SPDX-License-Identifier: MIT */
/*
 * tools/common/requestor.h: the backup half of the VSS requestor sequence,
 * written once for the tools that drive it (lvssadm create, lvss-backup
 * create; lvss-backupd runs lvss-backup):
 *
 *   requestor_begin           new session, InitializeForBackup, SetContext,
 *                             SetBackupState(select components, type)
 *   REQUESTOR_GATHER          GatherWriterMetadata       (then: add components)
 *                             StartSnapshotSet, AddToSnapshotSet (the tool's)
 *   REQUESTOR_PREPARE         PrepareForBackup
 *   REQUESTOR_SNAPSHOT        DoSnapshotSet              (then: read the shadows)
 *                             SetBackupSucceeded per component (the tool's)
 *   REQUESTOR_COMPLETE        BackupComplete
 *
 * Each asynchronous step is started here and handed to the tool's wait
 * function (progress, signals, its own error report and exit-code rules);
 * the step names are the ones the tools print ("gather writer metadata").
 * A writerless context (LVSS_VOLSNAP_ATTR_NO_WRITERS) skips GATHER, PREPARE
 * and COMPLETE: lvssd goes straight from the set to DoSnapshotSet.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <lvss/lvss.h>

typedef enum requestor_step {
        REQUESTOR_GATHER,
        REQUESTOR_PREPARE,
        REQUESTOR_SNAPSHOT,
        REQUESTOR_COMPLETE,
} requestor_step;

/* "gather writer metadata", "prepare for backup", "snapshot set", "backup complete". */
const char *requestor_step_name(requestor_step s);

/* Wait for a, the step's operation (r: the start call's result; a is NULL
 * when r < 0).  The function frees a or leaves it to the caller as it says;
 * requestor_run frees it afterwards when free_async is set. */
typedef int (*requestor_wait_fn)(lvss_backup *b, lvss_async *a, int r, const char *what, void *userdata);

/* A new requestor session ready for GatherWriterMetadata (or, writerless,
 * StartSnapshotSet).  *ret is set as soon as the handle exists, also on a
 * later failure (its last error says why; the caller frees it); NULL when
 * lvssd could not be reached.  0 or the failing call's code. */
int requestor_begin(uint32_t context, lvss_backup_type type, lvss_backup **ret);

/* Start step s and return wait()'s result.  The async object is freed here
 * unless wait takes it (wait_frees). */
int requestor_run(lvss_backup *b, requestor_step s, requestor_wait_fn wait, bool wait_frees, void *userdata);
