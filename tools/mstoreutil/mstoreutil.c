/* SPDX-License-Identifier: MIT */
/*
 * mstoreutil: offline tool for storage-group files (the eseutil
 * counterpart).  Works on files; needs no daemon.
 *
 *   header FILE [--json]              database/stream header (eseutil /mh)
 *   checkpoint FILE.chk [--json]      checkpoint (eseutil /mk)
 *   verify FILE... [--json]           every page of .edb/.stm (/k); .chk copies
 *   verify-logs DIR [--base E00] [--json]   a log set (/ml)
 *   recover DIR [--base E00] [...]    soft recovery (/r) or, with
 *                                     --restore-logs, hard recovery after a restore
 *
 * Exit: 0 ok, 1 failed, 2 usage, 6 corruption detected.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/core/macro.h"
#include "mstore/mstore.h"

#define EXIT_USAGE 2
#define EXIT_CORRUPT 6

static int json;

static int exit_for(int r) {
        if (r >= 0)
                return 0;
        if (r == MSTORE_E_CORRUPT)
                return EXIT_CORRUPT;
        if (r == -EINVAL)
                return EXIT_USAGE;
        if (r == -EBUSY || r == MSTORE_E_IN_USE)
                return 4;
        if (r == -EACCES || r == -EPERM)
                return 5;
        return 1;
}

/* Every engine call here has no handle (headers, checkpoints, verify,
 * recover, open, close): its message is the thread's. */
static int fail(int r) {
        fprintf(stderr, "mstoreutil: %s\n", mstore_last_error()[0] ? mstore_last_error() : mstore_strerror(r));
        return exit_for(r);
}

static void print_json(json_t *j) {
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) {
                puts(s);
                free(s);
        }
        json_decref(j);
}

static void iso_time(uint64_t t, char *buf, size_t n) {
        time_t tt = (time_t) t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void hex(const uint8_t *b, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", b[i]);
}

static const char *slot_names[4] = { "full", "incremental", "copy", "differential" };

static int cmd_header(int argc, char **argv) {
        if (argc != 1) {
                fprintf(stderr, "usage: mstoreutil header FILE [--json]\n");
                return EXIT_USAGE;
        }
        mstore_header_info h;
        int r = mstore_read_header(argv[0], &h);
        if (r < 0)
                return fail(r);
        const char *state = h.state == MSTORE_STATE_CLEAN_SHUTDOWN ? "clean_shutdown" : "dirty_shutdown";
        char sig[33], tbuf[32];
        hex(h.log_signature, 16, sig);
        if (json) {
                json_t *backup = json_object();
                for (int i = 0; i < 4; i++) {
                        if (!h.backup[i].present) {
                                json_object_set_new(backup, slot_names[i], json_null());
                                continue;
                        }
                        iso_time(h.backup[i].time, tbuf, sizeof tbuf);
                        json_object_set_new(backup, slot_names[i],
                                            json_pack("{s:I,s:I,s:s}", "gen_low", (json_int_t) h.backup[i].gen_low,
                                                      "gen_high", (json_int_t) h.backup[i].gen_high, "time", tbuf));
                }
                print_json(json_pack("{s:s,s:[I,I],s:o,s:s,s:I,s:s,s:I,s:I}", "state", state, "log_required",
                                     (json_int_t) h.log_required[0], (json_int_t) h.log_required[1], "backup", backup,
                                     "file_type", h.file_type == MSTORE_FILE_STREAM ? "stream" : "database",
                                     "log_committed", (json_int_t) h.log_committed, "log_signature", sig, "page_count",
                                     (json_int_t) h.page_count, "header_copy", (json_int_t) h.header_copy_used));
                return 0;
        }
        printf("File:            %s\n", argv[0]);
        printf("File type:       %s\n", h.file_type == MSTORE_FILE_STREAM ? "streaming file" : "database");
        printf("State:           %s\n", h.state == MSTORE_STATE_CLEAN_SHUTDOWN ? "Clean Shutdown" : "Dirty Shutdown");
        printf("Log Required:    %u-%u (0x%X-0x%X)\n", h.log_required[0], h.log_required[1], h.log_required[0],
               h.log_required[1]);
        printf("Log Committed:   %u\n", h.log_committed);
        printf("Log Signature:   %s\n", sig);
        printf("DB Signature:    %016llx\n", (unsigned long long) h.db_signature);
        printf("Pages:           %llu\n", (unsigned long long) h.page_count);
        if (h.header_copy_used)
                printf("Header:          primary copy damaged, shadow copy used\n");
        static const char *titles[4] = { "Previous Full Backup", "Previous Incremental Backup",
                                         "Previous Copy Backup", "Previous Differential Backup" };
        for (int i = 0; i < 4; i++) {
                if (!h.backup[i].present) {
                        printf("%-29s none\n", titles[i]);
                        continue;
                }
                iso_time(h.backup[i].time, tbuf, sizeof tbuf);
                printf("%-29s Log Gen: %u-%u (0x%X-0x%X) - OSSnapshot, Mark: %s\n", titles[i], h.backup[i].gen_low,
                       h.backup[i].gen_high, h.backup[i].gen_low, h.backup[i].gen_high, tbuf);
        }
        return 0;
}

static int cmd_checkpoint(int argc, char **argv) {
        if (argc != 1) {
                fprintf(stderr, "usage: mstoreutil checkpoint FILE.chk [--json]\n");
                return EXIT_USAGE;
        }
        mstore_checkpoint_info c;
        int r = mstore_read_checkpoint(argv[0], &c);
        if (r < 0)
                return fail(r);
        /* both copies must be sound; a damaged one is reported (exit 6) */
        mstore_verify_result vr;
        int vrc = mstore_verify_file(argv[0], NULL, NULL, &vr);
        char sig[33];
        hex(c.log_signature, 16, sig);
        if (json)
                print_json(json_pack("{s:{s:I,s:I},s:s,s:i,s:b}", "checkpoint", "generation",
                                     (json_int_t) c.generation, "offset", (json_int_t) c.offset, "log_signature", sig,
                                     "copy_used", c.copy_used, "copies_ok", vrc >= 0));
        else
                printf("Checkpoint: (0x%X,%X) generation %u offset %u\nLog Signature: %s\n", c.generation, c.offset,
                       c.generation, c.offset, sig);
        if (vrc < 0) {
                fprintf(stderr, "mstoreutil: %s: a checkpoint copy is damaged (%llu bad)\n", argv[0],
                        (unsigned long long) vr.bad);
                return EXIT_CORRUPT;
        }
        return 0;
}

typedef struct problems {
        json_t *arr;
        const char *key;
        const char *path;
} problems;

static void on_problem(uint64_t n, const char *what, void *ud) {
        problems *p = ud;
        if (p->arr)
                json_array_append_new(p->arr, json_pack("{s:I,s:s}", p->key, (json_int_t) n, "reason", what));
        if (p->path)
                fprintf(stderr, "mstoreutil: %s: %s\n", p->path, what);
        else
                fprintf(stderr, "mstoreutil: %s\n", what);
}

static int cmd_verify(int argc, char **argv) {
        if (argc < 1) {
                fprintf(stderr, "usage: mstoreutil verify FILE... [--json]\n");
                return EXIT_USAGE;
        }
        json_t *files = json_array();
        int worst = 0;
        for (int i = 0; i < argc; i++) {
                problems p = { .arr = json_array(), .key = "page", .path = argv[i] };
                mstore_verify_result vr = { 0 };
                int r = mstore_verify_file(argv[i], on_problem, &p, &vr);
                if (r < 0 && r != MSTORE_E_CORRUPT)
                        fprintf(stderr, "mstoreutil: %s\n", mstore_last_error());
                int code = exit_for(r);
                if (code == EXIT_CORRUPT || (code && worst != EXIT_CORRUPT))
                        worst = code;
                json_array_append_new(files, json_pack("{s:s,s:I,s:o,s:b}", "path", argv[i], "pages_checked",
                                                       (json_int_t) vr.pages_checked, "bad_pages", p.arr, "ok",
                                                       r >= 0));
                if (!json)
                        printf("%s: %llu pages checked, %llu bad%s\n", argv[i], (unsigned long long) vr.pages_checked,
                               (unsigned long long) vr.bad, r >= 0 ? "" : r == MSTORE_E_CORRUPT ? " - CORRUPT" : " - FAILED");
        }
        if (json)
                print_json(json_pack("{s:o,s:b}", "files", files, "ok", worst == 0));
        else
                json_decref(files);
        return worst;
}

static int cmd_verify_logs(int argc, char **argv, const char *base) {
        if (argc != 1) {
                fprintf(stderr, "usage: mstoreutil verify-logs DIR [--base E00] [--json]\n");
                return EXIT_USAGE;
        }
        problems p = { .arr = json_array(), .key = "generation" };
        mstore_verify_result vr = { 0 };
        int r = mstore_verify_logs(argv[0], base, on_problem, &p, &vr);
        if (r < 0 && r != MSTORE_E_CORRUPT) {
                json_decref(p.arr);
                return fail(r);
        }
        if (json)
                print_json(json_pack("{s:s,s:s,s:I,s:I,s:I,s:o,s:b}", "log_dir", argv[0], "base", base, "gen_low",
                                     (json_int_t) vr.gen_low, "gen_high", (json_int_t) vr.gen_high,
                                     "generations_checked", (json_int_t) vr.pages_checked, "problems", p.arr, "ok",
                                     r >= 0));
        else {
                json_decref(p.arr);
                printf("%s: %s generations 0x%X-0x%X: %llu checked, %llu problems%s\n", argv[0], base, vr.gen_low,
                       vr.gen_high, (unsigned long long) vr.pages_checked, (unsigned long long) vr.bad,
                       r >= 0 ? "" : " - CORRUPT");
        }
        return exit_for(r);
}

static int cmd_recover(int argc, char **argv, const char *base, const char *log_dir, const char *restore_logs,
                       const char *live_logs, char **dbs, int ndbs) {
        if (argc != 1) {
                fprintf(stderr, "usage: mstoreutil recover DIR [--base E00] [--log-dir DIR] "
                                "[--restore-logs DIR [--live-logs DIR] [--db NAME]...] [--json]\n");
                return EXIT_USAGE;
        }
        if (restore_logs) {
                mstore_recover_options o = MSTORE_RECOVER_OPTIONS_INIT;
                o.db_dir = argv[0];
                o.base = base;
                o.backup_log_dir = restore_logs;
                o.live_log_dir = live_logs;
                dbs[ndbs] = NULL;
                o.databases = ndbs ? (const char *const *) dbs : NULL;
                mstore_recover_result res;
                int r = mstore_recover(&o, &res);
                if (r < 0)
                        return fail(r);
                if (json)
                        print_json(json_pack("{s:s,s:I,s:I,s:I,s:s}", "mode", "hard", "gen_first",
                                             (json_int_t) res.gen_first, "gen_last", (json_int_t) res.gen_last,
                                             "databases", (json_int_t) res.n_databases, "stop_reason",
                                             res.stop_reason));
                else
                        printf("hard recovery: %u databases recovered, generations 0x%X-0x%X replayed (%s)\n",
                               res.n_databases, res.gen_first, res.gen_last, res.stop_reason);
                return 0;
        }
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.base = base;
        o.log_dir = log_dir;
        mstore_sg *sg;
        int r = mstore_sg_open(argv[0], &o, &sg);
        if (r < 0)
                return fail(r);
        mstore_sg_info info;
        unsigned n = mstore_db_count(sg);
        mstore_sg_get_info(sg, &info);
        uint32_t gen = info.current_generation;
        r = mstore_sg_close(sg);
        if (r < 0)
                return fail(r);
        if (json)
                print_json(json_pack("{s:s,s:I,s:I}", "mode", "soft", "databases", (json_int_t) n, "generation",
                                     (json_int_t) gen));
        else
                printf("soft recovery of %s (%s): done, %u databases made consistent, log at generation 0x%X\n",
                       argv[0], base, n, gen);
        return 0;
}

static void usage(FILE *f) {
        fputs("usage: mstoreutil COMMAND [OPTIONS] ARGS\n"
              "Offline checks and recovery of mstore storage-group files.\n\n"
              "  header FILE [--json]                  show a .edb/.stm header\n"
              "  checkpoint FILE.chk [--json]          show a checkpoint file\n"
              "  verify FILE... [--json]               check every page (.edb, .stm; .chk copies)\n"
              "  verify-logs DIR [--base E00] [--json] check a log set\n"
              "  recover DIR [--base E00] [--log-dir DIR]\n"
              "                                        soft recovery of a storage group\n"
              "  recover DIR --restore-logs DIR [--live-logs DIR] [--db NAME]...\n"
              "                                        hard recovery of restored databases in DIR\n\n"
              "Exit status: 0 ok, 1 failed, 2 usage error, 4 storage group in use (open by a\n"
              "running process, e.g. mstored), 6 corruption detected.\n",
              f);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },       { "base", required_argument, NULL, 'b' },
                { "help", no_argument, NULL, 'h' },       { "log-dir", required_argument, NULL, 'l' },
                { "restore-logs", required_argument, NULL, 'r' }, { "live-logs", required_argument, NULL, 'L' },
                { "db", required_argument, NULL, 'd' },   { "quiet", no_argument, NULL, 'q' },
                {},
        };
        const char *base = "E00", *log_dir = NULL, *restore_logs = NULL, *live_logs = NULL;
        _cleanup_free_ char **dbs = calloc((size_t) argc + 1, sizeof *dbs);
        int ndbs = 0, c;
        if (!dbs)
                return 1;
        /* getopt_long permutes: options may stand before or after the command
         * and its arguments, which end up in argv[optind..]. */
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'j': json = 1; break;
                case 'b': base = optarg; break;
                case 'l': log_dir = optarg; break;
                case 'r': restore_logs = optarg; break;
                case 'L': live_logs = optarg; break;
                case 'd': dbs[ndbs++] = optarg; break;
                case 'q': break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return EXIT_USAGE;
        }
        const char *cmd = argv[optind++];
        char **args = argv + optind;
        int nargs = argc - optind;
        int rc;
        if (strcmp(cmd, "header") == 0)
                rc = cmd_header(nargs, args);
        else if (strcmp(cmd, "checkpoint") == 0)
                rc = cmd_checkpoint(nargs, args);
        else if (strcmp(cmd, "verify") == 0)
                rc = cmd_verify(nargs, args);
        else if (strcmp(cmd, "verify-logs") == 0)
                rc = cmd_verify_logs(nargs, args, base);
        else if (strcmp(cmd, "recover") == 0)
                rc = cmd_recover(nargs, args, base, log_dir, restore_logs, live_logs, dbs, ndbs);
        else if (strcmp(cmd, "help") == 0) {
                usage(stdout);
                rc = 0;
        } else {
                fprintf(stderr, "mstoreutil: unknown command '%s'\n", cmd);
                usage(stderr);
                rc = EXIT_USAGE;
        }
        return rc;
}
