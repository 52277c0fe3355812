/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/forget.c: retention, which backup records a policy keeps
 * (docs/design/repository.md §11d).
 *
 * repo_forget_plan() is pure (records in, reasons out), so the decision
 * table is unit-tested without a repository.  Per component series, newest
 * first, the options keep-last, hourly, daily, weekly, monthly, yearly are
 * applied in that order with Proxmox Backup Server's rules: an option looks
 * only at records no earlier option marked, treats the periods of records
 * kept earlier as taken, keeps the newest record of each new period, marks
 * later records of a period it took as not kept, and stops after N periods.
 * keep-within (restic's rule, relative to the series' newest record) keeps in
 * addition.  Then every record a remaining record needs for its restore
 * (its based_on chain) is kept with the reason "chain".
 *
 * repo_forget_remove() deletes records newest first, so that a crash leaves
 * every remaining chain complete (F1).  It never touches packs (prune does).
 */
#include <stdio.h>
#include <time.h>

#include "packer.h"

static const char *const reason_names[_REPO_KEEP_MAX] = {
        "last", "hourly", "daily", "weekly", "monthly", "yearly", "within", "chain", "other-component", NULL,
};

const char *repo_keep_reason_name(unsigned bit) {
        for (unsigned i = 0; i < _REPO_KEEP_MAX; i++)
                if (bit == 1u << i)
                        return reason_names[i];
        return NULL;
}

int repo_forget_parse_duration(const char *s, repo_forget_policy *p) {
        static const char units[] = "ymwdh";
        unsigned v[5] = {};
        const char *c = s;
        size_t next = 0;

        if (!s || !*s)
                return repo_error(NULL, -EINVAL, "duration '': expected e.g. 7d, 2w, 1y6m, 36h");
        while (*c) {
                char *end;
                const char *u;
                unsigned long n;

                if (*c < '0' || *c > '9')
                        return repo_error(NULL, -EINVAL, "duration '%s': expected numbers with units y, m, w, d, h", s);
                n = strtoul(c, &end, 10);
                u = *end ? strchr(units, *end) : NULL;
                if (!u || (size_t) (u - units) < next || n > 100000)
                        return repo_error(NULL, -EINVAL,
                                          "duration '%s': expected numbers with units y, m, w, d, h, in that order", s);
                next = (size_t) (u - units) + 1;
                v[u - units] = (unsigned) n;
                c = end + 1;
        }
        p->has_within = true;
        p->within_y = v[0];
        p->within_m = v[1];
        p->within_w = v[2];
        p->within_d = v[3];
        p->within_h = v[4];
        return 0;
}

/* ---- periods ---- */

enum { P_LAST, P_HOURLY, P_DAILY, P_WEEKLY, P_MONTHLY, P_YEARLY, _P_MAX };

static void period_key(int kind, const repo_record *rec, size_t idx, char *buf, size_t size) {
        time_t t = (time_t) (rec->time_ns >= 0 ? rec->time_ns / 1000000000 : (rec->time_ns - 999999999) / 1000000000);
        struct tm tm;

        localtime_r(&t, &tm);
        switch (kind) {
        case P_LAST:
                snprintf(buf, size, "#%zu", idx);
                break;
        case P_HOURLY:
                strftime(buf, size, "%Y-%m-%d %H", &tm);
                break;
        case P_DAILY:
                strftime(buf, size, "%Y-%m-%d", &tm);
                break;
        case P_WEEKLY:
                strftime(buf, size, "%G-W%V", &tm);
                break;
        case P_MONTHLY:
                strftime(buf, size, "%Y-%m", &tm);
                break;
        default:
                strftime(buf, size, "%Y", &tm);
                break;
        }
}

/* A small set of period keys (a series has at most as many as records). */
typedef struct keyset {
        char (*k)[32];
        size_t n;
} keyset;

static bool keyset_has(const keyset *s, const char *k) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->k[i], k) == 0)
                        return true;
        return false;
}

static void keyset_add(keyset *s, const char *k) {
        snprintf(s->k[s->n++], sizeof s->k[0], "%s", k);
}

enum { MARK_NONE, MARK_KEEP, MARK_DROP };

/* One option over one series (members newest first): PBS's mark_selections. */
static void mark_option(repo_record *const *recs, const size_t *members, size_t m, int kind, unsigned keep,
                        uint8_t *mark, unsigned *reasons, keyset *taken, keyset *mine) {
        char key[32];

        if (keep == 0)
                return;
        taken->n = mine->n = 0;
        for (size_t j = 0; j < m; j++)
                if (mark[j] == MARK_KEEP) {
                        period_key(kind, recs[members[j]], members[j], key, sizeof key);
                        if (!keyset_has(taken, key))
                                keyset_add(taken, key);
                }
        for (size_t j = 0; j < m; j++) {
                if (mark[j] != MARK_NONE)
                        continue;
                period_key(kind, recs[members[j]], members[j], key, sizeof key);
                if (keyset_has(taken, key))
                        continue;
                if (keyset_has(mine, key)) {
                        mark[j] = MARK_DROP;
                        continue;
                }
                if (mine->n >= keep)
                        break;
                keyset_add(mine, key);
                mark[j] = MARK_KEEP;
                reasons[j] |= 1u << kind;
        }
}

/* The oldest time keep-within keeps, relative to the newest record. */
static int64_t within_threshold(const repo_forget_policy *p, int64_t newest_ns) {
        time_t t = (time_t) (newest_ns / 1000000000);
        int64_t frac = newest_ns % 1000000000;
        struct tm tm;

        localtime_r(&t, &tm);
        tm.tm_year -= (int) p->within_y;
        tm.tm_mon -= (int) p->within_m;
        tm.tm_mday -= (int) (p->within_w * 7 + p->within_d);
        tm.tm_isdst = -1;
        if (p->within_y || p->within_m || p->within_w || p->within_d)
                t = mktime(&tm);
        /* Hours are elapsed time (a DST switch inside the window does not stretch it). */
        return ((int64_t) t - (int64_t) p->within_h * 3600) * 1000000000 + frac;
}

static bool in_series(const repo_record *rec, const char *series) {
        if (rec->n_components == 0)
                return *series == 0;
        for (size_t i = 0; i < rec->n_components; i++)
                if (strcmp(rec->components[i], series) == 0)
                        return true;
        return false;
}

static bool selected(const repo_forget_policy *p, const char *series) {
        if (p->n_components == 0)
                return true;
        for (size_t i = 0; i < p->n_components; i++)
                if (strcmp(p->components[i], series) == 0)
                        return true;
        return false;
}

static repo_record *const *sort_recs;

static int newest_first(const void *a, const void *b) {
        const repo_record *x = sort_recs[*(const size_t *) a], *y = sort_recs[*(const size_t *) b];
        if (x->time_ns != y->time_ns)
                return x->time_ns > y->time_ns ? -1 : 1;
        return -memcmp(x->id.b, y->id.b, REPO_ID_SIZE);
}

static int plan_series(repo_record *const *recs, size_t n, const repo_forget_policy *p, const char *series,
                       unsigned *ret_reasons) {
        const unsigned keep[_P_MAX] = {p->keep_last,   p->keep_hourly,  p->keep_daily,
                                       p->keep_weekly, p->keep_monthly, p->keep_yearly};
        _cleanup_free_ size_t *members = calloc(n + 1, sizeof(size_t));
        _cleanup_free_ uint8_t *mark = calloc(n + 1, 1);
        _cleanup_free_ unsigned *reasons = calloc(n + 1, sizeof(unsigned));
        _cleanup_free_ char(*k1)[32] = calloc(n + 1, 32);
        _cleanup_free_ char(*k2)[32] = calloc(n + 1, 32);
        keyset taken = {.k = k1}, mine = {.k = k2};
        size_t m = 0;

        if (!members || !mark || !reasons || !k1 || !k2)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (in_series(recs[i], series))
                        members[m++] = i;
        sort_recs = recs;   /* single-threaded by the header's rule */
        qsort(members, m, sizeof *members, newest_first);
        for (int kind = 0; kind < _P_MAX; kind++)
                mark_option(recs, members, m, kind, keep[kind], mark, reasons, &taken, &mine);
        if (p->has_within && m > 0) {
                int64_t from = within_threshold(p, recs[members[0]]->time_ns);
                for (size_t j = 0; j < m; j++)
                        if (recs[members[j]]->time_ns >= from)
                                reasons[j] |= REPO_KEEP_WITHIN;
        }
        for (size_t j = 0; j < m; j++) {
                size_t i = members[j];
                ret_reasons[i] &= ~REPO_KEEP_NOT_SELECTED;
                ret_reasons[i] |= reasons[j];
        }
        return 0;
}

static int id_cmp(const void *a, const void *b) {
        return memcmp(((const repo_record *const *) a)[0]->id.b, ((const repo_record *const *) b)[0]->id.b,
                      REPO_ID_SIZE);
}

int repo_forget_plan(repo_record *const *recs, size_t n, const repo_forget_policy *p, unsigned *ret_reasons) {
        _cleanup_free_ repo_record **by_id = NULL;
        int k;

        if (!p->keep_last && !p->keep_hourly && !p->keep_daily && !p->keep_weekly && !p->keep_monthly &&
            !p->keep_yearly && !p->has_within)
                return repo_error(NULL, -EINVAL, "no keep option given (refusing to remove every backup)");
        for (size_t i = 0; i < n; i++)
                ret_reasons[i] = REPO_KEEP_NOT_SELECTED;
        /* Every series: each component any record lists, and "" for records listing none. */
        for (size_t i = 0; i < n; i++) {
                size_t nc = recs[i]->n_components ? recs[i]->n_components : 1;
                for (size_t c = 0; c < nc; c++) {
                        const char *series = recs[i]->n_components ? recs[i]->components[c] : "";
                        bool seen = false;
                        /* Only the first record of a series plans it. */
                        for (size_t j = 0; j < i && !seen; j++)
                                seen = in_series(recs[j], series);
                        if (seen || !selected(p, series))
                                continue;
                        k = plan_series(recs, n, p, series, ret_reasons);
                        if (k < 0)
                                return k;
                }
        }
        /* A record also in a series nobody selected is not removed. */
        for (size_t i = 0; i < n && p->n_components > 0; i++) {
                bool other = recs[i]->n_components == 0 ? !selected(p, "") : false;
                for (size_t c = 0; c < recs[i]->n_components; c++)
                        other = other || !selected(p, recs[i]->components[c]);
                if (other && ret_reasons[i] == 0)
                        ret_reasons[i] = REPO_KEEP_OTHER_COMPONENT;
        }
        /* Chains: whatever a remaining record needs to restore stays. */
        by_id = calloc(n + 1, sizeof *by_id); // NOLINT(bugprone-sizeof-expression): array of pointers
        if (!by_id)
                return -ENOMEM;
        memcpy(by_id, recs, n * sizeof *by_id); // NOLINT(bugprone-sizeof-expression): array of pointers
        qsort(by_id, n, sizeof *by_id, id_cmp); // NOLINT(bugprone-sizeof-expression): array of pointers
        for (size_t i = 0; i < n; i++) {
                const repo_record *cur = recs[i];
                if (ret_reasons[i] == 0)
                        continue;
                for (size_t steps = 0; cur->has_based_on && steps < n; steps++) {
                        repo_record key = {.id = cur->based_on}, *kp = &key, **hit;
                        hit = bsearch(&kp, by_id, n, sizeof *by_id, id_cmp); // NOLINT(bugprone-sizeof-expression): array of pointers
                        if (!hit)
                                break;   /* a base already missing: nothing more to keep */
                        for (size_t j = 0; j < n; j++)
                                if (recs[j] == *hit && ret_reasons[j] == 0)
                                        ret_reasons[j] = REPO_KEEP_CHAIN;
                        cur = *hit;
                }
        }
        return 0;
}

static int time_desc(const void *a, const void *b) {
        const repo_record *x = *(repo_record *const *) a, *y = *(repo_record *const *) b;
        if (x->time_ns != y->time_ns)
                return x->time_ns > y->time_ns ? -1 : 1;
        return memcmp(y->id.b, x->id.b, REPO_ID_SIZE);
}

int repo_forget_remove(repo *r, repo_record *const *recs, size_t n, const unsigned *reasons) {
        _cleanup_free_ repo_record **gone = calloc(n + 1, sizeof *gone); // NOLINT(bugprone-sizeof-expression): array of pointers
        size_t m = 0;
        int k;

        if (!r->exclusive)
                return repo_error(r, -EINVAL, "forget needs the exclusive lock");
        if (!gone)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (reasons[i] == 0)
                        gone[m++] = recs[i];
        /* F1: newest first; a base is always older than what is based on it. */
        qsort(gone, m, sizeof *gone, time_desc); // NOLINT(bugprone-sizeof-expression): array of pointers
        for (size_t i = 0; i < m; i++) {
                char path[160];
                repo_object_path("backups", &gone[i]->id, path, sizeof path);
                k = repo_be_delete(r->be, path);
                if (k >= 0)
                        k = repo_be_sync(r->be, "backups");
                if (k < 0)
                        return repo_error_from_thread(r, k);
                repo_crash_point("forget-unlinked");
        }
        return 0;
}
