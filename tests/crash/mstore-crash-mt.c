/* SPDX-License-Identifier: MIT */
/*
 * mstore-crash-mt: the power-cut simulation with concurrent committers
 * (group commit, concurrent apply, automatic checkpoints from committing
 * threads).  Each thread owns a slice of the keys; after every cut and
 * recovery each thread's acknowledged commits must be there and its commit
 * in flight must be all there or not at all.
 * Usage: mstore-crash-mt [CRASH_POINTS] [SEED]
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io-sim.h"
#include "mstore/mstore.h"
#include "verify.h"

#define THREADS 4
#define KPT 40 /* keys per thread */
#define MAXV 1500

typedef struct val {
        int present;
        size_t len;
        uint8_t data[MAXV];
} val;

typedef struct worker {
        int tid;
        uint64_t rng;
        mstore_sg *sg;
        mstore_db *db;
        val model[KPT];
        int npend;
        int pend[3];
        val pv[3];
        uint64_t commits;
} worker;

static uint64_t rnd(uint64_t *s) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 2685821657736338717ull;
}

static void *work(void *arg) {
        worker *w = arg;
        for (;;) {
                mstore_txn *t;
                if (mstore_txn_begin(w->sg, &t) < 0)
                        return NULL;
                w->npend = 1 + (int) (rnd(&w->rng) % 3);
                int r = 0;
                for (int j = 0; j < w->npend && r >= 0; j++) {
                        int k, dup;
                        do {
                                k = (int) (rnd(&w->rng) % KPT);
                                dup = 0;
                                for (int q = 0; q < j; q++)
                                        dup |= w->pend[q] == k;
                        } while (dup);
                        w->pend[j] = k;
                        char key[16];
                        snprintf(key, sizeof key, "t%d/%03d", w->tid, k);
                        val *v = &w->pv[j];
                        if (rnd(&w->rng) % 6 == 0 && w->model[k].present) {
                                v->present = 0;
                                r = mstore_del(t, w->db, key, strlen(key));
                        } else {
                                v->present = 1;
                                v->len = 1 + rnd(&w->rng) % MAXV;
                                for (size_t q = 0; q < v->len; q++)
                                        v->data[q] = (uint8_t) rnd(&w->rng);
                                r = mstore_put(t, w->db, key, strlen(key), v->data, v->len);
                        }
                }
                if (r < 0) {
                        mstore_txn_abort(t);
                        w->npend = 0;
                        return NULL;
                }
                if (mstore_txn_commit(t) < 0)
                        return NULL; /* in flight */
                for (int j = 0; j < w->npend; j++)
                        w->model[w->pend[j]] = w->pv[j];
                w->npend = 0;
                w->commits++;
        }
}

static mstore_sg *open_sg(io_sim *sim, int create, int *ret_r) {
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = create;
        o.io = io_sim_io(sim);
        o.log_file_size = 64 * 1024;
        o.checkpoint_bytes = 128 * 1024;
        o.circular_logging = 1; /* keeps the log set small across many cuts */
        mstore_sg *sg = NULL;
        *ret_r = mstore_sg_open("/sg", &o, &sg);
        return sg;
}

/* msg: the message of the handle the failed call was made on */
static void fail(int point, const char *what, const char *msg) {
        fprintf(stderr, "FAIL: crash point %d: %s (%s)\n", point, what, msg);
        exit(1);
}

static void check(mstore_sg *sg, mstore_db *db, worker *ws, int point) {
        mstore_txn *t;
        if (mstore_txn_begin(sg, &t) < 0)
                fail(point, "begin", mstore_sg_last_error(sg));
        for (int w = 0; w < THREADS; w++) {
                worker *x = &ws[w];
                int applied = -1;
                for (int k = 0; k < KPT; k++) {
                        char key[16];
                        snprintf(key, sizeof key, "t%d/%03d", x->tid, k);
                        void *v = NULL;
                        size_t l = 0;
                        int r = mstore_get(t, db, key, strlen(key), &v, &l);
                        if (r < 0 && r != -ENOENT)
                                fail(point, "get", mstore_txn_last_error(t));
                        int present = r == 0;
                        val *m = &x->model[k];
                        int ok_old = m->present == present && (!present || (m->len == l && !memcmp(m->data, v, l)));
                        int in = -1;
                        for (int j = 0; j < x->npend; j++)
                                if (x->pend[j] == k)
                                        in = j;
                        int ok_new = in >= 0 && x->pv[in].present == present &&
                                     (!present || (x->pv[in].len == l && !memcmp(x->pv[in].data, v, l)));
                        free(v);
                        if (in >= 0 && ok_old != ok_new) {
                                if (applied >= 0 && applied != ok_new)
                                        fail(point, "in-flight commit half applied", "");
                                applied = ok_new;
                        }
                        if (!ok_old && !ok_new) {
                                fprintf(stderr, "FAIL: crash point %d: key %s lost or wrong\n", point, key);
                                exit(1);
                        }
                }
                if (applied == 1)
                        for (int j = 0; j < x->npend; j++)
                                x->model[x->pend[j]] = x->pv[j];
                x->npend = 0;
        }
        mstore_txn_abort(t);
}

int main(int argc, char **argv) {
        int points = argc > 1 ? atoi(argv[1]) : 100;
        uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x77;
        uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1;
        io_sim *sim = io_sim_new(seed + 11);
        static worker ws[THREADS];
        int r;
        mstore_sg *sg = open_sg(sim, 1, &r);
        mstore_db *db;
        if (r < 0)
                fail(-1, "create", mstore_last_error());
        if (mstore_db_create(sg, "MT", NULL, &db) < 0)
                fail(-1, "create", mstore_sg_last_error(sg));
        uint64_t total = 0;
        for (int point = 0; point < points; point++) {
                io_sim_crash_at(sim, 20 + rnd(&rng) % 200);
                pthread_t th[THREADS];
                for (int i = 0; i < THREADS; i++) {
                        ws[i].tid = i;
                        ws[i].rng = rng + (uint64_t) i * 7919 + (uint64_t) point * 104729;
                        ws[i].sg = sg;
                        ws[i].db = db;
                        pthread_create(&th[i], NULL, work, &ws[i]);
                }
                for (int i = 0; i < THREADS; i++)
                        pthread_join(th[i], NULL);
                mstore_sg_close(sg);
                io_sim_power_cut(sim, 1);
                sg = open_sg(sim, 0, &r);
                if (r < 0)
                        fail(point, "recovery", mstore_last_error());
                db = mstore_db_find(sg, "MT");
                if (!db)
                        fail(point, "database not attached after recovery", "");
                check(sg, db, ws, point);
                mstore_verify_result vr;
                if (verify_file_io(io_sim_io(sim), "/sg/MT.edb", NULL, NULL, &vr, NULL, NULL) < 0 ||
                    verify_logs_io(io_sim_io(sim), "/sg", "E00", NULL, NULL, &vr) < 0)
                        fail(point, "verify", mstore_last_error());
                rnd(&rng);
        }
        for (int i = 0; i < THREADS; i++)
                total += ws[i].commits;
        mstore_sg_close(sg);
        io_sim_free(sim);
        printf("%d crash points with %d concurrent committers, %llu acknowledged commits checked\n", points, THREADS,
               (unsigned long long) total);
        return 0;
}
