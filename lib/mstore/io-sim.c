/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io-sim.h"
#include "lib/core/array.h"

typedef struct pend {
        uint64_t off;
        size_t len;
        uint8_t *data;
} pend;

typedef struct node {
        char *path;       /* NULL once unlinked or renamed over */
        int is_dir;
        int refs;         /* open handles */
        uint8_t *cur;     /* what reads see */
        uint64_t cur_len;
        uint8_t *dur;     /* what survives a power cut */
        uint64_t dur_len;
        pend *p;
        size_t np, cap_p;
} node;

struct io_sim {
        struct mstore_io io;
        struct mstore_io lock_io;  /* table of lock handles: only close */
        pthread_mutex_t lock;
        node **nodes;
        size_t n, cap;
        uint64_t rng;
        uint64_t ops, writes, syncs;
        uint64_t fail_write_at, fail_sync_at, crash_at;
        int fail_write_err, fail_sync_err;
        int crashed;
        char *fail_path;
        int fail_path_err;
        uint64_t fired;    /* injected faults that were returned */
        char fired_path[256]; /* file of the last one */
        char **locks;      /* paths locked through io->lock */
        size_t nlocks, cap_locks;
};

/* memcpy with a zero length still needs valid pointers; empty files have
 * NULL buffers here, so every copy of file bytes goes through this. */
static void copy_bytes(void *dst, const void *src, uint64_t n) {
        if (n)
                memcpy(dst, src, (size_t) n);
}

static void note_fault(io_sim *s, const char *path) {
        s->fired++;
        snprintf(s->fired_path, sizeof s->fired_path, "%s", path ? path : "");
}

static int path_fault(io_sim *s, const char *path) {
        if (s->fail_path && path && strstr(path, s->fail_path)) {
                note_fault(s, path);
                return -s->fail_path_err;
        }
        return 0;
}

typedef struct sim_file {
        mstore_file base;
        io_sim *sim;
        node *nd;
        int rdonly;
} sim_file;

static uint64_t rnd(io_sim *s) {
        /* xorshift64*: deterministic per seed */
        s->rng ^= s->rng >> 12;
        s->rng ^= s->rng << 25;
        s->rng ^= s->rng >> 27;
        return s->rng * 2685821657736338717ull;
}

static void node_free(node *nd);

/* An unlinked node leaves the name table; its memory goes with the last handle. */
static void forget(io_sim *s, node *nd) {
        free(nd->path);
        nd->path = NULL;
        for (size_t i = 0; i < s->n; i++)
                if (s->nodes[i] == nd) {
                        s->nodes[i] = s->nodes[--s->n];
                        break;
                }
        if (nd->refs == 0)
                node_free(nd);
}

static node *find(io_sim *s, const char *path) {
        for (size_t i = 0; i < s->n; i++)
                if (s->nodes[i]->path && strcmp(s->nodes[i]->path, path) == 0)
                        return s->nodes[i];
        return NULL;
}

static node *add(io_sim *s, const char *path, int is_dir) {
        if (ARRAY_RESERVE_ONE(s->nodes, s->cap, s->n, 64) < 0)
                return NULL;
        node *nd = calloc(1, sizeof *nd);
        if (!nd)
                return NULL;
        nd->path = strdup(path);
        if (!nd->path) {
                free(nd);
                return NULL;
        }
        nd->is_dir = is_dir;
        s->nodes[s->n++] = nd;
        return nd;
}

static int grow(uint8_t **buf, uint64_t *len, uint64_t need) {
        if (need <= *len)
                return 0;
        uint8_t *nb = realloc(*buf, need);
        if (!nb)
                return -ENOMEM;
        memset(nb + *len, 0, need - *len);
        *buf = nb;
        *len = need;
        return 0;
}

static int s_open(const struct mstore_io *io, const char *path, int flags, mstore_file **ret) {
        io_sim *s = io->ctx;
        int r = 0;
        pthread_mutex_lock(&s->lock);
        node *nd = find(s, path);
        if (nd && (flags & MSTORE_IO_EXCL) && (flags & MSTORE_IO_CREATE))
                r = -EEXIST;
        else if (!nd && !(flags & MSTORE_IO_CREATE))
                r = -ENOENT;
        else if (!nd && s->crashed)
                r = -EIO;
        else if (!nd && (r = path_fault(s, path)) < 0)
                ;
        else if (!nd && !(nd = add(s, path, 0)))
                r = -ENOMEM;
        else if (nd->is_dir)
                r = -EISDIR;
        if (r == 0) {
                sim_file *f = calloc(1, sizeof *f);
                if (!f)
                        r = -ENOMEM;
                else {
                        f->base.io = io;
                        f->sim = s;
                        f->nd = nd;
                        f->rdonly = !!(flags & MSTORE_IO_RDONLY);
                        nd->refs++;
                        *ret = &f->base;
                }
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

static void s_close(mstore_file *f) {
        sim_file *sf = (sim_file *) f;
        pthread_mutex_lock(&sf->sim->lock);
        if (--sf->nd->refs == 0 && !sf->nd->path)
                node_free(sf->nd);
        pthread_mutex_unlock(&sf->sim->lock);
        free(f);
}

static int64_t s_pread(mstore_file *f, void *buf, size_t len, uint64_t off) {
        sim_file *sf = (sim_file *) f;
        io_sim *s = sf->sim;
        pthread_mutex_lock(&s->lock);
        node *nd = sf->nd;
        int64_t n = 0;
        if (off < nd->cur_len) {
                uint64_t avail = nd->cur_len - off;
                n = (int64_t) (len < avail ? len : avail);
                copy_bytes(buf, nd->cur + off, (uint64_t) n);
        }
        pthread_mutex_unlock(&s->lock);
        return n;
}

/* Count a write or sync; returns the injected error or 0. */
static int tick(io_sim *s, int is_sync, const char *path) {
        if (s->crashed)
                return -EIO;
        s->ops++;
        if (s->crash_at && s->ops >= s->crash_at) {
                s->crashed = 1;
                note_fault(s, path);
                return -EIO;
        }
        if (is_sync) {
                s->syncs++;
                if (s->fail_sync_at && s->syncs == s->fail_sync_at) {
                        note_fault(s, path);
                        return -s->fail_sync_err;
                }
        } else {
                s->writes++;
                if (s->fail_write_at && s->writes == s->fail_write_at) {
                        note_fault(s, path);
                        return -s->fail_write_err;
                }
        }
        return 0;
}

static int s_pwrite(mstore_file *f, const void *buf, size_t len, uint64_t off) {
        sim_file *sf = (sim_file *) f;
        io_sim *s = sf->sim;
        int r;
        if (sf->rdonly)
                return -EBADF;
        pthread_mutex_lock(&s->lock);
        node *nd = sf->nd;
        r = tick(s, 0, nd->path);
        if (r == 0 && off + len > nd->cur_len)
                r = path_fault(s, nd->path); /* only growing a file can run out of space */
        if (r == 0)
                r = grow(&nd->cur, &nd->cur_len, off + len);
        if (r == 0) {
                int grown = ARRAY_RESERVE_ONE(nd->p, nd->cap_p, nd->np, 16);
                uint8_t *copy = malloc(len ? len : 1);
                if (grown < 0 || !copy) {
                        free(copy);
                        r = -ENOMEM;
                } else {
                        copy_bytes(copy, buf, len);
                        nd->p[nd->np++] = (pend) { off, len, copy };
                        copy_bytes(nd->cur + off, buf, len);
                }
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

static void drop_pending(node *nd) {
        for (size_t i = 0; i < nd->np; i++)
                free(nd->p[i].data);
        free(nd->p);
        nd->p = NULL;
        nd->np = nd->cap_p = 0;
}

static void node_free(node *nd) {
        drop_pending(nd);
        free(nd->cur);
        free(nd->dur);
        free(nd->path);
        free(nd);
}

static int make_durable(node *nd) {
        uint8_t *d = malloc(nd->cur_len ? nd->cur_len : 1);
        if (!d)
                return -ENOMEM;
        copy_bytes(d, nd->cur, nd->cur_len);
        free(nd->dur);
        nd->dur = d;
        nd->dur_len = nd->cur_len;
        drop_pending(nd);
        return 0;
}

static int s_sync(mstore_file *f) {
        sim_file *sf = (sim_file *) f;
        io_sim *s = sf->sim;
        pthread_mutex_lock(&s->lock);
        int r = tick(s, 1, sf->nd->path);
        if (r == 0)
                r = make_durable(sf->nd);
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int s_size(mstore_file *f, uint64_t *ret) {
        sim_file *sf = (sim_file *) f;
        pthread_mutex_lock(&sf->sim->lock);
        *ret = sf->nd->cur_len;
        pthread_mutex_unlock(&sf->sim->lock);
        return 0;
}

static int s_allocate(mstore_file *f, uint64_t size) {
        sim_file *sf = (sim_file *) f;
        io_sim *s = sf->sim;
        pthread_mutex_lock(&s->lock);
        int r = s->crashed ? -EIO : path_fault(s, sf->nd->path);
        if (r == 0)
                r = grow(&sf->nd->cur, &sf->nd->cur_len, size);
        if (r == 0)
                r = grow(&sf->nd->dur, &sf->nd->dur_len, size);
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int s_rename(const struct mstore_io *io, const char *from, const char *to) {
        io_sim *s = io->ctx;
        int r = 0;
        pthread_mutex_lock(&s->lock);
        node *a = find(s, from), *b = find(s, to);
        if (s->crashed)
                r = -EIO;
        else if (!a)
                r = -ENOENT;
        else {
                char *np = strdup(to);
                if (!np)
                        r = -ENOMEM;
                else {
                        if (b && b != a)
                                forget(s, b);
                        free(a->path);
                        a->path = np;
                }
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int s_unlink(const struct mstore_io *io, const char *path) {
        io_sim *s = io->ctx;
        int r = 0;
        pthread_mutex_lock(&s->lock);
        node *a = find(s, path);
        if (s->crashed)
                r = -EIO;
        else if (!a)
                r = -ENOENT;
        else
                forget(s, a);
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int s_exists(const struct mstore_io *io, const char *path) {
        io_sim *s = io->ctx;
        pthread_mutex_lock(&s->lock);
        int r = find(s, path) != NULL;
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int s_mkdir(const struct mstore_io *io, const char *path) {
        io_sim *s = io->ctx;
        int r = 0;
        pthread_mutex_lock(&s->lock);
        if (find(s, path))
                r = -EEXIST;
        else if (!add(s, path, 1))
                r = -ENOMEM;
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int s_list(const struct mstore_io *io, const char *dir, char ***ret) {
        io_sim *s = io->ctx;
        size_t dl = strlen(dir), k = 0;
        pthread_mutex_lock(&s->lock);
        char **v = calloc(s->n + 1, sizeof *v);
        if (!v) {
                pthread_mutex_unlock(&s->lock);
                return -ENOMEM;
        }
        for (size_t i = 0; i < s->n; i++) {
                const char *p = s->nodes[i]->path;
                if (!p || strncmp(p, dir, dl) != 0 || p[dl] != '/' || strchr(p + dl + 1, '/'))
                        continue;
                v[k] = strdup(p + dl + 1);
                if (!v[k]) {
                        pthread_mutex_unlock(&s->lock);
                        io_strv_free(v);
                        return -ENOMEM;
                }
                k++;
        }
        pthread_mutex_unlock(&s->lock);
        *ret = v;
        return 0;
}

static int s_sync_dir(const struct mstore_io *io, const char *dir) {
        io_sim *s = io->ctx;
        pthread_mutex_lock(&s->lock);
        int r = tick(s, 1, dir);
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* Locks: one holder per path within this sim (two opens of one group in a
 * test conflict as two processes would on real files). */
typedef struct sim_lock {
        mstore_file base;
        io_sim *sim;
        char *path;
} sim_lock;

static void s_unlock(mstore_file *f) {
        sim_lock *l = (sim_lock *) f;
        io_sim *s = l->sim;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->nlocks; i++)
                if (strcmp(s->locks[i], l->path) == 0) {
                        free(s->locks[i]);
                        s->locks[i] = s->locks[--s->nlocks];
                        break;
                }
        pthread_mutex_unlock(&s->lock);
        free(l->path);
        free(l);
}

static int s_lock(const struct mstore_io *io, const char *path, mstore_file **ret, pid_t *ret_holder) {
        io_sim *s = io->ctx;
        int r = 0;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->nlocks && r == 0; i++)
                if (strcmp(s->locks[i], path) == 0) {
                        *ret_holder = getpid();
                        r = -EWOULDBLOCK;
                }
        sim_lock *l = NULL;
        if (r == 0) {
                int grown = ARRAY_RESERVE_ONE(s->locks, s->cap_locks, s->nlocks, 4);
                l = calloc(1, sizeof *l);
                if (l)
                        l->path = strdup(path);
                char *key = grown >= 0 ? strdup(path) : NULL;
                if (!l || !l->path || !key) {
                        if (l)
                                free(l->path);
                        free(l);
                        free(key);
                        r = -ENOMEM;
                } else {
                        s->locks[s->nlocks++] = key;
                        l->base.io = &s->lock_io;
                        l->sim = s;
                        *ret = &l->base;
                }
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

io_sim *io_sim_new(uint64_t seed) {
        io_sim *s = calloc(1, sizeof *s);
        if (!s)
                return NULL;
        pthread_mutex_init(&s->lock, NULL);
        s->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
        s->io = (struct mstore_io) {
                .ctx = s, .open = s_open, .close = s_close, .pread = s_pread, .pwrite = s_pwrite,
                .sync = s_sync, .size = s_size, .allocate = s_allocate, .rename = s_rename,
                .unlink = s_unlink, .exists = s_exists, .mkdir = s_mkdir, .list = s_list,
                .sync_dir = s_sync_dir, .lock = s_lock,
        };
        s->lock_io = (struct mstore_io) { .ctx = s, .close = s_unlock };
        return s;
}

void io_sim_free(io_sim *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                node_free(s->nodes[i]);
        free(s->nodes);
        for (size_t i = 0; i < s->nlocks; i++)
                free(s->locks[i]);
        free(s->locks);
        free(s->fail_path);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

const struct mstore_io *io_sim_io(io_sim *s) {
        return &s->io;
}

uint64_t io_sim_ops(io_sim *s) {
        pthread_mutex_lock(&s->lock);
        uint64_t n = s->ops;
        pthread_mutex_unlock(&s->lock);
        return n;
}

uint64_t io_sim_faults_fired(io_sim *s, char *ret_path, size_t len) {
        pthread_mutex_lock(&s->lock);
        uint64_t n = s->fired;
        if (ret_path && len)
                snprintf(ret_path, len, "%s", s->fired_path);
        pthread_mutex_unlock(&s->lock);
        return n;
}

void io_sim_fail_write(io_sim *s, uint64_t n, int err) {
        pthread_mutex_lock(&s->lock);
        s->fail_write_at = s->writes + n;
        s->fail_write_err = err;
        pthread_mutex_unlock(&s->lock);
}

void io_sim_fail_sync(io_sim *s, uint64_t n, int err) {
        pthread_mutex_lock(&s->lock);
        s->fail_sync_at = s->syncs + n;
        s->fail_sync_err = err;
        pthread_mutex_unlock(&s->lock);
}

void io_sim_fail_path(io_sim *s, const char *substr, int err) {
        pthread_mutex_lock(&s->lock);
        free(s->fail_path);
        s->fail_path = substr ? strdup(substr) : NULL;
        s->fail_path_err = err;
        pthread_mutex_unlock(&s->lock);
}

void io_sim_crash_at(io_sim *s, uint64_t n) {
        pthread_mutex_lock(&s->lock);
        s->crash_at = s->ops + n;
        pthread_mutex_unlock(&s->lock);
}

int io_sim_crashed(io_sim *s) {
        pthread_mutex_lock(&s->lock);
        int c = s->crashed;
        pthread_mutex_unlock(&s->lock);
        return c;
}

void io_sim_power_cut(io_sim *s, int tear) {
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n; i++) {
                node *nd = s->nodes[i];
                if (nd->is_dir)
                        continue;
                /* Start from the durable image, replay pending writes by fate. */
                uint8_t *img = malloc(nd->cur_len ? nd->cur_len : 1);
                if (!img)
                        abort();
                memset(img, 0, nd->cur_len ? nd->cur_len : 1);
                copy_bytes(img, nd->dur, nd->dur_len < nd->cur_len ? nd->dur_len : nd->cur_len);
                uint64_t len = nd->dur_len;
                for (size_t j = 0; tear && j < nd->np; j++) {
                        pend *p = &nd->p[j];
                        unsigned fate = (unsigned) (rnd(s) % 3);
                        if (fate == 1)
                                continue; /* dropped */
                        for (uint64_t o = 0; o < p->len; o += 512) {
                                uint64_t l = p->len - o < 512 ? p->len - o : 512;
                                if (fate == 2 && (rnd(s) & 1))
                                        continue; /* torn: this sector lost */
                                memcpy(img + p->off + o, p->data + o, (size_t) l);
                                if (p->off + o + l > len)
                                        len = p->off + o + l;
                        }
                }
                drop_pending(nd);
                free(nd->cur);
                free(nd->dur);
                nd->cur = img;
                nd->cur_len = len;
                nd->dur = malloc(len ? len : 1);
                if (!nd->dur)
                        abort();
                copy_bytes(nd->dur, img, len);
                nd->dur_len = len;
        }
        s->crashed = 0;
        s->crash_at = s->fail_write_at = s->fail_sync_at = 0;
        pthread_mutex_unlock(&s->lock);
}

int io_sim_flip_bit(io_sim *s, const char *path, uint64_t bit) {
        pthread_mutex_lock(&s->lock);
        node *nd = find(s, path);
        int r = -ENOENT;
        if (nd && bit / 8 < nd->cur_len) {
                nd->cur[bit / 8] ^= (uint8_t) (1u << (bit % 8));
                if (bit / 8 < nd->dur_len)
                        nd->dur[bit / 8] ^= (uint8_t) (1u << (bit % 8));
                r = 0;
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}
