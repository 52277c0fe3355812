/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of lvssd's session state machine (daemon/lvssd/state.c): the
 * VSS sequences walk through, and every call out of order is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <lvss/error.h>

#include "daemon/lvssd/config.h"
#include "lib/core/error-slot.h"
#include "lib/lvss/state.h"

static SessionState walk(SessionState s, bool writerless, bool *gathered, const Method *seq, size_t n) {
        for (size_t i = 0; i < n; i++) {
                StateView v = { .state = s, .writerless = writerless, .gathered = *gathered };
                if (state_check(&v, seq[i]) != 0)
                        fail_msg("%s refused in state '%s'", method_name(seq[i]), state_name(s));
                if (seq[i] == M_GATHER_WRITER_METADATA)
                        *gathered = true;
                s = state_after(s, seq[i]);
        }
        return s;
}

static void test_backup_sequence(void **state) {
        static const Method seq[] = {
                M_GATHER_WRITER_METADATA, M_START_SNAPSHOT_SET, M_IS_VOLUME_SUPPORTED, M_ADD_TO_SNAPSHOT_SET,
                M_PREPARE_FOR_BACKUP, M_GATHER_WRITER_STATUS, M_DO_SNAPSHOT_SET, M_GATHER_WRITER_STATUS,
                M_GET_FREEZE_WINDOW, M_BACKUP_COMPLETE, M_GATHER_WRITER_STATUS, M_CLOSE,
        };
        bool gathered = false;
        assert_int_equal(walk(S_OPEN, false, &gathered, seq, sizeof(seq) / sizeof(seq[0])), S_COMPLETED);
}

static void test_writerless_sequence(void **state) {
        static const Method seq[] = { M_START_SNAPSHOT_SET, M_ADD_TO_SNAPSHOT_SET, M_DO_SNAPSHOT_SET };
        bool gathered = false;
        StateView v = { .state = S_SET_STARTED, .writerless = true };

        assert_int_equal(walk(S_OPEN, true, &gathered, seq, 3), S_SNAPSHOT_DONE);
        /* writerless contexts: no PrepareForBackup, no BackupComplete */
        assert_int_equal(state_check(&v, M_PREPARE_FOR_BACKUP), LVSS_E_BAD_STATE);
        v.state = S_SNAPSHOT_DONE;
        assert_int_equal(state_check(&v, M_BACKUP_COMPLETE), LVSS_E_BAD_STATE);
}

static void test_restore_sequence(void **state) {
        static const Method seq[] = { M_GATHER_WRITER_METADATA, M_PRE_RESTORE, M_GATHER_WRITER_STATUS,
                                      M_POST_RESTORE };
        bool gathered = false;
        StateView v = { .state = S_RESTORE_OPEN };

        assert_int_equal(walk(S_RESTORE_OPEN, false, &gathered, seq, 4), S_POST_RESTORED);
        /* no snapshot calls in a restore session */
        assert_int_equal(state_check(&v, M_START_SNAPSHOT_SET), LVSS_E_BAD_STATE);
        assert_int_equal(state_check(&v, M_DO_SNAPSHOT_SET), LVSS_E_BAD_STATE);
        v.state = S_RESTORE_GATHERED;
        v.gathered = true;
        assert_int_equal(state_check(&v, M_POST_RESTORE), LVSS_E_BAD_STATE);
        assert_int_equal(state_check(&v, M_BACKUP_COMPLETE), LVSS_E_BAD_STATE);
}

/* The full matrix for a writer context, gathered where the state implies it. */
static void test_out_of_order_matrix(void **state) {
        /* allowed[state] = bit per method */
        static const struct {
                SessionState s;
                bool gathered;
                unsigned allowed;
        } rows[] = {
#define B(m) (1u << (m))
#define ALWAYS (B(M_ABORT_BACKUP) | B(M_CLOSE) | B(M_IS_VOLUME_SUPPORTED))
                { S_OPEN, false, ALWAYS | B(M_GATHER_WRITER_METADATA) | B(M_START_SNAPSHOT_SET) |
                                 B(M_SET_WRITER_FILTER) },
                { S_GATHERED, true, ALWAYS | B(M_START_SNAPSHOT_SET) | B(M_GATHER_WRITER_STATUS) },
                { S_SET_STARTED, true, ALWAYS | B(M_ADD_TO_SNAPSHOT_SET) | B(M_PREPARE_FOR_BACKUP) |
                                               B(M_GATHER_WRITER_STATUS) },
                { S_SET_STARTED, false, ALWAYS | B(M_ADD_TO_SNAPSHOT_SET) },
                { S_PREPARED, true, ALWAYS | B(M_ADD_TO_SNAPSHOT_SET) | B(M_DO_SNAPSHOT_SET) |
                                           B(M_GATHER_WRITER_STATUS) },
                { S_SNAPSHOT_DONE, true, ALWAYS | B(M_BACKUP_COMPLETE) | B(M_GATHER_WRITER_STATUS) |
                                                B(M_GET_FREEZE_WINDOW) },
                { S_COMPLETED, true, ALWAYS | B(M_GATHER_WRITER_STATUS) | B(M_GET_FREEZE_WINDOW) },
                { S_ABORTED, true, ALWAYS | B(M_GATHER_WRITER_STATUS) },
                { S_RESTORE_OPEN, false, ALWAYS | B(M_GATHER_WRITER_METADATA) | B(M_SET_WRITER_FILTER) },
                { S_RESTORE_GATHERED, true, ALWAYS | B(M_PRE_RESTORE) | B(M_GATHER_WRITER_STATUS) },
                { S_PRE_RESTORED, true, ALWAYS | B(M_POST_RESTORE) | B(M_GATHER_WRITER_STATUS) },
                { S_POST_RESTORED, true, ALWAYS | B(M_GATHER_WRITER_STATUS) },
        };
        unsigned checked = 0;

        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
                for (int m = 0; m < _M_MAX; m++) {
                        StateView v = { .state = rows[i].s, .gathered = rows[i].gathered };
                        int want = (rows[i].allowed & B(m)) ? 0 : LVSS_E_BAD_STATE;
                        int got = state_check(&v, (Method) m);
                        if (got != want)
                                fail_msg("%s in state '%s' (gathered %d): got %d, want %d", method_name((Method) m),
                                         state_name(rows[i].s), rows[i].gathered, got, want);
                        checked++;
                }
        assert_int_equal(checked, (sizeof(rows) / sizeof(rows[0])) * _M_MAX);
}

static void test_busy_refuses_all_but_abort(void **state) {
        for (int s = 0; s < _S_MAX; s++)
                for (int m = 0; m < _M_MAX; m++) {
                        StateView v = { .state = (SessionState) s, .busy = true, .gathered = true };
                        bool always = m == M_ABORT_BACKUP || m == M_CLOSE || m == M_IS_VOLUME_SUPPORTED;
                        assert_int_equal(state_check(&v, (Method) m), always ? 0 : LVSS_E_BAD_STATE);
                }
}

static void test_names(void **state) {
        for (int m = 0; m < _M_MAX; m++)
                assert_int_equal(method_from_name(method_name((Method) m)), m);
        assert_true(method_from_name("Freeze") < 0);
        assert_string_equal(state_name(S_PREPARED), "prepared for backup");
        assert_int_equal(state_after(S_PREPARED, M_ABORT_BACKUP), S_ABORTED);
        assert_int_equal(state_after(S_OPEN, M_ABORT_BACKUP), S_OPEN);
}

static int parse(const char *text, Config *c) {
        int r = config_parse(text, strlen(text), c);
        if (r < 0)
                printf("  (why: %s)\n", error_slot_get(NULL));
        return r;
}

static void test_config(void **state) {
        Config c;

        assert_int_equal(parse("# x\n[access]\nuser:mail = writer\n group:backup=requestor \nuser:bob = deny\n"
                               "[limits]\nset-timeout = 60\n", &c), 0);
        assert_int_equal(c.n_rules, 3);
        assert_false(c.rules[0].is_group);
        assert_string_equal(c.rules[0].name, "mail");
        assert_int_equal(c.rules[0].roles, ROLE_WRITER);
        assert_true(c.rules[1].is_group);
        assert_int_equal(c.rules[1].roles, ROLE_REQUESTOR);
        assert_int_equal(c.rules[2].roles, -1);
        assert_true(c.have_set_timeout);
        assert_int_equal(c.set_timeout_usec, 60000000ULL);
        config_clear(&c);
        assert_int_equal(parse("", &c), 0);
        assert_int_equal(c.n_rules, 0);
        assert_int_equal(parse("user:x = writer\n", &c), -EINVAL);
        assert_int_equal(parse("[access]\nuser:x = admin\n", &c), -EINVAL);
        assert_int_equal(parse("[access]\nx = writer\n", &c), -EINVAL);
        assert_int_equal(parse("[access]\nuser:a b = writer\n", &c), -EINVAL);
        assert_int_equal(parse("[limits]\nset-timeout = 9999999\n", &c), -EINVAL);
        assert_int_equal(parse("[limits]\nidle = 3\n", &c), -EINVAL);
        assert_int_equal(parse("[other]\n", &c), -EINVAL);
        assert_string_equal(error_slot_get(NULL), "line 1: unknown section [other]"); /* the thread's slot */
        assert_int_equal(parse("[limits]\n\nset-timeout = 9999999\n", &c), -EINVAL);
        assert_string_equal(error_slot_get(NULL), "line 3: set-timeout must be 0..604800 seconds");
        /* [recovery] scan roots: absolute, repeatable */
        assert_int_equal(parse("[recovery]\nscan = /srv\nscan=/var/lib/mstored\n", &c), 0);
        assert_int_equal(c.n_scan_roots, 2);
        assert_string_equal(c.scan_roots[0], "/srv");
        assert_string_equal(c.scan_roots[1], "/var/lib/mstored");
        config_clear(&c);
        assert_int_equal(parse("[recovery]\nscan = srv\n", &c), -EINVAL);
        assert_int_equal(parse("[recovery]\nscan = /a b\n", &c), -EINVAL);
        assert_int_equal(parse("[recovery]\nroots = /srv\n", &c), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backup_sequence),
                cmocka_unit_test(test_writerless_sequence),
                cmocka_unit_test(test_restore_sequence),
                cmocka_unit_test(test_out_of_order_matrix),
                cmocka_unit_test(test_busy_refuses_all_but_abort),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
