/* SPDX-License-Identifier: MIT */
/*
 * mstore-crash-writer DIR write|check: the kill -9 test's writer.  "write"
 * commits key i = value(i) for i = 0, 1, 2, ... and prints each i on stdout
 * after its commit returned (so what was printed is acknowledged) until
 * killed.  "check N" reopens (soft recovery) and verifies keys 0..N-1 and
 * that every present key has its right value.  "fill N" commits N keys
 * (and a stream each) and closes cleanly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mstore/mstore.h"

static void value(unsigned i, char *v, size_t *l) {
        *l = 50 + i % 3000;
        for (size_t k = 0; k < *l; k++)
                v[k] = (char) ('a' + (i * 31 + k) % 26);
}

int main(int argc, char **argv) {
        if (argc < 3) {
                fprintf(stderr, "usage: mstore-crash-writer DIR write|check N\n");
                return 2;
        }
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = 1;
        o.log_file_size = 256 * 1024;
        mstore_sg *sg;
        int r = mstore_sg_open(argv[1], &o, &sg);
        if (r < 0) {
                fprintf(stderr, "open: %s\n", mstore_last_error());
                return 1;
        }
        mstore_db *db = mstore_db_find(sg, "K9");
        if (!db && (r = mstore_db_attach(sg, "K9", NULL, &db)) < 0 && (r = mstore_db_create(sg, "K9", NULL, &db)) < 0) {
                fprintf(stderr, "db: %s\n", mstore_sg_last_error(sg));
                return 1;
        }
        char v[4096], k[32];
        size_t l;
        if (strcmp(argv[2], "write") == 0) {
                setvbuf(stdout, NULL, _IOLBF, 0);
                for (unsigned i = 0;; i++) {
                        mstore_txn *t;
                        snprintf(k, sizeof k, "key%08u", i);
                        value(i, v, &l);
                        if (mstore_txn_begin(sg, &t) < 0 || mstore_put(t, db, k, strlen(k), v, l) < 0 ||
                            mstore_txn_commit(t) < 0) {
                                /* the group's slot holds its transactions' failures too */
                                fprintf(stderr, "commit %u: %s\n", i, mstore_sg_last_error(sg));
                                return 1;
                        }
                        printf("%u\n", i);
                }
        }
        unsigned n = argc > 3 ? (unsigned) strtoul(argv[3], NULL, 10) : 0;
        mstore_txn *t;
        if (strcmp(argv[2], "backup") == 0) {
                /* backup full|incremental|copy|differential: a snapshot session without copying */
                static const char *types[] = { "full", "incremental", "copy", "differential" };
                int type = -1;
                for (int i = 0; i < 4; i++)
                        if (argc > 3 && strcmp(argv[3], types[i]) == 0)
                                type = i;
                mstore_snap *snap;
                r = type < 0 ? -22 : mstore_snapshot_prepare(sg, (mstore_backup_type) type, &snap);
                if (r >= 0)
                        r = mstore_snapshot_freeze(snap);
                if (r >= 0)
                        r = mstore_snapshot_thaw(snap);
                if (r >= 0 && (type == MSTORE_BACKUP_FULL || type == MSTORE_BACKUP_INCREMENTAL))
                        r = mstore_snapshot_truncate_logs(snap);
                if (r >= 0)
                        r = mstore_snapshot_end(snap);
                if (r < 0)
                        fprintf(stderr, "backup: %s\n", mstore_sg_last_error(sg)); /* and its sessions' */
                mstore_sg_close(sg);
                return r < 0;
        }
        if (strcmp(argv[2], "fill") == 0) {
                for (unsigned i = 0; i < n; i++) {
                        mstore_stream_ref ref;
                        snprintf(k, sizeof k, "key%08u", i);
                        value(i, v, &l);
                        if (mstore_txn_begin(sg, &t) < 0 || mstore_put(t, db, k, strlen(k), v, l) < 0 ||
                            mstore_stream_write(t, db, v, l, &ref) < 0 || mstore_txn_commit(t) < 0) {
                                fprintf(stderr, "commit %u: %s\n", i, mstore_sg_last_error(sg));
                                return 1;
                        }
                }
                return mstore_sg_close(sg) < 0;
        }
        mstore_txn_begin(sg, &t);
        unsigned found = 0;
        for (unsigned i = 0; i < n + 1000; i++) {
                void *got;
                size_t gl;
                snprintf(k, sizeof k, "key%08u", i);
                r = mstore_get(t, db, k, strlen(k), &got, &gl);
                if (r < 0 && (i < n || r != -ENOENT)) {
                        if (r == -ENOENT)
                                fprintf(stderr, "FAIL: acknowledged key %u missing\n", i);
                        else
                                fprintf(stderr, "FAIL: key %u: %s\n", i, mstore_txn_last_error(t));
                        mstore_txn_abort(t);
                        mstore_sg_close(sg);
                        return 1;
                }
                if (r < 0)
                        continue;
                value(i, v, &l);
                if (gl != l || memcmp(got, v, l) != 0) {
                        fprintf(stderr, "FAIL: key %u has a wrong value\n", i);
                        free(got);
                        mstore_txn_abort(t);
                        mstore_sg_close(sg);
                        return 1;
                }
                free(got);
                found++;
        }
        mstore_txn_abort(t);
        printf("%u keys present, %u acknowledged\n", found, n);
        return mstore_sg_close(sg) < 0;
}
