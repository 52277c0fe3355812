/* SPDX-License-Identifier: MIT */
/*
 * bus: org.lvss.Backup1.  Every method first calls caller_check(), the one
 * authorization point: the caller's effective uid as the bus vouches for it
 * (never augmented from /proc), root or a member of group "backup" (the
 * user database's supplementary groups of that uid).  Refusals are
 * org.freedesktop.DBus.Error.AccessDenied and are audited.  Reads return
 * JSON documents (one string), commands take typed arguments.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "bus.h"
#include "bus-creds.h"
#include "console-api.h"
#include "error-slot.h"
#include "fs-util.h"
#include "jobs.h"
#include "macro.h"
#include "tasks.h"

/* The authorization check: the uid the bus vouches for and its groups from
 * the user database (lib/core/bus-creds, shared with lvssd and mstored). */
#define WHO_MAX 32 /* a uid, "unknown" or "schedule" */

static int caller_check(sd_bus_message *msg, char *who, size_t who_size, sd_bus_error *error) {
        BusCaller c;
        int r = bus_caller_get(msg, &c);
        if (r < 0) {
                snprintf(who, who_size, "unknown");
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                        "lvss-backupd: the bus gave no credentials for this caller");
        }
        snprintf(who, who_size, "%u", (unsigned) c.uid);
        bool ok = c.uid == 0 || bus_caller_in_group(&c, BACKUPD_GROUP);
        uid_t uid = c.uid;
        bus_caller_done(&c);
        if (ok)
                return 0;
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "lvss-backupd: uid %u may not use the backup service (root or group '%s' only)",
                                 (unsigned) uid, BACKUPD_GROUP);
}

/* The prologue of every method (A1): the caller check, audited as ACTION
 * when refused, then the arguments of SIG (sd_bus_message_read's) into the
 * pointers that follow.  WHO gets the caller's uid for the audit records.
 * Returns < 0 (with ERROR set when refused) or 0. */
static int method_begin(sd_bus_message *msg, Manager *m, const char *action, char who[static WHO_MAX],
                        sd_bus_error *error, const char *sig, ...) {
        int r = caller_check(msg, who, WHO_MAX, error);
        if (r < 0) {
                audit_record(m, who, action, "", "refused: access denied");
                return r;
        }
        if (!sig || !*sig)
                return 0;
        va_list ap;
        va_start(ap, sig);
        r = sd_bus_message_readv(msg, sig, ap);
        va_end(ap);
        return r < 0 ? r : 0;
}

/* The one mapping of the service's errors to org.lvss.Backup1.Error.*
 * (lvss-backupctl's exit codes): -EBUSY Busy (4), -ENOENT NotFound and
 * -EINVAL/-EALREADY Invalid (2), anything else Failed (1). */
_printf_(3, 4) static int reply_errno(sd_bus_error *error, int r, const char *fmt, ...) {
        const char *name = r == -EBUSY                      ? BACKUPD_ERROR_BUSY
                           : r == -ENOENT                   ? BACKUPD_ERROR_NOT_FOUND
                           : r == -EINVAL || r == -EALREADY ? BACKUPD_ERROR_INVALID
                                                            : BACKUPD_ERROR_FAILED;
        va_list ap;
        va_start(ap, fmt);
        r = sd_bus_error_setfv(error, name, fmt, ap);
        va_end(ap);
        return r;
}

/* A5: changing a job is root's.  A job names the repository root writes
 * to, the password and credentials files root reads, the programs root runs
 * (notify.exec, notify.sendmail) and the sync target: each of them would
 * hand a member of group backup root's power.  WHO is the uid the bus
 * vouched for (caller_check). */
static int root_only(Manager *m, const char *who, const char *action, const char *obj, sd_bus_error *error) {
        if ((strcmp(who, "0") == 0))
                return 0;
        audit_record(m, who, action, obj, "refused: access denied (root only)");
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "lvss-backupd: uid %s may not %s (jobs name files and programs the service uses as "
                                 "root: root only)",
                                 who, action);
}

static json_t *jobs_json(Manager *m);

static int reply_json(sd_bus_message *msg, json_t *o) {
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!s)
                return -ENOMEM;
        int r = sd_bus_reply_method_return(msg, "s", s);
        free(s);
        return r;
}

static Job *need_job(Manager *m, const char *name, sd_bus_error *error) {
        Job *j = job_find(m, name);
        if (!j)
                reply_errno(error, -ENOENT, "job %s: no such job in %s", name, m->config_dir);
        return j;
}

static Task *need_task(Manager *m, uint64_t id, sd_bus_error *error) {
        Task *t = task_find(m, id);
        if (!t)
                reply_errno(error, -ENOENT, "task %llu: no such task", (unsigned long long) id);
        return t;
}

static int m_list_jobs(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        int r = method_begin(msg, m, "list jobs", who, error, NULL);
        if (r < 0)
                return r;
        return reply_json(msg, jobs_json(m));
}

static int m_get_job(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        const char *name;
        int r = method_begin(msg, m, "get job", who, error, "s", &name);
        if (r < 0)
                return r;
        Job *j = need_job(m, name, error);
        return j ? reply_json(msg, job_to_json(m, j)) : -ENOENT;
}

static int m_set_job(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX], obj[128];
        const char *name, *text;
        int r = method_begin(msg, m, "set job", who, error, "ss", &name, &text);
        if (r < 0)
                return r;
        snprintf(obj, sizeof(obj), "job %.64s", name);
        bool existed = job_find(m, name) != NULL;
        r = root_only(m, who, existed ? "change job" : "create job", obj, error);
        if (r < 0)
                return r;
        r = job_set(m, name, text);
        audit_record(m, who, existed ? "change job" : "create job", obj, r < 0 ? error_slot_get(NULL) : "done");
        if (r < 0)
                return reply_errno(error, r == -EINVAL ? r : -EIO, "%s", error_slot_get(NULL));
        manager_log(MID_JOB_CHANGED, "job %s %s by uid %s", name, existed ? "changed" : "created", who);
        scheduler_rearm(m);
        bus_state_changed(m, STATE_JOBS);
        return sd_bus_reply_method_return(msg, "");
}

static int m_delete_job(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX], obj[128];
        const char *name;
        int r = method_begin(msg, m, "delete job", who, error, "s", &name);
        if (r < 0)
                return r;
        snprintf(obj, sizeof(obj), "job %.64s", name);
        r = root_only(m, who, "delete job", obj, error);
        if (r < 0)
                return r;
        r = job_delete(m, name);
        audit_record(m, who, "delete job", obj, r < 0 ? strerror(-r) : "done");
        if (r == -ENOENT)
                return reply_errno(error, r, "job %s: no such job", name);
        if (r < 0)
                return reply_errno(error, r, "job %s: cannot delete: %s", name, strerror(-r));
        manager_log(MID_JOB_CHANGED, "job %s deleted by uid %s", name, who);
        scheduler_rearm(m);
        bus_state_changed(m, STATE_JOBS);
        return sd_bus_reply_method_return(msg, "");
}

static int m_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        int r = method_begin(msg, m, "reload jobs", who, error, NULL);
        if (r < 0)
                return r;
        r = jobs_load(m);
        audit_record(m, who, "reload jobs", m->config_dir, r < 0 ? strerror(-r) : "done");
        if (r < 0)
                return reply_errno(error, -EIO, "%s: %s", m->config_dir, strerror(-r));
        manager_log(MID_JOB_CHANGED, "jobs reloaded from %s by uid %s", m->config_dir, who);
        scheduler_rearm(m);
        bus_state_changed(m, STATE_JOBS);
        return sd_bus_reply_method_return(msg, "");
}

/* After Run or Restore: the audit record and journal line of the request, and the reply (on failure
 * task_queue()'s reason, in the thread's slot). */
static int queued_reply(sd_bus_message *msg, Manager *m, const char *who, const char *action, const char *obj, int r,
                        const Task *t, sd_bus_error *error) {
        char out[64];
        if (r < 0) {
                audit_record(m, who, action, obj, error_slot_get(NULL));
                return reply_errno(error, r, "%s", error_slot_get(NULL));
        }
        snprintf(out, sizeof(out), "queued as task %llu", (unsigned long long) t->id);
        audit_record(m, who, action, obj, out);
        manager_log(MID_REQUEST, "uid %s asked for %s %s: task %llu", who, action, obj, (unsigned long long) t->id);
        return sd_bus_reply_method_return(msg, "t", t->id);
}

static int m_run(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX], obj[160];
        const char *name, *type;
        Task *t = NULL;
        int r = method_begin(msg, m, "run", who, error, "ss", &name, &type);
        if (r < 0)
                return r;
        Job *j = need_job(m, name, error);
        if (!j)
                return -ENOENT;
        const char *kind = "backup";
        if (!*type)
                type = "full";
        if (strcmp(type, "prune") == 0 || strcmp(type, "check") == 0 || strcmp(type, "sync") == 0) {
                kind = type;
                type = NULL;
                if (strcmp(kind, "sync") == 0 && !j->sync_to)
                        return reply_errno(error, -EINVAL, "job %s has no 'sync' (no repository to copy to)", name);
        } else if (strcmp(type, "full") != 0 && strcmp(type, "incremental") != 0 && strcmp(type, "differential") != 0 &&
                   strcmp(type, "copy") != 0)
                return reply_errno(error, -EINVAL,
                                   "type '%.64s': expected full, incremental, differential, copy, prune, check or sync",
                                   type);
        r = task_queue(m, j, kind, type, who, NULL, &t);
        snprintf(obj, sizeof(obj), "job %s %s%s%s", name, kind, type ? " " : "", type ? type : "");
        return queued_reply(msg, m, who, "run", obj, r, t, error);
}

static int m_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        uint64_t id;
        int r = method_begin(msg, m, "cancel", who, error, "t", &id);
        if (r < 0)
                return r;
        Task *t = need_task(m, id, error);
        if (!t)
                return -ENOENT;
        r = task_cancel(m, t, who);
        if (r < 0)
                return reply_errno(error, r, "task %llu already %s", (unsigned long long) id, t->state);
        manager_log(MID_REQUEST, "uid %s cancelled task %llu", who, (unsigned long long) id);
        return sd_bus_reply_method_return(msg, "");
}

static int m_list_tasks(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        const char *name;
        int r = method_begin(msg, m, "history", who, error, "s", &name);
        if (r < 0)
                return r;
        json_t *a = json_array();
        for (size_t i = 0; i < m->n_tasks; i++)
                if (!*name || strcmp(m->tasks[i]->job, name) == 0)
                        json_array_append_new(a, task_to_json(m->tasks[i]));
        return reply_json(msg, json_pack("{s:o}", "tasks", a));
}

static int m_get_task(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        uint64_t id;
        int r = method_begin(msg, m, "get task", who, error, "t", &id);
        if (r < 0)
                return r;
        Task *t = need_task(m, id, error);
        return t ? reply_json(msg, task_to_json(t)) : -ENOENT;
}

static int m_get_log(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX], path[4096];
        uint64_t id;
        int r = method_begin(msg, m, "log", who, error, "t", &id);
        if (r < 0)
                return r;
        if (!need_task(m, id, error))
                return -ENOENT;
        snprintf(path, sizeof(path), "%s/logs/%llu.log", m->state_dir, (unsigned long long) id);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return sd_bus_reply_method_return(msg, "s", "");
        size_t len = MIN((size_t) st.st_size, (size_t) LOG_MAX_BYTES), off = 0;
        off_t start = (off_t) st.st_size - (off_t) len; /* the tail when capped */
        _cleanup_free_ char *buf = malloc(len + 1);
        if (!buf)
                return -ENOMEM;
        while (off < len) {
                ssize_t k = pread(fd, buf + off, len - off, start + (off_t) off);
                if (k <= 0)
                        break;
                off += (size_t) k;
        }
        buf[off] = 0;
        for (size_t i = 0; i < off; i++) /* D-Bus strings are UTF-8 without NUL; keep it printable */
                if (buf[i] == 0 || ((unsigned char) buf[i] >= 0x80))
                        buf[i] = '?';
        return sd_bus_reply_method_return(msg, "s", buf);
}

static void strv_freep(char ***p) {
        for (char **c = *p; c && *c; c++)
                free(*c);
        free(*p);
}

static int m_restore(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX], obj[256];
        const char *name, *id, *to;
        _cleanup_(strv_freep) char **comps = NULL;
        Task *t = NULL;
        int r = method_begin(msg, m, "restore", who, error, "ss", &name, &id);
        if (r >= 0)
                r = sd_bus_message_read_strv(msg, &comps);
        if (r >= 0)
                r = sd_bus_message_read(msg, "s", &to);
        if (r < 0)
                return r;
        Job *j = need_job(m, name, error);
        if (!j)
                return -ENOENT;
        if (!*id || strspn(id, "0123456789abcdef") != strlen(id) || (*to && to[0] != '/'))
                return reply_errno(error, -EINVAL, "restore: expected a backup id (hex) and an absolute --to directory");
        snprintf(obj, sizeof(obj), "job %s backup %.16s%s%.200s", name, id, *to ? " to " : "", to);
        /* A6: root creates the alternate location; for anyone else it must be
         * a new directory in a place only root can change. */
        ErrorSlot es;
        if (*to && !(strcmp(who, "0") == 0) && path_root_controlled(to, PATH_NEW, &es) < 0) {
                audit_record(m, who, "restore", obj, "refused: access denied (--to not in a root-only place)");
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "lvss-backupd: uid %s may restore only to a new directory whose existing "
                                         "parents are root's and writable by root only: %s",
                                         who, error_slot_get(&es));
        }
        json_t *ca = json_array();
        for (char **c = comps; c && *c; c++)
                json_array_append_new(ca, json_string(*c));
        json_t *rs = json_pack("{s:s, s:o, s:s}", "backup_id", id, "components", ca, "to", to);
        r = task_queue(m, j, "restore", NULL, who, rs, &t);
        json_decref(rs);
        return queued_reply(msg, m, who, "restore", obj, r, t, error);
}

/* R2: an e-mail address as mstored accepts it (defs_address_valid): 1..320
 * printable ASCII bytes without space, '<', '>', '/', '"' or '\', and one
 * '@' that is neither first nor last. */
static bool address_valid(const char *a) {
        size_t n = strlen(a);
        const char *at = strchr(a, '@');
        if (n == 0 || n > 320 || !at || at == a || !at[1] || strchr(at + 1, '@'))
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) a[i];
                if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '/' || c == '"' || c == '\\')
                        return false;
        }
        return true;
}

/* R2: RestoreIntoLive(s job, s backup_id, s component, s mailbox, at uids):
 * a restore task running lvss-backup restore ID --component C --mailbox A
 * [--message UID]... --into-live; authorized as Restore. */
static int m_restore_into_live(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX], obj[512];
        const char *name, *id, *comp, *addr;
        const void *uids = NULL;
        size_t sz = 0;
        Task *t = NULL;
        int r = method_begin(msg, m, "restore", who, error, "ssss", &name, &id, &comp, &addr);
        if (r >= 0)
                r = sd_bus_message_read_array(msg, 't', &uids, &sz);
        if (r < 0)
                return r;
        Job *j = need_job(m, name, error);
        if (!j)
                return -ENOENT;
        if (!*id || strlen(id) > 64 || strspn(id, "0123456789abcdef") != strlen(id))
                return reply_errno(error, -EINVAL, "restore: backup id '%.64s' is not hexadecimal", id);
        if (strncmp(comp, "Mail Store/", 11) != 0 || strlen(comp) > 1024 || strpbrk(comp, "\n\r\t"))
                return reply_errno(error, -EINVAL, "restore: component '%.128s' is not a Mail Store database", comp);
        if (!address_valid(addr))
                return reply_errno(error, -EINVAL, "restore: mailbox '%.128s' is not an e-mail address", addr);
        size_t n = sz / sizeof(uint64_t);
        if (n > RESTORE_MAX_MESSAGES)
                return reply_errno(error, -EINVAL, "restore: %zu messages, at most %d per task", n,
                                   RESTORE_MAX_MESSAGES);
        json_t *ua = json_array();
        for (size_t i = 0; i < n; i++) {
                uint64_t u;
                memcpy(&u, (const char *) uids + i * sizeof(u), sizeof(u));
                if (u == 0 || u > UINT32_MAX) {
                        json_decref(ua);
                        return reply_errno(error, -EINVAL, "restore: message UID %llu is out of range (1..%u)",
                                           (unsigned long long) u, UINT32_MAX);
                }
                char b[24];
                snprintf(b, sizeof(b), "%llu", (unsigned long long) u);
                json_array_append_new(ua, json_string(b));
        }
        json_t *rs = json_pack("{s:s, s:[s], s:s, s:s, s:o, s:b}", "backup_id", id, "components", comp, "to", "",
                               "mailbox", addr, "messages", ua, "into_live", 1);
        r = task_queue(m, j, "restore", NULL, who, rs, &t);
        json_decref(rs);
        char cnt[32] = "all";
        if (n)
                snprintf(cnt, sizeof(cnt), "%zu", n);
        snprintf(obj, sizeof(obj), "job %s backup %.16s mailbox %.320s into live (%s messages)", name, id, addr, cnt);
        return queued_reply(msg, m, who, "restore", obj, r, t, error);
}

static int m_audit(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX], path[4096], line[4096];
        int r = method_begin(msg, m, "audit", who, error, NULL);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "%s/audit.log", m->state_dir);
        json_t *a = json_array();
        FILE *f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f)) {
                json_t *o = json_loads(line, 0, NULL);
                if (o)
                        json_array_append_new(a, o);
        }
        if (f)
                fclose(f);
        return reply_json(msg, json_pack("{s:o}", "records", a));
}

/* ListBackups: `lvss-backup list --json` as a child; the reply is sent when it exits. */
typedef struct Pending {
        sd_bus_message *msg;
        FILE *out, *err;
} Pending;

static int on_list_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Pending *p = userdata;
        char *buf = NULL, *ebuf = NULL;
        size_t n = 0, en = 0;
        rewind(p->out);
        rewind(p->err);
        ssize_t k = getdelim(&buf, &n, 0, p->out);
        ssize_t ek = getdelim(&ebuf, &en, 0, p->err);
        if (ek > 0)
                ebuf[strcspn(ebuf, "\n")] = 0;
        if (si->si_code == CLD_EXITED && si->si_status == 0 && k > 0)
                (void) sd_bus_reply_method_return(p->msg, "s", buf);
        else
                (void) sd_bus_reply_method_errorf(p->msg,
                                                  si->si_status == 4 ? BACKUPD_ERROR_BUSY : BACKUPD_ERROR_FAILED, "%s",
                                                  ek > 0 ? ebuf : "lvss-backup list failed");
        free(buf);
        free(ebuf);
        fclose(p->out);
        fclose(p->err);
        sd_bus_message_unref(p->msg);
        free(p);
        sd_event_source_disable_unref(s);
        return 0;
}

static int m_list_backups(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        const char *name;
        int r = method_begin(msg, m, "list backups", who, error, "s", &name);
        if (r < 0)
                return r;
        Job *j = need_job(m, name, error);
        if (!j)
                return -ENOENT;
        if (j->error)
                return reply_errno(error, -EINVAL, "job %s is not usable: %s", name, j->error);
        Pending *p = calloc(1, sizeof(*p));
        if (!p || !(p->out = tmpfile()) || !(p->err = tmpfile())) {
                if (p && p->out)
                        fclose(p->out);
                free(p);
                return -ENOMEM;
        }
        const char *argv[] = {m->lvss_backup,   "list",   "--repo",
                              j->repository,    "--json", j->password_file ? "--password-file" : NULL,
                              j->password_file, NULL};
        pid_t pid = fork();
        if (pid < 0) {
                fclose(p->out);
                fclose(p->err);
                free(p);
                return -errno;
        }
        if (pid == 0) {
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                int nul = open("/dev/null", O_RDONLY);
                if (nul < 0 || dup2(nul, 0) < 0 || dup2(fileno(p->out), 1) < 0 || dup2(fileno(p->err), 2) < 0)
                        _exit(127);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        p->msg = sd_bus_message_ref(msg);
        sd_event_source *src;
        r = child_watch(m, &src, pid, on_list_exit, p);
        if (r < 0) {
                kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                sd_bus_message_unref(p->msg);
                fclose(p->out);
                fclose(p->err);
                free(p);
                return r;
        }
        (void) sd_event_source_set_floating(src, 1);
        sd_event_source_unref(src);
        return 1;
}

/* ---- state properties (A3): what a console shows without polling ---- */

static json_t *jobs_json(Manager *m) {
        json_t *a = json_array();
        for (size_t i = 0; i < m->n_jobs; i++)
                json_array_append_new(a, job_to_json(m, m->jobs[i]));
        return json_pack("{s:o}", "jobs", a);
}

static json_t *active_tasks_json(Manager *m) {
        json_t *a = json_array();
        for (size_t i = 0; i < m->n_tasks; i++)
                if (!task_done(m->tasks[i]))
                        json_array_append_new(a, task_to_json(m->tasks[i]));
        return json_pack("{s:o}", "tasks", a);
}

/* Jobs: the ListJobs document; ActiveTasks: {"tasks": [...]} of the queued
 * and running tasks (with bytes_done, bytes_total).  Authorized like every
 * method (A1): the properties are only invalidated in PropertiesChanged. */
static int p_state(sd_bus *bus, const char *path, const char *interface, const char *property, sd_bus_message *reply,
                   void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        int r = method_begin(sd_bus_get_current_message(bus), m, "get property", who, error, NULL);
        if (r < 0)
                return r;
        json_t *o = strcmp(property, "Jobs") == 0 ? jobs_json(m) : active_tasks_json(m);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!text)
                return -ENOMEM;
        r = sd_bus_message_append(reply, "s", text);
        free(text);
        return r;
}

static int on_state_defer(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        const char *names[3];
        size_t n = 0;
        if (m->state_pending & STATE_JOBS)
                names[n++] = "Jobs";
        if (m->state_pending & STATE_TASKS)
                names[n++] = "ActiveTasks";
        names[n] = NULL;
        m->state_pending = 0;
        if (n > 0 && m->bus)
                (void) sd_bus_emit_properties_changed_strv(m->bus, BACKUPD_PATH, BACKUPD_IFACE, (char **) names);
        return 0;
}

void bus_state_changed(Manager *m, unsigned what) {
        if (!m->bus || !m->event)
                return;
        m->state_pending |= what;
        if (!m->state_defer) {
                if (sd_event_add_defer(m->event, &m->state_defer, on_state_defer, m) < 0)
                        m->state_defer = NULL;
        } else
                (void) sd_event_source_set_enabled(m->state_defer, SD_EVENT_ONESHOT);
}

static const sd_bus_vtable backup_vtable[] = {
        SD_BUS_VTABLE_START(0),
        /* State properties and progress (service.md A3, P1); methods below, in the order of service.md §4. */
        SD_BUS_PROPERTY("Jobs", "s", p_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("ActiveTasks", "s", p_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_METHOD("ListJobs", "", "s", m_list_jobs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetJob", "s", "s", m_get_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("SetJob", "ss", "", m_set_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("DeleteJob", "s", "", m_delete_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ReloadJobs", "", "", m_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Run", "ss", "t", m_run, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Cancel", "t", "", m_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ListTasks", "s", "s", m_list_tasks, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetTask", "t", "s", m_get_task, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetLog", "t", "s", m_get_log, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ListBackups", "s", "s", m_list_backups, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Restore", "ssass", "t", m_restore, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("RestoreIntoLive", "ssssat", "t", m_restore_into_live, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Audit", "", "s", m_audit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("NextRuns", "su", "s", bus_next_runs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("PreviewRetention", "ss", "s", bus_preview_retention, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ShowBackup", "ss", "s", bus_show_backup, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ReadRestored", "tsu", "s", bus_read_restored, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL("TaskChanged", "ts", 0),
        SD_BUS_SIGNAL("TaskProgress", "tstttt", 0),
        SD_BUS_VTABLE_END,
};

static int on_progress(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        int64_t now = now_s();
        for (size_t i = 0; i < m->n_tasks; i++) {
                Task *t = m->tasks[i];
                if (strcmp(t->state, "running") != 0)
                        continue;
                char path[4096];
                struct stat st;
                snprintf(path, sizeof(path), "%s/logs/%llu.log", m->state_dir, (unsigned long long) t->id);
                uint64_t log_bytes = stat(path, &st) == 0 ? (uint64_t) st.st_size : 0;
                /* TaskProgress(id, state, elapsed seconds, log bytes, bytes done, bytes total) */
                (void) sd_bus_emit_signal(m->bus, BACKUPD_PATH, BACKUPD_IFACE, "TaskProgress", "tstttt", t->id,
                                          t->state, (uint64_t) (now - t->started), log_bytes,
                                          (uint64_t) t->bytes_done, (uint64_t) t->bytes_total);
        }
        (void) sd_event_source_set_time_relative(s, 1000000);
        return 0;
}

int bus_start_progress(Manager *m) {
        int r = sd_event_add_time_relative(m->event, &m->progress_timer, CLOCK_MONOTONIC, 1000000, 100000, on_progress,
                                           m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->progress_timer, SD_EVENT_ON);
        return r;
}

int bus_setup(Manager *m) {
        const char *addr = getenv("LVSS_BUS");
        int r;
        if (addr && *addr) {
                r = sd_bus_new(&m->bus);
                if (r >= 0)
                        r = sd_bus_set_address(m->bus, addr);
                if (r >= 0)
                        r = sd_bus_set_bus_client(m->bus, 1);
                if (r >= 0)
                        r = sd_bus_start(m->bus);
        } else
                r = sd_bus_open_system(&m->bus);
        if (r < 0) {
                fprintf(stderr, "lvss-backupd: cannot connect to the %s bus: %s\n",
                        addr && *addr ? "LVSS_BUS" : "system", strerror(-r));
                return r;
        }
        r = sd_bus_add_object_vtable(m->bus, NULL, BACKUPD_PATH, BACKUPD_IFACE, backup_vtable, m);
        if (r >= 0)
                r = sd_bus_attach_event(m->bus, m->event, 0);
        if (r < 0)
                return r;
        r = sd_bus_request_name(m->bus, BACKUPD_BUS_NAME, 0);
        if (r < 0)
                fprintf(stderr, "lvss-backupd: cannot own %s: %s (is another lvss-backupd running?)\n",
                        BACKUPD_BUS_NAME, strerror(-r));
        return r;
}

/* The console's methods (console-api.c), authorized here like every method. */
int bus_next_runs(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        int r = method_begin(msg, m, "next runs", who, error, NULL);
        if (r < 0)
                return r;
        return console_next_runs(msg, error);
}

int bus_preview_retention(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        int r = method_begin(msg, m, "preview retention", who, error, NULL);
        if (r < 0)
                return r;
        return console_preview_retention(m, msg, error);
}

int bus_show_backup(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        int r = method_begin(msg, m, "show backup", who, error, NULL);
        if (r < 0)
                return r;
        return console_show_backup(m, msg, error);
}

int bus_read_restored(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char who[WHO_MAX];
        int r = method_begin(msg, m, "read restored", who, error, NULL);
        if (r < 0)
                return r;
        return console_read_restored(m, msg, who, error);
}
