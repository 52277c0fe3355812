/* SPDX-License-Identifier: MIT */
/* IMAP listeners, sessions and PAM (see imap-server.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <security/pam_appl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/core/macro.h"
#include "events.h"
#include "imap-proto.h"
#include "imap-server.h"
#include "imap-store.h"
#include "lmtp-server.h"

struct imap_server {
        service *svc;
        struct server_core c;
        gnutls_certificate_credentials_t cred;     /* NULL: no STARTTLS, no --imaps */
        char session_user[IMAP_MAX_SESSIONS][321]; /* mailbox after LOGIN, under c.lock */
};

struct session {
        struct imap_server *srv;
        int fd, slot;
        bool implicit_tls; /* --imaps: the handshake comes first */
        struct imap_store st;
        gnutls_session_t tls; /* after STARTTLS, or from the start (--imaps) */
};

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_write(void *ud, const void *buf, size_t len) {
        struct session *s = ud;
        const char *b = buf;
        int64_t deadline = now_ms() + IMAP_WRITE_TIMEOUT_SEC * 1000;
        while (len > 0 && s->tls) {
                /* The socket has SO_SNDTIMEO: a client that does not read
                 * makes the send fail after the write timeout. */
                ssize_t n = gnutls_record_send(s->tls, b, len);
                if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
                        if (now_ms() >= deadline || atomic_load(&s->srv->c.stopping))
                                return -ETIMEDOUT;
                        continue;
                }
                if (n < 0)
                        return -EIO;
                b += n;
                len -= (size_t) n;
        }
        while (len > 0) {
                ssize_t n = send(s->fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n >= 0) {
                        b += n;
                        len -= (size_t) n;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                        return -errno;
                int64_t left = deadline - now_ms();
                if (left <= 0 || atomic_load(&s->srv->c.stopping))
                        return -ETIMEDOUT;
                struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
                if (poll(&pfd, 1, (int) MIN(left, 100)) < 0 && errno != EINTR)
                        return -errno;
        }
        return 0;
}

static int pam_conv_cb(int n, const struct pam_message **msg, struct pam_response **resp, void *ud) {
        struct pam_response *r = calloc((size_t) n, sizeof(*r));
        if (!r)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++) {
                if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
                        r[i].resp = strdup(ud);
                        if (!r[i].resp) {
                                for (int k = 0; k < i; k++)
                                        free(r[k].resp);
                                free(r);
                                return PAM_BUF_ERR;
                        }
                }
        }
        *resp = r;
        return PAM_SUCCESS;
}

/* PAM (service "mstored"), then the per-user session limit. */
static int s_auth(void *ud, const char *user, const char *password, const char *mailbox) {
        struct session *s = ud;
        struct imap_server *srv = s->srv;
        struct pam_conv conv = {pam_conv_cb, (void *) password};
        pam_handle_t *h = NULL;
        int pr = pam_start("mstored", user, &conv, &h);
        if (pr == PAM_SUCCESS)
                pr = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
        if (pr == PAM_SUCCESS)
                pr = pam_acct_mgmt(h, PAM_SILENT);
        if (h)
                pam_end(h, pr);
        if (pr != PAM_SUCCESS) {
                event_log(MSTORED_MID_ERROR, LOG_NOTICE, NULL, NULL, "IMAP login of '%s' failed: %s", user,
                          pam_strerror(NULL, pr));
                sleep(1); /* slows password guessing */
                return -EACCES;
        }
        pthread_mutex_lock(&srv->c.lock);
        unsigned same = 0;
        for (int k = 0; k < IMAP_MAX_SESSIONS; k++)
                same += srv->c.session_fd[k] >= 0 && strcmp(srv->session_user[k], mailbox) == 0;
        int r = same >= IMAP_MAX_PER_USER ? -EUSERS : 0;
        if (r == 0)
                snprintf(srv->session_user[s->slot], sizeof(srv->session_user[0]), "%s", mailbox);
        pthread_mutex_unlock(&srv->c.lock);
        return r;
}

/* Plaintext LOGIN: unix sockets and loopback peers only. */
static bool plaintext_ok(int fd) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getpeername(fd, (struct sockaddr *) &ss, &sl) < 0)
                return false;
        if (ss.ss_family == AF_UNIX)
                return true;
        if (ss.ss_family == AF_INET)
                return (ntohl(((struct sockaddr_in *) &ss)->sin_addr.s_addr) >> 24) == 127;
        if (ss.ss_family == AF_INET6) {
                const struct in6_addr *a = &((struct sockaddr_in6 *) &ss)->sin6_addr;
                if (IN6_IS_ADDR_LOOPBACK(a))
                        return true;
                return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
        }
        return false;
}

static int start_tls(struct session *s) {
        struct timeval tv = {.tv_sec = IMAP_WRITE_TIMEOUT_SEC};
        (void) setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        int r = gnutls_init(&s->tls, GNUTLS_SERVER);
        if (r < 0) {
                s->tls = NULL;
                return -ENOMEM;
        }
        if ((r = gnutls_set_default_priority(s->tls)) >= 0 &&
            (r = gnutls_credentials_set(s->tls, GNUTLS_CRD_CERTIFICATE, s->srv->cred)) >= 0) {
                gnutls_transport_set_int(s->tls, s->fd);
                gnutls_handshake_set_timeout(s->tls, 30000);
                do
                        r = gnutls_handshake(s->tls);
                while (r < 0 && !gnutls_error_is_fatal(r));
        }
        if (r < 0) {
                event_log(MSTORED_MID_ERROR, LOG_NOTICE, NULL, NULL, "IMAP %s failed: %s",
                          s->implicit_tls ? "TLS handshake (--imaps)" : "STARTTLS", gnutls_strerror(r));
                gnutls_deinit(s->tls);
                s->tls = NULL;
                return -EPROTO;
        }
        return 0;
}

static void *session_main(void *arg) {
        struct session *s = arg;
        struct imap_server *srv = s->srv;
        s->st = (struct imap_store){.s = srv->svc, .auth = s_auth, .auth_ud = s, .write = s_write, .write_ud = s};
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        bool tcp = getsockname(s->fd, (struct sockaddr *) &ss, &sl) == 0 && ss.ss_family != AF_UNIX;
        struct imap_limits lim = {.max_literal = service_max_message_size(srv->svc),
                                  .plaintext_ok = plaintext_ok(s->fd),
                                  .starttls = srv->cred && tcp && !s->implicit_tls};
        imap_proto *p = NULL;
        /* --imaps: TLS before the greeting; a failed handshake ends it. */
        bool ok = (!s->implicit_tls || start_tls(s) >= 0) &&
                  imap_proto_new(service_server_name(srv->svc), &lim, &imap_store_ops, &s->st, &p) >= 0;
        if (ok && s->implicit_tls)
                imap_proto_tls_started(p);
        if (ok && imap_proto_greet(p) >= 0) {
                char buf[65536];
                int64_t last_input = now_ms();
                while (!atomic_load(&srv->c.stopping)) {
                        bool idling = imap_proto_idling(p);
                        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
                        int pr = s->tls && gnutls_record_check_pending(s->tls) > 0
                                         ? 1
                                         : poll(&pfd, 1, idling ? IMAP_IDLE_POLL_MS : 1000);
                        if (pr < 0 && errno == EINTR)
                                continue;
                        if (pr < 0)
                                break;
                        if (pr == 0) {
                                if (now_ms() - last_input > IMAP_AUTOLOGOUT_SEC * 1000) {
                                        (void) s_write(s, "* BYE Autologout; idle for too long\r\n", 37);
                                        break;
                                }
                                if (idling && imap_proto_poll(p) != IMAP_CONTINUE)
                                        break;
                                continue;
                        }
                        ssize_t n;
                        if (s->tls) {
                                n = gnutls_record_recv(s->tls, buf, sizeof(buf));
                                if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                                        continue;
                        } else {
                                n = recv(s->fd, buf, sizeof(buf), 0);
                                if (n < 0 && errno == EINTR)
                                        continue;
                        }
                        if (n <= 0)
                                break;
                        last_input = now_ms();
                        int fr = imap_proto_feed(p, buf, (size_t) n);
                        if (fr == IMAP_STARTTLS) {
                                if (start_tls(s) < 0)
                                        break;
                                imap_proto_tls_started(p);
                                continue;
                        }
                        if (fr != IMAP_CONTINUE)
                                break;
                }
        }
        imap_proto_free(p);
        if (s->tls)
                gnutls_deinit(s->tls);
        pthread_mutex_lock(&srv->c.lock);
        srv->session_user[s->slot][0] = 0;
        pthread_mutex_unlock(&srv->c.lock);
        server_core_session_end(&srv->c, s->slot);
        close(s->fd);
        free(s);
        return NULL;
}

static void *accept_main(void *arg) {
        const struct server_listener *l = arg;
        struct imap_server *srv = l->srv;
        int fd;
        while ((fd = server_core_accept(&srv->c, l)) >= 0) {
                pthread_mutex_lock(&srv->c.lock);
                int slot = -1;
                for (int k = 0; k < IMAP_MAX_SESSIONS && slot < 0; k++)
                        if (srv->c.session_fd[k] < 0)
                                slot = k;
                struct session *s = slot >= 0 ? calloc(1, sizeof(*s)) : NULL;
                pthread_t t;
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                pthread_attr_setstacksize(&attr, 512 * 1024);
                if (s) {
                        s->srv = srv;
                        s->fd = fd;
                        s->slot = slot;
                        s->implicit_tls = l->implicit_tls;
                        srv->c.session_fd[slot] = fd;
                        srv->session_user[slot][0] = 0;
                        srv->c.n_sessions++;
                }
                if (!s || pthread_create(&t, &attr, session_main, s) != 0) {
                        if (s) {
                                srv->c.session_fd[slot] = -1;
                                srv->c.n_sessions--;
                        }
                        free(s);
                        /* In the clear even on --imaps: no TLS session to send it in. */
                        static const char bye[] = "* BYE Too many sessions, try again later\r\n";
                        if (!l->implicit_tls)
                                (void) !send(fd, bye, sizeof(bye) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                        close(fd);
                }
                pthread_attr_destroy(&attr);
                pthread_mutex_unlock(&srv->c.lock);
        }
        return NULL;
}

int imap_server_start(service *svc, char *const *endpoints, size_t n, const struct imap_server_options *o,
                      imap_server **ret, ErrorSlot *err) {
        error_slot_clear(err);
        if (n > IMAP_MAX_ENDPOINTS)
                return -E2BIG;
        imap_server *srv = calloc(1, sizeof(*srv));
        if (!srv)
                return -ENOMEM;
        srv->svc = svc;
        if (o && o->tls_cert && o->tls_key) {
                int g = gnutls_certificate_allocate_credentials(&srv->cred);
                if (g >= 0)
                        g = gnutls_certificate_set_x509_key_file(srv->cred, o->tls_cert, o->tls_key,
                                                                 GNUTLS_X509_FMT_PEM);
                if (g < 0) {
                        error_slot_set(err, -EINVAL, "IMAP TLS certificate '%s' / key '%s': %s", o->tls_cert,
                                       o->tls_key, gnutls_strerror(g));
                        if (srv->cred)
                                gnutls_certificate_free_credentials(srv->cred);
                        free(srv);
                        return -EINVAL;
                }
        }
        server_core_init(&srv->c);
        for (size_t i = 0; i < n; i++) {
                bool tls = o && o->implicit_tls && o->implicit_tls[i];
                int r = -EINVAL;
                if (tls && (!srv->cred || strncmp(endpoints[i], "unix:", 5) == 0)) {
                        error_slot_set(err, r, "IMAPS endpoint '%s': %s", endpoints[i],
                                       srv->cred ? "implicit TLS needs HOST:PORT, not a unix socket"
                                                 : "needs imap_tls_cert and imap_tls_key (--config)");
                } else
                        r = server_core_add(&srv->c, srv, tls ? "IMAPS" : "IMAP", endpoints[i], 0, 0666, tls,
                                            accept_main, err);
                if (r < 0) {
                        imap_server_stop(srv);
                        return r;
                }
        }
        *ret = srv;
        return 0;
}

/* Sessions see EOF (or the stop flag within a second) and end; a command
 * inside the engine finishes first. */
void imap_server_stop(imap_server *srv) {
        if (!srv)
                return;
        server_core_stop(&srv->c);
        if (srv->cred)
                gnutls_certificate_free_credentials(srv->cred);
        free(srv);
}
