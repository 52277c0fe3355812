/* SPDX-License-Identifier: MIT */
/*
 * page.h: the 4 KiB page format shared by .edb and .stm files, and the
 * database header that lives on pages 0 and 1 (two copies).
 *
 * Every page: 0 u64 checksum | 8 u64 pgno | 16 u64 version | 24 u32 type |
 * 28 u32 reserved | 32.. body.  checksum = XXH3_64(bytes 8..4095, seed =
 * pgno ^ PAGE_SEED): a page read at the wrong place (misdirected write) or
 * torn across sectors fails.  An all-zero page is "never written".
 * All integers are little endian.
 */
#pragma once

#include <stdint.h>
#include <string.h>

#include "lib/core/error-slot.h"
#include "lib/core/unaligned.h"
#include "mstore/mstore.h"

#define PAGE_SIZE 4096u
#define PAGE_HDR 32u
#define PAGE_BODY (PAGE_SIZE - PAGE_HDR)
#define PAGE_SEED 0x6d73746f72655047ull /* "mstorePG" */

enum page_type {
        PT_HEADER = 1,
        PT_META = 2,
        PT_LEAF = 3,
        PT_INTERNAL = 4,
        PT_OVERFLOW = 5,
        PT_FREE = 6,
        PT_STREAM = 7,
};

/* Fixed page numbers. */
#define PGNO_HDR0 0
#define PGNO_HDR1 1
#define PGNO_META 2        /* .edb only */
#define PGNO_FIRST_DATA 3  /* first B+tree page in .edb; first stream page in .stm is 2 */
#define PGNO_STM_FIRST 2

void page_init(uint8_t *p, uint64_t pgno, uint32_t type, uint64_t version);
void page_seal(uint8_t *p);
/* 0 if sound; MSTORE_E_CORRUPT otherwise, with the reason ("checksum
 * mismatch") in ES.  The decoders of mstore's files (page_check,
 * db_hdr_decode, log_hdr_decode, rec_parse, log_file_read, ckpt_decode,
 * ckpt_read, bt_check_page) raise into the ErrorSlot their caller gives
 * (lib/core/error-slot.h), which wraps the reason into its own message
 * with mstore__error(); ES NULL: no message (a probe, where a bad page or
 * record is an expected answer).  Success writes nothing.  They never
 * write the thread's slot themselves (docs/design/store.md §8). */
int page_check(const uint8_t *p, uint64_t pgno, ErrorSlot *es);
static inline uint64_t page_pgno(const uint8_t *p) { return unaligned_read_le64(p + 8); }
static inline uint64_t page_version(const uint8_t *p) { return unaligned_read_le64(p + 16); }
static inline uint32_t page_type(const uint8_t *p) { return unaligned_read_le32(p + 24); }
static inline void page_set_version(uint8_t *p, uint64_t v) { unaligned_write_le64(p + 16, v); }

/* --------------------------------------------------------- db header */

#define DBHDR_MAGIC 0x4244534du /* "MSDB" */
#define DBHDR_VERSION 1u
#define DB_NAME_MAX 64

typedef struct db_hdr {
        uint32_t file_type;      /* MSTORE_FILE_* */
        uint32_t state;          /* MSTORE_STATE_* */
        uint64_t db_sig;
        uint8_t log_sig[16];
        uint32_t req_low, req_high, committed;
        uint64_t create_time;
        mstore_backup_slot slot[4];
        char name[DB_NAME_MAX + 1];
} db_hdr;

void db_hdr_encode(const db_hdr *h, uint8_t *page, uint64_t pgno);
/* Decode one copy; MSTORE_E_CORRUPT / MSTORE_E_VERSION with the reason in ES
 * (see page_check). */
int db_hdr_decode(const uint8_t *page, uint64_t pgno, db_hdr *ret, ErrorSlot *es);

/* --------------------------------------------------------- meta page */

#define STM_FREE_MAX 250u /* free .stm extents kept in the meta page */

typedef struct stm_extent {
        uint64_t first;
        uint64_t npages;
} stm_extent;

typedef struct db_meta {
        uint64_t root;       /* B+tree root page */
        uint64_t page_count; /* pages in use in .edb (next new pgno) */
        uint64_t free_head;  /* first free .edb page (chain through body) */
        uint64_t stm_next;   /* next unused .stm page */
        uint64_t dbtime;     /* last version stamped on any page */
        uint64_t nkeys;
        uint32_t nfree;      /* free .stm extents (deleted streams) */
        stm_extent free[STM_FREE_MAX];
} db_meta;

void meta_read(const uint8_t *page, db_meta *ret);
void meta_write(uint8_t *page, const db_meta *m);
