/* SPDX-License-Identifier: MIT */
/*
 * MIME views for IMAP FETCH (see imap-mime.h).
 *
 * The top-level BODY[], BODY[HEADER], BODY[TEXT] and BODY[HEADER.FIELDS ...]
 * are cut from the raw bytes (so they are byte for byte what was stored);
 * numbered parts, ENVELOPE and BODYSTRUCTURE come from GMime's parse.
 */
#include <ctype.h>
#include <errno.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-mime.h"

#define MAX_PART_DEPTH 8

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void) {
        g_mime_init();
}

/* ------------------------------------------------------------ sections */

struct spec {
        unsigned parts[MAX_PART_DEPTH];
        unsigned nparts;
        enum { SEC_ALL, SEC_HEADER, SEC_TEXT, SEC_FIELDS, SEC_FIELDS_NOT, SEC_MIME } kind;
        char fields[32][64];
        unsigned nfields;
};

static bool parse_spec(const char *s, struct spec *sp) {
        memset(sp, 0, sizeof(*sp));
        while (isdigit((unsigned char) *s)) {
                unsigned long v = 0;
                while (isdigit((unsigned char) *s)) {
                        v = v * 10 + (unsigned long) (*s++ - '0');
                        if (v > 100000)
                                return false;
                }
                if (v == 0 || sp->nparts == MAX_PART_DEPTH)
                        return false;
                sp->parts[sp->nparts++] = (unsigned) v;
                if (*s == 0)
                        return true;
                if (*s++ != '.')
                        return false;
                if (*s == 0)
                        return false;
        }
        if (*s == 0)
                return sp->nparts == 0;
        if (strcasecmp(s, "HEADER") == 0)
                sp->kind = SEC_HEADER;
        else if (strcasecmp(s, "TEXT") == 0)
                sp->kind = SEC_TEXT;
        else if (strcasecmp(s, "MIME") == 0 && sp->nparts > 0)
                sp->kind = SEC_MIME;
        else if (strncasecmp(s, "HEADER.FIELDS ", 14) == 0 || strncasecmp(s, "HEADER.FIELDS.NOT ", 18) == 0) {
                bool not = strncasecmp(s, "HEADER.FIELDS.NOT ", 18) == 0;
                sp->kind = not ? SEC_FIELDS_NOT : SEC_FIELDS;
                s += not ? 18 : 14;
                if (*s++ != '(')
                        return false;
                for (;;) {
                        const char *st = s;
                        bool quoted = *s == '"';
                        if (quoted)
                                st = ++s;
                        while (*s && *s != ' ' && *s != ')' && *s != '"' && (unsigned char) *s > 0x20 && *s != ':')
                                s++;
                        size_t n = (size_t) (s - st);
                        if (quoted && *s++ != '"')
                                return false;
                        if (n == 0 || n >= sizeof(sp->fields[0]) || sp->nfields == 32)
                                return false;
                        memcpy(sp->fields[sp->nfields], st, n);
                        sp->fields[sp->nfields++][n] = 0;
                        if (*s == ')')
                                break;
                        if (*s++ != ' ')
                                return false;
                }
                if (*++s != 0)
                        return false;
        } else
                return false;
        return true;
}

bool imap_mime_section_valid(const char *section) {
        struct spec sp;
        return parse_spec(section, &sp);
}

/* Length of the header part of raw bytes, including the empty line. */
static size_t header_len(const char *m, size_t len) {
        for (size_t i = 0; i < len;) {
                const char *eol = memchr(m + i, '\n', len - i);
                if (!eol)
                        return len;
                size_t ll = (size_t) (eol - (m + i));
                if (ll == 0 || (ll == 1 && m[i] == '\r'))
                        return i + ll + 1;
                i += ll + 1;
        }
        return len;
}

static int dup_out(const void *b, size_t n, char **ret, size_t *ret_len) {
        char *o = malloc(n + 1);
        if (!o)
                return -ENOMEM;
        memcpy(o, b, n);
        o[n] = 0;
        *ret = o;
        *ret_len = n;
        return 0;
}

static bool field_listed(const struct spec *sp, const char *line, size_t ll) {
        const char *colon = memchr(line, ':', ll);
        if (!colon)
                return false;
        size_t n = (size_t) (colon - line);
        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
                n--;
        for (unsigned k = 0; k < sp->nfields; k++)
                if (strlen(sp->fields[k]) == n && strncasecmp(sp->fields[k], line, n) == 0)
                        return true;
        return false;
}

/* HEADER, TEXT, HEADER.FIELDS[.NOT] or all of raw message bytes. */
static int cut_raw(const char *m, size_t len, const struct spec *sp, char **ret, size_t *ret_len) {
        size_t hl = header_len(m, len);
        switch (sp->kind) {
        case SEC_ALL:
                return dup_out(m, len, ret, ret_len);
        case SEC_HEADER:
        case SEC_MIME:
                return dup_out(m, hl, ret, ret_len);
        case SEC_TEXT:
                return dup_out(m + hl, len - hl, ret, ret_len);
        default:
                break;
        }
        char *o = malloc(hl + 3);
        if (!o)
                return -ENOMEM;
        size_t n = 0;
        bool keep = false;
        for (size_t i = 0; i < hl;) {
                const char *eol = memchr(m + i, '\n', hl - i);
                size_t ll = eol ? (size_t) (eol - (m + i)) + 1 : hl - i;
                bool empty = ll <= 2 && (m[i] == '\n' || m[i] == '\r');
                if (empty)
                        break;
                if (m[i] != ' ' && m[i] != '\t')
                        keep = field_listed(sp, m + i, ll) == (sp->kind == SEC_FIELDS);
                if (keep) {
                        memcpy(o + n, m + i, ll);
                        n += ll;
                }
                i += ll;
        }
        o[n++] = '\r';
        o[n++] = '\n';
        *ret = o;
        *ret_len = n;
        return 0;
}

static GMimeMessage *parse(const void *msg, size_t len) {
        pthread_once(&init_once, init);
        GMimeStream *st = g_mime_stream_mem_new_with_buffer(msg, len);
        if (!st)
                return NULL;
        GMimeParser *ps = g_mime_parser_new_with_stream(st);
        g_object_unref(st);
        if (!ps)
                return NULL;
        GMimeMessage *m = g_mime_parser_construct_message(ps, NULL);
        g_object_unref(ps);
        return m;
}

static int object_bytes(GMimeObject *o, bool content_only, char **ret, size_t *ret_len) {
        GMimeStream *mem = g_mime_stream_mem_new();
        if (!mem)
                return -ENOMEM;
        ssize_t w = content_only ? g_mime_object_write_content_to_stream(o, NULL, mem)
                                 : g_mime_object_write_to_stream(o, NULL, mem);
        int r = -EIO;
        if (w >= 0) {
                GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
                r = dup_out(ba->data, ba->len, ret, ret_len);
        }
        g_object_unref(mem);
        return r;
}

int imap_mime_section(const void *msg, size_t len, const char *section, char **ret, size_t *ret_len) {
        struct spec sp;
        if (!parse_spec(section, &sp))
                return -EINVAL;
        if (sp.nparts == 0)
                return cut_raw(msg, len, &sp, ret, ret_len);
        GMimeMessage *m = parse(msg, len);
        if (!m)
                return -EBADMSG;
        GMimeObject *o = g_mime_message_get_mime_part(m);
        int r = 0;
        for (unsigned d = 0; d < sp.nparts && o; d++) {
                unsigned k = sp.parts[d];
                if (GMIME_IS_MESSAGE_PART(o)) {
                        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
                        o = inner ? g_mime_message_get_mime_part(inner) : NULL;
                        if (!o)
                                break;
                }
                if (GMIME_IS_MULTIPART(o)) {
                        GMimeMultipart *mp = GMIME_MULTIPART(o);
                        o = (int) k <= g_mime_multipart_get_count(mp) ? g_mime_multipart_get_part(mp, (int) k - 1)
                                                                      : NULL;
                } else if (k != 1)
                        o = NULL;
        }
        if (!o)
                r = -ENOENT;
        else if (sp.kind == SEC_MIME) {
                char *h = g_mime_object_get_headers(o, NULL);
                if (!h)
                        r = -ENOMEM;
                else {
                        size_t hl = strlen(h);
                        char *b = malloc(hl + 3);
                        if (!b)
                                r = -ENOMEM;
                        else {
                                memcpy(b, h, hl + 1);
                                strcat(b, "\r\n");
                                *ret = b;
                                *ret_len = hl + 2;
                        }
                        g_free(h);
                }
        } else if (sp.kind == SEC_ALL) {
                if (GMIME_IS_MESSAGE_PART(o)) {
                        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
                        r = inner ? object_bytes(GMIME_OBJECT(inner), false, ret, ret_len) : dup_out("", 0, ret, ret_len);
                } else
                        r = object_bytes(o, true, ret, ret_len);
        } else {
                /* HEADER / TEXT / HEADER.FIELDS of an embedded message. */
                GMimeMessage *inner = GMIME_IS_MESSAGE_PART(o) ? g_mime_message_part_get_message(GMIME_MESSAGE_PART(o))
                                                               : NULL;
                char *raw = NULL;
                size_t rl = 0;
                r = inner ? object_bytes(GMIME_OBJECT(inner), false, &raw, &rl) : -ENOENT;
                if (r >= 0) {
                        r = cut_raw(raw, rl, &sp, ret, ret_len);
                        free(raw);
                }
        }
        g_object_unref(m);
        return r;
}

/* ------------------------------------------------------------ structures */

static void nstring(GString *g, const char *s) {
        if (!s) {
                g_string_append(g, "NIL");
                return;
        }
        size_t n = strlen(s);
        bool quotable = n < 1024;
        for (size_t i = 0; quotable && i < n; i++)
                if (s[i] == '\r' || s[i] == '\n' || (unsigned char) s[i] >= 0x80)
                        quotable = false;
        if (!quotable) {
                g_string_append_printf(g, "{%zu}\r\n", n);
                g_string_append_len(g, s, (gssize) n);
                return;
        }
        g_string_append_c(g, '"');
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '"' || s[i] == '\\')
                        g_string_append_c(g, '\\');
                g_string_append_c(g, s[i]);
        }
        g_string_append_c(g, '"');
}

static const char *raw_header(GMimeObject *o, const char *name) {
        GMimeHeaderList *hl = g_mime_object_get_header_list(o);
        GMimeHeader *h = hl ? g_mime_header_list_get_header(hl, name) : NULL;
        return h ? g_mime_header_get_raw_value(h) : NULL;
}

/* Raw header value, unfolded and trimmed (g_free). */
static char *header_value(GMimeObject *o, const char *name) {
        const char *v = raw_header(o, name);
        if (!v)
                return NULL;
        char *u = g_strdup(v);
        size_t n = 0;
        for (const char *p = u; *p; p++)
                if (*p != '\r' && *p != '\n')
                        u[n++] = *p;
        u[n] = 0;
        return g_strstrip(u);
}

static void addresses(GString *g, GMimeObject *o, const char *name, const char *fallback) {
        const char *v = raw_header(o, name);
        if (!v && fallback)
                v = raw_header(o, fallback);
        InternetAddressList *l = v ? internet_address_list_parse(NULL, v) : NULL;
        if (!l || internet_address_list_length(l) == 0) {
                g_string_append(g, "NIL");
                if (l)
                        g_object_unref(l);
                return;
        }
        g_string_append_c(g, '(');
        for (int i = 0; i < internet_address_list_length(l); i++) {
                InternetAddress *a = internet_address_list_get_address(l, i);
                const char *nm = internet_address_get_name(a);
                char *enc = nm && *nm ? g_mime_utils_header_encode_phrase(NULL, nm, NULL) : NULL;
                if (INTERNET_ADDRESS_IS_GROUP(a)) {
                        g_string_append(g, "(NIL NIL ");
                        nstring(g, enc ? enc : "");
                        g_string_append(g, " NIL)");
                        InternetAddressList *ml = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a));
                        for (int k = 0; ml && k < internet_address_list_length(ml); k++) {
                                InternetAddress *b = internet_address_list_get_address(ml, k);
                                if (!INTERNET_ADDRESS_IS_MAILBOX(b))
                                        continue;
                                const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(b));
                                const char *at = addr ? strrchr(addr, '@') : NULL;
                                char *local = at ? g_strndup(addr, (gsize) (at - addr)) : g_strdup(addr ? addr : "");
                                g_string_append(g, "(NIL NIL ");
                                nstring(g, local);
                                g_string_append_c(g, ' ');
                                nstring(g, at ? at + 1 : NULL);
                                g_string_append_c(g, ')');
                                g_free(local);
                        }
                        g_string_append(g, "(NIL NIL NIL NIL)");
                } else {
                        const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
                        const char *at = addr ? strrchr(addr, '@') : NULL;
                        char *local = at ? g_strndup(addr, (gsize) (at - addr)) : g_strdup(addr ? addr : "");
                        g_string_append_c(g, '(');
                        nstring(g, enc);
                        g_string_append(g, " NIL ");
                        nstring(g, local);
                        g_string_append_c(g, ' ');
                        nstring(g, at ? at + 1 : NULL);
                        g_string_append_c(g, ')');
                        g_free(local);
                }
                g_free(enc);
        }
        g_string_append_c(g, ')');
        g_object_unref(l);
}

static void envelope(GString *g, GMimeObject *o) {
        static const char *const plain[] = {"Date", "Subject"};
        g_string_append_c(g, '(');
        for (unsigned k = 0; k < 2; k++) {
                char *v = header_value(o, plain[k]);
                nstring(g, v);
                g_free(v);
                g_string_append_c(g, ' ');
        }
        addresses(g, o, "From", NULL);
        g_string_append_c(g, ' ');
        addresses(g, o, "Sender", "From");
        g_string_append_c(g, ' ');
        addresses(g, o, "Reply-To", "From");
        g_string_append_c(g, ' ');
        addresses(g, o, "To", NULL);
        g_string_append_c(g, ' ');
        addresses(g, o, "Cc", NULL);
        g_string_append_c(g, ' ');
        addresses(g, o, "Bcc", NULL);
        g_string_append_c(g, ' ');
        char *v = header_value(o, "In-Reply-To");
        nstring(g, v);
        g_free(v);
        g_string_append_c(g, ' ');
        v = header_value(o, "Message-ID");
        nstring(g, v);
        g_free(v);
        g_string_append_c(g, ')');
}

static void params(GString *g, GMimeParamList *pl) {
        int n = pl ? g_mime_param_list_length(pl) : 0;
        if (n == 0) {
                g_string_append(g, "NIL");
                return;
        }
        g_string_append_c(g, '(');
        for (int i = 0; i < n; i++) {
                GMimeParam *p = g_mime_param_list_get_parameter_at(pl, i);
                if (i)
                        g_string_append_c(g, ' ');
                nstring(g, g_mime_param_get_name(p));
                g_string_append_c(g, ' ');
                nstring(g, g_mime_param_get_value(p));
        }
        g_string_append_c(g, ')');
}

static void upper_nstring(GString *g, const char *s) {
        char *u = s ? g_ascii_strup(s, -1) : NULL;
        nstring(g, u);
        g_free(u);
}

static void disposition_ext(GString *g, GMimeObject *o) {
        GMimeContentDisposition *d = g_mime_object_get_content_disposition(o);
        if (d && g_mime_content_disposition_get_disposition(d)) {
                g_string_append_c(g, '(');
                upper_nstring(g, g_mime_content_disposition_get_disposition(d));
                g_string_append_c(g, ' ');
                params(g, g_mime_content_disposition_get_parameters(d));
                g_string_append_c(g, ')');
        } else
                g_string_append(g, "NIL");
        char *lang = header_value(o, "Content-Language");
        g_string_append_c(g, ' ');
        nstring(g, lang);
        g_free(lang);
        char *loc = header_value(o, "Content-Location");
        g_string_append_c(g, ' ');
        nstring(g, loc);
        g_free(loc);
}

static void body(GString *g, GMimeObject *o, bool ext, int depth);

static void body_message(GString *g, GMimeMessage *m, bool ext, int depth) {
        GMimeObject *mp = m ? g_mime_message_get_mime_part(m) : NULL;
        if (mp)
                body(g, mp, ext, depth + 1);
        else
                g_string_append(g, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
}

static void body(GString *g, GMimeObject *o, bool ext, int depth) {
        GMimeContentType *ct = g_mime_object_get_content_type(o);
        if (depth > 32) {
                g_string_append(g, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
                return;
        }
        if (GMIME_IS_MULTIPART(o)) {
                GMimeMultipart *mp = GMIME_MULTIPART(o);
                g_string_append_c(g, '(');
                int n = g_mime_multipart_get_count(mp);
                for (int i = 0; i < n; i++)
                        body(g, g_mime_multipart_get_part(mp, i), ext, depth + 1);
                if (n == 0)
                        g_string_append(g, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
                g_string_append_c(g, ' ');
                upper_nstring(g, ct ? g_mime_content_type_get_media_subtype(ct) : "MIXED");
                if (ext) {
                        g_string_append_c(g, ' ');
                        params(g, ct ? g_mime_content_type_get_parameters(ct) : NULL);
                        g_string_append_c(g, ' ');
                        disposition_ext(g, o);
                }
                g_string_append_c(g, ')');
                return;
        }
        const char *type = ct ? g_mime_content_type_get_media_type(ct) : "text";
        const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : "plain";
        g_string_append_c(g, '(');
        upper_nstring(g, type ? type : "TEXT");
        g_string_append_c(g, ' ');
        upper_nstring(g, sub ? sub : "PLAIN");
        g_string_append_c(g, ' ');
        params(g, ct ? g_mime_content_type_get_parameters(ct) : NULL);
        char *id = header_value(o, "Content-ID"), *desc = header_value(o, "Content-Description"),
             *enc = header_value(o, "Content-Transfer-Encoding");
        g_string_append_c(g, ' ');
        nstring(g, id);
        g_string_append_c(g, ' ');
        nstring(g, desc);
        g_string_append_c(g, ' ');
        upper_nstring(g, enc ? enc : "7BIT");
        g_free(id);
        g_free(desc);
        g_free(enc);
        /* size and lines of the (encoded) content */
        char *content = NULL;
        size_t cl = 0;
        GMimeMessage *inner = GMIME_IS_MESSAGE_PART(o) ? g_mime_message_part_get_message(GMIME_MESSAGE_PART(o)) : NULL;
        if (inner)
                (void) object_bytes(GMIME_OBJECT(inner), false, &content, &cl);
        else
                (void) object_bytes(o, true, &content, &cl);
        size_t lines = 0;
        for (size_t i = 0; i < cl; i++)
                lines += content[i] == '\n';
        if (cl > 0 && content[cl - 1] != '\n')
                lines++; /* a last line without its end (the CRLF before a boundary is the boundary's) */
        free(content);
        g_string_append_printf(g, " %zu", cl);
        if (inner) {
                g_string_append_c(g, ' ');
                envelope(g, GMIME_OBJECT(inner));
                g_string_append_c(g, ' ');
                body_message(g, inner, ext, depth);
                g_string_append_printf(g, " %zu", lines);
        } else if (type && g_ascii_strcasecmp(type, "text") == 0)
                g_string_append_printf(g, " %zu", lines);
        if (ext) {
                char *md5 = header_value(o, "Content-MD5");
                g_string_append_c(g, ' ');
                nstring(g, md5);
                g_free(md5);
                g_string_append_c(g, ' ');
                disposition_ext(g, o);
        }
        g_string_append_c(g, ')');
}

static int finish(GString *g, char **ret, size_t *ret_len) {
        int r = dup_out(g->str, g->len, ret, ret_len);
        g_string_free(g, TRUE);
        return r;
}

int imap_mime_envelope(const void *msg, size_t len, char **ret, size_t *ret_len) {
        GMimeMessage *m = parse(msg, len);
        if (!m)
                return -EBADMSG;
        GString *g = g_string_new(NULL);
        envelope(g, GMIME_OBJECT(m));
        g_object_unref(m);
        return finish(g, ret, ret_len);
}

int imap_mime_bodystructure(const void *msg, size_t len, bool extended, char **ret, size_t *ret_len) {
        GMimeMessage *m = parse(msg, len);
        if (!m)
                return -EBADMSG;
        GString *g = g_string_new(NULL);
        body_message(g, m, extended, 0);
        g_object_unref(m);
        return finish(g, ret, ret_len);
}
