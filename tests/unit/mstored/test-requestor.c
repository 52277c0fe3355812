/* SPDX-License-Identifier: MIT */
/*
 * A small test requestor over liblvss for the Mail Store Writer's tests
 * (until lvss-backup can drive restores).  Not a product: no repository,
 * plain file copies.
 *
 *   test-requestor backup --type TYPE --sg-dir DIR --out OUT [--fail]
 *       back up every storage group component of the Mail Store Writer that
 *       lives under DIR: snapshot set, copy DIR's files from the snapshot to
 *       OUT/files/, BackupComplete (succeeded unless --fail), save the
 *       backup components document to OUT/bcd.json.
 *   test-requestor restore --from OUT --component PATH --sg-dir DIR
 *                  [--to ALT] [--additional] [--stage-logs]
 *       PreRestore of component PATH ("Mail Store/h1/SG1" or
 *       ".../SG1/DB1"), copy the files back into DIR (or ALT, sent as
 *       restore_options {"alternate_location":ALT}), PostRestore.  On a
 *       refusal prints the writer's message and exits 1.  --stage-logs: the
 *       backed-up logs go to DIR/.lvss-restore/ (restore option
 *       backup_log_dir), as lvss-backup does; else closed generations
 *       missing from DIR are put back there.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lvss/requestor.h>

#define WRITER_NAME "Mail Store Writer"

static int wait_async(lvss_backup *b, lvss_async *a, int r, const char *what) {
        if (r >= 0) {
                r = lvss_async_wait(a, 120000);
                if (r >= 0) {
                        lvss_async_status st;
                        int res = 0;
                        r = lvss_async_query_status(a, &st, &res);
                        if (r >= 0 && res < 0)
                                r = res;
                }
        }
        lvss_async_free(a);
        if (r < 0)
                fprintf(stderr, "test-requestor: %s: %s (%s)\n", what, lvss_strerror(r), lvss_backup_last_error(b));
        return r;
}

static int copy_file(const char *from, const char *to) {
        int in = open(from, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return -errno;
        int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (out < 0) {
                close(in);
                return -errno;
        }
        char buf[1 << 16];
        ssize_t n;
        int r = 0;
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (write(out, buf, (size_t) n) != n) {
                        r = -EIO;
                        break;
                }
        if (n < 0)
                r = -errno;
        if (r == 0 && fsync(out) < 0)
                r = -errno;
        close(in);
        close(out);
        return r;
}

/* Copy the store's files (*.edb *.stm E0?*.log E0?.chk) of directory from
 * into to.  only_db: just NAME.edb/.stm (a database restore) plus logs. */
static int copy_dir(const char *from, const char *to, const char *only_db, int with_chk) {
        DIR *d = opendir(from);
        if (!d)
                return -errno;
        mkdir(to, 0750);
        struct dirent *de;
        int r = 0, n = 0;
        while ((de = readdir(d)) && r >= 0) {
                const char *nm = de->d_name;
                size_t l = strlen(nm);
                int is_db = l > 4 && (strcmp(nm + l - 4, ".edb") == 0 || strcmp(nm + l - 4, ".stm") == 0);
                int is_log = l > 4 && strncmp(nm, "E0", 2) == 0 && strcmp(nm + l - 4, ".log") == 0 &&
                             !strstr(nm, "tmp");
                int is_chk = l == 7 && strncmp(nm, "E0", 2) == 0 && strcmp(nm + 3, ".chk") == 0;
                if (is_db && only_db && (strncmp(nm, only_db, l - 4) != 0 || strlen(only_db) != l - 4))
                        continue;
                if (!is_db && !is_log && !(is_chk && with_chk == 1))
                        continue;
                if (with_chk == 2 && !is_db)
                        continue; /* databases only */
                if (with_chk == 3 && (!is_log || l == 7))
                        continue; /* closed generations only */
                char a[4096], b[4096];
                snprintf(a, sizeof(a), "%s/%s", from, nm);
                snprintf(b, sizeof(b), "%s/%s", to, nm);
                /* Restoring: the live current log (E0?.log) and the live
                 * checkpoint stay; closed generations are put back only
                 * where they are missing (the live ones are the same). */
                if (with_chk == 0 && is_log && (l == 7 || access(b, F_OK) == 0))
                        continue;
                r = copy_file(a, b);
                n++;
        }
        closedir(d);
        return r < 0 ? r : n;
}

static const char *find_writer(lvss_backup *b, const char **ret_instance, char *ret_writer_id, size_t len) {
        int n = lvss_backup_get_writer_metadata_count(b);
        for (int i = 0; i < n; i++) {
                const char *inst;
                const lvss_writer_metadata *wm;
                lvss_writer_metadata_identity id;
                if (lvss_backup_get_writer_metadata(b, (size_t) i, &inst, &wm) < 0 ||
                    lvss_writer_metadata_get_identity(wm, &id) < 0)
                        continue;
                if (id.writer_name && strcmp(id.writer_name, WRITER_NAME) == 0) {
                        *ret_instance = inst;
                        snprintf(ret_writer_id, len, "%s", id.writer_id);
                        return inst;
                }
        }
        return NULL;
}

static int do_backup(const char *type_s, const char *sg_dir, const char *out, int report_fail) {
        lvss_backup *b = NULL;
        int r = lvss_backup_new(&b);
        if (r < 0) {
                fprintf(stderr, "test-requestor: lvssd: %s\n", lvss_strerror(r));
                return 1;
        }
        int t = lvss_backup_type_from_string(type_s);
        if (t < 0) {
                fprintf(stderr, "test-requestor: unknown type %s\n", type_s);
                return 2;
        }
        r = lvss_backup_initialize_for_backup(b, NULL);
        if (r >= 0)
                r = lvss_backup_set_backup_state(b, 1, 0, (lvss_backup_type) t, 0);
        lvss_async *a = NULL;
        if (r >= 0)
                r = wait_async(b, a, lvss_backup_gather_writer_metadata(b, &a), "gather");
        const char *inst = NULL;
        char wid[64];
        if (r >= 0 && !find_writer(b, &inst, wid, sizeof(wid))) {
                fprintf(stderr, "test-requestor: no Mail Store Writer\n");
                return 1;
        }
        /* Every storage group component (logical path "Mail Store/<server>"). */
        const lvss_writer_metadata *wm = NULL;
        char comp_lp[256] = "", comp_name[128] = "";
        for (int i = 0; r >= 0 && i < lvss_backup_get_writer_metadata_count(b); i++) {
                const char *ii;
                if (lvss_backup_get_writer_metadata(b, (size_t) i, &ii, &wm) < 0 || strcmp(ii, inst) != 0)
                        continue;
                /* The storage groups, and their databases (restore-only
                 * sub-components) so a later restore can pick one. */
                for (int k = 0; r >= 0 && k < lvss_writer_metadata_get_component_count(wm); k++) {
                        lvss_writer_metadata_component_info ci;
                        if (lvss_writer_metadata_get_component_info(wm, (size_t) k, &ci) < 0 ||
                            (!ci.selectable && !ci.selectable_for_restore))
                                continue;
                        r = lvss_backup_add_component(b, inst, wid, ci.type, ci.logical_path, ci.component_name);
                        if (ci.selectable) {
                                snprintf(comp_lp, sizeof(comp_lp), "%s", ci.logical_path);
                                snprintf(comp_name, sizeof(comp_name), "%s", ci.component_name);
                        }
                }
        }
        lvss_id set, snap;
        if (r >= 0)
                r = lvss_backup_start_snapshot_set(b, &set);
        if (r >= 0)
                r = lvss_backup_add_to_snapshot_set(b, sg_dir, NULL, &snap);
        if (r >= 0)
                r = wait_async(b, a, lvss_backup_prepare_for_backup(b, &a), "prepare for backup");
        if (r >= 0)
                r = wait_async(b, a, lvss_backup_do_snapshot_set(b, &a), "snapshot set");
        char *sp = NULL;
        if (r >= 0)
                r = lvss_backup_get_snapshot_path(b, sg_dir, &sp);
        int copied = 0;
        if (r >= 0) {
                char files[4096];
                snprintf(files, sizeof(files), "%s/files", out);
                mkdir(out, 0750);
                copied = copy_dir(sp, files, NULL, 1);
                if (copied < 0) {
                        fprintf(stderr, "test-requestor: copy from %s: %s\n", sp, strerror(-copied));
                        report_fail = 1;
                }
        }
        if (r >= 0)
                r = lvss_backup_set_backup_succeeded(b, inst, wid, LVSS_CT_FILEGROUP, comp_lp, comp_name,
                                                     !report_fail);
        if (r >= 0)
                r = wait_async(b, a, lvss_backup_backup_complete(b, &a), "backup complete");
        char *bcd = NULL;
        if (r >= 0)
                r = lvss_backup_save_as_json(b, &bcd);
        if (r >= 0) {
                char fn[4096];
                snprintf(fn, sizeof(fn), "%s/bcd.json", out);
                FILE *f = fopen(fn, "w");
                if (f) {
                        fputs(bcd, f);
                        fclose(f);
                }
        }
        if (r < 0)
                fprintf(stderr, "test-requestor: backup failed: %s (%s)\n", lvss_strerror(r), lvss_backup_last_error(b));
        else
                printf("backup %s: %d files from %s\n", type_s, copied, sp);
        free(sp);
        free(bcd);
        lvss_backup_free(b);
        return r < 0 ? 1 : 0;
}

static char *slurp(const char *fn) {
        FILE *f = fopen(fn, "r");
        if (!f)
                return NULL;
        char *buf = calloc(1, 8 << 20);
        size_t n = buf ? fread(buf, 1, (8 << 20) - 1, f) : 0;
        (void) n;
        fclose(f);
        return buf;
}

/* --hold-after pre|post: after that step, say so on stdout and wait to be
 * killed (the session stays open).  --partial: report the files as not all
 * restored (LVSS_RS_FAILED) at PostRestore. */
static const char *hold_after;
static int partial;

static void maybe_hold(const char *step) {
        if (hold_after && strcmp(hold_after, step) == 0) {
                printf("held after %s\n", step);
                fflush(stdout);
                sleep(120);
        }
}

static int do_restore(const char *from, const char *component, const char *sg_dir, const char *to, int additional,
                      int stage) {
        char fn[4096];
        snprintf(fn, sizeof(fn), "%s/bcd.json", from);
        char *bcd = slurp(fn);
        if (!bcd) {
                fprintf(stderr, "test-requestor: %s: cannot read\n", fn);
                return 2;
        }
        /* Split PATH into logical path and name at the last '/'. */
        char lp[512];
        snprintf(lp, sizeof(lp), "%s", component);
        char *slash = strrchr(lp, '/');
        if (!slash)
                return 2;
        *slash = 0;
        const char *name = slash + 1;
        /* A database is ".../<SG>/<DB>": three slashes. */
        int slashes = 0;
        for (const char *p = component; *p; p++)
                slashes += *p == '/';
        lvss_component_type type = slashes >= 3 ? LVSS_CT_DATABASE : LVSS_CT_FILEGROUP;

        lvss_backup *b = NULL;
        lvss_async *a = NULL;
        int r = lvss_backup_new(&b);
        if (r >= 0)
                r = lvss_backup_initialize_for_restore(b, bcd);
        if (r >= 0)
                r = wait_async(b, a, lvss_backup_gather_writer_metadata(b, &a), "gather");
        const char *inst = NULL;
        char wid[64] = "";
        if (r >= 0 && !find_writer(b, &inst, wid, sizeof(wid))) {
                fprintf(stderr, "test-requestor: no Mail Store Writer\n");
                lvss_backup_free(b);
                free(bcd);
                return 1;
        }
        if (r >= 0)
                r = lvss_backup_set_selected_for_restore(b, wid, type, lp, name, 1);
        if (r >= 0 && additional)
                r = lvss_backup_set_additional_restores(b, wid, type, lp, name, 1);
        char staging[4200];
        snprintf(staging, sizeof(staging), "%s/.lvss-restore", sg_dir);
        if (r >= 0 && (to || stage)) {
                char opt[4300];
                if (to)
                        snprintf(opt, sizeof(opt), "{\"alternate_location\":\"%s\"}", to);
                else
                        snprintf(opt, sizeof(opt), "{\"backup_log_dir\":\"%s\"}", staging);
                r = lvss_backup_set_restore_options(b, wid, type, lp, name, opt);
        }
        if (r < 0) {
                fprintf(stderr, "test-requestor: select %s: %s (%s)\n", component, lvss_strerror(r),
                        lvss_backup_last_error(b));
                lvss_backup_free(b);
                free(bcd);
                return 1;
        }
        r = lvss_backup_pre_restore(b, &a);
        if (r >= 0) {
                r = lvss_async_wait(a, 120000);
                lvss_async_status st;
                int res = 0;
                if (r >= 0 && lvss_async_query_status(a, &st, &res) >= 0 && res < 0)
                        r = res;
                lvss_async_free(a);
        }
        if (r < 0) {
                /* Print the writer's reason. */
                int nw = lvss_backup_get_writer_components_count(b);
                for (int i = 0; i < nw; i++) {
                        lvss_writer_components *wc;
                        if (lvss_backup_get_writer_components(b, (size_t) i, &wc) < 0)
                                continue;
                        for (int k = 0; k < lvss_writer_components_get_count(wc); k++) {
                                lvss_component *c;
                                if (lvss_writer_components_get_component(wc, (size_t) k, &c) >= 0 &&
                                    lvss_component_get_pre_restore_failure_msg(c) &&
                                    *lvss_component_get_pre_restore_failure_msg(c))
                                        fprintf(stderr, "test-requestor: component '%s': %s\n", component,
                                                lvss_component_get_pre_restore_failure_msg(c));
                        }
                }
                /* And the writer's failure message from its status. */
                lvss_async *ga = NULL;
                if (wait_async(b, ga, lvss_backup_gather_writer_status(b, &ga), "writer status") >= 0)
                        for (int i = 0; i < lvss_backup_get_writer_status_count(b); i++) {
                                lvss_writer_status ws;
                                if (lvss_backup_get_writer_status(b, (size_t) i, &ws) >= 0 && ws.message &&
                                    *ws.message)
                                        fprintf(stderr, "test-requestor: component '%s': %s: %s\n", component,
                                                ws.writer_name, ws.message);
                        }
                fprintf(stderr, "test-requestor: pre-restore refused: %s (%s)\n", lvss_strerror(r),
                        lvss_backup_last_error(b));
                lvss_backup_free(b);
                free(bcd);
                return 1;
        }
        maybe_hold("pre");
        char files[4096];
        snprintf(files, sizeof(files), "%s/files", from);
        int n;
        if (stage && !to) {
                /* Databases in place, logs staged (never touching live logs). */
                n = copy_dir(files, sg_dir, type == LVSS_CT_DATABASE ? name : NULL, 2);
                int m = n >= 0 ? copy_dir(files, staging, NULL, 3) : 0;
                n = m < 0 ? m : n + m;
        } else
                n = copy_dir(files, to ? to : sg_dir, type == LVSS_CT_DATABASE ? name : NULL, 0);
        r = lvss_backup_set_file_restore_status(b, wid, type, lp, name,
                                                n >= 0 && !partial ? LVSS_RS_ALL : LVSS_RS_FAILED);
        if (r >= 0)
                r = wait_async(b, a, lvss_backup_post_restore(b, &a), "post restore");
        maybe_hold("post");
        if (r < 0)
                fprintf(stderr, "test-requestor: restore failed: %s (%s)\n", lvss_strerror(r),
                        lvss_backup_last_error(b));
        else
                printf("restored %s: %d files into %s\n", component, n, to ? to : sg_dir);
        lvss_backup_free(b);
        free(bcd);
        return r < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
        const char *type = "full", *sg_dir = NULL, *out = NULL, *from = NULL, *comp = NULL, *to = NULL;
        int fail = 0, additional = 0, stage = 0;
        if (argc < 2)
                return 2;
        for (int i = 2; i < argc; i++) {
                const char *a = argv[i];
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (strcmp(a, "--fail") == 0)
                        fail = 1;
                else if (strcmp(a, "--additional") == 0)
                        additional = 1;
                else if (strcmp(a, "--stage-logs") == 0)
                        stage = 1;
                else if (v && strcmp(a, "--type") == 0)
                        type = v, i++;
                else if (v && strcmp(a, "--sg-dir") == 0)
                        sg_dir = v, i++;
                else if (v && strcmp(a, "--out") == 0)
                        out = v, i++;
                else if (v && strcmp(a, "--from") == 0)
                        from = v, i++;
                else if (v && strcmp(a, "--component") == 0)
                        comp = v, i++;
                else if (v && strcmp(a, "--to") == 0)
                        to = v, i++;
                else if (v && strcmp(a, "--hold-after") == 0)
                        hold_after = v, i++;
                else if (strcmp(a, "--partial") == 0)
                        partial = 1;
                else {
                        fprintf(stderr, "test-requestor: bad argument %s\n", a);
                        return 2;
                }
        }
        if (strcmp(argv[1], "backup") == 0 && sg_dir && out)
                return do_backup(type, sg_dir, out, fail);
        if (strcmp(argv[1], "restore") == 0 && from && comp && sg_dir)
                return do_restore(from, comp, sg_dir, to, additional, stage);
        fprintf(stderr, "usage: test-requestor backup|restore ...\n");
        return 2;
}
