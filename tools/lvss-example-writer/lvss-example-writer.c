/* SPDX-License-Identifier: MIT */
/*
 * lvss-example-writer: a small, complete lvss writer, written to be read.
 *
 * It plays the part of an application with data on disk: it appends
 * fixed-size, checksummed records to DIR/records.dat at a steady rate.  To
 * let lvss take application-consistent snapshots it
 *
 *   1. describes its data in on_identify: one file-group component
 *      "records" covering DIR;
 *   2. stops writing in on_freeze (after flushing what it wrote) and
 *      resumes in on_thaw or on_abort -- and, whatever happens to lvssd,
 *      by itself once the freeze has lasted its declared freeze timeout
 *      plus a grace of FREEZE_GRACE_MS (never frozen without a deadline;
 *      the library also delivers on_abort when lvssd goes away);
 *   3. runs its own work and the lvss events in ONE thread and ONE poll()
 *      loop, using lvss_writer_get_fd/_get_events/_get_timeout and
 *      lvss_writer_process (the library never blocks us and never calls us
 *      from another thread).
 *
 * A snapshot taken this way never contains a torn record: check one with
 *   lvss-example-writer --verify SNAPSHOT/records.dat
 *
 * For tests it can misbehave on purpose: --veto-at EVENT fails that event
 * every time; --hang-at EVENT blocks inside that event once, for
 * --hang-seconds (default 30).  Every event is appended to --events-log
 * FILE as "<event> <CLOCK_MONOTONIC ms>" so tests can see what happened.
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure, 2 usage,
 * 6 (--verify) a torn or corrupt record.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <lvss/lvss.h>

/* How long past the declared freeze timeout we stay frozen without Thaw. */
#define FREEZE_GRACE_MS 3000u

/* Fixed class id: every instance of this writer kind shares it. */
#define EXAMPLE_CLASS_ID "4e1b2c3d-5a6f-4b7c-8d9e-0f1a2b3c4d5e"

/* ------------------------------------------------------------ the records */

/* A record: 32-byte header, payload derived from seq, XXH64 of everything
 * before it in the last 8 bytes.  A record cut short, or with one byte
 * changed, fails the check. */
#define RECORD_MAGIC 0x5253564cu /* "LVSR" */
#define RECORD_MIN 64
#define RECORD_MAX (1u << 20)

struct record_header {
        uint32_t magic;
        uint32_t size;
        uint64_t seq;
        uint64_t time_usec;
        uint64_t reserved;
};

static void record_fill(uint8_t *buf, uint32_t size, uint64_t seq, uint64_t usec) {
        struct record_header h = { RECORD_MAGIC, size, seq, usec, 0 };
        memcpy(buf, &h, sizeof(h));
        for (uint32_t i = sizeof(h); i < size - 8; i++)
                buf[i] = (uint8_t) (seq * 131 + i * 7);
        uint64_t x = XXH64(buf, size - 8, 0);
        memcpy(buf + size - 8, &x, 8);
}

/* 0 if the record at buf is whole and matches seq. */
static int record_check(const uint8_t *buf, uint32_t size, uint64_t seq) {
        struct record_header h;
        uint64_t x;
        memcpy(&h, buf, sizeof(h));
        memcpy(&x, buf + size - 8, 8);
        if (h.magic != RECORD_MAGIC || h.size != size || h.seq != seq)
                return -1;
        return XXH64(buf, size - 8, 0) == x ? 0 : -1;
}

static int verify_file(const char *path, uint32_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t *buf = malloc(size);
        uint64_t seq = 0;
        ssize_t n;

        if (fd < 0 || !buf) {
                fprintf(stderr, "lvss-example-writer: %s: %s\n", path, strerror(errno));
                free(buf);
                return 1;
        }
        for (;;) {
                n = read(fd, buf, size);   /* regular file: full reads except at EOF */
                if (n == 0)
                        break;
                if (n != (ssize_t) size || record_check(buf, size, seq) < 0) {
                        fprintf(stderr, "lvss-example-writer: %s: record %" PRIu64 " is %s\n", path, seq,
                                n != (ssize_t) size ? "torn (file ends inside it)" : "corrupt");
                        close(fd);
                        free(buf);
                        return 6;
                }
                seq++;
        }
        close(fd);
        free(buf);
        printf("%" PRIu64 " records ok\n", seq);
        return 0;
}

/* ------------------------------------------------------------ the writer */

typedef struct example {
        const char *dir;
        uint32_t record_size;
        double rate;               /* records per second; 0 = idle */
        const char *veto_at;       /* event name or NULL */
        const char *hang_at;
        int hang_seconds;
        uint32_t freeze_timeout_ms; /* as declared to lvssd */
        bool hung;                 /* --hang-at fires once */
        FILE *events_log;
        int fd;                    /* records.dat */
        uint8_t *buf;
        uint64_t seq;
        bool frozen;               /* between Freeze and Thaw/Abort: no writes */
        uint64_t freeze_start_us;
        uint64_t freeze_deadline_us; /* resume by ourselves at this time */
} example;

static volatile sig_atomic_t stop_requested;

static uint64_t now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static uint64_t realtime_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void log_event(example *ex, const char *event, const char *extra) {
        if (!ex->events_log)
                return;
        fprintf(ex->events_log, "%s %" PRIu64 "%s%s\n", event, now_us() / 1000, extra ? " " : "",
                extra ? extra : "");
        fflush(ex->events_log);
}

/* Common test hooks: veto or hang at the named event. */
static int misbehave(example *ex, lvss_writer *w, const char *event) {
        if (ex->hang_at && !ex->hung && strcmp(ex->hang_at, event) == 0) {
                ex->hung = true;
                log_event(ex, "hang", event);
                sleep((unsigned) ex->hang_seconds); /* blocks the whole writer, as a real hang does */
        }
        if (ex->veto_at && strcmp(ex->veto_at, event) == 0) {
                log_event(ex, "veto", event);
                lvss_writer_set_failure_ex(w, LVSS_E_WRITERERROR_RETRYABLE, 0,
                                           "example writer told to veto (--veto-at)");
                return -1;
        }
        return 0;
}

/* Identify: describe what we own.  One file group "records" over DIR. */
static int on_identify(lvss_writer *w, lvss_metadata_builder *md, void *userdata) {
        example *ex = userdata;
        int r;

        log_event(ex, "identify", NULL);
        if (misbehave(ex, w, "identify") < 0)
                return -1;
        r = lvss_metadata_builder_add_component(md, LVSS_CT_FILEGROUP, NULL, "records", "Example writer records",
                                   0 /* restore metadata */, 1 /* notify on backup complete */,
                                   1 /* selectable */, 1 /* selectable for restore */, 0);
        if (r >= 0)
                r = lvss_metadata_builder_add_files_to_file_group(md, NULL, "records", ex->dir, "*", 1, NULL, 0);
        if (r >= 0)
                r = lvss_metadata_builder_set_restore_method(md, LVSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL,
                                                LVSS_WRE_NEVER, 0);
        if (r >= 0)
                r = lvss_metadata_builder_set_backup_schema(md, LVSS_BS_COPY);
        return r;
}

static int on_prepare_backup(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        example *ex = userdata;
        char extra[64];
        /* The requestor's backup type: a database would decide here what
         * BackupComplete may truncate (full/incremental yes, copy no). */
        snprintf(extra, sizeof(extra), "type=%s",
                 lvss_backup_type_to_string(lvss_writer_get_backup_type(w)) ?: "undefined");
        log_event(ex, "prepare_backup", extra);
        return misbehave(ex, w, "prepare");
}

static int on_prepare_snapshot(lvss_writer *w, void *userdata) {
        example *ex = userdata;
        log_event(ex, "prepare_snapshot", NULL);
        return misbehave(ex, w, "prepare-snapshot");
}

/* Freeze: make what we wrote durable, then stop writing until Thaw/Abort.
 * Everything the snapshot sees from now on is whole records. */
static int on_freeze(lvss_writer *w, void *userdata) {
        example *ex = userdata;
        log_event(ex, "freeze", NULL);
        if (misbehave(ex, w, "freeze") < 0)
                return -1;
        if (fdatasync(ex->fd) < 0) {
                lvss_writer_set_failure_ex(w, LVSS_E_WRITERERROR_RETRYABLE, errno, "fdatasync failed");
                return -1;
        }
        ex->frozen = true;
        ex->freeze_start_us = now_us();
        ex->freeze_deadline_us = ex->freeze_start_us + ((uint64_t) ex->freeze_timeout_ms + FREEZE_GRACE_MS) * 1000u;
        return 0;
}

static void resume(example *ex, const char *why) {
        char extra[64];
        if (ex->frozen) {
                snprintf(extra, sizeof(extra), "window_ms=%.3f", (now_us() - ex->freeze_start_us) / 1000.0);
                log_event(ex, why, extra);
        } else
                log_event(ex, why, NULL);
        ex->frozen = false;
}

static int on_thaw(lvss_writer *w, void *userdata) {
        example *ex = userdata;
        resume(ex, "thaw");
        return misbehave(ex, w, "thaw");
}

static int on_post_snapshot(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        example *ex = userdata;
        log_event(ex, "post_snapshot", NULL);
        return misbehave(ex, w, "post-snapshot");
}

/* Abort may come at any point between PrepareForBackup and PostSnapshot,
 * even several times: just go back to normal. */
static int on_abort(lvss_writer *w, void *userdata) {
        resume(userdata, "abort");
        return 0;
}

static int on_backup_complete(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        example *ex = userdata;
        log_event(ex, "backup_complete", NULL);
        /* A database would truncate its logs here after a full backup whose
         * components report backup_succeeded; we have no logs. */
        return misbehave(ex, w, "backup-complete");
}

static int on_backup_shutdown(lvss_writer *w, const char *set_id, void *userdata) {
        example *ex = userdata;
        resume(ex, "backup_shutdown"); /* never stay frozen after the session ends */
        return 0;
}

/* Append one record with a single write(): the record is all there or not
 * at all for anyone who reads the file while we are not frozen. */
static int write_record(example *ex) {
        record_fill(ex->buf, ex->record_size, ex->seq, realtime_us());
        ssize_t n = write(ex->fd, ex->buf, ex->record_size);
        if (n != (ssize_t) ex->record_size) {
                fprintf(stderr, "lvss-example-writer: %s/records.dat: write failed: %s\n", ex->dir,
                        n < 0 ? strerror(errno) : "short write");
                return -1;
        }
        ex->seq++;
        return 0;
}

static void on_signal(int sig) {
        stop_requested = 1;
}

static int subscribe(lvss_writer *w, bool quiet) {
        int r = lvss_writer_subscribe(w, 0);
        if (r < 0) {
                if (!quiet)
                        fprintf(stderr, "lvss-example-writer: subscribe: %s (%s)\n", lvss_writer_last_error(w),
                                lvss_error_name(r));
                return r;
        }
        printf("ready instance_id=%s\n", lvss_writer_get_instance_id(w));
        fflush(stdout);
        return 0;
}

/* The main loop: one poll() for the lvss connection, with a timeout that
 * wakes us for the next record or the library's own deadline. */
static int run(example *ex, lvss_writer *w) {
        uint64_t interval = ex->rate > 0 ? (uint64_t) (1e6 / ex->rate) : 0;
        uint64_t next = now_us();
        bool connected = true;

        while (!stop_requested) {
                uint64_t now = now_us(), lib_deadline = UINT64_MAX;

                /* Our own freeze deadline: no Thaw or Abort in time (lvssd
                 * hung, stopped or gone): resume writing anyway. */
                if (ex->frozen && now >= ex->freeze_deadline_us)
                        resume(ex, "freeze_deadline");

                /* Catch up on records due, unless frozen. */
                while (interval && !ex->frozen && now >= next) {
                        if (write_record(ex) < 0)
                                return 1;
                        next += interval;
                        if (now > next + 1000000)
                                next = now; /* after a long stall do not burst */
                }
                if (!connected) {
                        /* lvssd went away (restart): keep working, try again. */
                        if (subscribe(w, true) == 0)
                                connected = true;
                        else {
                                usleep(200000);
                                continue;
                        }
                }

                int timeout_ms = -1;
                if (ex->frozen)
                        timeout_ms = (int) ((ex->freeze_deadline_us - now + 999) / 1000);
                else if (interval)
                        timeout_ms = (int) ((next > now ? next - now : 0) / 1000);
                if (lvss_writer_get_timeout(w, &lib_deadline) >= 0 && lib_deadline != UINT64_MAX) {
                        int t = lib_deadline > now ? (int) ((lib_deadline - now + 999) / 1000) : 0;
                        if (timeout_ms < 0 || t < timeout_ms)
                                timeout_ms = t;
                }
                struct pollfd p = { .fd = lvss_writer_get_fd(w), .events = (short) lvss_writer_get_events(w) };
                if (p.fd >= 0 && poll(&p, 1, timeout_ms) < 0 && errno != EINTR) {
                        perror("lvss-example-writer: poll");
                        return 1;
                }
                int r;
                while ((r = lvss_writer_process(w)) > 0)
                        ;
                if (r < 0) {
                        fprintf(stderr, "lvss-example-writer: lost the coordinator: %s (%s); resubscribing\n",
                                lvss_writer_last_error(w), lvss_error_name(r));
                        (void) lvss_writer_unsubscribe(w);
                        ex->frozen = false;
                        connected = false;
                }
        }
        return 0;
}

static const char help[] =
        "Usage: lvss-example-writer --dir DIR [OPTIONS]\n"
        "       lvss-example-writer --verify FILE [--record-size BYTES]\n"
        "An example lvss writer: appends checksummed records to DIR/records.dat and\n"
        "stops writing between Freeze and Thaw.\n\n"
        "  --dir DIR            directory of the data (component 'records')\n"
        "  --rate N             records per second (default 100; 0 = no writes)\n"
        "  --record-size BYTES  record size (default 512, 64..1048576)\n"
        "  --name NAME          writer name (default 'Example Writer')\n"
        "  --instance NAME      instance name\n"
        "  --freeze-timeout MS  declared Freeze->Thaw limit (default 60000)\n"
        "  --veto-at EVENT      fail EVENT every time: identify, prepare, prepare-snapshot,\n"
        "                       freeze, thaw, post-snapshot, backup-complete\n"
        "  --hang-at EVENT      block inside EVENT once, for --hang-seconds (default 30)\n"
        "  --events-log FILE    append '<event> <monotonic ms>' lines for every event\n"
        "  --verify FILE        check every record of FILE; exit 6 if one is torn or corrupt\n";

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "rate", required_argument, NULL, 'r' },
                { "record-size", required_argument, NULL, 's' },
                { "name", required_argument, NULL, 'n' },
                { "instance", required_argument, NULL, 'i' },
                { "freeze-timeout", required_argument, NULL, 't' },
                { "veto-at", required_argument, NULL, 'V' },
                { "hang-at", required_argument, NULL, 'H' },
                { "hang-seconds", required_argument, NULL, 'S' },
                { "events-log", required_argument, NULL, 'l' },
                { "verify", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        static const char *const events[] = { "identify", "prepare", "prepare-snapshot", "freeze", "thaw",
                                               "post-snapshot", "backup-complete", NULL };
        example ex = { .record_size = 512, .rate = 100, .hang_seconds = 30, .fd = -1 };
        lvss_writer_identity id = LVSS_WRITER_IDENTITY_INIT;
        lvss_writer_events ev = LVSS_WRITER_EVENTS_INIT;
        lvss_writer *w = NULL;
        const char *verify = NULL, *events_log = NULL;
        char path[4096];
        int c, r;

        id.class_id = EXAMPLE_CLASS_ID;
        id.name = "Example Writer";
        id.usage = LVSS_UT_USERDATA;
        id.source = LVSS_ST_NONTRANSACTEDDB;
        id.level = LVSS_APP_FRONT_END;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'd': ex.dir = optarg; break;
                case 'r': {
                        char *e;
                        ex.rate = strtod(optarg, &e);
                        if (e == optarg || *e)
                                ex.rate = -1; /* rejected below */
                        break;
                }
                case 's': ex.record_size = (uint32_t) strtoul(optarg, NULL, 10); break;
                case 'n': id.name = optarg; break;
                case 'i': id.instance_name = optarg; break;
                case 't': id.freeze_timeout_ms = (uint32_t) strtoul(optarg, NULL, 10); break;
                case 'V': ex.veto_at = optarg; break;
                case 'H': ex.hang_at = optarg; break;
                case 'S': {
                        char *e;
                        long v = strtol(optarg, &e, 10);
                        ex.hang_seconds = e == optarg || *e || v != (int) v ? -1 : (int) v; /* <0: rejected below */
                        break;
                }
                case 'l': events_log = optarg; break;
                case 'c': verify = optarg; break;
                case 'h': fputs(help, stdout); return 0;
                default: fputs(help, stderr); return 2;
                }
        }
        ex.freeze_timeout_ms = id.freeze_timeout_ms ? id.freeze_timeout_ms : LVSS_DEFAULT_FREEZE_TIMEOUT_MS;
        if (optind < argc || ex.record_size < RECORD_MIN || ex.record_size > RECORD_MAX || ex.rate < 0 ||
            ex.hang_seconds < 0) {
                fprintf(stderr, "lvss-example-writer: bad arguments (see --help)\n");
                return 2;
        }
        for (const char *e = ex.veto_at ? ex.veto_at : ex.hang_at; e; e = e == ex.veto_at ? ex.hang_at : NULL) {
                bool known = false;
                for (size_t i = 0; events[i]; i++)
                        known |= strcmp(events[i], e) == 0;
                if (!known) {
                        fprintf(stderr, "lvss-example-writer: unknown event '%s' (see --help)\n", e);
                        return 2;
                }
        }
        if (verify)
                return verify_file(verify, ex.record_size);
        if (!ex.dir) {
                fprintf(stderr, "lvss-example-writer: --dir DIR is required (see --help)\n");
                return 2;
        }
        if (events_log) {
                ex.events_log = fopen(events_log, "ae");
                if (!ex.events_log) {
                        fprintf(stderr, "lvss-example-writer: %s: %s\n", events_log, strerror(errno));
                        return 1;
                }
        }

        /* Open (or continue) the record file; a torn tail from a crash is cut. */
        snprintf(path, sizeof(path), "%s/records.dat", ex.dir);
        ex.fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        ex.buf = malloc(ex.record_size);
        if (ex.fd < 0 || !ex.buf) {
                fprintf(stderr, "lvss-example-writer: %s: %s\n", path, strerror(errno));
                free(ex.buf);
                return 1;
        }
        struct stat st;
        if (fstat(ex.fd, &st) == 0) {
                ex.seq = (uint64_t) st.st_size / ex.record_size;
                if (ftruncate(ex.fd, (off_t) (ex.seq * ex.record_size)) < 0)
                        fprintf(stderr, "lvss-example-writer: %s: cannot cut torn tail\n", path);
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

        r = lvss_writer_new(&id, &ev, &ex, &w);
        if (r < 0) {
                fprintf(stderr, "lvss-example-writer: cannot create writer: %s\n", lvss_strerror(r));
                close(ex.fd);
                free(ex.buf);
                return 1;
        }
        struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: poll returns EINTR */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        r = subscribe(w, false);
        if (r < 0)
                r = r == LVSS_E_ACCESS_DENIED ? 5 : 1;
        else
                r = run(&ex, w);
        lvss_writer_free(w);
        fdatasync(ex.fd);
        close(ex.fd);
        free(ex.buf);
        if (ex.events_log)
                fclose(ex.events_log);
        return r;
}
