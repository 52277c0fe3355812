/* SPDX-License-Identifier: MIT */
/* Fuzz target for lvss-backupd's job-file parser (tools/lvss-backupd/jobfile.c):
 * a document is refused with a reason or accepted within the bounds J4 of
 * docs/design/service.md, and every accepted calendar expression evaluates. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobfile.h"
#include "lib/core/error-slot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const Job *j) {
        if (!j->repository || j->repository[0] != '/' || strlen(j->repository) > JOB_MAX_PATH || j->error)
                abort();
        if (j->password_file && (j->password_file[0] != '/' || strlen(j->password_file) > JOB_MAX_PATH))
                abort();
        if (j->components && json_array_size(j->components) > JOB_MAX_COMPONENTS)
                abort();
        for (int k = 0; k < _SCHED_MAX; k++) {
                if (!j->cal[k] != !j->expr[k] || (j->expr[k] && strlen(j->expr[k]) > JOB_MAX_CALENDAR))
                        abort();
                int64_t next;
                if (j->cal[k]) /* 2026-03-29 00:30 UTC: a DST change in Europe; any base will do */
                        (void) calendar_next(j->cal[k], 1774744200, &next);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int line = -1;
        Job *j = NULL;

        error_slot_clear(NULL);
        if (job_parse("fuzz", (const char *) data, size, &j, &line) == 0) {
                if (!j || line != 0)
                        abort();
                check_accepted(j);
                job_free(j);
        } else if (j || !error_slot_get(NULL)[0] || line < 0 || (size > JOB_FILE_MAX_BYTES && line != 0))
                abort(); /* refused: nothing returned, and a reason given (in the thread's slot) */
        return 0;
}
