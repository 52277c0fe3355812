/* SPDX-License-Identifier: MIT */
/*
 * service: the heart of mstored.  Owns the definitions (defs.h), the open
 * libmstore storage groups and mounted databases, and implements every
 * operation the LMTP server, the D-Bus API and the Mail Store Writer call.
 *
 * Thread safety: every function may be called from any thread.  One
 * reader-writer lock guards definitions and engine handles: deliveries and
 * reads hold it shared (for the whole transaction, so a database handle
 * cannot be detached under them); administration holds it exclusive.
 * Administration of a storage group that is in a backup (frozen or between
 * PrepareBackup and BackupComplete) is refused with -EBUSY instead of
 * blocking, so callers never wait on a frozen engine for it.
 *
 * Errors (docs/design/mailstore.md §10): negative errno or MSTORE_E_*;
 * the one-line message naming the object and the reason goes into ERR, an
 * ErrorSlot (lib/core/error-slot.h) the caller owns: each bus job and each
 * IMAP session has its own, since the service is called from many threads
 * at once and so holds none itself; NULL = the calling thread's slot.  A
 * call clears ERR first, so after it ERR holds that call's message or "".
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mstore/mstore.h>

#include "lib/core/error-slot.h"

typedef struct service service;

struct service_options {
        const char *data_dir;
        const char *server_name;
        unsigned max_sgs;           /* default 4 */
        unsigned max_dbs;           /* default 5 per group */
        size_t max_message_size;    /* default LMTP_DEFAULT_MAX_SIZE */
        uint64_t log_file_size;     /* 0 = engine default */
};

int service_new(const struct service_options *o, service **ret, ErrorSlot *err);
/* Open every storage group with a mounted database and mount what the
 * definitions say was mounted (soft recovery runs in the engine).  A group
 * that fails is logged and left offline; returns 0 unless nothing works. */
int service_start(service *s);
/* Close every storage group cleanly (waits for running deliveries). */
void service_stop(service *s);
service *service_free(service *s);

const char *service_server_name(service *s);
size_t service_max_message_size(service *s);

/* ---- administration */
int service_sg_create(service *s, const char *name, const char *path, const char *log_path, bool circular,
                      ErrorSlot *err);
int service_db_create(service *s, const char *sg, const char *db, bool is_public, ErrorSlot *err);
int service_db_mount(service *s, const char *sg, const char *db, ErrorSlot *err);
int service_db_dismount(service *s, const char *sg, const char *db, ErrorSlot *err);
int service_db_set_overwrite(service *s, const char *sg, const char *db, bool allow, ErrorSlot *err);
int service_mailbox_create(service *s, const char *address, const char *sg, const char *db, ErrorSlot *err);

/* JSON documents of docs/interfaces.md (caller decrefs). */
int service_sg_list(service *s, json_t **ret);
int service_db_list(service *s, json_t **ret);
int service_mailbox_list(service *s, json_t **ret);
int service_stats(service *s, json_t **ret);

/* ---- mail */
/* 0: ADDRESS is a mailbox whose database is mounted; -ENOENT unknown;
 * -EAGAIN its database is dismounted (temporary). */
int service_rcpt_check(service *s, const char *address);
/* Deliver DATA to every recipient; ret_status[i] = 0 once durable, else a
 * negative errno.  Returns the number delivered. */
int service_deliver(service *s, const char *from, char *const *rcpts, size_t n, const void *data, size_t size,
                    int *ret_status);
/* {"messages":[{"uid","size","subject"}]} */
int service_msg_list(service *s, const char *address, json_t **ret, ErrorSlot *err);
/* The raw message (malloc'ed, caller frees). */
int service_msg_get(service *s, const char *address, uint32_t uid, void **ret_data, size_t *ret_size, ErrorSlot *err);

/* ---- folders, flags, deletion (docs/design/mailstore.md §8).  Every
 * change is one engine transaction, under the mailbox's change lock. */
struct service_folder {
        char name[64 + 1];
        bool subscribed;
};
struct service_msginfo {
        uint32_t uid, flags; /* MM_FLAG_* */
        uint64_t size, time;
};
struct service_view {
        uint32_t uid_validity, uid_next;
        uint64_t changes;            /* service_mailbox_changes() when read */
        struct service_msginfo *msgs; /* UID order; caller frees */
        size_t n;
};
/* Counter bumped after every commit that changes the mailbox. */
int service_mailbox_changes(service *s, const char *address, uint64_t *ret);
int service_folder_list(service *s, const char *address, struct service_folder **ret, size_t *ret_n, ErrorSlot *err);
/* -EEXIST, -EINVAL (name), -ENOENT (mailbox or folder). */
int service_folder_create(service *s, const char *address, const char *folder, ErrorSlot *err);
/* Deletes the folder's messages too; -EPERM for INBOX, -ENOTEMPTY with subfolders. */
int service_folder_delete(service *s, const char *address, const char *folder, ErrorSlot *err);
/* Renames the folder and its subfolders (INBOX: moves its messages). */
int service_folder_rename(service *s, const char *address, const char *from, const char *to, ErrorSlot *err);
int service_folder_subscribe(service *s, const char *address, const char *folder, bool on, ErrorSlot *err);
/* The messages of FOLDER in UID order plus UIDVALIDITY/UIDNEXT. */
int service_folder_view(service *s, const char *address, const char *folder, struct service_view *ret, ErrorSlot *err);
/* Flags of messages: mode > 0 add, < 0 remove, 0 replace.  ret_flags[k]
 * (optional) gets the new flags, UINT32_MAX for a message that is gone. */
int service_msg_store(service *s, const char *address, const uint32_t *uids, size_t n, int mode, uint32_t flags,
                      uint32_t *ret_flags, ErrorSlot *err);
/* Delete messages (records and streams) in one transaction; missing UIDs
 * are skipped; *ret_deleted counts the deleted ones. */
int service_msg_delete(service *s, const char *address, const uint32_t *uids, size_t n, size_t *ret_deleted,
                       ErrorSlot *err);
/* Copy messages into FOLDER (new UIDs in ret_new_uids, 0 for a missing one). */
int service_msg_copy(service *s, const char *address, const uint32_t *uids, size_t n, const char *folder,
                     uint32_t *ret_new_uids, uint32_t *ret_validity, ErrorSlot *err);
/* Store a message in FOLDER with FLAGS and internal date TIME (0 = now). */
int service_msg_append(service *s, const char *address, const char *folder, const void *data, size_t size,
                       uint32_t flags, uint64_t time, uint32_t *ret_uid, uint32_t *ret_validity, ErrorSlot *err);

/* ---- counters (atomic) */
void service_count_session(service *s, int delta);
void service_count_rejected(service *s);

/* ---- for the Mail Store Writer (writer.c) */
/* Run fn on the open storage group NAME with the lock held shared
 * (-ENOENT unknown group, -ENODEV offline). */
int service_with_sg(service *s, const char *name, int (*fn)(service *s, mstore_sg *sg, void *ud), void *ud);
/* Mark a group as in a backup: administration of it gets -EBUSY. */
int service_set_backup(service *s, const char *name, bool on);
/* Names of all storage groups (NULL-terminated, caller frees with strv_free). */
char **service_sg_names(service *s);
void strv_free(char **v);
/* Fill a JSON description of one group's files for the writer metadata:
 * {"name","base","path","log_path","databases":[{"name","edb","stm","mounted","allow_restore_overwrite"}]} */
int service_sg_describe(service *s, const char *name, json_t **ret);

/* Restores in place (writer.c), docs/design/mailstore.md §8.1: before
 * recovery, mark database DB of group SG ("" = every database of it) so
 * that its next mount gives each of its mailboxes a new UIDVALIDITY (and
 * may start a new log stream when the logs are gone); *ret_prev says which
 * were marked already (bit = database index).  After a recovery that
 * rolled forward to the end of the live log, unmark with that PREV. */
int service_restore_mark(service *s, const char *sg, const char *db, uint32_t *ret_prev);
int service_restore_unmark(service *s, const char *sg, const char *db, uint32_t prev);

/* Refuse paths inside a snapshot (.lvss-snapshots component or a read-only
 * filesystem/subvolume).  -EROFS with a message. */
int service_check_not_snapshot(const char *path, ErrorSlot *err);

/* What to show for a failure R: ERR's message, else the code's name. */
const char *service_error(const ErrorSlot *err, int r);
/* msg: the engine's message on the handle a failed libmstore call was made
 * on (docs/design/store.md §8); the code's name when there is none. */
const char *eng_err(const char *msg, int r);
