/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "page.h"
#include "pager.h"

int pager_open(const struct mstore_io *io, const char *path, int io_flags, int cache_clean, pager **ret) {
        pager *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->io = io;
        p->cache_clean = cache_clean;
        p->nbuckets = 1024;
        p->buckets = calloc(p->nbuckets, sizeof *p->buckets); // NOLINT(bugprone-sizeof-expression): array of pointers
        p->path = strdup(path);
        pthread_mutex_init(&p->lock, NULL);
        int r = (p->buckets && p->path) ? io_open(io, path, io_flags, &p->f) : -ENOMEM;
        if (r < 0) {
                pager_close(p);
                return r;
        }
        *ret = p;
        return 0;
}

void pager_close(pager *p) {
        if (!p)
                return;
        for (size_t i = 0; p->buckets && i < p->nbuckets; i++)
                for (pg *g = p->buckets[i], *nx; g; g = nx) {
                        nx = g->next;
                        free(g->data);
                        free(g);
                }
        free(p->buckets);
        io_close(p->f);
        pthread_mutex_destroy(&p->lock);
        free(p->path);
        free(p);
}

static size_t hash(pager *p, uint64_t pgno) {
        return (size_t) ((pgno * 0x9e3779b97f4a7c15ull) >> 20) & (p->nbuckets - 1);
}

static pg *lookup(pager *p, uint64_t pgno) {
        for (pg *g = p->buckets[hash(p, pgno)]; g; g = g->next)
                if (g->pgno == pgno)
                        return g;
        return NULL;
}

static void rehash(pager *p) {
        size_t nb = p->nbuckets * 4;
        pg **b = calloc(nb, sizeof *b); // NOLINT(bugprone-sizeof-expression): array of pointers
        if (!b)
                return; /* keep longer chains */
        pg **old = p->buckets;
        size_t on = p->nbuckets;
        p->buckets = b;
        p->nbuckets = nb;
        for (size_t i = 0; i < on; i++)
                for (pg *g = old[i], *nx; g; g = nx) {
                        nx = g->next;
                        size_t h = hash(p, g->pgno);
                        g->next = b[h];
                        b[h] = g;
                }
        free(old);
}

static pg *insert(pager *p, uint64_t pgno) {
        pg *g = calloc(1, sizeof *g);
        if (!g)
                return NULL;
        g->data = malloc(PAGE_SIZE);
        if (!g->data) {
                free(g);
                return NULL;
        }
        g->pgno = pgno;
        size_t h = hash(p, pgno);
        g->next = p->buckets[h];
        p->buckets[h] = g;
        if (++p->n > 2 * p->nbuckets)
                rehash(p);
        return g;
}

static void unlink_pg(pager *p, pg *g) {
        for (pg **pp = &p->buckets[hash(p, g->pgno)]; *pp; pp = &(*pp)->next)
                if (*pp == g) {
                        *pp = g->next;
                        break;
                }
        p->n--;
        free(g->data);
        free(g);
}

static int read_disk(pager *p, uint64_t pgno, uint8_t *buf) {
        int r = io_pread_full(p->f, buf, PAGE_SIZE, pgno * PAGE_SIZE);
        if (r == -ENODATA)
                return mstore__error(MSTORE_E_CORRUPT, "%s: page %llu is beyond the end of the file",
                                     p->path, (unsigned long long) pgno);
        if (r < 0)
                return mstore__error(r, "%s: reading page %llu: %s", p->path, (unsigned long long) pgno,
                                     strerror(-r));
        ErrorSlot why;
        if (page_check(buf, pgno, &why) < 0)
                return mstore__error(MSTORE_E_CORRUPT, "%s: page %llu: %s", p->path,
                                     (unsigned long long) pgno, error_slot_get(&why));
        return 0;
}

int pager_get(pager *p, uint64_t pgno, pg **ret) {
        int r = 0;
        pthread_mutex_lock(&p->lock);
        pg *g = lookup(p, pgno);
        if (!g) {
                g = insert(p, pgno);
                if (!g)
                        r = -ENOMEM;
                else if ((r = read_disk(p, pgno, g->data)) < 0) {
                        unlink_pg(p, g);
                        g = NULL;
                }
        }
        pthread_mutex_unlock(&p->lock);
        if (r >= 0)
                *ret = g;
        return r;
}

int pager_new(pager *p, uint64_t pgno, pg **ret) {
        pthread_mutex_lock(&p->lock);
        pg *g = lookup(p, pgno);
        if (!g)
                g = insert(p, pgno);
        if (g) {
                memset(g->data, 0, PAGE_SIZE);
                if (!g->dirty) {
                        g->dirty = 1;
                        p->ndirty++;
                }
        }
        pthread_mutex_unlock(&p->lock);
        if (!g)
                return -ENOMEM;
        *ret = g;
        return 0;
}

void pager_dirty(pager *p, pg *g) {
        pthread_mutex_lock(&p->lock);
        if (!g->dirty) {
                g->dirty = 1;
                p->ndirty++;
        }
        pthread_mutex_unlock(&p->lock);
}

int pager_read(pager *p, uint64_t pgno, uint8_t *buf) {
        pthread_mutex_lock(&p->lock);
        pg *g = lookup(p, pgno);
        if (g)
                memcpy(buf, g->data, PAGE_SIZE);
        pthread_mutex_unlock(&p->lock);
        return g ? 0 : read_disk(p, pgno, buf);
}

int pager_put(pager *p, uint64_t pgno, const uint8_t *image) {
        pg *g;
        int r = pager_new(p, pgno, &g);
        if (r < 0)
                return r;
        memcpy(g->data, image, PAGE_SIZE);
        return 0;
}

int pager_redo(pager *p, uint64_t pgno, const uint8_t *image) {
        uint64_t v = page_version(image);
        pthread_mutex_lock(&p->lock);
        pg *g = lookup(p, pgno);
        pthread_mutex_unlock(&p->lock);
        if (g)
                return page_version(g->data) >= v ? 0 : (pager_put(p, pgno, image) < 0 ? -ENOMEM : 1);
        uint8_t buf[PAGE_SIZE];
        int r = io_pread_full(p->f, buf, PAGE_SIZE, pgno * PAGE_SIZE);
        if (r < 0 && r != -ENODATA)
                return r;
        /* A disk page that fails its check here is a torn or lost write from
         * before the crash: the log image replaces it. */
        if (r >= 0 && page_check(buf, pgno, NULL) >= 0 && page_version(buf) >= v)
                return 0;
        r = pager_put(p, pgno, image);
        return r < 0 ? r : 1;
}

int pager_take_dirty(pager *p, pager_batch *ret) {
        pthread_mutex_lock(&p->lock);
        pager_batch b = { 0 };
        size_t n = p->ndirty;
        b.pgnos = malloc((n ? n : 1) * sizeof *b.pgnos);
        b.images = malloc((n ? n : 1) * PAGE_SIZE);
        if (!b.pgnos || !b.images) {
                pthread_mutex_unlock(&p->lock);
                free(b.pgnos);
                free(b.images);
                return -ENOMEM;
        }
        for (size_t i = 0; i < p->nbuckets; i++)
                for (pg *g = p->buckets[i]; g; g = g->next)
                        if (g->dirty && b.n < n) {
                                b.pgnos[b.n] = g->pgno;
                                memcpy(b.images + b.n * PAGE_SIZE, g->data, PAGE_SIZE);
                                b.n++;
                                g->dirty = 0;
                        }
        p->ndirty = 0;
        p->inflight = 1; /* the copies are not on disk yet: keep the cached pages */
        pthread_mutex_unlock(&p->lock);
        *ret = b;
        return 0;
}

void pager_batch_done(pager_batch *b) {
        free(b->pgnos);
        free(b->images);
        *b = (pager_batch) { 0 };
}

void pager_batch_finish(pager *p) {
        pthread_mutex_lock(&p->lock);
        p->inflight = 0;
        /* stream pages are not cached for reading: once on disk they leave */
        if (!p->cache_clean)
                for (size_t i = 0; i < p->nbuckets; i++)
                        for (pg *g = p->buckets[i], *nx; g; g = nx) {
                                nx = g->next;
                                if (!g->dirty)
                                        unlink_pg(p, g);
                        }
        pthread_mutex_unlock(&p->lock);
}

int pager_write_batch(pager *p, const pager_batch *b) {
        for (size_t i = 0; i < b->n; i++) {
                int r = io_pwrite(p->f, b->images + i * PAGE_SIZE, PAGE_SIZE, b->pgnos[i] * PAGE_SIZE);
                if (r < 0)
                        return mstore__error(r, "%s: writing page %llu: %s", p->path,
                                             (unsigned long long) b->pgnos[i], strerror(-r));
        }
        return 0;
}

int pager_sync(pager *p) {
        int r = io_sync(p->f);
        if (r < 0)
                return mstore__error(r, "%s: sync: %s", p->path, strerror(-r));
        return 0;
}

int pager_write_raw(pager *p, uint64_t pgno, const uint8_t *image) {
        int r = io_pwrite(p->f, image, PAGE_SIZE, pgno * PAGE_SIZE);
        if (r < 0)
                return mstore__error(r, "%s: writing page %llu: %s", p->path, (unsigned long long) pgno,
                                     strerror(-r));
        return 0;
}

void pager_trim(pager *p, size_t max) {
        pthread_mutex_lock(&p->lock);
        if (p->n > max && !p->inflight)
                for (size_t i = 0; i < p->nbuckets; i++)
                        for (pg *g = p->buckets[i], *nx; g; g = nx) {
                                nx = g->next;
                                if (!g->dirty && g->pgno > PGNO_META)
                                        unlink_pg(p, g);
                        }
        pthread_mutex_unlock(&p->lock);
}

uint64_t pager_file_pages(pager *p) {
        uint64_t s = 0;
        if (io_size(p->f, &s) < 0)
                return 0;
        return s / PAGE_SIZE;
}
