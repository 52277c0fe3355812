/* SPDX-License-Identifier: MIT */
/*
 * LMTP listeners and sessions (see lmtp-server.h).  The protocol itself is
 * lmtp-proto.c; this file only moves bytes and threads.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/core/macro.h"
#include "events.h"
#include "lmtp-proto.h"
#include "lmtp-server.h"

#define PEER_KEY_MAX 96

struct session {
        struct lmtp_server *srv;
        int fd;
        int slot;
        char peer[PEER_KEY_MAX]; /* "uid 1000" or "address 192.0.2.1" */
};

struct lmtp_server {
        service *svc;
        int listen_fd[LMTP_MAX_ENDPOINTS];
        char *unix_path[LMTP_MAX_ENDPOINTS];
        pthread_t accept_thread[LMTP_MAX_ENDPOINTS];
        size_t n;
        atomic_bool stopping;
        _Atomic int64_t stop_at_ms; /* stopping: replies given up after this */
        gid_t socket_gid;
        unsigned max_per_peer;
        unsigned write_timeout_ms;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        int session_fd[LMTP_MAX_SESSIONS]; /* -1 = free slot */
        char session_peer[LMTP_MAX_SESSIONS][PEER_KEY_MAX];
        unsigned n_sessions;
};

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A whole reply, or -ETIMEDOUT when the client has not taken it within the
 * write timeout (it does not read): the session then ends.  While the
 * server stops, a reply the client does not take by stop_at_ms is given up
 * too (the wait is sliced so a stop is noticed at once); a client that
 * reads still gets its replies. */
static int s_write(void *ud, const char *buf, size_t len) {
        struct session *s = ud;
        int64_t deadline = now_ms() + s->srv->write_timeout_ms;
        while (len > 0) {
                ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n >= 0) {
                        buf += n;
                        len -= (size_t) n;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                        return -errno;
                if (atomic_load(&s->srv->stopping) && now_ms() >= atomic_load(&s->srv->stop_at_ms))
                        return -ESHUTDOWN;
                int64_t left = deadline - now_ms();
                if (left <= 0) {
                        event_log(MSTORED_MID_ERROR, LOG_NOTICE, NULL, NULL,
                                  "LMTP client (%s) dropped: a reply was not read within %u s", s->peer,
                                  s->srv->write_timeout_ms / 1000);
                        return -ETIMEDOUT;
                }
                struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
                if (poll(&pfd, 1, (int) MIN(left, 50)) < 0 && errno != EINTR)
                        return -errno;
        }
        return 0;
}

static int s_rcpt_check(void *ud, const char *addr) {
        struct session *s = ud;
        int r = service_rcpt_check(s->srv->svc, addr);
        if (r == -ENOENT)
                service_count_rejected(s->srv->svc);
        return r;
}

static void s_deliver(void *ud, const char *from, char *const *rcpts, size_t n, const void *data, size_t size,
                      int *st) {
        struct session *s = ud;
        service_deliver(s->srv->svc, from, rcpts, n, data, size, st);
}

static void *session_main(void *arg) {
        struct session *s = arg;
        struct lmtp_server *srv = s->srv;
        static const struct lmtp_proto_ops ops = {s_rcpt_check, s_deliver, s_write};
        struct lmtp_limits lim = {.max_size = service_max_message_size(srv->svc)};
        lmtp_proto *p = NULL;

        service_count_session(srv->svc, +1);
        if (lmtp_proto_new(service_server_name(srv->svc), &lim, &ops, s, &p) >= 0 && lmtp_proto_greet(p) >= 0) {
                char buf[65536];
                while (!atomic_load(&srv->stopping)) {
                        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
                        int pr = poll(&pfd, 1, LMTP_IDLE_TIMEOUT_SEC * 1000);
                        if (pr < 0 && errno == EINTR)
                                continue;
                        if (pr == 0) {
                                (void) s_write(s, "421 4.4.2 Idle timeout, closing connection\r\n", 45);
                                break;
                        }
                        if (pr < 0)
                                break;
                        ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                lmtp_proto_eof(p);
                                break;
                        }
                        if (lmtp_proto_feed(p, buf, (size_t) n) != LMTP_CONTINUE)
                                break;
                }
        }
        lmtp_proto_free(p);
        service_count_session(srv->svc, -1);

        pthread_mutex_lock(&srv->lock);
        srv->session_fd[s->slot] = -1;
        srv->session_peer[s->slot][0] = 0;
        srv->n_sessions--;
        pthread_cond_broadcast(&srv->cond);
        pthread_mutex_unlock(&srv->lock);
        close(s->fd);
        free(s);
        return NULL;
}

/* Who is at the other end: the uid for a unix socket (the kernel vouches
 * for it), the address (without port) for TCP. */
static void peer_key(int fd, char ret[PEER_KEY_MAX]) {
        struct ucred uc;
        socklen_t ul = sizeof uc;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char host[80]; /* numeric IPv6 with a scope fits */
        snprintf(ret, PEER_KEY_MAX, "unknown peer");
        if (getpeername(fd, (struct sockaddr *) &ss, &sl) < 0)
                return;
        if (ss.ss_family == AF_UNIX) {
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0)
                        snprintf(ret, PEER_KEY_MAX, "uid %u", (unsigned) uc.uid);
        } else if (getnameinfo((struct sockaddr *) &ss, sl, host, sizeof host, NULL, 0, NI_NUMERICHOST) == 0)
                snprintf(ret, PEER_KEY_MAX, "address %s", host);
}

static void refuse(int fd, const char *msg) {
        (void) !send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
}

static void *accept_main(void *arg) {
        struct lmtp_server *srv = ((void **) arg)[0];
        int lfd = (int) (intptr_t) ((void **) arg)[1];
        free(arg);
        while (!atomic_load(&srv->stopping)) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE ||
                            errno == ENOBUFS || errno == ENOMEM) {
                                if (errno != EINTR && errno != ECONNABORTED)
                                        usleep(100000);
                                continue;
                        }
                        break; /* listener shut down */
                }
                if (atomic_load(&srv->stopping)) {
                        close(fd);
                        break;
                }
                char peer[PEER_KEY_MAX];
                peer_key(fd, peer);
                pthread_mutex_lock(&srv->lock);
                int slot = -1;
                unsigned same = 0;
                for (int k = 0; k < LMTP_MAX_SESSIONS; k++) {
                        if (srv->session_fd[k] < 0 && slot < 0)
                                slot = k;
                        if (srv->session_fd[k] >= 0 && strcmp(srv->session_peer[k], peer) == 0)
                                same++;
                }
                if (slot < 0 || same >= srv->max_per_peer) {
                        pthread_mutex_unlock(&srv->lock);
                        if (slot < 0)
                                refuse(fd, "421 4.3.2 Too many concurrent sessions, try again later\r\n");
                        else
                                refuse(fd, "421 4.7.0 Too many concurrent sessions from this client, try again later\r\n");
                        continue;
                }
                struct session *s = calloc(1, sizeof(*s));
                pthread_t t;
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                pthread_attr_setstacksize(&attr, 256 * 1024);
                if (s) {
                        s->srv = srv;
                        s->fd = fd;
                        s->slot = slot;
                        snprintf(s->peer, sizeof s->peer, "%s", peer);
                        srv->session_fd[slot] = fd;
                        snprintf(srv->session_peer[slot], PEER_KEY_MAX, "%s", peer);
                        srv->n_sessions++;
                }
                if (!s || pthread_create(&t, &attr, session_main, s) != 0) {
                        if (s) {
                                srv->session_fd[slot] = -1;
                                srv->session_peer[slot][0] = 0;
                                srv->n_sessions--;
                        }
                        free(s);
                        close(fd);
                }
                pthread_attr_destroy(&attr);
                pthread_mutex_unlock(&srv->lock);
        }
        return NULL;
}

static int unix_fail(const char *label, const char *path, const char *what, int r, char **ret_error) {
        if (ret_error && asprintf(ret_error, "%s socket '%s': %s%s", label, path, what ? what : "", strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
}

/* The socket is born 0600 (umask around bind), gets the LMTP group and
 * 0660 while not yet listening (connects are refused until listen), so
 * nobody outside root and the group ever reaches it. */
static int listen_unix(const char *label, const char *path, gid_t gid, mode_t mode, char **ret_error) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path)) {
                if (ret_error && asprintf(ret_error, "%s socket '%s': path too long", label, path) < 0)
                        *ret_error = NULL;
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return unix_fail(label, path, "exists and is not a socket: ", -EEXIST, ret_error);
                (void) unlink(path); /* a stale socket of a previous run */
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* umask is per process: this runs at startup, before D-Bus serves
         * any call that could create a directory, and the engine creates its
         * files with mode 0600 anyway. */
        mode_t old = umask(0177);
        int r = bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ? -errno : 0;
        umask(old);
        if (r == 0 && (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)))
                r = -EEXIST;
        if (r == 0 && (lchown(path, (uid_t) -1, gid) < 0 || chmod(path, mode) < 0))
                r = -errno;
        if (r == 0 && listen(fd, 128) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return unix_fail(label, path, NULL, r, ret_error);
        }
        return fd;
}

static int listen_tcp(const char *label, const char *spec, char **ret_error) {
        char host[256];
        const char *colon = strrchr(spec, ':');
        if (!colon || colon == spec || (size_t) (colon - spec) >= sizeof(host) || !colon[1]) {
                if (ret_error && asprintf(ret_error, "%s endpoint '%s': expected unix:PATH or HOST:PORT", label, spec) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        memcpy(host, spec, (size_t) (colon - spec));
        host[colon - spec] = 0;
        char *h = host;
        if (h[0] == '[' && h[strlen(h) - 1] == ']') {
                h[strlen(h) - 1] = 0;
                h++;
        }
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
        int g = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
        if (g != 0) {
                if (ret_error && asprintf(ret_error, "%s endpoint '%s': %s", label, spec, gai_strerror(g)) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd >= 0)
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
                int r = -errno;
                if (fd >= 0)
                        close(fd);
                freeaddrinfo(ai);
                if (ret_error && asprintf(ret_error, "%s endpoint '%s': %s", label, spec, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        freeaddrinfo(ai);
        return fd;
}

int server_listen(const char *label, const char *endpoint, gid_t gid, mode_t mode, char **ret_error) {
        if (strncmp(endpoint, "unix:", 5) == 0)
                return listen_unix(label, endpoint + 5, gid, mode, ret_error);
        return listen_tcp(label, endpoint, ret_error);
}

int lmtp_server_start(service *svc, char *const *endpoints, size_t n, const struct lmtp_server_options *o,
                      lmtp_server **ret, char **ret_error) {
        if (n > LMTP_MAX_ENDPOINTS)
                return -E2BIG;
        lmtp_server *srv = calloc(1, sizeof(*srv));
        if (!srv)
                return -ENOMEM;
        srv->svc = svc;
        srv->socket_gid = o ? o->socket_gid : 0;
        srv->max_per_peer = o && o->max_per_peer ? o->max_per_peer : LMTP_DEFAULT_MAX_PER_PEER;
        srv->write_timeout_ms = 1000u * (o && o->write_timeout_sec ? o->write_timeout_sec
                                                                   : LMTP_DEFAULT_WRITE_TIMEOUT_SEC);
        pthread_mutex_init(&srv->lock, NULL);
        pthread_cond_init(&srv->cond, NULL);
        for (int k = 0; k < LMTP_MAX_SESSIONS; k++)
                srv->session_fd[k] = -1;
        for (size_t i = 0; i < n; i++) {
                int fd;
                fd = server_listen("LMTP", endpoints[i], srv->socket_gid, 0660, ret_error);
                if (fd >= 0 && strncmp(endpoints[i], "unix:", 5) == 0)
                        srv->unix_path[srv->n] = strdup(endpoints[i] + 5);
                if (fd < 0) {
                        lmtp_server_stop(srv);
                        return fd;
                }
                srv->listen_fd[srv->n] = fd;
                void **arg = malloc(2 * sizeof(void *));
                if (!arg) {
                        close(fd);
                        lmtp_server_stop(srv);
                        return -ENOMEM;
                }
                arg[0] = srv;
                arg[1] = (void *) (intptr_t) fd;
                if (pthread_create(&srv->accept_thread[srv->n], NULL, accept_main, arg) != 0) {
                        free(arg);
                        close(fd);
                        lmtp_server_stop(srv);
                        return -EAGAIN;
                }
                srv->n++;
        }
        *ret = srv;
        return 0;
}

void lmtp_server_stop(lmtp_server *srv) {
        if (!srv)
                return;
        atomic_store(&srv->stop_at_ms, now_ms() + LMTP_STOP_GRACE_MS);
        atomic_store(&srv->stopping, true);
        for (size_t i = 0; i < srv->n; i++) {
                shutdown(srv->listen_fd[i], SHUT_RDWR);
                pthread_join(srv->accept_thread[i], NULL);
                close(srv->listen_fd[i]);
                if (srv->unix_path[i]) {
                        unlink(srv->unix_path[i]);
                        free(srv->unix_path[i]);
                }
        }
        /* Sessions: stop reading from clients (a waiting session sees EOF,
         * a reading one stops at its next chunk); a session in a delivery
         * finishes it (the engine still answers) and sends its replies, but
         * gives up on a client that does not take them by stop_at_ms (see
         * s_write): no client can hold the exit. */
        pthread_mutex_lock(&srv->lock);
        for (int k = 0; k < LMTP_MAX_SESSIONS; k++)
                if (srv->session_fd[k] >= 0)
                        shutdown(srv->session_fd[k], SHUT_RD);
        while (srv->n_sessions > 0)
                pthread_cond_wait(&srv->cond, &srv->lock);
        pthread_mutex_unlock(&srv->lock);
        pthread_mutex_destroy(&srv->lock);
        pthread_cond_destroy(&srv->cond);
        free(srv);
}
