/* SPDX-License-Identifier: MIT */
/*
 * console-api: org.lvss.Backup1 methods for the console (NextRuns,
 * PreviewRetention, ShowBackup).  The bus_* entry points live at the end of
 * bus.c (they authorize with caller_check()); the console_* bodies in
 * console-api.c.
 */
#pragma once

#include "backupd.h"

int bus_next_runs(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_preview_retention(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_show_backup(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_read_restored(sd_bus_message *msg, void *userdata, sd_bus_error *error);

int console_next_runs(sd_bus_message *msg, sd_bus_error *error);
int console_preview_retention(Manager *m, sd_bus_message *msg, sd_bus_error *error);
int console_show_backup(Manager *m, sd_bus_message *msg, sd_bus_error *error);
int console_read_restored(Manager *m, sd_bus_message *msg, const char *who, sd_bus_error *error);
