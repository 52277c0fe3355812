/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mstore/mstore.h"
#include "err.h"
#include "lib/core/error-slot.h"

/* The scope of the public call running in this thread (err.h). */
static _Thread_local err_scope current;

/* This thread's slots of the groups it failed on: the least recently
 * written one is reused when a thread fails on more groups than this. */
#define SG_SLOTS 8
typedef struct sg_slot {
        uint64_t sg_id;
        uint64_t used;
        ErrorSlot slot;
} sg_slot;
static _Thread_local sg_slot sg_slots[SG_SLOTS];
static _Thread_local uint64_t sg_clock;

static sg_slot *find_sg_slot(uint64_t sg_id, int create) {
        sg_slot *oldest = &sg_slots[0];
        for (size_t i = 0; i < SG_SLOTS; i++) {
                if (sg_slots[i].sg_id == sg_id)
                        return &sg_slots[i];
                if (sg_slots[i].used < oldest->used)
                        oldest = &sg_slots[i];
        }
        if (!create)
                return NULL;
        oldest->sg_id = sg_id;
        error_slot_clear(&oldest->slot);
        return oldest;
}

err_scope err_scope_enter(ErrorSlot *slot, uint64_t sg_id) {
        err_scope prev = current;
        current = (err_scope){.slot = slot, .sg_id = sg_id};
        return prev;
}

void err_scope_leave(const err_scope *prev) {
        current = *prev;
}

uint64_t err_new_sg_id(void) {
        static uint64_t last;
        return __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
}

const char *err_sg_message(uint64_t sg_id) {
        sg_slot *s = sg_id ? find_sg_slot(sg_id, 0) : NULL;
        return s ? error_slot_get(&s->slot) : "";
}

int mstore__error(int err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        if (current.slot || !current.sg_id)
                (void) error_slot_setv(current.slot, err, fmt, ap); /* NULL: the thread's slot */
        va_end(ap);
        if (current.sg_id) {
                sg_slot *s = find_sg_slot(current.sg_id, 1);
                s->used = ++sg_clock;
                if (current.slot)
                        (void) error_slot_set(&s->slot, err, "%s", error_slot_get(current.slot));
                else {
                        va_start(ap, fmt);
                        (void) error_slot_setv(&s->slot, err, fmt, ap);
                        va_end(ap);
                }
        }
        return err;
}

const char *mstore_last_error(void) {
        return error_slot_get(NULL);
}

const char *mstore_strerror(int err) {
        switch (err) {
        case 0: return "success";
        case MSTORE_E_CORRUPT: return "MSTORE_E_CORRUPT: corruption detected on disk";
        case MSTORE_E_MISSING_LOGS: return "MSTORE_E_MISSING_LOGS: required log generations are missing";
        case MSTORE_E_FROZEN: return "MSTORE_E_FROZEN: storage group is frozen for a snapshot";
        case MSTORE_E_READ_ONLY: return "MSTORE_E_READ_ONLY: storage group refuses updates (log disk full)";
        case MSTORE_E_NEEDS_RECOVERY: return "MSTORE_E_NEEDS_RECOVERY: database needs recovery";
        case MSTORE_E_FAILED: return "MSTORE_E_FAILED: storage group failed after an I/O error; reopen it";
        case MSTORE_E_BAD_SEQUENCE: return "MSTORE_E_BAD_SEQUENCE: call out of sequence";
        case MSTORE_E_FREEZE_TIMEOUT: return "MSTORE_E_FREEZE_TIMEOUT: freeze timed out before thaw";
        case MSTORE_E_NO_FULL_BACKUP: return "MSTORE_E_NO_FULL_BACKUP: no previous full backup";
        case MSTORE_E_CIRCULAR_LOGGING: return "MSTORE_E_CIRCULAR_LOGGING: not possible with circular logging";
        case MSTORE_E_SIGNATURE: return "MSTORE_E_SIGNATURE: file belongs to another log stream or database";
        case MSTORE_E_VERSION: return "MSTORE_E_VERSION: unknown on-disk format version";
        case MSTORE_E_TOO_MANY: return "MSTORE_E_TOO_MANY: too many databases in the storage group";
        case MSTORE_E_IN_USE: return "MSTORE_E_IN_USE: storage group is in use by another opener";
        default:
                if (err < 0 && err > -4096)
                        return strerrordesc_np(-err) ?: "unknown errno";
                return "unknown error";
        }
}
