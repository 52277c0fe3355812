/* SPDX-License-Identifier: MIT */
/* tools/lvss-backup/vss.c: helpers shared by `create` and `restore`. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lvss/error.h>
#include <mstore/mstore.h>

#include "array.h"
#include "macro.h"
#include "time-util.h"
#include "password.h"
#include "vss.h"

volatile sig_atomic_t vss_interrupted = 0;

static void on_signal(int sig) {
        if (vss_interrupted)
                _exit(130); /* second signal: leave now; lvssd drops the session */
        vss_interrupted = sig;
}

void vss_install_signals(void) {
        struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

void vss_err(const char *fmt, ...) {
        va_list ap;
        fputs("lvss-backup: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

void vss_note(bool quiet, const char *fmt, ...) {
        va_list ap;
        if (quiet)
                return;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int vss_exit_lvss(int r) {
        switch (r) {
        case LVSS_E_ACCESS_DENIED:
        case -EACCES:
        case -EPERM:
                return VSS_EXIT_DENIED;
        case LVSS_E_SNAPSHOT_SET_IN_PROGRESS:
        case LVSS_E_WRITERERROR_BUSY:   /* a writer's "already in progress" veto */
        case -EBUSY:
                return VSS_EXIT_BUSY;
        case -EINVAL:
                return VSS_EXIT_USAGE;
        default:
                return VSS_EXIT_FAIL;
        }
}

int vss_exit_repo(int r) {
        switch (r) {
        case REPO_E_CORRUPT:
                return VSS_EXIT_CORRUPT;
        case -EBUSY:
                return VSS_EXIT_BUSY;
        case -EACCES:
        case -EPERM:
        case REPO_E_WRONG_PASSWORD:
                return VSS_EXIT_DENIED;
        case -EINVAL:
        case -ENOKEY:
        case -EEXIST:
                return VSS_EXIT_USAGE;
        default:
                return VSS_EXIT_FAIL;
        }
}

int vss_open_repo(const char *dir, const char *password_file, enum repo_lock_mode lock, repo **ret) {
        _cleanup_(password_freep) char *pw = NULL;
        int ex = vss_open_repo_lock(dir, password_file, lock, ret, &pw);
        if (ex != 0)
                return ex;
        int k = repo_open_keys(*ret, pw);
        if (k < 0) {
                vss_err("%s", repo_errmsg());
                *ret = repo_close(*ret);
                return vss_exit_repo(k);
        }
        return 0;
}

int vss_open_repo_lock(const char *dir, const char *password_file, enum repo_lock_mode lock, repo **ret,
                       char **ret_password) {
        _cleanup_(password_freep) char *pw = NULL;
        bool enc = false;
        int k = repo_probe(dir, &enc);
        *ret_password = NULL;
        if (k < 0) {
                vss_err("%s", repo_errmsg());
                return k == -ENOENT ? VSS_EXIT_USAGE : vss_exit_repo(k);
        }
        if (enc) {
                k = get_password(password_file, false, &pw);
                if (k == -ENOKEY) {
                        vss_err("repository %s is encrypted: a password is needed (--password-file FILE, "
                                "LVSS_BACKUP_PASSWORD, or a terminal)",
                                dir);
                        return VSS_EXIT_USAGE;
                }
                if (k < 0)
                        return VSS_EXIT_USAGE;
        }
        k = repo_open_lock(dir, lock, NULL, ret);
        if (k < 0) {
                vss_err("%s", repo_errmsg());
                return vss_exit_repo(k);
        }
        *ret_password = TAKE_PTR(pw);
        return 0;
}

int vss_wait(lvss_backup *b, lvss_async *a, int r, const char *what) {
        if (r >= 0) {
                for (;;) {
                        r = lvss_async_wait(a, 200);
                        if (r != LVSS_E_TIMEOUT)
                                break;
                        if (vss_interrupted) {
                                lvss_async_cancel(a);
                                r = -EINTR;
                                break;
                        }
                }
                if (r >= 0) {
                        lvss_async_status st;
                        int res = 0;
                        if (lvss_async_query_status(a, &st, &res) >= 0 && res < 0)
                                r = res;
                }
        }
        lvss_async_free(a);
        if (r < 0 && r != -EINTR) {
                const char *m = lvss_backup_last_error(b);
                vss_err("%s: %s%s%s", what, lvss_strerror(r), m && *m ? ": " : "", m ? m : "");
        }
        return r;
}

/* Print msg once (the same reason often comes as a component message and
 * as the writer's status message). */
static bool seen(char ***printed, size_t *n, size_t *cap, const char *msg) {
        for (size_t i = 0; i < *n; i++)
                if (strstr((*printed)[i], msg) || strstr(msg, (*printed)[i]))
                        return true;
        if (ARRAY_RESERVE_ONE(*printed, *cap, *n, 4) < 0)
                return false;
        char *copy = strdup(msg);
        if (copy)
                (*printed)[(*n)++] = copy;
        return false;
}

void vss_print_writer_failures(lvss_backup *b, const char *const *comp_paths, const char *const *comp_writers,
                               size_t n_comps) {
        char **printed = NULL;
        size_t n_printed = 0, cap_printed = 0;
        lvss_component_iter it = LVSS_COMPONENT_ITER_INIT;
        lvss_component *c;
        while (lvss_backup_next_component(b, &it, NULL, &c) > 0) {
                {
                        const char *msgs[] = {
                                lvss_component_get_prepare_for_backup_failure_msg(c),
                                lvss_component_get_post_snapshot_failure_msg(c),
                                lvss_component_get_pre_restore_failure_msg(c),
                                lvss_component_get_post_restore_failure_msg(c),
                        };
                        for (size_t m = 0; m < ELEMENTSOF(msgs); m++) {
                                if (!msgs[m] || !*msgs[m] || seen(&printed, &n_printed, &cap_printed, msgs[m]))
                                        continue;
                                _cleanup_free_ char *path = vss_component_path(lvss_component_get_logical_path(c),
                                                                               lvss_component_get_name(c));
                                vss_err("component '%s': %s", path ? path : "?", msgs[m]);
                        }
                }
        }
        lvss_async *a = NULL;
        int r = lvss_backup_gather_writer_status(b, &a);
        if (r >= 0)
                r = lvss_async_wait(a, 30000);
        lvss_async_free(a);
        if (r >= 0)
                for (int i = 0; i < lvss_backup_get_writer_status_count(b); i++) {
                        lvss_writer_status ws;
                        if (lvss_backup_get_writer_status(b, (size_t) i, &ws) < 0)
                                continue;
                        if (!ws.failure && (!ws.message || !*ws.message))
                                continue;
                        if (ws.message && *ws.message && seen(&printed, &n_printed, &cap_printed, ws.message))
                                continue;
                        const char *msg = ws.message && *ws.message ? ws.message : lvss_strerror(ws.failure);
                        bool attributed = false;
                        for (size_t k = 0; k < n_comps; k++)
                                if (ws.writer_name && strcmp(comp_writers[k], ws.writer_name) == 0) {
                                        vss_err("component '%s': %s", comp_paths[k], msg);
                                        attributed = true;
                                }
                        if (!attributed)
                                vss_err("writer '%s': %s (%s, %s)", ws.writer_name, msg,
                                        lvss_writer_state_to_string(ws.state) ?: "?", lvss_error_name(ws.failure));
                }
        for (size_t i = 0; i < n_printed; i++)
                free(printed[i]);
        free(printed);
}

char *vss_component_path(const char *lp, const char *name) {
        char *s = NULL;
        if (!name)
                return NULL;
        if (lp && *lp) {
                if (asprintf(&s, "%s/%s", lp, name) < 0)
                        return NULL;
                return s;
        }
        return strdup(name);
}

bool vss_in_component_set(const char *top, const char *lp, const char *name) {
        _cleanup_free_ char *p = vss_component_path(lp, name);
        size_t l = strlen(top);
        if (!p)
                return false;
        return strcmp(p, top) == 0 || (strncmp(p, top, l) == 0 && p[l] == '/');
}

bool vss_filedesc_match(const lvss_writer_metadata_filedesc *fd, const char *abs, const char **ret_rel) {
        size_t l = strlen(fd->path);
        while (l > 1 && fd->path[l - 1] == '/')
                l--;
        if (strncmp(abs, fd->path, l) != 0 || abs[l] != '/')
                return false;
        const char *rel = abs + l + 1;
        const char *base = strrchr(rel, '/');
        if (base && !fd->recursive)
                return false;
        if (fnmatch(fd->filespec, base ? base + 1 : rel, 0) != 0)
                return false;
        if (ret_rel)
                *ret_rel = rel;
        return true;
}

lvss_component *vss_bcd_component(lvss_backup *b, const char *writer_id, const char *lp, const char *name) {
        lvss_component_iter it = LVSS_COMPONENT_ITER_INIT;
        lvss_writer_components *wc;
        lvss_component *c;
        while (lvss_backup_next_component(b, &it, &wc, &c) > 0) {
                const char *inst = NULL, *wid = NULL;
                if (lvss_writer_components_get_writer_info(wc, &inst, &wid) < 0 || !wid || strcmp(wid, writer_id) != 0)
                        continue;
                const char *clp = lvss_component_get_logical_path(c);
                if (strcmp(clp ? clp : "", lp ? lp : "") == 0 && strcmp(lvss_component_get_name(c), name) == 0)
                        return c;
        }
        return NULL;
}

bool vss_mail_closed_log(const char *name, uint32_t *ret_gen) {
        return mstore_log_name_parse(name, NULL, ret_gen) == MSTORE_LOG_NAME_CLOSED;
}

bool vss_mail_live_only(const char *name) {
        mstore_log_name_kind k = mstore_log_name_parse(name, NULL, NULL);
        return k != MSTORE_LOG_NAME_NONE && k != MSTORE_LOG_NAME_CLOSED;
}

void vss_progress_init(vss_progress *p, bool quiet, const char *verb) {
        *p = (vss_progress) {.on = !quiet && isatty(STDERR_FILENO), .verb = verb, .fd = -1};
}

static void progress_line(vss_progress *p, bool force) {
        int64_t now = (int64_t) now_msec(CLOCK_MONOTONIC);
        if (p->fd < 3 || (!force && now - p->fd_last_ms < 250)) /* 0-2: stdio, or a zero-filled struct */
                return;
        p->fd_last_ms = now;
        char line[256];
        /* Reused bytes (create, backup.md §8) are done without being read by the store. */
        uint64_t done = p->last.bytes_read + p->last.bytes_reused;
        int n = snprintf(line, sizeof(line), "{\"bytes_done\":%llu,\"bytes_total\":%llu,\"files\":%llu",
                         (unsigned long long) done, (unsigned long long) MAX(p->bytes_total, done),
                         (unsigned long long) p->last.files);
        if (p->copy)
                n += snprintf(line + n, sizeof(line) - (size_t) n, ",\"backups_done\":%llu,\"backups_total\":%llu",
                              (unsigned long long) p->backups_done, (unsigned long long) p->backups_total);
        else
                n += snprintf(line + n, sizeof(line) - (size_t) n, ",\"bytes_reused\":%llu",
                              (unsigned long long) p->last.bytes_reused);
        n += snprintf(line + n, sizeof(line) - (size_t) n, "}\n");
        (void) !write(p->fd, line, (size_t) n); /* EAGAIN: the reader is behind, drop the line */
}

void vss_progress_add_total(vss_progress *p, uint64_t bytes) {
        p->bytes_total += bytes;
        progress_line(p, true);
}

void vss_progress_fn(const repo_stats *st, const char *path, void *userdata) {
        vss_progress *p = userdata;
        if (!p)
                return;
        p->last = *st;
        progress_line(p, false);
        if (!p->on)
                return;
        int64_t now = (int64_t) now_msec(CLOCK_MONOTONIC);
        if (now - p->last_ms < 200)
                return;
        p->last_ms = now;
        fprintf(stderr, "\r\033[K%s: %llu files, %.1f MiB read, %.1f MiB added  %.50s", p->verb,
                (unsigned long long) st->files, st->bytes_read / 1048576.0, st->bytes_added / 1048576.0,
                path ? path : "");
}

void vss_progress_flush(vss_progress *p) {
        progress_line(p, true);
}

void vss_progress_clear(vss_progress *p) {
        if (p->on && p->last_ms)
                fputs("\r\033[K", stderr);
        p->last_ms = 0;
}

void vss_progress_done(vss_progress *p) {
        /* The last line: for create what was read is the total (a file
         * planned by two components is read once); copy's totals are exact. */
        if (!p->copy)
                p->bytes_total = p->last.bytes_read + p->last.bytes_reused;
        progress_line(p, true);
        vss_progress_clear(p);
}

int vss_progress_fd_arg(const char *verb, const char *arg, int *ret_fd) {
        char *end;
        errno = 0;
        long fd = strtol(arg, &end, 10);
        if (errno || end == arg || *end || fd < 3 || fd > INT_MAX || fcntl((int) fd, F_GETFL) < 0) {
                vss_err("%s: --progress-fd '%s': expected an open file descriptor, 3 or more", verb, arg);
                return -EINVAL;
        }
        (void) fcntl((int) fd, F_SETFL, fcntl((int) fd, F_GETFL) | O_NONBLOCK);
        (void) fcntl((int) fd, F_SETFD, FD_CLOEXEC); /* not inherited by helpers */
        *ret_fd = (int) fd;
        return 0;
}
