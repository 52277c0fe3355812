/* SPDX-License-Identifier: MIT */
/*
 * defs: mstored's persistent definitions — storage groups, databases (with
 * their mounted state and allow-restore-overwrite flag) and the mailbox
 * directory (address -> home SG/DB) — kept in DATA_DIR/mstored.json.
 *
 * The file is replaced atomically (write temp, fsync, rename, fsync dir), so
 * after a crash it is either the old or the new version, never a mix.  It is
 * outside data parsed with hard limits (size, counts, name lengths) and
 * validated before use; anything unexpected is rejected with a message.
 *
 * Not thread-safe by itself: the service guards it with its own lock.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/core/error-slot.h"

#define DEFS_FILE "mstored.json"
#define DEFS_MAX_FILE_SIZE (64u * 1024 * 1024)
#define DEFS_MAX_NAME 64
#define DEFS_MAX_SG_HARD 16
#define DEFS_MAX_DB_HARD 16
#define DEFS_MAX_MAILBOXES 1000000
#define DEFS_MAX_PATH 4096

struct defs_db {
        char name[DEFS_MAX_NAME + 1];
        bool is_public;
        bool mounted;
        bool allow_restore_overwrite;
        bool renew_uid_validity; /* restored without the later logs: new UIDVALIDITY at the next mount */
};

struct defs_sg {
        char name[DEFS_MAX_NAME + 1];
        char base[4]; /* "E00".."E0F" */
        char *path;
        char *log_path;
        bool circular_logging;
        struct defs_db dbs[DEFS_MAX_DB_HARD];
        size_t n_dbs;
};

struct defs_mailbox {
        char *address; /* lower case */
        char sg[DEFS_MAX_NAME + 1];
        char db[DEFS_MAX_NAME + 1];
};

struct defs {
        struct defs_sg sgs[DEFS_MAX_SG_HARD];
        size_t n_sgs;
        struct defs_mailbox *mailboxes;
        size_t n_mailboxes, alloc_mailboxes;
};

/* Load DIR/mstored.json into a new object (an empty one if the file does not
 * exist).  On a malformed file returns -EBADMSG with a one-line reason in
 * ERR (NULL = the thread's slot). */
int defs_load(const char *dir, struct defs **ret, ErrorSlot *err);
/* Write atomically to DIR/mstored.json. */
int defs_save(const struct defs *d, const char *dir);
struct defs *defs_free(struct defs *d);

/* Names of storage groups and databases: 1..64 of [A-Za-z0-9_.-], not
 * starting with '.' or '-'. */
bool defs_name_valid(const char *name);
/* Mailbox addresses: 1..320 printable ASCII bytes, no spaces, '<', '>' or '/'. */
bool defs_address_valid(const char *addr);

struct defs_sg *defs_find_sg(struct defs *d, const char *name);
struct defs_db *defs_find_db(struct defs_sg *sg, const char *name);
struct defs_mailbox *defs_find_mailbox(struct defs *d, const char *address);
/* Add a mailbox (address lower-cased by the caller). -EEXIST, -ENOMEM. */
int defs_add_mailbox(struct defs *d, const char *address, const char *sg, const char *db);
/* The first free base "E0n" not used by any group, or -ENOSPC. */
int defs_next_base(const struct defs *d, char ret_base[4]);
