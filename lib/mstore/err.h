/* SPDX-License-Identifier: MIT */
/*
 * err.h: where libmstore's error messages go (docs/design/store.md §8).
 *
 * mstore__error(code, fmt, ...) formats one line and returns code.  The
 * line goes to the handle of the public call running in this thread: each
 * public function that works on a handle opens an error scope for its
 * whole body (ERR_ON_TXN, ERR_ON_SNAP, ERR_ON_SG below), so the internal
 * layers (pager, B+tree, log, redo, database files), which run both under
 * calls on a handle and under calls with none, raise without being told.
 *
 *   scope         message goes to
 *   ERR_ON_TXN    the transaction's slot and the group's slot of this thread
 *   ERR_ON_SNAP   the session's slot and the group's slot of this thread
 *   ERR_ON_SG     the group's slot of this thread
 *   none          the thread's slot (error_slot_thread()): functions that
 *                 run before a handle exists or after it is gone
 *
 * The group's slot is per calling thread (kept in thread-local storage,
 * keyed by the group's err_id): a group is shared by many threads, and one
 * slot on it would hand thread B the message of thread A's failure.
 */
#pragma once

#include <stdint.h>

#include "lib/core/error-slot.h"
#include "lib/core/macro.h"

/* Record a one-line message for err (see above) and return err. */
int mstore__error(int err, const char *fmt, ...) _printf_(2, 3);

typedef struct err_scope {
        ErrorSlot *slot; /* the call's own handle (transaction, session), or NULL */
        uint64_t sg_id;  /* the group the call works on, 0 = none */
} err_scope;

/* Open a scope (returns the one it replaces); err_scope_leave restores it. */
err_scope err_scope_enter(ErrorSlot *slot, uint64_t sg_id);
void err_scope_leave(const err_scope *prev);

#define ERR_SCOPE_(slot, id) \
        _cleanup_(err_scope_leave) _unused_ const err_scope err_scope_prev_ = err_scope_enter(slot, id)
#define ERR_ON_SG(sg) ERR_SCOPE_(NULL, (sg)->err_id)
#define ERR_ON_TXN(t) ERR_SCOPE_(&(t)->err, (t)->sg->err_id)
#define ERR_ON_SNAP(s) ERR_SCOPE_(&(s)->err, (s)->sg->err_id)
/* Explicitly on the thread's slot (a function with no handle, or closing one). */
#define ERR_ON_THREAD() ERR_SCOPE_(NULL, 0)

/* A decoder's reason (page.h: page_check) into the slot ES its caller gave,
 * NULL: no message (a probe); returns code.  Failure only: no cost when sound. */
static inline int err_reason(ErrorSlot *es, int code, const char *reason) {
        return es ? error_slot_set(es, code, "%s", reason) : code;
}

/* A fresh group id (never 0, never reused in the process). */
uint64_t err_new_sg_id(void);

/* This thread's message for group sg_id, "" when none. */
const char *err_sg_message(uint64_t sg_id);
