/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/fileio.c: reading and writing repository files.
 *
 * Every object (pack, index, backup record, key) is immutable and named by
 * the BLAKE2b-256 of its stored bytes.  New objects are written to tmp/,
 * fsynced, renamed to their final name and the directory fsynced, so a name
 * never refers to a partial file (invariant W1 in docs/design/repository.md).
 */
#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>

#include "repo-int.h"
#include "backend.h"
#include "lib/core/array.h"
#include "test-hook.h"

void repo_id_to_hex(const repo_id *id, char ret_hex[REPO_ID_HEX_SIZE]) {
        sodium_bin2hex(ret_hex, REPO_ID_HEX_SIZE, id->b, REPO_ID_SIZE);
}

int repo_id_from_hex(const char *hex, repo_id *ret_id) {
        size_t got = 0;
        repo_id id;

        if (!hex || strlen(hex) != REPO_ID_SIZE * 2)
                return -EINVAL;
        for (const char *p = hex; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return -EINVAL;
        if (sodium_hex2bin(id.b, REPO_ID_SIZE, hex, REPO_ID_SIZE * 2, NULL, &got, NULL) < 0 ||
            got != REPO_ID_SIZE)
                return -EINVAL;
        *ret_id = id;
        return 0;
}

int repo_read_file_at(int dir_fd, const char *path, size_t max, uint8_t **ret, size_t *ret_n) {
        _cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t done = 0;

        if (fd < 0)
                return repo_error(NULL, -errno, "%s: %m", path);
        if (fstat(fd, &st) < 0)
                return repo_error(NULL, -errno, "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return repo_error(NULL, REPO_E_CORRUPT, "%s: not a regular file", path);
        if ((uint64_t) st.st_size > max)
                return repo_error(NULL, REPO_E_CORRUPT, "%s: %llu bytes exceeds the limit of %zu", path,
                                  (unsigned long long) st.st_size, max);
        buf = malloc(st.st_size ? (size_t) st.st_size : 1);
        if (!buf)
                return -ENOMEM;
        while (done < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + done, (size_t) st.st_size - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return repo_error(NULL, -errno, "%s: read: %m", path);
                if (k == 0)
                        return repo_error(NULL, REPO_E_CORRUPT, "%s: file shrank while reading", path);
                done += (size_t) k;
        }
        *ret = TAKE_PTR(buf);
        *ret_n = done;
        return 0;
}

int repo_fsync_dir(int dir_fd, const char *sub) {
        /* Test hook: fail the fsync of this directory (a full disk, an I/O error). */
        if (TEST_HOOK_IS("LVSS_REPO_FAIL_DIR_FSYNC", sub))
                return repo_error(NULL, -EIO, "%s: fsync directory: %s (injected by LVSS_REPO_FAIL_DIR_FSYNC)", sub,
                                  strerror(EIO));
        _cleanup_close_ int fd = openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return repo_error(NULL, -errno, "%s: fsync directory: %m", sub);
        return 0;
}

int repo_object_path(const char *subdir, const repo_id *id, char *buf, size_t size) {
        char hex[REPO_ID_HEX_SIZE];
        int k;

        repo_id_to_hex(id, hex);
        if (strcmp(subdir, "data") == 0)
                k = snprintf(buf, size, "data/%.2s/%s", hex, hex);
        else
                k = snprintf(buf, size, "%s/%s", subdir, hex);
        return k < 0 || (size_t) k >= size ? -ENAMETOOLONG : 0;
}

int repo_write_object(repo *r, const char *subdir, const void *data, size_t n, repo_id *ret_id) {
        char path[160];
        repo_id id;
        int ret;

        repo_hash_storage(data, n, &id);
        ret = repo_object_path(subdir, &id, path, sizeof path);
        if (ret < 0)
                return ret;
        ret = repo_be_put(r->be, path, data, n);
        if (ret < 0)
                return repo_error_from_thread(r, ret);
        if (ret_id)
                *ret_id = id;
        return 0;
}

/* The local cache of index objects and records of a remote repository
 * (docs/design/repository.md §15.2).  Entries are checked against their
 * name on every read; failures to write the cache are ignored. */
static bool cached_kind(const repo *r, const char *subdir) {
        return r->be->remote && r->cache_dir[0] &&
               (strcmp(subdir, "index") == 0 || strcmp(subdir, "backups") == 0);
}

int repo_cache_setup(repo *r) {
        const char *base = getenv("LVSS_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        char idhex[REPO_ID_HEX_SIZE];
        _cleanup_free_ char *top = NULL, *path = NULL;
        int k;

        r->cache_dir[0] = 0;
        if (!r->be->remote)
                return 0;
        if (base && *base)
                k = asprintf(&top, "%s", base);
        else if (xdg && *xdg == '/')
                k = asprintf(&top, "%s/lvss", xdg);
        else if (home && *home == '/')
                k = asprintf(&top, "%s/.cache/lvss", home);
        else
                return 0;   /* no cache: every read goes to the store */
        if (k < 0 || strlen(top) > PATH_MAX - 200)
                return 0;
        repo_id_to_hex(&r->repo_uuid, idhex);
        /* create each level 0700; an existing one is used as it is */
        path = strdup(top);
        if (!path)
                return 0;
        for (char *p = path + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(path, 0700);
                        *p = '/';
                }
        (void) mkdir(path, 0700);
        (void) snprintf(r->cache_dir, sizeof r->cache_dir, "%s/%.64s", top, idhex);
        (void) mkdir(r->cache_dir, 0700);
        for (const char *const *sd = (const char *const[]) {"index", "backups", NULL}; *sd; sd++) {
                _cleanup_free_ char *sub = NULL;
                if (asprintf(&sub, "%s/%s", r->cache_dir, *sd) >= 0)
                        (void) mkdir(sub, 0700);
        }
        return 0;
}

static int cache_read(repo *r, const char *path, size_t max, uint8_t **ret, size_t *ret_n) {
        _cleanup_close_ int dfd = open(r->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return -errno;
        return repo_read_file_at(dfd, path, max, ret, ret_n);
}

static void cache_write(repo *r, const char *path, const uint8_t *data, size_t n) {
        _cleanup_free_ char *full = NULL, *tmp = NULL;
        uint8_t rnd[8];
        char rhex[17];

        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(rhex, sizeof rhex, rnd, sizeof rnd);
        if (asprintf(&full, "%s/%s", r->cache_dir, path) < 0 || asprintf(&tmp, "%s.%s.tmp", full, rhex) < 0)
                return;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return;
        size_t done = 0;
        while (done < n) {
                ssize_t k = write(fd, data + done, n - done);
                if (k <= 0) {
                        (void) unlink(tmp);
                        return;
                }
                done += (size_t) k;
        }
        if (rename(tmp, full) < 0)
                (void) unlink(tmp);
}

/* Drop cache entries of subdir that the store's listing (ids, sorted) no longer has. */
void repo_cache_trim(repo *r, const char *subdir, const repo_id *ids, size_t n) {
        _cleanup_free_ char *path = NULL;
        DIR *d;
        struct dirent *de;

        if (!cached_kind(r, subdir))
                return;
        if (asprintf(&path, "%s/%s", r->cache_dir, subdir) < 0)
                return;
        d = opendir(path);
        if (!d)
                return;
        while ((de = readdir(d))) {
                repo_id id;
                if (de->d_name[0] == '.')
                        continue;
                if (repo_id_from_hex(de->d_name, &id) == 0 &&
                    bsearch(&id, ids, n, sizeof *ids, (int (*)(const void *, const void *)) repo_id_cmp))
                        continue;
                (void) unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
}

static const char *kind_of(const char *subdir) {
        if (strcmp(subdir, "data") == 0)
                return "pack";
        if (strcmp(subdir, "backups") == 0)
                return "backup";
        if (strcmp(subdir, "keys") == 0)
                return "key";
        return subdir;
}

int repo_read_object(repo *r, const char *subdir, const repo_id *id, size_t max, uint8_t **ret, size_t *ret_n) {
        _cleanup_free_ uint8_t *buf = NULL, *out = NULL;
        char path[160], hex[REPO_ID_HEX_SIZE];
        size_t n = 0, m = 0;
        repo_id check;
        int k;

        k = repo_object_path(subdir, id, path, sizeof path);
        if (k < 0)
                return k;
        repo_id_to_hex(id, hex);
        bool from_cache = false;
        if (cached_kind(r, subdir) && cache_read(r, path, max, &buf, &n) == 0) {
                repo_hash_storage(buf, n, &check);
                if (memcmp(check.b, id->b, REPO_ID_SIZE) == 0)
                        from_cache = true;
                else
                {
                        free(buf);   /* a damaged entry: download again, rewrite */
                        buf = NULL;
                }
        }
        if (!from_cache)
                k = repo_be_get(r->be, path, max, &buf, &n);
        else
                k = 0;
        if (k == -ENOENT)
                return repo_error(r, k, "%s %s: missing", kind_of(subdir), hex);
        if (k < 0)
                return repo_error(r, k, "%s %s: %s", kind_of(subdir), hex, repo_errmsg());
        repo_hash_storage(buf, n, &check);
        if (memcmp(check.b, id->b, REPO_ID_SIZE) != 0)
                return repo_error(r, REPO_E_CORRUPT, "%s %s: content does not match its name (damaged)",
                                  kind_of(subdir), hex);
        if (!from_cache && cached_kind(r, subdir))
                cache_write(r, path, buf, n);
        /* libsodium decrypts in place only at the same address, so unseal into a new buffer. */
        out = malloc(n ? n : 1);
        if (!out)
                return -ENOMEM;
        k = repo_unseal(r, buf, n, out, &m);
        if (k < 0)
                return repo_error(r, k, "%s %s: %s", kind_of(subdir), hex, repo_errmsg());
        *ret = TAKE_PTR(out);
        *ret_n = m;
        return 0;
}

int repo_id_cmp(const repo_id *a, const repo_id *b) {
        return memcmp(a->b, b->b, REPO_ID_SIZE);
}

static int id_cmp(const void *a, const void *b) {
        return memcmp(a, b, REPO_ID_SIZE);
}

int repo_list_objects(repo *r, const char *subdir, repo_id **ret, size_t *ret_n) {
        char **names = NULL;
        size_t nn = 0, n = 0;
        repo_id *ids;
        int k;

        k = repo_be_list(r->be, subdir, &names, &nn);
        if (k < 0)
                return repo_error_from_thread(r, k);
        ids = malloc((nn ? nn : 1) * sizeof *ids);
        if (!ids) {
                repo_be_names_free(names, nn);
                return -ENOMEM;
        }
        /* Names that are not ids (stray files) are ignored by readers. */
        for (size_t i = 0; i < nn; i++)
                if (repo_id_from_hex(names[i], &ids[n]) == 0)
                        n++;
        repo_be_names_free(names, nn);
        if (n > 1)
                qsort(ids, n, sizeof *ids, id_cmp);
        repo_cache_trim(r, subdir, ids, n);
        *ret = ids;
        *ret_n = n;
        return 0;
}

int repo_delete_object(repo *r, const char *subdir, const repo_id *id) {
        char path[160];
        int k = repo_object_path(subdir, id, path, sizeof path);
        if (k < 0)
                return k;
        k = repo_be_delete(r->be, path);
        return k < 0 ? repo_error_from_thread(r, k) : 0;
}
