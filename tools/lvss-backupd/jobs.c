/* SPDX-License-Identifier: MIT */
/*
 * jobs: loading, validating and atomically rewriting the job files.  Each
 * file is opened O_NOFOLLOW and must be a regular file; jansson reports the
 * line of a syntax error, which lands in the job's `error`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs.h"
#include "macro.h"

static const char *const sched_names[_SCHED_MAX] = {"full", "incremental", "differential", "copy", "prune", "check"};

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

static int set_sched(Job *j, int k, json_t *v, char *why, size_t n) {
        char cwhy[256];
        if (!json_is_string(v)) {
                snprintf(why, n, "schedule '%s': expected a calendar expression string", sched_names[k]);
                return -EINVAL;
        }
        if (calendar_parse(json_string_value(v), &j->cal[k], cwhy, sizeof(cwhy)) < 0) {
                snprintf(why, n, "schedule '%s': %s", sched_names[k], cwhy);
                return -EINVAL;
        }
        j->expr[k] = strdup(json_string_value(v));
        return j->expr[k] ? 0 : -ENOMEM;
}

static const char *const retention_keys[] = {"keep_last",    "keep_hourly", "keep_daily", "keep_weekly",
                                             "keep_monthly", "keep_yearly", "keep_within"};

int job_from_json(const char *name, json_t *doc, Job **ret, char *why, size_t n) {
        Job *j = calloc(1, sizeof(*j));
        const char *key;
        json_t *v;
        int r = -EINVAL;

        if (!j || !(j->name = strdup(name))) {
                free(j);
                return -ENOMEM;
        }
        j->doc = json_incref(doc);
        if (!json_is_object(doc)) {
                snprintf(why, n, "expected a JSON object");
                goto fail;
        }
        json_object_foreach(doc, key, v) {
                if (strcmp(key, "repository") == 0) {
                        if (!json_is_string(v) || json_string_value(v)[0] != '/') {
                                snprintf(why, n, "'repository': expected an absolute path");
                                goto fail;
                        }
                        j->repository = json_string_value(v);
                } else if (strcmp(key, "password_file") == 0) {
                        if (!json_is_string(v) || json_string_value(v)[0] != '/') {
                                snprintf(why, n, "'password_file': expected an absolute path");
                                goto fail;
                        }
                        j->password_file = json_string_value(v);
                } else if (strcmp(key, "components") == 0) {
                        size_t i;
                        json_t *c;
                        if (!json_is_array(v)) {
                                snprintf(why, n, "'components': expected an array of component paths");
                                goto fail;
                        }
                        json_array_foreach(v, i, c) if (!json_is_string(c) || !*json_string_value(c)) {
                                snprintf(why, n, "'components'[%zu]: expected a component path", i);
                                goto fail;
                        }
                        j->components = v;
                } else if (strcmp(key, "schedule") == 0) {
                        const char *t;
                        json_t *e;
                        if (!json_is_object(v)) {
                                snprintf(why, n, "'schedule': expected an object {\"full\": \"Sun 01:00\", ...}");
                                goto fail;
                        }
                        json_object_foreach(v, t, e) {
                                int k;
                                for (k = SCHED_FULL; k <= SCHED_COPY; k++)
                                        if (strcmp(t, sched_names[k]) == 0)
                                                break;
                                if (k > SCHED_COPY) {
                                        snprintf(
                                                why, n,
                                                "'schedule': unknown backup type '%s' (full, incremental, differential, copy)",
                                                t);
                                        goto fail;
                                }
                                if ((r = set_sched(j, k, e, why, n)) < 0)
                                        goto fail;
                        }
                } else if (strcmp(key, "retention") == 0) {
                        const char *t;
                        json_t *e;
                        if (!json_is_object(v)) {
                                snprintf(why, n, "'retention': expected an object of keep_* options");
                                goto fail;
                        }
                        json_object_foreach(v, t, e) {
                                size_t i;
                                for (i = 0; i < ELEMENTSOF(retention_keys); i++)
                                        if (strcmp(t, retention_keys[i]) == 0)
                                                break;
                                if (i == ELEMENTSOF(retention_keys)) {
                                        snprintf(why, n, "'retention': unknown option '%s'", t);
                                        goto fail;
                                }
                                if (i == 6 ? !json_is_string(e)
                                           : (!json_is_integer(e) || json_integer_value(e) < 0 ||
                                              json_integer_value(e) > 1000000)) {
                                        snprintf(why, n, "'retention': '%s' expects %s", t,
                                                 i == 6 ? "a duration string (e.g. \"30d\")" : "a count");
                                        goto fail;
                                }
                        }
                        j->retention = v;
                } else if (strcmp(key, "prune") == 0) {
                        if ((r = set_sched(j, SCHED_PRUNE, v, why, n)) < 0)
                                goto fail;
                } else if (strcmp(key, "check") == 0) {
                        json_t *s = json_is_object(v) ? json_object_get(v, "schedule") : v;
                        if (json_is_object(v)) {
                                json_t *sub = json_object_get(v, "read_data_subset");
                                if (sub && !json_is_string(sub)) {
                                        snprintf(why, n, "'check': 'read_data_subset' expects a string like \"5%%\"");
                                        goto fail;
                                }
                                j->check_subset = sub ? json_string_value(sub) : NULL;
                        }
                        if ((r = set_sched(j, SCHED_CHECK, s, why, n)) < 0)
                                goto fail;
                } else if (strcmp(key, "notify") == 0) {
                        json_t *on = json_object_get(v, "on"), *x;
                        size_t i;
                        if (!json_is_object(v) || (on && !json_is_array(on))) {
                                snprintf(why, n,
                                         "'notify': expected {\"mail_to\": ..., \"on\": [\"failure\", \"success\"]}");
                                goto fail;
                        }
                        json_array_foreach(on, i,
                                           x) if (!json_is_string(x) || (strcmp(json_string_value(x), "failure") != 0 &&
                                                                         strcmp(json_string_value(x), "success") != 0)) {
                                snprintf(why, n, "'notify': 'on' takes \"failure\" and \"success\"");
                                goto fail;
                        }
                        const char *sk;
                        json_t *sv;
                        json_object_foreach(v, sk, sv) {
                                if (strcmp(sk, "on") == 0)
                                        continue;
                                if ((strcmp(sk, "mail_to") != 0 && strcmp(sk, "sendmail") != 0 && strcmp(sk, "exec") != 0) ||
                                    !json_is_string(sv)) {
                                        snprintf(why, n, "'notify': unknown or non-string key '%s'", sk);
                                        goto fail;
                                }
                        }
                        j->notify = v;
                } else if (strcmp(key, "randomized_delay_sec") == 0) {
                        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 86400) {
                                snprintf(why, n, "'randomized_delay_sec': expected seconds (0-86400)");
                                goto fail;
                        }
                        j->randomized_delay = json_integer_value(v);
                } else {
                        snprintf(why, n, "unknown key '%s'", key);
                        goto fail;
                }
        }
        if (!j->repository) {
                snprintf(why, n, "'repository' is required");
                goto fail;
        }
        *ret = j;
        return 0;
fail:
        job_free(j);
        return r == -ENOMEM ? r : -EINVAL;
}

static Job *job_broken(const char *name, const char *error) {
        Job *j = calloc(1, sizeof(*j));
        if (!j)
                return NULL;
        j->name = strdup(name);
        j->error = strdup(error);
        if (!j->name || !j->error)
                return job_free(j);
        return j;
}

static Job *job_load_one(Manager *m, int dfd, const char *file) {
        char name[128], why[512], err[700];
        size_t l = strlen(file) - strlen(".json");
        snprintf(name, sizeof(name), "%.*s", (int) l, file);
        _cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        struct stat st;
        json_error_t je;
        Job *j = NULL;

        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(err, sizeof(err), "%s: %s", file, fd < 0 ? strerror(errno) : "not a regular file");
                goto broken;
        }
        FILE *f = fdopen(TAKE_FD(fd), "r");
        if (!f) {
                snprintf(err, sizeof(err), "%s: %s", file, strerror(errno));
                goto broken;
        }
        json_t *doc = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
        fclose(f);
        if (!doc) {
                snprintf(err, sizeof(err), "%s:%d: %s", file, je.line, je.text);
                goto broken;
        }
        if (!job_name_valid(name)) {
                json_decref(doc);
                snprintf(err, sizeof(err), "%s: job names are letters, digits, '_', '-', '.'", file);
                goto broken;
        }
        int r = job_from_json(name, doc, &j, why, sizeof(why));
        json_decref(doc);
        if (r < 0) {
                snprintf(err, sizeof(err), "%s: %s", file, why);
                goto broken;
        }
        return j;
broken:
        manager_log(NULL, "job %s ignored: %s", name, err);
        return job_broken(name, err);
}

static int cmp_jobs(const void *a, const void *b) {
        return strcmp((*(Job *const *) a)->name, (*(Job *const *) b)->name);
}

int jobs_load(Manager *m) {
        _cleanup_close_ int dfd = open(m->config_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        Job **jobs = NULL;
        size_t n = 0;

        if (dfd < 0) {
                if (errno != ENOENT)
                        return -errno;
        } else {
                DIR *d = fdopendir(dup(dfd));
                struct dirent *de;
                if (!d)
                        return -errno;
                while ((de = readdir(d))) {
                        size_t l = strlen(de->d_name);
                        if (de->d_name[0] == '.' || l <= 5 || strcmp(de->d_name + l - 5, ".json") != 0)
                                continue;
                        Job *j = job_load_one(m, dfd, de->d_name);
                        Job **nj = j ? reallocarray(jobs, n + 1, sizeof(*jobs)) : NULL; // NOLINT(bugprone-sizeof-expression): an array of pointers
                        if (!nj) {
                                job_free(j);
                                continue;
                        }
                        jobs = nj;
                        jobs[n++] = j;
                }
                closedir(d);
        }
        qsort(jobs, n, sizeof(*jobs), cmp_jobs); // NOLINT(bugprone-sizeof-expression): an array of pointers
        for (size_t i = 0; i < m->n_jobs; i++)
                job_free(m->jobs[i]);
        free(m->jobs);
        m->jobs = jobs;
        m->n_jobs = n;
        return 0;
}

Job *job_find(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_jobs; i++)
                if (strcmp(m->jobs[i]->name, name) == 0)
                        return m->jobs[i];
        return NULL;
}

int job_set(Manager *m, const char *name, const char *text, char *why, size_t n) {
        json_error_t je;
        Job *j = NULL;
        char file[128];

        if (!job_name_valid(name)) {
                snprintf(why, n, "job name '%s': letters, digits, '_', '-', '.' (at most 64)", name);
                return -EINVAL;
        }
        json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
                snprintf(why, n, "job %s: line %d: %s", name, je.line, je.text);
                return -EINVAL;
        }
        int r = job_from_json(name, doc, &j, why, n);
        if (r < 0) {
                json_decref(doc);
                return r;
        }
        char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(doc);
        if (!s) {
                job_free(j);
                return -ENOMEM;
        }
        snprintf(file, sizeof(file), "%s.json", name);
        r = mkdir(m->config_dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
        if (r == 0)
                r = write_file_atomic(m->config_dir, file, s, strlen(s));
        free(s);
        if (r < 0) {
                snprintf(why, n, "job %s: cannot write %s/%s: %s", name, m->config_dir, file, strerror(-r));
                job_free(j);
                return r;
        }
        job_free(j);
        return jobs_load(m);
}

int job_delete(Manager *m, const char *name) {
        char path[4096];
        if (!job_name_valid(name) || !job_find(m, name))
                return -ENOENT;
        snprintf(path, sizeof(path), "%s/%s.json", m->config_dir, name);
        if (unlink(path) < 0)
                return -errno;
        int dfd = open(m->config_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                (void) fsync(dfd);
                close(dfd);
        }
        return jobs_load(m);
}
