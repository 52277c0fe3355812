/* SPDX-License-Identifier: MIT */
/*
 * lvss-backup restore ... --mailbox ADDRESS [--message UID]... --into-live:
 * after the database has been restored through the chain into a scratch
 * recovery directory (an alternate location the Mail Store Writer
 * recovered), copy the chosen mail into the folder "Recovered/<backup
 * time>" of the live mailbox through mstored, with everything mounted,
 * then remove the scratch directory.
 *
 * The work is composed from mstore(1): `mstore rsg msg list|get` reads the
 * recovered copy offline, `mstore folder create` and `mstore msg append`
 * write through mstored (each message one logged engine transaction).
 * mstore is looked up next to this program (installed side by side), in
 * the build tree (../mstore/mstore), then on PATH.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "into-live.h"
#include "vss.h"

#define MAX_OUTPUT (64u << 20)

static char mstore_path[PATH_MAX + 32];

static void find_mstore(void) {
        char self[PATH_MAX - 32];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = 0;
                char *slash = strrchr(self, '/');
                if (slash) {
                        *slash = 0;
                        snprintf(mstore_path, sizeof(mstore_path), "%s/mstore", self);
                        if (access(mstore_path, X_OK) == 0)
                                return;
                        snprintf(mstore_path, sizeof(mstore_path), "%s/../mstore/mstore", self);
                        if (access(mstore_path, X_OK) == 0)
                                return;
                }
        }
        snprintf(mstore_path, sizeof(mstore_path), "mstore");
}

/* Run mstore with ARGV (argv[0] ignored), stdin from IN (may be NULL),
 * stdout captured into *out (malloc'ed, NUL-terminated) if out.  Returns
 * the exit status, or -errno. */
static int run_mstore(char *const *argv, const void *in, size_t in_len, char **out, size_t *out_len) {
        int infd = -1, pfd[2] = {-1, -1};
        if (in) {
                infd = memfd_create("lvss-into-live", MFD_CLOEXEC);
                if (infd < 0)
                        return -errno;
                const char *p = in;
                size_t left = in_len;
                while (left > 0) {
                        ssize_t w = write(infd, p, left);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0) {
                                int r = -errno;
                                close(infd);
                                return r;
                        }
                        p += w;
                        left -= (size_t) w;
                }
                (void) lseek(infd, 0, SEEK_SET);
        }
        if (out && pipe2(pfd, O_CLOEXEC) < 0) {
                int r = -errno;
                if (infd >= 0)
                        close(infd);
                return r;
        }
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                if (infd >= 0)
                        close(infd);
                if (out) {
                        close(pfd[0]);
                        close(pfd[1]);
                }
                return r;
        }
        if (pid == 0) {
                if (infd >= 0)
                        dup2(infd, STDIN_FILENO);
                else {
                        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        if (nul >= 0)
                                dup2(nul, STDIN_FILENO);
                }
                if (out)
                        dup2(pfd[1], STDOUT_FILENO);
                char *args[16];
                size_t k = 0;
                args[k++] = mstore_path;
                for (size_t i = 1; argv[i] && k < 15; i++)
                        args[k++] = argv[i];
                args[k] = NULL;
                if (strchr(mstore_path, '/'))
                        execv(mstore_path, args);
                else
                        execvp(mstore_path, args);
                fprintf(stderr, "lvss-backup: cannot run %s: %s\n", mstore_path, strerror(errno));
                _exit(127);
        }
        if (infd >= 0)
                close(infd);
        int r = 0;
        if (out) {
                close(pfd[1]);
                size_t len = 0, alloc = 65536;
                char *buf = malloc(alloc + 1);
                for (;;) {
                        if (!buf) {
                                r = -ENOMEM;
                                break;
                        }
                        if (len == alloc) {
                                if (alloc >= MAX_OUTPUT) {
                                        r = -EFBIG;
                                        break;
                                }
                                char *nb = realloc(buf, alloc * 2 + 1);
                                if (!nb) {
                                        r = -ENOMEM;
                                        break;
                                }
                                buf = nb;
                                alloc *= 2;
                        }
                        ssize_t n = read(pfd[0], buf + len, alloc - len);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                break;
                        len += (size_t) n;
                }
                close(pfd[0]);
                if (r < 0) {
                        free(buf);
                        buf = NULL;
                } else {
                        buf[len] = 0;
                        *out = buf;
                        *out_len = len;
                }
        }
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (r < 0) {
                return r;
        }
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
        (void) sb;
        (void) ftw;
        if (flag == FTW_DP)
                return rmdir(path) < 0 ? -1 : 0;
        return unlink(path) < 0 ? -1 : 0;
}

void into_live_remove_scratch(const char *dir) {
        if (dir && *dir)
                (void) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int into_live_copy(const char *scratch, const char *address, const uint32_t *uids, size_t n_uids,
                   int64_t backup_time_ns, bool json, bool quiet) {
        find_mstore();
        time_t bt = (time_t) (backup_time_ns / 1000000000);
        struct tm tm;
        char folder[64];
        if (!gmtime_r(&bt, &tm) || strftime(folder, sizeof(folder), "Recovered/%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(folder, sizeof(folder), "Recovered/%lld", (long long) bt);

        /* What the recovered copy holds for ADDRESS. */
        char *list = NULL;
        size_t ll = 0;
        char *a_list[] = {"mstore", "rsg", "msg", "list", (char *) scratch, (char *) address, "--json", NULL};
        int ex = run_mstore(a_list, NULL, 0, &list, &ll);
        if (ex != 0) {
                vss_err("mailbox '%s': cannot read it in the restored copy (mstore rsg msg list exited %d)", address,
                        ex);
                free(list);
                return VSS_EXIT_FAIL;
        }
        json_t *doc = json_loads(list, 0, NULL);
        free(list);
        json_t *msgs = json_object_get(doc, "messages");
        if (!json_is_array(msgs)) {
                vss_err("mailbox '%s': malformed listing of the restored copy", address);
                json_decref(doc);
                return VSS_EXIT_FAIL;
        }
        /* Every requested UID must be in the backup. */
        for (size_t k = 0; k < n_uids; k++) {
                bool found = false;
                size_t i;
                json_t *m;
                json_array_foreach(msgs, i, m) found |= json_integer_value(json_object_get(m, "uid")) == uids[k];
                if (!found) {
                        vss_err("mailbox '%s': message %u is not in the backup", address, uids[k]);
                        json_decref(doc);
                        return VSS_EXIT_USAGE;
                }
        }
        /* The folder (and "Recovered") in the live mailbox. */
        char *fl = NULL;
        size_t fll = 0;
        char *a_fl[] = {"mstore", "folder", "list", (char *) address, "--json", NULL};
        ex = run_mstore(a_fl, NULL, 0, &fl, &fll);
        json_t *fdoc = ex == 0 ? json_loads(fl, 0, NULL) : NULL;
        free(fl);
        if (!fdoc) {
                vss_err("mailbox '%s': cannot list its live folders (mstore folder list exited %d)", address, ex);
                json_decref(doc);
                return VSS_EXIT_FAIL;
        }
        const char *need[2] = {"Recovered", folder};
        for (int k = 0; k < 2 && ex == 0; k++) {
                bool have = false;
                size_t i;
                json_t *f;
                json_array_foreach(json_object_get(fdoc, "folders"), i, f) have |=
                        strcmp(json_string_value(json_object_get(f, "name")) ?: "", need[k]) == 0;
                char *a_fc[] = {"mstore", "folder", "create", (char *) address, (char *) need[k], NULL};
                if (!have && (ex = run_mstore(a_fc, NULL, 0, NULL, NULL)) != 0)
                        vss_err("mailbox '%s': cannot create folder '%s'", address, need[k]);
        }
        json_decref(fdoc);
        size_t copied = 0;
        size_t i;
        json_t *m;
        json_t *done = json_array();
        json_array_foreach(msgs, i, m) {
                if (ex != 0)
                        break;
                uint32_t uid = (uint32_t) json_integer_value(json_object_get(m, "uid"));
                bool want = n_uids == 0;
                for (size_t k = 0; k < n_uids; k++)
                        want |= uids[k] == uid;
                if (!want)
                        continue;
                char uid_s[16], flags_s[16], time_s[24];
                snprintf(uid_s, sizeof(uid_s), "%u", uid);
                snprintf(flags_s, sizeof(flags_s), "%lld", (long long) json_integer_value(json_object_get(m, "flags")));
                snprintf(time_s, sizeof(time_s), "%lld", (long long) json_integer_value(json_object_get(m, "time")));
                char *data = NULL, *newuid = NULL;
                size_t dl = 0, nl = 0;
                char *a_get[] = {"mstore", "rsg", "msg", "get", (char *) scratch, (char *) address, uid_s, NULL};
                ex = run_mstore(a_get, NULL, 0, &data, &dl);
                if (ex != 0) {
                        vss_err("mailbox '%s': message %u: cannot read it in the restored copy", address, uid);
                        free(data);
                        break;
                }
                char *a_app[] = {"mstore", "msg", "append", (char *) address, folder, "--flags", flags_s,
                                 "--time", time_s, NULL};
                ex = run_mstore(a_app, data, dl, &newuid, &nl);
                free(data);
                if (ex != 0) {
                        vss_err("mailbox '%s': message %u: cannot store it in '%s' (mstore msg append exited %d)",
                                address, uid, folder, ex);
                        free(newuid);
                        break;
                }
                json_array_append_new(done, json_pack("{s:I,s:I}", "backup_uid", (json_int_t) uid, "uid",
                                                      (json_int_t) strtoll(newuid ? newuid : "0", NULL, 10)));
                free(newuid);
                copied++;
        }
        json_decref(doc);
        if (ex == 0) {
                if (json) {
                        json_t *o = json_pack("{s:s,s:s,s:o}", "mailbox", address, "folder", folder, "messages", done);
                        char *s = json_dumps(o, JSON_INDENT(2));
                        if (s)
                                puts(s);
                        free(s);
                        json_decref(o);
                        done = NULL;
                } else if (!quiet)
                        printf("recovered %zu message(s) of %s into folder '%s'\n", copied, address, folder);
        }
        json_decref(done);
        return ex == 0 ? VSS_EXIT_OK : ex < 0 ? VSS_EXIT_FAIL : ex;
}
