/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "ckpt.h"
#include "err.h"
#include "page.h"

#define CKPT_MAGIC 0x4b43534du
#define CKPT_VERSION 1u

char *ckpt_path(const char *dir, const char *base) {
        char *p = NULL;
        return asprintf(&p, "%s/%s.chk", dir, base) < 0 ? NULL : p;
}

int ckpt_encode(const ckpt *c, uint8_t *b) {
        memset(b, 0, CKPT_SIZE);
        unaligned_write_le32(b, CKPT_MAGIC);
        unaligned_write_le32(b + 4, CKPT_VERSION);
        unaligned_write_le64(b + 8, c->pos);
        memcpy(b + 16, c->sig, 16);
        unaligned_write_le32(b + 32, c->ndbs);
        size_t o = 40;
        for (unsigned i = 0; i < c->ndbs; i++) {
                size_t l = strlen(c->dbs[i].path);
                if (o + 10 + l > CKPT_SIZE - 8)
                        return -ENAMETOOLONG;
                unaligned_write_le64(b + o, c->dbs[i].sig);
                unaligned_write_le16(b + o + 8, (uint16_t) l);
                memcpy(b + o + 10, c->dbs[i].path, l);
                o += 10 + l;
        }
        unaligned_write_le64(b + CKPT_SIZE - 8, XXH3_64bits(b, CKPT_SIZE - 8));
        return 0;
}

int ckpt_decode(const uint8_t *b, size_t len, ckpt *ret, ErrorSlot *es) {
        if (len < CKPT_SIZE)
                return err_reason(es, MSTORE_E_CORRUPT, "checkpoint copy truncated");
        if (unaligned_read_le64(b + CKPT_SIZE - 8) != XXH3_64bits(b, CKPT_SIZE - 8))
                return err_reason(es, MSTORE_E_CORRUPT, "checkpoint checksum mismatch");
        if (unaligned_read_le32(b) != CKPT_MAGIC)
                return err_reason(es, MSTORE_E_CORRUPT, "not an mstore checkpoint file");
        if (unaligned_read_le32(b + 4) != CKPT_VERSION)
                return err_reason(es, MSTORE_E_VERSION, "unknown checkpoint format version");
        ckpt c = { .pos = unaligned_read_le64(b + 8), .ndbs = unaligned_read_le32(b + 32) };
        memcpy(c.sig, b + 16, 16);
        if (c.ndbs > MSTORE_MAX_DATABASES || LGPOS_GEN(c.pos) == 0)
                return err_reason(es, MSTORE_E_CORRUPT, "checkpoint fields out of range");
        size_t o = 40;
        for (unsigned i = 0; i < c.ndbs; i++) {
                if (o + 10 > CKPT_SIZE - 8)
                        return err_reason(es, MSTORE_E_CORRUPT, "checkpoint database list overruns");
                uint16_t l = unaligned_read_le16(b + o + 8);
                if (l == 0 || l > CKPT_PATH_MAX || o + 10 + l > CKPT_SIZE - 8 || memchr(b + o + 10, 0, l))
                        return err_reason(es, MSTORE_E_CORRUPT, "checkpoint database entry malformed");
                c.dbs[i].sig = unaligned_read_le64(b + o);
                memcpy(c.dbs[i].path, b + o + 10, l);
                c.dbs[i].path[l] = 0;
                o += 10 + l;
        }
        *ret = c;
        return 0;
}

int ckpt_read(const struct mstore_io *io, const char *path, ckpt *ret, int *ret_copy, ErrorSlot *es) {
        mstore_file *f = NULL;
        int r = io_open(io, path, MSTORE_IO_RDONLY, &f);
        if (r < 0)
                return err_reason(es, r, r == -ENOENT ? "no checkpoint file" : "cannot open checkpoint file");
        uint8_t *buf = malloc(2 * CKPT_SIZE);
        if (!buf) {
                io_close(f);
                return err_reason(es, -ENOMEM, "out of memory");
        }
        int64_t n = io_pread(f, buf, 2 * CKPT_SIZE, 0);
        io_close(f);
        r = n < 0 ? (int) n : MSTORE_E_CORRUPT;
        int decoded = 0; /* copies decoded: the message is the primary's reason */
        for (int copy = 0; copy < 2 && n >= 0; copy++) {
                if ((size_t) n < (size_t) (copy + 1) * CKPT_SIZE)
                        break;
                r = ckpt_decode(buf + copy * CKPT_SIZE, CKPT_SIZE, ret, copy ? NULL : es);
                decoded++;
                if (r >= 0) {
                        if (ret_copy)
                                *ret_copy = copy;
                        break;
                }
        }
        free(buf);
        if (r < 0 && !decoded)
                (void) err_reason(es, r, "checkpoint file truncated");
        return r;
}

int ckpt_write(const struct mstore_io *io, const char *path, const ckpt *c) {
        uint8_t *buf = malloc(CKPT_SIZE);
        if (!buf)
                return -ENOMEM;
        int r = ckpt_encode(c, buf);
        mstore_file *f = NULL;
        if (r >= 0)
                r = io_open(io, path, MSTORE_IO_CREATE, &f);
        for (int copy = 0; copy < 2 && r >= 0; copy++) {
                r = io_pwrite(f, buf, CKPT_SIZE, (uint64_t) copy * CKPT_SIZE);
                if (r >= 0)
                        r = io_sync(f);
        }
        io_close(f);
        free(buf);
        return r;
}
