/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error-slot.h"
#include "fs-util.h"
#include "macro.h"

int mkdir_p(const char *path, mode_t parent_mode, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, parent_mode) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

ssize_t read_full_at(int fd, void *buf, size_t len, off_t off) {
        size_t done = 0;

        while (done < len) {
                ssize_t k = pread(fd, (char *) buf + done, len - done, off + (off_t) done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

int path_root_controlled(const char *path, unsigned flags, ErrorSlot *slot) {
        char buf[PATH_MAX], why[ERROR_SLOT_SIZE];
        const size_t why_size = sizeof(why);
        size_t len = strlen(path);

        if (path[0] != '/' || len >= sizeof(buf))
                return error_slot_set(slot, -EINVAL, "'%.200s': not an absolute path of at most %d bytes", path,
                                      PATH_MAX - 1);
        memcpy(buf, path, len + 1);
        while (len > 1 && buf[len - 1] == '/')
                buf[--len] = 0;
        int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return error_slot_set(slot, -errno, "/: %m");
        int r = 0;
        struct stat st;
        /* Each step checks the directory held in fd, then looks up the next
         * name in it without following a symlink.  A directory others may
         * write to (/tmp) is passed through only when sticky and only to an
         * existing entry (root's, checked next step), which nobody else may
         * rename or remove; nothing is ever created in it, nor is it
         * accepted as PATH itself. */
        int plen = 1; /* fd's path is buf[0, plen) */
        for (char *name = buf + 1, *next;; name = next) {
                if (fstat(fd, &st) < 0) {
                        r = -errno;
                        snprintf(why, why_size, "'%.*s': %s", plen, buf, strerror(errno));
                        break;
                }
                while (*name == '/')
                        name++;
                bool shared = st.st_mode & (S_IWGRP | S_IWOTH);
                const char *by = st.st_mode & S_IWOTH ? "others" : "its group";
                if (st.st_uid != 0) {
                        r = -EPERM;
                        snprintf(why, why_size, "'%.*s' is owned by uid %u, not root", plen, buf, (unsigned) st.st_uid);
                        break;
                }
                if (shared && (!(st.st_mode & S_ISVTX) || !*name)) {
                        r = -EPERM;
                        snprintf(why, why_size, "'%.*s' is writable by %s", plen, buf, by);
                        break;
                }
                if (!*name) { /* the whole path exists */
                        if (flags & PATH_NEW) {
                                r = -EEXIST;
                                snprintf(why, why_size, "'%.200s' exists", path);
                        }
                        break;
                }
                next = strchr(name, '/');
                if (next)
                        *next++ = 0;
                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
                        r = -EINVAL;
                        snprintf(why, why_size, "'%.200s': '.' and '..' are not allowed", path);
                        break;
                }
                int sub = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0 && errno == ENOENT) {
                        /* The first missing name: root creates it here, so
                         * nobody else may create it first. */
                        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                                r = -ELOOP; /* a dangling symlink */
                                snprintf(why, why_size, "'%.*s': a symlink", next ? (int) (next - buf - 1) : (int) len, buf);
                        } else if (shared) {
                                r = -EPERM;
                                snprintf(why, why_size, "'%.*s' is writable by %s: '%.200s' would be created there",
                                         plen, buf, by, name);
                        }
                        break;
                }
                if (sub < 0) {
                        r = errno == ENOTDIR ? -ELOOP : -errno;
                        snprintf(why, why_size, "'%.*s': %s", next ? (int) (next - buf - 1) : (int) len, buf,
                                 errno == ENOTDIR || errno == ELOOP ? "a symlink or not a directory" : strerror(errno));
                        break;
                }
                close(fd);
                fd = sub;
                plen = next ? (int) (next - buf - 1) : (int) len;
                if (!next) /* check PATH itself at the top of the loop */
                        next = buf + len;
                else
                        next[-1] = '/';
        }
        close(fd);
        return r < 0 ? error_slot_set(slot, r, "%s", why) : 0;
}

int open_regular_at(int dirfd, const char *name, struct stat *ret_st) {
        struct stat st;
        int fd, flags;

        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (ret_st)
                *ret_st = st;
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return -EFTYPE_;
        }
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

const char *file_type_name(mode_t mode) {
        switch (mode & S_IFMT) {
        case S_IFREG: return "a regular file";
        case S_IFDIR: return "a directory";
        case S_IFLNK: return "a symlink";
        case S_IFIFO: return "a FIFO";
        case S_IFSOCK: return "a socket";
        case S_IFCHR: return "a character device";
        case S_IFBLK: return "a block device";
        default: return "of unknown type";
        }
}
