/* SPDX-License-Identifier: MIT */
/* restore --into-live: copy restored mail into the live mailbox (into-live.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy the messages UIDS (all when n_uids is 0) of ADDRESS from the
 * recovered copy in SCRATCH into folder "Recovered/<backup time>" of the
 * live mailbox.  Returns an exit status (VSS_EXIT_*). */
int into_live_copy(const char *scratch, const char *address, const uint32_t *uids, size_t n_uids,
                   int64_t backup_time_ns, bool json, bool quiet);
/* Remove the scratch directory and everything in it. */
void into_live_remove_scratch(const char *dir);
