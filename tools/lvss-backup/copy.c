/* SPDX-License-Identifier: MIT */
/*
 * tools/lvss-backup/copy.c: `lvss-backup copy --from R1 --to R2 [ID...]`,
 * backups and the chains they need copied between repositories (local or
 * s3:), re-encrypted under the destination's keys (lib/repo/copy.c,
 * docs/design/repository.md §15.4).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "copy.h"
#include "macro.h"
#include "password.h"
#include "repo.h"
#include "test-hook.h"
#include "vss.h"


#define LOCK_WAIT_S 600

static const char synopsis[] =
        "copy --from R1 --to R2 [--password-file FILE] [--to-password-file FILE] [--progress-fd N] [--json] [ID...]";

const char *copy_synopsis(void) {
        return synopsis;
}

/* lib/repo's codes as exit statuses: the one map (vss_exit_repo), with a
 * repository that does not exist as a usage error. */
static int exit_of(int k) {
        return k == -ENOENT ? VSS_EXIT_USAGE : vss_exit_repo(k);
}

/* r: the handle that failed; NULL before one exists (repo_probe*, repo_open). */
static int failed(repo *r, int k) {
        fprintf(stderr, "lvss-backup: %s\n", r ? repo_last_error(r) : repo_errmsg());
        return exit_of(k);
}

static void waiting(const char *dir, void *userdata) {
        (void) userdata;
        fprintf(stderr, "lvss-backup: repository %s is locked by another lvss-backup process; waiting for it (up to %d "
                "minutes)\n", dir, LOCK_WAIT_S / 60);
}

/* pw: the password to use (NULL: ask for one through file/env). */
static int open_one(const char *loc, const char *file, const char *env_name, const char *fallback,
                    enum repo_lock_mode lock, repo **ret) {
        _cleanup_(password_freep) char *pw = NULL;
        repo_open_options oo = {.lock_wait_s = lock == REPO_LOCK_EXCLUSIVE ? LOCK_WAIT_S : 0, .waiting = waiting};
        bool enc = false;
        int k;

        k = repo_probe(loc, &enc);
        if (k < 0)
                return failed(NULL, k == -ENOENT ? -EINVAL : k);
        if (enc) {
                k = get_password_from(file, env_name, &pw);
                if (k == -ENOKEY && fallback)
                        k = 0;
                else if (k == -ENOKEY) {
                        fprintf(stderr, "lvss-backup: copy: repository %s is encrypted: a password is needed (%s)\n",
                                loc, strcmp(env_name, "LVSS_BACKUP_PASSWORD") == 0
                                             ? "--password-file FILE or LVSS_BACKUP_PASSWORD"
                                             : "--to-password-file FILE, LVSS_BACKUP_TO_PASSWORD, or the source's");
                        return VSS_EXIT_USAGE;
                }
                if (k < 0)
                        return VSS_EXIT_USAGE;
        }
        k = repo_open_opts(loc, pw ? pw : (enc ? fallback : NULL), lock, &oo, ret);
        return k < 0 ? failed(NULL, k) : 0;
}

typedef struct copy_out {
        bool json, quiet;
        json_t *list;
        vss_progress prog;
        const char *pause; /* test builds: LVSS_BACKUP_TEST_PAUSE_COPY */
} copy_out;

/* Test builds: once the first blob is copied, a progress line, then the
 * file's path written to the file named by LVSS_BACKUP_TEST_PAUSE_COPY and
 * a wait (60 s at most) until the test removes that file (backupd-sync.sh
 * reads the running sync task's progress meanwhile). */
static void test_pause_copy(copy_out *c, const char *path) {
        const char *pause = c->pause;
        FILE *f;

        if (!pause)
                return;
        c->pause = NULL; /* once */
        f = fopen(pause, "we");
        if (!f)
                return;
        vss_progress_flush(&c->prog);
        fprintf(f, "%s\n", path);
        fclose(f);
        for (int i = 0; i < 600 && access(pause, F_OK) == 0; i++)
                usleep(100 * 1000);
}

/* repo_copy's progress: on the terminal and on --progress-fd (vss_progress);
 * a line of its own when the copy is planned and after each backup but the
 * last (whose line is vss_progress_done's). */
static void on_progress(const repo_copy_progress *p, const char *path, void *userdata) {
        copy_out *c = userdata;
        repo_stats st = {.files = p->files_done, .bytes_read = p->bytes_done, .bytes_added = p->bytes_added};

        c->prog.bytes_total = p->bytes_total;
        c->prog.backups_done = p->backups_done;
        c->prog.backups_total = p->backups_total;
        if (path) {
                vss_progress_fn(&st, path, &c->prog);
                if (p->bytes_done > 0)
                        test_pause_copy(c, path);
                return;
        }
        c->prog.last = st;
        if (p->backups_done < p->backups_total)
                vss_progress_flush(&c->prog);
}

static void on_copied(const repo_id *src, const repo_id *dst, bool skipped, void *userdata) {
        copy_out *c = userdata;
        char sh[REPO_ID_HEX_SIZE], dh[REPO_ID_HEX_SIZE];
        repo_id_to_hex(src, sh);
        repo_id_to_hex(dst, dh);
        vss_progress_clear(&c->prog);
        if (c->json)
                json_array_append_new(c->list, json_pack("{s:s, s:s, s:b}", "from", sh, "to", dh, "skipped", skipped));
        else if (!c->quiet)
                printf("%s %.16s -> %.16s\n", skipped ? "present" : "copied ", sh, dh);
        fflush(stdout);
}

int cmd_copy(int argc, char **argv) {
        static const struct option longopts[] = {
                {"from", required_argument, NULL, 'f'},
                {"to", required_argument, NULL, 't'},
                {"password-file", required_argument, NULL, 'p'},
                {"to-password-file", required_argument, NULL, 'P'},
                {"progress-fd", required_argument, NULL, 'F'},
                {"insecure-password-file", no_argument, NULL, 'I'},
                {"json", no_argument, NULL, 'j'},
                {"quiet", no_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *from = NULL, *to = NULL, *pwfile = NULL, *to_pwfile = NULL;
        copy_out out = {};
        int progress_fd = -1;
        repo *r1 = NULL, *r2 = NULL;
        _cleanup_free_ repo_id *ids = NULL;
        size_t n_ids = 0;
        int c, k, ex;

        optind = 1;
        while ((c = getopt_long(argc, argv, "hq", longopts, NULL)) >= 0)
                switch (c) {
                case 'f': from = optarg; break;
                case 't': to = optarg; break;
                case 'p': pwfile = optarg; break;
                case 'P': to_pwfile = optarg; break;
                case 'F':
                        if (vss_progress_fd_arg("copy", optarg, &progress_fd) < 0)
                                return VSS_EXIT_USAGE;
                        break;
                case 'I': password_allow_insecure_file(true); break;
                case 'j': out.json = true; break;
                case 'q': out.quiet = true; break;
                case 'h':
                        printf("lvss-backup %s\n\nCopy backups (all, or the IDs given, with the chains they need)\n"
                               "from R1 to R2, re-encrypted under R2's keys; backups already in R2 are skipped.\n"
                               "R1's password: --password-file or LVSS_BACKUP_PASSWORD; R2's: --to-password-file,\n"
                               "LVSS_BACKUP_TO_PASSWORD, else the same as R1's.\n"
                               "  --progress-fd N   write {\"bytes_done\",\"bytes_total\",\"files\",\"backups_done\",\n"
                               "                    \"backups_total\"} lines to fd N (3 or more)\n", synopsis);
                        return VSS_EXIT_OK;
                default:
                        fprintf(stderr, "lvss-backup: copy: bad option (see 'lvss-backup copy --help')\n");
                        return VSS_EXIT_USAGE;
                }
        if (!from || !to) {
                fprintf(stderr, "lvss-backup: copy: --from R1 and --to R2 are required (see 'lvss-backup copy --help')\n");
                return VSS_EXIT_USAGE;
        }
        _cleanup_(password_freep) char *src_pw = NULL;
        bool enc = false;
        repo_id id1, id2;
        /* the same repository twice would wait for its own lock: refuse first */
        if ((k = repo_probe_id(from, &id1)) < 0 || (k = repo_probe_id(to, &id2)) < 0)
                return failed(NULL, k == -ENOENT ? -EINVAL : k);
        if (memcmp(id1.b, id2.b, sizeof id1.b) == 0) {
                fprintf(stderr, "lvss-backup: copy: %s and %s are the same repository\n", from, to);
                return VSS_EXIT_USAGE;
        }
        k = repo_probe(from, &enc);
        if (k < 0)
                return failed(NULL, k == -ENOENT ? -EINVAL : k);
        if (enc) {
                k = get_password_from(pwfile, "LVSS_BACKUP_PASSWORD", &src_pw);
                if (k == -ENOKEY) {
                        fprintf(stderr, "lvss-backup: copy: repository %s is encrypted: a password is needed "
                                "(--password-file FILE or LVSS_BACKUP_PASSWORD)\n", from);
                        return VSS_EXIT_USAGE;
                }
                if (k < 0)
                        return VSS_EXIT_USAGE;
        }
        k = repo_open(from, src_pw, REPO_LOCK_SHARED, &r1);
        if (k < 0)
                return failed(NULL, k);
        ex = open_one(to, to_pwfile, "LVSS_BACKUP_TO_PASSWORD", src_pw, REPO_LOCK_EXCLUSIVE, &r2);
        if (ex != 0) {
                repo_close(r1);
                return ex;
        }
        ids = calloc((size_t) (argc - optind) + 1, sizeof *ids);
        if (!ids) {
                ex = failed(NULL, -ENOMEM);
                goto out;
        }
        for (int i = optind; i < argc; i++) {
                k = repo_resolve_backup(r1, argv[i], &ids[n_ids]);
                if (k < 0) {
                        ex = failed(r1, k == -ENOENT ? -EINVAL : k);
                        goto out;
                }
                n_ids++;
        }
        out.list = json_array();
        repo_copy_stats st = {};
        vss_progress_init(&out.prog, out.quiet, "copy");
        out.prog.fd = progress_fd;
        out.prog.copy = true;
        out.pause = TEST_HOOK_ENV("LVSS_BACKUP_TEST_PAUSE_COPY");
        repo_set_copy_progress(r2, on_progress, &out);
        k = repo_copy(r1, r2, ids, n_ids, on_copied, &out, &st);
        vss_progress_done(&out.prog);
        if (k < 0) {
                ex = failed(r2, k);   /* repo_copy reports on the destination */
                goto out;
        }
        if (out.json) {
                json_t *o = json_pack("{s:O, s:I, s:I, s:I, s:I, s:I, s:I}", "backups", out.list, "copied",
                                      (json_int_t) st.backups_copied, "skipped", (json_int_t) st.backups_skipped,
                                      "blobs_new", (json_int_t) st.blobs_new, "blobs_known",
                                      (json_int_t) st.blobs_known, "bytes_read", (json_int_t) st.bytes_read,
                                      "bytes_added", (json_int_t) st.bytes_added);
                char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
                if (s)
                        puts(s);
                free(s);
                json_decref(o);
        } else if (!out.quiet)
                printf("%llu copied, %llu already present; %llu new blobs, %llu deduplicated; %.1f MiB read, %.1f MiB "
                       "added\n", (unsigned long long) st.backups_copied, (unsigned long long) st.backups_skipped,
                       (unsigned long long) st.blobs_new, (unsigned long long) st.blobs_known,
                       st.bytes_read / 1048576.0, st.bytes_added / 1048576.0);
        ex = VSS_EXIT_OK;
out:
        json_decref(out.list);
        repo_close(r2);
        repo_close(r1);
        return ex;
}
