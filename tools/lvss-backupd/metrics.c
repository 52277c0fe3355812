/* SPDX-License-Identifier: MIT */
/* metrics: counters and the tiny GET /metrics responder (see metrics.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jobs.h"
#include "macro.h"
#include "metrics.h"
#include "tasks.h"

struct Metrics {
        json_t *jobs;  /* backup tasks: {"JOB": {"runs": {"succeeded": N, ...}, "bytes": N, "last_success": T, "duration": S}} */
        json_t *syncs; /* sync tasks: the same, and "backups": N (backups copied) */
        int fd;
        sd_event_source *listen;
        unsigned n_conn;
};

typedef struct Conn {
        Manager *m;
        int fd;
        size_t len;
        char buf[METRICS_MAX_REQUEST + 1];
        sd_event_source *io, *timer;
} Conn;

static Metrics *metrics_get(Manager *m) {
        if (!m->metrics) {
                m->metrics = calloc(1, sizeof(Metrics));
                if (!m->metrics)
                        return NULL;
                m->metrics->jobs = json_object();
                m->metrics->syncs = json_object();
                m->metrics->fd = -1;
        }
        return m->metrics;
}

static void add_int(json_t *o, const char *key, int64_t v) {
        json_object_set_new(o, key, json_integer(json_integer_value(json_object_get(o, key)) + v));
}

void metrics_task_done(Manager *m, const Task *t) {
        Metrics *x = metrics_get(m);
        bool sync = strcmp(t->kind, "sync") == 0;
        if (!x || (!sync && strcmp(t->kind, "backup") != 0))
                return;
        json_t *tab = sync ? x->syncs : x->jobs;
        json_t *j = json_object_get(tab, t->job);
        if (!j) {
                j = json_pack("{s:{}, s:I, s:I, s:f, s:I}", "runs", "bytes", (json_int_t) 0, "last_success",
                              (json_int_t) 0, "duration", 0.0, "backups", (json_int_t) 0);
                json_object_set_new(tab, t->job, j);
        }
        add_int(json_object_get(j, "runs"), t->state, 1);
        if (strcmp(t->state, "succeeded") == 0) {
                add_int(j, "bytes", t->bytes_added);
                add_int(j, "backups", t->backups_copied);
                json_object_set_new(j, "last_success", json_integer(t->ended));
                json_object_set_new(j, "duration", json_real((double) (t->ended - t->started)));
        }
}

/* Prometheus label values escape backslash, double quote and newline. */
static void label(FILE *f, const char *s) {
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        fputc('\\', f);
                if (*s == '\n') {
                        fputs("\\n", f);
                        continue;
                }
                fputc(*s, f);
        }
}

/* The series of TAB (the backups' or the syncs'): its header, then
 * series_next() gives each job with samples in it, series_sample() starts
 * a sample line ("NAME{job=\"JOB"; the caller ends the labels). */
static void series_header(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The next job from *I on with samples in TAB's series: a usable job, with a
 * sync when TAB is the syncs'; its entry in TAB (NULL when none yet) in
 * *RET_ENTRY.  NULL after the last. */
static const Job *series_next(Manager *m, json_t *tab, size_t *i, json_t **ret_entry) {
        while (*i < m->n_jobs) {
                const Job *j = m->jobs[(*i)++];
                if (j->error || (tab == m->metrics->syncs && !j->sync_to))
                        continue;
                *ret_entry = json_object_get(tab, j->name);
                return j;
        }
        return NULL;
}

static void series_sample(FILE *f, const char *name, const Job *j) {
        fprintf(f, "%s{job=\"", name);
        label(f, j->name);
}

/* One sample per job: KEY of the job's entry in TAB, 0 when it has none yet. */
static void job_series(FILE *f, Manager *m, json_t *tab, const char *name, const char *type, const char *help,
                       const char *key) {
        const Job *j;
        json_t *e;
        series_header(f, name, type, help);
        for (size_t i = 0; (j = series_next(m, tab, &i, &e));) {
                json_t *v = json_object_get(e, key);
                series_sample(f, name, j);
                if (json_is_real(v))
                        fprintf(f, "\"} %g\n", json_real_value(v));
                else
                        fprintf(f, "\"} %lld\n", (long long) json_integer_value(v));
        }
}

/* NAME{job,state}: the tasks of TAB's kind that ended, by outcome. */
static void runs_series(FILE *f, Manager *m, json_t *tab, const char *name, const char *help) {
        static const char *const states[] = {"succeeded", "failed", "cancelled", "interrupted"};
        const Job *j;
        json_t *e;
        series_header(f, name, "counter", help);
        for (size_t i = 0; (j = series_next(m, tab, &i, &e));) {
                json_t *runs = json_object_get(e, "runs");
                for (size_t s = 0; s < ELEMENTSOF(states); s++) {
                        series_sample(f, name, j);
                        fprintf(f, "\",state=\"%s\"} %lld\n", states[s],
                                (long long) json_integer_value(json_object_get(runs, states[s])));
                }
        }
}

char *metrics_render(Manager *m) {
        Metrics *x = metrics_get(m);
        char *buf = NULL;
        size_t len = 0;
        if (!x)
                return NULL;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        job_series(f, m, x->jobs, "lvss_backup_last_success_timestamp_seconds", "gauge",
                   "When the job's last backup succeeded.", "last_success");
        runs_series(f, m, x->jobs, "lvss_backup_runs_total", "Backup runs of the job that ended, by outcome.");
        job_series(f, m, x->jobs, "lvss_backup_duration_seconds", "gauge",
                   "Duration of the job's last successful backup.", "duration");
        job_series(f, m, x->jobs, "lvss_backup_bytes_added_total", "counter",
                   "Bytes added to the repository by the job's backups.", "bytes");
        size_t queued = 0, running = 0;
        for (size_t i = 0; i < m->n_tasks; i++) {
                queued += strcmp(m->tasks[i]->state, "queued") == 0;
                running += strcmp(m->tasks[i]->state, "running") == 0;
        }
        fprintf(f,
                "# HELP lvss_backup_tasks Tasks of the service now, by state.\n# TYPE lvss_backup_tasks gauge\n"
                "lvss_backup_tasks{state=\"queued\"} %zu\nlvss_backup_tasks{state=\"running\"} %zu\n",
                queued, running);
        /* the off-site copies of the jobs that have a sync (service.md §5) */
        job_series(f, m, x->syncs, "lvss_backup_sync_last_success_timestamp_seconds", "gauge",
                   "When the job's last sync (off-site copy) succeeded.", "last_success");
        runs_series(f, m, x->syncs, "lvss_backup_sync_runs_total", "Sync runs of the job that ended, by outcome.");
        job_series(f, m, x->syncs, "lvss_backup_sync_duration_seconds", "gauge",
                   "Duration of the job's last successful sync.", "duration");
        job_series(f, m, x->syncs, "lvss_backup_sync_bytes_added_total", "counter",
                   "Bytes added to the off-site repository by the job's syncs.", "bytes");
        job_series(f, m, x->syncs, "lvss_backup_sync_backups_copied_total", "counter",
                   "Backups copied to the off-site repository by the job's syncs.", "backups");
        fclose(f);
        return buf;
}

static void conn_free(Conn *c) {
        /* Discard what the peer sent beyond the request (bounded), so that close()
         * does not reset the connection before the reply is read. */
        char junk[4096];
        (void) shutdown(c->fd, SHUT_WR);
        for (int i = 0; i < 16 && recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
                ;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        close(c->fd);
        c->m->metrics->n_conn--;
        free(c);
}

static void reply(Conn *c, const char *status, const char *body) {
        char head[256];
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                         status, strlen(body));
        /* The socket is non-blocking: a peer that does not read loses the rest. */
        (void) send(c->fd, head, (size_t) n, MSG_NOSIGNAL);
        size_t off = 0, len = strlen(body);
        for (int tries = 0; off < len && tries < 100; tries++) {
                ssize_t k = send(c->fd, body + off, len - off, MSG_NOSIGNAL);
                if (k > 0)
                        off += (size_t) k;
                else if (k < 0 && errno != EAGAIN && errno != EINTR)
                        break;
                else
                        usleep(1000);
        }
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Conn *c = userdata;
        ssize_t k = recv(fd, c->buf + c->len, METRICS_MAX_REQUEST - c->len, 0);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                conn_free(c);
                return 0;
        }
        c->len += (size_t) k;
        c->buf[c->len] = 0;
        if (!strstr(c->buf, "\r\n\r\n") && !strstr(c->buf, "\n\n")) {
                if (c->len >= METRICS_MAX_REQUEST) {
                        reply(c, "431 Request Header Fields Too Large", "request too large\n");
                        conn_free(c);
                }
                return 0;
        }
        if (strncmp(c->buf, "GET ", 4) != 0)
                reply(c, "405 Method Not Allowed", "only GET /metrics\n");
        else if (strncmp(c->buf + 4, "/metrics ", 9) != 0 && strncmp(c->buf + 4, "/metrics?", 9) != 0)
                reply(c, "404 Not Found", "only GET /metrics\n");
        else {
                char *body = metrics_render(c->m);
                reply(c, body ? "200 OK" : "500 Internal Server Error", body ? body : "out of memory\n");
                free(body);
        }
        conn_free(c);
        return 0;
}

static int on_conn_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        conn_free(userdata);
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;
        if (m->metrics->n_conn >= METRICS_MAX_CONN) {
                close(cfd);
                return 0;
        }
        Conn *c = calloc(1, sizeof(*c));
        if (!c) {
                close(cfd);
                return 0;
        }
        c->m = m;
        c->fd = cfd;
        m->metrics->n_conn++;
        if (sd_event_add_io(m->event, &c->io, cfd, EPOLLIN, on_conn, c) < 0 ||
            sd_event_add_time_relative(m->event, &c->timer, CLOCK_MONOTONIC, METRICS_TIMEOUT_S * 1000000ULL, 0,
                                       on_conn_timeout, c) < 0)
                conn_free(c);
        return 0;
}

int metrics_listen(Manager *m, const char *addr) {
        Metrics *x = metrics_get(m);
        char host[128];
        const char *colon = strrchr(addr, ':');
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } sa = {0};
        socklen_t salen;
        if (!x)
                return -ENOMEM;
        if (!colon || colon == addr || (size_t) (colon - addr) >= sizeof(host))
                return -EINVAL;
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535)
                return -EINVAL;
        snprintf(host, sizeof(host), "%.*s", (int) (colon - addr), addr);
        if (host[0] == '[' && host[strlen(host) - 1] == ']') {
                memmove(host, host + 1, strlen(host));
                host[strlen(host) - 1] = 0;
                sa.in6.sin6_family = AF_INET6;
                sa.in6.sin6_port = htons((uint16_t) port);
                if (inet_pton(AF_INET6, host, &sa.in6.sin6_addr) != 1)
                        return -EINVAL;
                salen = sizeof(sa.in6);
        } else {
                sa.in.sin_family = AF_INET;
                sa.in.sin_port = htons((uint16_t) port);
                if (inet_pton(AF_INET, host, &sa.in.sin_addr) != 1)
                        return -EINVAL;
                salen = sizeof(sa.in);
        }
        int fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, &sa.sa, salen) < 0 || listen(fd, 16) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        x->fd = fd;
        return sd_event_add_io(m->event, &x->listen, fd, EPOLLIN, on_accept, m);
}

void metrics_free(Manager *m) {
        if (!m->metrics)
                return;
        sd_event_source_disable_unref(m->metrics->listen);
        if (m->metrics->fd >= 0)
                close(m->metrics->fd);
        json_decref(m->metrics->jobs);
        json_decref(m->metrics->syncs);
        free(m->metrics);
        m->metrics = NULL;
}
