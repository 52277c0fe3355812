/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/error.c: the detail line behind every failure code, kept in the
 * thread's slot of lib/core/error-slot.h (repository parsers run before and
 * without a handle), and the names of the REPO_E_* codes.
 */
#include <string.h>

#include "error-slot.h"
#include "repo-int.h"

int repo_error(int code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) error_slot_setv(NULL, code, fmt, ap);
        va_end(ap);
        return code;
}

void repo_error_clear(void) {
        error_slot_clear(NULL);
}

const char *repo_errmsg(void) {
        const char *m = error_slot_get(NULL);
        return m[0] ? m : "unknown error";
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
