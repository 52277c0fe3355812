/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/keys.c: several passwords for one repository
 * (docs/design/repository.md §3.2, K1-K4).
 *
 * Every key file wraps the same master keys (encryption key, hash key,
 * repository id) with its own password; crypto.c writes (K1) and unlocks
 * them.  Here: listing, adding (the handle already holds the master keys),
 * removing (never the last one, never the one in use: K3), and changing a
 * password as add-then-remove (K4), so at every instant at least one key
 * file the caller knows the password of exists.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>

#include "packer.h"

static int need_keys(repo *r) {
        if (!r->encrypted)
                return repo_error(r, -EINVAL, "repository %s is not encrypted: it has no keys", r->dir);
        if (!r->exclusive)
                return repo_error(r, -EINVAL, "key changes need the exclusive lock");
        return 0;
}

static void key_meta(repo *r, const repo_id *id, repo_key_info *ki) {
        _cleanup_free_ uint8_t *buf = NULL;
        char hex[REPO_ID_HEX_SIZE], path[REPO_ID_HEX_SIZE + 8];
        const char *created = NULL, *host = NULL;
        size_t n = 0;
        json_t *o;

        repo_id_to_hex(id, hex);
        snprintf(path, sizeof path, "keys/%s", hex);
        if (repo_be_get(r->be, path, REPO_MAX_KEYFILE, &buf, &n) < 0)
                return;
        o = json_loadb((const char *) buf, n, 0, NULL);
        if (!o)
                return;
        if (json_unpack(o, "{s?s, s?s}", "created", &created, "host", &host) == 0) {
                snprintf(ki->created, sizeof ki->created, "%s", created ? created : "");
                snprintf(ki->host, sizeof ki->host, "%s", host ? host : "");
        }
        json_decref(o);
}

int repo_key_list(repo *r, repo_key_info **ret, size_t *ret_n) {
        _cleanup_free_ repo_id *ids = NULL;
        repo_key_info *ki;
        size_t n = 0;
        int k;

        if (!r->encrypted)
                return repo_error(r, -EINVAL, "repository %s is not encrypted: it has no keys", r->dir);
        k = repo_list_objects(r, "keys", &ids, &n);
        if (k < 0)
                return k;
        ki = calloc(n + 1, sizeof *ki);
        if (!ki)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                ki[i].id = ids[i];
                ki[i].current = memcmp(ids[i].b, r->key_id.b, REPO_ID_SIZE) == 0;
                key_meta(r, &ids[i], &ki[i]);
        }
        *ret = ki;
        *ret_n = n;
        return 0;
}

int repo_resolve_key(repo *r, const char *prefix, repo_id *ret_id) {
        _cleanup_free_ repo_id *ids = NULL;
        size_t n = 0, len = strlen(prefix), found = 0;
        int k;

        if (len < 4 || len > REPO_ID_SIZE * 2 || strspn(prefix, "0123456789abcdef") != len)
                return repo_error(r, -EINVAL, "key id '%s': expected at least 4 lowercase hex digits", prefix);
        k = repo_list_objects(r, "keys", &ids, &n);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n; i++) {
                char hex[REPO_ID_HEX_SIZE];
                repo_id_to_hex(&ids[i], hex);
                if (strncmp(hex, prefix, len) == 0) {
                        *ret_id = ids[i];
                        found++;
                }
        }
        if (found == 0)
                return repo_error(r, -EINVAL, "key %s: not found in %s", prefix, r->dir);
        if (found > 1)
                return repo_error(r, -EINVAL, "key %s: prefix is ambiguous", prefix);
        return 0;
}

int repo_key_add(repo *r, const char *password, repo_id *ret_id) {
        int k = need_keys(r);

        if (k < 0)
                return k;
        if (!password || !*password)
                return repo_error(r, -EINVAL, "key add: empty password");
        k = repo_keyfile_create(r->be, password, &r->repo_uuid, r->key_ops, r->key_mem, r->enc_key, r->hash_key,
                                ret_id);
        return k < 0 ? repo_error_from_thread(r, k) : k;
}

int repo_key_remove(repo *r, const repo_id *id) {
        _cleanup_free_ repo_id *ids = NULL;
        char hex[REPO_ID_HEX_SIZE], path[REPO_ID_HEX_SIZE + 8];
        size_t n = 0;
        int k = need_keys(r);

        if (k < 0)
                return k;
        repo_id_to_hex(id, hex);
        k = repo_list_objects(r, "keys", &ids, &n);
        if (k < 0)
                return k;
        if (n <= 1)
                return repo_error(r, -EINVAL, "key %.16s: refusing to remove the last key of %s", hex, r->dir);
        if (memcmp(id->b, r->key_id.b, REPO_ID_SIZE) == 0)
                return repo_error(
                        r, -EINVAL,
                        "key %.16s: refusing to remove the key in use (open with another password to remove it)", hex);
        snprintf(path, sizeof path, "keys/%s", hex);
        uint64_t sz;
        if (repo_be_size(r->be, path, &sz) == -ENOENT)
                return repo_error(r, -EINVAL, "key %.16s: remove: not found", hex);
        k = repo_be_delete(r->be, path);
        if (k >= 0)
                k = repo_be_sync(r->be, "keys");
        return k < 0 ? repo_error_from_thread(r, k) : k;
}

int repo_key_passwd(repo *r, const char *new_password, repo_id *ret_id) {
        char hex[REPO_ID_HEX_SIZE], path[REPO_ID_HEX_SIZE + 8];
        repo_id fresh;
        int k;

        /* K4: the new key is durable before the old one goes. */
        k = repo_key_add(r, new_password, &fresh);
        if (k < 0)
                return k;
        repo_crash_point("key-after-add");
        if (memcmp(fresh.b, r->key_id.b, REPO_ID_SIZE) != 0) {
                repo_id_to_hex(&r->key_id, hex);
                snprintf(path, sizeof path, "keys/%s", hex);
                k = repo_be_delete(r->be, path);
                if (k >= 0)
                        k = repo_be_sync(r->be, "keys");
                if (k < 0)
                        return repo_error_from_thread(r, k);
        }
        r->key_id = fresh;
        if (ret_id)
                *ret_id = fresh;
        return 0;
}
