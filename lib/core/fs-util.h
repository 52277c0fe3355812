/* SPDX-License-Identifier: MIT */
/*
 * Small file-system helpers shared by the daemons and tools.
 */
#pragma once

#include <sys/types.h>

/* Create PATH and any missing parents (like mkdir -p).  Parents are created
 * with PARENT_MODE, PATH itself with MODE (both before the umask); existing
 * directories are left as they are.  Returns 0 or -errno. */
int mkdir_p(const char *path, mode_t parent_mode, mode_t mode);
