/* SPDX-License-Identifier: MIT */
/*
 * Clocks.  Durations and deadlines use CLOCK_MONOTONIC (never moves back,
 * does not jump with settimeofday or NTP steps); timestamps shown to people
 * or stored in records use CLOCK_REALTIME.
 */
#pragma once

#include <stdint.h>
#include <time.h>

#define NSEC_PER_USEC UINT64_C(1000)
#define NSEC_PER_MSEC UINT64_C(1000000)
#define NSEC_PER_SEC UINT64_C(1000000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC UINT64_C(1000000)

/* Nanoseconds on CLOCK (CLOCK_MONOTONIC or CLOCK_REALTIME). */
static inline uint64_t now_nsec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}
static inline uint64_t now_usec(clockid_t clock) { return now_nsec(clock) / NSEC_PER_USEC; }
static inline uint64_t now_msec(clockid_t clock) { return now_nsec(clock) / NSEC_PER_MSEC; }

/* The absolute CLOCK_MONOTONIC time MSEC from now, for pthread_cond_timedwait
 * on a condition variable created with pthread_condattr_setclock(CLOCK_MONOTONIC). */
static inline struct timespec monotonic_deadline_msec(uint64_t msec) {
        uint64_t t = now_nsec(CLOCK_MONOTONIC) + msec * NSEC_PER_MSEC;
        return (struct timespec) {.tv_sec = (time_t) (t / NSEC_PER_SEC), .tv_nsec = (long) (t % NSEC_PER_SEC)};
}
