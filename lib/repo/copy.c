/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/copy.c: copying backups between repositories
 * (docs/design/repository.md §15.4).  Every blob is read and checked in the
 * source, re-hashed under the destination's key and stored there unless its
 * index already has it; each record is rewritten with the destination's blob
 * ids, its base mapped, and "copied_from" naming the original, then
 * committed as a backup commits (packs -> index -> record).  Records are
 * copied oldest first, so a base is always in place before what needs it;
 * a record whose original is already in the destination is skipped, which
 * makes a rerun after an interruption finish the job without copying twice.
 * Progress (repo_set_copy_progress on the destination): the totals planned
 * first by the same skip rule, then counts after each blob and each backup.
 */
#include <stdio.h>

#include "repo-int.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(repo_backup *, repo_backup_free);

typedef struct id_pair {
        repo_id from, to;
} id_pair;

static const repo_id *origin_of(const repo_record *rec) {
        return rec->has_copied_from ? &rec->copied_from : &rec->id;
}

static const repo_id *pair_find(const id_pair *p, size_t n, const repo_id *from) {
        for (size_t i = 0; i < n; i++)
                if (memcmp(p[i].from.b, from->b, REPO_ID_SIZE) == 0)
                        return &p[i].to;
        return NULL;
}

/* repo_copy reports every failure on the destination handle: one on the
 * source is raised into it. */
static int source_failed(repo *from, repo *to, int k) {
        return repo_error(to, k, "%s", repo_error_msg(from));
}

static void free_records(repo_record **recs, size_t n) {
        for (size_t i = 0; i < n; i++)
                repo_record_free(recs[i]);
        free(recs);
}

static int mark_chain(repo *from, repo_record **recs, size_t n, const repo_id *id, bool *want) {
        repo_record **chain = NULL;
        size_t nc = 0;
        int k = repo_backup_chain(from, id, &chain, &nc);
        if (k < 0)
                return k;
        for (size_t c = 0; c < nc; c++)
                for (size_t i = 0; i < n; i++)
                        if (memcmp(recs[i]->id.b, chain[c]->id.b, REPO_ID_SIZE) == 0)
                                want[i] = true;
        free_records(chain, nc);
        return 0;
}

void repo_set_copy_progress(repo *to, repo_copy_progress_fn fn, void *userdata) {
        to->copy_progress = fn;
        to->copy_progress_userdata = userdata;
}

typedef struct copy_prog {
        repo *to;
        repo_copy_progress p;
        uint64_t files0, bytes0, added0; /* of the backups committed before the current one */
} copy_prog;

/* repo_backup's progress while one backup is copied (after each blob). */
static void on_blob(const repo_stats *st, const char *path, void *userdata) {
        copy_prog *c = userdata;
        c->p.files_done = c->files0 + st->files;
        c->p.bytes_done = c->bytes0 + st->bytes_read;
        c->p.bytes_added = c->added0 + st->bytes_added;
        c->to->copy_progress(&c->p, path, c->to->copy_progress_userdata);
}

/* The progress's totals: the records the loop of repo_copy will copy, by its
 * own skip rule (map[0..n_map) holds the destination's; the entries this adds
 * beyond n_map are scratch, overwritten by the loop). */
static void copy_plan(repo_record *const *src, size_t n_src, const bool *want, bool all, id_pair *map, size_t n_map,
                      repo_copy_progress *p) {
        for (size_t i = 0; i < n_src; i++) {
                const repo_record *rec = src[i];
                const repo_id *have;

                if (!all && !want[i])
                        continue;
                have = pair_find(map, n_map, origin_of(rec));
                if (!have)
                        have = pair_find(map, n_map, &rec->id);
                map[n_map] = (id_pair) {.from = rec->id, .to = have ? *have : rec->id};
                n_map++;
                if (have)
                        continue;
                p->backups_total++;
                p->files_total += rec->n_files;
                for (size_t f = 0; f < rec->n_files; f++)
                        p->bytes_total += rec->files[f].size;
        }
}

int repo_copy(repo *from, repo *to, const repo_id *ids, size_t n_ids, repo_copy_fn fn, void *userdata,
              repo_copy_stats *ret_stats) {
        repo_record **src = NULL, **dst = NULL;
        size_t n_src = 0, n_dst = 0, n_map = 0;
        _cleanup_free_ bool *want = NULL;
        _cleanup_free_ id_pair *map = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        repo_copy_stats st = {};
        size_t cap = 0;
        int k;

        if (!to->exclusive)
                return repo_error(to, -EINVAL, "copy: the destination must be open with the exclusive lock");
        if (memcmp(from->repo_uuid.b, to->repo_uuid.b, REPO_ID_SIZE) == 0)
                return repo_error(to, -EINVAL, "copy: %s and %s are the same repository", from->dir, to->dir);
        k = repo_list_backups(from, &src, &n_src);
        if (k < 0)
                return source_failed(from, to, k);
        k = repo_list_backups(to, &dst, &n_dst);
        if (k < 0)
                goto out;
        want = calloc(n_src + 1, sizeof *want);
        map = calloc(n_src + n_dst + 1, sizeof *map);
        if (!want || !map) {
                k = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n_ids; i++) {
                k = mark_chain(from, src, n_src, &ids[i], want);
                if (k < 0) {
                        k = source_failed(from, to, k);
                        goto out;
                }
        }
        /* what the destination already holds, by original id */
        for (size_t i = 0; i < n_dst; i++)
                map[n_map++] = (id_pair) {.from = *origin_of(dst[i]), .to = dst[i]->id};
        copy_prog cp = {.to = to};
        if (to->copy_progress) {
                copy_plan(src, n_src, want, n_ids == 0, map, n_map, &cp.p);
                to->copy_progress(&cp.p, NULL, to->copy_progress_userdata);
        }
        /* oldest first (repo_list_backups' order): a base precedes what is based on it */
        for (size_t i = 0; i < n_src; i++) {
                const repo_record *rec = src[i];
                const repo_id *orig = origin_of(rec), *have, *base = NULL;
                _cleanup_(repo_backup_freep) repo_backup *b = NULL;
                repo_id new_id;

                if (n_ids > 0 && !want[i])
                        continue;
                have = pair_find(map, n_map, orig);
                if (!have)
                        have = pair_find(map, n_map, &rec->id);
                if (have) {
                        map[n_map++] = (id_pair) {.from = rec->id, .to = *have};
                        st.backups_skipped++;
                        if (fn)
                                fn(&rec->id, have, true, userdata);
                        continue;
                }
                if (rec->has_based_on) {
                        base = pair_find(map, n_map, &rec->based_on);
                        if (!base) {
                                char hex[REPO_ID_HEX_SIZE], bhex[REPO_ID_HEX_SIZE];
                                repo_id_to_hex(&rec->id, hex);
                                repo_id_to_hex(&rec->based_on, bhex);
                                k = repo_error(to, REPO_E_CORRUPT, "backup %.16s: its base %.16s is missing in %s", hex,
                                               bhex, from->dir);
                                goto out;
                        }
                }
                k = repo_backup_new_copy(to, rec, &b);
                if (k < 0)
                        goto out;
                repo_backup_set_origin(b, base, orig);
                if (to->copy_progress)
                        repo_backup_set_progress(b, on_blob, &cp);
                for (size_t f = 0; f < rec->n_files; f++) {
                        k = repo_backup_copy_file(b, from, &rec->files[f], &buf, &cap);
                        if (k < 0) {
                                char hex[REPO_ID_HEX_SIZE];
                                repo_id_to_hex(&rec->id, hex);
                                k = repo_error(to, k, "copy of backup %.16s: %s", hex, repo_error_msg(to));
                                goto out;
                        }
                }
                k = repo_backup_commit(b, &new_id);
                if (k < 0)
                        goto out;
                const repo_stats *bs = repo_backup_stats(b);
                st.blobs_new += bs->blobs_new;
                st.blobs_known += bs->blobs_known;
                st.bytes_read += bs->bytes_read;
                st.bytes_added += bs->bytes_added;
                st.backups_copied++;
                map[n_map++] = (id_pair) {.from = rec->id, .to = new_id};
                if (fn)
                        fn(&rec->id, &new_id, false, userdata);
                if (to->copy_progress) {
                        cp.files0 += bs->files;
                        cp.bytes0 += bs->bytes_read;
                        cp.added0 += bs->bytes_added;
                        cp.p.backups_done++;
                        cp.p.files_done = cp.files0;
                        cp.p.bytes_done = cp.bytes0;
                        cp.p.bytes_added = cp.added0;
                        to->copy_progress(&cp.p, NULL, to->copy_progress_userdata);
                }
        }
        k = 0;
out:
        free_records(src, n_src);
        free_records(dst, n_dst);
        if (ret_stats)
                *ret_stats = st;
        return k;
}
