/* SPDX-License-Identifier: MIT */
#include "stream.h"

void stream_ref_encode(const stream_ref *s, mstore_stream_ref *out) {
        uint8_t *b = out->bytes;
        memset(b, 0, MSTORE_STREAM_REF_SIZE);
        unaligned_write_le64(b, s->first);
        unaligned_write_le32(b + 8, s->npages);
        unaligned_write_le32(b + 12, STREAM_REF_MAGIC);
        unaligned_write_le64(b + 16, s->length);
        unaligned_write_le64(b + 24, s->hash);
}

int stream_ref_decode(const mstore_stream_ref *in, stream_ref *ret) {
        const uint8_t *b = in->bytes;
        stream_ref s = { .first = unaligned_read_le64(b),
                         .npages = unaligned_read_le32(b + 8),
                         .length = unaligned_read_le64(b + 16),
                         .hash = unaligned_read_le64(b + 24) };
        if (unaligned_read_le32(b + 12) != STREAM_REF_MAGIC || s.first < PGNO_STM_FIRST ||
            s.npages != (s.length + STM_CAP - 1) / STM_CAP || s.length > MSTORE_MAX_VALUE_SIZE)
                return MSTORE_E_CORRUPT;
        *ret = s;
        return 0;
}

void stream_page_build(uint8_t *page, uint64_t pgno, uint64_t v, const uint8_t *data, uint32_t len) {
        page_init(page, pgno, PT_STREAM, v);
        unaligned_write_le32(page + 32, len);
        memcpy(page + STM_DATA, data, len);
        page_seal(page);
}

int stream_page_len(const uint8_t *page) {
        uint32_t l = unaligned_read_le32(page + 32);
        if (page_type(page) != PT_STREAM || l > STM_CAP)
                return MSTORE_E_CORRUPT;
        return (int) l;
}
