/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/index.c: the in-memory blob index and index documents.
 *
 * In memory: an open-addressing hash table keyed by blob id (ids are
 * uniformly distributed hashes, so the first 8 bytes are the hash) plus the
 * array of pack ids the entries point into.
 *
 * On disk (inside the sealed object, docs/design/repository.md §5):
 *   {"version":1,"packs":[{"id":"<pack hex>",
 *      "blobs":[["<blob hex>",offset,length,raw_length,flags],...]},...]}
 */
#include <jansson.h>
#include <stdio.h>

#include "lib/core/array.h"
#include "repo-int.h"

static uint64_t slot_hash(const repo_id *id) {
        uint64_t h;
        memcpy(&h, id->b, sizeof h);
        return h;
}

void repo_index_done(repo_index *ix) {
        free(ix->slots);
        free(ix->packs);
        *ix = (repo_index) {};
}

index_entry *repo_index_find(repo_index *ix, const repo_id *id) {
        if (ix->n_slots == 0)
                return NULL;
        for (size_t i = slot_hash(id) & (ix->n_slots - 1);; i = (i + 1) & (ix->n_slots - 1)) {
                index_entry *e = &ix->slots[i];
                if (!e->used)
                        return NULL;
                if (memcmp(e->id.b, id->b, REPO_ID_SIZE) == 0)
                        return e;
        }
}

static int grow(repo_index *ix) {
        size_t n = ix->n_slots ? ix->n_slots * 2 : 1024;
        index_entry *slots = calloc(n, sizeof *slots);

        if (!slots)
                return -ENOMEM;
        for (size_t j = 0; j < ix->n_slots; j++) {
                index_entry *e = &ix->slots[j];
                if (!e->used)
                        continue;
                size_t i = slot_hash(&e->id) & (n - 1);
                while (slots[i].used)
                        i = (i + 1) & (n - 1);
                slots[i] = *e;
        }
        free(ix->slots);
        ix->slots = slots;
        ix->n_slots = n;
        return 0;
}

int repo_index_add(repo_index *ix, const repo_id *id, uint32_t pack, uint64_t offset, uint32_t length,
                   uint32_t raw_length, uint8_t flags) {
        int r;

        if (repo_index_find(ix, id))
                return 0;   /* first copy wins; duplicates are harmless */
        if ((ix->n_used + 1) * 2 > ix->n_slots) {
                r = grow(ix);
                if (r < 0)
                        return r;
        }
        size_t i = slot_hash(id) & (ix->n_slots - 1);
        while (ix->slots[i].used)
                i = (i + 1) & (ix->n_slots - 1);
        ix->slots[i] = (index_entry) {
                .id = *id, .pack = pack, .offset_hi = (uint32_t) (offset >> 32), .offset_lo = (uint32_t) offset,
                .length = length, .raw_length = raw_length, .flags = flags, .used = 1,
        };
        ix->n_used++;
        return 1;
}

int repo_index_truncate(repo_index *ix, uint32_t first_pack) {
        index_entry *old = ix->slots;
        size_t n_old = ix->n_slots;
        int r = 0;

        ix->slots = NULL;
        ix->n_slots = ix->n_used = 0;
        if (ix->n_packs > first_pack)
                ix->n_packs = first_pack;
        for (size_t i = 0; i < n_old; i++) {
                const index_entry *e = &old[i];
                if (!e->used || e->pack >= first_pack)
                        continue;
                r = repo_index_add(ix, &e->id, e->pack, index_entry_offset(e), e->length, e->raw_length, e->flags);
                if (r < 0)
                        break;
        }
        free(old);
        return r < 0 ? r : 0;
}

int repo_index_reserve_pack(repo_index *ix, uint32_t *ret_pack) {
        if (ARRAY_RESERVE_ONE(ix->packs, ix->cap_packs, ix->n_packs, 64) < 0)
                return -ENOMEM;
        if (ix->n_packs >= UINT32_MAX)
                return -E2BIG;
        memset(&ix->packs[ix->n_packs], 0, sizeof(repo_id));
        *ret_pack = (uint32_t) ix->n_packs++;
        return 0;
}

int repo_index_load_json(repo_index *ix, const char *json, size_t len) {
        json_error_t jerr;
        json_t *o, *packs, *p;
        json_int_t version;
        size_t i;
        int r = 0;

        if (len > REPO_MAX_INDEX)
                return repo_error(NULL, REPO_E_CORRUPT, "index too large");
        o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!o)
                return repo_error(NULL, REPO_E_CORRUPT, "index is not JSON: %s", jerr.text);
        if (json_unpack(o, "{s:I, s:o}", "version", &version, "packs", &packs) < 0 || !json_is_array(packs)) {
                r = repo_error(NULL, REPO_E_CORRUPT, "index lacks version or packs");
                goto out;
        }
        if (version != REPO_FORMAT_VERSION) {
                r = repo_error(NULL, REPO_E_VERSION, "index format version %lld not supported", (long long) version);
                goto out;
        }
        json_array_foreach(packs, i, p) {
                const char *pid_hex = NULL;
                json_t *blobs, *b;
                repo_id pid;
                uint32_t slot;
                size_t j;

                if (json_unpack(p, "{s:s, s:o}", "id", &pid_hex, "blobs", &blobs) < 0 || !json_is_array(blobs) ||
                    repo_id_from_hex(pid_hex, &pid) < 0 || json_array_size(blobs) > REPO_MAX_PACK_BLOBS) {
                        r = repo_error(NULL, REPO_E_CORRUPT, "index: pack entry %zu malformed", i);
                        goto out;
                }
                r = repo_index_reserve_pack(ix, &slot);
                if (r < 0)
                        goto out;
                ix->packs[slot] = pid;
                json_array_foreach(blobs, j, b) {
                        const char *bid_hex = NULL;
                        json_int_t off, length, raw, flags;
                        repo_id bid;

                        if (json_unpack(b, "[s, I, I, I, I!]", &bid_hex, &off, &length, &raw, &flags) < 0 ||
                            repo_id_from_hex(bid_hex, &bid) < 0 || off < 0 || off > REPO_MAX_PACK ||
                            length <= 0 || length > REPO_CHUNK_MAX_LIMIT + 1024 || raw < 0 ||
                            raw > REPO_CHUNK_MAX_LIMIT || off + length > REPO_MAX_PACK ||
                            (flags & ~REPO_BLOB_COMPRESSED) != 0) {
                                r = repo_error(NULL, REPO_E_CORRUPT, "index: pack %zu blob %zu malformed", i, j);
                                goto out;
                        }
                        r = repo_index_add(ix, &bid, slot, (uint64_t) off, (uint32_t) length, (uint32_t) raw,
                                           (uint8_t) flags);
                        if (r < 0)
                                goto out;
                }
        }
        r = 0;
out:
        json_decref(o);
        return r;
}

int repo_index_parse_check(const char *json, size_t len) {
        repo_index ix = {};
        int r = repo_index_load_json(&ix, json, len);
        repo_index_done(&ix);
        return r;
}

int repo_index_to_json(const repo_index *ix, uint32_t first_pack, char **ret) {
        return repo_index_to_json_range(ix, first_pack, (uint32_t) ix->n_packs, ret);
}

int repo_index_to_json_range(const repo_index *ix, uint32_t first_pack, uint32_t end_pack, char **ret) {
        json_t *packs = json_array(), *o = NULL;
        json_t **blob_arrays = NULL;
        size_t np;

        if (end_pack > ix->n_packs)
                end_pack = (uint32_t) ix->n_packs;
        np = end_pack > first_pack ? end_pack - first_pack : 0;
        int r = -ENOMEM;

        if (!packs)
                return -ENOMEM;
        blob_arrays = calloc(np ? np : 1, sizeof *blob_arrays); // NOLINT(bugprone-sizeof-expression): array of pointers
        if (!blob_arrays)
                goto out;
        for (size_t i = 0; i < np; i++) {
                char hex[REPO_ID_HEX_SIZE];
                blob_arrays[i] = json_array();
                repo_id_to_hex(&ix->packs[first_pack + i], hex);
                if (!blob_arrays[i] || json_array_append_new(packs, json_pack("{s:s, s:O}", "id", hex, "blobs",
                                                                              blob_arrays[i])) < 0)
                        goto out;
        }
        for (size_t s = 0; s < ix->n_slots; s++) {
                const index_entry *e = &ix->slots[s];
                char hex[REPO_ID_HEX_SIZE];
                if (!e->used || e->pack < first_pack || e->pack >= end_pack)
                        continue;
                repo_id_to_hex(&e->id, hex);
                if (json_array_append_new(blob_arrays[e->pack - first_pack],
                                          json_pack("[s, I, I, I, I]", hex, (json_int_t) index_entry_offset(e),
                                                    (json_int_t) e->length, (json_int_t) e->raw_length,
                                                    (json_int_t) e->flags)) < 0)
                        goto out;
        }
        o = json_pack("{s:i, s:O}", "version", REPO_FORMAT_VERSION, "packs", packs);
        if (!o)
                goto out;
        *ret = json_dumps(o, JSON_COMPACT);
        r = *ret ? 0 : -ENOMEM;
out:
        if (blob_arrays)
                for (size_t i = 0; i < np; i++)
                        json_decref(blob_arrays[i]);
        free(blob_arrays);
        json_decref(packs);
        json_decref(o);
        return r;
}

int repo_load_indexes(repo *r) {
        _cleanup_free_ repo_id *ids = NULL;
        size_t n = 0;
        int k;

        k = repo_list_objects(r, "index", &ids, &n);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t len = 0;
                char hex[REPO_ID_HEX_SIZE];

                k = repo_read_object(r, "index", &ids[i], REPO_MAX_INDEX, &buf, &len);
                if (k >= 0 && (k = repo_index_load_json(&r->index, (const char *) buf, len)) < 0)
                        k = repo_error_from_thread(r, k);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        char **a = reallocarray(r->bad_index, r->n_bad_index + 1, sizeof *a);
                        char **b = a ? reallocarray(r->bad_index_reason, r->n_bad_index + 1, sizeof *b) : NULL;
                        if (a)
                                r->bad_index = a;
                        if (!b)
                                return -ENOMEM;
                        r->bad_index_reason = b;
                        repo_id_to_hex(&ids[i], hex);
                        r->bad_index[r->n_bad_index] = strdup(hex);
                        r->bad_index_reason[r->n_bad_index] = strdup(repo_error_msg(r));
                        r->n_bad_index++;
                }
        }
        return 0;
}
