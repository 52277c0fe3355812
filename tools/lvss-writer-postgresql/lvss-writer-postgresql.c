/* SPDX-License-Identifier: MIT */
/*
 * lvss-writer-postgresql: the PostgreSQL Writer (docs/design/writers.md §5).
 *
 * Runs as the cluster's owner, talks to the cluster over its local socket
 * (libpq) and declares one database component PostgreSQL/<host>/<cluster>:
 * the data directory and the tablespaces as database files (one
 * descriptor per directory, pg_wal and the directories PostgreSQL rebuilds
 * left out, and what pg_basebackup leaves out excluded: writers.md §5), the
 * WAL archive (--wal-archive) as log files; a full stores only its own WAL
 * from the archive (after_snapshot "only").
 *
 *   PrepareForBackup   full/copy: fine.  incremental/differential: only with
 *                      archive_mode on and --wal-archive, and a previous
 *                      stamp from the requestor; else a veto saying why
 *   PrepareForSnapshot full/copy: pg_backup_start(label, fast => true) on a
 *                      session held open until PostSnapshot (non-exclusive)
 *                      incremental/differential: pg_switch_wal() and wait
 *                      until that segment is archived; the segments since
 *                      the base's stamp become the backup's file list
 *   Freeze/Thaw        nothing: PostgreSQL's WAL makes the copy consistent
 *   PostSnapshot       full/copy: pg_backup_stop(wait_for_archive => false),
 *                      then PostgreSQL's archive wait made by the writer
 *                      every 10 ms (wait_archived); backup_label and
 *                      tablespace_map go into the
 *                      component's backup metadata (never into the live
 *                      data directory); stamp {"type","stop_lsn","next_lsn",
 *                      "timeline"}
 *   Abort/BackupShutdown/exit  the session is closed: PostgreSQL ends the
 *                      backup itself (so does a killed writer)
 *   PreRestore         refused while a postmaster runs (postmaster.pid with a
 *                      live pid) or for an alternate location; a full's
 *                      step makes the missing directories of the data
 *                      directory and the tablespaces as the cluster's owner
 *   PostRestore        backup_label/tablespace_map from the full of the chain
 *                      (written at its step), then on the last step
 *                      recovery.signal, restore_command (+ targets) and
 *                      recovery_init_sync_method = syncfs in
 *                      postgresql.auto.conf
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure, 2 usage, 5 not
 * allowed to register as a writer.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lvss/lvss.h>

#include "writer-common.h"

/* Paths and messages are built with snprintf into PATH_MAX / message
 * buffers: a path that does not fit is cut and then fails to open, a
 * message is merely shortened. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define PG_CLASS_ID "5d1f7a3c-9e2b-4f60-8c41-7b3e2a9d6f05"
#define MSG_MAX 1024
#define ARCHIVE_WAIT_SECONDS 60
#define ARCHIVE_POLL_US 10000 /* 10 ms: PostgreSQL's own wait sleeps 1 s */

typedef struct pgw {
        const char *pgdata;
        const char *host;           /* socket directory */
        const char *port;
        const char *cluster;
        const char *archive;        /* --wal-archive, or NULL */
        bool prune_archive;         /* --prune-archive: the writer manages the archive */
        unsigned n_excludes;        /* Identify: unlogged relations' fork excludes so far */
        char path[512];             /* PostgreSQL/<host>/<cluster> */
        char lpath[300];            /* PostgreSQL/<host> */
        lvss_writer *w;
        ErrorSlot err;              /* why the last step failed (lib/core/error-slot.h) */

        /* the set in progress */
        bool active;
        lvss_backup_type type;
        PGconn *session;            /* full/copy: holds the backup open */
        char start_lsn[32];
        char from_lsn[32];          /* incremental/differential: the base's next_lsn */
        char switch_lsn[32];
        int timeline;
        bool wait_archive;          /* full/copy: archive_mode on, not in recovery */
        json_t *files;              /* incremental/differential: archive files */
} pgw;

static char hostname_short[HOST_NAME_MAX + 1];

/* Seconds on the monotonic clock: the writer logs how long its own steps
 * took (the benches split a backup's time between writer and requestor). */
static double mono_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int fail(pgw *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(pgw *p, int code, const char *fmt, ...) {
        char msg[MSG_MAX], full[MSG_MAX + 600];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(full, sizeof(full), "%s: %s", p->path, msg);
        fprintf(stderr, "lvss-writer-postgresql: %s\n", full);
        lvss_writer_set_failure_ex(p->w, code, 0, full);
        return -1;
}

/* ------------------------------------------------------------ libpq */

static PGconn *pg_connect(pgw *p, ErrorSlot *err) {
        const char *keys[] = { "host", "port", "dbname", "application_name", "connect_timeout", NULL };
        const char *vals[] = { p->host, p->port, "postgres", "lvss-writer-postgresql", "10", NULL };
        PGconn *c = PQconnectdbParams(keys, vals, 0);
        if (!c || PQstatus(c) != CONNECTION_OK) {
                const char *why = c ? PQerrorMessage(c) : "out of memory";
                error_slot_set(err, -ECONNREFUSED, "cannot connect to the cluster (socket %s, port %s): %.*s", p->host,
                               p->port, (int) strcspn(why, "\n"), why);
                PQfinish(c);
                return NULL;
        }
        return c;
}

/* One row, one or more text columns.  NULL and err set on failure. */
static PGresult *pg_query(PGconn *c, const char *sql, int n_params, const char *const *params, ErrorSlot *err) {
        PGresult *r = PQexecParams(c, sql, n_params, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
                const char *why = PQerrorMessage(c);
                error_slot_set(err, -EIO, "%s: %.*s", sql, (int) strcspn(why, "\n"), why);
                PQclear(r);
                return NULL;
        }
        return r;
}

static void end_session(pgw *p, const char *why) {
        if (p->session) {
                fprintf(stderr, "lvss-writer-postgresql: %s: closing the backup session (%s)\n", p->path, why);
                PQfinish(p->session); /* PostgreSQL ends a non-exclusive backup with its session */
                p->session = NULL;
        }
        json_decref(p->files);
        p->files = NULL;
        p->active = false;
}

/* ------------------------------------------------------- WAL names */

/* "X/Y" -> 64-bit LSN; -1 if malformed. */
static int parse_lsn(const char *s, uint64_t *ret) {
        unsigned hi, lo;
        char tail;
        if (!s || sscanf(s, "%X/%X%c", &hi, &lo, &tail) != 2) // NOLINT(cert-err34-c): the pattern and count check reject malformed LSNs
                return -1;
        *ret = ((uint64_t) hi << 32) | lo;
        return 0;
}

/* A WAL segment file name (24 hex digits): its segment number (timeline
 * left out); default 16 MiB segments (the log/seg split of the name). */
static bool wal_segment_name(const char *n, uint64_t *ret_seg) {
        if (strlen(n) != 24)
                return false;
        for (int i = 0; i < 24; i++)
                if (!isxdigit((unsigned char) n[i]) || islower((unsigned char) n[i]))
                        return false;
        char log[9], seg[9];
        memcpy(log, n + 8, 8), log[8] = 0;
        memcpy(seg, n + 16, 8), seg[8] = 0;
        *ret_seg = strtoull(log, NULL, 16) * 0x100u + strtoull(seg, NULL, 16);
        return true;
}

static uint64_t lsn_segment(uint64_t lsn) {
        return lsn / (16u * 1024u * 1024u);
}

/* Whether PostgreSQL has archived the WAL file 'name' (a segment or a
 * .backup history file), by the test PostgreSQL's own archive wait
 * (XLogArchiveIsBusy) makes: archive_status/NAME.done exists; or neither
 * .done nor .ready exists and the file is gone from pg_wal (archived, then
 * recycled by a checkpoint).  A .done is made only after archive_command
 * succeeded for the file.  The writer runs as the cluster's owner: it reads
 * pg_wal as PostgreSQL does. */
static bool wal_archived(const pgw *p, const char *name) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/pg_wal/archive_status/%s.done", p->pgdata, name);
        if (access(path, F_OK) == 0)
                return true;
        snprintf(path, sizeof(path), "%s/pg_wal/archive_status/%s.ready", p->pgdata, name);
        if (access(path, F_OK) == 0)
                return false;
        snprintf(path, sizeof(path), "%s/pg_wal/%s", p->pgdata, name);
        return access(path, F_OK) < 0 && errno == ENOENT;
}

/* Wait until every one of the WAL files names[0..n) is archived
 * (wal_archived), and, with in_dir, is in the archive directory too;
 * polled every ARCHIVE_POLL_US, at most ARCHIVE_WAIT_SECONDS.  0, or
 * -ETIMEDOUT with err naming the first file still missing and
 * pg_stat_archiver's last failure (the archive_command failing is the usual
 * cause). */
static int wait_archived(const pgw *p, PGconn *c, const char *const *names, size_t n, bool in_dir, ErrorSlot *err) {
        double deadline = mono_s() + ARCHIVE_WAIT_SECONDS;
        size_t i = 0;
        for (;;) {
                while (i < n) {
                        char path[PATH_MAX];
                        snprintf(path, sizeof(path), "%s/%s", p->archive ? p->archive : "", names[i]);
                        if (!wal_archived(p, names[i]) || (in_dir && access(path, F_OK) < 0))
                                break;
                        i++;
                }
                if (i == n)
                        return 0;
                if (mono_s() > deadline)
                        break;
                usleep(ARCHIVE_POLL_US);
        }
        /* st: pg_stat_archiver's figures, or why they could not be read */
        PGresult *r = pg_query(c,
                               "SELECT failed_count::text, coalesce(last_failed_wal, '-'), "
                               "coalesce(last_failed_time::text, '-'), coalesce(last_archived_wal, '-') "
                               "FROM pg_stat_archiver",
                               0, NULL, err);
        if (r)
                error_slot_set(err, 0, "pg_stat_archiver: %s failure(s), last %s at %s; last archived %s",
                               PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
        PQclear(r);
        return error_slot_set(err, -ETIMEDOUT, "WAL file %s was not archived%s%s within %d s (archive_command failing? %s)",
                              names[i], in_dir ? " into " : "", in_dir ? p->archive : "", ARCHIVE_WAIT_SECONDS,
                              error_slot_get(err));
}

/* The archive files of an incremental/differential: WAL segments from the
 * base's next_lsn up to the switch point, every .history file and the .backup
 * files in that range.  All of them were archived before the snapshot.
 * Also the WAL of a full from its start to its stop LSN, archived after the
 * snapshot (names_only: file names, for the "after_snapshot" list). */
static int list_archive(pgw *p, uint64_t from, uint64_t to, bool names_only) {
        DIR *d = opendir(p->archive);
        struct dirent *de;
        if (!d)
                return error_slot_set(&p->err, -errno, "WAL archive %s: %m", p->archive);
        json_decref(p->files);
        p->files = json_array();
        while ((de = readdir(d))) {
                uint64_t seg;
                size_t l = strlen(de->d_name);
                bool take = false;
                if (wal_segment_name(de->d_name, &seg))
                        take = seg >= lsn_segment(from) && seg <= lsn_segment(to);
                else if (l > 8 && strcmp(de->d_name + l - 8, ".history") == 0)
                        take = true;
                else if (l > 24 && strstr(de->d_name, ".backup")) {
                        char head[25];
                        memcpy(head, de->d_name, 24);
                        head[24] = 0;
                        take = wal_segment_name(head, &seg) && seg >= lsn_segment(from) && seg <= lsn_segment(to);
                }
                if (take && names_only)
                        json_array_append_new(p->files, json_string(de->d_name));
                else if (take) {
                        char path[PATH_MAX];
                        snprintf(path, sizeof(path), "%s/%s", p->archive, de->d_name);
                        json_array_append_new(p->files, json_string(path));
                }
        }
        closedir(d);
        return 0;
}

/* ---------------------------------------------------------- identify */

static const char *const skip_dirs[] = {
        /* rebuilt or meaningless after a restore (PostgreSQL's own list for
         * base backups); pg_wal: live WAL is never overwritten */
        "pg_wal", "pg_replslot", "pg_stat_tmp", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots",
        "pg_subtrans", ".lvss-restore", ".lvss-snapshots", NULL,
};

static bool skipped(const char *name) {
        for (size_t i = 0; skip_dirs[i]; i++)
                if (strcmp(name, skip_dirs[i]) == 0)
                        return true;
        return false;
}

/* At most this many exclude descriptors for unlogged relations (three
 * each; the document holds LVSS_DOC_MAX_FILES per list): beyond it their
 * forks are simply backed up (recovery resets them anyway). */
#define UNLOGGED_EXCLUDES_MAX 600

/* An unlogged relation's init fork "<relfilenode>_init" in dir: its other
 * forks (main and its segments, fsm, vm) are not backed up, as
 * pg_basebackup leaves them out; recovery recreates the main fork from the
 * init fork (ResetUnloggedRelations). */
static int exclude_unlogged(pgw *p, lvss_metadata_builder *md, const char *dir, const char *name) {
        static const char *const forks[] = { "", ".*", "_[fv]*", NULL }; /* main, its segments, fsm and vm */
        size_t l = strlen(name);
        if (l <= 5 || l > 20 || strcmp(name + l - 5, "_init") != 0 || strspn(name, "0123456789") != l - 5)
                return 0;
        if (p->n_excludes + 3 > UNLOGGED_EXCLUDES_MAX)
                return 0;
        for (size_t i = 0; forks[i]; i++) {
                char spec[32];
                snprintf(spec, sizeof(spec), "%.*s%s", (int) (l - 5), name, forks[i]);
                int r = lvss_metadata_builder_add_exclude_files(md, dir, spec, 0);
                if (r < 0)
                        return r;
                p->n_excludes++;
        }
        return 0;
}

/* Every directory below dir (dir included) as a database-file descriptor;
 * pgsql_tmp* directories (temporary files) left out. */
static int add_tree(pgw *p, lvss_metadata_builder *md, const char *dir, bool top, int depth) {
        int r = lvss_metadata_builder_add_database_files(md, p->lpath, p->cluster, dir, "*", 0);
        if (r < 0 || depth > 16)
                return r;
        DIR *d = opendir(dir);
        if (!d)
                return 0;
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                char sub[PATH_MAX];
                struct stat st;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || (top && skipped(de->d_name)))
                        continue;
                if (de->d_type == DT_REG) {
                        r = exclude_unlogged(p, md, dir, de->d_name);
                        continue;
                }
                snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
                if (lstat(sub, &st) < 0)
                        continue;
                if (S_ISREG(st.st_mode))
                        r = exclude_unlogged(p, md, dir, de->d_name);
                else if (S_ISDIR(st.st_mode) && strncmp(de->d_name, "pgsql_tmp", 9) != 0)
                        r = add_tree(p, md, sub, false, depth + 1);
        }
        closedir(d);
        return r;
}

/* The directories below the data directory (relative, parents first,
 * PostgreSQL's rebuilt ones left out, as add_tree): recorded with a full so
 * that PreRestore can make the missing ones as the cluster's owner before
 * lvss-backup writes files into them (it would create them as root). */
static void collect_dirs(const char *dir, const char *rel, json_t *out, int depth) {
        DIR *d = opendir(dir);
        struct dirent *de;
        if (!d || depth > 16) {
                if (d)
                        closedir(d);
                return;
        }
        while ((de = readdir(d))) {
                char sub[PATH_MAX], srel[PATH_MAX];
                struct stat st;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || (!*rel && skipped(de->d_name)))
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
                snprintf(srel, sizeof(srel), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
                if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
                        json_array_append_new(out, json_string(srel));
                        collect_dirs(sub, srel, out, depth + 1);
                }
        }
        closedir(d);
}

/* A relative directory path from the backup: plain components only. */
static bool rel_dir_ok(const char *r) {
        if (!*r || *r == '/' || strlen(r) >= 512)
                return false;
        for (const char *c = r; *c;) {
                size_t n = strcspn(c, "/");
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) c[i] < 0x20)
                                return false;
                c += n;
                if (*c == '/')
                        c++;
        }
        return true;
}

/* The tablespaces' directories: the targets of the pg_tblspc/<oid> links
 * (absolute; a link that cannot be read is left out). */
static json_t *tablespace_targets(const pgw *p) {
        char tsdir[PATH_MAX];
        json_t *out = json_array();
        struct dirent *de;

        snprintf(tsdir, sizeof(tsdir), "%s/pg_tblspc", p->pgdata);
        DIR *d = opendir(tsdir);
        while (out && d && (de = readdir(d))) {
                char link[PATH_MAX], target[PATH_MAX];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(link, sizeof(link), "%s/%s", tsdir, de->d_name);
                ssize_t n = readlink(link, target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = 0;
                json_array_append_new(out, json_string(target));
        }
        if (d)
                closedir(d);
        return out;
}

/* mkdir as the writer (the cluster's owner): 1 made, 0 there and owned by
 * the writer, < 0 with err set (cannot make it, or someone else's). */
static int make_owned_dir(const char *path, mode_t mode, const char *what, ErrorSlot *err) {
        struct stat st;

        if (mkdir(path, mode) == 0)
                return 1;
        if (errno != EEXIST) {
                return error_slot_set(err, -errno,
                                      "cannot make %s %s as the cluster's owner (uid %u): %m: make it (owner uid %u, "
                                      "mode 0%o) and restore again",
                                      what, path, (unsigned) geteuid(), (unsigned) geteuid(), (unsigned) mode);
        }
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid != geteuid())
                return error_slot_set(err, -EPERM,
                                      "%s %s is owned by uid %u, not by the cluster's owner (uid %u): chown it", what,
                                      path, (unsigned) st.st_uid, (unsigned) geteuid());
        return 0;
}

/* PreRestore of the full's step (the cluster is stopped): the data
 * directory, the tablespace directories and their recorded directories that
 * are missing are made now, by the writer, so they belong to the cluster's
 * owner with the data directory's mode (0700, or 0750 with group access):
 * lvss-backup would make them root:root 0750.  A tablespace directory that
 * cannot be made, or that belongs to someone else, refuses the restore
 * before anything is written (p->err says which).  Existing directories
 * keep their modes. */
static int make_recorded_dirs(pgw *p, const char *bm) {
        json_t *m = bm ? json_loads(bm, 0, NULL) : NULL, *v, *ts;
        json_t *dirs = json_object_get(m, "dirs"), *tss = json_object_get(m, "tablespaces");
        mode_t mode = json_integer_value(json_object_get(m, "dir_mode")) == 0750 ? 0750 : 0700;
        size_t i, j;
        unsigned made = 0;
        int r = 0;

        json_array_foreach(tss, i, ts) {
                const char *top = json_string_value(json_object_get(ts, "path"));
                if (!top || *top != '/' || !rel_dir_ok(top + 1))
                        continue;
                r = make_owned_dir(top, mode, "tablespace directory", &p->err);
                if (r < 0)
                        break;
                made += (unsigned) r;
                json_array_foreach(json_object_get(ts, "dirs"), j, v) {
                        char path[PATH_MAX];
                        const char *rel = json_string_value(v);
                        if (!rel || !rel_dir_ok(rel))
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", top, rel);
                        r = make_owned_dir(path, mode, "tablespace directory", &p->err);
                        if (r < 0)
                                break;
                        made += (unsigned) r;
                }
                if (r < 0)
                        break;
        }
        if (r >= 0 && json_is_array(dirs)) {
                if (mkdir(p->pgdata, mode) == 0)
                        made++;
                json_array_foreach(dirs, i, v) {
                        char path[PATH_MAX];
                        const char *rel = json_string_value(v);
                        if (!rel || !rel_dir_ok(rel))
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", p->pgdata, rel);
                        if (mkdir(path, mode) == 0)
                                made++;
                }
        }
        if (made)
                fprintf(stderr, "lvss-writer-postgresql: %s: %u missing director%s made for the restore\n", p->path, made,
                        made == 1 ? "y" : "ies");
        json_decref(m);
        return r < 0 ? r : 0;
}

static int on_identify(lvss_writer *w, lvss_metadata_builder *md, void *userdata) {
        pgw *p = userdata;
        uint32_t schema = LVSS_BS_COPY | LVSS_BS_LSN;
        int r;

        if (p->archive)
                schema |= LVSS_BS_INCREMENTAL | LVSS_BS_DIFFERENTIAL;
        r = lvss_metadata_builder_add_component(md, LVSS_CT_DATABASE, p->lpath, p->cluster, "PostgreSQL cluster",
                                   1 /* restore metadata */, 1, 1, 1, 0);
        p->n_excludes = 0;
        if (r >= 0)
                r = add_tree(p, md, p->pgdata, true, 0);
        /* Tablespaces: the targets of pg_tblspc/<oid>. */
        json_t *tss = tablespace_targets(p), *ts;
        size_t i;
        json_array_foreach(tss, i, ts) {
                if (r >= 0)
                        r = add_tree(p, md, json_string_value(ts), false, 0);
        }
        if (r >= 0 && p->archive)
                r = lvss_metadata_builder_add_database_log_files(md, p->lpath, p->cluster, p->archive, "*", 0);
        if (r >= 0)
                r = lvss_metadata_builder_add_exclude_files(md, p->pgdata, "postmaster.*", 0);
        if (r >= 0)
                r = lvss_metadata_builder_add_exclude_files(md, p->pgdata, "pg_internal.init", 1);
        /* PostgreSQL's other files a base backup leaves out (basebackup.c):
         * temporary relations (t<backend>_<relfilenode>[_fork][.seg], only
         * where relations live: base/<db>, global and the tablespaces, so a
         * user's file elsewhere, e.g. a log named t07_13.log, is kept), a
         * half-written postgresql.auto.conf or current_logfiles, a
         * backup_manifest */
        static const char *const top_files[] = { "postgresql.auto.conf.tmp", "current_logfiles.tmp",
                                                 "backup_manifest", NULL };
        for (size_t k = 0; top_files[k] && r >= 0; k++)
                r = lvss_metadata_builder_add_exclude_files(md, p->pgdata, top_files[k], 0);
        char reldir[PATH_MAX];
        snprintf(reldir, sizeof(reldir), "%s/base", p->pgdata);
        if (r >= 0)
                r = lvss_metadata_builder_add_exclude_files(md, reldir, "t[0-9]*_[0-9]*", 1);
        snprintf(reldir, sizeof(reldir), "%s/global", p->pgdata);
        if (r >= 0)
                r = lvss_metadata_builder_add_exclude_files(md, reldir, "t[0-9]*_[0-9]*", 0);
        json_array_foreach(tss, i, ts) {
                if (r >= 0)
                        r = lvss_metadata_builder_add_exclude_files(md, json_string_value(ts), "t[0-9]*_[0-9]*", 1);
        }
        json_decref(tss);
        if (r >= 0)
                r = lvss_metadata_builder_set_restore_method(md, LVSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL, LVSS_WRE_ALWAYS, 0);
        if (r >= 0)
                r = lvss_metadata_builder_set_backup_schema(md, schema);
        if (r < 0)
                fprintf(stderr, "lvss-writer-postgresql: %s: identify: %s\n", p->path, lvss_strerror(r));
        return r;
}

/* ------------------------------------------------------------ backup */

static int on_prepare_backup(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        pgw *p = userdata;
        lvss_component *c = wc_first_component(comps);

        end_session(p, "new set");
        p->start_lsn[0] = 0;
        p->type = lvss_writer_get_backup_type(w);
        p->active = c || (!lvss_writer_are_components_selected(w) && lvss_writer_is_path_affected(w, p->pgdata) == 1);
        if (!p->active)
                return 0;
        const char *tname = lvss_backup_type_to_string(p->type) ?: "undefined";
        if (p->type != LVSS_BT_INCREMENTAL && p->type != LVSS_BT_DIFFERENTIAL) {
                if (p->type != LVSS_BT_FULL && p->type != LVSS_BT_COPY && p->type != LVSS_BT_UNDEFINED) {
                        p->active = false;
                        return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE, "%s backup is not supported", tname);
                }
                return 0;
        }
        /* incremental / differential: WAL archiving must be on */
        PGconn *pc = pg_connect(p, &p->err);
        if (!pc) {
                p->active = false;
                return fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
        }
        PGresult *res = pg_query(pc, "SELECT current_setting('archive_mode')", 0, NULL, &p->err);
        bool archiving = res && strcmp(PQgetvalue(res, 0, 0), "off") != 0;
        PQclear(res);
        PQfinish(pc);
        p->active = false;
        if (!res)
                return fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
        if (!archiving)
                return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE,
                            "%s backup refused: archive_mode is off (incremental and differential backups are the "
                            "archived WAL; full and copy backups work without it)",
                            tname);
        if (!p->archive)
                return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE,
                            "%s backup refused: the writer was started without --wal-archive DIR", tname);
        const char *prev = c ? lvss_component_get_previous_backup_stamp(c) : NULL;
        json_t *j = prev ? json_loads(prev, 0, NULL) : NULL;
        const char *next = json_string_value(json_object_get(j, "next_lsn"));
        uint64_t lsn;
        if (!next || parse_lsn(next, &lsn) < 0) {
                json_decref(j);
                return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE,
                            "%s backup refused: no previous backup stamp (take a full backup first)", tname);
        }
        snprintf(p->from_lsn, sizeof(p->from_lsn), "%s", next);
        json_decref(j);
        p->active = true;
        return 0;
}

static int on_prepare_snapshot(lvss_writer *w, void *userdata) {
        pgw *p = userdata;
        if (!p->active)
                return 0;
        double t_conn = mono_s();
        p->session = pg_connect(p, &p->err);
        t_conn = mono_s() - t_conn;
        if (!p->session)
                return fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
        PGresult *res = pg_query(p->session,
                                 "SELECT timeline_id, current_setting('archive_mode') <> 'off' AND NOT "
                                 "pg_is_in_recovery() FROM pg_control_checkpoint()",
                                 0, NULL, &p->err);
        if (!res)
                return fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
        p->timeline = (int) strtol(PQgetvalue(res, 0, 0), NULL, 10);
        p->wait_archive = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
        PQclear(res);

        if (p->type == LVSS_BT_INCREMENTAL || p->type == LVSS_BT_DIFFERENTIAL) {
                /* Close the current segment and wait until it is archived:
                 * then every WAL byte up to here is in the archive, and in
                 * the snapshot about to be cut. */
                res = pg_query(p->session,
                               "SELECT s::text, pg_walfile_name(s - 1) FROM pg_switch_wal() AS s", 0, NULL, &p->err);
                if (!res)
                        return fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
                char want[64];
                snprintf(p->switch_lsn, sizeof(p->switch_lsn), "%s", PQgetvalue(res, 0, 0));
                snprintf(want, sizeof(want), "%s", PQgetvalue(res, 0, 1));
                PQclear(res);
                double t0 = mono_s();
                const char *names[] = { want };
                if (wait_archived(p, p->session, names, 1, true, &p->err) < 0)
                        return fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
                fprintf(stderr, "lvss-writer-postgresql: %s: WAL switched at %s, %s archived after %.2f s\n", p->path,
                        p->switch_lsn, want, mono_s() - t0);
                uint64_t from, to;
                if (parse_lsn(p->from_lsn, &from) < 0 || parse_lsn(p->switch_lsn, &to) < 0)
                        return fail(p, LVSS_E_WRITERERROR_RETRYABLE, "bad LSN");
                if (list_archive(p, from, to ? to - 1 : 0, false) < 0)
                        return fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
                PQfinish(p->session);
                p->session = NULL;
                return 0;
        }

        /* full / copy: non-exclusive backup on this session until PostSnapshot */
        char label[128];
        lvss_id set;
        char setid[64] = "";
        if (lvss_writer_get_current_snapshot_set_id(w, &set) >= 0)
                snprintf(setid, sizeof(setid), "%s", set.str);
        snprintf(label, sizeof(label), "lvss %s %s", lvss_backup_type_to_string(p->type) ?: "", setid);
        const char *params[] = { label };
        double t0 = mono_s();
        res = pg_query(p->session, "SELECT pg_backup_start($1, true)::text", 1, params, &p->err);
        if (!res)
                return fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
        snprintf(p->start_lsn, sizeof(p->start_lsn), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        fprintf(stderr, "lvss-writer-postgresql: %s: backup started at %s (connect: %.3f s, pg_backup_start: %.2f s)\n",
                p->path, p->start_lsn, t_conn, mono_s() - t0);
        return 0;
}

static int on_post_snapshot(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        pgw *p = userdata;
        lvss_component *c = wc_first_component(comps);
        json_t *md = json_object(), *stamp = json_object();
        int ret = 0;

        if (!p->active)
                goto out;
        if (p->type == LVSS_BT_INCREMENTAL || p->type == LVSS_BT_DIFFERENTIAL) {
                json_object_set(md, "files", p->files);
                json_object_set_new(md, "from_lsn", json_string(p->from_lsn));
                json_object_set_new(md, "to_lsn", json_string(p->switch_lsn));
                json_object_set_new(stamp, "stop_lsn", json_string(p->switch_lsn));
                json_object_set_new(stamp, "next_lsn", json_string(p->switch_lsn));
        } else {
                if (!p->session) {
                        ret = fail(p, LVSS_E_WRITERERROR_RETRYABLE, "the backup session was lost");
                        goto out;
                }
                /* pg_backup_stop(wait_for_archive => true) polls the archive
                 * status once a second (do_pg_backup_stop): the writer stops
                 * without the wait and makes PostgreSQL's wait itself, every
                 * 10 ms (wait_archived: the segment of the stop LSN and the
                 * .backup history file).  In recovery PostgreSQL's own wait
                 * is kept (pg_walfile_name is not available there). */
                double t0 = mono_s(), t_wait = 0;
                PGresult *res = pg_query(p->session,
                                         p->wait_archive ? "SELECT lsn::text, labelfile, spcmapfile, pg_walfile_name(lsn) "
                                                           "FROM pg_backup_stop(false)"
                                                         : "SELECT lsn::text, labelfile, spcmapfile, '' "
                                                           "FROM pg_backup_stop(true)",
                                         0, NULL, &p->err);
                double t_stop = mono_s() - t0;
                if (!res) {
                        ret = fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
                        goto out;
                }
                uint64_t start;
                if (p->wait_archive && (parse_lsn(p->start_lsn, &start) < 0 || strlen(PQgetvalue(res, 0, 3)) != 24)) {
                        ret = fail(p, LVSS_E_WRITERERROR_RETRYABLE, "cannot name the WAL to wait for (start %s, stop %s)",
                                   p->start_lsn, PQgetvalue(res, 0, 0));
                        PQclear(res);
                        goto out;
                }
                if (p->wait_archive) {
                        /* PostgreSQL's names: the stop segment's (XLByteToPrevSeg,
                         * as pg_walfile_name) and the history file's
                         * (BackupHistoryFileName: timeline, start segment,
                         * offset of the start LSN in it) */
                        char stopseg[25], hist[64];
                        uint64_t seg = lsn_segment(start);
                        snprintf(stopseg, sizeof(stopseg), "%s", PQgetvalue(res, 0, 3));
                        snprintf(hist, sizeof(hist), "%.8s%08X%08X.%08X.backup", stopseg, (unsigned) (seg / 0x100u),
                                 (unsigned) (seg % 0x100u), (unsigned) (start % (16u * 1024u * 1024u)));
                        const char *names[] = { stopseg, hist };
                        double t1 = mono_s();
                        if (wait_archived(p, p->session, names, 2, false, &p->err) < 0) {
                                PQclear(res);
                                ret = fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
                                goto out;
                        }
                        t_wait = mono_s() - t1;
                }
                json_object_set_new(md, "backup_label", json_string(PQgetvalue(res, 0, 1)));
                json_object_set_new(md, "tablespace_map", json_string(PQgetvalue(res, 0, 2)));
                json_object_set_new(md, "start_lsn", json_string(p->start_lsn));
                json_object_set_new(md, "stop_lsn", json_string(PQgetvalue(res, 0, 0)));
                json_object_set_new(stamp, "stop_lsn", json_string(PQgetvalue(res, 0, 0)));
                /* WAL archived after the snapshot (start..stop and beyond)
                 * belongs to the next incremental: it starts at start_lsn's
                 * segment, so nothing falls between the two. */
                json_object_set_new(stamp, "next_lsn", json_string(p->start_lsn));
                /* The WAL from start to stop, archived by now (wait_for_archive):
                 * the requestor stores it with the backup, which is then
                 * self-contained (restores with an empty archive).  "only":
                 * these are the full's only archive files; the older WAL in
                 * the archive's snapshot is not read (recovery starts at the
                 * start LSN; what came before belongs to earlier backups). */
                uint64_t from, to;
                if (p->archive && parse_lsn(p->start_lsn, &from) == 0 &&
                    parse_lsn(PQgetvalue(res, 0, 0), &to) == 0) {
                        if (list_archive(p, from, to ? to - 1 : 0, true) < 0) {
                                PQclear(res);
                                ret = fail(p, LVSS_E_WRITERERROR_RETRYABLE, "%s", error_slot_get(&p->err));
                                goto out;
                        }
                        json_object_set_new(md, "after_snapshot",
                                            json_pack("{s:s, s:O, s:b}", "dir", p->archive, "names", p->files, "only", 1));
                }
                PQclear(res);
                fprintf(stderr, "lvss-writer-postgresql: %s: backup stopped at %s (pg_backup_stop: %.2f s, archive "
                        "wait: %.2f s, %zu WAL file(s) after the snapshot)\n", p->path,
                        json_string_value(json_object_get(md, "stop_lsn")), t_stop, t_wait, json_array_size(p->files));
        }
        json_object_set_new(md, "timeline", json_integer(p->timeline));
        if (p->type != LVSS_BT_INCREMENTAL && p->type != LVSS_BT_DIFFERENTIAL) {
                struct stat st;
                json_t *dirs = json_array();
                collect_dirs(p->pgdata, "", dirs, 0);
                json_object_set_new(md, "dirs", dirs);
                /* the tablespaces' directories likewise, each with its own tree */
                json_t *tss = tablespace_targets(p), *ts, *tsl = json_array();
                size_t i;
                json_array_foreach(tss, i, ts) {
                        json_t *sub = json_array();
                        collect_dirs(json_string_value(ts), "", sub, 0);
                        json_array_append_new(tsl, json_pack("{s:O, s:o}", "path", ts, "dirs", sub));
                }
                json_decref(tss);
                json_object_set_new(md, "tablespaces", tsl);
                if (stat(p->pgdata, &st) == 0)
                        json_object_set_new(md, "dir_mode", json_integer(st.st_mode & 0750));
        }
        json_object_set_new(stamp, "type", json_string(lvss_backup_type_to_string(p->type) ?: "full"));
        json_object_set_new(stamp, "timeline", json_integer(p->timeline));
        if (c) {
                char *m = json_dumps(md, JSON_COMPACT), *s = json_dumps(stamp, JSON_COMPACT);
                int r1 = m ? lvss_component_set_backup_metadata(c, m) : -ENOMEM;
                if (r1 < 0 && json_object_get(md, "dirs")) {
                        /* The directory list is a convenience: without it a
                         * restore into a data directory without its
                         * directories asks for a chown (make_dirs). */
                        fprintf(stderr, "lvss-writer-postgresql: %s: directory list left out of the backup metadata "
                                "(too long)\n", p->path);
                        json_object_del(md, "dirs");
                        json_object_del(md, "tablespaces");
                        free(m);
                        m = json_dumps(md, JSON_COMPACT);
                        r1 = m ? lvss_component_set_backup_metadata(c, m) : -ENOMEM;
                }
                int r2 = s ? lvss_component_set_backup_stamp(c, s) : -ENOMEM;
                bool full = p->type != LVSS_BT_INCREMENTAL && p->type != LVSS_BT_DIFFERENTIAL;
                if (r1 < 0 || r2 < 0)
                        ret = fail(p, LVSS_E_WRITERERROR_NONRETRYABLE,
                                   "the backup metadata does not fit the backup document (%zu WAL files %s): %s",
                                   json_array_size(p->files),
                                   full ? "between the backup's start and stop" : "since the last backup",
                                   full ? "checkpoint more often during backups (max_wal_size)" : "take a full backup");
                free(m);
                free(s);
        }
out:
        json_decref(md);
        json_decref(stamp);
        if (p->session) {
                PQfinish(p->session);
                p->session = NULL;
        }
        return ret;
}

/* The coordinator is gone or the writer exits: the session ends the backup. */
static void on_lost(void *userdata, const char *why) {
        end_session(userdata, why);
}

static int on_abort(lvss_writer *w, void *userdata) {
        end_session(userdata, "abort");
        return 0;
}

/* --prune-archive, after a successful full: the archived WAL segments (and
 * .backup/.partial files) before the full's start segment are removed, as
 * pg_archivecleanup does (timeline ignored); .history files stay.  Restores
 * of this full and of the incrementals and differentials based on it need
 * nothing older.  A failure is reported, never fatal. */
static void prune_archive(pgw *p) {
        uint64_t start;
        if (parse_lsn(p->start_lsn, &start) < 0)
                return;
        int dfd = open(p->archive, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                if (dfd >= 0)
                        close(dfd);
                fprintf(stderr, "lvss-writer-postgresql: %s: WAL archive %s not pruned: %s\n", p->path, p->archive,
                        strerror(errno));
                return;
        }
        struct dirent *de;
        unsigned removed = 0, failed = 0;
        while ((de = readdir(d))) {
                char head[25];
                uint64_t seg;
                struct stat st;
                if (strlen(de->d_name) < 24 || strstr(de->d_name, ".history"))
                        continue;
                memcpy(head, de->d_name, 24);
                head[24] = 0;
                if (!wal_segment_name(head, &seg) || seg >= lsn_segment(start) ||
                    (de->d_name[24] && strcmp(de->d_name + 24, ".partial") != 0 && !strstr(de->d_name + 24, ".backup")))
                        continue;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (unlinkat(dfd, de->d_name, 0) == 0)
                        removed++;
                else
                        failed++;
        }
        closedir(d);
        fprintf(stderr, "lvss-writer-postgresql: %s: WAL archive pruned before %s: %u file(s) removed%s\n", p->path,
                p->start_lsn, removed, failed ? ", some could not be" : "");
}

static int on_backup_complete(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        pgw *p = userdata;
        lvss_component *c = wc_first_component(comps);
        bool full = p->type == LVSS_BT_FULL && p->start_lsn[0];
        end_session(p, "backup complete");
        if (p->prune_archive && p->archive && full && c && lvss_component_get_backup_succeeded(c) == 1)
                prune_archive(p);
        return 0;
}

static int on_backup_shutdown(lvss_writer *w, const char *set_id, void *userdata) {
        end_session(userdata, "requestor session ended");
        return 0;
}

/* ----------------------------------------------------------- restore */

/* The pid of a live postmaster of this cluster, or 0. */
static long running_postmaster(const pgw *p) {
        char path[PATH_MAX], line[64];
        snprintf(path, sizeof(path), "%s/postmaster.pid", p->pgdata);
        FILE *f = fopen(path, "re");
        if (!f)
                return 0;
        long pid = 0;
        if (fgets(line, sizeof(line), f))
                pid = strtol(line, NULL, 10);
        fclose(f);
        if (pid <= 0)
                return 0;
        return kill((pid_t) pid, 0) == 0 || errno == EPERM ? pid : 0;
}

static char *restore_option(const lvss_component *c, const char *key) {
        const char *o = lvss_component_get_restore_options(c);
        json_t *j = o ? json_loads(o, 0, NULL) : NULL;
        const char *v = json_string_value(json_object_get(j, key));
        char *r = v ? strdup(v) : NULL;
        json_decref(j);
        return r;
}

static int on_pre_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        pgw *p = userdata;
        lvss_component *c = wc_first_component(comps);
        char msg[MSG_MAX];
        if (!c)
                return 0;
        long pid = running_postmaster(p);
        char *alt = restore_option(c, "alternate_location");
        if (pid || alt) {
                if (pid)
                        snprintf(msg, sizeof(msg),
                                 "PostgreSQL cluster %s is running (postmaster pid %ld, data directory %s): stop it "
                                 "before restoring",
                                 p->cluster, pid, p->pgdata);
                else
                        snprintf(msg, sizeof(msg), "restore to an alternate location is not supported");
                free(alt);
                lvss_component_set_pre_restore_failure_msg(c, msg);
                return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE, "%s", msg);
        }
        if (make_recorded_dirs(p, lvss_component_get_backup_metadata(c)) < 0) {
                lvss_component_set_pre_restore_failure_msg(c, error_slot_get(&p->err));
                return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE, "%s", error_slot_get(&p->err));
        }
        lvss_component_set_restore_target(c, LVSS_RT_ORIGINAL);
        return 0;
}

/* Write 'text' to PGDATA/name (mode 0600), replacing it. */
static int write_file(const pgw *p, const char *name, const char *text, const char *mode) {
        char path[PATH_MAX], tmp[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", p->pgdata, name);
        if (*mode == 'a') {
                int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return -errno;
                ssize_t n = write(fd, text, strlen(text));
                int r = n == (ssize_t) strlen(text) && fsync(fd) == 0 ? 0 : -EIO;
                close(fd);
                return r;
        }
        snprintf(tmp, sizeof(tmp), "%s/.%s.lvss-tmp", p->pgdata, name);
        unlink(tmp);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, text, strlen(text));
        int r = n == (ssize_t) strlen(text) && fsync(fd) == 0 ? 0 : -EIO;
        close(fd);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

/* The data directory's major version (PG_VERSION), 0 when unreadable. */
static int pg_major(const pgw *p) {
        char path[PATH_MAX], line[32] = "";
        snprintf(path, sizeof(path), "%s/PG_VERSION", p->pgdata);
        FILE *f = fopen(path, "re");
        if (!f)
                return 0;
        if (!fgets(line, sizeof(line), f))
                line[0] = 0;
        fclose(f);
        return (int) strtol(line, NULL, 10);
}

/* PostgreSQL's directories that are not backed up (or empty, so never
 * restored): they must exist (p->err says which cannot). */
static int make_dirs(pgw *p) {
        static const char *const dirs[] = {
                "pg_wal", "pg_wal/archive_status", "pg_commit_ts", "pg_dynshmem", "pg_logical",
                "pg_logical/mappings", "pg_logical/snapshots", "pg_multixact", "pg_multixact/members",
                "pg_multixact/offsets", "pg_notify", "pg_replslot", "pg_serial", "pg_snapshots", "pg_stat",
                "pg_stat_tmp", "pg_subtrans", "pg_tblspc", "pg_twophase", "pg_xact", "global", "base", NULL,
        };
        for (size_t i = 0; dirs[i]; i++) {
                char path[PATH_MAX];
                struct stat st;
                snprintf(path, sizeof(path), "%s/%s", p->pgdata, dirs[i]);
                if (mkdir(path, 0700) < 0 && errno != EEXIST)
                        return error_slot_set(&p->err, -errno, "cannot create %s: %m", path);
                if (lstat(path, &st) == 0 && st.st_uid != geteuid())
                        return error_slot_set(&p->err, -EPERM,
                                              "%s is owned by uid %u, not by the cluster's owner (uid %u): chown -R "
                                              "the data directory",
                                              path, (unsigned) st.st_uid, (unsigned) geteuid());
        }
        return 0;
}

static int on_post_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        pgw *p = userdata;
        lvss_component *c = wc_first_component(comps);
        int r;
        if (!c)
                return 0;
        if (lvss_component_get_file_restore_status(c) == LVSS_RS_FAILED)
                return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE, "files were only partly restored: no recovery");
        /* The step of the full backup carries backup_label/tablespace_map:
         * write them now (the cluster is stopped; PreRestore checked). */
        const char *bm = lvss_component_get_backup_metadata(c);
        json_t *m = bm ? json_loads(bm, 0, NULL) : NULL;
        const char *label = json_string_value(json_object_get(m, "backup_label"));
        const char *map = json_string_value(json_object_get(m, "tablespace_map"));
        if (label) {
                char map_path[PATH_MAX];
                r = write_file(p, "backup_label", label, "w");
                if (r == 0 && map && *map)
                        r = write_file(p, "tablespace_map", map, "w");
                else if (r == 0) {
                        snprintf(map_path, sizeof(map_path), "%s/tablespace_map", p->pgdata);
                        unlink(map_path);
                }
                if (r < 0) {
                        json_decref(m);
                        return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE, "cannot write backup_label: %s",
                                    strerror(-r));
                }
                fprintf(stderr, "lvss-writer-postgresql: %s: backup_label of %s written\n", p->path,
                        json_string_value(json_object_get(m, "start_lsn")) ?: "?");
        }
        json_decref(m);
        if (lvss_component_get_additional_restores(c) == 1)
                return 0; /* a later step recovers */

        if (make_dirs(p) < 0)
                return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE, "%s", error_slot_get(&p->err));
        char label_path[PATH_MAX];
        snprintf(label_path, sizeof(label_path), "%s/backup_label", p->pgdata);
        if (access(label_path, F_OK) < 0)
                return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE,
                            "no backup_label: the chain restored holds no full backup of the cluster");

        char ttb[256] = "", tlb[64] = "";
        char *o1 = restore_option(c, "target_time"), *o2 = restore_option(c, "target_lsn");
        snprintf(ttb, sizeof(ttb), "%s", o1 ? o1 : "");
        snprintf(tlb, sizeof(tlb), "%s", o2 ? o2 : "");
        free(o1);
        free(o2);
        const char *tt = *ttb ? ttb : NULL, *tl = *tlb ? tlb : NULL;
        char conf[4096];
        int n = snprintf(conf, sizeof(conf), "\n# written by lvss-writer-postgresql at restore\n");
        /* PostgreSQL starting from a backup_label first fsyncs every file of
         * the cluster, one open+fsync each (recovery_init_sync_method =
         * fsync): seconds for the ~1000 files lvss-backup has just written
         * and fsynced.  syncfs (PostgreSQL 14+) syncs each file system once:
         * the same durability (Linux >= 5.8 reports its write errors). */
        if (pg_major(p) >= 14)
                n += snprintf(conf + n, sizeof(conf) - (size_t) n, "recovery_init_sync_method = syncfs\n");
        /* PostgreSQL runs restore_command through /bin/sh for every file
         * it wants, also for the many that are not there (the next
         * segment, a newer timeline's .history, WAL only in pg_wal): the
         * shell's builtin test answers those without starting cp. */
        if (p->archive)
                n += snprintf(conf + n, sizeof(conf) - (size_t) n,
                              "restore_command = 'test -f \"%s/%%f\" && exec cp \"%s/%%f\" \"%%p\"'\n", p->archive,
                              p->archive);
        else
                n += snprintf(conf + n, sizeof(conf) - (size_t) n, "restore_command = 'false'\n");
        if (tt || tl) {
                for (const char *s = tt ? tt : tl; *s; s++)
                        if (*s == '\'' || *s == '\\' || *s == '\n')
                                return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE, "bad recovery target '%s'",
                                            tt ? tt : tl);
                if (tt)
                        n += snprintf(conf + n, sizeof(conf) - (size_t) n, "recovery_target_time = '%s'\n", tt);
                else
                        n += snprintf(conf + n, sizeof(conf) - (size_t) n, "recovery_target_lsn = '%s'\n", tl);
                n += snprintf(conf + n, sizeof(conf) - (size_t) n,
                              "recovery_target_inclusive = on\nrecovery_target_action = 'promote'\n");
        } else
                n += snprintf(conf + n, sizeof(conf) - (size_t) n,
                              "recovery_target_time = ''\nrecovery_target_lsn = ''\n");
        r = write_file(p, "postgresql.auto.conf", conf, "a");
        if (r == 0)
                r = write_file(p, "recovery.signal", "", "w");
        if (r < 0)
                return fail(p, LVSS_E_WRITERERROR_NONRETRYABLE, "cannot prepare recovery: %s", strerror(-r));
        fprintf(stderr, "lvss-writer-postgresql: %s: recovery prepared (%s%s)\n", p->path,
                tt ? "until " : tl ? "until LSN " : "to the end of the WAL", tt ? tt : tl ? tl : "");
        return 0;
}

/* -------------------------------------------------------------- main */

static const char help[] =
        "Usage: lvss-writer-postgresql --pgdata DIR [--host SOCKET_DIR] [--port N]\n"
        "                              [--cluster NAME] [--wal-archive DIR [--prune-archive]]\n"
        "The PostgreSQL Writer: one lvss component PostgreSQL/<host>/<cluster> for the\n"
        "cluster in DIR; run it as the cluster's owner (man lvss-writer-postgresql).\n\n"
        "  --pgdata DIR        the data directory\n"
        "  --host SOCKET_DIR   the cluster's socket directory (default /var/run/postgresql)\n"
        "  --port N            its port (default 5432)\n"
        "  --cluster NAME      the cluster name (default from DIR: .../15/main -> 15-main)\n"
        "  --wal-archive DIR   where archive_command copies WAL segments: enables\n"
        "                      incremental and differential backups and PITR\n"
        "  --prune-archive     after a successful full backup, remove the archived WAL\n"
        "                      before its start (the writer manages the archive)\n"
        "  --help              this text\n";

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "pgdata", required_argument, NULL, 'D' },
                { "host", required_argument, NULL, 'H' },
                { "port", required_argument, NULL, 'p' },
                { "cluster", required_argument, NULL, 'c' },
                { "wal-archive", required_argument, NULL, 'a' },
                { "prune-archive", no_argument, NULL, 'P' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        pgw p = { .host = "/var/run/postgresql", .port = "5432" };
        lvss_writer_identity id = LVSS_WRITER_IDENTITY_INIT;
        lvss_writer_events ev = LVSS_WRITER_EVENTS_INIT;
        char cluster[256], pgdata[PATH_MAX], archive[PATH_MAX];
        int c, r;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'D': p.pgdata = optarg; break;
                case 'H': p.host = optarg; break;
                case 'p': p.port = optarg; break;
                case 'c': p.cluster = optarg; break;
                case 'a': p.archive = optarg; break;
                case 'P': p.prune_archive = true; break;
                case 'h': fputs(help, stdout); return 0;
                default: fputs(help, stderr); return 2;
                }
        }
        if (optind < argc || !p.pgdata) {
                fprintf(stderr, "lvss-writer-postgresql: %s (see --help)\n",
                        !p.pgdata ? "--pgdata DIR is required" : "unexpected argument");
                return 2;
        }
        if (!realpath(p.pgdata, pgdata)) {
                fprintf(stderr, "lvss-writer-postgresql: %s: %s\n", p.pgdata, strerror(errno));
                return 2;
        }
        p.pgdata = pgdata;
        char version[PATH_MAX];
        snprintf(version, sizeof(version), "%s/PG_VERSION", pgdata);
        if (access(version, R_OK) < 0) {
                fprintf(stderr, "lvss-writer-postgresql: %s: not a PostgreSQL data directory (no PG_VERSION)\n",
                        pgdata);
                return 2;
        }
        if (p.prune_archive && !p.archive) {
                fprintf(stderr, "lvss-writer-postgresql: --prune-archive needs --wal-archive DIR\n");
                return 2;
        }
        if (p.archive) {
                if (!realpath(p.archive, archive)) {
                        fprintf(stderr, "lvss-writer-postgresql: --wal-archive %s: %s\n", p.archive, strerror(errno));
                        return 2;
                }
                p.archive = archive;
        }
        if (!p.cluster) {
                char *last = strrchr(pgdata, '/'), *prev = NULL;
                if (last && last != pgdata) {
                        *last = 0;
                        prev = strrchr(pgdata, '/');
                        *last = '/';
                }
                if (prev && isdigit((unsigned char) prev[1]))
                        snprintf(cluster, sizeof(cluster), "%.*s-%s", (int) (last - prev - 1), prev + 1, last + 1);
                else
                        snprintf(cluster, sizeof(cluster), "%s", last ? last + 1 : pgdata);
                p.cluster = cluster;
        }
        if (!*p.cluster || strchr(p.cluster, '/')) {
                fprintf(stderr, "lvss-writer-postgresql: bad cluster name '%s'\n", p.cluster);
                return 2;
        }
        wc_short_hostname(hostname_short, sizeof(hostname_short));
        snprintf(p.lpath, sizeof(p.lpath), "PostgreSQL/%s", hostname_short);
        snprintf(p.path, sizeof(p.path), "%s/%s", p.lpath, p.cluster);

        id.class_id = PG_CLASS_ID;
        id.name = "PostgreSQL Writer";
        id.instance_name = p.cluster;
        id.usage = LVSS_UT_USERDATA;
        id.source = LVSS_ST_TRANSACTEDDB;
        id.level = LVSS_APP_BACK_END;
        ev.on_identify = on_identify;
        ev.on_prepare_backup = on_prepare_backup;
        ev.on_prepare_snapshot = on_prepare_snapshot;
        ev.on_post_snapshot = on_post_snapshot;
        ev.on_abort = on_abort;
        ev.on_backup_complete = on_backup_complete;
        ev.on_backup_shutdown = on_backup_shutdown;
        ev.on_pre_restore = on_pre_restore;
        ev.on_post_restore = on_post_restore;

        r = lvss_writer_new(&id, &ev, &p, &p.w);
        if (r < 0) {
                fprintf(stderr, "lvss-writer-postgresql: cannot create writer: %s\n", lvss_strerror(r));
                return 1;
        }
        wc_install_signals();
        wc_instance x = { .w = p.w, .label = p.path, .on_lost = on_lost, .userdata = &p };
        r = wc_run(&x, 1, "lvss-writer-postgresql");
        lvss_writer_free(p.w);
        return r;
}
