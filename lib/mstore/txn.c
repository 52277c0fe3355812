/* SPDX-License-Identifier: MIT */
/*
 * txn.c: transactions, cursors and streams.
 *
 * A transaction buffers its writes (a sorted write set per database and
 * its new streams) and touches no shared page until commit (no-steal).
 * Commit recipe (T1-T5):
 *  T1 take sg->commit_lock (commit order = log order), then each touched
 *     database's lock exclusively;
 *  T2 apply the write set to the B+tree pages in memory, stamping each
 *     changed page with the database's next version (meta.dbtime + 1);
 *  T3 seal every changed page and append its full image plus one COMMIT
 *     record to the log as one contiguous batch;
 *  T4 release the locks, then wait until the log is durable past the COMMIT
 *     (group commit: one fsync serves every waiting committer);
 *  T5 an error after T2 began leaves memory ahead of the log: the group is
 *     failed (sticky) and refuses work until reopened.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "btree.h"
#include "engine.h"
#include "err.h"
#include "lib/core/array.h"
#include "lib/core/macro.h"
#include "stream.h"

typedef struct ws_ent {
        uint8_t *key;
        size_t klen;
        int del;
        uint8_t *val;
        size_t vlen;
} ws_ent;

typedef struct txn_stream {
        stream_ref ref;
        uint8_t *data;
} txn_stream;

typedef struct txn_db {
        mstore_db *db;
        ws_ent *e;
        size_t n, cap;
        txn_stream *s;
        size_t ns, cap_s;
        stream_ref *del;      /* streams deleted at commit */
        size_t ndel, cap_del;
} txn_db;

struct mstore_txn {
        mstore_sg *sg;
        ErrorSlot err; /* messages of calls on this transaction and its cursors */
        txn_db d[MSTORE_MAX_DATABASES];
        unsigned nd;
};

struct mstore_cursor {
        mstore_txn *txn;
        mstore_db *db;
        uint8_t *lo, *hi;
        size_t lolen, hilen;
        int has_hi;
        uint8_t *last;
        size_t lastlen;
        int started;
        uint8_t *k;
        size_t kl;
        void *v;
        size_t vl;
};

int mstore_txn_begin(mstore_sg *sg, mstore_txn **ret) {
        if (!sg || !ret)
                return -EINVAL;
        ERR_ON_SG(sg); /* no transaction yet */
        int r = sg_check_usable(sg);
        if (r < 0)
                return r;
        mstore_txn *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->sg = sg;
        *ret = t;
        return 0;
}

static void txn_free(mstore_txn *t) {
        for (unsigned i = 0; i < t->nd; i++) {
                for (size_t j = 0; j < t->d[i].n; j++) {
                        free(t->d[i].e[j].key);
                        free(t->d[i].e[j].val);
                }
                free(t->d[i].e);
                for (size_t j = 0; j < t->d[i].ns; j++)
                        free(t->d[i].s[j].data);
                free(t->d[i].s);
                free(t->d[i].del);
        }
        free(t);
}

void mstore_txn_abort(mstore_txn *t) {
        if (!t)
                return;
        /* the pages of streams written by this transaction are free again */
        for (unsigned i = 0; i < t->nd; i++) {
                mstore_db *db = t->d[i].db;
                if (db->detached || !t->d[i].ns)
                        continue;
                pthread_mutex_lock(&db->hdr_lock);
                for (size_t j = 0; j < t->d[i].ns; j++)
                        stm_give(&db->stm_nfree, db->stm_free, t->d[i].s[j].ref.first,
                                 MAX(t->d[i].s[j].ref.npages, 1u));
                pthread_mutex_unlock(&db->hdr_lock);
        }
        txn_free(t);
}

static txn_db *tdb(mstore_txn *t, mstore_db *db, int create) {
        for (unsigned i = 0; i < t->nd; i++)
                if (t->d[i].db == db)
                        return &t->d[i];
        if (!create || t->nd >= MSTORE_MAX_DATABASES)
                return NULL;
        t->d[t->nd] = (txn_db) { .db = db };
        return &t->d[t->nd++];
}

/* Index of the first entry >= key; *found if equal. */
static size_t ws_find(const txn_db *d, const void *key, size_t klen, int *found) {
        size_t lo = 0, hi = d->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = key_cmp(d->e[mid].key, d->e[mid].klen, key, klen);
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = lo < d->n && key_cmp(d->e[lo].key, d->e[lo].klen, key, klen) == 0;
        return lo;
}

static int ws_set(txn_db *d, const void *key, size_t klen, int del, const void *val, size_t vlen) {
        int found;
        size_t i = ws_find(d, key, klen, &found);
        uint8_t *v = NULL;
        if (!del) {
                v = malloc(vlen ? vlen : 1);
                if (!v)
                        return -ENOMEM;
                if (vlen)
                        memcpy(v, val, vlen);
        }
        if (found) {
                free(d->e[i].val);
                d->e[i].del = del;
                d->e[i].val = v;
                d->e[i].vlen = vlen;
                return 0;
        }
        if (ARRAY_RESERVE_ONE(d->e, d->cap, d->n, 16) < 0) {
                free(v);
                return -ENOMEM;
        }
        uint8_t *k = malloc(klen);
        if (!k) {
                free(v);
                return -ENOMEM;
        }
        memcpy(k, key, klen);
        memmove(d->e + i + 1, d->e + i, (d->n - i) * sizeof *d->e);
        d->e[i] = (ws_ent) { .key = k, .klen = klen, .del = del, .val = v, .vlen = vlen };
        d->n++;
        return 0;
}

static int check_db(mstore_txn *t, mstore_db *db) {
        if (!t || !db || db->sg != t->sg)
                return -EINVAL;
        if (db->detached)
                return mstore__error(-ENOENT, "database %s is detached", db->name);
        return 0;
}

static int tree_get(mstore_db *db, const void *key, size_t klen, void **ret_val, size_t *ret_len) {
        pthread_rwlock_rdlock(&db->lock);
        int r = db->detached ? -ENOENT : bt_get(db->edb, db->meta.root, key, klen, ret_val, ret_len);
        pthread_rwlock_unlock(&db->lock);
        return r;
}

const char *mstore_txn_last_error(mstore_txn *t) {
        return t ? error_slot_get(&t->err) : "";
}

int mstore_get(mstore_txn *t, mstore_db *db, const void *key, size_t klen, void **ret_val, size_t *ret_len) {
        if (!t)
                return -EINVAL;
        ERR_ON_TXN(t);
        int r = check_db(t, db);
        if (r < 0)
                return r;
        if (klen == 0 || klen > MSTORE_MAX_KEY_SIZE)
                return -ENOENT;
        txn_db *d = tdb(t, db, 0);
        if (d) {
                int found;
                size_t i = ws_find(d, key, klen, &found);
                if (found) {
                        if (d->e[i].del)
                                return -ENOENT;
                        uint8_t *v = malloc(d->e[i].vlen + 1);
                        if (!v)
                                return -ENOMEM;
                        memcpy(v, d->e[i].val, d->e[i].vlen);
                        v[d->e[i].vlen] = 0;
                        *ret_val = v;
                        *ret_len = d->e[i].vlen;
                        return 0;
                }
        }
        size_t l = 0;
        void *v = NULL;
        r = tree_get(db, key, klen, &v, &l);
        if (r >= 0) {
                *ret_val = v;
                *ret_len = l;
        }
        return r;
}

int mstore_put(mstore_txn *t, mstore_db *db, const void *key, size_t klen, const void *val, size_t vlen) {
        if (!t)
                return -EINVAL;
        ERR_ON_TXN(t);
        int r = check_db(t, db);
        if (r < 0)
                return r;
        if (klen == 0 || klen > MSTORE_MAX_KEY_SIZE || vlen > MSTORE_MAX_VALUE_SIZE || (!val && vlen))
                return mstore__error(-E2BIG, "key (%zu bytes) or value (%zu bytes) too large", klen, vlen);
        txn_db *d = tdb(t, db, 1);
        if (!d)
                return -ENOMEM;
        return ws_set(d, key, klen, 0, val, vlen);
}

int mstore_del(mstore_txn *t, mstore_db *db, const void *key, size_t klen) {
        if (!t)
                return -EINVAL;
        ERR_ON_TXN(t);
        void *v = NULL;
        size_t l;
        int r = mstore_get(t, db, key, klen, &v, &l);
        free(v);
        if (r < 0)
                return r;
        txn_db *d = tdb(t, db, 1);
        if (!d)
                return -ENOMEM;
        return ws_set(d, key, klen, 1, NULL, 0);
}

/* ------------------------------------------------------------ streams */

int mstore_stream_write(mstore_txn *t, mstore_db *db, const void *data, size_t len, mstore_stream_ref *ret_ref) {
        if (!t)
                return -EINVAL;
        ERR_ON_TXN(t);
        int r = check_db(t, db);
        if (r < 0)
                return r;
        if (len > MSTORE_MAX_VALUE_SIZE || (!data && len))
                return mstore__error(-E2BIG, "stream of %zu bytes is too large", len);
        txn_db *d = tdb(t, db, 1);
        if (!d)
                return -ENOMEM;
        if (ARRAY_RESERVE_ONE(d->s, d->cap_s, d->ns, 4) < 0)
                return -ENOMEM;
        txn_stream s = { .ref.length = len, .ref.npages = (uint32_t) ((len + STM_CAP - 1) / STM_CAP) };
        s.data = malloc(len ? len : 1);
        if (!s.data)
                return -ENOMEM;
        if (len)
                memcpy(s.data, data, len);
        s.ref.hash = XXH3_64bits(data, len);
        pthread_mutex_lock(&db->hdr_lock);
        s.ref.first = stm_take(db, MAX(s.ref.npages, 1u));
        pthread_mutex_unlock(&db->hdr_lock);
        d->s[d->ns++] = s;
        stream_ref_encode(&s.ref, ret_ref);
        return 0;
}

uint64_t mstore_stream_length(const mstore_stream_ref *ref) {
        stream_ref s;
        return stream_ref_decode(ref, &s) < 0 ? 0 : s.length;
}

int mstore_stream_read(mstore_txn *t, mstore_db *db, const mstore_stream_ref *ref, uint64_t offset, void *buf,
                       size_t len) {
        stream_ref s;
        if (!db || !ref)
                return -EINVAL;
        ERR_SCOPE_(t ? &t->err : NULL, db->sg->err_id); /* no transaction: the group's */
        if (stream_ref_decode(ref, &s) < 0)
                return mstore__error(MSTORE_E_CORRUPT, "database %s: malformed stream reference", db->name);
        if (offset >= s.length || len == 0)
                return 0;
        size_t n = (size_t) MIN((uint64_t) len, s.length - offset);
        if (t) {
                txn_db *d = tdb(t, db, 0);
                for (size_t i = 0; d && i < d->ns; i++)
                        if (d->s[i].ref.first == s.first) {
                                memcpy(buf, d->s[i].data + offset, n);
                                return (int) n;
                        }
        }
        uint8_t page[PAGE_SIZE];
        size_t done = 0;
        int r = 0;
        XXH3_state_t st;
        XXH3_INITSTATE(&st);
        int whole = offset == 0 && n == s.length;
        if (whole)
                XXH3_64bits_reset(&st);
        pthread_rwlock_rdlock(&db->lock);
        if (db->detached)
                r = -ENOENT;
        while (r >= 0 && done < n) {
                uint64_t o = offset + done;
                uint64_t pgno = s.first + o / STM_CAP;
                r = pager_read(db->stm, pgno, page);
                if (r < 0)
                        break;
                int pl = stream_page_len(page);
                uint64_t in = o % STM_CAP;
                if (pl < 0 || (uint64_t) pl <= in) {
                        r = mstore__error(MSTORE_E_CORRUPT, "%s: stream page %llu is malformed", db->stm_path,
                                          (unsigned long long) pgno);
                        break;
                }
                size_t k = (size_t) MIN((uint64_t) pl - in, (uint64_t) (n - done));
                memcpy((uint8_t *) buf + done, page + STM_DATA + in, k);
                if (whole)
                        XXH3_64bits_update(&st, page + STM_DATA + in, k);
                done += k;
        }
        pthread_rwlock_unlock(&db->lock);
        if (r >= 0 && whole && XXH3_64bits_digest(&st) != s.hash)
                r = mstore__error(MSTORE_E_CORRUPT, "%s: stream at page %llu fails its content checksum",
                                  db->stm_path, (unsigned long long) s.first);
        return r < 0 ? r : (int) n;
}

int mstore_stream_delete(mstore_txn *t, mstore_db *db, const mstore_stream_ref *ref) {
        stream_ref s;
        if (!t)
                return -EINVAL;
        ERR_ON_TXN(t);
        int r = check_db(t, db);
        if (r < 0)
                return r;
        if (stream_ref_decode(ref, &s) < 0 || s.first + MAX(s.npages, 1u) > db->meta.stm_next + (1ull << 32))
                return mstore__error(MSTORE_E_CORRUPT, "database %s: malformed stream reference", db->name);
        txn_db *d = tdb(t, db, 1);
        if (!d)
                return -ENOMEM;
        if (ARRAY_RESERVE_ONE(d->del, d->cap_del, d->ndel, 4) < 0)
                return -ENOMEM;
        d->del[d->ndel++] = s;
        return 0;
}

/* ------------------------------------------------------------- commit */

typedef struct items {
        rec_item *it;
        size_t n, cap, cap_hdr;
        uint8_t (*hdr)[24]; /* parallel to it[] */
        uint8_t **bufs;
        size_t nbufs, cap_bufs;
} items;

static int items_add(items *x, uint8_t type, const void *p1, size_t l1, const void *p2, size_t l2) {
        if (ARRAY_RESERVE_ONE(x->it, x->cap, x->n, 64) < 0 || ARRAY_RESERVE_ONE(x->hdr, x->cap_hdr, x->n, 64) < 0)
                return -ENOMEM;
        x->it[x->n++] = (rec_item) { type, p1, l1, p2, l2 };
        return 0;
}

/* Page record: header bytes live in x->hdr (fixed up after any realloc). */
static int items_page(items *x, uint64_t dbsig, uint32_t file, uint64_t pgno, const uint8_t *image) {
        int r = items_add(x, REC_PAGE, NULL, 24, image, PAGE_SIZE);
        if (r < 0)
                return r;
        uint8_t *h = x->hdr[x->n - 1];
        unaligned_write_le64(h, dbsig);
        unaligned_write_le32(h + 8, file);
        unaligned_write_le32(h + 12, 0);
        unaligned_write_le64(h + 16, pgno);
        return 0;
}

static int items_keep(items *x, uint8_t *buf) {
        if (ARRAY_RESERVE_ONE(x->bufs, x->cap_bufs, x->nbufs, 8) < 0)
                return -ENOMEM;
        x->bufs[x->nbufs++] = buf;
        return 0;
}

static void items_free(items *x) {
        for (size_t i = 0; i < x->nbufs; i++)
                free(x->bufs[i]);
        free(x->bufs);
        free(x->it);
        free(x->hdr);
}

static int apply_db(mstore_sg *sg, txn_db *d, items *x) {
        mstore_db *db = d->db;
        db_meta meta = db->meta;
        pg *mp;
        int r = pager_get(db->edb, PGNO_META, &mp);
        if (r < 0)
                return r;
        btx t = { .p = db->edb, .meta = &meta, .meta_pg = mp, .version = meta.dbtime + 1 };
        r = btx_touch(&t, mp);
        for (size_t i = 0; i < d->n && r >= 0; i++) {
                if (d->e[i].del) {
                        r = bt_del(&t, d->e[i].key, d->e[i].klen);
                        if (r == -ENOENT)
                                r = 0; /* deleted meanwhile by another commit */
                } else
                        r = bt_put(&t, d->e[i].key, d->e[i].klen, d->e[i].val, d->e[i].vlen);
        }
        for (size_t i = 0; i < d->ns && r >= 0; i++) {
                txn_stream *s = &d->s[i];
                for (uint32_t p = 0; p < s->ref.npages && r >= 0; p++) {
                        uint8_t *img = malloc(PAGE_SIZE);
                        if (!img) {
                                r = -ENOMEM;
                                break;
                        }
                        uint64_t off = (uint64_t) p * STM_CAP;
                        uint32_t l = (uint32_t) MIN((uint64_t) STM_CAP, s->ref.length - off);
                        stream_page_build(img, s->ref.first + p, t.version, s->data + off, l);
                        r = items_keep(x, img);
                        if (r < 0) {
                                free(img);
                                break;
                        }
                        r = pager_put(db->stm, s->ref.first + p, img);
                        if (r >= 0)
                                r = items_page(x, db->hdr.db_sig, 1, s->ref.first + p, img);
                }
                meta.stm_next = MAX(meta.stm_next, s->ref.first + MAX(s->ref.npages, 1u));
        }
        if (r >= 0) {
                /* free extents: those not handed out, plus the streams deleted now */
                pthread_mutex_lock(&db->hdr_lock);
                for (size_t i = 0; i < d->ndel; i++)
                        if (d->del[i].first + MAX(d->del[i].npages, 1u) <= meta.stm_next)
                                stm_give(&db->stm_nfree, db->stm_free, d->del[i].first, MAX(d->del[i].npages, 1u));
                meta.nfree = db->stm_nfree;
                memcpy(meta.free, db->stm_free, sizeof meta.free);
                pthread_mutex_unlock(&db->hdr_lock);
                meta.dbtime = t.version;
                meta_write(mp->data, &meta);
                for (size_t i = 0; i < t.ntouched && r >= 0; i++) {
                        pg *g;
                        r = pager_get(db->edb, t.touched[i], &g);
                        if (r >= 0) {
                                page_seal(g->data);
                                r = items_page(x, db->hdr.db_sig, 0, g->pgno, g->data);
                        }
                }
        }
        free(t.touched);
        if (r >= 0)
                db->meta = meta;
        (void) sg;
        return r;
}

static uint64_t log_distance(mstore_sg *sg, lgpos a, lgpos b) {
        if (a <= b)
                return 0;
        return (uint64_t) (LGPOS_GEN(a) - LGPOS_GEN(b)) * sg->log_file_size + LGPOS_OFF(a) - LGPOS_OFF(b);
}

static void maybe_checkpoint(mstore_sg *sg) {
        if (log_distance(sg, log_tail(sg->log), __atomic_load_n(&sg->ckpt_pos, __ATOMIC_ACQUIRE)) < sg->checkpoint_bytes)
                return;
        if (pthread_mutex_trylock(&sg->ckpt_lock) != 0)
                return;
        pthread_mutex_lock(&sg->lock);
        int go = !sg->frozen;
        if (go)
                sg->active_io++;
        pthread_mutex_unlock(&sg->lock);
        if (go) {
                (void) sg_checkpoint_locked(sg);
                sg_gate_leave(sg);
        }
        pthread_mutex_unlock(&sg->ckpt_lock);
}

int mstore_txn_commit(mstore_txn *t) {
        if (!t)
                return -EINVAL;
        mstore_sg *sg = t->sg;
        ERR_ON_SG(sg); /* the transaction is freed whatever the result */
        int writes = 0;
        for (unsigned i = 0; i < t->nd; i++)
                writes |= t->d[i].n || t->d[i].ns || t->d[i].ndel;
        if (!writes) {
                txn_free(t);
                return 0;
        }
        items x = { 0 };
        lgpos end = 0;
        pthread_mutex_lock(&sg->commit_lock);
        int r = sg_check_usable(sg);
        if (r >= 0 && log_read_only(sg->log))
                r = mstore__error(MSTORE_E_READ_ONLY, "storage group %s: log disk full, updates refused", sg->base);
        for (unsigned i = 0; i < t->nd && r >= 0; i++)
                if (t->d[i].db->detached)
                        r = mstore__error(-ENOENT, "database %s was detached", t->d[i].db->name);
        unsigned locked = 0;
        if (r >= 0) {
                for (; locked < t->nd; locked++)
                        pthread_rwlock_wrlock(&t->d[locked].db->lock);
                for (unsigned i = 0; i < t->nd && r >= 0; i++)
                        r = apply_db(sg, &t->d[i], &x);
                uint64_t seq = ++sg->txn_seq;
                if (r >= 0)
                        r = items_add(&x, REC_COMMIT, &seq, 8, NULL, 0);
                if (r >= 0) {
                        /* page records carry their 24-byte header in x.hdr */
                        for (size_t i = 0; i < x.n; i++)
                                if (x.it[i].type == REC_PAGE)
                                        x.it[i].p1 = x.hdr[i];
                        r = log_append(sg->log, x.it, x.n, &end);
                }
                if (r < 0)
                        sg_set_failed(sg, r); /* T5 */
                for (unsigned i = 0; i < t->nd; i++)
                        if (r >= 0)
                                pager_trim(t->d[i].db->edb, EDB_CACHE_PAGES);
                for (unsigned i = 0; i < locked; i++)
                        pthread_rwlock_unlock(&t->d[i].db->lock);
        }
        pthread_mutex_unlock(&sg->commit_lock);
        items_free(&x);
        txn_free(t);
        if (r >= 0)
                r = log_flush(sg->log, end);
        if (r >= 0)
                maybe_checkpoint(sg);
        return r;
}

/* ------------------------------------------------------------- cursors */

static int dup_buf(uint8_t **dst, size_t *dl, const void *src, size_t l) {
        uint8_t *p = malloc(l + 1);
        if (!p)
                return -ENOMEM;
        if (l)
                memcpy(p, src, l);
        p[l] = 0; /* callers may treat keys and values as strings */
        free(*dst);
        *dst = p;
        *dl = l;
        return 0;
}

int mstore_cursor_open(mstore_txn *t, mstore_db *db, const void *lo, size_t lolen, const void *hi, size_t hilen,
                       mstore_cursor **ret) {
        if (!t)
                return -EINVAL;
        ERR_ON_TXN(t);
        int r = check_db(t, db);
        if (r < 0)
                return r;
        mstore_cursor *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->txn = t;
        c->db = db;
        if ((lo && dup_buf(&c->lo, &c->lolen, lo, lolen) < 0) || (hi && dup_buf(&c->hi, &c->hilen, hi, hilen) < 0)) {
                mstore_cursor_free(c);
                return -ENOMEM;
        }
        c->has_hi = hi != NULL;
        *ret = c;
        return 0;
}

int mstore_cursor_open_prefix(mstore_txn *t, mstore_db *db, const void *prefix, size_t plen, mstore_cursor **ret) {
        if (!plen)
                return mstore_cursor_open(t, db, NULL, 0, NULL, 0, ret);
        _cleanup_free_ uint8_t *hi = malloc(plen);
        if (!hi)
                return -ENOMEM;
        memcpy(hi, prefix, plen);
        size_t hl = plen;
        while (hl > 0 && hi[hl - 1] == 0xff)
                hl--;
        if (hl == 0)
                return mstore_cursor_open(t, db, prefix, plen, NULL, 0, ret);
        hi[hl - 1]++;
        return mstore_cursor_open(t, db, prefix, plen, hi, hl, ret);
}

int mstore_cursor_next(mstore_cursor *c, const void **ret_key, size_t *ret_klen, const void **ret_val,
                       size_t *ret_vlen) {
        ERR_ON_TXN(c->txn);
        for (;;) {
                const uint8_t *from = c->started ? c->last : c->lo;
                size_t fl = c->started ? c->lastlen : c->lolen;
                int strict = c->started;
                uint8_t *tk = NULL;
                void *tv = NULL;
                size_t tkl = 0, tvl = 0;
                pthread_rwlock_rdlock(&c->db->lock);
                int r = c->db->detached ? -ENOENT
                                        : bt_seek(c->db->edb, c->db->meta.root, from, fl, strict, &tk, &tkl, &tv, &tvl);
                pthread_rwlock_unlock(&c->db->lock);
                if (r < 0)
                        return r;
                int have_t = r == 1;
                /* write-set candidate */
                txn_db *d = tdb(c->txn, c->db, 0);
                ws_ent *we = NULL;
                if (d) {
                        int found = 0;
                        size_t i = from ? ws_find(d, from, fl, &found) : 0;
                        if (found && strict)
                                i++;
                        if (i < d->n)
                                we = &d->e[i];
                }
                const uint8_t *k;
                size_t kl;
                int use_ws;
                if (!have_t && !we)
                        return 0;
                if (have_t && we) {
                        int cmp = key_cmp(we->key, we->klen, tk, tkl);
                        use_ws = cmp <= 0;
                } else
                        use_ws = we != NULL;
                k = use_ws ? we->key : tk;
                kl = use_ws ? we->klen : tkl;
                if (c->has_hi && key_cmp(k, kl, c->hi, c->hilen) >= 0) {
                        free(tk);
                        free(tv);
                        return 0;
                }
                r = dup_buf(&c->last, &c->lastlen, k, kl);
                c->started = 1;
                if (r < 0) {
                        free(tk);
                        free(tv);
                        return r;
                }
                if (use_ws && we->del) {
                        free(tk);
                        free(tv);
                        continue;
                }
                free(c->k);
                free(c->v);
                c->k = NULL;
                c->v = NULL;
                if (use_ws) {
                        free(tk);
                        free(tv);
                        if (dup_buf(&c->k, &c->kl, we->key, we->klen) < 0 ||
                            dup_buf((uint8_t **) &c->v, &c->vl, we->val, we->vlen) < 0)
                                return -ENOMEM;
                } else {
                        c->k = tk;
                        c->kl = tkl;
                        c->v = tv;
                        c->vl = tvl;
                }
                *ret_key = c->k;
                *ret_klen = c->kl;
                if (ret_val) {
                        *ret_val = c->v;
                        *ret_vlen = c->vl;
                }
                return 1;
        }
}

void mstore_cursor_free(mstore_cursor *c) {
        if (!c)
                return;
        free(c->lo);
        free(c->hi);
        free(c->last);
        free(c->k);
        free(c->v);
        free(c);
}
