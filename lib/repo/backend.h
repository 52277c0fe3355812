/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/backend.h: where the objects of a repository live
 * (docs/design/repository.md §15).  Names are relative object paths:
 * "config", "keys/<id>", "data/<xx>/<id>", "index/<id>", "backups/<id>".
 * Every call returns 0 or a negative errno (-ENOENT when the object is
 * absent) and reports its reason through repo_error().  Calls may be made
 * from several threads at once (the pack writers).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct repo_backend repo_backend;

/* A byte range the reader will ask for: [off, off + len) of object name. */
typedef struct repo_be_extent {
        char name[80];
        uint64_t off, len;
} repo_be_extent;

typedef struct repo_backend_ops {
        int (*put)(repo_backend *b, const char *name, const void *data, size_t n);
        int (*get)(repo_backend *b, const char *name, size_t max, uint8_t **ret, size_t *ret_n);
        int (*get_range)(repo_backend *b, const char *name, uint64_t off, size_t n, uint8_t *buf);
        int (*size)(repo_backend *b, const char *name, uint64_t *ret);
        /* Every name directly in dir ("data": in every data/xx/), basenames. */
        int (*list)(repo_backend *b, const char *dir, char ***ret, size_t *ret_n);
        int (*delete)(repo_backend *b, const char *name);
        int (*sync)(repo_backend *b, const char *dir);
        /* lock_wait_s: how long to wait for a held lock; waiting() called once when waiting starts. */
        int (*lock)(repo_backend *b, bool exclusive, unsigned wait_s, void (*waiting)(const char *, void *), void *ud);
        void (*unlock)(repo_backend *b);
        /* init: prepare an empty repository location (refuse a non-empty one). */
        int (*init)(repo_backend *b);
        /* Optional (NULL: nothing to gain): the get_range calls that follow
         * will read these extents in this order (restore), so the backend
         * may fetch ahead; n == 0 ends the plan and frees what it holds.
         * A get_range outside the plan is served as without one. */
        int (*read_plan)(repo_backend *b, const repo_be_extent *ext, size_t n);
        void (*free)(repo_backend *b);
} repo_backend_ops;

struct repo_backend {
        const repo_backend_ops *ops;
        char *location;   /* as given by the user, for messages */
        bool remote;      /* objects are worth caching locally (index, records) */
        bool read_only;   /* local: the medium is read-only (no lock needed) */
};

/* "s3:..." opens the S3 backend, anything else a local directory. */
int repo_backend_open(const char *location, repo_backend **ret);
repo_backend *repo_backend_free(repo_backend *b);
static inline void repo_backend_freep(repo_backend **b) {
        if (*b)
                repo_backend_free(*b);
}
bool repo_location_is_s3(const char *location);

int repo_backend_local_open(const char *dir, repo_backend **ret);
int repo_backend_s3_open(const char *url, repo_backend **ret);

/* Helpers over ops (NULL-safe names for readability at call sites). */
static inline int repo_be_put(repo_backend *b, const char *name, const void *d, size_t n) {
        return b->ops->put(b, name, d, n);
}
static inline int repo_be_get(repo_backend *b, const char *name, size_t max, uint8_t **ret, size_t *ret_n) {
        return b->ops->get(b, name, max, ret, ret_n);
}
static inline int repo_be_get_range(repo_backend *b, const char *name, uint64_t off, size_t n, uint8_t *buf) {
        return b->ops->get_range(b, name, off, n, buf);
}
static inline int repo_be_size(repo_backend *b, const char *name, uint64_t *ret) {
        return b->ops->size(b, name, ret);
}
static inline int repo_be_list(repo_backend *b, const char *dir, char ***ret, size_t *ret_n) {
        return b->ops->list(b, dir, ret, ret_n);
}
static inline int repo_be_delete(repo_backend *b, const char *name) {
        return b->ops->delete(b, name);
}
static inline int repo_be_sync(repo_backend *b, const char *dir) {
        return b->ops->sync(b, dir);
}
static inline int repo_be_read_plan(repo_backend *b, const repo_be_extent *ext, size_t n) {
        return b->ops->read_plan ? b->ops->read_plan(b, ext, n) : 0;
}
void repo_be_names_free(char **names, size_t n);

/* s3-xml.c: the bounded parser of S3 XML answers (fuzzed). */
typedef struct s3_list_page {
        char **keys;
        uint64_t *sizes;
        size_t n;
        bool truncated;
        char *next_token;   /* NextContinuationToken */
        char *upload_id;    /* InitiateMultipartUploadResult */
        char *error_code;   /* <Error><Code> */
} s3_list_page;
#define S3_MAX_RESPONSE (8u * 1024 * 1024)
#define S3_MAX_KEY 1024
#define S3_MAX_KEYS_PER_PAGE 10000
int s3_xml_parse(const char *xml, size_t n, s3_list_page *ret);
void s3_list_page_done(s3_list_page *p);
