/* SPDX-License-Identifier: MIT */
/*
 * lvss-backup create: one application-consistent backup through lvssd.
 *
 * The VSS backup sequence (vss-model §2, docs/design/backup.md):
 *   open the repository (exclusive) -> InitializeForBackup -> SetBackupState
 *   (component mode, type) -> GatherWriterMetadata -> select components
 *   (--component or every selectable one; their component sets, required
 *   components and dependencies) -> choose the base (incremental:
 *   newest full/incremental holding them; differential: newest full) and
 *   hand back the writers' previous stamps -> StartSnapshotSet ->
 *   AddToSnapshotSet (the directories of the selected file sets) ->
 *   PrepareForBackup -> DoSnapshotSet -> per component: store the files read
 *   from the snapshot only while a second thread verifies them there (Mail
 *   Store Writer: libmstore page and log verifiers) -> SetBackupSucceeded ->
 *   save the BCD -> commit the record -> BackupComplete.
 *
 * The record is committed before BackupComplete on purpose: writers truncate
 * logs at BackupComplete, so the backup that makes truncation safe must be
 * durable first (if the commit fails every component is reported failed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lvss/error.h>
#include <mstore/mstore.h>

#include "array.h"
#include "requestor.h"
#include "fs-util.h"
#include "macro.h"
#include "password.h"
#include "reuse.h"
#include "vss.h"
#include "test-hook.h"
#include "time-util.h"

#define MAX_SELECTED 1024

typedef struct cwriter {
        const char *instance_id;
        const lvss_writer_metadata *wm;
        lvss_writer_metadata_identity id;
        bool used;
} cwriter;

typedef struct csel {
        size_t w;                  /* index into writers */
        size_t comp;               /* component index in the writer's metadata */
        lvss_writer_metadata_component_info ci;
        char *path;                /* "logical path/name" */
        ssize_t top;               /* index of the selected (backup) component whose set holds it; -1 = itself */
        bool failed;
        char *prev_stamp;          /* the base's stamp handed back, NULL if none */
} csel;

typedef struct create_ctx {
        bool json, quiet;
        int type;                   /* enum repo_backup_type */
        lvss_backup_type lvss_type;
        repo *r;
        repo_backup *rb;
        lvss_backup *b;
        cwriter *writers;
        size_t n_writers;
        csel sel[MAX_SELECTED];
        size_t n_sel;
        char **stored;              /* manifest paths stored so far (a path is stored once) */
        size_t n_stored, cap_stored;
        vss_progress prog;
        int progress_fd;            /* --progress-fd, -1 = none */
        bool prepared;
        /* What run_create's steps hand on to the next. */
        lvss_id set;
        uint64_t fw_usec;           /* the writers' freeze window */
        size_t n_ok, n_top;         /* top components verified / selected */
        int store_err;              /* nothing can be committed (a repository error) */
        bool committed, complete_failed;
        repo_id id;                 /* the committed backup */
        bool no_reuse;              /* --no-reuse */
        int compression;            /* --compression: enum repo_compression */
        reuse_ctx *reuse;           /* full/copy: unchanged ranges of .edb/.stm (reuse.c); NULL = read all */
        /* The repository's key derivation and index loading (repo_open_keys)
         * on a thread of its own while lvssd makes the snapshot set. */
        pthread_t keys_thread;
        bool keys_running;
        char *password;
        int keys_err;               /* repo_open_keys' result */
        char keys_msg[1024];        /* and its message */
} create_ctx;

static const char create_help[] =
        "Usage: lvss-backup create --repo DIR [--type full|copy|incremental|differential]\n"
        "                          [--component PATH]... [--password-file FILE] [--insecure-password-file] [--json] [--quiet]\n"
        "                          [--no-reuse] [--compression auto|fast|max|off]\n"
        "\n"
        "Take one application-consistent backup through lvssd: the writers' components are\n"
        "frozen, snapshotted and read from the snapshot into the repository, together with the\n"
        "backup components document, each writer's metadata and backup stamps.\n"
        "\n"
        "  --type T          full (default), copy, incremental or differential; an incremental\n"
        "                    or differential needs an earlier full backup of the same components\n"
        "  --component PATH  a component as its logical path + '/' + name, e.g.\n"
        "                    'Mail Store/h1/SG1'; repeatable; default: every selectable component\n"
        "  --json            print {\"id\",\"type\",\"components\",\"bytes_read\",\"bytes_added\",\n"
        "                    \"bytes_reused\",\"duration_ms\",\"freeze_window_ms\"}\n"
        "  --no-reuse        full/copy: read every byte of the databases instead of naming the\n"
        "                    previous backup's chunks for ranges whose pages are unchanged\n"
        "  --compression C   zstd level of the new chunks: auto (default: a level per data type),\n"
        "                    fast (level 1), max (level 3 for every file) or off (uncompressed)\n"
        "  --quiet           no progress or narration\n"
        "  --progress-fd N   write {\"bytes_done\",\"bytes_total\",\"files\"} lines to fd N (3 or more)\n"
        "                    at most every 250 ms (lvss-backupd reads them)\n"
        "\n"
        "Exit codes: 0 ok, 1 failed (writer veto, verification failure, no usable full backup\n"
        "for an incremental/differential, interrupted), 2 usage or unknown component, 4 busy\n"
        "(another snapshot set in creation, repository locked), 5 access denied, 6 corruption.\n";

static int stored_add(create_ctx *c, const char *path) {
        for (size_t i = 0; i < c->n_stored; i++)
                if (strcmp(c->stored[i], path) == 0)
                        return 0;
        if (ARRAY_RESERVE_ONE(c->stored, c->cap_stored, c->n_stored, 16) < 0)
                return -ENOMEM;
        if (!(c->stored[c->n_stored] = strdup(path)))
                return -ENOMEM;
        c->n_stored++;
        return 1;
}

/* ------------------------------------------------------------ selection */

static ssize_t find_sel(create_ctx *c, size_t w, size_t comp) {
        for (size_t i = 0; i < c->n_sel; i++)
                if (c->sel[i].w == w && c->sel[i].comp == comp)
                        return (ssize_t) i;
        return -1;
}

static int add_sel(create_ctx *c, size_t w, size_t comp, ssize_t top) {
        ssize_t have = find_sel(c, w, comp);
        if (have >= 0)
                return (int) have;
        if (c->n_sel >= MAX_SELECTED) {
                vss_err("too many components selected (at most %d)", MAX_SELECTED);
                return -E2BIG;
        }
        csel *s = &c->sel[c->n_sel];
        *s = (csel) {.w = w, .comp = comp, .top = top};
        if (lvss_writer_metadata_get_component_info(c->writers[w].wm, comp, &s->ci) < 0)
                return -EINVAL;
        s->path = vss_component_path(s->ci.logical_path, s->ci.component_name);
        if (!s->path)
                return -ENOMEM;
        c->writers[w].used = true;
        return (int) c->n_sel++;
}

/* Select component (w,comp) for backup and everything that goes with it:
 * its component set (components below it), then dependencies. */
static int select_top(create_ctx *c, size_t w, size_t comp) {
        int k = add_sel(c, w, comp, -1);
        if (k < 0)
                return k;
        size_t top = (size_t) k;
        const lvss_writer_metadata *wm = c->writers[w].wm;
        int n = lvss_writer_metadata_get_component_count(wm);
        for (int i = 0; i < n; i++) {
                lvss_writer_metadata_component_info ci;
                if ((size_t) i == comp || lvss_writer_metadata_get_component_info(wm, (size_t) i, &ci) < 0)
                        continue;
                /* Sub-components are added explicitly too, so that a later
                 * restore can select one (e.g. a single database). */
                if (vss_in_component_set(c->sel[top].path, ci.logical_path, ci.component_name)) {
                        int r = add_sel(c, w, (size_t) i, (ssize_t) top);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int find_component(create_ctx *c, const char *path, size_t *ret_w, size_t *ret_comp) {
        for (size_t w = 0; w < c->n_writers; w++) {
                int n = lvss_writer_metadata_get_component_count(c->writers[w].wm);
                for (int i = 0; i < n; i++) {
                        lvss_writer_metadata_component_info ci;
                        if (lvss_writer_metadata_get_component_info(c->writers[w].wm, (size_t) i, &ci) < 0)
                                continue;
                        _cleanup_free_ char *p = vss_component_path(ci.logical_path, ci.component_name);
                        if (p && strcmp(p, path) == 0) {
                                *ret_w = w;
                                *ret_comp = (size_t) i;
                                return 0;
                        }
                }
        }
        return -ENOENT;
}

static int select_components(create_ctx *c, char **want, size_t n_want) {
        int r;
        for (size_t i = 0; i < n_want; i++) {
                size_t w, comp;
                if (find_component(c, want[i], &w, &comp) < 0) {
                        vss_err("component '%s': no running writer declares it (see 'lvssadm writer-metadata')",
                                want[i]);
                        return -EINVAL;
                }
                lvss_writer_metadata_component_info ci;
                lvss_writer_metadata_get_component_info(c->writers[w].wm, comp, &ci);
                if (!ci.selectable) {
                        vss_err("component '%s': not selectable for backup (it is backed up with the component "
                                "'%s' it belongs to)",
                                want[i], *ci.logical_path ? ci.logical_path : "?");
                        return -EINVAL;
                }
                if ((r = select_top(c, w, comp)) < 0)
                        return r;
        }
        if (n_want == 0)
                for (size_t w = 0; w < c->n_writers; w++) {
                        int n = lvss_writer_metadata_get_component_count(c->writers[w].wm);
                        for (int i = 0; i < n; i++) {
                                lvss_writer_metadata_component_info ci;
                                if (lvss_writer_metadata_get_component_info(c->writers[w].wm, (size_t) i, &ci) >= 0 &&
                                    ci.selectable && find_sel(c, w, (size_t) i) < 0 &&
                                    (r = select_top(c, w, (size_t) i)) < 0)
                                        return r;
                        }
                }
        /* Non-selectable components without a selectable ancestor are
         * required whenever anything of their writer is chosen. */
        for (size_t w = 0; w < c->n_writers; w++) {
                if (!c->writers[w].used)
                        continue;
                int n = lvss_writer_metadata_get_component_count(c->writers[w].wm);
                for (int i = 0; i < n; i++) {
                        lvss_writer_metadata_component_info ci;
                        if (lvss_writer_metadata_get_component_info(c->writers[w].wm, (size_t) i, &ci) < 0 || ci.selectable ||
                            find_sel(c, w, (size_t) i) >= 0)
                                continue;
                        bool has_selectable_ancestor = false;
                        for (int j = 0; j < n; j++) {
                                lvss_writer_metadata_component_info cj;
                                if (j == i || lvss_writer_metadata_get_component_info(c->writers[w].wm, (size_t) j, &cj) < 0 ||
                                    !cj.selectable)
                                        continue;
                                _cleanup_free_ char *pj = vss_component_path(cj.logical_path, cj.component_name);
                                if (pj && vss_in_component_set(pj, ci.logical_path, ci.component_name))
                                        has_selectable_ancestor = true;
                        }
                        if (!has_selectable_ancestor && (r = select_top(c, w, (size_t) i)) < 0)
                                return r;
                }
        }
        /* Dependencies: pull in what a selected component depends on. */
        for (size_t i = 0; i < c->n_sel; i++) {
                csel *s = &c->sel[i];
                for (size_t d = 0; d < s->ci.dependency_count; d++) {
                        lvss_writer_metadata_dependency dep;
                        if (lvss_writer_metadata_get_component_dependency(c->writers[s->w].wm, s->comp, d, &dep) < 0)
                                continue;
                        _cleanup_free_ char *p = vss_component_path(dep.logical_path, dep.component_name);
                        size_t w2, comp2;
                        if (!p || find_component(c, p, &w2, &comp2) < 0 ||
                            strcmp(c->writers[w2].id.writer_id, dep.writer_id) != 0) {
                                vss_err("component '%s' depends on '%s' of writer %s, which is not running",
                                        s->path, p ? p : "?", dep.writer_id);
                                return -ENOENT;
                        }
                        if (find_sel(c, w2, comp2) < 0 && (r = select_top(c, w2, comp2)) < 0)
                                return r;
                }
        }
        if (c->n_sel == 0) {
                vss_err("nothing to back up: no writer declares a selectable component");
                return -ENOENT;
        }
        for (size_t i = 0; i < c->n_sel; i++) {
                csel *s = &c->sel[i];
                cwriter *w = &c->writers[s->w];
                r = lvss_backup_add_component(c->b, w->instance_id, w->id.writer_id, s->ci.type, s->ci.logical_path,
                                              s->ci.component_name);
                if (r < 0) {
                        vss_err("component '%s': %s: %s", s->path, lvss_strerror(r), lvss_backup_last_error(c->b));
                        return r;
                }
        }
        return 0;
}

/* ----------------------------------------------------- base and stamps */

static bool record_has(const repo_record *rec, const char *comp) {
        for (size_t i = 0; i < rec->n_components; i++)
                if (strcmp(rec->components[i], comp) == 0)
                        return true;
        return false;
}

/* The base of an incremental (newest full or incremental) or differential
 * (newest full) that holds every selected top component. */
static int choose_base(create_ctx *c, repo_id *ret_base) {
        repo_record **recs = NULL;
        size_t n = 0;
        int r = repo_list_backups(c->r, &recs, &n);
        if (r < 0) {
                vss_err("%s", repo_last_error(c->r));
                return r;
        }
        r = -ENOENT;
        for (size_t i = n; i-- > 0 && r == -ENOENT;) {
                const repo_record *rec = recs[i];
                if (!(rec->type == REPO_BACKUP_FULL ||
                      (c->type == REPO_BACKUP_INCREMENTAL && rec->type == REPO_BACKUP_INCREMENTAL)))
                        continue;
                bool all = true;
                for (size_t k = 0; k < c->n_sel && all; k++)
                        if (c->sel[k].top < 0 && !record_has(rec, c->sel[k].path))
                                all = false;
                if (all) {
                        *ret_base = rec->id;
                        r = 0;
                }
        }
        for (size_t i = 0; i < n; i++)
                repo_record_free(recs[i]);
        free(recs);
        if (r == -ENOENT) {
                char list[1024] = "";
                for (size_t k = 0; k < c->n_sel; k++)
                        if (c->sel[k].top < 0 && strlen(list) + strlen(c->sel[k].path) + 5 < sizeof(list))
                                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s'%s'", *list ? ", " : "",
                                         c->sel[k].path);
                vss_err("%s backup refused: the repository holds no full backup of %s; take a full backup first",
                        repo_backup_type_to_string(c->type), list);
        }
        return r;
}

/* Previous stamps: the base record keeps, per writer, a JSON object
 * {"<component path>": "<stamp>"} (docs/design/backup.md). */
static int set_previous_stamps(create_ctx *c) {
        /* Only incremental and differential backups build on a base. */
        const repo_record *base = c->type == REPO_BACKUP_INCREMENTAL || c->type == REPO_BACKUP_DIFFERENTIAL
                                          ? repo_backup_base(c->rb)
                                          : NULL;
        if (!base)
                return 0;
        for (size_t i = 0; i < c->n_sel; i++) {
                csel *s = &c->sel[i];
                cwriter *w = &c->writers[s->w];
                if (s->top >= 0)
                        continue;
                for (size_t k = 0; k < base->n_writers; k++) {
                        if (strcmp(base->writers[k].name, w->id.writer_name) != 0 || !base->writers[k].stamp)
                                continue;
                        json_t *j = json_loads(base->writers[k].stamp, 0, NULL);
                        const char *st = json_string_value(json_object_get(j, s->path));
                        int r = 0;
                        if (st && !(s->prev_stamp = strdup(st)))
                                r = -ENOMEM;
                        if (st && r >= 0)
                                r = lvss_backup_set_previous_backup_stamp(c->b, w->id.writer_id, s->ci.type,
                                                                          s->ci.logical_path, s->ci.component_name, st);
                        json_decref(j);
                        if (r < 0) {
                                vss_err("component '%s': previous stamp: %s", s->path, lvss_backup_last_error(c->b));
                                return r;
                        }
                }
        }
        return 0;
}

/* ----------------------------------------------------------- file sets */

typedef struct fdesc_list {
        lvss_writer_metadata_filedesc *v;
        size_t n, cap;
} fdesc_list;

static int fdl_add(fdesc_list *l, const lvss_writer_metadata_filedesc *fd) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->v[i].path, fd->path) == 0 && strcmp(l->v[i].filespec, fd->filespec) == 0 &&
                    l->v[i].recursive == fd->recursive)
                        return 0;
        if (ARRAY_RESERVE_ONE(l->v, l->cap, l->n, 8) < 0)
                return -ENOMEM;
        l->v[l->n++] = *fd;
        return 0;
}

/* The file descriptors of selected top component t and its component set. */
static int collect_fdescs(create_ctx *c, size_t t, fdesc_list *ret) {
        for (size_t i = 0; i < c->n_sel; i++) {
                csel *s = &c->sel[i];
                if (i != t && s->top != (ssize_t) t)
                        continue;
                const lvss_writer_metadata *wm = c->writers[s->w].wm;
                lvss_writer_metadata_filedesc fd;
                for (size_t j = 0; j < s->ci.file_count; j++)
                        if (lvss_writer_metadata_get_component_file(wm, s->comp, j, &fd) >= 0 && fdl_add(ret, &fd) < 0)
                                return -ENOMEM;
                for (size_t j = 0; j < s->ci.database_count; j++)
                        if (lvss_writer_metadata_get_component_database_file(wm, s->comp, j, &fd) >= 0 && fdl_add(ret, &fd) < 0)
                                return -ENOMEM;
                for (size_t j = 0; j < s->ci.log_file_count; j++)
                        if (lvss_writer_metadata_get_component_log_file(wm, s->comp, j, &fd) >= 0 && fdl_add(ret, &fd) < 0)
                                return -ENOMEM;
        }
        return 0;
}

static const char *fd_source(const lvss_writer_metadata_filedesc *fd) {
        return fd->alternate_location && *fd->alternate_location ? fd->alternate_location : fd->path;
}

static bool path_under(const char *p, const char *dir) {
        size_t l = strlen(dir);
        return strncmp(p, dir, l) == 0 && (p[l] == '/' || p[l] == 0 || (l == 1 && dir[0] == '/'));
}

static int add_volumes(create_ctx *c) {
        char **dirs = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        for (size_t t = 0; t < c->n_sel && r >= 0; t++) {
                if (c->sel[t].top >= 0)
                        continue;
                fdesc_list l = {};
                r = collect_fdescs(c, t, &l);
                for (size_t i = 0; i < l.n && r >= 0; i++) {
                        const char *src = fd_source(&l.v[i]);
                        bool have = false;
                        for (size_t k = 0; k < n; k++)
                                if (strcmp(dirs[k], src) == 0)
                                        have = true;
                        if (have)
                                continue;
                        if (ARRAY_RESERVE_ONE(dirs, cap, n, 8) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        dirs[n++] = strdup(src);
                }
                free(l.v);
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                bool nested = false;
                for (size_t k = 0; k < n; k++)
                        if (k != i && strcmp(dirs[k], dirs[i]) != 0 && path_under(dirs[i], dirs[k]))
                                nested = true;
                if (nested)
                        continue;
                if (access(dirs[i], F_OK) < 0) {
                        vss_err("'%s': %m (named by a writer's file set)", dirs[i]);
                        r = -errno;
                        break;
                }
                lvss_id snap;
                r = lvss_backup_add_to_snapshot_set(c->b, dirs[i], NULL, &snap);
                if (r < 0)
                        vss_err("add '%s' to the snapshot set: %s", dirs[i], lvss_backup_last_error(c->b));
        }
        for (size_t i = 0; i < n; i++)
                free(dirs[i]);
        free(dirs);
        return r;
}

static bool excluded(create_ctx *c, size_t w, const char *abs) {
        const lvss_writer_metadata *wm = c->writers[w].wm;
        int n = lvss_writer_metadata_get_exclude_file_count(wm);
        for (int i = 0; i < n; i++) {
                lvss_writer_metadata_filedesc fd;
                if (lvss_writer_metadata_get_exclude_file(wm, (size_t) i, &fd) >= 0 && vss_filedesc_match(&fd, abs, NULL))
                        return true;
        }
        return false;
}

/* What the writer listed as this backup's files in its backup metadata
 * (Mail Store Writer: {"logs":[...],"databases":[{"edb","stm"}],"checkpoint"};
 * generic: {"files":[...]}), or NULL when it listed none: then every file
 * matching the file sets is stored. */
static json_t *writer_file_list(const char *metadata) {
        if (!metadata || !*metadata)
                return NULL;
        json_t *m = json_loads(metadata, 0, NULL);
        if (!json_is_object(m)) {
                json_decref(m);
                return NULL;
        }
        json_t *set = json_object(), *v;
        size_t i;
        bool any = false;
        json_array_foreach(json_object_get(m, "logs"), i, v) if (json_is_string(v)) {
                json_object_set(set, json_string_value(v), json_true());
                any = true;
        }
        json_array_foreach(json_object_get(m, "files"), i, v) if (json_is_string(v)) {
                json_object_set(set, json_string_value(v), json_true());
                any = true;
        }
        json_array_foreach(json_object_get(m, "databases"), i, v) {
                const char *e = json_string_value(json_object_get(v, "edb"));
                const char *s = json_string_value(json_object_get(v, "stm"));
                if (e)
                        json_object_set(set, e, json_true());
                if (s)
                        json_object_set(set, s, json_true());
                any = true;
        }
        const char *chk = json_string_value(json_object_get(m, "checkpoint"));
        if (chk) {
                json_object_set(set, chk, json_true());
                any = true;
        }
        if (!json_is_array(json_object_get(m, "logs")) && !json_is_array(json_object_get(m, "files")))
                any = false;
        json_decref(m);
        if (!any) {
                json_decref(set);
                return NULL;
        }
        return set;
}

/* {"after_snapshot":{"dir":D,"names":[...],"only":true}}: the names are
 * this backup's only files of D (the PostgreSQL Writer's full: the WAL from
 * its start to its stop LSN, not the whole archive); D's files in the
 * snapshot are not read.  NULL without "only". */
static char *after_snapshot_only_dir(const char *metadata) {
        json_t *m = metadata && *metadata ? json_loads(metadata, 0, NULL) : NULL;
        json_t *a = json_object_get(m, "after_snapshot");
        const char *dir = json_string_value(json_object_get(a, "dir"));
        char *r = dir && *dir && json_is_true(json_object_get(a, "only")) ? strdup(dir) : NULL;
        json_decref(m);
        return r;
}

/* Which of the matching files this backup stores. */
typedef struct file_filter {
        json_t *list;          /* the writer's list of this backup's files, or NULL */
        char *live_only_dir;   /* after_snapshot with "only": its directory's files are not read from the snapshot */
        bool mail_fallback;    /* Mail Store Writer without a list: by name and stamp */
        bool logs_only;        /* incremental/differential: closed logs only */
        uint32_t gen_low, gen_high;
} file_filter;

static bool filter_allows(const file_filter *ff, const char *orig, const char *name) {
        if (ff->live_only_dir) {
                size_t l = strlen(ff->live_only_dir);
                if (strncmp(orig, ff->live_only_dir, l) == 0 && orig[l] == '/' && !strchr(orig + l + 1, '/'))
                        return false;
        }
        if (ff->list)
                return json_object_get(ff->list, orig) != NULL;
        if (ff->mail_fallback) {
                uint32_t g;
                if (vss_mail_closed_log(name, &g))
                        return g >= ff->gen_low && g <= ff->gen_high;
                if (vss_mail_live_only(name))
                        return false;
                return !ff->logs_only;
        }
        return true;
}

typedef struct file_plan {
        char *orig;   /* original absolute path (recorded) */
        char *snap;   /* where it is read: inside the snapshot */
} file_plan;

typedef struct plan_list {
        file_plan *v;
        size_t n, cap;
        uint64_t bytes;  /* the planned files' sizes (progress's bytes_total) */
} plan_list;

static void plan_free(plan_list *p) {
        for (size_t i = 0; i < p->n; i++) {
                free(p->v[i].orig);
                free(p->v[i].snap);
        }
        free(p->v);
        *p = (plan_list) {};
}

static int plan_add(plan_list *p, const char *orig, const char *snap, uint64_t size) {
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->v[i].orig, orig) == 0)
                        return 0;
        if (ARRAY_RESERVE_ONE(p->v, p->cap, p->n, 16) < 0)
                return -ENOMEM;
        file_plan *v = p->v;
        v[p->n].orig = strdup(orig);
        v[p->n].snap = strdup(snap);
        if (!v[p->n].orig || !v[p->n].snap)
                return -ENOMEM;
        p->n++;
        p->bytes += size;
        return 0;
}

/* Walk snapshot directory sdir (the snapshot of original directory odir)
 * and plan every regular file that fd matches, not excluded, and (when the
 * writer gave a list) listed. */
static int walk(create_ctx *c, size_t w, const lvss_writer_metadata_filedesc *fd, const char *odir, const char *sdir,
                const file_filter *ff, plan_list *plan, int depth) {
        DIR *d = opendir(sdir);
        if (!d) {
                if (errno == ENOENT && depth == 0)
                        return 0;
                vss_err("'%s': cannot read: %m", sdir);
                return -errno;
        }
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    strcmp(de->d_name, ".lvss-snapshots") == 0)
                        continue;
                _cleanup_free_ char *o = NULL, *s = NULL;
                if (asprintf(&o, "%s/%s", odir, de->d_name) < 0 || asprintf(&s, "%s/%s", sdir, de->d_name) < 0)
                        return closedir(d), -ENOMEM;
                struct stat st;
                if (lstat(s, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        if (fd->recursive && depth < 64)
                                r = walk(c, w, fd, o, s, ff, plan, depth + 1);
                        continue;
                }
                if (!S_ISREG(st.st_mode) || fnmatch(fd->filespec, de->d_name, 0) != 0)
                        continue;
                if (excluded(c, w, o))
                        continue;
                if (!filter_allows(ff, o, de->d_name))
                        continue;
                r = plan_add(plan, o, s, (uint64_t) st.st_size);
        }
        closedir(d);
        return r;
}

/* The original path recorded for a file read through an alternate location
 * is the file set's normal path (at restore it goes back there). */
static int plan_component(create_ctx *c, size_t t, const file_filter *ff, plan_list *plan) {
        fdesc_list l = {};
        int r = collect_fdescs(c, t, &l);
        for (size_t i = 0; i < l.n && r >= 0; i++) {
                _cleanup_free_ char *sp = NULL;
                r = lvss_backup_get_snapshot_path(c->b, fd_source(&l.v[i]), &sp);
                if (r < 0) {
                        vss_err("component '%s': '%s' is not in the snapshot: %s", c->sel[t].path, fd_source(&l.v[i]),
                                lvss_backup_last_error(c->b));
                        break;
                }
                r = walk(c, c->sel[t].w, &l.v[i], l.v[i].path, sp, ff, plan, 0);
        }
        free(l.v);
        return r;
}

/* --------------------------------------------------------- verification */

static int open_snapshot_file(const char *snap, struct stat *ret_st);

/* Mail Store Writer components: every page of the databases and the log
 * set, read from the snapshot through libmstore's verifiers.  The check runs
 * on a thread of its own while the main thread stores the same files (both
 * read the snapshot; one pass over the data instead of two one after the
 * other); the component is reported successful only when both are done and
 * the check passed, and a component that failed it is taken out of the
 * manifest again (its blobs are named by no record).  The verifier hands out
 * each file's page sums as it checked them (mstore_verify_file_sums): the
 * reuse of unchanged ranges (reuse.c) decides from them, so a page is read
 * once for both; a file with a source to reuse from waits for its sums
 * before it is stored (verify_sums). */
typedef struct verify_job {
        const char *component;
        char **snap, **orig;       /* the .edb and .stm files (snap: /proc/self/fd/N of fds) */
        int *fds;                  /* opened with open_snapshot_file(), for the verifier */
        size_t n_files;
        unsigned *vflags;          /* per file: MSTORE_VERIFY_DIRECT when the store reads little of it */
        mstore_page_sum **sums;    /* per file, set by the verifier (under lock) */
        uint64_t *n_sums;
        size_t n_done;             /* files the verifier has finished (under lock) */
        bool exited;               /* the verifier thread returned (under lock) */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        char *log_snap[4], *log_dir[4], log_base[4][4];
        size_t n_logs;
        FILE *msgs;                /* what failed, printed by the main thread after the join */
        char *msg_buf;
        size_t msg_len;
        atomic_bool failed, stop;
        pthread_t thread;
        bool started, sync_init;
} verify_job;

typedef struct verify_cb_ctx {
        FILE *out;
        const char *file;
} verify_cb_ctx;

static void verify_cb(uint64_t n, const char *what, void *userdata) {
        const verify_cb_ctx *v = userdata;
        fprintf(v->out, "lvss-backup: verify '%s': %s (page/generation %llu)\n", v->file, what, (unsigned long long) n);
}

static void verify_run(verify_job *j) {
        for (size_t i = 0; i < j->n_files && !atomic_load(&j->stop); i++) {
                verify_cb_ctx v = {j->msgs, j->orig[i]};
                mstore_verify_result res = {};
                mstore_page_sum *sums = NULL;
                uint64_t n = 0;
                int r = mstore_verify_file_sums(j->snap[i], j->vflags[i], verify_cb, &v, &res, &sums, &n);
                if (r >= 0) {
                        pthread_mutex_lock(&j->lock);
                        j->sums[i] = sums;
                        j->n_sums[i] = n;
                        j->n_done = i + 1;
                        pthread_cond_broadcast(&j->cond);
                        pthread_mutex_unlock(&j->lock);
                } else
                        free(sums);   /* a file that failed gives no sums: nothing is reused from it */
                if (r < 0) {
                        fprintf(j->msgs, "lvss-backup: component '%s': '%s' failed verification: %s\n", j->component,
                                j->orig[i], *mstore_last_error() ? mstore_last_error() : mstore_strerror(r));
                        atomic_store(&j->failed, true);
                        return;
                }
        }
        for (size_t i = 0; i < j->n_logs && !atomic_load(&j->stop); i++) {
                verify_cb_ctx v = {j->msgs, j->log_dir[i]};
                mstore_verify_result res = {};
                int r = mstore_verify_logs(j->log_snap[i], j->log_base[i], verify_cb, &v, &res);
                if (r < 0) {
                        fprintf(j->msgs, "lvss-backup: component '%s': the log set %s* in '%s' failed verification: %s\n",
                                j->component, j->log_base[i], j->log_dir[i],
                                *mstore_last_error() ? mstore_last_error() : mstore_strerror(r));
                        atomic_store(&j->failed, true);
                        return;
                }
        }
}

static void *verify_thread(void *arg) {
        verify_job *j = arg;
        verify_run(j);
        pthread_mutex_lock(&j->lock);
        j->exited = true;
        pthread_cond_broadcast(&j->cond);
        pthread_mutex_unlock(&j->lock);
        return NULL;
}

/* reuse_sums_fn of file k: waits until the verifier has finished it. */
typedef struct verify_sums_req {
        verify_job *j;
        size_t k;
} verify_sums_req;

static bool verify_sums(void *userdata, const mstore_page_sum **ret_sums, uint64_t *ret_n) {
        verify_sums_req *q = userdata;
        verify_job *j = q->j;
        bool ok;

        if (!j->started || q->k >= j->n_files)
                return false;
        pthread_mutex_lock(&j->lock);
        while (j->n_done <= q->k && !j->exited)
                pthread_cond_wait(&j->cond, &j->lock);
        ok = j->n_done > q->k && j->sums[q->k];
        if (ok) {
                *ret_sums = j->sums[q->k];
                *ret_n = j->n_sums[q->k];
        }
        pthread_mutex_unlock(&j->lock);
        return ok;
}

/* The verifier's index of the .edb/.stm stored as orig (n_files: none). */
static size_t verify_file_index(const verify_job *j, const char *orig) {
        for (size_t k = 0; k < j->n_files; k++)
                if (strcmp(j->orig[k], orig) == 0)
                        return k;
        return j->n_files;
}

static void verify_job_free(verify_job *j) {
        for (size_t i = 0; i < j->n_files; i++) {
                free(j->snap[i]);
                free(j->orig[i]);
                if (j->fds[i] >= 0)
                        close(j->fds[i]);
                if (j->sums)
                        free(j->sums[i]);
        }
        free(j->fds);
        free(j->sums);
        free(j->n_sums);
        free(j->vflags);
        if (j->sync_init) {
                pthread_mutex_destroy(&j->lock);
                pthread_cond_destroy(&j->cond);
        }
        free(j->snap);
        free(j->orig);
        for (size_t i = 0; i < j->n_logs; i++) {
                free(j->log_snap[i]);
                free(j->log_dir[i]);
        }
        free(j->msg_buf);
}

/* What to check (liblvss is asked for the log directories' snapshot paths
 * here, on the main thread), then the thread is started. */
static int verify_start(create_ctx *c, size_t t, const plan_list *plan, verify_job *j) {
        j->component = c->sel[t].path;
        j->msgs = open_memstream(&j->msg_buf, &j->msg_len);
        j->snap = calloc(plan->n + 1, sizeof(char *));
        j->orig = calloc(plan->n + 1, sizeof(char *));
        j->fds = calloc(plan->n + 1, sizeof(int));
        j->sums = calloc(plan->n + 1, sizeof(mstore_page_sum *));
        j->n_sums = calloc(plan->n + 1, sizeof(uint64_t));
        j->vflags = calloc(plan->n + 1, sizeof(unsigned));
        if (!j->msgs || !j->snap || !j->orig || !j->fds || !j->sums || !j->n_sums || !j->vflags)
                return -ENOMEM;
        pthread_mutex_init(&j->lock, NULL);
        pthread_cond_init(&j->cond, NULL);
        j->sync_init = true;
        for (size_t i = 0; i < plan->n; i++) {
                const char *s = plan->v[i].snap;
                size_t l = strlen(s);
                struct stat st;
                if (l < 4 || (strcmp(s + l - 4, ".edb") != 0 && strcmp(s + l - 4, ".stm") != 0))
                        continue;
                /* The verifier reads the file this fd holds, never a FIFO
                 * or device put under its name. */
                int fd = open_snapshot_file(s, &st);
                if (fd < 0)
                        return fd;
                if (asprintf(&j->snap[j->n_files], "/proc/self/fd/%d", fd) < 0) {
                        j->snap[j->n_files] = NULL;
                        close(fd);
                        return -ENOMEM;
                }
                if (!(j->orig[j->n_files] = strdup(plan->v[i].orig))) {
                        free(j->snap[j->n_files]);
                        close(fd);
                        return -ENOMEM;
                }
                /* A file whose unchanged ranges may be reused is read by
                 * the verifier alone (the store reads what changed): around
                 * the page cache, which it would only fill. */
                if (reuse_may_reuse(c->reuse, plan->v[i].orig + 1))
                        j->vflags[j->n_files] = MSTORE_VERIFY_DIRECT;
                j->fds[j->n_files++] = fd;
        }
        /* The log set: the directory and base of the closed generations
         * this backup holds (checked as a whole, up to the current log). */
        for (size_t i = 0; i < plan->n; i++) {
                const char *name = strrchr(plan->v[i].orig, '/') + 1;
                if (!vss_mail_closed_log(name, NULL))
                        continue;
                char dir[4096];
                size_t dl = (size_t) (name - 1 - plan->v[i].orig);
                if (dl >= sizeof(dir) - 8)
                        continue;
                memcpy(dir, plan->v[i].orig, dl);
                dir[dl] = 0;
                bool seen_dir = false;
                for (size_t k = 0; k < j->n_logs; k++)
                        seen_dir |= strcmp(j->log_dir[k], dir) == 0;
                if (seen_dir || j->n_logs >= ELEMENTSOF(j->log_dir))
                        continue;
                char *sp = NULL;
                int r = lvss_backup_get_snapshot_path(c->b, dir, &sp);
                if (r < 0) {
                        fprintf(j->msgs, "lvss-backup: component '%s': the log set %.3s* in '%s' failed verification: %s\n",
                                j->component, name, dir, lvss_backup_last_error(c->b));
                        atomic_store(&j->failed, true);
                        return 0;
                }
                j->log_snap[j->n_logs] = sp;
                if (!(j->log_dir[j->n_logs] = strdup(dir))) {
                        free(sp);
                        return -ENOMEM;
                }
                memcpy(j->log_base[j->n_logs], name, 3);
                j->log_base[j->n_logs][3] = 0;
                j->n_logs++;
        }
        int r = pthread_create(&j->thread, NULL, verify_thread, j);
        if (r != 0) {
                vss_err("cannot start the verification thread: %s", strerror(r));
                return -r;
        }
        j->started = true;
        return 0;
}

/* Wait for the check and print what failed; true when it passed. */
static bool verify_finish(verify_job *j) {
        if (j->started)
                pthread_join(j->thread, NULL);
        j->started = false;
        if (j->msgs) {
                fclose(j->msgs);
                j->msgs = NULL;
                if (j->msg_len)
                        fputs(j->msg_buf, stderr);
        }
        return !atomic_load(&j->failed);
}

/* ------------------------------------------------------------- storing */

/* Test builds: before the first snapshot file is read, write its path to
 * the file named by LVSS_BACKUP_TEST_PAUSE_BEFORE_READ and wait (60 s at
 * most) until the test removes that file (tests/integration/backup-fifo.sh
 * changes the snapshot meanwhile). */
static void test_pause_before_read(const char *snap) {
        static bool done;
        const char *pause = TEST_HOOK_ENV("LVSS_BACKUP_TEST_PAUSE_BEFORE_READ");
        FILE *f;

        if (!pause || done)
                return;
        done = true;
        f = fopen(pause, "we");
        if (!f)
                return;
        fprintf(f, "%s\n", snap);
        fclose(f);
        for (int i = 0; i < 600 && access(pause, F_OK) == 0; i++)
                usleep(100 * 1000);
}

/* The one way lvss-backup opens snapshot content: only a regular file
 * (open_regular_at: never follows a symlink, never blocks on a FIFO or
 * device, refuses what is not a regular file), with a one-line message
 * naming the file.  The walk saw a regular file here; anything else means
 * the snapshot changed under us. */
static int open_snapshot_file(const char *snap, struct stat *ret_st) {
        test_pause_before_read(snap);
        int fd = open_regular_at(AT_FDCWD, snap, ret_st);
        if (fd == -EFTYPE_ || fd == -ELOOP) {
                vss_err("'%s': %s in the snapshot, not a regular file: refusing to read it",
                        snap, fd == -ELOOP ? "a symlink" : file_type_name(ret_st->st_mode));
                return -EIO; /* the snapshot changed: the backup failed (exit 1) */
        }
        if (fd < 0)
                vss_err("'%s': cannot read from the snapshot: %s", snap, strerror(-fd));
        return fd;
}

/* Every generation of the stamp's range must be among the files read
 * (a differential after an incremental, for instance, finds them truncated). */
static bool complete_range(const csel *s, const char *stamp, const plan_list *plan) {
        json_t *j = stamp ? json_loads(stamp, 0, NULL) : NULL;
        json_t *lo = json_object_get(j, "gen_low"), *hi = json_object_get(j, "gen_high");
        bool ok = true;
        if (json_is_integer(lo) && json_is_integer(hi) && json_integer_value(hi) >= json_integer_value(lo) &&
            json_integer_value(hi) - json_integer_value(lo) < 0x100000) {
                uint64_t want = (uint64_t) (json_integer_value(hi) - json_integer_value(lo) + 1), have = 0;
                for (size_t i = 0; i < plan->n; i++) {
                        uint32_t g;
                        if (vss_mail_closed_log(strrchr(plan->v[i].orig, '/') + 1, &g) &&
                            g >= json_integer_value(lo) && g <= json_integer_value(hi))
                                have++;
                }
                if (have != want) {
                        vss_err("component '%s': %llu of the log generations 0x%llX-0x%llX this backup needs are "
                                "missing from the snapshot (truncated by another backup?): take a full backup",
                                s->path, (unsigned long long) (want - have), (unsigned long long) json_integer_value(lo),
                                (unsigned long long) json_integer_value(hi));
                        ok = false;
                }
        }
        json_decref(j);
        return ok;
}

/* Mail Store Writer stamps {"gen_low","gen_high"}: an incremental or
 * differential must start at or before the generation after its base's
 * last one; otherwise generations were truncated by a backup this
 * repository does not hold, and the chain could never be restored. */
static bool continues_base(const csel *s, const char *stamp) {
        json_t *prev = json_loads(s->prev_stamp, 0, NULL), *cur = stamp ? json_loads(stamp, 0, NULL) : NULL;
        json_t *ph = json_object_get(prev, "gen_high"), *cl = json_object_get(cur, "gen_low");
        bool ok = true;
        if (json_is_integer(ph) && json_is_integer(cl) && json_integer_value(cl) > json_integer_value(ph) + 1) {
                vss_err("component '%s': log generations 0x%llX-0x%llX were truncated by another backup (one in "
                        "another repository, or an incremental since the full a differential builds on); this backup "
                        "could not be restored through its chain: take a full backup",
                        s->path, (unsigned long long) json_integer_value(ph) + 1,
                        (unsigned long long) json_integer_value(cl) - 1);
                ok = false;
        }
        json_decref(prev);
        json_decref(cur);
        return ok;
}

/* Files the writer completed after the snapshot, listed in its backup
 * metadata as {"after_snapshot":{"dir":D,"names":[...]}} (the PostgreSQL
 * Writer: the WAL segments a full backup needs up to its stop LSN, archived
 * by pg_backup_stop; immutable once named).  They are read from the live
 * directory D, which must be exactly one of the component's file-set
 * directories; each name is a plain file name.  D is opened with
 * O_NOFOLLOW and must resolve to itself (no symlinked component), each file
 * with open_regular_at() under it. */
static int store_after_snapshot(create_ctx *c, size_t t, const char *metadata) {
        json_t *m = metadata ? json_loads(metadata, 0, NULL) : NULL;
        json_t *a = json_object_get(m, "after_snapshot"), *v;
        const char *dir = json_string_value(json_object_get(a, "dir"));
        json_t *names = json_object_get(a, "names");
        fdesc_list l = {};
        size_t i;
        int r = 0, dfd = -1;

        if (!json_is_object(a))
                goto out;
        if (!dir || !json_is_array(names)) {
                vss_err("component '%s': malformed after_snapshot list in the backup metadata", c->sel[t].path);
                r = -EINVAL;
                goto out;
        }
        r = collect_fdescs(c, t, &l);
        bool declared = false;
        for (i = 0; i < l.n && r >= 0; i++)
                declared |= strcmp(l.v[i].path, dir) == 0;
        if (r >= 0 && !declared) {
                vss_err("component '%s': '%s' (files after the snapshot) is not one of its file sets", c->sel[t].path,
                        dir);
                r = -EPERM;
        }
        if (r >= 0) {
                dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                char self[64], real[4096];
                snprintf(self, sizeof(self), "/proc/self/fd/%d", dfd);
                ssize_t n = dfd >= 0 ? readlink(self, real, sizeof(real) - 1) : -1;
                if (n >= 0)
                        real[n] = 0;
                if (n < 0 || strcmp(real, dir) != 0) {
                        vss_err("'%s': cannot open as a directory without symlinks (files after the snapshot)", dir);
                        r = -EPERM;
                }
        }
        json_array_foreach(names, i, v) {
                const char *name = json_string_value(v);
                if (r < 0)
                        break;
                if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
                        vss_err("component '%s': bad file name in the after_snapshot list", c->sel[t].path);
                        r = -EINVAL;
                        break;
                }
                _cleanup_free_ char *orig = NULL;
                if (asprintf(&orig, "%s/%s", dir, name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (stored_add(c, orig) == 0)
                        continue;
                struct stat st;
                int fd = open_regular_at(dfd, name, &st);
                if (fd < 0) {
                        vss_err("'%s': cannot read (written by the writer after the snapshot): %s", orig,
                                strerror(-fd));
                        r = fd;
                        break;
                }
                r = repo_backup_add_fd(c->rb, fd, orig + 1, &st);
                close(fd);
                if (r < 0)
                        vss_err("'%s': %s", orig, repo_last_error(c->r));
        }
out:
        if (dfd >= 0)
                close(dfd);
        free(l.v);
        json_decref(m);
        return r;
}

static int store_component(create_ctx *c, size_t t, bool *ret_failed) {
        csel *s = &c->sel[t];
        cwriter *w = &c->writers[s->w];
        lvss_component *bc = vss_bcd_component(c->b, w->id.writer_id, s->ci.logical_path, s->ci.component_name);
        const char *md = bc ? lvss_component_get_backup_metadata(bc) : NULL;
        bool mail = strcmp(w->id.writer_name, MAIL_STORE_WRITER_NAME) == 0;
        file_filter ff = {.list = TEST_HOOK_ENV("LVSS_BACKUP_TEST_NO_FILE_LIST") ? NULL : writer_file_list(md)};
        *ret_failed = false;
        if (!ff.list && mail) {
                /* The writer's list did not come (it is dropped when it does
                 * not fit the document's string limit): the stamp still says
                 * which log generations this backup holds. */
                const char *stamp = bc ? lvss_component_get_backup_stamp(bc) : NULL;
                json_t *j = stamp ? json_loads(stamp, 0, NULL) : NULL;
                json_t *lo = json_object_get(j, "gen_low"), *hi = json_object_get(j, "gen_high");
                if (!json_is_integer(lo) || !json_is_integer(hi)) {
                        vss_err("component '%s': the writer gave neither a file list nor a stamp", s->path);
                        json_decref(j);
                        *ret_failed = true;
                        return 0;
                }
                ff.mail_fallback = true;
                ff.gen_low = (uint32_t) json_integer_value(lo);
                ff.gen_high = (uint32_t) json_integer_value(hi);
                ff.logs_only = c->type == REPO_BACKUP_INCREMENTAL || c->type == REPO_BACKUP_DIFFERENTIAL;
                json_decref(j);
        }
        if (mail && s->prev_stamp && !continues_base(s, bc ? lvss_component_get_backup_stamp(bc) : NULL)) {
                json_decref(ff.list);
                *ret_failed = true; /* a chain with a hole restores nothing: keep the logs */
                return 0;
        }
        plan_list plan = {};
        ff.live_only_dir = after_snapshot_only_dir(md);
        int r = plan_component(c, t, &ff, &plan);
        json_decref(ff.list);
        free(ff.live_only_dir);
        if (r >= 0 && mail && !complete_range(s, bc ? lvss_component_get_backup_stamp(bc) : NULL, &plan)) {
                *ret_failed = true; /* reported failed: the writer keeps its logs */
                plan_free(&plan);
                return 0;
        }
        if (r >= 0)
                vss_progress_add_total(&c->prog, plan.bytes);
        verify_job vj = {};
        size_t file_mark = repo_backup_file_count(c->rb), stored_mark = c->n_stored;
        if (r >= 0 && mail)
                r = verify_start(c, t, &plan, &vj);
        for (size_t i = 0; i < plan.n && r >= 0 && !atomic_load(&vj.failed); i++) {
                if (vss_interrupted) {
                        r = -EINTR;
                        break;
                }
                const char *orig = plan.v[i].orig;
                if (stored_add(c, orig) == 0)
                        continue;
                struct stat st;
                int fd = open_snapshot_file(plan.v[i].snap, &st);
                if (fd < 0) {
                        r = fd;
                        break;
                }
                posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
                size_t ol = strlen(orig);
                if (mail && c->reuse && ol > 4 && (strcmp(orig + ol - 4, ".edb") == 0 || strcmp(orig + ol - 4, ".stm") == 0))
                        r = reuse_store_file(c->reuse, c->rb, fd, orig + 1, &st, s->path, verify_sums,
                                             &(verify_sums_req) {&vj, verify_file_index(&vj, orig)});
                else
                        r = repo_backup_add_fd(c->rb, fd, orig + 1, &st);
                close(fd);
                if (r < 0)
                        vss_err("'%s': %s", orig, repo_last_error(c->r));
        }
        if (r >= 0 && !mail)
                r = store_after_snapshot(c, t, md);
        atomic_store(&vj.stop, r < 0); /* storing failed: the check need not go on */
        if (mail && !verify_finish(&vj) && r >= 0) {
                /* reported failed: the writer keeps its logs, the record does not name the files */
                repo_backup_drop_files(c->rb, file_mark);
                if (c->reuse)
                        reuse_drop_component(c->reuse, s->path);
                while (c->n_stored > stored_mark)
                        free(c->stored[--c->n_stored]);
                *ret_failed = true;
        }
        verify_job_free(&vj);
        plan_free(&plan);
        return r;
}

/* ----------------------------------------------------------------- main */

static void print_failures(create_ctx *c) {
        const char *paths[MAX_SELECTED], *writers[MAX_SELECTED];
        size_t n = 0;
        for (size_t i = 0; i < c->n_sel; i++)
                if (c->sel[i].top < 0) {
                        paths[n] = c->sel[i].path;
                        writers[n++] = c->writers[c->sel[i].w].id.writer_name;
                }
        vss_print_writer_failures(c->b, paths, writers, n);
}

static void keys_join(create_ctx *c);

static void ctx_free(create_ctx *c) {
        keys_join(c);   /* never close the repository under the thread */
        password_free(c->password);
        for (size_t i = 0; i < c->n_sel; i++) {
                free(c->sel[i].path);
                free(c->sel[i].prev_stamp);
        }
        for (size_t i = 0; i < c->n_stored; i++)
                free(c->stored[i]);
        free(c->stored);
        free(c->writers);
        reuse_free(c->reuse);
        if (c->rb)
                repo_backup_free(c->rb);
        /* Ending the session makes lvssd abort what is unfinished, send
         * BackupShutdown and delete the auto-release snapshots. */
        lvss_backup_free(c->b);
        repo_close(c->r);
}

static int interrupted(create_ctx *c) {
        vss_progress_done(&c->prog);
        if (c->prepared)
                lvss_backup_abort_backup(c->b);
        vss_err("create interrupted (%s): backup aborted, writers released, nothing stored",
                strsignal(vss_interrupted ? vss_interrupted : SIGINT));
        return VSS_EXIT_FAIL;
}

/* run_create's steps, in order.  Each returns 0 to go on or the exit status
 * to stop with; the requestor sequence itself is tools/common/requestor.h. */

static int wait_step(lvss_backup *b, lvss_async *a, int r, const char *what, void *userdata) {
        return vss_wait(b, a, r, what); /* frees a */
}

static void *keys_thread(void *arg) {
        create_ctx *c = arg;
        c->keys_err = repo_open_keys(c->r, c->password);
        if (c->keys_err < 0)
                snprintf(c->keys_msg, sizeof c->keys_msg, "%s", repo_errmsg());
        return NULL;
}

/* The repository (exclusive) and a requestor session.  The lock is taken
 * here (busy: exit 4 before lvssd is asked for anything); the key
 * derivation and the indexes follow on a thread while the writers are
 * gathered, prepared and frozen (create_repo_ready waits for them). */
static int create_begin(create_ctx *c, const char *repo_dir, const char *pwfile) {
        int r, ex;

        if ((ex = vss_open_repo_lock(repo_dir, pwfile, REPO_LOCK_EXCLUSIVE, &c->r, &c->password)) != 0)
                return ex;
        if (pthread_create(&c->keys_thread, NULL, keys_thread, c) != 0)
                keys_thread(c);   /* no thread: opened here */
        else
                c->keys_running = true;
        r = requestor_begin(LVSS_CTX_BACKUP, c->lvss_type, &c->b);
        if (r < 0) {
                vss_err("lvssd: %s%s%s", lvss_strerror(r), c->b ? ": " : "", c->b ? lvss_backup_last_error(c->b) : "");
                return vss_exit_lvss(r);
        }
        return 0;
}

/* Waits for the thread, if any; the password is not needed after it. */
static void keys_join(create_ctx *c) {
        if (c->keys_running) {
                pthread_join(c->keys_thread, NULL);
                c->keys_running = false;
        }
        password_free(c->password);
        c->password = NULL;
}

/* Waits for the key derivation and the indexes; 0 or the exit code
 * (message printed).  A failure the run ended with first is printed by
 * itself: ctx_free only joins. */
static int create_repo_ready(create_ctx *c) {
        keys_join(c);
        if (c->keys_err < 0) {
                if (c->keys_msg[0])
                        vss_err("%s", c->keys_msg);
                c->keys_msg[0] = 0;
                return vss_exit_repo(c->keys_err);
        }
        return 0;
}

/* GatherWriterMetadata, then the components asked for (or every selectable one). */
static int create_select(create_ctx *c, char **want, size_t n_want) {
        int r;

        vss_note(c->quiet, "gathering writer metadata");
        r = requestor_run(c->b, REQUESTOR_GATHER, wait_step, true, NULL);
        if (r == -EINTR)
                return interrupted(c);
        if (r < 0)
                return vss_exit_lvss(r);
        int nw = lvss_backup_get_writer_metadata_count(c->b);
        c->writers = calloc(nw > 0 ? (size_t) nw : 1, sizeof(cwriter));
        if (!c->writers)
                return VSS_EXIT_FAIL;
        for (int i = 0; i < nw; i++) {
                cwriter *w = &c->writers[c->n_writers];
                if (lvss_backup_get_writer_metadata(c->b, (size_t) i, &w->instance_id, &w->wm) >= 0 &&
                    lvss_writer_metadata_get_identity(w->wm, &w->id) >= 0)
                        c->n_writers++;
        }
        r = select_components(c, want, n_want);
        if (r < 0)
                return r == -EINVAL ? VSS_EXIT_USAGE : VSS_EXIT_FAIL;
        for (size_t i = 0; i < c->n_sel; i++)
                if (c->sel[i].top < 0)
                        vss_note(c->quiet, "selected '%s' (%s)", c->sel[i].path, c->writers[c->sel[i].w].id.writer_name);
        return 0;
}

/* The repository backup (on its base for an incremental or differential)
 * and the previous stamps the writers need. */
static int create_open_backup(create_ctx *c) {
        repo_id base;
        bool has_base = false;
        int r;

        if (c->type == REPO_BACKUP_INCREMENTAL || c->type == REPO_BACKUP_DIFFERENTIAL) {
                if (choose_base(c, &base) < 0)
                        return VSS_EXIT_FAIL;
                has_base = true;
        }
        r = repo_backup_new(c->r, c->type, has_base ? &base : NULL, &c->rb);
        if (r < 0) {
                vss_err("%s", repo_last_error(c->r));
                return vss_exit_repo(r);
        }
        repo_backup_set_track_changes(c->rb, false); /* the writers decide what an incremental holds */
        repo_backup_set_progress(c->rb, vss_progress_fn, &c->prog);
        repo_backup_set_compression(c->rb, c->compression);
        /* Reuse of unchanged ranges (§8): full and copy only (the others hold
         * logs); --no-reuse reads everything but still records the map. */
        if ((c->type == REPO_BACKUP_FULL || c->type == REPO_BACKUP_COPY) &&
            (r = reuse_new(c->r, !c->no_reuse, &c->reuse)) < 0) {
                vss_err("%s", strerror(-r));
                return VSS_EXIT_FAIL;
        }
        if (set_previous_stamps(c) < 0)
                return VSS_EXIT_FAIL;
        if (vss_interrupted)
                return interrupted(c);
        return 0;
}

/* StartSnapshotSet, the volumes, PrepareForBackup, DoSnapshotSet. */
static int create_snapshot(create_ctx *c) {
        int r;

        r = lvss_backup_start_snapshot_set(c->b, &c->set);
        if (r < 0) {
                vss_err("start snapshot set: %s: %s", lvss_strerror(r), lvss_backup_last_error(c->b));
                return vss_exit_lvss(r);
        }
        if ((r = add_volumes(c)) < 0)
                return vss_exit_lvss(r);
        c->prepared = true;
        vss_note(c->quiet, "preparing the writers for a %s backup", repo_backup_type_to_string(c->type));
        r = requestor_run(c->b, REQUESTOR_PREPARE, wait_step, true, NULL);
        if (r == -EINTR)
                return interrupted(c);
        if (r < 0) {
                print_failures(c);
                return vss_exit_lvss(r);
        }
        vss_note(c->quiet, "creating the snapshot set (writers frozen meanwhile)");
        r = requestor_run(c->b, REQUESTOR_SNAPSHOT, wait_step, true, NULL);
        if (r == -EINTR)
                return interrupted(c);
        if (r < 0) {
                print_failures(c);
                return vss_exit_lvss(r);
        }
        lvss_backup_get_freeze_window(c->b, &c->fw_usec);
        vss_note(c->quiet, "snapshot set %s created; freeze window %.1f ms", c->set.str, c->fw_usec / 1000.0);
        return 0;
}

/* Each selected top component read from the snapshot into the repository
 * and verified; c->store_err is set when nothing can be committed. */
static int create_store(create_ctx *c) {
        int r = 0;
        size_t n_ok = 0, n_top = 0;

        vss_progress_init(&c->prog, c->quiet, "create");
        c->prog.fd = c->progress_fd;
        for (size_t t = 0; t < c->n_sel; t++) {
                if (c->sel[t].top >= 0)
                        continue;
                n_top++;
                bool failed = false;
                r = store_component(c, t, &failed);
                if (r == -EINTR || vss_interrupted)
                        return interrupted(c);
                if (r < 0) {
                        vss_progress_done(&c->prog);
                        /* Nothing is committed: every component is reported failed. */
                        for (size_t i = 0; i < c->n_sel; i++)
                                c->sel[i].failed = true;
                        break;
                }
                c->sel[t].failed = failed;
                if (!failed)
                        n_ok++;
        }
        vss_progress_done(&c->prog);
        int store_err = r < 0 ? r : 0;
        for (size_t i = 0; i < c->n_sel; i++)
                if (c->sel[i].top >= 0)
                        c->sel[i].failed = c->sel[c->sel[i].top].failed;

        c->n_ok = n_ok;
        c->n_top = n_top;
        c->store_err = store_err;
        return 0;
}

/* The record: the components that succeeded, the BCD, each writer's
 * metadata and stamps; committed before BackupComplete. */
static int create_commit(create_ctx *c) {
        int r;
        size_t n_ok = c->n_ok;
        int store_err = c->store_err;
        repo_id id;
        bool committed = false;
        _cleanup_free_ char *bcd = NULL;

        if (!store_err && n_ok > 0) {
                for (size_t i = 0; i < c->n_sel; i++) {
                        csel *s = &c->sel[i];
                        cwriter *w = &c->writers[s->w];
                        lvss_backup_set_backup_succeeded(c->b, w->instance_id, w->id.writer_id, s->ci.type,
                                                         s->ci.logical_path, s->ci.component_name, !s->failed);
                }
                char *j = NULL;
                r = lvss_backup_save_as_json(c->b, &j);
                if (r >= 0) {
                        bcd = strdup(j);
                        lvss_free(j);
                }
                if (r >= 0 && bcd)
                        r = repo_backup_set_components_doc(c->rb, bcd);
                for (size_t i = 0; i < c->n_sel && r >= 0; i++)
                        if (c->sel[i].top < 0 && !c->sel[i].failed)
                                r = repo_backup_add_component(c->rb, c->sel[i].path);
                for (size_t wi = 0; wi < c->n_writers && r >= 0; wi++) {
                        cwriter *w = &c->writers[wi];
                        if (!w->used)
                                continue;
                        json_t *stamps = json_object();
                        for (size_t i = 0; i < c->n_sel; i++) {
                                csel *s = &c->sel[i];
                                if (s->w != wi || s->failed)
                                        continue;
                                lvss_component *bc = vss_bcd_component(c->b, w->id.writer_id, s->ci.logical_path,
                                                                       s->ci.component_name);
                                const char *st = bc ? lvss_component_get_backup_stamp(bc) : NULL;
                                if (st)
                                        json_object_set_new(stamps, s->path, json_string(st));
                        }
                        _cleanup_free_ char *stamp_text =
                                json_object_size(stamps) ? json_dumps(stamps, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
                        json_decref(stamps);
                        char *wmd = NULL;
                        r = lvss_writer_metadata_save(w->wm, &wmd);
                        if (r >= 0)
                                r = repo_backup_add_writer(c->rb, w->id.writer_name, wmd, stamp_text);
                        lvss_free(wmd);
                }
                if (r >= 0 && vss_interrupted)
                        return interrupted(c);
                if (r >= 0 && c->reuse) {
                        _cleanup_free_ char *map = reuse_map_json(c->reuse);
                        if (map)
                                r = repo_backup_set_reuse_map(c->rb, map);
                }
                if (r >= 0) {
                        r = repo_backup_commit(c->rb, &id);
                        if (r < 0)
                                vss_err("%s", repo_last_error(c->r));
                }
                if (r < 0) {
                        store_err = r;
                        for (size_t i = 0; i < c->n_sel; i++)
                                c->sel[i].failed = true;
                } else
                        committed = true;
        }
        c->store_err = store_err;
        c->committed = committed;
        if (committed)
                c->id = id;
        return 0;
}

/* SetBackupSucceeded (again: false for all if the commit failed), then
 * BackupComplete: writers truncate logs only for succeeded components. */
static void create_complete(create_ctx *c) {
        for (size_t i = 0; i < c->n_sel; i++) {
                csel *s = &c->sel[i];
                cwriter *w = &c->writers[s->w];
                lvss_backup_set_backup_succeeded(c->b, w->instance_id, w->id.writer_id, s->ci.type, s->ci.logical_path,
                                                 s->ci.component_name, !s->failed);
        }
        int r = requestor_run(c->b, REQUESTOR_COMPLETE, wait_step, true, NULL);
        c->complete_failed = r < 0;
        if (c->complete_failed && r != -EINTR)
                print_failures(c);
}

/* What was stored, on stdout, and the exit status. */
static int create_report(create_ctx *c, int64_t t0) {
        repo_id id = c->id;
        size_t n_ok = c->n_ok, n_top = c->n_top;
        uint64_t fw_usec = c->fw_usec;
        bool complete_failed = c->complete_failed;

        char hex[REPO_ID_HEX_SIZE];
        repo_id_to_hex(&id, hex);
        const repo_stats *st = repo_backup_stats(c->rb);
        int64_t dur = (int64_t) now_msec(CLOCK_MONOTONIC) - t0;
        if (c->json) {
                json_t *comps = json_array();
                for (size_t i = 0; i < c->n_sel; i++)
                        if (c->sel[i].top < 0 && !c->sel[i].failed)
                                json_array_append_new(comps, json_string(c->sel[i].path));
                json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:f, s:I}", "id", hex, "type",
                                      repo_backup_type_to_string(c->type), "components", comps, "bytes_read",
                                      (json_int_t) st->bytes_read, "bytes_added", (json_int_t) st->bytes_added,
                                      "bytes_reused", (json_int_t) st->bytes_reused, "duration_ms", (json_int_t) dur,
                                      "freeze_window_ms", fw_usec / 1000.0, "files", (json_int_t) st->files);
                char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
                if (s)
                        puts(s);
                free(s);
                json_decref(o);
        } else if (!c->quiet)
                printf("backup %s (%s): %zu of %zu component(s), %llu files, %.1f MiB read, %.1f MiB reused unchanged, "
                       "%.1f MiB added, %lld ms, freeze window %.1f ms\n",
                       hex, repo_backup_type_to_string(c->type), n_ok, n_top, (unsigned long long) st->files,
                       st->bytes_read / 1048576.0, st->bytes_reused / 1048576.0, st->bytes_added / 1048576.0,
                       (long long) dur, fw_usec / 1000.0);
        if (n_ok < n_top) {
                vss_err("%zu component(s) failed verification and were reported failed (their logs are kept)",
                        n_top - n_ok);
                return VSS_EXIT_FAIL;
        }
        if (complete_failed) {
                vss_err("backup %.16s is stored, but BackupComplete failed (logs may not have been truncated)", hex);
                return VSS_EXIT_FAIL;
        }
        return VSS_EXIT_OK;
}

static int run_create(create_ctx *c, const char *repo_dir, const char *pwfile, char **want, size_t n_want) {
        int64_t t0 = (int64_t) now_msec(CLOCK_MONOTONIC);
        int ex;

        if ((ex = create_begin(c, repo_dir, pwfile)) != 0 || (ex = create_select(c, want, n_want)) != 0)
                return ex;
        /* An incremental or differential needs its base's stamps before
         * PrepareForBackup; a full or copy needs the repository only to
         * store, so its key derivation runs while the snapshot set is made. */
        if (c->type == REPO_BACKUP_FULL || c->type == REPO_BACKUP_COPY)
                ex = create_snapshot(c);
        if (ex == 0)
                ex = create_repo_ready(c);
        if (ex == 0)
                ex = create_open_backup(c);
        if (ex == 0 && c->type != REPO_BACKUP_FULL && c->type != REPO_BACKUP_COPY)
                ex = create_snapshot(c);
        if (ex != 0 || (ex = create_store(c)) != 0 || (ex = create_commit(c)) != 0)
                return ex;
        create_complete(c);
        if (!c->committed) {
                if (c->store_err)
                        return vss_exit_repo(c->store_err);
                vss_err("backup failed: no component could be backed up; nothing stored, the writers keep their logs");
                return VSS_EXIT_FAIL;
        }
        return create_report(c, t0);
}

int cmd_create(int argc, char **argv) {
        static const struct option longopts[] = {
                {"repo", required_argument, NULL, 'r'},
                {"password-file", required_argument, NULL, 'p'},
                {"insecure-password-file", no_argument, NULL, 'I'},
                {"type", required_argument, NULL, 't'},
                {"component", required_argument, NULL, 'c'},
                {"json", no_argument, NULL, 'j'},
                {"quiet", no_argument, NULL, 'q'},
                {"progress-fd", required_argument, NULL, 'P'},
                {"no-reuse", no_argument, NULL, 'N'},
                {"compression", required_argument, NULL, 'C'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        create_ctx *c = calloc(1, sizeof(create_ctx));
        const char *repo_dir = NULL, *pwfile = NULL, *type = "full";
        char *want[MAX_SELECTED];
        size_t n_want = 0;
        int o;

        if (!c)
                return VSS_EXIT_FAIL;
        c->progress_fd = -1;
        optind = 1;
        while ((o = getopt_long(argc, argv, "hq", longopts, NULL)) >= 0) {
                switch (o) {
                case 'r': repo_dir = optarg; break;
                case 'p': pwfile = optarg; break;
                case 'I': password_allow_insecure_file(true); break;
                case 't': type = optarg; break;
                case 'c':
                        if (n_want >= MAX_SELECTED) {
                                free(c);
                                vss_err("too many --component options");
                                return VSS_EXIT_USAGE;
                        }
                        want[n_want++] = optarg;
                        break;
                case 'j': c->json = true; break;
                case 'q': c->quiet = true; break;
                case 'N': c->no_reuse = true; break;
                case 'C':
                        if ((c->compression = repo_compression_from_string(optarg)) < 0) {
                                vss_err("create: --compression '%s': expected auto, fast, max or off", optarg);
                                free(c);
                                return VSS_EXIT_USAGE;
                        }
                        break;
                case 'P':
                        if (vss_progress_fd_arg("create", optarg, &c->progress_fd) < 0) {
                                free(c);
                                return VSS_EXIT_USAGE;
                        }
                        break;
                case 'h': fputs(create_help, stdout); free(c); return VSS_EXIT_OK;
                default: free(c); return VSS_EXIT_USAGE;
                }
        }
        if (optind < argc || !repo_dir) {
                vss_err(optind < argc ? "create: unexpected argument '%s' (see 'lvss-backup create --help')"
                                      : "create: --repo DIR is required%s (see 'lvss-backup create --help')",
                        optind < argc ? argv[optind] : "");
                free(c);
                return VSS_EXIT_USAGE;
        }
        c->type = repo_backup_type_from_string(type);
        int lt = lvss_backup_type_from_string(type);
        if (c->type < 0 || lt < 0) {
                vss_err("create: --type '%s': expected full, copy, incremental or differential", type);
                free(c);
                return VSS_EXIT_USAGE;
        }
        c->lvss_type = (lvss_backup_type) lt;
        if (c->json)
                c->quiet = true; /* stdout carries the document; narration would only be noise */
        vss_install_signals();
        int ex = run_create(c, repo_dir, pwfile, want, n_want);
        ctx_free(c);
        free(c);
        return ex;
}
