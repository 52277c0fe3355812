/* SPDX-License-Identifier: MIT */
/*
 * What the four files of a requestor session share, and nothing else
 * (lvssd.h has the Session and SessionWriter objects; bus.c and main.c see
 * only session_new/session_free/session_method there):
 *
 *   session.c          the session object: creation, the end of a session
 *                      (abort, BackupShutdown, auto-release snapshots),
 *                      method dispatch through the state table (state.c),
 *                      the writers a session sees, the components document
 *                      a call carries, the one-step backup methods
 *   session-events.c   a step's event fan-out to the session's writers and
 *                      its end: the per-step writer states, the event
 *                      arguments, step_done() (what each step does next)
 *   session-set.c      the snapshot set: Start/AddTo/DoSnapshotSet, the
 *                      provider stages, freeze and thaw per level, the
 *                      abort of a set in creation (fail_set)
 *   session-restore.c  PreRestore/PostRestore and the mapping of a saved
 *                      document's writer instances to the running ones
 *
 * docs/design/coordinator.md has the state diagram and the invariants.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#include "daemon/lvssd/lvssd.h"

/* session-events.c */
extern const char *const step_event[];          /* [Step] = the writer event's name */
void sw_set_state(SessionWriter *sw, lvss_writer_state st, int failure);
/* Send the current step's event to one writer; counts it as pending. */
void send_step_event(Session *s, SessionWriter *sw, uint64_t timeout_usec);
/* Abort/BackupShutdown-like one-way event to every writer that got PrepareForBackup. */
void oneway_to_prepared(Session *s, const char *event);
/* Answer the pending call with the session's components document. */
void reply_bcd(Session *s);
/* Begin step with the requestor call msg: the event to the session's
 * (participating) writers; step_done() runs when the last one answered. */
int start_step(Session *s, Step step, sd_bus_message *msg, bool only_participants, bool set_prepare,
               uint64_t timeout);
void step_done(Session *s);

/* session-set.c */
void release_set(Session *s);
/* Abort the set in creation (any stage) and answer the pending call with
 * code.  Safe to call when nothing is in creation. */
void fail_set(Session *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void prepare_snapshots(Session *s);
void freeze_next(Session *s);
void thaw_next(Session *s);
int m_start_set(Session *s, sd_bus_message *msg, sd_bus_error *error);
int m_is_volume_supported(Session *s, sd_bus_message *msg, sd_bus_error *error);
int m_add_to_set(Session *s, sd_bus_message *msg, sd_bus_error *error);
int m_do_snapshot_set(Session *s, sd_bus_message *msg, sd_bus_error *error);

/* session-restore.c */
int m_pre_restore(Session *s, sd_bus_message *msg, sd_bus_error *error);
int m_post_restore(Session *s, sd_bus_message *msg, sd_bus_error *error);

/* session.c */
/* Read the call's components document into s->bcd (the writers it names
 * must have been gathered, except in a restore). */
int load_bcd(Session *s, sd_bus_message *msg, const char *method, sd_bus_error *error);
/* Which writers take part: those with components in the document. */
void mark_participants(Session *s);
