/* SPDX-License-Identifier: MIT */
/*
 * Key and record encoding of the mail model (see mailmodel.h).
 *
 * Mailbox record, version 1 (little endian):  u8 version=1, u8 0, u16 0,
 *   u32 uid_validity, u32 uid_next, u32 0, u64 created       (24 bytes)
 * Message record, version 1:  u8 version=1, u8 0, u16 subject_len,
 *   u16 from_len, u16 folder_len, u32 uid, u64 size, u64 time,
 *   32-byte stream ref, then subject, from, folder bytes (no NULs).
 * Message record, version 2: version 1's 60 fixed bytes (version=2), then
 *   u32 flags (MM_FLAG_*), then the strings.  Version 1 decodes with no
 *   flags; records are always written as version 2.
 * Folder record, version 1: u8 version=1, u8 flags (bit 0 subscribed); an
 *   empty value (stores written before folder records) reads as subscribed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/unaligned.h"
#include "mailmodel.h"

#define MB_RECORD_SIZE 24
#define MSG_FIXED 60
#define MSG_FIXED_V2 64

static int addr_ok(const char *addr) {
        size_t n = strlen(addr);
        return n > 0 && n <= MM_MAX_ADDR;
}

int mm_folder_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > MM_MAX_FOLDER || name[n - 1] == '/')
                return 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) name[i];
                if (c < 0x20 || c >= 0x7f || c == '*' || c == '%' || c == '"' || c == '\\')
                        return 0;
                /* Each component: not empty, not starting with '.'. */
                if ((i == 0 || name[i - 1] == '/') && (c == '/' || c == '.'))
                        return 0;
        }
        return 1;
}

int mm_folder_encode(int subscribed, unsigned char ret[MM_FOLDER_RECORD_SIZE]) {
        ret[0] = 1;
        ret[1] = subscribed ? 1 : 0;
        return MM_FOLDER_RECORD_SIZE;
}

int mm_folder_decode(const void *buf, size_t len, int *ret_subscribed) {
        const unsigned char *b = buf;
        if (len == 0) {
                *ret_subscribed = 1;
                return 0;
        }
        if (len != MM_FOLDER_RECORD_SIZE || b[0] != 1 || (b[1] & ~1u))
                return -EBADMSG;
        *ret_subscribed = b[1] & 1;
        return 0;
}

static int key2(char *buf, char tag, const char *addr) {
        if (!addr_ok(addr))
                return -EINVAL;
        size_t n = strlen(addr);
        buf[0] = tag;
        memcpy(buf + 1, addr, n); // NOLINT(bugprone-not-null-terminated-result): a key, not a string
        return (int) n + 1;
}

int mm_key_mailbox(char *buf, const char *addr) {
        return key2(buf, 'M', addr);
}

int mm_key_folder_prefix(char *buf, const char *addr) {
        int n = key2(buf, 'F', addr);
        if (n < 0)
                return n;
        buf[n++] = 0;
        return n;
}

int mm_key_folder(char *buf, const char *addr, const char *folder) {
        if (!mm_folder_valid(folder))
                return -EINVAL;
        int n = mm_key_folder_prefix(buf, addr);
        if (n < 0)
                return n;
        size_t fl = strlen(folder);
        memcpy(buf + n, folder, fl); // NOLINT(bugprone-not-null-terminated-result): a key, not a string
        return n + (int) fl;
}

int mm_key_message_prefix(char *buf, const char *addr) {
        int n = key2(buf, 'U', addr);
        if (n < 0)
                return n;
        buf[n++] = 0;
        return n;
}

int mm_key_message(char *buf, const char *addr, uint32_t uid) {
        int n = mm_key_message_prefix(buf, addr);
        if (n < 0)
                return n;
        unsigned char *p = (unsigned char *) buf + n;
        p[0] = (unsigned char) (uid >> 24);
        p[1] = (unsigned char) (uid >> 16);
        p[2] = (unsigned char) (uid >> 8);
        p[3] = (unsigned char) uid;
        return n + 4;
}

int mm_key_message_uid(const void *key, size_t klen, size_t prefix_len, uint32_t *ret_uid) {
        if (klen != prefix_len + 4)
                return -EINVAL;
        const unsigned char *p = (const unsigned char *) key + prefix_len;
        *ret_uid = ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
        return 0;
}

int mm_mailbox_encode(const struct mm_mailbox *m, void **ret, size_t *ret_len) {
        unsigned char *b = calloc(1, MB_RECORD_SIZE);
        if (!b)
                return -ENOMEM;
        b[0] = 1;
        unaligned_write_le32(b + 4, m->uid_validity);
        unaligned_write_le32(b + 8, m->uid_next);
        unaligned_write_le64(b + 16, m->created);
        *ret = b;
        *ret_len = MB_RECORD_SIZE;
        return 0;
}

int mm_mailbox_decode(const void *buf, size_t len, struct mm_mailbox *ret) {
        const unsigned char *b = buf;
        if (len < MB_RECORD_SIZE || b[0] != 1)
                return -EBADMSG;
        ret->uid_validity = unaligned_read_le32(b + 4);
        ret->uid_next = unaligned_read_le32(b + 8);
        ret->created = unaligned_read_le64(b + 16);
        return 0;
}

int mm_message_encode(const struct mm_message *m, void **ret, size_t *ret_len) {
        size_t sl = strnlen(m->subject, MM_MAX_SUBJECT), fl = strnlen(m->from, MM_MAX_ADDR),
               dl = strnlen(m->folder, MM_MAX_FOLDER);
        size_t len = MSG_FIXED_V2 + sl + fl + dl;
        unsigned char *b = calloc(1, len);
        if (!b)
                return -ENOMEM;
        b[0] = 2;
        unaligned_write_le16(b + 2, (uint16_t) sl);
        unaligned_write_le16(b + 4, (uint16_t) fl);
        unaligned_write_le16(b + 6, (uint16_t) dl);
        unaligned_write_le32(b + 8, m->uid);
        unaligned_write_le64(b + 12, m->size);
        unaligned_write_le64(b + 20, m->time);
        memcpy(b + 28, m->stream_ref, MM_STREAM_REF_SIZE);
        unaligned_write_le32(b + MSG_FIXED, m->flags & MM_FLAGS_ALL);
        memcpy(b + MSG_FIXED_V2, m->subject, sl);
        memcpy(b + MSG_FIXED_V2 + sl, m->from, fl);
        memcpy(b + MSG_FIXED_V2 + sl + fl, m->folder, dl);
        *ret = b;
        *ret_len = len;
        return 0;
}

int mm_message_decode(const void *buf, size_t len, struct mm_message *ret) {
        const unsigned char *b = buf;
        if (len < MSG_FIXED || (b[0] != 1 && b[0] != 2) || b[1] != 0)
                return -EBADMSG;
        size_t fixed = b[0] == 1 ? MSG_FIXED : MSG_FIXED_V2;
        size_t sl = unaligned_read_le16(b + 2), fl = unaligned_read_le16(b + 4), dl = unaligned_read_le16(b + 6);
        if (sl > MM_MAX_SUBJECT || fl > MM_MAX_ADDR || dl > MM_MAX_FOLDER || len != fixed + sl + fl + dl)
                return -EBADMSG;
        uint32_t flags = fixed == MSG_FIXED_V2 ? unaligned_read_le32(b + MSG_FIXED) : 0;
        if (flags & ~(uint32_t) MM_FLAGS_ALL)
                return -EBADMSG;
        const unsigned char *v = b + fixed;
        if (memchr(v, 0, sl + fl + dl))
                return -EBADMSG;
        memset(ret, 0, sizeof(*ret));
        ret->uid = unaligned_read_le32(b + 8);
        ret->size = unaligned_read_le64(b + 12);
        ret->time = unaligned_read_le64(b + 20);
        ret->flags = flags;
        memcpy(ret->stream_ref, b + 28, MM_STREAM_REF_SIZE);
        memcpy(ret->subject, v, sl);
        memcpy(ret->from, v + sl, fl);
        memcpy(ret->folder, v + sl + fl, dl);
        return 0;
}

/* Replace every byte that is not part of a valid UTF-8 sequence by '?', so
 * the subject can travel as a D-Bus string and in JSON. */
static void utf8_sanitize(char *s) {
        unsigned char *p = (unsigned char *) s;
        while (*p) {
                int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
                int ok = n >= 0 && !(n == 1 && *p < 0xc2) && !(n == 3 && *p > 0xf4);
                for (int k = 1; ok && k <= n; k++)
                        if ((p[k] & 0xc0) != 0x80)
                                ok = 0;
                if (ok && n == 2 && ((*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] >= 0xa0)))
                        ok = 0;
                if (ok && n == 3 && ((*p == 0xf0 && p[1] < 0x90) || (*p == 0xf4 && p[1] >= 0x90)))
                        ok = 0;
                if (!ok) {
                        *p++ = '?';
                        continue;
                }
                p += n + 1;
        }
}

void mm_parse_subject(const void *msg, size_t len, char ret[MM_MAX_SUBJECT + 1]) {
        const char *m = msg;
        size_t n = 0, i = 0;
        int in_subject = 0;
        ret[0] = 0;
        if (len > MM_MAX_HEADER_SCAN)
                len = MM_MAX_HEADER_SCAN;
        while (i < len) {
                /* i is at the start of a line. */
                const char *eol = memchr(m + i, '\n', len - i);
                size_t ll = eol ? (size_t) (eol - (m + i)) : len - i;
                size_t content = ll;
                if (content > 0 && m[i + content - 1] == '\r')
                        content--;
                if (content == 0)
                        break; /* end of the header */
                int cont = m[i] == ' ' || m[i] == '\t';
                if (in_subject && !cont)
                        break;
                size_t from = 0;
                if (!in_subject && !cont && content >= 8 && strncasecmp(m + i, "Subject:", 8) == 0) {
                        in_subject = 1;
                        from = 8;
                        while (from < content && (m[i + from] == ' ' || m[i + from] == '\t'))
                                from++;
                }
                if (in_subject) {
                        for (size_t k = from; k < content && n < MM_MAX_SUBJECT; k++) {
                                unsigned char c = (unsigned char) m[i + k];
                                if (c == 0)
                                        continue;
                                ret[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
                        }
                }
                if (!eol)
                        break;
                i += ll + 1;
        }
        ret[n] = 0;
        utf8_sanitize(ret);
}
