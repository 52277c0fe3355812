/* SPDX-License-Identifier: MIT */
#include <xxhash.h>

#include "err.h"
#include "page.h"

void page_init(uint8_t *p, uint64_t pgno, uint32_t type, uint64_t version) {
        memset(p, 0, PAGE_SIZE);
        unaligned_write_le64(p + 8, pgno);
        unaligned_write_le64(p + 16, version);
        unaligned_write_le32(p + 24, type);
}

static uint64_t page_sum(const uint8_t *p, uint64_t pgno) {
        return XXH3_64bits_withSeed(p + 8, PAGE_SIZE - 8, pgno ^ PAGE_SEED);
}

void page_seal(uint8_t *p) {
        unaligned_write_le64(p, page_sum(p, unaligned_read_le64(p + 8)));
}

int page_check(const uint8_t *p, uint64_t pgno, ErrorSlot *es) {
        const char *w = NULL;
        if (unaligned_read_le64(p) != page_sum(p, pgno)) {
                int zero = 1;
                for (unsigned i = 0; i < PAGE_SIZE && zero; i++)
                        zero = p[i] == 0;
                w = zero ? "page never written (all zero)" : "checksum mismatch";
        } else if (unaligned_read_le64(p + 8) != pgno)
                w = "page number mismatch (misdirected write)";
        else if (page_type(p) < PT_HEADER || page_type(p) > PT_STREAM)
                w = "unknown page type";
        return w ? err_reason(es, MSTORE_E_CORRUPT, w) : 0;
}

void db_hdr_encode(const db_hdr *h, uint8_t *page, uint64_t pgno) {
        page_init(page, pgno, PT_HEADER, 0);
        uint8_t *b = page + 32;
        unaligned_write_le32(b + 0, DBHDR_MAGIC);
        unaligned_write_le32(b + 4, DBHDR_VERSION);
        unaligned_write_le32(b + 8, h->file_type);
        unaligned_write_le32(b + 12, h->state);
        unaligned_write_le64(b + 16, h->db_sig);
        memcpy(b + 24, h->log_sig, 16);
        unaligned_write_le32(b + 40, h->req_low);
        unaligned_write_le32(b + 44, h->req_high);
        unaligned_write_le32(b + 48, h->committed);
        unaligned_write_le64(b + 56, h->create_time);
        for (int i = 0; i < 4; i++) {
                uint8_t *s = b + 64 + 24 * i;
                unaligned_write_le32(s, (uint32_t) !!h->slot[i].present);
                unaligned_write_le32(s + 4, h->slot[i].gen_low);
                unaligned_write_le32(s + 8, h->slot[i].gen_high);
                unaligned_write_le64(s + 16, h->slot[i].time);
        }
        memcpy(b + 160, h->name, strnlen(h->name, DB_NAME_MAX));
        unaligned_write_le32(b + 240, PAGE_SIZE);
        page_seal(page);
}

int db_hdr_decode(const uint8_t *page, uint64_t pgno, db_hdr *ret, ErrorSlot *es) {
        int r = page_check(page, pgno, es);
        if (r < 0)
                return r;
        const uint8_t *b = page + 32;
        if (page_type(page) != PT_HEADER || unaligned_read_le32(b) != DBHDR_MAGIC)
                return err_reason(es, MSTORE_E_CORRUPT, "not an mstore database header");
        if (unaligned_read_le32(b + 4) != DBHDR_VERSION)
                return err_reason(es, MSTORE_E_VERSION, "unknown header format version");
        if (unaligned_read_le32(b + 240) != PAGE_SIZE)
                return err_reason(es, MSTORE_E_VERSION, "unsupported page size");
        db_hdr h = { 0 };
        h.file_type = unaligned_read_le32(b + 8);
        h.state = unaligned_read_le32(b + 12);
        h.db_sig = unaligned_read_le64(b + 16);
        memcpy(h.log_sig, b + 24, 16);
        h.req_low = unaligned_read_le32(b + 40);
        h.req_high = unaligned_read_le32(b + 44);
        h.committed = unaligned_read_le32(b + 48);
        h.create_time = unaligned_read_le64(b + 56);
        for (int i = 0; i < 4; i++) {
                const uint8_t *s = b + 64 + 24 * i;
                h.slot[i].present = unaligned_read_le32(s) != 0;
                h.slot[i].gen_low = unaligned_read_le32(s + 4);
                h.slot[i].gen_high = unaligned_read_le32(s + 8);
                h.slot[i].time = unaligned_read_le64(s + 16);
        }
        memcpy(h.name, b + 160, DB_NAME_MAX);
        h.name[DB_NAME_MAX] = 0;
        if (h.file_type > MSTORE_FILE_STREAM ||
            (h.state != MSTORE_STATE_CLEAN_SHUTDOWN && h.state != MSTORE_STATE_DIRTY_SHUTDOWN))
                return err_reason(es, MSTORE_E_CORRUPT, "bad file type or state in header");
        *ret = h;
        return 0;
}

void meta_read(const uint8_t *page, db_meta *m) {
        const uint8_t *b = page + 32;
        m->root = unaligned_read_le64(b);
        m->page_count = unaligned_read_le64(b + 8);
        m->free_head = unaligned_read_le64(b + 16);
        m->stm_next = unaligned_read_le64(b + 24);
        m->dbtime = unaligned_read_le64(b + 32);
        m->nkeys = unaligned_read_le64(b + 40);
        m->nfree = unaligned_read_le32(b + 48);
        if (m->nfree > STM_FREE_MAX)
                m->nfree = 0; /* damaged list: forget it (leaks space, never reuses in-use pages) */
        for (uint32_t i = 0; i < m->nfree; i++) {
                m->free[i].first = unaligned_read_le64(b + 56 + 16 * i);
                m->free[i].npages = unaligned_read_le64(b + 64 + 16 * i);
        }
}

void meta_write(uint8_t *page, const db_meta *m) {
        uint8_t *b = page + 32;
        unaligned_write_le64(b, m->root);
        unaligned_write_le64(b + 8, m->page_count);
        unaligned_write_le64(b + 16, m->free_head);
        unaligned_write_le64(b + 24, m->stm_next);
        unaligned_write_le64(b + 32, m->dbtime);
        unaligned_write_le64(b + 40, m->nkeys);
        unaligned_write_le32(b + 48, m->nfree);
        for (uint32_t i = 0; i < m->nfree; i++) {
                unaligned_write_le64(b + 56 + 16 * i, m->free[i].first);
                unaligned_write_le64(b + 64 + 16 * i, m->free[i].npages);
        }
}
