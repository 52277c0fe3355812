/* SPDX-License-Identifier: MIT */
/*
 * calendar-next EXPR BASE [N]: the next N (default 5) elapses of a calendar
 * expression after BASE (seconds since the epoch), one per line, formatted
 * (EXPR "-": one expression per stdin line, outputs separated by "--"),
 * as systemd-analyze prints them ("Thu 2026-01-01 01:00:00 UTC"); the
 * normalized form first.  Test helper of tests/integration/backupd-calendar.sh
 * (not installed).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "lib/core/error-slot.h"

static int one(const char *expr, int64_t t, int n) {
        calendar_spec *c;
        char norm[256];
        if (calendar_parse(expr, &c) < 0) {
                fprintf(stderr, "%s\n", error_slot_get(NULL));
                return 2;
        }
        if (calendar_normalize(c, norm, sizeof(norm)) == 0)
                printf("normalized: %s\n", norm);
        for (int i = 0; i < n; i++) {
                if (calendar_next(c, t, &t) < 0) {
                        if (i == 0)
                                printf("never\n"); /* as systemd-analyze: "Next elapse: never" */
                        break;
                }
                time_t tt = (time_t) t;
                struct tm tm;
                char buf[64];
                localtime_r(&tt, &tm); /* systemd-analyze prints local time, also for UTC expressions */
                strftime(buf, sizeof(buf), "%a %Y-%m-%d %H:%M:%S %Z", &tm);
                printf("%s\n", buf);
        }
        calendar_free(c);
        return 0;
}

int main(int argc, char **argv) {
        if (argc < 3) {
                fprintf(stderr, "usage: calendar-next EXPR|- BASE [N]\n");
                return 2;
        }
        int64_t t = strtoll(argv[2], NULL, 10);
        int n = argc > 3 ? (int) strtol(argv[3], NULL, 10) : 5;
        if (strcmp(argv[1], "-") != 0)
                return one(argv[1], t, n);
        char line[512];
        bool first = true;
        while (fgets(line, sizeof(line), stdin)) {
                line[strcspn(line, "\n")] = 0;
                if (!first)
                        printf("--\n");
                first = false;
                if (one(line, t, n) != 0)
                        return 2;
        }
        return 0;
}
