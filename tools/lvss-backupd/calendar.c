/* SPDX-License-Identifier: MIT */
/*
 * calendar: systemd.time(7) calendar expressions (the subset systemd 252
 * documents except `~` last-day-of-month, fractional seconds and time zones
 * other than UTC).
 *
 *   [WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [UTC]
 *
 * WEEKDAYS is a list of names or name ranges ("Mon..Fri,Sun"); every other
 * field is `*` or a list of items `A`, `A..B`, `A/R`, `A..B/R` (systemd
 * refuses `*` followed by a repetition, and so does this parser).
 * Missing date = `*-*-*`, missing time = 00:00:00, missing seconds = 00.
 * Shorthands: minutely hourly daily weekly monthly yearly annually quarterly
 * semiannually.
 *
 * Evaluation follows systemd's find_next(): walk the fields from year down
 * to second; a field that does not match moves to its next matching value
 * (resetting the lower fields) or carries into the field above; after every
 * change the broken-down time is normalized with mktime() (local time): when
 * mktime() moves it forward (a day 31 in a 30-day month, a wall-clock time
 * skipped by a DST change) the search starts over from the normalized time,
 * when it moves it backward the field carries; a wall-clock time repeated by
 * a DST change elapses once.  No I/O, no global state.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "calendar.h"
#include "lib/core/error-slot.h"

enum { F_YEAR, F_MONTH, F_DAY, F_HOUR, F_MINUTE, F_SECOND, F_MAX };
#define MAX_ITEMS 32

typedef struct item {
        int start, stop, step; /* {start, start+step, ...} <= stop */
} item;

typedef struct field {
        bool any;
        int n;
        item it[MAX_ITEMS];
} field;

struct calendar_spec {
        unsigned weekdays; /* bit 0 = Monday ... bit 6 = Sunday; 0x7f = any */
        bool utc;
        field f[F_MAX];
};

static const int field_min[F_MAX] = {1970, 1, 1, 0, 0, 0};
static const int field_max[F_MAX] = {2199, 12, 31, 23, 59, 59};
static const char *const wdays[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const wdays_long[7] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

static int bad(const char *expr, const char *reason) {
        return error_slot_set(NULL, -EINVAL, "calendar expression '%s': %s", expr, reason);
}

static int parse_int(const char **p, int *ret) {
        char *end;
        if (!isdigit((unsigned char) **p))
                return -EINVAL;
        long v = strtol(*p, &end, 10);
        if (end - *p > 4 || v > 9999)
                return -EINVAL;
        *p = end;
        *ret = (int) v;
        return 0;
}

/* One field: "*", "*\/R" or a comma list of A, A..B, A/R, A..B/R. */
static int parse_field(const char *s, size_t len, int fi, field *f) {
        char buf[128];
        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, len);
        buf[len] = 0;
        *f = (field){0};
        if (strcmp(buf, "*") == 0) {
                f->any = true;
                return 0;
        }
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                const char *p = tok;
                item it;
                int step = 0;
                bool star = false;
                if (f->n >= MAX_ITEMS)
                        return -EINVAL;
                if (*p == '*') {
                        star = true;
                        p++;
                        it.start = field_min[fi];
                        it.stop = field_max[fi];
                } else {
                        if (parse_int(&p, &it.start) < 0)
                                return -EINVAL;
                        it.stop = it.start;
                        if (p[0] == '.' && p[1] == '.') {
                                p += 2;
                                if (parse_int(&p, &it.stop) < 0 || it.stop < it.start)
                                        return -EINVAL;
                                step = 1;
                        }
                }
                if (*p == '/') {
                        if (star)
                                return -EINVAL; /* systemd refuses "*\/R" */
                        p++;
                        if (parse_int(&p, &step) < 0 || step <= 0)
                                return -EINVAL;
                        if (!star && it.stop == it.start)
                                it.stop = field_max[fi];
                } else if (star)
                        return -EINVAL; /* "*" inside a list */
                if (*p)
                        return -EINVAL;
                if (it.start < field_min[fi] || it.start > field_max[fi] || it.stop > field_max[fi])
                        return -ERANGE;
                it.step = step ? step : 1;
                f->it[f->n++] = it;
        }
        return f->n ? 0 : -EINVAL;
}

static int parse_parts(const char *s, char sep, int first, int n_max, int n_min, calendar_spec *c) {
        const char *parts[3];
        size_t lens[3];
        int n = 0;
        const char *p = s;
        for (;;) {
                const char *e = strchr(p, sep);
                if (n >= 3)
                        return -EINVAL;
                parts[n] = p;
                lens[n] = e ? (size_t) (e - p) : strlen(p);
                n++;
                if (!e)
                        break;
                p = e + 1;
        }
        if (n < n_min || n > n_max)
                return -EINVAL;
        int fi = first + (n_max - n); /* date: a missing year is the first part */
        if (sep == ':')
                fi = first;
        for (int i = 0; i < n; i++) {
                int r = parse_field(parts[i], lens[i], fi + i, &c->f[fi + i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int weekday_index(const char *s, size_t len) {
        for (int i = 0; i < 7; i++)
                if ((len == 3 && strncasecmp(s, wdays[i], 3) == 0) ||
                    (len == strlen(wdays_long[i]) && strncasecmp(s, wdays_long[i], len) == 0))
                        return i;
        return -1;
}

static int parse_weekdays(const char *s, unsigned *ret) {
        unsigned bits = 0;
        const char *p = s;
        while (*p) {
                size_t l = strcspn(p, ",.-");
                int a = weekday_index(p, l), b;
                if (a < 0)
                        return -EINVAL;
                p += l;
                b = a;
                if (p[0] == '.' && p[1] == '.') {
                        p += 2;
                        l = strcspn(p, ",.-");
                        b = weekday_index(p, l);
                        if (b < 0)
                                return -EINVAL;
                        p += l;
                } else if (p[0] == '-') {
                        p++;
                        l = strcspn(p, ",.-");
                        b = weekday_index(p, l);
                        if (b < 0)
                                return -EINVAL;
                        p += l;
                }
                if (b < a)
                        return -EINVAL;
                for (int i = a; i <= b; i++)
                        bits |= 1u << i;
                if (*p == ',')
                        p++;
                else if (*p)
                        return -EINVAL;
        }
        *ret = bits;
        return bits ? 0 : -EINVAL;
}

static const struct {
        const char *name, *expr;
} shorthands[] = {
        {"minutely", "*-*-* *:*:00"},
        {"hourly", "*-*-* *:00:00"},
        {"daily", "*-*-* 00:00:00"},
        {"monthly", "*-*-01 00:00:00"},
        {"weekly", "Mon *-*-* 00:00:00"},
        {"yearly", "*-01-01 00:00:00"},
        {"annually", "*-01-01 00:00:00"},
        {"quarterly", "*-01,04,07,10-01 00:00:00"},
        {"semiannually", "*-01,07-01 00:00:00"},
};

int calendar_parse(const char *expr, calendar_spec **ret) {
        char buf[256], *tok[5], *save = NULL;
        int n = 0;

        if (!expr || strlen(expr) >= sizeof(buf))
                return bad(expr ? "(long)" : "(none)", expr ? "too long" : "missing");
        snprintf(buf, sizeof(buf), "%s", expr);
        for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
                if (n >= 4)
                        return bad(expr, "too many words");
                tok[n++] = t;
        }
        if (n == 0)
                return bad(expr, "empty");

        calendar_spec *c = calloc(1, sizeof(*c));
        if (!c)
                return error_slot_set(NULL, -ENOMEM, "out of memory");
        c->weekdays = 0x7f;
        if (n > 1 && strcasecmp(tok[n - 1], "UTC") == 0) {
                c->utc = true;
                n--;
        }
        for (size_t i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++)
                if (n == 1 && strcasecmp(tok[0], shorthands[i].name) == 0) {
                        bool utc = c->utc;
                        free(c);
                        int r = calendar_parse(shorthands[i].expr, ret);
                        if (r >= 0)
                                (*ret)->utc = utc;
                        return r;
                }

        int i = 0;
        bool have_date = false, have_time = false;
        if (isalpha((unsigned char) tok[0][0])) {
                if (parse_weekdays(tok[0], &c->weekdays) < 0)
                        goto fail;
                i = 1;
        }
        for (; i < n; i++) {
                if (strchr(tok[i], ':')) {
                        if (have_time || parse_parts(tok[i], ':', F_HOUR, 3, 2, c) < 0)
                                goto fail;
                        have_time = true;
                } else if (strchr(tok[i], '-') && !have_time) {
                        if (have_date || parse_parts(tok[i], '-', F_YEAR, 3, 2, c) < 0)
                                goto fail;
                        have_date = true;
                } else
                        goto fail;
        }
        if (!have_date)
                c->f[F_YEAR].any = c->f[F_MONTH].any = c->f[F_DAY].any = true;
        else if (c->f[F_YEAR].n == 0)
                c->f[F_YEAR].any = true;
        if (!have_time) {
                c->f[F_HOUR] = (field){.n = 1, .it = {{0, 0, 1}}};
                c->f[F_MINUTE] = c->f[F_HOUR];
        }
        if (c->f[F_SECOND].n == 0 && !c->f[F_SECOND].any)
                c->f[F_SECOND] = (field){.n = 1, .it = {{0, 0, 1}}};
        if (!have_date && !have_time && c->weekdays == 0x7f)
                goto fail;
        *ret = c;
        return 0;
fail:
        free(c);
        return bad(expr, "not a systemd.time(7) calendar event");
}

calendar_spec *calendar_free(calendar_spec *c) {
        free(c);
        return NULL;
}

/* Smallest value >= *val that the field holds: 0 unchanged, 1 moved, -1 none. */
static int field_next(const field *f, int *val) {
        if (f->any)
                return 0;
        long best = -1;
        for (int i = 0; i < f->n; i++) {
                const item *it = &f->it[i];
                long v;
                if (*val <= it->start)
                        v = it->start;
                else {
                        long k = (*val - it->start + it->step - 1) / it->step;
                        v = it->start + k * it->step;
                }
                if (v > it->stop)
                        continue;
                if (best < 0 || v < best)
                        best = v;
        }
        if (best < 0)
                return -1;
        if (best == *val)
                return 0;
        *val = (int) best;
        return 1;
}

static time_t mk(struct tm *t, bool utc) {
        t->tm_isdst = -1;
        return utc ? timegm(t) : mktime(t);
}

/* Did mktime() normalize T?  1: no (in bounds); 0: it moved T forward (T is
 * replaced by the normalized time with the fields below the first changed
 * one reset, and the search starts over); -1: it moved T backward or failed. */
static int within_bounds(struct tm *t, bool utc) {
        struct tm n = *t;
        int cmp;

        if (t->tm_year + 1900 > field_max[F_YEAR] || mk(&n, utc) == (time_t) -1)
                return -1;
#define CMP3(a, b) ((a) < (b) ? -1 : (a) > (b))
        if ((cmp = CMP3(n.tm_year, t->tm_year)) != 0)
                n.tm_mon = 0;
        else if ((cmp = CMP3(n.tm_mon, t->tm_mon)) != 0)
                n.tm_mday = 1;
        else if ((cmp = CMP3(n.tm_mday, t->tm_mday)) != 0)
                n.tm_hour = 0;
        else if ((cmp = CMP3(n.tm_hour, t->tm_hour)) != 0)
                n.tm_min = 0;
        else if ((cmp = CMP3(n.tm_min, t->tm_min)) != 0)
                n.tm_sec = 0;
        else
                cmp = CMP3(n.tm_sec, t->tm_sec);
#undef CMP3
        if (cmp < 0)
                return -1;
        if (cmp > 0)
                *t = n;
        return cmp == 0;
}

static bool weekday_ok(unsigned bits, const struct tm *t, bool utc) {
        struct tm n = *t;
        if (bits == 0x7f)
                return true;
        if (mk(&n, utc) == (time_t) -1)
                return false;
        int k = n.tm_wday == 0 ? 6 : n.tm_wday - 1;
        return bits & (1u << k);
}

int calendar_next(const calendar_spec *c, int64_t base, int64_t *ret) {
        time_t t = (time_t) base + 1;
        struct tm tm;
        int r;

        if (!(c->utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)))
                return -EINVAL;
        for (int guard = 0; guard < 100000; guard++) {
                (void) mk(&tm, c->utc);
                if (tm.tm_year + 1900 > field_max[F_YEAR])
                        return -ENOENT;

                int v = tm.tm_year + 1900;
                r = field_next(&c->f[F_YEAR], &v);
                if (r < 0)
                        return -ENOENT;
                tm.tm_year = v - 1900;
                if (r > 0) {
                        tm.tm_mon = 0;
                        tm.tm_mday = 1;
                        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
                }
                if (within_bounds(&tm, c->utc) < 0)
                        return -ENOENT;

                v = tm.tm_mon + 1;
                r = field_next(&c->f[F_MONTH], &v);
                tm.tm_mon = v - 1;
                if (r > 0) {
                        tm.tm_mday = 1;
                        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
                }
                if (r < 0 || (r = within_bounds(&tm, c->utc)) < 0) {
                        tm.tm_year++;
                        tm.tm_mon = 0;
                        tm.tm_mday = 1;
                        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
                        continue;
                }
                if (r == 0)
                        continue;

                r = field_next(&c->f[F_DAY], &tm.tm_mday);
                if (r > 0)
                        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
                if (r < 0 || (r = within_bounds(&tm, c->utc)) < 0) {
                        tm.tm_mon++;
                        tm.tm_mday = 1;
                        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
                        continue;
                }
                if (r == 0)
                        continue;
                if (!weekday_ok(c->weekdays, &tm, c->utc)) {
                        tm.tm_mday++;
                        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
                        continue;
                }

                r = field_next(&c->f[F_HOUR], &tm.tm_hour);
                if (r > 0)
                        tm.tm_min = tm.tm_sec = 0;
                if (r < 0 || (r = within_bounds(&tm, c->utc)) < 0) {
                        tm.tm_mday++;
                        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
                        continue;
                }
                if (r == 0)
                        continue;

                r = field_next(&c->f[F_MINUTE], &tm.tm_min);
                if (r > 0)
                        tm.tm_sec = 0;
                if (r < 0 || (r = within_bounds(&tm, c->utc)) < 0) {
                        tm.tm_hour++;
                        tm.tm_min = tm.tm_sec = 0;
                        continue;
                }
                if (r == 0)
                        continue;

                r = field_next(&c->f[F_SECOND], &tm.tm_sec);
                if (r < 0 || (r = within_bounds(&tm, c->utc)) < 0) {
                        tm.tm_min++;
                        tm.tm_sec = 0;
                        continue;
                }
                if (r == 0)
                        continue;
                time_t out = mk(&tm, c->utc);
                if (out == (time_t) -1)
                        return -ENOENT;
                *ret = out;
                return 0;
        }
        return -ENOENT;
}

static size_t put_field(const field *f, int width, char *buf, size_t size) {
        size_t o = 0;
        if (f->any)
                return (size_t) snprintf(buf, size, "*");
        for (int i = 0; i < f->n && o < size; i++) {
                const item *it = &f->it[i];
                o += (size_t) snprintf(buf + o, size - o, "%s%0*d", i ? "," : "", width, it->start);
                if (o >= size)
                        break;
                if (it->stop != it->start && it->step == 1)
                        o += (size_t) snprintf(buf + o, size - o, "..%0*d", width, it->stop);
                else if (it->step > 1)
                        o += (size_t) snprintf(buf + o, size - o, "/%d", it->step);
        }
        return o;
}

int calendar_normalize(const calendar_spec *c, char *buf, size_t size) {
        size_t o = 0;
        if (c->weekdays != 0x7f) {
                for (int i = 0; i < 7 && o < size; i++) {
                        if (!(c->weekdays & (1u << i)))
                                continue;
                        int j = i;
                        while (j + 1 < 7 && (c->weekdays & (1u << (j + 1))))
                                j++;
                        o += (size_t) snprintf(buf + o, size - o, "%s%s", o ? "," : "", wdays[i]);
                        if (j > i && o < size)
                                o += (size_t) snprintf(buf + o, size - o, "%s%s", j > i + 1 ? ".." : ",", wdays[j]);
                        i = j;
                }
                if (o < size)
                        o += (size_t) snprintf(buf + o, size - o, " ");
        }
        static const char seps[F_MAX] = {'-', '-', ' ', ':', ':', 0};
        for (int fi = 0; fi < F_MAX && o < size; fi++) {
                o += put_field(&c->f[fi], fi == F_YEAR ? 4 : 2, buf + o, size - o);
                if (seps[fi] && o < size)
                        o += (size_t) snprintf(buf + o, size - o, "%c", seps[fi]);
        }
        if (c->utc && o < size)
                o += (size_t) snprintf(buf + o, size - o, " UTC");
        return o < size ? 0 : -ENOBUFS;
}
