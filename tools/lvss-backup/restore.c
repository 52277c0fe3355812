/* SPDX-License-Identifier: MIT */
/*
 * lvss-backup restore: application-aware restore through lvssd.
 *
 * The chain the backup depends on is resolved (full + incrementals, or full
 * + differential) and replayed step by step, oldest first, each step its own
 * VSS restore session (vss-model §7, docs/design/backup.md):
 *   InitializeForRestore(the step's saved BCD) -> GatherWriterMetadata ->
 *   SetSelectedForRestore + SetAdditionalRestores (true on every step but
 *   the last, or always with --additional-restores) + SetRestoreOptions ->
 *   PreRestore (a refusal is printed as the writer gave it; nothing is
 *   written) -> write the component's files from the repository, every blob
 *   and file hash checked, each file renamed into place only when whole ->
 *   SetFileRestoreStatus -> PostRestore (the writer recovers on the last).
 *
 * Where files go: to their original paths; with --to DIR, each file set's
 * files go directly below DIR (a Recovery Storage Group: the writer
 * recovers there, production untouched).  Log files a writer listed in its
 * backup metadata ("logs") are never written over live logs in place: they
 * go to a staging directory LOG_DIR/.lvss-restore handed to the writer as
 * restore option "backup_log_dir", and the checkpoint is not restored in
 * place (the live one carries what was committed after the backup: roll
 * forward).  The staging directory is removed after the restore that
 * recovers (the last step without --additional-restores).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lvss/error.h>

#include "array.h"
#include "fs-util.h"
#include "into-live.h"
#include "macro.h"
#include "password.h"
#include "test-hook.h"
#include "vss.h"

#define MAX_COMPONENTS 256

static const char restore_help[] =
        "Usage: lvss-backup restore --repo DIR ID [--component PATH]... [--to DIR]\n"
        "                           [--additional-restores] [--target-time 'YYYY-MM-DD HH:MM:SS'] [--target-lsn LSN]\n"
        "                           [--password-file FILE] [--insecure-password-file] [--json] [--quiet]\n"
        "       lvss-backup restore --repo DIR ID --component 'Mail Store/SERVER/SG/DB' --mailbox ADDRESS\n"
        "                           [--message UID]... --into-live\n"
        "\n"
        "Restore components of backup ID through their writers, replaying the chain it depends\n"
        "on (its full backup, then each incremental, or the full and the differential).\n"
        "\n"
        "  --component PATH       a component (logical path + '/' + name): a whole storage group\n"
        "                         'Mail Store/h1/SG1' or one database 'Mail Store/h1/SG1/DB1';\n"
        "                         repeatable; default: every component of the backup\n"
        "  --to DIR               restore to an alternate location (files of each file set go\n"
        "                         directly below DIR; production is left alone)\n"
        "  --additional-restores  more restores follow: the writers wait with recovery\n"
        "  --target-time TIME     point-in-time recovery: a database writer (PostgreSQL) stops\n"
        "                         replaying at TIME (its server's time zone unless TIME names one)\n"
        "  --target-lsn LSN       point-in-time recovery up to a WAL position (PostgreSQL: X/Y)\n"
        "  --json                 print {\"id\",\"chain\",\"components\",\"to\",\"files\",\"bytes\"}\n"
        "  --into-live            restore the database into a scratch recovery directory, then copy\n"
        "                         the mail of --mailbox (only the --message UIDs if given) into the\n"
        "                         folder 'Recovered/<backup time>' of the live mailbox through mstored,\n"
        "                         with everything mounted; the scratch copy is removed afterwards\n"
        "                         (JSON: {\"mailbox\",\"folder\",\"messages\":[{\"backup_uid\",\"uid\"}]})\n"
        "\n"
        "A writer that refuses (e.g. 'storage group SG1 must be offline to restore a database')\n"
        "is quoted and nothing is written.  Exit codes: 0 ok, 1 failed or refused, 2 usage or\n"
        "unknown backup/component, 4 repository busy, 5 access denied, 6 corruption detected.\n";

typedef struct rcomp {
        const char *path;          /* as given */
        char *writer_name;
        char *writer_id;
        char *lp, *name;
        lvss_component_type type;
        char *top;                 /* the record component (storage group) holding it */
} rcomp;

typedef struct target {
        const char *mpath;         /* manifest path (borrowed from the record) */
        char *dst;                 /* absolute destination */
} target;

typedef struct step_plan {
        target *v;
        size_t n, cap;
        char *staging[MAX_COMPONENTS]; /* per component: log staging directory, NULL if none */
} step_plan;

typedef struct restore_ctx {
        bool json, quiet, additional;
        const char *to;
        const char *target_time, *target_lsn;   /* restore options for the writer */
        int64_t backup_time_ns;                 /* of the backup restored (its chain's last) */
        repo *r;
        rcomp comps[MAX_COMPONENTS];
        size_t n_comps;
        uint64_t files, bytes;
        vss_progress prog;
        char *staging_dirs[MAX_COMPONENTS];
        size_t n_staging;
} restore_ctx;

/* ---------------------------------------------------- saved metadata */

typedef struct saved_writers {
        lvss_writer_metadata **wm;
        const char **names;
        size_t n;
} saved_writers;

static void saved_free(saved_writers *s) {
        for (size_t i = 0; i < s->n; i++)
                lvss_writer_metadata_free(s->wm[i]);
        free(s->wm);
        free(s->names);
        *s = (saved_writers) {};
}

static int saved_load(const repo_record *rec, saved_writers *ret) {
        *ret = (saved_writers) {};
        ret->wm = calloc(rec->n_writers + 1, sizeof(*ret->wm)); // NOLINT(bugprone-sizeof-expression): array of pointers
        ret->names = calloc(rec->n_writers + 1, sizeof(*ret->names));
        if (!ret->wm || !ret->names)
                return -ENOMEM;
        for (size_t i = 0; i < rec->n_writers; i++) {
                if (!rec->writers[i].metadata)
                        continue;
                int r = lvss_writer_metadata_load(rec->writers[i].metadata, &ret->wm[ret->n]);
                if (r < 0) {
                        char hex[REPO_ID_HEX_SIZE];
                        repo_id_to_hex(&rec->id, hex);
                        vss_err("backup %.16s: writer metadata of '%s' is invalid: %s", hex, rec->writers[i].name,
                                lvss_writer_metadata_load_error());
                        return r;
                }
                ret->names[ret->n++] = rec->writers[i].name;
        }
        return 0;
}

/* Find component PATH in the saved metadata: its writer and index. */
static int saved_find(const saved_writers *s, const char *path, size_t *ret_w, size_t *ret_comp,
                      lvss_writer_metadata_component_info *ret_ci) {
        for (size_t w = 0; w < s->n; w++) {
                int n = lvss_writer_metadata_get_component_count(s->wm[w]);
                for (int i = 0; i < n; i++) {
                        lvss_writer_metadata_component_info ci;
                        if (lvss_writer_metadata_get_component_info(s->wm[w], (size_t) i, &ci) < 0)
                                continue;
                        _cleanup_free_ char *p = vss_component_path(ci.logical_path, ci.component_name);
                        if (p && strcmp(p, path) == 0) {
                                *ret_w = w;
                                *ret_comp = (size_t) i;
                                *ret_ci = ci;
                                return 0;
                        }
                }
        }
        return -ENOENT;
}

/* --------------------------------------------------------------- plan */

static bool record_has(const repo_record *rec, const char *comp) {
        for (size_t i = 0; i < rec->n_components; i++)
                if (strcmp(rec->components[i], comp) == 0)
                        return true;
        return false;
}

static void plan_free(step_plan *p) {
        for (size_t i = 0; i < p->n; i++)
                free(p->v[i].dst);
        free(p->v);
        for (size_t k = 0; k < MAX_COMPONENTS; k++)
                free(p->staging[k]);
        *p = (step_plan) {};
}

static const char *plan_lookup(const step_plan *p, const char *mpath) {
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->v[i].mpath, mpath) == 0)
                        return p->v[i].dst;
        return NULL;
}

/* Log files and checkpoints the writers listed in the step's backup
 * metadata, and their log directory (for staging). */
typedef struct log_info {
        json_t *logs;       /* object: absolute path -> log_dir */
        json_t *checkpoints;/* object: absolute path -> true */
} log_info;

static void log_info_load(lvss_backup *b, log_info *li) {
        li->logs = json_object();
        li->checkpoints = json_object();
        lvss_component_iter it = LVSS_COMPONENT_ITER_INIT;
        lvss_component *c;
        while (lvss_backup_next_component(b, &it, NULL, &c) > 0) {
                {
                        const char *md = lvss_component_get_backup_metadata(c);
                        json_t *m = md ? json_loads(md, 0, NULL) : NULL;
                        const char *log_dir = json_string_value(json_object_get(m, "log_dir"));
                        const char *chk = json_string_value(json_object_get(m, "checkpoint"));
                        json_t *v;
                        size_t j;
                        if (log_dir && log_dir[0] == '/')
                                json_array_foreach(json_object_get(m, "logs"), j, v) if (json_is_string(v))
                                        json_object_set_new(li->logs, json_string_value(v), json_string(log_dir));
                        if (chk)
                                json_object_set_new(li->checkpoints, chk, json_true());
                        json_decref(m);
                }
        }
}

static void log_info_free(log_info *li) {
        json_decref(li->logs);
        json_decref(li->checkpoints);
}

/* The file descriptors of component (w,comp) and, for a file group, of the
 * components below it. */
static bool comp_matches(const lvss_writer_metadata *wm, size_t comp, const lvss_writer_metadata_component_info *ci,
                         const char *abs, const char **ret_rel) {
        lvss_writer_metadata_filedesc fd;
        for (size_t j = 0; j < ci->file_count; j++)
                if (lvss_writer_metadata_get_component_file(wm, comp, j, &fd) >= 0 && vss_filedesc_match(&fd, abs, ret_rel))
                        return true;
        for (size_t j = 0; j < ci->database_count; j++)
                if (lvss_writer_metadata_get_component_database_file(wm, comp, j, &fd) >= 0 && vss_filedesc_match(&fd, abs, ret_rel))
                        return true;
        for (size_t j = 0; j < ci->log_file_count; j++)
                if (lvss_writer_metadata_get_component_log_file(wm, comp, j, &fd) >= 0 && vss_filedesc_match(&fd, abs, ret_rel))
                        return true;
        return false;
}

static bool set_matches(const lvss_writer_metadata *wm, const char *top, const char *abs, const char **ret_rel) {
        int n = lvss_writer_metadata_get_component_count(wm);
        for (int i = 0; i < n; i++) {
                lvss_writer_metadata_component_info ci;
                if (lvss_writer_metadata_get_component_info(wm, (size_t) i, &ci) >= 0 &&
                    vss_in_component_set(top, ci.logical_path, ci.component_name) &&
                    comp_matches(wm, (size_t) i, &ci, abs, ret_rel))
                        return true;
        }
        return false;
}

static int plan_step(restore_ctx *c, const repo_record *rec, const saved_writers *sw, const log_info *li,
                     step_plan *p) {
        *p = (step_plan) {};
        for (size_t i = 0; i < rec->n_files; i++) {
                const repo_file *f = &rec->files[i];
                _cleanup_free_ char *abs = NULL;
                if (asprintf(&abs, "/%s", f->path) < 0)
                        return -ENOMEM;
                const char *rel = NULL, *name = strrchr(abs, '/') + 1;
                bool hit[MAX_COMPONENTS] = {}, any = false, mail = false;
                for (size_t k = 0; k < c->n_comps; k++) {
                        rcomp *rc = &c->comps[k];
                        _cleanup_free_ char *cp = vss_component_path(rc->lp, rc->name);
                        for (size_t w = 0; w < sw->n && !hit[k]; w++)
                                if (strcmp(sw->names[w], rc->writer_name) == 0 && cp &&
                                    set_matches(sw->wm[w], cp, abs, &rel)) {
                                        hit[k] = any = true;
                                        mail |= strcmp(rc->writer_name, MAIL_STORE_WRITER_NAME) == 0;
                                }
                }
                if (!any)
                        continue;
                char *dst = NULL;
                const char *log_dir = NULL;
                _cleanup_free_ char *dir = strndup(abs, (size_t) (name - 1 - abs));
                if (!dir)
                        return -ENOMEM;
                if (c->to) {
                        if (asprintf(&dst, "%s/%s", c->to, rel) < 0)
                                return -ENOMEM;
                } else if (mail && vss_mail_live_only(name)) { // NOLINT(bugprone-branch-clone): order matters
                        continue; /* never over the live current log or checkpoint */
                } else if (mail && vss_mail_closed_log(name, NULL)) {
                        log_dir = dir;
                } else if (json_object_get(li->checkpoints, abs)) {
                        continue;
                } else if (json_object_get(li->logs, abs)) {
                        log_dir = json_string_value(json_object_get(li->logs, abs));
                } else if (!(dst = strdup(abs)))
                        return -ENOMEM;
                if (log_dir) {
                        /* Backed-up logs go to the staging directory of every
                         * component that needs them, never over live ones. */
                        _cleanup_free_ char *staging = NULL;
                        if (asprintf(&staging, "%s/.lvss-restore", log_dir) < 0 ||
                            asprintf(&dst, "%s/%s", staging, name) < 0)
                                return -ENOMEM;
                        for (size_t k = 0; k < c->n_comps; k++)
                                if (hit[k] && !p->staging[k] && !(p->staging[k] = strdup(staging)))
                                        return -ENOMEM;
                }
                if (ARRAY_RESERVE_ONE(p->v, p->cap, p->n, 64) < 0) {
                        free(dst);
                        return -ENOMEM;
                }
                p->v[p->n++] = (target) {.mpath = f->path, .dst = dst};
        }
        return 0;
}

/* ---------------------------------------------------------------- sink */

typedef struct sink_file {
        int dirfd;
        int fd;
        char tmp[64];
        char name[NAME_MAX + 1];
} sink_file;

/* A target directory written to, and the first file named in it (for the
 * message when its final fsync fails). */
typedef struct sink_dir {
        char *path;
        char *first;
} sink_dir;

/* A target file system: a directory of it opened before anything was
 * written there, so its syncfs reports every writeback error since. */
typedef struct sink_fs {
        dev_t dev;
        int fd;
        char *path;
} sink_fs;

typedef struct sink_ctx {
        restore_ctx *c;
        step_plan *plan;
        size_t written;
        repo_meta_ctx meta;
        sink_dir *dirs;
        size_t n_dirs, cap_dirs;
        sink_fs *fss;
        size_t n_fss, cap_fss;
} sink_ctx;

/* Remember DIR (opened as DFD) and its file system for sink_sync. */
static int sink_note_dir(sink_ctx *s, const char *dir, int dfd, const char *name) {
        struct stat st;
        bool have = false;

        for (size_t i = s->n_dirs; i-- > 0 && !have;)
                have = strcmp(s->dirs[i].path, dir) == 0;
        if (!have) {
                if (ARRAY_RESERVE_ONE(s->dirs, s->cap_dirs, s->n_dirs, 16) < 0)
                        return -ENOMEM;
                sink_dir *d = &s->dirs[s->n_dirs];
                if (!(d->path = strdup(dir)) || !(d->first = strdup(name))) {
                        free(d->path);
                        return -ENOMEM;
                }
                s->n_dirs++;
        }
        if (fstat(dfd, &st) < 0)
                return -errno;
        for (size_t i = 0; i < s->n_fss; i++)
                if (s->fss[i].dev == st.st_dev)
                        return 0;
        if (ARRAY_RESERVE_ONE(s->fss, s->cap_fss, s->n_fss, 4) < 0)
                return -ENOMEM;
        sink_fs *f = &s->fss[s->n_fss];
        f->dev = st.st_dev;
        if (!(f->path = strdup(dir)))
                return -ENOMEM;
        f->fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (f->fd < 0) {
                free(f->path);
                return -errno;
        }
        s->n_fss++;
        return 0;
}

/* Make every restored file and name durable before the writers are told
 * the restore is done: one syncfs per target file system (file data and
 * metadata; its error covers every file written there since the directory
 * was opened), then one fsync per target directory (the new names, on a
 * file system whose syncfs would not commit them).  A failure fails the
 * restore naming the directory's first file; there is no per-file fallback,
 * since a file opened anew would not see a writeback error already reported. */
static int sink_sync(sink_ctx *s) {
        for (size_t i = 0; i < s->n_fss; i++)
                if (syncfs(s->fss[i].fd) < 0) {
                        int r = -errno;
                        vss_err("'%s': syncfs of its file system failed: %m", s->fss[i].path);
                        return r;
                }
        for (size_t i = 0; i < s->n_dirs; i++) {
                sink_dir *d = &s->dirs[i];
                /* test hook: LVSS_REPO_FAIL_DIR_FSYNC=restore fails it, as
                 * =data fails the repository's */
                if (TEST_HOOK_IS("LVSS_REPO_FAIL_DIR_FSYNC", "restore")) {
                        vss_err("'%s': fsync of its directory failed: %s (injected by LVSS_REPO_FAIL_DIR_FSYNC)",
                                d->first, strerror(EIO));
                        return -EIO;
                }
                _cleanup_close_ int dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0 || fsync(dfd) < 0) {
                        int r = -errno;
                        vss_err("'%s': fsync of its directory failed: %m", d->first);
                        return r;
                }
        }
        return 0;
}

static void sink_ctx_done(sink_ctx *s) {
        for (size_t i = 0; i < s->n_dirs; i++) {
                free(s->dirs[i].path);
                free(s->dirs[i].first);
        }
        free(s->dirs);
        for (size_t i = 0; i < s->n_fss; i++) {
                close(s->fss[i].fd);
                free(s->fss[i].path);
        }
        free(s->fss);
}

static int sink_open(void *ud, const repo_file *f, void **ret) {
        sink_ctx *s = ud;
        const char *dst = plan_lookup(s->plan, f->path);
        if (!dst)
                return -ENOENT;
        _cleanup_free_ char *dir = strdup(dst);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        const char *name = slash + 1;
        *slash = 0;
        if (strlen(name) == 0 || strlen(name) > NAME_MAX - 16)
                return -ENAMETOOLONG;
        int r = mkdir_p(*dir ? dir : "/", 0750, 0750);
        if (r < 0) {
                vss_err("'%s': cannot create the directory: %s", dir, strerror(-r));
                return r;
        }
        sink_file *sf = calloc(1, sizeof(*sf));
        if (!sf)
                return -ENOMEM;
        /* The target directory itself is never a symlink; the temporary file
         * has a random name created exclusively in it (repo_tmpfile_open, as
         * restore-files does), so nothing planted there is followed or reused. */
        sf->dirfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        snprintf(sf->name, sizeof(sf->name), "%s", name);
        r = sf->dirfd < 0 ? -errno : sink_note_dir(s, *dir ? dir : "/", sf->dirfd, name);
        sf->fd = r < 0 ? r : repo_tmpfile_open(sf->dirfd, sf->tmp);
        if (sf->fd < 0) {
                r = sf->fd;
                vss_err("'%s': cannot create: %s", dst, strerror(-r));
                if (sf->dirfd >= 0)
                        close(sf->dirfd);
                free(sf);
                return r;
        }
        *ret = sf;
        return 0;
}

static int sink_write(void *ud, void *h, const void *buf, size_t n) {
        sink_file *sf = h;
        const char *p = buf;
        while (n > 0) {
                ssize_t k = write(sf->fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        vss_err("'%s': write failed: %m", sf->name);
                        return r;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int sink_close(void *ud, void *h, const repo_file *f, bool ok) {
        sink_ctx *s = ud;
        sink_file *sf = h;
        int r = 0;
        if (ok) {
                /* owner, extended attributes and ACLs, mode (set-id bits only
                 * with the owner), mtime: as restore-files does */
                r = repo_meta_apply_fd(&s->meta, sf->fd, f);
        }
        if (close(sf->fd) < 0 && r == 0 && ok)
                r = -errno;
        /* renamed now, made durable with all the others by sink_sync before
         * the writers are told the restore is done */
        if (ok && r == 0 && renameat(sf->dirfd, sf->tmp, sf->dirfd, sf->name) < 0)
                r = -errno;
        if (!ok || r < 0)
                unlinkat(sf->dirfd, sf->tmp, 0);
        else {
                s->written++;
                s->c->files++;
                s->c->bytes += f->size;
        }
        if (r < 0)
                vss_err("'%s': %s", sf->name, strerror(-r));
        close(sf->dirfd);
        free(sf);
        return r;
}

static bool sink_filter(const repo_file *f, void *ud) {
        sink_ctx *s = ud;
        return plan_lookup(s->plan, f->path) != NULL;
}

static void remove_staging(const char *dir) {
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_type == DT_REG)
                        unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
        rmdir(dir);
}

/* ---------------------------------------------------------------- steps */

static void print_failures(restore_ctx *c, lvss_backup *b) {
        const char *paths[MAX_COMPONENTS], *writers[MAX_COMPONENTS];
        for (size_t k = 0; k < c->n_comps; k++) {
                paths[k] = c->comps[k].path;
                writers[k] = c->comps[k].writer_name;
        }
        vss_print_writer_failures(b, paths, writers, c->n_comps);
}

static int run_step(restore_ctx *c, const repo_record *rec, bool first, bool last) {
        char hex[REPO_ID_HEX_SIZE];
        repo_id_to_hex(&rec->id, hex);
        saved_writers sw = {};
        lvss_backup *b = NULL;
        lvss_async *a = NULL;
        step_plan plan = {};
        log_info li = {};
        int ex = VSS_EXIT_FAIL, r = 0;
        bool additional = !last || c->additional;

        if (!rec->components_doc) {
                vss_err("backup %.16s has no backup components document (made by backup-dir?): use restore-files", hex);
                return VSS_EXIT_USAGE;
        }
        if (saved_load(rec, &sw) < 0)
                return VSS_EXIT_CORRUPT;
        for (size_t k = 0; k < c->n_comps; k++)
                if (!record_has(rec, c->comps[k].top)) {
                        vss_err("backup %.16s of the chain does not hold component '%s'", hex, c->comps[k].top);
                        ex = VSS_EXIT_USAGE;
                        goto out;
                }
        r = lvss_backup_new(&b);
        if (r >= 0)
                r = lvss_backup_initialize_for_restore(b, rec->components_doc);
        if (r < 0) {
                vss_err("backup %.16s: initialize for restore: %s: %s", hex, lvss_strerror(r),
                        b ? lvss_backup_last_error(b) : "");
                ex = vss_exit_lvss(r);
                goto out;
        }
        r = vss_wait(b, a, lvss_backup_gather_writer_metadata(b, &a), "gather writer metadata");
        if (r < 0)
                goto out;
        log_info_load(b, &li);
        if ((r = plan_step(c, rec, &sw, &li, &plan)) < 0)
                goto out;
        for (size_t k = 0; k < c->n_comps; k++) {
                rcomp *rc = &c->comps[k];
                r = lvss_backup_set_selected_for_restore(b, rc->writer_id, rc->type, rc->lp, rc->name, 1);
                if (r >= 0)
                        r = lvss_backup_set_additional_restores(b, rc->writer_id, rc->type, rc->lp, rc->name,
                                                                additional);
                json_t *opt = json_object();
                if (c->to)
                        json_object_set_new(opt, "alternate_location", json_string(c->to));
                else if (plan.staging[k])
                        json_object_set_new(opt, "backup_log_dir", json_string(plan.staging[k]));
                if (c->target_time)
                        json_object_set_new(opt, "target_time", json_string(c->target_time));
                if (c->target_lsn)
                        json_object_set_new(opt, "target_lsn", json_string(c->target_lsn));
                _cleanup_free_ char *opts = json_object_size(opt) ? json_dumps(opt, JSON_COMPACT) : NULL;
                json_decref(opt);
                if (r >= 0 && opts)
                        r = lvss_backup_set_restore_options(b, rc->writer_id, rc->type, rc->lp, rc->name, opts);
                if (r < 0) {
                        vss_err("component '%s': %s: %s", rc->path, lvss_strerror(r), lvss_backup_last_error(b));
                        if (r == LVSS_E_OBJECT_NOT_FOUND)
                                vss_err("is the writer '%s' running?", rc->writer_name);
                        goto out;
                }
        }
        vss_note(c->quiet, "backup %.16s (%s): pre-restore", hex, repo_backup_type_to_string(rec->type));
        r = vss_wait(b, a, lvss_backup_pre_restore(b, &a), "pre-restore");
        if (r < 0) {
                if (r != -EINTR)
                        print_failures(c, b);
                vss_err("restore refused: nothing was written");
                goto out;
        }
        if (vss_interrupted) {
                r = -EINTR;
                goto out;
        }
        for (size_t k = 0; k < c->n_comps; k++) {
                const char *st = plan.staging[k];
                if (!st)
                        continue;
                /* Every chain starts with a full backup: logs staged by an
                 * earlier, unfinished restore sequence do not belong here. */
                if (first)
                        remove_staging(st);
                int e = mkdir_p(st, 0750, 0750);
                if (e < 0)
                        vss_err("'%s': cannot create: %s", st, strerror(-e));
                bool have = false;
                for (size_t i = 0; i < c->n_staging; i++)
                        if (strcmp(c->staging_dirs[i], st) == 0)
                                have = true;
                if (!have && c->n_staging < MAX_COMPONENTS)
                        c->staging_dirs[c->n_staging++] = strdup(st);
        }
        sink_ctx sc = {.c = c, .plan = &plan};
        repo_meta_ctx_init(&sc.meta);
        repo_restore_sink sink = {.open = sink_open, .write = sink_write, .close = sink_close, .userdata = &sc};
        vss_note(c->quiet, "backup %.16s: writing %zu file(s)%s%s", hex, plan.n, c->to ? " to " : "",
                 c->to ? c->to : "");
        int wr = plan.n ? repo_restore(c->r, rec, sink_filter, &sc, &sink, vss_progress_fn, &c->prog) : 0;
        vss_progress_done(&c->prog);
        if (wr < 0)
                vss_err("backup %.16s: %s", hex, repo_last_error(c->r));
        else
                wr = sink_sync(&sc);
        sink_ctx_done(&sc);
        lvss_file_restore_status st = wr >= 0 ? LVSS_RS_ALL : sc.written ? LVSS_RS_FAILED : LVSS_RS_NONE;
        for (size_t k = 0; k < c->n_comps; k++) {
                rcomp *rc = &c->comps[k];
                lvss_backup_set_file_restore_status(b, rc->writer_id, rc->type, rc->lp, rc->name, st);
        }
        vss_note(c->quiet, "backup %.16s: post-restore%s", hex,
                 additional ? " (more restores follow: no recovery yet)" : " (the writer recovers)");
        r = vss_wait(b, a, lvss_backup_post_restore(b, &a), "post-restore");
        if (r < 0 && r != -EINTR)
                print_failures(c, b);
        if (wr < 0) {
                ex = vss_exit_repo(wr);
                goto out;
        }
        if (r >= 0)
                ex = VSS_EXIT_OK;
out:
        if (r == -EINTR || vss_interrupted) {
                vss_err("restore interrupted (%s)", strsignal(vss_interrupted ? vss_interrupted : SIGINT));
                ex = VSS_EXIT_FAIL;
        }
        log_info_free(&li);
        plan_free(&plan);
        lvss_backup_free(b);
        saved_free(&sw);
        return ex;
}

static int run_restore(restore_ctx *c, const char *repo_dir, const char *pwfile, const char *id_arg,
                       char **want, size_t n_want) {
        repo_record **chain = NULL;
        size_t n = 0;
        saved_writers sw = {};
        repo_id id;
        int ex, r;

        if ((ex = vss_open_repo(repo_dir, pwfile, REPO_LOCK_SHARED, &c->r)) != 0)
                return ex;
        r = repo_resolve_backup(c->r, id_arg, &id);
        if (r < 0) {
                vss_err("%s", repo_last_error(c->r));
                return r == -ENOENT || r == -EINVAL ? VSS_EXIT_USAGE : vss_exit_repo(r);
        }
        r = repo_backup_chain(c->r, &id, &chain, &n);
        if (r < 0 || n == 0) {
                vss_err("%s", repo_last_error(c->r));
                return vss_exit_repo(r < 0 ? r : -ENOENT);
        }
        const repo_record *last = chain[n - 1];
        c->backup_time_ns = last->time_ns;
        if (n_want == 0) {
                want = last->components;
                n_want = last->n_components;
        }
        ex = VSS_EXIT_USAGE;
        if (n_want == 0) {
                vss_err("backup %s holds no components", id_arg);
                goto out;
        }
        if (n_want > MAX_COMPONENTS) {
                vss_err("too many components");
                goto out;
        }
        if (saved_load(last, &sw) < 0) {
                ex = VSS_EXIT_CORRUPT;
                goto out;
        }
        for (size_t i = 0; i < n_want; i++) {
                size_t w, comp;
                lvss_writer_metadata_component_info ci;
                rcomp *rc = &c->comps[c->n_comps];
                if (saved_find(&sw, want[i], &w, &comp, &ci) < 0) {
                        vss_err("component '%s': not in backup %s", want[i], id_arg);
                        goto out;
                }
                if (!ci.selectable_for_restore && !ci.selectable) {
                        vss_err("component '%s': not selectable for restore", want[i]);
                        goto out;
                }
                lvss_writer_metadata_identity ident;
                lvss_writer_metadata_get_identity(sw.wm[w], &ident);
                rc->path = want[i];
                rc->writer_name = strdup(sw.names[w]);
                rc->writer_id = strdup(ident.writer_id);
                rc->lp = strdup(ci.logical_path);
                rc->name = strdup(ci.component_name);
                rc->type = ci.type;
                rc->top = NULL;
                for (size_t k = 0; k < last->n_components; k++)
                        if (vss_in_component_set(last->components[k], ci.logical_path, ci.component_name))
                                rc->top = strdup(last->components[k]);
                c->n_comps++;
                if (!rc->top) {
                        vss_err("component '%s': no backed-up component of backup %s holds it", want[i], id_arg);
                        goto out;
                }
        }
        if (c->to) {
                int k = mkdir_p(c->to, 0750, 0750);
                char *abs = k >= 0 ? realpath(c->to, NULL) : NULL;
                if (!abs) {
                        vss_err("--to '%s': %s", c->to, strerror(k < 0 ? -k : errno));
                        goto out;
                }
                c->to = abs; /* writers need an absolute path; freed at exit */
        }
        for (size_t i = 0; i < n; i++) {
                char hex[REPO_ID_HEX_SIZE];
                repo_id_to_hex(&chain[i]->id, hex);
                vss_note(c->quiet, "restoring step %zu of %zu: backup %.16s (%s)", i + 1, n, hex,
                         repo_backup_type_to_string(chain[i]->type));
                ex = run_step(c, chain[i], i == 0, i == n - 1);
                if (ex != VSS_EXIT_OK)
                        goto out;
        }
        /* Recovery ran (no more restores announced): the staged logs have
         * been replayed and are no longer needed. */
        if (!c->additional)
                for (size_t i = 0; i < c->n_staging; i++)
                        remove_staging(c->staging_dirs[i]);
        char hex[REPO_ID_HEX_SIZE];
        repo_id_to_hex(&id, hex);
        if (c->json) {
                json_t *steps = json_array(), *comps = json_array();
                for (size_t i = 0; i < n; i++) {
                        char h[REPO_ID_HEX_SIZE];
                        repo_id_to_hex(&chain[i]->id, h);
                        json_array_append_new(steps, json_pack("{s:s, s:s}", "id", h, "type",
                                                               repo_backup_type_to_string(chain[i]->type)));
                }
                for (size_t k = 0; k < c->n_comps; k++)
                        json_array_append_new(comps, json_string(c->comps[k].path));
                json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:b, s:I, s:I}", "id", hex, "chain", steps, "components",
                                      comps, "to", c->to ? json_string(c->to) : json_null(), "additional_restores",
                                      c->additional, "files", (json_int_t) c->files, "bytes", (json_int_t) c->bytes);
                char *s = json_dumps(o, JSON_INDENT(2));
                if (s)
                        puts(s);
                free(s);
                json_decref(o);
        } else if (!c->quiet)
                printf("restored %zu component(s) of backup %.16s through %zu step(s): %llu files, %.1f MiB%s%s\n",
                       c->n_comps, hex, n, (unsigned long long) c->files, c->bytes / 1048576.0, c->to ? " to " : "",
                       c->to ? c->to : "");
        ex = VSS_EXIT_OK;
out:
        saved_free(&sw);
        for (size_t i = 0; i < n; i++)
                repo_record_free(chain[i]);
        free(chain);
        return ex;
}

int cmd_restore(int argc, char **argv) {
        static const struct option longopts[] = {
                {"repo", required_argument, NULL, 'r'},
                {"password-file", required_argument, NULL, 'p'},
                {"insecure-password-file", no_argument, NULL, 'I'},
                {"component", required_argument, NULL, 'c'},
                {"to", required_argument, NULL, 'T'},
                {"additional-restores", no_argument, NULL, 'A'},
                {"target-time", required_argument, NULL, 't'},
                {"target-lsn", required_argument, NULL, 'L'},
                {"json", no_argument, NULL, 'j'},
                {"quiet", no_argument, NULL, 'q'},
                {"mailbox", required_argument, NULL, 'M'},
                {"message", required_argument, NULL, 'U'},
                {"into-live", no_argument, NULL, 'V'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        restore_ctx *c = calloc(1, sizeof(restore_ctx));
        const char *repo_dir = NULL, *pwfile = NULL;
        char *want[MAX_COMPONENTS];
        size_t n_want = 0;
        const char *mailbox = NULL;
        uint32_t uids[MAX_COMPONENTS];
        size_t n_uids = 0;
        bool into_live = false;
        int o;

        if (!c)
                return VSS_EXIT_FAIL;
        optind = 1;
        while ((o = getopt_long(argc, argv, "hq", longopts, NULL)) >= 0) {
                switch (o) {
                case 'r': repo_dir = optarg; break;
                case 'p': pwfile = optarg; break;
                case 'I': password_allow_insecure_file(true); break;
                case 'c':
                        if (n_want >= MAX_COMPONENTS) {
                                vss_err("too many --component options");
                                free(c);
                                return VSS_EXIT_USAGE;
                        }
                        want[n_want++] = optarg;
                        break;
                case 'T': c->to = optarg; break;
                case 'A': c->additional = true; break;
                case 't': c->target_time = optarg; break;
                case 'L': c->target_lsn = optarg; break;
                case 'j': c->json = true; break;
                case 'M': mailbox = optarg; break;
                case 'V': into_live = true; break;
                case 'U': {
                        char *end;
                        errno = 0;
                        unsigned long long u = strtoull(optarg, &end, 10);
                        if (errno || *end || !*optarg || optarg[0] == '-' || u == 0 || u > UINT32_MAX ||
                            n_uids >= MAX_COMPONENTS) {
                                vss_err("restore: invalid --message '%s' (a UID; at most %d)", optarg, MAX_COMPONENTS);
                                free(c);
                                return VSS_EXIT_USAGE;
                        }
                        uids[n_uids++] = (uint32_t) u;
                        break;
                }
                case 'q': c->quiet = true; break;
                case 'h': fputs(restore_help, stdout); free(c); return VSS_EXIT_OK;
                default: free(c); return VSS_EXIT_USAGE;
                }
        }
        if (!repo_dir || optind != argc - 1) {
                vss_err("restore: %s (see 'lvss-backup restore --help')",
                        !repo_dir ? "--repo DIR is required" : "expected one backup ID");
                free(c);
                return VSS_EXIT_USAGE;
        }
        if (c->target_time && c->target_lsn) {
                vss_err("restore: --target-time and --target-lsn exclude each other");
                free(c);
                return VSS_EXIT_USAGE;
        }
        if ((mailbox || n_uids) && !into_live) {
                vss_err("restore: --mailbox and --message go with --into-live");
                free(c);
                return VSS_EXIT_USAGE;
        }
        if (into_live && (!mailbox || n_want == 0 || c->to || c->additional)) {
                vss_err("restore: --into-live needs --mailbox and the database's --component, and excludes --to "
                        "and --additional-restores");
                free(c);
                return VSS_EXIT_USAGE;
        }
        bool json = c->json;
        if (c->json)
                c->quiet = true;
        /* --into-live: the chain is restored into a scratch recovery
         * directory (an alternate location: production is not touched and
         * stays mounted), root-owned in a sticky root-owned parent so it
         * passes the writer's restore path rules. */
        char scratch[] = "/var/tmp/lvss-into-live.XXXXXX";
        if (into_live) {
                if (!mkdtemp(scratch)) {
                        vss_err("restore: cannot make a scratch directory in /var/tmp: %s", strerror(errno));
                        free(c);
                        return VSS_EXIT_FAIL;
                }
                c->to = scratch;
                c->json = false;
        }
        const char *given_to = c->to;
        vss_progress_init(&c->prog, c->quiet, "restore");
        vss_install_signals();
        int ex = run_restore(c, repo_dir, pwfile, argv[optind], want, n_want);
        if (into_live) {
                if (ex == VSS_EXIT_OK)
                        ex = into_live_copy(scratch, mailbox, uids, n_uids, c->backup_time_ns, json, c->quiet);
                into_live_remove_scratch(scratch);
        }
        for (size_t k = 0; k < c->n_comps; k++) {
                free(c->comps[k].writer_name);
                free(c->comps[k].writer_id);
                free(c->comps[k].lp);
                free(c->comps[k].name);
                free(c->comps[k].top);
        }
        for (size_t i = 0; i < c->n_staging; i++)
                free(c->staging_dirs[i]);
        if (c->to != given_to)
                free((char *) c->to);
        repo_close(c->r);
        free(c);
        return ex;
}
