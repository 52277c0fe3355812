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

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "service.h"

#define SERVER_MAX_SESSIONS 64
#define SERVER_MAX_ENDPOINTS 8
#define LMTP_MAX_SESSIONS SERVER_MAX_SESSIONS
#define LMTP_MAX_ENDPOINTS SERVER_MAX_ENDPOINTS
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
 * Returns 0 or a negative errno with ERR naming the endpoint. */
int lmtp_server_start(service *svc, char *const *endpoints, size_t n, const struct lmtp_server_options *opts,
                      lmtp_server **ret, ErrorSlot *err);
/* Stop accepting, shut down sessions, join threads, free. */
void lmtp_server_stop(lmtp_server *srv);

/* Listen on one endpoint (also used by imap-server.c): "unix:PATH" (born
 * 0600, then group GID and MODE before listen) or "HOST:PORT".  Returns
 * the listening fd or a negative errno with ERR naming LABEL and
 * the endpoint. */
int server_listen(const char *label, const char *endpoint, gid_t gid, mode_t mode, ErrorSlot *err);

/* What the LMTP and IMAP servers share: their listeners, each with an
 * accept thread, and the table of session slots. */
struct server_listener {
        void *srv;         /* the server owning it */
        int fd;
        bool implicit_tls; /* IMAP: TLS from the first byte (--imaps) */
};
struct server_core {
        struct server_listener listener[SERVER_MAX_ENDPOINTS];
        char *unix_path[SERVER_MAX_ENDPOINTS];
        pthread_t accept_thread[SERVER_MAX_ENDPOINTS];
        size_t n;
        atomic_bool stopping;
        pthread_mutex_t lock;
        pthread_cond_t cond;                  /* signalled when a session ends */
        int session_fd[SERVER_MAX_SESSIONS]; /* -1 = free slot */
        unsigned n_sessions;
};
void server_core_init(struct server_core *c);
/* Listen on ENDPOINT (server_listen) and start ACCEPT_FN on a thread
 * with the listener (struct server_listener *) as its argument. */
int server_core_add(struct server_core *c, void *srv, const char *label, const char *endpoint, gid_t gid, mode_t mode,
                    bool implicit_tls, void *(*accept_fn)(void *), ErrorSlot *err);
/* The next connection on listener L: a close-on-exec fd, or -1 once the
 * server stops (transient accept errors are waited out). */
int server_core_accept(struct server_core *c, const struct server_listener *l);
/* Free the slot of a session that ended and wake server_core_stop(). */
void server_core_session_end(struct server_core *c, int slot);
/* Stop: no more accepts (listeners shut down, accept threads joined,
 * unix sockets removed), every session's reading shut down, then wait
 * until the last session has ended (server_core_session_end). */
void server_core_stop(struct server_core *c);
