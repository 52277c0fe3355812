/* SPDX-License-Identifier: MIT */
/*
 * lvss/types.h: the enumerations of the VSS model, spelled LVSS_*, with the
 * same numeric values as the Windows VSS headers so that documentation and
 * tools carry over; plus identifiers and the error-name functions.
 *
 * Thread rules: every function here is pure (no handle) and may be called
 * from any thread.
 */
#ifndef LVSS_TYPES_H
#define LVSS_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include <lvss/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Identifiers (writer class/instance, snapshot, snapshot set, provider) are
 * UUID strings "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (36 characters). */
#define LVSS_ID_MAX 37
typedef struct lvss_id {
        char str[LVSS_ID_MAX];
} lvss_id;

/* [VSS_WRITER_STATE] */
typedef enum lvss_writer_state {
        LVSS_WRITER_STATE_UNKNOWN = 0,
        LVSS_WRITER_STATE_STABLE = 1,
        LVSS_WRITER_STATE_WAITING_FOR_FREEZE = 2,
        LVSS_WRITER_STATE_WAITING_FOR_THAW = 3,
        LVSS_WRITER_STATE_WAITING_FOR_POST_SNAPSHOT = 4,
        LVSS_WRITER_STATE_WAITING_FOR_BACKUP_COMPLETE = 5,
        LVSS_WRITER_STATE_FAILED_AT_IDENTIFY = 6,
        LVSS_WRITER_STATE_FAILED_AT_PREPARE_BACKUP = 7,
        LVSS_WRITER_STATE_FAILED_AT_PREPARE_SNAPSHOT = 8,
        LVSS_WRITER_STATE_FAILED_AT_FREEZE = 9,
        LVSS_WRITER_STATE_FAILED_AT_THAW = 10,
        LVSS_WRITER_STATE_FAILED_AT_POST_SNAPSHOT = 11,
        LVSS_WRITER_STATE_FAILED_AT_BACKUP_COMPLETE = 12,
        LVSS_WRITER_STATE_FAILED_AT_PRE_RESTORE = 13,
        LVSS_WRITER_STATE_FAILED_AT_POST_RESTORE = 14,
        LVSS_WRITER_STATE_FAILED_AT_BACKUP_SHUTDOWN = 15,
        _LVSS_WRITER_STATE_COUNT = 16
} lvss_writer_state;

/* [VSS_BACKUP_TYPE] */
typedef enum lvss_backup_type {
        LVSS_BT_UNDEFINED = 0,
        LVSS_BT_FULL = 1,
        LVSS_BT_INCREMENTAL = 2,
        LVSS_BT_DIFFERENTIAL = 3,
        LVSS_BT_LOG = 4,
        LVSS_BT_COPY = 5,
        LVSS_BT_OTHER = 6
} lvss_backup_type;

/* [VSS_RESTORE_TYPE] */
typedef enum lvss_restore_type {
        LVSS_RTYPE_UNDEFINED = 0,
        LVSS_RTYPE_BY_COPY = 1,
        LVSS_RTYPE_IMPORT = 2,
        LVSS_RTYPE_OTHER = 3
} lvss_restore_type;

/* [VSS_RESTOREMETHOD_ENUM] writer-wide restore method */
typedef enum lvss_restore_method {
        LVSS_RME_UNDEFINED = 0,
        LVSS_RME_RESTORE_IF_NOT_THERE = 1,
        LVSS_RME_RESTORE_IF_CAN_REPLACE = 2,
        LVSS_RME_STOP_RESTORE_START = 3,
        LVSS_RME_RESTORE_TO_ALTERNATE_LOCATION = 4,
        LVSS_RME_RESTORE_AT_REBOOT = 5,
        LVSS_RME_RESTORE_AT_REBOOT_IF_CANNOT_REPLACE = 6,
        LVSS_RME_CUSTOM = 7,
        LVSS_RME_RESTORE_STOP_START = 8
} lvss_restore_method;

/* [VSS_WRITERRESTORE_ENUM] does the writer want restore events */
typedef enum lvss_writer_restore {
        LVSS_WRE_UNDEFINED = 0,
        LVSS_WRE_NEVER = 1,
        LVSS_WRE_IF_REPLACE_FAILS = 2,
        LVSS_WRE_ALWAYS = 3
} lvss_writer_restore;

/* [VSS_RESTORE_TARGET] set by writers in PreRestore */
typedef enum lvss_restore_target {
        LVSS_RT_UNDEFINED = 0,
        LVSS_RT_ORIGINAL = 1,
        LVSS_RT_ALTERNATE = 2,
        LVSS_RT_DIRECTED = 3,
        LVSS_RT_ORIGINAL_LOCATION = 4
} lvss_restore_target;

/* [VSS_FILE_RESTORE_STATUS] set by the requestor before PostRestore */
typedef enum lvss_file_restore_status {
        LVSS_RS_UNDEFINED = 0,
        LVSS_RS_NONE = 1,      /* nothing written; failed cleanly */
        LVSS_RS_ALL = 2,       /* every file restored */
        LVSS_RS_FAILED = 3     /* some files written: component is now corrupt */
} lvss_file_restore_status;

/* [VSS_COMPONENT_TYPE] */
typedef enum lvss_component_type {
        LVSS_CT_UNDEFINED = 0,
        LVSS_CT_DATABASE = 1,
        LVSS_CT_FILEGROUP = 2
} lvss_component_type;

/* [VSS_COMPONENT_FLAGS] */
#define LVSS_CF_BACKUP_RECOVERY 0x1u
#define LVSS_CF_APP_ROLLBACK_RECOVERY 0x2u
#define LVSS_CF_NOT_SYSTEM_STATE 0x4u

/* [VSS_USAGE_TYPE] */
typedef enum lvss_usage_type {
        LVSS_UT_UNDEFINED = 0,
        LVSS_UT_BOOTABLESYSTEMSTATE = 1,
        LVSS_UT_SYSTEMSERVICE = 2,
        LVSS_UT_USERDATA = 3,
        LVSS_UT_OTHER = 4
} lvss_usage_type;

/* [VSS_SOURCE_TYPE] */
typedef enum lvss_source_type {
        LVSS_ST_UNDEFINED = 0,
        LVSS_ST_TRANSACTEDDB = 1,
        LVSS_ST_NONTRANSACTEDDB = 2,
        LVSS_ST_OTHER = 3
} lvss_source_type;

/* [VSS_APPLICATION_LEVEL] Freeze goes FRONT_END, BACK_END, SYSTEM; Thaw in reverse. */
typedef enum lvss_application_level {
        LVSS_APP_AUTO = -1,
        LVSS_APP_UNKNOWN = 0,
        LVSS_APP_SYSTEM = 1,
        LVSS_APP_BACK_END = 2,
        LVSS_APP_FRONT_END = 3,
        LVSS_APP_SYSTEM_RM = 4
} lvss_application_level;

/* [VSS_VOLUME_SNAPSHOT_ATTRIBUTES] bits of a context */
#define LVSS_VOLSNAP_ATTR_PERSISTENT 0x1u
#define LVSS_VOLSNAP_ATTR_NO_AUTORECOVERY 0x2u
#define LVSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE 0x4u
#define LVSS_VOLSNAP_ATTR_NO_AUTO_RELEASE 0x8u
#define LVSS_VOLSNAP_ATTR_NO_WRITERS 0x10u
#define LVSS_VOLSNAP_ATTR_TRANSPORTABLE 0x20u

/* [VSS_SNAPSHOT_CONTEXT] (a uint32_t: an OR of the attribute bits above) */
#define LVSS_CTX_BACKUP 0x00u                     /* writers, auto-release (default) */
#define LVSS_CTX_FILE_SHARE_BACKUP 0x10u          /* no writers, auto-release */
#define LVSS_CTX_NAS_ROLLBACK 0x19u               /* no writers, persistent */
#define LVSS_CTX_APP_ROLLBACK 0x09u               /* writers, persistent */
#define LVSS_CTX_CLIENT_ACCESSIBLE 0x1Du          /* no writers, persistent */
#define LVSS_CTX_CLIENT_ACCESSIBLE_WRITERS 0x0Du  /* writers, persistent */
#define LVSS_CTX_ALL 0xFFFFFFFFu                  /* query and delete only */

/* [VSS_BACKUP_SCHEMA] what a writer supports (lvss_metadata_builder_set_backup_schema) */
#define LVSS_BS_UNDEFINED 0x0u
#define LVSS_BS_DIFFERENTIAL 0x1u
#define LVSS_BS_INCREMENTAL 0x2u
#define LVSS_BS_EXCLUSIVE_INCREMENTAL_DIFFERENTIAL 0x4u
#define LVSS_BS_LOG 0x8u
#define LVSS_BS_COPY 0x10u
#define LVSS_BS_TIMESTAMPED 0x20u
#define LVSS_BS_LAST_MODIFY 0x40u
#define LVSS_BS_LSN 0x80u
#define LVSS_BS_WRITER_SUPPORTS_NEW_TARGET 0x100u
#define LVSS_BS_WRITER_SUPPORTS_RESTORE_WITH_MOVE 0x200u
#define LVSS_BS_INDEPENDENT_SYSTEM_STATE 0x400u
#define LVSS_BS_ROLLFORWARD_RESTORE 0x1000u
#define LVSS_BS_RESTORE_RENAME 0x2000u
#define LVSS_BS_AUTHORITATIVE_RESTORE 0x4000u
#define LVSS_BS_WRITER_SUPPORTS_PARALLEL_RESTORES 0x8000u

/* [VSS_FILE_SPEC_BACKUP_TYPE] per file set */
#define LVSS_FSBT_FULL_BACKUP_REQUIRED 0x1u
#define LVSS_FSBT_DIFFERENTIAL_BACKUP_REQUIRED 0x2u
#define LVSS_FSBT_INCREMENTAL_BACKUP_REQUIRED 0x4u
#define LVSS_FSBT_LOG_BACKUP_REQUIRED 0x8u
#define LVSS_FSBT_FULL_SNAPSHOT_REQUIRED 0x100u
#define LVSS_FSBT_DIFFERENTIAL_SNAPSHOT_REQUIRED 0x200u
#define LVSS_FSBT_INCREMENTAL_SNAPSHOT_REQUIRED 0x400u
#define LVSS_FSBT_LOG_SNAPSHOT_REQUIRED 0x800u
#define LVSS_FSBT_CREATED_DURING_BACKUP 0x10000u
#define LVSS_FSBT_ALL_BACKUP_REQUIRED 0xFu
#define LVSS_FSBT_ALL_SNAPSHOT_REQUIRED 0xF00u
#define LVSS_FSBT_DEFAULT 0xF0Fu

/* [VSS_SUBSCRIBE_MASK] (lvss_writer_subscribe) */
#define LVSS_SM_POST_SNAPSHOT_FLAG 0x1u
#define LVSS_SM_BACKUP_EVENTS_FLAG 0x2u
#define LVSS_SM_RESTORE_EVENTS_FLAG 0x4u
#define LVSS_SM_ALL_FLAGS 0xFFFFFFFFu

/* [VSS_OBJECT_TYPE] (lvss_backup_delete_snapshots) */
typedef enum lvss_object_type {
        LVSS_OBJECT_UNKNOWN = 0,
        LVSS_OBJECT_NONE = 1,
        LVSS_OBJECT_SNAPSHOT_SET = 2,
        LVSS_OBJECT_SNAPSHOT = 3,
        LVSS_OBJECT_PROVIDER = 4
} lvss_object_type;

/* [VSS_PROVIDER_TYPE] */
typedef enum lvss_provider_type {
        LVSS_PROV_UNKNOWN = 0,
        LVSS_PROV_SYSTEM = 1,
        LVSS_PROV_SOFTWARE = 2,
        LVSS_PROV_HARDWARE = 3,
        LVSS_PROV_FILESHARE = 4
} lvss_provider_type;

/* [VSS_SNAPSHOT_STATE] (the states a finished query can show) */
typedef enum lvss_snapshot_state {
        LVSS_SS_UNKNOWN = 0,
        LVSS_SS_PREPARED = 3,
        LVSS_SS_COMMITTED = 7,
        LVSS_SS_CREATED = 12,
        LVSS_SS_ABORTED = 13,
        LVSS_SS_DELETED = 14
} lvss_snapshot_state;

/*
 * Error names and messages.  Both accept any value a lvss function returns:
 * an LVSS_E_* code, a negative errno, or 0.  The returned strings are static.
 *
 * lvss_error_name(LVSS_E_BAD_STATE) == "LVSS_E_BAD_STATE" (used as
 * "last_error" in JSON); for a negative errno it is the errno name
 * ("ENOMEM"), for an unknown value "LVSS_E_UNKNOWN", for 0 "OK".
 */
const char *lvss_error_name(int code);
/* One line saying what the code means ("call out of order"). */
const char *lvss_strerror(int code);
/* Inverse of lvss_error_name for LVSS_E_* names; 0 if unknown. */
int lvss_error_from_name(const char *name);

/*
 * Enum spellings used in documents, JSON and lvssadm output: lower case with
 * underscores ("waiting_for_freeze", "full", "filegroup", "front_end", ...).
 * *_to_string returns a static string or NULL for an invalid value;
 * *_from_string returns the value or a negative -EINVAL.
 */
const char *lvss_writer_state_to_string(lvss_writer_state s);
int lvss_writer_state_from_string(const char *s);
const char *lvss_backup_type_to_string(lvss_backup_type t);
int lvss_backup_type_from_string(const char *s);
const char *lvss_restore_type_to_string(lvss_restore_type t);
int lvss_restore_type_from_string(const char *s);
const char *lvss_restore_method_to_string(lvss_restore_method m);
int lvss_restore_method_from_string(const char *s);
const char *lvss_writer_restore_to_string(lvss_writer_restore w);
int lvss_writer_restore_from_string(const char *s);
const char *lvss_restore_target_to_string(lvss_restore_target t);
int lvss_restore_target_from_string(const char *s);
const char *lvss_file_restore_status_to_string(lvss_file_restore_status s);
int lvss_file_restore_status_from_string(const char *s);
const char *lvss_component_type_to_string(lvss_component_type t);
int lvss_component_type_from_string(const char *s);
const char *lvss_usage_type_to_string(lvss_usage_type t);
int lvss_usage_type_from_string(const char *s);
const char *lvss_source_type_to_string(lvss_source_type t);
int lvss_source_type_from_string(const char *s);
/* Levels may be negative (LVSS_APP_AUTO), so this one returns 0 and sets
 * *ret_level, or -EINVAL. */
const char *lvss_application_level_to_string(lvss_application_level l);
int lvss_application_level_from_string(const char *s, lvss_application_level *ret_level);
/* "backup", "file_share_backup", "nas_rollback", "app_rollback",
 * "client_accessible", "client_accessible_writers"; NULL for other values.
 * lvss_context_from_string returns 0 and sets *ret_context, or -EINVAL. */
const char *lvss_context_to_string(uint32_t context);
int lvss_context_from_string(const char *s, uint32_t *ret_context);

/* Free memory that a lvss function handed to the caller (documents as JSON
 * strings, property arrays' strings).  NULL is a no-op. */
void lvss_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
