/* SPDX-License-Identifier: MIT */
/*
 * imap-store: the IMAP machine's store callbacks (imap-proto.h) on the
 * service core (service.h).  One imap_store per session; authentication is
 * the caller's (PAM in imap-server.c), passed in as a callback, so tests
 * drive a real session on a real engine without PAM.
 *
 * Mapping rule: user NAME reads mailbox NAME@<server-name> (lower-cased).
 */
#pragma once

#include "imap-proto.h"
#include "service.h"

struct imap_store {
        service *s;
        /* 0 if USER/PASSWORD are good, -EACCES if not, -EUSERS over the limit. */
        int (*auth)(void *auth_ud, const char *user, const char *password, const char *mailbox);
        void *auth_ud;
        /* write callback of the connection */
        int (*write)(void *write_ud, const void *buf, size_t len);
        void *write_ud;
        char mailbox[321];  /* after LOGIN */
        ErrorSlot err;      /* the session's: the message of its last store call */
};

extern const struct imap_store_ops imap_store_ops;

/* The mailbox user NAME maps to (into out, size 321); -EINVAL for a name
 * that cannot be a mailbox local part. */
int imap_store_mailbox_for(service *s, const char *user, char *out, size_t size);
