/* SPDX-License-Identifier: MIT */
/*
 * sg.c: storage groups: open (with soft recovery), close, checkpoint,
 * database create/attach/detach.
 *
 * Checkpoint rule (C1-C4, see docs/design/store.md):
 *  C1 Under commit_lock: note the log tail T and take copies of every dirty
 *     page (all changes before T, none after).
 *  C2 Make the log durable up to T before writing any page (WAL).
 *  C3 Write and sync the pages, then the database headers (log required
 *     from T's generation), then E00.chk = T (primary, sync, shadow, sync).
 *  C4 Only then may generations below T's be deleted (circular logging).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "btree.h"
#include "engine.h"
#include "err.h"
#include "lib/core/macro.h"
#include "snapshot.h"

/* ------------------------------------------------------------ lock */

int sg_lock_dir(const struct mstore_io *io, const char *dir, const char *base, mstore_file **ret) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s.lock", dir, base) < 0)
                return -ENOMEM;
        pid_t holder = 0;
        int r = io_lock(io, path, ret, &holder);
        if (r == -EWOULDBLOCK) {
                if (holder > 0)
                        return mstore__error(MSTORE_E_IN_USE, "storage group %s is in use by pid %ld", dir,
                                             (long) holder);
                return mstore__error(MSTORE_E_IN_USE, "storage group %s is in use by another process", dir);
        }
        if (r == -ENOENT)
                return mstore__error(r, "storage group %s: no such directory", dir);
        if (r < 0)
                return mstore__error(r, "storage group %s: cannot take the lock %s: %s", dir, path, strerror(-r));
        return 0;
}

/* ------------------------------------------------------------ errors */

const char *mstore_sg_last_error(mstore_sg *sg) {
        return sg ? err_sg_message(sg->err_id) : mstore_last_error();
}

void sg_set_failed(mstore_sg *sg, int r) {
        pthread_mutex_lock(&sg->lock);
        if (!sg->failed)
                sg->failed = r ? r : -EIO;
        pthread_mutex_unlock(&sg->lock);
        if (sg->log)
                log_set_failed(sg->log, r);
}

int sg_check_usable(mstore_sg *sg) {
        pthread_mutex_lock(&sg->lock);
        int f = sg->failed;
        pthread_mutex_unlock(&sg->lock);
        if (f || (sg->log && log_failed(sg->log)))
                return mstore__error(MSTORE_E_FAILED, "storage group %s: failed after an I/O error (%s); reopen it",
                                     sg->base, mstore_strerror(f ? f : log_failed(sg->log)));
        return 0;
}

void sg_gate_enter(mstore_sg *sg) {
        pthread_mutex_lock(&sg->lock);
        while (sg->frozen)
                pthread_cond_wait(&sg->cond, &sg->lock);
        sg->active_io++;
        pthread_mutex_unlock(&sg->lock);
}

void sg_gate_leave(mstore_sg *sg) {
        pthread_mutex_lock(&sg->lock);
        sg->active_io--;
        pthread_cond_broadcast(&sg->cond);
        pthread_mutex_unlock(&sg->lock);
}

static void random_bytes(void *buf, size_t n) {
        uint8_t *p = buf;
        while (n) {
                ssize_t k = getrandom(p, n, 0);
                if (k <= 0)
                        abort(); /* the kernel always has entropy for this */
                p += k;
                n -= (size_t) k;
        }
}

/* -------------------------------------------------------- checkpoint */

int sg_checkpoint_locked(mstore_sg *sg) {
        int r = sg_check_usable(sg);
        if (r < 0)
                return r;
        pager_batch be[MSTORE_MAX_DATABASES] = { 0 }, bs[MSTORE_MAX_DATABASES] = { 0 };
        mstore_db *dbs[MSTORE_MAX_DATABASES];
        unsigned n;
        pthread_mutex_lock(&sg->commit_lock);
        lgpos tail = log_tail(sg->log);
        pthread_mutex_lock(&sg->lock);
        n = sg->ndbs;
        memcpy(dbs, sg->dbs, sizeof dbs);
        pthread_mutex_unlock(&sg->lock);
        for (unsigned i = 0; i < n && r >= 0; i++) {
                r = pager_take_dirty(dbs[i]->edb, &be[i]);
                if (r >= 0)
                        r = pager_take_dirty(dbs[i]->stm, &bs[i]);
        }
        pthread_mutex_unlock(&sg->commit_lock);
        if (r >= 0)
                r = log_flush(sg->log, tail);
        for (unsigned i = 0; i < n && r >= 0; i++) {
                r = pager_write_batch(dbs[i]->edb, &be[i]);
                if (r >= 0)
                        r = pager_write_batch(dbs[i]->stm, &bs[i]);
                if (r >= 0 && be[i].n)
                        r = pager_sync(dbs[i]->edb);
                if (r >= 0 && bs[i].n)
                        r = pager_sync(dbs[i]->stm);
        }
        for (unsigned i = 0; i < n; i++) {
                pager_batch_finish(dbs[i]->edb);
                pager_batch_finish(dbs[i]->stm);
                pager_batch_done(&be[i]);
                pager_batch_done(&bs[i]);
        }
        uint32_t cg = LGPOS_GEN(tail);
        for (unsigned i = 0; i < n && r >= 0; i++) {
                pthread_mutex_lock(&dbs[i]->hdr_lock);
                dbs[i]->hdr.req_low = cg;
                dbs[i]->hdr.req_high = cg;
                dbs[i]->hdr.committed = cg;
                pthread_mutex_unlock(&dbs[i]->hdr_lock);
                r = db_write_header(dbs[i]);
        }
        if (r >= 0) {
                ckpt c = { .pos = tail, .ndbs = n };
                memcpy(c.sig, sg->sig, 16);
                for (unsigned i = 0; i < n; i++) {
                        c.dbs[i].sig = dbs[i]->hdr.db_sig;
                        snprintf(c.dbs[i].path, sizeof c.dbs[i].path, "%s", dbs[i]->edb_path);
                }
                r = ckpt_write(sg->io, sg->chk_path, &c);
                if (r < 0)
                        mstore__error(r, "%s: writing checkpoint: %s", sg->chk_path, strerror(-r));
        }
        if (r < 0) {
                sg_set_failed(sg, r);
                return r;
        }
        __atomic_store_n(&sg->ckpt_pos, tail, __ATOMIC_RELEASE);
        if (sg->circular)
                (void) log_delete_below(sg->log, cg, NULL, NULL);
        return 0;
}

int mstore_sg_checkpoint(mstore_sg *sg) {
        ERR_ON_SG(sg);
        pthread_mutex_lock(&sg->ckpt_lock);
        sg_gate_enter(sg);
        int r = sg_checkpoint_locked(sg);
        sg_gate_leave(sg);
        pthread_mutex_unlock(&sg->ckpt_lock);
        return r;
}

/* ------------------------------------------------------------- open */

static int valid_base(const char *b) {
        if (strlen(b) != 3)
                return 0;
        for (int i = 0; i < 3; i++)
                if (!((b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= '0' && b[i] <= '9')))
                        return 0;
        return 1;
}

static int valid_name(const char *n) {
        size_t l = strlen(n);
        if (l == 0 || l > DB_NAME_MAX || n[0] == '.')
                return 0;
        for (size_t i = 0; i < l; i++)
                if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9') ||
                      n[i] == '-' || n[i] == '_' || n[i] == '.'))
                        return 0;
        return 1;
}

static void sg_free(mstore_sg *sg) {
        if (!sg)
                return;
        for (unsigned i = 0; i < sg->ndbs; i++)
                db_free(sg->dbs[i]);
        for (size_t i = 0; i < sg->nretired; i++)
                db_free(sg->retired[i]);
        free(sg->retired);
        log_writer_close(sg->log);
        free(sg->dir);
        free(sg->log_dir);
        free(sg->sys_dir);
        free(sg->base);
        free(sg->chk_path);
        pthread_mutex_destroy(&sg->lock);
        pthread_cond_destroy(&sg->cond);
        pthread_mutex_destroy(&sg->commit_lock);
        pthread_mutex_destroy(&sg->ckpt_lock);
        io_close(sg->group_lock); /* last: the files are closed */
        free(sg);
}

static mstore_db *find_sig(mstore_sg *sg, uint64_t sig) {
        for (unsigned i = 0; i < sg->ndbs; i++)
                if (sg->dbs[i]->hdr.db_sig == sig)
                        return sg->dbs[i];
        return NULL;
}

static int load_meta(mstore_db *db) {
        pg *m;
        int r = pager_get(db->edb, PGNO_META, &m);
        if (r < 0)
                return r;
        if (page_type(m->data) != PT_META)
                return mstore__error(MSTORE_E_CORRUPT, "%s: page 2 is not the meta page", db->edb_path);
        meta_read(m->data, &db->meta);
        db->stm_alloc = db->meta.stm_next;
        db->stm_nfree = db->meta.nfree;
        memcpy(db->stm_free, db->meta.free, sizeof db->stm_free);
        return 0;
}

/* Soft recovery callbacks. */
static mstore_db *rec_find(void *ud, uint64_t sig) {
        return find_sig(ud, sig);
}

static int rec_attach(void *ud, uint64_t sig, const char *path) {
        mstore_sg *sg = ud;
        if (find_sig(sg, sig))
                return 0;
        mstore_db *db;
        int r = db_open_files(sg->io, path, 0, &db);
        if (r == -ENOENT)
                return 0; /* files gone since: its records are skipped */
        if (r < 0)
                return r;
        if (db->hdr.db_sig != sig || sg->ndbs >= MSTORE_MAX_DATABASES) {
                db_free(db);
                return 0;
        }
        db->sg = sg;
        sg->dbs[sg->ndbs++] = db;
        return 0;
}

static int rec_detach(void *ud, uint64_t sig) {
        mstore_sg *sg = ud;
        mstore_db *db = find_sig(sg, sig);
        if (!db)
                return 0;
        /* it was detached before the crash: write what redo rebuilt, mark clean */
        int r = db_flush_pages(db);
        if (r >= 0) {
                db->hdr.state = MSTORE_STATE_CLEAN_SHUTDOWN;
                db->hdr.req_low = db->hdr.req_high = 0;
                r = db_write_header(db);
        }
        if (r < 0)
                return r;
        for (unsigned i = 0; i < sg->ndbs; i++)
                if (sg->dbs[i] == db) {
                        sg->dbs[i] = sg->dbs[--sg->ndbs];
                        break;
                }
        db_free(db);
        return 0;
}

static int soft_recover(mstore_sg *sg, const mstore_sg_options *o, uint32_t *ret_gen, uint32_t *ret_end,
                        uint64_t *ret_ct) {
        ckpt c;
        int copy;
        ErrorSlot why;
        int r = ckpt_read(sg->io, sg->chk_path, &c, &copy, &why);
        int have_ckpt = r >= 0;
        if (r < 0 && r != -ENOENT && r != MSTORE_E_CORRUPT)
                return mstore__error(r, "%s: %s", sg->chk_path, error_slot_get(&why));
        log_set ls;
        r = log_set_scan(sg->io, sg->log_dir, sg->base, &ls);
        if (r < 0)
                return mstore__error(r, "%s: cannot list log directory: %s", sg->log_dir, strerror(-r));
        int have_logs = ls.n > 0 || ls.has_current;
        uint32_t lowest = ls.n ? ls.low : ls.current_gen;
        int bad_current = ls.has_current && ls.current_gen == 0;
        log_set_done(&ls);
        if (bad_current)
                return mstore__error(MSTORE_E_CORRUPT, "%s/%s.log: log header is damaged", sg->log_dir, sg->base);

        if (!have_logs) {
                if (have_ckpt)
                        return mstore__error(MSTORE_E_MISSING_LOGS,
                                             "storage group %s: checkpoint at generation 0x%X but no log files in %s",
                                             sg->base, LGPOS_GEN(c.pos), sg->log_dir);
                if (!o || !o->create)
                        return mstore__error(-ENOENT, "storage group %s: no logs in %s (not created)", sg->base,
                                             sg->log_dir);
                random_bytes(sg->sig, sizeof sg->sig);
                *ret_gen = 0;
                *ret_end = 0;
                *ret_ct = 0;
                return 0;
        }

        redo_opts ro = {
                .io = sg->io, .base = sg->base, .dirs = { sg->log_dir }, .soft = 1,
                .on_attach = rec_attach, .on_detach = rec_detach, .find = rec_find, .ud = sg,
        };
        if (have_ckpt) {
                memcpy(ro.sig, c.sig, 16);
                ro.have_sig = 1;
                ro.start = c.pos;
                for (unsigned i = 0; i < c.ndbs; i++) {
                        r = rec_attach(sg, c.dbs[i].sig, c.dbs[i].path);
                        if (r < 0)
                                return r;
                }
        } else
                ro.start = LGPOS(lowest, LOG_HDR_SIZE);
        /* a database restored under a live group may need older generations */
        for (unsigned i = 0; i < sg->ndbs; i++) {
                db_hdr *h = &sg->dbs[i]->hdr;
                if (h->state != MSTORE_STATE_DIRTY_SHUTDOWN)
                        continue;
                if (ro.have_sig && memcmp(h->log_sig, ro.sig, 16) != 0)
                        return mstore__error(MSTORE_E_SIGNATURE, "%s: database belongs to another log stream",
                                             sg->dbs[i]->edb_path);
                if (h->req_low && h->req_low < LGPOS_GEN(ro.start)) {
                        if (h->req_low < lowest)
                                return mstore__error(MSTORE_E_MISSING_LOGS,
                                                     "%s: needs log generations 0x%X-0x%X; missing 0x%X-0x%X",
                                                     sg->dbs[i]->edb_path, h->req_low, h->req_high, h->req_low,
                                                     lowest - 1);
                        ro.start = LGPOS(h->req_low, LOG_HDR_SIZE);
                }
        }
        redo_result res;
        r = redo_run(&ro, &res);
        if (r < 0)
                return r;
        memcpy(sg->sig, ro.have_sig ? ro.sig : sg->sig, 16);
        if (!ro.have_sig) {
                /* take the stream's signature from the first log */
                log_file lf;
                _cleanup_free_ char *p = log_path_gen(sg->log_dir, sg->base, res.first_gen);
                _cleanup_free_ char *cp = log_path_current(sg->log_dir, sg->base);
                if ((p && log_file_read(sg->io, p, &lf, NULL) >= 0) ||
                    (cp && log_file_read(sg->io, cp, &lf, NULL) >= 0)) {
                        memcpy(sg->sig, lf.hdr.sig, 16);
                        log_file_done(&lf);
                }
        }
        for (unsigned i = 0; i < sg->ndbs; i++) {
                sg->dbs[i]->sg = sg;
                r = load_meta(sg->dbs[i]);
                if (r < 0)
                        return r;
        }
        *ret_gen = res.last_gen;
        *ret_end = res.last_is_current ? res.end_off : 0;
        if (!res.last_is_current)
                *ret_end = res.end_off; /* END already written there: rewriting it is harmless */
        *ret_ct = res.last_create_time;
        return 0;
}

int mstore_sg_open(const char *dir, const mstore_sg_options *o, mstore_sg **ret_sg) {
        ERR_ON_THREAD(); /* no handle yet */
        if (!dir || !ret_sg || (o && o->version != MSTORE_SG_OPTIONS_VERSION))
                return mstore__error(-EINVAL, "mstore_sg_open: bad arguments or options version");
        mstore_sg *sg = calloc(1, sizeof *sg);
        if (!sg)
                return -ENOMEM;
        pthread_mutex_init(&sg->lock, NULL);
        pthread_cond_init(&sg->cond, NULL);
        pthread_mutex_init(&sg->commit_lock, NULL);
        pthread_mutex_init(&sg->ckpt_lock, NULL);
        sg->err_id = err_new_sg_id();
        sg->io = (o && o->io) ? o->io : io_posix();
        sg->base = strdup(o && o->base ? o->base : "E00");
        sg->dir = strdup(dir);
        sg->log_dir = strdup(o && o->log_dir ? o->log_dir : dir);
        sg->sys_dir = strdup(o && o->system_dir ? o->system_dir : sg->log_dir ? sg->log_dir : dir);
        sg->log_file_size = o && o->log_file_size ? o->log_file_size : MSTORE_DEFAULT_LOG_FILE_SIZE;
        sg->log_file_size &= ~(uint64_t) (PAGE_SIZE - 1);
        sg->circular = o ? !!o->circular_logging : 0;
        sg->freeze_timeout_ms = o && o->freeze_timeout_ms ? o->freeze_timeout_ms : MSTORE_DEFAULT_FREEZE_TIMEOUT_MS;
        sg->checkpoint_bytes = o && o->checkpoint_bytes ? o->checkpoint_bytes : 2 * sg->log_file_size;
        int r = 0;
        if (!sg->base || !sg->dir || !sg->log_dir || !sg->sys_dir) {
                r = -ENOMEM;
                goto fail;
        }
        if (!valid_base(sg->base) || sg->log_file_size < LOG_MIN_FILE_SIZE || sg->log_file_size > (1ull << 30)) {
                r = mstore__error(-EINVAL, "storage group %s: bad base name or log file size", sg->base);
                goto fail;
        }
        sg->chk_path = ckpt_path(sg->sys_dir, sg->base);
        if (!sg->chk_path) {
                r = -ENOMEM;
                goto fail;
        }
        if (o && o->create) {
                (void) io_mkdir(sg->io, sg->dir);
                (void) io_mkdir(sg->io, sg->log_dir);
                (void) io_mkdir(sg->io, sg->sys_dir);
        }
        r = sg_lock_dir(sg->io, sg->log_dir, sg->base, &sg->group_lock);
        if (r < 0)
                goto fail;
        uint32_t gen, end;
        uint64_t ct;
        r = soft_recover(sg, o, &gen, &end, &ct);
        if (r < 0)
                goto fail;
        r = log_writer_open(sg->io, sg->log_dir, sg->base, sg->log_file_size, sg->sig, sg->circular, gen, end, ct,
                            0, &sg->log);
        if (r < 0) {
                mstore__error(r, "storage group %s: cannot start a log generation in %s: %s", sg->base, sg->log_dir,
                              mstore_strerror(r));
                goto fail;
        }
        /* dirty pages from redo reach the files here; databases stay attached */
        for (unsigned i = 0; i < sg->ndbs; i++) {
                sg->dbs[i]->hdr.state = MSTORE_STATE_DIRTY_SHUTDOWN;
                memcpy(sg->dbs[i]->hdr.log_sig, sg->sig, 16);
        }
        r = sg_checkpoint_locked(sg);
        if (r < 0)
                goto fail;
        *ret_sg = sg;
        return 0;
fail:
        sg_free(sg);
        return r;
}

/* ------------------------------------------------------ attach/detach */

static int log_now(mstore_sg *sg, uint8_t type, const void *p1, size_t l1, const void *p2, size_t l2) {
        rec_item it = { .type = type, .p1 = p1, .l1 = l1, .p2 = p2, .l2 = l2 };
        lgpos end;
        int r = log_append(sg->log, &it, 1, &end);
        if (r >= 0)
                r = log_flush(sg->log, end);
        return r;
}

static int log_attach(mstore_sg *sg, mstore_db *db) {
        uint8_t p[10];
        size_t l = strlen(db->edb_path);
        if (l > CKPT_PATH_MAX)
                return mstore__error(-ENAMETOOLONG, "%s: path too long", db->edb_path);
        unaligned_write_le64(p, db->hdr.db_sig);
        unaligned_write_le16(p + 8, (uint16_t) l);
        return log_now(sg, REC_ATTACH, p, sizeof p, db->edb_path, l);
}

static char *db_path(mstore_sg *sg, const char *name, const char *dir) {
        char *p = NULL;
        return asprintf(&p, "%s/%s.edb", dir ? dir : sg->dir, name) < 0 ? NULL : p;
}

/* Common tail of create and attach: make it live, log it, checkpoint. */
static int attach_finish(mstore_sg *sg, mstore_db *db) {
        db->sg = sg;
        pthread_mutex_lock(&db->hdr_lock);
        db->hdr.state = MSTORE_STATE_DIRTY_SHUTDOWN;
        memcpy(db->hdr.log_sig, sg->sig, 16);
        db->hdr.req_low = db->hdr.req_high = db->hdr.committed = log_current_gen(sg->log);
        pthread_mutex_unlock(&db->hdr_lock);
        int r = db_write_header(db);
        if (r >= 0)
                r = log_attach(sg, db);
        if (r < 0) {
                sg_set_failed(sg, r);
                return r;
        }
        pthread_mutex_lock(&sg->lock);
        sg->dbs[sg->ndbs++] = db;
        pthread_mutex_unlock(&sg->lock);
        return sg_checkpoint_locked(sg);
}

static int check_slot(mstore_sg *sg, const char *edb) {
        for (unsigned i = 0; i < sg->ndbs; i++)
                if (strcmp(sg->dbs[i]->edb_path, edb) == 0)
                        return -EALREADY;
        if (sg->ndbs >= MSTORE_MAX_DATABASES)
                return mstore__error(MSTORE_E_TOO_MANY, "storage group %s: already %d databases", sg->base,
                                     MSTORE_MAX_DATABASES);
        return 0;
}

static int create_file(mstore_sg *sg, const char *path, const db_hdr *h, uint32_t type) {
        mstore_file *f = NULL;
        uint8_t buf[PAGE_SIZE];
        int r = io_open(sg->io, path, MSTORE_IO_CREATE | MSTORE_IO_EXCL, &f);
        if (r < 0)
                return mstore__error(r, "%s: cannot create: %s", path, strerror(-r));
        db_hdr hh = *h;
        hh.file_type = type;
        for (int copy = 0; copy < 2 && r >= 0; copy++) {
                db_hdr_encode(&hh, buf, (uint64_t) copy);
                r = io_pwrite(f, buf, PAGE_SIZE, (uint64_t) copy * PAGE_SIZE);
        }
        if (r >= 0)
                r = io_sync(f);
        io_close(f);
        if (r < 0)
                mstore__error(r, "%s: cannot write header: %s", path, strerror(-r));
        return r;
}

int mstore_db_create(mstore_sg *sg, const char *name, const char *dir, mstore_db **ret_db) {
        if (!sg)
                return -EINVAL;
        ERR_ON_SG(sg);
        if (!name || !valid_name(name))
                return mstore__error(-EINVAL, "database name '%s' is not valid", name ? name : "");
        _cleanup_free_ char *edb = db_path(sg, name, dir);
        _cleanup_free_ char *stm = edb ? db_stm_path_for(edb) : NULL;
        if (!stm)
                return -ENOMEM;
        pthread_mutex_lock(&sg->ckpt_lock);
        sg_gate_enter(sg);
        int r = sg_check_usable(sg);
        if (r >= 0)
                r = check_slot(sg, edb);
        if (r >= 0 && (io_exists(sg->io, edb) > 0 || io_exists(sg->io, stm) > 0))
                r = mstore__error(-EEXIST, "database %s: %s already exists", name, edb);
        db_hdr h = { .state = MSTORE_STATE_DIRTY_SHUTDOWN, .create_time = (uint64_t) time(NULL) };
        random_bytes(&h.db_sig, sizeof h.db_sig);
        memcpy(h.log_sig, sg->sig, 16);
        snprintf(h.name, sizeof h.name, "%s", name);
        if (r >= 0)
                r = create_file(sg, edb, &h, MSTORE_FILE_DATABASE);
        if (r >= 0)
                r = create_file(sg, stm, &h, MSTORE_FILE_STREAM);
        mstore_db *db = NULL;
        if (r >= 0)
                r = db_open_files(sg->io, edb, 0, &db);
        if (r >= 0) {
                db->sg = sg;
                /* empty tree: meta page + root leaf, logged as the first transaction */
                pg *mp;
                r = pager_new(db->edb, PGNO_META, &mp);
                if (r >= 0) {
                        page_init(mp->data, PGNO_META, PT_META, 0);
                        db->meta = (db_meta) { .page_count = PGNO_FIRST_DATA, .stm_next = PGNO_STM_FIRST, .dbtime = 1 };
                        btx t = { .p = db->edb, .meta = &db->meta, .meta_pg = mp, .version = 1 };
                        r = btx_touch(&t, mp);
                        if (r >= 0)
                                r = bt_create(&t);
                        if (r >= 0) {
                                meta_write(mp->data, &db->meta);
                                db->stm_alloc = db->meta.stm_next;
                                rec_item items[1 + 8];
                                uint8_t hdrs[8][24];
                                size_t ni = 0;
                                for (size_t i = 0; i < t.ntouched && i < 8; i++) {
                                        pg *g;
                                        pager_get(db->edb, t.touched[i], &g);
                                        page_seal(g->data);
                                        unaligned_write_le64(hdrs[i], db->hdr.db_sig);
                                        unaligned_write_le32(hdrs[i] + 8, 0);
                                        unaligned_write_le32(hdrs[i] + 12, 0);
                                        unaligned_write_le64(hdrs[i] + 16, g->pgno);
                                        items[ni++] = (rec_item) { REC_PAGE, hdrs[i], 24, g->data, PAGE_SIZE };
                                }
                                uint64_t seq = 0;
                                items[ni++] = (rec_item) { REC_COMMIT, &seq, 8, NULL, 0 };
                                db->sg = sg;
                                /* attach first so redo knows the files, then the pages */
                                pthread_mutex_lock(&db->hdr_lock);
                                db->hdr.req_low = db->hdr.req_high = log_current_gen(sg->log);
                                pthread_mutex_unlock(&db->hdr_lock);
                                r = log_attach(sg, db);
                                lgpos end;
                                if (r >= 0)
                                        r = log_append(sg->log, items, ni, &end);
                                if (r >= 0)
                                        r = log_flush(sg->log, end);
                                free(t.touched);
                        }
                }
                if (r >= 0) {
                        pthread_mutex_lock(&sg->lock);
                        sg->dbs[sg->ndbs++] = db;
                        pthread_mutex_unlock(&sg->lock);
                        r = sg_checkpoint_locked(sg);
                        if (r >= 0)
                                *ret_db = db;
                        db = NULL;
                }
        }
        db_free(db);
        sg_gate_leave(sg);
        pthread_mutex_unlock(&sg->ckpt_lock);
        return r;
}

static mstore_db *attach_find(void *ud, uint64_t sig) {
        mstore_db *db = ud;
        return db->hdr.db_sig == sig ? db : NULL;
}

/* Bring a database in dirty shutdown up to date from this group's logs. */
static int attach_redo(mstore_sg *sg, mstore_db *db) {
        log_set ls;
        int r = log_set_scan(sg->io, sg->log_dir, sg->base, &ls);
        if (r < 0)
                return r;
        uint32_t lowest = ls.n ? ls.low : ls.current_gen;
        /* gaps between the required low and the current generation */
        uint32_t cur = log_current_gen(sg->log);
        uint32_t miss_lo = 0, miss_hi = 0;
        for (uint32_t g = db->hdr.req_low; g && g < cur; g++) {
                int found = 0;
                for (size_t i = 0; i < ls.n && !found; i++)
                        found = ls.gens[i] == g;
                if (!found) {
                        if (!miss_lo)
                                miss_lo = g;
                        miss_hi = g;
                }
                if (g - db->hdr.req_low > 0x100000)
                        break;
        }
        log_set_done(&ls);
        (void) lowest;
        if (miss_lo)
                return mstore__error(MSTORE_E_MISSING_LOGS,
                                     "database %s needs log generations 0x%X-0x%X; missing 0x%X-0x%X", db->name,
                                     db->hdr.req_low, cur, miss_lo, miss_hi);
        redo_opts ro = {
                .io = sg->io, .base = sg->base, .dirs = { sg->log_dir }, .have_sig = 1,
                .start = LGPOS(db->hdr.req_low, LOG_HDR_SIZE), .find = attach_find, .ud = db,
        };
        memcpy(ro.sig, sg->sig, 16);
        redo_result res;
        r = redo_run(&ro, &res);
        if (r < 0)
                return r;
        return db_flush_pages(db);
}

int mstore_db_attach(mstore_sg *sg, const char *name, const char *dir, mstore_db **ret_db) {
        if (!sg)
                return -EINVAL;
        ERR_ON_SG(sg);
        if (!name || !valid_name(name))
                return mstore__error(-EINVAL, "database name '%s' is not valid", name ? name : "");
        _cleanup_free_ char *edb = db_path(sg, name, dir);
        if (!edb)
                return -ENOMEM;
        pthread_mutex_lock(&sg->ckpt_lock);
        sg_gate_enter(sg);
        int r = sg_check_usable(sg);
        if (r >= 0) {
                r = check_slot(sg, edb);
                if (r == -EALREADY) {
                        for (unsigned i = 0; i < sg->ndbs; i++)
                                if (strcmp(sg->dbs[i]->edb_path, edb) == 0)
                                        *ret_db = sg->dbs[i];
                        sg_gate_leave(sg);
                        pthread_mutex_unlock(&sg->ckpt_lock);
                        return 0;
                }
        }
        mstore_db *db = NULL;
        if (r >= 0)
                r = db_open_files(sg->io, edb, 0, &db);
        if (r >= 0 && find_sig(sg, db->hdr.db_sig))
                r = mstore__error(-EEXIST, "%s: a copy of this database is already attached", edb);
        if (r >= 0 && db->hdr.state == MSTORE_STATE_DIRTY_SHUTDOWN) {
                if (memcmp(db->hdr.log_sig, sg->sig, 16) != 0)
                        r = mstore__error(MSTORE_E_SIGNATURE,
                                          "database %s is in dirty shutdown and belongs to another log stream", name);
                else {
                        /* no commit may append while we read the logs */
                        pthread_mutex_lock(&sg->commit_lock);
                        r = log_flush(sg->log, log_tail(sg->log));
                        if (r >= 0)
                                r = attach_redo(sg, db);
                        pthread_mutex_unlock(&sg->commit_lock);
                }
        }
        if (r >= 0)
                r = load_meta(db);
        if (r >= 0) {
                r = attach_finish(sg, db);
                if (r >= 0)
                        *ret_db = db;
                db = NULL;
        }
        db_free(db);
        sg_gate_leave(sg);
        pthread_mutex_unlock(&sg->ckpt_lock);
        return r;
}

static int detach_locked(mstore_sg *sg, mstore_db *db) {
        int r = sg_check_usable(sg);
        pthread_mutex_lock(&sg->commit_lock);
        pthread_rwlock_wrlock(&db->lock);
        db->detached = 1;
        if (r >= 0)
                r = log_flush(sg->log, log_tail(sg->log));
        if (r >= 0)
                r = db_flush_pages(db);
        if (r >= 0) {
                pthread_mutex_lock(&db->hdr_lock);
                db->hdr.state = MSTORE_STATE_CLEAN_SHUTDOWN;
                db->hdr.req_low = db->hdr.req_high = 0;
                pthread_mutex_unlock(&db->hdr_lock);
                r = db_write_header(db);
        }
        if (r >= 0) {
                uint8_t p[8];
                unaligned_write_le64(p, db->hdr.db_sig);
                r = log_now(sg, REC_DETACH, p, 8, NULL, 0);
        }
        pthread_mutex_lock(&sg->lock);
        for (unsigned i = 0; i < sg->ndbs; i++)
                if (sg->dbs[i] == db) {
                        sg->dbs[i] = sg->dbs[--sg->ndbs];
                        break;
                }
        pthread_mutex_unlock(&sg->lock);
        pthread_rwlock_unlock(&db->lock);
        pthread_mutex_unlock(&sg->commit_lock);
        if (r < 0)
                sg_set_failed(sg, r);
        db_retire(sg, db);
        return r;
}

int mstore_db_detach(mstore_db *db) {
        if (!db)
                return -EINVAL;
        mstore_sg *sg = db->sg;
        ERR_ON_SG(sg);
        pthread_mutex_lock(&sg->ckpt_lock);
        sg_gate_enter(sg);
        int r = detach_locked(sg, db);
        if (r >= 0)
                r = sg_checkpoint_locked(sg);
        sg_gate_leave(sg);
        pthread_mutex_unlock(&sg->ckpt_lock);
        return r;
}

int mstore_sg_close(mstore_sg *sg) {
        if (!sg)
                return 0;
        ERR_ON_THREAD(); /* the group is freed: its failure is the thread's */
        snapshot_abort_for_close(sg);
        pthread_mutex_lock(&sg->ckpt_lock);
        sg_gate_enter(sg);
        int r = 0;
        while (sg->ndbs > 0) {
                int k = detach_locked(sg, sg->dbs[sg->ndbs - 1]);
                if (r >= 0)
                        r = k;
        }
        if (r >= 0 && sg_check_usable(sg) >= 0)
                r = sg_checkpoint_locked(sg);
        sg_gate_leave(sg);
        pthread_mutex_unlock(&sg->ckpt_lock);
        sg_free(sg);
        return r;
}

/* --------------------------------------------------------------- info */

int mstore_sg_get_info(mstore_sg *sg, mstore_sg_info *ret) {
        ERR_ON_SG(sg);
        log_set ls;
        int r = log_set_scan(sg->io, sg->log_dir, sg->base, &ls);
        if (r < 0)
                return r;
        lgpos cpos = __atomic_load_n(&sg->ckpt_pos, __ATOMIC_ACQUIRE);
        *ret = (mstore_sg_info) {
                .base = sg->base, .dir = sg->dir, .log_dir = sg->log_dir, .system_dir = sg->sys_dir,
                .current_generation = log_current_gen(sg->log),
                .lowest_generation = ls.n ? ls.low : log_current_gen(sg->log),
                .checkpoint_generation = LGPOS_GEN(cpos), .checkpoint_offset = LGPOS_OFF(cpos),
                .log_file_size = sg->log_file_size, .circular_logging = sg->circular,
                .read_only = log_read_only(sg->log),
        };
        log_set_done(&ls);
        pthread_mutex_lock(&sg->lock);
        ret->frozen = sg->frozen;
        ret->failed = sg->failed != 0 || log_failed(sg->log) != 0;
        ret->n_databases = sg->ndbs;
        pthread_mutex_unlock(&sg->lock);
        return 0;
}

unsigned mstore_db_count(mstore_sg *sg) {
        pthread_mutex_lock(&sg->lock);
        unsigned n = sg->ndbs;
        pthread_mutex_unlock(&sg->lock);
        return n;
}

mstore_db *mstore_db_get(mstore_sg *sg, unsigned idx) {
        pthread_mutex_lock(&sg->lock);
        mstore_db *db = idx < sg->ndbs ? sg->dbs[idx] : NULL;
        pthread_mutex_unlock(&sg->lock);
        return db;
}

mstore_db *mstore_db_find(mstore_sg *sg, const char *name) {
        mstore_db *db = NULL;
        pthread_mutex_lock(&sg->lock);
        for (unsigned i = 0; i < sg->ndbs && !db; i++)
                if (strcmp(sg->dbs[i]->name, name) == 0)
                        db = sg->dbs[i];
        pthread_mutex_unlock(&sg->lock);
        return db;
}

const char *mstore_db_name(mstore_db *db) {
        return db->name;
}
const char *mstore_db_edb_path(mstore_db *db) {
        return db->edb_path;
}
const char *mstore_db_stm_path(mstore_db *db) {
        return db->stm_path;
}
