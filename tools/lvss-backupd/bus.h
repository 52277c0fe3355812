/* SPDX-License-Identifier: MIT */
/*
 * bus: org.lvss.Backup1 at /org/lvss/Backup1 (methods, signals, and the
 * per-call authorization: root or a member of group "backup", from the
 * caller's bus credentials only), and the state properties.  The API is listed in
 * docs/design/service.md §API and docs/interfaces.md.
 */
#pragma once

#include "backupd.h"

#define BACKUPD_GROUP "backup"

int bus_setup(Manager *m);
/* TaskProgress signals once a second while a task runs. */
int bus_start_progress(Manager *m);

/* The state properties of /org/lvss/Backup1 (Jobs, ActiveTasks) changed:
 * PropertiesChanged (invalidation only: values are read with an authorized
 * Get) is sent once per event-loop iteration for what changed. */
enum { STATE_JOBS = 1, STATE_TASKS = 2 };
void bus_state_changed(Manager *m, unsigned what);
