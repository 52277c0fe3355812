/* SPDX-License-Identifier: MIT */
/*
 * The Mail Store Writer (see writer.h and docs/design/mailstore.md §7).
 *
 * Event handling, as the Exchange 2003 writer over ESE:
 *   Identify         one file-group component per storage group (logs,
 *                    checkpoint, databases), one database sub-component per
 *                    database (selectable for restore only)
 *   PrepareForBackup veto a second backup, a database-level selection, an
 *                    offline group or an unsupported type; else
 *                    mstore_snapshot_prepare(kind) per selected group
 *   Freeze / Thaw    mstore_snapshot_freeze / _thaw per selected group
 *   PostSnapshot     stamp: the group's log range (gen_low-gen_high)
 *   BackupComplete   succeeded and full/incremental: truncate logs, end
 *                    (headers stamped); succeeded copy/differential: end;
 *                    failed: abort (no truncation, no stamp)
 *   Abort, BackupShutdown  abort whatever session is left
 *   PreRestore       in place: the whole group offline and each database
 *                    to be restored flagged allow-restore-overwrite; an
 *                    alternate location (restore_options) needs neither
 *   PostRestore      unless additional restores are announced: hard
 *                    recovery (mstore_recover) of the restored databases
 *
 * Invariants:
 *  1. At most one backup session at a time (sess.active); it is always
 *     ended or aborted by BackupComplete, Abort, BackupShutdown or stop.
 *  2. While a session or a restore holds a group, service administration of
 *     that group answers -EBUSY (service_set_backup), so the engine handles
 *     the snapshot uses stay valid.
 *  3. Logs are truncated only in BackupComplete, only for a succeeded full
 *     or incremental backup.
 *  4. Recovery runs only in trusted places: a requestor's alternate_location
 *     or backup_log_dir is used (canonical, symlinks resolved) only when it
 *     lies under a restore root (mstored.json "restore_roots"; default: the
 *     data directory and the groups' own paths), or when every directory
 *     from / to it is root-owned and not writable by group or others
 *     (sticky root-owned directories such as /tmp excepted).  Anything else
 *     is refused, naming the rule that failed.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <lvss/error.h>
#include <lvss/writer.h>

#include "lib/core/error-slot.h"
#include "lib/core/fs-util.h"
#include "lib/core/macro.h"
#include "defs.h"
#include "events.h"
#include "writer.h"
#include "test-hook.h"

#define MAX_GROUPS DEFS_MAX_SG_HARD
#define ENGINE_MSG_SIZE ERROR_SLOT_SIZE /* a copy of an engine message */

struct session {
        bool active;
        lvss_backup_type type;
        mstore_backup_type kind;
        size_t n;
        char *sg[MAX_GROUPS];
        mstore_snap *snap[MAX_GROUPS];
        struct timespec frozen_at;
        char sid[LVSS_ID_MAX];  /* the requestor session that started it */
};

struct mail_writer {
        service *svc;
        pthread_t thread;
        int stop_efd;
        atomic_bool stopping;
        char root[128]; /* "Mail Store/<server>" */
        lvss_writer *w;
        struct session sess;
        char *data_dir;
        char **restore_roots;        /* configured roots, or NULL: the defaults */
        char *restoring[MAX_GROUPS]; /* groups held between PreRestore and PostRestore */
        char restore_sid[LVSS_ID_MAX]; /* the restore session holding them */
};

/* Does the current event come from session sid?  Abort and BackupShutdown
 * end only what their own session started: a second, vetoed backup or a
 * restore session ending must not abort the backup in progress.  An event
 * without a session id (delivered by liblvss itself when lvssd is gone or a
 * freeze outlived its deadline) matches everything. */
static bool from_session(lvss_writer *w, const char *sid) {
        lvss_id cur;
        if (!sid[0] || lvss_writer_get_session_id(w, &cur) < 0)
                return true;
        return strcmp(cur.str, sid) == 0;
}


/* The group's message of this thread, copied (service_with_sg callback). */
static int copy_sg_error(service *s, mstore_sg *sg, void *ud) {
        (void) s;
        char *buf = ud;
        snprintf(buf, ENGINE_MSG_SIZE, "%s", mstore_sg_last_error(sg));
        return 0;
}

static int fail(lvss_writer *w, int code, lvss_component *c, int which, const char *fmt, ...) _printf_(5, 6);
/* Set the writer failure and, for component c, the failure message of the
 * current phase (which: 0 prepare-backup, 1 post-snapshot, 2 pre-restore,
 * 3 post-restore).  Returns -1 (the callback's veto). */
static int fail(lvss_writer *w, int code, lvss_component *c, int which, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (c) {
                if (which == 0)
                        lvss_component_set_prepare_for_backup_failure_msg(c, msg);
                else if (which == 1)
                        lvss_component_set_post_snapshot_failure_msg(c, msg);
                else if (which == 2)
                        lvss_component_set_pre_restore_failure_msg(c, msg);
                else
                        lvss_component_set_post_restore_failure_msg(c, msg);
        }
        lvss_writer_set_failure_ex(w, code, 0, msg);
        event_log(MSTORED_MID_ERROR, LOG_WARNING, NULL, NULL, "Mail Store Writer: %s", msg);
        return -1;
}

static void session_abort(mail_writer *mw, const char *why) {
        struct session *s = &mw->sess;
        if (!s->active)
                return;
        for (size_t i = 0; i < s->n; i++) {
                mstore_snapshot_abort(s->snap[i]);
                s->snap[i] = NULL;
                service_set_backup(mw->svc, s->sg[i], false);
                event_log(MSTORED_MID_BACKUP_END, LOG_NOTICE, s->sg[i], NULL,
                          "backup of storage group '%s' ended without truncation: %s", s->sg[i], why);
                free(s->sg[i]);
                s->sg[i] = NULL;
        }
        s->n = 0;
        s->active = false;
}

/* ------------------------------------------------------------- identify */

static int add_sg(lvss_metadata_builder *md, mail_writer *mw, json_t *g) {
        const char *name = json_string_value(json_object_get(g, "name"));
        const char *base = json_string_value(json_object_get(g, "base"));
        const char *path = json_string_value(json_object_get(g, "path"));
        const char *log_path = json_string_value(json_object_get(g, "log_path"));
        if (!name || !base || !path || !log_path)
                return -EINVAL;
        char logs[16], chk[16], sub[256];
        snprintf(logs, sizeof(logs), "%s*.log", base);
        snprintf(chk, sizeof(chk), "%s.chk", base);
        snprintf(sub, sizeof(sub), "%s/%s", mw->root, name);
        int r = lvss_metadata_builder_add_component(md, LVSS_CT_FILEGROUP, mw->root, name, name, 0, 1, 1, 1, 0);
        if (r >= 0)
                r = lvss_metadata_builder_add_files_to_file_group(md, mw->root, name, log_path, logs, 0, NULL, 0);
        if (r >= 0)
                r = lvss_metadata_builder_add_files_to_file_group(md, mw->root, name, log_path, chk, 0, NULL, 0);
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(g, "databases"), i, d) {
                const char *db = json_string_value(json_object_get(d, "name"));
                if (!db || r < 0)
                        break;
                char edb[80], stm[80];
                snprintf(edb, sizeof(edb), "%s.edb", db);
                snprintf(stm, sizeof(stm), "%s.stm", db);
                /* The group's files include its databases (backup is per
                 * group); each database is also a sub-component that can be
                 * picked for restore. */
                r = lvss_metadata_builder_add_files_to_file_group(md, mw->root, name, path, edb, 0, NULL, 0);
                if (r >= 0)
                        r = lvss_metadata_builder_add_files_to_file_group(md, mw->root, name, path, stm, 0, NULL, 0);
                if (r >= 0)
                        r = lvss_metadata_builder_add_component(md, LVSS_CT_DATABASE, sub, db, db, 0, 0, 0, 1, 0);
                if (r >= 0)
                        r = lvss_metadata_builder_add_database_files(md, sub, db, path, edb, 0);
                if (r >= 0)
                        r = lvss_metadata_builder_add_database_files(md, sub, db, path, stm, 0);
                if (r >= 0)
                        r = lvss_metadata_builder_add_database_log_files(md, sub, db, log_path, logs, 0);
        }
        return r;
}

static int on_identify(lvss_writer *w, lvss_metadata_builder *md, void *userdata) {
        mail_writer *mw = userdata;
        int r = lvss_metadata_builder_set_restore_method(md, LVSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL, LVSS_WRE_ALWAYS, 0);
        if (r >= 0)
                r = lvss_metadata_builder_set_backup_schema(md, LVSS_BS_DIFFERENTIAL | LVSS_BS_INCREMENTAL | LVSS_BS_COPY |
                                                           LVSS_BS_ROLLFORWARD_RESTORE |
                                                           LVSS_BS_WRITER_SUPPORTS_NEW_TARGET);
        char **names = service_sg_names(mw->svc);
        for (char **n = names; r >= 0 && n && *n; n++) {
                json_t *g = NULL;
                if (service_sg_describe(mw->svc, *n, &g) < 0)
                        continue;
                r = add_sg(md, mw, g);
                json_decref(g);
        }
        strv_free(names);
        return r < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- backup */

/* Component c names a group ("Mail Store/<server>", SG) or a database
 * ("Mail Store/<server>/<SG>", DB).  Returns 1 group, 2 database, 0 other. */
static int classify(mail_writer *mw, lvss_component *c, char *ret_sg, char *ret_db) {
        const char *lp = lvss_component_get_logical_path(c), *name = lvss_component_get_name(c);
        size_t rl = strlen(mw->root);
        if (!lp || !name || strlen(name) > DEFS_MAX_NAME)
                return 0;
        if (strcmp(lp, mw->root) == 0) {
                strcpy(ret_sg, name);
                return 1;
        }
        if (strncmp(lp, mw->root, rl) == 0 && lp[rl] == '/' && strlen(lp + rl + 1) <= DEFS_MAX_NAME &&
            !strchr(lp + rl + 1, '/')) {
                strcpy(ret_sg, lp + rl + 1);
                strcpy(ret_db, name);
                return 2;
        }
        return 0;
}

static bool group_selected(mail_writer *mw, lvss_writer_components *comps, int n, const char *name) {
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                char sg[DEFS_MAX_NAME + 1], db[DEFS_MAX_NAME + 1];
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) >= 0 && c &&
                    classify(mw, c, sg, db) == 1 && strcmp(sg, name) == 0)
                        return true;
        }
        return false;
}

struct prep {
        mstore_backup_type kind;
        mstore_snap *snap;
        char msg[ENGINE_MSG_SIZE]; /* the group's message when prepare failed */
};

static int do_prepare(service *s, mstore_sg *sg, void *ud) {
        struct prep *p = ud;
        int r = mstore_snapshot_prepare(sg, p->kind, &p->snap);
        if (r < 0)
                (void) copy_sg_error(s, sg, p->msg);
        return r;
}

static int on_prepare_backup(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mail_writer *mw = userdata;
        struct session *s = &mw->sess;
        int n = lvss_writer_components_get_count(comps);
        lvss_component *first = NULL;
        if (n > 0)
                lvss_writer_components_get_component(comps, 0, &first);
        if (s->active)
                return fail(w, LVSS_E_WRITERERROR_BUSY, first, 0,
                            "a backup of the mail store is already in progress (storage group %s); only one "
                            "backup at a time",
                            s->n ? s->sg[0] : "?");
        lvss_backup_type t = lvss_writer_get_backup_type(w);
        mstore_backup_type kind;
        switch (t) {
        case LVSS_BT_FULL:
                kind = MSTORE_BACKUP_FULL;
                break;
        case LVSS_BT_INCREMENTAL:
                kind = MSTORE_BACKUP_INCREMENTAL;
                break;
        case LVSS_BT_DIFFERENTIAL:
                kind = MSTORE_BACKUP_DIFFERENTIAL;
                break;
        case LVSS_BT_COPY:
                kind = MSTORE_BACKUP_COPY;
                break;
        default:
                return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, first, 0,
                            "backup type not supported by the Mail Store Writer (full, copy, incremental, "
                            "differential)");
        }
        memset(s, 0, sizeof(*s));
        s->type = t;
        s->kind = kind;
        lvss_id sid;
        if (lvss_writer_get_session_id(w, &sid) >= 0)
                memcpy(s->sid, sid.str, LVSS_ID_MAX);
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                char sg[DEFS_MAX_NAME + 1], db[DEFS_MAX_NAME + 1];
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c)
                        continue;
                int k = classify(mw, c, sg, db);
                if (k == 2) {
                        /* A database goes with its storage group (a component
                         * set), never alone. */
                        if (group_selected(mw, comps, n, sg))
                                continue;
                        session_abort(mw, "vetoed");
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 0,
                                    "database %s/%s cannot be backed up alone: select storage group %s (backup is "
                                    "per storage group)",
                                    sg, db, sg);
                }
                if (k != 1) {
                        session_abort(mw, "vetoed");
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 0, "unknown component '%s/%s'",
                                    lvss_component_get_logical_path(c), lvss_component_get_name(c));
                }
                struct prep p = {.kind = kind};
                int r = service_set_backup(mw->svc, sg, true);
                if (r >= 0)
                        r = service_with_sg(mw->svc, sg, do_prepare, &p);
                if (r < 0) {
                        service_set_backup(mw->svc, sg, false);
                        session_abort(mw, "vetoed");
                        const char *why = r == -ENOENT                     ? "no such storage group"
                                          : r == -ENODEV                   ? "it is offline (no database mounted)"
                                          : r == MSTORE_E_CIRCULAR_LOGGING ? "circular logging is on: only full and "
                                                                             "copy backups are possible"
                                          : r == MSTORE_E_NO_FULL_BACKUP   ? "a full backup is needed first"
                                          : r == -EBUSY                    ? "a backup is already in progress"
                                                                           : eng_err(p.msg, r);
                        return fail(w,
                                    r == -EBUSY ? LVSS_E_WRITERERROR_BUSY : LVSS_E_WRITERERROR_NONRETRYABLE, c,
                                    0, "storage group %s: cannot prepare the backup: %s", sg, why);
                }
                s->sg[s->n] = strdup(sg);
                s->snap[s->n] = p.snap;
                s->n++;
                s->active = true;
                event_log(MSTORED_MID_BACKUP_START, LOG_INFO, sg, NULL, "backup of storage group '%s' started (%s)",
                          sg, lvss_backup_type_to_string(t));
        }
        return 0;
}

static int on_freeze(lvss_writer *w, void *userdata) {
        mail_writer *mw = userdata;
        struct session *s = &mw->sess;
        clock_gettime(CLOCK_MONOTONIC, &s->frozen_at);
        for (size_t i = 0; i < s->n; i++) {
                int r = mstore_snapshot_freeze(s->snap[i]);
                if (r < 0)
                        return fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, 0, "storage group %s: freeze failed: %s",
                                    s->sg[i], eng_err(mstore_snapshot_last_error(s->snap[i]), r));
        }
        /* Test hook: hold the freeze this long (tests check that mstored
         * stays responsive while frozen).  Not for production use. */
        const char *hold = TEST_HOOK_ENV("MSTORED_TEST_FREEZE_HOLD_MS");
        char *end = NULL;
        long hold_ms = hold ? strtol(hold, &end, 10) : 0;
        if (hold && end != hold && *end == '\0' && hold_ms > 0 && hold_ms < 15000) {
                event_log(MSTORED_MID_FREEZE, LOG_NOTICE, NULL, NULL, "test hook: holding the freeze %ld ms", hold_ms);
                usleep((useconds_t) hold_ms * 1000);
        }
        return 0;
}

static int on_thaw(lvss_writer *w, void *userdata) {
        mail_writer *mw = userdata;
        struct session *s = &mw->sess;
        int rc = 0;
        for (size_t i = 0; i < s->n; i++) {
                int r = mstore_snapshot_thaw(s->snap[i]);
                if (r == MSTORE_E_FREEZE_TIMEOUT)
                        rc = fail(w, LVSS_E_WRITERERROR_TIMEOUT, NULL, 0,
                                  "storage group %s: the freeze lasted longer than %u ms and was lifted", s->sg[i],
                                  MAIL_WRITER_FREEZE_TIMEOUT_MS);
                else if (r < 0 && r != MSTORE_E_BAD_SEQUENCE)
                        rc = fail(w, LVSS_E_WRITERERROR_RETRYABLE, NULL, 0, "storage group %s: thaw failed: %s",
                                  s->sg[i], eng_err(mstore_snapshot_last_error(s->snap[i]), r));
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double ms = (double) (now.tv_sec - s->frozen_at.tv_sec) * 1e3 +
                    (double) (now.tv_nsec - s->frozen_at.tv_nsec) / 1e6;
        event_log(MSTORED_MID_FREEZE, LOG_INFO, NULL, NULL, "Mail Store Writer: freeze window %.1f ms", ms);
        return rc;
}

static int on_post_snapshot(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mail_writer *mw = userdata;
        struct session *s = &mw->sess;
        int n = lvss_writer_components_get_count(comps);
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                char sg[DEFS_MAX_NAME + 1], db[DEFS_MAX_NAME + 1];
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || classify(mw, c, sg, db) != 1)
                        continue;
                for (size_t k = 0; k < s->n; k++) {
                        if (strcmp(s->sg[k], sg) != 0)
                                continue;
                        mstore_backup_files *f = NULL;
                        if (mstore_snapshot_get_files(s->snap[k], &f) < 0)
                                continue;
                        /* The stamp says which generations this backup holds;
                         * the metadata lists its files for the requestor. */
                        char stamp[128];
                        snprintf(stamp, sizeof(stamp), "{\"type\":\"%s\",\"gen_low\":%u,\"gen_high\":%u,\"time\":%llu}",
                                 lvss_backup_type_to_string(s->type), f->gen_low, f->gen_high,
                                 (unsigned long long) f->time);
                        lvss_component_set_backup_stamp(c, stamp);
                        json_t *logs = json_array(), *dbs = json_array();
                        for (size_t l = 0; l < f->n_logs; l++)
                                json_array_append_new(logs, json_string(f->logs[l]));
                        for (size_t d = 0; d < f->n_databases; d++)
                                json_array_append_new(dbs, json_pack("{s:s,s:s,s:s}", "name", f->databases[d].name,
                                                                     "edb", f->databases[d].edb, "stm",
                                                                     f->databases[d].stm));
                        json_t *md = json_pack("{s:s,s:s,s:s?,s:o,s:o}", "base", f->base, "log_dir", f->log_dir,
                                               "checkpoint", f->checkpoint, "logs", logs, "databases", dbs);
                        char *text = md ? json_dumps(md, JSON_COMPACT) : NULL;
                        if (text)
                                lvss_component_set_backup_metadata(c, text);
                        free(text);
                        json_decref(md);
                        mstore_backup_files_free(f);
                }
        }
        return 0;
}

static int on_abort(lvss_writer *w, void *userdata) {
        mail_writer *mw = userdata;
        if (from_session(w, mw->sess.sid))
                session_abort(mw, "aborted");
        return 0;
}

static int on_backup_complete(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mail_writer *mw = userdata;
        struct session *s = &mw->sess;
        if (!s->active)
                return 0;
        bool truncating = s->kind == MSTORE_BACKUP_FULL || s->kind == MSTORE_BACKUP_INCREMENTAL;
        int n = lvss_writer_components_get_count(comps);
        for (size_t k = 0; k < s->n; k++) {
                bool ok = false;
                for (int i = 0; i < n; i++) {
                        lvss_component *c = NULL;
                        char sg[DEFS_MAX_NAME + 1], db[DEFS_MAX_NAME + 1];
                        if (lvss_writer_components_get_component(comps, (size_t) i, &c) >= 0 &&
                            classify(mw, c, sg, db) == 1 && strcmp(sg, s->sg[k]) == 0)
                                ok = lvss_component_get_backup_succeeded(c) > 0;
                }
                const char *name = s->sg[k];
                if (!ok) {
                        mstore_snapshot_abort(s->snap[k]);
                        event_log(MSTORED_MID_BACKUP_END, LOG_NOTICE, name, NULL,
                                  "backup of storage group '%s' reported failed by the requestor: no truncation",
                                  name);
                } else {
                        int r = 0;
                        if (truncating) {
                                r = mstore_snapshot_truncate_logs(s->snap[k]);
                                if (r < 0)
                                        event_log(MSTORED_MID_ERROR, LOG_WARNING, name, NULL,
                                                  "storage group '%s': log truncation failed: %s, ignoring", name,
                                                  eng_err(mstore_snapshot_last_error(s->snap[k]), r));
                                else
                                        event_log(MSTORED_MID_TRUNCATION, LOG_INFO, name, NULL,
                                                  "storage group '%s': logs truncated after a %s backup", name,
                                                  lvss_backup_type_to_string(s->type));
                        }
                        r = mstore_snapshot_end(s->snap[k]);
                        /* end frees the session: its failure is on the group */
                        char msg[ENGINE_MSG_SIZE] = "";
                        if (r < 0)
                                (void) service_with_sg(mw->svc, name, copy_sg_error, msg);
                        event_log(MSTORED_MID_BACKUP_END, r < 0 ? LOG_WARNING : LOG_INFO, name, NULL,
                                  "backup of storage group '%s' complete (%s)%s%s", name,
                                  lvss_backup_type_to_string(s->type), r < 0 ? ": header stamp failed: " : "",
                                  r < 0 ? eng_err(msg, r) : "");
                }
                s->snap[k] = NULL;
                service_set_backup(mw->svc, name, false);
                free(s->sg[k]);
                s->sg[k] = NULL;
        }
        s->n = 0;
        s->active = false;
        return 0;
}

static void release_restore(mail_writer *mw, const char *sg);

static int on_backup_shutdown(lvss_writer *w, const char *set_id, void *userdata) {
        mail_writer *mw = userdata;
        if (from_session(w, mw->sess.sid))
                session_abort(mw, "the requestor's session ended");
        /* A restore's hold on its groups lasts one session: a requestor that
         * vanishes between PreRestore and PostRestore must not leave the
         * group unmountable (lvssd sends BackupShutdown to restore sessions
         * too, and the library sends it when lvssd itself goes away). */
        if (from_session(w, mw->restore_sid))
                release_restore(mw, NULL);
        return 0;
}

/* --------------------------------------------------------------- restore */

/* restore_options (JSON, set by the requestor):
 *   {"alternate_location":"/dir"}  files were restored to /dir (a Recovery
 *                                  Storage Group): recover there, leave
 *                                  production alone
 *   {"backup_log_dir":"/dir"}      the backed-up logs are in /dir instead of
 *                                  the group's log directory */
static char *restore_option(lvss_component *c, const char *key) {
        const char *o = lvss_component_get_restore_options(c);
        if (!o || !*o)
                return NULL;
        json_t *j = json_loads(o, 0, NULL);
        const char *v = json_string_value(json_object_get(j, key));
        char *r = v && v[0] == '/' && strlen(v) < 4096 ? strdup(v) : NULL;
        json_decref(j);
        return r;
}

/* ------------------------------------------------- restore path rules */

static bool path_under(const char *path, const char *root) {
        size_t n = strlen(root);
        while (n > 1 && root[n - 1] == '/')
                n--;
        if (n == 1 && root[0] == '/')
                return true;
        return strncmp(path, root, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* Rule 1: canon lies under a (canonicalized) restore root. */
static bool under_restore_root(mail_writer *mw, const char *canon) {
        bool ok = false;
        if (mw->restore_roots) {
                for (char **r = mw->restore_roots; *r && !ok; r++) {
                        _cleanup_free_ char *c = realpath(*r, NULL);
                        ok = c && path_under(canon, c);
                }
                return ok;
        }
        _cleanup_free_ char *d = realpath(mw->data_dir, NULL);
        if (d && path_under(canon, d))
                return true;
        char **names = service_sg_names(mw->svc);
        for (char **n = names; n && *n && !ok; n++) {
                json_t *g = NULL;
                if (service_sg_describe(mw->svc, *n, &g) < 0)
                        continue;
                const char *keys[] = {"path", "log_path"};
                for (size_t k = 0; k < 2 && !ok; k++) {
                        const char *p = json_string_value(json_object_get(g, keys[k]));
                        _cleanup_free_ char *c = p ? realpath(p, NULL) : NULL;
                        ok = c && path_under(canon, c);
                }
                json_decref(g);
        }
        strv_free(names);
        return ok;
}

/* A requestor-chosen path (restore_options key) where recovery would run:
 * *ret_canon is the canonical path to use, or the refusal is set as the
 * component's failure (which: 2 pre-restore, 3 post-restore).  Rule 2: the
 * path is under a restore root, or every directory from / to it is root's
 * and writable by nobody else (path_root_controlled(), the one rule of
 * lib/core/fs-util; its message says which component failed).  At
 * PreRestore the location may not exist yet (the files come after): its
 * deepest existing ancestor is checked instead, the whole path again at
 * PostRestore. */
static int trusted_restore_path(lvss_writer *w, mail_writer *mw, lvss_component *c, int which, const char *key,
                                const char *path, char **ret_canon) {
        ErrorSlot why;
        _cleanup_free_ char *canon = realpath(path, NULL), *exist = NULL;
        if (!canon && errno == ENOENT && which == 2) {
                /* deepest existing ancestor, canonical, plus the rest
                 * (which must not climb back up with "..") */
                _cleanup_free_ char *up = strdup(path);
                char *slash;
                if (!up)
                        return fail(w, LVSS_E_WRITERERROR_OUTOFRESOURCES, c, which, "out of memory");
                while (!exist && (slash = strrchr(up, '/')) && slash != up) {
                        *slash = 0;
                        exist = realpath(up, NULL);
                }
                const char *rest = exist ? path + strlen(up) : path;
                size_t rl = strlen(rest);
                if (strstr(rest, "/../") || strstr(rest, "/./") || (rl >= 3 && strcmp(rest + rl - 3, "/..") == 0) ||
                    (rl >= 2 && strcmp(rest + rl - 2, "/.") == 0))
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, which,
                                    "restore option %s '%s': '.' or '..' in the part that does not exist yet", key,
                                    path);
                if (!exist)
                        exist = strdup("/");
                if (!exist || asprintf(&canon, "%s%s", strcmp(exist, "/") == 0 ? "" : exist, rest) < 0) {
                        canon = NULL;
                        return fail(w, LVSS_E_WRITERERROR_OUTOFRESOURCES, c, which, "out of memory");
                }
        } else if (!canon)
                return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, which, "restore option %s '%s': %s", key, path,
                            strerror(errno));
        if (under_restore_root(mw, canon) || path_root_controlled(exist ? exist : canon, 0, &why) == 0) {
                *ret_canon = TAKE_PTR(canon);
                return 0;
        }
        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, which,
                    "restore option %s '%s' refused: not under a restore root (%s), and not a root-only path: %s", key,
                    canon,
                    mw->restore_roots ? "mstored.json restore_roots"
                                      : "the data directory or a storage "
                                        "group's paths",
                    error_slot_get(&why));
}

static void hold_restore(lvss_writer *w, mail_writer *mw, const char *sg) {
        lvss_id sid;
        if (lvss_writer_get_session_id(w, &sid) >= 0)
                memcpy(mw->restore_sid, sid.str, LVSS_ID_MAX);
        for (size_t i = 0; i < MAX_GROUPS; i++)
                if (mw->restoring[i] && strcmp(mw->restoring[i], sg) == 0)
                        return;
        for (size_t i = 0; i < MAX_GROUPS; i++)
                if (!mw->restoring[i]) {
                        mw->restoring[i] = strdup(sg);
                        service_set_backup(mw->svc, sg, true);
                        return;
                }
}

static void release_restore(mail_writer *mw, const char *sg) {
        bool any = false;
        for (size_t i = 0; i < MAX_GROUPS; i++)
                if (mw->restoring[i] && (!sg || strcmp(mw->restoring[i], sg) == 0)) {
                        service_set_backup(mw->svc, mw->restoring[i], false);
                        event_log(MSTORED_MID_RESTORE, LOG_INFO, mw->restoring[i], NULL,
                                  "storage group '%s' released by the restore", mw->restoring[i]);
                        free(mw->restoring[i]);
                        mw->restoring[i] = NULL;
                }
        for (size_t i = 0; i < MAX_GROUPS; i++)
                any |= mw->restoring[i] != NULL;
        if (!any)
                mw->restore_sid[0] = 0;
}

static int pre_restore(lvss_writer *w, mail_writer *mw, lvss_writer_components *comps) {
        int n = lvss_writer_components_get_count(comps);
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                char sg[DEFS_MAX_NAME + 1], db[DEFS_MAX_NAME + 1] = "";
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c)
                        continue;
                if (!lvss_component_is_selected_for_restore(c))
                        continue;
                int k = classify(mw, c, sg, db);
                if (k == 0)
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 2, "unknown component '%s/%s'",
                                    lvss_component_get_logical_path(c), lvss_component_get_name(c));
                _cleanup_free_ char *alt = restore_option(c, "alternate_location");
                if (alt) {
                        ErrorSlot e;
                        _cleanup_free_ char *canon = NULL;
                        if (trusted_restore_path(w, mw, c, 2, "alternate_location", alt, &canon) < 0)
                                return -1;
                        if (service_check_not_snapshot(canon, &e) < 0)
                                return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 2, "%s", error_slot_get(&e));
                        lvss_component_set_restore_target(c, LVSS_RT_ALTERNATE);
                        continue; /* production is not touched */
                }
                json_t *g = NULL;
                if (service_sg_describe(mw->svc, sg, &g) < 0)
                        return fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 2, "storage group %s does not exist", sg);
                bool online = json_is_true(json_object_get(g, "online"));
                bool found = k == 1;
                const char *not_flagged = NULL;
                size_t j;
                json_t *d;
                json_array_foreach(json_object_get(g, "databases"), j, d) {
                        const char *dn = json_string_value(json_object_get(d, "name"));
                        if (strcmp(json_string_value(json_object_get(d, "state")), "mounted") == 0)
                                online = true;
                        if (k == 2 && strcmp(dn, db) != 0)
                                continue;
                        found = true;
                        if (!json_is_true(json_object_get(d, "allow_restore_overwrite")) && !not_flagged)
                                not_flagged = dn;
                }
                int r = 0;
                if (k == 2 && !found)
                        r = fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 2, "database %s/%s does not exist", sg, db);
                else if (online)
                        r = fail(w, LVSS_E_WRITERERROR_RETRYABLE, c, 2,
                                 "storage group %s must be offline to restore a database (dismount every database "
                                 "of the group first)",
                                 sg);
                else if (not_flagged)
                        r = fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 2,
                                 "database %s/%s is not flagged 'may be overwritten by a restore' (mstore db set "
                                 "%s/%s allow-restore-overwrite=yes)",
                                 sg, not_flagged, sg, not_flagged);
                json_decref(g);
                if (r < 0)
                        return r;
                lvss_component_set_restore_target(c, LVSS_RT_ORIGINAL);
                hold_restore(w, mw, sg);
                event_log(MSTORED_MID_RESTORE, LOG_NOTICE, sg, *db ? db : NULL, "restore of %s%s%s accepted", sg,
                          *db ? "/" : "", db);
        }
        return 0;
}

/* A refused PreRestore holds nothing: the groups it took are released. */
static int on_pre_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mail_writer *mw = userdata;
        bool held_before[MAX_GROUPS];
        for (size_t i = 0; i < MAX_GROUPS; i++)
                held_before[i] = mw->restoring[i] != NULL;
        int r = pre_restore(w, mw, comps);
        if (r < 0)
                for (size_t i = 0; i < MAX_GROUPS; i++)
                        if (!held_before[i] && mw->restoring[i]) {
                                _cleanup_free_ char *sg = strdup(mw->restoring[i]);
                                if (sg)
                                        release_restore(mw, sg);
                        }
        return r;
}

static int on_post_restore(lvss_writer *w, lvss_writer_components *comps, void *userdata) {
        mail_writer *mw = userdata;
        int n = lvss_writer_components_get_count(comps), rc = 0;
        for (int i = 0; i < n; i++) {
                lvss_component *c = NULL;
                char sg[DEFS_MAX_NAME + 1], db[DEFS_MAX_NAME + 1] = "";
                if (lvss_writer_components_get_component(comps, (size_t) i, &c) < 0 || !c ||
                    !lvss_component_is_selected_for_restore(c))
                        continue;
                int k = classify(mw, c, sg, db);
                if (k == 0)
                        continue;
                if (lvss_component_get_file_restore_status(c) != LVSS_RS_ALL) {
                        rc = fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 3,
                                  "%s%s%s: files were not all restored; not recovering", sg, *db ? "/" : "", db);
                        /* The restore failed: the group is the
                         * administrator's again (it stays offline). */
                        release_restore(mw, sg);
                        continue;
                }
                if (lvss_component_get_additional_restores(c) > 0) {
                        event_log(MSTORED_MID_RESTORE, LOG_INFO, sg, *db ? db : NULL,
                                  "restore of %s%s%s: more restores announced, recovery postponed", sg,
                                  *db ? "/" : "", db);
                        continue;
                }
                json_t *g = NULL;
                if (service_sg_describe(mw->svc, sg, &g) < 0) {
                        rc = fail(w, LVSS_E_WRITERERROR_NONRETRYABLE, c, 3, "storage group %s does not exist", sg);
                        release_restore(mw, sg);
                        continue;
                }
                _cleanup_free_ char *alt_opt = restore_option(c, "alternate_location");
                _cleanup_free_ char *bld_opt = restore_option(c, "backup_log_dir");
                _cleanup_free_ char *alt = NULL, *bld = NULL;
                if ((alt_opt && trusted_restore_path(w, mw, c, 3, "alternate_location", alt_opt, &alt) < 0) ||
                    (bld_opt && trusted_restore_path(w, mw, c, 3, "backup_log_dir", bld_opt, &bld) < 0)) {
                        rc = -1;
                        json_decref(g);
                        if (!alt_opt)
                                release_restore(mw, sg);
                        continue;
                }
                mstore_recover_options o = MSTORE_RECOVER_OPTIONS_INIT;
                const char *dbs[2] = {db, NULL};
                o.base = json_string_value(json_object_get(g, "base"));
                if (alt) {
                        o.db_dir = alt;
                        o.backup_log_dir = alt;
                        o.live_log_dir = NULL;
                } else {
                        o.db_dir = json_string_value(json_object_get(g, "path"));
                        o.backup_log_dir = bld;
                        o.live_log_dir = json_string_value(json_object_get(g, "log_path"));
                }
                o.databases = k == 2 ? dbs : NULL;
                /* In place: until recovery proves it rolled forward to the
                 * end of the live log, the restored state may lie behind
                 * UIDs already handed out (mailstore.md §8.1).  An alternate
                 * location is never served over IMAP. */
                uint32_t marked = 0;
                int r = alt ? 0 : service_restore_mark(mw->svc, sg, db, &marked);
                mstore_recover_result res = {0};
                if (r >= 0)
                        r = mstore_recover(&o, &res);
                if (r >= 0 && !alt && res.reached_live_end)
                        r = service_restore_unmark(mw->svc, sg, db, marked);
                if (r < 0)
                        rc = fail(w, LVSS_E_WRITERERROR_RECOVERY_FAILED, c, 3, "%s%s%s: recovery failed: %s", sg,
                                  *db ? "/" : "", db, eng_err(mstore_last_error(), r));
                else
                        event_log(MSTORED_MID_RESTORE, LOG_NOTICE, sg, *db ? db : NULL,
                                  "restore of %s%s%s%s%s recovered: generations %u-%u replayed, %u database(s), %s%s",
                                  sg, *db ? "/" : "", db, alt ? " to " : "", alt ? alt : "", res.gen_first,
                                  res.gen_last, res.n_databases, res.stop_reason,
                                  alt || res.reached_live_end ? ""
                                                              : " (not the end of the live log: the next mount gives "
                                                                "the mailboxes a new UIDVALIDITY)");
                json_decref(g);
                if (!alt)
                        release_restore(mw, sg);
        }
        return rc;
}

/* ---------------------------------------------------------------- thread */

static void *writer_main(void *arg) {
        mail_writer *mw = arg;
        static const lvss_writer_events ev = {
                .version = LVSS_WRITER_EVENTS_VERSION,
                .on_identify = on_identify,
                .on_prepare_backup = on_prepare_backup,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_post_snapshot = on_post_snapshot,
                .on_abort = on_abort,
                .on_backup_complete = on_backup_complete,
                .on_backup_shutdown = on_backup_shutdown,
                .on_pre_restore = on_pre_restore,
                .on_post_restore = on_post_restore,
        };
        lvss_writer_identity id = LVSS_WRITER_IDENTITY_INIT;
        id.class_id = MAIL_WRITER_CLASS_ID;
        id.name = MAIL_WRITER_NAME;
        id.instance_name = service_server_name(mw->svc);
        id.usage = LVSS_UT_USERDATA;
        id.source = LVSS_ST_TRANSACTEDDB;
        id.level = LVSS_APP_BACK_END;
        id.freeze_timeout_ms = MAIL_WRITER_FREEZE_TIMEOUT_MS;
        int r = lvss_writer_new(&id, &ev, mw, &mw->w);
        if (r < 0) {
                event_log(MSTORED_MID_ERROR, LOG_ERR, NULL, NULL, "Mail Store Writer: cannot create: %s",
                          lvss_strerror(r));
                return NULL;
        }
        bool subscribed = false, warned = false;
        while (!atomic_load(&mw->stopping)) {
                if (!subscribed) {
                        r = lvss_writer_subscribe(mw->w, 0);
                        if (r >= 0) {
                                subscribed = true;
                                warned = false;
                                event_log(MSTORED_MID_STARTED, LOG_INFO, NULL, NULL,
                                          "Mail Store Writer subscribed to lvssd");
                        } else {
                                if (!warned)
                                        event_log(MSTORED_MID_ERROR, LOG_NOTICE, NULL, NULL,
                                                  "Mail Store Writer: lvssd not reachable (%s), retrying",
                                                  lvss_writer_last_error(mw->w));
                                warned = true;
                                struct pollfd p = {.fd = mw->stop_efd, .events = POLLIN};
                                poll(&p, 1, 1000);
                                continue;
                        }
                }
                struct pollfd p[2] = {{.fd = lvss_writer_get_fd(mw->w), .events = (short) lvss_writer_get_events(mw->w)},
                                      {.fd = mw->stop_efd, .events = POLLIN}};
                uint64_t until = UINT64_MAX;
                int timeout = 1000;
                if (lvss_writer_get_timeout(mw->w, &until) >= 0 && until != UINT64_MAX) {
                        struct timespec now;
                        clock_gettime(CLOCK_MONOTONIC, &now);
                        uint64_t nu = (uint64_t) now.tv_sec * 1000000u + (uint64_t) now.tv_nsec / 1000u;
                        timeout = until <= nu ? 0 : (int) MIN((until - nu + 999) / 1000, 1000u);
                }
                poll(p, 2, timeout);
                while ((r = lvss_writer_process(mw->w)) > 0)
                        ;
                if (r < 0) {
                        /* lvssd went away: a session it was driving is gone. */
                        session_abort(mw, "lvssd connection lost");
                        lvss_writer_unsubscribe(mw->w);
                        subscribed = false;
                }
        }
        session_abort(mw, "mstored stopping");
        release_restore(mw, NULL);
        mw->w = lvss_writer_free(mw->w);
        return NULL;
}

static char **strv_copy(char **v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        char **c = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; c && i < n; i++)
                if (!(c[i] = strdup(v[i]))) {
                        strv_free(c);
                        return NULL;
                }
        return c;
}

int mail_writer_start(service *svc, const struct mail_writer_options *o, mail_writer **ret, ErrorSlot *err) {
        error_slot_clear(err);
        mail_writer *mw = calloc(1, sizeof(*mw));
        if (!mw)
                return -ENOMEM;
        mw->svc = svc;
        mw->data_dir = strdup(o && o->data_dir ? o->data_dir : "/");
        mw->restore_roots = o && o->restore_roots ? strv_copy(o->restore_roots) : NULL;
        if (!mw->data_dir || (o && o->restore_roots && !mw->restore_roots)) {
                strv_free(mw->restore_roots);
                free(mw->data_dir);
                free(mw);
                return -ENOMEM;
        }
        snprintf(mw->root, sizeof(mw->root), "Mail Store/%s", service_server_name(svc));
        mw->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (mw->stop_efd < 0 || pthread_create(&mw->thread, NULL, writer_main, mw) != 0) {
                if (mw->stop_efd >= 0)
                        close(mw->stop_efd);
                strv_free(mw->restore_roots);
                free(mw->data_dir);
                free(mw);
                return error_slot_set(err, -EAGAIN, "cannot start the writer thread");
        }
        *ret = mw;
        return 0;
}

void mail_writer_stop(mail_writer *mw) {
        if (!mw)
                return;
        atomic_store(&mw->stopping, true);
        uint64_t one = 1;
        (void) !write(mw->stop_efd, &one, sizeof(one));
        pthread_join(mw->thread, NULL);
        close(mw->stop_efd);
        strv_free(mw->restore_roots);
        free(mw->data_dir);
        free(mw);
}
