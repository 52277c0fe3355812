/* SPDX-License-Identifier: MIT */
/*
 * mstore/mstore.h: libmstore, the storage-group engine of the lvss mail store
 * (the ESE counterpart).  See docs/design/store.md for formats and rules.
 *
 * Objects
 *   mstore_sg      a storage group: one log stream (E00.log, E00XXXXXXXX.log,
 *                  E00tmp.log, reserve logs, E00.chk) shared by up to
 *                  MSTORE_MAX_DATABASES attached databases.
 *   mstore_db      an attached (mounted) database: NAME.edb (B+tree of
 *                  byte-ordered keys -> values) + NAME.stm (streams).
 *   mstore_txn     a transaction over the databases of one group.
 *   mstore_cursor  ordered iteration over a key range of one database.
 *   mstore_snap    a snapshot (backup) session of one group (JetOSSnapshot).
 *
 * Errors: every fallible call returns 0 (or a non-negative count) on success
 * and a negative errno or MSTORE_E_* code on failure.  mstore_strerror()
 * names a code.  The one-line message (naming the object and the reason)
 * is kept on the handle the call was made on, as sqlite3_errmsg():
 *   mstore_txn_last_error(txn)       calls on a transaction and its cursors
 *                                    (mstore_get/put/del, mstore_stream_*,
 *                                    mstore_cursor_*);
 *   mstore_snapshot_last_error(snap) freeze, thaw, truncate_logs, get_files;
 *   mstore_sg_last_error(sg)         calls on the group and its databases
 *                                    (checkpoint, get_info, mstore_db_*),
 *                                    calls that create or free a transaction
 *                                    or a session (txn_begin, txn_commit,
 *                                    snapshot_prepare, snapshot_end), and,
 *                                    besides their own handle's, every
 *                                    failure of its transactions and
 *                                    sessions; a group is shared by many
 *                                    threads, so this is the calling
 *                                    thread's last failure on the group;
 *   mstore_last_error()              functions with no handle: mstore_sg_open,
 *                                    mstore_sg_close (the group is freed),
 *                                    mstore_recover, mstore_read_header,
 *                                    mstore_read_checkpoint, mstore_verify_*.
 * A message stays until the next failure on the same handle (in the same
 * thread, for a group); a success does not clear it.
 *
 * Threading: an mstore_sg and its mstore_db handles may be used from many
 * threads at once.  A transaction (and its cursors) belongs to one thread at
 * a time; any number of transactions may run and commit concurrently (their
 * commits share log fsyncs: group commit).  A snapshot session may be driven
 * from any thread, one call at a time.
 *
 * Isolation: a transaction sees its own writes plus everything committed
 * before each read (read committed).  Commits are applied in commit order;
 * concurrent writes to the same key: the last commit wins.
 *
 * Stability: this header only grows; option structs start with a version
 * field and are only appended to.
 */
#ifndef MSTORE_MSTORE_H
#define MSTORE_MSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

enum mstore_error {
        MSTORE_E_CORRUPT = -0x6001,          /* checksum, format or consistency failure on disk */
        MSTORE_E_MISSING_LOGS = -0x6002,     /* log generations needed are missing (message names them) */
        MSTORE_E_FROZEN = -0x6003,           /* not allowed while the group is frozen for a snapshot */
        MSTORE_E_READ_ONLY = -0x6004,        /* group refuses updates (log disk full; clean shutdown only) */
        MSTORE_E_NEEDS_RECOVERY = -0x6005,   /* database is in dirty shutdown and no logs are given to recover it */
        MSTORE_E_FAILED = -0x6006,           /* sticky: an I/O error left memory and disk apart; close and reopen */
        MSTORE_E_BAD_SEQUENCE = -0x6007,     /* call out of order (snapshot state machine, JET -2401) */
        MSTORE_E_FREEZE_TIMEOUT = -0x6008,   /* the freeze timer fired before thaw (JET -2402) */
        MSTORE_E_NO_FULL_BACKUP = -0x6009,   /* incremental/differential without a previous full (JET -560) */
        MSTORE_E_CIRCULAR_LOGGING = -0x600a, /* incremental/differential refused under circular logging (JET -526) */
        MSTORE_E_SIGNATURE = -0x600b,        /* file belongs to another log stream or database (JET -530/-531) */
        MSTORE_E_VERSION = -0x600c,          /* unknown on-disk format version */
        MSTORE_E_TOO_MANY = -0x600d,         /* too many databases in the group */
        MSTORE_E_IN_USE = -0x600e,           /* another opener (message names its pid) holds the group's lock */
        _MSTORE_E_FIRST = -0x6100,
};

/* Name and meaning of an error code (MSTORE_E_* or errno); never NULL. */
const char *mstore_strerror(int err);

/* Message about the last failure in this thread of an mstore function
 * that has no handle (see "Errors" above), or "". */
const char *mstore_last_error(void);

/* ------------------------------------------------------- storage groups */

#define MSTORE_MAX_DATABASES 5
#define MSTORE_DEFAULT_LOG_FILE_SIZE (5u * 1024u * 1024u)
#define MSTORE_DEFAULT_FREEZE_TIMEOUT_MS 20000u
#define MSTORE_PAGE_SIZE 4096u
#define MSTORE_MAX_KEY_SIZE 512u
#define MSTORE_MAX_VALUE_SIZE (64u * 1024u * 1024u)

struct mstore_io; /* internal I/O layer (tests inject faults through it) */

#define MSTORE_SG_OPTIONS_VERSION 1
typedef struct mstore_sg_options {
        uint32_t version;            /* MSTORE_SG_OPTIONS_VERSION */
        const char *base;            /* log base name, NULL = "E00" (3 chars: letter + 2 digits/letters) */
        const char *log_dir;         /* NULL = the group directory */
        const char *system_dir;      /* where E00.chk lives; NULL = log_dir */
        uint64_t log_file_size;      /* bytes per log generation, 0 = 5 MiB (min 64 KiB) */
        int circular_logging;        /* nonzero: delete generations once checkpointed */
        uint32_t freeze_timeout_ms;  /* snapshot freeze timer, 0 = 20000 */
        int create;                  /* nonzero: create the group's files when absent */
        uint64_t checkpoint_bytes;   /* log bytes between automatic checkpoints, 0 = 2 x log_file_size */
        const struct mstore_io *io;  /* NULL = real files; tests only */
} mstore_sg_options;
#define MSTORE_SG_OPTIONS_INIT { .version = MSTORE_SG_OPTIONS_VERSION }

typedef struct mstore_sg mstore_sg;

/* Open the storage group whose databases live in @dir (created when
 * opts->create).  Runs soft recovery first when the group was not shut down
 * cleanly: replays the logs from the checkpoint into every database that was
 * attached, then leaves them attached (use mstore_db_find to get them).
 * After a clean mstore_sg_close() no database is attached.
 * @opts may be NULL (defaults).  On success *ret_sg is set; free it with
 * mstore_sg_close().
 *
 * One opener at a time: open takes an exclusive lock (flock on
 * LOG_DIR/E00.lock, created 0600, holding the opener's pid) and keeps it
 * until close; a second open of the same group, in this process or
 * another, fails at once with MSTORE_E_IN_USE ("storage group DIR is in use
 * by pid N").  Files the engine creates are mode 0600. */
int mstore_sg_open(const char *dir, const mstore_sg_options *opts, mstore_sg **ret_sg);

/* Flush everything, write a checkpoint, mark every attached database clean
 * shutdown, free the group and its mstore_db handles.  Blocks while frozen;
 * aborts an open snapshot session.  NULL is a no-op.  Returns the first error
 * met (the group is freed anyway). */
int mstore_sg_close(mstore_sg *sg);

/* Force a checkpoint now (flush dirty pages, advance E00.chk).  Blocks while
 * frozen. */
int mstore_sg_checkpoint(mstore_sg *sg);

typedef struct mstore_sg_info {
        const char *base;            /* "E00"; strings valid while the group is open */
        const char *dir;             /* default database directory */
        const char *log_dir;
        const char *system_dir;
        uint32_t current_generation; /* generation of E00.log */
        uint32_t lowest_generation;  /* oldest generation still on disk */
        uint32_t checkpoint_generation;
        uint32_t checkpoint_offset;  /* byte offset in that generation */
        uint64_t log_file_size;
        int circular_logging;
        int frozen;                  /* a snapshot freeze is in force */
        int read_only;               /* updates refused (disk full) */
        int failed;                  /* sticky failure: must be reopened */
        unsigned n_databases;        /* attached databases */
} mstore_sg_info;
int mstore_sg_get_info(mstore_sg *sg, mstore_sg_info *ret_info);

/* Message about the calling thread's last failure on this group, its
 * databases, transactions and snapshot sessions, or "" (see "Errors").
 * Each thread keeps the messages of the last 8 groups it failed on (a
 * failure on a ninth forgets the oldest, which then reads "").  Valid
 * until this thread's next failure on a group.  NULL: as
 * mstore_last_error(). */
const char *mstore_sg_last_error(mstore_sg *sg);

/* ------------------------------------------------------------ databases */

typedef struct mstore_db mstore_db;

/* Create database @name (letters, digits, '-', '_', '.'; at most 64) as
 * NAME.edb + NAME.stm in @dir (NULL = the group directory) and attach it.
 * -EEXIST if the files exist.  The handle is owned by the group. */
int mstore_db_create(mstore_sg *sg, const char *name, const char *dir, mstore_db **ret_db);

/* Attach (mount) an existing database.  A database in dirty shutdown is
 * first recovered from the group's logs; if generations it needs are gone
 * the call fails with MSTORE_E_MISSING_LOGS naming them.  A database of
 * another log stream in dirty shutdown fails with MSTORE_E_SIGNATURE.
 * If it is attached already, returns the existing handle.  Blocks while
 * frozen.  Logged. */
int mstore_db_attach(mstore_sg *sg, const char *name, const char *dir, mstore_db **ret_db);

/* Detach (dismount): flush its pages, mark it clean shutdown, log the
 * detach, free the handle.  Waits for running commits on it; a transaction
 * that touched it and commits later fails with -ENOENT. Blocks while frozen. */
int mstore_db_detach(mstore_db *db);

/* Attached databases: count, by index (borrowed, valid until detach), by name. */
unsigned mstore_db_count(mstore_sg *sg);
mstore_db *mstore_db_get(mstore_sg *sg, unsigned idx);
mstore_db *mstore_db_find(mstore_sg *sg, const char *name);
const char *mstore_db_name(mstore_db *db);
const char *mstore_db_edb_path(mstore_db *db);
const char *mstore_db_stm_path(mstore_db *db);

/* --------------------------------------------------------- transactions */

typedef struct mstore_txn mstore_txn;

/* Begin a transaction.  Fails with MSTORE_E_FAILED / MSTORE_E_READ_ONLY
 * when the group cannot take updates (read-only transactions still work on
 * a read-only group: begin succeeds, commit of a write fails). */
int mstore_txn_begin(mstore_sg *sg, mstore_txn **ret_txn);

/* Commit: applies the writes, then returns only once they are durable in
 * the log (fsync shared with concurrent commits).  While the group is
 * frozen the call blocks until thaw.  Frees @txn whatever the result; on
 * failure nothing of it is visible or durable. */
int mstore_txn_commit(mstore_txn *txn);

/* Roll back: drop every write of @txn and free it.  NULL is a no-op. */
void mstore_txn_abort(mstore_txn *txn);

/* Message about the last failed call on @txn or one of its cursors, or ""
 * (commit frees @txn: its failure is on the group, mstore_sg_last_error).
 * Valid until the next failure on @txn. */
const char *mstore_txn_last_error(mstore_txn *txn);

/* Read @key: on success *ret_val is malloc'ed (caller frees; NUL appended
 * past *ret_len for convenience), -ENOENT when absent. */
int mstore_get(mstore_txn *txn, mstore_db *db, const void *key, size_t klen,
               void **ret_val, size_t *ret_len);

/* Insert or replace.  klen 1..MSTORE_MAX_KEY_SIZE, vlen 0..MSTORE_MAX_VALUE_SIZE
 * (-E2BIG beyond).  Keys compare as bytes (memcmp, shorter first on ties). */
int mstore_put(mstore_txn *txn, mstore_db *db, const void *key, size_t klen,
               const void *val, size_t vlen);

/* Delete @key; -ENOENT when absent. */
int mstore_del(mstore_txn *txn, mstore_db *db, const void *key, size_t klen);

typedef struct mstore_cursor mstore_cursor;

/* Iterate keys k with lo <= k < hi in byte order (lo NULL = from the start,
 * hi NULL = to the end), seeing the transaction's own writes.  The cursor is
 * stable under concurrent commits (it resumes after the last key returned). */
int mstore_cursor_open(mstore_txn *txn, mstore_db *db, const void *lo, size_t lolen,
                       const void *hi, size_t hilen, mstore_cursor **ret_cur);

/* Iterate every key starting with @prefix. */
int mstore_cursor_open_prefix(mstore_txn *txn, mstore_db *db, const void *prefix, size_t plen,
                              mstore_cursor **ret_cur);

/* Next entry: returns 1 and sets the borrowed pointers (valid until the next
 * call or free), 0 at the end, negative on error.  ret_val may be NULL.  The
 * key and the value are each followed by a NUL byte (not counted). */
int mstore_cursor_next(mstore_cursor *cur, const void **ret_key, size_t *ret_klen,
                       const void **ret_val, size_t *ret_vlen);
void mstore_cursor_free(mstore_cursor *cur);

/* -------------------------------------------------------------- streams */

/* A reference to content in NAME.stm; store its bytes in a value.  The
 * encoding is fixed (little endian), MSTORE_STREAM_REF_SIZE bytes. */
#define MSTORE_STREAM_REF_SIZE 32
typedef struct mstore_stream_ref {
        unsigned char bytes[MSTORE_STREAM_REF_SIZE];
} mstore_stream_ref;

/* Write @len bytes as a new stream of @db; it becomes durable with the
 * transaction's commit and is readable by this transaction at once. */
int mstore_stream_write(mstore_txn *txn, mstore_db *db, const void *data, size_t len,
                        mstore_stream_ref *ret_ref);

/* Length in bytes of the stream @ref names (0 for a malformed ref). */
uint64_t mstore_stream_length(const mstore_stream_ref *ref);

/* Read @len bytes at @offset into @buf; returns the number of bytes read
 * (short at the end), MSTORE_E_CORRUPT if the content fails its checksum or
 * the ref is malformed.  @txn may be NULL (read committed content). */
int mstore_stream_read(mstore_txn *txn, mstore_db *db, const mstore_stream_ref *ref,
                       uint64_t offset, void *buf, size_t len);

/* Release the stream's space at commit; later streams reuse it.  A reader
 * still holding the reference afterwards may read reused pages (a whole-
 * stream read then fails its content checksum).  Space taken by a stream
 * of an aborted transaction is given back at abort. */
int mstore_stream_delete(mstore_txn *txn, mstore_db *db, const mstore_stream_ref *ref);

/* ------------------------------------------------------------ snapshots */

typedef enum mstore_backup_type {
        MSTORE_BACKUP_FULL = 0,          /* all files, truncates logs */
        MSTORE_BACKUP_INCREMENTAL = 1,   /* logs since the last full/incremental, truncates */
        MSTORE_BACKUP_COPY = 2,          /* like full, no truncation */
        MSTORE_BACKUP_DIFFERENTIAL = 3,  /* logs since the last full, no truncation */
} mstore_backup_type;

typedef struct mstore_snap mstore_snap;

/* Start a snapshot session (JetOSSnapshotPrepare).  One per group: -EBUSY
 * if one exists.  Incremental/differential: MSTORE_E_CIRCULAR_LOGGING with
 * circular logging, MSTORE_E_NO_FULL_BACKUP if an attached database has no
 * previous full backup stamp.  Takes a checkpoint so truncation can reach far.
 * The session is freed by mstore_snapshot_end() or mstore_snapshot_abort(). */
int mstore_snapshot_prepare(mstore_sg *sg, mstore_backup_type type, mstore_snap **ret_snap);

/* Freeze: flush and close the current log generation (the backup's last),
 * then stop every write to logs, pages, headers and the checkpoint and block
 * attach/detach.  Transactions keep running; commits wait for thaw.  Starts
 * the freeze timer (options.freeze_timeout_ms) which thaws by itself. */
int mstore_snapshot_freeze(mstore_snap *snap);

/* Thaw: resume writing.  MSTORE_E_FREEZE_TIMEOUT if the timer already
 * thawed (the session must then be aborted). */
int mstore_snapshot_thaw(mstore_snap *snap);

/* Delete log generations below both the backup's last generation and the
 * checkpoint at freeze (full and incremental only; after thaw; a no-op under
 * circular logging).  MSTORE_E_BAD_SEQUENCE for copy/differential. */
int mstore_snapshot_truncate_logs(mstore_snap *snap);

/* End after thaw: stamp the backup slot of every attached database header
 * (full clears incremental and differential) and free the session.  From
 * the prepared state it just frees it. */
int mstore_snapshot_end(mstore_snap *snap);

/* Abort from any state: thaw if frozen, no stamping, free.  NULL is a no-op. */
void mstore_snapshot_abort(mstore_snap *snap);

/* Which files belong to this backup (valid after freeze): absolute paths.
 * Full/copy: every attached database (.edb, .stm), the checkpoint, the log
 * generations [gen_low, gen_high] (checkpoint generation .. last closed).
 * Incremental/differential: logs only, from the oldest on disk (inc) or from
 * after the last full (diff) .. last closed.  Free with mstore_backup_files_free. */
typedef struct mstore_backup_db {
        char *name;
        char *edb;
        char *stm;
} mstore_backup_db;

typedef struct mstore_backup_files {
        mstore_backup_type type;
        uint32_t gen_low, gen_high;  /* the stamps: log generation range of this backup */
        uint64_t time;               /* freeze time, seconds since the epoch */
        char *checkpoint;            /* NULL for incremental/differential */
        char *log_dir;
        char *base;
        size_t n_databases;          /* 0 for incremental/differential */
        mstore_backup_db *databases;
        size_t n_logs;
        char **logs;                 /* in generation order */
} mstore_backup_files;

int mstore_snapshot_get_files(mstore_snap *snap, mstore_backup_files **ret_files);
void mstore_backup_files_free(mstore_backup_files *files);

/* Session state as a string: "prepared", "frozen", "thawed", "timed_out",
 * "truncated". */
const char *mstore_snapshot_state(mstore_snap *snap);

/* Message about the last failed freeze, thaw, truncate_logs or get_files
 * on @snap, or "" (prepare and end, which create and free the session,
 * report on the group: mstore_sg_last_error).  Valid until the next
 * failure on @snap. */
const char *mstore_snapshot_last_error(mstore_snap *snap);

/* ------------------------------------------------ restore (hard recovery) */

#define MSTORE_RECOVER_OPTIONS_VERSION 1
typedef struct mstore_recover_options {
        uint32_t version;             /* MSTORE_RECOVER_OPTIONS_VERSION */
        const char *db_dir;           /* where the restored NAME.edb/.stm are (required) */
        const char *const *databases; /* names restored, NULL-terminated; NULL = every *.edb in db_dir */
        const char *backup_log_dir;   /* restored (backed-up) log generations; NULL = none */
        const char *live_log_dir;     /* the group's live logs to roll forward through; NULL = none */
        const char *base;             /* NULL = "E00" */
        const struct mstore_io *io;   /* NULL = real files; tests only */
} mstore_recover_options;
#define MSTORE_RECOVER_OPTIONS_INIT { .version = MSTORE_RECOVER_OPTIONS_VERSION }

typedef struct mstore_recover_result {
        uint32_t gen_first;           /* first generation replayed (0 = none) */
        uint32_t gen_last;            /* last generation replayed */
        unsigned n_databases;         /* databases recovered (now clean shutdown) */
        char stop_reason[160];        /* why replay stopped: end of stream, signature change, ... */
        int reached_live_end;         /* replay ended at the end of live_log_dir's current log (BASE.log):
                                       * everything the group's stream committed is back (full roll-forward) */
} mstore_recover_result;

/* Hard recovery after a restore (also into an alternate directory: a
 * Recovery Storage Group).  Replays the backed-up logs, then the live logs
 * when they continue the same stream (same signature, next generation),
 * stopping cleanly where the stream ends or changes, into the restored
 * databases only; leaves them clean shutdown.  The group owning
 * live_log_dir must not be open: recovery takes the group lock of
 * live_log_dir and of db_dir (see mstore_sg_open) and fails with
 * MSTORE_E_IN_USE while a group there is open.  MSTORE_E_MISSING_LOGS names
 * the missing generations when a database needs logs that are not there. */
int mstore_recover(const mstore_recover_options *opts, mstore_recover_result *ret_result);

/* ------------------------------------------- offline inspection & checks */

#define MSTORE_FILE_DATABASE 0
#define MSTORE_FILE_STREAM 1
#define MSTORE_STATE_CLEAN_SHUTDOWN 3
#define MSTORE_STATE_DIRTY_SHUTDOWN 2

typedef struct mstore_backup_slot {
        int present;
        uint32_t gen_low, gen_high;
        uint64_t time;                /* seconds since the epoch */
} mstore_backup_slot;

typedef struct mstore_header_info {
        int file_type;                /* MSTORE_FILE_DATABASE / MSTORE_FILE_STREAM */
        int state;                    /* MSTORE_STATE_* */
        uint32_t format_version;
        uint64_t db_signature;
        uint8_t log_signature[16];
        uint32_t log_required[2];     /* [low, high]; 0,0 when clean */
        uint32_t log_committed;
        uint64_t page_count;          /* pages in the file, headers included */
        mstore_backup_slot backup[4]; /* indexed by mstore_backup_type */
        int header_copy_used;         /* 0 primary, 1 shadow copy (primary bad) */
} mstore_header_info;

/* Read a .edb or .stm header (either copy).  MSTORE_E_CORRUPT if both bad. */
int mstore_read_header(const char *path, mstore_header_info *ret_info);

typedef struct mstore_checkpoint_info {
        uint32_t generation;
        uint32_t offset;
        uint8_t log_signature[16];
        int copy_used;                /* 0 primary, 1 shadow */
} mstore_checkpoint_info;

int mstore_read_checkpoint(const char *path, mstore_checkpoint_info *ret_info);

/* Called once per problem found; @what is a one-line description. */
typedef void (*mstore_verify_cb)(uint64_t pgno_or_gen, const char *what, void *userdata);

typedef struct mstore_verify_result {
        uint64_t pages_checked;       /* or log generations checked */
        uint64_t bad;                 /* bad pages / generations (+ gaps) */
        uint32_t gen_low, gen_high;   /* verify_logs: range seen */
} mstore_verify_result;

/* Check every page of a .edb/.stm (checksum incl. page number, header copies).
 * 0 if sound, MSTORE_E_CORRUPT if any page is bad (each reported to @cb). */
int mstore_verify_file(const char *path, mstore_verify_cb cb, void *userdata,
                       mstore_verify_result *ret_result);

/* One page of a .edb/.stm as lvss-backup's unchanged-range reuse sees it
 * (docs/design/backup.md §8): the checksum stored in the page and the page's
 * version (the database's commit counter when the page was last changed). */
typedef struct mstore_page_sum {
        uint64_t checksum;            /* the page's stored checksum (0 for a never-written stream page) */
        uint64_t version;             /* MSTORE_PAGE_BAD: the page failed its check */
} mstore_page_sum;
#define MSTORE_PAGE_BAD UINT64_MAX

/* Flags of mstore_verify_file_sums. */
#define MSTORE_VERIFY_DIRECT 1u   /* read around the page cache (O_DIRECT) where the file system allows it:
                                   * for a caller that does not read most of the file otherwise (no
                                   * page cache to share, none to fill); else through the page cache */

/* mstore_verify_file, handing out what it read of every page on the way (one
 * read of the file for both): *ret_sums gets one entry per whole page
 * (free() it), *ret_n their number, whenever the file could be opened and
 * read (also when it returns MSTORE_E_CORRUPT), else NULL and 0.  A page
 * that failed any check (or could not be read) has version MSTORE_PAGE_BAD;
 * a stream page never written (all zero) checksum 0 and version 0. */
int mstore_verify_file_sums(const char *path, unsigned flags, mstore_verify_cb cb, void *userdata,
                            mstore_verify_result *ret_result, mstore_page_sum **ret_sums, uint64_t *ret_n);

/* Check a log set: each generation's header, signature (all equal), record
 * checksums, closed generations complete, continuity (no gap) up to E00.log.
 * MSTORE_E_CORRUPT on any problem (reported to @cb), -ENOENT if no logs. */
int mstore_verify_logs(const char *log_dir, const char *base, mstore_verify_cb cb, void *userdata,
                       mstore_verify_result *ret_result);

/* --------------------------------------------------------- log file names */

/* A group's log files are named from its base: 3 characters, A-Z or 0-9
 * ("E00" unless mstore_sg_options.base says otherwise).  BASE.log is the
 * current generation; BASE + the generation as 8 upper-case hex digits +
 * ".log" is a closed one ("E000000001A.log"); BASE.chk is the checkpoint;
 * BASEtmp.log and BASEresNNNNN.jrs are the engine's temporary and reserve
 * logs.  mstore_log_name and mstore_log_name_parse are the one formatter and
 * parser of these names: the engine, mstore tools and lvss-backup use them. */

#define MSTORE_LOG_BASE_SIZE 4   /* base + NUL */
#define MSTORE_LOG_NAME_SIZE 16  /* closed generation's name + NUL */

typedef enum mstore_log_name_kind {
        MSTORE_LOG_NAME_NONE = 0,    /* not a log, checkpoint or reserve file of any base */
        MSTORE_LOG_NAME_CLOSED,      /* BASE + 8 upper-case hex digits + ".log" */
        MSTORE_LOG_NAME_CURRENT,     /* BASE.log */
        MSTORE_LOG_NAME_CHECKPOINT,  /* BASE.chk */
        MSTORE_LOG_NAME_TMP,         /* BASEtmp.log */
        MSTORE_LOG_NAME_RESERVE,     /* BASEresNNNNN.jrs */
} mstore_log_name_kind;

/* Write the name of closed generation @gen of @base into @buf.  0, or
 * -EINVAL (@buf untouched) when @base is not 3 characters A-Z/0-9. */
int mstore_log_name(const char *base, uint32_t gen, char buf[MSTORE_LOG_NAME_SIZE]);

/* Classify the file name @name (no directory).  For any kind but NONE the
 * base is copied to @ret_base (may be NULL); @ret_gen (may be NULL) gets
 * the generation of a CLOSED name, else 0. */
mstore_log_name_kind mstore_log_name_parse(const char *name, char ret_base[MSTORE_LOG_BASE_SIZE],
                                           uint32_t *ret_gen);


#ifdef __cplusplus
}
#endif
#endif
