/* SPDX-License-Identifier: MIT */
/* mstore rsg: offline reads from an alternate-location restore (rsg.c). */
#pragma once

/* verb "list" or "get"; uid_s only for "get"; base NULL = "E00".  Returns
 * the exit status. */
int rsg_main(const char *verb, const char *dir, const char *address, const char *uid_s, const char *base,
             int json);
