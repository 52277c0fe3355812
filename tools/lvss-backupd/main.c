/* SPDX-License-Identifier: MIT */
/*
 * lvss-backupd: the backup service.  Loads the job files, runs the
 * scheduler and the task queue on one sd-event loop, serves
 * org.lvss.Backup1 (bus.c) and optionally /metrics (metrics.c).
 * Design: docs/design/service.md; manual: lvss-backupd(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

#include "bus.h"
#include "fs-util.h"
#include "jobs.h"
#include "macro.h"
#include "metrics.h"
#include "tasks.h"

#ifndef LVSS_BINDIR
#define LVSS_BINDIR "/usr/bin"
#endif

int64_t now_s(void) {
        return (int64_t) time(NULL);
}

void manager_log(const char *mid, const char *fmt, ...) {
        char buf[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (getenv("JOURNAL_STREAM") && mid)
                sd_journal_send("MESSAGE=%s", buf, "MESSAGE_ID=%s", mid, "SYSLOG_IDENTIFIER=lvss-backupd", NULL);
        else if (getenv("JOURNAL_STREAM"))
                sd_journal_send("MESSAGE=%s", buf, "SYSLOG_IDENTIFIER=lvss-backupd", NULL);
        else
                fprintf(stderr, "lvss-backupd: %s%s%s\n", buf, mid ? " MESSAGE_ID=" : "", mid ? mid : "");
}

int child_watch(Manager *m, sd_event_source **ret, pid_t pid, sd_event_child_handler_t cb, void *userdata) {
        sd_event_source *s = NULL;
        int r = sd_event_add_child(m->event, &s, pid, WEXITED, cb, userdata);
        /* OFF first: ONESHOT -> ON alone only flips a flag (the epoll
         * registration stays EPOLLONESHOT); OFF -> ON registers it anew. */
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (r < 0) {
                sd_event_source_disable_unref(s);
                return r;
        }
        *ret = s;
        return 0;
}

int write_file_atomic(const char *dir, const char *name, const char *data, size_t len) {
        char tmp[4096];
        int r = 0;
        snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name);
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t off = 0;
        while (off < len) {
                ssize_t k = write(fd, data + off, len - off);
                if (k < 0) {
                        r = -errno;
                        break;
                }
                off += (size_t) k;
        }
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        close(fd);
        char dst[4096];
        snprintf(dst, sizeof(dst), "%s/%s", dir, name);
        if (r == 0 && rename(tmp, dst) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                errno = -r;
                return r;
        }
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                r = -errno;
        if (dfd >= 0)
                close(dfd);
        return r;
}

static Manager *audit_manager;

void audit_record(Manager *m, const char *who, const char *action, const char *object, const char *outcome) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/audit.log", m->state_dir);
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "time", (json_int_t) now_s(), "who", who, "action", action,
                              "object", object, "outcome", outcome);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (!s || fd < 0 || dprintf(fd, "%s\n", s) < 0 || fdatasync(fd) < 0)
                manager_log(NULL, "cannot append to %s: %m", path);
        if (fd >= 0)
                close(fd);
        free(s);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        if (si->ssi_signo == SIGHUP) {
                if (jobs_load(m) == 0)
                        manager_log(MID_JOB_CHANGED, "jobs reloaded from %s (SIGHUP)", m->config_dir);
                scheduler_rearm(m);
                return 0;
        }
        return sd_event_exit(m->event, 0);
}

static const char usage[] =
        "Usage: lvss-backupd [--config-dir DIR] [--state-dir DIR] [--metrics-listen ADDR:PORT]\n\n"
        "The lvss backup service: runs the backup jobs of DIR/NAME.json on their schedules, one task\n"
        "per repository and one VSS backup per host at a time, and serves org.lvss.Backup1 on the\n"
        "system bus (or $LVSS_BUS).  lvss-backupctl is its command line.\n\n"
        "  --config-dir DIR          job files (default /etc/lvss/backup.d)\n"
        "  --state-dir DIR           task records, logs, last-run times, audit (default /var/lib/lvss-backupd)\n"
        "  --metrics-listen ADDR:PORT  serve Prometheus metrics at GET /metrics (off by default)\n"
        "  -h, --help                this help\n\n"
        "Environment: LVSS_BUS (bus address), LVSS_BACKUP (the lvss-backup binary, default " LVSS_BINDIR
        "/lvss-backup).\nSee lvss-backupd(8).\n";

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"config-dir", required_argument, NULL, 'c'},
                {"state-dir", required_argument, NULL, 's'},
                {"metrics-listen", required_argument, NULL, 'm'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        Manager m = {.config_dir = (char *) "/etc/lvss/backup.d", .state_dir = (char *) "/var/lib/lvss-backupd"};
        const char *metrics = NULL;
        int o, r;

        while ((o = getopt_long(argc, argv, "h", longopts, NULL)) >= 0) {
                switch (o) {
                case 'c':
                        m.config_dir = optarg;
                        break;
                case 's':
                        m.state_dir = optarg;
                        break;
                case 'm':
                        metrics = optarg;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fprintf(stderr, "lvss-backupd: see 'lvss-backupd --help'\n");
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "lvss-backupd: unexpected argument '%s' (see 'lvss-backupd --help')\n", argv[optind]);
                return 2;
        }
        m.lvss_backup =
                getenv("LVSS_BACKUP") && *getenv("LVSS_BACKUP") ? getenv("LVSS_BACKUP") : LVSS_BINDIR "/lvss-backup";
        m.mstore = getenv("LVSS_MSTORE") && *getenv("LVSS_MSTORE") ? getenv("LVSS_MSTORE") : LVSS_BINDIR "/mstore";
        audit_manager = &m;
        umask(077);
        char sub[4096];
        snprintf(sub, sizeof(sub), "%s/tasks", m.state_dir);
        r = mkdir_p(sub, 0755, 0700);
        snprintf(sub, sizeof(sub), "%s/logs", m.state_dir);
        if (r >= 0)
                r = mkdir_p(sub, 0755, 0700);
        if (r < 0) {
                fprintf(stderr, "lvss-backupd: state directory %s: %s\n", m.state_dir, strerror(-r));
                return 1;
        }
        srandom((unsigned) time(NULL) ^ (unsigned) getpid());
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&m.event);
        if (r < 0)
                return 1;
        (void) sd_event_add_signal(m.event, NULL, SIGTERM, on_signal, &m);
        (void) sd_event_add_signal(m.event, NULL, SIGINT, on_signal, &m);
        (void) sd_event_add_signal(m.event, NULL, SIGHUP, on_signal, &m);

        r = jobs_load(&m);
        if (r < 0) {
                fprintf(stderr, "lvss-backupd: job directory %s: %s\n", m.config_dir, strerror(-r));
                return 1;
        }
        r = tasks_load(&m);
        if (r < 0) {
                fprintf(stderr, "lvss-backupd: task records in %s: %s\n", m.state_dir, strerror(-r));
                return 1;
        }
        if (metrics) {
                r = metrics_listen(&m, metrics);
                if (r < 0) {
                        fprintf(stderr, "lvss-backupd: --metrics-listen %s: %s\n", metrics,
                                r == -EINVAL ? "expected ADDR:PORT (127.0.0.1:9465, [::1]:9465)" : strerror(-r));
                        return r == -EINVAL ? 2 : 1;
                }
        }
        r = bus_setup(&m);
        if (r < 0)
                return 1;
        (void) bus_start_progress(&m);
        scheduler_start(&m);
        tasks_dispatch(&m);
        manager_log(NULL, "ready: %zu job(s) from %s, state in %s%s%s", m.n_jobs, m.config_dir, m.state_dir,
                    metrics ? ", metrics on " : "", metrics ? metrics : "");
        r = sd_event_loop(m.event);

        tasks_stop(&m);
        metrics_free(&m);
        for (size_t i = 0; i < m.n_jobs; i++)
                job_free(m.jobs[i]);
        free(m.jobs);
        json_decref(m.sched_state);
        m.sched_timer = sd_event_source_disable_unref(m.sched_timer);
        m.progress_timer = sd_event_source_disable_unref(m.progress_timer);
        m.state_defer = sd_event_source_disable_unref(m.state_defer);
        sd_bus_flush_close_unref(m.bus);
        sd_event_unref(m.event);
        return r < 0 ? 1 : 0;
}
