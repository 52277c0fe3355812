/* SPDX-License-Identifier: MIT */
/* Engine basics: create, put/get/del, cursors, streams, splits, reopen,
 * concurrent group commit, attach/detach. */
#include <errno.h>
#include <pthread.h>
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

static io_sim *sim;

static mstore_sg *open_sg(int create) {
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = create;
        o.io = io_sim_io(sim);
        o.log_file_size = 128 * 1024;
        mstore_sg *sg = NULL;
        int r = mstore_sg_open("/sg", &o, &sg);
        if (r < 0)
                fprintf(stderr, "open: %s: %s\n", mstore_strerror(r), mstore_last_error());
        assert_int_equal(r, 0);
        return sg;
}

static int setup(void **state) {
        sim = io_sim_new(1);
        return sim ? 0 : -1;
}

static int teardown(void **state) {
        io_sim_free(sim);
        return 0;
}

static void put1(mstore_sg *sg, mstore_db *db, const char *k, const char *v) {
        mstore_txn *t;
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        assert_int_equal(mstore_put(t, db, k, strlen(k), v, strlen(v)), 0);
        assert_int_equal(mstore_txn_commit(t), 0);
}

static char *get1(mstore_sg *sg, mstore_db *db, const char *k) {
        mstore_txn *t;
        void *v = NULL;
        size_t l;
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        int r = mstore_get(t, db, k, strlen(k), &v, &l);
        mstore_txn_abort(t);
        return r == 0 ? v : NULL;
}

static void test_create_put_get_reopen(void **state) {
        mstore_sg *sg = open_sg(1);
        mstore_db *db;
        assert_int_equal(mstore_db_create(sg, "DB1", NULL, &db), 0);
        put1(sg, db, "alpha", "one");
        put1(sg, db, "beta", "two");
        char *v = get1(sg, db, "alpha");
        assert_string_equal(v, "one");
        free(v);
        assert_int_equal(mstore_sg_close(sg), 0);

        sg = open_sg(0);
        assert_int_equal(mstore_db_count(sg), 0);
        assert_int_equal(mstore_db_attach(sg, "DB1", NULL, &db), 0);
        v = get1(sg, db, "beta");
        assert_string_equal(v, "two");
        free(v);
        mstore_header_info hi;
        (void) hi;
        assert_int_equal(mstore_sg_close(sg), 0);
}

static void test_many_keys_cursor_delete(void **state) {
        mstore_sg *sg = open_sg(1);
        mstore_db *db;
        assert_int_equal(mstore_db_create(sg, "DB2", NULL, &db), 0);
        char k[64], v[2000];
        mstore_txn *t;
        for (int batch = 0; batch < 20; batch++) {
                assert_int_equal(mstore_txn_begin(sg, &t), 0);
                for (int i = batch * 100; i < batch * 100 + 100; i++) {
                        snprintf(k, sizeof k, "m/%06d", i);
                        size_t vl = (size_t) (i % 7 == 0 ? 1500 : 20 + i % 50);
                        memset(v, 'a' + i % 26, vl);
                        assert_int_equal(mstore_put(t, db, k, strlen(k), v, vl), 0);
                }
                assert_int_equal(mstore_txn_commit(t), 0);
        }
        put1(sg, db, "n/zzz", "other prefix");
        /* delete every third */
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        for (int i = 0; i < 2000; i += 3) {
                snprintf(k, sizeof k, "m/%06d", i);
                assert_int_equal(mstore_del(t, db, k, strlen(k)), 0);
        }
        assert_int_equal(mstore_del(t, db, "nope", 4), -ENOENT);
        assert_int_equal(mstore_txn_commit(t), 0);

        assert_int_equal(mstore_sg_close(sg), 0);
        sg = open_sg(0);
        assert_int_equal(mstore_db_attach(sg, "DB2", NULL, &db), 0);
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        /* uncommitted writes are visible to the cursor of the same txn */
        assert_int_equal(mstore_put(t, db, "m/000000", 8, "back", 4), 0);
        mstore_cursor *c;
        assert_int_equal(mstore_cursor_open_prefix(t, db, "m/", 2, &c), 0);
        const void *kp, *vp;
        size_t kl, vl;
        int n = 0, prev = -1;
        while (mstore_cursor_next(c, &kp, &kl, &vp, &vl) == 1) {
                int i = atoi((const char *) kp + 2);
                assert_true(i > prev);
                if (i != 0)
                        assert_true(i % 3 != 0);
                assert_int_equal(vl, i == 0 ? 4 : (size_t) (i % 7 == 0 ? 1500 : 20 + i % 50));
                prev = i;
                n++;
        }
        mstore_cursor_free(c);
        assert_int_equal(n, 2000 - 667 + 1);
        mstore_txn_abort(t);
        assert_int_equal(mstore_sg_close(sg), 0);
}

static void test_streams(void **state) {
        mstore_sg *sg = open_sg(1);
        mstore_db *db;
        assert_int_equal(mstore_db_create(sg, "DB3", NULL, &db), 0);
        size_t len = 100000;
        uint8_t *data = malloc(len), *back = malloc(len);
        for (size_t i = 0; i < len; i++)
                data[i] = (uint8_t) (i * 7 + i / 300);
        mstore_txn *t;
        mstore_stream_ref ref;
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        assert_int_equal(mstore_stream_write(t, db, data, len, &ref), 0);
        assert_int_equal(mstore_stream_read(t, db, &ref, 0, back, len), (int) len);
        assert_memory_equal(back, data, len);
        assert_int_equal(mstore_put(t, db, "msg", 3, ref.bytes, sizeof ref.bytes), 0);
        assert_int_equal(mstore_txn_commit(t), 0);
        assert_int_equal(mstore_stream_length(&ref), len);
        memset(back, 0, len);
        assert_int_equal(mstore_stream_read(NULL, db, &ref, 0, back, len), (int) len);
        assert_memory_equal(back, data, len);
        assert_int_equal(mstore_sg_checkpoint(sg), 0);
        assert_int_equal(mstore_stream_read(NULL, db, &ref, 5000, back, 10), 10);
        assert_memory_equal(back, data + 5000, 10);
        assert_int_equal(mstore_sg_close(sg), 0);
        sg = open_sg(0);
        assert_int_equal(mstore_db_attach(sg, "DB3", NULL, &db), 0);
        void *v;
        size_t vl;
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        assert_int_equal(mstore_get(t, db, "msg", 3, &v, &vl), 0);
        assert_int_equal(vl, sizeof ref.bytes);
        memcpy(ref.bytes, v, vl);
        free(v);
        memset(back, 0, len);
        assert_int_equal(mstore_stream_read(t, db, &ref, 0, back, len), (int) len);
        assert_memory_equal(back, data, len);
        mstore_txn_abort(t);
        assert_int_equal(mstore_sg_close(sg), 0);
        free(data);
        free(back);
}

typedef struct worker {
        mstore_sg *sg;
        mstore_db *db;
        int id;
        int n;
} worker;

static void *work(void *arg) {
        worker *w = arg;
        for (int i = 0; i < w->n; i++) {
                char k[32], v[64];
                snprintf(k, sizeof k, "w%02d/%05d", w->id, i);
                snprintf(v, sizeof v, "value %d %d", w->id, i);
                mstore_txn *t;
                if (mstore_txn_begin(w->sg, &t) < 0 || mstore_put(t, w->db, k, strlen(k), v, strlen(v)) < 0 ||
                    mstore_txn_commit(t) < 0)
                        return (void *) 1;
        }
        return NULL;
}

static void test_concurrent_commits_and_crash(void **state) {
        mstore_sg *sg = open_sg(1);
        mstore_db *db;
        assert_int_equal(mstore_db_create(sg, "DB4", NULL, &db), 0);
        pthread_t th[8];
        worker w[8];
        for (int i = 0; i < 8; i++) {
                w[i] = (worker) { sg, db, i, 200 };
                pthread_create(&th[i], NULL, work, &w[i]);
        }
        for (int i = 0; i < 8; i++) {
                void *rv;
                pthread_join(th[i], &rv);
                assert_null(rv);
        }
        /* power cut without close: every acknowledged commit must survive */
        io_sim_crash_at(sim, 1);
        mstore_sg_close(sg); /* frees memory; every write fails now */
        io_sim_power_cut(sim, 1);
        sg = open_sg(0);
        db = mstore_db_find(sg, "DB4");
        assert_non_null(db);
        for (int i = 0; i < 8; i++)
                for (int j = 0; j < 200; j += 17) {
                        char k[32], v[64];
                        snprintf(k, sizeof k, "w%02d/%05d", i, j);
                        snprintf(v, sizeof v, "value %d %d", i, j);
                        char *got = get1(sg, db, k);
                        assert_non_null(got);
                        assert_string_equal(got, v);
                        free(got);
                }
        mstore_sg_info info;
        assert_int_equal(mstore_sg_get_info(sg, &info), 0);
        assert_true(info.current_generation > 1);
        assert_int_equal(mstore_sg_close(sg), 0);
}

static void test_stream_space_reused(void **state) {
        mstore_sg *sg = open_sg(1);
        mstore_db *db;
        assert_int_equal(mstore_db_create(sg, "S", NULL, &db), 0);
        uint8_t data[20000];
        memset(data, 7, sizeof data);
        mstore_stream_ref refs[10];
        mstore_txn *t;
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        for (int i = 0; i < 10; i++)
                assert_int_equal(mstore_stream_write(t, db, data, sizeof data, &refs[i]), 0);
        assert_int_equal(mstore_txn_commit(t), 0);
        /* an aborted stream gives its pages back */
        mstore_stream_ref tmp, again;
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        assert_int_equal(mstore_stream_write(t, db, data, sizeof data, &tmp), 0);
        mstore_txn_abort(t);
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        assert_int_equal(mstore_stream_write(t, db, data, sizeof data, &again), 0);
        assert_memory_equal(tmp.bytes, again.bytes, 12);
        mstore_txn_abort(t);
        /* deleted streams' pages are reused, also after a reopen */
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        for (int i = 0; i < 10; i += 2)
                assert_int_equal(mstore_stream_delete(t, db, &refs[i]), 0);
        assert_int_equal(mstore_txn_commit(t), 0);
        assert_int_equal(mstore_sg_close(sg), 0);
        sg = open_sg(0);
        assert_int_equal(mstore_db_attach(sg, "S", NULL, &db), 0);
        int reused = 0;
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        for (int j = 0; j < 6; j++) { /* one takes the aborted stream's pages, the others deleted ones */
                assert_int_equal(mstore_stream_write(t, db, data, sizeof data, &again), 0);
                for (int i = 0; i < 10; i += 2)
                        reused += memcmp(refs[i].bytes, again.bytes, 8) == 0;
        }
        assert_int_equal(mstore_txn_commit(t), 0);
        assert_int_equal(reused, 5);
        uint8_t back[20000];
        for (int i = 1; i < 10; i += 2) {
                assert_int_equal(mstore_stream_read(NULL, db, &refs[i], 0, back, sizeof back), (int) sizeof back);
                assert_memory_equal(back, data, sizeof back);
        }
        assert_int_equal(mstore_sg_close(sg), 0);
}

static void test_limits_and_multi_db(void **state) {
        mstore_sg *sg = open_sg(1);
        mstore_db *db[5], *extra;
        char name[8];
        for (int i = 0; i < 5; i++) {
                snprintf(name, sizeof name, "D%d", i);
                assert_int_equal(mstore_db_create(sg, name, NULL, &db[i]), 0);
        }
        assert_int_equal(mstore_db_create(sg, "D5", NULL, &extra), MSTORE_E_TOO_MANY);
        assert_int_equal(mstore_db_create(sg, "bad/name", NULL, &extra), -EINVAL);
        mstore_txn *t;
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        for (int i = 0; i < 5; i++)
                assert_int_equal(mstore_put(t, db[i], "k", 1, "v", 1), 0);
        assert_int_equal(mstore_txn_commit(t), 0);
        assert_int_equal(mstore_db_detach(db[4]), 0);
        assert_int_equal(mstore_db_count(sg), 4);
        assert_int_equal(mstore_db_attach(sg, "D4", NULL, &db[4]), 0);
        mstore_db *same;
        assert_int_equal(mstore_db_attach(sg, "D4", NULL, &same), 0);
        assert_ptr_equal(same, db[4]);
        char *v = get1(sg, db[4], "k");
        assert_string_equal(v, "v");
        free(v);
        assert_int_equal(mstore_sg_close(sg), 0);
}

static void test_circular_logging(void **state) {
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = 1;
        o.io = io_sim_io(sim);
        o.log_file_size = 64 * 1024;
        o.circular_logging = 1;
        mstore_sg *sg;
        assert_int_equal(mstore_sg_open("/sg", &o, &sg), 0);
        mstore_db *db;
        assert_int_equal(mstore_db_create(sg, "C", NULL, &db), 0);
        char k[32], v[900];
        memset(v, 'c', sizeof v);
        for (int i = 0; i < 600; i++) {
                snprintf(k, sizeof k, "k%05d", i);
                put1(sg, db, k, "x");
                mstore_txn *t;
                assert_int_equal(mstore_txn_begin(sg, &t), 0);
                assert_int_equal(mstore_put(t, db, "big", 3, v, sizeof v), 0);
                assert_int_equal(mstore_txn_commit(t), 0);
        }
        mstore_sg_info info;
        assert_int_equal(mstore_sg_get_info(sg, &info), 0);
        assert_true(info.current_generation > 10);
        assert_true(info.lowest_generation > 1); /* old generations are gone */
        assert_int_equal(mstore_sg_close(sg), 0);
        o.create = 0;
        assert_int_equal(mstore_sg_open("/sg", &o, &sg), 0);
        assert_int_equal(mstore_db_attach(sg, "C", NULL, &db), 0);
        char *got = get1(sg, db, "k00599");
        assert_string_equal(got, "x");
        free(got);
        assert_int_equal(mstore_sg_close(sg), 0);
}

static void test_log_disk_full_reserve(void **state) {
        mstore_sg *sg = open_sg(1);
        mstore_db *db;
        assert_int_equal(mstore_db_create(sg, "R", NULL, &db), 0);
        /* no new log file can be created from now on */
        io_sim_fail_path(sim, "tmp.log", ENOSPC);
        char k[32], v[800];
        memset(v, 'r', sizeof v);
        int r = 0, acked = 0;
        for (int i = 0; i < 1000 && r == 0; i++) {
                mstore_txn *t;
                snprintf(k, sizeof k, "k%05d", i);
                assert_int_equal(mstore_txn_begin(sg, &t), 0);
                assert_int_equal(mstore_put(t, db, k, strlen(k), v, sizeof v), 0);
                r = mstore_txn_commit(t);
                if (r == 0)
                        acked = i + 1;
        }
        if (r != MSTORE_E_READ_ONLY)
                fprintf(stderr, "commit: %s\n", mstore_sg_last_error(sg));
        assert_int_equal(r, MSTORE_E_READ_ONLY);
        mstore_sg_info info;
        assert_int_equal(mstore_sg_get_info(sg, &info), 0);
        assert_true(info.read_only);
        assert_false(info.failed);
        char *got = get1(sg, db, "k00000"); /* reads still work */
        assert_non_null(got);
        free(got);
        assert_int_equal(mstore_sg_close(sg), 0); /* a clean shutdown */
        io_sim_fail_path(sim, NULL, 0);
        sg = open_sg(0);
        assert_int_equal(mstore_db_attach(sg, "R", NULL, &db), 0);
        snprintf(k, sizeof k, "k%05d", acked - 1);
        got = get1(sg, db, k);
        assert_non_null(got);
        free(got);
        put1(sg, db, "after", "ok");
        assert_int_equal(mstore_sg_close(sg), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create_put_get_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_keys_cursor_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_streams, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_commits_and_crash, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stream_space_reused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limits_and_multi_db, setup, teardown),
                cmocka_unit_test_setup_teardown(test_circular_logging, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_disk_full_reserve, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
