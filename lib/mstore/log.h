/* SPDX-License-Identifier: MIT */
/*
 * log.h: the log stream of a storage group.
 *
 * Files (base "E00"): E00.log current generation, E00XXXXXXXX.log closed
 * generations (8 upper-case hex digits), E00tmp.log the pre-created next
 * generation, E00res00001.jrs/E00res00002.jrs reserve logs.  Each file is
 * preallocated to the log file size: a 4096-byte header then records.
 *
 * Log header (4096): 0 u32 "MSLG" | 4 u32 version | 8 u32 generation |
 * 12 u32 flags (1 circular) | 16 u64 file size | 24 sig[16] | 40 u64
 * create time (ns) | 48 u64 previous generation's create time | 56 u64
 * checkpoint lgpos at creation | 4088 u64 XXH3 of bytes 0..4087.
 *
 * Record (8-byte aligned): 0 u32 "MSLR" | 4 u32 length (header + payload +
 * padding) | 8 u8 type | 12 u32 generation | 16 u64 lgpos of the record |
 * 24 u64 XXH3 of the record with this field zero, seeded by the log
 * signature | 32 u64 durable lgpos when the record was appended | 40 payload.
 * The durable field tells a torn tail (damage after the last fsync) from
 * damage inside the durable log: a valid record after damaged bytes whose
 * durable field lies beyond them proves those bytes had been synced.  A record is valid only if all of these match, so
 * stale bytes from another generation or stream, and a torn tail, end the
 * valid data.  A closed generation ends with an END record.
 */
#pragma once

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"
#include "lib/core/error-slot.h"

#define LOG_HDR_SIZE 4096u
#define LOG_MAGIC 0x474c534du
#define LOG_VERSION 1u
#define REC_MAGIC 0x524c534du
#define REC_HDR 40u
#define REC_MAX (REC_HDR + 24u + 4096u + 64u)  /* largest record: a page image */
#define LOG_MIN_FILE_SIZE (64u * 1024u)
#define LOG_MAX_GEN 0xfffffff0u

typedef uint64_t lgpos;
#define LGPOS(g, o) (((uint64_t) (g) << 32) | (uint32_t) (o))
#define LGPOS_GEN(p) ((uint32_t) ((p) >> 32))
#define LGPOS_OFF(p) ((uint32_t) (p))

enum rec_type {
        REC_PAGE = 1,     /* u64 db_sig | u32 file (0 edb, 1 stm) | u32 0 | u64 pgno | page image */
        REC_COMMIT = 2,   /* u64 transaction sequence */
        REC_ATTACH = 3,   /* u64 db_sig | u16 len | edb path */
        REC_DETACH = 4,   /* u64 db_sig */
        REC_END = 5,      /* end of generation */
        REC_BACKUP = 6,   /* u32 type | u64 time: snapshot freeze mark */
        REC_SHUTDOWN = 7, /* clean shutdown */
};

typedef struct log_hdr {
        uint32_t gen;
        uint32_t flags;
        uint64_t file_size;
        uint8_t sig[16];
        uint64_t create_time;
        uint64_t prev_create_time;
        lgpos ckpt;
} log_hdr;

void log_hdr_encode(const log_hdr *h, uint8_t *buf);
/* The reason of a failure in ES, NULL: none (page.h: page_check). */
int log_hdr_decode(const uint8_t *buf, size_t len, log_hdr *ret, ErrorSlot *es);

typedef struct rec_view {
        uint8_t type;
        uint32_t gen;
        lgpos pos;
        uint32_t len;
        const uint8_t *payload;
        uint32_t plen;
        lgpos durable;
} rec_view;

/* Parse the record at buf[0..avail) expected at @pos of generation @gen of
 * the stream @sig.  0 and *ret on success; MSTORE_E_CORRUPT (the reason in
 * ES, NULL: none) if the bytes are not a valid record there (end of data or
 * damage). */
int rec_parse(const uint8_t *buf, size_t avail, lgpos pos, const uint8_t sig[16],
              rec_view *ret, ErrorSlot *es);
/* Encode a record into out (REC_HDR + plen rounded up to 8 bytes). */
size_t rec_encode(uint8_t *out, uint8_t type, lgpos pos, lgpos durable, const uint8_t sig[16],
                  const void *p1, size_t l1, const void *p2, size_t l2);
/* After the valid data of a generation ends at @end: 1 if a later valid
 * record proves the bytes at @end were durable (corruption, not a torn tail). */
int log_damage_is_durable(const uint8_t *data, size_t len, uint32_t gen, uint32_t end, const uint8_t sig[16]);
static inline size_t rec_size(size_t plen) { return (REC_HDR + plen + 7) & ~(size_t) 7; }

/* File names (malloc'ed; NULL on OOM). */
char *log_path_current(const char *dir, const char *base);
char *log_path_gen(const char *dir, const char *base, uint32_t gen);
char *log_path_tmp(const char *dir, const char *base);
char *log_path_reserve(const char *dir, const char *base, int i);
/* If name is base + 8 hex + ".log", return the generation, else 0. */
uint32_t log_name_gen(const char *name, const char *base);

/* A log generation read into memory. */
typedef struct log_file {
        log_hdr hdr;
        uint8_t *data;
        size_t len;
} log_file;
/* The reason of a failure ("cannot open", a header's) in ES, NULL: none. */
int log_file_read(const struct mstore_io *io, const char *path, log_file *ret, ErrorSlot *es);
void log_file_done(log_file *f);

/* The generations present in a directory. */
typedef struct log_set {
        uint32_t low, high;      /* closed generations low..high (0,0 none); gaps possible */
        uint32_t *gens;          /* sorted closed generations */
        size_t n;
        int has_current;         /* E00.log exists */
        uint32_t current_gen;    /* its generation (0 if unreadable) */
        int has_tmp;
} log_set;
int log_set_scan(const struct mstore_io *io, const char *dir, const char *base, log_set *ret);
void log_set_done(log_set *s);

/* ------------------------------------------------------------ writer */

typedef struct log_writer log_writer;

typedef struct rec_item {
        uint8_t type;
        const void *p1;
        size_t l1;
        const void *p2;
        size_t l2;
} rec_item;

/* Start writing generation prev_gen + 1.  If prev_gen > 0 and E00.log of
 * that generation exists, END is written at prev_end (its valid end) and
 * the file is closed (renamed to its generation name).  Creates reserve
 * logs.  ckpt is recorded in the new header. */
int log_writer_open(const struct mstore_io *io, const char *dir, const char *base, uint64_t file_size,
                    const uint8_t sig[16], int circular, uint32_t prev_gen, uint32_t prev_end,
                    uint64_t prev_create_time, lgpos ckpt, log_writer **ret);
/* Writes END + closes cleanly when possible (unless failed/frozen). */
int log_writer_close(log_writer *w);

/* Append records atomically (one batch is contiguous); *ret_end = position
 * after the last. Memory only; durable after log_flush(end). */
int log_append(log_writer *w, const rec_item *items, size_t n, lgpos *ret_end);
/* Make everything before @upto durable (group commit; waits while frozen). */
int log_flush(log_writer *w, lgpos upto);
/* Current append position and durable position. */
lgpos log_tail(log_writer *w);
lgpos log_durable(log_writer *w);
uint32_t log_current_gen(log_writer *w);
/* Freeze: flush, close the current generation, stop writing.  *ret_last =
 * the last closed generation. */
int log_freeze(log_writer *w, uint32_t *ret_last);
void log_thaw(log_writer *w);
/* Make sure the next generation's file is pre-created (so a freeze only
 * renames).  Best effort: an error is returned, nothing fails for good. */
int log_ensure_next(log_writer *w);
/* Sticky failure (0 if none) and read-only (reserve log in use). */
int log_failed(log_writer *w);
int log_read_only(log_writer *w);
void log_set_failed(log_writer *w, int err);
/* Delete closed generations below @gen (ascending, stops at the first error
 * other than ENOENT); returns count deleted.  ret_first and ret_last: range deleted. */
int log_delete_below(log_writer *w, uint32_t gen, uint32_t *ret_first, uint32_t *ret_last);
