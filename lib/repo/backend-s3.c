/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/backend-s3.c: a repository in an S3 bucket (Ceph RGW, AWS, any
 * S3-compatible store), docs/design/repository.md §15.
 *
 *   location  s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]   (path-style)
 *   object    PREFIX/<name>, e.g. PREFIX/data/ab/ab12..., one PUT each
 *   signing   AWS SigV4 by libcurl (CURLOPT_AWS_SIGV4) + x-amz-content-sha256
 *   lock      lock objects PREFIX/locks/<holder> with a lease (§15.3)
 *
 * Every request is retried on connection failures and 5xx (§15.1); every
 * answer is bounded before it is read.  Calls may come from several
 * threads at once (the pack writers): each thread has its own curl handle
 * (and so its own connection).
 */
#include <ctype.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "backend.h"
#include "lib/core/array.h"
#include "repo-int.h"
#include "test-hook.h"

#define S3_ATTEMPTS 6
#define S3_LEASE_DEFAULT 120
#define S3_MULTIPART_MIN (16u * 1024 * 1024)
#define S3_PART_SIZE (8u * 1024 * 1024)
#define S3_PARTS_IN_FLIGHT 4
#define S3_MAX_PAGES 10000
#define S3_MAX_LOCKS 1000
/* read_plan: extents fetched ahead of the reader, each by its own request */
#define S3_PREFETCH_WORKERS 4
#define S3_PREFETCH_AHEAD 6                            /* extents fetched or held beyond the current one */
#define S3_PREFETCH_BYTES (192ull * 1024 * 1024)       /* ... and at most this much of them held */
/* put of a pack: queued, uploaded by its own workers, drained before any other call */
#define S3_UPLOAD_WORKERS 4
#define S3_UNSIGNED_PAYLOAD_MIN (256u * 1024)   /* bodies from this size are not hashed for the signature */
#define S3_UPLOAD_QUEUED 4                             /* packs queued or uploading at once */

typedef struct s3_backend {
        repo_backend base;
        char *endpoint;   /* http[s]://HOST[:PORT] */
        char *bucket;
        bool https;       /* the endpoint is https:// (UNSIGNED-PAYLOAD only then) */
        char *prefix;     /* "" or "PREFIX/" */
        char *userpwd;    /* ACCESS:SECRET */
        char *token;      /* x-amz-security-token header, or NULL */
        char sigv4[96];
        /* lock (§15.3) */
        pthread_mutex_t lock_mutex;
        char holder[33];
        bool locked, exclusive;
        time_t renewed;
        unsigned lease;
        int lock_error;
        /* the renewal thread (§15.3 step 2): renews while the holder works without requests */
        pthread_cond_t renew_cond;
        pthread_t renew_thread;
        bool renew_running, renew_stop;
        bool told_stale;
        /* get_range: the last pack read whole (restore reads packs in order) */
        pthread_mutex_t pack_mutex;
        char pack_name[160];
        uint8_t *pack_data;
        size_t pack_n;
        /* read_plan (§15.1 "Reads"): a window of extents fetched ahead */
        pthread_mutex_t pf_mutex;
        pthread_cond_t pf_cond;      /* every change of an extent's state or of cur */
        struct s3_fetch *plan;
        size_t plan_n;
        size_t cur;                  /* the extent the reader is on */
        size_t next;                 /* the next extent a worker takes */
        uint64_t held;               /* bytes of fetched or fetching extents in [cur, next) */
        bool pf_stop;
        pthread_t pf_threads[S3_PREFETCH_WORKERS];
        size_t pf_n_threads;
        /* uploads of packs in the background (§15.1 "Uploads") */
        pthread_mutex_t up_mutex;
        pthread_cond_t up_cond;
        struct s3_upload *up_queue;  /* singly linked, oldest first */
        size_t up_pending;           /* queued + uploading */
        int up_err;                  /* the first failure, sticky */
        ErrorSlot up_msg;            /* its message, raised by the calling thread */
        bool up_stop;
        pthread_t up_threads[S3_UPLOAD_WORKERS];
        size_t up_n_threads;
} s3_backend;

typedef struct s3_upload {
        struct s3_upload *next;
        char *key;
        uint8_t *data;
        size_t n;
} s3_upload;

typedef struct s3_fetch {
        repo_be_extent ext;
        enum { FETCH_QUEUED, FETCH_RUNNING, FETCH_DONE } state;
        uint8_t *data;
        int err;
        ErrorSlot msg;   /* a failure's message, raised by the reading thread */
} s3_fetch;

static s3_backend *S(repo_backend *b) {
        return (s3_backend *) b;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t curl_key;

static void easy_free(void *h) {
        curl_easy_cleanup(h);
}

static void curl_setup(void) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        (void) pthread_key_create(&curl_key, easy_free);
}

/* This thread's handle: its connection is reused from request to request. */
static CURL *thread_easy(void) {
        CURL *h = pthread_getspecific(curl_key);
        if (!h) {
                h = curl_easy_init();
                if (h)
                        (void) pthread_setspecific(curl_key, h);
        }
        return h;
}

typedef struct s3_buf {
        uint8_t *data;
        size_t n, cap, max;
        size_t expect;   /* the answer's expected size (a ranged GET), allocated at once; 0: grow */
        bool too_big;
} s3_buf;

static size_t buf_write(char *p, size_t size, size_t nmemb, void *ud) {
        s3_buf *b = ud;
        size_t n = size * nmemb;
        if (b->n + n > b->max) {
                b->too_big = true;
                return 0;   /* aborts the transfer */
        }
        if (b->n + n > b->cap) {
                size_t nc = MAX(MAX(b->cap * 2, b->n + n), MIN(b->expect, b->max));
                uint8_t *d = realloc(b->data, MIN(nc, b->max) + 1);
                if (!d)
                        return 0;
                b->data = d;
                b->cap = MIN(nc, b->max);
        }
        memcpy(b->data + b->n, p, n);
        b->n += n;
        return n;
}

typedef struct s3_req {
        const char *method;    /* GET HEAD PUT POST DELETE */
        const char *key;       /* object key below the bucket (prefix included), NULL: the bucket */
        const char *query;     /* canonical (sorted, encoded) query string, or NULL */
        const void *body;
        size_t body_n;
        const char *range;     /* "FIRST-LAST" */
        size_t max;            /* the largest answer accepted */
        size_t expect;         /* the answer's expected size, if known (no copying while it grows) */
        char *etag;            /* out: ETag header (PUT of a part) */
        long status;
        s3_buf resp;
        uint64_t length;       /* HEAD: Content-Length */
} s3_req;

/* The payload hash of SigV4.  OpenSSL's SHA-256 (SHA-NI, AVX2) rather than
 * libsodium's portable one: over http every body is hashed, and libsodium's
 * ran at about 120 MB/s here, a tenth of OpenSSL's (§15 "Profile"). */
static int sha256_hex(const void *data, size_t n, char ret[65]) {
        uint8_t h[EVP_MAX_MD_SIZE];
        unsigned hn = 0;
        if (EVP_Digest(data, n, h, &hn, EVP_sha256(), NULL) != 1 || hn != 32)
                return -ENOMEM;
        sodium_bin2hex(ret, 65, h, hn);
        return 0;
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *ud) {
        s3_req *q = ud;
        size_t n = size * nmemb;
        if (n > 6 && n < 200 && strncasecmp(p, "ETag:", 5) == 0 && !q->etag) {
                const char *v = p + 5;
                size_t len = n - 5;
                while (len && (*v == ' ' || *v == '\t'))
                        v++, len--;
                while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
                        len--;
                q->etag = strndup(v, len);
        }
        return n;
}

static bool retryable_curl(CURLcode c) {
        switch (c) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_SSL_CONNECT_ERROR:
                return true;
        default:
                return false;
        }
}

static void backoff(unsigned attempt) {
        /* 0.2 s, 0.4 s, ... 3.2 s, +-25 % */
        unsigned ms = 200u << MIN(attempt, 4u);
        ms = ms * 3 / 4 + randombytes_uniform(ms / 2 + 1);
        (void) usleep(ms * 1000u);
}

static int build_url(s3_backend *s, const s3_req *q, char **ret) {
        char *u = NULL;
        if (asprintf(&u, "%s/%s%s%s%s%s", s->endpoint, s->bucket, q->key ? "/" : "", q->key ? q->key : "",
                     q->query ? "?" : "", q->query ? q->query : "") < 0)
                return -ENOMEM;
        *ret = u;
        return 0;
}

/* Set up h for one attempt of q. */
static int setup_easy(s3_backend *s, CURL *h, s3_req *q, const char *url, struct curl_slist **ret_hdrs) {
        struct curl_slist *hdrs = NULL, *t;
        char sha[65], line[128];

        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &q->resp);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, q);
        if (strcmp(q->method, "HEAD") == 0)
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else if (strcmp(q->method, "GET") != 0)
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
        if (strcmp(q->method, "PUT") == 0 || strcmp(q->method, "POST") == 0) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) q->body_n);
                t = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
                hdrs = t ? t : hdrs;
                /* no "Expect:" removal: curl would sign the empty header it does not send */
                curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 300L);
        }
        /* RGW checks the payload hash header; curl signs with it.  Over https,
         * large bodies (packs, their parts) are sent UNSIGNED-PAYLOAD (§15.1
         * "Uploads"): TLS protects them in transit, hashing them with SHA-256
         * cost more CPU than compressing and sealing them, and their bytes are
         * checked end to end by the repository's own MACs and ids.  Over plain
         * http the signature must cover the body, or a man in the middle could
         * replace a pack unnoticed until it is read (minio-go makes the same choice). */
        if (s->https && q->body_n >= S3_UNSIGNED_PAYLOAD_MIN)
                snprintf(sha, sizeof sha, "UNSIGNED-PAYLOAD");
        else if (sha256_hex(q->body ? q->body : "", q->body_n, sha) < 0) {
                curl_slist_free_all(hdrs);
                return -ENOMEM;
        }
        snprintf(line, sizeof line, "x-amz-content-sha256: %s", sha);
        t = curl_slist_append(hdrs, line);
        hdrs = t ? t : hdrs;
        if (q->range) {
                snprintf(line, sizeof line, "Range: bytes=%s", q->range);
                t = curl_slist_append(hdrs, line);
                hdrs = t ? t : hdrs;
        }
        if (s->token) {
                _cleanup_free_ char *tl = NULL;
                if (asprintf(&tl, "x-amz-security-token: %s", s->token) < 0) {
                        curl_slist_free_all(hdrs);
                        return -ENOMEM;
                }
                t = curl_slist_append(hdrs, tl);
                hdrs = t ? t : hdrs;
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        *ret_hdrs = hdrs;
        return 0;
}

static void req_reset(s3_req *q) {
        free(q->resp.data);
        q->resp = (s3_buf) {.max = q->max, .expect = q->expect};
        free(q->etag);
        q->etag = NULL;
        q->status = 0;
}

static void req_done(s3_req *q) {
        free(q->resp.data);
        q->resp = (s3_buf) {};
        free(q->etag);
        q->etag = NULL;
}

/* The error code of an XML error answer, for messages. */
static void error_text(const s3_req *q, char *buf, size_t size) {
        s3_list_page p = {};
        if (q->resp.n && s3_xml_parse((const char *) q->resp.data, q->resp.n, &p) == 0 && p.error_code)
                snprintf(buf, size, "HTTP %ld %s", q->status, p.error_code);
        else
                snprintf(buf, size, "HTTP %ld", q->status);
        s3_list_page_done(&p);
}

static int lock_renew(s3_backend *s);

/* Classify a finished attempt: 0 done, 1 retry, <0 final error. */
static int classify(s3_backend *s, s3_req *q, CURLcode rc, const char *what) {
        char msg[300];
        if (rc != CURLE_OK) {
                if (q->resp.too_big)
                        return repo_error(NULL, REPO_E_CORRUPT, "%s: the server's answer exceeds %zu bytes", what,
                                          q->max);
                if (retryable_curl(rc))
                        return 1;
                return repo_error(NULL, -EIO, "%s: %s", what, curl_easy_strerror(rc));
        }
        if (q->status >= 200 && q->status < 300)
                return 0;
        if (q->status == 404)
                return -ENOENT;
        if (q->status == 500 || q->status == 502 || q->status == 503 || q->status == 504)
                return 1;
        error_text(q, msg, sizeof msg);
        (void) s;
        if (q->status == 403 || q->status == 401)
                return repo_error(NULL, -EACCES, "%s: access denied (%s)", what, msg);
        return repo_error(NULL, -EIO, "%s: %s", what, msg);
}

static int perform(s3_backend *s, s3_req *q) {
        _cleanup_free_ char *url = NULL;
        CURLcode last = CURLE_OK;
        char what[300];
        int k;

        if (q->key != NULL && !(q->key[0] && strncmp(q->key + strlen(s->prefix), "locks/", 6) == 0)) {
                k = lock_renew(s);
                if (k < 0)
                        return k;
        }
        k = build_url(s, q, &url);
        if (k < 0)
                return k;
        snprintf(what, sizeof what, "%s %s", q->method, url);
        CURL *h = thread_easy();
        if (!h)
                return -ENOMEM;
        for (unsigned attempt = 0;; attempt++) {
                struct curl_slist *hdrs = NULL;
                req_reset(q);
                k = setup_easy(s, h, q, url, &hdrs);
                if (k < 0)
                        return k;
                last = curl_easy_perform(h);
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &q->status);
                if (strcmp(q->method, "HEAD") == 0) {
                        curl_off_t cl = -1;
                        curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
                        q->length = cl > 0 ? (uint64_t) cl : 0;
                }
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
                curl_slist_free_all(hdrs);
                k = classify(s, q, last, what);
                if (k != 1)
                        return k;
                if (attempt + 1 >= S3_ATTEMPTS)
                        break;
                backoff(attempt);
        }
        if (last != CURLE_OK)
                return repo_error(NULL, -EIO, "%s: %s (after %d attempts)", what, curl_easy_strerror(last),
                                  S3_ATTEMPTS);
        return repo_error(NULL, -EIO, "%s: HTTP %ld (after %d attempts)", what, q->status, S3_ATTEMPTS);
}

static int object_key(s3_backend *s, const char *name, char **ret) {
        return asprintf(ret, "%s%s", s->prefix, name) < 0 ? -ENOMEM : 0;
}

/* AWS URI encoding of a query value: everything but A-Z a-z 0-9 - _ . ~ */
static char *uri_encode(const char *v) {
        size_t n = strlen(v);
        char *o = malloc(n * 3 + 1), *p = o;
        if (!o)
                return NULL;
        for (; *v; v++) {
                unsigned char c = (unsigned char) *v;
                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~')
                        *p++ = (char) c;
                else
                        p += sprintf(p, "%%%02X", c);
        }
        *p = 0;
        return o;
}

/* ---- multipart upload (§15.1 Uploads): parts in flight on one curl multi ---- */

typedef struct part {
        s3_req q;
        CURL *h;
        struct curl_slist *hdrs;
        char *url;
        unsigned attempt;
        bool done;
} part;

static int multipart_put(s3_backend *s, const char *key, const uint8_t *data, size_t n) {
        _cleanup_free_ char *upload_id = NULL, *enc_id = NULL, *query = NULL, *xml = NULL;
        size_t n_parts = (n + S3_PART_SIZE - 1) / S3_PART_SIZE, next = 0, running_parts = 0, finished = 0;
        _cleanup_free_ part *parts = calloc(n_parts, sizeof *parts);
        s3_list_page page = {};
        CURLM *m = NULL;
        int k;

        if (!parts)
                return -ENOMEM;
        s3_req init = {.method = "POST", .key = key, .query = "uploads=", .max = 64 * 1024};
        k = perform(s, &init);
        if (k == 0)
                k = s3_xml_parse((const char *) init.resp.data, init.resp.n, &page);
        req_done(&init);
        if (k < 0)
                return k == -EBADMSG || k == -E2BIG ? repo_error(NULL, -EIO, "%s: bad multipart answer", key) : k;
        if (!page.upload_id) {
                s3_list_page_done(&page);
                return repo_error(NULL, -EIO, "%s: multipart upload: no UploadId", key);
        }
        upload_id = TAKE_PTR(page.upload_id);
        s3_list_page_done(&page);
        enc_id = uri_encode(upload_id);
        if (!enc_id)
                return -ENOMEM;

        m = curl_multi_init();
        if (!m) {
                k = -ENOMEM;
                goto abort;
        }
        for (size_t i = 0; i < n_parts; i++) {
                part *p = &parts[i];
                p->q = (s3_req) {.method = "PUT", .key = key, .body = data + i * S3_PART_SIZE,
                                 .body_n = MIN((size_t) S3_PART_SIZE, n - i * S3_PART_SIZE), .max = 64 * 1024};
                if (asprintf((char **) &p->q.query, "partNumber=%zu&uploadId=%s", i + 1, enc_id) < 0) {
                        k = -ENOMEM;
                        goto abort;
                }
                k = build_url(s, &p->q, &p->url);
                if (k < 0)
                        goto abort;
        }
        k = 0;
        while (finished < n_parts && k == 0) {
                /* keep S3_PARTS_IN_FLIGHT parts going */
                for (; running_parts < S3_PARTS_IN_FLIGHT && next < n_parts; next++) {
                        part *p = &parts[next];
                        if (p->done || p->h)
                                continue;
                        p->h = curl_easy_init();
                        if (!p->h) {
                                k = -ENOMEM;
                                break;
                        }
                        req_reset(&p->q);
                        k = setup_easy(s, p->h, &p->q, p->url, &p->hdrs);
                        if (k < 0)
                                break;
                        curl_easy_setopt(p->h, CURLOPT_PRIVATE, p);
                        curl_multi_add_handle(m, p->h);
                        running_parts++;
                }
                if (k < 0)
                        break;
                int still = 0, msgs = 0;
                if (curl_multi_perform(m, &still) != CURLM_OK) {
                        k = repo_error(NULL, -EIO, "%s: multipart upload failed", key);
                        break;
                }
                CURLMsg *msg;
                while ((msg = curl_multi_info_read(m, &msgs))) {
                        part *p = NULL;
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &p);
                        curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &p->q.status);
                        int c = classify(s, &p->q, msg->data.result, key);
                        curl_multi_remove_handle(m, p->h);
                        curl_easy_cleanup(p->h);
                        p->h = NULL;
                        curl_slist_free_all(p->hdrs);
                        p->hdrs = NULL;
                        running_parts--;
                        if (c == 0 && p->q.etag) {
                                p->done = true;
                                finished++;
                        } else if (c == 1 && ++p->attempt < S3_ATTEMPTS) {
                                backoff(p->attempt);
                                next = MIN(next, (size_t) (p - parts));   /* start it again */
                        } else if (k == 0)
                                k = c < 0 ? c
                                          : repo_error(NULL, -EIO, "%s: part %zu failed", key,
                                                       (size_t) (p - parts) + 1);
                }
                if (k == 0 && finished < n_parts)
                        (void) curl_multi_poll(m, NULL, 0, 1000, NULL);
        }
        if (k < 0)
                goto abort;

        /* complete: the parts in order, with their ETags */
        size_t cap = 128 + n_parts * 128, len = 0;
        xml = malloc(cap);
        if (!xml) {
                k = -ENOMEM;
                goto abort;
        }
        len += (size_t) snprintf(xml + len, cap - len, "<CompleteMultipartUpload>");
        for (size_t i = 0; i < n_parts; i++) {
                if (strlen(parts[i].q.etag) > 80 || strchr(parts[i].q.etag, '<')) {
                        k = repo_error(NULL, -EIO, "%s: part %zu: bad ETag", key, i + 1);
                        goto abort;
                }
                len += (size_t) snprintf(xml + len, cap - len, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>",
                                         i + 1, parts[i].q.etag);
        }
        len += (size_t) snprintf(xml + len, cap - len, "</CompleteMultipartUpload>");
        if (asprintf(&query, "uploadId=%s", enc_id) < 0) {
                k = -ENOMEM;
                goto abort;
        }
        s3_req done = {.method = "POST", .key = key, .query = query, .body = xml, .body_n = len, .max = 64 * 1024};
        k = perform(s, &done);
        if (k == 0) {
                /* a 200 can still carry an <Error> */
                s3_list_page p = {};
                if (s3_xml_parse((const char *) done.resp.data, done.resp.n, &p) == 0 && p.error_code)
                        k = repo_error(NULL, -EIO, "%s: completing the upload: %s", key, p.error_code);
                s3_list_page_done(&p);
        }
        req_done(&done);
        if (k < 0)
                goto abort;
        goto out;
abort:
        if (!query)
                (void) asprintf(&query, "uploadId=%s", enc_id ? enc_id : "");
        if (query) {
                s3_req ab = {.method = "DELETE", .key = key, .query = query, .max = 64 * 1024};
                (void) perform(s, &ab);
                req_done(&ab);
        }
out:
        for (size_t i = 0; i < n_parts; i++) {
                if (parts[i].h) {
                        curl_multi_remove_handle(m, parts[i].h);
                        curl_easy_cleanup(parts[i].h);
                }
                curl_slist_free_all(parts[i].hdrs);
                free(parts[i].url);
                free((char *) parts[i].q.query);
                req_done(&parts[i].q);
        }
        if (m)
                curl_multi_cleanup(m);
        return k;
}

/* ---- the backend calls ---- */

static int put_now(s3_backend *s, const char *key, const void *data, size_t n) {
        if (n >= S3_MULTIPART_MIN)
                return multipart_put(s, key, data, n);
        s3_req q = {.method = "PUT", .key = key, .body = data, .body_n = n, .max = 64 * 1024};
        int k = perform(s, &q);
        req_done(&q);
        if (k == -ENOENT)
                return repo_error(NULL, -EIO, "%s: PUT %s: no such bucket", s->base.location, key);
        return k;
}

static void *upload_main(void *arg) {
        s3_backend *s = arg;

        pthread_mutex_lock(&s->up_mutex);
        for (;;) {
                while (!s->up_queue && !s->up_stop)
                        pthread_cond_wait(&s->up_cond, &s->up_mutex);
                if (!s->up_queue)
                        break;
                s3_upload *u = s->up_queue;
                s->up_queue = u->next;
                bool skip = s->up_err < 0;   /* the backup fails anyway: do not upload more */
                pthread_mutex_unlock(&s->up_mutex);

                int k = skip ? 0 : put_now(s, u->key, u->data, u->n);

                pthread_mutex_lock(&s->up_mutex);
                if (k < 0 && s->up_err == 0) {
                        s->up_err = k;
                        (void) error_slot_set(&s->up_msg, k, "%s", k == -ENOMEM ? "out of memory" : repo_errmsg());
                }
                free(u->key);
                free(u->data);
                free(u);
                s->up_pending--;
                pthread_cond_broadcast(&s->up_cond);
        }
        pthread_mutex_unlock(&s->up_mutex);
        return NULL;
}

/* Wait for every queued upload; its first failure is every later call's. */
static int upload_drain(s3_backend *s) {
        int k;
        pthread_mutex_lock(&s->up_mutex);
        while (s->up_pending > 0)
                pthread_cond_wait(&s->up_cond, &s->up_mutex);
        k = s->up_err;
        if (k < 0)
                k = repo_error(NULL, k, "%s", error_slot_get(&s->up_msg));
        pthread_mutex_unlock(&s->up_mutex);
        return k;
}

static void upload_stop(s3_backend *s) {
        pthread_mutex_lock(&s->up_mutex);
        s->up_stop = true;
        pthread_cond_broadcast(&s->up_cond);
        pthread_mutex_unlock(&s->up_mutex);
        for (size_t i = 0; i < s->up_n_threads; i++)
                pthread_join(s->up_threads[i], NULL);
        s->up_n_threads = 0;
}

static int s3_put(repo_backend *b, const char *name, const void *data, size_t n) {
        s3_backend *s = S(b);
        _cleanup_free_ char *key = NULL;
        int k = object_key(s, name, &key);
        if (k < 0)
                return k;
        if (strncmp(name, "data/", 5) != 0) {
                /* W2/W3: every pack is answered before an index (or anything else) is written */
                k = upload_drain(s);
                return k < 0 ? k : put_now(s, key, data, n);
        }

        /* A pack: queued, so that the caller packs the next while this one
         * travels (the caller's buffer is copied: at most S3_UPLOAD_QUEUED packs held). */
        s3_upload *u = calloc(1, sizeof *u);
        if (!u || !(u->data = malloc(n ? n : 1))) {
                free(u);
                return -ENOMEM;
        }
        memcpy(u->data, data, n);
        u->n = n;
        u->key = TAKE_PTR(key);
        pthread_mutex_lock(&s->up_mutex);
        while (s->up_pending >= S3_UPLOAD_QUEUED && s->up_err == 0)
                pthread_cond_wait(&s->up_cond, &s->up_mutex);
        if (s->up_err == 0 && s->up_n_threads < S3_UPLOAD_WORKERS && s->up_n_threads <= s->up_pending) {
                if (pthread_create(&s->up_threads[s->up_n_threads], NULL, upload_main, s) == 0)
                        s->up_n_threads++;
        }
        if (s->up_err < 0 || s->up_n_threads == 0) {
                k = s->up_err < 0 ? repo_error(NULL, s->up_err, "%s", error_slot_get(&s->up_msg)) : 1;
                pthread_mutex_unlock(&s->up_mutex);
                if (k == 1)   /* no thread could be started: upload it here */
                        k = put_now(s, u->key, u->data, u->n);
                free(u->key);
                free(u->data);
                free(u);
                return k;
        }
        s3_upload **tail = &s->up_queue;
        while (*tail)
                tail = &(*tail)->next;
        *tail = u;
        s->up_pending++;
        pthread_cond_broadcast(&s->up_cond);
        pthread_mutex_unlock(&s->up_mutex);
        return 0;
}

static int s3_get(repo_backend *b, const char *name, size_t max, uint8_t **ret, size_t *ret_n) {
        s3_backend *s = S(b);
        int kd = upload_drain(s);
        if (kd < 0)
                return kd;
        _cleanup_free_ char *key = NULL;
        int k = object_key(s, name, &key);
        if (k < 0)
                return k;
        s3_req q = {.method = "GET", .key = key, .max = max};
        k = perform(s, &q);
        if (k == REPO_E_CORRUPT)
                k = repo_error(NULL, REPO_E_CORRUPT, "%s: exceeds the limit of %zu bytes", name, max);
        if (k < 0) {
                req_done(&q);
                return k;
        }
        if (!q.resp.data) {
                q.resp.data = malloc(1);
                if (!q.resp.data)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(q.resp.data);
        *ret_n = q.resp.n;
        req_done(&q);
        return 0;
}

/* GET bytes [off, off + n) of name into a new buffer of exactly n bytes. */
static int get_extent(s3_backend *s, const char *name, uint64_t off, uint64_t n, uint8_t **ret) {
        _cleanup_free_ char *key = NULL;
        char range[64];
        int k;

        if (n == 0 || n > REPO_MAX_PACK)
                return repo_error(NULL, REPO_E_CORRUPT, "%s: bad extent of %llu bytes", name, (unsigned long long) n);
        k = object_key(s, name, &key);
        if (k < 0)
                return k;
        snprintf(range, sizeof range, "%llu-%llu", (unsigned long long) off, (unsigned long long) (off + n - 1));
        s3_req q = {.method = "GET", .key = key, .range = range, .max = (size_t) n, .expect = (size_t) n};
        k = perform(s, &q);
        if (k == 0 && q.resp.n != n)
                k = repo_error(NULL, REPO_E_CORRUPT, "%s: short read (truncated): %zu of %llu bytes at %llu", name,
                               q.resp.n, (unsigned long long) n, (unsigned long long) off);
        if (k == 0)
                *ret = TAKE_PTR(q.resp.data);
        req_done(&q);
        return k;
}

static bool fetch_may_start(s3_backend *s) {
        if (s->next >= s->plan_n || s->next > s->cur + S3_PREFETCH_AHEAD)
                return false;
        /* the extent the reader waits for always starts; the ones ahead only within the byte budget */
        return s->next == s->cur || s->held + s->plan[s->next].ext.len <= S3_PREFETCH_BYTES;
}

static void *prefetch_main(void *arg) {
        s3_backend *s = arg;

        pthread_mutex_lock(&s->pf_mutex);
        for (;;) {
                while (!s->pf_stop && !fetch_may_start(s))
                        pthread_cond_wait(&s->pf_cond, &s->pf_mutex);
                if (s->pf_stop)
                        break;
                size_t i = s->next++;
                s3_fetch *f = &s->plan[i];
                f->state = FETCH_RUNNING;
                s->held += f->ext.len;
                pthread_mutex_unlock(&s->pf_mutex);

                uint8_t *data = NULL;
                int k = get_extent(s, f->ext.name, f->ext.off, f->ext.len, &data);

                pthread_mutex_lock(&s->pf_mutex);
                if (i < s->cur) {
                        /* the reader moved past it meanwhile */
                        free(data);
                        s->held -= f->ext.len;
                } else {
                        f->data = data;
                        f->err = k;
                        if (k < 0)
                                (void) error_slot_set(&f->msg, k, "%s", k == -ENOMEM ? "out of memory" : repo_errmsg());
                }
                f->state = FETCH_DONE;
                pthread_cond_broadcast(&s->pf_cond);
        }
        pthread_mutex_unlock(&s->pf_mutex);
        return NULL;
}

static void plan_end(s3_backend *s) {
        pthread_mutex_lock(&s->pf_mutex);
        s->pf_stop = true;
        pthread_cond_broadcast(&s->pf_cond);
        pthread_mutex_unlock(&s->pf_mutex);
        for (size_t i = 0; i < s->pf_n_threads; i++)
                pthread_join(s->pf_threads[i], NULL);
        for (size_t i = 0; i < s->plan_n; i++)
                free(s->plan[i].data);
        free(s->plan);
        s->plan = NULL;
        s->plan_n = s->cur = s->next = s->pf_n_threads = 0;
        s->held = 0;
        s->pf_stop = false;
}

static int s3_read_plan(repo_backend *b, const repo_be_extent *ext, size_t n) {
        s3_backend *s = S(b);
        int kd = upload_drain(s);
        if (kd < 0)
                return kd;

        plan_end(s);
        if (n == 0)
                return 0;
        s->plan = calloc(n, sizeof *s->plan);
        if (!s->plan)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                s->plan[i].ext = ext[i];
        s->plan_n = n;
        for (size_t i = 0; i < MIN(n, (size_t) S3_PREFETCH_WORKERS); i++) {
                int k = pthread_create(&s->pf_threads[i], NULL, prefetch_main, s);
                if (k != 0)
                        break;   /* fewer workers; none: get_range reads without the plan */
                s->pf_n_threads++;
        }
        return 0;
}

/* Serve a read from the plan: 1 served, 0 not in the window, <0 error. */
static int plan_read(s3_backend *s, const char *name, uint64_t off, size_t n, uint8_t *buf) {
        size_t end = MIN(s->plan_n, s->cur + S3_PREFETCH_AHEAD + 1), i;
        int k;

        if (s->pf_n_threads == 0)
                return 0;
        for (i = s->cur; i < end; i++) {
                const repo_be_extent *e = &s->plan[i].ext;
                if (strcmp(e->name, name) == 0 && off >= e->off && n <= e->len && off - e->off <= e->len - n)
                        break;
        }
        if (i == end)
                return 0;
        /* the reader moved on to extent i: what lies before it is done with */
        for (; s->cur < i; s->cur++) {
                s3_fetch *f = &s->plan[s->cur];
                if (f->state == FETCH_DONE) {
                        free(f->data);
                        f->data = NULL;
                        s->held -= f->ext.len;
                } else if (f->state == FETCH_QUEUED && s->next <= s->cur)
                        s->next = s->cur + 1;   /* never to be fetched */
        }
        pthread_cond_broadcast(&s->pf_cond);
        s3_fetch *f = &s->plan[i];
        while (f->state != FETCH_DONE)
                pthread_cond_wait(&s->pf_cond, &s->pf_mutex);
        if (f->err < 0) {
                k = repo_error(NULL, f->err, "%s", error_slot_get(&f->msg));
                return k;
        }
        memcpy(buf, f->data + (off - f->ext.off), n);
        return 1;
}

static int s3_get_range(repo_backend *b, const char *name, uint64_t off, size_t n, uint8_t *buf) {
        s3_backend *s = S(b);
        int kd = upload_drain(s);
        if (kd < 0)
                return kd;
        int k = 0;

        pthread_mutex_lock(&s->pf_mutex);
        k = plan_read(s, name, off, n, buf);
        pthread_mutex_unlock(&s->pf_mutex);
        if (k != 0)
                return k < 0 ? k : 0;

        /* Without a plan packs are read whole, once, and blobs served from
         * memory: a reader going through packs in order costs one GET per pack. */
        pthread_mutex_lock(&s->pack_mutex);
        if (!s->pack_data || strcmp(s->pack_name, name) != 0) {
                free(s->pack_data);
                s->pack_data = NULL;
                s->pack_name[0] = 0;
                k = s3_get(b, name, REPO_MAX_PACK, &s->pack_data, &s->pack_n);
                if (k == 0)
                        snprintf(s->pack_name, sizeof s->pack_name, "%s", name);
        }
        if (k == 0 && (off > s->pack_n || s->pack_n - off < n))
                k = repo_error(NULL, REPO_E_CORRUPT, "%s: short read (truncated)", name);
        if (k == 0)
                memcpy(buf, s->pack_data + off, n);
        pthread_mutex_unlock(&s->pack_mutex);
        return k;
}

static int s3_size(repo_backend *b, const char *name, uint64_t *ret) {
        s3_backend *s = S(b);
        int kd = upload_drain(s);
        if (kd < 0)
                return kd;
        _cleanup_free_ char *key = NULL;
        int k = object_key(s, name, &key);
        if (k < 0)
                return k;
        s3_req q = {.method = "HEAD", .key = key, .max = 64 * 1024};
        k = perform(s, &q);
        if (k == 0)
                *ret = q.length;
        req_done(&q);
        return k;
}

/* Every key below PREFIX/dir/, as names relative to PREFIX/dir/ (sizes optional). */
static int list_keys(s3_backend *s, const char *dir, char ***ret, uint64_t **ret_sizes, size_t *ret_n) {
        _cleanup_free_ char *pfx = NULL, *enc_pfx = NULL, *token = NULL;
        char **names = NULL;
        uint64_t *sizes = NULL;
        size_t n = 0, cap = 0;
        int k = 0;

        if (asprintf(&pfx, "%s%s%s", s->prefix, dir, *dir ? "/" : "") < 0)
                return -ENOMEM;
        enc_pfx = uri_encode(pfx);
        if (!enc_pfx)
                return -ENOMEM;
        for (unsigned page = 0;; page++) {
                _cleanup_free_ char *query = NULL, *enc_tok = NULL;
                s3_list_page p = {};
                if (page >= S3_MAX_PAGES) {
                        k = repo_error(NULL, REPO_E_CORRUPT, "%s: LIST of %s: more than %d pages", s->base.location,
                                       dir, S3_MAX_PAGES);
                        break;
                }
                if (token) {
                        enc_tok = uri_encode(token);
                        if (!enc_tok) {
                                k = -ENOMEM;
                                break;
                        }
                }
                /* query parameters sorted by name: the canonical request of SigV4 */
                if (asprintf(&query, "%s%s%slist-type=2&prefix=%s", enc_tok ? "continuation-token=" : "",
                             enc_tok ? enc_tok : "", enc_tok ? "&" : "", enc_pfx) < 0) {
                        k = -ENOMEM;
                        break;
                }
                s3_req q = {.method = "GET", .query = query, .max = S3_MAX_RESPONSE};
                k = perform(s, &q);
                if (k == 0) {
                        k = s3_xml_parse((const char *) q.resp.data, q.resp.n, &p);
                        if (k < 0)
                                k = repo_error(NULL, REPO_E_CORRUPT, "%s: LIST of %s: unreadable answer (%s)",
                                               s->base.location, dir, strerror(-k));
                }
                req_done(&q);
                if (k == -ENOENT)
                        k = repo_error(NULL, -ENOENT, "%s: no such bucket", s->base.location);
                if (k < 0)
                        break;
                for (size_t i = 0; i < p.n && k == 0; i++) {
                        if (strncmp(p.keys[i], pfx, strlen(pfx)) != 0)
                                continue;   /* not below the prefix asked for */
                        if (ARRAY_RESERVE_ONE(names, cap, n, 64) < 0) {
                                k = -ENOMEM;
                                break;
                        }
                        uint64_t *ns = realloc(sizes, cap * sizeof *ns);
                        char *d = strdup(p.keys[i] + strlen(pfx));
                        if (!ns || !d) {
                                if (ns)
                                        sizes = ns;
                                free(d);
                                k = -ENOMEM;
                                break;
                        }
                        sizes = ns;
                        sizes[n] = p.sizes[i];
                        names[n++] = d;
                }
                free(token);
                token = p.truncated ? TAKE_PTR(p.next_token) : NULL;
                s3_list_page_done(&p);
                if (k < 0 || !token)
                        break;
        }
        if (k < 0) {
                repo_be_names_free(names, n);
                free(sizes);
                return k;
        }
        *ret = names;
        if (ret_sizes)
                *ret_sizes = sizes;
        else
                free(sizes);
        *ret_n = n;
        return 0;
}

static int s3_list(repo_backend *b, const char *dir, char ***ret, size_t *ret_n) {
        char **names = NULL;
        size_t n = 0;
        int k = upload_drain(S(b));
        if (k < 0)
                return k;
        k = list_keys(S(b), dir, &names, NULL, &n);
        if (k < 0)
                return k;
        /* data/xx/<id> -> <id>; anything deeper or oddly shaped is left out */
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                char *slash = strchr(names[i], '/');
                if (strcmp(dir, "data") == 0 && slash && slash - names[i] == 2 && !strchr(slash + 1, '/')) {
                        memmove(names[i], slash + 1, strlen(slash + 1) + 1);
                        names[m++] = names[i];
                } else if (strcmp(dir, "data") != 0 && !slash)
                        names[m++] = names[i];
                else
                        free(names[i]);
        }
        *ret = names;
        *ret_n = m;
        return 0;
}

static int s3_delete(repo_backend *b, const char *name) {
        s3_backend *s = S(b);
        _cleanup_free_ char *key = NULL;
        int k = upload_drain(s);
        if (k < 0)
                return k;
        k = object_key(s, name, &key);
        if (k < 0)
                return k;
        s3_req q = {.method = "DELETE", .key = key, .max = 64 * 1024};
        k = perform(s, &q);
        req_done(&q);
        return k == -ENOENT ? 0 : k;   /* gone already (a retried DELETE) */
}

static int s3_sync(repo_backend *b, const char *dir) {
        (void) dir;
        return upload_drain(S(b));   /* a DELETE is final once answered (§15.1 S5) */
}

/* ---- the lock (§15.3) ---- */

static int lock_put(s3_backend *s) {
        _cleanup_free_ char *key = NULL, *text = NULL;
        char host[256] = "";
        int k;

        (void) gethostname(host, sizeof host - 1);
        if (asprintf(&key, "%slocks/%s", s->prefix, s->holder) < 0)
                return -ENOMEM;
        time_t now = time(NULL);
        json_t *o = json_pack("{s:b, s:s, s:i, s:I}", "exclusive", s->exclusive, "host", host, "pid", (int) getpid(),
                              "expires", (json_int_t) now + (json_int_t) s->lease);
        if (!o)
                return -ENOMEM;
        text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!text)
                return -ENOMEM;
        s3_req q = {.method = "PUT", .key = key, .body = text, .body_n = strlen(text), .max = 64 * 1024};
        k = perform(s, &q);
        req_done(&q);
        if (k == 0)
                s->renewed = now;
        return k;
}

static int lock_renew(s3_backend *s) {
        int k = 0;
        if (!s->locked)
                return 0;
        pthread_mutex_lock(&s->lock_mutex);
        if (s->lock_error)
                k = s->lock_error;
        else if (time(NULL) - s->renewed >= (time_t) (s->lease / 3)) {
                k = lock_put(s);
                if (k < 0)
                        s->lock_error = k =
                                repo_error(NULL, k, "%s: renewing the lock: %s (the lock can no longer be trusted)",
                                           s->base.location, repo_errmsg());
        }
        pthread_mutex_unlock(&s->lock_mutex);
        return k;
}

static void *renew_main(void *arg) {
        s3_backend *s = arg;

        pthread_mutex_lock(&s->lock_mutex);
        while (!s->renew_stop) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += MAX(1u, s->lease / 6);   /* wake twice per renewal period */
                (void) pthread_cond_timedwait(&s->renew_cond, &s->lock_mutex, &until);
                if (s->renew_stop || s->lock_error)
                        continue;
                pthread_mutex_unlock(&s->lock_mutex);
                (void) lock_renew(s);   /* a failure is kept in lock_error: the next request fails */
                pthread_mutex_lock(&s->lock_mutex);
        }
        pthread_mutex_unlock(&s->lock_mutex);
        return NULL;
}

static void renew_stop(s3_backend *s) {
        if (!s->renew_running)
                return;
        pthread_mutex_lock(&s->lock_mutex);
        s->renew_stop = true;
        pthread_cond_broadcast(&s->renew_cond);
        pthread_mutex_unlock(&s->lock_mutex);
        pthread_join(s->renew_thread, NULL);
        s->renew_running = s->renew_stop = false;
}

static void lock_delete(s3_backend *s) {
        _cleanup_free_ char *key = NULL;
        if (asprintf(&key, "%slocks/%s", s->prefix, s->holder) < 0)
                return;
        s3_req q = {.method = "DELETE", .key = key, .max = 64 * 1024};
        (void) perform(s, &q);
        req_done(&q);
}

/* 1: another live holder conflicts, 0: none; stale ones are deleted by an exclusive locker. */
static int lock_conflicts(s3_backend *s, char *who, size_t who_size) {
        char **names = NULL;
        size_t n = 0;
        int k, busy = 0;

        k = list_keys(s, "locks", &names, NULL, &n);
        if (k < 0)
                return k;
        if (n > S3_MAX_LOCKS) {
                repo_be_names_free(names, n);
                return repo_error(NULL, REPO_E_CORRUPT, "%s: more than %d lock objects", s->base.location,
                                  S3_MAX_LOCKS);
        }
        for (size_t i = 0; i < n && !busy; i++) {
                _cleanup_free_ char *key = NULL;
                _cleanup_free_ uint8_t *data = NULL;
                json_int_t expires = 0, pid = 0;
                const char *host = "?";
                int excl = 0;
                size_t len = 0;

                if (strcmp(names[i], s->holder) == 0 || strchr(names[i], '/'))
                        continue;
                if (asprintf(&key, "locks/%s", names[i]) < 0) {
                        k = -ENOMEM;
                        break;
                }
                k = s3_get(&s->base, key, 4096, &data, &len);
                if (k == -ENOENT) {
                        k = 0;
                        continue;   /* released meanwhile */
                }
                if (k < 0)
                        break;
                json_t *o = json_loadb((const char *) data, len, 0, NULL);
                bool ok = o && json_unpack(o, "{s:b, s?s, s?I, s:I}", "exclusive", &excl, "host", &host, "pid", &pid,
                                            "expires", &expires) == 0;
                if (ok && expires > (json_int_t) time(NULL)) {
                        if (s->exclusive || excl) {
                                busy = 1;
                                snprintf(who, who_size, "%s process %lld on %s", excl ? "an exclusive" : "a",
                                         (long long) pid, host);
                        }
                } else {
                        /* stale (its holder died more than a lease ago) or unreadable: ignored, and
                         * removed by an exclusive locker; said once per command */
                        if (!s->told_stale) {
                                if (ok)
                                        repo_warn("%s: ignoring the lock of %s process %lld on %s, whose lease "
                                                  "expired %lld s ago (it died or hung)",
                                                  s->base.location, excl ? "an exclusive" : "a", (long long) pid, host,
                                                  (long long) ((json_int_t) time(NULL) - expires));
                                else
                                        repo_warn("%s: ignoring an unreadable lock object %s", s->base.location, key);
                                s->told_stale = true;
                        }
                        if (s->exclusive)
                                (void) s3_delete(&s->base, key);
                }
                json_decref(o);
        }
        repo_be_names_free(names, n);
        return k < 0 ? k : busy;
}

static int s3_lock(repo_backend *b, bool exclusive, unsigned wait_s, void (*waiting)(const char *, void *),
                   void *ud) {
        s3_backend *s = S(b);
        time_t start = time(NULL);
        char who[300] = "";
        bool told = false;
        int k;

        s->exclusive = exclusive;
        for (;;) {
                /* PUT before LIST: of two simultaneous lockers, each sees the other (S2) */
                k = lock_put(s);
                if (k < 0)
                        return repo_error(NULL, k, "repository %s: lock: %s", b->location, repo_errmsg());
                k = lock_conflicts(s, who, sizeof who);
                if (k == 0) {
                        s->locked = true;
                        k = pthread_create(&s->renew_thread, NULL, renew_main, s);
                        if (k != 0) {
                                s->locked = false;
                                lock_delete(s);
                                return repo_error(NULL, -k, "repository %s: lock: cannot start its renewal: %s",
                                                  b->location, strerror(k));
                        }
                        s->renew_running = true;
                        /* Test builds: hold the lock this many seconds without a request, as a long
                         * local phase would (s3-faults.sh: the renewal keeps the lease). */
                        const char *hold = TEST_HOOK_ENV("LVSS_S3_TEST_HOLD_LOCK");
                        if (hold)
                                (void) sleep((unsigned) strtoul(hold, NULL, 10));
                        return 0;
                }
                lock_delete(s);
                if (k < 0)
                        return repo_error(NULL, k, "repository %s: lock: %s", b->location, repo_errmsg());
                if (time(NULL) - start >= (time_t) wait_s)
                        return repo_error(NULL, -EBUSY, "repository %s: locked by %s%s", b->location, who,
                                          wait_s ? " (gave up waiting)" : "");
                if (!told && waiting)
                        waiting(b->location, ud);
                told = true;
                (void) usleep(2000 * 1000 + randombytes_uniform(500 * 1000));
        }
}

static void s3_unlock(repo_backend *b) {
        s3_backend *s = S(b);
        if (!s->locked)
                return;
        (void) upload_drain(s);   /* the lock covers the uploads still travelling */
        renew_stop(s);
        s->locked = false;
        lock_delete(s);
}

static int s3_init(repo_backend *b) {
        char **names = NULL;
        size_t n = 0;
        /* the location must hold no repository object yet (the bucket must exist) */
        int k = list_keys(S(b), "", &names, NULL, &n);
        if (k < 0)
                return k;
        repo_be_names_free(names, n);
        if (n > 0)
                return repo_error(NULL, -EEXIST, "repository %s: not empty (%zu objects)", b->location, n);
        return 0;
}

static void s3_free(repo_backend *b) {
        s3_backend *s = S(b);
        if (s->pf_n_threads || s->plan)
                plan_end(s);
        s3_unlock(b);
        upload_stop(s);   /* (drained by the unlock, or nothing was locked) */
        free(s->endpoint);
        free(s->bucket);
        free(s->prefix);
        if (s->userpwd)
                sodium_memzero(s->userpwd, strlen(s->userpwd));
        free(s->userpwd);
        free(s->token);
        free(s->pack_data);
        pthread_mutex_destroy(&s->lock_mutex);
        pthread_mutex_destroy(&s->pack_mutex);
        pthread_mutex_destroy(&s->pf_mutex);
        pthread_cond_destroy(&s->pf_cond);
        pthread_cond_destroy(&s->renew_cond);
        pthread_mutex_destroy(&s->up_mutex);
        pthread_cond_destroy(&s->up_cond);
        free(b->location);
        free(s);
}

static const repo_backend_ops s3_ops = {
        .put = s3_put,
        .get = s3_get,
        .get_range = s3_get_range,
        .size = s3_size,
        .list = s3_list,
        .delete = s3_delete,
        .sync = s3_sync,
        .lock = s3_lock,
        .unlock = s3_unlock,
        .init = s3_init,
        .read_plan = s3_read_plan,
        .free = s3_free,
};

/* ---- location and credentials ---- */

static int parse_location(s3_backend *s, const char *url) {
        const char *p = url + 3, *host, *path, *slash;

        if (strncmp(p, "http://", 7) == 0)
                host = p + 7;
        else if (strncmp(p, "https://", 8) == 0) {
                host = p + 8;
                s->https = true;
        }
        else
                return repo_error(NULL, -EINVAL, "%s: expected s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]", url);
        path = strchr(host, '/');
        if (!path || path == host)
                return repo_error(NULL, -EINVAL, "%s: expected s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]", url);
        for (const char *c = host; c < path; c++)
                if (!(isalnum((unsigned char) *c) || strchr(".-:[]", *c)))
                        return repo_error(NULL, -EINVAL, "%s: bad host name", url);
        s->endpoint = strndup(p, (size_t) (path - p));
        path++;
        slash = strchr(path, '/');
        s->bucket = slash ? strndup(path, (size_t) (slash - path)) : strdup(path);
        if (!s->endpoint || !s->bucket)
                return -ENOMEM;
        size_t bl = strlen(s->bucket);
        if (bl < 3 || bl > 63)
                return repo_error(NULL, -EINVAL, "%s: bucket name must have 3 to 63 characters", url);
        for (const char *c = s->bucket; *c; c++)
                if (!(islower((unsigned char) *c) || isdigit((unsigned char) *c) || *c == '.' || *c == '-' || *c == '_'))
                        return repo_error(NULL, -EINVAL, "%s: bad bucket name (a-z, 0-9, '.', '-')", url);
        const char *pre = slash ? slash + 1 : "";
        size_t pl = strlen(pre);
        while (pl && pre[pl - 1] == '/')
                pl--;
        if (pl > 512)
                return repo_error(NULL, -EINVAL, "%s: prefix too long", url);
        for (size_t i = 0; i < pl; i++)
                if (!(isalnum((unsigned char) pre[i]) || strchr("-_./", pre[i])) ||
                    (pre[i] == '/' && (i == 0 || pre[i - 1] == '/')))
                        return repo_error(NULL, -EINVAL, "%s: bad prefix (letters, digits, '-', '_', '.', '/')", url);
        if (asprintf(&s->prefix, "%.*s%s", (int) pl, pre, pl ? "/" : "") < 0)
                return -ENOMEM;
        return 0;
}

/* [profile] key = value, from the AWS shared credentials file. */
static int credentials_file(char **ret_id, char **ret_secret, char **ret_token) {
        const char *path = getenv("AWS_SHARED_CREDENTIALS_FILE"), *profile = getenv("AWS_PROFILE");
        _cleanup_free_ char *def = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        int k;

        if (!path || !*path) {
                const char *home = getenv("HOME");
                if (!home || asprintf(&def, "%s/.aws/credentials", home) < 0)
                        return -ENOENT;
                path = def;
        }
        if (!profile || !*profile)
                profile = "default";
        k = repo_read_file_at(AT_FDCWD, path, 64 * 1024, &buf, &n);
        if (k < 0)
                return k;
        bool in = false;
        char *save = NULL;
        buf[n ? n - 1 : 0] = buf[n ? n - 1 : 0] == '\n' ? 0 : buf[n ? n - 1 : 0];
        char *text = strndup((const char *) buf, n);
        if (!text)
                return -ENOMEM;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *l = line, *eq, *e;
                while (*l == ' ' || *l == '\t')
                        l++;
                e = l + strlen(l);
                while (e > l && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                        *--e = 0;
                if (*l == '[') {
                        in = e > l + 1 && e[-1] == ']' && strlen(profile) == (size_t) (e - l - 2) &&
                             strncmp(l + 1, profile, (size_t) (e - l - 2)) == 0;
                        continue;
                }
                if (!in || *l == '#' || *l == ';' || !(eq = strchr(l, '=')))
                        continue;
                char *ke = eq, *v = eq + 1;
                while (ke > l && (ke[-1] == ' ' || ke[-1] == '\t'))
                        ke--;
                *ke = 0;
                while (*v == ' ' || *v == '\t')
                        v++;
                char **dst = strcmp(l, "aws_access_key_id") == 0       ? ret_id
                             : strcmp(l, "aws_secret_access_key") == 0 ? ret_secret
                             : strcmp(l, "aws_session_token") == 0     ? ret_token
                                                                       : NULL;
                if (dst) {
                        free(*dst);
                        *dst = strdup(v);
                }
        }
        sodium_memzero(text, strlen(text));
        free(text);
        sodium_memzero(buf, n);
        return 0;
}

int repo_backend_s3_open(const char *url, repo_backend **ret) {
        _cleanup_free_ char *id = NULL, *secret = NULL, *token = NULL;
        const char *region = getenv("AWS_DEFAULT_REGION");
        s3_backend *s;
        int k;

        (void) pthread_once(&curl_once, curl_setup);
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->base.ops = &s3_ops;
        s->base.remote = true;
        pthread_mutex_init(&s->lock_mutex, NULL);
        pthread_mutex_init(&s->pack_mutex, NULL);
        pthread_mutex_init(&s->pf_mutex, NULL);
        pthread_cond_init(&s->pf_cond, NULL);
        pthread_cond_init(&s->renew_cond, NULL);
        pthread_mutex_init(&s->up_mutex, NULL);
        pthread_cond_init(&s->up_cond, NULL);
        s->base.location = strdup(url);
        if (!s->base.location) {
                s3_free(&s->base);
                return -ENOMEM;
        }
        k = parse_location(s, url);
        if (k < 0) {
                s3_free(&s->base);
                return k;
        }
        if (getenv("AWS_ACCESS_KEY_ID") && getenv("AWS_SECRET_ACCESS_KEY")) {
                id = strdup(getenv("AWS_ACCESS_KEY_ID"));
                secret = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
                if (getenv("AWS_SESSION_TOKEN") && *getenv("AWS_SESSION_TOKEN"))
                        token = strdup(getenv("AWS_SESSION_TOKEN"));
        } else
                (void) credentials_file(&id, &secret, &token);
        if (!id || !secret || !*id || !*secret) {
                s3_free(&s->base);
                return repo_error(NULL, -EACCES,
                                  "%s: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                                  "or AWS_SHARED_CREDENTIALS_FILE)",
                                  url);
        }
        if (strchr(id, ':') || strlen(id) > 256 || strlen(secret) > 256) {
                s3_free(&s->base);
                return repo_error(NULL, -EINVAL, "%s: malformed S3 access key", url);
        }
        if (!region || !*region)
                region = "us-east-1";
        for (const char *c = region; *c; c++)
                if (!(isalnum((unsigned char) *c) || *c == '-') || c - region > 40) {
                        s3_free(&s->base);
                        return repo_error(NULL, -EINVAL, "AWS_DEFAULT_REGION: bad region name");
                }
        snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", region);
        if (asprintf(&s->userpwd, "%s:%s", id, secret) < 0) {
                s3_free(&s->base);
                return -ENOMEM;
        }
        sodium_memzero(secret, strlen(secret));
        s->token = TAKE_PTR(token);
        uint8_t rnd[16];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(s->holder, sizeof s->holder, rnd, sizeof rnd);
        s->lease = S3_LEASE_DEFAULT;
        const char *lease = TEST_HOOK_ENV("LVSS_S3_LOCK_LEASE");
        unsigned long lv = lease ? strtoul(lease, NULL, 10) : 0;
        if (lv >= 3 && lv <= 3600)
                s->lease = (unsigned) lv;
        *ret = &s->base;
        return 0;
}
