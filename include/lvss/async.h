/* SPDX-License-Identifier: MIT */
/*
 * lvss/async.h: an operation in progress [IVssAsync].
 *
 * lvss_backup_gather_writer_metadata(), _prepare_for_backup(),
 * _do_snapshot_set(), _gather_writer_status(), _backup_complete(),
 * _pre_restore() and _post_restore() start the operation and hand back an
 * lvss_async.  The operation makes progress while the caller waits on it
 * (lvss_async_wait) or processes its lvss_backup (lvss_backup_process).
 *
 * Ownership: the caller owns the lvss_async and frees it with
 * lvss_async_free().  Freeing a pending operation does not cancel it in the
 * coordinator; the result is simply dropped.  An lvss_async must not outlive
 * the lvss_backup that created it.
 *
 * Threads: an lvss_async belongs to the thread that created its lvss_backup;
 * calls from another thread return LVSS_E_WRONG_THREAD.
 */
#ifndef LVSS_ASYNC_H
#define LVSS_ASYNC_H

#include <stdint.h>

#include <lvss/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lvss_async lvss_async;

/* [VSS_S_ASYNC_*] */
typedef enum lvss_async_status {
        LVSS_ASYNC_PENDING = 0,
        LVSS_ASYNC_FINISHED = 1,   /* completed successfully */
        LVSS_ASYNC_CANCELLED = 2,
        LVSS_ASYNC_ERROR = 3       /* completed with an error; see result */
} lvss_async_status;

#define LVSS_WAIT_INFINITE (-1)

/*
 * Wait until the operation is no longer pending, or timeout_ms passes
 * (LVSS_WAIT_INFINITE: no limit; 0: just poll).
 *
 * Returns 0 if it finished successfully, LVSS_E_TIMEOUT if it is still
 * pending, LVSS_E_ASYNC_CANCELLED if it was cancelled, or the operation's own
 * error code (e.g. LVSS_E_BACKUP_REFUSED, LVSS_E_BAD_STATE).  Waiting again
 * after completion returns the same result.
 */
int lvss_async_wait(lvss_async *a, int64_t timeout_ms);

/*
 * Query without waiting.  Sets *ret_status and, when not NULL, *ret_result
 * (0 while pending or finished, the error when LVSS_ASYNC_ERROR,
 * LVSS_E_ASYNC_CANCELLED when cancelled).  Returns 0, or
 * LVSS_E_WRONG_THREAD / -EINVAL.
 */
int lvss_async_query_status(lvss_async *a, lvss_async_status *ret_status, int *ret_result);

/*
 * Cancel the operation.  For PrepareForBackup and DoSnapshotSet this asks the
 * coordinator to abort the backup (writers get Abort); for other operations
 * the result is dropped.  Returns 0 if it cancelled a pending operation,
 * LVSS_E_ASYNC_CANCELLED if it was already cancelled, 1 if it had already
 * finished (nothing to cancel), or the operation's error if it had failed.
 */
int lvss_async_cancel(lvss_async *a);

/* Free an lvss_async.  NULL-safe; always returns NULL. */
lvss_async *lvss_async_free(lvss_async *a);

#ifdef __cplusplus
}
#endif
#endif
