/* SPDX-License-Identifier: MIT */
/* tools/writer-common: wc_run_command (stdin, status, stderr, timeout,
 * the process group killed) and wc_short_hostname. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "writer-common.h"

static char tmpdir[] = "/tmp/test-writer-common-XXXXXX";

static int run_sh(const char *script, const char *input, unsigned timeout_s, ErrorSlot *err) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) script, NULL };
        return wc_run_command("cmd", argv, NULL, input, timeout_s, err);
}

static void test_stdin_and_env(void **state) {
        char in[PATH_MAX];
        ErrorSlot err;
        snprintf(in, sizeof(in), "%s/in", tmpdir);
        FILE *f = fopen(in, "we");
        assert_non_null(f);
        fputs("hello\n", f);
        fclose(f);
        assert_int_equal(run_sh("read x && [ \"$x\" = hello ]", in, 10, &err), 0);
        /* without input: /dev/null, read fails */
        assert_int_equal(run_sh("read x", NULL, 10, &err), -EIO);
        assert_non_null(strstr(error_slot_get(&err), "cmd failed with exit status 1"));
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) "[ \"$WC_X\" = 42 ]", NULL };
        char *env[] = { (char *) "WC_X=42", NULL };
        assert_int_equal(wc_run_command("env", argv, env, NULL, 10, &err), 0);
}

static void test_failure_carries_stderr(void **state) {
        ErrorSlot err;
        assert_int_equal(run_sh("echo 'first line' >&2; echo 'second' >&2; exit 3", NULL, 10, &err), -EIO);
        assert_string_equal(error_slot_get(&err), "cmd failed with exit status 3: first line second");
        assert_int_equal(run_sh("kill -9 $$", NULL, 10, &err), -EIO);
        assert_non_null(strstr(error_slot_get(&err), "cmd killed by signal 9"));
}

/* 1 while pid exists and is not a zombie. */
static int alive(pid_t pid) {
        char p[64], buf[512];
        snprintf(p, sizeof(p), "/proc/%d/stat", (int) pid);
        FILE *f = fopen(p, "re");
        if (!f)
                return 0;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *rp = strrchr(buf, ')');
        return rp && rp[1] == ' ' && rp[2] != 'Z';
}

static pid_t read_pid(const char *path) {
        FILE *f = fopen(path, "re");
        long v = 0;
        if (f) {
                if (fscanf(f, "%ld", &v) != 1) // NOLINT(cert-err34-c): the test checks v below
                        v = 0;
                fclose(f);
        }
        return (pid_t) v;
}

static void wait_gone(pid_t pid) {
        for (int i = 0; i < 100 && alive(pid); i++)
                usleep(50000);
        assert_false(alive(pid));
}

static void test_timeout_kills_group(void **state) {
        ErrorSlot err;
        char script[PATH_MAX + 100], pidf[PATH_MAX];
        snprintf(pidf, sizeof(pidf), "%s/pid1", tmpdir);
        snprintf(script, sizeof(script), "sleep 60 & echo $! > %s; sleep 60", pidf);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(run_sh(script, NULL, 1, &err), -ETIMEDOUT);
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_non_null(strstr(error_slot_get(&err), "cmd timed out after 1 s (killed)"));
        assert_true(b.tv_sec - a.tv_sec < 10);
        pid_t child = read_pid(pidf);
        assert_true(child > 0);
        wait_gone(child);
}

static void test_exit_kills_leftover_child(void **state) {
        ErrorSlot err;
        char script[PATH_MAX + 100], pidf[PATH_MAX];
        snprintf(pidf, sizeof(pidf), "%s/pid2", tmpdir);
        /* the child keeps stderr open: the run must not wait for EOF */
        snprintf(script, sizeof(script), "sleep 60 & echo $! > %s; exit 0", pidf);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(run_sh(script, NULL, 30, &err), 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_true(b.tv_sec - a.tv_sec < 10);
        pid_t child = read_pid(pidf);
        assert_true(child > 0);
        wait_gone(child);
}

static void test_short_hostname(void **state) {
        char h[256];
        wc_short_hostname(h, sizeof(h));
        assert_true(h[0] != 0);
        assert_null(strchr(h, '.'));
        char tiny[4];
        wc_short_hostname(tiny, sizeof(tiny));
        assert_true(strlen(tiny) < sizeof(tiny));
}

static int setup(void **state) {
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stdin_and_env),
                cmocka_unit_test(test_failure_carries_stderr),
                cmocka_unit_test(test_timeout_kills_group),
                cmocka_unit_test(test_exit_kills_leftover_child),
                cmocka_unit_test(test_short_hostname),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
