/* SPDX-License-Identifier: MIT */
/*
 * jobs: the job files CONFIG_DIR/NAME.json (format in docs/design/service.md
 * and lvss-backupd(8)), loaded, validated and rewritten atomically.  A
 * malformed file becomes a Job with `error` set ("NAME.json:LINE: reason")
 * and no schedule; the other jobs are unaffected.
 */
#pragma once

#include "backupd.h"

enum { SCHED_FULL, SCHED_INCREMENTAL, SCHED_DIFFERENTIAL, SCHED_COPY, SCHED_PRUNE, SCHED_CHECK, _SCHED_MAX };

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
        int64_t randomized_delay;
        char *expr[_SCHED_MAX];
        calendar_spec *cal[_SCHED_MAX];
        int64_t next[_SCHED_MAX]; /* 0 = none */
};

const char *sched_name(int k);
bool job_name_valid(const char *name);
/* Parse and validate a job document; on error -EINVAL and a reason in WHY. */
int job_from_json(const char *name, json_t *doc, Job **ret, char *why, size_t why_size);
Job *job_free(Job *j);
int jobs_load(Manager *m);
Job *job_find(Manager *m, const char *name);
/* Create or replace NAME from TEXT (validated first); rewrites the file. */
int job_set(Manager *m, const char *name, const char *text, char *why, size_t why_size);
int job_delete(Manager *m, const char *name);
json_t *job_to_json(Manager *m, Job *j);
