/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/repo-int.h: structures shared by lib/repo's own files only.
 */
#pragma once

#include <limits.h>
#include <stdarg.h>

#include "error-slot.h"
#include "macro.h"
#include "repo.h"
#include "backend.h"

/* Hard limits on everything parsed from the repository (docs/design/repository.md §9). */
#define REPO_FORMAT_VERSION 1
#define REPO_MAX_CONFIG (64u * 1024)
#define REPO_MAX_KEYFILE (64u * 1024)
#define REPO_MAX_INDEX (64u * 1024 * 1024)
#define REPO_MAX_RECORD (256u * 1024 * 1024)
#define REPO_MAX_PACK (1024u * 1024 * 1024)
#define REPO_MAX_PACK_BLOBS (1u << 20)
#define REPO_MAX_FILES (16u * 1024 * 1024)
#define REPO_MAX_PATH 4096
#define REPO_MAX_XATTRS (256u * 1024)   /* names + values of one file's extended attributes */
#define REPO_FILE_ENTRY_VERSION 2       /* newest manifest entry version written */
#define REPO_MAX_STRING (64u * 1024 * 1024)   /* any one string in a record (documents) */
#define REPO_PACK_SIZE_DEFAULT (16u * 1024 * 1024)

#define REPO_SEAL_OVERHEAD (24 + 16)   /* XChaCha20-Poly1305: nonce + tag */

#define REPO_PACK_MAGIC "LVSP"
#define REPO_PACK_ENTRY_SIZE 44        /* type, flags, 2 reserved, stored u32, raw u32, id[32] */
#define REPO_PACK_HEADER_FIXED 12      /* magic[4], version u8, reserved[3], count u32 */
#define REPO_BLOB_COMPRESSED 0x01

typedef struct index_entry {
        repo_id id;
        uint32_t pack;        /* index into repo.packs */
        uint32_t offset_hi;   /* (offset is 64-bit, kept as two halves to keep the slot small) */
        uint32_t offset_lo;
        uint32_t length;      /* stored length */
        uint32_t raw_length;
        uint8_t flags;
        uint8_t used;
        uint8_t verified;     /* repo_verify: seen in its pack at this position */
} index_entry;

typedef struct repo_index {
        index_entry *slots;
        size_t n_slots, n_used;
        repo_id *packs;       /* pack ids; a pack being filled has its slot reserved */
        size_t n_packs, cap_packs;
} repo_index;

struct repo {
        char *dir;                /* the location as given (directory or s3:URL), for messages */
        struct repo_backend *be;  /* backend.h: where the objects live */
        char cache_dir[PATH_MAX]; /* §15.2: local cache of index and records (remote only; "" = none) */
        bool encrypted;
        uint8_t enc_key[32];
        uint8_t hash_key[32];
        repo_id repo_uuid;
        repo_chunker_params chunker;
        uint32_t pack_size;
        repo_index index;
        /* Index files that failed to load (verify reports them; cleanup is off). */
        char **bad_index;
        char **bad_index_reason;
        size_t n_bad_index;
        bool exclusive;           /* opened REPO_LOCK_EXCLUSIVE */
        enum repo_lock_mode lock_mode;   /* for repo_open_keys */
        repo_id key_id;           /* the key file that opened it (encrypted) */
        uint64_t key_ops, key_mem;
        repo_progress_fn verify_progress;
        void *verify_progress_userdata;
        repo_copy_progress_fn copy_progress;   /* repo_set_copy_progress (on the destination) */
        void *copy_progress_userdata;
        ErrorSlot err;            /* repo_last_error(): this handle's last failure (§11f) */
};

#define REPO_MASTER_PLAIN (32 + 32 + REPO_ID_SIZE)   /* enc key, hash key, repository id */
#define MASTER_PLAIN REPO_MASTER_PLAIN

typedef struct repo_config {
        bool encrypted;
        repo_id uuid;
        repo_chunker_params chunker;
        uint32_t pack_size;
} repo_config;

typedef struct repo_keyfile {
        uint64_t opslimit, memlimit;
        uint8_t salt[16];
        uint8_t sealed[24 + REPO_MASTER_PLAIN + 16];
} repo_keyfile;

/* error.c (docs/design/repository.md §11f).  repo_error raises a failure
 * into r's slot, or the thread's where r is NULL (no handle: the parsers,
 * crypto, the chunker, the backends, repo_open before the handle exists) or
 * the caller is a worker thread.  A function holding r that passes on the
 * code of a handle-less callee raises the callee's message into r with
 * repo_error_from_thread(r, code); repo_error_msg(r) reads the slot r's
 * failures went to in this thread (repo_errmsg() = the thread's). */
int repo_error(repo *r, int code, const char *fmt, ...) _printf_(3, 4);
int repo_error_from_thread(repo *r, int code);
const char *repo_error_msg(const repo *r);
ErrorSlot *repo_error_slot(const repo *r);
/* Called first in each of lib/repo's worker threads (packer writers, restore
 * decoders): their repo_error(r, ...) goes to the thread's slot, which the
 * thread copies to shared state for the handle's thread to raise into r. */
void repo_error_worker_thread(void);
/* One warning line to the handler of repo_set_warn_handler (meta.c). */
void repo_warn(const char *fmt, ...) _printf_(1, 2);
int repo_file_type_from_string(const char *s);
/* Owner (ids, names), mode, times, inode and, when fd >= 0, the extended
 * attributes of what fd is open on; st from the same object. */
int repo_meta_capture(int fd, const struct stat *st, const char *path, repo_file *f);
/* Owner and mtime of the symlink name in dfd (never followed). */
int repo_meta_apply_symlink(repo_meta_ctx *m, int dfd, const char *name, const repo_file *f);
void repo_error_clear(repo *r);

/* crypto.c */
void repo_hash_blob(const repo *r, const void *data, size_t n, repo_id *ret);
void repo_hash_file(const repo *r, const repo_id *blobs, size_t n, repo_id *ret);
void repo_hash_storage(const void *data, size_t n, repo_id *ret);
/* out must hold n + REPO_SEAL_OVERHEAD when encrypted (n otherwise); returns stored length. */
size_t repo_seal(const repo *r, const void *in, size_t n, uint8_t *out);
/* Decrypt in place-safe into out (n - overhead bytes); REPO_E_CORRUPT on a bad MAC. */
int repo_unseal(const repo *r, const uint8_t *in, size_t n, uint8_t *out, size_t *ret_n);
int repo_keyfile_create(struct repo_backend *be, const char *password, const repo_id *uuid, uint64_t ops, uint64_t mem,
                        const uint8_t enc_key[32], const uint8_t hash_key[32], repo_id *ret_id);
int repo_keyfile_unlock(repo *r, const char *password);
int repo_keyfile_parse(const char *text, size_t len, repo_keyfile *ret);

/* repo.c */
int repo_config_parse(const char *text, size_t n, repo_config *ret);

/* fileio.c */
int repo_read_file_at(int dir_fd, const char *path, size_t max, uint8_t **ret, size_t *ret_n);
/* Write data as a new object in subdir ("data", "index", "backups") named by
 * its storage hash: temp file, fsync, rename, fsync dir. */
int repo_write_object(repo *r, const char *subdir, const void *data, size_t n, repo_id *ret_id);
int repo_object_path(const char *subdir, const repo_id *id, char *buf, size_t size);
/* Read an object, check that its content hashes to its name, unseal it. */
int repo_read_object(repo *r, const char *subdir, const repo_id *id, size_t max, uint8_t **ret, size_t *ret_n);
int repo_list_objects(repo *r, const char *subdir, repo_id **ret, size_t *ret_n);
int repo_delete_object(repo *r, const char *subdir, const repo_id *id);
int repo_id_cmp(const repo_id *a, const repo_id *b);
int repo_cache_setup(repo *r);
void repo_cache_trim(repo *r, const char *subdir, const repo_id *ids, size_t n);
int repo_fsync_dir(int dir_fd, const char *sub);

/* index.c */
void repo_index_done(repo_index *ix);
index_entry *repo_index_find(repo_index *ix, const repo_id *id);
int repo_index_add(repo_index *ix, const repo_id *id, uint32_t pack, uint64_t offset,
                   uint32_t length, uint32_t raw_length, uint8_t flags);
int repo_index_reserve_pack(repo_index *ix, uint32_t *ret_pack);
/* Forget the packs from first_pack on and every entry pointing there (or
 * pending): the in-memory rollback of a backup that did not commit. */
int repo_index_truncate(repo_index *ix, uint32_t first_pack);
int repo_index_load_json(repo_index *ix, const char *json, size_t len);
/* Serialize the packs [first, n_packs) as an index document. */
int repo_index_to_json(const repo_index *ix, uint32_t first_pack, char **ret);
int repo_index_to_json_range(const repo_index *ix, uint32_t first_pack, uint32_t end_pack, char **ret);
int repo_load_indexes(repo *r);
/* Write ix as index objects of at most ~100000 blobs each (W1); their ids in
 * *ret_ids (caller frees).  repair.c; prune.c uses it too. */
int repo_index_write(repo *r, const repo_index *ix, repo_id **ret_ids, size_t *ret_n);
static inline uint64_t index_entry_offset(const index_entry *e) {
        return ((uint64_t) e->offset_hi << 32) | e->offset_lo;
}

/* backup.c, for copy.c */
int repo_backup_new_copy(repo *r, const repo_record *src, repo_backup **ret);
void repo_backup_set_origin(repo_backup *b, const repo_id *based_on, const repo_id *copied_from);
int repo_backup_copy_file(repo_backup *b, repo *from, const repo_file *src, uint8_t **buf, size_t *cap);

/* verify.c: read one pack whole and check it (hash, header, every blob);
 * index entries found intact get .verified.  Problems and bytes are added. */
int repo_verify_pack(repo *r, const repo_id *pack, repo_verify_report_fn fn, void *userdata, uint64_t *ret_problems,
                     uint64_t *ret_bytes);

/* pack.c */
typedef struct pack_blob {
        repo_id id;
        uint32_t stored, raw;
        uint8_t flags;
} pack_blob;
int repo_pack_header_decode(const uint8_t *buf, size_t len, pack_blob **ret, size_t *ret_count);
size_t repo_pack_header_encode(const pack_blob *blobs, size_t count, uint8_t *out);
/* Read, check and decompress one blob into out (raw_length bytes). */
int repo_blob_decode(const repo *r, const uint8_t *stored, size_t n, uint8_t flags, uint32_t raw,
                     const repo_id *expect, uint8_t *out);
int repo_read_blob(repo *r, const repo_id *id, uint8_t **buf, size_t *cap, size_t *ret_n);
/* repo_read_blob in two steps, for threads that decode many blobs: fetch
 * (index lookup and the backend read: the order-sensitive part, run in blob
 * order) and decode (MAC, zstd, hash: CPU only, safe to run on several
 * threads at once).  The reader keeps its buffers and zstd context between
 * blobs; zero-initialize it, free with repo_blob_reader_done(). */
typedef struct repo_blob_reader {
        struct ZSTD_DCtx_s *dctx;
        uint8_t *stored, *tmp;
        size_t stored_cap, tmp_cap;
        const index_entry *e;    /* the blob fetched last, NULL after a failure */
} repo_blob_reader;
int repo_blob_fetch(repo *r, repo_blob_reader *br, const repo_id *id);
int repo_blob_decode_fetched(const repo *r, repo_blob_reader *br, uint8_t **buf, size_t *cap, size_t *ret_n);
void repo_blob_reader_done(repo_blob_reader *br);
/* Parse a whole pack file (already hash-checked): trailer length, header. */
int repo_pack_parse(const repo *r, const uint8_t *data, size_t n, pack_blob **ret, size_t *ret_count);
