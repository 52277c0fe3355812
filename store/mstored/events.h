/* SPDX-License-Identifier: MIT */
/*
 * events: mstored's journal events.  Each kind has a stable MESSAGE_ID
 * (never changes; documented in docs/design/mailstore.md §6) so admins can
 * `journalctl MESSAGE_ID=...`.  Extra fields: LVSS_SG, LVSS_DB.
 */
#pragma once

#define MSTORED_MID_MOUNT        "870ac6f1e76a466d8c43fd70cd15eef6"
#define MSTORED_MID_DISMOUNT     "d35dacace30d47c4982c01a7e6922020"
#define MSTORED_MID_RECOVERY     "92f44bfe1aaf4c878fc15398ff1d8f4b"
#define MSTORED_MID_BACKUP_START "7731bb6bdf6848a6bc2eb91721fa3e72"
#define MSTORED_MID_BACKUP_END   "357cd93f0a824cdc99aa98fd15b82ba8"
#define MSTORED_MID_TRUNCATION   "cc60329ac5b14d5499b4f7e60f5962a7"
#define MSTORED_MID_RESTORE      "61e639e46b8746e6a06decd981aa8f5d"
#define MSTORED_MID_STARTED      "15fa1e122627456d9c205c64a3fa84f0"
#define MSTORED_MID_STOPPED      "75f896ac4e96488ebedb99e59244fd48"
#define MSTORED_MID_FREEZE       "e71a6c0e2efa473f9d612b4dfe265bab"
#define MSTORED_MID_ERROR        "7a8167fa016941b0b6a2f471590d8d7d"

/* Send one event to the journal (and, with --verbose/foreground, to stderr):
 * priority is a syslog level; sg/db may be NULL. */
void event_log(const char *message_id, int priority, const char *sg, const char *db, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* Also print events on stderr (for tests and foreground runs). */
void event_set_stderr(int on);
