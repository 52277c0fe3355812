/* SPDX-License-Identifier: MIT */
/*
 * imap-server: the IMAP listeners of mstored (docs/design/mailstore.md §8.2).
 * One accept thread per endpoint, one thread per session (at most
 * IMAP_MAX_SESSIONS; at most IMAP_MAX_PER_USER logged in per user), PAM
 * authentication (service "mstored"), IDLE polling of the mailbox's change
 * counter every IMAP_IDLE_POLL_MS.  The protocol is imap-proto.c, the store
 * binding imap-store.c; this file only moves bytes and threads.
 *
 * A unix socket is mode 0666 (anyone may try to log in; PAM decides);
 * plaintext LOGIN is allowed on unix sockets, from loopback peers and after
 * STARTTLS (GnuTLS; offered on TCP when a certificate is configured) or on
 * an implicit-TLS endpoint (--imaps, the handshake before the greeting).
 */
#pragma once

#include "lmtp-server.h"
#include "service.h"

#define IMAP_MAX_SESSIONS SERVER_MAX_SESSIONS
#define IMAP_MAX_PER_USER 10
#define IMAP_MAX_ENDPOINTS SERVER_MAX_ENDPOINTS
#define IMAP_AUTOLOGOUT_SEC 1800
#define IMAP_IDLE_POLL_MS 200
#define IMAP_WRITE_TIMEOUT_SEC 60

typedef struct imap_server imap_server;

struct imap_server_options {
        const char *tls_cert, *tls_key; /* PEM; both or neither: STARTTLS offered on TCP */
        const bool *implicit_tls;       /* per endpoint (or NULL): TLS from the first byte (IMAPS,
                                         * port 993 style); needs the certificate, HOST:PORT only */
};

int imap_server_start(service *svc, char *const *endpoints, size_t n, const struct imap_server_options *opts,
                      imap_server **ret, ErrorSlot *err);
void imap_server_stop(imap_server *srv);
