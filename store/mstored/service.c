/* SPDX-License-Identifier: MIT */
/*
 * mstored's service core (see service.h): definitions + engine handles +
 * the mail model operations.  Invariants (docs/design/mailstore.md §3):
 *
 *  1. A storage group is open in the engine iff at least one of its
 *     databases is mounted; dismounting the last one closes it, so a group
 *     with every database dismounted is "offline" (restorable).
 *  2. rt[i] describes defs->sgs[i]; rt[i].db[j] is the handle of
 *     defs->sgs[i].dbs[j] or NULL when dismounted.  Entries are only
 *     appended, never removed, so indexes stay valid.
 *  3. A delivery is acknowledged only after mstore_txn_commit() returned 0
 *     (durable in the log).
 *  4. UIDs of a mailbox only grow: they are allocated under the mailbox's
 *     mutex from a cache loaded from the mailbox record plus any higher UIDs
 *     present (a record written by an older commit may lag).  A failed
 *     transaction leaves a gap, never a reuse.
 *  5. The definitions file is rewritten (atomically) after every change,
 *     with the exclusive lock held, before the change is reported done.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/core/array.h"
#include "lib/core/fs-util.h"
#include "lib/core/macro.h"
#include "defs.h"
#include "events.h"
#include "lmtp-proto.h"
#include "mailmodel.h"
#include "service.h"

_Static_assert(MM_STREAM_REF_SIZE == MSTORE_STREAM_REF_SIZE, "stream reference size");

#define MBOX_BUCKETS 4096

struct mbox_rt {
        struct mbox_rt *next;
        char *addr;
        pthread_mutex_t lock;
        bool loaded;
        uint32_t uid_next, uid_validity;
        /* Held from before a read-modify-write transaction (flags, expunge,
         * copy, folders) begins until after its commit: the engine resolves
         * concurrent commits to one key by last writer wins. */
        pthread_mutex_t change_lock;
        atomic_uint_fast64_t changes; /* bumped after each commit touching the mailbox */
};

struct sg_rt {
        /* Held shared by deliveries and reads of this group for their whole
         * transaction (so across a commit that waits for a thaw), exclusive
         * by administration of this group.  Taken after s->lock. */
        pthread_rwlock_t lock;
        mstore_sg *sg;
        mstore_db *db[DEFS_MAX_DB_HARD];
        bool in_backup;
        /* The engine reported a sticky failure (an I/O error such as a full
         * disk left memory and disk apart): close and reopen the group. */
        atomic_bool need_reopen;
        time_t last_reopen;
};

struct service {
        char *data_dir;
        char *server_name;
        unsigned max_sgs, max_dbs;
        size_t max_message_size;
        uint64_t log_file_size;

        pthread_rwlock_t lock;
        struct defs *defs;
        struct sg_rt rt[DEFS_MAX_SG_HARD];

        pthread_mutex_t mb_lock;
        struct mbox_rt *mb[MBOX_BUCKETS];

        atomic_uint_fast64_t n_deliveries, n_rcpt_ok, n_bytes, n_rejected, n_failed, n_sessions_total;
        atomic_int n_sessions_active;
};

const char *service_error(const ErrorSlot *err, int r) {
        const char *msg = error_slot_get(err);
        if (*msg)
                return msg;
        return r > -4096 ? strerror(-r) : mstore_strerror(r);
}

const char *eng_err(const char *msg, int r) {
        return msg && *msg ? msg : mstore_strerror(r);
}

static int check_not_snapshot(const char *path, ErrorSlot *err) {
        /* A path component named .lvss-snapshots is where lvss keeps
         * snapshot copies; databases there must be restored first. */
        const char *p = path;
        while ((p = strstr(p, ".lvss-snapshots"))) {
                bool start = p == path || p[-1] == '/';
                char end = p[strlen(".lvss-snapshots")];
                if (start && (end == 0 || end == '/'))
                        return error_slot_set(err, -EROFS,
                                              "'%s' is inside a snapshot (.lvss-snapshots): restore the data first",
                                              path);
                p++;
        }
        /* Read-only filesystem or read-only btrfs subvolume (a snapshot). */
        if (access(path, W_OK) < 0 && errno == EROFS)
                return error_slot_set(err, -EROFS,
                                      "'%s' is on a read-only filesystem or snapshot: restore the data first", path);
        return 0;
}

int service_check_not_snapshot(const char *path, ErrorSlot *err) {
        error_slot_clear(err);
        return check_not_snapshot(path, err);
}

/* ------------------------------------------------------------ lifetime */

int service_new(const struct service_options *o, service **ret, ErrorSlot *err) {
        error_slot_clear(err);
        if (!o || !o->data_dir || !o->server_name)
                return -EINVAL;
        service *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        /* Writer-preferring: administration must not starve behind a steady
         * stream of deliveries (each holds the locks only briefly, except a
         * group's own lock across its commit). */
        pthread_rwlockattr_t attr;
        pthread_rwlockattr_init(&attr);
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&s->lock, &attr);
        for (size_t i = 0; i < DEFS_MAX_SG_HARD; i++)
                pthread_rwlock_init(&s->rt[i].lock, &attr);
        pthread_rwlockattr_destroy(&attr);
        pthread_mutex_init(&s->mb_lock, NULL);
        s->data_dir = strdup(o->data_dir);
        s->server_name = strdup(o->server_name);
        s->max_sgs = o->max_sgs ? o->max_sgs : 4;
        s->max_dbs = o->max_dbs ? o->max_dbs : 5;
        if (s->max_sgs > DEFS_MAX_SG_HARD)
                s->max_sgs = DEFS_MAX_SG_HARD;
        if (s->max_dbs > MSTORE_MAX_DATABASES)
                s->max_dbs = MSTORE_MAX_DATABASES;
        s->max_message_size = o->max_message_size ? o->max_message_size : LMTP_DEFAULT_MAX_SIZE;
        s->log_file_size = o->log_file_size;
        if (!s->data_dir || !s->server_name) {
                service_free(s);
                return -ENOMEM;
        }
        int r = mkdir_p(s->data_dir, 0750, 0750);
        if (r < 0) {
                error_slot_set(err, r, "data directory '%s': %s", s->data_dir, strerror(-r));
                service_free(s);
                return r;
        }
        r = defs_load(s->data_dir, &s->defs, err);
        if (r < 0) {
                if (!*error_slot_get(err))
                        error_slot_set(err, r, "%s", strerror(-r));
                service_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

static void mbox_invalidate_all(service *s) {
        pthread_mutex_lock(&s->mb_lock);
        for (size_t i = 0; i < MBOX_BUCKETS; i++)
                for (struct mbox_rt *m = s->mb[i]; m; m = m->next)
                        m->loaded = false;
        pthread_mutex_unlock(&s->mb_lock);
}

service *service_free(service *s) {
        if (!s)
                return NULL;
        service_stop(s);
        for (size_t i = 0; i < MBOX_BUCKETS; i++) {
                struct mbox_rt *m = s->mb[i];
                while (m) {
                        struct mbox_rt *n = m->next;
                        pthread_mutex_destroy(&m->lock);
                        pthread_mutex_destroy(&m->change_lock);
                        free(m->addr);
                        free(m);
                        m = n;
                }
        }
        defs_free(s->defs);
        pthread_rwlock_destroy(&s->lock);
        for (size_t i = 0; i < DEFS_MAX_SG_HARD; i++)
                pthread_rwlock_destroy(&s->rt[i].lock);
        pthread_mutex_destroy(&s->mb_lock);
        free(s->data_dir);
        free(s->server_name);
        free(s);
        return NULL;
}

const char *service_server_name(service *s) {
        return s->server_name;
}

size_t service_max_message_size(service *s) {
        return s->max_message_size;
}

static int save(service *s, ErrorSlot *err) {
        int r = defs_save(s->defs, s->data_dir);
        if (r < 0)
                return error_slot_set(err, r, "definitions in '%s': cannot save: %s", s->data_dir, strerror(-r));
        return 0;
}

static int find(service *s, const char *sg, const char *db, size_t *ret_i, size_t *ret_j, ErrorSlot *err) {
        for (size_t i = 0; i < s->defs->n_sgs; i++) {
                if (strcmp(s->defs->sgs[i].name, sg) != 0)
                        continue;
                *ret_i = i;
                if (!db)
                        return 0;
                for (size_t j = 0; j < s->defs->sgs[i].n_dbs; j++)
                        if (strcmp(s->defs->sgs[i].dbs[j].name, db) == 0) {
                                *ret_j = j;
                                return 0;
                        }
                return error_slot_set(err, -ENOENT, "database '%s/%s': no such database", sg, db);
        }
        return error_slot_set(err, -ENOENT, "storage group '%s': no such storage group", sg);
}

static unsigned mounted_count(service *s, size_t i) {
        unsigned n = 0;
        for (size_t j = 0; j < s->defs->sgs[i].n_dbs; j++)
                n += s->rt[i].db[j] != NULL;
        return n;
}

/* Open group i in the engine (exclusive lock held). */
static int sg_open(service *s, size_t i, bool create, ErrorSlot *err) {
        struct defs_sg *d = &s->defs->sgs[i];
        if (s->rt[i].sg)
                return 0;
        int r = check_not_snapshot(d->path, err);
        if (r < 0)
                return r;
        r = check_not_snapshot(d->log_path, err);
        if (r < 0)
                return r;
        mstore_sg_options o = MSTORE_SG_OPTIONS_INIT;
        o.base = d->base;
        o.log_dir = d->log_path;
        o.circular_logging = d->circular_logging;
        o.create = create;
        o.log_file_size = s->log_file_size;
        mstore_sg *sg = NULL;
        r = mstore_sg_open(d->path, &o, &sg);
        if (r < 0)
                return error_slot_set(err, r, "storage group '%s': cannot open: %s", d->name,
                                      eng_err(mstore_last_error(), r)); /* no handle yet */
        s->rt[i].sg = sg;
        /* After a crash the engine recovered and re-attached what was
         * attached; match that with the definitions. */
        unsigned n = mstore_db_count(sg);
        if (n > 0)
                event_log(MSTORED_MID_RECOVERY, LOG_NOTICE, d->name, NULL,
                          "storage group '%s': soft recovery done, %u database(s) recovered", d->name, n);
        for (unsigned k = n; k > 0; k--) {
                mstore_db *db = mstore_db_get(sg, k - 1);
                const char *name = mstore_db_name(db);
                struct defs_db *dd = defs_find_db(d, name);
                if (dd && dd->mounted) {
                        s->rt[i].db[dd - d->dbs] = db;
                        continue;
                }
                /* Attached in the engine but not wanted: dismount it. */
                r = mstore_db_detach(db);
                if (r < 0)
                        event_log(MSTORED_MID_ERROR, LOG_WARNING, d->name, name,
                                  "database '%s/%s': detach after recovery failed: %s, ignoring", d->name, name,
                                  eng_err(mstore_sg_last_error(sg), r));
        }
        return 0;
}

static int sg_close_if_idle(service *s, size_t i) {
        if (!s->rt[i].sg || mounted_count(s, i) > 0)
                return 0;
        int r = mstore_sg_close(s->rt[i].sg);
        s->rt[i].sg = NULL;
        return r;
}

static int renew_uid_validity(service *s, size_t i, size_t j, ErrorSlot *err);

static int db_mount_locked(service *s, size_t i, size_t j, ErrorSlot *err) {
        struct defs_sg *d = &s->defs->sgs[i];
        const char *name = d->dbs[j].name;
        if (s->rt[i].db[j])
                return 0;
        /* A group restored without its later logs may have no logs at all
         * (they were lost): its first mount starts a new log stream. */
        bool restored = false;
        for (size_t k = 0; k < d->n_dbs; k++)
                restored |= d->dbs[k].renew_uid_validity;
        int r = sg_open(s, i, restored, err);
        if (r < 0)
                return r;
        if (!s->rt[i].db[j]) {
                mstore_db *db = mstore_db_find(s->rt[i].sg, name);
                if (!db) {
                        r = mstore_db_attach(s->rt[i].sg, name, NULL, &db);
                        if (r < 0) {
                                error_slot_set(err, r, "database '%s/%s': cannot mount: %s", d->name, name,
                                               eng_err(mstore_sg_last_error(s->rt[i].sg), r));
                                sg_close_if_idle(s, i);
                                return r;
                        }
                }
                s->rt[i].db[j] = db;
        }
        if (d->dbs[j].renew_uid_validity && (r = renew_uid_validity(s, i, j, err)) < 0) {
                (void) mstore_db_detach(s->rt[i].db[j]);
                s->rt[i].db[j] = NULL;
                sg_close_if_idle(s, i);
                return r;
        }
        mbox_invalidate_all(s);
        event_log(MSTORED_MID_MOUNT, LOG_INFO, d->name, name, "database '%s/%s' mounted", d->name, name);
        return 0;
}

int service_start(service *s) {
        int ok = 0, failed = 0;
        pthread_rwlock_wrlock(&s->lock);
        for (size_t i = 0; i < s->defs->n_sgs; i++) {
                struct defs_sg *d = &s->defs->sgs[i];
                for (size_t j = 0; j < d->n_dbs; j++) {
                        if (!d->dbs[j].mounted)
                                continue;
                        ErrorSlot e = {""};
                        int r = db_mount_locked(s, i, j, &e);
                        if (r < 0) {
                                event_log(MSTORED_MID_ERROR, LOG_ERR, d->name, d->dbs[j].name, "%s",
                                          *error_slot_get(&e) ? error_slot_get(&e) : strerror(-r));
                                failed++;
                        } else
                                ok++;
                }
        }
        pthread_rwlock_unlock(&s->lock);
        return failed > 0 && ok == 0 ? -EIO : 0;
}

void service_stop(service *s) {
        pthread_rwlock_wrlock(&s->lock);
        for (size_t i = 0; s->defs && i < s->defs->n_sgs; i++) {
                if (!s->rt[i].sg)
                        continue;
                pthread_rwlock_wrlock(&s->rt[i].lock);
                int r = mstore_sg_close(s->rt[i].sg);
                if (r < 0)
                        event_log(MSTORED_MID_ERROR, LOG_ERR, s->defs->sgs[i].name, NULL,
                                  "storage group '%s': close failed: %s", s->defs->sgs[i].name, mstore_strerror(r));
                s->rt[i].sg = NULL;
                memset(s->rt[i].db, 0, sizeof(s->rt[i].db));
                pthread_rwlock_unlock(&s->rt[i].lock);
        }
        pthread_rwlock_unlock(&s->lock);
}

/* ------------------------------------------------------ administration */

int service_sg_create(service *s, const char *name, const char *path, const char *log_path, bool circular,
                      ErrorSlot *err) {
        error_slot_clear(err);
        if (!defs_name_valid(name))
                return error_slot_set(err, -EINVAL,
                                      "storage group '%s': invalid name (1-64 of letters, digits, '_', '.', '-')",
                                      name);
        if ((path && path[0] != '/') || (log_path && log_path[0] != '/'))
                return error_slot_set(err, -EINVAL, "storage group '%s': --path and --log-path must be absolute", name);
        _cleanup_free_ char *p = path ? strdup(path) : NULL, *lp = NULL;
        if (!p && asprintf(&p, "%s/%s", s->data_dir, name) < 0)
                return -ENOMEM;
        lp = strdup(log_path ? log_path : p);
        if (!p || !lp)
                return -ENOMEM;
        int q = check_not_snapshot(p, err);
        if (q >= 0)
                q = check_not_snapshot(lp, err);
        if (q < 0)
                return q;
        pthread_rwlock_wrlock(&s->lock);
        int r;
        char base[4];
        if (defs_find_sg(s->defs, name)) {
                r = error_slot_set(err, -EEXIST, "storage group '%s': already exists", name);
                goto out;
        }
        if (s->defs->n_sgs >= s->max_sgs || defs_next_base(s->defs, base) < 0) {
                r = error_slot_set(err, -ENOSPC, "storage group '%s': limit of %u storage groups reached", name,
                                   s->max_sgs);
                goto out;
        }
        r = check_not_snapshot(s->data_dir, err);
        if (r < 0)
                goto out;
        if ((r = mkdir_p(p, 0750, 0750)) < 0 || (r = mkdir_p(lp, 0750, 0750)) < 0) {
                r = error_slot_set(err, r, "storage group '%s': cannot create directory: %s", name, strerror(-r));
                goto out;
        }
        size_t i = s->defs->n_sgs;
        struct defs_sg *d = &s->defs->sgs[i];
        memset(d, 0, sizeof(*d));
        strcpy(d->name, name);
        memcpy(d->base, base, 4);
        d->path = TAKE_PTR(p);
        d->log_path = TAKE_PTR(lp);
        d->circular_logging = circular;
        s->defs->n_sgs++;
        /* Create the group's files now (logs, checkpoint), then leave it
         * offline until a database is created or mounted. */
        r = sg_open(s, i, true, err);
        if (r >= 0) {
                r = mstore_sg_close(s->rt[i].sg);
                s->rt[i].sg = NULL;
                if (r < 0)
                        error_slot_set(err, r, "storage group '%s': %s", name, mstore_strerror(r));
        }
        if (r < 0) {
                s->defs->n_sgs--;
                free(d->path);
                free(d->log_path);
                goto out;
        }
        r = save(s, err);
out:
        pthread_rwlock_unlock(&s->lock);
        return r;
}

static int busy(service *s, size_t i, ErrorSlot *err) {
        if (s->rt[i].in_backup)
                return error_slot_set(err, -EBUSY, "storage group '%s': a backup is in progress, try again later",
                                      s->defs->sgs[i].name);
        return 0;
}

int service_db_create(service *s, const char *sg, const char *db, bool is_public, ErrorSlot *err) {
        error_slot_clear(err);
        if (!defs_name_valid(db))
                return error_slot_set(err, -EINVAL, "database '%s/%s': invalid name", sg, db);
        pthread_rwlock_wrlock(&s->lock);
        size_t i = 0, j = 0;
        ssize_t locked = -1;
        int r = find(s, sg, NULL, &i, &j, err);
        if (r < 0)
                goto out;
        struct defs_sg *d = &s->defs->sgs[i];
        if ((r = busy(s, i, err)) < 0)
                goto out;
        pthread_rwlock_wrlock(&s->rt[i].lock);
        locked = (ssize_t) i;
        if (defs_find_db(d, db)) {
                r = error_slot_set(err, -EEXIST, "database '%s/%s': already exists", sg, db);
                goto out;
        }
        if (d->n_dbs >= s->max_dbs) {
                r = error_slot_set(err, -ENOSPC, "database '%s/%s': limit of %u databases per storage group reached",
                                   sg, db, s->max_dbs);
                goto out;
        }
        r = sg_open(s, i, false, err);
        if (r < 0)
                goto out;
        mstore_db *h = NULL;
        r = mstore_db_create(s->rt[i].sg, db, NULL, &h);
        if (r < 0) {
                error_slot_set(err, r, "database '%s/%s': cannot create: %s", sg, db,
                               eng_err(mstore_sg_last_error(s->rt[i].sg), r));
                sg_close_if_idle(s, i);
                goto out;
        }
        j = d->n_dbs++;
        memset(&d->dbs[j], 0, sizeof(d->dbs[j]));
        strcpy(d->dbs[j].name, db);
        d->dbs[j].is_public = is_public;
        d->dbs[j].mounted = true;
        s->rt[i].db[j] = h;
        r = save(s, err);
        event_log(MSTORED_MID_MOUNT, LOG_INFO, sg, db, "database '%s/%s' created and mounted", sg, db);
out:
        if (locked >= 0)
                pthread_rwlock_unlock(&s->rt[locked].lock);
        pthread_rwlock_unlock(&s->lock);
        return r;
}

int service_db_mount(service *s, const char *sg, const char *db, ErrorSlot *err) {
        error_slot_clear(err);
        pthread_rwlock_wrlock(&s->lock);
        size_t i = 0, j = 0;
        int r = find(s, sg, db, &i, &j, err);
        if (r >= 0)
                r = busy(s, i, err);
        if (r >= 0 && !s->rt[i].db[j]) {
                pthread_rwlock_wrlock(&s->rt[i].lock);
                r = db_mount_locked(s, i, j, err);
                pthread_rwlock_unlock(&s->rt[i].lock);
                if (r >= 0) {
                        s->defs->sgs[i].dbs[j].mounted = true;
                        r = save(s, err);
                }
        }
        pthread_rwlock_unlock(&s->lock);
        return r;
}

int service_db_dismount(service *s, const char *sg, const char *db, ErrorSlot *err) {
        error_slot_clear(err);
        pthread_rwlock_wrlock(&s->lock);
        size_t i = 0, j = 0;
        int r = find(s, sg, db, &i, &j, err);
        if (r >= 0)
                r = busy(s, i, err);
        if (r >= 0 && s->rt[i].db[j]) {
                pthread_rwlock_wrlock(&s->rt[i].lock);
                r = mstore_db_detach(s->rt[i].db[j]);
                if (r < 0)
                        error_slot_set(err, r, "database '%s/%s': dismount failed: %s", sg, db,
                                       eng_err(mstore_sg_last_error(s->rt[i].sg), r));
                /* The engine freed the handle even on failure. */
                s->rt[i].db[j] = NULL;
                int q = sg_close_if_idle(s, i);
                pthread_rwlock_unlock(&s->rt[i].lock);
                if (r >= 0 && q < 0)
                        r = error_slot_set(err, q, "storage group '%s': close failed: %s", sg, mstore_strerror(q));
                s->defs->sgs[i].dbs[j].mounted = false;
                ErrorSlot ignored;
                int q2 = save(s, r < 0 ? &ignored : err); /* keep the first message */
                if (r >= 0)
                        r = q2;
                mbox_invalidate_all(s);
                event_log(MSTORED_MID_DISMOUNT, LOG_INFO, sg, db, "database '%s/%s' dismounted", sg, db);
        } else if (r >= 0) {
                s->defs->sgs[i].dbs[j].mounted = false;
                r = save(s, err);
        }
        pthread_rwlock_unlock(&s->lock);
        return r;
}

int service_db_set_overwrite(service *s, const char *sg, const char *db, bool allow, ErrorSlot *err) {
        error_slot_clear(err);
        pthread_rwlock_wrlock(&s->lock);
        size_t i = 0, j = 0;
        int r = find(s, sg, db, &i, &j, err);
        if (r >= 0) {
                s->defs->sgs[i].dbs[j].allow_restore_overwrite = allow;
                r = save(s, err);
        }
        pthread_rwlock_unlock(&s->lock);
        return r;
}

/* ------------------------------------------------------------ mailboxes */

static struct mbox_rt *mbox_get(service *s, const char *addr) {
        uint32_t h = 2166136261u;
        for (const char *p = addr; *p; p++)
                h = (h ^ (unsigned char) *p) * 16777619u;
        pthread_mutex_lock(&s->mb_lock);
        struct mbox_rt *m;
        for (m = s->mb[h % MBOX_BUCKETS]; m; m = m->next)
                if (strcmp(m->addr, addr) == 0)
                        break;
        if (!m) {
                m = calloc(1, sizeof(*m));
                if (m) {
                        m->addr = strdup(addr);
                        if (!m->addr) {
                                free(m);
                                m = NULL;
                        } else {
                                pthread_mutex_init(&m->lock, NULL);
                                pthread_mutex_init(&m->change_lock, NULL);
                                m->next = s->mb[h % MBOX_BUCKETS];
                                s->mb[h % MBOX_BUCKETS] = m;
                        }
                }
        }
        pthread_mutex_unlock(&s->mb_lock);
        return m;
}

/* Load uid_next for mailbox m (its lock held). */
static int mbox_load(mstore_txn *txn, mstore_db *db, struct mbox_rt *m) {
        char key[MM_MAX_KEY], hi[MM_MAX_KEY];
        int kl = mm_key_mailbox(key, m->addr);
        if (kl < 0)
                return kl;
        void *v = NULL;
        size_t vl = 0;
        struct mm_mailbox mb = {.uid_validity = (uint32_t) time(NULL), .uid_next = 1};
        int r = mstore_get(txn, db, key, (size_t) kl, &v, &vl);
        if (r >= 0) {
                r = mm_mailbox_decode(v, vl, &mb);
                free(v);
                if (r < 0)
                        return r;
                if (mb.uid_next == 0)
                        mb.uid_next = 1;
        } else if (r != -ENOENT)
                return r;
        /* Records written by commits that finished out of order may lag;
         * any UID at or above uid_next is in use. */
        int lo = mm_key_message(key, m->addr, mb.uid_next);
        int hl = mm_key_message_prefix(hi, m->addr);
        hi[hl - 1] = 1;
        mstore_cursor *c = NULL;
        r = mstore_cursor_open(txn, db, key, (size_t) lo, hi, (size_t) hl, &c);
        if (r < 0)
                return r;
        const void *k;
        size_t klen;
        while ((r = mstore_cursor_next(c, &k, &klen, NULL, NULL)) > 0) {
                uint32_t uid;
                if (mm_key_message_uid(k, klen, (size_t) hl, &uid) == 0 && uid >= mb.uid_next)
                        mb.uid_next = uid + 1;
        }
        mstore_cursor_free(c);
        if (r < 0)
                return r;
        m->uid_next = mb.uid_next;
        m->uid_validity = mb.uid_validity;
        m->loaded = true;
        return 0;
}

static int put_mailbox_record(mstore_txn *txn, mstore_db *db, const char *addr, uint32_t validity,
                              uint32_t uid_next) {
        char key[MM_MAX_KEY];
        int kl = mm_key_mailbox(key, addr);
        if (kl < 0)
                return kl;
        struct mm_mailbox mb = {.uid_validity = validity, .uid_next = uid_next, .created = (uint64_t) time(NULL)};
        _cleanup_free_ void *v = NULL;
        size_t vl;
        int r = mm_mailbox_encode(&mb, &v, &vl);
        if (r < 0)
                return r;
        return mstore_put(txn, db, key, (size_t) kl, v, vl);
}

/* The first mount after a restore that did not roll forward to the end of
 * the log (docs/design/mailstore.md §8.1): UIDs above the restored UIDNEXT
 * may have been handed out already, so every mailbox of the database gets a
 * UIDVALIDITY above its old one (the time, or the old value plus one), in
 * one logged transaction, before anyone can read it.  Then the mark is
 * cleared (a crash before that bumps once more: harmless). */
static int renew_uid_validity(service *s, size_t i, size_t j, ErrorSlot *err) {
        struct defs_sg *d = &s->defs->sgs[i];
        mstore_db *db = s->rt[i].db[j];
        uint32_t now = (uint32_t) time(NULL);
        unsigned n = 0;
        mstore_txn *txn = NULL;
        int r = mstore_txn_begin(s->rt[i].sg, &txn);
        for (size_t k = 0; r >= 0 && k < s->defs->n_mailboxes; k++) {
                struct defs_mailbox *mb = &s->defs->mailboxes[k];
                if (strcmp(mb->sg, d->name) != 0 || strcmp(mb->db, d->dbs[j].name) != 0)
                        continue;
                struct mbox_rt m = {.addr = mb->address};
                r = mbox_load(txn, db, &m);
                uint32_t v = m.uid_validity >= now ? m.uid_validity + 1 : now;
                if (r >= 0)
                        r = put_mailbox_record(txn, db, mb->address, v ? v : 1, m.uid_next);
                n++;
        }
        if (r >= 0) {
                r = mstore_txn_commit(txn);
                txn = NULL;
        }
        mstore_txn_abort(txn);
        if (r < 0)
                return error_slot_set(err, r, "database '%s/%s': cannot give its mailboxes a new UIDVALIDITY: %s",
                                      d->name, d->dbs[j].name, eng_err(mstore_sg_last_error(s->rt[i].sg), r));
        for (size_t k = 0; k < s->defs->n_mailboxes; k++) {
                struct defs_mailbox *mb = &s->defs->mailboxes[k];
                struct mbox_rt *m = strcmp(mb->sg, d->name) == 0 && strcmp(mb->db, d->dbs[j].name) == 0
                                            ? mbox_get(s, mb->address)
                                            : NULL;
                if (m)
                        atomic_fetch_add(&m->changes, 1); /* sessions in the mailbox notice */
        }
        event_log(MSTORED_MID_MOUNT, LOG_NOTICE, d->name, d->dbs[j].name,
                  "database '%s/%s' was restored without the later logs: new UIDVALIDITY for %u mailbox(es)",
                  d->name, d->dbs[j].name, n);
        d->dbs[j].renew_uid_validity = false;
        ErrorSlot e = {""};
        if (save(s, &e) < 0)
                event_log(MSTORED_MID_ERROR, LOG_WARNING, d->name, d->dbs[j].name,
                          "%s: the next mount gives new UIDVALIDITYs again",
                          *error_slot_get(&e) ? error_slot_get(&e) : "cannot save the definitions");
        return 0;
}

int service_restore_mark(service *s, const char *sg, const char *db, uint32_t *ret_prev) {
        pthread_rwlock_wrlock(&s->lock);
        struct defs_sg *d = defs_find_sg(s->defs, sg);
        uint32_t prev = 0;
        for (size_t j = 0; d && j < d->n_dbs; j++) {
                if (*db && strcmp(d->dbs[j].name, db) != 0)
                        continue;
                prev |= d->dbs[j].renew_uid_validity ? 1u << j : 0;
                d->dbs[j].renew_uid_validity = true;
        }
        ErrorSlot ignored;
        int r = d ? save(s, &ignored) : -ENOENT;
        pthread_rwlock_unlock(&s->lock);
        *ret_prev = prev;
        return r;
}

int service_restore_unmark(service *s, const char *sg, const char *db, uint32_t prev) {
        pthread_rwlock_wrlock(&s->lock);
        struct defs_sg *d = defs_find_sg(s->defs, sg);
        for (size_t j = 0; d && j < d->n_dbs; j++)
                if (!*db || strcmp(d->dbs[j].name, db) == 0)
                        d->dbs[j].renew_uid_validity = (prev >> j) & 1;
        ErrorSlot ignored;
        int r = d ? save(s, &ignored) : -ENOENT;
        pthread_rwlock_unlock(&s->lock);
        return r;
}

int service_mailbox_create(service *s, const char *address, const char *sg, const char *db, ErrorSlot *err) {
        error_slot_clear(err);
        char addr[MM_MAX_ADDR + 1];
        size_t n = address ? strlen(address) : 0;
        if (n == 0 || n > MM_MAX_ADDR)
                return error_slot_set(err, -EINVAL, "mailbox '%s': invalid address", address ? address : "");
        for (size_t k = 0; k <= n; k++)
                addr[k] = (char) (address[k] >= 'A' && address[k] <= 'Z' ? address[k] + 32 : address[k]);
        if (!defs_address_valid(addr))
                return error_slot_set(err, -EINVAL, "mailbox '%s': invalid address", address);
        pthread_rwlock_wrlock(&s->lock);
        size_t i = 0, j = 0;
        ssize_t locked = -1;
        int r = find(s, sg, db, &i, &j, err);
        if (r < 0)
                goto out;
        if (defs_find_mailbox(s->defs, addr)) {
                r = error_slot_set(err, -EEXIST, "mailbox '%s': already exists", addr);
                goto out;
        }
        mstore_db *h = s->rt[i].db[j];
        if (!h) {
                r = error_slot_set(err, -ENODEV, "mailbox '%s': database '%s/%s' is not mounted", addr, sg, db);
                goto out;
        }
        if ((r = busy(s, i, err)) < 0)
                goto out;
        pthread_rwlock_wrlock(&s->rt[i].lock);
        locked = (ssize_t) i;
        mstore_txn *txn = NULL;
        r = mstore_txn_begin(s->rt[i].sg, &txn);
        if (r >= 0)
                r = put_mailbox_record(txn, h, addr, (uint32_t) time(NULL), 1);
        if (r >= 0) {
                char key[MM_MAX_KEY];
                int kl = mm_key_folder(key, addr, "INBOX");
                r = kl < 0 ? kl : mstore_put(txn, h, key, (size_t) kl, "", 0);
        }
        if (r >= 0) {
                r = mstore_txn_commit(txn);
                txn = NULL;
        }
        mstore_txn_abort(txn);
        if (r < 0) {
                error_slot_set(err, r, "mailbox '%s': cannot create in '%s/%s': %s", addr, sg, db,
                               eng_err(mstore_sg_last_error(s->rt[i].sg), r));
                goto out;
        }
        r = defs_add_mailbox(s->defs, addr, sg, db);
        if (r < 0) {
                error_slot_set(err, r, "mailbox '%s': %s", addr, strerror(-r));
                goto out;
        }
        r = save(s, err);
        struct mbox_rt *m = mbox_get(s, addr);
        if (m)
                m->loaded = false;
out:
        if (locked >= 0)
                pthread_rwlock_unlock(&s->rt[locked].lock);
        pthread_rwlock_unlock(&s->lock);
        return r;
}

/* Locate ADDRESS's mailbox (lock held): group index and database handle. */
static int locate(service *s, const char *address, size_t *ret_i, mstore_db **ret_db) {
        struct defs_mailbox *m = defs_find_mailbox(s->defs, address);
        if (!m)
                return -ENOENT;
        size_t i = 0, j = 0;
        ErrorSlot ignored;
        if (find(s, m->sg, m->db, &i, &j, &ignored) < 0)
                return -ENOENT;
        *ret_i = i;
        if (!s->rt[i].db[j])
                return -EAGAIN;
        *ret_i = i;
        *ret_db = s->rt[i].db[j];
        return 0;
}

static void sg_reopen(service *s, size_t g);

int service_rcpt_check(service *s, const char *address) {
        pthread_rwlock_rdlock(&s->lock);
        size_t i = 0;
        mstore_db *db;
        int r = locate(s, address, &i, &db);
        pthread_rwlock_unlock(&s->lock);
        if (r == -EAGAIN && atomic_load(&s->rt[i].need_reopen)) {
                /* Closed by an engine failure: try to bring it back now. */
                sg_reopen(s, i);
                pthread_rwlock_rdlock(&s->lock);
                r = locate(s, address, &i, &db);
                pthread_rwlock_unlock(&s->lock);
        }
        return r;
}

static int deliver_one(service *s, mstore_txn *txn, mstore_db *db, const char *addr, const char *from,
                       const char *subject, const void *data, size_t size) {
        struct mbox_rt *m = mbox_get(s, addr);
        if (!m)
                return -ENOMEM;
        uint32_t uid, validity;
        pthread_mutex_lock(&m->lock);
        int r = m->loaded ? 0 : mbox_load(txn, db, m);
        if (r >= 0) {
                uid = m->uid_next++;
                validity = m->uid_validity;
        }
        pthread_mutex_unlock(&m->lock);
        if (r < 0)
                return r;

        struct mm_message msg = {.uid = uid, .size = size, .time = (uint64_t) time(NULL)};
        mstore_stream_ref ref;
        r = mstore_stream_write(txn, db, data, size, &ref);
        if (r < 0)
                return r;
        memcpy(msg.stream_ref, ref.bytes, sizeof(ref.bytes));
        snprintf(msg.subject, sizeof(msg.subject), "%s", subject);
        snprintf(msg.from, sizeof(msg.from), "%s", from ? from : "");
        strcpy(msg.folder, "INBOX");
        _cleanup_free_ void *v = NULL;
        size_t vl;
        r = mm_message_encode(&msg, &v, &vl);
        if (r < 0)
                return r;
        char key[MM_MAX_KEY];
        int kl = mm_key_message(key, addr, uid);
        if (kl < 0)
                return kl;
        r = mstore_put(txn, db, key, (size_t) kl, v, vl);
        if (r < 0)
                return r;
        return put_mailbox_record(txn, db, addr, validity, uid + 1);
}

/* Reopen group g after a sticky engine failure (soft recovery brings it back
 * to its last durable state).  At most every 2 s; never during a backup. */
static void sg_reopen(service *s, size_t g) {
        pthread_rwlock_wrlock(&s->lock);
        struct sg_rt *rt = &s->rt[g];
        time_t now = time(NULL);
        if (!atomic_load(&rt->need_reopen) || rt->in_backup || now - rt->last_reopen < 2) {
                pthread_rwlock_unlock(&s->lock);
                return;
        }
        pthread_rwlock_wrlock(&rt->lock);
        struct defs_sg *d = &s->defs->sgs[g];
        rt->last_reopen = now;
        /* need_reopen is only set after the engine reported a sticky
         * failure (or when such a reopen could not open the group). */
        if (rt->sg) {
                /* the group's message is this thread's: the delivery that
                 * failed reopens; any other thread names the code */
                event_log(MSTORED_MID_RECOVERY, LOG_WARNING, d->name, NULL,
                          "storage group '%s' failed (%s): reopening it", d->name,
                          eng_err(mstore_sg_last_error(rt->sg), MSTORE_E_FAILED));
                (void) mstore_sg_close(rt->sg);
                rt->sg = NULL;
                memset(rt->db, 0, sizeof(rt->db));
        }
        /* Bring back what the definitions say is mounted; on failure (the
         * disk may still be full) the next delivery tries again. */
        bool ok = true;
        for (size_t j = 0; j < d->n_dbs; j++) {
                ErrorSlot e = {""};
                if (d->dbs[j].mounted && !rt->db[j] && db_mount_locked(s, g, j, &e) < 0) {
                        ok = false;
                        event_log(MSTORED_MID_ERROR, LOG_ERR, d->name, d->dbs[j].name,
                                  "%s; retrying on the next delivery (or: mstore db mount %s/%s)",
                                  *error_slot_get(&e) ? error_slot_get(&e) : "mount failed", d->name, d->dbs[j].name);
                }
        }
        atomic_store(&rt->need_reopen, !ok);
        pthread_rwlock_unlock(&rt->lock);
        pthread_rwlock_unlock(&s->lock);
}

int service_deliver(service *s, const char *from, char *const *rcpts, size_t n, const void *data, size_t size,
                    int *ret_status) {
        char subject[MM_MAX_SUBJECT + 1];
        mm_parse_subject(data, size, subject);
        if (size > s->max_message_size) {
                for (size_t k = 0; k < n; k++)
                        ret_status[k] = -EFBIG;
                return 0;
        }
        _cleanup_free_ size_t *grp = calloc(n ? n : 1, sizeof(size_t));
        _cleanup_free_ mstore_db **dbs = calloc(n ? n : 1, sizeof(mstore_db *));
        if (!grp || !dbs) {
                for (size_t k = 0; k < n; k++)
                        ret_status[k] = -ENOMEM;
                return 0;
        }
        bool used[DEFS_MAX_SG_HARD] = {false}, reopen[DEFS_MAX_SG_HARD] = {false};
        pthread_rwlock_rdlock(&s->lock);
        for (size_t k = 0; k < n; k++) {
                ret_status[k] = locate(s, rcpts[k], &grp[k], &dbs[k]);
                if (ret_status[k] == 0)
                        used[grp[k]] = true;
                else if (ret_status[k] == -EAGAIN && atomic_load(&s->rt[grp[k]].need_reopen))
                        reopen[grp[k]] = true; /* closed by a failure: try to bring it back */
        }
        /* Hold each group involved (not the whole service) across its
         * commit, which may wait for a thaw. */
        for (size_t g = 0; g < DEFS_MAX_SG_HARD; g++)
                if (used[g])
                        pthread_rwlock_rdlock(&s->rt[g].lock);
        pthread_rwlock_unlock(&s->lock);
        /* One transaction per storage group: all its recipients commit (and
         * become durable) together. */
        for (size_t k = 0; k < n; k++) {
                if (ret_status[k] != 0 || !dbs[k])
                        continue;
                size_t g = grp[k];
                mstore_txn *txn = NULL;
                int r = mstore_txn_begin(s->rt[g].sg, &txn);
                for (size_t q = k; q < n && r >= 0; q++)
                        if (ret_status[q] == 0 && dbs[q] && grp[q] == g)
                                r = deliver_one(s, txn, dbs[q], rcpts[q], from, subject, data, size);
                if (r >= 0) {
                        r = mstore_txn_commit(txn);
                        txn = NULL;
                }
                mstore_txn_abort(txn);
                for (size_t q = k; q < n; q++)
                        if (ret_status[q] == 0 && dbs[q] && grp[q] == g) {
                                ret_status[q] = r < 0 ? (r > -4096 ? r : -EIO) : 0;
                                dbs[q] = NULL; /* done */
                                if (r >= 0) {
                                        atomic_fetch_add(&s->n_rcpt_ok, 1);
                                        atomic_fetch_add(&s->n_bytes, size);
                                        struct mbox_rt *mb = mbox_get(s, rcpts[q]);
                                        if (mb)
                                                atomic_fetch_add(&mb->changes, 1);
                                }
                        }
                if (r < 0) {
                        atomic_fetch_add(&s->n_failed, 1);
                        event_log(MSTORED_MID_ERROR, LOG_WARNING, s->defs->sgs[g].name, NULL,
                                  "delivery into storage group '%s' failed: %s", s->defs->sgs[g].name,
                                  eng_err(mstore_sg_last_error(s->rt[g].sg), r));
                        mstore_sg_info info;
                        if (r == MSTORE_E_FAILED || r == MSTORE_E_READ_ONLY ||
                            (mstore_sg_get_info(s->rt[g].sg, &info) >= 0 && (info.failed || info.read_only))) {
                                atomic_store(&s->rt[g].need_reopen, true);
                                reopen[g] = true;
                        }
                }
                pthread_rwlock_unlock(&s->rt[g].lock);
                used[g] = false;
        }
        for (size_t g = 0; g < DEFS_MAX_SG_HARD; g++)
                if (used[g])
                        pthread_rwlock_unlock(&s->rt[g].lock);
        for (size_t g = 0; g < DEFS_MAX_SG_HARD; g++)
                if (reopen[g])
                        sg_reopen(s, g);
        int delivered = 0;
        for (size_t k = 0; k < n; k++)
                delivered += ret_status[k] == 0;
        if (delivered)
                atomic_fetch_add(&s->n_deliveries, 1);
        return delivered;
}

static int lower_addr(const char *address, char out[MM_MAX_ADDR + 1]) {
        size_t n = address ? strlen(address) : 0;
        if (n == 0 || n > MM_MAX_ADDR)
                return -EINVAL;
        for (size_t k = 0; k <= n; k++)
                out[k] = (char) (address[k] >= 'A' && address[k] <= 'Z' ? address[k] + 32 : address[k]);
        return 0;
}

static int locate_err(int r, const char *addr, ErrorSlot *err) {
        if (r == -ENOENT)
                return error_slot_set(err, r, "mailbox '%s': no such mailbox", addr);
        if (r == -EAGAIN)
                return error_slot_set(err, -ENODEV, "mailbox '%s': its database is not mounted", addr);
        return error_slot_set(err, r, "mailbox '%s': %s", addr, strerror(-r));
}

/* A mailbox opened for one transaction: its group held shared, and for a
 * change its change lock held across begin..commit. */
struct mctx {
        service *s;
        char addr[MM_MAX_ADDR + 1];
        size_t g;
        bool held;
        mstore_db *db;
        mstore_txn *txn;
        struct mbox_rt *m;
        bool changing;
};

/* The engine's message for a failure in a mailbox context: the
 * transaction's while it is open, else the group's (this thread's; begin
 * and commit, which create and free the transaction, report there). */
static const char *mctx_err(const struct mctx *c, int r) {
        return eng_err(c->txn ? mstore_txn_last_error(c->txn) : mstore_sg_last_error(c->s->rt[c->g].sg), r);
}

static int mctx_open(service *s, const char *address, bool change, struct mctx *c, ErrorSlot *err) {
        memset(c, 0, sizeof(*c));
        c->s = s;
        if (lower_addr(address, c->addr) < 0)
                return error_slot_set(err, -EINVAL, "mailbox '%s': invalid address", address ? address : "");
        c->m = mbox_get(s, c->addr);
        if (!c->m)
                return error_slot_set(err, -ENOMEM, "mailbox '%s': out of memory", c->addr);
        if (change) {
                pthread_mutex_lock(&c->m->change_lock);
                c->changing = true;
        }
        pthread_rwlock_rdlock(&s->lock);
        int r = locate(s, c->addr, &c->g, &c->db);
        if (r < 0) {
                pthread_rwlock_unlock(&s->lock);
                return locate_err(r, c->addr, err);
        }
        pthread_rwlock_rdlock(&s->rt[c->g].lock);
        c->held = true;
        pthread_rwlock_unlock(&s->lock);
        r = mstore_txn_begin(s->rt[c->g].sg, &c->txn);
        if (r < 0)
                return error_slot_set(err, r, "mailbox '%s': %s", c->addr, mctx_err(c, r));
        return 0;
}

/* Commit (if commit and r >= 0) or abort, release everything. */
static int mctx_close(struct mctx *c, int r, bool commit, ErrorSlot *err) {
        if (c->txn) {
                if (r >= 0 && commit) {
                        r = mstore_txn_commit(c->txn);
                        c->txn = NULL;
                        if (r < 0)
                                error_slot_set(err, r, "mailbox '%s': commit failed: %s", c->addr, mctx_err(c, r));
                        else if (c->m)
                                atomic_fetch_add(&c->m->changes, 1);
                }
                mstore_txn_abort(c->txn);
                c->txn = NULL;
        }
        if (c->held)
                pthread_rwlock_unlock(&c->s->rt[c->g].lock);
        if (c->changing)
                pthread_mutex_unlock(&c->m->change_lock);
        c->held = c->changing = false;
        return r;
}

int service_msg_list(service *s, const char *address, json_t **ret, ErrorSlot *err) {
        error_slot_clear(err);
        struct mctx c;
        mstore_cursor *cur = NULL;
        json_t *arr = json_array();
        int r = mctx_open(s, address, false, &c, err);
        char prefix[MM_MAX_KEY];
        int pl = r >= 0 ? mm_key_message_prefix(prefix, c.addr) : 0;
        if (r >= 0 && (r = mstore_cursor_open_prefix(c.txn, c.db, prefix, (size_t) pl, &cur)) < 0)
                error_slot_set(err, r, "mailbox '%s': cannot list messages: %s", c.addr, mctx_err(&c, r));
        const void *k, *v;
        size_t kl, vl;
        while (r >= 0 && (r = mstore_cursor_next(cur, &k, &kl, &v, &vl)) > 0) {
                struct mm_message m;
                if (mm_message_decode(v, vl, &m) < 0) {
                        r = error_slot_set(err, MSTORE_E_CORRUPT, "mailbox '%s': cannot list messages: %s", c.addr,
                                           mstore_strerror(MSTORE_E_CORRUPT)); /* the record, not the engine */
                        break;
                }
                json_array_append_new(arr, json_pack("{s:I,s:I,s:s,s:s,s:s,s:I,s:I}", "uid", (json_int_t) m.uid,
                                                     "size", (json_int_t) m.size, "subject", m.subject, "folder",
                                                     m.folder, "from", m.from, "time", (json_int_t) m.time, "flags",
                                                     (json_int_t) m.flags));
        }
        if (r < 0 && !*error_slot_get(err))
                error_slot_set(err, r, "mailbox '%s': cannot list messages: %s", c.addr, mctx_err(&c, r));
        mstore_cursor_free(cur);
        r = mctx_close(&c, r, false, err);
        if (r < 0) {
                json_decref(arr);
                return r;
        }
        *ret = json_pack("{s:o}", "messages", arr);
        return 0;
}

int service_msg_get(service *s, const char *address, uint32_t uid, void **ret_data, size_t *ret_size, ErrorSlot *err) {
        error_slot_clear(err);
        struct mctx c;
        char *buf = NULL;
        struct mm_message m;
        int r = mctx_open(s, address, false, &c, err);
        if (r < 0)
                return mctx_close(&c, r, false, err);
        char key[MM_MAX_KEY];
        int kl = mm_key_message(key, c.addr, uid);
        void *v = NULL;
        size_t vl;
        r = mstore_get(c.txn, c.db, key, (size_t) kl, &v, &vl);
        if (r == -ENOENT) {
                error_slot_set(err, r, "mailbox '%s': no message with UID %u", c.addr, uid);
                return mctx_close(&c, r, false, err);
        }
        if (r >= 0) {
                r = mm_message_decode(v, vl, &m) < 0 ? MSTORE_E_CORRUPT : 0;
                free(v);
        }
        mstore_stream_ref ref;
        if (r >= 0) {
                memcpy(ref.bytes, m.stream_ref, sizeof(ref.bytes));
                if (mstore_stream_length(&ref) != m.size)
                        r = MSTORE_E_CORRUPT;
        }
        if (r >= 0 && !(buf = malloc(m.size ? m.size : 1)))
                r = -ENOMEM;
        for (uint64_t off = 0; r >= 0 && off < m.size;) {
                size_t chunk = m.size - off > (1u << 20) ? (1u << 20) : (size_t) (m.size - off);
                r = mstore_stream_read(c.txn, c.db, &ref, off, buf + off, chunk);
                if (r == 0)
                        r = MSTORE_E_CORRUPT; /* short stream */
                if (r > 0)
                        off += (uint64_t) r;
        }
        if (r < 0)
                error_slot_set(err, r, "mailbox '%s': message %u: %s", c.addr, uid, mctx_err(&c, r));
        r = mctx_close(&c, r, false, err);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret_data = buf;
        *ret_size = m.size;
        return 0;
}

/* ------------------------------------------------------------- listings */

int service_sg_list(service *s, json_t **ret) {
        json_t *arr = json_array();
        pthread_rwlock_rdlock(&s->lock);
        for (size_t i = 0; i < s->defs->n_sgs; i++) {
                struct defs_sg *d = &s->defs->sgs[i];
                json_t *dbs = json_array();
                for (size_t j = 0; j < d->n_dbs; j++)
                        json_array_append_new(dbs, json_string(d->dbs[j].name));
                json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:b,s:o,s:b}", "name", d->name, "base",
                                                     d->base, "path", d->path, "log_path", d->log_path,
                                                     "circular_logging", d->circular_logging, "databases", dbs,
                                                     "online", s->rt[i].sg != NULL));
        }
        pthread_rwlock_unlock(&s->lock);
        *ret = json_pack("{s:o}", "storage_groups", arr);
        return *ret ? 0 : -ENOMEM;
}

static json_t *db_json(service *s, size_t i, size_t j) {
        struct defs_sg *d = &s->defs->sgs[i];
        struct defs_db *b = &d->dbs[j];
        _cleanup_free_ char *edb = NULL, *stm = NULL;
        if (asprintf(&edb, "%s/%s.edb", d->path, b->name) < 0 || asprintf(&stm, "%s/%s.stm", d->path, b->name) < 0)
                return NULL;
        return json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:b}", "sg", d->name, "name", b->name, "state",
                         s->rt[i].db[j] ? "mounted" : "dismounted", "allow_restore_overwrite",
                         b->allow_restore_overwrite, "edb", edb, "stm", stm, "public", b->is_public);
}

int service_db_list(service *s, json_t **ret) {
        json_t *arr = json_array();
        pthread_rwlock_rdlock(&s->lock);
        for (size_t i = 0; i < s->defs->n_sgs; i++)
                for (size_t j = 0; j < s->defs->sgs[i].n_dbs; j++)
                        json_array_append_new(arr, db_json(s, i, j));
        pthread_rwlock_unlock(&s->lock);
        *ret = json_pack("{s:o}", "databases", arr);
        return *ret ? 0 : -ENOMEM;
}

int service_mailbox_list(service *s, json_t **ret) {
        json_t *arr = json_array();
        pthread_rwlock_rdlock(&s->lock);
        for (size_t k = 0; k < s->defs->n_mailboxes; k++) {
                struct defs_mailbox *m = &s->defs->mailboxes[k];
                char dbpath[2 * DEFS_MAX_NAME + 2];
                snprintf(dbpath, sizeof(dbpath), "%s/%s", m->sg, m->db);
                json_array_append_new(arr, json_pack("{s:s,s:s}", "address", m->address, "db", dbpath));
        }
        pthread_rwlock_unlock(&s->lock);
        *ret = json_pack("{s:o}", "mailboxes", arr);
        return *ret ? 0 : -ENOMEM;
}

int service_stats(service *s, json_t **ret) {
        unsigned sgs_online = 0, dbs_mounted = 0;
        size_t n_sgs, n_mb;
        pthread_rwlock_rdlock(&s->lock);
        n_sgs = s->defs->n_sgs;
        n_mb = s->defs->n_mailboxes;
        for (size_t i = 0; i < n_sgs; i++) {
                sgs_online += s->rt[i].sg != NULL;
                dbs_mounted += mounted_count(s, i);
        }
        pthread_rwlock_unlock(&s->lock);
        *ret = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:I,s:i,s:i,s:I}", "deliveries",
                         (json_int_t) atomic_load(&s->n_deliveries), "recipients_delivered",
                         (json_int_t) atomic_load(&s->n_rcpt_ok), "bytes_delivered",
                         (json_int_t) atomic_load(&s->n_bytes), "recipients_rejected",
                         (json_int_t) atomic_load(&s->n_rejected), "delivery_failures",
                         (json_int_t) atomic_load(&s->n_failed), "lmtp_sessions_total",
                         (json_int_t) atomic_load(&s->n_sessions_total), "lmtp_sessions_active",
                         atomic_load(&s->n_sessions_active), "storage_groups", (json_int_t) n_sgs,
                         "storage_groups_online", (int) sgs_online, "databases_mounted", (int) dbs_mounted,
                         "mailboxes", (json_int_t) n_mb);
        return *ret ? 0 : -ENOMEM;
}

void service_count_session(service *s, int delta) {
        atomic_fetch_add(&s->n_sessions_active, delta);
        if (delta > 0)
                atomic_fetch_add(&s->n_sessions_total, 1);
}

void service_count_rejected(service *s) {
        atomic_fetch_add(&s->n_rejected, 1);
}

/* ------------------------------------------------------- writer helpers */

int service_with_sg(service *s, const char *name, int (*fn)(service *s, mstore_sg *sg, void *ud), void *ud) {
        pthread_rwlock_rdlock(&s->lock);
        size_t i = 0, j = 0;
        ErrorSlot ignored;
        int r = find(s, name, NULL, &i, &j, &ignored);
        if (r < 0 || !s->rt[i].sg) {
                pthread_rwlock_unlock(&s->lock);
                return r < 0 ? r : -ENODEV;
        }
        pthread_rwlock_rdlock(&s->rt[i].lock);
        pthread_rwlock_unlock(&s->lock);
        r = fn(s, s->rt[i].sg, ud);
        pthread_rwlock_unlock(&s->rt[i].lock);
        return r;
}

int service_set_backup(service *s, const char *name, bool on) {
        /* Exclusive: waits for administration in progress to finish, so a
         * backup never starts under a half-done mount. */
        pthread_rwlock_wrlock(&s->lock);
        size_t i = 0, j = 0;
        ErrorSlot ignored;
        int r = find(s, name, NULL, &i, &j, &ignored);
        if (r >= 0)
                s->rt[i].in_backup = on;
        pthread_rwlock_unlock(&s->lock);
        return r;
}

void strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

char **service_sg_names(service *s) {
        pthread_rwlock_rdlock(&s->lock);
        char **v = calloc(s->defs->n_sgs + 1, sizeof(char *));
        for (size_t i = 0; v && i < s->defs->n_sgs; i++)
                if (!(v[i] = strdup(s->defs->sgs[i].name))) {
                        strv_free(v);
                        v = NULL;
                }
        pthread_rwlock_unlock(&s->lock);
        return v;
}

int service_sg_describe(service *s, const char *name, json_t **ret) {
        pthread_rwlock_rdlock(&s->lock);
        size_t i = 0, j = 0;
        ErrorSlot ignored;
        int r = find(s, name, NULL, &i, &j, &ignored);
        if (r >= 0) {
                struct defs_sg *d = &s->defs->sgs[i];
                json_t *dbs = json_array();
                for (size_t k = 0; k < d->n_dbs; k++)
                        json_array_append_new(dbs, db_json(s, i, k));
                *ret = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:o}", "name", d->name, "base", d->base, "path", d->path,
                                 "log_path", d->log_path, "circular_logging", d->circular_logging, "online",
                                 s->rt[i].sg != NULL, "databases", dbs);
                if (!*ret)
                        r = -ENOMEM;
        }
        pthread_rwlock_unlock(&s->lock);
        return r;
}

/* ------------------------------------------- folders, flags, deletion */

/* "inbox" in any case names INBOX. */
static int folder_norm(const char *folder, char out[MM_MAX_FOLDER + 1]) {
        if (!folder || !mm_folder_valid(folder))
                return -EINVAL;
        if (strcasecmp(folder, "INBOX") == 0)
                folder = "INBOX";
        snprintf(out, MM_MAX_FOLDER + 1, "%s", folder);
        return 0;
}

static int folder_exists(struct mctx *c, const char *folder) {
        char key[MM_MAX_KEY];
        int kl = mm_key_folder(key, c->addr, folder);
        if (kl < 0)
                return kl;
        void *v = NULL;
        size_t vl;
        int r = mstore_get(c->txn, c->db, key, (size_t) kl, &v, &vl);
        free(v);
        return r;
}

static int folder_put(struct mctx *c, const char *folder, bool subscribed) {
        char key[MM_MAX_KEY];
        int kl = mm_key_folder(key, c->addr, folder);
        if (kl < 0)
                return kl;
        unsigned char rec[MM_FOLDER_RECORD_SIZE];
        int n = mm_folder_encode(subscribed, rec);
        return mstore_put(c->txn, c->db, key, (size_t) kl, rec, (size_t) n);
}

int service_mailbox_changes(service *s, const char *address, uint64_t *ret) {
        char addr[MM_MAX_ADDR + 1];
        if (lower_addr(address, addr) < 0)
                return -EINVAL;
        struct mbox_rt *m = mbox_get(s, addr);
        if (!m)
                return -ENOMEM;
        *ret = atomic_load(&m->changes);
        return 0;
}

/* Every folder of the mailbox (name order) within c's transaction. */
static int scan_folders(struct mctx *c, struct service_folder **ret, size_t *ret_n) {
        struct service_folder *v = NULL;
        size_t n = 0, cap = 0;
        mstore_cursor *cur = NULL;
        char prefix[MM_MAX_KEY];
        int pl = mm_key_folder_prefix(prefix, c->addr);
        int r = pl < 0 ? pl : mstore_cursor_open_prefix(c->txn, c->db, prefix, (size_t) pl, &cur);
        const void *k, *val;
        size_t kl, vl;
        while (r >= 0 && (r = mstore_cursor_next(cur, &k, &kl, &val, &vl)) > 0) {
                size_t nl = kl - (size_t) pl;
                int sub = 0;
                if (nl == 0 || nl > MM_MAX_FOLDER || mm_folder_decode(val, vl, &sub) < 0) {
                        r = MSTORE_E_CORRUPT;
                        break;
                }
                if (ARRAY_RESERVE_ONE(v, cap, n, 16) < 0) {
                        r = -ENOMEM;
                        break;
                }
                memcpy(v[n].name, (const char *) k + pl, nl);
                v[n].name[nl] = 0;
                v[n].subscribed = sub;
                n++;
        }
        mstore_cursor_free(cur);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int service_folder_list(service *s, const char *address, struct service_folder **ret, size_t *ret_n, ErrorSlot *err) {
        error_slot_clear(err);
        struct mctx c;
        struct service_folder *v = NULL;
        size_t n = 0;
        int r = mctx_open(s, address, false, &c, err);
        if (r >= 0 && (r = scan_folders(&c, &v, &n)) < 0)
                error_slot_set(err, r, "mailbox '%s': cannot list folders: %s", c.addr, mctx_err(&c, r));
        r = mctx_close(&c, r, false, err);
        if (r < 0)
                return r;
        *ret = v;
        *ret_n = n;
        return 0;
}

int service_folder_create(service *s, const char *address, const char *folder, ErrorSlot *err) {
        error_slot_clear(err);
        char f[MM_MAX_FOLDER + 1];
        if (folder_norm(folder, f) < 0)
                return error_slot_set(err, -EINVAL, "folder '%s': invalid name", folder ? folder : "");
        struct mctx c;
        int r = mctx_open(s, address, true, &c, err);
        if (r >= 0) {
                r = folder_exists(&c, f);
                if (r >= 0)
                        r = error_slot_set(err, -EEXIST, "folder '%s' of mailbox '%s': already exists", f, c.addr);
                else if (r == -ENOENT)
                        r = folder_put(&c, f, true);
                else
                        error_slot_set(err, r, "folder '%s': %s", f, mctx_err(&c, r));
        }
        return mctx_close(&c, r, true, err);
}

int service_folder_subscribe(service *s, const char *address, const char *folder, bool on, ErrorSlot *err) {
        error_slot_clear(err);
        char f[MM_MAX_FOLDER + 1];
        if (folder_norm(folder, f) < 0)
                return error_slot_set(err, -EINVAL, "folder '%s': invalid name", folder ? folder : "");
        struct mctx c;
        int r = mctx_open(s, address, true, &c, err);
        if (r >= 0) {
                r = folder_exists(&c, f);
                if (r == -ENOENT)
                        error_slot_set(err, r, "folder '%s' of mailbox '%s': no such folder", f, c.addr);
                else if (r >= 0)
                        r = folder_put(&c, f, on);
        }
        return mctx_close(&c, r, true, err);
}

/* Every message record of the mailbox (decoded), in UID order. */
static int scan_messages(struct mctx *c, struct mm_message **ret, size_t *ret_n) {
        char prefix[MM_MAX_KEY];
        int pl = mm_key_message_prefix(prefix, c->addr);
        mstore_cursor *cur = NULL;
        struct mm_message *v = NULL;
        size_t n = 0, cap = 0;
        int r = mstore_cursor_open_prefix(c->txn, c->db, prefix, (size_t) pl, &cur);
        const void *k, *val;
        size_t kl, vl;
        while (r >= 0 && (r = mstore_cursor_next(cur, &k, &kl, &val, &vl)) > 0) {
                if (ARRAY_RESERVE_ONE(v, cap, n, 64) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (mm_message_decode(val, vl, &v[n]) < 0) {
                        r = MSTORE_E_CORRUPT;
                        break;
                }
                n++;
        }
        mstore_cursor_free(cur);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int message_put(struct mctx *c, const struct mm_message *m) {
        _cleanup_free_ void *v = NULL;
        size_t vl;
        int r = mm_message_encode(m, &v, &vl);
        if (r < 0)
                return r;
        char key[MM_MAX_KEY];
        int kl = mm_key_message(key, c->addr, m->uid);
        if (kl < 0)
                return kl;
        return mstore_put(c->txn, c->db, key, (size_t) kl, v, vl);
}

static int message_get(struct mctx *c, uint32_t uid, struct mm_message *ret) {
        char key[MM_MAX_KEY];
        int kl = mm_key_message(key, c->addr, uid);
        if (kl < 0)
                return kl;
        void *v = NULL;
        size_t vl;
        int r = mstore_get(c->txn, c->db, key, (size_t) kl, &v, &vl);
        if (r < 0)
                return r;
        r = mm_message_decode(v, vl, ret) < 0 ? MSTORE_E_CORRUPT : 0;
        free(v);
        return r;
}

static int message_delete(struct mctx *c, const struct mm_message *m) {
        char key[MM_MAX_KEY];
        int kl = mm_key_message(key, c->addr, m->uid);
        if (kl < 0)
                return kl;
        mstore_stream_ref ref;
        memcpy(ref.bytes, m->stream_ref, sizeof(ref.bytes));
        int r = mstore_del(c->txn, c->db, key, (size_t) kl);
        if (r >= 0 && m->size > 0)
                r = mstore_stream_delete(c->txn, c->db, &ref);
        return r;
}

static bool in_folder_tree(const char *name, const char *top) {
        size_t n = strlen(top);
        return strncmp(name, top, n) == 0 && (name[n] == 0 || name[n] == '/');
}

int service_folder_delete(service *s, const char *address, const char *folder, ErrorSlot *err) {
        error_slot_clear(err);
        char f[MM_MAX_FOLDER + 1];
        if (folder_norm(folder, f) < 0)
                return error_slot_set(err, -EINVAL, "folder '%s': invalid name", folder ? folder : "");
        if (strcmp(f, "INBOX") == 0)
                return error_slot_set(err, -EPERM, "folder 'INBOX': cannot be deleted");
        struct service_folder *fl = NULL;
        size_t nf = 0;
        struct mctx c;
        int r = mctx_open(s, address, true, &c, err);
        if (r >= 0 && (r = scan_folders(&c, &fl, &nf)) >= 0) {
                bool found = false, children = false;
                for (size_t k = 0; k < nf; k++) {
                        found |= strcmp(fl[k].name, f) == 0;
                        children |= strcmp(fl[k].name, f) != 0 && in_folder_tree(fl[k].name, f);
                }
                free(fl);
                if (!found)
                        r = error_slot_set(err, -ENOENT, "folder '%s' of mailbox '%s': no such folder", f, c.addr);
                else if (children)
                        r = error_slot_set(err, -ENOTEMPTY, "folder '%s' of mailbox '%s': has subfolders", f, c.addr);
        }
        struct mm_message *msgs = NULL;
        size_t n = 0;
        if (r >= 0)
                r = scan_messages(&c, &msgs, &n);
        for (size_t k = 0; r >= 0 && k < n; k++)
                if (strcmp(msgs[k].folder, f) == 0)
                        r = message_delete(&c, &msgs[k]);
        free(msgs);
        char key[MM_MAX_KEY];
        int kl = mm_key_folder(key, c.addr, f);
        if (r >= 0)
                r = mstore_del(c.txn, c.db, key, (size_t) kl);
        if (r < 0 && !*error_slot_get(err))
                error_slot_set(err, r, "folder '%s' of mailbox '%s': cannot delete: %s", f, c.addr, mctx_err(&c, r));
        return mctx_close(&c, r, true, err);
}

int service_folder_rename(service *s, const char *address, const char *from, const char *to, ErrorSlot *err) {
        error_slot_clear(err);
        char f[MM_MAX_FOLDER + 1], t[MM_MAX_FOLDER + 1];
        if (folder_norm(from, f) < 0)
                return error_slot_set(err, -EINVAL, "folder '%s': invalid name", from ? from : "");
        if (folder_norm(to, t) < 0 || strcmp(t, "INBOX") == 0 || in_folder_tree(t, f))
                return error_slot_set(err, -EINVAL, "folder '%s': invalid new name", to ? to : "");
        bool inbox = strcmp(f, "INBOX") == 0;
        struct service_folder *fl = NULL;
        size_t nf = 0;
        struct mctx c;
        int r = mctx_open(s, address, true, &c, err);
        if (r >= 0)
                r = scan_folders(&c, &fl, &nf);
        if (r >= 0 && folder_exists(&c, f) == -ENOENT)
                r = error_slot_set(err, -ENOENT, "folder '%s' of mailbox '%s': no such folder", f, c.addr);
        /* Folders: FROM and (unless INBOX) its subfolders. */
        for (size_t k = 0; r >= 0 && k < nf; k++) {
                if (inbox ? strcmp(fl[k].name, "INBOX") != 0 : !in_folder_tree(fl[k].name, f))
                        continue;
                char nn[MM_MAX_FOLDER + 2];
                if (snprintf(nn, sizeof(nn), "%s%s", t, fl[k].name + strlen(f)) > MM_MAX_FOLDER ||
                    !mm_folder_valid(nn)) {
                        r = error_slot_set(err, -EINVAL, "folder '%s': new name too long", fl[k].name);
                        break;
                }
                if (folder_exists(&c, nn) != -ENOENT) {
                        r = error_slot_set(err, -EEXIST, "folder '%s' of mailbox '%s': already exists", nn, c.addr);
                        break;
                }
                char key[MM_MAX_KEY];
                int kl = mm_key_folder(key, c.addr, fl[k].name);
                if (!inbox)
                        r = mstore_del(c.txn, c.db, key, (size_t) kl);
                if (r >= 0)
                        r = folder_put(&c, nn, fl[k].subscribed);
        }
        free(fl);
        struct mm_message *msgs = NULL;
        size_t n = 0;
        if (r >= 0)
                r = scan_messages(&c, &msgs, &n);
        for (size_t k = 0; r >= 0 && k < n; k++) {
                if (inbox ? strcmp(msgs[k].folder, "INBOX") != 0 : !in_folder_tree(msgs[k].folder, f))
                        continue;
                char nn[2 * MM_MAX_FOLDER + 2];
                snprintf(nn, sizeof(nn), "%s%s", t, msgs[k].folder + strlen(f));
                if (strlen(nn) > MM_MAX_FOLDER) {
                        r = -EINVAL; /* checked with the folders above */
                        break;
                }
                memcpy(msgs[k].folder, nn, strlen(nn) + 1);
                r = message_put(&c, &msgs[k]);
        }
        free(msgs);
        if (r < 0 && !*error_slot_get(err))
                error_slot_set(err, r, "folder '%s' of mailbox '%s': cannot rename: %s", f, c.addr, mctx_err(&c, r));
        return mctx_close(&c, r, true, err);
}

int service_folder_view(service *s, const char *address, const char *folder, struct service_view *ret, ErrorSlot *err) {
        error_slot_clear(err);
        char f[MM_MAX_FOLDER + 1];
        if (folder_norm(folder, f) < 0)
                return error_slot_set(err, -EINVAL, "folder '%s': invalid name", folder ? folder : "");
        memset(ret, 0, sizeof(*ret));
        struct mctx c;
        int r = mctx_open(s, address, false, &c, err);
        if (r >= 0) {
                ret->changes = atomic_load(&c.m->changes);
                r = folder_exists(&c, f);
                if (r == -ENOENT)
                        error_slot_set(err, r, "folder '%s' of mailbox '%s': no such folder", f, c.addr);
        }
        if (r >= 0) {
                pthread_mutex_lock(&c.m->lock);
                r = c.m->loaded ? 0 : mbox_load(c.txn, c.db, c.m);
                ret->uid_validity = c.m->uid_validity;
                ret->uid_next = c.m->uid_next;
                pthread_mutex_unlock(&c.m->lock);
        }
        struct mm_message *msgs = NULL;
        size_t n = 0;
        if (r >= 0)
                r = scan_messages(&c, &msgs, &n);
        if (r >= 0 && !(ret->msgs = calloc(n ? n : 1, sizeof(*ret->msgs))))
                r = -ENOMEM;
        for (size_t k = 0; r >= 0 && k < n; k++)
                if (strcmp(msgs[k].folder, f) == 0)
                        ret->msgs[ret->n++] = (struct service_msginfo){.uid = msgs[k].uid, .flags = msgs[k].flags,
                                                                       .size = msgs[k].size, .time = msgs[k].time};
        free(msgs);
        if (r < 0) {
                free(ret->msgs);
                ret->msgs = NULL;
                ret->n = 0;
                if (!*error_slot_get(err))
                        error_slot_set(err, r, "folder '%s' of mailbox '%s': %s", f, c.addr, mctx_err(&c, r));
        }
        return mctx_close(&c, r, false, err);
}

int service_msg_store(service *s, const char *address, const uint32_t *uids, size_t n, int mode, uint32_t flags,
                      uint32_t *ret_flags, ErrorSlot *err) {
        error_slot_clear(err);
        struct mctx c;
        int r = mctx_open(s, address, true, &c, err);
        bool dirty = false;
        for (size_t k = 0; r >= 0 && k < n; k++) {
                struct mm_message m;
                int q = message_get(&c, uids[k], &m);
                if (q == -ENOENT) {
                        if (ret_flags)
                                ret_flags[k] = UINT32_MAX; /* gone */
                        continue;
                }
                if (q < 0) {
                        r = q;
                        break;
                }
                uint32_t nf = mode > 0 ? (m.flags | flags) : mode < 0 ? (m.flags & ~flags) : flags;
                nf &= MM_FLAGS_ALL;
                if (ret_flags)
                        ret_flags[k] = nf;
                if (nf == m.flags)
                        continue;
                m.flags = nf;
                r = message_put(&c, &m);
                dirty = true;
        }
        if (r < 0 && !*error_slot_get(err))
                error_slot_set(err, r, "mailbox '%s': cannot store flags: %s", c.addr, mctx_err(&c, r));
        return mctx_close(&c, r, dirty, err);
}

int service_msg_delete(service *s, const char *address, const uint32_t *uids, size_t n, size_t *ret_deleted,
                       ErrorSlot *err) {
        error_slot_clear(err);
        struct mctx c;
        size_t deleted = 0;
        int r = mctx_open(s, address, true, &c, err);
        for (size_t k = 0; r >= 0 && k < n; k++) {
                struct mm_message m;
                int q = message_get(&c, uids[k], &m);
                if (q == -ENOENT)
                        continue;
                r = q < 0 ? q : message_delete(&c, &m);
                deleted += r >= 0;
        }
        if (r < 0 && !*error_slot_get(err))
                error_slot_set(err, r, "mailbox '%s': cannot delete messages: %s", c.addr, mctx_err(&c, r));
        r = mctx_close(&c, r, deleted > 0, err);
        if (r >= 0 && ret_deleted)
                *ret_deleted = deleted;
        return r;
}

/* Allocate the next UID of the mailbox (see deliver_one). */
static int uid_alloc(struct mctx *c, uint32_t *ret_uid, uint32_t *ret_validity) {
        pthread_mutex_lock(&c->m->lock);
        int r = c->m->loaded ? 0 : mbox_load(c->txn, c->db, c->m);
        if (r >= 0) {
                *ret_uid = c->m->uid_next++;
                *ret_validity = c->m->uid_validity;
        }
        pthread_mutex_unlock(&c->m->lock);
        if (r < 0)
                return r;
        return put_mailbox_record(c->txn, c->db, c->addr, *ret_validity, *ret_uid + 1);
}

static int stream_copy(struct mctx *c, const struct mm_message *src, mstore_stream_ref *ret) {
        mstore_stream_ref ref;
        memcpy(ref.bytes, src->stream_ref, sizeof(ref.bytes));
        if (mstore_stream_length(&ref) != src->size)
                return MSTORE_E_CORRUPT;
        _cleanup_free_ char *buf = malloc(src->size ? src->size : 1);
        if (!buf)
                return -ENOMEM;
        for (uint64_t off = 0; off < src->size;) {
                int r = mstore_stream_read(c->txn, c->db, &ref, off, buf + off, (size_t) (src->size - off));
                if (r <= 0)
                        return r < 0 ? r : MSTORE_E_CORRUPT;
                off += (uint64_t) r;
        }
        return mstore_stream_write(c->txn, c->db, buf, src->size, ret);
}

int service_msg_copy(service *s, const char *address, const uint32_t *uids, size_t n, const char *folder,
                     uint32_t *ret_new_uids, uint32_t *ret_validity, ErrorSlot *err) {
        error_slot_clear(err);
        char f[MM_MAX_FOLDER + 1];
        if (folder_norm(folder, f) < 0)
                return error_slot_set(err, -EINVAL, "folder '%s': invalid name", folder ? folder : "");
        struct mctx c;
        int r = mctx_open(s, address, true, &c, err);
        if (r >= 0 && (r = folder_exists(&c, f)) == -ENOENT)
                error_slot_set(err, r, "folder '%s' of mailbox '%s': no such folder", f, c.addr);
        for (size_t k = 0; r >= 0 && k < n; k++) {
                struct mm_message m;
                ret_new_uids[k] = 0;
                int q = message_get(&c, uids[k], &m);
                if (q == -ENOENT)
                        continue;
                mstore_stream_ref ref;
                r = q < 0 ? q : stream_copy(&c, &m, &ref);
                if (r >= 0)
                        r = uid_alloc(&c, &m.uid, ret_validity);
                if (r >= 0) {
                        memcpy(m.stream_ref, ref.bytes, sizeof(ref.bytes));
                        snprintf(m.folder, sizeof(m.folder), "%s", f);
                        m.flags &= ~(uint32_t) MM_FLAG_DELETED;
                        r = message_put(&c, &m);
                        ret_new_uids[k] = m.uid;
                }
        }
        if (r < 0 && !*error_slot_get(err))
                error_slot_set(err, r, "mailbox '%s': cannot copy into '%s': %s", c.addr, f, mctx_err(&c, r));
        return mctx_close(&c, r, true, err);
}

int service_msg_append(service *s, const char *address, const char *folder, const void *data, size_t size,
                       uint32_t flags, uint64_t time_, uint32_t *ret_uid, uint32_t *ret_validity, ErrorSlot *err) {
        error_slot_clear(err);
        char f[MM_MAX_FOLDER + 1];
        if (folder_norm(folder, f) < 0)
                return error_slot_set(err, -EINVAL, "folder '%s': invalid name", folder ? folder : "");
        if (size > s->max_message_size)
                return error_slot_set(err, -EFBIG, "message of %zu bytes is above the limit (%zu)", size,
                                      s->max_message_size);
        struct mctx c;
        int r = mctx_open(s, address, true, &c, err);
        if (r >= 0 && (r = folder_exists(&c, f)) == -ENOENT)
                error_slot_set(err, r, "folder '%s' of mailbox '%s': no such folder", f, c.addr);
        struct mm_message m = {.size = size, .time = time_ ? time_ : (uint64_t) time(NULL),
                               .flags = flags & MM_FLAGS_ALL};
        mstore_stream_ref ref;
        if (r >= 0)
                r = mstore_stream_write(c.txn, c.db, data, size, &ref);
        if (r >= 0)
                r = uid_alloc(&c, &m.uid, ret_validity);
        if (r >= 0) {
                memcpy(m.stream_ref, ref.bytes, sizeof(ref.bytes));
                mm_parse_subject(data, size, m.subject);
                snprintf(m.folder, sizeof(m.folder), "%s", f);
                r = message_put(&c, &m);
                *ret_uid = m.uid;
        }
        if (r < 0 && !*error_slot_get(err))
                error_slot_set(err, r, "mailbox '%s': cannot append to '%s': %s", c.addr, f, mctx_err(&c, r));
        return mctx_close(&c, r, true, err);
}
