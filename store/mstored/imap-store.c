/* SPDX-License-Identifier: MIT */
/* The IMAP store callbacks on the service core (see imap-store.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap-store.h"
#include "mailmodel.h"

_Static_assert((int) IMAP_FLAG_SEEN == (int) MM_FLAG_SEEN && (int) IMAP_FLAG_DRAFT == (int) MM_FLAG_DRAFT &&
                       (int) IMAP_FLAG_DELETED == (int) MM_FLAG_DELETED &&
                       (int) IMAP_FLAG_FLAGGED == (int) MM_FLAG_FLAGGED &&
                       (int) IMAP_FLAG_ANSWERED == (int) MM_FLAG_ANSWERED,
               "IMAP and mail model flags");
_Static_assert(sizeof(struct imap_msg) == sizeof(struct service_msginfo), "message info layout");

int imap_store_mailbox_for(service *s, const char *user, char *out, size_t size) {
        size_t n = strlen(user);
        if (n == 0 || n > 64 || strchr(user, '@') || strchr(user, '/'))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) user[i] <= 0x20 || (unsigned char) user[i] >= 0x7f)
                        return -EINVAL;
        int k = snprintf(out, size, "%s@%s", user, service_server_name(s));
        if (k < 0 || (size_t) k >= size)
                return -EINVAL;
        for (char *p = out; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p + 32);
        return 0;
}

static int st_login(void *ud, const char *user, const char *password) {
        struct imap_store *st = ud;
        char mb[sizeof(st->mailbox)];
        if (imap_store_mailbox_for(st->s, user, mb, sizeof(mb)) < 0)
                return -EACCES;
        int r = st->auth(st->auth_ud, user, password, mb);
        if (r < 0)
                return r;
        /* A user without a mailbox fails like a bad password. */
        r = service_rcpt_check(st->s, mb);
        if (r == -ENOENT)
                return -EACCES;
        if (r < 0)
                return r;
        memcpy(st->mailbox, mb, sizeof(mb));
        return 0;
}

static int st_list(void *ud, struct imap_folder **ret, size_t *ret_n) {
        struct imap_store *st = ud;
        struct service_folder *f = NULL;
        size_t n = 0;
        int r = service_folder_list(st->s, st->mailbox, &f, &n, &st->err);
        if (r < 0)
                return r;
        _Static_assert(sizeof(struct imap_folder) == sizeof(struct service_folder), "folder layout");
        *ret = (struct imap_folder *) f;
        *ret_n = n;
        return 0;
}

static int st_create(void *ud, const char *name) {
        struct imap_store *st = ud;
        return service_folder_create(st->s, st->mailbox, name, &st->err);
}

static int st_delete(void *ud, const char *name) {
        struct imap_store *st = ud;
        return service_folder_delete(st->s, st->mailbox, name, &st->err);
}

static int st_rename(void *ud, const char *from, const char *to) {
        struct imap_store *st = ud;
        return service_folder_rename(st->s, st->mailbox, from, to, &st->err);
}

static int st_subscribe(void *ud, const char *name, bool on) {
        struct imap_store *st = ud;
        return service_folder_subscribe(st->s, st->mailbox, name, on, &st->err);
}

static int st_open(void *ud, const char *name, struct imap_view *ret) {
        struct imap_store *st = ud;
        struct service_view v;
        int r = service_folder_view(st->s, st->mailbox, name, &v, &st->err);
        if (r < 0)
                return r;
        ret->uid_validity = v.uid_validity;
        ret->uid_next = v.uid_next;
        ret->changes = v.changes;
        ret->msgs = (struct imap_msg *) v.msgs;
        ret->n = v.n;
        return 0;
}

static uint64_t st_changes(void *ud) {
        struct imap_store *st = ud;
        uint64_t c = 0;
        (void) service_mailbox_changes(st->s, st->mailbox, &c);
        return c;
}

static int st_fetch(void *ud, uint32_t uid, void **ret_data, size_t *ret_size) {
        struct imap_store *st = ud;
        return service_msg_get(st->s, st->mailbox, uid, ret_data, ret_size, &st->err);
}

static int st_store(void *ud, const uint32_t *uids, size_t n, int mode, uint32_t flags, uint32_t *ret_flags) {
        struct imap_store *st = ud;
        return service_msg_store(st->s, st->mailbox, uids, n, mode, flags, ret_flags, &st->err);
}

static int st_expunge(void *ud, const uint32_t *uids, size_t n) {
        struct imap_store *st = ud;
        return service_msg_delete(st->s, st->mailbox, uids, n, NULL, &st->err);
}

static int st_copy(void *ud, const uint32_t *uids, size_t n, const char *dest, uint32_t *ret_new_uids,
                   uint32_t *ret_validity) {
        struct imap_store *st = ud;
        return service_msg_copy(st->s, st->mailbox, uids, n, dest, ret_new_uids, ret_validity, &st->err);
}

static int st_append(void *ud, const char *folder, const void *data, size_t size, uint32_t flags, uint64_t time,
                     uint32_t *ret_uid, uint32_t *ret_validity) {
        struct imap_store *st = ud;
        return service_msg_append(st->s, st->mailbox, folder, data, size, flags, time, ret_uid, ret_validity, &st->err);
}

static int st_write(void *ud, const void *buf, size_t len) {
        struct imap_store *st = ud;
        return st->write(st->write_ud, buf, len);
}

const struct imap_store_ops imap_store_ops = {
        .login = st_login,
        .list = st_list,
        .create = st_create,
        .delete_ = st_delete,
        .rename = st_rename,
        .subscribe = st_subscribe,
        .open = st_open,
        .changes = st_changes,
        .fetch = st_fetch,
        .store = st_store,
        .expunge = st_expunge,
        .copy = st_copy,
        .append = st_append,
        .write = st_write,
};
