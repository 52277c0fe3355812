/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/s3-xml.c: the few fields lvss reads from S3's XML answers
 * (docs/design/repository.md §15.1): ListObjectsV2 (<Key>, <Size>,
 * <IsTruncated>, <NextContinuationToken>), InitiateMultipartUpload
 * (<UploadId>) and errors (<Code>).  Not a general XML parser: it scans
 * for those elements by name, bounded in input size, key length and key
 * count, and decodes the five predefined entities and numeric references.
 * Anything it does not understand is an error (-EBADMSG).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "lib/core/array.h"
#include "macro.h"

/* Decode text[0..n) (entities) into a new string of at most max bytes. */
static int xml_text(const char *text, size_t n, size_t max, char **ret) {
        char *out = malloc(n + 1), *o = out;
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n;) {
                if (text[i] == '<') {
                        free(out);
                        return -EBADMSG;
                }
                if (text[i] != '&') {
                        *o++ = text[i++];
                        continue;
                }
                const char *semi = memchr(text + i, ';', MIN(n - i, (size_t) 12));
                if (!semi) {
                        free(out);
                        return -EBADMSG;
                }
                size_t len = (size_t) (semi - (text + i)) + 1;
                static const struct { const char *e; char c; } ents[] = {
                        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
                bool done = false;
                for (size_t e = 0; e < ELEMENTSOF(ents) && !done; e++)
                        if (len == strlen(ents[e].e) && memcmp(text + i, ents[e].e, len) == 0) {
                                *o++ = ents[e].c;
                                done = true;
                        }
                if (!done && len >= 4 && text[i + 1] == '#') {
                        /* numeric reference: only ASCII (S3 keys of this repository are hex) */
                        unsigned long v = 0;
                        bool hex = text[i + 2] == 'x';
                        size_t d = i + (hex ? 3 : 2);
                        if (d >= i + len - 1) {
                                free(out);
                                return -EBADMSG;
                        }
                        for (; d < i + len - 1; d++) {
                                char ch = text[d];
                                int dv = ch >= '0' && ch <= '9'   ? ch - '0'
                                         : hex && ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                         : hex && ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                                                          : -1;
                                if (dv < 0 || v > 0x10ffff) {
                                        free(out);
                                        return -EBADMSG;
                                }
                                v = v * (hex ? 16 : 10) + (unsigned long) dv;
                        }
                        if (v == 0 || v > 0x7f) {
                                free(out);
                                return -EBADMSG;
                        }
                        *o++ = (char) v;
                        done = true;
                }
                if (!done) {
                        free(out);
                        return -EBADMSG;
                }
                i += len;
        }
        *o = 0;
        if ((size_t) (o - out) > max) {
                free(out);
                return -E2BIG;
        }
        *ret = out;
        return 0;
}

/* Find the next <name>...</name> at or after *pos; its text in [*ret_b, *ret_e). */
static int find_elem(const char *xml, size_t n, size_t *pos, const char *name, size_t *ret_b, size_t *ret_e) {
        size_t nl = strlen(name);
        for (size_t i = *pos; i + nl + 2 <= n; i++) {
                if (xml[i] != '<' || memcmp(xml + i + 1, name, nl) != 0 || xml[i + 1 + nl] != '>')
                        continue;
                size_t b = i + nl + 2;
                for (size_t j = b; j + nl + 3 <= n; j++)
                        if (xml[j] == '<') {
                                if (xml[j + 1] == '/' && memcmp(xml + j + 2, name, nl) == 0 && xml[j + 2 + nl] == '>') {
                                        *ret_b = b;
                                        *ret_e = j;
                                        *pos = j + nl + 3;
                                        return 1;
                                }
                                return -EBADMSG;   /* nested or malformed: not a text element */
                        }
                return -EBADMSG;   /* never closed */
        }
        return 0;
}

void s3_list_page_done(s3_list_page *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++)
                free(p->keys[i]);
        free(p->keys);
        free(p->sizes);
        free(p->next_token);
        free(p->upload_id);
        free(p->error_code);
        *p = (s3_list_page) {};
}

static int parse_u64(const char *xml, size_t b, size_t e, uint64_t *ret) {
        uint64_t v = 0;
        if (b == e || e - b > 19)
                return -EBADMSG;
        for (size_t i = b; i < e; i++) {
                if (xml[i] < '0' || xml[i] > '9')
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (xml[i] - '0');
        }
        *ret = v;
        return 0;
}

int s3_xml_parse(const char *xml, size_t n, s3_list_page *ret) {
        s3_list_page p = {};
        size_t pos = 0, b, e, cap = 0;
        int k = 0;

        if (n > S3_MAX_RESPONSE)
                return -E2BIG;
        /* <Contents><Key>..</Key>...<Size>..</Size>...</Contents>: a Size belongs to the Key before it */
        while ((k = find_elem(xml, n, &pos, "Key", &b, &e)) > 0) {
                char *key = NULL;
                if (p.n >= S3_MAX_KEYS_PER_PAGE) {
                        k = -E2BIG;
                        goto fail;
                }
                k = xml_text(xml + b, e - b, S3_MAX_KEY, &key);
                if (k < 0)
                        goto fail;
                if (ARRAY_RESERVE_ONE(p.keys, cap, p.n, 64) < 0) {
                        free(key);
                        k = -ENOMEM;
                        goto fail;
                }
                uint64_t *ns = realloc(p.sizes, cap * sizeof *ns);
                if (!ns) {
                        free(key);
                        k = -ENOMEM;
                        goto fail;
                }
                p.sizes = ns;
                p.sizes[p.n] = 0;
                p.keys[p.n++] = key;
                /* its Size, if it comes before the next Key */
                size_t pos2 = pos, sb = 0, se = 0, kb = 0, ke = 0, posk = pos;
                int has_size = find_elem(xml, n, &pos2, "Size", &sb, &se);
                int has_key = find_elem(xml, n, &posk, "Key", &kb, &ke);
                if (has_size < 0 || has_key < 0) {
                        k = -EBADMSG;
                        goto fail;
                }
                if (has_size && (!has_key || sb < kb)) {
                        k = parse_u64(xml, sb, se, &p.sizes[p.n - 1]);
                        if (k < 0)
                                goto fail;
                }
        }
        if (k < 0)
                goto fail;
        pos = 0;
        k = find_elem(xml, n, &pos, "IsTruncated", &b, &e);
        if (k < 0)
                goto fail;
        if (k > 0)
                p.truncated = e - b == 4 && memcmp(xml + b, "true", 4) == 0;
        static const struct { const char *name; size_t off, max; } texts[] = {
                {"NextContinuationToken", offsetof(s3_list_page, next_token), S3_MAX_KEY},
                {"UploadId", offsetof(s3_list_page, upload_id), S3_MAX_KEY},
                {"Code", offsetof(s3_list_page, error_code), 256},
        };
        for (size_t t = 0; t < ELEMENTSOF(texts); t++) {
                pos = 0;
                k = find_elem(xml, n, &pos, texts[t].name, &b, &e);
                if (k < 0)
                        goto fail;
                if (k > 0 && (k = xml_text(xml + b, e - b, texts[t].max, (char **) ((char *) &p + texts[t].off))) < 0)
                        goto fail;
        }
        if (p.truncated && !p.next_token) {
                k = -EBADMSG;   /* a truncated page must say where to go on */
                goto fail;
        }
        *ret = p;
        return 0;
fail:
        s3_list_page_done(&p);
        return k;
}
