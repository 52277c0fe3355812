/* SPDX-License-Identifier: MIT */
/* tools/lvss-backup/reuse.h: a full backup reuses the previous backup's
 * chunks for the ranges of a .edb/.stm it proves unchanged
 * (docs/design/backup.md §8, invariant 12). */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include <mstore/mstore.h>

#include "repo.h"

typedef struct reuse_ctx reuse_ctx;

/* The candidates: this repository's full and copy records that carry a
 * reuse map, newest first (none when !use_previous: --no-reuse still
 * records this backup's map).  A repository whose records cannot be listed
 * gives no candidates (everything is read). */
int reuse_new(repo *r, bool use_previous, reuse_ctx **ret);
reuse_ctx *reuse_free(reuse_ctx *x);

/* Whether a previous backup's map names path (manifest path): its ranges may
 * be reused, so the store reads little of the file and the verifier had
 * better read it around the page cache (MSTORE_VERIFY_DIRECT). */
bool reuse_may_reuse(const reuse_ctx *x, const char *path);

/* The verifier's page sums of the file being stored (mstore_verify_file_sums
 * on the same snapshot file): blocks until the verifier has checked the
 * whole file; false when it has none (it could not read the file, or the
 * check stopped).  The sums stay valid until the component is finished. */
typedef bool (*reuse_sums_fn)(void *userdata, const mstore_page_sum **ret_sums, uint64_t *ret_n);

/* Store the .edb/.stm open on fd (read from the snapshot) under manifest
 * path `path` for top component `component`: ranges proven unchanged by the
 * verifier's page sums (get_sums) name the previous chunks, the rest is
 * read; the file's map entry for the next backup is kept.  Returns
 * repo_backup_add_fd_reuse()'s result. */
int reuse_store_file(reuse_ctx *x, repo_backup *rb, int fd, const char *path, const struct stat *st,
                     const char *component, reuse_sums_fn get_sums, void *userdata);
/* The component failed verification: its files' entries are forgotten. */
void reuse_drop_component(reuse_ctx *x, const char *component);
/* The record's map (NULL when no file has an entry); caller frees. */
char *reuse_map_json(reuse_ctx *x);
