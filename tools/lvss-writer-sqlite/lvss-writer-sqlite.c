/* SPDX-License-Identifier: MIT */
/*
 * lvss-writer-sqlite: the SQLite Writer.
 *
 * Makes snapshots of applications' SQLite databases consistent.  The
 * configuration (sqlite-config.h) groups database files into components,
 * "SQLite/<host>/<name>": the files of one component are frozen together,
 * so a transaction that spans them (ATTACH) is either in the snapshot on
 * every file or on none.
 *
 *   PrepareForBackup  full and copy only; remember the selected components
 *   PrepareForSnapshot open every database of them, checkpoint WAL
 *                     databases (PASSIVE: never waits) so the -wal is short
 *   Freeze            BEGIN IMMEDIATE on every database (the write lock:
 *                     no commit is in progress on any of them while held),
 *                     all or none: on SQLITE_BUSY everything taken is
 *                     released and tried again until busy_timeout_ms, then
 *                     the freeze is vetoed with the database named
 *   Thaw/Abort/BackupShutdown  ROLLBACK and close
 *   PreRestore        refused while any process holds a database open:
 *                     the locks SQLite itself uses (fcntl on the database's
 *                     lock bytes and on the -shm "DMS" byte) and every
 *                     process's open files (/proc/PID/fd); accepted: the
 *                     live -wal, -shm and -journal are removed (a live WAL
 *                     would otherwise be replayed onto the restored file)
 *   PostRestore       PRAGMA quick_check on every restored database
 *
 * Files of a component: each database, its -wal and its -journal (a hot
 * journal rolls back what was half-written when SQLite opens the copy);
 * never the -shm (rebuilt on open).  lvss-backup writes each restored file
 * atomically (temporary file + rename).
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure, 2 usage or a bad
 * configuration, 5 not allowed to register as a writer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lvss/lvss.h>

#include "writer-common.h"

#include "lib/core/error-slot.h"
#include "lib/core/macro.h"
#include "sqlite-config.h"

#define SQLITE_WRITER_CLASS_ID "5d0f3a61-8c2e-4b7a-9e41-2a6c0b9d7e13"
#define SQLITE_WRITER_NAME "SQLite Writer"

/* SQLite's unix VFS lock bytes (os_unix.c): PENDING, RESERVED, then the
 * 510-byte SHARED range; the -shm "DMS" byte every WAL connection holds
 * shared while it has the database open. */
#define SQLITE_LOCK_FIRST 0x40000000
#define SQLITE_LOCK_LEN (2 + 510)
#define SQLITE_SHM_DMS 128

typedef struct db {
        const char *path;       /* borrowed from the configuration */
        sqlite3 *h;             /* open from PrepareForSnapshot to Thaw/Abort */
        bool locked;            /* inside BEGIN IMMEDIATE */
        uint64_t until;         /* busy_poll()'s deadline (CLOCK_MONOTONIC ms) */
} db;

typedef struct comp {
        const sqlw_component *cfg;
        db *dbs;
        bool selected;
} comp;

typedef struct sqlw {
        sqlw_config cfg;
        char lpath[SQLW_MAX_NAME + 16]; /* "SQLite/<host>" */
        comp *comps;
        lvss_writer *w;
        ErrorSlot err;          /* why the writer's last step failed */
} sqlw;


static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static int fail(lvss_writer *w, int code, lvss_component *c, int which, const char *fmt, ...) _printf_(5, 6);
/* Writer failure + the component's message of this phase (which: 0
 * prepare-backup, 1 pre-restore, 2 post-restore, -1 none).  Returns -1. */
static int fail(lvss_writer *w, int code, lvss_component *c, int which, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (c && which == 0)
                lvss_component_set_prepare_for_backup_failure_msg(c, msg);
        else if (c && which == 1)
                lvss_component_set_pre_restore_failure_msg(c, msg);
        else if (c && which == 2)
                lvss_component_set_post_restore_failure_msg(c, msg);
        lvss_writer_set_failure_ex(w, code, 0, msg);
        fprintf(stderr, "lvss-writer-sqlite: %s\n", msg);
        return -1;
}

static comp *find_comp(sqlw *s, lvss_component *c) {
        if (strcmp(lvss_component_get_logical_path(c), s->lpath) != 0)
                return NULL;
        for (size_t i = 0; i < s->cfg.n_components; i++)
                if (strcmp(s->comps[i].cfg->name, lvss_component_get_name(c)) == 0)
                        return &s->comps[i];
        return NULL;
}

/* ---------------------------------------------------------------- metadata */

/* fnmatch(3) pattern matching exactly 'name' + 'suffix'. */
static void escape_spec(const char *name, const char *suffix, char *out, size_t n) {
        size_t o = 0;
        for (const char *p = name; *p && o + 2 < n; p++) {
                if (strchr("*?[]\\", *p))
                        out[o++] = '\\';
                out[o++] = *p;
        }
        out[o] = '\0';
        snprintf(out + o, n - o, "%s", suffix);
}

static int on_identify(lvss_writer *w, lvss_metadata_builder *md, void *userdata) {
        sqlw *s = userdata;
        static const char *const suffixes[] = { "", "-wal", "-journal" };
        int r = 0;

        for (size_t i = 0; i < s->cfg.n_components && r >= 0; i++) {
                const sqlw_component *c = &s->cfg.components[i];
                char caption[256];
                snprintf(caption, sizeof(caption), "SQLite databases of %s (%zu)", c->name, c->n_databases);
                r = lvss_metadata_builder_add_component(md, LVSS_CT_FILEGROUP, s->lpath, c->name, caption, 0, 0, 1, 1, 0);
                for (size_t j = 0; j < c->n_databases && r >= 0; j++) {
                        char dir[SQLW_MAX_PATH + 1], spec[2 * SQLW_MAX_PATH + 16];
                        const char *slash = strrchr(c->databases[j], '/');
                        size_t dl = (size_t) (slash - c->databases[j]);
                        if (dl == 0)
                                dl = 1; /* a database directly under / */
                        memcpy(dir, c->databases[j], dl);
                        dir[dl] = '\0';
                        for (size_t k = 0; k < ELEMENTSOF(suffixes) && r >= 0; k++) {
                                escape_spec(slash + 1, suffixes[k], spec, sizeof(spec));
                                r = lvss_metadata_builder_add_files_to_file_group(md, s->lpath, c->name, dir, spec, 0, NULL, 0);
                        }
                }
        }
        if (r >= 0)
                r = lvss_metadata_builder_set_restore_method(md, LVSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL, LVSS_WRE_ALWAYS, 0);
        if (r >= 0)
                r = lvss_metadata_builder_set_backup_schema(md, LVSS_BS_COPY);
        return r;
}

/* ------------------------------------------------------------------ backup */

/* Roll back and close every open database. */
static void release_all(sqlw *s) {
        if (!s->comps)
                return;
        for (size_t i = 0; i < s->cfg.n_components; i++)
                for (size_t j = 0; j < s->cfg.components[i].n_databases; j++) {
                        db *d = &s->comps[i].dbs[j];
                        if (d->locked)
                                (void) sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
                        d->locked = false;
                        if (d->h)
                                sqlite3_close_v2(d->h);
                        d->h = NULL;
                }
}

static void unlock_all(sqlw *s) {
        if (!s->comps)
                return;
        for (size_t i = 0; i < s->cfg.n_components; i++)
                for (size_t j = 0; j < s->cfg.components[i].n_databases; j++) {
                        db *d = &s->comps[i].dbs[j];
                        if (d->locked)
                                (void) sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
                        d->locked = false;
                }
}

static int on_prepare_backup(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        sqlw *s = userdata;
        lvss_backup_type t = lvss_writer_get_backup_type(w);
        int n = lvss_writer_components_get_count(comps);

        release_all(s);
        for (size_t i = 0; i < s->cfg.n_components; i++)
                s->comps[i].selected = false;
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c)
                        continue;
                comp *k = find_comp(s, c);
                if (!k)
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 0, "unknown component '%s/%s'",
                                    lvss_component_get_logical_path(c), lvss_component_get_name(c));
                if (t != LVSS_BT_FULL && t != LVSS_BT_COPY)
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 0,
                                    "component '%s/%s': the SQLite Writer takes full and copy backups only, not %s",
                                    s->lpath, k->cfg->name, lvss_backup_type_to_string(t) ?: "this type");
                k->selected = true;
        }
        return 0;
}

/* SQLite's own busy handler sleeps ever longer (up to 100 ms) and loses
 * the lock to application writers that commit and begin again at once; this
 * one looks every 250 us until its deadline. */
static int busy_poll(void *userdata, int count) {
        const uint64_t *until = userdata;
        if (now_ms() >= *until)
                return 0;
        usleep(250);
        return 1;
}

/* Open and read the schema (proves it is a database), waiting at most
 * busy_ms for a committing writer's lock.  -EIO with SQLite's reason in
 * err. */
static int open_db(db *d, uint32_t busy_ms, ErrorSlot *err) {
        int rc = sqlite3_open_v2(d->path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        d->until = now_ms() + busy_ms;
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_handler(d->h, busy_poll, &d->until);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(d->h, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                int r = error_slot_set(err, -EIO, "database %s: cannot open: %s", d->path,
                                       d->h ? sqlite3_errmsg(d->h) : sqlite3_errstr(rc));
                sqlite3_close_v2(d->h);
                d->h = NULL;
                return r;
        }
        return 0;
}

static int on_prepare_snapshot(lvss_writer *w, void *userdata) {
        sqlw *s = userdata;

        for (size_t i = 0; i < s->cfg.n_components; i++) {
                if (!s->comps[i].selected)
                        continue;
                for (size_t j = 0; j < s->cfg.components[i].n_databases; j++) {
                        db *d = &s->comps[i].dbs[j];
                        if (!d->h && open_db(d, s->cfg.busy_timeout_ms, &s->err) < 0) {
                                release_all(s);
                                return fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, -1, "%s", error_slot_get(&s->err));
                        }
                        d->until = now_ms() + 100; /* the checkpoint never waits long */
                        /* A no-op unless the database is in WAL mode; PASSIVE never waits. */
                        (void) sqlite3_exec(d->h, "PRAGMA wal_checkpoint(PASSIVE)", NULL, NULL, NULL);
                }
        }
        return 0;
}

/* Freeze: the write lock of every database of the selected components, all
 * together or none.  The first database of an attempt is waited for until
 * the deadline; a later one for at most 50 ms while the earlier ones are
 * held, then everything is released and the attempt starts again (an
 * application transaction that takes them in another order never
 * deadlocks with us). */
static int on_freeze(lvss_writer *w, void *userdata) {
        sqlw *s = userdata;
        uint64_t deadline = now_ms() + s->cfg.busy_timeout_ms;
        const char *busy = NULL;

        for (;;) {
                bool first = true;
                busy = NULL;
                for (size_t i = 0; i < s->cfg.n_components && !busy; i++) {
                        if (!s->comps[i].selected)
                                continue;
                        for (size_t j = 0; j < s->cfg.components[i].n_databases && !busy; j++) {
                                db *d = &s->comps[i].dbs[j];
                                if (!d->h && open_db(d, s->cfg.busy_timeout_ms, &s->err) < 0) {
                                        release_all(s);
                                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, NULL, -1, "%s",
                                                    error_slot_get(&s->err));
                                }
                                d->until = first ? deadline : MIN(deadline, now_ms() + 50);
                                first = false;
                                int rc = sqlite3_exec(d->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
                                if (rc == SQLITE_OK)
                                        d->locked = true;
                                else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
                                        busy = d->path;
                                else {
                                        /* Taken before release_all() closes the handle. */
                                        error_slot_set(&s->err, -EIO, "database %s: BEGIN IMMEDIATE failed: %s",
                                                       d->path, sqlite3_errmsg(d->h));
                                        release_all(s);
                                        return fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, -1, "%s",
                                                    error_slot_get(&s->err));
                                }
                        }
                }
                if (!busy)
                        return 0;
                unlock_all(s);
                if (now_ms() >= deadline)
                        break;
        }
        release_all(s);
        return fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, -1,
                    "database %s stayed locked by another transaction for busy_timeout_ms (%u ms); freeze abandoned",
                    busy, s->cfg.busy_timeout_ms);
}

static int on_thaw(lvss_writer *w, void *userdata) {
        release_all(userdata);
        return 0;
}

static int on_abort(lvss_writer *w, void *userdata) {
        release_all(userdata);
        return 0;
}

static int on_backup_shutdown(lvss_writer *w, const char *set_id, void *userdata) {
        release_all(userdata); /* never stay frozen after the session ends */
        return 0;
}

/* ----------------------------------------------------------------- restore */

static char *restore_option(lvss_component *c, const char *key) {
        const char *o = lvss_component_get_restore_options(c);
        if (!o || !*o)
                return NULL;
        json_t *j = json_loads(o, 0, NULL);
        const char *v = json_string_value(json_object_get(j, key));
        char *r = v && v[0] == '/' && strlen(v) < PATH_MAX ? strdup(v) : NULL;
        json_decref(j);
        return r;
}

/* Is the lock range held by anyone?  1 yes (*pid: the holder or -1), 0 no. */
static int lock_held(const char *path, off_t start, off_t len, pid_t *pid) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
        if (fcntl(fd, F_OFD_GETLK, &fl) < 0 || fl.l_type == F_UNLCK)
                return 0;
        *pid = fl.l_pid > 0 ? fl.l_pid : -1;
        return 1;
}

/* Any other process with one of the files open?  1 yes (*pid, comm), 0 no. */
static int open_elsewhere(const struct stat *files, size_t n, pid_t *pid, char *comm, size_t comm_size) {
        DIR *proc = opendir("/proc");
        struct dirent *de;
        int found = 0;

        if (!proc)
                return 0;
        while (!found && (de = readdir(proc))) {
                char *end;
                long p = strtol(de->d_name, &end, 10);
                if (*end || p <= 0 || p == getpid())
                        continue;
                char fdpath[64];
                snprintf(fdpath, sizeof(fdpath), "/proc/%ld/fd", p);
                int dfd = open(fdpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                DIR *fds = dfd >= 0 ? fdopendir(dfd) : NULL;
                if (!fds) {
                        if (dfd >= 0)
                                close(dfd);
                        continue;
                }
                struct dirent *fe;
                while (!found && (fe = readdir(fds))) {
                        struct stat st;
                        if (fe->d_name[0] == '.' || fstatat(dfd, fe->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
                                continue;
                        for (size_t i = 0; i < n; i++)
                                if (files[i].st_dev == st.st_dev && files[i].st_ino == st.st_ino)
                                        found = 1;
                }
                closedir(fds);
                if (found) {
                        *pid = (pid_t) p;
                        snprintf(fdpath, sizeof(fdpath), "/proc/%ld/comm", p);
                        FILE *f = fopen(fdpath, "re");
                        comm[0] = '\0';
                        if (f) {
                                if (fgets(comm, (int) comm_size, f))
                                        comm[strcspn(comm, "\n")] = '\0';
                                fclose(f);
                        }
                }
        }
        closedir(proc);
        return found;
}

/* 0 if nobody holds the database; else -EBUSY with the reason in err. */
static int probe_db(const char *path, ErrorSlot *err) {
        static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
        char p[SQLW_MAX_PATH + 16], comm[64] = "";
        struct stat files[ELEMENTSOF(suffixes)];
        size_t nf = 0;
        pid_t pid = -1;

        if (lock_held(path, SQLITE_LOCK_FIRST, SQLITE_LOCK_LEN, &pid))
                return error_slot_set(err, -EBUSY, "database %s is in use: process %d holds its SQLite lock", path,
                                      (int) pid);
        snprintf(p, sizeof(p), "%s-shm", path);
        if (lock_held(p, SQLITE_SHM_DMS, 1, &pid))
                return error_slot_set(err, -EBUSY,
                                      "database %s is in use: process %d has it open (WAL shared memory lock)", path,
                                      (int) pid);
        for (size_t k = 0; k < ELEMENTSOF(suffixes); k++) {
                snprintf(p, sizeof(p), "%s%s", path, suffixes[k]);
                if (lstat(p, &files[nf]) == 0 && S_ISREG(files[nf].st_mode))
                        nf++;
        }
        if (nf && open_elsewhere(files, nf, &pid, comm, sizeof(comm)))
                return error_slot_set(err, -EBUSY, "database %s is in use: process %d (%s) has it open", path,
                                      (int) pid, comm);
        return 0;
}

static int on_pre_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        sqlw *s = userdata;
        int n = lvss_writer_components_get_count(comps);

        release_all(s);
        /* Check everything first: nothing is removed unless every component may be restored. */
        for (int pass = 0; pass < 2; pass++)
                for (int i = 0; i < n; i++) {
                        lvss_component *c = NULL;
                        if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c ||
                            !lvss_component_is_selected_for_restore(c))
                                continue;
                        comp *k = find_comp(s, c);
                        if (!k)
                                return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 1,
                                            "component '%s/%s' is not in this writer's configuration",
                                            lvss_component_get_logical_path(c), lvss_component_get_name(c));
                        _cleanup_free_ char *alt = restore_option(c, "alternate_location");
                        if (alt) {
                                lvss_component_set_restore_target(c, LVSS_RT_ALTERNATE);
                                continue; /* the live databases are not touched */
                        }
                        for (size_t j = 0; j < k->cfg->n_databases; j++) {
                                const char *path = k->cfg->databases[j];
                                if (pass == 0) {
                                        if (probe_db(path, &s->err) < 0)
                                                return fail(w, LVSS_E_WRITERERROR_RETRYABLE, c, 1,
                                                            "%s; stop the application before restoring",
                                                            error_slot_get(&s->err));
                                        continue;
                                }
                                /* A live WAL or journal would be applied to the restored file. */
                                static const char *const stale[] = { "-wal", "-shm", "-journal" };
                                for (size_t q = 0; q < ELEMENTSOF(stale); q++) {
                                        char p[SQLW_MAX_PATH + 16];
                                        snprintf(p, sizeof(p), "%s%s", path, stale[q]);
                                        if (unlink(p) < 0 && errno != ENOENT)
                                                return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 1,
                                                            "cannot remove %s: %s", p, strerror(errno));
                                }
                        }
                }
        return 0;
}

static int on_post_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        sqlw *s = userdata;
        int n = lvss_writer_components_get_count(comps), rc = 0;

        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c ||
                    !lvss_component_is_selected_for_restore(c) || lvss_component_get_additional_restores(c) == 1)
                        continue;
                comp *k = find_comp(s, c);
                _cleanup_free_ char *alt = restore_option(c, "alternate_location");
                if (!k || alt)
                        continue;
                if (lvss_component_get_file_restore_status(c) != LVSS_RS_ALL) {
                        rc = fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 2,
                                  "component '%s/%s': not every file was restored", s->lpath, k->cfg->name);
                        continue;
                }
                for (size_t j = 0; j < k->cfg->n_databases; j++) {
                        db d = { .path = k->cfg->databases[j] };
                        char *res = NULL;
                        sqlite3_stmt *st = NULL;
                        if (open_db(&d, s->cfg.busy_timeout_ms, &s->err) < 0) {
                                rc = fail(w, LVSS_E_WRITERERROR_RECOVERY_FAILED, c, 2, "%s", error_slot_get(&s->err));
                                continue;
                        }
                        if (sqlite3_prepare_v2(d.h, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
                            sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                                res = strdup((const char *) sqlite3_column_text(st, 0));
                        sqlite3_finalize(st);
                        if (!res || strcmp(res, "ok") != 0)
                                rc = fail(w, LVSS_E_WRITERERROR_RECOVERY_FAILED, c, 2,
                                          "restored database %s fails PRAGMA quick_check: %s", d.path,
                                          res ? res : sqlite3_errmsg(d.h));
                        free(res);
                        sqlite3_close_v2(d.h);
                }
        }
        return rc;
}

/* -------------------------------------------------------------------- main */

static const char help[] =
        "Usage: lvss-writer-sqlite --config FILE\n"
        "The SQLite Writer: freezes the SQLite databases listed in FILE (JSON) for\n"
        "lvss snapshots, one component 'SQLite/<host>/<name>' per group of files\n"
        "that must be consistent together; refuses to restore a database that a\n"
        "process has open.  See lvss-writer-sqlite(8).\n\n"
        "  --config FILE   the configuration (JSON)\n"
        "  --check         parse the configuration, print the components and exit\n"
        "  --help          this text\n";

/* The coordinator is gone or the writer exits: never stay frozen. */
static void on_lost(void *userdata, const char *why) {
        (void) why;
        release_all(userdata);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "check", no_argument, NULL, 'k' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *config = NULL;
        bool check = false;
        sqlw s = {};
        char host[SQLW_MAX_NAME + 1];
        int c, r;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'c': config = optarg; break;
                case 'k': check = true; break;
                case 'h': fputs(help, stdout); return 0;
                default: fputs(help, stderr); return 2;
                }
        }
        if (optind < argc || !config) {
                fprintf(stderr, "lvss-writer-sqlite: --config FILE is required (see --help)\n");
                return 2;
        }
        r = sqlw_config_load(config, &s.cfg);
        if (r < 0) {
                fprintf(stderr, "lvss-writer-sqlite: configuration %s: %s\n", config, error_slot_get(NULL));
                return r == -ENOMEM ? 1 : 2;
        }
        if (!s.cfg.host) {
                wc_short_hostname(host, sizeof(host)); /* short name, like the Mail Store Writer */
        }
        snprintf(s.lpath, sizeof(s.lpath), "SQLite/%s", s.cfg.host ? s.cfg.host : host);
        s.comps = calloc(s.cfg.n_components, sizeof(comp));
        if (!s.comps)
                return 1;
        for (size_t i = 0; i < s.cfg.n_components; i++) {
                s.comps[i].cfg = &s.cfg.components[i];
                s.comps[i].dbs = calloc(s.cfg.components[i].n_databases, sizeof(db));
                if (!s.comps[i].dbs)
                        return 1;
                for (size_t j = 0; j < s.cfg.components[i].n_databases; j++)
                        s.comps[i].dbs[j].path = s.cfg.components[i].databases[j];
        }
        if (check) {
                for (size_t i = 0; i < s.cfg.n_components; i++)
                        printf("%s/%s %zu\n", s.lpath, s.cfg.components[i].name, s.cfg.components[i].n_databases);
                r = 0;
                goto out;
        }

        lvss_writer_identity id = LVSS_WRITER_IDENTITY_INIT;
        lvss_writer_events ev = LVSS_WRITER_EVENTS_INIT;
        id.class_id = SQLITE_WRITER_CLASS_ID;
        id.name = SQLITE_WRITER_NAME;
        id.usage = LVSS_UT_USERDATA;
        id.source = LVSS_ST_TRANSACTEDDB;
        id.level = LVSS_APP_BACK_END;
        id.freeze_timeout_ms = s.cfg.freeze_timeout_ms;
        ev.on_identify = on_identify;
        ev.on_prepare_backup = on_prepare_backup;
        ev.on_prepare_snapshot = on_prepare_snapshot;
        ev.on_freeze = on_freeze;
        ev.on_thaw = on_thaw;
        ev.on_abort = on_abort;
        ev.on_backup_shutdown = on_backup_shutdown;
        ev.on_pre_restore = on_pre_restore;
        ev.on_post_restore = on_post_restore;
        r = lvss_writer_new(&id, &ev, &s, &s.w);
        if (r < 0) {
                fprintf(stderr, "lvss-writer-sqlite: cannot create the writer: %s\n", lvss_strerror(r));
                r = 1;
                goto out;
        }
        wc_install_signals();
        wc_instance x = { .w = s.w, .label = s.lpath, .on_lost = on_lost, .userdata = &s };
        r = wc_run(&x, 1, "lvss-writer-sqlite");
out:
        release_all(&s);
        lvss_writer_free(s.w);
        for (size_t i = 0; s.comps && i < s.cfg.n_components; i++)
                free(s.comps[i].dbs);
        free(s.comps);
        sqlw_config_clear(&s.cfg);
        return r;
}
