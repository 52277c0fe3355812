/* SPDX-License-Identifier: MIT */
/*
 * pager.h: page cache of one .edb or .stm file.
 *
 * P1 A page in the cache is sealed (checksum valid) whenever no commit is
 *    modifying it; the cache holds the newest committed image.
 * P2 Dirty pages reach the file only through pager_flush(), called by the
 *    checkpoint after the log is durable past every change in them (WAL).
 * P3 The map is guarded by the pager mutex; page contents by the database
 *    rwlock of the caller (readers shared, commit exclusive).
 * P4 Clean pages may be dropped only under the exclusive database lock.
 */
#pragma once

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

typedef struct pg {
        uint64_t pgno;
        uint8_t *data;
        int dirty;
        struct pg *next;
} pg;

typedef struct pager {
        const struct mstore_io *io;
        mstore_file *f;
        char *path;
        pthread_mutex_t lock;
        pg **buckets;
        size_t nbuckets, n, ndirty;
        int cache_clean;          /* keep clean pages after reading them */
        int inflight;             /* a checkpoint is writing taken pages */
} pager;

int pager_open(const struct mstore_io *io, const char *path, int io_flags, int cache_clean, pager **ret);
void pager_close(pager *p);

/* Cached page (loaded and verified if needed).  MSTORE_E_CORRUPT names it
 * in the thread's error message. */
int pager_get(pager *p, uint64_t pgno, pg **ret);
/* A new zeroed page in the cache (not read from disk), dirty. */
int pager_new(pager *p, uint64_t pgno, pg **ret);
void pager_dirty(pager *p, pg *g);
/* Copy of a page (cache or disk), verified. */
int pager_read(pager *p, uint64_t pgno, uint8_t *buf);
/* Put a whole image into the cache as dirty (commit of stream pages, redo). */
int pager_put(pager *p, uint64_t pgno, const uint8_t *image);
/* Redo: install image unless the page (cache or disk) already has a version
 * >= the image's.  Returns 1 applied, 0 skipped. */
int pager_redo(pager *p, uint64_t pgno, const uint8_t *image);

/* Snapshot of the dirty pages (copies), clearing their dirty flag. */
typedef struct pager_batch {
        uint64_t *pgnos;
        uint8_t *images;
        size_t n;
} pager_batch;
int pager_take_dirty(pager *p, pager_batch *ret);
void pager_batch_done(pager_batch *b);
/* After the batch is on disk (or given up): pages may leave the cache again. */
void pager_batch_finish(pager *p);
/* Write a batch and sync the file. */
int pager_write_batch(pager *p, const pager_batch *b);
int pager_sync(pager *p);
int pager_write_raw(pager *p, uint64_t pgno, const uint8_t *image);
/* Drop clean pages when more than max are cached (P4). */
void pager_trim(pager *p, size_t max);
uint64_t pager_file_pages(pager *p);
