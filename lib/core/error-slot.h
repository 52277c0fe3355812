/* SPDX-License-Identifier: MIT */
/*
 * lib/core/error-slot.h: the one way lvss libraries return an error message.
 *
 * Every fallible function returns an int code (a negative errno or the
 * library's own range: LVSS_E_*, MSTORE_E_*, REPO_E_*); the one-line detail
 * ("pack 3fa2…: blob 9c1e… hash mismatch") goes into an ErrorSlot:
 *
 *   - a handle (lvss_backup, lvss_writer, lvss_admin, repo, …) embeds an
 *     ErrorSlot and its library's lvss_*_last_error(handle) reads it,
 *     as sqlite3_errmsg() reads a connection's message;
 *   - before a handle exists (a constructor that failed, a parser with no
 *     handle yet) the message goes to the calling thread's slot,
 *     error_slot_thread(), as libgit2's git_error_last().
 *
 * Callers branch on the code and show the text; intermediate layers pass
 * the code on untouched and may wrap the message ("open repo: %s").
 */
#pragma once

#include <stdarg.h>

#include "macro.h"

/* Room for a path or two and, from the writers' commands, up to 1000 bytes
 * of a command's stderr with its context (what a requestor then sees is cut
 * to the writer failure message's own limit, 1023 bytes: lib/lvss). */
#define ERROR_SLOT_SIZE 1536

typedef struct ErrorSlot {
        char msg[ERROR_SLOT_SIZE];
} ErrorSlot;

/* Format one line into slot (NULL = this thread's slot) and return code.
 * The arguments may point into the slot itself (wrapping the previous
 * message is safe). */
int error_slot_set(ErrorSlot *slot, int code, const char *fmt, ...) _printf_(3, 4);
int error_slot_setv(ErrorSlot *slot, int code, const char *fmt, va_list ap) _printf_(3, 0);

/* Forget the message (a new call on the handle starts clean). */
void error_slot_clear(ErrorSlot *slot);

/* The message, "" when none; never NULL.  Borrowed: valid until the slot's
 * next set/clear (or, for the thread's slot, the thread's next failure). */
const char *error_slot_get(const ErrorSlot *slot);

/* This thread's slot, for errors raised before a handle exists. */
ErrorSlot *error_slot_thread(void);
