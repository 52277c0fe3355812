/* SPDX-License-Identifier: MIT */
/*
 * lvss-writer-mariadb: the MariaDB Writer.
 *
 * One component "MariaDB/<host>/<instance>": the server's data directory
 * (and the binary log directory when it lies elsewhere).  Snapshots are made
 * consistent with MariaDB's BACKUP STAGE statements, on one connection of
 * the writer's own (a stage belongs to its connection: if the writer dies
 * the server ends it):
 *
 *   PrepareForBackup    full and copy; incremental/differential refused
 *                       (not implemented yet; with log_bin off the message
 *                       says that too)
 *   PrepareForSnapshot  BACKUP STAGE START
 *   Freeze              BACKUP STAGE FLUSH, BLOCK_DDL, BLOCK_COMMIT, each
 *                       bounded by lock_wait_timeout and a read timeout
 *                       inside the declared freeze timeout; then the binary
 *                       log file and position (SHOW MASTER STATUS) become
 *                       the backup stamp
 *   Thaw, Abort, BackupShutdown  BACKUP STAGE END
 *   PostSnapshot        the stamp {"binlog_file","binlog_pos","time"}
 *   PreRestore          refused while the server runs (its socket answers
 *                       or ibdata1 is locked), naming the instance
 *   BackupComplete      --purge-binlogs: after a successful full, PURGE
 *                       BINARY LOGS TO the stamp's file
 *   PostRestore         nothing: InnoDB recovers when the server starts
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure, 2 usage, 5 not
 * allowed to register as a writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <mysql.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <lvss/lvss.h>

#include "writer-common.h"

#include "lib/core/macro.h"

#define MARIADB_WRITER_CLASS_ID "8a3e51c2-7d94-4f06-b1a8-6c2f0e9d4b57"
#define MARIADB_WRITER_NAME "MariaDB Writer"
#define MAX_NAME 64

typedef struct mdbw {
        const char *datadir;
        const char *socket;
        const char *instance;
        const char *binlog_dir;        /* NULL: inside the data directory or none */
        const char *user;
        uint32_t freeze_timeout_ms;
        char lpath[MAX_NAME + 16];     /* "MariaDB/<host>" */
        MYSQL *conn;                   /* from PrepareForSnapshot to Thaw/Abort */
        bool selected;
        bool in_stage;
        bool purge_binlogs;            /* --purge-binlogs: after a successful full */
        char binlog_file[256];         /* at BLOCK_COMMIT; "" if the binary log is off */
        char stamp[512];               /* set at Freeze, handed over at PostSnapshot */
        lvss_writer *w;
} mdbw;


static int fail(lvss_writer *w, int code, lvss_component *c, int which, const char *fmt, ...) _printf_(5, 6);
/* Writer failure + the component's message (which: 0 prepare-backup,
 * 1 post-snapshot, 2 pre-restore, -1 none).  Returns -1. */
static int fail(lvss_writer *w, int code, lvss_component *c, int which, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (c && which == 0)
                lvss_component_set_prepare_for_backup_failure_msg(c, msg);
        else if (c && which == 1)
                lvss_component_set_post_snapshot_failure_msg(c, msg);
        else if (c && which == 2)
                lvss_component_set_pre_restore_failure_msg(c, msg);
        lvss_writer_set_failure_ex(w, code, 0, msg);
        fprintf(stderr, "lvss-writer-mariadb: %s\n", msg);
        return -1;
}

static bool is_ours(mdbw *m, lvss_component *c) {
        return strcmp(lvss_component_get_logical_path(c), m->lpath) == 0 &&
               strcmp(lvss_component_get_name(c), m->instance) == 0;
}

/* ---------------------------------------------------------------- server */

static void disconnect(mdbw *m) {
        if (m->conn)
                mysql_close(m->conn);
        m->conn = NULL;
        m->in_stage = false;
}

/* Connect over the socket; every read bounded by timeout_s. */
static int connect_server(mdbw *m, unsigned timeout_s, char *err, size_t n) {
        disconnect(m);
        m->conn = mysql_init(NULL);
        if (!m->conn) {
                snprintf(err, n, "out of memory");
                return -1;
        }
        unsigned ct = 5;
        mysql_options(m->conn, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
        mysql_options(m->conn, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
        mysql_options(m->conn, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
        if (!mysql_real_connect(m->conn, NULL, m->user, NULL, NULL, 0, m->socket, 0)) {
                snprintf(err, n, "instance %s: cannot connect to %s: %s", m->instance, m->socket,
                         mysql_error(m->conn));
                disconnect(m);
                return -1;
        }
        return 0;
}

static int query(mdbw *m, const char *sql, char *err, size_t n) {
        if (mysql_query(m->conn, sql) != 0) {
                snprintf(err, n, "instance %s: %s: %s", m->instance, sql, mysql_error(m->conn));
                return -1;
        }
        MYSQL_RES *r = mysql_store_result(m->conn);
        if (r)
                mysql_free_result(r);
        return 0;
}

/* End the backup stage, if any, and close: never leave the server blocked. */
static void end_stage(mdbw *m) {
        char err[512];
        if (m->conn && m->in_stage && query(m, "BACKUP STAGE END", err, sizeof(err)) < 0)
                fprintf(stderr, "lvss-writer-mariadb: %s (closing the connection ends it)\n", err);
        disconnect(m);
}

/* ------------------------------------------------------------------ events */

static int on_identify(lvss_writer *w, lvss_metadata_builder *md, void *userdata) {
        mdbw *m = userdata;
        char caption[256];
        int r;

        snprintf(caption, sizeof(caption), "MariaDB instance %s (%s)", m->instance, m->datadir);
        r = lvss_mdb_add_component(md, LVSS_CT_FILEGROUP, m->lpath, m->instance, caption, 0, 1, 1, 1, 0);
        if (r >= 0)
                r = lvss_mdb_add_files_to_file_group(md, m->lpath, m->instance, m->datadir, "*", 1, NULL, 0);
        if (r >= 0 && m->binlog_dir)
                r = lvss_mdb_add_files_to_file_group(md, m->lpath, m->instance, m->binlog_dir, "*", 0, NULL, 0);
        /* Runtime files that are not data. */
        if (r >= 0)
                r = lvss_mdb_add_exclude_files(md, m->datadir, "*.pid", 0);
        if (r >= 0)
                r = lvss_mdb_set_restore_method(md, LVSS_RME_STOP_RESTORE_START, "mariadb", NULL, LVSS_WRE_ALWAYS,
                                                0);
        if (r >= 0)
                r = lvss_mdb_set_backup_schema(md, LVSS_BS_COPY);
        return r;
}

static int on_prepare_backup(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mdbw *m = userdata;
        lvss_backup_type t = lvss_writer_get_backup_type(w);
        int n = lvss_writer_components_get_count(comps);

        end_stage(m);
        m->selected = false;
        m->stamp[0] = '\0';
        m->binlog_file[0] = '\0';
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c)
                        continue;
                if (!is_ours(m, c))
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 0, "unknown component '%s/%s'",
                                    lvss_component_get_logical_path(c), lvss_component_get_name(c));
                if (t != LVSS_BT_FULL && t != LVSS_BT_COPY) {
                        char err[512];
                        const char *why = "not implemented by this version";
                        if (connect_server(m, 5, err, sizeof(err)) == 0) {
                                if (mysql_query(m->conn, "SELECT @@log_bin") == 0) {
                                        MYSQL_RES *res = mysql_store_result(m->conn);
                                        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
                                        if (row && row[0] && strcmp(row[0], "0") == 0)
                                                why = "the binary log is off (log_bin)";
                                        if (res)
                                                mysql_free_result(res);
                                }
                                disconnect(m);
                        }
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 0,
                                    "component '%s/%s': %s backups refused: %s; take a full or copy backup",
                                    m->lpath, m->instance, lvss_backup_type_to_string(t) ?: "this type", why);
                }
                m->selected = true;
        }
        return 0;
}

static int on_prepare_snapshot(lvss_writer *w, void *userdata) {
        mdbw *m = userdata;
        char err[512];

        if (!m->selected)
                return 0;
        /* BACKUP STAGE START waits for nothing but an earlier backup stage. */
        if (connect_server(m, 30, err, sizeof(err)) < 0 ||
            query(m, "SET SESSION lock_wait_timeout = 10", err, sizeof(err)) < 0 ||
            query(m, "BACKUP STAGE START", err, sizeof(err)) < 0) {
                disconnect(m);
                return fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, -1, "%s", err);
        }
        m->in_stage = true;
        return 0;
}

static int on_freeze(lvss_writer *w, void *userdata) {
        mdbw *m = userdata;
        char err[512];
        static const char *const stages[] = { "BACKUP STAGE FLUSH", "BACKUP STAGE BLOCK_DDL",
                                              "BACKUP STAGE BLOCK_COMMIT" };

        if (!m->selected)
                return 0;
        if (!m->conn || !m->in_stage)
                return fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, -1, "instance %s: no backup stage started",
                            m->instance);
        /* Each stage waits for locks at most lock_wait_timeout (a quarter of
         * the freeze timeout); the connection's read timeout, set at connect,
         * bounds a stuck server. */
        char sql[64];
        snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %u", MAX(1u, m->freeze_timeout_ms / 4000u));
        if (query(m, sql, err, sizeof(err)) < 0)
                goto failed;
        for (size_t i = 0; i < ELEMENTSOF(stages); i++)
                if (query(m, stages[i], err, sizeof(err)) < 0)
                        goto failed;
        /* The binary log position at BLOCK_COMMIT: nothing commits until Thaw. */
        snprintf(m->stamp, sizeof(m->stamp), "{\"binlog_file\":null,\"binlog_pos\":null,\"time\":%lld}",
                 (long long) time(NULL));
        if (mysql_query(m->conn, "SHOW MASTER STATUS") == 0) {
                MYSQL_RES *res = mysql_store_result(m->conn);
                MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
                if (row && row[0] && row[1] && strlen(row[0]) < sizeof(m->binlog_file) &&
                    strspn(row[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
                            strlen(row[0]) &&
                    strspn(row[1], "0123456789") == strlen(row[1])) {
                        snprintf(m->binlog_file, sizeof(m->binlog_file), "%s", row[0]);
                        snprintf(m->stamp, sizeof(m->stamp),
                                 "{\"binlog_file\":\"%s\",\"binlog_pos\":%s,\"time\":%lld}", row[0], row[1],
                                 (long long) time(NULL));
                }
                if (res)
                        mysql_free_result(res);
        }
        return 0;
failed:
        end_stage(m);
        return fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, -1, "%s; backup stage ended", err);
}

static int on_thaw(lvss_writer *w, void *userdata) {
        end_stage(userdata);
        return 0;
}

static int on_abort(lvss_writer *w, void *userdata) {
        end_stage(userdata);
        return 0;
}

/* The coordinator is gone or the writer exits: no stage left held. */
static void on_lost(void *userdata, const char *why) {
        (void) why;
        end_stage(userdata);
}

static int on_backup_shutdown(lvss_writer *w, const char *set_id, void *userdata) {
        end_stage(userdata);
        return 0;
}

static int on_post_snapshot(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mdbw *m = userdata;
        int n = lvss_writer_components_get_count(comps);
        end_stage(m);
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c || !is_ours(m, c))
                        continue;
                if (m->stamp[0])
                        lvss_component_set_backup_stamp(c, m->stamp);
        }
        return 0;
}

/* BackupComplete: with --purge-binlogs, after a full backup whose component
 * succeeded, the binary logs before the stamp's file are purged (the backup
 * holds everything they led to).  A failure is reported, never fatal. */
static int on_backup_complete(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mdbw *m = userdata;
        int n = lvss_writer_components_get_count(comps);
        char err[512], sql[320];

        if (!m->purge_binlogs || lvss_writer_get_backup_type(w) != LVSS_BT_FULL || !m->binlog_file[0])
                return 0;
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c || !is_ours(m, c) ||
                    lvss_component_get_backup_succeeded(c) != 1)
                        continue;
                snprintf(sql, sizeof(sql), "PURGE BINARY LOGS TO '%s'", m->binlog_file);
                if (connect_server(m, 30, err, sizeof(err)) < 0 || query(m, sql, err, sizeof(err)) < 0)
                        fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, NULL, -1, "binary logs not purged: %s", err);
                else
                        fprintf(stderr, "lvss-writer-mariadb: instance %s: binary logs before %s purged\n",
                                m->instance, m->binlog_file);
                disconnect(m);
        }
        return 0;
}

/* ----------------------------------------------------------------- restore */

/* 1 if the server answers on its socket or holds ibdata1's lock. */
static int server_running(mdbw *m, char *why, size_t n) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(m->socket) < sizeof(sa.sun_path)) {
                memcpy(sa.sun_path, m->socket, strlen(m->socket));
                _cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (s >= 0 && connect(s, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        snprintf(why, n, "the server accepts connections on %s", m->socket);
                        return 1;
                }
        }
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/ibdata1", m->datadir);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        if (fd >= 0 && fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
                snprintf(why, n, "process %d holds the lock of %.400s", (int) fl.l_pid, p);
                return 1;
        }
        return 0;
}

static int on_pre_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mdbw *m = userdata;
        int n = lvss_writer_components_get_count(comps);
        char why[512];

        end_stage(m);
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c ||
                    !lvss_component_is_selected_for_restore(c))
                        continue;
                if (!is_ours(m, c))
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 2, "unknown component '%s/%s'",
                                    lvss_component_get_logical_path(c), lvss_component_get_name(c));
                const char *o = lvss_component_get_restore_options(c);
                if (o && strstr(o, "\"alternate_location\"")) {
                        lvss_component_set_restore_target(c, LVSS_RT_ALTERNATE);
                        continue;
                }
                if (server_running(m, why, sizeof(why)))
                        return fail(w, LVSS_E_WRITERERROR_RETRYABLE, c, 2,
                                    "MariaDB instance %s is running (%s); stop it before restoring", m->instance,
                                    why);
        }
        return 0;
}

/* -------------------------------------------------------------------- main */

static const char help[] =
        "Usage: lvss-writer-mariadb --datadir DIR --socket PATH [--instance NAME] [--binlog-dir DIR]\n"
        "                           [--user USER] [--freeze-timeout MS] [--purge-binlogs]\n"
        "The MariaDB Writer: BACKUP STAGE around lvss snapshots of a MariaDB server's\n"
        "data directory, component 'MariaDB/<host>/<instance>'.  See lvss-writer-mariadb(8).\n\n"
        "  --datadir DIR         the server's data directory (datadir)\n"
        "  --socket PATH         the server's unix socket\n"
        "  --instance NAME       instance name (default 'default')\n"
        "  --binlog-dir DIR      where the binary logs are, when not in DIR\n"
        "  --user USER           MariaDB account (default root, unix_socket authentication)\n"
        "  --freeze-timeout MS   declared Freeze->Thaw limit (default 60000, 4000..600000)\n"
        "  --purge-binlogs       after a successful full backup, purge the binary logs\n"
        "                        before the backup's position\n"
        "  --help                this text\n";

static bool name_ok(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > MAX_NAME || s[0] == '.')
                return false;
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static bool abs_dir_ok(const char *p) {
        struct stat st;
        return p[0] == '/' && strlen(p) < 1024 && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "datadir", required_argument, NULL, 'd' },
                { "socket", required_argument, NULL, 's' },
                { "instance", required_argument, NULL, 'i' },
                { "binlog-dir", required_argument, NULL, 'b' },
                { "user", required_argument, NULL, 'u' },
                { "freeze-timeout", required_argument, NULL, 't' },
                { "purge-binlogs", no_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        mdbw m = { .instance = "default", .user = "root", .freeze_timeout_ms = 60000 };
        char host[MAX_NAME + 1], *end;
        int c, r;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'd': m.datadir = optarg; break;
                case 's': m.socket = optarg; break;
                case 'i': m.instance = optarg; break;
                case 'b': m.binlog_dir = optarg; break;
                case 'u': m.user = optarg; break;
                case 't':
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (errno || *end || v < 4000 || v > 600000) {
                                fprintf(stderr, "lvss-writer-mariadb: --freeze-timeout must be 4000..600000 ms\n");
                                return 2;
                        }
                        m.freeze_timeout_ms = (uint32_t) v;
                        break;
                case 'p': m.purge_binlogs = true; break;
                case 'h': fputs(help, stdout); return 0;
                default: fputs(help, stderr); return 2;
                }
        }
        if (optind < argc || !m.datadir || !m.socket) {
                fprintf(stderr, "lvss-writer-mariadb: --datadir DIR and --socket PATH are required (see --help)\n");
                return 2;
        }
        if (!abs_dir_ok(m.datadir) || (m.binlog_dir && !abs_dir_ok(m.binlog_dir))) {
                fprintf(stderr, "lvss-writer-mariadb: %s: not an absolute path of a directory\n",
                        abs_dir_ok(m.datadir) ? m.binlog_dir : m.datadir);
                return 2;
        }
        if (m.socket[0] != '/' || !name_ok(m.instance) || !name_ok(m.user)) {
                fprintf(stderr, "lvss-writer-mariadb: bad --socket (absolute path), --instance or --user "
                                "(1-%d characters of A-Z a-z 0-9 . _ -)\n", MAX_NAME);
                return 2;
        }
        wc_short_hostname(host, sizeof(host));
        snprintf(m.lpath, sizeof(m.lpath), "MariaDB/%s", host);
        if (mysql_library_init(0, NULL, NULL) != 0) {
                fprintf(stderr, "lvss-writer-mariadb: cannot initialise the MariaDB client library\n");
                return 1;
        }

        lvss_writer_identity id = LVSS_WRITER_IDENTITY_INIT;
        lvss_writer_events ev = LVSS_WRITER_EVENTS_INIT;
        id.class_id = MARIADB_WRITER_CLASS_ID;
        id.name = MARIADB_WRITER_NAME;
        id.instance_name = m.instance;
        id.usage = LVSS_UT_USERDATA;
        id.source = LVSS_ST_TRANSACTEDDB;
        id.level = LVSS_APP_BACK_END;
        id.freeze_timeout_ms = m.freeze_timeout_ms;
        ev.on_identify = on_identify;
        ev.on_prepare_backup = on_prepare_backup;
        ev.on_prepare_snapshot = on_prepare_snapshot;
        ev.on_freeze = on_freeze;
        ev.on_thaw = on_thaw;
        ev.on_abort = on_abort;
        ev.on_post_snapshot = on_post_snapshot;
        ev.on_backup_complete = on_backup_complete;
        ev.on_backup_shutdown = on_backup_shutdown;
        ev.on_pre_restore = on_pre_restore;
        r = lvss_writer_new(&id, &ev, &m, &m.w);
        if (r < 0) {
                fprintf(stderr, "lvss-writer-mariadb: cannot create the writer: %s\n", lvss_strerror(r));
                return 1;
        }
        wc_install_signals();
        char label[sizeof(m.lpath) + MAX_NAME + 2];
        snprintf(label, sizeof(label), "%s/%s", m.lpath, m.instance);
        wc_instance x = { .w = m.w, .label = label, .on_lost = on_lost, .userdata = &m };
        r = wc_run(&x, 1, "lvss-writer-mariadb");
        lvss_writer_free(m.w);
        mysql_library_end();
        return r;
}
