/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/error.c: the detail line behind every failure code, and the names
 * of the REPO_E_* codes.  The line lives in an ErrorSlot (lib/core/error-slot.h):
 * the repo handle's, or the calling thread's where no handle exists (before
 * repo_open has built one, the parsers, the chunker, crypto, the backends) or
 * the caller is one of lib/repo's worker threads (docs/design/repository.md §11f).
 */
#include <string.h>

#include "error-slot.h"
#include "repo-int.h"

/* Set in lib/repo's own worker threads (the packer's writers, restore's
 * decoders): their failures on a handle go to their own slot, never to the
 * handle's, which the handle's thread may be writing at the same time. */
static _Thread_local bool in_worker;

void repo_error_worker_thread(void) {
        in_worker = true;
}

ErrorSlot *repo_error_slot(const repo *r) {
        /* The handle's slot is the mutable part of a handle passed as const. */
        return r && !in_worker ? (ErrorSlot *) &r->err : error_slot_thread();
}

int repo_error(repo *r, int code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) error_slot_setv(repo_error_slot(r), code, fmt, ap);
        va_end(ap);
        return code;
}

int repo_error_from_thread(repo *r, int code) {
        ErrorSlot *s = repo_error_slot(r);

        if (s != error_slot_thread())
                (void) error_slot_set(s, code, "%s", error_slot_get(NULL));
        return code;
}

const char *repo_error_msg(const repo *r) {
        const char *m = error_slot_get(repo_error_slot(r));
        return m[0] ? m : "unknown error";
}

void repo_error_clear(repo *r) {
        error_slot_clear(repo_error_slot(r));
}

const char *repo_last_error(const repo *r) {
        return repo_error_msg(r);
}

const char *repo_errmsg(void) {
        return repo_error_msg(NULL);
}

const char *repo_strerror(int code) {
        switch (code) {
        case 0: return "success";
        case REPO_E_CORRUPT: return "REPO_E_CORRUPT: an object failed its hash, MAC or parser";
        case REPO_E_WRONG_PASSWORD: return "REPO_E_WRONG_PASSWORD: wrong password";
        case REPO_E_VERSION: return "REPO_E_VERSION: format version not supported";
        default:
                if (code < 0 && code > -4096)
                        return strerrordesc_np(-code) ?: "unknown errno";
                return "unknown error";
        }
}
