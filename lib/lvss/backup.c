/* SPDX-License-Identifier: MIT */
/*
 * The requestor API (requestor.h) and IVssAsync (async.h) over D-Bus.
 *
 * An lvss_backup owns one private bus connection; its session object in
 * lvssd is bound to that connection, so closing it (or the process dying)
 * ends the session there.  The backup components document lives here (the
 * requestor owns it) and travels to lvssd with every step that involves
 * writers; lvssd validates it, shows each writer its own part and returns it
 * with the writers' edits merged.  Calls are checked locally against the
 * sequence of vss-model §2/§7 (LVSS_E_BAD_STATE) before anything is sent,
 * with lvssd's state table (lib/lvss/state.c); lvssd checks again.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lvss/requestor.h>

#include "lib/core/array.h"
#include "lib/core/error-slot.h"
#include "lib/core/macro.h"
#include "lib/lvss/doc.h"
#include "lib/lvss/libbus.h"
#include "lib/lvss/state.h"

typedef struct metadata_entry {
        char *instance_id;
        struct lvss_writer_metadata *wm;
} metadata_entry;

typedef struct status_entry {
        char *instance_id, *writer_id, *name, *instance_name, *message;
        uint32_t state;
        int failure, app_error;
        uint64_t freeze_window;
} status_entry;

typedef enum op {
        OP_GATHER_METADATA, OP_PREPARE, OP_DO_SNAPSHOT, OP_GATHER_STATUS, OP_BACKUP_COMPLETE,
        OP_PRE_RESTORE, OP_POST_RESTORE,
} op;

struct lvss_async {
        lvss_backup *b;
        op kind;
        sd_bus_slot *slot;
        lvss_async_status status;
        int result;
};

struct lvss_backup {
        pthread_t owner;
        sd_bus *bus;
        char *session;
        enum { M_NEW, M_BACKUP, M_RESTORE } mode;
        /* Call order: the session state table (lib/lvss/state.c), with the
         * client's two differences explained there: state only advances
         * (never S_ABORTED) and aborted is sticky. */
        SessionState state;
        bool gathered, state_set, aborted;
        unsigned pending;
        uint32_t context;
        lvss_bcd *bcd;
        metadata_entry *md;
        size_t n_md, cap_md;
        status_entry *st;
        size_t n_st, cap_st;
        lvss_id set_id;
        lvss_id *filter[3];             /* enable classes, disable classes, disable instances */
        size_t n_filter[3];
        ErrorSlot error;             /* lib/core/error-slot.h: the handle's last message */
};

_printf_(3, 4)
static int fail(lvss_backup *b, int code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) error_slot_setv(&b->error, code, fmt, ap);
        va_end(ap);
        return code;
}

#define CHECK(b)                                                                     \
        do {                                                                         \
                if (!(b))                                                            \
                        return -EINVAL;                                              \
                if (!pthread_equal((b)->owner, pthread_self()))                      \
                        return LVSS_E_WRONG_THREAD;                                  \
                error_slot_clear(&(b)->error);                                       \
        } while (0)

#define BAD_STATE(b, what) fail(b, LVSS_E_BAD_STATE, "%s: call out of order", what)

/* May method m be called now, by the state table?  The client's own busy
 * rule (one operation pending) is start_async()'s. */
static bool in_order(const lvss_backup *b, Method m) {
        StateView v = { .state = b->state, .writerless = b->context & LVSS_VOLSNAP_ATTR_NO_WRITERS,
                        .gathered = b->gathered };
        return state_check(&v, m) == 0;
}

/* How far the session got (the editing windows of the documents). */
static bool set_started(const lvss_backup *b) {
        return b->state == S_SET_STARTED || b->state == S_PREPARED || b->state == S_SNAPSHOT_DONE ||
               b->state == S_COMPLETED;
}

static bool prepared(const lvss_backup *b) {
        /* A writerless set goes from started to created without PrepareForBackup. */
        return b->state == S_PREPARED || ((b->state == S_SNAPSHOT_DONE || b->state == S_COMPLETED) &&
                                          !(b->context & LVSS_VOLSNAP_ATTR_NO_WRITERS));
}

static bool snapshot_done(const lvss_backup *b) {
        return b->state == S_SNAPSHOT_DONE || b->state == S_COMPLETED;
}

static bool pre_restored(const lvss_backup *b) {
        return b->state == S_PRE_RESTORED || b->state == S_POST_RESTORED;
}

static void metadata_clear(lvss_backup *b) {
        for (size_t i = 0; i < b->n_md; i++) {
                free(b->md[i].instance_id);
                lvss_doc_wm_free(b->md[i].wm);
        }
        free(b->md);
        b->md = NULL;
        b->n_md = b->cap_md = 0;
}

static void status_clear(lvss_backup *b) {
        for (size_t i = 0; i < b->n_st; i++) {
                free(b->st[i].instance_id);
                free(b->st[i].writer_id);
                free(b->st[i].name);
                free(b->st[i].instance_name);
                free(b->st[i].message);
        }
        free(b->st);
        b->st = NULL;
        b->n_st = b->cap_st = 0;
}

int lvss_backup_new(lvss_backup **ret) {
        lvss_backup *b;
        int r;

        if (!ret)
                return -EINVAL;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->owner = pthread_self();
        b->context = LVSS_CTX_BACKUP;
        r = lvss_bus_open(&b->bus, b->error.msg, sizeof(b->error.msg));
        if (r < 0) {
                free(b);
                return r;
        }
        *ret = b;
        return 0;
}

lvss_backup *lvss_backup_free(lvss_backup *b) {
        if (!b || !pthread_equal(b->owner, pthread_self()))
                return NULL;
        if (b->session && b->bus)
                /* Closing the connection alone would do; Close makes it immediate. */
                (void) sd_bus_call_method(b->bus, LVSSD_BUS_NAME, b->session, LVSSD_SESSION_IFACE, "Close", NULL,
                                          NULL, "");
        sd_bus_flush_close_unref(b->bus);
        metadata_clear(b);
        status_clear(b);
        lvss_doc_bcd_free(b->bcd);
        for (int i = 0; i < 3; i++)
                free(b->filter[i]);
        free(b->session);
        free(b);
        return NULL;
}

const char *lvss_backup_last_error(const lvss_backup *b) {
        return b ? error_slot_get(&b->error) : "";
}

int lvss_backup_get_fd(lvss_backup *b) {
        CHECK(b);
        return sd_bus_get_fd(b->bus);
}

int lvss_backup_get_events(lvss_backup *b) {
        CHECK(b);
        return sd_bus_get_events(b->bus);
}

int lvss_backup_process(lvss_backup *b) {
        int r;

        CHECK(b);
        r = sd_bus_process(b->bus, NULL);
        if (r < 0)
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "connection to lvssd lost: %s", strerror(-r));
        return r;
}

/* A synchronous call to the session (or the coordinator when path NULL). */
static int call(lvss_backup *b, const char *what, const char *path, const char *method, sd_bus_message **reply,
                const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(b->bus, &m, LVSSD_BUS_NAME, path ? path : LVSSD_PATH,
                                           path ? LVSSD_SESSION_IFACE : LVSSD_IFACE, method);
        if (r >= 0 && types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r < 0)
                return fail(b, r, "%s: cannot build the call: %s", what, strerror(-r));
        r = sd_bus_call(b->bus, m, 0, &e, reply);
        if (r < 0) {
                char why[400];
                r = lvss_bus_error_code(&e, r, why, sizeof(why));
                sd_bus_error_free(&e);
                return fail(b, r, "%s", why);
        }
        return 0;
}

static int open_session(lvss_backup *b, const char *mode) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        r = call(b, "open session", NULL, "OpenSession", &reply, "s", mode);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return fail(b, r, "open session: malformed reply");
        b->session = strdup(path);
        return b->session ? 0 : -ENOMEM;
}

int lvss_backup_initialize_for_backup(lvss_backup *b, const char *bcd_json) {
        char why[LVSS_DOC_WHY_MAX];
        lvss_bcd *bcd = NULL;
        int r;

        CHECK(b);
        if (b->mode != M_NEW)
                return BAD_STATE(b, "initialize for backup");
        if (bcd_json) {
                r = lvss_doc_bcd_parse(bcd_json, &bcd, why);
                if (r < 0)
                        return fail(b, r, "backup components document: %s", why);
        } else if (!(bcd = lvss_doc_bcd_new()))
                return -ENOMEM;
        r = open_session(b, "backup");
        if (r < 0) {
                lvss_doc_bcd_free(bcd);
                return r;
        }
        bcd->restore = false;
        bcd->check_owner = true;
        bcd->owner = b->owner;
        bcd->edit = LVSS_EDIT_REQUESTOR;
        b->context = bcd->context;
        b->bcd = bcd;
        b->mode = M_BACKUP;
        return 0;
}

int lvss_backup_initialize_for_restore(lvss_backup *b, const char *bcd_json) {
        char why[LVSS_DOC_WHY_MAX];
        lvss_bcd *bcd = NULL;
        int r;

        CHECK(b);
        if (b->mode != M_NEW)
                return BAD_STATE(b, "initialize for restore");
        if (!bcd_json)
                return fail(b, -EINVAL, "initialize for restore: the saved backup components document is required");
        r = lvss_doc_bcd_parse(bcd_json, &bcd, why);
        if (r < 0)
                return fail(b, r, "backup components document: %s", why);
        r = open_session(b, "restore");
        if (r < 0) {
                lvss_doc_bcd_free(bcd);
                return r;
        }
        bcd->restore = true;
        bcd->check_owner = true;
        bcd->owner = b->owner;
        bcd->edit = LVSS_EDIT_REQUESTOR;
        b->bcd = bcd;
        b->mode = M_RESTORE;
        b->state = S_RESTORE_OPEN;
        return 0;
}

int lvss_backup_set_context(lvss_backup *b, uint32_t context) {
        CHECK(b);
        if (b->mode != M_BACKUP || set_started(b))
                return BAD_STATE(b, "set context");
        if (!lvss_context_to_string(context))
                return fail(b, LVSS_E_UNSUPPORTED_CONTEXT, "set context: 0x%x is not a snapshot-creating context", context);
        b->context = context;
        b->bcd->context = context;
        return 0;
}

int lvss_backup_set_backup_state(lvss_backup *b, int select_components, int bootable_system_state,
                                 lvss_backup_type type, int partial_file_support) {
        CHECK(b);
        if (b->mode != M_BACKUP || prepared(b))
                return BAD_STATE(b, "set backup state");
        if (type == LVSS_BT_UNDEFINED || !lvss_backup_type_to_string(type))
                return fail(b, -EINVAL, "set backup state: invalid backup type %d", (int) type);
        b->bcd->select_components = !!select_components;
        b->bcd->bootable = !!bootable_system_state;
        b->bcd->backup_type = type;
        b->bcd->partial_file_support = !!partial_file_support;
        b->state_set = true;
        return 0;
}

int lvss_backup_set_restore_state(lvss_backup *b, lvss_restore_type type) {
        CHECK(b);
        if (b->mode != M_RESTORE || pre_restored(b))
                return BAD_STATE(b, "set restore state");
        if (!lvss_restore_type_to_string(type))
                return fail(b, -EINVAL, "set restore state: invalid restore type %d", (int) type);
        b->bcd->restore_type = type;
        return 0;
}

/* ------------------------------------------------------------------- async */

static int bcd_from_reply(lvss_backup *b, sd_bus_message *reply) {
        const char *text;
        char why[LVSS_DOC_WHY_MAX];
        lvss_bcd *bcd;
        int r;

        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "malformed reply from lvssd");
        r = lvss_doc_bcd_parse(text, &bcd, why);
        if (r < 0)
                return fail(b, r, "components document from lvssd: %s", why);
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

        metadata_clear(b);
        r = sd_bus_message_enter_container(reply, 'a', "(ss)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ss)", &inst, &text)) > 0) {
                struct lvss_writer_metadata *wm;
                metadata_entry *v;
                char why[LVSS_DOC_WHY_MAX];
                if (b->n_md >= LVSS_DOC_MAX_WRITERS)
                        break;
                /* Re-validated here too: documents are never trusted. */
                if (lvss_doc_wm_parse(text, &wm, why) < 0)
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
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "malformed metadata reply from lvssd");
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

        status_clear(b);
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
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "malformed status reply from lvssd");
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
        if (e) {
                char why[400];
                r = lvss_bus_error_code(e, -EIO, why, sizeof(why));
                fail(b, r, "%s", why);
        } else
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

static int start_async(lvss_backup *b, op kind, const char *method, bool with_bcd, lvss_async **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *text = NULL;
        lvss_async *a;
        int r;

        if (!ret)
                return fail(b, -EINVAL, "%s: no place for the async handle", method);
        if (b->pending)
                return fail(b, LVSS_E_BAD_STATE, "%s: another operation of this session is still pending", method);
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
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "%s: cannot reach lvssd: %s", method, strerror(-r));
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
                        a->result = fail(a->b, LVSS_E_WRITER_INFRASTRUCTURE, "connection to lvssd lost: %s", strerror(-r));
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
                        a->result = fail(a->b, LVSS_E_WRITER_INFRASTRUCTURE, "connection to lvssd lost: %s", strerror(-r));
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
                (void) call(a->b, "abort backup", a->b->session, "AbortBackup", NULL, NULL);
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

/* --------------------------------------------------------------- discovery */

static int add_filter(lvss_backup *b, int which, const char *const *ids, size_t n, const char *what) {
        lvss_id *v;

        CHECK(b);
        if (b->mode == M_NEW || b->gathered || b->pending)
                return BAD_STATE(b, what);
        if (n && !ids)
                return fail(b, -EINVAL, "%s: no ids", what);
        if (b->n_filter[which] + n > LVSS_DOC_MAX_WRITERS)
                return fail(b, -E2BIG, "%s: more than %u ids", what, LVSS_DOC_MAX_WRITERS);
        for (size_t i = 0; i < n; i++)
                if (!lvss_doc_is_uuid(ids[i]))
                        return fail(b, -EINVAL, "%s: '%s' is not an id", what, ids[i] ? ids[i] : "(null)");
        v = reallocarray(b->filter[which], b->n_filter[which] + n + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        b->filter[which] = v;
        for (size_t i = 0; i < n; i++)
                memcpy(v[b->n_filter[which]++].str, ids[i], LVSS_ID_MAX);
        return 0;
}

int lvss_backup_enable_writer_classes(lvss_backup *b, const char *const *class_ids, size_t n) {
        return add_filter(b, 0, class_ids, n, "enable writer classes");
}

int lvss_backup_disable_writer_classes(lvss_backup *b, const char *const *class_ids, size_t n) {
        return add_filter(b, 1, class_ids, n, "disable writer classes");
}

int lvss_backup_disable_writer_instances(lvss_backup *b, const char *const *instance_ids, size_t n) {
        return add_filter(b, 2, instance_ids, n, "disable writer instances");
}

static int send_filter(lvss_backup *b) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_message_new_method_call(b->bus, &m, LVSSD_BUS_NAME, b->session, LVSSD_SESSION_IFACE,
                                           "SetWriterFilter");
        for (int i = 0; r >= 0 && i < 3; i++) {
                r = sd_bus_message_open_container(m, 'a', "s");
                for (size_t j = 0; r >= 0 && j < b->n_filter[i]; j++)
                        r = sd_bus_message_append(m, "s", b->filter[i][j].str);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r < 0)
                return fail(b, r, "writer filter: cannot build the call");
        r = sd_bus_call(b->bus, m, 0, &e, NULL);
        if (r < 0) {
                char why[400];
                r = lvss_bus_error_code(&e, r, why, sizeof(why));
                sd_bus_error_free(&e);
                return fail(b, r, "writer filter: %s", why);
        }
        return 0;
}

int lvss_backup_gather_writer_metadata(lvss_backup *b, lvss_async **ret_async) {
        int r;

        CHECK(b);
        if (b->mode == M_NEW || !in_order(b, M_GATHER_WRITER_METADATA))
                return BAD_STATE(b, "gather writer metadata");
        if (b->n_filter[0] + b->n_filter[1] + b->n_filter[2] > 0) {
                r = send_filter(b);
                if (r < 0)
                        return r;
        }
        return start_async(b, OP_GATHER_METADATA, "GatherWriterMetadata", false, ret_async);
}

int lvss_backup_get_writer_metadata_count(lvss_backup *b) {
        CHECK(b);
        if (!b->gathered)
                return BAD_STATE(b, "get writer metadata count");
        return (int) b->n_md;
}

int lvss_backup_get_writer_metadata(lvss_backup *b, size_t i, const char **ret_instance_id,
                                    const lvss_writer_metadata **ret_wm) {
        CHECK(b);
        if (!b->gathered)
                return BAD_STATE(b, "get writer metadata");
        if (i >= b->n_md)
                return fail(b, LVSS_E_OBJECT_NOT_FOUND, "get writer metadata: no writer %zu", i);
        if (ret_instance_id)
                *ret_instance_id = b->md[i].instance_id;
        if (ret_wm)
                *ret_wm = b->md[i].wm;
        return 0;
}

int lvss_backup_free_writer_metadata(lvss_backup *b) {
        CHECK(b);
        metadata_clear(b);
        return 0;
}

/* -------------------------------------------------------------- components */

static const metadata_entry *find_md(lvss_backup *b, const char *instance_id, const char *writer_id) {
        for (size_t i = 0; i < b->n_md; i++) {
                if (instance_id && strcmp(b->md[i].instance_id, instance_id) != 0)
                        continue;
                if (writer_id && strcmp(b->md[i].wm->writer_id, writer_id) != 0)
                        continue;
                return &b->md[i];
        }
        return NULL;
}

int lvss_backup_add_component(lvss_backup *b, const char *instance_id, const char *writer_id,
                              lvss_component_type type, const char *logical_path, const char *name) {
        const metadata_entry *md;
        const lvss_doc_wm_component *wc;
        struct lvss_writer_components *w;

        CHECK(b);
        if (!instance_id || !writer_id || !name)
                return fail(b, -EINVAL, "add component: instance id, writer id and name are required");
        if (b->mode != M_BACKUP || !b->gathered || prepared(b))
                return BAD_STATE(b, "add component");
        if (b->context & LVSS_VOLSNAP_ATTR_NO_WRITERS)
                return fail(b, LVSS_E_BAD_STATE, "add component: context %s has no writers", lvss_context_to_string(b->context));
        md = find_md(b, instance_id, writer_id);
        if (!md)
                return fail(b, LVSS_E_OBJECT_NOT_FOUND, "add component: writer %s (instance %s) was not found by the gather",
                            writer_id, instance_id);
        wc = lvss_doc_wm_find(md->wm, logical_path, name);
        if (!wc || wc->type != type)
                return fail(b, LVSS_E_OBJECT_NOT_FOUND, "add component: writer '%s' has no %s component '%s%s%s'",
                            md->wm->writer_name, lvss_component_type_to_string(type) ?: "?",
                            logical_path && *logical_path ? logical_path : "", logical_path && *logical_path ? "/" : "", name);
        w = lvss_doc_bcd_find_writer(b->bcd, instance_id, NULL);
        if (!w) {
                w = lvss_doc_bcd_add_writer(b->bcd, instance_id, writer_id, md->wm->instance_name);
                if (!w)
                        return -ENOMEM;
                w->backup_schema = md->wm->schema;
        }
        if (lvss_doc_wc_find(w, LVSS_CT_UNDEFINED, logical_path, name))
                return fail(b, LVSS_E_OBJECT_ALREADY_EXISTS, "add component: '%s' was already added", name);
        if (!lvss_doc_wc_add(w, type, logical_path, name))
                return -ENOMEM;
        return 0;
}

static struct lvss_component *find_component(lvss_backup *b, const char *instance_id, const char *writer_id,
                                             lvss_component_type type, const char *lpath, const char *name,
                                             const char *what) {
        if (!name) {
                fail(b, -EINVAL, "%s: component name required", what);
                return NULL;
        }
        for (size_t i = 0; i < b->bcd->n_writers; i++) {
                struct lvss_writer_components *w = b->bcd->writers[i];
                struct lvss_component *c;
                if (instance_id && strcmp(w->instance_id, instance_id) != 0)
                        continue;
                if (writer_id && strcmp(w->writer_id, writer_id) != 0)
                        continue;
                c = lvss_doc_wc_find(w, type, lpath, name);
                if (c)
                        return c;
        }
        fail(b, LVSS_E_OBJECT_NOT_FOUND, "%s: component '%s%s%s' is not in the components document", what,
             lpath && *lpath ? lpath : "", lpath && *lpath ? "/" : "", name);
        return NULL;
}

int lvss_backup_set_backup_options(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                   const char *logical_path, const char *name, const char *options) {
        struct lvss_component *c = NULL;

        CHECK(b);
        if (b->mode != M_BACKUP || prepared(b))
                return BAD_STATE(b, "set backup options");
        c = find_component(b, NULL, writer_id, type, logical_path, name, "set backup options");
        return c ? lvss_component_set_backup_options(c, options) : LVSS_E_OBJECT_NOT_FOUND;
}

int lvss_backup_set_previous_backup_stamp(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                          const char *logical_path, const char *name, const char *stamp) {
        struct lvss_component *c = NULL;

        CHECK(b);
        if (b->mode != M_BACKUP || prepared(b))
                return BAD_STATE(b, "set previous backup stamp");
        c = find_component(b, NULL, writer_id, type, logical_path, name, "set previous backup stamp");
        return c ? lvss_component_set_previous_backup_stamp(c, stamp) : LVSS_E_OBJECT_NOT_FOUND;
}

int lvss_backup_set_backup_succeeded(lvss_backup *b, const char *instance_id, const char *writer_id,
                                     lvss_component_type type, const char *logical_path, const char *name,
                                     int succeeded) {
        struct lvss_component *c = NULL;

        CHECK(b);
        if (b->mode != M_BACKUP || b->state != S_SNAPSHOT_DONE)
                return BAD_STATE(b, "set backup succeeded");
        c = find_component(b, instance_id, writer_id, type, logical_path, name, "set backup succeeded");
        return c ? lvss_component_set_backup_succeeded(c, succeeded) : LVSS_E_OBJECT_NOT_FOUND;
}

int lvss_backup_get_writer_components_count(lvss_backup *b) {
        CHECK(b);
        if (!b->bcd)
                return BAD_STATE(b, "get writer components count");
        return (int) b->bcd->n_writers;
}

int lvss_backup_get_writer_components(lvss_backup *b, size_t i, lvss_writer_components **ret) {
        CHECK(b);
        if (!ret)
                return -EINVAL;
        if (!b->bcd)
                return BAD_STATE(b, "get writer components");
        if (i >= b->bcd->n_writers)
                return fail(b, LVSS_E_OBJECT_NOT_FOUND, "get writer components: no writer %zu", i);
        *ret = b->bcd->writers[i];
        return 0;
}

int lvss_backup_next_component(lvss_backup *b, lvss_component_iter *it, lvss_writer_components **ret_wc,
                               lvss_component **ret) {
        CHECK(b);
        if (!it || !ret)
                return -EINVAL;
        if (!b->bcd)
                return BAD_STATE(b, "next component");
        while (it->writer < b->bcd->n_writers) {
                struct lvss_writer_components *wc = b->bcd->writers[it->writer];
                if (it->component < wc->n) {
                        if (ret_wc)
                                *ret_wc = wc;
                        *ret = wc->comps[it->component++];
                        return 1;
                }
                it->writer++;
                it->component = 0;
        }
        return 0;
}

/* --------------------------------------------------------------- snapshots */

int lvss_backup_start_snapshot_set(lvss_backup *b, lvss_id *ret_set_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *id;
        int r;

        CHECK(b);
        if (b->mode != M_BACKUP || !in_order(b, M_START_SNAPSHOT_SET))
                return BAD_STATE(b, "start snapshot set");
        r = call(b, "start snapshot set", b->session, "StartSnapshotSet", &reply, "u", b->context);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &id);
        if (r < 0 || !lvss_doc_is_uuid(id))
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "start snapshot set: malformed reply");
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
                return fail(b, -EINVAL, "is volume supported: path required");
        if (!b->session)
                return BAD_STATE(b, "is volume supported");
        r = call(b, "is volume supported", b->session, "IsVolumeSupported", &reply, "ss", provider ? provider : "", path);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "bs", &ok, &why);
        if (r < 0)
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "is volume supported: malformed reply");
        if (!ok)
                fail(b, 0, "%s", why);
        return ok ? 1 : 0;
}

int lvss_backup_add_to_snapshot_set(lvss_backup *b, const char *path, const char *provider,
                                    lvss_id *ret_snapshot_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *id;
        int r;

        CHECK(b);
        if (!path)
                return fail(b, -EINVAL, "add to snapshot set: path required");
        if (b->mode != M_BACKUP || b->aborted || !in_order(b, M_ADD_TO_SNAPSHOT_SET))
                return BAD_STATE(b, "add to snapshot set");
        r = call(b, "add to snapshot set", b->session, "AddToSnapshotSet", &reply, "ss", path, provider ? provider : "");
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &id);
        if (r < 0 || !lvss_doc_is_uuid(id))
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "add to snapshot set: malformed reply");
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
                return fail(b, LVSS_E_BAD_STATE, "prepare for backup: call out of order: gather writer metadata first");
        return start_async(b, OP_PREPARE, "PrepareForBackup", true, ret_async);
}

int lvss_backup_do_snapshot_set(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        if (b->mode != M_BACKUP || b->aborted || !in_order(b, M_DO_SNAPSHOT_SET))
                return BAD_STATE(b, "do snapshot set");
        return start_async(b, OP_DO_SNAPSHOT, "DoSnapshotSet", true, ret_async);
}

int lvss_backup_gather_writer_status(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        if (!in_order(b, M_GATHER_WRITER_STATUS))
                return BAD_STATE(b, "gather writer status");
        return start_async(b, OP_GATHER_STATUS, "GatherWriterStatus", false, ret_async);
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
                return fail(b, LVSS_E_OBJECT_NOT_FOUND, "get writer status: no writer %zu", i);
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
        status_clear(b);
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
        r = call(b, "get freeze window", b->session, "GetFreezeWindow", &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "t", &t);
        if (r < 0)
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "get freeze window: malformed reply");
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

        r = call(b, method, NULL, method, &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0 || !(*ret = json_loads(text, 0, &err)))
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "%s: malformed reply", method);
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
                return fail(b, -EINVAL, "get snapshot properties: id and result required");
        r = list_json(b, "ListShadows", &root);
        if (r < 0)
                return r;
        a = json_object_get(root, "shadows");
        r = fail(b, LVSS_E_OBJECT_NOT_FOUND, "get snapshot properties: no snapshot %s", snapshot_id);
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
                        return fail(b, r, "query snapshots: malformed reply");
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
                return fail(b, LVSS_E_OBJECT_NOT_FOUND, "get snapshot path: no snapshot of this set covers '%s'", path);
        return 0;
}

int lvss_backup_backup_complete(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        /* writerless: its own message below */
        if (b->mode != M_BACKUP || b->aborted || b->state != S_SNAPSHOT_DONE)
                return BAD_STATE(b, "backup complete");
        if (b->context & LVSS_VOLSNAP_ATTR_NO_WRITERS)
                return fail(b, LVSS_E_BAD_STATE, "backup complete: context %s has no writers", lvss_context_to_string(b->context));
        return start_async(b, OP_BACKUP_COMPLETE, "BackupComplete", true, ret_async);
}

int lvss_backup_abort_backup(lvss_backup *b) {
        int r;

        CHECK(b);
        if (b->mode != M_BACKUP || !b->session)
                return 0;
        r = call(b, "abort backup", b->session, "AbortBackup", NULL, NULL);
        if (r < 0)
                return r;
        b->aborted = true;
        return 0;
}

int lvss_backup_save_as_json(lvss_backup *b, char **ret_json) {
        json_t *j;
        char *s;

        CHECK(b);
        if (!ret_json)
                return -EINVAL;
        if (!b->bcd)
                return BAD_STATE(b, "save as JSON");
        j = lvss_doc_bcd_to_json(b->bcd);
        s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        json_decref(j);
        if (!s)
                return -ENOMEM;
        *ret_json = s;
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
                return fail(b, -EINVAL, "delete snapshots: type must be snapshot, snapshot set or none (all)");
        if (type != LVSS_OBJECT_NONE && !lvss_doc_is_uuid(id))
                return fail(b, -EINVAL, "delete snapshots: '%s' is not an id", id ? id : "(null)");
        r = call(b, "delete snapshots", NULL, "DeleteShadows", &reply, "ssb",
                 type == LVSS_OBJECT_SNAPSHOT_SET ? id : "", type == LVSS_OBJECT_SNAPSHOT ? id : "",
                 type == LVSS_OBJECT_NONE);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "uss", &deleted, &failed, &why);
        if (r < 0)
                return fail(b, LVSS_E_WRITER_INFRASTRUCTURE, "delete snapshots: malformed reply");
        if (ret_deleted)
                *ret_deleted = deleted;
        if (failed[0]) {
                if (ret_non_deleted)
                        snprintf(ret_non_deleted->str, LVSS_ID_MAX, "%s", failed);
                return fail(b, LVSS_E_UNEXPECTED_PROVIDER_ERROR, "delete snapshots: snapshot %s: %s", failed, why);
        }
        return 0;
}

/* ----------------------------------------------------------------- restore */

/* Is (lpath, name) inside the component set of c: c itself or below it? */
static bool in_component_set(const struct lvss_component *c, const char *lpath, const char *name) {
        size_t lp = strlen(c->logical_path), n = strlen(c->name);

        if (strcmp(c->logical_path, lpath) == 0 && strcmp(c->name, name) == 0)
                return true;
        /* below: lpath == "<c.lpath>/<c.name>" or starts with it plus "/" */
        if (lp) {
                if (strncmp(lpath, c->logical_path, lp) != 0 || lpath[lp] != '/')
                        return false;
                lpath += lp + 1;
        }
        return strncmp(lpath, c->name, n) == 0 && (lpath[n] == 0 || lpath[n] == '/');
}

/* A component to restore: one of the document, or a restore subcomponent
 * [AddRestoreSubcomponent]: a component the running writer declares
 * (selectable for restore) inside the component set of one the document
 * holds; it is added to the document so the writer sees it selected. */
static int restore_set(lvss_backup *b, const char *writer_id, lvss_component_type type, const char *lpath,
                       const char *name, const char *what, struct lvss_component **ret) {
        const metadata_entry *md;
        const lvss_doc_wm_component *wmc;

        if (b->mode != M_RESTORE || pre_restored(b))
                return BAD_STATE(b, what);
        if (!lpath)
                lpath = "";
        for (size_t i = 0; name && i < b->bcd->n_writers; i++) {
                struct lvss_writer_components *w = b->bcd->writers[i];
                if (writer_id && strcmp(w->writer_id, writer_id) != 0)
                        continue;
                *ret = lvss_doc_wc_find(w, type, lpath, name);
                if (*ret)
                        return 0;
        }
        md = b->gathered && writer_id ? find_md(b, NULL, writer_id) : NULL;
        wmc = md && name ? lvss_doc_wm_find(md->wm, lpath, name) : NULL;
        if (wmc && wmc->type == type && (wmc->selectable_for_restore || wmc->selectable))
                for (size_t i = 0; i < b->bcd->n_writers; i++) {
                        struct lvss_writer_components *w = b->bcd->writers[i];
                        if (strcmp(w->writer_id, writer_id) != 0)
                                continue;
                        for (size_t j = 0; j < w->n; j++)
                                if (in_component_set(w->comps[j], lpath, name)) {
                                        *ret = lvss_doc_wc_add(w, type, lpath, name);
                                        return *ret ? 0 : -ENOMEM;
                                }
                }
        *ret = find_component(b, NULL, writer_id, type, lpath, name, what);
        return *ret ? 0 : LVSS_E_OBJECT_NOT_FOUND;
}

int lvss_backup_set_selected_for_restore(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                         const char *logical_path, const char *name, int selected) {
        struct lvss_component *c = NULL;
        int r;

        CHECK(b);
        r = restore_set(b, writer_id, type, logical_path, name, "set selected for restore", &c);
        if (r < 0)
                return r;
        if (selected && b->gathered && !find_md(b, NULL, writer_id))
                return fail(b, LVSS_E_OBJECT_NOT_FOUND, "set selected for restore: writer %s is not running", writer_id);
        return lvss_component_set_selected_for_restore(c, selected);
}

int lvss_backup_set_additional_restores(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                        const char *logical_path, const char *name, int additional) {
        struct lvss_component *c = NULL;
        int r;

        CHECK(b);
        r = restore_set(b, writer_id, type, logical_path, name, "set additional restores", &c);
        return r < 0 ? r : lvss_component_set_additional_restores(c, additional);
}

int lvss_backup_set_restore_options(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                    const char *logical_path, const char *name, const char *options) {
        struct lvss_component *c = NULL;
        int r;

        CHECK(b);
        r = restore_set(b, writer_id, type, logical_path, name, "set restore options", &c);
        return r < 0 ? r : lvss_component_set_restore_options(c, options);
}

int lvss_backup_pre_restore(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        if (b->mode != M_RESTORE || !in_order(b, M_PRE_RESTORE))
                return BAD_STATE(b, "pre-restore");
        return start_async(b, OP_PRE_RESTORE, "PreRestore", true, ret_async);
}

int lvss_backup_set_file_restore_status(lvss_backup *b, const char *writer_id, lvss_component_type type,
                                        const char *logical_path, const char *name, lvss_file_restore_status status) {
        struct lvss_component *c = NULL;

        CHECK(b);
        if (b->mode != M_RESTORE || b->state != S_PRE_RESTORED)
                return BAD_STATE(b, "set file restore status");
        c = find_component(b, NULL, writer_id, type, logical_path, name, "set file restore status");
        return c ? lvss_component_set_file_restore_status(c, status) : LVSS_E_OBJECT_NOT_FOUND;
}

int lvss_backup_post_restore(lvss_backup *b, lvss_async **ret_async) {
        CHECK(b);
        if (b->mode != M_RESTORE || !in_order(b, M_POST_RESTORE))
                return BAD_STATE(b, "post-restore");
        return start_async(b, OP_POST_RESTORE, "PostRestore", true, ret_async);
}
