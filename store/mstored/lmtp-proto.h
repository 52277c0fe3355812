/* SPDX-License-Identifier: MIT */
/*
 * lmtp-proto: the LMTP (RFC 2033) protocol state machine of mstored, without
 * any I/O.  The caller feeds the bytes it read from a client; the machine
 * parses command lines and DATA, calls back to check recipients and to deliver
 * a finished message, and emits reply lines through the write callback.
 *
 * Deliberately not here: sockets, threads, the mail store.  That keeps the
 * parser fuzzable on its own (tests/fuzz/mstored/fuzz-lmtp.c).
 *
 * Limits (all hard, enforced before any allocation grows):
 *   - a command line is at most LMTP_MAX_LINE bytes including CRLF;
 *     longer lines are discarded up to their LF and answered "500 5.5.2";
 *   - at most limits.max_rcpts recipients per transaction ("452 4.5.3");
 *   - a message is at most limits.max_size bytes after dot-unstuffing; a
 *     bigger one is read to its end and answered "552 5.3.4" per recipient;
 *   - an address is at most LMTP_MAX_ADDR bytes.
 * Line ends: CRLF or a bare LF are both accepted; DATA content is kept
 * byte for byte (after dot-unstuffing), including its line ends.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define LMTP_MAX_LINE 1024
#define LMTP_MAX_ADDR 320
#define LMTP_DEFAULT_MAX_SIZE (32u * 1024 * 1024)
#define LMTP_DEFAULT_MAX_RCPTS 100
#define LMTP_MAX_ERRORS 20

typedef struct lmtp_proto lmtp_proto;

struct lmtp_limits {
        size_t max_size;   /* message size limit, bytes (advertised as SIZE) */
        unsigned max_rcpts;
};

struct lmtp_proto_ops {
        /* Is ADDR (already lower-cased, no angle brackets) a local mailbox?
         * Return 0 yes, -ENOENT unknown (550), other negative: temporary (451). */
        int (*rcpt_check)(void *userdata, const char *addr);
        /* Deliver the message to every recipient; fill ret_status[i] with 0
         * (durable: 250) or a negative errno (-ENOENT 550, -ENOSPC/-EFBIG 552,
         * anything else 451).  Called once per DATA. */
        void (*deliver)(void *userdata, const char *from, char *const *rcpts, size_t n_rcpts,
                        const void *data, size_t size, int *ret_status);
        /* Write one reply (complete lines, CRLF terminated).  Negative on error. */
        int (*write)(void *userdata, const char *buf, size_t len);
};

/* Result of lmtp_proto_feed(). */
enum {
        LMTP_CONTINUE = 0, /* keep reading */
        LMTP_CLOSE = 1,    /* QUIT answered, or too many errors: close the connection */
};

/* Create a session.  hostname is used in the greeting and LHLO reply.
 * Returns 0 or -ENOMEM/-EINVAL; the caller frees with lmtp_proto_free(). */
int lmtp_proto_new(const char *hostname, const struct lmtp_limits *limits,
                   const struct lmtp_proto_ops *ops, void *userdata, lmtp_proto **ret);
lmtp_proto *lmtp_proto_free(lmtp_proto *p);

/* Send the 220 greeting. */
int lmtp_proto_greet(lmtp_proto *p);

/* Feed LEN bytes read from the client.  Returns LMTP_CONTINUE, LMTP_CLOSE or
 * a negative errno (write failure, out of memory). */
int lmtp_proto_feed(lmtp_proto *p, const void *buf, size_t len);

/* The client closed the connection (EOF).  Drops any partial transaction. */
void lmtp_proto_eof(lmtp_proto *p);

/* Counters for stats. */
uint64_t lmtp_proto_messages(const lmtp_proto *p);

/* Parse the address in "FROM:<addr> params" / "TO:<addr> params".  Exported
 * for unit tests.  ARG points after the verb; PREFIX is "FROM:" or "TO:".
 * On success copies the lower-cased address (without brackets) to out
 * (size LMTP_MAX_ADDR+1) and sets *ret_params to the parameter text.
 * Returns 0 or -EINVAL. */
int lmtp_parse_path(const char *arg, const char *prefix, char *out, const char **ret_params);
