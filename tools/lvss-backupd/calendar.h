/* SPDX-License-Identifier: MIT */
/*
 * calendar: systemd.time(7) calendar expressions, parsed and evaluated
 * without I/O (the time zone database is read by the C library's
 * localtime_r/mktime only).  `calendar_next()` gives the first elapse
 * strictly after a base time, as `systemd-analyze calendar --base-time=`
 * does; tests/unit/backupd compares the two on a table of expressions.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct calendar_spec calendar_spec;

/* Parse EXPR.  On error returns -EINVAL and a one-line reason in the
 * thread's ErrorSlot (lib/core/error-slot.h, error_slot_get(NULL)). */
int calendar_parse(const char *expr, calendar_spec **ret);
calendar_spec *calendar_free(calendar_spec *c);

/* First elapse strictly after BASE (seconds since the epoch); -ENOENT when
 * the expression never elapses again (e.g. a past year). */
int calendar_next(const calendar_spec *c, int64_t base, int64_t *ret);

/* The normalized form ("Mon..Sat *-*-* 01,13:00:00"), into BUF. */
int calendar_normalize(const calendar_spec *c, char *buf, size_t size);
