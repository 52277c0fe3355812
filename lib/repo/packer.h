/* SPDX-License-Identifier: MIT */
/* lib/repo/packer.h: the pack-writing thread of a backup (packer.c). */
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

int repo_packer_new(repo *r, packer **ret);
/* Queue a new chunk (copied); blocks while the queue is full.  Returns the
 * worker's error once it failed. */
int repo_packer_submit(packer *p, const repo_id *id, const uint8_t *data, size_t n);
/* Take the results so far (caller frees the array). */
int repo_packer_drain(packer *p, packer_result **ret, size_t *ret_n);
/* Write the last pack and stop the worker; its error if it failed. */
int repo_packer_finish(packer *p);
/* Stop (discarding queued work) and free. */
packer *repo_packer_free(packer *p);
void repo_crash_point(const char *name);
