/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the log parsers (log file header, records, record payloads
 * as redo reads them).  Input: a log file image (header + records), or any
 * bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "page.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > (8u << 20))
                return 0;
        log_hdr h;
        ErrorSlot why; /* the decoders' reasons (page.h) */
        uint8_t sig[16] = { 0 };
        size_t off = 0;
        uint32_t gen = 1;
        if (log_hdr_decode(data, size, &h, &why) == 0) {
                memcpy(sig, h.sig, 16);
                off = LOG_HDR_SIZE;
                gen = h.gen;
        } else if (size >= 16)
                memcpy(sig, data, 16); /* let raw record inputs pick a signature */
        /* walk records the way recovery and verify-logs do */
        while (off < size) {
                rec_view v;
                if (rec_parse(data + off, size - off, LGPOS(gen, off), sig, &v, &why) < 0) {
                        (void) log_damage_is_durable(data, size, gen, (uint32_t) off, sig);
                        break;
                }
                if (v.type == REC_PAGE && v.plen >= 24 + PAGE_SIZE)
                        (void) page_check(v.payload + 24, unaligned_read_le64(v.payload + 16), NULL);
                if (v.type == REC_END)
                        break;
                off += v.len;
        }
        /* a record at position 0 of generation 1, whatever the bytes */
        rec_view v;
        (void) rec_parse(data, size, LGPOS(1, 0), sig, &v, &why);
        return 0;
}
