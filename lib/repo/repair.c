/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/repair.c: rebuilding the index from the packs.
 *
 * Packs are self-describing (pack.c): their headers list every blob, so a
 * lost or damaged index can be rebuilt from them.  Ordering, so that a crash
 * at any point leaves a readable repository:
 *   1. every pack is read and each blob checked (MAC, zstd, id);
 *   2. the new index objects are written (W1: temp, fsync, rename);
 *   3. only then are the old index objects removed.
 * A crash between 2 and 3 leaves the old and new indexes side by side, which
 * readers accept (duplicate entries: the first wins, both are valid).  No pack
 * is ever removed or rewritten here.
 */
#include <stdio.h>

#include "lib/core/array.h"
#include "repo-int.h"
#include "backend.h"

#define REBUILD_BLOBS_PER_INDEX 100000   /* keeps each index object far below REPO_MAX_INDEX */

typedef struct rctx {
        repo_verify_report_fn report;
        void *userdata;
        uint64_t problems;
} rctx;

static void report(rctx *c, const char *kind, const char *name, const char *reason) {
        c->problems++;
        if (c->report)
                c->report(kind, name, reason, c->userdata);
}

/* Index the intact blobs of one pack into ix. */
static int scan_pack(repo *r, rctx *c, repo_index *ix, const repo_id *pid, uint64_t *blobs) {
        _cleanup_free_ uint8_t *data = NULL, *out = NULL;
        _cleanup_free_ pack_blob *pb = NULL;
        char path[160], phex[REPO_ID_HEX_SIZE], bhex[REPO_ID_HEX_SIZE], msg[700];
        size_t n = 0, count = 0, cap = 0;
        uint64_t off = 0;
        uint32_t slot;
        int k;

        repo_id_to_hex(pid, phex);
        repo_object_path("data", pid, path, sizeof path);
        k = repo_be_get(r->be, path, REPO_MAX_PACK, &data, &n);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                report(c, "pack", phex, repo_errmsg());
                return 0;
        }
        k = repo_pack_parse(r, data, n, &pb, &count);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                report(c, "pack", phex, repo_errmsg());
                return 0;
        }
        k = repo_index_reserve_pack(ix, &slot);
        if (k < 0)
                return k;
        ix->packs[slot] = *pid;
        for (size_t i = 0; i < count; i++) {
                uint64_t boff = off;

                off += pb[i].stored;
                if (cap < pb[i].raw || !out) {
                        uint8_t *p = realloc(out, pb[i].raw ? pb[i].raw : 1);
                        if (!p)
                                return -ENOMEM;
                        out = p;
                        cap = pb[i].raw;
                }
                k = repo_blob_decode(r, data + boff, pb[i].stored, pb[i].flags, pb[i].raw, &pb[i].id, out);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        repo_id_to_hex(&pb[i].id, bhex);
                        snprintf(msg, sizeof msg, "blob %s: %s (left out of the index)", bhex, repo_errmsg());
                        report(c, "pack", phex, msg);
                        continue;
                }
                k = repo_index_add(ix, &pb[i].id, slot, boff, pb[i].stored, pb[i].raw, pb[i].flags);
                if (k < 0)
                        return k;
                (*blobs)++;
        }
        return 0;
}

int repo_index_write(repo *r, const repo_index *ix, repo_id **ret_ids, size_t *ret_n) {
        repo_id *ids = NULL;
        size_t n = 0, cap = 0;
        uint32_t first = 0;
        int k = 0;

        /* Split by packs so that each object holds at most ~REBUILD_BLOBS_PER_INDEX blobs. */
        _cleanup_free_ uint32_t *per_pack = calloc(ix->n_packs + 1, sizeof(uint32_t));
        if (!per_pack)
                return -ENOMEM;
        for (size_t s = 0; s < ix->n_slots; s++)
                if (ix->slots[s].used)
                        per_pack[ix->slots[s].pack]++;
        while (first < ix->n_packs) {
                uint32_t end = first;
                uint64_t blobs = 0;
                while (end < ix->n_packs && (end == first || blobs + per_pack[end] <= REBUILD_BLOBS_PER_INDEX))
                        blobs += per_pack[end++];
                _cleanup_free_ char *json = NULL;
                _cleanup_free_ uint8_t *sealed = NULL;
                k = repo_index_to_json_range(ix, first, end, &json);
                if (k < 0)
                        break;
                sealed = malloc(strlen(json) + REPO_SEAL_OVERHEAD);
                if (!sealed || ARRAY_RESERVE_ONE(ids, cap, n, 8) < 0) {
                        k = -ENOMEM;
                        break;
                }
                size_t sl = repo_seal(r, json, strlen(json), sealed);
                k = repo_write_object(r, "index", sealed, sl, &ids[n]);
                if (k < 0)
                        break;
                n++;
                first = end;
        }
        if (k < 0) {
                free(ids);
                return k;
        }
        *ret_ids = ids;
        *ret_n = n;
        return 0;
}

static bool id_in(const repo_id *id, const repo_id *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (memcmp(id->b, set[i].b, REPO_ID_SIZE) == 0)
                        return true;
        return false;
}

int repo_rebuild_index(repo *r, repo_verify_report_fn fn, void *userdata, uint64_t *ret_packs,
                       uint64_t *ret_blobs) {
        _cleanup_free_ repo_id *packs = NULL, *old = NULL, *fresh = NULL;
        size_t np = 0, nold = 0, nfresh = 0;
        repo_index ix = {};
        rctx c = {.report = fn, .userdata = userdata};
        uint64_t blobs = 0;
        int k;

        if (!r->exclusive)
                return repo_error(r, -EINVAL, "rebuilding the index needs the exclusive lock");
        k = repo_list_objects(r, "index", &old, &nold);
        if (k < 0)
                return k;
        k = repo_list_objects(r, "data", &packs, &np);
        if (k < 0)
                return k;
        for (size_t i = 0; i < np; i++) {
                k = scan_pack(r, &c, &ix, &packs[i], &blobs);
                if (k < 0)
                        goto fail;
        }
        k = repo_index_write(r, &ix, &fresh, &nfresh);
        if (k < 0)
                goto fail;
        /* The new index is durable: the old ones can go. */
        for (size_t i = 0; i < nold; i++) {
                char path[160];
                if (id_in(&old[i], fresh, nfresh))
                        continue;   /* identical content was rewritten under the same name */
                repo_object_path("index", &old[i], path, sizeof path);
                k = repo_be_delete(r->be, path);
                if (k < 0) {
                        k = repo_error_from_thread(r, k);
                        goto fail;
                }
        }
        k = repo_be_sync(r->be, "index");
        if (k < 0) {
                k = repo_error_from_thread(r, k);
                goto fail;
        }
        repo_index_done(&r->index);
        r->index = ix;
        for (size_t i = 0; i < r->n_bad_index; i++) {
                free(r->bad_index[i]);
                free(r->bad_index_reason[i]);
        }
        r->n_bad_index = 0;
        if (ret_packs)
                *ret_packs = np;
        if (ret_blobs)
                *ret_blobs = blobs;
        return c.problems ? REPO_E_CORRUPT : 0;
fail:
        repo_index_done(&ix);
        return k;
}
