/* SPDX-License-Identifier: MIT */
/* lib/core: growing arrays, error slots, mkdir_p, little-endian fields, clocks, test hooks. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "array.h"
#include "error-slot.h"
#include "fs-util.h"
#include "macro.h"
#include "test-hook.h"
#include "time-util.h"
#include "unaligned.h"

static void test_array_reserve(void **state) {
        int *a = NULL;
        size_t cap = 0, n = 0;
        for (int i = 0; i < 1000; i++) {
                assert_int_equal(ARRAY_RESERVE_ONE(a, cap, n, 4), 0);
                assert_true(cap > n);
                a[n++] = i;
        }
        assert_int_equal(cap, 1024); /* 4, 8, ... doubling */
        for (int i = 0; i < 1000; i++)
                assert_int_equal(a[i], i);
        /* Room left: no reallocation, nothing changes. */
        int *before = a;
        assert_int_equal(ARRAY_RESERVE_ONE(a, cap, n, 4), 0);
        assert_ptr_equal(a, before);
        free(a);
        /* An array built elsewhere at its exact size (cap unknown, 0) grows from n. */
        int *exact = malloc(5 * sizeof *exact);
        assert_non_null(exact);
        size_t ecap = 0;
        assert_int_equal(ARRAY_RESERVE_ONE(exact, ecap, 5, 4), 0);
        assert_true(ecap > 5);
        exact[5] = 5;
        free(exact);
        /* Overflow of the element count is refused, array untouched. */
        void *big = NULL;
        size_t bcap = SIZE_MAX / 2 + 1;
        assert_int_equal(array_reserve_one(&big, &bcap, bcap, 16, 4), -ENOMEM);
        assert_null(big);
        assert_int_equal(bcap, SIZE_MAX / 2 + 1);
}

static void test_mkdir_p(void **state) {
        char tmpl[] = "/tmp/test-core-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        char path[256];
        snprintf(path, sizeof path, "%s/a/b/c", tmpl);
        mode_t old = umask(0);
        assert_int_equal(mkdir_p(path, 0755, 0700), 0);
        umask(old);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        snprintf(path, sizeof path, "%s/a", tmpl);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        /* Existing directories: fine.  A file in the way: -ENOTDIR/-EEXIST. */
        snprintf(path, sizeof path, "%s/a/b/c", tmpl);
        assert_int_equal(mkdir_p(path, 0755, 0700), 0);
        snprintf(path, sizeof path, "%s/f", tmpl);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
        snprintf(path, sizeof path, "%s/f/x", tmpl);
        assert_true(mkdir_p(path, 0755, 0700) < 0);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
        assert_int_equal(system(cmd), 0);
}

/* path_root_controlled: what a non-root caller may ask root to create
 * (PATH_NEW: lvss-backupd's restore --to, service.md A6; mstored's
 * CreateStorageGroup) or use (mstored's restore locations). */
static void test_path_creatable(void **state) {
        (void) state;
        char base[] = "/tmp/lvss-core-XXXXXX", p[256];
        ErrorSlot es;
        assert_non_null(mkdtemp(base));
        if (geteuid() != 0) { /* our own directory: root's creation there is refused */
                snprintf(p, sizeof(p), "%s/new", base);
                assert_int_equal(path_root_controlled(p, PATH_NEW, &es), -EPERM);
                assert_non_null(strstr(error_slot_get(&es), "not root"));
                assert_int_equal(rmdir(base), 0);
                return;
        }
        struct {
                const char *rel;
                int want_new, want_any; /* with PATH_NEW, without */
        } cases[] = {
                {"/new", 0, 0},           {"/a/b/c", 0, 0},         {"/new/", 0, 0},
                {"", -EEXIST, 0},         {"/d", -EEXIST, 0},       {"/d/", -EEXIST, 0},
                {"/link/x", -ELOOP, -ELOOP}, {"/file/x", -ELOOP, -ELOOP}, {"/link", -ELOOP, -ELOOP},
                {"/file", -ELOOP, -ELOOP}, {"/user/x", -EPERM, -EPERM}, {"/user", -EPERM, -EPERM},
                {"/gw/x", -EPERM, -EPERM}, {"/gw", -EPERM, -EPERM},  {"/d/../x", -EINVAL, -EINVAL},
                {"/./x", -EINVAL, -EINVAL}, {"/d/new", 0, 0},
        };
        snprintf(p, sizeof(p), "%s/d", base);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/link", base);
        assert_int_equal(symlink("d", p), 0);
        snprintf(p, sizeof(p), "%s/file", base);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fclose(f);
        snprintf(p, sizeof(p), "%s/user", base);
        assert_int_equal(mkdir(p, 0755), 0);
        assert_int_equal(chown(p, 65534, 65534), 0);
        snprintf(p, sizeof(p), "%s/gw", base);
        assert_int_equal(mkdir(p, 0755), 0);
        assert_int_equal(chmod(p, 0775), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                for (unsigned flags = 0; flags <= PATH_NEW; flags++) {
                        int want = flags ? cases[i].want_new : cases[i].want_any;
                        snprintf(p, sizeof(p), "%s%s", base, cases[i].rel);
                        error_slot_clear(&es);
                        int r = path_root_controlled(p, flags, &es);
                        if (r != want)
                                fail_msg("%s (flags %u): got %d, want %d (%s)", p, flags, r, want, error_slot_get(&es));
                        assert_true(r == 0 || error_slot_get(&es)[0]);
                }
        /* Directly in a sticky shared directory: someone else could create it first. */
        snprintf(p, sizeof(p), "%s-sibling", base);
        assert_int_equal(path_root_controlled(p, PATH_NEW, &es), -EPERM);
        assert_non_null(strstr(error_slot_get(&es), "writable by others"));
        /* ... nor may it be the path itself; passing through it is fine. */
        assert_int_equal(path_root_controlled("/tmp", 0, &es), -EPERM);
        assert_int_equal(path_root_controlled(base, 0, &es), 0);
        assert_int_equal(path_root_controlled("relative/x", 0, NULL), -EINVAL);
        assert_non_null(strstr(error_slot_get(NULL), "not an absolute path"));
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        assert_int_equal(system(cmd), 0);
}

/* read_full_at: whole reads at an offset, the count at end of file, -errno;
 * and it goes on after a short read: /proc/kallsyms answers one page per
 * pread, whatever the length asked for. */
static void test_read_full_at(void **state) {
        char path[] = "/tmp/test-core-read-XXXXXX";
        int fd = mkstemp(path);
        static char data[300000], buf[sizeof data];

        assert_true(fd >= 0);
        unlink(path);
        for (size_t i = 0; i < sizeof data; i++)
                data[i] = (char) (i * 7 + i / 251);
        assert_int_equal(write(fd, data, sizeof data), (ssize_t) sizeof data);
        assert_int_equal(read_full_at(fd, buf, sizeof buf, 0), (ssize_t) sizeof buf);
        assert_memory_equal(buf, data, sizeof data);
        assert_int_equal(read_full_at(fd, buf, 1000, 12345), 1000);
        assert_memory_equal(buf, data + 12345, 1000);
        assert_int_equal(read_full_at(fd, buf, 5000, (off_t) sizeof data - 100), 100); /* end of file */
        assert_memory_equal(buf, data + sizeof data - 100, 100);
        assert_int_equal(read_full_at(fd, buf, 10, (off_t) sizeof data + 5), 0);
        assert_int_equal(read_full_at(fd, buf, 0, 0), 0);
        close(fd);
        assert_int_equal(read_full_at(fd, buf, 10, 0), -EBADF);
        int p[2];
        assert_int_equal(pipe(p), 0);
        assert_int_equal(read_full_at(p[0], buf, 10, 0), -ESPIPE);
        close(p[0]);
        close(p[1]);

        fd = open("/proc/kallsyms", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;   /* no such file here: the part above still ran */
        static char one[65536], whole[65536];
        ssize_t k = pread(fd, one, sizeof one, 0), total = 0;
        assert_true(k > 0 && k < (ssize_t) sizeof one); /* a short read happens */
        while (total < (ssize_t) sizeof whole) {
                ssize_t m = read(fd, whole + total, sizeof whole - (size_t) total);
                assert_true(m >= 0);
                if (m == 0)
                        break;
                total += m;
        }
        assert_int_equal(read_full_at(fd, buf, sizeof whole, 0), total);
        assert_memory_equal(buf, whole, (size_t) total);
        close(fd);
}

static void test_unaligned(void **state) {
        uint8_t b[16] = {0};
        unaligned_write_le16(b + 1, 0x1234);
        assert_int_equal(b[1], 0x34);
        assert_int_equal(b[2], 0x12);
        assert_int_equal(unaligned_read_le16(b + 1), 0x1234);
        unaligned_write_le32(b + 3, 0xa1b2c3d4u);
        assert_int_equal(b[3], 0xd4);
        assert_int_equal(b[6], 0xa1);
        assert_int_equal(unaligned_read_le32(b + 3), 0xa1b2c3d4u);
        unaligned_write_le64(b + 7, UINT64_C(0x0102030405060708));
        assert_int_equal(b[7], 0x08);
        assert_int_equal(b[14], 0x01);
        assert_true(unaligned_read_le64(b + 7) == UINT64_C(0x0102030405060708));
}

static void test_time(void **state) {
        uint64_t a = now_nsec(CLOCK_MONOTONIC);
        usleep(2000);
        uint64_t b = now_nsec(CLOCK_MONOTONIC);
        assert_true(b > a);
        assert_true(b - a >= 2 * NSEC_PER_MSEC);
        assert_true(now_usec(CLOCK_REALTIME) > UINT64_C(1600000000) * USEC_PER_SEC);
        struct timespec d = monotonic_deadline_msec(1500);
        uint64_t dn = (uint64_t) d.tv_sec * NSEC_PER_SEC + (uint64_t) d.tv_nsec;
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < (long) NSEC_PER_SEC);
        assert_true(dn >= b + 1500 * NSEC_PER_MSEC);
        assert_true(dn < now_nsec(CLOCK_MONOTONIC) + 1600 * NSEC_PER_MSEC);
}

static void test_hooks(void **state) {
        setenv("LVSS_CORE_TEST_HOOK", "after-pack", 1);
#if LVSS_TEST_HOOKS
        assert_string_equal(TEST_HOOK_ENV("LVSS_CORE_TEST_HOOK"), "after-pack");
        assert_true(TEST_HOOK_IS("LVSS_CORE_TEST_HOOK", "after-pack"));
        assert_false(TEST_HOOK_IS("LVSS_CORE_TEST_HOOK", "after"));
        assert_false(TEST_HOOK_IS("LVSS_CORE_TEST_HOOK", "after-pack-x"));
#else
        assert_null(TEST_HOOK_ENV("LVSS_CORE_TEST_HOOK"));
        assert_false(TEST_HOOK_IS("LVSS_CORE_TEST_HOOK", "after-pack"));
#endif
        unsetenv("LVSS_CORE_TEST_HOOK");
        assert_false(TEST_HOOK_IS("LVSS_CORE_TEST_HOOK", "after-pack"));
}


static void *other_thread(void *arg) {
        (void) arg;
        /* A fresh thread starts with an empty slot of its own. */
        return (void *) (uintptr_t) (error_slot_get(NULL)[0] == 0 && error_slot_get(error_slot_thread())[0] == 0);
}

static void test_error_slot(void **state) {
        ErrorSlot s = {};
        pthread_t t;
        void *ok;

        assert_string_equal(error_slot_get(&s), "");
        assert_int_equal(error_slot_set(&s, -EIO, "pack %s: %d", "3fa2", 7), -EIO);
        assert_string_equal(error_slot_get(&s), "pack 3fa2: 7");
        /* Wrapping the slot's own message is safe. */
        assert_int_equal(error_slot_set(&s, -5, "open: %s", error_slot_get(&s)), -5);
        assert_string_equal(error_slot_get(&s), "open: pack 3fa2: 7");
        /* Long messages are cut, never overrun. */
        char big[2 * ERROR_SLOT_SIZE];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        error_slot_set(&s, -1, "%s", big);
        assert_int_equal(strlen(error_slot_get(&s)), ERROR_SLOT_SIZE - 1);
        error_slot_clear(&s);
        assert_string_equal(error_slot_get(&s), "");
        /* The handle's slot and the thread's are separate. */
        assert_int_equal(error_slot_set(NULL, -2, "no handle yet"), -2);
        assert_string_equal(error_slot_get(error_slot_thread()), "no handle yet");
        assert_string_equal(error_slot_get(&s), "");
        assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
        assert_int_equal(pthread_join(t, &ok), 0);
        assert_true(ok != NULL);
        assert_string_equal(error_slot_get(NULL), "no handle yet");
        error_slot_clear(NULL);
        assert_string_equal(error_slot_get(NULL), "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_array_reserve), cmocka_unit_test(test_mkdir_p),
                cmocka_unit_test(test_path_creatable), cmocka_unit_test(test_read_full_at),
                cmocka_unit_test(test_unaligned),     cmocka_unit_test(test_time),
                cmocka_unit_test(test_hooks),          cmocka_unit_test(test_error_slot),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
