/* SPDX-License-Identifier: MIT */
/*
 * lvss-backupd's shared state: the Manager (event loop, bus, jobs, tasks).
 * Design, task state machine and crash cases: docs/design/service.md.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "calendar.h"

#define BACKUPD_BUS_NAME "org.lvss.Backup1"
#define BACKUPD_PATH "/org/lvss/Backup1"
#define BACKUPD_IFACE "org.lvss.Backup1"
#define BACKUPD_ERROR_BUSY "org.lvss.Backup1.Error.Busy"
#define BACKUPD_ERROR_NOT_FOUND "org.lvss.Backup1.Error.NotFound"
#define BACKUPD_ERROR_INVALID "org.lvss.Backup1.Error.Invalid"
#define BACKUPD_ERROR_FAILED "org.lvss.Backup1.Error.Failed"

/* Journal MESSAGE_IDs (stable; listed in lvss-backupd(8)). */
#define MID_RUN_STARTED "5f3aeb0d643549159ddabc27c14745ac"
#define MID_RUN_SUCCEEDED "c80fb3d6bc2a4fb6ba0b36efdd1e93d1"
#define MID_RUN_FAILED "db2d6645f9bd45e6922b6803572e8640"
#define MID_RESTORE_STARTED "2035cb31d24142f583dae9e81a152fe2"
#define MID_RESTORE_FINISHED "3d9fff4a4d8b4330aecda59edd767e4b"
#define MID_JOB_CHANGED "580a9aa96ca341eba539a7ff19474a53"
#define MID_REQUEST "3f06a5295b2a45568f75f2bac33b213a"
#define MID_TASK_INTERRUPTED "5672db49b89d46899448d63adb0a6ebf"

#define TASKS_KEPT_PER_JOB 50
#define RESTORED_TEXT_MAX (1u << 20) /* R3: a message read by ReadRestored is cut here */
#define RESTORE_MAX_MESSAGES 64 /* R2: --message UIDs of one into-live restore task */
#define LOG_MAX_BYTES (8u << 20) /* a task's log returned over the bus is capped */

typedef struct Job Job;
typedef struct Task Task;
typedef struct Metrics Metrics;

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        char *config_dir;
        char *state_dir;
        const char *lvss_backup; /* path of the lvss-backup binary */
        const char *mstore;      /* path of the mstore binary (ReadRestored: mstore rsg) */
        Job **jobs;
        size_t n_jobs;
        Task **tasks; /* ordered by id */
        size_t n_tasks, cap_tasks;
        uint64_t next_id;
        json_t *sched_state; /* {"JOB": {"full": last, ..., "full_ok": t}} */
        sd_event_source *sched_timer;
        sd_event_source *progress_timer;
        sd_event_source *state_defer; /* PropertiesChanged, coalesced per loop iteration (bus.c) */
        unsigned state_pending;       /* STATE_JOBS | STATE_TASKS */
        Metrics *metrics;
} Manager;

int64_t now_s(void);
void manager_log(const char *mid, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Write DATA to DIR/NAME atomically (tmp + fsync + rename + dir fsync), mode 0600. */
int write_file_atomic(const char *dir, const char *name, const char *data, size_t len);
/* Watch child PID's exit on the loop (the only way the service does):
 * sd_event_add_child, then enabled SD_EVENT_ON rather than the default
 * ONESHOT.  libsystemd 252 watches the child's pidfd with EPOLLONESHOT
 * for a ONESHOT source, and when the pidfd wakes it before the child is
 * waitable (waitid() finds nothing: seen on Linux 6.18 under ASan, when
 * the 500 ms SIGKILL of a cancel hits lvss-backup in its exit-time leak
 * check) the wakeup is spent and the exit never dispatched, leaving a
 * zombie; a source that is ON is registered level-triggered and checked
 * again.  The callback must disable or unref it. */
int child_watch(Manager *m, sd_event_source **ret, pid_t pid, sd_event_child_handler_t cb, void *userdata);
void audit_record(Manager *m, const char *who, const char *action, const char *object, const char *outcome);
