/* SPDX-License-Identifier: MIT */
/*
 * lvssadm: administration of the lvss coordinator (vssadmin + vshadow +
 * diskshadow).  The command line is the contract of docs/interfaces.md:
 *
 *   lvssadm list writers|providers|shadows [--json]
 *   lvssadm create [--no-writers] [--exec CMD] [--provider NAME] [--type T] [--json] PATH...
 *   lvssadm delete shadows (--set ID | --shadow ID | --all) [--json]
 *   lvssadm writer-metadata [--json]
 *   lvssadm status [--json]
 *
 * Exit codes: 0 ok, 1 failed, 2 usage or bad input, 4 busy (a snapshot set
 * is already being created), 5 access denied.
 */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lvss/lvss.h>

#include "lib/core/array.h"
#include "tools/common/requestor.h"
#include "lib/core/macro.h"
#include "providers/providers.h"

#define EXIT_USAGE 2
#define EXIT_BUSY 4
#define EXIT_DENIED 5

static const char *prog = "lvssadm";

static int exit_code(int r) {
        switch (r) {
        case 0:
                return 0;
        case LVSS_E_SNAPSHOT_SET_IN_PROGRESS:
        case -EBUSY:  /* a snapshot in use by a live set; too many queries in progress */
        case LVSS_E_WRITERERROR_BUSY:   /* a writer's "already in progress" veto */
                return EXIT_BUSY;
        case LVSS_E_ACCESS_DENIED:
        case -EACCES:
        case -EPERM:
                return EXIT_DENIED;
        case -EINVAL:
        case -ENOENT:
        case -ENOTDIR:
        case LVSS_E_VOLUME_NOT_SUPPORTED:
        case LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER:
        case LVSS_E_PROVIDER_NOT_REGISTERED:
        case LVSS_E_OBJECT_NOT_FOUND:
                return EXIT_USAGE;
        default:
                return 1;
        }
}

/* One line on stderr: "lvssadm: <what>: <detail or strerror> (NAME)". */
static int fail(int r, const char *what, const char *detail) {
        fprintf(stderr, "%s: %s: %s (%s)\n", prog, what,
                detail && detail[0] ? detail : lvss_strerror(r), lvss_error_name(r));
        return exit_code(r);
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);
static int usage_error(const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "%s: ", prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see '%s --help')\n", prog);
        return EXIT_USAGE;
}

/* ------------------------------------------------------------- help texts */

static const char help_main[] =
        "Usage: lvssadm COMMAND [OPTIONS]\n"
        "Administer the lvss shadow copy coordinator (lvssd).\n\n"
        "Commands:\n"
        "  list writers|providers|shadows [--json]   show registered writers, providers, snapshots\n"
        "  create [--no-writers] [--exec CMD] [--json] PATH...\n"
        "                                            create a snapshot set of the volumes holding PATHs\n"
        "  delete shadows (--set ID|--shadow ID|--all)  delete snapshots\n"
        "  writer-metadata [--json]                  every writer's metadata document\n"
        "  status [--json]                           set in progress, frozen filesystems, counters\n\n"
        "Every command takes --help.  LVSS_BUS=ADDRESS selects a private bus.\n"
        "Exit codes: 0 ok, 1 failed, 2 usage or bad input, 4 busy, 5 access denied.\n";

static const char help_list[] =
        "Usage: lvssadm list writers|providers|shadows [--json]\n"
        "  writers    registered writers with their state and last error\n"
        "  providers  snapshot providers built into lvssd\n"
        "  shadows    existing snapshots (id, set, original, readable path, provider, context,\n"
        "             owner_uid: who created it; recovered: found by a scan after registry loss)\n"
        "  --json     one JSON document on stdout\n";

static const char help_create[] =
        "Usage: lvssadm create [--no-writers] [--exec CMD] [--provider NAME] [--type TYPE] [--json] PATH...\n"
        "Create one snapshot set covering the volumes that hold PATHs, with every writer\n"
        "whose components live there: under a PATH, or anywhere in the btrfs subvolume\n"
        "holding it (unless --no-writers).\n"
        "  --exec CMD       auto-release set: run CMD (/bin/sh -c) with LVSS_SNAPSHOT_SET_ID and\n"
        "                   LVSS_SHADOW_PATHS (lines 'original=path') in its environment; exit 0\n"
        "                   means the backup succeeded; the set is deleted afterwards.\n"
        "                   Without --exec the set is persistent.\n"
        "  --no-writers     crash-consistent snapshot, writers are not involved\n"
        "  --provider NAME  use this provider (btrfs, reflink) instead of the automatic choice\n"
        "  --type TYPE      backup type told to writers: copy (default), full, incremental,\n"
        "                   differential, log\n"
        "  --json           print {\"set_id\",\"shadows\":[...],\"writers\":[{\"name\",\"freeze_window_ms\"}]}\n"
        "Exit codes: 0 ok, 1 failed (writer veto, provider error, CMD failed), 2 bad input,\n"
        "4 another snapshot set is being created, 5 access denied.\n";

static const char help_delete[] =
        "Usage: lvssadm delete shadows (--set ID | --shadow ID | --all) [--json]\n"
        "  --set ID     delete every snapshot of a snapshot set\n"
        "  --shadow ID  delete one snapshot\n"
        "  --all        delete every snapshot the caller may delete (root: all; others: their own)\n"
        "Only root may delete another user's snapshot (exit 5).  A snapshot in use by a\n"
        "live snapshot set (a running backup) is refused for everyone (exit 4); nothing\n"
        "is deleted when any named snapshot is refused.\n";

static const char help_wm[] =
        "Usage: lvssadm writer-metadata [--json]\n"
        "Ask every writer to identify itself and print its metadata (components, files,\n"
        "restore method); --json prints the documents.\n";

static const char help_status[] =
        "Usage: lvssadm status [--json]\n"
        "Show the snapshot set in creation (if any), frozen filesystems and counters.\n";

/* ---------------------------------------------------------- small helpers */

static bool want_help(int argc, char **argv) {
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
                        return true;
        return false;
}

/* Parse "[--json]" only; returns -1 on a bad argument. */
static int parse_json_only(int argc, char **argv, int first, bool *json) {
        for (int i = first; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0)
                        *json = true;
                else {
                        usage_error("unexpected argument '%s'", argv[i]);
                        return -1;
                }
        }
        return 0;
}

static void print_value(const json_t *v) {
        if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
                fputs("-", stdout);
        else if (json_is_string(v))
                fputs(json_string_value(v), stdout);
        else if (json_is_integer(v))
                printf("%lld", (long long) json_integer_value(v));
        else if (json_is_real(v))
                printf("%g", json_real_value(v));
        else if (json_is_boolean(v))
                fputs(json_is_true(v) ? "yes" : "no", stdout);
        else {
                char *s = json_dumps(v, JSON_COMPACT);
                fputs(s ? s : "?", stdout);
                free(s);
        }
}

/* vssadmin-style blocks: one "key: value" line per field, a blank line
 * between objects. */
static void print_blocks(const json_t *arr, const char *const *keys, const char *const *labels,
                         const char *empty) {
        size_t i;
        json_t *o;

        if (!json_is_array(arr) || json_array_size(arr) == 0) {
                puts(empty);
                return;
        }
        json_array_foreach(arr, i, o) {
                if (i > 0)
                        putchar('\n');
                for (size_t k = 0; keys[k]; k++) {
                        printf("%-16s ", labels[k]);
                        print_value(json_object_get(o, keys[k]));
                        putchar('\n');
                }
        }
}

static int print_doc(const char *doc, bool json, const char *arrkey, const char *const *keys,
                     const char *const *labels, const char *empty) {
        if (json) {
                fputs(doc, stdout);
                if (doc[0] && doc[strlen(doc) - 1] != '\n')
                        putchar('\n');
                return 0;
        }
        json_error_t err;
        json_t *root = json_loads(doc, 0, &err);
        if (!root) {
                fprintf(stderr, "%s: lvssd sent malformed JSON: %s\n", prog, err.text);
                return 1;
        }
        print_blocks(json_object_get(root, arrkey), keys, labels, empty);
        json_decref(root);
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(lvss_admin *, lvss_admin_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(lvss_async *, lvss_async_free);

static int admin_open(lvss_admin **ret) {
        int r = lvss_admin_new(ret);
        if (r < 0)
                return fail(r, "cannot reach lvssd", NULL);
        return 0;
}

/* ------------------------------------------------------------------- list */

static int cmd_list(int argc, char **argv) {
        _cleanup_(lvss_admin_freep) lvss_admin *a = NULL;
        _cleanup_free_ char *doc = NULL;
        bool json = false;
        int r;

        if (want_help(argc, argv)) {
                fputs(help_list, stdout);
                return 0;
        }
        if (argc < 2)
                return usage_error("list: %s", "what? writers, providers or shadows");
        const char *what = argv[1];
        if (parse_json_only(argc, argv, 2, &json) < 0)
                return EXIT_USAGE;
        if (strcmp(what, "writers") != 0 && strcmp(what, "providers") != 0 && strcmp(what, "shadows") != 0)
                return usage_error("list: unknown object '%s' (writers, providers, shadows)", what);
        r = admin_open(&a);
        if (r)
                return r;

        if (strcmp(what, "writers") == 0) {
                static const char *const keys[] = { "name", "class_id", "instance_id", "instance_name",
                                                    "state", "last_error", NULL };
                static const char *const labels[] = { "Writer name:", "Writer id:", "Instance id:",
                                                      "Instance name:", "State:", "Last error:" };
                r = lvss_admin_list_writers(a, &doc);
                if (r < 0)
                        return fail(r, "list writers", lvss_admin_last_error(a));
                return print_doc(doc, json, "writers", keys, labels, "No writers registered.");
        }
        if (strcmp(what, "providers") == 0) {
                static const char *const keys[] = { "name", "id", "type", NULL };
                static const char *const labels[] = { "Provider name:", "Provider id:", "Type:" };
                r = lvss_admin_list_providers(a, &doc);
                if (r < 0)
                        return fail(r, "list providers", lvss_admin_last_error(a));
                return print_doc(doc, json, "providers", keys, labels, "No providers.");
        }
        static const char *const keys[] = { "id", "set_id", "original", "path", "provider", "context",
                                            "created", NULL };
        static const char *const labels[] = { "Shadow id:", "Set id:", "Original:", "Shadow path:",
                                              "Provider:", "Context:", "Created:" };
        r = lvss_admin_list_shadows(a, &doc);
        if (r < 0)
                return fail(r, "list shadows", lvss_admin_last_error(a));
        return print_doc(doc, json, "shadows", keys, labels, "No shadow copies.");
}

/* status and writer-metadata: --help, --json, fetch the document.  Returns
 * -1 with *ret_root set when the caller is to print it as text, otherwise
 * the exit code (help, --json printed, or an error). */
static int fetch_doc(int argc, char **argv, const char *help, const char *what,
                     int (*get)(lvss_admin *, char **), json_t **ret_root) {
        _cleanup_(lvss_admin_freep) lvss_admin *a = NULL;
        _cleanup_free_ char *doc = NULL;
        json_error_t err;
        bool json = false;
        int r;

        if (want_help(argc, argv)) {
                fputs(help, stdout);
                return 0;
        }
        if (parse_json_only(argc, argv, 1, &json) < 0)
                return EXIT_USAGE;
        r = admin_open(&a);
        if (r)
                return r;
        r = get(a, &doc);
        if (r < 0)
                return fail(r, what, lvss_admin_last_error(a));
        if (json)
                return print_doc(doc, true, NULL, NULL, NULL, NULL);
        *ret_root = json_loads(doc, 0, &err);
        if (!*ret_root) {
                fprintf(stderr, "%s: lvssd sent malformed JSON: %s\n", prog, err.text);
                return 1;
        }
        return -1;
}

/* ----------------------------------------------------------------- status */

static int cmd_status(int argc, char **argv) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        int r = fetch_doc(argc, argv, help_status, "status", lvss_admin_status, &root);

        if (r >= 0)
                return r;
        fputs("Snapshot set in progress: ", stdout);
        print_value(json_object_get(root, "set_in_progress"));
        fputs("\nFrozen filesystems:       ", stdout);
        json_t *fz = json_object_get(root, "frozen_filesystems");
        if (!json_is_array(fz) || json_array_size(fz) == 0)
                fputs("none", stdout);
        else {
                size_t i;
                json_t *v;
                json_array_foreach(fz, i, v) {
                        if (i)
                                fputs(", ", stdout);
                        print_value(v);
                }
        }
        puts("\nCounters:");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(root, "counters"), k, v) {
                printf("  %-30s ", k);
                print_value(v);
                putchar('\n');
        }
        return 0;
}

/* ---------------------------------------------------------------- delete */

static int cmd_delete(int argc, char **argv) {
        static const struct option opts[] = {
                { "set", required_argument, NULL, 's' },
                { "shadow", required_argument, NULL, 'i' },
                { "all", no_argument, NULL, 'a' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(lvss_admin_freep) lvss_admin *a = NULL;
        const char *set = NULL, *shadow = NULL;
        bool all = false, json = false;
        size_t deleted = 0;
        int c, r;

        if (want_help(argc, argv)) {
                fputs(help_delete, stdout);
                return 0;
        }
        if (argc < 2 || strcmp(argv[1], "shadows") != 0)
                return usage_error("delete: %s", "expected 'delete shadows (--set ID | --shadow ID | --all)'");
        argc--;
        argv++;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 's': set = optarg; break;
                case 'i': shadow = optarg; break;
                case 'a': all = true; break;
                case 'j': json = true; break;
                default: return usage_error("delete shadows: %s", "bad option");
                }
        }
        if (optind < argc)
                return usage_error("delete shadows: unexpected argument '%s'", argv[optind]);
        if ((set != NULL) + (shadow != NULL) + all != 1)
                return usage_error("delete shadows: %s", "give exactly one of --set ID, --shadow ID, --all");
        r = admin_open(&a);
        if (r)
                return r;
        r = lvss_admin_delete_shadows(a, set, shadow, all, &deleted);
        if (r < 0) {
                char what[128];
                snprintf(what, sizeof(what), "delete %s%s", set ? "set " : shadow ? "shadow " : "all shadows",
                         set ? set : shadow ? shadow : "");
                return fail(r, what, lvss_admin_last_error(a));
        }
        if (json)
                printf("{\"deleted\":%zu}\n", deleted);
        else
                printf("Deleted %zu shadow cop%s.\n", deleted, deleted == 1 ? "y" : "ies");
        return 0;
}

/* -------------------------------------------------------- writer-metadata */

static void print_files(const char *kind, const lvss_writer_metadata_filedesc *f) {
        printf("      %s %s/%s%s%s%s\n", kind, f->path, f->filespec, f->recursive ? " (recursive)" : "",
               f->alternate_location ? " -> " : "", f->alternate_location ? f->alternate_location : "");
}

static void print_metadata(const lvss_writer_metadata *wm) {
        lvss_writer_metadata_identity id;
        lvss_writer_metadata_restore_method rm;
        int n;

        if (lvss_writer_metadata_get_identity(wm, &id) < 0)
                return;
        printf("Writer name:      %s\n", id.writer_name);
        printf("Writer id:        %s\n", id.writer_id);
        printf("Instance id:      %s\n", id.instance_id);
        if (id.instance_name && id.instance_name[0])
                printf("Instance name:    %s\n", id.instance_name);
        printf("Usage / source:   %s / %s\n", lvss_usage_type_to_string(id.usage) ?: "?",
               lvss_source_type_to_string(id.source) ?: "?");
        printf("Level:            %s, freeze timeout %u ms\n",
               lvss_application_level_to_string(id.level) ?: "?", id.freeze_timeout_ms);
        if (lvss_writer_metadata_get_restore_method(wm, &rm) == 0)
                printf("Restore method:   %s (writer restore: %s)\n",
                       lvss_restore_method_to_string(rm.method) ?: "?",
                       lvss_writer_restore_to_string(rm.writer_restore) ?: "?");
        n = lvss_writer_metadata_get_exclude_file_count(wm);
        for (int i = 0; i < n; i++) {
                lvss_writer_metadata_filedesc f;
                if (lvss_writer_metadata_get_exclude_file(wm, i, &f) == 0)
                        print_files("exclude", &f);
        }
        n = lvss_writer_metadata_get_component_count(wm);
        for (int i = 0; i < n; i++) {
                lvss_writer_metadata_component_info ci;
                if (lvss_writer_metadata_get_component_info(wm, i, &ci) < 0)
                        continue;
                printf("  Component:      %s%s%s (%s%s%s)\n", ci.logical_path, ci.logical_path[0] ? "/" : "",
                       ci.component_name, lvss_component_type_to_string(ci.type) ?: "?",
                       ci.selectable ? ", selectable" : "",
                       ci.selectable_for_restore ? ", selectable for restore" : "");
                for (size_t j = 0; j < ci.file_count; j++) {
                        lvss_writer_metadata_filedesc f;
                        if (lvss_writer_metadata_get_component_file(wm, i, j, &f) == 0)
                                print_files("files", &f);
                }
                for (size_t j = 0; j < ci.database_count; j++) {
                        lvss_writer_metadata_filedesc f;
                        if (lvss_writer_metadata_get_component_database_file(wm, i, j, &f) == 0)
                                print_files("database", &f);
                }
                for (size_t j = 0; j < ci.log_file_count; j++) {
                        lvss_writer_metadata_filedesc f;
                        if (lvss_writer_metadata_get_component_log_file(wm, i, j, &f) == 0)
                                print_files("logs", &f);
                }
        }
}

static int cmd_writer_metadata(int argc, char **argv) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        size_t i;
        json_t *w;
        int r = fetch_doc(argc, argv, help_wm, "writer-metadata", lvss_admin_writer_metadata, &root);

        if (r >= 0)
                return r;
        json_t *arr = json_object_get(root, "writers");
        if (!json_is_array(arr) || json_array_size(arr) == 0) {
                puts("No writers registered.");
                return 0;
        }
        json_array_foreach(arr, i, w) {
                _cleanup_free_ char *one = json_dumps(w, JSON_COMPACT);
                lvss_writer_metadata *wm = NULL;
                if (i)
                        putchar('\n');
                if (!one || lvss_writer_metadata_load(one, &wm) < 0) {
                        fprintf(stderr, "%s: writer %zu: metadata document refused: %s\n", prog, i,
                                lvss_writer_metadata_load_error());
                        continue;
                }
                print_metadata(wm);
                lvss_writer_metadata_free(wm);
        }
        return 0;
}

/* ----------------------------------------------------------------- create */

/* Is a at or below b (both canonical absolute paths)? */
static bool path_under(const char *a, const char *b) {
        size_t n = strlen(b);
        if (strcmp(b, "/") == 0)
                return true;
        return strncmp(a, b, n) == 0 && (a[n] == 0 || a[n] == '/');
}

/* Does a writer's file descriptor overlap one of the set's paths? */
static bool files_overlap(const lvss_writer_metadata_filedesc *f, char **paths, size_t n) {
        char buf[PATH_MAX];
        const char *p = f->path;

        /* Writers declare absolute paths; resolve symlinks when they exist. */
        if (realpath(f->path, buf))
                p = buf;
        for (size_t i = 0; i < n; i++)
                if (path_under(p, paths[i]) || path_under(paths[i], p))
                        return true;
        return false;
}

typedef struct added_component {
        char *instance_id, *writer_id, *logical_path, *name;
        lvss_component_type type;
} added_component;

typedef struct create_ctx {
        added_component *comps;
        size_t n_comps, cap_comps;
        char **writer_names;      /* writers taking part */
        char **writer_instances;
        size_t n_writers, cap_names, cap_instances;
} create_ctx;

static void create_ctx_done(create_ctx *c) {
        for (size_t i = 0; i < c->n_comps; i++) {
                free(c->comps[i].instance_id);
                free(c->comps[i].writer_id);
                free(c->comps[i].logical_path);
                free(c->comps[i].name);
        }
        free(c->comps);
        for (size_t i = 0; i < c->n_writers; i++) {
                free(c->writer_names[i]);
                free(c->writer_instances[i]);
        }
        free(c->writer_names);
        free(c->writer_instances);
}

/* Select every component whose files lie under (or above) one of paths. */
static int select_components(lvss_backup *b, char **paths, size_t n, create_ctx *ctx) {
        int count = lvss_backup_get_writer_metadata_count(b);

        for (int w = 0; w < count; w++) {
                const lvss_writer_metadata *wm;
                const char *instance;
                lvss_writer_metadata_identity id;
                bool writer_used = false;

                if (lvss_backup_get_writer_metadata(b, w, &instance, &wm) < 0 ||
                    lvss_writer_metadata_get_identity(wm, &id) < 0)
                        continue;
                int nc = lvss_writer_metadata_get_component_count(wm);
                for (int i = 0; i < nc; i++) {
                        lvss_writer_metadata_component_info ci;
                        lvss_writer_metadata_filedesc f;
                        bool hit = false;

                        if (lvss_writer_metadata_get_component_info(wm, i, &ci) < 0 || !ci.selectable)
                                continue;
                        for (size_t j = 0; !hit && j < ci.file_count; j++)
                                hit = lvss_writer_metadata_get_component_file(wm, i, j, &f) == 0 && files_overlap(&f, paths, n);
                        for (size_t j = 0; !hit && j < ci.database_count; j++)
                                hit = lvss_writer_metadata_get_component_database_file(wm, i, j, &f) == 0 &&
                                      files_overlap(&f, paths, n);
                        for (size_t j = 0; !hit && j < ci.log_file_count; j++)
                                hit = lvss_writer_metadata_get_component_log_file(wm, i, j, &f) == 0 &&
                                      files_overlap(&f, paths, n);
                        if (!hit)
                                continue;
                        int r = lvss_backup_add_component(b, instance, id.writer_id, ci.type, ci.logical_path,
                                                          ci.component_name);
                        if (r < 0 && r != LVSS_E_OBJECT_ALREADY_EXISTS)
                                return fail(r, "add component", lvss_backup_last_error(b));
                        if (ARRAY_RESERVE_ONE(ctx->comps, ctx->cap_comps, ctx->n_comps, 8) < 0)
                                return fail(-ENOMEM, "add component", NULL);
                        ctx->comps[ctx->n_comps++] = (added_component) {
                                .instance_id = strdup(instance), .writer_id = strdup(id.writer_id),
                                .logical_path = strdup(ci.logical_path), .name = strdup(ci.component_name),
                                .type = ci.type,
                        };
                        writer_used = true;
                }
                if (writer_used) {
                        if (ARRAY_RESERVE_ONE(ctx->writer_names, ctx->cap_names, ctx->n_writers, 4) < 0 ||
                            ARRAY_RESERVE_ONE(ctx->writer_instances, ctx->cap_instances, ctx->n_writers, 4) < 0)
                                return fail(-ENOMEM, "add component", NULL);
                        ctx->writer_instances[ctx->n_writers] = strdup(instance);
                        ctx->writer_names[ctx->n_writers++] = strdup(id.writer_name);
                }
        }
        return 0;
}

/* Print why writers failed (after a veto or timeout), from writer status. */
static void report_writer_failures(lvss_backup *b) {
        _cleanup_(lvss_async_freep) lvss_async *as = NULL;

        if (lvss_backup_gather_writer_status(b, &as) < 0 || lvss_async_wait(as, 10000) < 0)
                return;
        int n = lvss_backup_get_writer_status_count(b);
        for (int i = 0; i < n; i++) {
                lvss_writer_status st;
                if (lvss_backup_get_writer_status(b, i, &st) < 0 || st.failure == 0)
                        continue;
                fprintf(stderr, "%s: writer '%s': %s: %s%s%s\n", prog, st.writer_name,
                        lvss_writer_state_to_string(st.state) ?: "?", lvss_error_name(st.failure),
                        st.message && st.message[0] ? ": " : "", st.message ? st.message : "");
        }
        (void) lvss_backup_free_writer_status(b);
}

static int wait_op(lvss_backup *b, lvss_async *as, int r, const char *what) {
        if (r >= 0)
                r = lvss_async_wait(as, LVSS_WAIT_INFINITE);
        if (r < 0) {
                int code = fail(r, what, lvss_backup_last_error(b));
                report_writer_failures(b);
                return code;
        }
        return 0;
}

static char *iso_time(uint64_t usec) {
        char buf[64];
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        return strdup(buf);
}

/* Run CMD with the set in its environment; returns its exit status (0..255)
 * or 128+signal.  In JSON mode CMD's stdout goes to stderr so that stdout
 * holds only the JSON document.  posix_spawn (vfork): no copy of our page
 * tables before sh is exec'd (issue 14: the empty cycle). */
static int run_exec(const char *cmd, const char *set_id, const char *shadow_paths, bool json) {
        _cleanup_free_ char *set_var = NULL, *paths_var = NULL;
        _cleanup_free_ char **envp = NULL;
        posix_spawn_file_actions_t fa;
        size_t n = 0, k = 0;
        pid_t pid;
        int status, r;

        if (asprintf(&set_var, "LVSS_SNAPSHOT_SET_ID=%s", set_id) < 0) {
                set_var = NULL;
                return -ENOMEM;
        }
        if (asprintf(&paths_var, "LVSS_SHADOW_PATHS=%s", shadow_paths) < 0) {
                paths_var = NULL;
                return -ENOMEM;
        }
        while (environ && environ[n])
                n++;
        envp = calloc(n + 3, sizeof(char *));
        if (!envp)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "LVSS_SNAPSHOT_SET_ID=", 21) != 0 &&
                    strncmp(environ[i], "LVSS_SHADOW_PATHS=", 18) != 0)
                        envp[k++] = environ[i];
        envp[k++] = set_var;
        envp[k++] = paths_var;
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        if (json)
                r = posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn(&pid, "/bin/sh", &fa, NULL, (char *const[]) { (char *) "sh", (char *) "-c", (char *) cmd, NULL },
                                envp);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return 127; /* as the shell reports a command it could not run */
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}

/* cmd_create's state, handed from step to step. */
typedef struct create_run {
        const char *exec_cmd, *provider;
        bool no_writers, json;
        lvss_backup_type type;
        char **paths;             /* the PATH arguments, resolved */
        size_t n;
        char **units;             /* what the providers snapshot: paths and their btrfs subvolumes */
        size_t n_units;
        lvss_backup *b;
        create_ctx ctx;           /* components and writers taking part */
        lvss_id set_id, *snap_ids;
        json_t *out, *shadows, *writers;
        char *shadow_paths;       /* original=path lines for --exec */
        size_t plen;
} create_run;

static void create_run_done(create_run *cr) {
        create_ctx_done(&cr->ctx);
        for (size_t i = 0; cr->units && i < cr->n_units; i++)
                free(cr->units[i]);
        free(cr->units);
        for (size_t i = 0; cr->paths && i < cr->n; i++)
                free(cr->paths[i]);
        free(cr->paths);
        free(cr->snap_ids);
        free(cr->shadow_paths);
        json_decref(cr->out);
        lvss_backup_free(cr->b);
}

/* Each step returns 0 to go on or the exit status to stop with. */

/* Options and PATHs; -1 after --help (exit 0). */
static int create_parse(create_run *cr, int argc, char **argv) {
        static const struct option opts[] = {
                { "no-writers", no_argument, NULL, 'n' },
                { "exec", required_argument, NULL, 'e' },
                { "provider", required_argument, NULL, 'p' },
                { "type", required_argument, NULL, 't' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c, r;

        if (want_help(argc, argv)) {
                fputs(help_create, stdout);
                return -1;
        }
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'n': cr->no_writers = true; break;
                case 'e': cr->exec_cmd = optarg; break;
                case 'p': cr->provider = optarg; break;
                case 'j': cr->json = true; break;
                case 't':
                        r = lvss_backup_type_from_string(optarg);
                        if (r < 0)
                                return usage_error("create: unknown backup type '%s'", optarg);
                        cr->type = (lvss_backup_type) r;
                        break;
                default: return usage_error("create: %s", "bad option");
                }
        }
        if (optind >= argc)
                return usage_error("create: %s", "no PATH given");
        cr->n = (size_t) (argc - optind);
        cr->paths = calloc(cr->n, sizeof(char *));
        cr->snap_ids = calloc(cr->n, sizeof(lvss_id));
        if (!cr->paths || !cr->snap_ids)
                return fail(-ENOMEM, "create", NULL);
        for (size_t i = 0; i < cr->n; i++) {
                const char *p = argv[optind + i];
                cr->paths[i] = realpath(p, NULL);
                if (!cr->paths[i]) {
                        fprintf(stderr, "%s: create: '%s': %s\n", prog, p, strerror(errno));
                        return EXIT_USAGE;
                }
        }
        return 0;
}

/* The units the providers will snapshot: the paths themselves, and for
 * btrfs the whole subvolume holding them, so that writers whose files live
 * anywhere in it take part (stat only, no privileges). */
static int create_units(create_run *cr) {
        cr->units = calloc(2 * cr->n, sizeof(char *));
        if (!cr->units)
                return fail(-ENOMEM, "create", NULL);
        for (size_t i = 0; i < cr->n; i++) {
                char vol[LVSS_PROVIDER_PATH_MAX];
                cr->units[cr->n_units++] = strdup(cr->paths[i]);
                if ((!cr->provider || lvss_provider_find(cr->provider) == &lvss_provider_btrfs) &&
                    lvss_provider_btrfs.is_supported(cr->paths[i], vol) == 0)
                        cr->units[cr->n_units++] = strdup(vol);
        }
        for (size_t i = 0; i < cr->n_units; i++)
                if (!cr->units[i])
                        return fail(-ENOMEM, "create", NULL);
        return 0;
}

static int wait_step(lvss_backup *b, lvss_async *as, int r, const char *what, void *userdata) {
        char w[64];
        snprintf(w, sizeof(w), "create: %s", what);
        return wait_op(b, as, r, w); /* 0 or the exit status */
}

/* A session (persistent without --exec: it outlives this process; with
 * --exec auto-release: deleted when the session ends, even if we crash),
 * the writers' components on the paths, the set, PrepareForBackup and
 * DoSnapshotSet.  Without writers (contexts with
 * LVSS_VOLSNAP_ATTR_NO_WRITERS) the coordinator goes straight from the set
 * to DoSnapshotSet: no gather, no PrepareForBackup, no BackupComplete. */
static int create_snapshot(create_run *cr) {
        uint32_t context = cr->exec_cmd ? (cr->no_writers ? LVSS_CTX_FILE_SHARE_BACKUP : LVSS_CTX_BACKUP)
                                        : (cr->no_writers ? LVSS_CTX_NAS_ROLLBACK : LVSS_CTX_APP_ROLLBACK);
        int r, code;

        r = requestor_begin(context, cr->type, &cr->b);
        if (r < 0)
                return cr->b ? fail(r, "create: initialize backup", lvss_backup_last_error(cr->b))
                             : fail(r, "cannot reach lvssd", NULL);
        if (!cr->no_writers) {
                if ((code = requestor_run(cr->b, REQUESTOR_GATHER, wait_step, false, NULL)) != 0)
                        return code;
                if ((code = select_components(cr->b, cr->units, cr->n_units, &cr->ctx)) != 0)
                        return code;
        }
        r = lvss_backup_start_snapshot_set(cr->b, &cr->set_id);
        if (r < 0)
                return fail(r, "create: start snapshot set", lvss_backup_last_error(cr->b));
        for (size_t i = 0; i < cr->n; i++) {
                r = lvss_backup_add_to_snapshot_set(cr->b, cr->paths[i], cr->provider, &cr->snap_ids[i]);
                if (r < 0) {
                        char what[PATH_MAX + 32];
                        snprintf(what, sizeof(what), "create: '%s'", cr->paths[i]);
                        return fail(r, what, lvss_backup_last_error(cr->b));
                }
        }
        if (!cr->no_writers && (code = requestor_run(cr->b, REQUESTOR_PREPARE, wait_step, false, NULL)) != 0)
                return code;
        return requestor_run(cr->b, REQUESTOR_SNAPSHOT, wait_step, false, NULL);
}

/* The shadows: JSON for output, original=path lines for --exec. */
static int create_collect_shadows(create_run *cr) {
        int r;

        cr->out = json_object();
        cr->shadows = json_array();
        cr->writers = json_array();
        json_object_set_new(cr->out, "set_id", json_string(cr->set_id.str));
        json_object_set_new(cr->out, "shadows", cr->shadows);
        json_object_set_new(cr->out, "writers", cr->writers);
        for (size_t i = 0; i < cr->n; i++) {
                lvss_snapshot_prop p = {};
                bool dup = false;
                for (size_t j = 0; j < i; j++)
                        dup |= strcmp(cr->snap_ids[j].str, cr->snap_ids[i].str) == 0;
                if (dup)
                        continue; /* two paths on one volume share one snapshot */
                r = lvss_backup_get_snapshot_properties(cr->b, cr->snap_ids[i].str, &p);
                if (r < 0)
                        return fail(r, "create: snapshot properties", lvss_backup_last_error(cr->b));
                _cleanup_free_ char *created = iso_time(p.created_usec);
                json_array_append_new(cr->shadows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                        "id", p.snapshot_id.str, "set_id", p.snapshot_set_id.str,
                        "original", p.original ? p.original : "", "path", p.path ? p.path : "",
                        "provider", p.provider_name ? p.provider_name : "",
                        "context", (p.context & LVSS_VOLSNAP_ATTR_PERSISTENT) ? "persistent" : "backup",
                        "created", created ? created : ""));
                size_t add = strlen(p.original ? p.original : "") + strlen(p.path ? p.path : "") + 3;
                char *np = realloc(cr->shadow_paths, cr->plen + add);
                if (!np) {
                        lvss_snapshot_prop_clear(&p);
                        return fail(-ENOMEM, "create", NULL);
                }
                cr->shadow_paths = np;
                cr->plen += (size_t) sprintf(cr->shadow_paths + cr->plen, "%s%s=%s", cr->plen ? "\n" : "",
                                             p.original ? p.original : "", p.path ? p.path : "");
                lvss_snapshot_prop_clear(&p);
        }
        return 0;
}

/* Each writer's Freeze->Thaw time, from the writer status: only --json
 * prints it, so without --json no GatherWriterStatus round trip is made. */
static void create_writer_windows(create_run *cr) {
        create_ctx *ctx = &cr->ctx;

        if (ctx->n_writers == 0 || !cr->json)
                return;
        _cleanup_(lvss_async_freep) lvss_async *as = NULL;
        bool have_status = lvss_backup_gather_writer_status(cr->b, &as) >= 0 &&
                           lvss_async_wait(as, LVSS_WAIT_INFINITE) >= 0;
        int ns = have_status ? lvss_backup_get_writer_status_count(cr->b) : 0;
        for (size_t i = 0; i < ctx->n_writers; i++) {
                json_t *window = json_null();
                for (int k = 0; k < ns; k++) {
                        lvss_writer_status st;
                        if (lvss_backup_get_writer_status(cr->b, k, &st) == 0 && st.instance_id &&
                            strcmp(st.instance_id, ctx->writer_instances[i]) == 0)
                                window = json_real((double) st.freeze_window_usec / 1000.0);
                }
                json_array_append_new(cr->writers, json_pack("{s:s, s:o}", "name", ctx->writer_names[i],
                                                             "freeze_window_ms", window));
        }
        if (have_status)
                (void) lvss_backup_free_writer_status(cr->b);
}

/* --exec's command, SetBackupSucceeded with its outcome, BackupComplete and,
 * for an --exec set, its deletion.  The exit status (1 if the command failed). */
static int create_finish(create_run *cr) {
        int succeeded = 1, code = 0, r;

        if (cr->exec_cmd) {
                int st = run_exec(cr->exec_cmd, cr->set_id.str, cr->shadow_paths ? cr->shadow_paths : "", cr->json);
                if (st != 0) {
                        fprintf(stderr, "%s: create: --exec command failed (exit %d): backup marked failed\n",
                                prog, st);
                        succeeded = 0;
                        code = 1;
                }
        }
        for (size_t i = 0; i < cr->ctx.n_comps; i++) {
                added_component *a = &cr->ctx.comps[i];
                r = lvss_backup_set_backup_succeeded(cr->b, a->instance_id, a->writer_id, a->type,
                                                     a->logical_path, a->name, succeeded);
                if (r < 0)
                        return -fail(r, "create: set backup succeeded", lvss_backup_last_error(cr->b));
        }
        if (!cr->no_writers) {
                int c2 = requestor_run(cr->b, REQUESTOR_COMPLETE, wait_step, false, NULL);
                if (c2 && !code)
                        code = c2;
        }
        /* An --exec set is auto-release: the session's Close deletes it
         * before lvssd answers, one round trip less than a DeleteShadows of
         * its own (issue 14).  A snapshot it could not delete stays listed:
         * say which and exit 1. */
        if (cr->exec_cmd) {
                r = lvss_backup_close(cr->b);
                if (r < 0) {
                        fprintf(stderr, "%s: create: snapshot set %s: cannot delete: %s\n", prog, cr->set_id.str,
                                lvss_backup_last_error(cr->b));
                        if (!code)
                                code = 1;
                }
        }
        return code;
}

static void create_print(create_run *cr) {
        if (cr->json) {
                char *s = json_dumps(cr->out, JSON_COMPACT);
                if (s)
                        puts(s);
                free(s);
        } else if (!cr->exec_cmd) {
                size_t i;
                json_t *o;
                printf("Snapshot set %s created (persistent).\n", cr->set_id.str);
                json_array_foreach(cr->shadows, i, o)
                        printf("  %s  %s -> %s (%s)\n", json_string_value(json_object_get(o, "id")),
                               json_string_value(json_object_get(o, "original")),
                               json_string_value(json_object_get(o, "path")),
                               json_string_value(json_object_get(o, "provider")));
        }
}

static int cmd_create(int argc, char **argv) {
        create_run cr = { .type = LVSS_BT_COPY };
        int code;

        code = create_parse(&cr, argc, argv);
        if (code == 0)
                code = create_units(&cr);
        if (code == 0)
                code = create_snapshot(&cr);
        if (code == 0)
                code = create_collect_shadows(&cr);
        if (code == 0) {
                create_writer_windows(&cr);
                code = create_finish(&cr);
                if (code >= 0)
                        create_print(&cr);
                else
                        code = -code; /* set backup succeeded failed: nothing printed */
        }
        create_run_done(&cr);
        return code < 0 ? 0 : code;
}

int main(int argc, char **argv) {
        if (argc < 2)
                return usage_error("%s", "no command given");
        const char *cmd = argv[1];
        if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
                fputs(help_main, stdout);
                return 0;
        }
        /* A dead pipe (lvssadm ... | head) must not kill us mid-sequence. */
        signal(SIGPIPE, SIG_IGN);
        argc--;
        argv++;
        if (strcmp(cmd, "list") == 0)
                return cmd_list(argc, argv);
        if (strcmp(cmd, "create") == 0)
                return cmd_create(argc, argv);
        if (strcmp(cmd, "delete") == 0)
                return cmd_delete(argc, argv);
        if (strcmp(cmd, "writer-metadata") == 0)
                return cmd_writer_metadata(argc, argv);
        if (strcmp(cmd, "status") == 0)
                return cmd_status(argc, argv);
        return usage_error("unknown command '%s'", cmd);
}
