/* SPDX-License-Identifier: MIT */
/*
 * mstore-bench DIR: durable commits of 10 KiB records, one record per
 * transaction, with 1 and 16 concurrent writers, through libmstore and
 * through SQLite (WAL, synchronous=FULL, one row per transaction) on the same
 * filesystem in the same run; then log replay (soft recovery) speed.
 * Built and run by bench/mstore-bench.sh.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/core/time-util.h"
#include "mstore/mstore.h"

#define REC 10240

typedef struct job {
        mstore_sg *sg;
        mstore_db *db;
        const char *sqlite_path;
        int id, n;
        int err;
        char msg[512]; /* the failure's message, read in the failing thread */
} job;

static void *mstore_worker(void *arg) {
        job *j = arg;
        char k[32];
        char *v = malloc(REC);
        memset(v, 'm', REC);
        for (int i = 0; i < j->n; i++) {
                mstore_txn *t;
                snprintf(k, sizeof k, "w%02d/%08d", j->id, i);
                if (mstore_txn_begin(j->sg, &t) < 0 || mstore_put(t, j->db, k, strlen(k), v, REC) < 0 ||
                    mstore_txn_commit(t) < 0) {
                        j->err = 1;
                        /* the group's slot of this thread: begin, put and commit */
                        snprintf(j->msg, sizeof j->msg, "%s", mstore_sg_last_error(j->sg));
                        break;
                }
        }
        free(v);
        return NULL;
}

static void *sqlite_worker(void *arg) {
        job *j = arg;
        sqlite3 *h;
        sqlite3_stmt *st;
        char k[32];
        char *v = malloc(REC);
        memset(v, 's', REC);
        if (sqlite3_open(j->sqlite_path, &h) != SQLITE_OK) {
                j->err = 1;
                free(v);
                return NULL;
        }
        sqlite3_busy_timeout(h, 60000);
        sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL);
        sqlite3_prepare_v2(h, "INSERT INTO t(k, v) VALUES (?, ?)", -1, &st, NULL);
        for (int i = 0; i < j->n; i++) {
                snprintf(k, sizeof k, "w%02d/%08d", j->id, i);
                sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
                sqlite3_bind_blob(st, 2, v, REC, SQLITE_STATIC);
                int rc;
                while ((rc = sqlite3_step(st)) == SQLITE_BUSY)
                        ;
                if (rc != SQLITE_DONE) {
                        j->err = 1;
                        snprintf(j->msg, sizeof j->msg, "sqlite: %s", sqlite3_errmsg(h));
                        break;
                }
                sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        sqlite3_close(h);
        free(v);
        return NULL;
}

static double run(int threads, int per, void *(*fn)(void *), mstore_sg *sg, mstore_db *db, const char *sp, int base) {
        pthread_t th[64];
        job jobs[64];
        uint64_t t0 = now_nsec(CLOCK_MONOTONIC);
        for (int i = 0; i < threads; i++) {
                jobs[i] = (job) { sg, db, sp, base + i, per, 0 };
                pthread_create(&th[i], NULL, fn, &jobs[i]);
        }
        for (int i = 0; i < threads; i++)
                pthread_join(th[i], NULL);
        double dt = (double) (now_nsec(CLOCK_MONOTONIC) - t0) / 1e9;
        for (int i = 0; i < threads; i++)
                if (jobs[i].err) {
                        fprintf(stderr, "mstore-bench: a writer failed: %s\n", jobs[i].msg);
                        exit(1);
                }
        return (double) (threads * per) / dt;
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: mstore-bench DIR [COMMITS]\n");
                return 2;
        }
        const char *dir = argv[1];
        int n = argc > 2 ? atoi(argv[2]) : 1600;
        char path[4096];
        snprintf(path, sizeof path, "%s/sg", dir);
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = 1;
        mstore_sg *sg;
        mstore_db *db;
        if (mstore_sg_open(path, &o, &sg) < 0) {
                fprintf(stderr, "mstore-bench: %s\n", mstore_last_error());
                return 1;
        }
        if (mstore_db_create(sg, "BENCH", NULL, &db) < 0) {
                fprintf(stderr, "mstore-bench: %s\n", mstore_sg_last_error(sg));
                return 1;
        }
        char sp[4096];
        snprintf(sp, sizeof sp, "%s/bench.sqlite", dir);
        sqlite3 *h;
        if (sqlite3_open(sp, &h) != SQLITE_OK ||
            sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                            "CREATE TABLE t(k TEXT PRIMARY KEY, v BLOB);", NULL, NULL, NULL) != SQLITE_OK) {
                fprintf(stderr, "mstore-bench: sqlite: %s\n", sqlite3_errmsg(h));
                return 1;
        }
        sqlite3_close(h);

        double m1 = run(1, n / 4, mstore_worker, sg, db, NULL, 0);
        double s1 = run(1, n / 4, sqlite_worker, NULL, NULL, sp, 0);
        double m16 = run(16, n / 16, mstore_worker, sg, db, NULL, 20);
        double s16 = run(16, n / 16, sqlite_worker, NULL, NULL, sp, 20);
        printf("durable commits/s, one 10 KiB record per transaction (same filesystem, same run):\n");
        printf("  %-28s %10s %10s\n", "", "libmstore", "SQLite");
        printf("  %-28s %10.0f %10.0f\n", "1 writer", m1, s1);
        printf("  %-28s %10.0f %10.0f\n", "16 concurrent writers", m16, s16);

        /* freeze latency (close the generation, stop all writes), idle group */
        double fr[15];
        for (int i = 0; i < 15; i++) {
                mstore_snap *snap;
                if (mstore_snapshot_prepare(sg, MSTORE_BACKUP_COPY, &snap) < 0)
                        return 1;
                uint64_t t0 = now_nsec(CLOCK_MONOTONIC);
                if (mstore_snapshot_freeze(snap) < 0)
                        return 1;
                fr[i] = (double) (now_nsec(CLOCK_MONOTONIC) - t0) / 1e6;
                mstore_snapshot_thaw(snap);
                mstore_snapshot_end(snap);
        }
        for (int i = 0; i < 15; i++)
                for (int j = i + 1; j < 15; j++)
                        if (fr[j] < fr[i]) {
                                double x = fr[i];
                                fr[i] = fr[j];
                                fr[j] = x;
                        }
        printf("snapshot freeze of an idle group: median %.2f ms, max %.2f ms (15 freezes)\n", fr[7], fr[14]);
        mstore_sg_close(sg);

        /* log replay: a child commits without a checkpoint and dies; time recovery */
        snprintf(path, sizeof path, "%s/replay", dir);
        int pfd[2];
        if (pipe(pfd) < 0)
                return 1;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
                mstore_sg_options co = MSTORE_SG_OPTIONS_INIT;
                co.create = 1;
                co.checkpoint_bytes = 1ull << 40; /* never: everything is replayed */
                if (mstore_sg_open(path, &co, &sg) < 0 || mstore_db_create(sg, "R", NULL, &db) < 0)
                        _exit(1);
                run(16, n / 16 * 2, mstore_worker, sg, db, NULL, 0);
                mstore_sg_info info;
                mstore_sg_get_info(sg, &info);
                /* full generations written since the checkpoint (the partial last one is not counted) */
                uint64_t bytes = (uint64_t) (info.current_generation - info.checkpoint_generation) * info.log_file_size;
                if (write(pfd[1], &bytes, sizeof bytes) != (ssize_t) sizeof bytes)
                        _exit(1);
                _exit(0); /* no close: like a crash */
        }
        int status;
        uint64_t bytes = 0;
        if (read(pfd[0], &bytes, sizeof bytes) != (ssize_t) sizeof bytes)
                bytes = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "mstore-bench: replay writer failed\n");
                return 1;
        }
        o.create = 0;
        uint64_t t0 = now_nsec(CLOCK_MONOTONIC);
        if (mstore_sg_open(path, &o, &sg) < 0) {
                fprintf(stderr, "mstore-bench: recovery: %s\n", mstore_last_error());
                return 1;
        }
        double dt = (double) (now_nsec(CLOCK_MONOTONIC) - t0) / 1e9;
        double mb = (double) bytes / 1e6;
        mstore_sg_close(sg);
        printf("log replay (soft recovery after a crash, %d commits, >= %.0f MB of log): %.3f s, >= %.0f MB/s "
               "(includes writing the pages back)\n",
               n / 16 * 2 * 16, mb, dt, mb / dt);
        return 0;
}
