/* SPDX-License-Identifier: MIT */
/*
 * mstore-crash-sim: a random workload against an in-memory model, with the
 * power cut at a random write/sync (unsynced writes kept, dropped or torn at
 * random), recovery, and checks after every cut:
 *   - every acknowledged commit is present,
 *   - the commit in flight at the cut is entirely present or entirely absent,
 *   - every page of every .edb/.stm checksums, the log set verifies.
 * Usage: mstore-crash-sim [CRASH_POINTS] [SEED]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io-sim.h"
#include "mstore/mstore.h"
#include "verify.h"

#define NKEYS 160
#define MAXV 6000

typedef struct val {
        int present;
        int is_stream;
        size_t len;
        uint8_t *data;
} val;

static val model[NKEYS];
static uint64_t rng;

static uint64_t rnd(void) {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        return rng * 2685821657736338717ull;
}

/* msg: the message of the handle the failed call was made on */
static void die(const char *what, int r, const char *msg) {
        fprintf(stderr, "FAIL: %s: %s (%s)\n", what, mstore_strerror(r), msg);
        exit(1);
}

static void vset(val *v, int present, int is_stream, const uint8_t *d, size_t l) {
        free(v->data);
        v->data = NULL;
        v->present = present;
        v->is_stream = is_stream;
        v->len = l;
        if (present) {
                v->data = malloc(l ? l : 1);
                memcpy(v->data, d, l);
        }
}

static mstore_sg *open_sg(io_sim *sim, int create, int *ret_r) {
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = create;
        o.io = io_sim_io(sim);
        o.log_file_size = 64 * 1024;
        o.checkpoint_bytes = 96 * 1024;
        mstore_sg *sg = NULL;
        *ret_r = mstore_sg_open("/sg", &o, &sg);
        return sg;
}

static void key_of(int i, char *k) {
        snprintf(k, 16, "k%04d", i);
}

/* Compare the store with the model; the in-flight transaction (keys in
 * pend[], values in pv[]) may be all there or not at all. */
static void check(mstore_sg *sg, mstore_db *db, int npend, const int *pend, val *pv, int point) {
        int applied = -1;
        mstore_txn *t;
        int r = mstore_txn_begin(sg, &t);
        if (r < 0)
                die("begin", r, mstore_sg_last_error(sg));
        for (int i = 0; i < NKEYS; i++) {
                char k[16];
                key_of(i, k);
                void *v = NULL;
                size_t l = 0;
                r = mstore_get(t, db, k, strlen(k), &v, &l);
                if (r < 0 && r != -ENOENT)
                        die("get", r, mstore_txn_last_error(t));
                uint8_t *data = v;
                if (r == 0 && l == MSTORE_STREAM_REF_SIZE) {
                        mstore_stream_ref ref;
                        memcpy(ref.bytes, v, l);
                        l = (size_t) mstore_stream_length(&ref);
                        data = malloc(l ? l : 1);
                        int n = mstore_stream_read(t, db, &ref, 0, data, l);
                        if (n < 0 || (size_t) n != l)
                                die("stream read", n < 0 ? n : -EIO, mstore_txn_last_error(t));
                        free(v);
                }
                int present = r == 0;
                int in_pend = -1;
                for (int j = 0; j < npend; j++)
                        if (pend[j] == i)
                                in_pend = j;
                val *want = &model[i];
                int ok_old = want->present == present && (!present || (want->len == l && memcmp(want->data, data, l) == 0));
                int ok_new = in_pend >= 0 && pv[in_pend].present == present &&
                             (!present || (pv[in_pend].len == l && memcmp(pv[in_pend].data, data, l) == 0));
                if (in_pend >= 0 && ok_old != ok_new) {
                        int now = ok_new;
                        if (applied >= 0 && applied != now) {
                                fprintf(stderr, "FAIL: crash point %d: in-flight commit half applied (key %s)\n", point, k);
                                exit(1);
                        }
                        applied = now;
                }
                if (!ok_old && !ok_new) {
                        fprintf(stderr, "FAIL: crash point %d: key %s: present=%d len=%zu, model present=%d len=%zu\n",
                                point, k, present, l, want->present, want->len);
                        exit(1);
                }
                if (present)
                        free(data);
        }
        mstore_txn_abort(t);
        /* adopt the in-flight commit into the model if it made it */
        if (applied == 1)
                for (int j = 0; j < npend; j++)
                        vset(&model[pend[j]], pv[j].present, pv[j].is_stream, pv[j].data, pv[j].len);
}

static void vcb(uint64_t n, const char *what, void *ud) {
        fprintf(stderr, "  %s\n", what);
}

static void check_files(io_sim *sim, int point) {
        const char *files[] = { "/sg/DB.edb", "/sg/DB.stm" };
        for (int i = 0; i < 2; i++) {
                mstore_verify_result vr;
                int r = verify_file_io(io_sim_io(sim), files[i], vcb, NULL, &vr, NULL, NULL);
                if (r < 0) {
                        fprintf(stderr, "FAIL: crash point %d: %s: %s\n", point, files[i], mstore_last_error());
                        exit(1);
                }
        }
        mstore_verify_result vr;
        int r = verify_logs_io(io_sim_io(sim), "/sg", "E00", vcb, NULL, &vr);
        if (r < 0) {
                fprintf(stderr, "FAIL: crash point %d: logs: %s\n", point, mstore_last_error());
                exit(1);
        }
}

int main(int argc, char **argv) {
        int points = argc > 1 ? atoi(argv[1]) : 240;
        uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x5eed1234ull;
        rng = seed;
        io_sim *sim = io_sim_new(seed ^ 0xabcdef);
        int r;
        mstore_sg *sg = open_sg(sim, 1, &r);
        if (r < 0)
                die("create", r, mstore_last_error());
        mstore_db *db;
        r = mstore_db_create(sg, "DB", NULL, &db);
        if (r < 0)
                die("db create", r, mstore_sg_last_error(sg));
        uint8_t *buf = malloc(MAXV);
        int pend[8];
        val pv[8];
        memset(pv, 0, sizeof pv);
        uint64_t commits = 0;
        for (int point = 0; point < points; point++) {
                io_sim_crash_at(sim, 1 + rnd() % 120);
                int npend = 0;
                for (int txn = 0; txn < 400; txn++) {
                        for (int j = 0; j < npend; j++)
                                vset(&pv[j], 0, 0, NULL, 0);
                        npend = 1 + (int) (rnd() % 6);
                        mstore_txn *t;
                        r = mstore_txn_begin(sg, &t);
                        if (r < 0)
                                break;
                        for (int j = 0; j < npend && r >= 0; j++) {
                                int k;
                                int dup;
                                do {
                                        k = (int) (rnd() % NKEYS);
                                        dup = 0;
                                        for (int q = 0; q < j; q++)
                                                dup |= pend[q] == k;
                                } while (dup);
                                pend[j] = k;
                                char key[16];
                                key_of(k, key);
                                unsigned op = (unsigned) (rnd() % 10);
                                if (op < 2 && model[k].present) {
                                        if (model[k].is_stream) {
                                                void *rv = NULL;
                                                size_t rl = 0;
                                                r = mstore_get(t, db, key, strlen(key), &rv, &rl);
                                                if (r >= 0 && rl == MSTORE_STREAM_REF_SIZE) {
                                                        mstore_stream_ref ref;
                                                        memcpy(ref.bytes, rv, rl);
                                                        r = mstore_stream_delete(t, db, &ref);
                                                }
                                                free(rv);
                                                if (r < 0)
                                                        break;
                                        }
                                        r = mstore_del(t, db, key, strlen(key));
                                        vset(&pv[j], 0, 0, NULL, 0);
                                } else {
                                        size_t l = (op == 9) ? 1000 + rnd() % (MAXV - 1000) : 1 + rnd() % 300;
                                        for (size_t q = 0; q < l; q++)
                                                buf[q] = (uint8_t) rnd();
                                        buf[0] = 'v';
                                        if (op == 8) {
                                                mstore_stream_ref ref;
                                                buf[0] = 's';
                                                r = mstore_stream_write(t, db, buf, l, &ref);
                                                if (r >= 0)
                                                        r = mstore_put(t, db, key, strlen(key), ref.bytes, sizeof ref.bytes);
                                                vset(&pv[j], 1, 1, buf, l);
                                        } else {
                                                if (l == MSTORE_STREAM_REF_SIZE)
                                                        l++;
                                                r = mstore_put(t, db, key, strlen(key), buf, l);
                                                vset(&pv[j], 1, 0, buf, l);
                                        }
                                }
                        }
                        if (r < 0) {
                                mstore_txn_abort(t);
                                npend = 0;
                                break;
                        }
                        r = mstore_txn_commit(t);
                        if (r < 0)
                                break; /* in flight: may or may not be durable */
                        commits++;
                        for (int j = 0; j < npend; j++)
                                vset(&model[pend[j]], pv[j].present, pv[j].is_stream, pv[j].data, pv[j].len);
                        npend = 0;
                        if (rnd() % 50 == 0 && (r = mstore_sg_checkpoint(sg)) < 0)
                                break;
                        if (rnd() % 25 == 0) {
                                /* a full backup cycle: truncates the logs (keeps the set bounded) */
                                mstore_snap *snap;
                                r = mstore_snapshot_prepare(sg, MSTORE_BACKUP_FULL, &snap);
                                if (r < 0)
                                        break;
                                r = mstore_snapshot_freeze(snap);
                                if (r >= 0)
                                        r = mstore_snapshot_thaw(snap);
                                if (r >= 0)
                                        r = mstore_snapshot_truncate_logs(snap);
                                if (r >= 0)
                                        r = mstore_snapshot_end(snap);
                                else
                                        mstore_snapshot_abort(snap);
                                if (r < 0)
                                        break;
                        }
                }
                if (!io_sim_crashed(sim))
                        io_sim_crash_at(sim, 1);
                mstore_sg_close(sg); /* the machine is dead: nothing more reaches the disk */
                io_sim_power_cut(sim, 1);
                /* sometimes lose power again during recovery itself */
                if (rnd() % 4 == 0) {
                        io_sim_crash_at(sim, 1 + rnd() % 40);
                        sg = open_sg(sim, 0, &r);
                        if (r >= 0) {
                                io_sim_crash_at(sim, 1);
                                mstore_sg_close(sg);
                        }
                        io_sim_power_cut(sim, 1);
                }
                sg = open_sg(sim, 0, &r);
                if (r < 0) {
                        fprintf(stderr, "crash point %d: ", point);
                        die("recovery", r, mstore_last_error());
                }
                db = mstore_db_find(sg, "DB");
                if (!db) {
                        fprintf(stderr, "FAIL: crash point %d: database not attached after recovery\n", point);
                        return 1;
                }
                check(sg, db, npend, pend, pv, point);
                check_files(sim, point);
        }
        r = mstore_sg_close(sg);
        if (r < 0)
                die("close", r, mstore_last_error());
        printf("%d crash points, %llu acknowledged commits checked, seed 0x%llx\n", points,
               (unsigned long long) commits, (unsigned long long) seed);
        for (int i = 0; i < NKEYS; i++)
                free(model[i].data);
        for (int j = 0; j < 8; j++)
                free(pv[j].data);
        free(buf);
        io_sim_free(sim);
        return 0;
}
