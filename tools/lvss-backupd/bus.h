/* SPDX-License-Identifier: MIT */
/*
 * bus: org.lvss.Backup1 at /org/lvss/Backup1 (methods, signals, and the
 * per-call authorization: root or a member of group "backup", from the
 * caller's bus credentials only).  The API is listed in
 * docs/design/service.md §API and docs/interfaces.md.
 */
#pragma once

#include "backupd.h"

#define BACKUPD_GROUP "backup"

int bus_setup(Manager *m);
/* TaskProgress signals once a second while a task runs. */
int bus_start_progress(Manager *m);
