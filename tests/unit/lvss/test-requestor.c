/* SPDX-License-Identifier: MIT */
/*
 * test-requestor: a requestor for lvssd's integration tests.
 *
 *   test-requestor backup PATH [--persistent] [--hold SECONDS] [--expect CODE]
 *       full sequence (gather, add every selectable component, start set,
 *       add PATH, prepare, do snapshot set, verify PATH/records in the
 *       snapshot, backup succeeded, backup complete, save the document).
 *       --hold sleeps after DoSnapshotSet (for kill tests); --expect names
 *       the LVSS_E_* code the sequence must fail with.
 *   test-requestor out-of-order
 *       calls out of order, through the library and raw over the bus; every
 *       one must fail with LVSS_E_BAD_STATE.
 *   test-requestor start-set-and-wait SECONDS
 *       starts a snapshot set and holds it.
 * Prints one line per step; exit 0 when everything went as expected.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <systemd/sd-bus.h>

#include <lvss/lvss.h>

#define RECORD 64

static int expect_code;
static const char *save_path, *disable_class;

static int check(int r, lvss_backup *b, const char *what) {
        if (r < 0) {
                printf("%s: %s: %s\n", what, lvss_error_name(r), b ? lvss_backup_last_error(b) : "");
                if (expect_code && r == expect_code) {
                        printf("failed as expected with %s\n", lvss_error_name(r));
                        exit(0);
                }
                exit(1);
        }
        return r;
}

static int wait_async(lvss_backup *b, lvss_async *a, const char *what) {
        int r = lvss_async_wait(a, LVSS_WAIT_INFINITE);
        lvss_async_free(a);
        if (r >= 0)
                printf("%s: ok\n", what);
        return check(r, b, what);
}

static void print_status(lvss_backup *b) {
        lvss_async *a;
        lvss_writer_status st;

        if (lvss_backup_gather_writer_status(b, &a) < 0)
                return;
        if (lvss_async_wait(a, LVSS_WAIT_INFINITE) >= 0)
                for (int i = 0; i < lvss_backup_get_writer_status_count(b); i++)
                        if (lvss_backup_get_writer_status(b, (size_t) i, &st) >= 0)
                                printf("writer '%s' state %s failure %s freeze_window_us %llu %s\n", st.writer_name,
                                       lvss_writer_state_to_string(st.state), lvss_error_name(st.failure),
                                       (unsigned long long) st.freeze_window_usec, st.message);
        lvss_async_free(a);
}

/* Every record complete and in sequence. */
static int verify_records(const char *path) {
        FILE *f = fopen(path, "re");
        char rec[RECORD + 1];
        unsigned long n = 0;
        long size;

        if (!f) {
                printf("verify: %s: %s\n", path, strerror(errno));
                return -1;
        }
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        rewind(f);
        if (size % RECORD != 0) {
                printf("verify: %s: size %ld is not a multiple of %d: torn record\n", path, size, RECORD);
                fclose(f);
                return -1;
        }
        while (fread(rec, 1, RECORD, f) == RECORD) {
                unsigned long seq;
                unsigned sum, s = 0;
                rec[RECORD] = 0;
                if (sscanf(rec, "seq %lu sum %u", &seq, &sum) != 2 || rec[RECORD - 1] != '\n' || seq != n + 1) {
                        printf("verify: %s: record %lu malformed or out of sequence\n", path, n + 1);
                        fclose(f);
                        return -1;
                }
                for (unsigned long x = seq; x; x /= 10)
                        s += (unsigned) (x % 10);
                if (s != sum) {
                        printf("verify: %s: record %lu checksum mismatch\n", path, n + 1);
                        fclose(f);
                        return -1;
                }
                n++;
        }
        fclose(f);
        printf("verify: %lu records consistent\n", n);
        return 0;
}

static int do_backup(const char *path, bool persistent, unsigned hold) {
        lvss_backup *b;
        lvss_async *a;
        lvss_id set_id, snap_id;
        char *snap_path = NULL, *doc = NULL;
        int n, added = 0;

        check(lvss_backup_new(&b), NULL, "connect");
        check(lvss_backup_initialize_for_backup(b, NULL), b, "initialize for backup");
        if (persistent)
                check(lvss_backup_set_context(b, LVSS_CTX_APP_ROLLBACK), b, "set context");
        check(lvss_backup_set_backup_state(b, 1, 0, LVSS_BT_FULL, 0), b, "set backup state");
        if (disable_class)
                check(lvss_backup_disable_writer_classes(b, &disable_class, 1), b, "disable writer class");
        check(lvss_backup_gather_writer_metadata(b, &a), b, "gather writer metadata");
        wait_async(b, a, "gather writer metadata");
        n = check(lvss_backup_get_writer_metadata_count(b), b, "metadata count");
        for (int i = 0; i < n; i++) {
                const lvss_writer_metadata *wm;
                const char *inst;
                lvss_writer_metadata_identity id;
                check(lvss_backup_get_writer_metadata(b, (size_t) i, &inst, &wm), b, "get metadata");
                check(lvss_writer_metadata_get_identity(wm, &id), b, "identity");
                for (int j = 0; j < lvss_writer_metadata_get_component_count(wm); j++) {
                        lvss_writer_metadata_component_info ci;
                        check(lvss_writer_metadata_get_component_info(wm, (size_t) j, &ci), b, "component info");
                        if (!ci.selectable)
                                continue;
                        check(lvss_backup_add_component(b, inst, id.writer_id, ci.type, ci.logical_path,
                                                        ci.component_name), b, "add component");
                        printf("added component '%s/%s' of writer '%s'\n", ci.logical_path, ci.component_name,
                               id.writer_name);
                        added++;
                }
        }
        printf("writers %d components %d\n", n, added);
        check(lvss_backup_start_snapshot_set(b, &set_id), b, "start snapshot set");
        printf("set %s\n", set_id.str);
        check(lvss_backup_add_to_snapshot_set(b, path, NULL, &snap_id), b, "add to snapshot set");
        check(lvss_backup_prepare_for_backup(b, &a), b, "prepare for backup");
        wait_async(b, a, "prepare for backup");
        print_status(b);
        check(lvss_backup_do_snapshot_set(b, &a), b, "do snapshot set");
        if (lvss_async_wait(a, LVSS_WAIT_INFINITE) < 0) {
                int r;
                lvss_async_query_status(a, &(lvss_async_status){0}, &r);
                lvss_async_free(a);
                printf("do snapshot set: %s: %s\n", lvss_error_name(r), lvss_backup_last_error(b));
                print_status(b);
                if (expect_code && r == expect_code) {
                        printf("failed as expected with %s\n", lvss_error_name(r));
                        lvss_backup_abort_backup(b);
                        lvss_backup_free(b);
                        return 0;
                }
                return 1;
        }
        lvss_async_free(a);
        printf("do snapshot set: ok\n");
        print_status(b);
        {
                uint64_t fw;
                if (lvss_backup_get_freeze_window(b, &fw) >= 0)
                        printf("freeze window %llu us\n", (unsigned long long) fw);
        }
        check(lvss_backup_get_snapshot_path(b, path, &snap_path), b, "snapshot path");
        printf("snapshot path %s\n", snap_path);
        if (hold) {
                printf("holding\n");
                fflush(stdout);
                sleep(hold);
        }
        {
                char rp[4200];
                snprintf(rp, sizeof(rp), "%s/records", snap_path);
                if (access(rp, F_OK) == 0 && verify_records(rp) < 0)
                        return 1;
        }
        lvss_free(snap_path);
        {
                /* The component iterator visits exactly what the nested loops do, in order. */
                lvss_component_iter it = LVSS_COMPONENT_ITER_INIT;
                lvss_writer_components *iwc;
                lvss_component *ic;
                int visited = 0, total = 0;
                for (int i = 0; i < lvss_backup_get_writer_components_count(b); i++) {
                        lvss_writer_components *wc;
                        check(lvss_backup_get_writer_components(b, (size_t) i, &wc), b, "writer components");
                        for (int j = 0; j < lvss_writer_components_get_count(wc); j++, total++) {
                                lvss_component *c;
                                lvss_writer_components_get_component(wc, (size_t) j, &c);
                                if (check(lvss_backup_next_component(b, &it, &iwc, &ic), b, "next component") != 1 ||
                                    iwc != wc || ic != c) {
                                        printf("component iterator: component %d differs\n", total);
                                        return 1;
                                }
                                visited++;
                        }
                }
                if (check(lvss_backup_next_component(b, &it, NULL, &ic), b, "next component") != 0 ||
                    visited != total) {
                        printf("component iterator: did not end after %d components\n", total);
                        return 1;
                }
                printf("component iterator: %d components\n", visited);
        }
        lvss_component_iter it = LVSS_COMPONENT_ITER_INIT;
        lvss_writer_components *wc;
        lvss_component *c;
        while (check(lvss_backup_next_component(b, &it, &wc, &c), b, "next component") > 0) {
                const char *inst, *wid;
                lvss_writer_components_get_writer_info(wc, &inst, &wid);
                {
                        printf("component '%s' backup stamp %s differenced %d partial %d\n", lvss_component_get_name(c),
                               lvss_component_get_backup_stamp(c) ?: "(none)",
                               lvss_component_get_differenced_files_count(c), lvss_component_get_partial_file_count(c));
                        check(lvss_backup_set_backup_succeeded(b, inst, wid, lvss_component_get_type(c),
                                                               lvss_component_get_logical_path(c),
                                                               lvss_component_get_name(c), 1), b, "set backup succeeded");
                }
        }
        check(lvss_backup_backup_complete(b, &a), b, "backup complete");
        wait_async(b, a, "backup complete");
        check(lvss_backup_save_as_json(b, &doc), b, "save");
        printf("document %zu bytes\n", strlen(doc));
        if (save_path) {
                FILE *f = fopen(save_path, "we");
                if (!f || fputs(doc, f) < 0 || fclose(f) != 0) {
                        printf("save: %s: %s\n", save_path, strerror(errno));
                        return 1;
                }
        }
        lvss_free(doc);
        lvss_backup_free(b);
        printf("backup done\n");
        return 0;
}

static int expect_bad_state(int r, lvss_backup *b, const char *what) {
        if (r != LVSS_E_BAD_STATE) {
                printf("FAIL %s: got %s, expected LVSS_E_BAD_STATE\n", what, lvss_error_name(r));
                return 1;
        }
        printf("ok %s refused: %s\n", what, b ? lvss_backup_last_error(b) : "");
        return 0;
}

static int raw_bad_state(sd_bus *bus, const char *session, const char *method, const char *types, ...) {
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;
        int r, bad;

        sd_bus_message_new_method_call(bus, &m, "org.lvss.Coordinator1", session, "org.lvss.Session1", method);
        va_start(ap, types);
        if (types)
                sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        r = sd_bus_call(bus, m, 0, &e, &reply);
        bad = !(r < 0 && e.name && strcmp(e.name, "org.lvss.Error.BAD_STATE") == 0);
        printf("%s raw %s: %s: %s\n", bad ? "FAIL" : "ok", method, e.name ? e.name : "(success)",
               e.message ? e.message : "");
        sd_bus_error_free(&e);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return bad;
}

static void *use_from_other_thread(void *p) {
        return (void *) (intptr_t) lvss_backup_set_context(p, LVSS_CTX_BACKUP);
}

static int do_out_of_order(void) {
        lvss_backup *b;
        lvss_async *a = NULL;
        lvss_id id;
        int fails = 0;
        sd_bus *bus = NULL;
        sd_bus_message *reply = NULL;
        const char *session;

        check(lvss_backup_new(&b), NULL, "connect");
        fails += expect_bad_state(lvss_backup_gather_writer_metadata(b, &a), b, "gather before initialize");
        check(lvss_backup_initialize_for_backup(b, NULL), b, "initialize for backup");
        {
                pthread_t t;
                void *res;
                pthread_create(&t, NULL, use_from_other_thread, b);
                pthread_join(t, &res);
                if ((int) (intptr_t) res != LVSS_E_WRONG_THREAD) {
                        printf("FAIL use from another thread: got %s\n", lvss_error_name((int) (intptr_t) res));
                        fails++;
                } else
                        printf("ok use from another thread refused with LVSS_E_WRONG_THREAD\n");
        }
        fails += expect_bad_state(lvss_backup_do_snapshot_set(b, &a), b, "do snapshot set before start");
        fails += expect_bad_state(lvss_backup_prepare_for_backup(b, &a), b, "prepare before start");
        fails += expect_bad_state(lvss_backup_backup_complete(b, &a), b, "backup complete before snapshot");
        check(lvss_backup_start_snapshot_set(b, &id), b, "start snapshot set");
        fails += expect_bad_state(lvss_backup_start_snapshot_set(b, &id), b, "second start snapshot set");
        fails += expect_bad_state(lvss_backup_prepare_for_backup(b, &a), b, "prepare before gather");
        lvss_backup_free(b);

        /* The coordinator refuses on its own, whatever a client library does. */
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, getenv("LVSS_BUS")) < 0 ||
            sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0) {
                printf("FAIL cannot connect to LVSS_BUS\n");
                return 1;
        }
        if (sd_bus_call_method(bus, "org.lvss.Coordinator1", "/org/lvss/Coordinator1", "org.lvss.Coordinator1",
                               "OpenSession", NULL, &reply, "s", "backup") < 0 ||
            sd_bus_message_read(reply, "o", &session) < 0) {
                printf("FAIL raw OpenSession\n");
                return 1;
        }
        fails += raw_bad_state(bus, session, "DoSnapshotSet", "s", "{\"BACKUP_COMPONENTS\":{}}");
        fails += raw_bad_state(bus, session, "BackupComplete", "s", "{\"BACKUP_COMPONENTS\":{}}");
        fails += raw_bad_state(bus, session, "AddToSnapshotSet", "ss", "/", "");
        fails += raw_bad_state(bus, session, "PreRestore", "s", "{\"BACKUP_COMPONENTS\":{}}");
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        printf("%s\n", fails ? "out-of-order: FAILED" : "out-of-order: all refused");
        return fails ? 1 : 0;
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = calloc(1, (size_t) n + 1);
        if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        return buf;
}

/* Restore sequence: every component of the saved document selected. */
static int do_restore(const char *doc_path, bool additional, const char *sub_lpath, const char *sub_name) {
        lvss_backup *b;
        lvss_async *a;
        char *doc = read_file(doc_path);
        int selected = 0;

        if (!doc) {
                printf("restore: cannot read %s\n", doc_path);
                return 1;
        }
        check(lvss_backup_new(&b), NULL, "connect");
        check(lvss_backup_initialize_for_restore(b, doc), b, "initialize for restore");
        free(doc);
        check(lvss_backup_gather_writer_metadata(b, &a), b, "gather writer metadata");
        wait_async(b, a, "gather writer metadata");
        for (int i = 0; i < lvss_backup_get_writer_components_count(b); i++) {
                lvss_writer_components *wc;
                const char *inst, *wid;
                check(lvss_backup_get_writer_components(b, (size_t) i, &wc), b, "writer components");
                lvss_writer_components_get_writer_info(wc, &inst, &wid);
                for (int j = 0; j < lvss_writer_components_get_count(wc); j++) {
                        lvss_component *c;
                        lvss_writer_components_get_component(wc, (size_t) j, &c);
                        check(lvss_backup_set_selected_for_restore(b, wid, lvss_component_get_type(c),
                                                                   lvss_component_get_logical_path(c),
                                                                   lvss_component_get_name(c), 1), b, "select");
                        check(lvss_backup_set_additional_restores(b, wid, lvss_component_get_type(c),
                                                                  lvss_component_get_logical_path(c),
                                                                  lvss_component_get_name(c), additional), b,
                              "additional restores");
                        selected++;
                }
        }
        if (sub_name) {
                /* only the subcomponent: unselect the document's own */
                const lvss_writer_metadata *wm;
                lvss_writer_metadata_identity id;
                for (int i = 0; i < lvss_backup_get_writer_components_count(b); i++) {
                        lvss_writer_components *wc;
                        lvss_backup_get_writer_components(b, (size_t) i, &wc);
                        for (int j = 0; j < lvss_writer_components_get_count(wc); j++) {
                                lvss_component *c;
                                const char *inst, *wid;
                                lvss_writer_components_get_writer_info(wc, &inst, &wid);
                                lvss_writer_components_get_component(wc, (size_t) j, &c);
                                check(lvss_backup_set_selected_for_restore(b, wid, lvss_component_get_type(c),
                                                                           lvss_component_get_logical_path(c),
                                                                           lvss_component_get_name(c), 0), b, "unselect");
                        }
                }
                check(lvss_backup_get_writer_metadata(b, 0, NULL, &wm), b, "metadata");
                lvss_writer_metadata_get_identity(wm, &id);
                check(lvss_backup_set_selected_for_restore(b, id.writer_id, LVSS_CT_DATABASE, sub_lpath, sub_name, 1), b,
                      "select subcomponent");
                printf("selected subcomponent %s/%s\n", sub_lpath, sub_name);
        }
        printf("selected %d component(s)\n", selected);
        check(lvss_backup_pre_restore(b, &a), b, "pre-restore");
        wait_async(b, a, "pre-restore");
        for (int i = 0; i < lvss_backup_get_writer_components_count(b); i++) {
                lvss_writer_components *wc;
                const char *inst, *wid;
                lvss_backup_get_writer_components(b, (size_t) i, &wc);
                lvss_writer_components_get_writer_info(wc, &inst, &wid);
                for (int j = 0; j < lvss_writer_components_get_count(wc); j++) {
                        lvss_component *c;
                        lvss_writer_components_get_component(wc, (size_t) j, &c);
                        printf("component '%s' restore target %s\n", lvss_component_get_name(c),
                               lvss_restore_target_to_string(lvss_component_get_restore_target(c)));
                        if (!lvss_component_is_selected_for_restore(c))
                                continue;
                        check(lvss_backup_set_file_restore_status(b, wid, lvss_component_get_type(c),
                                                                  lvss_component_get_logical_path(c),
                                                                  lvss_component_get_name(c), LVSS_RS_ALL), b,
                              "file restore status");
                }
        }
        check(lvss_backup_post_restore(b, &a), b, "post-restore");
        wait_async(b, a, "post-restore");
        lvss_backup_free(b);
        printf("restore done\n");
        return 0;
}

/* DoSnapshotSet, a bounded wait that times out, then Cancel: the set must be
 * aborted (writers get Abort) and the async report "cancelled". */
static int do_cancel(const char *path) {
        lvss_backup *b;
        lvss_async *a;
        lvss_async_status st;
        lvss_id id;
        int r, res;

        check(lvss_backup_new(&b), NULL, "connect");
        check(lvss_backup_initialize_for_backup(b, NULL), b, "initialize for backup");
        check(lvss_backup_set_backup_state(b, 0, 0, LVSS_BT_COPY, 0), b, "set backup state");
        check(lvss_backup_gather_writer_metadata(b, &a), b, "gather");
        wait_async(b, a, "gather writer metadata");
        check(lvss_backup_start_snapshot_set(b, &id), b, "start snapshot set");
        check(lvss_backup_add_to_snapshot_set(b, path, NULL, NULL), b, "add to snapshot set");
        check(lvss_backup_prepare_for_backup(b, &a), b, "prepare for backup");
        wait_async(b, a, "prepare for backup");
        check(lvss_backup_do_snapshot_set(b, &a), b, "do snapshot set");
        r = lvss_async_wait(a, 500);
        if (r != LVSS_E_TIMEOUT) {
                printf("FAIL wait(500 ms) returned %s, expected LVSS_E_TIMEOUT\n", lvss_error_name(r));
                return 1;
        }
        lvss_async_query_status(a, &st, &res);
        if (st != LVSS_ASYNC_PENDING) {
                printf("FAIL status %d, expected pending\n", (int) st);
                return 1;
        }
        r = lvss_async_cancel(a);
        lvss_async_query_status(a, &st, &res);
        if (r != 0 || st != LVSS_ASYNC_CANCELLED || res != LVSS_E_ASYNC_CANCELLED ||
            lvss_async_cancel(a) != LVSS_E_ASYNC_CANCELLED || lvss_async_wait(a, 0) != LVSS_E_ASYNC_CANCELLED) {
                printf("FAIL cancel: %s, status %d, result %s\n", lvss_error_name(r), (int) st, lvss_error_name(res));
                return 1;
        }
        lvss_async_free(a);
        printf("cancelled: ok\n");
        /* The session is aborted: further snapshot calls are out of order. */
        if (lvss_backup_do_snapshot_set(b, &a) != LVSS_E_BAD_STATE) {
                printf("FAIL do snapshot set after cancel was accepted\n");
                return 1;
        }
        lvss_backup_free(b);
        return 0;
}

static int do_start_and_wait(unsigned seconds) {
        lvss_backup *b;
        lvss_id id;

        check(lvss_backup_new(&b), NULL, "connect");
        check(lvss_backup_initialize_for_backup(b, NULL), b, "initialize for backup");
        check(lvss_backup_start_snapshot_set(b, &id), b, "start snapshot set");
        printf("set %s started\n", id.str);
        fflush(stdout);
        sleep(seconds);
        lvss_backup_free(b);
        return 0;
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc >= 3 && strcmp(argv[1], "backup") == 0) {
                bool persistent = false;
                unsigned hold = 0;
                for (int i = 3; i < argc; i++) {
                        if (strcmp(argv[i], "--persistent") == 0)
                                persistent = true;
                        else if (strcmp(argv[i], "--hold") == 0 && i + 1 < argc)
                                hold = (unsigned) atoi(argv[++i]);
                        else if (strcmp(argv[i], "--disable-class") == 0 && i + 1 < argc)
                                disable_class = argv[++i];
                        else if (strcmp(argv[i], "--save") == 0 && i + 1 < argc)
                                save_path = argv[++i];
                        else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
                                expect_code = lvss_error_from_name(argv[++i]);
                        else {
                                fprintf(stderr, "test-requestor: unknown option %s\n", argv[i]);
                                return 2;
                        }
                }
                return do_backup(argv[2], persistent, hold);
        }
        if (argc >= 3 && strcmp(argv[1], "restore") == 0)
                return do_restore(argv[2], argc > 3 && strcmp(argv[3], "--additional-restores") == 0,
                                  argc > 4 && strcmp(argv[3], "--sub") == 0 ? argv[4] : NULL,
                                  argc > 5 && strcmp(argv[3], "--sub") == 0 ? argv[5] : NULL);
        if (argc == 3 && strcmp(argv[1], "cancel") == 0)
                return do_cancel(argv[2]);
        if (argc == 2 && strcmp(argv[1], "out-of-order") == 0)
                return do_out_of_order();
        if (argc == 3 && strcmp(argv[1], "start-set-and-wait") == 0)
                return do_start_and_wait((unsigned) atoi(argv[2]));
        fprintf(stderr, "usage: test-requestor backup PATH [--persistent] [--hold S] [--expect CODE] [--save FILE]\n"
                        "       test-requestor restore FILE [--additional-restores | --sub LOGICAL_PATH NAME]\n"
                        "       test-requestor out-of-order\n"
                        "       test-requestor cancel PATH\n"
                        "       test-requestor start-set-and-wait SECONDS\n");
        return 2;
}
