/* SPDX-License-Identifier: MIT */
/*
 * metrics: per-job counters (updated when a backup task ends) and the opt-in
 * Prometheus endpoint: --metrics-listen ADDR:PORT serves GET /metrics only
 * (text format 0.0.4), on sd-event, with a request cap (METRICS_MAX_REQUEST
 * bytes), a read timeout (METRICS_TIMEOUT_S) and at most METRICS_MAX_CONN
 * connections; anything else is answered 400/404/405 and closed.
 */
#pragma once

#include "backupd.h"

#define METRICS_MAX_REQUEST 4096
#define METRICS_TIMEOUT_S 5
#define METRICS_MAX_CONN 16

int metrics_listen(Manager *m, const char *addr); /* "127.0.0.1:9465", "[::1]:9465" */
void metrics_task_done(Manager *m, const Task *t);
char *metrics_render(Manager *m); /* the /metrics body */
void metrics_free(Manager *m);
