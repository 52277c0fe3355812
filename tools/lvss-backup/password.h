/* SPDX-License-Identifier: MIT */
/* tools/lvss-backup/password.h: where the repository password comes from. */
#pragma once

#include <stdbool.h>

/* From --password-file FILE, else $LVSS_BACKUP_PASSWORD, else the terminal
 * (only when stdin is one; `confirm` asks twice).  Returns 0 and a malloc'd
 * string to release with password_free(), -ENOKEY when there is no source,
 * another negative errno on failure (message printed).
 *
 * The file is opened with O_NOFOLLOW and refused when it is not a regular
 * file, is readable or writable by group or others, or is owned by neither
 * the caller nor root, unless password_allow_insecure_file(true) was called
 * (--insecure-password-file). */
int get_password(const char *file, bool confirm, char **ret);
void password_allow_insecure_file(bool on);
/* Zero the whole buffer (sodium_memzero), then free it.  NULL is fine. */
void password_free(char *pw);
static inline void password_freep(char **p) { password_free(*p); }
/* A new password (key add, key passwd): from FILE, else
 * $LVSS_BACKUP_NEW_PASSWORD, else asked twice on the terminal. */
int get_new_password(const char *file, char **ret);
/* From FILE, else $ENV_NAME; -ENOKEY when neither (no terminal prompt). */
int get_password_from(const char *file, const char *env_name, char **ret);
