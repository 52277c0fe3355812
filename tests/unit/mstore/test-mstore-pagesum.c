/* SPDX-License-Identifier: MIT */
/* mstore_verify_file_sums (lib/mstore/verify.c): the verifier hands out every
 * page's stored checksum and version as it checks it (one read for both); a
 * damaged page is MSTORE_PAGE_BAD even when its stored checksum and version
 * are intact, and so is a sound page the verifier refuses for another reason
 * (a B+tree page in a stream file); a never-written stream page is sound
 * with checksum 0; a trailing partial page is not a page.  The same through
 * the page cache and around it (MSTORE_VERIFY_DIRECT). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "page.h"

static void test_page_sums(void **state) {
        (void) state;
        char path[] = "/tmp/mstore-pagesum-XXXXXX";
        int fd = mkstemp(path);
        uint8_t page[PAGE_SIZE];
        db_hdr h = {.file_type = MSTORE_FILE_STREAM, .state = MSTORE_STATE_CLEAN_SHUTDOWN, .db_sig = 0x1234};

        assert_true(fd >= 0);
        for (uint64_t p = 0; p < 2; p++) {
                db_hdr_encode(&h, page, p);
                assert_int_equal(pwrite(fd, page, PAGE_SIZE, (off_t) (p * PAGE_SIZE)), PAGE_SIZE);
        }
        for (uint64_t p = 2; p < 7; p++) {   /* 2, 3: sound; 4: never written (zero); 5: damaged body;
                                              * 6: sound but a leaf page in a stream file */
                if (p == 4)
                        memset(page, 0, PAGE_SIZE);
                else {
                        page_init(page, p, p == 6 ? PT_LEAF : PT_STREAM, 100 + p);
                        memset(page + 64, (int) p, 100);
                        page_seal(page);
                        if (p == 5)
                                page[2000] ^= 0x40;   /* stored checksum and version untouched */
                }
                assert_int_equal(pwrite(fd, page, PAGE_SIZE, (off_t) (p * PAGE_SIZE)), PAGE_SIZE);
        }
        assert_int_equal(pwrite(fd, "tail", 4, (off_t) (7 * PAGE_SIZE)), 4);

        mstore_page_sum *s = NULL;
        mstore_verify_result res;
        uint64_t n = 0;
        assert_int_equal(mstore_verify_file_sums(path, MSTORE_VERIFY_DIRECT, NULL, NULL, &res, &s, &n), MSTORE_E_CORRUPT);
        assert_int_equal(n, 7);
        assert_int_equal(res.pages_checked, 7);
        assert_int_equal(res.bad, 3);   /* page 5, page 6, the partial page at the end */
        assert_int_equal(s[0].version, 0);
        assert_int_not_equal(s[0].checksum, 0);
        assert_int_equal(s[2].version, 102);
        assert_int_equal(s[3].version, 103);
        assert_int_not_equal(s[2].checksum, s[3].checksum);
        assert_int_equal(s[4].version, 0);
        assert_int_equal(s[4].checksum, 0);
        assert_true(s[5].version == MSTORE_PAGE_BAD);
        assert_true(s[6].version == MSTORE_PAGE_BAD);
        /* a header copy that fails is bad too */
        memset(page, 0xff, 64);
        assert_int_equal(pwrite(fd, page, 64, PAGE_SIZE), 64);
        free(s);
        assert_int_equal(mstore_verify_file_sums(path, 0, NULL, NULL, &res, &s, &n), MSTORE_E_CORRUPT);
        assert_true(s[1].version == MSTORE_PAGE_BAD);
        assert_int_equal(s[0].version, 0);
        assert_int_equal(s[2].version, 102);
        free(s);
        /* A sound file: 0, and the same sums as the verifier checked. */
        assert_int_equal(ftruncate(fd, 2 * PAGE_SIZE), 0);
        db_hdr_encode(&h, page, 1);
        assert_int_equal(pwrite(fd, page, PAGE_SIZE, PAGE_SIZE), PAGE_SIZE);
        page_init(page, 2, PT_STREAM, 7);
        page_seal(page);
        assert_int_equal(pwrite(fd, page, PAGE_SIZE, 2 * PAGE_SIZE), PAGE_SIZE);
        assert_int_equal(mstore_verify_file_sums(path, MSTORE_VERIFY_DIRECT, NULL, NULL, &res, &s, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(res.bad, 0);
        assert_int_equal(s[2].version, 7);
        assert_int_equal(s[2].checksum, unaligned_read_le64(page));
        free(s);
        /* Not there: nothing handed out. */
        unlink(path);
        s = (mstore_page_sum *) 1;
        assert_true(mstore_verify_file_sums(path, 0, NULL, NULL, &res, &s, &n) < 0);
        assert_null(s);
        assert_int_equal(n, 0);
        close(fd);
}

static void count_cb(uint64_t n, const char *what, void *userdata) {
        (void) what;
        uint64_t *seen = userdata;
        seen[seen[0] < 8 ? ++seen[0] : 0] = n;
}

/* A file large enough to be checked in two halves by two threads: a damaged
 * page in each half is found and reported once, every other page's sum is
 * the one it stores. */
static void test_two_halves(void **state) {
        (void) state;
        enum { N = 20000 };
        char path[] = "/tmp/mstore-pagesum-big-XXXXXX";
        int fd = mkstemp(path);
        uint8_t *all = malloc((size_t) N * PAGE_SIZE);
        db_hdr h = {.file_type = MSTORE_FILE_STREAM, .state = MSTORE_STATE_CLEAN_SHUTDOWN, .db_sig = 0x99};

        assert_true(fd >= 0);
        assert_non_null(all);
        for (uint64_t p = 0; p < N; p++) {
                uint8_t *page = all + p * PAGE_SIZE;
                if (p < 2)
                        db_hdr_encode(&h, page, p);
                else {
                        page_init(page, p, PT_STREAM, 1000 + p);
                        memset(page + 64, (int) (p & 0xff), 200);
                        page_seal(page);
                }
        }
        all[5000 * (size_t) PAGE_SIZE + 3000] ^= 1;
        all[15000 * (size_t) PAGE_SIZE + 3000] ^= 1;
        assert_int_equal(write(fd, all, (size_t) N * PAGE_SIZE), (ssize_t) N * PAGE_SIZE);
        for (unsigned flags = 0; flags <= MSTORE_VERIFY_DIRECT; flags += MSTORE_VERIFY_DIRECT) {
                mstore_page_sum *s = NULL;
                mstore_verify_result res;
                uint64_t n = 0, seen[9] = {0};
                assert_int_equal(mstore_verify_file_sums(path, flags, count_cb, seen, &res, &s, &n), MSTORE_E_CORRUPT);
                assert_int_equal(n, N);
                assert_int_equal(res.pages_checked, N);
                assert_int_equal(res.bad, 2);
                assert_int_equal(seen[0], 2);
                assert_true((seen[1] == 5000 && seen[2] == 15000) || (seen[1] == 15000 && seen[2] == 5000));
                for (uint64_t p = 2; p < N; p++) {
                        if (p == 5000 || p == 15000) {
                                assert_true(s[p].version == MSTORE_PAGE_BAD);
                                continue;
                        }
                        assert_int_equal(s[p].version, 1000 + p);
                        assert_int_equal(s[p].checksum, unaligned_read_le64(all + p * PAGE_SIZE));
                }
                free(s);
        }
        free(all);
        close(fd);
        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_page_sums),
                cmocka_unit_test(test_two_halves),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
