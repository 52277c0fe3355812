/* SPDX-License-Identifier: MIT */
/*
 * engine.h: the storage-group and database objects shared by sg.c (open,
 * close, checkpoint, attach/detach), txn.c (transactions, cursors,
 * streams), redo.c (recovery) and snapshot.c.
 *
 * Lock order (never take an earlier one while holding a later one):
 *   sg->ckpt_lock -> sg->lock (short) -> sg->commit_lock -> db->lock
 *   -> pager/log/hdr mutexes (leaf locks).
 */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "ckpt.h"
#include "log.h"
#include "mstore/mstore.h"
#include "page.h"
#include "pager.h"

#define EDB_CACHE_PAGES 16384u /* clean .edb pages kept per database */

struct mstore_db {
        mstore_sg *sg;
        char *name, *edb_path, *stm_path;
        pager *edb, *stm;
        pthread_rwlock_t lock;      /* B+tree pages + meta: readers shared, commit exclusive */
        db_meta meta;               /* committed meta (== page 2 content) */
        pthread_mutex_t hdr_lock;   /* hdr + header writes + stm_alloc */
        db_hdr hdr;
        uint64_t stm_alloc;         /* next free .stm page for new streams */
        uint32_t stm_nfree;         /* free extents not handed to a running transaction */
        stm_extent stm_free[STM_FREE_MAX];
        int detached;
};

struct mstore_sg {
        const struct mstore_io *io;
        mstore_file *group_lock;    /* LOG_DIR/BASE.lock, held from open to close */
        char *dir, *log_dir, *sys_dir, *base, *chk_path;
        uint64_t log_file_size, checkpoint_bytes;
        int circular;
        uint32_t freeze_timeout_ms;
        uint8_t sig[16];
        log_writer *log;

        pthread_mutex_t lock;       /* dbs[], gate, snap, failed */
        pthread_cond_t cond;
        mstore_db *dbs[MSTORE_MAX_DATABASES];
        unsigned ndbs;
        int frozen, active_io;      /* the freeze gate */
        int failed;                 /* sticky */
        mstore_snap *snap;
        mstore_db **retired;        /* detached handles, freed at close (txns may hold them) */
        size_t nretired, cap_retired;

        pthread_mutex_t commit_lock;
        uint64_t txn_seq;
        pthread_mutex_t ckpt_lock;
        lgpos ckpt_pos;

        uint64_t err_id; /* keys each thread's message slot for this group (err.h) */
};

/* Take the group lock BASE.lock in dir (one opener per group, across
 * processes); MSTORE_E_IN_USE naming the holder's pid when taken. */
int sg_lock_dir(const struct mstore_io *io, const char *dir, const char *base, mstore_file **ret);

/* Mark the group failed (sticky) after an I/O error. */
void sg_set_failed(mstore_sg *sg, int r);
int sg_check_usable(mstore_sg *sg);

/* Freeze gate: I/O sections (checkpoint, attach, detach, header stamps). */
void sg_gate_enter(mstore_sg *sg);
void sg_gate_leave(mstore_sg *sg);

/* Checkpoint; caller must not hold commit_lock. */
int sg_checkpoint_locked(mstore_sg *sg);

/* Database files. */
int db_open_files(const struct mstore_io *io, const char *edb_path, int rdonly, mstore_db **ret);
void db_free(mstore_db *db);
/* Detached: close its files, keep the handle until the group closes. */
void db_retire(mstore_sg *sg, mstore_db *db);
int db_write_header(mstore_db *db);         /* both files, both copies, synced */
int db_flush_pages(mstore_db *db);          /* dirty pages to disk + sync (WAL: log durable first) */
char *db_stm_path_for(const char *edb_path);

/* .stm space: take n pages (free extent first-fit, else the end); give an
 * extent back (coalescing; dropped when the list is full).  hdr_lock held. */
uint64_t stm_take(mstore_db *db, uint64_t n);
void stm_give(uint32_t *nfree, stm_extent *list, uint64_t first, uint64_t n);

/* Redo (recovery). */
typedef struct redo_target {
        uint64_t sig;
        mstore_db *db;
} redo_target;

typedef struct redo_opts {
        const struct mstore_io *io;
        const char *base;
        const char *dirs[2];        /* log directories searched in order per generation */
        uint8_t sig[16];            /* stream signature; zero = take the first log's */
        int have_sig;
        lgpos start;
        int soft;                   /* soft recovery: follow attach/detach, damage in closed gens is fatal */
        int stop_on_sig_change;     /* hard: stop cleanly where the signature changes */
        /* soft: called for ATTACH records of unknown databases */
        int (*on_attach)(void *ud, uint64_t sig, const char *path);
        int (*on_detach)(void *ud, uint64_t sig);
        mstore_db *(*find)(void *ud, uint64_t sig);
        void *ud;
} redo_opts;

typedef struct redo_result {
        uint32_t first_gen, last_gen;
        uint32_t end_off;           /* valid end in last_gen */
        uint64_t last_create_time;
        int last_is_current;        /* last_gen came from E00.log */
        uint64_t pages_applied;
        uint64_t bytes;
        char stop_reason[160];
} redo_result;

int redo_run(const redo_opts *o, redo_result *ret);
