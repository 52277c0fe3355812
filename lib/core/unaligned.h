/* SPDX-License-Identifier: MIT */
/*
 * Little-endian integers at any address: the one way every on-disk and
 * on-wire format of lvss (mstore pages and logs, repository packs, mail
 * records) reads and writes its fields.  memcpy + le*toh compiles to a plain
 * load on x86-64 and stays correct on big-endian hosts and unaligned offsets.
 */
#pragma once

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t unaligned_read_le16(const void *p) {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return le16toh(v);
}
static inline uint32_t unaligned_read_le32(const void *p) {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return le32toh(v);
}
static inline uint64_t unaligned_read_le64(const void *p) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return le64toh(v);
}
static inline void unaligned_write_le16(void *p, uint16_t v) {
        v = htole16(v);
        memcpy(p, &v, sizeof v);
}
static inline void unaligned_write_le32(void *p, uint32_t v) {
        v = htole32(v);
        memcpy(p, &v, sizeof v);
}
static inline void unaligned_write_le64(void *p, uint64_t v) {
        v = htole64(v);
        memcpy(p, &v, sizeof v);
}
