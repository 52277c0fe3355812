/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * writer-common: the scaffolding every application writer shipped with lvss
 * shares (docs/design/writers.md §1): the short host name of component
 * paths, SIGTERM/SIGINT handling, registering with lvssd and the event loop
 * that registers again when the coordinator goes away.  A static helper
 * library of the tools, not liblvss API.
 *
 *   wc_instance x = { .w = w, .label = "PostgreSQL/h1/15-main",
 *                     .on_lost = release, .userdata = p };
 *   wc_install_signals();
 *   return wc_run(&x, 1, "lvss-writer-postgresql");
 */
#include <stdbool.h>
#include <stddef.h>

#include <lvss/lvss.h>

#include "lib/core/error-slot.h"

typedef struct wc_instance {
        lvss_writer *w;
        const char *label;       /* printed as "ready LABEL instance_id=ID" */
        /* The coordinator is gone (or the process stops): end every session,
         * thaw what is frozen.  May be NULL. */
        void (*on_lost)(void *userdata, const char *why);
        void *userdata;
        bool connected;          /* wc_run's */
} wc_instance;

/* The host name up to the first dot ("localhost" when unknown). */
void wc_short_hostname(char *buf, size_t size);

/* SIGTERM and SIGINT make wc_stop_requested() true and interrupt the loop
 * (no SA_RESTART); SIGPIPE is ignored. */
void wc_install_signals(void);
bool wc_stop_requested(void);

/* Register x with lvssd and print its ready line.  quiet: no message on
 * failure (retries).  Returns 0 or the lvss error code. */
int wc_subscribe(wc_instance *x, const char *prog, bool quiet);

/* Register every instance (a failure of one is fatal: exit code 5 when
 * lvssd refused the caller, else 1), then dispatch events until SIGTERM or
 * SIGINT; an instance whose coordinator is lost gets on_lost() and is
 * registered again.  At the end on_lost(userdata, "exit") runs for each.
 * Returns the process exit code (0 after a signal). */
int wc_run(wc_instance *xs, size_t n, const char *prog);

/* Run argv (argv[0] an absolute path) with the extra environment env
 * (NULL-terminated "K=V", may be NULL), standard input from the file input
 * (NULL: /dev/null), at most timeout_s seconds; the
 * command's process group is killed when it exits or times out.  0 on exit
 * status 0; otherwise -EIO (exit status, signal), -ETIMEDOUT or -errno (pipe,
 * fork) with the reason in err (NULL: the thread's slot; lib/core
 * error-slot.h): "WHAT failed with exit status N: <stderr>", "WHAT timed out
 * after N s (killed)", "WHAT killed by signal", with at most WC_OUTPUT_MAX
 * bytes of the command's stderr on one line (the slot holds them). */
#define WC_OUTPUT_MAX 1000
int wc_run_command(const char *what, char *const argv[], char *const env[], const char *input, unsigned timeout_s,
                   ErrorSlot *err);

/* The first (for these writers: the only) component of an event, or NULL. */
lvss_component *wc_first_component(lvss_writer_components *comps);
