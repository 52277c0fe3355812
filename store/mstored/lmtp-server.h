/* SPDX-License-Identifier: MIT */
/*
 * lmtp-server: the LMTP listeners of mstored.  One accept thread per
 * endpoint; one thread per session, at most LMTP_MAX_SESSIONS at once (the
 * next client gets "421 4.3.2" and is closed).  Sessions block in the
 * engine's commit while a storage group is frozen; that is the point: many
 * threads committing at once share the engine's group commit, and a freeze
 * only delays their "250" replies.  Each session has an idle timeout.
 *
 * Access and limits (docs/design/mailstore.md §4):
 *  - a unix socket is created mode 0600 (umask during bind), then given the
 *    LMTP group and mode 0660 before listen(): no moment in which another
 *    user can connect; a user outside the group gets EACCES;
 *  - a reply the client does not take within the write timeout drops the
 *    session (a client that never reads cannot pin a thread);
 *  - at most max_per_peer sessions per peer uid (SO_PEERCRED, unix sockets)
 *    or peer address (TCP); the next gets "421 4.7.0" and is closed;
 *  - stop: reading ends at once; a delivery in progress finishes and its
 *    replies are sent, but a reply the client has not taken
 *    LMTP_STOP_GRACE_MS after the stop is given up (a hung or non-reading
 *    client cannot delay the exit).
 */
#pragma once

#include <sys/types.h>

#include "service.h"

#define LMTP_MAX_SESSIONS 64
#define LMTP_MAX_ENDPOINTS 8
#define LMTP_IDLE_TIMEOUT_SEC 300
#define LMTP_DEFAULT_MAX_PER_PEER 32
#define LMTP_DEFAULT_WRITE_TIMEOUT_SEC 60
#define LMTP_STOP_GRACE_MS 100

struct lmtp_server_options {
        gid_t socket_gid;            /* group owning the unix sockets (mode 0660) */
        unsigned max_per_peer;       /* 0 = LMTP_DEFAULT_MAX_PER_PEER */
        unsigned write_timeout_sec;  /* 0 = LMTP_DEFAULT_WRITE_TIMEOUT_SEC */
};

typedef struct lmtp_server lmtp_server;

/* Listen on each endpoint: "unix:PATH" or "HOST:PORT" ("[v6]:PORT").
 * Returns 0 or a negative errno with *ret_error naming the endpoint. */
int lmtp_server_start(service *svc, char *const *endpoints, size_t n, const struct lmtp_server_options *opts,
                      lmtp_server **ret, char **ret_error);
/* Stop accepting, shut down sessions, join threads, free. */
void lmtp_server_stop(lmtp_server *srv);

/* Listen on one endpoint (also used by imap-server.c): "unix:PATH" (born
 * 0600, then group GID and MODE before listen) or "HOST:PORT".  Returns
 * the listening fd or a negative errno with *ret_error naming LABEL and
 * the endpoint. */
int server_listen(const char *label, const char *endpoint, gid_t gid, mode_t mode, char **ret_error);
