/* SPDX-License-Identifier: MIT */
/*
 * tasks: the task table (queued -> running -> succeeded|failed|cancelled;
 * queued|running -> interrupted at the next start after a crash), the
 * dispatcher (one task per repository, one VSS task (backup, restore) per
 * host), lvss-backup child processes under sd-event, the persisted records
 * STATE_DIR/tasks/ID.json and logs STATE_DIR/logs/ID.log, and the scheduler
 * (calendar elapses, catch-up after downtime, STATE_DIR/schedule.json).
 */
#pragma once

#include "backupd.h"

struct Task {
        uint64_t id;
        char *job, *kind, *type, *state, *requested_by;
        int64_t queued, started, ended;
        char *backup_id, *error;
        int64_t bytes_added;
        int64_t bytes_done, bytes_total; /* P1: lvss-backup create's or copy's --progress-fd */
        int64_t backups_copied;          /* sync: lvss-backup copy's "copied" */
        double freeze_window_ms;
        int exit_status;
        json_t *restore; /* {"backup_id", "components", "to"} for restores */
        /* runtime */
        Manager *manager;
        char *repository;
        int step;
        pid_t pid;
        bool cancel;
        sd_event_source *child, *kill_timer;
        sd_event_source *progress_io; /* the read end of the child's --progress-fd pipe */
        char progress_buf[512];
        size_t progress_len;
};

int tasks_load(Manager *m); /* marks queued/running records interrupted */
Task *task_find(Manager *m, uint64_t id);
/* Queue a task; KIND backup (TYPE full...), prune, check or restore (RESTORE).
 * On failure the reason is in the thread's ErrorSlot (error_slot_get(NULL)). */
int task_queue(Manager *m, Job *j, const char *kind, const char *type, const char *who, json_t *restore, Task **ret);
int task_cancel(Manager *m, Task *t, const char *who);
json_t *task_to_json(const Task *t);
bool task_done(const Task *t);
void tasks_dispatch(Manager *m);
void tasks_stop(Manager *m);

int scheduler_start(Manager *m); /* loads schedule.json, catches up missed runs */
void scheduler_rearm(Manager *m);
