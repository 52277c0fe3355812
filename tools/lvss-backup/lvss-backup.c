/* SPDX-License-Identifier: MIT */
/*
 * lvss-backup: the backup application.
 *
 * This file is the command line only; the repository logic (storing a tree,
 * restoring files, verifying) lives in lib/repo so that `create` and
 * `restore`, which drive writers through lvssd, reuse it unchanged.
 *
 * Exit codes (docs/interfaces.md): 0 ok, 1 failed, 2 usage or bad input, 4 busy
 * (repository locked), 5 access denied (wrong password, permissions),
 * 6 corruption detected.
 */
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "password.h"
#include "repo.h"
#include "copy.h"
#include "retention.h"
#include "vss.h"
#include "test-hook.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_BUSY = 4, EXIT_DENIED = 5, EXIT_CORRUPT = 6 };

typedef struct opts {
        const char *repo;
        const char *password_file;
        const char *type;
        const char *based_on;
        const char *to;
        const char *compression;
        bool json, quiet, no_encryption, chain, read_all;
        char **args;
        int n_args;
} opts;

static const char *prog = "lvss-backup";

/* r: the handle that failed; NULL before one exists (repo_probe, repo_open, repo_init). */
static int fail(repo *r, int k) {
        fprintf(stderr, "%s: %s\n", prog, r ? repo_last_error(r) : repo_errmsg());
        return vss_exit_repo(k);   /* the one lib/repo code -> exit status map */
}

_printf_(1, 2) static int usage_error(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see '%s --help')\n", prog);
        return EXIT_USAGE;
}

static void print_json(json_t *o) {
        char *s = json_dumps(o, JSON_INDENT(2));
        if (s) {
                puts(s);
                free(s);
        }
        json_decref(o);
}

/* ---- progress on a terminal ---- */

typedef struct progress {
        bool on;
        struct timespec last;
        const char *verb;
} progress;

static void progress_fn(const repo_stats *st, const char *path, void *userdata) {
        progress *p = userdata;
        struct timespec now;

        if (!p->on)
                return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000 < 200)
                return;
        p->last = now;
        if (st->bytes_added)
                fprintf(stderr, "\r\033[K%s: %llu files, %.1f MiB read, %.1f MiB added  %.50s", p->verb,
                        (unsigned long long) st->files, st->bytes_read / 1048576.0, st->bytes_added / 1048576.0,
                        path);
        else
                fprintf(stderr, "\r\033[K%s: %llu %s, %.1f MiB read  %.50s", p->verb, (unsigned long long) st->files,
                        strcmp(p->verb, "verify") == 0 ? "objects" : "files", st->bytes_read / 1048576.0, path);
}

static void progress_done(progress *p) {
        if (p->on)
                fputs("\r\033[K", stderr);
}

static void progress_init(progress *p, const opts *o, const char *verb) {
        *p = (progress) {.on = !o->quiet && isatty(STDERR_FILENO), .verb = verb};
}

/* ---- opening ---- */

static int open_repo(const opts *o, enum repo_lock_mode lock, repo **ret) {
        _cleanup_(password_freep) char *pw = NULL;
        bool enc = false;
        int k;

        k = repo_probe(o->repo, &enc);
        if (k == -ENOENT)
                return fail(NULL, -EINVAL);
        if (k < 0)
                return fail(NULL, k);
        if (enc) {
                k = get_password(o->password_file, false, &pw);
                if (k == -ENOKEY) {
                        fprintf(stderr,
                                "%s: repository %s is encrypted: a password is needed (--password-file FILE, "
                                "LVSS_BACKUP_PASSWORD, or a terminal)\n",
                                prog, o->repo);
                        return EXIT_USAGE;
                }
                if (k < 0)
                        return EXIT_USAGE;
        }
        k = repo_open(o->repo, pw, lock, ret);
        if (k < 0)
                return fail(NULL, k);
        return 0;
}

/* ---- commands ---- */

static int cmd_init(const opts *o) {
        repo_init_options io = {.encrypted = !o->no_encryption};
        _cleanup_(password_freep) char *pw = NULL;
        int k;

        /* Test hook: cheap KDF limits so test suites do not spend seconds per init. */
        if (TEST_HOOK_IS("LVSS_BACKUP_KDF_MIN", "1")) {
                io.kdf_opslimit = 1;
                io.kdf_memlimit = 8192;
        }
        if (io.encrypted) {
                k = get_password(o->password_file, true, &pw);
                if (k == -ENOKEY) {
                        fprintf(stderr,
                                "%s: init: a password is needed for an encrypted repository (--password-file FILE, "
                                "LVSS_BACKUP_PASSWORD, or a terminal), or use --no-encryption\n",
                                prog);
                        return EXIT_USAGE;
                }
                if (k < 0)
                        return EXIT_USAGE;
        }
        k = repo_init(o->repo, pw, &io);
        if (k < 0)
                return fail(NULL, k);
        if (o->json) {
                print_json(json_pack("{s:s, s:b}", "repo", o->repo, "encrypted", io.encrypted));
        } else if (!o->quiet)
                printf("created %s repository at %s\n", io.encrypted ? "encrypted" : "unencrypted", o->repo);
        return 0;
}

static void format_time(int64_t ns, char *buf, size_t size) {
        time_t t = (time_t) (ns / 1000000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *components_json(const repo_record *rec) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < rec->n_components; i++)
                json_array_append_new(a, json_string(rec->components[i]));
        return a;
}

static json_t *hex_or_null(bool has, const repo_id *id) {
        char hex[REPO_ID_HEX_SIZE];
        if (!has)
                return json_null();
        repo_id_to_hex(id, hex);
        return json_string(hex);
}

static int cmd_list(const opts *o) {
        _cleanup_(repo_closep) repo *r = NULL;
        repo_record **recs = NULL;
        size_t n = 0;
        int k;

        if ((k = open_repo(o, REPO_LOCK_SHARED, &r)) != 0)
                return k;
        k = repo_list_backups(r, &recs, &n);
        if (k < 0)
                return fail(r, k);
        if (o->json) {
                json_t *a = json_array();
                for (size_t i = 0; i < n; i++) {
                        char hex[REPO_ID_HEX_SIZE], t[64];
                        repo_id_to_hex(&recs[i]->id, hex);
                        format_time(recs[i]->time_ns, t, sizeof t);
                        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", hex, "type",
                                                           repo_backup_type_to_string(recs[i]->type), "time", t,
                                                           "components", components_json(recs[i]), "based_on",
                                                           hex_or_null(recs[i]->has_based_on, &recs[i]->based_on)));
                }
                print_json(json_pack("{s:o}", "backups", a));
        } else {
                printf("%-16s  %-12s  %-20s  %-16s  %s\n", "ID", "TYPE", "TIME", "BASED ON", "COMPONENTS");
                for (size_t i = 0; i < n; i++) {
                        char hex[REPO_ID_HEX_SIZE], base[REPO_ID_HEX_SIZE] = "-", t[64];
                        repo_id_to_hex(&recs[i]->id, hex);
                        if (recs[i]->has_based_on)
                                repo_id_to_hex(&recs[i]->based_on, base);
                        format_time(recs[i]->time_ns, t, sizeof t);
                        printf("%-16.16s  %-12s  %-20s  %-16.16s  ", hex, repo_backup_type_to_string(recs[i]->type), t,
                               base);
                        for (size_t j = 0; j < recs[i]->n_components; j++)
                                printf("%s%s", j ? ", " : "", recs[i]->components[j]);
                        printf("%s\n", recs[i]->n_components ? "" : "-");
                }
        }
        for (size_t i = 0; i < n; i++)
                repo_record_free(recs[i]);
        free(recs);
        return 0;
}

static int resolve(repo *r, const char *arg, repo_id *ret) {
        int k = repo_resolve_backup(r, arg, ret);
        if (k == -ENOENT || k == -EINVAL) {
                fprintf(stderr, "%s: %s\n", prog, repo_last_error(r));
                return EXIT_USAGE;
        }
        return k < 0 ? fail(r, k) : 0;
}

static int cmd_show(const opts *o) {
        _cleanup_(repo_closep) repo *r = NULL;
        _cleanup_(repo_record_freep) repo_record *rec = NULL;
        char hex[REPO_ID_HEX_SIZE], t[64];
        repo_id id;
        int k;

        if (o->n_args != 1)
                return usage_error("show: expected one backup ID");
        if ((k = open_repo(o, REPO_LOCK_SHARED, &r)) != 0)
                return k;
        if ((k = resolve(r, o->args[0], &id)) != 0)
                return k;
        k = repo_load_backup(r, &id, &rec);
        if (k < 0)
                return fail(r, k);
        repo_id_to_hex(&rec->id, hex);
        format_time(rec->time_ns, t, sizeof t);
        if (o->json) {
                json_t *writers = json_array(), *stamps = json_object(), *files = json_array();
                for (size_t i = 0; i < rec->n_writers; i++) {
                        const repo_writer_info *w = &rec->writers[i];
                        json_array_append_new(writers, json_pack("{s:s, s:o, s:o}", "name", w->name, "metadata",
                                                                 w->metadata ? json_string(w->metadata) : json_null(),
                                                                 "stamp", w->stamp ? json_string(w->stamp) : json_null()));
                        if (w->stamp)
                                json_object_set_new(stamps, w->name, json_string(w->stamp));
                }
                for (size_t i = 0; i < rec->n_files; i++) {
                        const repo_file *f = &rec->files[i];
                        char fh[REPO_ID_HEX_SIZE], mt[64], mode[8];
                        repo_id_to_hex(&f->hash, fh);
                        format_time(f->mtime_ns, mt, sizeof mt);
                        snprintf(mode, sizeof mode, "%04o", f->mode);
                        json_t *fo = json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:I}", "path", f->path, "size",
                                               (json_int_t) f->size, "mode", mode, "mtime", mt, "mtime_ns",
                                               (json_int_t) f->mtime_ns, "hash", fh, "blobs", (json_int_t) f->n_blobs);
                        if (fo && f->symlink)
                                json_object_set_new(fo, "symlink", json_string(f->symlink));
                        if (fo)
                                json_object_set_new(fo, "type", json_string(repo_file_type_to_string(f->type)));
                        if (fo && f->has_owner) {
                                json_t *xn = json_array();
                                for (size_t j = 0; xn && j < f->n_xattrs; j++)
                                        json_array_append_new(xn, json_string(f->xattrs[j].name));
                                json_object_set_new(fo, "uid", json_integer(f->uid));
                                json_object_set_new(fo, "gid", json_integer(f->gid));
                                json_object_set_new(fo, "user", f->user ? json_string(f->user) : json_null());
                                json_object_set_new(fo, "group", f->group ? json_string(f->group) : json_null());
                                json_object_set_new(fo, "xattrs", xn);
                        }
                        if (fo && f->link)
                                json_object_set_new(fo, "link", json_string(f->link));
                        json_array_append_new(files, fo);
                }
                json_t *deleted = json_array();
                for (size_t i = 0; i < rec->n_deleted; i++)
                        json_array_append_new(deleted, json_string(rec->deleted[i]));
                print_json(json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "id", hex,
                                     "type", repo_backup_type_to_string(rec->type), "time", t, "hostname",
                                     rec->hostname ? json_string(rec->hostname) : json_null(), "based_on",
                                     hex_or_null(rec->has_based_on, &rec->based_on), "components",
                                     components_json(rec), "backup_components_document",
                                     rec->components_doc ? json_string(rec->components_doc) : json_null(),
                                     "writers", writers, "stamps", stamps, "files", files, "deleted", deleted, "bytes_read",
                                     (json_int_t) rec->bytes_read, "bytes_added", (json_int_t) rec->bytes_added,
                                     "duration_ms", (json_int_t) rec->duration_ms));
                return 0;
        }
        uint64_t total = 0;
        for (size_t i = 0; i < rec->n_files; i++)
                total += rec->files[i].size;
        printf("backup      %s\ntype        %s\ntime        %s\nhost        %s\n", hex,
               repo_backup_type_to_string(rec->type), t, rec->hostname ? rec->hostname : "-");
        if (rec->has_based_on) {
                repo_id_to_hex(&rec->based_on, hex);
                printf("based on    %s\n", hex);
        }
        printf("components  ");
        for (size_t j = 0; j < rec->n_components; j++)
                printf("%s%s", j ? ", " : "", rec->components[j]);
        printf("%s\n", rec->n_components ? "" : "-");
        printf("size        %llu bytes in %zu files (read %llu, added %llu, %llu ms)\n", (unsigned long long) total,
               rec->n_files, (unsigned long long) rec->bytes_read, (unsigned long long) rec->bytes_added,
               (unsigned long long) rec->duration_ms);
        for (size_t i = 0; i < rec->n_writers; i++)
                printf("writer      %s  stamp %s\n", rec->writers[i].name,
                       rec->writers[i].stamp ? rec->writers[i].stamp : "-");
        for (size_t i = 0; i < rec->n_deleted; i++)
                printf("deleted     %s\n", rec->deleted[i]);
        printf("\n%-6s %14s  %-20s  %s\n", "MODE", "SIZE", "MTIME", "PATH");
        for (size_t i = 0; i < rec->n_files; i++) {
                const repo_file *f = &rec->files[i];
                format_time(f->mtime_ns, t, sizeof t);
                printf("%04o   %14llu  %-20s  %s%s%s%s\n", f->mode, (unsigned long long) f->size, t, f->path,
                       f->type == REPO_FILE_DIR ? "/" : "", f->symlink ? " -> " : f->link ? " => " : "",
                       f->symlink ? f->symlink : f->link ? f->link : "");
        }
        return 0;
}

typedef struct verify_out {
        json_t *problems;
        size_t n;
        bool json;
} verify_out;

static void verify_report(const char *kind, const char *name, const char *reason, void *userdata) {
        verify_out *v = userdata;
        v->n++;
        if (v->json)
                json_array_append_new(v->problems, json_pack("{s:s, s:s, s:s}", "kind", kind, "name", name,
                                                             "reason", reason));
        fprintf(stderr, "%s: %s %s: %s\n", prog, kind, name, reason);
}

static int cmd_verify(const opts *o) {
        _cleanup_(repo_closep) repo *r = NULL;
        verify_out v = {.json = o->json};
        uint64_t checked = 0;
        repo_id id;
        int k;

        if (o->n_args > 1)
                return usage_error("verify: at most one backup ID");
        if ((k = open_repo(o, REPO_LOCK_SHARED, &r)) != 0)
                return k;
        if (o->n_args == 1 && (k = resolve(r, o->args[0], &id)) != 0)
                return k;
        v.problems = json_array();
        progress p;
        progress_init(&p, o, "verify");
        repo_set_verify_progress(r, progress_fn, &p);
        k = repo_verify(r, o->n_args == 1 ? &id : NULL, verify_report, &v, &checked);
        progress_done(&p);
        if (k < 0 && k != REPO_E_CORRUPT) {
                json_decref(v.problems);
                return fail(r, k);
        }
        if (o->json)
                print_json(json_pack("{s:b, s:I, s:O}", "ok", k == 0, "objects_checked", (json_int_t) checked,
                                     "problems", v.problems));
        else if (k == 0 && !o->quiet)
                printf("no problems found: %llu objects checked\n", (unsigned long long) checked);
        if (k == REPO_E_CORRUPT)
                fprintf(stderr, "%s: repository %s: %zu damaged object(s) found\n", prog, o->repo, v.n);
        json_decref(v.problems);
        return k == 0 ? EXIT_OK : EXIT_CORRUPT;
}

static int cmd_backup_dir(const opts *o) {
        _cleanup_(repo_closep) repo *r = NULL;
        repo_backup *b = NULL;
        repo_id id, base;
        progress p;
        char hex[REPO_ID_HEX_SIZE];
        int type = REPO_BACKUP_FULL, k;

        if (o->type && (type = repo_backup_type_from_string(o->type)) < 0)
                return usage_error("--type '%s': expected full, copy, incremental or differential", o->type);
        if (o->n_args < 1)
                return usage_error("backup-dir: expected at least one SRC");
        if ((k = open_repo(o, REPO_LOCK_EXCLUSIVE, &r)) != 0)
                return k;
        if (o->based_on && (k = resolve(r, o->based_on, &base)) != 0)
                return k;
        k = repo_backup_new(r, type, o->based_on ? &base : NULL, &b);
        if (k < 0)
                return fail(r, k);
        progress_init(&p, o, "backup");
        repo_backup_set_progress(b, progress_fn, &p);
        repo_backup_set_read_all(b, o->read_all);
        if (o->compression)
                repo_backup_set_compression(b, repo_compression_from_string(o->compression));   /* checked in main */
        for (int i = 0; i < o->n_args && k >= 0; i++)
                k = repo_backup_add_tree(b, o->args[i], NULL);
        if (k >= 0)
                k = repo_backup_commit(b, &id);
        progress_done(&p);
        if (k < 0) {
                repo_backup_free(b);
                return fail(r, k);
        }
        const repo_stats *st = repo_backup_stats(b);
        repo_id_to_hex(&id, hex);
        _cleanup_(repo_record_freep) repo_record *rec = NULL;
        k = repo_load_backup(r, &id, &rec);
        if (k < 0) {
                repo_backup_free(b);
                return fail(r, k);
        }
        if (o->json)
                print_json(json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "id", hex, "type",
                                     repo_backup_type_to_string(type), "components", components_json(rec),
                                     "bytes_read", (json_int_t) rec->bytes_read, "bytes_added",
                                     (json_int_t) rec->bytes_added, "duration_ms", (json_int_t) rec->duration_ms,
                                     "files", (json_int_t) st->files, "files_unchanged",
                                     (json_int_t) st->files_unchanged, "skipped", (json_int_t) st->skipped));
        else if (!o->quiet)
                printf("backup %s (%s): %llu files, %.1f MiB read, %.1f MiB added, %llu ms\n", hex,
                       repo_backup_type_to_string(type), (unsigned long long) st->files,
                       rec->bytes_read / 1048576.0, rec->bytes_added / 1048576.0,
                       (unsigned long long) rec->duration_ms);
        if (st->skipped && !o->quiet)
                fprintf(stderr, "%s: %llu special files (devices, sockets, fifos) were not stored\n", prog,
                        (unsigned long long) st->skipped);
        repo_backup_free(b);
        return 0;
}

static int cmd_restore_files(const opts *o) {
        _cleanup_(repo_closep) repo *r = NULL;
        _cleanup_(repo_record_freep) repo_record *rec = NULL;
        char hex[REPO_ID_HEX_SIZE];
        uint64_t bytes = 0, files = 0;
        repo_id id;
        progress p;
        int k;

        if (o->n_args != 1)
                return usage_error("restore-files: expected one backup ID");
        if (!o->to)
                return usage_error("restore-files: --to DIR is required");
        if ((k = open_repo(o, REPO_LOCK_SHARED, &r)) != 0)
                return k;
        if ((k = resolve(r, o->args[0], &id)) != 0)
                return k;
        progress_init(&p, o, "restore");
        if (o->chain)
                k = repo_restore_chain_to_dir(r, &id, o->to, progress_fn, &p, &files, &bytes);
        else {
                k = repo_load_backup(r, &id, &rec);
                if (k >= 0)
                        k = repo_restore_to_dir(r, rec, o->to, progress_fn, &p);
                if (k >= 0) {
                        for (size_t i = 0; i < rec->n_files; i++) {
                                bytes += rec->files[i].size;
                                files += rec->files[i].type <= REPO_FILE_HARDLINK && rec->files[i].type != REPO_FILE_DIR;
                        }
                }
        }
        progress_done(&p);
        if (k < 0)
                return fail(r, k);
        repo_id_to_hex(&id, hex);
        if (o->json)
                print_json(json_pack("{s:s, s:s, s:b, s:I, s:I}", "id", hex, "to", o->to, "chain", o->chain,
                                     "files", (json_int_t) files, "bytes", (json_int_t) bytes));
        else if (!o->quiet)
                printf("restored %llu files (%llu bytes) of backup %.16s%s to %s\n", (unsigned long long) files,
                       (unsigned long long) bytes, hex, o->chain ? " and its chain" : "", o->to);
        return 0;
}

static int cmd_rebuild_index(const opts *o) {
        _cleanup_(repo_closep) repo *r = NULL;
        verify_out v = {.json = o->json};
        uint64_t packs = 0, blobs = 0;
        int k;

        if ((k = open_repo(o, REPO_LOCK_EXCLUSIVE, &r)) != 0)
                return k;
        v.problems = json_array();
        k = repo_rebuild_index(r, verify_report, &v, &packs, &blobs);
        if (k < 0 && k != REPO_E_CORRUPT) {
                json_decref(v.problems);
                return fail(r, k);
        }
        if (o->json)
                print_json(json_pack("{s:b, s:I, s:I, s:O}", "ok", k == 0, "packs", (json_int_t) packs, "blobs",
                                     (json_int_t) blobs, "problems", v.problems));
        else if (!o->quiet)
                printf("index rebuilt from %llu packs: %llu blobs\n", (unsigned long long) packs,
                       (unsigned long long) blobs);
        if (k == REPO_E_CORRUPT)
                fprintf(stderr, "%s: repository %s: %zu damaged object(s) left out of the index\n", prog, o->repo,
                        v.n);
        json_decref(v.problems);
        return k == 0 ? EXIT_OK : EXIT_CORRUPT;
}

static int cmd_later(const opts *o) {
        fprintf(stderr, "%s: this command needs lvssd integration, which is not built yet; use backup-dir / "
                        "restore-files for repository-only backups\n", prog);
        return EXIT_FAIL;
}

/* ---- dispatch ---- */

typedef struct command {
        const char *name;
        int (*run)(const opts *o);
        const char *synopsis;
        const char *help;
} command;

static const command commands[] = {
        {"init", cmd_init, "init --repo DIR [--no-encryption] [--password-file FILE] [--json]",
         "Create a new repository, encrypted with a password unless --no-encryption."},
        {"list", cmd_list, "list --repo DIR [--json]", "List the backups in the repository, oldest first."},
        {"show", cmd_show, "show --repo DIR ID [--json]",
         "Show one backup: type, time, components, writers and stamps, files."},
        {"verify", cmd_verify, "verify --repo DIR [ID] [--json]",
         "Re-read and check every object of the repository, or the objects of one backup.\n"
         "Exit 6 naming each damaged object when anything is corrupt."},
        {"backup-dir", cmd_backup_dir,
         "backup-dir --repo DIR [--type full|copy|incremental|differential] [--based-on ID] [--read-all]\n"
         "           [--compression auto|fast|max|off] [--json] SRC...",
         "Developer command: store the files of directory trees as one backup (no writers involved).\n"
         "Files whose size, mode, mtime, ctime and inode are unchanged since the previous backup are\n"
         "not read again (left out of an incremental/differential, reused by a full); --read-all\n"
         "reads every file and compares content instead."},
        {"restore-files", cmd_restore_files, "restore-files --repo DIR ID --to DIR [--chain] [--json]",
         "Developer command: restore the files of one backup below DIR, verifying hashes as it writes;\n"
         "with --chain, the state the backup stands for (its full and incrementals, or full and\n"
         "differential, merged; files deleted since left out).  Manifest paths that would escape\n"
         "DIR are refused."},
        {"rebuild-index", cmd_rebuild_index, "rebuild-index --repo DIR [--json]",
         "Rebuild the index from the pack files (after index damage); packs are never changed.\n"
         "Exit 6 when damaged blobs had to be left out."},
        /* create and restore parse their own options (create.c, restore.c). */
        {"create", cmd_later,
         "create --repo DIR [--type full|copy|incremental|differential] [--component PATH]... [--json]",
         "Back up writers' components through lvssd (see 'lvss-backup create --help')."},
        {"restore", cmd_later, "restore --repo DIR ID [--component PATH]... [--to DIR] [--additional-restores] [--json]",
         "Application-aware restore through lvssd (see 'lvss-backup restore --help')."},
};

static void help(FILE *f, const command *c) {
        if (c) {
                fprintf(f, "Usage: %s %s\n\n%s\n\n", prog, c->synopsis, c->help);
        } else {
                fprintf(f, "Usage: %s COMMAND [OPTIONS]\n\nThe lvss backup application.\n\nCommands:\n", prog);
                for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                        fprintf(f, "  %s\n", commands[i].synopsis);
                for (size_t i = 0; retention_synopsis(i); i++)   /* forget, prune, check, key */
                        fprintf(f, "  %.*s\n", (int) (strstr(retention_synopsis(i), "\n\n") - retention_synopsis(i)),
                                retention_synopsis(i));
                fprintf(f, "  %s\n", copy_synopsis());
                fputc('\n', f);
        }
        fprintf(f, "Common options:\n"
                   "  --repo DIR            the repository (a directory, or s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX])\n"
                   "  --password-file FILE  read the password from FILE (else $LVSS_BACKUP_PASSWORD, else the terminal);\n"
                   "                        FILE must be a regular file of yours or root's, mode 0600 or 0400\n"
                   "  --insecure-password-file  accept a password file others may read or write\n"
                   "  --json                one JSON document on stdout\n"
                   "  --quiet               no progress or chatter\n"
                   "  --help                this text\n"
                   "\nExit codes: 0 ok, 1 failed, 2 usage or bad input, 4 repository busy, 5 access denied\n"
                   "(wrong password), 6 corruption detected.  See lvss-backup(1).\n");
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"repo", required_argument, NULL, 'r'},
                {"password-file", required_argument, NULL, 'p'},
                {"type", required_argument, NULL, 't'},
                {"based-on", required_argument, NULL, 'b'},
                {"to", required_argument, NULL, 'T'},
                {"json", no_argument, NULL, 'j'},
                {"quiet", no_argument, NULL, 'q'},
                {"no-encryption", no_argument, NULL, 'N'},
                {"chain", no_argument, NULL, 'C'},
                {"read-all", no_argument, NULL, 'A'},
                {"compression", required_argument, NULL, 'Z'},
                {"insecure-password-file", no_argument, NULL, 'I'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const command *cmd = NULL;
        opts o = {};
        int c;

        /* Blobs, pack buffers and the S3 backend's read extents (MiBs each)
         * are allocated and freed all the time, on several threads: keep
         * them in the heap with their pages mapped, rather than glibc's
         * mmap + munmap of each (every page faulted anew, the largest cost
         * of a restore from S3 on a VM; docs/design/backup.md §7.4). */
        (void) mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
        (void) mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                help(stdout, NULL);
                return argc < 2 ? EXIT_USAGE : EXIT_OK;
        }
        if (strcmp(argv[1], "create") == 0)
                return cmd_create(argc - 1, argv + 1);
        if (strcmp(argv[1], "restore") == 0)
                return cmd_restore(argc - 1, argv + 1);
        if (strcmp(argv[1], "forget") == 0 || strcmp(argv[1], "prune") == 0 || strcmp(argv[1], "check") == 0 ||
            strcmp(argv[1], "key") == 0)
                return cmd_retention(argc - 1, argv + 1);
        if (strcmp(argv[1], "copy") == 0)
                return cmd_copy(argc - 1, argv + 1);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        cmd = &commands[i];
        if (!cmd)
                return usage_error("unknown command '%s'", argv[1]);
        argv++;
        argc--;
        while ((c = getopt_long(argc, argv, "hq", longopts, NULL)) >= 0) {
                switch (c) {
                case 'r': o.repo = optarg; break;
                case 'p': o.password_file = optarg; break;
                case 't': o.type = optarg; break;
                case 'b': o.based_on = optarg; break;
                case 'T': o.to = optarg; break;
                case 'j': o.json = true; break;
                case 'q': o.quiet = true; break;
                case 'N': o.no_encryption = true; break;
                case 'C': o.chain = true; break;
                case 'A': o.read_all = true; break;
                case 'Z': o.compression = optarg; break;
                case 'I': password_allow_insecure_file(true); break;
                case 'h': help(stdout, cmd); return EXIT_OK;
                default: return EXIT_USAGE;
                }
        }
        o.args = argv + optind;
        o.n_args = argc - optind;
        if (cmd->run != cmd_later && !o.repo)
                return usage_error("%s: --repo DIR is required", cmd->name);
        if (o.no_encryption && cmd->run != cmd_init)
                return usage_error("--no-encryption applies to init only");
        if ((o.type || o.based_on || o.read_all || o.compression) && cmd->run != cmd_backup_dir)
                return usage_error("--type/--based-on/--read-all/--compression apply to backup-dir");
        if (o.compression && repo_compression_from_string(o.compression) < 0)
                return usage_error("--compression '%s': expected auto, fast, max or off", o.compression);
        if ((o.to || o.chain) && cmd->run != cmd_restore_files)
                return usage_error("--to/--chain apply to restore-files");
        if (cmd->run != cmd_verify && cmd->run != cmd_show && cmd->run != cmd_backup_dir &&
            cmd->run != cmd_restore_files && cmd->run != cmd_later && o.n_args > 0)
                return usage_error("unexpected argument '%s'", o.args[0]);
        return cmd->run(&o);
}
