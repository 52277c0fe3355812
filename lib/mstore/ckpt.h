/* SPDX-License-Identifier: MIT */
/*
 * ckpt.h: the checkpoint file E00.chk, written twice (copy at 0 and 4096).
 *
 * Copy layout (4096): 0 u32 "MSCK" | 4 u32 version | 8 u64 checkpoint lgpos
 * | 16 sig[16] | 32 u32 number of attached databases | 36 u32 0 | 40 entries
 * {u64 db_sig, u16 len, edb path} | 4088 u64 XXH3 of bytes 0..4087.
 * The primary is written and synced before the shadow, so a valid primary
 * is always the newest; readers fall back to the shadow.
 */
#pragma once

#include <stdint.h>

#include "io.h"
#include "lib/core/error-slot.h"
#include "log.h"
#include "mstore/mstore.h"

#define CKPT_SIZE 4096u
#define CKPT_PATH_MAX 600u

typedef struct ckpt_db {
        uint64_t sig;
        char path[CKPT_PATH_MAX + 1];
} ckpt_db;

typedef struct ckpt {
        lgpos pos;
        uint8_t sig[16];
        unsigned ndbs;
        ckpt_db dbs[MSTORE_MAX_DATABASES];
} ckpt;

char *ckpt_path(const char *dir, const char *base);
int ckpt_encode(const ckpt *c, uint8_t *buf);  /* -ENAMETOOLONG if paths do not fit */
/* The reason of a failure in ES, NULL: none (page.h: page_check). */
int ckpt_decode(const uint8_t *buf, size_t len, ckpt *ret, ErrorSlot *es);
/* Read either copy; *ret_copy = 0 primary, 1 shadow.  -ENOENT if absent.
 * The reason in ES (NULL: none): the primary copy's when both are bad. */
int ckpt_read(const struct mstore_io *io, const char *path, ckpt *ret, int *ret_copy, ErrorSlot *es);
int ckpt_write(const struct mstore_io *io, const char *path, const ckpt *c);
