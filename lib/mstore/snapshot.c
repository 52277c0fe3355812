/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c: snapshot sessions, the JetOSSnapshot counterpart.
 *
 *   prepare --freeze--> frozen --thaw--> thawed --truncate--> truncated --end--> (freed)
 *      |                  | timer fires: timed_out (thaw reports it; abort)   |
 *      +--end (nothing stamped)            abort from any state --------------+
 *
 * S1 One session per group (sg->snap); a second prepare gets -EBUSY.
 * S2 Freeze closes the gate first (no checkpoint, header, attach or detach
 *    I/O can start; running ones are awaited), then closes the current log
 *    generation and stops the log writer: nothing is written while frozen.
 * S3 The freeze timer thaws by itself; thaw then returns
 *    MSTORE_E_FREEZE_TIMEOUT and the session can only be aborted.  The
 *    timer waits on CLOCK_MONOTONIC (a clock step cannot stretch or cut a
 *    freeze), and a freeze whose timer cannot be armed is refused: the
 *    group is thawed again and freeze returns an error (never an unbounded
 *    freeze).
 * S4 Truncation (full/incremental only, after thaw, not with circular
 *    logging) deletes generations below min(last backed-up generation,
 *    checkpoint generation at freeze), ascending, stopping at an error.
 * S5 End stamps the type's backup slot of every attached database header
 *    with the generation range and the freeze time; full clears the
 *    incremental and differential slots.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "err.h"
#include "lib/core/macro.h"
#include "lib/core/test-hook.h"
#include "snapshot.h"

enum { ST_PREPARED, ST_FROZEN, ST_THAWED, ST_TIMED_OUT, ST_TRUNCATED };

struct mstore_snap {
        mstore_sg *sg;
        mstore_backup_type type;
        int state;
        uint32_t gen_low, gen_high;
        uint64_t time;
        lgpos ckpt_at_freeze;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t timer;
        int timer_running, timer_stop, timed_out;
        ErrorSlot err; /* messages of freeze, thaw, truncate_logs, get_files */
};

static const char *state_names[] = { "prepared", "frozen", "thawed", "timed_out", "truncated" };

/* The freeze timer thread may change the state: read it under the lock. */
static int get_state(mstore_snap *s) {
        pthread_mutex_lock(&s->lock);
        int st = s->state;
        pthread_mutex_unlock(&s->lock);
        return st;
}

const char *mstore_snapshot_last_error(mstore_snap *s) {
        return s ? error_slot_get(&s->err) : "";
}

const char *mstore_snapshot_state(mstore_snap *s) {
        return s ? state_names[get_state(s)] : "none";
}

int mstore_snapshot_prepare(mstore_sg *sg, mstore_backup_type type, mstore_snap **ret) {
        if (!sg || !ret || type > MSTORE_BACKUP_DIFFERENTIAL)
                return -EINVAL;
        ERR_ON_SG(sg); /* no session yet */
        int r = sg_check_usable(sg);
        if (r < 0)
                return r;
        int logs_only = type == MSTORE_BACKUP_INCREMENTAL || type == MSTORE_BACKUP_DIFFERENTIAL;
        if (logs_only && sg->circular)
                return mstore__error(
                        MSTORE_E_CIRCULAR_LOGGING,
                        "storage group %s: incremental and differential backups are not possible with circular logging",
                        sg->base);
        mstore_snap *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->sg = sg;
        s->type = type;
        pthread_mutex_init(&s->lock, NULL);
        /* S3: the timer's deadline is on the monotonic clock */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_lock(&sg->lock);
        if (sg->snap)
                r = mstore__error(-EBUSY, "storage group %s: a backup is already in progress", sg->base);
        for (unsigned i = 0; r >= 0 && logs_only && i < sg->ndbs; i++)
                if (!sg->dbs[i]->hdr.slot[MSTORE_BACKUP_FULL].present)
                        r = mstore__error(MSTORE_E_NO_FULL_BACKUP, "database %s has no previous full backup",
                                          sg->dbs[i]->name);
        if (r >= 0)
                sg->snap = s;
        pthread_mutex_unlock(&sg->lock);
        if (r < 0) {
                pthread_mutex_destroy(&s->lock);
                pthread_cond_destroy(&s->cond);
                free(s);
                return r;
        }
        /* a fresh checkpoint lets truncation reach as far as possible, and a
         * pre-created next generation keeps the freeze down to a rename */
        (void) mstore_sg_checkpoint(sg);
        (void) log_ensure_next(sg->log);
        *ret = s;
        return 0;
}

static void unfreeze(mstore_sg *sg) {
        log_thaw(sg->log);
        pthread_mutex_lock(&sg->lock);
        sg->frozen = 0;
        pthread_cond_broadcast(&sg->cond);
        pthread_mutex_unlock(&sg->lock);
}

static void *timer_main(void *arg) {
        mstore_snap *s = arg;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t) ts.tv_nsec + (uint64_t) s->sg->freeze_timeout_ms % 1000 * 1000000ull;
        ts.tv_sec += s->sg->freeze_timeout_ms / 1000 + (time_t) (ns / 1000000000ull);
        ts.tv_nsec = (long) (ns % 1000000000ull);
        pthread_mutex_lock(&s->lock);
        int r = 0;
        while (!s->timer_stop && r != ETIMEDOUT)
                r = pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        if (!s->timer_stop) {
                s->timed_out = 1;
                s->state = ST_TIMED_OUT;
                unfreeze(s->sg);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

static void timer_stop(mstore_snap *s) {
        if (!s->timer_running)
                return;
        pthread_mutex_lock(&s->lock);
        s->timer_stop = 1;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->timer, NULL);
        s->timer_running = 0;
}

int mstore_snapshot_freeze(mstore_snap *s) {
        if (!s)
                return -EINVAL;
        ERR_ON_SNAP(s);
        mstore_sg *sg = s->sg;
        if (get_state(s) != ST_PREPARED)
                return mstore__error(MSTORE_E_BAD_SEQUENCE, "storage group %s: freeze in state %s", sg->base,
                                     state_names[get_state(s)]);
        /* S2: the gate first, then the log */
        pthread_mutex_lock(&sg->lock);
        sg->frozen = 1;
        while (sg->active_io > 0)
                pthread_cond_wait(&sg->cond, &sg->lock);
        pthread_mutex_unlock(&sg->lock);
        uint32_t last = 0;
        int r = log_freeze(sg->log, &last);
        if (r < 0) {
                unfreeze(sg);
                return mstore__error(r, "storage group %s: cannot close the log generation to freeze", sg->base);
        }
        s->gen_high = last;
        s->ckpt_at_freeze = __atomic_load_n(&sg->ckpt_pos, __ATOMIC_ACQUIRE);
        s->time = (uint64_t) time(NULL);
        if (s->type == MSTORE_BACKUP_FULL || s->type == MSTORE_BACKUP_COPY)
                s->gen_low = MIN(LGPOS_GEN(s->ckpt_at_freeze), last);
        else {
                log_set ls;
                s->gen_low = last;
                if (log_set_scan(sg->io, sg->log_dir, sg->base, &ls) >= 0) {
                        if (ls.n)
                                s->gen_low = MIN(ls.low, last);
                        log_set_done(&ls);
                }
        }
        pthread_mutex_lock(&s->lock);
        s->state = ST_FROZEN;
        s->timer_stop = s->timed_out = 0;
        pthread_mutex_unlock(&s->lock);
        /* S3: no timer, no freeze */
        int e = TEST_HOOK_IS("MSTORE_TEST_TIMER_FAIL", "1") ? EAGAIN : pthread_create(&s->timer, NULL, timer_main, s);
        if (e != 0) {
                pthread_mutex_lock(&s->lock);
                s->state = ST_PREPARED;
                pthread_mutex_unlock(&s->lock);
                unfreeze(sg);
                return mstore__error(-e, "storage group %s: cannot arm the freeze timer (%s); freeze refused", sg->base,
                                     strerror(e));
        }
        s->timer_running = 1;
        return 0;
}

int mstore_snapshot_thaw(mstore_snap *s) {
        if (!s)
                return -EINVAL;
        ERR_ON_SNAP(s);
        mstore_sg *sg = s->sg;
        if (get_state(s) != ST_FROZEN && get_state(s) != ST_TIMED_OUT)
                return mstore__error(MSTORE_E_BAD_SEQUENCE, "storage group %s: thaw in state %s", sg->base,
                                     state_names[get_state(s)]);
        timer_stop(s);
        if (s->timed_out)
                return mstore__error(MSTORE_E_FREEZE_TIMEOUT,
                                     "storage group %s: freeze timed out after %u ms and was released", sg->base,
                                     sg->freeze_timeout_ms);
        unfreeze(sg);
        pthread_mutex_lock(&s->lock);
        s->state = ST_THAWED;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

int mstore_snapshot_truncate_logs(mstore_snap *s) {
        if (!s)
                return -EINVAL;
        ERR_ON_SNAP(s);
        mstore_sg *sg = s->sg;
        if ((get_state(s) != ST_THAWED && get_state(s) != ST_TRUNCATED) ||
            s->type == MSTORE_BACKUP_COPY || s->type == MSTORE_BACKUP_DIFFERENTIAL)
                return mstore__error(MSTORE_E_BAD_SEQUENCE,
                                     "storage group %s: log truncation not allowed (%s backup, state %s)", sg->base,
                                     s->type == MSTORE_BACKUP_COPY           ? "copy"
                                     : s->type == MSTORE_BACKUP_DIFFERENTIAL ? "differential"
                                                                             : "full/incremental",
                                     state_names[get_state(s)]);
        pthread_mutex_lock(&s->lock);
        s->state = ST_TRUNCATED;
        pthread_mutex_unlock(&s->lock);
        if (sg->circular)
                return 0;
        uint32_t limit = MIN(s->gen_high, LGPOS_GEN(s->ckpt_at_freeze));
        int r = log_delete_below(sg->log, limit, NULL, NULL);
        return r < 0 ? mstore__error(r, "storage group %s: truncating logs: %s", sg->base, strerror(-r)) : 0;
}

static void snap_free(mstore_snap *s) {
        mstore_sg *sg = s->sg;
        pthread_mutex_lock(&sg->lock);
        if (sg->snap == s)
                sg->snap = NULL;
        pthread_mutex_unlock(&sg->lock);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s);
}

int mstore_snapshot_end(mstore_snap *s) {
        if (!s)
                return -EINVAL;
        mstore_sg *sg = s->sg;
        ERR_ON_SG(sg); /* the session is freed (but for a call in the wrong state) */
        if (get_state(s) == ST_FROZEN || get_state(s) == ST_TIMED_OUT)
                return mstore__error(MSTORE_E_BAD_SEQUENCE, "storage group %s: end in state %s", sg->base,
                                     state_names[get_state(s)]);
        int r = 0;
        if (get_state(s) != ST_PREPARED) {
                pthread_mutex_lock(&sg->ckpt_lock);
                sg_gate_enter(sg);
                for (unsigned i = 0; i < sg->ndbs && r >= 0; i++) {
                        mstore_db *db = sg->dbs[i];
                        pthread_mutex_lock(&db->hdr_lock);
                        db->hdr.slot[s->type] = (mstore_backup_slot) {
                                .present = 1, .gen_low = s->gen_low, .gen_high = s->gen_high, .time = s->time,
                        };
                        if (s->type == MSTORE_BACKUP_FULL) {
                                db->hdr.slot[MSTORE_BACKUP_INCREMENTAL] = (mstore_backup_slot) { 0 };
                                db->hdr.slot[MSTORE_BACKUP_DIFFERENTIAL] = (mstore_backup_slot) { 0 };
                        }
                        pthread_mutex_unlock(&db->hdr_lock);
                        r = db_write_header(db);
                }
                if (r < 0) {
                        sg_set_failed(sg, r);
                        mstore__error(r, "storage group %s: stamping backup info: %s", sg->base, mstore_strerror(r));
                }
                sg_gate_leave(sg);
                pthread_mutex_unlock(&sg->ckpt_lock);
        }
        snap_free(s);
        return r;
}

void mstore_snapshot_abort(mstore_snap *s) {
        if (!s)
                return;
        if (get_state(s) == ST_FROZEN || get_state(s) == ST_TIMED_OUT) {
                timer_stop(s);
                if (!s->timed_out)
                        unfreeze(s->sg);
        } else
                timer_stop(s);
        snap_free(s);
}

void snapshot_abort_for_close(mstore_sg *sg) {
        pthread_mutex_lock(&sg->lock);
        mstore_snap *s = sg->snap;
        pthread_mutex_unlock(&sg->lock);
        mstore_snapshot_abort(s);
}

int mstore_snapshot_get_files(mstore_snap *s, mstore_backup_files **ret) {
        if (!s || !ret)
                return -EINVAL;
        ERR_ON_SNAP(s);
        mstore_sg *sg = s->sg;
        if (get_state(s) == ST_PREPARED)
                return mstore__error(MSTORE_E_BAD_SEQUENCE, "storage group %s: files known after freeze", sg->base);
        mstore_backup_files *f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->type = s->type;
        f->gen_low = s->gen_low;
        f->gen_high = s->gen_high;
        f->time = s->time;
        f->log_dir = strdup(sg->log_dir);
        f->base = strdup(sg->base);
        int full = s->type == MSTORE_BACKUP_FULL || s->type == MSTORE_BACKUP_COPY;
        int bad = !f->log_dir || !f->base;
        if (full) {
                f->checkpoint = strdup(sg->chk_path);
                bad |= !f->checkpoint;
                pthread_mutex_lock(&sg->lock);
                f->databases = calloc(sg->ndbs + 1, sizeof *f->databases);
                bad |= !f->databases;
                for (unsigned i = 0; !bad && i < sg->ndbs; i++) {
                        f->databases[i].name = strdup(sg->dbs[i]->name);
                        f->databases[i].edb = strdup(sg->dbs[i]->edb_path);
                        f->databases[i].stm = strdup(sg->dbs[i]->stm_path);
                        f->n_databases++;
                        bad |= !f->databases[i].name || !f->databases[i].edb || !f->databases[i].stm;
                }
                pthread_mutex_unlock(&sg->lock);
        }
        if (!bad && s->gen_high >= s->gen_low && s->gen_low) {
                size_t n = s->gen_high - s->gen_low + 1;
                f->logs = calloc(n + 1, sizeof *f->logs);
                bad |= !f->logs;
                for (size_t i = 0; !bad && i < n; i++) {
                        f->logs[i] = log_path_gen(sg->log_dir, sg->base, s->gen_low + (uint32_t) i);
                        bad |= !f->logs[i];
                        f->n_logs++;
                }
        }
        if (bad) {
                mstore_backup_files_free(f);
                return -ENOMEM;
        }
        *ret = f;
        return 0;
}

void mstore_backup_files_free(mstore_backup_files *f) {
        if (!f)
                return;
        for (size_t i = 0; i < f->n_databases; i++) {
                free(f->databases[i].name);
                free(f->databases[i].edb);
                free(f->databases[i].stm);
        }
        free(f->databases);
        for (size_t i = 0; i < f->n_logs; i++)
                free(f->logs[i]);
        free(f->logs);
        free(f->checkpoint);
        free(f->log_dir);
        free(f->base);
        free(f);
}
