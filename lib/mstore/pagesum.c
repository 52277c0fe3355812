/* SPDX-License-Identifier: MIT */
/*
 * pagesum.c: every page's stored checksum and version, each page checked,
 * for lvss-backup's reuse of unchanged ranges in a full backup
 * (docs/design/backup.md §8).  Reads only; no engine state.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/core/macro.h"
#include "page.h"

#define SUM_BLOCK_PAGES 256u

static bool all_zero(const uint8_t *p) {
        for (unsigned i = 0; i < PAGE_SIZE; i++)
                if (p[i])
                        return false;
        return true;
}

static void sum_page(const uint8_t *page, uint64_t pgno, mstore_page_sum *ret) {
        db_hdr h;
        bool ok = pgno < 2 ? db_hdr_decode(page, pgno, &h, NULL) >= 0 : page_check(page, pgno, NULL) >= 0;

        if (ok)
                *ret = (mstore_page_sum) {unaligned_read_le64(page), page_version(page)};
        else if (pgno >= 2 && all_zero(page))
                *ret = (mstore_page_sum) {0, 0};
        else
                *ret = (mstore_page_sum) {0, MSTORE_PAGE_BAD};
}

int mstore_page_sums(int fd, mstore_page_sum **ret, uint64_t *ret_n) {
        _cleanup_free_ mstore_page_sum *sums = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        uint64_t n = (uint64_t) st.st_size / PAGE_SIZE;
        sums = malloc((n ? n : 1) * sizeof *sums);
        buf = malloc(SUM_BLOCK_PAGES * PAGE_SIZE);
        if (!sums || !buf)
                return -ENOMEM;
        for (uint64_t b = 0; b < n; b += SUM_BLOCK_PAGES) {
                size_t nb = (size_t) MIN((uint64_t) SUM_BLOCK_PAGES, n - b), got = 0;
                while (got < nb * PAGE_SIZE) {
                        ssize_t k = pread(fd, buf + got, nb * PAGE_SIZE - got, (off_t) (b * PAGE_SIZE + got));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0)
                                return -errno;
                        if (k == 0)
                                break;
                        got += (size_t) k;
                }
                for (size_t i = 0; i < nb; i++) {
                        if ((i + 1) * PAGE_SIZE > got)
                                sums[b + i] = (mstore_page_sum) {0, MSTORE_PAGE_BAD};   /* shrank meanwhile */
                        else
                                sum_page(buf + i * PAGE_SIZE, b + i, &sums[b + i]);
                }
        }
        *ret = TAKE_PTR(sums);
        *ret_n = n;
        return 0;
}
