/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/repo/test-repo.c: pack/index/record round trips, encryption,
 * deduplication, backup types and chains, corruption detection, path
 * traversal refusal, cleanup after an interrupted backup.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "helpers.h"
#include "repo-int.h"

/* A skipped case (a hook compiled out of this build) is counted: any skip
 * makes the binary exit 77, so Meson reports it as skipped, not passed. */
static int skipped;
#define SKIP() do { skipped++; skip(); } while (0)

static const repo_init_options plain_opts = {
        .encrypted = false, .chunker = {4096, 16384, 65536}, .pack_size = 256 * 1024,
};
static const repo_init_options enc_opts = {
        .encrypted = true, .chunker = {4096, 16384, 65536}, .pack_size = 256 * 1024,
#if LVSS_TEST_HOOKS
        .kdf_opslimit = 1, .kdf_memlimit = 8192,   /* allowed with LVSS_BACKUP_KDF_MIN=1 (set in main) */
#endif
};

typedef struct fx {
        char *dir;
        char repo[512], src[512], out[512];
} fx;

static int fx_setup(void **state) {
        fx *f = calloc(1, sizeof *f);
        uint8_t *data = malloc(300000);

        f->dir = scratch_dir();
        snprintf(f->repo, sizeof f->repo, "%s/repo", f->dir);
        snprintf(f->src, sizeof f->src, "%s/src", f->dir);
        snprintf(f->out, sizeof f->out, "%s/out", f->dir);
        char p[700];
        fill_random(data, 300000, 1);
        snprintf(p, sizeof p, "%s/big.bin", f->src);
        write_file(p, data, 300000);
        snprintf(p, sizeof p, "%s/sub/dir/small.txt", f->src);
        write_file(p, "hello, world\n", 13);
        snprintf(p, sizeof p, "%s/empty", f->src);
        write_file(p, "", 0);
        memset(data, 'x', 200000);
        snprintf(p, sizeof p, "%s/sub/zeros", f->src);
        write_file(p, data, 200000);
        free(data);
        *state = f;
        return 0;
}

static int fx_teardown(void **state) {
        fx *f = *state;
        scratch_cleanup(f->dir);
        free(f);
        return 0;
}

static void backup_tree(repo *r, const char *src, int type, repo_id *ret_id, repo_stats *ret_stats) {
        repo_backup *b = NULL;
        assert_int_equal(repo_backup_new(r, type, NULL, &b), 0);
        assert_int_equal(repo_backup_add_component(b, "Test/comp"), 0);
        assert_int_equal(repo_backup_set_components_doc(b, "{\"doc\":1}"), 0);
        assert_int_equal(repo_backup_add_writer(b, "Test Writer", "{\"meta\":true}", "stamp-1"), 0);
        assert_int_equal(repo_backup_add_tree(b, src, "src"), 0);
        assert_int_equal(repo_backup_commit(b, ret_id), 0);
        if (ret_stats)
                *ret_stats = *repo_backup_stats(b);
        repo_backup_free(b);
}

/* Entries with data or a target (not directories): what the older tests count. */
static size_t n_data(const repo_record *rec) {
        size_t n = 0;
        for (size_t i = 0; i < rec->n_files; i++)
                n += rec->files[i].type != REPO_FILE_DIR;
        return n;
}

static const repo_file *data_entry(const repo_record *rec, size_t k) {
        for (size_t i = 0; i < rec->n_files; i++)
                if (rec->files[i].type != REPO_FILE_DIR && k-- == 0)
                        return &rec->files[i];
        fail_msg("record has no data entry %zu", k);
        return NULL;
}

static void assert_same_file(const char *a, const char *b) {
        size_t na = 0, nb = 0;
        uint8_t *x = read_whole(a, &na), *y = read_whole(b, &nb);
        assert_non_null(x);
        assert_non_null(y);
        assert_int_equal(na, nb);
        assert_memory_equal(x, y, na);
        free(x);
        free(y);
}

static void assert_restored(fx *f) {
        char a[800], b[800];
        static const char *const files[] = {"big.bin", "sub/dir/small.txt", "empty", "sub/zeros"};
        for (size_t i = 0; i < 4; i++) {
                snprintf(a, sizeof a, "%s/%s", f->src, files[i]);
                snprintf(b, sizeof b, "%s/src/%s", f->out, files[i]);
                assert_same_file(a, b);
        }
}

/* ---- format round trips ---- */

/* lib/repo's codes are its own range: no errno, no LVSS_E_*, no MSTORE_E_* value. */
static void test_error_codes(void **state) {
        const int codes[] = { REPO_E_CORRUPT, REPO_E_WRONG_PASSWORD, REPO_E_VERSION };
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
                assert_true(codes[i] <= -4096);
                assert_true(codes[i] > _REPO_E_FIRST);
                assert_true(codes[i] < -0x7000);   /* below MSTORE_E_* (-0x6001..-0x6100) */
                assert_true(strncmp(repo_strerror(codes[i]), "REPO_E_", 7) == 0);
        }
        assert_string_equal(repo_strerror(-ENOENT), "No such file or directory");
        /* The detail is the thread's last message; a wrapped message keeps the old one. */
        repo_error_clear(NULL);
        assert_string_equal(repo_errmsg(), "unknown error");
        assert_int_equal(repo_error(NULL, REPO_E_CORRUPT, "pack %s: bad", "3fa2"), REPO_E_CORRUPT);
        assert_int_equal(repo_error(NULL, REPO_E_CORRUPT, "open: %s", repo_errmsg()), REPO_E_CORRUPT);
        assert_string_equal(repo_errmsg(), "open: pack 3fa2: bad");
        repo_error_clear(NULL);
}

static void test_pack_header_roundtrip(void **state) {
        pack_blob in[3], *out = NULL;
        uint8_t buf[REPO_PACK_HEADER_FIXED + 3 * REPO_PACK_ENTRY_SIZE];
        size_t n, count = 0;

        for (int i = 0; i < 3; i++) {
                fill_random(in[i].id.b, REPO_ID_SIZE, (uint64_t) i + 10);
                in[i].stored = 1000u + (uint32_t) i;
                in[i].raw = 2000u + (uint32_t) i;
                in[i].flags = i & 1 ? REPO_BLOB_COMPRESSED : 0;
        }
        n = repo_pack_header_encode(in, 3, buf);
        assert_int_equal(n, sizeof buf);
        assert_int_equal(repo_pack_header_decode(buf, n, &out, &count), 0);
        assert_int_equal(count, 3);
        for (int i = 0; i < 3; i++) {
                assert_memory_equal(out[i].id.b, in[i].id.b, REPO_ID_SIZE);
                assert_int_equal(out[i].stored, in[i].stored);
                assert_int_equal(out[i].raw, in[i].raw);
                assert_int_equal(out[i].flags, in[i].flags);
        }
        free(out);
        /* truncated, bad magic, bad version, unknown flag */
        assert_int_equal(repo_pack_header_decode(buf, n - 1, &out, &count), REPO_E_CORRUPT);
        buf[0] = 'X';
        assert_int_equal(repo_pack_header_decode(buf, n, &out, &count), REPO_E_CORRUPT);
        buf[0] = 'L';
        buf[4] = 9;
        assert_int_equal(repo_pack_header_decode(buf, n, &out, &count), REPO_E_VERSION);
        buf[4] = 1;
        buf[REPO_PACK_HEADER_FIXED + 1] = 0x80;
        assert_int_equal(repo_pack_header_decode(buf, n, &out, &count), REPO_E_CORRUPT);
}

static void test_index_roundtrip(void **state) {
        repo_index a = {}, b = {};
        uint32_t p0, p1;
        repo_id ids[50];
        char *json = NULL;

        assert_int_equal(repo_index_reserve_pack(&a, &p0), 0);
        assert_int_equal(repo_index_reserve_pack(&a, &p1), 0);
        fill_random(a.packs[0].b, REPO_ID_SIZE, 100);
        fill_random(a.packs[1].b, REPO_ID_SIZE, 101);
        for (int i = 0; i < 50; i++) {
                fill_random(ids[i].b, REPO_ID_SIZE, (uint64_t) i + 200);
                assert_int_equal(repo_index_add(&a, &ids[i], i % 2 ? p1 : p0, (uint64_t) i * 1000, 900, 1800,
                                                REPO_BLOB_COMPRESSED),
                                 1);
        }
        assert_int_equal(repo_index_add(&a, &ids[0], p1, 5, 5, 5, 0), 0);   /* duplicate: first wins */
        assert_int_equal(repo_index_to_json(&a, 0, &json), 0);
        assert_int_equal(repo_index_load_json(&b, json, strlen(json)), 0);
        assert_int_equal(b.n_used, 50);
        for (int i = 0; i < 50; i++) {
                index_entry *e = repo_index_find(&b, &ids[i]);
                assert_non_null(e);
                assert_int_equal(index_entry_offset(e), (uint64_t) i * 1000);
                assert_int_equal(e->length, 900);
                assert_int_equal(e->raw_length, 1800);
                assert_memory_equal(b.packs[e->pack].b, a.packs[i % 2 ? p1 : p0].b, REPO_ID_SIZE);
        }
        free(json);
        repo_index_done(&a);
        repo_index_done(&b);
        assert_int_equal(repo_index_parse_check("{\"version\":2,\"packs\":[]}", 24), REPO_E_VERSION);
        assert_int_equal(repo_index_parse_check("{\"version\":1,\"packs\":[{\"id\":\"zz\",\"blobs\":[]}]}", 45),
                         REPO_E_CORRUPT);
        assert_int_equal(repo_index_parse_check("nope", 4), REPO_E_CORRUPT);
}

static void test_record_roundtrip(void **state) {
        repo_record rec = {}, *back = NULL;
        repo_file files[2] = {};
        repo_id blobs[3];
        char *comps[] = {"Mail Store/h1/SG1"};
        repo_writer_info w = {"Mail Store Writer", "{\"x\":1}", "stamp-42"};
        char *json = NULL;

        for (int i = 0; i < 3; i++)
                fill_random(blobs[i].b, REPO_ID_SIZE, (uint64_t) i);
        files[0] = (repo_file) {.path = "srv/mail/SG1/DB1.edb", .size = 3 * 100000, .mode = 0640,
                                .mtime_ns = 1234567890123456789LL, .ctime_ns = 77, .ino = 4242, .hash = {{1}},
                                .n_blobs = 3, .blobs = blobs};
        files[1] = (repo_file) {.path = "srv/mail/SG1/empty", .mode = 0600, .mtime_ns = 5, .hash = {{2}}};
        rec.type = REPO_BACKUP_INCREMENTAL;
        rec.time_ns = 1700000000000000000LL;
        rec.hostname = "h1";
        rec.has_based_on = true;
        fill_random(rec.based_on.b, REPO_ID_SIZE, 9);
        rec.components = comps;
        rec.n_components = 1;
        rec.components_doc = "{\"components\":[]}";
        rec.writers = &w;
        rec.n_writers = 1;
        rec.files = files;
        rec.n_files = 2;
        rec.bytes_read = 11;
        rec.bytes_added = 22;
        rec.duration_ms = 33;
        assert_int_equal(repo_record_to_json(&rec, &json), 0);
        assert_int_equal(repo_record_parse(json, strlen(json), &back), 0);
        assert_int_equal(back->type, REPO_BACKUP_INCREMENTAL);
        assert_int_equal(back->time_ns, rec.time_ns);
        assert_string_equal(back->hostname, "h1");
        assert_true(back->has_based_on);
        assert_memory_equal(back->based_on.b, rec.based_on.b, REPO_ID_SIZE);
        assert_int_equal(back->n_components, 1);
        assert_string_equal(back->components[0], "Mail Store/h1/SG1");
        assert_string_equal(back->components_doc, rec.components_doc);
        assert_int_equal(back->n_writers, 1);
        assert_string_equal(back->writers[0].metadata, "{\"x\":1}");
        assert_string_equal(back->writers[0].stamp, "stamp-42");
        assert_int_equal(back->n_files, 2);
        assert_string_equal(back->files[0].path, files[0].path);
        assert_int_equal(back->files[0].size, files[0].size);
        assert_int_equal(back->files[0].mode, 0640);
        assert_int_equal(back->files[0].mtime_ns, files[0].mtime_ns);
        assert_int_equal(back->files[0].ctime_ns, 77);
        assert_int_equal(back->files[0].ino, 4242);
        assert_int_equal(back->files[0].n_blobs, 3);
        assert_memory_equal(back->files[0].blobs, blobs, sizeof blobs);
        assert_int_equal(back->bytes_added, 22);
        repo_record_free(back);
        free(json);

        /* escaping paths are refused by the parser */
        static const char *const bad[] = {"../etc/passwd", "/etc/passwd", "a/../../b", "a//b", "./a", "a/.", ""};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                files[0].path = (char *) bad[i];
                assert_int_equal(repo_record_to_json(&rec, &json), 0);
                assert_int_equal(repo_record_parse(json, strlen(json), &back), REPO_E_CORRUPT);
                free(json);
        }
}

static void test_path_check(void **state) {
        assert_int_equal(repo_path_check("a"), 0);
        assert_int_equal(repo_path_check("srv/mail/..x/y"), 0);
        assert_int_equal(repo_path_check(".hidden/x"), 0);
        assert_int_equal(repo_path_check(".."), -EINVAL);
        assert_int_equal(repo_path_check("a/.."), -EINVAL);
        assert_int_equal(repo_path_check("/a"), -EINVAL);
        assert_int_equal(repo_path_check("a/"), -EINVAL);
}

/* ---- whole repository ---- */

static void test_plain_roundtrip_and_dedup(void **state) {
        fx *f = *state;
        repo *r = NULL;
        repo_record *rec = NULL;
        repo_id id1, id2;
        repo_stats s1, s2;

        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), -EEXIST);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        assert_false(repo_is_encrypted(r));
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id1, &s1);
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id2, &s2);
        assert_int_equal(s1.files, 4);
        assert_true(s1.bytes_added > 0);
        assert_true(s1.bytes_added < 300000 + 200000);   /* the 'x' file compresses */
        assert_int_equal(s2.bytes_added, 0);            /* everything deduplicated */
        assert_int_equal(s2.blobs_new, 0);
        assert_int_equal(s2.files, 4);
        assert_int_equal(s2.files_unchanged, 4);        /* unchanged files reused without reading */
        assert_int_equal(s2.bytes_read, 0);
        /* --read-all reads everything again, still adding nothing */
        repo_backup *b = NULL;
        repo_id id3;
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_FULL, NULL, &b), 0);
        repo_backup_set_read_all(b, true);
        assert_int_equal(repo_backup_add_tree(b, f->src, "src"), 0);
        assert_int_equal(repo_backup_commit(b, &id3), 0);
        assert_int_equal(repo_backup_stats(b)->bytes_read, s1.bytes_read);
        assert_int_equal(repo_backup_stats(b)->blobs_new, 0);
        b = repo_backup_free(b);
        /* a reused record restores like a read one */
        assert_int_equal(repo_verify(r, &id2, NULL, NULL, NULL), 0);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), 0);
        assert_int_equal(repo_verify(r, &id2, NULL, NULL, NULL), 0);
        r = repo_close(r);

        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_SHARED, &r), 0);
        assert_int_equal(repo_load_backup(r, &id1, &rec), 0);
        assert_int_equal(n_data(rec), 4);
        assert_string_equal(rec->writers[0].stamp, "stamp-1");
        assert_int_equal(repo_restore_to_dir(r, rec, f->out, NULL, NULL), 0);
        assert_restored(f);
        repo_record_free(rec);
        repo_close(r);
}

/* Compression policy (repository.md §3): a chunk is stored zstd-compressed
 * only when that is shorter.  Random bytes (an already compressed file) are
 * stored raw, text compressed; both restore byte for byte. */
static void count_blobs(repo *r, size_t *ret_raw, size_t *ret_comp, uint64_t *ret_stored, uint64_t *ret_plain) {
        *ret_raw = *ret_comp = 0;
        *ret_stored = *ret_plain = 0;
        for (size_t i = 0; i < r->index.n_slots; i++) {
                const index_entry *e = &r->index.slots[i];
                if (!e->used)
                        continue;
                if (e->flags & REPO_BLOB_COMPRESSED) {
                        assert_true(e->length < e->raw_length);
                        (*ret_comp)++;
                } else {
                        assert_int_equal(e->length, e->raw_length);   /* plain repository: stored as is */
                        (*ret_raw)++;
                }
                *ret_stored += e->length;
                *ret_plain += e->raw_length;
        }
}

/* Restores backup id of r into DIR/TAG-out and checks that src/NAME there
 * holds exactly data; closes r. */
static void restored_equal(fx *f, repo *r, const repo_id *id, const char *tag, const char *name, const uint8_t *data,
                           size_t n) {
        char out[700], p[800];
        repo_record *rec = NULL;
        size_t got_n;

        snprintf(out, sizeof out, "%s/%s-out", f->dir, tag);
        assert_int_equal(repo_load_backup(r, id, &rec), 0);
        assert_int_equal(repo_restore_to_dir(r, rec, out, NULL, NULL), 0);
        snprintf(p, sizeof p, "%s/src/%s", out, name);
        uint8_t *got = read_whole(p, &got_n);
        assert_non_null(got);
        assert_int_equal(got_n, n);
        assert_memory_equal(got, data, n);
        free(got);
        repo_record_free(rec);
        repo_close(r);
}

static void compression_case(fx *f, const char *name, const uint8_t *data, size_t n, bool compressible) {
        char src[600], p[800], repo_dir[700];
        repo *r = NULL;
        repo_id id;
        size_t n_raw, n_comp;
        uint64_t stored, plain;

        snprintf(src, sizeof src, "%s/%s-src", f->dir, name);
        snprintf(p, sizeof p, "%s/data", src);
        write_file(p, data, n);
        snprintf(repo_dir, sizeof repo_dir, "%s/%s-repo", f->dir, name);
        assert_int_equal(repo_init(repo_dir, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(repo_dir, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        backup_tree(r, src, REPO_BACKUP_FULL, &id, NULL);
        count_blobs(r, &n_raw, &n_comp, &stored, &plain);
        assert_int_equal(plain, n);
        assert_true(n_raw + n_comp >= n / 65536);   /* the chunker's maximum is 64 KiB */
        if (compressible) {
                assert_int_equal(n_raw, 0);
                assert_true(stored * 2 < plain);     /* prose-like text: well under half */
        } else {
                assert_int_equal(n_comp, 0);
                assert_int_equal(stored, plain);
        }
        restored_equal(f, r, &id, name, "data", data, n);
}

static void test_compression_policy(void **state) {
        static const char *const words[] = {"mail", "store", "writer", "snapshot", "the", "of", "and", "backup",
                                            "volume", "shadow", "copy", "service", "linux", "restore", "page", "log"};
        fx *f = *state;
        size_t n = 600000, k = 0;
        uint8_t *buf = malloc(n);
        uint64_t x = 42;

        assert_non_null(buf);
        fill_random(buf, n, 7);
        compression_case(f, "random", buf, n, false);
        while (k < n) {   /* words drawn at random from a small vocabulary */
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                const char *w = words[(x >> 33) % ELEMENTSOF(words)];
                for (size_t i = 0; w[i] && k < n; i++)
                        buf[k++] = (uint8_t) w[i];
                if (k < n)
                        buf[k++] = (x >> 60) == 0 ? '\n' : ' ';
        }
        compression_case(f, "text", buf, n, true);
        free(buf);
}

/* The compression policy (docs/design/backup.md §7.10): the same text stored
 * under each policy and file name; off stores every blob raw, fast and max
 * differ, auto takes a level by the file's data type; all restore. */
static uint64_t stored_with(fx *f, const char *tag, const char *name, int policy, const uint8_t *data, size_t n,
                            size_t *ret_comp) {
        char src[600], p[800], repo_dir[700];
        repo *r = NULL;
        repo_backup *b = NULL;
        repo_id id;
        size_t n_raw;
        uint64_t stored, plain;

        snprintf(src, sizeof src, "%s/%s-src", f->dir, tag);
        snprintf(p, sizeof p, "%s/%s", src, name);
        write_file(p, data, n);
        snprintf(repo_dir, sizeof repo_dir, "%s/%s-repo", f->dir, tag);
        assert_int_equal(repo_init(repo_dir, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(repo_dir, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_FULL, NULL, &b), 0);
        repo_backup_set_compression(b, policy);
        assert_int_equal(repo_backup_add_tree(b, src, "src"), 0);
        assert_int_equal(repo_backup_commit(b, &id), 0);
        repo_backup_free(b);
        count_blobs(r, &n_raw, ret_comp, &stored, &plain);
        assert_int_equal(plain, n);
        restored_equal(f, r, &id, tag, name, data, n);
        return stored;
}

static void test_compression_levels(void **state) {
        fx *f = *state;
        size_t n = 600000, k = 0, comp;
        uint8_t *buf = malloc(n);
        uint64_t x = 7;

        assert_non_null(buf);
        char vocab[2000][10];
        for (size_t w = 0; w < ELEMENTSOF(vocab); w++) {   /* 2000 made-up words of 3..9 letters */
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                size_t len = 3 + (x >> 33) % 7;
                for (size_t i = 0; i < len; i++) {
                        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                        vocab[w][i] = (char) ('a' + (x >> 33) % 26);
                }
                vocab[w][len] = 0;
        }
        while (k < n) {   /* prose-like: words drawn at random, compressible but not trivially */
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                const char *w = vocab[(x >> 33) % ELEMENTSOF(vocab)];
                for (size_t i = 0; w[i] && k < n; i++)
                        buf[k++] = (uint8_t) w[i];
                if (k < n)
                        buf[k++] = ' ';
        }
        assert_int_equal(repo_compression_from_string("auto"), REPO_COMPRESSION_AUTO);
        assert_int_equal(repo_compression_from_string("off"), REPO_COMPRESSION_OFF);
        assert_int_equal(repo_compression_from_string("zstd"), -EINVAL);
        assert_string_equal(repo_compression_to_string(REPO_COMPRESSION_FAST), "fast");
        assert_int_equal(repo_compression_level(REPO_COMPRESSION_MAX, "a/DB1.stm"), 3);
        assert_int_equal(repo_compression_level(REPO_COMPRESSION_OFF, "a/x"), REPO_LEVEL_RAW);
        assert_int_equal(repo_compression_level(REPO_COMPRESSION_AUTO, "a/DB1.stm"),
                         repo_compression_level(REPO_COMPRESSION_FAST, "a/DB1.stm"));
        assert_int_equal(repo_compression_level(REPO_COMPRESSION_AUTO, "a/E00000000E0.log"), 1);
        assert_int_equal(repo_compression_level(REPO_COMPRESSION_AUTO, "a/DB1.edb"), 3);
        assert_int_equal(repo_compression_level(REPO_COMPRESSION_AUTO, "a/base/16384/1259"), 3);

        /* off: nothing compressed although the text halves under zstd */
        assert_int_equal(stored_with(f, "off", "DB1.stm", REPO_COMPRESSION_OFF, buf, n, &comp), n);
        assert_int_equal(comp, 0);
        uint64_t smax = stored_with(f, "max", "DB1.stm", REPO_COMPRESSION_MAX, buf, n, &comp);
        assert_true(comp > 0 && smax * 2 < n);
        uint64_t sfast = stored_with(f, "fast", "DB1.stm", REPO_COMPRESSION_FAST, buf, n, &comp);
        assert_true(comp > 0 && sfast * 2 < n);
        assert_true(sfast > smax);   /* a cheaper level: larger */
        /* auto: the streaming file at the fast level, the database at level 3 */
        assert_int_equal(stored_with(f, "auto-stm", "DB1.stm", REPO_COMPRESSION_AUTO, buf, n, &comp), sfast);
        assert_int_equal(stored_with(f, "auto-edb", "DB1.edb", REPO_COMPRESSION_AUTO, buf, n, &comp), smax);
        free(buf);
}

/* repo_backup_add_fd_reuse (docs/design/backup.md §8): the ranges given as
 * the previous backup's blobs are not read, the rest is chunked anew; the
 * file restores byte for byte.  Extents that are not known blobs of their
 * length, overlap, or leave the file are refused. */
static int open_written(const char *path, const uint8_t *data, size_t n, struct stat *st) {
        write_file(path, data, n);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, st), 0);
        return fd;
}

static void test_add_fd_reuse(void **state) {
        fx *f = *state;
        const size_t n = 300000;
        uint8_t *v1 = malloc(n), *v2 = malloc(n);
        repo *r = NULL;
        repo_backup *b = NULL;
        repo_record *rec = NULL;
        repo_reuse_extent ext[128];
        size_t n_ext = 0;
        uint64_t off = 0, reusable = 0;
        struct stat st;
        repo_id id;
        char p[800];

        assert_non_null(v1);
        assert_non_null(v2);
        fill_random(v1, n, 11);
        memcpy(v2, v1, n);
        memset(v2 + 150000, 0x5a, 100);   /* a changed region in the middle */
        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        snprintf(p, sizeof p, "%s/v1", f->dir);
        int fd = open_written(p, v1, n, &st);
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_FULL, NULL, &b), 0);
        repo_backup_set_track_changes(b, false);
        assert_int_equal(repo_backup_add_fd(b, fd, "f", &st), 0);
        close(fd);
        assert_int_equal(repo_backup_commit(b, &id), 0);
        b = repo_backup_free(b);
        assert_int_equal(repo_load_backup(r, &id, &rec), 0);
        const repo_file *old = &rec->files[0];
        assert_true(old->n_blobs > 4 && old->n_blobs < ELEMENTSOF(ext));
        for (size_t i = 0; i < old->n_blobs; i++) {
                uint32_t raw = 0;
                assert_true(repo_blob_known(r, &old->blobs[i], &raw));
                if (off + raw <= 150000 || off >= 150100) {
                        ext[n_ext++] = (repo_reuse_extent) {.offset = off, .length = raw, .id = old->blobs[i]};
                        reusable += raw;
                }
                off += raw;
        }
        assert_int_equal(off, n);
        assert_true(n_ext < old->n_blobs);

        snprintf(p, sizeof p, "%s/v2", f->dir);
        fd = open_written(p, v2, n, &st);
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_FULL, NULL, &b), 0);
        repo_backup_set_track_changes(b, false);
        /* refused: an unknown blob, a wrong length, overlap, past the end */
        repo_reuse_extent bad = ext[0];
        bad.id.b[0] ^= 1;
        assert_int_equal(repo_backup_add_fd_reuse(b, fd, "f", &st, &bad, 1), -EINVAL);
        bad = ext[0];
        bad.length--;
        assert_int_equal(repo_backup_add_fd_reuse(b, fd, "f", &st, &bad, 1), -EINVAL);
        repo_reuse_extent two[2] = {ext[0], ext[0]};
        assert_int_equal(repo_backup_add_fd_reuse(b, fd, "f", &st, two, 2), -EINVAL);
        bad = ext[n_ext - 1];
        bad.offset = n - bad.length + 1;
        assert_int_equal(repo_backup_add_fd_reuse(b, fd, "f", &st, &bad, 1), -EINVAL);
        assert_int_equal(repo_backup_file_count(b), 0);
        assert_int_equal(repo_backup_add_fd_reuse(b, fd, "f", &st, ext, n_ext), 0);
        close(fd);
        assert_int_equal(repo_backup_stats(b)->bytes_reused, reusable);
        assert_int_equal(repo_backup_stats(b)->bytes_read, n - reusable);
        assert_int_equal(repo_backup_set_reuse_map(b, "{\"x\":1}"), 0);
        assert_int_equal(repo_backup_commit(b, &id), 0);
        b = repo_backup_free(b);
        repo_record_free(rec);
        assert_int_equal(repo_load_backup(r, &id, &rec), 0);
        assert_string_equal(rec->reuse_map, "{\"x\":1}");
        assert_int_equal(repo_restore_to_dir(r, rec, f->out, NULL, NULL), 0);
        size_t got_n = 0;
        snprintf(p, sizeof p, "%s/f", f->out);
        uint8_t *got = read_whole(p, &got_n);
        assert_non_null(got);
        assert_int_equal(got_n, n);
        assert_memory_equal(got, v2, n);
        free(got);
        repo_record_free(rec);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), 0);
        repo_close(r);
        free(v1);
        free(v2);
}

/* Files taken out of the manifest again (create drops a component that
 * failed verification) are not in the record; their blobs stay stored. */
static void test_drop_files(void **state) {
        fx *f = *state;
        repo *r = NULL;
        repo_backup *b = NULL;
        repo_record *rec = NULL;
        repo_id id;
        char p[800];

        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_FULL, NULL, &b), 0);
        repo_backup_set_track_changes(b, false);
        snprintf(p, sizeof p, "%s/sub", f->src);
        assert_int_equal(repo_backup_add_tree(b, p, "keep"), 0);
        size_t mark = repo_backup_file_count(b);
        assert_int_equal(mark, 4);   /* keep, keep/dir, keep/dir/small.txt, keep/zeros */
        snprintf(p, sizeof p, "%s/big.bin", f->src);
        assert_int_equal(repo_backup_add_tree(b, p, "dropped/big.bin"), 0);
        assert_int_equal(repo_backup_file_count(b), 5);
        repo_backup_drop_files(b, mark);
        assert_int_equal(repo_backup_file_count(b), 4);
        assert_int_equal(repo_backup_stats(b)->files, 2);
        assert_int_equal(repo_backup_commit(b, &id), 0);
        b = repo_backup_free(b);
        assert_int_equal(repo_load_backup(r, &id, &rec), 0);
        assert_int_equal(n_data(rec), 2);
        for (size_t i = 0; i < rec->n_files; i++)
                assert_int_equal(strncmp(rec->files[i].path, "keep", 4), 0);
        repo_record_free(rec);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), 0);
        /* the dropped file's blobs are stored: a later backup deduplicates them */
        repo_stats st;
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id, &st);
        assert_int_equal(st.blobs_new, 0);
        repo_close(r);
}

static void test_encrypted_roundtrip_and_password(void **state) {
        fx *f = *state;
        repo *r = NULL, *r2 = NULL;
        repo_record *rec = NULL;
        repo_id id;
        bool enc = false;

        assert_int_equal(repo_init(f->repo, NULL, &enc_opts), -EINVAL);   /* needs a password */
        assert_int_equal(repo_init(f->repo, "correct horse", &enc_opts), 0);
        assert_int_equal(repo_probe(f->repo, &enc), 0);
        assert_true(enc);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_SHARED, &r), -ENOKEY);
        assert_int_equal(repo_open(f->repo, "wrong", REPO_LOCK_SHARED, &r), REPO_E_WRONG_PASSWORD);
        assert_int_equal(repo_open(f->repo, "correct horse", REPO_LOCK_EXCLUSIVE, &r), 0);
        /* a second writer is refused while the first holds the lock */
        assert_int_equal(repo_open(f->repo, "correct horse", REPO_LOCK_SHARED, &r2), -EBUSY);
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id, NULL);
        r = repo_close(r);

        /* nothing of the plaintext is visible in the repository */
        char *pack = find_first_file(f->repo, "data");
        size_t n = 0;
        uint8_t *bytes = read_whole(pack, &n);
        assert_null(memmem(bytes, n, "hello, world", 12));
        assert_null(memmem(bytes, n, "xxxxxxxxxxxxxxxx", 16));
        free(bytes);
        free(pack);

        assert_int_equal(repo_open(f->repo, "correct horse", REPO_LOCK_SHARED, &r), 0);
        assert_int_equal(repo_load_backup(r, &id, &rec), 0);
        assert_int_equal(repo_restore_to_dir(r, rec, f->out, NULL, NULL), 0);
        assert_restored(f);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), 0);
        repo_record_free(rec);
        repo_close(r);
}

/* repo_open in two steps (lvss-backup create derives the key on a thread
 * while the snapshot set is made): the first takes the lock and needs no
 * password, the second derives the key (on another thread here) and loads
 * the indexes; a wrong password fails the second, and the handle closes. */
typedef struct keys_arg {
        repo *r;
        const char *pw;
        int k;
} keys_arg;

static void *keys_on_thread(void *arg) {
        keys_arg *a = arg;
        a->k = repo_open_keys(a->r, a->pw);
        return NULL;
}

static void test_open_in_two_steps(void **state) {
        fx *f = *state;
        repo *r = NULL, *r2 = NULL;
        repo_record *rec = NULL;
        repo_id id;
        pthread_t t;

        assert_int_equal(repo_init(f->repo, "correct horse", &enc_opts), 0);
        assert_int_equal(repo_open(f->repo, "correct horse", REPO_LOCK_EXCLUSIVE, &r), 0);
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id, NULL);
        r = repo_close(r);

        /* the lock is held after the first step: busy at once */
        assert_int_equal(repo_open_lock(f->repo, REPO_LOCK_EXCLUSIVE, NULL, &r), 0);
        assert_int_equal(repo_open_lock(f->repo, REPO_LOCK_SHARED, NULL, &r2), -EBUSY);
        keys_arg a = {r, "wrong", 1};
        assert_int_equal(pthread_create(&t, NULL, keys_on_thread, &a), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(a.k, REPO_E_WRONG_PASSWORD);
        r = repo_close(r);

        assert_int_equal(repo_open_lock(f->repo, REPO_LOCK_EXCLUSIVE, NULL, &r), 0);
        a = (keys_arg) {r, "correct horse", 1};
        assert_int_equal(pthread_create(&t, NULL, keys_on_thread, &a), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(a.k, 0);
        assert_int_equal(repo_open_lock(f->repo, REPO_LOCK_SHARED, NULL, &r2), -EBUSY);
        /* opened: the indexes are loaded (the first backup's blobs are known) */
        assert_int_equal(repo_load_backup(r, &id, &rec), 0);
        assert_true(rec->n_files > 0);
        bool known = false;
        for (size_t i = 0; i < rec->n_files && !known; i++)
                if (rec->files[i].n_blobs > 0) {
                        uint32_t raw = 0;
                        known = repo_blob_known(r, &rec->files[i].blobs[0], &raw) && raw > 0;
                }
        assert_true(known);
        assert_int_equal(repo_restore_to_dir(r, rec, f->out, NULL, NULL), 0);
        assert_restored(f);
        repo_record_free(rec);
        repo_close(r);
        /* no password for an encrypted repository */
        assert_int_equal(repo_open_lock(f->repo, REPO_LOCK_SHARED, NULL, &r), 0);
        assert_int_equal(repo_open_keys(r, NULL), -ENOKEY);
        repo_close(r);
}

/* The keyed blob ids come from OpenSSL's BLAKE2BMAC when it passes its
 * self-check (crypto.c): they must be libsodium's ids byte for byte, for
 * every length (a repository written before stays deduplicated against). */
static void test_keyed_blob_ids_match_libsodium(void **state) {
        fx *f = *state;
        repo *r = NULL;
        static const size_t lens[] = { 1, 127, 128, 129, 4096, 65537, 1 << 20, (8 << 20) + 3 };
        size_t max = (8 << 20) + 3;
        uint8_t *buf = malloc(max), want[REPO_ID_SIZE];
        repo_id got;

        assert_non_null(buf);
        randombytes_buf(buf, max);
        assert_int_equal(repo_init(f->repo, "correct horse", &enc_opts), 0);
        assert_int_equal(repo_open(f->repo, "correct horse", REPO_LOCK_SHARED, &r), 0);
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
                crypto_generichash(want, REPO_ID_SIZE, buf, lens[i], r->hash_key, sizeof r->hash_key);
                repo_hash_blob(r, buf, lens[i], &got);
                assert_memory_equal(got.b, want, REPO_ID_SIZE);
        }
        repo_hash_blob(r, buf, 0, &got); /* the empty blob: libsodium's path */
        crypto_generichash(want, REPO_ID_SIZE, buf, 0, r->hash_key, sizeof r->hash_key);
        assert_memory_equal(got.b, want, REPO_ID_SIZE);
        repo_close(r);
        free(buf);
}

/* A pack-sized object from a page-aligned buffer is written with O_DIRECT
 * (backend-local.c): its whole blocks are not left in the page cache, the
 * bytes read back are exactly those put, also with an unaligned length and
 * from an unaligned buffer (written through the page cache). */
static size_t resident_pages(const char *path, size_t n) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t pg = (size_t) sysconf(_SC_PAGESIZE), np = (n + pg - 1) / pg, res = 0;
        unsigned char *vec = malloc(np);
        void *m;

        assert_true(fd >= 0);
        assert_non_null(vec);
        m = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
        assert_true(m != MAP_FAILED);
        assert_int_equal(mincore(m, n, vec), 0);
        for (size_t i = 0; i < np; i++)
                res += vec[i] & 1;
        munmap(m, n);
        free(vec);
        return res;
}

static void test_local_put_direct(void **state) {
        fx *f = *state;
        repo *r = NULL;
        const size_t n = (3 << 20) + 123;
        uint8_t *buf = aligned_alloc(4096, 4 << 20), *back;
        char name[120], path[900];
        size_t got;
        int fd;

        assert_non_null(buf);
        fill_random(buf, 4 << 20, 7);
        snprintf(path, sizeof path, "%s/probe", f->dir);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_DIRECT, 0600);
        if (fd < 0 && errno == EINVAL) {
                free(buf);
                SKIP();   /* no O_DIRECT on the scratch file system (tmpfs) */
        }
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        for (int unaligned = 0; unaligned <= 1; unaligned++) {
                const uint8_t *d = buf + unaligned;
                snprintf(name, sizeof name, "data/ab/ab%062d", unaligned);
                assert_int_equal(repo_be_put(r->be, name, d, n), 0);
                snprintf(path, sizeof path, "%s/%s", f->repo, name);
                if (!unaligned)
                        assert_true(resident_pages(path, n) <= 1);   /* at most the buffered tail */
                back = read_whole(path, &got);
                assert_non_null(back);
                assert_int_equal(got, n);
                assert_memory_equal(back, d, n);
                free(back);
        }
        repo_close(r);
        free(buf);
}

static void test_types_and_chains(void **state) {
        fx *f = *state;
        repo *r = NULL;
        repo_backup *b = NULL;
        repo_id full, inc1, inc2, diff;
        repo_record **chain = NULL, *rec = NULL;
        size_t n = 0;
        char p[800];

        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        /* no full yet: incremental and differential are refused */
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_INCREMENTAL, NULL, &b), -ENOENT);
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_DIFFERENTIAL, NULL, &b), -ENOENT);
        backup_tree(r, f->src, REPO_BACKUP_FULL, &full, NULL);

        snprintf(p, sizeof p, "%s/sub/dir/small.txt", f->src);
        write_file(p, "changed once\n", 13);
        backup_tree(r, f->src, REPO_BACKUP_INCREMENTAL, &inc1, NULL);
        snprintf(p, sizeof p, "%s/new.txt", f->src);
        write_file(p, "new file\n", 9);
        backup_tree(r, f->src, REPO_BACKUP_INCREMENTAL, &inc2, NULL);
        backup_tree(r, f->src, REPO_BACKUP_DIFFERENTIAL, &diff, NULL);

        assert_int_equal(repo_load_backup(r, &inc1, &rec), 0);
        assert_int_equal(n_data(rec), 1);
        assert_string_equal(data_entry(rec, 0)->path, "src/sub/dir/small.txt");
        assert_memory_equal(rec->based_on.b, full.b, REPO_ID_SIZE);
        rec = repo_record_free(rec);
        assert_int_equal(repo_load_backup(r, &inc2, &rec), 0);
        assert_int_equal(n_data(rec), 1);
        assert_string_equal(data_entry(rec, 0)->path, "src/new.txt");
        assert_memory_equal(rec->based_on.b, inc1.b, REPO_ID_SIZE);
        rec = repo_record_free(rec);
        assert_int_equal(repo_load_backup(r, &diff, &rec), 0);
        assert_int_equal(n_data(rec), 2);   /* both changes since the full */
        assert_memory_equal(rec->based_on.b, full.b, REPO_ID_SIZE);
        rec = repo_record_free(rec);

        assert_int_equal(repo_backup_chain(r, &inc2, &chain, &n), 0);
        assert_int_equal(n, 3);
        assert_memory_equal(chain[0]->id.b, full.b, REPO_ID_SIZE);
        assert_memory_equal(chain[2]->id.b, inc2.b, REPO_ID_SIZE);
        for (size_t i = 0; i < n; i++)
                repo_record_free(chain[i]);
        free(chain);

        /* a deleted file is recorded, and the merged chain leaves it out */
        repo_id inc3;
        snprintf(p, sizeof p, "%s/empty", f->src);
        assert_int_equal(unlink(p), 0);
        backup_tree(r, f->src, REPO_BACKUP_INCREMENTAL, &inc3, NULL);
        assert_int_equal(repo_load_backup(r, &inc3, &rec), 0);
        assert_int_equal(n_data(rec), 0);   /* only src itself, whose mtime changed */
        assert_int_equal(rec->n_deleted, 1);
        assert_string_equal(rec->deleted[0], "src/empty");
        rec = repo_record_free(rec);
        uint64_t nfiles = 0, nbytes = 0;
        assert_int_equal(repo_restore_chain_to_dir(r, &inc3, f->out, NULL, NULL, &nfiles, &nbytes), 0);
        assert_int_equal(nfiles, 4);   /* big.bin, new.txt, small.txt, zeros */
        snprintf(p, sizeof p, "%s/src/empty", f->out);
        assert_int_equal(access(p, F_OK), -1);
        static const char *const now[] = {"big.bin", "new.txt", "sub/dir/small.txt", "sub/zeros"};
        for (size_t i = 0; i < ELEMENTSOF(now); i++) {
                char a[900], c[900];
                snprintf(a, sizeof a, "%s/%s", f->src, now[i]);
                snprintf(c, sizeof c, "%s/src/%s", f->out, now[i]);
                assert_same_file(a, c);
        }
        /* the differential's view: the full plus its own two files */
        const repo_file **view = NULL;
        size_t nv = 0;
        assert_int_equal(repo_backup_chain(r, &diff, &chain, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(repo_chain_merge(chain, n, &view, &nv), 0);
        assert_int_equal(nv, 8);   /* 5 files, directories src, src/sub, src/sub/dir */
        free(view);
        for (size_t i = 0; i < n; i++)
                repo_record_free(chain[i]);
        free(chain);

        /* without change tracking an incremental holds what it is given, nothing is "deleted" */
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_INCREMENTAL, NULL, &b), 0);
        assert_non_null(repo_backup_base(b));
        assert_string_equal(repo_backup_base(b)->writers[0].stamp, "stamp-1");
        repo_backup_set_track_changes(b, false);
        snprintf(p, sizeof p, "%s/sub", f->src);
        assert_int_equal(repo_backup_add_tree(b, p, "src/sub"), 0);
        repo_id inc4;
        assert_int_equal(repo_backup_commit(b, &inc4), 0);
        b = repo_backup_free(b);
        assert_int_equal(repo_load_backup(r, &inc4, &rec), 0);
        assert_int_equal(n_data(rec), 2);
        assert_int_equal(rec->n_deleted, 0);
        rec = repo_record_free(rec);

        /* a differential based on an incremental is refused */
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_DIFFERENTIAL, &inc1, &b), -EINVAL);
        /* a full does not take a base */
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_FULL, &full, &b), -EINVAL);
        repo_close(r);
}

/* Flip one bit, run fn, flip it back. */
static void flip_bit(const char *path, size_t bit) {
        size_t n = 0;
        uint8_t *data = read_whole(path, &n);
        assert_non_null(data);
        data[(bit / 8) % n] ^= (uint8_t) (1u << (bit % 8));
        write_file(path, data, n);
        free(data);
}

static size_t file_size(const char *path) {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        return (size_t) st.st_size;
}

static void corruption_run(fx *f, const repo_init_options *opts, const char *password) {
        repo *r = NULL;
        repo_record *rec = NULL;
        repo_id id;
        char out[900];

        assert_int_equal(repo_init(f->repo, password, opts), 0);
        assert_int_equal(repo_open(f->repo, password, REPO_LOCK_EXCLUSIVE, &r), 0);
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id, NULL);
        r = repo_close(r);

        char *pack = find_first_file(f->repo, "data");
        char *index = find_first_file(f->repo, "index");
        char *record = find_first_file(f->repo, "backups");
        size_t psize = file_size(pack);
        uint64_t seed = 12345;

        /* random bit flips anywhere in a pack: verify reports, restore refuses */
        for (int round = 0; round < 12; round++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                size_t bit = (size_t) (seed >> 11) % (psize * 8);
                flip_bit(pack, bit);
                assert_int_equal(repo_open(f->repo, password, REPO_LOCK_SHARED, &r), 0);
                assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), REPO_E_CORRUPT);
                assert_int_equal(repo_verify(r, &id, NULL, NULL, NULL), REPO_E_CORRUPT);
                assert_int_equal(repo_load_backup(r, &id, &rec), 0);
                snprintf(out, sizeof out, "%s/r%d", f->out, round);
                int k = repo_restore_to_dir(r, rec, out, NULL, NULL);
                /* a flip in the pack header only makes the whole-pack check fail;
                 * blob reads use the index, so the damaged byte decides */
                if (k == 0) {
                        /* restore may succeed only if the flipped bit lies
                         * outside every blob: then every file is intact */
                        static const char *const names[] = {"big.bin", "sub/dir/small.txt", "empty", "sub/zeros"};
                        char a[1000], b[1000];
                        for (size_t i = 0; i < 4; i++) {
                                snprintf(a, sizeof a, "%s/%s", f->src, names[i]);
                                snprintf(b, sizeof b, "%s/src/%s", out, names[i]);
                                assert_same_file(a, b);
                        }
                } else {
                        assert_int_equal(k, REPO_E_CORRUPT);
                        /* the error names what was damaged */
                        const char *m = repo_last_error(r);
                        assert_true(strstr(m, "blob") || strstr(m, "authentication") || strstr(m, "pack") ||
                                    strstr(m, "damaged"));
                }
                rec = repo_record_free(rec);
                r = repo_close(r);
                flip_bit(pack, bit);
        }
        /* damage inside the blob area makes restore refuse and leave no file */
        flip_bit(pack, 8 * 100 + 3);
        assert_int_equal(repo_open(f->repo, password, REPO_LOCK_SHARED, &r), 0);
        assert_int_equal(repo_load_backup(r, &id, &rec), 0);
        snprintf(out, sizeof out, "%s/final", f->out);
        assert_int_equal(repo_restore_to_dir(r, rec, out, NULL, NULL), REPO_E_CORRUPT);
        rec = repo_record_free(rec);
        r = repo_close(r);
        flip_bit(pack, 8 * 100 + 3);

        /* index damage */
        flip_bit(index, 8 * (file_size(index) / 2) + 1);
        assert_int_equal(repo_open(f->repo, password, REPO_LOCK_SHARED, &r), 0);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), REPO_E_CORRUPT);
        assert_int_equal(repo_load_backup(r, &id, &rec), 0);
        assert_int_equal(repo_restore_to_dir(r, rec, out, NULL, NULL), REPO_E_CORRUPT);
        rec = repo_record_free(rec);
        r = repo_close(r);
        flip_bit(index, 8 * (file_size(index) / 2) + 1);

        /* record damage; a new full backup still works */
        flip_bit(record, 8 * (file_size(record) / 3));
        assert_int_equal(repo_open(f->repo, password, REPO_LOCK_EXCLUSIVE, &r), 0);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), REPO_E_CORRUPT);
        assert_int_equal(repo_load_backup(r, &id, &rec), REPO_E_CORRUPT);
        repo_id id2;
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id2, NULL);
        assert_int_equal(repo_verify(r, &id2, NULL, NULL, NULL), 0);
        r = repo_close(r);
        char p2[1000];
        snprintf(p2, sizeof p2, "%s/backups/", f->repo);
        {
                char hex[REPO_ID_HEX_SIZE];
                repo_id_to_hex(&id2, hex);
                strncat(p2, hex, sizeof p2 - strlen(p2) - 1);
                assert_int_equal(unlink(p2), 0);   /* back to one record for the checks below */
        }
        flip_bit(record, 8 * (file_size(record) / 3));

        /* all repaired: clean again */
        assert_int_equal(repo_open(f->repo, password, REPO_LOCK_SHARED, &r), 0);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), 0);
        repo_close(r);
        free(pack);
        free(index);
        free(record);
}

static void test_corruption_plain(void **state) {
        corruption_run(*state, &plain_opts, NULL);
}

static void test_corruption_encrypted(void **state) {
        corruption_run(*state, &enc_opts, "pw");
}

static void test_path_traversal(void **state) {
        fx *f = *state;
        repo *r = NULL;
        repo_record *rec = NULL;
        repo_id id;
        char outside[800], link[800], p[1000];

        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id, NULL);
        assert_int_equal(repo_load_backup(r, &id, &rec), 0);

        /* "src" in the target is a symlink to a directory outside it */
        snprintf(outside, sizeof outside, "%s/outside", f->dir);
        mkdir(outside, 0755);
        mkdir(f->out, 0755);
        snprintf(link, sizeof link, "%s/src", f->out);
        assert_int_equal(symlink(outside, link), 0);
        assert_int_equal(repo_restore_to_dir(r, rec, f->out, NULL, NULL), -EINVAL);
        snprintf(p, sizeof p, "%s/big.bin", outside);
        assert_int_equal(access(p, F_OK), -1);   /* nothing written through the link */
        unlink(link);

        /* a deeper symlinked parent, created after the pre-check could see it, is refused too */
        snprintf(p, sizeof p, "%s/src/sub", f->out);
        mkdir(link, 0755);
        assert_int_equal(symlink(outside, p), 0);
        assert_int_equal(repo_restore_to_dir(r, rec, f->out, NULL, NULL), -EINVAL);
        snprintf(p, sizeof p, "%s/zeros", outside);
        assert_int_equal(access(p, F_OK), -1);

        /* manifest paths that escape are refused before anything is written */
        static const char *const bad[] = {"../escape", "/tmp/escape", "a/../../escape"};
        char *saved = rec->files[0].path;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char out2[900];
                snprintf(out2, sizeof out2, "%s/t%zu", f->dir, i);
                rec->files[0].path = (char *) bad[i];
                assert_int_equal(repo_restore_to_dir(r, rec, out2, NULL, NULL), -EINVAL);
                snprintf(p, sizeof p, "%s/src", out2);
                assert_int_equal(access(p, F_OK), -1);
        }
        rec->files[0].path = saved;
        repo_record_free(rec);
        repo_close(r);
}

/* The index can be rebuilt from the packs after it was damaged or lost. */
static void test_rebuild_index(void **state) {
        fx *f = *state;
        repo *r = NULL;
        repo_record *rec = NULL;
        repo_id id;
        uint64_t packs = 0, blobs = 0;

        assert_int_equal(repo_init(f->repo, "pw", &enc_opts), 0);
        assert_int_equal(repo_open(f->repo, "pw", REPO_LOCK_EXCLUSIVE, &r), 0);
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id, NULL);
        r = repo_close(r);

        /* damage the index: verify and restore fail */
        char *index = find_first_file(f->repo, "index");
        flip_bit(index, 8 * 40 + 2);
        assert_int_equal(repo_open(f->repo, "pw", REPO_LOCK_SHARED, &r), 0);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), REPO_E_CORRUPT);
        assert_int_equal(repo_rebuild_index(r, NULL, NULL, NULL, NULL), -EINVAL);   /* needs the exclusive lock */
        r = repo_close(r);

        /* rebuild: clean again, and the damaged index file is gone */
        assert_int_equal(repo_open(f->repo, "pw", REPO_LOCK_EXCLUSIVE, &r), 0);
        assert_int_equal(repo_rebuild_index(r, NULL, NULL, &packs, &blobs), 0);
        assert_true(packs >= 1);
        assert_true(blobs >= 4);
        assert_int_equal(access(index, F_OK), -1);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), 0);
        assert_int_equal(repo_load_backup(r, &id, &rec), 0);
        assert_int_equal(repo_restore_to_dir(r, rec, f->out, NULL, NULL), 0);
        assert_restored(f);
        rec = repo_record_free(rec);
        r = repo_close(r);

        /* every index file lost: rebuilt from the packs alone */
        char cmd[900];
        snprintf(cmd, sizeof cmd, "rm -f '%s'/index/*", f->repo);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(repo_open(f->repo, "pw", REPO_LOCK_EXCLUSIVE, &r), 0);
        assert_int_equal(repo_verify(r, &id, NULL, NULL, NULL), REPO_E_CORRUPT);
        assert_int_equal(repo_rebuild_index(r, NULL, NULL, NULL, NULL), 0);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), 0);
        r = repo_close(r);
        free(index);
}

/* Symbolic links are stored as links (never followed), restored as links,
 * and cannot be used to make restore write outside its target. */
static void test_symlinks(void **state) {
        fx *f = *state;
        repo *r = NULL;
        repo_record *rec = NULL;
        repo_id id, inc;
        repo_stats st;
        char p[900], q[900], outside[800], got[256];
        ssize_t n;

        snprintf(p, sizeof p, "%s/sub/link", f->src);
        assert_int_equal(symlink("zeros", p), 0);
        snprintf(p, sizeof p, "%s/abs", f->src);
        assert_int_equal(symlink("/etc", p), 0);
        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id, &st);
        assert_int_equal(st.files, 6);
        assert_int_equal(st.skipped, 0);
        assert_int_equal(repo_load_backup(r, &id, &rec), 0);
        assert_int_equal(repo_restore_to_dir(r, rec, f->out, NULL, NULL), 0);
        assert_restored(f);
        snprintf(q, sizeof q, "%s/src/sub/link", f->out);
        n = readlink(q, got, sizeof got - 1);
        assert_true(n > 0);
        got[n] = 0;
        assert_string_equal(got, "zeros");
        snprintf(q, sizeof q, "%s/src/abs", f->out);
        n = readlink(q, got, sizeof got - 1);
        assert_true(n > 0);
        got[n] = 0;
        assert_string_equal(got, "/etc");
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), 0);

        /* unchanged links are left out of an incremental, a changed target is not */
        snprintf(p, sizeof p, "%s/abs", f->src);
        unlink(p);
        assert_int_equal(symlink("/usr", p), 0);
        backup_tree(r, f->src, REPO_BACKUP_INCREMENTAL, &inc, &st);
        assert_int_equal(st.files, 1);
        repo_record *ir = NULL;
        assert_int_equal(repo_load_backup(r, &inc, &ir), 0);
        assert_string_equal(data_entry(ir, 0)->path, "src/abs");
        assert_string_equal(data_entry(ir, 0)->symlink, "/usr");
        repo_record_free(ir);

        /* a forged manifest: a link to the outside, then a file "below" it */
        snprintf(outside, sizeof outside, "%s/outside", f->dir);
        mkdir(outside, 0755);
        repo_file *files = calloc(rec->n_files + 2, sizeof *files);
        size_t big = 0;
        for (size_t i = 0; i < rec->n_files; i++)
                if (strcmp(rec->files[i].path, "src/big.bin") == 0)
                        big = i;
        files[0] = (repo_file) {.path = "evil", .symlink = outside};
        repo_hash_file(r, NULL, 0, &files[0].hash);
        files[1] = rec->files[big];
        files[1].path = "evil/big.bin";
        repo_record forged = {.files = files, .n_files = 2};
        snprintf(q, sizeof q, "%s/forged", f->dir);
        assert_int_equal(repo_restore_to_dir(r, &forged, q, NULL, NULL), -EINVAL);
        snprintf(p, sizeof p, "%s/big.bin", outside);
        assert_int_equal(access(p, F_OK), -1);
        free(files);
        repo_record_free(rec);
        repo_close(r);
}

/* An interrupted backup (packs written, no index, no record) leaves nothing
 * a reader sees, and the next writer removes the leftovers. */
static void test_interrupted_backup_cleanup(void **state) {
        fx *f = *state;
        repo *r = NULL;
        repo_backup *b = NULL;
        repo_record **recs = NULL;
        size_t n = 0;
        repo_id id;
        char p[800];

        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_FULL, NULL, &b), 0);
        assert_int_equal(repo_backup_add_tree(b, f->src, "src"), 0);   /* > pack_size: packs are on disk */
        repo_backup_free(b);
        /* the same handle backs up again: nothing may be deduplicated against the aborted run */
        repo_stats st;
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id, &st);
        assert_true(st.blobs_new > 0);
        r = repo_close(r);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_SHARED, &r), 0);
        assert_int_equal(repo_verify(r, &id, NULL, NULL, NULL), 0);
        r = repo_close(r);
        /* start over with only the aborted run's leftovers */
        scratch_cleanup(f->dir);
        free(f);
        fx_setup(state);
        f = *state;
        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_FULL, NULL, &b), 0);
        assert_int_equal(repo_backup_add_tree(b, f->src, "src"), 0);
        repo_backup_free(b);
        r = repo_close(r);
        char *orphan = find_first_file(f->repo, "data");
        assert_non_null(orphan);
        snprintf(p, sizeof p, "%s/tmp/data-leftover", f->repo);
        write_file(p, "junk", 4);

        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_SHARED, &r), 0);
        assert_int_equal(repo_list_backups(r, &recs, &n), 0);
        assert_int_equal(n, 0);
        free(recs);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), 0);
        r = repo_close(r);

        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        assert_int_equal(access(orphan, F_OK), -1);   /* orphan pack removed */
        assert_int_equal(access(p, F_OK), -1);        /* tmp cleaned */
        backup_tree(r, f->src, REPO_BACKUP_FULL, &id, NULL);
        assert_int_equal(repo_verify(r, NULL, NULL, NULL, NULL), 0);
        repo_close(r);
        free(orphan);
}

/* A key file asking for less Argon2id work than the documented minimum is
 * refused (exit 6 in the CLI); only the test hook lets a test build go lower. */
static void test_kdf_minimum(void **state) {
        fx *f = *state;
        repo *r = NULL;

#if !LVSS_TEST_HOOKS
        SKIP();
#endif
        assert_int_equal(repo_init(f->repo, "pw", &enc_opts), 0);
        unsetenv("LVSS_BACKUP_KDF_MIN");
        assert_int_equal(repo_open(f->repo, "pw", REPO_LOCK_SHARED, &r), REPO_E_CORRUPT);
        assert_non_null(strstr(repo_errmsg(), "below the minimum"));
        /* and a new weak key file is not written either */
        char other[700];
        snprintf(other, sizeof other, "%s/repo2", f->dir);
        assert_int_equal(repo_init(other, "pw", &enc_opts), -EINVAL);
        assert_non_null(strstr(repo_errmsg(), "below the minimum"));
        setenv("LVSS_BACKUP_KDF_MIN", "1", 1);
        assert_int_equal(repo_open(f->repo, "pw", REPO_LOCK_SHARED, &r), 0);
        repo_close(r);
}

/* File entry version 2: metadata survives the JSON, binary xattr values
 * included; malformed or future entries are refused; version 1 entries
 * (no "entry") still parse, without an owner. */
static void test_record_meta_entries(void **state) {
        repo_record rec = {}, *back = NULL;
        repo_file files[3] = {};
        uint8_t acl[] = {2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x80};
        repo_xattr xs[2] = {{"system.posix_acl_access", acl, sizeof acl}, {"user.color", (uint8_t *) "blue", 4}};
        char *json = NULL;

        files[0] = (repo_file) {.path = "d", .mode = 0700, .type = REPO_FILE_DIR, .has_owner = true, .uid = 1234,
                                .gid = 1235, .user = "alice", .mtime_ns = 1234567890123456789LL};
        files[1] = (repo_file) {.path = "d/f", .mode = 04755, .type = REPO_FILE_REGULAR, .has_owner = true,
                                .uid = 1234, .gid = 1235, .user = "alice", .group = "staff", .xattrs = xs,
                                .n_xattrs = 2};
        files[2] = (repo_file) {.path = "d/g", .mode = 0644, .type = REPO_FILE_HARDLINK, .has_owner = true,
                                .link = "d/f"};
        rec.files = files;
        rec.n_files = 3;
        assert_int_equal(repo_record_to_json(&rec, &json), 0);
        assert_non_null(strstr(json, "\"entry\":2"));
        assert_int_equal(repo_record_parse(json, strlen(json), &back), 0);
        free(json);
        json = NULL;
        assert_int_equal(back->files[0].type, REPO_FILE_DIR);
        assert_int_equal(back->files[0].mode, 0700);
        assert_null(back->files[0].group);
        assert_int_equal(back->files[1].mode, 04755);
        assert_true(back->files[1].has_owner);
        assert_int_equal(back->files[1].uid, 1234);
        assert_int_equal(back->files[1].gid, 1235);
        assert_string_equal(back->files[1].user, "alice");
        assert_string_equal(back->files[1].group, "staff");
        assert_int_equal(back->files[1].n_xattrs, 2);
        assert_string_equal(back->files[1].xattrs[0].name, "system.posix_acl_access");
        assert_int_equal(back->files[1].xattrs[0].size, sizeof acl);
        assert_memory_equal(back->files[1].xattrs[0].value, acl, sizeof acl);
        assert_int_equal(back->files[1].xattrs[1].size, 4);
        assert_memory_equal(back->files[1].xattrs[1].value, "blue", 4);
        assert_int_equal(back->files[2].type, REPO_FILE_HARDLINK);
        assert_string_equal(back->files[2].link, "d/f");
        back = repo_record_free(back);

        /* a hard link that escapes, a future entry version, a dir with data */
        static const char *const bad[] = {
                "\"type\":\"hardlink\",\"uid\":0,\"gid\":0,\"link\":\"../x\"",
                "\"type\":\"file\",\"uid\":0,\"gid\":0,\"xattrs\":{\"user.x\":\"!!\"}",
                "\"type\":\"pipe\",\"uid\":0,\"gid\":0",
                "\"type\":\"file\",\"uid\":-1,\"gid\":0",
                "\"type\":\"dir\",\"uid\":0,\"gid\":0,\"link\":\"b\"",
        };
        char hex[REPO_ID_HEX_SIZE], doc[2048];
        repo_id zero = {};
        repo_id_to_hex(&zero, hex);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                snprintf(doc, sizeof doc,
                         "{\"version\":1,\"type\":\"full\",\"time_ns\":1,\"components\":[],\"writers\":[],"
                         "\"files\":[{\"path\":\"a\",\"size\":0,\"mode\":420,\"mtime_ns\":0,\"hash\":\"%s\","
                         "\"blobs\":[],\"entry\":2,%s}],\"bytes_read\":0,\"bytes_added\":0,\"duration_ms\":0}",
                         hex, bad[i]);
                assert_int_equal(repo_record_parse(doc, strlen(doc), &back), REPO_E_CORRUPT);
        }
        snprintf(doc, sizeof doc,
                 "{\"version\":1,\"type\":\"full\",\"time_ns\":1,\"components\":[],\"writers\":[],\"files\":[{\"path\":"
                 "\"a\",\"size\":0,\"mode\":420,\"mtime_ns\":0,\"hash\":\"%s\",\"blobs\":[],\"entry\":3}],"
                 "\"bytes_read\":0,\"bytes_added\":0,\"duration_ms\":0}", hex);
        assert_int_equal(repo_record_parse(doc, strlen(doc), &back), REPO_E_VERSION);
        /* version 1 entry: no owner */
        snprintf(doc, sizeof doc,
                 "{\"version\":1,\"type\":\"full\",\"time_ns\":1,\"components\":[],\"writers\":[],\"files\":[{\"path\":"
                 "\"a\",\"size\":0,\"mode\":2541,\"mtime_ns\":0,\"hash\":\"%s\",\"blobs\":[]}],"
                 "\"bytes_read\":0,\"bytes_added\":0,\"duration_ms\":0}", hex);
        assert_int_equal(repo_record_parse(doc, strlen(doc), &back), 0);
        assert_false(back->files[0].has_owner);
        assert_int_equal(back->files[0].type, REPO_FILE_REGULAR);
        repo_record_free(back);
}

/* A version 1 entry (no owner recorded) never gets its set-id bits back,
 * even as root: the restored file's owner is not the original's. */
static void test_meta_apply_setid(void **state) {
        fx *f = *state;
        char p[700];
        struct stat st;
        repo_meta_ctx m;
        repo_file v1 = {.path = "x", .mode = 06755, .mtime_ns = 1500000000123456789LL};
        repo_file v2 = v1;

        snprintf(p, sizeof p, "%s/x", f->dir);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        repo_meta_ctx_init(&m);
        assert_int_equal(repo_meta_apply_fd(&m, fd, &v1), 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(st.st_mtim.tv_nsec, 123456789);
        assert_int_equal(m.setid_dropped, 1);
        /* with the owner recorded as the caller's own: kept */
        v2.has_owner = true;
        v2.uid = geteuid();
        v2.gid = getegid();
        assert_int_equal(repo_meta_apply_fd(&m, fd, &v2), 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 06755);
        close(fd);
}

/* A failed fsync of a directory a new object directory was made in fails
 * the write (finding #14: it used to be ignored). */
static void test_dir_fsync_failure(void **state) {
        fx *f = *state;
        repo *r = NULL;
        repo_backup *b = NULL;
        repo_id id;

#if !LVSS_TEST_HOOKS
        SKIP();
#endif
        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &r), 0);
        setenv("LVSS_REPO_FAIL_DIR_FSYNC", "data", 1);
        assert_int_equal(repo_backup_new(r, REPO_BACKUP_FULL, NULL, &b), 0);
        int k = repo_backup_add_tree(b, f->src, "src");
        if (k == 0)
                k = repo_backup_commit(b, &id);
        unsetenv("LVSS_REPO_FAIL_DIR_FSYNC");
        assert_int_equal(k, -EIO);
        assert_non_null(strstr(repo_last_error(r), "fsync directory"));
        repo_backup_free(b);
        repo_close(r);
        /* and no record names the data whose directory was not durable */
        repo_record **recs = NULL;
        size_t n = 0;
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_SHARED, &r), 0);
        assert_int_equal(repo_list_backups(r, &recs, &n), 0);
        assert_int_equal(n, 0);
        free(recs);
        repo_close(r);
}

/* Each handle keeps its own message (docs/design/repository.md §11f): a
 * failure on handle A, then failures on handle B, in a handle-less parser
 * and in another library using the thread's slot (libmstore) on the same
 * thread, leave repo_last_error(A) as it was.  With one thread slot for all
 * (before the conversion) the later failures overwrote A's message. */
static void test_error_slot_per_handle(void **state) {
        fx *f = *state;
        repo *a = NULL, *b = NULL, *c = NULL;
        repo_backup *bk = NULL;
        repo_forget_policy pol = {};
        repo_id id;
        char other[700], want_a[900], *m;
        struct stat st;

        snprintf(other, sizeof other, "%s/repo-b", f->dir);
        assert_int_equal(repo_init(f->repo, NULL, &plain_opts), 0);
        assert_int_equal(repo_init(other, NULL, &plain_opts), 0);
        assert_int_equal(repo_open(f->repo, NULL, REPO_LOCK_EXCLUSIVE, &a), 0);
        assert_int_equal(repo_open(other, NULL, REPO_LOCK_SHARED, &b), 0);

        /* a failure raised on A itself */
        assert_int_equal(repo_resolve_backup(a, "0123", &id), -ENOENT);
        snprintf(want_a, sizeof want_a, "backup 0123: not found in %s", f->repo);
        assert_string_equal(repo_last_error(a), want_a);
        /* then one on B, one of a parser without a handle, one before a
         * handle exists, one of libmstore (the thread's slot of lib/core) */
        assert_int_equal(repo_resolve_backup(b, "zz", &id), -EINVAL);
        assert_string_equal(repo_last_error(b), "backup id 'zz': expected at least 4 lowercase hex digits");
        assert_int_equal(repo_forget_parse_duration("", &pol), -EINVAL);
        assert_int_equal(repo_open(f->src, NULL, REPO_LOCK_SHARED, &c), -ENOENT);
        assert_non_null(strstr(repo_errmsg(), "not an lvss-backup repository"));
        (void) error_slot_set(NULL, -EIO, "mailbox INBOX: log damaged");
        assert_string_equal(repo_last_error(a), want_a);
        assert_string_equal(repo_last_error(b), "backup id 'zz': expected at least 4 lowercase hex digits");

        /* a handle-less callee's failure (the path check) is raised into the
         * handle of the call (A), and stays there */
        assert_int_equal(repo_backup_new(a, REPO_BACKUP_FULL, NULL, &bk), 0);
        int fd = open(f->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(repo_backup_add_fd(bk, fd, "src/../x", &st), -EINVAL);
        close(fd);
        assert_string_equal(repo_last_error(a), "path 'src/../x' contains '..'");
        assert_int_equal(repo_resolve_backup(b, "4567", &id), -ENOENT);
        (void) error_slot_set(NULL, -EIO, "mailbox INBOX: log damaged");
        assert_string_equal(repo_last_error(a), "path 'src/../x' contains '..'");
        repo_backup_free(bk);

#if LVSS_TEST_HOOKS
        /* a failure in a pack writer thread is raised into A by A's thread */
        setenv("LVSS_REPO_FAIL_DIR_FSYNC", "data", 1);
        assert_int_equal(repo_backup_new(a, REPO_BACKUP_FULL, NULL, &bk), 0);
        int k = repo_backup_add_tree(bk, f->src, "src");
        if (k == 0)
                k = repo_backup_commit(bk, &id);
        unsetenv("LVSS_REPO_FAIL_DIR_FSYNC");
        assert_int_equal(k, -EIO);
        repo_backup_free(bk);
        m = strdup(repo_last_error(a));
        assert_non_null(strstr(m, "fsync directory"));
        assert_int_equal(repo_resolve_backup(b, "89ab", &id), -ENOENT);
        (void) error_slot_set(NULL, -EIO, "mailbox INBOX: log damaged");
        assert_string_equal(repo_last_error(a), m);
        free(m);
#endif

        /* the directory sink (no handle) fails: raised into A by restore */
        _cleanup_(repo_record_freep) repo_record *rec = NULL;
        char block[700];
        assert_int_equal(repo_backup_new(a, REPO_BACKUP_FULL, NULL, &bk), 0);
        assert_int_equal(repo_backup_add_tree(bk, f->src, "src"), 0);
        assert_int_equal(repo_backup_commit(bk, &id), 0);
        repo_backup_free(bk);
        assert_int_equal(repo_load_backup(a, &id, &rec), 0);
        assert_int_equal(mkdir(f->out, 0755), 0);
        snprintf(block, sizeof block, "%s/src", f->out);
        int bfd = open(block, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);   /* a file where a directory goes */
        assert_true(bfd >= 0);
        close(bfd);
        assert_true(repo_restore_to_dir(a, rec, f->out, NULL, NULL) < 0);
        m = strdup(repo_last_error(a));
        assert_non_null(strstr(m, "restore 'src/"));
        assert_int_equal(repo_resolve_backup(b, "cdef", &id), -ENOENT);
        (void) error_slot_set(NULL, -EIO, "mailbox INBOX: log damaged");
        assert_string_equal(repo_last_error(a), m);
        free(m);
        repo_close(b);
        repo_close(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_error_codes),
                cmocka_unit_test(test_pack_header_roundtrip),
                cmocka_unit_test(test_index_roundtrip),
                cmocka_unit_test(test_record_roundtrip),
                cmocka_unit_test(test_path_check),
                cmocka_unit_test_setup_teardown(test_plain_roundtrip_and_dedup, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_drop_files, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_compression_policy, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_compression_levels, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_add_fd_reuse, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_encrypted_roundtrip_and_password, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_open_in_two_steps, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_keyed_blob_ids_match_libsodium, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_local_put_direct, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_types_and_chains, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_corruption_plain, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_corruption_encrypted, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_path_traversal, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_symlinks, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_rebuild_index, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_interrupted_backup_cleanup, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_kdf_minimum, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_error_slot_per_handle, fx_setup, fx_teardown),
                cmocka_unit_test(test_record_meta_entries),
                cmocka_unit_test_setup_teardown(test_dir_fsync_failure, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_meta_apply_setid, fx_setup, fx_teardown),
        };
        if (sodium_init() < 0)
                return 1;
        setenv("LVSS_BACKUP_KDF_MIN", "1", 1);
        int failed = cmocka_run_group_tests(tests, NULL, NULL);
        return failed ? failed : skipped ? 77 : 0;
}
