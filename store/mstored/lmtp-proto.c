/* SPDX-License-Identifier: MIT */
/*
 * LMTP protocol state machine (RFC 2033 on top of RFC 5321 syntax).  See
 * lmtp-proto.h for the contract and the limits.  Reply texts use enhanced
 * status codes (RFC 3463).
 *
 * States:  GREETED --LHLO--> READY --MAIL--> MAIL --RCPT(ok)--> RCPT
 *          RCPT --DATA--> DATA --"."--> READY      RSET/LHLO: back to READY
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "lib/core/macro.h"
#include "lmtp-proto.h"

enum state { S_GREETED, S_READY, S_MAIL, S_RCPT, S_DATA };

/* Data-mode scanner position relative to the start of a line. */
enum dstate { D_LINE_START, D_MID_LINE, D_DOT, D_DOT_CR };

struct lmtp_proto {
        char *hostname;
        struct lmtp_limits limits;
        struct lmtp_proto_ops ops;
        void *userdata;

        enum state state;
        char line[LMTP_MAX_LINE];
        size_t line_len;
        bool line_overflow; /* discarding the rest of an over-long line */
        unsigned errors;

        char from[LMTP_MAX_ADDR + 1];
        char **rcpts;
        size_t n_rcpts;

        enum dstate dstate;
        char *data;
        size_t data_len, data_alloc;
        bool too_big;

        uint64_t messages;
};

static int reply(lmtp_proto *p, const char *fmt, ...) _printf_(2, 3);
static int reply(lmtp_proto *p, const char *fmt, ...) {
        char buf[LMTP_MAX_ADDR + 256];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if ((size_t) n > sizeof(buf) - 3)
                n = sizeof(buf) - 3;
        buf[n++] = '\r';
        buf[n++] = '\n';
        return p->ops.write(p->userdata, buf, n);
}

static void reset_transaction(lmtp_proto *p) {
        for (size_t i = 0; i < p->n_rcpts; i++)
                free(p->rcpts[i]);
        p->n_rcpts = 0;
        p->from[0] = 0;
        p->data_len = 0;
        p->too_big = false;
        /* Give back a large buffer so idle sessions stay small. */
        if (p->data_alloc > 256 * 1024) {
                free(p->data);
                p->data = NULL;
                p->data_alloc = 0;
        }
}

int lmtp_proto_new(const char *hostname, const struct lmtp_limits *limits,
                   const struct lmtp_proto_ops *ops, void *userdata, lmtp_proto **ret) {
        if (!hostname || !ops || !ops->write || !ops->rcpt_check || !ops->deliver || !ret)
                return -EINVAL;
        lmtp_proto *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->hostname = strdup(hostname);
        if (limits)
                p->limits = *limits;
        if (p->limits.max_size == 0)
                p->limits.max_size = LMTP_DEFAULT_MAX_SIZE;
        if (p->limits.max_rcpts == 0)
                p->limits.max_rcpts = LMTP_DEFAULT_MAX_RCPTS;
        p->rcpts = calloc(p->limits.max_rcpts, sizeof(char *));
        if (!p->hostname || !p->rcpts) {
                lmtp_proto_free(p);
                return -ENOMEM;
        }
        p->ops = *ops;
        p->userdata = userdata;
        p->state = S_GREETED;
        *ret = p;
        return 0;
}

lmtp_proto *lmtp_proto_free(lmtp_proto *p) {
        if (!p)
                return NULL;
        if (p->rcpts)
                reset_transaction(p);
        free(p->rcpts);
        free(p->data);
        free(p->hostname);
        free(p);
        return NULL;
}

uint64_t lmtp_proto_messages(const lmtp_proto *p) {
        return p ? p->messages : 0;
}

int lmtp_proto_greet(lmtp_proto *p) {
        return reply(p, "220 %s LMTP mstored ready", p->hostname);
}

void lmtp_proto_eof(lmtp_proto *p) {
        reset_transaction(p);
        p->state = S_READY;
}

/* Case-insensitive "does S start with the word W" (followed by end or space). */
static const char *verb(const char *s, const char *w) {
        size_t n = strlen(w);
        if (strncasecmp(s, w, n) != 0)
                return NULL;
        if (s[n] == 0)
                return s + n;
        if (s[n] == ' ')
                return s + n + 1;
        return NULL;
}

int lmtp_parse_path(const char *arg, const char *prefix, char *out, const char **ret_params) {
        size_t pl = strlen(prefix);
        if (strncasecmp(arg, prefix, pl) != 0)
                return -EINVAL;
        const char *s = arg + pl;
        while (*s == ' ')
                s++;
        if (*s != '<')
                return -EINVAL;
        s++;
        /* Source route "@a,@b:" is obsolete; skip it (RFC 5321 §4.1.2). */
        if (*s == '@') {
                const char *c = strchr(s, ':');
                if (!c)
                        return -EINVAL;
                s = c + 1;
        }
        size_t n = 0;
        bool quoted = false;
        for (;; s++) {
                char c = *s;
                if (c == 0)
                        return -EINVAL;
                if (c == '"') {
                        quoted = !quoted;
                } else if (c == '\\' && quoted) {
                        if (n >= LMTP_MAX_ADDR)
                                return -EINVAL;
                        out[n++] = c;
                        c = *++s;
                        if (c == 0)
                                return -EINVAL;
                } else if (c == '>' && !quoted) {
                        break;
                } else if (!quoted && (c == ' ' || c == '<' || c == '(' || c == ')' || c == ',' ||
                                       c == ';' || c == '[' || c == ']')) {
                        return -EINVAL;
                }
                if ((unsigned char) c < 0x20 || (unsigned char) c >= 0x7f)
                        return -EINVAL;
                if (n >= LMTP_MAX_ADDR)
                        return -EINVAL;
                out[n++] = (char) tolower((unsigned char) c);
        }
        if (quoted)
                return -EINVAL;
        out[n] = 0;
        s++; /* past '>' */
        if (*s != 0 && *s != ' ')
                return -EINVAL;
        while (*s == ' ')
                s++;
        if (ret_params)
                *ret_params = s;
        return 0;
}

/* Parse MAIL parameters: SIZE=n and BODY=7BIT|8BITMIME. */
static int mail_params(lmtp_proto *p, const char *params) {
        while (*params) {
                const char *end = strchr(params, ' ');
                size_t len = end ? (size_t) (end - params) : strlen(params);
                if (len > 5 && strncasecmp(params, "SIZE=", 5) == 0) {
                        uint64_t v = 0;
                        for (size_t i = 5; i < len; i++) {
                                if (!isdigit((unsigned char) params[i]) || v > UINT64_MAX / 10 - 10)
                                        return reply(p, "501 5.5.4 Invalid SIZE parameter") < 0 ? -EIO : 1;
                                v = v * 10 + (uint64_t) (params[i] - '0');
                        }
                        if (v > p->limits.max_size)
                                return reply(p, "552 5.3.4 Message size exceeds fixed limit of %zu bytes",
                                             p->limits.max_size) < 0 ? -EIO : 1;
                } else if (len > 5 && strncasecmp(params, "BODY=", 5) == 0) {
                        const char *b = params + 5;
                        size_t bl = len - 5;
                        if (!((bl == 4 && strncasecmp(b, "7BIT", 4) == 0) ||
                              (bl == 8 && strncasecmp(b, "8BITMIME", 8) == 0)))
                                return reply(p, "501 5.5.4 Invalid BODY parameter") < 0 ? -EIO : 1;
                } else {
                        return reply(p, "555 5.5.4 Unsupported MAIL parameter") < 0 ? -EIO : 1;
                }
                params += len;
                while (*params == ' ')
                        params++;
        }
        return 0;
}

static int error_reply(lmtp_proto *p, int r) {
        /* Every 5xx/4xx for bad input counts; a client that keeps sending
         * garbage is disconnected. */
        p->errors++;
        return r;
}

static int do_command(lmtp_proto *p, char *line) {
        const char *arg;
        int r;

        if ((arg = verb(line, "LHLO"))) {
                if (!*arg)
                        return error_reply(p, reply(p, "501 5.5.4 LHLO needs a host name"));
                reset_transaction(p);
                p->state = S_READY;
                r = reply(p, "250-%s", p->hostname);
                if (r >= 0)
                        r = reply(p, "250-PIPELINING");
                if (r >= 0)
                        r = reply(p, "250-ENHANCEDSTATUSCODES");
                if (r >= 0)
                        r = reply(p, "250-8BITMIME");
                if (r >= 0)
                        r = reply(p, "250 SIZE %zu", p->limits.max_size);
                return r;
        }
        if (verb(line, "HELO") || verb(line, "EHLO"))
                return error_reply(p, reply(p, "500 5.5.1 This is an LMTP server: use LHLO"));
        if ((arg = verb(line, "QUIT"))) {
                r = reply(p, "221 2.0.0 %s closing connection", p->hostname);
                return r < 0 ? r : LMTP_CLOSE;
        }
        if ((arg = verb(line, "NOOP")))
                return reply(p, "250 2.0.0 Ok");
        if ((arg = verb(line, "RSET"))) {
                reset_transaction(p);
                if (p->state != S_GREETED)
                        p->state = S_READY;
                return reply(p, "250 2.0.0 Ok");
        }
        if ((arg = verb(line, "MAIL"))) {
                if (p->state == S_GREETED)
                        return error_reply(p, reply(p, "503 5.5.1 Send LHLO first"));
                if (p->state != S_READY)
                        return error_reply(p, reply(p, "503 5.5.1 Nested MAIL command"));
                const char *params;
                char addr[LMTP_MAX_ADDR + 1];
                if (lmtp_parse_path(arg, "FROM:", addr, &params) < 0)
                        return error_reply(p, reply(p, "501 5.1.7 Bad sender address syntax"));
                r = mail_params(p, params);
                if (r != 0)
                        return r < 0 ? r : error_reply(p, 0);
                memcpy(p->from, addr, sizeof(addr));
                p->state = S_MAIL;
                return reply(p, "250 2.1.0 Ok");
        }
        if ((arg = verb(line, "RCPT"))) {
                if (p->state != S_MAIL && p->state != S_RCPT)
                        return error_reply(p, reply(p, "503 5.5.1 Need MAIL before RCPT"));
                const char *params;
                char addr[LMTP_MAX_ADDR + 1];
                if (lmtp_parse_path(arg, "TO:", addr, &params) < 0 || !addr[0])
                        return error_reply(p, reply(p, "501 5.1.3 Bad recipient address syntax"));
                if (*params)
                        return error_reply(p, reply(p, "555 5.5.4 Unsupported RCPT parameter"));
                if (p->n_rcpts >= p->limits.max_rcpts)
                        return reply(p, "452 4.5.3 Too many recipients");
                r = p->ops.rcpt_check(p->userdata, addr);
                if (r == -ENOENT)
                        return reply(p, "550 5.1.1 <%s> Mailbox unknown", addr);
                if (r < 0)
                        return reply(p, "451 4.3.0 <%s> Temporary failure: %s", addr, strerror(-r));
                char *c = strdup(addr);
                if (!c)
                        return -ENOMEM;
                p->rcpts[p->n_rcpts++] = c;
                p->state = S_RCPT;
                return reply(p, "250 2.1.5 Ok");
        }
        if ((arg = verb(line, "DATA"))) {
                if (*arg)
                        return error_reply(p, reply(p, "501 5.5.4 DATA takes no argument"));
                if (p->state == S_MAIL)
                        return error_reply(p, reply(p, "503 5.5.1 No valid recipients"));
                if (p->state != S_RCPT)
                        return error_reply(p, reply(p, "503 5.5.1 Need RCPT before DATA"));
                p->state = S_DATA;
                p->dstate = D_LINE_START;
                p->data_len = 0;
                p->too_big = false;
                return reply(p, "354 Start mail input; end with <CRLF>.<CRLF>");
        }
        if (verb(line, "VRFY") || verb(line, "EXPN") || verb(line, "HELP") || verb(line, "BDAT") ||
            verb(line, "STARTTLS") || verb(line, "AUTH") || verb(line, "ETRN") || verb(line, "TURN"))
                return error_reply(p, reply(p, "502 5.5.1 Command not implemented"));
        return error_reply(p, reply(p, "500 5.5.2 Command unrecognized"));
}

static int data_append(lmtp_proto *p, const char *b, size_t n) {
        if (p->too_big || n == 0)
                return 0;
        if (n > p->limits.max_size - p->data_len) {
                p->too_big = true;
                return 0;
        }
        if (p->data_len + n > p->data_alloc) {
                size_t a = p->data_alloc ? p->data_alloc : 16384;
                while (a < p->data_len + n)
                        a = a > SIZE_MAX / 2 ? SIZE_MAX : a * 2;
                if (a > p->limits.max_size)
                        a = p->limits.max_size;
                char *d = realloc(p->data, a);
                if (!d)
                        return -ENOMEM;
                p->data = d;
                p->data_alloc = a;
        }
        memcpy(p->data + p->data_len, b, n);
        p->data_len += n;
        return 0;
}

static int finish_data(lmtp_proto *p) {
        int r = 0;
        p->state = S_READY;
        if (p->too_big) {
                for (size_t i = 0; i < p->n_rcpts && r >= 0; i++)
                        r = reply(p, "552 5.3.4 <%s> Message too big (limit %zu bytes)", p->rcpts[i],
                                  p->limits.max_size);
                reset_transaction(p);
                return r;
        }
        int *st = calloc(p->n_rcpts ? p->n_rcpts : 1, sizeof(int));
        if (!st)
                return -ENOMEM;
        p->ops.deliver(p->userdata, p->from, p->rcpts, p->n_rcpts, p->data ? p->data : "", p->data_len, st);
        bool any = false;
        for (size_t i = 0; i < p->n_rcpts && r >= 0; i++) {
                if (st[i] == 0) {
                        any = true;
                        r = reply(p, "250 2.0.0 <%s> Delivered", p->rcpts[i]);
                } else if (st[i] == -ENOENT)
                        r = reply(p, "550 5.1.1 <%s> Mailbox unknown", p->rcpts[i]);
                else if (st[i] == -ENOSPC || st[i] == -EFBIG || st[i] == -EDQUOT)
                        r = reply(p, "552 5.2.2 <%s> Mailbox full: %s", p->rcpts[i], strerror(-st[i]));
                else
                        r = reply(p, "451 4.3.0 <%s> Temporary failure: %s", p->rcpts[i],
                                  strerror(st[i] < 0 && st[i] > -4096 ? -st[i] : EIO));
        }
        if (any)
                p->messages++;
        free(st);
        reset_transaction(p);
        return r;
}

/* Consume DATA bytes; returns bytes used (>= 0) or a negative errno.  Sets
 * *done when the terminating "." line was seen. */
static ssize_t feed_data(lmtp_proto *p, const char *b, size_t n, bool *done) {
        size_t i = 0;
        int r;
        while (i < n) {
                switch (p->dstate) {
                case D_LINE_START:
                        if (b[i] == '.') {
                                p->dstate = D_DOT;
                                i++;
                                continue;
                        }
                        p->dstate = D_MID_LINE;
                        __attribute__((fallthrough));
                case D_MID_LINE: {
                        const char *lf = memchr(b + i, '\n', n - i);
                        size_t span = lf ? (size_t) (lf - (b + i)) + 1 : n - i;
                        r = data_append(p, b + i, span);
                        if (r < 0)
                                return r;
                        i += span;
                        if (lf)
                                p->dstate = D_LINE_START;
                        continue;
                }
                case D_DOT:
                        if (b[i] == '\n') {
                                *done = true;
                                return (ssize_t) i + 1;
                        }
                        if (b[i] == '\r') {
                                p->dstate = D_DOT_CR;
                                i++;
                                continue;
                        }
                        /* Dot-stuffed line: the leading dot is dropped. */
                        p->dstate = D_MID_LINE;
                        continue;
                case D_DOT_CR:
                        if (b[i] == '\n') {
                                *done = true;
                                return (ssize_t) i + 1;
                        }
                        /* "." CR <other>: keep the CR (the dot was stuffing). */
                        r = data_append(p, "\r", 1);
                        if (r < 0)
                                return r;
                        p->dstate = D_MID_LINE;
                        continue;
                }
        }
        return (ssize_t) n;
}

static int check_line(const char *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) l[i];
                if (c == 0 || c >= 0x80 || (c < 0x20 && c != '\t'))
                        return -EINVAL;
        }
        return 0;
}

int lmtp_proto_feed(lmtp_proto *p, const void *buf, size_t len) {
        const char *b = buf;
        size_t i = 0;
        int r;

        while (i < len) {
                if (p->state == S_DATA) {
                        bool done = false;
                        ssize_t used = feed_data(p, b + i, len - i, &done);
                        if (used < 0)
                                return (int) used;
                        i += (size_t) used;
                        if (done) {
                                r = finish_data(p);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }

                const char *lf = memchr(b + i, '\n', len - i);
                size_t span = lf ? (size_t) (lf - (b + i)) : len - i;
                if (!p->line_overflow) {
                        if (p->line_len + span > sizeof(p->line) - 1) {
                                p->line_overflow = true;
                                p->line_len = 0;
                        } else {
                                memcpy(p->line + p->line_len, b + i, span);
                                p->line_len += span;
                        }
                }
                i += span;
                if (!lf)
                        break; /* wait for the rest of the line */
                i++;           /* past LF */

                if (p->line_overflow) {
                        p->line_overflow = false;
                        r = error_reply(p, reply(p, "500 5.5.2 Line too long (limit %d bytes)", LMTP_MAX_LINE));
                } else {
                        size_t n = p->line_len;
                        if (n > 0 && p->line[n - 1] == '\r')
                                n--;
                        p->line[n] = 0;
                        p->line_len = 0;
                        if (check_line(p->line, n) < 0)
                                r = error_reply(p, reply(p, "500 5.5.2 Invalid characters in command"));
                        else if (n == 0)
                                r = error_reply(p, reply(p, "500 5.5.2 Empty command"));
                        else
                                r = do_command(p, p->line);
                }
                if (r != LMTP_CONTINUE)
                        return r;
                if (p->errors >= LMTP_MAX_ERRORS) {
                        r = reply(p, "421 4.7.0 %s Too many errors, closing connection", p->hostname);
                        return r < 0 ? r : LMTP_CLOSE;
                }
        }
        return LMTP_CONTINUE;
}
