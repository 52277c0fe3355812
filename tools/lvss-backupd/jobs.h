/* SPDX-License-Identifier: MIT */
/*
 * jobs: the job files CONFIG_DIR/NAME.json (format in docs/design/service.md
 * and lvss-backupd(8)), loaded, validated and rewritten atomically.  A
 * malformed file becomes a Job with `error` set ("NAME.json:LINE: reason")
 * and no schedule; the other jobs are unaffected.  The parser is jobfile.c.
 */
#pragma once

#include "backupd.h"
#include "jobfile.h"

int jobs_load(Manager *m);
Job *job_find(Manager *m, const char *name);
/* Create or replace NAME from TEXT (validated first); rewrites the file.
 * On failure the reason is in the thread's ErrorSlot (error_slot_get(NULL)). */
int job_set(Manager *m, const char *name, const char *text);
int job_delete(Manager *m, const char *name);
json_t *job_to_json(Manager *m, Job *j);
