/* SPDX-License-Identifier: MIT */
/* Unit tests of the mail model encoding (store/mstored/mailmodel.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mailmodel.h"

static void test_keys(void **state) {
        char k[MM_MAX_KEY], p[MM_MAX_KEY];
        int n = mm_key_message(k, "a@x", 0x01020304);
        int pl = mm_key_message_prefix(p, "a@x");
        assert_int_equal(pl, 5);
        assert_int_equal(n, 9);
        assert_memory_equal(k, "Ua@x\0\x01\x02\x03\x04", 9);
        assert_memory_equal(k, p, (size_t) pl);
        uint32_t uid;
        assert_int_equal(mm_key_message_uid(k, (size_t) n, (size_t) pl, &uid), 0);
        assert_int_equal(uid, 0x01020304);
        assert_int_equal(mm_key_message_uid(k, (size_t) n - 1, (size_t) pl, &uid), -EINVAL);
        /* UIDs sort numerically as bytes. */
        char k2[MM_MAX_KEY];
        mm_key_message(k2, "a@x", 0x01020305);
        assert_true(memcmp(k, k2, 9) < 0);
        /* A longer address never falls under a shorter one's prefix. */
        char k3[MM_MAX_KEY];
        int n3 = mm_key_message(k3, "a@xy", 1);
        assert_true(n3 < pl || memcmp(k3, p, (size_t) pl) != 0);
        assert_int_equal(mm_key_folder(k, "a@x", "INBOX"), 10);
        assert_int_equal(mm_key_folder(k, "a@x", ".hidden"), -EINVAL);
        assert_int_equal(mm_key_folder(k, "a@x", "a/b"), 8);
        assert_int_equal(mm_key_folder(k, "a@x", "a//b"), -EINVAL);
        assert_int_equal(mm_key_folder(k, "a@x", "/a"), -EINVAL);
        assert_int_equal(mm_key_folder(k, "a@x", "a/"), -EINVAL);
        assert_int_equal(mm_key_folder(k, "a@x", "a/.b"), -EINVAL);
        assert_int_equal(mm_key_folder(k, "a@x", "a*"), -EINVAL);
        assert_int_equal(mm_key_folder(k, "a@x", "a%"), -EINVAL);
        assert_int_equal(mm_key_mailbox(k, ""), -EINVAL);
}

static void test_records(void **state) {
        struct mm_message m = {.uid = 7, .size = 12345, .time = 99, .flags = MM_FLAG_SEEN | MM_FLAG_DELETED}, d;
        strcpy(m.subject, "hello");
        strcpy(m.from, "s@x");
        strcpy(m.folder, "INBOX");
        memset(m.stream_ref, 0xab, sizeof(m.stream_ref));
        void *b;
        size_t bl;
        assert_int_equal(mm_message_encode(&m, &b, &bl), 0);
        assert_int_equal(mm_message_decode(b, bl, &d), 0);
        assert_int_equal(d.uid, 7);
        assert_int_equal(d.size, 12345);
        assert_int_equal(d.flags, MM_FLAG_SEEN | MM_FLAG_DELETED);
        assert_string_equal(d.subject, "hello");
        assert_string_equal(d.from, "s@x");
        assert_string_equal(d.folder, "INBOX");
        assert_memory_equal(d.stream_ref, m.stream_ref, sizeof(m.stream_ref));
        /* Every truncation and a wrong version are refused. */
        for (size_t l = 0; l < bl; l++)
                assert_int_equal(mm_message_decode(b, l, &d), -EBADMSG);
        ((unsigned char *) b)[0] = 3;
        assert_int_equal(mm_message_decode(b, bl, &d), -EBADMSG);
        /* Unknown flag bits are refused. */
        ((unsigned char *) b)[0] = 2;
        ((unsigned char *) b)[60] = 0x20;
        assert_int_equal(mm_message_decode(b, bl, &d), -EBADMSG);
        /* A version 1 record (written before flags existed) is still read:
         * the same bytes without the 4-byte flags field. */
        unsigned char *v1 = malloc(bl - 4);
        memcpy(v1, b, 60);
        memcpy(v1 + 60, (unsigned char *) b + 64, bl - 64);
        v1[0] = 1;
        assert_int_equal(mm_message_decode(v1, bl - 4, &d), 0);
        assert_int_equal(d.flags, 0);
        assert_int_equal(d.uid, 7);
        assert_string_equal(d.subject, "hello");
        assert_string_equal(d.folder, "INBOX");
        free(v1);
        free(b);

        unsigned char fr[MM_FOLDER_RECORD_SIZE];
        int sub = -1;
        assert_int_equal(mm_folder_encode(0, fr), MM_FOLDER_RECORD_SIZE);
        assert_int_equal(mm_folder_decode(fr, sizeof(fr), &sub), 0);
        assert_int_equal(sub, 0);
        assert_int_equal(mm_folder_decode("", 0, &sub), 0);
        assert_int_equal(sub, 1);
        fr[1] = 2;
        assert_int_equal(mm_folder_decode(fr, sizeof(fr), &sub), -EBADMSG);

        struct mm_mailbox mb = {.uid_validity = 5, .uid_next = 42, .created = 1}, mb2;
        assert_int_equal(mm_mailbox_encode(&mb, &b, &bl), 0);
        assert_int_equal(mm_mailbox_decode(b, bl, &mb2), 0);
        assert_int_equal(mb2.uid_next, 42);
        assert_int_equal(mm_mailbox_decode(b, bl - 1, &mb2), -EBADMSG);
        free(b);
}

static void subject_is(const char *msg, const char *want) {
        char s[MM_MAX_SUBJECT + 1];
        mm_parse_subject(msg, strlen(msg), s);
        assert_string_equal(s, want);
}

static void test_subject(void **state) {
        subject_is("From: a\r\nSubject: Hi there\r\n\r\nbody", "Hi there");
        subject_is("subject:x\n\nSubject: body", "x");
        subject_is("Subject: a\r\n  folded\r\n\tagain\r\nX: y\r\n\r\n", "a  folded again"); /* tab becomes a space */
        subject_is("X: y\r\n\r\nSubject: in body\r\n", "");
        subject_is("", "");
        subject_is("Subject:", "");
        subject_is("Subject: caf\xc3\xa9 \xff\xfe ok\r\n\r\n", "caf\xc3\xa9 ?? ok");
        subject_is("Subject: a\001b\r\n\r\n", "a b");
        char big[2000];
        strcpy(big, "Subject: ");
        memset(big + 9, 'x', 1500);
        big[1509] = 0;
        char s[MM_MAX_SUBJECT + 1];
        mm_parse_subject(big, strlen(big), s);
        assert_int_equal(strlen(s), MM_MAX_SUBJECT);
        /* A 3-byte UTF-8 sequence cut by the limit is not left half. */
        memset(big + 9, 'x', MM_MAX_SUBJECT - 1);
        memcpy(big + 9 + MM_MAX_SUBJECT - 1, "\xe2\x82\xac", 4);
        mm_parse_subject(big, strlen(big), s);
        assert_int_equal((unsigned char) s[MM_MAX_SUBJECT - 1], '?');
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_records),
                cmocka_unit_test(test_subject),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
