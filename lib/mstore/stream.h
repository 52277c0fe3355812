/* SPDX-License-Identifier: MIT */
/*
 * stream.h: the .stm streaming file.  A stream is a run of consecutive
 * pages (type PT_STREAM; body: 32 u32 bytes used | 36 u32 0 | 40 data).
 * Reference (32 bytes, little endian): 0 u64 first page | 8 u32 pages |
 * 12 u32 "SR" magic 0x5253 | 16 u64 length | 24 u64 XXH3 of the content.
 * Pages are allocated at write time from a counter (an aborted stream
 * leaves a hole); a committed stream's pages are logged like .edb pages.
 */
#pragma once

#include <stdint.h>

#include "mstore/mstore.h"
#include "page.h"

#define STM_DATA 40u
#define STM_CAP (PAGE_SIZE - STM_DATA)
#define STREAM_REF_MAGIC 0x5253u

typedef struct stream_ref {
        uint64_t first;
        uint32_t npages;
        uint64_t length;
        uint64_t hash;
} stream_ref;

void stream_ref_encode(const stream_ref *s, mstore_stream_ref *out);
int stream_ref_decode(const mstore_stream_ref *in, stream_ref *ret);  /* MSTORE_E_CORRUPT if malformed */
/* Build page i of a stream into page (sealed, version v). */
void stream_page_build(uint8_t *page, uint64_t pgno, uint64_t v, const uint8_t *data, uint32_t len);
/* Validate a stream page read back; returns bytes in it or MSTORE_E_CORRUPT. */
int stream_page_len(const uint8_t *page);
