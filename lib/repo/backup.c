/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/backup.c: storing files as a backup.
 *
 * Files are cut into chunks (chunker.c) on this thread and hashed by the
 * packer's workers (packer.c); a chunk whose id the index already knows is
 * not stored again (deduplication across files, backups and components).
 * New chunks are compressed (zstd, kept raw when that does not shrink them),
 * sealed and appended to a worker's pack; a full pack is written as one
 * object.  Commit writes the last pack, then one index
 * document for every pack of this backup, then the record: the ordering that
 * guarantees a record never names missing data (invariants W1-W4).
 *
 * Change tracking (on unless the caller turns it off): a file whose size,
 * mode, mtime, ctime and inode match the previous view of it is left out of
 * an incremental or differential (the base chain's view: full + incrementals,
 * or the full), and stored in a full or copy by reusing its previous blob list
 * without reading it (the newest backup's view), as restic and borg do.
 */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <search.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <time.h>

#include "lib/core/array.h"
#include "lib/core/fs-util.h"
#include "packer.h"
#include "test-hook.h"

struct repo_backup {
        repo *r;
        repo_record *rec;          /* being built */
        size_t cap_files;
        uint32_t first_new_pack;
        uint32_t index_mark;       /* n_packs before this backup: rollback point */
        packer *packer;            /* hashes chunks; compresses, seals, writes packs (worker threads) */
        uint64_t pending;          /* new blobs submitted whose location is not known yet */
        uint8_t *chunk_buf;        /* READ_BUF_CHUNKS * chunker.max: reads ahead of the chunker */
        repo_file *cur;            /* the file whose chunks are being decided */
        size_t cur_cap_blobs;
        /* incremental/differential: the base chain and its merged file view */
        repo_record **chain;
        size_t n_chain;
        const repo_file **ref;
        size_t n_ref;
        uint8_t *ref_seen;         /* per ref entry: the path exists in this run */
        bool omit_unchanged;       /* incremental/differential: unchanged files are left out */
        bool track_changes;
        bool read_all;
        int compression;           /* enum repo_compression */
        repo_stats stats;
        repo_progress_fn progress;
        void *progress_userdata;
        struct timespec start;
        bool committed;
        bool copy;                 /* repo_backup_new_copy: keep the original's time, host, figures */
        void *links;               /* tsearch tree of seen_inode: hard links of this walk */
};

/* A regular file with more than one link, as first met in the walk. */
typedef struct seen_inode {
        dev_t dev;
        ino_t ino;
        char *path;
} seen_inode;

static int seen_cmp(const void *a, const void *b) {
        const seen_inode *x = a, *y = b;
        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static void seen_free(void *p) {
        seen_inode *s = p;
        free(s->path);
        free(s);
}

static int64_t now_ns(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

repo_backup *repo_backup_free(repo_backup *b) {
        if (!b)
                return NULL;
        repo_packer_free(b->packer);
        /* Not committed: forget this backup's packs and pending blobs, so a
         * later backup on the same handle never deduplicates against data no
         * index on disk will name (its packs are orphans for the next cleanup). */
        if (!b->committed && b->r) {
                (void) repo_index_truncate(&b->r->index, b->index_mark);
        }
        repo_record_free(b->rec);
        free(b->chunk_buf);
        for (size_t i = 0; i < b->n_chain; i++)
                repo_record_free(b->chain[i]);
        free(b->chain);
        free(b->ref);
        free(b->ref_seen);
        tdestroy(b->links, seen_free);
        free(b);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(repo_backup *, repo_backup_free);

/* The base chain's view of the files: what an incremental or differential
 * compares against. */
static int build_reference(repo_backup *b) {
        int k = repo_chain_merge(b->chain, b->n_chain, &b->ref, &b->n_ref);
        if (k < 0)
                return k;
        b->ref_seen = calloc(b->n_ref + 1, 1);
        return b->ref_seen ? 0 : -ENOMEM;
}

static int ref_cmp(const void *a, const void *b) {
        const repo_file *x = *(const repo_file *const *) a, *y = *(const repo_file *const *) b;
        return strcmp(x->path, y->path);
}

static const repo_file *ref_find(repo_backup *b, const char *path) {
        repo_file key = {.path = (char *) path};
        const repo_file *kp = &key, **hit;

        if (!b->ref)
                return NULL;
        hit = bsearch(&kp, b->ref, b->n_ref, sizeof *b->ref, ref_cmp); // NOLINT(bugprone-sizeof-expression): array of pointers
        if (!hit)
                return NULL;
        b->ref_seen[hit - b->ref] = 1;
        return *hit;
}

static bool base_usable(int type, int base_type) {
        if (type == REPO_BACKUP_INCREMENTAL)
                return base_type == REPO_BACKUP_FULL || base_type == REPO_BACKUP_INCREMENTAL;
        return base_type == REPO_BACKUP_FULL;
}

static int find_base(repo *r, int type, repo_id *ret) {
        repo_record **recs = NULL;
        size_t n = 0;
        int k = repo_list_backups(r, &recs, &n);
        bool found = false;

        if (k < 0)
                return k;
        for (size_t i = n; i-- > 0;)
                if (base_usable(type, recs[i]->type)) {
                        *ret = recs[i]->id;
                        found = true;
                        break;
                }
        for (size_t i = 0; i < n; i++)
                repo_record_free(recs[i]);
        free(recs);
        if (!found)
                return repo_error(r, -ENOENT, "no usable full backup in %s: a %s backup needs one first", r->dir,
                                  repo_backup_type_to_string(type));
        return 0;
}

/* The read buffer holds this many maximal chunks, so the chunker always sees
 * a whole maximal chunk ahead and the unconsumed tail is moved to the front
 * once per READ_BUF_CHUNKS - 1 chunks' worth of data, not once per chunk. */
#define READ_BUF_CHUNKS 4

static int decide_chunk(void *userdata, const repo_id *id, size_t n);

int repo_backup_new(repo *r, int type, const repo_id *based_on, repo_backup **ret) {
        _cleanup_(repo_backup_freep) repo_backup *b = NULL;
        int k;

        if (!repo_backup_type_to_string(type))
                return repo_error(r, -EINVAL, "unknown backup type %d", type);
        b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->r = r;
        b->track_changes = true;
        clock_gettime(CLOCK_MONOTONIC, &b->start);
        b->rec = calloc(1, sizeof *b->rec);
        b->rec->type = type;
        b->chunk_buf = malloc((size_t) READ_BUF_CHUNKS * r->chunker.max);
        if (!b->rec || !b->chunk_buf)
                return -ENOMEM;
        if (type == REPO_BACKUP_INCREMENTAL || type == REPO_BACKUP_DIFFERENTIAL) {
                repo_id base;
                if (based_on)
                        base = *based_on;
                else if ((k = find_base(r, type, &base)) < 0)
                        return k;
                k = repo_backup_chain(r, &base, &b->chain, &b->n_chain);
                if (k < 0)
                        return k;
                repo_record *br = b->chain[b->n_chain - 1];
                if (!base_usable(type, br->type)) {
                        char hex[REPO_ID_HEX_SIZE];
                        repo_id_to_hex(&base, hex);
                        return repo_error(r, -EINVAL, "backup %s is a %s backup: a %s backup must be based on %s", hex,
                                          repo_backup_type_to_string(br->type), repo_backup_type_to_string(type),
                                          type == REPO_BACKUP_INCREMENTAL ? "a full or incremental backup"
                                                                          : "a full backup");
                }
                b->rec->has_based_on = true;
                b->rec->based_on = base;
                b->omit_unchanged = true;
                k = build_reference(b);
                if (k < 0)
                        return k;
        } else if (based_on)
                return repo_error(r, -EINVAL, "a %s backup is not based on another", repo_backup_type_to_string(type));
        else {
                /* full/copy: the newest backup's view, to reuse unchanged files' blob lists */
                repo_record **recs = NULL;
                size_t n = 0;
                k = repo_list_backups(r, &recs, &n);
                if (k == REPO_E_CORRUPT)
                        n = 0;   /* a damaged record must not block a new full: just read everything */
                else if (k < 0)
                        return k;
                repo_id newest = n ? recs[n - 1]->id : (repo_id) {};
                for (size_t i = 0; i < n; i++)
                        repo_record_free(recs[i]);
                free(recs);
                if (n > 0) {
                        k = repo_backup_chain(r, &newest, &b->chain, &b->n_chain);
                        if (k < 0)
                                return k;
                        k = build_reference(b);
                        if (k < 0)
                                return k;
                }
        }
        b->first_new_pack = b->index_mark = (uint32_t) r->index.n_packs;
        k = repo_packer_new(r, decide_chunk, b, &b->packer);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(b);
        return 0;
}

void repo_backup_set_track_changes(repo_backup *b, bool on) {
        b->track_changes = on;
}

void repo_backup_set_read_all(repo_backup *b, bool on) {
        b->read_all = on;
}

const repo_record *repo_backup_base(const repo_backup *b) {
        return b->n_chain ? b->chain[b->n_chain - 1] : NULL;
}

void repo_backup_set_progress(repo_backup *b, repo_progress_fn fn, void *userdata) {
        b->progress = fn;
        b->progress_userdata = userdata;
}

const repo_stats *repo_backup_stats(const repo_backup *b) {
        return &b->stats;
}

int repo_backup_add_component(repo_backup *b, const char *component) {
        if (ARRAY_RESERVE_ONE(b->rec->components, b->rec->cap_components, b->rec->n_components, 4) < 0)
                return -ENOMEM;
        if (!(b->rec->components[b->rec->n_components] = strdup(component)))
                return -ENOMEM;
        b->rec->n_components++;
        return 0;
}

int repo_backup_set_components_doc(repo_backup *b, const char *json) {
        char *s = strdup(json);
        if (!s)
                return -ENOMEM;
        free(b->rec->components_doc);
        b->rec->components_doc = s;
        return 0;
}

int repo_backup_add_writer(repo_backup *b, const char *name, const char *metadata, const char *stamp) {
        if (ARRAY_RESERVE_ONE(b->rec->writers, b->rec->cap_writers, b->rec->n_writers, 4) < 0)
                return -ENOMEM;
        repo_writer_info *p = b->rec->writers + b->rec->n_writers;
        *p = (repo_writer_info) {strdup(name), metadata ? strdup(metadata) : NULL, stamp ? strdup(stamp) : NULL};
        if (!p->name || (metadata && !p->metadata) || (stamp && !p->stamp)) {
                free(p->name);
                free(p->metadata);
                free(p->stamp);
                return -ENOMEM;
        }
        b->rec->n_writers++;
        return 0;
}

/* Blobs submitted to the packer are entered in the index at once with this
 * pack number (so a second copy in the same backup is deduplicated), and get
 * their real location when the packer reports it. */
#define PENDING_PACK UINT32_MAX

static int apply_results(repo_backup *b) {
        _cleanup_free_ packer_result *res = NULL;
        repo_index *ix = &b->r->index;
        size_t n = 0;
        int k;

        repo_packer_drain(b->packer, &res, &n);
        for (size_t i = 0; i < n; i++) {
                const packer_result *p = &res[i];
                uint32_t slot = b->first_new_pack + p->local_pack;

                while (ix->n_packs <= slot) {
                        uint32_t s;
                        k = repo_index_reserve_pack(ix, &s);
                        if (k < 0)
                                return k;
                }
                if (p->kind == PACKER_PACK_WRITTEN) {
                        ix->packs[slot] = p->id;
                        b->stats.bytes_added += p->pack_len;
                        continue;
                }
                index_entry *e = repo_index_find(ix, &p->id);
                if (!e || e->pack != PENDING_PACK)
                        return repo_error(b->r, -EIO, "internal error: packer reported an unknown blob");
                e->pack = slot;
                e->offset_hi = (uint32_t) (p->offset >> 32);
                e->offset_lo = (uint32_t) p->offset;
                e->length = p->stored;
                e->raw_length = p->raw;
                e->flags = p->flags;
                b->pending--;
        }
        return 0;
}

/* The packer hands every chunk of the current file back hashed, in order:
 * its id joins the file's blob list; a blob the index knows is not stored
 * again, a new one is entered at once (so a later copy in this backup is
 * deduplicated) and the packer stores it. */
static int decide_chunk(void *userdata, const repo_id *id, size_t n) {
        repo_backup *b = userdata;
        repo_file *f = b->cur;
        int k;

        if (!f)
                return repo_error(b->r, -EIO, "internal error: a chunk outside any file");
        if (ARRAY_RESERVE_ONE(f->blobs, b->cur_cap_blobs, f->n_blobs, 8) < 0)
                return -ENOMEM;
        f->blobs[f->n_blobs++] = *id;
        f->size += n;
        if (repo_index_find(&b->r->index, id)) {
                b->stats.blobs_known++;
                return 0;
        }
        k = repo_index_add(&b->r->index, id, PENDING_PACK, 0, 0, (uint32_t) n, 0);
        if (k < 0)
                return k;
        b->pending++;
        b->stats.blobs_new++;
        return 1;
}

static int add_file_entry(repo_backup *b, repo_file *f) {
        if (b->rec->n_files >= REPO_MAX_FILES)
                return repo_error(b->r, -E2BIG, "too many files in one backup (limit %u)", REPO_MAX_FILES);
        if (ARRAY_RESERVE_ONE(b->rec->files, b->cap_files, b->rec->n_files, 256) < 0)
                return -ENOMEM;
        b->rec->files[b->rec->n_files++] = *f;
        return 0;
}

/* An entry without an owner (entry version 1) is never unchanged: the next
 * backup records the file's full metadata. */
static bool meta_unchanged(const repo_file *old, const struct stat *st) {
        return old->type == REPO_FILE_REGULAR && old->has_owner && old->uid == st->st_uid &&
               old->gid == st->st_gid && old->size == (uint64_t) st->st_size && old->mode == (st->st_mode & 07777) &&
               old->mtime_ns == (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec &&
               (old->ctime_ns == 0 || old->ctime_ns == (int64_t) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec) &&
               (old->ino == 0 || old->ino == (uint64_t) st->st_ino);
}

/* Full/copy: store an unchanged file by its previous blob list, unread.
 * Returns 1 when done, 0 when some blob is unknown (the caller reads). */
static int reuse_entry(repo_backup *b, const repo_file *old, const struct stat *st) {
        repo_file f = *old;
        int k;

        for (size_t j = 0; j < old->n_blobs; j++)
                if (!repo_index_find(&b->r->index, &old->blobs[j]))
                        return 0;
        f.symlink = NULL;
        f.path = strdup(old->path);
        f.blobs = malloc((old->n_blobs ? old->n_blobs : 1) * sizeof(repo_id));
        k = repo_file_copy_meta(&f, old);
        if (!f.path || !f.blobs || k < 0) {
                repo_file_clear(&f);
                return -ENOMEM;
        }
        memcpy(f.blobs, old->blobs, old->n_blobs * sizeof(repo_id));
        f.ctime_ns = (int64_t) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
        f.ino = (uint64_t) st->st_ino;
        k = add_file_entry(b, &f);
        if (k < 0) {
                repo_file_clear(&f);
                return k;
        }
        b->stats.files++;
        b->stats.files_unchanged++;
        b->stats.blobs_known += old->n_blobs;
        return 1;
}

/* Append reused extent e (a known blob, checked by the caller) to the
 * current file, after every chunk put so far was decided (file order). */
static int append_reused(repo_backup *b, const repo_reuse_extent *e) {
        repo_file *f = b->cur;
        int k = repo_packer_sync(b->packer);
        if (k < 0)
                return k;
        k = apply_results(b);
        if (k < 0)
                return k;
        if (ARRAY_RESERVE_ONE(f->blobs, b->cur_cap_blobs, f->n_blobs, 8) < 0)
                return -ENOMEM;
        f->blobs[f->n_blobs++] = e->id;
        f->size += e->length;
        b->stats.blobs_known++;
        b->stats.bytes_reused += e->length;
        return 0;
}

static int add_fd_ext(repo_backup *b, int fd, const char *path, const struct stat *st, const repo_reuse_extent *ext,
                      size_t n_ext) {
        const repo_chunker_params *p = &b->r->chunker;
        const size_t cap = (size_t) READ_BUF_CHUNKS * p->max;
        repo_file f = {};
        size_t start = 0, filled = 0, next = 0;
        uint64_t fpos = 0;   /* file offset of the next byte read */
        bool eof = false;
        int k;

        k = repo_path_check(path);
        if (k < 0)
                return repo_error_from_thread(b->r, k);
        json_t *utf8 = json_string(path);   /* records are JSON: names must be UTF-8 */
        if (!utf8)
                return repo_error(b->r, -EINVAL, "%s: file name is not valid UTF-8 (not supported)", path);
        json_decref(utf8);
        if (b->ref && b->track_changes && !b->read_all) {
                const repo_file *old = ref_find(b, path);
                if (old && meta_unchanged(old, st)) {
                        if (b->omit_unchanged) {
                                b->stats.files_unchanged++;
                                return 0;
                        }
                        k = reuse_entry(b, old, st);
                        if (k != 0)
                                return k < 0 ? k : 0;
                        /* some blob is not in the index any more: read the file */
                }
        }
        f.path = strdup(path);
        if (!f.path)
                return -ENOMEM;
        k = repo_meta_capture(fd, st, path, &f);
        if (k < 0) {
                repo_file_clear(&f);
                return repo_error_from_thread(b->r, k);
        }
        b->cur = &f;
        b->cur_cap_blobs = 0;
        repo_packer_set_level(b->packer, repo_compression_level(b->compression, path));
        for (;;) {
                /* A reused extent ends the segment before it: the chunker
                 * sees the segment's end as the end of its input. */
                uint64_t limit = next < n_ext ? ext[next].offset : UINT64_MAX;
                bool seg_end = eof || fpos == limit;
                /* Cut points depend on the next chunker.max bytes only: refill
                 * when fewer are buffered (the cut of the file's tail is the
                 * same whatever the buffer size). */
                if (!seg_end && filled - start < p->max) {
                        memmove(b->chunk_buf, b->chunk_buf + start, filled - start);
                        filled -= start;
                        start = 0;
                }
                while (!seg_end && filled < cap) {
                        size_t want = (size_t) MIN((uint64_t) (cap - filled), limit - fpos);
                        ssize_t got = read(fd, b->chunk_buf + filled, want);
                        if (got < 0 && errno == EINTR)
                                continue;
                        if (got < 0) {
                                k = repo_error(b->r, -errno, "%s: read: %m", path);
                                goto fail;
                        }
                        if (got == 0)
                                eof = true;
                        filled += (size_t) got;
                        fpos += (uint64_t) got;
                        b->stats.bytes_read += (uint64_t) got;
                        seg_end = eof || fpos == limit;
                }
                if (filled == start) {
                        if (next < n_ext && fpos == limit && ext[next].cut_only) {
                                next++;   /* a boundary only: chunking restarts here */
                                continue;
                        }
                        if (next < n_ext && fpos == limit) {
                                k = append_reused(b, &ext[next]);
                                if (k < 0)
                                        goto fail;
                                fpos = ext[next].offset + ext[next].length;
                                if (lseek(fd, (off_t) fpos, SEEK_SET) < 0) {
                                        k = repo_error(b->r, -errno, "%s: seek: %m", path);
                                        goto fail;
                                }
                                start = filled = 0;
                                next++;
                                if (b->progress)
                                        b->progress(&b->stats, path, b->progress_userdata);
                                continue;
                        }
                        break;
                }
                size_t cut = repo_chunker_cut(p, b->chunk_buf + start, filled - start);
                k = repo_packer_put(b->packer, b->chunk_buf + start, cut);
                if (k < 0)
                        goto fail;
                start += cut;
                k = apply_results(b);
                if (k < 0)
                        goto fail;
                if (b->progress)
                        b->progress(&b->stats, path, b->progress_userdata);
        }
        /* Every chunk of the file decided: its blob list is complete. */
        k = repo_packer_sync(b->packer);
        b->cur = NULL;
        if (k < 0)
                goto fail_synced;
        if (next < n_ext) {
                k = repo_error(b->r, -EIO, "%s: the file ended at %llu bytes, before a range to reuse at %llu", path,
                               (unsigned long long) fpos, (unsigned long long) ext[next].offset);
                goto fail_synced;
        }
        repo_hash_file(b->r, f.blobs, f.n_blobs, &f.hash);
        if (b->ref && b->track_changes && b->read_all && b->omit_unchanged) {
                const repo_file *old = ref_find(b, path);
                if (old && old->type == REPO_FILE_REGULAR && old->has_owner && old->uid == f.uid &&
                    old->gid == f.gid && old->size == f.size && old->mode == f.mode &&
                    memcmp(old->hash.b, f.hash.b, REPO_ID_SIZE) == 0) {
                        b->stats.files_unchanged++;   /* same content: not part of the incremental */
                        repo_file_clear(&f);
                        return 0;
                }
        }
        k = add_file_entry(b, &f);
        if (k < 0)
                goto fail;
        b->stats.files++;
        return 0;
fail:
        /* The chunks already put still reach decide, which appends to f. */
        (void) repo_packer_sync(b->packer);
        b->cur = NULL;
fail_synced:
        repo_file_clear(&f);
        return k;
}

int repo_backup_add_fd(repo_backup *b, int fd, const char *path, const struct stat *st) {
        return add_fd_ext(b, fd, path, st, NULL, 0);
}

int repo_backup_add_fd_reuse(repo_backup *b, int fd, const char *path, const struct stat *st,
                             const repo_reuse_extent *ext, size_t n) {
        uint64_t end = 0;
        for (size_t i = 0; i < n; i++) {
                uint32_t raw = 0;
                if (ext[i].offset < end || (ext[i].length == 0) != ext[i].cut_only ||
                    ext[i].offset + ext[i].length > (uint64_t) st->st_size)
                        return repo_error(b->r, -EINVAL, "%s: reused range %zu overlaps or lies outside the file", path, i);
                if (!ext[i].cut_only && (!repo_blob_known(b->r, &ext[i].id, &raw) || raw != ext[i].length))
                        return repo_error(b->r, -EINVAL, "%s: reused range %zu is not a known blob of its length", path, i);
                end = ext[i].offset + ext[i].length;
        }
        return add_fd_ext(b, fd, path, st, ext, n);
}

const repo_file *repo_backup_file_at(const repo_backup *b, size_t i) {
        return i < b->rec->n_files ? &b->rec->files[i] : NULL;
}

int repo_backup_set_reuse_map(repo_backup *b, const char *json) {
        char *s = strdup(json);
        if (!s)
                return -ENOMEM;
        free(b->rec->reuse_map);
        b->rec->reuse_map = s;
        return 0;
}

int repo_backup_add_symlink(repo_backup *b, const char *path, const char *target, const struct stat *st) {
        repo_file f = {};
        int k;

        k = repo_path_check(path);
        if (k < 0)
                return repo_error_from_thread(b->r, k);
        if (!*target || strlen(target) > REPO_MAX_PATH)
                return repo_error(b->r, -EINVAL, "%s: symlink target empty or too long", path);
        json_t *utf8 = json_string(path), *utf8t = json_string(target);
        json_decref(utf8);
        json_decref(utf8t);
        if (!utf8 || !utf8t)
                return repo_error(b->r, -EINVAL, "%s: name or symlink target is not valid UTF-8 (not supported)", path);
        if (b->ref && b->track_changes && b->omit_unchanged) {
                const repo_file *old = ref_find(b, path);
                if (old && old->symlink && strcmp(old->symlink, target) == 0) {
                        b->stats.files_unchanged++;
                        return 0;
                }
        }
        f.path = strdup(path);
        f.symlink = strdup(target);
        f.blobs = NULL;
        f.type = REPO_FILE_SYMLINK;
        if (!f.path || !f.symlink || (k = repo_meta_capture(-1, st, path, &f)) < 0) {
                repo_file_clear(&f);
                return k < 0 ? repo_error_from_thread(b->r, k) : -ENOMEM;
        }
        f.ctime_ns = f.ino = 0;   /* symlinks are compared by target */
        repo_hash_file(b->r, NULL, 0, &f.hash);
        k = add_file_entry(b, &f);
        if (k < 0) {
                repo_file_clear(&f);
                return k;
        }
        b->stats.files++;
        return 0;
}

/* An entry without data: a directory (fd open on it, for its extended
 * attributes), a special file (never opened: fd -1) or a hard link to the
 * regular file `link` (already stored under that path). */
static int add_nodata_entry(repo_backup *b, int type, int fd, const char *path, const struct stat *st,
                            const char *link) {
        repo_file f = {.type = type};
        int k;

        k = repo_path_check(path);
        if (k < 0)
                return repo_error_from_thread(b->r, k);
        json_t *utf8 = json_string(path);
        json_decref(utf8);
        if (!utf8)
                return repo_error(b->r, -EINVAL, "%s: file name is not valid UTF-8 (not supported)", path);
        if (b->ref && b->track_changes && b->omit_unchanged && type != REPO_FILE_HARDLINK) {
                const repo_file *old = ref_find(b, path);
                if (old && old->type == type && old->has_owner && old->uid == st->st_uid && old->gid == st->st_gid &&
                    old->mode == (st->st_mode & 07777) &&
                    old->mtime_ns == (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec &&
                    old->ctime_ns == (int64_t) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec) {
                        b->stats.files_unchanged++;
                        return 0;
                }
        } else if (b->ref && b->track_changes)
                (void) ref_find(b, path);   /* seen: not deleted */
        f.path = strdup(path);
        f.link = link ? strdup(link) : NULL;
        if (!f.path || (link && !f.link) || (k = repo_meta_capture(fd, st, path, &f)) < 0) {
                repo_file_clear(&f);
                return k < 0 ? repo_error_from_thread(b->r, k) : -ENOMEM;
        }
        if (type == REPO_FILE_CHARDEV || type == REPO_FILE_BLOCKDEV)
                f.rdev = (uint64_t) st->st_rdev;
        repo_hash_file(b->r, NULL, 0, &f.hash);
        k = add_file_entry(b, &f);
        if (k < 0) {
                repo_file_clear(&f);
                return k;
        }
        if (type != REPO_FILE_DIR && type != REPO_FILE_HARDLINK)
                b->stats.skipped++;   /* recorded, no data: not restored */
        return 0;
}

/* A regular file with several links: the path it was first met under, or
 * NULL (then this path is remembered as that first one). */
static int hardlink_first(repo_backup *b, const struct stat *st, const char *path, const char **ret) {
        seen_inode key = {.dev = st->st_dev, .ino = st->st_ino}, *n;
        void *hit;

        *ret = NULL;
        hit = tfind(&key, &b->links, seen_cmp);
        if (hit) {
                *ret = (*(seen_inode **) hit)->path;
                return 0;
        }
        n = calloc(1, sizeof *n);
        if (!n || !(n->path = strdup(path))) {
                free(n);
                return -ENOMEM;
        }
        n->dev = st->st_dev;
        n->ino = st->st_ino;
        if (!tsearch(n, &b->links, seen_cmp)) {
                seen_free(n);
                return -ENOMEM;
        }
        return 0;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int walk(repo_backup *b, int dfd, const char *prefix, int depth) {
        DIR *d;
        struct dirent *de;
        char **names = NULL;
        size_t n = 0, cap = 0;
        int k = 0;

        if (depth > 256)
                return repo_error(b->r, -ELOOP, "%s: directory tree too deep", prefix);
        d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return repo_error(b->r, -errno, "%s: %m", prefix);
        }
        /* Sorted, so a backup's manifest order (and so its packing) does not
         * depend on directory hash order. */
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (ARRAY_RESERVE_ONE(names, cap, n, 64) < 0 || !(names[n] = strdup(de->d_name))) {
                        k = -ENOMEM;
                        goto out;
                }
                n++;
        }
        if (n > 1)
                qsort(names, n, sizeof *names, name_cmp);
        for (size_t i = 0; i < n && k >= 0; i++) {
                _cleanup_free_ char *child = NULL;
                struct stat st;

                if (asprintf(&child, "%s%s%s", prefix, *prefix ? "/" : "", names[i]) < 0) {
                        child = NULL;
                        k = -ENOMEM;
                        break;
                }
                if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        k = repo_error(b->r, -errno, "%s: %m", child);
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        int cfd = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0) {
                                k = repo_error(b->r, -errno, "%s: %m", child);
                                break;
                        }
                        k = add_nodata_entry(b, REPO_FILE_DIR, cfd, child, &st, NULL);
                        if (k < 0) {
                                close(cfd);
                                break;
                        }
                        k = walk(b, cfd, child, depth + 1);
                } else if (S_ISREG(st.st_mode)) {
                        const char *first = NULL;
                        if (st.st_nlink > 1 && (k = hardlink_first(b, &st, child, &first)) < 0)
                                break;
                        if (first) {
                                k = add_nodata_entry(b, REPO_FILE_HARDLINK, -1, child, &st, first);
                                continue;
                        }
                        /* Only a regular file is opened: one replaced by a
                         * FIFO or device since fstatat must not block us. */
                        _cleanup_close_ int ffd = open_regular_at(dirfd(d), names[i], &st);
                        if (ffd == -EFTYPE_ || ffd == -ELOOP) {
                                b->stats.skipped++;   /* no longer a regular file: as below */
                                continue;
                        }
                        if (ffd < 0) {
                                k = repo_error(b->r, ffd, "%s: %s", child, strerror(-ffd));
                                break;
                        }
                        (void) posix_fadvise(ffd, 0, 0, POSIX_FADV_SEQUENTIAL);
                        k = repo_backup_add_fd(b, ffd, child, &st);
                } else if (S_ISLNK(st.st_mode)) {
                        char target[REPO_MAX_PATH + 1];
                        ssize_t tl = readlinkat(dirfd(d), names[i], target, sizeof target);
                        if (tl < 0) {
                                k = repo_error(b->r, -errno, "%s: readlink: %m", child);
                                break;
                        }
                        if ((size_t) tl >= sizeof target) {
                                k = repo_error(b->r, -ENAMETOOLONG, "%s: symlink target too long", child);
                                break;
                        }
                        target[tl] = 0;
                        k = repo_backup_add_symlink(b, child, target, &st);
                } else   /* devices, sockets, fifos: recorded, never opened, no data */
                        k = add_nodata_entry(b, S_ISFIFO(st.st_mode)   ? REPO_FILE_FIFO
                                                : S_ISSOCK(st.st_mode) ? REPO_FILE_SOCKET
                                                : S_ISCHR(st.st_mode)  ? REPO_FILE_CHARDEV
                                                                       : REPO_FILE_BLOCKDEV,
                                             -1, child, &st, NULL);
        }
out:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        closedir(d);
        return k;
}

int repo_backup_add_tree(repo_backup *b, const char *src, const char *prefix) {
        _cleanup_free_ char *abs = NULL;
        const char *pre = prefix;
        struct stat st;
        int fd, k;

        abs = realpath(src, NULL);
        if (!abs)
                return repo_error(b->r, -errno, "%s: %m", src);
        if (!pre)
                pre = abs + 1;   /* manifest paths are relative: "/srv/x" is stored as "srv/x" */
        if (*pre && repo_path_check(pre) < 0)
                return repo_error(b->r, -EINVAL, "%s: bad manifest prefix: %s", src, repo_errmsg());
        /* A directory, or a regular file opened without ever blocking (a
         * FIFO named here is refused, not waited on). */
        fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                if (fstat(fd, &st) < 0) {
                        k = repo_error(b->r, -errno, "%s: %m", src);
                        close(fd);
                        return k;
                }
                /* the top directory's own metadata, unless it is the root of the manifest */
                if (*pre && (k = add_nodata_entry(b, REPO_FILE_DIR, fd, pre, &st, NULL)) < 0) {
                        close(fd);
                        return k;
                }
                return walk(b, fd, pre, 0);
        }
        if (errno != ENOTDIR)
                return repo_error(b->r, -errno, "%s: %m", src);
        fd = open_regular_at(AT_FDCWD, abs, &st);
        if (fd == -EFTYPE_)
                return repo_error(b->r, -EINVAL, "%s: %s, not a regular file or directory", src,
                                  file_type_name(st.st_mode));
        if (fd < 0)
                return repo_error(b->r, fd, "%s: %s", src, strerror(-fd));
        if (!*pre) {
                close(fd);
                return repo_error(b->r, -EINVAL, "%s: a file needs a non-empty manifest path", src);
        }
        k = repo_backup_add_fd(b, fd, pre, &st);
        close(fd);
        return k;
}

size_t repo_backup_file_count(const repo_backup *b) {
        return b->rec->n_files;
}

void repo_backup_drop_files(repo_backup *b, size_t mark) {
        while (b->rec->n_files > mark) {
                repo_file *f = &b->rec->files[--b->rec->n_files];
                repo_file_clear(f);
                b->stats.files--;
        }
}

static int file_cmp(const void *a, const void *b) {
        return strcmp(((const repo_file *) a)->path, ((const repo_file *) b)->path);
}

int repo_backup_commit(repo_backup *b, repo_id *ret_id) {
        _cleanup_free_ char *json = NULL;
        _cleanup_free_ uint8_t *sealed = NULL;
        char host[256] = "";
        repo_id id;
        size_t sl;
        int k;

        if (b->committed)
                return repo_error(b->r, -EALREADY, "backup already committed");
        k = repo_packer_finish(b->packer);
        if (k < 0)
                return k;
        k = apply_results(b);
        if (k < 0)
                return k;
        if (b->pending != 0)
                return repo_error(b->r, -EIO, "internal error: %llu blobs without a pack",
                                  (unsigned long long) b->pending);
        /* W2: the index naming this backup's packs is durable before the record. */
        if (b->r->index.n_packs > b->first_new_pack) {
                k = repo_index_to_json(&b->r->index, b->first_new_pack, &json);
                if (k < 0)
                        return k;
                sealed = malloc(strlen(json) + REPO_SEAL_OVERHEAD);
                if (!sealed)
                        return -ENOMEM;
                sl = repo_seal(b->r, json, strlen(json), sealed);
                k = repo_write_object(b->r, "index", sealed, sl, NULL);
                if (k < 0)
                        return k;
                repo_crash_point("after-index");
                b->stats.bytes_added += sl;
                free(TAKE_PTR(json));
                free(TAKE_PTR(sealed));
        }
        b->first_new_pack = (uint32_t) b->r->index.n_packs;
        /* Paths of the base view not seen in this run are recorded as deleted. */
        for (size_t i = 0; b->track_changes && i < b->n_ref; i++) {
                if (b->ref_seen[i])
                        continue;
                if (ARRAY_RESERVE_ONE(b->rec->deleted, b->rec->cap_deleted, b->rec->n_deleted, 64) < 0)
                        return -ENOMEM;
                if (!(b->rec->deleted[b->rec->n_deleted] = strdup(b->ref[i]->path)))
                        return -ENOMEM;
                b->rec->n_deleted++;
        }
        /* The manifest is sorted by path; a path stored twice (overlapping sources) is refused. */
        if (b->rec->n_files > 1)
                qsort(b->rec->files, b->rec->n_files, sizeof(repo_file), file_cmp);
        for (size_t i = 1; i < b->rec->n_files; i++)
                if (strcmp(b->rec->files[i - 1].path, b->rec->files[i].path) == 0)
                        return repo_error(b->r, -EINVAL, "'%s' would be stored twice (overlapping sources?)",
                                          b->rec->files[i].path);
        if (b->copy)
                goto serialize;
        (void) gethostname(host, sizeof host - 1);
        b->rec->hostname = strdup(host);
        b->rec->time_ns = now_ns(CLOCK_REALTIME);
        /* Test hook: a history of "days" for the retention tests and bench (seconds since the epoch). */
        const char *fake = TEST_HOOK_ENV("LVSS_REPO_FAKE_TIME");
        if (fake)
                b->rec->time_ns = strtoll(fake, NULL, 10) * 1000000000;
        b->rec->bytes_read = b->stats.bytes_read;
        b->rec->bytes_added = b->stats.bytes_added;
        b->rec->duration_ms = (uint64_t) (now_ns(CLOCK_MONOTONIC) -
                                          ((int64_t) b->start.tv_sec * 1000000000 + b->start.tv_nsec)) / 1000000;
serialize:
        k = repo_record_to_json(b->rec, &json);
        if (k < 0)
                return k;
        sealed = malloc(strlen(json) + REPO_SEAL_OVERHEAD);
        if (!sealed)
                return -ENOMEM;
        sl = repo_seal(b->r, json, strlen(json), sealed);
        if (sl > REPO_MAX_RECORD)
                return repo_error(b->r, -E2BIG, "backup record too large (%zu bytes)", sl);
        /* W3: the record appears atomically (rename) and last. */
        k = repo_write_object(b->r, "backups", sealed, sl, &id);
        if (k < 0)
                return k;
        b->rec->id = id;
        b->committed = true;
        if (ret_id)
                *ret_id = id;
        return 0;
}

/* ---- copy (copy.c, §15.4) ---- */

int repo_backup_new_copy(repo *r, const repo_record *src, repo_backup **ret) {
        _cleanup_(repo_backup_freep) repo_backup *b = NULL;
        _cleanup_free_ char *json = NULL;
        repo_record tmp = *src;
        int k;

        b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->r = r;
        b->copy = true;
        clock_gettime(CLOCK_MONOTONIC, &b->start);
        /* a deep copy of everything but the files: through the record's own serializer */
        tmp.files = NULL;
        tmp.n_files = 0;
        k = repo_record_to_json(&tmp, &json);
        if (k < 0)
                return k;
        k = repo_record_parse(json, strlen(json), &b->rec);
        if (k < 0)
                return repo_error_from_thread(r, k);
        b->rec->has_based_on = false;
        b->rec->has_copied_from = false;
        b->first_new_pack = b->index_mark = (uint32_t) r->index.n_packs;
        k = repo_packer_new(r, decide_chunk, b, &b->packer);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(b);
        return 0;
}

static const char *const compression_names[] = {
        [REPO_COMPRESSION_AUTO] = "auto",
        [REPO_COMPRESSION_FAST] = "fast",
        [REPO_COMPRESSION_MAX] = "max",
        [REPO_COMPRESSION_OFF] = "off",
};

int repo_compression_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(compression_names); i++)
                if (strcmp(s, compression_names[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *repo_compression_to_string(int policy) {
        return policy >= 0 && (size_t) policy < ELEMENTSOF(compression_names) ? compression_names[policy] : NULL;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Levels measured in docs/design/backup.md §7.10. */
#define LEVEL_FAST 1
#define LEVEL_MAX 3
int repo_compression_level(int policy, const char *path) {
        switch (policy) {
        case REPO_COMPRESSION_OFF: return REPO_LEVEL_RAW;
        case REPO_COMPRESSION_FAST: return LEVEL_FAST;
        case REPO_COMPRESSION_MAX: return LEVEL_MAX;
        default: break;
        }
        /* auto: the bulk of a mail store, its streaming files (message bodies:
         * text and base64 attachments) and the logs (page images of the same,
         * re-read by every incremental), at the fast level; everything else
         * (databases' B-tree pages, other writers' files) at level 3. */
        if (has_suffix(path, ".stm") || has_suffix(path, ".log"))
                return LEVEL_FAST;
        return LEVEL_MAX;
}

void repo_backup_set_compression(repo_backup *b, int policy) {
        b->compression = policy;
}

void repo_backup_set_origin(repo_backup *b, const repo_id *based_on, const repo_id *copied_from) {
        b->rec->has_based_on = based_on != NULL;
        if (based_on)
                b->rec->based_on = *based_on;
        b->rec->has_copied_from = copied_from != NULL;
        if (copied_from)
                b->rec->copied_from = *copied_from;
}

/* One file of another repository: every blob read (checked) from `from` and
 * handed to this repository's packer, which hashes it under this
 * repository's key and stores it unless the index has it. */
int repo_backup_copy_file(repo_backup *b, repo *from, const repo_file *src, uint8_t **buf, size_t *cap) {
        repo_file f = *src;
        int k;

        f.path = NULL;
        f.user = f.group = f.link = f.symlink = NULL;
        f.xattrs = NULL;
        f.n_xattrs = 0;
        f.blobs = NULL;
        f.n_blobs = 0;
        f.size = 0;
        f.path = strdup(src->path);
        if (!f.path || (src->symlink && !(f.symlink = strdup(src->symlink)))) {
                repo_file_clear(&f);
                return -ENOMEM;
        }
        k = repo_file_copy_meta(&f, src);
        if (k < 0) {
                repo_file_clear(&f);
                return k;
        }
        b->cur = &f;
        b->cur_cap_blobs = 0;
        repo_packer_set_level(b->packer, repo_compression_level(b->compression, f.path));
        for (size_t i = 0; i < src->n_blobs; i++) {
                size_t n = 0;
                k = repo_read_blob(from, &src->blobs[i], buf, cap, &n);
                if (k < 0) {
                        k = repo_error(b->r, k, "%s", repo_error_msg(from));   /* reported on b's handle */
                        goto fail;
                }
                b->stats.bytes_read += n;
                k = repo_packer_put(b->packer, *buf, n);
                if (k < 0)
                        goto fail;
                k = apply_results(b);
                if (k < 0)
                        goto fail;
                if (b->progress)
                        b->progress(&b->stats, src->path, b->progress_userdata);
        }
        k = repo_packer_sync(b->packer);
        b->cur = NULL;
        if (k < 0)
                goto fail_synced;
        if (f.size != src->size) {
                k = repo_error(b->r, REPO_E_CORRUPT, "%s: %llu bytes read, the record says %llu", src->path,
                               (unsigned long long) f.size, (unsigned long long) src->size);
                goto fail_synced;
        }
        repo_hash_file(b->r, f.blobs, f.n_blobs, &f.hash);   /* keyed: this repository's hash (every type) */
        k = add_file_entry(b, &f);
        if (k < 0)
                goto fail_synced;
        b->stats.files++;
        return 0;
fail:
        (void) repo_packer_sync(b->packer);
        b->cur = NULL;
fail_synced:
        repo_file_clear(&f);
        return k;
}
