/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mstore/mstore.h"
#include "err.h"
#include "lib/core/error-slot.h"

/* The detail line lives in the thread's slot of lib/core/error-slot.h. */
int mstore__error(int err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        (void) error_slot_setv(NULL, err, fmt, ap);
        va_end(ap);
        return err;
}

const char *mstore__last_error(void) {
        return error_slot_get(NULL);
}

const char *mstore_last_error(void) {
        return error_slot_get(NULL);
}

const char *mstore_strerror(int err) {
        switch (err) {
        case 0: return "success";
        case MSTORE_E_CORRUPT: return "MSTORE_E_CORRUPT: corruption detected on disk";
        case MSTORE_E_MISSING_LOGS: return "MSTORE_E_MISSING_LOGS: required log generations are missing";
        case MSTORE_E_FROZEN: return "MSTORE_E_FROZEN: storage group is frozen for a snapshot";
        case MSTORE_E_READ_ONLY: return "MSTORE_E_READ_ONLY: storage group refuses updates (log disk full)";
        case MSTORE_E_NEEDS_RECOVERY: return "MSTORE_E_NEEDS_RECOVERY: database needs recovery";
        case MSTORE_E_FAILED: return "MSTORE_E_FAILED: storage group failed after an I/O error; reopen it";
        case MSTORE_E_BAD_SEQUENCE: return "MSTORE_E_BAD_SEQUENCE: call out of sequence";
        case MSTORE_E_FREEZE_TIMEOUT: return "MSTORE_E_FREEZE_TIMEOUT: freeze timed out before thaw";
        case MSTORE_E_NO_FULL_BACKUP: return "MSTORE_E_NO_FULL_BACKUP: no previous full backup";
        case MSTORE_E_CIRCULAR_LOGGING: return "MSTORE_E_CIRCULAR_LOGGING: not possible with circular logging";
        case MSTORE_E_SIGNATURE: return "MSTORE_E_SIGNATURE: file belongs to another log stream or database";
        case MSTORE_E_VERSION: return "MSTORE_E_VERSION: unknown on-disk format version";
        case MSTORE_E_TOO_MANY: return "MSTORE_E_TOO_MANY: too many databases in the storage group";
        case MSTORE_E_IN_USE: return "MSTORE_E_IN_USE: storage group is in use by another opener";
        default:
                if (err < 0 && err > -4096)
                        return strerrordesc_np(-err) ?: "unknown errno";
                return "unknown error";
        }
}
