/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the LMTP protocol parser (store/mstored/lmtp-proto.c).
 * The input is split into chunks at 0xff bytes (to exercise partial reads),
 * fed to one session, and every reply is checked to be CRLF-terminated
 * lines starting with a 3-digit code.  Recipients starting with 'u' are
 * unknown; deliveries check that the content is within the size limit.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmtp-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int f_rcpt(void *ud, const char *addr) {
        return addr[0] == 'u' ? -ENOENT : 0;
}

static void f_deliver(void *ud, const char *from, char *const *rcpts, size_t n, const void *d, size_t sz, int *st) {
        if (sz > 4096)
                abort();
        for (size_t i = 0; i < n; i++) {
                if (!rcpts[i] || !rcpts[i][0])
                        abort();
                st[i] = rcpts[i][0] == 'f' ? -EIO : 0;
        }
}

static int f_write(void *ud, const char *buf, size_t len) {
        if (len < 5 || buf[len - 2] != '\r' || buf[len - 1] != '\n')
                abort();
        if (buf[0] < '2' || buf[0] > '5' || buf[1] < '0' || buf[1] > '9' || buf[2] < '0' || buf[2] > '9' ||
            (buf[3] != ' ' && buf[3] != '-'))
                abort();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const struct lmtp_proto_ops ops = {f_rcpt, f_deliver, f_write};
        struct lmtp_limits lim = {.max_size = 4096, .max_rcpts = 4};
        lmtp_proto *p = NULL;
        if (lmtp_proto_new("fuzz", &lim, &ops, NULL, &p) < 0)
                return 0;
        lmtp_proto_greet(p);
        size_t start = 0;
        for (size_t i = 0; i <= size; i++) {
                if (i == size || data[i] == 0xff) {
                        if (lmtp_proto_feed(p, data + start, i - start) != 0)
                                break;
                        start = i + 1;
                }
        }
        lmtp_proto_eof(p);
        lmtp_proto_free(p);
        return 0;
}
