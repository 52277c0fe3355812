/* SPDX-License-Identifier: MIT */
/*
 * bus: mstored's D-Bus API, org.lvss.MailStore1 at /org/lvss/MailStore1
 * (names: lib/lvss/proto.h)
 * (method list in docs/design/mailstore.md §5 and `busctl introspect`).
 *
 * The bus runs on the main thread's sd-event loop and never blocks on the
 * engine: each call is checked (root, or a member of the admin group in the
 * user database, for the uid the bus vouches for: lib/core/bus-creds.h) and
 * then handed to a worker thread; the reply is sent from the loop
 * when the worker is done (an eventfd wakes it).  So a frozen storage group
 * delays only the calls that must wait for it; everything else is answered.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "service.h"

#define BUS_MAX_JOBS 32

typedef struct bus_api bus_api;

/* Connect ($LVSS_BUS or the system bus), export the object, take the name. */
int bus_api_start(service *svc, sd_event *event, bool have_admin_gid, gid_t admin_gid, bus_api **ret, ErrorSlot *err);
/* Wait for running jobs, release the name, close. */
void bus_api_stop(bus_api *b);
