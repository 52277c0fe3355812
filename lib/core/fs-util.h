/* SPDX-License-Identifier: MIT */
/*
 * Small file-system helpers shared by the daemons and tools.
 */
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include "error-slot.h"

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

/* Whether a path is one only root controls, so that root may create or use
 * it on behalf of an unprivileged caller: PATH is absolute with no "." or
 * ".." component, and every existing directory on it, PATH included when it
 * exists, is a real directory (reached without following a symlink) owned
 * by root and writable by nobody else.  A sticky directory writable by
 * others (/tmp) may only be passed through to an existing root-owned entry:
 * it is neither accepted as PATH nor as the place where the first missing
 * component would be created.  The caller can then neither redirect the
 * path (no symlink, no directory it may rename) nor plant files in it.
 * With PATH_NEW, PATH must not exist yet (root creates it: no existing file
 * gets written over).  Returns 0, or -EINVAL (not a clean absolute path),
 * -EEXIST (PATH_NEW and PATH exists), -EPERM (a directory the caller could
 * change), -ELOOP (a symlink or not a directory on the way), other -errno;
 * the message (in SLOT, NULL = the thread's slot) names the component and
 * the reason. */
#define PATH_NEW 1u
int path_root_controlled(const char *path, unsigned flags, ErrorSlot *slot);

/* Read LEN bytes of FD from offset OFF into BUF: pread() again after EINTR
 * and after a short read, so only the end of the file stops it early.
 * Returns the bytes read (less than LEN only at end of file) or -errno. */
ssize_t read_full_at(int fd, void *buf, size_t len, off_t off);

/* "a FIFO", "a directory", "a symlink", ... for a st_mode. */
const char *file_type_name(mode_t mode);
