/* SPDX-License-Identifier: MIT */
/*
 * recover.c: hard recovery after a restore (also into an alternate
 * directory, the Recovery Storage Group case).
 *
 * H1 Only the databases named (restored) are opened and written.
 * H2 Replay starts at the lowest generation a restored database requires
 *    and runs through the backed-up logs, then the live logs, as long as the
 *    generations follow each other and carry the same signature; it stops
 *    cleanly at the first missing generation or signature change.
 * H3 Every generation up to the highest one a database requires must be
 *    there, else MSTORE_E_MISSING_LOGS names the missing range.
 * H4 Damage inside a closed generation fails the recovery (never skipped).
 * H5 At the end the databases are written, synced and marked clean.
 *    reached_live_end says whether replay ended in live_log_dir's current
 *    log, i.e. nothing the stream committed is missing (full roll-forward).
 * H6 (below) The group locks of db_dir and live_log_dir are held throughout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "err.h"
#include "lib/core/macro.h"

typedef struct hr {
        mstore_db **dbs;
        size_t n;
} hr;

static mstore_db *hr_find(void *ud, uint64_t sig) {
        hr *h = ud;
        for (size_t i = 0; i < h->n; i++)
                if (h->dbs[i]->hdr.db_sig == sig)
                        return h->dbs[i];
        return NULL;
}

/* The current log (BASE.log) of DIR holds generation g. */
static int current_is(const struct mstore_io *io, const char *dir, const char *base, uint32_t g) {
        log_set s;
        if (log_set_scan(io, dir, base, &s) < 0)
                return 0;
        int cur = s.has_current && s.current_gen == g;
        log_set_done(&s);
        return cur;
}

static int gen_exists(const struct mstore_io *io, const char *const dirs[2], const char *base, uint32_t g) {
        for (int i = 0; i < 2; i++) {
                if (!dirs[i])
                        continue;
                _cleanup_free_ char *p = log_path_gen(dirs[i], base, g);
                if ((p && io_exists(io, p) > 0) || current_is(io, dirs[i], base, g))
                        return 1;
        }
        return 0;
}

static int recover_run(const mstore_recover_options *o, const struct mstore_io *io, const char *base,
                       mstore_recover_result *res) {
        *res = (mstore_recover_result) { 0 };
        hr h = { 0 };
        char **names = NULL;
        int r = 0;
        if (!o->databases) {
                r = io_list(io, o->db_dir, &names);
                if (r < 0)
                        return mstore__error(r, "%s: cannot list: %s", o->db_dir, strerror(-r));
        }
        size_t cnt = 0;
        if (o->databases)
                while (o->databases[cnt])
                        cnt++;
        else
                while (names[cnt])
                        cnt++;
        h.dbs = calloc(cnt + 1, sizeof *h.dbs); // NOLINT(bugprone-sizeof-expression): array of pointers
        if (!h.dbs) {
                io_strv_free(names);
                return -ENOMEM;
        }
        for (size_t i = 0; i < cnt && r >= 0; i++) {
                char *path = NULL;
                if (o->databases) {
                        if (asprintf(&path, "%s/%s.edb", o->db_dir, o->databases[i]) < 0)
                                path = NULL;
                } else {
                        size_t l = strlen(names[i]);
                        if (l < 5 || strcmp(names[i] + l - 4, ".edb") != 0)
                                continue;
                        if (asprintf(&path, "%s/%s", o->db_dir, names[i]) < 0)
                                path = NULL;
                }
                if (!path) {
                        r = -ENOMEM;
                        break;
                }
                mstore_db *db;
                r = db_open_files(io, path, 0, &db);
                free(path);
                if (r >= 0)
                        h.dbs[h.n++] = db;
        }
        io_strv_free(names);
        uint8_t sig[16];
        int have_sig = 0;
        uint32_t low = 0, high = 0;
        for (size_t i = 0; i < h.n && r >= 0; i++) {
                db_hdr *d = &h.dbs[i]->hdr;
                if (d->state != MSTORE_STATE_DIRTY_SHUTDOWN)
                        continue;
                if (have_sig && memcmp(sig, d->log_sig, 16) != 0)
                        r = mstore__error(MSTORE_E_SIGNATURE, "%s: restored databases belong to different log streams",
                                          h.dbs[i]->edb_path);
                memcpy(sig, d->log_sig, 16);
                have_sig = 1;
                if (d->req_low && (!low || d->req_low < low))
                        low = d->req_low;
                if (d->req_high > high)
                        high = d->req_high;
        }
        const char *dirs[2] = { o->backup_log_dir, o->live_log_dir };
        if (!dirs[0]) {
                dirs[0] = dirs[1];
                dirs[1] = NULL;
        }
        if (r >= 0 && have_sig && low) {
                uint32_t mlo = 0, mhi = 0;
                for (uint32_t g = low; g <= high && g - low < 0x100000; g++)
                        if (!gen_exists(io, dirs, base, g)) {
                                if (!mlo)
                                        mlo = g;
                                mhi = g;
                        }
                if (mlo)
                        r = mstore__error(MSTORE_E_MISSING_LOGS,
                                          "restored databases need log generations 0x%X-0x%X; missing 0x%X-0x%X", low,
                                          high, mlo, mhi);
                if (r >= 0) {
                        redo_opts ro = {
                                .io = io, .base = base, .dirs = { dirs[0], dirs[1] }, .have_sig = 1,
                                .start = LGPOS(low, LOG_HDR_SIZE), .stop_on_sig_change = 1, .find = hr_find, .ud = &h,
                        };
                        memcpy(ro.sig, sig, 16);
                        redo_result rr;
                        r = redo_run(&ro, &rr);
                        if (r >= 0) {
                                res->gen_first = rr.first_gen;
                                res->gen_last = rr.last_gen;
                                snprintf(res->stop_reason, sizeof res->stop_reason, "%s", rr.stop_reason);
                                res->reached_live_end = rr.last_is_current && o->live_log_dir &&
                                                        current_is(io, o->live_log_dir, base, rr.last_gen);
                        }
                }
        } else if (r >= 0)
                snprintf(res->stop_reason, sizeof res->stop_reason, "no database needed log replay");
        for (size_t i = 0; i < h.n && r >= 0; i++) {
                mstore_db *db = h.dbs[i];
                r = db_flush_pages(db);
                if (r >= 0) {
                        db->hdr.state = MSTORE_STATE_CLEAN_SHUTDOWN;
                        db->hdr.req_low = db->hdr.req_high = 0;
                        r = db_write_header(db);
                }
                if (r >= 0)
                        res->n_databases++;
        }
        for (size_t i = 0; i < h.n; i++)
                db_free(h.dbs[i]);
        free(h.dbs);
        return r;
}

/* H6 Recovery writes the databases in db_dir and reads live_log_dir: it
 *    holds the group lock of both (never under an open group). */
int mstore_recover(const mstore_recover_options *o, mstore_recover_result *res) {
        ERR_ON_THREAD(); /* no handle */
        if (!o || o->version != MSTORE_RECOVER_OPTIONS_VERSION || !o->db_dir || !res)
                return mstore__error(-EINVAL, "mstore_recover: bad arguments");
        const struct mstore_io *io = o->io ? o->io : io_posix();
        const char *base = o->base ? o->base : "E00";
        mstore_file *lock_db = NULL, *lock_live = NULL;
        int r = sg_lock_dir(io, o->db_dir, base, &lock_db);
        if (r >= 0 && o->live_log_dir && strcmp(o->live_log_dir, o->db_dir) != 0)
                r = sg_lock_dir(io, o->live_log_dir, base, &lock_live);
        if (r >= 0)
                r = recover_run(o, io, base, res);
        io_close(lock_live);
        io_close(lock_db);
        return r;
}
