/* SPDX-License-Identifier: MIT */
/*
 * The snapshot registry: every snapshot lvssd has prepared or created,
 * persisted as JSON in STATE_DIR/snapshots.json (written to a temporary
 * file, always fsynced, renamed; the directory fsynced too when the write
 * must be durable), so that
 *   - persistent snapshots survive a restart of lvssd (and can be deleted
 *     after it: providers keep no state, everything is in the entry);
 *   - a crash never leaks a snapshot: entries are written *before* the
 *     provider commits (state "prepared"), and at the next start every entry
 *     that is not a finished persistent snapshot is an orphan: aborted
 *     (prepared) or deleted (auto-release), then dropped.
 * The file is bounded (LVSS_DOC_MAX_BYTES) and validated when read.
 *
 * The temporary file is fsynced before every rename, durable or not: a
 * rename can reach the disk before the data it names, and a power cut would
 * then leave an empty or partial registry.  A registry that cannot be read
 * or parsed all the same (disk damage) does not stop lvssd: it is moved
 * aside to snapshots.json.corrupt-<UTC time>, said loudly on stderr (the
 * journal), and the snapshots are found again by the providers' scan of
 * the roots in [recovery] scan (default: every XFS and btrfs mount point).
 * Finished snapshots found that way are kept as persistent, owned by root
 * and marked "recovered" (their original path is unknown: the root stands
 * for it); unfinished leftovers are aborted.
 *
 * Only two writes must be durable (fsync): the "prepared" entries before a
 * commit, and a persistent snapshot becoming "created" (or deleted).
 * Removals and auto-release snapshots becoming "created" need not be: after
 * a crash the older file makes the next start remove (abort or delete) what
 * it lists, which both providers accept for snapshots already gone or
 * complete.  So those saves are not even written at once: a non-durable
 * save only arms a timer (REGISTRY_LAZY_USEC), and the file is written when
 * it fires, by the next durable save, or at exit, whichever comes first —
 * back-to-back snapshot cycles write the registry once per cycle (the
 * durable "prepared" save, which carries everything before it) instead of
 * four times (issue 14: the empty cycle).  Until then the file is simply
 * older, which is the case the paragraph above already covers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon/lvssd/lvssd.h"
#include "lib/core/macro.h"
#include "lib/core/test-hook.h"
#include "providers/providers.h"

#define REGISTRY_VERSION 1

uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

const char *context_name(uint32_t ctx) {
        return (ctx & LVSS_VOLSNAP_ATTR_NO_AUTO_RELEASE) ? "persistent" : "backup";
}

static const char *snap_state_name(SnapState s) {
        return s == SNAP_CREATED ? "created" : s == SNAP_PREPARED ? "prepared" : "added";
}

Snap *snap_find(Manager *m, const char *id) {
        for (Snap *x = m->snaps; x; x = x->next)
                if (strcmp(x->ps.snapshot_id, id) == 0)
                        return x;
        return NULL;
}

static int copy_field(char *dst, size_t size, const char *src) {
        if (!src || strlen(src) >= size)
                return -ENAMETOOLONG;
        memcpy(dst, src, strlen(src) + 1);
        return 0;
}

Snap *snap_new(Manager *m, Session *s, const lvss_provider *p, const char *path, const char *volume) {
        Snap *x = calloc(1, sizeof(*x)), **tail;

        if (!x)
                return NULL;
        x->ps.version = LVSS_PROVIDER_VERSION;
        if (lvss_doc_new_uuid(x->ps.snapshot_id) < 0 ||
            copy_field(x->ps.set_id, sizeof(x->ps.set_id), s->set_id) < 0 ||
            copy_field(x->ps.original, sizeof(x->ps.original), path) < 0 ||
            copy_field(x->ps.volume, sizeof(x->ps.volume), volume) < 0) {
                free(x);
                return NULL;
        }
        x->prov = p;
        x->context = s->context;
        x->session = s;
        x->owner_uid = s->uid;
        x->state = SNAP_ADDED;
        for (tail = &m->snaps; *tail; tail = &(*tail)->next)
                ;
        *tail = x;
        return x;
}

void snap_unlink_free(Manager *m, Snap *x) {
        for (Snap **p = &m->snaps; *p; p = &(*p)->next)
                if (*p == x) {
                        *p = x->next;
                        break;
                }
        free(x);
}

const char *provider_reason(int r) {
        const char *msg = error_slot_get(NULL);
        return msg[0] ? msg : strerror(r > -4096 ? -r : EIO);
}

int snap_delete(Manager *m, Snap *x) {
        int r = 0;

        error_slot_clear(NULL);
        if (x->state == SNAP_CREATED)
                r = x->prov->delete_snapshot(&x->ps);
        else if (x->state == SNAP_PREPARED)
                r = x->prov->abort(&x->ps);
        if (r < 0 && r != -ENOENT)
                return r;
        if (x->state == SNAP_CREATED) {
                m->counters.snapshots_deleted++;
                ev_log(EV_SNAPSHOT_DELETED, LOG_INFO, x->ps.set_id, "snapshot %s of '%s' deleted", x->ps.snapshot_id,
                       x->ps.original);
        }
        snap_unlink_free(m, x);
        return 0;
}

json_t *snap_to_json(const Snap *x) {
        json_t *o = json_object();
        char created[64] = "";
        time_t t = (time_t) (x->created_usec / 1000000ULL);
        struct tm tm;

        if (x->created_usec && gmtime_r(&t, &tm))
                strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(o, "id", json_string(x->ps.snapshot_id));
        json_object_set_new(o, "set_id", json_string(x->ps.set_id));
        json_object_set_new(o, "original", json_string(x->ps.original));
        json_object_set_new(o, "volume", json_string(x->ps.volume));
        json_object_set_new(o, "path", json_string(x->ps.path));
        json_object_set_new(o, "provider", json_string(x->prov->name));
        json_object_set_new(o, "provider_id", json_string(x->prov->id));
        json_object_set_new(o, "context", json_string(context_name(x->context)));
        json_object_set_new(o, "context_flags", json_integer(x->context));
        json_object_set_new(o, "created", json_string(created));
        json_object_set_new(o, "created_usec", json_integer((json_int_t) x->created_usec));
        json_object_set_new(o, "state", json_string(snap_state_name(x->state)));
        json_object_set_new(o, "owner_uid", json_integer((json_int_t) x->owner_uid));
        if (x->recovered)
                json_object_set_new(o, "recovered", json_true());
        return o;
}

json_t *snaps_to_json(Manager *m) {
        json_t *a = json_array(), *o = json_object();

        for (Snap *x = m->snaps; x; x = x->next)
                if (x->state == SNAP_CREATED)
                        json_array_append_new(a, snap_to_json(x));
        json_object_set_new(o, "shadows", a);
        return o;
}

json_t *providers_to_json(void) {
        json_t *a = json_array(), *o = json_object();

        for (size_t i = 0; i < lvss_builtin_providers_count; i++) {
                const lvss_provider *p = lvss_builtin_providers[i];
                json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "id", p->id, "name", p->name, "type", p->type));
        }
        json_object_set_new(o, "providers", a);
        return o;
}

static char *registry_path(Manager *m, const char *suffix) {
        char *p;

        if (asprintf(&p, "%s/snapshots.json%s", m->state_dir, suffix) < 0)
                return NULL;
        return p;
}

#define REGISTRY_LAZY_USEC UINT64_C(500000) /* 0.5 s */

static int registry_write(Manager *m, bool durable);

static uint64_t lazy_usec(void);

/* Never while a set is being created: the write (two fsyncs on a busy
 * disk) must not land inside a freeze window.  That set's own durable
 * "prepared" save writes the state anyway. */
static int on_registry_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        if (m->set_owner && sd_event_source_set_time_relative(src, lazy_usec()) >= 0 &&
            sd_event_source_set_enabled(src, SD_EVENT_ONESHOT) >= 0)
                return 0;
        m->registry_timer = sd_event_source_unref(m->registry_timer);
        (void) registry_write(m, false);
        return 0;
}

void registry_flush(Manager *m) {
        if (!m->registry_timer)
                return;
        m->registry_timer = sd_event_source_unref(m->registry_timer);
        (void) registry_write(m, false);
}

/* The delay; the test hook LVSSD_TEST_REGISTRY_LAZY_MS sets it (ms). */
static uint64_t lazy_usec(void) {
        const char *v = TEST_HOOK_ENV("LVSSD_TEST_REGISTRY_LAZY_MS");
        return v ? strtoull(v, NULL, 10) * 1000u : REGISTRY_LAZY_USEC;
}

int registry_save(Manager *m, bool durable) {
        if (!durable && m->event) {
                if (m->registry_timer)
                        return 0; /* already waiting: it will write the state of then */
                if (sd_event_add_time_relative(m->event, &m->registry_timer, CLOCK_MONOTONIC, lazy_usec(), 0,
                                               on_registry_timer, m) >= 0)
                        return 0;
                m->registry_timer = NULL; /* cannot arm the timer: write now */
        }
        /* This save writes the whole state: a waiting one is done with it. */
        m->registry_timer = sd_event_source_unref(m->registry_timer);
        return registry_write(m, durable);
}

static int registry_write(Manager *m, bool durable) {
        _cleanup_free_ char *path = registry_path(m, ""), *tmp = registry_path(m, ".tmp");
        _cleanup_close_ int fd = -1, dfd = -1;
        json_t *root, *a;
        char *text;
        size_t len;
        int r = 0;

        if (!path || !tmp)
                return -ENOMEM;
        a = json_array();
        for (Snap *x = m->snaps; x; x = x->next) {
                json_t *o;
                if (x->state == SNAP_ADDED)
                        continue;  /* nothing on disk yet */
                o = snap_to_json(x);
                json_object_set_new(o, "priv", json_string(x->ps.priv));
                /* snap_to_json's owner_uid and recovered are saved too */
                json_object_set_new(o, "auto_release",
                                    json_boolean(!(x->context & LVSS_VOLSNAP_ATTR_NO_AUTO_RELEASE)));
                json_array_append_new(a, o);
        }
        root = json_pack("{s:i, s:o}", "version", REGISTRY_VERSION, "snapshots", a);
        text = root ? json_dumps(root, JSON_INDENT(1)) : NULL;
        if (text) {
                char *t = realloc(text, strlen(text) + 2);
                if (!t)
                        free(text);
                text = t;
        }
        json_decref(root);
        if (!text)
                return -ENOMEM;
        len = strlen(text);
        text[len++] = '\n';  /* json_dumps' NUL becomes the final newline */
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                r = -errno;
        for (size_t off = 0; r == 0 && off < len;) {
                ssize_t n = write(fd, text + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        r = n < 0 ? -errno : -EIO;
                else
                        off += (size_t) n;
        }
        /* Always: the rename must never reach the disk before the data. */
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        free(text);
        if (r < 0)
                goto fail;
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        if (durable) {
                dfd = open(m->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0 || fsync(dfd) < 0) {
                        r = -errno;
                        fprintf(stderr, "lvssd: snapshot registry '%s': cannot sync its directory: %s\n", path,
                                strerror(-r));
                        return r;
                }
        }
        return 0;
fail:
        fprintf(stderr, "lvssd: snapshot registry '%s': cannot write: %s\n", path, strerror(-r));
        (void) unlink(tmp);
        return r;
}

static int load_entry(Manager *m, json_t *e, Snap **ret) {
        const char *id, *set_id, *original, *volume, *path, *priv, *prov, *state;
        json_int_t ctx, created, owner = 0;
        int auto_release, recovered = 0;
        Snap *x;

        if (json_unpack(e, "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:b}", "id", &id, "set_id", &set_id,
                        "original", &original, "volume", &volume, "path", &path, "priv", &priv, "provider", &prov,
                        "context_flags", &ctx, "created_usec", &created, "state", &state,
                        "auto_release", &auto_release) < 0 ||
            json_unpack(e, "{s?I, s?b}", "owner_uid", &owner, "recovered", &recovered) < 0)
                return -EINVAL;
        if (!lvss_doc_is_uuid(id) || ctx < 0 || ctx > UINT32_MAX || created < 0 || owner < 0 || owner >= UINT32_MAX)
                return -EINVAL;
        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->ps.version = LVSS_PROVIDER_VERSION;
        x->prov = lvss_provider_find(prov);
        if (!x->prov || copy_field(x->ps.snapshot_id, sizeof(x->ps.snapshot_id), id) < 0 ||
            copy_field(x->ps.set_id, sizeof(x->ps.set_id), set_id) < 0 ||
            copy_field(x->ps.original, sizeof(x->ps.original), original) < 0 ||
            copy_field(x->ps.volume, sizeof(x->ps.volume), volume) < 0 ||
            copy_field(x->ps.path, sizeof(x->ps.path), path) < 0 ||
            copy_field(x->ps.priv, sizeof(x->ps.priv), priv) < 0) {
                free(x);
                return -EINVAL;
        }
        x->context = (uint32_t) ctx;
        x->created_usec = (uint64_t) created;
        x->owner_uid = (uid_t) owner;
        x->recovered = recovered;
        x->state = strcmp(state, "created") == 0 ? SNAP_CREATED : SNAP_PREPARED;
        (void) auto_release;
        *ret = x;
        return 0;
}

/* Recovery by scan (see the top of this file). */
struct scan_ctx {
        Manager *m;
        const lvss_provider *prov;
        size_t found, aborted;
};

static int scan_found(const lvss_provider_snapshot *ps, int complete, void *userdata) {
        struct scan_ctx *c = userdata;
        struct stat st;
        Snap *x, **tail;

        if (snap_find(c->m, ps->snapshot_id))
                return 0;  /* seen under another root or provider */
        if (!complete) {
                lvss_provider_snapshot copy = *ps;
                int r;
                error_slot_clear(NULL);
                r = c->prov->abort(&copy);
                if (r < 0)
                        fprintf(stderr, "lvssd: recovery: unfinished snapshot %s in '%s': cannot remove: %s\n",
                                ps->snapshot_id, ps->volume, provider_reason(r));
                else {
                        c->aborted++;
                        ev_log(EV_ORPHAN_REMOVED, LOG_NOTICE, NULL, "unfinished snapshot %s in '%s' removed (registry lost)",
                               ps->snapshot_id, ps->volume);
                }
                return 0;
        }
        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->ps = *ps;
        if (lvss_doc_new_uuid(x->ps.set_id) < 0 ||
            copy_field(x->ps.original, sizeof(x->ps.original), ps->volume) < 0) {
                free(x);
                return -ENOMEM;
        }
        x->prov = c->prov;
        x->context = LVSS_CTX_NAS_ROLLBACK;  /* persistent: kept until deleted */
        x->state = SNAP_CREATED;
        x->owner_uid = 0;
        x->recovered = true;
        if (stat(ps->priv, &st) == 0)
                x->created_usec = (uint64_t) st.st_mtim.tv_sec * 1000000ULL + (uint64_t) st.st_mtim.tv_nsec / 1000ULL;
        for (tail = &c->m->snaps; *tail; tail = &(*tail)->next)
                ;
        *tail = x;
        c->found++;
        fprintf(stderr, "lvssd: recovery: found %s snapshot %s in '%s' (kept as persistent, owner root)\n",
                c->prov->name, ps->snapshot_id, ps->volume);
        return 0;
}

static void scan_root(Manager *m, const char *root, struct scan_ctx *c) {
        for (size_t i = 0; i < lvss_builtin_providers_count; i++) {
                int r;

                c->prov = lvss_builtin_providers[i];
                if (!c->prov->scan)
                        continue;
                error_slot_clear(NULL);
                r = c->prov->scan(root, scan_found, c);
                if (r < 0)
                        fprintf(stderr, "lvssd: recovery: %s scan of '%s' failed: %s\n", c->prov->name, root,
                                provider_reason(r));
        }
}

/* Every [recovery] scan root, or every XFS and btrfs mount point. */
static void registry_scan(Manager *m, struct scan_ctx *c) {
        if (m->n_scan_roots)
                for (size_t i = 0; i < m->n_scan_roots; i++)
                        scan_root(m, m->scan_roots[i], c);
        else {
                FILE *f = setmntent("/proc/self/mounts", "re");
                struct mntent *me;

                if (!f)
                        fprintf(stderr, "lvssd: recovery: cannot read the mount table: %m\n");
                while (f && (me = getmntent(f)))
                        if (strcmp(me->mnt_type, "xfs") == 0 || strcmp(me->mnt_type, "btrfs") == 0)
                                scan_root(m, me->mnt_dir, c);
                if (f)
                        endmntent(f);
        }
}

/* The registry is unreadable: move it aside, scan for what it named. */
static int registry_recover_lost(Manager *m, const char *path, const char *reason) {
        struct scan_ctx c = { .m = m };
        char aside[PATH_MAX], stamp[32];
        int r;
        time_t t = time(NULL);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                snprintf(stamp, sizeof(stamp), "%lld", (long long) t);
        /* Never replace an earlier corrupt copy: .corrupt-<time>, then -<time>.1, ... */
        for (unsigned k = 0;; k++) {
                int n = k ? snprintf(aside, sizeof(aside), "%s.corrupt-%s.%u", path, stamp, k)
                          : snprintf(aside, sizeof(aside), "%s.corrupt-%s", path, stamp);
                if (n >= (int) sizeof(aside))
                        return -ENAMETOOLONG;
                r = renameat2(AT_FDCWD, path, AT_FDCWD, aside, RENAME_NOREPLACE) < 0 ? -errno : 0;
                if (r != -EEXIST || k >= 100)
                        break;
        }
        if (r < 0) {
                fprintf(stderr, "lvssd: snapshot registry '%s' is unreadable (%s) and cannot be moved aside: %s\n",
                        path, reason, strerror(-r));
                return r;
        }
        fprintf(stderr,
                "lvssd: snapshot registry '%s' is unreadable (%s): moved aside to '%s'; "
                "finding snapshots by scanning %s\n",
                path, reason, aside, m->n_scan_roots ? "the [recovery] scan paths" : "every XFS and btrfs mount point");
        registry_scan(m, &c);
        fprintf(stderr, "lvssd: snapshot registry recovered by scan: %zu snapshots kept, %zu unfinished removed\n",
                c.found, c.aborted);
        return registry_save(m, true);
}

int registry_load_and_recover(Manager *m) {
        _cleanup_free_ char *path = registry_path(m, "");
        _cleanup_close_ int fd = -1;
        json_error_t err;
        json_t *root, *a, *e;
        size_t i, kept = 0, removed = 0, malformed = 0;
        Snap **tail = &m->snaps;
        struct stat st;
        char reason[256];
        int r;

        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
                return 0;
        if (fd < 0 || fstat(fd, &st) < 0) {
                snprintf(reason, sizeof(reason), "%s", strerror(errno));
                return registry_recover_lost(m, path, reason);
        }
        if (!S_ISREG(st.st_mode) || st.st_size > (off_t) LVSS_DOC_MAX_BYTES) {
                snprintf(reason, sizeof(reason), "%s", S_ISREG(st.st_mode) ? "too large" : "not a regular file");
                return registry_recover_lost(m, path, reason);
        }
        root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &err);
        if (!root || !json_is_array(a = json_object_get(root, "snapshots"))) {
                snprintf(reason, sizeof(reason), "%s", root ? "no snapshots array" : err.text);
                json_decref(root);
                return registry_recover_lost(m, path, reason);
        }
        json_array_foreach(a, i, e) {
                Snap *x;
                r = load_entry(m, e, &x);
                if (r < 0) {
                        fprintf(stderr, "lvssd: snapshot registry '%s': entry %zu malformed, ignoring it\n", path, i);
                        malformed++;
                        continue;
                }
                *tail = x;
                tail = &x->next;
        }
        json_decref(root);
        if (malformed) {
                /* What the malformed entries named is found like a lost registry's. */
                struct scan_ctx c = { .m = m };
                fprintf(stderr, "lvssd: snapshot registry '%s': %zu malformed entries; scanning for their snapshots\n",
                        path, malformed);
                registry_scan(m, &c);
        }

        /* Orphans: anything not a finished persistent snapshot. */
        for (Snap *x = m->snaps, *next; x; x = next) {
                next = x->next;
                if (x->state == SNAP_CREATED && (x->context & LVSS_VOLSNAP_ATTR_NO_AUTO_RELEASE)) {
                        kept++;
                        continue;
                }
                char id[LVSS_PROVIDER_ID_MAX], orig[LVSS_PROVIDER_PATH_MAX];
                memcpy(id, x->ps.snapshot_id, sizeof(id));
                memcpy(orig, x->ps.original, sizeof(orig));
                r = snap_delete(m, x);
                if (r < 0)
                        fprintf(stderr, "lvssd: orphan snapshot %s of '%s': cannot remove: %s\n", id, orig,
                                provider_reason(r));
                else {
                        removed++;
                        ev_log(EV_ORPHAN_REMOVED, LOG_NOTICE, NULL, "orphaned snapshot %s of '%s' removed", id, orig);
                }
        }
        fprintf(stderr, "lvssd: snapshot registry: %zu persistent kept, %zu orphans removed\n", kept, removed);
        return registry_save(m, true);
}
