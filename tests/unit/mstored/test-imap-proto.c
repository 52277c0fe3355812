/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the IMAP machine (store/mstored/imap-proto.c) driving the
 * real service core and engine through imap-store.c: login, folders,
 * SELECT, FETCH (flags, sections, partial, ENVELOPE, BODYSTRUCTURE),
 * STORE, SEARCH, COPY/APPEND with UIDPLUS, EXPUNGE, IDLE, limits.
 * Authentication is a test callback (PAM is covered by the integration test).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "imap-mime.h"
#include "imap-proto.h"
#include "imap-store.h"
#include "service.h"

static char dir[] = "/tmp/test-imap-proto.XXXXXX";
static service *svc;

struct conn {
        char *out;
        size_t len, alloc;
        struct imap_store st;
        imap_proto *p;
};

static int w(void *ud, const void *buf, size_t len) {
        struct conn *c = ud;
        if (c->len + len + 1 > c->alloc) {
                c->alloc = (c->len + len + 1) * 2;
                c->out = realloc(c->out, c->alloc);
                assert_non_null(c->out);
        }
        memcpy(c->out + c->len, buf, len);
        c->len += len;
        c->out[c->len] = 0;
        return 0;
}

static int auth(void *ud, const char *user, const char *password, const char *mailbox) {
        return strcmp(password, "secret") == 0 ? 0 : -EACCES;
}

static struct conn *conn_new_tls(bool plaintext_ok, bool starttls) {
        struct conn *c = calloc(1, sizeof(*c));
        c->st = (struct imap_store){.s = svc, .auth = auth, .write = w, .write_ud = c};
        struct imap_limits lim = {.max_literal = 1 << 20, .plaintext_ok = plaintext_ok, .starttls = starttls};
        assert_int_equal(imap_proto_new("h1", &lim, &imap_store_ops, &c->st, &c->p), 0);
        assert_int_equal(imap_proto_greet(c->p), 0);
        return c;
}

static struct conn *conn_new(bool plaintext_ok) {
        return conn_new_tls(plaintext_ok, false);
}

#define HAS(out, s)                                                                                                    \
        do {                                                                                                           \
                if (!strstr((out), (s)))                                                                               \
                        fail_msg("missing <%s> in:\n%s", (s), (out));                                                  \
        } while (0)

static void conn_free(struct conn *c) {
        imap_proto_free(c->p);
        free(c->out);
        free(c);
}

/* Send text, return the output it produced (valid until the next call). */
static const char *say(struct conn *c, const char *text) {
        c->len = 0;
        if (c->out)
                c->out[0] = 0;
        int r = imap_proto_feed(c->p, text, strlen(text));
        assert_true(r >= 0);
        return c->out ? c->out : "";
}

/* A session logged in as alice (plaintext allowed). */
static struct conn *conn_login(void) {
        struct conn *c = conn_new(true);
        HAS(say(c, "l LOGIN alice secret\r\n"), "l OK");
        return c;
}

/* A session logged in as alice with FOLDER selected; its UIDVALIDITY. */
static struct conn *conn_select(const char *folder, uint32_t *ret_validity) {
        struct conn *c = conn_login();
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "s SELECT %s\r\n", folder);
        const char *o = say(c, cmd);
        HAS(o, "s OK");
        const char *v = strstr(o, "[UIDVALIDITY ");
        assert_non_null(v);
        if (ret_validity)
                *ret_validity = (uint32_t) strtoul(v + 13, NULL, 10);
        return c;
}

static const char *MSG1 = "From: Ann Example <ann@example.org>\r\n"
                          "To: bob@h1, \"Carl\" <carl@example.net>\r\n"
                          "Subject: hello world\r\n"
                          "Message-ID: <m1@example.org>\r\n"
                          "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
                          "\r\n"
                          "first body line\r\nsecond\r\n";

static const char *MSG2 = "From: x@y\r\n"
                          "Subject: multi\r\n"
                          "MIME-Version: 1.0\r\n"
                          "Content-Type: multipart/mixed; boundary=\"BB\"\r\n"
                          "\r\n"
                          "--BB\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\n"
                          "\r\n"
                          "part one\r\n"
                          "--BB\r\n"
                          "Content-Type: application/octet-stream\r\n"
                          "Content-Transfer-Encoding: base64\r\n"
                          "\r\n"
                          "AAEC\r\n"
                          "--BB--\r\n";

static void deliver(const char *msg) {
        char *rcpts[] = {"alice@h1"};
        int st[1];
        assert_int_equal(service_deliver(svc, "f@x", rcpts, 1, msg, strlen(msg), st), 1);
}

static void test_login(void **state) {
        struct conn *c = conn_new(false);
        HAS(c->out, "LOGINDISABLED");
        HAS(say(c, "a1 LOGIN alice secret\r\n"), "a1 NO [PRIVACYREQUIRED]");
        HAS(say(c, "a2 SELECT INBOX\r\n"), "a2 BAD");
        conn_free(c);

        c = conn_new(true);
        HAS(say(c, "a1 CAPABILITY\r\n"), "* CAPABILITY IMAP4rev1 LITERAL+ IDLE UIDPLUS NAMESPACE SASL-IR AUTH=PLAIN\r\na1 OK");
        HAS(say(c, "a2 LOGIN alice wrong\r\n"), "a2 NO [AUTHENTICATIONFAILED]");
        HAS(say(c, "a3 LOGIN nobody secret\r\n"), "a3 NO [AUTHENTICATIONFAILED]"); /* no mailbox */
        HAS(say(c, "a4 LOGIN \"alice\" {6}\r\n"), "+ Ready");
        HAS(say(c, "secret\r\n"), "a4 OK [CAPABILITY");
        HAS(say(c, "a5 NAMESPACE\r\n"), "* NAMESPACE ((\"\" \"/\")) NIL NIL");
        HAS(say(c, "a6 LOGOUT\r\n"), "* BYE");
        conn_free(c);

        /* AUTHENTICATE PLAIN: initial response, continuation, bad ones. */
        c = conn_new(true);
        HAS(say(c, "b1 AUTHENTICATE PLAIN AGFsaWNlAG5vcGU=\r\n"), "b1 NO [AUTHENTICATIONFAILED]");
        HAS(say(c, "b2 AUTHENTICATE PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n"), "b2 NO [AUTHORIZATIONFAILED]");
        HAS(say(c, "b3 AUTHENTICATE PLAIN AGFsaWNl!!!=\r\n"), "b3 BAD");
        HAS(say(c, "b4 AUTHENTICATE CRAM-MD5\r\n"), "b4 NO");
        HAS(say(c, "b5 AUTHENTICATE PLAIN\r\n"), "+ \r\n");
        HAS(say(c, "*\r\n"), "b5 BAD");
        HAS(say(c, "b6 AUTHENTICATE PLAIN\r\n"), "+ \r\n");
        HAS(say(c, "AGFsaWNlAHNlY3JldA==\r\n"), "b6 OK");
        conn_free(c);
        c = conn_new(false);
        HAS(say(c, "b7 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"), "b7 NO [PRIVACYREQUIRED]");
        conn_free(c);
}

/* STARTTLS: offered without TLS on a non-loopback connection; what the
 * client pipelined after it in the clear is dropped; after the handshake
 * LOGIN works and STARTTLS is no longer offered. */
static void test_starttls(void **state) {
        struct conn *c = conn_new_tls(false, true);
        HAS(c->out, "STARTTLS LOGINDISABLED");
        HAS(say(c, "a LOGIN alice secret\r\n"), "a NO [PRIVACYREQUIRED]");
        c->len = 0;
        const char *inj = "b STARTTLS\r\nc LOGIN alice secret\r\n";
        assert_int_equal(imap_proto_feed(c->p, inj, strlen(inj)), IMAP_STARTTLS);
        HAS(c->out, "b OK Begin TLS");
        assert_null(strstr(c->out, "c "));
        imap_proto_tls_started(c->p);
        const char *o = say(c, "d CAPABILITY\r\n");
        assert_null(strstr(o, "LOGINDISABLED"));
        assert_null(strstr(o, "STARTTLS"));
        HAS(say(c, "e STARTTLS\r\n"), "e BAD");
        HAS(say(c, "f LOGIN alice secret\r\n"), "f OK");
        conn_free(c);
        /* Without a certificate STARTTLS is refused. */
        c = conn_new(true);
        assert_null(strstr(c->out, "STARTTLS"));
        HAS(say(c, "a STARTTLS\r\n"), "a BAD");
        conn_free(c);
}

static void test_folders_and_fetch(void **state) {
        deliver(MSG1);
        deliver(MSG2);
        struct conn *c = conn_login();
        HAS(say(c, "b CREATE Work/2026\r\n"), "b OK");
        HAS(say(c, "c LIST \"\" *\r\n"), "* LIST (\\HasChildren) \"/\" \"Work\"");
        HAS(c->out, "* LIST (\\HasNoChildren) \"/\" \"Work/2026\"");
        HAS(c->out, "* LIST (\\HasNoChildren) \"/\" \"INBOX\"");
        HAS(say(c, "c2 LIST \"\" %\r\n"), "\"Work\"");
        assert_null(strstr(c->out, "Work/2026"));
        HAS(say(c, "d CREATE Work\r\n"), "d NO [ALREADYEXISTS]");
        HAS(say(c, "e STATUS INBOX (MESSAGES UNSEEN UIDVALIDITY)\r\n"), "* STATUS \"INBOX\" (MESSAGES 2 UIDVALIDITY ");
        HAS(c->out, "UNSEEN 2");

        const char *o = say(c, "f SELECT inbox\r\n");
        HAS(o, "* 2 EXISTS");
        HAS(o, "* OK [UNSEEN 1]");
        HAS(o, "* OK [UIDVALIDITY ");
        HAS(o, "f OK [READ-WRITE]");

        o = say(c, "g FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n");
        char want[128];
        snprintf(want, sizeof(want), "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE %zu)", strlen(MSG1));
        HAS(o, want);
        HAS(o, "* 2 FETCH (UID 2 FLAGS () RFC822.SIZE");

        /* BODY.PEEK[] is byte for byte, does not set \Seen. */
        o = say(c, "h FETCH 1 BODY.PEEK[]\r\n");
        snprintf(want, sizeof(want), "* 1 FETCH (BODY[] {%zu}\r\n", strlen(MSG1));
        HAS(o, want);
        HAS(o, MSG1);
        HAS(say(c, "i FETCH 1 FLAGS\r\n"), "FLAGS ()");
        /* Partial, header fields, text. */
        HAS(say(c, "j FETCH 1 BODY.PEEK[]<0.4>\r\n"), "BODY[]<0> {4}\r\nFrom)");
        HAS(say(c, "k FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]\r\n"), "{24}\r\nSubject: hello world\r\n\r\n)");
        HAS(say(c, "l FETCH 1 BODY.PEEK[TEXT]\r\n"), "{25}\r\nfirst body line\r\nsecond\r\n)");
        /* ENVELOPE and BODYSTRUCTURE through GMime. */
        o = say(c, "m FETCH 1 ENVELOPE\r\n");
        HAS(o, "ENVELOPE (\"Mon, 7 Dec 2026 10:00:00 +0000\" \"hello world\" ((\"Ann Example\" NIL \"ann\" "
               "\"example.org\"))");
        HAS(o, "((NIL NIL \"bob\" \"h1\")(\"Carl\" NIL \"carl\" \"example.net\"))");
        HAS(o, "\"<m1@example.org>\")");
        o = say(c, "n FETCH 2 BODYSTRUCTURE\r\n");
        HAS(o, "BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 8 1 NIL NIL NIL NIL)");
        HAS(o, "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 4 NIL");
        HAS(o, "\"MIXED\" (\"boundary\" \"BB\")");
        HAS(say(c, "o FETCH 2 BODY.PEEK[1]\r\n"), "BODY[1] {8}\r\npart one)");
        HAS(say(c, "o2 FETCH 2 BODY.PEEK[2.MIME]\r\n"), "Content-Transfer-Encoding: base64");
        HAS(say(c, "o3 FETCH 2 BODY.PEEK[3]\r\n"), "BODY[3] NIL");
        HAS(say(c, "o4 FETCH 2 BODY.PEEK[0]\r\n"), "o4 BAD");

        /* BODY[] (not peek) sets \Seen. */
        HAS(say(c, "p FETCH 1 BODY[]\r\n"), "FLAGS (\\Seen)");
        HAS(say(c, "q SEARCH UNSEEN\r\n"), "* SEARCH 2\r\n");
        HAS(say(c, "r UID SEARCH SUBJECT multi\r\n"), "* SEARCH 2\r\n");
        HAS(say(c, "r2 SEARCH OR SEEN FROM ann NOT SMALLER 1\r\n"), "* SEARCH 1\r\n");
        HAS(say(c, "r3 SEARCH BODY \"part one\"\r\n"), "* SEARCH 2\r\n");
        HAS(say(c, "r4 SEARCH FOO\r\n"), "r4 BAD");

        /* COPY with COPYUID, APPEND with APPENDUID (LITERAL+). */
        o = say(c, "s COPY 1:2 Work\r\n");
        HAS(o, "s OK [COPYUID ");
        HAS(o, " 1:2 3:4]");
        HAS(say(c, "s2 COPY 1 Nope\r\n"), "s2 NO [TRYCREATE]");
        o = say(c, "t APPEND Work (\\Flagged) \"07-Dec-2026 10:00:00 +0100\" {5+}\r\nhello\r\n");
        HAS(o, "t OK [APPENDUID ");
        HAS(o, " 5]");
        o = say(c, "u EXAMINE Work\r\n");
        HAS(o, "* 3 EXISTS");
        HAS(o, "u OK [READ-ONLY]");
        HAS(say(c, "u2 FETCH 3 (FLAGS INTERNALDATE)\r\n"), "FLAGS (\\Flagged) INTERNALDATE \"07-Dec-2026 09:00:00 +0000\"");
        HAS(say(c, "u3 STORE 1 +FLAGS (\\Deleted)\r\n"), "u3 NO [READ-ONLY]");

        /* STORE and EXPUNGE in INBOX. */
        say(c, "v SELECT INBOX\r\n");
        HAS(say(c, "w STORE 1 +FLAGS (\\Deleted)\r\n"), "* 1 FETCH (FLAGS (\\Seen \\Deleted))");
        HAS(say(c, "w2 UID STORE 2 FLAGS.SILENT (\\Answered)\r\n"), "w2 OK");
        assert_null(strstr(c->out, "FETCH"));
        HAS(say(c, "x EXPUNGE\r\n"), "* 1 EXPUNGE\r\nx OK");
        HAS(say(c, "y FETCH 1 (UID FLAGS)\r\n"), "* 1 FETCH (UID 2 FLAGS (\\Answered))");
        HAS(say(c, "y2 FETCH 5 UID\r\n"), "y2 BAD");
        HAS(say(c, "z DELETE Work\r\n"), "z NO [CANNOT]"); /* has Work/2026 */
        HAS(say(c, "z2 RENAME Work Done\r\n"), "z2 OK");
        HAS(say(c, "z3 STATUS Done/2026 (MESSAGES)\r\n"), "MESSAGES 0");
        HAS(say(c, "z4 CLOSE\r\n"), "z4 OK");
        conn_free(c);
}

static void test_idle_and_others(void **state) {
        struct conn *a = conn_select("INBOX", NULL), *b = conn_select("INBOX", NULL);
        HAS(say(a, "c IDLE\r\n"), "+ idling");
        assert_true(imap_proto_idling(a->p));
        deliver(MSG1);
        a->len = 0;
        assert_int_equal(imap_proto_poll(a->p), IMAP_CONTINUE);
        HAS(a->out, "* 2 EXISTS");
        /* Another session deletes: the idler sees EXPUNGE. */
        say(b, "c STORE 1 +FLAGS (\\Deleted)\r\n");
        say(b, "d EXPUNGE\r\n");
        a->len = 0;
        assert_int_equal(imap_proto_poll(a->p), IMAP_CONTINUE);
        HAS(a->out, "* 1 EXPUNGE");
        HAS(say(a, "DONE\r\n"), "c OK IDLE terminated");
        /* FETCH must not report an EXPUNGE (sequence numbers would move). */
        say(b, "e STORE 1 +FLAGS (\\Deleted)\r\n");
        say(b, "f EXPUNGE\r\n");
        const char *o = say(a, "g FETCH 1 UID\r\n");
        assert_null(strstr(o, "EXPUNGE"));
        HAS(say(a, "h NOOP\r\n"), "* 1 EXPUNGE");
        conn_free(a);
        conn_free(b);
}

/* A database marked as restored without the later logs (what the Mail
 * Store Writer does before recovery) gives its mailboxes a new, higher
 * UIDVALIDITY at the next mount, once; a session selected across it gets
 * BYE.  Unmarked (a roll-forward reached the end of the live log), the
 * mount keeps UIDVALIDITY. */
static void test_uidvalidity_renewed(void **state) {
        uint32_t v0, v1, v2, prev = 1;
        struct conn *c = conn_select("INBOX", &v0);
        ErrorSlot err;
        assert_int_equal(service_restore_mark(svc, "SG1", "DB1", &prev), 0);
        assert_int_equal(prev, 0);
        assert_int_equal(service_restore_unmark(svc, "SG1", "DB1", prev), 0);
        assert_int_equal(service_db_dismount(svc, "SG1", "DB1", &err), 0);
        assert_int_equal(service_db_mount(svc, "SG1", "DB1", &err), 0);
        assert_null(strstr(say(c, "n1 NOOP\r\n"), "BYE"));
        conn_free(conn_select("INBOX", &v1));
        assert_int_equal(v1, v0);

        assert_int_equal(service_restore_mark(svc, "SG1", "DB1", &prev), 0);
        assert_int_equal(service_db_dismount(svc, "SG1", "DB1", &err), 0);
        assert_int_equal(service_db_mount(svc, "SG1", "DB1", &err), 0);
        HAS(say(c, "n2 NOOP\r\n"), "* BYE UIDVALIDITY changed");
        conn_free(c);
        c = conn_select("INBOX", &v1);
        assert_true(v1 > v0);
        conn_free(c);
        /* Once: the next mount keeps it. */
        assert_int_equal(service_db_dismount(svc, "SG1", "DB1", &err), 0);
        assert_int_equal(service_db_mount(svc, "SG1", "DB1", &err), 0);
        conn_free(conn_select("INBOX", &v2));
        assert_int_equal(v2, v1);
}

static void test_limits(void **state) {
        struct conn *c = conn_new(true);
        /* An over-long line is refused and the session goes on. */
        size_t n = IMAP_MAX_LINE + 100;
        char *big = malloc(n + 3);
        memset(big, 'A', n);
        memcpy(big + n, "\r\n", 3);
        HAS(say(c, big), "* BAD Command line too long");
        free(big);
        HAS(say(c, "a NOOP\r\n"), "a OK");
        /* A small-command literal above 8 KiB is refused before it is sent. */
        HAS(say(c, "b LOGIN {100000}\r\n"), "b BAD Literal too big");
        say(c, "x LOGIN alice secret\r\n");
        HAS(say(c, "c APPEND INBOX {2000000}\r\n"), "c NO [TOOBIG]");
        /* Pipelined commands in one read are all answered, in order. */
        const char *o = say(c, "d NOOP\r\ne NOOP\nf CAPABILITY\r\n");
        const char *d = strstr(o, "d OK"), *e = strstr(o, "e OK"), *f = strstr(o, "f OK");
        assert_true(d && e && f && d < e && e < f);
        /* No tag, bad tag, unknown command. */
        HAS(say(c, "\r\n"), "* BAD");
        HAS(say(c, "g+ NOOP\r\n"), "* BAD");
        HAS(say(c, "h FROB\r\n"), "h BAD");
        /* Too many errors: BYE and close. */
        int r = 0;
        for (int k = 0; k < IMAP_MAX_ERRORS && r == 0; k++)
                r = imap_proto_feed(c->p, "x FROB\r\n", 8);
        assert_int_equal(r, IMAP_CLOSE);
        HAS(c->out, "* BYE Too many errors");
        /* LITERAL+ above the limit closes the session. */
        struct conn *c2 = conn_new(true);
        assert_int_equal(imap_proto_feed(c2->p, "a LOGIN {99999+}\r\n", 18), IMAP_CLOSE);
        HAS(c2->out, "* BYE Literal too big");
        conn_free(c2);
        conn_free(c);
}

static void test_seqset(void **state) {
        uint32_t *r = NULL;
        size_t n = 0;
        assert_int_equal(imap_parse_seqset("1:3,7,*", 7, 9, &r, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(r[0], 1);
        assert_int_equal(r[1], 3);
        assert_int_equal(r[4], 9);
        free(r);
        assert_int_equal(imap_parse_seqset("5:2", 3, 9, &r, &n), 0);
        assert_int_equal(r[0], 2);
        free(r);
        assert_int_equal(imap_parse_seqset("0", 1, 9, &r, &n), -EINVAL);
        assert_int_equal(imap_parse_seqset("1,", 2, 9, &r, &n), -EINVAL);
        assert_int_equal(imap_parse_seqset("1:99999999999", 13, 9, &r, &n), -EINVAL);
        assert_true(imap_list_match("*", "a/b"));
        assert_false(imap_list_match("%", "a/b"));
        assert_true(imap_list_match("a/%", "a/b"));
        assert_true(imap_list_match("W*6", "Work/2026"));
        assert_true(imap_mime_section_valid("1.2.HEADER.FIELDS (To From)"));
        assert_false(imap_mime_section_valid("1..2"));
        assert_false(imap_mime_section_valid("MIME"));
}

static int setup(void **state) {
        event_set_stderr(0);
        if (!mkdtemp(dir))
                return -1;
        struct service_options o = {.data_dir = dir, .server_name = "h1"};
        ErrorSlot err;
        if (service_new(&o, &svc, &err) < 0 || service_start(svc) < 0 ||
            service_sg_create(svc, "SG1", NULL, NULL, false, &err) < 0 ||
            service_db_create(svc, "SG1", "DB1", false, &err) < 0 ||
            service_mailbox_create(svc, "alice@h1", "SG1", "DB1", &err) < 0)
                return -1;
        return 0;
}

static int teardown(void **state) {
        service_free(svc);
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_login),
                cmocka_unit_test(test_starttls),
                cmocka_unit_test(test_folders_and_fetch),
                cmocka_unit_test(test_idle_and_others),
                cmocka_unit_test(test_uidvalidity_renewed),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_seqset),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
