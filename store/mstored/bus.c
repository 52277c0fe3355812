/* SPDX-License-Identifier: MIT */
/*
 * D-Bus API of mstored (see bus.h).  Every method: parse and validate the
 * arguments on the loop thread, check credentials, run the work on a worker
 * thread (struct job), reply from the loop thread.  Replies carry JSON text
 * for listings (the same documents `mstore --json` prints) and a sealed
 * memfd for message content, so message size is not bound by D-Bus limits.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "lib/core/bus-creds.h"
#include "lib/core/fs-util.h"
#include "lib/core/macro.h"
#include "lib/core/test-hook.h"
#include "lib/lvss/proto.h"
#include "bus.h"
#include "mailmodel.h"

enum job_kind {
        J_SG_CREATE, J_DB_CREATE, J_DB_MOUNT, J_DB_DISMOUNT, J_DB_SET, J_MB_CREATE,
        J_SG_LIST, J_DB_LIST, J_MB_LIST, J_STATS, J_MSG_LIST, J_MSG_GET, J_DELIVER,
        J_FOLDER_CREATE, J_FOLDER_LIST, J_FOLDER_DELETE, J_MSG_DELETE, J_MSG_APPEND,
};

struct job {
        struct job *next;
        bus_api *bus;
        enum job_kind kind;
        sd_bus_message *m;
        char *a[4];
        int flag;
        uid_t caller; /* as the bus vouched for it */
        uint32_t uid;
        uint64_t time;
        int in_fd;
        /* results */
        int r;
        ErrorSlot err; /* this request's message (service.h) */
        json_t *json;
        int out_fd;
};

struct bus_api {
        service *svc;
        sd_event *event;
        sd_bus *bus;
        sd_bus_slot *slot;
        sd_event_source *done_source;
        int efd;
        bool have_admin_gid;
        gid_t admin_gid;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct job *done;
        unsigned running;
};

static void job_free(struct job *j) {
        if (!j)
                return;
        for (size_t i = 0; i < ELEMENTSOF(j->a); i++)
                free(j->a[i]);
        json_decref(j->json);
        if (j->in_fd >= 0)
                close(j->in_fd);
        if (j->out_fd >= 0)
                close(j->out_fd);
        sd_bus_message_unref(j->m);
        free(j);
}

/* Read a whole fd (regular file or memfd), at most max bytes. */
static int read_fd(int fd, size_t max, void **ret, size_t *ret_len) {
        size_t alloc = 65536, len = 0;
        char *buf = malloc(alloc);
        if (!buf)
                return -ENOMEM;
        if (lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE) {
                free(buf);
                return -errno;
        }
        for (;;) {
                if (len == alloc) {
                        if (alloc > max) {
                                free(buf);
                                return -EFBIG;
                        }
                        char *nb = realloc(buf, alloc * 2);
                        if (!nb) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = nb;
                        alloc *= 2;
                }
                ssize_t n = read(fd, buf + len, alloc - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        free(buf);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max) {
                        free(buf);
                        return -EFBIG;
                }
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

static int memfd_with(const void *data, size_t size) {
        int fd = memfd_create("mstore-message", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        const char *p = data;
        size_t left = size;
        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        close(fd);
                        return r;
                }
                p += n;
                left -= (size_t) n;
        }
        (void) fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
        (void) lseek(fd, 0, SEEK_SET);
        return fd;
}

/* The admin group may not make root create a storage group's files where
 * it could plant or redirect them (mailstore.md §5): a path it names must be
 * one only root controls.  A file system walk: on the worker, not the bus
 * thread. */
static int sg_paths_allowed(struct job *j) {
        /* Test hook: a walk that hangs (a stalled file system): wait for
         * the file it names, touching NAME.held first (test:
         * mstored-bus-walk).  Not for production use. */
        const char *go = TEST_HOOK_ENV("MSTORED_TEST_SG_CHECK_WAIT");
        if (go && j->caller != 0) {
                char held[4096];
                snprintf(held, sizeof(held), "%s.held", go);
                int fd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0)
                        close(fd);
                for (int k = 0; k < 1200 && access(go, F_OK) < 0; k++)
                        usleep(50 * 1000);
        }
        for (size_t i = 1; j->caller != 0 && i <= 2; i++)
                if (*j->a[i] && path_root_controlled(j->a[i], 0, &j->err) < 0)
                        return error_slot_set(&j->err, -EACCES,
                                              "mstored: storage group '%.64s': uid %u may not use %s '%.256s': %s "
                                              "(root only: the path must be root's and writable by root only)",
                                              j->a[0], (unsigned) j->caller, i == 1 ? "path" : "log path", j->a[i],
                                              error_slot_get(&j->err));
        return 0;
}

static void job_run(struct job *j) {
        service *s = j->bus->svc;
        switch (j->kind) {
        case J_SG_CREATE:
                j->r = sg_paths_allowed(j);
                if (j->r >= 0)
                        j->r = service_sg_create(s, j->a[0], *j->a[1] ? j->a[1] : NULL, *j->a[2] ? j->a[2] : NULL,
                                                 j->flag, &j->err);
                break;
        case J_DB_CREATE:
                j->r = service_db_create(s, j->a[0], j->a[1], j->flag, &j->err);
                break;
        case J_DB_MOUNT:
                j->r = service_db_mount(s, j->a[0], j->a[1], &j->err);
                break;
        case J_DB_DISMOUNT:
                j->r = service_db_dismount(s, j->a[0], j->a[1], &j->err);
                break;
        case J_DB_SET:
                j->r = service_db_set_overwrite(s, j->a[0], j->a[1], j->flag, &j->err);
                break;
        case J_MB_CREATE:
                j->r = service_mailbox_create(s, j->a[0], j->a[1], j->a[2], &j->err);
                break;
        case J_SG_LIST:
                j->r = service_sg_list(s, &j->json);
                break;
        case J_DB_LIST:
                j->r = service_db_list(s, &j->json);
                break;
        case J_MB_LIST:
                j->r = service_mailbox_list(s, &j->json);
                break;
        case J_STATS:
                j->r = service_stats(s, &j->json);
                break;
        case J_MSG_LIST:
                j->r = service_msg_list(s, j->a[0], &j->json, &j->err);
                break;
        case J_MSG_GET: {
                void *data = NULL;
                size_t size = 0;
                j->r = service_msg_get(s, j->a[0], j->uid, &data, &size, &j->err);
                if (j->r >= 0) {
                        j->out_fd = memfd_with(data, size);
                        if (j->out_fd < 0)
                                j->r = j->out_fd;
                }
                free(data);
                break;
        }
        case J_FOLDER_CREATE:
                j->r = service_folder_create(s, j->a[0], j->a[1], &j->err);
                break;
        case J_FOLDER_DELETE:
                j->r = service_folder_delete(s, j->a[0], j->a[1], &j->err);
                if (j->r == -EPERM) /* INBOX: bad input, not an access problem */
                        j->r = -EINVAL;
                break;
        case J_FOLDER_LIST: {
                struct service_folder *f = NULL;
                size_t n = 0;
                j->r = service_folder_list(s, j->a[0], &f, &n, &j->err);
                if (j->r < 0)
                        break;
                json_t *arr = json_array();
                for (size_t k = 0; k < n; k++)
                        json_array_append_new(arr, json_pack("{s:s,s:b}", "name", f[k].name, "subscribed",
                                                             f[k].subscribed));
                free(f);
                j->json = json_pack("{s:o}", "folders", arr);
                break;
        }
        case J_MSG_DELETE: {
                size_t n = 0;
                j->r = service_msg_delete(s, j->a[0], &j->uid, 1, &n, &j->err);
                if (j->r >= 0 && n == 0) {
                        j->r = error_slot_set(&j->err, -ENOENT, "mailbox '%s': no message with UID %u", j->a[0],
                                              j->uid);
                }
                break;
        }
        case J_MSG_APPEND: {
                void *data = NULL;
                size_t size = 0;
                j->r = read_fd(j->in_fd, service_max_message_size(s), &data, &size);
                if (j->r == -EFBIG)
                        error_slot_set(&j->err, j->r, "message too big (limit %zu bytes)", service_max_message_size(s));
                if (j->r < 0)
                        break;
                uint32_t uid = 0, validity = 0;
                j->r = service_msg_append(s, j->a[0], j->a[1], data, size, j->uid, j->time, &uid, &validity,
                                          &j->err);
                free(data);
                if (j->r >= 0)
                        j->json = json_pack("{s:I,s:I}", "uid", (json_int_t) uid, "uid_validity",
                                            (json_int_t) validity);
                break;
        }
        case J_DELIVER: {
                void *data = NULL;
                size_t size = 0;
                j->r = read_fd(j->in_fd, service_max_message_size(s), &data, &size);
                if (j->r == -EFBIG) {
                        error_slot_set(&j->err, j->r, "message too big (limit %zu bytes)", service_max_message_size(s));
                        break;
                }
                if (j->r < 0)
                        break;
                char addr[MM_MAX_ADDR + 1];
                snprintf(addr, sizeof(addr), "%s", j->a[0]);
                for (char *c = addr; *c; c++)
                        if (*c >= 'A' && *c <= 'Z')
                                *c = (char) (*c + 32);
                char *rcpts[1] = {addr};
                int st = 0;
                service_deliver(s, "", rcpts, 1, data, size, &st);
                free(data);
                j->r = st;
                if (st == -ENOENT)
                        error_slot_set(&j->err, st, "mailbox '%s': no such mailbox", addr);
                else if (st < 0)
                        error_slot_set(&j->err, st, "mailbox '%s': delivery failed: %s", addr, strerror(-st));
                break;
        }
        }
}

static void *worker_main(void *arg) {
        struct job *j = arg;
        bus_api *b = j->bus;
        job_run(j);
        pthread_mutex_lock(&b->lock);
        j->next = b->done;
        b->done = j;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        uint64_t one = 1;
        (void) !write(b->efd, &one, sizeof(one));
        return NULL;
}

static const char *error_name(int r) {
        switch (r) {
        case -EINVAL:
                return SD_BUS_ERROR_INVALID_ARGS;
        case -ENOENT:
                return LVSS_MAILSTORE_ERROR_PREFIX "NotFound";
        case -EEXIST:
                return LVSS_MAILSTORE_ERROR_PREFIX "AlreadyExists";
        case -EBUSY:
                return LVSS_MAILSTORE_ERROR_PREFIX "Busy";
        case -EACCES:
        case -EPERM:
                return SD_BUS_ERROR_ACCESS_DENIED;
        case -ENODEV:
        case -EAGAIN:
                return LVSS_MAILSTORE_ERROR_PREFIX "Unavailable";
        case -EROFS:
                return LVSS_MAILSTORE_ERROR_PREFIX "InSnapshot";
        case -ENOSPC:
                return LVSS_MAILSTORE_ERROR_PREFIX "LimitReached";
        case -EFBIG:
                return LVSS_MAILSTORE_ERROR_PREFIX "TooBig";
        case MSTORE_E_CORRUPT:
                return LVSS_MAILSTORE_ERROR_PREFIX "Corrupt";
        case MSTORE_E_FROZEN:
                return LVSS_MAILSTORE_ERROR_PREFIX "Busy";
        default:
                return LVSS_MAILSTORE_ERROR_PREFIX "Failed";
        }
}

static void job_reply(struct job *j) {
        int r;
        if (j->r < 0) {
                r = sd_bus_reply_method_error(j->m,
                                              &SD_BUS_ERROR_MAKE_CONST(error_name(j->r), service_error(&j->err, j->r)));
        } else if (j->json) {
                _cleanup_free_ char *text = json_dumps(j->json, JSON_COMPACT);
                r = text ? sd_bus_reply_method_return(j->m, "s", text) : sd_bus_reply_method_errno(j->m, ENOMEM, NULL);
        } else if (j->kind == J_MSG_GET)
                r = sd_bus_reply_method_return(j->m, "h", j->out_fd);
        else
                r = sd_bus_reply_method_return(j->m, "");
        (void) r;
}

static int on_done(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        bus_api *b = userdata;
        uint64_t v;
        (void) !read(b->efd, &v, sizeof(v));
        pthread_mutex_lock(&b->lock);
        struct job *list = b->done;
        b->done = NULL;
        pthread_mutex_unlock(&b->lock);
        while (list) {
                struct job *n = list->next;
                job_reply(list);
                job_free(list);
                pthread_mutex_lock(&b->lock);
                b->running--;
                pthread_cond_broadcast(&b->cond);
                pthread_mutex_unlock(&b->lock);
                list = n;
        }
        return 0;
}

/* Root or a member of the admin group, from what the bus vouches for: the
 * connection's uid, and that uid's groups in the user database
 * (lib/core/bus-creds.h; the caller's /proc groups are never consulted). */
static int check_access(bus_api *b, sd_bus_message *m, uid_t *ret_uid, sd_bus_error *error) {
        _cleanup_(bus_caller_done) BusCaller c = {};
        int r = bus_caller_get(m, &c);

        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "mstored: access denied: the bus did not vouch for the caller's uid (%s)",
                                         strerror(-r));
        *ret_uid = c.uid;
        if (c.uid == 0)
                return 0;
        if (b->have_admin_gid && bus_caller_in_gid(&c, b->admin_gid))
                return 0;
        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                "mstored: access denied: only root and the mail store admin group may do this");
}

static int submit(bus_api *b, sd_bus_message *m, struct job *j, sd_bus_error *error) {
        j->bus = b;
        j->m = sd_bus_message_ref(m);
        pthread_mutex_lock(&b->lock);
        if (b->running >= BUS_MAX_JOBS) {
                pthread_mutex_unlock(&b->lock);
                job_free(j);
                return sd_bus_error_set(error, LVSS_MAILSTORE_ERROR_PREFIX "Busy", "too many calls in progress");
        }
        b->running++;
        pthread_mutex_unlock(&b->lock);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int r = pthread_create(&t, &attr, worker_main, j);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                pthread_mutex_lock(&b->lock);
                b->running--;
                pthread_mutex_unlock(&b->lock);
                job_free(j);
                return sd_bus_error_set_errno(error, r);
        }
        return 1; /* reply comes later */
}

static struct job *job_new(enum job_kind kind) {
        struct job *j = calloc(1, sizeof(*j));
        if (j) {
                j->kind = kind;
                j->in_fd = -1;
                j->out_fd = -1;
                j->caller = (uid_t) -1; /* not root until method() says so: sg_paths_allowed fails closed */
        }
        return j;
}

/* Generic handler: the vtable's userdata is the bus; the method's job kind
 * is found from its name. */
static const struct {
        const char *member;
        enum job_kind kind;
        const char *sig;
} methods[] = {
        {"CreateStorageGroup", J_SG_CREATE, "sssb"},
        {"CreateDatabase", J_DB_CREATE, "ssb"},
        {"MountDatabase", J_DB_MOUNT, "ss"},
        {"DismountDatabase", J_DB_DISMOUNT, "ss"},
        {"SetAllowRestoreOverwrite", J_DB_SET, "ssb"},
        {"CreateMailbox", J_MB_CREATE, "sss"},
        {"ListStorageGroups", J_SG_LIST, ""},
        {"ListDatabases", J_DB_LIST, ""},
        {"ListMailboxes", J_MB_LIST, ""},
        {"GetStats", J_STATS, ""},
        {"ListMessages", J_MSG_LIST, "s"},
        {"GetMessage", J_MSG_GET, "su"},
        {"Deliver", J_DELIVER, "sh"},
        {"CreateFolder", J_FOLDER_CREATE, "ss"},
        {"ListFolders", J_FOLDER_LIST, "s"},
        {"DeleteFolder", J_FOLDER_DELETE, "ss"},
        {"DeleteMessage", J_MSG_DELETE, "su"},
        {"AppendMessage", J_MSG_APPEND, "sshut"},
};

static int method(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        bus_api *b = userdata;
        const char *member = sd_bus_message_get_member(m);
        size_t k;
        for (k = 0; k < ELEMENTSOF(methods); k++)
                if (strcmp(methods[k].member, member) == 0)
                        break;
        if (k == ELEMENTSOF(methods))
                return sd_bus_error_set(error, SD_BUS_ERROR_UNKNOWN_METHOD, "unknown method");
        uid_t uid = (uid_t) -1;
        int r = check_access(b, m, &uid, error);
        if (r < 0)
                return r;
        struct job *j = job_new(methods[k].kind);
        if (!j)
                return -ENOMEM;
        /* Arguments in signature order: strings into a[], b into flag,
         * u into uid, h duplicated into in_fd. */
        size_t ns = 0;
        for (const char *t = methods[k].sig; *t && r >= 0; t++) {
                if (*t == 's') {
                        const char *v;
                        r = sd_bus_message_read_basic(m, 's', &v);
                        if (r >= 0 && strlen(v) > 4096)
                                r = -E2BIG;
                        if (r >= 0 && !(j->a[ns++] = strdup(v)))
                                r = -ENOMEM;
                } else if (*t == 'b') {
                        int v;
                        r = sd_bus_message_read_basic(m, 'b', &v);
                        j->flag = v;
                } else if (*t == 'u') {
                        r = sd_bus_message_read_basic(m, 'u', &j->uid);
                } else if (*t == 't') {
                        r = sd_bus_message_read_basic(m, 't', &j->time);
                } else if (*t == 'h') {
                        int fd;
                        r = sd_bus_message_read_basic(m, 'h', &fd);
                        if (r >= 0 && (j->in_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
                                r = -errno;
                }
        }
        if (r < 0) {
                job_free(j);
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "invalid arguments");
        }
        j->caller = uid; /* CreateStorageGroup's paths are checked on the worker (sg_paths_allowed) */
        return submit(b, m, j, error);
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_NAMES("CreateStorageGroup", "sssb", SD_BUS_PARAM(name) SD_BUS_PARAM(path)
                                 SD_BUS_PARAM(log_path) SD_BUS_PARAM(circular_logging), "", , method,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("CreateDatabase", "ssb", SD_BUS_PARAM(sg) SD_BUS_PARAM(db) SD_BUS_PARAM(public),
                                 "", , method, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("MountDatabase", "ss", SD_BUS_PARAM(sg) SD_BUS_PARAM(db), "", , method,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("DismountDatabase", "ss", SD_BUS_PARAM(sg) SD_BUS_PARAM(db), "", , method,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("SetAllowRestoreOverwrite", "ssb", SD_BUS_PARAM(sg) SD_BUS_PARAM(db)
                                 SD_BUS_PARAM(allow), "", , method, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("CreateMailbox", "sss", SD_BUS_PARAM(address) SD_BUS_PARAM(sg) SD_BUS_PARAM(db),
                                 "", , method, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListStorageGroups", "", , "s", SD_BUS_PARAM(json), method,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListDatabases", "", , "s", SD_BUS_PARAM(json), method, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListMailboxes", "", , "s", SD_BUS_PARAM(json), method, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetStats", "", , "s", SD_BUS_PARAM(json), method, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListMessages", "s", SD_BUS_PARAM(address), "s", SD_BUS_PARAM(json), method,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetMessage", "su", SD_BUS_PARAM(address) SD_BUS_PARAM(uid), "h",
                                 SD_BUS_PARAM(content), method, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Deliver", "sh", SD_BUS_PARAM(address) SD_BUS_PARAM(content), "", , method,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("CreateFolder", "ss", SD_BUS_PARAM(address) SD_BUS_PARAM(folder), "", , method,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListFolders", "s", SD_BUS_PARAM(address), "s", SD_BUS_PARAM(json), method,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("DeleteFolder", "ss", SD_BUS_PARAM(address) SD_BUS_PARAM(folder), "", , method,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("DeleteMessage", "su", SD_BUS_PARAM(address) SD_BUS_PARAM(uid), "", , method,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("AppendMessage", "sshut",
                                 SD_BUS_PARAM(address) SD_BUS_PARAM(folder) SD_BUS_PARAM(content) SD_BUS_PARAM(flags)
                                         SD_BUS_PARAM(time),
                                 "s", SD_BUS_PARAM(json), method, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int bus_api_start(service *svc, sd_event *event, bool have_admin_gid, gid_t admin_gid, bus_api **ret, ErrorSlot *err) {
        error_slot_clear(err);
        bus_api *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->svc = svc;
        b->event = sd_event_ref(event);
        b->have_admin_gid = have_admin_gid;
        b->admin_gid = admin_gid;
        b->efd = -1;
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->cond, NULL);
        int r = proto_bus_connect(&b->bus, PROTO_BUS_CREDS, err);
        if (r < 0) {
                error_slot_set(err, r, "D-Bus: %s", error_slot_get(err));
                bus_api_stop(b);
                return r;
        }
        const char *what = "attach to the event loop";
        r = sd_bus_attach_event(b->bus, event, 0);
        if (r >= 0) {
                what = "export " LVSS_MAILSTORE_PATH;
                r = sd_bus_add_object_vtable(b->bus, &b->slot, LVSS_MAILSTORE_PATH, LVSS_MAILSTORE_IFACE, vtable, b);
        }
        if (r >= 0) {
                what = "create the eventfd";
                b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                r = b->efd < 0 ? -errno : 0;
        }
        if (r >= 0)
                r = sd_event_add_io(event, &b->done_source, b->efd, EPOLLIN, on_done, b);
        if (r >= 0) {
                what = "own the name " LVSS_MAILSTORE_BUS_NAME;
                r = sd_bus_request_name(b->bus, LVSS_MAILSTORE_BUS_NAME, 0);
        }
        if (r < 0) {
                error_slot_set(err, r, "D-Bus: cannot %s: %s", what, strerror(-r));
                bus_api_stop(b);
                return r;
        }
        *ret = b;
        return 0;
}

void bus_api_stop(bus_api *b) {
        if (!b)
                return;
        /* Let workers finish (they only touch the service) and drop their
         * replies with the connection. */
        pthread_mutex_lock(&b->lock);
        while (b->running > 0) {
                while (b->done) {
                        struct job *j = b->done;
                        b->done = j->next;
                        b->running--;
                        job_free(j);
                }
                if (b->running > 0)
                        pthread_cond_wait(&b->cond, &b->lock);
        }
        pthread_mutex_unlock(&b->lock);
        sd_event_source_disable_unref(b->done_source);
        if (b->efd >= 0)
                close(b->efd);
        sd_bus_slot_unref(b->slot);
        if (b->bus) {
                sd_bus_flush(b->bus);
                sd_bus_flush_close_unref(b->bus);
        }
        sd_event_unref(b->event);
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cond);
        free(b);
}
