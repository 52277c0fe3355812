/* SPDX-License-Identifier: MIT */
/*
 * writer: the Mail Store Writer embedded in mstored (the Exchange writer's
 * counterpart), talking to lvssd through liblvss's writer API.
 *
 * Identity: name "Mail Store Writer", class id MAIL_WRITER_CLASS_ID, freeze
 * timeout 20 s.  Components: "Mail Store/<server>/<SG>" per storage group
 * (selectable for backup: its databases, logs and checkpoint), and
 * "Mail Store/<server>/<SG>/<DB>" per database (selectable for restore only).
 * Event handling and restore rules: docs/design/mailstore.md §7.
 *
 * The writer runs on a thread of its own (liblvss handles belong to one
 * thread), so a freeze never blocks the D-Bus API or LMTP sessions.  When
 * mstored is built without liblvss, mail_writer_start() returns -EOPNOTSUPP
 * and mstored runs without a writer.
 */
#pragma once

#include "service.h"

#define MAIL_WRITER_NAME "Mail Store Writer"
#define MAIL_WRITER_CLASS_ID "5e1a3f2c-6d7b-4c8e-9a0f-3b2d1c4e5f60"
#define MAIL_WRITER_FREEZE_TIMEOUT_MS 20000u

typedef struct mail_writer mail_writer;

/* Where a restore may make mstored run recovery (restore_options'
 * alternate_location and backup_log_dir, both chosen by the requestor):
 * a path under one of restore_roots (NULL-terminated, absolute; NULL = the
 * data directory and every storage group's own paths), or else a path whose
 * every directory from / down is owned by root and not writable by group or
 * others (a world-writable directory passes only when sticky and owned by
 * root, as /tmp).  Both are copied. */
struct mail_writer_options {
        const char *data_dir;
        char **restore_roots;
};

/* Start the writer thread: subscribe to lvssd (retrying in the background
 * while lvssd is not there). */
int mail_writer_start(service *svc, const struct mail_writer_options *o, mail_writer **ret, ErrorSlot *err);
void mail_writer_stop(mail_writer *w);
