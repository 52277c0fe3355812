/* SPDX-License-Identifier: MIT */
/*
 * mstore rsg: read mail from a storage group restored to an alternate
 * location (the Recovery Storage Group counterpart), offline, through the
 * engine, without mstored and without touching production.
 *
 *   mstore rsg msg list DIR ADDRESS [--base E00] [--json]
 *   mstore rsg msg get DIR ADDRESS UID [--base E00]
 *
 * DIR holds the restored NAME.edb/.stm (recovered, clean, by the writer's
 * PostRestore).  They are opened in a scratch log stream (see open_group);
 * DIR's logs are never replayed.  A directory mstored reports as a live
 * storage group is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mstore/mstore.h>

#include "mailmodel.h"
#include "rsg.h"
#include "test-hook.h"

/* Open the recovered databases of DIR in a fresh log stream of a scratch
 * directory DIR/.mstore-rsg.XXXXXX (hard links to DIR's .edb/.stm).  DIR's
 * own logs are NOT replayed: they came from production and name production
 * paths, and replaying them could attach production databases.  The
 * databases must be clean (the writer's PostRestore recovered them). */
static int open_group(const char *dir, char *scratch, mstore_sg **ret_sg) {
        if (strlen(dir) > PATH_MAX - 64) {
                scratch[0] = 0;
                fprintf(stderr, "mstore: recovery group '%s': path too long\n", dir);
                return -ENAMETOOLONG;
        }
        strcpy(scratch, dir);
        strcat(scratch, "/.mstore-rsg.XXXXXX");
        if (!mkdtemp(scratch)) {
                fprintf(stderr, "mstore: recovery group '%s': cannot make a scratch directory: %s\n", dir,
                        strerror(errno));
                return -errno;
        }
        char names[64][72];
        size_t n = 0;
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)) && n < 64) {
                size_t l = strlen(de->d_name);
                if (l <= 4 || l > 68 || strcmp(de->d_name + l - 4, ".edb") != 0)
                        continue;
                memcpy(names[n], de->d_name, l - 4);
                names[n][l - 4] = 0;
                char a[PATH_MAX + 80], b[PATH_MAX + 80];
                int ok = 1;
                for (int k = 0; k < 2 && ok; k++) {
                        snprintf(a, sizeof(a), "%s/%s.%s", dir, names[n], k ? "stm" : "edb");
                        snprintf(b, sizeof(b), "%s/%s.%s", scratch, names[n], k ? "stm" : "edb");
                        ok = link(a, b) == 0;
                }
                if (ok)
                        n++;
        }
        if (d)
                closedir(d);
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.create = 1;
        int r = mstore_sg_open(scratch, &o, ret_sg);
        if (r < 0) {
                fprintf(stderr, "mstore: recovery group '%s': cannot open: %s\n", dir, mstore_last_error());
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                mstore_db *db;
                if (mstore_db_attach(*ret_sg, names[i], NULL, &db) < 0)
                        fprintf(stderr, "mstore: recovery group '%s': database %s: %s, ignoring\n", dir, names[i],
                                mstore_sg_last_error(*ret_sg));
        }
        return 0;
}

static void remove_scratch(const char *scratch) {
        if (!scratch[0])
                return;
        DIR *d = opendir(scratch);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char p[PATH_MAX + 300];
                snprintf(p, sizeof(p), "%s/%s", scratch, de->d_name);
                unlink(p);
        }
        if (d)
                closedir(d);
        rmdir(scratch);
}

/* The database of the group that holds ADDRESS's messages. */
static mstore_db *find_mailbox(mstore_sg *sg, mstore_txn *txn, const char *addr) {
        char prefix[MM_MAX_KEY];
        int pl = mm_key_message_prefix(prefix, addr);
        if (pl < 0)
                return NULL;
        for (unsigned i = 0; i < mstore_db_count(sg); i++) {
                mstore_db *db = mstore_db_get(sg, i);
                char key[MM_MAX_KEY];
                int kl = mm_key_mailbox(key, addr);
                void *v = NULL;
                size_t vl;
                if (mstore_get(txn, db, key, (size_t) kl, &v, &vl) >= 0) {
                        free(v);
                        return db;
                }
        }
        return NULL;
}

int rsg_main(const char *verb, const char *dir, const char *address, const char *uid_s, const char *base,
             int json) {
        char real[PATH_MAX], addr[MM_MAX_ADDR + 1];
        if (!realpath(dir, real)) {
                fprintf(stderr, "mstore: recovery group '%s': %s\n", dir, strerror(errno));
                return 2;
        }
        size_t n = strlen(address);
        if (n == 0 || n > MM_MAX_ADDR) {
                fprintf(stderr, "mstore: invalid address '%s'\n", address);
                return 2;
        }
        for (size_t k = 0; k <= n; k++)
                addr[k] = (char) (address[k] >= 'A' && address[k] <= 'Z' ? address[k] + 32 : address[k]);
        mstore_sg *sg = NULL;
        char scratch[PATH_MAX];
        (void) base; /* the scratch stream has its own base; DIR's logs are not used */
        if (open_group(real, scratch, &sg) < 0) {
                remove_scratch(scratch);
                return 1;
        }
        int rc = 0;
        mstore_txn *txn = NULL;
        mstore_db *db = NULL;
        if (TEST_HOOK_ENV("MSTORE_RSG_DEBUG"))
                for (unsigned i = 0; i < mstore_db_count(sg); i++)
                        fprintf(stderr, "mstore: rsg: attached %s\n", mstore_db_edb_path(mstore_db_get(sg, i)));
        if (mstore_txn_begin(sg, &txn) < 0 || !(db = find_mailbox(sg, txn, addr))) {
                fprintf(stderr, "mstore: recovery group '%s': no mailbox '%s'\n", real, addr);
                rc = 1;
                goto out;
        }
        if (strcmp(verb, "list") == 0) {
                char prefix[MM_MAX_KEY];
                int pl = mm_key_message_prefix(prefix, addr);
                mstore_cursor *c = NULL;
                json_t *arr = json_array();
                int r = mstore_cursor_open_prefix(txn, db, prefix, (size_t) pl, &c);
                const void *k, *v;
                size_t kl, vl;
                if (!json)
                        printf("%8s %10s  %s\n", "UID", "SIZE", "SUBJECT");
                while (r >= 0 && (r = mstore_cursor_next(c, &k, &kl, &v, &vl)) > 0) {
                        struct mm_message m;
                        if (mm_message_decode(v, vl, &m) < 0) {
                                r = MSTORE_E_CORRUPT;
                                break;
                        }
                        if (json)
                                json_array_append_new(arr, json_pack("{s:I,s:I,s:s,s:s,s:I,s:I}", "uid",
                                                                     (json_int_t) m.uid, "size", (json_int_t) m.size,
                                                                     "subject", m.subject, "folder", m.folder,
                                                                     "flags", (json_int_t) m.flags, "time",
                                                                     (json_int_t) m.time));
                        else
                                printf("%8u %10llu  %s\n", m.uid, (unsigned long long) m.size, m.subject);
                }
                mstore_cursor_free(c);
                if (r < 0) {
                        const char *msg = mstore_txn_last_error(txn);
                        fprintf(stderr, "mstore: recovery group '%s': %s\n", real, *msg ? msg : mstore_strerror(r));
                        rc = r == MSTORE_E_CORRUPT ? 6 : 1;
                } else if (json) {
                        json_t *doc = json_pack("{s:o}", "messages", arr);
                        char *t = json_dumps(doc, JSON_INDENT(2));
                        printf("%s\n", t);
                        free(t);
                        json_decref(doc);
                        arr = NULL;
                }
                json_decref(arr);
        } else {
                char *end;
                unsigned long uid = strtoul(uid_s, &end, 10);
                if (*end || !*uid_s || uid == 0 || uid > UINT32_MAX) {
                        fprintf(stderr, "mstore: invalid UID '%s'\n", uid_s);
                        rc = 2;
                        goto out;
                }
                char key[MM_MAX_KEY];
                int kl = mm_key_message(key, addr, (uint32_t) uid);
                void *v = NULL;
                size_t vl;
                struct mm_message m;
                if (mstore_get(txn, db, key, (size_t) kl, &v, &vl) < 0 || mm_message_decode(v, vl, &m) < 0) {
                        free(v);
                        fprintf(stderr, "mstore: recovery group '%s': mailbox '%s' has no message %lu\n", real, addr,
                                uid);
                        rc = 1;
                        goto out;
                }
                free(v);
                mstore_stream_ref ref;
                memcpy(ref.bytes, m.stream_ref, sizeof(ref.bytes));
                char buf[65536];
                for (uint64_t off = 0; off < m.size;) {
                        size_t want = m.size - off > sizeof(buf) ? sizeof(buf) : (size_t) (m.size - off);
                        int r = mstore_stream_read(txn, db, &ref, off, buf, want);
                        if (r <= 0) {
                                fprintf(stderr, "mstore: recovery group '%s': message %lu: %s\n", real, uid,
                                        r < 0 ? mstore_txn_last_error(txn) : "short stream");
                                rc = 6;
                                break;
                        }
                        fwrite(buf, 1, (size_t) r, stdout);
                        off += (uint64_t) r;
                }
                if (fflush(stdout) != 0)
                        rc = 1;
        }
out:
        mstore_txn_abort(txn);
        mstore_sg_close(sg);
        remove_scratch(scratch);
        return rc;
}
