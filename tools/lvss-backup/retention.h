/* SPDX-License-Identifier: MIT */
/* tools/lvss-backup/retention.h: forget, prune, check, key (retention.c). */
#pragma once

#include <stddef.h>

/* argv[0] is the command name ("forget", "prune", "check", "key"). Returns the exit code. */
int cmd_retention(int argc, char **argv);
/* The synopsis and help of the i-th command, NULL past the end (for the overall --help). */
const char *retention_synopsis(size_t i);
