/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the IMAP machine (store/mstored/imap-proto.c) and the
 * MIME views (imap-mime.c): the input is split into client chunks at its
 * first bytes and fed to a logged-in session over a small in-memory store
 * (two folders, three messages, one of them MIME multipart).  The first
 * byte also chooses whether plaintext LOGIN is allowed.  The machine must
 * never crash, leak, read out of bounds or emit an unterminated response.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const msgs[] = {
        "From: A <a@x>\r\nTo: b@y, (c) <c@z>, g: d@e;\r\nSubject: =?utf-8?q?hi?=\r\n\r\nbody\r\n",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
        "Subject: in\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n",
        "no header at all",
};

struct fake {
        struct imap_msg m[3];
        size_t n;
        size_t out;
};

static int f_login(void *ud, const char *u, const char *p) {
        return strcmp(p, "bad") == 0 ? -EACCES : 0;
}
static int f_list(void *ud, struct imap_folder **ret, size_t *n) {
        struct imap_folder *f = calloc(2, sizeof(*f));
        if (!f)
                return -ENOMEM;
        strcpy(f[0].name, "INBOX");
        strcpy(f[1].name, "a/b");
        f[1].subscribed = true;
        *ret = f;
        *n = 2;
        return 0;
}
static int f_name(void *ud, const char *name) {
        return strcmp(name, "INBOX") == 0 ? -EEXIST : 0;
}
static int f_rename(void *ud, const char *a, const char *b) {
        return 0;
}
static int f_sub(void *ud, const char *name, bool on) {
        return 0;
}
static int f_open(void *ud, const char *name, struct imap_view *v) {
        struct fake *f = ud;
        if (strcmp(name, "INBOX") != 0 && strcmp(name, "a/b") != 0)
                return -ENOENT;
        v->uid_validity = 7;
        v->uid_next = 10;
        v->changes = f->n;
        v->n = f->n;
        v->msgs = calloc(f->n ? f->n : 1, sizeof(*v->msgs));
        if (!v->msgs)
                return -ENOMEM;
        memcpy(v->msgs, f->m, f->n * sizeof(*v->msgs));
        return 0;
}
static uint64_t f_changes(void *ud) {
        return ((struct fake *) ud)->n;
}
static int f_fetch(void *ud, uint32_t uid, void **d, size_t *n) {
        if (uid < 1 || uid > 3)
                return -ENOENT;
        *n = strlen(msgs[uid - 1]);
        *d = strdup(msgs[uid - 1]);
        return *d ? 0 : -ENOMEM;
}
static int f_store(void *ud, const uint32_t *u, size_t n, int mode, uint32_t flags, uint32_t *ret) {
        for (size_t k = 0; k < n; k++)
                ret[k] = u[k] == 2 ? UINT32_MAX : flags;
        return 0;
}
static int f_expunge(void *ud, const uint32_t *u, size_t n) {
        struct fake *f = ud;
        if (f->n > 0)
                f->n--; /* the machine must cope with any store answer */
        return 0;
}
static int f_copy(void *ud, const uint32_t *u, size_t n, const char *dest, uint32_t *nu, uint32_t *val) {
        for (size_t k = 0; k < n; k++)
                nu[k] = k % 2 ? 0 : 100 + (uint32_t) k;
        *val = 7;
        return strcmp(dest, "nope") == 0 ? -ENOENT : 0;
}
static int f_append(void *ud, const char *folder, const void *d, size_t n, uint32_t fl, uint64_t t, uint32_t *uid,
                    uint32_t *val) {
        *uid = 11;
        *val = 7;
        return 0;
}
static int f_write(void *ud, const void *buf, size_t len) {
        struct fake *f = ud;
        f->out += len;
        if (len == 0 || ((const char *) buf)[len - 1] != '\n')
                abort(); /* responses are whole lines */
        return 0;
}

static const struct imap_store_ops ops = {f_login, f_list, f_name, f_name, f_rename, f_sub, f_open,
                                          f_changes, f_fetch, f_store, f_expunge, f_copy, f_append, f_write};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 2)
                return 0;
        struct fake f = {.n = 3};
        for (uint32_t k = 0; k < 3; k++)
                f.m[k] = (struct imap_msg){.uid = k + 1, .flags = k, .size = strlen(msgs[k]), .time = 86400u * k};
        struct imap_limits lim = {.max_literal = 4096, .plaintext_ok = data[0] & 1, .starttls = data[0] & 2};
        size_t chunk = data[1] ? data[1] : 1;
        data += 2;
        size -= 2;
        imap_proto *p = NULL;
        if (imap_proto_new("h", &lim, &ops, &f, &p) < 0)
                return 0;
        (void) imap_proto_greet(p);
        for (size_t i = 0; i < size; i += chunk) {
                size_t n = size - i < chunk ? size - i : chunk;
                int r = imap_proto_feed(p, data + i, n);
                if (r == IMAP_STARTTLS) {
                        imap_proto_tls_started(p);
                        continue;
                }
                if (r != IMAP_CONTINUE)
                        break;
                if (imap_proto_idling(p))
                        (void) imap_proto_poll(p);
        }
        imap_proto_free(p);
        return 0;
}
