/* SPDX-License-Identifier: MIT */
/* tools/lvss-backup/reuse.h: a full backup reuses the previous backup's
 * chunks for the ranges of a .edb/.stm it proves unchanged
 * (docs/design/backup.md §8, invariant 12). */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "repo.h"

typedef struct reuse_ctx reuse_ctx;

/* The candidates: this repository's full and copy records that carry a
 * reuse map, newest first (none when !use_previous: --no-reuse still
 * records this backup's map).  A repository whose records cannot be listed
 * gives no candidates (everything is read). */
int reuse_new(repo *r, bool use_previous, reuse_ctx **ret);
reuse_ctx *reuse_free(reuse_ctx *x);

/* Store the .edb/.stm open on fd (read from the snapshot) under manifest
 * path `path` for top component `component`: ranges proven unchanged name
 * the previous chunks, the rest is read; the file's map entry for the next
 * backup is kept.  Returns repo_backup_add_fd_reuse()'s result. */
int reuse_store_file(reuse_ctx *x, repo_backup *rb, int fd, const char *path, const struct stat *st,
                     const char *component);
/* The component failed verification: its files' entries are forgotten. */
void reuse_drop_component(reuse_ctx *x, const char *component);
/* The record's map (NULL when no file has an entry); caller frees. */
char *reuse_map_json(reuse_ctx *x);
