/* SPDX-License-Identifier: MIT */
/*
 * The IMAP protocol machine (see imap-proto.h).
 *
 * Input is assembled into one command buffer: each line is appended with a
 * CRLF, and a line ending in a literal announcement {n} or {n+} is followed
 * by the n literal bytes, so the parser sees the command exactly as RFC 3501
 * writes it and reads literals in place.  Output is buffered and handed to
 * ops->write at the end of each command (and every 64 KiB).
 *
 * Sequence numbers: the session's view (p->v) is the folder's messages as
 * last told to the client.  Changes by others are folded in by sync() at
 * the end of commands other than FETCH, STORE, SEARCH (and their UID forms,
 * RFC 3501 7.4.1), in IDLE, and by NOOP/CHECK.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/core/array.h"
#include "lib/core/macro.h"
#include "imap-proto.h"
#include "imap-mime.h"

#define OUT_FLUSH (64u * 1024)
#define CAPS "IMAP4rev1 LITERAL+ IDLE UIDPLUS NAMESPACE SASL-IR"

enum state { S_NOTAUTH, S_AUTH, S_SELECTED, S_LOGOUT };

struct imap_proto {
        char *hostname;
        struct imap_limits limits;
        struct imap_store_ops ops;
        void *ud;
        enum state state;
        unsigned errors;
        char *user;

        /* command assembly */
        char *cmd;
        size_t cmd_len, cmd_alloc;
        size_t line_start;          /* start of the current line in cmd */
        size_t lit_need;            /* literal bytes still to read */
        bool discard;               /* discarding an over-long line */
        bool big_literal;           /* the current command may carry a message */

        /* the selected folder */
        char folder[IMAP_MAX_NAME + 1];
        bool readonly;
        struct imap_view v;

        bool idling;
        char idle_tag[64];
        bool tls_active, tls_pending;
        bool authenticating;
        char auth_tag[64];

        /* last message fetched */
        uint32_t cache_uid;
        void *cache_data;
        size_t cache_size;

        char *out;
        size_t out_len, out_alloc;
        int write_error;
};

/* ------------------------------------------------------------ output */

static int flush_out(imap_proto *p) {
        if (p->out_len > 0 && !p->write_error) {
                int r = p->ops.write(p->ud, p->out, p->out_len);
                if (r < 0)
                        p->write_error = r;
        }
        p->out_len = 0;
        return p->write_error;
}

static void out_bytes(imap_proto *p, const void *b, size_t n) {
        if (p->write_error)
                return;
        if (p->out_len + n > p->out_alloc) {
                size_t na = p->out_alloc ? p->out_alloc : 4096;
                while (na < p->out_len + n)
                        na *= 2;
                char *o = realloc(p->out, na);
                if (!o) {
                        p->write_error = -ENOMEM;
                        return;
                }
                p->out = o;
                p->out_alloc = na;
        }
        memcpy(p->out + p->out_len, b, n);
        p->out_len += n;
        if (p->out_len >= OUT_FLUSH)
                (void) flush_out(p);
}

static void outf(imap_proto *p, const char *fmt, ...) _printf_(2, 3);
static void outf(imap_proto *p, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n >= sizeof(buf))
                n = sizeof(buf) - 1;
        out_bytes(p, buf, (size_t) n);
}

/* A string as a quoted string when it can be, else as a literal. */
static void out_string(imap_proto *p, const char *s, size_t n) {
        bool quotable = n < 1024;
        for (size_t i = 0; quotable && i < n; i++)
                if (s[i] == '\r' || s[i] == '\n' || s[i] == 0 || (unsigned char) s[i] >= 0x80)
                        quotable = false;
        if (!quotable) {
                outf(p, "{%zu}\r\n", n);
                out_bytes(p, s, n);
                return;
        }
        out_bytes(p, "\"", 1);
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '"' || s[i] == '\\')
                        out_bytes(p, "\\", 1);
                out_bytes(p, s + i, 1);
        }
        out_bytes(p, "\"", 1);
}

static void out_flags(imap_proto *p, uint32_t f) {
        static const char *const names[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"};
        out_bytes(p, "(", 1);
        bool first = true;
        for (unsigned b = 0; b < ELEMENTSOF(names); b++)
                if (f & (1u << b)) {
                        if (!first)
                                out_bytes(p, " ", 1);
                        out_bytes(p, names[b], strlen(names[b]));
                        first = false;
                }
        out_bytes(p, ")", 1);
}

static int tagged(imap_proto *p, const char *tag, const char *fmt, ...) _printf_(3, 4);
static int tagged(imap_proto *p, const char *tag, const char *fmt, ...) {
        char buf[600];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        if ((size_t) n >= sizeof(buf))
                n = sizeof(buf) - 1;
        out_bytes(p, tag, strlen(tag));
        out_bytes(p, " ", 1);
        out_bytes(p, buf, (size_t) n);
        out_bytes(p, "\r\n", 2);
        if (strncmp(buf, "BAD", 3) == 0)
                p->errors++;
        return 0;
}

/* ------------------------------------------------------------ parsing */

struct cur {
        const char *s;
        size_t n, i;
};

static bool at_end(const struct cur *c) {
        return c->i >= c->n;
}

static bool eat(struct cur *c, char ch) {
        if (c->i < c->n && c->s[c->i] == ch) {
                c->i++;
                return true;
        }
        return false;
}

static bool atom_char(unsigned char ch, bool astring) {
        if (ch <= 0x20 || ch >= 0x7f)
                return false;
        if (strchr("(){%*\"\\", ch))
                return false;
        return astring || ch != ']';
}

/* An atom into buf (NUL-terminated); false if none or too long. */
static bool get_atom(struct cur *c, char *buf, size_t size) {
        size_t st = c->i;
        while (c->i < c->n && atom_char((unsigned char) c->s[c->i], false))
                c->i++;
        size_t n = c->i - st;
        if (n == 0 || n >= size) {
                c->i = st;
                return false;
        }
        memcpy(buf, c->s + st, n);
        buf[n] = 0;
        return true;
}

/* A string (quoted or literal) or, with allow_atom, an astring.  Returns a
 * malloc'ed copy (NUL-terminated; *ret_len the length) or NULL. */
static char *get_string_ex(struct cur *c, bool allow_atom, bool list_chars, size_t *ret_len) {
        size_t st = c->i;
        if (eat(c, '"')) {
                char *b = malloc(c->n - c->i + 1);
                size_t n = 0;
                if (!b)
                        return NULL;
                while (c->i < c->n && c->s[c->i] != '"') {
                        char ch = c->s[c->i++];
                        if (ch == '\\') {
                                if (c->i >= c->n || (c->s[c->i] != '"' && c->s[c->i] != '\\'))
                                        break;
                                ch = c->s[c->i++];
                        } else if (ch == '\r' || ch == '\n' || ch == 0) {
                                break;
                        }
                        b[n++] = ch;
                }
                if (!eat(c, '"')) {
                        free(b);
                        c->i = st;
                        return NULL;
                }
                b[n] = 0;
                if (ret_len)
                        *ret_len = n;
                return b;
        }
        if (eat(c, '{')) {
                size_t len = 0;
                bool digits = false;
                while (c->i < c->n && isdigit((unsigned char) c->s[c->i])) {
                        len = len * 10 + (size_t) (c->s[c->i++] - '0');
                        digits = true;
                        if (len > (1u << 30))
                                break;
                }
                (void) eat(c, '+');
                if (!digits || !eat(c, '}') || !eat(c, '\r') || !eat(c, '\n') || c->n - c->i < len) {
                        c->i = st;
                        return NULL;
                }
                char *b = malloc(len + 1);
                if (!b)
                        return NULL;
                memcpy(b, c->s + c->i, len);
                b[len] = 0;
                c->i += len;
                if (ret_len)
                        *ret_len = len;
                return b;
        }
        if (!allow_atom)
                return NULL;
        while (c->i < c->n && (atom_char((unsigned char) c->s[c->i], true) ||
                               (list_chars && (c->s[c->i] == '*' || c->s[c->i] == '%'))))
                c->i++;
        if (c->i == st)
                return NULL;
        char *b = strndup(c->s + st, c->i - st);
        if (b && ret_len)
                *ret_len = c->i - st;
        return b;
}

static char *get_string(struct cur *c, bool allow_atom, size_t *ret_len) {
        return get_string_ex(c, allow_atom, false, ret_len);
}

/* A mailbox name: astring; "INBOX" in any case is INBOX. */
static char *get_mailbox(struct cur *c) {
        size_t n = 0;
        char *m = get_string(c, true, &n);
        if (!m)
                return NULL;
        if (strlen(m) != n) { /* NUL inside */
                free(m);
                return NULL;
        }
        if (strcasecmp(m, "INBOX") == 0)
                memcpy(m, "INBOX", 5);
        return m;
}

static bool get_number(struct cur *c, uint64_t *ret) {
        size_t st = c->i;
        uint64_t v = 0;
        while (c->i < c->n && isdigit((unsigned char) c->s[c->i])) {
                v = v * 10 + (uint64_t) (c->s[c->i++] - '0');
                if (v > UINT32_MAX * 16ull) {
                        c->i = st;
                        return false;
                }
        }
        if (c->i == st)
                return false;
        *ret = v;
        return true;
}

static bool sp(struct cur *c) {
        return eat(c, ' ');
}

int imap_parse_seqset(const char *s, size_t len, uint32_t star, uint32_t **ret_ranges, size_t *ret_n) {
        struct cur c = {s, len, 0};
        uint32_t *v = NULL;
        size_t n = 0;
        for (;;) {
                uint64_t a, b;
                if (eat(&c, '*'))
                        a = star;
                else if (!get_number(&c, &a) || a == 0 || a > UINT32_MAX)
                        goto bad;
                b = a;
                if (eat(&c, ':')) {
                        if (eat(&c, '*'))
                                b = star;
                        else if (!get_number(&c, &b) || b == 0 || b > UINT32_MAX)
                                goto bad;
                }
                if (a > b) {
                        uint64_t t = a;
                        a = b;
                        b = t;
                }
                if (n >= 1024)
                        goto bad; /* bounded: a set is at most 1024 ranges */
                uint32_t *nv = realloc(v, (n + 1) * 2 * sizeof(uint32_t));
                if (!nv) {
                        free(v);
                        return -ENOMEM;
                }
                v = nv;
                v[2 * n] = (uint32_t) a;
                v[2 * n + 1] = (uint32_t) b;
                n++;
                if (!eat(&c, ','))
                        break;
        }
        if (!at_end(&c))
                goto bad;
        *ret_ranges = v;
        *ret_n = n;
        return 0;
bad:
        free(v);
        return -EINVAL;
}

/* A sequence-set token (atom of digits, ':', ',', '*'). */
static bool get_set_token(struct cur *c, const char **ret, size_t *ret_len) {
        size_t st = c->i;
        while (c->i < c->n && (isdigit((unsigned char) c->s[c->i]) || strchr(":,*", c->s[c->i])))
                c->i++;
        if (c->i == st)
                return false;
        *ret = c->s + st;
        *ret_len = c->i - st;
        return true;
}

/* Resolve a set to view indexes (ascending, unique) into sel[]. */
static int resolve_set(imap_proto *p, const char *s, size_t len, bool uid, bool *sel) {
        uint32_t star = 0;
        if (uid)
                star = p->v.n ? p->v.msgs[p->v.n - 1].uid : 0;
        else
                star = (uint32_t) p->v.n;
        if (star == 0)
                star = uid ? UINT32_MAX : 0;
        uint32_t *rg = NULL;
        size_t nr = 0;
        int r = imap_parse_seqset(s, len, star, &rg, &nr);
        if (r < 0)
                return r;
        for (size_t k = 0; k < nr; k++) {
                if (uid) {
                        for (size_t i = 0; i < p->v.n; i++)
                                if (p->v.msgs[i].uid >= rg[2 * k] && p->v.msgs[i].uid <= rg[2 * k + 1])
                                        sel[i] = true;
                } else {
                        if (rg[2 * k + 1] > p->v.n || rg[2 * k] == 0) {
                                free(rg);
                                return -ERANGE;
                        }
                        for (uint32_t i = rg[2 * k]; i <= rg[2 * k + 1]; i++)
                                sel[i - 1] = true;
                }
        }
        free(rg);
        return 0;
}

/* The messages SET names in the view: *ret_sel[i] for view index i and,
 * with ret_uids, their UIDs in view order (*ret_n of them; caller frees
 * both).  -EINVAL/-ERANGE for a bad set, -ENOMEM. */
static int select_set(imap_proto *p, const char *set, size_t sl, bool uid, bool **ret_sel, uint32_t **ret_uids,
                      size_t *ret_n) {
        size_t cap = p->v.n ? p->v.n : 1;
        bool *sel = calloc(cap, sizeof(bool));
        uint32_t *uids = ret_uids ? calloc(cap, sizeof(uint32_t)) : NULL;
        int r = sel && (uids || !ret_uids) ? resolve_set(p, set, sl, uid, sel) : -ENOMEM;
        if (r < 0) {
                free(sel);
                free(uids);
                return r;
        }
        size_t n = 0;
        for (size_t i = 0; i < p->v.n; i++)
                if (sel[i] && uids)
                        uids[n++] = p->v.msgs[i].uid;
        *ret_sel = sel;
        if (ret_uids) {
                *ret_uids = uids;
                *ret_n = n;
        }
        return 0;
}

static bool get_flag_list(struct cur *c, uint32_t *ret) {
        static const char *const names[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"};
        bool paren = eat(c, '(');
        uint32_t f = 0;
        bool first = true;
        for (;;) {
                if (paren && eat(c, ')'))
                        break;
                if (!first && !sp(c))
                        return false;
                first = false;
                char a[64];
                bool bs = eat(c, '\\');
                if (!get_atom(c, a, sizeof(a)))
                        return false;
                if (bs) {
                        bool known = false;
                        for (unsigned b = 0; b < ELEMENTSOF(names); b++)
                                if (strcasecmp(a, names[b] + 1) == 0) {
                                        f |= 1u << b;
                                        known = true;
                                }
                        if (!known && strcasecmp(a, "Recent") != 0)
                                return false;
                }
                /* keywords are accepted and not kept (PERMANENTFLAGS has no \*) */
                if (!paren)
                        break;
        }
        *ret = f;
        return true;
}

/* ------------------------------------------------------------ views */

static void view_free(struct imap_view *v) {
        free(v->msgs);
        memset(v, 0, sizeof(*v));
}

static void cache_drop(imap_proto *p) {
        free(p->cache_data);
        p->cache_data = NULL;
        p->cache_uid = 0;
}

static size_t find_uid(const struct imap_view *v, uint32_t uid) {
        size_t lo = 0, hi = v->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (v->msgs[mid].uid < uid)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < v->n && v->msgs[lo].uid == uid ? lo : SIZE_MAX;
}

/* Fold in changes made by others: EXPUNGE, EXISTS, FETCH FLAGS. */
static int sync_view(imap_proto *p, bool allow_expunge) {
        if (p->state != S_SELECTED)
                return 0;
        if (p->ops.changes && p->ops.changes(p->ud) == p->v.changes)
                return 0;
        struct imap_view nv;
        int r = p->ops.open(p->ud, p->folder, &nv);
        if (r < 0) {
                if (r == -ENOENT) { /* deleted under us */
                        outf(p, "* BYE folder deleted\r\n");
                        p->state = S_LOGOUT;
                }
                return 0;
        }
        if (nv.uid_validity != p->v.uid_validity) {
                /* Restored without the later logs (mailstore.md §8.1): the
                 * UIDs of this view mean other messages now.  RFC 3501 has
                 * no way to change UIDVALIDITY under a selected folder. */
                view_free(&nv);
                outf(p, "* BYE UIDVALIDITY changed (the mailbox was restored), reconnect\r\n");
                p->state = S_LOGOUT;
                return 0;
        }
        /* Expunged: in the old view, not in the new.  Without permission
         * to expunge, keep the old view (report later). */
        size_t gone = 0;
        for (size_t i = 0; i < p->v.n; i++)
                gone += find_uid(&nv, p->v.msgs[i].uid) == SIZE_MAX;
        if (gone && !allow_expunge) {
                view_free(&nv);
                return 0;
        }
        for (size_t i = p->v.n; i-- > 0;)
                if (find_uid(&nv, p->v.msgs[i].uid) == SIZE_MAX)
                        outf(p, "* %zu EXPUNGE\r\n", i + 1);
        /* Flags changed: by sequence number in the new view. */
        for (size_t i = 0; i < nv.n; i++) {
                size_t o = find_uid(&p->v, nv.msgs[i].uid);
                if (o != SIZE_MAX && p->v.msgs[o].flags != nv.msgs[i].flags) {
                        outf(p, "* %zu FETCH (FLAGS ", i + 1);
                        out_flags(p, nv.msgs[i].flags);
                        outf(p, " UID %u)\r\n", nv.msgs[i].uid);
                }
        }
        size_t old_n = p->v.n - gone;
        if (nv.n != old_n || gone)
                outf(p, "* %zu EXISTS\r\n", nv.n);
        view_free(&p->v);
        p->v = nv;
        return 0;
}

/* ------------------------------------------------------------ commands */

static const char *errtext(int r) {
        switch (r) {
        case -ENOENT:
                return "[NONEXISTENT] No such folder";
        case -EEXIST:
                return "[ALREADYEXISTS] Folder already exists";
        case -EINVAL:
                return "[CANNOT] Invalid folder name";
        case -EPERM:
                return "[CANNOT] Not allowed";
        case -ENOTEMPTY:
                return "[CANNOT] Folder has subfolders";
        case -EFBIG:
                return "[TOOBIG] Message too big";
        default:
                return "[SERVERBUG] Server failure";
        }
}

static const char *caps_extra(const imap_proto *p) {
        bool tls = p->limits.starttls && !p->tls_active && p->state == S_NOTAUTH;
        if (p->state != S_NOTAUTH)
                return "";
        if (p->limits.plaintext_ok)
                return tls ? " STARTTLS AUTH=PLAIN" : " AUTH=PLAIN";
        return tls ? " STARTTLS LOGINDISABLED" : " LOGINDISABLED";
}

static void cmd_capability(imap_proto *p, const char *tag) {
        outf(p, "* CAPABILITY " CAPS "%s\r\n", caps_extra(p));
        tagged(p, tag, "OK CAPABILITY completed");
}

static void do_login(imap_proto *p, const char *tag, const char *user, size_t ul, const char *pass, size_t pl) {
        if (!p->limits.plaintext_ok) {
                tagged(p, tag, "NO [PRIVACYREQUIRED] Plaintext LOGIN is disabled on this connection");
                return;
        }
        if (ul != strlen(user) || pl != strlen(pass) || ul == 0 || ul > 256) {
                p->errors++;
                tagged(p, tag, "NO [AUTHENTICATIONFAILED] Authentication failed");
                return;
        }
        int r = p->ops.login(p->ud, user, pass);
        if (r == -EUSERS) {
                tagged(p, tag, "NO [LIMIT] Too many sessions for this user");
                return;
        }
        if (r < 0) {
                p->errors++;
                tagged(p, tag, "NO [AUTHENTICATIONFAILED] Authentication failed");
                return;
        }
        free(p->user);
        p->user = strdup(user);
        p->state = S_AUTH;
        tagged(p, tag, "OK [CAPABILITY " CAPS "] Logged in");
}

static void cmd_login(imap_proto *p, const char *tag, struct cur *c) {
        _cleanup_free_ char *user = NULL, *pass = NULL;
        size_t ul = 0, pl = 0;
        if (!sp(c) || !(user = get_string(c, true, &ul)) || !sp(c) || !(pass = get_string(c, true, &pl)) ||
            !at_end(c)) {
                tagged(p, tag, "BAD LOGIN needs a user name and a password");
                return;
        }
        do_login(p, tag, user, ul, pass, pl);
}

/* Strict base64 (RFC 4648, padded); returns the decoded length or -1. */
static ssize_t b64_decode(const char *s, size_t n, char *out, size_t size) {
        static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        if (n % 4)
                return -1;
        size_t o = 0;
        for (size_t i = 0; i < n; i += 4) {
                uint32_t v = 0;
                int pad = 0;
                for (int k = 0; k < 4; k++) {
                        const char *q = s[i + k] ? strchr(al, s[i + k]) : NULL;
                        if (s[i + k] == '=' && i + 4 == n && k >= 2 && (k == 3 || s[i + 3] == '=')) {
                                pad++;
                                v <<= 6;
                                continue;
                        }
                        if (!q || pad)
                                return -1;
                        v = (v << 6) | (uint32_t) (q - al);
                }
                for (int k = 0; k < 3 - pad; k++) {
                        if (o >= size)
                                return -1;
                        out[o++] = (char) (v >> (16 - 8 * k));
                }
        }
        return (ssize_t) o;
}

/* SASL PLAIN response: [authzid] NUL authcid NUL password. */
static void auth_plain(imap_proto *p, const char *tag, const char *b64, size_t n) {
        char buf[1024];
        ssize_t l = b64_decode(b64, n, buf, sizeof(buf) - 1);
        const char *z1 = l > 0 ? memchr(buf, 0, (size_t) l) : NULL;
        const char *z2 = z1 ? memchr(z1 + 1, 0, (size_t) (buf + l - z1 - 1)) : NULL;
        if (!z2) {
                p->errors++;
                tagged(p, tag, "BAD Malformed AUTHENTICATE PLAIN response");
                return;
        }
        buf[l] = 0;
        const char *authz = buf, *user = z1 + 1, *pass = z2 + 1;
        if (*authz && strcmp(authz, user) != 0) {
                p->errors++;
                tagged(p, tag, "NO [AUTHORIZATIONFAILED] Authorization identity differs");
                return;
        }
        do_login(p, tag, user, strlen(user), pass, (size_t) (buf + l - pass));
        explicit_bzero(buf, sizeof(buf));
}

static void cmd_authenticate(imap_proto *p, const char *tag, struct cur *c) {
        char mech[32];
        if (!sp(c) || !get_atom(c, mech, sizeof(mech))) {
                tagged(p, tag, "BAD AUTHENTICATE needs a mechanism");
                return;
        }
        if (strcasecmp(mech, "PLAIN") != 0) {
                tagged(p, tag, "NO Unsupported authentication mechanism");
                return;
        }
        if (!p->limits.plaintext_ok) {
                tagged(p, tag, "NO [PRIVACYREQUIRED] Plaintext authentication is disabled on this connection");
                return;
        }
        if (sp(c)) { /* SASL-IR (RFC 4959) */
                const char *ir = c->s + c->i;
                size_t n = c->n - c->i;
                if (n == 1 && ir[0] == '=')
                        n = 0;
                auth_plain(p, tag, ir, n);
                return;
        }
        if (!at_end(c)) {
                tagged(p, tag, "BAD AUTHENTICATE: junk at the end");
                return;
        }
        snprintf(p->auth_tag, sizeof(p->auth_tag), "%s", tag);
        p->authenticating = true;
        outf(p, "+ \r\n");
}

static void close_folder(imap_proto *p) {
        view_free(&p->v);
        cache_drop(p);
        p->folder[0] = 0;
        if (p->state == S_SELECTED)
                p->state = S_AUTH;
}

static void cmd_select(imap_proto *p, const char *tag, struct cur *c, bool readonly) {
        _cleanup_free_ char *name = NULL;
        if (!sp(c) || !(name = get_mailbox(c)) || !at_end(c)) {
                tagged(p, tag, "BAD SELECT needs a folder name");
                return;
        }
        bool was = p->state == S_SELECTED;
        close_folder(p);
        if (was)
                outf(p, "* OK [CLOSED] Previous folder closed\r\n");
        if (strlen(name) > IMAP_MAX_NAME) {
                tagged(p, tag, "NO [NONEXISTENT] No such folder");
                return;
        }
        int r = p->ops.open(p->ud, name, &p->v);
        if (r < 0) {
                tagged(p, tag, "NO %s", errtext(r));
                return;
        }
        snprintf(p->folder, sizeof(p->folder), "%s", name);
        p->readonly = readonly;
        p->state = S_SELECTED;
        outf(p, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
        outf(p, "* %zu EXISTS\r\n* 0 RECENT\r\n", p->v.n);
        for (size_t i = 0; i < p->v.n; i++)
                if (!(p->v.msgs[i].flags & IMAP_FLAG_SEEN)) {
                        outf(p, "* OK [UNSEEN %zu] First unseen\r\n", i + 1);
                        break;
                }
        outf(p, "* OK [PERMANENTFLAGS (%s)] Flags permitted\r\n",
             readonly ? "" : "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
        outf(p, "* OK [UIDVALIDITY %u] UIDs valid\r\n", p->v.uid_validity);
        outf(p, "* OK [UIDNEXT %u] Predicted next UID\r\n", p->v.uid_next);
        tagged(p, tag, "OK [%s] %s completed", readonly ? "READ-ONLY" : "READ-WRITE", readonly ? "EXAMINE" : "SELECT");
}

static void cmd_folder1(imap_proto *p, const char *tag, struct cur *c, const char *verb) {
        _cleanup_free_ char *name = NULL;
        if (!sp(c) || !(name = get_mailbox(c)) || !at_end(c)) {
                tagged(p, tag, "BAD %s needs a folder name", verb);
                return;
        }
        int r;
        if (strcmp(verb, "CREATE") == 0) {
                size_t n = strlen(name);
                if (n > 0 && name[n - 1] == '/') /* "a/" means create a */
                        name[n - 1] = 0;
                /* Create the superior levels first (RFC 3501 6.3.3). */
                r = 0;
                for (char *s = strchr(name, '/'); s && r >= 0; s = strchr(s + 1, '/')) {
                        *s = 0;
                        r = p->ops.create(p->ud, name);
                        if (r == -EEXIST)
                                r = 0;
                        *s = '/';
                }
                if (r >= 0)
                        r = p->ops.create(p->ud, name);
        } else if (strcmp(verb, "DELETE") == 0) {
                if (p->state == S_SELECTED && strcmp(name, p->folder) == 0) {
                        tagged(p, tag, "NO [INUSE] Folder is selected");
                        return;
                }
                r = p->ops.delete_(p->ud, name);
        } else {
                bool on = strcmp(verb, "SUBSCRIBE") == 0;
                r = p->ops.subscribe(p->ud, name, on);
        }
        if (r < 0)
                tagged(p, tag, "NO %s", errtext(r));
        else
                tagged(p, tag, "OK %s completed", verb);
}

static void cmd_rename(imap_proto *p, const char *tag, struct cur *c) {
        _cleanup_free_ char *from = NULL, *to = NULL;
        if (!sp(c) || !(from = get_mailbox(c)) || !sp(c) || !(to = get_mailbox(c)) || !at_end(c)) {
                tagged(p, tag, "BAD RENAME needs two folder names");
                return;
        }
        int r = p->ops.rename(p->ud, from, to);
        if (r < 0)
                tagged(p, tag, "NO %s", errtext(r));
        else
                tagged(p, tag, "OK RENAME completed");
}

bool imap_list_match(const char *pat, const char *name) {
        for (;; pat++, name++) {
                if (*pat == '*') {
                        for (const char *s = name;; s++) {
                                if (imap_list_match(pat + 1, s))
                                        return true;
                                if (!*s)
                                        return false;
                        }
                }
                if (*pat == '%') {
                        for (const char *s = name;; s++) {
                                if (imap_list_match(pat + 1, s))
                                        return true;
                                if (!*s || *s == '/')
                                        return false;
                        }
                }
                if (*pat != *name)
                        return false;
                if (!*pat)
                        return true;
        }
}

static void cmd_list(imap_proto *p, const char *tag, struct cur *c, bool lsub) {
        _cleanup_free_ char *ref = NULL, *pat = NULL;
        if (!sp(c) || !(ref = get_string(c, true, NULL)) || !sp(c) || !(pat = get_string_ex(c, true, true, NULL)) ||
            !at_end(c)) {
                tagged(p, tag, "BAD %s needs a reference and a pattern", lsub ? "LSUB" : "LIST");
                return;
        }
        const char *verb = lsub ? "LSUB" : "LIST";
        if (!*pat) {
                outf(p, "* %s (\\Noselect) \"/\" \"\"\r\n", verb);
                tagged(p, tag, "OK %s completed", verb);
                return;
        }
        _cleanup_free_ char *full = NULL;
        if (asprintf(&full, "%s%s", ref, pat) < 0) {
                tagged(p, tag, "NO [SERVERBUG] Out of memory");
                return;
        }
        struct imap_folder *f = NULL;
        size_t n = 0;
        int r = p->ops.list(p->ud, &f, &n);
        if (r < 0) {
                tagged(p, tag, "NO %s", errtext(r));
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const char *name = f[i].name;
                bool m = imap_list_match(full, name) ||
                         (strcmp(name, "INBOX") == 0 && strncasecmp(full, "inbox", 5) == 0 &&
                          imap_list_match(full + 5, ""));
                if (!m || (lsub && !f[i].subscribed))
                        continue;
                size_t nl = strlen(name);
                bool children = false;
                for (size_t k = 0; k < n; k++)
                        children |= strncmp(f[k].name, name, nl) == 0 && f[k].name[nl] == '/';
                outf(p, "* %s (%s) \"/\" ", verb, children ? "\\HasChildren" : "\\HasNoChildren");
                out_string(p, name, nl);
                outf(p, "\r\n");
        }
        free(f);
        tagged(p, tag, "OK %s completed", verb);
}

static void cmd_status(imap_proto *p, const char *tag, struct cur *c) {
        _cleanup_free_ char *name = NULL;
        if (!sp(c) || !(name = get_mailbox(c)) || !sp(c) || !eat(c, '(')) {
                tagged(p, tag, "BAD STATUS needs a folder and a list of items");
                return;
        }
        unsigned want = 0;
        static const char *const items[] = {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN"};
        for (bool first = true; !eat(c, ')'); first = false) {
                char a[32];
                if ((!first && !sp(c)) || !get_atom(c, a, sizeof(a))) {
                        tagged(p, tag, "BAD STATUS: bad item list");
                        return;
                }
                unsigned k;
                for (k = 0; k < ELEMENTSOF(items) && strcasecmp(a, items[k]) != 0; k++)
                        ;
                if (k == ELEMENTSOF(items)) {
                        tagged(p, tag, "BAD STATUS: unknown item %s", a);
                        return;
                }
                want |= 1u << k;
        }
        if (!at_end(c)) {
                tagged(p, tag, "BAD STATUS: junk at the end");
                return;
        }
        struct imap_view v;
        int r = p->ops.open(p->ud, name, &v);
        if (r < 0) {
                tagged(p, tag, "NO %s", errtext(r));
                return;
        }
        size_t unseen = 0;
        for (size_t i = 0; i < v.n; i++)
                unseen += !(v.msgs[i].flags & IMAP_FLAG_SEEN);
        outf(p, "* STATUS ");
        out_string(p, name, strlen(name));
        outf(p, " (");
        const char *sep = "";
        uint64_t vals[] = {v.n, 0, v.uid_next, v.uid_validity, unseen};
        for (unsigned k = 0; k < ELEMENTSOF(items); k++)
                if (want & (1u << k)) {
                        outf(p, "%s%s %llu", sep, items[k], (unsigned long long) vals[k]);
                        sep = " ";
                }
        outf(p, ")\r\n");
        view_free(&v);
        tagged(p, tag, "OK STATUS completed");
}

/* ---- FETCH */

enum fitem_kind { F_FLAGS, F_UID, F_INTERNALDATE, F_SIZE, F_ENVELOPE, F_BODYSTRUCTURE, F_BODY, F_SECTION };

struct fitem {
        enum fitem_kind kind;
        bool peek;
        char name[32];       /* response name: "BODY", "RFC822", "RFC822.HEADER", "RFC822.TEXT" */
        char section[256];   /* the section spec as given (upper-cased keywords) */
        bool partial;
        uint64_t p_off, p_len;
};

static int parse_section(struct cur *c, struct fitem *f) {
        /* section: "[" [section-spec] "]" already opened */
        size_t st = c->i;
        int depth = 0;
        while (c->i < c->n && (c->s[c->i] != ']' || depth > 0)) {
                if (c->s[c->i] == '(')
                        depth++;
                else if (c->s[c->i] == ')')
                        depth--;
                else if (c->s[c->i] == '\r' || c->s[c->i] == '{')
                        return -EINVAL;
                c->i++;
        }
        if (!eat(c, ']') || c->i - 1 - st >= sizeof(f->section))
                return -EINVAL;
        memcpy(f->section, c->s + st, c->i - 1 - st);
        f->section[c->i - 1 - st] = 0;
        if (eat(c, '<')) {
                uint64_t o, l;
                if (!get_number(c, &o) || !eat(c, '.') || !get_number(c, &l) || !eat(c, '>') || l == 0)
                        return -EINVAL;
                f->partial = true;
                f->p_off = o;
                f->p_len = l;
        }
        return imap_mime_section_valid(f->section) ? 0 : -EINVAL;
}

static int parse_fitem(struct cur *c, struct fitem *f) {
        char a[32];
        memset(f, 0, sizeof(*f));
        size_t st = c->i;
        while (c->i < c->n && (isalnum((unsigned char) c->s[c->i]) || c->s[c->i] == '.'))
                c->i++;
        if (c->i == st || c->i - st >= sizeof(a))
                return -EINVAL;
        memcpy(a, c->s + st, c->i - st);
        a[c->i - st] = 0;
        if (strcasecmp(a, "FLAGS") == 0)
                f->kind = F_FLAGS;
        else if (strcasecmp(a, "UID") == 0)
                f->kind = F_UID;
        else if (strcasecmp(a, "INTERNALDATE") == 0)
                f->kind = F_INTERNALDATE;
        else if (strcasecmp(a, "RFC822.SIZE") == 0)
                f->kind = F_SIZE;
        else if (strcasecmp(a, "ENVELOPE") == 0)
                f->kind = F_ENVELOPE;
        else if (strcasecmp(a, "BODYSTRUCTURE") == 0)
                f->kind = F_BODYSTRUCTURE;
        else if (strcasecmp(a, "RFC822") == 0 || strcasecmp(a, "RFC822.HEADER") == 0 ||
                 strcasecmp(a, "RFC822.TEXT") == 0) {
                f->kind = F_SECTION;
                f->peek = strcasecmp(a, "RFC822.HEADER") == 0;
                snprintf(f->name, sizeof(f->name), "%s", a);
                for (char *q = f->name; *q; q++)
                        *q = (char) toupper((unsigned char) *q);
                snprintf(f->section, sizeof(f->section), "%s",
                         strcasecmp(a, "RFC822") == 0 ? "" : strcasecmp(a, "RFC822.HEADER") == 0 ? "HEADER" : "TEXT");
        } else if (strcasecmp(a, "BODY") == 0 || strcasecmp(a, "BODY.PEEK") == 0) {
                f->peek = strcasecmp(a, "BODY.PEEK") == 0;
                if (!eat(c, '[')) {
                        if (f->peek)
                                return -EINVAL;
                        f->kind = F_BODY;
                        return 0;
                }
                f->kind = F_SECTION;
                strcpy(f->name, "BODY");
                return parse_section(c, f);
        } else
                return -EINVAL;
        return 0;
}

static int parse_fetch_items(struct cur *c, struct fitem **ret, size_t *ret_n) {
        struct fitem *v = NULL;
        size_t n = 0, cap = 0;
        const char *macro = NULL;
        if (c->i + 3 <= c->n && strncasecmp(c->s + c->i, "ALL", 3) == 0 && c->i + 3 == c->n)
                macro = "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE";
        else if (c->i + 4 <= c->n && strncasecmp(c->s + c->i, "FAST", 4) == 0 && c->i + 4 == c->n)
                macro = "FLAGS INTERNALDATE RFC822.SIZE";
        else if (c->i + 4 <= c->n && strncasecmp(c->s + c->i, "FULL", 4) == 0 && c->i + 4 == c->n)
                macro = "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY";
        struct cur mc;
        struct cur *src = c;
        bool paren = false;
        if (macro) {
                mc = (struct cur){macro, strlen(macro), 0};
                src = &mc;
                c->i = c->n;
                paren = true; /* a list without the parentheses */
        } else
                paren = eat(c, '(');
        for (bool first = true;; first = false) {
                if (src == c && paren && eat(c, ')'))
                        break;
                if (src != c && at_end(src))
                        break;
                if (!first && !sp(src))
                        goto bad;
                if (n >= 64)
                        goto bad;
                if (ARRAY_RESERVE_ONE(v, cap, n, 8) < 0)
                        goto bad;
                if (parse_fitem(src, &v[n]) < 0)
                        goto bad;
                n++;
                if (!paren)
                        break;
        }
        if (!at_end(c))
                goto bad;
        *ret = v;
        *ret_n = n;
        return 0;
bad:
        free(v);
        return -EINVAL;
}

static int get_msg(imap_proto *p, uint32_t uid, const void **data, size_t *size) {
        if (p->cache_data && p->cache_uid == uid) {
                *data = p->cache_data;
                *size = p->cache_size;
                return 0;
        }
        cache_drop(p);
        void *d = NULL;
        size_t n = 0;
        int r = p->ops.fetch(p->ud, uid, &d, &n);
        if (r < 0)
                return r;
        p->cache_data = d;
        p->cache_size = n;
        p->cache_uid = uid;
        *data = d;
        *size = n;
        return 0;
}

static void out_internaldate(imap_proto *p, uint64_t t) {
        static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        time_t tt = (time_t) t;
        struct tm tm;
        if (!gmtime_r(&tt, &tm))
                memset(&tm, 0, sizeof(tm));
        outf(p, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* One FETCH response for view index i.  Returns false if the message is
 * gone (expunged by another session before we could read it). */
static bool fetch_one(imap_proto *p, size_t i, const struct fitem *it, size_t n, bool uid_cmd) {
        struct imap_msg *m = &p->v.msgs[i];
        bool set_seen = false;
        for (size_t k = 0; k < n; k++)
                if (it[k].kind == F_SECTION && !it[k].peek && !p->readonly && !(m->flags & IMAP_FLAG_SEEN))
                        set_seen = true;
        if (set_seen) {
                uint32_t nf = 0;
                if (p->ops.store(p->ud, &m->uid, 1, 1, IMAP_FLAG_SEEN, &nf) >= 0 && nf != UINT32_MAX)
                        m->flags = nf;
        }
        outf(p, "* %zu FETCH (", i + 1);
        const char *sep = "";
        bool did_uid = false, did_flags = false;
        for (size_t k = 0; k < n; k++) {
                const struct fitem *f = &it[k];
                const void *data = NULL;
                size_t size = 0;
                switch (f->kind) {
                case F_FLAGS:
                        outf(p, "%sFLAGS ", sep);
                        out_flags(p, m->flags);
                        did_flags = true;
                        break;
                case F_UID:
                        outf(p, "%sUID %u", sep, m->uid);
                        did_uid = true;
                        break;
                case F_INTERNALDATE:
                        outf(p, "%sINTERNALDATE ", sep);
                        out_internaldate(p, m->time);
                        break;
                case F_SIZE:
                        outf(p, "%sRFC822.SIZE %llu", sep, (unsigned long long) m->size);
                        break;
                case F_ENVELOPE:
                case F_BODYSTRUCTURE:
                case F_BODY:
                case F_SECTION: {
                        if (get_msg(p, m->uid, &data, &size) < 0) {
                                outf(p, "%sUID %u)\r\n", sep, m->uid);
                                return false;
                        }
                        char *txt = NULL;
                        size_t tl = 0;
                        int r;
                        if (f->kind == F_ENVELOPE)
                                r = imap_mime_envelope(data, size, &txt, &tl);
                        else if (f->kind == F_SECTION)
                                r = imap_mime_section(data, size, f->section, &txt, &tl);
                        else
                                r = imap_mime_bodystructure(data, size, f->kind == F_BODYSTRUCTURE, &txt, &tl);
                        if (r < 0) {
                                txt = NULL;
                                tl = 0;
                        }
                        if (f->kind == F_ENVELOPE)
                                outf(p, "%sENVELOPE ", sep);
                        else if (f->kind == F_BODYSTRUCTURE)
                                outf(p, "%sBODYSTRUCTURE ", sep);
                        else if (f->kind == F_BODY)
                                outf(p, "%sBODY ", sep);
                        if (f->kind != F_SECTION) {
                                if (txt)
                                        out_bytes(p, txt, tl);
                                else
                                        outf(p, "NIL");
                                free(txt);
                                break;
                        }
                        if (strcmp(f->name, "BODY") == 0)
                                outf(p, "%sBODY[%s]", sep, f->section);
                        else
                                outf(p, "%s%s", sep, f->name);
                        const char *b = txt ? txt : "";
                        size_t bl = tl;
                        if (f->partial) {
                                outf(p, "<%llu>", (unsigned long long) f->p_off);
                                if (f->p_off >= bl)
                                        bl = 0;
                                else {
                                        b += f->p_off;
                                        bl -= f->p_off;
                                        if (bl > f->p_len)
                                                bl = f->p_len;
                                }
                        }
                        if (r < 0)
                                outf(p, " NIL");
                        else {
                                outf(p, " {%zu}\r\n", bl);
                                out_bytes(p, b, bl);
                        }
                        free(txt);
                        break;
                }
                }
                sep = " ";
        }
        if (uid_cmd && !did_uid)
                outf(p, "%sUID %u", sep, m->uid);
        if (set_seen && !did_flags) {
                outf(p, " FLAGS ");
                out_flags(p, m->flags);
        }
        outf(p, ")\r\n");
        return true;
}

static void cmd_fetch(imap_proto *p, const char *tag, struct cur *c, bool uid) {
        const char *set;
        size_t sl;
        struct fitem *it = NULL;
        size_t n = 0;
        if (!sp(c) || !get_set_token(c, &set, &sl) || !sp(c) || parse_fetch_items(c, &it, &n) < 0) {
                tagged(p, tag, "BAD %sFETCH: bad arguments", uid ? "UID " : "");
                return;
        }
        bool *sel = NULL;
        if (select_set(p, set, sl, uid, &sel, NULL, NULL) < 0) {
                tagged(p, tag, "BAD %sFETCH: invalid message set", uid ? "UID " : "");
                free(it);
                return;
        }
        bool gone = false;
        for (size_t i = 0; i < p->v.n && !p->write_error; i++)
                if (sel[i] && !fetch_one(p, i, it, n, uid))
                        gone = true;
        free(sel);
        free(it);
        if (gone)
                tagged(p, tag, "NO Some messages were expunged and could not be fetched");
        else
                tagged(p, tag, "OK %sFETCH completed", uid ? "UID " : "");
}

static void cmd_store(imap_proto *p, const char *tag, struct cur *c, bool uid) {
        const char *set;
        size_t sl;
        char what[32];
        uint32_t flags = 0;
        if (!sp(c) || !get_set_token(c, &set, &sl) || !sp(c) || !get_atom(c, what, sizeof(what)) || !sp(c) ||
            !get_flag_list(c, &flags) || !at_end(c)) {
                tagged(p, tag, "BAD %sSTORE: bad arguments", uid ? "UID " : "");
                return;
        }
        int mode;
        bool silent = strcasestr(what, ".SILENT") != NULL;
        if (strncasecmp(what, "+FLAGS", 6) == 0)
                mode = 1;
        else if (strncasecmp(what, "-FLAGS", 6) == 0)
                mode = -1;
        else if (strncasecmp(what, "FLAGS", 5) == 0)
                mode = 0;
        else {
                tagged(p, tag, "BAD STORE: unknown item %s", what);
                return;
        }
        if (p->readonly) {
                tagged(p, tag, "NO [READ-ONLY] Folder is read-only");
                return;
        }
        bool *sel = NULL;
        uint32_t *uids = NULL;
        size_t n = 0;
        int r = select_set(p, set, sl, uid, &sel, &uids, &n);
        uint32_t *nf = r >= 0 ? calloc(n ? n : 1, sizeof(uint32_t)) : NULL;
        if (r < 0 || !nf)
                tagged(p, tag, "BAD %sSTORE: invalid message set", uid ? "UID " : "");
        else if (n > 0 && (r = p->ops.store(p->ud, uids, n, mode, flags, nf)) < 0)
                tagged(p, tag, "NO %s", errtext(r));
        else {
                bool gone = false;
                for (size_t k = 0, i = 0; k < n; k++) {
                        while (p->v.msgs[i].uid != uids[k])
                                i++;
                        if (nf[k] == UINT32_MAX) {
                                gone = true;
                                continue;
                        }
                        p->v.msgs[i].flags = nf[k];
                        if (!silent) {
                                outf(p, "* %zu FETCH (FLAGS ", i + 1);
                                out_flags(p, nf[k]);
                                if (uid)
                                        outf(p, " UID %u", uids[k]);
                                outf(p, ")\r\n");
                        }
                }
                if (gone)
                        tagged(p, tag, "NO Some messages were expunged");
                else
                        tagged(p, tag, "OK %sSTORE completed", uid ? "UID " : "");
        }
        free(sel);
        free(uids);
        free(nf);
}

/* Expunge \Deleted messages (of sel if given).  With report, EXPUNGE
 * responses; the view drops them in any case. */
static int do_expunge(imap_proto *p, const bool *sel, bool report) {
        uint32_t *uids = calloc(p->v.n ? p->v.n : 1, sizeof(uint32_t));
        if (!uids)
                return -ENOMEM;
        size_t n = 0;
        for (size_t i = 0; i < p->v.n; i++)
                if ((p->v.msgs[i].flags & IMAP_FLAG_DELETED) && (!sel || sel[i]))
                        uids[n++] = p->v.msgs[i].uid;
        int r = n ? p->ops.expunge(p->ud, uids, n) : 0;
        if (r >= 0) {
                for (size_t k = n; k-- > 0;) {
                        size_t i = find_uid(&p->v, uids[k]);
                        if (i == SIZE_MAX)
                                continue;
                        if (report)
                                outf(p, "* %zu EXPUNGE\r\n", i + 1);
                        memmove(p->v.msgs + i, p->v.msgs + i + 1, (p->v.n - i - 1) * sizeof(*p->v.msgs));
                        p->v.n--;
                }
                cache_drop(p);
        }
        free(uids);
        return r;
}

static void cmd_expunge(imap_proto *p, const char *tag, struct cur *c, bool uid) {
        bool *sel = NULL;
        if (uid) {
                const char *set;
                size_t sl;
                if (!sp(c) || !get_set_token(c, &set, &sl) || !at_end(c) ||
                    select_set(p, set, sl, true, &sel, NULL, NULL) < 0) {
                        tagged(p, tag, "BAD UID EXPUNGE needs a UID set");
                        return;
                }
        } else if (!at_end(c)) {
                tagged(p, tag, "BAD EXPUNGE takes no arguments");
                return;
        }
        if (p->readonly) {
                free(sel);
                tagged(p, tag, "NO [READ-ONLY] Folder is read-only");
                return;
        }
        int r = do_expunge(p, sel, true);
        free(sel);
        if (r < 0)
                tagged(p, tag, "NO %s", errtext(r));
        else
                tagged(p, tag, "OK %sEXPUNGE completed", uid ? "UID " : "");
}

/* "1:3,5" from a sorted UID array. */
static void out_uidset(imap_proto *p, const uint32_t *u, size_t n) {
        for (size_t k = 0; k < n;) {
                size_t e = k;
                while (e + 1 < n && u[e + 1] == u[e] + 1)
                        e++;
                if (e > k)
                        outf(p, "%s%u:%u", k ? "," : "", u[k], u[e]);
                else
                        outf(p, "%s%u", k ? "," : "", u[k]);
                k = e + 1;
        }
}

static void cmd_copy(imap_proto *p, const char *tag, struct cur *c, bool uid) {
        const char *set;
        size_t sl;
        _cleanup_free_ char *dest = NULL;
        if (!sp(c) || !get_set_token(c, &set, &sl) || !sp(c) || !(dest = get_mailbox(c)) || !at_end(c)) {
                tagged(p, tag, "BAD %sCOPY: bad arguments", uid ? "UID " : "");
                return;
        }
        bool *sel = NULL;
        uint32_t *uids = NULL;
        size_t n = 0;
        int r = select_set(p, set, sl, uid, &sel, &uids, &n);
        uint32_t *nu = r >= 0 ? calloc(n ? n : 1, sizeof(uint32_t)) : NULL;
        uint32_t validity = 0;
        if (r < 0 || !nu)
                tagged(p, tag, "BAD %sCOPY: invalid message set", uid ? "UID " : "");
        else if (strlen(dest) > IMAP_MAX_NAME)
                tagged(p, tag, "NO [TRYCREATE] No such folder");
        else if (n > 0 && (r = p->ops.copy(p->ud, uids, n, dest, nu, &validity)) < 0)
                tagged(p, tag, "NO %s", r == -ENOENT ? "[TRYCREATE] No such folder" : errtext(r));
        else {
                size_t m = 0;
                for (size_t k = 0; k < n; k++)
                        if (nu[k]) {
                                uids[m] = uids[k];
                                nu[m++] = nu[k];
                        }
                if (m > 0) {
                        out_bytes(p, tag, strlen(tag));
                        outf(p, " OK [COPYUID %u ", validity);
                        out_uidset(p, uids, m);
                        outf(p, " ");
                        out_uidset(p, nu, m);
                        outf(p, "] %sCOPY completed\r\n", uid ? "UID " : "");
                } else
                        tagged(p, tag, "OK %sCOPY completed", uid ? "UID " : "");
        }
        free(sel);
        free(uids);
        free(nu);
}

/* Digits at *s (exactly n of them, or 1..n with !exact): the value, or -1. */
static int digits(const char **s, int n, bool exact) {
        int v = 0, k = 0;
        while (k < n && isdigit((unsigned char) (*s)[k])) {
                v = v * 10 + ((*s)[k] - '0');
                k++;
        }
        if (k == 0 || (exact && k != n))
                return -1;
        *s += k;
        return v;
}

/* date-time = "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be " d" or "d"). */
static int parse_datetime(const char *s, uint64_t *ret) {
        static const char mon[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        if (*s == ' ')
                s++;
        int d = digits(&s, 2, false);
        if (d < 0 || *s++ != '-' || strlen(s) < 4 || s[3] != '-')
                return -EINVAL;
        char m[4] = {s[0], s[1], s[2], 0};
        s += 4;
        int y = digits(&s, 4, true);
        int hh = *s++ == ' ' ? digits(&s, 2, true) : -1;
        int mm = hh >= 0 && *s++ == ':' ? digits(&s, 2, true) : -1;
        int ss = mm >= 0 && *s++ == ':' ? digits(&s, 2, true) : -1;
        char sign = ss >= 0 && *s++ == ' ' ? *s++ : 0;
        int z = sign ? digits(&s, 4, true) : -1;
        const char *f = strcasestr(mon, m);
        if (!f || (f - mon) % 3 || d < 1 || d > 31 || y < 1970 || hh < 0 || hh > 23 || mm < 0 || mm > 59 ||
            ss < 0 || ss > 60 || (sign != '+' && sign != '-') || z < 0 || *s)
                return -EINVAL;
        struct tm tm = {.tm_mday = d, .tm_mon = (int) ((f - mon) / 3), .tm_year = y - 1900,
                        .tm_hour = hh, .tm_min = mm, .tm_sec = ss};
        time_t t = timegm(&tm);
        long off = (z / 100) * 3600 + (z % 100) * 60;
        t -= sign == '+' ? off : -off;
        *ret = t < 0 ? 0 : (uint64_t) t;
        return 0;
}

static void cmd_append(imap_proto *p, const char *tag, struct cur *c) {
        _cleanup_free_ char *name = NULL, *date = NULL, *msg = NULL;
        uint32_t flags = 0;
        uint64_t t = 0;
        size_t ml = 0;
        if (!sp(c) || !(name = get_mailbox(c)) || !sp(c))
                goto bad;
        if (c->i < c->n && c->s[c->i] == '(') {
                if (!get_flag_list(c, &flags) || !sp(c))
                        goto bad;
        }
        if (c->i < c->n && c->s[c->i] == '"') {
                if (!(date = get_string(c, false, NULL)) || parse_datetime(date, &t) < 0 || !sp(c))
                        goto bad;
        }
        if (c->i >= c->n || c->s[c->i] != '{' || !(msg = get_string(c, false, &ml)) || !at_end(c))
                goto bad;
        uint32_t u = 0, validity = 0;
        int r = strlen(name) > IMAP_MAX_NAME ? -ENOENT : p->ops.append(p->ud, name, msg, ml, flags, t, &u, &validity);
        if (r < 0)
                tagged(p, tag, "NO %s", r == -ENOENT ? "[TRYCREATE] No such folder" : errtext(r));
        else
                tagged(p, tag, "OK [APPENDUID %u %u] APPEND completed", validity, u);
        return;
bad:
        tagged(p, tag, "BAD APPEND: bad arguments");
}

/* ---- SEARCH */

struct skey;
static bool search_eval(imap_proto *p, struct cur *c, size_t i, int depth, bool *ok);

static bool contains_ci(const char *h, size_t hl, const char *n) {
        size_t nl = strlen(n);
        if (nl == 0)
                return true;
        for (size_t k = 0; k + nl <= hl; k++)
                if (strncasecmp(h + k, n, nl) == 0)
                        return true;
        return false;
}

static bool search_text(imap_proto *p, size_t i, const char *section, const char *field, const char *needle) {
        const void *data;
        size_t size;
        if (get_msg(p, p->v.msgs[i].uid, &data, &size) < 0)
                return false;
        char *txt = NULL;
        size_t tl = 0;
        if (field) {
                char *sec = NULL;
                if (asprintf(&sec, "HEADER.FIELDS (%s)", field) < 0)
                        return false;
                int r = imap_mime_section(data, size, sec, &txt, &tl);
                free(sec);
                if (r < 0)
                        return false;
                /* skip "Field:" names: match values only, roughly */
                bool m = false;
                size_t fl = strlen(field);
                for (size_t k = 0; k < tl;) {
                        const char *eol = memchr(txt + k, '\n', tl - k);
                        size_t ll = eol ? (size_t) (eol - (txt + k)) : tl - k;
                        size_t from = ll > fl && strncasecmp(txt + k, field, fl) == 0 && txt[k + fl] == ':' ? fl + 1 : 0;
                        if (contains_ci(txt + k + from, ll - from, needle))
                                m = true;
                        k += ll + 1;
                }
                free(txt);
                return m && tl > 0;
        }
        if (imap_mime_section(data, size, section, &txt, &tl) < 0)
                return false;
        bool m = contains_ci(txt, tl, needle);
        free(txt);
        return m;
}

static bool parse_date(const char *s, uint64_t *ret) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s 00:00:00 +0000", s);
        return parse_datetime(buf, ret) == 0;
}

/* Evaluate one search key at c for message i; advances c. */
static bool search_key(imap_proto *p, struct cur *c, size_t i, int depth, bool *ok) {
        struct imap_msg *m = &p->v.msgs[i];
        if (depth > 16) {
                *ok = false;
                return false;
        }
        if (eat(c, '(')) {
                bool all = true;
                for (bool first = true; !eat(c, ')'); first = false) {
                        if ((!first && !sp(c)) || at_end(c)) {
                                *ok = false;
                                return false;
                        }
                        all &= search_key(p, c, i, depth + 1, ok);
                        if (!*ok)
                                return false;
                }
                return all;
        }
        if (c->i < c->n && (isdigit((unsigned char) c->s[c->i]) || c->s[c->i] == '*')) {
                const char *set;
                size_t sl;
                uint32_t *rg = NULL;
                size_t nr = 0;
                if (!get_set_token(c, &set, &sl) || imap_parse_seqset(set, sl, (uint32_t) p->v.n, &rg, &nr) < 0) {
                        *ok = false;
                        return false;
                }
                bool in = false;
                for (size_t k = 0; k < nr; k++)
                        in |= i + 1 >= rg[2 * k] && i + 1 <= rg[2 * k + 1];
                free(rg);
                return in;
        }
        char a[32];
        if (!get_atom(c, a, sizeof(a))) {
                *ok = false;
                return false;
        }
        static const struct {
                const char *name;
                uint32_t flag;
                bool set;
        } fl[] = {
                {"ANSWERED", IMAP_FLAG_ANSWERED, true}, {"DELETED", IMAP_FLAG_DELETED, true},
                {"DRAFT", IMAP_FLAG_DRAFT, true},       {"FLAGGED", IMAP_FLAG_FLAGGED, true},
                {"SEEN", IMAP_FLAG_SEEN, true},         {"UNANSWERED", IMAP_FLAG_ANSWERED, false},
                {"UNDELETED", IMAP_FLAG_DELETED, false}, {"UNDRAFT", IMAP_FLAG_DRAFT, false},
                {"UNFLAGGED", IMAP_FLAG_FLAGGED, false}, {"UNSEEN", IMAP_FLAG_SEEN, false},
                {"OLD", 0, false},                      {"ALL", 0, false},
        };
        for (size_t k = 0; k < ELEMENTSOF(fl); k++)
                if (strcasecmp(a, fl[k].name) == 0)
                        return fl[k].flag == 0 ? true : ((m->flags & fl[k].flag) != 0) == fl[k].set;
        if (strcasecmp(a, "NEW") == 0 || strcasecmp(a, "RECENT") == 0)
                return false;
        if (strcasecmp(a, "NOT") == 0) {
                if (!sp(c)) {
                        *ok = false;
                        return false;
                }
                return !search_key(p, c, i, depth + 1, ok);
        }
        if (strcasecmp(a, "OR") == 0) {
                if (!sp(c)) {
                        *ok = false;
                        return false;
                }
                bool x = search_key(p, c, i, depth + 1, ok);
                if (!*ok || !sp(c)) {
                        *ok = false;
                        return false;
                }
                bool y = search_key(p, c, i, depth + 1, ok);
                return x || y;
        }
        if (strcasecmp(a, "UID") == 0) {
                const char *set;
                size_t sl;
                uint32_t *rg = NULL;
                size_t nr = 0;
                uint32_t star = p->v.n ? p->v.msgs[p->v.n - 1].uid : UINT32_MAX;
                if (!sp(c) || !get_set_token(c, &set, &sl) || imap_parse_seqset(set, sl, star, &rg, &nr) < 0) {
                        *ok = false;
                        return false;
                }
                bool in = false;
                for (size_t k = 0; k < nr; k++)
                        in |= m->uid >= rg[2 * k] && m->uid <= rg[2 * k + 1];
                free(rg);
                return in;
        }
        if (strcasecmp(a, "LARGER") == 0 || strcasecmp(a, "SMALLER") == 0) {
                uint64_t v;
                if (!sp(c) || !get_number(c, &v)) {
                        *ok = false;
                        return false;
                }
                return strcasecmp(a, "LARGER") == 0 ? m->size > v : m->size < v;
        }
        if (strcasecmp(a, "BEFORE") == 0 || strcasecmp(a, "ON") == 0 || strcasecmp(a, "SINCE") == 0 ||
            strcasecmp(a, "SENTBEFORE") == 0 || strcasecmp(a, "SENTON") == 0 || strcasecmp(a, "SENTSINCE") == 0) {
                _cleanup_free_ char *d = NULL;
                uint64_t t;
                if (!sp(c) || !(d = get_string(c, true, NULL)) || !parse_date(d, &t)) {
                        *ok = false;
                        return false;
                }
                /* SENT* use the internal date too (documented). */
                const char *k = a[0] == 'S' && a[1] == 'E' && a[2] == 'N' ? a + 4 : a;
                uint64_t day = m->time - m->time % 86400;
                if (strcasecmp(k, "BEFORE") == 0)
                        return day < t;
                if (strcasecmp(k, "ON") == 0)
                        return day == t;
                return day >= t;
        }
        if (strcasecmp(a, "KEYWORD") == 0 || strcasecmp(a, "UNKEYWORD") == 0) {
                char kw[64];
                if (!sp(c) || !get_atom(c, kw, sizeof(kw))) {
                        *ok = false;
                        return false;
                }
                return strcasecmp(a, "UNKEYWORD") == 0;
        }
        static const char *const hdr[] = {"FROM", "TO", "CC", "BCC", "SUBJECT"};
        for (size_t k = 0; k < ELEMENTSOF(hdr); k++)
                if (strcasecmp(a, hdr[k]) == 0) {
                        _cleanup_free_ char *s = NULL;
                        if (!sp(c) || !(s = get_string(c, true, NULL))) {
                                *ok = false;
                                return false;
                        }
                        return search_text(p, i, NULL, hdr[k], s);
                }
        if (strcasecmp(a, "HEADER") == 0) {
                char field[64];
                _cleanup_free_ char *s = NULL, *f = NULL;
                if (!sp(c) || !(f = get_string(c, true, NULL)) || !sp(c) || !(s = get_string(c, true, NULL)) ||
                    strlen(f) >= sizeof(field) || !*f || strpbrk(f, " ()\r\n:")) {
                        *ok = false;
                        return false;
                }
                return search_text(p, i, NULL, f, s);
        }
        if (strcasecmp(a, "BODY") == 0 || strcasecmp(a, "TEXT") == 0) {
                _cleanup_free_ char *s = NULL;
                if (!sp(c) || !(s = get_string(c, true, NULL))) {
                        *ok = false;
                        return false;
                }
                return search_text(p, i, strcasecmp(a, "BODY") == 0 ? "TEXT" : "", NULL, s);
        }
        *ok = false;
        return false;
}

static bool search_eval(imap_proto *p, struct cur *c, size_t i, int depth, bool *ok) {
        bool all = true;
        for (bool first = true; !at_end(c); first = false) {
                if (!first && !sp(c)) {
                        *ok = false;
                        return false;
                }
                all &= search_key(p, c, i, depth, ok);
                if (!*ok)
                        return false;
        }
        return all;
}

static void cmd_search(imap_proto *p, const char *tag, struct cur *c, bool uid) {
        if (!sp(c)) {
                tagged(p, tag, "BAD SEARCH needs search keys");
                return;
        }
        if (c->n - c->i >= 8 && strncasecmp(c->s + c->i, "CHARSET ", 8) == 0) {
                c->i += 8;
                char cs[32];
                if (!get_atom(c, cs, sizeof(cs)) || !sp(c)) {
                        tagged(p, tag, "BAD SEARCH: bad CHARSET");
                        return;
                }
                if (strcasecmp(cs, "UTF-8") != 0 && strcasecmp(cs, "US-ASCII") != 0) {
                        tagged(p, tag, "NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
                        return;
                }
        }
        size_t start = c->i;
        bool ok = true;
        /* Validate once against an empty view by parsing with message 0
         * only when there are messages; otherwise parse for syntax. */
        outf(p, "* SEARCH");
        for (size_t i = 0; i < p->v.n && ok; i++) {
                c->i = start;
                if (search_eval(p, c, i, 0, &ok) && ok)
                        outf(p, " %u", uid ? p->v.msgs[i].uid : (uint32_t) (i + 1));
        }
        if (p->v.n == 0) {
                /* syntax check with a dummy message */
                struct imap_msg dummy = {0};
                struct imap_view save = p->v;
                p->v.msgs = &dummy;
                p->v.n = 1;
                c->i = start;
                (void) search_eval(p, c, 0, 0, &ok);
                p->v = save;
                cache_drop(p);
        }
        outf(p, "\r\n");
        if (!ok)
                tagged(p, tag, "BAD SEARCH: bad search keys");
        else
                tagged(p, tag, "OK %sSEARCH completed", uid ? "UID " : "");
}

/* ------------------------------------------------------------ dispatch */

static int run_command(imap_proto *p) {
        struct cur c = {p->cmd, p->cmd_len, 0};
        char tag[64], verb[32];
        if (!get_atom(&c, tag, sizeof(tag)) || strchr(tag, '+')) {
                outf(p, "* BAD Missing or invalid tag\r\n");
                p->errors++;
                return 0;
        }
        if (!sp(&c) || !get_atom(&c, verb, sizeof(verb))) {
                tagged(p, tag, "BAD Missing command");
                return 0;
        }
        bool uid = false;
        if (strcasecmp(verb, "UID") == 0) {
                if (!sp(&c) || !get_atom(&c, verb, sizeof(verb))) {
                        tagged(p, tag, "BAD UID needs a command");
                        return 0;
                }
                uid = true;
        }
        for (char *q = verb; *q; q++)
                *q = (char) toupper((unsigned char) *q);
        bool allow_expunge = true;
        if (uid && strcmp(verb, "FETCH") != 0 && strcmp(verb, "STORE") != 0 && strcmp(verb, "COPY") != 0 &&
            strcmp(verb, "SEARCH") != 0 && strcmp(verb, "EXPUNGE") != 0) {
                tagged(p, tag, "BAD Unknown UID command");
                return 0;
        }
        /* any state */
        if (strcmp(verb, "CAPABILITY") == 0 && at_end(&c))
                cmd_capability(p, tag);
        else if (strcmp(verb, "NOOP") == 0 && at_end(&c)) {
                (void) sync_view(p, true);
                tagged(p, tag, "OK NOOP completed");
                return 0;
        } else if (strcmp(verb, "LOGOUT") == 0 && at_end(&c)) {
                outf(p, "* BYE Logging out\r\n");
                tagged(p, tag, "OK LOGOUT completed");
                p->state = S_LOGOUT;
                return 0;
        } else if (p->state == S_NOTAUTH) {
                if (strcmp(verb, "LOGIN") == 0)
                        cmd_login(p, tag, &c);
                else if (strcmp(verb, "AUTHENTICATE") == 0)
                        cmd_authenticate(p, tag, &c);
                else if (strcmp(verb, "STARTTLS") == 0 && at_end(&c)) {
                        if (!p->limits.starttls || p->tls_active)
                                tagged(p, tag, "BAD STARTTLS is not available");
                        else {
                                tagged(p, tag, "OK Begin TLS negotiation now");
                                p->tls_pending = true;
                        }
                }
                else
                        tagged(p, tag, "BAD Command unknown or not allowed before LOGIN");
                return 0;
        } else if (strcmp(verb, "SELECT") == 0 || strcmp(verb, "EXAMINE") == 0)
                cmd_select(p, tag, &c, verb[0] == 'E');
        else if (strcmp(verb, "CREATE") == 0 || strcmp(verb, "DELETE") == 0 || strcmp(verb, "SUBSCRIBE") == 0 ||
                 strcmp(verb, "UNSUBSCRIBE") == 0)
                cmd_folder1(p, tag, &c, verb);
        else if (strcmp(verb, "RENAME") == 0)
                cmd_rename(p, tag, &c);
        else if (strcmp(verb, "LIST") == 0 || strcmp(verb, "LSUB") == 0)
                cmd_list(p, tag, &c, verb[1] == 'S');
        else if (strcmp(verb, "STATUS") == 0)
                cmd_status(p, tag, &c);
        else if (strcmp(verb, "APPEND") == 0)
                cmd_append(p, tag, &c);
        else if (strcmp(verb, "NAMESPACE") == 0 && at_end(&c)) {
                outf(p, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
                tagged(p, tag, "OK NAMESPACE completed");
        } else if (strcmp(verb, "LOGIN") == 0)
                tagged(p, tag, "BAD Already logged in");
        else if (strcmp(verb, "IDLE") == 0 && at_end(&c)) {
                snprintf(p->idle_tag, sizeof(p->idle_tag), "%s", tag);
                p->idling = true;
                outf(p, "+ idling\r\n");
                (void) sync_view(p, true);
                return 0;
        } else if (p->state != S_SELECTED) {
                tagged(p, tag, "BAD Command unknown or not allowed without a selected folder");
                return 0;
        } else if (strcmp(verb, "CHECK") == 0 && at_end(&c))
                tagged(p, tag, "OK CHECK completed");
        else if (strcmp(verb, "CLOSE") == 0 && at_end(&c)) {
                if (!p->readonly)
                        (void) do_expunge(p, NULL, false);
                close_folder(p);
                tagged(p, tag, "OK CLOSE completed");
                return 0;
        } else if (strcmp(verb, "UNSELECT") == 0 && at_end(&c)) {
                close_folder(p);
                tagged(p, tag, "OK UNSELECT completed");
                return 0;
        } else if (strcmp(verb, "FETCH") == 0) {
                cmd_fetch(p, tag, &c, uid);
                allow_expunge = false;
        } else if (strcmp(verb, "STORE") == 0) {
                cmd_store(p, tag, &c, uid);
                allow_expunge = false;
        } else if (strcmp(verb, "SEARCH") == 0) {
                cmd_search(p, tag, &c, uid);
                allow_expunge = false;
        } else if (strcmp(verb, "COPY") == 0)
                cmd_copy(p, tag, &c, uid);
        else if (strcmp(verb, "EXPUNGE") == 0)
                cmd_expunge(p, tag, &c, uid);
        else
                tagged(p, tag, "BAD Command unknown or arguments invalid");
        /* Changes by others, at the end of the command (before its tagged
         * line would be better; clients accept them after too). */
        (void) sync_view(p, allow_expunge);
        return 0;
}

/* ------------------------------------------------------------ input */

static int cmd_append_bytes(imap_proto *p, const char *b, size_t n) {
        if (p->cmd_len + n + 1 > p->cmd_alloc) {
                size_t na = p->cmd_alloc ? p->cmd_alloc : 1024;
                while (na < p->cmd_len + n + 1)
                        na *= 2;
                char *c = realloc(p->cmd, na);
                if (!c)
                        return -ENOMEM;
                p->cmd = c;
                p->cmd_alloc = na;
        }
        memcpy(p->cmd + p->cmd_len, b, n);
        p->cmd_len += n;
        p->cmd[p->cmd_len] = 0;
        return 0;
}

static void cmd_reset(imap_proto *p) {
        p->cmd_len = 0;
        p->line_start = 0;
        p->lit_need = 0;
        p->big_literal = false;
        if (p->cmd_alloc > 64 * 1024) { /* give back a big APPEND buffer */
                free(p->cmd);
                p->cmd = NULL;
                p->cmd_alloc = 0;
        }
}

/* A complete line (without its line end) was appended at line_start. */
static int line_done(imap_proto *p) {
        const char *l = p->cmd + p->line_start;
        size_t n = p->cmd_len - p->line_start;
        if (p->authenticating) {
                p->authenticating = false;
                if (n == 1 && l[0] == '*')
                        tagged(p, p->auth_tag, "BAD AUTHENTICATE cancelled");
                else
                        auth_plain(p, p->auth_tag, l, n);
                cmd_reset(p);
                return 0;
        }
        if (p->idling) {
                bool done = n == 4 && strncasecmp(l, "DONE", 4) == 0;
                p->idling = false;
                if (done)
                        tagged(p, p->idle_tag, "OK IDLE terminated");
                else
                        tagged(p, p->idle_tag, "BAD Expected DONE");
                cmd_reset(p);
                return 0;
        }
        /* Literal announcement at the end: {n} or {n+}. */
        if (n >= 3 && l[n - 1] == '}') {
                size_t k = n - 1;
                bool plus = k > 0 && l[k - 1] == '+';
                if (plus)
                        k--;
                size_t e = k;
                while (k > 0 && isdigit((unsigned char) l[k - 1]))
                        k--;
                if (k > 0 && l[k - 1] == '{' && e > k && e - k <= 10) {
                        uint64_t len = 0;
                        for (size_t q = k; q < e; q++)
                                len = len * 10 + (uint64_t) (l[q] - '0');
                        if (p->line_start == 0) {
                                /* APPEND may carry a message: the first line names the command. */
                                struct cur c = {p->cmd, p->cmd_len, 0};
                                char tag[64], verb[16];
                                p->big_literal = get_atom(&c, tag, sizeof(tag)) && sp(&c) &&
                                                 get_atom(&c, verb, sizeof(verb)) && strcasecmp(verb, "APPEND") == 0;
                        }
                        size_t limit = p->big_literal ? p->limits.max_literal : IMAP_MAX_SMALL_LITERAL;
                        if (len > limit) {
                                if (plus) {
                                        outf(p, "* BYE Literal too big\r\n");
                                        p->state = S_LOGOUT;
                                        return 0;
                                }
                                struct cur c = {p->cmd, p->cmd_len, 0};
                                char tag[64];
                                if (get_atom(&c, tag, sizeof(tag)))
                                        tagged(p, tag, "%s", p->big_literal ? "NO [TOOBIG] Message too big" :
                                                                             "BAD Literal too big");
                                else
                                        outf(p, "* BAD Literal too big\r\n");
                                p->errors++;
                                cmd_reset(p);
                                return 0;
                        }
                        int r = cmd_append_bytes(p, "\r\n", 2);
                        if (r < 0)
                                return r;
                        p->lit_need = (size_t) len;
                        if (!plus) {
                                outf(p, "+ Ready for literal data\r\n");
                                r = flush_out(p);
                                if (r < 0)
                                        return r;
                        }
                        if (len == 0)
                                p->line_start = p->cmd_len;
                        return 0;
                }
        }
        int r = run_command(p);
        cmd_reset(p);
        return r;
}

int imap_proto_feed(imap_proto *p, const void *buf, size_t len) {
        const char *b = buf;
        size_t i = 0;
        while (i < len && p->state != S_LOGOUT && p->errors < IMAP_MAX_ERRORS) {
                if (p->lit_need > 0) {
                        size_t k = len - i < p->lit_need ? len - i : p->lit_need;
                        int r = cmd_append_bytes(p, b + i, k);
                        if (r < 0)
                                return r;
                        i += k;
                        p->lit_need -= k;
                        if (p->lit_need == 0)
                                p->line_start = p->cmd_len;
                        continue;
                }
                const char *lf = memchr(b + i, '\n', len - i);
                size_t span = lf ? (size_t) (lf - (b + i)) : len - i;
                size_t line_so_far = p->cmd_len - p->line_start;
                /* The whole command without literals is bounded too. */
                if (!p->discard && (line_so_far + span > IMAP_MAX_LINE || p->line_start > 16 * IMAP_MAX_LINE +
                                                                                                p->limits.max_literal)) {
                        p->discard = true;
                }
                if (!p->discard) {
                        int r = cmd_append_bytes(p, b + i, span);
                        if (r < 0)
                                return r;
                }
                i += span;
                if (!lf)
                        break;
                i++; /* the LF */
                if (p->discard) {
                        p->discard = false;
                        outf(p, "* BAD Command line too long\r\n");
                        p->errors++;
                        if (p->idling) {
                                p->idling = false;
                                tagged(p, p->idle_tag, "BAD Expected DONE");
                        }
                        cmd_reset(p);
                } else {
                        if (p->cmd_len > p->line_start && p->cmd[p->cmd_len - 1] == '\r')
                                p->cmd[--p->cmd_len] = 0;
                        int r = line_done(p);
                        if (r < 0)
                                return r;
                }
                int r = flush_out(p);
                if (r < 0)
                        return r;
                if (p->tls_pending) {
                        /* Whatever followed STARTTLS in this read is
                         * dropped: it was sent in the clear. */
                        p->tls_pending = false;
                        cmd_reset(p);
                        return IMAP_STARTTLS;
                }
        }
        if (p->errors >= IMAP_MAX_ERRORS && p->state != S_LOGOUT) {
                outf(p, "* BYE Too many errors\r\n");
                p->state = S_LOGOUT;
        }
        int r = flush_out(p);
        if (r < 0)
                return r;
        return p->state == S_LOGOUT ? IMAP_CLOSE : IMAP_CONTINUE;
}

int imap_proto_poll(imap_proto *p) {
        if (!p->idling)
                return 0;
        (void) sync_view(p, true);
        int r = flush_out(p);
        if (r < 0)
                return r;
        return p->state == S_LOGOUT ? IMAP_CLOSE : IMAP_CONTINUE;
}

void imap_proto_tls_started(imap_proto *p) {
        p->tls_active = true;
        p->limits.plaintext_ok = true;
}

bool imap_proto_idling(const imap_proto *p) {
        return p->idling;
}

const char *imap_proto_user(const imap_proto *p) {
        return p->user;
}

int imap_proto_greet(imap_proto *p) {
        outf(p, "* OK [CAPABILITY " CAPS "%s] %s mstored IMAP ready\r\n", caps_extra(p), p->hostname);
        return flush_out(p);
}

int imap_proto_new(const char *hostname, const struct imap_limits *limits, const struct imap_store_ops *ops,
                   void *ud, imap_proto **ret) {
        if (!hostname || !limits || !ops || !ops->write)
                return -EINVAL;
        imap_proto *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->hostname = strdup(hostname);
        if (!p->hostname) {
                free(p);
                return -ENOMEM;
        }
        p->limits = *limits;
        p->ops = *ops;
        p->ud = ud;
        *ret = p;
        return 0;
}

imap_proto *imap_proto_free(imap_proto *p) {
        if (!p)
                return NULL;
        view_free(&p->v);
        cache_drop(p);
        free(p->cmd);
        free(p->out);
        free(p->user);
        free(p->hostname);
        free(p);
        return NULL;
}
