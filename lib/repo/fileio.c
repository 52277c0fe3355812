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
                return repo_error(-errno, "%s: %m", path);
        if (fstat(fd, &st) < 0)
                return repo_error(-errno, "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return repo_error(REPO_E_CORRUPT, "%s: not a regular file", path);
        if ((uint64_t) st.st_size > max)
                return repo_error(REPO_E_CORRUPT, "%s: %llu bytes exceeds the limit of %zu", path,
                                  (unsigned long long) st.st_size, max);
        buf = malloc(st.st_size ? (size_t) st.st_size : 1);
        if (!buf)
                return -ENOMEM;
        while (done < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + done, (size_t) st.st_size - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return repo_error(-errno, "%s: read: %m", path);
                if (k == 0)
                        return repo_error(REPO_E_CORRUPT, "%s: file shrank while reading", path);
                done += (size_t) k;
        }
        *ret = TAKE_PTR(buf);
        *ret_n = done;
        return 0;
}

int repo_fsync_dir(int dir_fd, const char *sub) {
        /* Test hook: fail the fsync of this directory (a full disk, an I/O error). */
        if (TEST_HOOK_IS("LVSS_REPO_FAIL_DIR_FSYNC", sub))
                return repo_error(-EIO, "%s: fsync directory: %s (injected by LVSS_REPO_FAIL_DIR_FSYNC)", sub,
                                  strerror(EIO));
        _cleanup_close_ int fd = openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return repo_error(-errno, "%s: fsync directory: %m", sub);
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

static int write_all(int fd, const void *data, size_t n) {
        const uint8_t *p = data;
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int repo_write_object(repo *r, const char *subdir, const void *data, size_t n, repo_id *ret_id) {
        char tmp[64], path[160], parent[160];
        uint8_t rnd[8];
        char rhex[17];
        repo_id id;
        int ret;

        repo_hash_storage(data, n, &id);
        ret = repo_object_path(subdir, &id, path, sizeof path);
        if (ret < 0)
                return ret;
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(rhex, sizeof rhex, rnd, sizeof rnd);
        snprintf(tmp, sizeof tmp, "tmp/%s-%s", subdir, rhex);

        _cleanup_close_ int fd = openat(r->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return repo_error(-errno, "%s/%s: %m", r->dir, tmp);
        ret = write_all(fd, data, n);
        if (ret == 0 && fsync(fd) < 0)
                ret = -errno;
        if (ret < 0) {
                (void) unlinkat(r->dir_fd, tmp, 0);
                return repo_error(ret, "%s/%s: write: %s", r->dir, tmp, strerror(-ret));
        }
        snprintf(parent, sizeof parent, "%s", path);
        *strrchr(parent, '/') = 0;
        if (mkdirat(r->dir_fd, parent, 0700) == 0) {
                /* The new directory's name must be durable before an object
                 * under it is: a failed fsync fails the write. */
                ret = repo_fsync_dir(r->dir_fd, strcmp(subdir, "data") == 0 ? "data" : ".");
                if (ret < 0) {
                        (void) unlinkat(r->dir_fd, tmp, 0);
                        return ret;
                }
        } else if (errno != EEXIST) {
                ret = repo_error(-errno, "%s/%s: %m", r->dir, parent);
                (void) unlinkat(r->dir_fd, tmp, 0);
                return ret;
        }
        if (renameat(r->dir_fd, tmp, r->dir_fd, path) < 0) {
                ret = repo_error(-errno, "%s/%s: rename: %m", r->dir, path);
                (void) unlinkat(r->dir_fd, tmp, 0);
                return ret;
        }
        ret = repo_fsync_dir(r->dir_fd, parent);
        if (ret < 0)
                return ret;
        if (ret_id)
                *ret_id = id;
        return 0;
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
        k = repo_read_file_at(r->dir_fd, path, max, &buf, &n);
        if (k == -ENOENT)
                return repo_error(k, "%s %s: missing", kind_of(subdir), hex);
        if (k < 0)
                return repo_error(k, "%s %s: %s", kind_of(subdir), hex, repo_errmsg());
        repo_hash_storage(buf, n, &check);
        if (memcmp(check.b, id->b, REPO_ID_SIZE) != 0)
                return repo_error(REPO_E_CORRUPT, "%s %s: content does not match its name (damaged)",
                                  kind_of(subdir), hex);
        /* libsodium decrypts in place only at the same address, so unseal into a new buffer. */
        out = malloc(n ? n : 1);
        if (!out)
                return -ENOMEM;
        k = repo_unseal(r, buf, n, out, &m);
        if (k < 0)
                return repo_error(k, "%s %s: %s", kind_of(subdir), hex, repo_errmsg());
        *ret = TAKE_PTR(out);
        *ret_n = m;
        return 0;
}

static int add_id(repo_id **ids, size_t *n, size_t *cap, const repo_id *id) {
        if (ARRAY_RESERVE_ONE(*ids, *cap, *n, 64) < 0)
                return -ENOMEM;
        (*ids)[(*n)++] = *id;
        return 0;
}

static int scan_dir(int dir_fd, const char *sub, repo_id **ids, size_t *n, size_t *cap, bool recurse) {
        int fd = openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        struct dirent *de;
        int ret = 0;

        if (fd < 0)
                return errno == ENOENT ? 0 : repo_error(-errno, "%s: %m", sub);
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d))) {
                repo_id id;
                if (de->d_name[0] == '.')
                        continue;
                if (recurse && strlen(de->d_name) == 2) {
                        char child[64];
                        snprintf(child, sizeof child, "%s/%s", sub, de->d_name);
                        ret = scan_dir(dir_fd, child, ids, n, cap, false);
                        if (ret < 0)
                                break;
                        continue;
                }
                /* Names that are not ids (stray files) are ignored by readers. */
                if (repo_id_from_hex(de->d_name, &id) < 0)
                        continue;
                ret = add_id(ids, n, cap, &id);
                if (ret < 0)
                        break;
        }
        closedir(d);
        return ret;
}

static int id_cmp(const void *a, const void *b) {
        return memcmp(a, b, REPO_ID_SIZE);
}

int repo_list_objects(repo *r, const char *subdir, repo_id **ret, size_t *ret_n) {
        repo_id *ids = NULL;
        size_t n = 0, cap = 0;
        int k = scan_dir(r->dir_fd, subdir, &ids, &n, &cap, strcmp(subdir, "data") == 0);
        if (k < 0) {
                free(ids);
                return k;
        }
        if (n > 1)
                qsort(ids, n, sizeof *ids, id_cmp);
        *ret = ids;
        *ret_n = n;
        return 0;
}
