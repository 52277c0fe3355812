/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/repo.h: the lvss backup repository (internal library API).
 *
 * A repository is a directory holding content-defined chunks ("blobs") packed
 * into pack files, an index mapping blob ids to pack positions, and backup
 * records (JSON) listing the files of each backup.  The on-disk format, the
 * write ordering and the threat model are specified in
 * docs/design/repository.md; this header is the way in for lvss-backup
 * (init/list/show/verify/backup-dir/restore-files today, create/restore on top
 * of lvssd later).
 *
 * Errors: functions return 0 (or a count) on success, a negative value on
 * failure: a negative errno for operating-system conditions, or one of the
 * REPO_E_* codes below (their own range, below LVSS_E_* and MSTORE_E_*, never
 * renumbered) for repository conditions.  The codes callers branch on:
 *   REPO_E_CORRUPT         an object failed its hash, MAC or parser
 *   REPO_E_WRONG_PASSWORD  no key file opens with this password
 *   REPO_E_VERSION         a format version this build does not understand
 *   -EBUSY                 the repository lock is held by another process
 *   -ENOENT                no such repository / backup
 *   -EINVAL                bad argument (e.g. a manifest path that escapes)
 * One line of detail (naming the object and the reason) is kept in the
 * handle's slot (lib/core/error-slot.h) and read with repo_last_error(r);
 * failures before a handle exists (repo_open, repo_init, repo_probe*) and of
 * the functions that take none (parsers, repo_*_parse_*, repo_forget_plan,
 * repo_chunker_params_check) are read with repo_errmsg(), the thread's slot.
 * repo_strerror() names a code.
 *
 * Threading: a repo handle and everything made from it belong to one thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <errno.h>

enum repo_error {
        REPO_E_CORRUPT = -0x7001,        /* an object failed its hash, MAC or parser */
        REPO_E_WRONG_PASSWORD = -0x7002, /* no key file opens with this password */
        REPO_E_VERSION = -0x7003,        /* format version not understood */
        _REPO_E_FIRST = -0x7100,         /* lowest value reserved for REPO_E_* */
};

#define REPO_ID_SIZE 32
#define REPO_ID_HEX_SIZE (REPO_ID_SIZE * 2 + 1)

typedef struct repo_id {
        uint8_t b[REPO_ID_SIZE];
} repo_id;

typedef struct repo repo;

/* The detail of r's last failure ("pack 3fa2...: blob 9c1e... hash mismatch");
 * "unknown error" when none.  Valid until r's next failure. */
const char *repo_last_error(const repo *r);
/* The calling thread's: the detail of a failure with no handle (see above). */
const char *repo_errmsg(void);
/* A code's name and meaning ("REPO_E_CORRUPT: ..."), or strerror's text for an errno. */
const char *repo_strerror(int code);

void repo_id_to_hex(const repo_id *id, char ret_hex[REPO_ID_HEX_SIZE]);
int repo_id_from_hex(const char *hex, repo_id *ret_id);

/* ---- chunker (FastCDC with a fixed gear table) ---- */

typedef struct repo_chunker_params {
        uint32_t min, avg, max;   /* bytes; avg a power of two; min < avg < max */
} repo_chunker_params;

#define REPO_CHUNK_MIN_DEFAULT (256u * 1024)
#define REPO_CHUNK_AVG_DEFAULT (1024u * 1024)
#define REPO_CHUNK_MAX_DEFAULT (4u * 1024 * 1024)
#define REPO_CHUNK_MAX_LIMIT (8u * 1024 * 1024)   /* hard limit on any blob */

int repo_chunker_params_check(const repo_chunker_params *p);
/* Length of the next chunk at the start of buf[0..n).  The caller passes at
 * least p->max bytes unless the input ends sooner (then the rest is one chunk
 * at most).  Always returns a value in [1, n] for n > 0. */
size_t repo_chunker_cut(const repo_chunker_params *p, const uint8_t *buf, size_t n);

/* ---- repository ---- */

typedef struct repo_init_options {
        bool encrypted;
        repo_chunker_params chunker;   /* zero = defaults */
        uint32_t pack_size;            /* target pack size, 0 = default (16 MiB) */
        /* Argon2id cost; 0 = libsodium's INTERACTIVE limits. */
        uint64_t kdf_opslimit;
        uint64_t kdf_memlimit;
} repo_init_options;

enum repo_lock_mode {
        REPO_LOCK_SHARED,     /* readers: list, show, verify, restore */
        REPO_LOCK_EXCLUSIVE,  /* writers: backup; also cleans up interrupted runs */
};

/* Create a new repository in DIR (which must not exist or be empty).
 * password may be NULL only when !opts->encrypted. */
int repo_init(const char *dir, const char *password, const repo_init_options *opts);
/* Whether DIR is a repository and whether opening it needs a password. */
/* The repository id in DIR's config (no lock, no password). */
int repo_probe_id(const char *dir, repo_id *ret_id);
int repo_probe(const char *dir, bool *ret_encrypted);
int repo_open(const char *dir, const char *password, enum repo_lock_mode lock, repo **ret);
/* repo_open, but a held lock is waited for (polling) up to lock_wait_s
 * seconds; waiting(userdata) is called once when the wait starts.  Then -EBUSY. */
typedef struct repo_open_options {
        unsigned lock_wait_s;
        void (*waiting)(const char *dir, void *userdata);
        void *userdata;
} repo_open_options;
int repo_open_opts(const char *dir, const char *password, enum repo_lock_mode lock, const repo_open_options *o,
                   repo **ret);
/* repo_open_opts in two steps.  repo_open_lock reads the config and takes
 * the lock (a held lock: -EBUSY, as repo_open_opts); repo_open_keys then
 * derives the key from the password (argon2id: the slow part of opening an
 * encrypted repository), loads the indexes and, under an exclusive lock,
 * removes what an interrupted writer left.  Between the two the handle is
 * good for repo_close only; repo_open_keys may run on another thread than
 * the caller's (lvss-backup create runs it while lvssd makes the snapshot
 * set); its message is in that thread's slot (repo_errmsg).  After a
 * failure of repo_open_keys the handle is only closed. */
int repo_open_lock(const char *dir, enum repo_lock_mode lock, const repo_open_options *o, repo **ret);
int repo_open_keys(repo *r, const char *password);
repo *repo_close(repo *r);
static inline void repo_closep(repo **p) { if (*p) repo_close(*p); }
bool repo_is_encrypted(const repo *r);
const char *repo_path(const repo *r);

/* ---- backup records ---- */

enum repo_backup_type {
        REPO_BACKUP_FULL,
        REPO_BACKUP_COPY,
        REPO_BACKUP_INCREMENTAL,
        REPO_BACKUP_DIFFERENTIAL,
        _REPO_BACKUP_TYPE_MAX,
        _REPO_BACKUP_TYPE_INVALID = -EINVAL,
};
const char *repo_backup_type_to_string(int t);
int repo_backup_type_from_string(const char *s);

/* What a manifest entry stands for (entry version 2; version 1 entries are
 * regular files and symlinks only). */
enum repo_file_type {
        REPO_FILE_REGULAR,
        REPO_FILE_SYMLINK,
        REPO_FILE_DIR,
        REPO_FILE_HARDLINK,    /* another name of the regular file `link` (no data of its own) */
        REPO_FILE_FIFO,        /* recorded, never opened, not restored */
        REPO_FILE_SOCKET,
        REPO_FILE_CHARDEV,
        REPO_FILE_BLOCKDEV,
        _REPO_FILE_TYPE_MAX,
};
const char *repo_file_type_to_string(int t);

typedef struct repo_xattr {
        char *name;            /* with its namespace: "user.x", "system.posix_acl_access", ... */
        uint8_t *value;
        size_t size;
} repo_xattr;

typedef struct repo_file {
        char *path;            /* relative, '/'-separated, checked by repo_path_check() */
        uint64_t size;
        uint32_t mode;         /* permission bits (07777) */
        int type;              /* enum repo_file_type */
        bool has_owner;        /* entry version 2: uid/gid (and names) recorded */
        uint32_t uid, gid;
        char *user, *group;    /* names at backup time; NULL when the id had none */
        char *link;            /* REPO_FILE_HARDLINK: the path it is a link to */
        uint64_t rdev;         /* devices: informational */
        repo_xattr *xattrs;    /* extended attributes incl. POSIX ACLs, sorted by name */
        size_t n_xattrs;
        int64_t mtime_ns;
        int64_t ctime_ns;      /* change detection only; 0 = not recorded */
        uint64_t ino;          /* change detection only; 0 = not recorded */
        repo_id hash;          /* whole-file content hash */
        size_t n_blobs;
        repo_id *blobs;
        char *symlink;         /* a symbolic link's target (size 0, no blobs); NULL: a regular file */
} repo_file;

typedef struct repo_writer_info {
        char *name;
        char *metadata;        /* writer metadata document, opaque JSON text (may be NULL) */
        char *stamp;           /* writer's backup stamp (may be NULL) */
} repo_writer_info;

typedef struct repo_record {
        repo_id id;            /* storage id of the record (set when loaded/committed) */
        int type;              /* enum repo_backup_type */
        int64_t time_ns;       /* wall clock at commit */
        char *hostname;
        bool has_based_on;
        repo_id based_on;
        bool has_copied_from;  /* made by `copy` (§15.4): the id of the original backup */
        repo_id copied_from;
        char **components;
        size_t n_components, cap_components;   /* cap: ARRAY_RESERVE_ONE's (0 as parsed) */
        char *components_doc;  /* backup components document, opaque JSON text (may be NULL) */
        repo_writer_info *writers;
        size_t n_writers, cap_writers;
        repo_file *files;
        size_t n_files;
        char **deleted;        /* incremental/differential: paths of the base view gone since */
        size_t n_deleted, cap_deleted;
        uint64_t bytes_read, bytes_added, duration_ms;
        char *reuse_map;       /* lvss-backup create's unchanged-range map, opaque JSON text (may be NULL) */
} repo_record;

/* Free what an entry owns (not the entry itself). */
void repo_file_clear(repo_file *f);
/* Deep copy of src's metadata fields (owner names, link, xattrs) into dst,
 * whose other fields the caller sets. */
int repo_file_copy_meta(repo_file *dst, const repo_file *src);

/* Manifest path rule: non-empty, relative, no empty, "." or ".." components,
 * no NUL, at most 4096 bytes.  Returns 0 or -EINVAL (with detail). */
int repo_path_check(const char *path);

int repo_record_parse(const char *json, size_t len, repo_record **ret);
int repo_record_to_json(const repo_record *rec, char **ret_json);
repo_record *repo_record_free(repo_record *rec);
static inline void repo_record_freep(repo_record **p) { if (*p) repo_record_free(*p); }

/* All backups, oldest first.  Caller frees each with repo_record_free and the array with free(). */
int repo_list_backups(repo *r, repo_record ***ret, size_t *ret_n);
/* Resolve a full id or a unique hex prefix (>= 4 chars). */
int repo_resolve_backup(repo *r, const char *id_or_prefix, repo_id *ret_id);
int repo_load_backup(repo *r, const repo_id *id, repo_record **ret);
/* The chain a backup depends on, oldest (the full) first, ending with id. */
int repo_backup_chain(repo *r, const repo_id *id, repo_record ***ret, size_t *ret_n);
/* The files as of the newest record of a chain (oldest first): for each path
 * the newest record's entry, paths deleted since left out.  Sorted by path;
 * the entries point into the chain's records.  Caller frees the array. */
int repo_chain_merge(repo_record *const *chain, size_t n, const repo_file ***ret, size_t *ret_n);

/* ---- storing a backup ---- */

typedef struct repo_stats {
        uint64_t files;
        uint64_t bytes_read;       /* file bytes read */
        uint64_t bytes_added;      /* bytes written to new packs (after compression/encryption) */
        uint64_t blobs_new;
        uint64_t blobs_known;      /* deduplicated */
        uint64_t files_unchanged;  /* unchanged: left out (incremental/differential) or reused unread (full/copy) */
        uint64_t skipped;          /* non-regular files not stored */
        uint64_t bytes_reused;     /* file bytes stored by naming a previous backup's chunks, unread (reuse.c) */
} repo_stats;

typedef void (*repo_progress_fn)(const repo_stats *st, const char *path, void *userdata);

typedef struct repo_backup repo_backup;

/* Start a backup.  For incremental/differential, based_on names the base
 * (NULL = the newest usable one: full or incremental for an incremental, full
 * for a differential); none usable => -ENOENT "no usable full backup".
 * The repository must be open REPO_LOCK_EXCLUSIVE. */
int repo_backup_new(repo *r, int type, const repo_id *based_on, repo_backup **ret);
void repo_backup_set_progress(repo_backup *b, repo_progress_fn fn, void *userdata);
/* Change tracking against the previous backups, on by default (backup-dir):
 * a file whose size, mode, mtime, ctime and inode match the previous view of
 * it is left out of an incremental/differential, or, in a full/copy, stored
 * by reusing the previous blob list without reading it; paths gone since the
 * base are recorded as deleted.  The application-aware create turns it off
 * (reads everything; the writers' metadata decides what an incremental holds). */
void repo_backup_set_track_changes(repo_backup *b, bool on);
/* Read every file even when its metadata is unchanged; an incremental or
 * differential then leaves out the files whose content is unchanged. */
void repo_backup_set_read_all(repo_backup *b, bool on);
/* Compression of a backup's new chunks (docs/design/backup.md §7.10).  A
 * writer's choice: a reader decides by each blob's flag alone, and a chunk is
 * stored compressed only when that is shorter (repository.md §4.2). */
enum repo_compression {
        REPO_COMPRESSION_AUTO,   /* a zstd level per data type, by file name (the default) */
        REPO_COMPRESSION_FAST,   /* the fastest level that still entropy-codes literals, every file */
        REPO_COMPRESSION_MAX,    /* zstd level 3 for every file (lvss before the policy) */
        REPO_COMPRESSION_OFF,    /* every chunk stored uncompressed */
};
#define REPO_LEVEL_RAW (-1000)   /* a "level": stored uncompressed */
int repo_compression_from_string(const char *s);   /* -EINVAL if unknown */
const char *repo_compression_to_string(int policy);
/* The zstd level (or REPO_LEVEL_RAW) of the new chunks of the file at path. */
int repo_compression_level(int policy, const char *path);
/* Policy for the files added from now on (REPO_COMPRESSION_AUTO at the start). */
void repo_backup_set_compression(repo_backup *b, int policy);
/* The base record (newest of the chain) of an incremental/differential, NULL
 * for full/copy; borrowed, valid while b lives.  Its writers[].stamp are the
 * previous stamps to hand to the writers. */
const repo_record *repo_backup_base(const repo_backup *b);
int repo_backup_add_component(repo_backup *b, const char *component);
int repo_backup_set_components_doc(repo_backup *b, const char *json);
int repo_backup_add_writer(repo_backup *b, const char *name, const char *metadata, const char *stamp);
/* Store one regular file read from fd under manifest path `path`. */
int repo_backup_add_fd(repo_backup *b, int fd, const char *path, const struct stat *st);
/* Store a symbolic link (its target, never what it points to). */
int repo_backup_add_symlink(repo_backup *b, const char *path, const char *target, const struct stat *st);
/* Walk SRC (a file or directory) and store every regular file and symlink under
 * manifest prefix `prefix` (NULL = SRC's absolute path without the leading '/'). */
int repo_backup_add_tree(repo_backup *b, const char *src, const char *prefix);
/* The number of files in the manifest so far: a mark for repo_backup_drop_files. */
size_t repo_backup_file_count(const repo_backup *b);
/* Take the files added since mark out of the manifest again (for a caller
 * that learns after storing them that they must not be part of this backup,
 * with change tracking off).  Their blobs stay stored: deduplicated against
 * like any stored blob, named by no record. */
void repo_backup_drop_files(repo_backup *b, size_t mark);
/* ---- reusing a previous backup's chunks (reuse.c, docs/design/backup.md §8) ---- */

/* A range of the file being stored that is the previous backup's blob `id`
 * byte for byte: the caller has proved it (lib/repo cannot).  With cut_only
 * (length 0, no id) it is only a chunk boundary: the chunk before ends at
 * offset (e.g. after a database's header pages, which change every time). */
typedef struct repo_reuse_extent {
        uint64_t offset;
        uint32_t length;
        bool cut_only;
        repo_id id;
} repo_reuse_extent;

/* Whether the index names blob id (a blob of this repository, committed or
 * pending in this backup); its plaintext length in *ret_raw (may be NULL). */
bool repo_blob_known(repo *r, const repo_id *id, uint32_t *ret_raw);
/* The repository's id (config). */
void repo_get_id(const repo *r, repo_id *ret);
/* repo_backup_add_fd, but the ranges ext[0..n) (sorted, disjoint, inside the
 * file, each a known blob of exactly that length: -EINVAL otherwise) are
 * not read: their blob ids are taken as they are.  The bytes between them
 * are read and chunked, content-defined chunking restarting at the end of
 * each reused range and cut at the start of the next. */
int repo_backup_add_fd_reuse(repo_backup *b, int fd, const char *path, const struct stat *st,
                             const repo_reuse_extent *ext, size_t n);
/* The manifest entry i (< repo_backup_file_count) as stored so far. */
const repo_file *repo_backup_file_at(const repo_backup *b, size_t i);
/* The record's reuse map (opaque JSON text, copied). */
int repo_backup_set_reuse_map(repo_backup *b, const char *json);

/* Flush packs, write the index, then the record (in that order, each fsynced). */
int repo_backup_commit(repo_backup *b, repo_id *ret_id);
const repo_stats *repo_backup_stats(const repo_backup *b);

/* ---- copying between repositories (copy.c, docs/design/repository.md §15.4) ---- */

typedef struct repo_copy_stats {
        uint64_t backups_copied;
        uint64_t backups_skipped;   /* already in the destination */
        uint64_t blobs_new, blobs_known;
        uint64_t bytes_read;        /* plaintext read from the source */
        uint64_t bytes_added;       /* packs and index written to the destination */
} repo_copy_stats;

/* Called after each backup copied (or skipped): source id, destination id. */
typedef void (*repo_copy_fn)(const repo_id *src, const repo_id *dst, bool skipped, void *userdata);

/* Where a copy stands (repo_set_copy_progress).  The totals are what the
 * copy will do, known before it starts: the backups the destination lacks,
 * their file entries and their files' bytes (plaintext, read from the
 * source).  Every _done grows monotonically; at the end of a successful copy
 * each equals its _total. */
typedef struct repo_copy_progress {
        uint64_t backups_done, backups_total;
        uint64_t files_done, files_total;
        uint64_t bytes_done, bytes_total;
        uint64_t bytes_added;       /* written to the destination so far */
} repo_copy_progress;

/* path: the file whose blob was just copied, or NULL for a line of its own:
 * once when the copy is planned (nothing done yet) and after each backup
 * committed. */
typedef void (*repo_copy_progress_fn)(const repo_copy_progress *p, const char *path, void *userdata);

/* Progress of the next repo_copy into `to` (NULL fn: none). */
void repo_set_copy_progress(repo *to, repo_copy_progress_fn fn, void *userdata);

/* Copy the backups ids (all of from's when n_ids == 0) and the chains they
 * need from `from` (any lock) to `to` (REPO_LOCK_EXCLUSIVE), oldest first;
 * backups already copied are skipped. */
int repo_copy(repo *from, repo *to, const repo_id *ids, size_t n_ids, repo_copy_fn fn, void *userdata,
              repo_copy_stats *ret_stats);
/* Discard an uncommitted backup (or one whose commit failed): the handle's
 * index forgets it, packs already written stay as orphans that the next
 * exclusive open removes.  The repo handle remains usable. */
repo_backup *repo_backup_free(repo_backup *b);

/* ---- restoring ---- */

/* Where restored bytes go.  open() is called once per file before any write,
 * close(ok=false) when the file's data failed verification (discard it).
 * The callbacks have no handle: a failure's message, if they leave one, is
 * the thread's (as repo_meta_apply_fd leaves it); repo_restore raises it
 * into r. */
typedef struct repo_restore_sink {
        int (*open)(void *userdata, const repo_file *f, void **ret_handle);
        int (*write)(void *userdata, void *handle, const void *buf, size_t n);
        int (*close)(void *userdata, void *handle, const repo_file *f, bool ok);
        void *userdata;
        /* Optional: create a symbolic link entry (NULL: symlinks are skipped). */
        int (*symlink)(void *userdata, const repo_file *f);
} repo_restore_sink;

typedef bool (*repo_file_filter_fn)(const repo_file *f, void *userdata);

/* Restore rec's files (those the filter accepts; NULL = all) into sink,
 * checking every blob id and each whole-file hash as it goes. */
int repo_restore(repo *r, const repo_record *rec, repo_file_filter_fn filter, void *filter_userdata,
                 const repo_restore_sink *sink, repo_progress_fn progress, void *progress_userdata);
/* Restore into directory dir (created if missing).  Every manifest path is
 * checked first; a path that would escape dir (absolute, "..", a symlink in a
 * parent) is refused with -EINVAL before anything is written.  Files are
 * written to a temporary name and renamed into place only after their hash
 * matched. */
int repo_restore_to_dir(repo *r, const repo_record *rec, const char *dir,
                        repo_progress_fn progress, void *userdata);
/* Restore the state a backup stands for: its chain merged (repo_chain_merge). */
int repo_restore_chain_to_dir(repo *r, const repo_id *id, const char *dir,
                              repo_progress_fn progress, void *userdata, uint64_t *ret_files, uint64_t *ret_bytes);

/* Warnings of a restore that goes on (owners not restored, special files
 * skipped, an extended attribute refused): one line each, to this handler
 * (NULL = stderr, prefixed "warning: "). */
typedef void (*repo_warn_fn)(const char *msg, void *userdata);
void repo_set_warn_handler(repo_warn_fn fn, void *userdata);

/* Restoring a file's metadata: who may restore what (decided once). */
typedef struct repo_meta_ctx {
        bool root;             /* euid 0: owners are restored */
        bool warned_owner;     /* the one "owners not restored" warning was given */
        bool warned_xattr;
        uint64_t owners_skipped, setid_dropped, xattrs_failed;
} repo_meta_ctx;
void repo_meta_ctx_init(repo_meta_ctx *m);
/* Apply f's owner, extended attributes (ACLs included), mode and mtime to fd,
 * in that order.  Set-id bits are dropped when the owner was not restored.
 * Returns 0 or a negative errno (chmod/utimens failure) with detail. */
int repo_meta_apply_fd(repo_meta_ctx *m, int fd, const repo_file *f);
/* Create a new file named randomly (".lvss-restore-<hex>", O_EXCL|O_NOFOLLOW,
 * mode 0600) in dir_fd: the one way restores make their temporary files.
 * ret_name gets the name; returns the fd or a negative errno. */
int repo_tmpfile_open(int dir_fd, char ret_name[64]);

/* ---- verifying ---- */

/* Progress of repo_verify (files = objects checked, bytes_read = bytes read back). */
void repo_set_verify_progress(repo *r, repo_progress_fn fn, void *userdata);

/* Called once per damaged object: kind is "config", "key", "index", "pack",
 * "blob", "backup" or "file"; name its id or path. */
typedef void (*repo_verify_report_fn)(const char *kind, const char *name, const char *reason, void *userdata);

/* Re-read and check every object (backup == NULL) or the objects one backup
 * needs.  Returns 0 when clean, REPO_E_CORRUPT when anything was reported,
 * another negative errno when verification itself could not run. */
int repo_verify(repo *r, const repo_id *backup, repo_verify_report_fn report, void *userdata,
                uint64_t *ret_objects_checked);

/* ---- repairing ---- */

/* Rebuild the index from the packs themselves (each pack's header describes
 * its blobs): every intact blob of every pack is indexed anew, the new index
 * is written (durably), then the old index files are removed.  Damaged blobs
 * are reported and left out.  Never removes or rewrites a pack.  Needs
 * REPO_LOCK_EXCLUSIVE.  Returns 0, or REPO_E_CORRUPT when damage was found
 * (the index is rebuilt all the same). */
int repo_rebuild_index(repo *r, repo_verify_report_fn report, void *userdata, uint64_t *ret_packs,
                       uint64_t *ret_blobs);

/* ---- retention: forget (forget.c, docs/design/repository.md §11d) ---- */

/* Reasons a backup is kept (bits); 0 = removed. */
enum {
        REPO_KEEP_LAST = 1u << 0,
        REPO_KEEP_HOURLY = 1u << 1,
        REPO_KEEP_DAILY = 1u << 2,
        REPO_KEEP_WEEKLY = 1u << 3,
        REPO_KEEP_MONTHLY = 1u << 4,
        REPO_KEEP_YEARLY = 1u << 5,
        REPO_KEEP_WITHIN = 1u << 6,
        REPO_KEEP_CHAIN = 1u << 7,            /* only because a kept backup needs it */
        REPO_KEEP_OTHER_COMPONENT = 1u << 8,  /* also in a series --component did not select */
        REPO_KEEP_NOT_SELECTED = 1u << 9,     /* in no selected series: not looked at */
        _REPO_KEEP_MAX = 10,
};
/* "last", "hourly", ..., "chain", "other-component"; NULL for NOT_SELECTED. */
const char *repo_keep_reason_name(unsigned bit);

typedef struct repo_forget_policy {
        unsigned keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
        bool has_within;
        unsigned within_y, within_m, within_w, within_d, within_h;
        const char *const *components;   /* selected series; n_components == 0: all */
        size_t n_components;
} repo_forget_policy;

/* Parse a keep-within DURATION ("1y2m3w4d5h", any subset in that order) into p. */
int repo_forget_parse_duration(const char *s, repo_forget_policy *p);
/* Decide, without touching the repository: ret_reasons[i] gets the keep
 * reasons of recs[i] (any order), 0 when it is to be removed.  Times are
 * bucketed in local time (TZ).  -EINVAL when the policy keeps nothing. */
int repo_forget_plan(repo_record *const *recs, size_t n, const repo_forget_policy *p, unsigned *ret_reasons);
/* Remove the records whose reason is 0, newest first (F1).  Exclusive lock. */
int repo_forget_remove(repo *r, repo_record *const *recs, size_t n, const unsigned *reasons);

/* ---- prune (prune.c, §11e) ---- */

typedef struct repo_prune_options {
        unsigned max_unused;   /* percent of a pack's bytes that may be unused before it is repacked */
        bool dry_run;
        /* Records to treat as gone (forget --dry-run --prune: what prune would do after forget). */
        const repo_id *ignore;
        size_t n_ignore;
} repo_prune_options;

typedef struct repo_prune_stats {
        uint64_t packs_total, packs_deleted, packs_repacked, packs_written, blobs_repacked;
        uint64_t bytes_before, bytes_after, bytes_freed;   /* pack and index bytes */
} repo_prune_stats;

/* Mark and sweep (exclusive lock).  REPO_E_CORRUPT (nothing changed) when an
 * index or record is damaged or a record names a blob no index has. */
int repo_prune(repo *r, const repo_prune_options *o, repo_prune_stats *ret);

/* ---- check (check.c, §11c) ---- */

enum repo_check_data {
        REPO_CHECK_STRUCTURE,   /* no pack content read */
        REPO_CHECK_READ_ALL,
        REPO_CHECK_SUBSET_MOD,      /* packs with id % m == k - 1 */
        REPO_CHECK_SUBSET_PERCENT,  /* this week's window of percent % */
};

typedef struct repo_check_options {
        int data;              /* enum repo_check_data */
        unsigned k, m;
        double percent;        /* (0, 100] */
        int64_t now;           /* seconds since the epoch: picks the week's window */
        void (*pack_read)(const repo_id *pack, void *userdata);   /* optional: each pack read */
        void *userdata;
} repo_check_options;

typedef struct repo_check_stats {
        uint64_t indexes, packs, records, blobs, packs_read, bytes_read;
} repo_check_stats;

/* Parse "N%" or "K/M" into o. */
int repo_check_parse_subset(const char *s, repo_check_options *o);
/* Whether pack id is in o's data subset. */
bool repo_check_selects(const repo_check_options *o, const repo_id *pack);
int repo_check(repo *r, const repo_check_options *o, repo_verify_report_fn report, void *userdata,
               repo_check_stats *ret);

/* ---- keys (keys.c, §3.2) ---- */

typedef struct repo_key_info {
        repo_id id;
        bool current;          /* the key this handle was opened with */
        char created[32];      /* "" when the key file does not say */
        char host[64];
} repo_key_info;

int repo_key_list(repo *r, repo_key_info **ret, size_t *ret_n);
int repo_resolve_key(repo *r, const char *id_or_prefix, repo_id *ret_id);
/* Wrap the master keys with a new password (same KDF cost as the current key). */
int repo_key_add(repo *r, const char *password, repo_id *ret_id);
/* -EINVAL for the last key or the key in use (K3). */
int repo_key_remove(repo *r, const repo_id *id);
/* Add a key for new_password, then remove the current one (K4). */
int repo_key_passwd(repo *r, const char *new_password, repo_id *ret_id);

/* ---- parsers exposed for the fuzz targets ---- */

/* Parse a pack's trailing header (plaintext form). */
int repo_pack_header_parse(const uint8_t *buf, size_t len, size_t *ret_count);
/* Parse an index document (plaintext JSON) into a throw-away table. */
int repo_index_parse_check(const char *json, size_t len);
