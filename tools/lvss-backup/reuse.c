/* SPDX-License-Identifier: MIT */
/*
 * tools/lvss-backup/reuse.c: unchanged ranges of a full backup
 * (docs/design/backup.md §8, invariant 12).
 *
 * Each full (or copy) backup records, per .edb/.stm it stored, a map: the
 * file's identity (database signature, log signature, file type), its stamp
 * (the highest page version in the file) and, per chunk in file order, its
 * length and a digest (XXH3-128) of the stored checksums of the pages the
 * chunk overlaps.  The next full takes every page's checksum and version
 * from the verifier (create.c runs mstore_verify_file_sums on the snapshot's
 * file: each page read once, checked, and its sum handed out) and reuses
 * chunk i of the newest such record when all of this holds:
 *   - the record is of this repository (its map names this repository's
 *     id), lists the component (it was verified and committed), and its
 *     map entry is for this component;
 *   - the file has the same database signature, log signature and type;
 *   - every page the chunk overlaps exists now, passes its check, has a
 *     version at most the record's stamp, and the digest of their stored
 *     checksums equals the recorded one (the page checksum covers the page
 *     number, version and every byte: same checksums = same bytes);
 *   - the index still names the blob, with the chunk's length.
 * Everything else is read and chunked (repo_backup_add_fd_reuse).  The
 * verifier (create.c) checks every page of the file before the component
 * counts as backed up; the sums come from that very check.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include <mstore/mstore.h>

#include "macro.h"
#include "reuse.h"

#define REUSE_MAP_VERSION 1
#define PAGE MSTORE_PAGE_SIZE
#define CHUNK_HEX 40   /* per chunk: length (8 hex digits) + digest (32) */
/* The two header copies change at every full (backup slots, state): they
 * are always a chunk of their own, so the pages after them can be reused. */
#define HEADER_BYTES (2 * (uint64_t) PAGE)
#define HEADER_CUT ((repo_reuse_extent) {.offset = HEADER_BYTES, .cut_only = true})

typedef struct cand {
        repo_record *rec;
        json_t *files;             /* the map's "files" object (owned by map) */
        json_t *map;
} cand;

struct reuse_ctx {
        repo *r;
        char repo_hex[REPO_ID_HEX_SIZE];
        repo_record **recs;
        size_t n_recs;
        cand *cands;               /* newest first */
        size_t n_cands;
        json_t *out;               /* this backup's entries: path -> entry */
};

reuse_ctx *reuse_free(reuse_ctx *x) {
        if (!x)
                return NULL;
        for (size_t i = 0; i < x->n_cands; i++)
                json_decref(x->cands[i].map);
        free(x->cands);
        for (size_t i = 0; i < x->n_recs; i++)
                repo_record_free(x->recs[i]);
        free(x->recs);
        json_decref(x->out);
        free(x);
        return NULL;
}

int reuse_new(repo *r, bool use_previous, reuse_ctx **ret) {
        reuse_ctx *x = calloc(1, sizeof *x);
        repo_id rid;

        if (!x)
                return -ENOMEM;
        x->r = r;
        x->out = json_object();
        repo_get_id(r, &rid);
        repo_id_to_hex(&rid, x->repo_hex);
        if (!x->out || !use_previous || repo_list_backups(r, &x->recs, &x->n_recs) < 0) {
                x->recs = NULL;
                x->n_recs = 0;   /* no candidates: everything is read */
        }
        x->cands = calloc(x->n_recs + 1, sizeof *x->cands);
        if (!x->out || !x->cands) {
                reuse_free(x);
                return -ENOMEM;
        }
        for (size_t i = x->n_recs; i-- > 0;) {
                repo_record *rec = x->recs[i];
                if ((rec->type != REPO_BACKUP_FULL && rec->type != REPO_BACKUP_COPY) || !rec->reuse_map)
                        continue;
                json_t *m = json_loads(rec->reuse_map, 0, NULL);
                json_t *v = json_object_get(m, "version"), *rp = json_object_get(m, "repo");
                json_t *files = json_object_get(m, "files");
                if (!json_is_integer(v) || json_integer_value(v) != REUSE_MAP_VERSION || !json_is_string(rp) ||
                    strcmp(json_string_value(rp), x->repo_hex) != 0 || !json_is_object(files)) {
                        json_decref(m);   /* another repository's (a copied record) or unknown: not a source */
                        continue;
                }
                x->cands[x->n_cands++] = (cand) {rec, files, m};
        }
        *ret = x;
        return 0;
}

static bool record_has_component(const repo_record *rec, const char *comp) {
        for (size_t i = 0; i < rec->n_components; i++)
                if (strcmp(rec->components[i], comp) == 0)
                        return true;
        return false;
}

static const repo_file *record_file(const repo_record *rec, const char *path) {
        for (size_t i = 0; i < rec->n_files; i++)
                if (rec->files[i].type == REPO_FILE_REGULAR && !rec->files[i].symlink &&
                    strcmp(rec->files[i].path, path) == 0)
                        return &rec->files[i];
        return NULL;
}

/* XXH3-128 of the stored checksums of the pages [off, off + len) overlaps;
 * false when one of them is missing, failed its check or is newer than
 * max_version. */
static bool range_digest(const mstore_page_sum *sums, uint64_t n, uint64_t off, uint64_t len, uint64_t max_version,
                         XXH128_hash_t *ret) {
        uint64_t p0 = off / PAGE, p1 = (off + len - 1) / PAGE;
        XXH3_state_t *st;

        if (len == 0 || p1 >= n)
                return false;
        for (uint64_t p = p0; p <= p1; p++)
                if (sums[p].version == MSTORE_PAGE_BAD || sums[p].version > max_version)
                        return false;
        st = XXH3_createState();
        if (!st)
                return false;
        XXH3_128bits_reset(st);
        for (uint64_t p = p0; p <= p1; p++) {
                uint8_t le[8];
                for (int i = 0; i < 8; i++)
                        le[i] = (uint8_t) (sums[p].checksum >> (8 * i));
                XXH3_128bits_update(st, le, sizeof le);
        }
        *ret = XXH3_128bits_digest(st);
        XXH3_freeState(st);
        return true;
}

static void digest_hex(const XXH128_hash_t *d, char out[33]) {
        snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, d->high64, d->low64);
}

typedef struct ident {
        uint64_t db_sig;
        char log_sig[33];
        int file_type;
} ident;

static int read_ident(int fd, ident *ret) {
        char proc[64];
        mstore_header_info h;

        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        int k = mstore_read_header(proc, &h);
        if (k < 0)
                return k;
        ret->db_sig = h.db_signature;
        for (int i = 0; i < 16; i++)
                snprintf(ret->log_sig + 2 * i, 3, "%02x", h.log_signature[i]);
        ret->file_type = h.file_type;
        return 0;
}

/* The map entry of the newest candidate that stored path, when it can be
 * the source for this file (see the file's comment; pages not looked at
 * yet); NULL when none. */
static json_t *find_source(reuse_ctx *x, const char *path, const char *component, const ident *id,
                           const repo_file **ret_pf) {
        for (size_t c = 0; c < x->n_cands; c++) {
                const repo_record *rec = x->cands[c].rec;
                json_t *e = json_object_get(x->cands[c].files, path);
                if (!json_is_object(e))
                        continue;
                /* the newest backup that stored this file is the source, or none */
                json_t *comp = json_object_get(e, "component"), *sig = json_object_get(e, "db_sig"),
                       *lsig = json_object_get(e, "log_sig"), *ft = json_object_get(e, "file_type"),
                       *stamp = json_object_get(e, "stamp"), *chunks = json_object_get(e, "chunks");
                char sighex[17];
                snprintf(sighex, sizeof sighex, "%016" PRIx64, id->db_sig);
                const repo_file *pf = record_file(rec, path);
                if (!record_has_component(rec, component) || !json_is_string(comp) ||
                    strcmp(json_string_value(comp), component) != 0 || !json_is_string(sig) ||
                    strcmp(json_string_value(sig), sighex) != 0 || !json_is_string(lsig) ||
                    strcmp(json_string_value(lsig), id->log_sig) != 0 || !json_is_integer(ft) ||
                    json_integer_value(ft) != id->file_type || !json_is_integer(stamp) || !json_is_string(chunks) ||
                    !pf || json_string_length(chunks) != pf->n_blobs * CHUNK_HEX)
                        return NULL;
                *ret_pf = pf;
                return e;
        }
        return NULL;
}

/* The ranges of the source entry e (of record file pf) that are proven
 * unchanged by the verifier's page sums.  *ret NULL when none. */
static int plan_extents(reuse_ctx *x, json_t *e, const repo_file *pf, const mstore_page_sum *sums, uint64_t n,
                        repo_reuse_extent **ret, size_t *ret_n) {
        uint64_t max_version = (uint64_t) json_integer_value(json_object_get(e, "stamp")), off = 0;
        const char *h = json_string_value(json_object_get(e, "chunks"));
        repo_reuse_extent *ext = calloc(pf->n_blobs + 2, sizeof *ext);
        size_t k = 0;

        *ret = NULL;
        *ret_n = 0;
        if (!ext)
                return -ENOMEM;
        if (n > 2)
                ext[k++] = HEADER_CUT;
        for (size_t i = 0; i < pf->n_blobs; i++) {
                char lenhex[9], want[33], have[33];
                XXH128_hash_t d;
                uint32_t raw = 0;
                memcpy(lenhex, h + i * CHUNK_HEX, 8);
                lenhex[8] = 0;
                memcpy(want, h + i * CHUNK_HEX + 8, 32);
                want[32] = 0;
                uint32_t len = (uint32_t) strtoul(lenhex, NULL, 16);
                if (off >= HEADER_BYTES && range_digest(sums, n, off, len, max_version, &d)) {
                        digest_hex(&d, have);
                        if (strcmp(have, want) == 0 && repo_blob_known(x->r, &pf->blobs[i], &raw) && raw == len)
                                ext[k++] = (repo_reuse_extent) {.offset = off, .length = len, .id = pf->blobs[i]};
                }
                off += len;
        }
        if (off != pf->size) {   /* the map does not describe that file: reuse nothing */
                free(ext);
                return 0;
        }
        *ret = ext;
        *ret_n = k;
        return 0;
}

bool reuse_may_reuse(const reuse_ctx *x, const char *path) {
        for (size_t c = 0; x && c < x->n_cands; c++)
                if (json_is_object(json_object_get(x->cands[c].files, path)))
                        return true;
        return false;
}

/* No candidate: only the cut after the header pages (so the next backup
 * can reuse what follows them). */
static int header_cut_only(const struct stat *st, repo_reuse_extent **ret, size_t *ret_n) {
        *ret_n = 0;
        *ret = calloc(1, sizeof **ret);
        if (!*ret)
                return -ENOMEM;
        if ((uint64_t) st->st_size > HEADER_BYTES)
                (*ret)[(*ret_n)++] = HEADER_CUT;
        return 0;
}

/* This backup's entry for the file just stored (its blob list as stored). */
static int keep_entry(reuse_ctx *x, repo_backup *rb, const char *path, const char *component, const ident *id,
                      const mstore_page_sum *sums, uint64_t n) {
        size_t nf = repo_backup_file_count(rb);
        const repo_file *f = nf ? repo_backup_file_at(rb, nf - 1) : NULL;
        uint64_t stamp = 0, off = 0;
        char sighex[17];

        if (!f || strcmp(f->path, path) != 0)
                return 0;
        for (uint64_t p = 0; p < n; p++) {
                if (sums[p].version == MSTORE_PAGE_BAD)
                        return 0;   /* the verifier fails the component: no entry */
                stamp = MAX(stamp, sums[p].version);
        }
        char *hex = malloc(f->n_blobs * CHUNK_HEX + 1);
        if (!hex)
                return -ENOMEM;
        hex[0] = 0;
        for (size_t i = 0; i < f->n_blobs; i++) {
                uint32_t raw = 0;
                XXH128_hash_t d = {0, 0};
                char dh[33];
                if (!repo_blob_known(x->r, &f->blobs[i], &raw)) {
                        free(hex);
                        return 0;
                }
                if (!range_digest(sums, n, off, raw, UINT64_MAX - 1, &d))
                        d = (XXH128_hash_t) {0, 0};   /* reaches past the last whole page: never matches */
                digest_hex(&d, dh);
                snprintf(hex + i * CHUNK_HEX, CHUNK_HEX + 1, "%08" PRIx32 "%s", raw, dh);
                off += raw;
        }
        snprintf(sighex, sizeof sighex, "%016" PRIx64, id->db_sig);
        json_t *e = json_pack("{s:s, s:s, s:s, s:i, s:I, s:s}", "component", component, "db_sig", sighex, "log_sig",
                              id->log_sig, "file_type", id->file_type, "stamp", (json_int_t) stamp, "chunks", hex);
        free(hex);
        if (!e || json_object_set_new(x->out, path, e) < 0)
                return -ENOMEM;
        return 0;
}

int reuse_store_file(reuse_ctx *x, repo_backup *rb, int fd, const char *path, const struct stat *st,
                     const char *component, reuse_sums_fn get_sums, void *userdata) {
        _cleanup_free_ repo_reuse_extent *ext = NULL;
        const mstore_page_sum *sums = NULL;
        const repo_file *pf = NULL;
        size_t n_ext = 0;
        uint64_t n = 0;
        json_t *e;
        ident id;
        int k = 0;

        /* Without a header the file is simply read (and the verifier says
         * what is wrong with it). */
        if (read_ident(fd, &id) < 0)
                return repo_backup_add_fd(rb, fd, path, st);
        /* Only a file with a source waits for the verifier's sums before it
         * is stored; the others are stored while the verifier reads them. */
        e = find_source(x, path, component, &id, &pf);
        if (e && get_sums(userdata, &sums, &n))
                k = plan_extents(x, e, pf, sums, n, &ext, &n_ext);
        if (k >= 0 && !ext && (uint64_t) st->st_size > HEADER_BYTES)
                k = header_cut_only(st, &ext, &n_ext);
        if (k < 0)
                return k;
        k = repo_backup_add_fd_reuse(rb, fd, path, st, ext, n_ext);
        if (k < 0)
                return k;
        if (!sums && !get_sums(userdata, &sums, &n))
                return 0;   /* no check, no sums: no entry (the component fails) */
        return keep_entry(x, rb, path, component, &id, sums, n);
}

void reuse_drop_component(reuse_ctx *x, const char *component) {
        const char *key;
        json_t *v, *tmp;

        json_object_foreach_safe(x->out, tmp, key, v) {
                json_t *c = json_object_get(v, "component");
                if (json_is_string(c) && strcmp(json_string_value(c), component) == 0)
                        json_object_del(x->out, key);
        }
}

char *reuse_map_json(reuse_ctx *x) {
        if (!x || json_object_size(x->out) == 0)
                return NULL;
        json_t *m = json_pack("{s:i, s:s, s:O}", "version", REUSE_MAP_VERSION, "repo", x->repo_hex, "files", x->out);
        char *s = m ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(m);
        return s;
}
