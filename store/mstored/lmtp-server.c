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
#include <unistd.h>

#include "lib/core/macro.h"
#include "events.h"
#include "lmtp-proto.h"
#include "lmtp-server.h"

struct session {
        struct lmtp_server *srv;
        int fd;
        int slot;
};

struct lmtp_server {
        service *svc;
        int listen_fd[LMTP_MAX_ENDPOINTS];
        char *unix_path[LMTP_MAX_ENDPOINTS];
        pthread_t accept_thread[LMTP_MAX_ENDPOINTS];
        size_t n;
        atomic_bool stopping;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        int session_fd[LMTP_MAX_SESSIONS]; /* -1 = free slot */
        unsigned n_sessions;
};

static int s_write(void *ud, const char *buf, size_t len) {
        struct session *s = ud;
        while (len > 0) {
                ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += n;
                len -= (size_t) n;
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
                for (;;) {
                        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
                        int pr = poll(&pfd, 1, LMTP_IDLE_TIMEOUT_SEC * 1000);
                        if (pr < 0 && errno == EINTR)
                                continue;
                        if (pr == 0) {
                                s_write(s, "421 4.4.2 Idle timeout, closing connection\r\n", 45);
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
        srv->n_sessions--;
        pthread_cond_broadcast(&srv->cond);
        pthread_mutex_unlock(&srv->lock);
        close(s->fd);
        free(s);
        return NULL;
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
                pthread_mutex_lock(&srv->lock);
                int slot = -1;
                if (srv->n_sessions < LMTP_MAX_SESSIONS)
                        for (int k = 0; k < LMTP_MAX_SESSIONS; k++)
                                if (srv->session_fd[k] < 0) {
                                        slot = k;
                                        break;
                                }
                if (slot < 0) {
                        pthread_mutex_unlock(&srv->lock);
                        static const char msg[] = "421 4.3.2 Too many concurrent sessions, try again later\r\n";
                        (void) !send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                        close(fd);
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
                        srv->session_fd[slot] = fd;
                        srv->n_sessions++;
                }
                if (!s || pthread_create(&t, &attr, session_main, s) != 0) {
                        if (s) {
                                srv->session_fd[slot] = -1;
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

static int listen_unix(const char *path, char **ret_error) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path)) {
                if (ret_error && asprintf(ret_error, "LMTP socket '%s': path too long", path) < 0)
                        *ret_error = NULL;
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(path); /* a stale socket of a previous run */
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
                int r = -errno;
                close(fd);
                if (ret_error && asprintf(ret_error, "LMTP socket '%s': %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        /* Delivery agents (postfix) connect as their own user; access is
         * controlled by the directory the socket lives in. */
        chmod(path, 0666);
        return fd;
}

static int listen_tcp(const char *spec, char **ret_error) {
        char host[256];
        const char *colon = strrchr(spec, ':');
        if (!colon || colon == spec || (size_t) (colon - spec) >= sizeof(host) || !colon[1]) {
                if (ret_error && asprintf(ret_error, "LMTP endpoint '%s': expected unix:PATH or HOST:PORT", spec) < 0)
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
                if (ret_error && asprintf(ret_error, "LMTP endpoint '%s': %s", spec, gai_strerror(g)) < 0)
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
                if (ret_error && asprintf(ret_error, "LMTP endpoint '%s': %s", spec, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        freeaddrinfo(ai);
        return fd;
}

int lmtp_server_start(service *svc, char *const *endpoints, size_t n, lmtp_server **ret, char **ret_error) {
        if (n > LMTP_MAX_ENDPOINTS)
                return -E2BIG;
        lmtp_server *srv = calloc(1, sizeof(*srv));
        if (!srv)
                return -ENOMEM;
        srv->svc = svc;
        pthread_mutex_init(&srv->lock, NULL);
        pthread_cond_init(&srv->cond, NULL);
        for (int k = 0; k < LMTP_MAX_SESSIONS; k++)
                srv->session_fd[k] = -1;
        for (size_t i = 0; i < n; i++) {
                int fd;
                if (strncmp(endpoints[i], "unix:", 5) == 0) {
                        fd = listen_unix(endpoints[i] + 5, ret_error);
                        if (fd >= 0)
                                srv->unix_path[srv->n] = strdup(endpoints[i] + 5);
                } else
                        fd = listen_tcp(endpoints[i], ret_error);
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
        /* Sessions: stop reading from clients; a session in a delivery
         * finishes it (the engine still answers) and then sees EOF. */
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
