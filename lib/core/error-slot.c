/* SPDX-License-Identifier: MIT */
/* lib/core/error-slot.c: per-handle (and, before a handle, per-thread) error messages. */
#include <stdio.h>
#include <string.h>

#include "error-slot.h"

static _Thread_local ErrorSlot thread_slot;

ErrorSlot *error_slot_thread(void) {
        return &thread_slot;
}

int error_slot_setv(ErrorSlot *slot, int code, const char *fmt, va_list ap) {
        char tmp[ERROR_SLOT_SIZE];

        if (!slot)
                slot = &thread_slot;
        /* Format into a copy first: callers often wrap the previous message. */
        (void) vsnprintf(tmp, sizeof tmp, fmt, ap);
        memcpy(slot->msg, tmp, sizeof tmp);
        return code;
}

int error_slot_set(ErrorSlot *slot, int code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) error_slot_setv(slot, code, fmt, ap);
        va_end(ap);
        return code;
}

void error_slot_clear(ErrorSlot *slot) {
        (slot ? slot : &thread_slot)->msg[0] = 0;
}

const char *error_slot_get(const ErrorSlot *slot) {
        return (slot ? slot : &thread_slot)->msg;
}
