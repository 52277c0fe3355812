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

/* Whether root may create PATH on behalf of an unprivileged caller: PATH is
 * absolute, has no "." or ".." component, does not exist yet, and every
 * existing ancestor is a real directory (reached without following a
 * symlink) owned by root and writable by nobody else.  The caller can then
 * neither redirect the creation (no symlink, no directory it may rename) nor
 * make root write over an existing file.  A sticky directory writable by
 * others (/tmp) may be passed through to an existing root-owned entry, never
 * created in.  Returns 0, or -EINVAL (not a clean absolute path), -EEXIST
 * (PATH exists), -EPERM (an ancestor the caller could change), -ELOOP (an
 * ancestor is a symlink or not a directory), other -errno; WHY (WHY_SIZE
 * bytes) names the component. */
int path_creatable_by_root_only(const char *path, char *why, size_t why_size);

/* "a FIFO", "a directory", "a symlink", ... for a st_mode. */
const char *file_type_name(mode_t mode);
