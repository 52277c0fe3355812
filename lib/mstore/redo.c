/* SPDX-License-Identifier: MIT */
/*
 * redo.c: replay of the log into database pages (soft and hard recovery,
 * attach of a database in dirty shutdown).
 *
 * R1 Page images are applied only at their transaction's COMMIT record; a
 *    transaction whose COMMIT is missing (torn tail) leaves no trace.
 * R2 An image is applied only if the page on disk/in cache is older (lower
 *    version) or damaged (a torn write from the crash): redo is idempotent.
 * R3 Every image is itself checksummed and must be the page it claims to be.
 * R4 Generations are replayed in order with no gap; a closed generation must
 *    end with END, so damage inside one is corruption, never "end of log".
 *    In the newest generation the first invalid record ends the log unless a
 *    later valid record proves the damaged bytes had been synced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "err.h"
#include "lib/core/array.h"
#include "lib/core/macro.h"

#define PAGE_PAYLOAD (24u + PAGE_SIZE)

typedef struct pend_page {
        uint64_t sig;
        uint32_t file;
        uint64_t pgno;
        uint8_t image[PAGE_SIZE];
} pend_page;

/* Find generation g: a closed file in a directory, else an E00.log holding it. */
static char *gen_path(const redo_opts *o, uint32_t g, int *ret_current) {
        for (int i = 0; i < 2 && o->dirs[i]; i++) {
                char *p = log_path_gen(o->dirs[i], o->base, g);
                if (p && io_exists(o->io, p) > 0) {
                        *ret_current = 0;
                        return p;
                }
                free(p);
        }
        for (int i = 0; i < 2 && o->dirs[i]; i++) {
                char *p = log_path_current(o->dirs[i], o->base);
                mstore_file *f = NULL;
                uint8_t hb[LOG_HDR_SIZE];
                log_hdr h;
                if (p && io_open(o->io, p, MSTORE_IO_RDONLY, &f) >= 0) {
                        int ok = io_pread(f, hb, sizeof hb, 0) == (int64_t) sizeof hb &&
                                 log_hdr_decode(hb, sizeof hb, &h, NULL) >= 0 && h.gen == g;
                        io_close(f);
                        if (ok) {
                                *ret_current = 1;
                                return p;
                        }
                }
                free(p);
        }
        return NULL;
}

static int apply(const redo_opts *o, pend_page *pp, size_t n, redo_result *res) {
        for (size_t i = 0; i < n; i++) {
                mstore_db *db = o->find(o->ud, pp[i].sig);
                if (!db)
                        continue;
                int r = pager_redo(pp[i].file ? db->stm : db->edb, pp[i].pgno, pp[i].image);
                if (r < 0)
                        return mstore__error(r, "%s: applying page %llu: %s", db->edb_path,
                                             (unsigned long long) pp[i].pgno, mstore_strerror(r));
                res->pages_applied += (uint64_t) r;
        }
        return 0;
}

int redo_run(const redo_opts *o, redo_result *res) {
        *res = (redo_result) { 0 };
        uint8_t sig[16];
        int have_sig = o->have_sig;
        memcpy(sig, o->sig, 16);
        pend_page *pend = NULL;
        size_t npend = 0, cap = 0;
        int r = 0;
        uint32_t g = LGPOS_GEN(o->start);
        uint32_t start_off = MAX(LGPOS_OFF(o->start), LOG_HDR_SIZE);

        for (;; g++) {
                int is_current = 0;
                _cleanup_free_ char *path = gen_path(o, g, &is_current);
                if (!path) {
                        if (!res->last_gen) {
                                r = mstore__error(MSTORE_E_MISSING_LOGS, "log generation 0x%X (%s%08X.log) is missing",
                                                  g, o->base, g);
                                goto out;
                        }
                        snprintf(res->stop_reason, sizeof res->stop_reason,
                                 "end of the log stream after generation 0x%X", res->last_gen);
                        break;
                }
                log_file lf;
                ErrorSlot why;
                r = log_file_read(o->io, path, &lf, &why);
                if (r < 0) {
                        r = mstore__error(r == -ENOENT ? MSTORE_E_MISSING_LOGS : r, "%s: %s", path,
                                          error_slot_get(&why));
                        goto out;
                }
                if (lf.hdr.gen != g) {
                        log_file_done(&lf);
                        r = mstore__error(MSTORE_E_CORRUPT, "%s: holds generation 0x%X, expected 0x%X", path,
                                          lf.hdr.gen, g);
                        goto out;
                }
                if (!have_sig) {
                        memcpy(sig, lf.hdr.sig, 16);
                        have_sig = 1;
                } else if (memcmp(sig, lf.hdr.sig, 16) != 0) {
                        log_file_done(&lf);
                        if (o->stop_on_sig_change && res->last_gen) {
                                snprintf(res->stop_reason, sizeof res->stop_reason,
                                         "log signature changes at generation 0x%X: another stream", g);
                                break;
                        }
                        r = mstore__error(MSTORE_E_SIGNATURE, "%s: log signature differs from the stream's", path);
                        goto out;
                }
                if (!res->first_gen)
                        res->first_gen = g;
                res->last_gen = g;
                res->last_create_time = lf.hdr.create_time;
                res->last_is_current = is_current;
                size_t off = (g == LGPOS_GEN(o->start)) ? start_off : LOG_HDR_SIZE;
                int ended = 0; /* END seen */
                for (;;) {
                        rec_view v;
                        if (off >= lf.len ||
                            rec_parse(lf.data + off, lf.len - off, LGPOS(g, off), sig, &v, &why) < 0) {
                                const char *w = off >= lf.len ? "generation ends without END record"
                                                              : error_slot_get(&why);
                                if (!is_current) {
                                        log_file_done(&lf);
                                        r = mstore__error(MSTORE_E_CORRUPT,
                                                          "%s: generation 0x%X damaged at offset %zu: %s", path, g,
                                                          off, w);
                                        goto out;
                                }
                                if (log_damage_is_durable(lf.data, lf.len, g, (uint32_t) off, sig)) {
                                        log_file_done(&lf);
                                        r = mstore__error(MSTORE_E_CORRUPT,
                                                          "%s: generation 0x%X damaged at offset %zu (synced data): %s",
                                                          path, g, off, w);
                                        goto out;
                                }
                                break; /* torn or clean end of the newest generation */
                        }
                        res->bytes += v.len;
                        if (v.type == REC_PAGE) {
                                if (v.plen < PAGE_PAYLOAD || unaligned_read_le32(v.payload + 8) > 1) {
                                        r = MSTORE_E_CORRUPT;
                                } else {
                                        uint64_t pgno = unaligned_read_le64(v.payload + 16);
                                        if (page_check(v.payload + 24, pgno, NULL) < 0 || pgno < 2)
                                                r = MSTORE_E_CORRUPT;
                                        else {
                                                if (ARRAY_RESERVE_ONE(pend, cap, npend, 16) < 0) {
                                                        r = -ENOMEM;
                                                        goto rec_done;
                                                }
                                                pend[npend].sig = unaligned_read_le64(v.payload);
                                                pend[npend].file = unaligned_read_le32(v.payload + 8);
                                                pend[npend].pgno = pgno;
                                                memcpy(pend[npend].image, v.payload + 24, PAGE_SIZE);
                                                npend++;
                                        }
                                }
                                if (r == MSTORE_E_CORRUPT)
                                        mstore__error(r, "%s: generation 0x%X offset %zu: bad page image", path, g, off);
                        } else if (v.type == REC_COMMIT) {
                                r = apply(o, pend, npend, res);
                                npend = 0;
                        } else if (v.type == REC_ATTACH && o->on_attach) {
                                if (v.plen < 10 || unaligned_read_le16(v.payload + 8) == 0 ||
                                    10u + unaligned_read_le16(v.payload + 8) > v.plen ||
                                    unaligned_read_le16(v.payload + 8) > CKPT_PATH_MAX)
                                        r = mstore__error(MSTORE_E_CORRUPT, "%s: malformed attach record", path);
                                else {
                                        char p[CKPT_PATH_MAX + 1];
                                        memcpy(p, v.payload + 10, unaligned_read_le16(v.payload + 8));
                                        p[unaligned_read_le16(v.payload + 8)] = 0;
                                        r = o->on_attach(o->ud, unaligned_read_le64(v.payload), p);
                                }
                        } else if (v.type == REC_DETACH && o->on_detach) {
                                r = v.plen < 8 ? MSTORE_E_CORRUPT : o->on_detach(o->ud, unaligned_read_le64(v.payload));
                        } else if (v.type == REC_END) {
                                ended = 1;
                        }
                rec_done:
                        if (r < 0) {
                                log_file_done(&lf);
                                goto out;
                        }
                        if (ended)
                                break;
                        off += v.len;
                }
                res->end_off = (uint32_t) off;
                log_file_done(&lf);
                if (!ended)
                        break; /* the newest generation ended (E00.log) */
        }
        if (!res->stop_reason[0])
                snprintf(res->stop_reason, sizeof res->stop_reason, "end of the log at generation 0x%X offset %u",
                         res->last_gen, res->end_off);
out:
        free(pend);
        return r;
}
