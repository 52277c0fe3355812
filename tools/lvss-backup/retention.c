/* SPDX-License-Identifier: MIT */
/*
 * tools/lvss-backup/retention.c: the repository maintenance commands
 * `forget`, `prune`, `check` and `key` (docs/design/repository.md §3.2,
 * §11c-§11e).  The command line only: decisions and I/O live in lib/repo
 * (forget.c, prune.c, check.c, keys.c).
 *
 * forget, prune and key take the exclusive lock and wait for it (a backup
 * that is running finishes first, §8); check takes the shared lock.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "password.h"
#include "repo.h"
#include "retention.h"
#include "vss.h"
#include "test-hook.h"

enum { RX_OK = 0, RX_FAIL = 1, RX_USAGE = 2, RX_BUSY = 4, RX_DENIED = 5, RX_CORRUPT = 6 };

#define LOCK_WAIT_S 600
#define MAX_COMPONENTS 256

typedef struct ropts {
        const char *cmd;
        const char *repo, *password_file, *new_password_file;
        repo_forget_policy policy;
        const char *components[MAX_COMPONENTS];
        bool dry_run, prune, json, quiet;
        unsigned max_unused;
        repo_check_options check;
        char **args;
        int n_args;
} ropts;

/* r: the handle that failed; NULL before one exists (repo_probe, repo_open). */
static int failed(repo *r, int k) {
        fprintf(stderr, "lvss-backup: %s\n", r ? repo_last_error(r) : repo_errmsg());
        return vss_exit_repo(k);   /* the one lib/repo code -> exit status map */
}

_printf_(2, 3) static int usage(const ropts *o, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "lvss-backup: %s: ", o->cmd);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see 'lvss-backup %s --help')\n", o->cmd);
        return RX_USAGE;
}

static void emit(json_t *o) {
        char *s = json_dumps(o, JSON_INDENT(2));
        if (s) {
                puts(s);
                free(s);
        }
        json_decref(o);
}

static void waiting(const char *dir, void *userdata) {
        (void) userdata;
        fprintf(stderr,
                "lvss-backup: repository %s is locked by another lvss-backup process; waiting for it (up to %d "
                "minutes)\n",
                dir, LOCK_WAIT_S / 60);
}

static int open_it(const ropts *o, enum repo_lock_mode lock, repo **ret) {
        _cleanup_(password_freep) char *pw = NULL;
        repo_open_options oo = {.lock_wait_s = lock == REPO_LOCK_EXCLUSIVE ? LOCK_WAIT_S : 0, .waiting = waiting};
        bool enc = false;
        int k;

        k = repo_probe(o->repo, &enc);
        if (k < 0)
                return k == -ENOENT ? failed(NULL, -EINVAL) : failed(NULL, k);
        if (enc) {
                k = get_password(o->password_file, false, &pw);
                if (k == -ENOKEY) {
                        fprintf(stderr,
                                "lvss-backup: repository %s is encrypted: a password is needed (--password-file FILE, "
                                "LVSS_BACKUP_PASSWORD, or a terminal)\n",
                                o->repo);
                        return RX_USAGE;
                }
                if (k < 0)
                        return RX_USAGE;
        }
        k = repo_open_opts(o->repo, pw, lock, &oo, ret);
        if (pw)
                explicit_bzero(pw, strlen(pw));
        return k < 0 ? failed(NULL, k) : 0;
}

/* ---- prune ---- */

static json_t *prune_json(const repo_prune_stats *st, bool dry_run) {
        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "packs_written", (json_int_t) st->packs_written,
                         "packs_deleted", (json_int_t) st->packs_deleted,
                         "packs_repacked", (json_int_t) st->packs_repacked, "bytes_freed",
                         (json_int_t) st->bytes_freed, "bytes_before", (json_int_t) st->bytes_before, "bytes_after",
                         (json_int_t) st->bytes_after, "dry_run", dry_run);
}

static void prune_text(const repo_prune_stats *st, bool dry_run) {
        printf("prune%s: %llu of %llu packs deleted, %llu repacked (%llu new); %.1f MiB freed (%.1f MiB -> %.1f MiB)\n",
               dry_run ? " (dry run, nothing changed)" : "", (unsigned long long) st->packs_deleted,
               (unsigned long long) st->packs_total, (unsigned long long) st->packs_repacked,
               (unsigned long long) st->packs_written, st->bytes_freed / 1048576.0, st->bytes_before / 1048576.0,
               st->bytes_after / 1048576.0);
}

static int do_prune(const ropts *o, repo *r, const repo_id *ignore, size_t n_ignore, repo_prune_stats *st) {
        repo_prune_options po = {.max_unused = o->max_unused, .dry_run = o->dry_run, .ignore = ignore,
                                 .n_ignore = n_ignore};
        int k = repo_prune(r, &po, st);
        return k < 0 ? failed(r, k) : 0;
}

static int run_prune(const ropts *o) {
        _cleanup_(repo_closep) repo *r = NULL;
        repo_prune_stats st = {};
        int k;

        if (o->n_args > 0)
                return usage(o, "unexpected argument '%s'", o->args[0]);
        if ((k = open_it(o, REPO_LOCK_EXCLUSIVE, &r)) != 0)
                return k;
        if ((k = do_prune(o, r, NULL, 0, &st)) != 0)
                return k;
        if (o->json)
                emit(prune_json(&st, o->dry_run));
        else if (!o->quiet)
                prune_text(&st, o->dry_run);
        return 0;
}

/* ---- forget ---- */

static void local_time(int64_t ns, char *buf, size_t size) {
        time_t t = (time_t) (ns / 1000000000);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm);
}

static json_t *reasons_json(unsigned reasons, char *text, size_t size) {
        json_t *a = json_array();
        size_t used = 0;

        text[0] = 0;
        for (unsigned b = 0; b < _REPO_KEEP_MAX; b++) {
                const char *name = repo_keep_reason_name(1u << b);
                if (!(reasons & (1u << b)) || !name)
                        continue;
                json_array_append_new(a, json_string(name));
                used += (size_t) snprintf(text + used, used < size ? size - used : 0, "%s%s", used ? "," : "", name);
        }
        return a;
}

static int run_forget(const ropts *o) {
        _cleanup_(repo_closep) repo *r = NULL;
        _cleanup_free_ unsigned *reasons = NULL;
        _cleanup_free_ repo_id *gone = NULL;
        size_t n_gone = 0;
        repo_record **recs = NULL;
        repo_prune_stats st = {};
        size_t n = 0, kept = 0, removed = 0;
        json_t *jk, *jr;
        int k, rc = 0;

        if (o->n_args > 0)
                return usage(o, "unexpected argument '%s'", o->args[0]);
        if ((k = open_it(o, REPO_LOCK_EXCLUSIVE, &r)) != 0)
                return k;
        k = repo_list_backups(r, &recs, &n);
        if (k < 0)
                return failed(r, k);
        reasons = calloc(n + 1, sizeof *reasons);
        if (!reasons) {
                rc = failed(r, -ENOMEM);
                goto out;
        }
        k = repo_forget_plan(recs, n, &o->policy, reasons);
        if (k < 0) {
                rc = k == -EINVAL ? usage(o, "%s", repo_errmsg()) : failed(r, k);
                goto out;
        }
        jk = json_array();
        jr = json_array();
        for (size_t i = n; i-- > 0;) {   /* newest first */
                char hex[REPO_ID_HEX_SIZE], t[64], why[200];
                if (reasons[i] == REPO_KEEP_NOT_SELECTED)
                        continue;
                repo_id_to_hex(&recs[i]->id, hex);
                local_time(recs[i]->time_ns, t, sizeof t);
                json_t *a = reasons_json(reasons[i], why, sizeof why);
                if (reasons[i]) {
                        kept++;
                        json_array_append_new(jk, json_pack("{s:s, s:s, s:s, s:o}", "id", hex, "type",
                                                            repo_backup_type_to_string(recs[i]->type), "time", t,
                                                            "reasons", a));
                } else {
                        removed++;
                        json_decref(a);
                        json_array_append_new(jr, json_pack("{s:s, s:s, s:s}", "id", hex, "type",
                                                            repo_backup_type_to_string(recs[i]->type), "time", t));
                }
                if (!o->json && !o->quiet)
                        printf("%-6s  %.16s  %-12s  %-25s  %s\n", reasons[i] ? "keep" : "remove", hex,
                               repo_backup_type_to_string(recs[i]->type), t, why);
        }
        if (!o->dry_run) {
                k = repo_forget_remove(r, recs, n, reasons);
                if (k < 0) {
                        json_decref(jk);
                        json_decref(jr);
                        rc = failed(r, k);
                        goto out;
                }
        }
        if (!o->json && !o->quiet)
                printf("%zu kept, %zu %s\n", kept, removed, o->dry_run ? "would be removed (dry run)" : "removed");
        /* A dry run's prune figures are those after the removals it shows. */
        gone = calloc(n + 1, sizeof *gone);
        for (size_t i = 0; gone && o->dry_run && i < n; i++)
                if (reasons[i] == 0)
                        gone[n_gone++] = recs[i]->id;
        if (o->prune && (rc = do_prune(o, r, gone, n_gone, &st)) != 0) {
                json_decref(jk);
                json_decref(jr);
                goto out;
        }
        if (o->json) {
                json_t *doc = json_pack("{s:o, s:o, s:b}", "kept", jk, "removed", jr, "dry_run", o->dry_run);
                if (o->prune)
                        json_object_set_new(doc, "prune", prune_json(&st, o->dry_run));
                emit(doc);
        } else {
                json_decref(jk);
                json_decref(jr);
                if (o->prune && !o->quiet)
                        prune_text(&st, o->dry_run);
        }
out:
        for (size_t i = 0; i < n; i++)
                repo_record_free(recs[i]);
        free(recs);
        return rc;
}

/* ---- check ---- */

typedef struct check_out {
        json_t *problems, *read;
        size_t n;
} check_out;

static void check_report(const char *kind, const char *name, const char *reason, void *userdata) {
        check_out *c = userdata;
        c->n++;
        json_array_append_new(c->problems, json_pack("{s:s, s:s, s:s}", "kind", kind, "name", name, "reason", reason));
        fprintf(stderr, "lvss-backup: %s %s: %s\n", kind, name, reason);
}

static void check_read(const repo_id *pack, void *userdata) {
        check_out *c = userdata;
        char hex[REPO_ID_HEX_SIZE];
        repo_id_to_hex(pack, hex);
        json_array_append_new(c->read, json_string(hex));
}

static int run_check(const ropts *o) {
        _cleanup_(repo_closep) repo *r = NULL;
        check_out c = {.problems = json_array(), .read = json_array()};
        repo_check_options co = o->check;
        repo_check_stats st = {};
        int k;

        if (o->n_args > 0) {
                k = usage(o, "unexpected argument '%s'", o->args[0]);
                goto out;
        }
        if ((k = open_it(o, REPO_LOCK_SHARED, &r)) != 0)
                goto out;
        co.pack_read = check_read;
        co.userdata = &c;
        co.now = time(NULL);
        k = repo_check(r, &co, check_report, &c, &st);
        if (k < 0 && k != REPO_E_CORRUPT) {
                k = failed(r, k);
                goto out;
        }
        if (o->json)
                emit(json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:O}", "ok", k == 0, "indexes",
                               (json_int_t) st.indexes, "packs", (json_int_t) st.packs, "records",
                               (json_int_t) st.records, "blobs", (json_int_t) st.blobs, "packs_read",
                               (json_int_t) st.packs_read, "bytes_read", (json_int_t) st.bytes_read, "read", c.read,
                               "problems", c.problems));
        else if (k == 0 && !o->quiet)
                printf("no problems found: %llu indexes, %llu packs, %llu backups, %llu blobs; %llu packs (%.1f MiB) "
                       "read\n",
                       (unsigned long long) st.indexes, (unsigned long long) st.packs, (unsigned long long) st.records,
                       (unsigned long long) st.blobs, (unsigned long long) st.packs_read, st.bytes_read / 1048576.0);
        if (k == REPO_E_CORRUPT)
                fprintf(stderr, "lvss-backup: repository %s: %zu problem(s) found\n", o->repo, c.n);
        k = k == 0 ? RX_OK : RX_CORRUPT;
out:
        json_decref(c.problems);
        json_decref(c.read);
        return k;
}

/* ---- key ---- */

static int run_key(const ropts *o) {
        _cleanup_(repo_closep) repo *r = NULL;
        _cleanup_(password_freep) char *pw = NULL;
        const char *sub = o->n_args > 0 ? o->args[0] : NULL;
        char hex[REPO_ID_HEX_SIZE];
        repo_id id;
        int k;

        if (!sub || (strcmp(sub, "list") != 0 && strcmp(sub, "add") != 0 && strcmp(sub, "remove") != 0 &&
                     strcmp(sub, "passwd") != 0))
                return usage(o, "expected list, add, remove ID or passwd");
        if (o->n_args != (strcmp(sub, "remove") == 0 ? 2 : 1))
                return usage(o, strcmp(sub, "remove") == 0 ? "remove: expected one key ID" : "%s: unexpected argument",
                             sub);
        if ((k = open_it(o, strcmp(sub, "list") == 0 ? REPO_LOCK_SHARED : REPO_LOCK_EXCLUSIVE, &r)) != 0)
                return k;
        if (strcmp(sub, "list") == 0) {
                _cleanup_free_ repo_key_info *ki = NULL;
                size_t n = 0;
                k = repo_key_list(r, &ki, &n);
                if (k < 0)
                        return failed(r, k);
                json_t *a = json_array();
                if (!o->json)
                        printf("%-16s  %-7s  %-20s  %s\n", "ID", "CURRENT", "CREATED", "HOST");
                for (size_t i = 0; i < n; i++) {
                        repo_id_to_hex(&ki[i].id, hex);
                        if (o->json)
                                json_array_append_new(a, json_pack("{s:s, s:b, s:o, s:o}", "id", hex, "current",
                                                                   ki[i].current, "created",
                                                                   *ki[i].created ? json_string(ki[i].created) : json_null(),
                                                                   "host", *ki[i].host ? json_string(ki[i].host) : json_null()));
                        else
                                printf("%-16.16s  %-7s  %-20s  %s\n", hex, ki[i].current ? "*" : "",
                                       *ki[i].created ? ki[i].created : "-", *ki[i].host ? ki[i].host : "-");
                }
                if (o->json)
                        emit(json_pack("{s:o}", "keys", a));
                else
                        json_decref(a);
                return 0;
        }
        if (strcmp(sub, "remove") == 0) {
                k = repo_resolve_key(r, o->args[1], &id);
                if (k == 0)
                        k = repo_key_remove(r, &id);
                if (k < 0)
                        return failed(r, k);
                repo_id_to_hex(&id, hex);
                if (o->json)
                        emit(json_pack("{s:s}", "removed", hex));
                else if (!o->quiet)
                        printf("key %.16s removed\n", hex);
                return 0;
        }
        k = get_new_password(o->new_password_file, &pw);
        if (k == -ENOKEY) {
                fprintf(stderr, "lvss-backup: key %s: a new password is needed (--new-password-file FILE, "
                                "LVSS_BACKUP_NEW_PASSWORD, or a terminal)\n", sub);
                return RX_USAGE;
        }
        if (k < 0)
                return RX_USAGE;
        k = strcmp(sub, "add") == 0 ? repo_key_add(r, pw, &id) : repo_key_passwd(r, pw, &id);
        explicit_bzero(pw, strlen(pw));
        if (k < 0)
                return failed(r, k);
        repo_id_to_hex(&id, hex);
        if (o->json)
                emit(json_pack("{s:s}", "id", hex));
        else if (!o->quiet)
                printf("%s %.16s\n", strcmp(sub, "add") == 0 ? "key added:" : "password changed; new key", hex);
        return 0;
}

/* ---- options ---- */

static const char *const helps[][2] = {
        {"forget",
         "forget --repo DIR [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N]\n"
         "       [--keep-monthly N] [--keep-yearly N] [--keep-within DURATION] [--component PATH]...\n"
         "       [--dry-run] [--prune [--max-unused PERCENT]] [--json]\n\n"
         "Remove the backup records the policy does not keep, per component series (local time;\n"
         "ISO weeks; each option only considers backups no earlier option kept).  A backup a kept\n"
         "one needs to restore (its full, the incrementals between) is kept with the reason 'chain'.\n"
         "DURATION: e.g. 7d, 2w, 1y6m, 36h (relative to the newest backup of the series).\n"
         "--dry-run shows the decisions and changes nothing; --prune runs prune afterwards."},
        {"prune",
         "prune --repo DIR [--max-unused PERCENT] [--dry-run] [--json]\n\n"
         "Delete the data no backup references: packs with nothing in use are deleted, packs with\n"
         "more than PERCENT (default 5) unused bytes are repacked, the index is rewritten.  Safe to\n"
         "kill at any point; a backup started meanwhile is refused busy (exit 4)."},
        {"check",
         "check --repo DIR [--read-data | --read-data-subset N% | --read-data-subset K/M] [--json]\n\n"
         "Check the structure (every index entry resolves, every backup's blobs are indexed, every\n"
         "base exists) without reading pack contents; --read-data reads and authenticates every\n"
         "pack; --read-data-subset reads the packs of part K of M, or this week's N% (deterministic,\n"
         "so a weekly job covers everything over time).  Exit 6 on corruption."},
        {"key",
         "key list|add|remove ID|passwd --repo DIR [--new-password-file FILE] [--json]\n\n"
         "Manage the passwords of an encrypted repository: each key wraps the same master keys.\n"
         "The new password comes from --new-password-file, $LVSS_BACKUP_NEW_PASSWORD or the\n"
         "terminal.  The last key and the key in use cannot be removed (exit 2)."},
};

static void rhelp(const char *cmd) {
        for (size_t i = 0; i < ELEMENTSOF(helps); i++)
                if (strcmp(helps[i][0], cmd) == 0)
                        printf("Usage: lvss-backup %s\n\n", helps[i][1]);
        printf("Common options:\n"
               "  --repo DIR            the repository\n"
               "  --password-file FILE  read the password from FILE (else $LVSS_BACKUP_PASSWORD, else the terminal)\n"
               "  --json                one JSON document on stdout\n"
               "  --quiet               no chatter\n"
               "\nExit codes: 0 ok, 1 failed, 2 usage or bad input, 4 repository busy, 5 access denied\n"
               "(wrong password), 6 corruption detected.  See lvss-backup(1).\n");
}

const char *retention_synopsis(size_t i) {
        return i < ELEMENTSOF(helps) ? helps[i][1] : NULL;
}

static int count_arg(const ropts *o, const char *name, const char *v, unsigned *ret) {
        char *end;
        unsigned long n;

        errno = 0;
        n = strtoul(v, &end, 10);
        if (!*v || *end || errno || n > 1000000 || *v == '-')
                return usage(o, "%s '%s': expected a number", name, v);
        *ret = (unsigned) n;
        return 0;
}

int cmd_retention(int argc, char **argv) {
        enum { O_LAST = 256, O_HOURLY, O_DAILY, O_WEEKLY, O_MONTHLY, O_YEARLY, O_WITHIN, O_COMPONENT, O_DRY, O_PRUNE,
               O_MAXU, O_READ, O_SUBSET, O_NEWPW };
        static const struct option longopts[] = {
                {"repo", required_argument, NULL, 'r'},
                {"password-file", required_argument, NULL, 'p'},
                {"new-password-file", required_argument, NULL, O_NEWPW},
                {"keep-last", required_argument, NULL, O_LAST},
                {"keep-hourly", required_argument, NULL, O_HOURLY},
                {"keep-daily", required_argument, NULL, O_DAILY},
                {"keep-weekly", required_argument, NULL, O_WEEKLY},
                {"keep-monthly", required_argument, NULL, O_MONTHLY},
                {"keep-yearly", required_argument, NULL, O_YEARLY},
                {"keep-within", required_argument, NULL, O_WITHIN},
                {"component", required_argument, NULL, O_COMPONENT},
                {"dry-run", no_argument, NULL, O_DRY},
                {"prune", no_argument, NULL, O_PRUNE},
                {"max-unused", required_argument, NULL, O_MAXU},
                {"read-data", no_argument, NULL, O_READ},
                {"read-data-subset", required_argument, NULL, O_SUBSET},
                {"json", no_argument, NULL, 'j'},
                {"quiet", no_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        ropts o = {.cmd = argv[0], .max_unused = 5};
        bool forget = strcmp(o.cmd, "forget") == 0, prune = strcmp(o.cmd, "prune") == 0;
        bool check = strcmp(o.cmd, "check") == 0, key = strcmp(o.cmd, "key") == 0;
        bool maxu = false;
        int c, k;

        o.policy.components = o.components;
        while ((c = getopt_long(argc, argv, "hq", longopts, NULL)) >= 0) {
                if ((((c >= O_LAST && c <= O_COMPONENT) || c == O_PRUNE) && !forget) || (c == O_MAXU && !forget && !prune) ||
                    (c == O_DRY && !forget && !prune) || ((c == O_READ || c == O_SUBSET) && !check) ||
                    (c == O_NEWPW && !key))
                        return usage(&o, "option '%s' does not apply to %s", argv[optind - 1], o.cmd);
                switch (c) {
                case 'r': o.repo = optarg; break;
                case 'p': o.password_file = optarg; break;
                case O_NEWPW: o.new_password_file = optarg; break;
                case O_LAST: if ((k = count_arg(&o, "--keep-last", optarg, &o.policy.keep_last))) return k; break;
                case O_HOURLY: if ((k = count_arg(&o, "--keep-hourly", optarg, &o.policy.keep_hourly))) return k; break;
                case O_DAILY: if ((k = count_arg(&o, "--keep-daily", optarg, &o.policy.keep_daily))) return k; break;
                case O_WEEKLY: if ((k = count_arg(&o, "--keep-weekly", optarg, &o.policy.keep_weekly))) return k; break;
                case O_MONTHLY: if ((k = count_arg(&o, "--keep-monthly", optarg, &o.policy.keep_monthly))) return k; break;
                case O_YEARLY: if ((k = count_arg(&o, "--keep-yearly", optarg, &o.policy.keep_yearly))) return k; break;
                case O_WITHIN:
                        if (repo_forget_parse_duration(optarg, &o.policy) < 0)
                                return usage(&o, "--keep-within: %s", repo_errmsg());
                        break;
                case O_COMPONENT:
                        if (o.policy.n_components >= MAX_COMPONENTS)
                                return usage(&o, "too many --component options");
                        o.components[o.policy.n_components++] = optarg;
                        break;
                case O_DRY: o.dry_run = true; break;
                case O_PRUNE: o.prune = true; break;
                case O_MAXU:
                        if ((k = count_arg(&o, "--max-unused", optarg, &o.max_unused)))
                                return k;
                        if (o.max_unused > 100)
                                return usage(&o, "--max-unused %u: expected a percentage (0-100)", o.max_unused);
                        maxu = true;
                        break;
                case O_READ:
                        if (o.check.data != REPO_CHECK_STRUCTURE)
                                return usage(&o, "--read-data and --read-data-subset exclude each other");
                        o.check.data = REPO_CHECK_READ_ALL;
                        break;
                case O_SUBSET:
                        if (o.check.data != REPO_CHECK_STRUCTURE)
                                return usage(&o, "--read-data and --read-data-subset exclude each other");
                        if (repo_check_parse_subset(optarg, &o.check) < 0)
                                return usage(&o, "--read-data-subset: %s", repo_errmsg());
                        break;
                case 'j': o.json = true; break;
                case 'q': o.quiet = true; break;
                case 'h': rhelp(o.cmd); return RX_OK;
                default: return RX_USAGE;
                }
        }
        o.args = argv + optind;
        o.n_args = argc - optind;
        if (!o.repo)
                return usage(&o, "--repo DIR is required");
        if (forget && maxu && !o.prune)
                return usage(&o, "--max-unused applies with --prune");
        if (forget)
                return run_forget(&o);
        if (prune)
                return run_prune(&o);
        if (check)
                return run_check(&o);
        if (key)
                return run_key(&o);
        return usage(&o, "unknown command");
}
