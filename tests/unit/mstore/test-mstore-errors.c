/* SPDX-License-Identifier: MIT */
/* Error messages (docs/design/store.md §8): each on the handle the failed
 * call was made on; the group's slot per thread; the thread's slot only
 * for calls with no handle. */
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

#include "ckpt.h"
#include "io-sim.h"
#include "lib/core/error-slot.h"
#include "mstore/mstore.h"
#include "page.h"
#include "verify.h"

static io_sim *sim;

static mstore_sg *open_at(const char *dir) {
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = 1;
        o.io = io_sim_io(sim);
        o.log_file_size = 128 * 1024;
        mstore_sg *sg = NULL;
        int r = mstore_sg_open(dir, &o, &sg);
        if (r < 0)
                fprintf(stderr, "open %s: %s\n", dir, mstore_last_error());
        assert_int_equal(r, 0);
        return sg;
}

static int setup(void **state) {
        sim = io_sim_new(7);
        return sim ? 0 : -1;
}

static int teardown(void **state) {
        io_sim_free(sim);
        return 0;
}

#define assert_has(haystack, needle)                                                  \
        do {                                                                          \
                const char *h_ = (haystack);                                          \
                if (!strstr(h_, (needle)))                                            \
                        fail_msg("message '%s' does not contain '%s'", h_, (needle)); \
        } while (0)

/* A failure on group A stays A's: a later failure on group B, a failure of
 * a libmstore function with no handle and a lib/core thread-slot failure
 * in the same thread leave it; and a failure on a group does not touch the
 * thread's slot (before, it overwrote whatever the thread's slot held). */
static void test_group_message_kept(void **state) {
        mstore_sg *a = open_at("/a"), *b = open_at("/b");
        mstore_db *db;
        mstore_header_info hi;

        assert_true(mstore_read_header("/nonexistent-lvss/x.edb", &hi) < 0);
        assert_has(mstore_last_error(), "/nonexistent-lvss/x.edb");

        assert_int_equal(mstore_db_attach(a, "MISSING", NULL, &db), -ENOENT);
        assert_has(mstore_sg_last_error(a), "/a/MISSING.edb");
        /* the thread's slot is for calls with no handle: untouched */
        assert_has(mstore_last_error(), "/nonexistent-lvss/x.edb");

        assert_int_equal(mstore_db_attach(b, "OTHER", NULL, &db), -ENOENT);
        assert_has(mstore_sg_last_error(b), "/b/OTHER.edb");

        assert_true(mstore_read_header("/nonexistent-lvss/y.edb", &hi) < 0);
        (void) error_slot_set(NULL, -EIO, "lib/core: an unrelated failure");
        assert_has(mstore_sg_last_error(a), "/a/MISSING.edb");
        assert_has(mstore_sg_last_error(b), "/b/OTHER.edb");
        assert_string_equal(mstore_last_error(), "lib/core: an unrelated failure");

        /* a success does not clear it */
        assert_int_equal(mstore_db_create(a, "DB", NULL, &db), 0);
        assert_has(mstore_sg_last_error(a), "/a/MISSING.edb");

        /* closing frees the group: nothing is left to read on it */
        assert_int_equal(mstore_sg_close(a), 0);
        assert_int_equal(mstore_sg_close(b), 0);
}

/* Transactions and snapshot sessions keep their own message; the group's
 * slot has the calling thread's last failure on anything of the group,
 * including commit and snapshot end, which free their handle. */
static void test_txn_and_snapshot_messages(void **state) {
        mstore_sg *sg = open_at("/t");
        mstore_db *db, *db2;
        assert_int_equal(mstore_db_create(sg, "DB", NULL, &db), 0);
        assert_int_equal(mstore_db_create(sg, "DB2", NULL, &db2), 0);

        mstore_txn *t1, *t2;
        assert_int_equal(mstore_txn_begin(sg, &t1), 0);
        assert_int_equal(mstore_txn_begin(sg, &t2), 0);
        assert_string_equal(mstore_txn_last_error(t1), "");
        static char big[MSTORE_MAX_KEY_SIZE + 1];
        memset(big, 'k', sizeof big);
        assert_int_equal(mstore_put(t1, db, big, sizeof big, "v", 1), -E2BIG);
        assert_int_equal(mstore_put(t2, db, "k", 1, NULL, 7), -E2BIG);
        assert_has(mstore_txn_last_error(t1), "key (513 bytes)");
        assert_has(mstore_txn_last_error(t2), "value (7 bytes)");
        assert_has(mstore_sg_last_error(sg), "value (7 bytes)");

        /* commit frees the transaction: its failure is on the group */
        assert_int_equal(mstore_put(t1, db2, "k", 1, "v", 1), 0);
        assert_int_equal(mstore_db_detach(db2), 0);
        assert_int_equal(mstore_txn_commit(t1), -ENOENT);
        assert_has(mstore_sg_last_error(sg), "database DB2 was detached");
        assert_has(mstore_txn_last_error(t2), "value (7 bytes)");
        mstore_txn_abort(t2);

        mstore_snap *snap;
        assert_int_equal(mstore_snapshot_prepare(sg, MSTORE_BACKUP_FULL, &snap), 0);
        assert_int_equal(mstore_snapshot_thaw(snap), MSTORE_E_BAD_SEQUENCE);
        assert_has(mstore_snapshot_last_error(snap), "thaw in state prepared");
        assert_has(mstore_sg_last_error(sg), "thaw in state prepared");
        mstore_snap *snap2;
        assert_int_equal(mstore_snapshot_prepare(sg, MSTORE_BACKUP_FULL, &snap2), -EBUSY);
        assert_has(mstore_sg_last_error(sg), "already in progress");
        assert_has(mstore_snapshot_last_error(snap), "thaw in state prepared");
        assert_int_equal(mstore_snapshot_end(snap), 0);
        assert_int_equal(mstore_sg_close(sg), 0);
}

/* Two threads fail on one group (and each on its own transaction) before
 * either reads: each reads its own message.  Before, the group kept one
 * copy, so one of the two read the other's. */
typedef struct worker {
        mstore_sg *sg;
        mstore_db *db;
        pthread_barrier_t *both_failed;
        int idx;
        int r_attach, r_put;
        char sg_msg[ERROR_SLOT_SIZE], txn_msg[ERROR_SLOT_SIZE], sg_msg_after_txn[ERROR_SLOT_SIZE];
} worker;

static void *work(void *arg) {
        worker *w = arg;
        char name[16];
        snprintf(name, sizeof name, "GONE%d", w->idx);
        mstore_db *db;
        w->r_attach = mstore_db_attach(w->sg, name, NULL, &db);
        pthread_barrier_wait(w->both_failed);
        snprintf(w->sg_msg, sizeof w->sg_msg, "%s", mstore_sg_last_error(w->sg));
        pthread_barrier_wait(w->both_failed);

        mstore_txn *t;
        if (mstore_txn_begin(w->sg, &t) < 0)
                return NULL;
        w->r_put = mstore_put(t, w->db, "k", 1, NULL, (size_t) 100 + (size_t) w->idx);
        pthread_barrier_wait(w->both_failed);
        snprintf(w->txn_msg, sizeof w->txn_msg, "%s", mstore_txn_last_error(t));
        snprintf(w->sg_msg_after_txn, sizeof w->sg_msg_after_txn, "%s", mstore_sg_last_error(w->sg));
        mstore_txn_abort(t);
        return NULL;
}

static void test_threads_do_not_mix(void **state) {
        mstore_sg *sg = open_at("/mt");
        mstore_db *db;
        assert_int_equal(mstore_db_create(sg, "DB", NULL, &db), 0);
        pthread_barrier_t bar;
        assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
        worker w[2];
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
                w[i] = (worker){.sg = sg, .db = db, .both_failed = &bar, .idx = i};
                assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
        }
        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_join(th[i], NULL), 0);
        pthread_barrier_destroy(&bar);
        for (int i = 0; i < 2; i++) {
                char want[32];
                assert_int_equal(w[i].r_attach, -ENOENT);
                snprintf(want, sizeof want, "/mt/GONE%d.edb", i);
                assert_has(w[i].sg_msg, want);
                assert_int_equal(w[i].r_put, -E2BIG);
                snprintf(want, sizeof want, "value (%d bytes)", 100 + i);
                assert_has(w[i].txn_msg, want);
                assert_has(w[i].sg_msg_after_txn, want);
        }
        /* this thread failed on nothing of the group */
        assert_string_equal(mstore_sg_last_error(sg), "");
        assert_int_equal(mstore_sg_close(sg), 0);
}

/* A thread keeps the messages of the last 8 groups it failed on: failing
 * on a ninth forgets the oldest, which then reads "" (never another
 * group's message). */
static void test_ninth_group_forgets_the_oldest(void **state) {
        enum { N = 9 };
        mstore_sg *sg[N];
        mstore_db *db;
        char dir[16], want[32];
        for (int i = 0; i < N; i++) {
                snprintf(dir, sizeof dir, "/g%d", i);
                sg[i] = open_at(dir);
                assert_int_equal(mstore_db_attach(sg[i], "NONE", NULL, &db), -ENOENT);
        }
        assert_string_equal(mstore_sg_last_error(sg[0]), "");
        for (int i = 1; i < N; i++) {
                snprintf(want, sizeof want, "/g%d/NONE.edb", i);
                assert_has(mstore_sg_last_error(sg[i]), want);
        }
        /* a new failure on the oldest takes a slot again */
        assert_int_equal(mstore_db_attach(sg[0], "AGAIN", NULL, &db), -ENOENT);
        assert_has(mstore_sg_last_error(sg[0]), "/g0/AGAIN.edb");
        assert_string_equal(mstore_sg_last_error(sg[1]), "");
        for (int i = 0; i < N; i++)
                assert_int_equal(mstore_sg_close(sg[i]), 0);
}

static void collect(uint64_t pgno, const char *what, void *userdata) {
        (void) pgno;
        char *buf = userdata;
        snprintf(buf + strlen(buf), 512 - strlen(buf), "%s|", what);
}

/* The decoders' reasons (page.h: page_check), each raised into the slot its
 * caller gave, reach the message of the call that read the bad bytes with
 * their text unchanged; a call on a handle leaves the thread's slot alone. */
static void test_decoder_reasons(void **state) {
        const struct mstore_io *io = io_sim_io(sim);
        mstore_sg *sg = open_at("/d");
        mstore_db *db;
        mstore_txn *t;
        void *v;
        size_t vl;
        char seen[512] = "";
        assert_int_equal(mstore_db_create(sg, "D", NULL, &db), 0);
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        assert_int_equal(mstore_put(t, db, "k", 1, "v", 1), 0);
        assert_int_equal(mstore_txn_commit(t), 0);
        assert_int_equal(mstore_sg_close(sg), 0);
        assert_int_equal(verify_file_io(io, "/d/D.edb", collect, seen, NULL, NULL, NULL), 0);
        assert_string_equal(seen, "");

        /* a bad B+tree page: verify's report, and a read on a transaction */
        assert_int_equal(io_sim_flip_bit(sim, "/d/D.edb", (3 * PAGE_SIZE + 200) * 8), 0);
        assert_int_equal(verify_file_io(io, "/d/D.edb", collect, seen, NULL, NULL, NULL), MSTORE_E_CORRUPT);
        assert_string_equal(seen, "page 3: checksum mismatch|");
        (void) error_slot_set(NULL, 0, "lib/core: an unrelated failure");
        sg = open_at("/d");
        db = mstore_db_find(sg, "D");
        if (!db)
                assert_int_equal(mstore_db_attach(sg, "D", NULL, &db), 0);
        assert_int_equal(mstore_txn_begin(sg, &t), 0);
        assert_int_equal(mstore_get(t, db, "k", 1, &v, &vl), MSTORE_E_CORRUPT);
        assert_string_equal(mstore_txn_last_error(t), "/d/D.edb: page 3: checksum mismatch");
        assert_string_equal(mstore_last_error(), "lib/core: an unrelated failure");
        mstore_txn_abort(t);
        assert_int_equal(mstore_sg_close(sg), 0);

        /* both header copies bad: each copy's reason */
        assert_int_equal(io_sim_flip_bit(sim, "/d/D.edb", (0 * PAGE_SIZE + 300) * 8), 0);
        memset(seen, 0, sizeof seen);
        assert_int_equal(io_sim_flip_bit(sim, "/d/D.edb", (1 * PAGE_SIZE + 300) * 8), 0);
        assert_int_equal(verify_file_io(io, "/d/D.edb", collect, seen, NULL, NULL, NULL), MSTORE_E_CORRUPT);
        assert_string_equal(seen, "page 0 (header copy 0): checksum mismatch|page 1 (header copy 1): checksum mismatch|"
                                  "page 3: checksum mismatch|");
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.io = io;
        o.log_file_size = 128 * 1024;
        (void) error_slot_set(NULL, 0, "lib/core: an unrelated failure");
        assert_int_equal(mstore_sg_open("/d", &o, &sg), 0);
        /* D is not opened with the group: attaching reads its headers */
        assert_int_equal(mstore_db_attach(sg, "D", NULL, &db), MSTORE_E_CORRUPT);
        assert_string_equal(mstore_sg_last_error(sg),
                            "/d/D.edb: both header copies are bad (checksum mismatch; checksum mismatch)");
        assert_string_equal(mstore_last_error(), "lib/core: an unrelated failure");
        assert_int_equal(mstore_sg_close(sg), 0);

        /* the checkpoint: the primary copy's reason */
        ckpt c;
        int copy;
        ErrorSlot es;
        assert_int_equal(io_sim_flip_bit(sim, "/d/E00.chk", 100 * 8), 0);
        assert_int_equal(ckpt_read(io, "/d/E00.chk", &c, &copy, &es), 0);
        assert_int_equal(copy, 1);
        assert_int_equal(io_sim_flip_bit(sim, "/d/E00.chk", (CKPT_SIZE + 100) * 8), 0);
        assert_int_equal(ckpt_read(io, "/d/E00.chk", &c, &copy, &es), MSTORE_E_CORRUPT);
        assert_string_equal(error_slot_get(&es), "checkpoint checksum mismatch");
        assert_int_equal(ckpt_read(io, "/d/NONE.chk", &c, &copy, &es), -ENOENT);
        assert_string_equal(error_slot_get(&es), "no checkpoint file");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_group_message_kept, setup, teardown),
                cmocka_unit_test_setup_teardown(test_txn_and_snapshot_messages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_threads_do_not_mix, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ninth_group_forgets_the_oldest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decoder_reasons, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
