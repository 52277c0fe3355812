/* SPDX-License-Identifier: MIT */
/*
 * lvss-writer-exec: the Exec Writer.  Turns shell commands into an lvss
 * writer, for applications that have no writer of their own
 * (docs/design/writers.md §4).
 *
 * Every NAME.conf in the configuration directory (default
 * /etc/lvss/writers.d) becomes one writer instance ("Exec Writer", instance
 * name NAME) with one file-group component Exec/<host>/<name> over the
 * configured paths.  All instances live in this one process and one poll()
 * loop.
 *
 * Events -> commands (each '/bin/sh -c CMD', in a process group of its own,
 * stdin /dev/null, stderr captured):
 *   PrepareForBackup   prepare_backup   (and the 'types' check)
 *   Freeze             freeze, then every fsfreeze hook with 'freeze' (name order)
 *   Thaw/Abort/BackupShutdown/exit
 *                      thaw, then the hooks that were started with 'thaw'
 *                      (reverse order) -- only after a freeze was started,
 *                      also one that failed, timed out or was aborted
 *   PostSnapshot       post_snapshot
 *   BackupComplete     backup_complete
 *   PreRestore         pre_restore      (non-zero exit: restore refused)
 *   PostRestore        post_restore
 *
 * Invariants:
 *  1. A non-zero exit, a death by signal or a timeout is a failure (a veto
 *     where the event allows one) carrying the command's stderr.
 *  2. A command never outlives its event: at a timeout its whole process
 *     group is killed (SIGKILL), and when it exits whatever it left running
 *     in its process group is killed too.
 *  3. Every freeze that was started is thawed exactly once: at Thaw, Abort,
 *     BackupShutdown, loss of the coordinator or exit, whichever comes first.
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure (no coordinator, a
 * directory without configuration), 2 usage or a bad configuration file.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lvss/lvss.h>

#include "lib/core/array.h"
#include "writer-common.h"

#define EXEC_CLASS_ID "8f0c5e2a-3b1d-4c6e-9a7f-2d4b6c8e0a13"

enum {
        CMD_PREPARE_BACKUP,
        CMD_FREEZE,
        CMD_THAW,
        CMD_POST_SNAPSHOT,
        CMD_BACKUP_COMPLETE,
        CMD_PRE_RESTORE,
        CMD_POST_RESTORE,
        N_CMD
};

static const char *const cmd_keys[N_CMD] = {
        "prepare_backup", "freeze", "thaw", "post_snapshot", "backup_complete", "pre_restore", "post_restore",
};

typedef struct xconf {
        char *file;                 /* NAME.conf, for messages */
        char *name;                 /* component name */
        char *path;                 /* "Exec/<host>/<name>" */
        char **paths;
        size_t n_paths, cap_paths;
        uint32_t types;             /* bit per lvss_backup_type */
        unsigned freeze_timeout;    /* seconds */
        char *cmd[N_CMD];
        unsigned timeout[N_CMD];    /* seconds; 0 = default */
        char *hook_dir;
        lvss_writer *w;
        bool active;                /* takes part in the current set */
        lvss_backup_type type;
        bool freeze_started;
        char **hooks_started;       /* fsfreeze hooks called with 'freeze' */
        size_t n_hooks_started, cap_hooks_started;
        ErrorSlot err;              /* why the last command of this instance failed */
} xconf;

static char host[HOST_NAME_MAX + 1];

__attribute__((format(printf, 2, 3))) static void logx(const xconf *x, const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "lvss-writer-exec: %s: ", x ? x->path : "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* ------------------------------------------------------------ commands */

static unsigned cmd_timeout(const xconf *x, int k) {
        if (x->timeout[k])
                return x->timeout[k];
        return k == CMD_FREEZE || k == CMD_THAW ? x->freeze_timeout : 60;
}

/* Environment every command gets. */
static void make_env(const xconf *x, const char *event, char *const extra[], char **env, size_t cap,
                     char bufs[][512]) {
        size_t n = 0;
        snprintf(bufs[n], 512, "LVSS_EVENT=%s", event), env[n] = bufs[n], n++;
        snprintf(bufs[n], 512, "LVSS_COMPONENT=%s", x->path), env[n] = bufs[n], n++;
        snprintf(bufs[n], 512, "LVSS_BACKUP_TYPE=%s", lvss_backup_type_to_string(x->type) ?: "undefined"),
                env[n] = bufs[n], n++;
        for (size_t i = 0; extra && extra[i] && n + 1 < cap; i++)
                env[n++] = extra[i];
        env[n] = NULL;
}

/* Run the configured command k (if any). */
static int run_cmd(xconf *x, int k, char *const extra[], ErrorSlot *err) {
        if (!x->cmd[k])
                return 0;
        char bufs[3][512];
        char *env[16];
        char *argv[] = { "/bin/sh", "-c", x->cmd[k], NULL };
        make_env(x, cmd_keys[k], extra, env, 16, bufs);
        int r = wc_run_command(cmd_keys[k], argv, env, NULL, cmd_timeout(x, k), err);
        if (r < 0)
                logx(x, "%s", error_slot_get(err));
        return r;
}

/* ----------------------------------------------------- fsfreeze hooks */

static int hook_filter(const struct dirent *de) {
        const char *n = de->d_name;
        size_t l = strlen(n);
        if (n[0] == '.' || (l && n[l - 1] == '~') || strstr(n, ".dpkg-") || strstr(n, ".rpm"))
                return 0;
        return 1;
}

static int run_hook(xconf *x, const char *hook, const char *arg, int k, ErrorSlot *err) {
        char bufs[3][512];
        char *env[16];
        char what[PATH_MAX + 16];
        char *argv[] = { (char *) hook, (char *) arg, NULL };
        make_env(x, arg, NULL, env, 16, bufs);
        snprintf(what, sizeof(what), "fsfreeze hook %s %s", hook, arg);
        int r = wc_run_command(what, argv, env, NULL, cmd_timeout(x, k), err);
        if (r < 0)
                logx(x, "%s", error_slot_get(err));
        return r;
}

/* Freeze: the freeze command, then each hook in name order.  Each one is
 * recorded as started before it runs (invariant 3). */
static int do_freeze(xconf *x) {
        x->freeze_started = true;
        int r = run_cmd(x, CMD_FREEZE, NULL, &x->err);
        if (r < 0)
                return r;
        if (!x->hook_dir)
                return 0;
        struct dirent **list = NULL;
        int n = scandir(x->hook_dir, &list, hook_filter, alphasort);
        if (n < 0) {
                r = error_slot_set(&x->err, -errno, "fsfreeze hook directory %s: %m", x->hook_dir);
                logx(x, "%s", error_slot_get(&x->err));
                return r;
        }
        for (int i = 0; i < n; i++) {
                char p[PATH_MAX];
                struct stat st;
                snprintf(p, sizeof(p), "%s/%s", x->hook_dir, list[i]->d_name);
                if (r < 0 || stat(p, &st) < 0 || !S_ISREG(st.st_mode) || access(p, X_OK) < 0)
                        continue;
                if (ARRAY_RESERVE_ONE(x->hooks_started, x->cap_hooks_started, x->n_hooks_started, 4) < 0 ||
                    !(x->hooks_started[x->n_hooks_started] = strdup(p))) {
                        r = error_slot_set(&x->err, -ENOMEM, "out of memory");
                        continue;
                }
                x->n_hooks_started++;
                r = run_hook(x, p, "freeze", CMD_FREEZE, &x->err);
        }
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        return r;
}

/* Thaw whatever freeze was started; once.  Returns < 0 if a thaw step
 * failed (x->err says which: the first), still running every step. */
static int do_thaw(xconf *x, const char *why) {
        int r = 0;
        if (!x->freeze_started)
                return 0;
        x->freeze_started = false;
        logx(x, "thaw (%s)", why);
        r = run_cmd(x, CMD_THAW, NULL, &x->err);
        for (size_t i = x->n_hooks_started; i > 0; i--) {
                ErrorSlot later;  /* a later step's failure does not replace the first */
                int k = run_hook(x, x->hooks_started[i - 1], "thaw", CMD_THAW, r < 0 ? &later : &x->err);
                if (r == 0)
                        r = k;
                free(x->hooks_started[i - 1]);
        }
        free(x->hooks_started);
        x->hooks_started = NULL;
        x->n_hooks_started = x->cap_hooks_started = 0;
        return r;
}

/* ---------------------------------------------------------- the events */

/* Veto with the reason in x->err. */
static int veto(lvss_writer *w, const xconf *x) {
        char msg[ERROR_SLOT_SIZE + 400];
        snprintf(msg, sizeof(msg), "%s: %s", x->path, error_slot_get(&x->err));
        lvss_writer_set_failure_ex(w, LVSS_E_WRITERERROR_RETRYABLE, 0, msg);
        return -1;
}

static int on_identify(lvss_writer *w, lvss_metadata_builder *md, void *userdata) {
        xconf *x = userdata;
        char lp[HOST_NAME_MAX + 8];
        uint32_t schema = 0;
        int r;

        snprintf(lp, sizeof(lp), "Exec/%s", host);
        r = lvss_metadata_builder_add_component(md, LVSS_CT_FILEGROUP, lp, x->name, x->file, 0, 1, 1, 1, 0);
        for (size_t i = 0; i < x->n_paths && r >= 0; i++) {
                struct stat st;
                if (stat(x->paths[i], &st) == 0 && !S_ISDIR(st.st_mode)) {
                        char *d = strdup(x->paths[i]), *slash = d ? strrchr(d, '/') : NULL;
                        if (!slash)
                                r = -EINVAL;
                        else {
                                *slash = 0;
                                r = lvss_metadata_builder_add_files_to_file_group(md, lp, x->name, *d ? d : "/", slash + 1, 0,
                                                                     NULL, 0);
                        }
                        free(d);
                } else
                        r = lvss_metadata_builder_add_files_to_file_group(md, lp, x->name, x->paths[i], "*", 1, NULL, 0);
        }
        if (r >= 0)
                r = lvss_metadata_builder_set_restore_method(md, LVSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL,
                                                x->cmd[CMD_PRE_RESTORE] || x->cmd[CMD_POST_RESTORE] ? LVSS_WRE_ALWAYS
                                                                                                     : LVSS_WRE_NEVER,
                                                0);
        if (x->types & (1u << LVSS_BT_COPY))
                schema |= LVSS_BS_COPY;
        if (x->types & (1u << LVSS_BT_INCREMENTAL))
                schema |= LVSS_BS_INCREMENTAL;
        if (x->types & (1u << LVSS_BT_DIFFERENTIAL))
                schema |= LVSS_BS_DIFFERENTIAL;
        if (r >= 0)
                r = lvss_metadata_builder_set_backup_schema(md, schema);
        if (r < 0)
                logx(x, "identify: %s", lvss_strerror(r));
        return r;
}

static bool paths_affected(const lvss_writer *w, const xconf *x) {
        for (size_t i = 0; i < x->n_paths; i++)
                if (lvss_writer_is_path_affected(w, x->paths[i]) == 1)
                        return true;
        return false;
}

static int on_prepare_backup(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        xconf *x = userdata;

        x->type = lvss_writer_get_backup_type(w);
        if (lvss_writer_components_get_count(comps) > 0)
                x->active = true;
        else
                x->active = !lvss_writer_are_components_selected(w) && paths_affected(w, x);
        if (!x->active)
                return 0;
        if (x->type != LVSS_BT_UNDEFINED && !(x->types & (1u << x->type))) {
                error_slot_set(&x->err, -EINVAL, "backup type %s is not configured in %s",
                               lvss_backup_type_to_string(x->type) ?: "?", x->file);
                logx(x, "%s", error_slot_get(&x->err));
                x->active = false;
                return veto(w, x);
        }
        if (run_cmd(x, CMD_PREPARE_BACKUP, NULL, &x->err) < 0) {
                x->active = false;
                return veto(w, x);
        }
        return 0;
}

static int on_freeze(lvss_writer *w, void *userdata) {
        xconf *x = userdata;
        if (!x->active)
                return 0;
        if (do_freeze(x) < 0)
                return veto(w, x); /* Abort follows and thaws (invariant 3) */
        return 0;
}

static int on_thaw(lvss_writer *w, void *userdata) {
        xconf *x = userdata;
        if (do_thaw(x, "thaw") < 0) {
                char msg[ERROR_SLOT_SIZE + 400];
                snprintf(msg, sizeof(msg), "%s: %s", x->path, error_slot_get(&x->err));
                /* Non-fatal: the snapshot is taken; requestors see it in status. */
                lvss_writer_set_failure_ex(w, LVSS_E_WRITERERROR_RETRYABLE, 0, msg);
        }
        return 0;
}

static int on_post_snapshot(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        xconf *x = userdata;
        if (!x->active)
                return 0;
        /* LVSS_SHADOW_PATHS: 'original=snapshot' lines, as lvssadm create --exec. */
        size_t cap = 1, len = 0;
        char *paths = calloc(1, 1);
        int n = lvss_writer_get_current_volume_count(w);
        for (int i = 0; paths && i < n; i++) {
                const char *o = lvss_writer_get_current_volume(w, (size_t) i), *s = NULL;
                if (!o || lvss_writer_get_snapshot_device_name(w, o, &s) < 0 || !s)
                        continue;
                size_t add = strlen(o) + strlen(s) + 2;
                char *np = realloc(paths, cap + add);
                if (!np)
                        break;
                paths = np;
                cap += add;
                len += (size_t) sprintf(paths + len, "%s%s=%s", len ? "\n" : "", o, s);
        }
        char *ev = NULL;
        if (asprintf(&ev, "LVSS_SHADOW_PATHS=%s", paths ? paths : "") < 0)
                ev = NULL;
        free(paths);
        char *extra[] = { ev, NULL };
        int r = run_cmd(x, CMD_POST_SNAPSHOT, ev ? extra : NULL, &x->err);
        free(ev);
        return r < 0 ? veto(w, x) : 0;
}

static int on_abort(lvss_writer *w, void *userdata) {
        xconf *x = userdata;
        (void) w;
        (void) do_thaw(x, "abort");
        x->active = false;
        return 0;
}

static int on_backup_complete(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        xconf *x = userdata;
        lvss_component *c = wc_first_component(comps);
        int ok = 1;
        if (!x->active)
                return 0;
        if (c)
                ok = lvss_component_get_backup_succeeded(c) == 1;
        char ev[32];
        snprintf(ev, sizeof(ev), "LVSS_BACKUP_SUCCEEDED=%d", ok);
        char *extra[] = { ev, NULL };
        x->active = false;
        if (run_cmd(x, CMD_BACKUP_COMPLETE, extra, &x->err) < 0)
                return veto(w, x);
        return 0;
}

static int on_backup_shutdown(lvss_writer *w, const char *set_id, void *userdata) {
        xconf *x = userdata;
        (void) w, (void) set_id;
        (void) do_thaw(x, "backup shutdown");
        x->active = false;
        return 0;
}

static int on_pre_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        xconf *x = userdata;
        lvss_component *c = wc_first_component(comps);
        if (!c)
                return 0;
        x->type = LVSS_BT_UNDEFINED;
        if (run_cmd(x, CMD_PRE_RESTORE, NULL, &x->err) < 0) {
                char msg[ERROR_SLOT_SIZE + 400];
                snprintf(msg, sizeof(msg), "%s: restore refused: %s", x->path, error_slot_get(&x->err));
                lvss_component_set_pre_restore_failure_msg(c, msg);
                lvss_writer_set_failure_ex(w, LVSS_E_WRITERERROR_NONRETRYABLE, 0, msg);
                return -1;
        }
        lvss_component_set_restore_target(c, LVSS_RT_ORIGINAL);
        return 0;
}

static int on_post_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        xconf *x = userdata;
        lvss_component *c = wc_first_component(comps);
        if (!c)
                return 0;
        char ev1[40], ev2[40];
        lvss_file_restore_status st = lvss_component_get_file_restore_status(c);
        snprintf(ev1, sizeof(ev1), "LVSS_ADDITIONAL_RESTORES=%d", lvss_component_get_additional_restores(c) == 1);
        snprintf(ev2, sizeof(ev2), "LVSS_RESTORE_STATUS=%s",
                 st == LVSS_RS_ALL ? "all" : st == LVSS_RS_FAILED ? "failed" : st == LVSS_RS_NONE ? "none" : "undefined");
        char *extra[] = { ev1, ev2, NULL };
        if (run_cmd(x, CMD_POST_RESTORE, extra, &x->err) < 0) {
                char msg[ERROR_SLOT_SIZE + 400];
                snprintf(msg, sizeof(msg), "%s: %s", x->path, error_slot_get(&x->err));
                lvss_component_set_post_restore_failure_msg(c, msg);
                lvss_writer_set_failure_ex(w, LVSS_E_WRITERERROR_NONRETRYABLE, 0, msg);
                return -1;
        }
        return 0;
}

/* ------------------------------------------------------- configuration */

static char *trim(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        size_t l = strlen(s);
        while (l && isspace((unsigned char) s[l - 1]))
                s[--l] = 0;
        return s;
}

static int parse_seconds(const char *v, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || end == v || *end || n == 0 || n > 86400 || v[0] == '-')
                return -1;
        *ret = (unsigned) n;
        return 0;
}

static void xconf_free(xconf *x) {
        if (!x)
                return;
        lvss_writer_free(x->w);
        free(x->file);
        free(x->name);
        free(x->path);
        for (size_t i = 0; i < x->n_paths; i++)
                free(x->paths[i]);
        free(x->paths);
        for (int k = 0; k < N_CMD; k++)
                free(x->cmd[k]);
        free(x->hook_dir);
        for (size_t i = 0; i < x->n_hooks_started; i++)
                free(x->hooks_started[i]);
        free(x->hooks_started);
        free(x);
}

/* Parse DIR/FILE; on error print 'FILE:LINE: reason' and return NULL. */
static xconf *load_conf(const char *dir, const char *file) {
        char p[PATH_MAX], line[8192];
        snprintf(p, sizeof(p), "%s/%s", dir, file);
        FILE *f = fopen(p, "re");
        if (!f) {
                fprintf(stderr, "lvss-writer-exec: %s: %s\n", p, strerror(errno));
                return NULL;
        }
        xconf *x = calloc(1, sizeof(*x));
        unsigned lineno = 0;
        bool types_set = false, bad = false;
        if (!x) {
                fclose(f);
                return NULL;
        }
        x->file = strdup(p);
        x->freeze_timeout = 60;
        while (!bad && fgets(line, sizeof(line), f)) {
                lineno++;
                char *s = trim(line);
                if (!*s || *s == '#')
                        continue;
                char *eq = strchr(s, '=');
                if (!eq) {
                        fprintf(stderr, "lvss-writer-exec: %s:%u: expected 'key = value'\n", p, lineno);
                        bad = true;
                        break;
                }
                *eq = 0;
                char *k = trim(s), *v = trim(eq + 1);
                int cmd = -1, tcmd = -1;
                for (int i = 0; i < N_CMD; i++) {
                        if (strcmp(k, cmd_keys[i]) == 0)
                                cmd = i;
                        if (strncmp(k, "timeout_", 8) == 0 && strcmp(k + 8, cmd_keys[i]) == 0)
                                tcmd = i;
                }
                if (strcmp(k, "name") == 0) {
                        if (!*v || strchr(v, '/') || strlen(v) > 200) {
                                fprintf(stderr, "lvss-writer-exec: %s:%u: bad name '%s'\n", p, lineno, v);
                                bad = true;
                        }
                        free(x->name);
                        x->name = strdup(v);
                } else if (strcmp(k, "paths") == 0) {
                        for (char *save = NULL, *t = strtok_r(v, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
                                size_t l = strlen(t);
                                while (l > 1 && t[l - 1] == '/')
                                        t[--l] = 0;
                                if (t[0] != '/') {
                                        fprintf(stderr, "lvss-writer-exec: %s:%u: path '%s' is not absolute\n", p,
                                                lineno, t);
                                        bad = true;
                                        break;
                                }
                                if (ARRAY_RESERVE_ONE(x->paths, x->cap_paths, x->n_paths, 4) < 0)
                                        break;
                                x->paths[x->n_paths++] = strdup(t);
                        }
                } else if (strcmp(k, "types") == 0) {
                        types_set = true;
                        x->types = 0;
                        for (char *save = NULL, *t = strtok_r(v, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
                                int bt = strcmp(t, "full") == 0           ? LVSS_BT_FULL
                                         : strcmp(t, "copy") == 0         ? LVSS_BT_COPY
                                         : strcmp(t, "incremental") == 0  ? LVSS_BT_INCREMENTAL
                                         : strcmp(t, "differential") == 0 ? LVSS_BT_DIFFERENTIAL
                                                                          : -1;
                                if (bt < 0) {
                                        fprintf(stderr, "lvss-writer-exec: %s:%u: unknown backup type '%s'\n", p,
                                                lineno, t);
                                        bad = true;
                                        break;
                                }
                                x->types |= 1u << bt;
                        }
                } else if (strcmp(k, "freeze_timeout") == 0) {
                        if (parse_seconds(v, &x->freeze_timeout) < 0) {
                                fprintf(stderr, "lvss-writer-exec: %s:%u: bad freeze_timeout '%s'\n", p, lineno, v);
                                bad = true;
                        }
                } else if (strcmp(k, "fsfreeze_hook_dir") == 0) {
                        free(x->hook_dir);
                        x->hook_dir = strdup(v);
                } else if (cmd >= 0) {
                        free(x->cmd[cmd]);
                        x->cmd[cmd] = *v ? strdup(v) : NULL;
                } else if (tcmd >= 0) {
                        if (parse_seconds(v, &x->timeout[tcmd]) < 0) {
                                fprintf(stderr, "lvss-writer-exec: %s:%u: bad %s '%s'\n", p, lineno, k, v);
                                bad = true;
                        }
                } else {
                        fprintf(stderr, "lvss-writer-exec: %s:%u: unknown key '%s'\n", p, lineno, k);
                        bad = true;
                }
        }
        fclose(f);
        if (!bad && !x->name) { /* default: NAME of NAME.conf */
                x->name = strndup(file, strlen(file) - 5);
        }
        if (!bad && x->n_paths == 0) {
                fprintf(stderr, "lvss-writer-exec: %s: 'paths' is required\n", p);
                bad = true;
        }
        if (!types_set)
                x->types = (1u << LVSS_BT_FULL) | (1u << LVSS_BT_COPY);
        if (!bad && asprintf(&x->path, "Exec/%s/%s", host, x->name) < 0)
                x->path = NULL;
        if (bad || !x->file || !x->name || !x->path) {
                xconf_free(x);
                return NULL;
        }
        return x;
}

static int conf_filter(const struct dirent *de) {
        size_t l = strlen(de->d_name);
        return de->d_name[0] != '.' && l > 5 && strcmp(de->d_name + l - 5, ".conf") == 0;
}

/* ----------------------------------------------------------------- main */

/* The coordinator is gone, or the process stops: thaw (invariant 3). */
static void on_lost(void *userdata, const char *why) {
        xconf *x = userdata;
        (void) do_thaw(x, why);
        x->active = false;
}

static const char help[] =
        "Usage: lvss-writer-exec [--config-dir DIR]\n"
        "The Exec Writer: one lvss writer instance per DIR/NAME.conf (default\n"
        "/etc/lvss/writers.d), running the configured shell commands at the\n"
        "snapshot and restore events (man lvss-writer-exec).\n\n"
        "  --config-dir DIR   directory of NAME.conf files\n"
        "  --help             this text\n";

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "config-dir", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *dir = "/etc/lvss/writers.d";
        int c, rc = 0;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'c': dir = optarg; break;
                case 'h': fputs(help, stdout); return 0;
                default: fputs(help, stderr); return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "lvss-writer-exec: unexpected argument '%s' (see --help)\n", argv[optind]);
                return 2;
        }
        wc_short_hostname(host, sizeof(host));

        struct dirent **list = NULL;
        int n = scandir(dir, &list, conf_filter, alphasort);
        if (n < 0) {
                fprintf(stderr, "lvss-writer-exec: %s: %s\n", dir, strerror(errno));
                return 1;
        }
        xconf **xs = calloc((size_t) n + 1, sizeof(*xs)); // NOLINT(bugprone-sizeof-expression): an array of pointers
        size_t nx = 0;
        for (int i = 0; i < n; i++) {
                if (xs && rc == 0) {
                        xconf *x = load_conf(dir, list[i]->d_name);
                        if (!x)
                                rc = 2;
                        else {
                                for (size_t k = 0; k < nx; k++)
                                        if (strcmp(xs[k]->name, x->name) == 0) {
                                                fprintf(stderr, "lvss-writer-exec: %s: name '%s' is also used by %s\n",
                                                        x->file, x->name, xs[k]->file);
                                                rc = 2;
                                        }
                                xs[nx++] = x;
                        }
                }
                free(list[i]);
        }
        free(list);
        if (!xs)
                return 1;
        if (rc == 0 && nx == 0) {
                fprintf(stderr, "lvss-writer-exec: %s: no NAME.conf file\n", dir);
                rc = 1;
        }

        wc_install_signals();
        wc_instance *wi = calloc((size_t) nx + 1, sizeof(*wi));
        if (!wi)
                rc = 1;

        for (size_t i = 0; i < nx && rc == 0; i++) {
                lvss_writer_identity id = LVSS_WRITER_IDENTITY_INIT;
                lvss_writer_events ev = LVSS_WRITER_EVENTS_INIT;
                id.class_id = EXEC_CLASS_ID;
                id.name = "Exec Writer";
                id.instance_name = xs[i]->name;
                id.usage = LVSS_UT_USERDATA;
                id.source = LVSS_ST_OTHER;
                id.level = LVSS_APP_FRONT_END;
                id.freeze_timeout_ms = xs[i]->freeze_timeout * 1000u;
                ev.on_identify = on_identify;
                ev.on_prepare_backup = on_prepare_backup;
                ev.on_freeze = on_freeze;
                ev.on_thaw = on_thaw;
                ev.on_post_snapshot = on_post_snapshot;
                ev.on_abort = on_abort;
                ev.on_backup_complete = on_backup_complete;
                ev.on_backup_shutdown = on_backup_shutdown;
                ev.on_pre_restore = on_pre_restore;
                ev.on_post_restore = on_post_restore;
                int r = lvss_writer_new(&id, &ev, xs[i], &xs[i]->w);
                if (r < 0) {
                        logx(xs[i], "cannot create writer: %s", lvss_strerror(r));
                        rc = 1;
                }
                wi[i] = (wc_instance) { .w = xs[i]->w, .label = xs[i]->path, .on_lost = on_lost, .userdata = xs[i] };
        }
        if (rc == 0)
                rc = wc_run(wi, nx, "lvss-writer-exec"); /* thaws each at exit (invariant 3) */
        for (size_t i = 0; i < nx; i++)
                xconf_free(xs[i]);
        free(wi);
        free(xs);
        return rc;
}
