/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the page parsers (page checksum/header, database header,
 * B+tree node cells, meta page, stream page and stream reference) and the
 * checkpoint file parser.  Input: a page image (padded or cut to 4096) or a
 * checkpoint copy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btree.h"
#include "ckpt.h"
#include "page.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run a decoder: a refusal names its reason in the slot (page.h). */
#define DECODE(why, call)                                                      \
        do {                                                                   \
                error_slot_clear(&(why));                                      \
                if ((call) < 0 && !error_slot_get(&(why))[0])                  \
                        abort();                                               \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t page[PAGE_SIZE];
        memset(page, 0, sizeof page);
        memcpy(page, data, size < PAGE_SIZE ? size : PAGE_SIZE);
        ErrorSlot why;
        uint64_t pgno = unaligned_read_le64(page + 8);
        DECODE(why, page_check(page, pgno, &why));
        db_hdr h;
        DECODE(why, db_hdr_decode(page, pgno, &h, &why));
        DECODE(why, db_hdr_decode(page, 0, &h, &why));
        /* structure checks run even without a valid checksum */
        DECODE(why, bt_check_page(page, &why));
        db_meta m;
        meta_read(page, &m);
        (void) stream_page_len(page);
        mstore_stream_ref ref;
        memcpy(ref.bytes, page, sizeof ref.bytes);
        stream_ref sr;
        (void) stream_ref_decode(&ref, &sr);
        ckpt c;
        DECODE(why, ckpt_decode(data, size, &c, &why));
        DECODE(why, ckpt_decode(page, sizeof page, &c, &why));
        return 0;
}
