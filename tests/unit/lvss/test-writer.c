/* SPDX-License-Identifier: MIT */
/*
 * test-writer: a writer for lvssd's integration tests.
 *
 *   test-writer --dir DIR [--name NAME] [--class-id UUID] [--level LEVEL]
 *               [--freeze-timeout MS] [--veto EVENT] [--hang EVENT SECONDS]
 *
 * Declares one file-group component "data" over DIR and appends 64-byte
 * records to DIR/records every few milliseconds, except between Freeze and
 * Thaw (or Abort).  Each event is printed as "event NAME" on stdout
 * (line-buffered) so tests can check what the writer saw.  --veto fails the
 * named event; --hang sleeps in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lvss/lvss.h>

#define RECORD 64

static const char *dir, *veto, *hang, *nonfatal;
static unsigned hang_seconds;
static int frozen, fd = -1;
static unsigned long seq;
static volatile sig_atomic_t quit;

static void on_signal(int sig) {
        quit = 1;
}

static int event(const char *name) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        printf("event %s\n", name);
        printf("at %lld%09ld %s\n", (long long) ts.tv_sec, ts.tv_nsec, name);
        if (hang && strcmp(hang, name) == 0) {
                printf("hanging in %s for %u s\n", name, hang_seconds);
                sleep(hang_seconds);
        }
        if (veto && strcmp(veto, name) == 0) {
                printf("vetoing %s\n", name);
                return -1;
        }
        return 0;
}

static int on_identify(lvss_writer *w, lvss_metadata_builder *md, void *ud) {
        int r;

        printf("event Identify\n");
        r = lvss_metadata_builder_add_component(md, LVSS_CT_FILEGROUP, "test", "data", "test data", 0, 1, 1, 1, 0);
        if (r >= 0)
                r = lvss_metadata_builder_add_files_to_file_group(md, "test", "data", dir, "*", 1, NULL, LVSS_FSBT_DEFAULT);
        /* a database inside the file group: selectable for restore only */
        if (r >= 0)
                r = lvss_metadata_builder_add_component(md, LVSS_CT_DATABASE, "test/data", "db1", NULL, 0, 0, 0, 1, 0);
        if (r >= 0)
                r = lvss_metadata_builder_add_database_files(md, "test/data", "db1", dir, "db1.edb", 0);
        if (r >= 0)
                r = lvss_metadata_builder_set_restore_method(md, LVSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL, LVSS_WRE_ALWAYS, 0);
        if (r >= 0)
                r = lvss_metadata_builder_set_backup_schema(md, LVSS_BS_COPY | LVSS_BS_TIMESTAMPED);
        return r;
}

static int on_prepare_backup(lvss_writer *w, lvss_writer_components *c, void *ud) {
        int n = lvss_writer_components_get_count(c);

        printf("components %d backup_type %s\n", n, lvss_backup_type_to_string(lvss_writer_get_backup_type(w)));
        for (int i = 0; i < n; i++) {
                lvss_component *comp;
                if (lvss_writer_components_get_component(c, (size_t) i, &comp) >= 0) {
                        (void) lvss_component_set_backup_stamp(comp, "stamp-1");
                        (void) lvss_component_add_differenced_files_by_last_modify_time(comp, dir, "records", 0, 1);
                        (void) lvss_component_add_partial_file(comp, dir, "records", "0:64", NULL);
                }
        }
        if (veto && strcmp(veto, "PrepareForBackup") == 0) {
                printf("event PrepareForBackup\nvetoing PrepareForBackup\n");
                lvss_writer_set_failure_ex(w, LVSS_E_WRITERERROR_RETRYABLE, 42, "test veto at PrepareForBackup");
                return -1;
        }
        return event("PrepareForBackup");
}

static int on_prepare_snapshot(lvss_writer *w, void *ud) {
        printf("volumes %d affected %d\n", lvss_writer_get_current_volume_count(w), lvss_writer_is_path_affected(w, dir));
        return event("PrepareForSnapshot");
}

static int on_freeze(lvss_writer *w, void *ud) {
        int r;

        frozen = 1;
        if (fd >= 0)
                fdatasync(fd);
        printf("frozen at record %lu\n", seq);
        r = event("Freeze");
        if (r < 0)
                lvss_writer_set_failure_ex(w, LVSS_E_WRITERERROR_NONRETRYABLE, 0, "test veto at Freeze");
        return r;
}

static int on_thaw(lvss_writer *w, void *ud) {
        frozen = 0;
        return event("Thaw");
}

static int on_post_snapshot(lvss_writer *w, lvss_writer_components *c, void *ud) {
        const char *dev;
        if (nonfatal && strcmp(nonfatal, "PostSnapshot") == 0)
                lvss_writer_set_failure_ex(w, LVSS_E_WRITERERROR_RETRYABLE, 7, "test non-fatal failure at PostSnapshot");
        if (lvss_writer_get_snapshot_device_name(w, dir, &dev) >= 0)
                printf("snapshot of %s at %s\n", dir, dev);
        return event("PostSnapshot");
}

static int on_abort(lvss_writer *w, void *ud) {
        frozen = 0;
        return event("Abort");
}

static int on_backup_complete(lvss_writer *w, lvss_writer_components *c, void *ud) {
        lvss_component *comp;
        if (lvss_writer_components_get_component(c, 0, &comp) >= 0)
                printf("backup_succeeded %d\n", lvss_component_get_backup_succeeded(comp));
        return event("BackupComplete");
}

static int on_backup_shutdown(lvss_writer *w, const char *set_id, void *ud) {
        return event("BackupShutdown");
}

static int on_pre_restore(lvss_writer *w, lvss_writer_components *c, void *ud) {
        for (int i = 0; i < lvss_writer_components_get_count(c); i++) {
                lvss_component *comp;
                if (lvss_writer_components_get_component(c, (size_t) i, &comp) < 0)
                        continue;
                printf("pre_restore component %s selected %d additional %d stamp %s\n", lvss_component_get_name(comp),
                       lvss_component_is_selected_for_restore(comp), lvss_component_get_additional_restores(comp),
                       lvss_component_get_backup_stamp(comp) ?: "(none)");
                if (lvss_component_is_selected_for_restore(comp))
                        (void) lvss_component_set_restore_target(comp, LVSS_RT_ORIGINAL_LOCATION);
        }
        return event("PreRestore");
}

static int on_post_restore(lvss_writer *w, lvss_writer_components *c, void *ud) {
        lvss_component *comp;
        if (lvss_writer_components_get_component(c, 0, &comp) >= 0)
                printf("post_restore status %s\n",
                       lvss_file_restore_status_to_string(lvss_component_get_file_restore_status(comp)));
        return event("PostRestore");
}

static void append_record(void) {
        char rec[128];
        unsigned sum = 0;
        int n;

        if (frozen || fd < 0)
                return;
        seq++;
        /* "seq <n> sum <s> " padded with '.' to 63 bytes + '\n'; sum covers the seq digits. */
        for (unsigned long x = seq; x; x /= 10)
                sum += (unsigned) (x % 10);
        n = snprintf(rec, sizeof(rec), "seq %010lu sum %04u ", seq, sum);
        memset(rec + n, '.', sizeof(rec) - (size_t) n);
        rec[RECORD - 1] = '\n';
        if (write(fd, rec, RECORD) != RECORD)
                perror("write");
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "name", required_argument, NULL, 'n' },
                { "class-id", required_argument, NULL, 'c' },
                { "level", required_argument, NULL, 'l' },
                { "freeze-timeout", required_argument, NULL, 't' },
                { "veto", required_argument, NULL, 'v' },
                { "hang", required_argument, NULL, 'H' },
                { "nonfatal", required_argument, NULL, 'N' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        lvss_writer_identity id = LVSS_WRITER_IDENTITY_INIT;
        lvss_writer_events ev = LVSS_WRITER_EVENTS_INIT;
        lvss_writer *w;
        char path[4096];
        int c, r;

        id.class_id = "5d1c8f0e-6a77-4a5e-9a39-0c7a1f7e2b11";
        id.name = "Test Writer";
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0)
                switch (c) {
                case 'd': dir = optarg; break;
                case 'n': id.name = optarg; break;
                case 'c': id.class_id = optarg; break;
                case 'l':
                        if (lvss_application_level_from_string(optarg, &id.level) < 0) {
                                fprintf(stderr, "test-writer: unknown level '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 't': id.freeze_timeout_ms = (uint32_t) strtoul(optarg, NULL, 10); break;
                case 'v': veto = optarg; break;
                case 'N': nonfatal = optarg; break;
                case 'H':
                        hang = optarg;
                        if (optind >= argc)
                                return 2;
                        hang_seconds = (unsigned) strtoul(argv[optind++], NULL, 10);
                        break;
                case 'h':
                        printf("test-writer --dir DIR [--name N] [--class-id UUID] [--level L] [--freeze-timeout MS]\n"
                               "            [--veto EVENT] [--hang EVENT SECONDS]\n");
                        return 0;
                default:
                        return 2;
                }
        if (!dir) {
                fprintf(stderr, "test-writer: --dir is required\n");
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        snprintf(path, sizeof(path), "%s/records", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
                fprintf(stderr, "test-writer: %s: %m\n", path);
                return 1;
        }
        {
                /* Continue the sequence of an earlier run in the same directory. */
                off_t size = lseek(fd, 0, SEEK_END);
                seq = size > 0 ? (unsigned long) (size / RECORD) : 0;
        }
        ev.on_identify = on_identify;
        ev.on_prepare_backup = on_prepare_backup;
        ev.on_prepare_snapshot = on_prepare_snapshot;
        ev.on_freeze = on_freeze;
        ev.on_thaw = on_thaw;
        ev.on_post_snapshot = on_post_snapshot;
        ev.on_abort = on_abort;
        ev.on_backup_complete = on_backup_complete;
        ev.on_backup_shutdown = on_backup_shutdown;
        ev.on_pre_restore = on_pre_restore;
        ev.on_post_restore = on_post_restore;
        r = lvss_writer_new(&id, &ev, NULL, &w);
        if (r < 0) {
                fprintf(stderr, "test-writer: %s\n", lvss_strerror(r));
                return 2;
        }
        r = lvss_writer_subscribe(w, 0);
        if (r < 0) {
                fprintf(stderr, "test-writer: subscribe: %s (%s)\n", lvss_writer_last_error(w), lvss_error_name(r));
                lvss_writer_free(w);
                return r == LVSS_E_ACCESS_DENIED ? 5 : 1;
        }
        printf("subscribed instance %s\n", lvss_writer_get_instance_id(w));
        while (!quit) {
                struct pollfd p = { .fd = lvss_writer_get_fd(w), .events = (short) lvss_writer_get_events(w) };
                while ((r = lvss_writer_process(w)) > 0)
                        ;
                if (r < 0) {
                        fprintf(stderr, "test-writer: %s\n", lvss_writer_last_error(w));
                        break;
                }
                (void) poll(&p, 1, 5);
                append_record();
        }
        lvss_writer_free(w);
        close(fd);
        return 0;
}
