/* SPDX-License-Identifier: MIT */
/*
 * lvss-backupctl: the command line of lvss-backupd, over org.lvss.Backup1
 * only (system bus, or $LVSS_BUS).  Commands, JSON fields and exit codes:
 * lvss-backupctl(1) and docs/interfaces.md.
 *
 * Exit codes: 0 ok, 1 failed, 2 usage or bad input, 4 busy, 5 access
 * denied, 6 corruption (a check task that found damage).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#define BUS_NAME "org.lvss.Backup1"
#define BUS_PATH "/org/lvss/Backup1"
#define BUS_IFACE "org.lvss.Backup1"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_BUSY = 4, EX_DENIED = 5, EX_CORRUPT = 6 };

static sd_bus *bus;
static bool opt_json, opt_wait, opt_quiet;

static const char help_text[] =
        "Usage: lvss-backupctl COMMAND [OPTIONS]\n\n"
        "Control the lvss backup service (lvss-backupd) over D-Bus (system bus, or $LVSS_BUS).\n\n"
        "Commands:\n"
        "  list [--json]                                  jobs, next and last runs\n"
        "  run JOB [--type T] [--wait [--quiet]] [--json] queue a run now (T: full, incremental,\n"
        "                                                 differential, copy, prune, check, sync; default full);\n"
        "                                                 --wait shows progress on a terminal unless --quiet\n"
        "  cancel TASK                                    cancel a queued or running task\n"
        "  history [JOB] [--json]                         tasks, oldest first\n"
        "  log TASK                                       a task's full log\n"
        "  show TASK                                      one task (the fields of history --json)\n"
        "  restore JOB BACKUP_ID [--component PATH]... [--to DIR] [--wait [--quiet]] [--json]\n"
        "                                                 a restore task\n"
        "  restore JOB BACKUP_ID --component PATH --mailbox ADDRESS [--message UID]... --into-live\n"
        "          [--wait [--quiet]] [--json]            mail of one mailbox into its live Recovered/<time> folder\n"
        "  backups JOB [--json]                           the backups in the job's repository\n"
        "  audit [--json]                                 who asked for what, when, and the outcome\n"
        "  job show NAME | job set NAME FILE | job delete NAME | reload\n"
        "                                                 read, write (atomically) and delete job files\n\n"
        "Exit codes: 0 ok, 1 failed, 2 usage, 4 busy, 5 access denied, 6 corruption.\n"
        "Root and members of group 'backup' only.  See lvss-backupctl(1).\n";

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...) {
        va_list ap;
        fputs("lvss-backupctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(" (see 'lvss-backupctl --help')\n", stderr);
        return EX_USAGE;
}

static int bus_fail(const sd_bus_error *e, int r) {
        const char *name = e && e->name ? e->name : "";
        fprintf(stderr, "lvss-backupctl: %s\n", e && e->message ? e->message : strerror(-r));
        if (strcmp(name, SD_BUS_ERROR_ACCESS_DENIED) == 0)
                return EX_DENIED;
        if (strcmp(name, "org.lvss.Backup1.Error.Busy") == 0)
                return EX_BUSY;
        if (strcmp(name, "org.lvss.Backup1.Error.NotFound") == 0 ||
            strcmp(name, "org.lvss.Backup1.Error.Invalid") == 0 || strcmp(name, SD_BUS_ERROR_INVALID_ARGS) == 0)
                return EX_USAGE;
        return EX_FAIL;
}

static int connect_bus(void) {
        const char *addr = getenv("LVSS_BUS");
        int r;
        if (addr && *addr) {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, addr);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0)
                        r = sd_bus_start(bus);
        } else
                r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "lvss-backupctl: cannot connect to the %s bus: %s\n",
                        addr && *addr ? "LVSS_BUS" : "system", strerror(-r));
                return EX_FAIL;
        }
        return 0;
}

/* Call METHOD; a JSON string reply is parsed into *RET. */
static int call_json(const char *method, json_t **ret, const char *sig, ...) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *s;
        va_list ap;
        va_start(ap, sig);
        int r = sd_bus_call_methodv(bus, BUS_NAME, BUS_PATH, BUS_IFACE, method, &e, &reply, sig, ap);
        va_end(ap);
        if (r < 0) {
                r = bus_fail(&e, r);
                sd_bus_error_free(&e);
                return r;
        }
        r = sd_bus_message_read(reply, "s", &s);
        if (r >= 0)
                *ret = json_loads(s, 0, NULL);
        sd_bus_message_unref(reply);
        if (r < 0 || !*ret) {
                fprintf(stderr, "lvss-backupctl: %s: unreadable reply from lvss-backupd\n", method);
                return EX_FAIL;
        }
        return 0;
}

static void print_json(json_t *o) {
        char *s = json_dumps(o, JSON_INDENT(2));
        if (s)
                puts(s);
        free(s);
}

static const char *fmt_time(json_t *v, char *buf, size_t n) {
        if (!json_is_integer(v))
                return "-";
        time_t t = (time_t) json_integer_value(v);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
        return buf;
}

static const char *js(json_t *o, const char *k) {
        const char *s = json_string_value(json_object_get(o, k));
        return s ? s : "-";
}

static int cmd_list(void) {
        json_t *o = NULL, *j;
        size_t i;
        int r = call_json("ListJobs", &o, "");
        if (r)
                return r;
        if (opt_json)
                print_json(o);
        else {
                printf("%-20s %-13s %-19s %-8s %-11s %s\n", "JOB", "NEXT TYPE", "NEXT RUN", "LAST", "STATE", "ENDED");
                json_array_foreach(json_object_get(o, "jobs"), i, j) {
                        char b1[64], b2[64], id[32] = "-";
                        json_t *nr = json_object_get(j, "next_run"), *lr = json_object_get(j, "last_run");
                        if (json_object_get(j, "error")) {
                                printf("%-20s error: %s\n", js(j, "name"), js(j, "error"));
                                continue;
                        }
                        if (json_is_object(lr))
                                snprintf(id, sizeof(id), "%lld",
                                         (long long) json_integer_value(json_object_get(lr, "task")));
                        printf("%-20s %-13s %-19s %-8s %-11s %s\n", js(j, "name"), js(nr, "type"),
                               fmt_time(json_object_get(nr, "time"), b1, sizeof(b1)), id, js(lr, "state"),
                               fmt_time(json_object_get(lr, "time"), b2, sizeof(b2)));
                }
        }
        json_decref(o);
        return 0;
}

static int task_exit(json_t *t) {
        const char *st = js(t, "state");
        if (strcmp(st, "succeeded") == 0)
                return EX_OK;
        json_t *x = json_object_get(t, "exit_status");
        if (json_is_integer(x) && (json_integer_value(x) == EX_BUSY || json_integer_value(x) == EX_DENIED ||
                                   json_integer_value(x) == EX_CORRUPT || json_integer_value(x) == EX_USAGE))
                return (int) json_integer_value(x);
        return EX_FAIL;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* ---- run/restore --wait: TaskChanged and TaskProgress signals, GetTask the authority ---- */

typedef struct waiter {
        uint64_t id;
        bool changed; /* a TaskChanged for the task: ask GetTask now */
        bool show;    /* progress on stderr (a terminal, no --quiet) */
        bool shown;   /* a progress line is on the screen */
} waiter;

static void fmt_bytes(uint64_t b, char *buf, size_t n) {
        if (b < 1024)
                snprintf(buf, n, "%llu B", (unsigned long long) b);
        else if (b < 1024 * 1024)
                snprintf(buf, n, "%.1f KiB", b / 1024.0);
        else if (b < 1024ULL * 1024 * 1024)
                snprintf(buf, n, "%.1f MiB", b / 1048576.0);
        else
                snprintf(buf, n, "%.2f GiB", b / 1073741824.0);
}

static int on_task_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        waiter *w = userdata;
        uint64_t id, elapsed, log_bytes, done, total;
        const char *state;
        if (sd_bus_message_read(m, "ts", &id, &state) < 0 || id != w->id)
                return 0;
        if (sd_bus_message_is_signal(m, BUS_IFACE, "TaskChanged")) {
                w->changed = true;
                return 0;
        }
        /* TaskProgress(id, state, elapsed_s, log_bytes, bytes_done, bytes_total) */
        if (!w->show || sd_bus_message_read(m, "tttt", &elapsed, &log_bytes, &done, &total) < 0)
                return 0;
        char d[32], t[32];
        fmt_bytes(done, d, sizeof(d));
        fmt_bytes(total, t, sizeof(t));
        if (total > 0)
                fprintf(stderr, "\r\033[Ktask %llu %s %llus: %s of %s (%d%%)", (unsigned long long) id, state,
                        (unsigned long long) elapsed, d, t, (int) (done >= total ? 100 : done * 100 / total));
        else
                fprintf(stderr, "\r\033[Ktask %llu %s %llus", (unsigned long long) id, state,
                        (unsigned long long) elapsed);
        fflush(stderr);
        w->shown = true;
        return 0;
}

/* Subscribe to the service's signals (from its unique name only: nobody
 * else can fake them), then GetTask whenever a TaskChanged for ID comes, and
 * at least once a second in case a signal was lost. */
static int wait_task(uint64_t id) {
        waiter w = {.id = id, .show = !opt_quiet && isatty(STDERR_FILENO)};
        sd_bus_creds *creds = NULL;
        const char *owner = NULL;
        if (sd_bus_get_name_creds(bus, BUS_NAME, SD_BUS_CREDS_UNIQUE_NAME, &creds) >= 0)
                (void) sd_bus_creds_get_unique_name(creds, &owner);
        if (!owner) {
                sd_bus_creds_unref(creds);
                fprintf(stderr, "lvss-backupctl: %s is not on the bus\n", BUS_NAME);
                return EX_FAIL;
        }
        int r = sd_bus_match_signal(bus, NULL, owner, BUS_PATH, BUS_IFACE, "TaskChanged", on_task_signal, &w);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, owner, BUS_PATH, BUS_IFACE, "TaskProgress", on_task_signal, &w);
        sd_bus_creds_unref(creds);
        if (r < 0) {
                fprintf(stderr, "lvss-backupctl: cannot subscribe to the service's signals: %s\n", strerror(-r));
                return EX_FAIL;
        }
        for (;;) {
                json_t *t = NULL;
                r = call_json("GetTask", &t, "t", id);
                if (r)
                        return r;
                const char *st = js(t, "state");
                if (strcmp(st, "queued") != 0 && strcmp(st, "running") != 0) {
                        if (w.shown)
                                fputs("\r\033[K", stderr);
                        if (opt_json)
                                print_json(t);
                        else
                                printf("task %llu %s%s%s\n", (unsigned long long) id, st,
                                       json_is_string(json_object_get(t, "error")) ? ": " : "",
                                       json_is_string(json_object_get(t, "error")) ? js(t, "error") : "");
                        r = task_exit(t);
                        json_decref(t);
                        return r;
                }
                json_decref(t);
                w.changed = false;
                uint64_t until = now_usec() + 1000000;
                while (!w.changed) {
                        r = sd_bus_process(bus, NULL);
                        if (r < 0) {
                                fprintf(stderr, "lvss-backupctl: lost the bus: %s\n", strerror(-r));
                                return EX_FAIL;
                        }
                        if (r > 0)
                                continue;
                        uint64_t now = now_usec();
                        if (now >= until)
                                break;
                        (void) sd_bus_wait(bus, until - now);
                }
        }
}

static int print_task_id(uint64_t id) {
        if (opt_wait)
                return wait_task(id);
        if (opt_json) {
                json_t *o = json_pack("{s:I}", "task", (json_int_t) id);
                print_json(o);
                json_decref(o);
        } else
                printf("task %llu queued\n", (unsigned long long) id);
        return 0;
}

/* Send m, a call whose answer is a task id (Run, Restore, RestoreIntoLive),
 * and print the task or wait for it.  r is the result of building m (an
 * error is reported as the call's); m is unreferenced. */
static int call_for_task(sd_bus_message *m, int r) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t id;

        if (r >= 0)
                r = sd_bus_call(bus, m, 0, &e, &reply);
        sd_bus_message_unref(m);
        if (r < 0) {
                r = bus_fail(&e, r);
                sd_bus_error_free(&e);
                return r;
        }
        r = sd_bus_message_read(reply, "t", &id);
        sd_bus_message_unref(reply);
        return r < 0 ? EX_FAIL : print_task_id(id);
}

static int cmd_run(const char *job, const char *type) {
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, BUS_PATH, BUS_IFACE, "Run");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", job, type ? type : "full");
        return call_for_task(m, r);
}

static int simple_call(const char *method, const char *sig, ...) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;
        va_start(ap, sig);
        int r = sd_bus_call_methodv(bus, BUS_NAME, BUS_PATH, BUS_IFACE, method, &e, NULL, sig, ap);
        va_end(ap);
        if (r < 0) {
                r = bus_fail(&e, r);
                sd_bus_error_free(&e);
                return r;
        }
        return 0;
}

static int parse_id(const char *s, uint64_t *id) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (!*s || *end || errno || v == 0)
                return usage_err("TASK '%s': expected a task number", s);
        *id = v;
        return 0;
}

static int cmd_history(const char *job) {
        json_t *o = NULL, *t;
        size_t i;
        int r = call_json("ListTasks", &o, "s", job ? job : "");
        if (r)
                return r;
        if (opt_json)
                print_json(o);
        else {
                printf("%-6s %-16s %-8s %-12s %-11s %-19s %-10s %s\n", "TASK", "JOB", "KIND", "TYPE", "STATE", "ENDED",
                       "BY", "BACKUP/ERROR");
                json_array_foreach(json_object_get(o, "tasks"), i, t) {
                        char b[64];
                        printf("%-6lld %-16s %-8s %-12s %-11s %-19s %-10s %.16s%s%s\n",
                               (long long) json_integer_value(json_object_get(t, "id")), js(t, "job"), js(t, "kind"),
                               js(t, "type"), js(t, "state"), fmt_time(json_object_get(t, "ended"), b, sizeof(b)),
                               js(t, "requested_by"), js(t, "backup_id"),
                               json_is_string(json_object_get(t, "error")) ? " " : "",
                               json_is_string(json_object_get(t, "error")) ? js(t, "error") : "");
                }
        }
        json_decref(o);
        return 0;
}

static int cmd_log(uint64_t id) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *s;
        int r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_IFACE, "GetLog", &e, &reply, "t", id);
        if (r < 0) {
                r = bus_fail(&e, r);
                sd_bus_error_free(&e);
                return r;
        }
        if (sd_bus_message_read(reply, "s", &s) >= 0)
                fputs(s, stdout);
        sd_bus_message_unref(reply);
        return 0;
}

static int cmd_audit(void) {
        json_t *o = NULL, *a;
        size_t i;
        int r = call_json("Audit", &o, "");
        if (r)
                return r;
        if (opt_json)
                print_json(o);
        else
                json_array_foreach(json_object_get(o, "records"), i, a) {
                        char b[64];
                        printf("%s uid=%s %s %s: %s\n", fmt_time(json_object_get(a, "time"), b, sizeof(b)),
                               js(a, "who"), js(a, "action"), js(a, "object"), js(a, "outcome"));
                }
        json_decref(o);
        return 0;
}

static int cmd_restore(const char *job, const char *id, char **comps, const char *to) {
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, BUS_PATH, BUS_IFACE, "Restore");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", job, id);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, comps);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", to ? to : "");
        return call_for_task(m, r);
}

/* RestoreIntoLive: one Mail Store component, one mailbox, UIDs (none = all). */
static int cmd_restore_into_live(const char *job, const char *id, const char *comp, const char *addr,
                                 const uint64_t *uids, size_t n_uids) {
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, BUS_PATH, BUS_IFACE, "RestoreIntoLive");
        if (r >= 0)
                r = sd_bus_message_append(m, "ssss", job, id, comp, addr);
        if (r >= 0)
                r = sd_bus_message_append_array(m, 't', uids, n_uids * sizeof(*uids));
        return call_for_task(m, r);
}

static int cmd_job(int n, char **args) {
        if (n >= 2 && strcmp(args[0], "show") == 0) {
                json_t *o = NULL;
                int r = call_json("GetJob", &o, "s", args[1]);
                if (!r)
                        print_json(opt_json ? o : json_object_get(o, "config") ? json_object_get(o, "config") : o);
                json_decref(o);
                return r;
        }
        if (n == 3 && strcmp(args[0], "set") == 0) {
                json_error_t je;
                json_t *doc = strcmp(args[2], "-") == 0 ? json_loadf(stdin, 0, &je) : json_load_file(args[2], 0, &je);
                if (!doc) {
                        fprintf(stderr, "lvss-backupctl: %s:%d: %s\n", args[2], je.line, je.text);
                        return EX_USAGE;
                }
                char *s = json_dumps(doc, JSON_COMPACT);
                json_decref(doc);
                int r = s ? simple_call("SetJob", "ss", args[1], s) : EX_FAIL;
                free(s);
                return r;
        }
        if (n == 2 && strcmp(args[0], "delete") == 0)
                return simple_call("DeleteJob", "s", args[1]);
        return usage_err("job: expected 'show NAME', 'set NAME FILE' or 'delete NAME'");
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"json", no_argument, NULL, 'j'},
                {"wait", no_argument, NULL, 'w'},
                {"quiet", no_argument, NULL, 'q'},
                {"type", required_argument, NULL, 't'},
                {"component", required_argument, NULL, 'c'},
                {"to", required_argument, NULL, 'T'},
                {"mailbox", required_argument, NULL, 'M'},
                {"message", required_argument, NULL, 'U'},
                {"into-live", no_argument, NULL, 'L'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *type = NULL, *to = NULL, *mailbox = NULL;
        char *comps[65] = {0};
        uint64_t uids[64];
        size_t n_uids = 0;
        bool into_live = false;
        int n_comps = 0, o, r;

        while ((o = getopt_long(argc, argv, "+h", longopts, NULL)) >= 0)
                if (o == 'h') {
                        fputs(help_text, stdout);
                        return 0;
                } else
                        return usage_err("options follow the command");
        if (optind >= argc)
                return usage_err("missing command");
        const char *cmd = argv[optind];
        argv += optind;
        argc -= optind;
        optind = 0; /* 0: glibc re-initializes getopt (permutation state included) */
        while ((o = getopt_long(argc, argv, "h", longopts, NULL)) >= 0) {
                switch (o) {
                case 'j':
                        opt_json = true;
                        break;
                case 'w':
                        opt_wait = true;
                        break;
                case 'q':
                        opt_quiet = true;
                        break;
                case 't':
                        type = optarg;
                        break;
                case 'T':
                        to = optarg;
                        break;
                case 'M':
                        mailbox = optarg;
                        break;
                case 'U': {
                        char *end;
                        errno = 0;
                        unsigned long long u = strtoull(optarg, &end, 10);
                        if (!isdigit((unsigned char) optarg[0]) || *end || errno || u == 0 || u > UINT32_MAX)
                                return usage_err("--message '%s': expected a message UID (1..%u)", optarg,
                                                 UINT32_MAX);
                        if (n_uids >= (sizeof(uids) / sizeof(uids[0])))
                                return usage_err("too many --message options (at most %zu)", (sizeof(uids) / sizeof(uids[0])));
                        uids[n_uids++] = u;
                        break;
                }
                case 'L':
                        into_live = true;
                        break;
                case 'c':
                        if (n_comps >= 64)
                                return usage_err("too many --component options");
                        comps[n_comps++] = optarg;
                        break;
                case 'h':
                        fputs(help_text, stdout);
                        return 0;
                default:
                        return EX_USAGE;
                }
        }
        int n = argc - optind;
        char **args = argv + optind;
        bool is_run = strcmp(cmd, "run") == 0, is_restore = strcmp(cmd, "restore") == 0;
        if (type && !is_run)
                return usage_err("--type applies to run");
        if (opt_wait && !is_run && !is_restore)
                return usage_err("--wait applies to run and restore");
        if (opt_quiet && !opt_wait)
                return usage_err("--quiet applies to run --wait and restore --wait");
        if ((to || n_comps || mailbox || n_uids || into_live) && !is_restore)
                return usage_err("--component, --to, --mailbox, --message and --into-live apply to restore");
        if ((mailbox || n_uids) && !into_live)
                return usage_err("--mailbox and --message go with --into-live");
        if (into_live && (!mailbox || n_comps != 1 || to))
                return usage_err("--into-live takes one --component, a --mailbox and no --to");

        if (strcmp(cmd, "list") == 0 || strcmp(cmd, "audit") == 0 || strcmp(cmd, "reload") == 0) {
                if (n != 0)
                        return usage_err("%s takes no arguments", cmd);
        } else if (is_run || strcmp(cmd, "cancel") == 0 || strcmp(cmd, "log") == 0 || strcmp(cmd, "backups") == 0 ||
                   strcmp(cmd, "show") == 0) {
                if (n != 1)
                        return usage_err("%s: expected one argument", cmd);
        } else if (strcmp(cmd, "history") == 0) {
                if (n > 1)
                        return usage_err("history: at most one JOB");
        } else if (is_restore) {
                if (n != 2)
                        return usage_err("restore: expected JOB BACKUP_ID");
        } else if (strcmp(cmd, "job") != 0)
                return usage_err("unknown command '%s'", cmd);

        r = connect_bus();
        if (r)
                return r;
        uint64_t id;
        if (strcmp(cmd, "list") == 0)
                r = cmd_list();
        else if (is_run)
                r = cmd_run(args[0], type);
        else if (strcmp(cmd, "cancel") == 0)
                r = parse_id(args[0], &id) ?: simple_call("Cancel", "t", id);
        else if (strcmp(cmd, "history") == 0)
                r = cmd_history(n ? args[0] : NULL);
        else if (strcmp(cmd, "log") == 0)
                r = parse_id(args[0], &id) ?: cmd_log(id);
        else if (is_restore && into_live)
                r = cmd_restore_into_live(args[0], args[1], comps[0], mailbox, uids, n_uids);
        else if (is_restore)
                r = cmd_restore(args[0], args[1], comps, to);
        else if (strcmp(cmd, "audit") == 0)
                r = cmd_audit();
        else if (strcmp(cmd, "show") == 0) {
                json_t *x = NULL;
                r = parse_id(args[0], &id) ?: call_json("GetTask", &x, "t", id);
                if (!r)
                        print_json(x);
                json_decref(x);
        } else if (strcmp(cmd, "reload") == 0)
                r = simple_call("ReloadJobs", "");
        else if (strcmp(cmd, "backups") == 0) {
                json_t *x = NULL;
                r = call_json("ListBackups", &x, "s", args[0]);
                if (!r)
                        print_json(x);
                json_decref(x);
        } else
                r = cmd_job(n, args);
        sd_bus_flush_close_unref(bus);
        return r;
}
