/* SPDX-License-Identifier: MIT */
/*
 * Small file-system helpers shared by the daemons and tools.
 */
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

/* Create PATH and any missing parents (like mkdir -p).  Parents are created
 * with PARENT_MODE, PATH itself with MODE (both before the umask); existing
 * directories are left as they are.  Returns 0 or -errno. */
int mkdir_p(const char *path, mode_t parent_mode, mode_t mode);

/* Open the regular file NAME under DIRFD (AT_FDCWD for a path) to read its
 * content, and nothing else: O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
 * O_CLOEXEC | O_NOCTTY, so a FIFO or device planted under that name cannot
 * block the caller and a symlink is not followed; then fstat and refuse
 * what is not a regular file; then O_NONBLOCK is cleared.  Returns the fd
 * (>= 0) or -errno: -ELOOP for a symlink, -EFTYPE_ (not a regular file)
 * for a FIFO, device, socket or directory.  *ret_st (may be NULL) gets the
 * file's stat whenever fstat ran, so a caller can name what it found
 * (file_type_name()). */
#define EFTYPE_ EMEDIUMTYPE
int open_regular_at(int dirfd, const char *name, struct stat *ret_st);

/* "a FIFO", "a directory", "a symlink", ... for a st_mode. */
const char *file_type_name(mode_t mode);
