/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/packer.c: the pack-writing thread of a backup.
 *
 * The backup's own thread reads, chunks and hashes (and decides what is
 * new); this worker compresses, seals, appends new blobs to the pack being
 * filled and writes full packs (pack.c's format, fileio.c's durable write).
 * The two meet in a bounded job queue (at most PACKER_QUEUE chunks in
 * flight) and a result list the backup thread drains to fill the index: the
 * index and everything else of the repo handle are touched by the backup
 * thread only; the worker reads the keys and the directory fd, nothing else.
 *
 * Pack numbers in results are local (0, 1, 2, ... in the order packs are
 * started); the backup thread maps them to index pack slots.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <zstd.h>

#include "packer.h"

#define PACKER_QUEUE 4
#define ZSTD_LEVEL 3

typedef struct job {
        repo_id id;
        uint8_t *data;
        size_t n;
} job;

struct packer {
        repo *r;
        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t cond_job, cond_space;
        job jobs[PACKER_QUEUE];
        size_t jhead, jcount;
        bool finish, stop, done;
        packer_result *results;
        size_t n_results, cap_results;
        int error;
        char errmsg[512];
        /* worker-owned */
        uint32_t local_pack;
        bool pack_open;
        uint8_t *pack;
        size_t pack_len, pack_cap;
        pack_blob *pblobs;
        size_t n_pblobs, cap_pblobs;
        uint8_t *comp_buf;
        size_t comp_cap;
        ZSTD_CCtx *zc;
};

/* Named crash points for the crash tests (docs/design/repository.md §8):
 * LVSS_REPO_CRASH_AT=after-pack kills the process once a pack is durable. */
void repo_crash_point(const char *name) {
        const char *want = getenv("LVSS_REPO_CRASH_AT");
        if (want && strcmp(want, name) == 0)
                raise(SIGKILL);
}

static int push_result(packer *p, const packer_result *res) {
        int k = 0;
        pthread_mutex_lock(&p->lock);
        if (p->n_results == p->cap_results) {
                size_t nc = p->cap_results ? p->cap_results * 2 : 64;
                packer_result *a = reallocarray(p->results, nc, sizeof *a);
                if (!a)
                        k = -ENOMEM;
                else {
                        p->results = a;
                        p->cap_results = nc;
                }
        }
        if (k == 0)
                p->results[p->n_results++] = *res;
        pthread_mutex_unlock(&p->lock);
        return k;
}

static void put_le32(uint8_t *b, uint32_t v) {
        b[0] = (uint8_t) v;
        b[1] = (uint8_t) (v >> 8);
        b[2] = (uint8_t) (v >> 16);
        b[3] = (uint8_t) (v >> 24);
}

static int ensure_pack(packer *p, size_t extra) {
        if (p->pack_len + extra <= p->pack_cap)
                return 0;
        size_t nc = MAX(p->pack_cap * 2, p->pack_len + extra + 4096);
        uint8_t *b = realloc(p->pack, nc);
        if (!b)
                return -ENOMEM;
        p->pack = b;
        p->pack_cap = nc;
        return 0;
}

static int flush_pack(packer *p) {
        _cleanup_free_ uint8_t *hdr = NULL;
        packer_result res = {.kind = PACKER_PACK_WRITTEN};
        size_t hl, sl;
        int k;

        if (!p->pack_open)
                return 0;
        hdr = malloc(REPO_PACK_HEADER_FIXED + p->n_pblobs * REPO_PACK_ENTRY_SIZE);
        if (!hdr)
                return -ENOMEM;
        hl = repo_pack_header_encode(p->pblobs, p->n_pblobs, hdr);
        k = ensure_pack(p, hl + REPO_SEAL_OVERHEAD + 4);
        if (k < 0)
                return k;
        sl = repo_seal(p->r, hdr, hl, p->pack + p->pack_len);
        p->pack_len += sl;
        put_le32(p->pack + p->pack_len, (uint32_t) sl);
        p->pack_len += 4;
        /* W1: the pack is durable under its final name before any index names it. */
        k = repo_write_object(p->r, "data", p->pack, p->pack_len, &res.id);
        if (k < 0)
                return k;
        repo_crash_point("after-pack");
        res.local_pack = p->local_pack++;
        res.pack_len = p->pack_len;
        p->pack_len = 0;
        p->n_pblobs = 0;
        p->pack_open = false;
        return push_result(p, &res);
}

static int process(packer *p, const job *j) {
        const uint8_t *payload = j->data;
        size_t plen = j->n, z, sl;
        uint8_t flags = 0;
        int k;

        z = ZSTD_compressCCtx(p->zc, p->comp_buf, p->comp_cap, j->data, j->n, ZSTD_LEVEL);
        if (!ZSTD_isError(z) && z < j->n) {
                payload = p->comp_buf;
                plen = z;
                flags = REPO_BLOB_COMPRESSED;
        }
        k = ensure_pack(p, plen + REPO_SEAL_OVERHEAD);
        if (k < 0)
                return k;
        if (p->n_pblobs == p->cap_pblobs) {
                size_t nc = p->cap_pblobs ? p->cap_pblobs * 2 : 64;
                pack_blob *a = reallocarray(p->pblobs, nc, sizeof *a);
                if (!a)
                        return -ENOMEM;
                p->pblobs = a;
                p->cap_pblobs = nc;
        }
        p->pack_open = true;
        packer_result res = {.kind = PACKER_BLOB, .id = j->id, .local_pack = p->local_pack,
                             .offset = p->pack_len, .raw = (uint32_t) j->n, .flags = flags};
        sl = repo_seal(p->r, payload, plen, p->pack + p->pack_len);
        p->pack_len += sl;
        res.stored = (uint32_t) sl;
        p->pblobs[p->n_pblobs++] = (pack_blob) {.id = j->id, .stored = (uint32_t) sl, .raw = (uint32_t) j->n,
                                                .flags = flags};
        k = push_result(p, &res);
        if (k < 0)
                return k;
        if (p->pack_len >= p->r->pack_size || p->n_pblobs >= REPO_MAX_PACK_BLOBS)
                return flush_pack(p);
        return 0;
}

static void *worker(void *arg) {
        packer *p = arg;
        int k = 0;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (p->jcount == 0 && !p->finish && !p->stop)
                        pthread_cond_wait(&p->cond_job, &p->lock);
                if (p->stop || p->jcount == 0)
                        break;
                job j = p->jobs[p->jhead];
                p->jhead = (p->jhead + 1) % PACKER_QUEUE;
                p->jcount--;
                pthread_cond_signal(&p->cond_space);
                pthread_mutex_unlock(&p->lock);
                k = process(p, &j);
                free(j.data);
                pthread_mutex_lock(&p->lock);
                if (k < 0)
                        break;
        }
        if (k == 0 && p->finish && !p->stop) {
                pthread_mutex_unlock(&p->lock);
                k = flush_pack(p);
                pthread_mutex_lock(&p->lock);
        }
        if (k < 0) {
                p->error = k;
                snprintf(p->errmsg, sizeof p->errmsg, "%s", k == -ENOMEM ? "out of memory" : repo_errmsg());
        }
        p->done = true;
        pthread_cond_broadcast(&p->cond_space);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

packer *repo_packer_free(packer *p) {
        if (!p)
                return NULL;
        if (p->started) {
                pthread_mutex_lock(&p->lock);
                p->stop = true;
                pthread_cond_signal(&p->cond_job);
                pthread_mutex_unlock(&p->lock);
                pthread_join(p->thread, NULL);
        }
        for (size_t i = 0; i < p->jcount; i++)
                free(p->jobs[(p->jhead + i) % PACKER_QUEUE].data);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond_job);
        pthread_cond_destroy(&p->cond_space);
        free(p->results);
        free(p->pack);
        free(p->pblobs);
        free(p->comp_buf);
        ZSTD_freeCCtx(p->zc);
        free(p);
        return NULL;
}

int repo_packer_new(repo *r, packer **ret) {
        packer *p = calloc(1, sizeof *p);
        int k;

        if (!p)
                return -ENOMEM;
        p->r = r;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond_job, NULL);
        pthread_cond_init(&p->cond_space, NULL);
        p->comp_cap = ZSTD_compressBound(r->chunker.max);
        p->comp_buf = malloc(p->comp_cap);
        p->zc = ZSTD_createCCtx();
        if (!p->comp_buf || !p->zc) {
                repo_packer_free(p);
                return -ENOMEM;
        }
        k = pthread_create(&p->thread, NULL, worker, p);
        if (k != 0) {
                repo_packer_free(p);
                return repo_error(-k, "cannot start the pack writer thread: %s", strerror(k));
        }
        p->started = true;
        *ret = p;
        return 0;
}

static int worker_error(packer *p) {
        return repo_error(p->error, "%s", p->errmsg);
}

int repo_packer_submit(packer *p, const repo_id *id, const uint8_t *data, size_t n) {
        uint8_t *copy = malloc(n ? n : 1);

        if (!copy)
                return -ENOMEM;
        memcpy(copy, data, n);
        pthread_mutex_lock(&p->lock);
        while (p->jcount == PACKER_QUEUE && !p->done)
                pthread_cond_wait(&p->cond_space, &p->lock);
        if (p->done) {
                pthread_mutex_unlock(&p->lock);
                free(copy);
                return p->error ? worker_error(p) : -EPIPE;
        }
        p->jobs[(p->jhead + p->jcount) % PACKER_QUEUE] = (job) {*id, copy, n};
        p->jcount++;
        pthread_cond_signal(&p->cond_job);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

int repo_packer_drain(packer *p, packer_result **ret, size_t *ret_n) {
        pthread_mutex_lock(&p->lock);
        *ret = p->results;
        *ret_n = p->n_results;
        p->results = NULL;
        p->n_results = p->cap_results = 0;
        pthread_mutex_unlock(&p->lock);
        return 0;
}

int repo_packer_finish(packer *p) {
        pthread_mutex_lock(&p->lock);
        p->finish = true;
        pthread_cond_signal(&p->cond_job);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        p->started = false;
        return p->error ? worker_error(p) : 0;
}
