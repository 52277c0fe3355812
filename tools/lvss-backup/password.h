/* SPDX-License-Identifier: MIT */
/* tools/lvss-backup/password.h: where the repository password comes from. */
#pragma once

#include <stdbool.h>

/* From --password-file FILE, else $LVSS_BACKUP_PASSWORD, else the terminal
 * (only when stdin is one; `confirm` asks twice).  Returns 0 and a malloc'd
 * string, -ENOKEY when there is no source, another negative errno on failure
 * (message printed). */
int get_password(const char *file, bool confirm, char **ret);
/* A new password (key add, key passwd): from FILE, else
 * $LVSS_BACKUP_NEW_PASSWORD, else asked twice on the terminal. */
int get_new_password(const char *file, char **ret);
