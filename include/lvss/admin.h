/* SPDX-License-Identifier: MIT */
/*
 * lvss/admin.h: administration queries of lvssd for tools (lvssadm)
 * [IVssAdmin, vssadmin list ...].
 *
 * Every call returns one JSON document in the shape docs/interfaces.md gives for
 * the matching lvssadm command; the caller frees it with lvss_free().  Errors:
 * LVSS_E_WRITER_INFRASTRUCTURE (lvssd not reachable), LVSS_E_ACCESS_DENIED
 * (listing needs no rights; deleting needs requestor rights), -ENOMEM.
 *
 * Threads: an lvss_admin belongs to the thread that created it
 * (LVSS_E_WRONG_THREAD otherwise).
 */
#ifndef LVSS_ADMIN_H
#define LVSS_ADMIN_H

#include <stddef.h>

#include <lvss/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lvss_admin lvss_admin;

/* Connect ($LVSS_BUS or the system bus).  The caller owns *ret. */
int lvss_admin_new(lvss_admin **ret);
/* NULL-safe; returns NULL. */
lvss_admin *lvss_admin_free(lvss_admin *a);
/* One line about the last failure ("" if none), borrowed. */
const char *lvss_admin_last_error(const lvss_admin *a);

/* {"writers":[{"name","class_id","instance_id","instance_name","state","last_error"}]} */
int lvss_admin_list_writers(lvss_admin *a, char **ret_json);
/* {"providers":[{"id","name","type"}]} */
int lvss_admin_list_providers(lvss_admin *a, char **ret_json);
/* {"shadows":[{"id","set_id","original","path","provider","context","created"}]}
 * created: RFC 3339 UTC time string. */
int lvss_admin_list_shadows(lvss_admin *a, char **ret_json);
/* {"set_in_progress": null|id, "frozen_filesystems": [...], "counters": {...}} */
int lvss_admin_status(lvss_admin *a, char **ret_json);
/* {"writers":[<WRITER_METADATA document>, ...]} (sends Identify to every writer). */
int lvss_admin_writer_metadata(lvss_admin *a, char **ret_json);
/* Delete snapshots: exactly one of set_id, shadow_id non-NULL, or all != 0.
 * *ret_deleted (may be NULL) gets the number deleted.  Errors:
 * LVSS_E_OBJECT_NOT_FOUND, LVSS_E_ACCESS_DENIED, LVSS_E_BAD_STATE (the set is
 * still being created). */
int lvss_admin_delete_shadows(lvss_admin *a, const char *set_id, const char *shadow_id, int all,
                              size_t *ret_deleted);

#ifdef __cplusplus
}
#endif
#endif
