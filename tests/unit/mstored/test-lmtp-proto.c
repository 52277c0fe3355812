/* SPDX-License-Identifier: MIT */
/* Unit tests of the LMTP state machine (store/mstored/lmtp-proto.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lmtp-proto.h"

struct fake {
        char out[65536];
        size_t out_len;
        char delivered[65536];
        size_t delivered_len;
        char from[LMTP_MAX_ADDR + 1];
        size_t n_deliveries, n_rcpts;
        int fail_status; /* status for rcpt "fail@x" */
};

static int f_rcpt_check(void *ud, const char *addr) {
        if (strncmp(addr, "unknown", 7) == 0)
                return -ENOENT;
        if (strncmp(addr, "tempfail", 8) == 0)
                return -EIO;
        return 0;
}

static void f_deliver(void *ud, const char *from, char *const *rcpts, size_t n, const void *data, size_t size,
                      int *st) {
        struct fake *f = ud;
        f->n_deliveries++;
        f->n_rcpts = n;
        snprintf(f->from, sizeof(f->from), "%s", from);
        if (size <= sizeof(f->delivered)) {
                memcpy(f->delivered, data, size);
                f->delivered_len = size;
        }
        for (size_t i = 0; i < n; i++)
                st[i] = strncmp(rcpts[i], "fail", 4) == 0 ? f->fail_status : 0;
}

static int f_write(void *ud, const char *buf, size_t len) {
        struct fake *f = ud;
        if (len >= sizeof(f->out) - f->out_len) /* keep room for the NUL below */
                return -ENOSPC;
        memcpy(f->out + f->out_len, buf, len);
        f->out_len += len;
        f->out[f->out_len] = 0;
        return 0;
}

static const struct lmtp_proto_ops ops = {f_rcpt_check, f_deliver, f_write};

static lmtp_proto *start(struct fake *f, size_t max_size) {
        memset(f, 0, sizeof(*f));
        struct lmtp_limits lim = {.max_size = max_size, .max_rcpts = 3};
        lmtp_proto *p = NULL;
        assert_int_equal(lmtp_proto_new("h1", &lim, &ops, f, &p), 0);
        assert_int_equal(lmtp_proto_greet(p), 0);
        assert_non_null(strstr(f->out, "220 h1"));
        f->out_len = 0;
        return p;
}

static int feed(lmtp_proto *p, const char *s) {
        return lmtp_proto_feed(p, s, strlen(s));
}

static void test_basic_delivery(void **state) {
        struct fake f;
        lmtp_proto *p = start(&f, 0);
        assert_int_equal(feed(p, "LHLO client\r\n"), LMTP_CONTINUE);
        assert_non_null(strstr(f.out, "250-h1\r\n"));
        assert_non_null(strstr(f.out, "250 SIZE "));
        f.out_len = 0;
        assert_int_equal(feed(p, "MAIL FROM:<Sender@Example.org> SIZE=100 BODY=8BITMIME\r\n"
                                 "RCPT TO:<a@x>\r\nRCPT TO:<unknown@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
                         LMTP_CONTINUE);
        assert_string_equal(f.out, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <unknown@x> Mailbox unknown\r\n"
                                   "250 2.1.5 Ok\r\n354 Start mail input; end with <CRLF>.<CRLF>\r\n");
        f.out_len = 0;
        /* Split across feeds in awkward places, with dot-stuffing. */
        assert_int_equal(feed(p, "Subject: hi\r\n\r\n..leading dot\r"), LMTP_CONTINUE);
        assert_int_equal(feed(p, "\n.\r"), LMTP_CONTINUE);
        assert_int_equal(f.n_deliveries, 0);
        assert_int_equal(feed(p, "\nNOOP\r\n"), LMTP_CONTINUE);
        assert_int_equal(f.n_deliveries, 1);
        assert_int_equal(f.n_rcpts, 2);
        assert_string_equal(f.from, "sender@example.org");
        const char *want = "Subject: hi\r\n\r\n.leading dot\r\n";
        assert_int_equal(f.delivered_len, strlen(want));
        assert_memory_equal(f.delivered, want, strlen(want));
        assert_string_equal(f.out, "250 2.0.0 <a@x> Delivered\r\n250 2.0.0 <b@x> Delivered\r\n250 2.0.0 Ok\r\n");
        f.out_len = 0;
        assert_int_equal(feed(p, "QUIT\r\n"), LMTP_CLOSE);
        assert_non_null(strstr(f.out, "221 2.0.0"));
        lmtp_proto_free(p);
}

static void test_bare_lf_and_empty_message(void **state) {
        struct fake f;
        lmtp_proto *p = start(&f, 0);
        assert_int_equal(feed(p, "LHLO c\nMAIL FROM:<>\nRCPT TO:<a@x>\nDATA\n.\n"), LMTP_CONTINUE);
        assert_int_equal(f.n_deliveries, 1);
        assert_int_equal(f.delivered_len, 0);
        assert_string_equal(f.from, "");
        /* LF-only content is kept as is. */
        assert_int_equal(feed(p, "MAIL FROM:<s@x>\nRCPT TO:<a@x>\nDATA\nl1\n.x\n..\n.\n"), LMTP_CONTINUE);
        assert_int_equal(f.n_deliveries, 2);
        assert_int_equal(f.delivered_len, strlen("l1\nx\n.\n"));
        assert_memory_equal(f.delivered, "l1\nx\n.\n", f.delivered_len);
        lmtp_proto_free(p);
}

static void test_sequence_errors(void **state) {
        struct fake f;
        lmtp_proto *p = start(&f, 0);
        feed(p, "MAIL FROM:<a@x>\r\n");
        assert_non_null(strstr(f.out, "503 5.5.1 Send LHLO first"));
        f.out_len = 0;
        feed(p, "HELO x\r\nEHLO x\r\n");
        assert_non_null(strstr(f.out, "500 5.5.1 This is an LMTP server"));
        f.out_len = 0;
        feed(p, "LHLO x\r\nRCPT TO:<a@x>\r\nDATA\r\n");
        assert_non_null(strstr(f.out, "503 5.5.1 Need MAIL before RCPT"));
        assert_non_null(strstr(f.out, "503 5.5.1 Need RCPT before DATA"));
        f.out_len = 0;
        feed(p, "MAIL FROM:<a@x>\r\nMAIL FROM:<a@x>\r\nRCPT TO:<unknown@x>\r\nDATA\r\n");
        assert_non_null(strstr(f.out, "503 5.5.1 Nested MAIL"));
        assert_non_null(strstr(f.out, "503 5.5.1 No valid recipients"));
        f.out_len = 0;
        feed(p, "RSET\r\nRCPT TO:<a@x>\r\n");
        assert_non_null(strstr(f.out, "250 2.0.0 Ok\r\n503 5.5.1 Need MAIL"));
        f.out_len = 0;
        feed(p, "FOO\r\nVRFY a\r\n\r\n");
        assert_non_null(strstr(f.out, "500 5.5.2 Command unrecognized"));
        assert_non_null(strstr(f.out, "502 5.5.1"));
        assert_non_null(strstr(f.out, "500 5.5.2 Empty command"));
        assert_int_equal(f.n_deliveries, 0);
        lmtp_proto_free(p);
}

static void test_bad_addresses(void **state) {
        struct fake f;
        lmtp_proto *p = start(&f, 0);
        feed(p, "LHLO x\r\nMAIL FROM:a@x\r\nMAIL FROM:<a b@x>\r\nMAIL FROM:<a@x> FOO=1\r\n");
        assert_non_null(strstr(f.out, "501 5.1.7"));
        assert_non_null(strstr(f.out, "555 5.5.4"));
        f.out_len = 0;
        feed(p, "MAIL FROM:<a@x>\r\nRCPT TO:<>\r\nRCPT TO:<a@x> NOTIFY=NEVER\r\nRCPT TO:<tempfail@x>\r\n");
        assert_non_null(strstr(f.out, "501 5.1.3"));
        assert_non_null(strstr(f.out, "555 5.5.4 Unsupported RCPT"));
        assert_non_null(strstr(f.out, "451 4.3.0 <tempfail@x>"));
        /* 8-bit and control characters in a command line. */
        f.out_len = 0;
        feed(p, "RCPT TO:<\xc3\xa9@x>\r\nNO\001OP\r\n");
        assert_non_null(strstr(f.out, "500 5.5.2 Invalid characters"));
        char addr[LMTP_MAX_ADDR + 1];
        const char *params;
        assert_int_equal(lmtp_parse_path("TO:<@r1,@r2:User@X>", "TO:", addr, &params), 0);
        assert_string_equal(addr, "user@x");
        assert_int_equal(lmtp_parse_path("TO: <\"a>b\"@x>  X=1", "TO:", addr, &params), 0);
        assert_string_equal(addr, "\"a>b\"@x");
        assert_string_equal(params, "X=1");
        assert_int_equal(lmtp_parse_path("TO:<a@x", "TO:", addr, &params), -EINVAL);
        assert_int_equal(lmtp_parse_path("TO:<a@x>junk", "TO:", addr, &params), -EINVAL);
        lmtp_proto_free(p);
}

static void test_limits(void **state) {
        struct fake f;
        lmtp_proto *p = start(&f, 10);
        feed(p, "LHLO x\r\nMAIL FROM:<a@x> SIZE=11\r\n");
        assert_non_null(strstr(f.out, "552 5.3.4"));
        f.out_len = 0;
        feed(p, "MAIL FROM:<a@x>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nRCPT TO:<d@x>\r\n");
        assert_non_null(strstr(f.out, "452 4.5.3 Too many recipients"));
        f.out_len = 0;
        feed(p, "DATA\r\n0123456789A\r\n.\r\n");
        assert_int_equal(f.n_deliveries, 0);
        assert_non_null(strstr(f.out, "552 5.3.4 <a@x> Message too big"));
        assert_non_null(strstr(f.out, "552 5.3.4 <c@x> Message too big"));
        /* Exactly at the limit is fine. */
        feed(p, "MAIL FROM:<a@x>\r\nRCPT TO:<a@x>\r\nDATA\r\n01234567\r\n.\r\n");
        assert_int_equal(f.n_deliveries, 1);
        assert_int_equal(f.delivered_len, 10);
        /* Over-long command line. */
        f.out_len = 0;
        char big[3000];
        memset(big, 'A', sizeof(big));
        assert_int_equal(lmtp_proto_feed(p, big, sizeof(big)), LMTP_CONTINUE);
        assert_int_equal(f.out_len, 0);
        feed(p, "\r\nNOOP\r\n");
        assert_string_equal(f.out, "500 5.5.2 Line too long (limit 1024 bytes)\r\n250 2.0.0 Ok\r\n");
        lmtp_proto_free(p);
}

static void test_too_many_errors(void **state) {
        struct fake f;
        lmtp_proto *p = start(&f, 0);
        int r = LMTP_CONTINUE;
        for (int i = 0; i < 100 && r == LMTP_CONTINUE; i++)
                r = feed(p, "BOGUS\r\n");
        assert_int_equal(r, LMTP_CLOSE);
        assert_non_null(strstr(f.out, "421 4.7.0"));
        lmtp_proto_free(p);
}

static void test_delivery_failures(void **state) {
        struct fake f;
        lmtp_proto *p = start(&f, 0);
        f.fail_status = -ENOSPC;
        feed(p, "LHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<fail@x>\r\nRCPT TO:<ok@x>\r\nDATA\r\nhi\r\n.\r\n");
        assert_non_null(strstr(f.out, "552 5.2.2 <fail@x>"));
        assert_non_null(strstr(f.out, "250 2.0.0 <ok@x> Delivered"));
        f.out_len = 0;
        f.fail_status = -EIO;
        feed(p, "MAIL FROM:<a@x>\r\nRCPT TO:<fail@x>\r\nDATA\r\nhi\r\n.\r\n");
        assert_non_null(strstr(f.out, "451 4.3.0 <fail@x>"));
        assert_int_equal(lmtp_proto_messages(p), 1);
        lmtp_proto_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_basic_delivery),   cmocka_unit_test(test_bare_lf_and_empty_message),
                cmocka_unit_test(test_sequence_errors),  cmocka_unit_test(test_bad_addresses),
                cmocka_unit_test(test_limits),           cmocka_unit_test(test_too_many_errors),
                cmocka_unit_test(test_delivery_failures),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
