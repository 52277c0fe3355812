/* SPDX-License-Identifier: MIT */
/*
 * tools/lvss-backup/vss.h: the application-aware commands of lvss-backup
 * (`create`, `restore`), which drive writers through lvssd with liblvss and
 * store into / read from lib/repo.  See docs/design/backup.md.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <lvss/requestor.h>

#include "repo.h"

enum {
        VSS_EXIT_OK = 0,
        VSS_EXIT_FAIL = 1,
        VSS_EXIT_USAGE = 2,
        VSS_EXIT_BUSY = 4,
        VSS_EXIT_DENIED = 5,
        VSS_EXIT_CORRUPT = 6,
};

/* The entry points (argv[0] is the command name). Return the exit code. */
int cmd_create(int argc, char **argv);
int cmd_restore(int argc, char **argv);

/* ---- helpers shared by create.c and restore.c (vss.c) ---- */

#define MAIL_STORE_WRITER_NAME "Mail Store Writer"

/* Set by SIGINT/SIGTERM once vss_install_signals() ran; a second signal
 * exits at once (lvssd then drops the session, as after kill -9). */
extern volatile sig_atomic_t vss_interrupted;
void vss_install_signals(void);

void vss_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vss_note(bool quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exit code for a liblvss / lib/repo error. */
int vss_exit_lvss(int r);
int vss_exit_repo(int r);

/* Open the repository (password from file, environment or terminal);
 * returns 0 or the exit code (message printed). */
int vss_open_repo(const char *dir, const char *password_file, enum repo_lock_mode lock, repo **ret);
/* Its first half: the repository probed, the password read (a terminal is
 * asked here), the lock taken (repo_open_lock); the caller finishes with
 * repo_open_keys(*ret, *ret_password) and frees the password with
 * password_free. */
int vss_open_repo_lock(const char *dir, const char *password_file, enum repo_lock_mode lock, repo **ret,
                       char **ret_password);

/* Wait for an async operation started with result r (freeing it), polling
 * vss_interrupted: on an interrupt the operation is cancelled and -EINTR
 * returned.  On failure prints "lvss-backup: WHAT: reason". */
int vss_wait(lvss_backup *b, lvss_async *a, int r, const char *what);

/* After a failed PrepareForBackup/DoSnapshotSet/PreRestore/PostRestore: print
 * every writer's and component's failure message as the writer gave it.  A
 * writer's message is attributed to the selected components of that writer
 * (comp_writers[i] names the writer of comp_paths[i]) as
 * "lvss-backup: component 'PATH': MESSAGE". */
void vss_print_writer_failures(lvss_backup *b, const char *const *comp_paths, const char *const *comp_writers,
                               size_t n_comps);

/* "logical path/name" (or "name" at top level); caller frees. */
char *vss_component_path(const char *logical_path, const char *name);

/* Whether component (lp,name) is the component `top` or below it (the
 * component set of a selectable component). */
bool vss_in_component_set(const char *top_path, const char *logical_path, const char *name);

/* Whether absolute path abs is covered by file descriptor fd (directory
 * fd->path, fnmatch(filespec) on the name, subdirectories if recursive).
 * ret_rel (may be NULL) gets the part of abs below fd->path. */
bool vss_filedesc_match(const lvss_writer_metadata_filedesc *fd, const char *abs, const char **ret_rel);

/* Find the BCD component of writer_id named (lp,name); NULL if none. */
lvss_component *vss_bcd_component(lvss_backup *b, const char *writer_id, const char *lp, const char *name);

/* Mail Store Writer file names (docs/interfaces.md), parsed by libmstore's
 * mstore_log_name_parse: a closed log generation is BASE + 8 upper-case hex
 * digits + ".log" (BASE "E00", "E01", ...).  Returns true and the generation
 * for such a name. */
bool vss_mail_closed_log(const char *name, uint32_t *ret_gen);
/* Files that only the live store may hold: the current log BASE.log, the
 * engine's temporary and reserve logs, the checkpoint BASE.chk.  A restore
 * in place never writes them (they carry what was committed after the
 * backup), and a backup without the writer's file list leaves them out. */
bool vss_mail_live_only(const char *name);

/* Progress line on a terminal (stderr), at most every 200 ms; and, when
 * fd >= 0 (create and copy --progress-fd), one JSON line {"bytes_done",
 * "bytes_total", "files"} (copy adds "backups_done", "backups_total") at most
 * every 250 ms and at the end, for lvss-backupd.  A line that does not fit
 * the (non-blocking) pipe is dropped, never waited for. */
typedef struct vss_progress {
        bool on;
        const char *verb;
        int64_t last_ms;
        int fd;               /* < 3: none (--progress-fd takes 3 or more) */
        uint64_t bytes_total; /* file bytes planned so far (grows per component) */
        int64_t fd_last_ms;
        repo_stats last;      /* the last stats seen, for the final line */
        bool copy;            /* copy: exact totals (kept at the end), and the backups */
        uint64_t backups_done, backups_total;
} vss_progress;
void vss_progress_init(vss_progress *p, bool quiet, const char *verb);
void vss_progress_fn(const repo_stats *st, const char *path, void *userdata);
/* BYTES more file bytes are planned: a progress line now. */
void vss_progress_add_total(vss_progress *p, uint64_t bytes);
/* The last line (create: bytes_total becomes what was read), the terminal's cleared. */
void vss_progress_done(vss_progress *p);
/* A --progress-fd line now (the totals or the count of backups changed). */
void vss_progress_flush(vss_progress *p);
/* Clear the terminal's progress line (before printing on stdout). */
void vss_progress_clear(vss_progress *p);
/* --progress-fd ARG of command VERB: an open file descriptor, 3 or more, made
 * non-blocking and close-on-exec.  -EINVAL (the one-line error printed). */
int vss_progress_fd_arg(const char *verb, const char *arg, int *ret_fd);
