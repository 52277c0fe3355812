/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/crypto.c: hashes, per-object authenticated encryption, key files.
 *
 * - Storage ids: BLAKE2b-256 of an object file's bytes as stored (integrity).
 * - Blob ids: BLAKE2b-256 of the plaintext chunk, keyed with the repository's
 *   hash key when encrypted (so ids do not reveal known content), unkeyed
 *   otherwise.  The keyed form is computed by OpenSSL when it agrees with
 *   libsodium (hash_keyed() below): same ids, faster.
 * - Sealing: XChaCha20-Poly1305 IETF, a fresh random 24-byte nonce per object,
 *   stored as nonce || ciphertext || tag.  Unencrypted repositories store the
 *   bytes as they are.
 * - Key files wrap the master keys (encryption key, hash key, repository id)
 *   with a key derived from the password by Argon2id.
 */
#include <fcntl.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <time.h>

#include "repo-int.h"
#include "backend.h"
#include "test-hook.h"

/* The documented minimum Argon2id cost of a key file (repository.md §3):
 * libsodium's INTERACTIVE limits.  A key file asking for less is refused, so
 * a planted or edited key file cannot weaken the password's protection.  Only
 * a test build with LVSS_BACKUP_KDF_MIN=1 may go lower (quick test suites). */
#define KDF_OPS_MIN ((uint64_t) crypto_pwhash_OPSLIMIT_INTERACTIVE)
#define KDF_MEM_MIN ((uint64_t) crypto_pwhash_MEMLIMIT_INTERACTIVE)

static bool kdf_below_minimum(uint64_t ops, uint64_t mem) {
        return (ops < KDF_OPS_MIN || mem < KDF_MEM_MIN) && !TEST_HOOK_IS("LVSS_BACKUP_KDF_MIN", "1");
}


/* Keyed BLAKE2b-256 (the blob ids of an encrypted repository) is most of
 * a backup's hashing.  OpenSSL's BLAKE2BMAC with a 32-byte digest computes
 * exactly what crypto_generichash(32 bytes, key) does (the same BLAKE2b
 * parameter block: digest length, key length, key block) and ran about
 * twice as fast as libsodium 1.0.18 on the 2-core test VM (thread CPU
 * time, 1 MiB calls; docs/design/backup.md §7.1).  It is used only after a known-answer check against libsodium at
 * first use; libsodium stays the fallback, and unkeyed BLAKE2b-256 (OpenSSL
 * 3.0 has no variable-length unkeyed BLAKE2b) stays libsodium's.  The ids
 * do not change: the repository format is the same. */
static EVP_MAC *blake2b_mac;
static bool blake2b_mac_ok;
static pthread_once_t blake2b_once = PTHREAD_ONCE_INIT;

static bool mac_keyed(const uint8_t *key, size_t klen, const void *data, size_t n, uint8_t out[REPO_ID_SIZE]) {
        size_t outlen = REPO_ID_SIZE, got = 0;
        OSSL_PARAM params[] = { OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen), OSSL_PARAM_END };
        EVP_MAC_CTX *c = EVP_MAC_CTX_new(blake2b_mac);
        bool ok = c && EVP_MAC_init(c, key, klen, params) && EVP_MAC_update(c, data, n) &&
                  EVP_MAC_final(c, out, &got, REPO_ID_SIZE) && got == REPO_ID_SIZE;
        EVP_MAC_CTX_free(c);
        return ok;
}

static void blake2b_setup(void) {
        uint8_t key[32], msg[300], a[REPO_ID_SIZE], b[REPO_ID_SIZE];

        blake2b_mac = EVP_MAC_fetch(NULL, "BLAKE2BMAC", NULL);
        if (!blake2b_mac)
                return;
        for (size_t i = 0; i < sizeof key; i++)
                key[i] = (uint8_t) (i * 7 + 1);
        for (size_t i = 0; i < sizeof msg; i++)
                msg[i] = (uint8_t) (i * 13 + 5);
        crypto_generichash(a, REPO_ID_SIZE, msg, sizeof msg, key, sizeof key);
        blake2b_mac_ok = mac_keyed(key, sizeof key, msg, sizeof msg, b) && memcmp(a, b, REPO_ID_SIZE) == 0;
}

/* BLAKE2b-256 of data keyed with key (32 bytes), the fastest way there is. */
static void hash_keyed(const uint8_t *key, size_t klen, const void *data, size_t n, uint8_t out[REPO_ID_SIZE]) {
        (void) pthread_once(&blake2b_once, blake2b_setup);
        if (blake2b_mac_ok && n > 0 && !TEST_HOOK_IS("LVSS_BACKUP_SODIUM_HASH", "1") &&
            mac_keyed(key, klen, data, n, out))
                return;
        crypto_generichash(out, REPO_ID_SIZE, data, n, key, klen);
}

void repo_hash_blob(const repo *r, const void *data, size_t n, repo_id *ret) {
        if (r->encrypted)
                hash_keyed(r->hash_key, sizeof r->hash_key, data, n, ret->b);
        else
                crypto_generichash(ret->b, REPO_ID_SIZE, data, n, NULL, 0);
}

void repo_hash_file(const repo *r, const repo_id *blobs, size_t n, repo_id *ret) {
        /* A tree hash: BLAKE2b-256 over the file's blob ids in order.  Each blob
         * id is itself a content hash checked whenever the blob is read, so this
         * names the whole content without a second pass over the bytes. */
        crypto_generichash(ret->b, REPO_ID_SIZE, (const uint8_t *) blobs, n * sizeof(repo_id),
                           r->encrypted ? r->hash_key : NULL, r->encrypted ? sizeof r->hash_key : 0);
}

void repo_hash_storage(const void *data, size_t n, repo_id *ret) {
        crypto_generichash(ret->b, REPO_ID_SIZE, data, n, NULL, 0);
}

size_t repo_seal(const repo *r, const void *in, size_t n, uint8_t *out) {
        unsigned long long clen = 0;

        if (!r->encrypted) {
                if (out != in)
                        memmove(out, in, n);
                return n;
        }
        randombytes_buf(out, 24);
        crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, &clen, in, n, NULL, 0, NULL, out, r->enc_key);
        return 24 + (size_t) clen;
}

int repo_unseal(const repo *r, const uint8_t *in, size_t n, uint8_t *out, size_t *ret_n) {
        unsigned long long mlen = 0;

        if (!r->encrypted) {
                if (out != in)
                        memmove(out, in, n);
                *ret_n = n;
                return 0;
        }
        if (n < REPO_SEAL_OVERHEAD)
                return repo_error(NULL, REPO_E_CORRUPT, "sealed object too short (%zu bytes)", n);
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, in + 24, n - 24, NULL, 0, in,
                                                       r->enc_key) < 0)
                return repo_error(NULL, REPO_E_CORRUPT, "authentication failed (damaged or forged data)");
        *ret_n = (size_t) mlen;
        return 0;
}

static char *hex(const uint8_t *b, size_t n) {
        char *s = malloc(n * 2 + 1);
        if (s)
                sodium_bin2hex(s, n * 2 + 1, b, n);
        return s;
}

static int unhex(const char *s, uint8_t *out, size_t n) {
        size_t got = 0;
        if (!s || strlen(s) != n * 2 || sodium_hex2bin(out, n, s, n * 2, NULL, &got, NULL) < 0 || got != n)
                return -EINVAL;
        return 0;
}

int repo_keyfile_create(repo_backend *be, const char *password, const repo_id *uuid, uint64_t ops, uint64_t mem,
                        const uint8_t enc_key[32], const uint8_t hash_key[32], repo_id *ret_id) {
        uint8_t salt[crypto_pwhash_SALTBYTES], kek[32], plain[MASTER_PLAIN];
        uint8_t sealed[24 + MASTER_PLAIN + 16];
        unsigned long long clen = 0;
        _cleanup_free_ char *salt_hex = NULL, *data_hex = NULL, *text = NULL;
        json_t *o;
        repo_id fid;
        char name[REPO_ID_HEX_SIZE + 8];
        int r;

        if (kdf_below_minimum(ops, mem))
                return repo_error(NULL, -EINVAL,
                                  "key derivation cost below the minimum (opslimit %llu, memlimit %llu; "
                                  "at least %llu and %llu)",
                                  (unsigned long long) ops, (unsigned long long) mem, (unsigned long long) KDF_OPS_MIN,
                                  (unsigned long long) KDF_MEM_MIN);
        randombytes_buf(salt, sizeof salt);
        if (crypto_pwhash(kek, sizeof kek, password, strlen(password), salt, ops, mem,
                          crypto_pwhash_ALG_ARGON2ID13) < 0)
                return repo_error(NULL, -ENOMEM, "key derivation: out of memory");
        memcpy(plain, enc_key, 32);
        memcpy(plain + 32, hash_key, 32);
        memcpy(plain + 64, uuid->b, REPO_ID_SIZE);
        randombytes_buf(sealed, 24);
        crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + 24, &clen, plain, sizeof plain, NULL, 0, NULL,
                                                   sealed, kek);
        sodium_memzero(kek, sizeof kek);
        sodium_memzero(plain, sizeof plain);
        salt_hex = hex(salt, sizeof salt);
        data_hex = hex(sealed, sizeof sealed);
        if (!salt_hex || !data_hex)
                return -ENOMEM;
        char created[32] = "", host[64] = "";
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
        (void) gethostname(host, sizeof host - 1);
        o = json_pack("{s:i, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "version", REPO_FORMAT_VERSION, "kdf",
                      "argon2id13", "opslimit", (json_int_t) ops, "memlimit", (json_int_t) mem, "salt", salt_hex,
                      "data", data_hex, "created", created, "host", host);
        if (!o)
                return -ENOMEM;
        text = json_dumps(o, JSON_INDENT(2));
        json_decref(o);
        if (!text)
                return -ENOMEM;
        repo_hash_storage(text, strlen(text), &fid);
        repo_id_to_hex(&fid, name);
        char path[sizeof name + 8];
        snprintf(path, sizeof path, "keys/%s", name);
        /* K1: one whole-object write (W1 locally, a PUT on S3): keys/ never holds a partial key. */
        r = repo_be_put(be, path, text, strlen(text));
        if (r >= 0 && ret_id)
                *ret_id = fid;
        return r;
}

_Static_assert(sizeof(((repo_keyfile *) 0)->salt) == crypto_pwhash_SALTBYTES, "salt size");

int repo_keyfile_parse(const char *text, size_t len, repo_keyfile *ret) {
        json_error_t jerr;
        json_t *o;
        json_int_t version = 0, ops = 0, mem = 0;
        const char *kdf = NULL, *salt_hex = NULL, *data_hex = NULL;
        repo_keyfile kf = {};

        if (len > REPO_MAX_KEYFILE)
                return repo_error(NULL, REPO_E_CORRUPT, "key file too large");
        o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!o)
                return repo_error(NULL, REPO_E_CORRUPT, "not JSON: %s", jerr.text);
        if (json_unpack(o, "{s:I, s:s, s:I, s:I, s:s, s:s}", "version", &version, "kdf", &kdf, "opslimit", &ops,
                        "memlimit", &mem, "salt", &salt_hex, "data", &data_hex) < 0 ||
            version != REPO_FORMAT_VERSION || strcmp(kdf, "argon2id13") != 0 ||
            unhex(salt_hex, kf.salt, sizeof kf.salt) < 0 || unhex(data_hex, kf.sealed, sizeof kf.sealed) < 0 ||
            ops < (json_int_t) crypto_pwhash_OPSLIMIT_MIN || ops > 64 ||
            mem < (json_int_t) crypto_pwhash_MEMLIMIT_MIN || mem > (json_int_t) 4 * 1024 * 1024 * 1024) {
                json_decref(o);
                return repo_error(NULL, REPO_E_CORRUPT, "malformed key file");
        }
        json_decref(o);
        kf.opslimit = (uint64_t) ops;
        kf.memlimit = (uint64_t) mem;
        *ret = kf;
        return 0;
}

static int try_keyfile(repo *r, const char *text, size_t len, const char *password, const char *name) {
        uint8_t kek[32], plain[MASTER_PLAIN];
        unsigned long long mlen = 0;
        repo_keyfile kf;
        int ret;

        ret = repo_keyfile_parse(text, len, &kf);
        if (ret < 0)
                return repo_error(r, ret, "key %s: %s", name, repo_errmsg());
        if (kdf_below_minimum(kf.opslimit, kf.memlimit))
                return repo_error(r, REPO_E_CORRUPT,
                                  "key %.16s: Argon2id cost below the minimum (opslimit %llu, memlimit %llu bytes; "
                                  "at least %llu and %llu): refusing a weakened key file",
                                  name, (unsigned long long) kf.opslimit, (unsigned long long) kf.memlimit,
                                  (unsigned long long) KDF_OPS_MIN, (unsigned long long) KDF_MEM_MIN);
        if (crypto_pwhash(kek, sizeof kek, password, strlen(password), kf.salt, kf.opslimit, (size_t) kf.memlimit,
                          crypto_pwhash_ALG_ARGON2ID13) < 0)
                return repo_error(r, -ENOMEM, "key %s: key derivation out of memory", name);
        ret = crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &mlen, NULL, kf.sealed + 24, sizeof kf.sealed - 24,
                                                         NULL, 0, kf.sealed, kek);
        sodium_memzero(kek, sizeof kek);
        if (ret < 0 || mlen != MASTER_PLAIN)
                return REPO_E_WRONG_PASSWORD;
        if (memcmp(plain + 64, r->repo_uuid.b, REPO_ID_SIZE) != 0) {
                sodium_memzero(plain, sizeof plain);
                return repo_error(r, REPO_E_CORRUPT, "key %s: belongs to another repository", name);
        }
        memcpy(r->enc_key, plain, 32);
        memcpy(r->hash_key, plain + 32, 32);
        r->key_ops = kf.opslimit;
        r->key_mem = kf.memlimit;
        sodium_memzero(plain, sizeof plain);
        return 0;
}

int repo_keyfile_unlock(repo *r, const char *password) {
        _cleanup_free_ repo_id *ids = NULL;
        size_t n = 0;
        int ret, last = REPO_E_WRONG_PASSWORD;

        ret = repo_list_objects(r, "keys", &ids, &n);
        if (ret < 0)
                return ret;
        if (n == 0)
                return repo_error(r, REPO_E_CORRUPT, "repository %s: encrypted but has no key file", r->dir);
        for (size_t i = 0; i < n; i++) {
                char name[REPO_ID_HEX_SIZE], path[REPO_ID_HEX_SIZE + 8];
                _cleanup_free_ uint8_t *buf = NULL;
                size_t len = 0;
                repo_id check;

                repo_id_to_hex(&ids[i], name);
                snprintf(path, sizeof path, "keys/%s", name);
                ret = repo_be_get(r->be, path, REPO_MAX_KEYFILE, &buf, &len);
                if (ret < 0)
                        return repo_error_from_thread(r, ret);
                repo_hash_storage(buf, len, &check);
                if (memcmp(check.b, ids[i].b, REPO_ID_SIZE) != 0) {
                        last = repo_error(r, REPO_E_CORRUPT, "key %s: content does not match its name", name);
                        continue;
                }
                ret = try_keyfile(r, (const char *) buf, len, password, name);
                if (ret == 0) {
                        r->key_id = ids[i];
                        return 0;
                }
                if (ret != REPO_E_WRONG_PASSWORD)
                        last = ret;
        }
        if (last == REPO_E_WRONG_PASSWORD)
                return repo_error(r, REPO_E_WRONG_PASSWORD, "repository %s: wrong password", r->dir);
        return last;
}
