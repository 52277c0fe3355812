/* SPDX-License-Identifier: MIT */
/* lib/repo/packer.h: the hashing and pack-writing threads of a backup (packer.c). */
#pragma once

#include "repo-int.h"

typedef struct packer packer;

enum { PACKER_BLOB, PACKER_PACK_WRITTEN };

typedef struct packer_result {
        int kind;
        uint32_t local_pack;   /* 0, 1, 2 ... in the order packs were started */
        repo_id id;            /* blob id, or the pack's storage id */
        uint64_t offset;       /* PACKER_BLOB */
        uint32_t stored, raw;
        uint8_t flags;
        uint64_t pack_len;     /* PACKER_PACK_WRITTEN */
} packer_result;

/* Called on the backup thread for every chunk, in the order the chunks were
 * put, once its id is known: 1 = a new blob (the packer stores it), 0 = known
 * (dropped), negative = error (returned by put/sync). */
typedef int (*packer_decide_fn)(void *userdata, const repo_id *id, size_t n);

int repo_packer_new(repo *r, packer_decide_fn decide, void *userdata, packer **ret);
/* Hand over the next chunk (copied).  Waits while too many chunks are in
 * flight, calling decide for the earlier ones meanwhile. */
int repo_packer_put(packer *p, const uint8_t *data, size_t n);
/* zstd level of the chunks put from now on (REPO_LEVEL_RAW: not compressed). */
void repo_packer_set_level(packer *p, int level);
/* Wait until decide was called for every chunk put so far. */
int repo_packer_sync(packer *p);
/* Take the results so far (caller frees the array). */
int repo_packer_drain(packer *p, packer_result **ret, size_t *ret_n);
/* Write the last packs and stop the workers (after sync); their error if one failed. */
int repo_packer_finish(packer *p);
/* Stop (discarding queued work) and free. */
packer *repo_packer_free(packer *p);
void repo_crash_point(const char *name);
