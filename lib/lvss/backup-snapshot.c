/* SPDX-License-Identifier: MIT */
/*
 * The snapshot set of a backup session: StartSnapshotSet, IsVolumeSupported,
 * AddToSnapshotSet, PrepareForBackup, DoSnapshotSet, writer status, the
 * freeze window, snapshot properties and queries, BackupComplete,
 * AbortBackup, DeleteSnapshots.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lvss/requestor.h>

#include "lib/core/array.h"
#include "lib/lvss/backup-int.h"
#include "lib/lvss/libbus.h"

/* --------------------------------------------------------------- snapshots */

int lvss_backup_start_snapshot_set(lvss_backup *b, lvss_id *ret_set_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *id;
        int r;

        CHECK(b);
        if (b->mode != M_BACKUP || !in_order(b, M_START_SNAPSHOT_SET))
                return BAD_STATE(b, "start snapshot set");
        r = backup_call(b, "start snapshot set", b->session, "StartSnapshotSet", &reply, "u", b->context);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &id);
        if (r < 0 || !lvss_doc_is_uuid(id))
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "start snapshot set: malformed reply");
        snprintf(b->set_id.str, sizeof(b->set_id.str), "%s", id);
        free(b->bcd->set_id);
        b->bcd->set_id = strdup(id);
        b->state = state_after(b->state, M_START_SNAPSHOT_SET);
        if (ret_set_id)
                *ret_set_id = b->set_id;
        return 0;
}

int lvss_backup_is_volume_supported(lvss_backup *b, const char *provider, const char *path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *why;
        int ok, r;

        CHECK(b);
        if (!path)
                return backup_fail(b, -EINVAL, "is volume supported: path required");
        if (!b->session)
                return BAD_STATE(b, "is volume supported");
        r = backup_call(b, "is volume supported", b->session, "IsVolumeSupported", &reply, "ss", provider ? provider : "", path);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "bs", &ok, &why);
        if (r < 0)
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "is volume supported: malformed reply");
        if (!ok)
                backup_fail(b, 0, "%s", why);
        return ok ? 1 : 0;
}

int lvss_backup_add_to_snapshot_set(lvss_backup *b, const char *path, const char *provider,
                                    lvss_id *ret_snapshot_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *id;
        int r;

        CHECK(b);
        if (!path)
                return backup_fail(b, -EINVAL, "add to snapshot set: path required");
        if (b->mode != M_BACKUP || b->aborted || !in_order(b, M_ADD_TO_SNAPSHOT_SET))
                return BAD_STATE(b, "add to snapshot set");
        r = backup_call(b, "add to snapshot set", b->session, "AddToSnapshotSet", &reply, "ss", path, provider ? provider : "");
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &id);
        if (r < 0 || !lvss_doc_is_uuid(id))
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "add to snapshot set: malformed reply");
        if (ret_snapshot_id)
                snprintf(ret_snapshot_id->str, sizeof(ret_snapshot_id->str), "%s", id);
        return 0;
}

int lvss_backup_prepare_for_backup(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        /* Not the table's rule (see lib/lvss/state.h): gathered is checked
         * below with its own message, writerless is left to lvssd. */
        if (b->mode != M_BACKUP || !set_started(b) || prepared(b) || b->aborted)
                return BAD_STATE(b, "prepare for backup");
        if (!b->gathered)
                return backup_fail(b, LVSS_E_BAD_STATE, "prepare for backup: call out of order: gather writer metadata first");
        return backup_start_async(b, OP_PREPARE, "PrepareForBackup", true, ret_async);
}

int lvss_backup_do_snapshot_set(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        if (b->mode != M_BACKUP || b->aborted || !in_order(b, M_DO_SNAPSHOT_SET))
                return BAD_STATE(b, "do snapshot set");
        return backup_start_async(b, OP_DO_SNAPSHOT, "DoSnapshotSet", true, ret_async);
}

int lvss_backup_gather_writer_status(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        if (!in_order(b, M_GATHER_WRITER_STATUS))
                return BAD_STATE(b, "gather writer status");
        return backup_start_async(b, OP_GATHER_STATUS, "GatherWriterStatus", false, ret_async);
}

int lvss_backup_get_writer_status_count(lvss_backup *b) {
        CHECK(b);
        return (int) b->n_st;
}

int lvss_backup_get_writer_status(lvss_backup *b, size_t i, lvss_writer_status *ret) {
        CHECK(b);
        if (!ret)
                return -EINVAL;
        if (i >= b->n_st)
                return backup_fail(b, LVSS_E_OBJECT_NOT_FOUND, "get writer status: no writer %zu", i);
        *ret = (lvss_writer_status) {
                .instance_id = b->st[i].instance_id,
                .writer_id = b->st[i].writer_id,
                .writer_name = b->st[i].name,
                .instance_name = b->st[i].instance_name,
                .state = (lvss_writer_state) b->st[i].state,
                .failure = b->st[i].failure,
                .application_error = b->st[i].app_error,
                .message = b->st[i].message,
                .freeze_window_usec = b->st[i].freeze_window,
        };
        return 0;
}

int lvss_backup_free_writer_status(lvss_backup *b) {
        CHECK(b);
        backup_status_clear(b);
        return 0;
}

int lvss_backup_get_freeze_window(lvss_backup *b, uint64_t *ret_usec) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint64_t t;
        int r;

        CHECK(b);
        if (!ret_usec)
                return -EINVAL;
        if (!in_order(b, M_GET_FREEZE_WINDOW))
                return BAD_STATE(b, "get freeze window");
        r = backup_call(b, "get freeze window", b->session, "GetFreezeWindow", &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "t", &t);
        if (r < 0)
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "get freeze window: malformed reply");
        *ret_usec = t;
        return 0;
}

void lvss_snapshot_prop_clear(lvss_snapshot_prop *p) {
        if (!p)
                return;
        free(p->original);
        free(p->volume);
        free(p->path);
        free(p->provider_name);
        *p = (lvss_snapshot_prop) {};
}

void lvss_snapshot_props_free(lvss_snapshot_prop *props, size_t n) {
        for (size_t i = 0; props && i < n; i++)
                lvss_snapshot_prop_clear(&props[i]);
        free(props);
}

static int list_json(lvss_backup *b, const char *method, json_t **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        json_error_t err;
        const char *text;
        int r;

        r = backup_call(b, method, NULL, method, &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0 || !(*ret = json_loads(text, 0, &err)))
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "%s: malformed reply", method);
        return 0;
}

static int prop_from_json(json_t *e, lvss_snapshot_prop *p, size_t count) {
        const char *id, *set_id, *orig, *vol, *path, *prov_id, *prov, *state;
        json_int_t ctx, created;

        if (json_unpack(e, "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "id", &id, "set_id", &set_id,
                        "original", &orig, "volume", &vol, "path", &path, "provider_id", &prov_id, "provider", &prov,
                        "context_flags", &ctx, "created_usec", &created, "state", &state) < 0)
                return -EBADMSG;
        *p = (lvss_snapshot_prop) {
                .snapshots_count = (int32_t) count, .context = (uint32_t) ctx, .created_usec = (uint64_t) created,
                .state = strcmp(state, "created") == 0 ? LVSS_SS_CREATED : LVSS_SS_PREPARED,
        };
        snprintf(p->snapshot_id.str, LVSS_ID_MAX, "%s", id);
        snprintf(p->snapshot_set_id.str, LVSS_ID_MAX, "%s", set_id);
        snprintf(p->provider_id.str, LVSS_ID_MAX, "%s", prov_id);
        p->original = strdup(orig);
        p->volume = strdup(vol);
        p->path = strdup(path);
        p->provider_name = strdup(prov);
        if (!p->original || !p->volume || !p->path || !p->provider_name) {
                lvss_snapshot_prop_clear(p);
                return -ENOMEM;
        }
        return 0;
}

static size_t set_count(json_t *a, const char *set_id) {
        size_t i, n = 0;
        json_t *e;
        json_array_foreach(a, i, e) {
                const char *s = json_string_value(json_object_get(e, "set_id"));
                if (s && strcmp(s, set_id) == 0)
                        n++;
        }
        return n;
}

int lvss_backup_get_snapshot_properties(lvss_backup *b, const char *snapshot_id, lvss_snapshot_prop *ret) {
        json_t *root, *a, *e;
        size_t i;
        int r;

        CHECK(b);
        if (!snapshot_id || !ret)
                return backup_fail(b, -EINVAL, "get snapshot properties: id and result required");
        r = list_json(b, "ListShadows", &root);
        if (r < 0)
                return r;
        a = json_object_get(root, "shadows");
        r = backup_fail(b, LVSS_E_OBJECT_NOT_FOUND, "get snapshot properties: no snapshot %s", snapshot_id);
        json_array_foreach(a, i, e) {
                const char *id = json_string_value(json_object_get(e, "id"));
                if (id && strcmp(id, snapshot_id) == 0) {
                        error_slot_clear(&b->error);
                        r = prop_from_json(e, ret, set_count(a, json_string_value(json_object_get(e, "set_id")) ?: ""));
                        break;
                }
        }
        json_decref(root);
        return r;
}

int lvss_backup_query_snapshots(lvss_backup *b, lvss_snapshot_prop **ret_props, size_t *ret_n) {
        json_t *root, *a, *e;
        lvss_snapshot_prop *v;
        size_t i, n = 0;
        int r;

        CHECK(b);
        if (!ret_props || !ret_n)
                return -EINVAL;
        r = list_json(b, "ListShadows", &root);
        if (r < 0)
                return r;
        a = json_object_get(root, "shadows");
        v = calloc(json_array_size(a) + 1, sizeof(*v));
        if (!v) {
                json_decref(root);
                return -ENOMEM;
        }
        json_array_foreach(a, i, e) {
                r = prop_from_json(e, &v[n], set_count(a, json_string_value(json_object_get(e, "set_id")) ?: ""));
                if (r < 0) {
                        lvss_snapshot_props_free(v, n);
                        json_decref(root);
                        return backup_fail(b, r, "query snapshots: malformed reply");
                }
                n++;
        }
        json_decref(root);
        *ret_props = v;
        *ret_n = n;
        return 0;
}

int lvss_backup_query_providers(lvss_backup *b, lvss_provider_prop **ret_props, size_t *ret_n) {
        json_t *root, *a, *e;
        lvss_provider_prop *v;
        size_t i, n = 0;
        int r;

        CHECK(b);
        if (!ret_props || !ret_n)
                return -EINVAL;
        r = list_json(b, "ListProviders", &root);
        if (r < 0)
                return r;
        a = json_object_get(root, "providers");
        v = calloc(json_array_size(a) + 1, sizeof(*v));
        if (!v) {
                json_decref(root);
                return -ENOMEM;
        }
        json_array_foreach(a, i, e) {
                snprintf(v[n].provider_id.str, LVSS_ID_MAX, "%s", json_string_value(json_object_get(e, "id")) ?: "");
                snprintf(v[n].name, sizeof(v[n].name), "%s", json_string_value(json_object_get(e, "name")) ?: "");
                snprintf(v[n].type, sizeof(v[n].type), "%s", json_string_value(json_object_get(e, "type")) ?: "");
                v[n].version = 1;
                n++;
        }
        json_decref(root);
        *ret_props = v;
        *ret_n = n;
        return 0;
}

int lvss_backup_get_snapshot_path(lvss_backup *b, const char *path, char **ret_path) {
        const lvss_doc_snapshot *s;

        CHECK(b);
        if (!path || !ret_path)
                return -EINVAL;
        if (!snapshot_done(b))
                return BAD_STATE(b, "get snapshot path");
        s = lvss_doc_bcd_find_snapshot_for(b->bcd, path);
        if (!s || lvss_doc_snapshot_path(s, path, ret_path) < 0)
                return backup_fail(b, LVSS_E_OBJECT_NOT_FOUND, "get snapshot path: no snapshot of this set covers '%s'", path);
        return 0;
}

int lvss_backup_backup_complete(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        /* writerless: its own message below */
        if (b->mode != M_BACKUP || b->aborted || b->state != S_SNAPSHOT_DONE)
                return BAD_STATE(b, "backup complete");
        if (b->context & LVSS_VOLSNAP_ATTR_NO_WRITERS)
                return backup_fail(b, LVSS_E_BAD_STATE, "backup complete: context %s has no writers", lvss_context_to_string(b->context));
        return backup_start_async(b, OP_BACKUP_COMPLETE, "BackupComplete", true, ret_async);
}

int lvss_backup_abort_backup(lvss_backup *b) {
        int r;

        CHECK(b);
        if (b->mode != M_BACKUP || !b->session)
                return 0;
        r = backup_call(b, "abort backup", b->session, "AbortBackup", NULL, NULL);
        if (r < 0)
                return r;
        b->aborted = true;
        return 0;
}

int lvss_backup_delete_snapshots(lvss_backup *b, const char *id, lvss_object_type type, int force,
                                 size_t *ret_deleted, lvss_id *ret_non_deleted) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *failed, *why;
        uint32_t deleted;
        int r;

        CHECK(b);
        if (type != LVSS_OBJECT_SNAPSHOT && type != LVSS_OBJECT_SNAPSHOT_SET && type != LVSS_OBJECT_NONE)
                return backup_fail(b, -EINVAL, "delete snapshots: type must be snapshot, snapshot set or none (all)");
        if (type != LVSS_OBJECT_NONE && !lvss_doc_is_uuid(id))
                return backup_fail(b, -EINVAL, "delete snapshots: '%s' is not an id", id ? id : "(null)");
        r = backup_call(b, "delete snapshots", NULL, "DeleteShadows", &reply, "ssb",
                 type == LVSS_OBJECT_SNAPSHOT_SET ? id : "", type == LVSS_OBJECT_SNAPSHOT ? id : "",
                 type == LVSS_OBJECT_NONE);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "uss", &deleted, &failed, &why);
        if (r < 0)
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "delete snapshots: malformed reply");
        if (ret_deleted)
                *ret_deleted = deleted;
        if (failed[0]) {
                if (ret_non_deleted)
                        snprintf(ret_non_deleted->str, LVSS_ID_MAX, "%s", failed);
                return backup_fail(b, LVSS_E_UNEXPECTED_PROVIDER_ERROR, "delete snapshots: snapshot %s: %s", failed, why);
        }
        return 0;
}
