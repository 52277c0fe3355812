/* SPDX-License-Identifier: MIT */
/*
 * imap-proto: the IMAP4rev1 (RFC 3501) protocol machine of mstored, with
 * IDLE (RFC 2177), UIDPLUS (RFC 4315), NAMESPACE (RFC 2342) and LITERAL+
 * (RFC 7888), without any I/O.  The caller feeds the bytes it read from a
 * client; the machine assembles commands (line plus literals, asking for
 * synchronizing literals with "+ "), parses them, calls the store through
 * struct imap_store_ops and emits responses through ops->write.
 *
 * Deliberately not here: sockets, threads, PAM, the mail store.  That keeps
 * the parser fuzzable on its own (tests/fuzz/mstored/fuzz-imap.c).
 *
 * Limits (docs/design/mailstore.md §8.2):
 *   - a command line without its literals is at most IMAP_MAX_LINE bytes;
 *     a longer one is discarded up to its LF and answered BAD;
 *   - a literal is at most limits.max_literal (APPEND) or IMAP_MAX_SMALL_LITERAL
 *     (anywhere else); a synchronizing one above is refused before the
 *     client sends it, a LITERAL+ one closes the session with BYE;
 *   - IMAP_MAX_ERRORS bad commands close the session with BYE.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_MAX_LINE 8192
#define IMAP_MAX_SMALL_LITERAL 8192
#define IMAP_MAX_ERRORS 20
#define IMAP_MAX_NAME 64

typedef struct imap_proto imap_proto;

/* Flags: the mail model's bits (mailmodel.h MM_FLAG_*). */
enum {
        IMAP_FLAG_SEEN = 1u << 0,
        IMAP_FLAG_ANSWERED = 1u << 1,
        IMAP_FLAG_FLAGGED = 1u << 2,
        IMAP_FLAG_DELETED = 1u << 3,
        IMAP_FLAG_DRAFT = 1u << 4,
};

struct imap_msg {
        uint32_t uid, flags;
        uint64_t size, time;
};

struct imap_view {
        uint32_t uid_validity, uid_next;
        uint64_t changes;
        struct imap_msg *msgs; /* UID order, malloc'ed (the machine frees) */
        size_t n;
};

struct imap_folder {
        char name[IMAP_MAX_NAME + 1];
        bool subscribed;
};

/* Store callbacks.  Negative errno on failure: -ENOENT no such folder or
 * message, -EEXIST exists, -EINVAL bad name, -EPERM not allowed,
 * -ENOTEMPTY has subfolders, -EFBIG too big, -EACCES bad login, -EUSERS
 * too many sessions, anything else "server failure". */
struct imap_store_ops {
        int (*login)(void *ud, const char *user, const char *password);
        int (*list)(void *ud, struct imap_folder **ret, size_t *ret_n);
        int (*create)(void *ud, const char *name);
        int (*delete_)(void *ud, const char *name);
        int (*rename)(void *ud, const char *from, const char *to);
        int (*subscribe)(void *ud, const char *name, bool on);
        int (*open)(void *ud, const char *name, struct imap_view *ret);
        /* Counter that changes whenever the mailbox changed (cheap). */
        uint64_t (*changes)(void *ud);
        int (*fetch)(void *ud, uint32_t uid, void **ret_data, size_t *ret_size);
        /* mode > 0 add, < 0 remove, 0 replace; ret_flags[k] UINT32_MAX = gone. */
        int (*store)(void *ud, const uint32_t *uids, size_t n, int mode, uint32_t flags, uint32_t *ret_flags);
        int (*expunge)(void *ud, const uint32_t *uids, size_t n);
        int (*copy)(void *ud, const uint32_t *uids, size_t n, const char *dest, uint32_t *ret_new_uids,
                    uint32_t *ret_validity);
        int (*append)(void *ud, const char *folder, const void *data, size_t size, uint32_t flags, uint64_t time,
                      uint32_t *ret_uid, uint32_t *ret_validity);
        /* Write response bytes.  Negative on error. */
        int (*write)(void *ud, const void *buf, size_t len);
};

struct imap_limits {
        size_t max_literal;  /* APPEND literal limit (the message size limit) */
        bool plaintext_ok;   /* LOGIN allowed (unix socket, loopback or TLS) */
        bool starttls;       /* STARTTLS can be offered (the server has a certificate) */
};

enum {
        IMAP_CONTINUE = 0,
        IMAP_CLOSE = 1, /* LOGOUT answered, BYE sent: close the connection */
        IMAP_STARTTLS = 2, /* STARTTLS answered: run the TLS handshake now, then
                            * imap_proto_tls_started(); input after the command
                            * was discarded (no plaintext injection) */
};

int imap_proto_new(const char *hostname, const struct imap_limits *limits, const struct imap_store_ops *ops,
                   void *ud, imap_proto **ret);
imap_proto *imap_proto_free(imap_proto *p);

/* The TLS handshake after IMAP_STARTTLS succeeded: LOGIN is allowed now. */
void imap_proto_tls_started(imap_proto *p);

/* Send the "* OK" greeting. */
int imap_proto_greet(imap_proto *p);
/* Feed LEN bytes from the client.  IMAP_CONTINUE, IMAP_CLOSE or negative. */
int imap_proto_feed(imap_proto *p, const void *buf, size_t len);
/* In IDLE: report changes of the selected folder now (call it when the
 * store's change counter moved, or periodically).  No-op otherwise. */
int imap_proto_poll(imap_proto *p);
bool imap_proto_idling(const imap_proto *p);
/* The user name after a successful LOGIN (NULL before). */
const char *imap_proto_user(const imap_proto *p);

/* Exported for unit tests: parse a sequence set against a maximum value
 * (the value of '*'); fills a malloc'ed array of [lo,hi] pairs. */
int imap_parse_seqset(const char *s, size_t len, uint32_t star, uint32_t **ret_ranges, size_t *ret_n);
/* Match a folder name against a LIST pattern (* and %, delimiter '/'). */
bool imap_list_match(const char *pattern, const char *name);
