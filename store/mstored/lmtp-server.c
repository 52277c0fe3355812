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
        struct server_core c;
        _Atomic int64_t stop_at_ms; /* stopping: replies given up after this */
        gid_t socket_gid;
        unsigned max_per_peer;
        unsigned write_timeout_ms;
        char session_peer[LMTP_MAX_SESSIONS][PEER_KEY_MAX]; /* under c.lock */
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
                if (atomic_load(&s->srv->c.stopping) && now_ms() >= atomic_load(&s->srv->stop_at_ms))
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
                while (!atomic_load(&srv->c.stopping)) {
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

        server_core_session_end(&srv->c, s->slot);
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
        const struct server_listener *l = arg;
        struct lmtp_server *srv = l->srv;
        int fd;
        while ((fd = server_core_accept(&srv->c, l)) >= 0) {
                char peer[PEER_KEY_MAX];
                peer_key(fd, peer);
                pthread_mutex_lock(&srv->c.lock);
                int slot = -1;
                unsigned same = 0;
                for (int k = 0; k < LMTP_MAX_SESSIONS; k++) {
                        if (srv->c.session_fd[k] < 0 && slot < 0)
                                slot = k;
                        if (srv->c.session_fd[k] >= 0 && strcmp(srv->session_peer[k], peer) == 0)
                                same++;
                }
                if (slot < 0 || same >= srv->max_per_peer) {
                        pthread_mutex_unlock(&srv->c.lock);
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
                        srv->c.session_fd[slot] = fd;
                        snprintf(srv->session_peer[slot], PEER_KEY_MAX, "%s", peer);
                        srv->c.n_sessions++;
                }
                if (!s || pthread_create(&t, &attr, session_main, s) != 0) {
                        if (s) {
                                srv->c.session_fd[slot] = -1;
                                srv->c.n_sessions--;
                        }
                        free(s);
                        close(fd);
                }
                pthread_attr_destroy(&attr);
                pthread_mutex_unlock(&srv->c.lock);
        }
        return NULL;
}

static int unix_fail(const char *label, const char *path, const char *what, int r, ErrorSlot *err) {
        return error_slot_set(err, r, "%s socket '%s': %s%s", label, path, what ? what : "", strerror(-r));
}

/* The socket is born 0600 (umask around bind), gets the LMTP group and
 * 0660 while not yet listening (connects are refused until listen), so
 * nobody outside root and the group ever reaches it. */
static int listen_unix(const char *label, const char *path, gid_t gid, mode_t mode, ErrorSlot *err) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path)) {
                return error_slot_set(err, -ENAMETOOLONG, "%s socket '%s': path too long", label, path);
        }
        strcpy(sa.sun_path, path);
        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return unix_fail(label, path, "exists and is not a socket: ", -EEXIST, err);
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
                return unix_fail(label, path, NULL, r, err);
        }
        return fd;
}

static int listen_tcp(const char *label, const char *spec, ErrorSlot *err) {
        char host[256];
        const char *colon = strrchr(spec, ':');
        if (!colon || colon == spec || (size_t) (colon - spec) >= sizeof(host) || !colon[1]) {
                return error_slot_set(err, -EINVAL, "%s endpoint '%s': expected unix:PATH or HOST:PORT", label, spec);
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
                return error_slot_set(err, -EINVAL, "%s endpoint '%s': %s", label, spec, gai_strerror(g));
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
                return error_slot_set(err, r, "%s endpoint '%s': %s", label, spec, strerror(-r));
        }
        freeaddrinfo(ai);
        return fd;
}

int server_listen(const char *label, const char *endpoint, gid_t gid, mode_t mode, ErrorSlot *err) {
        error_slot_clear(err);
        if (strncmp(endpoint, "unix:", 5) == 0)
                return listen_unix(label, endpoint + 5, gid, mode, err);
        return listen_tcp(label, endpoint, err);
}

void server_core_init(struct server_core *c) {
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        for (int k = 0; k < SERVER_MAX_SESSIONS; k++)
                c->session_fd[k] = -1;
}

int server_core_add(struct server_core *c, void *srv, const char *label, const char *endpoint, gid_t gid, mode_t mode,
                    bool implicit_tls, void *(*accept_fn)(void *), ErrorSlot *err) {
        if (c->n >= SERVER_MAX_ENDPOINTS)
                return -E2BIG;
        int fd = server_listen(label, endpoint, gid, mode, err);
        if (fd < 0)
                return fd;
        char *path = NULL;
        if (strncmp(endpoint, "unix:", 5) == 0 && !(path = strdup(endpoint + 5))) {
                close(fd);
                (void) unlink(endpoint + 5);
                return -ENOMEM;
        }
        struct server_listener *l = &c->listener[c->n];
        *l = (struct server_listener){.srv = srv, .fd = fd, .implicit_tls = implicit_tls};
        if (pthread_create(&c->accept_thread[c->n], NULL, accept_fn, l) != 0) {
                close(fd);
                if (path)
                        (void) unlink(path);
                free(path);
                return -EAGAIN;
        }
        c->unix_path[c->n++] = path;
        return 0;
}

int server_core_accept(struct server_core *c, const struct server_listener *l) {
        while (!atomic_load(&c->stopping)) {
                int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE ||
                            errno == ENOBUFS || errno == ENOMEM) {
                                if (errno != EINTR && errno != ECONNABORTED)
                                        usleep(100000);
                                continue;
                        }
                        return -1; /* listener shut down */
                }
                if (!atomic_load(&c->stopping))
                        return fd;
                close(fd);
        }
        return -1;
}

void server_core_session_end(struct server_core *c, int slot) {
        pthread_mutex_lock(&c->lock);
        c->session_fd[slot] = -1;
        c->n_sessions--;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

void server_core_stop(struct server_core *c) {
        atomic_store(&c->stopping, true);
        for (size_t i = 0; i < c->n; i++) {
                shutdown(c->listener[i].fd, SHUT_RDWR);
                pthread_join(c->accept_thread[i], NULL);
                close(c->listener[i].fd);
                if (c->unix_path[i]) {
                        unlink(c->unix_path[i]);
                        free(c->unix_path[i]);
                }
        }
        /* Sessions: stop reading from clients (a waiting session sees EOF,
         * a reading one stops at its next chunk); a command or delivery in
         * the engine finishes first, and how long its replies may wait for
         * the client is the server's own rule (its write callback). */
        pthread_mutex_lock(&c->lock);
        for (int k = 0; k < SERVER_MAX_SESSIONS; k++)
                if (c->session_fd[k] >= 0)
                        shutdown(c->session_fd[k], SHUT_RD);
        while (c->n_sessions > 0)
                pthread_cond_wait(&c->cond, &c->lock);
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
}

int lmtp_server_start(service *svc, char *const *endpoints, size_t n, const struct lmtp_server_options *o,
                      lmtp_server **ret, ErrorSlot *err) {
        error_slot_clear(err);
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
        server_core_init(&srv->c);
        for (size_t i = 0; i < n; i++) {
                int r = server_core_add(&srv->c, srv, "LMTP", endpoints[i], srv->socket_gid, 0660, false, accept_main,
                                        err);
                if (r < 0) {
                        lmtp_server_stop(srv);
                        return r;
                }
        }
        *ret = srv;
        return 0;
}

/* A delivery in progress when the server stops finishes and sends its
 * replies, but gives up on a client that does not take them by stop_at_ms
 * (see s_write): no client can hold the exit. */
void lmtp_server_stop(lmtp_server *srv) {
        if (!srv)
                return;
        atomic_store(&srv->stop_at_ms, now_ms() + LMTP_STOP_GRACE_MS);
        server_core_stop(&srv->c);
        free(srv);
}
