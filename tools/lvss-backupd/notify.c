/* SPDX-License-Identifier: MIT */
/* notify: mail and exec hooks after a task ends (see notify.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs.h"
#include "notify.h"
#include "tasks.h"

typedef struct Hook {
        char what[128];
} Hook;

static int on_hook_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Hook *h = userdata;
        if (si->si_code != CLD_EXITED || si->si_status != 0)
                manager_log(NULL, "notification %s failed (%s %d)", h->what,
                            si->si_code == CLD_EXITED ? "exit status" : "signal", si->si_status);
        free(h);
        sd_event_source_disable_unref(s);
        return 0;
}

/* Run ARGV with DATA on stdin (a memfd, so nothing blocks), reaped by sd-event. */
static void spawn_with_input(Manager *m, char *const *argv, const char *data, const char *what) {
        int fd = memfd_create("lvss-notify", MFD_CLOEXEC);
        size_t len = strlen(data);
        if (fd < 0 || write(fd, data, len) != (ssize_t) len || lseek(fd, 0, SEEK_SET) < 0) {
                manager_log(NULL, "notification %s: cannot prepare its input: %m", what);
                if (fd >= 0)
                        close(fd);
                return;
        }
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                manager_log(NULL, "notification %s: fork: %m", what);
                close(fd);
                return;
        }
        if (pid == 0) {
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(127);
                int nul = open("/dev/null", O_WRONLY);
                if (dup2(fd, 0) < 0 || nul < 0 || dup2(nul, 1) < 0)
                        _exit(127);
                execv(argv[0], argv);
                dprintf(2, "lvss-backupd: cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        close(fd);
        Hook *h = calloc(1, sizeof(*h));
        if (!h) {
                (void) waitpid(pid, NULL, 0);
                return;
        }
        snprintf(h->what, sizeof(h->what), "%s", what);
        sd_event_source *src;
        if (child_watch(m, &src, pid, on_hook_exit, h) < 0) {
                (void) waitpid(pid, NULL, 0);
                free(h);
                return;
        }
        (void) sd_event_source_set_floating(src, 1);
        sd_event_source_unref(src);
}

static bool wants(json_t *notify, const char *which) {
        json_t *on = json_object_get(notify, "on"), *v;
        size_t i;
        if (!on)
                return strcmp(which, "failure") == 0; /* default: failures only */
        json_array_foreach(on, i, v) if (strcmp(json_string_value(v), which) == 0) return true;
        return false;
}

void notify_task_done(Manager *m, Job *j, Task *t) {
        if (!j || !j->notify || strcmp(t->state, "cancelled") == 0)
                return;
        bool ok = strcmp(t->state, "succeeded") == 0;
        if (!wants(j->notify, ok ? "success" : "failure"))
                return;
        json_t *o = task_to_json(t);
        char *doc = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(o);
        if (!doc)
                return;
        const char *rcpt = json_string_value(json_object_get(j->notify, "mail_to"));
        if (rcpt) {
                const char *sm = json_string_value(json_object_get(j->notify, "sendmail"));
                char *msg = NULL, host[256] = "localhost";
                (void) gethostname(host, sizeof(host) - 1);
                if (asprintf(&msg,
                             "To: %s\nSubject: lvss-backupd on %s: %s %s of job %s %s\n"
                             "Auto-Submitted: auto-generated\nContent-Type: text/plain; charset=utf-8\n\n"
                             "Task %llu (%s%s%s of job %s, requested by %s) %s.\n%s%s%s\n%s\n",
                             rcpt, host, t->kind, t->type ? t->type : "", t->job, t->state, (unsigned long long) t->id,
                             t->kind, t->type ? " " : "", t->type ? t->type : "", t->job, t->requested_by, t->state,
                             t->error ? "Error: " : "", t->error ? t->error : "", t->error ? "\n" : "", doc) >= 0) {
                        char *argv[] = {(char *) (sm ? sm : NOTIFY_DEFAULT_SENDMAIL), (char *) "-i", (char *) "--",
                                        (char *) rcpt, NULL};
                        spawn_with_input(m, argv, msg, "mail");
                        free(msg);
                }
        }
        const char *hook = json_string_value(json_object_get(j->notify, "exec"));
        if (hook) {
                char *argv[] = {(char *) hook, NULL};
                spawn_with_input(m, argv, doc, "exec hook");
        }
        free(doc);
}
