/* SPDX-License-Identifier: MIT */
/*
 * mailmodel: how mailboxes, folders and messages are laid out as keys and
 * values in a libmstore database (pure encoding, no I/O; see
 * docs/design/mailstore.md §2).
 *
 *   "M" addr                     -> mailbox record  (mm_mailbox_encode)
 *   "F" addr 0x00 folder         -> folder record   (mm_folder_encode; "" = subscribed)
 *   "U" addr 0x00 uid(be32)      -> message record  (mm_message_encode)
 *
 * Addresses never contain 0x00, so "X" addr 0x00 is a prefix that matches
 * exactly one mailbox; UIDs are big endian so byte order is UID order.
 * The raw message is a stream in NAME.stm; the record keeps its reference.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define MM_MAX_SUBJECT 255
#define MM_MAX_FOLDER 64
#define MM_MAX_ADDR 320
#define MM_MAX_KEY (1 + MM_MAX_ADDR + 1 + MM_MAX_FOLDER + 4)
#define MM_STREAM_REF_SIZE 32
#define MM_MAX_HEADER_SCAN (64u * 1024)
#define MM_FOLDER_RECORD_SIZE 2

/* Message flags (IMAP system flags; \Recent is per session, not stored). */
enum {
        MM_FLAG_SEEN = 1u << 0,
        MM_FLAG_ANSWERED = 1u << 1,
        MM_FLAG_FLAGGED = 1u << 2,
        MM_FLAG_DELETED = 1u << 3,
        MM_FLAG_DRAFT = 1u << 4,
        MM_FLAGS_ALL = 0x1f,
};

struct mm_mailbox {
        uint32_t uid_validity;
        uint32_t uid_next;
        uint64_t created;
};

struct mm_message {
        uint32_t uid;
        uint64_t size;
        uint64_t time;
        uint32_t flags;             /* MM_FLAG_* (version 2 records) */
        unsigned char stream_ref[MM_STREAM_REF_SIZE];
        char subject[MM_MAX_SUBJECT + 1];
        char from[MM_MAX_ADDR + 1];
        char folder[MM_MAX_FOLDER + 1];
};

/* Keys: write into buf (size MM_MAX_KEY), return the length or -EINVAL. */
int mm_key_mailbox(char *buf, const char *addr);
int mm_key_folder(char *buf, const char *addr, const char *folder);
int mm_key_folder_prefix(char *buf, const char *addr);
int mm_key_message(char *buf, const char *addr, uint32_t uid);
int mm_key_message_prefix(char *buf, const char *addr);
/* UID from a message key of ADDR; -EINVAL if it is not one. */
int mm_key_message_uid(const void *key, size_t klen, size_t prefix_len, uint32_t *ret_uid);

/* Records: encode into a malloc'ed buffer, decode with bounds checks
 * (-EBADMSG on anything malformed). */
int mm_mailbox_encode(const struct mm_mailbox *m, void **ret, size_t *ret_len);
int mm_mailbox_decode(const void *buf, size_t len, struct mm_mailbox *ret);
int mm_message_encode(const struct mm_message *m, void **ret, size_t *ret_len);
int mm_message_decode(const void *buf, size_t len, struct mm_message *ret);

/* Extract the Subject header (unfolded, CR/LF removed, control characters
 * replaced by spaces, cut at MM_MAX_SUBJECT bytes) from the header part of
 * a message (at most MM_MAX_HEADER_SCAN bytes are looked at).  Empty if none. */
void mm_parse_subject(const void *msg, size_t len, char ret[MM_MAX_SUBJECT + 1]);

/* Folder names: 1..64 printable ASCII without * % " \\; '/' separates
 * hierarchy levels (no empty level, none starting with '.'). */
int mm_folder_valid(const char *name);
/* Folder record: encode into ret (returns its size); decode (an empty
 * value is an old record: subscribed).  -EBADMSG if malformed. */
int mm_folder_encode(int subscribed, unsigned char ret[MM_FOLDER_RECORD_SIZE]);
int mm_folder_decode(const void *buf, size_t len, int *ret_subscribed);
