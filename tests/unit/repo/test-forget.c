/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/repo/test-forget.c: the retention decision table
 * (repo_forget_plan, docs/design/repository.md §11d).
 *
 * Each row: a time zone, a policy, backups (local wall time, or an exact UTC
 * instant where local time is ambiguous), and the expected reasons of each
 * backup ("-" = removed).  The rows cover hourly duplicates, PBS's "each
 * option only considers what earlier ones did not keep", ISO week 53,
 * the DST switch days of Europe/Berlin, a leap day, keep-within edges,
 * component series, and chains across the keep boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "repo.h"

#define MAXB 16

typedef struct brow {
        const char *when;     /* "YYYY-MM-DD HH:MM[:SS]" local, or "@<epoch seconds>" */
        const char *type;     /* full, incremental, differential, copy */
        int base;             /* index of the based_on backup, -1 none */
        const char *comps;    /* "A,B" or "" */
        const char *expect;   /* "daily", "last,within", "chain", "-" ... */
} brow;

typedef struct trow {
        const char *name;
        const char *tz;
        repo_forget_policy p;
        const char *within;
        const char *select[4];
        brow b[MAXB];
} trow;

static int64_t parse_when(const char *s) {
        struct tm tm = {};
        int sec = 0;

        if (s[0] == '@')
                return strtoll(s + 1, NULL, 10) * 1000000000;
        if (sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &sec) < 5)
                fail_msg("bad time %s", s);
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        tm.tm_sec = sec;
        tm.tm_isdst = -1;
        return (int64_t) mktime(&tm) * 1000000000;
}

static void reasons_text(unsigned r, char *buf, size_t size) {
        size_t used = 0;
        buf[0] = 0;
        if (r == 0) {
                snprintf(buf, size, "-");
                return;
        }
        for (unsigned b = 0; b < _REPO_KEEP_MAX; b++)
                if ((r & (1u << b)) && repo_keep_reason_name(1u << b))
                        used += (size_t) snprintf(buf + used, size - used, "%s%s", used ? "," : "",
                                                  repo_keep_reason_name(1u << b));
        if (r == REPO_KEEP_NOT_SELECTED)
                snprintf(buf, size, "not-selected");
}

static int run_row(const trow *t) {
        repo_record recs[MAXB] = {}, *ptrs[MAXB];
        unsigned reasons[MAXB];
        repo_forget_policy p = t->p;
        char *comps[MAXB][4] = {};
        size_t n = 0;
        int fails = 0;

        setenv("TZ", t->tz, 1);
        tzset();
        if (t->within)
                assert_int_equal(repo_forget_parse_duration(t->within, &p), 0);
        for (p.n_components = 0; t->select[p.n_components]; p.n_components++)
                ;
        p.components = t->select;
        for (; n < MAXB && t->b[n].when; n++) {
                repo_record *r = &recs[n];
                const brow *b = &t->b[n];
                memset(r->id.b, 0, sizeof r->id.b);
                r->id.b[0] = (uint8_t) (n + 1);
                r->time_ns = parse_when(b->when);
                r->type = repo_backup_type_from_string(b->type);
                assert_true(r->type >= 0);
                if (b->base >= 0) {
                        r->has_based_on = true;
                        r->based_on = recs[b->base].id;
                }
                char buf[64];
                snprintf(buf, sizeof buf, "%s", b->comps);
                for (char *save = NULL, *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save))
                        comps[n][r->n_components++] = strdup(c);
                r->components = comps[n];
                ptrs[n] = r;
        }
        assert_int_equal(repo_forget_plan(ptrs, n, &p, reasons), 0);
        for (size_t i = 0; i < n; i++) {
                char got[128];
                reasons_text(reasons[i], got, sizeof got);
                if (strcmp(got, t->b[i].expect) != 0) {
                        print_error("%s: backup %zu (%s): expected %s, got %s\n", t->name, i, t->b[i].when,
                                    t->b[i].expect, got);
                        fails++;
                }
        }
        for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c < recs[i].n_components; c++)
                        free(comps[i][c]);
        return fails;
}

static const trow table[] = {
        {"hourly duplicates", "Europe/Berlin", {.keep_hourly = 2}, NULL, {NULL},
         {{"2026-06-10 10:05", "full", -1, "", "-"},
          {"2026-06-10 10:35", "full", -1, "", "-"},
          {"2026-06-10 11:05", "full", -1, "", "-"},
          {"2026-06-10 11:35", "full", -1, "", "hourly"},
          {"2026-06-10 12:05", "full", -1, "", "hourly"}}},
        /* PBS: keep-daily does not count the day keep-last already covered,
         * and a second backup of a day daily took is not looked at again. */
        {"last then daily", "Europe/Berlin", {.keep_last = 2, .keep_daily = 2}, NULL, {NULL},
         {{"2026-06-08 12:00", "full", -1, "", "daily"},
          {"2026-06-09 10:00", "full", -1, "", "-"},
          {"2026-06-09 20:00", "full", -1, "", "daily"},
          {"2026-06-10 10:00", "full", -1, "", "last"},
          {"2026-06-10 20:00", "full", -1, "", "last"}}},
        /* 2026 has an ISO week 53 (Mon 28 Dec 2026 - Sun 3 Jan 2027). */
        {"ISO week 53", "Europe/Berlin", {.keep_weekly = 3}, NULL, {NULL},
         {{"2026-12-20 09:00", "full", -1, "", "-"},
          {"2026-12-27 09:00", "full", -1, "", "weekly"},
          {"2026-12-28 09:00", "full", -1, "", "-"},
          {"2027-01-02 09:00", "full", -1, "", "weekly"},
          {"2027-01-04 09:00", "full", -1, "", "weekly"}}},
        {"year end, yearly and monthly", "Europe/Berlin", {.keep_monthly = 1, .keep_yearly = 1}, NULL, {NULL},
         {{"2025-12-31 23:30", "full", -1, "", "-"},
          {"2026-12-31 23:30", "full", -1, "", "yearly"},
          {"2027-01-01 00:30", "full", -1, "", "monthly"}}},
        /* Spring forward (29 Mar 2026, 02:00 CET -> 03:00 CEST): a 23-hour day. */
        {"DST spring day", "Europe/Berlin", {.keep_daily = 2}, NULL, {NULL},
         {{"2026-03-28 23:30", "full", -1, "", "daily"},
          {"2026-03-29 00:30", "full", -1, "", "-"},
          {"2026-03-29 23:30", "full", -1, "", "daily"}}},
        /* Fall back (25 Oct 2026, 03:00 CEST -> 02:00 CET): 02:30 happens twice, one hour. */
        {"DST autumn hour", "Europe/Berlin", {.keep_hourly = 3}, NULL, {NULL},
         {{"@1792888200", "full", -1, "", "-"},        /* 00:30Z = 02:30 CEST */
          {"@1792891800", "full", -1, "", "hourly"},   /* 01:30Z = 02:30 CET */
          {"@1792895400", "full", -1, "", "hourly"}}}, /* 02:30Z = 03:30 CET */
        {"DST autumn day", "Europe/Berlin", {.keep_daily = 2}, NULL, {NULL},
         {{"2026-10-24 23:50", "full", -1, "", "daily"},
          {"2026-10-25 00:10", "full", -1, "", "-"},
          {"2026-10-25 23:50", "full", -1, "", "daily"}}},
        /* keep-within counts calendar days in local time: 1d back from 12:00 CEST
         * on the spring day is 12:00 CET the day before (23 hours). */
        {"within across DST", "Europe/Berlin", {}, "1d", {NULL},
         {{"2026-03-28 11:30", "full", -1, "", "-"},
          {"2026-03-28 12:00", "full", -1, "", "within"},
          {"2026-03-29 12:00", "full", -1, "", "within"}}},
        {"within edges", "UTC", {}, "48h", {NULL},
         {{"2026-06-08 11:59:59", "full", -1, "", "-"},
          {"2026-06-08 12:00:00", "full", -1, "", "within"},
          {"2026-06-10 12:00:00", "full", -1, "", "within"}}},
        {"within keeps an hourly duplicate", "UTC", {.keep_hourly = 1}, "1h", {NULL},
         {{"2026-06-10 11:10", "full", -1, "", "-"},
          {"2026-06-10 12:10", "full", -1, "", "within"},
          {"2026-06-10 12:50", "full", -1, "", "hourly,within"}}},
        /* Leap day: one year back from 29 Feb 2028 normalizes to 1 Mar 2027. */
        {"leap day within", "Europe/Berlin", {}, "1y", {NULL},
         {{"2027-02-28 13:00", "full", -1, "", "-"},
          {"2027-03-01 12:00", "full", -1, "", "within"},
          {"2028-02-29 12:00", "full", -1, "", "within"}}},
        {"leap day daily, monthly", "Europe/Berlin", {.keep_daily = 2, .keep_monthly = 2}, NULL, {NULL},
         {{"2028-01-31 10:00", "full", -1, "", "monthly"},
          {"2028-02-01 10:00", "full", -1, "", "-"},
          {"2028-02-28 10:00", "full", -1, "", "-"},
          {"2028-02-29 10:00", "full", -1, "", "daily"},
          {"2028-03-01 10:00", "full", -1, "", "daily"}}},
        /* Chains: the kept incremental keeps the incrementals between and the full;
         * the kept differential keeps its full only. */
        {"incremental chain", "UTC", {.keep_daily = 1}, NULL, {NULL},
         {{"2026-06-01 10:00", "full", -1, "", "chain"},
          {"2026-06-02 10:00", "incremental", 0, "", "chain"},
          {"2026-06-03 10:00", "incremental", 1, "", "daily"}}},
        {"differential chain", "UTC", {.keep_daily = 1}, NULL, {NULL},
         {{"2026-06-01 10:00", "full", -1, "", "chain"},
          {"2026-06-02 10:00", "incremental", 0, "", "-"},
          {"2026-06-03 10:00", "differential", 0, "", "daily"}}},
        {"chains across the boundary", "UTC", {.keep_daily = 3}, NULL, {NULL},
         {{"2026-06-01 10:00", "full", -1, "", "-"},
          {"2026-06-02 10:00", "incremental", 0, "", "-"},
          {"2026-06-03 10:00", "full", -1, "", "chain"},
          {"2026-06-04 10:00", "incremental", 2, "", "chain"},
          {"2026-06-05 10:00", "incremental", 3, "", "daily"},
          {"2026-06-06 10:00", "full", -1, "", "daily"},
          {"2026-06-07 10:00", "incremental", 5, "", "daily"}}},
        /* A backup holding two groups counts in each group's series. */
        {"component series", "UTC", {.keep_last = 1}, NULL, {NULL},
         {{"2026-06-01 10:00", "full", -1, "SG1,SG2", "-"},
          {"2026-06-02 10:00", "full", -1, "SG1", "last"},
          {"2026-06-03 10:00", "full", -1, "SG2", "last"},
          {"2026-06-04 10:00", "full", -1, "", "last"}}},
        {"two series keep one record", "UTC", {.keep_last = 1}, NULL, {NULL},
         {{"2026-06-01 10:00", "full", -1, "SG1", "-"},
          {"2026-06-02 10:00", "full", -1, "SG1,SG2", "last"}}},
        {"--component selects", "UTC", {.keep_last = 1}, NULL, {"SG1"},
         {{"2026-06-01 10:00", "full", -1, "SG1", "-"},
          {"2026-06-02 10:00", "full", -1, "SG1,SG2", "other-component"},
          {"2026-06-03 10:00", "full", -1, "SG2", "not-selected"},
          {"2026-06-04 10:00", "full", -1, "SG1", "last"}}},
};

static void test_table(void **state) {
        int fails = 0;
        (void) state;
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                fails += run_row(&table[i]);
        assert_int_equal(fails, 0);
}

static void test_no_policy_refused(void **state) {
        repo_forget_policy p = {};
        repo_record rec = {.type = REPO_BACKUP_FULL}, *ptr = &rec;
        unsigned r;
        (void) state;
        assert_int_equal(repo_forget_plan(&ptr, 1, &p, &r), -EINVAL);
}

static void test_duration_parse(void **state) {
        repo_forget_policy p = {};
        (void) state;
        assert_int_equal(repo_forget_parse_duration("1y2m3w4d5h", &p), 0);
        assert_true(p.has_within && p.within_y == 1 && p.within_m == 2 && p.within_w == 3 && p.within_d == 4 &&
                    p.within_h == 5);
        assert_int_equal(repo_forget_parse_duration("36h", &p), 0);
        assert_int_equal(p.within_h, 36);
        assert_int_equal(p.within_d, 0);
        assert_int_equal(repo_forget_parse_duration("", &p), -EINVAL);
        assert_int_equal(repo_forget_parse_duration("5", &p), -EINVAL);
        assert_int_equal(repo_forget_parse_duration("1d2y", &p), -EINVAL);
        assert_int_equal(repo_forget_parse_duration("1x", &p), -EINVAL);
        assert_int_equal(repo_forget_parse_duration("-1d", &p), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_no_policy_refused),
                cmocka_unit_test(test_duration_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
