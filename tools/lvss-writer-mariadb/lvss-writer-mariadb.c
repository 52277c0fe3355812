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
 *   PrepareForBackup    full and copy; incremental/differential need the
 *                       binary log (refused naming log_bin when it is off)
 *                       and the previous stamp's binary log file
 *   PrepareForSnapshot  full/copy: BACKUP STAGE START
 *                       incremental/differential: FLUSH BINARY LOGS; the
 *                       closed binary logs from the previous stamp's file
 *                       on become the backup's file list (no stage: those
 *                       files never change again)
 *   Freeze              BACKUP STAGE FLUSH, BLOCK_DDL, BLOCK_COMMIT, each
 *                       bounded by lock_wait_timeout and a read timeout
 *                       inside the declared freeze timeout; then the binary
 *                       log file and position (SHOW MASTER STATUS) become
 *                       the backup stamp
 *   Thaw, Abort, BackupShutdown  BACKUP STAGE END
 *   PostSnapshot        the stamp {"binlog_file","binlog_pos","time"}; the
 *                       backup metadata: full/copy {"binlog_file",
 *                       "binlog_pos","binlog_basename"}, incremental and
 *                       differential {"files":[binary logs]}
 *   PreRestore          refused while the server runs (its socket answers
 *                       or ibdata1 is locked), naming the instance
 *   BackupComplete      --purge-binlogs: after a successful full, PURGE
 *                       BINARY LOGS TO the stamp's file
 *   PostRestore         on the last step of a chain: a temporary mariadbd
 *                       (no networking, no binary log, its own socket)
 *                       recovers InnoDB, mariadb-binlog replays the chain's
 *                       binary logs from the full's position to the end or
 *                       to --target-time, the server is shut down
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure, 2 usage, 5 not
 * allowed to register as a writer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <mysql.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lvss/lvss.h>

#include "writer-common.h"

#include "lib/core/error-slot.h"
#include "lib/core/fs-util.h"
#include "lib/core/macro.h"
#include "lib/core/test-hook.h"

/* Paths and messages are built with snprintf into PATH_MAX / message
 * buffers: a path that does not fit is cut and then fails to open, a
 * message is merely shortened. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define MARIADB_WRITER_CLASS_ID "8a3e51c2-7d94-4f06-b1a8-6c2f0e9d4b57"
#define MARIADB_WRITER_NAME "MariaDB Writer"
#define MAX_NAME 64
#define HOLD_DIR ".lvss-live-binlogs"  /* live binary logs kept aside during a restore */
#define REDO_LOG "ib_logfile0"          /* InnoDB's redo log (MariaDB 10.8 and later: one file) */
#define REDO_COPY ".lvss-ib_logfile0"   /* + ".<set id>": the writer's copy of it, taken at Thaw (§7.3 invariant 9) */
#define REDO_HEAD 12288                 /* header block + the two checkpoint blocks (log_t::START_OFFSET) */

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
        lvss_backup_type type;
        char prev_file[256];           /* incremental/differential: the base's binary log file */
        char basename[PATH_MAX];       /* @@log_bin_basename ("" when off) */
        char binlog_pos[32];           /* at BLOCK_COMMIT */
        json_t *files;                 /* incremental/differential: the binary logs stored */
        /* restore: collected over the steps of a chain */
        struct {
                bool have_base;
                char start_file[256];
                char start_pos[32];
                char basename[PATH_MAX];
                json_t *files;         /* binary log names restored by the steps after the full */
                bool have_owner;       /* the full's datadir_owner */
                uid_t uid;
                gid_t gid;
                mode_t mode;
        } rs;
        const char *mariadbd, *mariadb_binlog, *mariadb_client, *defaults_file;
        unsigned replay_timeout_s;
        /* full/copy: the redo log, from Freeze to Thaw (§7.3 invariant 9) */
        struct {
                int fd;                /* ib_logfile0, opened at Freeze; -1 */
                unsigned char head[REDO_HEAD]; /* as read at Freeze: checkpoint C0 */
                uint64_t checkpoint;   /* C0 */
                uint64_t end_lsn;      /* Innodb_lsn_current right after the copy */
                char set[LVSS_ID_MAX]; /* the snapshot set this state is of; "" */
                struct stat st;        /* ib_logfile0's owner and mode at Freeze */
                bool ready;            /* REDO_COPY.<set> is in the data directory */
                ErrorSlot err;         /* why it is not */
        } redo;
        lvss_writer *w;
        ErrorSlot err;                 /* why this instance's last step failed */
} mdbw;


/* Seconds on the monotonic clock: the writer logs how long its own steps
 * took (the benches split the time between writer and requestor). */
static double mono_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

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

static bool name_chars_ok(const char *s) {
        size_t n = strlen(s);
        return n > 0 && n < 256 && s[0] != '.' &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
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

/* Connect over the socket; every read bounded by timeout_s.  < 0 (-ENOMEM,
 * -EIO) with the reason in m->err. */
static int connect_server(mdbw *m, unsigned timeout_s) {
        disconnect(m);
        m->conn = mysql_init(NULL);
        if (!m->conn)
                return error_slot_set(&m->err, -ENOMEM, "out of memory");
        unsigned ct = 5;
        mysql_options(m->conn, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
        mysql_options(m->conn, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
        mysql_options(m->conn, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
        if (!mysql_real_connect(m->conn, NULL, m->user, NULL, NULL, 0, m->socket, 0)) {
                int r = error_slot_set(&m->err, -EIO, "instance %s: cannot connect to %s: %s", m->instance,
                                       m->socket, mysql_error(m->conn));
                disconnect(m);
                return r;
        }
        return 0;
}

/* Run sql on the connection, discarding any result.  -EIO with the server's
 * reason in err (m->err, or end_stage's own). */
static int query(mdbw *m, const char *sql, ErrorSlot *err) {
        if (mysql_query(m->conn, sql) != 0)
                return error_slot_set(err, -EIO, "instance %s: %s: %s", m->instance, sql, mysql_error(m->conn));
        MYSQL_RES *r = mysql_store_result(m->conn);
        if (r)
                mysql_free_result(r);
        return 0;
}

/* End the backup stage, if any, and close: never leave the server blocked.
 * Its own failure is only logged: m->err keeps the reason a failed step is
 * about to report. */
static void end_stage(mdbw *m) {
        ErrorSlot e;
        if (m->conn && m->in_stage && query(m, "BACKUP STAGE END", &e) < 0)
                fprintf(stderr, "lvss-writer-mariadb: %s (closing the connection ends it)\n", error_slot_get(&e));
        disconnect(m);
}

/* ------------------------------------------------------- InnoDB redo log */

/* The reflink provider clones the data directory file by file inside the
 * freeze, and InnoDB keeps flushing pages, purging and checkpointing under
 * BLOCK_COMMIT: the snapshot's ib_logfile0 is not of the same instant as
 * the data files.  What recovery needs (mariadb-backup's rule) is the redo
 * log from a checkpoint taken before the first data file was copied up to a
 * point after the last one.  So Freeze reads the checkpoint C0 (the log's
 * first 12 KiB), Thaw copies the live log before BACKUP STAGE END (nothing
 * has committed since the stamp) and writes C0's checkpoint blocks into
 * the copy; the copy is stored instead of the snapshot's ib_logfile0 and
 * restore puts it in place (§7.3 invariant 9). */

static uint64_t be64(const unsigned char *p) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static uint32_t be32(const unsigned char *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* CRC-32C (Castagnoli), as InnoDB's my_crc32c: only 60 bytes per block. */
static uint32_t crc32c(const unsigned char *p, size_t n) {
        uint32_t c = 0xFFFFFFFFu;
        while (n--) {
                c ^= *p++;
                for (int k = 0; k < 8; k++)
                        c = c >> 1 ^ (0x82F63B78u & (0u - (c & 1)));
        }
        return ~c;
}

/* The newest valid checkpoint of a 10.8+ redo log header (blocks at 4096
 * and 8192: checkpoint LSN, end LSN, zeros, CRC-32C of the first 60 bytes,
 * as recv_sys_t::find_checkpoint reads them); 0 if none. */
static uint64_t redo_checkpoint(const unsigned char *h) {
        static const unsigned char zero[44];
        uint64_t first = be64(h + 8), best = 0;
        for (size_t off = 4096; off <= 8192; off += 4096) {
                const unsigned char *b = h + off;
                uint64_t ck = be64(b), end = be64(b + 8);
                if (ck >= first && end >= ck && memcmp(b + 16, zero, sizeof(zero)) == 0 &&
                    crc32c(b, 60) == be32(b + 60) && ck > best)
                        best = ck;
        }
        return best;
}

/* Test hook: the writer as it was before the redo log copy (the snapshot's
 * ib_logfile0 is stored), to show what the copy fixes. */
static bool redo_copy_off(void) {
        return TEST_HOOK_ENV("LVSS_MARIADB_TEST_NO_REDO_COPY") != NULL;
}

/* A snapshot set id as lvssd makes them (a UUID): safe in a file name. */
static bool set_id_ok(const char *s) {
        return s && strlen(s) == 36 && strspn(s, "0123456789abcdefABCDEF-") == 36;
}

/* The event's snapshot set id, "" if it has none. */
static void event_set(lvss_writer *w, char set[static LVSS_ID_MAX]) {
        lvss_id id;
        set[0] = '\0';
        if (lvss_writer_get_current_snapshot_set_id(w, &id) == 0 && set_id_ok(id.str))
                memcpy(set, id.str, LVSS_ID_MAX);
}

/* The name of set's redo log copy in the data directory. */
static void redo_copy_name(const char *set, char *buf, size_t n) {
        snprintf(buf, n, REDO_COPY ".%s", set);
}

/* The name of a redo log copy a backup's metadata gives: REDO_COPY.<set id>,
 * or REDO_COPY alone (backups of the first writer with a copy). */
static bool redo_copy_name_ok(const char *f) {
        size_t l = strlen(REDO_COPY);
        return f && strncmp(f, REDO_COPY, l) == 0 && (!f[l] || (f[l] == '.' && set_id_ok(f + l + 1)));
}

static void redo_state_reset(mdbw *m) {
        if (m->redo.fd >= 0)
                close(m->redo.fd);
        m->redo.fd = -1;
        m->redo.ready = false;
        m->redo.checkpoint = m->redo.end_lsn = 0;
        m->redo.set[0] = '\0';
        error_slot_clear(&m->redo.err);
}

/* The set's session is over: forget the Freeze-to-Thaw state if it is
 * set's and remove set's copy.  set NULL (lvssd gone, or start-up: no
 * session of an earlier writer can still use a copy this writer did not
 * make): every copy.  unlinkat never follows a symlink. */
static void redo_drop(mdbw *m, const char *set) {
        if (!set || strcmp(set, m->redo.set) == 0)
                redo_state_reset(m);
        _cleanup_close_ int dfd = open(m->datadir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return;
        if (set) {
                char name[sizeof(REDO_COPY) + LVSS_ID_MAX + 1];
                if (!set_id_ok(set))
                        return;
                redo_copy_name(set, name, sizeof(name));
                (void) unlinkat(dfd, name, 0);
                return;
        }
        int d2 = dup(dfd);
        DIR *dir = d2 >= 0 ? fdopendir(d2) : NULL;
        struct dirent *de;
        if (!dir) {
                if (d2 >= 0)
                        close(d2);
                return;
        }
        while ((de = readdir(dir)))
                if (redo_copy_name_ok(de->d_name) && unlinkat(dfd, de->d_name, 0) == 0)
                        fprintf(stderr, "lvss-writer-mariadb: instance %s: removed the redo log copy %s/%s of a "
                                "session that is over\n", m->instance, m->datadir, de->d_name);
        closedir(dir);
}

/* A numeric server value of one row, one column; < 0 with m->err. */
static int query_u64(mdbw *m, const char *sql, int col, uint64_t *ret) {
        if (mysql_query(m->conn, sql) != 0)
                return error_slot_set(&m->err, -EIO, "instance %s: %s: %s", m->instance, sql, mysql_error(m->conn));
        MYSQL_RES *res = mysql_store_result(m->conn);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        const char *v = row && (unsigned) col < mysql_num_fields(res) ? row[col] : NULL;
        int r = 0;
        if (!v || !*v || strspn(v, "0123456789") != strlen(v))
                r = error_slot_set(&m->err, -EIO, "instance %s: %s: no number", m->instance, sql);
        else
                *ret = strtoull(v, NULL, 10);
        if (res)
                mysql_free_result(res);
        return r;
}

/* A string server value of one row, first column, into buf ("" if NULL);
 * < 0 with m->err. */
static int query_str(mdbw *m, const char *sql, char *buf, size_t n) {
        buf[0] = '\0';
        if (mysql_query(m->conn, sql) != 0)
                return error_slot_set(&m->err, -EIO, "instance %s: %s: %s", m->instance, sql, mysql_error(m->conn));
        MYSQL_RES *res = mysql_store_result(m->conn);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (row && row[0])
                snprintf(buf, n, "%s", row[0]);
        if (res)
                mysql_free_result(res);
        return 0;
}

/* Freeze, BLOCK_COMMIT held: open the redo log and read its checkpoint
 * C0.  Every page InnoDB had to write for C0 is in the data files already,
 * and the provider copies them only after this.  < 0 with m->err. */
static int redo_freeze(mdbw *m, const char *set) {
        char home[PATH_MAX];
        redo_state_reset(m);
        snprintf(m->redo.set, sizeof(m->redo.set), "%s", set);
        if (query_str(m, "SELECT @@innodb_log_group_home_dir", home, sizeof(home)) < 0)
                return -EIO;
        size_t hl = strlen(home);
        while (hl > 1 && home[hl - 1] == '/')
                home[--hl] = 0;
        if (hl && strcmp(home, ".") != 0 && strcmp(home, m->datadir) != 0)
                return error_slot_set(&m->err, -EINVAL, "instance %s: the InnoDB redo log is in %s "
                                      "(innodb_log_group_home_dir), outside the data directory %s: not supported",
                                      m->instance, home, m->datadir);
        _cleanup_close_ int dfd = open(m->datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;
        int fd = dfd >= 0 ? open_regular_at(dfd, REDO_LOG, &st) : -errno;
        if (fd < 0)
                return error_slot_set(&m->err, fd, "instance %s: %s/" REDO_LOG ": %s", m->instance, m->datadir,
                                      strerror(-fd));
        m->redo.fd = fd;
        m->redo.st = st;
        /* A checkpoint block being written may read torn: read again. */
        for (int tries = 0; tries < 5; tries++) {
                ssize_t n = pread(fd, m->redo.head, REDO_HEAD, 0);
                if (n != REDO_HEAD)
                        return error_slot_set(&m->err, n < 0 ? -errno : -EIO, "instance %s: %s/" REDO_LOG
                                              ": cannot read its header: %s", m->instance, m->datadir,
                                              n < 0 ? strerror(errno) : "short file");
                /* "Phys" and the format: 0 (10.8+), bit 31 set with
                 * innodb_encrypt_log (log_t::FORMAT_ENC_10_8). */
                uint32_t fmt = be32(m->redo.head + 4);
                if (be32(m->redo.head) != 0x50687973u || (fmt & 0x7fffffffu) != 0)
                        return error_slot_set(&m->err, -EINVAL, "instance %s: %s/" REDO_LOG " is not in the "
                                              "MariaDB 10.8+ redo log format (an older server?): the MariaDB "
                                              "Writer's redo log copy needs MariaDB 10.8 or later",
                                              m->instance, m->datadir);
                if (fmt & 0x80000000u)
                        return error_slot_set(&m->err, -EINVAL, "instance %s: %s/" REDO_LOG ": an encrypted redo "
                                              "log (innodb_encrypt_log) is not supported by the MariaDB Writer's "
                                              "redo log copy", m->instance, m->datadir);
                m->redo.checkpoint = redo_checkpoint(m->redo.head);
                if (m->redo.checkpoint)
                        return 0;
                usleep(1000);
        }
        return error_slot_set(&m->err, -EIO, "instance %s: %s/" REDO_LOG ": no valid checkpoint block",
                              m->instance, m->datadir);
}

/* Thaw, before BACKUP STAGE END, every data file copied: copy the live
 * redo log (FICLONE; a plain copy where cloning is not possible) into an
 * unnamed file of the data directory, and read the LSN reached.  Nothing
 * has committed since the stamp, so recovery from C0 through this log ends
 * at the snapshot's committed state (what it holds past the last data file
 * is uncommitted work, rolled back).  The fd of the copy, or < 0 with
 * m->redo.err. */
static int redo_copy(mdbw *m) {
        struct stat a, b;
        /* The same file as at Freeze (a log resize renames a new one in). */
        _cleanup_close_ int dfd = open(m->datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fstat(m->redo.fd, &a) < 0 || dfd < 0 || fstatat(dfd, REDO_LOG, &b, AT_SYMLINK_NOFOLLOW) < 0)
                return error_slot_set(&m->redo.err, -errno, "%s/" REDO_LOG ": %m", m->datadir);
        if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
                return error_slot_set(&m->redo.err, -ESTALE, "%s/" REDO_LOG " was replaced between Freeze and Thaw "
                                      "(the redo log was resized?)", m->datadir);
        int t = open(m->datadir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (t < 0)
                return error_slot_set(&m->redo.err, -errno, "%s: cannot make a file for the redo log copy: %m",
                                      m->datadir);
        if (ioctl(t, FICLONE, m->redo.fd) < 0) {
                /* No reflink here (another file system than XFS/btrfs). */
                off_t in = 0, out = 0;
                while (in < a.st_size) {
                        ssize_t n = copy_file_range(m->redo.fd, &in, t, &out, (size_t) (a.st_size - in), 0);
                        if (n <= 0) {
                                int r = error_slot_set(&m->redo.err, n < 0 ? -errno : -EIO, "%s/" REDO_LOG
                                                       ": copy: %s", m->datadir, n < 0 ? strerror(errno) : "short");
                                close(t);
                                return r;
                        }
                }
        }
        if (fstat(t, &b) < 0 || b.st_size != a.st_size) {
                close(t);
                return error_slot_set(&m->redo.err, -EIO, "%s/" REDO_LOG ": the copy has another size",
                                      m->datadir);
        }
        return t;
}

/* After BACKUP STAGE END: check the copy and give it C0's checkpoint
 * blocks and the name REDO_COPY.<set>; it stays root's, 0600, until a
 * restore gives it ib_logfile0's owner and mode (the server's user cannot
 * change it before it is stored).  Closes t; m->redo.ready or the reason
 * in m->redo.err. */
static void redo_finish(mdbw *m, int t, double t0) {
        unsigned char h[4096];
        struct stat st = {};
        char proc[64], name[sizeof(REDO_COPY) + LVSS_ID_MAX + 1];
        int r = 0;
        _cleanup_close_ int dfd = open(m->datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        redo_copy_name(m->redo.set, name, sizeof(name));

        if (fstat(m->redo.fd, &st) < 0 || dfd < 0)
                r = error_slot_set(&m->redo.err, -errno, "%s: %m", m->datadir);
        uint64_t cap = (uint64_t) st.st_size - REDO_HEAD, written = m->redo.end_lsn - m->redo.checkpoint;
        if (r < 0)
                ;
        else if (pread(t, h, sizeof(h), 0) != (ssize_t) sizeof(h) || memcmp(h, m->redo.head, sizeof(h)) != 0)
                r = error_slot_set(&m->redo.err, -ESTALE, "%s/" REDO_LOG ": its header changed between Freeze and "
                                   "Thaw (the redo log was resized or recreated?)", m->datadir);
        else if (m->redo.end_lsn < m->redo.checkpoint || (uint64_t) st.st_size <= REDO_HEAD + 4096 ||
                 written + 4096 > cap)
                /* Recovery reads from C0: those records must not be
                 * overwritten, and InnoDB writes whole blocks (up to 4 KiB):
                 * the block holding the end LSN must not reach C0's. */
                r = error_slot_set(&m->redo.err, -EOVERFLOW, "InnoDB wrote %" PRIu64 " bytes of redo log since the "
                                   "checkpoint at Freeze (LSN %" PRIu64 "), more than %s/" REDO_LOG " holds (%" PRIu64
                                   " bytes): the copy misses records; retry, or make innodb_log_file_size larger",
                                   written, m->redo.checkpoint, m->datadir, cap);
        else if (pwrite(t, m->redo.head + 4096, REDO_HEAD - 4096, 4096) != REDO_HEAD - 4096)
                r = error_slot_set(&m->redo.err, -EIO, "%s: writing the redo log copy: %m", m->datadir);
        else if (fchmod(t, 0600) < 0)
                r = error_slot_set(&m->redo.err, -errno, "%s: the redo log copy's mode: %m", m->datadir);
        if (r == 0) {
                (void) unlinkat(dfd, name, 0);
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t);
                if (linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW) < 0)
                        r = error_slot_set(&m->redo.err, -errno, "%s/%s: %m", m->datadir, name);
        }
        close(t);
        close(m->redo.fd);
        m->redo.fd = -1;
        if (r < 0) {
                fprintf(stderr, "lvss-writer-mariadb: instance %s: %s\n", m->instance, error_slot_get(&m->redo.err));
                return;
        }
        m->redo.ready = true;
        fprintf(stderr, "lvss-writer-mariadb: instance %s: redo log copied from checkpoint %" PRIu64 " to LSN %" PRIu64
                " (%.3f s in the freeze)\n", m->instance, m->redo.checkpoint, m->redo.end_lsn, t0);
}

/* The checkpoint of the redo log copy name in dfd, opened without
 * following a symlink (its fd in *ret_fd if not NULL); < 0 with -errno. */
static int redo_copy_checkpoint(int dfd, const char *name, uint64_t *ret, int *ret_fd) {
        unsigned char h[REDO_HEAD];
        int fd = open_regular_at(dfd, name, NULL);
        if (fd < 0)
                return fd;
        if (pread(fd, h, sizeof(h), 0) != (ssize_t) sizeof(h)) {
                close(fd);
                return -EIO;
        }
        *ret = redo_checkpoint(h);
        if (ret_fd)
                *ret_fd = fd;
        else
                close(fd);
        return 0;
}

/* Restore, each step: a backup made with a redo log copy brings it under
 * the name its metadata gives (REDO_COPY.<set id>); once its checkpoint is
 * checked against the metadata's, it gets ib_logfile0's owner and mode
 * recorded at Freeze and becomes ib_logfile0 (in dir: the data directory,
 * or --to).  < 0 with m->err. */
static int redo_restore(mdbw *m, const char *bm, const char *dir) {
        json_t *j = bm ? json_loads(bm, 0, NULL) : NULL;
        json_t *il = json_object_get(j, "innodb_log");
        char name[sizeof(REDO_COPY) + LVSS_ID_MAX + 1];
        const char *f = json_string_value(json_object_get(il, "file"));
        json_t *ju = json_object_get(il, "uid"), *jg = json_object_get(il, "gid"), *jm = json_object_get(il, "mode");
        bool own = json_is_integer(ju) && json_is_integer(jg) && json_is_integer(jm);
        uid_t uid = own ? (uid_t) json_integer_value(ju) : 0;
        gid_t gid = own ? (gid_t) json_integer_value(jg) : 0;
        mode_t mode = own ? (mode_t) (json_integer_value(jm) & 0777) : 0;
        json_int_t want_ck = json_integer_value(json_object_get(il, "checkpoint_lsn"));
        bool ok = redo_copy_name_ok(f);
        if (ok)
                snprintf(name, sizeof(name), "%s", f);
        json_decref(j);
        if (!il)
                return 0; /* an older backup: its ib_logfile0 came from the snapshot */
        if (!ok)
                return error_slot_set(&m->err, -EINVAL, "the backup's metadata names no valid redo log copy "
                                      "(innodb_log.file)");
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        uint64_t ck = 0;
        int fd = -1;
        int r = dfd < 0 ? -errno : redo_copy_checkpoint(dfd, name, &ck, &fd);
        if (r < 0)
                return error_slot_set(&m->err, r, "the backup's redo log copy %s/%s was not restored: %s", dir, name,
                                      strerror(-r));
        if (want_ck <= 0 || ck != (uint64_t) want_ck) {
                close(fd);
                return error_slot_set(&m->err, -EBADMSG, "the backup's redo log copy %s/%s has checkpoint %" PRIu64
                                      ", its metadata says %lld: refused (not this backup's redo log)", dir, name, ck,
                                      (long long) want_ck);
        }
        if (own && (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)) {
                r = error_slot_set(&m->err, -errno, "%s/%s: owner and mode: %m", dir, name);
                close(fd);
                return r;
        }
        close(fd);
        if (renameat(dfd, name, dfd, REDO_LOG) < 0 || fsync(dfd) < 0)
                return error_slot_set(&m->err, -errno, "%s/%s -> " REDO_LOG ": %m", dir, name);
        fprintf(stderr, "lvss-writer-mariadb: instance %s: the backup's redo log copy is %s/" REDO_LOG
                " (checkpoint %" PRIu64 ")\n", m->instance, dir, ck);
        return 0;
}

/* ------------------------------------------------------------------ events */

static int on_identify(lvss_writer *w, lvss_metadata_builder *md, void *userdata) {
        mdbw *m = userdata;
        char caption[256];
        int r;

        snprintf(caption, sizeof(caption), "MariaDB instance %s (%s)", m->instance, m->datadir);
        r = lvss_metadata_builder_add_component(md, LVSS_CT_FILEGROUP, m->lpath, m->instance, caption, 0, 1, 1, 1, 0);
        if (r >= 0)
                r = lvss_metadata_builder_add_files_to_file_group(md, m->lpath, m->instance, m->datadir, "*", 1, NULL, 0);
        if (r >= 0 && m->binlog_dir)
                r = lvss_metadata_builder_add_files_to_file_group(md, m->lpath, m->instance, m->binlog_dir, "*", 0, NULL, 0);
        /* Runtime files that are not data. */
        if (r >= 0)
                r = lvss_metadata_builder_add_exclude_files(md, m->datadir, "*.pid", 0);
        /* A full stores the redo log copied at Thaw (after_snapshot), not
         * the snapshot's, which is of another instant than the data files. */
        if (r >= 0 && !redo_copy_off())
                r = lvss_metadata_builder_add_exclude_files(md, m->datadir, REDO_LOG, 0);
        if (r >= 0)
                r = lvss_metadata_builder_add_exclude_files(md, m->datadir, REDO_COPY "*", 0);
        /* Live binary logs held by a restore that has not recovered yet. */
        for (int k = 0; k < 2 && r >= 0; k++) {
                char hold[PATH_MAX];
                const char *d = k ? m->binlog_dir : m->datadir;
                if (!d)
                        continue;
                snprintf(hold, sizeof(hold), "%s/" HOLD_DIR, d);
                r = lvss_metadata_builder_add_exclude_files(md, hold, "*", 1);
        }
        if (r >= 0)
                r = lvss_metadata_builder_set_restore_method(md, LVSS_RME_STOP_RESTORE_START, "mariadb", NULL, LVSS_WRE_ALWAYS,
                                                0);
        if (r >= 0)
                r = lvss_metadata_builder_set_backup_schema(md, LVSS_BS_COPY | LVSS_BS_INCREMENTAL | LVSS_BS_DIFFERENTIAL);
        return r;
}

static int on_prepare_backup(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mdbw *m = userdata;
        lvss_backup_type t = lvss_writer_get_backup_type(w);
        int n = lvss_writer_components_get_count(comps);

        end_stage(m); /* the redo log copies are per set: another session's is kept */
        m->selected = false;
        m->type = t;
        m->stamp[0] = '\0';
        m->binlog_file[0] = '\0';
        m->binlog_pos[0] = '\0';
        m->prev_file[0] = '\0';
        m->basename[0] = '\0';
        json_decref(m->files);
        m->files = NULL;
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c)
                        continue;
                if (!is_ours(m, c))
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 0, "unknown component '%s/%s'",
                                    lvss_component_get_logical_path(c), lvss_component_get_name(c));
                if (t != LVSS_BT_FULL && t != LVSS_BT_COPY && t != LVSS_BT_INCREMENTAL &&
                    t != LVSS_BT_DIFFERENTIAL)
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 0, "component '%s/%s': %s backups are not "
                                    "supported", m->lpath, m->instance, lvss_backup_type_to_string(t) ?: "this type");
                if (t == LVSS_BT_INCREMENTAL || t == LVSS_BT_DIFFERENTIAL) {
                        const char *tn = lvss_backup_type_to_string(t);
                        if (connect_server(m, 10) < 0)
                                return fail(w, LVSS_E_WRITERERROR_RETRYABLE, c, 0, "%s", error_slot_get(&m->err));
                        bool on = false;
                        if (mysql_query(m->conn, "SELECT @@log_bin, @@log_bin_basename") == 0) {
                                MYSQL_RES *res = mysql_store_result(m->conn);
                                MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
                                on = row && row[0] && strcmp(row[0], "1") == 0 && row[1];
                                if (on)
                                        snprintf(m->basename, sizeof(m->basename), "%s", row[1]);
                                if (res)
                                        mysql_free_result(res);
                        }
                        disconnect(m);
                        if (!on)
                                return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 0,
                                            "component '%s/%s': %s backups refused: the binary log is off (log_bin): "
                                            "incremental and differential backups are the binary logs; take a full "
                                            "or copy backup",
                                            m->lpath, m->instance, tn);
                        const char *prev = lvss_component_get_previous_backup_stamp(c);
                        json_t *j = prev ? json_loads(prev, 0, NULL) : NULL;
                        const char *pf = json_string_value(json_object_get(j, "binlog_file"));
                        if (!pf || !name_chars_ok(pf)) {
                                json_decref(j);
                                return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 0,
                                            "component '%s/%s': %s backup refused: the previous backup has no binary "
                                            "log position (take a full backup first)",
                                            m->lpath, m->instance, tn);
                        }
                        snprintf(m->prev_file, sizeof(m->prev_file), "%s", pf);
                        json_decref(j);
                }
                m->selected = true;
        }
        return 0;
}

static bool path_under(const char *p, const char *dir) {
        size_t l = strlen(dir);
        return strncmp(p, dir, l) == 0 && p[l] == '/';
}

/* Incremental/differential: rotate the binary log, then list the closed
 * files from the base's file up to the one just closed.  They never change
 * again, so the snapshot holds them whole; the stamp is the new file. */
static int binlog_files(mdbw *m) {
        char dir[PATH_MAX];
        const char *slash = strrchr(m->basename, '/');
        int r;
        if (!slash || slash == m->basename || (size_t) (slash - m->basename) >= sizeof(dir))
                return error_slot_set(&m->err, -EINVAL, "instance %s: binary log basename '%s' is not an absolute path",
                                      m->instance, m->basename);
        memcpy(dir, m->basename, (size_t) (slash - m->basename));
        dir[slash - m->basename] = 0;
        if (!path_under(m->basename, m->datadir) && !(m->binlog_dir && strcmp(dir, m->binlog_dir) == 0))
                return error_slot_set(&m->err, -EINVAL, "instance %s: the binary logs (%s) are outside the data "
                                      "directory: start the writer with --binlog-dir %s", m->instance, dir, dir);
        if ((r = connect_server(m, 30)) < 0 || (r = query(m, "FLUSH BINARY LOGS", &m->err)) < 0)
                return r;
        char cur[256] = "", pos[32] = "";
        if (mysql_query(m->conn, "SHOW MASTER STATUS") == 0) {
                MYSQL_RES *res = mysql_store_result(m->conn);
                MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
                if (row && row[0] && row[1] && name_chars_ok(row[0]) && strspn(row[1], "0123456789") == strlen(row[1]) &&
                    strlen(row[1]) < sizeof(pos)) {
                        snprintf(cur, sizeof(cur), "%s", row[0]);
                        snprintf(pos, sizeof(pos), "%s", row[1]);
                }
                if (res)
                        mysql_free_result(res);
        }
        if (!cur[0])
                return error_slot_set(&m->err, -EIO, "instance %s: SHOW MASTER STATUS: no binary log position: %s",
                                      m->instance, mysql_error(m->conn));
        if (mysql_query(m->conn, "SHOW BINARY LOGS") != 0)
                return error_slot_set(&m->err, -EIO, "instance %s: SHOW BINARY LOGS: %s", m->instance,
                                      mysql_error(m->conn));
        MYSQL_RES *res = mysql_store_result(m->conn);
        MYSQL_ROW row;
        bool have_prev = false;
        m->files = json_array();
        while (res && (row = mysql_fetch_row(res))) {
                if (!row[0] || !name_chars_ok(row[0]))
                        continue;
                have_prev |= strcmp(row[0], m->prev_file) == 0;
                /* Same basename, fixed-width numbers: names sort as numbers. */
                if (strcmp(row[0], m->prev_file) >= 0 && strcmp(row[0], cur) < 0) {
                        char path[PATH_MAX];
                        snprintf(path, sizeof(path), "%s/%s", dir, row[0]);
                        json_array_append_new(m->files, json_string(path));
                }
        }
        if (res)
                mysql_free_result(res);
        if (!have_prev)
                return error_slot_set(&m->err, -ENOENT, "instance %s: binary log %s, where the previous backup ended, "
                                      "is gone (purged?): take a full backup", m->instance, m->prev_file);
        snprintf(m->binlog_file, sizeof(m->binlog_file), "%s", cur);
        snprintf(m->binlog_pos, sizeof(m->binlog_pos), "%s", pos);
        snprintf(m->stamp, sizeof(m->stamp), "{\"binlog_file\":\"%s\",\"binlog_pos\":%s,\"time\":%lld}", cur, pos,
                 (long long) time(NULL));
        fprintf(stderr, "lvss-writer-mariadb: instance %s: %zu binary log(s) from %s (rotated to %s)\n", m->instance,
                json_array_size(m->files), m->prev_file, cur);
        return 0;
}

static int on_prepare_snapshot(lvss_writer *w, void *userdata) {
        mdbw *m = userdata;

        if (!m->selected)
                return 0;
        if (m->type == LVSS_BT_INCREMENTAL || m->type == LVSS_BT_DIFFERENTIAL) {
                if (binlog_files(m) < 0) {
                        disconnect(m);
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, NULL, -1, "%s", error_slot_get(&m->err));
                }
                disconnect(m);
                return 0;
        }
        /* BACKUP STAGE START waits for nothing but an earlier backup stage. */
        double t0 = mono_s();
        if (connect_server(m, 30) < 0 || query(m, "SET SESSION lock_wait_timeout = 10", &m->err) < 0 ||
            query(m, "BACKUP STAGE START", &m->err) < 0) {
                disconnect(m);
                return fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, -1, "%s", error_slot_get(&m->err));
        }
        m->in_stage = true;
        fprintf(stderr, "lvss-writer-mariadb: instance %s: BACKUP STAGE START (%.2f s)\n", m->instance, mono_s() - t0);
        return 0;
}

static int on_freeze(lvss_writer *w, void *userdata) {
        mdbw *m = userdata;
        static const char *const stages[] = { "BACKUP STAGE FLUSH", "BACKUP STAGE BLOCK_DDL",
                                              "BACKUP STAGE BLOCK_COMMIT" };

        if (!m->selected || m->type == LVSS_BT_INCREMENTAL || m->type == LVSS_BT_DIFFERENTIAL)
                return 0; /* the closed binary logs need no freeze */
        if (!m->conn || !m->in_stage)
                return fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, -1, "instance %s: no backup stage started",
                            m->instance);
        /* Each stage waits for locks at most lock_wait_timeout (a quarter of
         * the freeze timeout); the connection's read timeout, set at connect,
         * bounds a stuck server. */
        char sql[64];
        double t0 = mono_s();
        snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %u", MAX(1u, m->freeze_timeout_ms / 4000u));
        if (query(m, sql, &m->err) < 0)
                goto failed;
        for (size_t i = 0; i < ELEMENTSOF(stages); i++)
                if (query(m, stages[i], &m->err) < 0)
                        goto failed;
        /* Every commit up to the binary log position read below is in
         * InnoDB's log buffer (BLOCK_COMMIT waited for commits in progress);
         * write it to the redo log, so the snapshot holds them all and a
         * transaction InnoDB has only prepared is one the binary log does
         * not hold up to the stamp (restore rolls those back, §7.3). */
        if (query(m, "FLUSH NO_WRITE_TO_BINLOG ENGINE LOGS", &m->err) < 0)
                goto failed;
        /* The binary log position at BLOCK_COMMIT: nothing commits until Thaw. */
        snprintf(m->stamp, sizeof(m->stamp), "{\"binlog_file\":null,\"binlog_pos\":null,\"time\":%lld}",
                 (long long) time(NULL));
        (void) query_str(m, "SELECT @@log_bin_basename", m->basename, sizeof(m->basename));
        if (mysql_query(m->conn, "SHOW MASTER STATUS") == 0) {
                MYSQL_RES *res = mysql_store_result(m->conn);
                MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
                if (row && row[0] && row[1] && strlen(row[0]) < sizeof(m->binlog_file) &&
                    strspn(row[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
                            strlen(row[0]) &&
                    strspn(row[1], "0123456789") == strlen(row[1])) {
                        snprintf(m->binlog_file, sizeof(m->binlog_file), "%s", row[0]);
                        snprintf(m->binlog_pos, sizeof(m->binlog_pos), "%.31s", row[1]);
                        snprintf(m->stamp, sizeof(m->stamp),
                                 "{\"binlog_file\":\"%s\",\"binlog_pos\":%s,\"time\":%lld}", row[0], row[1],
                                 (long long) time(NULL));
                }
                if (res)
                        mysql_free_result(res);
        }
        /* The redo log's checkpoint before any data file is copied. */
        char set[LVSS_ID_MAX];
        event_set(w, set);
        if (!redo_copy_off() && !set[0]) {
                error_slot_set(&m->err, -EINVAL, "instance %s: Freeze without a snapshot set id", m->instance);
                goto failed;
        }
        if (!redo_copy_off() && redo_freeze(m, set) < 0)
                goto failed;
        fprintf(stderr, "lvss-writer-mariadb: instance %s: frozen at %s:%s (FLUSH, BLOCK_DDL, BLOCK_COMMIT, engine "
                "logs: %.2f s), redo log checkpoint %" PRIu64 "\n", m->instance, m->binlog_file, m->binlog_pos,
                mono_s() - t0, m->redo.checkpoint);
        return 0;
failed:
        end_stage(m); /* keeps m->err */
        return fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, -1, "%s; backup stage ended", error_slot_get(&m->err));
}

/* Every snapshot is cut: copy the redo log while nothing can commit, then
 * end the stage.  A failed copy is reported at PostSnapshot (Thaw cannot
 * veto). */
static int on_thaw(lvss_writer *w, void *userdata) {
        mdbw *m = userdata;
        int t = -1;
        double t0 = mono_s();
        char set[LVSS_ID_MAX];
        event_set(w, set);
        if (m->redo.fd >= 0 && strcmp(set, m->redo.set) != 0) {
                /* lvssd runs one set at a time: never copy for another. */
                char was[LVSS_ID_MAX];
                snprintf(was, sizeof(was), "%s", m->redo.set);
                redo_state_reset(m);
                error_slot_set(&m->redo.err, -ESTALE, "instance %s: Thaw of snapshot set %s, but the redo log was "
                               "read at the Freeze of set %s: no redo log copy", m->instance, set[0] ? set : "(none)",
                               was);
        } else if (m->redo.fd >= 0 && m->conn && m->in_stage) {
                t = redo_copy(m);
                if (t >= 0 && query_u64(m, "SHOW GLOBAL STATUS LIKE 'Innodb_lsn_current'", 1, &m->redo.end_lsn) < 0) {
                        error_slot_set(&m->redo.err, -EIO, "%s", error_slot_get(&m->err));
                        close(t);
                        t = -1;
                }
        } else if (m->redo.fd >= 0)
                error_slot_set(&m->redo.err, -EIO, "instance %s: the backup stage ended before Thaw: no redo log copy",
                               m->instance);
        t0 = mono_s() - t0;
        end_stage(m);
        if (t >= 0)
                redo_finish(m, t, t0);
        return 0;
}

static int on_abort(lvss_writer *w, void *userdata) {
        char set[LVSS_ID_MAX];
        end_stage(userdata);
        event_set(w, set);
        if (set[0])
                redo_drop(userdata, set); /* this set's copy only */
        return 0;
}

/* The coordinator is gone or the writer exits: no stage left held. */
static void on_lost(void *userdata, const char *why) {
        (void) why;
        end_stage(userdata);
        redo_drop(userdata, NULL); /* every session is gone with lvssd */
}

static int on_backup_shutdown(lvss_writer *w, const char *set_id, void *userdata) {
        end_stage(userdata);
        if (set_id_ok(set_id))
                redo_drop(userdata, set_id); /* this set's copy only */
        return 0;
}

static int on_post_snapshot(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mdbw *m = userdata;
        int n = lvss_writer_components_get_count(comps);
        char set[LVSS_ID_MAX], name[sizeof(REDO_COPY) + LVSS_ID_MAX + 1];
        end_stage(m);
        event_set(w, set);
        redo_copy_name(set, name, sizeof(name));
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c || !is_ours(m, c))
                        continue;
                if (m->stamp[0])
                        lvss_component_set_backup_stamp(c, m->stamp);
                json_t *md = NULL;
                if (m->files)
                        md = json_pack("{s:O, s:s}", "files", m->files, "binlog_from", m->prev_file);
                else {
                        struct stat st;
                        md = json_object();
                        if (m->binlog_file[0] && m->basename[0]) {
                                json_object_set_new(md, "binlog_file", json_string(m->binlog_file));
                                json_object_set_new(md, "binlog_pos", json_string(m->binlog_pos));
                                json_object_set_new(md, "binlog_basename", json_string(m->basename));
                        }
                        if (!redo_copy_off()) {
                                if (!m->redo.ready || !set[0] || strcmp(set, m->redo.set) != 0) {
                                        json_decref(md);
                                        return fail(w, LVSS_E_WRITERERROR_RETRYABLE, c, 1, "component '%s/%s': %s",
                                                    m->lpath, m->instance, error_slot_get(&m->redo.err)[0] ?
                                                    error_slot_get(&m->redo.err) : "no redo log copy was made at Thaw "
                                                    "for this snapshot set");
                                }
                                /* What is stored must be this set's copy. */
                                _cleanup_close_ int dfd = open(m->datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                uint64_t ck = 0;
                                int r = dfd < 0 ? -errno : redo_copy_checkpoint(dfd, name, &ck, NULL);
                                if (r < 0 || ck != m->redo.checkpoint) {
                                        json_decref(md);
                                        return fail(w, LVSS_E_WRITERERROR_RETRYABLE, c, 1, "component '%s/%s': the "
                                                    "redo log copy %s/%s %s%s (checkpoint %" PRIu64 ", Freeze read %"
                                                    PRIu64 ")", m->lpath, m->instance, m->datadir, name,
                                                    r < 0 ? "cannot be read: " : "is not this set's",
                                                    r < 0 ? strerror(-r) : "", ck, m->redo.checkpoint);
                                }
                                json_object_set_new(md, "innodb_log",
                                                    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "file", name,
                                                              "checkpoint_lsn", (json_int_t) m->redo.checkpoint,
                                                              "end_lsn", (json_int_t) m->redo.end_lsn, "uid",
                                                              (json_int_t) m->redo.st.st_uid, "gid",
                                                              (json_int_t) m->redo.st.st_gid, "mode",
                                                              (json_int_t) (m->redo.st.st_mode & 0777)));
                                json_object_set_new(md, "after_snapshot",
                                                    json_pack("{s:s, s:[s]}", "dir", m->datadir, "names", name));
                        }
                        /* Who owns the data directory: a restore that has to
                         * create its directories gives them to the owner. */
                        if (stat(m->datadir, &st) == 0)
                                json_object_set_new(md, "datadir_owner",
                                                    json_pack("{s:I, s:I, s:I}", "uid", (json_int_t) st.st_uid, "gid",
                                                              (json_int_t) st.st_gid, "mode",
                                                              (json_int_t) (st.st_mode & 07777)));
                }
                char *t = md ? json_dumps(md, JSON_COMPACT) : NULL;
                json_decref(md);
                if (t && lvss_component_set_backup_metadata(c, t) < 0) {
                        free(t);
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 1,
                                    "component '%s/%s': the list of %zu binary logs does not fit the backup document: "
                                    "take a full backup",
                                    m->lpath, m->instance, json_array_size(m->files));
                }
                free(t);
        }
        return 0;
}

/* BackupComplete: with --purge-binlogs, after a full backup whose component
 * succeeded, the binary logs before the stamp's file are purged (the backup
 * holds everything they led to).  A failure is reported, never fatal. */
static int on_backup_complete(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mdbw *m = userdata;
        int n = lvss_writer_components_get_count(comps);
        char sql[320];

        char set[LVSS_ID_MAX];
        event_set(w, set);
        if (set[0])
                redo_drop(m, set); /* stored: this set's copy is not needed any more */
        if (!m->purge_binlogs || lvss_writer_get_backup_type(w) != LVSS_BT_FULL || !m->binlog_file[0])
                return 0;
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c || !is_ours(m, c) ||
                    lvss_component_get_backup_succeeded(c) != 1)
                        continue;
                snprintf(sql, sizeof(sql), "PURGE BINARY LOGS TO '%s'", m->binlog_file);
                if (connect_server(m, 30) < 0 || query(m, sql, &m->err) < 0)
                        fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, NULL, -1, "binary logs not purged: %s",
                             error_slot_get(&m->err));
                else
                        fprintf(stderr, "lvss-writer-mariadb: instance %s: binary logs before %s purged\n",
                                m->instance, m->binlog_file);
                disconnect(m);
        }
        return 0;
}

/* ----------------------------------------------------------------- restore */

/* 1 if the server answers on its socket or holds ibdata1's lock, with the
 * evidence in m->err. */
static int server_running(mdbw *m) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(m->socket) < sizeof(sa.sun_path)) {
                memcpy(sa.sun_path, m->socket, strlen(m->socket));
                _cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (s >= 0 && connect(s, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        return error_slot_set(&m->err, 1, "the server accepts connections on %s", m->socket);
        }
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/ibdata1", m->datadir);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        if (fd >= 0 && fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
                return error_slot_set(&m->err, 1, "process %d holds the lock of %.400s", (int) fl.l_pid, p);
        return 0;
}

static int hold_live_binlogs(mdbw *m, const char *backup_metadata);

static int on_pre_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mdbw *m = userdata;
        int n = lvss_writer_components_get_count(comps);

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
                if (server_running(m))
                        return fail(w, LVSS_E_WRITERERROR_RETRYABLE, c, 2,
                                    "MariaDB instance %s is running (%s); stop it before restoring", m->instance,
                                    error_slot_get(&m->err));
                /* The full's step: keep the live binary logs out of the
                 * restore's way, to roll forward from (§7.2). */
                if (hold_live_binlogs(m, lvss_component_get_backup_metadata(c)) < 0)
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 2,
                                    "MariaDB instance %s: cannot keep the live binary logs: %s", m->instance,
                                    error_slot_get(&m->err));
        }
        return 0;
}

/* ----------------------------------------------------- binary log replay */

static void rs_reset(mdbw *m) {
        json_decref(m->rs.files);
        memset(&m->rs, 0, sizeof(m->rs));
}

/* Collect what one restore step brings: the full's position, or the
 * binary logs of an incremental/differential. */
static void rs_collect(mdbw *m, lvss_component *c) {
        const char *bm = lvss_component_get_backup_metadata(c);
        json_t *j = bm ? json_loads(bm, 0, NULL) : NULL, *v;
        const char *f = json_string_value(json_object_get(j, "binlog_file"));
        const char *pos = json_string_value(json_object_get(j, "binlog_pos"));
        const char *base = json_string_value(json_object_get(j, "binlog_basename"));
        json_t *own = json_object_get(j, "datadir_owner");
        size_t i;
        bool pos_ok = f && pos && base && name_chars_ok(f) && strspn(pos, "0123456789") == strlen(pos) && base[0] == '/';
        if (pos_ok || json_is_object(own))
                rs_reset(m); /* a full: the chain starts here */
        if (pos_ok) {
                m->rs.have_base = true;
                snprintf(m->rs.start_file, sizeof(m->rs.start_file), "%s", f);
                snprintf(m->rs.start_pos, sizeof(m->rs.start_pos), "%s", pos);
                snprintf(m->rs.basename, sizeof(m->rs.basename), "%s", base);
        }
        json_int_t ou = json_integer_value(json_object_get(own, "uid")), og = json_integer_value(json_object_get(own, "gid")),
                   om = json_integer_value(json_object_get(own, "mode"));
        if (json_is_integer(json_object_get(own, "uid")) && json_is_integer(json_object_get(own, "gid")) &&
            json_is_integer(json_object_get(own, "mode")) && ou > 0 && ou < UINT32_MAX && og >= 0 && og < UINT32_MAX &&
            om >= 0 && om <= 0777) {
                m->rs.have_owner = true;
                m->rs.uid = (uid_t) ou;
                m->rs.gid = (gid_t) og;
                m->rs.mode = (mode_t) om;
        }
        json_array_foreach(json_object_get(j, "files"), i, v) {
                const char *path = json_string_value(v), *name = path ? strrchr(path, '/') : NULL;
                if (!name || !name_chars_ok(name + 1))
                        continue;
                if (!m->rs.files)
                        m->rs.files = json_array();
                json_array_append_new(m->rs.files, json_string(name + 1));
        }
        json_decref(j);
}

/* ---------------------------------------------- live binary logs at restore */

/* The directory and file-name stem of a binary log basename ("DIR/binlog")
 * from a backup, accepted only inside the data directory or --binlog-dir
 * (else -EINVAL, no message: the caller names what it was looking for). */
static int binlog_split(const mdbw *m, const char *basename, char *dir, size_t dsz, const char **ret_stem) {
        const char *slash = basename ? strrchr(basename, '/') : NULL;
        if (!slash || basename[0] != '/' || slash == basename || (size_t) (slash - basename) >= dsz ||
            !name_chars_ok(slash + 1) || strstr(basename, "/../") || strstr(basename, "/./"))
                return -EINVAL;
        memcpy(dir, basename, (size_t) (slash - basename));
        dir[slash - basename] = 0;
        if (!path_under(basename, m->datadir) && !(m->binlog_dir && strcmp(dir, m->binlog_dir) == 0))
                return -EINVAL;
        *ret_stem = slash + 1;
        return 0;
}

/* NAME is STEM.NNNNNN (6-9 digits): its number; else -1. */
static long long binlog_number(const char *name, const char *stem) {
        size_t l = strlen(stem);
        if (strncmp(name, stem, l) != 0 || name[l] != '.')
                return -1;
        const char *d = name + l + 1;
        size_t nd = strlen(d);
        if (nd < 6 || nd > 9 || strspn(d, "0123456789") != nd)
                return -1;
        return strtoll(d, NULL, 10);
}

/* PreRestore of a chain's full, in place (the server is stopped): hard
 * links to the live binary logs from the full's stamp file on, in
 * DIR/.lvss-live-binlogs.  The restore renames the backup's copies into
 * place (the stamp file's copy is cut at the snapshot); the held live ones
 * are what PostRestore rolls forward from.  A hold left by a restore that
 * did not finish is kept: a name is replaced only by a longer file (binary
 * logs only grow).  Not a full with a binary log position: nothing to do.
 * < 0 (-errno) with the reason in m->err. */
static int hold_live_binlogs(mdbw *m, const char *bm) {
        json_t *j = bm ? json_loads(bm, 0, NULL) : NULL;
        const char *f = json_string_value(json_object_get(j, "binlog_file"));
        const char *base = json_string_value(json_object_get(j, "binlog_basename"));
        char dir[PATH_MAX], hold[PATH_MAX + 32];
        const char *stem;
        long long first;
        int r = 0;
        unsigned held = 0;

        if (!f || binlog_split(m, base, dir, sizeof(dir), &stem) < 0 || (first = binlog_number(f, stem)) < 0) {
                json_decref(j);
                return 0;
        }
        DIR *d = opendir(dir);
        if (!d) { /* gone with the data directory: nothing live */
                json_decref(j);
                return 0;
        }
        snprintf(hold, sizeof(hold), "%s/" HOLD_DIR, dir);
        _cleanup_close_ int hfd = -1;
        if ((mkdir(hold, 0700) < 0 && errno != EEXIST) ||
            (hfd = open(hold, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
                r = error_slot_set(&m->err, -errno, "%s: %m", hold);
                closedir(d);
                json_decref(j);
                return r;
        }
        struct dirent *de;
        while (r == 0 && (de = readdir(d))) {
                long long k = binlog_number(de->d_name, stem);
                struct stat st, hs;
                if (k < first || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (fstatat(hfd, de->d_name, &hs, AT_SYMLINK_NOFOLLOW) == 0) {
                        if (hs.st_size >= st.st_size)
                                continue;
                        unlinkat(hfd, de->d_name, 0);
                }
                if (linkat(dirfd(d), de->d_name, hfd, de->d_name, 0) < 0)
                        r = error_slot_set(&m->err, -errno, "link %s/%s into %s: %m", dir, de->d_name, hold);
                else
                        held++;
        }
        closedir(d);
        if (r == 0 && fsync(hfd) < 0)
                r = error_slot_set(&m->err, -errno, "%s: fsync: %m", hold);
        if (r == 0)
                fprintf(stderr, "lvss-writer-mariadb: instance %s: %u live binary log(s) from %s kept in %s\n",
                        m->instance, held, f, hold);
        json_decref(j);
        return r;
}

/* The recovering step: a held live binary log goes back where it is longer
 * than the restored copy (or there is none); the hold is removed.  < 0
 * (-errno) with the reason in m->err. */
static int settle_held(mdbw *m, const char *dir) {
        char hold[PATH_MAX + 32];
        snprintf(hold, sizeof(hold), "%s/" HOLD_DIR, dir);
        int hfd = open(hold, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (hfd < 0)
                return 0;
        /* Each error right after its call: -errno is never 0. */
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = dfd >= 0 ? fdopendir(hfd) : NULL;
        if (!d) {
                int r = error_slot_set(&m->err, -errno, "%s: %m", dfd < 0 ? dir : hold);
                close(hfd);
                return r;
        }
        struct dirent *de;
        unsigned back = 0;
        int r = 0;
        while (r == 0 && (de = readdir(d))) {
                struct stat hs, st;
                if (de->d_name[0] == '.' || fstatat(hfd, de->d_name, &hs, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(hs.st_mode))
                        continue;
                bool have = fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0;
                if (!have || (S_ISREG(st.st_mode) && st.st_size < hs.st_size)) {
                        if (renameat(hfd, de->d_name, dfd, de->d_name) < 0)
                                r = error_slot_set(&m->err, -errno, "rename %s/%s: %m", hold, de->d_name);
                        else
                                back++;
                } else
                        unlinkat(hfd, de->d_name, 0);
        }
        closedir(d);
        if (r == 0 && fsync(dfd) < 0)
                r = error_slot_set(&m->err, -errno, "%s: fsync: %m", dir);
        if (r == 0 && rmdir(hold) < 0 && errno != ENOENT)
                r = error_slot_set(&m->err, -errno, "%s: %m", hold);
        if (r == 0)
                fprintf(stderr, "lvss-writer-mariadb: instance %s: %u live binary log(s) longer than the backup's "
                        "put back\n", m->instance, back);
        return r;
}

/* lvss-backup restore creates a directory that is missing as root:root
 * 0750.  Below the data directory (and --binlog-dir) every such directory is
 * given back to the data directory's owner at backup time: the data
 * directory its recorded mode, the others 0700 (what MariaDB creates).
 * Directories with another owner or mode are left alone.  < 0 (-errno) with
 * the reason in m->err (recursive: no slot on the stack). */
static int give_back_dirs(mdbw *m, int fd, bool top, int depth) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return 0;
        if (st.st_uid == 0 && st.st_gid == 0 && (st.st_mode & 07777) == 0750) {
                if (fchown(fd, m->rs.uid, m->rs.gid) < 0 || fchmod(fd, top ? m->rs.mode : 0700) < 0)
                        return error_slot_set(&m->err, -errno, "cannot give a restored directory to uid %u: %m",
                                              (unsigned) m->rs.uid);
        }
        if (depth >= 16)
                return 0;
        int dup_fd = dup(fd);
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        if (!d) {
                if (dup_fd >= 0)
                        close(dup_fd);
                return 0;
        }
        struct dirent *de;
        int r = 0;
        while (r == 0 && (de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
                        continue;
                int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        continue;
                r = give_back_dirs(m, sub, false, depth + 1);
                close(sub);
        }
        closedir(d);
        return r;
}

static int fix_restored_dirs(mdbw *m) {
        if (!m->rs.have_owner)
                return 0;
        for (int k = 0; k < 2; k++) {
                const char *dir = k ? m->binlog_dir : m->datadir;
                if (!dir)
                        continue;
                _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int r = fd >= 0 ? give_back_dirs(m, fd, k == 0, 0) : 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A temporary server on the restored data directory: no networking, no
 * binary log, its own socket in tmp (owned by the data directory's owner,
 * whom mariadbd runs as).  Its process id, or < 0 (-errno, -EINVAL) with
 * the reason in m->err. */
static pid_t temp_server_start(mdbw *m, const char *tmp, const char *sock) {
        struct stat st;
        if (stat(m->datadir, &st) < 0)
                return error_slot_set(&m->err, -errno, "%s: %m", m->datadir);
        struct passwd *pw = getpwuid(st.st_uid);
        if (!pw || !name_chars_ok(pw->pw_name))
                return error_slot_set(&m->err, -EINVAL, "%s: owner uid %u has no usable user name", m->datadir,
                                      (unsigned) st.st_uid);
        if (chown(tmp, st.st_uid, st.st_gid) < 0)
                return error_slot_set(&m->err, -errno, "%s: chown: %m", tmp);
        char a_def[PATH_MAX + 20], a_dd[PATH_MAX + 20], a_sock[PATH_MAX + 20], a_pid[PATH_MAX + 20],
                a_log[PATH_MAX + 20], a_user[300], logp[PATH_MAX];
        snprintf(a_def, sizeof(a_def), "--defaults-file=%s", m->defaults_file ? m->defaults_file : "");
        snprintf(a_dd, sizeof(a_dd), "--datadir=%s", m->datadir);
        snprintf(a_sock, sizeof(a_sock), "--socket=%s", sock);
        snprintf(a_pid, sizeof(a_pid), "--pid-file=%s/mariadbd.pid", tmp);
        snprintf(logp, sizeof(logp), "%s/mariadbd.err", tmp);
        snprintf(a_log, sizeof(a_log), "--log-error=%s", logp);
        snprintf(a_user, sizeof(a_user), "--user=%s", pw->pw_name);
        const char *argv[16];
        size_t k = 0;
        argv[k++] = m->mariadbd;
        if (m->defaults_file)
                argv[k++] = a_def; /* must come first */
        argv[k++] = a_dd, argv[k++] = a_sock, argv[k++] = a_pid, argv[k++] = a_log, argv[k++] = a_user;
        argv[k++] = "--skip-networking", argv[k++] = "--skip-log-bin", argv[k++] = "--skip-slave-start";
        /* Transactions InnoDB prepared but the binary log did not hold at
         * the stamp: rolled back here, replayed from the binary log. */
        argv[k++] = "--tc-heuristic-recover=ROLLBACK";
        argv[k] = NULL;
        pid_t pid = fork();
        if (pid < 0)
                return error_slot_set(&m->err, -errno, "fork: %m");
        if (pid == 0) {
                struct sigaction dfl = { .sa_handler = SIG_DFL };
                sigset_t none;
                setpgid(0, 0);
                sigaction(SIGTERM, &dfl, NULL);
                sigaction(SIGINT, &dfl, NULL);
                sigaction(SIGPIPE, &dfl, NULL);
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0)
                        _exit(127);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        setpgid(pid, pid);
        return pid;
}

/* Ready when the socket takes a connection (InnoDB recovered); 300 s at
 * most.  On failure the server is gone (exited: -ECHILD; killed after the
 * wait: -ETIMEDOUT), the reason in m->err. */
static int temp_server_wait(mdbw *m, pid_t pid, const char *tmp, const char *sock) {
        char logp[PATH_MAX];
        snprintf(logp, sizeof(logp), "%s/mariadbd.err", tmp);
        for (int i = 0; i < 3000; i++) {
                int status;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        char tail[400] = "";
                        FILE *f = fopen(logp, "re");
                        if (f) {
                                char line[400];
                                while (!tail[0] && fgets(line, sizeof(line), f))
                                        if (strstr(line, "[ERROR]"))
                                                snprintf(tail, sizeof(tail), "%s", line);
                                fclose(f);
                        }
                        tail[strcspn(tail, "\n")] = 0;
                        return error_slot_set(&m->err, -ECHILD, "the temporary server on %s exited (status %d)%s%s",
                                              m->datadir, status, tail[0] ? ": " : "", tail);
                }
                MYSQL *c = mysql_init(NULL);
                unsigned ct = 2;
                if (c)
                        mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
                bool ok = c && mysql_real_connect(c, NULL, m->user, NULL, NULL, 0, sock, 0);
                if (c)
                        mysql_close(c);
                if (ok)
                        return 0;
                usleep(100000);
        }
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return error_slot_set(&m->err, -ETIMEDOUT, "the temporary server on %s did not answer within 300 s (see %s)",
                              m->datadir, logp);
}

/* SIGTERM is mariadbd's clean shutdown; SIGKILL after 300 s.  0 on a clean
 * exit, -EIO on another, -ETIMEDOUT when killed (the caller words it). */
static int temp_server_stop(pid_t pid) {
        int status = 0;
        kill(pid, SIGTERM);
        for (int i = 0; i < 3000; i++) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
                usleep(100000);
        }
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -ETIMEDOUT;
}

static bool target_time_ok(const char *t) {
        size_t n = strlen(t);
        return n >= 10 && n < 40 && strspn(t, "0123456789-: .") == n;
}

typedef struct binlog_name {
        long long num;
        char *name;
        off_t size;
} binlog_name;

static int binlog_name_cmp(const void *a, const void *b) {
        long long x = ((const binlog_name *) a)->num, y = ((const binlog_name *) b)->num;
        return x < y ? -1 : x > y;
}

/* The last step of a chain: replay from the full's position every binary
 * log in the binary log directory from the full's stamp file on — the
 * files the incrementals and differentials restored and, rolling forward,
 * the newer live ones the restore left in place or PreRestore held — to
 * the end or to target_time.  The files must follow each other without a
 * gap: replay stops before one.  < 0 with the reason in m->err. */
static int replay(mdbw *m, const char *target_time) {
        char dir[PATH_MAX];
        const char *stem;
        long long first;
        size_t k = 0, cap = 0, i;
        binlog_name *bl = NULL;
        int r;

        if (binlog_split(m, m->rs.basename, dir, sizeof(dir), &stem) < 0 ||
            (first = binlog_number(m->rs.start_file, stem)) < 0)
                return error_slot_set(&m->err, -EINVAL, "the backup's binary log %s (basename %s) is not inside the "
                                      "data directory or --binlog-dir", m->rs.start_file, m->rs.basename);
        r = settle_held(m, dir);
        if (r < 0)
                return r;
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                long long num = binlog_number(de->d_name, stem);
                struct stat st;
                if (num < first || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (k == cap) {
                        binlog_name *nb = realloc(bl, (cap = cap ? cap * 2 : 16) * sizeof(*bl));
                        if (!nb)
                                break;
                        bl = nb;
                }
                if (!(bl[k].name = strdup(de->d_name)))
                        break;
                bl[k].num = num;
                bl[k++].size = st.st_size;
        }
        if (d)
                closedir(d);
        qsort(bl, k, sizeof(*bl), binlog_name_cmp);
        for (i = 0; i < k && bl[i].num == first + (long long) i; i++)
                ;
        if (i < k)
                fprintf(stderr, "lvss-writer-mariadb: instance %s: binary log number %lld is missing: replay stops "
                        "before it (%s is the next present)\n", m->instance, first + (long long) i, bl[i].name);
        size_t cnt = i;
        const char **names = calloc(cnt + 1, sizeof(*names));
        for (i = 0; names && i < cnt; i++)
                names[i] = bl[i].name;
        k = cnt;
        /* Nothing after the full's position: the stamp file ends there. */
        if (!names || cnt == 0 || (cnt == 1 && strtoll(m->rs.start_pos, NULL, 10) >= bl[0].size)) {
                r = names ? 0 : error_slot_set(&m->err, -ENOMEM, "out of memory");
                if (r == 0)
                        fprintf(stderr, "lvss-writer-mariadb: instance %s: no binary log events after %s:%s to "
                                "replay\n", m->instance, m->rs.start_file, m->rs.start_pos);
                free(names);
                for (i = 0; i < cnt; i++)
                        free(bl[i].name);
                free(bl);
                return r;
        }
        char tmp[] = "/tmp/lvss-mariadb-XXXXXX", sock[PATH_MAX], sqlf[PATH_MAX];
        if (!mkdtemp(tmp)) {
                r = error_slot_set(&m->err, -errno, "mkdtemp: %m");
                for (i = 0; i < cnt; i++)
                        free(bl[i].name);
                free(bl);
                free(names);
                return r;
        }
        snprintf(sock, sizeof(sock), "%s/mariadbd.sock", tmp);
        snprintf(sqlf, sizeof(sqlf), "%s/replay.sql", tmp);
        /* mariadb-binlog writes the events as SQL (as root, into our 0700
         * directory); the client then runs them over the temporary socket. */
        char a_start[64], a_stop[80], a_res[PATH_MAX + 20];
        char **argv = calloc(k + 8, sizeof(char *)), **paths = calloc(k + 1, sizeof(char *));
        if (!argv || !paths) {
                r = error_slot_set(&m->err, -ENOMEM, "out of memory");
                goto out;
        }
        size_t a = 0;
        argv[a++] = (char *) m->mariadb_binlog;
        argv[a++] = (char *) "--no-defaults";
        if (strcmp(names[0], m->rs.start_file) == 0) {
                snprintf(a_start, sizeof(a_start), "--start-position=%s", m->rs.start_pos);
                argv[a++] = a_start;
        }
        if (target_time) {
                snprintf(a_stop, sizeof(a_stop), "--stop-datetime=%s", target_time);
                argv[a++] = a_stop;
        }
        snprintf(a_res, sizeof(a_res), "--result-file=%s", sqlf);
        argv[a++] = a_res;
        for (i = 0; i < k; i++) {
                if (asprintf(&paths[i], "%s/%s", dir, names[i]) < 0) {
                        paths[i] = NULL;
                        r = error_slot_set(&m->err, -ENOMEM, "out of memory");
                        goto out;
                }
                argv[a++] = paths[i];
        }
        argv[a] = NULL;
        fprintf(stderr, "lvss-writer-mariadb: instance %s: replaying %zu binary log(s) %s..%s from %s:%s%s%s\n",
                m->instance, k, names[0], names[k - 1], m->rs.start_file, m->rs.start_pos,
                target_time ? " until " : " to the end", target_time ? target_time : "");
        /* The temporary server recovers InnoDB while mariadb-binlog decodes
         * the logs: the two are independent. */
        double t0 = mono_s(), t1, t2, t3;
        pid_t pid = temp_server_start(m, tmp, sock);
        if (pid < 0) {
                r = pid;
                goto out;
        }
        r = wc_run_command("mariadb-binlog", argv, NULL, NULL, m->replay_timeout_s, &m->err);
        if (r < 0) {
                (void) temp_server_stop(pid);
                goto out;
        }
        t1 = mono_s();
        r = temp_server_wait(m, pid, tmp, sock);
        if (r < 0)
                goto out;
        t2 = mono_s();
        char a_sock[PATH_MAX + 20], a_user[100];
        snprintf(a_sock, sizeof(a_sock), "--socket=%s", sock);
        snprintf(a_user, sizeof(a_user), "--user=%s", m->user);
        char *cargv[] = { (char *) m->mariadb_client, (char *) "--no-defaults", a_sock, a_user,
                          (char *) "--binary-mode", NULL };
        r = wc_run_command("mariadb (replay)", cargv, NULL, sqlf, m->replay_timeout_s, &m->err);
        t3 = mono_s();
        int stop = temp_server_stop(pid);
        if (stop < 0 && r == 0)
                r = error_slot_set(&m->err, stop, "the temporary server did not shut down cleanly (see "
                                   "%s/mariadbd.err)", tmp);
        if (r == 0)
                fprintf(stderr, "lvss-writer-mariadb: instance %s: replayed (mariadb-binlog %.2f s with the server "
                        "starting, server ready %.2f s later, SQL %.2f s, shutdown %.2f s)\n", m->instance, t1 - t0, t2 - t1, t3 - t2, mono_s() - t3);
out:
        if (r == 0) {
                char p[PATH_MAX];
                const char *const leftovers[] = { "replay.sql", "mariadbd.err", "mariadbd.pid", "mariadbd.sock", NULL };
                for (i = 0; leftovers[i]; i++) {
                        snprintf(p, sizeof(p), "%s/%s", tmp, leftovers[i]);
                        unlink(p);
                }
                rmdir(tmp);
        }
        for (i = 0; paths && i < k; i++)
                free(paths[i]);
        free(paths);
        free(argv);
        free(names);
        for (i = 0; bl && i < cnt; i++)
                free(bl[i].name);
        free(bl);
        return r;
}

static int on_post_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mdbw *m = userdata;
        int n = lvss_writer_components_get_count(comps);

        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c || !is_ours(m, c) ||
                    !lvss_component_is_selected_for_restore(c))
                        continue;
                const char *o = lvss_component_get_restore_options(c);
                json_t *opt = o ? json_loads(o, 0, NULL) : NULL;
                bool alt = json_object_get(opt, "alternate_location") != NULL;
                char altdir[PATH_MAX] = "";
                if (json_string_value(json_object_get(opt, "alternate_location")))
                        snprintf(altdir, sizeof(altdir), "%s",
                                 json_string_value(json_object_get(opt, "alternate_location")));
                const char *tt = json_string_value(json_object_get(opt, "target_time"));
                char target[64] = "";
                if (tt)
                        snprintf(target, sizeof(target), "%s", tt);
                json_decref(opt);
                if (lvss_component_get_file_restore_status(c) == LVSS_RS_FAILED) {
                        rs_reset(m);
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, NULL, -1,
                                    "instance %s: files were only partly restored: no binary log replay", m->instance);
                }
                /* A full's redo log copy becomes ib_logfile0, before any
                 * server starts on these files. */
                if (!(alt && !altdir[0]) &&
                    redo_restore(m, lvss_component_get_backup_metadata(c), alt ? altdir : m->datadir) < 0) {
                        rs_reset(m);
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, NULL, -1, "instance %s: %s", m->instance,
                                    error_slot_get(&m->err));
                }
                rs_collect(m, c);
                if (lvss_component_get_additional_restores(c) == 1)
                        continue; /* a later step replays */
                if (alt) {
                        rs_reset(m); /* an alternate location is left as restored */
                        continue;
                }
                if (target[0] && !target_time_ok(target)) {
                        rs_reset(m);
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, NULL, -1,
                                    "instance %s: bad target time '%s' (YYYY-MM-DD HH:MM:SS)", m->instance, target);
                }
                if (!m->rs.have_base && json_array_size(m->rs.files)) {
                        rs_reset(m);
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, NULL, -1,
                                    "instance %s: the restored chain has no full backup: no binary log replay",
                                    m->instance);
                }
                if (fix_restored_dirs(m) < 0) {
                        rs_reset(m);
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, NULL, -1, "instance %s: %s", m->instance,
                                    error_slot_get(&m->err));
                }
                int r = m->rs.have_base ? replay(m, target[0] ? target : NULL) : 0;
                rs_reset(m);
                if (r < 0)
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, NULL, -1, "instance %s: binary log replay: %s",
                                    m->instance, error_slot_get(&m->err));
        }
        return 0;
}

/* -------------------------------------------------------------------- main */

static const char help[] =
        "Usage: lvss-writer-mariadb --datadir DIR --socket PATH [--instance NAME] [--binlog-dir DIR]\n"
        "                           [--user USER] [--freeze-timeout MS] [--purge-binlogs]\n"
        "                           [--defaults-file FILE] [--mariadbd PATH]\n"
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
        "  --defaults-file FILE  the server's option file, for the temporary server that\n"
        "                        replays binary logs after a restore (default: mariadbd's own)\n"
        "  --mariadbd PATH       the server program (default /usr/sbin/mariadbd)\n"
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
                { "defaults-file", required_argument, NULL, 'f' },
                { "mariadbd", required_argument, NULL, 'm' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        mdbw m = { .instance = "default", .user = "root", .freeze_timeout_ms = 60000,
                   .mariadbd = "/usr/sbin/mariadbd", .mariadb_binlog = "/usr/bin/mariadb-binlog",
                   .mariadb_client = "/usr/bin/mariadb", .replay_timeout_s = 3600, .redo.fd = -1 };
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
                case 'f': m.defaults_file = optarg; break;
                case 'm': m.mariadbd = optarg; break;
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
        if ((m.defaults_file && m.defaults_file[0] != '/') || m.mariadbd[0] != '/') {
                fprintf(stderr, "lvss-writer-mariadb: --defaults-file and --mariadbd take absolute paths\n");
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
        ev.on_post_restore = on_post_restore;
        r = lvss_writer_new(&id, &ev, &m, &m.w);
        if (r < 0) {
                fprintf(stderr, "lvss-writer-mariadb: cannot create the writer: %s\n", lvss_strerror(r));
                return 1;
        }
        /* Copies left by a writer that exited before its sessions ended. */
        redo_drop(&m, NULL);
        wc_install_signals();
        char label[sizeof(m.lpath) + MAX_NAME + 2];
        snprintf(label, sizeof(label), "%s/%s", m.lpath, m.instance);
        wc_instance x = { .w = m.w, .label = label, .on_lost = on_lost, .userdata = &m };
        r = wc_run(&x, 1, "lvss-writer-mariadb");
        lvss_writer_free(m.w);
        json_decref(m.files);
        rs_reset(&m);
        mysql_library_end();
        return r;
}
