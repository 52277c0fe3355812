/* SPDX-License-Identifier: MIT */
/*
 * lvssd: the lvss coordinator (the Linux counterpart of the VSS service).
 *
 *   lvssd [--state-dir DIR] [--config FILE]
 *
 * Startup order matters: the snapshot registry is read and orphans are
 * removed *before* the bus name is taken, so no client ever sees a snapshot
 * left over by a crashed lvssd.  On SIGTERM/SIGINT every session is closed
 * as if its requestor had gone (sets in creation aborted, auto-release
 * snapshots deleted); persistent snapshots stay.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "daemon/lvssd/lvssd.h"
#include "lib/core/fs-util.h"
#include "lib/core/macro.h"
#include "test-hook.h"

static void help(void) {
        printf("Usage: lvssd [--state-dir DIR] [--config FILE]\n"
               "\n"
               "The lvss coordinator: requestor sessions, writer events, snapshot providers.\n"
               "Serves org.lvss.Coordinator1 on the system bus, or on $LVSS_BUS.\n"
               "\n"
               "  --state-dir DIR  snapshot registry directory (default /var/lib/lvss)\n"
               "  --config FILE    access configuration (default /etc/lvss/lvssd.conf)\n"
               "  -h, --help       this help\n"
               "\n"
               "Exit codes: 0 stopped by a signal, 1 failed, 2 usage error, 4 another lvssd runs.\n");
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "state-dir", required_argument, NULL, 's' },
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        Manager m = { .writer_gone = session_writer_gone };
        const char *state_dir = "/var/lib/lvss", *config = "/etc/lvss/lvssd.conf";
        sigset_t mask;
        int c, r, code = 1;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0)
                switch (c) {
                case 's':
                        state_dir = optarg;
                        break;
                case 'c':
                        config = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        fprintf(stderr, "lvssd: see --help\n");
                        return 2;
                }
        if (optind < argc) {
                fprintf(stderr, "lvssd: unexpected argument '%s'; see --help\n", argv[optind]);
                return 2;
        }
        m.set_timeout_usec = DEFAULT_SET_TIMEOUT_USEC;
        m.state_dir = strdup(state_dir);
        /* Crash tests kill lvssd right after a provider's prepare, when the
         * provider may have written to the volume and nothing is committed. */
        m.test_kill_in_prepare = TEST_HOOK_IS("LVSSD_TEST_KILL_AT", "prepare");
        m.config_path = strdup(config);
        if (!m.state_dir || !m.config_path)
                return 1;
        r = mkdir_p(state_dir, 0755, 0700);
        if (r < 0) {
                fprintf(stderr, "lvssd: state directory '%s': %s\n", state_dir, strerror(-r));
                return 1;
        }
        r = auth_load_config(&m, config);
        if (r < 0)
                return 2;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        r = sd_event_default(&m.event);
        if (r < 0)
                goto out;
        (void) sd_event_add_signal(m.event, NULL, SIGTERM, on_signal, NULL);
        (void) sd_event_add_signal(m.event, NULL, SIGINT, on_signal, NULL);

        r = registry_load_and_recover(&m);
        if (r < 0) {
                fprintf(stderr, "lvssd: snapshot registry in '%s': %s\n", state_dir, strerror(-r));
                goto out;
        }
        r = bus_setup(&m);
        if (r < 0) {
                code = r == -EEXIST ? 4 : 1;
                goto out;
        }
        ev_log(EV_STARTED, LOG_INFO, NULL, "lvssd started (state dir %s, %zu access rules)", state_dir, m.n_rules);
        r = sd_event_loop(m.event);
        code = r < 0 ? 1 : 0;
out:
        while (m.sessions)
                session_free(m.sessions, false);
        registry_flush(&m);
        while (m.writers)
                writer_free(m.writers);
        while (m.snaps) {
                Snap *x = m.snaps;
                m.snaps = x->next;
                free(x);
        }
        if (m.bus)
                sd_bus_flush_close_unref(m.bus);
        sd_event_unref(m.event);
        auth_free(&m);
        free(m.state_dir);
        free(m.config_path);
        return code;
}
