/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/repo.c: creating, opening, locking and cleaning a repository;
 * listing and loading backup records.
 *
 * Layout (docs/design/repository.md §2):
 *   config            plaintext JSON: format version, repository id, encryption, chunker
 *   keys/<id>         key files (encrypted repositories only)
 *   data/<xx>/<id>    pack files, xx = first two hex digits of the id
 *   index/<id>        index documents (sealed)
 *   backups/<id>      backup records (sealed)
 *   tmp/              files being written; anything here is garbage after a crash
 *   lock              flock(2): shared for readers, exclusive for writers
 */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "lib/core/array.h"
#include "repo-int.h"
#include "backend.h"

bool repo_is_encrypted(const repo *r) {
        return r->encrypted;
}

const char *repo_path(const repo *r) {
        return r->dir;
}

int repo_init(const char *dir, const char *password, const repo_init_options *opts) {
        repo_chunker_params ch = opts->chunker;
        uint8_t enc_key[32], hash_key[32];
        _cleanup_free_ char *text = NULL;
        _cleanup_(repo_backend_freep) repo_backend *be = NULL;
        char idhex[REPO_ID_HEX_SIZE];
        repo_id uuid;
        json_t *o;
        int k;

        if (sodium_init() < 0)
                return repo_error(NULL, -EIO, "libsodium failed to initialize");
        if (ch.min == 0 && ch.avg == 0 && ch.max == 0)
                ch = (repo_chunker_params) {REPO_CHUNK_MIN_DEFAULT, REPO_CHUNK_AVG_DEFAULT, REPO_CHUNK_MAX_DEFAULT};
        k = repo_chunker_params_check(&ch);
        if (k < 0)
                return k;
        if (opts->encrypted && (!password || !*password))
                return repo_error(NULL, -EINVAL, "repository %s: a password is required for an encrypted repository",
                                  dir);
        if (!repo_location_is_s3(dir) && mkdir(dir, 0700) < 0 && errno != EEXIST)
                return repo_error(NULL, -errno, "repository %s: %m", dir);
        k = repo_backend_open(dir, &be);
        if (k < 0)
                return k;
        k = be->ops->init(be);
        if (k < 0)
                return k;
        randombytes_buf(uuid.b, sizeof uuid.b);
        repo_id_to_hex(&uuid, idhex);
        if (opts->encrypted) {
                randombytes_buf(enc_key, sizeof enc_key);
                randombytes_buf(hash_key, sizeof hash_key);
                k = repo_keyfile_create(be, password, &uuid,
                                        opts->kdf_opslimit ? opts->kdf_opslimit : crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                        opts->kdf_memlimit ? opts->kdf_memlimit : crypto_pwhash_MEMLIMIT_INTERACTIVE,
                                        enc_key, hash_key, NULL);
                sodium_memzero(enc_key, sizeof enc_key);
                sodium_memzero(hash_key, sizeof hash_key);
                if (k < 0)
                        return k;
        }
        o = json_pack("{s:i, s:s, s:s, s:s, s:{s:i, s:i, s:i}, s:i}", "version", REPO_FORMAT_VERSION, "id", idhex,
                      "encryption", opts->encrypted ? "xchacha20poly1305" : "none", "compression", "zstd",
                      "chunker", "min", (int) ch.min, "avg", (int) ch.avg, "max", (int) ch.max, "pack_size",
                      (int) (opts->pack_size ? opts->pack_size : REPO_PACK_SIZE_DEFAULT));
        if (!o)
                return -ENOMEM;
        text = json_dumps(o, JSON_INDENT(2));
        json_decref(o);
        if (!text)
                return -ENOMEM;
        /* config last: a directory without it is not a repository yet. */
        k = repo_be_put(be, "config", text, strlen(text));
        if (k < 0)
                return repo_error(NULL, k, "repository %s: writing config: %s", dir, strerror(-k));
        return 0;
}

int repo_config_parse(const char *text, size_t n, repo_config *ret) {
        json_error_t jerr;
        json_int_t version, mn, av, mx, ps;
        const char *id = NULL, *enc = NULL, *comp = NULL;
        repo_config c = {};
        json_t *o;

        if (n > REPO_MAX_CONFIG)
                return repo_error(NULL, REPO_E_CORRUPT, "config: too large");
        o = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
        if (!o)
                return repo_error(NULL, REPO_E_CORRUPT, "config: not JSON: %s", jerr.text);
        if (json_unpack(o, "{s:I}", "version", &version) < 0) {
                json_decref(o);
                return repo_error(NULL, REPO_E_CORRUPT, "config: no format version");
        }
        if (version != REPO_FORMAT_VERSION) {
                json_decref(o);
                return repo_error(NULL, REPO_E_VERSION, "format version %lld not supported (this is %d)",
                                  (long long) version, REPO_FORMAT_VERSION);
        }
        if (json_unpack(o, "{s:s, s:s, s:s, s:{s:I, s:I, s:I}, s:I}", "id", &id, "encryption", &enc, "compression",
                        &comp, "chunker", "min", &mn, "avg", &av, "max", &mx, "pack_size", &ps) < 0 ||
            repo_id_from_hex(id, &c.uuid) < 0 || strcmp(comp, "zstd") != 0 ||
            (strcmp(enc, "none") != 0 && strcmp(enc, "xchacha20poly1305") != 0) || mn < 0 || av < 0 || mx < 0 ||
            mx > REPO_CHUNK_MAX_LIMIT || ps < 4096 || ps > 256 * 1024 * 1024) {
                json_decref(o);
                return repo_error(NULL, REPO_E_CORRUPT, "config: malformed");
        }
        c.encrypted = strcmp(enc, "none") != 0;
        c.chunker = (repo_chunker_params) {(uint32_t) mn, (uint32_t) av, (uint32_t) mx};
        c.pack_size = (uint32_t) ps;
        json_decref(o);
        if (repo_chunker_params_check(&c.chunker) < 0)
                return repo_error(NULL, REPO_E_CORRUPT, "config: %s", repo_errmsg());
        *ret = c;
        return 0;
}

static int read_config(repo_backend *be, const char *dir, repo_config *ret) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        int k;

        k = repo_be_get(be, "config", REPO_MAX_CONFIG, &buf, &n);
        if (k == -ENOENT)
                return repo_error(NULL, -ENOENT, "%s: not an lvss-backup repository (no config)", dir);
        if (k < 0)
                return repo_error(NULL, k, "repository %s: %s", dir, repo_errmsg());
        k = repo_config_parse((const char *) buf, n, ret);
        if (k < 0)
                return repo_error(NULL, k, "repository %s: %s", dir, repo_errmsg());
        return 0;
}

int repo_probe_id(const char *dir, repo_id *ret_id) {
        _cleanup_(repo_backend_freep) repo_backend *be = NULL;
        repo_config c;
        int k;

        k = repo_backend_open(dir, &be);
        if (k < 0)
                return k;
        k = read_config(be, dir, &c);
        if (k < 0)
                return k;
        *ret_id = c.uuid;
        return 0;
}

int repo_probe(const char *dir, bool *ret_encrypted) {
        _cleanup_(repo_backend_freep) repo_backend *be = NULL;
        repo_config c;
        int k;

        k = repo_backend_open(dir, &be);
        if (k < 0)
                return k;
        k = read_config(be, dir, &c);
        if (k < 0)
                return k;
        *ret_encrypted = c.encrypted;
        return 0;
}

repo *repo_close(repo *r) {
        if (!r)
                return NULL;
        sodium_memzero(r->enc_key, sizeof r->enc_key);
        sodium_memzero(r->hash_key, sizeof r->hash_key);
        repo_index_done(&r->index);
        for (size_t i = 0; i < r->n_bad_index; i++) {
                free(r->bad_index[i]);
                free(r->bad_index_reason[i]);
        }
        free(r->bad_index);
        free(r->bad_index_reason);
        if (r->be) {
                r->be->ops->unlock(r->be);
                repo_backend_free(r->be);
        }
        free(r->dir);
        free(r);
        return NULL;
}

static int take_lock(repo *r, enum repo_lock_mode mode, const repo_open_options *o) {
        int k = r->be->ops->lock(r->be, mode == REPO_LOCK_EXCLUSIVE, o ? o->lock_wait_s : 0, o ? o->waiting : NULL,
                                 o ? o->userdata : NULL);
        return k < 0 ? repo_error_from_thread(r, k) : k;
}

static int id_cmp(const void *a, const void *b) {
        return memcmp(a, b, REPO_ID_SIZE);
}

/* Remove what an interrupted writer left: tmp/ files, and packs no index
 * refers to (written before a crash, before their index).  Runs only under
 * the exclusive lock, and removes packs only when every index loaded and every
 * blob every backup record names is in the index: a pack is never removed
 * because of an index that is damaged or lost (invariant W5; rebuild-index
 * repairs that case from the packs themselves). */
static bool index_complete(repo *r) {
        repo_record **recs = NULL;
        size_t n = 0;
        bool ok = true;

        if (repo_list_backups(r, &recs, &n) < 0)
                return false;   /* a record we cannot read might need any pack */
        for (size_t i = 0; i < n && ok; i++)
                for (size_t f = 0; f < recs[i]->n_files && ok; f++)
                        for (size_t j = 0; j < recs[i]->files[f].n_blobs && ok; j++)
                                ok = repo_index_find(&r->index, &recs[i]->files[f].blobs[j]) != NULL;
        for (size_t i = 0; i < n; i++)
                repo_record_free(recs[i]);
        free(recs);
        return ok;
}

static int cleanup(repo *r) {
        _cleanup_free_ repo_id *packs = NULL, *known = NULL;
        size_t n = 0;
        int k;

        /* tmp/ (local) was emptied when the exclusive lock was taken */
        if (r->n_bad_index > 0)
                return 0;
        k = repo_list_objects(r, "data", &packs, &n);
        if (k < 0)
                return k;
        if (r->index.n_packs > 0) {
                known = malloc(r->index.n_packs * sizeof(repo_id));
                if (!known)
                        return -ENOMEM;
                memcpy(known, r->index.packs, r->index.n_packs * sizeof(repo_id));
                qsort(known, r->index.n_packs, sizeof(repo_id), id_cmp);
        }
        bool checked = false;
        for (size_t i = 0; i < n; i++) {
                if (known && bsearch(&packs[i], known, r->index.n_packs, sizeof(repo_id), id_cmp))
                        continue;
                if (!checked) {   /* only when there is an orphan: costs loading every record */
                        if (!index_complete(r))
                                return 0;
                        checked = true;
                }
                (void) repo_delete_object(r, "data", &packs[i]);
        }
        return 0;
}

/* repo_open failed after building the handle it will not return: the
 * handle's message goes to the thread's slot, where the caller reads it. */
static int open_failed(repo *r, int k) {
        if (r->err.msg[0])
                (void) error_slot_set(NULL, k, "%s", r->err.msg);
        return k;
}

int repo_open(const char *dir, const char *password, enum repo_lock_mode lock, repo **ret) {
        return repo_open_opts(dir, password, lock, NULL, ret);
}

int repo_open_opts(const char *dir, const char *password, enum repo_lock_mode lock, const repo_open_options *o,
                   repo **ret) {
        _cleanup_(repo_closep) repo *r = NULL;
        int k = repo_open_lock(dir, lock, o, &r);
        if (k < 0)
                return k;
        k = repo_open_keys(r, password);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(r);
        return 0;
}

int repo_open_lock(const char *dir, enum repo_lock_mode lock, const repo_open_options *o, repo **ret) {
        _cleanup_(repo_closep) repo *r = NULL;
        int k;

        if (sodium_init() < 0)
                return repo_error(NULL, -EIO, "libsodium failed to initialize");
        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->dir = strdup(dir);
        if (!r->dir)
                return -ENOMEM;
        k = repo_backend_open(dir, &r->be);
        if (k < 0)
                return k;
        repo_config c;
        k = read_config(r->be, dir, &c);
        if (k < 0)
                return k;
        r->encrypted = c.encrypted;
        r->repo_uuid = c.uuid;
        r->chunker = c.chunker;
        r->pack_size = c.pack_size;
        k = take_lock(r, lock, o);
        if (k < 0)
                return open_failed(r, k);
        r->lock_mode = lock;
        (void) repo_cache_setup(r);
        *ret = TAKE_PTR(r);
        return 0;
}

int repo_open_keys(repo *r, const char *password) {
        int k;

        if (r->encrypted) {
                if (!password)
                        return repo_error(NULL, -ENOKEY, "repository %s is encrypted: a password is required", r->dir);
                k = repo_keyfile_unlock(r, password);
                if (k < 0)
                        return open_failed(r, k);
        } else {
                /* A config edited to say "none" must not downgrade an encrypted repository. */
                _cleanup_free_ repo_id *keys = NULL;
                size_t nk = 0;
                k = repo_list_objects(r, "keys", &keys, &nk);
                if (k < 0)
                        return open_failed(r, k);
                if (nk > 0)
                        return repo_error(NULL, REPO_E_CORRUPT,
                                          "config: says unencrypted but key files exist (tampered?)");
        }
        k = repo_load_indexes(r);
        if (k < 0)
                return open_failed(r, k);
        r->exclusive = r->lock_mode == REPO_LOCK_EXCLUSIVE;
        if (r->exclusive) {
                k = cleanup(r);
                if (k < 0)
                        return open_failed(r, k);
        }
        return 0;
}

int repo_load_backup(repo *r, const repo_id *id, repo_record **ret) {
        _cleanup_free_ uint8_t *buf = NULL;
        repo_record *rec = NULL;
        char hex[REPO_ID_HEX_SIZE];
        size_t n = 0;
        int k;

        k = repo_read_object(r, "backups", id, REPO_MAX_RECORD, &buf, &n);
        if (k == -ENOENT) {
                repo_id_to_hex(id, hex);
                return repo_error(r, k, "backup %s: not found", hex);
        }
        if (k < 0)
                return k;
        k = repo_record_parse((const char *) buf, n, &rec);
        if (k < 0) {
                repo_id_to_hex(id, hex);
                return repo_error(r, k, "backup %s: %s", hex, repo_errmsg());
        }
        rec->id = *id;
        *ret = rec;
        return 0;
}

static int rec_time_cmp(const void *a, const void *b) {
        const repo_record *x = *(repo_record *const *) a, *y = *(repo_record *const *) b;
        if (x->time_ns != y->time_ns)
                return x->time_ns < y->time_ns ? -1 : 1;
        return memcmp(x->id.b, y->id.b, REPO_ID_SIZE);
}

int repo_list_backups(repo *r, repo_record ***ret, size_t *ret_n) {
        _cleanup_free_ repo_id *ids = NULL;
        repo_record **recs;
        size_t n = 0;
        int k;

        k = repo_list_objects(r, "backups", &ids, &n);
        if (k < 0)
                return k;
        recs = calloc(n + 1, sizeof *recs); // NOLINT(bugprone-sizeof-expression): array of pointers
        if (!recs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                k = repo_load_backup(r, &ids[i], &recs[i]);
                if (k < 0) {
                        for (size_t j = 0; j < i; j++)
                                repo_record_free(recs[j]);
                        free(recs);
                        return k;
                }
        }
        qsort(recs, n, sizeof *recs, rec_time_cmp); // NOLINT(bugprone-sizeof-expression): array of pointers
        *ret = recs;
        *ret_n = n;
        return 0;
}

int repo_resolve_backup(repo *r, const char *prefix, repo_id *ret_id) {
        _cleanup_free_ repo_id *ids = NULL;
        size_t n = 0, len = strlen(prefix), found = 0;
        repo_id match;
        int k;

        if (len < 4 || len > REPO_ID_SIZE * 2 || strspn(prefix, "0123456789abcdef") != len)
                return repo_error(r, -EINVAL, "backup id '%s': expected at least 4 lowercase hex digits", prefix);
        k = repo_list_objects(r, "backups", &ids, &n);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n; i++) {
                char hex[REPO_ID_HEX_SIZE];
                repo_id_to_hex(&ids[i], hex);
                if (strncmp(hex, prefix, len) == 0) {
                        match = ids[i];
                        found++;
                }
        }
        if (found == 0)
                return repo_error(r, -ENOENT, "backup %s: not found in %s", prefix, r->dir);
        if (found > 1)
                return repo_error(r, -EINVAL, "backup %s: prefix is ambiguous", prefix);
        *ret_id = match;
        return 0;
}

int repo_backup_chain(repo *r, const repo_id *id, repo_record ***ret, size_t *ret_n) {
        repo_record **chain = NULL;
        size_t n = 0, cap = 0;
        repo_id cur = *id;
        int k = 0;

        for (;;) {
                repo_record *rec = NULL;
                char hex[REPO_ID_HEX_SIZE];

                if (n >= 100000) {
                        k = repo_error(r, REPO_E_CORRUPT, "backup chain too long (a based_on loop?)");
                        break;
                }
                k = repo_load_backup(r, &cur, &rec);
                if (k == -ENOENT) {
                        repo_id_to_hex(&cur, hex);
                        k = repo_error(r, -ENOENT, "backup %s: the chain needs it but it is missing", hex);
                }
                if (k < 0)
                        break;
                if (ARRAY_RESERVE_ONE(chain, cap, n, 8) < 0) {
                        repo_record_free(rec);
                        k = -ENOMEM;
                        break;
                }
                chain[n++] = rec;
                if (rec->type == REPO_BACKUP_FULL || rec->type == REPO_BACKUP_COPY)
                        break;
                if (!rec->has_based_on) {
                        repo_id_to_hex(&rec->id, hex);
                        k = repo_error(r, REPO_E_CORRUPT, "backup %s: %s without a base", hex,
                                       repo_backup_type_to_string(rec->type));
                        break;
                }
                cur = rec->based_on;
        }
        if (k < 0) {
                for (size_t i = 0; i < n; i++)
                        repo_record_free(chain[i]);
                free(chain);
                return k;
        }
        /* oldest first */
        for (size_t i = 0; i < n / 2; i++) {
                repo_record *t = chain[i];
                chain[i] = chain[n - 1 - i];
                chain[n - 1 - i] = t;
        }
        *ret = chain;
        *ret_n = n;
        return 0;
}
