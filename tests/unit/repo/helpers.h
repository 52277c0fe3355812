/* SPDX-License-Identifier: MIT */
/* tests/unit/repo/helpers.h: scratch directories and deterministic data. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* A fresh scratch directory (removed by scratch_cleanup). */
char *scratch_dir(void);
void scratch_cleanup(char *dir);
/* Deterministic pseudo-random bytes. */
void fill_random(uint8_t *buf, size_t n, uint64_t seed);
void write_file(const char *path, const void *data, size_t n);
/* malloc'd file content, size in *ret_n; NULL if missing. */
uint8_t *read_whole(const char *path, size_t *ret_n);
/* Path of the first file found below dir/sub (malloc'd), or NULL. */
char *find_first_file(const char *dir, const char *sub);
