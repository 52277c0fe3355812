/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every part of lvss: scope-bound cleanup (the
 * systemd idiom), ownership hand-off, array sizes.  Internal only: never
 * included from a public header.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

/* Take ownership of a pointer out of a cleanup-managed variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

/* Define a cleanup function "name##p" that calls func(*p) when *p != NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)               \
        static inline void func##p(type *p) { /* NOLINT(bugprone-macro-parentheses): a type */ \
                if (*p)                                       \
                        func(*p);                             \
        }
