/* SPDX-License-Identifier: MIT */
/* verify.c: offline checks of database, stream, checkpoint and log files. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btree.h"
#include "ckpt.h"
#include "err.h"
#include "lib/core/macro.h"
#include "log.h"
#include "page.h"
#include "verify.h"

static void report(mstore_verify_cb cb, void *ud, uint64_t n, const char *fmt, ...) _printf_(4, 5);
static void report(mstore_verify_cb cb, void *ud, uint64_t n, const char *fmt, ...) {
        char buf[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (cb)
                cb(n, buf, ud);
}

static int ends_with(const char *s, const char *suf) {
        size_t a = strlen(s), b = strlen(suf);
        return a >= b && strcmp(s + a - b, suf) == 0;
}

static int verify_chk(const struct mstore_io *io, const char *path, mstore_verify_cb cb, void *ud, mstore_verify_result *res) {
        mstore_file *f = NULL;
        int r = io_open(io, path, MSTORE_IO_RDONLY, &f);
        if (r < 0)
                return mstore__error(r, "%s: cannot open: %s", path, strerror(-r));
        uint8_t *buf = malloc(2 * CKPT_SIZE);
        if (!buf) {
                io_close(f);
                return -ENOMEM;
        }
        int64_t n = io_pread(f, buf, 2 * CKPT_SIZE, 0);
        io_close(f);
        for (int copy = 0; copy < 2; copy++) {
                ckpt c;
                ErrorSlot why;
                res->pages_checked++;
                if (n < (int64_t) (copy + 1) * CKPT_SIZE ||
                    ckpt_decode(buf + copy * CKPT_SIZE, CKPT_SIZE, &c, &why) < 0) {
                        res->bad++;
                        report(cb, ud, (uint64_t) copy, "checkpoint copy %d: %s", copy,
                               n < (int64_t) (copy + 1) * CKPT_SIZE ? "truncated" : error_slot_get(&why));
                }
        }
        free(buf);
        return res->bad ? mstore__error(MSTORE_E_CORRUPT, "%s: %llu bad checkpoint copies", path,
                                        (unsigned long long) res->bad)
                        : 0;
}

/* Pages are read this many at a time (1 MiB): page-sized reads made checking
 * a cold snapshot several times slower than reading it. */
#define VERIFY_BLOCK_PAGES 256u

/* One page of a database or stream file; is_stm is learnt from the headers.
 * *sum gets the page's stored checksum and version when it passed,
 * {0, 0} for a stream page never written, version MSTORE_PAGE_BAD when not. */
static void check_page(const uint8_t *page, uint64_t p, int *is_stm, mstore_verify_cb cb, void *ud,
                       mstore_verify_result *res, mstore_page_sum *sum) {
        ErrorSlot why;
        *sum = (mstore_page_sum) { 0, MSTORE_PAGE_BAD };
        if (p < 2) {
                db_hdr h;
                if (db_hdr_decode(page, p, &h, &why) < 0) {
                        res->bad++;
                        report(cb, ud, p, "page %llu (header copy %llu): %s", (unsigned long long) p,
                               (unsigned long long) p, error_slot_get(&why));
                        return;
                }
                if (*is_stm < 0)
                        *is_stm = h.file_type == MSTORE_FILE_STREAM;
                *sum = (mstore_page_sum) { unaligned_read_le64(page), page_version(page) };
                return;
        }
        if (page_check(page, p, &why) < 0) {
                int zero = 1;
                for (unsigned i = 0; i < PAGE_SIZE && zero; i++)
                        zero = page[i] == 0;
                if (zero && *is_stm == 1) {
                        *sum = (mstore_page_sum) { 0, 0 };
                        return; /* a stream page never written (aborted stream) */
                }
                res->bad++;
                report(cb, ud, p, "page %llu: %s", (unsigned long long) p, error_slot_get(&why));
                return;
        }
        uint32_t t = page_type(page);
        if ((*is_stm == 1 && t != PT_STREAM) || (*is_stm == 0 && (t == PT_STREAM || t == PT_HEADER))) {
                res->bad++;
                report(cb, ud, p, "page %llu: page type %u does not belong in this file", (unsigned long long) p, t);
                return;
        }
        if (bt_check_page(page, &why) < 0) {
                res->bad++;
                report(cb, ud, p, "page %llu: %s", (unsigned long long) p, error_slot_get(&why));
                return;
        }
        *sum = (mstore_page_sum) { unaligned_read_le64(page), page_version(page) };
}

static int verify_file_io_flags(const struct mstore_io *io, const char *path, unsigned flags, mstore_verify_cb cb,
                                void *ud, mstore_verify_result *ret, mstore_page_sum **ret_sums, uint64_t *ret_n);

int mstore_verify_file(const char *path, mstore_verify_cb cb, void *ud, mstore_verify_result *ret) {
        ERR_ON_THREAD(); /* no handle */
        return verify_file_io(NULL, path, cb, ud, ret, NULL, NULL);
}

int mstore_verify_file_sums(const char *path, unsigned flags, mstore_verify_cb cb, void *ud,
                            mstore_verify_result *ret, mstore_page_sum **ret_sums, uint64_t *ret_n) {
        ERR_ON_THREAD(); /* no handle */
        return verify_file_io_flags(NULL, path, flags, cb, ud, ret, ret_sums, ret_n);
}

int verify_file_io(const struct mstore_io *io, const char *path, mstore_verify_cb cb, void *ud,
                   mstore_verify_result *ret, mstore_page_sum **ret_sums, uint64_t *ret_n) {
        return verify_file_io_flags(io, path, 0, cb, ud, ret, ret_sums, ret_n);
}

/* Reads VERIFY_BLOCK_PAGES pages into buf (aligned for O_DIRECT); a direct
 * read the file system refuses is done again, and the rest of the file read,
 * through the page cache. */
static int read_block(const struct mstore_io *io, const char *path, mstore_file **f, bool *direct, uint8_t *buf,
                      size_t len, uint64_t off) {
        int r = io_pread_full(*f, buf, len, off);
        mstore_file *g = NULL;
        if (r >= 0 || !*direct || io_open(io, path, MSTORE_IO_RDONLY, &g) < 0)
                return r;
        io_close(*f);
        *f = g;
        *direct = false;
        return io_pread_full(*f, buf, len, off);
}

/* A file of at least this many pages (64 MiB) is checked by two threads,
 * each reading one half in order (both cores, two reads in flight). */
#define VERIFY_SPLIT_PAGES 16384u

/* The pages [from, to) of one file, read and checked by one thread. */
typedef struct vrange {
        const struct mstore_io *io;
        const char *path;
        bool direct;
        uint64_t from, to;
        int is_stm;
        mstore_verify_cb cb;       /* lock_cb while two ranges run */
        void *ud;
        mstore_page_sum *sums;     /* NULL: not wanted */
        mstore_verify_result res;
} vrange;

typedef struct vlock {
        pthread_mutex_t lock;
        mstore_verify_cb cb;
        void *ud;
} vlock;

static void lock_cb(uint64_t n, const char *what, void *userdata) {
        vlock *l = userdata;
        pthread_mutex_lock(&l->lock);
        l->cb(n, what, l->ud);
        pthread_mutex_unlock(&l->lock);
}

static void verify_range(vrange *v, mstore_file **f, uint8_t *buf) {
        mstore_page_sum one;
        for (uint64_t b = v->from; b < v->to; b += VERIFY_BLOCK_PAGES) {
                size_t nb = (size_t) MIN((uint64_t) VERIFY_BLOCK_PAGES, v->to - b);
                /* A block that cannot be read whole is read page by page, so
                 * a read error names its page. */
                int whole = read_block(v->io, v->path, f, &v->direct, buf, nb * PAGE_SIZE, b * PAGE_SIZE) >= 0;
                for (size_t i = 0; i < nb; i++) {
                        uint64_t p = b + i;
                        uint8_t *page = buf + i * PAGE_SIZE;
                        mstore_page_sum *sum = v->sums ? &v->sums[p] : &one;
                        int r;
                        if (!whole && (r = io_pread_full(*f, page, PAGE_SIZE, p * PAGE_SIZE)) < 0) {
                                v->res.bad++;
                                *sum = (mstore_page_sum) { 0, MSTORE_PAGE_BAD };
                                report(v->cb, v->ud, p, "page %llu: read error %s", (unsigned long long) p,
                                       strerror(-r));
                                continue;
                        }
                        v->res.pages_checked++;
                        check_page(page, p, &v->is_stm, v->cb, v->ud, &v->res, sum);
                }
        }
}

/* The second half, on a thread of its own with its own file handle. */
static void *verify_range_thread(void *arg) {
        vrange *v = arg;
        mstore_file *f = NULL;
        uint8_t *buf = aligned_alloc(PAGE_SIZE, VERIFY_BLOCK_PAGES * PAGE_SIZE);
        if (!buf || io_open(v->io, v->path, MSTORE_IO_RDONLY | (v->direct ? MSTORE_IO_DIRECT : 0), &f) < 0) {
                free(buf);
                return NULL;   /* not started: the first thread checks this half too */
        }
        verify_range(v, &f, buf);
        io_close(f);
        free(buf);
        return v;
}

static int verify_file_io_flags(const struct mstore_io *io, const char *path, unsigned flags, mstore_verify_cb cb,
                                void *ud, mstore_verify_result *ret, mstore_page_sum **ret_sums, uint64_t *ret_n) {
        mstore_verify_result res = { 0 };
        mstore_page_sum *sums = NULL;
        int r;
        if (ret_sums) {
                *ret_sums = NULL;
                *ret_n = 0;
        }
        if (ends_with(path, ".chk")) {
                r = verify_chk(io, path, cb, ud, &res);
                if (ret)
                        *ret = res;
                return r;
        }
        mstore_file *f = NULL;
        bool direct = flags & MSTORE_VERIFY_DIRECT;
        r = io_open(io, path, MSTORE_IO_RDONLY | (direct ? MSTORE_IO_DIRECT : 0), &f);
        if (r < 0)
                return mstore__error(r, "%s: cannot open: %s", path, strerror(-r));
        uint64_t size = 0;
        r = io_size(f, &size);
        uint64_t npages = size / PAGE_SIZE;
        uint8_t *buf = aligned_alloc(PAGE_SIZE, VERIFY_BLOCK_PAGES * PAGE_SIZE);
        if (r >= 0 && ret_sums && !(sums = malloc((npages ? npages : 1) * sizeof *sums)))
                r = -ENOMEM;
        if (r < 0 || !buf) {
                io_close(f);
                free(buf);
                free(sums);
                return r < 0 ? r : -ENOMEM;
        }
        if (size % PAGE_SIZE) {
                res.bad++;
                report(cb, ud, size / PAGE_SIZE, "file size %llu is not a multiple of the page size",
                       (unsigned long long) size);
        }
        if (npages < 2) {
                res.bad++;
                report(cb, ud, 0, "file too short for its two header pages");
        }
        /* The first block holds the headers, which say what kind of file
         * this is; then the rest, in two halves when the file is large
         * (POSIX files only: the simulated I/O of the crash tests is not
         * shared between threads). */
        vrange v0 = { .io = io, .path = path, .direct = direct, .from = 0, .to = MIN(npages, VERIFY_BLOCK_PAGES),
                      .is_stm = -1, .cb = cb, .ud = ud, .sums = sums };
        verify_range(&v0, &f, buf);
        vlock l = { .cb = cb, .ud = ud };
        vrange v1 = v0;
        pthread_t t;
        bool split = !io && npages >= VERIFY_SPLIT_PAGES && sysconf(_SC_NPROCESSORS_ONLN) > 1, locked = false;
        v1.res = (mstore_verify_result) { 0 };
        v1.from = v1.to = npages;
        if (split) {
                v1.from = (npages / 2) / VERIFY_BLOCK_PAGES * VERIFY_BLOCK_PAGES;
                if (cb) {
                        pthread_mutex_init(&l.lock, NULL);
                        locked = true;
                        v0.cb = v1.cb = lock_cb;
                        v0.ud = v1.ud = &l;
                }
                if (pthread_create(&t, NULL, verify_range_thread, &v1) != 0)
                        split = false;
        }
        v0.from = v0.to;
        v0.to = split ? v1.from : npages;
        verify_range(&v0, &f, buf);
        if (split) {
                void *done = NULL;
                pthread_join(t, &done);
                if (!done) {   /* the second thread could not start its half */
                        v0.from = v1.from;
                        v0.to = npages;
                        v1.res = (mstore_verify_result) { 0 };
                        verify_range(&v0, &f, buf);
                }
        }
        if (locked)
                pthread_mutex_destroy(&l.lock);
        res.bad += v0.res.bad + v1.res.bad;
        res.pages_checked += v0.res.pages_checked + v1.res.pages_checked;
        free(buf);
        io_close(f);
        if (ret)
                *ret = res;
        if (ret_sums) {
                *ret_sums = sums;
                *ret_n = npages;
        }
        if (res.bad)
                return mstore__error(MSTORE_E_CORRUPT, "%s: %llu bad pages", path, (unsigned long long) res.bad);
        return 0;
}

/* Space after the end of a generation's data is zero-filled (preallocated,
 * and cleared by recovery); anything else is damage or an unrecovered torn
 * tail. */
static int check_zero(const log_file *lf, size_t from, const char *path, mstore_verify_cb cb, void *ud) {
        for (size_t o = from; o < lf->len; o++)
                if (lf->data[o]) {
                        report(cb, ud, lf->hdr.gen,
                               "generation 0x%X (%s): data after the end of the log at offset %zu (damage, or a torn "
                               "write from a crash: run mstoreutil recover)",
                               lf->hdr.gen, path, o);
                        return MSTORE_E_CORRUPT;
                }
        return (int) from;
}

/* Check one generation's records; returns end offset or negative. */
static int check_records(const log_file *lf, int closed, const char *path, mstore_verify_cb cb, void *ud) {
        size_t off = LOG_HDR_SIZE;
        const uint8_t *sig = lf->hdr.sig;
        uint32_t g = lf->hdr.gen;
        for (;;) {
                rec_view v;
                ErrorSlot es;
                if (off >= lf->len || rec_parse(lf->data + off, lf->len - off, LGPOS(g, off), sig, &v, &es) < 0) {
                        const char *why = off >= lf->len ? "generation ends without END record" : error_slot_get(&es);
                        if (closed) {
                                report(cb, ud, g, "generation 0x%X (%s): damaged at offset %zu: %s", g, path, off, why);
                                return MSTORE_E_CORRUPT;
                        }
                        if (log_damage_is_durable(lf->data, lf->len, g, (uint32_t) off, sig)) {
                                report(cb, ud, g, "generation 0x%X (%s): damaged at offset %zu (synced data): %s", g,
                                       path, off, why);
                                return MSTORE_E_CORRUPT;
                        }
                        return check_zero(lf, off, path, cb, ud);
                }
                if (v.type == REC_PAGE) {
                        uint64_t pgno = v.plen >= 24 ? unaligned_read_le64(v.payload + 16) : 0;
                        if (v.plen < 24 + PAGE_SIZE || page_check(v.payload + 24, pgno, NULL) < 0) {
                                report(cb, ud, g, "generation 0x%X (%s): bad page image at offset %zu", g, path, off);
                                return MSTORE_E_CORRUPT;
                        }
                }
                if (v.type == REC_END)
                        return check_zero(lf, off + v.len, path, cb, ud);
                off += v.len;
        }
}

int mstore_verify_logs(const char *dir, const char *base, mstore_verify_cb cb, void *ud, mstore_verify_result *ret) {
        ERR_ON_THREAD(); /* no handle */
        return verify_logs_io(NULL, dir, base, cb, ud, ret);
}

int verify_logs_io(const struct mstore_io *io, const char *dir, const char *base, mstore_verify_cb cb, void *ud,
                   mstore_verify_result *ret) {
        mstore_verify_result res = { 0 };
        if (!base)
                base = "E00";
        log_set s;
        int r = log_set_scan(io, dir, base, &s);
        if (r < 0)
                return mstore__error(r, "%s: cannot list: %s", dir, strerror(-r));
        if (!s.n && !s.has_current) {
                log_set_done(&s);
                return mstore__error(-ENOENT, "%s: no %s log files", dir, base);
        }
        uint8_t sig[16];
        int have_sig = 0;
        uint64_t prev_ct = 0;
        uint32_t prev = 0;
        res.gen_low = s.n ? s.low : s.current_gen;
        for (size_t i = 0; i <= s.n; i++) {
                int closed = i < s.n;
                if (!closed && !s.has_current)
                        break;
                _cleanup_free_ char *path = closed ? log_path_gen(dir, base, s.gens[i]) : log_path_current(dir, base);
                if (!path) {
                        r = -ENOMEM;
                        break;
                }
                uint32_t want = closed ? s.gens[i] : (prev ? prev + 1 : 0);
                if (prev && want > prev + 1) {
                        res.bad++;
                        report(cb, ud, prev + 1, "generations 0x%X-0x%X are missing (gap)", prev + 1, want - 1);
                }
                log_file lf;
                ErrorSlot why;
                res.pages_checked++;
                if (log_file_read(io, path, &lf, &why) < 0) {
                        res.bad++;
                        report(cb, ud, want, "generation 0x%X (%s): %s", want, path, error_slot_get(&why));
                        prev = want ? want : prev;
                        prev_ct = 0;
                        continue;
                }
                if (want && lf.hdr.gen != want) {
                        res.bad++;
                        report(cb, ud, want, "%s: holds generation 0x%X, expected 0x%X", path, lf.hdr.gen, want);
                }
                if (!have_sig) {
                        memcpy(sig, lf.hdr.sig, 16);
                        have_sig = 1;
                } else if (memcmp(sig, lf.hdr.sig, 16) != 0) {
                        res.bad++;
                        report(cb, ud, lf.hdr.gen, "generation 0x%X: log signature differs from generation 0x%X's",
                               lf.hdr.gen, res.gen_low);
                }
                if (prev && lf.hdr.gen == prev + 1 && prev_ct && lf.hdr.prev_create_time != prev_ct) {
                        res.bad++;
                        report(cb, ud, lf.hdr.gen, "generation 0x%X does not continue generation 0x%X", lf.hdr.gen,
                               prev);
                }
                if (check_records(&lf, closed, path, cb, ud) < 0)
                        res.bad++;
                prev = lf.hdr.gen;
                prev_ct = lf.hdr.create_time;
                res.gen_high = lf.hdr.gen;
                log_file_done(&lf);
        }
        log_set_done(&s);
        if (ret)
                *ret = res;
        if (r < 0)
                return r;
        if (res.bad)
                return mstore__error(MSTORE_E_CORRUPT, "%s: %llu problems in the %s log set", dir,
                                     (unsigned long long) res.bad, base);
        return 0;
}

int mstore_read_header(const char *path, mstore_header_info *ret) {
        ERR_ON_THREAD(); /* no handle */
        mstore_file *f = NULL;
        int r = io_open(NULL, path, MSTORE_IO_RDONLY, &f);
        if (r < 0)
                return mstore__error(r, "%s: cannot open: %s", path, strerror(-r));
        uint8_t page[PAGE_SIZE];
        ErrorSlot why[2]; /* each copy's reason */
        db_hdr h;
        int copy = -1;
        for (int c = 0; c < 2 && copy < 0; c++)
                if (io_pread_full(f, page, PAGE_SIZE, (uint64_t) c * PAGE_SIZE) < 0)
                        (void) error_slot_set(&why[c], MSTORE_E_CORRUPT, "unreadable");
                else if (db_hdr_decode(page, (uint64_t) c, &h, &why[c]) >= 0)
                        copy = c;
        uint64_t size = 0;
        (void) io_size(f, &size);
        io_close(f);
        if (copy < 0)
                return mstore__error(MSTORE_E_CORRUPT, "%s: both header copies are bad (%s; %s)", path,
                                     error_slot_get(&why[0]), error_slot_get(&why[1]));
        *ret = (mstore_header_info) {
                .file_type = (int) h.file_type, .state = (int) h.state, .format_version = DBHDR_VERSION,
                .db_signature = h.db_sig, .log_required = { h.req_low, h.req_high }, .log_committed = h.committed,
                .page_count = size / PAGE_SIZE, .header_copy_used = copy,
        };
        memcpy(ret->log_signature, h.log_sig, 16);
        memcpy(ret->backup, h.slot, sizeof ret->backup);
        return 0;
}

int mstore_read_checkpoint(const char *path, mstore_checkpoint_info *ret) {
        ERR_ON_THREAD(); /* no handle */
        ckpt c;
        int copy = 0;
        ErrorSlot why;
        int r = ckpt_read(NULL, path, &c, &copy, &why);
        if (r < 0)
                return mstore__error(r, "%s: %s", path, error_slot_get(&why));
        *ret = (mstore_checkpoint_info) { .generation = LGPOS_GEN(c.pos), .offset = LGPOS_OFF(c.pos), .copy_used = copy };
        memcpy(ret->log_signature, c.sig, 16);
        return 0;
}
