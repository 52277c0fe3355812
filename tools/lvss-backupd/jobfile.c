/* SPDX-License-Identifier: MIT */
/*
 * jobfile: the parser and validator of one job document (the format is in
 * docs/design/service.md section 1 and lvss-backupd(8)).  No I/O and no
 * Manager, so that tests/fuzz/backupd drives it alone.  Everything a file or
 * a SetJob caller controls is bounded (jobfile.h, J4): the document's size,
 * every string, the component list and the calendar expressions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error-slot.h"
#include "jobfile.h"
#include "macro.h"

static const char *const sched_names[_SCHED_MAX] = {"full", "incremental", "differential", "copy", "prune", "check",
                                                   "sync"};

const char *sched_name(int k) {
        return k >= 0 && k < _SCHED_MAX ? sched_names[k] : NULL;
}

bool job_name_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > 64 || name[0] == '.' || name[0] == '-')
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                      *p == '-' || *p == '.'))
                        return false;
        return true;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;
        for (int k = 0; k < _SCHED_MAX; k++) {
                free(j->expr[k]);
                calendar_free(j->cal[k]);
        }
        json_decref(j->doc);
        free(j->error);
        free(j->name);
        free(j);
        return NULL;
}

/* Raise the reason into the thread's slot (lib/core/error-slot.h); -EINVAL. */
#define bad(...) error_slot_set(NULL, -EINVAL, __VA_ARGS__)

static int set_sched(Job *j, int k, json_t *v) {
        if (!json_is_string(v) || json_string_length(v) > JOB_MAX_CALENDAR) {
                bad("schedule '%s': expected a calendar expression string (at most %d bytes)", sched_names[k],
                    JOB_MAX_CALENDAR);
                return -EINVAL;
        }
        if (calendar_parse(json_string_value(v), &j->cal[k]) < 0)
                return bad("schedule '%s': %s", sched_names[k], error_slot_get(NULL));
        j->expr[k] = strdup(json_string_value(v));
        return j->expr[k] ? 0 : -ENOMEM;
}

/* A string of at most MAX bytes; an absolute path when PATH. */
static bool str_ok(json_t *v, size_t max, bool path) {
        return json_is_string(v) && json_string_length(v) <= max && (!path || json_string_value(v)[0] == '/');
}

/* sync's "to": an absolute path, or an S3 location (lvss-backup parses the rest); no control characters. */
static bool sync_to_ok(json_t *v) {
        if (!str_ok(v, JOB_MAX_PATH, false))
                return false;
        const char *t = json_string_value(v);
        for (const char *p = t; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return false;
        return t[0] == '/' || strncmp(t, "s3:http://", 10) == 0 || strncmp(t, "s3:https://", 11) == 0;
}

static int parse_sync(Job *j, json_t *v) {
        const char *k;
        json_t *e;
        if (!json_is_object(v)) {
                bad("'sync': expected {\"to\": \"s3:https://HOST/BUCKET/PREFIX\" or \"/path\", \"schedule\": ...}");
                return -EINVAL;
        }
        json_object_foreach(v, k, e) {
                if (strcmp(k, "to") == 0) {
                        if (!sync_to_ok(e)) {
                                bad("'sync': 'to' expects an absolute path or s3:http[s]://... "
                                    "(at most %d bytes, no control characters)",
                                    JOB_MAX_PATH);
                                return -EINVAL;
                        }
                        j->sync_to = json_string_value(e);
                } else if (strcmp(k, "password_file") == 0 || strcmp(k, "credentials_file") == 0) {
                        if (!str_ok(e, JOB_MAX_PATH, true)) {
                                bad("'sync': '%s' expects an absolute path (at most %d bytes)", k, JOB_MAX_PATH);
                                return -EINVAL;
                        }
                        if (k[0] == 'p')
                                j->sync_password_file = json_string_value(e);
                        else
                                j->sync_credentials_file = json_string_value(e);
                } else if (strcmp(k, "schedule") == 0) {
                        int r = set_sched(j, SCHED_SYNC, e);
                        if (r < 0)
                                return r;
                } else {
                        bad("'sync': unknown key '%.64s' (to, schedule, password_file, credentials_file)", k);
                        return -EINVAL;
                }
        }
        if (!j->sync_to || !j->expr[SCHED_SYNC]) {
                bad("'sync': 'to' and 'schedule' are required");
                return -EINVAL;
        }
        return 0;
}

static const char *const retention_keys[] = {"keep_last",    "keep_hourly", "keep_daily", "keep_weekly",
                                             "keep_monthly", "keep_yearly", "keep_within"};

static int job_from_json(const char *name, json_t *doc, Job **ret) {
        Job *j = calloc(1, sizeof(*j));
        const char *key;
        json_t *v;
        int r = -EINVAL;

        if (!j || !(j->name = strdup(name))) {
                free(j);
                return error_slot_set(NULL, -ENOMEM, "out of memory");
        }
        j->doc = json_incref(doc);
        if (!json_is_object(doc)) {
                bad("expected a JSON object");
                goto fail;
        }
        json_object_foreach(doc, key, v) {
                if (strcmp(key, "repository") == 0) {
                        if (!str_ok(v, JOB_MAX_PATH, true)) {
                                bad("'repository': expected an absolute path (at most %d bytes)", JOB_MAX_PATH);
                                goto fail;
                        }
                        j->repository = json_string_value(v);
                } else if (strcmp(key, "password_file") == 0) {
                        if (!str_ok(v, JOB_MAX_PATH, true)) {
                                bad("'password_file': expected an absolute path (at most %d bytes)", JOB_MAX_PATH);
                                goto fail;
                        }
                        j->password_file = json_string_value(v);
                } else if (strcmp(key, "components") == 0) {
                        size_t i;
                        json_t *c;
                        if (!json_is_array(v) || json_array_size(v) > JOB_MAX_COMPONENTS) {
                                bad("'components': expected an array of at most %d component paths",
                                    JOB_MAX_COMPONENTS);
                                goto fail;
                        }
                        json_array_foreach(v, i, c) if (!str_ok(c, JOB_MAX_PATH, false) || !*json_string_value(c)) {
                                bad("'components'[%zu]: expected a component path (at most %d bytes)", i, JOB_MAX_PATH);
                                goto fail;
                        }
                        j->components = v;
                } else if (strcmp(key, "schedule") == 0) {
                        const char *t;
                        json_t *e;
                        if (!json_is_object(v)) {
                                bad("'schedule': expected an object {\"full\": \"Sun 01:00\", ...}");
                                goto fail;
                        }
                        json_object_foreach(v, t, e) {
                                int k;
                                for (k = SCHED_FULL; k <= SCHED_COPY; k++)
                                        if (strcmp(t, sched_names[k]) == 0)
                                                break;
                                if (k > SCHED_COPY) {
                                        bad("'schedule': unknown backup type '%s' "
                                            "(full, incremental, differential, copy)",
                                            t);
                                        goto fail;
                                }
                                if ((r = set_sched(j, k, e)) < 0)
                                        goto fail;
                        }
                } else if (strcmp(key, "retention") == 0) {
                        const char *t;
                        json_t *e;
                        if (!json_is_object(v)) {
                                bad("'retention': expected an object of keep_* options");
                                goto fail;
                        }
                        json_object_foreach(v, t, e) {
                                size_t i;
                                for (i = 0; i < ELEMENTSOF(retention_keys); i++)
                                        if (strcmp(t, retention_keys[i]) == 0)
                                                break;
                                if (i == ELEMENTSOF(retention_keys)) {
                                        bad("'retention': unknown option '%s'", t);
                                        goto fail;
                                }
                                if (i == 6 ? !str_ok(e, JOB_MAX_WORD, false)
                                           : (!json_is_integer(e) || json_integer_value(e) < 0 ||
                                              json_integer_value(e) > 1000000)) {
                                        bad("'retention': '%s' expects %s", t,
                                            i == 6 ? "a duration string (e.g. \"30d\")" : "a count");
                                        goto fail;
                                }
                        }
                        j->retention = v;
                } else if (strcmp(key, "prune") == 0) {
                        if ((r = set_sched(j, SCHED_PRUNE, v)) < 0)
                                goto fail;
                } else if (strcmp(key, "check") == 0) {
                        json_t *s = json_is_object(v) ? json_object_get(v, "schedule") : v;
                        if (json_is_object(v)) {
                                json_t *sub = json_object_get(v, "read_data_subset");
                                if (sub && !str_ok(sub, JOB_MAX_WORD, false)) {
                                        bad("'check': 'read_data_subset' expects a string like \"5%%\"");
                                        goto fail;
                                }
                                j->check_subset = sub ? json_string_value(sub) : NULL;
                        }
                        if ((r = set_sched(j, SCHED_CHECK, s)) < 0)
                                goto fail;
                } else if (strcmp(key, "notify") == 0) {
                        json_t *on = json_object_get(v, "on"), *x;
                        size_t i;
                        if (!json_is_object(v) || (on && (!json_is_array(on) || json_array_size(on) > 2))) {
                                bad("'notify': expected {\"mail_to\": ..., \"on\": [\"failure\", \"success\"]}");
                                goto fail;
                        }
                        json_array_foreach(on, i,
                                           x) if (!json_is_string(x) || (strcmp(json_string_value(x), "failure") != 0 &&
                                                                         strcmp(json_string_value(x), "success") != 0)) {
                                bad("'notify': 'on' takes \"failure\" and \"success\"");
                                goto fail;
                        }
                        const char *sk;
                        json_t *sv;
                        json_object_foreach(v, sk, sv) {
                                if (strcmp(sk, "on") == 0)
                                        continue;
                                if ((strcmp(sk, "mail_to") != 0 && strcmp(sk, "sendmail") != 0 && strcmp(sk, "exec") != 0) ||
                                    !str_ok(sv, JOB_MAX_PATH, false)) {
                                        bad("'notify': unknown key, or not a string of at most %d bytes: '%s'",
                                            JOB_MAX_PATH, sk);
                                        goto fail;
                                }
                        }
                        j->notify = v;
                } else if (strcmp(key, "sync") == 0) {
                        if ((r = parse_sync(j, v)) < 0)
                                goto fail;
                } else if (strcmp(key, "randomized_delay_sec") == 0) {
                        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 86400) {
                                bad("'randomized_delay_sec': expected seconds (0-86400)");
                                goto fail;
                        }
                        j->randomized_delay = json_integer_value(v);
                } else {
                        bad("unknown key '%.64s'", key);
                        goto fail;
                }
        }
        if (!j->repository) {
                bad("'repository' is required");
                goto fail;
        }
        if (j->sync_to && strcmp(j->sync_to, j->repository) == 0) {
                bad("'sync': 'to' is the job's own repository");
                goto fail;
        }
        *ret = j;
        return 0;
fail:
        job_free(j);
        return r == -ENOMEM ? r : -EINVAL;
}

int job_parse(const char *name, const char *data, size_t size, Job **ret, int *ret_line) {
        json_error_t je;
        *ret_line = 0;
        if (size > JOB_FILE_MAX_BYTES) {
                bad("larger than %u bytes", JOB_FILE_MAX_BYTES);
                return -EINVAL;
        }
        /* JSON_REJECT_DUPLICATES; no JSON_ALLOW_NUL: a \u0000 in a string is refused. */
        json_t *doc = json_loadb(data, size, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
                *ret_line = je.line;
                bad("%s", je.text);
                return -EINVAL;
        }
        int r = job_from_json(name, doc, ret);
        json_decref(doc);
        return r;
}
