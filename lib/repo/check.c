/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/check.c: the scheduled repository check
 * (docs/design/repository.md §11c).
 *
 * Structure (always, no pack content read): every index object loaded,
 * every pack the index names exists and holds every entry's byte range,
 * every record loads, every blob every record names is indexed, every
 * based_on exists.  Data (optional): every pack, or a deterministic subset,
 * read whole and checked as verify does (verify.c's repo_verify_pack).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "repo-int.h"
#include "backend.h"

int repo_check_parse_subset(const char *s, repo_check_options *o) {
        char *end;

        if (strchr(s, '%')) {
                double pct = strtod(s, &end);
                if (end == s || strcmp(end, "%") != 0 || !(pct > 0) || pct > 100)
                        return repo_error(NULL, -EINVAL, "'%s': expected N%% with 0 < N <= 100, or K/M", s);
                o->data = REPO_CHECK_SUBSET_PERCENT;
                o->percent = pct;
                return 0;
        }
        unsigned long k = strtoul(s, &end, 10), m;
        if (end == s || *end != '/' || *s == '-')
                return repo_error(NULL, -EINVAL, "'%s': expected K/M (1 <= K <= M) or N%%", s);
        const char *ms = end + 1;
        m = strtoul(ms, &end, 10);
        if (end == ms || *end || *ms == '-' || k < 1 || m < 1 || k > m || m > 1000000)
                return repo_error(NULL, -EINVAL, "'%s': expected K/M (1 <= K <= M) or N%%", s);
        o->data = REPO_CHECK_SUBSET_MOD;
        o->k = (unsigned) k;
        o->m = (unsigned) m;
        return 0;
}

bool repo_check_selects(const repo_check_options *o, const repo_id *pack) {
        uint64_t v64 = 0;
        uint32_t v32 = 0;

        for (int i = 0; i < 4; i++)
                v32 = v32 << 8 | pack->b[i];
        for (int i = 0; i < 8; i++)
                v64 = v64 << 8 | pack->b[i];
        switch (o->data) {
        case REPO_CHECK_READ_ALL:
                return true;
        case REPO_CHECK_SUBSET_MOD:
                return v32 % o->m == o->k - 1;
        case REPO_CHECK_SUBSET_PERCENT: {
                /* In millionths: this ISO week's window (weeks since Monday
                 * 1970-01-05) and the pack's position in the id space. */
                uint64_t frac = (uint64_t) (o->percent * 10000.0 + 0.5);
                int64_t week = (o->now - 345600) / 604800;
                uint64_t start = ((uint64_t) (week < 0 ? 0 : week) * frac) % 1000000;
                uint64_t pos = ((v64 >> 32) * 1000000) >> 32;
                return frac >= 1000000 || (pos + 1000000 - start) % 1000000 < frac;
        }
        default:
                return false;
        }
}

typedef struct cctx {
        repo_verify_report_fn report;
        void *userdata;
        uint64_t problems;
} cctx;

static void problem(cctx *c, const char *kind, const char *name, const char *fmt, ...) _printf_(4, 5);
static void problem(cctx *c, const char *kind, const char *name, const char *fmt, ...) {
        char msg[700];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        c->problems++;
        if (c->report)
                c->report(kind, name, msg, c->userdata);
}

static int id_cmp(const void *a, const void *b) {
        return memcmp(a, b, REPO_ID_SIZE);
}

int repo_check(repo *r, const repo_check_options *o, repo_verify_report_fn fn, void *userdata, repo_check_stats *ret) {
        cctx c = {.report = fn, .userdata = userdata};
        repo_check_stats st = {};
        _cleanup_free_ repo_id *idx = NULL, *recs = NULL;
        _cleanup_free_ uint64_t *sizes = NULL;
        _cleanup_free_ uint8_t *present = NULL, *done = NULL;
        size_t n_idx = 0, n_recs = 0;
        char hex[REPO_ID_HEX_SIZE], hex2[REPO_ID_HEX_SIZE];
        int k;

        /* Indexes. */
        for (size_t i = 0; i < r->n_bad_index; i++)
                problem(&c, "index", r->bad_index[i], "%s", r->bad_index_reason[i]);
        k = repo_list_objects(r, "index", &idx, &n_idx);
        if (k < 0)
                return k;
        st.indexes = n_idx;
        /* Packs the index names: present, large enough for every entry. */
        sizes = calloc(r->index.n_packs + 1, sizeof *sizes);
        present = calloc(r->index.n_packs + 1, 1);
        done = calloc(r->index.n_packs + 1, 1);
        if (!sizes || !present || !done)
                return -ENOMEM;
        for (size_t p = 0; p < r->index.n_packs; p++) {
                char path[160];
                uint64_t sz = 0;
                repo_object_path("data", &r->index.packs[p], path, sizeof path);
                present[p] = repo_be_size(r->be, path, &sz) == 0;
                sizes[p] = present[p] ? sz : 0;
                bool first = true;   /* a pack named by two index objects has two slots */
                for (size_t q = 0; q < p && first; q++)
                        first = memcmp(r->index.packs[q].b, r->index.packs[p].b, REPO_ID_SIZE) != 0;
                if (!first)
                        continue;
                st.packs++;
                if (!present[p]) {
                        repo_id_to_hex(&r->index.packs[p], hex);
                        problem(&c, "pack", hex, "missing (named by the index)");
                }
        }
        for (size_t s = 0; s < r->index.n_slots; s++) {
                const index_entry *e = &r->index.slots[s];
                if (!e->used || !present[e->pack] || index_entry_offset(e) + e->length <= sizes[e->pack])
                        continue;
                repo_id_to_hex(&e->id, hex);
                repo_id_to_hex(&r->index.packs[e->pack], hex2);
                problem(&c, "index", "-", "blob %s: beyond the end of pack %s", hex, hex2);
        }
        /* Records. */
        k = repo_list_objects(r, "backups", &recs, &n_recs);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n_recs; i++) {
                _cleanup_(repo_record_freep) repo_record *rec = NULL;
                repo_id_to_hex(&recs[i], hex);
                k = repo_load_backup(r, &recs[i], &rec);
                if (k == -ENOMEM)
                        return k;
                st.records++;
                if (k < 0) {
                        problem(&c, "backup", hex, "%s", repo_error_msg(r));
                        continue;
                }
                for (size_t f = 0; f < rec->n_files; f++)
                        for (size_t j = 0; j < rec->files[f].n_blobs; j++) {
                                const index_entry *e = repo_index_find(&r->index, &rec->files[f].blobs[j]);
                                st.blobs++;
                                if (e && present[e->pack])
                                        continue;
                                repo_id_to_hex(&rec->files[f].blobs[j], hex2);
                                problem(&c, "backup", hex, "file '%s': blob %s is %s", rec->files[f].path, hex2,
                                        e ? "in a missing pack" : "in no index");
                        }
                if (rec->has_based_on && !bsearch(&rec->based_on, recs, n_recs, sizeof *recs, id_cmp)) {
                        repo_id_to_hex(&rec->based_on, hex2);
                        problem(&c, "backup", hex, "base backup %s is missing", hex2);
                }
        }
        /* Data. */
        for (size_t p = 0; o->data != REPO_CHECK_STRUCTURE && p < r->index.n_packs; p++) {
                bool seen = false;
                if (!present[p] || !repo_check_selects(o, &r->index.packs[p]))
                        continue;
                for (size_t q = 0; q < p && !seen; q++)
                        seen = memcmp(r->index.packs[q].b, r->index.packs[p].b, REPO_ID_SIZE) == 0;
                if (seen)
                        continue;
                k = repo_verify_pack(r, &r->index.packs[p], fn, userdata, &c.problems, &st.bytes_read);
                if (k < 0)
                        return k;
                done[p] = 1;
                st.packs_read++;
                if (o->pack_read)
                        o->pack_read(&r->index.packs[p], o->userdata);
        }
        for (size_t s = 0; o->data != REPO_CHECK_STRUCTURE && s < r->index.n_slots; s++) {
                const index_entry *e = &r->index.slots[s];
                if (!e->used || e->verified || !done[e->pack])
                        continue;
                repo_id_to_hex(&e->id, hex);
                repo_id_to_hex(&r->index.packs[e->pack], hex2);
                problem(&c, "index", "-", "blob %s: not found intact in pack %s at offset %llu", hex, hex2,
                        (unsigned long long) index_entry_offset(e));
        }
        if (ret)
                *ret = st;
        return c.problems ? REPO_E_CORRUPT : 0;
}
