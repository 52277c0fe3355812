/* SPDX-License-Identifier: MIT */
/* err.h: error detail for libmstore (thread-local last message). */
#pragma once

#include "lib/core/macro.h"

/* Record a one-line message for err in this thread and return err. */
int mstore__error(int err, const char *fmt, ...) _printf_(2, 3);

/* The current thread's last message (also used by the public accessor). */
const char *mstore__last_error(void);
