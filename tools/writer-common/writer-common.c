/* SPDX-License-Identifier: MIT */
/*
 * writer-common: see writer-common.h.  One poll loop over every instance's
 * fd (the Exec Writer has one instance per configuration file, the others
 * one), lvss_writer_process() until nothing is pending, re-registration
 * every 200 ms while the coordinator is away.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "writer-common.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
        (void) sig;
        stop_flag = 1;
}

void wc_short_hostname(char *buf, size_t size) {
        if (size == 0)
                return;
        if (gethostname(buf, size - 1) < 0 || !buf[0])
                snprintf(buf, size, "localhost");
        buf[size - 1] = 0;
        buf[strcspn(buf, ".")] = 0;
}

void wc_install_signals(void) {
        struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: poll returns EINTR */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

bool wc_stop_requested(void) {
        return stop_flag != 0;
}

int wc_subscribe(wc_instance *x, const char *prog, bool quiet) {
        int r = lvss_writer_subscribe(x->w, 0);
        if (r < 0) {
                if (!quiet)
                        fprintf(stderr, "%s: %s: cannot register with lvssd: %s (%s)\n", prog, x->label,
                                lvss_writer_last_error(x->w), lvss_error_name(r));
                return r;
        }
        x->connected = true;
        printf("ready %s instance_id=%s\n", x->label, lvss_writer_get_instance_id(x->w));
        fflush(stdout);
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void lost(wc_instance *x, const char *why) {
        if (x->on_lost)
                x->on_lost(x->userdata, why);
}

static int loop(wc_instance *xs, size_t n, const char *prog) {
        struct pollfd *pf = calloc(n, sizeof(*pf));
        if (!pf)
                return 1;
        while (!stop_flag) {
                uint64_t now = now_usec(), deadline = UINT64_MAX;
                bool retry = false;
                for (size_t i = 0; i < n; i++) {
                        uint64_t d = UINT64_MAX;
                        pf[i].fd = -1;
                        if (!xs[i].connected && wc_subscribe(&xs[i], prog, true) < 0) {
                                retry = true;
                                continue;
                        }
                        pf[i].fd = lvss_writer_get_fd(xs[i].w);
                        pf[i].events = (short) lvss_writer_get_events(xs[i].w);
                        if (lvss_writer_get_timeout(xs[i].w, &d) >= 0 && d < deadline)
                                deadline = d;
                }
                int timeout = retry ? 200 : -1;
                if (deadline != UINT64_MAX) {
                        int t = deadline > now ? (int) ((deadline - now + 999) / 1000) : 0;
                        if (timeout < 0 || t < timeout)
                                timeout = t;
                }
                if (poll(pf, n, timeout) < 0 && errno != EINTR) {
                        fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
                        free(pf);
                        return 1;
                }
                for (size_t i = 0; i < n && !stop_flag; i++) {
                        int r;
                        if (!xs[i].connected)
                                continue;
                        while ((r = lvss_writer_process(xs[i].w)) > 0)
                                ;
                        if (r < 0) {
                                fprintf(stderr, "%s: %s: lost the coordinator: %s (%s); registering again\n", prog,
                                        xs[i].label, lvss_writer_last_error(xs[i].w), lvss_error_name(r));
                                lost(&xs[i], "coordinator lost");
                                (void) lvss_writer_unsubscribe(xs[i].w);
                                xs[i].connected = false;
                        }
                }
        }
        free(pf);
        return 0;
}

int wc_run(wc_instance *xs, size_t n, const char *prog) {
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
                int r = wc_subscribe(&xs[i], prog, false);
                if (r < 0)
                        rc = r == LVSS_E_ACCESS_DENIED ? 5 : 1;
        }
        if (rc == 0)
                rc = loop(xs, n, prog);
        for (size_t i = 0; i < n; i++)
                lost(&xs[i], "exit");
        return rc;
}

lvss_component *wc_first_component(lvss_writer_components *comps) {
        lvss_component *c = NULL;
        if (lvss_writer_components_get_count(comps) <= 0 || lvss_writer_components_get_component(comps, 0, &c) < 0)
                return NULL;
        return c;
}
