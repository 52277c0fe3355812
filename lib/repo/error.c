/* SPDX-License-Identifier: MIT */
/* lib/repo/error.c: the per-thread detail line behind every failure code. */
#include <stdio.h>

#include "repo-int.h"

static _Thread_local char errmsg[512];

int repo_error(int code, const char *fmt, ...) {
        char tmp[sizeof errmsg];
        va_list ap;

        /* Format into a copy first: callers often wrap the previous message. */
        va_start(ap, fmt);
        vsnprintf(tmp, sizeof tmp, fmt, ap);
        va_end(ap);
        memcpy(errmsg, tmp, sizeof errmsg);
        return code;
}

void repo_error_clear(void) {
        errmsg[0] = 0;
}

const char *repo_errmsg(void) {
        return errmsg[0] ? errmsg : "unknown error";
}
