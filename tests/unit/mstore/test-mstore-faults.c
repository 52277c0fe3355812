/* SPDX-License-Identifier: MIT */
/* I/O fault injection: the Nth write or sync fails with EIO or ENOSPC; the
 * group must report it, refuse further work (sticky) and, once reopened,
 * hold every acknowledged commit.  Each case asserts that its fault fired
 * (io_sim_faults_fired) and that a call failed because of it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "io-sim.h"
#include "mstore/mstore.h"

static mstore_sg *open_sg(io_sim *sim, int create) {
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = create;
        o.io = io_sim_io(sim);
        o.log_file_size = 64 * 1024;
        mstore_sg *sg = NULL;
        int r = mstore_sg_open("/sg", &o, &sg);
        if (r < 0)
                fprintf(stderr, "open: %s\n", mstore_last_error());
        assert_int_equal(r, 0);
        return sg;
}

static void run(int fail_sync, int err) {
        int unreported = 0, writer_msgs = 0;
        for (uint64_t n = 1; n <= 60; n += 3) {
                io_sim *sim = io_sim_new(n);
                mstore_sg *sg = open_sg(sim, 1);
                mstore_db *db;
                assert_int_equal(mstore_db_create(sg, "F", NULL, &db), 0);
                if (fail_sync)
                        io_sim_fail_sync(sim, n, err);
                else
                        io_sim_fail_write(sim, n, err);
                int acked = 0, r = 0;
                char k[32], v[600];
                memset(v, 'x', sizeof v);
                for (int i = 0; i < 200; i++) {
                        mstore_txn *t;
                        r = mstore_txn_begin(sg, &t);
                        if (r < 0)
                                break;
                        snprintf(k, sizeof k, "k%05d", i);
                        assert_int_equal(mstore_put(t, db, k, strlen(k), v, sizeof v), 0);
                        r = mstore_txn_commit(t);
                        if (r < 0) {
                                /* a failed flush: the log writer's own message (its ErrorSlot), raised
                                 * into the group by the committing thread */
                                const char *msg = mstore_sg_last_error(sg);
                                if (strstr(msg, "log stopped after an error (") && strstr(msg, " log generation 0x") &&
                                    strstr(msg, strerror(err)) && strstr(msg, "); reopen the storage group"))
                                        writer_msgs++;
                                break;
                        }
                        acked = i + 1;
                }
                /* the injected fault happened, once */
                char where[256];
                assert_int_equal(io_sim_faults_fired(sim, where, sizeof where), 1);
                mstore_sg_info info;
                assert_int_equal(mstore_sg_get_info(sg, &info), 0);
                if (r >= 0) {
                        /* it hit a best-effort write (pre-creating the next
                         * log generation, redone later): nothing was lost */
                        if (strcmp(where, "/sg/E00tmp.log") != 0)
                                fail_msg("fault in %s was not reported", where);
                        assert_false(info.failed);
                        assert_int_equal(acked, 200);
                        unreported++;
                } else {
                        assert_true(r == MSTORE_E_FAILED || r == MSTORE_E_READ_ONLY);
                        /* sticky: nothing more is accepted */
                        mstore_txn *t;
                        if (r == MSTORE_E_FAILED) {
                                assert_true(info.failed);
                                assert_int_equal(mstore_txn_begin(sg, &t), MSTORE_E_FAILED);
                        }
                        assert_true(strlen(mstore_sg_last_error(sg)) > 0);
                }
                mstore_sg_close(sg);
                sg = open_sg(sim, 0);
                db = mstore_db_find(sg, "F");
                if (!db)
                        assert_int_equal(mstore_db_attach(sg, "F", NULL, &db), 0);
                mstore_txn *t;
                assert_int_equal(mstore_txn_begin(sg, &t), 0);
                for (int i = 0; i < acked; i++) {
                        void *got;
                        size_t gl;
                        snprintf(k, sizeof k, "k%05d", i);
                        assert_int_equal(mstore_get(t, db, k, strlen(k), &got, &gl), 0);
                        assert_int_equal(gl, sizeof v);
                        free(got);
                }
                mstore_txn_abort(t);
                assert_int_equal(mstore_sg_close(sg), 0);
                io_sim_free(sim);
        }
        /* most fault points are on the commit path (20 points; the
         * pre-created next generation takes a few of the write points) */
        assert_true(unreported <= (fail_sync ? 0 : 5));
        if (err == EIO)
                assert_true(writer_msgs > 0);
}

static void test_write_eio(void **s) { run(0, EIO); }
static void test_write_enospc(void **s) { run(0, ENOSPC); }
static void test_sync_eio(void **s) { run(1, EIO); }

/* Empty files have no buffers in io-sim: zero-length reads, writes, syncs
 * and a power cut over them must not hand NULL to memcpy (UBSan
 * nonnull-attribute; found by mstore-crash-mt under ASan+UBSan). */
static void test_sim_empty_files(void **s) {
        io_sim *sim = io_sim_new(5);
        const struct mstore_io *io = io_sim_io(sim);
        mstore_file *a, *b;
        assert_int_equal(io->open(io, "/e1", MSTORE_IO_CREATE, &a), 0);
        assert_int_equal(io->open(io, "/e2", MSTORE_IO_CREATE, &b), 0);
        assert_int_equal(io->pwrite(a, NULL, 0, 0), 0);
        assert_int_equal(io->sync(a), 0); /* durable copy of an empty file */
        char buf[8] = "xxxxxxx";
        assert_int_equal(io->pread(b, buf, sizeof buf, 0), 0);
        assert_int_equal(io->pwrite(b, "abc", 3, 0), 0); /* e2: pending only, nothing durable */
        assert_int_equal(io->pread(b, NULL, 0, 0), 0);
        io_sim_power_cut(sim, 1);
        io_sim_power_cut(sim, 0);
        uint64_t size = 99;
        assert_int_equal(io->size(a, &size), 0);
        assert_int_equal(size, 0);
        io->close(a);
        io->close(b);
        io_sim_free(sim);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_write_eio),
                cmocka_unit_test(test_write_enospc),
                cmocka_unit_test(test_sync_eio),
                cmocka_unit_test(test_sim_empty_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
