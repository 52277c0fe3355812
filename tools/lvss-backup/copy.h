/* SPDX-License-Identifier: MIT */
/* tools/lvss-backup/copy.h: `lvss-backup copy` (copy.c). */
#pragma once

/* argv[0] is "copy". Returns the exit code. */
int cmd_copy(int argc, char **argv);
const char *copy_synopsis(void);
