/* SPDX-License-Identifier: MIT */
/* One opener per storage group (the group lock, MSTORE_E_IN_USE naming the
 * holder's pid), across processes (fork, real files) and within one process;
 * hard recovery refused under an open group; files created 0600. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "io-sim.h"
#include "mstore/mstore.h"

static char dir[256];

static int setup(void **state) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/mstore-lock-XXXXXX", t && *t ? t : "/tmp");
        assert_non_null(mkdtemp(dir));
        return 0;
}

static int teardown(void **state) {
        DIR *d = opendir(dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.') {
                                char p[512];
                                snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
                                unlink(p);
                        }
                closedir(d);
        }
        rmdir(dir);
        return 0;
}

static int open_real(mstore_sg **ret) {
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = 1;
        o.log_file_size = 64 * 1024;
        return mstore_sg_open(dir, &o, ret);
}

/* In a child: try to open the group; exit 0 if refused with the expected
 * message naming want_pid, 1 if it opened, 2 on another failure. */
static int child_try_open(pid_t want_pid) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                mstore_sg *sg = NULL;
                int r = open_real(&sg);
                if (r == 0) {
                        mstore_sg_close(sg);
                        _exit(1);
                }
                char want[300];
                snprintf(want, sizeof want, "storage group %s is in use by pid %ld", dir, (long) want_pid);
                if (r != MSTORE_E_IN_USE || strcmp(mstore_last_error(), want) != 0) {
                        fprintf(stderr, "child: r=%d '%s'\n", r, mstore_last_error());
                        _exit(2);
                }
                _exit(0);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        return WEXITSTATUS(st);
}

static void test_two_processes(void **state) {
        mstore_sg *sg;
        assert_int_equal(open_real(&sg), 0);
        /* another process is refused, and told who holds the group */
        assert_int_equal(child_try_open(getpid()), 0);
        /* so is a second open in this process */
        mstore_sg *sg2 = NULL;
        assert_int_equal(open_real(&sg2), MSTORE_E_IN_USE);
        assert_null(sg2);
        /* hard recovery into or through a live group is refused */
        mstore_recover_options ro = MSTORE_RECOVER_OPTIONS_INIT;
        mstore_recover_result res;
        ro.db_dir = dir;
        assert_int_equal(mstore_recover(&ro, &res), MSTORE_E_IN_USE);
        assert_non_null(strstr(mstore_last_error(), "is in use by pid"));
        assert_int_equal(mstore_sg_close(sg), 0);
        /* closed: the next opener (another process) gets it */
        assert_int_equal(child_try_open(getpid()), 1);
        assert_int_equal(open_real(&sg), 0);
        assert_int_equal(mstore_sg_close(sg), 0);
        assert_int_equal(mstore_recover(&ro, &res), 0);
}

static void test_sim_lock(void **state) {
        io_sim *sim = io_sim_new(3);
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = 1;
        o.io = io_sim_io(sim);
        o.log_file_size = 64 * 1024;
        mstore_sg *a, *b = NULL;
        assert_int_equal(mstore_sg_open("/sg", &o, &a), 0);
        assert_int_equal(mstore_sg_open("/sg", &o, &b), MSTORE_E_IN_USE);
        assert_null(b);
        /* another group (other log base) in the same directory is independent */
        o.base = "E01";
        assert_int_equal(mstore_sg_open("/sg", &o, &b), 0);
        assert_int_equal(mstore_sg_close(b), 0);
        o.base = NULL;
        assert_int_equal(mstore_sg_close(a), 0);
        assert_int_equal(mstore_sg_open("/sg", &o, &a), 0);
        assert_int_equal(mstore_sg_close(a), 0);
        io_sim_free(sim);
}

/* Every file the engine creates is 0600, whatever the umask. */
static void test_file_modes(void **state) {
        mode_t old = umask(0);
        mstore_sg *sg;
        mstore_db *db;
        assert_int_equal(open_real(&sg), 0);
        assert_int_equal(mstore_db_create(sg, "DB", NULL, &db), 0);
        mstore_txn *t;
        char v[3000];
        memset(v, 'm', sizeof v);
        for (int i = 0; i < 100; i++) { /* several log generations */
                char k[16];
                snprintf(k, sizeof k, "k%04d", i);
                assert_int_equal(mstore_txn_begin(sg, &t), 0);
                assert_int_equal(mstore_put(t, db, k, strlen(k), v, sizeof v), 0);
                assert_int_equal(mstore_txn_commit(t), 0);
        }
        assert_int_equal(mstore_sg_checkpoint(sg), 0);
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *de;
        int n = 0, edb = 0, stm = 0, chk = 0, logs = 0, lock = 0, jrs = 0;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char p[512];
                struct stat st;
                snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
                assert_int_equal(lstat(p, &st), 0);
                assert_true(S_ISREG(st.st_mode));
                if ((st.st_mode & 07777) != 0600)
                        fail_msg("%s has mode %04o, want 0600", p, (unsigned) (st.st_mode & 07777));
                const char *ext = strrchr(de->d_name, '.');
                edb += ext && !strcmp(ext, ".edb");
                stm += ext && !strcmp(ext, ".stm");
                chk += ext && !strcmp(ext, ".chk");
                logs += ext && !strcmp(ext, ".log");
                lock += ext && !strcmp(ext, ".lock");
                jrs += ext && !strcmp(ext, ".jrs"); /* reserve logs */
                n++;
        }
        closedir(d);
        assert_int_equal(mstore_sg_close(sg), 0);
        umask(old);
        /* the checks saw every kind of file */
        assert_int_equal(edb, 1);
        assert_int_equal(stm, 1);
        assert_int_equal(chk, 1);
        assert_int_equal(lock, 1);
        assert_true(logs >= 2);
        assert_true(jrs >= 1);
        assert_int_equal(n, edb + stm + chk + logs + lock + jrs);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
                cmocka_unit_test(test_sim_lock),
                cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
