/* SPDX-License-Identifier: MIT */
/*
 * jobfile: one job document (CONFIG_DIR/NAME.json, or SetJob's text) parsed
 * and validated into a Job, without I/O.  Format: docs/design/service.md
 * section 1 and lvss-backupd(8).  jobs.c loads and rewrites the files;
 * tests/fuzz/backupd/fuzz-job.c fuzzes job_parse().
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"

/* J4: the bounds of a job document (a file or SetJob's text). */
#define JOB_FILE_MAX_BYTES (64u << 10) /* the whole document */
#define JOB_MAX_PATH 4095              /* repository, password_file, a component, notify strings */
#define JOB_MAX_COMPONENTS 64          /* lvss-backupctl restore takes as many --component */
#define JOB_MAX_CALENDAR 255           /* one calendar expression (calendar.c's bound) */
#define JOB_MAX_WORD 64                /* keep_within, read_data_subset */

enum { SCHED_FULL, SCHED_INCREMENTAL, SCHED_DIFFERENTIAL, SCHED_COPY, SCHED_PRUNE, SCHED_CHECK, SCHED_SYNC, _SCHED_MAX };

typedef struct Job Job;
struct Job {
        char *name;
        char *error;
        json_t *doc;
        const char *repository;
        const char *password_file;
        json_t *components; /* array of strings, may be empty */
        json_t *retention;  /* object or NULL */
        json_t *notify;     /* object or NULL */
        const char *check_subset;
        /* sync: an off-site copy of the repository (lvss-backup copy --from repository --to sync_to) */
        const char *sync_to;               /* an absolute path or s3:http[s]://... */
        const char *sync_password_file;    /* --to-password-file, or NULL */
        const char *sync_credentials_file; /* AWS_SHARED_CREDENTIALS_FILE of the copy, or NULL */
        int64_t randomized_delay;
        char *expr[_SCHED_MAX];
        calendar_spec *cal[_SCHED_MAX];
        int64_t next[_SCHED_MAX]; /* 0 = none */
};

const char *sched_name(int k);
bool job_name_valid(const char *name);
/* Parse and validate SIZE bytes of DATA (not NUL-terminated) as job NAME.
 * On error -EINVAL (or -ENOMEM), *RET untouched, a one-line reason in the
 * thread's ErrorSlot (lib/core/error-slot.h, error_slot_get(NULL)) and, for
 * a JSON syntax error, its line in *RET_LINE (else 0). */
int job_parse(const char *name, const char *data, size_t size, Job **ret, int *ret_line);
Job *job_free(Job *j);
