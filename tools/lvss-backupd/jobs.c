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
#include "lib/core/array.h"
#include "lib/core/error-slot.h"
#include "lib/core/fs-util.h"
#include "macro.h"

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
        char name[128], err[700];
        size_t l = strlen(file) - strlen(".json");
        snprintf(name, sizeof(name), "%.*s", (int) l, file);
        _cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        Job *j = NULL;
        int line = 0;

        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(err, sizeof(err), "%s: %s", file, fd < 0 ? strerror(errno) : "not a regular file");
                goto broken;
        }
        if (!job_name_valid(name)) {
                snprintf(err, sizeof(err), "%s: job names are letters, digits, '_', '-', '.'", file);
                goto broken;
        }
        /* J4: never more than JOB_FILE_MAX_BYTES + 1 in memory, whatever st_size says. */
        buf = malloc(JOB_FILE_MAX_BYTES + 1);
        ssize_t size = buf ? read_full_at(fd, buf, JOB_FILE_MAX_BYTES + 1, 0) : -ENOMEM;
        if (size < 0) {
                snprintf(err, sizeof(err), "%s: %s", file, strerror((int) -size));
                goto broken;
        }
        int r = job_parse(name, buf, (size_t) size, &j, &line);
        if (r < 0) {
                if (line)
                        snprintf(err, sizeof(err), "%s:%d: %s", file, line, error_slot_get(NULL));
                else
                        snprintf(err, sizeof(err), "%s: %s", file, error_slot_get(NULL));
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
        size_t n = 0, cap = 0;

        if (dfd < 0) {
                if (errno != ENOENT)
                        return error_slot_set(NULL, -errno, "job directory %s: %m", m->config_dir);
        } else {
                DIR *d = fdopendir(dup(dfd));
                struct dirent *de;
                if (!d)
                        return error_slot_set(NULL, -errno, "job directory %s: %m", m->config_dir);
                while ((de = readdir(d))) {
                        size_t l = strlen(de->d_name);
                        if (de->d_name[0] == '.' || l <= 5 || strcmp(de->d_name + l - 5, ".json") != 0)
                                continue;
                        Job *j = job_load_one(m, dfd, de->d_name);
                        if (!j || ARRAY_RESERVE_ONE(jobs, cap, n, 8) < 0) {
                                job_free(j);
                                continue;
                        }
                        jobs[n++] = j;
                }
                closedir(d);
        }
        if (n > 1) /* qsort(NULL, 0, ...) is undefined (UBSan): no jobs at all */
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

int job_set(Manager *m, const char *name, const char *text) {
        Job *j = NULL;
        char file[128];
        int line = 0;

        if (!job_name_valid(name))
                return error_slot_set(NULL, -EINVAL, "job name '%.64s': letters, digits, '_', '-', '.' (at most 64)",
                                      name);
        int r = job_parse(name, text, strlen(text), &j, &line);
        if (r < 0) {
                if (line)
                        return error_slot_set(NULL, r, "job %s: line %d: %s", name, line, error_slot_get(NULL));
                return error_slot_set(NULL, r, "job %s: %s", name, error_slot_get(NULL));
        }
        char *s = json_dumps(j->doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!s) {
                job_free(j);
                return error_slot_set(NULL, -ENOMEM, "job %s: out of memory", name);
        }
        snprintf(file, sizeof(file), "%s.json", name);
        r = mkdir(m->config_dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
        if (r == 0)
                r = write_file_atomic(m->config_dir, file, s, strlen(s));
        free(s);
        if (r < 0) {
                job_free(j);
                return error_slot_set(NULL, r, "job %s: cannot write %s/%s: %s", name, m->config_dir, file,
                                      strerror(-r));
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
