/* SPDX-License-Identifier: MIT */
/*
 * imap-mime: the MIME views IMAP FETCH needs (ENVELOPE, BODYSTRUCTURE,
 * BODY[section]), built with GMime from the raw message bytes.  No I/O.
 * Every function returns 0 and a malloc'ed text (not NUL-terminated in
 * meaning: *ret_len counts the bytes) or a negative errno.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Is SECTION (the text between [ and ], e.g. "1.2.HEADER.FIELDS (To)")
 * well-formed?  Bounded: at most 8 levels of part numbers. */
bool imap_mime_section_valid(const char *section);
/* The bytes of BODY[SECTION]; -ENOENT for a part that does not exist. */
int imap_mime_section(const void *msg, size_t len, const char *section, char **ret, size_t *ret_len);
/* The parenthesized ENVELOPE structure. */
int imap_mime_envelope(const void *msg, size_t len, char **ret, size_t *ret_len);
/* BODYSTRUCTURE (extended = true) or BODY. */
int imap_mime_bodystructure(const void *msg, size_t len, bool extended, char **ret, size_t *ret_len);
