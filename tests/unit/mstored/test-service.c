/* SPDX-License-Identifier: MIT */
/*
 * Tests of mstored's service core (store/mstored/service.c) on the real
 * engine: administration, deliveries, UIDs, reads, limits, and the freeze
 * rule — while a storage group is frozen for a snapshot, a delivery waits
 * (and completes after thaw) but reads and other groups are still served.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "events.h"
#include "mailmodel.h"
#include "service.h"

static char dir[] = "/tmp/test-mstored-service.XXXXXX";

static service *open_service(void) {
        struct service_options o = {.data_dir = dir, .server_name = "h1", .max_sgs = 2, .max_dbs = 2};
        service *s = NULL;
        ErrorSlot err;
        assert_int_equal(service_new(&o, &s, &err), 0);
        assert_int_equal(service_start(s), 0);
        return s;
}

static int count_messages(service *s, const char *addr) {
        json_t *j = NULL;
        if (service_msg_list(s, addr, &j, NULL) < 0)
                return -1;
        int n = (int) json_array_size(json_object_get(j, "messages"));
        json_decref(j);
        return n;
}

static void test_admin_and_mail(void **state) {
        service *s = open_service();
        ErrorSlot err;
        assert_int_equal(service_sg_create(s, "SG1", NULL, NULL, false, &err), 0);
        assert_int_equal(service_sg_create(s, "SG2", NULL, NULL, false, &err), 0);
        assert_int_equal(service_sg_create(s, "SG3", NULL, NULL, false, &err), -ENOSPC); /* limit 2 */
        assert_non_null(strstr(error_slot_get(&err), "limit of 2"));
        assert_int_equal(service_db_create(s, "SG1", "DB1", false, &err), 0);
        assert_int_equal(service_db_create(s, "SG1", "DB2", false, &err), 0);
        assert_int_equal(service_db_create(s, "SG1", "DB3", false, &err), -ENOSPC);
        assert_int_equal(service_db_create(s, "SG2", "DB1", false, &err), 0);
        assert_int_equal(service_db_create(s, "NOPE", "DB1", false, &err), -ENOENT);
        assert_non_null(strstr(error_slot_get(&err), "NOPE"));
        assert_int_equal(service_mailbox_create(s, "A@x", "SG1", "DB1", &err), 0);
        assert_int_equal(service_mailbox_create(s, "a@x", "SG1", "DB1", &err), -EEXIST);
        assert_int_equal(service_mailbox_create(s, "b@x", "SG2", "DB1", &err), 0);

        assert_int_equal(service_rcpt_check(s, "a@x"), 0);
        assert_int_equal(service_rcpt_check(s, "zz@x"), -ENOENT);
        char *rcpts[] = {"a@x", "zz@x", "b@x"};
        int st[3];
        const char *msg = "Subject: one\r\n\r\nbody\r\n";
        assert_int_equal(service_deliver(s, "f@x", rcpts, 3, msg, strlen(msg), st), 2);
        assert_int_equal(st[0], 0);
        assert_int_equal(st[1], -ENOENT);
        assert_int_equal(st[2], 0);
        assert_int_equal(service_deliver(s, "f@x", rcpts, 1, "x", 1, st), 1);

        void *data = NULL;
        size_t size = 0;
        assert_int_equal(service_msg_get(s, "A@X", 1, &data, &size, &err), 0);
        assert_int_equal(size, strlen(msg));
        assert_memory_equal(data, msg, size);
        free(data);
        assert_int_equal(service_msg_get(s, "a@x", 2, &data, &size, &err), 0);
        assert_int_equal(size, 1);
        free(data);
        assert_int_equal(service_msg_get(s, "a@x", 3, &data, &size, &err), -ENOENT);

        /* Dismount: temporary failure; mount again: mail still there. */
        assert_int_equal(service_db_dismount(s, "SG1", "DB1", &err), 0);
        assert_int_equal(service_rcpt_check(s, "a@x"), -EAGAIN);
        assert_int_equal(service_deliver(s, "f@x", rcpts, 1, "y", 1, st), 0);
        assert_int_equal(st[0], -EAGAIN);
        assert_int_equal(service_db_mount(s, "SG1", "DB1", &err), 0);
        assert_int_equal(count_messages(s, "a@x"), 2);
        service_free(s);

        /* Restart: UIDs continue. */
        s = open_service();
        assert_int_equal(service_deliver(s, "f@x", rcpts, 1, "z", 1, st), 1);
        json_t *j = NULL;
        assert_int_equal(service_msg_list(s, "a@x", &j, NULL), 0);
        json_t *last = json_array_get(json_object_get(j, "messages"), 2);
        assert_int_equal(json_integer_value(json_object_get(last, "uid")), 3);
        json_decref(j);
        service_free(s);
}

static struct service_view view_of(service *s, const char *addr, const char *folder) {
        struct service_view v;
        ErrorSlot err;
        int r = service_folder_view(s, addr, folder, &v, &err);
        if (r < 0)
                fail_msg("view %s: %s", folder, error_slot_get(&err));
        return v;
}

/* Folders, flags, copy, append, deletion: each a logged transaction, so
 * all of it is there again after a restart (soft recovery / log replay). */
static void test_folders(void **state) {
        service *s = open_service();
        ErrorSlot err;
        assert_int_equal(service_mailbox_create(s, "c@x", "SG1", "DB1", &err), 0);
        char *rcpts[] = {"c@x"};
        int st[1];
        for (int k = 0; k < 3; k++)
                assert_int_equal(service_deliver(s, "f@x", rcpts, 1, "Subject: m\r\n\r\nhi\r\n", 18, st), 1);
        uint64_t ch0 = 0, ch1 = 0;
        assert_int_equal(service_mailbox_changes(s, "c@x", &ch0), 0);

        assert_int_equal(service_folder_create(s, "c@x", "Archive", &err), 0);
        assert_int_equal(service_folder_create(s, "c@x", "Archive/2026", &err), 0);
        assert_int_equal(service_folder_create(s, "c@x", "archive", &err), 0); /* names are case-sensitive */
        assert_int_equal(service_folder_create(s, "c@x", "Archive", &err), -EEXIST);
        assert_int_equal(service_folder_create(s, "c@x", "inbox", &err), -EEXIST);
        assert_int_equal(service_folder_create(s, "c@x", "a//b", &err), -EINVAL);
        assert_int_equal(service_folder_create(s, "nobody@x", "A", &err), -ENOENT);
        assert_int_equal(service_mailbox_changes(s, "c@x", &ch1), 0);
        assert_true(ch1 > ch0);

        struct service_view v = view_of(s, "c@x", "INBOX");
        assert_int_equal(v.n, 3);
        uint32_t validity = v.uid_validity, uids[3] = {v.msgs[0].uid, v.msgs[1].uid, v.msgs[2].uid};
        assert_true(uids[0] < uids[1] && uids[1] < uids[2]);
        assert_true(v.uid_next > uids[2]);
        free(v.msgs);

        /* Flags: add, remove, replace; a missing UID is reported gone. */
        uint32_t nf[4], u4[4] = {uids[0], uids[1], uids[2], 999};
        assert_int_equal(service_msg_store(s, "c@x", u4, 4, 1, MM_FLAG_SEEN | MM_FLAG_DELETED, nf, &err), 0);
        assert_int_equal(nf[0], MM_FLAG_SEEN | MM_FLAG_DELETED);
        assert_int_equal(nf[3], UINT32_MAX);
        assert_int_equal(service_msg_store(s, "c@x", uids + 2, 1, -1, MM_FLAG_DELETED, nf, &err), 0);
        assert_int_equal(nf[0], MM_FLAG_SEEN);
        assert_int_equal(service_msg_store(s, "c@x", uids + 1, 1, 0, MM_FLAG_FLAGGED, nf, &err), 0);
        assert_int_equal(nf[0], MM_FLAG_FLAGGED);

        /* Copy into Archive: new UIDs above the others, \Deleted dropped. */
        uint32_t nu[2], val2 = 0;
        assert_int_equal(service_msg_copy(s, "c@x", uids, 2, "Archive", nu, &val2, &err), 0);
        assert_int_equal(val2, validity);
        assert_true(nu[0] > uids[2] && nu[1] > nu[0]);
        assert_int_equal(service_msg_copy(s, "c@x", uids, 1, "Nope", nu, &val2, &err), -ENOENT);
        uint32_t au = 0;
        assert_int_equal(service_msg_append(s, "c@x", "Archive/2026", "Subject: a\r\n\r\nx\r\n", 17, MM_FLAG_DRAFT,
                                            1000, &au, &val2, &err), 0);
        assert_true(au > nu[1]);

        /* Expunge-like delete of the \Deleted message (uids[0]). */
        size_t nd = 0;
        assert_int_equal(service_msg_delete(s, "c@x", uids, 1, &nd, &err), 0);
        assert_int_equal(nd, 1);
        assert_int_equal(service_msg_delete(s, "c@x", uids, 1, &nd, &err), 0);
        assert_int_equal(nd, 0);
        void *data = NULL;
        size_t size = 0;
        assert_int_equal(service_msg_get(s, "c@x", uids[0], &data, &size, &err), -ENOENT);
        assert_int_equal(service_msg_get(s, "c@x", nu[0], &data, &size, &err), 0);
        assert_int_equal(size, 18);
        assert_memory_equal(data, "Subject: m\r\n\r\nhi\r\n", 18);
        free(data);

        /* Delete refuses INBOX and a folder with subfolders. */
        assert_int_equal(service_folder_delete(s, "c@x", "INBOX", &err), -EPERM);
        assert_int_equal(service_folder_delete(s, "c@x", "Archive", &err), -ENOTEMPTY);
        assert_int_equal(service_folder_delete(s, "c@x", "archive", &err), 0);
        assert_int_equal(service_folder_delete(s, "c@x", "archive", &err), -ENOENT);
        assert_int_equal(service_folder_subscribe(s, "c@x", "Archive", false, &err), 0);
        service_free(s);

        /* Restart: everything above came back from the log. */
        s = open_service();
        struct service_folder *fl = NULL;
        size_t nfl = 0;
        assert_int_equal(service_folder_list(s, "c@x", &fl, &nfl, &err), 0);
        assert_int_equal(nfl, 3);
        assert_string_equal(fl[0].name, "Archive");
        assert_false(fl[0].subscribed);
        assert_string_equal(fl[1].name, "Archive/2026");
        assert_string_equal(fl[2].name, "INBOX");
        assert_true(fl[2].subscribed);
        free(fl);
        v = view_of(s, "c@x", "INBOX");
        assert_int_equal(v.n, 2);
        assert_int_equal(v.uid_validity, validity);
        assert_int_equal(v.msgs[0].uid, uids[1]);
        assert_int_equal(v.msgs[0].flags, MM_FLAG_FLAGGED);
        assert_int_equal(v.msgs[1].flags, MM_FLAG_SEEN);
        free(v.msgs);
        v = view_of(s, "c@x", "Archive/2026");
        assert_int_equal(v.n, 1);
        assert_int_equal(v.msgs[0].uid, au);
        assert_int_equal(v.msgs[0].flags, MM_FLAG_DRAFT);
        assert_int_equal(v.msgs[0].time, 1000);
        free(v.msgs);

        /* Rename with the subfolder; then delete takes the messages too. */
        assert_int_equal(service_folder_rename(s, "c@x", "Archive", "Old", &err), 0);
        v = view_of(s, "c@x", "Old/2026");
        assert_int_equal(v.n, 1);
        free(v.msgs);
        assert_int_equal(service_folder_view(s, "c@x", "Archive", &v, &err), -ENOENT);
        assert_int_equal(service_folder_rename(s, "c@x", "INBOX", "Moved", &err), 0);
        v = view_of(s, "c@x", "INBOX");
        assert_int_equal(v.n, 0);
        free(v.msgs);
        v = view_of(s, "c@x", "Moved");
        assert_int_equal(v.n, 2);
        free(v.msgs);
        assert_int_equal(service_folder_delete(s, "c@x", "Old/2026", &err), 0);
        assert_int_equal(service_msg_get(s, "c@x", au, &data, &size, &err), -ENOENT);
        /* UIDs are never reused: a new message gets one above all. */
        assert_int_equal(service_deliver(s, "f@x", rcpts, 1, "x", 1, st), 1);
        v = view_of(s, "c@x", "INBOX");
        assert_int_equal(v.n, 1);
        assert_true(v.msgs[0].uid > au);
        free(v.msgs);
        service_free(s);
}

struct bg {
        service *s;
        int done;
        int status;
};

static void *bg_deliver(void *arg) {
        struct bg *b = arg;
        char *rcpts[] = {"a@x"};
        service_deliver(b->s, "f@x", rcpts, 1, "frozen\r\n", 8, &b->status);
        __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
        return NULL;
}

struct snapctx {
        mstore_snap *snap;
};

static int prep(service *s, mstore_sg *sg, void *ud) {
        struct snapctx *c = ud;
        return mstore_snapshot_prepare(sg, MSTORE_BACKUP_COPY, &c->snap);
}

static void test_freeze(void **state) {
        service *s = open_service();
        ErrorSlot err;
        struct snapctx c = {0};
        int before = count_messages(s, "a@x");
        assert_int_equal(service_set_backup(s, "SG1", true), 0);
        assert_int_equal(service_with_sg(s, "SG1", prep, &c), 0);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(mstore_snapshot_freeze(c.snap), 0);

        pthread_t t;
        struct bg b = {.s = s, .status = 1};
        assert_int_equal(pthread_create(&t, NULL, bg_deliver, &b), 0);
        usleep(300 * 1000);
        assert_int_equal(__atomic_load_n(&b.done, __ATOMIC_SEQ_CST), 0); /* waits for thaw */
        /* Reads, listings and the other group still answer.  (The engine
         * applies a commit before it is durable, so the waiting message may
         * already be listed; it is acknowledged only after thaw.) */
        assert_true(count_messages(s, "a@x") >= before);
        json_t *j = NULL;
        assert_int_equal(service_db_list(s, &j), 0);
        json_decref(j);
        char *rcpts[] = {"b@x"};
        int st = 1;
        assert_int_equal(service_deliver(s, "f@x", rcpts, 1, "other group", 11, &st), 1);
        /* Administration of the frozen group is refused, not blocked. */
        assert_int_equal(service_db_dismount(s, "SG1", "DB2", &err), -EBUSY);
        assert_non_null(strstr(error_slot_get(&err), "backup"));

        clock_gettime(CLOCK_MONOTONIC, &t1);
        int tr = mstore_snapshot_thaw(c.snap);
        if (tr < 0)
                fprintf(stderr, "thaw after %ld ms: %s\n",
                        (long) ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000),
                        mstore_snapshot_last_error(c.snap));
        assert_int_equal(tr, 0);
        pthread_join(t, NULL);
        assert_int_equal(b.status, 0);
        mstore_snapshot_abort(c.snap);
        assert_int_equal(service_set_backup(s, "SG1", false), 0);
        assert_int_equal(count_messages(s, "a@x"), before + 1);
        int r = service_db_dismount(s, "SG1", "DB2", &err);
        if (r < 0)
                fprintf(stderr, "dismount after thaw: %s\n", error_slot_get(&err));
        assert_int_equal(r, 0);
        service_free(s);
}

static void test_snapshot_paths(void **state) {
        ErrorSlot err;
        assert_int_equal(service_check_not_snapshot("/srv/x/.lvss-snapshots/1/SG1", &err), -EROFS);
        assert_non_null(strstr(error_slot_get(&err), "restore the data first"));
        assert_int_equal(service_check_not_snapshot("/srv/x/.lvss-snapshots", NULL), -EROFS);
        assert_int_equal(service_check_not_snapshot("/srv/x/a.lvss-snapshots/SG1", NULL), 0);
        assert_int_equal(service_check_not_snapshot(dir, NULL), 0);
}

/* docs/design/mailstore.md §10: the caller's slot holds its own call's
 * message and is cleared at the start of each call, while many threads use
 * the one service at once. */
struct slot_worker {
        service *s;
        char addr[32];
        int bad;
};

static void *slot_worker_main(void *arg) {
        struct slot_worker *w = arg;
        ErrorSlot err;
        char want[96];
        snprintf(want, sizeof(want), "mailbox '%s': no such mailbox", w->addr);
        for (int k = 0; k < 2000; k++) {
                if (service_folder_create(w->s, w->addr, "F", &err) != -ENOENT ||
                    strcmp(error_slot_get(&err), want) != 0)
                        w->bad++;
                if (service_check_not_snapshot("/", &err) != 0 || *error_slot_get(&err))
                        w->bad++; /* a call that succeeds leaves no message */
        }
        return NULL;
}

static void test_error_slots(void **state) {
        service *s = open_service();
        ErrorSlot err;
        assert_int_equal(service_folder_create(s, "a@x", "bad//name", &err), -EINVAL);
        assert_string_equal(error_slot_get(&err), "folder 'bad//name': invalid name");
        assert_int_equal(service_mailbox_create(s, "a@x", "SG1", "DB1", &err), -EEXIST);
        assert_string_equal(error_slot_get(&err), "mailbox 'a@x': already exists");
        assert_string_equal(service_error(&err, -EEXIST), "mailbox 'a@x': already exists");
        assert_int_equal(service_db_mount(s, "SG1", "DB1", &err), 0); /* mounted already: nothing to do */
        assert_string_equal(error_slot_get(&err), "");
        assert_string_equal(service_error(&err, -ENOMEM), strerror(ENOMEM));

        struct slot_worker w[4];
        pthread_t t[4];
        for (int k = 0; k < 4; k++) {
                w[k] = (struct slot_worker){.s = s};
                snprintf(w[k].addr, sizeof(w[k].addr), "ghost%d@x", k);
                assert_int_equal(pthread_create(&t[k], NULL, slot_worker_main, &w[k]), 0);
        }
        for (int k = 0; k < 4; k++) {
                pthread_join(t[k], NULL);
                assert_int_equal(w[k].bad, 0);
        }
        service_free(s);
}

static int setup(void **state) {
        event_set_stderr(0);
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_admin_and_mail), cmocka_unit_test(test_folders),
                cmocka_unit_test(test_freeze),         cmocka_unit_test(test_snapshot_paths),
                cmocka_unit_test(test_error_slots),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
