/* SPDX-License-Identifier: MIT */
/*
 * notify: after a task ends, the job's "notify" settings decide whether to
 * mail (a sendmail-compatible command, default /usr/sbin/sendmail, called as
 * `sendmail -i -- RCPT` with the message on stdin) and/or run an exec hook
 * (the task's JSON on stdin).  Both run as children under sd-event; their
 * failures are logged, never retried, never block a task.
 */
#pragma once

#include "backupd.h"

#define NOTIFY_DEFAULT_SENDMAIL "/usr/sbin/sendmail"

void notify_task_done(Manager *m, Job *j, Task *t);
