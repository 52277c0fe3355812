/* SPDX-License-Identifier: MIT */
/*
 * lmtp-server: the LMTP listeners of mstored.  One accept thread per
 * endpoint; one thread per session, at most LMTP_MAX_SESSIONS at once (the
 * next client gets "421 4.3.2" and is closed).  Sessions block in the
 * engine's commit while a storage group is frozen; that is the point: many
 * threads committing at once share the engine's group commit, and a freeze
 * only delays their "250" replies.  Each session has an idle timeout.
 */
#pragma once

#include "service.h"

#define LMTP_MAX_SESSIONS 64
#define LMTP_MAX_ENDPOINTS 8
#define LMTP_IDLE_TIMEOUT_SEC 300

typedef struct lmtp_server lmtp_server;

/* Listen on each endpoint: "unix:PATH" or "HOST:PORT" ("[v6]:PORT").
 * Returns 0 or a negative errno with *ret_error naming the endpoint. */
int lmtp_server_start(service *svc, char *const *endpoints, size_t n, lmtp_server **ret, char **ret_error);
/* Stop accepting, shut down sessions, join threads, free. */
void lmtp_server_stop(lmtp_server *srv);
