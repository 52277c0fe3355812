/* SPDX-License-Identifier: MIT */
/*
 * mstored: the mail store service.  Hosts storage groups (libmstore),
 * accepts mail over LMTP, serves org.lvss.MailStore1 on D-Bus and embeds
 * the Mail Store Writer.  Runs in the foreground (systemd Type=dbus).
 *
 * Threads: main (sd-event loop: D-Bus, signals), one accept thread per LMTP
 * endpoint, one thread per LMTP session, short-lived D-Bus workers, and the
 * writer thread.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "lib/core/macro.h"
#include "bus.h"
#include "events.h"
#include "imap-server.h"
#include "lmtp-server.h"
#include "service.h"
#include "writer.h"

#define MAX_CONFIG_SIZE (1024 * 1024)

static void usage(FILE *f) {
        fputs("Usage: mstored --data-dir DIR [--lmtp unix:PATH | --lmtp HOST:PORT]...\n"
              "               [--imap unix:PATH | --imap HOST:PORT]... [--imaps HOST:PORT]...\n"
              "               [--server-name NAME]\n"
              "               [--config FILE] [--no-writer] [--quiet]\n"
              "\n"
              "The lvss mail store service: storage groups and databases under DIR, LMTP\n"
              "delivery, the org.lvss.MailStore1 D-Bus API (system bus or $LVSS_BUS) and\n"
              "the Mail Store Writer.\n"
              "\n"
              "  --data-dir DIR      definitions (mstored.json) and default storage group homes\n"
              "  --lmtp ENDPOINT     listen for LMTP on unix:PATH or HOST:PORT (repeatable)\n"
              "  --imap ENDPOINT     listen for IMAP on unix:PATH or HOST:PORT (repeatable)\n"
              "  --imaps HOST:PORT   listen for IMAP over implicit TLS (port 993 style; needs\n"
              "                      imap_tls_cert and imap_tls_key; repeatable)\n"
              "  --server-name NAME  name in LMTP replies and writer components (default: host name)\n"
              "  --config FILE       JSON settings: max_storage_groups, max_databases_per_group,\n"
              "                      admin_group, max_message_size, log_file_size, lmtp_group,\n"
              "                      lmtp_max_sessions_per_client, lmtp_write_timeout,\n"
              "                      restore_roots, imap_tls_cert, imap_tls_key\n"
              "  --no-writer         do not register the Mail Store Writer with lvssd\n"
              "  --quiet             events to the journal only, not to stderr\n"
              "  --help              this text\n"
              "\n"
              "Exit status: 0 stopped cleanly, 1 failure, 2 usage or bad configuration.\n",
              f);
}

struct config {
        struct service_options so;
        struct lmtp_server_options lmtp;
        char *admin_group;
        char *lmtp_group;
        char *imap_tls_cert, *imap_tls_key; /* PEM files: STARTTLS on IMAP */
        char **restore_roots; /* NULL-terminated; NULL = defaults */
};

static void config_free(struct config *c) {
        free(c->admin_group);
        free(c->lmtp_group);
        free(c->imap_tls_cert);
        free(c->imap_tls_key);
        strv_free(c->restore_roots);
}

/* "restore_roots": ["/abs/dir", ...]: where restores may recover (writer.h). */
static int parse_restore_roots(json_t *v, char ***ret) {
        size_t i, n = json_array_size(v);
        json_t *e;
        if (!json_is_array(v) || n > 64)
                return -EINVAL;
        char **roots = calloc(n + 1, sizeof(char *));
        if (!roots)
                return -ENOMEM;
        json_array_foreach(v, i, e) {
                const char *p = json_string_value(e);
                if (!p || p[0] != '/' || strlen(p) >= 4096 || !(roots[i] = strdup(p))) {
                        strv_free(roots);
                        return -EINVAL;
                }
        }
        *ret = roots;
        return 0;
}

static int load_config(const char *fn, struct config *c) {
        json_error_t jerr;
        json_t *root = json_load_file(fn, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                fprintf(stderr, "mstored: config '%s': line %d: %s\n", fn, jerr.line, jerr.text);
                return -EINVAL;
        }
        int r = 0;
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) {
                if (strcmp(k, "max_storage_groups") == 0 && json_is_integer(v) && json_integer_value(v) >= 1 &&
                    json_integer_value(v) <= 16)
                        c->so.max_sgs = (unsigned) json_integer_value(v);
                else if (strcmp(k, "max_databases_per_group") == 0 && json_is_integer(v) &&
                         json_integer_value(v) >= 1 && json_integer_value(v) <= 5)
                        c->so.max_dbs = (unsigned) json_integer_value(v);
                else if (strcmp(k, "max_message_size") == 0 && json_is_integer(v) && json_integer_value(v) >= 1024 &&
                         json_integer_value(v) <= 256 * 1024 * 1024)
                        c->so.max_message_size = (size_t) json_integer_value(v);
                else if (strcmp(k, "log_file_size") == 0 && json_is_integer(v) && json_integer_value(v) >= 65536)
                        c->so.log_file_size = (uint64_t) json_integer_value(v);
                else if (strcmp(k, "restore_roots") == 0 && !c->restore_roots &&
                         parse_restore_roots(v, &c->restore_roots) >= 0)
                        ;
                else if (strcmp(k, "admin_group") == 0 && json_is_string(v) && strlen(json_string_value(v)) < 256)
                        c->admin_group = strdup(json_string_value(v));
                else if ((strcmp(k, "imap_tls_cert") == 0 || strcmp(k, "imap_tls_key") == 0) && json_is_string(v) &&
                         json_string_value(v)[0] == '/' && strlen(json_string_value(v)) < 4096 &&
                         !(k[9] == 'c' ? c->imap_tls_cert : c->imap_tls_key))
                        *(k[9] == 'c' ? &c->imap_tls_cert : &c->imap_tls_key) = strdup(json_string_value(v));
                else if (strcmp(k, "lmtp_group") == 0 && json_is_string(v) && *json_string_value(v) &&
                         strlen(json_string_value(v)) < 256 && !c->lmtp_group)
                        c->lmtp_group = strdup(json_string_value(v));
                else if (strcmp(k, "lmtp_max_sessions_per_client") == 0 && json_is_integer(v) &&
                         json_integer_value(v) >= 1 && json_integer_value(v) <= LMTP_MAX_SESSIONS)
                        c->lmtp.max_per_peer = (unsigned) json_integer_value(v);
                else if (strcmp(k, "lmtp_write_timeout") == 0 && json_is_integer(v) && json_integer_value(v) >= 1 &&
                         json_integer_value(v) <= 3600)
                        c->lmtp.write_timeout_sec = (unsigned) json_integer_value(v);
                else {
                        fprintf(stderr, "mstored: config '%s': invalid or unknown setting '%s'\n", fn, k);
                        r = -EINVAL;
                }
        }
        json_decref(root);
        return r;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* Whether the process (not a caller: this is about what mstored itself may
 * do with its sockets) has gid as its effective or a supplementary group. */
static bool in_group(gid_t gid) {
        if (gid == getegid())
                return true;
        int n = getgroups(0, NULL);
        if (n <= 0)
                return false;
        _cleanup_free_ gid_t *groups = calloc((size_t) n, sizeof(gid_t));
        if (!groups)
                return false;
        n = getgroups(n, groups);
        for (int i = 0; i < n; i++)
                if (groups[i] == gid)
                        return true;
        return false;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"data-dir", required_argument, NULL, 'd'}, {"lmtp", required_argument, NULL, 'l'},
                {"imap", required_argument, NULL, 'i'},       {"imaps", required_argument, NULL, 'I'},
                {"server-name", required_argument, NULL, 'n'}, {"config", required_argument, NULL, 'c'},
                {"no-writer", no_argument, NULL, 'W'},       {"quiet", no_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},            {},
        };
        struct config cfg = {};
        char *endpoints[LMTP_MAX_ENDPOINTS];
        size_t n_endpoints = 0;
        char *imap_endpoints[IMAP_MAX_ENDPOINTS];
        bool imap_implicit_tls[IMAP_MAX_ENDPOINTS] = {false};
        size_t n_imap = 0;
        const char *config_file = NULL;
        char hostname[256] = "localhost";
        bool no_writer = false;
        int c;

        gethostname(hostname, sizeof(hostname) - 1);
        cfg.so.server_name = hostname;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        cfg.so.data_dir = optarg;
                        break;
                case 'l':
                        if (n_endpoints >= LMTP_MAX_ENDPOINTS) {
                                fprintf(stderr, "mstored: at most %d --lmtp endpoints\n", LMTP_MAX_ENDPOINTS);
                                return 2;
                        }
                        endpoints[n_endpoints++] = optarg;
                        break;
                case 'i':
                case 'I':
                        if (n_imap >= IMAP_MAX_ENDPOINTS) {
                                fprintf(stderr, "mstored: at most %d --imap and --imaps endpoints\n",
                                        IMAP_MAX_ENDPOINTS);
                                return 2;
                        }
                        imap_implicit_tls[n_imap] = c == 'I';
                        imap_endpoints[n_imap++] = optarg;
                        break;
                case 'n':
                        cfg.so.server_name = optarg;
                        break;
                case 'c':
                        config_file = optarg;
                        break;
                case 'W':
                        no_writer = true;
                        break;
                case 'q':
                        event_set_stderr(0);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc || !cfg.so.data_dir) {
                fprintf(stderr, "mstored: %s\n", optind < argc ? "unexpected argument" : "--data-dir is required");
                usage(stderr);
                return 2;
        }
        if (cfg.so.data_dir[0] != '/') {
                fprintf(stderr, "mstored: --data-dir must be an absolute path\n");
                return 2;
        }
        if (!*cfg.so.server_name || strchr(cfg.so.server_name, '/') || strlen(cfg.so.server_name) > 64) {
                fprintf(stderr, "mstored: invalid --server-name\n");
                return 2;
        }
        if (config_file && load_config(config_file, &cfg) < 0) {
                config_free(&cfg);
                return 2;
        }
        for (size_t k = 0; k < n_imap; k++)
                if (imap_implicit_tls[k] && (!cfg.imap_tls_cert || strncmp(imap_endpoints[k], "unix:", 5) == 0)) {
                        fprintf(stderr, "mstored: --imaps %s: %s\n", imap_endpoints[k],
                                cfg.imap_tls_cert ? "implicit TLS needs HOST:PORT, not a unix socket"
                                                  : "needs imap_tls_cert and imap_tls_key in --config");
                        return 2;
                }
        bool have_gid = false;
        gid_t admin_gid = 0;
        if (cfg.admin_group) {
                struct group *g = getgrnam(cfg.admin_group);
                if (!g) {
                        fprintf(stderr, "mstored: admin group '%s' does not exist\n", cfg.admin_group);
                        config_free(&cfg);
                        return 2;
                }
                have_gid = true;
                admin_gid = g->gr_gid;
        }
        /* The LMTP unix sockets: mstored's own group (root's when run as
         * root, "mstored" under the shipped unit) unless the MTA's is named.
         * Without root, mstored can give its sockets only a group it is a
         * member of: say so now rather than fail at chown. */
        cfg.lmtp.socket_gid = getegid();
        if (cfg.lmtp_group) {
                struct group *g = getgrnam(cfg.lmtp_group);
                if (!g) {
                        fprintf(stderr, "mstored: LMTP group '%s' does not exist\n", cfg.lmtp_group);
                        config_free(&cfg);
                        return 2;
                }
                cfg.lmtp.socket_gid = g->gr_gid;
                if (geteuid() != 0 && !in_group(g->gr_gid)) {
                        fprintf(stderr,
                                "mstored: LMTP group '%s': mstored runs as uid %u, which is not a member (give the "
                                "service SupplementaryGroups=%s, or drop lmtp_group and add the MTA's user to "
                                "mstored's group)\n",
                                cfg.lmtp_group, (unsigned) geteuid(), cfg.lmtp_group);
                        config_free(&cfg);
                        return 2;
                }
        }

        /* Blocking signals first so every thread created later inherits the
         * mask and sd-event gets them. */
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &ss, NULL);
        signal(SIGPIPE, SIG_IGN);

        service *svc = NULL;
        ErrorSlot err;
        int r = service_new(&cfg.so, &svc, &err);
        if (r < 0) {
                fprintf(stderr, "mstored: %s\n", service_error(&err, r));
                return r == -EBADMSG ? 2 : 1;
        }
        r = service_start(svc);
        if (r < 0)
                fprintf(stderr, "mstored: no storage group could be brought online, continuing\n");

        sd_event *event = NULL;
        lmtp_server *lmtp = NULL;
        imap_server *imap = NULL;
        bus_api *bus = NULL;
        mail_writer *writer = NULL;
        int rc = 1;

        r = sd_event_default(&event);
        if (r < 0)
                goto out;
        sd_event_add_signal(event, NULL, SIGTERM, on_signal, NULL);
        sd_event_add_signal(event, NULL, SIGINT, on_signal, NULL);
        sd_event_add_signal(event, NULL, SIGHUP, on_signal, NULL);

        r = lmtp_server_start(svc, endpoints, n_endpoints, &cfg.lmtp, &lmtp, &err);
        if (r < 0) {
                fprintf(stderr, "mstored: %s\n", service_error(&err, r));
                goto out;
        }
        if (!cfg.imap_tls_cert != !cfg.imap_tls_key) {
                fprintf(stderr, "mstored: imap_tls_cert and imap_tls_key go together\n");
                goto out;
        }
        struct imap_server_options io = {.tls_cert = cfg.imap_tls_cert, .tls_key = cfg.imap_tls_key,
                                         .implicit_tls = imap_implicit_tls};
        r = imap_server_start(svc, imap_endpoints, n_imap, &io, &imap, &err);
        if (r < 0) {
                fprintf(stderr, "mstored: %s\n", service_error(&err, r));
                goto out;
        }
        if (!no_writer) {
                struct mail_writer_options wo = {.data_dir = cfg.so.data_dir, .restore_roots = cfg.restore_roots};
                r = mail_writer_start(svc, &wo, &writer, &err);
                if (r < 0)
                        event_log(MSTORED_MID_ERROR, LOG_WARNING, NULL, NULL, "Mail Store Writer not started: %s",
                                  service_error(&err, r));
        }
        r = bus_api_start(svc, event, have_gid, admin_gid, &bus, &err);
        if (r < 0) {
                fprintf(stderr, "mstored: %s\n", service_error(&err, r));
                goto out;
        }
        event_log(MSTORED_MID_STARTED, LOG_INFO, NULL, NULL, "started: data dir '%s', server name '%s'",
                  cfg.so.data_dir, cfg.so.server_name);
        sd_notify(0, "READY=1");
        r = sd_event_loop(event);
        rc = r < 0 ? 1 : 0;
        sd_notify(0, "STOPPING=1");
out:
        mail_writer_stop(writer);
        lmtp_server_stop(lmtp);
        imap_server_stop(imap);
        bus_api_stop(bus);
        service_free(svc);
        sd_event_unref(event);
        if (rc == 0)
                event_log(MSTORED_MID_STOPPED, LOG_INFO, NULL, NULL, "stopped cleanly");
        config_free(&cfg);
        return rc;
}
