/* SPDX-License-Identifier: MIT */
/*
 * mstore: administration and mail access for mstored, over its D-Bus API
 * org.lvss.MailStore1 (system bus, or $LVSS_BUS).  Commands and JSON fields
 * are those of docs/interfaces.md; see mstore(1).
 *
 * Exit status: 0 ok, 1 failed, 2 usage or bad input, 4 busy (backup in
 * progress), 5 access denied, 6 corruption detected.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mstore/mstore.h>
#include <systemd/sd-bus.h>

#include "lib/core/macro.h"
#include "lib/lvss/proto.h"
#include "rsg.h"
#include "test-hook.h"

#define CALL_TIMEOUT_USEC (600ull * 1000000ull) /* a delivery may wait out a freeze */
#define MAX_MESSAGE_INPUT (256u * 1024 * 1024)

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_BUSY = 4, EXIT_DENIED = 5, EXIT_CORRUPT = 6 };

static bool arg_json = false;

static const char *help_text =
        "Usage: mstore COMMAND [ARGS] [--json]\n"
        "\n"
        "  sg create NAME [--path DIR] [--log-path DIR] [--circular-logging]\n"
        "  sg list [--json]\n"
        "  db create SG/DB [--public]\n"
        "  db mount SG/DB\n"
        "  db dismount SG/DB\n"
        "  db set SG/DB allow-restore-overwrite=yes|no\n"
        "  db list [--json]\n"
        "  mailbox create ADDRESS --db SG/DB\n"
        "  mailbox list [--json]\n"
        "  deliver ADDRESS < MESSAGE\n"
        "  msg list ADDRESS [--json]\n"
        "  msg get ADDRESS UID          raw message on stdout, byte for byte\n"
        "  msg delete ADDRESS UID       delete a message (and its content)\n"
        "  msg append ADDRESS FOLDER [--flags N] [--time T] < MESSAGE\n"
        "                               store a message in a folder (prints its UID)\n"
        "  folder create ADDRESS NAME   NAME: levels separated by '/'\n"
        "  folder list ADDRESS [--json]\n"
        "  folder delete ADDRESS NAME   deletes the folder's messages too (not INBOX)\n"
        "  stats [--json]\n"
        "  rsg msg list DIR ADDRESS [--base E00] [--json]\n"
        "  rsg msg get DIR ADDRESS UID [--base E00]\n"
        "                               read a storage group restored to an alternate\n"
        "                               location (offline, without mstored)\n"
        "\n"
        "Talks to mstored over D-Bus (the system bus, or $LVSS_BUS).\n"
        "Exit status: 0 ok, 1 failed, 2 usage or bad input, 4 busy, 5 access denied,\n"
        "6 corruption detected.\n";

static int usage_error(const char *fmt, ...) _printf_(1, 2);
static int usage_error(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "mstore: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\nTry 'mstore --help'.\n");
        va_end(ap);
        return EXIT_USAGE;
}

static int exit_for_error(const sd_bus_error *e) {
        const char *n = e->name ? e->name : "";
        if (strcmp(n, SD_BUS_ERROR_ACCESS_DENIED) == 0)
                return EXIT_DENIED;
        if (strcmp(n, SD_BUS_ERROR_INVALID_ARGS) == 0)
                return EXIT_USAGE;
        if (strcmp(n, LVSS_MAILSTORE_ERROR_PREFIX "Busy") == 0)
                return EXIT_BUSY;
        if (strcmp(n, LVSS_MAILSTORE_ERROR_PREFIX "Corrupt") == 0)
                return EXIT_CORRUPT;
        return EXIT_FAIL;
}

/* Call METHOD; on failure print the message and return an exit code (> 0). */
static int call(const char *method, sd_bus_message **reply, const char *sig, ...) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r = proto_bus_connect(&bus, 0, NULL);
        if (r < 0) {
                fprintf(stderr, "mstore: %s\n", error_slot_get(NULL));
                return EXIT_FAIL;
        }
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        r = sd_bus_message_new_method_call(bus, &m, LVSS_MAILSTORE_BUS_NAME, LVSS_MAILSTORE_PATH,
                                           LVSS_MAILSTORE_IFACE, method);
        if (r >= 0 && sig && *sig) {
                va_list ap;
                va_start(ap, sig);
                r = sd_bus_message_appendv(m, sig, ap);
                va_end(ap);
        }
        if (r < 0) {
                fprintf(stderr, "mstore: %s: %s\n", method, strerror(-r));
                return EXIT_FAIL;
        }
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *rep = NULL;
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &e, &rep);
        if (r < 0) {
                if (e.name && (strcmp(e.name, SD_BUS_ERROR_SERVICE_UNKNOWN) == 0 ||
                               strcmp(e.name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) == 0))
                        fprintf(stderr, "mstore: mstored is not running (no owner of %s)\n", LVSS_MAILSTORE_BUS_NAME);
                else
                        fprintf(stderr, "mstore: %s\n", e.message ? e.message : strerror(-r));
                int rc = e.name ? exit_for_error(&e) : EXIT_FAIL;
                sd_bus_error_free(&e);
                return rc;
        }
        if (reply)
                *reply = rep;
        else
                sd_bus_message_unref(rep);
        return 0;
}

/* Call a method that returns one JSON string; parse it into *ret. */
static int call_json(const char *method, json_t **ret, const char *sig, const char *a1) {
        sd_bus_message *rep = NULL;
        int rc = sig ? call(method, &rep, sig, a1) : call(method, &rep, NULL);
        if (rc)
                return rc;
        const char *text;
        int r = sd_bus_message_read(rep, "s", &text);
        json_t *j = r >= 0 ? json_loads(text, 0, NULL) : NULL;
        sd_bus_message_unref(rep);
        if (!j) {
                fprintf(stderr, "mstore: %s: malformed reply from mstored\n", method);
                return EXIT_FAIL;
        }
        *ret = j;
        return 0;
}

static void print_json(json_t *j) {
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
                printf("%s\n", s);
        free(s);
}

static const char *jstr(json_t *o, const char *k) {
        const char *s = json_string_value(json_object_get(o, k));
        return s ? s : "";
}

/* Split "SG/DB". */
static int split_db(const char *arg, char *sg, char *db) {
        const char *slash = strchr(arg, '/');
        if (!slash || slash == arg || !slash[1] || strchr(slash + 1, '/') || (size_t) (slash - arg) > 64 ||
            strlen(slash + 1) > 64)
                return -EINVAL;
        memcpy(sg, arg, (size_t) (slash - arg));
        sg[slash - arg] = 0;
        strcpy(db, slash + 1);
        return 0;
}

/* ------------------------------------------------------------ commands */

static int cmd_sg_list(void) {
        json_t *j = NULL;
        int rc = call_json("ListStorageGroups", &j, NULL, NULL);
        if (rc)
                return rc;
        if (arg_json)
                print_json(j);
        else {
                printf("%-16s %-4s %-9s %-40s %s\n", "NAME", "BASE", "CIRCULAR", "PATH", "DATABASES");
                size_t i;
                json_t *e;
                json_array_foreach(json_object_get(j, "storage_groups"), i, e) {
                        char dbs[512] = "";
                        size_t k;
                        json_t *d;
                        json_array_foreach(json_object_get(e, "databases"), k, d) {
                                if (k)
                                        strncat(dbs, ",", sizeof(dbs) - strlen(dbs) - 1);
                                strncat(dbs, json_string_value(d) ? json_string_value(d) : "",
                                        sizeof(dbs) - strlen(dbs) - 1);
                        }
                        printf("%-16s %-4s %-9s %-40s %s\n", jstr(e, "name"), jstr(e, "base"),
                               json_is_true(json_object_get(e, "circular_logging")) ? "yes" : "no", jstr(e, "path"),
                               dbs);
                }
        }
        json_decref(j);
        return 0;
}

static int cmd_db_list(void) {
        json_t *j = NULL;
        int rc = call_json("ListDatabases", &j, NULL, NULL);
        if (rc)
                return rc;
        if (arg_json)
                print_json(j);
        else {
                printf("%-16s %-16s %-10s %-9s %s\n", "SG", "NAME", "STATE", "OVERWRITE", "EDB");
                size_t i;
                json_t *e;
                json_array_foreach(json_object_get(j, "databases"), i, e)
                        printf("%-16s %-16s %-10s %-9s %s\n", jstr(e, "sg"), jstr(e, "name"), jstr(e, "state"),
                               json_is_true(json_object_get(e, "allow_restore_overwrite")) ? "yes" : "no",
                               jstr(e, "edb"));
        }
        json_decref(j);
        return 0;
}

static int cmd_mailbox_list(void) {
        json_t *j = NULL;
        int rc = call_json("ListMailboxes", &j, NULL, NULL);
        if (rc)
                return rc;
        if (arg_json)
                print_json(j);
        else {
                printf("%-40s %s\n", "ADDRESS", "DATABASE");
                size_t i;
                json_t *e;
                json_array_foreach(json_object_get(j, "mailboxes"), i, e)
                        printf("%-40s %s\n", jstr(e, "address"), jstr(e, "db"));
        }
        json_decref(j);
        return 0;
}

static int cmd_msg_list(const char *addr) {
        json_t *j = NULL;
        int rc = call_json("ListMessages", &j, "s", addr);
        if (rc)
                return rc;
        if (arg_json)
                print_json(j);
        else {
                printf("%8s %10s  %s\n", "UID", "SIZE", "SUBJECT");
                size_t i;
                json_t *e;
                json_array_foreach(json_object_get(j, "messages"), i, e)
                        printf("%8lld %10lld  %s\n", (long long) json_integer_value(json_object_get(e, "uid")),
                               (long long) json_integer_value(json_object_get(e, "size")), jstr(e, "subject"));
        }
        json_decref(j);
        return 0;
}

static int cmd_stats(void) {
        json_t *j = NULL;
        int rc = call_json("GetStats", &j, NULL, NULL);
        if (rc)
                return rc;
        if (arg_json)
                print_json(j);
        else {
                const char *k;
                json_t *v;
                json_object_foreach(j, k, v) printf("%-24s %lld\n", k, (long long) json_integer_value(v));
        }
        json_decref(j);
        return 0;
}

static int cmd_folder_list(const char *addr) {
        json_t *j = NULL;
        int rc = call_json("ListFolders", &j, "s", addr);
        if (rc)
                return rc;
        if (arg_json)
                print_json(j);
        else {
                size_t i;
                json_t *e;
                json_array_foreach(json_object_get(j, "folders"), i, e) printf("%s\n", jstr(e, "name"));
        }
        json_decref(j);
        return 0;
}

static int parse_uid(const char *uid_s, uint32_t *ret) {
        char *end;
        errno = 0;
        unsigned long uid = strtoul(uid_s, &end, 10);
        if (errno || *end || !*uid_s || uid == 0 || uid > UINT32_MAX || uid_s[0] == '-')
                return -EINVAL;
        *ret = (uint32_t) uid;
        return 0;
}

static int cmd_msg_get(const char *addr, const char *uid_s) {
        char *end;
        errno = 0;
        unsigned long uid = strtoul(uid_s, &end, 10);
        if (errno || *end || !*uid_s || uid == 0 || uid > UINT32_MAX || uid_s[0] == '-')
                return usage_error("invalid UID '%s'", uid_s);
        sd_bus_message *rep = NULL;
        int rc = call("GetMessage", &rep, "su", addr, (uint32_t) uid);
        if (rc)
                return rc;
        int fd;
        if (sd_bus_message_read(rep, "h", &fd) < 0) {
                sd_bus_message_unref(rep);
                fprintf(stderr, "mstore: GetMessage: malformed reply from mstored\n");
                return EXIT_FAIL;
        }
        char buf[65536];
        ssize_t n;
        rc = 0;
        (void) lseek(fd, 0, SEEK_SET);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (fwrite(buf, 1, (size_t) n, stdout) != (size_t) n) {
                        rc = EXIT_FAIL;
                        break;
                }
        if (n < 0)
                rc = EXIT_FAIL;
        sd_bus_message_unref(rep);
        if (fflush(stdout) != 0)
                rc = EXIT_FAIL;
        if (rc)
                fprintf(stderr, "mstore: message %lu of '%s': write to stdout failed\n", uid, addr);
        return rc;
}

/* Copy stdin into a memfd: mstored reads it at its own pace, and a slow
 * producer never holds one of its workers.  Returns the fd or -EXIT_*. */
static int stdin_memfd(void) {
        int fd = memfd_create("mstore-deliver", MFD_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "mstore: memfd_create: %m\n");
                return -EXIT_FAIL;
        }
        char buf[65536];
        size_t total = 0;
        ssize_t n;
        while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "mstore: reading the message from stdin: %m\n");
                        return EXIT_FAIL;
                }
                total += (size_t) n;
                if (total > MAX_MESSAGE_INPUT) {
                        fprintf(stderr, "mstore: message on stdin is larger than %u bytes\n", MAX_MESSAGE_INPUT);
                        close(fd);
                        return -EXIT_USAGE;
                }
                if (write(fd, buf, (size_t) n) != n) {
                        fprintf(stderr, "mstore: memfd write: %m\n");
                        close(fd);
                        return -EXIT_FAIL;
                }
        }
        return fd;
}

static int cmd_deliver(const char *addr) {
        _cleanup_close_ int fd = stdin_memfd();
        if (fd < 0)
                return -fd;
        return call("Deliver", NULL, "sh", addr, fd);
}

static int cmd_msg_append(const char *addr, const char *folder, const char *flags_s, const char *time_s) {
        char *end;
        unsigned long long flags = 0, t = 0;
        if (flags_s) {
                errno = 0;
                flags = strtoull(flags_s, &end, 10);
                if (errno || *end || !*flags_s || flags > 31)
                        return usage_error("invalid --flags '%s' (0..31: 1 seen, 2 answered, 4 flagged, 8 deleted, "
                                           "16 draft)",
                                           flags_s);
        }
        if (time_s) {
                errno = 0;
                t = strtoull(time_s, &end, 10);
                if (errno || *end || !*time_s || time_s[0] == '-')
                        return usage_error("invalid --time '%s' (seconds since the epoch)", time_s);
        }
        _cleanup_close_ int fd = stdin_memfd();
        if (fd < 0)
                return -fd;
        sd_bus_message *rep = NULL;
        int rc = call("AppendMessage", &rep, "sshut", addr, folder, fd, (uint32_t) flags, (uint64_t) t);
        if (rc)
                return rc;
        const char *text = NULL;
        json_t *j = sd_bus_message_read(rep, "s", &text) >= 0 ? json_loads(text, 0, NULL) : NULL;
        sd_bus_message_unref(rep);
        if (!j) {
                fprintf(stderr, "mstore: AppendMessage: malformed reply from mstored\n");
                return EXIT_FAIL;
        }
        if (arg_json)
                print_json(j);
        else
                printf("%lld\n", (long long) json_integer_value(json_object_get(j, "uid")));
        json_decref(j);
        return 0;
}

static bool is_help(const char *a) {
        return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

int main(int argc, char **argv) {
        /* Collect positional words; options may appear anywhere. */
        const char *pos[8];
        int npos = 0;
        const char *opt_path = NULL, *opt_log_path = NULL, *opt_db = NULL, *opt_base = NULL, *opt_flags = NULL,
                   *opt_time = NULL;
        bool opt_circular = false, opt_public = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (is_help(a)) {
                        fputs(help_text, stdout);
                        return 0;
                } else if (strcmp(a, "--json") == 0)
                        arg_json = true;
                else if (strcmp(a, "--circular-logging") == 0)
                        opt_circular = true;
                else if (strcmp(a, "--public") == 0)
                        opt_public = true;
                else if (strcmp(a, "--path") == 0 || strcmp(a, "--log-path") == 0 || strcmp(a, "--db") == 0 ||
                         strcmp(a, "--base") == 0) {
                        if (i + 1 >= argc)
                                return usage_error("option %s needs a value", a);
                        const char **dst = a[2] == 'p' ? &opt_path
                                           : a[2] == 'l' ? &opt_log_path
                                           : a[2] == 'b' ? &opt_base
                                                         : &opt_db;
                        *dst = argv[++i];
                } else if (strcmp(a, "--flags") == 0 || strcmp(a, "--time") == 0) {
                        if (i + 1 >= argc)
                                return usage_error("option %s needs a value", a);
                        *(a[2] == 'f' ? &opt_flags : &opt_time) = argv[++i];
                } else if (strncmp(a, "--", 2) == 0 && a[2])
                        return usage_error("unknown option %s", a);
                else {
                        if (npos >= (int) ELEMENTSOF(pos))
                                return usage_error("too many arguments");
                        pos[npos++] = a;
                }
        }
        if (npos == 0)
                return usage_error("missing command");
        const char *c0 = pos[0], *c1 = npos > 1 ? pos[1] : "";
        char sg[65], db[65];
#define NEED(n, what)                                   \
        do {                                            \
                if (npos != (n))                        \
                        return usage_error("usage: mstore %s", what); \
        } while (0)

        if (strcmp(c0, "sg") == 0 && strcmp(c1, "create") == 0) {
                NEED(3, "sg create NAME [--path DIR] [--log-path DIR] [--circular-logging]");
                return call("CreateStorageGroup", NULL, "sssb", pos[2], opt_path ? opt_path : "",
                            opt_log_path ? opt_log_path : "", (int) opt_circular);
        }
        if (strcmp(c0, "sg") == 0 && strcmp(c1, "list") == 0) {
                NEED(2, "sg list [--json]");
                return cmd_sg_list();
        }
        if (strcmp(c0, "db") == 0 && (strcmp(c1, "create") == 0 || strcmp(c1, "mount") == 0 ||
                                      strcmp(c1, "dismount") == 0)) {
                NEED(3, "db create|mount|dismount SG/DB");
                if (split_db(pos[2], sg, db) < 0)
                        return usage_error("'%s' is not SG/DB", pos[2]);
                if (strcmp(c1, "create") == 0)
                        return call("CreateDatabase", NULL, "ssb", sg, db, (int) opt_public);
                return call(strcmp(c1, "mount") == 0 ? "MountDatabase" : "DismountDatabase", NULL, "ss", sg, db);
        }
        if (strcmp(c0, "db") == 0 && strcmp(c1, "set") == 0) {
                NEED(4, "db set SG/DB allow-restore-overwrite=yes|no");
                if (split_db(pos[2], sg, db) < 0)
                        return usage_error("'%s' is not SG/DB", pos[2]);
                int allow;
                if (strcmp(pos[3], "allow-restore-overwrite=yes") == 0)
                        allow = 1;
                else if (strcmp(pos[3], "allow-restore-overwrite=no") == 0)
                        allow = 0;
                else
                        return usage_error("unknown setting '%s' (allow-restore-overwrite=yes|no)", pos[3]);
                return call("SetAllowRestoreOverwrite", NULL, "ssb", sg, db, allow);
        }
        if (strcmp(c0, "db") == 0 && strcmp(c1, "list") == 0) {
                NEED(2, "db list [--json]");
                return cmd_db_list();
        }
        if (strcmp(c0, "mailbox") == 0 && strcmp(c1, "create") == 0) {
                NEED(3, "mailbox create ADDRESS --db SG/DB");
                if (!opt_db)
                        return usage_error("mailbox create needs --db SG/DB");
                if (split_db(opt_db, sg, db) < 0)
                        return usage_error("'%s' is not SG/DB", opt_db);
                return call("CreateMailbox", NULL, "sss", pos[2], sg, db);
        }
        if (strcmp(c0, "mailbox") == 0 && strcmp(c1, "list") == 0) {
                NEED(2, "mailbox list [--json]");
                return cmd_mailbox_list();
        }
        if (strcmp(c0, "deliver") == 0) {
                NEED(2, "deliver ADDRESS < MESSAGE");
                return cmd_deliver(pos[1]);
        }
        if (strcmp(c0, "msg") == 0 && strcmp(c1, "list") == 0) {
                NEED(3, "msg list ADDRESS [--json]");
                return cmd_msg_list(pos[2]);
        }
        if (strcmp(c0, "msg") == 0 && strcmp(c1, "append") == 0) {
                NEED(4, "msg append ADDRESS FOLDER [--flags N] [--time T] < MESSAGE");
                return cmd_msg_append(pos[2], pos[3], opt_flags, opt_time);
        }
        if (strcmp(c0, "msg") == 0 && strcmp(c1, "delete") == 0) {
                NEED(4, "msg delete ADDRESS UID");
                uint32_t uid;
                if (parse_uid(pos[3], &uid) < 0)
                        return usage_error("invalid UID '%s'", pos[3]);
                return call("DeleteMessage", NULL, "su", pos[2], uid);
        }
        if (strcmp(c0, "folder") == 0 && (strcmp(c1, "create") == 0 || strcmp(c1, "delete") == 0)) {
                NEED(4, "folder create|delete ADDRESS NAME");
                return call(c1[0] == 'c' ? "CreateFolder" : "DeleteFolder", NULL, "ss", pos[2], pos[3]);
        }
        if (strcmp(c0, "folder") == 0 && strcmp(c1, "list") == 0) {
                NEED(3, "folder list ADDRESS [--json]");
                return cmd_folder_list(pos[2]);
        }
        if (strcmp(c0, "msg") == 0 && strcmp(c1, "get") == 0) {
                NEED(4, "msg get ADDRESS UID");
                return cmd_msg_get(pos[2], pos[3]);
        }
        if (strcmp(c0, "rsg") == 0 && strcmp(c1, "msg") == 0 && npos >= 3 &&
            (strcmp(pos[2], "list") == 0 || strcmp(pos[2], "get") == 0)) {
                bool get = strcmp(pos[2], "get") == 0;
                NEED(get ? 6 : 5, "rsg msg list DIR ADDRESS | rsg msg get DIR ADDRESS UID");
                char probe[MSTORE_LOG_NAME_SIZE];
                if (opt_base && mstore_log_name(opt_base, 1, probe) < 0)
                        return usage_error("invalid --base '%s' (3 characters A-Z, 0-9)", opt_base);
                /* Refuse a live storage group of a running mstored. */
                json_t *j = NULL;
                char real[PATH_MAX], other[PATH_MAX];
                if (realpath(pos[3], real) && TEST_HOOK_ENV("MSTORE_RSG_NO_CHECK") == NULL) {
                        int saved = dup(STDERR_FILENO), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
                        if (devnull >= 0)
                                dup2(devnull, STDERR_FILENO);
                        int rc = call_json("ListStorageGroups", &j, NULL, NULL);
                        if (saved >= 0)
                                dup2(saved, STDERR_FILENO);
                        if (saved >= 0)
                                close(saved);
                        if (devnull >= 0)
                                close(devnull);
                        size_t i;
                        json_t *e;
                        json_array_foreach(rc == 0 ? json_object_get(j, "storage_groups") : NULL, i, e) {
                                const char *paths[2] = {jstr(e, "path"), jstr(e, "log_path")};
                                for (int k = 0; k < 2; k++)
                                        if (realpath(paths[k], other) && strcmp(other, real) == 0) {
                                                int q = usage_error("'%s' is the live storage group %s of mstored: "
                                                                    "use 'mstore msg'",
                                                                    pos[3], jstr(e, "name"));
                                                json_decref(j);
                                                return q;
                                        }
                        }
                        json_decref(j);
                }
                return rsg_main(pos[2], pos[3], pos[4], get ? pos[5] : NULL, opt_base, arg_json);
        }
        if (strcmp(c0, "stats") == 0) {
                NEED(1, "stats [--json]");
                return cmd_stats();
        }
        bool group = strcmp(c0, "rsg") == 0 || strcmp(c0, "sg") == 0 || strcmp(c0, "db") == 0 || strcmp(c0, "mailbox") == 0 ||
                     strcmp(c0, "msg") == 0 || strcmp(c0, "folder") == 0;
        return usage_error("unknown command '%s%s%s'", c0, group ? " " : "", group ? c1 : "");
}
