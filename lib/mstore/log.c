/* SPDX-License-Identifier: MIT */
/*
 * log.c: log file format, records, the group-commit writer and generation
 * roll-over.  Format: see log.h.
 *
 * Writer invariants:
 *  L1 Records are appended under w->lock into in-memory segments, one per
 *     generation run; a batch is contiguous and never split by another.
 *  L2 Exactly one thread (the "flusher", w->flushing) writes and syncs log
 *     files at a time; others wait on w->cond and share its fsync.
 *  L3 w->durable only advances after pwrite + sync of everything before it.
 *  L4 A generation is closed (END record, sync, rename to its number) before
 *     the next becomes E00.log; E00.log therefore always holds the newest.
 *  L5 While frozen nothing is written; flush waiters sleep until thaw.
 *  L6 Any write/sync error makes the writer failed for good (sticky).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "lib/core/array.h"
#include "lib/core/macro.h"
#include "lib/core/time-util.h"
#include "log.h"
#include "page.h"
#include "err.h"

static uint64_t sig_seed(const uint8_t sig[16]) {
        return unaligned_read_le64(sig) ^ unaligned_read_le64(sig + 8);
}

void log_hdr_encode(const log_hdr *h, uint8_t *b) {
        memset(b, 0, LOG_HDR_SIZE);
        unaligned_write_le32(b, LOG_MAGIC);
        unaligned_write_le32(b + 4, LOG_VERSION);
        unaligned_write_le32(b + 8, h->gen);
        unaligned_write_le32(b + 12, h->flags);
        unaligned_write_le64(b + 16, h->file_size);
        memcpy(b + 24, h->sig, 16);
        unaligned_write_le64(b + 40, h->create_time);
        unaligned_write_le64(b + 48, h->prev_create_time);
        unaligned_write_le64(b + 56, h->ckpt);
        unaligned_write_le64(b + LOG_HDR_SIZE - 8, XXH3_64bits(b, LOG_HDR_SIZE - 8));
}

int log_hdr_decode(const uint8_t *b, size_t len, log_hdr *ret, ErrorSlot *es) {
        if (len < LOG_HDR_SIZE)
                return err_reason(es, MSTORE_E_CORRUPT, "file shorter than a log header");
        if (unaligned_read_le64(b + LOG_HDR_SIZE - 8) != XXH3_64bits(b, LOG_HDR_SIZE - 8))
                return err_reason(es, MSTORE_E_CORRUPT, "log header checksum mismatch");
        if (unaligned_read_le32(b) != LOG_MAGIC)
                return err_reason(es, MSTORE_E_CORRUPT, "not an mstore log file");
        if (unaligned_read_le32(b + 4) != LOG_VERSION)
                return err_reason(es, MSTORE_E_VERSION, "unknown log format version");
        log_hdr h = {
                .gen = unaligned_read_le32(b + 8),
                .flags = unaligned_read_le32(b + 12),
                .file_size = unaligned_read_le64(b + 16),
                .create_time = unaligned_read_le64(b + 40),
                .prev_create_time = unaligned_read_le64(b + 48),
                .ckpt = unaligned_read_le64(b + 56),
        };
        memcpy(h.sig, b + 24, 16);
        if (h.gen == 0 || h.gen > LOG_MAX_GEN || h.file_size < LOG_MIN_FILE_SIZE || h.file_size > (1ull << 31))
                return err_reason(es, MSTORE_E_CORRUPT, "log header fields out of range");
        *ret = h;
        return 0;
}

static uint64_t rec_sum(const uint8_t *rec, uint32_t len, const uint8_t sig[16]) {
        /* a stack state must be zeroed before a seeded reset (xxhash.h, XXH3_INITSTATE) */
        XXH3_state_t st;
        XXH3_INITSTATE(&st);
        static const uint8_t zero[8];
        XXH3_64bits_reset_withSeed(&st, sig_seed(sig));
        XXH3_64bits_update(&st, rec, 24);
        XXH3_64bits_update(&st, zero, 8);
        XXH3_64bits_update(&st, rec + 32, len - 32);
        return XXH3_64bits_digest(&st);
}

int rec_parse(const uint8_t *buf, size_t avail, lgpos pos, const uint8_t sig[16],
              rec_view *ret, ErrorSlot *es) {
        const char *w = NULL;
        uint32_t len = 0;
        if (avail < REC_HDR)
                w = "truncated record header";
        else if (unaligned_read_le32(buf) != REC_MAGIC)
                w = "no record magic";
        else if ((len = unaligned_read_le32(buf + 4)) < REC_HDR || len % 8 || len > REC_MAX || len > avail)
                w = "bad record length";
        else if (buf[8] < REC_PAGE || buf[8] > REC_SHUTDOWN)
                w = "unknown record type";
        else if (unaligned_read_le32(buf + 12) != LGPOS_GEN(pos) || unaligned_read_le64(buf + 16) != pos)
                w = "record position mismatch (stale data)";
        else if (unaligned_read_le64(buf + 24) != rec_sum(buf, len, sig))
                w = "record checksum mismatch";
        if (w)
                return err_reason(es, MSTORE_E_CORRUPT, w);
        *ret = (rec_view) {
                .type = buf[8], .gen = unaligned_read_le32(buf + 12), .pos = pos, .len = len,
                .payload = buf + REC_HDR, .plen = len - REC_HDR, .durable = unaligned_read_le64(buf + 32),
        };
        return 0;
}

size_t rec_encode(uint8_t *out, uint8_t type, lgpos pos, lgpos durable, const uint8_t sig[16],
                  const void *p1, size_t l1, const void *p2, size_t l2) {
        size_t len = rec_size(l1 + l2);
        memset(out, 0, len);
        unaligned_write_le32(out, REC_MAGIC);
        unaligned_write_le32(out + 4, (uint32_t) len);
        out[8] = type;
        unaligned_write_le32(out + 12, LGPOS_GEN(pos));
        unaligned_write_le64(out + 16, pos);
        unaligned_write_le64(out + 32, durable);
        if (l1)
                memcpy(out + REC_HDR, p1, l1);
        if (l2)
                memcpy(out + REC_HDR + l1, p2, l2);
        unaligned_write_le64(out + 24, rec_sum(out, (uint32_t) len, sig));
        return len;
}

int log_damage_is_durable(const uint8_t *data, size_t len, uint32_t gen, uint32_t end, const uint8_t sig[16]) {
        for (size_t o = (size_t) end + 8; o + REC_HDR <= len; o += 8) {
                if (unaligned_read_le32(data + o) != REC_MAGIC)
                        continue;
                rec_view v;
                if (rec_parse(data + o, len - o, LGPOS(gen, o), sig, &v, NULL) >= 0 &&
                    v.durable > LGPOS(gen, end))
                        return 1;
        }
        return 0;
}

/* ------------------------------------------------------------- names */

static char *mkpath(const char *dir, const char *base, const char *suffix) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s%s", dir, base, suffix) < 0)
                return NULL;
        return p;
}

char *log_path_current(const char *dir, const char *base) {
        return mkpath(dir, base, ".log");
}

char *log_path_gen(const char *dir, const char *base, uint32_t gen) {
        char name[MSTORE_LOG_NAME_SIZE];
        if (mstore_log_name(base, gen, name) < 0)
                return NULL; /* no such file can exist */
        return mkpath(dir, name, "");
}

char *log_path_tmp(const char *dir, const char *base) {
        return mkpath(dir, base, "tmp.log");
}

char *log_path_reserve(const char *dir, const char *base, int i) {
        char s[32];
        snprintf(s, sizeof s, "res%05d.jrs", i);
        return mkpath(dir, base, s);
}

uint32_t log_name_gen(const char *name, const char *base) {
        char b[MSTORE_LOG_BASE_SIZE];
        uint32_t g;
        if (mstore_log_name_parse(name, b, &g) != MSTORE_LOG_NAME_CLOSED || strcmp(b, base) != 0)
                return 0;
        return g;
}

int log_file_read(const struct mstore_io *io, const char *path, log_file *ret, ErrorSlot *es) {
        mstore_file *f = NULL;
        uint64_t size;
        int r = io_open(io, path, MSTORE_IO_RDONLY, &f);
        if (r < 0)
                return err_reason(es, r, "cannot open");
        r = io_size(f, &size);
        if (r >= 0 && size > (1ull << 31))
                size = 1ull << 31;
        uint8_t *buf = r >= 0 ? malloc(size ? size : 1) : NULL;
        if (r >= 0 && !buf)
                r = -ENOMEM;
        int64_t n = 0;
        if (r >= 0) {
                n = io_pread(f, buf, size, 0);
                if (n < 0)
                        r = (int) n;
        }
        io_close(f);
        if (r < 0) {
                free(buf);
                return err_reason(es, r, "cannot read");
        }
        r = log_hdr_decode(buf, (size_t) n, &ret->hdr, es);
        if (r < 0) {
                free(buf);
                return r;
        }
        ret->data = buf;
        ret->len = (size_t) n < ret->hdr.file_size ? (size_t) n : ret->hdr.file_size;
        return 0;
}

void log_file_done(log_file *f) {
        free(f->data);
        f->data = NULL;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

int log_set_scan(const struct mstore_io *io, const char *dir, const char *base, log_set *ret) {
        char **names = NULL;
        int r = io_list(io, dir, &names);
        if (r < 0)
                return r;
        log_set s = { 0 };
        size_t cnt = 0;
        for (char **p = names; *p; p++)
                cnt++;
        s.gens = calloc(cnt + 1, sizeof *s.gens);
        if (!s.gens) {
                io_strv_free(names);
                return -ENOMEM;
        }
        size_t bl = strlen(base);
        for (char **p = names; *p; p++) {
                uint32_t g = log_name_gen(*p, base);
                if (g)
                        s.gens[s.n++] = g;
                else if (strncmp(*p, base, bl) == 0 && strcmp(*p + bl, ".log") == 0)
                        s.has_current = 1;
                else if (strncmp(*p, base, bl) == 0 && strcmp(*p + bl, "tmp.log") == 0)
                        s.has_tmp = 1;
        }
        io_strv_free(names);
        qsort(s.gens, s.n, sizeof *s.gens, cmp_u32);
        if (s.n) {
                s.low = s.gens[0];
                s.high = s.gens[s.n - 1];
        }
        if (s.has_current) {
                _cleanup_free_ char *cp = log_path_current(dir, base);
                mstore_file *f = NULL;
                uint8_t hb[LOG_HDR_SIZE];
                log_hdr h;
                if (cp && io_open(io, cp, MSTORE_IO_RDONLY, &f) >= 0) {
                        int64_t n = io_pread(f, hb, sizeof hb, 0);
                        if (n == (int64_t) sizeof hb && log_hdr_decode(hb, sizeof hb, &h, NULL) >= 0)
                                s.current_gen = h.gen;
                        io_close(f);
                }
        }
        *ret = s;
        return 0;
}

void log_set_done(log_set *s) {
        free(s->gens);
        s->gens = NULL;
}

/* ------------------------------------------------------------ writer */

typedef struct seg {
        uint32_t gen;
        uint32_t start;
        uint8_t *buf;
        size_t len, cap;
} seg;

struct log_writer {
        const struct mstore_io *io;
        char *dir, *base;
        uint64_t file_size;
        uint8_t sig[16];
        int circular;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint32_t gen, off;        /* logical append position */
        seg *segs;
        size_t nsegs, cap_segs;
        lgpos durable;
        int flushing, frozen, freezing, failed, read_only;
        ErrorSlot err;               /* why the writer failed (the first failure), set under the lock by
                                      * the flushing thread; log_flush raises it into the caller's handle */

        /* physical state, touched only by the flusher (L2) */
        mstore_file *cur;
        uint32_t file_gen;
        uint64_t file_create_time;
        int need_tmp;
};

static void segs_free(seg *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(s[i].buf);
        free(s);
}

static int write_header(log_writer *w, mstore_file *f, uint32_t gen, uint64_t prev_ct, uint64_t *ret_ct) {
        uint8_t hb[LOG_HDR_SIZE];
        log_hdr h = {
                .gen = gen, .flags = w->circular ? 1 : 0, .file_size = w->file_size,
                .create_time = now_nsec(CLOCK_REALTIME), .prev_create_time = prev_ct,
        };
        memcpy(h.sig, w->sig, 16);
        log_hdr_encode(&h, hb);
        int r = io_pwrite(f, hb, sizeof hb, 0);
        if (r >= 0 && ret_ct)
                *ret_ct = h.create_time;
        return r;
}

/* Create a preallocated log file at path with the header of gen; synced. */
static int create_log(log_writer *w, const char *path, uint32_t gen, uint64_t prev_ct,
                      mstore_file **ret, uint64_t *ret_ct) {
        mstore_file *f = NULL;
        io_unlink(w->io, path);
        int r = io_open(w->io, path, MSTORE_IO_CREATE | MSTORE_IO_EXCL, &f);
        if (r < 0)
                return r;
        r = io_allocate(f, w->file_size);
        /* Write the zeros for real: appending into allocated-but-unwritten
         * extents would make every commit's fdatasync journal an extent
         * conversion (ESE pre-fills its logs for the same reason). */
        static const uint8_t zero[256 * 1024];
        for (uint64_t o = LOG_HDR_SIZE; r >= 0 && o < w->file_size; o += sizeof zero)
                r = io_pwrite(f, zero, (size_t) MIN((uint64_t) sizeof zero, w->file_size - o), o);
        if (r >= 0)
                r = write_header(w, f, gen, prev_ct, ret_ct);
        if (r >= 0)
                r = io_sync(f);
        if (r < 0) {
                io_close(f);
                io_unlink(w->io, path);
                return r;
        }
        if (ret)
                *ret = f;
        else
                io_close(f);
        return 0;
}

static int precreate_tmp(log_writer *w) {
        _cleanup_free_ char *tp = log_path_tmp(w->dir, w->base);
        if (!tp)
                return -ENOMEM;
        /* Its header is rewritten at roll time (true create time, previous). */
        int r = create_log(w, tp, w->file_gen + 1, w->file_create_time, NULL, NULL);
        if (r >= 0)
                w->need_tmp = 0;
        return r;
}

/* Turn the prepared file PATH (a .tmp or reserve log) into the current log
 * CP of generation GEN: new header, synced, renamed, reopened into *RET_F. */
static int adopt_as_current(log_writer *w, const char *path, const char *cp, uint32_t gen,
                            uint64_t *ret_ct, mstore_file **ret_f) {
        mstore_file *f = NULL;
        int r = io_open(w->io, path, 0, &f);
        if (r >= 0)
                r = write_header(w, f, gen, w->file_create_time, ret_ct);
        if (r >= 0)
                r = io_sync(f);
        io_close(f);
        if (r >= 0)
                r = io_rename(w->io, path, cp);
        if (r >= 0)
                r = io_open(w->io, cp, 0, ret_f);
        return r;
}

/* Make generation gen the current E00.log (file not open yet).  The final
 * header is written and synced into the file before it is renamed to
 * E00.log, so E00.log always carries a valid header of its generation. */
static int open_new_current(log_writer *w, uint32_t gen) {
        _cleanup_free_ char *cp = log_path_current(w->dir, w->base);
        _cleanup_free_ char *tp = log_path_tmp(w->dir, w->base);
        if (!cp || !tp)
                return -ENOMEM;
        mstore_file *f = NULL;
        uint64_t ct = 0;
        int r = io_exists(w->io, tp) > 0 ? 0 : -ENOENT;
        if (r >= 0) {
                r = adopt_as_current(w, tp, cp, gen, &ct, &f);
                if (r < 0)
                        return r;
        } else {
                r = create_log(w, tp, gen, w->file_create_time, NULL, &ct);
                if (r >= 0) {
                        r = io_rename(w->io, tp, cp);
                        if (r >= 0)
                                r = io_open(w->io, cp, 0, &f);
                        if (r < 0)
                                return r;
                } else if (r == -ENOSPC || r == -EDQUOT) {
                        /* Disk full: a reserve log lets us go on long enough to shut down. */
                        for (int i = 1; i <= 2 && r < 0; i++) {
                                _cleanup_free_ char *rp = log_path_reserve(w->dir, w->base, i);
                                if (!rp || io_exists(w->io, rp) <= 0)
                                        continue;
                                r = adopt_as_current(w, rp, cp, gen, &ct, &f);
                                if (r >= 0)
                                        __atomic_store_n(&w->read_only, 1, __ATOMIC_SEQ_CST);
                        }
                }
                if (r < 0)
                        return r;
        }
        w->cur = f;
        w->file_gen = gen;
        w->file_create_time = ct;
        return 0;
}

/* Close the current generation and open gen (L4). */
static int roll_to(log_writer *w, uint32_t gen) {
        int r = io_sync(w->cur);
        if (r < 0)
                return r;
        io_close(w->cur);
        w->cur = NULL;
        _cleanup_free_ char *cp = log_path_current(w->dir, w->base);
        _cleanup_free_ char *gp = log_path_gen(w->dir, w->base, w->file_gen);
        if (!cp || !gp)
                return -ENOMEM;
        r = io_rename(w->io, cp, gp);
        if (r < 0)
                return r;
        r = open_new_current(w, gen);
        if (r < 0)
                return r;
        r = io_sync_dir(w->io, w->dir);
        if (r < 0)
                return r;
        w->need_tmp = 1;
        return 0;
}

/* On failure the message in MSG (the caller's slot) says what failed; the
 * caller stores it under the lock. */
static int write_segs(log_writer *w, seg *s, size_t n, int no_tmp, ErrorSlot *msg) {
        int r = 0;
        const char *what = "writing";
        uint32_t gen = w->file_gen;
        for (size_t i = 0; i < n && r >= 0; i++) {
                if (s[i].gen != w->file_gen) {
                        what = "starting";
                        gen = s[i].gen;
                        r = roll_to(w, s[i].gen);
                }
                if (r >= 0 && s[i].len) {
                        what = "writing";
                        gen = s[i].gen;
                        r = io_pwrite(w->cur, s[i].buf, s[i].len, s[i].start);
                }
        }
        if (r >= 0 && n) {
                what = "syncing";
                r = io_sync(w->cur);
        }
        if (r < 0)
                (void) error_slot_set(msg, r, "%s log generation 0x%X in %s: %s", what, gen, w->dir, strerror(-r));
        if (r >= 0 && w->need_tmp && !no_tmp && !w->read_only)
                (void) precreate_tmp(w); /* best effort; roll_to creates one if needed */
        return r;
}

static int emit(log_writer *w, uint8_t type, const void *p1, size_t l1, const void *p2, size_t l2) {
        size_t sz = rec_size(l1 + l2);
        seg *s = w->nsegs ? &w->segs[w->nsegs - 1] : NULL;
        if (!s || s->gen != w->gen) {
                if (ARRAY_RESERVE_ONE(w->segs, w->cap_segs, w->nsegs, 4) < 0)
                        return -ENOMEM;
                s = &w->segs[w->nsegs++];
                *s = (seg) { .gen = w->gen, .start = w->off };
        }
        if (s->len + sz > s->cap) {
                size_t nc = MAX(s->cap * 2, s->len + sz + 65536);
                uint8_t *nb = realloc(s->buf, nc);
                if (!nb)
                        return -ENOMEM;
                s->buf = nb;
                s->cap = nc;
        }
        rec_encode(s->buf + s->len, type, LGPOS(w->gen, w->off), w->durable, w->sig, p1, l1, p2, l2);
        s->len += sz;
        w->off += (uint32_t) sz;
        return 0;
}

/* Emit END and switch to the next generation (logical). */
static int next_gen(log_writer *w) {
        if (w->gen >= LOG_MAX_GEN)
                return -EOVERFLOW;
        int r = emit(w, REC_END, NULL, 0, NULL, 0);
        if (r < 0)
                return r;
        w->gen++;
        w->off = LOG_HDR_SIZE;
        return 0;
}

int log_append(log_writer *w, const rec_item *items, size_t n, lgpos *ret_end) {
        int r = 0;
        pthread_mutex_lock(&w->lock);
        if (w->failed)
                r = MSTORE_E_FAILED;
        for (size_t i = 0; i < n && r >= 0; i++) {
                size_t sz = rec_size(items[i].l1 + items[i].l2);
                if (w->off + sz + rec_size(0) > w->file_size)
                        r = next_gen(w);
                if (r >= 0)
                        r = emit(w, items[i].type, items[i].p1, items[i].l1, items[i].p2, items[i].l2);
        }
        if (r == -ENOMEM || r == -EOVERFLOW)
                w->failed = r; /* a half-appended batch must never reach the disk */
        if (r >= 0 && ret_end)
                *ret_end = LGPOS(w->gen, w->off);
        pthread_mutex_unlock(&w->lock);
        return r < 0 ? (w->failed ? MSTORE_E_FAILED : r) : 0;
}

/* The flusher's turn (caller holds the lock and has set w->flushing): write
 * and sync every pending segment with the lock dropped, then record the
 * outcome.  Returns with the lock held and flushing cleared; the caller
 * broadcasts.  0 or the I/O error (which also makes the log failed). */
static int flush_pending(log_writer *w, int no_tmp) {
        seg *s = w->segs;
        size_t n = w->nsegs;
        lgpos end = LGPOS(w->gen, w->off);
        ErrorSlot msg; /* written by write_segs on failure only */
        int r;

        w->segs = NULL;
        w->nsegs = w->cap_segs = 0;
        pthread_mutex_unlock(&w->lock);
        r = write_segs(w, s, n, no_tmp, &msg);
        segs_free(s, n);
        pthread_mutex_lock(&w->lock);
        w->flushing = 0;
        if (r < 0 && !error_slot_get(&w->err)[0])
                (void) error_slot_set(&w->err, r, "%s", error_slot_get(&msg));
        if (r < 0)
                w->failed = r;
        else if (end > w->durable)
                w->durable = end;
        return r;
}

int log_flush(log_writer *w, lgpos upto) {
        int r;
        pthread_mutex_lock(&w->lock);
        for (;;) {
                if (w->failed) {
                        /* %.255s: as long as the writer's message was before (a 256-byte buffer) */
                        const char *why = error_slot_get(&w->err);
                        r = mstore__error(MSTORE_E_FAILED,
                                          "log stopped after an error (%.255s); reopen the storage group",
                                          why[0] ? why : mstore_strerror(w->failed));
                        break;
                }
                if (w->durable >= upto) {
                        r = 0;
                        break;
                }
                if (w->flushing || w->frozen) {
                        pthread_cond_wait(&w->cond, &w->lock);
                        continue;
                }
                w->flushing = 1;
                r = flush_pending(w, 0);
                pthread_cond_broadcast(&w->cond);
        }
        pthread_mutex_unlock(&w->lock);
        return r;
}

lgpos log_tail(log_writer *w) {
        pthread_mutex_lock(&w->lock);
        lgpos p = LGPOS(w->gen, w->off);
        pthread_mutex_unlock(&w->lock);
        return p;
}

lgpos log_durable(log_writer *w) {
        pthread_mutex_lock(&w->lock);
        lgpos p = w->durable;
        pthread_mutex_unlock(&w->lock);
        return p;
}

uint32_t log_current_gen(log_writer *w) {
        pthread_mutex_lock(&w->lock);
        uint32_t g = w->gen;
        pthread_mutex_unlock(&w->lock);
        return g;
}

int log_freeze(log_writer *w, uint32_t *ret_last) {
        int r = 0;
        pthread_mutex_lock(&w->lock);
        while (w->flushing && !w->failed)
                pthread_cond_wait(&w->cond, &w->lock);
        if (w->failed) {
                pthread_mutex_unlock(&w->lock);
                return MSTORE_E_FAILED;
        }
        if (w->frozen) {
                pthread_mutex_unlock(&w->lock);
                return MSTORE_E_BAD_SEQUENCE;
        }
        w->flushing = 1;
        uint32_t last = w->gen;
        r = next_gen(w);
        if (r >= 0) {
                /* an empty segment of the new generation makes the flusher roll */
                if (ARRAY_RESERVE_ONE(w->segs, w->cap_segs, w->nsegs, 4) < 0)
                        r = -ENOMEM;
                else {
                        w->segs[w->nsegs++] = (seg) { .gen = w->gen, .start = w->off };
                }
        }
        if (r < 0) {
                w->failed = r;
                w->flushing = 0;
                pthread_cond_broadcast(&w->cond);
                pthread_mutex_unlock(&w->lock);
                return MSTORE_E_FAILED;
        }
        r = flush_pending(w, 1);
        if (r >= 0) {
                w->frozen = 1;
                *ret_last = last;
        }
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return r < 0 ? MSTORE_E_FAILED : 0;
}

int log_ensure_next(log_writer *w) {
        pthread_mutex_lock(&w->lock);
        while ((w->flushing || w->frozen) && !w->failed)
                pthread_cond_wait(&w->cond, &w->lock);
        if (w->failed) {
                pthread_mutex_unlock(&w->lock);
                return MSTORE_E_FAILED;
        }
        w->flushing = 1; /* the flusher role owns the files (L2) */
        pthread_mutex_unlock(&w->lock);
        int r = 0;
        _cleanup_free_ char *tp = log_path_tmp(w->dir, w->base);
        if (!tp)
                r = -ENOMEM;
        else if (io_exists(w->io, tp) <= 0 && !w->read_only)
                r = precreate_tmp(w);
        pthread_mutex_lock(&w->lock);
        w->flushing = 0;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return r;
}

void log_thaw(log_writer *w) {
        pthread_mutex_lock(&w->lock);
        w->frozen = 0;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

int log_failed(log_writer *w) {
        pthread_mutex_lock(&w->lock);
        int f = w->failed;
        pthread_mutex_unlock(&w->lock);
        return f;
}

void log_set_failed(log_writer *w, int err) {
        pthread_mutex_lock(&w->lock);
        if (!w->failed)
                w->failed = err ? err : -EIO;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

int log_read_only(log_writer *w) {
        return __atomic_load_n(&w->read_only, __ATOMIC_SEQ_CST);
}

static int ensure_reserves(log_writer *w) {
        for (int i = 1; i <= 2; i++) {
                _cleanup_free_ char *rp = log_path_reserve(w->dir, w->base, i);
                if (!rp)
                        return -ENOMEM;
                if (io_exists(w->io, rp) > 0)
                        continue;
                mstore_file *f = NULL;
                int r = io_open(w->io, rp, MSTORE_IO_CREATE, &f);
                if (r < 0)
                        return r;
                r = io_allocate(f, w->file_size);
                if (r >= 0)
                        r = io_sync(f);
                io_close(f);
                if (r < 0)
                        return r;
        }
        return 0;
}

int log_writer_open(const struct mstore_io *io, const char *dir, const char *base, uint64_t file_size,
                    const uint8_t sig[16], int circular, uint32_t prev_gen, uint32_t prev_end,
                    uint64_t prev_create_time, lgpos ckpt, log_writer **ret) {
        log_writer *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->io = io;
        w->dir = strdup(dir);
        w->base = strdup(base);
        w->file_size = file_size;
        memcpy(w->sig, sig, 16);
        w->circular = circular;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        w->file_gen = prev_gen;
        w->file_create_time = prev_create_time;
        int r = (w->dir && w->base) ? 0 : -ENOMEM;
        if (r >= 0)
                r = ensure_reserves(w);
        _cleanup_free_ char *cp = log_path_current(dir, base);
        if (r >= 0 && !cp)
                r = -ENOMEM;
        if (r >= 0 && prev_gen > 0 && io_exists(io, cp) > 0) {
                /* close the previous generation at its valid end (torn tail overwritten) */
                uint8_t end[REC_HDR];
                rec_encode(end, REC_END, LGPOS(prev_gen, prev_end), LGPOS(prev_gen, prev_end), sig, NULL, 0, NULL, 0);
                r = io_open(io, cp, 0, &w->cur);
                uint8_t hb[LOG_HDR_SIZE];
                log_hdr h;
                if (r >= 0 && (io_pread(w->cur, hb, sizeof hb, 0) != (int64_t) sizeof hb ||
                               log_hdr_decode(hb, sizeof hb, &h, NULL) < 0 || h.gen != prev_gen))
                        r = MSTORE_E_CORRUPT; /* E00.log is not the generation recovery ended in */
                if (r >= 0)
                        r = io_pwrite(w->cur, end, sizeof end, prev_end);
                /* clear a torn tail so a closed generation holds nothing after END */
                static const uint8_t zero[65536];
                for (uint64_t o = prev_end + sizeof end; r >= 0 && o < h.file_size; o += sizeof zero)
                        r = io_pwrite(w->cur, zero, (size_t) MIN((uint64_t) sizeof zero, h.file_size - o), o);
                if (r >= 0)
                        r = roll_to(w, prev_gen + 1);
        } else if (r >= 0) {
                r = open_new_current(w, prev_gen + 1);
                if (r >= 0)
                        r = io_sync_dir(io, dir);
        }
        if (r >= 0)
                (void) precreate_tmp(w);
        if (r < 0) {
                io_close(w->cur);
                w->cur = NULL;
                log_writer_close(w);
                return r;
        }
        w->gen = prev_gen + 1;
        w->off = LOG_HDR_SIZE;
        w->durable = LGPOS(w->gen, w->off);
        *ret = w;
        return 0;
}

int log_writer_close(log_writer *w) {
        if (!w)
                return 0;
        int r = 0;
        pthread_mutex_lock(&w->lock);
        while (w->flushing)
                pthread_cond_wait(&w->cond, &w->lock);
        if (w->nsegs && !w->failed && !w->frozen) {
                pthread_mutex_unlock(&w->lock);
                r = log_flush(w, LGPOS(w->gen, w->off));
                pthread_mutex_lock(&w->lock);
        }
        pthread_mutex_unlock(&w->lock);
        segs_free(w->segs, w->nsegs);
        io_close(w->cur);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w->dir);
        free(w->base);
        free(w);
        return r;
}

int log_delete_below(log_writer *w, uint32_t gen, uint32_t *ret_first, uint32_t *ret_last) {
        log_set s;
        int r = log_set_scan(w->io, w->dir, w->base, &s);
        if (r < 0)
                return r;
        int n = 0;
        uint32_t first = 0, last = 0;
        for (size_t i = 0; i < s.n && s.gens[i] < gen; i++) {
                _cleanup_free_ char *p = log_path_gen(w->dir, w->base, s.gens[i]);
                if (!p) {
                        r = -ENOMEM;
                        break;
                }
                r = io_unlink(w->io, p);
                if (r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break; /* keep the sequence contiguous */
                if (!first)
                        first = s.gens[i];
                last = s.gens[i];
                n++;
        }
        log_set_done(&s);
        if (ret_first)
                *ret_first = first;
        if (ret_last)
                *ret_last = last;
        return r < 0 ? r : n;
}
