/* SPDX-License-Identifier: MIT */
/*
 * lvss/error.h: error codes shared by every lvss API.
 *
 * Every fallible lvss function returns int: 0 (or a non-negative count) on
 * success, a negative value on failure.  Failures are either a negative errno
 * (-ENOMEM, -EIO, -EACCES, ...) for operating-system conditions, or one of the
 * LVSS_E_* codes below for VSS-domain conditions.  The LVSS_E_* codes live in
 * a range far below any errno value and keep their numbers forever; each
 * carries the name and meaning of the VSS HRESULT it mirrors (in brackets).
 */
#ifndef LVSS_ERROR_H
#define LVSS_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum lvss_error {
        LVSS_E_BAD_STATE = -0x5001,                 /* [VSS_E_BAD_STATE] call out of order */
        LVSS_E_PROVIDER_ALREADY_REGISTERED = -0x5002,
        LVSS_E_PROVIDER_NOT_REGISTERED = -0x5003,   /* no such provider */
        LVSS_E_PROVIDER_VETO = -0x5004,             /* provider refused the operation */
        LVSS_E_PROVIDER_IN_USE = -0x5005,
        LVSS_E_OBJECT_NOT_FOUND = -0x5006,          /* no such snapshot, set, writer or component */
        LVSS_E_VOLUME_NOT_SUPPORTED = -0x5007,      /* no provider can snapshot this path */
        LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER = -0x5008,
        LVSS_E_OBJECT_ALREADY_EXISTS = -0x5009,
        LVSS_E_UNEXPECTED_PROVIDER_ERROR = -0x500a,
        LVSS_E_CORRUPT_XML_DOCUMENT = -0x500b,      /* a metadata or components document is malformed */
        LVSS_E_INVALID_XML_DOCUMENT = -0x500c,      /* well-formed but violates the schema */
        LVSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED = -0x500d,
        LVSS_E_FLUSH_WRITES_TIMEOUT = -0x500e,      /* freeze did not complete in time */
        LVSS_E_HOLD_WRITES_TIMEOUT = -0x500f,       /* commit window exceeded its limit */
        LVSS_E_UNEXPECTED_WRITER_ERROR = -0x5010,   /* events could not be delivered to writers */
        LVSS_E_SNAPSHOT_SET_IN_PROGRESS = -0x5011,  /* another snapshot set is being created */
        LVSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED = -0x5012,
        LVSS_E_WRITER_INFRASTRUCTURE = -0x5013,     /* coordinator unreachable or broken */
        LVSS_E_WRITER_NOT_RESPONDING = -0x5014,     /* writer did not answer in time */
        LVSS_E_WRITER_ALREADY_SUBSCRIBED = -0x5015,
        LVSS_E_UNSUPPORTED_CONTEXT = -0x5016,
        LVSS_E_VOLUME_IN_USE = -0x5017,
        LVSS_E_INSUFFICIENT_STORAGE = -0x5018,
        LVSS_E_NESTED_VOLUME_LIMIT = -0x5019,
        LVSS_E_WRITER_STATUS_NOT_AVAILABLE = -0x501a,
        LVSS_E_ASYNC_PENDING = -0x501b,             /* [VSS_S_ASYNC_PENDING as an error] not finished */
        LVSS_E_ASYNC_CANCELLED = -0x501c,           /* [VSS_S_ASYNC_CANCELLED] */
        LVSS_E_ACCESS_DENIED = -0x501d,             /* caller's credentials do not allow this call */
        LVSS_E_WRONG_THREAD = -0x501e,              /* handle used from a thread other than its creator */
        LVSS_E_TIMEOUT = -0x501f,                   /* wait timed out */
        LVSS_E_BACKUP_REFUSED = -0x5020,            /* a writer vetoed the backup; see its failure */

        /* Writer failure codes [VSS_E_WRITERERROR_*], for lvss_writer_set_failure(). */
        LVSS_E_WRITERERROR_INCONSISTENTSNAPSHOT = -0x5100, /* set lacks volumes this writer needs */
        LVSS_E_WRITERERROR_OUTOFRESOURCES = -0x5101,
        LVSS_E_WRITERERROR_TIMEOUT = -0x5102,              /* Freeze->Thaw exceeded the timeout */
        LVSS_E_WRITERERROR_RETRYABLE = -0x5103,
        LVSS_E_WRITERERROR_NONRETRYABLE = -0x5104,
        LVSS_E_WRITERERROR_RECOVERY_FAILED = -0x5105,
        LVSS_E_WRITERERROR_PARTIAL_FAILURE = -0x5106,
        /* Busy with another backup or restore: retry later.  lvssd answers a
         * veto with this code as the call's own error (tools exit 4). */
        LVSS_E_WRITERERROR_BUSY = -0x5107,

        _LVSS_E_FIRST = -0x5200, /* lowest value reserved for LVSS_E_* */
};

#ifdef __cplusplus
}
#endif
#endif
