/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/repo/test-check.c: the data subsets of `check`
 * (repo_check_parse_subset, repo_check_selects; repository.md §11c):
 * K/M parts partition the packs; an N% window picks about N% of them, the
 * same all week, and ceil(100/N) consecutive weeks cover every pack.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "repo.h"

#define NPACKS 2000
#define WEEK (7 * 86400)
#define MONDAY 1767571200   /* 2026-01-05 00:00 UTC */

static repo_id packs[NPACKS];

static int setup(void **state) {
        (void) state;
        for (uint32_t i = 0; i < NPACKS; i++)
                crypto_generichash(packs[i].b, sizeof packs[i].b, (const uint8_t *) &i, sizeof i, NULL, 0);
        return 0;
}

static void test_parse(void **state) {
        repo_check_options o = {};
        (void) state;
        assert_int_equal(repo_check_parse_subset("2/5", &o), 0);
        assert_int_equal(o.data, REPO_CHECK_SUBSET_MOD);
        assert_int_equal(o.k, 2);
        assert_int_equal(o.m, 5);
        assert_int_equal(repo_check_parse_subset("12.5%", &o), 0);
        assert_int_equal(o.data, REPO_CHECK_SUBSET_PERCENT);
        const char *bad[] = {"0/3", "4/3", "1/0", "-1/2", "1/", "/2", "x", "0%", "101%", "5", "5%%", "1/2x"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_equal(repo_check_parse_subset(bad[i], &o), -EINVAL);
}

static void test_parts_partition(void **state) {
        (void) state;
        for (size_t i = 0; i < NPACKS; i++) {
                int hits = 0;
                for (unsigned k = 1; k <= 7; k++) {
                        repo_check_options o = {.data = REPO_CHECK_SUBSET_MOD, .k = k, .m = 7};
                        hits += repo_check_selects(&o, &packs[i]);
                }
                assert_int_equal(hits, 1);
        }
}

static void test_percent_weeks(void **state) {
        static uint8_t covered[NPACKS];
        (void) state;
        memset(covered, 0, sizeof covered);
        for (int w = 0; w < 20; w++) {   /* 5%: 20 weeks cover everything */
                repo_check_options mon = {.data = REPO_CHECK_SUBSET_PERCENT, .percent = 5, .now = MONDAY + w * WEEK};
                repo_check_options sun = mon;
                size_t n = 0;
                sun.now += WEEK - 1;   /* the same ISO week: the same packs */
                for (size_t i = 0; i < NPACKS; i++) {
                        bool a = repo_check_selects(&mon, &packs[i]);
                        assert_int_equal(a, repo_check_selects(&sun, &packs[i]));
                        n += a;
                        covered[i] |= a;
                }
                assert_true(n > NPACKS * 3 / 100 && n < NPACKS * 7 / 100);
        }
        for (size_t i = 0; i < NPACKS; i++)
                assert_true(covered[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parts_partition),
                cmocka_unit_test(test_percent_weeks),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
