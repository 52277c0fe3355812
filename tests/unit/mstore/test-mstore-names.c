/* SPDX-License-Identifier: MIT */
/*
 * The one formatter/parser of a group's log file names
 * (mstore_log_name, mstore_log_name_parse) and the engine's use of it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "mstore/mstore.h"

static void test_format(void **state) {
        (void) state;
        char buf[MSTORE_LOG_NAME_SIZE];
        assert_int_equal(mstore_log_name("E00", 0x1a, buf), 0);
        assert_string_equal(buf, "E000000001A.log");
        assert_int_equal(mstore_log_name("E0F", 0xfffffff0u, buf), 0);
        assert_string_equal(buf, "E0FFFFFFFF0.log");
        assert_int_equal(strlen(buf) + 1, MSTORE_LOG_NAME_SIZE);
        memcpy(buf, "untouched", 10);
        assert_int_equal(mstore_log_name("e00", 1, buf), -EINVAL);
        assert_int_equal(mstore_log_name("E0", 1, buf), -EINVAL);
        assert_int_equal(mstore_log_name("E000", 1, buf), -EINVAL);
        assert_int_equal(mstore_log_name("E/0", 1, buf), -EINVAL);
        assert_string_equal(buf, "untouched");
}

static void test_parse(void **state) {
        (void) state;
        char base[MSTORE_LOG_BASE_SIZE];
        uint32_t gen = 77;
        assert_int_equal(mstore_log_name_parse("E000000001A.log", base, &gen), MSTORE_LOG_NAME_CLOSED);
        assert_string_equal(base, "E00");
        assert_int_equal(gen, 0x1a);
        /* not only 'E': any base of 3 characters A-Z/0-9 */
        assert_int_equal(mstore_log_name_parse("A1Z00000002.log", base, &gen), MSTORE_LOG_NAME_CLOSED);
        assert_string_equal(base, "A1Z");
        assert_int_equal(gen, 2);
        assert_int_equal(mstore_log_name_parse("E01.log", base, &gen), MSTORE_LOG_NAME_CURRENT);
        assert_string_equal(base, "E01");
        assert_int_equal(gen, 0);
        assert_int_equal(mstore_log_name_parse("E00.chk", NULL, NULL), MSTORE_LOG_NAME_CHECKPOINT);
        assert_int_equal(mstore_log_name_parse("E00tmp.log", NULL, NULL), MSTORE_LOG_NAME_TMP);
        assert_int_equal(mstore_log_name_parse("E00res00001.jrs", NULL, NULL), MSTORE_LOG_NAME_RESERVE);
        static const char *const bad[] = {
                "",             "E0",             "E00",              "e000000001A.log", "E000000001a.log",
                "E000000001G.log", "E00000001A.log", "E0000000001A.log", "E000000001A.lo",  "E00.LOG",
                "E00res0001.jrs",  "E00resXXXXX.jrs", "mailbox.edb",     "E00.edb",         "E-0.log",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                gen = 77;
                assert_int_equal(mstore_log_name_parse(bad[i], base, &gen), MSTORE_LOG_NAME_NONE);
                assert_int_equal(gen, 77); /* untouched */
        }
        assert_int_equal(mstore_log_name_parse(NULL, NULL, NULL), MSTORE_LOG_NAME_NONE);
}

static void test_round_trip(void **state) {
        (void) state;
        static const uint32_t gens[] = {0, 1, 9, 10, 0xabcdef, 0x7fffffff, 0xfffffff0u, 0xffffffffu};
        for (size_t i = 0; i < sizeof gens / sizeof gens[0]; i++) {
                char buf[MSTORE_LOG_NAME_SIZE], base[MSTORE_LOG_BASE_SIZE];
                uint32_t g = 0;
                assert_int_equal(mstore_log_name("E07", gens[i], buf), 0);
                assert_int_equal(mstore_log_name_parse(buf, base, &g), MSTORE_LOG_NAME_CLOSED);
                assert_string_equal(base, "E07");
                assert_int_equal(g, gens[i]);
        }
}

/* The engine's own paths and scans go through the same functions. */
static void test_engine_uses_it(void **state) {
        (void) state;
        char *p = log_path_gen("/d", "E00", 0x1a);
        assert_non_null(p);
        assert_string_equal(p, "/d/E000000001A.log");
        free(p);
        assert_null(log_path_gen("/d", "bad", 1));
        assert_int_equal(log_name_gen("E000000001A.log", "E00"), 0x1a);
        assert_int_equal(log_name_gen("E000000001A.log", "E01"), 0);
        assert_int_equal(log_name_gen("E00.log", "E00"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_engine_uses_it),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
