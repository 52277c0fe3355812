/* SPDX-License-Identifier: MIT */
/* db.c: database files (.edb + .stm): open, headers, page flush. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/array.h"
#include "engine.h"
#include "err.h"
#include "lib/core/macro.h"

char *db_stm_path_for(const char *edb_path) {
        size_t l = strlen(edb_path);
        if (l < 4 || strcmp(edb_path + l - 4, ".edb") != 0)
                return NULL;
        char *s = strdup(edb_path);
        if (s)
                memcpy(s + l - 4, ".stm", sizeof ".stm"); /* with its NUL */
        return s;
}

/* Read the header of one file: primary, else shadow. */
static int read_hdr(pager *p, db_hdr *ret, int *ret_copy) {
        uint8_t buf[PAGE_SIZE];
        ErrorSlot why[2]; /* each copy's reason */
        for (int copy = 0; copy < 2; copy++) {
                int r = io_pread_full(p->f, buf, PAGE_SIZE, (uint64_t) copy * PAGE_SIZE);
                if (r < 0 && r != -ENODATA)
                        return mstore__error(r, "%s: reading header: %s", p->path, strerror(-r));
                if (r < 0)
                        (void) error_slot_set(&why[copy], r, "unreadable");
                else if (db_hdr_decode(buf, (uint64_t) copy, ret, &why[copy]) >= 0) {
                        if (ret_copy)
                                *ret_copy = copy;
                        return 0;
                }
        }
        return mstore__error(MSTORE_E_CORRUPT, "%s: both header copies are bad (%s; %s)", p->path,
                             error_slot_get(&why[0]), error_slot_get(&why[1]));
}

int db_open_files(const struct mstore_io *io, const char *edb_path, int rdonly, mstore_db **ret) {
        mstore_db *db = calloc(1, sizeof *db);
        if (!db)
                return -ENOMEM;
        pthread_rwlock_init(&db->lock, NULL);
        pthread_mutex_init(&db->hdr_lock, NULL);
        db->edb_path = strdup(edb_path);
        db->stm_path = db_stm_path_for(edb_path);
        int r = (db->edb_path && db->stm_path) ? 0 : -EINVAL;
        if (r < 0) {
                mstore__error(r, "%s: a database file name must end in .edb", edb_path);
                goto fail;
        }
        int fl = rdonly ? MSTORE_IO_RDONLY : 0;
        r = pager_open(io, db->edb_path, fl, 1, &db->edb);
        if (r < 0) {
                mstore__error(r, "%s: cannot open: %s", db->edb_path, strerror(-r));
                goto fail;
        }
        r = pager_open(io, db->stm_path, fl, 0, &db->stm);
        if (r < 0) {
                mstore__error(r, "%s: cannot open: %s", db->stm_path, strerror(-r));
                goto fail;
        }
        r = read_hdr(db->edb, &db->hdr, NULL);
        if (r < 0)
                goto fail;
        db_hdr sh;
        r = read_hdr(db->stm, &sh, NULL);
        if (r < 0)
                goto fail;
        if (db->hdr.file_type != MSTORE_FILE_DATABASE || sh.file_type != MSTORE_FILE_STREAM ||
            sh.db_sig != db->hdr.db_sig) {
                r = mstore__error(MSTORE_E_SIGNATURE, "%s: .edb and .stm do not belong together", db->edb_path);
                goto fail;
        }
        db->name = strdup(db->hdr.name);
        if (!db->name) {
                r = -ENOMEM;
                goto fail;
        }
        *ret = db;
        return 0;
fail:
        db_free(db);
        return r;
}

void db_free(mstore_db *db) {
        if (!db)
                return;
        pager_close(db->edb);
        pager_close(db->stm);
        pthread_rwlock_destroy(&db->lock);
        pthread_mutex_destroy(&db->hdr_lock);
        free(db->name);
        free(db->edb_path);
        free(db->stm_path);
        free(db);
}

int db_write_header(mstore_db *db) {
        uint8_t buf[PAGE_SIZE];
        int r = 0;
        pthread_mutex_lock(&db->hdr_lock);
        db_hdr h = db->hdr;
        pthread_mutex_unlock(&db->hdr_lock);
        /* primary copies of both files synced before the shadows (torn-safe) */
        for (int copy = 0; copy < 2 && r >= 0; copy++) {
                h.file_type = MSTORE_FILE_DATABASE;
                db_hdr_encode(&h, buf, (uint64_t) copy);
                r = pager_write_raw(db->edb, (uint64_t) copy, buf);
                if (r >= 0) {
                        h.file_type = MSTORE_FILE_STREAM;
                        db_hdr_encode(&h, buf, (uint64_t) copy);
                        r = pager_write_raw(db->stm, (uint64_t) copy, buf);
                }
                if (r >= 0)
                        r = pager_sync(db->edb);
                if (r >= 0)
                        r = pager_sync(db->stm);
        }
        return r;
}

int db_flush_pages(mstore_db *db) {
        pager_batch be = { 0 }, bs = { 0 };
        int r = pager_take_dirty(db->edb, &be);
        if (r >= 0)
                r = pager_take_dirty(db->stm, &bs);
        if (r >= 0)
                r = pager_write_batch(db->edb, &be);
        if (r >= 0)
                r = pager_write_batch(db->stm, &bs);
        if (r >= 0 && be.n)
                r = pager_sync(db->edb);
        if (r >= 0 && bs.n)
                r = pager_sync(db->stm);
        pager_batch_finish(db->edb);
        pager_batch_finish(db->stm);
        pager_batch_done(&be);
        pager_batch_done(&bs);
        return r;
}

void db_retire(mstore_sg *sg, mstore_db *db) {
        pager_close(db->edb);
        pager_close(db->stm);
        db->edb = db->stm = NULL;
        db->detached = 1;
        if (ARRAY_RESERVE_ONE(sg->retired, sg->cap_retired, sg->nretired, 4) < 0)
                return; /* leak rather than free a handle a transaction may use */
        sg->retired[sg->nretired++] = db;
}

uint64_t stm_take(mstore_db *db, uint64_t n) {
        for (uint32_t i = 0; i < db->stm_nfree; i++)
                if (db->stm_free[i].npages >= n) {
                        uint64_t first = db->stm_free[i].first;
                        db->stm_free[i].first += n;
                        db->stm_free[i].npages -= n;
                        if (db->stm_free[i].npages == 0)
                                db->stm_free[i] = db->stm_free[--db->stm_nfree];
                        return first;
                }
        uint64_t first = db->stm_alloc;
        db->stm_alloc += n;
        return first;
}

void stm_give(uint32_t *nfree, stm_extent *list, uint64_t first, uint64_t n) {
        for (uint32_t i = 0; i < *nfree; i++) {
                stm_extent *e = &list[i];
                if (first < e->first + e->npages && e->first < first + n)
                        return; /* overlaps a free extent: a double delete, ignore */
        }
        for (uint32_t i = 0; i < *nfree; i++) {
                if (list[i].first + list[i].npages == first) {
                        list[i].npages += n;
                        return;
                }
                if (first + n == list[i].first) {
                        list[i].first = first;
                        list[i].npages += n;
                        return;
                }
        }
        if (*nfree < STM_FREE_MAX)
                list[(*nfree)++] = (stm_extent) { first, n };
}
