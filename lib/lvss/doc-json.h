/* SPDX-License-Identifier: MIT */
/*
 * lib/lvss/doc-json.h: the JSON helpers shared by the document parsers
 * (doc.c, doc-wm.c, doc-bcd.c), internal to them.  Each get_* checks type and
 * limits and raises the first problem as one line into ES (the caller's
 * ErrorSlot, NULL: the thread's), naming 'where' in the document; the
 * return is 0 or
 * LVSS_E_INVALID_XML_DOCUMENT / -ENOMEM.
 */
#pragma once

#include "lib/core/macro.h"
#include "lib/lvss/doc.h"

#define DOC_VERSION 1

int doc_invalid(ErrorSlot *es, const char *fmt, ...) _printf_(2, 3);
/* A string of at most LVSS_DOC_MAX_STRING bytes without NUL; missing or null: *ret = NULL (error if required). */
int doc_get_str(json_t *o, const char *key, bool required, char **ret, ErrorSlot *es, const char *where);
/* As doc_get_str, missing = "". */
int doc_get_str0(json_t *o, const char *key, char **ret, ErrorSlot *es, const char *where);
int doc_get_uuid(json_t *o, const char *key, bool required, char **ret, ErrorSlot *es, const char *where);
int doc_get_bool(json_t *o, const char *key, bool def, bool *ret, ErrorSlot *es, const char *where);
int doc_get_u32(json_t *o, const char *key, uint32_t def, uint32_t *ret, ErrorSlot *es, const char *where);
/* An enum spelled as a string; parse(s) returns the value or -EINVAL. */
int doc_get_enum(json_t *o, const char *key, int def, int (*parse)(const char *), int *ret, ErrorSlot *es,
                 const char *where);
/* An array of at most max elements; missing: *ret = NULL. */
int doc_get_array(json_t *o, const char *key, size_t max, json_t **ret, ErrorSlot *es, const char *where);
json_t *doc_jstr(const char *s);
void doc_jset(json_t *o, const char *key, json_t *v);

/* File lists (file descriptors of a component). */
void doc_files_clear(lvss_doc_files *f);
int doc_files_parse(json_t *o, const char *key, bool allow_recursive, bool allow_alternate, const char *alternate_key,
                    lvss_doc_files *ret, ErrorSlot *es, const char *where);
json_t *doc_files_to_json(const lvss_doc_files *f, const char *alternate_key, bool with_mask);

/* Parse a whole document's text (size-limited) into a JSON object. */
int doc_parse_text(const char *json, json_t **ret, ErrorSlot *es);
