/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/verify.c: re-read and check the repository.
 *
 * Whole repository: every index (name hash, MAC, parser), every pack (name
 * hash, header, then every blob: MAC, decompression, content hash against
 * its id), every index entry found in its pack where the index says, every
 * backup record (name hash, MAC, parser) and every blob a record names known
 * to the index.  One backup: its record, and each of its files read back
 * through the index and compared with the whole-file hash.
 */
#include <sodium.h>
#include <stdio.h>

#include "repo-int.h"
#include "backend.h"

typedef struct vctx {
        repo *r;
        repo_verify_report_fn report;
        void *userdata;
        uint64_t problems, checked, bytes;
} vctx;

void repo_set_verify_progress(repo *r, repo_progress_fn fn, void *userdata) {
        r->verify_progress = fn;
        r->verify_progress_userdata = userdata;
}

static void progress(vctx *v, const char *what, uint64_t bytes) {
        repo_stats st = {};
        v->bytes += bytes;
        if (!v->r->verify_progress)
                return;
        st.files = v->checked;
        st.bytes_read = v->bytes;
        v->r->verify_progress(&st, what, v->r->verify_progress_userdata);
}

static void report(vctx *v, const char *kind, const char *name, const char *reason) {
        /* Messages from lower layers already start with "<kind> <name>: "; keep only the reason. */
        const char *p = strstr(reason, name);
        if (p && (p = strstr(p, ": ")))
                reason = p + 2;
        v->problems++;
        if (v->report)
                v->report(kind, name, reason, v->userdata);
}

static int check_pack(repo *r, vctx *v, const repo_id *pid, uint8_t **buf, size_t *cap) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ pack_blob *blobs = NULL;
        char path[160], phex[REPO_ID_HEX_SIZE], bhex[REPO_ID_HEX_SIZE], msg[600];
        size_t n = 0, count = 0;
        uint64_t off = 0;
        repo_id check;
        int k;

        repo_id_to_hex(pid, phex);
        repo_object_path("data", pid, path, sizeof path);
        k = repo_be_get(r->be, path, REPO_MAX_PACK, &data, &n);
        if (k == -ENOMEM)
                return k;
        v->checked++;
        if (k < 0) {
                report(v, "pack", phex, repo_errmsg());
                return 0;
        }
        repo_hash_storage(data, n, &check);
        progress(v, phex, n);
        if (memcmp(check.b, pid->b, REPO_ID_SIZE) != 0)
                report(v, "pack", phex, "content does not match its name (damaged)");
        k = repo_pack_parse(r, data, n, &blobs, &count);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                report(v, "pack", phex, repo_errmsg());
                return 0;
        }
        for (size_t i = 0; i < count; i++) {
                const pack_blob *b = &blobs[i];
                index_entry *e;

                if (*cap < b->raw || !*buf) {
                        uint8_t *p = realloc(*buf, b->raw ? b->raw : 1);
                        if (!p)
                                return -ENOMEM;
                        *buf = p;
                        *cap = b->raw;
                }
                repo_id_to_hex(&b->id, bhex);
                k = repo_blob_decode(r, data + off, b->stored, b->flags, b->raw, &b->id, *buf);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        snprintf(msg, sizeof msg, "blob %s: %s", bhex, repo_errmsg());
                        report(v, "pack", phex, msg);
                } else if ((e = repo_index_find(&r->index, &b->id)) &&
                           memcmp(r->index.packs[e->pack].b, pid->b, REPO_ID_SIZE) == 0 &&
                           index_entry_offset(e) == off && e->length == b->stored && e->raw_length == b->raw &&
                           e->flags == b->flags)
                        e->verified = 1;
                v->checked++;
                off += b->stored;
        }
        return 0;
}

int repo_verify_pack(repo *r, const repo_id *pack, repo_verify_report_fn fn, void *userdata, uint64_t *ret_problems,
                     uint64_t *ret_bytes) {
        vctx v = {.r = r, .report = fn, .userdata = userdata};
        _cleanup_free_ uint8_t *buf = NULL;
        size_t cap = 0;
        int k = check_pack(r, &v, pack, &buf, &cap);

        *ret_problems += v.problems;
        *ret_bytes += v.bytes;
        return k;
}

static int verify_all(repo *r, vctx *v) {
        _cleanup_free_ repo_id *packs = NULL, *recs = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t np = 0, nr = 0, cap = 0;
        char hex[REPO_ID_HEX_SIZE], phex[REPO_ID_HEX_SIZE], msg[600];
        int k;

        k = repo_list_objects(r, "data", &packs, &np);
        if (k < 0)
                return k;
        for (size_t i = 0; i < np; i++) {
                k = check_pack(r, v, &packs[i], &buf, &cap);
                if (k < 0)
                        return k;
        }
        for (size_t s = 0; s < r->index.n_slots; s++) {
                index_entry *e = &r->index.slots[s];
                if (!e->used || e->verified)
                        continue;
                repo_id_to_hex(&e->id, hex);
                repo_id_to_hex(&r->index.packs[e->pack], phex);
                snprintf(msg, sizeof msg, "blob %s: not found intact in pack %s at offset %llu", hex, phex,
                         (unsigned long long) index_entry_offset(e));
                report(v, "index", "-", msg);
        }
        k = repo_list_objects(r, "backups", &recs, &nr);
        if (k < 0)
                return k;
        for (size_t i = 0; i < nr; i++) {
                _cleanup_(repo_record_freep) repo_record *rec = NULL;
                repo_id_to_hex(&recs[i], hex);
                k = repo_load_backup(r, &recs[i], &rec);
                if (k == -ENOMEM)
                        return k;
                v->checked++;
                if (k < 0) {
                        report(v, "backup", hex, repo_error_msg(r));
                        continue;
                }
                for (size_t f = 0; f < rec->n_files; f++)
                        for (size_t j = 0; j < rec->files[f].n_blobs; j++) {
                                index_entry *e = repo_index_find(&r->index, &rec->files[f].blobs[j]);
                                if (e && e->verified)
                                        continue;
                                char bhex[REPO_ID_HEX_SIZE];
                                repo_id_to_hex(&rec->files[f].blobs[j], bhex);
                                snprintf(msg, sizeof msg, "file '%s': blob %s is %s", rec->files[f].path, bhex,
                                         e ? "damaged" : "missing");
                                report(v, "backup", hex, msg);
                        }
        }
        return 0;
}

static int verify_one(repo *r, vctx *v, const repo_id *id) {
        _cleanup_(repo_record_freep) repo_record *rec = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        char hex[REPO_ID_HEX_SIZE];
        size_t cap = 0, n = 0;
        int k;

        repo_id_to_hex(id, hex);
        k = repo_load_backup(r, id, &rec);
        if (k == -ENOMEM || k == -ENOENT)
                return k;
        v->checked++;
        if (k < 0) {
                report(v, "backup", hex, repo_error_msg(r));
                return 0;
        }
        /* Every pack holding one of its blobs is checked whole (hash, header, all blobs). */
        _cleanup_free_ uint8_t *seen = calloc(r->index.n_packs + 1, 1);
        if (!seen)
                return -ENOMEM;
        for (size_t i = 0; i < rec->n_files; i++)
                for (size_t j = 0; j < rec->files[i].n_blobs; j++) {
                        index_entry *e = repo_index_find(&r->index, &rec->files[i].blobs[j]);
                        if (!e || seen[e->pack])
                                continue;
                        seen[e->pack] = 1;
                        k = check_pack(r, v, &r->index.packs[e->pack], &buf, &cap);
                        if (k < 0)
                                return k;
                }
        for (size_t i = 0; i < rec->n_files; i++) {
                const repo_file *f = &rec->files[i];
                uint64_t total = 0;
                repo_id got;
                bool bad = false;

                repo_hash_file(r, f->blobs, f->n_blobs, &got);
                if (memcmp(got.b, f->hash.b, REPO_ID_SIZE) != 0) {
                        report(v, "file", f->path, "blob list does not match the file hash");
                        continue;
                }
                for (size_t j = 0; j < f->n_blobs; j++) {
                        k = repo_read_blob(r, &f->blobs[j], &buf, &cap, &n);
                        if (k == -ENOMEM)
                                return k;
                        v->checked++;
                        if (k < 0) {
                                report(v, "file", f->path, repo_error_msg(r));
                                bad = true;
                                break;
                        }
                        total += n;
                        progress(v, f->path, n);
                }
                if (!bad && total != f->size)
                        report(v, "file", f->path, "content length does not match the recorded size");
        }
        if (rec->has_based_on) {
                _cleanup_(repo_record_freep) repo_record *base = NULL;
                char bhex[REPO_ID_HEX_SIZE];
                repo_id_to_hex(&rec->based_on, bhex);
                k = repo_load_backup(r, &rec->based_on, &base);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        char msg[700];
                        snprintf(msg, sizeof msg, "base backup %s: %s", bhex, repo_error_msg(r));
                        report(v, "backup", hex, msg);
                }
        }
        return 0;
}

int repo_verify(repo *r, const repo_id *backup, repo_verify_report_fn fn, void *userdata,
                uint64_t *ret_objects_checked) {
        vctx v = {.r = r, .report = fn, .userdata = userdata};
        int k;

        for (size_t i = 0; i < r->n_bad_index; i++)
                report(&v, "index", r->bad_index[i], r->bad_index_reason[i]);
        k = backup ? verify_one(r, &v, backup) : verify_all(r, &v);
        if (ret_objects_checked)
                *ret_objects_checked = v.checked + r->n_bad_index;
        if (k < 0)
                return k;
        return v.problems ? REPO_E_CORRUPT : 0;
}
