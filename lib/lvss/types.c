/* SPDX-License-Identifier: MIT */
/*
 * Names and messages of error codes, and the string spellings of the VSS
 * enums used in documents and JSON output.
 */
#include <errno.h>
#include <string.h>

#include <lvss/types.h>

#include "lib/core/macro.h"

static const struct {
        int code;
        const char *name;
        const char *msg;
} errors[] = {
#define E(c, m) { c, #c, m }
        E(LVSS_E_BAD_STATE, "call out of order"),
        E(LVSS_E_PROVIDER_ALREADY_REGISTERED, "provider already registered"),
        E(LVSS_E_PROVIDER_NOT_REGISTERED, "no such provider"),
        E(LVSS_E_PROVIDER_VETO, "provider refused the operation"),
        E(LVSS_E_PROVIDER_IN_USE, "provider in use"),
        E(LVSS_E_OBJECT_NOT_FOUND, "no such snapshot, set, writer or component"),
        E(LVSS_E_VOLUME_NOT_SUPPORTED, "no provider can snapshot this path"),
        E(LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER, "the provider cannot snapshot this path"),
        E(LVSS_E_OBJECT_ALREADY_EXISTS, "object already exists"),
        E(LVSS_E_UNEXPECTED_PROVIDER_ERROR, "unexpected provider error"),
        E(LVSS_E_CORRUPT_XML_DOCUMENT, "document is malformed"),
        E(LVSS_E_INVALID_XML_DOCUMENT, "document violates the schema"),
        E(LVSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED, "too many volumes in the snapshot set"),
        E(LVSS_E_FLUSH_WRITES_TIMEOUT, "freeze did not complete in time"),
        E(LVSS_E_HOLD_WRITES_TIMEOUT, "commit window exceeded its limit"),
        E(LVSS_E_UNEXPECTED_WRITER_ERROR, "events could not be delivered to writers"),
        E(LVSS_E_SNAPSHOT_SET_IN_PROGRESS, "another snapshot set is being created"),
        E(LVSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, "too many snapshots"),
        E(LVSS_E_WRITER_INFRASTRUCTURE, "coordinator unreachable or broken"),
        E(LVSS_E_WRITER_NOT_RESPONDING, "writer did not answer in time"),
        E(LVSS_E_WRITER_ALREADY_SUBSCRIBED, "writer already subscribed"),
        E(LVSS_E_UNSUPPORTED_CONTEXT, "unsupported snapshot context"),
        E(LVSS_E_VOLUME_IN_USE, "volume in use"),
        E(LVSS_E_INSUFFICIENT_STORAGE, "not enough storage for the snapshot"),
        E(LVSS_E_NESTED_VOLUME_LIMIT, "nested volume limit reached"),
        E(LVSS_E_WRITER_STATUS_NOT_AVAILABLE, "writer status not available"),
        E(LVSS_E_ASYNC_PENDING, "operation still pending"),
        E(LVSS_E_ASYNC_CANCELLED, "operation cancelled"),
        E(LVSS_E_ACCESS_DENIED, "access denied"),
        E(LVSS_E_WRONG_THREAD, "handle used from a thread other than its creator"),
        E(LVSS_E_TIMEOUT, "wait timed out"),
        E(LVSS_E_BACKUP_REFUSED, "a writer vetoed the operation"),
        E(LVSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, "snapshot set lacks volumes the writer needs"),
        E(LVSS_E_WRITERERROR_OUTOFRESOURCES, "writer ran out of resources"),
        E(LVSS_E_WRITERERROR_TIMEOUT, "writer's freeze window exceeded its timeout"),
        E(LVSS_E_WRITERERROR_RETRYABLE, "transient writer error; retry"),
        E(LVSS_E_WRITERERROR_NONRETRYABLE, "writer error; retrying will not help"),
        E(LVSS_E_WRITERERROR_RECOVERY_FAILED, "writer's recovery of the snapshot failed"),
        E(LVSS_E_WRITERERROR_PARTIAL_FAILURE, "writer failed some components"),
        E(LVSS_E_WRITERERROR_BUSY, "writer busy with another backup or restore; retry later"),
#undef E
};

static const char *const errno_names[] = {
        [EPERM] = "EPERM", [ENOENT] = "ENOENT", [EIO] = "EIO", [E2BIG] = "E2BIG",
        [EBADF] = "EBADF", [EAGAIN] = "EAGAIN", [ENOMEM] = "ENOMEM", [EACCES] = "EACCES",
        [EBUSY] = "EBUSY", [EEXIST] = "EEXIST", [EXDEV] = "EXDEV", [ENODEV] = "ENODEV",
        [ENOTDIR] = "ENOTDIR", [EISDIR] = "EISDIR", [EINVAL] = "EINVAL", [ENOSPC] = "ENOSPC",
        [EROFS] = "EROFS", [EPIPE] = "EPIPE", [ERANGE] = "ERANGE", [ENAMETOOLONG] = "ENAMETOOLONG",
        [ENOSYS] = "ENOSYS", [ENOTEMPTY] = "ENOTEMPTY", [ELOOP] = "ELOOP", [ENODATA] = "ENODATA",
        [ETIME] = "ETIME", [EBADMSG] = "EBADMSG", [EOVERFLOW] = "EOVERFLOW",
        [EOPNOTSUPP] = "EOPNOTSUPP", [ECONNRESET] = "ECONNRESET", [ENOTCONN] = "ENOTCONN",
        [ETIMEDOUT] = "ETIMEDOUT", [ECONNREFUSED] = "ECONNREFUSED", [ESTALE] = "ESTALE",
        [ECANCELED] = "ECANCELED", [ENOMEDIUM] = "ENOMEDIUM", [EPROTO] = "EPROTO",
        [ENXIO] = "ENXIO", [ESRCH] = "ESRCH", [EINTR] = "EINTR", [ECHILD] = "ECHILD",
        [EFAULT] = "EFAULT", [ENOTTY] = "ENOTTY", [EFBIG] = "EFBIG", [EMFILE] = "EMFILE",
};

const char *lvss_error_name(int code) {
        if (code == 0)
                return "OK";
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                if (errors[i].code == code)
                        return errors[i].name;
        if (code < 0 && -code < (int) ELEMENTSOF(errno_names) && errno_names[-code])
                return errno_names[-code];
        return "LVSS_E_UNKNOWN";
}

const char *lvss_strerror(int code) {
        if (code == 0)
                return "success";
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                if (errors[i].code == code)
                        return errors[i].msg;
        if (code < 0 && code > _LVSS_E_FIRST + 0x100 && code > -4096)
                return strerror(-code);
        return "unknown error";
}

int lvss_error_from_name(const char *name) {
        if (!name)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                if (strcmp(errors[i].name, name) == 0)
                        return errors[i].code;
        return 0;
}

static int lookup(const char *const *table, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && strcmp(table[i], s) == 0)
                        return (int) i;
        return -EINVAL;
}

#define STRING_TABLE(name, type, ...)                                                  \
        static const char *const name##_table[] = { __VA_ARGS__ };                     \
        const char *lvss_##name##_to_string(type v) {                                  \
                if ((int) v < 0 || (size_t) v >= ELEMENTSOF(name##_table))             \
                        return NULL;                                                   \
                return name##_table[v];                                                \
        }                                                                              \
        int lvss_##name##_from_string(const char *s) {                                 \
                return lookup(name##_table, ELEMENTSOF(name##_table), s);              \
        }

STRING_TABLE(writer_state, lvss_writer_state,
             "unknown", "stable", "waiting_for_freeze", "waiting_for_thaw",
             "waiting_for_post_snapshot", "waiting_for_backup_complete", "failed_at_identify",
             "failed_at_prepare_backup", "failed_at_prepare_snapshot", "failed_at_freeze",
             "failed_at_thaw", "failed_at_post_snapshot", "failed_at_backup_complete",
             "failed_at_pre_restore", "failed_at_post_restore", "failed_at_backup_shutdown")
STRING_TABLE(backup_type, lvss_backup_type,
             "undefined", "full", "incremental", "differential", "log", "copy", "other")
STRING_TABLE(restore_type, lvss_restore_type, "undefined", "by_copy", "import", "other")
STRING_TABLE(restore_method, lvss_restore_method,
             "undefined", "restore_if_not_there", "restore_if_can_replace", "stop_restore_start",
             "restore_to_alternate_location", "restore_at_reboot",
             "restore_at_reboot_if_cannot_replace", "custom", "restore_stop_start")
STRING_TABLE(writer_restore, lvss_writer_restore, "undefined", "never", "if_replace_fails", "always")
STRING_TABLE(restore_target, lvss_restore_target,
             "undefined", "original", "alternate", "directed", "original_location")
STRING_TABLE(file_restore_status, lvss_file_restore_status, "undefined", "none", "all", "failed")
STRING_TABLE(component_type, lvss_component_type, "undefined", "database", "filegroup")
STRING_TABLE(usage_type, lvss_usage_type,
             "undefined", "bootable_system_state", "system_service", "user_data", "other")
STRING_TABLE(source_type, lvss_source_type,
             "undefined", "transacted_db", "nontransacted_db", "other")

static const char *const level_table[] = { "unknown", "system", "back_end", "front_end", "system_rm" };

const char *lvss_application_level_to_string(lvss_application_level l) {
        if (l == LVSS_APP_AUTO)
                return "auto";
        if ((int) l < 0 || (size_t) l >= ELEMENTSOF(level_table))
                return NULL;
        return level_table[l];
}

int lvss_application_level_from_string(const char *s, lvss_application_level *ret_level) {
        int r;

        if (!s || !ret_level)
                return -EINVAL;
        if (strcmp(s, "auto") == 0) {
                *ret_level = LVSS_APP_AUTO;
                return 0;
        }
        r = lookup(level_table, ELEMENTSOF(level_table), s);
        if (r < 0)
                return r;
        *ret_level = (lvss_application_level) r;
        return 0;
}

static const struct {
        uint32_t ctx;
        const char *name;
} contexts[] = {
        { LVSS_CTX_BACKUP, "backup" },
        { LVSS_CTX_FILE_SHARE_BACKUP, "file_share_backup" },
        { LVSS_CTX_NAS_ROLLBACK, "nas_rollback" },
        { LVSS_CTX_APP_ROLLBACK, "app_rollback" },
        { LVSS_CTX_CLIENT_ACCESSIBLE, "client_accessible" },
        { LVSS_CTX_CLIENT_ACCESSIBLE_WRITERS, "client_accessible_writers" },
};

const char *lvss_context_to_string(uint32_t context) {
        for (size_t i = 0; i < ELEMENTSOF(contexts); i++)
                if (contexts[i].ctx == context)
                        return contexts[i].name;
        return NULL;
}

int lvss_context_from_string(const char *s, uint32_t *ret_context) {
        if (!s || !ret_context)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(contexts); i++)
                if (strcmp(contexts[i].name, s) == 0) {
                        *ret_context = contexts[i].ctx;
                        return 0;
                }
        return -EINVAL;
}

void lvss_free(void *p) {
        free(p);
}
