/* SPDX-License-Identifier: MIT */
#include "stream.h"

void stream_ref_encode(const stream_ref *s, mstore_stream_ref *out) {
        uint8_t *b = out->bytes;
        memset(b, 0, MSTORE_STREAM_REF_SIZE);
        put64(b, s->first);
        put32(b + 8, s->npages);
        put32(b + 12, STREAM_REF_MAGIC);
        put64(b + 16, s->length);
        put64(b + 24, s->hash);
}

int stream_ref_decode(const mstore_stream_ref *in, stream_ref *ret) {
        const uint8_t *b = in->bytes;
        stream_ref s = { .first = le64(b), .npages = le32(b + 8), .length = le64(b + 16), .hash = le64(b + 24) };
        if (le32(b + 12) != STREAM_REF_MAGIC || s.first < PGNO_STM_FIRST ||
            s.npages != (s.length + STM_CAP - 1) / STM_CAP || s.length > MSTORE_MAX_VALUE_SIZE)
                return MSTORE_E_CORRUPT;
        *ret = s;
        return 0;
}

void stream_page_build(uint8_t *page, uint64_t pgno, uint64_t v, const uint8_t *data, uint32_t len) {
        page_init(page, pgno, PT_STREAM, v);
        put32(page + 32, len);
        memcpy(page + STM_DATA, data, len);
        page_seal(page);
}

int stream_page_len(const uint8_t *page) {
        uint32_t l = le32(page + 32);
        if (page_type(page) != PT_STREAM || l > STM_CAP)
                return MSTORE_E_CORRUPT;
        return (int) l;
}
