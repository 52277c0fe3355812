/* SPDX-License-Identifier: MIT */
/*
 * console-api: the org.lvss.Backup1 methods the console (Cockpit page
 * console/) needs beyond lvss-backupctl's: NextRuns (a calendar
 * expression's next elapses, computed by calendar.c as the scheduler does),
 * PreviewRetention (`lvss-backup forget --dry-run --json` of a job's
 * repository with a retention policy being edited) and ShowBackup
 * (`lvss-backup show --json`), and ReadRestored (R3: the mail of an
 * alternate-location restore).  Reads, authorized like every method
 * (caller_check() in bus.c) and not audited, except ReadRestored's refusal
 * of a caller other than root and the restore's requester.
 * Design: docs/design/service.md, section 4.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console-api.h"
#include "jobs.h"
#include "lib/core/error-slot.h"
#include "macro.h"
#include "tasks.h"

#define NEXT_RUNS_MAX 20

int console_next_runs(sd_bus_message *msg, sd_bus_error *error) {
        const char *expr;
        uint32_t count;
        char norm[256];
        calendar_spec *c = NULL;
        int r = sd_bus_message_read(msg, "su", &expr, &count);
        if (r < 0)
                return r;
        if (calendar_parse(expr, &c) < 0)
                return sd_bus_error_set(error, BACKUPD_ERROR_INVALID, error_slot_get(NULL));
        json_t *a = json_array();
        int64_t t = now_s();
        for (uint32_t i = 0; i < MIN(count, (uint32_t) NEXT_RUNS_MAX); i++) {
                if (calendar_next(c, t, &t) < 0)
                        break;
                json_array_append_new(a, json_integer(t));
        }
        if (calendar_normalize(c, norm, sizeof(norm)) < 0)
                snprintf(norm, sizeof(norm), "%s", expr);
        calendar_free(c);
        json_t *o = json_pack("{s:s, s:o}", "calendar", norm, "next", a);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!s)
                return -ENOMEM;
        r = sd_bus_reply_method_return(msg, "s", s);
        free(s);
        return r;
}

/* A child lvss-backup whose stdout (JSON) becomes the reply when it exits 0,
 * and whose last stderr line becomes the error otherwise. */
typedef struct ConsoleChild {
        sd_bus_message *msg;
        FILE *out, *err;
        char what[64];
        uint32_t uid; /* R3: stdout is message UID's text, replied as {"uid","text","bytes","truncated"} */
} ConsoleChild;

/* R3: at most RESTORED_TEXT_MAX bytes of a message as a JSON string (D-Bus
 * strings are UTF-8 without NUL: invalid UTF-8 and NUL become '?'). */
static int reply_text(ConsoleChild *p) {
        char *buf = malloc(RESTORED_TEXT_MAX + 1);
        if (!buf)
                return -ENOMEM;
        rewind(p->out);
        size_t n = fread(buf, 1, RESTORED_TEXT_MAX + 1, p->out);
        bool cut = n > RESTORED_TEXT_MAX;
        if (fseeko(p->out, 0, SEEK_END) < 0) {
                free(buf);
                return -errno;
        }
        json_int_t total = (json_int_t) ftello(p->out);
        n = MIN(n, (size_t) RESTORED_TEXT_MAX);
        json_t *str = json_stringn(buf, n);
        if (!str) { /* not UTF-8 (or cut inside a character): plain ASCII */
                for (size_t i = 0; i < n; i++)
                        if (buf[i] == 0 || (unsigned char) buf[i] >= 0x80)
                                buf[i] = '?';
                str = json_stringn(buf, n);
        }
        free(buf);
        json_t *o = json_pack("{s:I, s:o, s:I, s:b}", "uid", (json_int_t) p->uid, "text", str, "bytes", total,
                              "truncated", cut);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!s)
                return -ENOMEM;
        int r = sd_bus_reply_method_return(p->msg, "s", s);
        free(s);
        return r;
}

static void console_child_free(ConsoleChild *p) {
        if (!p)
                return;
        if (p->out)
                fclose(p->out);
        if (p->err)
                fclose(p->err);
        sd_bus_message_unref(p->msg);
        free(p);
}

static int console_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        ConsoleChild *p = userdata;
        char *buf = NULL, *ebuf = NULL, *last = NULL;
        size_t n = 0, en = 0;
        rewind(p->out);
        rewind(p->err);
        ssize_t k = getdelim(&buf, &n, 0, p->out);
        ssize_t ek = getdelim(&ebuf, &en, 0, p->err);
        if (ek > 0) { /* the last non-empty line: lvss-backup's one-line refusal */
                while (ek > 0 && ebuf[ek - 1] == '\n')
                        ebuf[--ek] = 0;
                last = strrchr(ebuf, '\n');
                last = last ? last + 1 : ebuf;
        }
        bool ok = si->si_code == CLD_EXITED && si->si_status == 0 && k > 0;
        if (ok && p->uid) {
                if (reply_text(p) < 0)
                        (void) sd_bus_reply_method_errorf(p->msg, BACKUPD_ERROR_FAILED, "%s", p->what);
        } else if (ok)
                (void) sd_bus_reply_method_return(p->msg, "s", buf);
        else
                (void) sd_bus_reply_method_errorf(p->msg,
                                                  si->si_code == CLD_EXITED && si->si_status == 4 ? BACKUPD_ERROR_BUSY
                                                  : si->si_code == CLD_EXITED && si->si_status == 2
                                                          ? BACKUPD_ERROR_INVALID
                                                          : BACKUPD_ERROR_FAILED,
                                                  "%s", last && *last ? last : p->what);
        free(buf);
        free(ebuf);
        console_child_free(p);
        sd_event_source_disable_unref(s);
        return 0;
}

static int console_spawn(Manager *m, sd_bus_message *msg, char **argv, const char *what, uint32_t uid) {
        ConsoleChild *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->uid = uid;
        snprintf(p->what, sizeof(p->what), "%s failed", what);
        if (!(p->out = tmpfile()) || !(p->err = tmpfile())) {
                console_child_free(p);
                return -errno;
        }
        pid_t pid = fork();
        if (pid < 0) {
                console_child_free(p);
                return -errno;
        }
        if (pid == 0) {
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (nul < 0 || dup2(nul, 0) < 0 || dup2(fileno(p->out), 1) < 0 || dup2(fileno(p->err), 2) < 0)
                        _exit(127);
                execv(argv[0], argv);
                _exit(127);
        }
        p->msg = sd_bus_message_ref(msg);
        sd_event_source *src;
        int r = child_watch(m, &src, pid, console_child_exit, p);
        if (r < 0) {
                kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                console_child_free(p);
                return r;
        }
        (void) sd_event_source_set_floating(src, 1);
        sd_event_source_unref(src);
        return 1;
}

static Job *console_job(Manager *m, const char *name, sd_bus_error *error) {
        Job *j = job_find(m, name);
        if (!j)
                sd_bus_error_setf(error, BACKUPD_ERROR_NOT_FOUND, "job %s: no such job in %s", name, m->config_dir);
        else if (j->error) {
                sd_bus_error_setf(error, BACKUPD_ERROR_INVALID, "job %s is not usable: %s", name, j->error);
                j = NULL;
        }
        return j;
}

int console_preview_retention(Manager *m, sd_bus_message *msg, sd_bus_error *error) {
        const char *name, *text;
        int r = sd_bus_message_read(msg, "ss", &name, &text);
        if (r < 0)
                return r;
        Job *j = console_job(m, name, error);
        if (!j)
                return -ENOENT;
        json_error_t je;
        json_t *ret = json_loads(*text ? text : "{}", JSON_REJECT_DUPLICATES, &je);
        if (!ret || !json_is_object(ret)) {
                r = sd_bus_error_setf(error, BACKUPD_ERROR_INVALID, "retention: %s",
                                      ret ? "expected an object of keep_* options" : je.text);
                json_decref(ret);
                return r;
        }
        if (json_object_size(ret) == 0) {
                json_decref(ret);
                return sd_bus_error_setf(error, BACKUPD_ERROR_INVALID,
                                         "retention: give at least one keep_* option (forget keeps nothing otherwise)");
        }
        /* Validate with the job parser: the job's own document with this retention. */
        json_t *doc = json_deep_copy(j->doc);
        if (!doc || json_object_set(doc, "retention", ret) < 0) {
                json_decref(doc);
                json_decref(ret);
                return -ENOMEM;
        }
        Job *tmp = NULL;
        char *text2 = json_dumps(doc, JSON_COMPACT);
        int line = 0;
        json_decref(doc);
        if (!text2) {
                json_decref(ret);
                return -ENOMEM;
        }
        r = job_parse(name, text2, strlen(text2), &tmp, &line);
        free(text2);
        if (r < 0) {
                json_decref(ret);
                return sd_bus_error_set(error, BACKUPD_ERROR_INVALID, error_slot_get(NULL));
        }
        job_free(tmp);

        char *argv[64], opt[16][32], num[16][32];
        int n = 0, nn = 0;
        argv[n++] = (char *) m->lvss_backup;
        argv[n++] = (char *) "forget";
        argv[n++] = (char *) "--repo";
        argv[n++] = (char *) j->repository;
        if (j->password_file) {
                argv[n++] = (char *) "--password-file";
                argv[n++] = (char *) j->password_file;
        }
        const char *k;
        json_t *v;
        json_object_foreach(ret, k, v) {
                if (nn >= 16)
                        break;
                snprintf(opt[nn], sizeof(opt[nn]), "--%s", k);
                for (char *p = opt[nn]; *p; p++)
                        if (*p == '_')
                                *p = '-';
                argv[n++] = opt[nn];
                if (json_is_integer(v)) {
                        snprintf(num[nn], sizeof(num[nn]), "%lld", (long long) json_integer_value(v));
                        argv[n++] = num[nn];
                } else
                        argv[n++] = (char *) json_string_value(v);
                nn++;
        }
        argv[n++] = (char *) "--dry-run";
        argv[n++] = (char *) "--json";
        argv[n] = NULL;
        r = console_spawn(m, msg, argv, "lvss-backup forget --dry-run", 0);
        json_decref(ret); /* after the fork: argv points into it */
        return r;
}

int console_show_backup(Manager *m, sd_bus_message *msg, sd_bus_error *error) {
        const char *name, *id;
        int r = sd_bus_message_read(msg, "ss", &name, &id);
        if (r < 0)
                return r;
        Job *j = console_job(m, name, error);
        if (!j)
                return -ENOENT;
        if (!*id || strspn(id, "0123456789abcdef") != strlen(id))
                return sd_bus_error_setf(error, BACKUPD_ERROR_INVALID, "backup '%s': expected a backup id (hex)", id);
        char *argv[] = {(char *) m->lvss_backup,
                        (char *) "show",
                        (char *) "--repo",
                        (char *) j->repository,
                        (char *) "--json",
                        (char *) id,
                        j->password_file ? (char *) "--password-file" : NULL,
                        (char *) j->password_file,
                        NULL};
        return console_spawn(m, msg, argv, "lvss-backup show", 0);
}

/* R3: may the caller WHO (its bus-vouched uid in decimal, from caller_check)
 * read what task T restored?  Root, or the uid recorded in the task's
 * requested_by when it was queued (the same bus-vouched uid).  A record
 * without a uid there ("schedule", "?" from an old record) is root's only. */
static bool may_read_restored(const Task *t, const char *who) {
        if (strcmp(who, "0") == 0)
                return true;
        const char *by = t->requested_by;
        if (!by || !*by || strspn(by, "0123456789") != strlen(by) || strlen(by) > 10)
                return false;
        return strcmp(by, who) == 0;
}

/* R3: ReadRestored(t task, s address, u uid): the mailbox's messages (uid 0:
 * `mstore rsg msg list DIR ADDRESS --json`) or one message's text (`mstore
 * rsg msg get DIR ADDRESS UID`, cut at RESTORED_TEXT_MAX) of the directory a
 * succeeded alternate-location restore task wrote: DIR comes from the task's
 * record, never from the caller.  Only root and the uid that requested the
 * restore may read it (may_read_restored); others get AccessDenied, audited. */
int console_read_restored(Manager *m, sd_bus_message *msg, const char *who, sd_bus_error *error) {
        uint64_t id;
        const char *addr;
        uint32_t uid;
        int r = sd_bus_message_read(msg, "tsu", &id, &addr, &uid);
        if (r < 0)
                return r;
        Task *t = task_find(m, id);
        if (!t)
                return sd_bus_error_setf(error, BACKUPD_ERROR_NOT_FOUND, "task %llu: no such task",
                                         (unsigned long long) id);
        if (!may_read_restored(t, who)) {
                char obj[64];
                snprintf(obj, sizeof(obj), "task %llu", (unsigned long long) id);
                audit_record(m, who, "read restored", obj, "refused: access denied (not the requester)");
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "lvss-backupd: task %llu: uid %s may not read its restored mail (root or "
                                         "the uid that requested the restore only)",
                                         (unsigned long long) id, who);
        }
        const char *to = t->restore ? json_string_value(json_object_get(t->restore, "to")) : NULL;
        if (strcmp(t->kind, "restore") != 0 || !to || to[0] != '/')
                return sd_bus_error_setf(error, BACKUPD_ERROR_INVALID,
                                         "task %llu is not a restore to an alternate location", (unsigned long long) id);
        if (strcmp(t->state, "succeeded") != 0)
                return sd_bus_error_setf(error, BACKUPD_ERROR_INVALID, "task %llu is %s, not succeeded",
                                         (unsigned long long) id, t->state);
        if (!*addr || strlen(addr) > 320 || addr[0] == '-' || strpbrk(addr, " \t\n\r/<>\"\\") || !strchr(addr, '@'))
                return sd_bus_error_setf(error, BACKUPD_ERROR_INVALID, "mailbox '%.128s' is not an e-mail address",
                                         addr);
        char num[16];
        snprintf(num, sizeof(num), "%u", uid);
        char *list[] = {(char *) m->mstore, (char *) "rsg", (char *) "msg", (char *) "list", (char *) to, (char *) addr,
                        (char *) "--json", NULL};
        char *get[] = {(char *) m->mstore, (char *) "rsg", (char *) "msg", (char *) "get", (char *) to, (char *) addr,
                       num, NULL};
        return console_spawn(m, msg, uid ? get : list, uid ? "mstore rsg msg get" : "mstore rsg msg list", uid);
}
