/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/pack.c: pack files.
 *
 * A pack holds many blobs followed by a header describing them, then the
 * header's stored length (docs/design/repository.md §4):
 *
 *   blob_0 || blob_1 || ... || seal(header) || u32le len(seal(header))
 *
 *   header  = "LVSP" || u8 version (1) || 3 reserved zero bytes || u32le count
 *             || count * entry
 *   entry   = u8 type (0 = data) || u8 flags (bit 0: zstd) || 2 zero bytes
 *             || u32le stored length || u32le raw length || blob id[32]
 *   blob_i  = seal(zstd(chunk)) or seal(chunk)
 *
 * Offsets are implicit: blob i starts at the sum of the stored lengths before
 * it; the sum of all must end exactly where the header starts.
 */
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <zstd.h>

#include "lib/core/unaligned.h"
#include "repo-int.h"
#include "backend.h"

size_t repo_pack_header_encode(const pack_blob *blobs, size_t count, uint8_t *out) {
        uint8_t *p = out;

        memcpy(p, REPO_PACK_MAGIC, 4);
        p[4] = REPO_FORMAT_VERSION;
        p[5] = p[6] = p[7] = 0;
        unaligned_write_le32(p + 8, (uint32_t) count);
        p += REPO_PACK_HEADER_FIXED;
        for (size_t i = 0; i < count; i++, p += REPO_PACK_ENTRY_SIZE) {
                p[0] = 0;
                p[1] = blobs[i].flags;
                p[2] = p[3] = 0;
                unaligned_write_le32(p + 4, blobs[i].stored);
                unaligned_write_le32(p + 8, blobs[i].raw);
                memcpy(p + 12, blobs[i].id.b, REPO_ID_SIZE);
        }
        return (size_t) (p - out);
}

int repo_pack_header_decode(const uint8_t *buf, size_t len, pack_blob **ret, size_t *ret_count) {
        _cleanup_free_ pack_blob *blobs = NULL;
        uint32_t count;

        if (len < REPO_PACK_HEADER_FIXED || memcmp(buf, REPO_PACK_MAGIC, 4) != 0)
                return repo_error(NULL, REPO_E_CORRUPT, "pack header: bad magic");
        if (buf[4] != REPO_FORMAT_VERSION)
                return repo_error(NULL, REPO_E_VERSION, "pack header: version %u not supported", buf[4]);
        count = unaligned_read_le32(buf + 8);
        if (count == 0 || count > REPO_MAX_PACK_BLOBS ||
            len != REPO_PACK_HEADER_FIXED + (size_t) count * REPO_PACK_ENTRY_SIZE)
                return repo_error(NULL, REPO_E_CORRUPT, "pack header: bad blob count %u for %zu bytes", count, len);
        blobs = calloc(count, sizeof *blobs);
        if (!blobs)
                return -ENOMEM;
        for (uint32_t i = 0; i < count; i++) {
                const uint8_t *e = buf + REPO_PACK_HEADER_FIXED + (size_t) i * REPO_PACK_ENTRY_SIZE;
                if (e[0] != 0 || (e[1] & ~REPO_BLOB_COMPRESSED) || e[2] || e[3])
                        return repo_error(NULL, REPO_E_CORRUPT, "pack header: entry %u has unknown type or flags", i);
                blobs[i].flags = e[1];
                blobs[i].stored = unaligned_read_le32(e + 4);
                blobs[i].raw = unaligned_read_le32(e + 8);
                if (blobs[i].stored == 0 || blobs[i].stored > REPO_CHUNK_MAX_LIMIT + 1024 ||
                    blobs[i].raw > REPO_CHUNK_MAX_LIMIT)
                        return repo_error(NULL, REPO_E_CORRUPT, "pack header: entry %u has bad lengths", i);
                memcpy(blobs[i].id.b, e + 12, REPO_ID_SIZE);
        }
        *ret = TAKE_PTR(blobs);
        *ret_count = count;
        return 0;
}

int repo_pack_header_parse(const uint8_t *buf, size_t len, size_t *ret_count) {
        _cleanup_free_ pack_blob *blobs = NULL;
        return repo_pack_header_decode(buf, len, &blobs, ret_count);
}

int repo_pack_parse(const repo *r, const uint8_t *data, size_t n, pack_blob **ret, size_t *ret_count) {
        _cleanup_free_ uint8_t *hdr = NULL;
        _cleanup_free_ pack_blob *blobs = NULL;
        size_t hl, hn = 0, count = 0;
        uint64_t sum = 0;
        int k;

        if (n < 4 + REPO_PACK_HEADER_FIXED)
                return repo_error(NULL, REPO_E_CORRUPT, "pack too short");
        hl = unaligned_read_le32(data + n - 4);
        if (hl > n - 4 || hl > REPO_PACK_HEADER_FIXED + (size_t) REPO_MAX_PACK_BLOBS * REPO_PACK_ENTRY_SIZE +
                                        REPO_SEAL_OVERHEAD)
                return repo_error(NULL, REPO_E_CORRUPT, "pack header length %zu out of range", hl);
        hdr = malloc(hl ? hl : 1);
        if (!hdr)
                return -ENOMEM;
        k = repo_unseal(r, data + n - 4 - hl, hl, hdr, &hn);
        if (k < 0)
                return repo_error(NULL, k, "pack header: %s", repo_errmsg());
        k = repo_pack_header_decode(hdr, hn, &blobs, &count);
        if (k < 0)
                return k;
        for (size_t i = 0; i < count; i++)
                sum += blobs[i].stored;
        if (sum != n - 4 - hl)
                return repo_error(NULL, REPO_E_CORRUPT, "pack header: blobs cover %llu bytes, pack data has %zu",
                                  (unsigned long long) sum, n - 4 - hl);
        *ret = TAKE_PTR(blobs);
        *ret_count = count;
        return 0;
}

/* Grow *buf to at least n bytes (contents not kept). */
static int buf_reserve(uint8_t **buf, size_t *cap, size_t n) {
        if (*buf && *cap >= n)
                return 0;
        uint8_t *p = realloc(*buf, n ? n : 1);
        if (!p)
                return -ENOMEM;
        *buf = p;
        *cap = n;
        return 0;
}

/* The decoding step with the caller's scratch (a zstd context and the
 * unsealed bytes): a thread that decodes many blobs keeps them, so nothing
 * is allocated per blob (ZSTD_decompress builds a context each call). */
static int blob_decode(const repo *r, ZSTD_DCtx *dctx, uint8_t **tmp, size_t *tmp_cap, const uint8_t *stored,
                       size_t n, uint8_t flags, uint32_t raw, const repo_id *expect, uint8_t *out) {
        size_t m = 0;
        repo_id got;
        int k;

        if (raw > REPO_CHUNK_MAX_LIMIT || n > REPO_CHUNK_MAX_LIMIT + 1024)
                return repo_error(NULL, REPO_E_CORRUPT, "blob length out of range");
        if (buf_reserve(tmp, tmp_cap, n) < 0)
                return -ENOMEM;
        k = repo_unseal(r, stored, n, *tmp, &m);
        if (k < 0)
                return k;
        if (flags & REPO_BLOB_COMPRESSED) {
                size_t z = dctx ? ZSTD_decompressDCtx(dctx, out, raw, *tmp, m) : ZSTD_decompress(out, raw, *tmp, m);
                if (ZSTD_isError(z) || z != raw)
                        return repo_error(NULL, REPO_E_CORRUPT, "blob does not decompress to %u bytes", raw);
        } else {
                if (m != raw)
                        return repo_error(NULL, REPO_E_CORRUPT, "blob has %zu bytes, expected %u", m, raw);
                memcpy(out, *tmp, m);
        }
        repo_hash_blob(r, out, raw, &got);
        if (memcmp(got.b, expect->b, REPO_ID_SIZE) != 0)
                return repo_error(NULL, REPO_E_CORRUPT, "blob content does not match its id");
        return 0;
}

int repo_blob_decode(const repo *r, const uint8_t *stored, size_t n, uint8_t flags, uint32_t raw,
                     const repo_id *expect, uint8_t *out) {
        _cleanup_free_ uint8_t *tmp = NULL;
        size_t cap = 0;
        return blob_decode(r, NULL, &tmp, &cap, stored, n, flags, raw, expect, out);
}

void repo_blob_reader_done(repo_blob_reader *br) {
        ZSTD_freeDCtx(br->dctx);
        free(br->stored);
        free(br->tmp);
        *br = (repo_blob_reader) {};
}

int repo_blob_fetch(repo *r, repo_blob_reader *br, const repo_id *id) {
        char path[160], bhex[REPO_ID_HEX_SIZE], phex[REPO_ID_HEX_SIZE];
        const index_entry *e = repo_index_find(&r->index, id);
        int k;

        br->e = NULL;
        repo_id_to_hex(id, bhex);
        if (!e)
                return repo_error(r, REPO_E_CORRUPT, "blob %s: not in any index (missing)", bhex);
        repo_id_to_hex(&r->index.packs[e->pack], phex);
        repo_object_path("data", &r->index.packs[e->pack], path, sizeof path);
        if (buf_reserve(&br->stored, &br->stored_cap, e->length) < 0)
                return -ENOMEM;
        k = repo_be_get_range(r->be, path, index_entry_offset(e), e->length, br->stored);
        if (k == -ENOENT)
                return repo_error(r, REPO_E_CORRUPT, "pack %s: missing (holds blob %s)", phex, bhex);
        if (k < 0)
                return repo_error(r, k, "pack %s: %s (blob %s)", phex, repo_errmsg(), bhex);
        br->e = e;
        return 0;
}

int repo_blob_decode_fetched(const repo *r, repo_blob_reader *br, uint8_t **buf, size_t *cap, size_t *ret_n) {
        char bhex[REPO_ID_HEX_SIZE], phex[REPO_ID_HEX_SIZE];
        const index_entry *e = br->e;
        int k;

        assert(e);
        if (!br->dctx && !(br->dctx = ZSTD_createDCtx()))
                return -ENOMEM;
        if (buf_reserve(buf, cap, e->raw_length) < 0)
                return -ENOMEM;
        k = blob_decode(r, br->dctx, &br->tmp, &br->tmp_cap, br->stored, e->length, e->flags, e->raw_length, &e->id,
                        *buf);
        if (k < 0) {
                repo_id_to_hex(&e->id, bhex);
                repo_id_to_hex(&r->index.packs[e->pack], phex);
                return repo_error(NULL, k, "pack %s: blob %s: %s", phex, bhex, repo_errmsg());
        }
        *ret_n = e->raw_length;
        return 0;
}

int repo_read_blob(repo *r, const repo_id *id, uint8_t **buf, size_t *cap, size_t *ret_n) {
        repo_blob_reader br = {};
        int k = repo_blob_fetch(r, &br, id);
        if (k >= 0 && (k = repo_blob_decode_fetched(r, &br, buf, cap, ret_n)) < 0)
                k = repo_error_from_thread(r, k);   /* decoding has no handle */
        repo_blob_reader_done(&br);
        return k;
}
