/* SPDX-License-Identifier: MIT */
/*
 * IVssAsync (async.h): the one pending operation of a requestor handle,
 * waited for, polled or cancelled; its reply (the components document, the
 * writers' metadata or status) taken into the handle.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>

#include <lvss/requestor.h>

#include "lib/core/array.h"
#include "lib/lvss/backup-int.h"
#include "lib/lvss/libbus.h"

/* ------------------------------------------------------------------- async */

static int bcd_from_reply(lvss_backup *b, sd_bus_message *reply) {
        const char *text;
        lvss_bcd *bcd;
        int r;

        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "malformed reply from lvssd");
        r = lvss_doc_bcd_parse(text, &bcd, &b->error);
        if (r < 0)
                return backup_fail(b, r, "components document from lvssd: %s", error_slot_get(&b->error));
        bcd->restore = b->bcd->restore;
        bcd->check_owner = true;
        bcd->owner = b->owner;
        bcd->edit = LVSS_EDIT_REQUESTOR;
        lvss_doc_bcd_free(b->bcd);
        b->bcd = bcd;
        return 0;
}

static int complete_metadata(lvss_backup *b, sd_bus_message *reply) {
        const char *inst, *text;
        int r;

        backup_metadata_clear(b);
        r = sd_bus_message_enter_container(reply, 'a', "(ss)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ss)", &inst, &text)) > 0) {
                struct lvss_writer_metadata *wm;
                metadata_entry *v;
                ErrorSlot why; /* a refused document is skipped */
                if (b->n_md >= LVSS_DOC_MAX_WRITERS)
                        break;
                /* Re-validated here too: documents are never trusted. */
                if (lvss_doc_wm_parse(text, &wm, &why) < 0)
                        continue;
                wm->check_owner = true;
                wm->owner = b->owner;
                if (ARRAY_RESERVE_ONE(b->md, b->cap_md, b->n_md, 4) < 0) {
                        lvss_doc_wm_free(wm);
                        return -ENOMEM;
                }
                v = b->md;
                v[b->n_md].instance_id = strdup(inst);
                v[b->n_md].wm = wm;
                if (!v[b->n_md].instance_id) {
                        lvss_doc_wm_free(wm);
                        return -ENOMEM;
                }
                b->n_md++;
        }
        if (r < 0)
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "malformed metadata reply from lvssd");
        b->gathered = true;
        b->state = state_after(b->state, M_GATHER_WRITER_METADATA);
        return 0;
}

static int complete_status(lvss_backup *b, sd_bus_message *reply) {
        const char *inst, *wid, *name, *iname, *msg;
        uint32_t state;
        int32_t failure, app;
        uint64_t fw;
        int r;

        backup_status_clear(b);
        r = sd_bus_message_enter_container(reply, 'a', "(ssssuiist)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssssuiist)", &inst, &wid, &name, &iname, &state, &failure,
                                                  &app, &msg, &fw)) > 0) {
                status_entry *v;
                if (b->n_st >= LVSS_DOC_MAX_WRITERS)
                        break;
                if (ARRAY_RESERVE_ONE(b->st, b->cap_st, b->n_st, 4) < 0)
                        return -ENOMEM;
                v = &b->st[b->n_st];
                *v = (status_entry) {
                        .state = state < _LVSS_WRITER_STATE_COUNT ? state : LVSS_WRITER_STATE_UNKNOWN,
                        .failure = failure > 0 ? 0 : failure, .app_error = app, .freeze_window = fw,
                };
                v->instance_id = strdup(inst);
                v->writer_id = strdup(wid);
                v->name = strdup(name);
                v->instance_name = strdup(iname);
                v->message = strdup(msg);
                b->n_st++;
                if (!v->instance_id || !v->writer_id || !v->name || !v->instance_name || !v->message)
                        return -ENOMEM;
        }
        if (r < 0)
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "malformed status reply from lvssd");
        return 0;
}

static int on_async_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        lvss_async *a = userdata;
        lvss_backup *b = a->b;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r = 0;

        a->slot = sd_bus_slot_unref(a->slot);
        if (b->pending > 0)
                b->pending--;
        if (e)
                r = lvss_bus_error_code(e, -EIO, &b->error);
        else
                switch (a->kind) {
                case OP_GATHER_METADATA:
                        r = complete_metadata(b, reply);
                        break;
                case OP_GATHER_STATUS:
                        r = complete_status(b, reply);
                        break;
                case OP_PREPARE:
                        r = bcd_from_reply(b, reply);
                        if (r >= 0)
                                b->state = state_after(b->state, M_PREPARE_FOR_BACKUP);
                        break;
                case OP_DO_SNAPSHOT:
                        r = bcd_from_reply(b, reply);
                        if (r >= 0)
                                b->state = state_after(b->state, M_DO_SNAPSHOT_SET);
                        break;
                case OP_BACKUP_COMPLETE:
                        r = bcd_from_reply(b, reply);
                        if (r >= 0)
                                b->state = state_after(b->state, M_BACKUP_COMPLETE);
                        break;
                case OP_PRE_RESTORE:
                        r = bcd_from_reply(b, reply);
                        if (r >= 0)
                                b->state = state_after(b->state, M_PRE_RESTORE);
                        break;
                case OP_POST_RESTORE:
                        r = bcd_from_reply(b, reply);
                        if (r >= 0)
                                b->state = state_after(b->state, M_POST_RESTORE);
                        break;
                }
        if (r < 0 && (a->kind == OP_PREPARE || a->kind == OP_DO_SNAPSHOT))
                b->aborted = true;  /* lvssd aborted the set */
        a->result = r < 0 ? r : 0;
        a->status = r < 0 ? LVSS_ASYNC_ERROR : LVSS_ASYNC_FINISHED;
        return 0;
}

int backup_start_async(lvss_backup *b, op kind, const char *method, bool with_bcd, lvss_async **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *text = NULL;
        lvss_async *a;
        int r;

        if (!ret)
                return backup_fail(b, -EINVAL, "%s: no place for the async handle", method);
        if (b->pending)
                return backup_fail(b, LVSS_E_BAD_STATE, "%s: another operation of this session is still pending", method);
        if (with_bcd) {
                json_t *j = lvss_doc_bcd_to_json(b->bcd);
                text = j ? json_dumps(j, JSON_COMPACT) : NULL;
                json_decref(j);
                if (!text)
                        return -ENOMEM;
        }
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->b = b;
        a->kind = kind;
        r = sd_bus_message_new_method_call(b->bus, &m, LVSSD_BUS_NAME, b->session, LVSSD_SESSION_IFACE, method);
        if (r >= 0 && text)
                r = sd_bus_message_append(m, "s", text);
        if (r >= 0)
                /* lvssd bounds every writer event itself; no client-side limit. */
                r = sd_bus_call_async(b->bus, &a->slot, m, on_async_reply, a, UINT64_MAX - 1);
        if (r < 0) {
                free(a);
                return backup_fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "%s: cannot reach lvssd: %s", method, strerror(-r));
        }
        b->pending++;
        *ret = a;
        return 0;
}

static uint64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int lvss_async_wait(lvss_async *a, int64_t timeout_ms) {
        uint64_t deadline;
        int r;

        if (!a)
                return -EINVAL;
        if (!pthread_equal(a->b->owner, pthread_self()))
                return LVSS_E_WRONG_THREAD;
        deadline = timeout_ms < 0 ? UINT64_MAX : mono_ms() + (uint64_t) timeout_ms;
        while (a->status == LVSS_ASYNC_PENDING) {
                uint64_t now;
                r = sd_bus_process(a->b->bus, NULL);
                if (r < 0) {
                        a->status = LVSS_ASYNC_ERROR;
                        a->result = backup_fail(a->b, LVSS_E_WRITER_INFRASTRUCTURE, "connection to lvssd lost: %s", strerror(-r));
                        break;
                }
                if (r > 0)
                        continue;
                now = mono_ms();
                if (now >= deadline)
                        return LVSS_E_TIMEOUT;
                r = sd_bus_wait(a->b->bus, deadline == UINT64_MAX ? UINT64_MAX : (deadline - now) * 1000);
                if (r < 0 && r != -EINTR) {
                        a->status = LVSS_ASYNC_ERROR;
                        a->result = backup_fail(a->b, LVSS_E_WRITER_INFRASTRUCTURE, "connection to lvssd lost: %s", strerror(-r));
                }
        }
        if (a->status == LVSS_ASYNC_CANCELLED)
                return LVSS_E_ASYNC_CANCELLED;
        return a->result;
}

int lvss_async_query_status(lvss_async *a, lvss_async_status *ret_status, int *ret_result) {
        if (!a || !ret_status)
                return -EINVAL;
        if (!pthread_equal(a->b->owner, pthread_self()))
                return LVSS_E_WRONG_THREAD;
        (void) sd_bus_process(a->b->bus, NULL);
        *ret_status = a->status;
        if (ret_result)
                *ret_result = a->status == LVSS_ASYNC_CANCELLED ? LVSS_E_ASYNC_CANCELLED : a->result;
        return 0;
}

int lvss_async_cancel(lvss_async *a) {
        if (!a)
                return -EINVAL;
        if (!pthread_equal(a->b->owner, pthread_self()))
                return LVSS_E_WRONG_THREAD;
        switch (a->status) {
        case LVSS_ASYNC_CANCELLED:
                return LVSS_E_ASYNC_CANCELLED;
        case LVSS_ASYNC_FINISHED:
                return 1;
        case LVSS_ASYNC_ERROR:
                return a->result;
        case LVSS_ASYNC_PENDING:
                break;
        }
        a->slot = sd_bus_slot_unref(a->slot);
        if (a->b->pending > 0)
                a->b->pending--;
        if (a->kind == OP_PREPARE || a->kind == OP_DO_SNAPSHOT) {
                (void) backup_call(a->b, "abort backup", a->b->session, "AbortBackup", NULL, NULL);
                a->b->aborted = true;
        }
        a->status = LVSS_ASYNC_CANCELLED;
        a->result = LVSS_E_ASYNC_CANCELLED;
        return 0;
}

lvss_async *lvss_async_free(lvss_async *a) {
        if (!a || !pthread_equal(a->b->owner, pthread_self()))
                return NULL;
        if (a->slot) {
                a->slot = sd_bus_slot_unref(a->slot);
                if (a->b->pending > 0)
                        a->b->pending--;
        }
        free(a);
        return NULL;
}
