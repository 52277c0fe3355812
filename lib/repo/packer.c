/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/packer.c: the hashing and pack-writing threads of a backup.
 *
 * The backup's own thread reads and chunks; a pool of workers (one per CPU,
 * at most PACKER_MAX_WORKERS) hashes the chunks and compresses, seals and
 * appends the new ones to packs (pack.c's format, fileio.c's durable write).
 * One worker alone was the bottleneck of a backup (zstd, sealing and writing
 * took three times the CPU of reading and chunking), and hashing is the
 * larger part of a backup that mostly deduplicates.
 *
 * A chunk lives in one of n_slots buffers: put by the backup thread
 * (HASHING), hashed by a worker (HASHED), handed back to the backup thread in
 * the order it was put so that it decides against the index (decide
 * callback: known -> FREE, new -> PACKING), packed by a worker (FREE).  The
 * index and everything else of the repo handle are touched by the backup
 * thread only; workers read the keys and the directory fd, nothing else.
 *
 * Workers compress and seal in parallel and append to the one pack being
 * filled (pack_lock); the worker whose blob fills it takes it and writes it
 * while the others start the next one, so packs are filled one after the
 * other as with a single writer.  Pack numbers in results are local (0, 1,
 * 2, ... in the order packs are started); the backup thread maps them to
 * index pack slots.
 *
 * Each chunk carries the zstd level its file's compression policy gave it
 * (repo_packer_set_level before the file's chunks are put; REPO_LEVEL_RAW:
 * stored uncompressed; docs/design/backup.md §7.10).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <zstd.h>

#include "lib/core/array.h"
#include "lib/core/unaligned.h"
#include "packer.h"
#include "test-hook.h"

#define PACKER_MAX_WORKERS 4
#define PACKER_SLOTS_PER_WORKER 4
#define PACK_ALIGN 4096

enum { SLOT_FREE, SLOT_HASHING, SLOT_HASHED, SLOT_PACKING };

typedef struct slot {
        uint8_t *data;   /* chunker.max bytes, allocated on first use */
        size_t n;
        repo_id id;
        int state;
        int level;       /* zstd level for this chunk, REPO_LEVEL_RAW: stored uncompressed */
} slot;

typedef struct pack_buf {
        uint32_t local_pack;
        bool open;
        uint8_t *data;
        size_t len, cap;
        pack_blob *pblobs;
        size_t n_pblobs, cap_pblobs;
} pack_buf;

typedef struct worker {
        packer *p;
        pthread_t thread;
        bool started;
        /* worker-owned */
        pack_buf spare;           /* buffers swapped in when this worker takes a full pack */
        uint8_t *comp_buf, *seal_buf;
        size_t comp_cap;
        ZSTD_CCtx *zc;
} worker;

struct packer {
        repo *r;
        packer_decide_fn decide;
        void *userdata;
        pthread_mutex_t lock;
        pthread_cond_t cond_work, cond_main;
        slot *slots;
        size_t n_slots;
        size_t *order;            /* slots put and not yet decided, in put order (ring) */
        size_t order_head, order_count;
        size_t *queue;            /* slots waiting for a worker: to hash or to pack (ring) */
        size_t queue_head, queue_count;
        pthread_mutex_t pack_lock;
        pack_buf pack;            /* the pack being filled (pack_lock) */
        uint32_t next_pack;
        int level;                /* for the chunks put next (the backup thread's) */
        bool finish, stop;
        size_t n_running;
        worker *workers;
        size_t n_workers;
        packer_result *results;
        size_t n_results, cap_results;
        int error;
        ErrorSlot err;            /* the first failure of a worker, raised into r by the caller */
};

/* Named crash points for the crash tests (docs/design/repository.md §8):
 * LVSS_REPO_CRASH_AT=after-pack kills the process once a pack is durable. */
/* LVSS_REPO_CRASH_AT=NAME kills at the first passage of crash point NAME,
 * NAME:N at the N-th (one counter per process: one point is armed at a time). */
void repo_crash_point(const char *name) {
        static atomic_ulong passages;
        const char *v = TEST_HOOK_ENV("LVSS_REPO_CRASH_AT");
        size_t n = strlen(name);

        if (!v || strncmp(v, name, n) != 0)
                return;
        if (v[n] == 0 || (v[n] == ':' && atomic_fetch_add(&passages, 1) + 1 == strtoul(v + n + 1, NULL, 10)))
                raise(SIGKILL);
}

/* Both rings hold at most n_slots entries (a slot is in each at most once). */
static void ring_push(size_t *ring, size_t cap, size_t head, size_t *count, size_t v) {
        ring[(head + *count) % cap] = v;
        (*count)++;
}

static size_t ring_pop(const size_t *ring, size_t cap, size_t *head, size_t *count) {
        size_t v = ring[*head];
        *head = (*head + 1) % cap;
        (*count)--;
        return v;
}

static int push_result(packer *p, const packer_result *res) {
        int k;
        pthread_mutex_lock(&p->lock);
        k = ARRAY_RESERVE_ONE(p->results, p->cap_results, p->n_results, 64);
        if (k == 0)
                p->results[p->n_results++] = *res;
        pthread_mutex_unlock(&p->lock);
        return k;
}

static void pack_buf_free(pack_buf *b) {
        free(b->data);
        free(b->pblobs);
}

static int ensure_pack(pack_buf *b, size_t extra) {
        if (b->len + extra <= b->cap)
                return 0;
        size_t nc = (MAX(b->cap * 2, b->len + extra + PACK_ALIGN) + PACK_ALIGN - 1) / PACK_ALIGN * PACK_ALIGN;
        /* page-aligned, so the local backend can write it with O_DIRECT */
        uint8_t *d = aligned_alloc(PACK_ALIGN, nc);
        if (!d)
                return -ENOMEM;
        if (b->len > 0)
                memcpy(d, b->data, b->len);
        free(b->data);
        b->data = d;
        b->cap = nc;
        return 0;
}

/* Write a full (or the last) pack; b is the caller's alone. */
static int write_pack(packer *p, pack_buf *b) {
        _cleanup_free_ uint8_t *hdr = NULL;
        packer_result res = {.kind = PACKER_PACK_WRITTEN, .local_pack = b->local_pack};
        size_t hl, sl;
        int k;

        if (!b->open)
                return 0;
        hdr = malloc(REPO_PACK_HEADER_FIXED + b->n_pblobs * REPO_PACK_ENTRY_SIZE);
        if (!hdr)
                return -ENOMEM;
        hl = repo_pack_header_encode(b->pblobs, b->n_pblobs, hdr);
        k = ensure_pack(b, hl + REPO_SEAL_OVERHEAD + 4);
        if (k < 0)
                return k;
        sl = repo_seal(p->r, hdr, hl, b->data + b->len);
        b->len += sl;
        unaligned_write_le32(b->data + b->len, (uint32_t) sl);
        b->len += 4;
        /* W1: the pack is durable under its final name before any index names it. */
        k = repo_write_object(p->r, "data", b->data, b->len, &res.id);
        if (k < 0)
                return k;
        repo_crash_point("after-pack");
        res.pack_len = b->len;
        b->len = 0;
        b->n_pblobs = 0;
        b->open = false;
        return push_result(p, &res);
}

/* Append a sealed blob to the pack being filled; *ret_full gets the pack
 * when this blob filled it (the caller writes it). */
static int append_blob(packer *p, worker *w, const slot *s, const uint8_t *sealed, size_t sl, uint8_t flags,
                       bool *ret_full) {
        pack_buf *b = &p->pack;
        int k;

        *ret_full = false;
        k = ensure_pack(b, sl);
        if (k < 0)
                return k;
        if (ARRAY_RESERVE_ONE(b->pblobs, b->cap_pblobs, b->n_pblobs, 64) < 0)
                return -ENOMEM;
        if (!b->open) {
                b->local_pack = p->next_pack++;
                b->open = true;
        }
        packer_result res = {.kind = PACKER_BLOB, .id = s->id, .local_pack = b->local_pack, .offset = b->len,
                             .stored = (uint32_t) sl, .raw = (uint32_t) s->n, .flags = flags};
        memcpy(b->data + b->len, sealed, sl);
        b->len += sl;
        b->pblobs[b->n_pblobs++] = (pack_blob) {.id = s->id, .stored = (uint32_t) sl, .raw = (uint32_t) s->n,
                                                .flags = flags};
        k = push_result(p, &res);
        if (k < 0)
                return k;
        if (b->len >= p->r->pack_size || b->n_pblobs >= REPO_MAX_PACK_BLOBS) {
                /* Take the full pack; the next one starts in this worker's spare buffers. */
                pack_buf full = *b;
                *b = w->spare;
                w->spare = full;
                *ret_full = true;
        }
        return 0;
}

static int pack_blob_of(worker *w, const slot *s) {
        packer *p = w->p;
        const uint8_t *payload = s->data;
        size_t plen = s->n, z, sl;
        uint8_t flags = 0;
        bool full;
        int k;

        z = s->level == REPO_LEVEL_RAW ? s->n
                                       : ZSTD_compressCCtx(w->zc, w->comp_buf, w->comp_cap, s->data, s->n, s->level);
        if (!ZSTD_isError(z) && z < s->n) {
                payload = w->comp_buf;
                plen = z;
                flags = REPO_BLOB_COMPRESSED;
        }
        sl = repo_seal(p->r, payload, plen, w->seal_buf);
        pthread_mutex_lock(&p->pack_lock);
        k = append_blob(p, w, s, w->seal_buf, sl, flags, &full);
        pthread_mutex_unlock(&p->pack_lock);
        if (k < 0 || !full)
                return k;
        return write_pack(p, &w->spare);
}

/* Called with the lock held. */
static void set_error(packer *p, int k) {
        if (p->error)
                return;
        p->error = k;
        (void) error_slot_set(&p->err, k, "%s", k == -ENOMEM ? "out of memory" : repo_errmsg());
        pthread_cond_broadcast(&p->cond_work);
        pthread_cond_broadcast(&p->cond_main);
}

static void *worker_main(void *arg) {
        worker *w = arg;
        packer *p = w->p;
        int k = 0;

        repo_error_worker_thread();   /* its failures on p->r: to this thread's slot, then set_error */
        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (p->queue_count == 0 && !p->finish && !p->stop && !p->error)
                        pthread_cond_wait(&p->cond_work, &p->lock);
                if (p->stop || p->error || p->queue_count == 0)
                        break;
                slot *s = &p->slots[ring_pop(p->queue, p->n_slots, &p->queue_head, &p->queue_count)];
                bool hash = s->state == SLOT_HASHING;
                pthread_mutex_unlock(&p->lock);
                if (hash)
                        repo_hash_blob(p->r, s->data, s->n, &s->id);
                else
                        k = pack_blob_of(w, s);
                pthread_mutex_lock(&p->lock);
                s->state = hash ? SLOT_HASHED : SLOT_FREE;
                pthread_cond_broadcast(&p->cond_main);
                if (k < 0) {
                        set_error(p, k);
                        break;
                }
        }
        p->n_running--;
        pthread_cond_broadcast(&p->cond_main);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static void stop_workers(packer *p, bool finish) {
        pthread_mutex_lock(&p->lock);
        if (finish)
                p->finish = true;
        else
                p->stop = true;
        pthread_cond_broadcast(&p->cond_work);
        pthread_mutex_unlock(&p->lock);
        for (size_t i = 0; i < p->n_workers; i++)
                if (p->workers[i].started) {
                        pthread_join(p->workers[i].thread, NULL);
                        p->workers[i].started = false;
                }
}

packer *repo_packer_free(packer *p) {
        if (!p)
                return NULL;
        if (p->workers) {
                stop_workers(p, false);
                for (size_t i = 0; i < p->n_workers; i++) {
                        worker *w = &p->workers[i];
                        pack_buf_free(&w->spare);
                        free(w->comp_buf);
                        free(w->seal_buf);
                        ZSTD_freeCCtx(w->zc);
                }
                free(p->workers);
        }
        for (size_t i = 0; p->slots && i < p->n_slots; i++)
                free(p->slots[i].data);
        free(p->slots);
        free(p->order);
        free(p->queue);
        pack_buf_free(&p->pack);
        pthread_mutex_destroy(&p->pack_lock);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond_work);
        pthread_cond_destroy(&p->cond_main);
        free(p->results);
        free(p);
        return NULL;
}

static size_t cpu_count(void) {
        cpu_set_t set;
        long n;

        if (sched_getaffinity(0, sizeof set, &set) == 0)
                n = CPU_COUNT(&set);
        else
                n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : (size_t) n;
}

int repo_packer_new(repo *r, packer_decide_fn decide, void *userdata, packer **ret) {
        packer *p = calloc(1, sizeof *p);
        int k;

        if (!p)
                return -ENOMEM;
        p->r = r;
        p->decide = decide;
        p->userdata = userdata;
        p->level = 3;
        pthread_mutex_init(&p->lock, NULL);
        pthread_mutex_init(&p->pack_lock, NULL);
        pthread_cond_init(&p->cond_work, NULL);
        pthread_cond_init(&p->cond_main, NULL);
        p->n_workers = MIN(cpu_count(), (size_t) PACKER_MAX_WORKERS);
        p->n_slots = p->n_workers * PACKER_SLOTS_PER_WORKER;
        p->slots = calloc(p->n_slots, sizeof *p->slots);
        p->order = calloc(p->n_slots, sizeof *p->order);
        p->queue = calloc(p->n_slots, sizeof *p->queue);
        p->workers = calloc(p->n_workers, sizeof *p->workers);
        if (!p->slots || !p->order || !p->queue || !p->workers) {
                repo_packer_free(p);
                return -ENOMEM;
        }
        for (size_t i = 0; i < p->n_workers; i++) {
                worker *w = &p->workers[i];
                w->p = p;
                w->comp_cap = ZSTD_compressBound(r->chunker.max);
                w->comp_buf = malloc(w->comp_cap);
                w->seal_buf = malloc(MAX(w->comp_cap, (size_t) r->chunker.max) + REPO_SEAL_OVERHEAD);
                w->zc = ZSTD_createCCtx();
                if (!w->comp_buf || !w->seal_buf || !w->zc) {
                        repo_packer_free(p);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < p->n_workers; i++) {
                k = pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]);
                if (k != 0) {
                        repo_packer_free(p);
                        return repo_error(r, -k, "cannot start the pack writer threads: %s", strerror(k));
                }
                p->workers[i].started = true;
                pthread_mutex_lock(&p->lock);
                p->n_running++;
                pthread_mutex_unlock(&p->lock);
        }
        *ret = p;
        return 0;
}

static int worker_error(packer *p) {
        return repo_error(p->r, p->error, "%s", error_slot_get(&p->err));
}

/* Hand hashed chunks back to decide, oldest first, until (want_free) a slot
 * is free for a new chunk, or (!want_free) every chunk put is decided. */
static int settle(packer *p, bool want_free, size_t *ret_slot) {
        int k = 0;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                if (p->error) {
                        pthread_mutex_unlock(&p->lock);
                        return worker_error(p);
                }
                if (p->order_count > 0 && p->slots[p->order[p->order_head]].state == SLOT_HASHED) {
                        size_t i = ring_pop(p->order, p->n_slots, &p->order_head, &p->order_count);
                        slot *s = &p->slots[i];
                        pthread_mutex_unlock(&p->lock);
                        k = p->decide(p->userdata, &s->id, s->n);
                        pthread_mutex_lock(&p->lock);
                        if (k > 0) {
                                s->state = SLOT_PACKING;
                                ring_push(p->queue, p->n_slots, p->queue_head, &p->queue_count, i);
                                pthread_cond_signal(&p->cond_work);
                        } else
                                s->state = SLOT_FREE;
                        if (k < 0)
                                break;
                        continue;
                }
                if (want_free) {
                        for (size_t i = 0; i < p->n_slots; i++)
                                if (p->slots[i].state == SLOT_FREE) {
                                        *ret_slot = i;
                                        pthread_mutex_unlock(&p->lock);
                                        return 0;
                                }
                } else if (p->order_count == 0)
                        break;
                if (p->n_running == 0) {
                        k = repo_error(p->r, -EPIPE, "the pack writer threads stopped");
                        break;
                }
                pthread_cond_wait(&p->cond_main, &p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return k < 0 ? k : 0;
}

int repo_packer_put(packer *p, const uint8_t *data, size_t n) {
        size_t i;
        int k;

        if (n > p->r->chunker.max)
                return repo_error(p->r, -EINVAL, "internal error: chunk of %zu bytes", n);
        k = settle(p, true, &i);
        if (k < 0)
                return k;
        /* A FREE slot is the backup thread's until it is queued. */
        slot *s = &p->slots[i];
        if (!s->data && !(s->data = malloc(MAX(p->r->chunker.max, 1u))))
                return -ENOMEM;
        memcpy(s->data, data, n);
        s->n = n;
        s->level = p->level;
        pthread_mutex_lock(&p->lock);
        s->state = SLOT_HASHING;
        ring_push(p->order, p->n_slots, p->order_head, &p->order_count, i);
        ring_push(p->queue, p->n_slots, p->queue_head, &p->queue_count, i);
        pthread_cond_signal(&p->cond_work);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

void repo_packer_set_level(packer *p, int level) {
        p->level = level;
}

int repo_packer_sync(packer *p) {
        return settle(p, false, NULL);
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
        int k = repo_packer_sync(p);
        if (k < 0)
                return k;
        stop_workers(p, true);
        if (p->error)
                return worker_error(p);
        return write_pack(p, &p->pack);   /* the last one (the workers are gone) */
}
