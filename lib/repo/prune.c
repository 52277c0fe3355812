/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/prune.c: deleting what no backup references
 * (docs/design/repository.md §11e, crash rule P1).
 *
 * Under the exclusive lock (no backup can add a record meanwhile, §8):
 *   1. refuse on doubt: a damaged index or record, or a record naming a blob
 *      no index has, stops prune before it changes anything;
 *   2. mark: every blob of every file of every record is used;
 *   3. account: the index objects are read again (the in-memory table keeps
 *      only the first copy of a blob) to give each pack its blob list; a used
 *      blob counts in the first present pack holding it;
 *   4. decide: no used blob -> delete; unused bytes above max_unused percent
 *      -> repack; else keep;
 *   5. repack: used blobs are read, checked and copied (sealed bytes as they
 *      are) into new packs (W1);
 *   6. the new index (kept + new packs) is written (W1);
 *   7. the old index objects are removed;
 *   8. only then the deleted and repacked packs.
 * A kill at any point leaves a repository whose index names only present
 * packs holding every used blob; leftovers are orphan packs that W5 removes.
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>

#include "lib/core/array.h"
#include "packer.h"

enum { PACK_KEEP, PACK_DELETE, PACK_REPACK };

typedef struct pentry {
        repo_id pack, blob;
        uint64_t off;
        uint32_t stored, raw;
        uint8_t flags;
        bool counted;   /* the copy of a used blob that counts */
} pentry;

typedef struct pinfo {
        repo_id id;
        size_t first, n;    /* its entries in the sorted entry array */
        uint64_t size;      /* file size; 0 when missing */
        bool present;
        uint64_t unused;    /* stored bytes of entries not counted */
        size_t n_counted;
        int action;
} pinfo;

typedef struct prune_ctx {
        repo *r;
        repo_index used;        /* set of used blob ids; .verified = counted already */
        pentry *e;
        size_t n_e, cap_e;
        pinfo *p;
        size_t n_p, cap_p;
        repo_id *old_index;
        size_t n_old_index;
        repo_index nix;         /* the new index */
        repo_id *new_packs;
        size_t n_new_packs, cap_new_packs;
        /* the pack being filled by repacking */
        uint8_t *buf;
        size_t len, cap;
        pack_blob *pb;
        size_t n_pb, cap_pb;
        uint8_t *raw;           /* one blob decoded, to check it (REPO_CHUNK_MAX_LIMIT) */
} prune_ctx;

static void ctx_done(prune_ctx *c) {
        repo_index_done(&c->used);
        repo_index_done(&c->nix);
        free(c->e);
        free(c->p);
        free(c->old_index);
        free(c->new_packs);
        free(c->buf);
        free(c->pb);
        free(c->raw);
}

static int entry_cmp(const void *a, const void *b) {
        const pentry *x = a, *y = b;
        int k = memcmp(x->pack.b, y->pack.b, REPO_ID_SIZE);
        if (k)
                return k;
        if (x->off != y->off)
                return x->off < y->off ? -1 : 1;
        return memcmp(x->blob.b, y->blob.b, REPO_ID_SIZE);
}

static uint64_t file_size(repo *r, const char *path, bool *ret_present) {
        uint64_t sz = 0;
        bool ok = repo_be_size(r->be, path, &sz) == 0;
        if (ret_present)
                *ret_present = ok;
        return ok ? sz : 0;
}

/* Pack and index bytes now. */
static int repo_bytes(repo *r, uint64_t *ret) {
        static const char *const subs[] = {"data", "index"};
        uint64_t total = 0;
        for (size_t s = 0; s < ELEMENTSOF(subs); s++) {
                _cleanup_free_ repo_id *ids = NULL;
                size_t n = 0;
                int k = repo_list_objects(r, subs[s], &ids, &n);
                if (k < 0)
                        return k;
                for (size_t i = 0; i < n; i++) {
                        char path[160];
                        repo_object_path(subs[s], &ids[i], path, sizeof path);
                        total += file_size(r, path, NULL);
                }
        }
        *ret = total;
        return 0;
}

/* 1 + 2: every record loads, every blob it names is indexed; collect them. */
static bool ignored(const repo_prune_options *o, const repo_id *id) {
        for (size_t i = 0; i < o->n_ignore; i++)
                if (memcmp(o->ignore[i].b, id->b, REPO_ID_SIZE) == 0)
                        return true;
        return false;
}

static int mark(prune_ctx *c, const repo_prune_options *o) {
        repo *r = c->r;
        repo_record **recs = NULL;
        size_t n = 0;
        int k;

        if (r->n_bad_index > 0)
                return repo_error(c->r, REPO_E_CORRUPT, "index %s: %s; prune refused (run rebuild-index first)",
                                  r->bad_index[0], r->bad_index_reason[0]);
        k = repo_list_backups(r, &recs, &n);
        if (k < 0)
                return repo_error(c->r, k, "%s; prune refused (a record that cannot be read might need any pack)",
                                  repo_error_msg(c->r));
        for (size_t i = 0; i < n && k >= 0; i++)
                for (size_t f = 0; f < recs[i]->n_files && k >= 0 && !ignored(o, &recs[i]->id); f++)
                        for (size_t j = 0; j < recs[i]->files[f].n_blobs && k >= 0; j++) {
                                const repo_id *b = &recs[i]->files[f].blobs[j];
                                if (!repo_index_find(&r->index, b)) {
                                        char rh[REPO_ID_HEX_SIZE], bh[REPO_ID_HEX_SIZE];
                                        repo_id_to_hex(&recs[i]->id, rh);
                                        repo_id_to_hex(b, bh);
                                        k = repo_error(c->r, REPO_E_CORRUPT,
                                                       "backup %s: blob %s is in no index; prune refused (run check)",
                                                       rh, bh);
                                        break;
                                }
                                k = repo_index_add(&c->used, b, 0, 0, 0, 0, 0);
                        }
        for (size_t i = 0; i < n; i++)
                repo_record_free(recs[i]);
        free(recs);
        return k < 0 ? k : 0;
}

/* 3: every index object's entries, grouped by pack. */
static int load_entries(prune_ctx *c) {
        repo *r = c->r;
        int k = repo_list_objects(r, "index", &c->old_index, &c->n_old_index);

        if (k < 0)
                return k;
        for (size_t i = 0; i < c->n_old_index; i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t len = 0, pi, bi;
                json_t *o, *packs, *p, *blobs, *b;

                k = repo_read_object(r, "index", &c->old_index[i], REPO_MAX_INDEX, &buf, &len);
                if (k < 0)
                        return k;
                o = json_loadb((const char *) buf, len, 0, NULL);
                packs = o ? json_object_get(o, "packs") : NULL;
                if (!json_is_array(packs)) {
                        json_decref(o);
                        return repo_error(c->r, REPO_E_CORRUPT, "index changed while pruning");
                }
                json_array_foreach(packs, pi, p) {
                        repo_id pid;
                        if (repo_id_from_hex(json_string_value(json_object_get(p, "id")), &pid) < 0)
                                k = REPO_E_CORRUPT;
                        blobs = json_object_get(p, "blobs");
                        json_array_foreach(blobs, bi, b) {
                                pentry e = {.pack = pid};
                                json_int_t off = 0, st = 0, raw = 0, fl = 0;
                                const char *h = NULL;
                                if (k < 0 || json_unpack(b, "[s, I, I, I, I]", &h, &off, &st, &raw, &fl) < 0 ||
                                    repo_id_from_hex(h, &e.blob) < 0) {
                                        k = REPO_E_CORRUPT;
                                        break;
                                }
                                e.off = (uint64_t) off;
                                e.stored = (uint32_t) st;
                                e.raw = (uint32_t) raw;
                                e.flags = (uint8_t) fl;
                                if (ARRAY_RESERVE_ONE(c->e, c->cap_e, c->n_e, 1024) < 0) {
                                        k = -ENOMEM;
                                        break;
                                }
                                c->e[c->n_e++] = e;
                        }
                }
                json_decref(o);
                if (k < 0)
                        return k == -ENOMEM ? k : repo_error(c->r, k, "index changed while pruning");
        }
        if (c->n_e > 1)
                qsort(c->e, c->n_e, sizeof *c->e, entry_cmp);
        /* drop exact duplicates (the same pack named by an old and a new index) */
        size_t w = 0;
        for (size_t i = 0; i < c->n_e; i++)
                if (w == 0 || entry_cmp(&c->e[w - 1], &c->e[i]) != 0)
                        c->e[w++] = c->e[i];
        c->n_e = w;
        return 0;
}

/* 3 + 4: per pack, which bytes are used; the decision. */
static int account(prune_ctx *c, const repo_prune_options *o, repo_prune_stats *st) {
        repo *r = c->r;

        for (size_t i = 0; i < c->n_e;) {
                pinfo pi = {.id = c->e[i].pack, .first = i};
                char path[160];
                while (i < c->n_e && memcmp(c->e[i].pack.b, pi.id.b, REPO_ID_SIZE) == 0)
                        i++;
                pi.n = i - pi.first;
                repo_object_path("data", &pi.id, path, sizeof path);
                pi.size = file_size(r, path, &pi.present);
                if (ARRAY_RESERVE_ONE(c->p, c->cap_p, c->n_p, 64) < 0)
                        return -ENOMEM;
                c->p[c->n_p++] = pi;
        }
        for (size_t j = 0; j < c->n_p; j++) {
                pinfo *pi = &c->p[j];
                for (size_t i = pi->first; i < pi->first + pi->n; i++) {
                        index_entry *u = pi->present ? repo_index_find(&c->used, &c->e[i].blob) : NULL;
                        if (u && !u->verified) {
                                u->verified = 1;
                                c->e[i].counted = true;
                                pi->n_counted++;
                        } else
                                pi->unused += c->e[i].stored;
                }
        }
        /* Every used blob must have a present copy. */
        for (size_t s = 0; s < c->used.n_slots; s++)
                if (c->used.slots[s].used && !c->used.slots[s].verified) {
                        char bh[REPO_ID_HEX_SIZE];
                        repo_id_to_hex(&c->used.slots[s].id, bh);
                        return repo_error(c->r, REPO_E_CORRUPT,
                                          "blob %s: every pack holding it is missing; prune refused", bh);
                }
        for (size_t j = 0; j < c->n_p; j++) {
                pinfo *pi = &c->p[j];
                if (pi->n_counted == 0)
                        pi->action = PACK_DELETE;
                else if (pi->unused * 100 > (uint64_t) o->max_unused * pi->size)
                        pi->action = PACK_REPACK;
                else
                        pi->action = PACK_KEEP;
                st->packs_total++;
                if (pi->action == PACK_DELETE) {
                        st->packs_deleted++;
                        st->bytes_freed += pi->size;
                } else if (pi->action == PACK_REPACK) {
                        st->packs_repacked++;
                        st->bytes_freed += pi->unused;
                        st->blobs_repacked += pi->n_counted;
                }
        }
        return 0;
}

/* 5: the pack being filled goes out as an object; its blobs into the new index. */
static int flush_pack(prune_ctx *c, repo_prune_stats *st) {
        repo *r = c->r;
        _cleanup_free_ uint8_t *hdr = NULL;
        uint64_t off = 0;
        repo_id pid;
        uint32_t slot;
        size_t hl, sl;
        int k;

        if (c->n_pb == 0)
                return 0;
        hdr = malloc(REPO_PACK_HEADER_FIXED + c->n_pb * REPO_PACK_ENTRY_SIZE);
        if (!hdr)
                return -ENOMEM;
        hl = repo_pack_header_encode(c->pb, c->n_pb, hdr);
        if (c->len + hl + REPO_SEAL_OVERHEAD + 4 > c->cap) {
                uint8_t *nb = realloc(c->buf, c->len + hl + REPO_SEAL_OVERHEAD + 4);
                if (!nb)
                        return -ENOMEM;
                c->buf = nb;
                c->cap = c->len + hl + REPO_SEAL_OVERHEAD + 4;
        }
        sl = repo_seal(r, hdr, hl, c->buf + c->len);
        c->buf[c->len + sl] = (uint8_t) sl;
        c->buf[c->len + sl + 1] = (uint8_t) (sl >> 8);
        c->buf[c->len + sl + 2] = (uint8_t) (sl >> 16);
        c->buf[c->len + sl + 3] = (uint8_t) (sl >> 24);
        k = repo_write_object(r, "data", c->buf, c->len + sl + 4, &pid);
        if (k < 0)
                return k;
        repo_crash_point("prune-after-pack");
        st->packs_written++;
        k = repo_index_reserve_pack(&c->nix, &slot);
        if (k < 0)
                return k;
        c->nix.packs[slot] = pid;
        for (size_t i = 0; i < c->n_pb; i++) {
                k = repo_index_add(&c->nix, &c->pb[i].id, slot, off, c->pb[i].stored, c->pb[i].raw, c->pb[i].flags);
                if (k < 0)
                        return k;
                off += c->pb[i].stored;
        }
        if (ARRAY_RESERVE_ONE(c->new_packs, c->cap_new_packs, c->n_new_packs, 16) < 0)
                return -ENOMEM;
        c->new_packs[c->n_new_packs++] = pid;
        c->len = 0;
        c->n_pb = 0;
        return 0;
}

static int repack_one(prune_ctx *c, const pinfo *pi, repo_prune_stats *st) {
        repo *r = c->r;
        char path[160], phex[REPO_ID_HEX_SIZE], bhex[REPO_ID_HEX_SIZE];
        int k;

        repo_object_path("data", &pi->id, path, sizeof path);
        repo_id_to_hex(&pi->id, phex);
        if (!c->raw) {
                c->raw = malloc(REPO_CHUNK_MAX_LIMIT);
                if (!c->raw)
                        return -ENOMEM;
        }
        /* Only the used blobs are read, each straight into the pack being
         * filled (the local backend reads the ranges, S3 fetches the pack
         * once and serves them from memory). */
        for (size_t i = pi->first; i < pi->first + pi->n; i++) {
                const pentry *e = &c->e[i];
                if (!e->counted)
                        continue;
                if (c->len + e->stored + 64 > r->pack_size && c->n_pb > 0) {
                        k = flush_pack(c, st);
                        if (k < 0)
                                return k;
                }
                if (c->len + e->stored > c->cap) {
                        size_t nc = MAX(c->cap * 2, c->len + e->stored + 4096);
                        uint8_t *nb = realloc(c->buf, nc);
                        if (!nb)
                                return -ENOMEM;
                        c->buf = nb;
                        c->cap = nc;
                }
                repo_id_to_hex(&e->blob, bhex);
                if (e->stored > REPO_CHUNK_MAX_LIMIT + 1024)   /* repo_blob_decode's bound */
                        return repo_error(c->r, REPO_E_CORRUPT,
                                          "pack %s: blob %s: stored size %u too large; prune stopped", phex, bhex,
                                          e->stored);
                k = repo_be_get_range(r->be, path, e->off, e->stored, c->buf + c->len);
                if (k < 0)
                        return repo_error(c->r, k, "pack %s: blob %s: %s; prune stopped before deleting anything", phex,
                                          bhex, repo_errmsg());
                /* Check before copying: a damaged blob is not carried into a new pack. */
                k = repo_blob_decode(r, c->buf + c->len, e->stored, e->flags, e->raw, &e->blob, c->raw);
                if (k < 0)
                        return repo_error(c->r, k, "pack %s: blob %s: %s; prune stopped before deleting anything", phex,
                                          bhex, repo_errmsg());
                if (ARRAY_RESERVE_ONE(c->pb, c->cap_pb, c->n_pb, 256) < 0)
                        return -ENOMEM;
                c->pb[c->n_pb++] = (pack_blob) {.id = e->blob, .stored = e->stored, .raw = e->raw, .flags = e->flags};
                c->len += e->stored;
        }
        return 0;
}

static bool id_in(const repo_id *id, const repo_id *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (memcmp(id->b, set[i].b, REPO_ID_SIZE) == 0)
                        return true;
        return false;
}

static int sweep(prune_ctx *c, const repo_id *fresh, size_t n_fresh) {
        repo *r = c->r;
        int k;

        /* 7: the old index objects (P1: the new ones are durable). */
        for (size_t i = 0; i < c->n_old_index; i++) {
                char path[160];
                if (id_in(&c->old_index[i], fresh, n_fresh))
                        continue;
                repo_object_path("index", &c->old_index[i], path, sizeof path);
                k = repo_be_delete(r->be, path);
                if (k < 0)
                        return repo_error_from_thread(r, k);
                repo_crash_point("prune-index-unlinked");
        }
        k = repo_be_sync(r->be, "index");
        if (k < 0)
                return repo_error_from_thread(r, k);
        /* 8: packs no index names any more.  Nothing is ordered after these
         * removals (a removal lost to a power cut leaves an unindexed pack,
         * which W5 removes), so each data directory is fsynced once, after
         * the last removal, not after each: 256 directories at most. */
        bool dirty[256] = {};
        for (size_t j = 0; j < c->n_p; j++) {
                char path[160];
                if (c->p[j].action == PACK_KEEP || id_in(&c->p[j].id, c->new_packs, c->n_new_packs))
                        continue;
                repo_object_path("data", &c->p[j].id, path, sizeof path);
                k = repo_be_delete(r->be, path);
                if (k < 0)
                        return repo_error_from_thread(r, k);
                dirty[c->p[j].id.b[0]] = true;
                repo_crash_point("prune-pack-unlinked");
        }
        for (size_t d = 0; d < ELEMENTSOF(dirty); d++)
                if (dirty[d]) {
                        char sub[16];
                        snprintf(sub, sizeof sub, "data/%02zx", d);
                        (void) repo_be_sync(r->be, sub);
                }
        return 0;
}

int repo_prune(repo *r, const repo_prune_options *o, repo_prune_stats *ret) {
        prune_ctx c = {.r = r};
        repo_prune_stats st = {};
        _cleanup_free_ repo_id *fresh = NULL;
        size_t n_fresh = 0;
        int k;

        if (!r->exclusive)
                return repo_error(r, -EINVAL, "prune needs the exclusive lock");
        k = repo_bytes(r, &st.bytes_before);
        if (k >= 0)
                k = mark(&c, o);
        if (k >= 0)
                k = load_entries(&c);
        if (k >= 0)
                k = account(&c, o, &st);
        if (k < 0 || o->dry_run || (st.packs_deleted == 0 && st.packs_repacked == 0)) {
                st.bytes_after = st.bytes_before - (o->dry_run ? st.bytes_freed : 0);
                if (!o->dry_run)
                        st.bytes_freed = 0;
                goto out;
        }
        /* 5: repack; 6: the new index = kept packs' entries + the new packs. */
        for (size_t j = 0; j < c.n_p && k >= 0; j++)
                if (c.p[j].action == PACK_REPACK)
                        k = repack_one(&c, &c.p[j], &st);
        if (k >= 0)
                k = flush_pack(&c, &st);
        for (size_t j = 0; j < c.n_p && k >= 0; j++) {
                const pinfo *pi = &c.p[j];
                uint32_t slot;
                if (pi->action != PACK_KEEP)
                        continue;
                k = repo_index_reserve_pack(&c.nix, &slot);
                if (k < 0)
                        break;
                c.nix.packs[slot] = pi->id;
                for (size_t i = pi->first; i < pi->first + pi->n && k >= 0; i++)
                        k = repo_index_add(&c.nix, &c.e[i].blob, slot, c.e[i].off, c.e[i].stored, c.e[i].raw,
                                           c.e[i].flags);
        }
        if (k >= 0)
                k = repo_index_write(r, &c.nix, &fresh, &n_fresh);
        if (k < 0)
                goto out;
        repo_crash_point("prune-after-index");
        k = sweep(&c, fresh, n_fresh);
        if (k < 0)
                goto out;
        /* The handle now reads through the new index. */
        repo_index_done(&r->index);
        r->index = c.nix;
        c.nix = (repo_index) {};
        k = repo_bytes(r, &st.bytes_after);
        st.bytes_freed = st.bytes_before > st.bytes_after ? st.bytes_before - st.bytes_after : 0;
out:
        ctx_done(&c);
        if (k >= 0 && ret)
                *ret = st;
        return k < 0 ? k : 0;
}
