/* SPDX-License-Identifier: MIT */
/*
 * writer-common: see writer-common.h.  One poll loop over every instance's
 * fd (the Exec Writer has one instance per configuration file, the others
 * one), lvss_writer_process() until nothing is pending, re-registration
 * every 200 ms while the coordinator is away.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "writer-common.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
        (void) sig;
        stop_flag = 1;
}

void wc_short_hostname(char *buf, size_t size) {
        if (size == 0)
                return;
        if (gethostname(buf, size - 1) < 0 || !buf[0])
                snprintf(buf, size, "localhost");
        buf[size - 1] = 0;
        buf[strcspn(buf, ".")] = 0;
}

void wc_install_signals(void) {
        struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: poll returns EINTR */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

bool wc_stop_requested(void) {
        return stop_flag != 0;
}

int wc_subscribe(wc_instance *x, const char *prog, bool quiet) {
        int r = lvss_writer_subscribe(x->w, 0);
        if (r < 0) {
                if (!quiet)
                        fprintf(stderr, "%s: %s: cannot register with lvssd: %s (%s)\n", prog, x->label,
                                lvss_writer_last_error(x->w), lvss_error_name(r));
                return r;
        }
        x->connected = true;
        printf("ready %s instance_id=%s\n", x->label, lvss_writer_get_instance_id(x->w));
        fflush(stdout);
        return 0;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void lost(wc_instance *x, const char *why) {
        if (x->on_lost)
                x->on_lost(x->userdata, why);
}

static int loop(wc_instance *xs, size_t n, const char *prog) {
        struct pollfd *pf = calloc(n, sizeof(*pf));
        if (!pf)
                return 1;
        while (!stop_flag) {
                uint64_t now = now_usec(), deadline = UINT64_MAX;
                bool retry = false;
                for (size_t i = 0; i < n; i++) {
                        uint64_t d = UINT64_MAX;
                        pf[i].fd = -1;
                        if (!xs[i].connected && wc_subscribe(&xs[i], prog, true) < 0) {
                                retry = true;
                                continue;
                        }
                        pf[i].fd = lvss_writer_get_fd(xs[i].w);
                        pf[i].events = (short) lvss_writer_get_events(xs[i].w);
                        if (lvss_writer_get_timeout(xs[i].w, &d) >= 0 && d < deadline)
                                deadline = d;
                }
                int timeout = retry ? 200 : -1;
                if (deadline != UINT64_MAX) {
                        int t = deadline > now ? (int) ((deadline - now + 999) / 1000) : 0;
                        if (timeout < 0 || t < timeout)
                                timeout = t;
                }
                if (poll(pf, n, timeout) < 0 && errno != EINTR) {
                        fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
                        free(pf);
                        return 1;
                }
                for (size_t i = 0; i < n && !stop_flag; i++) {
                        int r;
                        if (!xs[i].connected)
                                continue;
                        while ((r = lvss_writer_process(xs[i].w)) > 0)
                                ;
                        if (r < 0) {
                                fprintf(stderr, "%s: %s: lost the coordinator: %s (%s); registering again\n", prog,
                                        xs[i].label, lvss_writer_last_error(xs[i].w), lvss_error_name(r));
                                lost(&xs[i], "coordinator lost");
                                (void) lvss_writer_unsubscribe(xs[i].w);
                                xs[i].connected = false;
                        }
                }
        }
        free(pf);
        return 0;
}

int wc_run(wc_instance *xs, size_t n, const char *prog) {
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
                int r = wc_subscribe(&xs[i], prog, false);
                if (r < 0)
                        rc = r == LVSS_E_ACCESS_DENIED ? 5 : 1;
        }
        if (rc == 0)
                rc = loop(xs, n, prog);
        for (size_t i = 0; i < n; i++)
                lost(&xs[i], "exit");
        return rc;
}

/* See writer-common.h.  The child makes its own process group, resets
 * signals, reads /dev/null and writes stderr into a pipe; the parent polls
 * the pipe and a pidfd until the deadline and waits for the *process*, not
 * for EOF (a forked child may keep the pipe open); at the deadline, and
 * after the command exits, the whole group is killed. */
int wc_run_command(const char *what, char *const argv[], char *const env[], const char *input, unsigned timeout_s,
                   ErrorSlot *err) {
        char out[WC_OUTPUT_MAX + 1];
        size_t n_out = 0;
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
                return error_slot_set(err, -errno, "%s: pipe: %m", what);
        pid_t pid = fork();
        if (pid < 0) {
                int r = error_slot_set(err, -errno, "%s: fork: %m", what);
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t all;
                struct sigaction dfl = { .sa_handler = SIG_DFL };
                setpgid(0, 0);
                sigaction(SIGTERM, &dfl, NULL);
                sigaction(SIGINT, &dfl, NULL);
                sigaction(SIGPIPE, &dfl, NULL);
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                int in = open(input ? input : "/dev/null", O_RDONLY | O_NOCTTY);
                if (in < 0 || dup2(in, 0) < 0 || dup2(p[1], 2) < 0)
                        _exit(127);
                for (size_t i = 0; env && env[i]; i++)
                        putenv(env[i]);
                execv(argv[0], argv);
                dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
                _exit(127);
        }
        setpgid(pid, pid); /* also here: no window in which a kill(-pid) misses */
        close(p[1]);
        int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        uint64_t deadline = now_ms() + (uint64_t) timeout_s * 1000u;
        bool timed_out = false, exited = false, eof = false;
        int status = 0;

        fcntl(p[0], F_SETFL, O_NONBLOCK);
        for (;;) {
                uint64_t now = now_ms();
                if (now >= deadline) {
                        timed_out = true;
                        break;
                }
                struct pollfd pf[2] = { { .fd = eof ? -1 : p[0], .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
                int np = poll(pf, 2, (int) (deadline - now < 200 ? deadline - now : 200));
                if (np < 0 && errno != EINTR)
                        break;
                if (pf[0].revents & (POLLIN | POLLHUP)) {
                        char buf[512];
                        ssize_t r = read(p[0], buf, sizeof(buf));
                        if (r > 0 && n_out < WC_OUTPUT_MAX) {
                                size_t k = (size_t) r < WC_OUTPUT_MAX - n_out ? (size_t) r : WC_OUTPUT_MAX - n_out;
                                memcpy(out + n_out, buf, k);
                                n_out += k;
                        }
                        if (r == 0)
                                eof = true; /* wait for the exit below */
                }
                /* The command has exited?  Leftover processes may hold the
                 * pipe open: do not wait for EOF, only for the process. */
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid) {
                        exited = true;
                        break;
                }
        }
        /* Invariant 2: nothing of the command's process group survives. */
        kill(-pid, SIGKILL);
        if (!exited)
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
        for (;;) { /* what is already in the pipe */
                char buf[512];
                ssize_t r = read(p[0], buf, sizeof(buf));
                if (r <= 0)
                        break;
                if (n_out < WC_OUTPUT_MAX) {
                        size_t k = (size_t) r < WC_OUTPUT_MAX - n_out ? (size_t) r : WC_OUTPUT_MAX - n_out;
                        memcpy(out + n_out, buf, k);
                        n_out += k;
                }
        }
        close(p[0]);
        if (pidfd >= 0)
                close(pidfd);
        while (n_out > 0 && isspace((unsigned char) out[n_out - 1]))
                n_out--;
        out[n_out] = 0;
        for (size_t i = 0; i < n_out; i++)
                if (out[i] == '\n')
                        out[i] = ' ';
        if (timed_out)
                return error_slot_set(err, -ETIMEDOUT, "%s timed out after %u s (killed)%s%s", what, timeout_s,
                                      n_out ? ": " : "", out);
        if (WIFSIGNALED(status))
                return error_slot_set(err, -EIO, "%s killed by signal %d (%s)%s%s", what, WTERMSIG(status),
                                      strsignal(WTERMSIG(status)), n_out ? ": " : "", out);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return error_slot_set(err, -EIO, "%s failed with exit status %d%s%s", what, WEXITSTATUS(status),
                                      n_out ? ": " : "", out);
        return 0;
}

lvss_component *wc_first_component(lvss_writer_components *comps) {
        lvss_component *c = NULL;
        if (lvss_writer_components_get_count(comps) <= 0 || lvss_writer_components_get_component(comps, 0, &c) < 0)
                return NULL;
        return c;
}
