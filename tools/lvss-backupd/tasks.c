/* SPDX-License-Identifier: MIT */
/*
 * tasks: see tasks.h and docs/design/service.md (state machine T1-T6,
 * scheduler S1-S4).  Each step of a task is one lvss-backup child: stdin
 * /dev/null, stdout STATE_DIR/logs/ID.out (its --json document), stderr
 * appended to STATE_DIR/logs/ID.log; PR_SET_PDEATHSIG(SIGKILL) so a crash of
 * the service kills it and lvssd releases its writers and snapshots.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus.h"
#include "jobs.h"
#include "lib/core/array.h"
#include "lib/core/error-slot.h"
#include "macro.h"
#include "metrics.h"
#include "notify.h"
#include "tasks.h"

#define PROGRESS_FD 3 /* P1: lvss-backup create|copy --progress-fd 3, a pipe to the service */
#define PROGRESS_FD_STR "3"

bool task_done(const Task *t) {
        return strcmp(t->state, "queued") != 0 && strcmp(t->state, "running") != 0;
}

static void task_free(Task *t) {
        if (!t)
                return;
        sd_event_source_unref(t->child);
        sd_event_source_unref(t->kill_timer);
        sd_event_source_disable_unref(t->progress_io);
        free(t->job);
        free(t->kind);
        free(t->type);
        free(t->state);
        free(t->requested_by);
        free(t->backup_id);
        free(t->error);
        free(t->repository);
        json_decref(t->restore);
        free(t);
}

static json_t *str_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}
static json_t *time_or_null(int64_t t) {
        return t ? json_integer(t) : json_null();
}

json_t *task_to_json(const Task *t) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:s, s:o, s:I, s:f, s:o}", "id",
                              (json_int_t) t->id, "job", t->job, "kind", t->kind, "type", str_or_null(t->type), "state",
                              t->state, "queued", time_or_null(t->queued), "started", time_or_null(t->started), "ended",
                              time_or_null(t->ended), "requested_by", t->requested_by, "backup_id",
                              str_or_null(t->backup_id), "bytes_added", (json_int_t) t->bytes_added, "freeze_window_ms",
                              t->freeze_window_ms, "error", str_or_null(t->error));
        if (o) { /* P1: file bytes read so far and planned (0 until lvss-backup create has planned) */
                json_object_set_new(o, "bytes_done", json_integer(t->bytes_done));
                json_object_set_new(o, "bytes_total", json_integer(t->bytes_total));
        }
        if (o && strcmp(t->kind, "sync") == 0) /* its step's "copied", for the sync metrics (service.md §5) */
                json_object_set_new(o, "backups_copied", json_integer(t->backups_copied));
        if (o && t->restore)
                json_object_set(o, "restore", t->restore);
        if (o && t->exit_status >= 0)
                json_object_set_new(o, "exit_status", json_integer(t->exit_status));
        return o;
}

static void set_str(char **p, const char *v) {
        free(*p);
        *p = v ? strdup(v) : NULL;
}

static void task_save(Manager *m, Task *t) {
        char dir[4096], name[64];
        json_t *o = task_to_json(t);
        if (t->repository)
                json_object_set_new(o, "repository", json_string(t->repository));
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        snprintf(dir, sizeof(dir), "%s/tasks", m->state_dir);
        snprintf(name, sizeof(name), "%llu.json", (unsigned long long) t->id);
        if (!s || write_file_atomic(dir, name, s, strlen(s)) < 0)
                manager_log(NULL, "task %llu: cannot save its record in %s: %m", (unsigned long long) t->id, dir);
        free(s);
}

static void task_signal(Manager *m, Task *t) {
        if (m->bus)
                (void) sd_bus_emit_signal(m->bus, BACKUPD_PATH, BACKUPD_IFACE, "TaskChanged", "ts", t->id, t->state);
        bus_state_changed(m, STATE_TASKS | STATE_JOBS); /* ActiveTasks; Jobs' last_run */
}

static void log_path(Manager *m, uint64_t id, const char *ext, char *buf, size_t n) {
        snprintf(buf, n, "%s/logs/%llu.%s", m->state_dir, (unsigned long long) id, ext);
}

_printf_(3, 4) static void task_log(Manager *m, Task *t, const char *fmt, ...) {
        char path[4096];
        log_path(m, t->id, "log", path, sizeof(path));
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return;
        FILE *f = fdopen(fd, "a");
        if (!f) {
                close(fd);
                return;
        }
        va_list ap;
        va_start(ap, fmt);
        fputs("lvss-backupd: ", f);
        vfprintf(f, fmt, ap);
        fputc('\n', f);
        va_end(ap);
        fclose(f);
}

/* Keep the last TASKS_KEPT_PER_JOB finished tasks per job (records and logs). */
static void tasks_trim(Manager *m, const char *job) {
        size_t kept = 0;
        for (size_t i = m->n_tasks; i-- > 0;) {
                Task *t = m->tasks[i];
                if (strcmp(t->job, job) != 0 || !task_done(t) || ++kept <= TASKS_KEPT_PER_JOB)
                        continue;
                char p[4096];
                snprintf(p, sizeof(p), "%s/tasks/%llu.json", m->state_dir, (unsigned long long) t->id);
                (void) unlink(p);
                log_path(m, t->id, "log", p, sizeof(p));
                (void) unlink(p);
                log_path(m, t->id, "out", p, sizeof(p));
                (void) unlink(p);
                task_free(t);
                memmove(m->tasks + i, m->tasks + i + 1, (m->n_tasks - i - 1) * sizeof(Task *));
                m->n_tasks--;
        }
}

static int task_add(Manager *m, Task *t) {
        if (ARRAY_RESERVE_ONE(m->tasks, m->cap_tasks, m->n_tasks, 16) < 0)
                return -ENOMEM;
        size_t i = m->n_tasks;
        while (i > 0 && m->tasks[i - 1]->id > t->id) {
                m->tasks[i] = m->tasks[i - 1];
                i--;
        }
        m->tasks[i] = t;
        m->n_tasks++;
        if (t->id >= m->next_id)
                m->next_id = t->id + 1;
        return 0;
}

static const char *jstr(json_t *o, const char *k) {
        return json_string_value(json_object_get(o, k));
}

int tasks_load(Manager *m) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/tasks", m->state_dir);
        DIR *d = opendir(dir);
        struct dirent *de;
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                char path[4400];
                if (de->d_name[0] == '.' || !strstr(de->d_name, ".json"))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                json_t *o = json_load_file(path, 0, NULL);
                Task *t = o ? calloc(1, sizeof(*t)) : NULL;
                if (!t || !json_is_integer(json_object_get(o, "id")) || !jstr(o, "job") || !jstr(o, "state")) {
                        manager_log(NULL, "task record %s unreadable, ignoring it", path);
                        free(t);
                        json_decref(o);
                        continue;
                }
                t->id = (uint64_t) json_integer_value(json_object_get(o, "id"));
                t->job = strdup(jstr(o, "job"));
                t->kind = strdup(jstr(o, "kind") ?: "backup");
                set_str(&t->type, jstr(o, "type"));
                t->state = strdup(jstr(o, "state"));
                t->requested_by = strdup(jstr(o, "requested_by") ?: "?");
                t->queued = json_integer_value(json_object_get(o, "queued"));
                t->started = json_integer_value(json_object_get(o, "started"));
                t->ended = json_integer_value(json_object_get(o, "ended"));
                set_str(&t->backup_id, jstr(o, "backup_id"));
                set_str(&t->error, jstr(o, "error"));
                set_str(&t->repository, jstr(o, "repository"));
                t->bytes_added = json_integer_value(json_object_get(o, "bytes_added"));
                t->bytes_done = json_integer_value(json_object_get(o, "bytes_done"));
                t->bytes_total = json_integer_value(json_object_get(o, "bytes_total"));
                t->backups_copied = json_integer_value(json_object_get(o, "backups_copied"));
                t->freeze_window_ms = json_number_value(json_object_get(o, "freeze_window_ms"));
                t->exit_status = json_object_get(o, "exit_status")
                                         ? (int) json_integer_value(json_object_get(o, "exit_status"))
                                         : -1;
                t->restore = json_incref(json_object_get(o, "restore"));
                json_decref(o);
                t->pid = -1;
                t->manager = m;
                if (task_add(m, t) < 0) {
                        task_free(t);
                        continue;
                }
                if (task_done(t))
                        metrics_task_done(m, t); /* counters start from the kept history */
                else {
                        /* T5: the service stopped (crash, kill, reboot) while it was queued or running. */
                        bool was_running = strcmp(t->state, "running") == 0;
                        set_str(&t->state, "interrupted");
                        set_str(&t->error, was_running ? "interrupted: the service stopped while the task ran"
                                                       : "interrupted: the service stopped before the task ran");
                        t->ended = now_s();
                        task_log(m, t, "%s", t->error);
                        task_save(m, t);
                        manager_log(MID_TASK_INTERRUPTED, "task %llu (%s of job %s) marked interrupted",
                                    (unsigned long long) t->id, t->kind, t->job);
                        metrics_task_done(m, t);
                }
        }
        closedir(d);
        if (m->next_id == 0)
                m->next_id = 1;
        return 0;
}

Task *task_find(Manager *m, uint64_t id) {
        for (size_t i = 0; i < m->n_tasks; i++)
                if (m->tasks[i]->id == id)
                        return m->tasks[i];
        return NULL;
}

int task_queue(Manager *m, Job *j, const char *kind, const char *type, const char *who, json_t *restore, Task **ret) {
        if (j->error)
                return error_slot_set(NULL, -EINVAL, "job %s is not usable: %s", j->name, j->error);
        /* One queued task of a kind per job: a second request while one waits is busy. */
        for (size_t i = 0; i < m->n_tasks; i++) {
                Task *o = m->tasks[i];
                if (strcmp(o->job, j->name) == 0 && strcmp(o->kind, kind) == 0 && strcmp(o->state, "queued") == 0 &&
                    strcmp(kind, "restore") != 0)
                        return error_slot_set(NULL, -EBUSY, "job %s: %s task %llu is already queued", j->name, kind,
                                              (unsigned long long) o->id);
        }
        Task *t = calloc(1, sizeof(*t));
        if (!t)
                return error_slot_set(NULL, -ENOMEM, "out of memory");
        t->id = m->next_id++;
        t->job = strdup(j->name);
        t->kind = strdup(kind);
        t->type = type ? strdup(type) : NULL;
        t->state = strdup("queued");
        t->requested_by = strdup(who);
        t->repository = strdup(j->repository);
        t->queued = now_s();
        t->exit_status = -1;
        t->pid = -1;
        t->manager = m;
        t->restore = json_incref(restore);
        if (!t->job || !t->kind || !t->state || !t->requested_by || !t->repository || task_add(m, t) < 0) {
                task_free(t);
                return error_slot_set(NULL, -ENOMEM, "out of memory");
        }
        task_log(m, t, "task %llu queued: %s%s%s of job %s, requested by %s", (unsigned long long) t->id, kind,
                 type ? " " : "", type ? type : "", j->name, who);
        task_save(m, t);
        task_signal(m, t);
        if (ret)
                *ret = t;
        tasks_dispatch(m);
        return 0;
}

static void task_finish(Manager *m, Task *t, const char *state, const char *error) {
        set_str(&t->state, state);
        if (error && !t->error)
                set_str(&t->error, error);
        t->ended = now_s();
        t->pid = -1;
        t->child = sd_event_source_disable_unref(t->child);
        t->kill_timer = sd_event_source_disable_unref(t->kill_timer);
        t->progress_io = sd_event_source_disable_unref(t->progress_io);
        task_log(m, t, "task %llu %s%s%s", (unsigned long long) t->id, state, t->error ? ": " : "",
                 t->error ? t->error : "");
        task_save(m, t);
        task_signal(m, t);
        bool ok = strcmp(state, "succeeded") == 0;
        const char *mid = strcmp(t->kind, "restore") == 0 ? MID_RESTORE_FINISHED
                          : ok                            ? MID_RUN_SUCCEEDED
                                                          : MID_RUN_FAILED;
        manager_log(mid, "task %llu (%s%s%s of job %s, requested by %s) %s%s%s", (unsigned long long) t->id, t->kind,
                    t->type ? " " : "", t->type ? t->type : "", t->job, t->requested_by, state, t->error ? ": " : "",
                    t->error ? t->error : "");
        char obj[160], what[64];
        snprintf(obj, sizeof(obj), "job %s task %llu", t->job, (unsigned long long) t->id);
        snprintf(what, sizeof(what), "%s finished", t->kind);
        audit_record(m, t->requested_by, what, obj, t->error ? t->error : state);
        if (ok && strcmp(t->kind, "backup") == 0 && t->type && strcmp(t->type, "full") == 0) {
                json_t *js = json_object_get(m->sched_state, t->job);
                if (!js) {
                        js = json_object();
                        json_object_set_new(m->sched_state, t->job, js);
                }
                json_object_set_new(js, "full_ok", json_integer(t->ended));
                char *s = json_dumps(m->sched_state, JSON_COMPACT);
                if (s)
                        (void) write_file_atomic(m->state_dir, "schedule.json", s, strlen(s));
                free(s);
        }
        metrics_task_done(m, t);
        notify_task_done(m, job_find(m, t->job), t);
        tasks_trim(m, t->job);
}

static int add_arg(char **argv, int *n, int max, const char *s) {
        if (*n >= max - 1)
                return -E2BIG;
        argv[(*n)++] = (char *) s;
        argv[*n] = NULL;
        return 0;
}

/* The argv of step STEP of T; 0 with argv[0] NULL when there is no such step. */
static int task_argv(Manager *m, Task *t, Job *j, int step, char **argv, int max, char (*num)[32]) {
        int n = 0;
        argv[0] = NULL;
        bool backup = strcmp(t->kind, "backup") == 0;
        if (step == 1 && !(backup && j->retention))
                return 0;
        if (step > 1)
                return 0;
        add_arg(argv, &n, max, m->lvss_backup);
        if (strcmp(t->kind, "sync") == 0) {
                /* T3: the off-site copy; the job's repository is the source */
                if (!j->sync_to)
                        return -ENOENT;
                add_arg(argv, &n, max, "copy");
                add_arg(argv, &n, max, "--from");
                add_arg(argv, &n, max, j->repository);
                add_arg(argv, &n, max, "--to");
                add_arg(argv, &n, max, j->sync_to);
                add_arg(argv, &n, max, "--progress-fd"); /* P1: the pipe task_spawn puts there */
                add_arg(argv, &n, max, PROGRESS_FD_STR);
                if (j->password_file) {
                        add_arg(argv, &n, max, "--password-file");
                        add_arg(argv, &n, max, j->password_file);
                }
                if (j->sync_password_file) {
                        add_arg(argv, &n, max, "--to-password-file");
                        add_arg(argv, &n, max, j->sync_password_file);
                }
                return add_arg(argv, &n, max, "--json");
        }
        if (backup && step == 0) {
                add_arg(argv, &n, max, "create");
                add_arg(argv, &n, max, "--type");
                add_arg(argv, &n, max, t->type);
                add_arg(argv, &n, max, "--progress-fd"); /* P1: the pipe task_spawn puts there */
                add_arg(argv, &n, max, PROGRESS_FD_STR);
                size_t i;
                json_t *c;
                json_array_foreach(j->components, i, c) {
                        add_arg(argv, &n, max, "--component");
                        add_arg(argv, &n, max, json_string_value(c));
                }
        } else if (backup) {
                const char *k;
                json_t *v;
                int nn = 0;
                add_arg(argv, &n, max, "forget");
                json_object_foreach(j->retention, k, v) {
                        static char opt[16][32];
                        snprintf(opt[nn], sizeof(opt[nn]), "--%s", k);
                        for (char *p = opt[nn]; *p; p++)
                                if (*p == '_')
                                        *p = '-';
                        add_arg(argv, &n, max, opt[nn]);
                        if (json_is_integer(v)) {
                                snprintf(num[nn], 32, "%lld", (long long) json_integer_value(v));
                                add_arg(argv, &n, max, num[nn]);
                        } else
                                add_arg(argv, &n, max, json_string_value(v));
                        if (++nn >= 16)
                                break;
                }
        } else if (strcmp(t->kind, "prune") == 0) {
                add_arg(argv, &n, max, "prune");
        } else if (strcmp(t->kind, "check") == 0) {
                add_arg(argv, &n, max, "check");
                if (j->check_subset) {
                        add_arg(argv, &n, max, "--read-data-subset");
                        add_arg(argv, &n, max, j->check_subset);
                }
        } else { /* restore */
                size_t i;
                json_t *c;
                add_arg(argv, &n, max, "restore");
                add_arg(argv, &n, max, jstr(t->restore, "backup_id"));
                json_array_foreach(json_object_get(t->restore, "components"), i, c) {
                        add_arg(argv, &n, max, "--component");
                        add_arg(argv, &n, max, json_string_value(c));
                }
                if (jstr(t->restore, "to") && *jstr(t->restore, "to")) {
                        add_arg(argv, &n, max, "--to");
                        add_arg(argv, &n, max, jstr(t->restore, "to"));
                }
                if (jstr(t->restore, "mailbox")) { /* R2: into the live mailbox */
                        add_arg(argv, &n, max, "--mailbox");
                        add_arg(argv, &n, max, jstr(t->restore, "mailbox"));
                        json_array_foreach(json_object_get(t->restore, "messages"), i, c) {
                                add_arg(argv, &n, max, "--message");
                                add_arg(argv, &n, max, json_string_value(c));
                        }
                        add_arg(argv, &n, max, "--into-live");
                }
        }
        add_arg(argv, &n, max, "--repo");
        add_arg(argv, &n, max, j->repository);
        if (j->password_file) {
                add_arg(argv, &n, max, "--password-file");
                add_arg(argv, &n, max, j->password_file);
        }
        return add_arg(argv, &n, max, "--json");
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata);

static void close_fd(int fd) {
        if (fd >= 0)
                (void) close(fd);
}

/* P1: the progress lines of lvss-backup create and copy ({"bytes_done",
 * "bytes_total", "files"}, copy's with "backups_done", "backups_total"), at
 * most 512 bytes each (a longer one is dropped). */
static void progress_parse(Task *t, const char *line, size_t len) {
        json_t *o = json_loadb(line, len, 0, NULL);
        json_t *d = json_object_get(o, "bytes_done"), *tot = json_object_get(o, "bytes_total");
        if (json_is_integer(d) && json_is_integer(tot) && json_integer_value(d) >= 0 && json_integer_value(tot) >= 0) {
                t->bytes_done = json_integer_value(d);
                t->bytes_total = json_integer_value(tot);
        }
        json_decref(o);
}

/* Read what the pipe holds; false at end of file or error. */
static bool progress_read(Task *t, int fd) {
        for (;;) {
                if (t->progress_len == sizeof(t->progress_buf))
                        t->progress_len = 0; /* no newline in 512 bytes: not ours, drop it */
                ssize_t k = read(fd, t->progress_buf + t->progress_len, sizeof(t->progress_buf) - t->progress_len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 && errno == EAGAIN;
                t->progress_len += (size_t) k;
                char *nl;
                while ((nl = memchr(t->progress_buf, '\n', t->progress_len))) {
                        size_t l = (size_t) (nl - t->progress_buf);
                        progress_parse(t, t->progress_buf, l);
                        memmove(t->progress_buf, nl + 1, t->progress_len - l - 1);
                        t->progress_len -= l + 1;
                }
        }
}

static int on_progress_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Task *t = userdata;
        if (!progress_read(t, fd))
                t->progress_io = sd_event_source_disable_unref(t->progress_io);
        return 0;
}

static int task_spawn(Manager *m, Task *t, Job *j) {
        char *argv[192], num[16][32], out[4096], logp[4096]; /* 64 components, 2 arguments each, and options */
        int r = task_argv(m, t, j, t->step, argv, (int) ELEMENTSOF(argv), num);
        if (r < 0)
                return r;
        if (!argv[0])
                return 0; /* no more steps */
        log_path(m, t->id, "out", out, sizeof(out));
        log_path(m, t->id, "log", logp, sizeof(logp));
        char cmd[2048] = "";
        for (int i = 0; argv[i]; i++) {
                size_t l = strlen(cmd);
                snprintf(cmd + l, sizeof(cmd) - l, "%s%s", i ? " " : "", argv[i]);
        }
        task_log(m, t, "step %d: %s", t->step + 1, cmd);
        _cleanup_close_ int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        _cleanup_close_ int lfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (ofd < 0 || lfd < 0)
                return -errno;
        int pfd[2] = {-1, -1};
        bool progress = (strcmp(t->kind, "backup") == 0 && t->step == 0) || strcmp(t->kind, "sync") == 0;
        if (progress && pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                close_fd(pfd[0]);
                close_fd(pfd[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                int nul = open("/dev/null", O_RDONLY);
                /* The pipe's write end moves above the stdio fds first, then to PROGRESS_FD (dup2 clears CLOEXEC). */
                int pw = progress ? fcntl(pfd[1], F_DUPFD_CLOEXEC, 10) : -1;
                if (nul < 0 || dup2(nul, 0) < 0 || dup2(ofd, 1) < 0 || dup2(lfd, 2) < 0 ||
                    (progress && (pw < 0 || dup2(pw, PROGRESS_FD) < 0)))
                        _exit(127);
                if (strcmp(t->kind, "sync") == 0 && j->sync_credentials_file &&
                    setenv("AWS_SHARED_CREDENTIALS_FILE", j->sync_credentials_file, 1) < 0)
                        _exit(127);
                execv(argv[0], argv);
                dprintf(2, "lvss-backupd: cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        t->pid = pid;
        close_fd(pfd[1]);
        t->progress_len = 0;
        if (progress) {
                (void) fcntl(pfd[0], F_SETFL, O_NONBLOCK);
                if (sd_event_add_io(m->event, &t->progress_io, pfd[0], EPOLLIN, on_progress_io, t) >= 0)
                        (void) sd_event_source_set_io_fd_own(t->progress_io, 1);
                else
                        close_fd(pfd[0]); /* no progress, the backup goes on */
        }
        r = child_watch(m, &t->child, pid, on_child, t);
        if (r < 0) {
                kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        return 1;
}

/* T4: the task's error is lvss-backup's one-line errors ("lvss-backup: ..."),
 * joined with "; " (a refusal names the writer's reason, then the outcome),
 * or else its last line. */
static char *last_error_line(Manager *m, Task *t) {
        char path[4096], line[1024], last[1024] = "", errs[1024] = "";
        log_path(m, t->id, "log", path, sizeof(path));
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                if (!*line || strncmp(line, "lvss-backupd: ", 14) == 0)
                        continue;
                snprintf(last, sizeof(last), "%s", line);
                if (strncmp(line, "lvss-backup: ", 13) == 0) {
                        size_t l = strlen(errs);
                        snprintf(errs + l, sizeof(errs) - l, "%s%s", l ? "; " : "", line + 13);
                }
        }
        fclose(f);
        return *errs ? strdup(errs) : *last ? strdup(last) : NULL;
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Task *t = userdata;
        if (t->pid > 0)
                (void) kill(t->pid, SIGKILL);
        return 0;
}

static void task_step(Manager *m, Task *t) {
        Job *j = job_find(m, t->job);
        if (!j || j->error) {
                task_finish(m, t, "failed", "the job was deleted or became unusable while the task waited");
                return;
        }
        int r = task_spawn(m, t, j);
        if (r < 0) {
                char why[256];
                snprintf(why, sizeof(why), "cannot start lvss-backup: %s", strerror(-r));
                task_finish(m, t, "failed", why);
        } else if (r == 0)
                task_finish(m, t, "succeeded", NULL);
}

static void parse_result(Manager *m, Task *t) {
        char out[4096];
        log_path(m, t->id, "out", out, sizeof(out));
        json_t *o = json_load_file(out, 0, NULL);
        if (!o)
                return;
        if (jstr(o, "id") && !t->backup_id)
                set_str(&t->backup_id, jstr(o, "id"));
        if (json_is_integer(json_object_get(o, "bytes_added")))
                t->bytes_added = json_integer_value(json_object_get(o, "bytes_added"));
        if (strcmp(t->kind, "sync") == 0 && json_is_integer(json_object_get(o, "copied")))
                t->backups_copied = json_integer_value(json_object_get(o, "copied"));
        if (json_is_number(json_object_get(o, "freeze_window_ms")))
                t->freeze_window_ms = json_number_value(json_object_get(o, "freeze_window_ms"));
        if (t->restore && jstr(t->restore, "mailbox") && jstr(o, "folder")) { /* R2: where the mail went */
                json_object_set(t->restore, "folder", json_object_get(o, "folder"));
                json_object_set(t->restore, "recovered", json_object_get(o, "messages"));
        }
        char *s = json_dumps(o, JSON_INDENT(2));
        json_decref(o);
        if (s) {
                task_log(m, t, "step %d result: %s", t->step + 1, s);
                free(s);
        }
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Task *t = userdata;
        Manager *m = t->manager;
        int status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;

        t->child = sd_event_source_disable_unref(t->child);
        t->kill_timer = sd_event_source_disable_unref(t->kill_timer);
        if (t->progress_io) { /* the lines still in the pipe (its last one is the final count) */
                (void) progress_read(t, sd_event_source_get_io_fd(t->progress_io));
                t->progress_io = sd_event_source_disable_unref(t->progress_io);
        }
        t->pid = -1;
        t->exit_status = status;
        if (t->step == 0 || strcmp(t->kind, "backup") != 0)
                parse_result(m, t);
        task_log(m, t, "step %d %s %d", t->step + 1,
                 si->si_code == CLD_EXITED ? "exited with status" : "killed by signal", si->si_status);
        if (t->cancel) {
                task_finish(m, t, "cancelled", "cancelled on request");
        } else if (status != 0) {
                char *e = si->si_code == CLD_EXITED ? last_error_line(m, t) : NULL;
                char why[1200], sig[64];
                snprintf(sig, sizeof(sig), "lvss-backup was killed by signal %d", si->si_status);
                snprintf(why, sizeof(why), "%s%s", t->step > 0 ? "backup stored, retention failed: " : "",
                         e                           ? e
                         : si->si_code == CLD_EXITED ? "lvss-backup failed"
                                                     : sig);
                free(e);
                task_finish(m, t, "failed", why);
        } else {
                t->step++;
                task_save(m, t);
                task_step(m, t);
        }
        tasks_dispatch(m);
        return 0;
}

static bool is_vss(const Task *t) {
        return strcmp(t->kind, "backup") == 0 || strcmp(t->kind, "restore") == 0;
}

void tasks_dispatch(Manager *m) {
        for (size_t i = 0; i < m->n_tasks; i++) {
                Task *t = m->tasks[i];
                if (strcmp(t->state, "queued") != 0)
                        continue;
                bool blocked = false;
                for (size_t k = 0; k < m->n_tasks && !blocked; k++) {
                        Task *o = m->tasks[k];
                        if (strcmp(o->state, "running") != 0)
                                continue;
                        /* D1: one task per repository; D2: one VSS task per host. */
                        if ((o->repository && t->repository && strcmp(o->repository, t->repository) == 0) ||
                            (is_vss(o) && is_vss(t)))
                                blocked = true;
                }
                if (blocked)
                        continue;
                set_str(&t->state, "running");
                t->started = now_s();
                t->step = 0;
                task_save(m, t);
                task_signal(m, t);
                manager_log(strcmp(t->kind, "restore") == 0 ? MID_RESTORE_STARTED : MID_RUN_STARTED,
                            "task %llu (%s%s%s of job %s, requested by %s) started", (unsigned long long) t->id,
                            t->kind, t->type ? " " : "", t->type ? t->type : "", t->job, t->requested_by);
                task_step(m, t);
        }
}

int task_cancel(Manager *m, Task *t, const char *who) {
        char obj[160];
        snprintf(obj, sizeof(obj), "job %s task %llu", t->job, (unsigned long long) t->id);
        if (task_done(t)) {
                audit_record(m, who, "cancel", obj, "refused: already finished");
                return -EALREADY;
        }
        audit_record(m, who, "cancel", obj, "accepted");
        task_log(m, t, "cancel requested by %s", who);
        if (strcmp(t->state, "queued") == 0) {
                task_finish(m, t, "cancelled", "cancelled on request");
                return 0;
        }
        t->cancel = true;
        if (t->pid > 0) {
                /* C1: SIGTERM (lvss-backup aborts the set), SIGKILL 500 ms later. */
                (void) kill(t->pid, SIGTERM);
                if (!t->kill_timer)
                        (void) sd_event_add_time_relative(m->event, &t->kill_timer, CLOCK_MONOTONIC, 500 * 1000, 0,
                                                          on_kill_timer, t);
        }
        return 0;
}

void tasks_stop(Manager *m) {
        for (size_t i = 0; i < m->n_tasks; i++) {
                Task *t = m->tasks[i];
                if (t->pid > 0) {
                        (void) kill(t->pid, SIGKILL);
                        (void) waitpid(t->pid, NULL, 0);
                        t->pid = -1;
                }
                if (!task_done(t)) {
                        set_str(&t->state, "interrupted");
                        set_str(&t->error, "interrupted: the service was stopped");
                        t->ended = now_s();
                        task_save(m, t);
                }
        }
        for (size_t i = 0; i < m->n_tasks; i++)
                task_free(m->tasks[i]);
        free(m->tasks);
        m->tasks = NULL;
        m->n_tasks = m->cap_tasks = 0;
}

/* ---- scheduler ---- */

static int64_t last_of(Manager *m, const char *job, const char *key) {
        return json_integer_value(json_object_get(json_object_get(m->sched_state, job), key));
}

static void save_sched(Manager *m) {
        char *s = json_dumps(m->sched_state, JSON_COMPACT);
        if (!s || write_file_atomic(m->state_dir, "schedule.json", s, strlen(s)) < 0)
                manager_log(NULL, "cannot save %s/schedule.json: %m", m->state_dir);
        free(s);
}

static void set_last(Manager *m, const char *job, const char *key, int64_t t) {
        json_t *js = json_object_get(m->sched_state, job);
        if (!js) {
                js = json_object();
                json_object_set_new(m->sched_state, job, js);
        }
        json_object_set_new(js, key, json_integer(t));
}

static int64_t next_after(Job *j, int k, int64_t base) {
        int64_t t;
        if (!j->cal[k] || calendar_next(j->cal[k], base, &t) < 0)
                return 0;
        if (j->randomized_delay > 0)
                t += random() % j->randomized_delay;
        return t;
}

static int on_sched(sd_event_source *s, uint64_t usec, void *userdata);

/* S1-S3: queue what is due, compute the next elapses, arm one timer. */
void scheduler_rearm(Manager *m) {
        int64_t now = now_s(), earliest = 0;
        bool changed = false;

        for (size_t i = 0; i < m->n_jobs; i++) {
                Job *j = m->jobs[i];
                bool backup_queued = false;
                if (j->error)
                        continue;
                for (int k = 0; k < _SCHED_MAX; k++) {
                        if (!j->cal[k])
                                continue;
                        if (j->next[k] == 0) {
                                /* S2: from the last recorded elapse (catch-up once), or from now. */
                                int64_t last = last_of(m, j->name, sched_name(k));
                                if (!last) {
                                        set_last(m, j->name, sched_name(k), now);
                                        changed = true;
                                        last = now;
                                }
                                j->next[k] = next_after(j, k, last);
                        }
                        if (j->next[k] && j->next[k] <= now) {
                                const char *kind = k == SCHED_PRUNE   ? "prune"
                                                   : k == SCHED_CHECK ? "check"
                                                   : k == SCHED_SYNC  ? "sync"
                                                                      : "backup";
                                const char *type = k <= SCHED_COPY ? sched_name(k) : NULL;
                                /* S4: an incremental or differential with no full recorded runs as a full. */
                                if ((k == SCHED_INCREMENTAL || k == SCHED_DIFFERENTIAL) &&
                                    !last_of(m, j->name, "full_ok"))
                                        type = "full";
                                if (!(k <= SCHED_COPY && backup_queued)) {
                                        if (task_queue(m, j, kind, type, "schedule", NULL, NULL) < 0)
                                                manager_log(NULL, "job %s: scheduled %s not queued: %s", j->name,
                                                            sched_name(k), error_slot_get(NULL));
                                }
                                if (k <= SCHED_COPY)
                                        backup_queued = true;
                                set_last(m, j->name, sched_name(k), now);
                                changed = true;
                                j->next[k] = next_after(j, k, now);
                        }
                        if (j->next[k] && (!earliest || j->next[k] < earliest))
                                earliest = j->next[k];
                }
        }
        if (changed)
                save_sched(m);
        bus_state_changed(m, STATE_JOBS); /* next_run */
        m->sched_timer = sd_event_source_disable_unref(m->sched_timer);
        if (earliest)
                (void) sd_event_add_time(m->event, &m->sched_timer, CLOCK_REALTIME, (uint64_t) earliest * 1000000ULL,
                                         100000, on_sched, m);
}

static int on_sched(sd_event_source *s, uint64_t usec, void *userdata) {
        scheduler_rearm(userdata);
        return 0;
}

int scheduler_start(Manager *m) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/schedule.json", m->state_dir);
        m->sched_state = json_load_file(path, 0, NULL);
        if (!json_is_object(m->sched_state)) {
                json_decref(m->sched_state);
                m->sched_state = json_object();
        }
        scheduler_rearm(m);
        return 0;
}

json_t *job_to_json(Manager *m, Job *j) {
        json_t *o = json_pack("{s:s}", "name", j->name);
        if (j->error) {
                json_object_set_new(o, "error", json_string(j->error));
                json_object_set_new(o, "next_run", json_null());
                json_object_set_new(o, "last_run", json_null());
                return o;
        }
        int best = -1;
        for (int k = 0; k < _SCHED_MAX; k++)
                if (j->next[k] && k <= SCHED_COPY && (best < 0 || j->next[k] < j->next[best]))
                        best = k;
        json_object_set_new(
                o, "next_run",
                best < 0 ? json_null()
                         : json_pack("{s:s, s:I}", "type", sched_name(best), "time", (json_int_t) j->next[best]));
        Task *last = NULL;
        for (size_t i = m->n_tasks; i-- > 0;)
                if (strcmp(m->tasks[i]->job, j->name) == 0 && strcmp(m->tasks[i]->kind, "backup") == 0) {
                        last = m->tasks[i];
                        break;
                }
        json_object_set_new(o, "last_run",
                            last ? json_pack("{s:I, s:s, s:o}", "task", (json_int_t) last->id, "state", last->state,
                                             "time", time_or_null(last->ended ? last->ended : last->queued))
                                 : json_null());
        json_object_set_new(o, "repository", json_string(j->repository));
        json_t *sch = json_object();
        for (int k = 0; k < _SCHED_MAX; k++)
                if (j->expr[k])
                        json_object_set_new(
                                sch, sched_name(k),
                                json_pack("{s:s, s:o}", "calendar", j->expr[k], "next", time_or_null(j->next[k])));
        json_object_set_new(o, "schedules", sch);
        json_object_set(o, "config", j->doc);
        return o;
}
