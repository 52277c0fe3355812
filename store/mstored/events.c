/* SPDX-License-Identifier: MIT */
/* Journal events of mstored (see events.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "events.h"

static int to_stderr = 1;

void event_set_stderr(int on) {
        to_stderr = on;
}

void event_log(const char *message_id, int priority, const char *sg, const char *db, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        sd_journal_send("MESSAGE=%s", msg, "MESSAGE_ID=%s", message_id, "PRIORITY=%d", priority,
                        "LVSS_SG=%s", sg ? sg : "", "LVSS_DB=%s", db ? db : "", "SYSLOG_IDENTIFIER=mstored", NULL);
        if (to_stderr)
                fprintf(stderr, "mstored: %s\n", msg);
}
