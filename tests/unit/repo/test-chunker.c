/* SPDX-License-Identifier: MIT */
/* tests/unit/repo/test-chunker.c: FastCDC cut points. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "helpers.h"
#include "repo.h"

#ifndef GOLDEN_FIRST
#define GOLDEN_FIRST 21840
#define GOLDEN_SUM 0x22713a38e9eacULL
#endif

static const repo_chunker_params small = {4096, 16384, 65536};

typedef struct chunk {
        size_t off, len;
        uint8_t h[16];
} chunk;

static size_t chunk_all(const repo_chunker_params *p, const uint8_t *buf, size_t n, chunk *out, size_t max) {
        size_t off = 0, k = 0;
        while (off < n) {
                size_t avail = n - off;
                size_t c = repo_chunker_cut(p, buf + off, avail);
                assert_true(c >= 1 && c <= avail);
                assert_true(c <= p->max);
                if (off + c < n)
                        assert_true(c >= p->min);   /* only the last chunk may be short */
                assert_true(k < max);
                out[k].off = off;
                out[k].len = c;
                crypto_generichash(out[k].h, 16, buf + off, c, NULL, 0);
                k++;
                off += c;
        }
        return k;
}

static void test_params(void **state) {
        repo_chunker_params ok = {REPO_CHUNK_MIN_DEFAULT, REPO_CHUNK_AVG_DEFAULT, REPO_CHUNK_MAX_DEFAULT};
        repo_chunker_params bad1 = {1000, 1000, 4000}, bad2 = {1000, 3000, 8000}, bad3 = {1, 2, 4},
                            bad4 = {1024, 4096, 64u << 20};
        assert_int_equal(repo_chunker_params_check(&ok), 0);
        assert_int_equal(repo_chunker_params_check(&small), 0);
        assert_int_equal(repo_chunker_params_check(&bad1), -EINVAL);
        assert_int_equal(repo_chunker_params_check(&bad2), -EINVAL);
        assert_int_equal(repo_chunker_params_check(&bad3), -EINVAL);
        assert_int_equal(repo_chunker_params_check(&bad4), -EINVAL);
}

static void test_short_input(void **state) {
        uint8_t buf[100] = {0};
        assert_int_equal(repo_chunker_cut(&small, buf, 1), 1);
        assert_int_equal(repo_chunker_cut(&small, buf, 100), 100);
}

/* Inserting one byte changes only the chunks around it. */
static void test_insert_stability(void **state) {
        size_t n = 4u << 20;
        uint8_t *a = malloc(n), *b = malloc(n + 1);
        chunk *ca = calloc(4096, sizeof *ca), *cb = calloc(4096, sizeof *cb);
        size_t na, nb, same = 0;

        fill_random(a, n, 42);
        memcpy(b, a, n / 2);
        b[n / 2] = 0x5a;
        memcpy(b + n / 2 + 1, a + n / 2, n - n / 2);
        na = chunk_all(&small, a, n, ca, 4096);
        nb = chunk_all(&small, b, n + 1, cb, 4096);
        assert_true(na > 100);   /* about n / 16 KiB */
        for (size_t i = 0; i < na; i++)
                for (size_t j = 0; j < nb; j++)
                        if (ca[i].len == cb[j].len && memcmp(ca[i].h, cb[j].h, 16) == 0) {
                                same++;
                                break;
                        }
        /* at most a couple of chunks around the insertion differ */
        assert_true(same + 3 >= na);
        free(a);
        free(b);
        free(ca);
        free(cb);
}

/* Average chunk size is near the configured average (default parameters). */
static void test_default_sizes(void **state) {
        size_t n = 64u << 20;
        uint8_t *a = malloc(n);
        chunk *c = calloc(1024, sizeof *c);
        repo_chunker_params p = {REPO_CHUNK_MIN_DEFAULT, REPO_CHUNK_AVG_DEFAULT, REPO_CHUNK_MAX_DEFAULT};
        size_t k;

        fill_random(a, n, 7);
        k = chunk_all(&p, a, n, c, 1024);
        /* 64 MiB at ~1 MiB average: allow a wide band */
        assert_true(k >= 32 && k <= 160);
        free(a);
        free(c);
}

/* The gear table is a format constant: cut points for fixed input never change. */
static void test_golden(void **state) {
        size_t n = 1u << 20;
        uint8_t *a = malloc(n);
        chunk c[256];
        fill_random(a, n, 1);
        size_t k = chunk_all(&small, a, n, c, 256);
        size_t sum = 0;
        for (size_t i = 0; i < 8 && i < k; i++)
                sum = sum * 31 + c[i].len;
        /* Recorded when the format was fixed (format version 1). */
        assert_int_equal(c[0].len, GOLDEN_FIRST);
        assert_int_equal(sum, GOLDEN_SUM);
        free(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_params),
                cmocka_unit_test(test_short_input),
                cmocka_unit_test(test_insert_stability),
                cmocka_unit_test(test_default_sizes),
                cmocka_unit_test(test_golden),
        };
        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
